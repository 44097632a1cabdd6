/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mpdp-bench: micro-benchmarks of the runtime, reported as medians of
 * several runs, as a table or one JSON object per line (--json).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "mpdp_err.h"
#include "mpdp_parse.h"
#include "mpdp_shm.h"
#include "mpdp_time.h"
#include "mpdp_worker.h"

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: mpdp-bench ring|mempool|attach|fwd|pipeline [options]\n"
		"  --json            one JSON object per result line\n"
		"  --runs N          repetitions per case; the median is reported (default 5)\n"
		"  -l CORELIST       cores to run on: the first for one-core cases, the first two\n"
		"                    for two-core cases (default 0,1)\n"
		"  --no-huge         put the bench instance on tmpfs\n"
		"  --runtime-dir DIR parent of the instance directory\n"
		"pipeline only (null p0 -> primary on the first core -> mpdp-fwd x K on the second\n"
		"-> null p1):\n"
		"  --seconds S       measuring window of each run (default 1)\n"
		"  --stages K        mpdp-fwd --mac-swap processes chained by rings (default 1)\n"
		"  --size N          packet bytes (default 64)\n"
		"  --burst N         the stages' --burst (default theirs)\n"
		"  --ring-size N     the primary's --port-ring-size and the stages' --ring-size\n"
		"  --busy-poll       the stages never yield their core\n"
		"  --no-swap         the stages forward without --mac-swap (testpmd's io mode)\n"
		"  --backpressure    the stages wait for room on a full output instead of dropping\n"
		"                    (always with --stages > 1: stages sharing a core must yield)\n");
}

/* A number option of the pipeline benchmark; 0, or 2 after saying what is wrong. */
static int
pipeline_opt(const char *name, const char *arg, uint64_t min, uint64_t max, unsigned *out)
{
	uint64_t v;

	if (mpdp_parse_u64(arg, min, max, &v) != 0) {
		fprintf(stderr, "mpdp-bench: %s '%s': expected %" PRIu64 " to %" PRIu64 "\n", name, arg,
			min, max);
		return 2;
	}
	*out = (unsigned)v;
	return 0;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

double
bench_median(double *v, unsigned n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "runs", required_argument, NULL, 'r' },
		{ "no-huge", no_argument, NULL, 'n' },
		{ "runtime-dir", required_argument, NULL, 'd' },
		{ "seconds", required_argument, NULL, 'S' },
		{ "stages", required_argument, NULL, 'K' },
		{ "size", required_argument, NULL, 'z' },
		{ "burst", required_argument, NULL, 'b' },
		{ "ring-size", required_argument, NULL, 'R' },
		{ "busy-poll", no_argument, NULL, 'B' },
		{ "no-swap", no_argument, NULL, 'W' },
		{ "backpressure", no_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct bench b = { .runs = 5, .cpu = { -1, -1 }, .seconds = 1, .stages = 1, .size = 64 };
	struct mpdp_shm_params sp = { 0 };
	struct mpdp_errbuf eb = { "" };
	const char *cmd;
	cpu_set_t cores;
	const char *pl_opt = NULL; /* a pipeline-only option given */
	uint64_t v;
	int opt, rc;

	if (argc >= 2 && strcmp(argv[1], "attach-child") == 0)
		return bench_attach_child(argc - 1, argv + 1);
	if (argc < 2 || argv[1][0] == '-') {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	cmd = argv[1];
	b.self = argv[0];
	CPU_ZERO(&cores);
	CPU_SET(0, &cores);
	CPU_SET(1, &cores);
	opterr = 0;
	optind = 2;
	while ((opt = getopt_long(argc, argv, ":l:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'j': b.json = 1; break;
		case 'r':
			if (mpdp_parse_u64(optarg, 1, 1000, &v) != 0) {
				fprintf(stderr, "mpdp-bench: --runs '%s': expected 1 to 1000\n", optarg);
				return 2;
			}
			b.runs = (unsigned)v;
			break;
		case 'n': b.no_huge = 1; break;
		case 'd': b.runtime_dir = optarg; break;
		case 'S':
			if (pipeline_opt("--seconds", optarg, 1, 3600, &b.seconds) != 0)
				return 2;
			pl_opt = "--seconds";
			break;
		case 'K':
			if (pipeline_opt("--stages", optarg, 1, 8, &b.stages) != 0)
				return 2;
			pl_opt = "--stages";
			break;
		case 'z':
			if (pipeline_opt("--size", optarg, 60, 2048, &b.size) != 0)
				return 2;
			pl_opt = "--size";
			break;
		case 'b':
			if (pipeline_opt("--burst", optarg, 1, 256, &b.burst) != 0)
				return 2;
			pl_opt = "--burst";
			break;
		case 'R':
			if (pipeline_opt("--ring-size", optarg, 2, 1u << 20, &b.ring_size) != 0)
				return 2;
			if ((b.ring_size & (b.ring_size - 1)) != 0) {
				fprintf(stderr, "mpdp-bench: --ring-size %s: expected a power of two\n", optarg);
				return 2;
			}
			pl_opt = "--ring-size";
			break;
		case 'B': b.busy_poll = 1; pl_opt = "--busy-poll"; break;
		case 'W': b.no_swap = 1; pl_opt = "--no-swap"; break;
		case 'P': b.backpressure = 1; pl_opt = "--backpressure"; break;
		case 'l':
			if (mpdp_corelist_parse(optarg, &cores, &eb) != 0) {
				fprintf(stderr, "mpdp-bench: -l: %s\n", eb.msg);
				return 2;
			}
			break;
		case 'h': usage(stdout); return 0;
		case ':':
			fprintf(stderr, "mpdp-bench: option '%s' needs a value\n", argv[optind - 1]);
			return 2;
		default:
			fprintf(stderr, "mpdp-bench: unknown option '%s'\n", argv[optind - 1]);
			return 2;
		}
	}
	b.cpu[0] = mpdp_corelist_nth(&cores, 0);
	b.cpu[1] = mpdp_corelist_nth(&cores, 1);
	if (strcmp(cmd, "ring") != 0 && strcmp(cmd, "mempool") != 0 && strcmp(cmd, "attach") != 0 &&
	    strcmp(cmd, "fwd") != 0 && strcmp(cmd, "pipeline") != 0) {
		fprintf(stderr, "mpdp-bench: unknown benchmark '%s' (ring, mempool, attach, fwd or "
			"pipeline)\n", cmd);
		return 2;
	}
	if (pl_opt != NULL && strcmp(cmd, "pipeline") != 0) {
		fprintf(stderr, "mpdp-bench: %s is an option of the pipeline benchmark only\n", pl_opt);
		return 2;
	}
	if (strcmp(cmd, "fwd") == 0) /* it runs a real primary: no instance of its own */
		return bench_fwd(&b) == 0 ? 0 : 1;
	if (strcmp(cmd, "pipeline") == 0) /* the same, with stage processes */
		return bench_pipeline(&b) == 0 ? 0 : 1;
	snprintf(b.name, sizeof(b.name), "bench-%d", (int)getpid());
	sp.name = b.name;
	sp.size = 512ull << 20;
	sp.no_huge = b.no_huge;
	sp.runtime_dir = b.runtime_dir;
	rc = mpdp_shm_create(&sp, &b.shm, &eb);
	if (rc != 0) {
		fprintf(stderr, "mpdp-bench: %s\n", eb.msg);
		return 1;
	}
	b.tsc_hz = mpdp_tsc_hz();
	if (!b.json)
		printf("# %s on %s, counter %.2f GHz, median of %u runs\n", cmd,
		       mpdp_shm_header(b.shm)->hugepages ? "hugepages" : "tmpfs",
		       (double)b.tsc_hz / 1e9, b.runs);
	if (strcmp(cmd, "ring") == 0)
		rc = bench_ring(&b);
	else if (strcmp(cmd, "mempool") == 0)
		rc = bench_pool(&b);
	else
		rc = bench_attach(&b);
	mpdp_shm_close(b.shm);
	return rc == 0 ? 0 : 1;
}

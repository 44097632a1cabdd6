/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mpdp-bench: micro-benchmarks of the runtime, reported as medians of
 * several runs, as a table or one JSON object per line (--json).
 */
#include <errno.h>
#include <getopt.h>
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
		"usage: mpdp-bench ring|mempool|attach|fwd [options]\n"
		"  --json            one JSON object per result line\n"
		"  --runs N          repetitions per case; the median is reported (default 5)\n"
		"  -l CORELIST       cores to run on: the first for one-core cases, the first two\n"
		"                    for two-core cases (default 0,1)\n"
		"  --no-huge         put the bench instance on tmpfs\n"
		"  --runtime-dir DIR parent of the instance directory\n");
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
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct bench b = { .runs = 5, .cpu = { -1, -1 } };
	struct mpdp_shm_params sp = { 0 };
	struct mpdp_errbuf eb = { "" };
	const char *cmd;
	cpu_set_t cores;
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
	    strcmp(cmd, "fwd") != 0) {
		fprintf(stderr, "mpdp-bench: unknown benchmark '%s' (ring, mempool, attach or fwd)\n", cmd);
		return 2;
	}
	if (strcmp(cmd, "fwd") == 0) /* it runs a real primary: no instance of its own */
		return bench_fwd(&b) == 0 ? 0 : 1;
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

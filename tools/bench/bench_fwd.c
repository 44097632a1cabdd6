/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Forwarding rate of one I/O worker: the real mpdp-primary with two null
 * ports patched both ways (what testpmd's io forwarding with two net_null
 * devices does), measured from the port counters it keeps in shared memory.
 * The figure is packets forwarded per second by the one core, both
 * directions together.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "mpdp_port.h"
#include "mpdp_shm.h"
#include "mpdp_time.h"

#define FWD_WARMUP_NS 300000000ull
#define FWD_MEASURE_NS 1000000000ull

extern char **environ;

/* mpdp-primary beside this program: build tree (../primary/) or installed (same bin/). */
static int
find_primary(const char *self, char *out, size_t len)
{
	char copy[PATH_MAX];
	const char *dir;

	snprintf(copy, sizeof(copy), "%s", self);
	dir = dirname(copy);
	snprintf(out, len, "%s/../primary/mpdp-primary", dir);
	if (access(out, X_OK) == 0)
		return 0;
	snprintf(out, len, "%s/mpdp-primary", dir);
	return access(out, X_OK) == 0 ? 0 : -ENOENT;
}

static uint64_t
rx_total(struct mpdp_shm *shm)
{
	struct mpdp_abi_port *p[2];
	struct mpdp_abi_port_queue s0, s1;

	if (mpdp_port_lookup(shm, "n0", &p[0]) != 0 || mpdp_port_lookup(shm, "n1", &p[1]) != 0)
		return 0;
	mpdp_port_stats(p[0], &s0);
	mpdp_port_stats(p[1], &s1);
	return s0.rx_packets + s1.rx_packets;
}

/* One run: start the primary, wait for ready, sample the counters, stop it. */
static int
fwd_run(const struct bench *b, const char *primary, unsigned size, unsigned copy, double *mpps)
{
	char name[32], dir[] = "/tmp/mpdp-bench-fwd-XXXXXX", core[16], n0[64], n1[64];
	struct mpdp_errbuf eb = { "" };
	struct mpdp_shm *shm = NULL;
	uint64_t t0, t1, c0, c1;
	int status, rc = -EIO;
	pid_t pid;

	if (mkdtemp(dir) == NULL)
		return -errno;
	snprintf(name, sizeof(name), "benchfwd-%d", (int)getpid());
	snprintf(core, sizeof(core), "%d", b->cpu[0] >= 0 ? b->cpu[0] : 0);
	snprintf(n0, sizeof(n0), "n0,driver=null,size=%u,copy=%u", size, copy);
	snprintf(n1, sizeof(n1), "n1,driver=null,size=%u,copy=%u", size, copy);
	char *args[24] = { (char *)primary, "--name", name, "--runtime-dir", dir, "-l", core,
			   "--port", n0, "--port", n1, "--patch", "n0:n1", "--patch", "n1:n0",
			   "--log-level", "err" };
	unsigned n_args = 17;

	if (b->no_huge)
		args[n_args++] = "--no-huge";
	args[n_args] = NULL;
	posix_spawn_file_actions_t fa;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	rc = posix_spawn(&pid, primary, &fa, NULL, args, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0) {
		rmdir(dir);
		return -rc;
	}
	/* Attach as soon as the instance is ready. */
	for (int i = 0; i < 500 && shm == NULL; i++) {
		if (mpdp_shm_attach(name, dir, &shm, &eb) != 0)
			usleep(10000);
	}
	if (shm == NULL) {
		fprintf(stderr, "mpdp-bench: the primary did not come up: %s\n", eb.msg);
		goto out;
	}
	t0 = mpdp_time_ns();
	while (mpdp_time_ns() - t0 < FWD_WARMUP_NS)
		usleep(10000);
	t0 = mpdp_time_ns();
	c0 = rx_total(shm);
	usleep(FWD_MEASURE_NS / 1000);
	t1 = mpdp_time_ns();
	c1 = rx_total(shm);
	*mpps = (double)(c1 - c0) * 1e3 / (double)(t1 - t0);
	rc = c1 > c0 ? 0 : -EIO;
	mpdp_shm_close(shm);
out:
	kill(pid, SIGTERM);
	waitpid(pid, &status, 0);
	rmdir(dir);
	return rc;
}

int
bench_fwd(struct bench *b)
{
	static const unsigned copies[] = { 0, 1 };
	char primary[PATH_MAX];
	double v[1000];

	if (find_primary(b->self, primary, sizeof(primary)) != 0) {
		fprintf(stderr, "mpdp-bench: cannot find mpdp-primary beside %s\n", b->self);
		return -ENOENT;
	}
	for (unsigned c = 0; c < 2; c++) {
		for (unsigned i = 0; i < b->runs; i++) {
			int rc = fwd_run(b, primary, 64, copies[c], &v[i]);

			if (rc != 0) {
				fprintf(stderr, "mpdp-bench: forwarding run failed: %s\n", mpdp_strerror(rc));
				return rc;
			}
		}
		double mpps = bench_median(v, b->runs);

		if (b->json)
			printf("{\"bench\":\"fwd\",\"size\":64,\"copy\":%u,\"mpps\":%.1f}\n", copies[c], mpps);
		else
			printf("fwd: one I/O worker, two null ports patched both ways, size 64, copy %u: "
			       "%.1f Mpps\n", copies[c], mpps);
		fflush(stdout);
	}
	return 0;
}

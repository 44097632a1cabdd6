/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Attach time: from just before exec of a secondary to the moment it has
 * attached and found a ring and a pool, over many runs, with the bench's
 * own instance playing the primary.
 */
#include <errno.h>
#include <inttypes.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "mpdp_mbuf.h"
#include "mpdp_pool.h"
#include "mpdp_ring.h"
#include "mpdp_shm.h"
#include "mpdp_time.h"

#define ATTACH_RUNS 100

extern char **environ;

/* Runs in the child: attach, look up, write the time to fd 1, detach. */
int
bench_attach_child(int argc, char **argv)
{
	struct mpdp_errbuf eb = { "" };
	struct mpdp_shm *shm;
	struct mpdp_ring *r;
	struct mpdp_pool *p;
	uint64_t now;
	int rc;

	if (argc < 2)
		return 2;
	rc = mpdp_shm_attach(argv[1], argc > 2 ? argv[2] : NULL, &shm, &eb);
	if (rc != 0) {
		fprintf(stderr, "attach-child: %s\n", eb.msg);
		return 1;
	}
	if (mpdp_ring_lookup(shm, "attach-ring", &r) != 0 || mpdp_pool_lookup(shm, "attach-pool", &p) != 0)
		return 1;
	now = mpdp_time_ns();
	if (write(1, &now, sizeof(now)) != sizeof(now))
		return 1;
	mpdp_shm_close(shm);
	return 0;
}

int
bench_attach(struct bench *b)
{
	double ms[ATTACH_RUNS], exit_ms[ATTACH_RUNS];
	struct mpdp_ring *r;
	struct mpdp_pool *p;
	unsigned runs = b->runs * 20 < ATTACH_RUNS ? b->runs * 20 : ATTACH_RUNS;
	int rc;

	rc = mpdp_ring_create(b->shm, "attach-ring", 1024, 0, -1, &r);
	if (rc == 0)
		rc = mpdp_mbuf_pool_create(b->shm, "attach-pool", 8192, 256, 2048, -1, &p);
	if (rc != 0) {
		fprintf(stderr, "mpdp-bench: %s\n", mpdp_strerror(rc));
		return rc;
	}
	for (unsigned i = 0; i < runs; i++) {
		char *args[] = { (char *)b->self, "attach-child", b->name, (char *)b->runtime_dir, NULL };
		posix_spawn_file_actions_t fa;
		uint64_t t0, t1 = 0;
		int fds[2], status;
		pid_t pid;

		if (pipe(fds) != 0)
			return -errno;
		posix_spawn_file_actions_init(&fa);
		posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
		posix_spawn_file_actions_addclose(&fa, fds[0]);
		t0 = mpdp_time_ns();
		rc = posix_spawn(&pid, b->self, &fa, NULL, args, environ);
		posix_spawn_file_actions_destroy(&fa);
		close(fds[1]);
		if (rc != 0) {
			close(fds[0]);
			fprintf(stderr, "mpdp-bench: cannot run %s: %s\n", b->self, strerror(rc));
			return -rc;
		}
		rc = read(fds[0], &t1, sizeof(t1)) == sizeof(t1) ? 0 : -EIO;
		close(fds[0]);
		waitpid(pid, &status, 0);
		exit_ms[i] = (double)(mpdp_time_ns() - t0) / 1e6;
		if (rc != 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			fprintf(stderr, "mpdp-bench: the attaching child failed\n");
			return -EIO;
		}
		ms[i] = (double)(t1 - t0) / 1e6;
	}
	double med = bench_median(ms, runs), exit_med = bench_median(exit_ms, runs);

	if (b->json)
		printf("{\"bench\":\"attach\",\"runs\":%u,\"median_ms\":%.3f,\"min_ms\":%.3f,"
		       "\"max_ms\":%.3f,\"exit_median_ms\":%.3f}\n",
		       runs, med, ms[0], ms[runs - 1], exit_med);
	else
		printf("attach: exec to attached (ring and pool found), %u runs: median %.3f ms, "
		       "min %.3f ms, max %.3f ms; exec to exit: median %.3f ms\n",
		       runs, med, ms[0], ms[runs - 1], exit_med);
	return 0;
}

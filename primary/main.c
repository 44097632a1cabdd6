/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mpdp-primary: creates the instance region, its pools and rings, says
 * "ready" on stdout, and keeps the instance alive until SIGINT or SIGTERM.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mpdp_log.h"
#include "mpdp_mbuf.h"
#include "mpdp_pool.h"
#include "mpdp_ring.h"
#include "mpdp_shm.h"
#include "mpdp_worker.h"
#include "primary.h"

/* Every ~second the primary frees the worker slots of processes that died. */
#define PRIMARY_TICK_NS 100000000L
#define PRIMARY_RECLAIM_TICKS 10

struct primary {
	struct primary_cfg cfg;
	struct mpdp_shm *shm;
};

static int
create_objects(struct primary *p)
{
	for (unsigned i = 0; i < p->cfg.n_pools; i++) {
		const struct primary_pool_cfg *pc = &p->cfg.pools[i];
		struct mpdp_pool *pool;
		int rc = mpdp_mbuf_pool_create(p->shm, pc->name, pc->n, pc->cache, pc->dataroom, -1, &pool);

		if (rc != 0) {
			MPDP_LOG(ERR, "--pool %s,n=%u,cache=%u,dataroom=%u: %s%s", pc->name, pc->n,
				 pc->cache, pc->dataroom, mpdp_strerror(rc),
				 rc == -ENOMEM ? " (the region is too small: raise --mem)" :
				 rc == -EEXIST ? " (the name is already taken)" : "");
			return rc;
		}
	}
	for (unsigned i = 0; i < p->cfg.n_rings; i++) {
		const struct primary_ring_cfg *rc_ = &p->cfg.rings[i];
		struct mpdp_ring *ring;
		int rc = mpdp_ring_create(p->shm, rc_->name, rc_->size, rc_->flags, -1, &ring);

		if (rc != 0) {
			MPDP_LOG(ERR, "--ring %s,size=%u: %s%s", rc_->name, rc_->size, mpdp_strerror(rc),
				 rc == -ENOMEM ? " (the region is too small: raise --mem)" :
				 rc == -EEXIST ? " (the name is already taken)" : "");
			return rc;
		}
	}
	return 0;
}

/* Wait for SIGINT/SIGTERM, reclaiming dead workers' slots meanwhile. */
static int
run(struct primary *p, const sigset_t *stop)
{
	const struct timespec tick = { 0, PRIMARY_TICK_NS };
	unsigned ticks = 0;
	siginfo_t si;

	for (;;) {
		int sig = sigtimedwait(stop, &si, &tick);

		if (sig > 0) {
			MPDP_LOG(NOTICE, "instance '%s': %s, shutting down", p->cfg.name, strsignal(sig));
			return 0;
		}
		if (++ticks % PRIMARY_RECLAIM_TICKS == 0) {
			unsigned n = mpdp_worker_reclaim_dead(p->shm);

			if (n > 0)
				MPDP_LOG(NOTICE, "reclaimed %u worker slots of dead processes", n);
		}
	}
}

int
main(int argc, char **argv)
{
	struct mpdp_errbuf eb = { "" };
	struct primary p = { 0 };
	sigset_t stop;
	int rc;

	rc = primary_parse_args(argc, argv, &p.cfg, &eb);
	if (rc == PRIMARY_EXIT_OK)
		return 0;
	if (rc < 0) {
		fprintf(stderr, "mpdp-primary: %s\n", eb.msg);
		fprintf(stderr, "mpdp-primary: see --help\n");
		return 2;
	}
	/* Block the stop signals before any thread exists, so only sigtimedwait sees them. */
	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &stop, NULL);

	rc = mpdp_shm_create(&p.cfg.shm, &p.shm, &eb);
	if (rc != 0) {
		fprintf(stderr, "mpdp-primary: %s\n", eb.msg);
		return 1;
	}
	rc = create_objects(&p);
	if (rc != 0)
		goto out;
	if (mpdp_log_enabled(MPDP_LOG_INFO, MPDP_LOG_COMPONENT))
		mpdp_shm_dump(stderr, p.shm);
	printf("ready\n");
	fflush(stdout);
	rc = run(&p, &stop);
out:
	mpdp_shm_close(p.shm);
	return rc == 0 ? 0 : 1;
}

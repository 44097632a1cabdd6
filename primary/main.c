/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mpdp-primary: creates the instance region, its pools and rings, says
 * "ready" on stdout, and keeps the instance alive until SIGINT or SIGTERM.
 */
#include <errno.h>
#include <sched.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "capture.h"
#include "ctl.h"
#include "faults.h"
#include "io.h"
#include "mpdp_log.h"
#include "mpdp_mbuf.h"
#include "mpdp_pool.h"
#include "mpdp_port.h"
#include "mpdp_ring.h"
#include "mpdp_shm.h"
#include "mpdp_stage.h"
#include "mpdp_time.h"
#include "mpdp_worker.h"
#include "primary.h"
#include "supervise.h"

/* Housekeeping every 100 ms; a scan for dead stages every 10 ms (a pidfd wakes it sooner). */
#define PRIMARY_TICK_NS 100000000ull
#define PRIMARY_TICKS_PER_S 10
#define PRIMARY_SCAN_MS 10

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
		int rc = mpdp_ring_create(p->shm, rc_->name, rc_->size, rc_->flags | MPDP_RING_F_RECOVER,
					  -1, &ring);

		if (rc != 0) {
			MPDP_LOG(ERR, "--ring %s,size=%u: %s%s", rc_->name, rc_->size, mpdp_strerror(rc),
				 rc == -ENOMEM ? " (the region is too small: raise --mem)" :
				 rc == -EEXIST ? " (the name is already taken)" : "");
			return rc;
		}
	}
	return 0;
}

static struct mpdp_port *
port_by_name(struct primary *p, const char *name)
{
	for (unsigned i = 0; i < p->n_ports; i++) {
		if (strcmp(p->ports[i]->abi->name, name) == 0)
			return p->ports[i];
	}
	return NULL;
}

static int
open_ports(struct primary *p)
{
	struct mpdp_errbuf eb = { "" };
	int rc;

	if (p->cfg.n_ports == 0)
		return 0;
	rc = mpdp_pool_lookup(p->shm, p->cfg.pools[0].name, &p->port_pool);
	if (rc != 0)
		return rc;
	for (unsigned i = 0; i < p->cfg.n_ports; i++) {
		rc = mpdp_port_open(p->shm, p->cfg.ports[i], p->port_pool, p->cfg.port_ring_size,
				    &p->ports[i], &eb);
		if (rc != 0) {
			MPDP_LOG(ERR, "%s", eb.msg);
			return rc;
		}
		p->n_ports++;
	}
	for (unsigned i = 0; i < p->cfg.n_patches; i++) {
		const struct primary_patch_cfg *pc = &p->cfg.patches[i];

		if (port_by_name(p, pc->src) == NULL || port_by_name(p, pc->dst) == NULL) {
			MPDP_LOG(ERR, "--patch %s:%s: no port named %s", pc->src, pc->dst,
				 port_by_name(p, pc->src) == NULL ? pc->src : pc->dst);
			return -EINVAL;
		}
	}
	return 0;
}

/* One I/O worker per core of -l (one unpinned worker without -l); ports by lcore= or in turn. */
static int
start_workers(struct primary *p)
{
	unsigned n = p->cfg.cores_given ? (unsigned)CPU_COUNT(&p->cfg.cores) : 1, next = 0;

	if (p->n_ports == 0)
		return 0;
	p->workers = calloc(n, sizeof(*p->workers));
	if (p->workers == NULL)
		return -ENOMEM;
	p->n_workers = n;
	for (unsigned i = 0; i < n; i++) {
		struct io_worker *w = &p->workers[i];

		w->index = i;
		w->cpu = p->cfg.cores_given ? mpdp_corelist_nth(&p->cfg.cores, i) : -1;
		w->stop = &p->stop_io;
		w->lockstep = p->cfg.lockstep;
		w->shm = p->shm;
		snprintf(w->name, sizeof(w->name), "primary/io%u", i);
	}
	/*
	 * A patch makes the source's worker transmit on the destination, and a
	 * driver queue has one user: ports joined by patches share a worker.
	 * group[i] is the lowest index of port i's patch group.
	 */
	unsigned group[MPDP_PORT_MAX];
	struct io_worker *of_group[MPDP_PORT_MAX] = { 0 };

	for (unsigned i = 0; i < p->n_ports; i++)
		group[i] = i;
	for (int changed = 1; changed;) {
		changed = 0;
		for (unsigned c = 0; c < p->cfg.n_patches; c++) {
			unsigned a = port_by_name(p, p->cfg.patches[c].src)->id;
			unsigned b = port_by_name(p, p->cfg.patches[c].dst)->id;
			unsigned ia = 0, ib = 0;

			for (unsigned i = 0; i < p->n_ports; i++) {
				ia = p->ports[i]->id == a ? i : ia;
				ib = p->ports[i]->id == b ? i : ib;
			}
			if (group[ia] != group[ib]) {
				group[ia] = group[ib] = group[ia] < group[ib] ? group[ia] : group[ib];
				changed = 1;
			}
		}
	}
	for (unsigned i = 0; i < p->n_ports; i++) {
		struct mpdp_port *port = p->ports[i];
		struct io_worker *w = NULL;

		if (port->abi->lcore >= 0) {
			for (unsigned k = 0; k < n && w == NULL; k++) {
				if (p->workers[k].cpu == port->abi->lcore)
					w = &p->workers[k];
			}
			if (w == NULL) {
				MPDP_LOG(ERR, "port %s: lcore=%d is not one of the -l cores", port->abi->name,
					 port->abi->lcore);
				return -EINVAL;
			}
			if (of_group[group[i]] != NULL && of_group[group[i]] != w) {
				MPDP_LOG(ERR, "port %s: lcore=%d, but a port it is patched with is polled "
					 "from core %d: patched ports share one I/O worker", port->abi->name,
					 port->abi->lcore, of_group[group[i]]->cpu);
				return -EINVAL;
			}
		}
		if (of_group[group[i]] == NULL) {
			/* The group goes where its first explicit lcore= says, else in turn. */
			for (unsigned j = i; j < p->n_ports && w == NULL; j++) {
				if (group[j] == group[i] && p->ports[j]->abi->lcore >= 0) {
					for (unsigned k = 0; k < n && w == NULL; k++) {
						if (p->workers[k].cpu == p->ports[j]->abi->lcore)
							w = &p->workers[k];
					}
				}
			}
			of_group[group[i]] = w != NULL ? w : &p->workers[next++ % n];
		}
		w = of_group[group[i]];
		port->abi->lcore = w->cpu;
		w->ports[w->n_ports++].port = port;
	}
	for (unsigned k = 0; k < n; k++) {
		for (unsigned i = 0; i < p->workers[k].n_ports; i++) {
			struct io_port *ip = &p->workers[k].ports[i];

			for (unsigned c = 0; c < p->cfg.n_patches; c++) {
				if (strcmp(p->cfg.patches[c].src, ip->port->abi->name) == 0) {
					ip->patch = port_by_name(p, p->cfg.patches[c].dst);
					ip->port->abi->patch_to = ip->patch->id + 1u;
				}
			}
		}
	}
	for (unsigned k = 0; k < n; k++) {
		for (unsigned i = 0; i < p->workers[k].n_ports; i++)
			atomic_store((_Atomic uint32_t *)&p->workers[k].ports[i].port->abi->state,
				     MPDP_PORT_STARTED);
		int rc = io_worker_start(&p->workers[k]);

		if (rc != 0) {
			MPDP_LOG(ERR, "cannot start I/O worker %u: %s", k, mpdp_strerror(rc));
			return rc;
		}
	}
	return 0;
}

static void
stop_workers(struct primary *p)
{
	atomic_store(&p->stop_io, 1);
	for (unsigned k = 0; k < p->n_workers; k++)
		io_worker_join(&p->workers[k]);
	free(p->workers);
	p->workers = NULL;
	p->n_workers = 0;
}

static void
print_ports(struct primary *p, FILE *f)
{
	for (unsigned i = 0; i < p->n_ports; i++)
		mpdp_port_summary(f, p->ports[i]->abi);
	fflush(f);
}

static int
ring_busy(const struct mpdp_shm_memzone *mz, void *arg)
{
	(void)arg;
	return mpdp_ring_count(mz->addr) != 0;
}

static int
stage_busy(struct mpdp_abi_stage *slot, void *arg)
{
	struct mpdp_stage_totals t;

	(void)arg;
	if (mpdp_stage_slot_state(slot) == MPDP_STAGE_DOWN)
		return 0;
	mpdp_stage_totals(slot, &t);
	return t.in_hand != 0;
}

/*
 * --until-eof: done when every file source is read to its end and nothing
 * is held or queued anywhere: no packet waits in any ring of the instance
 * (the ports' and those between stages) or in a running stage's hands.
 */
static int
all_drained(struct primary *p)
{
	for (unsigned k = 0; k < p->n_workers; k++) {
		for (unsigned i = 0; i < p->workers[k].n_ports; i++) {
			const struct io_port *ip = &p->workers[k].ports[i];

			if ((ip->port->abi->flags & MPDP_PORT_F_FILE_RX) && !atomic_load(&ip->drained))
				return 0;
		}
	}
	return mpdp_shm_memzone_walk(p->shm, MPDP_MZ_KIND_RING, ring_busy, NULL) == 0 &&
	       mpdp_stage_walk(p->shm, stage_busy, NULL) == 0;
}

/*
 * Wait for SIGINT/SIGTERM (or the end of the input). Meanwhile dead stages
 * are reclaimed: at once when a watched one exits (its pidfd wakes the
 * poll), otherwise within a scan period.
 */
static int
run(struct primary *p, const sigset_t *stop)
{
	struct pollfd fds[1 + FAULTS_WATCH_MAX];
	unsigned drained_ticks = 0;
	uint64_t next_tick = mpdp_time_ns() + PRIMARY_TICK_NS, ticks = 0;
	struct faults faults;
	int sfd = signalfd(-1, stop, SFD_CLOEXEC | SFD_NONBLOCK);

	if (sfd < 0) {
		MPDP_LOG(ERR, "signalfd: %s", strerror(errno));
		return -errno;
	}
	faults_init(&faults, p->shm);
	for (;;) {
		struct signalfd_siginfo si;
		unsigned n, freed;

		fds[0].fd = sfd;
		fds[0].events = POLLIN;
		n = 1 + faults_pollfds(&faults, fds + 1, FAULTS_WATCH_MAX);
		poll(fds, n, PRIMARY_SCAN_MS);
		if (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
			MPDP_LOG(NOTICE, "instance '%s': %s, shutting down", p->cfg.name,
				 strsignal((int)si.ssi_signo));
			break;
		}
		if (atomic_load(&p->stop_io) && p->n_workers > 0) {
			MPDP_LOG(ERR, "an I/O worker failed; shutting down");
			faults_fini(&faults);
			close(sfd);
			return -EIO;
		}
		faults_scan(&faults);
		if (mpdp_time_ns() < next_tick)
			continue;
		next_tick += PRIMARY_TICK_NS;
		ticks++;
		/* Workers outside stages (tools, programs of their own) are not in a hurry. */
		freed = ticks % PRIMARY_TICKS_PER_S == 0 ? mpdp_worker_reclaim_dead(p->shm) : 0;
		if (freed > 0)
			MPDP_LOG(NOTICE, "reclaimed %u worker slots of dead processes", freed);
		if (p->cfg.stats_period && ticks % (p->cfg.stats_period * PRIMARY_TICKS_PER_S) == 0)
			print_ports(p, stdout);
		/* Two quiet ticks in a row: what a worker had in hand has landed too. */
		drained_ticks = p->cfg.until_eof && all_drained(p) ? drained_ticks + 1 : 0;
		if (drained_ticks == 2) {
			MPDP_LOG(NOTICE, "instance '%s': every input read and every ring drained", p->cfg.name);
			break;
		}
	}
	faults_fini(&faults);
	close(sfd);
	return 0;
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
	/*
	 * Block the stop signals before any thread exists, so only sigtimedwait
	 * sees them, with their default disposition: a shell starts background
	 * jobs with SIGINT ignored, and an ignored signal never becomes pending.
	 */
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &stop, NULL);

	p.started_ns = mpdp_time_ns();
	rc = mpdp_shm_create(&p.cfg.shm, &p.shm, &eb);
	if (rc != 0) {
		fprintf(stderr, "mpdp-primary: %s\n", eb.msg);
		return 1;
	}
	/* First: the capture zone is found by a scan of the memzone table, sooner when early. */
	rc = capture_mgr_open(p.shm, &p.capture, &eb);
	if (rc != 0) {
		fprintf(stderr, "mpdp-primary: %s\n", eb.msg);
		mpdp_shm_close(p.shm);
		return 1;
	}
	rc = create_objects(&p);
	if (rc == 0)
		rc = open_ports(&p);
	if (rc == 0)
		rc = start_workers(&p);
	if (rc == 0)
		rc = ctl_server_start(&p, -1, &eb);
	if (rc != 0) {
		if (eb.msg[0] != '\0')
			MPDP_LOG(ERR, "%s", eb.msg);
		goto out;
	}
	if (mpdp_log_enabled(MPDP_LOG_INFO, MPDP_LOG_COMPONENT))
		mpdp_shm_dump(stderr, p.shm);
	printf("ready\n");
	fflush(stdout);
	supervise_start(&p);
	rc = run(&p, &stop);
out:
	supervise_stop(&p);
	ctl_server_stop(&p);
	stop_workers(&p);
	print_ports(&p, stdout);
	capture_mgr_close(p.capture);
	for (unsigned i = 0; i < p.n_ports; i++)
		mpdp_port_close(p.ports[i]);
	mpdp_shm_close(p.shm);
	return rc == 0 ? 0 : 1;
}

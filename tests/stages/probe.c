/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * probe: print an instance's counters as stable lines for the stage
 * tests to read, one object per line:
 *   port NAME rx N tx N missed N drops N errors N
 *   pool NAME in_use N total N
 *   ring NAME count N
 *   stage ID state S in N sent N dropped N in_hand N restarts N
 */
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "mpdp_pool.h"
#include "mpdp_ring.h"
#include "mpdp_shm.h"
#include "mpdp_stage.h"

static int
print_pool(const struct mpdp_shm_memzone *mz, void *arg)
{
	struct mpdp_pool *pool = mz->addr;

	(void)arg;
	printf("pool %s in_use %u total %u\n", pool->name, mpdp_pool_in_use_count(pool), pool->n);
	return 0;
}

static int
print_ring(const struct mpdp_shm_memzone *mz, void *arg)
{
	struct mpdp_ring *r = mz->addr;

	(void)arg;
	printf("ring %s count %u\n", r->name, mpdp_ring_count(r));
	return 0;
}

static int
print_stage(struct mpdp_abi_stage *slot, void *arg)
{
	struct mpdp_stage_totals t;

	(void)arg;
	mpdp_stage_totals(slot, &t);
	printf("stage %s state %s in %" PRIu64 " sent %" PRIu64 " dropped %" PRIu64
	       " in_hand %" PRIu64 " restarts %u reclaimed %" PRIu64 " reclaims %u\n", slot->id,
	       mpdp_stage_state_name(mpdp_stage_slot_state(slot)), t.in_packets, t.sent, t.dropped,
	       t.in_hand, slot->restarts, slot->reclaimed, slot->reclaims);
	return 0;
}

static uint64_t
realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/*
 * wait-down ID PID: wait for process PID to exit (its pidfd), then poll
 * stage ID's state every 0.2 ms until it is down; print the milliseconds
 * from the exit to down, or -1 after 5 s.
 */
static int
wait_down(struct mpdp_shm *shm, const char *id, const char *pid_arg)
{
	int fd = (int)syscall(SYS_pidfd_open, atoi(pid_arg), 0);
	struct mpdp_abi_stage *slot = NULL;
	uint64_t died, now;

	if (fd >= 0) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };

		poll(&pfd, 1, 30000);
		close(fd);
	}
	died = realtime_ns();
	for (now = died; now - died < 5000000000ull; now = realtime_ns()) {
		if (slot == NULL)
			mpdp_stage_find(shm, id, &slot);
		if (slot != NULL && mpdp_stage_slot_state(slot) == MPDP_STAGE_DOWN) {
			printf("%.1f\n", (double)(realtime_ns() - died) / 1e6);
			return 0;
		}
		usleep(200);
	}
	printf("-1\n");
	return 1;
}

int
main(int argc, char **argv)
{
	struct mpdp_errbuf eb = { "" };
	struct mpdp_shm *shm;
	const struct mpdp_abi_header *h;

	if (argc != 3 && !(argc == 6 && strcmp(argv[3], "wait-down") == 0)) {
		fprintf(stderr, "usage: probe NAME RUNTIME_DIR [wait-down ID PID]\n");
		return 2;
	}
	if (mpdp_shm_attach(argv[1], argv[2], &shm, &eb) != 0) {
		fprintf(stderr, "probe: %s\n", eb.msg);
		return 1;
	}
	if (argc == 6) {
		int rc = wait_down(shm, argv[4], argv[5]);

		mpdp_shm_close(shm);
		return rc;
	}
	h = mpdp_shm_header(shm);
	for (unsigned i = 0; i < MPDP_PORT_MAX; i++) {
		const struct mpdp_abi_port *p = &h->ports[i];
		uint64_t rx = 0, tx = 0, missed = 0, drops = 0, errors = 0;

		if (p->state == MPDP_PORT_FREE)
			continue;
		for (unsigned q = 0; q < MPDP_PORT_QUEUE_MAX; q++) {
			rx += p->queues[q].rx_packets;
			tx += p->queues[q].tx_packets;
			missed += p->queues[q].rx_missed;
			drops += p->queues[q].tx_drops;
			errors += p->queues[q].rx_errors + p->queues[q].tx_errors;
		}
		printf("port %s rx %" PRIu64 " tx %" PRIu64 " missed %" PRIu64 " drops %" PRIu64
		       " errors %" PRIu64 "\n", p->name, rx, tx, missed, drops, errors);
	}
	mpdp_shm_memzone_walk(shm, MPDP_MZ_KIND_POOL, print_pool, NULL);
	mpdp_shm_memzone_walk(shm, MPDP_MZ_KIND_RING, print_ring, NULL);
	mpdp_stage_walk(shm, print_stage, NULL);
	mpdp_shm_close(shm);
	return 0;
}

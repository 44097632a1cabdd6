/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Test helper for test_ports.sh: "ring_client NAME RUNDIR COUNT" attaches to
 * a running mpdp-primary whose ring ports read ring "in" and write ring
 * "out", sends COUNT stamped mbufs of the primary's pool "mbuf" into "in"
 * (at most half a ring in flight, so nothing can be dropped for room) and
 * takes them back from "out". Every mbuf must come back once, in order and
 * intact, and at the end every mbuf must be back in the pool. Prints one
 * summary line; exits 0 when all of that holds, 1 when not, 2 on bad use.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mpdp_mbuf.h"
#include "mpdp_pool.h"
#include "mpdp_ring.h"
#include "mpdp_shm.h"

#define STAMP_MAGIC 0x6d706470u   /* "mpdp" */
#define BURST 32
#define IN_FLIGHT_MAX 512         /* half of the rings' default 1024 slots */
#define STALL_S 10

static unsigned
frame_len(uint32_t seq)
{
	return 60 + seq % 200;
}

static void
stamp(struct mpdp_mbuf *m, uint32_t seq)
{
	unsigned len = frame_len(seq);
	uint8_t *d = mpdp_mbuf_append(m, len);
	uint32_t magic = STAMP_MAGIC;

	memcpy(d, &magic, 4);
	memcpy(d + 4, &seq, 4);
	for (unsigned i = 8; i < len; i++)
		d[i] = (uint8_t)(seq + i);
}

/* @return 1 when @p m carries stamp @p seq intact */
static int
stamp_ok(const struct mpdp_mbuf *m, uint32_t seq)
{
	const uint8_t *d = mpdp_mbuf_data(m);
	uint32_t magic, got;

	if (m->data_len != frame_len(seq))
		return 0;
	memcpy(&magic, d, 4);
	memcpy(&got, d + 4, 4);
	if (magic != STAMP_MAGIC || got != seq)
		return 0;
	for (unsigned i = 8; i < m->data_len; i++) {
		if (d[i] != (uint8_t)(seq + i))
			return 0;
	}
	return 1;
}

static int
lookup(struct mpdp_shm *shm, const char *name, struct mpdp_ring **r)
{
	int rc = mpdp_ring_lookup(shm, name, r);

	if (rc != 0)
		fprintf(stderr, "ring_client: ring %s: %s\n", name, mpdp_strerror(rc));
	return rc;
}

int
main(int argc, char **argv)
{
	struct mpdp_errbuf eb = { "" };
	struct mpdp_ring *in, *out;
	struct mpdp_pool *pool;
	struct mpdp_shm *shm;
	uint32_t count, sent = 0, received = 0, bad = 0;
	unsigned in_use_before, in_use_after;
	time_t last_progress = time(NULL);
	int rc;

	if (argc != 4 || (count = (uint32_t)strtoul(argv[3], NULL, 10)) == 0) {
		fprintf(stderr, "usage: %s NAME RUNDIR COUNT\n", argv[0]);
		return 2;
	}
	rc = mpdp_shm_attach(argv[1], argv[2], &shm, &eb);
	if (rc != 0) {
		fprintf(stderr, "ring_client: attach: %s\n", eb.msg);
		return 1;
	}
	rc = mpdp_pool_lookup(shm, "mbuf", &pool);
	if (rc != 0) {
		fprintf(stderr, "ring_client: pool mbuf: %s\n", mpdp_strerror(rc));
		return 1;
	}
	if (lookup(shm, "in", &in) != 0 || lookup(shm, "out", &out) != 0)
		return 1;
	in_use_before = mpdp_pool_in_use_count(pool);

	while (received < count && time(NULL) - last_progress < STALL_S) {
		struct mpdp_mbuf *ms[BURST];
		unsigned n = count - sent < BURST ? count - sent : BURST;

		if (sent - received + n > IN_FLIGHT_MAX)
			n = IN_FLIGHT_MAX - (sent - received);
		if (n > 0 && mpdp_mbuf_alloc_bulk(pool, MPDP_POOL_NO_CACHE, ms, n) == n) {
			unsigned done;

			for (unsigned i = 0; i < n; i++)
				stamp(ms[i], sent + i);
			done = mpdp_ring_enqueue_burst(in, (void *const *)ms, n, NULL);
			sent += done;
			if (done < n) { /* cannot happen with half a ring in flight */
				fprintf(stderr, "ring_client: ring in is full\n");
				mpdp_mbuf_free_bulk(ms + done, n - done, MPDP_POOL_NO_CACHE);
				bad++;
				break;
			}
		}
		n = mpdp_ring_dequeue_burst(out, (void **)ms, BURST, NULL);
		for (unsigned i = 0; i < n; i++) {
			bad += !stamp_ok(ms[i], received);
			received++;
		}
		mpdp_mbuf_free_bulk(ms, n, MPDP_POOL_NO_CACHE);
		if (n > 0)
			last_progress = time(NULL);
		else
			usleep(50);
	}
	in_use_after = mpdp_pool_in_use_count(pool);
	printf("sent %u, received %u, lost %u, corrupt, missing or out of order %u; mbufs in use: "
	       "%u before, %u after\n", sent, received, count - received, bad, in_use_before,
	       in_use_after);
	mpdp_shm_close(shm);
	return received == count && bad == 0 && in_use_before == 0 && in_use_after == 0 ? 0 : 1;
}

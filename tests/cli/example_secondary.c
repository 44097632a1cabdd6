/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Built outside the tree against the installed libmpdp (pkg-config), as a
 * user's own program would be: attach, find a ring and a pool, and move
 * stamped mbufs through the ring.
 */
#include <stdio.h>
#include <string.h>

#include <mpdp_mbuf.h>
#include <mpdp_ring.h>
#include <mpdp_shm.h>
#include <mpdp_worker.h>

int
main(int argc, char **argv)
{
	struct mpdp_errbuf eb = { "" };
	struct mpdp_mbuf *out[8], *in[8];
	struct mpdp_shm *shm;
	struct mpdp_ring *r;
	struct mpdp_pool *pool;
	unsigned wid, ok = 0;

	if (argc != 3 || mpdp_shm_attach(argv[1], argv[2], &shm, &eb) != 0) {
		fprintf(stderr, "example: %s\n", eb.msg);
		return 1;
	}
	if (mpdp_ring_lookup(shm, "ext", &r) != 0 || mpdp_pool_lookup(shm, "mbuf", &pool) != 0 ||
	    mpdp_worker_register(shm, "example", -1, &wid) != 0)
		return 2;
	for (int round = 0; round < 1000; round++) {
		if (mpdp_mbuf_alloc_bulk(pool, wid, out, 8) != 8)
			return 3;
		for (int i = 0; i < 8; i++)
			memcpy(mpdp_mbuf_append(out[i], 4), &round, 4);
		mpdp_ring_enqueue_bulk(r, (void **)out, 8, NULL);
		if (mpdp_ring_dequeue_bulk(r, (void **)in, 8, NULL) != 8)
			return 4;
		for (int i = 0; i < 8; i++)
			ok += in[i] == out[i] && memcmp(mpdp_mbuf_data(in[i]), &round, 4) == 0;
		mpdp_mbuf_free_bulk(in, 8, wid);
	}
	mpdp_worker_release(shm, wid);
	printf("example: %u of 8000 mbufs through ring ext, %u in use\n", ok, mpdp_pool_in_use_count(pool));
	mpdp_shm_close(shm);
	return ok == 8000 ? 0 : 5;
}

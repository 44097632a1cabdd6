/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Mempool fast path. Only mpdp_pool.h includes this file.
 *
 * A cache is touched only by its worker, so its fields need no atomics; the
 * free ring carries the cross-worker ordering (its own R1/A2, R2/A1).
 */
#ifndef MPDP_POOL_PVT_H
#define MPDP_POOL_PVT_H

#include <stdatomic.h>

static inline struct mpdp_pool_cache *
mpdp__pool_cache(const struct mpdp_pool *pool, unsigned wid)
{
	if (wid >= pool->n_caches || pool->cache_size == 0)
		return NULL;
	return (struct mpdp_pool_cache *)(void *)(pool->caches + (size_t)wid * pool->cache_stride);
}

static inline unsigned
mpdp__pool_get_uncached(struct mpdp_pool *pool, void **objs, unsigned n)
{
	if (mpdp_ring_dequeue_bulk(pool->ring, objs, n, NULL) == n)
		return n;
	atomic_fetch_add_explicit((_Atomic uint64_t *)&pool->get_fail, 1, memory_order_relaxed);
	return 0;
}

static inline unsigned
mpdp__pool_get(struct mpdp_pool *pool, unsigned wid, void **objs, unsigned n)
{
	struct mpdp_pool_cache *c = mpdp__pool_cache(pool, wid);
	void **cached;

	if (c == NULL || n >= pool->cache_size)
		return mpdp__pool_get_uncached(pool, objs, n);
	if (c->len < n) {
		/* Refill with the request plus a full cache, or fall back to the ring. */
		unsigned want = n + pool->cache_size - c->len;

		if (mpdp_ring_dequeue_bulk(pool->ring, &c->objs[c->len], want, NULL) == want) {
			c->len += want;
		} else if (mpdp_ring_dequeue_bulk(pool->ring, objs, n, NULL) == n) {
			return n;
		} else {
			c->get_fail++;
			return 0;
		}
	}
	/* Hand out the most recently returned objects first: they are warm. */
	cached = &c->objs[c->len - 1];
	for (unsigned i = 0; i < n; i++)
		objs[i] = *cached--;
	c->len -= n;
	return n;
}

static inline void
mpdp__pool_put(struct mpdp_pool *pool, unsigned wid, void *const *objs, unsigned n)
{
	struct mpdp_pool_cache *c = mpdp__pool_cache(pool, wid);
	void **dst;

	if (c == NULL || n > pool->cache_size) {
		/* The ring has room for every object of the pool, so this never fails. */
		mpdp_ring_enqueue_bulk(pool->ring, objs, n, NULL);
		return;
	}
	if (c->len + n <= pool->flushthresh) {
		dst = &c->objs[c->len];
		c->len += n;
	} else {
		mpdp_ring_enqueue_bulk(pool->ring, c->objs, c->len, NULL);
		dst = &c->objs[0];
		c->len = n;
	}
	for (unsigned i = 0; i < n; i++)
		dst[i] = objs[i];
}

#endif /* MPDP_POOL_PVT_H */

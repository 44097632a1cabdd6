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

static inline struct mpdp_abi_journal *
mpdp__pool_journal(const struct mpdp_pool *pool, unsigned wid)
{
	return wid < MPDP_WORKER_MAX && pool->journals != NULL ? &pool->journals[wid] : NULL;
}

static inline unsigned
mpdp__pool_get_uncached(struct mpdp_pool *pool, struct mpdp_abi_journal *j, void **objs, unsigned n)
{
	if (mpdp_ring_dequeue_bulk_j(pool->ring, j, objs, n, NULL) == n)
		return n;
	atomic_fetch_add_explicit((_Atomic uint64_t *)&pool->get_fail, 1, memory_order_relaxed);
	return 0;
}

/*
 * The cache's length is stored (release) after its slots are written, and
 * every change of its contents other than a get is journalled first, so
 * that mpdp_pool_cache_recover() can tell what a dead worker's cache held.
 */
static inline void
mpdp__pool_cache_len(struct mpdp_pool_cache *c, uint32_t len)
{
	__atomic_store_n(&c->len, len, __ATOMIC_RELEASE);
}

static inline unsigned
mpdp__pool_get(struct mpdp_pool *pool, unsigned wid, void **objs, unsigned n)
{
	struct mpdp_pool_cache *c = mpdp__pool_cache(pool, wid);
	struct mpdp_abi_journal *j = mpdp__pool_journal(pool, wid);
	void **cached;
	uint32_t len;

	if (c == NULL || n >= pool->cache_size)
		return mpdp__pool_get_uncached(pool, j, objs, n);
	len = c->len;
	if (len < n) {
		/* Refill with the request plus a full cache, or fall back to the ring. */
		unsigned want = n + pool->cache_size - len;

		if (mpdp_ring_dequeue_bulk_j(pool->ring, j, &c->objs[len], want, NULL) == want) {
			len += want;
			mpdp__pool_cache_len(c, len);
			mpdp_journal_done(j);
		} else if (mpdp_ring_dequeue_bulk_j(pool->ring, j, objs, n, NULL) == n) {
			return n;
		} else {
			c->get_fail++;
			return 0;
		}
	}
	/* Shrink first: a death before the copy loses these objects, never doubles them. */
	mpdp__pool_cache_len(c, len - n);
	/* Hand out the most recently returned objects first: they are warm. */
	cached = &c->objs[len - 1];
	for (unsigned i = 0; i < n; i++)
		objs[i] = *cached--;
	return n;
}

static inline void
mpdp__pool_put(struct mpdp_pool *pool, unsigned wid, void *const *objs, unsigned n)
{
	struct mpdp_pool_cache *c = mpdp__pool_cache(pool, wid);
	struct mpdp_abi_journal *j = mpdp__pool_journal(pool, wid);
	void **dst;
	uint32_t len;

	if (c == NULL || n > pool->cache_size) {
		/* The ring has room for every object of the pool, so this never fails. */
		mpdp_ring_enqueue_bulk_j(pool->ring, j, objs, n, NULL);
		return;
	}
	len = c->len;
	if (len + n > pool->flushthresh) {
		/* Journalled with objs == the cache: once it took effect the cache counts as empty. */
		mpdp_ring_enqueue_bulk_j(pool->ring, j, c->objs, len, NULL);
		len = 0;
		mpdp__pool_cache_len(c, 0);
	}
	if (j != NULL) {
		j->op = MPDP_JOURNAL_CACHE_PUT;
		j->target = (uint64_t)(uintptr_t)c;
		j->objs = (uint64_t)(uintptr_t)objs;
		j->base = len;
		j->n = n;
		__atomic_store_n(&j->state, MPDP_JOURNAL_ARMED, __ATOMIC_RELEASE);
	}
	/* A pointer, not len + i (which may wrap in 32 bits), lets the copy be vectorized. */
	dst = &c->objs[len];
	for (unsigned i = 0; i < n; i++)
		dst[i] = objs[i];
	MPDP_FAULT_POINT(MPDP_FAULT_MID_CACHE_PUT);
	mpdp__pool_cache_len(c, len + n); /* the put took effect */
}

#endif /* MPDP_POOL_PVT_H */

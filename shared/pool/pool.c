/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "mpdp_pool.h"
#include "mpdp_shm.h"

static uint64_t
align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

static unsigned
pow2_ceil(unsigned v)
{
	unsigned p = 1;

	while (p < v)
		p <<= 1;
	return p;
}

int
mpdp_pool_create(struct mpdp_shm *shm, const char *name, unsigned n, unsigned obj_size,
		 unsigned cache_size, int socket, mpdp_pool_obj_fn *init, void *arg,
		 struct mpdp_pool **out)
{
	uint64_t hdr_len, cache_stride, caches_len, ring_len, stride, len;
	struct mpdp_pool *pool;
	void *mem;
	int rc;

	if (name == NULL || strlen(name) >= MPDP_NAME_MAX || n == 0 || n > MPDP_RING_SIZE_MAX ||
	    obj_size == 0 || obj_size > (1u << 30) || cache_size > MPDP_POOL_CACHE_MAX)
		return -EINVAL;
	/* The free ring wants its own alignment (two cache lines); so does the zone. */
	hdr_len = align_up(sizeof(*pool), MPDP_CACHE_LINE);
	cache_stride = align_up(sizeof(struct mpdp_pool_cache) + 2ull * cache_size * sizeof(void *),
				MPDP_CACHE_LINE);
	caches_len = align_up(hdr_len + (cache_size ? cache_stride * MPDP_WORKER_MAX : 0),
			      _Alignof(struct mpdp_ring)) - hdr_len;
	ring_len = align_up(mpdp_ring_memsize(pow2_ceil(n)), MPDP_CACHE_LINE);
	stride = align_up(obj_size, MPDP_CACHE_LINE);
	len = hdr_len + caches_len + ring_len + stride * n;

	rc = mpdp_shm_memzone_reserve(shm, name, len, _Alignof(struct mpdp_ring), socket,
				      MPDP_MZ_KIND_POOL, &mem);
	if (rc != 0)
		return rc;
	pool = mem;
	snprintf(pool->name, sizeof(pool->name), "%s", name);
	pool->n = n;
	pool->obj_size = obj_size;
	pool->stride = (uint32_t)stride;
	pool->cache_size = cache_size;
	pool->flushthresh = cache_size + cache_size / 2;
	pool->cache_stride = (uint32_t)cache_stride;
	pool->n_caches = cache_size ? MPDP_WORKER_MAX : 0;
	pool->journals = mpdp_shm_header(shm)->journals;
	pool->caches = (char *)mem + hdr_len;
	pool->ring = (struct mpdp_ring *)(void *)((char *)mem + hdr_len + caches_len);
	pool->objs = (char *)pool->ring + ring_len;
	rc = mpdp_ring_init(pool->ring, name, pow2_ceil(n), MPDP_RING_F_RECOVER);
	if (rc != 0) {
		mpdp_shm_memzone_free(shm, name);
		return rc;
	}
	for (unsigned i = 0; i < n; i++) {
		void *obj = pool->objs + (size_t)i * stride;

		if (init != NULL)
			init(pool, obj, i, arg);
		mpdp_ring_enqueue_bulk(pool->ring, &obj, 1, NULL);
	}
	*out = pool;
	return 0;
}

int
mpdp_pool_lookup(struct mpdp_shm *shm, const char *name, struct mpdp_pool **out)
{
	struct mpdp_shm_memzone mz;
	int rc;

	if (name == NULL || strlen(name) >= MPDP_NAME_MAX)
		return -EINVAL;
	rc = mpdp_shm_memzone_lookup(shm, name, MPDP_MZ_KIND_POOL, &mz);
	if (rc != 0)
		return rc;
	*out = mz.addr;
	return 0;
}

int
mpdp_pool_delete(struct mpdp_shm *shm, struct mpdp_pool *pool)
{
	struct mpdp_shm_memzone mz;
	int rc = mpdp_shm_memzone_lookup(shm, pool->name, MPDP_MZ_KIND_POOL, &mz);

	if (rc != 0 || mz.addr != (void *)pool)
		return -ENOENT;
	return mpdp_shm_memzone_free(shm, pool->name);
}

unsigned
mpdp_pool_cached_count(const struct mpdp_pool *pool)
{
	unsigned sum = 0;

	for (unsigned w = 0; w < pool->n_caches; w++) {
		const struct mpdp_pool_cache *c = mpdp__pool_cache(pool, w);

		sum += __atomic_load_n(&c->len, __ATOMIC_RELAXED);
	}
	return sum;
}

unsigned
mpdp_pool_avail_count(const struct mpdp_pool *pool)
{
	unsigned avail = mpdp_ring_count(pool->ring) + mpdp_pool_cached_count(pool);

	return avail > pool->n ? pool->n : avail;
}

unsigned
mpdp_pool_in_use_count(const struct mpdp_pool *pool)
{
	return pool->n - mpdp_pool_avail_count(pool);
}

void
mpdp_pool_cache_flush(struct mpdp_pool *pool, unsigned wid)
{
	struct mpdp_pool_cache *c = mpdp__pool_cache(pool, wid);

	if (c == NULL || c->len == 0)
		return;
	mpdp_ring_enqueue_bulk(pool->ring, c->objs, c->len, NULL);
	mpdp__pool_cache_len(c, 0);
}

void
mpdp_pool_cache_recover(struct mpdp_pool *pool, unsigned wid)
{
	struct mpdp_pool_cache *c = mpdp__pool_cache(pool, wid);
	const struct mpdp_abi_journal *j = mpdp__pool_journal(pool, wid);

	if (c == NULL || j == NULL || !mpdp_ring_journal_committed(j))
		return;
	/* A flush that reached the ring emptied the cache; a refill that did filled it. */
	if (j->op == MPDP_JOURNAL_RING_ENQ && j->target == (uint64_t)(uintptr_t)&pool->ring->prod &&
	    j->objs == (uint64_t)(uintptr_t)c->objs)
		mpdp__pool_cache_len(c, 0);
	else if (j->op == MPDP_JOURNAL_RING_DEQ && j->target == (uint64_t)(uintptr_t)&pool->ring->cons &&
		 j->objs == (uint64_t)(uintptr_t)&c->objs[c->len])
		mpdp__pool_cache_len(c, c->len + j->n);
}

unsigned
mpdp_pool_obj_iter(struct mpdp_pool *pool, mpdp_pool_obj_fn *fn, void *arg)
{
	for (unsigned i = 0; i < pool->n; i++)
		fn(pool, pool->objs + (size_t)i * pool->stride, i, arg);
	return pool->n;
}

void
mpdp_pool_dump(FILE *f, const struct mpdp_pool *pool)
{
	uint64_t fail = __atomic_load_n(&pool->get_fail, __ATOMIC_RELAXED);

	for (unsigned w = 0; w < pool->n_caches; w++)
		fail += mpdp__pool_cache(pool, w)->get_fail;
	fprintf(f, "pool %s: %u objects of %u bytes (stride %u), cache %u, available %u "
		"(cached %u), in use %u, failed gets %" PRIu64 "\n",
		pool->name, pool->n, pool->obj_size, pool->stride, pool->cache_size,
		mpdp_pool_avail_count(pool), mpdp_pool_cached_count(pool),
		mpdp_pool_in_use_count(pool), fail);
}

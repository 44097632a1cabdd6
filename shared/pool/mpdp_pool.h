/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * Mempool: a fixed set of fixed-size objects in shared memory.
 *
 * Free objects sit in a multi-producer/multi-consumer ring. Each worker (a
 * polling thread with an id from mpdp_worker.h, in any process) has its own
 * cache inside the pool, so the common get and put touch no shared cache
 * line: a get refills an empty cache from the ring with the request plus
 * cache_size objects; a put that would pass the flush threshold (1.5 x
 * cache_size) first returns the whole cache to the ring. Callers without a
 * worker id pass MPDP_POOL_NO_CACHE and use the ring directly.
 *
 * The caches live in the pool's memzone, indexed by worker id, so the
 * primary can return a dead worker's cache to the ring (mpdp_pool_cache_flush).
 */
#ifndef MPDP_POOL_H
#define MPDP_POOL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "mpdp_abi.h"
#include "mpdp_ring.h"

struct mpdp_shm;

/** Worker id for callers with no cache. */
#define MPDP_POOL_NO_CACHE UINT32_MAX
/** Largest per-worker cache. */
#define MPDP_POOL_CACHE_MAX MPDP_CFG_POOL_CACHE_MAX

/** One worker's cache. Written only by that worker (or the primary once it is dead). */
struct mpdp_pool_cache {
	uint32_t len;             /* objects in objs[] */
	uint32_t pad_;
	uint64_t get_fail;        /* gets that found neither cache nor ring enough */
	uint8_t pad2_[MPDP_CACHE_LINE - 16];
	void *objs[];             /* 2 x cache_size slots */
};

/** A pool; every field but the caches is read-only after creation. */
struct mpdp_pool {
	char name[MPDP_NAME_MAX];
	uint32_t n;               /* objects */
	uint32_t obj_size;        /* requested object size */
	uint32_t stride;          /* bytes from one object to the next */
	uint32_t cache_size;      /* per-worker cache target; 0 disables caches */
	uint32_t flushthresh;     /* a put beyond this many cached objects flushes */
	uint32_t cache_stride;    /* bytes per worker cache */
	uint32_t n_caches;        /* MPDP_WORKER_MAX */
	uint32_t pad_;
	struct mpdp_abi_journal *journals; /* the instance's, by worker id: each cache's writer's */
	struct mpdp_ring *ring;   /* free objects (recoverable) */
	char *caches;             /* n_caches caches of cache_stride bytes */
	char *objs;               /* n objects of stride bytes */
	uint64_t get_fail;        /* uncached gets that failed (atomic) */
};

/** Called once per object at creation. */
typedef void mpdp_pool_obj_fn(struct mpdp_pool *pool, void *obj, unsigned idx, void *arg);

/**
 * Create a pool of @p n objects in a memzone named @p name.
 *
 * @param obj_size  bytes per object (> 0)
 * @param cache_size  per-worker cache, 0 to MPDP_POOL_CACHE_MAX
 * @param socket  NUMA node or -1
 * @param init  called for each object, or NULL
 * @param arg  passed to @p init
 * @return 0, -EINVAL, -EEXIST, -ENOMEM, -ENOSPC
 */
int mpdp_pool_create(struct mpdp_shm *shm, const char *name, unsigned n, unsigned obj_size,
		     unsigned cache_size, int socket, mpdp_pool_obj_fn *init, void *arg,
		     struct mpdp_pool **out);

/**
 * Find a pool by name.
 *
 * @return 0, -ENOENT, -EINVAL
 */
int mpdp_pool_lookup(struct mpdp_shm *shm, const char *name, struct mpdp_pool **out);

/**
 * Delete a pool; nobody may use it or its objects any more.
 *
 * @return 0, -ENOENT
 */
int mpdp_pool_delete(struct mpdp_shm *shm, struct mpdp_pool *pool);

/** @return free objects: in the ring plus in every cache (a snapshot). */
unsigned mpdp_pool_avail_count(const struct mpdp_pool *pool);

/** @return objects taken and not yet returned (a snapshot). */
unsigned mpdp_pool_in_use_count(const struct mpdp_pool *pool);

/** @return objects held in the caches (a snapshot). */
unsigned mpdp_pool_cached_count(const struct mpdp_pool *pool);

/**
 * After the death of worker @p wid's process (and before its ring sides
 * are released): make its cache hold exactly what its journal says it held
 * (an operation between the cache and the ring may have been cut short).
 */
void mpdp_pool_cache_recover(struct mpdp_pool *pool, unsigned wid);

/**
 * Return worker @p wid's cached objects to the ring. Only that worker, or
 * anyone once it is gone, may call this.
 */
void mpdp_pool_cache_flush(struct mpdp_pool *pool, unsigned wid);

/**
 * Call @p fn for every object, free or not, in address order.
 *
 * @return how many objects were visited
 */
unsigned mpdp_pool_obj_iter(struct mpdp_pool *pool, mpdp_pool_obj_fn *fn, void *arg);

/** Print the pool's counters. */
void mpdp_pool_dump(FILE *f, const struct mpdp_pool *pool);

#include "pool_pvt.h"

/**
 * Take @p n objects, all or none.
 *
 * @param wid  the caller's worker id, or MPDP_POOL_NO_CACHE
 * @return @p n, or 0 when the pool has fewer free
 */
static inline unsigned
mpdp_pool_get_bulk(struct mpdp_pool *pool, unsigned wid, void **objs, unsigned n)
{
	return mpdp__pool_get(pool, wid, objs, n);
}

/**
 * Return @p n objects taken from this pool. With a worker id, the move is
 * recorded in the worker's journal (see mpdp_ring_enqueue_burst_j()): a
 * caller that tracks what it holds updates its hand, then calls
 * mpdp_journal_done().
 *
 * @param wid  the caller's worker id, or MPDP_POOL_NO_CACHE
 */
static inline void
mpdp_pool_put_bulk(struct mpdp_pool *pool, unsigned wid, void *const *objs, unsigned n)
{
	mpdp__pool_put(pool, wid, objs, n);
}

/** @return whether @p obj is the start of one of this pool's objects. */
static inline int
mpdp_pool_owns(const struct mpdp_pool *pool, const void *obj)
{
	uintptr_t off = (uintptr_t)obj - (uintptr_t)pool->objs;

	return (uintptr_t)obj >= (uintptr_t)pool->objs &&
	       off < (uintptr_t)pool->n * pool->stride && off % pool->stride == 0;
}

#endif /* MPDP_POOL_H */

/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "mpdp_pool.h"
#include "mpdp_proc.h"
#include "mpdp_shm.h"
#include "mpdp_worker.h"

int
mpdp_corelist_parse(const char *s, cpu_set_t *set, struct mpdp_errbuf *eb)
{
	cpu_set_t allowed;
	const char *p = s;

	CPU_ZERO(set);
	if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0)
		CPU_ZERO(&allowed);
	if (s == NULL || *s == '\0')
		return mpdp_err_set(eb, -EINVAL, "empty core list");
	while (*p != '\0') {
		unsigned long lo, hi;
		char *end;

		if (*p < '0' || *p > '9')
			return mpdp_err_set(eb, -EINVAL, "core list '%s': expected a core number at '%s'", s, p);
		lo = strtoul(p, &end, 10);
		hi = lo;
		if (*end == '-') {
			p = end + 1;
			if (*p < '0' || *p > '9')
				return mpdp_err_set(eb, -EINVAL, "core list '%s': expected a core number after '-'", s);
			hi = strtoul(p, &end, 10);
		}
		if (hi < lo)
			return mpdp_err_set(eb, -EINVAL, "core list '%s': range %lu-%lu runs backwards", s, lo, hi);
		if (hi >= CPU_SETSIZE)
			return mpdp_err_set(eb, -EINVAL, "core list '%s': core %lu is beyond %d", s, hi, CPU_SETSIZE - 1);
		for (unsigned long c = lo; c <= hi; c++) {
			if (!CPU_ISSET(c, &allowed))
				return mpdp_err_set(eb, -EINVAL, "core list '%s': core %lu is not available "
						    "to this process (see nproc, taskset)", s, c);
			CPU_SET(c, set);
		}
		if (*end == ',' && end[1] == '\0')
			return mpdp_err_set(eb, -EINVAL, "core list '%s': nothing after the last ','", s);
		if (*end == ',')
			end++;
		else if (*end != '\0')
			return mpdp_err_set(eb, -EINVAL, "core list '%s': unexpected '%c'", s, *end);
		p = end;
	}
	return 0;
}

int
mpdp_corelist_nth(const cpu_set_t *set, unsigned i)
{
	for (int c = 0; c < CPU_SETSIZE; c++) {
		if (CPU_ISSET(c, set) && i-- == 0)
			return c;
	}
	return -1;
}

int
mpdp_worker_pin(int cpu)
{
	cpu_set_t set;

	if (cpu < 0 || cpu >= CPU_SETSIZE)
		return -EINVAL;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return -pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

static _Atomic uint32_t *
slot_state(struct mpdp_abi_worker *w)
{
	return (_Atomic uint32_t *)&w->state;
}

static int
flush_pool_cache(const struct mpdp_shm_memzone *mz, void *arg)
{
	mpdp_pool_cache_flush(mz->addr, *(const unsigned *)arg);
	return 0;
}

static void slot_free(struct mpdp_shm *shm, unsigned wid);

static int
try_claim(struct mpdp_shm *shm, const char *name, int cpu, unsigned *wid)
{
	struct mpdp_abi_header *h = mpdp_shm_header(shm);
	uint64_t start = 0;

	mpdp_proc_start_time(getpid(), &start);
	for (unsigned i = 0; i < MPDP_WORKER_MAX; i++) {
		struct mpdp_abi_worker *w = &h->workers[i];
		uint32_t expect = MPDP_WORKER_FREE;

		if (!atomic_compare_exchange_strong_explicit(slot_state(w), &expect, MPDP_WORKER_CLAIMED,
							     memory_order_acquire, memory_order_relaxed))
			continue;
		w->pid = getpid();
		w->start_time = start;
		w->tid = (int32_t)syscall(SYS_gettid);
		w->cpu = cpu;
		snprintf(w->name, sizeof(w->name), "%s", name ? name : "");
		memset(&h->journals[i], 0, sizeof(h->journals[i]));
		h->journals[i].owner = i + 1;
		atomic_store_explicit(slot_state(w), MPDP_WORKER_ACTIVE, memory_order_release);
		*wid = i;
		return 0;
	}
	return -ENOSPC;
}

int
mpdp_worker_register(struct mpdp_shm *shm, const char *name, int cpu, unsigned *wid)
{
	int rc;

	if (cpu >= CPU_SETSIZE)
		return -EINVAL;
	/* Claim first, pin second: a failure leaves the thread as it was. */
	rc = try_claim(shm, name, cpu, wid);
	if (rc == -ENOSPC && mpdp_worker_reclaim_dead(shm) > 0)
		rc = try_claim(shm, name, cpu, wid);
	if (rc != 0 || cpu < 0)
		return rc;
	rc = mpdp_worker_pin(cpu);
	if (rc != 0)
		slot_free(shm, *wid);
	return rc;
}

static void
slot_free(struct mpdp_shm *shm, unsigned wid)
{
	struct mpdp_abi_worker *w = &mpdp_shm_header(shm)->workers[wid];

	mpdp_shm_memzone_walk(shm, MPDP_MZ_KIND_POOL, flush_pool_cache, &wid);
	w->pid = 0;
	w->tid = 0;
	w->cpu = -1;
	w->start_time = 0;
	memset(w->name, 0, sizeof(w->name));
	atomic_store_explicit(slot_state(w), MPDP_WORKER_FREE, memory_order_release);
}

int
mpdp_worker_release(struct mpdp_shm *shm, unsigned wid)
{
	struct mpdp_abi_worker *w;

	if (wid >= MPDP_WORKER_MAX)
		return -EINVAL;
	w = &mpdp_shm_header(shm)->workers[wid];
	if (atomic_load_explicit(slot_state(w), memory_order_acquire) != MPDP_WORKER_ACTIVE ||
	    w->pid != getpid())
		return -EINVAL;
	slot_free(shm, wid);
	return 0;
}

struct mpdp_abi_journal *
mpdp_worker_journal(struct mpdp_shm *shm, unsigned wid)
{
	return wid < MPDP_WORKER_MAX ? &mpdp_shm_header(shm)->journals[wid] : NULL;
}

/* What a dead worker held: hand[0..n), from its journal. */
struct held {
	void **objs;
	unsigned n;
};

/*
 * The journal's armed operation moved objects off the front of the hand
 * (a put or an enqueue from it) or onto its end (a dequeue into it) only if
 * it took effect and the worker had not yet moved its hand past it.
 */
static int
in_region(const struct mpdp_abi_header *hdr, uint64_t addr, uint64_t len)
{
	return addr >= hdr->base && len <= hdr->size && addr - hdr->base <= hdr->size - len;
}

static int
held_of(const struct mpdp_abi_header *hdr, const struct mpdp_abi_journal *j, struct held *h)
{
	uint64_t hand = __atomic_load_n(&j->hand, __ATOMIC_ACQUIRE);
	int committed = 0;

	h->objs = (void **)(uintptr_t)MPDP_JOURNAL_HAND_ADDR(hand);
	h->n = MPDP_JOURNAL_HAND_N(hand);
	/* A journal is trusted only as far as it points into the region. */
	if (!in_region(hdr, (uintptr_t)h->objs, (uint64_t)(h->n + MPDP_STAGE_HAND_MAX) * sizeof(void *))) {
		h->objs = NULL;
		h->n = 0;
	}
	if (__atomic_load_n(&j->state, __ATOMIC_ACQUIRE) != MPDP_JOURNAL_ARMED ||
	    !in_region(hdr, j->target, 64) || j->n > MPDP_RING_SIZE_MAX)
		return 0;
	if (j->op == MPDP_JOURNAL_CACHE_PUT) {
		const struct mpdp_pool_cache *c = (const void *)(uintptr_t)j->target;

		committed = __atomic_load_n(&c->len, __ATOMIC_ACQUIRE) == j->base + j->n;
	} else {
		committed = mpdp_ring_journal_committed(j);
	}
	if (!committed || h->objs == NULL)
		return committed;
	if (j->op == MPDP_JOURNAL_RING_DEQ) {
		if (j->objs == (uint64_t)(uintptr_t)(h->objs + h->n))
			h->n += j->n;
	} else if (j->objs == (uint64_t)(uintptr_t)h->objs && j->n <= h->n) {
		h->objs += j->n;
		h->n -= j->n;
	}
	return committed;
}

struct reclaim_walk {
	unsigned wid;
	struct held held;
	struct mpdp_worker_reclaim r;
};

static int
recover_cache(const struct mpdp_shm_memzone *mz, void *arg)
{
	mpdp_pool_cache_recover(mz->addr, ((struct reclaim_walk *)arg)->wid);
	return 0;
}

static int
release_ring(const struct mpdp_shm_memzone *mz, void *arg)
{
	struct reclaim_walk *rw = arg;

	rw->r.sides += mpdp_ring_release_owner(mz->addr, rw->wid + 1);
	return 0;
}

static int
release_pool_ring(const struct mpdp_shm_memzone *mz, void *arg)
{
	struct reclaim_walk *rw = arg;
	struct mpdp_pool *pool = mz->addr;

	rw->r.sides += mpdp_ring_release_owner(pool->ring, rw->wid + 1);
	return 0;
}

/* Return held objects of this pool (no cache: the reclaimer's own caches stay out of it). */
static int
return_held(const struct mpdp_shm_memzone *mz, void *arg)
{
	struct reclaim_walk *rw = arg;
	struct mpdp_pool *pool = mz->addr;

	for (unsigned i = 0; i < rw->held.n; i++) {
		void *obj = rw->held.objs[i];

		if (obj != NULL && mpdp_pool_owns(pool, obj)) {
			mpdp_pool_put_bulk(pool, MPDP_POOL_NO_CACHE, &obj, 1);
			rw->r.held++;
		}
	}
	return 0;
}

static int
flush_cache(const struct mpdp_shm_memzone *mz, void *arg)
{
	struct reclaim_walk *rw = arg;
	struct mpdp_pool *pool = mz->addr;

	rw->r.cached += pool->cache_size ? mpdp__pool_cache(pool, rw->wid)->len : 0;
	mpdp_pool_cache_flush(pool, rw->wid);
	return 0;
}

/*
 * A slot is reclaimed by whoever moves it from ACTIVE (or CLAIMED, once its
 * claimer wrote its pid) to RECLAIMING: two reclaimers never free one slot,
 * and nobody can claim it in between. The order matters: what the journal
 * says is read while the dead worker still owns its ring sides (their tails
 * cannot move), then the sides are freed, then objects are returned.
 */
int
mpdp_worker_reclaim(struct mpdp_shm *shm, unsigned wid, struct mpdp_worker_reclaim *out)
{
	struct mpdp_abi_header *h = mpdp_shm_header(shm);
	struct reclaim_walk rw = { .wid = wid };
	struct mpdp_abi_worker *w;
	uint32_t state;

	if (wid >= MPDP_WORKER_MAX)
		return -EINVAL;
	w = &h->workers[wid];
	state = atomic_load_explicit(slot_state(w), memory_order_acquire);
	if ((state != MPDP_WORKER_ACTIVE && state != MPDP_WORKER_CLAIMED) || w->pid == 0 ||
	    mpdp_proc_alive(w->pid, w->start_time))
		return -ESRCH;
	if (!atomic_compare_exchange_strong_explicit(slot_state(w), &state, MPDP_WORKER_RECLAIMING,
						     memory_order_acquire, memory_order_relaxed))
		return -EBUSY;
	rw.r.committed = held_of(h, &h->journals[wid], &rw.held);
	mpdp_shm_memzone_walk(shm, MPDP_MZ_KIND_POOL, recover_cache, &rw);
	mpdp_shm_memzone_walk(shm, MPDP_MZ_KIND_RING, release_ring, &rw);
	mpdp_shm_memzone_walk(shm, MPDP_MZ_KIND_POOL, release_pool_ring, &rw);
	mpdp_shm_memzone_walk(shm, MPDP_MZ_KIND_POOL, return_held, &rw);
	mpdp_shm_memzone_walk(shm, MPDP_MZ_KIND_POOL, flush_cache, &rw);
	memset(&h->journals[wid], 0, sizeof(h->journals[wid]));
	slot_free(shm, wid);
	if (out != NULL)
		*out = rw.r;
	return 0;
}

unsigned
mpdp_worker_reclaim_dead(struct mpdp_shm *shm)
{
	unsigned freed = 0;

	for (unsigned i = 0; i < MPDP_WORKER_MAX; i++)
		freed += mpdp_worker_reclaim(shm, i, NULL) == 0;
	return freed;
}

unsigned
mpdp_worker_count(struct mpdp_shm *shm)
{
	struct mpdp_abi_header *h = mpdp_shm_header(shm);
	unsigned n = 0;

	for (unsigned i = 0; i < MPDP_WORKER_MAX; i++)
		n += atomic_load_explicit(slot_state(&h->workers[i]), memory_order_relaxed) ==
		     MPDP_WORKER_ACTIVE;
	return n;
}

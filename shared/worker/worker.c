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

/*
 * A slot is reclaimed by whoever moves it from ACTIVE (or CLAIMED, once its
 * claimer wrote its pid) to RECLAIMING: two reclaimers never free one slot,
 * and nobody can claim it in between.
 */
unsigned
mpdp_worker_reclaim_dead(struct mpdp_shm *shm)
{
	struct mpdp_abi_header *h = mpdp_shm_header(shm);
	unsigned freed = 0;

	for (unsigned i = 0; i < MPDP_WORKER_MAX; i++) {
		struct mpdp_abi_worker *w = &h->workers[i];
		uint32_t state = atomic_load_explicit(slot_state(w), memory_order_acquire);

		if ((state != MPDP_WORKER_ACTIVE && state != MPDP_WORKER_CLAIMED) || w->pid == 0 ||
		    mpdp_proc_alive(w->pid, w->start_time))
			continue;
		if (!atomic_compare_exchange_strong_explicit(slot_state(w), &state, MPDP_WORKER_RECLAIMING,
							     memory_order_acquire, memory_order_relaxed))
			continue;
		slot_free(shm, i);
		freed++;
	}
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

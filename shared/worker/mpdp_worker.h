/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * Workers: every polling thread, in any process, takes a slot in the
 * instance's shared worker table. The slot index is its worker id, unique
 * across processes; it indexes mempool caches and per-worker counters.
 * Workers are pinned to cores given as a DPDK-style core list ("0-3,6").
 */
#ifndef MPDP_WORKER_H
#define MPDP_WORKER_H

#include <sched.h>

#include "mpdp_abi.h"
#include "mpdp_err.h"

struct mpdp_shm;

/**
 * Parse a core list such as "0-3,6" into @p set. Every core must be one this
 * process may run on.
 *
 * @return 0, or -EINVAL with what was wrong in @p eb
 */
int mpdp_corelist_parse(const char *s, cpu_set_t *set, struct mpdp_errbuf *eb);

/** @return the @p i-th core (0-based) of @p set, or -1. */
int mpdp_corelist_nth(const cpu_set_t *set, unsigned i);

/**
 * Pin the calling thread to one core.
 *
 * @return 0, -EINVAL
 */
int mpdp_worker_pin(int cpu);

/**
 * Claim a worker id for the calling thread, and pin it when @p cpu >= 0.
 * Slots of dead processes are reclaimed when the table is full.
 *
 * @param name  what the worker is, e.g. "fw1/0" (truncated to fit)
 * @param cpu  core to pin to, or -1
 * @param wid  the id
 * @return 0, -ENOSPC (every slot is held by a live process), -EINVAL
 */
int mpdp_worker_register(struct mpdp_shm *shm, const char *name, int cpu, unsigned *wid);

/**
 * Give a worker id back: its mempool caches are flushed first.
 *
 * @return 0, -EINVAL (not an active id)
 */
int mpdp_worker_release(struct mpdp_shm *shm, unsigned wid);

/** Worker @p wid's journal (what it holds and the buffer operation it is in). */
struct mpdp_abi_journal *mpdp_worker_journal(struct mpdp_shm *shm, unsigned wid);

/** What reclaiming a dead worker did. */
struct mpdp_worker_reclaim {
	unsigned held;             /**< objects it held, returned to their pools */
	unsigned cached;           /**< objects in its caches, returned */
	unsigned sides;            /**< ring sides it had taken, freed */
	int committed;             /**< its last operation had taken effect */
};

/**
 * Reclaim worker @p wid if its process is gone: decide from its journal
 * what it held (its last buffer operation may have been cut short at any
 * instruction), free the ring sides it had taken, return what it held and
 * what its caches held to their pools, each object exactly once, and free
 * the slot (doc/faults.md).
 *
 * @param out  what was done, or NULL
 * @return 0, -ESRCH (its process is alive, or the slot is not active),
 *         -EBUSY (another process is reclaiming it), -EINVAL
 */
int mpdp_worker_reclaim(struct mpdp_shm *shm, unsigned wid, struct mpdp_worker_reclaim *out);

/**
 * Reclaim every worker whose process is gone (mpdp_worker_reclaim()).
 *
 * @return how many slots were freed
 */
unsigned mpdp_worker_reclaim_dead(struct mpdp_shm *shm);

/** @return active workers. */
unsigned mpdp_worker_count(struct mpdp_shm *shm);

#endif /* MPDP_WORKER_H */

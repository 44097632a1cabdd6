/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * Lock-free ring of pointers.
 *
 * Fixed power-of-two size; every slot is usable (capacity == size).
 * Single or multi producer and single or multi consumer are chosen at
 * creation, not per call. Bulk calls move all @p n objects or none; burst
 * calls move as many as fit. Rings live in shared memory: create one in a
 * memzone with mpdp_ring_create() and find it from any attached process with
 * mpdp_ring_lookup(), or place one anywhere with mpdp_ring_memsize() and
 * mpdp_ring_init().
 *
 * The enqueue and dequeue calls are inline and never fail: they return how
 * many objects moved.
 */
#ifndef MPDP_RING_H
#define MPDP_RING_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "mpdp_abi.h"
#include "mpdp_fault.h"

struct mpdp_shm;

/** Creation flags. */
enum mpdp_ring_flags {
	MPDP_RING_F_SP_ENQ = 1u << 0, /**< one producer at a time */
	MPDP_RING_F_SC_DEQ = 1u << 1, /**< one consumer at a time */
	/**
	 * Recoverable: a multi-producer (multi-consumer) side is taken by one
	 * caller at a time under an owner word naming its worker, and each
	 * operation is written in the caller's journal, so that the primary can
	 * tell whether an operation whose process died in the middle of it took
	 * effect, and free the side (doc/faults.md). A single side is unchanged.
	 */
	MPDP_RING_F_RECOVER = 1u << 2,
	/**
	 * Never biased: a multi side always claims with a compare-and-swap.
	 * By default a multi side is biased to the first thread that uses it,
	 * which then runs it as a single side until another thread comes
	 * (see "Biased sides" in ring_pvt.h and doc/architecture.md). Give this flag
	 * when several threads use the side from the start, or when a thread
	 * that shares no PID namespace with the others (a VM's) uses it.
	 */
	MPDP_RING_F_UNBIASED = 1u << 3,
	MPDP_RING_F_ALL_ = MPDP_RING_F_SP_ENQ | MPDP_RING_F_SC_DEQ | MPDP_RING_F_RECOVER |
			   MPDP_RING_F_UNBIASED,
};

/** Owner word of a recoverable side taken by a caller with no journal. */
#define MPDP_RING_OWNER_ANON UINT32_MAX

/** Largest ring: 2^28 slots. */
#define MPDP_RING_SIZE_MAX (1u << 28)

/** A head/tail pair; see ring_pvt.h for who writes which. */
struct mpdp_ring_headtail {
	_Atomic uint32_t head;
	_Atomic uint32_t tail;
	_Atomic uint32_t other_tail; /* this side's last view of the other side's tail */
	_Atomic uint32_t owner;      /* recoverable side: worker id + 1 of the caller in it, 0 when free */
	_Atomic uint32_t bias;       /* multi side: the tid it is biased to, or MPDP_RING_BIAS_* */
	_Atomic uint32_t busy;       /* 1 while the biased thread is in an operation */
};

/** Bias words of a side: none yet, being revoked, shared (claimed by compare-and-swap). */
#define MPDP_RING_BIAS_NONE 0xfffffffdu
#define MPDP_RING_BIAS_REVOKING 0xfffffffeu
#define MPDP_RING_BIAS_SHARED 0xffffffffu

/* This thread's id for biased sides; 0 until its first slow path (and in a fork child). */
extern __thread uint32_t mpdp__ring_self __attribute__((tls_model("initial-exec")));

/* The slow path of mpdp__ring_bias_enter(): take a free bias, or revoke another thread's. */
int mpdp__ring_bias_slow(struct mpdp_ring_headtail *side);

/**
 * A ring. The producer and consumer pairs sit two cache lines apart, so
 * neither side's writes (nor the adjacent-line prefetcher) disturb the other.
 */
struct mpdp_ring {
	char name[MPDP_NAME_MAX];  /* (ro) */
	uint32_t flags;            /* (ro) enum mpdp_ring_flags */
	uint32_t size;             /* (ro) slots, a power of two */
	uint32_t mask;             /* (ro) size - 1 */
	uint32_t capacity;         /* (ro) == size */
	_Atomic uint32_t capture;  /* capture id + 1 copying what is dequeued, 0 when none */
	struct mpdp_ring_headtail prod __attribute__((aligned(2 * MPDP_CACHE_LINE)));
	struct mpdp_ring_headtail cons __attribute__((aligned(2 * MPDP_CACHE_LINE)));
	void *slots[] __attribute__((aligned(2 * MPDP_CACHE_LINE)));
};

_Static_assert(offsetof(struct mpdp_ring, cons) - offsetof(struct mpdp_ring, prod)
	       >= 2 * MPDP_CACHE_LINE, "producer and consumer lines apart");

#include "ring_pvt.h"

/**
 * Bytes needed for a ring of @p count slots.
 *
 * @return the size, or 0 when @p count is not a power of two in [1, MPDP_RING_SIZE_MAX]
 */
size_t mpdp_ring_memsize(unsigned count);

/**
 * Initialise a ring in caller-provided memory of mpdp_ring_memsize() bytes.
 *
 * @param r  memory, aligned to _Alignof(struct mpdp_ring) (two cache lines)
 * @param name  up to MPDP_NAME_MAX - 1 characters
 * @param count  slots, a power of two
 * @param flags  enum mpdp_ring_flags
 * @return 0, -EINVAL (bad count, flags, name or alignment)
 */
int mpdp_ring_init(struct mpdp_ring *r, const char *name, unsigned count, unsigned flags);

/**
 * Create a ring in a new memzone of the same name.
 *
 * @param shm  the attached instance
 * @param name  ring and memzone name
 * @param count  slots, a power of two
 * @param flags  enum mpdp_ring_flags
 * @param socket  NUMA node, or -1 for any
 * @param out  the ring
 * @return 0, -EINVAL, -EEXIST (name taken), -ENOMEM (region full), -ENOSPC (memzone table full)
 */
int mpdp_ring_create(struct mpdp_shm *shm, const char *name, unsigned count, unsigned flags,
		     int socket, struct mpdp_ring **out);

/**
 * Find a ring created by any process of the instance.
 *
 * @return 0, -ENOENT (no ring of that name), -EINVAL (bad name)
 */
int mpdp_ring_lookup(struct mpdp_shm *shm, const char *name, struct mpdp_ring **out);

/**
 * Delete a ring made by mpdp_ring_create(); nobody may use it any more.
 *
 * @return 0, -ENOENT
 */
int mpdp_ring_delete(struct mpdp_shm *shm, struct mpdp_ring *r);

/**
 * Which thread a multi side is biased to (see MPDP_RING_F_UNBIASED).
 *
 * @param consumers  0 for the producer side, 1 for the consumer side
 * @return its tid, or 0 when the side is single, shared or not used yet
 */
uint32_t mpdp_ring_bias(const struct mpdp_ring *r, int consumers);

/** Print the ring's state. */
void mpdp_ring_dump(FILE *f, const struct mpdp_ring *r);

/**
 * Enqueue all @p n objects or none.
 *
 * @param free_space  if not NULL, set to the free slots left afterwards (at
 *                    least that many: producers count from their last view
 *                    of the consumers)
 * @return @p n or 0
 */
MPDP__RING_ALWAYS_INLINE unsigned
mpdp_ring_enqueue_bulk(struct mpdp_ring *r, void *const *objs, unsigned n, unsigned *free_space)
{
	return mpdp__ring_enqueue_j(r, NULL, objs, n, 1, free_space);
}

/**
 * Enqueue as many of @p n objects as fit, in order.
 *
 * @return how many were enqueued
 */
MPDP__RING_ALWAYS_INLINE unsigned
mpdp_ring_enqueue_burst(struct mpdp_ring *r, void *const *objs, unsigned n, unsigned *free_space)
{
	return mpdp__ring_enqueue_j(r, NULL, objs, n, 0, free_space);
}

/**
 * Dequeue exactly @p n objects or none.
 *
 * @param available  if not NULL, set to the objects left afterwards (at
 *                   least that many, as for free_space)
 * @return @p n or 0
 */
MPDP__RING_ALWAYS_INLINE unsigned
mpdp_ring_dequeue_bulk(struct mpdp_ring *r, void **objs, unsigned n, unsigned *available)
{
	return mpdp__ring_dequeue_j(r, NULL, objs, n, 1, available);
}

/**
 * Dequeue up to @p n objects.
 *
 * @return how many were dequeued
 */
MPDP__RING_ALWAYS_INLINE unsigned
mpdp_ring_dequeue_burst(struct mpdp_ring *r, void **objs, unsigned n, unsigned *available)
{
	return mpdp__ring_dequeue_j(r, NULL, objs, n, 0, available);
}

/**
 * The same four calls for a worker with a journal (see mpdp_worker_journal()):
 * on a recoverable side the operation is recorded in @p j, which stays
 * armed until the caller has moved what it holds (mpdp_journal_hand()) and
 * called mpdp_journal_done(). @p j may be NULL (an anonymous caller, whose
 * death in the middle of an operation cannot be repaired).
 */
MPDP__RING_ALWAYS_INLINE unsigned
mpdp_ring_enqueue_bulk_j(struct mpdp_ring *r, struct mpdp_abi_journal *j, void *const *objs,
			 unsigned n, unsigned *free_space)
{
	return mpdp__ring_enqueue_j(r, j, objs, n, 1, free_space);
}

MPDP__RING_ALWAYS_INLINE unsigned
mpdp_ring_enqueue_burst_j(struct mpdp_ring *r, struct mpdp_abi_journal *j, void *const *objs,
			  unsigned n, unsigned *free_space)
{
	return mpdp__ring_enqueue_j(r, j, objs, n, 0, free_space);
}

MPDP__RING_ALWAYS_INLINE unsigned
mpdp_ring_dequeue_bulk_j(struct mpdp_ring *r, struct mpdp_abi_journal *j, void **objs, unsigned n,
			 unsigned *available)
{
	return mpdp__ring_dequeue_j(r, j, objs, n, 1, available);
}

MPDP__RING_ALWAYS_INLINE unsigned
mpdp_ring_dequeue_burst_j(struct mpdp_ring *r, struct mpdp_abi_journal *j, void **objs, unsigned n,
			  unsigned *available)
{
	return mpdp__ring_dequeue_j(r, j, objs, n, 0, available);
}

/** Record what the caller holds now: @p n objects from @p objs (in shared memory). */
static inline void
mpdp_journal_hand(struct mpdp_abi_journal *j, void *const *objs, unsigned n)
{
	if (j != NULL)
		__atomic_store_n(&j->hand, MPDP_JOURNAL_HAND(objs, n), __ATOMIC_RELEASE);
}

/** The operation recorded in @p j is over, and what it moved is accounted for. */
static inline void
mpdp_journal_done(struct mpdp_abi_journal *j)
{
	if (j != NULL)
		__atomic_store_n(&j->state, MPDP_JOURNAL_IDLE, __ATOMIC_RELEASE);
}

/**
 * After the death of the process of journal @p j, with every ring side it
 * owned still owned: whether its armed operation took effect.
 *
 * @return 1 (it did), 0 (it did not, or nothing is armed)
 */
int mpdp_ring_journal_committed(const struct mpdp_abi_journal *j);

/**
 * Free a recoverable side left owned by the dead worker of @p owner (worker
 * id + 1). The operation in its journal is abandoned: call
 * mpdp_ring_journal_committed() first.
 *
 * @return how many sides (0, 1 or 2) were freed
 */
unsigned mpdp_ring_release_owner(struct mpdp_ring *r, uint32_t owner);

/** @return objects in the ring (a snapshot). */
static inline unsigned
mpdp_ring_count(const struct mpdp_ring *r)
{
	/* Consumer first: the producer tail read after it can only be ahead. */
	uint32_t cons = atomic_load_explicit(&r->cons.tail, memory_order_acquire);
	uint32_t prod = atomic_load_explicit(&r->prod.tail, memory_order_acquire);
	uint32_t n = prod - cons;

	return n > r->capacity ? r->capacity : n;
}

/** @return free slots (a snapshot). */
static inline unsigned
mpdp_ring_free_count(const struct mpdp_ring *r)
{
	return r->capacity - mpdp_ring_count(r);
}

#endif /* MPDP_RING_H */

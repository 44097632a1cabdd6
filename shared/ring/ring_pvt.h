/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Ring fast path. Only mpdp_ring.h includes this file.
 *
 * Ownership: producers own prod.head (claimed by store when single, by CAS
 * when multi) and, once their copy is done, publish prod.tail in claim
 * order. Consumers own cons.head and cons.tail the same way. A slot between
 * cons.tail and prod.tail holds a published object; between prod.tail and
 * prod.head it is being written; between cons.head and cons.tail it is being
 * read. Indices are free-running 32-bit counters: differences are taken
 * modulo 2^32, so wrap-around needs no special case.
 *
 * Barriers:
 *   R1 producer's release store of prod.tail  pairs with  A2 consumer's acquire load of prod.tail
 *   R2 consumer's release store of cons.tail  pairs with  A1 producer's acquire load of cons.tail
 *   A3 acquire load of own head before the other side's tail, so a stale
 *      tail is never combined with a newer head (free/used would overflow).
 *   A4 acquire wait for the previous claimer's tail, so its slot writes or
 *      reads are ordered before our release of the same tail.
 *
 *   R5 release store of a side's cached view of the other tail  pairs with
 *   A5 acquire load of it by the next claimer of the same side, so what the
 *      view's reader (A1/A2) saw is passed on with it.
 *
 * Each side keeps the other side's tail as last read in its own line
 * (other_tail) and reads the other side's line again only when that view is
 * short of what it needs. The real tail only grows, so an old view is a
 * safe under-estimate; a view so old that it falls outside the window
 * (possible when several claimers race to store it, or for a claimer whose
 * head is stale) is detected by the range check and read again. Across two
 * cores each side thus stops pulling the other's cache line on every call.
 *
 * Biased sides. A multi side's compare-and-swap is a locked instruction,
 * and across cores it waits for the caller's previous stores (the last
 * tail, slots the other side has read) to reach the other core: most of the
 * difference between a multi and a single side. Most multi sides are used
 * by one thread at a time, so a side is biased to the first thread that
 * claims it (bias = its tid, by one compare-and-swap), and that thread runs
 * it as a single side, without a locked instruction:
 *
 *   B1 busy = 1; compiler barrier; bias == self?  (else busy = 0, shared path)
 *   B2 ... the operation, as a single side ...
 *   B3 busy = 0 (release)
 *
 * Another thread revokes the bias once and for all: bias = REVOKING (by
 * compare-and-swap, so one revoker), membarrier(MEMBARRIER_CMD_GLOBAL), wait
 * for busy == 0 (acquire, pairs with B3), bias = SHARED (release). The
 * membarrier() is the other half of B1's Dekker pair: it runs a full barrier
 * on every CPU, so either the owner's busy = 1 is seen by the revoker's wait,
 * or the owner's check sees REVOKING. The owner thus pays no barrier, and
 * the revoker pays one system call for the life of the ring. A side stays
 * shared from then on. Threads are told apart by tid (unique among the live
 * threads of a PID namespace); a fork child starts with no id.
 */
#ifndef MPDP_RING_PVT_H
#define MPDP_RING_PVT_H

#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>

/* The classic fast path is inlined at every call site: a call costs more than a short burst. */
#define MPDP__RING_ALWAYS_INLINE static inline __attribute__((always_inline))

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define mpdp__ring_pause() _mm_pause()
#elif defined(__aarch64__)
#define mpdp__ring_pause() __asm__ volatile("yield" ::: "memory")
#else
#define mpdp__ring_pause() ((void)0)
#endif

/*
 * How much room (producer: @base = capacity) or how many objects (consumer:
 * @base = 0) a side may use, from its cached view of the other side's tail,
 * reading the real tail only when the view is short of @need or outside
 * [0, capacity].
 */
MPDP__RING_ALWAYS_INLINE uint32_t
mpdp__ring_room(const struct mpdp_ring *r, struct mpdp_ring_headtail *own,
		const struct mpdp_ring_headtail *other, uint32_t head, uint32_t base, uint32_t need)
{
	uint32_t view = atomic_load_explicit(&own->other_tail, memory_order_acquire); /* A5 */

	if (base + view - head < need || base + view - head > r->capacity) {
		uint32_t fresh = atomic_load_explicit(&other->tail, memory_order_acquire); /* A1 or A2 */

		/* A side spinning on a full or empty ring must not keep dirtying its line. */
		if (fresh != view)
			atomic_store_explicit(&own->other_tail, fresh, memory_order_release); /* R5 */
		view = fresh;
	}
	return base + view - head;
}

/* Claim up to @n slots for writing; returns how many (0 or n when @fixed). */
MPDP__RING_ALWAYS_INLINE unsigned
mpdp__ring_prod_claim(struct mpdp_ring *r, unsigned n, int fixed, int single,
		      uint32_t *old_head, unsigned *free_space)
{
	const uint32_t need = n < r->capacity ? n : r->capacity;
	uint32_t head, free_n;
	unsigned want;

	head = atomic_load_explicit(&r->prod.head, memory_order_acquire); /* A3 */
	for (;;) {
		free_n = mpdp__ring_room(r, &r->prod, &r->cons, head, r->capacity, need);
		want = n <= free_n ? n : fixed ? 0 : free_n;
		if (want == 0)
			break;
		if (single) {
			atomic_store_explicit(&r->prod.head, head + want, memory_order_relaxed);
			break;
		}
		if (atomic_compare_exchange_weak_explicit(&r->prod.head, &head, head + want,
							  memory_order_acquire,
							  memory_order_acquire)) /* A3 on retry */
			break;
	}
	*old_head = head;
	if (free_space != NULL)
		*free_space = free_n - want;
	return want;
}

/* Claim up to @n published slots for reading. */
MPDP__RING_ALWAYS_INLINE unsigned
mpdp__ring_cons_claim(struct mpdp_ring *r, unsigned n, int fixed, int single,
		      uint32_t *old_head, unsigned *available)
{
	const uint32_t need = n < r->capacity ? n : r->capacity;
	uint32_t head, used;
	unsigned want;

	head = atomic_load_explicit(&r->cons.head, memory_order_acquire); /* A3 */
	for (;;) {
		used = mpdp__ring_room(r, &r->cons, &r->prod, head, 0, need);
		want = n <= used ? n : fixed ? 0 : used;
		if (want == 0)
			break;
		if (single) {
			atomic_store_explicit(&r->cons.head, head + want, memory_order_relaxed);
			break;
		}
		if (atomic_compare_exchange_weak_explicit(&r->cons.head, &head, head + want,
							  memory_order_acquire,
							  memory_order_acquire)) /* A3 on retry */
			break;
	}
	*old_head = head;
	if (available != NULL)
		*available = used - want;
	return want;
}

/*
 * Pauses before a publisher waiting for an earlier claimer yields its core:
 * that claimer may have been preempted on this very core (processes sharing
 * cores), and spinning would only wait out its time slice.
 */
#define MPDP__RING_SPINS_BEFORE_YIELD 1024

/* Publish [old, old + n) once every earlier claimer has published (A4, R1/R2). */
MPDP__RING_ALWAYS_INLINE void
mpdp__ring_publish(_Atomic uint32_t *tail, uint32_t old, unsigned n, int single)
{
	if (!single) {
		unsigned spins = 0;

		while (atomic_load_explicit(tail, memory_order_acquire) != old) { /* A4 */
			if (++spins % MPDP__RING_SPINS_BEFORE_YIELD == 0)
				sched_yield();
			else
				mpdp__ring_pause();
		}
	}
	atomic_store_explicit(tail, old + n, memory_order_release); /* R1 or R2 */
}

MPDP__RING_ALWAYS_INLINE void
mpdp__ring_copy_in(struct mpdp_ring *r, uint32_t head, void *const *objs, unsigned n)
{
	void **slots = r->slots;
	uint32_t idx = head & r->mask;
	unsigned i = 0;

	if (idx + n <= r->size) {
		for (; i + 4 <= n; i += 4, idx += 4) {
			slots[idx] = objs[i];
			slots[idx + 1] = objs[i + 1];
			slots[idx + 2] = objs[i + 2];
			slots[idx + 3] = objs[i + 3];
		}
		for (; i < n; i++, idx++)
			slots[idx] = objs[i];
		return;
	}
	for (; idx < r->size; i++, idx++)
		slots[idx] = objs[i];
	for (idx = 0; i < n; i++, idx++)
		slots[idx] = objs[i];
}

MPDP__RING_ALWAYS_INLINE void
mpdp__ring_copy_out(const struct mpdp_ring *r, uint32_t head, void **objs, unsigned n)
{
	void *const *slots = r->slots;
	uint32_t idx = head & r->mask;
	unsigned i = 0;

	if (idx + n <= r->size) {
		for (; i + 4 <= n; i += 4, idx += 4) {
			objs[i] = slots[idx];
			objs[i + 1] = slots[idx + 1];
			objs[i + 2] = slots[idx + 2];
			objs[i + 3] = slots[idx + 3];
		}
		for (; i < n; i++, idx++)
			objs[i] = slots[idx];
		return;
	}
	for (; idx < r->size; i++, idx++)
		objs[i] = slots[idx];
	for (idx = 0; i < n; i++, idx++)
		objs[i] = slots[idx];
}

/* 1 when the multi side @side is biased to this thread, now busy (B1); 0: take the shared path. */
MPDP__RING_ALWAYS_INLINE int
mpdp__ring_bias_enter(struct mpdp_ring_headtail *side)
{
	const uint32_t self = mpdp__ring_self;
	uint32_t bias = atomic_load_explicit(&side->bias, memory_order_acquire);

	if (bias == self) {
		atomic_store_explicit(&side->busy, 1, memory_order_relaxed);
		/* The store-load order the check needs is the revoker's membarrier()'s to give. */
		atomic_signal_fence(memory_order_seq_cst);
		if (atomic_load_explicit(&side->bias, memory_order_relaxed) == self)
			return 1;
		atomic_store_explicit(&side->busy, 0, memory_order_release);
	} else if (bias == MPDP_RING_BIAS_SHARED) {
		return 0;
	}
	return mpdp__ring_bias_slow(side);
}

MPDP__RING_ALWAYS_INLINE void
mpdp__ring_bias_leave(struct mpdp_ring_headtail *side)
{
	atomic_store_explicit(&side->busy, 0, memory_order_release); /* B3 */
}

/*
 * Whether a multi side's call would move nothing (a consumer's empty ring, a
 * producer's full one), told without entering the side, so that an idle poll
 * costs what it did before biasing. A head read outside the side is at worst
 * old, which over-states the room: the answer "nothing" is always right.
 */
MPDP__RING_ALWAYS_INLINE int
mpdp__ring_idle(struct mpdp_ring *r, struct mpdp_ring_headtail *own,
		const struct mpdp_ring_headtail *other, uint32_t base, unsigned n, int fixed,
		unsigned *left)
{
	const uint32_t need = n < r->capacity ? n : r->capacity;
	const uint32_t head = atomic_load_explicit(&own->head, memory_order_acquire); /* A3 */
	const uint32_t room = mpdp__ring_room(r, own, other, head, base, need);

	if (room != 0 && (!fixed || room >= n))
		return 0;
	if (left != NULL)
		*left = room;
	return 1;
}

/* One claim, copy and publish, as a single side or as a multi one. */
MPDP__RING_ALWAYS_INLINE unsigned
mpdp__ring_enqueue_as(struct mpdp_ring *r, void *const *objs, unsigned n, int fixed,
		      unsigned *free_space, int single)
{
	uint32_t head;

	n = mpdp__ring_prod_claim(r, n, fixed, single, &head, free_space);
	if (n == 0)
		return 0;
	mpdp__ring_copy_in(r, head, objs, n);
	mpdp__ring_publish(&r->prod.tail, head, n, single);
	return n;
}

MPDP__RING_ALWAYS_INLINE unsigned
mpdp__ring_dequeue_as(struct mpdp_ring *r, void **objs, unsigned n, int fixed,
		      unsigned *available, int single)
{
	uint32_t head;

	n = mpdp__ring_cons_claim(r, n, fixed, single, &head, available);
	if (n == 0)
		return 0;
	mpdp__ring_copy_out(r, head, objs, n);
	mpdp__ring_publish(&r->cons.tail, head, n, single);
	return n;
}

MPDP__RING_ALWAYS_INLINE unsigned
mpdp__ring_enqueue(struct mpdp_ring *r, void *const *objs, unsigned n, int fixed,
		   unsigned *free_space)
{
	if (r->flags & MPDP_RING_F_SP_ENQ)
		return mpdp__ring_enqueue_as(r, objs, n, fixed, free_space, 1);
	if (mpdp__ring_idle(r, &r->prod, &r->cons, r->capacity, n, fixed, free_space))
		return 0;
	if (!mpdp__ring_bias_enter(&r->prod))
		return mpdp__ring_enqueue_as(r, objs, n, fixed, free_space, 0);
	n = mpdp__ring_enqueue_as(r, objs, n, fixed, free_space, 1);
	mpdp__ring_bias_leave(&r->prod);
	return n;
}

MPDP__RING_ALWAYS_INLINE unsigned
mpdp__ring_dequeue(struct mpdp_ring *r, void **objs, unsigned n, int fixed,
		   unsigned *available)
{
	if (r->flags & MPDP_RING_F_SC_DEQ)
		return mpdp__ring_dequeue_as(r, objs, n, fixed, available, 1);
	if (mpdp__ring_idle(r, &r->cons, &r->prod, 0, n, fixed, available))
		return 0;
	if (!mpdp__ring_bias_enter(&r->cons))
		return mpdp__ring_dequeue_as(r, objs, n, fixed, available, 0);
	n = mpdp__ring_dequeue_as(r, objs, n, fixed, available, 1);
	mpdp__ring_bias_leave(&r->cons);
	return n;
}

/*
 * Recoverable sides (MPDP_RING_F_RECOVER, not single). A caller takes the
 * side by a compare-and-swap of its owner word from 0 to its worker id + 1,
 * so head == tail outside an operation and at most one is under way. The
 * order of stores is what the primary reads after a death:
 *
 *   J1 journal fields, then state ARMED (release)
 *   J2 the copy
 *   J3 tail = base + n (release)             the operation took effect
 *   J4 owner = 0 (release)
 *
 * With the owner still set, the tail tells whether J3 happened (nobody else
 * can move it); with the owner clear, J3 has happened. Nothing is armed
 * before J1, so a death between the compare-and-swap and J1 took nothing.
 */
static inline void
mpdp__ring_lock(struct mpdp_ring_headtail *side, uint32_t me)
{
	unsigned spins = 0;
	uint32_t free_ = 0;

	while (!atomic_compare_exchange_weak_explicit(&side->owner, &free_, me, memory_order_acquire,
						      memory_order_relaxed)) {
		/*
		 * Wait reading, not retrying the swap: a waiter that keeps
		 * taking the line exclusive delays the owner's release. Its
		 * owner may be preempted here, or dead until the primary
		 * frees the side.
		 */
		do {
			if (++spins % MPDP__RING_SPINS_BEFORE_YIELD == 0)
				sched_yield();
			else
				mpdp__ring_pause();
		} while (atomic_load_explicit(&side->owner, memory_order_relaxed) != 0);
		free_ = 0;
	}
}

static inline void
mpdp__ring_journal_arm(struct mpdp_abi_journal *j, uint32_t op, const void *target,
		       const void *objs, uint32_t base, unsigned n)
{
	if (j == NULL)
		return;
	j->op = op;
	j->target = (uint64_t)(uintptr_t)target;
	j->objs = (uint64_t)(uintptr_t)objs;
	j->base = base;
	j->n = n;
	__atomic_store_n(&j->state, MPDP_JOURNAL_ARMED, __ATOMIC_RELEASE); /* J1 */
}

static inline unsigned
mpdp__ring_enqueue_locked(struct mpdp_ring *r, struct mpdp_abi_journal *j, void *const *objs,
			  unsigned n, int fixed, unsigned *free_space)
{
	uint32_t tail, free_n;
	unsigned want;

	/* A full ring is told without taking the side. */
	tail = atomic_load_explicit(&r->prod.tail, memory_order_relaxed);
	free_n = r->capacity + atomic_load_explicit(&r->cons.tail, memory_order_acquire) - tail;
	if (free_n == 0 || (fixed && free_n < n)) {
		if (free_space != NULL)
			*free_space = free_n;
		return 0;
	}
	mpdp__ring_lock(&r->prod, j != NULL ? j->owner : MPDP_RING_OWNER_ANON);
	tail = atomic_load_explicit(&r->prod.tail, memory_order_relaxed);
	free_n = r->capacity + atomic_load_explicit(&r->cons.tail, memory_order_acquire) - tail; /* A1 */
	want = n <= free_n ? n : fixed ? 0 : free_n;
	if (want != 0) {
		atomic_store_explicit(&r->prod.head, tail + want, memory_order_relaxed);
		mpdp__ring_journal_arm(j, MPDP_JOURNAL_RING_ENQ, &r->prod, objs, tail, want);
		mpdp__ring_copy_in(r, tail, objs, want);                              /* J2 */
		MPDP_FAULT_POINT(MPDP_FAULT_MID_ENQUEUE);
		atomic_store_explicit(&r->prod.tail, tail + want, memory_order_release); /* J3, R1 */
	}
	atomic_store_explicit(&r->prod.owner, 0, memory_order_release);               /* J4 */
	if (free_space != NULL)
		*free_space = free_n - want;
	return want;
}

static inline unsigned
mpdp__ring_dequeue_locked(struct mpdp_ring *r, struct mpdp_abi_journal *j, void **objs,
			  unsigned n, int fixed, unsigned *available)
{
	uint32_t tail, used;
	unsigned want;

	/* An empty ring (an idle poll) is told without taking the side. */
	tail = atomic_load_explicit(&r->cons.tail, memory_order_relaxed);
	used = atomic_load_explicit(&r->prod.tail, memory_order_acquire) - tail;
	if (used == 0 || (fixed && used < n)) {
		if (available != NULL)
			*available = used;
		return 0;
	}
	mpdp__ring_lock(&r->cons, j != NULL ? j->owner : MPDP_RING_OWNER_ANON);
	tail = atomic_load_explicit(&r->cons.tail, memory_order_relaxed);
	used = atomic_load_explicit(&r->prod.tail, memory_order_acquire) - tail;          /* A2 */
	want = n <= used ? n : fixed ? 0 : used;
	if (want != 0) {
		atomic_store_explicit(&r->cons.head, tail + want, memory_order_relaxed);
		mpdp__ring_journal_arm(j, MPDP_JOURNAL_RING_DEQ, &r->cons, objs, tail, want);
		mpdp__ring_copy_out(r, tail, objs, want);                             /* J2 */
		MPDP_FAULT_POINT(MPDP_FAULT_MID_DEQUEUE);
		atomic_store_explicit(&r->cons.tail, tail + want, memory_order_release); /* J3, R2 */
	}
	atomic_store_explicit(&r->cons.owner, 0, memory_order_release);               /* J4 */
	if (available != NULL)
		*available = used - want;
	return want;
}

MPDP__RING_ALWAYS_INLINE unsigned
mpdp__ring_enqueue_j(struct mpdp_ring *r, struct mpdp_abi_journal *j, void *const *objs,
		     unsigned n, int fixed, unsigned *free_space)
{
	if ((r->flags & (MPDP_RING_F_RECOVER | MPDP_RING_F_SP_ENQ)) == MPDP_RING_F_RECOVER)
		return mpdp__ring_enqueue_locked(r, j, objs, n, fixed, free_space);
	return mpdp__ring_enqueue(r, objs, n, fixed, free_space);
}

MPDP__RING_ALWAYS_INLINE unsigned
mpdp__ring_dequeue_j(struct mpdp_ring *r, struct mpdp_abi_journal *j, void **objs, unsigned n,
		     int fixed, unsigned *available)
{
	if ((r->flags & (MPDP_RING_F_RECOVER | MPDP_RING_F_SC_DEQ)) == MPDP_RING_F_RECOVER)
		return mpdp__ring_dequeue_locked(r, j, objs, n, fixed, available);
	return mpdp__ring_dequeue(r, objs, n, fixed, available);
}

#endif /* MPDP_RING_PVT_H */

/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <inttypes.h>
#include <linux/membarrier.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "mpdp_ring.h"
#include "mpdp_shm.h"

__thread uint32_t mpdp__ring_self __attribute__((tls_model("initial-exec")));

/* A fork child's only thread has another tid than the thread it copies. */
static void
forget_self(void)
{
	mpdp__ring_self = 0;
}

__attribute__((constructor)) static void
ring_atfork(void)
{
	pthread_atfork(NULL, NULL, forget_self);
}

static int
membarrier_global_works(void)
{
	long cmds = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0);

	return cmds > 0 && (cmds & MEMBARRIER_CMD_GLOBAL);
}

/* Biased sides (ring_pvt.h): a free bias is taken, another thread's revoked. */
int
mpdp__ring_bias_slow(struct mpdp_ring_headtail *side)
{
	uint32_t self = mpdp__ring_self, bias;
	unsigned spins = 0;

	if (self == 0)
		self = mpdp__ring_self = (uint32_t)syscall(SYS_gettid);
	for (;;) {
		bias = atomic_load_explicit(&side->bias, memory_order_acquire);
		if (bias == MPDP_RING_BIAS_SHARED)
			return 0;
		if (bias == self) /* just taken, or this thread's id just learnt: B1 */
			return mpdp__ring_bias_enter(side);
		if (bias == MPDP_RING_BIAS_NONE) {
			atomic_compare_exchange_strong_explicit(&side->bias, &bias, self,
								memory_order_acq_rel, memory_order_relaxed);
			continue;
		}
		if (bias != MPDP_RING_BIAS_REVOKING &&
		    atomic_compare_exchange_strong_explicit(&side->bias, &bias, MPDP_RING_BIAS_REVOKING,
							    memory_order_acq_rel, memory_order_relaxed)) {
			/*
			 * Every CPU runs a full barrier: the owner's busy = 1 is
			 * visible below, or its check after it sees REVOKING. A
			 * kernel that offered the call at init and now refuses it
			 * leaves no proof; a pause far longer than a store buffer
			 * takes to drain is the best there is.
			 */
			if (syscall(SYS_membarrier, MEMBARRIER_CMD_GLOBAL, 0) != 0)
				nanosleep(&(struct timespec){ .tv_nsec = 10000000 }, NULL);
			while (atomic_load_explicit(&side->busy, memory_order_acquire) != 0) {
				if (++spins % MPDP__RING_SPINS_BEFORE_YIELD == 0)
					sched_yield();
				else
					mpdp__ring_pause();
			}
			atomic_store_explicit(&side->bias, MPDP_RING_BIAS_SHARED, memory_order_release);
			return 0;
		}
		/* Another thread revokes: wait for it to say shared. */
		if (++spins % MPDP__RING_SPINS_BEFORE_YIELD == 0)
			sched_yield();
		else
			mpdp__ring_pause();
	}
}

uint32_t
mpdp_ring_bias(const struct mpdp_ring *r, int consumers)
{
	uint32_t bias = atomic_load(consumers ? &r->cons.bias : &r->prod.bias);

	return bias >= MPDP_RING_BIAS_NONE ? 0 : bias;
}

size_t
mpdp_ring_memsize(unsigned count)
{
	if (count == 0 || count > MPDP_RING_SIZE_MAX || (count & (count - 1)) != 0)
		return 0;
	return sizeof(struct mpdp_ring) + (size_t)count * sizeof(void *);
}

int
mpdp_ring_init(struct mpdp_ring *r, const char *name, unsigned count, unsigned flags)
{
	int unbiased;

	if (mpdp_ring_memsize(count) == 0 || (flags & ~(unsigned)MPDP_RING_F_ALL_) != 0 ||
	    name == NULL || strlen(name) >= MPDP_NAME_MAX ||
	    ((uintptr_t)r % _Alignof(struct mpdp_ring)) != 0)
		return -EINVAL;
	memset(r, 0, sizeof(*r));
	snprintf(r->name, sizeof(r->name), "%s", name);
	r->flags = flags;
	r->size = count;
	r->mask = count - 1;
	r->capacity = count;
	atomic_init(&r->prod.head, 0);
	atomic_init(&r->prod.tail, 0);
	atomic_init(&r->cons.head, 0);
	atomic_init(&r->cons.tail, 0);
	atomic_init(&r->prod.other_tail, 0);
	atomic_init(&r->cons.other_tail, 0);
	atomic_init(&r->prod.owner, 0);
	atomic_init(&r->cons.owner, 0);
	/* A recoverable side has its own owner word; a single side no claim to bias. */
	unbiased = (flags & (MPDP_RING_F_UNBIASED | MPDP_RING_F_RECOVER)) || !membarrier_global_works();
	atomic_init(&r->prod.bias, unbiased || (flags & MPDP_RING_F_SP_ENQ) ? MPDP_RING_BIAS_SHARED
									   : MPDP_RING_BIAS_NONE);
	atomic_init(&r->cons.bias, unbiased || (flags & MPDP_RING_F_SC_DEQ) ? MPDP_RING_BIAS_SHARED
									   : MPDP_RING_BIAS_NONE);
	atomic_init(&r->prod.busy, 0);
	atomic_init(&r->cons.busy, 0);
	return 0;
}

int
mpdp_ring_journal_committed(const struct mpdp_abi_journal *j)
{
	const struct mpdp_ring_headtail *side;

	if (__atomic_load_n(&j->state, __ATOMIC_ACQUIRE) != MPDP_JOURNAL_ARMED ||
	    (j->op != MPDP_JOURNAL_RING_ENQ && j->op != MPDP_JOURNAL_RING_DEQ))
		return 0;
	/* J3 moved the tail off base; while the dead owner holds the side nobody else can. */
	side = (const struct mpdp_ring_headtail *)(uintptr_t)j->target;
	return atomic_load_explicit(&side->tail, memory_order_acquire) != j->base;
}

static unsigned
release_side(struct mpdp_ring_headtail *side, uint32_t owner)
{
	uint32_t expect = owner;

	if (!atomic_compare_exchange_strong_explicit(&side->owner, &expect, 0, memory_order_acq_rel,
						     memory_order_relaxed))
		return 0;
	/* An abandoned operation never moved the tail: the claim is undone with the head. */
	atomic_store_explicit(&side->head, atomic_load(&side->tail), memory_order_relaxed);
	return 1;
}

unsigned
mpdp_ring_release_owner(struct mpdp_ring *r, uint32_t owner)
{
	if (owner == 0 || !(r->flags & MPDP_RING_F_RECOVER))
		return 0;
	return release_side(&r->prod, owner) + release_side(&r->cons, owner);
}

int
mpdp_ring_create(struct mpdp_shm *shm, const char *name, unsigned count, unsigned flags,
		 int socket, struct mpdp_ring **out)
{
	size_t len = mpdp_ring_memsize(count);
	void *mem;
	int rc;

	if (len == 0 || (flags & ~(unsigned)MPDP_RING_F_ALL_) != 0)
		return -EINVAL;
	rc = mpdp_shm_memzone_reserve(shm, name, len, _Alignof(struct mpdp_ring), socket,
				      MPDP_MZ_KIND_RING, &mem);
	if (rc != 0)
		return rc;
	rc = mpdp_ring_init(mem, name, count, flags);
	if (rc != 0) {
		mpdp_shm_memzone_free(shm, name);
		return rc;
	}
	*out = mem;
	return 0;
}

int
mpdp_ring_lookup(struct mpdp_shm *shm, const char *name, struct mpdp_ring **out)
{
	struct mpdp_shm_memzone mz;
	int rc;

	if (name == NULL || strlen(name) >= MPDP_NAME_MAX)
		return -EINVAL;
	rc = mpdp_shm_memzone_lookup(shm, name, MPDP_MZ_KIND_RING, &mz);
	if (rc != 0)
		return rc;
	*out = mz.addr;
	return 0;
}

int
mpdp_ring_delete(struct mpdp_shm *shm, struct mpdp_ring *r)
{
	struct mpdp_shm_memzone mz;
	int rc = mpdp_shm_memzone_lookup(shm, r->name, MPDP_MZ_KIND_RING, &mz);

	if (rc != 0 || mz.addr != (void *)r)
		return -ENOENT;
	return mpdp_shm_memzone_free(shm, r->name);
}

void
mpdp_ring_dump(FILE *f, const struct mpdp_ring *r)
{
	fprintf(f, "ring %s: size %u, %s/%s%s, prod %" PRIu32 "/%" PRIu32 ", cons %" PRIu32 "/%" PRIu32
		", used %u, free %u, owners %" PRIu32 "/%" PRIu32 ", biased to %" PRIu32 "/%" PRIu32 "\n",
		r->name, r->size, (r->flags & MPDP_RING_F_SP_ENQ) ? "SP" : "MP",
		(r->flags & MPDP_RING_F_SC_DEQ) ? "SC" : "MC",
		(r->flags & MPDP_RING_F_RECOVER) ? " recoverable" : "",
		atomic_load(&r->prod.head), atomic_load(&r->prod.tail),
		atomic_load(&r->cons.head), atomic_load(&r->cons.tail),
		mpdp_ring_count(r), mpdp_ring_free_count(r),
		atomic_load(&r->prod.owner), atomic_load(&r->cons.owner), mpdp_ring_bias(r, 0),
		mpdp_ring_bias(r, 1));
}

/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Capture: the copy path the workers run, and the zone the primary makes.
 *
 * Slot publication (seqlock style; the primary is the only writer):
 *   primary, to fill a slot:  id = 0 (relaxed); R0 release fence; the
 *     fields and the program (relaxed atomics); R1 release store of the id.
 *   worker:  A1 acquire load of the id (pairs with R1); the fields and the
 *     program into locals (relaxed atomics); A2 acquire fence (pairs with
 *     R0); the id again. If both loads gave the capture's id, the locals are
 *     the program R1 published, not a mix with the next one.
 * The program is still checked with bpf_validate() before it runs, so even
 * a slot written by a buggy process cannot make bpf_filter() jump or load
 * out of bounds.
 */
#include <errno.h>
#include <pcap/pcap.h> /* pcap/bpf.h alone lacks u_char */
#include <string.h>
#include <time.h>

#include "mpdp_capture.h"
#include "mpdp_pool.h"
#include "mpdp_shm.h"
#include "mpdp_time.h"

_Static_assert(sizeof(struct mpdp_capture_insn) == sizeof(struct bpf_insn), "BPF layout");
_Static_assert(offsetof(struct mpdp_capture_insn, k) == offsetof(struct bpf_insn, k), "BPF layout");
_Static_assert(offsetof(struct mpdp_capture_insn, jf) == offsetof(struct bpf_insn, jf), "BPF layout");
_Static_assert(sizeof(MPDP_CAPTURE_ZONE) <= 16, "the zone name is compared as two words");

/* Copies are made this many packets at a time, whatever the burst size. */
#define CHUNK 64

#define RING_ALIGN _Alignof(struct mpdp_ring)

/* Lets the memzone table's names and the program be read as whole words. */
typedef uint64_t u64_alias __attribute__((may_alias));

static size_t
align_up(size_t v, size_t a)
{
	return (v + a - 1) & ~(a - 1);
}

static size_t
rings_offset(void)
{
	return align_up(sizeof(struct mpdp_capture_zone), RING_ALIGN);
}

static size_t
ring_stride(void)
{
	return align_up(mpdp_ring_memsize(MPDP_CAPTURE_RING_SIZE), RING_ALIGN);
}

size_t
mpdp_capture_zone_memsize(void)
{
	return rings_offset() + MPDP_CAPTURE_MAX * ring_stride();
}

struct mpdp_ring *
mpdp_capture_zone_ring(struct mpdp_capture_zone *z, unsigned slot)
{
	if (slot >= MPDP_CAPTURE_MAX)
		return NULL;
	return (struct mpdp_ring *)(void *)((char *)z + rings_offset() + slot * ring_stride());
}

int
mpdp_capture_zone_create(struct mpdp_shm *shm, struct mpdp_capture_zone **out)
{
	struct mpdp_capture_zone *z;
	void *mem;
	int rc;

	rc = mpdp_shm_memzone_reserve(shm, MPDP_CAPTURE_ZONE, mpdp_capture_zone_memsize(),
				      RING_ALIGN, -1, MPDP_MZ_KIND_RAW, &mem);
	if (rc != 0)
		return rc;
	z = mem;
	for (unsigned i = 0; i < MPDP_CAPTURE_MAX; i++) {
		char name[MPDP_NAME_MAX];

		snprintf(name, sizeof(name), "%s.%u", MPDP_CAPTURE_ZONE, i);
		/* Many workers copy; only the primary drains. */
		rc = mpdp_ring_init(mpdp_capture_zone_ring(z, i), name, MPDP_CAPTURE_RING_SIZE,
				    MPDP_RING_F_SC_DEQ | MPDP_RING_F_RECOVER);
		if (rc != 0) {
			mpdp_shm_memzone_free(shm, MPDP_CAPTURE_ZONE);
			return rc;
		}
	}
	z->n_slots = MPDP_CAPTURE_MAX;
	atomic_store_explicit(&z->pool_off, 0, memory_order_relaxed);
	atomic_store_explicit(&z->magic, MPDP_CAPTURE_MAGIC, memory_order_release);
	*out = z;
	return 0;
}

int
mpdp_capture_zone_delete(struct mpdp_shm *shm, struct mpdp_capture_zone *z)
{
	struct mpdp_capture_zone *found;

	if (mpdp_capture_zone_lookup(shm, &found) != 0 || found != z)
		return -ENOENT;
	/* A worker that still finds the memzone sees no magic. */
	atomic_store_explicit(&z->magic, 0, memory_order_release);
	return mpdp_shm_memzone_free(shm, MPDP_CAPTURE_ZONE);
}

int
mpdp_capture_zone_set_pool(struct mpdp_shm *shm, struct mpdp_capture_zone *z,
			   struct mpdp_pool *pool)
{
	const struct mpdp_abi_header *h = mpdp_shm_header(shm);
	uintptr_t off = (uintptr_t)pool - (uintptr_t)h;

	if ((uintptr_t)pool < (uintptr_t)h || off + sizeof(*pool) > h->size ||
	    pool->cache_size != 0 ||
	    pool->obj_size < sizeof(struct mpdp_mbuf) + MPDP_MBUF_HEADROOM + MPDP_CAPTURE_SNAPLEN_MAX)
		return -EINVAL;
	atomic_store_explicit(&z->pool_off, off, memory_order_release);
	return 0;
}

static int
zone_name_is(const struct mpdp_abi_memzone *mz)
{
	const u64_alias *w = (const u64_alias *)(const void *)mz->name;
	uint64_t v[2];

	v[0] = __atomic_load_n(&w[0], __ATOMIC_RELAXED);
	v[1] = __atomic_load_n(&w[1], __ATOMIC_RELAXED);
	return memcmp(v, MPDP_CAPTURE_ZONE, sizeof(MPDP_CAPTURE_ZONE)) == 0;
}

/*
 * A lock-free scan of the memzone table: the alloc lock may be held for a
 * long reservation, and a worker must never wait for it. The scan costs
 * about a nanosecond per entry before the zone's (see tests/capture perf).
 */
int
mpdp_capture_zone_lookup(struct mpdp_shm *shm, struct mpdp_capture_zone **out)
{
	struct mpdp_abi_header *h = mpdp_shm_header(shm);
	const uint64_t need = mpdp_capture_zone_memsize();

	for (unsigned i = 0; i < MPDP_MEMZONE_MAX; i++) {
		const struct mpdp_abi_memzone *mz = &h->memzones[i];
		struct mpdp_capture_zone *z;
		uint64_t off, len;

		if (!zone_name_is(mz))
			continue;
		/* Pairs with the release store of USED in mpdp_shm_memzone_reserve(). */
		if (__atomic_load_n(&mz->state, __ATOMIC_ACQUIRE) != MPDP_MZ_STATE_USED ||
		    __atomic_load_n(&mz->kind, __ATOMIC_RELAXED) != MPDP_MZ_KIND_RAW)
			continue;
		off = __atomic_load_n(&mz->offset, __ATOMIC_RELAXED);
		len = __atomic_load_n(&mz->len, __ATOMIC_RELAXED);
		if (off == 0 || off % RING_ALIGN != 0 || len < need || off > h->size ||
		    h->size - off < need || !zone_name_is(mz))
			continue;
		z = (struct mpdp_capture_zone *)(void *)((char *)h + off);
		/* Pairs with the release store in mpdp_capture_zone_create(). */
		if (atomic_load_explicit(&z->magic, memory_order_acquire) != MPDP_CAPTURE_MAGIC ||
		    z->n_slots != MPDP_CAPTURE_MAX)
			return -ENOENT;
		*out = z;
		return 0;
	}
	return -ENOENT;
}

/* The capture pool, or NULL when it is not made or its record is out of bounds. */
static struct mpdp_pool *
zone_pool(const struct mpdp_abi_header *h, struct mpdp_capture_zone *z)
{
	uint64_t off = atomic_load_explicit(&z->pool_off, memory_order_acquire);
	struct mpdp_pool *pool;
	uintptr_t ring;

	if (off == 0 || off % _Alignof(struct mpdp_pool) != 0 || off > h->size ||
	    h->size - off < sizeof(*pool))
		return NULL;
	pool = (struct mpdp_pool *)(void *)((char *)h + off);
	ring = (uintptr_t)pool->ring - (uintptr_t)h;
	if ((uintptr_t)pool->ring < (uintptr_t)h || ring > h->size ||
	    h->size - ring < sizeof(struct mpdp_ring))
		return NULL;
	return pool;
}

/*
 * Reserve up to @k matches under the limit. Fails (0) when the counter
 * carries another capture's tag: the slot was reused under a late worker.
 */
static unsigned
counter_reserve(_Atomic uint64_t *word, uint64_t tag, uint64_t limit, unsigned k)
{
	uint64_t old = atomic_load_explicit(word, memory_order_relaxed);

	if (limit == 0 || limit > MPDP_CAPTURE_COUNT_MASK)
		limit = MPDP_CAPTURE_COUNT_MASK;
	for (;;) {
		uint64_t cnt = old & MPDP_CAPTURE_COUNT_MASK;
		uint64_t room = cnt >= limit ? 0 : limit - cnt;
		unsigned take = room < k ? (unsigned)room : k;

		if ((old & ~MPDP_CAPTURE_COUNT_MASK) != tag || take == 0)
			return 0;
		if (atomic_compare_exchange_weak_explicit(word, &old, old + take,
							  memory_order_relaxed,
							  memory_order_relaxed))
			return take;
	}
}

static void
counter_add(_Atomic uint64_t *word, uint64_t tag, unsigned k)
{
	uint64_t old = atomic_load_explicit(word, memory_order_relaxed);

	do {
		if ((old & ~MPDP_CAPTURE_COUNT_MASK) != tag ||
		    (old & MPDP_CAPTURE_COUNT_MASK) + k > MPDP_CAPTURE_COUNT_MASK)
			return;
	} while (!atomic_compare_exchange_weak_explicit(word, &old, old + k, memory_order_relaxed,
							memory_order_relaxed));
}

/* What a worker took from a slot: valid only if the slot still had the id afterwards. */
struct slot_view {
	uint32_t snaplen;
	uint32_t n_insns;
	uint64_t limit;
	struct bpf_insn prog[MPDP_CAPTURE_BPF_MAX];
};

static int
slot_read(struct mpdp_capture_slot *s, uint32_t id, struct slot_view *v)
{
	const u64_alias *src = (const u64_alias *)(const void *)s->prog;

	if (atomic_load_explicit(&s->id, memory_order_acquire) != id || /* A1 */
	    atomic_load_explicit(&s->state, memory_order_relaxed) != MPDP_CAPTURE_SLOT_RUNNING)
		return 0;
	v->snaplen = atomic_load_explicit(&s->snaplen, memory_order_relaxed);
	v->n_insns = atomic_load_explicit(&s->n_insns, memory_order_relaxed);
	v->limit = atomic_load_explicit(&s->limit, memory_order_relaxed);
	if (v->n_insns == 0 || v->n_insns > MPDP_CAPTURE_BPF_MAX || v->snaplen == 0)
		return 0;
	if (v->snaplen > MPDP_CAPTURE_SNAPLEN_MAX)
		v->snaplen = MPDP_CAPTURE_SNAPLEN_MAX;
	for (unsigned i = 0; i < v->n_insns; i++) {
		uint64_t w = __atomic_load_n(&src[i], __ATOMIC_RELAXED);

		memcpy(&v->prog[i], &w, sizeof(w));
	}
	atomic_thread_fence(memory_order_acquire); /* A2 */
	if (atomic_load_explicit(&s->id, memory_order_relaxed) != id)
		return 0;
	return bpf_validate(v->prog, (int)v->n_insns);
}

/* Take up to @n mbufs: all at once when the pool has them, else one by one. */
static unsigned
copies_alloc(struct mpdp_pool *pool, struct mpdp_mbuf **ms, unsigned n)
{
	unsigned got = 0;

	if (mpdp_mbuf_alloc_bulk(pool, MPDP_POOL_NO_CACHE, ms, n) == n)
		return n;
	while (got < n && mpdp_mbuf_alloc_bulk(pool, MPDP_POOL_NO_CACHE, &ms[got], 1) == 1)
		got++;
	return got;
}

/* Copy the matches pkts[hit[0..k)] and queue them; returns how many were queued. */
static unsigned
copy_matches(struct mpdp_pool *pool, struct mpdp_ring *r, uint32_t id, uint32_t snaplen,
	     struct mpdp_mbuf *const *pkts, const uint16_t *hit, unsigned k)
{
	struct mpdp_mbuf *copies[CHUNK];
	unsigned space = mpdp_ring_free_count(r);
	unsigned got, queued;
	uint64_t now;

	/*
	 * No copy is made for a full ring (a snapshot: other producers may fill
	 * it first), nor while a side of the ring or the pool is taken: copies
	 * are not journalled, and a copier that died there must not stall this
	 * worker until the capture stops (capture_mgr frees such a side).
	 */
	if (atomic_load_explicit(&r->prod.owner, memory_order_relaxed) != 0 ||
	    atomic_load_explicit(&pool->ring->cons.owner, memory_order_relaxed) != 0)
		space = 0;
	got = copies_alloc(pool, copies, k < space ? k : space);
	now = mpdp_realtime_ns();

	for (unsigned i = 0; i < got; i++) {
		const struct mpdp_mbuf *p = pkts[hit[i]];
		struct mpdp_mbuf *m = copies[i];
		struct mpdp_capture_rec rec = { .id = id, .orig_len = p->data_len };
		unsigned room = m->buf_len > m->data_off ? (unsigned)m->buf_len - m->data_off : 0;
		unsigned len = p->data_len;

		if (len > snaplen)
			len = snaplen;
		if (len > room)
			len = room;
		memcpy(mpdp_mbuf_data(m), mpdp_mbuf_data(p), len);
		m->data_len = (uint16_t)len;
		m->port = p->port;
		m->timestamp = now;
		memcpy(m->priv, &rec, sizeof(rec));
	}
	queued = got ? mpdp_ring_enqueue_burst(r, (void *const *)copies, got, NULL) : 0;
	if (queued < got)
		mpdp_pool_put_bulk(pool, MPDP_POOL_NO_CACHE, (void *const *)&copies[queued],
				   got - queued);
	return queued;
}

void
mpdp__capture_copy(struct mpdp_shm *shm, uint32_t id, struct mpdp_mbuf *const *pkts, unsigned n)
{
	const struct mpdp_abi_header *h = mpdp_shm_header(shm);
	struct mpdp_capture_zone *z;
	struct mpdp_capture_slot *s;
	struct mpdp_pool *pool;
	struct mpdp_ring *r;
	struct slot_view v;
	uint64_t tag = mpdp_capture_tag(id);

	if (mpdp_capture_zone_lookup(shm, &z) != 0)
		return;
	s = &z->slots[id % MPDP_CAPTURE_MAX];
	if (!slot_read(s, id, &v))
		return;
	pool = zone_pool(h, z);
	r = mpdp_capture_zone_ring(z, id % MPDP_CAPTURE_MAX);
	if (pool == NULL || r->size != MPDP_CAPTURE_RING_SIZE ||
	    r->mask != MPDP_CAPTURE_RING_SIZE - 1 || r->capacity != MPDP_CAPTURE_RING_SIZE)
		return;

	for (unsigned base = 0; base < n; base += CHUNK) {
		unsigned end = n - base < CHUNK ? n : base + CHUNK;
		uint16_t hit[CHUNK];
		unsigned k = 0, take, queued;

		for (unsigned i = base; i < end; i++) {
			const struct mpdp_mbuf *p = pkts[i];

			/* A packet claiming bytes beyond its buffer is not read. */
			if ((unsigned)p->data_off + p->data_len > p->buf_len)
				continue;
			if (bpf_filter(v.prog, mpdp_mbuf_data(p), p->data_len, p->data_len) != 0)
				hit[k++] = (uint16_t)(i - base);
		}
		if (k == 0)
			continue;
		take = counter_reserve(&s->matched, tag, v.limit, k);
		if (take == 0)
			return;
		queued = copy_matches(pool, r, id, v.snaplen, &pkts[base], hit, take);
		if (queued < take)
			counter_add(&s->dropped, tag, take - queued);
	}
}

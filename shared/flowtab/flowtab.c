/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>

#include "mpdp_flowtab.h"

/*
 * Layout, all of it offsets and indices so that any process can read it at
 * any address:
 *
 *   struct mpdp_flowtab   the header below
 *   slots[n_slots]        open addressing, linear probing: {hash, ref}
 *   records[max_records]  {used, next_free, hash[2], key0, key1, body}
 *
 * Lookups probe the slot array (8 slots per cache line, at most half of
 * them in use) and compare the full 32-bit hash there, so a hit costs the
 * slot line and the record line that holds the key: two cache misses. A
 * slot's ref is (id << 1 | which) + 1; 0 is an empty slot, which is what
 * zeroed memory already holds. Deletion shifts later entries of the probe
 * run back (no tombstones), so the table never degrades with churn.
 *
 * Records are handed out from a LIFO free list first, then from the high
 * water mark up, so opening a table touches only the header and the slots.
 *
 * Ownership: one thread writes the table (add, del, scan, body). Other
 * processes read only the records, with mpdp_flowtab_next(): a record's keys
 * and body are written before `used` is set with a release store (R1), and
 * `used` is cleared (R2) before its slots are removed or it is reused;
 * next() loads `used` with acquire (A1, pairs with R1). A reader may still
 * see a record change under it after A1 (deleted and reused while it copies
 * the keys): a report tolerates that. Lookups from other threads are not
 * supported: a backward shift can hide a key from them for a moment.
 */

#define FLOWTAB_MAGIC 0x6d706674u /* "mpft" */
#define FLOWTAB_LAYOUT 1u

enum {
	SLOT_EMPTY = 0,
	HDR_ALIGN = 128,   /* the header, padded to two cache lines */
};

struct flowtab_slot {
	uint32_t hash;
	uint32_t ref;   /* (id << 1 | which) + 1, or SLOT_EMPTY */
};

struct flowtab_rec {
	_Atomic uint32_t used;   /* (w) 1 while the record is in the table */
	uint32_t next_free;      /* (w) free list link while not used */
	uint32_t hash[2];        /* (w) hashes of the keys, to find their slots on delete */
	/* key 0, key 1 (each padded to 8 bytes), then the body */
};

/* The header at the start of the memory. (ro) fields are set once by the
 * process that made the table; (w) fields belong to the writer. */
struct mpdp_flowtab {
	_Atomic uint32_t magic;           /* (ro) FLOWTAB_MAGIC, stored last */
	uint32_t layout;                  /* (ro) FLOWTAB_LAYOUT */
	struct mpdp_flowtab_params params;/* (ro) */
	uint32_t slot_mask;               /* (ro) n_slots - 1 */
	uint32_t rec_size;                /* (ro) bytes per record, multiple of 8 */
	uint32_t key_stride;              /* (ro) key_size rounded up to 8 */
	uint32_t body_off;                /* (ro) offset of the body in a record */
	uint64_t slots_off;               /* (ro) from the header */
	uint64_t recs_off;                /* (ro) from the header */
	_Atomic uint32_t count;           /* (w) records in use */
	_Atomic uint32_t hwm;             /* (w) records ever handed out */
	uint32_t free_head;               /* (w) MPDP_FLOWTAB_NONE when empty */
	uint32_t pad_;
};

_Static_assert(sizeof(struct mpdp_flowtab) <= HDR_ALIGN, "flowtab header fits HDR_ALIGN");
_Static_assert(sizeof(struct flowtab_rec) == 16, "record header keeps keys 8-byte aligned");
_Static_assert(((uint64_t)MPDP_FLOWTAB_RECORDS_MAX << 1) + 1 < UINT32_MAX,
	       "a slot ref fits 32 bits");

/* Slots: a power of two at least twice the keys, so probe runs stay short. */
static uint64_t
slot_count(const struct mpdp_flowtab_params *p)
{
	uint64_t want = (uint64_t)p->max_records * p->n_keys * 2;
	uint64_t n = 8;

	while (n < want)
		n <<= 1;
	return n;
}

static uint32_t
round8(uint32_t n)
{
	return (n + 7u) & ~7u;
}

static int
params_ok(const struct mpdp_flowtab_params *p)
{
	return p != NULL && p->max_records >= 1 && p->max_records <= MPDP_FLOWTAB_RECORDS_MAX &&
	       p->key_size >= 1 && p->key_size <= MPDP_FLOWTAB_KEY_MAX &&
	       p->body_size <= MPDP_FLOWTAB_BODY_MAX && p->n_keys >= 1 && p->n_keys <= 2;
}

static uint32_t
rec_size_of(const struct mpdp_flowtab_params *p)
{
	return (uint32_t)sizeof(struct flowtab_rec) + p->n_keys * round8(p->key_size) +
	       round8(p->body_size);
}

static uint64_t
slots_bytes(const struct mpdp_flowtab_params *p)
{
	return slot_count(p) * sizeof(struct flowtab_slot);
}

uint64_t
mpdp_flowtab_mem_size(const struct mpdp_flowtab_params *p)
{
	if (!params_ok(p))
		return 0;
	return HDR_ALIGN + slots_bytes(p) + (uint64_t)p->max_records * rec_size_of(p);
}

static struct flowtab_slot *
slots(const struct mpdp_flowtab *ft)
{
	return (struct flowtab_slot *)((uintptr_t)ft + ft->slots_off);
}

static struct flowtab_rec *
rec(const struct mpdp_flowtab *ft, uint32_t id)
{
	return (struct flowtab_rec *)((uintptr_t)ft + ft->recs_off + (uint64_t)id * ft->rec_size);
}

static uint8_t *
rec_key(const struct mpdp_flowtab *ft, uint32_t id, unsigned which)
{
	return (uint8_t *)rec(ft, id) + sizeof(struct flowtab_rec) + which * ft->key_stride;
}

static int
all_zero(const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i] != 0)
			return 0;
	return 1;
}

/* Name the first field of the shape that differs, for the error message. */
static int
shape_differs(const struct mpdp_flowtab_params *have, const struct mpdp_flowtab_params *want,
	      struct mpdp_errbuf *eb)
{
	if (have->max_records != want->max_records)
		return mpdp_err_set(eb, -EEXIST,
				    "flowtab: table has max_records %" PRIu32 ", asked %" PRIu32,
				    have->max_records, want->max_records);
	if (have->key_size != want->key_size)
		return mpdp_err_set(eb, -EEXIST, "flowtab: table has key_size %u, asked %u",
				    have->key_size, want->key_size);
	if (have->body_size != want->body_size)
		return mpdp_err_set(eb, -EEXIST, "flowtab: table has body_size %u, asked %u",
				    have->body_size, want->body_size);
	if (have->n_keys != want->n_keys)
		return mpdp_err_set(eb, -EEXIST, "flowtab: table has n_keys %u, asked %u",
				    have->n_keys, want->n_keys);
	return 0;
}

static int
attach(struct mpdp_flowtab *ft, const struct mpdp_flowtab_params *p, struct mpdp_errbuf *eb)
{
	int rc;

	if (ft->layout != FLOWTAB_LAYOUT)
		return mpdp_err_set(eb, -EEXIST,
				    "flowtab: table has layout %" PRIu32 ", this is %u", ft->layout,
				    FLOWTAB_LAYOUT);
	rc = shape_differs(&ft->params, p, eb);
	if (rc != 0)
		return rc;
	/* The derived fields must be what this build would compute: anything
	 * else is damage, and an index from it could point out of the memory. */
	if (ft->slot_mask != slot_count(p) - 1 || ft->rec_size != rec_size_of(p) ||
	    ft->slots_off != HDR_ALIGN || ft->recs_off != HDR_ALIGN + slots_bytes(p) ||
	    atomic_load_explicit(&ft->hwm, memory_order_relaxed) > p->max_records ||
	    atomic_load_explicit(&ft->count, memory_order_relaxed) > p->max_records ||
	    (ft->free_head != MPDP_FLOWTAB_NONE && ft->free_head >= p->max_records))
		return mpdp_err_set(eb, -EEXIST, "flowtab: table header is damaged");
	return 1;
}

int
mpdp_flowtab_open(void *mem, uint64_t len, const struct mpdp_flowtab_params *p,
		  struct mpdp_flowtab **out, struct mpdp_errbuf *eb)
{
	struct mpdp_flowtab *ft = mem;
	uint64_t need = mpdp_flowtab_mem_size(p);
	uint32_t magic;
	int rc;

	if (need == 0)
		return mpdp_err_set(eb, -EINVAL,
				    "flowtab: bad shape (max_records 1..%u, key_size 1..%u, "
				    "body_size 0..%u, n_keys 1 or 2)",
				    MPDP_FLOWTAB_RECORDS_MAX, MPDP_FLOWTAB_KEY_MAX,
				    MPDP_FLOWTAB_BODY_MAX);
	if (mem == NULL || ((uintptr_t)mem & 7) != 0)
		return mpdp_err_set(eb, -EINVAL, "flowtab: memory %p is not 8-byte aligned", mem);
	if (len < need)
		return mpdp_err_set(eb, -EINVAL,
				    "flowtab: %" PRIu64 " bytes given, the table needs %" PRIu64,
				    len, need);

	magic = atomic_load_explicit(&ft->magic, memory_order_acquire);
	if (magic == FLOWTAB_MAGIC) {
		rc = attach(ft, p, eb);
		if (rc < 0)
			return rc;
		*out = ft;
		return 1;
	}
	if (!all_zero(mem, sizeof(*ft)))
		return mpdp_err_set(eb, -EEXIST,
				    "flowtab: memory holds something else (magic 0x%08" PRIx32 ")",
				    magic);

	ft->layout = FLOWTAB_LAYOUT;
	memset(&ft->params, 0, sizeof(ft->params));
	ft->params.max_records = p->max_records;
	ft->params.key_size = p->key_size;
	ft->params.body_size = p->body_size;
	ft->params.n_keys = p->n_keys;
	ft->slot_mask = (uint32_t)(slot_count(p) - 1);
	ft->key_stride = round8(p->key_size);
	ft->body_off = (uint32_t)sizeof(struct flowtab_rec) + p->n_keys * ft->key_stride;
	ft->rec_size = rec_size_of(p);
	ft->slots_off = HDR_ALIGN;
	ft->recs_off = HDR_ALIGN + slots_bytes(p);
	atomic_init(&ft->count, 0);
	atomic_init(&ft->hwm, 0);
	ft->free_head = MPDP_FLOWTAB_NONE;
	/* The caller promised zeros; the slots are cleared anyway, because a
	 * stray non-zero slot would be a ref to a record that is not there. */
	memset(slots(ft), 0, slots_bytes(p));
	atomic_store_explicit(&ft->magic, FLOWTAB_MAGIC, memory_order_release);
	*out = ft;
	return 0;
}

/*
 * A multiply-rotate hash over 8-byte words with a 64-bit finaliser (the
 * structure of MurmurHash3's x64 variant, reduced to one lane): every input
 * bit reaches every output bit, which linear probing on the low bits needs.
 * No seed: the value must be the same in every process.
 */
static uint64_t
rotl64(uint64_t x, unsigned r)
{
	return (x << r) | (x >> (64 - r));
}

static uint64_t
fmix64(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 33;
	return h;
}

uint32_t
mpdp_flowtab_hash(const void *key, uint16_t len)
{
	const uint64_t c1 = 0x87c37b91114253d5ull, c2 = 0x4cf5ad432745937full;
	const uint8_t *b = key;
	uint64_t h = 0x9e3779b97f4a7c15ull ^ len, w;
	uint16_t i = 0;

	for (; len - i >= 8; i += 8) {
		memcpy(&w, b + i, 8);
		w *= c1;
		w = rotl64(w, 31);
		w *= c2;
		h ^= w;
		h = rotl64(h, 27) * 5 + 0x52dce729;
	}
	if (i < len) {
		w = 0;
		memcpy(&w, b + i, (size_t)(len - i));
		w *= c1;
		w = rotl64(w, 31);
		w *= c2;
		h ^= w;
	}
	return (uint32_t)(fmix64(h) >> 32);
}

/* The slot holding key @which of record @id: it is in the table. */
static uint32_t
slot_of(const struct mpdp_flowtab *ft, uint32_t id, unsigned which)
{
	const struct flowtab_slot *s = slots(ft);
	uint32_t ref = (id << 1 | which) + 1;
	uint32_t i = rec(ft, id)->hash[which] & ft->slot_mask;

	while (s[i].ref != ref)
		i = (i + 1) & ft->slot_mask;
	return i;
}

uint32_t
mpdp_flowtab_lookup(const struct mpdp_flowtab *ft, const void *key, uint32_t hash,
		    unsigned *which)
{
	const struct flowtab_slot *s = slots(ft);
	uint32_t i = hash & ft->slot_mask;

	/* At most half the slots are in use, so an empty one ends the run. */
	for (; s[i].ref != SLOT_EMPTY; i = (i + 1) & ft->slot_mask) {
		uint32_t id, w;

		if (s[i].hash != hash)
			continue;
		id = (s[i].ref - 1) >> 1;
		w = (s[i].ref - 1) & 1;
		if (memcmp(rec_key(ft, id, w), key, ft->params.key_size) == 0) {
			if (which != NULL)
				*which = w;
			return id;
		}
	}
	return MPDP_FLOWTAB_NONE;
}

static void
slot_insert(struct mpdp_flowtab *ft, uint32_t hash, uint32_t ref)
{
	struct flowtab_slot *s = slots(ft);
	uint32_t i = hash & ft->slot_mask;

	while (s[i].ref != SLOT_EMPTY)
		i = (i + 1) & ft->slot_mask;
	s[i].hash = hash;
	s[i].ref = ref;
}

/*
 * Empty slot i and pull later members of its probe run back into the hole
 * when their home is not between the hole and where they sit, so every
 * key stays reachable from its home without tombstones.
 */
static void
slot_remove(struct mpdp_flowtab *ft, uint32_t i)
{
	struct flowtab_slot *s = slots(ft);
	uint32_t mask = ft->slot_mask;
	uint32_t j = i;

	for (;;) {
		uint32_t home;

		j = (j + 1) & mask;
		if (s[j].ref == SLOT_EMPTY)
			break;
		home = s[j].hash & mask;
		/* Distance from home to j versus from the hole to j, both
		 * cyclic: the entry may move only if its home is at or
		 * before the hole on its run. */
		if (((j - home) & mask) >= ((j - i) & mask)) {
			s[i] = s[j];
			i = j;
		}
	}
	s[i].hash = 0;
	s[i].ref = SLOT_EMPTY;
}

/* Single writer: a load and a store, no locked instruction. */
static void
count_add(struct mpdp_flowtab *ft, uint32_t n)
{
	uint32_t c = atomic_load_explicit(&ft->count, memory_order_relaxed);

	atomic_store_explicit(&ft->count, c + n, memory_order_relaxed);
}

int
mpdp_flowtab_add(struct mpdp_flowtab *ft, const void *const *keys, const uint32_t *hashes,
		 uint32_t *id)
{
	const struct mpdp_flowtab_params *p = &ft->params;
	uint32_t hwm = atomic_load_explicit(&ft->hwm, memory_order_relaxed);
	struct flowtab_rec *r;
	uint32_t n;

	/* Every check before any change, so a refused add leaves no trace. */
	for (unsigned k = 0; k < p->n_keys; k++)
		if (mpdp_flowtab_lookup(ft, keys[k], hashes[k], NULL) != MPDP_FLOWTAB_NONE)
			return -EEXIST;
	if (p->n_keys == 2 && memcmp(keys[0], keys[1], p->key_size) == 0)
		return -EEXIST;
	if (ft->free_head != MPDP_FLOWTAB_NONE) {
		n = ft->free_head;
		ft->free_head = rec(ft, n)->next_free;
	} else if (hwm < p->max_records) {
		n = hwm;
		/* A fresh record has never been read: make `used` 0 before a
		 * reader can reach it through the new hwm. */
		atomic_store_explicit(&rec(ft, n)->used, 0, memory_order_relaxed);
		atomic_store_explicit(&ft->hwm, hwm + 1, memory_order_release);
	} else {
		return -ENOSPC;
	}

	r = rec(ft, n);
	r->next_free = MPDP_FLOWTAB_NONE;
	r->hash[0] = hashes[0];
	r->hash[1] = p->n_keys == 2 ? hashes[1] : 0;
	for (unsigned k = 0; k < p->n_keys; k++) {
		uint8_t *dst = rec_key(ft, n, k);

		memcpy(dst, keys[k], p->key_size);
		memset(dst + p->key_size, 0, ft->key_stride - p->key_size);
		slot_insert(ft, hashes[k], (n << 1 | k) + 1);
	}
	memset((uint8_t *)r + ft->body_off, 0, round8(p->body_size));
	/* R1: keys and body before the mark; pairs with A1 in next(). */
	atomic_store_explicit(&r->used, 1, memory_order_release);
	count_add(ft, 1);
	*id = n;
	return 0;
}

void
mpdp_flowtab_del(struct mpdp_flowtab *ft, uint32_t id)
{
	struct flowtab_rec *r = rec(ft, id);

	/* R2: unmarked before its slots go and before it can be reused. The
	 * release keeps the writer's later stores (a reuse) after it. */
	atomic_store_explicit(&r->used, 0, memory_order_release);
	for (unsigned k = 0; k < ft->params.n_keys; k++)
		slot_remove(ft, slot_of(ft, id, k));
	r->next_free = ft->free_head;
	ft->free_head = id;
	count_add(ft, UINT32_MAX);
}

void *
mpdp_flowtab_body(const struct mpdp_flowtab *ft, uint32_t id)
{
	return (uint8_t *)rec(ft, id) + ft->body_off;
}

const void *
mpdp_flowtab_key(const struct mpdp_flowtab *ft, uint32_t id, unsigned which)
{
	return rec_key(ft, id, which);
}

uint32_t
mpdp_flowtab_count(const struct mpdp_flowtab *ft)
{
	return atomic_load_explicit(&ft->count, memory_order_relaxed);
}

const struct mpdp_flowtab_params *
mpdp_flowtab_params(const struct mpdp_flowtab *ft)
{
	return &ft->params;
}

uint32_t
mpdp_flowtab_next(const struct mpdp_flowtab *ft, uint32_t id)
{
	uint32_t hwm = atomic_load_explicit(&ft->hwm, memory_order_acquire);
	uint32_t i = id == MPDP_FLOWTAB_NONE ? 0 : id + 1;

	for (; i < hwm; i++)
		/* A1: pairs with R1 in add(). */
		if (atomic_load_explicit(&rec(ft, i)->used, memory_order_acquire) != 0)
			return i;
	return MPDP_FLOWTAB_NONE;
}

uint32_t
mpdp_flowtab_scan(struct mpdp_flowtab *ft, uint32_t *cursor, uint32_t budget,
		  int (*expired)(void *body, uint32_t id, void *arg), void *arg)
{
	uint32_t hwm = atomic_load_explicit(&ft->hwm, memory_order_relaxed);
	uint32_t i = *cursor, deleted = 0;

	/* Only records below hwm were ever used; one pass at most per call. */
	if (hwm == 0)
		return 0;
	if (budget > hwm)
		budget = hwm;
	for (uint32_t n = 0; n < budget; n++) {
		if (i >= hwm)
			i = 0;
		if (atomic_load_explicit(&rec(ft, i)->used, memory_order_relaxed) != 0 &&
		    expired(mpdp_flowtab_body(ft, i), i, arg) != 0) {
			mpdp_flowtab_del(ft, i);
			deleted++;
		}
		i++;
	}
	*cursor = i >= hwm ? 0 : i;
	return deleted;
}

/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The flow table on private memory (and on MAP_SHARED memory for the
 * cross-process case): add, lookup, delete with one and two keys, the
 * refusals, id reuse, walks, scans, reopening, and a randomized run
 * against a simple reference model.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mpdp_flowtab.h"
#include "test_util.h"

struct key16 {
	uint32_t tag;
	uint32_t a;
	uint64_t b;
};

struct body {
	uint64_t stamp;
	uint64_t more;
};

struct table {
	void *mem;
	uint64_t len;
	struct mpdp_flowtab *ft;
	struct mpdp_flowtab_params p;
};

static void
table_make(struct table *t, uint32_t max_records, uint8_t n_keys)
{
	struct mpdp_errbuf eb = { { 0 } };

	t->p = (struct mpdp_flowtab_params){
		.max_records = max_records,
		.key_size = sizeof(struct key16),
		.body_size = sizeof(struct body),
		.n_keys = n_keys,
	};
	t->len = mpdp_flowtab_mem_size(&t->p);
	assert_true(t->len > 0);
	t->mem = aligned_alloc(64, (t->len + 63) & ~(uint64_t)63);
	assert_non_null(t->mem);
	memset(t->mem, 0, t->len);
	assert_int_equal(mpdp_flowtab_open(t->mem, t->len, &t->p, &t->ft, &eb), 0);
	assert_ptr_equal(t->ft, t->mem);
}

static void
table_free(struct table *t)
{
	free(t->mem);
}

static struct key16
key(uint32_t tag, uint32_t a)
{
	struct key16 k;

	memset(&k, 0, sizeof(k));
	k.tag = tag;
	k.a = a;
	k.b = (uint64_t)a * 0x9e3779b97f4a7c15ull;
	return k;
}

static uint32_t
hash_of(const struct key16 *k)
{
	return mpdp_flowtab_hash(k, sizeof(*k));
}

static uint32_t
look(const struct mpdp_flowtab *ft, const struct key16 *k, unsigned *which)
{
	return mpdp_flowtab_lookup(ft, k, hash_of(k), which);
}

static int
add1(struct mpdp_flowtab *ft, const struct key16 *k, uint32_t *id)
{
	const void *keys[1] = { k };
	uint32_t h[1] = { hash_of(k) };

	return mpdp_flowtab_add(ft, keys, h, id);
}

static int
add2(struct mpdp_flowtab *ft, const struct key16 *k0, const struct key16 *k1, uint32_t *id)
{
	const void *keys[2] = { k0, k1 };
	uint32_t h[2] = { hash_of(k0), hash_of(k1) };

	return mpdp_flowtab_add(ft, keys, h, id);
}

static void
test_mem_size_rejects_bad_shapes(void **state)
{
	struct mpdp_flowtab_params p = { .max_records = 10, .key_size = 16, .body_size = 16,
					 .n_keys = 1 };

	(void)state;
	assert_true(mpdp_flowtab_mem_size(&p) > 10 * (16 + 16));
	p.max_records = 0;
	assert_int_equal(mpdp_flowtab_mem_size(&p), 0);
	p.max_records = MPDP_FLOWTAB_RECORDS_MAX + 1;
	assert_int_equal(mpdp_flowtab_mem_size(&p), 0);
	p.max_records = 10;
	p.key_size = 0;
	assert_int_equal(mpdp_flowtab_mem_size(&p), 0);
	p.key_size = MPDP_FLOWTAB_KEY_MAX + 1;
	assert_int_equal(mpdp_flowtab_mem_size(&p), 0);
	p.key_size = 16;
	p.body_size = MPDP_FLOWTAB_BODY_MAX + 1;
	assert_int_equal(mpdp_flowtab_mem_size(&p), 0);
	p.body_size = 16;
	p.n_keys = 0;
	assert_int_equal(mpdp_flowtab_mem_size(&p), 0);
	p.n_keys = 3;
	assert_int_equal(mpdp_flowtab_mem_size(&p), 0);
	assert_int_equal(mpdp_flowtab_mem_size(NULL), 0);
}

static void
test_one_key_add_lookup_del(void **state)
{
	struct table t;
	struct key16 k1 = key(0, 1), k2 = key(0, 2);
	uint32_t id1, id2;
	unsigned which = 7;
	struct body *b;

	(void)state;
	table_make(&t, 16, 1);
	assert_int_equal(look(t.ft, &k1, NULL), MPDP_FLOWTAB_NONE);
	assert_int_equal(add1(t.ft, &k1, &id1), 0);
	assert_int_equal(add1(t.ft, &k2, &id2), 0);
	assert_int_not_equal(id1, id2);
	assert_int_equal(mpdp_flowtab_count(t.ft), 2);
	assert_int_equal(look(t.ft, &k1, &which), id1);
	assert_int_equal(which, 0);
	assert_int_equal(look(t.ft, &k2, NULL), id2);
	assert_memory_equal(mpdp_flowtab_key(t.ft, id1, 0), &k1, sizeof(k1));

	b = mpdp_flowtab_body(t.ft, id1);
	assert_int_equal((uintptr_t)b % 8, 0);
	assert_int_equal(b->stamp, 0);
	b->stamp = 42;
	assert_int_equal(((struct body *)mpdp_flowtab_body(t.ft, id1))->stamp, 42);

	mpdp_flowtab_del(t.ft, id1);
	assert_int_equal(mpdp_flowtab_count(t.ft), 1);
	assert_int_equal(look(t.ft, &k1, NULL), MPDP_FLOWTAB_NONE);
	assert_int_equal(look(t.ft, &k2, NULL), id2);
	/* A reused record starts with a zeroed body. */
	assert_int_equal(add1(t.ft, &k1, &id1), 0);
	assert_int_equal(((struct body *)mpdp_flowtab_body(t.ft, id1))->stamp, 0);
	table_free(&t);
}

static void
test_two_keys_each_finds_the_record(void **state)
{
	struct table t;
	struct key16 o = key(0, 10), r = key(1, 10), o2 = key(0, 11), r2 = key(1, 11);
	uint32_t id, id2;
	unsigned which;

	(void)state;
	table_make(&t, 16, 2);
	assert_int_equal(add2(t.ft, &o, &r, &id), 0);
	assert_int_equal(add2(t.ft, &o2, &r2, &id2), 0);
	assert_int_equal(look(t.ft, &o, &which), id);
	assert_int_equal(which, 0);
	assert_int_equal(look(t.ft, &r, &which), id);
	assert_int_equal(which, 1);
	assert_int_equal(look(t.ft, &r2, &which), id2);
	assert_int_equal(which, 1);
	assert_memory_equal(mpdp_flowtab_key(t.ft, id, 1), &r, sizeof(r));
	assert_int_equal(mpdp_flowtab_params(t.ft)->n_keys, 2);
	assert_int_equal(mpdp_flowtab_params(t.ft)->max_records, 16);

	mpdp_flowtab_del(t.ft, id);
	assert_int_equal(look(t.ft, &o, NULL), MPDP_FLOWTAB_NONE);
	assert_int_equal(look(t.ft, &r, NULL), MPDP_FLOWTAB_NONE);
	assert_int_equal(look(t.ft, &o2, NULL), id2);
	assert_int_equal(look(t.ft, &r2, NULL), id2);
	table_free(&t);
}

static void
test_add_rejects_present_or_equal_keys(void **state)
{
	struct table t;
	struct key16 a = key(0, 1), b = key(0, 2), c = key(0, 3), d = key(0, 4);
	uint32_t id, id2 = 1234;

	(void)state;
	table_make(&t, 16, 2);
	assert_int_equal(add2(t.ft, &a, &b, &id), 0);
	/* Either key already present, in either position. */
	assert_int_equal(add2(t.ft, &a, &c, &id2), -EEXIST);
	assert_int_equal(add2(t.ft, &c, &a, &id2), -EEXIST);
	assert_int_equal(add2(t.ft, &c, &b, &id2), -EEXIST);
	assert_int_equal(add2(t.ft, &b, &c, &id2), -EEXIST);
	/* The two keys of one record equal. */
	assert_int_equal(add2(t.ft, &c, &c, &id2), -EEXIST);
	assert_int_equal(id2, 1234);
	assert_int_equal(mpdp_flowtab_count(t.ft), 1);
	assert_int_equal(look(t.ft, &c, NULL), MPDP_FLOWTAB_NONE);
	assert_int_equal(add2(t.ft, &c, &d, &id2), 0);
	assert_int_equal(mpdp_flowtab_count(t.ft), 2);
	table_free(&t);

	table_make(&t, 4, 1);
	assert_int_equal(add1(t.ft, &a, &id), 0);
	assert_int_equal(add1(t.ft, &a, &id2), -EEXIST);
	assert_int_equal(mpdp_flowtab_count(t.ft), 1);
	table_free(&t);
}

static void
test_full_table_refuses_and_stays_unchanged(void **state)
{
	struct table t;
	uint32_t ids[8], id = 99;
	void *copy;

	(void)state;
	table_make(&t, 8, 2);
	for (uint32_t i = 0; i < 8; i++) {
		struct key16 o = key(0, i), r = key(1, i);

		assert_int_equal(add2(t.ft, &o, &r, &ids[i]), 0);
		((struct body *)mpdp_flowtab_body(t.ft, ids[i]))->stamp = 100 + i;
	}
	copy = malloc(t.len);
	assert_non_null(copy);
	memcpy(copy, t.mem, t.len);
	{
		struct key16 o = key(0, 50), r = key(1, 50);

		assert_int_equal(add2(t.ft, &o, &r, &id), -ENOSPC);
		/* Equal keys are refused as such, full or not. */
		assert_int_equal(add2(t.ft, &o, &o, &id), -EEXIST);
	}
	assert_int_equal(id, 99);
	assert_memory_equal(copy, t.mem, t.len);
	assert_int_equal(mpdp_flowtab_count(t.ft), 8);
	for (uint32_t i = 0; i < 8; i++) {
		struct key16 r = key(1, i);

		assert_int_equal(look(t.ft, &r, NULL), ids[i]);
	}
	/* Room again after one delete. */
	mpdp_flowtab_del(t.ft, ids[3]);
	{
		struct key16 o = key(0, 50), r = key(1, 50);

		assert_int_equal(add2(t.ft, &o, &r, &id), 0);
		assert_int_equal(id, ids[3]);
	}
	free(copy);
	table_free(&t);
}

static void
test_deleted_ids_are_reused(void **state)
{
	struct table t;
	uint32_t ids[6], id;

	(void)state;
	table_make(&t, 6, 1);
	for (uint32_t i = 0; i < 6; i++) {
		struct key16 k = key(0, i);

		assert_int_equal(add1(t.ft, &k, &ids[i]), 0);
		assert_true(ids[i] < 6);
	}
	mpdp_flowtab_del(t.ft, ids[1]);
	mpdp_flowtab_del(t.ft, ids[4]);
	for (uint32_t i = 10; i < 12; i++) {
		struct key16 k = key(0, i);

		assert_int_equal(add1(t.ft, &k, &id), 0);
		assert_true(id == ids[1] || id == ids[4]);
	}
	{
		struct key16 k = key(0, 20);

		assert_int_equal(add1(t.ft, &k, &id), -ENOSPC);
	}
	table_free(&t);
}

static void
test_next_walks_records_in_use(void **state)
{
	struct table t;
	uint32_t ids[10], id, seen = 0, n = 0;

	(void)state;
	table_make(&t, 32, 2);
	assert_int_equal(mpdp_flowtab_next(t.ft, MPDP_FLOWTAB_NONE), MPDP_FLOWTAB_NONE);
	for (uint32_t i = 0; i < 10; i++) {
		struct key16 o = key(0, i), r = key(1, i);

		assert_int_equal(add2(t.ft, &o, &r, &ids[i]), 0);
	}
	mpdp_flowtab_del(t.ft, ids[0]);
	mpdp_flowtab_del(t.ft, ids[5]);
	mpdp_flowtab_del(t.ft, ids[9]);
	for (id = mpdp_flowtab_next(t.ft, MPDP_FLOWTAB_NONE); id != MPDP_FLOWTAB_NONE;
	     id = mpdp_flowtab_next(t.ft, id)) {
		const struct key16 *k = mpdp_flowtab_key(t.ft, id, 0);

		assert_true(k->a < 10);
		assert_int_equal(ids[k->a], id);
		assert_false(seen & (1u << k->a));
		seen |= 1u << k->a;
		n++;
	}
	assert_int_equal(n, 7);
	assert_int_equal(seen, 0x3ffu & ~(1u << 0 | 1u << 5 | 1u << 9));
	table_free(&t);
}

struct scan_arg {
	uint64_t limit;  /* bodies with stamp < limit are expired */
	uint32_t calls;
};

static int
scan_expired(void *vbody, uint32_t id, void *varg)
{
	struct body *b = vbody;
	struct scan_arg *a = varg;

	(void)id;
	a->calls++;
	return b->stamp < a->limit;
}

static void
test_scan_is_bounded_and_wraps(void **state)
{
	struct table t;
	struct scan_arg a = { 0 };
	uint32_t cursor = 0, ids[20], total = 0;

	(void)state;
	table_make(&t, 64, 1);
	assert_int_equal(mpdp_flowtab_scan(t.ft, &cursor, 10, scan_expired, &a), 0);
	assert_int_equal(a.calls, 0);
	for (uint32_t i = 0; i < 20; i++) {
		struct key16 k = key(0, i);

		assert_int_equal(add1(t.ft, &k, &ids[i]), 0);
		((struct body *)mpdp_flowtab_body(t.ft, ids[i]))->stamp = i;
	}
	/* Nothing expired: each call looks at exactly its budget. */
	a.limit = 0;
	assert_int_equal(mpdp_flowtab_scan(t.ft, &cursor, 7, scan_expired, &a), 0);
	assert_int_equal(a.calls, 7);
	assert_int_equal(cursor, 7);
	assert_int_equal(mpdp_flowtab_scan(t.ft, &cursor, 7, scan_expired, &a), 0);
	assert_int_equal(mpdp_flowtab_scan(t.ft, &cursor, 7, scan_expired, &a), 0);
	/* 21 slots looked at from 0 over 20 used records: wrapped to 1. */
	assert_int_equal(cursor, 1);
	assert_int_equal(a.calls, 21);

	/* Expire the even stamps in small slices until a full round is done. */
	a.limit = 20;
	a.calls = 0;
	for (uint32_t i = 0; i < 20; i++)
		if (i % 2 != 0)
			((struct body *)mpdp_flowtab_body(t.ft, ids[i]))->stamp = 1000;
	for (unsigned round = 0; round < 7; round++)
		total += mpdp_flowtab_scan(t.ft, &cursor, 3, scan_expired, &a);
	assert_int_equal(total, 10);
	assert_int_equal(mpdp_flowtab_count(t.ft), 10);
	for (uint32_t i = 0; i < 20; i++) {
		struct key16 k = key(0, i);

		assert_int_equal(look(t.ft, &k, NULL), i % 2 ? ids[i] : MPDP_FLOWTAB_NONE);
	}
	/* A budget larger than the table is one pass, not several. */
	a.calls = 0;
	a.limit = 0;
	mpdp_flowtab_scan(t.ft, &cursor, 1000, scan_expired, &a);
	assert_int_equal(a.calls, 10);
	table_free(&t);
}

static void
test_reopen_keeps_records(void **state)
{
	struct table t;
	struct mpdp_flowtab *ft2;
	struct mpdp_errbuf eb = { { 0 } };
	uint32_t ids[5], id;

	(void)state;
	table_make(&t, 16, 2);
	for (uint32_t i = 0; i < 5; i++) {
		struct key16 o = key(0, i), r = key(1, i);

		assert_int_equal(add2(t.ft, &o, &r, &ids[i]), 0);
		((struct body *)mpdp_flowtab_body(t.ft, ids[i]))->stamp = 7 * i;
	}
	mpdp_flowtab_del(t.ft, ids[2]);
	assert_int_equal(mpdp_flowtab_open(t.mem, t.len, &t.p, &ft2, &eb), 1);
	assert_ptr_equal(ft2, t.mem);
	assert_int_equal(mpdp_flowtab_count(ft2), 4);
	for (uint32_t i = 0; i < 5; i++) {
		struct key16 r = key(1, i);

		id = look(ft2, &r, NULL);
		if (i == 2) {
			assert_int_equal(id, MPDP_FLOWTAB_NONE);
			continue;
		}
		assert_int_equal(id, ids[i]);
		assert_int_equal(((struct body *)mpdp_flowtab_body(ft2, id))->stamp, 7 * i);
	}
	/* The free list survived too: the next add reuses the deleted id. */
	{
		struct key16 o = key(0, 9), r = key(1, 9);

		assert_int_equal(add2(ft2, &o, &r, &id), 0);
		assert_int_equal(id, ids[2]);
	}
	table_free(&t);
}

static void
test_open_other_shape_is_refused(void **state)
{
	struct table t;
	struct mpdp_flowtab *ft2;
	struct mpdp_errbuf eb = { { 0 } };
	struct mpdp_flowtab_params p;

	(void)state;
	table_make(&t, 16, 2);

	p = t.p;
	p.max_records = 8;
	assert_int_equal(mpdp_flowtab_open(t.mem, t.len, &p, &ft2, &eb), -EEXIST);
	assert_non_null(strstr(eb.msg, "max_records"));
	p = t.p;
	p.key_size = 12;
	assert_int_equal(mpdp_flowtab_open(t.mem, t.len, &p, &ft2, &eb), -EEXIST);
	assert_non_null(strstr(eb.msg, "key_size"));
	p = t.p;
	p.body_size = 8;
	assert_int_equal(mpdp_flowtab_open(t.mem, t.len, &p, &ft2, &eb), -EEXIST);
	assert_non_null(strstr(eb.msg, "body_size"));
	p = t.p;
	p.n_keys = 1;
	assert_int_equal(mpdp_flowtab_open(t.mem, t.len, &p, &ft2, &eb), -EEXIST);
	assert_non_null(strstr(eb.msg, "n_keys"));
	table_free(&t);
}

static void
test_open_refuses_garbage_and_short_memory(void **state)
{
	struct mpdp_flowtab_params p = { .max_records = 16, .key_size = 16, .body_size = 16,
					 .n_keys = 1 };
	struct mpdp_errbuf eb = { { 0 } };
	struct mpdp_flowtab *ft = NULL;
	uint64_t len = mpdp_flowtab_mem_size(&p);
	uint8_t *mem = aligned_alloc(64, (len + 64 + 63) & ~(uint64_t)63);

	(void)state;
	assert_non_null(mem);
	memset(mem, 0xa5, len);
	assert_int_equal(mpdp_flowtab_open(mem, len, &p, &ft, &eb), -EEXIST);
	assert_non_null(strstr(eb.msg, "something else"));
	assert_null(ft);

	memset(mem, 0, len + 64);
	assert_int_equal(mpdp_flowtab_open(mem, len - 1, &p, &ft, &eb), -EINVAL);
	assert_int_equal(mpdp_flowtab_open(mem + 4, len, &p, &ft, &eb), -EINVAL);
	p.n_keys = 3;
	assert_int_equal(mpdp_flowtab_open(mem, len, &p, &ft, &eb), -EINVAL);
	assert_null(ft);
	/* Refusals wrote nothing: the memory can still be made into a table. */
	p.n_keys = 1;
	assert_int_equal(mpdp_flowtab_open(mem, len, &p, &ft, &eb), 0);
	free(mem);
}

static void
test_hash_spreads_and_is_stable(void **state)
{
	uint8_t buf[64];
	uint32_t h0, buckets[16] = { 0 };

	(void)state;
	memset(buf, 0, sizeof(buf));
	h0 = mpdp_flowtab_hash(buf, sizeof(buf));
	assert_int_equal(h0, mpdp_flowtab_hash(buf, sizeof(buf)));
	/* Length is part of the hash, and one bit anywhere changes it. */
	assert_int_not_equal(h0, mpdp_flowtab_hash(buf, 63));
	for (unsigned i = 0; i < sizeof(buf) * 8; i++) {
		buf[i / 8] ^= (uint8_t)(1u << (i % 8));
		assert_int_not_equal(mpdp_flowtab_hash(buf, sizeof(buf)), h0);
		buf[i / 8] ^= (uint8_t)(1u << (i % 8));
	}
	/* Sequential keys spread over the low bits (what the slots use). */
	for (uint32_t i = 0; i < 16000; i++) {
		struct key16 k = key(0, i);

		buckets[hash_of(&k) & 15]++;
	}
	for (unsigned i = 0; i < 16; i++)
		assert_true(buckets[i] > 800 && buckets[i] < 1200);
}

/* A reference model: the records a correct table holds. */
struct ref_rec {
	int used;
	uint32_t a0, a1;   /* key(0, a0), key(1, a1) */
	uint64_t stamp;
};

enum { RAND_MAX_RECORDS = 200, RAND_KEYS = 400, RAND_OPS = 40000 };

static uint32_t
ref_find(const struct ref_rec *ref, uint32_t tag, uint32_t a)
{
	for (uint32_t i = 0; i < RAND_MAX_RECORDS; i++)
		if (ref[i].used && (tag == 0 ? ref[i].a0 : ref[i].a1) == a)
			return i;
	return MPDP_FLOWTAB_NONE;
}

/* With clustered hashes, every key has its home in the last 16 slots, so
 * probe runs are long and wrap around the end of the slot array. */
static uint32_t
rand_hash(const struct key16 *k, int clustered, uint32_t n_slots)
{
	uint32_t h = hash_of(k);

	return clustered ? (h & ~(n_slots - 1)) | (n_slots - 16 + (h & 15)) : h;
}

static void
run_random(uint64_t seed, int clustered)
{
	static struct ref_rec ref[RAND_MAX_RECORDS];
	struct table t;
	uint32_t n_used = 0, n_slots = 1024; /* 2 * 200 * 2 rounded up */
	uint64_t rng = seed, stamp = 1;

	memset(ref, 0, sizeof(ref));
	table_make(&t, RAND_MAX_RECORDS, 2);
	for (uint32_t op = 0; op < RAND_OPS; op++) {
		uint32_t r = (uint32_t)test_rand(&rng);
		uint32_t a0 = (uint32_t)test_rand(&rng) % RAND_KEYS;
		uint32_t a1 = (uint32_t)test_rand(&rng) % RAND_KEYS;
		struct key16 k0 = key(0, a0), k1 = key(1, a1);
		uint32_t want, got, id;
		unsigned which;

		switch (r % 3) {
		case 0: { /* add */
			const void *keys[2] = { &k0, &k1 };
			uint32_t h[2] = { rand_hash(&k0, clustered, n_slots),
					  rand_hash(&k1, clustered, n_slots) };
			int exp_rc, rc;

			if (ref_find(ref, 0, a0) != MPDP_FLOWTAB_NONE ||
			    ref_find(ref, 1, a1) != MPDP_FLOWTAB_NONE)
				exp_rc = -EEXIST;
			else if (n_used == RAND_MAX_RECORDS)
				exp_rc = -ENOSPC;
			else
				exp_rc = 0;
			rc = mpdp_flowtab_add(t.ft, keys, h, &id);
			assert_int_equal(rc, exp_rc);
			if (rc == 0) {
				assert_true(id < RAND_MAX_RECORDS);
				assert_false(ref[id].used);
				ref[id] = (struct ref_rec){ 1, a0, a1, stamp };
				((struct body *)mpdp_flowtab_body(t.ft, id))->stamp = stamp++;
				n_used++;
			}
			break;
		}
		case 1: /* delete the record that has key(0, a0), if any */
			want = ref_find(ref, 0, a0);
			if (want == MPDP_FLOWTAB_NONE)
				break;
			mpdp_flowtab_del(t.ft, want);
			ref[want].used = 0;
			n_used--;
			break;
		default: /* look up both keys */
			for (uint32_t tag = 0; tag < 2; tag++) {
				struct key16 k = tag == 0 ? k0 : k1;

				want = ref_find(ref, tag, tag == 0 ? a0 : a1);
				got = mpdp_flowtab_lookup(t.ft, &k,
							  rand_hash(&k, clustered, n_slots),
							  &which);
				assert_int_equal(got, want);
				if (got != MPDP_FLOWTAB_NONE) {
					const struct body *b = mpdp_flowtab_body(t.ft, got);

					assert_int_equal(which, tag);
					assert_int_equal(b->stamp, ref[got].stamp);
				}
			}
			break;
		}
		assert_int_equal(mpdp_flowtab_count(t.ft), n_used);
	}
	/* Every key of the model is found, and the walk yields exactly the model. */
	for (uint32_t a = 0; a < RAND_KEYS; a++) {
		for (uint32_t tag = 0; tag < 2; tag++) {
			struct key16 k = key(tag, a);

			assert_int_equal(mpdp_flowtab_lookup(t.ft, &k,
							     rand_hash(&k, clustered, n_slots),
							     NULL),
					 ref_find(ref, tag, a));
		}
	}
	{
		uint32_t n = 0;

		for (uint32_t id = mpdp_flowtab_next(t.ft, MPDP_FLOWTAB_NONE);
		     id != MPDP_FLOWTAB_NONE; id = mpdp_flowtab_next(t.ft, id)) {
			assert_true(ref[id].used);
			n++;
		}
		assert_int_equal(n, n_used);
	}
	table_free(&t);
}

static void
test_random_ops_match_reference(void **state)
{
	(void)state;
	run_random(0x5eed0001ull, 0);
}

static void
test_random_ops_match_reference_clustered_hashes(void **state)
{
	(void)state;
	run_random(0x5eed0002ull, 1);
}

/* Cross-process: a child forked before the table is filled reads the
 * records the parent writes afterwards, through MAP_SHARED memory. */
struct fork_sync {
	_Atomic uint32_t ready;
};

enum { FORK_RECORDS = 500 };

static int
fork_child(void *mem, uint64_t len, const struct mpdp_flowtab_params *p,
	   struct fork_sync *sync)
{
	struct mpdp_errbuf eb = { { 0 } };
	struct mpdp_flowtab *ft;
	uint32_t n = 0;

	while (atomic_load_explicit(&sync->ready, memory_order_acquire) == 0)
		usleep(1000);
	if (mpdp_flowtab_open(mem, len, p, &ft, &eb) != 1)
		return 2;
	for (uint32_t id = mpdp_flowtab_next(ft, MPDP_FLOWTAB_NONE); id != MPDP_FLOWTAB_NONE;
	     id = mpdp_flowtab_next(ft, id)) {
		const struct key16 *k0 = mpdp_flowtab_key(ft, id, 0);
		const struct key16 *k1 = mpdp_flowtab_key(ft, id, 1);
		const struct body *b = mpdp_flowtab_body(ft, id);

		if (k0->tag != 0 || k1->tag != 1 || k0->a != k1->a || b->stamp != 1000u + k0->a ||
		    k0->a % 3 == 0)
			return 3;
		if (mpdp_flowtab_lookup(ft, k1, hash_of(k1), NULL) != id)
			return 4;
		n++;
	}
	return n == FORK_RECORDS - (FORK_RECORDS + 2) / 3 ? 0 : 5;
}

static void
test_child_process_reads_records(void **state)
{
	struct mpdp_flowtab_params p = { .max_records = 1024, .key_size = sizeof(struct key16),
					 .body_size = sizeof(struct body), .n_keys = 2 };
	struct mpdp_errbuf eb = { { 0 } };
	uint64_t len = mpdp_flowtab_mem_size(&p);
	struct mpdp_flowtab *ft;
	struct fork_sync *sync;
	uint32_t ids[FORK_RECORDS];
	void *mem;
	pid_t pid;

	(void)state;
	mem = mmap(NULL, len + 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(mem != MAP_FAILED);
	sync = (struct fork_sync *)((uint8_t *)mem + ((len + 63) & ~(uint64_t)63));
	atomic_init(&sync->ready, 0);

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		alarm(20);
		_exit(fork_child(mem, len, &p, sync));
	}
	assert_int_equal(mpdp_flowtab_open(mem, len, &p, &ft, &eb), 0);
	for (uint32_t i = 0; i < FORK_RECORDS; i++) {
		struct key16 o = key(0, i), r = key(1, i);

		assert_int_equal(add2(ft, &o, &r, &ids[i]), 0);
		((struct body *)mpdp_flowtab_body(ft, ids[i]))->stamp = 1000u + i;
	}
	for (uint32_t i = 0; i < FORK_RECORDS; i += 3)
		mpdp_flowtab_del(ft, ids[i]);
	atomic_store_explicit(&sync->ready, 1, memory_order_release);

	test_child_expect_exit(pid, 0, 30);
	munmap(mem, len + 4096);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mem_size_rejects_bad_shapes),
		cmocka_unit_test(test_one_key_add_lookup_del),
		cmocka_unit_test(test_two_keys_each_finds_the_record),
		cmocka_unit_test(test_add_rejects_present_or_equal_keys),
		cmocka_unit_test(test_full_table_refuses_and_stays_unchanged),
		cmocka_unit_test(test_deleted_ids_are_reused),
		cmocka_unit_test(test_next_walks_records_in_use),
		cmocka_unit_test(test_scan_is_bounded_and_wraps),
		cmocka_unit_test(test_reopen_keeps_records),
		cmocka_unit_test(test_open_other_shape_is_refused),
		cmocka_unit_test(test_open_refuses_garbage_and_short_memory),
		cmocka_unit_test(test_hash_spreads_and_is_stable),
		cmocka_unit_test(test_random_ops_match_reference),
		cmocka_unit_test(test_random_ops_match_reference_clustered_hashes),
		cmocka_unit_test(test_child_process_reads_records),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Mbuf tests: pool creation with a data room, metadata reset on alloc,
 * buffer layout, prepend/append/adj/trim at and past their limits (a failed
 * call changes nothing), headroom and tailroom arithmetic, all-or-none bulk
 * alloc, bulk free of mbufs from several pools, and header parsing into the
 * metadata.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mpdp_mbuf.h"
#include "mpdp_pkt.h"
#include "mpdp_pool.h"
#include "mpdp_shm.h"
#include "mpdp_worker.h"
#include "test_instance.h"
#include "test_util.h"

/* The largest data room: headroom + data room must fit buf_len (uint16_t). */
#define DATAROOM_MAX (UINT16_MAX - MPDP_MBUF_HEADROOM)

static int
setup(void **state)
{
	struct test_instance *ti = calloc(1, sizeof(*ti));

	if (ti == NULL)
		return -1;
	test_instance_create(ti, "tmbuf", 16ull << 20, 0);
	*state = ti;
	return 0;
}

static int
teardown(void **state)
{
	struct test_instance *ti = *state;

	test_instance_destroy(ti);
	free(ti);
	return 0;
}

static struct mpdp_pool *
mbuf_pool(struct test_instance *ti, const char *name, unsigned n, unsigned cache,
	  unsigned dataroom)
{
	struct mpdp_pool *p = NULL;

	assert_int_equal(mpdp_mbuf_pool_create(ti->shm, name, n, cache, dataroom, -1, &p), 0);
	assert_non_null(p);
	return p;
}

static int
cmp_ptr(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t)*(void *const *)a, y = (uintptr_t)*(void *const *)b;

	return x < y ? -1 : x > y;
}

/* A freshly allocated (or freshly created) mbuf of @pool, held by @owner. */
static void
expect_reset(const struct mpdp_mbuf *m, const struct mpdp_pool *pool, unsigned dataroom,
	     uint32_t owner)
{
	assert_ptr_equal(m->buf_addr, (const char *)m + sizeof(struct mpdp_mbuf));
	assert_ptr_equal(m->buf_addr, (const char *)m + 128);
	assert_int_equal(m->buf_len, MPDP_MBUF_HEADROOM + dataroom);
	assert_int_equal(m->data_off, MPDP_MBUF_HEADROOM);
	assert_int_equal(m->data_len, 0);
	assert_int_equal(m->port, MPDP_MBUF_PORT_NONE);
	assert_int_equal(m->packet_type, 0);
	assert_int_equal(m->hash, 0);
	assert_int_equal(m->ol_flags, 0);
	assert_int_equal(m->l2_len, 0);
	assert_int_equal(m->l3_len, 0);
	assert_int_equal(m->l4_len, 0);
	assert_int_equal(m->timestamp, 0);
	assert_ptr_equal(m->pool, pool);
	assert_int_equal(m->owner, owner);
	assert_true(mpdp_pool_owns(pool, m));
	assert_ptr_equal(mpdp_mbuf_data(m), (char *)m->buf_addr + MPDP_MBUF_HEADROOM);
	assert_int_equal(mpdp_mbuf_headroom(m), MPDP_MBUF_HEADROOM);
	assert_int_equal(mpdp_mbuf_tailroom(m), dataroom);
}

/* Scribble on every metadata field a stage may change. */
static void
dirty(struct mpdp_mbuf *m)
{
	m->data_off = 7;
	m->data_len = 99;
	m->port = 3;
	m->packet_type = 0xffffffffu;
	m->hash = 0xdeadbeef;
	m->ol_flags = ~0ull;
	m->l2_len = 14;
	m->l3_len = 20;
	m->l4_len = 8;
	m->timestamp = 123456789;
	m->owner = 77;
}

struct mbuf_list {
	struct mpdp_mbuf *m[64];
	unsigned n;
};

static void
collect_mbuf(struct mpdp_pool *pool, void *obj, unsigned idx, void *arg)
{
	struct mbuf_list *l = arg;

	(void)pool;
	(void)idx;
	if (l->n < 64)
		l->m[l->n] = obj;
	l->n++;
}

/* Snapshot of the fields a failed call must leave alone. */
struct shape {
	uint16_t data_off, data_len;
	unsigned headroom, tailroom;
	void *data;
};

static struct shape
shape_of(const struct mpdp_mbuf *m)
{
	return (struct shape){ m->data_off, m->data_len, mpdp_mbuf_headroom(m),
			       mpdp_mbuf_tailroom(m), mpdp_mbuf_data(m) };
}

static void
expect_shape(const struct mpdp_mbuf *m, struct shape s)
{
	assert_int_equal(m->data_off, s.data_off);
	assert_int_equal(m->data_len, s.data_len);
	assert_int_equal(mpdp_mbuf_headroom(m), s.headroom);
	assert_int_equal(mpdp_mbuf_tailroom(m), s.tailroom);
	assert_ptr_equal(mpdp_mbuf_data(m), s.data);
}

/* --- pool creation ----------------------------------------------------------- */

static void
test_pool_create_lays_out_every_mbuf(void **state)
{
	struct test_instance *ti = *state;
	static const unsigned rooms[] = { 1, 60, 1000, MPDP_MBUF_DATAROOM };

	for (unsigned r = 0; r < sizeof(rooms) / sizeof(rooms[0]); r++) {
		struct mpdp_pool *p = mbuf_pool(ti, "layout", 32, 0, rooms[r]), *q;
		struct mbuf_list l = { .n = 0 };

		assert_int_equal(mpdp_mbuf_pool_dataroom(p), rooms[r]);
		assert_int_equal(mpdp_pool_lookup(ti->shm, "layout", &q), 0);
		assert_ptr_equal(q, p);
		assert_int_equal(mpdp_pool_avail_count(p), 32);
		assert_int_equal(mpdp_pool_obj_iter(p, collect_mbuf, &l), 32);
		assert_int_equal(l.n, 32);
		for (unsigned i = 0; i < 32; i++) {
			const struct mpdp_mbuf *m = l.m[i];

			expect_reset(m, p, rooms[r], MPDP_POOL_NO_CACHE);
			assert_int_equal(m->buf_iova, 0);
			/* The buffer ends before the next mbuf begins. */
			if (i + 1 < 32)
				assert_true((uintptr_t)m->buf_addr + m->buf_len <= (uintptr_t)l.m[i + 1]);
		}
		assert_int_equal(mpdp_pool_delete(ti->shm, p), 0);
	}
}

static void
test_pool_create_rejects_bad_dataroom(void **state)
{
	struct test_instance *ti = *state;
	static const unsigned bad[] = { 0, DATAROOM_MAX + 1, UINT16_MAX, UINT16_MAX + 1u, UINT32_MAX };
	struct mpdp_pool *sentinel = (struct mpdp_pool *)(uintptr_t)0x1234, *p = sentinel;
	uint64_t used0, used1, total;

	mpdp_shm_usage(ti->shm, &used0, &total);
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(mpdp_mbuf_pool_create(ti->shm, "bad", 8, 0, bad[i], -1, &p), -EINVAL);
		assert_ptr_equal(p, sentinel);
	}
	/* Pool parameters are checked as by mpdp_pool_create(). */
	assert_int_equal(mpdp_mbuf_pool_create(ti->shm, "bad", 0, 0, 100, -1, &p), -EINVAL);
	assert_int_equal(mpdp_mbuf_pool_create(ti->shm, NULL, 8, 0, 100, -1, &p), -EINVAL);
	assert_int_equal(mpdp_mbuf_pool_create(ti->shm, "bad", 8, MPDP_POOL_CACHE_MAX + 1, 100, -1, &p),
			 -EINVAL);
	assert_ptr_equal(p, sentinel);
	mpdp_shm_usage(ti->shm, &used1, &total);
	assert_int_equal(used1, used0);
	assert_int_equal(mpdp_pool_lookup(ti->shm, "bad", &p), -ENOENT);

	/* The largest legal data room fills buf_len exactly. */
	p = mbuf_pool(ti, "max", 2, 0, DATAROOM_MAX);
	assert_int_equal(mpdp_mbuf_pool_dataroom(p), DATAROOM_MAX);
	assert_int_equal(mpdp_mbuf_pool_create(ti->shm, "max", 2, 0, 100, -1, &p), -EEXIST);
	assert_int_equal(mpdp_pool_lookup(ti->shm, "max", &p), 0);
	assert_int_equal(mpdp_pool_delete(ti->shm, p), 0);
}

/* --- alloc and free ------------------------------------------------------------ */

static void
test_alloc_resets_metadata(void **state)
{
	struct test_instance *ti = *state;
	struct mpdp_pool *p = mbuf_pool(ti, "reset", 4, 0, 512);
	struct mpdp_mbuf *m[4];

	for (unsigned i = 0; i < 4; i++) {
		m[i] = mpdp_mbuf_alloc(p, MPDP_POOL_NO_CACHE);
		assert_non_null(m[i]);
		expect_reset(m[i], p, 512, MPDP_POOL_NO_CACHE);
		dirty(m[i]);
	}
	for (unsigned i = 0; i < 4; i++)
		mpdp_mbuf_free(m[i], MPDP_POOL_NO_CACHE);
	assert_int_equal(mpdp_pool_avail_count(p), 4);
	/* The same four mbufs come back, clean. */
	assert_int_equal(mpdp_mbuf_alloc_bulk(p, MPDP_POOL_NO_CACHE, m, 4), 4);
	for (unsigned i = 0; i < 4; i++)
		expect_reset(m[i], p, 512, MPDP_POOL_NO_CACHE);
	mpdp_mbuf_free_bulk(m, 4, MPDP_POOL_NO_CACHE);
	assert_int_equal(mpdp_pool_avail_count(p), 4);
	assert_int_equal(mpdp_pool_delete(ti->shm, p), 0);
}

static void
test_alloc_records_worker_as_owner(void **state)
{
	struct test_instance *ti = *state;
	struct mpdp_pool *p = mbuf_pool(ti, "owner", 64, 8, 256);
	struct mpdp_mbuf *m[3];
	unsigned wid;

	assert_int_equal(mpdp_worker_register(ti->shm, "mbuf", -1, &wid), 0);
	assert_int_equal(mpdp_mbuf_alloc_bulk(p, wid, m, 3), 3);
	for (unsigned i = 0; i < 3; i++) {
		expect_reset(m[i], p, 256, wid);
		dirty(m[i]);
	}
	/* Through the worker's cache and back: reset again, owner again. */
	mpdp_mbuf_free_bulk(m, 3, wid);
	assert_int_equal(mpdp_pool_in_use_count(p), 0);
	assert_int_equal(mpdp_mbuf_alloc_bulk(p, wid, m, 3), 3);
	for (unsigned i = 0; i < 3; i++)
		expect_reset(m[i], p, 256, wid);
	mpdp_mbuf_free_bulk(m, 3, wid);
	assert_int_equal(mpdp_worker_release(ti->shm, wid), 0);
	assert_int_equal(mpdp_pool_cached_count(p), 0);
	assert_int_equal(mpdp_pool_avail_count(p), 64);
	assert_int_equal(mpdp_pool_delete(ti->shm, p), 0);
}

static void
test_alloc_on_empty_pool_returns_null(void **state)
{
	struct test_instance *ti = *state;
	struct mpdp_pool *p = mbuf_pool(ti, "empty", 2, 0, 64);
	struct mpdp_mbuf *a = mpdp_mbuf_alloc(p, MPDP_POOL_NO_CACHE);
	struct mpdp_mbuf *b = mpdp_mbuf_alloc(p, MPDP_POOL_NO_CACHE);

	assert_non_null(a);
	assert_non_null(b);
	assert_ptr_not_equal(a, b);
	assert_null(mpdp_mbuf_alloc(p, MPDP_POOL_NO_CACHE));
	assert_int_equal(mpdp_pool_in_use_count(p), 2);
	mpdp_mbuf_free(a, MPDP_POOL_NO_CACHE);
	assert_ptr_equal(mpdp_mbuf_alloc(p, MPDP_POOL_NO_CACHE), a);
	mpdp_mbuf_free(a, MPDP_POOL_NO_CACHE);
	mpdp_mbuf_free(b, MPDP_POOL_NO_CACHE);
	assert_int_equal(mpdp_pool_avail_count(p), 2);
	assert_int_equal(mpdp_pool_delete(ti->shm, p), 0);
}

static void
test_alloc_bulk_is_all_or_none(void **state)
{
	struct test_instance *ti = *state;
	struct mpdp_pool *p = mbuf_pool(ti, "bulk", 8, 0, 64);
	struct mpdp_mbuf *m[9];

	assert_int_equal(mpdp_mbuf_alloc_bulk(p, MPDP_POOL_NO_CACHE, m, 9), 0);
	assert_int_equal(mpdp_pool_avail_count(p), 8);
	assert_int_equal(mpdp_mbuf_alloc_bulk(p, MPDP_POOL_NO_CACHE, m, 5), 5);
	assert_int_equal(mpdp_mbuf_alloc_bulk(p, MPDP_POOL_NO_CACHE, m + 5, 4), 0);
	assert_int_equal(mpdp_pool_avail_count(p), 3);
	assert_int_equal(mpdp_mbuf_alloc_bulk(p, MPDP_POOL_NO_CACHE, m + 5, 3), 3);
	assert_int_equal(mpdp_pool_avail_count(p), 0);
	assert_int_equal(mpdp_mbuf_alloc_bulk(p, MPDP_POOL_NO_CACHE, m + 8, 1), 0);
	qsort(m, 8, sizeof(m[0]), cmp_ptr);
	for (unsigned i = 0; i < 8; i++) {
		expect_reset(m[i], p, 64, MPDP_POOL_NO_CACHE);
		if (i > 0)
			assert_ptr_not_equal(m[i], m[i - 1]);
	}
	mpdp_mbuf_free_bulk(m, 8, MPDP_POOL_NO_CACHE);
	assert_int_equal(mpdp_pool_avail_count(p), 8);
	assert_int_equal(mpdp_pool_delete(ti->shm, p), 0);
}

static void
test_alloc_bulk_with_cache_is_all_or_none(void **state)
{
	struct test_instance *ti = *state;
	struct mpdp_pool *p = mbuf_pool(ti, "bulkc", 16, 8, 64);
	struct mpdp_mbuf *m[17];
	unsigned wid;

	assert_int_equal(mpdp_worker_register(ti->shm, "bulk", -1, &wid), 0);
	assert_int_equal(mpdp_mbuf_alloc_bulk(p, MPDP_POOL_NO_CACHE, m, 13), 13);
	/* 3 left: a request of 4 through the cache fails whole. */
	assert_int_equal(mpdp_mbuf_alloc_bulk(p, wid, m + 13, 4), 0);
	assert_int_equal(mpdp_pool_avail_count(p), 3);
	assert_int_equal(mpdp_mbuf_alloc_bulk(p, wid, m + 13, 3), 3);
	assert_int_equal(mpdp_pool_avail_count(p), 0);
	mpdp_mbuf_free_bulk(m, 16, wid);
	assert_int_equal(mpdp_pool_avail_count(p), 16);
	assert_int_equal(mpdp_worker_release(ti->shm, wid), 0);
	assert_int_equal(mpdp_pool_cached_count(p), 0);
	assert_int_equal(mpdp_pool_delete(ti->shm, p), 0);
}

/* Drain @p (all @n free, no caches) and check every mbuf is its own. */
static void
expect_pool_holds_only_its_own(struct mpdp_pool *p, unsigned n)
{
	struct mpdp_mbuf *m[32];

	assert_true(n <= 32);
	assert_int_equal(mpdp_pool_cached_count(p), 0);
	assert_int_equal(mpdp_mbuf_alloc_bulk(p, MPDP_POOL_NO_CACHE, m, n), n);
	assert_null(mpdp_mbuf_alloc(p, MPDP_POOL_NO_CACHE));
	qsort(m, n, sizeof(m[0]), cmp_ptr);
	for (unsigned i = 0; i < n; i++) {
		assert_true(mpdp_pool_owns(p, m[i]));
		assert_ptr_equal(m[i]->pool, p);
		if (i > 0)
			assert_ptr_not_equal(m[i], m[i - 1]);
	}
	mpdp_mbuf_free_bulk(m, n, MPDP_POOL_NO_CACHE);
}

static void
test_free_bulk_returns_each_mbuf_to_its_own_pool(void **state)
{
	struct test_instance *ti = *state;
	struct mpdp_pool *a = mbuf_pool(ti, "pa", 16, 4, 100);
	struct mpdp_pool *b = mbuf_pool(ti, "pb", 12, 4, 300);
	/* Which pool each slot of the burst comes from: runs of one, two and three. */
	static const char from[] = "aababbbaab";
	struct mpdp_mbuf *m[10];
	unsigned wid;

	assert_int_equal(mpdp_worker_register(ti->shm, "free", -1, &wid), 0);
	for (unsigned pass = 0; pass < 2; pass++) {
		unsigned id = pass == 0 ? MPDP_POOL_NO_CACHE : wid;

		for (unsigned i = 0; i < 10; i++) {
			m[i] = mpdp_mbuf_alloc(from[i] == 'a' ? a : b, MPDP_POOL_NO_CACHE);
			assert_non_null(m[i]);
		}
		assert_int_equal(mpdp_pool_in_use_count(a), 5);
		assert_int_equal(mpdp_pool_in_use_count(b), 5);
		mpdp_mbuf_free_bulk(m, 10, id);
		assert_int_equal(mpdp_pool_avail_count(a), 16);
		assert_int_equal(mpdp_pool_avail_count(b), 12);
		if (pass == 1) {
			/* Each run went to that pool's cache of this worker: 2+1+2 and 1+3+1. */
			assert_int_equal(mpdp_pool_cached_count(a), 5);
			assert_int_equal(mpdp_pool_cached_count(b), 5);
			mpdp_pool_cache_flush(a, wid);
			mpdp_pool_cache_flush(b, wid);
		}
		expect_pool_holds_only_its_own(a, 16);
		expect_pool_holds_only_its_own(b, 12);
	}
	/* Nothing to free is fine. */
	mpdp_mbuf_free_bulk(m, 0, wid);
	assert_int_equal(mpdp_pool_avail_count(a), 16);
	assert_int_equal(mpdp_worker_release(ti->shm, wid), 0);
	assert_int_equal(mpdp_pool_delete(ti->shm, a), 0);
	assert_int_equal(mpdp_pool_delete(ti->shm, b), 0);
}

/* --- prepend, append, adj, trim -------------------------------------------------- */

static void
test_prepend_fails_past_headroom_and_changes_nothing(void **state)
{
	struct test_instance *ti = *state;
	struct mpdp_pool *p = mbuf_pool(ti, "pre", 1, 0, 256);
	struct mpdp_mbuf *m = mpdp_mbuf_alloc(p, MPDP_POOL_NO_CACHE);
	char *base;
	struct shape s;

	assert_non_null(m);
	base = m->buf_addr;
	s = shape_of(m);
	assert_null(mpdp_mbuf_prepend(m, MPDP_MBUF_HEADROOM + 1));
	assert_null(mpdp_mbuf_prepend(m, UINT32_MAX));
	expect_shape(m, s);
	assert_ptr_equal(mpdp_mbuf_prepend(m, 0), base + MPDP_MBUF_HEADROOM);
	expect_shape(m, s);

	assert_ptr_equal(mpdp_mbuf_prepend(m, 28), base + 100);
	assert_int_equal(m->data_off, 100);
	assert_int_equal(m->data_len, 28);
	assert_int_equal(mpdp_mbuf_headroom(m), 100);
	assert_int_equal(mpdp_mbuf_tailroom(m), 256);
	s = shape_of(m);
	assert_null(mpdp_mbuf_prepend(m, 101));
	expect_shape(m, s);
	/* Exactly the headroom left. */
	assert_ptr_equal(mpdp_mbuf_prepend(m, 100), base);
	assert_int_equal(m->data_off, 0);
	assert_int_equal(m->data_len, MPDP_MBUF_HEADROOM);
	assert_int_equal(mpdp_mbuf_headroom(m), 0);
	s = shape_of(m);
	assert_null(mpdp_mbuf_prepend(m, 1));
	expect_shape(m, s);
	mpdp_mbuf_free(m, MPDP_POOL_NO_CACHE);
	assert_int_equal(mpdp_pool_delete(ti->shm, p), 0);
}

static void
test_append_fails_past_tailroom_and_changes_nothing(void **state)
{
	struct test_instance *ti = *state;
	struct mpdp_pool *p = mbuf_pool(ti, "app", 1, 0, 512);
	struct mpdp_mbuf *m = mpdp_mbuf_alloc(p, MPDP_POOL_NO_CACHE);
	char *base, *tail;
	struct shape s;

	assert_non_null(m);
	base = m->buf_addr;
	s = shape_of(m);
	assert_null(mpdp_mbuf_append(m, 513));
	assert_null(mpdp_mbuf_append(m, UINT32_MAX));
	expect_shape(m, s);
	assert_ptr_equal(mpdp_mbuf_append(m, 0), base + MPDP_MBUF_HEADROOM);
	expect_shape(m, s);

	tail = mpdp_mbuf_append(m, 100);
	assert_ptr_equal(tail, base + MPDP_MBUF_HEADROOM);
	memset(tail, 0x11, 100);
	assert_int_equal(m->data_len, 100);
	assert_int_equal(mpdp_mbuf_tailroom(m), 412);
	s = shape_of(m);
	assert_null(mpdp_mbuf_append(m, 413));
	expect_shape(m, s);
	/* Exactly the tailroom left. */
	tail = mpdp_mbuf_append(m, 412);
	assert_ptr_equal(tail, base + MPDP_MBUF_HEADROOM + 100);
	memset(tail, 0x22, 412);
	assert_int_equal(m->data_len, 512);
	assert_int_equal(mpdp_mbuf_tailroom(m), 0);
	assert_int_equal(mpdp_mbuf_headroom(m), MPDP_MBUF_HEADROOM);
	s = shape_of(m);
	assert_null(mpdp_mbuf_append(m, 1));
	expect_shape(m, s);
	/* The buffer ends where the tailroom did. */
	assert_ptr_equal((char *)mpdp_mbuf_data(m) + m->data_len, base + m->buf_len);
	mpdp_mbuf_free(m, MPDP_POOL_NO_CACHE);
	assert_int_equal(mpdp_pool_delete(ti->shm, p), 0);
}

static void
test_adj_fails_past_packet_and_changes_nothing(void **state)
{
	struct test_instance *ti = *state;
	struct mpdp_pool *p = mbuf_pool(ti, "adj", 1, 0, 512);
	struct mpdp_mbuf *m = mpdp_mbuf_alloc(p, MPDP_POOL_NO_CACHE);
	char *base;
	struct shape s;

	assert_non_null(m);
	base = m->buf_addr;
	s = shape_of(m);
	assert_null(mpdp_mbuf_adj(m, 1));
	expect_shape(m, s);
	assert_ptr_equal(mpdp_mbuf_adj(m, 0), base + MPDP_MBUF_HEADROOM);
	expect_shape(m, s);

	assert_non_null(mpdp_mbuf_append(m, 100));
	s = shape_of(m);
	assert_null(mpdp_mbuf_adj(m, 101));
	assert_null(mpdp_mbuf_adj(m, UINT32_MAX));
	expect_shape(m, s);
	assert_ptr_equal(mpdp_mbuf_adj(m, 40), base + MPDP_MBUF_HEADROOM + 40);
	assert_int_equal(m->data_len, 60);
	assert_int_equal(mpdp_mbuf_headroom(m), MPDP_MBUF_HEADROOM + 40);
	assert_int_equal(mpdp_mbuf_tailroom(m), 412);
	/* Exactly the packet. */
	assert_ptr_equal(mpdp_mbuf_adj(m, 60), base + MPDP_MBUF_HEADROOM + 100);
	assert_int_equal(m->data_len, 0);
	s = shape_of(m);
	assert_null(mpdp_mbuf_adj(m, 1));
	expect_shape(m, s);
	mpdp_mbuf_free(m, MPDP_POOL_NO_CACHE);
	assert_int_equal(mpdp_pool_delete(ti->shm, p), 0);
}

static void
test_trim_fails_past_packet_and_changes_nothing(void **state)
{
	struct test_instance *ti = *state;
	struct mpdp_pool *p = mbuf_pool(ti, "trim", 1, 0, 512);
	struct mpdp_mbuf *m = mpdp_mbuf_alloc(p, MPDP_POOL_NO_CACHE);
	struct shape s;

	assert_non_null(m);
	s = shape_of(m);
	assert_int_equal(mpdp_mbuf_trim(m, 1), -EINVAL);
	expect_shape(m, s);
	assert_int_equal(mpdp_mbuf_trim(m, 0), 0);
	expect_shape(m, s);

	assert_non_null(mpdp_mbuf_append(m, 100));
	s = shape_of(m);
	assert_int_equal(mpdp_mbuf_trim(m, 101), -EINVAL);
	assert_int_equal(mpdp_mbuf_trim(m, UINT32_MAX), -EINVAL);
	expect_shape(m, s);
	assert_int_equal(mpdp_mbuf_trim(m, 30), 0);
	assert_int_equal(m->data_len, 70);
	assert_int_equal(mpdp_mbuf_headroom(m), MPDP_MBUF_HEADROOM);
	assert_int_equal(mpdp_mbuf_tailroom(m), 442);
	/* Exactly the packet. */
	assert_int_equal(mpdp_mbuf_trim(m, 70), 0);
	assert_int_equal(m->data_len, 0);
	assert_int_equal(mpdp_mbuf_tailroom(m), 512);
	s = shape_of(m);
	assert_int_equal(mpdp_mbuf_trim(m, 1), -EINVAL);
	expect_shape(m, s);
	mpdp_mbuf_free(m, MPDP_POOL_NO_CACHE);
	assert_int_equal(mpdp_pool_delete(ti->shm, p), 0);
}

static void
test_largest_dataroom_fills_the_whole_buffer(void **state)
{
	struct test_instance *ti = *state;
	struct mpdp_pool *p = mbuf_pool(ti, "big", 2, 0, DATAROOM_MAX);
	struct mpdp_mbuf *m = mpdp_mbuf_alloc(p, MPDP_POOL_NO_CACHE);
	struct shape s;

	assert_non_null(m);
	expect_reset(m, p, DATAROOM_MAX, MPDP_POOL_NO_CACHE);
	assert_int_equal(m->buf_len, UINT16_MAX);
	assert_non_null(mpdp_mbuf_append(m, DATAROOM_MAX));
	assert_non_null(mpdp_mbuf_prepend(m, MPDP_MBUF_HEADROOM));
	assert_int_equal(m->data_len, UINT16_MAX);
	assert_int_equal(mpdp_mbuf_headroom(m), 0);
	assert_int_equal(mpdp_mbuf_tailroom(m), 0);
	s = shape_of(m);
	assert_null(mpdp_mbuf_append(m, 1));
	assert_null(mpdp_mbuf_prepend(m, 1));
	expect_shape(m, s);
	assert_ptr_equal(mpdp_mbuf_adj(m, UINT16_MAX), (char *)m->buf_addr + UINT16_MAX);
	assert_int_equal(m->data_len, 0);
	assert_int_equal(mpdp_mbuf_tailroom(m), 0);
	mpdp_mbuf_free(m, MPDP_POOL_NO_CACHE);
	assert_int_equal(mpdp_pool_delete(ti->shm, p), 0);
}

static void
test_prepend_and_adj_keep_the_payload(void **state)
{
	struct test_instance *ti = *state;
	struct mpdp_pool *p = mbuf_pool(ti, "payload", 1, 0, 256);
	struct mpdp_mbuf *m = mpdp_mbuf_alloc(p, MPDP_POOL_NO_CACHE);
	unsigned char *d;

	assert_non_null(m);
	d = mpdp_mbuf_append(m, 64);
	assert_non_null(d);
	for (unsigned i = 0; i < 64; i++)
		d[i] = (unsigned char)i;
	d = mpdp_mbuf_prepend(m, 14);
	assert_non_null(d);
	memset(d, 0xee, 14);
	for (unsigned i = 0; i < 64; i++)
		assert_int_equal(d[14 + i], i);
	d = mpdp_mbuf_adj(m, 14);
	assert_non_null(d);
	for (unsigned i = 0; i < 64; i++)
		assert_int_equal(d[i], i);
	assert_int_equal(mpdp_mbuf_trim(m, 4), 0);
	assert_int_equal(m->data_len, 60);
	assert_int_equal(((unsigned char *)mpdp_mbuf_data(m))[59], 59);
	mpdp_mbuf_free(m, MPDP_POOL_NO_CACHE);
	assert_int_equal(mpdp_pool_delete(ti->shm, p), 0);
}

/* Random edits against a model: each succeeds exactly when it fits. */
static void
test_headroom_data_and_tailroom_always_sum_to_buf_len(void **state)
{
	struct test_instance *ti = *state;
	struct mpdp_pool *p = mbuf_pool(ti, "arith", 1, 0, 300);
	struct mpdp_mbuf *m = mpdp_mbuf_alloc(p, MPDP_POOL_NO_CACHE);
	const unsigned buf_len = MPDP_MBUF_HEADROOM + 300;
	unsigned off = MPDP_MBUF_HEADROOM, len = 0;
	uint64_t seed = 0x5eed;

	assert_non_null(m);
	for (unsigned step = 0; step < 20000; step++) {
		unsigned k = (unsigned)(test_rand(&seed) % 200);
		unsigned tail = buf_len - off - len;
		void *r;

		switch (test_rand(&seed) % 4) {
		case 0:
			r = mpdp_mbuf_prepend(m, k);
			if (k <= off) {
				off -= k;
				len += k;
				assert_ptr_equal(r, (char *)m->buf_addr + off);
			} else {
				assert_null(r);
			}
			break;
		case 1:
			r = mpdp_mbuf_append(m, k);
			if (k <= tail) {
				assert_ptr_equal(r, (char *)m->buf_addr + off + len);
				len += k;
			} else {
				assert_null(r);
			}
			break;
		case 2:
			r = mpdp_mbuf_adj(m, k);
			if (k <= len) {
				off += k;
				len -= k;
				assert_ptr_equal(r, (char *)m->buf_addr + off);
			} else {
				assert_null(r);
			}
			break;
		default:
			if (k <= len) {
				assert_int_equal(mpdp_mbuf_trim(m, k), 0);
				len -= k;
			} else {
				assert_int_equal(mpdp_mbuf_trim(m, k), -EINVAL);
			}
			break;
		}
		assert_int_equal(m->data_off, off);
		assert_int_equal(m->data_len, len);
		assert_int_equal(mpdp_mbuf_headroom(m), off);
		assert_int_equal(mpdp_mbuf_tailroom(m), buf_len - off - len);
		assert_int_equal(mpdp_mbuf_headroom(m) + m->data_len + mpdp_mbuf_tailroom(m), buf_len);
		assert_ptr_equal(mpdp_mbuf_data(m), (char *)m->buf_addr + off);
	}
	/* A reset puts the packet back at the default headroom. */
	mpdp_mbuf_free(m, MPDP_POOL_NO_CACHE);
	m = mpdp_mbuf_alloc(p, MPDP_POOL_NO_CACHE);
	assert_non_null(m);
	expect_reset(m, p, 300, MPDP_POOL_NO_CACHE);
	mpdp_mbuf_free(m, MPDP_POOL_NO_CACHE);
	assert_int_equal(mpdp_pool_delete(ti->shm, p), 0);
}

/* --- parse ------------------------------------------------------------------- */

/* Ethernet, IPv4 (20 bytes, total length 28), UDP 1234 -> 5678 without payload. */
static const uint8_t udp4_frame[42] = {
	0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x08, 0x00,
	0x45, 0x00, 0x00, 0x1c, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00,
	10, 0, 0, 1, 10, 0, 0, 2,
	0x04, 0xd2, 0x16, 0x2e, 0x00, 0x08, 0x00, 0x00,
};

static struct mpdp_mbuf *
mbuf_with(struct mpdp_pool *p, const uint8_t *bytes, unsigned len)
{
	struct mpdp_mbuf *m = mpdp_mbuf_alloc(p, MPDP_POOL_NO_CACHE);
	void *d;

	assert_non_null(m);
	d = mpdp_mbuf_append(m, len);
	assert_non_null(d);
	memcpy(d, bytes, len);
	return m;
}

static void
test_parse_records_packet_type_and_header_lengths(void **state)
{
	struct test_instance *ti = *state;
	struct mpdp_pool *p = mbuf_pool(ti, "parse", 2, 0, 256);
	struct mpdp_mbuf *m = mbuf_with(p, udp4_frame, sizeof(udp4_frame));
	const uint32_t want = MPDP_PTYPE_ETH | MPDP_PTYPE_IPV4 | MPDP_PTYPE_UDP;
	struct mpdp_pkt_info info;

	m->packet_type = MPDP_PTYPE_TCP;   /* stale: replaced, not or-ed */
	m->l4_len = 99;
	assert_int_equal(mpdp_mbuf_parse(m, &info), 0);
	assert_int_equal(m->packet_type, want);
	assert_int_equal(m->l2_len, 14);
	assert_int_equal(m->l3_len, 20);
	assert_int_equal(m->l4_len, 8);
	assert_int_equal(info.ptype, want);
	assert_int_equal(info.l3_off, 14);
	assert_int_equal(info.src_port, 1234);
	assert_int_equal(info.dst_port, 5678);
	/* The packet itself is untouched. */
	assert_int_equal(m->data_len, sizeof(udp4_frame));
	assert_memory_equal(mpdp_mbuf_data(m), udp4_frame, sizeof(udp4_frame));
	/* The info is optional. */
	m->packet_type = 0;
	assert_int_equal(mpdp_mbuf_parse(m, NULL), 0);
	assert_int_equal(m->packet_type, want);
	mpdp_mbuf_free(m, MPDP_POOL_NO_CACHE);
	assert_int_equal(mpdp_pool_delete(ti->shm, p), 0);
}

static void
test_parse_stops_at_data_len(void **state)
{
	struct test_instance *ti = *state;
	struct mpdp_pool *p = mbuf_pool(ti, "parse", 2, 0, 256);
	struct mpdp_mbuf *m = mbuf_with(p, udp4_frame, sizeof(udp4_frame));
	struct mpdp_pkt_info info;

	/* The whole frame sits in the buffer, but the packet ends inside the UDP header. */
	assert_int_equal(mpdp_mbuf_trim(m, 4), 0);
	assert_int_equal(mpdp_mbuf_parse(m, &info), -EINVAL);
	assert_true(info.flags & MPDP_PKT_F_TRUNCATED);
	assert_true(m->packet_type & MPDP_PTYPE_ETH);
	assert_true(m->packet_type & MPDP_PTYPE_IPV4);
	assert_int_equal(m->l2_len, 14);
	assert_int_equal(m->l3_len, 20);
	assert_int_equal(m->l4_len, 0);
	/* Nothing at all. */
	assert_int_equal(mpdp_mbuf_trim(m, m->data_len), 0);
	assert_int_equal(mpdp_mbuf_parse(m, &info), -EINVAL);
	assert_true(info.flags & MPDP_PKT_F_TRUNCATED);
	mpdp_mbuf_free(m, MPDP_POOL_NO_CACHE);
	assert_int_equal(mpdp_pool_delete(ti->shm, p), 0);
}

#define FIXTURE_TEST(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		FIXTURE_TEST(test_pool_create_lays_out_every_mbuf),
		FIXTURE_TEST(test_pool_create_rejects_bad_dataroom),
		FIXTURE_TEST(test_alloc_resets_metadata),
		FIXTURE_TEST(test_alloc_records_worker_as_owner),
		FIXTURE_TEST(test_alloc_on_empty_pool_returns_null),
		FIXTURE_TEST(test_alloc_bulk_is_all_or_none),
		FIXTURE_TEST(test_alloc_bulk_with_cache_is_all_or_none),
		FIXTURE_TEST(test_free_bulk_returns_each_mbuf_to_its_own_pool),
		FIXTURE_TEST(test_prepend_fails_past_headroom_and_changes_nothing),
		FIXTURE_TEST(test_append_fails_past_tailroom_and_changes_nothing),
		FIXTURE_TEST(test_adj_fails_past_packet_and_changes_nothing),
		FIXTURE_TEST(test_trim_fails_past_packet_and_changes_nothing),
		FIXTURE_TEST(test_largest_dataroom_fills_the_whole_buffer),
		FIXTURE_TEST(test_prepend_and_adj_keep_the_payload),
		FIXTURE_TEST(test_headroom_data_and_tailroom_always_sum_to_buf_len),
		FIXTURE_TEST(test_parse_records_packet_type_and_header_lengths),
		FIXTURE_TEST(test_parse_stops_at_data_len),
	};

	return cmocka_run_group_tests_name("mbuf", tests, NULL, NULL);
}

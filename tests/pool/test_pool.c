/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Mempool tests: create, lookup and delete; bulk get and put with and
 * without per-worker caches; exact counters after every step; object
 * iteration; and get/put from several threads and several processes at once,
 * with an ownership byte per object and a stamp in every object so that an
 * object handed to two holders at once is caught.
 *
 * Run with "stress" as the first argument for the long thread and process
 * churn (meson suite 'stress').
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mpdp_pool.h"
#include "mpdp_ring.h"
#include "mpdp_shm.h"
#include "mpdp_worker.h"
#include "test_instance.h"
#include "test_util.h"

#define CHILD_TIMEOUT_S 300

/*
 * How hard the thread and process churn tests work. Threads and processes
 * are capped at the cores this process may use (and at least 2): like every
 * worker, they spin on the pool's lock-free ring and must not be preempted
 * by one another while they hold a claim on it.
 */
struct load {
	unsigned threads;     /* most threads in the thread churn */
	unsigned children;    /* most processes in the process churn */
	unsigned iters;       /* get-or-put steps per thread or process */
};

static const struct load fast_load = { .threads = 4, .children = 4, .iters = 20000 };
static const struct load stress_load = { .threads = 4, .children = 4, .iters = 2000000 };

static unsigned
usable_cores(unsigned most)
{
	cpu_set_t set;
	unsigned n = 2;

	if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 2)
		n = (unsigned)CPU_COUNT(&set);
	return n < most ? n : most;
}

struct fixture {
	struct test_instance ti;
	struct mpdp_shm *shm;
	const struct load *load;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	f->load = *state != NULL ? *state : &fast_load;
	test_instance_create(&f->ti, "tpool", 16ull << 20, 0);
	f->shm = f->ti.shm;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	test_instance_destroy(&f->ti);
	free(f);
	return 0;
}

/* --- helpers --------------------------------------------------------------- */

#define EXPECT_COUNTS(pool, n, avail, cached) \
	expect_counts_at((pool), (n), (avail), (cached), __FILE__, __LINE__)

/* Available, in use and cached all exact: in use is n - available. */
static void
expect_counts_at(const struct mpdp_pool *pool, unsigned n, unsigned avail, unsigned cached,
		 const char *file, int line)
{
	unsigned a = mpdp_pool_avail_count(pool);
	unsigned u = mpdp_pool_in_use_count(pool);
	unsigned c = mpdp_pool_cached_count(pool);

	if (a != avail || u != n - avail || c != cached) {
		print_error("%s:%d: available %u, in use %u, cached %u; expected %u, %u, %u\n",
			    file, line, a, u, c, avail, n - avail, cached);
		_fail(file, line);
	}
}

static int
cmp_ptr(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t)*(void *const *)a, y = (uintptr_t)*(void *const *)b;

	return x < y ? -1 : x > y;
}

/* Every object of a pool, as mpdp_pool_obj_iter gives them. */
struct obj_list {
	void **addr;
	unsigned n, cap;
	unsigned idx_mismatch;    /* calls whose idx was not the call number */
	struct mpdp_pool *pool;
	unsigned wrong_pool;      /* calls with another pool */
};

static void
collect_obj(struct mpdp_pool *pool, void *obj, unsigned idx, void *arg)
{
	struct obj_list *l = arg;

	if (idx != l->n)
		l->idx_mismatch++;
	if (pool != l->pool)
		l->wrong_pool++;
	if (l->n < l->cap)
		l->addr[l->n] = obj;
	l->n++;
}

/* Collect every object of @pool (n of them) into a new array, checking the walk. */
static void **
all_objects(struct mpdp_pool *pool, unsigned n)
{
	struct obj_list l = { .cap = n, .pool = pool };

	l.addr = calloc(n, sizeof(*l.addr));
	assert_non_null(l.addr);
	assert_int_equal(mpdp_pool_obj_iter(pool, collect_obj, &l), n);
	assert_int_equal(l.n, n);
	assert_int_equal(l.idx_mismatch, 0);
	assert_int_equal(l.wrong_pool, 0);
	return l.addr;
}

/* Object number of @obj in the sorted array @addr, or -1. */
static long
obj_index(void *const *addr, unsigned n, const void *obj)
{
	void *const *hit = bsearch(&obj, addr, n, sizeof(*addr), cmp_ptr);

	return hit == NULL ? -1 : (long)(hit - addr);
}

/* Object number of @obj, which must be one of the @n objects in @addr. */
static size_t
obj_number(void *const *addr, unsigned n, const void *obj)
{
	long idx = obj_index(addr, n, obj);

	if (idx < 0) {
		print_error("%p is not an object of the pool\n", obj);
		fail();
		return 0;
	}
	return (size_t)idx;
}

/* Objects in @objs are distinct objects of @pool. */
static void
expect_distinct_owned(const struct mpdp_pool *pool, void *const *objs, unsigned k)
{
	void **sorted = malloc((k ? k : 1) * sizeof(*sorted));

	assert_non_null(sorted);
	memcpy(sorted, objs, k * sizeof(*sorted));
	qsort(sorted, k, sizeof(*sorted), cmp_ptr);
	for (unsigned i = 0; i < k; i++) {
		assert_true(mpdp_pool_owns(pool, sorted[i]));
		if (i > 0)
			assert_ptr_not_equal(sorted[i], sorted[i - 1]);
	}
	free(sorted);
}

/*
 * With every cache empty, the ring alone must hold all n objects, each once:
 * drain it, check the objects are n distinct objects of the pool and that
 * nothing is left, then put them back.
 */
static void
expect_ring_holds_each_object_once(struct mpdp_pool *pool, unsigned n)
{
	void **objs = calloc(n + 1, sizeof(*objs));

	assert_non_null(objs);
	assert_int_equal(mpdp_pool_get_bulk(pool, MPDP_POOL_NO_CACHE, objs, n), n);
	assert_int_equal(mpdp_pool_get_bulk(pool, MPDP_POOL_NO_CACHE, objs + n, 1), 0);
	expect_distinct_owned(pool, objs, n);
	mpdp_pool_put_bulk(pool, MPDP_POOL_NO_CACHE, objs, n);
	EXPECT_COUNTS(pool, n, n, 0);
	free(objs);
}

static unsigned
register_worker(struct mpdp_shm *shm, const char *name)
{
	unsigned wid = UINT32_MAX;

	assert_int_equal(mpdp_worker_register(shm, name, -1, &wid), 0);
	assert_true(wid < MPDP_WORKER_MAX);
	return wid;
}

/* --- fork helpers ---------------------------------------------------------- */

/* --- create, lookup, delete ------------------------------------------------ */

static void
count_init(struct mpdp_pool *pool, void *obj, unsigned idx, void *arg)
{
	(void)pool;
	(void)obj;
	(void)idx;
	(*(unsigned *)arg)++;
}

static void
test_create_lookup_delete_round_trip(void **state)
{
	struct fixture *f = *state;
	struct mpdp_pool *p = NULL, *q = NULL;
	uint64_t used0, used1, total;

	mpdp_shm_usage(f->shm, &used0, &total);
	assert_int_equal(mpdp_pool_create(f->shm, "objs", 100, 40, 8, -1, NULL, NULL, &p), 0);
	assert_non_null(p);
	EXPECT_COUNTS(p, 100, 100, 0);
	mpdp_shm_usage(f->shm, &used1, &total);
	assert_true(used1 > used0);

	assert_int_equal(mpdp_pool_lookup(f->shm, "objs", &q), 0);
	assert_ptr_equal(q, p);
	assert_int_equal(mpdp_pool_lookup(f->shm, "obj", &q), -ENOENT);
	assert_int_equal(mpdp_pool_lookup(f->shm, "objs2", &q), -ENOENT);

	assert_int_equal(mpdp_pool_delete(f->shm, p), 0);
	assert_int_equal(mpdp_pool_lookup(f->shm, "objs", &q), -ENOENT);
	mpdp_shm_usage(f->shm, &used1, &total);
	assert_int_equal(used1, used0);

	/* The name is free again. */
	assert_int_equal(mpdp_pool_create(f->shm, "objs", 10, 40, 0, -1, NULL, NULL, &p), 0);
	EXPECT_COUNTS(p, 10, 10, 0);
	assert_int_equal(mpdp_pool_delete(f->shm, p), 0);
}

static void
test_create_rejects_bad_parameters(void **state)
{
	struct fixture *f = *state;
	static const char name31[] = "abcdefghijklmnopqrstuvwxyz01234";
	static const char name32[] = "abcdefghijklmnopqrstuvwxyz012345";
	static const struct {
		const char *name;
		unsigned n, obj_size, cache;
		int socket;
	} bad[] = {
		{ NULL, 10, 64, 0, -1 },
		{ "", 10, 64, 0, -1 },
		{ name32, 10, 64, 0, -1 },
		{ "p", 0, 64, 0, -1 },
		{ "p", MPDP_RING_SIZE_MAX + 1, 64, 0, -1 },
		{ "p", UINT32_MAX, 64, 0, -1 },
		{ "p", 10, 0, 0, -1 },
		{ "p", 10, (1u << 30) + 1, 0, -1 },
		{ "p", 10, UINT32_MAX, 0, -1 },
		{ "p", 10, 64, MPDP_POOL_CACHE_MAX + 1, -1 },
		{ "p", 10, 64, UINT32_MAX, -1 },
		{ "p", 10, 64, 0, -2 },
	};
	struct mpdp_pool *sentinel = (struct mpdp_pool *)(uintptr_t)0x1234, *p = sentinel;
	uint64_t used0, used1, total;
	unsigned inits = 0;

	_Static_assert(sizeof(name31) == MPDP_NAME_MAX, "longest legal name");
	mpdp_shm_usage(f->shm, &used0, &total);
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = mpdp_pool_create(f->shm, bad[i].name, bad[i].n, bad[i].obj_size,
					  bad[i].cache, bad[i].socket, count_init, &inits, &p);

		if (rc != -EINVAL)
			print_error("case %u: got %d\n", i, rc);
		assert_int_equal(rc, -EINVAL);
		assert_ptr_equal(p, sentinel);
	}
	assert_int_equal(inits, 0);
	mpdp_shm_usage(f->shm, &used1, &total);
	assert_int_equal(used1, used0);

	assert_int_equal(mpdp_pool_lookup(f->shm, NULL, &p), -EINVAL);
	assert_int_equal(mpdp_pool_lookup(f->shm, name32, &p), -EINVAL);
	assert_ptr_equal(p, sentinel);

	/* The limits themselves are accepted. */
	assert_int_equal(mpdp_pool_create(f->shm, name31, 1, 1, MPDP_POOL_CACHE_MAX, -1,
					  count_init, &inits, &p), 0);
	assert_int_equal(inits, 1);
	assert_int_equal(mpdp_pool_lookup(f->shm, name31, &p), 0);
	EXPECT_COUNTS(p, 1, 1, 0);
	assert_int_equal(mpdp_pool_delete(f->shm, p), 0);
}

static void
test_create_rejects_taken_name(void **state)
{
	struct fixture *f = *state;
	struct mpdp_pool *p, *q = NULL;
	struct mpdp_ring *r;
	void *obj;

	assert_int_equal(mpdp_pool_create(f->shm, "dup", 16, 64, 0, -1, NULL, NULL, &p), 0);
	assert_int_equal(mpdp_pool_get_bulk(p, MPDP_POOL_NO_CACHE, &obj, 1), 1);
	assert_int_equal(mpdp_pool_create(f->shm, "dup", 16, 64, 0, -1, NULL, NULL, &q), -EEXIST);
	assert_null(q);
	assert_int_equal(mpdp_pool_create(f->shm, "dup", 99, 8, 4, -1, NULL, NULL, &q), -EEXIST);
	assert_null(q);
	/* The first pool is untouched. */
	EXPECT_COUNTS(p, 16, 15, 0);
	assert_int_equal(mpdp_pool_lookup(f->shm, "dup", &q), 0);
	assert_ptr_equal(q, p);
	mpdp_pool_put_bulk(p, MPDP_POOL_NO_CACHE, &obj, 1);
	EXPECT_COUNTS(p, 16, 16, 0);

	/* Pools share the memzone namespace with rings, and lookup wants a pool. */
	assert_int_equal(mpdp_ring_create(f->shm, "ring", 64, 0, -1, &r), 0);
	q = NULL;
	assert_int_equal(mpdp_pool_create(f->shm, "ring", 16, 64, 0, -1, NULL, NULL, &q), -EEXIST);
	assert_null(q);
	assert_int_equal(mpdp_pool_lookup(f->shm, "ring", &q), -ENOENT);
	assert_int_equal(mpdp_ring_delete(f->shm, r), 0);
	assert_int_equal(mpdp_pool_delete(f->shm, p), 0);
}

static void
test_delete_rejects_unknown_pool(void **state)
{
	struct fixture *f = *state;
	struct mpdp_pool fake, *p;

	assert_int_equal(mpdp_pool_create(f->shm, "real", 8, 64, 0, -1, NULL, NULL, &p), 0);
	memset(&fake, 0, sizeof(fake));
	snprintf(fake.name, sizeof(fake.name), "ghost");
	assert_int_equal(mpdp_pool_delete(f->shm, &fake), -ENOENT);
	/* Same name as a real pool, but not that pool. */
	snprintf(fake.name, sizeof(fake.name), "real");
	assert_int_equal(mpdp_pool_delete(f->shm, &fake), -ENOENT);
	assert_int_equal(mpdp_pool_lookup(f->shm, "real", &p), 0);
	assert_int_equal(mpdp_pool_delete(f->shm, p), 0);
}

static void
test_create_fails_enomem_when_region_is_full(void **state)
{
	struct fixture *f = *state;
	struct mpdp_pool *big, *small = NULL;
	uint64_t used, total, free_bytes;

	mpdp_shm_usage(f->shm, &used, &total);
	free_bytes = total - used;
	/* One object that leaves less than 64 KiB of the region free. */
	assert_int_equal(mpdp_pool_create(f->shm, "big", 1, (unsigned)(free_bytes - (64u << 10)), 0,
					  -1, NULL, NULL, &big), 0);
	assert_int_equal(mpdp_pool_create(f->shm, "small", 1, 128u << 10, 0, -1, NULL, NULL, &small),
			 -ENOMEM);
	assert_null(small);
	assert_int_equal(mpdp_pool_lookup(f->shm, "small", &small), -ENOENT);
	EXPECT_COUNTS(big, 1, 1, 0);

	assert_int_equal(mpdp_pool_delete(f->shm, big), 0);
	assert_int_equal(mpdp_pool_create(f->shm, "small", 1, 128u << 10, 0, -1, NULL, NULL, &small), 0);
	assert_int_equal(mpdp_pool_delete(f->shm, small), 0);
}

/*
 * A pool larger than the whole region is the plainest "region too small":
 * mpdp_pool_create() documents -ENOMEM for it, as for a full region.
 */
static void
test_create_larger_than_region_fails_enomem(void **state)
{
	struct fixture *f = *state;
	struct mpdp_pool *p = NULL;
	uint64_t used0, used1, total;

	mpdp_shm_usage(f->shm, &used0, &total);
	/* As large as the heap: a little less than the region. */
	assert_int_equal(mpdp_pool_create(f->shm, "huge", 1, (unsigned)total, 0, -1, NULL, NULL, &p),
			 -ENOMEM);
	assert_null(p);
	/* As large as the region itself. */
	assert_int_equal(mpdp_pool_create(f->shm, "huge", 1, (unsigned)mpdp_shm_header(f->shm)->size,
					  0, -1, NULL, NULL, &p), -ENOMEM);
	assert_null(p);
	/* 64 objects of 1 GiB in a 16 MiB region. */
	assert_int_equal(mpdp_pool_create(f->shm, "huge", 64, 1u << 30, 0, -1, NULL, NULL, &p),
			 -ENOMEM);
	assert_null(p);
	mpdp_shm_usage(f->shm, &used1, &total);
	assert_int_equal(used1, used0);
}

/*
 * The free ring lives inside the pool's memzone; struct mpdp_ring is aligned
 * to two cache lines (its producer and consumer pairs are), so the pool must
 * place it so even when the memzone itself lands on an odd cache line.
 */
static void
test_pool_ring_is_aligned_for_its_type(void **state)
{
	struct fixture *f = *state;
	static const unsigned caches[] = { 0, 8 };
	void *pad;

	/* One cache line, so the next memzone starts on an odd cache line. */
	assert_int_equal(mpdp_shm_memzone_reserve(f->shm, "pad", MPDP_CACHE_LINE, 0, -1,
						  MPDP_MZ_KIND_RAW, &pad), 0);
	for (unsigned i = 0; i < 2; i++) {
		struct mpdp_pool *p;
		void *obj = NULL;

		assert_int_equal(mpdp_pool_create(f->shm, "aligned", 16, 64, caches[i], -1, NULL, NULL,
						  &p), 0);
		assert_int_equal((uintptr_t)p->ring % _Alignof(struct mpdp_ring), 0);
		assert_int_equal(mpdp_pool_get_bulk(p, MPDP_POOL_NO_CACHE, &obj, 1), 1);
		mpdp_pool_put_bulk(p, MPDP_POOL_NO_CACHE, &obj, 1);
		EXPECT_COUNTS(p, 16, 16, 0);
		assert_int_equal(mpdp_pool_delete(f->shm, p), 0);
	}
	assert_int_equal(mpdp_shm_memzone_free(f->shm, "pad"), 0);
}

/* --- get and put without a cache -------------------------------------------- */

static void
test_get_put_bulk_without_cache(void **state)
{
	struct fixture *f = *state;
	struct mpdp_pool *p;
	void *objs[64], *extra;

	assert_int_equal(mpdp_pool_create(f->shm, "nc", 64, 32, 0, -1, NULL, NULL, &p), 0);
	assert_int_equal(mpdp_pool_get_bulk(p, MPDP_POOL_NO_CACHE, objs, 10), 10);
	EXPECT_COUNTS(p, 64, 54, 0);
	assert_int_equal(mpdp_pool_get_bulk(p, MPDP_POOL_NO_CACHE, objs + 10, 54), 54);
	EXPECT_COUNTS(p, 64, 0, 0);
	expect_distinct_owned(p, objs, 64);
	assert_int_equal(mpdp_pool_get_bulk(p, MPDP_POOL_NO_CACHE, &extra, 1), 0);
	EXPECT_COUNTS(p, 64, 0, 0);

	mpdp_pool_put_bulk(p, MPDP_POOL_NO_CACHE, objs, 30);
	EXPECT_COUNTS(p, 64, 30, 0);
	mpdp_pool_put_bulk(p, MPDP_POOL_NO_CACHE, objs + 30, 34);
	EXPECT_COUNTS(p, 64, 64, 0);
	expect_ring_holds_each_object_once(p, 64);
	assert_int_equal(mpdp_pool_delete(f->shm, p), 0);
}

static void
test_pool_without_cache_ignores_worker_id(void **state)
{
	struct fixture *f = *state;
	unsigned wid = register_worker(f->shm, "nocache");
	struct mpdp_pool *p;
	void *objs[8];

	assert_int_equal(mpdp_pool_create(f->shm, "nc", 64, 32, 0, -1, NULL, NULL, &p), 0);
	assert_int_equal(mpdp_pool_get_bulk(p, wid, objs, 5), 5);
	EXPECT_COUNTS(p, 64, 59, 0);
	mpdp_pool_put_bulk(p, wid, objs, 5);
	EXPECT_COUNTS(p, 64, 64, 0);
	mpdp_pool_cache_flush(p, wid);
	EXPECT_COUNTS(p, 64, 64, 0);
	assert_int_equal(mpdp_worker_release(f->shm, wid), 0);
	assert_int_equal(mpdp_pool_delete(f->shm, p), 0);
}

static void
test_cached_pool_without_worker_id_uses_ring(void **state)
{
	struct fixture *f = *state;
	struct mpdp_pool *p;
	void *objs[4];

	assert_int_equal(mpdp_pool_create(f->shm, "c", 64, 32, 16, -1, NULL, NULL, &p), 0);
	assert_int_equal(mpdp_pool_get_bulk(p, MPDP_POOL_NO_CACHE, objs, 4), 4);
	EXPECT_COUNTS(p, 64, 60, 0);
	mpdp_pool_put_bulk(p, MPDP_POOL_NO_CACHE, objs, 4);
	EXPECT_COUNTS(p, 64, 64, 0);
	/* An id past the cache table has no cache either. */
	assert_int_equal(mpdp_pool_get_bulk(p, MPDP_WORKER_MAX, objs, 4), 4);
	EXPECT_COUNTS(p, 64, 60, 0);
	mpdp_pool_put_bulk(p, MPDP_WORKER_MAX, objs, 4);
	EXPECT_COUNTS(p, 64, 64, 0);
	assert_int_equal(mpdp_pool_delete(f->shm, p), 0);
}

static void
test_zero_length_get_and_put_change_nothing(void **state)
{
	struct fixture *f = *state;
	unsigned wid = register_worker(f->shm, "zero");
	struct mpdp_pool *p;
	void *obj = NULL;

	assert_int_equal(mpdp_pool_create(f->shm, "z", 16, 32, 4, -1, NULL, NULL, &p), 0);
	assert_int_equal(mpdp_pool_get_bulk(p, MPDP_POOL_NO_CACHE, &obj, 0), 0);
	assert_int_equal(mpdp_pool_get_bulk(p, wid, &obj, 0), 0);
	mpdp_pool_put_bulk(p, MPDP_POOL_NO_CACHE, &obj, 0);
	mpdp_pool_put_bulk(p, wid, &obj, 0);
	EXPECT_COUNTS(p, 16, 16, 0);
	assert_null(obj);
	assert_int_equal(mpdp_worker_release(f->shm, wid), 0);
	assert_int_equal(mpdp_pool_delete(f->shm, p), 0);
}

static void
test_get_more_than_available_takes_nothing(void **state)
{
	struct fixture *f = *state;
	struct mpdp_pool *p;
	void *objs[40];

	assert_int_equal(mpdp_pool_create(f->shm, "ex", 32, 32, 0, -1, NULL, NULL, &p), 0);
	assert_int_equal(mpdp_pool_get_bulk(p, MPDP_POOL_NO_CACHE, objs, 33), 0);
	EXPECT_COUNTS(p, 32, 32, 0);
	assert_int_equal(mpdp_pool_get_bulk(p, MPDP_POOL_NO_CACHE, objs, 20), 20);
	assert_int_equal(mpdp_pool_get_bulk(p, MPDP_POOL_NO_CACHE, objs + 20, 13), 0);
	EXPECT_COUNTS(p, 32, 12, 0);
	assert_int_equal(mpdp_pool_get_bulk(p, MPDP_POOL_NO_CACHE, objs + 20, 12), 12);
	EXPECT_COUNTS(p, 32, 0, 0);
	assert_int_equal(mpdp_pool_get_bulk(p, MPDP_POOL_NO_CACHE, objs + 32, 1), 0);
	EXPECT_COUNTS(p, 32, 0, 0);
	expect_distinct_owned(p, objs, 32);
	mpdp_pool_put_bulk(p, MPDP_POOL_NO_CACHE, objs, 32);
	expect_ring_holds_each_object_once(p, 32);
	assert_int_equal(mpdp_pool_delete(f->shm, p), 0);
}

static void
test_cached_get_more_than_available_takes_nothing(void **state)
{
	struct fixture *f = *state;
	unsigned wid = register_worker(f->shm, "ex");
	struct mpdp_pool *p;
	void *objs[33];

	/* cache 8: a get of 5 would refill with 13, and falls back to 5 from the ring. */
	assert_int_equal(mpdp_pool_create(f->shm, "exc", 32, 32, 8, -1, NULL, NULL, &p), 0);
	assert_int_equal(mpdp_pool_get_bulk(p, MPDP_POOL_NO_CACHE, objs, 28), 28);
	EXPECT_COUNTS(p, 32, 4, 0);
	assert_int_equal(mpdp_pool_get_bulk(p, wid, objs + 28, 5), 0);
	EXPECT_COUNTS(p, 32, 4, 0);
	/* The refill cannot be had, but the request can: it comes from the ring. */
	assert_int_equal(mpdp_pool_get_bulk(p, wid, objs + 28, 3), 3);
	EXPECT_COUNTS(p, 32, 1, 0);
	assert_int_equal(mpdp_pool_get_bulk(p, wid, objs + 31, 2), 0);
	EXPECT_COUNTS(p, 32, 1, 0);
	assert_int_equal(mpdp_pool_get_bulk(p, wid, objs + 31, 1), 1);
	EXPECT_COUNTS(p, 32, 0, 0);
	expect_distinct_owned(p, objs, 32);
	mpdp_pool_put_bulk(p, MPDP_POOL_NO_CACHE, objs, 32);
	EXPECT_COUNTS(p, 32, 32, 0);
	assert_int_equal(mpdp_worker_release(f->shm, wid), 0);
	assert_int_equal(mpdp_pool_delete(f->shm, p), 0);
}

/* --- the per-worker cache --------------------------------------------------- */

static void
test_get_refills_empty_cache_from_ring(void **state)
{
	struct fixture *f = *state;
	unsigned wid = register_worker(f->shm, "refill");
	struct mpdp_pool *p;
	void *objs[64];

	/* cache_size 16, flush threshold 24 */
	assert_int_equal(mpdp_pool_create(f->shm, "rf", 256, 64, 16, -1, NULL, NULL, &p), 0);
	EXPECT_COUNTS(p, 256, 256, 0);
	/* Empty cache: refilled with 4 + 16, 4 handed out. */
	assert_int_equal(mpdp_pool_get_bulk(p, wid, objs, 4), 4);
	EXPECT_COUNTS(p, 256, 252, 16);
	/* Served from the cache alone. */
	assert_int_equal(mpdp_pool_get_bulk(p, wid, objs + 4, 4), 4);
	EXPECT_COUNTS(p, 256, 248, 12);
	assert_int_equal(mpdp_pool_get_bulk(p, wid, objs + 8, 12), 12);
	EXPECT_COUNTS(p, 256, 236, 0);
	/* Empty again: refilled with 12 + 16, 12 handed out. */
	assert_int_equal(mpdp_pool_get_bulk(p, wid, objs + 20, 12), 12);
	EXPECT_COUNTS(p, 256, 224, 16);
	assert_int_equal(mpdp_pool_get_bulk(p, wid, objs + 32, 4), 4);
	EXPECT_COUNTS(p, 256, 220, 12);
	/* 13 > 12 cached: refill with 13 + 16 - 12 = 17 (cache holds 29), hand out 13. */
	assert_int_equal(mpdp_pool_get_bulk(p, wid, objs + 36, 13), 13);
	EXPECT_COUNTS(p, 256, 207, 16);
	expect_distinct_owned(p, objs, 49);

	mpdp_pool_put_bulk(p, MPDP_POOL_NO_CACHE, objs, 49);
	EXPECT_COUNTS(p, 256, 256, 16);
	mpdp_pool_cache_flush(p, wid);
	EXPECT_COUNTS(p, 256, 256, 0);
	expect_ring_holds_each_object_once(p, 256);
	assert_int_equal(mpdp_worker_release(f->shm, wid), 0);
	assert_int_equal(mpdp_pool_delete(f->shm, p), 0);
}

static void
test_get_of_cache_size_or_more_bypasses_cache(void **state)
{
	struct fixture *f = *state;
	unsigned wid = register_worker(f->shm, "bypass");
	struct mpdp_pool *p;
	void *objs[64];

	assert_int_equal(mpdp_pool_create(f->shm, "bp", 256, 64, 16, -1, NULL, NULL, &p), 0);
	assert_int_equal(mpdp_pool_get_bulk(p, wid, objs, 16), 16);
	EXPECT_COUNTS(p, 256, 240, 0);
	assert_int_equal(mpdp_pool_get_bulk(p, wid, objs + 16, 40), 40);
	EXPECT_COUNTS(p, 256, 200, 0);
	mpdp_pool_put_bulk(p, wid, objs, 56);
	EXPECT_COUNTS(p, 256, 256, 0);
	assert_int_equal(mpdp_worker_release(f->shm, wid), 0);
	assert_int_equal(mpdp_pool_delete(f->shm, p), 0);
}

static void
test_put_beyond_flush_threshold_flushes_cache_to_ring(void **state)
{
	struct fixture *f = *state;
	unsigned wid = register_worker(f->shm, "flush");
	struct mpdp_pool *p;
	void *objs[80];

	/* cache_size 16, flush threshold 24 */
	assert_int_equal(mpdp_pool_create(f->shm, "ft", 128, 64, 16, -1, NULL, NULL, &p), 0);
	assert_int_equal(mpdp_pool_get_bulk(p, MPDP_POOL_NO_CACHE, objs, 80), 80);
	EXPECT_COUNTS(p, 128, 48, 0);
	mpdp_pool_put_bulk(p, wid, objs, 10);
	EXPECT_COUNTS(p, 128, 58, 10);
	mpdp_pool_put_bulk(p, wid, objs + 10, 10);
	EXPECT_COUNTS(p, 128, 68, 20);
	/* Exactly at the threshold: still cached. */
	mpdp_pool_put_bulk(p, wid, objs + 20, 4);
	EXPECT_COUNTS(p, 128, 72, 24);
	/* One past it: the 24 go to the ring, the new one stays. */
	mpdp_pool_put_bulk(p, wid, objs + 24, 1);
	EXPECT_COUNTS(p, 128, 73, 1);
	mpdp_pool_put_bulk(p, wid, objs + 25, 15);
	EXPECT_COUNTS(p, 128, 88, 16);
	/* 16 + 16 > 24: flush 16, keep 16. */
	mpdp_pool_put_bulk(p, wid, objs + 40, 16);
	EXPECT_COUNTS(p, 128, 104, 16);
	/* More than cache_size at once goes to the ring and leaves the cache alone. */
	mpdp_pool_put_bulk(p, wid, objs + 56, 17);
	EXPECT_COUNTS(p, 128, 121, 16);
	mpdp_pool_put_bulk(p, wid, objs + 73, 7);
	EXPECT_COUNTS(p, 128, 128, 23);

	mpdp_pool_cache_flush(p, wid);
	EXPECT_COUNTS(p, 128, 128, 0);
	expect_ring_holds_each_object_once(p, 128);
	assert_int_equal(mpdp_worker_release(f->shm, wid), 0);
	assert_int_equal(mpdp_pool_delete(f->shm, p), 0);
}

static void
test_cached_objects_are_handed_out_again(void **state)
{
	struct fixture *f = *state;
	unsigned wid = register_worker(f->shm, "reuse");
	struct mpdp_pool *p;
	void *in[8], *out[8];

	assert_int_equal(mpdp_pool_create(f->shm, "ru", 64, 64, 16, -1, NULL, NULL, &p), 0);
	assert_int_equal(mpdp_pool_get_bulk(p, MPDP_POOL_NO_CACHE, in, 8), 8);
	mpdp_pool_put_bulk(p, wid, in, 8);
	EXPECT_COUNTS(p, 64, 64, 8);
	/* The cache holds enough: these 8 are the 8 just returned. */
	assert_int_equal(mpdp_pool_get_bulk(p, wid, out, 8), 8);
	EXPECT_COUNTS(p, 64, 56, 0);
	qsort(in, 8, sizeof(in[0]), cmp_ptr);
	qsort(out, 8, sizeof(out[0]), cmp_ptr);
	assert_memory_equal(in, out, sizeof(in));
	mpdp_pool_put_bulk(p, wid, out, 8);
	mpdp_pool_cache_flush(p, wid);
	EXPECT_COUNTS(p, 64, 64, 0);
	assert_int_equal(mpdp_worker_release(f->shm, wid), 0);
	assert_int_equal(mpdp_pool_delete(f->shm, p), 0);
}

static void
test_cache_flush_empties_only_that_workers_cache(void **state)
{
	struct fixture *f = *state;
	unsigned a = register_worker(f->shm, "a"), b = register_worker(f->shm, "b");
	struct mpdp_pool *p, *other;
	void *objs[16];

	assert_int_equal(mpdp_pool_create(f->shm, "cf", 256, 64, 16, -1, NULL, NULL, &p), 0);
	assert_int_equal(mpdp_pool_create(f->shm, "cf2", 64, 64, 16, -1, NULL, NULL, &other), 0);
	/* a: get 3 (refill 19, 16 left) and put 3 -> 19 cached. b: get 5 -> 16 cached. */
	assert_int_equal(mpdp_pool_get_bulk(p, a, objs, 3), 3);
	mpdp_pool_put_bulk(p, a, objs, 3);
	assert_int_equal(mpdp_pool_get_bulk(p, b, objs, 5), 5);
	EXPECT_COUNTS(p, 256, 251, 35);
	assert_int_equal(mpdp_pool_get_bulk(other, a, objs + 5, 2), 2);
	EXPECT_COUNTS(other, 64, 62, 16);

	mpdp_pool_cache_flush(p, a);
	EXPECT_COUNTS(p, 256, 251, 16);
	/* Flushing an empty cache, or one of an id with no cache, does nothing. */
	mpdp_pool_cache_flush(p, a);
	mpdp_pool_cache_flush(p, MPDP_WORKER_MAX);
	mpdp_pool_cache_flush(p, MPDP_POOL_NO_CACHE);
	EXPECT_COUNTS(p, 256, 251, 16);
	/* The other pool's cache of the same worker is its own. */
	EXPECT_COUNTS(other, 64, 62, 16);

	mpdp_pool_put_bulk(p, b, objs, 5);
	EXPECT_COUNTS(p, 256, 256, 21);
	mpdp_pool_cache_flush(p, b);
	EXPECT_COUNTS(p, 256, 256, 0);
	expect_ring_holds_each_object_once(p, 256);
	mpdp_pool_put_bulk(other, a, objs + 5, 2);
	mpdp_pool_cache_flush(other, a);
	expect_ring_holds_each_object_once(other, 64);
	assert_int_equal(mpdp_worker_release(f->shm, a), 0);
	assert_int_equal(mpdp_worker_release(f->shm, b), 0);
	assert_int_equal(mpdp_pool_delete(f->shm, other), 0);
	assert_int_equal(mpdp_pool_delete(f->shm, p), 0);
}

/*
 * A model of the documented cache rules: a get of fewer than cache_size
 * objects that finds too few cached refills with the request plus
 * cache_size, or else takes the request from the ring; a put of at most
 * cache_size that would pass 1.5 x cache_size first flushes the cache;
 * larger gets and puts, and callers without an id, use the ring.
 */
struct model {
	unsigned n, cache_size, flushthresh;
	unsigned ring;
	unsigned cached[2];
};

static unsigned
model_get(struct model *m, int w, unsigned k)
{
	unsigned *len = w >= 0 ? &m->cached[w] : NULL;

	if (len == NULL || m->cache_size == 0 || k >= m->cache_size) {
		if (m->ring < k)
			return 0;
		m->ring -= k;
		return k;
	}
	if (*len < k) {
		unsigned want = k + m->cache_size - *len;

		if (m->ring >= want) {
			m->ring -= want;
			*len += want;
		} else if (m->ring >= k) {
			m->ring -= k;
			return k;
		} else {
			return 0;
		}
	}
	*len -= k;
	return k;
}

static void
model_put(struct model *m, int w, unsigned k)
{
	unsigned *len = w >= 0 ? &m->cached[w] : NULL;

	if (len == NULL || m->cache_size == 0 || k > m->cache_size) {
		m->ring += k;
	} else if (*len + k <= m->flushthresh) {
		*len += k;
	} else {
		m->ring += *len;
		*len = k;
	}
}

static void
test_counters_follow_cache_model_through_random_steps(void **state)
{
	struct fixture *f = *state;
	static const unsigned cache_sizes[] = { 0, 1, 2, 7, 16 };
	unsigned wid[2] = { register_worker(f->shm, "m0"), register_worker(f->shm, "m1") };
	uint64_t seed = 0x9e3779b97f4a7c15ull;

	for (unsigned c = 0; c < sizeof(cache_sizes) / sizeof(cache_sizes[0]); c++) {
		const unsigned n = 200;
		struct model m = { .n = n, .cache_size = cache_sizes[c], .ring = n };
		struct mpdp_pool *p;
		void **all, *held[200];
		unsigned char *taken = calloc(n, 1);
		unsigned nheld = 0;

		assert_non_null(taken);
		m.flushthresh = m.cache_size + m.cache_size / 2;
		assert_int_equal(mpdp_pool_create(f->shm, "model", n, 16, m.cache_size, -1, NULL,
						  NULL, &p), 0);
		all = all_objects(p, n);
		for (unsigned step = 0; step < 4000; step++) {
			int w = (int)(test_rand(&seed) % 3) - 1;   /* -1: no cache */
			unsigned id = w < 0 ? MPDP_POOL_NO_CACHE : wid[w];
			unsigned k = (unsigned)(test_rand(&seed) % (2 * m.cache_size + 6));

			if (test_rand(&seed) % 2 == 0 && nheld + k <= n) {
				unsigned want = model_get(&m, w, k);

				assert_int_equal(mpdp_pool_get_bulk(p, id, held + nheld, k), want);
				for (unsigned i = 0; i < want; i++) {
					size_t idx = obj_number(all, n, held[nheld + i]);

					assert_int_equal(taken[idx], 0);
					taken[idx] = 1;
				}
				nheld += want;
			} else {
				if (k > nheld)
					k = nheld;
				for (unsigned i = nheld - k; i < nheld; i++)
					taken[obj_number(all, n, held[i])] = 0;
				mpdp_pool_put_bulk(p, id, held + nheld - k, k);
				model_put(&m, w, k);
				nheld -= k;
			}
			EXPECT_COUNTS(p, n, m.ring + m.cached[0] + m.cached[1],
				      m.cached[0] + m.cached[1]);
			assert_int_equal(mpdp_pool_in_use_count(p), nheld);
			if (test_rand(&seed) % 97 == 0) {
				w = (int)(test_rand(&seed) % 2);
				mpdp_pool_cache_flush(p, wid[w]);
				m.ring += m.cached[w];
				m.cached[w] = 0;
				EXPECT_COUNTS(p, n, n - nheld, m.cached[0] + m.cached[1]);
			}
		}
		mpdp_pool_put_bulk(p, MPDP_POOL_NO_CACHE, held, nheld);
		mpdp_pool_cache_flush(p, wid[0]);
		mpdp_pool_cache_flush(p, wid[1]);
		expect_ring_holds_each_object_once(p, n);
		assert_int_equal(mpdp_pool_delete(f->shm, p), 0);
		free(all);
		free(taken);
	}
	assert_int_equal(mpdp_worker_release(f->shm, wid[0]), 0);
	assert_int_equal(mpdp_worker_release(f->shm, wid[1]), 0);
}

/* --- objects: init, iteration, ownership ------------------------------------ */

struct init_record {
	void *obj[100];
	unsigned calls;
	unsigned idx_mismatch;
};

static void
record_init(struct mpdp_pool *pool, void *obj, unsigned idx, void *arg)
{
	struct init_record *r = arg;

	(void)pool;
	if (idx != r->calls)
		r->idx_mismatch++;
	if (r->calls < 100)
		r->obj[r->calls] = obj;
	r->calls++;
	memset(obj, 0xa5, 100);
	*(uint32_t *)obj = idx;
}

static void
test_init_runs_once_per_object_in_index_order(void **state)
{
	struct fixture *f = *state;
	struct init_record rec = { .calls = 0 };
	struct mpdp_pool *p;
	void **all;

	assert_int_equal(mpdp_pool_create(f->shm, "init", 100, 100, 0, -1, record_init, &rec, &p), 0);
	assert_int_equal(rec.calls, 100);
	assert_int_equal(rec.idx_mismatch, 0);
	all = all_objects(p, 100);
	for (unsigned i = 0; i < 100; i++) {
		const unsigned char *b = all[i];

		assert_ptr_equal(all[i], rec.obj[i]);
		assert_int_equal(*(const uint32_t *)all[i], i);
		/* Every byte the init wrote is still there: objects do not overlap. */
		for (unsigned j = 4; j < 100; j++)
			assert_int_equal(b[j], 0xa5);
	}
	free(all);
	assert_int_equal(mpdp_pool_delete(f->shm, p), 0);
}

static void
test_iter_visits_every_object_once_in_address_order(void **state)
{
	struct fixture *f = *state;
	struct mpdp_pool *p;
	void **all, *taken[30];
	uintptr_t step;

	assert_int_equal(mpdp_pool_create(f->shm, "it", 100, 100, 8, -1, NULL, NULL, &p), 0);
	/* Held objects are visited too. */
	assert_int_equal(mpdp_pool_get_bulk(p, MPDP_POOL_NO_CACHE, taken, 30), 30);
	all = all_objects(p, 100);
	step = (uintptr_t)all[1] - (uintptr_t)all[0];
	assert_true(step >= 100);
	for (unsigned i = 0; i < 100; i++) {
		assert_true(mpdp_pool_owns(p, all[i]));
		assert_int_equal((uintptr_t)all[i] % MPDP_CACHE_LINE, 0);
		if (i > 0) {
			assert_true((uintptr_t)all[i] > (uintptr_t)all[i - 1]);
			assert_int_equal((uintptr_t)all[i] - (uintptr_t)all[i - 1], step);
		}
	}
	/* Every object a get returns is one of them. */
	for (unsigned i = 0; i < 30; i++)
		assert_true(obj_index(all, 100, taken[i]) >= 0);
	mpdp_pool_put_bulk(p, MPDP_POOL_NO_CACHE, taken, 30);
	expect_ring_holds_each_object_once(p, 100);
	free(all);
	assert_int_equal(mpdp_pool_delete(f->shm, p), 0);
}

static void
test_owns_rejects_foreign_and_interior_pointers(void **state)
{
	struct fixture *f = *state;
	struct mpdp_pool *p, *q;
	void **all, **other;
	int local;

	assert_int_equal(mpdp_pool_create(f->shm, "own1", 10, 64, 0, -1, NULL, NULL, &p), 0);
	assert_int_equal(mpdp_pool_create(f->shm, "own2", 10, 64, 0, -1, NULL, NULL, &q), 0);
	all = all_objects(p, 10);
	other = all_objects(q, 10);
	for (unsigned i = 0; i < 10; i++) {
		assert_true(mpdp_pool_owns(p, all[i]));
		assert_false(mpdp_pool_owns(p, (char *)all[i] + 1));
		assert_false(mpdp_pool_owns(p, (char *)all[i] + 63));
		assert_false(mpdp_pool_owns(p, other[i]));
		assert_false(mpdp_pool_owns(q, all[i]));
	}
	assert_false(mpdp_pool_owns(p, (char *)all[0] - 64));
	assert_false(mpdp_pool_owns(p, (char *)all[9] + ((char *)all[9] - (char *)all[8])));
	assert_false(mpdp_pool_owns(p, &local));
	assert_false(mpdp_pool_owns(p, NULL));
	free(all);
	free(other);
	assert_int_equal(mpdp_pool_delete(f->shm, q), 0);
	assert_int_equal(mpdp_pool_delete(f->shm, p), 0);
}

static void
test_dump_reports_counters(void **state)
{
	struct fixture *f = *state;
	unsigned wid = register_worker(f->shm, "dump");
	struct mpdp_pool *p;
	char buf[512] = "";
	void *objs[4];
	FILE *mem;

	assert_int_equal(mpdp_pool_create(f->shm, "dumped", 64, 40, 8, -1, NULL, NULL, &p), 0);
	assert_int_equal(mpdp_pool_get_bulk(p, wid, objs, 4), 4);
	mem = fmemopen(buf, sizeof(buf) - 1, "w");
	assert_non_null(mem);
	mpdp_pool_dump(mem, p);
	fclose(mem);
	assert_non_null(strstr(buf, "dumped"));
	assert_non_null(strstr(buf, "64 objects"));
	assert_non_null(strstr(buf, "available 60 (cached 8)"));
	assert_non_null(strstr(buf, "in use 4"));
	mpdp_pool_put_bulk(p, wid, objs, 4);
	assert_int_equal(mpdp_worker_release(f->shm, wid), 0);
	EXPECT_COUNTS(p, 64, 64, 0);
	assert_int_equal(mpdp_pool_delete(f->shm, p), 0);
}

/* --- churn: threads and processes ------------------------------------------- */

/* The first bytes of every object in the churn pools. */
struct stamped {
	uint32_t holder;          /* churn tag of the holder, 0 while free */
};

struct churn {
	/* in */
	struct mpdp_pool *pool;
	unsigned wid;
	void *const *addr;        /* every object, sorted */
	unsigned n;
	_Atomic uint8_t *own;     /* per object: holder tag, 0 when free */
	uint8_t tag;              /* != 0 */
	unsigned iters, max_bulk, max_held;
	uint64_t seed;
	/* out */
	unsigned long got, failed;
	unsigned errors;
	char err[256];
};

static void
churn_error(struct churn *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
churn_error(struct churn *c, const char *fmt, ...)
{
	va_list ap;

	if (c->errors++ > 0)
		return;
	va_start(ap, fmt);
	vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
}

static void
churn_take(struct churn *c, void *obj)
{
	struct stamped *s = obj;
	long idx = obj_index(c->addr, c->n, obj);
	uint8_t prev;

	if (idx < 0) {
		churn_error(c, "tag %u got %p, not an object of the pool", c->tag, obj);
		return;
	}
	prev = atomic_exchange_explicit(&c->own[idx], c->tag, memory_order_relaxed);
	if (prev != 0)
		churn_error(c, "tag %u got object %ld, still held by tag %u", c->tag, idx, prev);
	if (s->holder != 0)
		churn_error(c, "tag %u got object %ld stamped by holder %u", c->tag, idx, s->holder);
	s->holder = c->tag;
}

static void
churn_give(struct churn *c, void *obj)
{
	struct stamped *s = obj;
	long idx = obj_index(c->addr, c->n, obj);

	if (s->holder != c->tag)
		churn_error(c, "tag %u holds object %ld, restamped by %u", c->tag, idx, s->holder);
	s->holder = 0;
	if (idx >= 0)
		atomic_store_explicit(&c->own[idx], 0, memory_order_relaxed);
}

/* Random bulk gets and puts, holding up to max_held objects; all returned at the end. */
static void
churn_run(struct churn *c)
{
	void **held = calloc(c->max_held, sizeof(*held));
	uint64_t s = c->seed;
	unsigned nheld = 0;

	if (held == NULL) {
		churn_error(c, "out of memory");
		return;
	}
	for (unsigned it = 0; it < c->iters && c->errors == 0; it++) {
		unsigned k = 1 + (unsigned)(test_rand(&s) % c->max_bulk);

		if (test_rand(&s) % 2 == 0 && nheld + k <= c->max_held) {
			if (mpdp_pool_get_bulk(c->pool, c->wid, held + nheld, k) != k) {
				c->failed++;
				continue;
			}
			for (unsigned i = 0; i < k; i++)
				churn_take(c, held[nheld + i]);
			nheld += k;
			c->got += k;
		} else if (nheld > 0) {
			if (k > nheld)
				k = nheld;
			/* Return k of the held objects picked at random: move them to the end. */
			for (unsigned i = 0; i < k; i++) {
				unsigned j = (unsigned)(test_rand(&s) % (nheld - i));
				void *t = held[j];

				held[j] = held[nheld - 1 - i];
				held[nheld - 1 - i] = t;
			}
			for (unsigned i = nheld - k; i < nheld; i++)
				churn_give(c, held[i]);
			mpdp_pool_put_bulk(c->pool, c->wid, held + nheld - k, k);
			nheld -= k;
		}
	}
	for (unsigned i = 0; i < nheld; i++)
		churn_give(c, held[i]);
	mpdp_pool_put_bulk(c->pool, c->wid, held, nheld);
	free(held);
}

struct churn_thread {
	struct churn c;
	struct mpdp_shm *shm;
	int reg_rc, rel_rc;
	pthread_t th;
};

static void *
churn_thread_main(void *arg)
{
	struct churn_thread *t = arg;

	t->reg_rc = mpdp_worker_register(t->shm, "churn", -1, &t->c.wid);
	if (t->reg_rc != 0)
		return NULL;
	churn_run(&t->c);
	/* Releasing the id flushes this worker's cache back to the ring. */
	t->rel_rc = mpdp_worker_release(t->shm, t->c.wid);
	return NULL;
}

static void
test_threads_never_hold_the_same_object(void **state)
{
	struct fixture *f = *state;
	const unsigned n = 1024, nthreads = usable_cores(f->load->threads);
	struct churn_thread *t = calloc(nthreads, sizeof(*t));
	_Atomic uint8_t *own = calloc(n, sizeof(*own));
	struct mpdp_pool *p;
	void **all;
	unsigned long got = 0;

	assert_non_null(t);
	assert_non_null(own);
	assert_int_equal(mpdp_pool_create(f->shm, "threads", n, sizeof(struct stamped), 32, -1,
					  NULL, NULL, &p), 0);
	all = all_objects(p, n);
	for (unsigned i = 0; i < nthreads; i++) {
		t[i].shm = f->shm;
		t[i].c = (struct churn){
			.pool = p, .addr = all, .n = n, .own = own, .tag = (uint8_t)(i + 1),
			.iters = f->load->iters, .max_bulk = 48, .max_held = 160,
			.seed = 0x1234567ull * (i + 1),
		};
		assert_int_equal(pthread_create(&t[i].th, NULL, churn_thread_main, &t[i]), 0);
	}
	for (unsigned i = 0; i < nthreads; i++)
		assert_int_equal(pthread_join(t[i].th, NULL), 0);
	for (unsigned i = 0; i < nthreads; i++) {
		if (t[i].c.errors != 0)
			print_error("thread %u: %u errors, first: %s\n", i, t[i].c.errors, t[i].c.err);
		assert_int_equal(t[i].reg_rc, 0);
		assert_int_equal(t[i].rel_rc, 0);
		assert_int_equal(t[i].c.errors, 0);
		got += t[i].c.got;
	}
	assert_true(got > 0);
	assert_int_equal(mpdp_worker_count(f->shm), 0);
	EXPECT_COUNTS(p, n, n, 0);
	for (unsigned i = 0; i < n; i++) {
		assert_int_equal(own[i], 0);
		assert_int_equal(((struct stamped *)all[i])->holder, 0);
	}
	expect_ring_holds_each_object_once(p, n);
	assert_int_equal(mpdp_pool_delete(f->shm, p), 0);
	free(all);
	free((void *)own);
	free(t);
}

struct proc_churn_arg {
	struct churn c;           /* template; the child fills in its worker id */
	const char *pool_name;
};

static int
churn_child(struct mpdp_shm *shm, void *arg)
{
	struct proc_churn_arg *a = arg;
	struct mpdp_shm_memzone mz;
	struct mpdp_pool *p;
	int rc;

	if (mpdp_pool_lookup(shm, a->pool_name, &p) != 0 || p != a->c.pool) {
		fprintf(stderr, "child tag %u: pool '%s' not found at %p\n", a->c.tag, a->pool_name,
			(void *)a->c.pool);
		return 2;
	}
	if (mpdp_shm_memzone_lookup(shm, "own", MPDP_MZ_KIND_RAW, &mz) != 0 ||
	    mz.addr != (void *)a->c.own) {
		fprintf(stderr, "child tag %u: ownership table not found\n", a->c.tag);
		return 3;
	}
	rc = mpdp_worker_register(shm, "child", -1, &a->c.wid);
	if (rc != 0) {
		fprintf(stderr, "child tag %u: register: %s\n", a->c.tag, mpdp_strerror(rc));
		return 4;
	}
	churn_run(&a->c);
	rc = mpdp_worker_release(shm, a->c.wid);
	if (a->c.errors != 0) {
		fprintf(stderr, "child tag %u: %u errors, first: %s\n", a->c.tag, a->c.errors, a->c.err);
		return 5;
	}
	if (rc != 0 || a->c.got == 0) {
		fprintf(stderr, "child tag %u: release %d, got %lu\n", a->c.tag, rc, a->c.got);
		return 6;
	}
	return 0;
}

static void
test_processes_return_every_object_once(void **state)
{
	struct fixture *f = *state;
	const unsigned n = 2048, nchildren = usable_cores(f->load->children);
	pid_t *pids = calloc(nchildren, sizeof(*pids));
	struct proc_churn_arg a = { .pool_name = "procs" };
	struct mpdp_pool *p;
	void *own, **all;

	assert_non_null(pids);
	assert_int_equal(mpdp_pool_create(f->shm, "procs", n, sizeof(struct stamped), 32, -1, NULL,
					  NULL, &p), 0);
	assert_int_equal(mpdp_shm_memzone_reserve(f->shm, "own", n, 0, -1, MPDP_MZ_KIND_RAW, &own), 0);
	all = all_objects(p, n);
	a.c = (struct churn){
		.pool = p, .addr = all, .n = n, .own = own, .iters = f->load->iters,
		.max_bulk = 48, .max_held = 160,
	};
	for (unsigned i = 0; i < nchildren; i++) {
		a.c.tag = (uint8_t)(i + 1);
		a.c.seed = 0xabcdefull * (i + 1);
		pids[i] = test_child_spawn(&f->ti, churn_child, &a, CHILD_TIMEOUT_S);
	}
	/* The parent, as the primary, only supervises: a core per worker. */
	for (unsigned i = 0; i < nchildren; i++)
		test_child_expect_exit(pids[i], 0, CHILD_TIMEOUT_S);

	assert_int_equal(mpdp_worker_count(f->shm), 0);
	EXPECT_COUNTS(p, n, n, 0);
	for (unsigned i = 0; i < n; i++) {
		assert_int_equal(((uint8_t *)own)[i], 0);
		assert_int_equal(((struct stamped *)all[i])->holder, 0);
	}
	expect_ring_holds_each_object_once(p, n);
	assert_int_equal(mpdp_shm_memzone_free(f->shm, "own"), 0);
	assert_int_equal(mpdp_pool_delete(f->shm, p), 0);
	free(all);
	free(pids);
}

static int
create_pool_child(struct mpdp_shm *shm, void *arg)
{
	struct mpdp_pool *p;
	void *cached[2], *kept[10];
	unsigned wid;

	(void)arg;
	if (mpdp_pool_create(shm, "made-by-child", 100, 64, 8, -1, NULL, NULL, &p) != 0)
		return 2;
	if (mpdp_worker_register(shm, "maker", -1, &wid) != 0)
		return 3;
	/* Leave 10 objects taken and 8 + 2 in the cache (the first get refilled it). */
	if (mpdp_pool_get_bulk(p, wid, cached, 2) != 2 ||
	    mpdp_pool_get_bulk(p, MPDP_POOL_NO_CACHE, kept, 10) != 10)
		return 4;
	mpdp_pool_put_bulk(p, wid, cached, 2);
	if (mpdp_pool_cached_count(p) != 10 || mpdp_pool_in_use_count(p) != 10)
		return 5;
	if (mpdp_worker_release(shm, wid) != 0)
		return 6;
	return 0;
}

static void
test_pool_made_by_another_process_is_usable_here(void **state)
{
	struct fixture *f = *state;
	struct mpdp_pool *p;
	void *objs[90];

	test_child_expect_exit(test_child_spawn(&f->ti, create_pool_child, NULL, CHILD_TIMEOUT_S), 0, CHILD_TIMEOUT_S);
	assert_int_equal(mpdp_pool_lookup(f->shm, "made-by-child", &p), 0);
	/* 10 still out; the child's cache went back to the ring when it released its id. */
	EXPECT_COUNTS(p, 100, 90, 0);
	assert_int_equal(mpdp_pool_get_bulk(p, MPDP_POOL_NO_CACHE, objs, 90), 90);
	expect_distinct_owned(p, objs, 90);
	mpdp_pool_put_bulk(p, MPDP_POOL_NO_CACHE, objs, 90);
	EXPECT_COUNTS(p, 100, 90, 0);
	assert_int_equal(mpdp_pool_delete(f->shm, p), 0);
}

#define FIXTURE_TEST(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
#define STRESS_TEST(fn) cmocka_unit_test_prestate_setup_teardown(fn, setup, teardown, (void *)&stress_load)

int
main(int argc, char **argv)
{
	const struct CMUnitTest fast[] = {
		FIXTURE_TEST(test_create_lookup_delete_round_trip),
		FIXTURE_TEST(test_create_rejects_bad_parameters),
		FIXTURE_TEST(test_create_rejects_taken_name),
		FIXTURE_TEST(test_delete_rejects_unknown_pool),
		FIXTURE_TEST(test_create_fails_enomem_when_region_is_full),
		FIXTURE_TEST(test_create_larger_than_region_fails_enomem),
		FIXTURE_TEST(test_pool_ring_is_aligned_for_its_type),
		FIXTURE_TEST(test_get_put_bulk_without_cache),
		FIXTURE_TEST(test_pool_without_cache_ignores_worker_id),
		FIXTURE_TEST(test_cached_pool_without_worker_id_uses_ring),
		FIXTURE_TEST(test_zero_length_get_and_put_change_nothing),
		FIXTURE_TEST(test_get_more_than_available_takes_nothing),
		FIXTURE_TEST(test_cached_get_more_than_available_takes_nothing),
		FIXTURE_TEST(test_get_refills_empty_cache_from_ring),
		FIXTURE_TEST(test_get_of_cache_size_or_more_bypasses_cache),
		FIXTURE_TEST(test_put_beyond_flush_threshold_flushes_cache_to_ring),
		FIXTURE_TEST(test_cached_objects_are_handed_out_again),
		FIXTURE_TEST(test_cache_flush_empties_only_that_workers_cache),
		FIXTURE_TEST(test_counters_follow_cache_model_through_random_steps),
		FIXTURE_TEST(test_init_runs_once_per_object_in_index_order),
		FIXTURE_TEST(test_iter_visits_every_object_once_in_address_order),
		FIXTURE_TEST(test_owns_rejects_foreign_and_interior_pointers),
		FIXTURE_TEST(test_dump_reports_counters),
		FIXTURE_TEST(test_threads_never_hold_the_same_object),
		FIXTURE_TEST(test_processes_return_every_object_once),
		FIXTURE_TEST(test_pool_made_by_another_process_is_usable_here),
	};
	const struct CMUnitTest stress[] = {
		STRESS_TEST(test_threads_never_hold_the_same_object),
		STRESS_TEST(test_processes_return_every_object_once),
	};

	if (argc > 1 && strcmp(argv[1], "stress") == 0)
		return cmocka_run_group_tests_name("pool_stress", stress, NULL, NULL);
	return cmocka_run_group_tests_name("pool", fast, NULL, NULL);
}

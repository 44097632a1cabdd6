/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Worker tests: core list parsing, pinning, and the shared worker table:
 * unique ids across threads and processes, release (which flushes the
 * worker's caches in every pool), reclaim of a dead process's slots, and a
 * full table.
 *
 * Core numbers come from this process's affinity, so the tests run under
 * taskset or in a container with any cpuset; on a machine where cores 0 and
 * 1 are allowed the lists are literally "0", "0-1", "0,1" and "1,0-1".
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
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mpdp_err.h"
#include "mpdp_pool.h"
#include "mpdp_shm.h"
#include "mpdp_worker.h"
#include "test_instance.h"
#include "test_util.h"

#define CHILD_TIMEOUT_S 60

static int
setup(void **state)
{
	struct test_instance *ti = calloc(1, sizeof(*ti));

	if (ti == NULL)
		return -1;
	test_instance_create(ti, "twork", 16ull << 20, 0);
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

/* --- helpers --------------------------------------------------------------- */

/* Cores this thread may use: the first two (c1 == c0 with only one) and one it may not. */
struct cores {
	int c0, c1;
	int adjacent;             /* c1 == c0 + 1 */
	int forbidden;            /* a core outside the affinity mask, or -1 */
};

static struct cores
allowed_cores(void)
{
	struct cores c = { -1, -1, 0, -1 };
	cpu_set_t set;

	assert_int_equal(sched_getaffinity(0, sizeof(set), &set), 0);
	for (int i = 0; i < CPU_SETSIZE; i++) {
		if (CPU_ISSET(i, &set)) {
			if (c.c0 < 0)
				c.c0 = i;
			else if (c.c1 < 0)
				c.c1 = i;
		} else if (c.forbidden < 0) {
			c.forbidden = i;
		}
	}
	assert_true(c.c0 >= 0);
	if (c.c1 < 0)
		c.c1 = c.c0;
	c.adjacent = c.c1 == c.c0 + 1;
	return c;
}

static pid_t
gettid_(void)
{
	return (pid_t)syscall(SYS_gettid);
}

static void
sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

static int
cmp_ptr(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t)*(void *const *)a, y = (uintptr_t)*(void *const *)b;

	return x < y ? -1 : x > y;
}

static int
cmp_uint(const void *a, const void *b)
{
	unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;

	return x < y ? -1 : x > y;
}

/* Ids are below MPDP_WORKER_MAX and pairwise distinct. */
static void
expect_unique_ids(const unsigned *ids, unsigned n)
{
	unsigned *sorted = malloc((n ? n : 1) * sizeof(*sorted));

	assert_non_null(sorted);
	memcpy(sorted, ids, n * sizeof(*sorted));
	qsort(sorted, n, sizeof(*sorted), cmp_uint);
	for (unsigned i = 0; i < n; i++) {
		assert_true(sorted[i] < MPDP_WORKER_MAX);
		if (i > 0)
			assert_int_not_equal(sorted[i], sorted[i - 1]);
	}
	free(sorted);
}

/* With every cache empty, the ring holds each of the pool's n objects once. */
static void
expect_ring_holds_each_object_once(struct mpdp_pool *pool, unsigned n)
{
	void **objs = calloc(n + 1, sizeof(*objs));

	assert_non_null(objs);
	assert_int_equal(mpdp_pool_cached_count(pool), 0);
	assert_int_equal(mpdp_pool_get_bulk(pool, MPDP_POOL_NO_CACHE, objs, n), n);
	assert_int_equal(mpdp_pool_get_bulk(pool, MPDP_POOL_NO_CACHE, objs + n, 1), 0);
	qsort(objs, n, sizeof(*objs), cmp_ptr);
	for (unsigned i = 0; i < n; i++) {
		assert_true(mpdp_pool_owns(pool, objs[i]));
		if (i > 0)
			assert_ptr_not_equal(objs[i], objs[i - 1]);
	}
	mpdp_pool_put_bulk(pool, MPDP_POOL_NO_CACHE, objs, n);
	free(objs);
}

/* Leave @k objects in @wid's cache of @pool (a get refills the cache, the put adds to it). */
static unsigned
fill_cache(struct mpdp_pool *pool, unsigned wid, unsigned k)
{
	void *objs[16];

	assert_true(k <= 16);
	assert_int_equal(mpdp_pool_get_bulk(pool, wid, objs, k), k);
	mpdp_pool_put_bulk(pool, wid, objs, k);
	return mpdp_pool_cached_count(pool);
}

static const struct mpdp_abi_worker *
slot(struct test_instance *ti, unsigned wid)
{
	return &mpdp_shm_header(ti->shm)->workers[wid];
}

/* State shared with forked children, in a memzone. */
struct shared {
	_Atomic uint32_t registered;
	_Atomic uint32_t go;
	uint32_t ids[16];
	int32_t rc[16];
};

static struct shared *
shared_new(struct test_instance *ti)
{
	void *mem;

	assert_int_equal(mpdp_shm_memzone_reserve(ti->shm, "shared", sizeof(struct shared), 0, -1,
						  MPDP_MZ_KIND_RAW, &mem), 0);
	return mem;
}

static struct shared *
shared_find(struct mpdp_shm *shm)
{
	struct mpdp_shm_memzone mz;

	return mpdp_shm_memzone_lookup(shm, "shared", MPDP_MZ_KIND_RAW, &mz) == 0 ? mz.addr : NULL;
}

/* Wait (bounded by the child's alarm) until the parent says go. */
static void
wait_for_go(struct shared *sh)
{
	while (atomic_load(&sh->go) == 0)
		sleep_ms(1);
}

/* Wait up to 30 s for @n children to have registered. */
static void
wait_registered(struct shared *sh, unsigned n)
{
	for (unsigned ms = 0; atomic_load(&sh->registered) < n && ms < 30000; ms++)
		sleep_ms(1);
	assert_int_equal(atomic_load(&sh->registered), n);
}

/* --- fork helpers ---------------------------------------------------------- */

/* --- core lists ------------------------------------------------------------ */

static void
test_corelist_parse_accepts_good_lists(void **state)
{
	struct cores c = allowed_cores();
	int hi = c.adjacent ? c.c1 : c.c0;   /* top of a range that is all allowed */
	char in[5][64];
	struct mpdp_errbuf eb;
	cpu_set_t set, want;

	(void)state;
	snprintf(in[0], sizeof(in[0]), "%d", c.c0);
	snprintf(in[1], sizeof(in[1]), "%d-%d", c.c0, hi);
	snprintf(in[2], sizeof(in[2]), "%d,%d", c.c0, c.c1);
	snprintf(in[3], sizeof(in[3]), "%d,%d-%d", hi, c.c0, hi);
	snprintf(in[4], sizeof(in[4]), "%d-%d", c.c0, c.c0);
	for (unsigned i = 0; i < 5; i++) {
		CPU_ZERO(&want);
		CPU_SET(c.c0, &want);
		if (i == 2)
			CPU_SET(c.c1, &want);
		else if (i == 1 || i == 3)
			CPU_SET(hi, &want);
		memset(&set, 0xff, sizeof(set));
		eb.msg[0] = '\0';
		if (mpdp_corelist_parse(in[i], &set, &eb) != 0)
			print_error("'%s': %s\n", in[i], eb.msg);
		assert_int_equal(mpdp_corelist_parse(in[i], &set, &eb), 0);
		assert_true(CPU_EQUAL(&set, &want));
	}
	/* The error buffer is optional. */
	assert_int_equal(mpdp_corelist_parse(in[2], &set, NULL), 0);
}

static void
test_corelist_parse_rejects_bad_lists(void **state)
{
	struct cores c = allowed_cores();
	char forbidden[16] = "", forbidden_range[32] = "";
	const char *bad[] = {
		"", "a", "1-0", "0-", "0,,1", "0,", "99999", "0;1", "-1", " 0", "0 ", "0-1-2", "0x1",
		",0", "1024", "18446744073709551616", "0-18446744073709551616",
		forbidden, forbidden_range,
	};
	struct mpdp_errbuf eb;
	cpu_set_t set;

	(void)state;
	if (c.forbidden >= 0) {
		snprintf(forbidden, sizeof(forbidden), "%d", c.forbidden);
		snprintf(forbidden_range, sizeof(forbidden_range), "%d-%d", c.c0, c.forbidden);
	}
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc;

		if (bad[i][0] == '\0' && i > 0)
			continue;        /* no forbidden core on this machine */
		memset(eb.msg, 0, sizeof(eb.msg));
		rc = mpdp_corelist_parse(bad[i], &set, &eb);
		if (rc != -EINVAL)
			print_error("'%s' gave %d\n", bad[i], rc);
		assert_int_equal(rc, -EINVAL);
		if (eb.msg[0] == '\0')
			print_error("'%s': no message\n", bad[i]);
		assert_true(eb.msg[0] != '\0');
		/* And without an error buffer. */
		assert_int_equal(mpdp_corelist_parse(bad[i], &set, NULL), -EINVAL);
	}
	/* The message says which core. */
	assert_int_equal(mpdp_corelist_parse("99999", &set, &eb), -EINVAL);
	assert_non_null(strstr(eb.msg, "99999"));
	if (c.forbidden >= 0) {
		assert_int_equal(mpdp_corelist_parse(forbidden, &set, &eb), -EINVAL);
		assert_non_null(strstr(eb.msg, forbidden));
	}
	memset(eb.msg, 0, sizeof(eb.msg));
	assert_int_equal(mpdp_corelist_parse(NULL, &set, &eb), -EINVAL);
	assert_true(eb.msg[0] != '\0');
}

static void
test_corelist_nth_counts_set_cores_in_order(void **state)
{
	struct cores c = allowed_cores();
	struct mpdp_errbuf eb;
	char list[32];
	cpu_set_t set;

	(void)state;
	CPU_ZERO(&set);
	assert_int_equal(mpdp_corelist_nth(&set, 0), -1);
	CPU_SET(3, &set);
	CPU_SET(7, &set);
	CPU_SET(CPU_SETSIZE - 1, &set);
	assert_int_equal(mpdp_corelist_nth(&set, 0), 3);
	assert_int_equal(mpdp_corelist_nth(&set, 1), 7);
	assert_int_equal(mpdp_corelist_nth(&set, 2), CPU_SETSIZE - 1);
	assert_int_equal(mpdp_corelist_nth(&set, 3), -1);
	assert_int_equal(mpdp_corelist_nth(&set, UINT32_MAX), -1);

	snprintf(list, sizeof(list), "%d,%d", c.c1, c.c0);
	assert_int_equal(mpdp_corelist_parse(list, &set, &eb), 0);
	assert_int_equal(mpdp_corelist_nth(&set, 0), c.c0);
	assert_int_equal(mpdp_corelist_nth(&set, 1), c.c1 == c.c0 ? -1 : c.c1);
	assert_int_equal(mpdp_corelist_nth(&set, 2), -1);
}

/* --- pinning (in threads of their own: the main thread keeps its mask) ------- */

struct pin_probe {
	struct cores c;
	struct mpdp_shm *shm;
	int rc_ok, rc_neg, rc_big, rc_forbidden, rc_after;
	cpu_set_t after;
	/* registration with a core */
	int reg_rc, reg_bad_rc, rel_rc;
	unsigned wid;
	int32_t slot_cpu, slot_tid, tid;
	unsigned count_during;
	cpu_set_t before, after_fail;
};

static void *
pin_thread(void *arg)
{
	struct pin_probe *p = arg;

	p->rc_ok = mpdp_worker_pin(p->c.c0);
	p->rc_neg = mpdp_worker_pin(-1);
	p->rc_big = mpdp_worker_pin(CPU_SETSIZE);
	p->rc_forbidden = p->c.forbidden >= 0 ? mpdp_worker_pin(p->c.forbidden) : -EINVAL;
	p->rc_after = pthread_getaffinity_np(pthread_self(), sizeof(p->after), &p->after);
	return NULL;
}

static void
test_pin_to_allowed_core_works_and_to_minus_one_fails(void **state)
{
	struct pin_probe p = { .c = allowed_cores() };
	cpu_set_t want;
	pthread_t th;

	(void)state;
	assert_int_equal(pthread_create(&th, NULL, pin_thread, &p), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(p.rc_ok, 0);
	assert_int_equal(p.rc_neg, -EINVAL);
	assert_int_equal(p.rc_big, -EINVAL);
	assert_int_equal(p.rc_forbidden, -EINVAL);
	assert_int_equal(p.rc_after, 0);
	/* Failed pins left the first one in place. */
	CPU_ZERO(&want);
	CPU_SET(p.c.c0, &want);
	assert_true(CPU_EQUAL(&p.after, &want));
}

static void *
register_pinned_thread(void *arg)
{
	struct pin_probe *p = arg;
	unsigned bad_wid = 12345;

	p->tid = (int32_t)gettid_();
	pthread_getaffinity_np(pthread_self(), sizeof(p->before), &p->before);
	p->reg_bad_rc = p->c.forbidden >= 0 ?
			mpdp_worker_register(p->shm, "bad", p->c.forbidden, &bad_wid) : -EINVAL;
	pthread_getaffinity_np(pthread_self(), sizeof(p->after_fail), &p->after_fail);
	p->reg_rc = mpdp_worker_register(p->shm, "pinned", p->c.c0, &p->wid);
	pthread_getaffinity_np(pthread_self(), sizeof(p->after), &p->after);
	if (p->reg_rc == 0) {
		p->count_during = mpdp_worker_count(p->shm);
		p->rel_rc = mpdp_worker_release(p->shm, p->wid);
	}
	return NULL;
}

static void
test_register_with_core_pins_the_thread(void **state)
{
	struct test_instance *ti = *state;
	struct pin_probe p = { .c = allowed_cores(), .shm = ti->shm };
	const struct mpdp_abi_worker *w;
	cpu_set_t want;
	pthread_t th;

	assert_int_equal(pthread_create(&th, NULL, register_pinned_thread, &p), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	/* A core the thread may not use: -EINVAL, no slot, mask as it was. */
	assert_int_equal(p.reg_bad_rc, -EINVAL);
	assert_true(CPU_EQUAL(&p.before, &p.after_fail));

	assert_int_equal(p.reg_rc, 0);
	assert_int_equal(p.count_during, 1);
	CPU_ZERO(&want);
	CPU_SET(p.c.c0, &want);
	assert_true(CPU_EQUAL(&p.after, &want));
	assert_int_equal(p.rel_rc, 0);
	assert_int_equal(mpdp_worker_count(ti->shm), 0);
	w = slot(ti, p.wid);
	assert_int_equal(w->state, MPDP_WORKER_FREE);
}

/* --- the worker table ---------------------------------------------------------- */

static void
test_register_records_identity_in_table(void **state)
{
	struct test_instance *ti = *state;
	static const char long_name[] = "a-worker-name-much-longer-than-the-slot-allows";
	const struct mpdp_abi_worker *w;
	unsigned a, b;

	assert_int_equal(mpdp_worker_count(ti->shm), 0);
	assert_int_equal(mpdp_worker_register(ti->shm, long_name, -1, &a), 0);
	assert_int_equal(mpdp_worker_register(ti->shm, NULL, -1, &b), 0);
	assert_int_not_equal(a, b);
	assert_int_equal(mpdp_worker_count(ti->shm), 2);

	w = slot(ti, a);
	assert_int_equal(w->state, MPDP_WORKER_ACTIVE);
	assert_int_equal(w->pid, getpid());
	assert_int_equal(w->tid, gettid_());
	assert_int_equal(w->cpu, -1);
	assert_true(w->start_time != 0);
	assert_int_equal(strnlen(w->name, sizeof(w->name)), MPDP_NAME_MAX - 1);
	assert_memory_equal(w->name, long_name, MPDP_NAME_MAX - 1);
	assert_string_equal(slot(ti, b)->name, "");

	assert_int_equal(mpdp_worker_release(ti->shm, a), 0);
	assert_int_equal(w->state, MPDP_WORKER_FREE);
	assert_int_equal(w->pid, 0);
	assert_string_equal(w->name, "");
	assert_int_equal(mpdp_worker_count(ti->shm), 1);
	assert_int_equal(mpdp_worker_release(ti->shm, b), 0);
	assert_int_equal(mpdp_worker_count(ti->shm), 0);
}

#define N_THREADS 8

struct reg_thread {
	struct mpdp_shm *shm;
	pthread_barrier_t *barrier;
	unsigned wid;
	int reg_rc, rel_rc;
};

static void *
register_and_hold(void *arg)
{
	struct reg_thread *t = arg;

	t->reg_rc = mpdp_worker_register(t->shm, "thread", -1, &t->wid);
	pthread_barrier_wait(t->barrier);   /* everyone holds an id */
	pthread_barrier_wait(t->barrier);   /* the main thread has checked */
	if (t->reg_rc == 0)
		t->rel_rc = mpdp_worker_release(t->shm, t->wid);
	return NULL;
}

static void
test_register_gives_unique_ids_across_threads(void **state)
{
	struct test_instance *ti = *state;
	struct reg_thread t[N_THREADS];
	pthread_t th[N_THREADS];
	pthread_barrier_t barrier;
	unsigned ids[N_THREADS];

	assert_int_equal(pthread_barrier_init(&barrier, NULL, N_THREADS + 1), 0);
	for (unsigned i = 0; i < N_THREADS; i++) {
		t[i] = (struct reg_thread){ .shm = ti->shm, .barrier = &barrier };
		assert_int_equal(pthread_create(&th[i], NULL, register_and_hold, &t[i]), 0);
	}
	pthread_barrier_wait(&barrier);
	for (unsigned i = 0; i < N_THREADS; i++) {
		assert_int_equal(t[i].reg_rc, 0);
		ids[i] = t[i].wid;
	}
	expect_unique_ids(ids, N_THREADS);
	assert_int_equal(mpdp_worker_count(ti->shm), N_THREADS);
	pthread_barrier_wait(&barrier);
	for (unsigned i = 0; i < N_THREADS; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(t[i].rel_rc, 0);
	}
	assert_int_equal(mpdp_worker_count(ti->shm), 0);
	pthread_barrier_destroy(&barrier);
}

struct churn_thread {
	struct mpdp_shm *shm;
	_Atomic uint8_t *holder;  /* per id: thread tag, 0 when free */
	uint8_t tag;
	unsigned iters, errors;
};

static void *
register_release_churn(void *arg)
{
	struct churn_thread *t = arg;

	for (unsigned i = 0; i < t->iters; i++) {
		unsigned wid;

		if (mpdp_worker_register(t->shm, "churn", -1, &wid) != 0 || wid >= MPDP_WORKER_MAX) {
			t->errors++;
			continue;
		}
		if (atomic_exchange(&t->holder[wid], t->tag) != 0)
			t->errors++;
		atomic_store(&t->holder[wid], 0);
		if (mpdp_worker_release(t->shm, wid) != 0)
			t->errors++;
	}
	return NULL;
}

static void
test_concurrent_register_release_never_share_an_id(void **state)
{
	struct test_instance *ti = *state;
	_Atomic uint8_t holder[MPDP_WORKER_MAX];
	struct churn_thread t[4];
	pthread_t th[4];

	for (unsigned i = 0; i < MPDP_WORKER_MAX; i++)
		atomic_init(&holder[i], 0);
	for (unsigned i = 0; i < 4; i++) {
		t[i] = (struct churn_thread){ .shm = ti->shm, .holder = holder, .tag = (uint8_t)(i + 1),
					      .iters = 2000 };
		assert_int_equal(pthread_create(&th[i], NULL, register_release_churn, &t[i]), 0);
	}
	for (unsigned i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(t[i].errors, 0);
	}
	assert_int_equal(mpdp_worker_count(ti->shm), 0);
}

#define N_CHILDREN 6

static int
register_and_wait_child(struct mpdp_shm *shm, void *arg)
{
	unsigned idx = *(const unsigned *)arg, wid = UINT32_MAX;
	struct shared *sh = shared_find(shm);
	int rc;

	if (sh == NULL)
		return 2;
	rc = mpdp_worker_register(shm, "child", -1, &wid);
	sh->ids[idx] = wid;
	sh->rc[idx] = rc;
	atomic_fetch_add(&sh->registered, 1);
	if (rc != 0)
		return 3;
	wait_for_go(sh);
	return mpdp_worker_release(shm, wid) == 0 ? 0 : 4;
}

static void
test_register_gives_unique_ids_across_processes(void **state)
{
	struct test_instance *ti = *state;
	struct shared *sh = shared_new(ti);
	unsigned ids[N_CHILDREN + 1], idx[N_CHILDREN];
	pid_t pids[N_CHILDREN];

	/* The parent holds an id too; no child may get it. */
	assert_int_equal(mpdp_worker_register(ti->shm, "parent", -1, &ids[N_CHILDREN]), 0);
	for (unsigned i = 0; i < N_CHILDREN; i++) {
		idx[i] = i;
		pids[i] = test_child_spawn(ti, register_and_wait_child, &idx[i], CHILD_TIMEOUT_S);
	}
	wait_registered(sh, N_CHILDREN);
	for (unsigned i = 0; i < N_CHILDREN; i++) {
		assert_int_equal(sh->rc[i], 0);
		ids[i] = sh->ids[i];
		assert_int_equal(slot(ti, ids[i])->pid, pids[i]);
	}
	expect_unique_ids(ids, N_CHILDREN + 1);
	assert_int_equal(mpdp_worker_count(ti->shm), N_CHILDREN + 1);
	/* Live processes are not reclaimed. */
	assert_int_equal(mpdp_worker_reclaim_dead(ti->shm), 0);
	assert_int_equal(mpdp_worker_count(ti->shm), N_CHILDREN + 1);

	atomic_store(&sh->go, 1);
	for (unsigned i = 0; i < N_CHILDREN; i++)
		test_child_expect_exit(pids[i], 0, CHILD_TIMEOUT_S);
	assert_int_equal(mpdp_worker_count(ti->shm), 1);
	assert_int_equal(mpdp_worker_release(ti->shm, ids[N_CHILDREN]), 0);
	assert_int_equal(mpdp_worker_count(ti->shm), 0);
	assert_int_equal(mpdp_shm_memzone_free(ti->shm, "shared"), 0);
}

static void
test_release_frees_slot_and_flushes_caches_in_every_pool(void **state)
{
	struct test_instance *ti = *state;
	struct mpdp_pool *a, *b, *none;
	unsigned w1, w2;
	void *obj;

	assert_int_equal(mpdp_pool_create(ti->shm, "a", 256, 64, 16, -1, NULL, NULL, &a), 0);
	assert_int_equal(mpdp_pool_create(ti->shm, "b", 128, 64, 8, -1, NULL, NULL, &b), 0);
	assert_int_equal(mpdp_pool_create(ti->shm, "none", 32, 64, 0, -1, NULL, NULL, &none), 0);
	assert_int_equal(mpdp_worker_register(ti->shm, "w1", -1, &w1), 0);
	assert_int_equal(mpdp_worker_register(ti->shm, "w2", -1, &w2), 0);
	assert_int_equal(mpdp_worker_count(ti->shm), 2);

	/* get 4 refills 4 + 16 and leaves 16; the put makes 20. */
	assert_int_equal(fill_cache(a, w1, 4), 20);
	/* get 2 refills 2 + 8 and leaves 8; the put makes 10. */
	assert_int_equal(fill_cache(b, w1, 2), 10);
	/* w2: 16 + 3 in a. */
	assert_int_equal(fill_cache(a, w2, 3), 39);
	/* w1 also holds an object of a pool without caches. */
	assert_int_equal(mpdp_pool_get_bulk(none, w1, &obj, 1), 1);

	assert_int_equal(mpdp_worker_release(ti->shm, w1), 0);
	assert_int_equal(mpdp_worker_count(ti->shm), 1);
	assert_int_equal(mpdp_pool_cached_count(a), 19);   /* w2's cache is its own */
	assert_int_equal(mpdp_pool_cached_count(b), 0);
	assert_int_equal(mpdp_pool_avail_count(a), 256);
	assert_int_equal(mpdp_pool_avail_count(b), 128);
	expect_ring_holds_each_object_once(b, 128);
	assert_int_equal(mpdp_pool_in_use_count(none), 1);
	mpdp_pool_put_bulk(none, MPDP_POOL_NO_CACHE, &obj, 1);

	assert_int_equal(mpdp_worker_release(ti->shm, w2), 0);
	assert_int_equal(mpdp_worker_count(ti->shm), 0);
	expect_ring_holds_each_object_once(a, 256);
	assert_int_equal(mpdp_pool_delete(ti->shm, a), 0);
	assert_int_equal(mpdp_pool_delete(ti->shm, b), 0);
	assert_int_equal(mpdp_pool_delete(ti->shm, none), 0);
}

static void
test_release_rejects_inactive_id(void **state)
{
	struct test_instance *ti = *state;
	unsigned wid;

	assert_int_equal(mpdp_worker_release(ti->shm, 0), -EINVAL);
	assert_int_equal(mpdp_worker_release(ti->shm, MPDP_WORKER_MAX - 1), -EINVAL);
	assert_int_equal(mpdp_worker_release(ti->shm, MPDP_WORKER_MAX), -EINVAL);
	assert_int_equal(mpdp_worker_release(ti->shm, MPDP_POOL_NO_CACHE), -EINVAL);
	assert_int_equal(mpdp_worker_register(ti->shm, "once", -1, &wid), 0);
	assert_int_equal(mpdp_worker_release(ti->shm, wid), 0);
	/* Twice is once too many. */
	assert_int_equal(mpdp_worker_release(ti->shm, wid), -EINVAL);
	assert_int_equal(mpdp_worker_count(ti->shm), 0);
}

static void
test_release_rejects_another_process_id(void **state)
{
	struct test_instance *ti = *state;
	struct shared *sh = shared_new(ti);
	unsigned idx = 0;
	pid_t pid = test_child_spawn(ti, register_and_wait_child, &idx, CHILD_TIMEOUT_S);

	wait_registered(sh, 1);
	assert_int_equal(sh->rc[0], 0);
	assert_int_equal(mpdp_worker_count(ti->shm), 1);
	assert_int_equal(mpdp_worker_release(ti->shm, sh->ids[0]), -EINVAL);
	assert_int_equal(mpdp_worker_count(ti->shm), 1);
	assert_int_equal(slot(ti, sh->ids[0])->state, MPDP_WORKER_ACTIVE);
	assert_int_equal(slot(ti, sh->ids[0])->pid, pid);
	/* The owner itself may release it. */
	atomic_store(&sh->go, 1);
	test_child_expect_exit(pid, 0, CHILD_TIMEOUT_S);
	assert_int_equal(mpdp_worker_count(ti->shm), 0);
	assert_int_equal(mpdp_shm_memzone_free(ti->shm, "shared"), 0);
}

/* Register, leave 20 objects in pool "dead"'s cache, record the id, and die without releasing. */
static int
register_fill_and_die_child(struct mpdp_shm *shm, void *arg)
{
	struct shared *sh = shared_find(shm);
	int how = *(const int *)arg;
	struct mpdp_pool *p;
	void *objs[4];
	unsigned wid;

	if (sh == NULL || mpdp_pool_lookup(shm, "dead", &p) != 0)
		return 2;
	if (mpdp_worker_register(shm, "doomed", -1, &wid) != 0)
		return 3;
	if (mpdp_pool_get_bulk(p, wid, objs, 4) != 4)
		return 4;
	mpdp_pool_put_bulk(p, wid, objs, 4);
	sh->ids[0] = wid;
	atomic_fetch_add(&sh->registered, 1);
	if (how == SIGKILL)
		raise(SIGKILL);
	return 0;
}

#define HOW_ZOMBIE (-1)

static void
reclaim_after_death(struct test_instance *ti, int how)
{
	struct shared *sh = shared_new(ti);
	struct mpdp_pool *p;
	unsigned mine;
	pid_t pid;

	assert_int_equal(mpdp_pool_create(ti->shm, "dead", 256, 64, 16, -1, NULL, NULL, &p), 0);
	assert_int_equal(mpdp_worker_register(ti->shm, "survivor", -1, &mine), 0);
	pid = test_child_spawn(ti, register_fill_and_die_child, &how, CHILD_TIMEOUT_S);
	if (how == SIGKILL) {
		test_child_expect_signal(pid, SIGKILL, CHILD_TIMEOUT_S);
	} else if (how == HOW_ZOMBIE) {
		siginfo_t si = { 0 };

		/* Wait for the exit but leave the child unreaped: a zombie is dead too. */
		assert_int_equal(waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT), 0);
	} else {
		test_child_expect_exit(pid, 0, CHILD_TIMEOUT_S);
	}
	assert_int_equal(atomic_load(&sh->registered), 1);

	/* The dead worker still holds its slot and its cache. */
	assert_int_equal(mpdp_worker_count(ti->shm), 2);
	assert_int_equal(slot(ti, sh->ids[0])->state, MPDP_WORKER_ACTIVE);
	assert_int_equal(mpdp_pool_cached_count(p), 20);
	assert_int_equal(mpdp_pool_avail_count(p), 256);

	assert_int_equal(mpdp_worker_reclaim_dead(ti->shm), 1);
	assert_int_equal(mpdp_worker_count(ti->shm), 1);
	assert_int_equal(slot(ti, sh->ids[0])->state, MPDP_WORKER_FREE);
	assert_int_equal(mpdp_pool_cached_count(p), 0);
	assert_int_equal(mpdp_pool_avail_count(p), 256);
	expect_ring_holds_each_object_once(p, 256);
	assert_int_equal(mpdp_worker_reclaim_dead(ti->shm), 0);
	if (how == HOW_ZOMBIE)
		test_child_expect_exit(pid, 0, CHILD_TIMEOUT_S);

	/* The live worker kept its slot. */
	assert_int_equal(slot(ti, mine)->state, MPDP_WORKER_ACTIVE);
	assert_int_equal(mpdp_worker_release(ti->shm, mine), 0);
	assert_int_equal(mpdp_worker_count(ti->shm), 0);
	assert_int_equal(mpdp_pool_delete(ti->shm, p), 0);
	assert_int_equal(mpdp_shm_memzone_free(ti->shm, "shared"), 0);
}

static void
test_reclaim_frees_slot_and_cache_of_exited_process(void **state)
{
	reclaim_after_death(*state, 0);
}

static void
test_reclaim_frees_slot_and_cache_of_killed_process(void **state)
{
	reclaim_after_death(*state, SIGKILL);
}

static void
test_reclaim_frees_slot_of_exited_process_not_yet_reaped(void **state)
{
	reclaim_after_death(*state, HOW_ZOMBIE);
}

/* Fill the table from this thread; @ids gets MPDP_WORKER_MAX - @leave ids. */
static void
fill_table(struct test_instance *ti, unsigned *ids, unsigned leave)
{
	for (unsigned i = 0; i < MPDP_WORKER_MAX - leave; i++)
		assert_int_equal(mpdp_worker_register(ti->shm, "filler", -1, &ids[i]), 0);
}

static void
release_all(struct test_instance *ti, const unsigned *ids, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		assert_int_equal(mpdp_worker_release(ti->shm, ids[i]), 0);
}

static void
test_full_table_refuses_registration_until_a_release(void **state)
{
	struct test_instance *ti = *state;
	unsigned ids[MPDP_WORKER_MAX], extra = 12345;

	fill_table(ti, ids, 0);
	expect_unique_ids(ids, MPDP_WORKER_MAX);
	assert_int_equal(mpdp_worker_count(ti->shm), MPDP_WORKER_MAX);
	assert_int_equal(mpdp_worker_register(ti->shm, "extra", -1, &extra), -ENOSPC);
	assert_int_equal(extra, 12345);
	assert_int_equal(mpdp_worker_count(ti->shm), MPDP_WORKER_MAX);

	assert_int_equal(mpdp_worker_release(ti->shm, ids[5]), 0);
	assert_int_equal(mpdp_worker_count(ti->shm), MPDP_WORKER_MAX - 1);
	assert_int_equal(mpdp_worker_register(ti->shm, "extra", -1, &extra), 0);
	assert_int_equal(extra, ids[5]);   /* the only free slot */
	assert_int_equal(mpdp_worker_register(ti->shm, "extra", -1, &extra), -ENOSPC);
	release_all(ti, ids, MPDP_WORKER_MAX);
	assert_int_equal(mpdp_worker_count(ti->shm), 0);
}

static int
register_two_and_exit_child(struct mpdp_shm *shm, void *arg)
{
	unsigned a, b;

	(void)arg;
	return mpdp_worker_register(shm, "gone", -1, &a) == 0 &&
	       mpdp_worker_register(shm, "gone", -1, &b) == 0 ? 0 : 2;
}

static void
test_full_table_reclaims_slots_of_dead_processes(void **state)
{
	struct test_instance *ti = *state;
	unsigned ids[MPDP_WORKER_MAX];

	test_child_expect_exit(test_child_spawn(ti, register_two_and_exit_child, NULL, CHILD_TIMEOUT_S), 0, CHILD_TIMEOUT_S);
	assert_int_equal(mpdp_worker_count(ti->shm), 2);
	fill_table(ti, ids, 2);
	assert_int_equal(mpdp_worker_count(ti->shm), MPDP_WORKER_MAX);
	/* Full, but two slots belong to a process that is gone. */
	assert_int_equal(mpdp_worker_register(ti->shm, "late", -1, &ids[MPDP_WORKER_MAX - 2]), 0);
	assert_int_equal(mpdp_worker_count(ti->shm), MPDP_WORKER_MAX - 1);
	expect_unique_ids(ids, MPDP_WORKER_MAX - 1);
	release_all(ti, ids, MPDP_WORKER_MAX - 1);
	assert_int_equal(mpdp_worker_count(ti->shm), 0);
}

static void *
register_when_full_thread(void *arg)
{
	struct pin_probe *p = arg;

	pthread_getaffinity_np(pthread_self(), sizeof(p->before), &p->before);
	p->reg_rc = mpdp_worker_register(p->shm, "late", p->c.c0, &p->wid);
	pthread_getaffinity_np(pthread_self(), sizeof(p->after_fail), &p->after_fail);
	return NULL;
}

/*
 * A registration that fails leaves the calling thread as it was: it must not
 * pin the thread to a core it then holds no worker id for (STYLE §2, "on
 * failure, objects are left unchanged").
 */
static void
test_failed_registration_leaves_thread_unpinned(void **state)
{
	struct test_instance *ti = *state;
	struct pin_probe p = { .c = allowed_cores(), .shm = ti->shm };
	unsigned ids[MPDP_WORKER_MAX];
	pthread_t th;

	fill_table(ti, ids, 0);
	assert_int_equal(pthread_create(&th, NULL, register_when_full_thread, &p), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	release_all(ti, ids, MPDP_WORKER_MAX);
	assert_int_equal(p.reg_rc, -ENOSPC);
	if (!CPU_EQUAL(&p.before, &p.after_fail))
		print_error("the thread had %d cores before and %d after the failed register\n",
			    CPU_COUNT(&p.before), CPU_COUNT(&p.after_fail));
	assert_true(CPU_EQUAL(&p.before, &p.after_fail));
}

#define FIXTURE_TEST(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_corelist_parse_accepts_good_lists),
		cmocka_unit_test(test_corelist_parse_rejects_bad_lists),
		cmocka_unit_test(test_corelist_nth_counts_set_cores_in_order),
		cmocka_unit_test(test_pin_to_allowed_core_works_and_to_minus_one_fails),
		FIXTURE_TEST(test_register_with_core_pins_the_thread),
		FIXTURE_TEST(test_register_records_identity_in_table),
		FIXTURE_TEST(test_register_gives_unique_ids_across_threads),
		FIXTURE_TEST(test_concurrent_register_release_never_share_an_id),
		FIXTURE_TEST(test_register_gives_unique_ids_across_processes),
		FIXTURE_TEST(test_release_frees_slot_and_flushes_caches_in_every_pool),
		FIXTURE_TEST(test_release_rejects_inactive_id),
		FIXTURE_TEST(test_release_rejects_another_process_id),
		FIXTURE_TEST(test_reclaim_frees_slot_and_cache_of_exited_process),
		FIXTURE_TEST(test_reclaim_frees_slot_and_cache_of_killed_process),
		FIXTURE_TEST(test_reclaim_frees_slot_of_exited_process_not_yet_reaped),
		FIXTURE_TEST(test_full_table_refuses_registration_until_a_release),
		FIXTURE_TEST(test_full_table_reclaims_slots_of_dead_processes),
		FIXTURE_TEST(test_failed_registration_leaves_thread_unpinned),
	};

	return cmocka_run_group_tests_name("worker", tests, NULL, NULL);
}

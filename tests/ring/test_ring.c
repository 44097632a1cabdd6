/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Ring tests: every mode, bulk and burst semantics, 32-bit index wrap,
 * and stamped stress across threads and across processes.
 *
 * Run with "stress" as the first argument for the long stress cases.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <linux/membarrier.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mpdp_ring.h"
#include "mpdp_shm.h"
#include "test_instance.h"

/*
 * Each mode also unbiased (every multi claim a compare-and-swap) and
 * recoverable (multi sides taken one caller at a time, doc/faults.md). In
 * the default mode a multi side is biased to its first user and revoked by
 * the second.
 */
static const unsigned all_modes[] = {
	0,
	MPDP_RING_F_SP_ENQ,
	MPDP_RING_F_SC_DEQ,
	MPDP_RING_F_SP_ENQ | MPDP_RING_F_SC_DEQ,
	MPDP_RING_F_UNBIASED,
	MPDP_RING_F_UNBIASED | MPDP_RING_F_SP_ENQ,
	MPDP_RING_F_UNBIASED | MPDP_RING_F_SC_DEQ,
	MPDP_RING_F_RECOVER,
	MPDP_RING_F_RECOVER | MPDP_RING_F_SP_ENQ,
	MPDP_RING_F_RECOVER | MPDP_RING_F_SC_DEQ,
};
#define N_MODES (sizeof(all_modes) / sizeof(all_modes[0]))

static struct mpdp_ring *
ring_new(unsigned count, unsigned flags)
{
	struct mpdp_ring *r = aligned_alloc(128, (mpdp_ring_memsize(count) + 127) & ~(size_t)127);

	assert_non_null(r);
	assert_int_equal(mpdp_ring_init(r, "t", count, flags), 0);
	return r;
}

static void
test_init_rejects_bad_parameters(void **state)
{
	struct mpdp_ring *r = ring_new(8, 0);
	char long_name[MPDP_NAME_MAX + 1];

	(void)state;
	memset(long_name, 'x', sizeof(long_name) - 1);
	long_name[MPDP_NAME_MAX] = '\0';
	assert_int_equal(mpdp_ring_memsize(0), 0);
	assert_int_equal(mpdp_ring_memsize(3), 0);
	assert_int_equal(mpdp_ring_memsize(MPDP_RING_SIZE_MAX * 2u), 0);
	assert_int_equal(mpdp_ring_init(r, "t", 6, 0), -EINVAL);
	assert_int_equal(mpdp_ring_init(r, "t", 8, 1u << 7), -EINVAL);
	assert_int_equal(mpdp_ring_init(r, long_name, 8, 0), -EINVAL);
	assert_int_equal(mpdp_ring_init((struct mpdp_ring *)((char *)r + 8), "t", 4, 0), -EINVAL);
	free(r);
}

static void
test_every_mode_keeps_fifo_order(void **state)
{
	(void)state;
	for (unsigned m = 0; m < N_MODES; m++) {
		struct mpdp_ring *r = ring_new(64, all_modes[m]);
		void *in[40], *out[40];
		unsigned free_space, avail;

		for (uintptr_t i = 0; i < 40; i++)
			in[i] = (void *)(i + 1);
		assert_int_equal(mpdp_ring_enqueue_bulk(r, in, 10, &free_space), 10);
		assert_int_equal(free_space, 54);
		assert_int_equal(mpdp_ring_enqueue_burst(r, in + 10, 30, NULL), 30);
		assert_int_equal(mpdp_ring_count(r), 40);
		assert_int_equal(mpdp_ring_free_count(r), 24);
		assert_int_equal(mpdp_ring_dequeue_bulk(r, out, 25, &avail), 25);
		assert_int_equal(avail, 15);
		assert_int_equal(mpdp_ring_dequeue_burst(r, out + 25, 40, &avail), 15);
		assert_int_equal(avail, 0);
		for (unsigned i = 0; i < 40; i++)
			assert_ptr_equal(out[i], in[i]);
		free(r);
	}
}

static void
test_full_ring_accepts_partial_burst(void **state)
{
	(void)state;
	for (unsigned m = 0; m < N_MODES; m++) {
		struct mpdp_ring *r = ring_new(16, all_modes[m]);
		void *objs[32] = { 0 };
		unsigned free_space = 99;

		assert_int_equal(mpdp_ring_enqueue_bulk(r, objs, 12, NULL), 12);
		assert_int_equal(mpdp_ring_enqueue_burst(r, objs, 10, &free_space), 4);
		assert_int_equal(free_space, 0);
		assert_int_equal(mpdp_ring_count(r), 16);
		assert_int_equal(mpdp_ring_enqueue_burst(r, objs, 1, NULL), 0);
		free(r);
	}
}

static void
test_bulk_is_all_or_nothing(void **state)
{
	(void)state;
	for (unsigned m = 0; m < N_MODES; m++) {
		struct mpdp_ring *r = ring_new(16, all_modes[m]);
		void *objs[32] = { 0 };
		unsigned free_space, avail;

		assert_int_equal(mpdp_ring_enqueue_bulk(r, objs, 17, &free_space), 0);
		assert_int_equal(free_space, 16);
		assert_int_equal(mpdp_ring_enqueue_bulk(r, objs, 10, NULL), 10);
		assert_int_equal(mpdp_ring_enqueue_bulk(r, objs, 7, &free_space), 0);
		assert_int_equal(free_space, 6);
		assert_int_equal(mpdp_ring_dequeue_bulk(r, objs, 11, &avail), 0);
		assert_int_equal(avail, 10);
		assert_int_equal(mpdp_ring_count(r), 10);
		free(r);
	}
}

static void
test_empty_ring_returns_nothing(void **state)
{
	(void)state;
	for (unsigned m = 0; m < N_MODES; m++) {
		struct mpdp_ring *r = ring_new(8, all_modes[m]);
		void *objs[8];
		unsigned avail = 99;

		assert_int_equal(mpdp_ring_dequeue_burst(r, objs, 8, &avail), 0);
		assert_int_equal(avail, 0);
		assert_int_equal(mpdp_ring_dequeue_bulk(r, objs, 1, NULL), 0);
		assert_int_equal(mpdp_ring_count(r), 0);
		assert_int_equal(mpdp_ring_free_count(r), 8);
		free(r);
	}
}

/* Start every index just below 2^32 so the traffic crosses the wrap. */
static void
test_indices_wrap_at_2_32(void **state)
{
	(void)state;
	for (unsigned m = 0; m < N_MODES; m++) {
		struct mpdp_ring *r = ring_new(32, all_modes[m]);
		const uint32_t start = UINT32_MAX - 40;
		uintptr_t next_in = 1, next_out = 1;
		void *objs[13];

		atomic_store(&r->prod.head, start);
		atomic_store(&r->prod.tail, start);
		atomic_store(&r->cons.head, start);
		atomic_store(&r->cons.tail, start);
		atomic_store(&r->prod.other_tail, start); /* each side's view of the other tail */
		atomic_store(&r->cons.other_tail, start);
		for (unsigned round = 0; round < 20; round++) {
			for (unsigned i = 0; i < 13; i++)
				objs[i] = (void *)next_in++;
			assert_int_equal(mpdp_ring_enqueue_bulk(r, objs, 13, NULL), 13);
			assert_int_equal(mpdp_ring_count(r), 13);
			assert_int_equal(mpdp_ring_free_count(r), 19);
			assert_int_equal(mpdp_ring_dequeue_bulk(r, objs, 13, NULL), 13);
			for (unsigned i = 0; i < 13; i++)
				assert_ptr_equal(objs[i], (void *)next_out++);
		}
		assert_true(atomic_load(&r->prod.tail) < start); /* it did wrap */
		free(r);
	}
}

/*
 * Stress: producers stamp objects with (producer << 32 | sequence);
 * consumers check that each producer's sequence numbers arrive in order,
 * none twice and none missing.
 */
#define STRESS_PRODUCERS 2
#define STRESS_CONSUMERS 2

struct stress {
	struct mpdp_ring *r;
	uint64_t per_producer;
	_Atomic uint64_t consumed;
	_Atomic int failed;
};

struct stress_thread {
	struct stress *s;
	unsigned id;
	uint64_t last_seen[STRESS_PRODUCERS]; /* consumer: next expected+1 per producer */
	uint64_t got;
};

static void
produce(struct mpdp_ring *r, unsigned id, uint64_t count)
{
	uint64_t seq = 1;
	void *objs[32];

	while (seq <= count) {
		unsigned n = 1 + (unsigned)(seq % 31), done = 0;

		if (seq + n - 1 > count)
			n = (unsigned)(count - seq + 1);
		for (unsigned i = 0; i < n; i++)
			objs[i] = (void *)(uintptr_t)(((uint64_t)id << 32) | (seq + i));
		while (done < n)
			done += mpdp_ring_enqueue_burst(r, objs + done, n - done, NULL);
		seq += n;
	}
}

static void *
producer_thread(void *arg)
{
	struct stress_thread *t = arg;

	produce(t->s->r, t->id, t->s->per_producer);
	return NULL;
}

/* Consume until the shared total is reached; returns 0 when every check held. */
static int
consume(struct mpdp_ring *r, _Atomic uint64_t *consumed, uint64_t total, uint64_t *last_seen,
	uint64_t *got)
{
	void *objs[32];

	while (atomic_load(consumed) < total) {
		unsigned n = mpdp_ring_dequeue_burst(r, objs, 1 + (unsigned)(*got % 32), NULL);

		for (unsigned i = 0; i < n; i++) {
			uint64_t v = (uint64_t)(uintptr_t)objs[i];
			unsigned prod = (unsigned)(v >> 32);
			uint64_t seq = v & 0xffffffffu;

			if (prod >= STRESS_PRODUCERS || seq <= last_seen[prod])
				return -1; /* duplicate, reordered or garbage */
			last_seen[prod] = seq;
		}
		*got += n;
		atomic_fetch_add(consumed, n);
	}
	return 0;
}

static void *
consumer_thread(void *arg)
{
	struct stress_thread *t = arg;

	if (consume(t->s->r, &t->s->consumed, t->s->per_producer * STRESS_PRODUCERS, t->last_seen,
		    &t->got) != 0)
		atomic_store(&t->s->failed, 1);
	return NULL;
}

static void
run_thread_stress(unsigned flags, uint64_t per_producer)
{
	unsigned np = (flags & MPDP_RING_F_SP_ENQ) ? 1 : STRESS_PRODUCERS;
	unsigned nc = (flags & MPDP_RING_F_SC_DEQ) ? 1 : STRESS_CONSUMERS;
	struct stress s = { .r = ring_new(256, flags), .per_producer = per_producer };
	struct stress_thread pt[STRESS_PRODUCERS] = { 0 }, ct[STRESS_CONSUMERS] = { 0 };
	pthread_t p[STRESS_PRODUCERS], c[STRESS_CONSUMERS];
	uint64_t total_got = 0;

	/* With one producer, the other producer's share is produced by nobody. */
	if (np == 1)
		s.per_producer = per_producer;
	for (unsigned i = 0; i < nc; i++) {
		ct[i].s = &s;
		pthread_create(&c[i], NULL, consumer_thread, &ct[i]);
	}
	for (unsigned i = 0; i < np; i++) {
		pt[i].s = &s;
		pt[i].id = i;
		pthread_create(&p[i], NULL, producer_thread, &pt[i]);
	}
	for (unsigned i = 0; i < np; i++)
		pthread_join(p[i], NULL);
	if (np == 1) /* consumers wait for a total of two producers' worth */
		produce(s.r, 1, per_producer);
	for (unsigned i = 0; i < nc; i++) {
		pthread_join(c[i], NULL);
		total_got += ct[i].got;
	}
	assert_int_equal(atomic_load(&s.failed), 0);
	assert_int_equal(total_got, per_producer * STRESS_PRODUCERS);
	assert_int_equal(mpdp_ring_count(s.r), 0);
	/* With a single consumer, it saw every sequence number of every producer. */
	if (nc == 1) {
		for (unsigned i = 0; i < STRESS_PRODUCERS; i++)
			assert_int_equal(ct[0].last_seen[i], per_producer);
	}
	free(s.r);
}

static uint64_t stress_count = 200000;

static void
test_threads_lose_nothing_in_any_mode(void **state)
{
	(void)state;
	for (unsigned m = 0; m < N_MODES; m++)
		run_thread_stress(all_modes[m], stress_count);
}

/* The same through shared memory: producers and consumers are forked processes. */
static void
run_process_stress(unsigned flags)
{
	struct test_instance ti;
	struct mpdp_ring *r;
	_Atomic uint64_t *consumed;
	pid_t pids[STRESS_PRODUCERS + STRESS_CONSUMERS];
	void *mem;

	test_instance_create(&ti, "ringproc", 0, 0);
	assert_int_equal(mpdp_ring_create(ti.shm, "stress", 512, flags, -1, &r), 0);
	assert_int_equal(mpdp_shm_memzone_reserve(ti.shm, "counter", 64, 0, -1, MPDP_MZ_KIND_RAW, &mem), 0);
	consumed = mem;
	for (unsigned i = 0; i < STRESS_PRODUCERS + STRESS_CONSUMERS; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			struct mpdp_shm *shm = test_instance_attach(&ti);
			struct mpdp_ring *cr;
			uint64_t last_seen[STRESS_PRODUCERS] = { 0 }, got = 0;
			int rc = 0;

			alarm(60);
			if (mpdp_ring_lookup(shm, "stress", &cr) != 0 || cr != r)
				_exit(3);
			if (i < STRESS_PRODUCERS)
				produce(cr, i, stress_count);
			else
				rc = consume(cr, consumed, stress_count * STRESS_PRODUCERS, last_seen, &got);
			mpdp_shm_close(shm);
			_exit(rc == 0 ? 0 : 4);
		}
	}
	for (unsigned i = 0; i < STRESS_PRODUCERS + STRESS_CONSUMERS; i++) {
		int status;

		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	assert_int_equal(atomic_load(consumed), stress_count * STRESS_PRODUCERS);
	assert_int_equal(mpdp_ring_count(r), 0);
	test_instance_destroy(&ti);
}

/* Recoverable, and biased: a side biased to one process is revoked by another's first call. */
static void
test_processes_lose_nothing_through_shared_ring(void **state)
{
	(void)state;
	run_process_stress(MPDP_RING_F_RECOVER);
	run_process_stress(0);
}

static uint32_t
my_tid(void)
{
	return (uint32_t)syscall(SYS_gettid);
}

/* Without membarrier(MEMBARRIER_CMD_GLOBAL) rings are made unbiased: nothing to test. */
static void
skip_without_membarrier(void)
{
	long cmds = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0);

	if (cmds <= 0 || !(cmds & MEMBARRIER_CMD_GLOBAL)) {
		print_message("# SKIP the kernel has no membarrier(MEMBARRIER_CMD_GLOBAL)\n");
		skip();
	}
}

static void
test_a_multi_side_is_biased_to_its_one_user(void **state)
{
	static const unsigned never[] = { MPDP_RING_F_UNBIASED, MPDP_RING_F_RECOVER,
					  MPDP_RING_F_SP_ENQ | MPDP_RING_F_SC_DEQ };
	void *objs[4] = { &objs[0], &objs[1], &objs[2], &objs[3] }, *out[4];
	struct mpdp_ring *r;

	(void)state;
	skip_without_membarrier();
	r = ring_new(64, 0);
	assert_int_equal(mpdp_ring_bias(r, 0), 0);
	assert_int_equal(mpdp_ring_bias(r, 1), 0);
	/* A poll of an empty ring does not take the bias. */
	assert_int_equal(mpdp_ring_dequeue_burst(r, out, 4, NULL), 0);
	assert_int_equal(mpdp_ring_bias(r, 1), 0);
	assert_int_equal(mpdp_ring_enqueue_bulk(r, objs, 4, NULL), 4);
	assert_int_equal(mpdp_ring_bias(r, 0), my_tid());
	assert_int_equal(mpdp_ring_dequeue_burst(r, out, 4, NULL), 4);
	assert_int_equal(mpdp_ring_bias(r, 1), my_tid());
	assert_memory_equal(out, objs, sizeof(objs));
	free(r);
	for (unsigned i = 0; i < sizeof(never) / sizeof(never[0]); i++) {
		r = ring_new(64, never[i]);
		assert_int_equal(mpdp_ring_enqueue_bulk(r, objs, 4, NULL), 4);
		assert_int_equal(mpdp_ring_dequeue_bulk(r, out, 4, NULL), 4);
		assert_int_equal(mpdp_ring_bias(r, 0), 0);
		assert_int_equal(mpdp_ring_bias(r, 1), 0);
		free(r);
	}
}

static void *
enqueue_one(void *arg)
{
	struct mpdp_ring *r = arg;
	void *obj = (void *)(uintptr_t)2;

	return (void *)(uintptr_t)mpdp_ring_enqueue_bulk(r, &obj, 1, NULL);
}

static void
test_a_second_thread_revokes_the_bias(void **state)
{
	void *obj = (void *)(uintptr_t)1, *out[3];
	struct mpdp_ring *r;
	pthread_t t;
	void *moved;

	(void)state;
	skip_without_membarrier();
	r = ring_new(64, 0);
	assert_int_equal(mpdp_ring_enqueue_bulk(r, &obj, 1, NULL), 1);
	assert_int_equal(mpdp_ring_bias(r, 0), my_tid());
	pthread_create(&t, NULL, enqueue_one, r);
	pthread_join(t, &moved);
	assert_int_equal((uintptr_t)moved, 1);
	/* Shared for good: the first owner claims by compare-and-swap too. */
	assert_int_equal(mpdp_ring_bias(r, 0), 0);
	obj = (void *)(uintptr_t)3;
	assert_int_equal(mpdp_ring_enqueue_bulk(r, &obj, 1, NULL), 1);
	assert_int_equal(mpdp_ring_bias(r, 0), 0);
	assert_int_equal(mpdp_ring_dequeue_bulk(r, out, 3, NULL), 3);
	assert_ptr_equal(out[0], (void *)(uintptr_t)1);
	assert_ptr_equal(out[1], (void *)(uintptr_t)2);
	assert_ptr_equal(out[2], (void *)(uintptr_t)3);
	free(r);
}

/* A fork child runs on another tid than the parent thread whose memory it copies. */
static void
test_a_fork_child_is_not_the_owner(void **state)
{
	size_t len = (mpdp_ring_memsize(64) + 4095) & ~(size_t)4095;
	void *obj = (void *)(uintptr_t)1, *out[2];
	struct mpdp_ring *r;
	int status;
	pid_t pid;

	(void)state;
	skip_without_membarrier();
	r = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(r != MAP_FAILED);
	assert_int_equal(mpdp_ring_init(r, "fork", 64, 0), 0);
	assert_int_equal(mpdp_ring_enqueue_bulk(r, &obj, 1, NULL), 1);
	assert_int_equal(mpdp_ring_bias(r, 0), my_tid());
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		void *two = (void *)(uintptr_t)2;

		_exit(mpdp_ring_enqueue_bulk(r, &two, 1, NULL) == 1 && mpdp_ring_bias(r, 0) == 0 ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(mpdp_ring_bias(r, 0), 0);
	assert_int_equal(mpdp_ring_dequeue_bulk(r, out, 2, NULL), 2);
	assert_ptr_equal(out[0], (void *)(uintptr_t)1);
	assert_ptr_equal(out[1], (void *)(uintptr_t)2);
	munmap(r, len);
}

/* A second producer arrives while the first, biased, streams: the revocation meets it mid-call. */
static void
test_revocation_mid_stream_loses_nothing(void **state)
{
	struct stress s = { .per_producer = stress_count };
	struct stress_thread pt[STRESS_PRODUCERS] = { 0 }, ct = { .s = &s };
	pthread_t p[STRESS_PRODUCERS], c;

	(void)state;
	skip_without_membarrier();
	s.r = ring_new(256, 0);
	pthread_create(&c, NULL, consumer_thread, &ct);
	pt[0] = (struct stress_thread){ .s = &s, .id = 0 };
	pthread_create(&p[0], NULL, producer_thread, &pt[0]);
	while (atomic_load(&s.consumed) < stress_count / 4)
		sched_yield();
	assert_int_not_equal(mpdp_ring_bias(s.r, 0), 0);
	pt[1] = (struct stress_thread){ .s = &s, .id = 1 };
	pthread_create(&p[1], NULL, producer_thread, &pt[1]);
	for (unsigned i = 0; i < STRESS_PRODUCERS; i++)
		pthread_join(p[i], NULL);
	pthread_join(c, NULL);
	assert_int_equal(atomic_load(&s.failed), 0);
	assert_int_equal(mpdp_ring_bias(s.r, 0), 0);
	for (unsigned i = 0; i < STRESS_PRODUCERS; i++)
		assert_int_equal(ct.last_seen[i], stress_count);
	free(s.r);
}

static void
test_create_lookup_delete_by_name(void **state)
{
	struct test_instance ti;
	struct mpdp_ring *r, *found;

	(void)state;
	test_instance_create(&ti, "ringname", 0, 0);
	assert_int_equal(mpdp_ring_create(ti.shm, "a", 1024, MPDP_RING_F_SP_ENQ, -1, &r), 0);
	assert_int_equal(r->size, 1024);
	assert_int_equal((uintptr_t)r % 64, 0);
	assert_int_equal(mpdp_ring_create(ti.shm, "a", 64, 0, -1, &found), -EEXIST);
	assert_int_equal(mpdp_ring_create(ti.shm, "b", 1000, 0, -1, &found), -EINVAL);
	assert_int_equal(mpdp_ring_create(ti.shm, "b", 1u << 26, 0, -1, &found), -ENOMEM);
	assert_int_equal(mpdp_ring_lookup(ti.shm, "a", &found), 0);
	assert_ptr_equal(found, r);
	assert_int_equal(mpdp_ring_lookup(ti.shm, "nope", &found), -ENOENT);
	assert_int_equal(mpdp_ring_delete(ti.shm, r), 0);
	assert_int_equal(mpdp_ring_lookup(ti.shm, "a", &found), -ENOENT);
	test_instance_destroy(&ti);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest fast[] = {
		cmocka_unit_test(test_init_rejects_bad_parameters),
		cmocka_unit_test(test_every_mode_keeps_fifo_order),
		cmocka_unit_test(test_full_ring_accepts_partial_burst),
		cmocka_unit_test(test_bulk_is_all_or_nothing),
		cmocka_unit_test(test_empty_ring_returns_nothing),
		cmocka_unit_test(test_indices_wrap_at_2_32),
		cmocka_unit_test(test_create_lookup_delete_by_name),
		cmocka_unit_test(test_threads_lose_nothing_in_any_mode),
		cmocka_unit_test(test_processes_lose_nothing_through_shared_ring),
		cmocka_unit_test(test_a_multi_side_is_biased_to_its_one_user),
		cmocka_unit_test(test_a_second_thread_revokes_the_bias),
		cmocka_unit_test(test_a_fork_child_is_not_the_owner),
		cmocka_unit_test(test_revocation_mid_stream_loses_nothing),
	};
	const struct CMUnitTest stress[] = {
		cmocka_unit_test(test_threads_lose_nothing_in_any_mode),
		cmocka_unit_test(test_processes_lose_nothing_through_shared_ring),
	};

	if (argc > 1 && strcmp(argv[1], "stress") == 0) {
		stress_count = 5000000;
		return cmocka_run_group_tests_name("ring_stress", stress, NULL, NULL);
	}
	return cmocka_run_group_tests_name("ring", fast, NULL, NULL);
}

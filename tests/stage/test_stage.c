/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The stage framework in one process: a test stage that splits packets by
 * their first byte is opened on a private instance and driven one turn at
 * a time with mpdp_stage_poll(). Every case checks where each packet went,
 * what was counted, and that every mbuf is either on a ring or back in
 * the pool.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mpdp_mbuf.h"
#include "mpdp_pool.h"
#include "mpdp_ring.h"
#include "mpdp_shm.h"
#include "mpdp_stage.h"
#include "mpdp_worker.h"
#include "test_instance.h"
#include "test_util.h"

/* split: byte 0 of the packet is the verdict: 0 drop, 1 even, 2 odd, anything else as is. */
enum { SPLIT_DROP, SPLIT_EVEN, SPLIT_ODD, SPLIT_N_NEXT };

struct split_ctx {
	unsigned worker;
	int inited;
};

static int split_fini_calls;

static int
split_init(void *vctx, const struct mpdp_stage_env *env, struct mpdp_errbuf *eb)
{
	struct split_ctx *ctx = vctx;

	if (mpdp_stage_option(env, "fail") != NULL)
		return mpdp_err_set(eb, -EINVAL, "split: asked to fail");
	ctx->worker = env->worker;
	ctx->inited = 1;
	return 0;
}

static void
split_fini(void *vctx)
{
	struct split_ctx *ctx = vctx;

	assert_true(ctx->inited);
	split_fini_calls++;
}

static void
split_process(void *vctx, struct mpdp_mbuf **pkts, uint16_t n, uint16_t *next)
{
	(void)vctx;
	for (uint16_t i = 0; i < n; i++)
		next[i] = *(const uint8_t *)mpdp_mbuf_data(pkts[i]);
}

static const char *const split_next[] = { "drop", "even", "odd" };

static const struct mpdp_stage split_stage = {
	.name = "split",
	.ctx_size = sizeof(struct split_ctx),
	.n_next = SPLIT_N_NEXT,
	.next_names = split_next,
	.init = split_init,
	.fini = split_fini,
	.process = split_process,
};

static int ticks;

static void
count_tick(void *vctx, uint64_t now_ns)
{
	(void)vctx;
	assert_true(now_ns > 0);
	ticks++;
}

static const struct mpdp_stage ticking_stage = {
	.name = "split",
	.ctx_size = sizeof(struct split_ctx),
	.n_next = SPLIT_N_NEXT,
	.next_names = split_next,
	.process = split_process,
	.tick = count_tick,
};

static const struct mpdp_stage other_stage = {
	.name = "other",
	.n_next = 2,
	.next_names = split_next,
	.process = split_process,
};

struct fixture {
	struct test_instance ti;
	struct mpdp_pool *pool;
	unsigned wid;
};

#define POOL_N 512

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	test_instance_create(&f->ti, "tstage", 32ull << 20, 0);
	assert_int_equal(mpdp_mbuf_pool_create(f->ti.shm, "mbuf", POOL_N, 32, 256, -1, &f->pool), 0);
	assert_int_equal(mpdp_worker_register(f->ti.shm, "test", -1, &f->wid), 0);
	split_fini_calls = 0;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	mpdp_worker_release(f->ti.shm, f->wid);
	test_instance_destroy(&f->ti);
	free(f);
	return 0;
}

static struct mpdp_stage_config
config(const char *id)
{
	struct mpdp_stage_config cfg = { .id = id, .n_in = 1, .in = { "in" }, .n_out = 2,
		.out = { { "even", "r-even" }, { "odd", "r-odd" } } };

	return cfg;
}

static struct mpdp_ring *
ring(struct fixture *f, const char *name)
{
	struct mpdp_ring *r = NULL;

	assert_int_equal(mpdp_ring_lookup(f->ti.shm, name, &r), 0);
	return r;
}

/* Put n packets on ring @p r: packet i carries verdict[i % nv], then i, in len bytes. */
static void
feed(struct fixture *f, struct mpdp_ring *r, unsigned n, const uint8_t *verdict, unsigned nv,
     uint16_t len)
{
	for (unsigned i = 0; i < n; i++) {
		struct mpdp_mbuf *m = mpdp_mbuf_alloc(f->pool, f->wid);
		uint8_t *d;

		assert_non_null(m);
		assert_non_null(mpdp_mbuf_append(m, len));
		d = mpdp_mbuf_data(m);
		memset(d, 0, len);
		d[0] = verdict[i % nv];
		d[1] = (uint8_t)i;
		assert_int_equal(mpdp_ring_enqueue_bulk(r, (void *const *)&m, 1, NULL), 1);
	}
}

/* Dequeue everything from @p r, check each packet's second byte follows @p seq, free them. */
static unsigned
drain(struct fixture *f, struct mpdp_ring *r, const uint8_t *seq)
{
	struct mpdp_mbuf *m;
	unsigned n = 0;

	while (mpdp_ring_dequeue_bulk(r, (void **)&m, 1, NULL) == 1) {
		if (seq != NULL)
			assert_int_equal(((const uint8_t *)mpdp_mbuf_data(m))[1], seq[n]);
		mpdp_mbuf_free(m, f->wid);
		n++;
	}
	return n;
}

static struct mpdp_abi_stage *
slot_of(struct fixture *f, const char *id)
{
	struct mpdp_abi_stage *slot = NULL;

	assert_int_equal(mpdp_stage_find(f->ti.shm, id, &slot), 0);
	return slot;
}

static unsigned
in_use(struct fixture *f)
{
	mpdp_pool_cache_flush(f->pool, f->wid);
	return mpdp_pool_in_use_count(f->pool);
}

static int
count_zone(const struct mpdp_shm_memzone *mz, void *arg)
{
	(void)mz;
	(*(unsigned *)arg)++;
	return 0;
}

static unsigned
zones(struct fixture *f)
{
	unsigned n = 0;

	mpdp_shm_memzone_walk(f->ti.shm, MPDP_MZ_KIND_ANY, count_zone, &n);
	return n;
}

static void
test_dispatch_sends_each_packet_to_its_output_in_order(void **state)
{
	struct fixture *f = *state;
	struct mpdp_stage_config cfg = config("s1");
	struct mpdp_stage_instance *si;
	struct mpdp_errbuf eb = { "" };
	struct mpdp_stage_totals t;
	const uint8_t verdicts[] = { SPLIT_EVEN, SPLIT_ODD, SPLIT_DROP, SPLIT_EVEN };
	const uint8_t even_seq[] = { 0, 3, 4, 7, 8, 11, 12, 15, 16, 19, 20, 23, 24, 27, 28, 31 };
	const uint8_t odd_seq[] = { 1, 5, 9, 13, 17, 21, 25, 29 };

	assert_int_equal(mpdp_stage_open(f->ti.shm, &split_stage, &cfg, &si, &eb), 0);
	feed(f, ring(f, "in"), 32, verdicts, 4, 100);
	assert_int_equal(mpdp_stage_poll(si, 0, f->wid), 32);
	assert_int_equal(mpdp_stage_poll(si, 0, f->wid), 0);

	mpdp_stage_totals(mpdp_stage_slot(si), &t);
	assert_int_equal(t.in_packets, 32);
	assert_int_equal(t.in_bytes, 3200);
	assert_int_equal(t.out_packets[SPLIT_EVEN], 16);
	assert_int_equal(t.out_bytes[SPLIT_EVEN], 1600);
	assert_int_equal(t.out_packets[SPLIT_ODD], 8);
	assert_int_equal(t.out_packets[SPLIT_DROP], 8);
	assert_int_equal(t.out_bytes[SPLIT_DROP], 800);
	assert_int_equal(t.sent, 24);
	assert_int_equal(t.dropped, 8);
	assert_int_equal(t.in_hand, 0);
	assert_int_equal(t.polls, 2);
	assert_int_equal(t.busy_polls, 1);
	assert_int_equal(mpdp_stage_slot_state(mpdp_stage_slot(si)), MPDP_STAGE_RUNNING);
	assert_int_equal(mpdp_stage_slot_pid(mpdp_stage_slot(si)), getpid());

	assert_int_equal(drain(f, ring(f, "r-even"), even_seq), 16);
	assert_int_equal(drain(f, ring(f, "r-odd"), odd_seq), 8);
	assert_int_equal(in_use(f), 0);
	mpdp_stage_close(si);
	assert_int_equal(split_fini_calls, 1);
}

static void
test_full_output_ring_counts_drops_and_leaks_nothing(void **state)
{
	struct fixture *f = *state;
	struct mpdp_stage_config cfg = config("s2");
	struct mpdp_stage_instance *si;
	struct mpdp_errbuf eb = { "" };
	struct mpdp_stage_totals t;
	struct mpdp_ring *small;
	const uint8_t even[] = { SPLIT_EVEN };

	assert_int_equal(mpdp_ring_create(f->ti.shm, "r-even", 16, 0, -1, &small), 0);
	assert_int_equal(mpdp_stage_open(f->ti.shm, &split_stage, &cfg, &si, &eb), 0);
	feed(f, ring(f, "in"), 32, even, 1, 60);
	assert_int_equal(mpdp_stage_poll(si, 0, f->wid), 32);

	mpdp_stage_totals(mpdp_stage_slot(si), &t);
	assert_int_equal(t.out_packets[SPLIT_EVEN], 16);
	assert_int_equal(t.out_bytes[SPLIT_EVEN], 16 * 60);
	assert_int_equal(t.out_drops[SPLIT_EVEN], 16);
	assert_int_equal(t.dropped, 16);
	assert_int_equal(in_use(f), 16);     /* exactly what the ring holds */
	assert_int_equal(drain(f, small, NULL), 16);
	assert_int_equal(in_use(f), 0);
	mpdp_stage_close(si);
}

static void
test_unbound_output_and_bad_index_are_drops(void **state)
{
	struct fixture *f = *state;
	struct mpdp_stage_config cfg = config("s3");
	struct mpdp_stage_instance *si;
	struct mpdp_errbuf eb = { "" };
	struct mpdp_stage_totals t;
	const uint8_t verdicts[] = { SPLIT_EVEN, SPLIT_ODD, 7, 200 };

	cfg.n_out = 1; /* odd has no ring */
	assert_int_equal(mpdp_stage_open(f->ti.shm, &split_stage, &cfg, &si, &eb), 0);
	feed(f, ring(f, "in"), 40, verdicts, 4, 64);
	assert_int_equal(mpdp_stage_poll(si, 0, f->wid), 32);
	assert_int_equal(mpdp_stage_poll(si, 0, f->wid), 8);

	mpdp_stage_totals(mpdp_stage_slot(si), &t);
	assert_int_equal(t.in_packets, 40);
	assert_int_equal(t.out_packets[SPLIT_EVEN], 10);
	assert_int_equal(t.out_packets[SPLIT_ODD], 0);
	assert_int_equal(t.out_drops[SPLIT_ODD], 10);
	assert_int_equal(t.out_packets[SPLIT_DROP], 20);   /* indexes 7 and 200 */
	assert_int_equal(t.dropped, 30);
	assert_string_equal(mpdp_stage_slot(si)->out[SPLIT_ODD], "");
	assert_string_equal(mpdp_stage_slot(si)->out[SPLIT_EVEN], "r-even");
	assert_int_equal(drain(f, ring(f, "r-even"), NULL), 10);
	assert_int_equal(in_use(f), 0);
	mpdp_stage_close(si);
}

static void
test_inputs_are_taken_in_turn(void **state)
{
	struct fixture *f = *state;
	struct mpdp_stage_config cfg = config("s4");
	struct mpdp_stage_instance *si;
	struct mpdp_errbuf eb = { "" };
	struct mpdp_ring *a, *b;
	const uint8_t even[] = { SPLIT_EVEN }, odd[] = { SPLIT_ODD };

	cfg.n_in = 2;
	cfg.in[0] = "in-a";
	cfg.in[1] = "in-b";
	cfg.burst = 8;
	assert_int_equal(mpdp_stage_open(f->ti.shm, &split_stage, &cfg, &si, &eb), 0);
	a = ring(f, "in-a");
	b = ring(f, "in-b");
	feed(f, a, 16, even, 1, 64);
	feed(f, b, 16, odd, 1, 64);
	for (unsigned turn = 0; turn < 4; turn++)
		assert_int_equal(mpdp_stage_poll(si, 0, f->wid), 8);
	/* Two bursts from each, not four from the first. */
	assert_int_equal(mpdp_ring_count(ring(f, "r-even")), 16);
	assert_int_equal(mpdp_ring_count(ring(f, "r-odd")), 16);
	assert_int_equal(mpdp_ring_count(a), 0);
	assert_int_equal(mpdp_ring_count(b), 0);
	drain(f, ring(f, "r-even"), NULL);
	drain(f, ring(f, "r-odd"), NULL);
	assert_int_equal(in_use(f), 0);
	mpdp_stage_close(si);
}

static void
test_rings_are_made_on_demand_and_outlive_the_stage(void **state)
{
	struct fixture *f = *state;
	struct mpdp_stage_config cfg = config("s5");
	struct mpdp_stage_instance *si;
	struct mpdp_errbuf eb = { "" };
	struct mpdp_ring *r = NULL;

	cfg.ring_size = 64;
	assert_int_equal(mpdp_ring_lookup(f->ti.shm, "in", &r), -ENOENT);
	assert_int_equal(mpdp_stage_open(f->ti.shm, &split_stage, &cfg, &si, &eb), 0);
	assert_int_equal(ring(f, "in")->size, 64);
	assert_int_equal(ring(f, "r-odd")->size, 64);
	/* several stages may share it, and it survives the death of any of them */
	assert_int_equal(ring(f, "in")->flags, MPDP_RING_F_RECOVER);
	mpdp_stage_close(si);
	assert_non_null(ring(f, "in"));
	assert_non_null(ring(f, "r-even"));
	assert_int_equal(mpdp_stage_slot_state(slot_of(f, "s5")), MPDP_STAGE_DOWN);
}

static void
test_a_running_id_is_busy_and_a_restart_keeps_counters(void **state)
{
	struct fixture *f = *state;
	struct mpdp_stage_config cfg = config("s6");
	struct mpdp_stage_instance *si, *si2;
	struct mpdp_errbuf eb = { "" };
	struct mpdp_stage_totals t;
	const uint8_t even[] = { SPLIT_EVEN };

	assert_int_equal(mpdp_stage_open(f->ti.shm, &split_stage, &cfg, &si, &eb), 0);
	feed(f, ring(f, "in"), 5, even, 1, 64);
	assert_int_equal(mpdp_stage_poll(si, 0, f->wid), 5);
	assert_int_equal(mpdp_stage_open(f->ti.shm, &split_stage, &cfg, &si2, &eb), -EBUSY);
	assert_non_null(strstr(eb.msg, "s6 is already running"));
	mpdp_stage_close(si);

	assert_int_equal(mpdp_stage_open(f->ti.shm, &split_stage, &cfg, &si, &eb), 0);
	assert_int_equal(mpdp_stage_slot(si)->restarts, 1);
	feed(f, ring(f, "in"), 3, even, 1, 64);
	assert_int_equal(mpdp_stage_poll(si, 0, f->wid), 3);
	mpdp_stage_totals(mpdp_stage_slot(si), &t);
	assert_int_equal(t.in_packets, 8);
	assert_int_equal(t.out_packets[SPLIT_EVEN], 8);
	mpdp_stage_close(si);
	drain(f, ring(f, "r-even"), NULL);
	assert_int_equal(in_use(f), 0);
}

static void
test_an_id_of_another_kind_is_refused(void **state)
{
	struct fixture *f = *state;
	struct mpdp_stage_config cfg = config("s7");
	struct mpdp_stage_instance *si;
	struct mpdp_errbuf eb = { "" };

	assert_int_equal(mpdp_stage_open(f->ti.shm, &split_stage, &cfg, &si, &eb), 0);
	mpdp_stage_close(si);
	cfg.n_out = 0;
	assert_int_equal(mpdp_stage_open(f->ti.shm, &other_stage, &cfg, &si, &eb), -EEXIST);
	assert_non_null(strstr(eb.msg, "belongs to an mpdp-split stage"));
	assert_int_equal(mpdp_stage_slot_state(slot_of(f, "s7")), MPDP_STAGE_DOWN);
}

struct bad_case {
	const char *why;
	struct mpdp_stage_config cfg;
	const char *needle;
};

static void
test_bad_configs_are_refused_and_change_nothing(void **state)
{
	struct fixture *f = *state;
	const struct bad_case cases[] = {
		{ "no input", { .id = "b" }, "no input" },
		{ "no id", { .n_in = 1, .in = { "i" } }, "--stage: needs a name" },
		{ "bad id", { .id = "a b", .n_in = 1, .in = { "i" } }, "only letters" },
		{ "long id", { .id = "abcdefghijklmnopqrstuvwxyz0", .n_in = 1, .in = { "i" } },
		  "longer than 25" },
		{ "long ring", { .id = "b", .n_in = 1, .in = { "abcdefghijklmnopqrstuvwxyz012345" } },
		  "longer than 31" },
		{ "twice", { .id = "b", .n_in = 2, .in = { "i", "i" } }, "--in i: given twice" },
		{ "unknown output", { .id = "b", .n_in = 1, .in = { "i" }, .n_out = 1,
		  .out = { { "blue", "r" } } }, "has no output 'blue' (it has: even, odd)" },
		{ "drop", { .id = "b", .n_in = 1, .in = { "i" }, .n_out = 1,
		  .out = { { "drop", "r" } } }, "'drop' frees packets" },
		{ "loop", { .id = "b", .n_in = 1, .in = { "i" }, .n_out = 1,
		  .out = { { "even", "i" } } }, "also an input" },
		{ "output twice", { .id = "b", .n_in = 1, .in = { "i" }, .n_out = 2,
		  .out = { { "even", "r" }, { "even", "q" } } }, "output given twice" },
		{ "burst", { .id = "b", .n_in = 1, .in = { "i" }, .burst = 257 }, "at most 256" },
		{ "ring size", { .id = "b", .n_in = 1, .in = { "i" }, .ring_size = 1000 },
		  "not a power of two" },
		{ "workers", { .id = "b", .n_in = 1, .in = { "i" }, .n_workers = 9 }, "at most 8" },
		{ "init fails", { .id = "b", .n_in = 1, .in = { "i" }, .n_out = 1,
		  .out = { { "odd", "r" } }, .n_options = 1, .options = { { "fail", "" } } },
		  "asked to fail" },
	};
	unsigned before = zones(f);

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct mpdp_stage_instance *si = NULL;
		struct mpdp_errbuf eb = { "" };
		int rc = mpdp_stage_open(f->ti.shm, &split_stage, &cases[i].cfg, &si, &eb);

		if (rc != -EINVAL || strstr(eb.msg, cases[i].needle) == NULL)
			fail_msg("%s: rc %d, message '%s', expected '%s'", cases[i].why, rc, eb.msg,
				 cases[i].needle);
		assert_null(si);
		assert_int_equal(zones(f), before);  /* no slot, no ring left behind */
	}
	assert_int_equal(split_fini_calls, 0);
}

static void
test_single_producer_or_consumer_ends_are_refused(void **state)
{
	struct fixture *f = *state;
	struct mpdp_stage_config cfg = config("p1");
	struct mpdp_stage_instance *si = NULL;
	struct mpdp_errbuf eb = { "" };
	struct mpdp_ring *r;
	unsigned before;

	/* As a port makes them: NAME.rx has one producer, NAME.tx one consumer. */
	assert_int_equal(mpdp_ring_create(f->ti.shm, "r-even", 64, MPDP_RING_F_SP_ENQ, -1, &r), 0);
	assert_int_equal(mpdp_ring_create(f->ti.shm, "in", 64, MPDP_RING_F_SC_DEQ, -1, &r), 0);
	before = zones(f);
	assert_int_equal(mpdp_stage_open(f->ti.shm, &split_stage, &cfg, &si, &eb), -EPERM);
	assert_non_null(strstr(eb.msg, "--in in: that ring takes a single consumer"));
	cfg.in[0] = "in2";
	assert_int_equal(mpdp_stage_open(f->ti.shm, &split_stage, &cfg, &si, &eb), -EPERM);
	assert_non_null(strstr(eb.msg, "--out even=r-even: that ring takes a single producer"));
	assert_null(si);
	assert_int_equal(zones(f), before);    /* in2 and r-odd were made, then removed */
}

static int
open_and_die(struct mpdp_shm *shm, void *arg)
{
	struct mpdp_stage_config cfg = config(arg);
	struct mpdp_stage_instance *si;
	struct mpdp_errbuf eb = { "" };

	if (mpdp_stage_open(shm, &split_stage, &cfg, &si, &eb) != 0)
		return 1;
	_exit(0); /* no close: as if killed */
}

static void
test_a_dead_owner_is_reaped_and_its_id_taken_over(void **state)
{
	struct fixture *f = *state;
	struct mpdp_stage_config cfg = config("s8");
	struct mpdp_stage_instance *si;
	struct mpdp_errbuf eb = { "" };
	pid_t pid = test_child_spawn(&f->ti, open_and_die, "s8", 10);

	test_child_expect_exit(pid, 0, 10);
	assert_int_equal(mpdp_stage_slot_state(slot_of(f, "s8")), MPDP_STAGE_RUNNING);
	assert_int_equal(mpdp_stage_slot_pid(slot_of(f, "s8")), pid);
	assert_int_equal(mpdp_stage_reap_dead(f->ti.shm), 1);
	assert_int_equal(mpdp_stage_slot_state(slot_of(f, "s8")), MPDP_STAGE_DOWN);
	assert_int_equal(mpdp_stage_reap_dead(f->ti.shm), 0);
	assert_int_equal(mpdp_stage_open(f->ti.shm, &split_stage, &cfg, &si, &eb), 0);
	assert_int_equal(mpdp_stage_slot(si)->restarts, 1);
	mpdp_stage_close(si);
}

static void
test_taking_over_a_running_slot_of_a_dead_process(void **state)
{
	struct fixture *f = *state;
	struct mpdp_stage_config cfg = config("s9");
	struct mpdp_stage_instance *si;
	struct mpdp_errbuf eb = { "" };
	pid_t pid = test_child_spawn(&f->ti, open_and_die, "s9", 10);

	test_child_expect_exit(pid, 0, 10);
	/* Not reaped yet: the slot still says running, but its owner is gone. */
	assert_int_equal(mpdp_stage_slot_state(slot_of(f, "s9")), MPDP_STAGE_RUNNING);
	assert_int_equal(mpdp_stage_open(f->ti.shm, &split_stage, &cfg, &si, &eb), 0);
	assert_int_equal(mpdp_stage_slot_pid(mpdp_stage_slot(si)), getpid());
	mpdp_stage_close(si);
}

struct consumer {
	struct fixture *f;
	struct mpdp_ring *r;
	unsigned want, got;
};

static void *
consume(void *arg)
{
	struct consumer *c = arg;
	unsigned wid;

	assert_int_equal(mpdp_worker_register(c->f->ti.shm, "consumer", -1, &wid), 0);
	while (c->got < c->want) {
		struct mpdp_mbuf *m;

		if (mpdp_ring_dequeue_bulk(c->r, (void **)&m, 1, NULL) == 1) {
			mpdp_mbuf_free(m, wid);
			c->got++;
		}
		usleep(100);
	}
	mpdp_worker_release(c->f->ti.shm, wid);
	return NULL;
}

static void
test_backpressure_waits_for_room_then_gives_up_when_stopping(void **state)
{
	struct fixture *f = *state;
	struct mpdp_stage_config cfg = config("s10");
	struct mpdp_stage_instance *si;
	struct mpdp_errbuf eb = { "" };
	struct mpdp_stage_totals t;
	struct mpdp_ring *small;
	struct consumer c = { f, NULL, 64, 0 };
	const uint8_t even[] = { SPLIT_EVEN };
	pthread_t th;

	assert_int_equal(mpdp_ring_create(f->ti.shm, "r-even", 8, 0, -1, &small), 0);
	cfg.backpressure = 1;
	assert_int_equal(mpdp_stage_open(f->ti.shm, &split_stage, &cfg, &si, &eb), 0);
	assert_int_equal(mpdp_stage_slot(si)->flags & MPDP_STAGE_F_BACKPRESSURE,
			 MPDP_STAGE_F_BACKPRESSURE);
	c.r = small;
	assert_int_equal(pthread_create(&th, NULL, consume, &c), 0);
	feed(f, ring(f, "in"), 64, even, 1, 64);
	assert_int_equal(mpdp_stage_poll(si, 0, f->wid), 32);
	assert_int_equal(mpdp_stage_poll(si, 0, f->wid), 32);
	pthread_join(th, NULL);
	mpdp_stage_totals(mpdp_stage_slot(si), &t);
	assert_int_equal(c.got, 64);
	assert_int_equal(t.out_packets[SPLIT_EVEN], 64);
	assert_int_equal(t.dropped, 0);

	/* Nobody consumes now: once stopping, it waits a while, then drops and counts. */
	feed(f, ring(f, "in"), 32, even, 1, 64);
	mpdp_stage_stop(si);
	assert_int_equal(mpdp_stage_slot_state(mpdp_stage_slot(si)), MPDP_STAGE_STOPPING);
	assert_int_equal(mpdp_stage_poll(si, 0, f->wid), 32);
	mpdp_stage_totals(mpdp_stage_slot(si), &t);
	assert_int_equal(t.out_drops[SPLIT_EVEN], 24);
	assert_int_equal(in_use(f), 8);
	drain(f, small, NULL);
	assert_int_equal(in_use(f), 0);
	mpdp_stage_close(si);
}

static void
test_zones_are_found_again_and_sizes_checked(void **state)
{
	struct fixture *f = *state;
	struct mpdp_stage_config cfg = { .id = "z1" };
	struct mpdp_stage_env env = { .shm = f->ti.shm, .stage = &split_stage, .cfg = &cfg, .n_workers = 1 };
	struct mpdp_errbuf eb = { "" };
	void *a = NULL, *b = NULL;
	uint64_t len = 0;

	assert_int_equal(mpdp_stage_zone(&env, "state", 1000, &a, &eb), 0);
	((char *)a)[0] = 42;
	assert_int_equal(mpdp_stage_zone(&env, "state", 1000, &b, &eb), 1);
	assert_ptr_equal(a, b);
	assert_int_equal(((char *)b)[0], 42);
	assert_int_equal(mpdp_stage_zone(&env, "state", 5000, &b, &eb), -EEXIST);
	assert_non_null(strstr(eb.msg, "z1.state exists with 1024 bytes, this configuration needs 5056"));
	assert_int_equal(mpdp_stage_zone(&env, "a-suffix-that-is-much-too-long", 64, &b, &eb), -EINVAL);
	assert_int_equal(mpdp_stage_zone_find(&env, "state", &b, &len, &eb), 0);
	assert_ptr_equal(a, b);
	assert_int_equal(len, 1024);
	assert_int_equal(mpdp_stage_zone_find(&env, "other", &b, &len, &eb), -ENOENT);
	assert_non_null(strstr(eb.msg, "stage z1 has no zone z1.other"));
}

static void
test_options_give_the_last_value_and_every_value(void **state)
{
	struct mpdp_stage_config cfg = { .id = "o", .n_options = 3,
		.options = { { "rule", "a" }, { "flag", "" }, { "rule", "b" } },
		.n_out = 1, .out = { { "odd", "r" } } };
	struct mpdp_stage_env env = { .stage = &split_stage, .cfg = &cfg, .n_workers = 1 };
	unsigned it = 0;

	(void)state;
	assert_string_equal(mpdp_stage_option(&env, "rule"), "b");
	assert_string_equal(mpdp_stage_option(&env, "flag"), "");
	assert_null(mpdp_stage_option(&env, "none"));
	assert_string_equal(mpdp_stage_option_next(&env, "rule", &it), "a");
	assert_string_equal(mpdp_stage_option_next(&env, "rule", &it), "b");
	assert_null(mpdp_stage_option_next(&env, "rule", &it));
	assert_true(mpdp_stage_output_bound(&env, SPLIT_ODD));
	assert_false(mpdp_stage_output_bound(&env, SPLIT_EVEN));
	assert_false(mpdp_stage_output_bound(&env, SPLIT_DROP));
}

static void
test_tick_runs_without_traffic_about_every_100_ms(void **state)
{
	struct fixture *f = *state;
	struct mpdp_stage_config cfg = config("t1");
	struct mpdp_stage_instance *si;
	struct mpdp_errbuf eb = { "" };

	ticks = 0;
	assert_int_equal(mpdp_stage_open(f->ti.shm, &ticking_stage, &cfg, &si, &eb), 0);
	assert_int_equal(mpdp_stage_poll(si, 0, f->wid), 0);
	assert_int_equal(ticks, 1);
	for (unsigned i = 0; i < 1000; i++)
		mpdp_stage_poll(si, 0, f->wid);
	assert_int_equal(ticks, 1);          /* well under 100 ms */
	usleep(150 * 1000);
	for (unsigned i = 0; i < 256; i++)
		mpdp_stage_poll(si, 0, f->wid);
	assert_int_equal(ticks, 2);
	mpdp_stage_close(si);
}

static void
test_every_state_has_a_name(void **state)
{
	(void)state;
	assert_string_equal(mpdp_stage_state_name(MPDP_STAGE_FREE), "free");
	assert_string_equal(mpdp_stage_state_name(MPDP_STAGE_RUNNING), "running");
	assert_string_equal(mpdp_stage_state_name(MPDP_STAGE_STOPPING), "stopping");
	assert_string_equal(mpdp_stage_state_name(MPDP_STAGE_DOWN), "down");
	assert_string_equal(mpdp_stage_state_name(99), "?");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_dispatch_sends_each_packet_to_its_output_in_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_full_output_ring_counts_drops_and_leaks_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unbound_output_and_bad_index_are_drops, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inputs_are_taken_in_turn, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rings_are_made_on_demand_and_outlive_the_stage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_running_id_is_busy_and_a_restart_keeps_counters, setup, teardown),
		cmocka_unit_test_setup_teardown(test_an_id_of_another_kind_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_configs_are_refused_and_change_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_single_producer_or_consumer_ends_are_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_dead_owner_is_reaped_and_its_id_taken_over, setup, teardown),
		cmocka_unit_test_setup_teardown(test_taking_over_a_running_slot_of_a_dead_process, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backpressure_waits_for_room_then_gives_up_when_stopping, setup, teardown),
		cmocka_unit_test_setup_teardown(test_zones_are_found_again_and_sizes_checked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tick_runs_without_traffic_about_every_100_ms, setup, teardown),
		cmocka_unit_test(test_options_give_the_last_value_and_every_value),
		cmocka_unit_test(test_every_state_has_a_name),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

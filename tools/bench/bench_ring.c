/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Ring cases, as DPDK's ring_perf_autotest runs them: single, burst and
 * bulk of 8 and 32 on one core (an enqueue then a dequeue per iteration),
 * dequeue from an empty ring, and bulk of 8 and 32 across two cores (one
 * thread enqueues, the other dequeues; the figure is the enqueue plus the
 * dequeue cycles per element, as DPDK prints it).
 *
 * Multi-producer/multi-consumer rings run twice: as made by default (each
 * side biased to the thread that uses it) and made MPDP_RING_F_UNBIASED
 * ("mpmc_shared": every claim a compare-and-swap, as DPDK's). A two-core
 * run gets a ring of its own, so its two threads are the ring's first users,
 * as the stages of a pipeline are.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>

#include "bench.h"
#include "mpdp_ring.h"
#include "mpdp_time.h"
#include "mpdp_worker.h"

#define RING_SIZE 4096
#define ONE_CORE_ITERS (1u << 22)
/* As many bulk operations as DPDK 22.11's core-pair case, so a vCPU that the
 * host deschedules weighs the same on both sides. */
#define TWO_CORE_ITERS (1u << 15)
#define EMPTY_ITERS (1u << 24)

enum ring_mode { MODE_SPSC, MODE_MPMC, MODE_SHARED, MODE_COUNT };
enum ring_op { OP_SINGLE, OP_BURST, OP_BULK };

static const char *const mode_names[] = { "spsc", "mpmc", "mpmc_shared" };
static const unsigned mode_flags[] = { MPDP_RING_F_SP_ENQ | MPDP_RING_F_SC_DEQ, 0,
				       MPDP_RING_F_UNBIASED };
static const char *const op_names[] = { "single", "burst", "bulk" };

static void
report(const struct bench *b, const char *case_name, unsigned burst, unsigned cores,
       const char *unit, double v)
{
	if (b->json)
		printf("{\"bench\":\"ring\",\"case\":\"%s\",\"burst\":%u,\"cores\":%u,\"%s\":%.2f}\n",
		       case_name, burst, cores, unit, v);
	else
		printf("ring %-16s burst %2u  cores %u  %6.2f %s\n", case_name, burst, cores, v, unit);
	fflush(stdout);
}

/* One loop per burst size, so that each is compiled for its constant size
 * (DPDK's single case calls its one-object functions). */
static inline __attribute__((always_inline)) double
one_core_n(struct mpdp_ring *r, enum ring_op op, unsigned n)
{
	void *objs[32];
	uint64_t t0, t1;

	for (unsigned i = 0; i < n; i++)
		objs[i] = &objs[i];
	t0 = mpdp_tsc();
	for (unsigned it = 0; it < ONE_CORE_ITERS; it++) {
		if (op == OP_BULK) {
			mpdp_ring_enqueue_bulk(r, objs, n, NULL);
			mpdp_ring_dequeue_bulk(r, objs, n, NULL);
		} else {
			mpdp_ring_enqueue_burst(r, objs, n, NULL);
			mpdp_ring_dequeue_burst(r, objs, n, NULL);
		}
	}
	t1 = mpdp_tsc();
	return (double)(t1 - t0) / ((double)ONE_CORE_ITERS * n);
}

static __attribute__((noinline)) double
one_core(struct mpdp_ring *r, enum ring_op op, unsigned n)
{
	if (op == OP_BULK)
		return n == 1 ? one_core_n(r, OP_BULK, 1) : n == 8 ? one_core_n(r, OP_BULK, 8)
								 : one_core_n(r, OP_BULK, 32);
	return n == 8 ? one_core_n(r, OP_BURST, 8) : one_core_n(r, OP_BURST, 32);
}

static __attribute__((noinline)) double
empty_dequeue(struct mpdp_ring *r)
{
	void *objs[8];
	uint64_t t0 = mpdp_tsc(), t1;
	unsigned got = 0;

	for (unsigned it = 0; it < EMPTY_ITERS; it++)
		got += mpdp_ring_dequeue_bulk(r, objs, 8, NULL);
	t1 = mpdp_tsc();
	return got ? -1 : (double)(t1 - t0) / EMPTY_ITERS;
}

struct pair_arg {
	struct mpdp_ring *r;
	unsigned n;
	int cpu;
	int enqueue;
	_Atomic int *go;
	double cycles_per_elem;
};

static void *
pair_thread(void *varg)
{
	struct pair_arg *a = varg;
	void *objs[32];
	uint64_t t0, t1;

	if (a->cpu >= 0)
		mpdp_worker_pin(a->cpu);
	for (unsigned i = 0; i < a->n; i++)
		objs[i] = &objs[i];
	atomic_fetch_add(a->go, 1);
	while (atomic_load(a->go) < 2)
		;
	t0 = mpdp_tsc();
	for (unsigned it = 0; it < TWO_CORE_ITERS; it++) {
		if (a->enqueue) {
			while (mpdp_ring_enqueue_bulk(a->r, objs, a->n, NULL) == 0)
				mpdp__ring_pause();
		} else {
			while (mpdp_ring_dequeue_bulk(a->r, objs, a->n, NULL) == 0)
				mpdp__ring_pause();
		}
	}
	t1 = mpdp_tsc();
	a->cycles_per_elem = (double)(t1 - t0) / ((double)TWO_CORE_ITERS * a->n);
	return NULL;
}

static int
make_ring(const struct bench *b, const char *name, enum ring_mode mode, struct mpdp_ring **r)
{
	int rc = mpdp_ring_create(b->shm, name, RING_SIZE, mode_flags[mode], -1, r);

	if (rc != 0)
		fprintf(stderr, "mpdp-bench: cannot create ring %s: %s\n", name, mpdp_strerror(rc));
	return rc;
}

/* @return cycles per element, or -1 when the ring cannot be made */
static double
two_cores(const struct bench *b, enum ring_mode mode, unsigned n)
{
	_Atomic int go = 0;
	struct mpdp_ring *r;
	struct pair_arg enq, deq;
	pthread_t t[2];

	if (make_ring(b, "pair", mode, &r) != 0)
		return -1;
	enq = (struct pair_arg){ r, n, b->cpu[0], 1, &go, 0 };
	deq = (struct pair_arg){ r, n, b->cpu[1], 0, &go, 0 };
	pthread_create(&t[0], NULL, pair_thread, &enq);
	pthread_create(&t[1], NULL, pair_thread, &deq);
	pthread_join(t[0], NULL);
	pthread_join(t[1], NULL);
	mpdp_ring_delete(b->shm, r);
	return enq.cycles_per_elem + deq.cycles_per_elem;
}

int
bench_ring(struct bench *b)
{
	static const unsigned sizes[] = { 8, 32 };
	struct mpdp_ring *r[MODE_COUNT];
	double v[1000];
	char name[32];

	for (int m = MODE_SPSC; m < MODE_COUNT; m++)
		if (make_ring(b, mode_names[m], m, &r[m]) != 0)
			return -1;
	if (b->cpu[0] >= 0)
		mpdp_worker_pin(b->cpu[0]);
	for (int m = MODE_SPSC; m < MODE_COUNT; m++) {
		for (unsigned i = 0; i < b->runs; i++)
			v[i] = one_core(r[m], OP_BULK, 1);
		snprintf(name, sizeof(name), "%s_%s", mode_names[m], op_names[OP_SINGLE]);
		report(b, name, 1, 1, "cycles_per_elem", bench_median(v, b->runs));
	}
	for (enum ring_op op = OP_BURST; op <= OP_BULK; op++) {
		for (unsigned s = 0; s < 2; s++) {
			for (int m = MODE_SPSC; m < MODE_COUNT; m++) {
				for (unsigned i = 0; i < b->runs; i++)
					v[i] = one_core(r[m], op, sizes[s]);
				snprintf(name, sizeof(name), "%s_%s", mode_names[m], op_names[op]);
				report(b, name, sizes[s], 1, "cycles_per_elem", bench_median(v, b->runs));
			}
		}
	}
	for (int m = MODE_SPSC; m < MODE_COUNT; m++) {
		for (unsigned i = 0; i < b->runs; i++)
			v[i] = empty_dequeue(r[m]);
		snprintf(name, sizeof(name), "%s_empty_deq",
			 m == MODE_SPSC ? "sc" : m == MODE_MPMC ? "mc" : "mc_shared");
		report(b, name, 8, 1, "cycles_per_call", bench_median(v, b->runs));
	}
	if (b->cpu[1] < 0) {
		fprintf(stderr, "mpdp-bench: one core given: two-core cases skipped\n");
		return 0;
	}
	for (unsigned s = 0; s < 2; s++) {
		for (int m = MODE_SPSC; m < MODE_COUNT; m++) {
			for (unsigned i = 0; i < b->runs; i++)
				if ((v[i] = two_cores(b, m, sizes[s])) < 0)
					return -1;
			snprintf(name, sizeof(name), "%s_bulk", mode_names[m]);
			report(b, name, sizes[s], 2, "cycles_per_elem", bench_median(v, b->runs));
		}
	}
	return 0;
}

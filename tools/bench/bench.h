/* SPDX-License-Identifier: BSD-3-Clause */
/* mpdp-bench: shared context of the benchmark commands (private to the tool). */
#ifndef MPDP_BENCH_H
#define MPDP_BENCH_H

#include <stdint.h>

struct mpdp_shm;

struct bench {
	int json;                 /* one JSON object per line instead of a table */
	unsigned runs;            /* repetitions; the median is reported */
	int no_huge;
	const char *runtime_dir;
	const char *self;         /* path of this executable (attach re-executes it) */
	uint64_t tsc_hz;
	int cpu[2];               /* cores for one- and two-core cases */
	struct mpdp_shm *shm;     /* the bench's own instance */
	char name[32];
	/* pipeline only */
	unsigned seconds;         /* measuring window of a run */
	unsigned stages;          /* mpdp-fwd processes chained between the ports */
	unsigned size;            /* packet bytes of the null source */
	unsigned burst;           /* the stages' --burst, 0: their default */
	unsigned ring_size;       /* --port-ring-size and the stages' --ring-size, 0: defaults */
	int busy_poll;            /* the stages never yield their core */
	int no_swap;              /* the stages forward without --mac-swap */
	int backpressure;         /* the stages wait for room on a full output */
};

int bench_ring(struct bench *b);
int bench_pool(struct bench *b);
int bench_attach(struct bench *b);
int bench_fwd(struct bench *b);
int bench_pipeline(struct bench *b);
int bench_attach_child(int argc, char **argv);

/* Median of @n values (sorts them). */
double bench_median(double *v, unsigned n);

#endif /* MPDP_BENCH_H */

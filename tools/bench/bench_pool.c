/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Mempool cases, as DPDK's mempool_perf_autotest runs them: each core
 * repeatedly takes 128 objects in bulks of 32 and puts them back in bulks of
 * 32, with a 512-object per-worker cache or none, on one and on two cores.
 * The figure is objects taken and returned per second, all cores together.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>

#include "bench.h"
#include "mpdp_pool.h"
#include "mpdp_time.h"
#include "mpdp_worker.h"

#define POOL_OBJ_SIZE 2048
#define POOL_KEEP 128
#define POOL_BULK 32
#define POOL_RUN_NS 500000000ull
#define POOL_INNER 4096

struct pool_arg {
	struct bench *b;
	struct mpdp_pool *pool;
	int cpu;
	int cached;
	_Atomic int *go;
	int n_threads;
	double objs_per_sec;
	int failed;
};

static void *
pool_thread(void *varg)
{
	struct pool_arg *a = varg;
	unsigned wid = MPDP_POOL_NO_CACHE;
	void *objs[POOL_KEEP];
	uint64_t t0, t1, count = 0;

	if (mpdp_worker_register(a->b->shm, "bench", a->cpu, &wid) != 0) {
		a->failed = 1;
		return NULL;
	}
	atomic_fetch_add(a->go, 1);
	while (atomic_load(a->go) < a->n_threads)
		;
	t0 = mpdp_time_ns();
	do {
		for (unsigned it = 0; it < POOL_INNER; it++) {
			for (unsigned i = 0; i < POOL_KEEP; i += POOL_BULK) {
				if (mpdp_pool_get_bulk(a->pool, a->cached ? wid : MPDP_POOL_NO_CACHE,
						       &objs[i], POOL_BULK) != POOL_BULK) {
					a->failed = 1;
					goto out;
				}
			}
			for (unsigned i = 0; i < POOL_KEEP; i += POOL_BULK)
				mpdp_pool_put_bulk(a->pool, a->cached ? wid : MPDP_POOL_NO_CACHE,
						   &objs[i], POOL_BULK);
		}
		count += (uint64_t)POOL_INNER * POOL_KEEP;
		t1 = mpdp_time_ns();
	} while (t1 - t0 < POOL_RUN_NS);
	a->objs_per_sec = (double)count * 1e9 / (double)(t1 - t0);
out:
	mpdp_worker_release(a->b->shm, wid);
	return NULL;
}

static int
pool_case(struct bench *b, struct mpdp_pool *pool, unsigned cache, int cores, double *mops)
{
	struct pool_arg a[2];
	_Atomic int go = 0;
	pthread_t t[2];
	double sum = 0;

	for (int i = 0; i < cores; i++) {
		a[i] = (struct pool_arg){ b, pool, b->cpu[i], cache > 0, &go, cores, 0, 0 };
		pthread_create(&t[i], NULL, pool_thread, &a[i]);
	}
	for (int i = 0; i < cores; i++) {
		pthread_join(t[i], NULL);
		if (a[i].failed)
			return -1;
		sum += a[i].objs_per_sec;
	}
	*mops = sum / 1e6;
	return 0;
}

int
bench_pool(struct bench *b)
{
	static const unsigned caches[] = { 0, 512 };
	double v[1000];

	for (unsigned c = 0; c < 2; c++) {
		/* As DPDK's test sizes it: each of two cores keeps 128 plus a 512-object cache. */
		unsigned n = 2 * (POOL_KEEP + 512) - 1;
		struct mpdp_pool *pool;
		char name[32];
		int rc;

		snprintf(name, sizeof(name), "bench-pool-%u", caches[c]);
		rc = mpdp_pool_create(b->shm, name, n, POOL_OBJ_SIZE, caches[c], -1, NULL, NULL, &pool);
		if (rc != 0) {
			fprintf(stderr, "mpdp-bench: cannot create pool: %s\n", mpdp_strerror(rc));
			return rc;
		}
		for (int cores = 1; cores <= 2; cores++) {
			if (cores == 2 && b->cpu[1] < 0)
				continue;
			for (unsigned i = 0; i < b->runs; i++) {
				if (pool_case(b, pool, caches[c], cores, &v[i]) != 0) {
					fprintf(stderr, "mpdp-bench: a get failed on pool %s\n", name);
					return -1;
				}
			}
			double mops = bench_median(v, b->runs);

			if (b->json)
				printf("{\"bench\":\"mempool\",\"case\":\"%s\",\"cache\":%u,\"cores\":%d,"
				       "\"bulk\":%d,\"keep\":%d,\"mops\":%.1f}\n",
				       caches[c] ? "cache" : "no_cache", caches[c], cores, POOL_BULK,
				       POOL_KEEP, mops);
			else
				printf("mempool cache %3u  cores %d  bulk %d keep %d  %8.1f M objs/s\n",
				       caches[c], cores, POOL_BULK, POOL_KEEP, mops);
			fflush(stdout);
		}
	}
	return 0;
}

/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mpdp-pingpong: the demo secondary of the core runtime. Run one process
 * as "pong" (it bounces every packet from one ring to another) and one as
 * "ping" (it sends numbered packets and checks each comes back intact and
 * in order). Both attach to a running mpdp-primary.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mpdp_mbuf.h"
#include "mpdp_parse.h"
#include "mpdp_ring.h"
#include "mpdp_shm.h"
#include "mpdp_time.h"
#include "mpdp_worker.h"

#define PP_BURST_MAX 256
#define PP_PAYLOAD 64

struct pingpong {
	const char *name;
	const char *runtime_dir;
	const char *role;
	const char *tx_name, *rx_name, *pool_name;
	uint64_t count;
	unsigned burst;
	int cpu;
	struct mpdp_shm *shm;
	struct mpdp_ring *tx, *rx;
	struct mpdp_pool *pool;
	unsigned wid;
};

/* Set by SIGINT/SIGTERM: a handler gets no context, so this is the one global. */
static _Atomic int stop_requested;

static void
on_stop(int sig)
{
	(void)sig;
	atomic_store_explicit(&stop_requested, 1, memory_order_relaxed);
}

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: mpdp-pingpong --role ping|pong [options]\n"
		"  --name NAME        instance (default mpdp)\n"
		"  --runtime-dir DIR  parent of the instance directory\n"
		"  --tx RING          ring to send on (ping: ping, pong: pong)\n"
		"  --rx RING          ring to receive from (ping: pong, pong: ping)\n"
		"  --pool POOL        mbuf pool (default mbuf)\n"
		"  --count N          packets ping sends (default 1000000)\n"
		"  --burst N          burst size, 1 to %d (default 32)\n"
		"  -l CORE            core to pin the worker to\n",
		PP_BURST_MAX);
}

/* Stamp: the sequence number, then a payload derived from it. */
static void
stamp(struct mpdp_mbuf *m, uint64_t seq)
{
	uint8_t *p = mpdp_mbuf_append(m, 8 + PP_PAYLOAD);

	memcpy(p, &seq, 8);
	for (unsigned i = 0; i < PP_PAYLOAD; i++)
		p[8 + i] = (uint8_t)(seq * 31 + i);
}

static int
check(const struct mpdp_mbuf *m, uint64_t expect)
{
	const uint8_t *p = mpdp_mbuf_data(m);
	uint64_t seq;

	if (m->data_len != 8 + PP_PAYLOAD)
		return -EINVAL;
	memcpy(&seq, p, 8);
	if (seq != expect)
		return -EINVAL;
	for (unsigned i = 0; i < PP_PAYLOAD; i++) {
		if (p[8 + i] != (uint8_t)(seq * 31 + i))
			return -EINVAL;
	}
	return 0;
}

static int
run_pong(struct pingpong *pp)
{
	struct mpdp_mbuf *ms[PP_BURST_MAX];
	uint64_t bounced = 0;

	printf("pong: worker %u bouncing %s -> %s\n", pp->wid, pp->rx->name, pp->tx->name);
	fflush(stdout);
	while (!stop_requested) {
		unsigned n = mpdp_ring_dequeue_burst(pp->rx, (void **)ms, pp->burst, NULL), done = 0;

		while (done < n && !stop_requested)
			done += mpdp_ring_enqueue_burst(pp->tx, (void **)ms + done, n - done, NULL);
		if (done < n) /* stopping with packets in hand: give them back */
			mpdp_mbuf_free_bulk(ms + done, n - done, pp->wid);
		bounced += done;
	}
	printf("pong: bounced %" PRIu64 " packets\n", bounced);
	return 0;
}

static int
run_ping(struct pingpong *pp)
{
	struct mpdp_mbuf *ms[PP_BURST_MAX];
	uint64_t sent = 0, received = 0, bad = 0, t0, t1;
	unsigned in_use_before = mpdp_pool_in_use_count(pp->pool);

	printf("ping: worker %u sending %" PRIu64 " packets on %s, expecting them back on %s\n",
	       pp->wid, pp->count, pp->tx->name, pp->rx->name);
	t0 = mpdp_time_ns();
	while (received < pp->count && !stop_requested) {
		unsigned want = pp->burst, n, done = 0;

		if (want > pp->count - sent)
			want = (unsigned)(pp->count - sent);
		/* Keep at most a ring's worth in flight so pong never has to wait for room. */
		if (sent - received + want > pp->tx->capacity / 2)
			want = 0;
		if (want > 0 && mpdp_mbuf_alloc_bulk(pp->pool, pp->wid, ms, want) == want) {
			for (unsigned i = 0; i < want; i++)
				stamp(ms[i], sent + i);
			while (done < want)
				done += mpdp_ring_enqueue_burst(pp->tx, (void **)ms + done, want - done, NULL);
			sent += want;
		}
		n = mpdp_ring_dequeue_burst(pp->rx, (void **)ms, pp->burst, NULL);
		for (unsigned i = 0; i < n; i++)
			bad += check(ms[i], received + i) != 0;
		received += n;
		mpdp_mbuf_free_bulk(ms, n, pp->wid);
	}
	t1 = mpdp_time_ns();
	mpdp_pool_cache_flush(pp->pool, pp->wid);
	printf("ping: sent %" PRIu64 ", received %" PRIu64 ", lost %" PRIu64 ", corrupt or out of order %" PRIu64 "\n",
	       sent, received, sent - received, bad);
	printf("ping: %.2f Mpps round trip (%.3f s), pool %s in use: %u before, %u after\n",
	       (double)received / ((double)(t1 - t0) / 1e3), (double)(t1 - t0) / 1e9,
	       pp->pool->name, in_use_before, mpdp_pool_in_use_count(pp->pool));
	return received == pp->count && bad == 0 ? 0 : 1;
}

static int
parse(int argc, char **argv, struct pingpong *pp)
{
	static const struct option opts[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "runtime-dir", required_argument, NULL, 'd' },
		{ "role", required_argument, NULL, 'r' },
		{ "tx", required_argument, NULL, 't' },
		{ "rx", required_argument, NULL, 'x' },
		{ "pool", required_argument, NULL, 'p' },
		{ "count", required_argument, NULL, 'c' },
		{ "burst", required_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t v;
	int opt;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":l:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'n': pp->name = optarg; break;
		case 'd': pp->runtime_dir = optarg; break;
		case 'r': pp->role = optarg; break;
		case 't': pp->tx_name = optarg; break;
		case 'x': pp->rx_name = optarg; break;
		case 'p': pp->pool_name = optarg; break;
		case 'c':
			if (mpdp_parse_u64(optarg, 1, UINT64_MAX / 2, &pp->count) != 0) {
				fprintf(stderr, "mpdp-pingpong: --count '%s': expected a positive number\n", optarg);
				return 2;
			}
			break;
		case 'b':
			if (mpdp_parse_u64(optarg, 1, PP_BURST_MAX, &v) != 0) {
				fprintf(stderr, "mpdp-pingpong: --burst '%s': expected 1 to %d\n", optarg, PP_BURST_MAX);
				return 2;
			}
			pp->burst = (unsigned)v;
			break;
		case 'l':
			if (mpdp_parse_u64(optarg, 0, CPU_SETSIZE - 1, &v) != 0) {
				fprintf(stderr, "mpdp-pingpong: -l '%s': expected one core number\n", optarg);
				return 2;
			}
			pp->cpu = (int)v;
			break;
		case 'h': usage(stdout); return 1;
		case ':':
			fprintf(stderr, "mpdp-pingpong: option '%s' needs a value\n", argv[optind - 1]);
			return 2;
		default:
			fprintf(stderr, "mpdp-pingpong: unknown option '%s'\n", argv[optind - 1]);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "mpdp-pingpong: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (pp->role == NULL || (strcmp(pp->role, "ping") != 0 && strcmp(pp->role, "pong") != 0)) {
		fprintf(stderr, "mpdp-pingpong: --role must be ping or pong\n");
		return 2;
	}
	if (pp->tx_name == NULL)
		pp->tx_name = strcmp(pp->role, "ping") == 0 ? "ping" : "pong";
	if (pp->rx_name == NULL)
		pp->rx_name = strcmp(pp->role, "ping") == 0 ? "pong" : "ping";
	return 0;
}

static int
find(struct pingpong *pp)
{
	int rc;

	rc = mpdp_ring_lookup(pp->shm, pp->tx_name, &pp->tx);
	if (rc != 0) {
		fprintf(stderr, "mpdp-pingpong: ring '%s': %s (start the primary with --ring %s,size=1024)\n",
			pp->tx_name, mpdp_strerror(rc), pp->tx_name);
		return rc;
	}
	rc = mpdp_ring_lookup(pp->shm, pp->rx_name, &pp->rx);
	if (rc != 0) {
		fprintf(stderr, "mpdp-pingpong: ring '%s': %s (start the primary with --ring %s,size=1024)\n",
			pp->rx_name, mpdp_strerror(rc), pp->rx_name);
		return rc;
	}
	rc = mpdp_pool_lookup(pp->shm, pp->pool_name, &pp->pool);
	if (rc != 0)
		fprintf(stderr, "mpdp-pingpong: pool '%s': %s\n", pp->pool_name, mpdp_strerror(rc));
	return rc;
}

int
main(int argc, char **argv)
{
	struct pingpong pp = { .pool_name = "mbuf", .count = 1000000, .burst = 32, .cpu = -1 };
	struct mpdp_errbuf eb = { "" };
	struct sigaction sa = { .sa_handler = on_stop };
	int rc;

	rc = parse(argc, argv, &pp);
	if (rc != 0)
		return rc == 1 ? 0 : rc;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	rc = mpdp_shm_attach(pp.name, pp.runtime_dir, &pp.shm, &eb);
	if (rc != 0) {
		fprintf(stderr, "mpdp-pingpong: %s\n", eb.msg);
		return 1;
	}
	rc = find(&pp);
	if (rc == 0) {
		rc = mpdp_worker_register(pp.shm, pp.role, pp.cpu, &pp.wid);
		if (rc != 0)
			fprintf(stderr, "mpdp-pingpong: cannot take a worker id: %s\n", mpdp_strerror(rc));
	}
	if (rc == 0) {
		rc = strcmp(pp.role, "ping") == 0 ? run_ping(&pp) : run_pong(&pp);
		mpdp_worker_release(pp.shm, pp.wid);
	} else {
		rc = 1;
	}
	mpdp_shm_close(pp.shm);
	return rc;
}

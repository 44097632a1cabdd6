/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The monitor's control commands (`top`, `stats`), called through its
 * commands table as the control thread calls them, on the stage run in
 * this process on a private instance: flows of known sizes go through it,
 * and the commands rank and count them, bounded, in text and in JSON.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_check.h"
#include "test_stage_cmd.h"
#include "mon_stage.h"
#include "mpdp_mbuf.h"
#include "mpdp_pool.h"
#include "mpdp_ring.h"
#include "mpdp_shm.h"
#include "mpdp_stage.h"
#include "mpdp_worker.h"
#include "test_instance.h"

#define POOL_N 256
struct fixture {
	struct test_instance ti;
	struct mpdp_pool *pool;
	unsigned wid;
	struct mpdp_stage_config cfg;
	struct mpdp_stage_instance *si;
	struct mpdp_ring *in;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct mpdp_errbuf eb = { "" };

	if (f == NULL)
		return -1;
	test_instance_create(&f->ti, "tmoncmd", 32ull << 20, 0);
	assert_int_equal(mpdp_mbuf_pool_create(f->ti.shm, "mbuf", POOL_N, 32, 2048, -1, &f->pool), 0);
	assert_int_equal(mpdp_worker_register(f->ti.shm, "test", -1, &f->wid), 0);
	/* No --out: a sink. */
	f->cfg = (struct mpdp_stage_config){ .id = "mon1", .n_in = 1, .in = { "mon-in" },
		.n_options = 1, .options = { { "flows", "64" } } };
	if (mpdp_stage_open(f->ti.shm, &mon_stage, &f->cfg, &f->si, &eb) != 0)
		fail_msg("mpdp_stage_open: %s", eb.msg);
	assert_int_equal(mpdp_ring_lookup(f->ti.shm, "mon-in", &f->in), 0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	mpdp_stage_close(f->si);
	mpdp_worker_release(f->ti.shm, f->wid);
	test_instance_destroy(&f->ti);
	free(f);
	return 0;
}

/* @p n UDP frames of @p len bytes 10.0.0.@p a:@p sport -> 10.0.0.254:53 through the monitor. */
static void
flow(struct fixture *f, uint8_t a, uint16_t sport, unsigned n, unsigned len)
{
	for (unsigned i = 0; i < n; i++) {
		struct mpdp_mbuf *m = mpdp_mbuf_alloc(f->pool, f->wid);
		uint8_t *b, *ip, *uh;

		assert_non_null(m);
		assert_non_null(mpdp_mbuf_append(m, len));
		b = mpdp_mbuf_data(m);
		memset(b, 0, len);
		memcpy(b, "\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00", 14);
		ip = b + 14;
		uh = ip + 20;
		ip[0] = 0x45;
		ip[2] = (uint8_t)((len - 14) >> 8);
		ip[3] = (uint8_t)(len - 14);
		ip[8] = 64;
		ip[9] = 17;
		memcpy(ip + 12, "\x0a\x00\x00", 3);
		ip[15] = a;
		memcpy(ip + 16, "\x0a\x00\x00\xfe", 4);
		uh[0] = (uint8_t)(sport >> 8);
		uh[1] = (uint8_t)sport;
		uh[3] = 53;
		uh[4] = (uint8_t)((len - 34) >> 8);
		uh[5] = (uint8_t)(len - 34);
		assert_int_equal(mpdp_ring_enqueue_bulk(f->in, (void *const *)&m, 1, NULL), 1);
		assert_int_equal(mpdp_stage_poll(f->si, 0, f->wid), 1);
	}
}

/* A: 3 x 60 bytes (most packets), B: 1 x 500 bytes (most bytes), C: 2 x 100 bytes. */
static void
traffic(struct fixture *f)
{
	flow(f, 1, 1001, 3, 60);
	flow(f, 2, 1002, 1, 500);
	flow(f, 3, 1003, 2, 100);
}

static void
test_top_ranks_the_flows_both_ways(void **state)
{
	struct fixture *f = *state;
	char *t, *j;

	traffic(f);
	t = test_stage_cmd_ok(f->si, "top 1", 0);
	test_contains(t, "mon mon1: 3 flows tracked in 64 slots, 0 packets not tracked\n");
	test_contains(t, "top 1 flows by bytes\n");
	test_contains(t, "     1 udp   10.0.0.2 ");
	test_contains(t, "top 1 flows by packets\n");
	test_contains(t, "     1 udp   10.0.0.1 ");
	test_lacks(t, "10.0.0.3 ");
	free(t);
	t = test_stage_cmd_ok(f->si, "top", 0);          /* 10 by default: all three */
	test_contains(t, "     2 udp   10.0.0.3 ");
	test_contains(t, "     3 udp   10.0.0.1 ");
	free(t);
	j = test_stage_cmd_ok(f->si, "top 2 bytes", 1);
	test_contains(j, "{\"stage\":\"mon1\",\"tracked\":3,\"slots\":64,\"not_tracked_packets\":0,\"top\":2,"
		    "\"top_by_bytes\":[{\"ip\":4,\"proto\":\"udp\",\"ip_proto\":17,\"src\":\"10.0.0.2\","
		    "\"dst\":\"10.0.0.254\",\"sport\":1002,\"dport\":53,\"packets\":1,\"bytes\":500},"
		    "{\"ip\":4,\"proto\":\"udp\",\"ip_proto\":17,\"src\":\"10.0.0.3\"");
	test_lacks(j, "top_by_packets");
	free(j);
	j = test_stage_cmd_ok(f->si, "top packets", 1);
	test_contains(j, "\"top_by_packets\":[{\"ip\":4,\"proto\":\"udp\",\"ip_proto\":17,\"src\":\"10.0.0.1\","
		    "\"dst\":\"10.0.0.254\",\"sport\":1001,\"dport\":53,\"packets\":3,\"bytes\":180}");
	test_lacks(j, "top_by_bytes");
	free(j);
}

static void
test_top_refuses_bad_arguments(void **state)
{
	struct fixture *f = *state;
	struct mpdp_errbuf eb = { "" };

	assert_int_equal(test_stage_cmd(f->si, "top 0", 0, NULL, &eb), -EINVAL);
	assert_string_equal(eb.msg, "top: '0' is neither a number of flows from 1 to 1000 nor "
				    "'bytes' or 'packets'");
	assert_int_equal(test_stage_cmd(f->si, "top 1001", 0, NULL, &eb), -EINVAL);
	assert_int_equal(test_stage_cmd(f->si, "top flows", 1, NULL, &eb), -EINVAL);
	assert_int_equal(test_stage_cmd(f->si, "stats all", 0, NULL, &eb), -EINVAL);
	assert_string_equal(eb.msg, "stats: takes no arguments");
}

static void
test_stats_counts_protocols_and_sizes(void **state)
{
	struct fixture *f = *state;
	char *t, *j;

	traffic(f);
	t = test_stage_cmd_ok(f->si, "stats", 0);
	test_contains(t, "mon mon1: running, 1 start\n");
	test_contains(t, "total      packets 6 bytes 880\n");
	test_contains(t, "flows      tracked 3 slots 64 not_tracked_packets 0 not_tracked_bytes 0\n");
	test_contains(t, "  udp                       6\n");
	test_contains(t, "  <64                       3\n");
	test_contains(t, "  65-127                    2\n");
	test_contains(t, "  256-511                   1\n");
	test_lacks(t, "top ");
	free(t);
	j = test_stage_cmd_ok(f->si, "stats", 1);
	test_contains(j, "{\"stage\":\"mon1\",\"running\":true,\"starts\":1,\"packets\":6,\"bytes\":880,");
	test_contains(j, "\"udp\":6,");
	test_lacks(j, "top_by");
	free(j);
}

static void
test_the_report_is_stats_and_top(void **state)
{
	struct fixture *f = *state;
	struct mpdp_stage_env env = { f->ti.shm, &mon_stage, &f->cfg, 0, 1, 1 };
	struct mpdp_errbuf eb = { "" };
	char *r = NULL, *stats;
	size_t len = 0, n;
	FILE *fp;

	traffic(f);
	stats = test_stage_cmd_ok(f->si, "stats", 1);
	fp = open_memstream(&r, &len);
	assert_non_null(fp);
	assert_int_equal(mon_stage.report(&env, fp, &eb), 0);
	fclose(fp);
	assert_true(json_check(r, len));
	/* The same object up to "sizes" (but the rates and seconds, which move). */
	assert_non_null(strstr(stats, ",\"rates\""));
	n = strlen(stats) - strlen(strstr(stats, ",\"rates\""));
	assert_int_equal(strncmp(r, stats, n), 0);
	test_contains(r, ",\"top\":10,\"top_by_bytes\":[");
	free(r);
	free(stats);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_top_ranks_the_flows_both_ways, setup, teardown),
		cmocka_unit_test_setup_teardown(test_top_refuses_bad_arguments, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stats_counts_protocols_and_sizes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_the_report_is_stats_and_top, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

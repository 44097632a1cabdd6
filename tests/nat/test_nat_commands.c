/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The NAT's control commands (`session list`, `stats`), called through its
 * commands table as the control thread calls them, on the stage run in
 * this process on a private instance: traffic through it makes sessions,
 * and the commands show them, bounded, in text and in JSON.
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
#include "mpdp_mbuf.h"
#include "mpdp_pool.h"
#include "mpdp_ring.h"
#include "mpdp_shm.h"
#include "mpdp_stage.h"
#include "mpdp_worker.h"
#include "nat_stage.h"
#include "test_instance.h"

#define POOL_N 256
struct fixture {
	struct test_instance ti;
	struct mpdp_pool *pool;
	unsigned wid;
	struct mpdp_stage_config cfg;
	struct mpdp_stage_instance *si;
	struct mpdp_ring *inside, *wan;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct mpdp_errbuf eb = { "" };

	if (f == NULL)
		return -1;
	test_instance_create(&f->ti, "tnatcmd", 64ull << 20, 0);
	assert_int_equal(mpdp_mbuf_pool_create(f->ti.shm, "mbuf", POOL_N, 32, 256, -1, &f->pool), 0);
	assert_int_equal(mpdp_worker_register(f->ti.shm, "test", -1, &f->wid), 0);
	f->cfg = (struct mpdp_stage_config){ .id = "nat1", .n_in = 2, .in = { "lan-in", "wan-in" },
		.in_role = { 0, 1 }, .n_out = 2,
		.out = { { "inside", "lan-out" }, { "outside", "wan-out" } }, .n_options = 3,
		.options = { { "snat", "10.0.0.0/8=192.0.2.1" },
			     { "dnat", "192.0.2.9:80=10.0.0.80:8080/tcp" },
			     { "max-sessions", "1024" } } };
	if (mpdp_stage_open(f->ti.shm, &nat_stage, &f->cfg, &f->si, &eb) != 0)
		fail_msg("mpdp_stage_open: %s", eb.msg);
	assert_int_equal(mpdp_ring_lookup(f->ti.shm, "lan-in", &f->inside), 0);
	assert_int_equal(mpdp_ring_lookup(f->ti.shm, "wan-out", &f->wan), 0);
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

#define IP(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (uint32_t)(d))

/* An outbound UDP frame from the inside; 1 when it left translated on the outside. */
static int
send_out(struct fixture *f, uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport)
{
	struct mpdp_mbuf *m = mpdp_mbuf_alloc(f->pool, f->wid);
	uint8_t *b, *ip, *uh;
	int out = 0;

	assert_non_null(m);
	assert_non_null(mpdp_mbuf_append(m, 64));
	b = mpdp_mbuf_data(m);
	memset(b, 0, 64);
	memcpy(b, "\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00", 14);
	ip = b + 14;
	uh = ip + 20;
	ip[0] = 0x45;
	ip[3] = 50;
	ip[8] = 64;
	ip[9] = 17;
	for (int k = 0; k < 4; k++) {
		ip[12 + k] = (uint8_t)(src >> (24 - 8 * k));
		ip[16 + k] = (uint8_t)(dst >> (24 - 8 * k));
	}
	uh[0] = (uint8_t)(sport >> 8);
	uh[1] = (uint8_t)sport;
	uh[2] = (uint8_t)(dport >> 8);
	uh[3] = (uint8_t)dport;
	uh[5] = 30;
	assert_int_equal(mpdp_ring_enqueue_bulk(f->inside, (void *const *)&m, 1, NULL), 1);
	assert_int_equal(mpdp_stage_poll(f->si, 0, f->wid), 1);
	while (mpdp_ring_dequeue_bulk(f->wan, (void **)&m, 1, NULL) == 1) {
		mpdp_mbuf_free(m, f->wid);
		out++;
	}
	return out;
}

static void
test_session_list_shows_the_sessions_traffic_made(void **state)
{
	struct fixture *f = *state;
	char *t, *j;

	t = test_stage_cmd_ok(f->si, "session list", 0);
	test_contains(t, "sessions of nat1: 1 active (static mappings included)\n");
	test_contains(t, "  tcp   10.0.0.80:8080        192.0.2.9:80          static");
	free(t);
	assert_int_equal(send_out(f, IP(10, 0, 0, 5), 5000, IP(198, 51, 100, 1), 53), 1);
	assert_int_equal(send_out(f, IP(10, 0, 0, 5), 5000, IP(198, 51, 100, 2), 53), 1);
	assert_int_equal(send_out(f, IP(10, 0, 0, 6), 6000, IP(198, 51, 100, 1), 53), 1);
	t = test_stage_cmd_ok(f->si, "session list", 0);
	test_contains(t, "sessions of nat1: 3 active");
	test_contains(t, "  proto inside                outside               state");
	test_contains(t, "  udp   10.0.0.5:5000         192.0.2.1:5000        active");
	test_contains(t, "  udp   10.0.0.6:6000         192.0.2.1:6000        active");
	/* Endpoint-independent: one session for both destinations, its packets counted. */
	test_contains(t, "          2          0\n");
	free(t);
	j = test_stage_cmd_ok(f->si, "session list", 1);
	test_contains(j, "{\"stage\":\"nat1\",\"sessions_active\":3,\"sessions\":[");
	test_contains(j, "{\"proto\":\"udp\",\"inside\":\"10.0.0.5\",\"inside_port\":5000,"
		    "\"outside\":\"192.0.2.1\",\"outside_port\":5000,\"state\":\"active\"");
	test_contains(j, "\"left_s\":null");            /* the static mapping */
	test_contains(j, "\"shown\":3}");
	free(j);
}

static void
test_session_list_is_bounded(void **state)
{
	struct fixture *f = *state;
	struct mpdp_errbuf eb = { "" };
	char *t, *j;

	for (uint16_t i = 0; i < 5; i++)
		assert_int_equal(send_out(f, IP(10, 0, 1, i), 7000, IP(198, 51, 100, 1), 53), 1);
	t = test_stage_cmd_ok(f->si, "session list 2", 0);
	test_contains(t, "(2 of 6 shown)");
	free(t);
	j = test_stage_cmd_ok(f->si, "session list 2", 1);
	test_contains(j, "\"shown\":2}");
	free(j);
	assert_int_equal(test_stage_cmd(f->si, "session list 0", 0, NULL, &eb), -EINVAL);
	assert_string_equal(eb.msg, "session list: count '0' is not a number from 1 to 2000");
	assert_int_equal(test_stage_cmd(f->si, "session list 2001", 0, NULL, &eb), -EINVAL);
	assert_int_equal(test_stage_cmd(f->si, "session list 1 2", 0, NULL, &eb), -EINVAL);
	assert_string_equal(eb.msg, "session list: expected at most a count");
}

static void
test_stats_prints_the_report_counters(void **state)
{
	struct fixture *f = *state;
	struct mpdp_errbuf eb = { "" };
	char *t, *j;

	assert_int_equal(send_out(f, IP(10, 0, 0, 5), 5000, IP(198, 51, 100, 1), 53), 1);
	assert_int_equal(send_out(f, IP(10, 0, 0, 5), 5001, IP(198, 51, 100, 1), 53), 1);
	t = test_stage_cmd_ok(f->si, "stats", 0);
	test_contains(t, "nat nat1: running, 1 start\n");
	test_contains(t, "  snat 10.0.0.0/8=192.0.2.1:1024-65535\n");
	test_contains(t, "  translated_out                      2\n");
	test_contains(t, "  sessions_active                     3\n");
	test_contains(t, "  192.0.2.1            0      2      0\n");
	test_lacks(t, "sessions (first");
	free(t);
	j = test_stage_cmd_ok(f->si, "stats", 1);
	test_contains(j, "{\"stage\":\"nat1\",\"running\":true,\"starts\":1,\"config\":{\"snat\":[");
	test_contains(j, "\"translated_out\":2,");
	test_contains(j, "{\"addr\":\"192.0.2.1\",\"tcp_ports\":0,\"udp_ports\":2,\"icmp_ids\":0}");
	test_lacks(j, "\"sessions\":");
	free(j);
	assert_int_equal(test_stage_cmd(f->si, "stats now", 0, NULL, &eb), -EINVAL);
	assert_string_equal(eb.msg, "stats: takes no arguments");
}

static void
test_the_report_is_stats_and_sessions(void **state)
{
	struct fixture *f = *state;
	struct mpdp_stage_env env = { f->ti.shm, &nat_stage, &f->cfg, 0, 1, 1 };
	struct mpdp_errbuf eb = { "" };
	char *r = NULL, *stats = test_stage_cmd_ok(f->si, "stats", 1);
	size_t len = 0;
	FILE *fp = open_memstream(&r, &len);

	assert_non_null(fp);
	assert_int_equal(nat_stage.report(&env, fp, &eb), 0);
	fclose(fp);
	assert_true(json_check(r, len));
	/* The report's object is the stats command's, with the sessions appended. */
	stats[strlen(stats) - 2] = '\0';      /* without "}\n" */
	assert_int_equal(strncmp(r, stats, strlen(stats)), 0);
	test_contains(r + strlen(stats), ",\"sessions\":[{\"proto\":\"tcp\"");
	free(r);
	free(stats);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_session_list_shows_the_sessions_traffic_made, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_session_list_is_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stats_prints_the_report_counters, setup, teardown),
		cmocka_unit_test_setup_teardown(test_the_report_is_stats_and_sessions, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

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
#include "mon_stage.h"
#include "mpdp_mbuf.h"
#include "mpdp_pool.h"
#include "mpdp_ring.h"
#include "mpdp_shm.h"
#include "mpdp_stage.h"
#include "mpdp_worker.h"
#include "test_instance.h"

#define POOL_N 256
#define ARGS_MAX 16

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

/* Run `line` (words split at blanks) as the control connection does (mpdp_stage_command()). */
static int
run_cmd(struct fixture *f, const char *line, int json, char **text, struct mpdp_errbuf *eb)
{
	char *copy = strdup(line), *argv[ARGS_MAX], *save = NULL, *w, *out;
	struct { char *buf; size_t len; } *ms = calloc(1, sizeof(*ms));
	int argc = 0, rc;
	size_t len;
	FILE *fp;

	assert_non_null(copy);
	assert_non_null(ms);
	for (w = strtok_r(copy, " ", &save); w != NULL && argc < ARGS_MAX; w = strtok_r(NULL, " ", &save))
		argv[argc++] = w;
	/* The stream's buffer lives on the heap: the compiler cannot follow it past fclose. */
	fp = open_memstream(&ms->buf, &ms->len);
	assert_non_null(fp);
	eb->msg[0] = '\0';
	rc = mpdp_stage_command(f->si, argc, argv, json, fp, eb);
	fclose(fp);
	out = ms->buf;
	len = ms->len;
	free(ms);
	if (rc == 0 && json && !json_check(out, len))
		fail_msg("'%s' --json printed no JSON value: %s", line, out);
	if (text != NULL)
		*text = out;
	else
		free(out);
	free(copy);
	return rc;
}

/* Run a command that must succeed: its output (free it). */
static char *
ok(struct fixture *f, const char *line, int json)
{
	struct mpdp_errbuf eb = { "" };
	char **out = calloc(1, sizeof(*out)), *text;

	assert_non_null(out);
	if (run_cmd(f, line, json, out, &eb) != 0)
		fail_msg("'%s': %s", line, eb.msg);
	text = *out;
	free(out);
	return text;
}

static void
contains(const char *text, const char *want)
{
	if (strstr(text, want) == NULL)
		fail_msg("expected '%s' in:\n%s", want, text);
}

static void
lacks(const char *text, const char *unwanted)
{
	if (strstr(text, unwanted) != NULL)
		fail_msg("did not expect '%s' in:\n%s", unwanted, text);
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
	t = ok(f, "top 1", 0);
	contains(t, "mon mon1: 3 flows tracked in 64 slots, 0 packets not tracked\n");
	contains(t, "top 1 flows by bytes\n");
	contains(t, "     1 udp   10.0.0.2 ");
	contains(t, "top 1 flows by packets\n");
	contains(t, "     1 udp   10.0.0.1 ");
	lacks(t, "10.0.0.3 ");
	free(t);
	t = ok(f, "top", 0);          /* 10 by default: all three */
	contains(t, "     2 udp   10.0.0.3 ");
	contains(t, "     3 udp   10.0.0.1 ");
	free(t);
	j = ok(f, "top 2 bytes", 1);
	contains(j, "{\"stage\":\"mon1\",\"tracked\":3,\"slots\":64,\"not_tracked_packets\":0,\"top\":2,"
		    "\"top_by_bytes\":[{\"ip\":4,\"proto\":\"udp\",\"ip_proto\":17,\"src\":\"10.0.0.2\","
		    "\"dst\":\"10.0.0.254\",\"sport\":1002,\"dport\":53,\"packets\":1,\"bytes\":500},"
		    "{\"ip\":4,\"proto\":\"udp\",\"ip_proto\":17,\"src\":\"10.0.0.3\"");
	lacks(j, "top_by_packets");
	free(j);
	j = ok(f, "top packets", 1);
	contains(j, "\"top_by_packets\":[{\"ip\":4,\"proto\":\"udp\",\"ip_proto\":17,\"src\":\"10.0.0.1\","
		    "\"dst\":\"10.0.0.254\",\"sport\":1001,\"dport\":53,\"packets\":3,\"bytes\":180}");
	lacks(j, "top_by_bytes");
	free(j);
}

static void
test_top_refuses_bad_arguments(void **state)
{
	struct fixture *f = *state;
	struct mpdp_errbuf eb = { "" };

	assert_int_equal(run_cmd(f, "top 0", 0, NULL, &eb), -EINVAL);
	assert_string_equal(eb.msg, "top: '0' is neither a number of flows from 1 to 1000 nor "
				    "'bytes' or 'packets'");
	assert_int_equal(run_cmd(f, "top 1001", 0, NULL, &eb), -EINVAL);
	assert_int_equal(run_cmd(f, "top flows", 1, NULL, &eb), -EINVAL);
	assert_int_equal(run_cmd(f, "stats all", 0, NULL, &eb), -EINVAL);
	assert_string_equal(eb.msg, "stats: takes no arguments");
}

static void
test_stats_counts_protocols_and_sizes(void **state)
{
	struct fixture *f = *state;
	char *t, *j;

	traffic(f);
	t = ok(f, "stats", 0);
	contains(t, "mon mon1: running, 1 start\n");
	contains(t, "total      packets 6 bytes 880\n");
	contains(t, "flows      tracked 3 slots 64 not_tracked_packets 0 not_tracked_bytes 0\n");
	contains(t, "  udp                       6\n");
	contains(t, "  <64                       3\n");
	contains(t, "  65-127                    2\n");
	contains(t, "  256-511                   1\n");
	lacks(t, "top ");
	free(t);
	j = ok(f, "stats", 1);
	contains(j, "{\"stage\":\"mon1\",\"running\":true,\"starts\":1,\"packets\":6,\"bytes\":880,");
	contains(j, "\"udp\":6,");
	lacks(j, "top_by");
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
	stats = ok(f, "stats", 1);
	fp = open_memstream(&r, &len);
	assert_non_null(fp);
	assert_int_equal(mon_stage.report(&env, fp, &eb), 0);
	fclose(fp);
	assert_true(json_check(r, len));
	/* The same object up to "sizes" (but the rates and seconds, which move). */
	assert_non_null(strstr(stats, ",\"rates\""));
	n = strlen(stats) - strlen(strstr(stats, ",\"rates\""));
	assert_int_equal(strncmp(r, stats, n), 0);
	contains(r, ",\"top\":10,\"top_by_bytes\":[");
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

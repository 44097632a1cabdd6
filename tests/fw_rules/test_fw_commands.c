/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The firewall's control commands, called through its commands table the
 * way the control thread calls them: the stage runs in this process on a
 * private instance (mpdp_stage_open()), this thread is its worker
 * (mpdp_stage_poll()), and an edit runs on a second thread that waits for
 * the worker to take the new rule set, as it does in mpdp-fw.
 *
 * Checked: rule list (text, JSON, bounds), rule add at a position and at
 * the end with every other rule's counters kept and the new rule's at 0,
 * packets classified by the new set after the add, rule del, rule load
 * (unchanged rules keep their counters), refusals that change nothing
 * (a bad rule with its column, positions out of range, a bad file with
 * FILE:LINE:COL, a worker that never takes the set), conn list, and that
 * every --json output is one JSON value.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fw_stage.h"
#include "json_check.h"
#include "test_stage_cmd.h"
#include "mpdp_mbuf.h"
#include "mpdp_pool.h"
#include "mpdp_ring.h"
#include "mpdp_shm.h"
#include "mpdp_stage.h"
#include "mpdp_worker.h"
#include "test_instance.h"

#define POOL_N 512
#define ARGS_MAX 32

static const char *const fw_names[] = { "drop", "out" };

/* The firewall stage, its init wrapped to keep the worker's context (the commands' ctxs[0]). */
static struct mpdp_stage fw;
static int (*fw_init_real)(void *ctx, const struct mpdp_stage_env *env, struct mpdp_errbuf *eb);
static void *fw_ctx;

static int
init_and_keep(void *ctx, const struct mpdp_stage_env *env, struct mpdp_errbuf *eb)
{
	int rc = fw_init_real(ctx, env, eb);

	if (rc == 0)
		fw_ctx = ctx;
	return rc;
}

struct fixture {
	struct test_instance ti;
	struct mpdp_pool *pool;
	unsigned wid;
	char rules[64];
	char rules2[64];
	struct mpdp_stage_config cfg;
	struct mpdp_stage_instance *si;
	struct mpdp_ring *in, *out;
};

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct mpdp_errbuf eb = { "" };
	int fd;

	if (f == NULL)
		return -1;
	fw_stage_fill(&fw, 2, fw_names);
	fw_init_real = fw.init;
	fw.init = init_and_keep;
	fw_ctx = NULL;
	test_instance_create(&f->ti, "tfwcmd", 64ull << 20, 0);
	assert_int_equal(mpdp_mbuf_pool_create(f->ti.shm, "mbuf", POOL_N, 32, 256, -1, &f->pool), 0);
	assert_int_equal(mpdp_worker_register(f->ti.shm, "test", -1, &f->wid), 0);
	snprintf(f->rules, sizeof(f->rules), "/tmp/mpdp-fwcmd-XXXXXX");
	fd = mkstemp(f->rules);
	assert_true(fd >= 0);
	close(fd);
	snprintf(f->rules2, sizeof(f->rules2), "/tmp/mpdp-fwcmd2-XXXXXX");
	fd = mkstemp(f->rules2);
	assert_true(fd >= 0);
	close(fd);
	write_file(f->rules, "# three rules\n"
			     "allow established\n"
			     "allow tcp to any port 80\n"
			     "deny udp\n");
	f->cfg = (struct mpdp_stage_config){ .id = "fw1", .n_in = 1, .in = { "fw-in" }, .n_out = 1,
		.out = { { "out", "fw-out" } }, .n_options = 2,
		.options = { { "rules", f->rules }, { "max-conns", "1024" } } };
	assert_int_equal(mpdp_stage_open(f->ti.shm, &fw, &f->cfg, &f->si, &eb), 0);
	assert_non_null(fw_ctx);
	assert_int_equal(mpdp_ring_lookup(f->ti.shm, "fw-in", &f->in), 0);
	assert_int_equal(mpdp_ring_lookup(f->ti.shm, "fw-out", &f->out), 0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	mpdp_stage_close(f->si);
	unlink(f->rules);
	unlink(f->rules2);
	mpdp_worker_release(f->ti.shm, f->wid);
	test_instance_destroy(&f->ti);
	free(f);
	return 0;
}

/* ---- frames ---- */

static uint16_t
csum(const uint8_t *p, size_t n)
{
	uint32_t s = 0;

	for (size_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)(p[i] << 8 | p[i + 1]);
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

/* An Ethernet + IPv4 + TCP (flags) or UDP (flags < 0) frame, 64 bytes. */
static unsigned
frame(uint8_t *b, uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport, int flags)
{
	const unsigned len = 64;
	uint8_t *ip = b + 14, *th = ip + 20;
	uint16_t c;

	memset(b, 0, len);
	memcpy(b, "\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00", 14);
	ip[0] = 0x45;
	ip[2] = (uint8_t)((len - 14) >> 8);
	ip[3] = (uint8_t)(len - 14);
	ip[8] = 64;
	ip[9] = flags >= 0 ? 6 : 17;
	for (int k = 0; k < 4; k++) {
		ip[12 + k] = (uint8_t)(src >> (24 - 8 * k));
		ip[16 + k] = (uint8_t)(dst >> (24 - 8 * k));
	}
	c = csum(ip, 20);
	ip[10] = (uint8_t)(c >> 8);
	ip[11] = (uint8_t)c;
	th[0] = (uint8_t)(sport >> 8);
	th[1] = (uint8_t)sport;
	th[2] = (uint8_t)(dport >> 8);
	th[3] = (uint8_t)dport;
	if (flags >= 0) {
		th[12] = 0x50;
		th[13] = (uint8_t)flags;
		th[14] = 0xff;
	} else {
		th[5] = (uint8_t)(len - 14 - 20);
	}
	return len;
}

#define IP(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (uint32_t)(d))
#define SYN 0x02
#define SYNACK 0x12

/* One frame through the firewall: 1 when it came out on "out", 0 when dropped. */
static int
pass(struct fixture *f, uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport, int flags)
{
	struct mpdp_mbuf *m = mpdp_mbuf_alloc(f->pool, f->wid);
	uint8_t b[128];
	unsigned len = frame(b, src, dst, sport, dport, flags);
	int out = 0;

	assert_non_null(m);
	assert_non_null(mpdp_mbuf_append(m, len));
	memcpy(mpdp_mbuf_data(m), b, len);
	assert_int_equal(mpdp_ring_enqueue_bulk(f->in, (void *const *)&m, 1, NULL), 1);
	assert_int_equal(mpdp_stage_poll(f->si, 0, f->wid), 1);
	while (mpdp_ring_dequeue_bulk(f->out, (void **)&m, 1, NULL) == 1) {
		mpdp_mbuf_free(m, f->wid);
		out++;
	}
	assert_true(out <= 1);
	return out;
}

/* ---- commands, as the control thread runs them ---- */

struct cmd_run {
	struct fixture *f;
	int argc;
	char *argv[ARGS_MAX];
	int json;
	int rc;
	char *out;
	size_t len;
	struct mpdp_errbuf eb;
	atomic_int done;
};

/* The command whose name is the longest match of argv's first words. */
static const struct mpdp_stage_command *
lookup(int argc, char **argv, int *words)
{
	const struct mpdp_stage_command *best = NULL;

	*words = 0;
	for (const struct mpdp_stage_command *c = fw.commands; c->name != NULL; c++) {
		char name[64], *save = NULL, *w;
		int k = 0, ok = 1;

		snprintf(name, sizeof(name), "%s", c->name);
		for (w = strtok_r(name, " ", &save); w != NULL; w = strtok_r(NULL, " ", &save), k++)
			ok = ok && k < argc && strcmp(argv[k], w) == 0;
		if (ok && k > *words) {
			*words = k;
			best = c;
		}
	}
	return best;
}

static void *
cmd_thread(void *arg)
{
	struct cmd_run *r = arg;
	const struct mpdp_stage_command *c;
	struct mpdp_stage_env env = { r->f->ti.shm, &fw, &r->f->cfg, 0, 1, r->json };
	void *ctxs[1] = { fw_ctx };
	FILE *out = open_memstream(&r->out, &r->len);
	int words;

	assert_non_null(out);
	c = lookup(r->argc, r->argv, &words);
	assert_non_null(c);
	r->rc = c->run(&env, ctxs, r->argc - words, r->argv + words, r->json, out, &r->eb);
	fclose(out);
	atomic_store(&r->done, 1);
	return NULL;
}

/*
 * Run a command (words split at blanks, or @p argv when given) on another
 * thread while this one is the worker, polling, when @p worker is set.
 * @return the command's return; *out its output (free it)
 */
static int
run_cmd(struct fixture *f, const char *line, int json, int worker, char **out,
	struct mpdp_errbuf *eb)
{
	struct cmd_run *r = calloc(1, sizeof(*r));
	char *copy = strdup(line), *save = NULL, *w;
	pthread_t t;
	int rc;

	assert_non_null(r);
	assert_non_null(copy);
	r->f = f;
	r->json = json;
	for (w = strtok_r(copy, " ", &save); w != NULL; w = strtok_r(NULL, " ", &save))
		r->argv[r->argc++] = w;
	if (!worker) {
		cmd_thread(r);
	} else {
		assert_int_equal(pthread_create(&t, NULL, cmd_thread, r), 0);
		while (!atomic_load(&r->done)) {
			mpdp_stage_poll(f->si, 0, f->wid);
			sched_yield();
		}
		assert_int_equal(pthread_join(t, NULL), 0);
	}
	rc = r->rc;
	*eb = r->eb;
	if (json && rc == 0 && !json_check(r->out, r->len))
		fail_msg("'%s' --json printed no JSON value: %s", line, r->out);
	if (out != NULL)
		*out = r->out;
	else
		free(r->out);
	free(copy);
	free(r);
	return rc;
}

/* Run a command that must succeed; its output (free it). */
static char *
ok(struct fixture *f, const char *line, int json, int worker)
{
	struct mpdp_errbuf eb = { "" };
	char *out = NULL;
	int rc = run_cmd(f, line, json, worker, &out, &eb);

	if (rc != 0)
		fail_msg("'%s' returned %d: %s", line, rc, eb.msg);
	assert_int_equal(eb.msg[0], '\0');
	return out;
}

/* Traffic that hits each rule: 3 new TCP to port 80 (rule 2), 1 UDP (rule 3), 1 reply (rule 1). */
static void
traffic(struct fixture *f)
{
	for (uint16_t i = 0; i < 3; i++)
		assert_int_equal(pass(f, IP(10, 0, 0, 1), IP(198, 51, 100, 10), (uint16_t)(40000 + i), 80,
				      SYN), 1);
	assert_int_equal(pass(f, IP(10, 0, 0, 1), IP(198, 51, 100, 10), 5000, 53, -1), 0);
	assert_int_equal(pass(f, IP(198, 51, 100, 10), IP(10, 0, 0, 1), 80, 40000, SYNACK), 1);
}

/* ---- cases ---- */

static void
test_rule_list_shows_rules_with_counters_and_defaults(void **state)
{
	struct fixture *f = *state;
	char *t, *j;

	traffic(f);
	t = ok(f, "rule list", 0, 0);
	test_contains(t, "rules of fw1: 3\n");
	test_contains(t, "      1            1 pkts             64 bytes  allow established\n");
	test_contains(t, "      2            3 pkts            192 bytes  allow tcp to any port 80\n");
	test_contains(t, "      3            1 pkts             64 bytes  deny udp\n");
	test_contains(t, "defaults\n");
	test_contains(t, "                   0 pkts              0 bytes  default deny\n");
	test_contains(t, "                   0 pkts              - bytes  default non-ip allow\n");
	test_contains(t, "default fragment deny\n");
	test_contains(t, "default malformed deny\n");
	j = ok(f, "rule list", 1, 0);
	test_contains(j, "{\"stage\":\"fw1\",\"n_rules\":3,\"rules\":[{\"pos\":1,\"rule\":\"allow established\","
		    "\"packets\":1,\"bytes\":64},{\"pos\":2,\"rule\":\"allow tcp to any port 80\","
		    "\"packets\":3,\"bytes\":192},{\"pos\":3,\"rule\":\"deny udp\",\"packets\":1,"
		    "\"bytes\":64}],\"next\":null,\"defaults\":[{\"rule\":\"default deny\",\"packets\":0,"
		    "\"bytes\":0},{\"rule\":\"default non-ip allow\",\"packets\":0,\"bytes\":null}");
	free(t);
	free(j);
}

static void
test_rule_list_is_bounded(void **state)
{
	struct fixture *f = *state;
	struct mpdp_errbuf eb = { "" };
	char *t = ok(f, "rule list 1", 0, 0), *j = ok(f, "rule list 1 from 2", 1, 0);

	test_contains(t, "allow established");
	test_lacks(t, "port 80");
	test_contains(t, "... 2 more: rule list 1 from 2\n");
	test_contains(j, "\"rules\":[{\"pos\":2,\"rule\":\"allow tcp to any port 80\"");
	test_contains(j, "\"next\":3");
	test_lacks(j, "deny udp");
	free(t);
	free(j);
	assert_int_equal(run_cmd(f, "rule list 0", 0, 0, NULL, &eb), -EINVAL);
	test_contains(eb.msg, "rule list: count '0' is not a number from 1 to 10000");
	assert_int_equal(run_cmd(f, "rule list 10001", 0, 0, NULL, &eb), -EINVAL);
	assert_int_equal(run_cmd(f, "rule list all", 0, 0, NULL, &eb), -EINVAL);
	test_contains(eb.msg, "unexpected 'all'");
}

static void
test_rule_add_at_a_position_keeps_counters_and_classifies_by_the_new_set(void **state)
{
	struct fixture *f = *state;
	char *t, *j;

	traffic(f);
	t = ok(f, "rule add 2 deny tcp from 10.0.0.0/8 to any port 80", 0, 1);
	assert_string_equal(t, "rule 2 added: deny tcp from 10.0.0.0/8 to any port 80 (4 rules)\n");
	free(t);
	j = ok(f, "rule list", 1, 0);
	/* The new rule starts at 0; those after it moved down with their counters. */
	test_contains(j, "[{\"pos\":1,\"rule\":\"allow established\",\"packets\":1,\"bytes\":64},"
		    "{\"pos\":2,\"rule\":\"deny tcp from 10.0.0.0/8 to any port 80\",\"packets\":0,"
		    "\"bytes\":0},{\"pos\":3,\"rule\":\"allow tcp to any port 80\",\"packets\":3,"
		    "\"bytes\":192},{\"pos\":4,\"rule\":\"deny udp\",\"packets\":1,\"bytes\":64}]");
	free(j);
	/* A new connection to port 80 is now denied by rule 2; the tracked one still passes. */
	assert_int_equal(pass(f, IP(10, 0, 0, 9), IP(198, 51, 100, 10), 41000, 80, SYN), 0);
	assert_int_equal(pass(f, IP(198, 51, 100, 10), IP(10, 0, 0, 1), 80, 40001, SYNACK), 1);
	assert_int_equal(pass(f, IP(192, 168, 0, 1), IP(198, 51, 100, 10), 41000, 80, SYN), 1);
	t = ok(f, "rule list", 0, 0);
	test_contains(t, "      1            2 pkts            128 bytes  allow established\n");
	test_contains(t, "      2            1 pkts             64 bytes  deny tcp from 10.0.0.0/8 to any port 80\n");
	test_contains(t, "      3            4 pkts            256 bytes  allow tcp to any port 80\n");
	free(t);
	/* Without a position: after the last rule, before the defaults; one argument works too. */
	j = ok(f, "rule add allow icmp", 1, 1);
	assert_string_equal(j, "{\"added\":5,\"rule\":\"allow icmp\",\"n_rules\":5}\n");
	free(j);
	t = ok(f, "rule list", 0, 0);
	test_contains(t, "      5            0 pkts              0 bytes  allow icmp\n");
	test_contains(t, "      4            1 pkts             64 bytes  deny udp\n");
	free(t);
}

static void
test_rule_add_as_one_argument(void **state)
{
	struct fixture *f = *state;
	struct cmd_run *r = calloc(1, sizeof(*r));
	pthread_t th;

	assert_non_null(r);
	r->f = f;
	r->argc = 4;
	r->argv[0] = "rule";
	r->argv[1] = "add";
	r->argv[2] = "1";
	r->argv[3] = "deny udp to any port 53";
	assert_int_equal(pthread_create(&th, NULL, cmd_thread, r), 0);
	while (!atomic_load(&r->done))
		mpdp_stage_poll(f->si, 0, f->wid);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(r->rc, 0);
	assert_string_equal(r->out, "rule 1 added: deny udp to any port 53 (4 rules)\n");
	free(r->out);
	free(r);
}

static void
test_bad_rule_add_changes_nothing(void **state)
{
	struct fixture *f = *state;
	struct mpdp_errbuf eb = { "" };
	char *before, *after;

	traffic(f);
	before = ok(f, "rule list", 1, 0);
	assert_int_equal(run_cmd(f, "rule add 2 allow tcp to any port x", 0, 1, NULL, &eb), -EINVAL);
	test_contains(eb.msg, "rule add: 1:23: expected");
	test_contains(eb.msg, "'x'");
	assert_int_equal(run_cmd(f, "rule add 2 allow tcp to any port", 0, 1, NULL, &eb), -EINVAL);
	test_contains(eb.msg, "rule add: 1:");
	assert_int_equal(run_cmd(f, "rule add 5 allow icmp", 0, 1, NULL, &eb), -ERANGE);
	assert_string_equal(eb.msg, "rule add: position 5 is past the end: the set has 3 rules, "
				    "so a new rule goes at 1 to 4");
	assert_int_equal(run_cmd(f, "rule add 0 allow icmp", 0, 1, NULL, &eb), -EINVAL);
	assert_int_equal(run_cmd(f, "rule add default allow", 0, 1, NULL, &eb), -EINVAL);
	test_contains(eb.msg, "sets a default, which is not a rule");
	assert_int_equal(run_cmd(f, "rule add 2", 0, 1, NULL, &eb), -EINVAL);
	test_contains(eb.msg, "expected a rule after the position");
	assert_int_equal(run_cmd(f, "rule add # nothing", 0, 1, NULL, &eb), -EINVAL);
	test_contains(eb.msg, "rule add: no rule in");
	assert_int_equal(run_cmd(f, "rule add to mon tcp", 0, 1, NULL, &eb), -EINVAL);
	test_contains(eb.msg, "mon");
	after = ok(f, "rule list", 1, 0);
	assert_string_equal(before, after);
	free(before);
	free(after);
	/* Nothing moved on the data path either: a new connection to port 80 still passes. */
	assert_int_equal(pass(f, IP(10, 0, 0, 2), IP(198, 51, 100, 10), 42000, 80, SYN), 1);
}

static void
test_rule_del_keeps_counters_and_refuses_positions_out_of_range(void **state)
{
	struct fixture *f = *state;
	struct mpdp_errbuf eb = { "" };
	char *t, *before, *after;

	traffic(f);
	t = ok(f, "rule del 2", 0, 1);
	assert_string_equal(t, "rule 2 deleted: allow tcp to any port 80 (2 rules)\n");
	free(t);
	t = ok(f, "rule list", 0, 0);
	test_contains(t, "rules of fw1: 2\n");
	test_contains(t, "      1            1 pkts             64 bytes  allow established\n");
	test_contains(t, "      2            1 pkts             64 bytes  deny udp\n");
	test_lacks(t, "port 80");
	free(t);
	/* The deleted rule is gone from the data path: a new connection to port 80 is denied by default. */
	assert_int_equal(pass(f, IP(10, 0, 0, 3), IP(198, 51, 100, 10), 43000, 80, SYN), 0);
	t = ok(f, "rule list", 0, 0);
	test_contains(t, "                   1 pkts             64 bytes  default deny\n");
	free(t);
	before = ok(f, "rule list", 1, 0);
	assert_int_equal(run_cmd(f, "rule del 3", 0, 1, NULL, &eb), -ERANGE);
	assert_string_equal(eb.msg, "rule del: there is no rule 3: the set has rules 1 to 2");
	assert_int_equal(run_cmd(f, "rule del 0", 0, 1, NULL, &eb), -EINVAL);
	assert_int_equal(run_cmd(f, "rule del", 0, 1, NULL, &eb), -EINVAL);
	assert_int_equal(run_cmd(f, "rule del x", 0, 1, NULL, &eb), -EINVAL);
	test_contains(eb.msg, "rule del: position 'x' is not a number");
	after = ok(f, "rule list", 1, 0);
	assert_string_equal(before, after);
	free(before);
	free(after);
	t = ok(f, "rule del 1", 1, 1);
	assert_string_equal(t, "{\"deleted\":1,\"rule\":\"allow established\",\"n_rules\":1}\n");
	free(t);
	t = ok(f, "rule del 1", 0, 1);
	free(t);
	assert_int_equal(run_cmd(f, "rule del 1", 0, 1, NULL, &eb), -ERANGE);
	assert_string_equal(eb.msg, "rule del: there is no rule 1: the set has no rules");
}

static void
test_rule_load_keeps_counters_of_unchanged_rules(void **state)
{
	struct fixture *f = *state;
	struct mpdp_errbuf eb = { "" };
	char line[128], *t, *before, *after;

	traffic(f);
	write_file(f->rules2, "allow icmp\nallow tcp to any port 80\ndefault allow\n");
	snprintf(line, sizeof(line), "rule load %s", f->rules2);
	t = ok(f, line, 0, 1);
	test_contains(t, "2 rules loaded from ");
	test_contains(t, "; 1 unchanged rules keep their counters\n");
	free(t);
	t = ok(f, "rule list", 0, 0);
	test_contains(t, "      1            0 pkts              0 bytes  allow icmp\n");
	test_contains(t, "      2            3 pkts            192 bytes  allow tcp to any port 80\n");
	test_contains(t, "                   0 pkts              0 bytes  default allow\n");
	test_lacks(t, "deny udp");
	free(t);
	assert_int_equal(pass(f, IP(10, 0, 0, 1), IP(198, 51, 100, 10), 5000, 53, -1), 1);
	/* A bad file: FILE:LINE:COL, and the running set stays. */
	write_file(f->rules2, "allow icmp\nallow tcp to any port 80,x\n");
	before = ok(f, "rule list", 1, 0);
	assert_int_equal(run_cmd(f, line, 0, 1, NULL, &eb), -EINVAL);
	snprintf(line, sizeof(line), "%s:2:26: ", f->rules2);
	test_contains(eb.msg, line);
	assert_int_equal(run_cmd(f, "rule load /nonexistent/fw.rules", 0, 1, NULL, &eb), -ENOENT);
	test_contains(eb.msg, "/nonexistent/fw.rules");
	assert_int_equal(run_cmd(f, "rule load", 0, 1, NULL, &eb), -EINVAL);
	after = ok(f, "rule list", 1, 0);
	assert_string_equal(before, after);
	free(before);
	free(after);
}

static void
test_edit_times_out_when_the_worker_does_not_take_it(void **state)
{
	struct fixture *f = *state;
	struct mpdp_errbuf eb = { "" };
	char *before, *after;

	before = ok(f, "rule list", 1, 0);
	/* Nobody polls: the worker never looks. */
	assert_int_equal(run_cmd(f, "rule add 1 deny tcp", 0, 0, NULL, &eb), -ETIMEDOUT);
	test_contains(eb.msg, "rule add: the worker did not take the new rules within 1 s; is it stuck?");
	after = ok(f, "rule list", 1, 0);
	assert_string_equal(before, after);
	/* The set was taken back: a worker that wakes up later still runs the old one. */
	assert_int_equal(pass(f, IP(10, 0, 0, 4), IP(198, 51, 100, 10), 44000, 80, SYN), 1);
	free(after);
	after = ok(f, "rule list", 1, 0);
	test_contains(after, "\"n_rules\":3,");
	test_lacks(after, "deny tcp\"");
	free(before);
	free(after);
}

static void
test_conn_list_shows_the_connections_traffic_made(void **state)
{
	struct fixture *f = *state;
	struct mpdp_errbuf eb = { "" };
	char *t, *j;

	t = ok(f, "conn list", 0, 0);
	test_contains(t, "connections: active 0/");
	free(t);
	assert_int_equal(pass(f, IP(10, 0, 0, 1), IP(198, 51, 100, 10), 40000, 80, SYN), 1);
	assert_int_equal(pass(f, IP(10, 0, 0, 2), IP(198, 51, 100, 11), 40001, 80, SYN), 1);
	assert_int_equal(pass(f, IP(198, 51, 100, 10), IP(10, 0, 0, 1), 80, 40000, SYNACK), 1);
	t = ok(f, "conn list", 0, 0);
	test_contains(t, "connections: active 2/");
	test_contains(t, "tcp   SYN_RECV    10.0.0.1:40000 -> 198.51.100.10:80");
	test_contains(t, "tcp   SYN_SENT    10.0.0.2:40001 -> 198.51.100.11:80");
	free(t);
	t = ok(f, "conn list 1", 0, 0);
	test_contains(t, "(1 of 2 shown)");
	free(t);
	j = ok(f, "conn list", 1, 0);
	test_contains(j, "\"connections\":[{\"family\":4,\"proto\":\"tcp\",\"state\":\"SYN_");
	test_contains(j, "\"shown\":2}");
	free(j);
	assert_int_equal(run_cmd(f, "conn list 0", 0, 0, NULL, &eb), -EINVAL);
	assert_int_equal(run_cmd(f, "conn list 1001", 0, 0, NULL, &eb), -EINVAL);
	test_contains(eb.msg, "conn list: count '1001' is not a number from 1 to 1000");
	assert_int_equal(run_cmd(f, "conn list 1 2", 0, 0, NULL, &eb), -EINVAL);
}

static void
test_every_json_output_is_one_value(void **state)
{
	struct fixture *f = *state;
	static const char *const lines[] = { "rule list", "rule list 2 from 2", "conn list",
					     "rule add 1 to drop udp to any port 9", "rule del 1" };
	char line[128];

	write_file(f->rules2, "allow icmp\n");
	snprintf(line, sizeof(line), "rule load %s", f->rules2);
	traffic(f);
	free(ok(f, line, 1, 1));
	for (unsigned i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
		free(ok(f, lines[i], 1, 1));   /* ok() checks the JSON */
	static const char *const good[] = { "{\"a\":[1,-2.5e3,\"x\\n\\u00e9\"],\"b\":null}\n",
					    "[]", " true " };
	static const char *const bad[] = { "{\"a\":1}{", "[1,]", "{\"a\"}", "01", "\"\\x\"", "" };

	for (unsigned i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_int_equal(json_check(good[i], strlen(good[i])), 1);
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(json_check(bad[i], strlen(bad[i])), 0);
}

static void
test_the_report_lists_the_edited_rules(void **state)
{
	struct fixture *f = *state;
	struct mpdp_stage_env env = { f->ti.shm, &fw, &f->cfg, 0, 1, 1 };
	struct mpdp_errbuf eb = { "" };
	size_t len = 0;
	char *r = NULL, *t;
	FILE *out;

	traffic(f);
	t = ok(f, "rule add 1 allow udp to any port 53", 0, 1);
	free(t);
	assert_int_equal(pass(f, IP(10, 0, 0, 1), IP(198, 51, 100, 10), 5000, 53, -1), 1);
	out = open_memstream(&r, &len);
	assert_non_null(out);
	assert_int_equal(fw.report(&env, out, &eb), 0);
	fclose(out);
	assert_true(json_check(r, len));
	test_contains(r, "\"rule_edits\":1}");
	test_contains(r, "\"rules\":[{\"pos\":1,\"rule\":\"allow udp to any port 53\",\"packets\":1,"
		    "\"bytes\":64},{\"pos\":2,\"rule\":\"allow established\",\"packets\":1,"
		    "\"bytes\":64},{\"pos\":3,\"rule\":\"allow tcp to any port 80\",\"packets\":3,");
	test_contains(r, "{\"rule\":\"default deny\",\"packets\":0,\"bytes\":0}]");
	free(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_rule_list_shows_rules_with_counters_and_defaults,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_rule_list_is_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_rule_add_at_a_position_keeps_counters_and_classifies_by_the_new_set, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_rule_add_as_one_argument, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_rule_add_changes_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_rule_del_keeps_counters_and_refuses_positions_out_of_range, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rule_load_keeps_counters_of_unchanged_rules, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_edit_times_out_when_the_worker_does_not_take_it,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_conn_list_shows_the_connections_traffic_made, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_every_json_output_is_one_value, setup, teardown),
		cmocka_unit_test_setup_teardown(test_the_report_lists_the_edited_rules, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The mpdp-nat stage: NAT44 as a carrier-grade NAT does it (RFC 4787,
 * 5382, 5508, 6888): endpoint-independent mapping and filtering, paired
 * pooling, port preservation, static --dnat mappings, hairpinning, ICMP
 * errors.
 * Packets from an "inside" input are outbound, from an "outside" input
 * inbound. Sessions, port bitmaps and counters live in the zone "<id>.nat",
 * so a restarted NAT of the same --stage id keeps every translation and
 * `mpdp-nat --report` reads them from another process (doc/stage-nat.md);
 * so do the commands `session list` and `stats`, with the report's code.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "mpdp_json.h"
#include "mpdp_log.h"
#include "mpdp_mbuf.h"
#include "mpdp_parse.h"
#include "mpdp_stage.h"
#include "mpdp_time.h"
#include "nat_config.h"
#include "nat_path.h"
#include "nat_stage.h"
#include "nat_table.h"

enum { NAT_ROLE_INSIDE, NAT_ROLE_OUTSIDE, NAT_N_ROLES };

/* Packets ahead whose data is prefetched: the parse reads their headers next. */
#define NAT_PREFETCH 4
/* Outside addresses listed one by one in the text report; JSON lists all. */
#define NAT_REPORT_ADDRS_TEXT 16
/* Sessions `session list` prints: by default, and at most (output well under 1 MiB). */
#define NAT_LIST_DEFAULT 100u
#define NAT_LIST_MAX 2000u

struct nat_ctx {
	struct nat_table t;
	uint8_t outbound[MPDP_STAGE_IO_MAX]; /* per input: 1 for an inside input */
};

/* The configuration from the stage options (init and report). */
static int
config_from_env(const struct mpdp_stage_env *env, struct nat_config *c, uint32_t *sessions,
		struct mpdp_errbuf *eb)
{
	static const char *const repeated[] = { "snat", "dnat", "timeout" };
	const char *v;
	int rc;

	nat_config_init(c);
	for (unsigned o = 0; o < 3; o++) {
		unsigned iter = 0;

		while ((v = mpdp_stage_option_next(env, repeated[o], &iter)) != NULL) {
			rc = o == 0 ? nat_config_add_snat(c, v, eb) :
			     o == 1 ? nat_config_add_dnat(c, v, eb) : nat_config_set_timeout(c, v, eb);
			if (rc != 0)
				return rc;
		}
	}
	v = mpdp_stage_option(env, "max-sessions");
	if (v != NULL && (rc = nat_config_set_max_sessions(c, v, eb)) != 0)
		return rc;
	*sessions = NAT_REPORT_SESSIONS_DEFAULT;
	v = mpdp_stage_option(env, "sessions");
	if (v != NULL && (rc = nat_config_parse_sessions(v, sessions, eb)) != 0)
		return rc;
	return 0;
}

static int
nat_init(void *vctx, const struct mpdp_stage_env *env, struct mpdp_errbuf *eb)
{
	struct nat_ctx *ctx = vctx;
	struct nat_config c;
	char zone[MPDP_NAME_MAX + 8];
	uint32_t sessions;
	uint64_t len, size;
	void *addr;
	int rc;

	rc = config_from_env(env, &c, &sessions, eb);
	if (rc == 0)
		rc = nat_config_finish(&c, eb);
	if (rc != 0)
		return rc;
	snprintf(zone, sizeof(zone), "%s." NAT_ZONE_SUFFIX, env->cfg->id);
	size = nat_table_zone_size(&c);
	if (size == 0)
		return mpdp_err_set(eb, -EINVAL, "--max-sessions %u: too many for one flow table",
				    c.max_sessions);
	/* Refuse a zone of another configuration before making anything. */
	rc = mpdp_stage_zone_find(env, NAT_ZONE_SUFFIX, &addr, &len, eb);
	if (rc == 0)
		rc = nat_table_check(addr, len, &c, zone, eb);
	else if (rc == -ENOENT)
		rc = 0;
	if (rc < 0)
		return rc;
	rc = mpdp_stage_zone(env, NAT_ZONE_SUFFIX, size, &addr, eb);
	if (rc < 0)
		return rc;
	rc = nat_table_open(&ctx->t, addr, size, &c, zone, eb);
	if (rc < 0)
		return rc;
	for (unsigned i = 0; i < env->cfg->n_in && i < MPDP_STAGE_IO_MAX; i++)
		ctx->outbound[i] = env->cfg->in_role[i] == NAT_ROLE_INSIDE;
	MPDP_LOG(INFO, "stage %s: zone %s, %s, %u --snat, %u --dnat, %" PRIu64 " sessions, "
		 "%u outside addresses", env->cfg->id, zone, rc == 1 ? "taken over" : "made",
		 c.n_snat, c.n_dnat, nat_table_counter(&ctx->t, NAT_C_SESSIONS_ACTIVE), c.n_addrs);
	return 0;
}

static void
nat_process(void *vctx, struct mpdp_mbuf **pkts, uint16_t n, uint16_t *next)
{
	struct nat_ctx *ctx = vctx;
	int outbound = ctx->outbound[mpdp_stage_input(ctx) % MPDP_STAGE_IO_MAX];
	/* One clock read per burst (vDSO, no syscall): sessions need no finer time. */
	uint64_t now = mpdp_time_ns();

	for (uint16_t i = 0; i < n && i < NAT_PREFETCH; i++)
		__builtin_prefetch(mpdp_mbuf_data(pkts[i]), 1);
	for (uint16_t i = 0; i < n; i++) {
		struct mpdp_mbuf *m = pkts[i];

		if (i + NAT_PREFETCH < n)
			__builtin_prefetch(mpdp_mbuf_data(pkts[i + NAT_PREFETCH]), 1);
		next[i] = nat_path_packet(&ctx->t, mpdp_mbuf_data(m), m->data_len, outbound, now);
	}
}

/* Age a slice of the table: all of it in about five seconds of ticks. */
static void
nat_tick(void *vctx, uint64_t now)
{
	struct nat_ctx *ctx = vctx;

	nat_table_expire(&ctx->t, now, 0);
}

/* ---- report: reads the zone only, from any process ---- */

static void
ip_str(uint32_t net, char *buf, size_t size)
{
	if (inet_ntop(AF_INET, &net, buf, (socklen_t)size) == NULL)
		snprintf(buf, size, "?");
}

static const char *
proto_name(uint8_t proto)
{
	return proto == IPPROTO_TCP ? "tcp" : proto == IPPROTO_UDP ? "udp" : "icmp";
}

static const char *
state_name(const struct nat_sess *s)
{
	switch (s->cls) {
	case NAT_CLASS_STATIC: return "static";
	case NAT_TO_TCP_EST: return "established";
	case NAT_TO_TCP_TRANS: return (s->tcp & NAT_TCP_CLOSING) ? "closing" : "transitory";
	default: return "active";
	}
}

/* Idle seconds (-1: no packet yet) and seconds left (-1: never expires). */
static void
sess_times(const struct nat_table *t, const struct nat_sess *s, uint64_t now, double *idle,
	   double *left)
{
	uint64_t last = s->last_ns, since = now > last ? now - last : 0, to;

	*idle = last != 0 ? (double)since / 1e9 : -1;
	if (s->cls == NAT_CLASS_STATIC || s->cls >= NAT_TO_N_) {
		*left = -1;
		return;
	}
	to = t->timeout_ns[s->cls];
	*left = since < to ? (double)(to - since) / 1e9 : 0;
}

/* A time for the text report: "-" when there is none. */
static const char *
secs_str(double v, char *buf, size_t size)
{
	if (v < 0)
		return "-";
	snprintf(buf, size, "%.1f", v);
	return buf;
}

/* A time for the JSON report: null when there is none. */
static void
secs_json(FILE *f, const char *key, double v)
{
	if (v < 0)
		fprintf(f, ",\"%s\":null", key);
	else
		fprintf(f, ",\"%s\":%.1f", key, v);
}

/* The header, configuration, counters and outside addresses, as text (report and `stats`). */
static void
stats_text(FILE *f, const char *id, const struct nat_table *t, int running)
{
	const struct nat_config *c = t->cfg;
	char r[NAT_RULE_STR_MAX], a[INET_ADDRSTRLEN];
	uint64_t starts = atomic_load_explicit(&t->z->starts, memory_order_relaxed);

	fprintf(f, "nat %s: %s, %" PRIu64 " start%s\n", id, running ? "running" : "stopped", starts,
		starts == 1 ? "" : "s");
	for (uint32_t i = 0; i < c->n_snat; i++) {
		nat_config_snat_str(&c->snat[i], r, sizeof(r));
		fprintf(f, "  snat %s\n", r);
	}
	for (uint32_t i = 0; i < c->n_dnat; i++) {
		nat_config_dnat_str(&c->dnat[i], r, sizeof(r));
		fprintf(f, "  dnat %s\n", r);
	}
	fprintf(f, "  max-sessions %u, timeouts", c->max_sessions);
	for (unsigned k = 0; k < NAT_TO_N_; k++)
		fprintf(f, " %s=%u", nat_config_timeout_name((enum nat_timeout)k), c->timeout_s[k]);
	fprintf(f, "\ncounters\n");
	for (unsigned k = 0; k < NAT_C_N_; k++)
		fprintf(f, "  %-22s %14" PRIu64 "\n", nat_counter_name((enum nat_counter)k),
			nat_table_counter(t, (enum nat_counter)k));
	fprintf(f, "outside addresses (ports in use: tcp udp icmp)\n");
	for (uint32_t i = 0; i < c->n_addrs && i < NAT_REPORT_ADDRS_TEXT; i++) {
		ip_str(htonl(c->addrs[i]), a, sizeof(a));
		fprintf(f, "  %-15s %6u %6u %6u\n", a, nat_table_ports_used(t, i, NAT_BM_TCP),
			nat_table_ports_used(t, i, NAT_BM_UDP), nat_table_ports_used(t, i, NAT_BM_ICMP));
	}
	if (c->n_addrs > NAT_REPORT_ADDRS_TEXT)
		fprintf(f, "  ... %u more (--json lists them all)\n", c->n_addrs - NAT_REPORT_ADDRS_TEXT);
}

/* The first @p max sessions, a table of text (report and `session list`). @return how many. */
static uint32_t
sessions_text(FILE *f, const struct nat_table *t, uint32_t max)
{
	char a[INET_ADDRSTRLEN], b[INET_ADDRSTRLEN];
	uint64_t now = mpdp_time_ns();
	uint32_t id = MPDP_FLOWTAB_NONE, listed = 0;

	fprintf(f, "  %-5s %-21s %-21s %-11s %9s %9s %10s %10s\n", "proto", "inside", "outside",
		"state", "idle_s", "left_s", "pkts_out", "pkts_in");
	while (listed < max && (id = mpdp_flowtab_next(t->ft, id)) != MPDP_FLOWTAB_NONE) {
		struct nat_sess s = *nat_table_sess(t, id);
		char in[32], out[32], ib[24], lb[24];
		double idle, left;

		ip_str(s.in_addr, a, sizeof(a));
		ip_str(s.out_addr, b, sizeof(b));
		snprintf(in, sizeof(in), "%s:%u", a, ntohs(s.in_port));
		snprintf(out, sizeof(out), "%s:%u", b, ntohs(s.out_port));
		sess_times(t, &s, now, &idle, &left);
		fprintf(f, "  %-5s %-21s %-21s %-11s %9s %9s %10" PRIu64 " %10" PRIu64 "\n",
			proto_name(s.proto), in, out, state_name(&s), secs_str(idle, ib, sizeof(ib)),
			secs_str(left, lb, sizeof(lb)), s.pkts_out, s.pkts_in);
		listed++;
	}
	return listed;
}

static void
report_text(FILE *f, const char *id, const struct nat_table *t, int running, uint32_t max_list)
{
	stats_text(f, id, t, running);
	fprintf(f, "sessions (first %u)\n", max_list);
	sessions_text(f, t, max_list);
}

/* The members of the report's object but "sessions", without braces (report and `stats`). */
static void
stats_json(FILE *f, const char *id, const struct nat_table *t, int running)
{
	const struct nat_config *c = t->cfg;
	char r[NAT_RULE_STR_MAX], a[INET_ADDRSTRLEN];

	fprintf(f, "\"stage\":");
	mpdp_json_str(f, id);
	fprintf(f, ",\"running\":%s,\"starts\":%" PRIu64 ",\"config\":{\"snat\":[",
		running ? "true" : "false", atomic_load_explicit(&t->z->starts, memory_order_relaxed));
	for (uint32_t i = 0; i < c->n_snat; i++) {
		nat_config_snat_str(&c->snat[i], r, sizeof(r));
		fprintf(f, "%s\"%s\"", i ? "," : "", r);
	}
	fprintf(f, "],\"dnat\":[");
	for (uint32_t i = 0; i < c->n_dnat; i++) {
		nat_config_dnat_str(&c->dnat[i], r, sizeof(r));
		fprintf(f, "%s\"%s\"", i ? "," : "", r);
	}
	fprintf(f, "],\"max_sessions\":%u,\"timeouts\":{", c->max_sessions);
	for (unsigned k = 0; k < NAT_TO_N_; k++)
		fprintf(f, "%s\"%s\":%u", k ? "," : "", nat_config_timeout_name((enum nat_timeout)k),
			c->timeout_s[k]);
	fprintf(f, "}},\"counters\":{");
	for (unsigned k = 0; k < NAT_C_N_; k++)
		fprintf(f, "%s\"%s\":%" PRIu64, k ? "," : "", nat_counter_name((enum nat_counter)k),
			nat_table_counter(t, (enum nat_counter)k));
	fprintf(f, "},\"addresses\":[");
	for (uint32_t i = 0; i < c->n_addrs; i++) {
		ip_str(htonl(c->addrs[i]), a, sizeof(a));
		fprintf(f, "%s{\"addr\":\"%s\",\"tcp_ports\":%u,\"udp_ports\":%u,\"icmp_ids\":%u}",
			i ? "," : "", a, nat_table_ports_used(t, i, NAT_BM_TCP),
			nat_table_ports_used(t, i, NAT_BM_UDP), nat_table_ports_used(t, i, NAT_BM_ICMP));
	}
	fprintf(f, "]");
}

/* The first @p max sessions, a JSON array (report and `session list`). @return how many. */
static uint32_t
sessions_json(FILE *f, const struct nat_table *t, uint32_t max)
{
	char a[INET_ADDRSTRLEN], b[INET_ADDRSTRLEN];
	uint64_t now = mpdp_time_ns();
	uint32_t id = MPDP_FLOWTAB_NONE, listed = 0;

	fprintf(f, "[");
	while (listed < max && (id = mpdp_flowtab_next(t->ft, id)) != MPDP_FLOWTAB_NONE) {
		struct nat_sess s = *nat_table_sess(t, id);
		double idle, left;

		ip_str(s.in_addr, a, sizeof(a));
		ip_str(s.out_addr, b, sizeof(b));
		sess_times(t, &s, now, &idle, &left);
		fprintf(f, "%s{\"proto\":\"%s\",\"inside\":\"%s\",\"inside_port\":%u,"
			"\"outside\":\"%s\",\"outside_port\":%u,\"state\":\"%s\"",
			listed ? "," : "", proto_name(s.proto), a, ntohs(s.in_port), b,
			ntohs(s.out_port), state_name(&s));
		secs_json(f, "idle_s", idle);
		secs_json(f, "left_s", left);
		fprintf(f, ",\"pkts_out\":%" PRIu64 ",\"pkts_in\":%" PRIu64 "}", s.pkts_out,
			s.pkts_in);
		listed++;
	}
	fprintf(f, "]");
	return listed;
}

/* One object on one line, without its newline: the framework puts it under "report". */
static void
report_json(FILE *f, const char *id, const struct nat_table *t, int running, uint32_t max_list)
{
	fprintf(f, "{");
	stats_json(f, id, t, running);
	fprintf(f, ",\"sessions\":");
	sessions_json(f, t, max_list);
	fprintf(f, "}");
}

/* A reading handle on the stage's zone, and whether its stage runs (report and commands). */
static int
view_open(const struct mpdp_stage_env *env, struct nat_table *t, int *running,
	  struct mpdp_errbuf *eb)
{
	struct mpdp_abi_stage *slot;
	char zone[MPDP_NAME_MAX + 8];
	uint64_t len;
	void *addr;
	int rc;

	snprintf(zone, sizeof(zone), "%s." NAT_ZONE_SUFFIX, env->cfg->id);
	rc = mpdp_stage_zone_find(env, NAT_ZONE_SUFFIX, &addr, &len, eb);
	if (rc == 0)
		rc = nat_table_view(t, addr, len, zone, eb);
	if (rc != 0)
		return rc;
	*running = 0;
	if (mpdp_stage_find(env->shm, env->cfg->id, &slot) == 0) {
		uint32_t st = mpdp_stage_slot_state(slot);

		*running = st == MPDP_STAGE_RUNNING || st == MPDP_STAGE_STOPPING;
	}
	return 0;
}

static int
nat_report(const struct mpdp_stage_env *env, FILE *f, struct mpdp_errbuf *eb)
{
	struct nat_config c;
	struct nat_table t;
	uint32_t sessions;
	int running, rc;

	/* The rules of the zone are what matter; the options only for --sessions. */
	rc = config_from_env(env, &c, &sessions, eb);
	if (rc == 0)
		rc = view_open(env, &t, &running, eb);
	if (rc != 0)
		return rc;
	if (env->json)
		report_json(f, env->cfg->id, &t, running, sessions);
	else
		report_text(f, env->cfg->id, &t, running, sessions);
	return 0;
}

/* ---- commands: the report's parts, read from the zone like the report ---- */

/* session list [COUNT] */
static int
cmd_session_list(const struct mpdp_stage_env *env, void *const *ctxs, int argc, char **argv,
		 int json, FILE *out, struct mpdp_errbuf *eb)
{
	uint64_t count = NAT_LIST_DEFAULT, active;
	struct nat_table t;
	uint32_t shown;
	int running, rc;

	(void)ctxs;
	if (argc > 1)
		return mpdp_err_set(eb, -EINVAL, "session list: expected at most a count");
	if (argc == 1 && mpdp_parse_u64(argv[0], 1, NAT_LIST_MAX, &count) != 0)
		return mpdp_err_set(eb, -EINVAL, "session list: count '%s' is not a number from 1 to %u",
				    argv[0], NAT_LIST_MAX);
	rc = view_open(env, &t, &running, eb);
	if (rc != 0)
		return rc;
	active = nat_table_counter(&t, NAT_C_SESSIONS_ACTIVE);
	if (json) {
		fprintf(out, "{\"stage\":");
		mpdp_json_str(out, env->cfg->id);
		fprintf(out, ",\"sessions_active\":%" PRIu64 ",\"sessions\":", active);
		shown = sessions_json(out, &t, (uint32_t)count);
		fprintf(out, ",\"shown\":%u}\n", shown);
		return 0;
	}
	fprintf(out, "sessions of %s: %" PRIu64 " active (static mappings included)\n", env->cfg->id,
		active);
	shown = sessions_text(out, &t, (uint32_t)count);
	if (shown < active)
		fprintf(out, "  (%u of %" PRIu64 " shown)\n", shown, active);
	return 0;
}

/* stats */
static int
cmd_stats(const struct mpdp_stage_env *env, void *const *ctxs, int argc, char **argv, int json,
	  FILE *out, struct mpdp_errbuf *eb)
{
	struct nat_table t;
	int running, rc;

	(void)ctxs;
	(void)argv;
	if (argc != 0)
		return mpdp_err_set(eb, -EINVAL, "stats: takes no arguments");
	rc = view_open(env, &t, &running, eb);
	if (rc != 0)
		return rc;
	if (json) {
		fprintf(out, "{");
		stats_json(out, env->cfg->id, &t, running);
		fprintf(out, "}\n");
	} else {
		stats_text(out, env->cfg->id, &t, running);
	}
	return 0;
}

static const struct mpdp_stage_command nat_commands[] = {
	{ "session list", "[COUNT]",
	  "sessions: protocol, inside and outside endpoint, state, idle and left seconds, "
	  "packets each way (the first 100; at most 2000)", cmd_session_list },
	{ "stats", NULL, "the configuration, every counter and the ports in use per outside address",
	  cmd_stats },
	{ NULL, NULL, NULL, NULL },
};

static const char *const nat_next_names[NAT_N_NEXT] = { "drop", "inside", "outside" };
static const char *const nat_roles[NAT_N_ROLES] = { "inside", "outside" };

static const struct mpdp_stage_option nat_options[] = {
	{ "snat", "RULE", "PREFIX=ADDR[-ADDR][:PORT-PORT]: inside PREFIX to that pool (repeatable)" },
	{ "dnat", "RULE", "OUTADDR:PORT=INADDR:PORT/tcp|udp: a static mapping (repeatable)" },
	{ "max-sessions", "N", "dynamic sessions, 1 to 16777216 (default 65536)" },
	{ "timeout", "NAME=S", "tcp-established 7440, tcp-transitory 240, udp 300, icmp 60 (s)" },
	{ "sessions", "N", "sessions the report lists (default 10)" },
	{ NULL, NULL, NULL },
};

const struct mpdp_stage nat_stage = {
	.name = "nat",
	.summary = "NAT44 (endpoint-independent, paired pooling, static DNAT, hairpinning); "
		   "scale out with several NAT stages on split traffic",
	.ctx_size = sizeof(struct nat_ctx),
	.n_next = NAT_N_NEXT,
	.next_names = nat_next_names,
	/* One writer per zone: more workers would share the sessions. */
	.max_workers = 1,
	.options = nat_options,
	.init = nat_init,
	.process = nat_process,
	.tick = nat_tick,
	.report = nat_report,
	.n_in_roles = NAT_N_ROLES,
	.in_roles = nat_roles,
	.commands = nat_commands,
};


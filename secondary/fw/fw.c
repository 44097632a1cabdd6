/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mpdp-fw: a stateful firewall stage. Each packet is parsed, looked up in
 * the connection table (its state: new, or established and related), and
 * classified against the rule set, first match wins; the verdict sends it
 * to "out", to another output named in the rules (`to NAME`), or drops it.
 * An allowed packet with no connection starts one, so `allow established`
 * lets its replies through.
 *
 * State that outlives the process: the connections (zone "<id>.ct") and the
 * counters, per rule and per verdict, with the rule set they belong to
 * (zone "<id>.fw"). A restarted firewall keeps both. SIGHUP reloads the
 * rules file; a file with an error is refused as a whole and the running
 * rule set stays (see doc/stage-fw.md).
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fw_classify.h"
#include "fw_conntrack.h"
#include "fw_rules.h"
#include "mpdp_json.h"
#include "mpdp_log.h"
#include "mpdp_mbuf.h"
#include "mpdp_parse.h"
#include "mpdp_pkt.h"
#include "mpdp_port.h"
#include "mpdp_shm.h"
#include "mpdp_stage.h"
#include "mpdp_time.h"

#define FW_ZONE_SUFFIX "fw"
#define FW_CT_ZONE_SUFFIX "ct"
#define FW_MAGIC 0x31305746u        /* "FW01" little-endian */
#define FW_VERSION 2
#define FW_TEXT_MAX (4u << 20)      /* canonical rule text kept for reports */
#define FW_CONNS_DEFAULT 65536u
#define FW_CONNS_MAX (16u << 20)
/* Connection slots aged per tick: the whole table every few seconds at most. */
#define FW_EXPIRE_BUDGET 16384u
#define FW_REPORT_RULES 50u
#define FW_REPORT_CONNS 20u

/*
 * Counters of the zone: enum, report name. Packets and bytes in are the
 * framework's (the stage's slot): the report reads them there rather than
 * the data path counting them twice.
 */
#define FW_COUNTERS(_) \
	_(ALLOWED, "allowed") \
	_(DENIED, "denied") \
	_(SENT_OTHER, "sent_to_other_outputs") \
	_(NO_MATCH, "no_rule_matched") \
	_(NON_IP, "non_ip") \
	_(FRAGMENT, "fragments") \
	_(MALFORMED, "malformed") \
	_(CT_ESTABLISHED, "established") \
	_(CT_RELATED, "related") \
	_(CT_FULL, "conntrack_full_drops") \
	_(RELOADS, "rule_reloads") \
	_(RELOAD_ERRORS, "rule_reload_errors")

#define FW_C_ENUM(e, s) FW_C_##e,
enum fw_counter { FW_COUNTERS(FW_C_ENUM) FW_C_N_ };
#define FW_C_NAME(e, s) s,
static const char *const fw_counter_names[FW_C_N_] = { FW_COUNTERS(FW_C_NAME) };

struct fw_rule_counter {
	_Atomic uint64_t packets;
	_Atomic uint64_t bytes;
};

/*
 * The zone "<id>.fw". One writer (the stage's one worker); a report reads it
 * from any process. rules[n_rules] counts the default verdict. The counters
 * per rule belong to the rule set whose canonical text is in text[]; a
 * different rule set starts them afresh.
 */
struct fw_zone {
	_Atomic uint32_t magic;
	uint32_t version;
	uint64_t zone_len;
	_Atomic uint32_t n_rules;
	uint32_t text_len;
	_Atomic uint64_t rules_gen;         /* bumped around a rule-set change (odd: changing) */
	_Atomic uint64_t c[FW_C_N_];
	struct fw_rule_counter rules[FW_RULES_MAX + 1];
	char text[FW_TEXT_MAX];
};

/* A rule set ready to run: the rules, their classifier, the text of each. */
struct fw_set {
	struct fw_ruleset rs;
	struct fw_classifier *cls;
};

struct fw_ctx {
	struct fw_zone *z;
	struct fw_ct *ct;
	struct mpdp_stage_env env;           /* a copy: init's is gone after init */
	_Atomic(struct fw_set *) set;        /* what process() uses */
	struct fw_set *retired;              /* replaced, freed at the next tick */
	uint16_t out_next;                   /* index of "out" */
	uint32_t expire_cursor;
	const char *rules_path;
};

/* SIGHUP asked for the rules file to be read again. */
static volatile sig_atomic_t fw_reload_asked;

static uint64_t
ld(_Atomic uint64_t *p)
{
	return atomic_load_explicit(p, memory_order_relaxed);
}

/* One writer per counter: a load and a store, no locked instruction. */
static void
add(_Atomic uint64_t *p, uint64_t v)
{
	atomic_store_explicit(p, atomic_load_explicit(p, memory_order_relaxed) + v,
			      memory_order_relaxed);
}

static const char *const *
output_names(const struct mpdp_stage_env *env, unsigned *n)
{
	*n = env->stage->n_next;
	return env->stage->next_names;
}

/* `in NAME`: a port of the instance, or one of this stage's input rings. */
static int
resolve_in(void *arg, const char *name, uint16_t *port, unsigned *input)
{
	const struct mpdp_stage_env *env = arg;
	struct mpdp_abi_port *abi;

	for (unsigned i = 0; i < env->cfg->n_in; i++) {
		if (strcmp(env->cfg->in[i], name) == 0) {
			*input = i;
			*port = MPDP_MBUF_PORT_NONE;
			return 0;
		}
	}
	if (mpdp_port_lookup(env->shm, name, &abi) == 0) {
		*port = (uint16_t)(abi - mpdp_shm_header(env->shm)->ports);
		*input = UINT_MAX;
		return 0;
	}
	return -ENOENT;
}

static void
names_of(const struct mpdp_stage_env *env, struct fw_names *names)
{
	memset(names, 0, sizeof(*names));
	names->outputs = output_names(env, &names->n_outputs);
	names->resolve_in = resolve_in;
	names->arg = (void *)(uintptr_t)env;
}

static void
set_free(struct fw_set *set)
{
	if (set == NULL)
		return;
	fw_classifier_free(set->cls);
	fw_ruleset_free(&set->rs);
	free(set);
}

/* Read, parse and compile the rules file: all of it, or nothing (the reason in eb). */
static int
set_load(const struct mpdp_stage_env *env, const char *path, struct fw_set **out,
	 struct mpdp_errbuf *eb)
{
	struct fw_set *set = calloc(1, sizeof(*set));
	struct fw_names names;
	int rc;

	if (set == NULL)
		return mpdp_err_set(eb, -ENOMEM, "--rules %s: no memory", path);
	names_of(env, &names);
	rc = fw_rules_load(path, &names, &set->rs, eb);
	if (rc == 0)
		rc = fw_classifier_build(&set->rs, &set->cls, eb);
	if (rc != 0) {
		set_free(set);
		return rc;
	}
	*out = set;
	return 0;
}

/* Write the set's canonical text into the zone; its counters restart unless the text is the same. */
static void
zone_take_set(struct fw_zone *z, const struct fw_set *set, const struct mpdp_stage_env *env)
{
	char *text = malloc(FW_TEXT_MAX);
	struct fw_names names;
	size_t len = 0;

	if (text == NULL)
		return;     /* the counters keep counting; only the report lacks the text */
	names_of(env, &names);
	for (unsigned i = 0; i < set->rs.n; i++) {
		char line[512];
		int n = fw_rule_format(&set->rs.rules[i], &names, line, sizeof(line));

		if (n < 0 || len + (size_t)n + 2 > FW_TEXT_MAX)
			break;
		len += (size_t)snprintf(text + len, FW_TEXT_MAX - len, "%s\n", line);
	}
	if (z->n_rules == set->rs.n && z->text_len == len && memcmp(z->text, text, len) == 0) {
		free(text);
		return;
	}
	atomic_fetch_add(&z->rules_gen, 1);
	memcpy(z->text, text, len);
	z->text_len = (uint32_t)len;
	for (unsigned i = 0; i <= FW_RULES_MAX; i++) {
		atomic_store(&z->rules[i].packets, 0);
		atomic_store(&z->rules[i].bytes, 0);
	}
	atomic_store(&z->n_rules, set->rs.n);
	atomic_fetch_add(&z->rules_gen, 1);
	free(text);
}

static const struct fw_action *
class_action(const struct fw_ruleset *rs, enum fw_counter c)
{
	switch (c) {
	case FW_C_NON_IP: return &rs->non_ip;
	case FW_C_FRAGMENT: return &rs->fragment;
	default: return &rs->malformed;
	}
}

static uint16_t
verdict(struct fw_ctx *ctx, const struct fw_action *a)
{
	struct fw_zone *z = ctx->z;

	switch (a->kind) {
	case FW_ALLOW: add(&z->c[FW_C_ALLOWED], 1); break;
	case FW_DENY: add(&z->c[FW_C_DENIED], 1); break;
	default: add(&z->c[FW_C_SENT_OTHER], 1); break;
	}
	return a->kind == FW_DENY ? MPDP_STAGE_NEXT_DROP : a->next;
}

/* One packet: its output. */
static uint16_t
fw_one(struct fw_ctx *ctx, const struct fw_set *set, struct mpdp_mbuf *m, unsigned input,
       uint64_t now)
{
	const uint8_t *data = mpdp_mbuf_data(m);
	struct fw_zone *z = ctx->z;
	struct mpdp_pkt_info info;
	const struct fw_action *a;
	struct fw_key key;
	uint32_t r;
	int rc = mpdp_pkt_parse(data, m->data_len, &info);
	int ct;

	if (!(info.ptype & (MPDP_PTYPE_IPV4 | MPDP_PTYPE_IPV6))) {
		enum fw_counter c = rc != 0 ? FW_C_MALFORMED : FW_C_NON_IP;

		add(&z->c[c], 1);
		return verdict(ctx, class_action(&set->rs, c));
	}
	if (rc != 0 || !mpdp_pkt_ip_whole(&info, m->data_len)) {
		add(&z->c[FW_C_MALFORMED], 1);
		return verdict(ctx, &set->rs.malformed);
	}
	if (info.flags & MPDP_PKT_F_NOT_FIRST_FRAG) {
		add(&z->c[FW_C_FRAGMENT], 1);
		return verdict(ctx, &set->rs.fragment);
	}
	ct = fw_ct_lookup(ctx->ct, data, m->data_len, &info, now);
	if (ct == FW_CT_ESTABLISHED)
		add(&z->c[FW_C_CT_ESTABLISHED], 1);
	else if (ct == FW_CT_RELATED)
		add(&z->c[FW_C_CT_RELATED], 1);
	fw_key_from_pkt(&info, m->port, input, ct == FW_CT_ESTABLISHED || ct == FW_CT_RELATED, &key);
	r = fw_classify(set->cls, &key);
	if (r == FW_NO_MATCH) {
		add(&z->c[FW_C_NO_MATCH], 1);
		r = set->rs.n;
		a = &set->rs.dflt;
	} else {
		a = &set->rs.rules[r].action;
	}
	add(&z->rules[r].packets, 1);
	add(&z->rules[r].bytes, m->data_len);
	/* An allowed packet that belongs to no connection starts one; related errors start none. */
	if (a->kind != FW_DENY && ct == FW_CT_NEW &&
	    fw_ct_create(ctx->ct, data, m->data_len, &info, now) == -ENOSPC) {
		add(&z->c[FW_C_CT_FULL], 1);
		add(&z->c[FW_C_DENIED], 1);
		return MPDP_STAGE_NEXT_DROP;
	}
	return verdict(ctx, a);
}

static void
fw_process(void *vctx, struct mpdp_mbuf **pkts, uint16_t n, uint16_t *next)
{
	struct fw_ctx *ctx = vctx;
	const struct fw_set *set = atomic_load_explicit(&ctx->set, memory_order_acquire);
	unsigned input = mpdp_stage_input(vctx);
	uint64_t now = mpdp_time_ns();

	for (uint16_t i = 0; i < n; i++)
		next[i] = fw_one(ctx, set, pkts[i], input, now);
}

/* SIGHUP: reload the rules file in the worker's own time (tick), between bursts. */
static void
reload(struct fw_ctx *ctx)
{
	struct mpdp_errbuf eb = { "" };
	struct fw_set *set = NULL;

	if (set_load(&ctx->env, ctx->rules_path, &set, &eb) != 0) {
		add(&ctx->z->c[FW_C_RELOAD_ERRORS], 1);
		MPDP_LOG(ERR, "stage %s: rules not reloaded, the running set stays: %s",
			 ctx->env.cfg->id, eb.msg);
		return;
	}
	zone_take_set(ctx->z, set, &ctx->env);
	ctx->retired = atomic_exchange(&ctx->set, set);
	add(&ctx->z->c[FW_C_RELOADS], 1);
	MPDP_LOG(NOTICE, "stage %s: %u rules reloaded from %s", ctx->env.cfg->id, set->rs.n,
		 ctx->rules_path);
}

static void
fw_tick(void *vctx, uint64_t now)
{
	struct fw_ctx *ctx = vctx;

	/* The tick runs between bursts on the worker itself: nothing still uses a retired set. */
	set_free(ctx->retired);
	ctx->retired = NULL;
	if (fw_reload_asked) {
		fw_reload_asked = 0;
		reload(ctx);
	}
	fw_ct_expire(ctx->ct, now, FW_EXPIRE_BUDGET);
}

static void
on_sighup(int sig)
{
	(void)sig;
	fw_reload_asked = 1;
}

static int
zone_blank(const void *addr, uint64_t len)
{
	const uint8_t *p = addr;

	for (uint64_t i = 0; i < len && i < 4096; i++) {
		if (p[i] != 0)
			return 0;
	}
	return 1;
}

static int
open_zone(struct fw_ctx *ctx, const struct mpdp_stage_env *env, struct mpdp_errbuf *eb)
{
	void *addr;
	int rc = mpdp_stage_zone(env, FW_ZONE_SUFFIX, sizeof(struct fw_zone), &addr, eb);
	struct fw_zone *z = addr;

	if (rc < 0)
		return rc;
	if (zone_blank(z, sizeof(*z))) {
		z->version = FW_VERSION;
		z->zone_len = sizeof(*z);
		atomic_store_explicit(&z->magic, FW_MAGIC, memory_order_release);
	} else if (atomic_load(&z->magic) != FW_MAGIC || z->version != FW_VERSION) {
		return mpdp_err_set(eb, -EEXIST, "zone %s." FW_ZONE_SUFFIX ": not a firewall zone of version %d",
				    env->cfg->id, FW_VERSION);
	}
	ctx->z = z;
	return 0;
}

static int
open_conntrack(struct fw_ctx *ctx, const struct mpdp_stage_env *env, struct mpdp_errbuf *eb)
{
	struct fw_ct_timeouts t;
	const char *v;
	uint64_t conns = FW_CONNS_DEFAULT;
	unsigned iter = 0;
	void *addr;
	int rc;

	fw_ct_timeouts_default(&t);
	while ((v = mpdp_stage_option_next(env, "timeout", &iter)) != NULL) {
		rc = fw_ct_timeout_set(&t, v, eb);
		if (rc != 0)
			return rc;
	}
	v = mpdp_stage_option(env, "max-conns");
	if (v != NULL && mpdp_parse_u64(v, 1, FW_CONNS_MAX, &conns) != 0)
		return mpdp_err_set(eb, -EINVAL, "--max-conns %s: expected a number from 1 to %u", v,
				    FW_CONNS_MAX);
	rc = mpdp_stage_zone(env, FW_CT_ZONE_SUFFIX, fw_ct_mem_size((uint32_t)conns), &addr, eb);
	if (rc == -EEXIST)
		return mpdp_err_set(eb, -EEXIST, "stage %s: its connection table was made with another "
				    "--max-conns; start it with the same value", env->cfg->id);
	if (rc < 0)
		return rc;
	rc = fw_ct_open(addr, fw_ct_mem_size((uint32_t)conns), (uint32_t)conns, &t, &ctx->ct, eb);
	return rc < 0 ? rc : 0;
}

static int
fw_init(void *vctx, const struct mpdp_stage_env *env, struct mpdp_errbuf *eb)
{
	struct fw_ctx *ctx = vctx;
	struct fw_set *set = NULL;
	int rc;

	ctx->env = *env;
	ctx->rules_path = mpdp_stage_option(env, "rules");
	if (ctx->rules_path == NULL)
		return mpdp_err_set(eb, -EINVAL, "--rules FILE is required");
	if (!mpdp_stage_output_bound(env, 1))
		MPDP_LOG(WARN, "stage %s: output 'out' has no ring: allowed packets are dropped",
			 env->cfg->id);
	/* The rules first: a bad file leaves nothing made. */
	rc = set_load(env, ctx->rules_path, &set, eb);
	if (rc == 0)
		rc = open_zone(ctx, env, eb);
	if (rc == 0)
		rc = open_conntrack(ctx, env, eb);
	if (rc != 0) {
		set_free(set);
		return rc;
	}
	zone_take_set(ctx->z, set, env);
	atomic_store(&ctx->set, set);
	signal(SIGHUP, on_sighup);
	MPDP_LOG(INFO, "stage %s: %u rules from %s", env->cfg->id, set->rs.n, ctx->rules_path);
	return 0;
}

static void
fw_fini(void *vctx)
{
	struct fw_ctx *ctx = vctx;

	signal(SIGHUP, SIG_DFL);
	set_free(ctx->retired);
	set_free(atomic_load(&ctx->set));
}

/* --- report, from any process ------------------------------------------ */

/* The rule text of line i of the zone's text (rules are one per line). */
static const char *
rule_text(const struct fw_zone *z, unsigned i, int *len)
{
	const char *p = z->text, *end = z->text + z->text_len;

	for (unsigned k = 0; k < i && p < end; k++) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));

		p = nl != NULL ? nl + 1 : end;
	}
	const char *nl = memchr(p, '\n', (size_t)(end - p));

	*len = (int)((nl != NULL ? nl : end) - p);
	return p;
}

struct conn_print {
	FILE *f;
	int json;
	unsigned n;
};

static int
print_conn(const struct fw_ct_conn_view *v, void *arg)
{
	struct conn_print *cp = arg;

	if (cp->n == FW_REPORT_CONNS)
		return 1;
	fprintf(cp->f, "%s", cp->json ? (cp->n ? "," : "") : "  ");
	fw_ct_conn_print(v, cp->f, cp->json);
	fprintf(cp->f, "%s", cp->json ? "" : "\n");
	cp->n++;
	return 0;
}

static int
fw_report(const struct mpdp_stage_env *env, FILE *f, struct mpdp_errbuf *eb)
{
	struct fw_zone *z;
	struct fw_ct *ct = NULL;
	struct conn_print cp = { f, env->json, 0 };
	struct mpdp_stage_totals in = { 0 };
	struct mpdp_abi_stage *slot;
	uint64_t len, c[FW_C_N_];
	void *addr;
	unsigned n_rules, shown = 0;
	int rc = mpdp_stage_zone_find(env, FW_ZONE_SUFFIX, &addr, &len, eb);

	if (rc != 0)
		return rc;
	z = addr;
	if (len < sizeof(*z) || atomic_load(&z->magic) != FW_MAGIC)
		return mpdp_err_set(eb, -EINVAL, "zone %s." FW_ZONE_SUFFIX ": not a firewall zone",
				    env->cfg->id);
	if (mpdp_stage_zone_find(env, FW_CT_ZONE_SUFFIX, &addr, &len, eb) == 0 &&
	    fw_ct_attach(addr, len, &ct, eb) != 0)
		ct = NULL;
	if (mpdp_stage_find(env->shm, env->cfg->id, &slot) == 0)
		mpdp_stage_totals(slot, &in);
	for (unsigned i = 0; i < FW_C_N_; i++)
		c[i] = ld(&z->c[i]);
	n_rules = atomic_load(&z->n_rules);
	if (n_rules > FW_RULES_MAX)
		n_rules = FW_RULES_MAX;
	if (env->json) {
		fprintf(f, "{\"counters\":{\"packets\":%" PRIu64 ",\"bytes\":%" PRIu64, in.in_packets,
			in.in_bytes);
		for (unsigned i = 0; i < FW_C_N_; i++)
			fprintf(f, ",\"%s\":%" PRIu64, fw_counter_names[i], c[i]);
		fprintf(f, "},\"rules\":[");
		for (unsigned i = 0; i <= n_rules; i++) {
			int tl = 0;
			const char *t = i < n_rules ? rule_text(z, i, &tl) : "default";

			if (i == n_rules)
				tl = (int)strlen(t);
			fprintf(f, "%s{\"rule\":", i ? "," : "");
			mpdp_json_strn(f, t, (size_t)tl);
			fprintf(f, ",\"packets\":%" PRIu64 ",\"bytes\":%" PRIu64 "}",
				ld(&z->rules[i].packets), ld(&z->rules[i].bytes));
		}
		fprintf(f, "]");
		if (ct != NULL) {
			fprintf(f, ",\"conntrack\":");
			fw_ct_stats_print(ct, f, 1);
			fprintf(f, ",\"connections\":[");
			fw_ct_walk(ct, print_conn, &cp);
			fprintf(f, "]");
		}
		fprintf(f, "}");
		return 0;
	}
	fprintf(f, "firewall %s: %" PRIu64 " pkts %" PRIu64 " bytes: allowed %" PRIu64
		", denied %" PRIu64 ", to other outputs %" PRIu64 "\n", env->cfg->id,
		in.in_packets, in.in_bytes, c[FW_C_ALLOWED], c[FW_C_DENIED], c[FW_C_SENT_OTHER]);
	for (unsigned i = FW_C_NO_MATCH; i < FW_C_N_; i++)
		fprintf(f, "  %-24s %" PRIu64 "\n", fw_counter_names[i], c[i]);
	fprintf(f, "rules (%u, hits shown):\n", n_rules);
	for (unsigned i = 0; i <= n_rules && shown < FW_REPORT_RULES; i++) {
		uint64_t p = ld(&z->rules[i].packets);
		int tl = 0;
		const char *t = i < n_rules ? rule_text(z, i, &tl) : "(default)";

		if (p == 0)
			continue;
		if (i == n_rules)
			tl = (int)strlen(t);
		fprintf(f, "  %5u %12" PRIu64 " pkts %14" PRIu64 " bytes  %.*s\n", i + 1, p,
			ld(&z->rules[i].bytes), tl, t);
		shown++;
	}
	if (ct != NULL) {
		fprintf(f, "connections: ");
		fw_ct_stats_print(ct, f, 0);
		fprintf(f, "\n");
		fw_ct_walk(ct, print_conn, &cp);
	}
	return 0;
}

static const struct mpdp_stage_option fw_options[] = {
	{ "rules", "FILE", "the rule set (see doc/stage-fw.md); SIGHUP reloads it" },
	{ "max-conns", "N", "connections tracked (default 65536)" },
	{ "timeout", "NAME=SECONDS", "a connection timeout, e.g. tcp-established=3600 (repeatable)" },
	{ NULL, NULL, NULL },
};

/* Outputs: drop, out, and every other NAME of the command line's --out NAME=RING (for `to NAME`). */
static const char *fw_next_names[MPDP_STAGE_IO_MAX] = { "drop", "out" };
static char fw_extra_names[MPDP_STAGE_IO_MAX][MPDP_STAGE_NEXT_NAME_MAX];

static uint16_t
collect_outputs(int argc, char **argv)
{
	uint16_t n = 2;

	for (int i = 1; i < argc; i++) {
		const char *v = NULL, *eq;
		size_t len;
		int seen = 0;

		if (strcmp(argv[i], "--out") == 0 && i + 1 < argc)
			v = argv[++i];
		else if (strncmp(argv[i], "--out=", 6) == 0)
			v = argv[i] + 6;
		if (v == NULL || (eq = strchr(v, '=')) == NULL)
			continue;
		len = (size_t)(eq - v);
		if (len == 0 || len >= MPDP_STAGE_NEXT_NAME_MAX || n == MPDP_STAGE_IO_MAX)
			continue;   /* the framework reports it */
		for (uint16_t k = 0; k < n; k++)
			seen |= strncmp(fw_next_names[k], v, len) == 0 && fw_next_names[k][len] == '\0';
		if (seen)
			continue;
		memcpy(fw_extra_names[n], v, len);
		fw_next_names[n] = fw_extra_names[n];
		n++;
	}
	return n;
}

int
main(int argc, char **argv)
{
	struct mpdp_stage fw_stage = {
		.name = "fw",
		.summary = "stateful firewall: rules from a file, first match wins, connection tracking",
		.ctx_size = sizeof(struct fw_ctx),
		.next_names = fw_next_names,
		.max_workers = 1,
		.options = fw_options,
		.init = fw_init,
		.fini = fw_fini,
		.process = fw_process,
		.tick = fw_tick,
		.report = fw_report,
	};

	fw_stage.n_next = collect_outputs(argc, argv);
	return mpdp_stage_main(argc, argv, &fw_stage);
}

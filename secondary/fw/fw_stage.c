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
 * (zone "<id>.fw"). A restarted firewall keeps both.
 *
 * The rule set changes at run time (SIGHUP reloads the rules file; the
 * commands `rule add`, `rule del` and `rule load` edit it) in one way: the
 * editor builds the new set and its classifier off the data path, gives
 * each rule a counter slot (a rule that stays keeps its slot, so its
 * counters; a new one gets a zeroed one), and hands the set to the worker
 * (handover()). The worker takes it between two bursts (adopt()) and says
 * so; only then does the editor write the zone's rule list and free the old
 * set. See doc/stage-fw.md.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fw_classify.h"
#include "fw_conntrack.h"
#include "fw_rules.h"
#include "fw_stage.h"
#include "mpdp_json.h"
#include "mpdp_log.h"
#include "mpdp_mbuf.h"
#include "mpdp_parse.h"
#include "mpdp_pkt.h"
#include "mpdp_port.h"
#include "mpdp_seqcount.h"
#include "mpdp_shm.h"
#include "mpdp_stage.h"
#include "mpdp_time.h"

#define FW_ZONE_SUFFIX "fw"
#define FW_CT_ZONE_SUFFIX "ct"
#define FW_MAGIC 0x31305746u        /* "FW01" little-endian */
#define FW_VERSION 3
#define FW_TEXT_MAX (4u << 20)      /* rule text kept in the zone for reports */
/*
 * Counter slots. A rule set counts into n + 1 of them (its rules and its
 * default); while a new set is handed over the old one still counts into
 * its own, so there is room for two whole sets.
 */
#define FW_SLOTS (2u * (FW_RULES_MAX + 1))
/* Lines of a set's text before its rules: the four defaults. */
#define FW_DEFAULT_LINES 4u
#define FW_CONNS_DEFAULT 65536u
#define FW_CONNS_MAX (16u << 20)
/* Connection slots aged per tick: the whole table every few seconds at most. */
#define FW_EXPIRE_BUDGET 16384u
#define FW_REPORT_RULES 50u
#define FW_REPORT_CONNS 20u
/* How long a command waits for the worker to take a new rule set. */
#define FW_ADOPT_WAIT_NS 1000000000ull
/* Rows a list command prints: default and most, and the text it may reach. */
#define FW_LIST_DEFAULT 100u
#define FW_LIST_MAX 10000u
#define FW_LIST_BYTES_MAX (512u << 10)
#define FW_CONN_LIST_DEFAULT 100u
#define FW_CONN_LIST_MAX 1000u

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
	_(RELOAD_ERRORS, "rule_reload_errors") \
	_(RULE_EDITS, "rule_edits")

#define FW_C_ENUM(e, s) FW_C_##e,
enum fw_counter { FW_COUNTERS(FW_C_ENUM) FW_C_N_ };
#define FW_C_NAME(e, s) s,
static const char *const fw_counter_names[FW_C_N_] = { FW_COUNTERS(FW_C_NAME) };

struct fw_rule_counter {
	_Atomic uint64_t packets;
	_Atomic uint64_t bytes;
};

/*
 * The zone "<id>.fw"; a report reads it from any process.
 *
 * (worker) c[] but the three below, and the counters of the slots its rule
 *          set counts into.
 * (editor) the one that holds fw_ctx.edit: a command, or the worker on
 *          SIGHUP. It writes c[RELOADS], c[RELOAD_ERRORS], c[RULE_EDITS],
 *          zeroes a slot before a set counts into it, and writes the rule
 *          list (n_rules, order, text) inside the sequence word rules_seq
 *          (mpdp_seqcount.h).
 *
 * Rule i of the running set counts into slots[order[i]], its default (no
 * rule matched) into slots[order[n_rules]]. text holds the set's lines: the
 * four defaults ("default deny", "default non-ip allow", "default fragment
 * deny", "default malformed deny"), then one line per rule, as many whole
 * lines as FW_TEXT_MAX holds.
 */
struct fw_zone {
	_Atomic uint32_t magic;
	uint32_t version;
	uint64_t zone_len;
	uint32_t rules_seq;
	uint32_t n_rules;
	uint32_t text_len;
	uint32_t pad_;
	_Atomic uint64_t c[FW_C_N_];
	struct fw_rule_counter slots[FW_SLOTS];
	uint32_t order[FW_RULES_MAX + 1];
	char text[FW_TEXT_MAX];
};

/* One line of a set's text (p NULL: not known). */
struct fw_line {
	const char *p;
	uint32_t len;
};

/*
 * A rule set ready to run: the rules, their classifier, their canonical
 * text (FW_DEFAULT_LINES default lines, then a line per rule) and the
 * counter slot of each rule (slot[rs.n]: the default's).
 */
struct fw_set {
	struct fw_ruleset rs;
	struct fw_classifier *cls;
	char *text;
	size_t text_len;
	struct fw_line *lines;     /* FW_DEFAULT_LINES + rs.n */
	uint32_t *slot;            /* rs.n + 1 */
	uint64_t gen;              /* handover() numbers the sets it hands over */
};

/* The lines and slots of a rule set that counts (or counted) in the zone. */
struct fw_lines {
	const struct fw_line *lines;   /* FW_DEFAULT_LINES + n_rules */
	const uint32_t *slot;          /* n_rules + 1 */
	unsigned n_rules;
};

/*
 * The hand-over of a rule set: the editor puts it in pending (R1), the
 * worker takes it between bursts (A1) and stores its gen in adopted (R2);
 * once the editor sees that (A2), nothing reads the old set any more. The
 * worker never waits: it takes what is there when it looks.
 */
struct fw_ctx {
	struct fw_zone *z;
	struct fw_ct *ct;
	struct mpdp_stage_env env;           /* a copy: init's is gone after init */
	const char *rules_path;
	struct fw_set *active;               /* (worker) what process() uses */
	_Atomic(struct fw_set *) pending;    /* (editor -> worker) the next set */
	_Atomic uint64_t adopted;            /* (worker) gen of the set it took last */
	pthread_mutex_t edit;                /* held by the editor */
	int edit_made;
	struct fw_set *committed;            /* (editor) the set the zone lists */
	uint64_t gen;                        /* (editor) gen of the last set handed over */
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
	names->outputs = env->stage->next_names;
	names->n_outputs = env->stage->n_next;
	names->resolve_in = resolve_in;
	names->arg = (void *)(uintptr_t)env;
}

/* ---- rule sets --------------------------------------------------------- */

static void
set_free(struct fw_set *set)
{
	if (set == NULL)
		return;
	fw_classifier_free(set->cls);
	fw_ruleset_free(&set->rs);
	free(set->text);
	free(set->lines);
	free(set->slot);
	free(set);
}

/* A growing text of lines. */
struct fw_text {
	char *buf;
	size_t len, cap;
};

static int
text_line(struct fw_text *t, const char *s, size_t n)
{
	if (t->len + n + 1 > t->cap) {
		size_t cap = t->cap ? t->cap : 4096;
		char *b;

		while (t->len + n + 1 > cap)
			cap *= 2;
		b = realloc(t->buf, cap);
		if (b == NULL)
			return -ENOMEM;
		t->buf = b;
		t->cap = cap;
	}
	memcpy(t->buf + t->len, s, n);
	t->buf[t->len + n] = '\n';
	t->len += n + 1;
	return 0;
}

static void
action_str(const struct fw_action *a, const struct fw_names *names, char *buf, size_t size)
{
	if (a->kind == FW_ALLOW)
		snprintf(buf, size, "allow");
	else if (a->kind == FW_DENY)
		snprintf(buf, size, "deny");
	else if (a->next < names->n_outputs && names->outputs[a->next] != NULL)
		snprintf(buf, size, "to %s", names->outputs[a->next]);
	else
		snprintf(buf, size, "to ?");
}

/* The canonical text of @p r into *buf, which grows as needed. @return its length or -errno. */
static int
rule_format(const struct fw_rule *r, const struct fw_names *names, char **buf, size_t *cap)
{
	for (;;) {
		int n = fw_rule_format(r, names, *buf, *cap);
		char *b;

		if (n != -ENOSPC)
			return n;
		if (*cap >= FW_TEXT_MAX)
			return -E2BIG;
		b = realloc(*buf, *cap * 2);
		if (b == NULL)
			return -ENOMEM;
		*buf = b;
		*cap *= 2;
	}
}

/* Index the lines of @p text (each ends with '\n') into @p lines, at most @p n. @return how many. */
static unsigned
lines_index(const char *text, size_t len, struct fw_line *lines, unsigned n)
{
	const char *p = text, *end = text + len;
	unsigned k = 0;

	while (k < n && p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));

		if (nl == NULL)
			break;
		lines[k].p = p;
		lines[k].len = (uint32_t)(nl - p);
		k++;
		p = nl + 1;
	}
	return k;
}

/* Write the canonical text of a parsed set, index its lines, make its slot array. */
static int
set_canon(const struct mpdp_stage_env *env, struct fw_set *set, struct mpdp_errbuf *eb)
{
	static const char *const cls[FW_DEFAULT_LINES] = { "", " non-ip", " fragment", " malformed" };
	const struct fw_action *dflt[FW_DEFAULT_LINES] = { &set->rs.dflt, &set->rs.non_ip,
							   &set->rs.fragment, &set->rs.malformed };
	struct fw_text t = { NULL, 0, 0 };
	struct fw_names names;
	size_t cap = 512;
	char *buf = malloc(cap);
	unsigned n_lines = FW_DEFAULT_LINES + set->rs.n;
	int rc = buf == NULL ? -ENOMEM : 0;

	names_of(env, &names);
	for (unsigned k = 0; k < FW_DEFAULT_LINES && rc == 0; k++) {
		char a[96];

		action_str(dflt[k], &names, a, sizeof(a));
		snprintf(buf, cap, "default%s %s", cls[k], a);
		rc = text_line(&t, buf, strlen(buf));
	}
	for (unsigned i = 0; i < set->rs.n && rc == 0; i++) {
		int n = rule_format(&set->rs.rules[i], &names, &buf, &cap);

		rc = n < 0 ? n : text_line(&t, buf, (size_t)n);
	}
	free(buf);
	set->lines = calloc(n_lines, sizeof(*set->lines));
	set->slot = calloc(set->rs.n + 1, sizeof(*set->slot));
	if (rc == 0 && (set->lines == NULL || set->slot == NULL))
		rc = -ENOMEM;
	if (rc != 0) {
		free(t.buf);
		return mpdp_err_set(eb, rc, "the rules' text: %s", mpdp_strerror(rc));
	}
	set->text = t.buf;
	set->text_len = t.len;
	lines_index(set->text, set->text_len, set->lines, n_lines);
	return 0;
}

/* The classifier and the text of a set whose rules are parsed; frees it on failure. */
static int
set_finish(const struct mpdp_stage_env *env, struct fw_set *set, struct fw_set **out,
	   struct mpdp_errbuf *eb)
{
	int rc = fw_classifier_build(&set->rs, &set->cls, eb);

	if (rc == 0)
		rc = set_canon(env, set, eb);
	if (rc != 0) {
		set_free(set);
		return rc;
	}
	*out = set;
	return 0;
}

/* Read, parse and compile a rules file: all of it, or nothing (the reason in eb). */
static int
set_load(const struct mpdp_stage_env *env, const char *path, struct fw_set **out,
	 struct mpdp_errbuf *eb)
{
	struct fw_set *set = calloc(1, sizeof(*set));
	struct fw_names names;
	int rc;

	if (set == NULL)
		return mpdp_err_set(eb, -ENOMEM, "%s: no memory", path);
	names_of(env, &names);
	rc = fw_rules_load(path, &names, &set->rs, eb);
	if (rc != 0) {
		free(set);
		return rc;
	}
	return set_finish(env, set, out, eb);
}

/* Parse and compile rule text (a set's own canonical text, edited). */
static int
set_parse(const struct mpdp_stage_env *env, const char *text, size_t len, const char *what,
	  struct fw_set **out, struct mpdp_errbuf *eb)
{
	struct fw_set *set = calloc(1, sizeof(*set));
	struct fw_names names;
	int rc;

	if (set == NULL)
		return mpdp_err_set(eb, -ENOMEM, "%s: no memory", what);
	names_of(env, &names);
	rc = fw_rules_parse(text, len, what, &names, &set->rs, eb);
	if (rc != 0) {
		free(set);
		return rc;
	}
	return set_finish(env, set, out, eb);
}

static struct fw_lines
lines_of(const struct fw_set *set)
{
	return (struct fw_lines){ set->lines, set->slot, set->rs.n };
}

/* ---- which rules keep their counters ------------------------------------ */

struct line_key {
	const char *p;
	uint32_t len;
	uint32_t idx;
};

static int
line_key_cmp(const void *va, const void *vb)
{
	const struct line_key *a = va, *b = vb;
	int c = memcmp(a->p, b->p, a->len < b->len ? a->len : b->len);

	if (c != 0)
		return c;
	if (a->len != b->len)
		return a->len < b->len ? -1 : 1;
	return a->idx < b->idx ? -1 : a->idx > b->idx;
}

static int
line_eq(const struct fw_line *a, const struct fw_line *b)
{
	return a->p != NULL && b->p != NULL && a->len == b->len && memcmp(a->p, b->p, a->len) == 0;
}

/*
 * from[i] for each rule i of @p nw (and from[nw->rs.n] for its default):
 * the rule of @p old with the same text (the k-th of equal texts takes the
 * k-th), n_rules of old for the default when its line is the same, or -1.
 */
static int
map_by_text(const struct fw_lines *old, const struct fw_set *nw, int64_t *from)
{
	struct line_key *ko = calloc(old->n_rules + 1, sizeof(*ko));
	struct line_key *kn = calloc(nw->rs.n + 1, sizeof(*kn));
	unsigned no = 0, i = 0, j = 0;

	if (ko == NULL || kn == NULL) {
		free(ko);
		free(kn);
		return -ENOMEM;
	}
	for (unsigned r = 0; r < old->n_rules; r++) {
		const struct fw_line *l = &old->lines[FW_DEFAULT_LINES + r];

		if (l->p != NULL)
			ko[no++] = (struct line_key){ l->p, l->len, r };
	}
	for (unsigned r = 0; r < nw->rs.n; r++) {
		const struct fw_line *l = &nw->lines[FW_DEFAULT_LINES + r];

		kn[r] = (struct line_key){ l->p, l->len, r };
		from[r] = -1;
	}
	qsort(ko, no, sizeof(*ko), line_key_cmp);
	qsort(kn, nw->rs.n, sizeof(*kn), line_key_cmp);
	while (i < no && j < nw->rs.n) {
		struct line_key a = ko[i], b = kn[j];
		int c;

		a.idx = b.idx = 0;
		c = line_key_cmp(&a, &b);
		if (c < 0) {
			i++;
		} else if (c > 0) {
			j++;
		} else {
			from[kn[j].idx] = ko[i].idx;
			i++;
			j++;
		}
	}
	from[nw->rs.n] = line_eq(&old->lines[0], &nw->lines[0]) ? (int64_t)old->n_rules : -1;
	free(ko);
	free(kn);
	return 0;
}

/*
 * The counter slot of each rule of @p nw: from[i] >= 0 keeps old's slot,
 * -1 takes one that old does not use, zeroed. (editor, or init)
 */
static int
slots_assign(struct fw_zone *z, const struct fw_lines *old, struct fw_set *nw, const int64_t *from)
{
	uint64_t *used = calloc(FW_SLOTS / 64 + 1, sizeof(uint64_t));
	uint32_t cursor = 0;

	if (used == NULL)
		return -ENOMEM;
	for (unsigned i = 0; old != NULL && i <= old->n_rules; i++)
		used[old->slot[i] / 64] |= 1ull << (old->slot[i] % 64);
	for (unsigned i = 0; i <= nw->rs.n; i++) {
		if (from[i] >= 0) {
			nw->slot[i] = old->slot[from[i]];
			continue;
		}
		while (cursor < FW_SLOTS && (used[cursor / 64] >> (cursor % 64)) & 1)
			cursor++;
		if (cursor == FW_SLOTS) {
			free(used);
			return -ENOSPC;
		}
		used[cursor / 64] |= 1ull << (cursor % 64);
		nw->slot[i] = cursor;
		/* Nobody counts into a slot no running set has. */
		atomic_store_explicit(&z->slots[cursor].packets, 0, memory_order_relaxed);
		atomic_store_explicit(&z->slots[cursor].bytes, 0, memory_order_relaxed);
	}
	free(used);
	return 0;
}

/* The zone's rule list becomes @p set's. (editor, or init) */
static void
zone_list(struct fw_zone *z, const struct fw_set *set)
{
	unsigned n_lines = FW_DEFAULT_LINES + set->rs.n;
	size_t len = 0;

	for (unsigned i = 0; i < n_lines; i++) {
		if (len + set->lines[i].len + 1 > FW_TEXT_MAX)
			break;
		len += set->lines[i].len + 1;
	}
	mpdp_seq_write_begin(&z->rules_seq);
	z->n_rules = set->rs.n;
	memcpy(z->order, set->slot, (set->rs.n + 1) * sizeof(*set->slot));
	memcpy(z->text, set->text, len);
	z->text_len = (uint32_t)len;
	mpdp_seq_write_end(&z->rules_seq);
}

/* ---- the worker -------------------------------------------------------- */

/* Take the set an editor handed over, if any. Between bursts only. */
static void
adopt(struct fw_ctx *ctx)
{
	/* A1: pairs with R1 in handover(): the set and its zeroed slots are whole. */
	struct fw_set *set = atomic_exchange_explicit(&ctx->pending, NULL, memory_order_acquire);

	if (set == NULL)
		return;
	ctx->active = set;
	/* R2: from here on the old set is not read; pairs with A2 in handover(). */
	atomic_store_explicit(&ctx->adopted, set->gen, memory_order_release);
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
	struct fw_rule_counter *rc;
	struct fw_key key;
	uint32_t r;
	int prc = mpdp_pkt_parse(data, m->data_len, &info);
	int ct;

	if (!(info.ptype & (MPDP_PTYPE_IPV4 | MPDP_PTYPE_IPV6))) {
		enum fw_counter c = prc != 0 ? FW_C_MALFORMED : FW_C_NON_IP;

		add(&z->c[c], 1);
		return verdict(ctx, class_action(&set->rs, c));
	}
	if (prc != 0 || !mpdp_pkt_ip_whole(&info, m->data_len)) {
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
	rc = &z->slots[set->slot[r]];
	add(&rc->packets, 1);
	add(&rc->bytes, m->data_len);
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
	unsigned input = mpdp_stage_input(vctx);
	uint64_t now = mpdp_time_ns();
	const struct fw_set *set;

	if (atomic_load_explicit(&ctx->pending, memory_order_relaxed) != NULL)
		adopt(ctx);
	set = ctx->active;
	for (uint16_t i = 0; i < n; i++)
		next[i] = fw_one(ctx, set, pkts[i], input, now);
}

/* ---- the editor: one change at a time, under ctx->edit ---------------- */

/*
 * Hand @p set over to the worker and wait (at most FW_ADOPT_WAIT_NS) until
 * it took it; then list it in the zone and free the old set. On the worker
 * itself (@p on_worker: SIGHUP) it is taken at once.
 *
 * @return 0 (the set is the firewall's), or -ETIMEDOUT (the worker never
 *         saw it: nothing changed, the caller still owns @p set)
 */
static int
handover(struct fw_ctx *ctx, struct fw_set *set, int on_worker, const char *what,
	 struct mpdp_errbuf *eb)
{
	uint64_t gen = ++ctx->gen, t0 = mpdp_time_ns();
	struct timespec pause = { 0, 1000000 };

	set->gen = gen;
	/* R1: the set and the slots zeroed for it before the pointer; pairs with A1 in adopt(). */
	atomic_store_explicit(&ctx->pending, set, memory_order_release);
	if (on_worker)
		adopt(ctx);
	/* A2: pairs with R2 in adopt(): once it says so, the worker reads only the new set. */
	while (atomic_load_explicit(&ctx->adopted, memory_order_acquire) < gen) {
		struct fw_set *expect = set;

		if (mpdp_time_ns() - t0 < FW_ADOPT_WAIT_NS) {
			nanosleep(&pause, NULL);
			continue;
		}
		if (atomic_compare_exchange_strong(&ctx->pending, &expect, NULL))
			return mpdp_err_set(eb, -ETIMEDOUT, "%s: the worker did not take the new rules "
					    "within 1 s; is it stuck? The running set stays", what);
		/* It took the set just now: its word follows in a few instructions. */
		while (atomic_load_explicit(&ctx->adopted, memory_order_acquire) < gen)
			sched_yield();
	}
	zone_list(ctx->z, set);
	set_free(ctx->committed);
	ctx->committed = set;
	return 0;
}

/* Give @p set's rules their counter slots (@p from: see map_by_text()) and hand it over. */
static int
replace(struct fw_ctx *ctx, struct fw_set *set, const int64_t *from, int on_worker,
	const char *what, struct mpdp_errbuf *eb)
{
	struct fw_lines old = lines_of(ctx->committed);
	int rc = slots_assign(ctx->z, &old, set, from);

	if (rc != 0) {
		set_free(set);
		return mpdp_err_set(eb, rc, "%s: no counter slots: %s", what, mpdp_strerror(rc));
	}
	rc = handover(ctx, set, on_worker, what, eb);
	if (rc != 0)
		set_free(set);
	return rc;
}

/* A whole new set (a file): rules whose text is unchanged keep their counters. */
static int
replace_by_text(struct fw_ctx *ctx, struct fw_set *set, int on_worker, const char *what,
		unsigned *kept, struct mpdp_errbuf *eb)
{
	int64_t *from = calloc(set->rs.n + 1, sizeof(*from));
	struct fw_lines old = lines_of(ctx->committed);
	int rc;

	if (from == NULL || map_by_text(&old, set, from) != 0) {
		free(from);
		set_free(set);
		return mpdp_err_set(eb, -ENOMEM, "%s: no memory", what);
	}
	*kept = 0;
	for (unsigned i = 0; i < set->rs.n; i++)
		*kept += from[i] >= 0;
	rc = replace(ctx, set, from, on_worker, what, eb);
	free(from);
	return rc;
}

/* SIGHUP: reload the rules file on the worker, between bursts (tick). */
static void
reload(struct fw_ctx *ctx)
{
	struct mpdp_errbuf eb = { "" };
	struct fw_set *set = NULL;
	unsigned kept = 0;

	if (set_load(&ctx->env, ctx->rules_path, &set, &eb) != 0 ||
	    replace_by_text(ctx, set, 1, ctx->rules_path, &kept, &eb) != 0) {
		add(&ctx->z->c[FW_C_RELOAD_ERRORS], 1);
		MPDP_LOG(ERR, "stage %s: rules not reloaded, the running set stays: %s",
			 ctx->env.cfg->id, eb.msg);
		return;
	}
	add(&ctx->z->c[FW_C_RELOADS], 1);
	MPDP_LOG(NOTICE, "stage %s: %u rules reloaded from %s (%u unchanged keep their counters)",
		 ctx->env.cfg->id, set->rs.n, ctx->rules_path, kept);
}

static void
fw_tick(void *vctx, uint64_t now)
{
	struct fw_ctx *ctx = vctx;

	if (atomic_load_explicit(&ctx->pending, memory_order_relaxed) != NULL)
		adopt(ctx);
	/* A command holding the editor's lock defers the reload to a later tick: never wait. */
	if (fw_reload_asked && pthread_mutex_trylock(&ctx->edit) == 0) {
		fw_reload_asked = 0;
		reload(ctx);
		pthread_mutex_unlock(&ctx->edit);
	}
	fw_ct_expire(ctx->ct, now, FW_EXPIRE_BUDGET);
}

static void
on_sighup(int sig)
{
	(void)sig;
	fw_reload_asked = 1;
}

/* ---- init and fini ------------------------------------------------------ */

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

/* Open the zone; *old_valid: it holds the rule list of an earlier run. */
static int
open_zone(struct fw_ctx *ctx, const struct mpdp_stage_env *env, int *old_valid,
	  struct mpdp_errbuf *eb)
{
	void *addr;
	int rc = mpdp_stage_zone(env, FW_ZONE_SUFFIX, sizeof(struct fw_zone), &addr, eb);
	struct fw_zone *z = addr;

	*old_valid = 0;
	if (rc == -EEXIST)
		return mpdp_err_set(eb, -EEXIST, "zone %s." FW_ZONE_SUFFIX ": not a firewall zone of "
				    "version %d (made by another version of mpdp-fw?)", env->cfg->id,
				    FW_VERSION);
	if (rc < 0)
		return rc;
	if (zone_blank(z, sizeof(*z))) {
		z->version = FW_VERSION;
		z->zone_len = sizeof(*z);
		atomic_store_explicit(&z->magic, FW_MAGIC, memory_order_release);
	} else if (atomic_load(&z->magic) != FW_MAGIC || z->version != FW_VERSION) {
		return mpdp_err_set(eb, -EEXIST, "zone %s." FW_ZONE_SUFFIX ": not a firewall zone of version %d",
				    env->cfg->id, FW_VERSION);
	} else {
		*old_valid = z->n_rules <= FW_RULES_MAX;
		for (unsigned i = 0; *old_valid && i <= z->n_rules; i++)
			*old_valid = z->order[i] < FW_SLOTS;
		*old_valid = *old_valid && z->text_len <= FW_TEXT_MAX;
	}
	/* A writer that died inside the sequence left it odd: we are the only writer now. */
	if (z->rules_seq & 1)
		z->rules_seq++;
	ctx->z = z;
	return 0;
}

/* Counter slots for the first set: those of a previous run's rules of the same text. */
static int
first_slots(struct fw_zone *z, int old_valid, struct fw_set *set, struct mpdp_errbuf *eb)
{
	unsigned n_old = old_valid ? z->n_rules : 0;
	struct fw_line *lines = calloc(FW_DEFAULT_LINES + n_old, sizeof(*lines));
	int64_t *from = calloc(set->rs.n + 1, sizeof(*from));
	struct fw_lines old = { lines, z->order, n_old };
	int rc = lines == NULL || from == NULL ? -ENOMEM : 0;

	if (rc == 0 && old_valid) {
		lines_index(z->text, z->text_len, lines, FW_DEFAULT_LINES + n_old);
		rc = map_by_text(&old, set, from);
	} else {
		for (unsigned i = 0; rc == 0 && i <= set->rs.n; i++)
			from[i] = -1;
	}
	if (rc == 0)
		rc = slots_assign(z, old_valid ? &old : NULL, set, from);
	free(lines);
	free(from);
	return rc == 0 ? 0 : mpdp_err_set(eb, rc, "zone %s: %s", FW_ZONE_SUFFIX, mpdp_strerror(rc));
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
	int rc, old_valid = 0;

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
		rc = open_zone(ctx, env, &old_valid, eb);
	if (rc == 0)
		rc = open_conntrack(ctx, env, eb);
	if (rc == 0)
		rc = first_slots(ctx->z, old_valid, set, eb);
	if (rc == 0 && pthread_mutex_init(&ctx->edit, NULL) != 0)
		rc = mpdp_err_set(eb, -ENOMEM, "stage %s: cannot make a mutex", env->cfg->id);
	if (rc != 0) {
		set_free(set);
		return rc;
	}
	ctx->edit_made = 1;
	zone_list(ctx->z, set);
	ctx->active = ctx->committed = set;
	signal(SIGHUP, on_sighup);
	MPDP_LOG(INFO, "stage %s: %u rules from %s", env->cfg->id, set->rs.n, ctx->rules_path);
	return 0;
}

/*
 * After the worker stopped. A command still waiting for it gives up within
 * FW_ADOPT_WAIT_NS and takes its set back: wait for the lock, then nothing
 * is pending. No command may start after fini.
 */
static void
fw_fini(void *vctx)
{
	struct fw_ctx *ctx = vctx;

	signal(SIGHUP, SIG_DFL);
	if (ctx->edit_made)
		pthread_mutex_lock(&ctx->edit);
	set_free(ctx->committed);
	ctx->active = ctx->committed = NULL;
	if (ctx->edit_made) {
		pthread_mutex_unlock(&ctx->edit);
		pthread_mutex_destroy(&ctx->edit);
	}
	ctx->edit_made = 0;
}

/* ---- reading the zones, from any process: the report and the commands -- */

/* A copy of the zone's rule list, taken whole (see rules_seq). */
struct fw_snap {
	unsigned n_rules;
	uint32_t *order;           /* n_rules + 1 */
	char *text;
	uint32_t text_len;
	struct fw_line *lines;     /* FW_DEFAULT_LINES + n_rules; p NULL for lines not kept */
};

static void
snap_free(struct fw_snap *s)
{
	free(s->order);
	free(s->text);
	free(s->lines);
	memset(s, 0, sizeof(*s));
}

static int
snap_take(struct fw_zone *z, const char *id, struct fw_snap *s, struct mpdp_errbuf *eb)
{
	memset(s, 0, sizeof(*s));
	s->order = malloc((FW_RULES_MAX + 1) * sizeof(*s->order));
	s->text = malloc(FW_TEXT_MAX);
	if (s->order == NULL || s->text == NULL) {
		snap_free(s);
		return mpdp_err_set(eb, -ENOMEM, "zone %s." FW_ZONE_SUFFIX ": no memory to read it", id);
	}
	for (unsigned t = 0; t < MPDP_SEQ_READ_TRIES; t++) {
		uint32_t seq = mpdp_seq_read_begin(&z->rules_seq);
		unsigned n = __atomic_load_n(&z->n_rules, __ATOMIC_RELAXED);
		uint32_t len = __atomic_load_n(&z->text_len, __ATOMIC_RELAXED);

		if (n > FW_RULES_MAX || len > FW_TEXT_MAX)
			continue;
		memcpy(s->order, z->order, (n + 1) * sizeof(*s->order));
		memcpy(s->text, z->text, len);
		if (!mpdp_seq_read_ok(&z->rules_seq, seq))
			continue;
		s->n_rules = n;
		s->text_len = len;
		s->lines = calloc(FW_DEFAULT_LINES + n, sizeof(*s->lines));
		if (s->lines == NULL) {
			snap_free(s);
			return mpdp_err_set(eb, -ENOMEM, "zone %s." FW_ZONE_SUFFIX ": no memory to read it",
					    id);
		}
		lines_index(s->text, len, s->lines, FW_DEFAULT_LINES + n);
		return 0;
	}
	snap_free(s);
	return mpdp_err_set(eb, -EAGAIN, "zone %s." FW_ZONE_SUFFIX ": the rule list kept changing "
			    "while read (or its writer died changing it); try again", id);
}

static struct fw_rule_counter *
snap_counter(struct fw_zone *z, const struct fw_snap *s, unsigned i)
{
	return &z->slots[s->order[i] < FW_SLOTS ? s->order[i] : 0];
}

/* Line @p i of a snapshot: "" when not kept (the text was full). */
static const char *
snap_line(const struct fw_snap *s, unsigned i, int *len)
{
	*len = s->lines[i].p != NULL ? (int)s->lines[i].len : 0;
	return s->lines[i].p != NULL ? s->lines[i].p : "";
}

static int
zone_get(const struct mpdp_stage_env *env, struct fw_zone **out, struct mpdp_errbuf *eb)
{
	uint64_t len;
	void *addr;
	int rc = mpdp_stage_zone_find(env, FW_ZONE_SUFFIX, &addr, &len, eb);
	struct fw_zone *z = addr;

	if (rc != 0)
		return rc;
	if (len < sizeof(*z) || atomic_load(&z->magic) != FW_MAGIC || z->version != FW_VERSION)
		return mpdp_err_set(eb, -EPROTO, "zone %s." FW_ZONE_SUFFIX ": not a firewall zone of "
				    "version %d", env->cfg->id, FW_VERSION);
	*out = z;
	return 0;
}

static int
ct_get(const struct mpdp_stage_env *env, struct fw_ct **out, struct mpdp_errbuf *eb)
{
	uint64_t len;
	void *addr;
	int rc = mpdp_stage_zone_find(env, FW_CT_ZONE_SUFFIX, &addr, &len, eb);

	return rc != 0 ? rc : fw_ct_attach(addr, len, out, eb);
}

/* One counter row: "  POS PACKETS pkts BYTES bytes  TEXT" (POS blank when 0, bytes "-" when < 0). */
static int
row_text(FILE *f, unsigned pos, uint64_t packets, int64_t bytes, const char *t, int tl)
{
	char p[16] = "", b[24] = "-";

	if (pos != 0)
		snprintf(p, sizeof(p), "%u", pos);
	if (bytes >= 0)
		snprintf(b, sizeof(b), "%" PRId64, bytes);
	return fprintf(f, "  %5s %12" PRIu64 " pkts %14s bytes  %.*s\n", p, packets, b, tl, t);
}

static int
row_json(FILE *f, int comma, unsigned pos, uint64_t packets, int64_t bytes, const char *t, int tl)
{
	int n = fprintf(f, "%s{", comma ? "," : "");

	if (pos != 0)
		n += fprintf(f, "\"pos\":%u,", pos);
	n += fprintf(f, "\"rule\":");
	mpdp_json_strn(f, t, (size_t)tl);
	n += tl + 2;
	if (bytes >= 0)
		n += fprintf(f, ",\"packets\":%" PRIu64 ",\"bytes\":%" PRId64 "}", packets, bytes);
	else
		n += fprintf(f, ",\"packets\":%" PRIu64 ",\"bytes\":null}", packets);
	return n;
}

/*
 * Rows of rules first.. (0-based) of a snapshot: at most @p count, only
 * those with hits when @p hits_only, until about @p budget bytes are out.
 * @return the index after the last rule looked at
 */
static unsigned
rules_print(FILE *f, struct fw_zone *z, const struct fw_snap *s, int json, unsigned first,
	    unsigned count, int hits_only, size_t budget)
{
	size_t out = 0;
	unsigned i, shown = 0;

	for (i = first; i < s->n_rules && shown < count && out < budget; i++) {
		struct fw_rule_counter *c = snap_counter(z, s, i);
		uint64_t p = ld(&c->packets);
		int tl;
		const char *t = snap_line(s, FW_DEFAULT_LINES + i, &tl);
		int n;

		if (hits_only && p == 0)
			continue;
		if (json)
			n = row_json(f, shown != 0, i + 1, p, (int64_t)ld(&c->bytes), t, tl);
		else
			n = row_text(f, i + 1, p, (int64_t)ld(&c->bytes), t, tl);
		out += n > 0 ? (size_t)n : 0;
		shown++;
	}
	return i;
}

/* The rows of the defaults: the no-match default (its slot), then the classes (their counters). */
static void
defaults_print(FILE *f, struct fw_zone *z, const struct fw_snap *s, int json, int all)
{
	static const enum fw_counter cls[FW_DEFAULT_LINES] = { FW_C_N_, FW_C_NON_IP, FW_C_FRAGMENT,
							       FW_C_MALFORMED };

	for (unsigned k = 0; k < (all ? FW_DEFAULT_LINES : 1); k++) {
		uint64_t p;
		int64_t b = -1;
		int tl;
		const char *t = snap_line(s, k, &tl);

		if (k == 0) {
			struct fw_rule_counter *c = snap_counter(z, s, s->n_rules);

			p = ld(&c->packets);
			b = (int64_t)ld(&c->bytes);
		} else {
			p = ld(&z->c[cls[k]]);
		}
		if (json)
			row_json(f, k != 0, 0, p, b, t, tl);
		else
			row_text(f, 0, p, b, t, tl);
	}
}

struct conn_print {
	FILE *f;
	int json;
	unsigned n, max;
};

static int
print_conn(const struct fw_ct_conn_view *v, void *arg)
{
	struct conn_print *cp = arg;

	if (cp->n == cp->max)
		return 1;
	fprintf(cp->f, "%s", cp->json ? (cp->n ? "," : "") : "  ");
	fw_ct_conn_print(v, cp->f, cp->json);
	fprintf(cp->f, "%s", cp->json ? "" : "\n");
	cp->n++;
	return 0;
}

/* The first @p max connections: JSON `"conntrack":{...},"connections":[...]`, or text lines. */
static unsigned
conns_print(FILE *f, const struct fw_ct *ct, int json, unsigned max)
{
	struct conn_print cp = { f, json, 0, max };

	if (json) {
		fprintf(f, "\"conntrack\":");
		fw_ct_stats_print(ct, f, 1);
		fprintf(f, ",\"connections\":[");
		fw_ct_walk(ct, print_conn, &cp);
		fprintf(f, "]");
		return cp.n;
	}
	fprintf(f, "connections: ");
	fw_ct_stats_print(ct, f, 0);
	fprintf(f, "\n");
	fw_ct_walk(ct, print_conn, &cp);
	return cp.n;
}

static int
fw_report(const struct mpdp_stage_env *env, FILE *f, struct mpdp_errbuf *eb)
{
	struct fw_zone *z = NULL;
	struct fw_ct *ct = NULL;
	struct fw_snap s;
	struct mpdp_stage_totals in = { 0 };
	struct mpdp_abi_stage *slot;
	struct mpdp_errbuf ceb;
	uint64_t c[FW_C_N_];
	int rc = zone_get(env, &z, eb);

	if (rc == 0)
		rc = snap_take(z, env->cfg->id, &s, eb);
	if (rc != 0)
		return rc;
	if (ct_get(env, &ct, &ceb) != 0)
		ct = NULL;
	if (mpdp_stage_find(env->shm, env->cfg->id, &slot) == 0)
		mpdp_stage_totals(slot, &in);
	for (unsigned i = 0; i < FW_C_N_; i++)
		c[i] = ld(&z->c[i]);
	if (env->json) {
		fprintf(f, "{\"counters\":{\"packets\":%" PRIu64 ",\"bytes\":%" PRIu64, in.in_packets,
			in.in_bytes);
		for (unsigned i = 0; i < FW_C_N_; i++)
			fprintf(f, ",\"%s\":%" PRIu64, fw_counter_names[i], c[i]);
		fprintf(f, "},\"rules\":[");
		rules_print(f, z, &s, 1, 0, UINT_MAX, 0, SIZE_MAX);
		if (s.n_rules != 0)
			fprintf(f, ",");
		defaults_print(f, z, &s, 1, 0);
		fprintf(f, "]");
		if (ct != NULL) {
			fprintf(f, ",");
			conns_print(f, ct, 1, FW_REPORT_CONNS);
		}
		fprintf(f, "}");
		snap_free(&s);
		return 0;
	}
	fprintf(f, "firewall %s: %" PRIu64 " pkts %" PRIu64 " bytes: allowed %" PRIu64
		", denied %" PRIu64 ", to other outputs %" PRIu64 "\n", env->cfg->id,
		in.in_packets, in.in_bytes, c[FW_C_ALLOWED], c[FW_C_DENIED], c[FW_C_SENT_OTHER]);
	for (unsigned i = FW_C_NO_MATCH; i < FW_C_N_; i++)
		fprintf(f, "  %-24s %" PRIu64 "\n", fw_counter_names[i], c[i]);
	fprintf(f, "rules (%u, hits shown):\n", s.n_rules);
	rules_print(f, z, &s, 0, 0, FW_REPORT_RULES, 1, SIZE_MAX);
	defaults_print(f, z, &s, 0, 0);
	if (ct != NULL)
		conns_print(f, ct, 0, FW_REPORT_CONNS);
	snap_free(&s);
	return 0;
}

/* ---- commands ------------------------------------------------------------ */

/* A count or position argument: "WHAT: 'x' is not a number from MIN to MAX". */
static int
arg_u32(const char *s, unsigned min, unsigned max, const char *what, const char *name,
	unsigned *out, struct mpdp_errbuf *eb)
{
	uint64_t v;

	if (mpdp_parse_u64(s, min, max, &v) != 0)
		return mpdp_err_set(eb, -EINVAL, "%s: %s '%s' is not a number from %u to %u", what, name,
				    s, min, max);
	*out = (unsigned)v;
	return 0;
}

static int
arg_is_number(const char *s)
{
	return s[0] >= '0' && s[0] <= '9';
}

/* rule list [COUNT] [from POS] */
static int
cmd_rule_list(const struct mpdp_stage_env *env, void *const *ctxs, int argc, char **argv,
	      int json, FILE *out, struct mpdp_errbuf *eb)
{
	unsigned count = FW_LIST_DEFAULT, from = 1, next;
	struct fw_zone *z = NULL;
	struct fw_snap s;
	int rc;

	(void)ctxs;
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "from") == 0 && i + 1 < argc)
			rc = arg_u32(argv[++i], 1, FW_RULES_MAX, "rule list", "position", &from, eb);
		else if (arg_is_number(argv[i]))
			rc = arg_u32(argv[i], 1, FW_LIST_MAX, "rule list", "count", &count, eb);
		else
			rc = mpdp_err_set(eb, -EINVAL, "rule list: unexpected '%s'; the arguments are "
					  "[COUNT] [from POS]", argv[i]);
		if (rc != 0)
			return rc;
	}
	rc = zone_get(env, &z, eb);
	if (rc == 0)
		rc = snap_take(z, env->cfg->id, &s, eb);
	if (rc != 0)
		return rc;
	if (json) {
		fprintf(out, "{\"stage\":");
		mpdp_json_str(out, env->cfg->id);
		fprintf(out, ",\"n_rules\":%u,\"rules\":[", s.n_rules);
		next = rules_print(out, z, &s, 1, from - 1, count, 0, FW_LIST_BYTES_MAX);
		fprintf(out, "],\"next\":");
		if (next < s.n_rules)
			fprintf(out, "%u", next + 1);
		else
			fprintf(out, "null");
		fprintf(out, ",\"defaults\":[");
		defaults_print(out, z, &s, 1, 1);
		fprintf(out, "]}\n");
	} else {
		fprintf(out, "rules of %s: %u\n", env->cfg->id, s.n_rules);
		next = rules_print(out, z, &s, 0, from - 1, count, 0, FW_LIST_BYTES_MAX);
		if (next < s.n_rules)
			fprintf(out, "  ... %u more: rule list %u from %u\n", s.n_rules - next, count,
				next + 1);
		fprintf(out, "defaults\n");
		defaults_print(out, z, &s, 0, 1);
	}
	snap_free(&s);
	return 0;
}

/* The firewall's context for an edit, locked. */
static int
edit_begin(const struct mpdp_stage_env *env, void *const *ctxs, const char *what,
	   struct fw_ctx **out, struct mpdp_errbuf *eb)
{
	struct fw_ctx *ctx = ctxs != NULL && env->n_workers >= 1 ? ctxs[0] : NULL;

	if (ctx == NULL || !ctx->edit_made || ctx->committed == NULL)
		return mpdp_err_set(eb, -ENOTCONN, "%s: the firewall has no running worker", what);
	pthread_mutex_lock(&ctx->edit);
	*out = ctx;
	return 0;
}

/* Rule @p pos (1-based) of the committed set: its line. */
static const struct fw_line *
rule_line(const struct fw_set *set, unsigned pos)
{
	return &set->lines[FW_DEFAULT_LINES + pos - 1];
}

/* What an edit did: one JSON object, or a line. */
static void
edit_print(FILE *out, int json, const char *verb, unsigned pos, const struct fw_line *l,
	   unsigned n_rules)
{
	if (json) {
		fprintf(out, "{\"%s\":%u,\"rule\":", verb, pos);
		mpdp_json_strn(out, l->p, l->len);
		fprintf(out, ",\"n_rules\":%u}\n", n_rules);
	} else {
		fprintf(out, "rule %u %s: %.*s (%u rules)\n", pos, verb, (int)l->len, l->p, n_rules);
	}
}

/*
 * Parse one rule given as words; its canonical line into *line (malloc'd).
 * Errors read "rule add: 1:COL: ...".
 */
static int
rule_from_args(const struct mpdp_stage_env *env, int argc, char **argv, char **line,
	       size_t *line_len, struct mpdp_errbuf *eb)
{
	struct mpdp_errbuf peb = { "" };
	struct fw_ruleset one = { 0 };
	struct fw_names names;
	size_t len = 0, cap = 512;
	char *text, *buf;
	int rc, n;

	for (int i = 0; i < argc; i++)
		len += strlen(argv[i]) + 1;
	text = malloc(len + 1);
	if (text == NULL)
		return mpdp_err_set(eb, -ENOMEM, "rule add: no memory");
	len = 0;
	for (int i = 0; i < argc; i++)
		len += (size_t)sprintf(text + len, "%s%s", i ? " " : "", argv[i]);
	if (memchr(text, '\n', len) != NULL) {
		free(text);
		return mpdp_err_set(eb, -EINVAL, "rule add: one rule, on one line (the text has a newline)");
	}
	names_of(env, &names);
	/* An empty file name makes the message ":1:COL: ...": it becomes "rule add: 1:COL: ...". */
	rc = fw_rules_parse(text, len, "", &names, &one, &peb);
	if (rc != 0) {
		const char *m = peb.msg + (peb.msg[0] == ':');

		free(text);
		return mpdp_err_set(eb, rc, "rule add: %s", m + (m[0] == ' '));
	}
	if (one.n != 1) {
		const char *p = text + strspn(text, " \t");

		rc = strncmp(p, "default", 7) == 0 && (p[7] == ' ' || p[7] == '\t' || p[7] == '\0') ?
			mpdp_err_set(eb, -EINVAL, "rule add: '%s' sets a default, which is not a rule: "
				     "change defaults with rule load", text) :
			mpdp_err_set(eb, -EINVAL, "rule add: no rule in '%s'", text);
		fw_ruleset_free(&one);
		free(text);
		return rc;
	}
	free(text);
	buf = malloc(cap);
	n = buf == NULL ? -ENOMEM : rule_format(&one.rules[0], &names, &buf, &cap);
	fw_ruleset_free(&one);
	if (n < 0) {
		free(buf);
		return mpdp_err_set(eb, n, "rule add: %s", mpdp_strerror(n));
	}
	*line = buf;
	*line_len = (size_t)n;
	return 0;
}

/*
 * The committed set's text with the line @p ins inserted as rule @p pos
 * (1-based), or with rule @p pos deleted when @p ins is NULL.
 */
static char *
text_edit(const struct fw_set *set, unsigned pos, const char *ins, size_t ins_len, size_t *len)
{
	size_t at = pos <= set->rs.n ? (size_t)(rule_line(set, pos)->p - set->text) : set->text_len;
	size_t skip = ins == NULL ? rule_line(set, pos)->len + 1 : 0;
	size_t n = set->text_len - skip + (ins != NULL ? ins_len + 1 : 0);
	char *t = malloc(n ? n : 1);

	if (t == NULL)
		return NULL;
	memcpy(t, set->text, at);
	if (ins != NULL) {
		memcpy(t + at, ins, ins_len);
		t[at + ins_len] = '\n';
	}
	memcpy(t + at + (ins != NULL ? ins_len + 1 : 0), set->text + at + skip,
	       set->text_len - at - skip);
	*len = n;
	return t;
}

/* Add or delete rule @p pos of the committed set, keeping every other rule's counters. */
static int
edit_at(struct fw_ctx *ctx, unsigned pos, const char *ins, size_t ins_len, const char *what,
	struct mpdp_errbuf *eb)
{
	const struct fw_set *old = ctx->committed;
	struct fw_set *set = NULL;
	size_t len;
	char *text = text_edit(old, pos, ins, ins_len, &len);
	int64_t *from;
	int rc;

	if (text == NULL)
		return mpdp_err_set(eb, -ENOMEM, "%s: no memory", what);
	rc = set_parse(&ctx->env, text, len, what, &set, eb);
	free(text);
	if (rc != 0)
		return rc;
	if (set->rs.n != old->rs.n + (ins != NULL ? 1u : 0u) - (ins == NULL ? 1u : 0u)) {
		set_free(set);
		return mpdp_err_set(eb, -EPROTO, "%s: the rule set did not read back as written", what);
	}
	from = calloc(set->rs.n + 1, sizeof(*from));
	if (from == NULL) {
		set_free(set);
		return mpdp_err_set(eb, -ENOMEM, "%s: no memory", what);
	}
	for (unsigned i = 0; i < set->rs.n; i++) {
		if (ins != NULL)
			from[i] = i + 1 < pos ? (int64_t)i : i + 1 == pos ? -1 : (int64_t)i - 1;
		else
			from[i] = i + 1 < pos ? (int64_t)i : (int64_t)i + 1;
	}
	from[set->rs.n] = old->rs.n;     /* the default stays as it is */
	rc = replace(ctx, set, from, 0, what, eb);
	free(from);
	if (rc == 0)
		add(&ctx->z->c[FW_C_RULE_EDITS], 1);
	return rc;
}

/* rule add [POS] RULE */
static int
cmd_rule_add(const struct mpdp_stage_env *env, void *const *ctxs, int argc, char **argv,
	     int json, FILE *out, struct mpdp_errbuf *eb)
{
	struct fw_ctx *ctx = NULL;
	unsigned pos = 0;
	size_t line_len;
	char *line;
	int rc, a = 0;

	if (argc >= 1 && arg_is_number(argv[0])) {
		rc = arg_u32(argv[0], 1, FW_RULES_MAX, "rule add", "position", &pos, eb);
		if (rc != 0)
			return rc;
		a = 1;
	}
	if (a == argc)
		return mpdp_err_set(eb, -EINVAL, "rule add: expected a rule after %s, e.g. "
				    "rule add 1 allow tcp to any port 22", a ? "the position" : "'rule add'");
	rc = rule_from_args(env, argc - a, argv + a, &line, &line_len, eb);
	if (rc != 0)
		return rc;
	rc = edit_begin(env, ctxs, "rule add", &ctx, eb);
	if (rc != 0) {
		free(line);
		return rc;
	}
	if (pos == 0)
		pos = ctx->committed->rs.n + 1;
	if (pos > ctx->committed->rs.n + 1)
		rc = mpdp_err_set(eb, -ERANGE, "rule add: position %u is past the end: the set has %u "
				  "rules, so a new rule goes at 1 to %u", pos, ctx->committed->rs.n,
				  ctx->committed->rs.n + 1);
	else if (ctx->committed->rs.n >= FW_RULES_MAX)
		rc = mpdp_err_set(eb, -ENOSPC, "rule add: the set holds %u rules, the most it can",
				  FW_RULES_MAX);
	else
		rc = edit_at(ctx, pos, line, line_len, "rule add", eb);
	if (rc == 0) {
		const struct fw_line *l = rule_line(ctx->committed, pos);

		MPDP_LOG(NOTICE, "stage %s: rule %u added by a command: %.*s", env->cfg->id, pos,
			 (int)l->len, l->p);
		edit_print(out, json, "added", pos, l, ctx->committed->rs.n);
	}
	pthread_mutex_unlock(&ctx->edit);
	free(line);
	return rc;
}

/* rule del POS */
static int
cmd_rule_del(const struct mpdp_stage_env *env, void *const *ctxs, int argc, char **argv,
	     int json, FILE *out, struct mpdp_errbuf *eb)
{
	struct fw_ctx *ctx = NULL;
	struct fw_line gone;
	unsigned pos = 0;
	char *text = NULL;
	int rc;

	if (argc != 1)
		return mpdp_err_set(eb, -EINVAL, "rule del: expected one rule position (see rule list)");
	rc = arg_u32(argv[0], 1, FW_RULES_MAX, "rule del", "position", &pos, eb);
	if (rc == 0)
		rc = edit_begin(env, ctxs, "rule del", &ctx, eb);
	if (rc != 0)
		return rc;
	if (pos > ctx->committed->rs.n) {
		rc = ctx->committed->rs.n == 0 ?
			mpdp_err_set(eb, -ERANGE, "rule del: there is no rule %u: the set has no rules", pos) :
			mpdp_err_set(eb, -ERANGE, "rule del: there is no rule %u: the set has rules 1 to %u",
				     pos, ctx->committed->rs.n);
		pthread_mutex_unlock(&ctx->edit);
		return rc;
	}
	/* Its text, for the answer: the set that holds it is freed by the edit. */
	gone = *rule_line(ctx->committed, pos);
	text = malloc(gone.len + 1);
	if (text == NULL) {
		rc = mpdp_err_set(eb, -ENOMEM, "rule del: no memory");
	} else {
		memcpy(text, gone.p, gone.len);
		gone.p = text;
		rc = edit_at(ctx, pos, NULL, 0, "rule del", eb);
	}
	if (rc == 0) {
		MPDP_LOG(NOTICE, "stage %s: rule %u deleted by a command: %.*s", env->cfg->id, pos,
			 (int)gone.len, gone.p);
		edit_print(out, json, "deleted", pos, &gone, ctx->committed->rs.n);
	}
	pthread_mutex_unlock(&ctx->edit);
	free(text);
	return rc;
}

/* rule load FILE */
static int
cmd_rule_load(const struct mpdp_stage_env *env, void *const *ctxs, int argc, char **argv,
	      int json, FILE *out, struct mpdp_errbuf *eb)
{
	struct fw_set *set = NULL;
	struct fw_ctx *ctx = NULL;
	unsigned kept = 0, n;
	int rc;

	if (argc != 1)
		return mpdp_err_set(eb, -EINVAL, "rule load: expected one file name (read by the "
				    "firewall's process: best an absolute path)");
	rc = edit_begin(env, ctxs, "rule load", &ctx, eb);
	if (rc != 0)
		return rc;
	rc = set_load(env, argv[0], &set, eb);
	if (rc == 0)
		rc = replace_by_text(ctx, set, 0, argv[0], &kept, eb);
	if (rc == 0) {
		n = ctx->committed->rs.n;
		add(&ctx->z->c[FW_C_RELOADS], 1);
		MPDP_LOG(NOTICE, "stage %s: %u rules loaded from %s by a command", env->cfg->id, n,
			 argv[0]);
		if (json) {
			fprintf(out, "{\"loaded\":");
			mpdp_json_str(out, argv[0]);
			fprintf(out, ",\"n_rules\":%u,\"counters_kept\":%u}\n", n, kept);
		} else {
			fprintf(out, "%u rules loaded from %s; %u unchanged rules keep their counters\n",
				n, argv[0], kept);
		}
	}
	pthread_mutex_unlock(&ctx->edit);
	return rc;
}

/* conn list [COUNT] */
static int
cmd_conn_list(const struct mpdp_stage_env *env, void *const *ctxs, int argc, char **argv,
	      int json, FILE *out, struct mpdp_errbuf *eb)
{
	struct fw_ct_stats st;
	struct fw_ct *ct;
	unsigned count = FW_CONN_LIST_DEFAULT, shown;
	int rc = 0;

	(void)ctxs;
	if (argc > 1)
		return mpdp_err_set(eb, -EINVAL, "conn list: expected at most a count");
	if (argc == 1)
		rc = arg_u32(argv[0], 1, FW_CONN_LIST_MAX, "conn list", "count", &count, eb);
	if (rc == 0)
		rc = ct_get(env, &ct, eb);
	if (rc != 0)
		return rc;
	fw_ct_stats_get(ct, &st);
	if (json) {
		fprintf(out, "{");
		shown = conns_print(out, ct, 1, count);
		fprintf(out, ",\"shown\":%u}\n", shown);
	} else {
		shown = conns_print(out, ct, 0, count);
		if (shown < st.active)
			fprintf(out, "  (%u of %" PRIu64 " shown)\n", shown, st.active);
	}
	return 0;
}

static const struct mpdp_stage_command fw_commands[] = {
	{ "rule list", "[COUNT] [from POS]",
	  "the rules as the firewall runs them, with their hits, and the defaults "
	  "(COUNT rules from POS: 100 from 1; at most 10000)", cmd_rule_list },
	{ "rule add", "[POS] RULE",
	  "insert RULE (one argument, or the words that follow) at POS, 1 for first (default: "
	  "after the last); the rules file is not changed", cmd_rule_add },
	{ "rule del", "POS", "delete rule POS (see rule list); the rules file is not changed",
	  cmd_rule_del },
	{ "rule load", "FILE",
	  "replace the rule set with FILE's, as SIGHUP does with --rules (a bad file changes "
	  "nothing); FILE is read by the firewall's process", cmd_rule_load },
	{ "conn list", "[COUNT]", "tracked connections (the first 100; at most 1000)",
	  cmd_conn_list },
	{ NULL, NULL, NULL, NULL },
};

static const struct mpdp_stage_option fw_options[] = {
	{ "rules", "FILE", "the rule set (see doc/stage-fw.md); SIGHUP reloads it" },
	{ "max-conns", "N", "connections tracked (default 65536)" },
	{ "timeout", "NAME=SECONDS", "a connection timeout, e.g. tcp-established=3600 (repeatable)" },
	{ NULL, NULL, NULL },
};

void
fw_stage_fill(struct mpdp_stage *st, uint16_t n_next, const char *const *next_names)
{
	*st = (struct mpdp_stage){
		.name = "fw",
		.summary = "stateful firewall: rules from a file, first match wins, connection tracking",
		.ctx_size = sizeof(struct fw_ctx),
		.n_next = n_next,
		.next_names = next_names,
		.max_workers = 1,
		.options = fw_options,
		.init = fw_init,
		.fini = fw_fini,
		.process = fw_process,
		.tick = fw_tick,
		.report = fw_report,
		.commands = fw_commands,
	};
}

/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Printing Responses: aligned tables for people, one JSON value for scripts,
 * and rates between two samples under --watch. Every field of a Response
 * may be absent (strings NULL, lists empty, the body unset or another one
 * than asked for): the printers dispatch on the body that came.
 */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_json.h"
#include "mpdp_json.h"
#include "mpdpctl.h"

#define TBL_COLS 16

/* A table: headers, then cells row by row; columns as wide as their widest cell. */
struct tbl {
	unsigned ncol;
	const char *head[TBL_COLS];
	int right[TBL_COLS];    /* numbers are right-aligned */
	char **cell;            /* row-major; NULL where memory ran out */
	size_t ncell, cap;
};

static void
tbl_col(struct tbl *t, const char *head, int right)
{
	if (t->ncol == TBL_COLS)
		return;
	t->head[t->ncol] = head;
	t->right[t->ncol++] = right;
}

static void tbl_add(struct tbl *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
tbl_add(struct tbl *t, const char *fmt, ...)
{
	char *s = NULL;
	va_list ap;

	if (t->ncell == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 64;
		char **c = realloc(t->cell, cap * sizeof(*c));

		if (c == NULL)
			return;
		t->cell = c;
		t->cap = cap;
	}
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	t->cell[t->ncell++] = s;
}

static void
tbl_free(struct tbl *t)
{
	for (size_t i = 0; i < t->ncell; i++)
		free(t->cell[i]);
	free(t->cell);
	memset(t, 0, sizeof(*t));
}

/* Print with two blanks between columns and nothing trailing; frees the cells. */
static void
tbl_print(struct tbl *t, FILE *f, const char *indent)
{
	size_t w[TBL_COLS] = { 0 };

	for (unsigned c = 0; c < t->ncol; c++)
		w[c] = strlen(t->head[c]);
	for (size_t i = 0; i < t->ncell; i++) {
		size_t len = t->cell[i] != NULL ? strlen(t->cell[i]) : 0;
		unsigned c = (unsigned)(i % t->ncol);

		w[c] = len > w[c] ? len : w[c];
	}
	for (size_t i = 0; i < t->ncell + t->ncol; i++) {
		unsigned c = (unsigned)(i % t->ncol);
		const char *s = i < t->ncol ? t->head[c] : t->cell[i - t->ncol];
		int last = c + 1 == t->ncol || i + 1 == t->ncell + t->ncol;

		if (s == NULL)
			s = "";
		if (c == 0)
			fputs(indent, f);
		if (t->right[c])
			fprintf(f, "%*s", (int)w[c], s);
		else
			fprintf(f, "%-*s", last ? 0 : (int)w[c], s);
		fputs(last ? "\n" : "  ", f);
	}
	tbl_free(t);
}

/* ---- values ---- */

static const char *
dash(const char *s)
{
	return s != NULL && s[0] != '\0' ? s : "-";
}

/* 1234567 -> "1.23M"; below 1000 as is; NAN (unknown) -> "-". */
static void
tbl_si(struct tbl *t, double v)
{
	static const char unit[] = "kMGTPE";
	int u = -1;

	if (isnan(v)) {
		tbl_add(t, "-");
		return;
	}
	while (fabs(v) >= 1000 && u < 5) {
		v /= 1000;
		u++;
	}
	if (u < 0)
		tbl_add(t, "%.0f", v);
	else
		tbl_add(t, "%.2f%c", v, unit[u]);
}

static void
bytes_str(char *buf, size_t len, uint64_t b)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	double v = (double)b;
	int u = 0;

	while (v >= 1024 && u < 6) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%" PRIu64 " B", b);
	else
		snprintf(buf, len, "%.1f %s", v, unit[u]);
}

static void
duration_str(char *buf, size_t len, uint64_t ns)
{
	uint64_t s = ns / 1000000000u;

	if (s >= 86400)
		snprintf(buf, len, "%" PRIu64 "d %02u:%02u:%02u", s / 86400, (unsigned)(s % 86400 / 3600),
			 (unsigned)(s % 3600 / 60), (unsigned)(s % 60));
	else
		snprintf(buf, len, "%02u:%02u:%02u", (unsigned)(s / 3600), (unsigned)(s % 3600 / 60),
			 (unsigned)(s % 60));
}

/* Per second between two samples; NAN without a previous one or when the counter went back. */
static double
per_sec(uint64_t cur, uint64_t prev, int have_prev, double secs)
{
	if (!have_prev || secs <= 0 || cur < prev)
		return NAN;
	return (double)(cur - prev) / secs;
}

/* ---- the previous sample's entries, by name ---- */

static const Mpdppb__PortInfo *
prev_port(const struct mpdpctl_prev *p, const char *name)
{
	const Mpdppb__PortList *l;

	if (p == NULL || p->resp == NULL || p->resp->body_case != MPDPPB__RESPONSE__BODY_PORTS)
		return NULL;
	l = p->resp->ports;
	for (size_t i = 0; l != NULL && i < l->n_ports; i++) {
		if (l->ports[i] != NULL && strcmp(mpdpctl_str(l->ports[i]->name), name) == 0)
			return l->ports[i];
	}
	return NULL;
}

static const Mpdppb__RingInfo *
prev_ring(const struct mpdpctl_prev *p, const char *name)
{
	const Mpdppb__RingList *l;

	if (p == NULL || p->resp == NULL || p->resp->body_case != MPDPPB__RESPONSE__BODY_RINGS)
		return NULL;
	l = p->resp->rings;
	for (size_t i = 0; l != NULL && i < l->n_rings; i++) {
		if (l->rings[i] != NULL && strcmp(mpdpctl_str(l->rings[i]->name), name) == 0)
			return l->rings[i];
	}
	return NULL;
}

static const Mpdppb__StageInfo *
prev_stage(const struct mpdpctl_prev *p, const char *id)
{
	const Mpdppb__StageList *l;

	if (p == NULL || p->resp == NULL || p->resp->body_case != MPDPPB__RESPONSE__BODY_STAGES)
		return NULL;
	l = p->resp->stages;
	for (size_t i = 0; l != NULL && i < l->n_stages; i++) {
		if (l->stages[i] != NULL && strcmp(mpdpctl_str(l->stages[i]->id), id) == 0)
			return l->stages[i];
	}
	return NULL;
}

/* Rates of one entity: packets and bits per second, or NAN. */
struct port_rates {
	double rx_pps, rx_bps, tx_pps, tx_bps;
};

static void
port_rates(const Mpdppb__PortInfo *pi, const struct mpdpctl_prev *p, struct port_rates *r)
{
	const Mpdppb__PortInfo *o = prev_port(p, mpdpctl_str(pi->name));
	double secs = p != NULL ? p->secs : 0;

	r->rx_pps = per_sec(pi->rx_packets, o ? o->rx_packets : 0, o != NULL, secs);
	r->rx_bps = per_sec(pi->rx_bytes, o ? o->rx_bytes : 0, o != NULL, secs) * 8;
	r->tx_pps = per_sec(pi->tx_packets, o ? o->tx_packets : 0, o != NULL, secs);
	r->tx_bps = per_sec(pi->tx_bytes, o ? o->tx_bytes : 0, o != NULL, secs) * 8;
}

struct stage_rates {
	double in_pps, sent_pps, dropped_pps;
};

static void
stage_rates(const Mpdppb__StageInfo *si, const struct mpdpctl_prev *p, struct stage_rates *r)
{
	const Mpdppb__StageInfo *o = prev_stage(p, mpdpctl_str(si->id));
	double secs = p != NULL ? p->secs : 0;

	r->in_pps = per_sec(si->in_packets, o ? o->in_packets : 0, o != NULL, secs);
	r->sent_pps = per_sec(si->sent, o ? o->sent : 0, o != NULL, secs);
	r->dropped_pps = per_sec(si->dropped, o ? o->dropped : 0, o != NULL, secs);
}

struct ring_rates {
	double enq_pps, deq_pps;
};

/* The ring's tails count modulo 2^32. */
static double
per_sec32(uint64_t cur, uint64_t prev, int have_prev, double secs)
{
	if (!have_prev || secs <= 0)
		return NAN;
	return (double)(uint32_t)(cur - prev) / secs;
}

static void
ring_rates(const Mpdppb__RingInfo *ri, const struct mpdpctl_prev *p, struct ring_rates *r)
{
	const Mpdppb__RingInfo *o = prev_ring(p, mpdpctl_str(ri->name));
	double secs = p != NULL ? p->secs : 0;

	r->enq_pps = per_sec32(ri->enqueued, o ? o->enqueued : 0, o != NULL, secs);
	r->deq_pps = per_sec32(ri->dequeued, o ? o->dequeued : 0, o != NULL, secs);
}

/*
 * The capture that capture start started, in the list it answers with (every
 * capture, history included): the newest (highest id) on our file and
 * target, else the newest on our target. NULL when there is none.
 */
static const Mpdppb__CaptureInfo *
capture_started(const struct mpdpctl_cmd *cmd, const Mpdppb__Response *resp)
{
	const Mpdppb__CaptureReq *req = &cmd->u.capture;
	const Mpdppb__CaptureInfo *best = NULL;
	int best_file = 0;

	if (cmd->req.cmd_case != MPDPPB__REQUEST__CMD_CAPTURE ||
	    resp->body_case != MPDPPB__RESPONSE__BODY_CAPTURES || resp->captures == NULL)
		return NULL;
	for (size_t i = 0; i < resp->captures->n_captures; i++) {
		const Mpdppb__CaptureInfo *c = resp->captures->captures[i];
		int same_file;

		if (c == NULL || strcmp(mpdpctl_str(c->target), mpdpctl_str(req->target)) != 0)
			continue;
		same_file = strcmp(mpdpctl_str(c->file), mpdpctl_str(req->file)) == 0;
		if (best == NULL || same_file > best_file || (same_file == best_file && c->id > best->id)) {
			best = c;
			best_file = same_file;
		}
	}
	return best;
}

/* ---- text ---- */

static void
text_status(FILE *f, const Mpdppb__StatusResp *s)
{
	char up[32], total[32], used[32], freeb[32], page[32];
	struct tbl t = { 0 };

	duration_str(up, sizeof(up), s->uptime_ns);
	bytes_str(total, sizeof(total), s->mem_total);
	bytes_str(used, sizeof(used), s->mem_used);
	bytes_str(freeb, sizeof(freeb), s->mem_free);
	bytes_str(page, sizeof(page), s->page_size);
	fprintf(f, "instance   %s\n", dash(s->name));
	fprintf(f, "version    %s (protocol %" PRIu32 ")\n", dash(s->version), s->protocol);
	fprintf(f, "primary    pid %" PRId32 ", up %s\n", s->pid, up);
	fprintf(f, "memory     %s on %s (%s pages): %s used, %s free\n", total,
		s->hugepages ? "hugepages" : "tmpfs", page, used, freeb);
	fprintf(f, "base       0x%" PRIx64 "\n", s->base_virtaddr);
	fprintf(f, "ports      %" PRIu32 "\n", s->ports);
	fprintf(f, "stages     %" PRIu32 "\n", s->stages);
	fprintf(f, "workers    %zu\n", s->n_workers);
	if (s->n_workers == 0)
		return;
	tbl_col(&t, "ID", 1);
	tbl_col(&t, "NAME", 0);
	tbl_col(&t, "PID", 1);
	tbl_col(&t, "CPU", 1);
	for (size_t i = 0; i < s->n_workers; i++) {
		const Mpdppb__WorkerInfo *w = s->workers[i];

		if (w == NULL)
			continue;
		tbl_add(&t, "%" PRIu32, w->id);
		tbl_add(&t, "%s", dash(w->name));
		tbl_add(&t, "%" PRId32, w->pid);
		if (w->cpu < 0)
			tbl_add(&t, "-");
		else
			tbl_add(&t, "%" PRId32, w->cpu);
	}
	tbl_print(&t, f, "  ");
}

static void
text_ports(FILE *f, const Mpdppb__PortList *l, enum mpdpctl_view view, const struct mpdpctl_prev *p)
{
	struct tbl t = { 0 };

	if (view == MPDPCTL_VIEW_STATS) {
		static const char *const cols[] = { "RX-PACKETS", "RX-BYTES", "RX-MISSED", "RX-ERRORS",
						    "TX-PACKETS", "TX-BYTES", "TX-ERRORS", "TX-DROPS" };

		tbl_col(&t, "NAME", 0);
		for (size_t c = 0; c < sizeof(cols) / sizeof(cols[0]); c++)
			tbl_col(&t, cols[c], 1);
		if (p != NULL) {
			tbl_col(&t, "RX-PPS", 1);
			tbl_col(&t, "RX-BIT/S", 1);
			tbl_col(&t, "TX-PPS", 1);
			tbl_col(&t, "TX-BIT/S", 1);
		}
	} else {
		tbl_col(&t, "NAME", 0);
		tbl_col(&t, "DRIVER", 0);
		tbl_col(&t, "STATE", 0);
		tbl_col(&t, "LINK", 0);
		tbl_col(&t, "LCORE", 1);
		tbl_col(&t, "PATCH", 0);
	}
	for (size_t i = 0; i < l->n_ports; i++) {
		const Mpdppb__PortInfo *pi = l->ports[i];
		struct port_rates r;

		if (pi == NULL)
			continue;
		tbl_add(&t, "%s", dash(pi->name));
		if (view != MPDPCTL_VIEW_STATS) {
			tbl_add(&t, "%s", dash(pi->driver));
			tbl_add(&t, "%s", dash(pi->state));
			tbl_add(&t, "%s", pi->link ? "up" : "down");
			if (pi->lcore < 0)
				tbl_add(&t, "-");
			else
				tbl_add(&t, "%" PRId32, pi->lcore);
			tbl_add(&t, "%s", dash(pi->patch_to));
			continue;
		}
		tbl_add(&t, "%" PRIu64, pi->rx_packets);
		tbl_add(&t, "%" PRIu64, pi->rx_bytes);
		tbl_add(&t, "%" PRIu64, pi->rx_missed);
		tbl_add(&t, "%" PRIu64, pi->rx_errors);
		tbl_add(&t, "%" PRIu64, pi->tx_packets);
		tbl_add(&t, "%" PRIu64, pi->tx_bytes);
		tbl_add(&t, "%" PRIu64, pi->tx_errors);
		tbl_add(&t, "%" PRIu64, pi->tx_drops);
		if (p == NULL)
			continue;
		port_rates(pi, p, &r);
		tbl_si(&t, r.rx_pps);
		tbl_si(&t, r.rx_bps);
		tbl_si(&t, r.tx_pps);
		tbl_si(&t, r.tx_bps);
	}
	tbl_print(&t, f, "");
}

static void
text_rings(FILE *f, const Mpdppb__RingList *l, enum mpdpctl_view view, const struct mpdpctl_prev *p)
{
	struct tbl t = { 0 };

	tbl_col(&t, "NAME", 0);
	tbl_col(&t, "SIZE", 1);
	tbl_col(&t, "COUNT", 1);
	tbl_col(&t, "FREE", 1);
	if (view == MPDPCTL_VIEW_STATS) {
		tbl_col(&t, "USE%", 1);
		tbl_col(&t, "ENQUEUED", 1);
		tbl_col(&t, "DEQUEUED", 1);
		if (p != NULL) {
			tbl_col(&t, "ENQ/S", 1);
			tbl_col(&t, "DEQ/S", 1);
		}
	} else {
		tbl_col(&t, "SYNC", 0);
		tbl_col(&t, "CAPTURE", 1);
		tbl_col(&t, "USERS", 0);
	}
	for (size_t i = 0; i < l->n_rings; i++) {
		const Mpdppb__RingInfo *ri = l->rings[i];
		struct ring_rates r;

		if (ri == NULL)
			continue;
		tbl_add(&t, "%s", dash(ri->name));
		tbl_add(&t, "%" PRIu32, ri->size);
		tbl_add(&t, "%" PRIu32, ri->count);
		tbl_add(&t, "%" PRIu32, ri->free);
		if (view != MPDPCTL_VIEW_STATS) {
			tbl_add(&t, "%s/%s", ri->sp ? "sp" : "mp", ri->sc ? "sc" : "mc");
			if (ri->capture == 0)
				tbl_add(&t, "-");
			else
				tbl_add(&t, "%" PRIu32, ri->capture);
			tbl_add(&t, "%s", dash(ri->users));
			continue;
		}
		if (ri->size == 0)
			tbl_add(&t, "-");
		else
			tbl_add(&t, "%.0f", 100.0 * ri->count / ri->size);
		tbl_add(&t, "%" PRIu64, ri->enqueued);
		tbl_add(&t, "%" PRIu64, ri->dequeued);
		if (p == NULL)
			continue;
		ring_rates(ri, p, &r);
		tbl_si(&t, r.enq_pps);
		tbl_si(&t, r.deq_pps);
	}
	tbl_print(&t, f, "");
}

static void
text_pools(FILE *f, const Mpdppb__PoolList *l)
{
	struct tbl t = { 0 };

	tbl_col(&t, "NAME", 0);
	tbl_col(&t, "SIZE", 1);
	tbl_col(&t, "OBJ-SIZE", 1);
	tbl_col(&t, "CACHE", 1);
	tbl_col(&t, "AVAILABLE", 1);
	tbl_col(&t, "CACHED", 1);
	tbl_col(&t, "IN-USE", 1);
	tbl_col(&t, "USE%", 1);
	for (size_t i = 0; i < l->n_pools; i++) {
		const Mpdppb__PoolInfo *pi = l->pools[i];

		if (pi == NULL)
			continue;
		tbl_add(&t, "%s", dash(pi->name));
		tbl_add(&t, "%" PRIu32, pi->size);
		tbl_add(&t, "%" PRIu32, pi->obj_size);
		tbl_add(&t, "%" PRIu32, pi->cache_size);
		tbl_add(&t, "%" PRIu32, pi->available);
		tbl_add(&t, "%" PRIu32, pi->cached);
		tbl_add(&t, "%" PRIu32, pi->in_use);
		if (pi->size == 0)
			tbl_add(&t, "-");
		else
			tbl_add(&t, "%.0f", 100.0 * pi->in_use / pi->size);
	}
	tbl_print(&t, f, "");
}

static void
text_patches(FILE *f, const Mpdppb__PatchList *l)
{
	struct tbl t = { 0 };

	tbl_col(&t, "SRC", 0);
	tbl_col(&t, "DST", 0);
	for (size_t i = 0; i < l->n_patches; i++) {
		if (l->patches[i] == NULL)
			continue;
		tbl_add(&t, "%s", dash(l->patches[i]->src));
		tbl_add(&t, "%s", dash(l->patches[i]->dst));
	}
	tbl_print(&t, f, "");
}

/* "a,b,c" of a stage's inputs, or its outputs as "name:ring". */
static void
stage_io(struct tbl *t, const Mpdppb__StageInfo *s, int outputs)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);

	if (m == NULL) {
		tbl_add(t, "?");
		return;
	}
	for (size_t i = 0; !outputs && i < s->n_inputs; i++)
		fprintf(m, "%s%s", i ? "," : "", mpdpctl_str(s->inputs[i]));
	for (size_t i = 0; outputs && i < s->n_outputs; i++) {
		const Mpdppb__StageOutput *o = s->outputs[i];

		if (o != NULL)
			fprintf(m, "%s%s:%s", i ? "," : "", dash(o->name), dash(o->ring));
	}
	fclose(m);
	tbl_add(t, "%s", buf != NULL && buf[0] ? buf : "-");
	free(buf);
}

/*
 * What the supervisor says of a stage, in one cell: "-" when the primary did
 * not launch it, else its state ("backoff 0.4s" with the time left, "failed
 * (exit 1)" with how its last process ended) and how often it restarted it.
 */
static void
tbl_supervision(struct tbl *t, const Mpdppb__StageInfo *s, uint64_t now_ns)
{
	const char *state = mpdpctl_str(s->supervisor_state), *last = mpdpctl_str(s->last_exit);
	char detail[96] = "", count[32] = "";

	if (!s->supervised) {
		tbl_add(t, "-");
		return;
	}
	if (strcmp(state, "backoff") == 0)
		snprintf(detail, sizeof(detail), " %.1fs", s->backoff_until_ns > now_ns ?
			 (double)(s->backoff_until_ns - now_ns) / 1e9 : 0.0);
	else if ((strcmp(state, "failed") == 0 || strcmp(state, "stopped") == 0) && last[0] != '\0')
		snprintf(detail, sizeof(detail), " (%s)", last);
	if (s->supervisor_restarts > 0)
		snprintf(count, sizeof(count), ", %" PRIu32 " restart%s", s->supervisor_restarts,
			 s->supervisor_restarts == 1 ? "" : "s");
	tbl_add(t, "%s%s%s", state[0] != '\0' ? state : "?", detail, count);
}

static void
text_stage_list(FILE *f, const Mpdppb__StageList *l, uint64_t now_ns)
{
	struct tbl t = { 0 };

	tbl_col(&t, "ID", 0);
	tbl_col(&t, "KIND", 0);
	tbl_col(&t, "STATE", 0);
	tbl_col(&t, "PID", 1);
	tbl_col(&t, "WORKERS", 1);
	tbl_col(&t, "RESTARTS", 1);
	tbl_col(&t, "CTL", 0);
	tbl_col(&t, "SUPERVISOR", 0);
	tbl_col(&t, "INPUTS", 0);
	tbl_col(&t, "OUTPUTS", 0);
	for (size_t i = 0; i < l->n_stages; i++) {
		const Mpdppb__StageInfo *s = l->stages[i];

		if (s == NULL)
			continue;
		tbl_add(&t, "%s", dash(s->id));
		tbl_add(&t, "%s", dash(s->kind));
		tbl_add(&t, "%s", dash(s->state));
		tbl_add(&t, "%" PRId32, s->pid);
		tbl_add(&t, "%" PRIu32, s->workers);
		tbl_add(&t, "%" PRIu32, s->restarts);
		tbl_add(&t, "%s", s->registered ? "yes" : "no");
		tbl_supervision(&t, s, now_ns);
		stage_io(&t, s, 0);
		stage_io(&t, s, 1);
	}
	tbl_print(&t, f, "");
}

static void
text_stage_stats(FILE *f, const Mpdppb__StageList *l, const struct mpdpctl_prev *p, uint64_t now_ns)
{
	struct tbl t = { 0 }, o = { 0 };

	tbl_col(&t, "ID", 0);
	tbl_col(&t, "STATE", 0);
	tbl_col(&t, "IN-PACKETS", 1);
	tbl_col(&t, "IN-BYTES", 1);
	tbl_col(&t, "SENT", 1);
	tbl_col(&t, "DROPPED", 1);
	tbl_col(&t, "IN-HAND", 1);
	tbl_col(&t, "BUSY%", 1);
	tbl_col(&t, "HEARTBEAT", 1);
	tbl_col(&t, "SUPERVISOR", 0);
	if (p != NULL) {
		tbl_col(&t, "IN-PPS", 1);
		tbl_col(&t, "SENT-PPS", 1);
		tbl_col(&t, "DROP-PPS", 1);
	}
	tbl_col(&o, "ID", 0);
	tbl_col(&o, "OUTPUT", 0);
	tbl_col(&o, "RING", 0);
	tbl_col(&o, "PACKETS", 1);
	tbl_col(&o, "BYTES", 1);
	tbl_col(&o, "DROPS", 1);
	for (size_t i = 0; i < l->n_stages; i++) {
		const Mpdppb__StageInfo *s = l->stages[i];
		struct stage_rates r;

		if (s == NULL)
			continue;
		tbl_add(&t, "%s", dash(s->id));
		tbl_add(&t, "%s", dash(s->state));
		tbl_add(&t, "%" PRIu64, s->in_packets);
		tbl_add(&t, "%" PRIu64, s->in_bytes);
		tbl_add(&t, "%" PRIu64, s->sent);
		tbl_add(&t, "%" PRIu64, s->dropped);
		tbl_add(&t, "%" PRIu64, s->in_hand);
		if (s->polls == 0)
			tbl_add(&t, "-");
		else
			tbl_add(&t, "%.1f", 100.0 * (double)s->busy_polls / (double)s->polls);
		if (s->heartbeat_age_ns < 0)
			tbl_add(&t, "never");
		else if (s->heartbeat_age_ns < 1000000000)
			tbl_add(&t, "%.1fms", (double)s->heartbeat_age_ns / 1e6);
		else
			tbl_add(&t, "%.1fs", (double)s->heartbeat_age_ns / 1e9);
		tbl_supervision(&t, s, now_ns);
		if (p != NULL) {
			stage_rates(s, p, &r);
			tbl_si(&t, r.in_pps);
			tbl_si(&t, r.sent_pps);
			tbl_si(&t, r.dropped_pps);
		}
		for (size_t k = 0; k < s->n_outputs; k++) {
			const Mpdppb__StageOutput *so = s->outputs[k];

			if (so == NULL)
				continue;
			tbl_add(&o, "%s", dash(s->id));
			tbl_add(&o, "%s", dash(so->name));
			tbl_add(&o, "%s", dash(so->ring));
			tbl_add(&o, "%" PRIu64, so->packets);
			tbl_add(&o, "%" PRIu64, so->bytes);
			tbl_add(&o, "%" PRIu64, so->drops);
		}
	}
	tbl_print(&t, f, "");
	if (o.ncell > 0) {
		fputc('\n', f);
		tbl_print(&o, f, "");
	}
	tbl_free(&o);
}

static void
text_captures(FILE *f, const Mpdppb__CaptureList *l)
{
	struct tbl t = { 0 };

	tbl_col(&t, "ID", 1);
	tbl_col(&t, "TARGET", 0);
	tbl_col(&t, "STATE", 0);
	tbl_col(&t, "SNAPLEN", 1);
	tbl_col(&t, "LIMIT", 1);
	tbl_col(&t, "MATCHED", 1);
	tbl_col(&t, "WRITTEN", 1);
	tbl_col(&t, "DROPPED", 1);
	tbl_col(&t, "FILE", 0);
	tbl_col(&t, "FILTER", 0);
	tbl_col(&t, "ERROR", 0);
	for (size_t i = 0; i < l->n_captures; i++) {
		const Mpdppb__CaptureInfo *c = l->captures[i];

		if (c == NULL)
			continue;
		tbl_add(&t, "%" PRIu32, c->id);
		tbl_add(&t, "%s", dash(c->target));
		tbl_add(&t, "%s", dash(c->state));
		if (c->snaplen == 0)
			tbl_add(&t, "max");
		else
			tbl_add(&t, "%" PRIu32, c->snaplen);
		if (c->limit == 0)
			tbl_add(&t, "-");
		else
			tbl_add(&t, "%" PRIu64, c->limit);
		tbl_add(&t, "%" PRIu64, c->matched);
		tbl_add(&t, "%" PRIu64, c->written);
		tbl_add(&t, "%" PRIu64, c->dropped);
		tbl_add(&t, "%s", dash(c->file));
		tbl_add(&t, "%s", dash(c->filter));
		tbl_add(&t, "%s", dash(c->error));
	}
	tbl_print(&t, f, "");
}

/* Text that comes as is (a stage's output, a message): with its line ended. */
static void
text_verbatim(FILE *f, const char *s)
{
	size_t len = strlen(s);

	if (len == 0)
		return;
	fwrite(s, 1, len, f);
	if (s[len - 1] != '\n')
		fputc('\n', f);
}

void
mpdpctl_print_text(FILE *f, const struct mpdpctl_cmd *cmd, const Mpdppb__Response *resp,
		   const struct mpdpctl_prev *prev)
{
	enum mpdpctl_view view = cmd->view;
	const char *msg = mpdpctl_str(resp->message);

	if (mpdpctl_body(resp) == NULL) {
		text_verbatim(f, msg);
		return;
	}
	/* A change that answers with figures too (capture stop): what was done, then them. */
	if (view == MPDPCTL_VIEW_ACTION)
		text_verbatim(f, msg);
	switch (resp->body_case) {
	case MPDPPB__RESPONSE__BODY_STATUS_RESP:
		text_status(f, resp->status_resp);
		break;
	case MPDPPB__RESPONSE__BODY_PORTS:
		text_ports(f, resp->ports, view, prev);
		break;
	case MPDPPB__RESPONSE__BODY_RINGS:
		text_rings(f, resp->rings, view, prev);
		break;
	case MPDPPB__RESPONSE__BODY_POOLS:
		text_pools(f, resp->pools);
		break;
	case MPDPPB__RESPONSE__BODY_PATCHES:
		text_patches(f, resp->patches);
		break;
	case MPDPPB__RESPONSE__BODY_STAGES:
		if (view == MPDPCTL_VIEW_STATS)
			text_stage_stats(f, resp->stages, prev, resp->now_ns);
		else
			text_stage_list(f, resp->stages, resp->now_ns);
		break;
	case MPDPPB__RESPONSE__BODY_STAGE_CMD:
		text_verbatim(f, resp->stage_cmd->output != NULL && resp->stage_cmd->output[0] ?
			      resp->stage_cmd->output : msg);
		break;
	case MPDPPB__RESPONSE__BODY_CAPTURES:
		/* capture start: the id of the capture it started, alone, for scripts. */
		if (view == MPDPCTL_VIEW_CAPTURE && capture_started(cmd, resp) != NULL)
			fprintf(f, "%" PRIu32 "\n", capture_started(cmd, resp)->id);
		else if (view == MPDPCTL_VIEW_CAPTURE)
			text_verbatim(f, msg);
		else
			text_captures(f, resp->captures);
		break;
	default:
		text_verbatim(f, msg);
		break;
	}
}

/* ---- JSON ---- */

const ProtobufCMessage *
mpdpctl_body(const Mpdppb__Response *resp)
{
	const ProtobufCMessageDescriptor *d = resp->base.descriptor;

	for (unsigned i = 0; d != NULL && i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *fd = &d->fields[i];
		const ProtobufCMessage *m;

		if (!(fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) || fd->id != (uint32_t)resp->body_case ||
		    fd->type != PROTOBUF_C_TYPE_MESSAGE)
			continue;
		memcpy(&m, (const char *)resp + fd->offset, sizeof(m));
		return m;
	}
	return NULL;
}

static void
json_num(FILE *f, const char *key, double v)
{
	fprintf(f, ",\"%s\":", key);
	if (isfinite(v))
		fprintf(f, "%.3f", v);
	else
		fputs("null", f);
}

/* ,"rates":[...] of a sample under --watch, for the lists that count. */
static void
json_rates(FILE *f, const Mpdppb__Response *resp, const struct mpdpctl_prev *p)
{
	switch (resp->body_case) {
	case MPDPPB__RESPONSE__BODY_PORTS:
		fputs(",\"rates\":[", f);
		for (size_t i = 0, n = 0; i < resp->ports->n_ports; i++) {
			const Mpdppb__PortInfo *pi = resp->ports->ports[i];
			struct port_rates r;

			if (pi == NULL)
				continue;
			port_rates(pi, p, &r);
			fprintf(f, "%s{\"name\":", n++ ? "," : "");
			mpdp_json_str(f, mpdpctl_str(pi->name));
			json_num(f, "rx_pps", r.rx_pps);
			json_num(f, "rx_bps", r.rx_bps);
			json_num(f, "tx_pps", r.tx_pps);
			json_num(f, "tx_bps", r.tx_bps);
			fputc('}', f);
		}
		fputc(']', f);
		break;
	case MPDPPB__RESPONSE__BODY_RINGS:
		fputs(",\"rates\":[", f);
		for (size_t i = 0, n = 0; i < resp->rings->n_rings; i++) {
			const Mpdppb__RingInfo *ri = resp->rings->rings[i];
			struct ring_rates r;

			if (ri == NULL)
				continue;
			ring_rates(ri, p, &r);
			fprintf(f, "%s{\"name\":", n++ ? "," : "");
			mpdp_json_str(f, mpdpctl_str(ri->name));
			json_num(f, "enqueued_pps", r.enq_pps);
			json_num(f, "dequeued_pps", r.deq_pps);
			fputc('}', f);
		}
		fputc(']', f);
		break;
	case MPDPPB__RESPONSE__BODY_STAGES:
		fputs(",\"rates\":[", f);
		for (size_t i = 0, n = 0; i < resp->stages->n_stages; i++) {
			const Mpdppb__StageInfo *si = resp->stages->stages[i];
			struct stage_rates r;

			if (si == NULL)
				continue;
			stage_rates(si, p, &r);
			fprintf(f, "%s{\"id\":", n++ ? "," : "");
			mpdp_json_str(f, mpdpctl_str(si->id));
			json_num(f, "in_pps", r.in_pps);
			json_num(f, "sent_pps", r.sent_pps);
			json_num(f, "dropped_pps", r.dropped_pps);
			fputc('}', f);
		}
		fputc(']', f);
		break;
	default:
		break;
	}
}

/* A stage's JSON output, trimmed; "" when there is none. */
static void
stage_output(const Mpdppb__Response *resp, const char **s, size_t *len)
{
	const char *o = mpdpctl_str(resp->stage_cmd->output);
	size_t n = strlen(o);

	while (n > 0 && strchr(" \t\r\n", o[n - 1]) != NULL)
		n--;
	while (n > 0 && strchr(" \t\r\n", o[0]) != NULL) {
		o++;
		n--;
	}
	*s = o;
	*len = n;
}

void
mpdpctl_print_json(FILE *f, const struct mpdpctl_cmd *cmd, const Mpdppb__Response *resp,
		   const struct mpdpctl_prev *prev)
{
	const ProtobufCMessage *body = mpdpctl_body(resp);
	const char *out;
	size_t len;
	unsigned n;

	if (resp->status != 0 || body == NULL) {
		fprintf(f, "{\"status\":%" PRId32, resp->status);
		if (resp->status != 0) {
			fputs(",\"error\":", f);
			mpdp_json_str(f, mpdp_ctl_status_name(resp->status));
		}
		fputs(",\"message\":", f);
		mpdp_json_str(f, mpdpctl_str(resp->message));
		fputs("}\n", f);
		return;
	}
	if (resp->body_case == MPDPPB__RESPONSE__BODY_STAGE_CMD &&
	    cmd->req.cmd_case == MPDPPB__REQUEST__CMD_STAGE_CMD && cmd->u.stage_cmd.json) {
		stage_output(resp, &out, &len);
		if (len > 0) {
			fwrite(out, 1, len, f);
			fputc('\n', f);
		} else {
			fputs("{\"status\":0,\"message\":", f);
			mpdp_json_str(f, mpdpctl_str(resp->message));
			fputs("}\n", f);
		}
		return;
	}
	fputc('{', f);
	n = mpdpctl_json_members(f, body, 0);
	if (cmd->view == MPDPCTL_VIEW_CAPTURE && capture_started(cmd, resp) != NULL)
		fprintf(f, "%s\"capture_id\":%" PRIu32, n++ ? "," : "", capture_started(cmd, resp)->id);
	if (prev != NULL) {
		fprintf(f, "%s\"now_ns\":%" PRIu64, n ? "," : "", resp->now_ns);
		if (cmd->view == MPDPCTL_VIEW_STATS)
			json_rates(f, resp, prev);
	}
	fputs("}\n", f);
}

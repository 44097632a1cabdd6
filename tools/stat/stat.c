/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mpdp-stat: what an instance is doing, read from its shared memory: ports,
 * stages, rings and pools, once (as text or one JSON object), or every few
 * seconds with rates (--watch) until the primary exits or a stop signal.
 *
 * It only reads. The port table is zeroed and stage slots are freed as the
 * instance shuts down, so every sample is merged into what was seen before:
 * port counters only ever grow (a zeroed or half-zeroed slot cannot lower
 * them), and an entity that vanished keeps its last values. That is what
 * the final frame and the summary are made of.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "mpdp_err.h"
#include "mpdp_json.h"
#include "mpdp_pool.h"
#include "mpdp_ring.h"
#include "mpdp_shm.h"
#include "mpdp_stage.h"
#include "mpdp_time.h"

#define STAT_ENTRY_MAX MPDP_MEMZONE_MAX    /* stages, rings and pools are memzones */
#define STAT_TICK_NS 20000000ull           /* sampling period, for first packet and last move */
#define STAT_WATCH_MIN 0.05
#define STAT_WATCH_MAX 3600.0
#define STAT_LINE_MAX 256
#define STAT_LINES_MAX (4 + MPDP_PORT_MAX + STAT_ENTRY_MAX)
#define STAT_NAME_COL 8                    /* narrowest name column */

struct stat_port {
	char name[MPDP_NAME_MAX];
	char driver[MPDP_DRIVER_NAME_MAX];
	uint32_t link;
	int present;                      /* in the latest sample */
	struct mpdp_abi_port_queue c;     /* summed over the queues, merged by max */
};

struct stat_stage {
	char id[MPDP_NAME_MAX];
	char kind[MPDP_STAGE_KIND_MAX];
	uint32_t state;
	int pid;
	int present;
	unsigned n_next;
	char next[MPDP_STAGE_IO_MAX][MPDP_STAGE_NEXT_NAME_MAX];
	char out[MPDP_STAGE_IO_MAX][MPDP_NAME_MAX];
	struct mpdp_stage_totals t;
};

struct stat_ring {
	char name[MPDP_NAME_MAX];
	unsigned count, size;
	int present;
};

struct stat_pool {
	char name[MPDP_NAME_MAX];
	unsigned in_use, total;
	int present;
};

/* Everything seen so far, in order of first appearance. */
struct stat_view {
	unsigned n_ports, n_stages, n_rings, n_pools;
	struct stat_port ports[MPDP_PORT_MAX];
	struct stat_stage stages[STAT_ENTRY_MAX];
	struct stat_ring rings[STAT_ENTRY_MAX];
	struct stat_pool pools[STAT_ENTRY_MAX];
};

/* Port sums for the summary. */
struct stat_sums {
	uint64_t in, out, port_drops, stage_drops;
};

enum stat_end { STAT_RUNNING, STAT_PRIMARY_EXITED, STAT_SIGNALLED };

struct stat_ctx {
	const char *instance;
	const char *runtime_dir;
	double watch;                     /* seconds between frames; 0: one snapshot */
	int json;
	int tty;
	struct mpdp_shm *shm;
	struct stat_view cur;             /* merged up to the latest sample */
	struct stat_view prev;            /* as of the previous frame, for rates */
	uint64_t start_ns, prev_ns;       /* CLOCK_MONOTONIC: start, previous frame */
	uint64_t first_ns, moved_ns;      /* first packet seen, last port counter move (0: none) */
	uint64_t moved_sum;               /* port counters summed, to see them move */
	uint64_t out_base;                /* packets out already when the first packet was seen */
	enum stat_end end;
	int end_sig;
	unsigned frames;
	unsigned drawn;                   /* lines of the frame on screen (tty) */
	unsigned n_lines;
	char lines[STAT_LINES_MAX][STAT_LINE_MAX];
};

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: mpdp-stat [--name NAME] [--runtime-dir DIR] [--watch SECONDS] [--json]\n"
		"Print an instance's ports, stages, rings and pools from its shared memory.\n"
		"  --name NAME          instance (default %s)\n"
		"  --runtime-dir DIR    parent of the instance directory\n"
		"  --watch SECONDS      redraw every SECONDS (%.2f to %.0f) with rates, one line per\n"
		"                       port and per stage, until the primary exits or SIGINT/SIGTERM;\n"
		"                       then the final frame and a summary: packets in (port rx),\n"
		"                       out (port tx), dropped (port missed, drops and errors, stage\n"
		"                       drops), and Mpps: packets out over the time from the first\n"
		"                       packet seen to the last move of the port counters (packets\n"
		"                       already out when mpdp-stat started are left out)\n"
		"  --json               one JSON object (not with --watch)\n"
		"  -h, --help           this text\n"
		"  --version            print the version\n"
		"exit: 0, 1 when the instance cannot be read, 2 for bad arguments\n",
		MPDP_SHM_DEFAULT_NAME, STAT_WATCH_MIN, STAT_WATCH_MAX);
}

static int
bad_arg(const char *msg, const char *arg)
{
	fprintf(stderr, "mpdp-stat: %s%s\n", msg, arg);
	fprintf(stderr, "mpdp-stat: see --help\n");
	return 2;
}

/* Returns 0 to run, 1 when --help/--version was printed, 2 for a bad argument. */
static int
parse_args(struct stat_ctx *sc, int argc, char **argv)
{
	enum { OPT_NAME = 1, OPT_RUNTIME_DIR, OPT_WATCH, OPT_JSON, OPT_VERSION };
	static const struct option opts[] = {
		{ "name", required_argument, NULL, OPT_NAME },
		{ "runtime-dir", required_argument, NULL, OPT_RUNTIME_DIR },
		{ "watch", required_argument, NULL, OPT_WATCH },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ NULL, 0, NULL, 0 },
	};
	char *end;
	int opt;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (opt) {
		case OPT_NAME: sc->instance = optarg; break;
		case OPT_RUNTIME_DIR: sc->runtime_dir = optarg; break;
		case OPT_WATCH:
			errno = 0;
			sc->watch = strtod(optarg, &end);
			if (errno != 0 || end == optarg || *end != '\0' || !isfinite(sc->watch) ||
			    sc->watch < STAT_WATCH_MIN || sc->watch > STAT_WATCH_MAX)
				return bad_arg("--watch expects seconds from 0.05 to 3600, not ", optarg);
			break;
		case OPT_JSON: sc->json = 1; break;
		case 'h': usage(stdout); return 1;
		case OPT_VERSION: printf("mpdp-stat %s\n", MPDP_CFG_VERSION); return 1;
		case ':': return bad_arg("option needs a value: ", argv[optind - 1]);
		default: return bad_arg("unknown option ", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return bad_arg("unexpected argument ", argv[optind]);
	if (sc->json && sc->watch > 0)
		return bad_arg("--json prints one snapshot; it does not combine with --watch", "");
	return 0;
}

/* ---- sampling: copy what shared memory says, merge it into the view ---- */

static uint64_t
umax(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

static void
copy_name(char *dst, const char *src, size_t size)
{
	memcpy(dst, src, size);
	dst[size - 1] = '\0';
}

static struct stat_port *
port_get(struct stat_view *v, const char *name)
{
	for (unsigned i = 0; i < v->n_ports; i++) {
		if (strcmp(v->ports[i].name, name) == 0)
			return &v->ports[i];
	}
	if (v->n_ports == MPDP_PORT_MAX)
		return NULL;
	memset(&v->ports[v->n_ports], 0, sizeof(v->ports[0]));
	snprintf(v->ports[v->n_ports].name, MPDP_NAME_MAX, "%s", name);
	return &v->ports[v->n_ports++];
}

static void
queue_add(struct mpdp_abi_port_queue *sum, const struct mpdp_abi_port_queue *q)
{
	sum->rx_packets += __atomic_load_n(&q->rx_packets, __ATOMIC_RELAXED);
	sum->rx_bytes += __atomic_load_n(&q->rx_bytes, __ATOMIC_RELAXED);
	sum->rx_missed += __atomic_load_n(&q->rx_missed, __ATOMIC_RELAXED);
	sum->rx_errors += __atomic_load_n(&q->rx_errors, __ATOMIC_RELAXED);
	sum->tx_packets += __atomic_load_n(&q->tx_packets, __ATOMIC_RELAXED);
	sum->tx_bytes += __atomic_load_n(&q->tx_bytes, __ATOMIC_RELAXED);
	sum->tx_errors += __atomic_load_n(&q->tx_errors, __ATOMIC_RELAXED);
	sum->tx_drops += __atomic_load_n(&q->tx_drops, __ATOMIC_RELAXED);
}

/* Counters only grow while a port exists: a slot being zeroed at exit cannot lower them. */
static void
queue_merge(struct mpdp_abi_port_queue *m, const struct mpdp_abi_port_queue *s)
{
	m->rx_packets = umax(m->rx_packets, s->rx_packets);
	m->rx_bytes = umax(m->rx_bytes, s->rx_bytes);
	m->rx_missed = umax(m->rx_missed, s->rx_missed);
	m->rx_errors = umax(m->rx_errors, s->rx_errors);
	m->tx_packets = umax(m->tx_packets, s->tx_packets);
	m->tx_bytes = umax(m->tx_bytes, s->tx_bytes);
	m->tx_errors = umax(m->tx_errors, s->tx_errors);
	m->tx_drops = umax(m->tx_drops, s->tx_drops);
}

static void
sample_ports(struct stat_ctx *sc)
{
	const struct mpdp_abi_header *h = mpdp_shm_header(sc->shm);

	for (unsigned i = 0; i < sc->cur.n_ports; i++)
		sc->cur.ports[i].present = 0;
	for (unsigned i = 0; i < MPDP_PORT_MAX; i++) {
		const struct mpdp_abi_port *p = &h->ports[i];
		struct mpdp_abi_port_queue sum = { 0 };
		char name[MPDP_NAME_MAX], again[MPDP_NAME_MAX];
		struct stat_port *e;
		uint32_t nq;

		if (__atomic_load_n(&p->state, __ATOMIC_ACQUIRE) == MPDP_PORT_FREE)
			continue;
		copy_name(name, p->name, sizeof(name));
		nq = __atomic_load_n(&p->n_queues, __ATOMIC_RELAXED);
		nq = nq == 0 ? 1 : nq > MPDP_PORT_QUEUE_MAX ? MPDP_PORT_QUEUE_MAX : nq;
		for (uint32_t q = 0; q < nq; q++)
			queue_add(&sum, &p->queues[q]);
		/* The slot may have been freed (or reused) while it was read. */
		copy_name(again, p->name, sizeof(again));
		if (name[0] == '\0' || strcmp(name, again) != 0 ||
		    __atomic_load_n(&p->state, __ATOMIC_ACQUIRE) == MPDP_PORT_FREE)
			continue;
		e = port_get(&sc->cur, name);
		if (e == NULL)
			continue;
		copy_name(e->driver, p->driver, sizeof(e->driver));
		e->link = __atomic_load_n(&p->link, __ATOMIC_RELAXED);
		queue_merge(&e->c, &sum);
		e->present = 1;
	}
}

static int
sample_stage(struct mpdp_abi_stage *slot, void *arg)
{
	struct stat_view *v = arg;
	uint32_t state = mpdp_stage_slot_state(slot);
	char id[MPDP_NAME_MAX];
	struct stat_stage *e = NULL;

	copy_name(id, slot->id, sizeof(id));
	if (state == MPDP_STAGE_FREE || id[0] == '\0')
		return 0;
	for (unsigned i = 0; i < v->n_stages && e == NULL; i++) {
		if (strcmp(v->stages[i].id, id) == 0)
			e = &v->stages[i];
	}
	if (e == NULL) {
		if (v->n_stages == STAT_ENTRY_MAX)
			return 0;
		e = &v->stages[v->n_stages++];
		memset(e, 0, sizeof(*e));
		snprintf(e->id, sizeof(e->id), "%s", id);
	}
	copy_name(e->kind, slot->kind, sizeof(e->kind));
	e->state = state;
	e->pid = mpdp_stage_slot_pid(slot);
	e->n_next = slot->n_next < MPDP_STAGE_IO_MAX ? slot->n_next : MPDP_STAGE_IO_MAX;
	for (unsigned k = 0; k < e->n_next; k++) {
		copy_name(e->next[k], slot->next[k], sizeof(e->next[k]));
		copy_name(e->out[k], slot->out[k], sizeof(e->out[k]));
	}
	mpdp_stage_totals(slot, &e->t);
	e->present = 1;
	return 0;
}

static int
sample_ring(const struct mpdp_shm_memzone *mz, void *arg)
{
	struct stat_view *v = arg;
	const struct mpdp_ring *r = mz->addr;
	struct stat_ring *e = NULL;

	for (unsigned i = 0; i < v->n_rings && e == NULL; i++) {
		if (strcmp(v->rings[i].name, mz->name) == 0)
			e = &v->rings[i];
	}
	if (e == NULL) {
		if (v->n_rings == STAT_ENTRY_MAX)
			return 0;
		e = &v->rings[v->n_rings++];
		snprintf(e->name, sizeof(e->name), "%s", mz->name);
	}
	e->count = mpdp_ring_count(r);
	e->size = r->size;
	e->present = 1;
	return 0;
}

static int
sample_pool(const struct mpdp_shm_memzone *mz, void *arg)
{
	struct stat_view *v = arg;
	const struct mpdp_pool *pool = mz->addr;
	struct stat_pool *e = NULL;
	unsigned avail;

	for (unsigned i = 0; i < v->n_pools && e == NULL; i++) {
		if (strcmp(v->pools[i].name, mz->name) == 0)
			e = &v->pools[i];
	}
	if (e == NULL) {
		if (v->n_pools == STAT_ENTRY_MAX)
			return 0;
		e = &v->pools[v->n_pools++];
		snprintf(e->name, sizeof(e->name), "%s", mz->name);
	}
	/* Ring and caches are read one after the other: the sum can pass n for a moment. */
	avail = mpdp_pool_avail_count(pool);
	e->total = pool->n;
	e->in_use = avail > pool->n ? 0 : pool->n - avail;
	e->present = 1;
	return 0;
}

static void
sums_get(const struct stat_view *v, struct stat_sums *s)
{
	memset(s, 0, sizeof(*s));
	for (unsigned i = 0; i < v->n_ports; i++) {
		const struct mpdp_abi_port_queue *c = &v->ports[i].c;

		s->in += c->rx_packets;
		s->out += c->tx_packets;
		s->port_drops += c->rx_missed + c->rx_errors + c->tx_errors + c->tx_drops;
	}
	for (unsigned i = 0; i < v->n_stages; i++)
		s->stage_drops += v->stages[i].t.dropped;
}

static void
sample(struct stat_ctx *sc)
{
	struct stat_sums s;
	uint64_t now, moved;

	sample_ports(sc);
	for (unsigned i = 0; i < sc->cur.n_stages; i++)
		sc->cur.stages[i].present = 0;
	for (unsigned i = 0; i < sc->cur.n_rings; i++)
		sc->cur.rings[i].present = 0;
	for (unsigned i = 0; i < sc->cur.n_pools; i++)
		sc->cur.pools[i].present = 0;
	mpdp_stage_walk(sc->shm, sample_stage, &sc->cur);
	mpdp_shm_memzone_walk(sc->shm, MPDP_MZ_KIND_RING, sample_ring, &sc->cur);
	mpdp_shm_memzone_walk(sc->shm, MPDP_MZ_KIND_POOL, sample_pool, &sc->cur);

	now = mpdp_time_ns();
	sums_get(&sc->cur, &s);
	moved = s.in + s.out + s.port_drops;
	if (sc->first_ns == 0 && moved != 0) {
		sc->first_ns = sc->moved_ns = now;
		sc->out_base = s.out;
	}
	if (moved != sc->moved_sum)
		sc->moved_ns = now;
	sc->moved_sum = moved;
}

/* ---- one snapshot: text or JSON ---- */

static const char *
link_name(uint32_t link)
{
	return link ? "up" : "down";
}

static const char *
stage_state(const struct stat_stage *e)
{
	return e->present ? mpdp_stage_state_name(e->state) : "gone";
}

static int
name_width(const struct stat_view *v)
{
	size_t w = STAT_NAME_COL;

	for (unsigned i = 0; i < v->n_ports; i++)
		w = strlen(v->ports[i].name) > w ? strlen(v->ports[i].name) : w;
	for (unsigned i = 0; i < v->n_stages; i++)
		w = strlen(v->stages[i].id) > w ? strlen(v->stages[i].id) : w;
	return (int)w;
}

static void
print_text(struct stat_ctx *sc, FILE *f)
{
	const struct mpdp_abi_header *h = mpdp_shm_header(sc->shm);
	const struct stat_view *v = &sc->cur;
	struct timespec rt;
	int w = name_width(v);
	double up;

	clock_gettime(CLOCK_REALTIME, &rt);
	up = ((double)rt.tv_sec * 1e9 + (double)rt.tv_nsec - (double)h->created_ns) / 1e9;
	fprintf(f, "instance %s: primary pid %d, up %.1f s, %" PRIu64 " MiB on %s\n", h->name,
		h->primary_pid, up > 0 ? up : 0, h->size >> 20, h->hugepages ? "hugepages" : "tmpfs");

	fprintf(f, "ports\n  %-*s %-10s %-4s %12s %12s %10s %10s %10s\n", w, "NAME", "DRIVER", "LINK",
		"RX PKTS", "TX PKTS", "MISSED", "DROPS", "ERRORS");
	for (unsigned i = 0; i < v->n_ports; i++) {
		const struct stat_port *p = &v->ports[i];

		fprintf(f, "  %-*s %-10s %-4s %12" PRIu64 " %12" PRIu64 " %10" PRIu64 " %10" PRIu64
			" %10" PRIu64 "\n", w, p->name, p->driver, link_name(p->link), p->c.rx_packets,
			p->c.tx_packets, p->c.rx_missed, p->c.tx_drops, p->c.rx_errors + p->c.tx_errors);
	}

	fprintf(f, "stages\n  %-*s %-10s %-8s %8s %12s %12s %10s %8s\n", w, "ID", "KIND", "STATE",
		"PID", "IN PKTS", "SENT", "DROPPED", "IN HAND");
	for (unsigned i = 0; i < v->n_stages; i++) {
		const struct stat_stage *s = &v->stages[i];

		fprintf(f, "  %-*s %-10s %-8s %8d %12" PRIu64 " %12" PRIu64 " %10" PRIu64 " %8" PRIu64
			"\n", w, s->id, s->kind, stage_state(s), s->pid, s->t.in_packets, s->t.sent,
			s->t.dropped, s->t.in_hand);
		for (unsigned k = 1; k < s->n_next; k++)
			fprintf(f, "  %-*s   out %s -> %s: %" PRIu64 " pkts, %" PRIu64 " dropped\n", w, "",
				s->next[k], s->out[k][0] ? s->out[k] : "(unbound)", s->t.out_packets[k],
				s->t.out_drops[k]);
		fprintf(f, "  %-*s   drop: %" PRIu64 " pkts by verdict\n", w, "",
			s->t.out_packets[MPDP_STAGE_NEXT_DROP]);
	}

	fprintf(f, "rings\n  %-*s %s\n", w, "NAME", "COUNT/SIZE");
	for (unsigned i = 0; i < v->n_rings; i++)
		fprintf(f, "  %-*s %u/%u\n", w, v->rings[i].name, v->rings[i].count, v->rings[i].size);
	fprintf(f, "pools\n  %-*s %s\n", w, "NAME", "IN USE/TOTAL");
	for (unsigned i = 0; i < v->n_pools; i++)
		fprintf(f, "  %-*s %u/%u\n", w, v->pools[i].name, v->pools[i].in_use, v->pools[i].total);
}

static void
print_json(struct stat_ctx *sc, FILE *f)
{
	const struct mpdp_abi_header *h = mpdp_shm_header(sc->shm);
	const struct stat_view *v = &sc->cur;

	fprintf(f, "{\"instance\": ");
	mpdp_json_str(f, h->name);
	fprintf(f, ", \"primary_pid\": %d, \"hugepages\": %s, \"size\": %" PRIu64 ",\n \"ports\": [",
		h->primary_pid, h->hugepages ? "true" : "false", h->size);
	for (unsigned i = 0; i < v->n_ports; i++) {
		const struct stat_port *p = &v->ports[i];

		fprintf(f, "%s\n  {\"name\": ", i ? "," : "");
		mpdp_json_str(f, p->name);
		fprintf(f, ", \"driver\": ");
		mpdp_json_str(f, p->driver);
		fprintf(f, ", \"link\": \"%s\", \"rx_packets\": %" PRIu64 ", \"rx_bytes\": %" PRIu64
			", \"tx_packets\": %" PRIu64 ", \"tx_bytes\": %" PRIu64 ", \"missed\": %" PRIu64
			", \"drops\": %" PRIu64 ", \"rx_errors\": %" PRIu64 ", \"tx_errors\": %" PRIu64
			", \"errors\": %" PRIu64 "}", link_name(p->link), p->c.rx_packets, p->c.rx_bytes,
			p->c.tx_packets, p->c.tx_bytes, p->c.rx_missed, p->c.tx_drops, p->c.rx_errors,
			p->c.tx_errors, p->c.rx_errors + p->c.tx_errors);
	}
	fprintf(f, "],\n \"stages\": [");
	for (unsigned i = 0; i < v->n_stages; i++) {
		const struct stat_stage *s = &v->stages[i];

		fprintf(f, "%s\n  {\"id\": ", i ? "," : "");
		mpdp_json_str(f, s->id);
		fprintf(f, ", \"kind\": ");
		mpdp_json_str(f, s->kind);
		fprintf(f, ", \"state\": \"%s\", \"pid\": %d, \"in_packets\": %" PRIu64 ", \"in_bytes\": %"
			PRIu64 ", \"sent\": %" PRIu64 ", \"dropped\": %" PRIu64 ", \"in_hand\": %" PRIu64
			", \"dropped_by_verdict\": %" PRIu64 ", \"outputs\": [", stage_state(s), s->pid,
			s->t.in_packets, s->t.in_bytes, s->t.sent, s->t.dropped, s->t.in_hand,
			s->t.out_packets[MPDP_STAGE_NEXT_DROP]);
		for (unsigned k = 1; k < s->n_next; k++) {
			fprintf(f, "%s{\"name\": ", k > 1 ? ", " : "");
			mpdp_json_str(f, s->next[k]);
			fprintf(f, ", \"ring\": ");
			if (s->out[k][0])
				mpdp_json_str(f, s->out[k]);
			else
				fprintf(f, "null");
			fprintf(f, ", \"packets\": %" PRIu64 ", \"bytes\": %" PRIu64 ", \"dropped\": %"
				PRIu64 "}", s->t.out_packets[k], s->t.out_bytes[k], s->t.out_drops[k]);
		}
		fprintf(f, "]}");
	}
	fprintf(f, "],\n \"rings\": [");
	for (unsigned i = 0; i < v->n_rings; i++) {
		fprintf(f, "%s\n  {\"name\": ", i ? "," : "");
		mpdp_json_str(f, v->rings[i].name);
		fprintf(f, ", \"count\": %u, \"size\": %u}", v->rings[i].count, v->rings[i].size);
	}
	fprintf(f, "],\n \"pools\": [");
	for (unsigned i = 0; i < v->n_pools; i++) {
		fprintf(f, "%s\n  {\"name\": ", i ? "," : "");
		mpdp_json_str(f, v->pools[i].name);
		fprintf(f, ", \"in_use\": %u, \"total\": %u}", v->pools[i].in_use, v->pools[i].total);
	}
	fprintf(f, "]}\n");
}

/* ---- --watch: frames with rates ---- */

static void
line_add(struct stat_ctx *sc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
line_add(struct stat_ctx *sc, const char *fmt, ...)
{
	va_list ap;

	if (sc->n_lines == STAT_LINES_MAX)
		return;
	va_start(ap, fmt);
	vsnprintf(sc->lines[sc->n_lines++], STAT_LINE_MAX, fmt, ap);
	va_end(ap);
}

static const struct stat_port *
prev_port(const struct stat_ctx *sc, const char *name)
{
	for (unsigned i = 0; i < sc->prev.n_ports; i++) {
		if (strcmp(sc->prev.ports[i].name, name) == 0)
			return &sc->prev.ports[i];
	}
	return NULL;
}

static const struct stat_stage *
prev_stage(const struct stat_ctx *sc, const char *id)
{
	for (unsigned i = 0; i < sc->prev.n_stages; i++) {
		if (strcmp(sc->prev.stages[i].id, id) == 0)
			return &sc->prev.stages[i];
	}
	return NULL;
}

/*
 * "Mpps Gbit/s" of a counter pair between two frames; dashes before the
 * second frame, or when the counters went back (a stage slot made anew).
 */
static void
rate(char *buf, size_t size, uint64_t pkts, uint64_t bytes, uint64_t ppkts, uint64_t pbytes,
     double secs)
{
	if (secs <= 0 || pkts < ppkts || bytes < pbytes) {
		snprintf(buf, size, "%8s %8s", "-", "-");
		return;
	}
	snprintf(buf, size, "%8.3f %8.3f", (double)(pkts - ppkts) / secs / 1e6,
		 (double)(bytes - pbytes) * 8 / secs / 1e9);
}

static void
frame_build(struct stat_ctx *sc, uint64_t now)
{
	const struct mpdp_abi_header *h = mpdp_shm_header(sc->shm);
	const struct stat_view *v = &sc->cur;
	double secs = sc->frames > 0 && now > sc->prev_ns ? (double)(now - sc->prev_ns) / 1e9 : 0;
	int w = name_width(v);
	char rx[32], tx[32];

	sc->n_lines = 0;
	line_add(sc, "mpdp-stat: instance %s, primary pid %d, %.1f s, every %g s: %s%s", h->name,
		 h->primary_pid, (double)(now - sc->start_ns) / 1e9, sc->watch,
		 sc->end == STAT_RUNNING ? "running (Ctrl-C to stop)" :
		 sc->end == STAT_PRIMARY_EXITED ? "the primary has exited" : "stopped by ",
		 sc->end == STAT_SIGNALLED ? strsignal(sc->end_sig) : "");
	line_add(sc, "%-*s %-9s %-4s %12s %8s %8s %12s %8s %8s %9s", w, "PORT", "DRIVER", "LINK",
		 "RX PKTS", "RX Mpps", "RX Gb/s", "TX PKTS", "TX Mpps", "TX Gb/s", "DROPPED");
	for (unsigned i = 0; i < v->n_ports; i++) {
		const struct stat_port *p = &v->ports[i];
		const struct stat_port *o = prev_port(sc, p->name);
		struct mpdp_abi_port_queue z = { 0 };
		const struct mpdp_abi_port_queue *pc = o != NULL ? &o->c : &z;

		rate(rx, sizeof(rx), p->c.rx_packets, p->c.rx_bytes, pc->rx_packets, pc->rx_bytes, secs);
		rate(tx, sizeof(tx), p->c.tx_packets, p->c.tx_bytes, pc->tx_packets, pc->tx_bytes, secs);
		line_add(sc, "%-*s %-9s %-4s %12" PRIu64 " %s %12" PRIu64 " %s %9" PRIu64, w, p->name,
			 p->driver, link_name(p->link), p->c.rx_packets, rx, p->c.tx_packets, tx,
			 p->c.rx_missed + p->c.tx_drops + p->c.rx_errors + p->c.tx_errors);
	}
	if (v->n_stages > 0)
		line_add(sc, "%-*s %-9s %-8s %8s %8s %8s %12s %9s %7s", w, "STAGE", "KIND", "STATE",
			 "IN PKTS", "IN Mpps", "IN Gb/s", "SENT", "DROPPED", "IN HAND");
	for (unsigned i = 0; i < v->n_stages; i++) {
		const struct stat_stage *s = &v->stages[i];
		const struct stat_stage *o = prev_stage(sc, s->id);

		rate(rx, sizeof(rx), s->t.in_packets, s->t.in_bytes, o ? o->t.in_packets : 0,
		     o ? o->t.in_bytes : 0, secs);
		line_add(sc, "%-*s %-9s %-8s %8" PRIu64 " %s %12" PRIu64 " %9" PRIu64 " %7" PRIu64, w,
			 s->id, s->kind, stage_state(s), s->t.in_packets, rx, s->t.sent, s->t.dropped,
			 s->t.in_hand);
	}
}

/* Terminal: go back over the previous frame and overwrite it line by line. */
static void
frame_draw(struct stat_ctx *sc)
{
	unsigned cols = 0;

	if (sc->tty) {
		struct winsize ws;

		if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0)
			cols = ws.ws_col;
		if (sc->drawn > 0)
			printf("\033[%uF", sc->drawn);
	} else if (sc->frames > 0) {
		putchar('\n');
	}
	for (unsigned i = 0; i < sc->n_lines; i++) {
		/* A wrapped line would throw off the count of lines to go back over. */
		if (cols > 1 && strlen(sc->lines[i]) >= cols)
			sc->lines[i][cols - 1] = '\0';
		printf("%s%s\n", sc->tty ? "\033[2K" : "", sc->lines[i]);
	}
	if (sc->tty)
		printf("\033[J");   /* a shorter frame leaves nothing of the longer one below */
	fflush(stdout);
	sc->drawn = sc->n_lines;
}

static void
frame(struct stat_ctx *sc, uint64_t now)
{
	frame_build(sc, now);
	frame_draw(sc);
	memcpy(&sc->prev, &sc->cur, sizeof(sc->prev));
	sc->prev_ns = now;
	sc->frames++;
}

static void
summary(struct stat_ctx *sc)
{
	struct stat_sums s;
	double secs = sc->first_ns && sc->moved_ns > sc->first_ns ?
		      (double)(sc->moved_ns - sc->first_ns) / 1e9 : 0;

	sums_get(&sc->cur, &s);
	printf("summary: packets in %" PRIu64 ", out %" PRIu64 ", dropped %" PRIu64 " (ports %" PRIu64
	       ", stages %" PRIu64 "), ", s.in, s.out, s.port_drops + s.stage_drops, s.port_drops,
	       s.stage_drops);
	/* Packets that were out before we first looked took time we did not see. */
	if (secs > 0)
		printf("%.3f Mpps (%" PRIu64 " packets out in %.3f s)\n",
		       (double)(s.out - sc->out_base) / secs / 1e6, s.out - sc->out_base, secs);
	else
		printf("Mpps not measured (the counters did not move while watched)\n");
	fflush(stdout);
}

static int
watch(struct stat_ctx *sc)
{
	uint64_t period = (uint64_t)(sc->watch * 1e9);
	uint64_t tick = period < STAT_TICK_NS ? period : STAT_TICK_NS;
	uint64_t next;
	sigset_t sigs;

	/* Taken by sigtimedwait only; default first, as a shell may start us with SIGINT ignored. */
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigprocmask(SIG_BLOCK, &sigs, NULL);

	sc->tty = isatty(STDOUT_FILENO);
	sc->start_ns = mpdp_time_ns();
	sample(sc);
	frame(sc, sc->start_ns);
	next = sc->start_ns + period;
	while (sc->end == STAT_RUNNING) {
		struct timespec ts = { (time_t)(tick / 1000000000u), (long)(tick % 1000000000u) };
		int sig = sigtimedwait(&sigs, NULL, &ts);
		uint64_t now;

		/* Asked before sampling, so the last sample is taken after the primary is gone. */
		if (!mpdp_shm_primary_alive(sc->shm))
			sc->end = STAT_PRIMARY_EXITED;
		if (sig > 0) {
			sc->end = STAT_SIGNALLED;
			sc->end_sig = sig;
		}
		sample(sc);
		now = mpdp_time_ns();
		if (sc->end != STAT_RUNNING || now >= next) {
			frame(sc, now);
			next = now >= next + period ? now + period : next + period;
		}
	}
	summary(sc);
	return 0;
}

int
main(int argc, char **argv)
{
	struct stat_ctx *sc = calloc(1, sizeof(*sc));
	struct mpdp_errbuf eb = { "" };
	int rc;

	if (sc == NULL) {
		fprintf(stderr, "mpdp-stat: out of memory\n");
		return 1;
	}
	rc = parse_args(sc, argc, argv);
	if (rc != 0) {
		free(sc);
		return rc == 1 ? 0 : rc;
	}
	rc = mpdp_shm_attach(sc->instance, sc->runtime_dir, &sc->shm, &eb);
	if (rc != 0) {
		fprintf(stderr, "mpdp-stat: %s\n", eb.msg[0] ? eb.msg : mpdp_strerror(rc));
		free(sc);
		return 1;
	}
	if (sc->watch > 0) {
		rc = watch(sc);
	} else {
		sample(sc);
		if (sc->json)
			print_json(sc, stdout);
		else
			print_text(sc, stdout);
		rc = fflush(stdout) == 0 ? 0 : 1;
	}
	mpdp_shm_close(sc->shm);
	free(sc);
	return rc;
}

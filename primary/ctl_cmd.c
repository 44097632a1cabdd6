/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The built-in control commands: each fills a Response from the instance's
 * shared state (read as consistent snapshots, never locking the data path)
 * or changes it the way the data path expects (atomic stores it polls).
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "capture.h"
#include "ctl.h"
#include "io.h"
#include "mpdp_ctl.h"
#include "mpdp_capture.h"
#include "mpdp_log.h"
#include "mpdp_mbuf.h"
#include "mpdp_pool.h"
#include "mpdp_port.h"
#include "mpdp_proc.h"
#include "mpdp_ring.h"
#include "mpdp_seqcount.h"
#include "mpdp_shm.h"
#include "mpdp_stage.h"
#include "mpdp_time.h"
#include "supervise.h"

/* ---- the arena --------------------------------------------------------- */

struct ctl_arena_chunk {
	struct ctl_arena_chunk *next;
	max_align_t data[];
};

void *
ctl_alloc(struct ctl_arena *a, size_t len)
{
	struct ctl_arena_chunk *c = calloc(1, sizeof(*c) + len);

	/* One allocation per object: answers are small and freed at once. */
	if (c == NULL)
		abort();
	c->next = a->chunks;
	a->chunks = c;
	return c->data;
}

char *
ctl_strdup(struct ctl_arena *a, const char *s)
{
	size_t n = strlen(s) + 1;

	return memcpy(ctl_alloc(a, n), s, n);
}

char *
ctl_printf(struct ctl_arena *a, const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	s = ctl_alloc(a, (size_t)(n > 0 ? n : 0) + 1);
	va_start(ap, fmt);
	vsnprintf(s, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return s;
}

void
ctl_arena_free(struct ctl_arena *a)
{
	while (a->chunks != NULL) {
		struct ctl_arena_chunk *c = a->chunks;

		a->chunks = c->next;
		free(c);
	}
}

void
ctl_fail(Mpdppb__Response *resp, struct ctl_arena *a, int status, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	resp->status = status;
	resp->message = ctl_strdup(a, msg);
	resp->body_case = MPDPPB__RESPONSE__BODY__NOT_SET;
}

#define NEW(a, type, init) ({ type *o_ = ctl_alloc((a), sizeof(type)); *o_ = (type)init; o_; })
#define NEW_ARRAY(a, type, n) ((type *)ctl_alloc((a), sizeof(type) * ((n) ? (n) : 1)))

/* ---- status ------------------------------------------------------------ */

static void
cmd_status(struct ctl_env *env, Mpdppb__Response *resp, struct ctl_arena *a)
{
	struct primary *p = env->p;
	const struct mpdp_abi_header *h = mpdp_shm_header(p->shm);
	Mpdppb__StatusResp *s = NEW(a, Mpdppb__StatusResp, MPDPPB__STATUS_RESP__INIT);
	uint64_t used, total;
	unsigned n_stages = 0;

	mpdp_shm_usage(p->shm, &used, &total);
	s->name = ctl_strdup(a, h->name);
	s->version = ctl_strdup(a, MPDP_CFG_VERSION);
	s->pid = h->primary_pid;
	s->uptime_ns = mpdp_time_ns() - p->started_ns;
	s->hugepages = h->hugepages != 0;
	s->page_size = h->page_size;
	s->mem_total = total;
	s->mem_used = used;
	s->mem_free = total - used;
	s->base_virtaddr = h->base;
	s->ports = p->n_ports;
	s->protocol = MPDP_CTL_VERSION;
	s->workers = NEW_ARRAY(a, Mpdppb__WorkerInfo *, MPDP_WORKER_MAX);
	for (unsigned i = 0; i < MPDP_WORKER_MAX; i++) {
		const struct mpdp_abi_worker *w = &h->workers[i];
		Mpdppb__WorkerInfo *wi;

		if (__atomic_load_n(&w->state, __ATOMIC_ACQUIRE) != MPDP_WORKER_ACTIVE)
			continue;
		wi = NEW(a, Mpdppb__WorkerInfo, MPDPPB__WORKER_INFO__INIT);
		wi->id = i;
		wi->name = ctl_printf(a, "%.*s", MPDP_NAME_MAX, w->name);
		wi->pid = w->pid;
		wi->cpu = w->cpu;
		s->workers[s->n_workers++] = wi;
	}
	for (unsigned i = 0; i < MPDP_MEMZONE_MAX; i++) {
		const struct mpdp_abi_memzone *mz = &h->memzones[i];

		if (__atomic_load_n(&mz->state, __ATOMIC_ACQUIRE) == MPDP_MZ_STATE_USED &&
		    mz->kind == MPDP_MZ_KIND_STAGE)
			n_stages++;
	}
	s->stages = n_stages;
	resp->body_case = MPDPPB__RESPONSE__BODY_STATUS_RESP;
	resp->status_resp = s;
}

/* ---- ports ------------------------------------------------------------- */

static struct mpdp_port *
port_named(struct primary *p, const char *name)
{
	for (unsigned i = 0; i < p->n_ports; i++) {
		if (strcmp(p->ports[i]->abi->name, name) == 0)
			return p->ports[i];
	}
	return NULL;
}

/* The port's I/O worker's view of it. */
static struct io_port *
io_port_of(struct primary *p, const struct mpdp_port *port, struct io_worker **worker)
{
	for (unsigned k = 0; k < p->n_workers; k++) {
		for (unsigned i = 0; i < p->workers[k].n_ports; i++) {
			if (p->workers[k].ports[i].port == port) {
				if (worker != NULL)
					*worker = &p->workers[k];
				return &p->workers[k].ports[i];
			}
		}
	}
	return NULL;
}

/* A consistent copy of a port's counters, its queues summed. */
static void
port_snapshot(const struct mpdp_abi_port *abi, struct mpdp_abi_port_queue *sum)
{
	unsigned tries = 0;
	uint32_t seq;

	do {
		seq = mpdp_seq_read_begin(&abi->seq);
		memset(sum, 0, sizeof(*sum));
		for (unsigned q = 0; q < MPDP_PORT_QUEUE_MAX; q++) {
			const struct mpdp_abi_port_queue *pq = &abi->queues[q];

			sum->rx_packets += __atomic_load_n(&pq->rx_packets, __ATOMIC_RELAXED);
			sum->rx_bytes += __atomic_load_n(&pq->rx_bytes, __ATOMIC_RELAXED);
			sum->rx_missed += __atomic_load_n(&pq->rx_missed, __ATOMIC_RELAXED);
			sum->rx_errors += __atomic_load_n(&pq->rx_errors, __ATOMIC_RELAXED);
			sum->tx_packets += __atomic_load_n(&pq->tx_packets, __ATOMIC_RELAXED);
			sum->tx_bytes += __atomic_load_n(&pq->tx_bytes, __ATOMIC_RELAXED);
			sum->tx_errors += __atomic_load_n(&pq->tx_errors, __ATOMIC_RELAXED);
			sum->tx_drops += __atomic_load_n(&pq->tx_drops, __ATOMIC_RELAXED);
		}
	} while (!mpdp_seq_read_ok(&abi->seq, seq) && ++tries < MPDP_SEQ_READ_TRIES);
}

static Mpdppb__PortInfo *
port_info(struct primary *p, const struct mpdp_port *port, struct ctl_arena *a)
{
	const struct mpdp_abi_port *abi = port->abi;
	Mpdppb__PortInfo *pi = NEW(a, Mpdppb__PortInfo, MPDPPB__PORT_INFO__INIT);
	uint32_t state = __atomic_load_n(&abi->state, __ATOMIC_ACQUIRE);
	uint32_t patch = __atomic_load_n(&abi->patch_to, __ATOMIC_ACQUIRE);
	struct mpdp_abi_port_queue c;

	port_snapshot(abi, &c);
	pi->name = ctl_printf(a, "%.*s", MPDP_NAME_MAX, abi->name);
	pi->driver = ctl_printf(a, "%.*s", MPDP_DRIVER_NAME_MAX, abi->driver);
	pi->state = ctl_strdup(a, state == MPDP_PORT_STARTED ? "started" : "stopped");
	pi->link = __atomic_load_n(&abi->link, __ATOMIC_RELAXED) != 0;
	pi->lcore = abi->lcore;
	pi->patch_to = ctl_strdup(a, "");
	for (unsigned i = 0; i < p->n_ports; i++) {
		if (patch != 0 && p->ports[i]->id == patch - 1)
			pi->patch_to = ctl_strdup(a, p->ports[i]->abi->name);
	}
	pi->link_changes = __atomic_load_n(&abi->link_changes, __ATOMIC_RELAXED);
	pi->rx_packets = c.rx_packets;
	pi->rx_bytes = c.rx_bytes;
	pi->rx_missed = c.rx_missed;
	pi->rx_errors = c.rx_errors;
	pi->tx_packets = c.tx_packets;
	pi->tx_bytes = c.tx_bytes;
	pi->tx_errors = c.tx_errors;
	pi->tx_drops = c.tx_drops;
	return pi;
}

static void
cmd_port(struct ctl_env *env, const Mpdppb__PortReq *r, Mpdppb__Response *resp, struct ctl_arena *a)
{
	struct primary *p = env->p;
	const char *name = r->name ? r->name : "";
	struct mpdp_port *port = NULL;
	struct io_worker *worker;
	Mpdppb__PortList *list;
	uint32_t want;

	if (name[0] != '\0' && (port = port_named(p, name)) == NULL)
		return ctl_fail(resp, a, ENOENT, "no port named '%s'", name);
	switch (r->op) {
	case MPDPPB__PORT_REQ__OP__LIST:
	case MPDPPB__PORT_REQ__OP__STATS:
		list = NEW(a, Mpdppb__PortList, MPDPPB__PORT_LIST__INIT);
		list->ports = NEW_ARRAY(a, Mpdppb__PortInfo *, p->n_ports);
		for (unsigned i = 0; i < p->n_ports; i++) {
			if (port == NULL || port == p->ports[i])
				list->ports[list->n_ports++] = port_info(p, p->ports[i], a);
		}
		resp->body_case = MPDPPB__RESPONSE__BODY_PORTS;
		resp->ports = list;
		return;
	case MPDPPB__PORT_REQ__OP__START:
	case MPDPPB__PORT_REQ__OP__STOP:
		if (port == NULL)
			return ctl_fail(resp, a, EINVAL, "port %s: which port? (give its name)",
					r->op == MPDPPB__PORT_REQ__OP__START ? "start" : "stop");
		want = r->op == MPDPPB__PORT_REQ__OP__START ? MPDP_PORT_STARTED : MPDP_PORT_STOPPED;
		if (io_port_of(p, port, &worker) == NULL)
			return ctl_fail(resp, a, EIO, "port %s has no I/O worker", name);
		if (__atomic_exchange_n(&port->abi->state, want, __ATOMIC_ACQ_REL) == want) {
			resp->message = ctl_printf(a, "port %s was already %s", name,
						   want == MPDP_PORT_STARTED ? "started" : "stopped");
			return;
		}
		/* Stopped means stopped when the answer leaves: no burst still in flight. */
		if (io_worker_quiesce(worker, 500) != 0)
			MPDP_LOG(WARN, "port %s: I/O worker %s did not finish its round in 500 ms",
				 name, worker->name);
		MPDP_LOG(NOTICE, "port %s %s by the control socket", name,
			 want == MPDP_PORT_STARTED ? "started" : "stopped");
		resp->message = ctl_printf(a, "port %s %s", name,
					   want == MPDP_PORT_STARTED ? "started" : "stopped");
		return;
	default:
		return ctl_fail(resp, a, EINVAL, "port: unknown operation %d", (int)r->op);
	}
}

/* ---- rings ------------------------------------------------------------- */

struct ring_users {
	struct primary *p;
	const char *ring;
	int live_only;                  /* leave out stages that are down */
	char buf[256];
	size_t len;
};

static void
users_add(struct ring_users *u, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (u->len >= sizeof(u->buf) - 1)
		return;
	if (u->len > 0)
		u->buf[u->len++] = ' ';
	va_start(ap, fmt);
	n = vsnprintf(u->buf + u->len, sizeof(u->buf) - u->len, fmt, ap);
	va_end(ap);
	u->len = n > 0 && u->len + (size_t)n < sizeof(u->buf) ? u->len + (size_t)n : sizeof(u->buf) - 1;
}

static int
stage_uses(struct mpdp_abi_stage *slot, void *arg)
{
	struct ring_users *u = arg;
	uint32_t state = mpdp_stage_slot_state(slot);
	unsigned n_in = slot->n_in < MPDP_STAGE_IO_MAX ? slot->n_in : MPDP_STAGE_IO_MAX;
	unsigned n_next = slot->n_next < MPDP_STAGE_IO_MAX ? slot->n_next : MPDP_STAGE_IO_MAX;

	if (state == MPDP_STAGE_FREE || (u->live_only && state == MPDP_STAGE_DOWN))
		return 0;
	for (unsigned i = 0; i < n_in; i++) {
		if (strncmp(slot->in[i], u->ring, MPDP_NAME_MAX) == 0)
			users_add(u, "%.*s:in%s", MPDP_NAME_MAX, slot->id,
				  state == MPDP_STAGE_DOWN ? "(down)" : "");
	}
	for (unsigned k = 1; k < n_next; k++) {
		if (strncmp(slot->out[k], u->ring, MPDP_NAME_MAX) == 0)
			users_add(u, "%.*s:%.*s%s", MPDP_NAME_MAX, slot->id, MPDP_STAGE_NEXT_NAME_MAX,
				  slot->next[k], state == MPDP_STAGE_DOWN ? "(down)" : "");
	}
	return 0;
}

/* Who reads or writes ring @p name: ports and stages (down ones marked, or left out). */
static void
ring_users(struct primary *p, const char *name, int live_only, struct ring_users *u)
{
	memset(u, 0, sizeof(*u));
	u->p = p;
	u->ring = name;
	u->live_only = live_only;
	for (unsigned i = 0; i < p->n_ports; i++) {
		if (p->ports[i]->rx_ring != NULL && strcmp(p->ports[i]->rx_ring->name, name) == 0)
			users_add(u, "port:%s:rx", p->ports[i]->abi->name);
		if (p->ports[i]->tx_ring != NULL && strcmp(p->ports[i]->tx_ring->name, name) == 0)
			users_add(u, "port:%s:tx", p->ports[i]->abi->name);
	}
	mpdp_stage_walk(p->shm, stage_uses, u);
}

struct ring_walk {
	struct primary *p;
	const char *only;
	Mpdppb__RingList *list;
	unsigned max;
	struct ctl_arena *a;
};

static int
ring_one(const struct mpdp_shm_memzone *mz, void *arg)
{
	struct ring_walk *rw = arg;
	const struct mpdp_ring *r = mz->addr;
	Mpdppb__RingInfo *ri;
	struct ring_users u;

	if (rw->only != NULL && strcmp(mz->name, rw->only) != 0)
		return 0;
	if (rw->list->n_rings == rw->max)
		return 1;
	ri = NEW(rw->a, Mpdppb__RingInfo, MPDPPB__RING_INFO__INIT);
	ri->name = ctl_strdup(rw->a, mz->name);
	ri->size = r->size;
	ri->count = mpdp_ring_count(r);
	ri->free = mpdp_ring_free_count(r);
	ri->sp = (r->flags & MPDP_RING_F_SP_ENQ) != 0;
	ri->sc = (r->flags & MPDP_RING_F_SC_DEQ) != 0;
	ri->enqueued = atomic_load_explicit(&r->prod.tail, memory_order_relaxed);
	ri->dequeued = atomic_load_explicit(&r->cons.tail, memory_order_relaxed);
	ring_users(rw->p, mz->name, 0, &u);
	ri->users = ctl_strdup(rw->a, u.buf);
	ri->capture = atomic_load_explicit(&r->capture, memory_order_relaxed);
	rw->list->rings[rw->list->n_rings++] = ri;
	return 0;
}

/* Free every mbuf left on a ring about to go, to its own pool. */
static unsigned
ring_drain(struct mpdp_ring *r)
{
	struct mpdp_mbuf *pkts[64];
	unsigned n, total = 0;

	while ((n = mpdp_ring_dequeue_burst(r, (void **)pkts, 64, NULL)) != 0) {
		mpdp_mbuf_free_bulk(pkts, n, MPDP_POOL_NO_CACHE);
		total += n;
	}
	return total;
}

static void
cmd_ring(struct ctl_env *env, const Mpdppb__RingReq *r, Mpdppb__Response *resp, struct ctl_arena *a)
{
	struct primary *p = env->p;
	const char *name = r->name ? r->name : "";
	struct ring_walk rw = { p, NULL, NULL, MPDP_MEMZONE_MAX, a };
	struct mpdp_ring *ring;
	struct ring_users u;
	unsigned flags = 0, drained;
	int rc;

	switch (r->op) {
	case MPDPPB__RING_REQ__OP__LIST:
	case MPDPPB__RING_REQ__OP__STATS:
		if (name[0] != '\0' && mpdp_ring_lookup(p->shm, name, &ring) != 0)
			return ctl_fail(resp, a, ENOENT, "no ring named '%s'", name);
		rw.only = name[0] != '\0' ? name : NULL;
		rw.list = NEW(a, Mpdppb__RingList, MPDPPB__RING_LIST__INIT);
		rw.list->rings = NEW_ARRAY(a, Mpdppb__RingInfo *, MPDP_MEMZONE_MAX);
		mpdp_shm_memzone_walk(p->shm, MPDP_MZ_KIND_RING, ring_one, &rw);
		resp->body_case = MPDPPB__RESPONSE__BODY_RINGS;
		resp->rings = rw.list;
		return;
	case MPDPPB__RING_REQ__OP__CREATE:
		if (name[0] == '\0')
			return ctl_fail(resp, a, EINVAL, "ring create: give a name");
		if (r->size == 0 || (r->size & (r->size - 1)) != 0 || r->size > MPDP_RING_SIZE_MAX)
			return ctl_fail(resp, a, EINVAL, "ring create %s: size %u is not a power of two "
					"from 1 to %u", name, r->size, MPDP_RING_SIZE_MAX);
		flags = MPDP_RING_F_RECOVER | (r->sp ? MPDP_RING_F_SP_ENQ : 0) |
			(r->sc ? MPDP_RING_F_SC_DEQ : 0);
		rc = mpdp_ring_create(p->shm, name, r->size, flags, -1, &ring);
		if (rc != 0)
			return ctl_fail(resp, a, -rc, "ring create %s: %s%s", name, mpdp_strerror(rc),
					rc == -EEXIST ? " (the name is taken)" :
					rc == -ENOMEM ? " (no room left in the region)" :
					rc == -EINVAL ? " (bad name: 1 to 31 of A-Z a-z 0-9 _ - .)" : "");
		MPDP_LOG(NOTICE, "ring %s (%u slots) created by the control socket", name, r->size);
		resp->message = ctl_printf(a, "ring %s created (%u slots)", name, r->size);
		return;
	case MPDPPB__RING_REQ__OP__DELETE:
		if (name[0] == '\0' || mpdp_ring_lookup(p->shm, name, &ring) != 0)
			return ctl_fail(resp, a, ENOENT, "no ring named '%s'", name);
		/* A stage that is down makes its rings again when it comes back. */
		ring_users(p, name, 1, &u);
		if (u.len > 0)
			return ctl_fail(resp, a, EBUSY, "ring %s is in use (%s): stop those first", name,
					u.buf);
		if (atomic_load(&ring->capture) != 0)
			return ctl_fail(resp, a, EBUSY, "ring %s is being captured: stop capture %u first",
					name, atomic_load(&ring->capture));
		drained = ring_drain(ring);
		rc = mpdp_ring_delete(p->shm, ring);
		if (rc != 0)
			return ctl_fail(resp, a, -rc, "ring delete %s: %s", name, mpdp_strerror(rc));
		MPDP_LOG(NOTICE, "ring %s deleted by the control socket (%u mbufs freed)", name, drained);
		resp->message = ctl_printf(a, "ring %s deleted (%u packets on it freed)", name, drained);
		return;
	default:
		return ctl_fail(resp, a, EINVAL, "ring: unknown operation %d", (int)r->op);
	}
}

/* ---- pools ------------------------------------------------------------- */

struct pool_walk {
	const char *only;
	Mpdppb__PoolList *list;
	struct ctl_arena *a;
};

static int
pool_one(const struct mpdp_shm_memzone *mz, void *arg)
{
	struct pool_walk *pw = arg;
	const struct mpdp_pool *pool = mz->addr;
	Mpdppb__PoolInfo *pi;

	if (pw->only != NULL && strcmp(mz->name, pw->only) != 0)
		return 0;
	pi = NEW(pw->a, Mpdppb__PoolInfo, MPDPPB__POOL_INFO__INIT);
	pi->name = ctl_strdup(pw->a, mz->name);
	pi->size = pool->n;
	pi->obj_size = pool->obj_size;
	pi->cache_size = pool->cache_size;
	/* Two snapshots taken apart: clamp so the three always add up to the size. */
	unsigned avail = mpdp_pool_avail_count(pool), cached = mpdp_pool_cached_count(pool);

	cached = cached < avail ? cached : avail;
	avail = avail < pool->n ? avail : pool->n;
	pi->available = avail - cached;
	pi->cached = cached;
	pi->in_use = pool->n - avail;
	pw->list->pools[pw->list->n_pools++] = pi;
	return 0;
}

static void
cmd_pool(struct ctl_env *env, const Mpdppb__PoolReq *r, Mpdppb__Response *resp, struct ctl_arena *a)
{
	struct primary *p = env->p;
	const char *name = r->name ? r->name : "";
	struct pool_walk pw = { name[0] != '\0' ? name : NULL, NULL, a };
	struct mpdp_pool *pool;

	if (r->op != MPDPPB__POOL_REQ__OP__LIST && r->op != MPDPPB__POOL_REQ__OP__STATS)
		return ctl_fail(resp, a, EINVAL, "pool: unknown operation %d", (int)r->op);
	if (name[0] != '\0' && mpdp_pool_lookup(p->shm, name, &pool) != 0)
		return ctl_fail(resp, a, ENOENT, "no pool named '%s'", name);
	pw.list = NEW(a, Mpdppb__PoolList, MPDPPB__POOL_LIST__INIT);
	pw.list->pools = NEW_ARRAY(a, Mpdppb__PoolInfo *, MPDP_MEMZONE_MAX);
	mpdp_shm_memzone_walk(p->shm, MPDP_MZ_KIND_POOL, pool_one, &pw);
	resp->body_case = MPDPPB__RESPONSE__BODY_POOLS;
	resp->pools = pw.list;
}

/* ---- patches ----------------------------------------------------------- */

static void
cmd_patch(struct ctl_env *env, const Mpdppb__PatchReq *r, Mpdppb__Response *resp, struct ctl_arena *a)
{
	struct primary *p = env->p;
	const char *src_name = r->src ? r->src : "", *dst_name = r->dst ? r->dst : "";
	struct mpdp_port *src, *dst, *cur;
	struct io_worker *ws = NULL, *wd = NULL;
	struct io_port *ip;
	Mpdppb__PatchList *list;

	if (r->op == MPDPPB__PATCH_REQ__OP__LIST) {
		list = NEW(a, Mpdppb__PatchList, MPDPPB__PATCH_LIST__INIT);
		list->patches = NEW_ARRAY(a, Mpdppb__Patch *, p->n_ports);
		for (unsigned i = 0; i < p->n_ports; i++) {
			ip = io_port_of(p, p->ports[i], NULL);
			cur = ip != NULL ? atomic_load(&ip->patch) : NULL;
			if (cur == NULL)
				continue;
			Mpdppb__Patch *pa = NEW(a, Mpdppb__Patch, MPDPPB__PATCH__INIT);

			pa->src = ctl_strdup(a, p->ports[i]->abi->name);
			pa->dst = ctl_strdup(a, cur->abi->name);
			list->patches[list->n_patches++] = pa;
		}
		resp->body_case = MPDPPB__RESPONSE__BODY_PATCHES;
		resp->patches = list;
		return;
	}
	if (r->op != MPDPPB__PATCH_REQ__OP__ADD && r->op != MPDPPB__PATCH_REQ__OP__DEL)
		return ctl_fail(resp, a, EINVAL, "patch: unknown operation %d", (int)r->op);
	src = port_named(p, src_name);
	dst = port_named(p, dst_name);
	if (src == NULL || dst == NULL)
		return ctl_fail(resp, a, ENOENT, "patch %s %s: no port named '%s'", src_name, dst_name,
				src == NULL ? src_name : dst_name);
	ip = io_port_of(p, src, &ws);
	if (ip == NULL || io_port_of(p, dst, &wd) == NULL)
		return ctl_fail(resp, a, EIO, "patch %s %s: a port has no I/O worker", src_name, dst_name);
	cur = atomic_load(&ip->patch);
	if (r->op == MPDPPB__PATCH_REQ__OP__DEL) {
		if (cur != dst)
			return ctl_fail(resp, a, ENOENT, "port %s is not patched to %s%s%s", src_name,
					dst_name, cur != NULL ? " (it is patched to " : "",
					cur != NULL ? ctl_printf(a, "%s)", cur->abi->name) : "");
		atomic_store(&ip->patch, NULL);
		__atomic_store_n(&src->abi->patch_to, 0, __ATOMIC_RELEASE);
		if (io_worker_quiesce(ws, 500) != 0)
			MPDP_LOG(WARN, "patch %s -> %s: I/O worker %s did not finish its round in 500 ms",
				 src_name, dst_name, ws->name);
		MPDP_LOG(NOTICE, "patch %s -> %s removed by the control socket", src_name, dst_name);
		resp->message = ctl_printf(a, "%s no longer patched to %s: what it receives goes to %s",
					   src_name, dst_name, src->rx_ring ? src->rx_ring->name : "its rx ring");
		return;
	}
	if (cur != NULL)
		return ctl_fail(resp, a, EEXIST, "port %s is already patched to %s: del that patch first",
				src_name, cur->abi->name);
	/* A driver queue has one user: the source's worker must be the one that polls the destination. */
	if (ws != wd)
		return ctl_fail(resp, a, EINVAL, "patch %s %s: the ports are polled by different I/O "
				"workers (cores %d and %d); patched ports must share one: start the "
				"primary with lcore= of both on one core", src_name, dst_name, ws->cpu, wd->cpu);
	__atomic_store_n(&src->abi->patch_to, dst->id + 1u, __ATOMIC_RELEASE);
	atomic_store(&ip->patch, dst);
	MPDP_LOG(NOTICE, "patch %s -> %s added by the control socket", src_name, dst_name);
	resp->message = ctl_printf(a, "%s patched to %s", src_name, dst_name);
}

/* ---- stages ------------------------------------------------------------ */

struct stage_walk {
	struct ctl_env *env;
	const char *only;
	Mpdppb__StageList *list;
	struct ctl_arena *a;
	uint64_t now;
};

static const char *
stage_state(uint32_t state)
{
	return mpdp_stage_state_name(state);
}

/* What the supervisor knows of stage @p si (nothing when the primary did not launch it). */
static void
stage_supervision(const struct supervisor *sup, Mpdppb__StageInfo *si, struct ctl_arena *a)
{
	struct supervise_status ss;

	if (!supervise_status(sup, si->id, &ss))
		return;
	si->supervised = 1;
	si->supervisor_state = ctl_strdup(a, ss.state);
	si->supervisor_restarts = ss.restarts;
	si->backoff_until_ns = ss.backoff_until_ns;
	si->recent_failures = ss.recent_failures;
	si->last_exit = ctl_strdup(a, ss.last_exit);
	si->argv = NEW_ARRAY(a, char *, ss.argc);
	for (unsigned i = 0; i < ss.argc; i++)
		si->argv[si->n_argv++] = ctl_strdup(a, ss.argv[i]);
}

static int
stage_one(struct mpdp_abi_stage *slot, void *arg)
{
	struct stage_walk *sw = arg;
	struct ctl_arena *a = sw->a;
	uint32_t state = mpdp_stage_slot_state(slot);
	unsigned n_in = slot->n_in < MPDP_STAGE_IO_MAX ? slot->n_in : MPDP_STAGE_IO_MAX;
	unsigned n_next = slot->n_next < MPDP_STAGE_IO_MAX ? slot->n_next : MPDP_STAGE_IO_MAX;
	char id[MPDP_NAME_MAX];
	const struct ctl_stage_reg *reg;
	struct mpdp_stage_totals t;
	Mpdppb__StageInfo *si;

	if (state == MPDP_STAGE_FREE)
		return 0;
	snprintf(id, sizeof(id), "%.*s", MPDP_NAME_MAX - 1, slot->id);
	if (sw->only != NULL && strcmp(id, sw->only) != 0)
		return 0;
	mpdp_stage_totals(slot, &t);
	si = NEW(a, Mpdppb__StageInfo, MPDPPB__STAGE_INFO__INIT);
	si->id = ctl_strdup(a, id);
	si->kind = ctl_printf(a, "%.*s", MPDP_STAGE_KIND_MAX - 1, slot->kind);
	si->pid = mpdp_stage_slot_pid(slot);
	si->state = ctl_strdup(a, stage_state(state));
	si->restarts = slot->restarts;
	si->workers = slot->n_workers;
	si->inputs = NEW_ARRAY(a, char *, n_in);
	for (unsigned i = 0; i < n_in; i++)
		si->inputs[si->n_inputs++] = ctl_printf(a, "%.*s", MPDP_NAME_MAX - 1, slot->in[i]);
	si->outputs = NEW_ARRAY(a, Mpdppb__StageOutput *, n_next);
	for (unsigned k = 0; k < n_next; k++) {
		Mpdppb__StageOutput *o = NEW(a, Mpdppb__StageOutput, MPDPPB__STAGE_OUTPUT__INIT);

		o->name = ctl_printf(a, "%.*s", MPDP_STAGE_NEXT_NAME_MAX - 1, slot->next[k]);
		o->ring = ctl_printf(a, "%.*s", MPDP_NAME_MAX - 1, slot->out[k]);
		o->packets = t.out_packets[k];
		o->bytes = t.out_bytes[k];
		o->drops = t.out_drops[k];
		si->outputs[si->n_outputs++] = o;
	}
	si->in_packets = t.in_packets;
	si->in_bytes = t.in_bytes;
	si->sent = t.sent;
	si->dropped = t.dropped;
	si->in_hand = t.in_hand;
	si->polls = t.polls;
	si->busy_polls = t.busy_polls;
	si->heartbeat_age_ns = t.heartbeat_ns == 0 ? -1 :
			       sw->now > t.heartbeat_ns ? (int64_t)(sw->now - t.heartbeat_ns) : 0;
	si->uptime_ns = state == MPDP_STAGE_DOWN || slot->started_ns == 0 ? 0 :
			sw->now - slot->started_ns;
	reg = sw->env->find_reg != NULL ? sw->env->find_reg(sw->env->arg, id) : NULL;
	if (reg != NULL && reg->pid == si->pid && state != MPDP_STAGE_DOWN) {
		si->registered = 1;
		si->n_commands = reg->req->n_commands;
		si->commands = reg->req->commands;
	}
	si->reclaimed = __atomic_load_n(&slot->reclaimed, __ATOMIC_RELAXED);
	si->reclaims = __atomic_load_n(&slot->reclaims, __ATOMIC_RELAXED);
	stage_supervision(sw->env->p->sup, si, a);
	sw->list->stages[sw->list->n_stages++] = si;
	return sw->list->n_stages == MPDP_MEMZONE_MAX;
}

/* A supervised stage with no slot yet (never ran, or failing before it claims one). */
static void
stage_unslotted(struct stage_walk *sw, const char *id)
{
	struct mpdp_abi_stage *slot;
	struct supervise_status ss;
	Mpdppb__StageInfo *si;

	if (mpdp_stage_find(sw->env->p->shm, id, &slot) == 0 || sw->list->n_stages == MPDP_MEMZONE_MAX ||
	    !supervise_status(sw->env->p->sup, id, &ss))
		return;
	si = NEW(sw->a, Mpdppb__StageInfo, MPDPPB__STAGE_INFO__INIT);
	si->id = ctl_strdup(sw->a, id);
	si->kind = ctl_strdup(sw->a, ss.kind);
	si->pid = ss.pid;
	si->state = ctl_strdup(sw->a, "down");
	si->heartbeat_age_ns = -1;
	stage_supervision(sw->env->p->sup, si, sw->a);
	sw->list->stages[sw->list->n_stages++] = si;
}

static void
cmd_stage(struct ctl_env *env, const Mpdppb__StageReq *r, Mpdppb__Response *resp, struct ctl_arena *a)
{
	struct primary *p = env->p;
	const char *id = r->id ? r->id : "";
	struct stage_walk sw = { env, id[0] != '\0' ? id : NULL, NULL, a, mpdp_time_ns() };
	const char *ids[SUPERVISE_STAGES_MAX];
	struct supervise_status ss;
	struct mpdp_abi_stage *slot = NULL;
	char msg[512];
	unsigned n_ids;
	uint32_t state;
	int pid, status;

	if (r->op != MPDPPB__STAGE_REQ__OP__LAUNCH && id[0] != '\0' &&
	    mpdp_stage_find(p->shm, id, &slot) != 0 && !supervise_status(p->sup, id, &ss))
		return ctl_fail(resp, a, ENOENT, "no stage named '%s'", id);
	switch (r->op) {
	case MPDPPB__STAGE_REQ__OP__LIST:
	case MPDPPB__STAGE_REQ__OP__STATS:
		sw.list = NEW(a, Mpdppb__StageList, MPDPPB__STAGE_LIST__INIT);
		sw.list->stages = NEW_ARRAY(a, Mpdppb__StageInfo *, MPDP_MEMZONE_MAX);
		mpdp_stage_walk(p->shm, stage_one, &sw);
		n_ids = supervise_ids(p->sup, ids, SUPERVISE_STAGES_MAX);
		for (unsigned i = 0; i < n_ids; i++) {
			if (sw.only == NULL || strcmp(sw.only, ids[i]) == 0)
				stage_unslotted(&sw, ids[i]);
		}
		resp->body_case = MPDPPB__RESPONSE__BODY_STAGES;
		resp->stages = sw.list;
		return;
	case MPDPPB__STAGE_REQ__OP__STOP:
		if (id[0] == '\0')
			return ctl_fail(resp, a, EINVAL, "stage stop: which stage? (give its id)");
		/* A supervised stage: stopped through its process handle, and not restarted. */
		if (supervise_stage_stop(p->sup, id, &status, msg, sizeof(msg))) {
			if (status != 0)
				return ctl_fail(resp, a, status, "%s", msg);
			resp->message = ctl_strdup(a, msg);
			return;
		}
		if (slot == NULL)
			return ctl_fail(resp, a, ENOENT, "no stage named '%s'", id);
		state = mpdp_stage_slot_state(slot);
		pid = mpdp_stage_slot_pid(slot);
		if (state == MPDP_STAGE_DOWN || state == MPDP_STAGE_FREE)
			return ctl_fail(resp, a, ESRCH, "stage %s is not running", id);
		/* The pid and its start time together: never signal a process that reused the pid. */
		if (pid <= 0 || !mpdp_proc_alive(pid, slot->start_time))
			return ctl_fail(resp, a, ESRCH, "stage %s: its process %d is gone", id, pid);
		if (kill(pid, SIGTERM) != 0)
			return ctl_fail(resp, a, errno, "stage %s: cannot signal pid %d: %s", id, pid,
					strerror(errno));
		MPDP_LOG(NOTICE, "stage %s (pid %d) asked to stop by the control socket", id, pid);
		resp->message = ctl_printf(a, "stage %s (pid %d) asked to stop", id, pid);
		return;
	case MPDPPB__STAGE_REQ__OP__LAUNCH:
	case MPDPPB__STAGE_REQ__OP__RESTART:
		/* The control server hands these to the supervisor; here there is none. */
		return ctl_fail(resp, a, EOPNOTSUPP, "stage %s: this primary has no supervisor to %s stages",
				r->op == MPDPPB__STAGE_REQ__OP__LAUNCH ? "launch" : "restart",
				r->op == MPDPPB__STAGE_REQ__OP__LAUNCH ? "launch" : "restart");
	default:
		return ctl_fail(resp, a, EINVAL, "stage: unknown operation %d", (int)r->op);
	}
}

/* ---- capture ----------------------------------------------------------- */

static void
cmd_capture(struct ctl_env *env, const Mpdppb__CaptureReq *r, int fd, Mpdppb__Response *resp,
	    struct ctl_arena *a)
{
	struct mpdp_errbuf eb = { "" };
	struct capture_info info[MPDP_CAPTURE_MAX + CAPTURE_HISTORY];
	Mpdppb__CaptureList *list;
	uint32_t id;
	unsigned n;
	int rc;

	switch (r->op) {
	case MPDPPB__CAPTURE_REQ__OP__START:
		if (fd < 0)
			return ctl_fail(resp, a, EBADF, "capture start: no file came with the request "
					"(the client opens the file and passes its descriptor)");
		rc = capture_start(env->capture, r->target ? r->target : "", r->filter ? r->filter : "",
				   r->snaplen, r->count, fd, r->file ? r->file : "", &id, &eb);
		if (rc != 0)
			return ctl_fail(resp, a, -rc, "capture start: %s", eb.msg);
		resp->message = ctl_printf(a, "capture %u started on %s", id, r->target);
		break;
	case MPDPPB__CAPTURE_REQ__OP__STOP:
		rc = capture_stop(env->capture, r->capture_id, &eb);
		if (rc != 0)
			return ctl_fail(resp, a, -rc, "capture stop: %s", eb.msg);
		resp->message = ctl_printf(a, "capture stopped");
		break;
	case MPDPPB__CAPTURE_REQ__OP__LIST:
		break;
	default:
		if (fd >= 0)
			close(fd);
		return ctl_fail(resp, a, EINVAL, "capture: unknown operation %d", (int)r->op);
	}
	/* Every capture operation answers with the list, so start and stop show the figures. */
	n = capture_list(env->capture, info, MPDP_CAPTURE_MAX + CAPTURE_HISTORY);
	list = NEW(a, Mpdppb__CaptureList, MPDPPB__CAPTURE_LIST__INIT);
	list->captures = NEW_ARRAY(a, Mpdppb__CaptureInfo *, n);
	for (unsigned i = 0; i < n; i++) {
		Mpdppb__CaptureInfo *ci = NEW(a, Mpdppb__CaptureInfo, MPDPPB__CAPTURE_INFO__INIT);

		ci->id = info[i].id;
		ci->target = ctl_strdup(a, info[i].target);
		ci->filter = ctl_strdup(a, info[i].filter);
		ci->file = ctl_strdup(a, info[i].file);
		ci->state = ctl_strdup(a, capture_state_name(info[i].state));
		ci->snaplen = info[i].snaplen;
		ci->limit = info[i].limit;
		ci->matched = info[i].matched;
		ci->written = info[i].written;
		ci->dropped = info[i].dropped;
		ci->error = ctl_strdup(a, info[i].error);
		list->captures[list->n_captures++] = ci;
	}
	resp->body_case = MPDPPB__RESPONSE__BODY_CAPTURES;
	resp->captures = list;
}

/* ---- log, shutdown ----------------------------------------------------- */

static void
cmd_log(const Mpdppb__LogReq *r, Mpdppb__Response *resp, struct ctl_arena *a)
{
	const char *comp = r->component ? r->component : "";
	enum mpdp_log_level level;

	if (comp[0] == '\0')
		return ctl_fail(resp, a, EINVAL, "log level: give a component (or '*' for all)");
	if (mpdp_log_level_parse(r->level ? r->level : "", &level) != 0)
		return ctl_fail(resp, a, EINVAL, "log level %s: unknown level '%s' (err, warn, notice, "
				"info, debug)", comp, r->level ? r->level : "");
	if (mpdp_log_set_level(comp, level) != 0)
		return ctl_fail(resp, a, ENOSPC, "log level %s: too many components have their own level",
				comp);
	resp->message = ctl_printf(a, "log level of %s in the primary is now %s", comp,
				   mpdp_log_level_name(level));
}

void
ctl_cmd_run(struct ctl_env *env, const Mpdppb__Request *req, int passed_fd,
	    Mpdppb__Response *resp, struct ctl_arena *a)
{
	resp->status = 0;
	resp->message = (char *)"";
	resp->now_ns = mpdp_time_ns();
	if (req->cmd_case != MPDPPB__REQUEST__CMD_CAPTURE && passed_fd >= 0) {
		close(passed_fd);
		passed_fd = -1;
	}
	switch (req->cmd_case) {
	case MPDPPB__REQUEST__CMD_STATUS:
		return cmd_status(env, resp, a);
	case MPDPPB__REQUEST__CMD_PORT:
		return cmd_port(env, req->port, resp, a);
	case MPDPPB__REQUEST__CMD_RING:
		return cmd_ring(env, req->ring, resp, a);
	case MPDPPB__REQUEST__CMD_POOL:
		return cmd_pool(env, req->pool, resp, a);
	case MPDPPB__REQUEST__CMD_PATCH:
		return cmd_patch(env, req->patch, resp, a);
	case MPDPPB__REQUEST__CMD_STAGE:
		return cmd_stage(env, req->stage, resp, a);
	case MPDPPB__REQUEST__CMD_CAPTURE:
		return cmd_capture(env, req->capture, passed_fd, resp, a);
	case MPDPPB__REQUEST__CMD_LOG:
		return cmd_log(req->log, resp, a);
	case MPDPPB__REQUEST__CMD_SHUTDOWN:
		MPDP_LOG(NOTICE, "shutdown asked by the control socket");
		if (env->shutdown != NULL)
			env->shutdown(env->arg);
		resp->message = ctl_strdup(a, "shutting down");
		return;
	case MPDPPB__REQUEST__CMD__NOT_SET:
		return ctl_fail(resp, a, EINVAL, "the request names no command (an unknown command "
				"from a newer client?)");
	default:
		return ctl_fail(resp, a, EINVAL, "command %d is not served here", (int)req->cmd_case);
	}
}

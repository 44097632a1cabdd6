/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The stage framework in a process: the stage's slot, its rings, one
 * context per worker, and the loop turn (dequeue, process, dispatch).
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mpdp_capture.h"
#include "mpdp_fault.h"
#include "mpdp_log.h"
#include "mpdp_proc.h"
#include "mpdp_ring.h"
#include "mpdp_seqcount.h"
#include "mpdp_shm.h"
#include "mpdp_stage.h"
#include "mpdp_time.h"
#include "mpdp_worker.h"

/* Busy loop turns between heartbeats: a clock read per burst would cost more than it tells. */
#define STAGE_HEARTBEAT_POLLS 256
/* How long a backpressured dispatch keeps waiting for room once asked to stop. */
#define STAGE_STOP_WAIT_NS 100000000ull

struct stage_ctx_slot {
	void *ctx;
	int ready;                 /* init succeeded: fini is owed */
	unsigned next_in;          /* input to try first on the next turn */
	uint64_t next_tick_ns;     /* when the tick hook is due */
};

struct mpdp_stage_instance {
	struct mpdp_shm *shm;
	const struct mpdp_stage *stage;
	struct mpdp_stage_config cfg;
	struct mpdp_abi_stage *slot;
	int slot_created;          /* the zone is ours: freed if open fails */
	uint64_t claim_before;     /* claim word to restore if open fails */
	unsigned n_workers;
	unsigned burst;
	struct mpdp_ring *in[MPDP_STAGE_IO_MAX];
	struct mpdp_ring *out[MPDP_STAGE_IO_MAX];   /* by output index; NULL: unbound */
	struct mpdp_ring *made[2 * MPDP_STAGE_IO_MAX]; /* rings this open created */
	unsigned n_made;
	_Atomic int stop;
	uint64_t stop_ns;          /* when stop was asked */
	void *ctx_mem;
	struct stage_ctx_slot *ctxs;
};

static uint64_t
claim_word(uint32_t state, int pid)
{
	return (uint64_t)(uint32_t)pid << 32 | state;
}

static void
set_state(struct mpdp_abi_stage *slot, uint32_t state)
{
	uint64_t pid = (uint64_t)(uint32_t)mpdp_stage_slot_pid(slot);

	__atomic_store_n(&slot->claim, pid << 32 | state, __ATOMIC_RELEASE);
}

/* One writer per counter: a plain add and a relaxed store, no locked instruction. */
static inline void
count(uint64_t *c, uint64_t n)
{
	__atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
}

const char *
mpdp_stage_state_name(uint32_t state)
{
	static const char *const names[] = { "free", "claimed", "running", "stopping", "down",
					     "reclaiming" };

	return state < sizeof(names) / sizeof(names[0]) ? names[state] : "?";
}

static int
check_name(const char *what, const char *name, size_t max, struct mpdp_errbuf *eb)
{
	size_t len = name != NULL ? strlen(name) : 0;

	if (len == 0)
		return mpdp_err_set(eb, -EINVAL, "%s: needs a name", what);
	if (len >= max)
		return mpdp_err_set(eb, -EINVAL, "%s '%s': longer than %zu characters", what, name,
				    max - 1);
	for (size_t i = 0; i < len; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-' || c == '.'))
			return mpdp_err_set(eb, -EINVAL, "%s '%s': only letters, digits, '_', '-' and '.'",
					    what, name);
	}
	return 0;
}

static int
next_index(const struct mpdp_stage *stage, const char *name)
{
	for (uint16_t i = 0; i < stage->n_next; i++) {
		if (strcmp(stage->next_names[i], name) == 0)
			return i;
	}
	return -1;
}

int
mpdp_stage_check_config(const struct mpdp_stage *stage, const struct mpdp_stage_config *cfg,
			struct mpdp_errbuf *eb)
{
	char what[64];
	int rc;

	if (stage->n_next < 1 || stage->n_next > MPDP_STAGE_IO_MAX || stage->process == NULL)
		return mpdp_err_set(eb, -EINVAL, "stage %s: bad descriptor (n_next %u)", stage->name,
				    stage->n_next);
	rc = check_name("--stage", cfg->id, MPDP_NAME_MAX - strlen(MPDP_STAGE_ZONE_PREFIX), eb);
	if (rc != 0)
		return rc;
	if (cfg->n_in == 0)
		return mpdp_err_set(eb, -EINVAL, "no input: give --in RING");
	if (cfg->n_in > MPDP_STAGE_IO_MAX || cfg->n_out > MPDP_STAGE_IO_MAX)
		return mpdp_err_set(eb, -EINVAL, "at most %d --in and %d --out", MPDP_STAGE_IO_MAX,
				    MPDP_STAGE_IO_MAX);
	if (cfg->burst > MPDP_STAGE_BURST_MAX)
		return mpdp_err_set(eb, -EINVAL, "--burst %u: at most %d", cfg->burst,
				    MPDP_STAGE_BURST_MAX);
	if (cfg->ring_size != 0 && mpdp_ring_memsize(cfg->ring_size) == 0)
		return mpdp_err_set(eb, -EINVAL, "--ring-size %u: not a power of two up to %u",
				    cfg->ring_size, MPDP_RING_SIZE_MAX);
	if (cfg->n_workers > MPDP_STAGE_WORKERS_MAX ||
	    (stage->max_workers != 0 && cfg->n_workers > stage->max_workers))
		return mpdp_err_set(eb, -EINVAL, "%u workers: mpdp-%s runs at most %u", cfg->n_workers,
				    stage->name, stage->max_workers != 0 && stage->max_workers < MPDP_STAGE_WORKERS_MAX
				    ? stage->max_workers : MPDP_STAGE_WORKERS_MAX);
	for (unsigned i = 0; i < cfg->n_in; i++) {
		rc = check_name("--in", cfg->in[i], MPDP_NAME_MAX, eb);
		if (rc != 0)
			return rc;
		if (stage->n_in_roles != 0 && cfg->in_role[i] >= stage->n_in_roles)
			return mpdp_err_set(eb, -EINVAL, "--in %s: role %u of %u", cfg->in[i],
					    cfg->in_role[i], stage->n_in_roles);
		for (unsigned j = 0; j < i; j++) {
			if (strcmp(cfg->in[i], cfg->in[j]) == 0)
				return mpdp_err_set(eb, -EINVAL, "--in %s: given twice", cfg->in[i]);
		}
	}
	for (unsigned i = 0; i < cfg->n_out; i++) {
		const struct mpdp_stage_output_cfg *o = &cfg->out[i];
		int k = o->next != NULL ? next_index(stage, o->next) : -1;

		if (k < 0) {
			char names[MPDP_STAGE_IO_MAX * MPDP_STAGE_NEXT_NAME_MAX] = "";

			for (uint16_t n = 1; n < stage->n_next; n++) {
				strcat(names, n > 1 ? ", " : "");
				strcat(names, stage->next_names[n]);
			}
			return mpdp_err_set(eb, -EINVAL, "--out %s=%s: mpdp-%s has no output '%s' (it has: %s)",
					    o->next ? o->next : "", o->ring ? o->ring : "", stage->name,
					    o->next ? o->next : "", stage->n_next > 1 ? names : "none");
		}
		if (k == MPDP_STAGE_NEXT_DROP)
			return mpdp_err_set(eb, -EINVAL, "--out %s=%s: 'drop' frees packets, it takes no ring",
					    o->next, o->ring ? o->ring : "");
		snprintf(what, sizeof(what), "--out %s=", o->next);
		rc = check_name(what, o->ring, MPDP_NAME_MAX, eb);
		if (rc != 0)
			return rc;
		for (unsigned j = 0; j < i; j++) {
			if (strcmp(cfg->out[j].next, o->next) == 0)
				return mpdp_err_set(eb, -EINVAL, "--out %s: output given twice", o->next);
		}
		for (unsigned j = 0; j < cfg->n_in; j++) {
			if (strcmp(cfg->in[j], o->ring) == 0)
				return mpdp_err_set(eb, -EINVAL,
						    "--out %s=%s: %s is also an input (the stage would feed itself)",
						    o->next, o->ring, o->ring);
		}
	}
	return 0;
}

static int stage_reclaim(struct mpdp_shm *shm, struct mpdp_abi_stage *slot);

/*
 * Take the slot "stage.<id>": a new zone, or an existing one whose owner is
 * gone. One compare-and-swap of (state, pid) decides between two takers.
 */
static int
claim_slot(struct mpdp_stage_instance *si, struct mpdp_errbuf *eb)
{
	char zone[MPDP_NAME_MAX];
	struct mpdp_shm_memzone mz;
	void *addr;
	int rc;

	snprintf(zone, sizeof(zone), MPDP_STAGE_ZONE_PREFIX "%s", si->cfg.id);
	rc = mpdp_shm_memzone_reserve(si->shm, zone, sizeof(struct mpdp_abi_stage), 0, -1,
				      MPDP_MZ_KIND_STAGE, &addr);
	if (rc == 0) {
		si->slot = addr;
		si->slot_created = 1;
	} else if (rc == -EEXIST) {
		rc = mpdp_shm_memzone_lookup(si->shm, zone, MPDP_MZ_KIND_STAGE, &mz);
		if (rc != 0)
			return mpdp_err_set(eb, rc, "stage %s: zone %s exists but is not a stage slot",
					    si->cfg.id, zone);
		if (mz.len < sizeof(struct mpdp_abi_stage))
			return mpdp_err_set(eb, -EPROTO, "stage %s: slot %s is too small", si->cfg.id, zone);
		si->slot = mz.addr;
	} else {
		return mpdp_err_set(eb, rc, "stage %s: cannot reserve its slot: %s", si->cfg.id,
				    mpdp_strerror(rc));
	}

	for (;;) {
		uint64_t old = __atomic_load_n(&si->slot->claim, __ATOMIC_ACQUIRE);
		uint32_t state = (uint32_t)old;
		int pid = (int)(old >> 32);

		if (state == MPDP_STAGE_RECLAIMING) {
			if (mpdp_proc_alive(pid, 0))
				return mpdp_err_set(eb, -EAGAIN, "stage %s: process %d is returning what "
						    "the stage's last process held; try again", si->cfg.id, pid);
		} else if (state != MPDP_STAGE_FREE && state != MPDP_STAGE_DOWN) {
			/* CLAIMED names its claimer; RUNNING/STOPPING also carry the start time. */
			uint64_t start = state == MPDP_STAGE_CLAIMED ? 0 : si->slot->start_time;

			if (pid == getpid() || mpdp_proc_alive(pid, start))
				return mpdp_err_set(eb, -EBUSY, "stage %s is already running (pid %d, %s)",
						    si->cfg.id, pid, mpdp_stage_state_name(state));
		}
		if (state != MPDP_STAGE_FREE && state != MPDP_STAGE_DOWN) {
			/* Its last process died: what it held goes back first (nobody did it yet). */
			stage_reclaim(si->shm, si->slot);
			continue;
		}
		if (__atomic_compare_exchange_n(&si->slot->claim, &old,
						claim_word(MPDP_STAGE_CLAIMED, getpid()), 0,
						__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
			si->claim_before = old;
			/* Named at once: a claimer that dies before it runs is still found by id. */
			snprintf(si->slot->id, sizeof(si->slot->id), "%s", si->cfg.id);
			break;
		}
	}
	if (si->slot->kind[0] != '\0' && strcmp(si->slot->kind, si->stage->name) != 0) {
		__atomic_store_n(&si->slot->claim, si->claim_before, __ATOMIC_RELEASE);
		return mpdp_err_set(eb, -EEXIST, "stage id %s belongs to an mpdp-%s stage, not mpdp-%s",
				    si->cfg.id, si->slot->kind, si->stage->name);
	}
	return 0;
}

static void
release_slot(struct mpdp_stage_instance *si)
{
	char zone[MPDP_NAME_MAX];

	if (si->slot == NULL)
		return;
	if (si->slot_created) {
		snprintf(zone, sizeof(zone), MPDP_STAGE_ZONE_PREFIX "%s", si->cfg.id);
		mpdp_shm_memzone_free(si->shm, zone);
	} else {
		__atomic_store_n(&si->slot->claim, si->claim_before, __ATOMIC_RELEASE);
	}
	si->slot = NULL;
}

/* A ring by name, made (multi-producer, multi-consumer) when nobody has yet. */
static int
bind_ring(struct mpdp_stage_instance *si, const char *what, const char *name, int input,
	  struct mpdp_ring **out, struct mpdp_errbuf *eb)
{
	unsigned size = si->cfg.ring_size ? si->cfg.ring_size : MPDP_STAGE_RING_SIZE;
	int rc = mpdp_ring_lookup(si->shm, name, out);

	if (rc == -ENOENT) {
		rc = mpdp_ring_create(si->shm, name, size, MPDP_RING_F_RECOVER, -1, out);
		if (rc == 0)
			si->made[si->n_made++] = *out;
		else if (rc == -EEXIST) /* made by another process meanwhile */
			rc = mpdp_ring_lookup(si->shm, name, out);
	}
	if (rc != 0)
		return mpdp_err_set(eb, rc, "%s%s: %s", what, name,
				    rc == -ENOENT ? "a memzone of that name is not a ring" : mpdp_strerror(rc));
	/* A single-producer or single-consumer end already has its one user (a port's I/O worker). */
	if ((*out)->flags & (input ? MPDP_RING_F_SC_DEQ : MPDP_RING_F_SP_ENQ))
		return mpdp_err_set(eb, -EPERM, "%s%s: that ring takes a single %s, which is not a stage "
				    "(a port's NAME.rx is only read by stages, NAME.tx only written)",
				    what, name, input ? "consumer" : "producer");
	return 0;
}

static int
bind_rings(struct mpdp_stage_instance *si, struct mpdp_errbuf *eb)
{
	int rc;

	for (unsigned i = 0; i < si->cfg.n_in; i++) {
		rc = bind_ring(si, "--in ", si->cfg.in[i], 1, &si->in[i], eb);
		if (rc != 0)
			return rc;
	}
	for (unsigned i = 0; i < si->cfg.n_out; i++) {
		int k = next_index(si->stage, si->cfg.out[i].next);
		char what[48];

		snprintf(what, sizeof(what), "--out %s=", si->cfg.out[i].next);
		rc = bind_ring(si, what, si->cfg.out[i].ring, 0, &si->out[k], eb);
		if (rc != 0)
			return rc;
	}
	return 0;
}

static void
fill_slot(struct mpdp_stage_instance *si)
{
	struct mpdp_abi_stage *s = si->slot;
	uint64_t start = 0;

	if ((uint32_t)si->claim_before != MPDP_STAGE_FREE)
		s->restarts++;
	mpdp_proc_start_time(getpid(), &start);
	s->start_time = start;
	s->started_ns = mpdp_time_ns();
	s->stopped_ns = 0;
	s->n_in = si->cfg.n_in;
	s->n_next = si->stage->n_next;
	s->n_workers = si->n_workers;
	s->flags = si->cfg.backpressure ? MPDP_STAGE_F_BACKPRESSURE : 0;
	snprintf(s->id, sizeof(s->id), "%s", si->cfg.id);
	snprintf(s->kind, sizeof(s->kind), "%s", si->stage->name);
	memset(s->in, 0, sizeof(s->in));
	memset(s->next, 0, sizeof(s->next));
	memset(s->out, 0, sizeof(s->out));
	for (unsigned i = 0; i < si->cfg.n_in; i++)
		snprintf(s->in[i], sizeof(s->in[i]), "%s", si->cfg.in[i]);
	for (uint16_t k = 0; k < si->stage->n_next; k++) {
		snprintf(s->next[k], sizeof(s->next[k]), "%s", si->stage->next_names[k]);
		if (si->out[k] != NULL)
			snprintf(s->out[k], sizeof(s->out[k]), "%s", si->out[k]->name);
	}
	/* Counters are kept across restarts; what a dead owner had in hand is not in hand now. */
	for (unsigned w = 0; w < MPDP_STAGE_WORKERS_MAX; w++) {
		s->workers[w].in_hand = 0;
		s->workers[w].wid = UINT32_MAX;
		s->workers[w].cpu = -1;
	}
}

static void
env_of(const struct mpdp_stage_instance *si, unsigned w, struct mpdp_stage_env *env)
{
	env->shm = si->shm;
	env->stage = si->stage;
	env->cfg = &si->cfg;
	env->worker = w;
	env->n_workers = si->n_workers;
}

/*
 * What the framework keeps in the cache line just before each context, so
 * that mpdp_stage_input() can answer from the context pointer alone.
 */
struct stage_ctx_head {
	unsigned input;            /* input of the burst being processed */
};

static struct stage_ctx_head *
ctx_head(const void *ctx)
{
	return (struct stage_ctx_head *)((char *)(uintptr_t)ctx - MPDP_CACHE_LINE);
}

unsigned
mpdp_stage_input(const void *ctx)
{
	return ctx_head(ctx)->input;
}

static int
init_contexts(struct mpdp_stage_instance *si, struct mpdp_errbuf *eb)
{
	size_t stride = MPDP_CACHE_LINE +
			((si->stage->ctx_size + MPDP_CACHE_LINE - 1) & ~(size_t)(MPDP_CACHE_LINE - 1));

	_Static_assert(sizeof(struct stage_ctx_head) <= MPDP_CACHE_LINE, "head fits its line");
	si->ctxs = calloc(si->n_workers, sizeof(*si->ctxs));
	if (posix_memalign(&si->ctx_mem, MPDP_CACHE_LINE, stride * si->n_workers) != 0)
		si->ctx_mem = NULL;
	if (si->ctxs == NULL || si->ctx_mem == NULL)
		return mpdp_err_set(eb, -ENOMEM, "stage %s: no memory for %u contexts", si->cfg.id,
				    si->n_workers);
	memset(si->ctx_mem, 0, stride * si->n_workers);
	for (unsigned w = 0; w < si->n_workers; w++) {
		struct mpdp_stage_env env;
		int rc;

		si->ctxs[w].ctx = (char *)si->ctx_mem + stride * w + MPDP_CACHE_LINE;
		if (si->stage->init == NULL) {
			si->ctxs[w].ready = 1;
			continue;
		}
		env_of(si, w, &env);
		rc = si->stage->init(si->ctxs[w].ctx, &env, eb);
		if (rc != 0) {
			if (eb->msg[0] == '\0')
				mpdp_err_set(eb, rc, "mpdp-%s: init failed: %s", si->stage->name,
					     mpdp_strerror(rc));
			return rc < 0 ? rc : -EINVAL;
		}
		si->ctxs[w].ready = 1;
	}
	return 0;
}

static void
fini_contexts(struct mpdp_stage_instance *si)
{
	for (unsigned w = 0; si->ctxs != NULL && w < si->n_workers; w++) {
		if (si->ctxs[w].ready && si->stage->fini != NULL)
			si->stage->fini(si->ctxs[w].ctx);
		si->ctxs[w].ready = 0;
	}
	free(si->ctxs);
	free(si->ctx_mem);
	si->ctxs = NULL;
	si->ctx_mem = NULL;
}

/* Undo a failed open: nothing it made or claimed is left behind. */
static void
open_rollback(struct mpdp_stage_instance *si)
{
	fini_contexts(si);
	for (unsigned i = 0; i < si->n_made; i++)
		mpdp_ring_delete(si->shm, si->made[i]);
	release_slot(si);
	free(si);
}

int
mpdp_stage_open(struct mpdp_shm *shm, const struct mpdp_stage *stage,
		const struct mpdp_stage_config *cfg, struct mpdp_stage_instance **out,
		struct mpdp_errbuf *eb)
{
	struct mpdp_stage_instance *si;
	int rc;

	eb->msg[0] = '\0';
	rc = mpdp_stage_check_config(stage, cfg, eb);
	if (rc != 0)
		return rc;
	si = calloc(1, sizeof(*si));
	if (si == NULL)
		return mpdp_err_set(eb, -ENOMEM, "stage %s: out of memory", cfg->id);
	si->shm = shm;
	si->stage = stage;
	si->cfg = *cfg;
	si->n_workers = cfg->n_workers ? cfg->n_workers : 1;
	si->burst = cfg->burst ? cfg->burst : MPDP_CFG_BURST;
	rc = claim_slot(si, eb);
	if (rc == 0)
		rc = bind_rings(si, eb);
	if (rc == 0)
		rc = init_contexts(si, eb);
	if (rc != 0) {
		open_rollback(si);
		return rc;
	}
	fill_slot(si);
	set_state(si->slot, MPDP_STAGE_RUNNING);
	*out = si;
	return 0;
}

/*
 * What a worker holds: a run of its hand array in the stage's slot, from
 * front, recorded in its journal after every move so that the primary can
 * return exactly these packets if the process dies (doc/faults.md). Every
 * move takes packets off the front, then the hand is stored, then the
 * journal's operation is done.
 */
struct hand {
	struct mpdp_abi_journal *j;
	struct mpdp_mbuf **front;
	unsigned n;
};

static inline void
hand_take(struct hand *h, unsigned k)
{
	h->front += k;
	h->n -= k;
	mpdp_journal_hand(h->j, (void *const *)h->front, h->n);
	mpdp_journal_done(h->j);
}

/* Free the first @p k held packets, one pool at a time (a journalled put each). */
static void
hand_free(struct hand *h, unsigned wid, unsigned k)
{
	while (k > 0) {
		unsigned run = 1;

		while (run < k && h->front[run]->pool == h->front[0]->pool)
			run++;
		mpdp_pool_put_bulk(h->front[0]->pool, wid, (void *const *)h->front, run);
		MPDP_FAULT_POINT(MPDP_FAULT_AFTER_FREE);
		hand_take(h, run);
		k -= run;
	}
}

/* Enqueue the first @p n held packets on @p r; return how many the ring took. */
static unsigned
enqueue_output(struct mpdp_stage_instance *si, struct hand *h, struct mpdp_ring *r, unsigned n)
{
	unsigned done = 0;

	for (;;) {
		unsigned k = mpdp_ring_enqueue_burst_j(r, h->j, (void *const *)h->front, n - done, NULL);

		if (k != 0) {
			MPDP_FAULT_POINT(MPDP_FAULT_AFTER_ENQUEUE);
			hand_take(h, k);
			done += k;
		}
		if (done == n || !si->cfg.backpressure)
			return done;
		/* Backpressure: wait for room; once asked to stop, only for a while. */
		if (atomic_load_explicit(&si->stop, memory_order_relaxed) &&
		    mpdp_time_ns() - si->stop_ns > STAGE_STOP_WAIT_NS)
			return done;
		sched_yield();
	}
}

/* Packets leave the worker's hands as they are counted out, so in == out + in_hand in every snapshot. */
static inline void
hand_over(struct mpdp_abi_stage_worker *c, unsigned n)
{
	uint32_t held = c->in_hand;

	__atomic_store_n(&c->in_hand, held > n ? held - n : 0, __ATOMIC_RELAXED);
}

/*
 * Send the first @p n held packets to output @p k. Counters follow the
 * moves they count, sent and dropped in separate blocks, so that after a
 * death at most one kind of move is left uncounted (see stage_reclaim()).
 */
static void
send_to(struct mpdp_stage_instance *si, struct mpdp_abi_stage_worker *c, struct hand *h,
	unsigned wid, uint16_t k, unsigned n)
{
	struct mpdp_ring *r = k < si->stage->n_next ? si->out[k] : NULL;
	uint64_t bytes = mpdp_mbuf_bytes(h->front, n), rest_bytes;
	unsigned done = 0;

	if (k == MPDP_STAGE_NEXT_DROP || k >= si->stage->n_next) {
		hand_free(h, wid, n);
		mpdp_seq_write_begin(&c->seq);
		count(&c->out_packets[MPDP_STAGE_NEXT_DROP], n);
		count(&c->out_bytes[MPDP_STAGE_NEXT_DROP], bytes);
		hand_over(c, n);
		mpdp_seq_write_end(&c->seq);
		return;
	}
	if (r != NULL)
		done = enqueue_output(si, h, r, n);
	/* Bytes of the packets left in hand: once on the ring a packet belongs to the next stage. */
	rest_bytes = mpdp_mbuf_bytes(h->front, n - done);
	mpdp_seq_write_begin(&c->seq);
	count(&c->out_packets[k], done);
	count(&c->out_bytes[k], bytes - rest_bytes);
	hand_over(c, done);
	mpdp_seq_write_end(&c->seq);
	if (done == n)
		return;
	hand_free(h, wid, n - done);
	mpdp_seq_write_begin(&c->seq);
	count(&c->out_drops[k], n - done);
	hand_over(c, n - done);
	mpdp_seq_write_end(&c->seq);
}

static struct mpdp_mbuf **
hand_array(const struct mpdp_stage_instance *si, unsigned w, unsigned which)
{
	return (struct mpdp_mbuf **)(void *)si->slot->hands[w][which];
}

void
mpdp_stage_dispatch(struct mpdp_stage_instance *si, unsigned w, unsigned wid,
		    struct mpdp_mbuf **pkts, uint16_t n, const uint16_t *next)
{
	struct mpdp_abi_stage_worker *c = &si->slot->workers[w];
	struct mpdp_mbuf **sorted = hand_array(si, w, 1);
	uint16_t len[MPDP_STAGE_IO_MAX] = { 0 }, at[MPDP_STAGE_IO_MAX], i = 1;
	struct hand h = { mpdp_worker_journal(si->shm, wid), pkts, 0 };

	while (n > MPDP_STAGE_BURST_MAX) {
		mpdp_stage_dispatch(si, w, wid, pkts, MPDP_STAGE_BURST_MAX, next);
		pkts += MPDP_STAGE_BURST_MAX;
		next += MPDP_STAGE_BURST_MAX;
		n = (uint16_t)(n - MPDP_STAGE_BURST_MAX);
	}
	if (n == 0)
		return;
	h.front = pkts;
	h.n = n;
	while (i < n && next[i] == next[0])
		i++;
	if (i == n && pkts == hand_array(si, w, 0)) {
		/* The common case: the whole burst goes one way, as it was dequeued. */
		send_to(si, c, &h, wid, next[0], n);
	} else {
		/* Sorted by output, in order, into the second hand array; then that is held. */
		for (i = 0; i < n; i++)
			len[next[i] < si->stage->n_next ? next[i] : MPDP_STAGE_NEXT_DROP]++;
		at[0] = 0;
		for (uint16_t k = 1; k < si->stage->n_next; k++)
			at[k] = (uint16_t)(at[k - 1] + len[k - 1]);
		for (i = 0; i < n; i++)
			sorted[at[next[i] < si->stage->n_next ? next[i] : MPDP_STAGE_NEXT_DROP]++] = pkts[i];
		h.front = sorted;
		mpdp_journal_hand(h.j, (void *const *)sorted, n);
		MPDP_FAULT_POINT(MPDP_FAULT_AFTER_SORT);
		for (uint16_t k = 0; k < si->stage->n_next; k++) {
			if (len[k] != 0)
				send_to(si, c, &h, wid, k, len[k]);
		}
	}
}

static void
heartbeat(struct mpdp_stage_instance *si, struct mpdp_abi_stage_worker *c,
	  struct stage_ctx_slot *cs)
{
	uint64_t now = mpdp_time_ns();

	__atomic_store_n(&c->heartbeat_ns, now, __ATOMIC_RELAXED);
	if (si->stage->tick != NULL && now >= cs->next_tick_ns) {
		si->stage->tick(cs->ctx, now);
		cs->next_tick_ns = now + MPDP_STAGE_TICK_NS;
	}
}

unsigned
mpdp_stage_poll(struct mpdp_stage_instance *si, unsigned w, unsigned wid)
{
	struct mpdp_abi_stage_worker *c = &si->slot->workers[w];
	struct stage_ctx_slot *cs = &si->ctxs[w];
	struct mpdp_abi_journal *j = mpdp_worker_journal(si->shm, wid);
	struct mpdp_mbuf **pkts = hand_array(si, w, 0);
	uint16_t next[MPDP_STAGE_BURST_MAX];
	uint64_t polls = c->polls + 1;
	unsigned n = 0;

	__atomic_store_n(&c->polls, polls, __ATOMIC_RELAXED);
	/* Empty-handed, at the start of the first hand array: a dequeue lands there. */
	mpdp_journal_hand(j, (void *const *)pkts, 0);
	/* Inputs in turn, starting after the one that last gave packets. */
	for (unsigned t = 0; t < si->cfg.n_in && n == 0; t++) {
		unsigned i = (cs->next_in + t) % si->cfg.n_in;

		n = mpdp_ring_dequeue_burst_j(si->in[i], j, (void **)pkts, si->burst, NULL);
		if (n != 0) {
			cs->next_in = (i + 1) % si->cfg.n_in;
			ctx_head(cs->ctx)->input = i;
		}
	}
	/* A busy worker reads the clock every few hundred turns; an idle one can afford every turn. */
	if (n == 0 || polls % STAGE_HEARTBEAT_POLLS == 1)
		heartbeat(si, c, cs);
	if (n == 0)
		return 0;
	MPDP_FAULT_POINT(MPDP_FAULT_AFTER_DEQUEUE);
	mpdp_journal_hand(j, (void *const *)pkts, n);
	mpdp_journal_done(j);
	mpdp_capture_ring(si->shm, si->in[ctx_head(cs->ctx)->input], pkts, n);
	for (unsigned i = 0; i < n; i++)
		__builtin_prefetch(pkts[i]);
	mpdp_seq_write_begin(&c->seq);
	__atomic_store_n(&c->in_hand, n, __ATOMIC_RELAXED);
	count(&c->busy_polls, 1);
	count(&c->in_packets, n);
	count(&c->in_bytes, mpdp_mbuf_bytes(pkts, n));
	mpdp_seq_write_end(&c->seq);
	si->stage->process(cs->ctx, pkts, (uint16_t)n, next);
	MPDP_FAULT_POINT(MPDP_FAULT_AFTER_PROCESS);
	mpdp_stage_dispatch(si, w, wid, pkts, (uint16_t)n, next);
	__atomic_store_n(&c->in_hand, 0, __ATOMIC_RELEASE);
	return n;
}

void
mpdp_stage_stop(struct mpdp_stage_instance *si)
{
	si->stop_ns = mpdp_time_ns();
	atomic_store(&si->stop, 1);
	set_state(si->slot, MPDP_STAGE_STOPPING);
}

void
mpdp_stage_close(struct mpdp_stage_instance *si)
{
	if (si == NULL)
		return;
	fini_contexts(si);
	si->slot->stopped_ns = mpdp_time_ns();
	set_state(si->slot, MPDP_STAGE_DOWN);
	free(si);
}

/* How many leading words of @p argv spell the command's name; 0 when they do not. */
static int
command_words(const char *name, int argc, char **argv)
{
	int w = 0;

	while (*name != '\0') {
		size_t len = strcspn(name, " ");

		if (w >= argc || strlen(argv[w]) != len || strncmp(argv[w], name, len) != 0)
			return 0;
		name += len;
		name += strspn(name, " ");
		w++;
	}
	return w;
}

int
mpdp_stage_command(struct mpdp_stage_instance *si, int argc, char **argv, int json, FILE *out,
		   struct mpdp_errbuf *eb)
{
	const struct mpdp_stage_command *best = NULL;
	void *ctxs[MPDP_STAGE_WORKERS_MAX];
	struct mpdp_stage_env env;
	int words = 0;

	/* The longest name that matches wins: "rule add" before a "rule". */
	for (const struct mpdp_stage_command *c = si->stage->commands; c != NULL && c->name; c++) {
		int w = command_words(c->name, argc, argv);

		if (w > words) {
			words = w;
			best = c;
		}
	}
	if (best == NULL)
		return mpdp_err_set(eb, -EINVAL, "mpdp-%s has no command '%s'", si->stage->name,
				    argc > 0 ? argv[0] : "");
	for (unsigned w = 0; w < si->n_workers; w++)
		ctxs[w] = si->ctxs[w].ctx;
	env_of(si, 0, &env);
	env.json = json;
	return best->run(&env, ctxs, argc - words, argv + words, json, out, eb);
}

struct mpdp_abi_stage *
mpdp_stage_slot(const struct mpdp_stage_instance *si)
{
	return si->slot;
}

void
mpdp_stage_totals(const struct mpdp_abi_stage *slot, struct mpdp_stage_totals *t)
{
	memset(t, 0, sizeof(*t));
	for (unsigned w = 0; w < MPDP_STAGE_WORKERS_MAX; w++) {
		const struct mpdp_abi_stage_worker *c = &slot->workers[w];
		struct mpdp_abi_stage_worker v;
		unsigned tries = 0;
		uint32_t seq;

		/* A consistent copy of the worker's counters (see mpdp_seqcount.h). */
		do {
			seq = mpdp_seq_read_begin(&c->seq);
			v.in_packets = __atomic_load_n(&c->in_packets, __ATOMIC_RELAXED);
			v.in_bytes = __atomic_load_n(&c->in_bytes, __ATOMIC_RELAXED);
			v.in_hand = __atomic_load_n(&c->in_hand, __ATOMIC_RELAXED);
			v.busy_polls = __atomic_load_n(&c->busy_polls, __ATOMIC_RELAXED);
			for (unsigned k = 0; k < MPDP_STAGE_IO_MAX; k++) {
				v.out_packets[k] = __atomic_load_n(&c->out_packets[k], __ATOMIC_RELAXED);
				v.out_bytes[k] = __atomic_load_n(&c->out_bytes[k], __ATOMIC_RELAXED);
				v.out_drops[k] = __atomic_load_n(&c->out_drops[k], __ATOMIC_RELAXED);
			}
		} while (!mpdp_seq_read_ok(&c->seq, seq) && ++tries < MPDP_SEQ_READ_TRIES);
		uint64_t hb = __atomic_load_n(&c->heartbeat_ns, __ATOMIC_RELAXED);

		t->in_packets += v.in_packets;
		t->in_bytes += v.in_bytes;
		t->in_hand += v.in_hand;
		t->polls += __atomic_load_n(&c->polls, __ATOMIC_RELAXED);
		t->busy_polls += v.busy_polls;
		if (hb > t->heartbeat_ns)
			t->heartbeat_ns = hb;
		for (unsigned k = 0; k < MPDP_STAGE_IO_MAX; k++) {
			t->out_packets[k] += v.out_packets[k];
			t->out_bytes[k] += v.out_bytes[k];
			t->out_drops[k] += v.out_drops[k];
		}
	}
	t->dropped = t->out_packets[MPDP_STAGE_NEXT_DROP];
	for (unsigned k = 0; k < MPDP_STAGE_IO_MAX; k++) {
		if (k != MPDP_STAGE_NEXT_DROP)
			t->sent += t->out_packets[k];
		t->dropped += t->out_drops[k];
	}
}

int
mpdp_stage_find(struct mpdp_shm *shm, const char *id, struct mpdp_abi_stage **out)
{
	struct mpdp_errbuf eb;
	char zone[MPDP_NAME_MAX];
	struct mpdp_shm_memzone mz;
	int rc = check_name("stage", id, MPDP_NAME_MAX - strlen(MPDP_STAGE_ZONE_PREFIX), &eb);

	if (rc != 0)
		return rc;
	snprintf(zone, sizeof(zone), MPDP_STAGE_ZONE_PREFIX "%s", id);
	rc = mpdp_shm_memzone_lookup(shm, zone, MPDP_MZ_KIND_STAGE, &mz);
	if (rc != 0)
		return rc;
	*out = mz.addr;
	return 0;
}

struct stage_walk {
	int (*fn)(struct mpdp_abi_stage *slot, void *arg);
	void *arg;
};

static int
walk_one(const struct mpdp_shm_memzone *mz, void *arg)
{
	const struct stage_walk *sw = arg;

	if (mz->len < sizeof(struct mpdp_abi_stage))
		return 0;
	return sw->fn(mz->addr, sw->arg);
}

int
mpdp_stage_walk(struct mpdp_shm *shm, int (*fn)(struct mpdp_abi_stage *slot, void *arg), void *arg)
{
	struct stage_walk sw = { fn, arg };

	return mpdp_shm_memzone_walk(shm, MPDP_MZ_KIND_STAGE, walk_one, &sw);
}

struct reap_walk {
	struct mpdp_shm *shm;
	unsigned n;
};

/* The output of @p slot whose ring has producer side @p target, or -1. */
static int
output_of_side(struct mpdp_shm *shm, const struct mpdp_abi_stage *slot, uint64_t target)
{
	for (unsigned k = 1; k < slot->n_next && k < MPDP_STAGE_IO_MAX; k++) {
		struct mpdp_ring *r;

		if (slot->out[k][0] != '\0' && mpdp_ring_lookup(shm, slot->out[k], &r) == 0 &&
		    (uint64_t)(uintptr_t)&r->prod == target)
			return (int)k;
	}
	return -1;
}

/*
 * Counters after a death. The worker counts each move just after making it,
 * so at most one kind of move (the kind of its journal's last operation) is
 * left uncounted, or counted ahead: the gap between what in_hand says and
 * what the worker really held is put on that kind, and what it held on
 * reclaimed, so that in == sent + dropped + reclaimed again.
 */
static void
settle_counters(struct mpdp_shm *shm, struct mpdp_abi_stage *slot, unsigned w,
		const struct mpdp_abi_journal *last, const struct mpdp_worker_reclaim *r)
{
	struct mpdp_abi_stage_worker *c = &slot->workers[w];
	int64_t gap = (int64_t)r->held - (int64_t)c->in_hand;
	int k;

	if (c->seq & 1) {
		MPDP_LOG(WARN, "stage %s worker %u died while writing its counters: they may be off "
			 "by one burst", slot->id, w);
		c->seq++;
	}
	if (gap != 0 && last->op == MPDP_JOURNAL_RING_DEQ) {
		count(&c->in_packets, (uint64_t)gap);   /* dequeued, not counted in yet */
	} else if (gap != 0) {
		k = last->op == MPDP_JOURNAL_RING_ENQ ? output_of_side(shm, slot, last->target) : -1;
		/* gap < 0: packets moved on, not yet counted out (the other way round cannot happen). */
		if (k > 0)
			count(&c->out_packets[k], (uint64_t)-gap);
		else
			count(&c->out_packets[MPDP_STAGE_NEXT_DROP], (uint64_t)-gap);
	}
	c->in_hand = 0;
	slot->reclaimed += r->held;
}

/*
 * Return what the dead process of @p slot held: each of its workers'
 * hands, caches and half-done ring operations (mpdp_worker_reclaim()),
 * then mark the slot down. The (RECLAIMING, our pid) claim word makes one
 * process do it; a reclaimer that dies leaves it to the next.
 */
static int
stage_reclaim(struct mpdp_shm *shm, struct mpdp_abi_stage *slot)
{
	uint64_t old = __atomic_load_n(&slot->claim, __ATOMIC_ACQUIRE);
	uint32_t state = (uint32_t)old;
	int pid = (int)(old >> 32), dead = pid;
	unsigned held = 0, sides = 0, cached = 0;

	if (state == MPDP_STAGE_FREE || state == MPDP_STAGE_DOWN)
		return 0;
	if (state == MPDP_STAGE_RECLAIMING ? mpdp_proc_alive(pid, 0) :
	    mpdp_proc_alive(pid, state == MPDP_STAGE_CLAIMED ? 0 : slot->start_time))
		return 0;
	if (!__atomic_compare_exchange_n(&slot->claim, &old, claim_word(MPDP_STAGE_RECLAIMING, getpid()),
					 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return 0;
	for (unsigned w = 0; w < slot->n_workers && w < MPDP_STAGE_WORKERS_MAX; w++) {
		struct mpdp_worker_reclaim r = { 0 };
		struct mpdp_abi_journal last;
		unsigned wid = slot->workers[w].wid;

		if (wid >= MPDP_WORKER_MAX)
			continue;
		last = *mpdp_worker_journal(shm, wid);
		if (mpdp_worker_reclaim(shm, wid, &r) != 0)
			continue;
		settle_counters(shm, slot, w, &last, &r);
		slot->workers[w].wid = UINT32_MAX;
		held += r.held;
		sides += r.sides;
		cached += r.cached;
	}
	slot->reclaims++;
	slot->stopped_ns = mpdp_time_ns();
	__atomic_store_n(&slot->claim, claim_word(MPDP_STAGE_DOWN, dead), __ATOMIC_RELEASE);
	MPDP_LOG(WARN, "stage %s (mpdp-%s, pid %d) died; marked down: %u packets it held freed, "
		 "%u cached buffers returned, %u ring sides it had taken freed", slot->id, slot->kind,
		 dead, held, cached, sides);
	return 1;
}

static int
reap_one(struct mpdp_abi_stage *slot, void *arg)
{
	struct reap_walk *rw = arg;

	rw->n += stage_reclaim(rw->shm, slot);
	return 0;
}

unsigned
mpdp_stage_reap_dead(struct mpdp_shm *shm)
{
	struct reap_walk rw = { shm, 0 };

	mpdp_stage_walk(shm, reap_one, &rw);
	return rw.n;
}

const char *
mpdp_stage_option_next(const struct mpdp_stage_env *env, const char *name, unsigned *iter)
{
	const struct mpdp_stage_config *cfg = env->cfg;

	for (; *iter < cfg->n_options; (*iter)++) {
		if (strcmp(cfg->options[*iter].name, name) == 0)
			return cfg->options[(*iter)++].value;
	}
	return NULL;
}

const char *
mpdp_stage_option(const struct mpdp_stage_env *env, const char *name)
{
	const char *v, *last = NULL;
	unsigned it = 0;

	while ((v = mpdp_stage_option_next(env, name, &it)) != NULL)
		last = v;
	return last;
}

int
mpdp_stage_output_bound(const struct mpdp_stage_env *env, uint16_t next)
{
	for (unsigned i = 0; i < env->cfg->n_out; i++) {
		if (next_index(env->stage, env->cfg->out[i].next) == (int)next)
			return 1;
	}
	return 0;
}

static int
zone_name(const struct mpdp_stage_env *env, const char *suffix, char zone[MPDP_NAME_MAX],
	  struct mpdp_errbuf *eb)
{
	if ((size_t)snprintf(zone, MPDP_NAME_MAX, "%s.%s", env->cfg->id, suffix) >= MPDP_NAME_MAX)
		return mpdp_err_set(eb, -EINVAL, "stage %s: zone name '%s.%s' longer than %d characters",
				    env->cfg->id, env->cfg->id, suffix, MPDP_NAME_MAX - 1);
	return 0;
}

int
mpdp_stage_zone_find(const struct mpdp_stage_env *env, const char *suffix, void **addr,
		     uint64_t *len, struct mpdp_errbuf *eb)
{
	struct mpdp_shm_memzone mz;
	char zone[MPDP_NAME_MAX];
	int rc = zone_name(env, suffix, zone, eb);

	if (rc != 0)
		return rc;
	if (mpdp_shm_memzone_lookup(env->shm, zone, MPDP_MZ_KIND_RAW, &mz) != 0)
		return mpdp_err_set(eb, -ENOENT, "stage %s has no zone %s", env->cfg->id, zone);
	*addr = mz.addr;
	*len = mz.len;
	return 0;
}

int
mpdp_stage_zone(const struct mpdp_stage_env *env, const char *suffix, uint64_t len, void **addr,
		struct mpdp_errbuf *eb)
{
	uint64_t want = (len + MPDP_CACHE_LINE - 1) & ~(uint64_t)(MPDP_CACHE_LINE - 1);
	struct mpdp_shm_memzone mz;
	char zone[MPDP_NAME_MAX];
	int rc;

	rc = zone_name(env, suffix, zone, eb);
	if (rc != 0)
		return rc;
	rc = mpdp_shm_memzone_reserve(env->shm, zone, len, 0, -1, MPDP_MZ_KIND_RAW, addr);
	if (rc == 0)
		return 0;
	if (rc != -EEXIST)
		return mpdp_err_set(eb, rc, "stage %s: cannot reserve zone %s (%llu bytes): %s",
				    env->cfg->id, zone, (unsigned long long)len, mpdp_strerror(rc));
	rc = mpdp_shm_memzone_lookup(env->shm, zone, MPDP_MZ_KIND_RAW, &mz);
	if (rc != 0)
		return mpdp_err_set(eb, -EEXIST, "stage %s: %s exists and is not a plain zone",
				    env->cfg->id, zone);
	if (mz.len != want)
		return mpdp_err_set(eb, -EEXIST,
				    "stage %s: zone %s exists with %llu bytes, this configuration needs %llu",
				    env->cfg->id, zone, (unsigned long long)mz.len, (unsigned long long)want);
	*addr = mz.addr;
	return 1;
}

/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mpdp-primary: the capture manager. See capture.h for the life of a
 * capture and mpdp_capture.h for the shared slots it fills.
 *
 * Files are written in pcapng, in host byte order (the Section Header
 * Block's byte-order magic says which), through a buffer per capture that
 * is flushed at every poll. A regular file is written with plain write(2).
 * A pipe, terminal or socket is written only as far as it takes data
 * without blocking: the control thread must not wait on a slow reader.
 * What does not fit in the buffer is counted as dropped.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pcap/pcap.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "capture.h"
#include "mpdp_capture.h"
#include "mpdp_config.h"
#include "mpdp_mbuf.h"
#include "mpdp_pool.h"
#include "mpdp_ring.h"
#include "mpdp_shm.h"
#include "mpdp_time.h"

#define RECS_MAX (MPDP_CAPTURE_MAX + CAPTURE_HISTORY)
#define WBUF_SIZE (256u << 10)          /* pcapng bytes buffered per capture */
#define DRAIN_BURST 64
#define FINAL_FLUSH_NS 1000000000ull    /* how long the last flush may wait for a slow reader */
#define STOP_SLEEP_NS 2000000ull        /* polling step while a stop waits out its grace */

/* pcapng block types, option codes and the link type used here. */
enum {
	PCAPNG_SHB = 0x0A0D0D0A,
	PCAPNG_IDB = 0x00000001,
	PCAPNG_ISB = 0x00000005,
	PCAPNG_EPB = 0x00000006,
	PCAPNG_BOM = 0x1A2B3C4D,
	OPT_ENDOFOPT = 0,
	OPT_SHB_USERAPPL = 4,
	OPT_IF_NAME = 2,
	OPT_IF_DESCRIPTION = 3,
	OPT_IF_TSRESOL = 9,
	OPT_IF_FILTER = 11,
	OPT_ISB_STARTTIME = 2,
	OPT_ISB_ENDTIME = 3,
	OPT_ISB_FILTERACCEPT = 6,
	OPT_ISB_OSDROP = 7,
	OPT_ISB_USRDELIV = 8,
	LINKTYPE_ETHERNET = 1,
	TSRESOL_NS = 9,                 /* if_tsresol: 10^-9 s */
};

/* How an fd is written: plainly, or without ever blocking. */
enum fd_kind {
	FD_FILE,
	FD_SOCKET,
	FD_STREAM,                      /* pipe, terminal, character device */
};

struct writer {
	int fd;
	enum fd_kind kind;
	int err;                        /* first write error (positive errno), 0 when none */
	unsigned char *buf;
	size_t len;
};

struct capture_rec {
	struct capture_info info;
	int used;
	unsigned slot;
	int closing;                    /* target cleared, slot stopping: in its grace period */
	enum capture_state end_state;   /* what it becomes when the grace is over */
	uint64_t close_at;              /* CLOCK_MONOTONIC ns */
	uint64_t start_ns;              /* CLOCK_REALTIME ns, for the statistics block */
	uint64_t ended;                 /* order of ending: the oldest is evicted first */
	uint64_t file_drops;            /* copies that found no room in the buffer or file */
	int is_port;
	struct mpdp_ring *ring;
	unsigned port_idx;
	struct writer w;
};

struct capture_mgr {
	struct mpdp_shm *shm;
	struct mpdp_capture_zone *zone;
	struct mpdp_pool *pool;         /* made at the first start */
	uint32_t last_id;
	uint64_t n_ended;
	uint64_t late;                  /* copies freed because their capture had ended */
	struct capture_rec *running[MPDP_CAPTURE_MAX]; /* by slot */
	struct capture_rec recs[RECS_MAX];
};

typedef uint64_t u64_alias __attribute__((may_alias));

const char *
capture_state_name(enum capture_state s)
{
	switch (s) {
	case CAPTURE_RUNNING: return "running";
	case CAPTURE_DONE: return "done";
	case CAPTURE_STOPPED: return "stopped";
	case CAPTURE_FAILED: return "failed";
	}
	return "?";
}

static void
sleep_ns(uint64_t ns)
{
	struct timespec ts = { .tv_sec = (time_t)(ns / 1000000000u),
			       .tv_nsec = (long)(ns % 1000000000u) };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* --- the file --------------------------------------------------------------- */

/*
 * write(2) to a pipe whose reader is gone raises SIGPIPE, which would end
 * the primary. Block it for this thread around the call, and take back the
 * signal the failed write left pending.
 */
static ssize_t
write_nosigpipe(int fd, const void *p, size_t n)
{
	sigset_t pipe_set, old;
	struct timespec zero = { 0, 0 };
	ssize_t rc;
	int err;

	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
	rc = write(fd, p, n);
	err = errno;
	if (rc < 0 && err == EPIPE && !sigismember(&old, SIGPIPE))
		sigtimedwait(&pipe_set, NULL, &zero);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	errno = err;
	return rc;
}

/* One write; -1 with EAGAIN when the fd would block. */
static ssize_t
write_some(struct writer *w, const void *p, size_t n)
{
	struct pollfd pfd = { .fd = w->fd, .events = POLLOUT };

	switch (w->kind) {
	case FD_FILE:
		return write(w->fd, p, n);
	case FD_SOCKET:
		return send(w->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
	case FD_STREAM:
		break;
	}
	/* Ready for output takes at least PIPE_BUF bytes without blocking. */
	if (poll(&pfd, 1, 0) <= 0 || pfd.revents == 0) {
		errno = EAGAIN;
		return -1;
	}
	return write_nosigpipe(w->fd, p, n < PIPE_BUF ? n : PIPE_BUF);
}

/* Write out the buffer, waiting up to @wait_ns for a reader that is slow. */
static void
writer_flush(struct writer *w, uint64_t wait_ns)
{
	uint64_t until = mpdp_time_ns() + wait_ns;
	size_t done = 0;

	while (done < w->len && w->err == 0) {
		ssize_t n = write_some(w, w->buf + done, w->len - done);
		struct pollfd pfd = { .fd = w->fd, .events = POLLOUT };
		uint64_t now;

		if (n > 0) {
			done += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
			w->err = n == 0 ? EIO : errno;
			break;
		}
		now = mpdp_time_ns();
		if (wait_ns == 0 || now >= until)
			break;
		poll(&pfd, 1, (int)((until - now) / 1000000u) + 1);
	}
	memmove(w->buf, w->buf + done, w->len - done);
	w->len -= done;
}

/* Room for @need bytes at the end of the buffer, flushing first if needed; NULL when none. */
static unsigned char *
writer_room(struct writer *w, size_t need)
{
	if (w->err != 0 || need > WBUF_SIZE)
		return NULL;
	if (w->len + need > WBUF_SIZE)
		writer_flush(w, 0);
	return w->len + need <= WBUF_SIZE ? w->buf + w->len : NULL;
}

/* A block being built (SHB, IDB, ISB); EPBs go straight into the buffer. */
struct blk {
	unsigned char b[CAPTURE_FILTER_MAX + 512];
	size_t len;
};

static void
blk_put(struct blk *k, const void *p, size_t n)
{
	if (k->len + n > sizeof(k->b))
		abort(); /* the blocks are bounded by construction; see their builders */
	if (n > 0)
		memcpy(k->b + k->len, p, n);
	k->len += n;
}

static void
blk_u16(struct blk *k, uint16_t v)
{
	blk_put(k, &v, sizeof(v));
}

static void
blk_u32(struct blk *k, uint32_t v)
{
	blk_put(k, &v, sizeof(v));
}

static void
blk_begin(struct blk *k, uint32_t type)
{
	k->len = 0;
	blk_u32(k, type);
	blk_u32(k, 0); /* total length, set by blk_end() */
}

static void
blk_opt(struct blk *k, uint16_t code, const void *p, size_t n)
{
	static const unsigned char zero[4];

	blk_u16(k, code);
	blk_u16(k, (uint16_t)n);
	blk_put(k, p, n);
	blk_put(k, zero, (4 - n % 4) % 4);
}

static void
blk_opt_u64(struct blk *k, uint16_t code, uint64_t v)
{
	blk_opt(k, code, &v, sizeof(v));
}

/* A timestamp option: high then low 32 bits, in if_tsresol units. */
static void
blk_opt_ts(struct blk *k, uint16_t code, uint64_t ns)
{
	uint32_t v[2] = { (uint32_t)(ns >> 32), (uint32_t)ns };

	blk_opt(k, code, v, sizeof(v));
}

static void
blk_end(struct blk *k, int has_options)
{
	uint32_t total;

	if (has_options)
		blk_opt(k, OPT_ENDOFOPT, NULL, 0);
	total = (uint32_t)k->len + 4;
	memcpy(k->b + 4, &total, sizeof(total));
	blk_u32(k, total);
}

static int
writer_put(struct writer *w, const struct blk *k)
{
	unsigned char *p = writer_room(w, k->len);

	if (p == NULL)
		return -ENOBUFS;
	memcpy(p, k->b, k->len);
	w->len += k->len;
	return 0;
}

/* Section Header Block and the one Interface Description Block. */
static int
write_head(struct capture_rec *c)
{
	static const char appl[] = "mpdp " MPDP_CFG_VERSION;
	uint8_t tsresol = TSRESOL_NS;
	char desc[48];
	char filt[CAPTURE_FILTER_MAX + 1];
	size_t flen = strlen(c->info.filter);
	struct blk k;
	int rc;

	blk_begin(&k, PCAPNG_SHB);
	blk_u32(&k, PCAPNG_BOM);
	blk_u16(&k, 1); /* major */
	blk_u16(&k, 0); /* minor */
	blk_u32(&k, UINT32_MAX); /* section length unknown: -1 as 64 bits */
	blk_u32(&k, UINT32_MAX);
	blk_opt(&k, OPT_SHB_USERAPPL, appl, strlen(appl));
	blk_end(&k, 1);
	rc = writer_put(&c->w, &k);
	if (rc != 0)
		return rc;

	blk_begin(&k, PCAPNG_IDB);
	blk_u16(&k, LINKTYPE_ETHERNET);
	blk_u16(&k, 0);
	blk_u32(&k, c->info.snaplen);
	blk_opt(&k, OPT_IF_NAME, c->info.target, strlen(c->info.target));
	snprintf(desc, sizeof(desc), "mpdp %s", c->info.kind);
	blk_opt(&k, OPT_IF_DESCRIPTION, desc, strlen(desc));
	blk_opt(&k, OPT_IF_TSRESOL, &tsresol, 1);
	if (flen > 0) {
		filt[0] = 0; /* the expression is in libpcap's syntax */
		memcpy(filt + 1, c->info.filter, flen);
		blk_opt(&k, OPT_IF_FILTER, filt, flen + 1);
	}
	blk_end(&k, 1);
	return writer_put(&c->w, &k);
}

/* Interface Statistics Block: what the capture saw, from start to end. */
static int
write_stats(struct capture_rec *c)
{
	uint64_t now = mpdp_realtime_ns();
	struct blk k;

	blk_begin(&k, PCAPNG_ISB);
	blk_u32(&k, 0);
	blk_u32(&k, (uint32_t)(now >> 32));
	blk_u32(&k, (uint32_t)now);
	blk_opt_ts(&k, OPT_ISB_STARTTIME, c->start_ns);
	blk_opt_ts(&k, OPT_ISB_ENDTIME, now);
	blk_opt_u64(&k, OPT_ISB_FILTERACCEPT, c->info.matched);
	blk_opt_u64(&k, OPT_ISB_OSDROP, c->info.dropped);
	blk_opt_u64(&k, OPT_ISB_USRDELIV, c->info.written);
	blk_end(&k, 1);
	return writer_put(&c->w, &k);
}

/* One Enhanced Packet Block for a copy. */
static int
write_packet(struct capture_rec *c, const struct mpdp_mbuf *copy, uint32_t orig_len)
{
	uint32_t caplen = copy->data_len;
	unsigned room = copy->buf_len > copy->data_off ? (unsigned)copy->buf_len - copy->data_off : 0;
	uint32_t padded, total, head[7];
	unsigned char *p;

	if (caplen > c->info.snaplen)
		caplen = c->info.snaplen;
	if (caplen > room)
		caplen = room;
	if (orig_len < caplen)
		orig_len = caplen;
	padded = (caplen + 3u) & ~3u;
	total = 28 + padded + 4;
	p = writer_room(&c->w, total);
	if (p == NULL)
		return -ENOBUFS;
	head[0] = PCAPNG_EPB;
	head[1] = total;
	head[2] = 0; /* interface */
	head[3] = (uint32_t)(copy->timestamp >> 32);
	head[4] = (uint32_t)copy->timestamp;
	head[5] = caplen;
	head[6] = orig_len;
	memcpy(p, head, sizeof(head));
	memcpy(p + 28, mpdp_mbuf_data(copy), caplen);
	memset(p + 28 + caplen, 0, padded - caplen);
	memcpy(p + 28 + padded, &total, sizeof(total));
	c->w.len += total;
	return 0;
}

/* --- slots and targets --------------------------------------------------------- */

static struct mpdp_capture_slot *
slot_of(struct capture_mgr *m, const struct capture_rec *c)
{
	return &m->zone->slots[c->slot];
}

/* Fill and publish a slot: R0 and R1 of the protocol in shared/capture/capture.c. */
static void
slot_publish(struct mpdp_capture_slot *s, uint32_t id, unsigned snaplen, uint64_t limit,
	     const struct bpf_program *prog)
{
	u64_alias *dst = (u64_alias *)(void *)s->prog;

	atomic_store_explicit(&s->id, 0, memory_order_relaxed);
	atomic_thread_fence(memory_order_release); /* R0 */
	atomic_store_explicit(&s->state, MPDP_CAPTURE_SLOT_RUNNING, memory_order_relaxed);
	atomic_store_explicit(&s->snaplen, snaplen, memory_order_relaxed);
	atomic_store_explicit(&s->n_insns, prog->bf_len, memory_order_relaxed);
	atomic_store_explicit(&s->limit, limit, memory_order_relaxed);
	atomic_store_explicit(&s->matched, mpdp_capture_tag(id), memory_order_relaxed);
	atomic_store_explicit(&s->dropped, mpdp_capture_tag(id), memory_order_relaxed);
	for (unsigned i = 0; i < prog->bf_len; i++) {
		uint64_t w;

		memcpy(&w, &prog->bf_insns[i], sizeof(w));
		__atomic_store_n(&dst[i], w, __ATOMIC_RELAXED);
	}
	atomic_store_explicit(&s->id, id, memory_order_release); /* R1 */
}

static void
slot_release(struct mpdp_capture_slot *s)
{
	atomic_store_explicit(&s->state, MPDP_CAPTURE_SLOT_FREE, memory_order_relaxed);
	atomic_store_explicit(&s->id, 0, memory_order_release);
}

static int
port_find(const struct mpdp_abi_header *h, const char *name, unsigned *idx)
{
	for (unsigned i = 0; i < MPDP_PORT_MAX; i++) {
		const struct mpdp_abi_port *p = &h->ports[i];

		if (__atomic_load_n(&p->state, __ATOMIC_ACQUIRE) != MPDP_PORT_FREE &&
		    strncmp(p->name, name, MPDP_NAME_MAX) == 0) {
			*idx = i;
			return 1;
		}
	}
	return 0;
}

/* The capture word of the target; NULL when the target is gone. */
static uint32_t *
port_word(struct capture_mgr *m, const struct capture_rec *c)
{
	struct mpdp_abi_port *p = &mpdp_shm_header(m->shm)->ports[c->port_idx];

	if (__atomic_load_n(&p->state, __ATOMIC_ACQUIRE) == MPDP_PORT_FREE ||
	    strncmp(p->name, c->info.target, MPDP_NAME_MAX) != 0)
		return NULL;
	return &p->capture;
}

static _Atomic uint32_t *
ring_word(struct capture_mgr *m, const struct capture_rec *c)
{
	struct mpdp_ring *r;

	if (mpdp_ring_lookup(m->shm, c->info.target, &r) != 0 || r != c->ring)
		return NULL;
	return &r->capture;
}

static int
target_present(struct capture_mgr *m, const struct capture_rec *c)
{
	return c->is_port ? port_word(m, c) != NULL : ring_word(m, c) != NULL;
}

/* Swap the target's word from @from to @to; fails when it held something else or is gone. */
static int
target_swap(struct capture_mgr *m, const struct capture_rec *c, uint32_t from, uint32_t to)
{
	if (c->is_port) {
		uint32_t *w = port_word(m, c);

		return w != NULL && __atomic_compare_exchange_n(w, &from, to, 0, __ATOMIC_RELEASE,
								__ATOMIC_RELAXED);
	}
	_Atomic uint32_t *w = ring_word(m, c);

	return w != NULL && atomic_compare_exchange_strong_explicit(w, &from, to,
								    memory_order_release,
								    memory_order_relaxed);
}

/* --- capture life ----------------------------------------------------------- */

static void
refresh(struct capture_mgr *m, struct capture_rec *c)
{
	struct mpdp_capture_slot *s = slot_of(m, c);
	uint64_t tag = mpdp_capture_tag(c->info.id);
	uint64_t mw = atomic_load_explicit(&s->matched, memory_order_relaxed);
	uint64_t dw = atomic_load_explicit(&s->dropped, memory_order_relaxed);

	if ((mw & ~MPDP_CAPTURE_COUNT_MASK) == tag)
		c->info.matched = mpdp_capture_count(mw);
	if ((dw & ~MPDP_CAPTURE_COUNT_MASK) == tag)
		c->info.dropped = mpdp_capture_count(dw) + c->file_drops;
}

/* Write (for @c, the capture in the slot, or NULL) or free what the slot's ring holds. */
static void
slot_drain(struct capture_mgr *m, unsigned slot, struct capture_rec *c)
{
	struct mpdp_ring *r = mpdp_capture_zone_ring(m->zone, slot);
	unsigned budget = 2 * MPDP_CAPTURE_RING_SIZE; /* bounded work per call */
	void *objs[DRAIN_BURST];

	while (budget > 0) {
		unsigned n = mpdp_ring_dequeue_burst(r, objs, DRAIN_BURST, NULL);
		unsigned owned = 0;

		if (n == 0)
			break;
		budget -= n < budget ? n : budget;
		for (unsigned i = 0; i < n; i++) {
			struct mpdp_mbuf *copy = objs[i];
			struct mpdp_capture_rec rec;

			/* Anything but a capture buffer was put there by mistake: leave it. */
			if (m->pool == NULL || !mpdp_pool_owns(m->pool, copy))
				continue;
			objs[owned++] = copy;
			memcpy(&rec, copy->priv, sizeof(rec));
			if (c == NULL || rec.id != c->info.id)
				m->late++;
			else if (write_packet(c, copy, rec.orig_len) == 0)
				c->info.written++;
			else
				c->file_drops++;
		}
		if (owned > 0)
			mpdp_pool_put_bulk(m->pool, MPDP_POOL_NO_CACHE, objs, owned);
	}
}

/* Stop new copies and start the grace period. */
static void
begin_close(struct capture_mgr *m, struct capture_rec *c, enum capture_state end,
	    const char *why)
{
	if (c->closing)
		return;
	target_swap(m, c, c->info.id + 1, 0);
	atomic_store_explicit(&slot_of(m, c)->state, MPDP_CAPTURE_SLOT_STOPPING,
			      memory_order_relaxed);
	c->closing = 1;
	c->end_state = end;
	c->close_at = mpdp_time_ns() + CAPTURE_GRACE_NS;
	if (why != NULL)
		snprintf(c->info.error, sizeof(c->info.error), "%s", why);
}

/* After the grace: last drain, statistics, close the file, free the slot. */
static void
finish(struct capture_mgr *m, struct capture_rec *c)
{
	slot_drain(m, c->slot, c);
	refresh(m, c);
	if (c->w.err == 0)
		(void)write_stats(c); /* with no room left, the file ends without statistics */
	writer_flush(&c->w, c->w.kind == FD_FILE ? 0 : FINAL_FLUSH_NS);
	if (c->w.err != 0 || c->w.len != 0) {
		c->end_state = CAPTURE_FAILED;
		snprintf(c->info.error, sizeof(c->info.error), "the file is incomplete: %s",
			 c->w.err != 0 ? strerror(c->w.err) : "the reader took too long");
	}
	close(c->w.fd);
	free(c->w.buf);
	c->w.buf = NULL;
	c->w.fd = -1;
	slot_release(slot_of(m, c));
	m->running[c->slot] = NULL;
	c->closing = 0;
	c->info.state = c->end_state;
	c->ended = ++m->n_ended;
}

void
capture_poll(struct capture_mgr *m)
{
	for (unsigned slot = 0; slot < MPDP_CAPTURE_MAX; slot++) {
		struct capture_rec *c = m->running[slot];
		char why[128];

		slot_drain(m, slot, c);
		if (c == NULL)
			continue;
		if (c->w.len > 0)
			writer_flush(&c->w, 0);
		refresh(m, c);
		if (!c->closing) {
			if (c->w.err != 0) {
				snprintf(why, sizeof(why), "writing the file: %s", strerror(c->w.err));
				begin_close(m, c, CAPTURE_FAILED, why);
			} else if (c->info.limit != 0 && c->info.matched >= c->info.limit) {
				begin_close(m, c, CAPTURE_DONE, NULL);
			} else if (!target_present(m, c)) {
				snprintf(why, sizeof(why), "the %s went away", c->info.kind);
				begin_close(m, c, CAPTURE_STOPPED, why);
			}
		} else if (mpdp_time_ns() >= c->close_at) {
			finish(m, c);
		}
	}
}

/* --- the manager's API ------------------------------------------------------ */

int
capture_mgr_open(struct mpdp_shm *shm, struct capture_mgr **out, struct mpdp_errbuf *eb)
{
	struct capture_mgr *m = calloc(1, sizeof(*m));
	int rc;

	if (m == NULL)
		return mpdp_err_set(eb, -ENOMEM, "capture manager: out of memory");
	m->shm = shm;
	rc = mpdp_capture_zone_create(shm, &m->zone);
	if (rc != 0) {
		free(m);
		return mpdp_err_set(eb, rc, "capture zone '%s' (%zu bytes): %s", MPDP_CAPTURE_ZONE,
				    mpdp_capture_zone_memsize(), mpdp_strerror(rc));
	}
	*out = m;
	return 0;
}

void
capture_mgr_close(struct capture_mgr *m)
{
	int busy;

	if (m == NULL)
		return;
	for (unsigned i = 0; i < MPDP_CAPTURE_MAX; i++) {
		if (m->running[i] != NULL)
			begin_close(m, m->running[i], CAPTURE_STOPPED, NULL);
	}
	do {
		busy = 0;
		capture_poll(m);
		for (unsigned i = 0; i < MPDP_CAPTURE_MAX; i++)
			busy |= m->running[i] != NULL;
		if (busy)
			sleep_ns(STOP_SLEEP_NS);
	} while (busy);
	for (unsigned i = 0; i < MPDP_CAPTURE_MAX; i++)
		slot_drain(m, i, NULL);
	if (m->pool != NULL)
		mpdp_pool_delete(m->shm, m->pool);
	mpdp_capture_zone_delete(m->shm, m->zone);
	free(m);
}

/* The capture pool, made at the first start. */
static int
pool_ensure(struct capture_mgr *m, struct mpdp_errbuf *eb)
{
	int rc;

	if (m->pool != NULL)
		return 0;
	/* No cache: a worker holding capture buffers in its cache would strand them. */
	rc = mpdp_mbuf_pool_create(m->shm, MPDP_CAPTURE_POOL, MPDP_CAPTURE_POOL_SIZE, 0,
				   MPDP_CAPTURE_SNAPLEN_MAX, -1, &m->pool);
	if (rc != 0)
		return mpdp_err_set(eb, rc, "capture pool '%s' (%u buffers of %u bytes): %s",
				    MPDP_CAPTURE_POOL, MPDP_CAPTURE_POOL_SIZE,
				    MPDP_CAPTURE_SNAPLEN_MAX, mpdp_strerror(rc));
	rc = mpdp_capture_zone_set_pool(m->shm, m->zone, m->pool);
	if (rc != 0) {
		mpdp_pool_delete(m->shm, m->pool);
		m->pool = NULL;
		return mpdp_err_set(eb, rc, "capture pool '%s' is unusable", MPDP_CAPTURE_POOL);
	}
	return 0;
}

/* Resolve "NAME", "port:NAME" or "ring:NAME" into @c. */
static int
target_resolve(struct capture_mgr *m, const char *spec, struct capture_rec *c,
	       struct mpdp_errbuf *eb)
{
	const struct mpdp_abi_header *h = mpdp_shm_header(m->shm);
	const char *name = spec;
	int want_port = 1, want_ring = 1, is_port, is_ring;
	struct mpdp_ring *r = NULL;
	unsigned idx = 0;

	if (strncmp(spec, "port:", 5) == 0) {
		name = spec + 5;
		want_ring = 0;
	} else if (strncmp(spec, "ring:", 5) == 0) {
		name = spec + 5;
		want_port = 0;
	}
	if (name[0] == '\0' || strlen(name) >= MPDP_NAME_MAX)
		return mpdp_err_set(eb, -EINVAL, "bad capture target '%s'", spec);
	is_port = want_port && port_find(h, name, &idx);
	is_ring = want_ring && mpdp_ring_lookup(m->shm, name, &r) == 0;
	if (is_port && is_ring)
		return mpdp_err_set(eb, -EINVAL,
				    "'%s' names both a port and a ring: say port:%s or ring:%s",
				    name, name, name);
	if (!is_port && !is_ring)
		return mpdp_err_set(eb, -ENOENT, "no %s named '%s'",
				    want_port && want_ring ? "ring or port" : want_port ? "port" : "ring",
				    name);
	c->is_port = is_port;
	c->ring = r;
	c->port_idx = idx;
	snprintf(c->info.kind, sizeof(c->info.kind), "%s", is_port ? "port" : "ring");
	snprintf(c->info.target, sizeof(c->info.target), "%s", name);
	return 0;
}

static uint32_t
target_load(struct capture_mgr *m, const struct capture_rec *c)
{
	if (c->is_port)
		return __atomic_load_n(&mpdp_shm_header(m->shm)->ports[c->port_idx].capture,
				       __ATOMIC_RELAXED);
	return atomic_load_explicit(&c->ring->capture, memory_order_relaxed);
}

static int
filter_compile(const char *filter, unsigned snaplen, struct bpf_program *prog,
	       struct mpdp_errbuf *eb)
{
	pcap_t *p = pcap_open_dead(DLT_EN10MB, (int)snaplen);
	int rc = 0;

	if (p == NULL)
		return mpdp_err_set(eb, -ENOMEM, "filter '%s': out of memory", filter);
	if (pcap_compile(p, prog, filter, 1, PCAP_NETMASK_UNKNOWN) != 0) {
		rc = mpdp_err_set(eb, -EINVAL, "filter '%s': %s", filter, pcap_geterr(p));
	} else if (prog->bf_len == 0 || prog->bf_len > MPDP_CAPTURE_BPF_MAX) {
		rc = mpdp_err_set(eb, -EINVAL,
				  "filter '%s' compiles to %u BPF instructions; at most %u fit",
				  filter, prog->bf_len, MPDP_CAPTURE_BPF_MAX);
		pcap_freecode(prog);
	}
	pcap_close(p);
	return rc;
}

static int
fd_check(int fd, enum fd_kind *kind, struct mpdp_errbuf *eb)
{
	struct stat st;
	int fl;

	if (fd < 0)
		return mpdp_err_set(eb, -EBADF, "no file came with the capture request");
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fstat(fd, &st) != 0)
		return mpdp_err_set(eb, -EBADF, "the capture file is not usable: %s",
				    strerror(errno));
	if ((fl & O_ACCMODE) == O_RDONLY)
		return mpdp_err_set(eb, -EBADF, "the capture file is not open for writing");
	*kind = S_ISREG(st.st_mode) ? FD_FILE : S_ISSOCK(st.st_mode) ? FD_SOCKET : FD_STREAM;
	return 0;
}

/* A record for a new capture: a free one, else the one that ended first. */
static struct capture_rec *
rec_take(struct capture_mgr *m)
{
	struct capture_rec *old = NULL;

	for (unsigned i = 0; i < RECS_MAX; i++) {
		struct capture_rec *c = &m->recs[i];

		if (!c->used)
			return c;
		if (c->info.state != CAPTURE_RUNNING && (old == NULL || c->ended < old->ended))
			old = c;
	}
	return old; /* never NULL: at most MPDP_CAPTURE_MAX records run */
}

/* The next id whose slot (id % MPDP_CAPTURE_MAX) is free, or 0 when none is. */
static uint32_t
id_next(struct capture_mgr *m)
{
	for (uint32_t id = m->last_id + 1, tries = 0; tries < MPDP_CAPTURE_MAX; id++, tries++) {
		if (id == 0 || id == UINT32_MAX)
			id = 1; /* the word holds id + 1, and 0 means none */
		if (m->running[id % MPDP_CAPTURE_MAX] == NULL)
			return id;
	}
	return 0;
}

int
capture_start(struct capture_mgr *m, const char *target, const char *filter, unsigned snaplen,
	      uint64_t count, int fd, const char *file_label, uint32_t *id,
	      struct mpdp_errbuf *eb)
{
	struct capture_rec c = { .w.fd = fd };
	struct bpf_program prog;
	struct capture_rec *slot_rec;
	uint32_t busy, new_id;
	int rc;

	if (filter == NULL)
		filter = "";
	rc = fd_check(fd, &c.w.kind, eb);
	if (rc != 0)
		goto fail;
	if (target == NULL) {
		rc = mpdp_err_set(eb, -EINVAL, "no capture target given");
		goto fail;
	}
	if (strlen(filter) >= CAPTURE_FILTER_MAX) {
		rc = mpdp_err_set(eb, -EINVAL, "the filter is %zu bytes long; at most %u are allowed",
				  strlen(filter), CAPTURE_FILTER_MAX - 1);
		goto fail;
	}
	if (snaplen > MPDP_CAPTURE_SNAPLEN_MAX) {
		rc = mpdp_err_set(eb, -EINVAL, "snaplen %u is beyond the largest, %u", snaplen,
				  MPDP_CAPTURE_SNAPLEN_MAX);
		goto fail;
	}
	if (count > MPDP_CAPTURE_COUNT_MASK) {
		rc = mpdp_err_set(eb, -EINVAL, "count %llu is beyond the largest, %llu",
				  (unsigned long long)count,
				  (unsigned long long)MPDP_CAPTURE_COUNT_MASK);
		goto fail;
	}
	rc = target_resolve(m, target, &c, eb);
	if (rc != 0)
		goto fail;
	busy = target_load(m, &c);
	if (busy != 0) {
		rc = mpdp_err_set(eb, -EBUSY, "%s '%s' is already captured (capture %u)",
				  c.info.kind, c.info.target, busy - 1);
		goto fail;
	}
	new_id = id_next(m);
	if (new_id == 0) {
		rc = mpdp_err_set(eb, -ENOSPC, "all %u capture slots are busy: stop a capture first",
				  MPDP_CAPTURE_MAX);
		goto fail;
	}
	c.info.snaplen = snaplen != 0 ? snaplen : MPDP_CAPTURE_SNAPLEN_MAX;
	rc = filter_compile(filter, c.info.snaplen, &prog, eb);
	if (rc != 0)
		goto fail;
	rc = pool_ensure(m, eb);
	if (rc != 0)
		goto fail_prog;

	c.info.id = new_id;
	c.info.state = CAPTURE_RUNNING;
	c.info.limit = count;
	c.slot = new_id % MPDP_CAPTURE_MAX;
	c.start_ns = mpdp_realtime_ns();
	snprintf(c.info.filter, sizeof(c.info.filter), "%s", filter);
	snprintf(c.info.file, sizeof(c.info.file), "%s", file_label != NULL ? file_label : "");
	c.w.buf = malloc(WBUF_SIZE);
	if (c.w.buf == NULL) {
		rc = mpdp_err_set(eb, -ENOMEM, "capture buffer: out of memory");
		goto fail_prog;
	}
	(void)write_head(&c); /* fits: the buffer is empty; a write error shows below */
	writer_flush(&c.w, c.w.kind == FD_FILE ? 0 : FINAL_FLUSH_NS);
	if (c.w.err != 0 || c.w.len != 0) {
		rc = c.w.err != 0 ? -c.w.err : -EAGAIN;
		mpdp_err_set(eb, rc, "cannot write the capture file%s%s: %s",
			     c.info.file[0] ? " " : "", c.info.file,
			     c.w.err != 0 ? strerror(c.w.err) : "its reader takes nothing");
		goto fail_buf;
	}

	/* Copies left from an earlier capture in this slot are freed, not written. */
	slot_drain(m, c.slot, NULL);
	slot_publish(&m->zone->slots[c.slot], new_id, c.info.snaplen, count, &prog);
	pcap_freecode(&prog);
	if (!target_swap(m, &c, 0, new_id + 1)) {
		slot_release(&m->zone->slots[c.slot]);
		rc = mpdp_err_set(eb, -EBUSY, "%s '%s' was taken by another capture", c.info.kind,
				  c.info.target);
		goto fail_buf;
	}
	slot_rec = rec_take(m);
	*slot_rec = c;
	slot_rec->used = 1;
	m->running[c.slot] = slot_rec;
	m->last_id = new_id;
	*id = new_id;
	return 0;

fail_prog:
	pcap_freecode(&prog);
fail_buf:
	free(c.w.buf);
fail:
	if (fd >= 0)
		close(fd);
	return rc;
}

int
capture_stop(struct capture_mgr *m, uint32_t id, struct mpdp_errbuf *eb)
{
	struct capture_rec *c = NULL;
	unsigned running = 0;

	if (id == 0) {
		for (unsigned i = 0; i < MPDP_CAPTURE_MAX; i++) {
			if (m->running[i] != NULL) {
				c = m->running[i];
				running++;
			}
		}
		if (running == 0)
			return mpdp_err_set(eb, -ENOENT, "no capture is running");
		if (running > 1)
			return mpdp_err_set(eb, -EINVAL, "%u captures are running: say which one",
					    running);
	} else {
		for (unsigned i = 0; i < RECS_MAX; i++) {
			if (m->recs[i].used && m->recs[i].info.id == id)
				c = &m->recs[i];
		}
		if (c == NULL)
			return mpdp_err_set(eb, -ENOENT, "no capture %u", id);
		if (c->info.state != CAPTURE_RUNNING)
			return mpdp_err_set(eb, -EALREADY, "capture %u has already ended (%s)", id,
					    capture_state_name(c->info.state));
	}
	begin_close(m, c, CAPTURE_STOPPED, NULL);
	/* Keep every capture draining while this one waits out its grace. */
	while (c->info.state == CAPTURE_RUNNING) {
		capture_poll(m);
		if (c->info.state == CAPTURE_RUNNING)
			sleep_ns(STOP_SLEEP_NS);
	}
	return 0;
}

unsigned
capture_list(struct capture_mgr *m, struct capture_info *out, unsigned max)
{
	struct capture_rec *sorted[RECS_MAX];
	unsigned n = 0;

	for (unsigned i = 0; i < RECS_MAX; i++) {
		struct capture_rec *c = &m->recs[i];
		unsigned j = n++;

		if (!c->used) {
			n--;
			continue;
		}
		if (c->info.state == CAPTURE_RUNNING)
			refresh(m, c);
		/* Insertion by id: twenty records at most. */
		for (; j > 0 && sorted[j - 1]->info.id > c->info.id; j--)
			sorted[j] = sorted[j - 1];
		sorted[j] = c;
	}
	if (n > max)
		n = max;
	for (unsigned i = 0; i < n; i++)
		out[i] = sorted[i]->info;
	return n;
}

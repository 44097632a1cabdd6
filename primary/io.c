/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The I/O loop. For each of its ports a worker moves what the port received
 * to NAME.rx (or straight to the patched port), and what stages put on
 * NAME.tx to the port. Nothing is lost silently: a live source whose ring
 * is full counts rx_missed, a file source waits (back-pressure), and what a
 * driver will not send is counted as tx_drops and freed.
 */
#include <errno.h>
#include <sched.h>
#include <string.h>

#include "io.h"
#include "mpdp_capture.h"
#include "mpdp_log.h"
#include "mpdp_seqcount.h"
#include "mpdp_stage.h"
#include "mpdp_time.h"
#include "mpdp_worker.h"

/* How often (in TSC ticks, set at start) links are checked and files flushed. */
#define IO_HOUSEKEEPING_NS 100000000ull
/* --lockstep: seconds one packet may stay in flight before the next is read anyway. */
#define IO_LOCKSTEP_WAIT_S 2

/*
 * Give a burst to a port's driver and count what it sent. The driver frees
 * what it takes, so the bytes are summed first; what it took but failed to
 * send it counts in tx_errors, and that is not counted as sent.
 */
static uint16_t
transmit(struct mpdp_port *port, struct mpdp_mbuf **pkts, uint16_t n)
{
	struct mpdp_abi_port_queue *q = &port->abi->queues[0];
	uint64_t bytes = mpdp_mbuf_bytes(pkts, n), errors = q->tx_errors;
	uint16_t taken;

	mpdp_capture_port(port->shm, port->abi, pkts, n);
	mpdp_seq_write_begin(&port->abi->seq);
	taken = mpdp_port_tx_burst(port, 0, pkts, n);
	if (taken < n)
		bytes -= mpdp_mbuf_bytes(pkts + taken, (unsigned)(n - taken));
	mpdp_port_count(&q->tx_packets, taken - (q->tx_errors - errors));
	mpdp_port_count(&q->tx_bytes, bytes);
	mpdp_seq_write_end(&port->abi->seq);
	return taken;
}

/* A port's counters that change together change inside its sequence word (mpdp_seqcount.h). */
static void
count_one(struct mpdp_port *port, uint64_t *counter, uint64_t n)
{
	mpdp_seq_write_begin(&port->abi->seq);
	mpdp_port_count(counter, n);
	mpdp_seq_write_end(&port->abi->seq);
}

/* Hand a received burst on: to the patched port or to NAME.rx. Returns how many were taken. */
static uint16_t
deliver(struct io_port *ip, struct mpdp_port *patch, struct mpdp_mbuf **pkts, uint16_t n)
{
	if (patch != NULL)
		return transmit(patch, pkts, n);
	return (uint16_t)mpdp_ring_enqueue_burst(ip->port->rx_ring, (void *const *)pkts, n, NULL);
}

/* A file source keeps what could not be delivered and retries it first. */
static int
retry_held(struct io_port *ip)
{
	uint16_t done;

	if (ip->n_held == 0)
		return 1;
	done = deliver(ip, atomic_load_explicit(&ip->patch, memory_order_acquire),
		       ip->held + ip->held_off, ip->n_held);
	ip->held_off = (uint16_t)(ip->held_off + done);
	ip->n_held = (uint16_t)(ip->n_held - done);
	if (ip->n_held != 0)
		return 0;
	ip->held_off = 0;
	return 1;
}

static int
add_stage_drops(struct mpdp_abi_stage *slot, void *arg)
{
	struct mpdp_stage_totals t;

	mpdp_stage_totals(slot, &t);
	*(uint64_t *)arg += t.dropped;
	return 0;
}

/*
 * --lockstep: packets received that have not yet left the instance. Every
 * packet ends exactly once, counted where it ends: sent, refused or dropped
 * by a port, or dropped by a stage (by verdict or at a full or unbound
 * output). Each count is written after the packet ends, so a zero here is
 * never early.
 */
static uint64_t
in_flight(struct io_worker *w)
{
	uint64_t in = 0, out = 0;

	for (unsigned i = 0; i < w->n_ports; i++) {
		const struct mpdp_abi_port *abi = w->ports[i].port->abi;

		for (unsigned q = 0; q < MPDP_PORT_QUEUE_MAX; q++) {
			const struct mpdp_abi_port_queue *pq = &abi->queues[q];

			in += __atomic_load_n(&pq->rx_packets, __ATOMIC_ACQUIRE);
			out += __atomic_load_n(&pq->tx_packets, __ATOMIC_ACQUIRE) +
			       __atomic_load_n(&pq->tx_errors, __ATOMIC_ACQUIRE) +
			       __atomic_load_n(&pq->tx_drops, __ATOMIC_ACQUIRE);
		}
	}
	mpdp_stage_walk(w->shm, add_stage_drops, &out);
	return in > out ? in - out : 0;
}

/* --lockstep: whether the next packet may be read; a packet stuck in flight is waited for only so long. */
static int
lockstep_ready(struct io_worker *w)
{
	uint64_t now;

	if (in_flight(w) == 0) {
		w->lockstep_wait_tsc = 0;
		return 1;
	}
	now = mpdp_tsc();
	if (w->lockstep_wait_tsc == 0) {
		w->lockstep_wait_tsc = now;
		return 0;
	}
	if (now - w->lockstep_wait_tsc < mpdp_tsc_hz() * IO_LOCKSTEP_WAIT_S)
		return 0;
	MPDP_LOG(WARN, "--lockstep: a packet is still in flight after %d s (a ring nobody reads?); going on",
		 IO_LOCKSTEP_WAIT_S);
	w->lockstep_wait_tsc = 0;
	return 1;
}

static void
poll_rx(struct io_worker *w, struct io_port *ip, uint16_t qid, struct mpdp_mbuf **pkts)
{
	struct mpdp_port *port = ip->port;
	struct mpdp_abi_port_queue *q = &port->abi->queues[qid];
	struct mpdp_port *patch;
	uint16_t n, done;

	if (!retry_held(ip))
		return;
	if (w->lockstep && !lockstep_ready(w))
		return;
	/* The driver counts rx_errors itself: its call is inside the sequence word too. */
	mpdp_seq_write_begin(&port->abi->seq);
	n = mpdp_port_rx_burst(port, qid, pkts, w->lockstep ? 1 : IO_BURST);
	mpdp_seq_write_end(&port->abi->seq);
	if (n == 0) {
		if ((port->abi->flags & MPDP_PORT_F_RX_EOF) && !atomic_load(&ip->drained))
			atomic_store(&ip->drained, 1);
		return;
	}
	mpdp_capture_port(w->shm, port->abi, pkts, n);
	patch = atomic_load_explicit(&ip->patch, memory_order_acquire);
	done = deliver(ip, patch, pkts, n);
	if (done < n && (port->abi->flags & MPDP_PORT_F_FILE_RX)) {
		/* A file source waits: keep the rest and deliver it first next time. */
		memcpy(ip->held, pkts + done, (size_t)(n - done) * sizeof(pkts[0]));
		ip->n_held = (uint16_t)(n - done);
		done = n;
	}
	mpdp_seq_write_begin(&port->abi->seq);
	mpdp_port_count(&q->rx_packets, done);
	mpdp_port_count(&q->rx_bytes, mpdp_mbuf_bytes(pkts, done));
	/* A live source cannot wait: what did not fit is missed (or dropped by the patch). */
	if (done < n && patch == NULL)
		mpdp_port_count(&q->rx_missed, (uint64_t)(n - done));
	mpdp_seq_write_end(&port->abi->seq);
	if (done == n)
		return;
	if (patch != NULL)
		count_one(patch, &patch->abi->queues[0].tx_drops, (uint64_t)(n - done));
	mpdp_mbuf_free_bulk(pkts + done, (unsigned)(n - done), port->wid);
}

static void
poll_tx(struct io_port *ip, struct mpdp_mbuf **pkts)
{
	struct mpdp_port *port = ip->port;
	struct mpdp_abi_port_queue *q = &port->abi->queues[0];
	uint16_t n, sent;

	n = (uint16_t)mpdp_ring_dequeue_burst(port->tx_ring, (void **)pkts, IO_BURST, NULL);
	if (n == 0)
		return;
	mpdp_capture_ring(port->shm, port->tx_ring, pkts, n);
	sent = port->abi->link ? transmit(port, pkts, n) : 0;
	if (sent < n) {
		count_one(port, &q->tx_drops, (uint64_t)(n - sent));
		mpdp_mbuf_free_bulk(pkts + sent, (unsigned)(n - sent), port->wid);
	}
}

static void
housekeeping(struct io_worker *w)
{
	for (unsigned i = 0; i < w->n_ports; i++) {
		struct mpdp_port *port = w->ports[i].port;
		int link;

		if (port->ops->flush != NULL)
			port->ops->flush(port);
		if (port->ops->link_check == NULL)
			continue;
		link = port->ops->link_check(port) ? 1 : 0;
		if ((uint32_t)link == port->abi->link)
			continue;
		port->abi->link = (uint32_t)link;
		count_one(port, &port->abi->link_changes, 1);
		MPDP_LOG(WARN, "port %s: link %s", port->abi->name, link ? "back up" : "down");
	}
}

static void *
io_main(void *arg)
{
	struct io_worker *w = arg;
	struct mpdp_mbuf *pkts[IO_BURST];
	uint64_t hz = mpdp_tsc_hz(), next, period;
	int rc;

	rc = mpdp_worker_register(w->shm, w->name, w->cpu, &w->wid);
	if (rc != 0) {
		MPDP_LOG(ERR, "%s: cannot take a worker id on core %d: %s", w->name, w->cpu,
			 mpdp_strerror(rc));
		atomic_store(w->stop, 1);
		return NULL;
	}
	for (unsigned i = 0; i < w->n_ports; i++)
		w->ports[i].port->wid = w->wid;
	period = hz / (1000000000ull / IO_HOUSEKEEPING_NS);
	next = mpdp_tsc() + period;
	while (!atomic_load_explicit(w->stop, memory_order_relaxed)) {
		for (unsigned i = 0; i < w->n_ports; i++) {
			/* A stopped port is not polled: its driver queues and its NAME.tx wait. */
			if (atomic_load_explicit((_Atomic uint32_t *)&w->ports[i].port->abi->state,
						 memory_order_relaxed) != MPDP_PORT_STARTED)
				continue;
			for (uint16_t q = 0; q < w->ports[i].port->n_queues; q++)
				poll_rx(w, &w->ports[i], q, pkts);
			poll_tx(&w->ports[i], pkts);
		}
		if (mpdp_tsc() >= next) {
			housekeeping(w);
			next = mpdp_tsc() + period;
		}
		atomic_fetch_add_explicit(&w->rounds, 1, memory_order_release);
	}
	/* Stopping: what is still held goes back to the pool, outputs are flushed. */
	for (unsigned i = 0; i < w->n_ports; i++) {
		struct io_port *ip = &w->ports[i];

		mpdp_mbuf_free_bulk(ip->held + ip->held_off, ip->n_held, w->wid);
		ip->n_held = 0;
		if (ip->port->ops->flush != NULL)
			ip->port->ops->flush(ip->port);
		ip->port->wid = MPDP_POOL_NO_CACHE;
	}
	mpdp_worker_release(w->shm, w->wid);
	return NULL;
}

int
io_worker_start(struct io_worker *w)
{
	int rc = pthread_create(&w->thread, NULL, io_main, w);

	if (rc != 0)
		return -rc;
	w->started = 1;
	return 0;
}

int
io_worker_quiesce(struct io_worker *w, unsigned timeout_ms)
{
	uint64_t seen, deadline = mpdp_time_ns() + (uint64_t)timeout_ms * 1000000ull;

	if (!w->started)
		return 0;
	/* A round that began before the caller's change ends with this increment. */
	seen = atomic_load(&w->rounds);
	while (atomic_load(&w->rounds) == seen) {
		if (mpdp_time_ns() >= deadline)
			return -ETIMEDOUT;
		sched_yield();
	}
	return 0;
}

void
io_worker_join(struct io_worker *w)
{
	if (w->started)
		pthread_join(w->thread, NULL);
	w->started = 0;
}

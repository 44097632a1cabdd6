/* SPDX-License-Identifier: BSD-3-Clause */
/* mpdp-primary: the I/O workers that poll the ports (private to this program). */
#ifndef MPDP_PRIMARY_IO_H
#define MPDP_PRIMARY_IO_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "mpdp_port.h"

#define IO_BURST MPDP_CFG_BURST
#define IO_PORTS_MAX MPDP_PORT_MAX

/* One polled port, as its worker sees it. */
struct io_port {
	struct mpdp_port *port;
	/* Cross-connected destination, or NULL; the control thread may change it. */
	struct mpdp_port *_Atomic patch;
	struct mpdp_mbuf *held[IO_BURST]; /* back-pressured file input, oldest first */
	uint16_t n_held;
	uint16_t held_off;
	_Atomic int drained;              /* file input exhausted and nothing held */
};

struct io_worker {
	unsigned index;
	int cpu;                          /* -1: not pinned */
	unsigned wid;
	pthread_t thread;
	int started;
	_Atomic int *stop;
	struct mpdp_shm *shm;
	int lockstep;                     /* read one packet only when none is in flight */
	uint64_t lockstep_wait_tsc;       /* when the current wait began, 0 when none */
	_Atomic uint64_t rounds;          /* polling rounds finished, for io_worker_quiesce() */
	unsigned n_ports;
	struct io_port ports[IO_PORTS_MAX];
	char name[MPDP_NAME_MAX];
};

/**
 * Start a worker thread: it takes a worker id, pins itself to @p w->cpu
 * and polls its ports until *w->stop.
 *
 * @return 0, or -errno
 */
int io_worker_start(struct io_worker *w);

/**
 * Wait until the worker has finished the polling round it was in, so that a
 * change made before the call (a port stopped, a patch removed) is seen by
 * every packet it handles afterwards.
 *
 * @return 0, -ETIMEDOUT after @p timeout_ms, or 0 at once when not running
 */
int io_worker_quiesce(struct io_worker *w, unsigned timeout_ms);

/** Wait for the worker to stop; it flushes its ports and gives back its id. */
void io_worker_join(struct io_worker *w);

#endif /* MPDP_PRIMARY_IO_H */

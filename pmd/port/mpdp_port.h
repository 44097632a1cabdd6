/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * Ports and their poll-mode drivers.
 *
 * A port is opened from DPDK-style device arguments,
 * "NAME,driver=DRV[,key=value]...", by the process that will poll it (the
 * primary). Its slot in the shared port table (mpdp_abi.h) holds its name,
 * driver, state, link and per-queue counters, which any attached process can
 * read; the driver's own state and its ops table are private to the opening
 * process, so no function pointer is ever in shared memory.
 *
 * Every port also has two rings in shared memory, "NAME.rx" (what the port
 * received, for the stages) and "NAME.tx" (what the stages want sent).
 *
 * The rx and tx burst calls are the data path: they never block and return
 * counts. A driver's rx allocates mbufs from the port's pool with the
 * caller's worker id; its tx takes ownership of the mbufs it accepts (sends
 * and frees them) and leaves the rest to the caller.
 */
#ifndef MPDP_PORT_H
#define MPDP_PORT_H

#include <stdint.h>
#include <stdio.h>

#include "mpdp_abi.h"
#include "mpdp_err.h"
#include "mpdp_mbuf.h"
#include "mpdp_parse.h"
#include "mpdp_ring.h"

struct mpdp_shm;
struct mpdp_port;

/** What a driver provides. One const table per driver, found by name. */
struct mpdp_pmd_ops {
	const char *driver;
	/** Bytes of driver state allocated with the port (port->priv). */
	size_t priv_size;
	/**
	 * Open the device from its arguments. Take each key with
	 * mpdp_kvargs_get(); keys left unread are reported as unknown.
	 * Set port->n_queues (default 1) and the port flags it needs.
	 * @return 0, or -errno with a message naming the key in @p eb
	 */
	int (*open)(struct mpdp_port *port, struct mpdp_kvargs *kv, struct mpdp_errbuf *eb);
	/** Release everything open() took. */
	void (*close)(struct mpdp_port *port);
	/** Receive up to @p n packets on queue @p q. */
	uint16_t (*rx_burst)(struct mpdp_port *port, uint16_t q, struct mpdp_mbuf **pkts, uint16_t n);
	/** Send up to @p n packets on queue @p q; returns how many it took. */
	uint16_t (*tx_burst)(struct mpdp_port *port, uint16_t q, struct mpdp_mbuf **pkts, uint16_t n);
	/**
	 * Optional: check the device (called about every 100 ms by the poller,
	 * not per burst) and try to recover a lost one.
	 * @return 1 link up, 0 link down
	 */
	int (*link_check)(struct mpdp_port *port);
	/** Optional: push out buffered output (files), called at idle and at stop. */
	void (*flush)(struct mpdp_port *port);
};

/** A port as seen by the process that polls it. */
struct mpdp_port {
	struct mpdp_abi_port *abi;          /**< the shared slot */
	const struct mpdp_pmd_ops *ops;
	struct mpdp_shm *shm;
	struct mpdp_pool *pool;             /**< where rx takes mbufs from */
	struct mpdp_ring *rx_ring;          /**< NAME.rx */
	struct mpdp_ring *tx_ring;          /**< NAME.tx */
	unsigned wid;                       /**< worker id of the poller (mbuf caches) */
	uint16_t id;                        /**< index in the port table */
	uint16_t n_queues;
	void *priv;                         /**< driver state, priv_size bytes, zeroed */
};

/** @return the ops of driver @p name, or NULL. */
const struct mpdp_pmd_ops *mpdp_pmd_find(const char *name);

/** @return the names of every driver, NULL-terminated (for help texts). */
const char *const *mpdp_pmd_names(void);

/**
 * Open a port from its device arguments, take a port slot and create the
 * port's rings (@p ring_size slots each).
 *
 * @param devargs  "NAME,driver=DRV[,key=value]..."
 * @param pool  mbuf pool for received packets
 * @param ring_size  slots of NAME.rx and NAME.tx (a power of two)
 * @param out  the port (heap, process-local)
 * @param eb  what was wrong: names the port and the key
 * @return 0, -EINVAL (bad arguments, unknown driver or key), -EEXIST (name
 *         taken), -ENOSPC (port table full), -ENOENT (file or interface not
 *         found), or the driver's error
 */
int mpdp_port_open(struct mpdp_shm *shm, const char *devargs, struct mpdp_pool *pool,
		   unsigned ring_size, struct mpdp_port **out, struct mpdp_errbuf *eb);

/** Close the driver, delete the port's rings and free its slot. */
void mpdp_port_close(struct mpdp_port *port);

/**
 * Find a port slot by name from any attached process (to read its counters).
 *
 * @return 0, -ENOENT
 */
int mpdp_port_lookup(struct mpdp_shm *shm, const char *name, struct mpdp_abi_port **out);

/** Counters of all queues of a port, added up. */
void mpdp_port_stats(const struct mpdp_abi_port *port, struct mpdp_abi_port_queue *sum);

/** Print one line: name, driver, link, rx/tx packets, missed, errors, drops. */
void mpdp_port_summary(FILE *f, const struct mpdp_abi_port *port);

/** Add to a counter that only the calling worker writes. */
static inline void
mpdp_port_count(uint64_t *counter, uint64_t n)
{
	__atomic_store_n(counter, __atomic_load_n(counter, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
}

/** Receive a burst. */
static inline uint16_t
mpdp_port_rx_burst(struct mpdp_port *port, uint16_t q, struct mpdp_mbuf **pkts, uint16_t n)
{
	return port->ops->rx_burst(port, q, pkts, n);
}

/** Send a burst; the caller keeps (and must free or retry) what was not taken. */
static inline uint16_t
mpdp_port_tx_burst(struct mpdp_port *port, uint16_t q, struct mpdp_mbuf **pkts, uint16_t n)
{
	return port->ops->tx_burst(port, q, pkts, n);
}

#endif /* MPDP_PORT_H */

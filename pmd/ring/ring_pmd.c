/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ring: a port whose receive side dequeues from ring rx=NAME and whose
 * transmit side enqueues to ring tx=NAME, for chaining instances and for
 * tests. The rings are created (multi-producer/consumer, size=N slots,
 * default 1024) when they do not exist yet.
 */
#include <errno.h>

#include "mpdp_shm.h"
#include "pmd_drivers.h"

struct ring_priv {
	struct mpdp_ring *rx;
	struct mpdp_ring *tx;
};

static int
find_or_create(struct mpdp_port *port, const char *name, unsigned size, struct mpdp_ring **out,
	       struct mpdp_errbuf *eb)
{
	int rc = mpdp_ring_lookup(port->shm, name, out);

	if (rc == -ENOENT)
		rc = mpdp_ring_create(port->shm, name, size, MPDP_RING_F_RECOVER, -1, out);
	if (rc != 0)
		return mpdp_err_set(eb, rc, "port %s: ring %s: %s", port->abi->name, name,
				    mpdp_strerror(rc));
	return 0;
}

static int
ring_open(struct mpdp_port *port, struct mpdp_kvargs *kv, struct mpdp_errbuf *eb)
{
	struct ring_priv *rp = port->priv;
	const char *rx = NULL, *tx = NULL;
	uint64_t size = 1024;
	int rc;

	rc = mpdp__pmd_arg_str(port, kv, "rx", &rx, eb);
	if (rc == 0)
		rc = mpdp__pmd_arg_str(port, kv, "tx", &tx, eb);
	if (rc == 0)
		rc = mpdp__pmd_arg_u64(port, kv, "size", 2, MPDP_RING_SIZE_MAX, &size, eb);
	if (rc != 0)
		return rc;
	if (rx == NULL && tx == NULL)
		return mpdp_err_set(eb, -EINVAL, "port %s: the ring driver needs rx=RING, tx=RING or both",
				    port->abi->name);
	if (mpdp_ring_memsize((unsigned)size) == 0)
		return mpdp_err_set(eb, -EINVAL, "port %s: size=%u is not a power of two",
				    port->abi->name, (unsigned)size);
	if (rx != NULL && (rc = find_or_create(port, rx, (unsigned)size, &rp->rx, eb)) != 0)
		return rc;
	if (tx != NULL && (rc = find_or_create(port, tx, (unsigned)size, &rp->tx, eb)) != 0)
		return rc;
	return 0;
}

static void
ring_close(struct mpdp_port *port)
{
	(void)port; /* the rings are named objects: they outlive the port */
}

static uint16_t
ring_rx(struct mpdp_port *port, uint16_t q, struct mpdp_mbuf **pkts, uint16_t n)
{
	const struct ring_priv *rp = port->priv;

	(void)q;
	return rp->rx ? (uint16_t)mpdp_ring_dequeue_burst(rp->rx, (void **)pkts, n, NULL) : 0;
}

static uint16_t
ring_tx(struct mpdp_port *port, uint16_t q, struct mpdp_mbuf **pkts, uint16_t n)
{
	const struct ring_priv *rp = port->priv;

	(void)q;
	if (rp->tx == NULL) /* receive-only: the loop counts them as tx_drops */
		return 0;
	return (uint16_t)mpdp_ring_enqueue_burst(rp->tx, (void *const *)pkts, n, NULL);
}

const struct mpdp_pmd_ops mpdp__pmd_ring_ops = {
	.driver = "ring",
	.priv_size = sizeof(struct ring_priv),
	.open = ring_open,
	.close = ring_close,
	.rx_burst = ring_rx,
	.tx_burst = ring_tx,
};

/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * null: rx hands out packets of size= bytes as fast as asked, tx frees what
 * it is given (no_rx=1 makes it a sink that receives nothing). copy=1 copies each packet's bytes once on rx and once on tx,
 * as DPDK's net_null does, so the two forwarding figures are comparable.
 */
#include <errno.h>
#include <string.h>

#include "pmd_drivers.h"

#define NULL_SIZE_DEFAULT 64
#define NULL_SIZE_MAX 9216

struct null_priv {
	uint32_t size;
	uint32_t copy;
	uint32_t no_rx;                   /* a sink: rx never hands out a packet */
	uint8_t pattern[NULL_SIZE_MAX];   /* what rx copies in (copy=1) */
	uint8_t sink[NULL_SIZE_MAX];      /* where tx copies out (copy=1) */
};

static int
null_open(struct mpdp_port *port, struct mpdp_kvargs *kv, struct mpdp_errbuf *eb)
{
	struct null_priv *np = port->priv;
	uint64_t size = NULL_SIZE_DEFAULT, copy = 0, no_rx = 0;
	unsigned dataroom = mpdp_mbuf_pool_dataroom(port->pool);
	int rc;

	rc = mpdp__pmd_arg_u64(port, kv, "size", 14, dataroom < NULL_SIZE_MAX ? dataroom : NULL_SIZE_MAX,
			       &size, eb);
	if (rc == 0)
		rc = mpdp__pmd_arg_u64(port, kv, "copy", 0, 1, &copy, eb);
	if (rc == 0)
		rc = mpdp__pmd_arg_u64(port, kv, "no_rx", 0, 1, &no_rx, eb);
	if (rc != 0)
		return rc;
	np->size = (uint32_t)size;
	np->copy = (uint32_t)copy;
	np->no_rx = (uint32_t)no_rx;
	/* An Ethernet frame to a locally administered address, the rest zero. */
	memset(np->pattern, 0, sizeof(np->pattern));
	memcpy(np->pattern, "\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02\x08\x00", 14);
	return 0;
}

static void
null_close(struct mpdp_port *port)
{
	(void)port;
}

static uint16_t
null_rx(struct mpdp_port *port, uint16_t q, struct mpdp_mbuf **pkts, uint16_t n)
{
	const struct null_priv *np = port->priv;

	(void)q;
	if (np->no_rx || mpdp_mbuf_alloc_bulk(port->pool, port->wid, pkts, n) != n)
		return 0;
	for (uint16_t i = 0; i < n; i++) {
		pkts[i]->data_len = (uint16_t)np->size;
		pkts[i]->port = port->id;
		if (np->copy)
			memcpy(mpdp_mbuf_data(pkts[i]), np->pattern, np->size);
	}
	return n;
}

static uint16_t
null_tx(struct mpdp_port *port, uint16_t q, struct mpdp_mbuf **pkts, uint16_t n)
{
	struct null_priv *np = port->priv;

	(void)q;
	if (np->copy) {
		for (uint16_t i = 0; i < n; i++)
			memcpy(np->sink, mpdp_mbuf_data(pkts[i]), pkts[i]->data_len);
	}
	mpdp_mbuf_free_bulk(pkts, n, port->wid);
	return n;
}

const struct mpdp_pmd_ops mpdp__pmd_null_ops = {
	.driver = "null",
	.priv_size = sizeof(struct null_priv),
	.open = null_open,
	.close = null_close,
	.rx_burst = null_rx,
	.tx_burst = null_tx,
};

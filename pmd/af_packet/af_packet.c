/* SPDX-License-Identifier: BSD-3-Clause */
/* af_packet: being written (ports issue); opening such a port fails clearly until then. */
#include <errno.h>

#include "pmd_drivers.h"

static int
af_packet_open(struct mpdp_port *port, struct mpdp_kvargs *kv, struct mpdp_errbuf *eb)
{
	(void)kv;
	return mpdp_err_set(eb, -ENOTSUP, "port %s: driver af_packet is not built yet", port->abi->name);
}

static void
af_packet_close(struct mpdp_port *port)
{
	(void)port;
}

static uint16_t
af_packet_rx(struct mpdp_port *port, uint16_t q, struct mpdp_mbuf **pkts, uint16_t n)
{
	(void)port; (void)q; (void)pkts; (void)n;
	return 0;
}

static uint16_t
af_packet_tx(struct mpdp_port *port, uint16_t q, struct mpdp_mbuf **pkts, uint16_t n)
{
	(void)port; (void)q; (void)pkts; (void)n;
	return 0;
}

const struct mpdp_pmd_ops mpdp__pmd_af_packet_ops = {
	.driver = "af_packet",
	.open = af_packet_open,
	.close = af_packet_close,
	.rx_burst = af_packet_rx,
	.tx_burst = af_packet_tx,
};

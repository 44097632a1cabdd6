/* SPDX-License-Identifier: BSD-3-Clause */
/* pcap: being written (ports issue); opening such a port fails clearly until then. */
#include <errno.h>

#include "pmd_drivers.h"

static int
pcap_open(struct mpdp_port *port, struct mpdp_kvargs *kv, struct mpdp_errbuf *eb)
{
	(void)kv;
	return mpdp_err_set(eb, -ENOTSUP, "port %s: driver pcap is not built yet", port->abi->name);
}

static void
pcap_close(struct mpdp_port *port)
{
	(void)port;
}

static uint16_t
pcap_rx(struct mpdp_port *port, uint16_t q, struct mpdp_mbuf **pkts, uint16_t n)
{
	(void)port; (void)q; (void)pkts; (void)n;
	return 0;
}

static uint16_t
pcap_tx(struct mpdp_port *port, uint16_t q, struct mpdp_mbuf **pkts, uint16_t n)
{
	(void)port; (void)q; (void)pkts; (void)n;
	return 0;
}

const struct mpdp_pmd_ops mpdp__pmd_pcap_ops = {
	.driver = "pcap",
	.open = pcap_open,
	.close = pcap_close,
	.rx_burst = pcap_rx,
	.tx_burst = pcap_tx,
};

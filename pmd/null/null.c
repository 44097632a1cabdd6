/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * null: rx hands out packets of size= bytes as fast as asked, tx frees what
 * it is given (no_rx=1 makes it a sink that receives nothing). copy=1 copies each packet's bytes once on rx and once on tx,
 * as DPDK's net_null does, so the two forwarding figures are comparable.
 * flows=N writes a UDP/IPv4 frame into each packet instead, its source
 * cycling through N flows (testpmd's flowgen), to load stages that keep
 * state per flow (the firewall, the NAT).
 */
#include <errno.h>
#include <string.h>

#include "pmd_drivers.h"

#define NULL_SIZE_DEFAULT 64
#define NULL_SIZE_MAX 9216
#define NULL_FLOWS_MAX (1u << 24)
/* flows=N: Ethernet + IPv4 + UDP. */
#define NULL_FLOW_HDR 42
#define NULL_FLOW_HOSTS 65536u          /* 10.0.0.0/16, then the next source port */

struct null_priv {
	uint32_t size;
	uint32_t copy;
	uint32_t no_rx;                   /* a sink: rx never hands out a packet */
	uint32_t flows;                   /* 0, or the flows rx cycles through */
	uint32_t next_flow;
	uint32_t ip_sum;                  /* the template's IPv4 header sum without its source */
	uint8_t pattern[NULL_SIZE_MAX];   /* what rx copies in (copy=1) */
	uint8_t sink[NULL_SIZE_MAX];      /* where tx copies out (copy=1) */
};

/*
 * flows=N: IPv4 from 10.0.0.0/16 (host f % 65536, source port 1024 +
 * f / 65536) to 198.51.100.1 port 9, UDP without a checksum, TTL 64.
 */
static void
flow_template(struct null_priv *np)
{
	uint8_t *ip = np->pattern + 14, *udp = ip + 20;
	uint16_t ip_len = (uint16_t)(np->size - 14), udp_len = (uint16_t)(ip_len - 20);
	static const uint8_t dst[4] = { 198, 51, 100, 1 };
	uint32_t sum = 0;

	ip[0] = 0x45;
	ip[2] = (uint8_t)(ip_len >> 8);
	ip[3] = (uint8_t)ip_len;
	ip[8] = 64;
	ip[9] = 17;
	memcpy(ip + 16, dst, 4);
	udp[2] = 0;
	udp[3] = 9;
	udp[4] = (uint8_t)(udp_len >> 8);
	udp[5] = (uint8_t)udp_len;
	for (unsigned i = 0; i < 20; i += 2)
		sum += (uint32_t)ip[i] << 8 | ip[i + 1];
	np->ip_sum = sum;
}

/* Write flow f's source into a copy of the template, with its header checksum. */
static void
flow_write(const struct null_priv *np, uint8_t *frame, uint32_t f)
{
	uint8_t *ip = frame + 14;
	uint32_t host = f % NULL_FLOW_HOSTS, sport = 1024 + f / NULL_FLOW_HOSTS;
	uint32_t sum = np->ip_sum + 0x0a00 + host;

	memcpy(frame, np->pattern, NULL_FLOW_HDR);
	ip[12] = 10;
	ip[14] = (uint8_t)(host >> 8);
	ip[15] = (uint8_t)host;
	ip[20] = (uint8_t)(sport >> 8);
	ip[21] = (uint8_t)sport;
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	ip[10] = (uint8_t)(~sum >> 8);
	ip[11] = (uint8_t)~sum;
}

static int
null_open(struct mpdp_port *port, struct mpdp_kvargs *kv, struct mpdp_errbuf *eb)
{
	struct null_priv *np = port->priv;
	uint64_t size = NULL_SIZE_DEFAULT, copy = 0, no_rx = 0;
	unsigned dataroom = mpdp_mbuf_pool_dataroom(port->pool);
	int rc;

	uint64_t flows = 0;

	rc = mpdp__pmd_arg_u64(port, kv, "size", 14, dataroom < NULL_SIZE_MAX ? dataroom : NULL_SIZE_MAX,
			       &size, eb);
	if (rc == 0)
		rc = mpdp__pmd_arg_u64(port, kv, "copy", 0, 1, &copy, eb);
	if (rc == 0)
		rc = mpdp__pmd_arg_u64(port, kv, "no_rx", 0, 1, &no_rx, eb);
	if (rc == 0)
		rc = mpdp__pmd_arg_u64(port, kv, "flows", 1, NULL_FLOWS_MAX, &flows, eb);
	if (rc != 0)
		return rc;
	if (flows != 0 && size < NULL_FLOW_HDR)
		return mpdp_err_set(eb, -EINVAL, "port %s: flows= needs size=%d or more (a UDP frame)",
				    port->abi->name, NULL_FLOW_HDR);
	np->size = (uint32_t)size;
	np->copy = (uint32_t)copy;
	np->no_rx = (uint32_t)no_rx;
	/* An Ethernet frame to a locally administered address, the rest zero. */
	memset(np->pattern, 0, sizeof(np->pattern));
	memcpy(np->pattern, "\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02\x08\x00", 14);
	np->flows = (uint32_t)flows;
	if (flows != 0)
		flow_template(np);
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
	struct null_priv *np = port->priv;

	(void)q;
	if (np->no_rx || mpdp_mbuf_alloc_bulk(port->pool, port->wid, pkts, n) != n)
		return 0;
	for (uint16_t i = 0; i < n; i++) {
		pkts[i]->data_len = (uint16_t)np->size;
		pkts[i]->port = port->id;
		if (np->flows != 0) {
			flow_write(np, mpdp_mbuf_data(pkts[i]), np->next_flow);
			np->next_flow = np->next_flow + 1 == np->flows ? 0 : np->next_flow + 1;
		} else if (np->copy) {
			memcpy(mpdp_mbuf_data(pkts[i]), np->pattern, np->size);
		}
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

/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mpdp-gentraffic: writes the demo traffic, an Ethernet (DLT_EN10MB)
 * microsecond pcap, and optionally a manifest of the IP flows in it.
 *
 * The output depends on the arguments only: a fixed start time, a fixed step
 * between packets and a seeded xorshift generator (no clock, no rand()), so
 * the capture shipped in tools/traffic/ can be regenerated and compared byte
 * for byte. The manifest is counted from the frames as written, by a parser
 * of its own, not from the table that describes them.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pcap/pcap.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mpdp_pkt.h"

#define START_SEC 1767225600u	/* 2026-01-01 00:00:00 UTC */
#define STEP_USEC 10u
#define MIN_FRAME 60u		/* 64 on the wire less the FCS */
#define MAX_FRAME 1514u
#define SCALE_MAX 1000ul
#define DEFAULT_SEED 1u

#define ET_IPV4 0x0800
#define ET_ARP 0x0806
#define ET_VLAN 0x8100
#define ET_QINQ 0x88a8
#define ET_IPV6 0x86dd
#define ET_LLDP 0x88cc

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_PSH 0x08
#define TCP_ACK 0x10

#define ICMP4_ECHO_REPLY 0
#define ICMP4_ECHO_REQUEST 8
#define ICMP6_ECHO_REQUEST 128
#define ICMP6_ECHO_REPLY 129
#define ECHO_DATA 56		/* what ping sends by default */

enum role {
	ROLE_ONE,	/* no reverse flow in the capture */
	ROLE_REQ,	/* opens the exchange (SYN, echo request, query); the next entry answers */
	ROLE_RESP,	/* answers the entry before it */
};

/*
 * One unidirectional IP flow. The payload of each packet is empty with
 * probability p_empty per cent (TCP: a pure ACK), fills the frame to
 * MAX_FRAME with probability p_full, and is otherwise drawn from lo..hi.
 * A TCP flow's first packet is a SYN (or the SYN-ACK when it answers) and
 * its last a FIN.
 */
struct flow_spec {
	uint8_t ipv;
	uint8_t proto;
	uint8_t role;
	uint8_t ttl;
	const char *src, *dst;
	uint16_t sport, dport;	/* echo: sport is the identifier, dport 0 */
	uint16_t vlan[2];	/* outer then inner TCI, 0 for none */
	unsigned packets;	/* at scale 1 */
	uint8_t p_empty, p_full;
	uint16_t lo, hi;
};

/*
 * The packet counts are all different and so are the byte counts, and the
 * bulk UDP flow (most bytes) is not the statsd flow (most packets), so a
 * top-N by either is unambiguous and the two differ. main() warns if a seed
 * or scale ever breaks that.
 */
static const struct flow_spec flows[] = {
	/* ver proto role ttl src dst sport dport vlan packets empty% full% lo hi */
	/* IPv4 TCP: an HTTPS download, an HTTP exchange, an SSH session */
	{ 4, IPPROTO_TCP, ROLE_REQ, 64, "192.168.1.10", "203.0.113.10", 51514, 443, { 0, 0 }, 370, 75, 0, 30, 600 },
	{ 4, IPPROTO_TCP, ROLE_RESP, 52, "203.0.113.10", "192.168.1.10", 443, 51514, { 0, 0 }, 155, 5, 30, 100, 1200 },
	{ 4, IPPROTO_TCP, ROLE_REQ, 64, "10.0.0.23", "198.51.100.80", 40122, 80, { 0, 0 }, 112, 60, 0, 250, 480 },
	{ 4, IPPROTO_TCP, ROLE_RESP, 55, "198.51.100.80", "10.0.0.23", 80, 40122, { 0, 0 }, 91, 10, 0, 450, 900 },
	{ 4, IPPROTO_TCP, ROLE_REQ, 64, "192.168.7.2", "10.0.0.5", 55022, 22, { 0, 0 }, 380, 40, 0, 36, 120 },
	{ 4, IPPROTO_TCP, ROLE_RESP, 63, "10.0.0.5", "192.168.7.2", 22, 55022, { 0, 0 }, 236, 20, 0, 36, 400 },
	/* IPv4 UDP: DNS both ways, NTP, a bulk flow, small statsd datagrams */
	{ 4, IPPROTO_UDP, ROLE_REQ, 64, "192.168.1.10", "192.168.1.1", 53111, 53, { 0, 0 }, 131, 0, 0, 28, 60 },
	{ 4, IPPROTO_UDP, ROLE_RESP, 64, "192.168.1.1", "192.168.1.10", 53, 53111, { 0, 0 }, 127, 0, 0, 90, 350 },
	{ 4, IPPROTO_UDP, ROLE_ONE, 64, "192.168.1.10", "203.0.113.123", 123, 123, { 0, 0 }, 32, 0, 0, 48, 48 },
	{ 4, IPPROTO_UDP, ROLE_ONE, 64, "10.0.0.50", "10.0.0.60", 50000, 5001, { 0, 0 }, 120, 0, 0, 1400, 1400 },
	{ 4, IPPROTO_UDP, ROLE_ONE, 64, "10.0.0.77", "10.0.0.1", 40000, 8125, { 0, 0 }, 560, 0, 0, 22, 22 },
	/* IPv4 ICMP echo: one reply lost */
	{ 4, IPPROTO_ICMP, ROLE_REQ, 64, "192.168.1.10", "198.51.100.1", 0x1c2b, 0, { 0, 0 }, 50, 0, 0, ECHO_DATA, ECHO_DATA },
	{ 4, IPPROTO_ICMP, ROLE_RESP, 57, "198.51.100.1", "192.168.1.10", 0x1c2b, 0, { 0, 0 }, 49, 0, 0, ECHO_DATA, ECHO_DATA },
	/* IPv6: HTTPS both ways, DNS, ICMPv6 echo */
	{ 6, IPPROTO_TCP, ROLE_REQ, 64, "2001:db8:1::10", "2001:db8:2::80", 50123, 443, { 0, 0 }, 190, 70, 0, 30, 500 },
	{ 6, IPPROTO_TCP, ROLE_RESP, 58, "2001:db8:2::80", "2001:db8:1::10", 443, 50123, { 0, 0 }, 101, 5, 10, 100, 700 },
	{ 6, IPPROTO_UDP, ROLE_ONE, 64, "2001:db8:1::10", "2001:db8::53", 50600, 53, { 0, 0 }, 61, 0, 0, 28, 60 },
	{ 6, IPPROTO_ICMPV6, ROLE_REQ, 64, "2001:db8:1::10", "2001:db8:2::1", 0x0a0b, 0, { 0, 0 }, 40, 0, 0, ECHO_DATA, ECHO_DATA },
	{ 6, IPPROTO_ICMPV6, ROLE_RESP, 58, "2001:db8:2::1", "2001:db8:1::10", 0x0a0b, 0, { 0, 0 }, 37, 0, 0, ECHO_DATA, ECHO_DATA },
	/* Tagged: syslog on VLAN 100; TCP to a proxy, S-VLAN 200 over C-VLAN 10 */
	{ 4, IPPROTO_UDP, ROLE_ONE, 64, "10.100.0.5", "10.100.0.1", 41514, 514, { 100, 0 }, 81, 0, 0, 60, 300 },
	{ 4, IPPROTO_TCP, ROLE_ONE, 64, "10.200.0.10", "10.200.0.20", 41000, 8080, { 200, 10 }, 72, 30, 0, 100, 900 },
};

#define N_FLOWS (sizeof(flows) / sizeof(flows[0]))

/* ARP exchanges, a request then its reply; the asker is the first address. */
static const char *const arp_pairs[][2] = {
	{ "192.168.1.10", "192.168.1.1" },
	{ "10.0.0.23", "10.0.0.1" },
	{ "10.0.0.50", "10.0.0.60" },
	{ "192.168.7.2", "192.168.7.1" },
};

#define N_ARP_PAIRS (sizeof(arp_pairs) / sizeof(arp_pairs[0]))
#define ARP_FRAMES 24u		/* at scale 1; even, so every request is answered */
#define LLDP_FRAMES 8u

/* Streams: the flows, then ARP, then LLDP; the schedule holds stream ids. */
#define STREAM_ARP N_FLOWS
#define STREAM_LLDP (N_FLOWS + 1)
#define N_STREAMS (N_FLOWS + 2)

_Static_assert(N_STREAMS <= 256, "stream ids are stored in a uint8_t");

struct stream {
	uint8_t src[16], dst[16];
	uint8_t smac[6], dmac[6];
	unsigned count;		/* packets to write, scaled */
	unsigned sent;
	uint32_t snd_nxt;	/* TCP: next sequence number */
	uint32_t peer_nxt;	/* TCP without a reverse flow: what it acknowledges */
	uint16_t ip_id;
	uint32_t flow_label;
};

struct gen {
	uint64_t rng;
	struct stream st[N_STREAMS];
};

/* The size bins of the manifest; the first is every frame shorter than 64. */
static const unsigned bins[][2] = {
	{ 0, 63 }, { 64, 64 }, { 65, 127 }, { 128, 255 }, { 256, 511 }, { 512, 1023 }, { 1024, 1518 },
};

#define N_BINS (sizeof(bins) / sizeof(bins[0]))

/* The key a monitoring stage uses: VLAN tags are not part of it. */
struct flow_key {
	uint8_t ipv, proto;
	uint16_t sport, dport;
	uint8_t src[16], dst[16];
};

struct flow_stat {
	struct flow_key key;
	uint64_t packets, bytes;
};

struct stats {
	struct flow_stat flow[N_FLOWS];
	unsigned n_flow;
	int unknown;		/* a frame whose key is not in the table */
	uint64_t total, bytes, ipv4, ipv6, tcp, udp, icmp, arp, vlan, other;
	uint64_t size[N_BINS];
};

static uint64_t
rng_next(struct gen *g)
{
	uint64_t x = g->rng;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	g->rng = x;
	return x;
}

/* 0..n-1; the high half times n, which is even enough for our sizes. */
static uint32_t
rng_below(struct gen *g, uint32_t n)
{
	return (uint32_t)(((rng_next(g) >> 32) * n) >> 32);
}

/* splitmix64 of the seed, so that small seeds start from a mixed state; xorshift needs it nonzero. */
static void
rng_seed(struct gen *g, uint64_t seed)
{
	uint64_t z = seed + 0x9e3779b97f4a7c15ull;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	z ^= z >> 31;
	g->rng = z ? z : 0x2545f4914f6cdd1dull;
}

/* Ones' complement sum of big-endian 16-bit words; csum_final() folds and inverts it. */
static uint32_t
csum_add(uint32_t sum, const uint8_t *p, size_t len)
{
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += mpdp_get_be16(p + i);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	return sum;
}

static uint16_t
csum_final(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* Locally administered, derived from the low 32 bits of the address. */
static void
mac_of(uint8_t ipv, const uint8_t *addr, uint8_t *mac)
{
	mac[0] = 0x02;
	mac[1] = ipv == 4 ? 0x00 : 0x06;
	memcpy(mac + 2, ipv == 4 ? addr : addr + 12, 4);
}

/* Ethernet header with up to two tags (the outer is 802.1ad when there are two); returns its length. */
static unsigned
put_eth(uint8_t *b, const uint8_t *dmac, const uint8_t *smac, const uint16_t *vlan, uint16_t type)
{
	unsigned off = 12;

	memcpy(b, dmac, 6);
	memcpy(b + 6, smac, 6);
	if (vlan[0]) {
		mpdp_put_be16(b + off, vlan[1] ? ET_QINQ : ET_VLAN);
		mpdp_put_be16(b + off + 2, vlan[0]);
		off += 4;
	}
	if (vlan[1]) {
		mpdp_put_be16(b + off, ET_VLAN);
		mpdp_put_be16(b + off + 2, vlan[1]);
		off += 4;
	}
	mpdp_put_be16(b + off, type);
	return off + 2;
}

static uint16_t
payload_size(struct gen *g, const struct flow_spec *f, unsigned max)
{
	unsigned r = rng_below(g, 100), n;

	if (r < f->p_empty)
		return 0;
	if (r < (unsigned)f->p_empty + f->p_full)
		return (uint16_t)max;
	n = f->lo + rng_below(g, (uint32_t)(f->hi - f->lo + 1));
	return (uint16_t)(n < max ? n : max);
}

/* One packet of flow i into b; returns the frame length. */
static unsigned
build_flow(struct gen *g, unsigned i, uint8_t *b)
{
	const struct flow_spec *f = &flows[i];
	struct stream *s = &g->st[i];
	struct stream *peer = f->role == ROLE_REQ ? s + 1 : f->role == ROLE_RESP ? s - 1 : NULL;
	unsigned l2, l3 = f->ipv == 4 ? 20 : 40, l4, max, n, len, k;
	uint8_t *ip, *l4p, *data;
	uint8_t flags = 0;
	uint32_t sum;

	l2 = put_eth(b, s->dmac, s->smac, f->vlan, f->ipv == 4 ? ET_IPV4 : ET_IPV6);
	ip = b + l2;
	l4p = ip + l3;
	if (f->proto == IPPROTO_TCP) {
		int first = s->sent == 0, last = s->sent + 1 == s->count && s->count > 2;

		l4 = first ? 24 : 20;	/* the SYN carries an MSS option */
		max = MAX_FRAME - l2 - l3 - l4;
		n = first || last ? 0 : payload_size(g, f, max);
		if (first)
			flags = f->role == ROLE_RESP ? TCP_SYN | TCP_ACK : TCP_SYN;
		else if (last)
			flags = TCP_FIN | TCP_ACK;
		else
			flags = n ? TCP_PSH | TCP_ACK : TCP_ACK;
		mpdp_put_be16(l4p, f->sport);
		mpdp_put_be16(l4p + 2, f->dport);
		mpdp_put_be32(l4p + 4, s->snd_nxt);
		mpdp_put_be32(l4p + 8, flags == TCP_SYN ? 0 : peer ? peer->snd_nxt : s->peer_nxt);
		l4p[12] = (uint8_t)((l4 / 4) << 4);
		l4p[13] = flags;
		mpdp_put_be16(l4p + 14, first ? 64240 : 502);
		mpdp_put_be16(l4p + 16, 0);
		mpdp_put_be16(l4p + 18, 0);
		if (first) {
			l4p[20] = 2;	/* MSS */
			l4p[21] = 4;
			mpdp_put_be16(l4p + 22, (uint16_t)(1500 - l3 - 20));
		}
		s->snd_nxt += n + (flags & (TCP_SYN | TCP_FIN) ? 1 : 0);
	} else {
		l4 = 8;
		max = MAX_FRAME - l2 - l3 - l4;
		n = payload_size(g, f, max);
		if (f->proto == IPPROTO_UDP) {
			mpdp_put_be16(l4p, f->sport);
			mpdp_put_be16(l4p + 2, f->dport);
			mpdp_put_be16(l4p + 4, (uint16_t)(l4 + n));
			mpdp_put_be16(l4p + 6, 0);
		} else {
			int req = f->role != ROLE_RESP;

			if (f->ipv == 4)
				l4p[0] = req ? ICMP4_ECHO_REQUEST : ICMP4_ECHO_REPLY;
			else
				l4p[0] = req ? ICMP6_ECHO_REQUEST : ICMP6_ECHO_REPLY;
			l4p[1] = 0;
			mpdp_put_be16(l4p + 2, 0);
			mpdp_put_be16(l4p + 4, f->sport);
			mpdp_put_be16(l4p + 6, (uint16_t)(s->sent + 1));
		}
	}
	data = l4p + l4;
	if (f->proto == IPPROTO_ICMP || f->proto == IPPROTO_ICMPV6) {
		for (k = 0; k < n; k++)	/* ping's pattern */
			data[k] = (uint8_t)(0x10 + k);
	} else {
		for (k = 0; k < n; k++)
			data[k] = (uint8_t)(rng_next(g) >> 56);
	}

	if (f->ipv == 4) {
		ip[0] = 0x45;
		ip[1] = 0;
		mpdp_put_be16(ip + 2, (uint16_t)(l3 + l4 + n));
		mpdp_put_be16(ip + 4, s->ip_id++);
		mpdp_put_be16(ip + 6, 0x4000);	/* DF */
		ip[8] = f->ttl;
		ip[9] = f->proto;
		mpdp_put_be16(ip + 10, 0);
		memcpy(ip + 12, s->src, 4);
		memcpy(ip + 16, s->dst, 4);
		mpdp_put_be16(ip + 10, csum_final(csum_add(0, ip, 20)));
		sum = csum_add(0, ip + 12, 8);
		sum += f->proto + l4 + n;
	} else {
		mpdp_put_be32(ip, 6u << 28 | s->flow_label);
		mpdp_put_be16(ip + 4, (uint16_t)(l4 + n));
		ip[6] = f->proto;
		ip[7] = f->ttl;
		memcpy(ip + 8, s->src, 16);
		memcpy(ip + 24, s->dst, 16);
		sum = csum_add(0, ip + 8, 32);
		sum += f->proto + l4 + n;
	}
	/* ICMPv4 has no pseudo-header; TCP, UDP and ICMPv6 do. */
	if (f->proto == IPPROTO_ICMP)
		sum = 0;
	sum = csum_final(csum_add(sum, l4p, l4 + n));
	if (f->proto == IPPROTO_UDP)
		mpdp_put_be16(l4p + 6, sum ? (uint16_t)sum : 0xffff);	/* 0 means "no checksum" */
	else if (f->proto == IPPROTO_TCP)
		mpdp_put_be16(l4p + 16, (uint16_t)sum);
	else
		mpdp_put_be16(l4p + 2, (uint16_t)sum);

	len = l2 + l3 + l4 + n;
	s->sent++;
	return len;
}

/* The j-th ARP frame: even j a broadcast request, odd j its reply. */
static unsigned
build_arp(unsigned j, uint8_t *b)
{
	static const uint16_t untagged[2] = { 0, 0 };
	static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	static const uint8_t zero[6];
	const char *const *pair = arp_pairs[(j / 2) % N_ARP_PAIRS];
	uint8_t asker[4], target[4], amac[6], tmac[6];
	uint8_t *a;
	unsigned l2;

	inet_pton(AF_INET, pair[0], asker);
	inet_pton(AF_INET, pair[1], target);
	mac_of(4, asker, amac);
	mac_of(4, target, tmac);
	if (j % 2 == 0)
		l2 = put_eth(b, bcast, amac, untagged, ET_ARP);
	else
		l2 = put_eth(b, amac, tmac, untagged, ET_ARP);
	a = b + l2;
	mpdp_put_be16(a, 1);		/* Ethernet */
	mpdp_put_be16(a + 2, ET_IPV4);
	a[4] = 6;
	a[5] = 4;
	mpdp_put_be16(a + 6, j % 2 ? 2 : 1);
	if (j % 2 == 0) {
		memcpy(a + 8, amac, 6);
		memcpy(a + 14, asker, 4);
		memcpy(a + 18, zero, 6);
		memcpy(a + 24, target, 4);
	} else {
		memcpy(a + 8, tmac, 6);
		memcpy(a + 14, target, 4);
		memcpy(a + 18, amac, 6);
		memcpy(a + 24, asker, 4);
	}
	return l2 + 28;
}

static unsigned
put_tlv(uint8_t *p, unsigned type, const void *v, unsigned len)
{
	mpdp_put_be16(p, (uint16_t)(type << 9 | len));
	memcpy(p + 2, v, len);
	return 2 + len;
}

/* The j-th LLDP frame: a switch announcing itself on one of four ports. */
static unsigned
build_lldp(unsigned j, uint8_t *b)
{
	static const uint16_t untagged[2] = { 0, 0 };
	static const uint8_t nearest_bridge[6] = { 0x01, 0x80, 0xc2, 0x00, 0x00, 0x0e };
	static const char sysdesc[] = "mpdp demo switch, 24x1G 4x10G, firmware 1.4.2";
	uint8_t mac[6] = { 0x02, 0x4c, 0x4c, 0x44, 0x50, (uint8_t)(1 + j % 4) };
	uint8_t v[64];
	unsigned off, n;

	off = put_eth(b, nearest_bridge, mac, untagged, ET_LLDP);
	v[0] = 4;		/* chassis id: a MAC address */
	memcpy(v + 1, mac, 6);
	off += put_tlv(b + off, 1, v, 7);
	v[0] = 5;		/* port id: an interface name */
	n = (unsigned)snprintf((char *)v + 1, sizeof(v) - 1, "ge-0/0/%u", 1 + j % 4);
	off += put_tlv(b + off, 2, v, 1 + n);
	mpdp_put_be16(v, 120);		/* TTL, seconds */
	off += put_tlv(b + off, 3, v, 2);
	off += put_tlv(b + off, 5, "demo-sw1", 8);
	off += put_tlv(b + off, 6, sysdesc, sizeof(sysdesc) - 1);
	off += put_tlv(b + off, 0, "", 0);
	return off;
}

/* Where stream id s first and second appears in the schedule (n when it does not). */
static void
first_two(const uint8_t *sched, size_t n, unsigned s, size_t *p1, size_t *p2)
{
	size_t i;

	*p1 = *p2 = n;
	for (i = 0; i < n; i++) {
		if (sched[i] != s)
			continue;
		if (*p1 == n) {
			*p1 = i;
		} else {
			*p2 = i;
			return;
		}
	}
}

/*
 * A shuffle may answer before it is asked. Swap slots (the counts stay) so
 * that every request comes before the first answer and, for TCP, the
 * SYN-ACK comes before the client's second packet.
 */
static void
order_pairs(uint8_t *sched, size_t n)
{
	size_t q1, q2, r1, r2;
	unsigned i;
	uint8_t t;

	for (i = 0; i < N_FLOWS; i++) {
		if (flows[i].role != ROLE_REQ)
			continue;
		for (;;) {
			first_two(sched, n, i, &q1, &q2);
			first_two(sched, n, i + 1, &r1, &r2);
			if (r1 < q1) {
				t = sched[r1], sched[r1] = sched[q1], sched[q1] = t;
			} else if (flows[i].proto == IPPROTO_TCP && q2 < r1) {
				t = sched[r1], sched[r1] = sched[q2], sched[q2] = t;
			} else {
				break;
			}
		}
	}
}

static uint8_t *
make_schedule(struct gen *g, size_t *n_out)
{
	size_t n = 0, i, k;
	uint8_t *sched;
	unsigned s;

	for (s = 0; s < N_STREAMS; s++)
		n += g->st[s].count;
	sched = malloc(n);
	if (sched == NULL)
		return NULL;
	k = 0;
	for (s = 0; s < N_STREAMS; s++)
		for (i = 0; i < g->st[s].count; i++)
			sched[k++] = (uint8_t)s;
	for (i = n - 1; i > 0; i--) {	/* Fisher-Yates */
		size_t j = rng_below(g, (uint32_t)(i + 1));
		uint8_t t = sched[i];

		sched[i] = sched[j];
		sched[j] = t;
	}
	order_pairs(sched, n);
	*n_out = n;
	return sched;
}

static void
gen_init(struct gen *g, uint64_t seed, unsigned scale)
{
	unsigned i;

	memset(g, 0, sizeof(*g));
	rng_seed(g, seed);
	for (i = 0; i < N_FLOWS; i++) {
		const struct flow_spec *f = &flows[i];
		struct stream *s = &g->st[i];
		int af = f->ipv == 4 ? AF_INET : AF_INET6;

		/* The table is ours: an address that does not parse is a bug. */
		if (inet_pton(af, f->src, s->src) != 1 || inet_pton(af, f->dst, s->dst) != 1)
			abort();
		mac_of(f->ipv, s->src, s->smac);
		mac_of(f->ipv, s->dst, s->dmac);
		s->count = f->packets * scale;
		s->snd_nxt = (uint32_t)rng_next(g);
		s->peer_nxt = (uint32_t)rng_next(g);
		s->ip_id = (uint16_t)rng_next(g);
		s->flow_label = (uint32_t)rng_next(g) & 0xfffff;
	}
	g->st[STREAM_ARP].count = ARP_FRAMES * scale;
	g->st[STREAM_LLDP].count = LLDP_FRAMES * scale;
}

/* Count one frame as written, parsing it afresh. */
static void
count_frame(struct stats *st, const uint8_t *b, unsigned len)
{
	struct flow_key key;
	unsigned off = 12, i, l4;
	uint16_t type = mpdp_get_be16(b + off);
	int tagged = 0;

	st->total++;
	st->bytes += len;
	for (i = 0; i < N_BINS; i++)
		if (len >= bins[i][0] && len <= bins[i][1])
			st->size[i]++;
	while ((type == ET_VLAN || type == ET_QINQ) && off + 6 <= len) {
		off += 4;
		type = mpdp_get_be16(b + off);
		tagged = 1;
	}
	off += 2;
	st->vlan += tagged;
	memset(&key, 0, sizeof(key));
	if (type == ET_IPV4) {
		key.ipv = 4;
		key.proto = b[off + 9];
		memcpy(key.src, b + off + 12, 4);
		memcpy(key.dst, b + off + 16, 4);
		l4 = off + (b[off] & 0x0f) * 4u;
		st->ipv4++;
	} else if (type == ET_IPV6) {
		key.ipv = 6;
		key.proto = b[off + 6];
		memcpy(key.src, b + off + 8, 16);
		memcpy(key.dst, b + off + 24, 16);
		l4 = off + 40;
		st->ipv6++;
	} else {
		if (type == ET_ARP)
			st->arp++;
		else
			st->other++;
		return;
	}
	if (key.proto == IPPROTO_TCP || key.proto == IPPROTO_UDP) {
		key.sport = mpdp_get_be16(b + l4);
		key.dport = mpdp_get_be16(b + l4 + 2);
		if (key.proto == IPPROTO_TCP)
			st->tcp++;
		else
			st->udp++;
	} else if (key.proto == IPPROTO_ICMP || key.proto == IPPROTO_ICMPV6) {
		key.sport = mpdp_get_be16(b + l4 + 4);	/* echo identifier */
		st->icmp++;
	}
	for (i = 0; i < st->n_flow; i++)
		if (memcmp(&st->flow[i].key, &key, sizeof(key)) == 0)
			break;
	if (i == st->n_flow) {
		if (st->n_flow == N_FLOWS) {
			st->unknown = 1;
			return;
		}
		st->flow[st->n_flow++].key = key;
	}
	st->flow[i].packets++;
	st->flow[i].bytes += len;
}

/* The counted flow that flows[i] describes, or NULL. */
static const struct flow_stat *
stat_of(const struct stats *st, unsigned i)
{
	const struct flow_spec *f = &flows[i];
	struct flow_key key;
	unsigned k;

	memset(&key, 0, sizeof(key));
	key.ipv = f->ipv;
	key.proto = f->proto;
	key.sport = f->sport;
	key.dport = f->dport;
	inet_pton(f->ipv == 4 ? AF_INET : AF_INET6, f->src, key.src);
	inet_pton(f->ipv == 4 ? AF_INET : AF_INET6, f->dst, key.dst);
	for (k = 0; k < st->n_flow; k++)
		if (memcmp(&st->flow[k].key, &key, sizeof(key)) == 0)
			return &st->flow[k];
	return NULL;
}

static const char *
proto_name(uint8_t ipv, uint8_t proto)
{
	if (proto == IPPROTO_TCP)
		return "tcp";
	if (proto == IPPROTO_UDP)
		return "udp";
	return ipv == 4 ? "icmp" : "icmp6";
}

static int
write_manifest(FILE *m, const struct stats *st)
{
	char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN];
	unsigned i;

	fprintf(m, "# proto\tsrc\tdst\tsport\tdport\tpackets\tbytes\n");
	for (i = 0; i < N_FLOWS; i++) {
		const struct flow_stat *fs = stat_of(st, i);
		int af = flows[i].ipv == 4 ? AF_INET : AF_INET6;

		if (fs == NULL)
			return -1;
		inet_ntop(af, fs->key.src, src, sizeof(src));
		inet_ntop(af, fs->key.dst, dst, sizeof(dst));
		fprintf(m, "%s\t%s\t%s\t%u\t%u\t%" PRIu64 "\t%" PRIu64 "\n",
			proto_name(fs->key.ipv, fs->key.proto), src, dst, fs->key.sport, fs->key.dport,
			fs->packets, fs->bytes);
	}
	fprintf(m, "total\t%" PRIu64 "\t%" PRIu64 "\n", st->total, st->bytes);
	fprintf(m, "ipv4\t%" PRIu64 "\nipv6\t%" PRIu64 "\n", st->ipv4, st->ipv6);
	fprintf(m, "tcp\t%" PRIu64 "\nudp\t%" PRIu64 "\nicmp\t%" PRIu64 "\n", st->tcp, st->udp, st->icmp);
	fprintf(m, "arp\t%" PRIu64 "\nvlan\t%" PRIu64 "\nother\t%" PRIu64 "\n", st->arp, st->vlan, st->other);
	for (i = 0; i < N_BINS; i++)
		fprintf(m, "size\t%u\t%u\t%" PRIu64 "\n", bins[i][0], bins[i][1], st->size[i]);
	return 0;
}

/* The promises of the flow table: no ties, and different leaders by packets and by bytes. */
static void
check_ranking(const struct stats *st)
{
	unsigned i, k, top_p = 0, top_b = 0;

	for (i = 0; i < st->n_flow; i++) {
		for (k = i + 1; k < st->n_flow; k++) {
			if (st->flow[i].packets == st->flow[k].packets)
				fprintf(stderr, "mpdp-gentraffic: warning: two flows have %" PRIu64 " packets\n",
					st->flow[i].packets);
			if (st->flow[i].bytes == st->flow[k].bytes)
				fprintf(stderr, "mpdp-gentraffic: warning: two flows have %" PRIu64 " bytes\n",
					st->flow[i].bytes);
		}
		if (st->flow[i].packets > st->flow[top_p].packets)
			top_p = i;
		if (st->flow[i].bytes > st->flow[top_b].bytes)
			top_b = i;
	}
	if (top_p == top_b)
		fprintf(stderr, "mpdp-gentraffic: warning: the same flow leads by packets and by bytes\n");
}

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: mpdp-gentraffic --out FILE [--manifest FILE] [--scale N] [--seed S]\n"
		"  --out FILE       the capture to write (Ethernet, microsecond pcap)\n"
		"  --manifest FILE  also write the flows and totals, tab-separated\n"
		"  --scale N        multiply every packet count by N, 1 to %lu (default 1)\n"
		"  --seed S         seed of the generator, an unsigned 64-bit integer (default %u)\n",
		SCALE_MAX, DEFAULT_SEED);
}

/* An unsigned decimal with nothing after it; strtoull alone takes "-1" and " 5". */
static int
parse_u64(const char *s, uint64_t *out)
{
	char *end;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	*out = strtoull(s, &end, 10);
	return errno || *end ? -1 : 0;
}

static int
bad_arg(const char *fmt, const char *what)
{
	fprintf(stderr, "mpdp-gentraffic: ");
	fprintf(stderr, fmt, what);
	fprintf(stderr, "\n");
	usage(stderr);
	return 2;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "out", required_argument, NULL, 'o' },
		{ "manifest", required_argument, NULL, 'm' },
		{ "scale", required_argument, NULL, 's' },
		{ "seed", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *out = NULL, *manifest = NULL;
	uint64_t scale = 1, seed = DEFAULT_SEED;
	uint8_t frame[MAX_FRAME];
	struct pcap_pkthdr h;
	pcap_dumper_t *d;
	struct stats *st;
	struct gen *g;
	uint8_t *sched;
	FILE *m = NULL;
	size_t n, i;
	pcap_t *p;
	int c, rc = 1;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			out = optarg;
			break;
		case 'm':
			manifest = optarg;
			break;
		case 's':
			if (parse_u64(optarg, &scale) != 0 || scale < 1 || scale > SCALE_MAX)
				return bad_arg("--scale '%s': not an integer from 1 to 1000", optarg);
			break;
		case 'S':
			if (parse_u64(optarg, &seed) != 0)
				return bad_arg("--seed '%s': not an unsigned 64-bit integer", optarg);
			break;
		case 'h':
			usage(stdout);
			return 0;
		case ':':
			return bad_arg("option '%s' needs an argument", argv[optind - 1]);
		default:
			if (optopt) {
				char opt[3] = { '-', (char)optopt, 0 };

				return bad_arg("unknown option '%s'", opt);
			}
			return bad_arg("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return bad_arg("unexpected argument '%s'", argv[optind]);
	if (out == NULL || *out == 0)
		return bad_arg("%s", "--out FILE is required");
	if (manifest != NULL && (*manifest == 0 || strcmp(manifest, out) == 0))
		return bad_arg("--manifest '%s': needs a file name other than --out's", manifest);

	p = pcap_open_dead(DLT_EN10MB, 65535);
	if (p == NULL) {
		fprintf(stderr, "mpdp-gentraffic: pcap_open_dead failed\n");
		return 1;
	}
	d = pcap_dump_open(p, out);
	if (d == NULL) {
		fprintf(stderr, "mpdp-gentraffic: --out: %s\n", pcap_geterr(p));
		pcap_close(p);
		return 2;
	}
	if (manifest != NULL) {
		m = fopen(manifest, "w");
		if (m == NULL) {
			fprintf(stderr, "mpdp-gentraffic: --manifest %s: %s\n", manifest, strerror(errno));
			pcap_dump_close(d);
			pcap_close(p);
			unlink(out);
			return 2;
		}
	}

	g = malloc(sizeof(*g));
	st = calloc(1, sizeof(*st));
	if (g == NULL || st == NULL)
		goto fail_alloc;
	gen_init(g, seed, (unsigned)scale);
	sched = make_schedule(g, &n);
	if (sched == NULL)
		goto fail_alloc;

	for (i = 0; i < n; i++) {
		unsigned s = sched[i], len;
		uint64_t us = (uint64_t)i * STEP_USEC;

		if (s == STREAM_ARP)
			len = build_arp(g->st[s].sent++, frame);
		else if (s == STREAM_LLDP)
			len = build_lldp(g->st[s].sent++, frame);
		else
			len = build_flow(g, s, frame);
		if (len < MIN_FRAME) {	/* pad, as the sender's NIC would; IP lengths leave it out */
			memset(frame + len, 0, MIN_FRAME - len);
			len = MIN_FRAME;
		}
		h.ts.tv_sec = (time_t)(START_SEC + us / 1000000);
		h.ts.tv_usec = (suseconds_t)(us % 1000000);
		h.caplen = h.len = len;
		pcap_dump((u_char *)d, &h, frame);
		count_frame(st, frame, len);
	}
	free(sched);

	if (pcap_dump_flush(d) != 0 || ferror(pcap_dump_file(d))) {
		fprintf(stderr, "mpdp-gentraffic: --out %s: write error\n", out);
		goto fail_write;
	}
	if (st->unknown || st->n_flow != N_FLOWS) {
		fprintf(stderr, "mpdp-gentraffic: internal error: the frames do not match the flow table\n");
		goto fail_write;
	}
	check_ranking(st);
	if (m != NULL && (write_manifest(m, st) != 0 || fflush(m) != 0 || ferror(m))) {
		fprintf(stderr, "mpdp-gentraffic: --manifest %s: write error\n", manifest);
		goto fail_write;
	}
	rc = 0;
	goto done;

fail_alloc:
	fprintf(stderr, "mpdp-gentraffic: out of memory\n");
fail_write:
	rc = 1;
done:
	free(st);
	free(g);
	if (m != NULL && fclose(m) != 0 && rc == 0) {
		fprintf(stderr, "mpdp-gentraffic: --manifest %s: write error\n", manifest);
		rc = 1;
	}
	pcap_dump_close(d);
	pcap_close(p);
	return rc;
}

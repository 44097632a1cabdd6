/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "mpdp_pkt.h"

/*
 * Every read is preceded by a bounds check against len, and offsets only
 * move forward past bytes already checked, so off <= len always holds and
 * "n > len - off" cannot wrap. Multi-byte fields are read byte by byte: the
 * frame may sit at any alignment.
 */

enum {
	ETH_HDR_LEN = 14,
	VLAN_TAG_LEN = 4,
	VLAN_MAX_TAGS = 2,
	ETYPE_IPV4 = 0x0800,
	ETYPE_ARP = 0x0806,
	ETYPE_VLAN = 0x8100,
	ETYPE_QINQ = 0x88a8,
	ETYPE_IPV6 = 0x86dd,
	ARP_FIXED_LEN = 8,
	IPV4_MIN_LEN = 20,
	IPV4_MF = 0x2000,
	IPV4_FRAG_OFF = 0x1fff,
	IPV6_HDR_LEN = 40,
	IPV6_EXT_MIN_LEN = 8,
	IPV6_FRAG_OFF = 0xfff8,
	IPV6_MAX_EXT = 8,
	TCP_MIN_LEN = 20,
	UDP_HDR_LEN = 8,
	ICMP_HDR_LEN = 8,
	PROTO_HOPOPTS = 0,
	PROTO_ICMP = 1,
	PROTO_TCP = 6,
	PROTO_UDP = 17,
	PROTO_ROUTING = 43,
	PROTO_FRAGMENT = 44,
	PROTO_AH = 51,
	PROTO_ICMPV6 = 58,
	PROTO_DSTOPTS = 60,
	ICMP_ECHO_REPLY = 0,
	ICMP_ECHO_REQUEST = 8,
	ICMPV6_ECHO_REQUEST = 128,
	ICMPV6_ECHO_REPLY = 129,
};

/* No bound from an IP length field: only the frame length limits headers. */
#define NO_IP_END UINT32_MAX

static int
stop(struct mpdp_pkt_info *info, uint32_t flag)
{
	info->flags |= flag;
	return -EINVAL;
}

/*
 * Check that n bytes at off are inside the frame (else TRUNCATED) and inside
 * the IP datagram that carries them (else MALFORMED: the IP length field
 * claims the header is not part of the datagram).
 */
static int
need(uint32_t len, uint32_t ip_end, uint32_t off, uint32_t n, struct mpdp_pkt_info *info)
{
	if (n > len - off)
		return stop(info, MPDP_PKT_F_TRUNCATED);
	if (off > ip_end || n > ip_end - off)
		return stop(info, MPDP_PKT_F_MALFORMED);
	return 0;
}

static int
parse_tcp(const uint8_t *data, uint32_t len, uint32_t off, uint32_t ip_end,
	  struct mpdp_pkt_info *info)
{
	const uint8_t *th = data + off;
	uint32_t hlen;

	info->ptype |= MPDP_PTYPE_TCP;
	info->l4_off = (uint16_t)off;
	if (need(len, ip_end, off, TCP_MIN_LEN, info) != 0)
		return -EINVAL;
	hlen = (uint32_t)(th[12] >> 4) * 4;
	if (hlen < TCP_MIN_LEN)
		return stop(info, MPDP_PKT_F_MALFORMED);
	if (need(len, ip_end, off, hlen, info) != 0)
		return -EINVAL;
	info->src_port = mpdp_get_be16(th);
	info->dst_port = mpdp_get_be16(th + 2);
	info->tcp_flags = th[13];
	info->l4_len = (uint16_t)hlen;
	info->payload_off = (uint16_t)(off + hlen);
	return 0;
}

static int
parse_udp(const uint8_t *data, uint32_t len, uint32_t off, uint32_t ip_end,
	  struct mpdp_pkt_info *info)
{
	const uint8_t *uh = data + off;

	info->ptype |= MPDP_PTYPE_UDP;
	info->l4_off = (uint16_t)off;
	if (need(len, ip_end, off, UDP_HDR_LEN, info) != 0)
		return -EINVAL;
	info->src_port = mpdp_get_be16(uh);
	info->dst_port = mpdp_get_be16(uh + 2);
	info->l4_len = UDP_HDR_LEN;
	info->payload_off = (uint16_t)(off + UDP_HDR_LEN);
	return 0;
}

/* ICMP and ICMPv6 share the layout: type, code, checksum, 4 bytes that hold
 * the echo identifier and sequence number for echo request/reply. */
static int
parse_icmp(const uint8_t *data, uint32_t len, uint32_t off, uint32_t ip_end, int v6,
	   struct mpdp_pkt_info *info)
{
	const uint8_t *ih = data + off;
	int echo;

	info->ptype |= MPDP_PTYPE_ICMP;
	info->l4_off = (uint16_t)off;
	if (need(len, ip_end, off, ICMP_HDR_LEN, info) != 0)
		return -EINVAL;
	info->icmp_type = ih[0];
	info->icmp_code = ih[1];
	if (v6)
		echo = ih[0] == ICMPV6_ECHO_REQUEST || ih[0] == ICMPV6_ECHO_REPLY;
	else
		echo = ih[0] == ICMP_ECHO_REQUEST || ih[0] == ICMP_ECHO_REPLY;
	if (echo)
		info->src_port = mpdp_get_be16(ih + 4);
	info->l4_len = ICMP_HDR_LEN;
	info->payload_off = (uint16_t)(off + ICMP_HDR_LEN);
	return 0;
}

static int
parse_l4(const uint8_t *data, uint32_t len, uint32_t off, uint32_t ip_end, int v6,
	 struct mpdp_pkt_info *info)
{
	uint8_t proto = info->ip_proto;

	if (proto == PROTO_TCP)
		return parse_tcp(data, len, off, ip_end, info);
	if (proto == PROTO_UDP)
		return parse_udp(data, len, off, ip_end, info);
	if (proto == (v6 ? PROTO_ICMPV6 : PROTO_ICMP))
		return parse_icmp(data, len, off, ip_end, v6, info);
	info->ptype |= MPDP_PTYPE_L4_OTHER;
	info->l4_off = (uint16_t)off;
	return 0;
}

static int
parse_ipv4(const uint8_t *data, uint32_t len, uint32_t off, struct mpdp_pkt_info *info)
{
	const uint8_t *ip = data + off;
	uint32_t hlen, total;
	uint16_t frag;

	info->ptype |= MPDP_PTYPE_IPV4;
	info->l3_off = (uint16_t)off;
	if (len - off < IPV4_MIN_LEN)
		return stop(info, MPDP_PKT_F_TRUNCATED);
	hlen = (uint32_t)(ip[0] & 0xf) * 4;
	total = mpdp_get_be16(ip + 2);
	/* Judge the fixed part before the options: a bad version or IHL means
	 * the length we would check the options against is meaningless. */
	if ((ip[0] >> 4) != 4 || hlen < IPV4_MIN_LEN || total < hlen)
		return stop(info, MPDP_PKT_F_MALFORMED);
	if (hlen > len - off)
		return stop(info, MPDP_PKT_F_TRUNCATED);
	info->l3_len = (uint16_t)hlen;
	info->ip_len = total;
	info->ip_ttl = ip[8];
	info->ip_proto = ip[9];
	memcpy(info->src_addr, ip + 12, 4);
	memcpy(info->dst_addr, ip + 16, 4);
	if (hlen > IPV4_MIN_LEN)
		info->flags |= MPDP_PKT_F_IP_OPTIONS;
	frag = mpdp_get_be16(ip + 6);
	if ((frag & (IPV4_MF | IPV4_FRAG_OFF)) != 0) {
		info->ptype |= MPDP_PTYPE_FRAG;
		if ((frag & IPV4_FRAG_OFF) != 0) {
			info->flags |= MPDP_PKT_F_NOT_FIRST_FRAG;
			return 0;
		}
	}
	return parse_l4(data, len, off + hlen, off + total, 0, info);
}

static int
parse_ipv6(const uint8_t *data, uint32_t len, uint32_t off, struct mpdp_pkt_info *info)
{
	const uint8_t *ip = data + off;
	uint32_t l3_off = off, ip_end, plen;
	uint8_t nh;

	info->ptype |= MPDP_PTYPE_IPV6;
	info->l3_off = (uint16_t)off;
	if (len - off < IPV6_HDR_LEN)
		return stop(info, MPDP_PKT_F_TRUNCATED);
	if ((ip[0] >> 4) != 6)
		return stop(info, MPDP_PKT_F_MALFORMED);
	plen = mpdp_get_be16(ip + 4);
	nh = ip[6];
	info->ip_len = IPV6_HDR_LEN + plen;
	info->ip_ttl = ip[7];
	memcpy(info->src_addr, ip + 8, 16);
	memcpy(info->dst_addr, ip + 24, 16);
	/* Payload length 0 is a jumbogram (the real length is in a hop-by-hop
	 * option) or a segmentation-offload packet: bound by the frame only. */
	ip_end = plen != 0 ? off + IPV6_HDR_LEN + plen : NO_IP_END;
	off += IPV6_HDR_LEN;

	for (unsigned n = 0;; n++) {
		const uint8_t *eh = data + off;
		uint32_t elen;

		if (nh != PROTO_HOPOPTS && nh != PROTO_ROUTING && nh != PROTO_DSTOPTS &&
		    nh != PROTO_FRAGMENT && nh != PROTO_AH)
			break;
		/* RFC 8200 4.1: hop-by-hop may only follow the IPv6 header. A
		 * bound on the chain keeps the cost per packet fixed. */
		if ((nh == PROTO_HOPOPTS && n != 0) || n == IPV6_MAX_EXT)
			return stop(info, MPDP_PKT_F_MALFORMED);
		if (need(len, ip_end, off, IPV6_EXT_MIN_LEN, info) != 0)
			return -EINVAL;
		if (nh == PROTO_FRAGMENT) {
			elen = IPV6_EXT_MIN_LEN;
			info->ptype |= MPDP_PTYPE_FRAG;
			if ((mpdp_get_be16(eh + 2) & IPV6_FRAG_OFF) != 0) {
				info->flags |= MPDP_PKT_F_NOT_FIRST_FRAG;
				info->ip_proto = eh[0];
				info->l3_len = (uint16_t)(off + elen - l3_off);
				return 0;
			}
		} else if (nh == PROTO_AH) {
			elen = ((uint32_t)eh[1] + 2) * 4;
		} else {
			elen = ((uint32_t)eh[1] + 1) * 8;
		}
		if (need(len, ip_end, off, elen, info) != 0)
			return -EINVAL;
		nh = eh[0];
		off += elen;
	}
	info->ip_proto = nh;
	info->l3_len = (uint16_t)(off - l3_off);
	return parse_l4(data, len, off, ip_end, 1, info);
}

/* The whole ARP message is the "header": 8 fixed bytes, then sender and
 * target hardware and protocol addresses of the sizes it declares. */
static int
parse_arp(const uint8_t *data, uint32_t len, uint32_t off, struct mpdp_pkt_info *info)
{
	const uint8_t *ah = data + off;
	uint32_t alen;

	info->ptype |= MPDP_PTYPE_ARP;
	info->l3_off = (uint16_t)off;
	if (len - off < ARP_FIXED_LEN)
		return stop(info, MPDP_PKT_F_TRUNCATED);
	alen = ARP_FIXED_LEN + 2 * ((uint32_t)ah[4] + ah[5]);
	if (alen > len - off)
		return stop(info, MPDP_PKT_F_TRUNCATED);
	info->l3_len = (uint16_t)alen;
	return 0;
}

int
mpdp_pkt_parse(const uint8_t *data, uint32_t len, struct mpdp_pkt_info *info)
{
	uint32_t off = ETH_HDR_LEN;
	uint16_t type;

	memset(info, 0, sizeof(*info));
	if (len < ETH_HDR_LEN)
		return stop(info, MPDP_PKT_F_TRUNCATED);
	info->ptype = MPDP_PTYPE_ETH;
	type = mpdp_get_be16(data + 12);
	while (type == ETYPE_VLAN || type == ETYPE_QINQ) {
		if (info->n_vlan == VLAN_MAX_TAGS) {
			info->ethertype = type;
			return stop(info, MPDP_PKT_F_MALFORMED);
		}
		if (len - off < VLAN_TAG_LEN)
			return stop(info, MPDP_PKT_F_TRUNCATED);
		info->vlan_tci[info->n_vlan++] = mpdp_get_be16(data + off);
		info->ptype |= info->n_vlan == 1 ? MPDP_PTYPE_VLAN : MPDP_PTYPE_QINQ;
		type = mpdp_get_be16(data + off + 2);
		off += VLAN_TAG_LEN;
	}
	info->ethertype = type;

	switch (type) {
	case ETYPE_IPV4:
		return parse_ipv4(data, len, off, info);
	case ETYPE_IPV6:
		return parse_ipv6(data, len, off, info);
	case ETYPE_ARP:
		return parse_arp(data, len, off, info);
	default:
		return 0;
	}
}

uint16_t
mpdp_pkt_cksum(const void *data, uint32_t len, uint32_t sum)
{
	const uint8_t *p = data;
	uint64_t acc = sum;
	uint32_t i = 0;

	/* Big-endian words, so the result is the value a header field holds
	 * after ntohs(). 64 bits cannot overflow for any 32-bit length. */
	for (; len - i >= 4; i += 4)
		acc += ((uint32_t)p[i] << 8 | p[i + 1]) + ((uint32_t)p[i + 2] << 8 | p[i + 3]);
	for (; len - i >= 2; i += 2)
		acc += (uint32_t)p[i] << 8 | p[i + 1];
	if (i < len)
		acc += (uint32_t)p[i] << 8;
	while (acc >> 16)
		acc = (acc & 0xffff) + (acc >> 16);
	return (uint16_t)acc;
}

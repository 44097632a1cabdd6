/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mpdp-nat translation. Checksums are updated with RFC 1624 equation 3 on
 * 16-bit words read from the frame as they lie (memcpy, any alignment):
 * the one's complement sum does not depend on byte order (RFC 1071 2.B),
 * so no byte swapping is needed. Every changed field sits at an even
 * offset of the header or message its checksum covers.
 */
#include <netinet/in.h>
#include <string.h>

#include "nat_xlate.h"

enum {
	IP_CKS = 10,            /* offsets in the IPv4 header */
	IP_SRC = 12,
	IP_DST = 16,
	IPV4_MIN = 20,
	TCP_CKS = 16,
	UDP_CKS = 6,
	ICMP_CKS = 2,
	ICMP_ID = 4,
	ICMP_HDR = 8,
	QUOTE_L4_MIN = 8,       /* RFC 792: the quote holds 64 bits of the datagram */
	ICMP_ECHO_REPLY = 0,
	ICMP_UNREACH = 3,
	ICMP_SOURCE_QUENCH = 4,
	ICMP_REDIRECT = 5,
	ICMP_ECHO = 8,
	ICMP_TIME_EXCEEDED = 11,
	ICMP_PARAM_PROBLEM = 12,
};

static inline uint16_t
ld16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, 2);
	return v;
}

static inline void
st16(uint8_t *p, uint16_t v)
{
	memcpy(p, &v, 2);
}

static inline uint32_t
ld32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

static inline void
st32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

/* ~m + m' for one 16-bit word. */
static inline uint32_t
delta16(uint16_t old, uint16_t new)
{
	return (uint32_t)(uint16_t)~old + new;
}

/* ~m + m' for a 32-bit field: its two 16-bit words, whatever the byte order. */
static inline uint32_t
delta32(uint32_t old, uint32_t new)
{
	return delta16((uint16_t)old, (uint16_t)new) + delta16((uint16_t)(old >> 16),
							       (uint16_t)(new >> 16));
}

/* HC' = ~(~HC + sum of (~m + m')), folded with end-around carry. */
static inline uint16_t
cks_apply(uint16_t hc, uint32_t delta)
{
	uint32_t s = (uint32_t)(uint16_t)~hc + delta;

	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

/* Apply @p delta to the checksum at @p at and return ~old + new of the field itself. */
static inline uint32_t
cks_update(uint8_t *at, uint32_t delta)
{
	uint16_t old = ld16(at), new = cks_apply(old, delta);

	st16(at, new);
	return delta16(old, new);
}

/* UDP: 0 means "no checksum" and stays so; a computed 0 is sent as 0xffff (RFC 768). */
static inline uint32_t
udp_cks_update(uint8_t *at, uint32_t delta)
{
	uint16_t old = ld16(at), new;

	if (old == 0)
		return 0;
	new = cks_apply(old, delta);
	if (new == 0)
		new = 0xffff;
	st16(at, new);
	return delta16(old, new);
}

static int
icmp_error_type(uint8_t t)
{
	return t == ICMP_UNREACH || t == ICMP_SOURCE_QUENCH || t == ICMP_REDIRECT ||
	       t == ICMP_TIME_EXCEEDED || t == ICMP_PARAM_PROBLEM;
}

/* The packet an ICMP error quotes, from @p off to @p end (the outer IP end). */
static enum nat_class
classify_quote(const uint8_t *frame, uint32_t off, uint32_t end, struct nat_pkt *p)
{
	const uint8_t *q = frame + off;
	uint32_t avail = end > off ? end - off : 0, hlen;

	if (avail < IPV4_MIN || (q[0] >> 4) != 4)
		return NAT_CLASS_ICMP_EMBEDDED;
	hlen = (uint32_t)(q[0] & 0xf) * 4;
	if (hlen < IPV4_MIN || avail < hlen + QUOTE_L4_MIN)
		return NAT_CLASS_ICMP_EMBEDDED;
	/* A quoted non-first fragment has no ports to translate. */
	if (((uint32_t)q[6] << 8 | q[7]) & 0x1fff)
		return NAT_CLASS_ICMP_EMBEDDED;
	p->q_proto = q[9];
	p->q_l3_off = (uint16_t)off;
	p->q_l4_off = (uint16_t)(off + hlen);
	p->q_l4_avail = (uint16_t)(avail - hlen);
	p->q_src = ld32(q + IP_SRC);
	p->q_dst = ld32(q + IP_DST);
	q += hlen;
	switch (p->q_proto) {
	case IPPROTO_TCP:
	case IPPROTO_UDP:
		p->q_kind = NAT_PKT_L4;
		p->q_sport = ld16(q);
		p->q_dport = ld16(q + 2);
		return NAT_CLASS_OK;
	case IPPROTO_ICMP:
		/* Errors about errors are not sent (RFC 1122 3.2.2), so only echo. */
		if (q[0] != ICMP_ECHO && q[0] != ICMP_ECHO_REPLY)
			return NAT_CLASS_ICMP_EMBEDDED;
		p->q_kind = NAT_PKT_ECHO;
		p->q_sport = p->q_dport = ld16(q + ICMP_ID);
		return NAT_CLASS_OK;
	default:
		return NAT_CLASS_ICMP_EMBEDDED;
	}
}

enum nat_class
nat_xlate_classify(const uint8_t *frame, uint32_t len, const struct mpdp_pkt_info *info,
		   struct nat_pkt *p)
{
	const uint8_t *l4;
	uint32_t end;

	if (info->ptype & MPDP_PTYPE_IPV6)
		return NAT_CLASS_IPV6;
	if (!(info->ptype & MPDP_PTYPE_IPV4))
		return NAT_CLASS_NOT_IP;
	/* The parser sets l3_len only once the IPv4 header is whole and sane. */
	if (info->l3_len == 0)
		return (info->flags & MPDP_PKT_F_TRUNCATED) ? NAT_CLASS_IP_TRUNCATED :
							      NAT_CLASS_IP_MALFORMED;
	if (!mpdp_pkt_ip_whole(info, len))
		return NAT_CLASS_IP_TRUNCATED;
	end = (uint32_t)info->l3_off + info->ip_len;
	p->l3_off = info->l3_off;
	p->src = ld32(frame + info->l3_off + IP_SRC);
	p->dst = ld32(frame + info->l3_off + IP_DST);
	p->proto = info->ip_proto;
	if (info->ptype & MPDP_PTYPE_FRAG)
		return NAT_CLASS_FRAGMENT;
	if (info->flags & MPDP_PKT_F_TRUNCATED)
		return NAT_CLASS_TRUNCATED;
	if (info->flags & MPDP_PKT_F_MALFORMED)
		return NAT_CLASS_MALFORMED;
	if (p->proto != IPPROTO_TCP && p->proto != IPPROTO_UDP && p->proto != IPPROTO_ICMP)
		return NAT_CLASS_PROTO;
	p->l4_off = info->l4_off;
	l4 = frame + info->l4_off;
	p->tcp_flags = info->tcp_flags;
	if (p->proto != IPPROTO_ICMP) {
		p->kind = NAT_PKT_L4;
		p->sport = ld16(l4);
		p->dport = ld16(l4 + 2);
		return NAT_CLASS_OK;
	}
	p->icmp_type = l4[0];
	if (l4[0] == ICMP_ECHO || l4[0] == ICMP_ECHO_REPLY) {
		p->kind = NAT_PKT_ECHO;
		p->sport = p->dport = ld16(l4 + ICMP_ID);
		return NAT_CLASS_OK;
	}
	if (!icmp_error_type(l4[0]))
		return NAT_CLASS_ICMP_TYPE;
	p->kind = NAT_PKT_ICMP_ERR;
	return classify_quote(frame, (uint32_t)info->l4_off + ICMP_HDR, end, p);
}

/* Change the address at @p at in the IPv4 header at @p ip; returns ~m + m' of the address. */
static inline uint32_t
ip_addr_set(uint8_t *ip, unsigned at, uint32_t addr)
{
	uint32_t d = delta32(ld32(ip + at), addr);

	st32(ip + at, addr);
	cks_update(ip + IP_CKS, d);
	return d;
}

/* TCP or UDP at @p l4: the port at @p port_at and the pseudo-header change @p d_addr. */
static inline void
l4_port_set(uint8_t *l4, uint8_t proto, unsigned port_at, uint16_t port, uint32_t d_addr)
{
	uint32_t d = d_addr + delta16(ld16(l4 + port_at), port);

	st16(l4 + port_at, port);
	if (proto == IPPROTO_TCP)
		cks_update(l4 + TCP_CKS, d);
	else
		udp_cks_update(l4 + UDP_CKS, d);
}

static inline void
echo_id_set(uint8_t *icmp, uint16_t id)
{
	uint32_t d = delta16(ld16(icmp + ICMP_ID), id);

	st16(icmp + ICMP_ID, id);
	cks_update(icmp + ICMP_CKS, d);
}

/*
 * An ICMP error: the outer address at @p outer_at, then in the quote the
 * address at @p q_at and the port (or echo identifier) at @p q_port_at of
 * the quoted L4 header. Everything changed inside the ICMP message goes
 * into the ICMP checksum.
 */
static void
icmp_err_set(uint8_t *frame, struct nat_pkt *p, unsigned outer_at, unsigned q_at,
	     unsigned q_port_at, uint32_t addr, uint16_t port)
{
	uint8_t *q = frame + p->q_l3_off, *ql4 = frame + p->q_l4_off;
	uint32_t d_addr, d = 0;

	ip_addr_set(frame + p->l3_off, outer_at, addr);
	/* The quoted header: the address, then its own checksum. */
	d_addr = delta32(ld32(q + q_at), addr);
	st32(q + q_at, addr);
	d += d_addr + cks_update(q + IP_CKS, d_addr);
	if (p->q_kind == NAT_PKT_ECHO) {
		uint32_t d_id = delta16(ld16(ql4 + ICMP_ID), port);

		st16(ql4 + ICMP_ID, port);
		d += d_id + cks_update(ql4 + ICMP_CKS, d_id);
	} else {
		uint32_t d_l4 = d_addr + delta16(ld16(ql4 + q_port_at), port);

		d += delta16(ld16(ql4 + q_port_at), port);
		st16(ql4 + q_port_at, port);
		/* The quoted L4 checksum only when the quote reaches it. */
		if (p->q_proto == IPPROTO_TCP && p->q_l4_avail >= TCP_CKS + 2)
			d += cks_update(ql4 + TCP_CKS, d_l4);
		else if (p->q_proto == IPPROTO_UDP)
			d += udp_cks_update(ql4 + UDP_CKS, d_l4);
	}
	cks_update(frame + p->l4_off + ICMP_CKS, d);
}

void
nat_xlate_src(uint8_t *frame, struct nat_pkt *p, uint32_t addr, uint16_t port)
{
	uint8_t *l4 = frame + p->l4_off;
	uint32_t d;

	if (p->kind == NAT_PKT_ICMP_ERR) {
		icmp_err_set(frame, p, IP_SRC, IP_DST, 2, addr, port);
		p->src = addr;
		p->q_dst = addr;
		p->q_dport = port;
		if (p->q_kind == NAT_PKT_ECHO)
			p->q_sport = port;
		return;
	}
	d = ip_addr_set(frame + p->l3_off, IP_SRC, addr);
	if (p->kind == NAT_PKT_ECHO) {
		echo_id_set(l4, port);
		p->dport = port;
	} else {
		l4_port_set(l4, p->proto, 0, port, d);
	}
	p->src = addr;
	p->sport = port;
}

void
nat_xlate_dst(uint8_t *frame, struct nat_pkt *p, uint32_t addr, uint16_t port)
{
	uint8_t *l4 = frame + p->l4_off;
	uint32_t d;

	if (p->kind == NAT_PKT_ICMP_ERR) {
		icmp_err_set(frame, p, IP_DST, IP_SRC, 0, addr, port);
		p->dst = addr;
		p->q_src = addr;
		p->q_sport = port;
		if (p->q_kind == NAT_PKT_ECHO)
			p->q_dport = port;
		return;
	}
	d = ip_addr_set(frame + p->l3_off, IP_DST, addr);
	if (p->kind == NAT_PKT_ECHO) {
		echo_id_set(l4, port);
		p->sport = port;
	} else {
		l4_port_set(l4, p->proto, 2, port, d);
	}
	p->dst = addr;
	p->dport = port;
}

/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "mpdp_pkt.h"

#define F_ERR (MPDP_PKT_F_TRUNCATED | MPDP_PKT_F_MALFORMED)
#define L3_BITS (MPDP_PTYPE_ARP | MPDP_PTYPE_IPV4 | MPDP_PTYPE_IPV6)
#define L4_BITS (MPDP_PTYPE_TCP | MPDP_PTYPE_UDP | MPDP_PTYPE_ICMP | MPDP_PTYPE_L4_OTHER)

/* A frame under construction. */
struct frame {
	uint8_t b[1024];
	uint32_t len;
	uint32_t hdr_end;   /* end of the headers: any shorter prefix is truncated */
	uint32_t l3;        /* offset of the IP header, for finish() */
	int ipv;            /* 4, 6 or 0 */
};

static const uint8_t ip4_src[4] = { 10, 0, 0, 1 };
static const uint8_t ip4_dst[4] = { 192, 168, 1, 2 };
static const uint8_t ip6_src[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
static const uint8_t ip6_dst[16] = { 0x20, 0x01, 0x0d, 0xb8, [14] = 0xab, [15] = 2 };

static void
put8(struct frame *f, unsigned v)
{
	assert_true(f->len < sizeof(f->b));
	f->b[f->len++] = (uint8_t)v;
}

static void
put16(struct frame *f, unsigned v)
{
	put8(f, v >> 8);
	put8(f, v);
}

static void
put32(struct frame *f, uint32_t v)
{
	put16(f, v >> 16);
	put16(f, v & 0xffff);
}

static void
put_bytes(struct frame *f, const uint8_t *p, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		put8(f, p[i]);
}

static void
put_fill(struct frame *f, unsigned n, unsigned v)
{
	for (unsigned i = 0; i < n; i++)
		put8(f, v);
}

static void
set16(struct frame *f, uint32_t off, unsigned v)
{
	f->b[off] = (uint8_t)(v >> 8);
	f->b[off + 1] = (uint8_t)v;
}

static void
eth(struct frame *f, unsigned type)
{
	static const uint8_t macs[12] = { 0x02, 0, 0, 0, 0, 0x01, 0x02, 0, 0, 0, 0, 0x02 };

	memset(f, 0, sizeof(*f));
	put_bytes(f, macs, sizeof(macs));
	put16(f, type);
}

static void
vlan_tag(struct frame *f, unsigned tci, unsigned type)
{
	put16(f, tci);
	put16(f, type);
}

static void
ipv4(struct frame *f, unsigned proto, unsigned ihl, unsigned frag)
{
	f->l3 = f->len;
	f->ipv = 4;
	put8(f, 0x40 | ihl);
	put8(f, 0);
	put16(f, 0);            /* total length: finish() */
	put16(f, 0x1234);
	put16(f, frag);
	put8(f, 64);
	put8(f, proto);
	put16(f, 0);            /* checksum: finish() */
	put_bytes(f, ip4_src, 4);
	put_bytes(f, ip4_dst, 4);
	put_fill(f, (ihl - 5) * 4, 0x01);   /* NOP options */
}

static void
ipv6(struct frame *f, unsigned nh)
{
	f->l3 = f->len;
	f->ipv = 6;
	put32(f, 0x60012345);
	put16(f, 0);            /* payload length: finish() */
	put8(f, nh);
	put8(f, 255);
	put_bytes(f, ip6_src, 16);
	put_bytes(f, ip6_dst, 16);
}

/* Hop-by-hop, routing or destination options: (hel + 1) * 8 bytes. */
static void
ext6(struct frame *f, unsigned nh, unsigned hel)
{
	put8(f, nh);
	put8(f, hel);
	put_fill(f, (hel + 1) * 8 - 2, 0);
}

static void
frag6(struct frame *f, unsigned nh, unsigned off8, unsigned more)
{
	put8(f, nh);
	put8(f, 0);
	put16(f, off8 << 3 | more);
	put32(f, 0xcafe0001);
}

/* Authentication header: (plen + 2) * 4 bytes. */
static void
ah6(struct frame *f, unsigned nh, unsigned plen)
{
	put8(f, nh);
	put8(f, plen);
	put16(f, 0);
	put32(f, 0x1000);       /* SPI */
	put_fill(f, (plen + 2) * 4 - 8, 0xaa);
}

static void
tcp(struct frame *f, unsigned sport, unsigned dport, unsigned flags, unsigned doff)
{
	put16(f, sport);
	put16(f, dport);
	put32(f, 1000);
	put32(f, 2000);
	put8(f, doff << 4);
	put8(f, flags);
	put16(f, 65535);
	put16(f, 0);
	put16(f, 0);
	put_fill(f, (doff - 5) * 4, 0x01);   /* NOP options */
}

static void
udp(struct frame *f, unsigned sport, unsigned dport, unsigned plen)
{
	put16(f, sport);
	put16(f, dport);
	put16(f, 8 + plen);
	put16(f, 0);
}

static void
icmp(struct frame *f, unsigned type, unsigned code, unsigned id, unsigned seq)
{
	put8(f, type);
	put8(f, code);
	put16(f, 0);
	put16(f, id);
	put16(f, seq);
}

static void
arp(struct frame *f)
{
	put16(f, 1);
	put16(f, 0x0800);
	put8(f, 6);
	put8(f, 4);
	put16(f, 1);
	put_fill(f, 6, 0x02);
	put_bytes(f, ip4_src, 4);
	put_fill(f, 6, 0);
	put_bytes(f, ip4_dst, 4);
}

static void
payload(struct frame *f, unsigned n)
{
	f->hdr_end = f->len;
	for (unsigned i = 0; i < n; i++)
		put8(f, 'a' + i % 26);
}

/* Fill in IP lengths and the IPv4 header checksum. */
static void
finish(struct frame *f)
{
	if (f->hdr_end == 0)
		f->hdr_end = f->len;
	if (f->ipv == 4) {
		uint32_t hl = (f->b[f->l3] & 0xfu) * 4;

		set16(f, f->l3 + 2, f->len - f->l3);
		set16(f, f->l3 + 10, (uint16_t)~mpdp_pkt_cksum(f->b + f->l3, hl, 0));
	} else if (f->ipv == 6) {
		set16(f, f->l3 + 4, f->len - f->l3 - 40);
	}
}

/* Parse from a heap copy of exactly len bytes, so ASan sees any overread. */
static int
parse_exact(const uint8_t *bytes, uint32_t len, struct mpdp_pkt_info *info)
{
	uint8_t *buf = malloc(len);
	int ret;

	assert_true(buf != NULL || len == 0);
	if (len > 0)
		memcpy(buf, bytes, len);
	ret = mpdp_pkt_parse(buf, len, info);
	free(buf);
	return ret;
}

static int
parse_frame(const struct frame *f, struct mpdp_pkt_info *info)
{
	return parse_exact(f->b, f->len, info);
}

static void
assert_info_equal(const struct mpdp_pkt_info *a, const struct mpdp_pkt_info *b)
{
	assert_int_equal(a->ptype, b->ptype);
	assert_int_equal(a->flags, b->flags);
	assert_int_equal(a->ethertype, b->ethertype);
	assert_int_equal(a->n_vlan, b->n_vlan);
	assert_int_equal(a->vlan_tci[0], b->vlan_tci[0]);
	assert_int_equal(a->vlan_tci[1], b->vlan_tci[1]);
	assert_int_equal(a->l3_off, b->l3_off);
	assert_int_equal(a->l4_off, b->l4_off);
	assert_int_equal(a->l3_len, b->l3_len);
	assert_int_equal(a->l4_len, b->l4_len);
	assert_int_equal(a->payload_off, b->payload_off);
	assert_int_equal(a->ip_proto, b->ip_proto);
	assert_int_equal(a->ip_ttl, b->ip_ttl);
	assert_int_equal(a->tcp_flags, b->tcp_flags);
	assert_int_equal(a->icmp_type, b->icmp_type);
	assert_int_equal(a->icmp_code, b->icmp_code);
	assert_int_equal(a->src_port, b->src_port);
	assert_int_equal(a->dst_port, b->dst_port);
	assert_int_equal(a->ip_len, b->ip_len);
	assert_memory_equal(a->src_addr, b->src_addr, 16);
	assert_memory_equal(a->dst_addr, b->dst_addr, 16);
}

static int
is_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] != 0)
			return 0;
	}
	return 1;
}

/*
 * What a truncated parse reports must agree with the full parse: each field
 * is either not filled yet or has its final value, and once a later header
 * is reached, everything before it is filled.
 */
static void
assert_info_is_prefix_of(const struct mpdp_pkt_info *p, const struct mpdp_pkt_info *full)
{
	assert_int_equal(p->ptype & ~full->ptype, 0);
	assert_int_equal(p->flags & ~(full->flags | MPDP_PKT_F_TRUNCATED), 0);
	assert_true(p->n_vlan <= full->n_vlan);
	for (unsigned i = 0; i < 2; i++)
		assert_int_equal(p->vlan_tci[i], i < p->n_vlan ? full->vlan_tci[i] : 0);
	assert_true(p->ethertype == 0 || p->ethertype == full->ethertype);
	assert_true(p->l3_off == 0 || p->l3_off == full->l3_off);
	assert_true(p->l4_off == 0 || p->l4_off == full->l4_off);
	assert_true(p->l3_len == 0 || p->l3_len == full->l3_len);
	assert_true(p->l4_len == 0 || p->l4_len == full->l4_len);
	assert_true(p->payload_off == 0 || p->payload_off == full->payload_off);
	assert_true(p->ip_proto == 0 || p->ip_proto == full->ip_proto);
	assert_true(p->ip_ttl == 0 || p->ip_ttl == full->ip_ttl);
	assert_true(p->tcp_flags == 0 || p->tcp_flags == full->tcp_flags);
	assert_true(p->icmp_type == 0 || p->icmp_type == full->icmp_type);
	assert_true(p->src_port == 0 || p->src_port == full->src_port);
	assert_true(p->dst_port == 0 || p->dst_port == full->dst_port);
	assert_true(p->ip_len == 0 || p->ip_len == full->ip_len);
	assert_true(is_zero(p->src_addr, 16) || memcmp(p->src_addr, full->src_addr, 16) == 0);
	assert_true(is_zero(p->dst_addr, 16) || memcmp(p->dst_addr, full->dst_addr, 16) == 0);

	if ((p->ptype & L3_BITS) != 0) {
		assert_int_equal(p->ethertype, full->ethertype);
		assert_int_equal(p->n_vlan, full->n_vlan);
		assert_int_equal(p->l3_off, full->l3_off);
	}
	if ((p->ptype & L4_BITS) != 0) {
		assert_int_equal(p->l3_len, full->l3_len);
		assert_int_equal(p->ip_proto, full->ip_proto);
		assert_int_equal(p->ip_len, full->ip_len);
		assert_memory_equal(p->src_addr, full->src_addr, 16);
		assert_int_equal(p->l4_off, full->l4_off);
	}
}

/* Frames used by the truncation sweep and as fuzz seeds. */

static void
build_ipv4_tcp_options(struct frame *f)
{
	eth(f, 0x0800);
	ipv4(f, 6, 6, 0x4000);
	tcp(f, 40000, 443, 0x18, 8);
	payload(f, 5);
	finish(f);
}

static void
build_vlan_ipv4_udp(struct frame *f)
{
	eth(f, 0x8100);
	vlan_tag(f, 0x2064, 0x0800);
	ipv4(f, 17, 5, 0);
	udp(f, 5353, 53, 12);
	payload(f, 12);
	finish(f);
}

static void
build_qinq_ipv6_ext_tcp(struct frame *f)
{
	eth(f, 0x88a8);
	vlan_tag(f, 0x0064, 0x8100);
	vlan_tag(f, 0x00c8, 0x86dd);
	ipv6(f, 0);
	ext6(f, 60, 1);
	ext6(f, 44, 0);
	frag6(f, 6, 0, 1);
	tcp(f, 1234, 22, 0x02, 6);
	payload(f, 7);
	finish(f);
}

static void
build_ipv4_icmp_echo(struct frame *f)
{
	eth(f, 0x0800);
	ipv4(f, 1, 5, 0);
	icmp(f, 8, 0, 0xbeef, 1);
	payload(f, 16);
	finish(f);
}

static void
build_arp(struct frame *f)
{
	eth(f, 0x0806);
	arp(f);
	payload(f, 18);     /* Ethernet padding to 60 bytes */
	finish(f);
}

static void
build_ipv6_icmpv6_echo(struct frame *f)
{
	eth(f, 0x86dd);
	ipv6(f, 58);
	icmp(f, 129, 0, 0x0102, 7);
	payload(f, 4);
	finish(f);
}

static void
build_ipv4_non_first_frag(struct frame *f)
{
	eth(f, 0x0800);
	ipv4(f, 17, 5, 185);
	payload(f, 30);
	finish(f);
}

static void
build_ipv6_routing_ah_udp(struct frame *f)
{
	eth(f, 0x86dd);
	ipv6(f, 43);
	ext6(f, 51, 2);
	ah6(f, 17, 4);
	udp(f, 7, 9, 3);
	payload(f, 3);
	finish(f);
}

static void
build_ipv4_sctp(struct frame *f)
{
	eth(f, 0x0800);
	ipv4(f, 132, 5, 0);
	payload(f, 24);
	finish(f);
}

static void
build_ipv6_non_first_frag(struct frame *f)
{
	eth(f, 0x86dd);
	ipv6(f, 0);
	ext6(f, 44, 0);
	frag6(f, 17, 100, 1);
	payload(f, 40);
	finish(f);
}

static void (*const builders[])(struct frame *) = {
	build_ipv4_tcp_options,
	build_vlan_ipv4_udp,
	build_qinq_ipv6_ext_tcp,
	build_ipv4_icmp_echo,
	build_arp,
	build_ipv6_icmpv6_echo,
	build_ipv4_non_first_frag,
	build_ipv6_routing_ah_udp,
	build_ipv4_sctp,
	build_ipv6_non_first_frag,
};
#define N_BUILDERS (sizeof(builders) / sizeof(builders[0]))

static void
test_ipv4_tcp_fields(void **state)
{
	struct mpdp_pkt_info info;
	struct frame f;
	uint8_t src[16] = { 10, 0, 0, 1 }, dst[16] = { 192, 168, 1, 2 };

	(void)state;
	eth(&f, 0x0800);
	ipv4(&f, 6, 5, 0x4000);
	tcp(&f, 12345, 80, 0x12, 5);
	payload(&f, 10);
	finish(&f);

	assert_int_equal(parse_frame(&f, &info), 0);
	assert_int_equal(info.ptype, MPDP_PTYPE_ETH | MPDP_PTYPE_IPV4 | MPDP_PTYPE_TCP);
	assert_int_equal(info.flags, 0);
	assert_int_equal(info.ethertype, 0x0800);
	assert_int_equal(info.n_vlan, 0);
	assert_int_equal(info.l3_off, 14);
	assert_int_equal(info.l3_len, 20);
	assert_int_equal(info.l4_off, 34);
	assert_int_equal(info.l4_len, 20);
	assert_int_equal(info.payload_off, 54);
	assert_int_equal(info.ip_proto, 6);
	assert_int_equal(info.ip_ttl, 64);
	assert_int_equal(info.ip_len, 50);
	assert_int_equal(info.tcp_flags, 0x12);
	assert_int_equal(info.src_port, 12345);
	assert_int_equal(info.dst_port, 80);
	assert_memory_equal(info.src_addr, src, 16);
	assert_memory_equal(info.dst_addr, dst, 16);
}

static void
test_ipv4_udp_ports(void **state)
{
	struct mpdp_pkt_info info;
	struct frame f;

	(void)state;
	eth(&f, 0x0800);
	ipv4(&f, 17, 5, 0);
	udp(&f, 0xabcd, 4789, 4);
	payload(&f, 4);
	finish(&f);

	assert_int_equal(parse_frame(&f, &info), 0);
	assert_int_equal(info.ptype, MPDP_PTYPE_ETH | MPDP_PTYPE_IPV4 | MPDP_PTYPE_UDP);
	assert_int_equal(info.flags, 0);
	assert_int_equal(info.src_port, 0xabcd);
	assert_int_equal(info.dst_port, 4789);
	assert_int_equal(info.l4_off, 34);
	assert_int_equal(info.l4_len, 8);
	assert_int_equal(info.payload_off, 42);
	assert_int_equal(info.ip_proto, 17);
}

static void
test_icmp_echo_reports_identifier(void **state)
{
	struct mpdp_pkt_info info;
	struct frame f;

	(void)state;
	build_ipv4_icmp_echo(&f);
	assert_int_equal(parse_frame(&f, &info), 0);
	assert_int_equal(info.ptype, MPDP_PTYPE_ETH | MPDP_PTYPE_IPV4 | MPDP_PTYPE_ICMP);
	assert_int_equal(info.icmp_type, 8);
	assert_int_equal(info.icmp_code, 0);
	assert_int_equal(info.src_port, 0xbeef);
	assert_int_equal(info.dst_port, 0);
	assert_int_equal(info.l4_len, 8);
	assert_int_equal(info.payload_off, 42);

	/* echo reply carries it too */
	f.b[34] = 0;
	assert_int_equal(parse_frame(&f, &info), 0);
	assert_int_equal(info.icmp_type, 0);
	assert_int_equal(info.src_port, 0xbeef);
}

static void
test_icmp_other_types_have_no_identifier(void **state)
{
	struct mpdp_pkt_info info;
	struct frame f;

	(void)state;
	eth(&f, 0x0800);
	ipv4(&f, 1, 5, 0);
	icmp(&f, 3, 1, 0x1111, 0x2222);     /* host unreachable */
	payload(&f, 28);
	finish(&f);

	assert_int_equal(parse_frame(&f, &info), 0);
	assert_int_equal(info.ptype, MPDP_PTYPE_ETH | MPDP_PTYPE_IPV4 | MPDP_PTYPE_ICMP);
	assert_int_equal(info.icmp_type, 3);
	assert_int_equal(info.icmp_code, 1);
	assert_int_equal(info.src_port, 0);
}

static void
test_icmpv6_echo_reports_identifier(void **state)
{
	struct mpdp_pkt_info info;
	struct frame f;

	(void)state;
	build_ipv6_icmpv6_echo(&f);
	assert_int_equal(parse_frame(&f, &info), 0);
	assert_int_equal(info.ptype, MPDP_PTYPE_ETH | MPDP_PTYPE_IPV6 | MPDP_PTYPE_ICMP);
	assert_int_equal(info.icmp_type, 129);
	assert_int_equal(info.src_port, 0x0102);
	assert_int_equal(info.ip_proto, 58);
	assert_int_equal(info.l4_off, 54);
}

static void
test_icmp_protocol_numbers_are_per_ip_version(void **state)
{
	struct mpdp_pkt_info info;
	struct frame f;

	(void)state;
	eth(&f, 0x0800);
	ipv4(&f, 58, 5, 0);
	icmp(&f, 128, 0, 1, 1);
	finish(&f);
	assert_int_equal(parse_frame(&f, &info), 0);
	assert_int_equal(info.ptype, MPDP_PTYPE_ETH | MPDP_PTYPE_IPV4 | MPDP_PTYPE_L4_OTHER);
	assert_int_equal(info.icmp_type, 0);

	eth(&f, 0x86dd);
	ipv6(&f, 1);
	icmp(&f, 8, 0, 1, 1);
	finish(&f);
	assert_int_equal(parse_frame(&f, &info), 0);
	assert_int_equal(info.ptype, MPDP_PTYPE_ETH | MPDP_PTYPE_IPV6 | MPDP_PTYPE_L4_OTHER);
	assert_int_equal(info.icmp_type, 0);
}

static void
test_vlan_tag_is_skipped_and_tci_kept(void **state)
{
	struct mpdp_pkt_info info;
	struct frame f;

	(void)state;
	build_vlan_ipv4_udp(&f);
	assert_int_equal(parse_frame(&f, &info), 0);
	assert_int_equal(info.ptype,
			 MPDP_PTYPE_ETH | MPDP_PTYPE_VLAN | MPDP_PTYPE_IPV4 | MPDP_PTYPE_UDP);
	assert_int_equal(info.n_vlan, 1);
	assert_int_equal(info.vlan_tci[0], 0x2064);
	assert_int_equal(info.vlan_tci[1], 0);
	assert_int_equal(info.ethertype, 0x0800);
	assert_int_equal(info.l3_off, 18);
	assert_int_equal(info.l4_off, 38);
	assert_int_equal(info.dst_port, 53);
}

static void
test_qinq_reports_both_tags_outer_first(void **state)
{
	struct mpdp_pkt_info info;
	struct frame f;

	(void)state;
	eth(&f, 0x88a8);
	vlan_tag(&f, 0x0064, 0x8100);
	vlan_tag(&f, 0xe0c8, 0x86dd);
	ipv6(&f, 6);
	tcp(&f, 1, 2, 0x10, 5);
	finish(&f);

	assert_int_equal(parse_frame(&f, &info), 0);
	assert_int_equal(info.ptype, MPDP_PTYPE_ETH | MPDP_PTYPE_VLAN | MPDP_PTYPE_QINQ |
			 MPDP_PTYPE_IPV6 | MPDP_PTYPE_TCP);
	assert_int_equal(info.n_vlan, 2);
	assert_int_equal(info.vlan_tci[0], 0x0064);
	assert_int_equal(info.vlan_tci[1], 0xe0c8);
	assert_int_equal(info.ethertype, 0x86dd);
	assert_int_equal(info.l3_off, 22);
	assert_int_equal(info.l4_off, 62);
}

static void
test_third_vlan_tag_is_malformed(void **state)
{
	struct mpdp_pkt_info info;
	struct frame f;

	(void)state;
	eth(&f, 0x8100);
	vlan_tag(&f, 1, 0x88a8);
	vlan_tag(&f, 2, 0x8100);
	vlan_tag(&f, 3, 0x0800);
	ipv4(&f, 17, 5, 0);
	udp(&f, 1, 2, 0);
	finish(&f);

	assert_int_equal(parse_frame(&f, &info), -EINVAL);
	assert_int_equal(info.flags, MPDP_PKT_F_MALFORMED);
	assert_int_equal(info.ptype, MPDP_PTYPE_ETH | MPDP_PTYPE_VLAN | MPDP_PTYPE_QINQ);
	assert_int_equal(info.n_vlan, 2);
	assert_int_equal(info.vlan_tci[0], 1);
	assert_int_equal(info.vlan_tci[1], 2);
	assert_int_equal(info.ethertype, 0x8100);
	assert_int_equal(info.l3_off, 0);
}

static void
test_arp_sets_l3_offset(void **state)
{
	struct mpdp_pkt_info info;
	struct frame f;

	(void)state;
	build_arp(&f);
	assert_int_equal(parse_frame(&f, &info), 0);
	assert_int_equal(info.ptype, MPDP_PTYPE_ETH | MPDP_PTYPE_ARP);
	assert_int_equal(info.flags, 0);
	assert_int_equal(info.ethertype, 0x0806);
	assert_int_equal(info.l3_off, 14);
	assert_int_equal(info.l3_len, 28);
	assert_int_equal(info.l4_off, 0);
	assert_int_equal(info.payload_off, 0);
}

static void
test_unknown_ethertype_stops_after_ethernet(void **state)
{
	struct mpdp_pkt_info info;
	struct frame f;

	(void)state;
	eth(&f, 0x88cc);
	payload(&f, 30);
	finish(&f);
	assert_int_equal(parse_frame(&f, &info), 0);
	assert_int_equal(info.ptype, MPDP_PTYPE_ETH);
	assert_int_equal(info.ethertype, 0x88cc);
	assert_int_equal(info.l3_off, 0);
}

static void
test_ipv6_tcp_fields(void **state)
{
	struct mpdp_pkt_info info;
	struct frame f;

	(void)state;
	eth(&f, 0x86dd);
	ipv6(&f, 6);
	tcp(&f, 8080, 33000, 0x11, 7);
	payload(&f, 100);
	finish(&f);

	assert_int_equal(parse_frame(&f, &info), 0);
	assert_int_equal(info.ptype, MPDP_PTYPE_ETH | MPDP_PTYPE_IPV6 | MPDP_PTYPE_TCP);
	assert_int_equal(info.flags, 0);
	assert_int_equal(info.ethertype, 0x86dd);
	assert_int_equal(info.l3_off, 14);
	assert_int_equal(info.l3_len, 40);
	assert_int_equal(info.l4_off, 54);
	assert_int_equal(info.l4_len, 28);
	assert_int_equal(info.payload_off, 82);
	assert_int_equal(info.ip_proto, 6);
	assert_int_equal(info.ip_ttl, 255);
	assert_int_equal(info.ip_len, 40 + 28 + 100);
	assert_int_equal(info.tcp_flags, 0x11);
	assert_int_equal(info.src_port, 8080);
	assert_int_equal(info.dst_port, 33000);
	assert_memory_equal(info.src_addr, ip6_src, 16);
	assert_memory_equal(info.dst_addr, ip6_dst, 16);
}

static void
test_ipv6_hop_by_hop_and_fragment_headers_are_skipped(void **state)
{
	struct mpdp_pkt_info info;
	struct frame f;

	(void)state;
	eth(&f, 0x86dd);
	ipv6(&f, 0);
	ext6(&f, 44, 0);
	frag6(&f, 17, 0, 1);
	udp(&f, 1000, 2000, 8);
	payload(&f, 8);
	finish(&f);

	assert_int_equal(parse_frame(&f, &info), 0);
	assert_int_equal(info.ptype,
			 MPDP_PTYPE_ETH | MPDP_PTYPE_IPV6 | MPDP_PTYPE_FRAG | MPDP_PTYPE_UDP);
	assert_int_equal(info.flags, 0);
	assert_int_equal(info.ip_proto, 17);
	assert_int_equal(info.l3_len, 56);
	assert_int_equal(info.l4_off, 70);
	assert_int_equal(info.src_port, 1000);
	assert_int_equal(info.dst_port, 2000);
}

static void
test_ipv6_non_first_fragment_skips_l4(void **state)
{
	struct mpdp_pkt_info info;
	struct frame f;

	(void)state;
	build_ipv6_non_first_frag(&f);
	assert_int_equal(parse_frame(&f, &info), 0);
	assert_int_equal(info.ptype, MPDP_PTYPE_ETH | MPDP_PTYPE_IPV6 | MPDP_PTYPE_FRAG);
	assert_int_equal(info.flags, MPDP_PKT_F_NOT_FIRST_FRAG);
	assert_int_equal(info.ip_proto, 17);
	assert_int_equal(info.l3_len, 56);
	assert_int_equal(info.l4_off, 0);
	assert_int_equal(info.src_port, 0);
}

static void
test_ipv6_routing_dstopts_and_ah_are_skipped(void **state)
{
	struct mpdp_pkt_info info;
	struct frame f;

	(void)state;
	eth(&f, 0x86dd);
	ipv6(&f, 43);
	ext6(&f, 60, 2);
	ext6(&f, 51, 1);
	ah6(&f, 6, 4);
	tcp(&f, 5, 6, 0x04, 5);
	finish(&f);

	assert_int_equal(parse_frame(&f, &info), 0);
	assert_int_equal(info.ptype, MPDP_PTYPE_ETH | MPDP_PTYPE_IPV6 | MPDP_PTYPE_TCP);
	assert_int_equal(info.l3_len, 40 + 24 + 16 + 24);
	assert_int_equal(info.l4_off, 14 + 104);
	assert_int_equal(info.tcp_flags, 0x04);
}

static void
test_ipv6_eight_extension_headers_are_accepted_nine_are_malformed(void **state)
{
	struct mpdp_pkt_info info;
	struct frame f;

	(void)state;
	for (unsigned n = 8; n <= 9; n++) {
		eth(&f, 0x86dd);
		ipv6(&f, 60);
		for (unsigned i = 0; i < n; i++)
			ext6(&f, i + 1 < n ? 60 : 17, 0);
		udp(&f, 1, 2, 0);
		finish(&f);

		if (n == 8) {
			assert_int_equal(parse_frame(&f, &info), 0);
			assert_int_equal(info.ptype & MPDP_PTYPE_UDP, MPDP_PTYPE_UDP);
			assert_int_equal(info.l3_len, 40 + 8 * 8);
		} else {
			assert_int_equal(parse_frame(&f, &info), -EINVAL);
			assert_int_equal(info.flags, MPDP_PKT_F_MALFORMED);
			assert_int_equal(info.ptype & L4_BITS, 0);
			assert_int_equal(info.l4_off, 0);
		}
	}
}

static void
test_ipv6_hop_by_hop_not_first_is_malformed(void **state)
{
	struct mpdp_pkt_info info;
	struct frame f;

	(void)state;
	eth(&f, 0x86dd);
	ipv6(&f, 60);
	ext6(&f, 0, 0);
	ext6(&f, 17, 0);
	udp(&f, 1, 2, 0);
	finish(&f);
	assert_int_equal(parse_frame(&f, &info), -EINVAL);
	assert_int_equal(info.flags, MPDP_PKT_F_MALFORMED);
}

static void
test_ipv6_bad_version_is_malformed(void **state)
{
	struct mpdp_pkt_info info;
	struct frame f;

	(void)state;
	eth(&f, 0x86dd);
	ipv6(&f, 6);
	tcp(&f, 1, 2, 0, 5);
	finish(&f);
	f.b[14] = 0x40;
	assert_int_equal(parse_frame(&f, &info), -EINVAL);
	assert_int_equal(info.flags, MPDP_PKT_F_MALFORMED);
	assert_int_equal(info.ptype, MPDP_PTYPE_ETH | MPDP_PTYPE_IPV6);
	assert_int_equal(info.l3_off, 14);
	assert_int_equal(info.ip_len, 0);
}

static void
test_ipv4_first_fragment_parses_l4(void **state)
{
	struct mpdp_pkt_info info;
	struct frame f;

	(void)state;
	eth(&f, 0x0800);
	ipv4(&f, 17, 5, 0x2000);
	udp(&f, 111, 222, 1400);
	payload(&f, 100);
	finish(&f);

	assert_int_equal(parse_frame(&f, &info), 0);
	assert_int_equal(info.ptype,
			 MPDP_PTYPE_ETH | MPDP_PTYPE_IPV4 | MPDP_PTYPE_FRAG | MPDP_PTYPE_UDP);
	assert_int_equal(info.flags, 0);
	assert_int_equal(info.src_port, 111);
	assert_int_equal(info.dst_port, 222);
}

static void
test_ipv4_non_first_fragment_skips_l4(void **state)
{
	struct mpdp_pkt_info info;
	struct frame f;

	(void)state;
	build_ipv4_non_first_frag(&f);
	assert_int_equal(parse_frame(&f, &info), 0);
	assert_int_equal(info.ptype, MPDP_PTYPE_ETH | MPDP_PTYPE_IPV4 | MPDP_PTYPE_FRAG);
	assert_int_equal(info.flags, MPDP_PKT_F_NOT_FIRST_FRAG);
	assert_int_equal(info.ip_proto, 17);
	assert_int_equal(info.l3_len, 20);
	assert_int_equal(info.l4_off, 0);
	assert_int_equal(info.payload_off, 0);
	assert_int_equal(info.src_port, 0);

	/* a middle fragment (MF and an offset) is not first either */
	set16(&f, 14 + 6, 0x2000 | 185);
	assert_int_equal(parse_frame(&f, &info), 0);
	assert_int_equal(info.flags, MPDP_PKT_F_NOT_FIRST_FRAG);
	assert_int_equal(info.ptype & L4_BITS, 0);
}

static void
test_ipv4_df_alone_is_not_a_fragment(void **state)
{
	struct mpdp_pkt_info info;
	struct frame f;

	(void)state;
	build_ipv4_tcp_options(&f);
	assert_int_equal(parse_frame(&f, &info), 0);
	assert_int_equal(info.ptype & MPDP_PTYPE_FRAG, 0);
}

static void
test_ipv4_options_are_flagged_and_skipped(void **state)
{
	struct mpdp_pkt_info info;
	struct frame f;

	(void)state;
	eth(&f, 0x0800);
	ipv4(&f, 6, 8, 0);
	tcp(&f, 1, 2, 0x01, 5);
	finish(&f);

	assert_int_equal(parse_frame(&f, &info), 0);
	assert_int_equal(info.flags, MPDP_PKT_F_IP_OPTIONS);
	assert_int_equal(info.l3_len, 32);
	assert_int_equal(info.l4_off, 46);
	assert_int_equal(info.tcp_flags, 0x01);
}

static void
test_ipv4_bad_version_is_malformed(void **state)
{
	struct mpdp_pkt_info info;
	struct frame f;

	(void)state;
	eth(&f, 0x0800);
	ipv4(&f, 6, 5, 0);
	tcp(&f, 1, 2, 0, 5);
	finish(&f);
	f.b[14] = 0x65;

	assert_int_equal(parse_frame(&f, &info), -EINVAL);
	assert_int_equal(info.flags, MPDP_PKT_F_MALFORMED);
	assert_int_equal(info.ptype, MPDP_PTYPE_ETH | MPDP_PTYPE_IPV4);
	assert_int_equal(info.l3_off, 14);
	assert_int_equal(info.l3_len, 0);
	assert_int_equal(info.ip_proto, 0);
	assert_int_equal(info.l4_off, 0);
}

static void
test_ipv4_ihl_below_five_is_malformed(void **state)
{
	struct mpdp_pkt_info info;
	struct frame f;

	(void)state;
	eth(&f, 0x0800);
	ipv4(&f, 6, 5, 0);
	tcp(&f, 1, 2, 0, 5);
	finish(&f);
	for (unsigned ihl = 0; ihl < 5; ihl++) {
		f.b[14] = (uint8_t)(0x40 | ihl);
		assert_int_equal(parse_frame(&f, &info), -EINVAL);
		assert_int_equal(info.flags, MPDP_PKT_F_MALFORMED);
		assert_int_equal(info.l4_off, 0);
	}
}

static void
test_ipv4_total_length_shorter_than_ihl_is_malformed(void **state)
{
	struct mpdp_pkt_info info;
	struct frame f;

	(void)state;
	eth(&f, 0x0800);
	ipv4(&f, 6, 6, 0);
	tcp(&f, 1, 2, 0, 5);
	finish(&f);
	set16(&f, 14 + 2, 23);

	assert_int_equal(parse_frame(&f, &info), -EINVAL);
	assert_int_equal(info.flags, MPDP_PKT_F_MALFORMED);
	assert_int_equal(info.ptype, MPDP_PTYPE_ETH | MPDP_PTYPE_IPV4);
	assert_int_equal(info.ip_len, 0);
}

static void
test_tcp_data_offset_below_five_is_malformed(void **state)
{
	struct mpdp_pkt_info info;
	struct frame f;

	(void)state;
	eth(&f, 0x0800);
	ipv4(&f, 6, 5, 0);
	tcp(&f, 1, 2, 0x02, 5);
	payload(&f, 20);
	finish(&f);
	f.b[34 + 12] = 4 << 4;

	assert_int_equal(parse_frame(&f, &info), -EINVAL);
	assert_int_equal(info.flags, MPDP_PKT_F_MALFORMED);
	assert_int_equal(info.ptype, MPDP_PTYPE_ETH | MPDP_PTYPE_IPV4 | MPDP_PTYPE_TCP);
	/* the IP header before it is filled, the TCP header is not */
	assert_int_equal(info.ip_proto, 6);
	assert_int_equal(info.l4_off, 34);
	assert_int_equal(info.l4_len, 0);
	assert_int_equal(info.src_port, 0);
}

static void
test_l4_header_past_ip_length_is_malformed(void **state)
{
	struct mpdp_pkt_info info;
	struct frame f;

	(void)state;
	/* IPv4 total length says 4 bytes of UDP; the frame holds all 8 */
	eth(&f, 0x0800);
	ipv4(&f, 17, 5, 0);
	udp(&f, 1, 2, 0);
	finish(&f);
	set16(&f, 14 + 2, 24);
	assert_int_equal(parse_frame(&f, &info), -EINVAL);
	assert_int_equal(info.flags, MPDP_PKT_F_MALFORMED);
	assert_int_equal(info.l4_off, 34);
	assert_int_equal(info.src_port, 0);

	/* IPv6 payload length shorter than an extension header */
	eth(&f, 0x86dd);
	ipv6(&f, 60);
	ext6(&f, 6, 1);
	tcp(&f, 1, 2, 0, 5);
	finish(&f);
	set16(&f, 14 + 4, 8);
	assert_int_equal(parse_frame(&f, &info), -EINVAL);
	assert_int_equal(info.flags, MPDP_PKT_F_MALFORMED);
	assert_int_equal(info.ip_proto, 0);
}

static void
test_ethernet_padding_after_ip_datagram_is_ignored(void **state)
{
	struct mpdp_pkt_info info;
	struct frame f;

	(void)state;
	eth(&f, 0x0800);
	ipv4(&f, 1, 5, 0);
	icmp(&f, 0, 0, 9, 9);
	finish(&f);
	put_fill(&f, 60 - f.len, 0);
	assert_int_equal(f.len, 60);

	assert_int_equal(parse_frame(&f, &info), 0);
	assert_int_equal(info.ip_len, 28);
	assert_int_equal(info.src_port, 9);
}

static void
test_ipv6_zero_payload_length_is_bounded_by_the_frame(void **state)
{
	struct mpdp_pkt_info info;
	struct frame f;

	(void)state;
	eth(&f, 0x86dd);
	ipv6(&f, 6);
	tcp(&f, 1, 2, 0x10, 5);
	finish(&f);
	set16(&f, 14 + 4, 0);

	assert_int_equal(parse_frame(&f, &info), 0);
	assert_int_equal(info.ip_len, 40);
	assert_int_equal(info.ptype & MPDP_PTYPE_TCP, MPDP_PTYPE_TCP);
}

static void
test_unknown_l4_protocol_is_l4_other(void **state)
{
	struct mpdp_pkt_info info;
	struct frame f;

	(void)state;
	build_ipv4_sctp(&f);
	assert_int_equal(parse_frame(&f, &info), 0);
	assert_int_equal(info.ptype, MPDP_PTYPE_ETH | MPDP_PTYPE_IPV4 | MPDP_PTYPE_L4_OTHER);
	assert_int_equal(info.ip_proto, 132);
	assert_int_equal(info.l4_off, 34);
	assert_int_equal(info.l4_len, 0);
	assert_int_equal(info.payload_off, 0);
}

static void
test_frame_shorter_than_ethernet_is_truncated(void **state)
{
	static const uint8_t zeros[14];
	struct mpdp_pkt_info info;

	(void)state;
	for (uint32_t len = 0; len < 14; len++) {
		assert_int_equal(parse_exact(zeros, len, &info), -EINVAL);
		assert_int_equal(info.flags, MPDP_PKT_F_TRUNCATED);
		assert_int_equal(info.ptype, 0);
	}
	assert_int_equal(mpdp_pkt_parse(NULL, 0, &info), -EINVAL);
	assert_int_equal(info.flags, MPDP_PKT_F_TRUNCATED);
}

static void
test_parse_zeroes_info_first(void **state)
{
	struct mpdp_pkt_info info;
	struct frame f;

	(void)state;
	build_qinq_ipv6_ext_tcp(&f);
	assert_int_equal(parse_frame(&f, &info), 0);
	eth(&f, 0x88cc);
	finish(&f);
	assert_int_equal(parse_frame(&f, &info), 0);
	assert_int_equal(info.ptype, MPDP_PTYPE_ETH);
	assert_int_equal(info.n_vlan, 0);
	assert_int_equal(info.src_port, 0);
	assert_true(is_zero(info.src_addr, 16));
}

static void
test_parse_reads_frames_at_any_alignment(void **state)
{
	struct mpdp_pkt_info ref, info;
	uint8_t buf[sizeof(((struct frame *)0)->b) + 8];
	struct frame f;

	(void)state;
	for (size_t k = 0; k < N_BUILDERS; k++) {
		builders[k](&f);
		assert_int_equal(mpdp_pkt_parse(f.b, f.len, &ref), 0);
		for (unsigned a = 1; a < 8; a++) {
			memcpy(buf + a, f.b, f.len);
			assert_int_equal(mpdp_pkt_parse(buf + a, f.len, &info), 0);
			assert_info_equal(&info, &ref);
		}
	}
}

static void
test_every_truncation_is_flagged_and_reads_nothing_beyond(void **state)
{
	struct mpdp_pkt_info full, info;
	struct frame f;

	(void)state;
	for (size_t k = 0; k < N_BUILDERS; k++) {
		builders[k](&f);
		assert_true(f.hdr_end > 14 && f.hdr_end <= f.len);
		assert_int_equal(parse_frame(&f, &full), 0);
		assert_int_equal(full.flags & F_ERR, 0);

		for (uint32_t len = 0; len <= f.len; len++) {
			int ret = parse_exact(f.b, len, &info);

			if (len < f.hdr_end) {
				assert_int_equal(ret, -EINVAL);
				assert_int_equal(info.flags & F_ERR, MPDP_PKT_F_TRUNCATED);
				assert_info_is_prefix_of(&info, &full);
			} else {
				/* missing payload is not truncation: headers only */
				assert_int_equal(ret, 0);
				assert_info_equal(&info, &full);
			}
		}
	}
}

/* xorshift64*: deterministic, so a failure replays. */
static uint64_t
rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dull;
}

static unsigned
rnd_below(uint64_t *s, unsigned n)
{
	return (unsigned)((rnd(s) >> 32) % n);
}

static void
assert_info_consistent(int ret, const struct mpdp_pkt_info *i, uint32_t len)
{
	uint32_t l3 = i->ptype & L3_BITS, l4 = i->ptype & L4_BITS;

	assert_true(ret == 0 || ret == -EINVAL);
	assert_int_equal(ret == 0, (i->flags & F_ERR) == 0);
	assert_true(i->n_vlan <= 2);
	assert_int_equal((i->ptype & MPDP_PTYPE_VLAN) != 0, i->n_vlan >= 1);
	assert_int_equal((i->ptype & MPDP_PTYPE_QINQ) != 0, i->n_vlan == 2);
	assert_true((l3 & (l3 - 1)) == 0);
	assert_true((l4 & (l4 - 1)) == 0);
	if (i->ptype != 0)
		assert_true(i->ptype & MPDP_PTYPE_ETH);
	if (l4 != 0) {
		assert_true(i->ptype & (MPDP_PTYPE_IPV4 | MPDP_PTYPE_IPV6));
		assert_true(i->l4_off != 0);
	}
	if (i->flags & MPDP_PKT_F_NOT_FIRST_FRAG) {
		assert_true(i->ptype & MPDP_PTYPE_FRAG);
		assert_int_equal(l4, 0);
	}
	if (i->flags & MPDP_PKT_F_IP_OPTIONS)
		assert_true(i->ptype & MPDP_PTYPE_IPV4);
	assert_true(i->l3_off <= len);
	assert_true(i->l4_off <= len);
	if (ret == 0) {
		assert_true((uint32_t)i->l3_off + i->l3_len <= len);
		if (i->l4_off != 0)
			assert_int_equal(i->l4_off, i->l3_off + i->l3_len);
		if (i->payload_off != 0) {
			assert_int_equal(i->payload_off, i->l4_off + i->l4_len);
			assert_true(i->payload_off <= len);
		}
	}
}

static void
test_random_and_mutated_frames_never_overread_and_flags_agree(void **state)
{
	static const uint8_t hot[] = {
		0x00, 0xff, 0x01, 0x06, 0x11, 0x2b, 0x2c, 0x33, 0x3a, 0x3c, 0x40, 0x45,
		0x46, 0x4f, 0x50, 0x60, 0x80, 0x81, 0x86, 0x88, 0xa8, 0xdd, 0x08, 0x20,
	};
	static const uint16_t etypes[] = { 0x0800, 0x86dd, 0x8100, 0x88a8, 0x0806, 0x1234 };
	struct frame seeds[N_BUILDERS];
	unsigned seen_ok = 0, seen_trunc = 0, seen_malf = 0, seen_l4 = 0, seen_qinq = 0;
	uint64_t s = 0x9e3779b97f4a7c15ull;
	uint8_t tmp[sizeof(seeds[0].b) + 64];

	(void)state;
	for (size_t k = 0; k < N_BUILDERS; k++)
		builders[k](&seeds[k]);

	for (unsigned iter = 0; iter < 500000; iter++) {
		struct mpdp_pkt_info info;
		uint32_t flen, len;
		int ret;

		if (iter % 4 != 0) {
			/* mutate a valid frame, mostly inside its headers */
			const struct frame *sd = &seeds[rnd_below(&s, N_BUILDERS)];
			unsigned nmut = 1 + rnd_below(&s, 4);

			memcpy(tmp, sd->b, sd->len);
			flen = sd->len;
			for (unsigned m = 0; m < nmut; m++) {
				uint32_t pos = rnd_below(&s, rnd_below(&s, 2) ? sd->hdr_end : flen);

				tmp[pos] = rnd_below(&s, 2) ? hot[rnd_below(&s, sizeof(hot))] :
					   (uint8_t)rnd(&s);
			}
		} else {
			/* random bytes behind a plausible Ethernet header */
			uint16_t et = etypes[rnd_below(&s, sizeof(etypes) / sizeof(etypes[0]))];

			flen = 14 + rnd_below(&s, 180);
			for (uint32_t b = 0; b < flen; b++)
				tmp[b] = (uint8_t)rnd(&s);
			tmp[12] = (uint8_t)(et >> 8);
			tmp[13] = (uint8_t)et;
			if (rnd_below(&s, 2))
				tmp[14] = rnd_below(&s, 2) ? 0x45 : 0x60;
		}
		len = rnd_below(&s, 8) == 0 ? rnd_below(&s, flen + 1) : flen;

		ret = parse_exact(tmp, len, &info);
		assert_info_consistent(ret, &info, len);
		seen_ok += ret == 0;
		seen_trunc += (info.flags & MPDP_PKT_F_TRUNCATED) != 0;
		seen_malf += (info.flags & MPDP_PKT_F_MALFORMED) != 0;
		seen_l4 += ret == 0 && (info.ptype & (MPDP_PTYPE_TCP | MPDP_PTYPE_UDP)) != 0;
		seen_qinq += (info.ptype & MPDP_PTYPE_QINQ) != 0;
	}
	/* the loop reached every outcome, not just early rejections */
	assert_true(seen_ok > 1000);
	assert_true(seen_trunc > 1000);
	assert_true(seen_malf > 1000);
	assert_true(seen_l4 > 1000);
	assert_true(seen_qinq > 1000);
}

static void
test_cksum_matches_rfc1071_example(void **state)
{
	/* RFC 1071 section 3: these bytes sum to ddf2 */
	static const uint8_t b[] = { 0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7 };

	(void)state;
	assert_int_equal(mpdp_pkt_cksum(b, sizeof(b), 0), 0xddf2);
}

static void
test_cksum_of_ipv4_header_with_correct_field_is_ffff(void **state)
{
	/* 192.168.0.1 -> 192.168.0.199, UDP, TTL 64, total 115: by hand,
	 * 4500+0073+0000+4000+4011+c0a8+0001+c0a8+00c7 = 0x2479c, folded
	 * 0x479e, inverted 0xb861 */
	uint8_t h[20] = {
		0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
		0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
	};

	(void)state;
	assert_int_equal(mpdp_pkt_cksum(h, sizeof(h), 0), 0xffff);
	h[10] = 0;
	h[11] = 0;
	assert_int_equal(mpdp_pkt_cksum(h, sizeof(h), 0), 0x479e);
	assert_int_equal((uint16_t)~mpdp_pkt_cksum(h, sizeof(h), 0), 0xb861);
}

static void
test_cksum_odd_length_pads_last_byte_with_zero(void **state)
{
	static const uint8_t b[] = { 0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0x00 };
	static const uint8_t one[] = { 0xab };

	(void)state;
	assert_int_equal(mpdp_pkt_cksum(one, 1, 0), 0xab00);
	/* 0001 + f203 + f4f5 + f600 = 0x2dcf9, folded 0xdcfb */
	assert_int_equal(mpdp_pkt_cksum(b, 7, 0), 0xdcfb);
	assert_int_equal(mpdp_pkt_cksum(b, 7, 0), mpdp_pkt_cksum(b, 8, 0));
	/* 0001 + f200 */
	assert_int_equal(mpdp_pkt_cksum(b, 3, 0), 0xf201);
	assert_int_equal(mpdp_pkt_cksum(b, 0, 0), 0);
}

static void
test_cksum_folds_carries_and_initial_sum(void **state)
{
	uint8_t big[1001];

	(void)state;
	memset(big, 0xff, sizeof(big));
	/* 500 words of ffff (negative zero) plus ff00 */
	assert_int_equal(mpdp_pkt_cksum(big, sizeof(big), 0), 0xff00);
	assert_int_equal(mpdp_pkt_cksum(big, 1000, 0), 0xffff);
	assert_int_equal(mpdp_pkt_cksum(big, 0, 0x12345), 0x2346);
	assert_int_equal(mpdp_pkt_cksum(big, 0, 0xffffffff), 0xffff);
	assert_int_equal(mpdp_pkt_cksum(big, 2, 0xffffffff), 0xffff);
}

static void
test_cksum_chains_over_even_splits_and_any_alignment(void **state)
{
	uint8_t b[67], buf[67 + 8];
	uint16_t whole;

	(void)state;
	for (unsigned i = 0; i < sizeof(b); i++)
		b[i] = (uint8_t)(i * 37 + 11);
	whole = mpdp_pkt_cksum(b, sizeof(b), 0);
	for (unsigned split = 0; split <= sizeof(b); split += 2)
		assert_int_equal(mpdp_pkt_cksum(b + split, sizeof(b) - split,
						mpdp_pkt_cksum(b, split, 0)), whole);
	for (unsigned a = 1; a < 8; a++) {
		memcpy(buf + a, b, sizeof(b));
		assert_int_equal(mpdp_pkt_cksum(buf + a, sizeof(b), 0), whole);
	}
}

static void
test_cksum_of_tcp_segment_with_pseudo_header_verifies(void **state)
{
	struct mpdp_pkt_info info;
	uint8_t pseudo[12];
	uint16_t seglen, sum;
	struct frame f;
	uint8_t *seg;

	(void)state;
	eth(&f, 0x0800);
	ipv4(&f, 6, 5, 0);
	tcp(&f, 1, 2, 0x18, 5);
	payload(&f, 11);     /* odd segment length */
	finish(&f);
	assert_int_equal(parse_frame(&f, &info), 0);
	assert_int_equal(mpdp_pkt_cksum(f.b + info.l3_off, info.l3_len, 0), 0xffff);

	seg = f.b + info.l4_off;
	seglen = (uint16_t)(info.ip_len - info.l3_len);
	memcpy(pseudo, info.src_addr, 4);
	memcpy(pseudo + 4, info.dst_addr, 4);
	pseudo[8] = 0;
	pseudo[9] = info.ip_proto;
	pseudo[10] = (uint8_t)(seglen >> 8);
	pseudo[11] = (uint8_t)seglen;

	sum = (uint16_t)~mpdp_pkt_cksum(seg, seglen, mpdp_pkt_cksum(pseudo, 12, 0));
	seg[16] = (uint8_t)(sum >> 8);
	seg[17] = (uint8_t)sum;
	assert_int_equal(mpdp_pkt_cksum(seg, seglen, mpdp_pkt_cksum(pseudo, 12, 0)), 0xffff);
	seg[20] ^= 1;
	assert_int_not_equal(mpdp_pkt_cksum(seg, seglen, mpdp_pkt_cksum(pseudo, 12, 0)), 0xffff);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ipv4_tcp_fields),
		cmocka_unit_test(test_ipv4_udp_ports),
		cmocka_unit_test(test_icmp_echo_reports_identifier),
		cmocka_unit_test(test_icmp_other_types_have_no_identifier),
		cmocka_unit_test(test_icmpv6_echo_reports_identifier),
		cmocka_unit_test(test_icmp_protocol_numbers_are_per_ip_version),
		cmocka_unit_test(test_vlan_tag_is_skipped_and_tci_kept),
		cmocka_unit_test(test_qinq_reports_both_tags_outer_first),
		cmocka_unit_test(test_third_vlan_tag_is_malformed),
		cmocka_unit_test(test_arp_sets_l3_offset),
		cmocka_unit_test(test_unknown_ethertype_stops_after_ethernet),
		cmocka_unit_test(test_ipv6_tcp_fields),
		cmocka_unit_test(test_ipv6_hop_by_hop_and_fragment_headers_are_skipped),
		cmocka_unit_test(test_ipv6_non_first_fragment_skips_l4),
		cmocka_unit_test(test_ipv6_routing_dstopts_and_ah_are_skipped),
		cmocka_unit_test(test_ipv6_eight_extension_headers_are_accepted_nine_are_malformed),
		cmocka_unit_test(test_ipv6_hop_by_hop_not_first_is_malformed),
		cmocka_unit_test(test_ipv6_bad_version_is_malformed),
		cmocka_unit_test(test_ipv4_first_fragment_parses_l4),
		cmocka_unit_test(test_ipv4_non_first_fragment_skips_l4),
		cmocka_unit_test(test_ipv4_df_alone_is_not_a_fragment),
		cmocka_unit_test(test_ipv4_options_are_flagged_and_skipped),
		cmocka_unit_test(test_ipv4_bad_version_is_malformed),
		cmocka_unit_test(test_ipv4_ihl_below_five_is_malformed),
		cmocka_unit_test(test_ipv4_total_length_shorter_than_ihl_is_malformed),
		cmocka_unit_test(test_tcp_data_offset_below_five_is_malformed),
		cmocka_unit_test(test_l4_header_past_ip_length_is_malformed),
		cmocka_unit_test(test_ethernet_padding_after_ip_datagram_is_ignored),
		cmocka_unit_test(test_ipv6_zero_payload_length_is_bounded_by_the_frame),
		cmocka_unit_test(test_unknown_l4_protocol_is_l4_other),
		cmocka_unit_test(test_frame_shorter_than_ethernet_is_truncated),
		cmocka_unit_test(test_parse_zeroes_info_first),
		cmocka_unit_test(test_parse_reads_frames_at_any_alignment),
		cmocka_unit_test(test_every_truncation_is_flagged_and_reads_nothing_beyond),
		cmocka_unit_test(test_random_and_mutated_frames_never_overread_and_flags_agree),
		cmocka_unit_test(test_cksum_matches_rfc1071_example),
		cmocka_unit_test(test_cksum_of_ipv4_header_with_correct_field_is_ffff),
		cmocka_unit_test(test_cksum_odd_length_pads_last_byte_with_zero),
		cmocka_unit_test(test_cksum_folds_carries_and_initial_sum),
		cmocka_unit_test(test_cksum_chains_over_even_splits_and_any_alignment),
		cmocka_unit_test(test_cksum_of_tcp_segment_with_pseudo_header_verifies),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

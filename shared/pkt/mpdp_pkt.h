/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * Packet parsing: Ethernet, up to two VLAN tags (802.1Q / 802.1ad), IPv4,
 * IPv6 (with its common extension headers), TCP, UDP, ICMP and ICMPv6.
 *
 * The parser never reads past the length it is given. It fills what it
 * could parse and says, in `flags`, where it stopped and why, so a stage can
 * treat truncated or malformed packets as it chooses.
 */
#ifndef MPDP_PKT_H
#define MPDP_PKT_H

#include <stdint.h>

/** Packet type bits (mbuf packet_type). */
enum mpdp_ptype {
	MPDP_PTYPE_ETH = 1u << 0,
	MPDP_PTYPE_VLAN = 1u << 1,   /**< one or more VLAN tags */
	MPDP_PTYPE_QINQ = 1u << 2,   /**< two VLAN tags */
	MPDP_PTYPE_ARP = 1u << 3,
	MPDP_PTYPE_IPV4 = 1u << 4,
	MPDP_PTYPE_IPV6 = 1u << 5,
	MPDP_PTYPE_TCP = 1u << 6,
	MPDP_PTYPE_UDP = 1u << 7,
	MPDP_PTYPE_ICMP = 1u << 8,   /**< ICMP for IPv4, ICMPv6 for IPv6 */
	MPDP_PTYPE_FRAG = 1u << 9,   /**< an IP fragment (L4 parsed only in the first) */
	MPDP_PTYPE_L4_OTHER = 1u << 10,
};

/** Why parsing stopped early. */
enum mpdp_pkt_flag {
	MPDP_PKT_F_TRUNCATED = 1u << 0, /**< a header runs past the data */
	/** A field is impossible: bad IP version, IHL < 5, IPv4 total length
	 *  shorter than its header, TCP data offset < 5, a third VLAN tag, an
	 *  L4 or extension header past the IP length, hop-by-hop not first,
	 *  more than 8 IPv6 extension headers. */
	MPDP_PKT_F_MALFORMED = 1u << 1,
	MPDP_PKT_F_IP_OPTIONS = 1u << 2,/**< IPv4 header longer than 20 bytes */
	MPDP_PKT_F_NOT_FIRST_FRAG = 1u << 3, /**< fragment with offset > 0: no L4 header */
};

/** What mpdp_pkt_parse() found. Offsets are from the start of the frame. */
struct mpdp_pkt_info {
	uint32_t ptype;       /**< enum mpdp_ptype bits */
	uint32_t flags;       /**< enum mpdp_pkt_flag bits */
	uint16_t ethertype;   /**< innermost ethertype, host order */
	uint16_t n_vlan;      /**< VLAN tags seen (0 to 2) */
	uint16_t vlan_tci[2]; /**< outer first, host order */
	uint16_t l3_off;      /**< offset of the IP (or ARP) header */
	uint16_t l4_off;      /**< offset of the L4 header, 0 when none */
	uint16_t l3_len;      /**< IP header length including IPv6 extension headers; ARP: the whole message */
	uint16_t l4_len;      /**< L4 header length (TCP data offset * 4, 8 for UDP and ICMP) */
	uint16_t payload_off; /**< first byte after the L4 header, 0 when none */
	uint8_t ip_proto;     /**< upper-layer protocol (after IPv6 extension headers) */
	uint8_t ip_ttl;       /**< TTL or hop limit */
	uint8_t tcp_flags;    /**< TCP flags byte, host order */
	uint8_t icmp_type;
	uint8_t icmp_code;
	uint8_t pad_[1];
	uint16_t src_port;    /**< host order, TCP/UDP; ICMP echo identifier for echo request/reply */
	uint16_t dst_port;    /**< host order, TCP/UDP */
	uint32_t ip_len;      /**< IPv4 total length / IPv6 40 + payload length, from the header */
	uint8_t src_addr[16]; /**< IPv4 in the first 4 bytes, network order */
	uint8_t dst_addr[16];
};

/**
 * Parse the headers of one Ethernet frame.
 *
 * @param data  the frame
 * @param len  bytes available at @p data; nothing beyond is read
 * @param info  filled in (zeroed first)
 * @return 0 when every header present was parsed whole; -EINVAL when the
 *         frame is truncated or malformed (info->flags says which; what came
 *         before that point is filled in, and the header that failed has
 *         only its ptype bit and offset set)
 */
int mpdp_pkt_parse(const uint8_t *data, uint32_t len, struct mpdp_pkt_info *info);

/**
 * Whether the IP packet of a parsed frame arrived whole: its length field
 * (IPv4 total length, IPv6 40 + payload length) fits in the @p len bytes of
 * the frame. The parser accepts a shorter frame (a capture cut by its snap
 * length); a stage that forwards or rewrites packets treats it as a length
 * that lies.
 */
static inline int
mpdp_pkt_ip_whole(const struct mpdp_pkt_info *info, uint32_t len)
{
	return (uint32_t)info->l3_off + info->ip_len <= len;
}

/** A big-endian (network order) 16-bit field at any alignment, in host order. */
static inline uint16_t
mpdp_get_be16(const uint8_t *p)
{
	return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

/** A big-endian 32-bit field at any alignment, in host order. */
static inline uint32_t
mpdp_get_be32(const uint8_t *p)
{
	return (uint32_t)mpdp_get_be16(p) << 16 | mpdp_get_be16(p + 2);
}

/** Store @p v as a big-endian 16-bit field at any alignment. */
static inline void
mpdp_put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/** Store @p v as a big-endian 32-bit field at any alignment. */
static inline void
mpdp_put_be32(uint8_t *p, uint32_t v)
{
	mpdp_put_be16(p, (uint16_t)(v >> 16));
	mpdp_put_be16(p + 2, (uint16_t)v);
}

/**
 * Internet checksum (RFC 1071) over @p len bytes, folded, not inverted.
 * Bytes are summed as big-endian 16-bit words; an odd last byte is padded
 * with a zero. A buffer whose checksum field is correct sums to 0xffff.
 *
 * @param data  the bytes, at any alignment
 * @param len  number of bytes
 * @param sum  initial 32-bit sum (0, or a pseudo-header sum from an earlier
 *             call), in host order
 * @return the 16-bit one's complement sum in host order; store ~sum with
 *         htons() into a checksum field
 */
uint16_t mpdp_pkt_cksum(const void *data, uint32_t len, uint32_t sum);

#endif /* MPDP_PKT_H */

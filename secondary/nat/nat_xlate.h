/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * mpdp-nat packet translation: pure functions on one Ethernet frame.
 *
 * nat_xlate_classify() reads what the NAT needs from a frame parsed by
 * mpdp_pkt_parse() — its tuple, and for an ICMP error the tuple of the
 * packet it quotes — and says why a frame cannot be translated.
 * nat_xlate_src() and nat_xlate_dst() rewrite one side of the tuple and
 * update every checksum that covers what changed incrementally (RFC 1624,
 * HC' = ~(~HC + ~m + m')): the IPv4 header, TCP or UDP with its pseudo
 * header (a UDP checksum of 0 stays 0, a result of 0 is sent as 0xffff),
 * ICMP over the quoted bytes, and the quoted IPv4 header and L4 checksum
 * when they are in the quote.
 *
 * Addresses and ports in struct nat_pkt are in network order, as in the
 * frame. Nothing here reads outside the bounds classify checked.
 */
#ifndef NAT_XLATE_H
#define NAT_XLATE_H

#include <stdint.h>

#include "mpdp_pkt.h"

/** What kind of IPv4 packet the NAT sees. */
enum nat_pkt_kind {
	NAT_PKT_L4,             /**< TCP or UDP: ports */
	NAT_PKT_ECHO,           /**< ICMP echo request or reply: the identifier is the port */
	NAT_PKT_ICMP_ERR,       /**< ICMP error (3, 4, 5, 11, 12) quoting a TCP, UDP or echo packet */
};

/** ICMP echo types: the identifier is translated like a port. */
enum nat_icmp_echo { NAT_ICMP_ECHO_REPLY = 0, NAT_ICMP_ECHO_REQUEST = 8 };

/** Why a frame is or is not translatable. */
enum nat_class {
	NAT_CLASS_OK,
	NAT_CLASS_NOT_IP,       /**< neither IPv4 nor IPv6: ARP, LLDP, a runt */
	NAT_CLASS_IPV6,
	NAT_CLASS_IP_TRUNCATED, /**< the IPv4 header is cut short, or its total length runs past the frame */
	NAT_CLASS_IP_MALFORMED, /**< bad version, IHL, or total length shorter than the header */
	/* From here on the IPv4 header is whole: src and dst are valid. */
	NAT_CLASS_FRAGMENT,     /**< an IPv4 fragment, first or not */
	NAT_CLASS_TRUNCATED,    /**< the TCP, UDP or ICMP header is cut short */
	NAT_CLASS_MALFORMED,    /**< that header lies past the IP length, or TCP offset < 5 */
	/* From here on every header is whole: only the protocol is not translated. */
	NAT_CLASS_PROTO,        /**< not TCP, UDP or ICMP */
	NAT_CLASS_ICMP_TYPE,    /**< ICMP neither echo nor one of the errors translated (the
				     per-packet path also puts an echo going the wrong way here) */
	NAT_CLASS_ICMP_EMBEDDED,/**< ICMP error whose quoted packet cannot be read or translated */
	NAT_CLASS_N_,
};

/** The NAT's view of one IPv4 frame. Offsets are from the start of the frame. */
struct nat_pkt {
	uint32_t src, dst;      /**< outer addresses, network order */
	uint16_t sport, dport;  /**< ports, network order; echo: the identifier in both */
	uint16_t l3_off, l4_off;
	uint8_t proto;          /**< outer IP protocol */
	uint8_t kind;           /**< enum nat_pkt_kind */
	uint8_t tcp_flags;
	uint8_t icmp_type;
	/* For NAT_PKT_ICMP_ERR: the quoted packet. */
	uint32_t q_src, q_dst;  /**< network order */
	uint16_t q_sport, q_dport; /**< network order; echo: the identifier in both */
	uint16_t q_l3_off, q_l4_off;
	uint16_t q_l4_avail;    /**< quoted bytes from q_l4_off on (8 or more) */
	uint8_t q_proto;
	uint8_t q_kind;         /**< NAT_PKT_L4 or NAT_PKT_ECHO */
};

/**
 * Classify a parsed frame and fill @p p.
 *
 * @param frame  the frame
 * @param len  its length
 * @param info  what mpdp_pkt_parse() found in it
 * @param p  filled in as far as the class allows (src and dst from
 *           NAT_CLASS_FRAGMENT on, everything for NAT_CLASS_OK)
 * @return the class (enum nat_class)
 */
enum nat_class nat_xlate_classify(const uint8_t *frame, uint32_t len,
				  const struct mpdp_pkt_info *info, struct nat_pkt *p);

/**
 * Rewrite the inside side of an outbound packet: for TCP, UDP and echo the
 * source address and port (identifier); for an ICMP error the outer source
 * address and the quoted destination address and port. @p p is updated to
 * match.
 *
 * @param frame  a frame @p p was classified from (NAT_CLASS_OK)
 * @param addr  the new address, network order
 * @param port  the new port or identifier, network order
 */
void nat_xlate_src(uint8_t *frame, struct nat_pkt *p, uint32_t addr, uint16_t port);

/**
 * Rewrite the outside side of an inbound packet: for TCP, UDP and echo the
 * destination address and port (identifier); for an ICMP error the outer
 * destination address and the quoted source address and port. @p p is
 * updated to match.
 */
void nat_xlate_dst(uint8_t *frame, struct nat_pkt *p, uint32_t addr, uint16_t port);

#endif /* NAT_XLATE_H */

/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * The firewall's rule language: parsing a rule file into a ruleset, the
 * key a packet is matched on, and the reference matcher.
 *
 * One rule per line; '#' starts a comment that runs to the end of the line.
 *
 *     allow tcp from 10.0.0.0/8 to any port 80,443
 *     deny udp from any port 53 to 192.0.2.0/24
 *     to mon icmp icmp-type echo-request in eth0
 *     allow established
 *     default non-ip allow
 *     default deny
 *
 * A rule is an action ("allow" = output "out", "deny" = drop, "to NAME" =
 * the stage's output NAME) followed by matches, in any order, each at most
 * once: a protocol list (tcp, udp, icmp, icmp6, ip, ip6, any, proto N),
 * "from ADDRS [port PORTS]", "to ADDRS [port PORTS]", "established" or
 * "new", "flags SET[/MASK]", "icmp-type NAME|N", "vlan N" and "in NAME".
 * The first rule that matches decides. "default [non-ip|fragment|malformed]
 * ACTION" sets what happens to packets no rule matched, to non-IP frames, to
 * IP fragments and to malformed packets (built in: deny, allow, deny, deny).
 *
 *     rule    := ACTION [MATCH...]
 *     default := "default" ["non-ip" | "fragment" | "malformed"] ACTION
 *     ACTION  := "allow" | "deny" | "to" OUTPUT
 *     MATCH   := PROTOS | "from" ADDRS ["port" PORTS] | "to" ADDRS ["port" PORTS]
 *              | "established" | "new" | "flags" [SET]["/" MASK]
 *              | "icmp-type" (NAME | 0-255) | "vlan" 0-4095 | "in" NAME
 *     PROTOS  := PROTO ["," PROTO...]
 *     PROTO   := "tcp" | "udp" | "icmp" | "icmp6" | "ip" | "ip6" | "any" | "proto" 0-255
 *              | 0-255 (after a comma)
 *     ADDRS   := "any" | PREFIX ["," PREFIX...]   PREFIX := IPv4 or IPv6 address ["/" LEN]
 *     PORTS   := 1-65535 ["-" 1-65535] ["," ...]
 *     SET, MASK := letters of F S R P A U E W (FIN SYN RST PSH ACK URG ECE CWR)
 *
 * Ports need the protocols to be tcp and/or udp only, flags tcp only, and
 * icmp-type exactly one of icmp or icmp6 (whose type names it then takes).
 * "flags S/SA": of S and A, only S is set; "flags S" is "flags S/S". A
 * prefix without a length is a host; bits set past the length are an error.
 * Commas may have blanks around them. "icmp" is IPv4 protocol 1 and
 * "icmp6" IPv6 protocol 58; "tcp", "udp" and "proto N" are both versions;
 * "ip" and "ip6" are every protocol of one version; "any" (or no protocol)
 * is no constraint at all. A rule whose protocols and addresses leave no
 * IP version in common is refused, as it could never match. "to drop" is
 * a deny by another name.
 *
 * Any error refuses the whole file with "FILE:LINE:COL: what was expected,
 * what was found"; the caller's ruleset is then left as it was.
 *
 * fw_rule_match() is the meaning of a rule written as plain code; the
 * classifier (fw_classify.h) must agree with it on every key.
 */
#ifndef FW_RULES_H
#define FW_RULES_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "mpdp_err.h"

struct mpdp_pkt_info;

/** Most rules a ruleset may hold. */
#define FW_RULES_MAX 65536

/** Longest line of a rule file, in bytes, without its newline. */
#define FW_RULES_LINE_MAX 4096

/** Longest name after "in", in bytes. */
#define FW_NAME_MAX 63

/** fw_key.port and fw_rule.in_port when there is no port. */
#define FW_PORT_NONE 0xffffu

/** fw_key.input and fw_rule.in_input when there is no input ring. */
#define FW_INPUT_NONE UINT_MAX

/** What a rule (or a default) does with a packet. */
enum fw_verdict_kind {
	FW_ALLOW,   /**< to the output named "out" */
	FW_DENY,    /**< dropped (output 0) */
	FW_TO,      /**< to the output named in the rule */
};

/** A verdict, resolved against the stage's outputs at parse time. */
struct fw_action {
	uint8_t kind;   /**< enum fw_verdict_kind */
	uint16_t next;  /**< output index: "out" for allow, 0 for deny, NAME's for to */
};

/** Which fields of a rule constrain the match (fw_rule.has). */
enum fw_rule_has {
	FW_HAS_PROTO = 1u << 0,     /**< proto[][]; absent: any protocol, non-IP too */
	FW_HAS_SRC = 1u << 1,       /**< src[] (absent: "from any") */
	FW_HAS_DST = 1u << 2,       /**< dst[] */
	FW_HAS_SPORT = 1u << 3,     /**< sport[] */
	FW_HAS_DPORT = 1u << 4,     /**< dport[] */
	FW_HAS_CT = 1u << 5,        /**< ct */
	FW_HAS_FLAGS = 1u << 6,     /**< tcp_flags / tcp_mask */
	FW_HAS_ICMP_TYPE = 1u << 7, /**< icmp_type */
	FW_HAS_VLAN = 1u << 8,      /**< vlan_id */
	FW_HAS_IN = 1u << 9,        /**< in_name, in_port or in_input */
};

/**
 * Connection state a rule asks for (fw_rule.ct) and a key has (fw_key.ct):
 * two values only, apart from the connection tracker's own states
 * (fw_conntrack.h), which the caller folds into these.
 */
enum fw_match_ct {
	FW_MATCH_NEW = 0,          /**< no tracked connection */
	FW_MATCH_ESTABLISHED = 1,  /**< part of a tracked connection, or an ICMP error about one */
};

/** An IPv4 or IPv6 prefix; no bits are set past len. */
struct fw_prefix {
	uint8_t family;     /**< 4 or 6 */
	uint8_t len;        /**< 0 to 32 or 0 to 128 */
	uint8_t addr[16];   /**< network order; IPv4 in the first 4 bytes, the rest zero */
};

/** Ports lo to hi, both included, 1 to 65535. */
struct fw_port_range {
	uint16_t lo;
	uint16_t hi;
};

/** TCP flag bits, as in the TCP header (fw_rule.tcp_flags, fw_key.tcp_flags). */
enum fw_tcp_flag {
	FW_TCP_FIN = 0x01,
	FW_TCP_SYN = 0x02,
	FW_TCP_RST = 0x04,
	FW_TCP_PSH = 0x08,
	FW_TCP_ACK = 0x10,
	FW_TCP_URG = 0x20,
	FW_TCP_ECE = 0x40,
	FW_TCP_CWR = 0x80,
};

/**
 * One rule. Only the fields named in @c has constrain; the others are zero
 * (in_port FW_PORT_NONE, in_input FW_INPUT_NONE). Lists are sorted: ports
 * are disjoint and not adjacent, no prefix lies inside another of the same
 * list. The pointers point into the ruleset's own storage.
 */
struct fw_rule {
	uint32_t has;                         /**< enum fw_rule_has bits */
	/** Protocols that match: [0] for IPv4, [1] for IPv6, bit p of the
	 *  256-bit set is IP protocol p. "tcp" sets 6 in both, "icmp" sets 1
	 *  in IPv4 only, "icmp6" 58 in IPv6 only, "ip" all of IPv4. */
	uint64_t proto[2][4];
	const struct fw_prefix *src;          /**< n_src prefixes; v4 and v6 may mix */
	const struct fw_prefix *dst;
	const struct fw_port_range *sport;    /**< n_sport ranges */
	const struct fw_port_range *dport;
	const char *in_name;                  /**< the name after "in", as written */
	uint32_t n_src;
	uint32_t n_dst;
	uint32_t n_sport;
	uint32_t n_dport;
	unsigned in_input;                    /**< "in" names this input ring, or FW_INPUT_NONE */
	uint16_t in_port;                     /**< "in" names this port id, or FW_PORT_NONE */
	uint16_t vlan_id;                     /**< 0 to 4095 */
	uint8_t ct;                           /**< enum fw_match_ct */
	uint8_t tcp_flags;                    /**< of the bits in tcp_mask, these must be set */
	uint8_t tcp_mask;
	uint8_t icmp_type;
	struct fw_action action;
	unsigned line;                        /**< line of the rule file, from 1 */
};

/** A parsed rule file. */
struct fw_ruleset {
	struct fw_rule *rules;       /**< n rules in file order; one allocation with what they point to */
	unsigned n;
	struct fw_action dflt;       /**< no rule matched */
	struct fw_action non_ip;     /**< not IPv4 nor IPv6 */
	struct fw_action fragment;   /**< an IP fragment */
	struct fw_action malformed;  /**< the parser flagged the packet truncated or malformed */
};

/**
 * What a packet is matched on. fw_key_from_pkt() fills it from a parsed
 * packet; a key may also be built by hand (all fields are plain values).
 */
struct fw_key {
	uint8_t src[16];     /**< network order; IPv4 in the first 4 bytes */
	uint8_t dst[16];
	unsigned input;      /**< index of the stage input ring it came from, or FW_INPUT_NONE */
	uint16_t sport;      /**< host order; only for TCP and UDP */
	uint16_t dport;
	uint16_t port;       /**< mbuf port id it came in on, or FW_PORT_NONE */
	uint16_t vlan_id;    /**< outer VLAN id (0 to 4095) when has_vlan */
	uint8_t family;      /**< 0 (not IP), 4 or 6 */
	uint8_t proto;       /**< IP protocol (after IPv6 extension headers) */
	uint8_t tcp_flags;   /**< only for TCP */
	uint8_t icmp_type;   /**< only for ICMP (IPv4 protocol 1) and ICMPv6 (IPv6 protocol 58) */
	uint8_t has_vlan;    /**< 1 when the frame carries a VLAN tag */
	uint8_t ct;          /**< enum fw_match_ct; any nonzero value is established */
};

/** The stage's outputs and inputs, which rules name. */
struct fw_names {
	/** Output names by index; [0] is "drop". "allow" needs one named "out". */
	const char *const *outputs;
	unsigned n_outputs;
	/**
	 * Resolve the NAME of "in NAME". Called only while parsing.
	 * @return 0 when found: as a port (*port set, *input = FW_INPUT_NONE) or
	 *         as an input ring (*input set, *port = FW_PORT_NONE); -ENOENT
	 *         when unknown; another -errno fails the parse with that code
	 */
	int (*resolve_in)(void *arg, const char *name, uint16_t *port, unsigned *input);
	void *arg;   /**< passed to resolve_in */
};

/**
 * Fill a key from a parsed packet. Addresses, protocol, ports, TCP flags and
 * ICMP type are taken only where the packet has them (ports only when its
 * TCP or UDP header was parsed); everything else is zero.
 *
 * @param info  what mpdp_pkt_parse() found
 * @param port  the mbuf's port id, or FW_PORT_NONE
 * @param input  index of the input ring, or FW_INPUT_NONE
 * @param ct_established  nonzero when the packet belongs to a tracked
 *                        connection or is an ICMP error about one
 * @param k  filled in
 */
void fw_key_from_pkt(const struct mpdp_pkt_info *info, uint16_t port, unsigned input,
		     int ct_established, struct fw_key *k);

/**
 * Parse rule text.
 *
 * @param text  the rules; need not end with a newline nor be NUL-terminated
 * @param len  bytes of @p text
 * @param filename  used in messages; NULL reads as "<rules>"
 * @param names  the outputs and inputs rules may name; NULL means the
 *               outputs "drop" and "out" and no inputs
 * @param out  filled on success (free with fw_ruleset_free()); untouched on failure
 * @param eb  "FILE:LINE:COL: message" on failure, or NULL
 * @return 0; -EINVAL for any error in the text (or an allow with no "out"
 *         output); -ENOMEM; or the code resolve_in returned other than -ENOENT
 */
int fw_rules_parse(const char *text, size_t len, const char *filename,
		   const struct fw_names *names, struct fw_ruleset *out, struct mpdp_errbuf *eb);

/**
 * Read a rule file and parse it (see fw_rules_parse()).
 *
 * @param path  the file
 * @param names  as for fw_rules_parse()
 * @param out  filled on success; untouched on failure
 * @param eb  the reason on failure ("PATH: No such file or directory"), or NULL
 * @return 0; -errno from open or read (-ENOENT, -EACCES, -EISDIR...);
 *         -EFBIG when over 1 GiB; or what fw_rules_parse() returns
 */
int fw_rules_load(const char *path, const struct fw_names *names, struct fw_ruleset *out,
		  struct mpdp_errbuf *eb);

/**
 * Free what a ruleset holds and zero it. A zeroed ruleset may be freed again.
 *
 * @param rs  a ruleset filled by fw_rules_parse() or fw_rules_load()
 */
void fw_ruleset_free(struct fw_ruleset *rs);

/**
 * Write the canonical text of a rule, which parses back to the same rule
 * (all fields but line), without a newline.
 *
 * @param r  the rule
 * @param names  to name the output of "to NAME"; NULL as for fw_rules_parse()
 * @param buf  receives the text, NUL-terminated
 * @param len  size of @p buf
 * @return the length of the text; -ENOSPC when @p buf is too small (it then
 *         holds a truncated text); -EINVAL when the action's output has no name
 */
int fw_rule_format(const struct fw_rule *r, const struct fw_names *names, char *buf, size_t len);

/**
 * Whether a rule matches a key: the reference meaning of every field.
 *
 * - A protocol set matches IPv4 and IPv6 keys whose protocol is in it; a
 *   rule without one matches every key, non-IP ones too.
 * - An address list matches keys of the same family inside one of its
 *   prefixes; a list of IPv4 prefixes never matches an IPv6 key.
 * - Ports, TCP flags and the ICMP type match only TCP/UDP, TCP, and ICMP
 *   (IPv4 protocol 1) or ICMPv6 (IPv6 protocol 58) keys respectively.
 * - "vlan N" needs a tagged key with that id; "in" compares the port or
 *   input ring; "established" needs ct set, "new" needs it clear.
 *
 * @return 1 when @p r matches @p k, else 0
 */
int fw_rule_match(const struct fw_rule *r, const struct fw_key *k);

#endif /* FW_RULES_H */

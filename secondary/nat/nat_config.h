/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * mpdp-nat configuration: the --snat and --dnat rules, --max-sessions and
 * --timeout, parsed and checked, and the derived list of outside addresses
 * whose port bitmaps the session table keeps.
 *
 * struct nat_config is plain fixed-width data with no pointers: the session
 * table stores a copy in its zone, so a restarted NAT can tell whether it
 * was started with the configuration that shaped its sessions.
 * Addresses and ports are kept in host order here.
 */
#ifndef NAT_CONFIG_H
#define NAT_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "mpdp_err.h"

/** Most --snat rules. */
#define NAT_SNAT_MAX 32
/** Most --dnat rules. */
#define NAT_DNAT_MAX 32
/** Most outside addresses in one --snat pool. */
#define NAT_POOL_MAX 256
/** Most distinct outside addresses over every rule (each has 24 KiB of port bitmaps). */
#define NAT_ADDRS_MAX 1024
/** Default and largest --max-sessions. */
#define NAT_SESSIONS_DEFAULT 65536u
#define NAT_SESSIONS_MAX (16u << 20)
/** Largest --timeout, in seconds (30 days). */
#define NAT_TIMEOUT_MAX (30u * 86400u)
/** Port range of a --snat rule given without one. */
#define NAT_PORT_LO_DEFAULT 1024
#define NAT_PORT_HI_DEFAULT 65535
/** Longest text of one rule, as nat_config_snat_str() writes it. */
#define NAT_RULE_STR_MAX 96

/** Timeout classes of a session; the table picks one from its protocol and state. */
enum nat_timeout {
	NAT_TO_TCP_EST,         /**< tcp-established: 7440 s (RFC 5382 REQ-5) */
	NAT_TO_TCP_TRANS,       /**< tcp-transitory: 240 s (RFC 5382 REQ-5) */
	NAT_TO_UDP,             /**< udp: 300 s (RFC 4787 REQ-5) */
	NAT_TO_ICMP,            /**< icmp: 60 s (RFC 5508) */
	NAT_TO_N_,
};

/** One --snat rule: inside PREFIX, outside pool addr_lo .. addr_lo + n_addrs - 1, ports. */
struct nat_snat {
	uint32_t prefix;        /**< network, host order, host bits zero */
	uint32_t mask;          /**< host order */
	uint32_t addr_lo;       /**< first pool address, host order */
	uint16_t n_addrs;       /**< 1 to NAT_POOL_MAX */
	uint16_t addr_base;     /**< index of addr_lo in nat_config.addrs */
	uint16_t port_lo;       /**< 1 to 65535 */
	uint16_t port_hi;       /**< port_lo to 65535 */
	uint8_t plen;           /**< prefix length, 0 to 32 */
	uint8_t pad_[7];
};

/** One --dnat rule: a static mapping out_addr:out_port <-> in_addr:in_port for proto. */
struct nat_dnat {
	uint32_t out_addr;      /**< host order */
	uint32_t in_addr;       /**< host order */
	uint16_t out_port;
	uint16_t in_port;
	uint8_t proto;          /**< IPPROTO_TCP or IPPROTO_UDP */
	uint8_t pad_[3];
};

/** The whole configuration. Zero it (nat_config_init()) before filling it in. */
struct nat_config {
	uint32_t n_snat;
	uint32_t n_dnat;
	uint32_t max_sessions;  /**< dynamic sessions; static mappings come on top */
	uint32_t timeout_s[NAT_TO_N_];
	uint32_t n_addrs;       /**< distinct outside addresses (pools and --dnat) */
	struct nat_snat snat[NAT_SNAT_MAX];
	struct nat_dnat dnat[NAT_DNAT_MAX];
	uint32_t addrs[NAT_ADDRS_MAX]; /**< sorted, host order; filled by nat_config_finish() */
};

/** Zero @p c and set the defaults (no rules, 65536 sessions, the RFC timeouts). */
void nat_config_init(struct nat_config *c);

/**
 * Add a rule from a --snat value, PREFIX=ADDR[-ADDR][:PORT-PORT].
 *
 * @return 0, or -EINVAL with a message naming the option and the value in @p eb
 */
int nat_config_add_snat(struct nat_config *c, const char *s, struct mpdp_errbuf *eb);

/**
 * Add a rule from a --dnat value, OUTADDR:PORT=INADDR:PORT/PROTO.
 *
 * @return 0, or -EINVAL with the reason in @p eb
 */
int nat_config_add_dnat(struct nat_config *c, const char *s, struct mpdp_errbuf *eb);

/**
 * Set --max-sessions from its value (1 to NAT_SESSIONS_MAX).
 *
 * @return 0, or -EINVAL with the reason in @p eb
 */
int nat_config_set_max_sessions(struct nat_config *c, const char *s, struct mpdp_errbuf *eb);

/**
 * Set one timeout from a --timeout value, NAME=SECONDS, NAME one of
 * tcp-established, tcp-transitory, udp, icmp.
 *
 * @return 0, or -EINVAL with the reason in @p eb
 */
int nat_config_set_timeout(struct nat_config *c, const char *s, struct mpdp_errbuf *eb);

/**
 * Check the rules together and derive the outside address list: at least
 * one rule, no two --dnat with the same outside or the same inside
 * endpoint, at most NAT_ADDRS_MAX distinct outside addresses.
 *
 * @return 0, or -EINVAL with the reason in @p eb
 */
int nat_config_finish(struct nat_config *c, struct mpdp_errbuf *eb);

/** Default and largest number of sessions the report lists (--sessions). */
#define NAT_REPORT_SESSIONS_DEFAULT 10u
#define NAT_REPORT_SESSIONS_MAX 100000u

/**
 * Parse a --sessions value (0 to NAT_REPORT_SESSIONS_MAX).
 *
 * @return 0, or -EINVAL with the reason in @p eb
 */
int nat_config_parse_sessions(const char *s, uint32_t *n, struct mpdp_errbuf *eb);

/**
 * Parse the NAT options of a command line (--snat, --dnat, --max-sessions,
 * --timeout, --sessions, as "--opt VALUE" or "--opt=VALUE"), ignoring every
 * other argument. It lets a program refuse bad values before it attaches
 * to anything; nat_config_finish() is the caller's to call.
 *
 * @param c  initialised with nat_config_init(), then filled in
 * @param sessions  receives --sessions (NAT_REPORT_SESSIONS_DEFAULT when absent)
 * @return 0, or -EINVAL with the reason in @p eb
 */
int nat_config_from_argv(struct nat_config *c, uint32_t *sessions, int argc, char *const *argv,
			 struct mpdp_errbuf *eb);

/**
 * The first --snat rule whose prefix holds @p addr.
 *
 * @param addr  host order
 * @return the rule, or NULL when none does
 */
static inline const struct nat_snat *
nat_config_snat_match(const struct nat_config *c, uint32_t addr)
{
	for (uint32_t i = 0; i < c->n_snat; i++) {
		if ((addr & c->snat[i].mask) == c->snat[i].prefix)
			return &c->snat[i];
	}
	return NULL;
}

/**
 * Index of @p addr in the outside address list.
 *
 * @param addr  host order
 * @return the index, or -1 when it is not an outside address
 */
static inline int
nat_config_addr_index(const struct nat_config *c, uint32_t addr)
{
	uint32_t lo = 0, hi = c->n_addrs;

	if (hi == 0 || addr < c->addrs[0] || addr > c->addrs[hi - 1])
		return -1;
	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;

		if (c->addrs[mid] < addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < c->n_addrs && c->addrs[lo] == addr ? (int)lo : -1;
}

/**
 * Whether the inside host @p addr is one the NAT translates: in a --snat
 * prefix, or the inside address of a --dnat.
 *
 * @param addr  host order
 */
int nat_config_inside_known(const struct nat_config *c, uint32_t addr);

/**
 * Whether two configurations shape the same sessions (same --snat rules in
 * the same order, same --dnat rules, same --max-sessions); timeouts may differ.
 *
 * @param was  the configuration a zone was made with
 * @param now  the one given now
 * @param buf  receives what differs, as "--snat: ... there, ... here"
 * @return 1 when they match, 0 when not (then @p buf says why)
 */
int nat_config_same_shape(const struct nat_config *was, const struct nat_config *now, char *buf,
			  size_t size);

/** Write rule @p r as --snat takes it into @p buf (NAT_RULE_STR_MAX bytes are enough). */
void nat_config_snat_str(const struct nat_snat *r, char *buf, size_t size);

/** Write rule @p r as --dnat takes it into @p buf. */
void nat_config_dnat_str(const struct nat_dnat *r, char *buf, size_t size);

/** The --timeout name of class @p t, e.g. "tcp-established". */
const char *nat_config_timeout_name(enum nat_timeout t);

#endif /* NAT_CONFIG_H */

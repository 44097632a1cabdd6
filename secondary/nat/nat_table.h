/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * mpdp-nat session table and port allocator, in one zone ("<id>.nat").
 *
 * A session is an endpoint-independent mapping (proto, inside address,
 * inside port or ICMP identifier) <-> (proto, outside address, outside
 * port): one flowtab record with two keys, the inside and the outside
 * tuple. The zone holds, in order: a header (magic, layout, the
 * configuration that shaped the zone, the counters), one bitmap of used
 * ports per (protocol, outside address), and the flowtab.
 *
 * Allocation is deterministic: the outside address is
 * pool[inside address % pool size] of the first --snat rule whose prefix
 * holds the inside address (paired pooling); the port is the inside port
 * when it is in the rule's range and free on that address, else the next
 * free one above it, wrapping within the range (from the range's low end
 * when the inside port is outside it). --dnat rules are static sessions
 * made with the zone; they never expire and their outside ports are
 * reserved.
 *
 * One thread writes the zone (the stage has one worker). A reader in
 * another process sees the counters through relaxed atomics and the
 * sessions through the flowtab's publication order.
 */
#ifndef NAT_TABLE_H
#define NAT_TABLE_H

#include <netinet/in.h>
#include <stdatomic.h>
#include <stdint.h>

#include "mpdp_err.h"
#include "mpdp_flowtab.h"
#include "nat_config.h"

/** Zone suffix: the zone of stage ID is "ID.nat". */
#define NAT_ZONE_SUFFIX "nat"
/** "NAT1", little-endian. */
#define NAT_ZONE_MAGIC 0x3154414eu
/** Layout version of the zone. */
#define NAT_ZONE_VERSION 1

/**
 * Counters of the zone: enum, report name. Every packet ends in exactly
 * one of XLATE_*, PASS_* or DROP_* (the tests rely on it).
 */
#define NAT_COUNTERS(_) \
	_(SESSIONS_ACTIVE, "sessions_active") \
	_(SESSIONS_CREATED, "sessions_created") \
	_(SESSIONS_EXPIRED, "sessions_expired") \
	_(XLATE_OUT, "translated_out") \
	_(XLATE_IN, "translated_in") \
	_(XLATE_HAIRPIN, "translated_hairpin") \
	_(PASS_NON_IP, "passed_non_ip") \
	_(PASS_IPV6, "passed_ipv6") \
	_(PASS_NO_RULE, "passed_no_rule") \
	_(DROP_FRAGMENT, "drop_fragment") \
	_(DROP_TRUNCATED, "drop_truncated") \
	_(DROP_MALFORMED, "drop_malformed") \
	_(DROP_PROTO, "drop_protocol") \
	_(DROP_ICMP_TYPE, "drop_icmp_type") \
	_(DROP_ICMP_EMBEDDED, "drop_icmp_embedded") \
	_(DROP_NO_MAPPING, "drop_no_mapping") \
	_(DROP_ICMP_NO_MAPPING, "drop_icmp_no_mapping") \
	_(DROP_TABLE_FULL, "drop_table_full") \
	_(DROP_PORTS_EXHAUSTED, "drop_ports_exhausted")

#define NAT_C_ENUM(e, s) NAT_C_##e,
/** Counter indices. */
enum nat_counter { NAT_COUNTERS(NAT_C_ENUM) NAT_C_N_ };
#undef NAT_C_ENUM

/** The report name of counter @p c. */
const char *nat_counter_name(enum nat_counter c);

/** Port bitmaps per outside address: TCP, UDP, ICMP identifiers. */
enum nat_bm_proto { NAT_BM_TCP, NAT_BM_UDP, NAT_BM_ICMP, NAT_BM_N_ };

/** 64-bit words of one 65536-bit bitmap. */
#define NAT_BM_WORDS 1024

/** Which side of a mapping a key names. */
enum nat_side { NAT_SIDE_INSIDE = 1, NAT_SIDE_OUTSIDE = 2 };

/** A flowtab key: one side of a mapping. Compared with memcmp. */
struct nat_key {
	uint32_t addr;          /**< network order */
	uint16_t port;          /**< network order; ICMP: the echo identifier */
	uint8_t proto;          /**< IPPROTO_TCP, IPPROTO_UDP or IPPROTO_ICMP */
	uint8_t side;           /**< enum nat_side, so the two keys of a record never clash */
};

_Static_assert(sizeof(struct nat_key) == 8, "a key is one 64-bit word");

/** Timeout class of a session: enum nat_timeout, or static. */
#define NAT_CLASS_STATIC 0xff

/** TCP tracking bits of a session. */
enum nat_tcp_bits {
	NAT_TCP_SYN = 1u << 0,  /**< a SYN was seen (since the last FIN or RST) */
	NAT_TCP_OUT = 1u << 1,  /**< traffic outbound since that SYN */
	NAT_TCP_IN = 1u << 2,   /**< traffic inbound since that SYN */
	NAT_TCP_CLOSING = 1u << 3, /**< a FIN or RST was seen; only a new SYN reopens */
};

/** Packet directions through a session. */
enum nat_dir { NAT_DIR_OUT, NAT_DIR_IN };

/**
 * The body of a session record. Written by the NAT's one worker; a reader
 * may see a field being changed (the report shows it as it reads it).
 */
struct nat_sess {
	uint64_t last_ns;       /**< CLOCK_MONOTONIC of the last packet that refreshed it */
	uint64_t pkts_out;      /**< packets translated outbound */
	uint64_t pkts_in;       /**< packets translated inbound */
	uint32_t in_addr;       /**< network order */
	uint32_t out_addr;      /**< network order */
	uint16_t in_port;       /**< network order */
	uint16_t out_port;      /**< network order */
	uint16_t addr_idx;      /**< index of out_addr in cfg.addrs: its bitmaps */
	uint8_t proto;
	uint8_t cls;            /**< enum nat_timeout, or NAT_CLASS_STATIC */
	uint8_t tcp;            /**< enum nat_tcp_bits */
	uint8_t pad_[7];
};

_Static_assert(sizeof(struct nat_sess) % 8 == 0, "flowtab bodies are 8-byte multiples");

/**
 * The zone header. Written by the NAT worker; the header fields once,
 * before magic (R1 in nat_table.c); counters with relaxed stores.
 */
struct nat_zone {
	_Atomic uint32_t magic;  /**< NAT_ZONE_MAGIC once the zone is whole */
	uint16_t version;        /**< NAT_ZONE_VERSION */
	uint16_t header_size;    /**< sizeof(struct nat_zone) */
	uint64_t zone_len;
	uint64_t bitmap_off;     /**< from the zone's start */
	uint64_t table_off;
	uint64_t table_len;
	_Atomic uint64_t starts; /**< processes that opened the zone */
	_Atomic uint64_t c[NAT_C_N_];
	struct nat_config cfg;   /**< the configuration that shaped the zone (timeouts: the latest) */
};

/** A process's handle on a zone. */
struct nat_table {
	struct nat_zone *z;
	struct mpdp_flowtab *ft;
	const struct nat_config *cfg; /**< &z->cfg */
	uint64_t *bitmaps;
	uint64_t timeout_ns[NAT_TO_N_];
	uint32_t scan_cursor;
	uint32_t scan_budget;    /**< slots per nat_table_expire() that visit all in about 5 s of ticks */
};

/**
 * Bytes of the zone for @p cfg (finished).
 *
 * @return the size, or 0 when the flowtab cannot hold that many sessions
 */
uint64_t nat_table_zone_size(const struct nat_config *cfg);

/**
 * Check a zone found in shared memory before believing it.
 *
 * @param zone  its name, for messages ("ID.nat")
 * @param cfg  the configuration given now, or NULL to accept any (report)
 * @return 0; 1 when the zone is blank (its maker died before finishing
 *         it); -EPROTO (not a NAT zone, other layout), -EEXIST (made with
 *         another --snat, --dnat or --max-sessions: the message says what
 *         differs)
 */
int nat_table_check(const void *mem, uint64_t len, const struct nat_config *cfg, const char *zone,
		    struct mpdp_errbuf *eb);

/**
 * Make a table in zeroed memory, or take over the one there: a restarted
 * NAT keeps every session. Taking over rebuilds the port bitmaps from the
 * sessions (so a crash between a flowtab change and its bitmap change
 * leaves nothing wrong) and adopts the timeouts of @p cfg.
 *
 * @param mem  the zone, 8-byte aligned, nat_table_zone_size(cfg) bytes
 * @param cfg  a finished configuration
 * @return 0 (made), 1 (taken over), or as nat_table_check(); -EINVAL when
 *         @p len is short; the reason is in @p eb
 */
int nat_table_open(struct nat_table *t, void *mem, uint64_t len, const struct nat_config *cfg,
		   const char *zone, struct mpdp_errbuf *eb);

/**
 * A handle for reading a zone from another process (report): no write.
 *
 * @return as nat_table_check() with no configuration
 */
int nat_table_view(struct nat_table *t, void *mem, uint64_t len, const char *zone,
		   struct mpdp_errbuf *eb);

/** The session body of record @p id. */
static inline struct nat_sess *
nat_table_sess(const struct nat_table *t, uint32_t id)
{
	return (struct nat_sess *)mpdp_flowtab_body(t->ft, id);
}

/** Whether @p s has outlived its timeout at @p now. */
static inline int
nat_table_expired(const struct nat_table *t, const struct nat_sess *s, uint64_t now)
{
	return s->cls != NAT_CLASS_STATIC && now > s->last_ns && now - s->last_ns > t->timeout_ns[s->cls];
}

/**
 * Find the live session with key @p k; a session found expired is removed
 * (and counted) on the way.
 *
 * @return the record id, or MPDP_FLOWTAB_NONE
 */
uint32_t nat_table_lookup(struct nat_table *t, const struct nat_key *k, uint64_t now);

/**
 * Make a dynamic session for (proto, in_addr, in_port) by --snat rule @p r.
 *
 * @param proto  IPPROTO_TCP, IPPROTO_UDP or IPPROTO_ICMP
 * @param in_addr  network order
 * @param in_port  network order (ICMP: the echo identifier)
 * @param id  the new record
 * @return 0; -EADDRNOTAVAIL when every port of the range is taken on the
 *         paired address; -ENOSPC when the table holds --max-sessions
 *         dynamic sessions (or is full); counted in both cases
 */
int nat_table_create(struct nat_table *t, uint8_t proto, uint32_t in_addr, uint16_t in_port,
		     const struct nat_snat *r, uint64_t now, uint32_t *id);

/** TCP flag bits of the header's flags byte. */
enum nat_tcp_flags { NAT_TH_FIN = 0x01, NAT_TH_SYN = 0x02, NAT_TH_RST = 0x04 };

/**
 * A packet went through session @p s: refresh it, count it, track TCP.
 * ICMP errors do not come here: they refresh nothing (RFC 5508).
 *
 * @param tcp_flags  the TCP flags byte (0 for UDP and ICMP)
 */
static inline void
nat_table_touch(struct nat_sess *s, enum nat_dir dir, uint8_t tcp_flags, uint64_t now)
{
	uint8_t seen = dir == NAT_DIR_OUT ? NAT_TCP_OUT : NAT_TCP_IN;

	s->last_ns = now;
	if (dir == NAT_DIR_OUT)
		s->pkts_out++;
	else
		s->pkts_in++;
	if (s->proto != IPPROTO_TCP || s->cls == NAT_CLASS_STATIC)
		return;
	/* RFC 5382: established once both directions saw traffic after a SYN;
	 * a FIN or RST makes it transitory until a new SYN. */
	if (tcp_flags & (NAT_TH_FIN | NAT_TH_RST)) {
		s->tcp = NAT_TCP_CLOSING;
		s->cls = NAT_TO_TCP_TRANS;
		return;
	}
	if ((tcp_flags & NAT_TH_SYN) && !(s->tcp & NAT_TCP_SYN))
		s->tcp = NAT_TCP_SYN;
	if (!(s->tcp & NAT_TCP_SYN))
		return;
	s->tcp |= seen;
	if ((s->tcp & (NAT_TCP_OUT | NAT_TCP_IN)) == (NAT_TCP_OUT | NAT_TCP_IN))
		s->cls = NAT_TO_TCP_EST;
}

/**
 * Remove expired sessions from the next slice of the table (the tick).
 *
 * @param budget  record slots to look at; 0 for the table's scan_budget
 * @return sessions removed
 */
uint32_t nat_table_expire(struct nat_table *t, uint64_t now, uint32_t budget);

/** Remove session @p id and free its port. */
void nat_table_remove(struct nat_table *t, uint32_t id);

/** Add @p v to counter @p c (one writer: a load and a store). */
static inline void
nat_table_count(const struct nat_table *t, enum nat_counter c, uint64_t v)
{
	_Atomic uint64_t *p = &t->z->c[c];

	atomic_store_explicit(p, atomic_load_explicit(p, memory_order_relaxed) + v,
			      memory_order_relaxed);
}

/** Read counter @p c. */
static inline uint64_t
nat_table_counter(const struct nat_table *t, enum nat_counter c)
{
	return atomic_load_explicit(&t->z->c[c], memory_order_relaxed);
}

/** Ports in use on outside address @p addr_idx for bitmap @p bm (for the report). */
uint32_t nat_table_ports_used(const struct nat_table *t, unsigned addr_idx, enum nat_bm_proto bm);

#endif /* NAT_TABLE_H */

/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * Connection tracking for the firewall stage.
 *
 * A connection is one record of a flow table (mpdp_flowtab.h) found by two
 * keys, the tuple of its original direction and that of its reply: TCP and
 * UDP by addresses and ports, ICMP and ICMPv6 echo by addresses and
 * identifier (an echo reply hits the request's connection), other IP
 * protocols by address pair and protocol.
 *
 * Per packet, the stage calls fw_ct_lookup(): it tells the packet's state
 * (new, established, related, invalid) and, for a packet of a known
 * connection, moves the connection on (TCP state, expiry, counters). When
 * the rules allow a packet that was new, the stage calls fw_ct_create().
 * fw_ct_expire() ages the table a slice at a time from the stage's tick.
 *
 * TCP follows netfilter's state machine without window tracking. A
 * connection first seen mid-stream (a pure ACK) is picked up as established,
 * like Linux's default; a SYN on a connection in TIME_WAIT or CLOSE starts it
 * afresh. Timeouts default to Linux's.
 *
 * The whole table, with its counters, lives in memory the caller gives (the
 * stage zone "<stage>.ct"), so a restarted firewall keeps its connections.
 * One thread writes it (lookup, create, expire); other processes may read
 * it with fw_ct_attach(), fw_ct_stats_get() and fw_ct_walk().
 *
 * Times: now_ns is CLOCK_MONOTONIC in nanoseconds (mpdp_time_ns()), the
 * clock every process shares; fw_ct_walk() reads it for the time left.
 */
#ifndef FW_CONNTRACK_H
#define FW_CONNTRACK_H

#include <stdint.h>
#include <stdio.h>

#include "mpdp_err.h"
#include "mpdp_pkt.h"

/** A connection table, at the start of its memory. */
struct fw_ct;

/** What a packet is to the table. */
enum fw_ct_state {
	FW_CT_NEW,          /**< belongs to no connection: may start one */
	/** Belongs to a tracked connection, either direction. Unlike netfilter,
	 *  which calls the first direction NEW until a reply is seen, any packet
	 *  of a tracked connection is ESTABLISHED: the rules judged its first. */
	FW_CT_ESTABLISHED,
	FW_CT_RELATED,      /**< an ICMP/ICMPv6 error about a tracked connection */
	/** Cannot start or continue a connection: TCP flags the state machine
	 *  refuses (e.g. a FIN or SYN-ACK that belongs to nothing, SYN+FIN), an
	 *  echo reply to no request, an ICMP error about nothing tracked, a
	 *  packet the parser did not read whole. */
	FW_CT_INVALID,
	FW_CT_N_STATES,
};

/** TCP states (netfilter's, same order). */
enum fw_ct_tcp_state {
	FW_CT_TCP_NONE,
	FW_CT_TCP_SYN_SENT,
	FW_CT_TCP_SYN_RECV,
	FW_CT_TCP_ESTABLISHED,
	FW_CT_TCP_FIN_WAIT,
	FW_CT_TCP_CLOSE_WAIT,
	FW_CT_TCP_LAST_ACK,
	FW_CT_TCP_TIME_WAIT,
	FW_CT_TCP_CLOSE,
	FW_CT_TCP_SYN_SENT2,   /**< simultaneous open: a SYN each way */
	FW_CT_TCP_N_STATES,
};

/** Timeouts in seconds; the --timeout name of each is in brackets. */
struct fw_ct_timeouts {
	uint32_t tcp_syn_sent;     /**< [tcp-syn-sent] 120 (also SYN_SENT2) */
	uint32_t tcp_syn_recv;     /**< [tcp-syn-recv] 60 */
	uint32_t tcp_established;  /**< [tcp-established] 432000 (5 days) */
	uint32_t tcp_fin_wait;     /**< [tcp-fin-wait] 120 */
	uint32_t tcp_close_wait;   /**< [tcp-close-wait] 60 */
	uint32_t tcp_last_ack;     /**< [tcp-last-ack] 30 */
	uint32_t tcp_time_wait;    /**< [tcp-time-wait] 120 */
	uint32_t tcp_close;        /**< [tcp-close] 10 */
	uint32_t udp;              /**< [udp] 30, until a reply is seen */
	uint32_t udp_stream;       /**< [udp-stream] 120, once replied */
	uint32_t icmp;             /**< [icmp] 30, ICMP and ICMPv6 echo */
	uint32_t generic;          /**< [generic] 600, other protocols */
};

/** Largest timeout, in seconds (about 34 years). */
#define FW_CT_TIMEOUT_MAX (1u << 30)

/** Most connections a table may hold (the flow table's limit). */
#define FW_CT_CONNS_MAX (1u << 26)

/** Set @p t to the defaults (Linux's). */
void fw_ct_timeouts_default(struct fw_ct_timeouts *t);

/**
 * Set one timeout from text, as given to --timeout.
 *
 * @param spec  "NAME=SECONDS", e.g. "tcp-established=3600"; SECONDS is a
 *              decimal from 1 to FW_CT_TIMEOUT_MAX
 * @return 0, or -EINVAL (no '=', unknown name, bad number; the reason and
 *         the known names are in @p eb); @p t is unchanged on error
 */
int fw_ct_timeout_set(struct fw_ct_timeouts *t, const char *spec, struct mpdp_errbuf *eb);

/**
 * Bytes a table of @p max_conns connections needs.
 *
 * @return the size, or 0 when @p max_conns is 0 or above FW_CT_CONNS_MAX
 */
uint64_t fw_ct_mem_size(uint32_t max_conns);

/**
 * Make an empty table in @p mem (zeroed memory), or take over the one
 * there (a restarted firewall), as its one writer.
 *
 * @param mem  8-byte aligned, @p len bytes
 * @param len  at least fw_ct_mem_size(max_conns)
 * @param t  the timeouts to run with (they apply from the next packet of
 *           each connection), or NULL for the defaults
 * @param out  the table (== mem)
 * @return 1 when a table of @p max_conns was found (its connections and
 *         counters kept), 0 when one was made, -EINVAL (bad size, alignment
 *         or timeout), -EEXIST (a table of another size is there, or the
 *         memory holds something else); the reason is in @p eb
 */
int fw_ct_open(void *mem, uint64_t len, uint32_t max_conns, const struct fw_ct_timeouts *t,
	       struct fw_ct **out, struct mpdp_errbuf *eb);

/**
 * Find the table in @p mem to read it (fw_ct_stats_get(), fw_ct_walk())
 * from any process; writes nothing.
 *
 * @return 0, -ENOENT (the memory holds no table yet), -EPROTO (it holds
 *         something else, or a table of another layout), -EINVAL (@p len
 *         shorter than the table); the reason is in @p eb
 */
int fw_ct_attach(void *mem, uint64_t len, struct fw_ct **out, struct mpdp_errbuf *eb);

/**
 * The state of a packet, and the connection moved on by it.
 *
 * For a packet of a tracked connection: the TCP state machine advances
 * (SYN, SYN-ACK, ACK, FIN either way; RST closes), the expiry is pushed to
 * the timeout of the (new) state, the packet and its IP bytes are counted
 * in its direction, and a reply marks the connection replied. A TCP
 * packet the state machine refuses changes nothing and is INVALID. A
 * connection past its expiry is deleted and counts as absent. A SYN
 * (without ACK) on a connection in TIME_WAIT or CLOSE deletes it: NEW.
 *
 * An ICMP error (v4 types 3, 4, 5, 11, 12; v6 types 1 to 4) is RELATED when
 * the IP header and 8 bytes of L4 it quotes are those of a tracked
 * connection, in either direction; the quote is read within @p len and the
 * IP length only. Other ICMP messages than echo and errors (neighbour
 * discovery, router advertisements, ...) are never tracked: always NEW.
 *
 * @param frame  the Ethernet frame, @p len bytes
 * @param info  what mpdp_pkt_parse() said of it; a packet it did not read
 *              whole, a non-IP packet or a later fragment is INVALID
 * @param now_ns  CLOCK_MONOTONIC nanoseconds
 * @return an enum fw_ct_state
 */
int fw_ct_lookup(struct fw_ct *ct, const uint8_t *frame, uint32_t len,
		 const struct mpdp_pkt_info *info, uint64_t now_ns);

/**
 * Start a connection with this packet (after fw_ct_lookup() said NEW and
 * the rules allowed it), counted in its original direction. A TCP SYN
 * starts in SYN_SENT, a pure ACK in ESTABLISHED (loose pickup). A
 * connection of the same tuple past its expiry is replaced.
 *
 * @return 0, -ENOSPC (the table is full, even after aging a few slots;
 *         counted in `full`), -EEXIST (the connection is tracked already),
 *         -EPROTONOSUPPORT (a kind of packet never tracked: ICMP other than
 *         echo request and errors), -EINVAL (a packet that cannot start a
 *         connection: what lookup calls INVALID or RELATED, or one whose
 *         reply tuple would equal its own, e.g. to itself)
 */
int fw_ct_create(struct fw_ct *ct, const uint8_t *frame, uint32_t len,
		 const struct mpdp_pkt_info *info, uint64_t now_ns);

/**
 * Delete expired connections, looking at @p budget slots from where the
 * previous call stopped (wrapping): bounded work, for the stage's tick.
 *
 * @return connections deleted
 */
uint32_t fw_ct_expire(struct fw_ct *ct, uint64_t now_ns, uint32_t budget);

/** Counters of a table (single writer; read from anywhere). */
struct fw_ct_stats {
	uint64_t active;    /**< connections in the table (some may be past expiry) */
	uint64_t max;       /**< max_conns */
	uint64_t created;   /**< connections started */
	uint64_t expired;   /**< connections ended: timed out, or replaced by a new SYN */
	uint64_t full;      /**< creations refused for want of room */
};

/** Read the counters of @p ct. */
void fw_ct_stats_get(const struct fw_ct *ct, struct fw_ct_stats *s);

/** Print the counters: one line of text ("active N/MAX, created N, ...") or one JSON object. */
void fw_ct_stats_print(const struct fw_ct *ct, FILE *f, int json);

/** One direction of a connection. */
struct fw_ct_tuple {
	uint8_t src[16];   /**< IPv4 in the first 4 bytes */
	uint8_t dst[16];
	uint16_t sport;    /**< TCP/UDP port; ICMP echo: the identifier; else 0 */
	uint16_t dport;    /**< TCP/UDP port; ICMP echo: the type (request or reply); else 0 */
};

/** A connection as fw_ct_walk() shows it. */
struct fw_ct_conn_view {
	uint8_t family;          /**< 4 or 6 */
	uint8_t proto;           /**< IP protocol */
	uint8_t seen_reply;      /**< a packet came back */
	uint8_t tcp_state;       /**< enum fw_ct_tcp_state (TCP only) */
	const char *state;       /**< TCP: the state's name; else "UNREPLIED" or "REPLIED" */
	struct fw_ct_tuple orig; /**< as the first packet went */
	struct fw_ct_tuple reply;/**< as replies come */
	uint64_t expires_ns;     /**< CLOCK_MONOTONIC time it expires */
	uint64_t expires_in_s;   /**< seconds left when walked, 0 when due */
	uint64_t pkts[2];        /**< [0] original direction, [1] reply */
	uint64_t bytes[2];       /**< IP bytes, likewise */
};

/**
 * Call @p fn for each connection, until it returns non-zero. Safe from
 * another process while the writer runs: a connection that changes during
 * the walk may show a mix of old and new values. Connections past their
 * expiry that no lookup or fw_ct_expire() has deleted yet are shown too
 * (expires_in_s 0).
 *
 * @return how many times @p fn was called
 */
uint32_t fw_ct_walk(const struct fw_ct *ct, int (*fn)(const struct fw_ct_conn_view *v, void *arg),
		    void *arg);

/** Print one connection: a line of text without newline, or one JSON object. */
void fw_ct_conn_print(const struct fw_ct_conn_view *v, FILE *f, int json);

/** @return "new", "established", "related" or "invalid" ("?" out of range) */
const char *fw_ct_state_name(enum fw_ct_state s);

/** @return "SYN_SENT", "ESTABLISHED", ... ("?" out of range) */
const char *fw_ct_tcp_state_name(unsigned s);

#endif /* FW_CONNTRACK_H */

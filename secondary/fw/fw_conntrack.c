/* SPDX-License-Identifier: BSD-3-Clause */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>

#include "fw_conntrack.h"
#include "mpdp_flowtab.h"
#include "mpdp_pkt.h"
#include "mpdp_time.h"

/*
 * Memory: struct fw_ct (CT_HDR_SIZE bytes), then the flow table. Each
 * connection is one flow-table record with two keys, the original tuple
 * (key 0) and the reply tuple (key 1), so a lookup's `which` is the
 * packet's direction. Its body is struct ct_conn.
 *
 * Ownership: one thread writes everything (fw_ct_open, lookup, create,
 * expire). Readers in other processes (fw_ct_attach, walk, stats) load
 * the counters and bodies with relaxed atomics: each value is whole, a
 * connection as a whole may be mid-update.
 */

#define FW_CT_MAGIC 0x74636d66u /* "fmct" */
#define FW_CT_LAYOUT 1u

#define NS_PER_S 1000000000ull

enum {
	CT_HDR_SIZE = 256,
	/* Slots aged on the spot when the table is full, before refusing. */
	CT_FULL_AGE_BUDGET = 64,
	CT_F_SEEN_REPLY = 1u << 0,
	PROTO_ICMP = 1,
	PROTO_TCP = 6,
	PROTO_UDP = 17,
	PROTO_ICMPV6 = 58,
	PROTO_HOPOPTS = 0,
	PROTO_ROUTING = 43,
	PROTO_FRAGMENT = 44,
	PROTO_AH = 51,
	PROTO_DSTOPTS = 60,
	TCP_FIN = 0x01,
	TCP_SYN = 0x02,
	TCP_RST = 0x04,
	TCP_PSH = 0x08,
	TCP_ACK = 0x10,
	TCP_URG = 0x20,
	TCP_ECE = 0x40,
	TCP_CWR = 0x80,
	IPV4_HDR_MIN = 20,
	IPV6_HDR_LEN = 40,
	QUOTE_L4_LEN = 8,   /* what an ICMP error must quote of L4 (RFC 792) */
	IPV6_EXT_MAX = 8,
};

/* A direction of a connection, as a flow-table key. Every byte is set
 * (padding included) because keys compare with memcmp. */
struct ct_key {
	uint8_t family;   /* 4 or 6 */
	uint8_t proto;
	uint16_t sport;   /* TCP/UDP port; echo: identifier */
	uint16_t dport;   /* TCP/UDP port; echo: the type this direction carries */
	uint16_t zero;
	uint8_t src[16];
	uint8_t dst[16];
};

/* A connection: the flow-table record body. (w) the writer. */
struct ct_conn {
	_Atomic uint64_t expires_ns;  /* (w) CLOCK_MONOTONIC */
	_Atomic uint64_t pkts[2];     /* (w) [0] original, [1] reply */
	_Atomic uint64_t bytes[2];    /* (w) IP bytes */
	_Atomic uint8_t tcp_state;    /* (w) enum fw_ct_tcp_state */
	_Atomic uint8_t flags;        /* (w) CT_F_* */
};

/* The table header at the start of the memory. A change of this struct,
 * of struct fw_ct_timeouts, ct_key or ct_conn needs a new FW_CT_LAYOUT. */
struct fw_ct {
	_Atomic uint32_t magic;       /* (ro) FW_CT_MAGIC, stored last */
	uint32_t layout;              /* (ro) FW_CT_LAYOUT */
	uint32_t max_conns;           /* (ro) */
	uint32_t cursor;              /* (w) where fw_ct_expire() goes on */
	struct fw_ct_timeouts t;      /* (w) set by fw_ct_open() */
	_Atomic uint64_t created;     /* (w) */
	_Atomic uint64_t expired;     /* (w) */
	_Atomic uint64_t full;        /* (w) */
};

_Static_assert(sizeof(struct ct_key) == 40, "ct_key has no hidden padding");
_Static_assert(sizeof(struct ct_conn) == 48, "ct_conn is part of the layout");
_Static_assert(sizeof(struct fw_ct) <= CT_HDR_SIZE, "fw_ct header fits CT_HDR_SIZE");
_Static_assert(CT_HDR_SIZE % 64 == 0, "the flow table starts on a cache line");
_Static_assert(FW_CT_CONNS_MAX == MPDP_FLOWTAB_RECORDS_MAX, "same limit as the flow table");

/* --- timeouts ------------------------------------------------------------ */

static const struct {
	const char *name;
	size_t off;
	uint32_t dflt;
} timeout_defs[] = {
	{ "tcp-syn-sent", offsetof(struct fw_ct_timeouts, tcp_syn_sent), 120 },
	{ "tcp-syn-recv", offsetof(struct fw_ct_timeouts, tcp_syn_recv), 60 },
	{ "tcp-established", offsetof(struct fw_ct_timeouts, tcp_established), 432000 },
	{ "tcp-fin-wait", offsetof(struct fw_ct_timeouts, tcp_fin_wait), 120 },
	{ "tcp-close-wait", offsetof(struct fw_ct_timeouts, tcp_close_wait), 60 },
	{ "tcp-last-ack", offsetof(struct fw_ct_timeouts, tcp_last_ack), 30 },
	{ "tcp-time-wait", offsetof(struct fw_ct_timeouts, tcp_time_wait), 120 },
	{ "tcp-close", offsetof(struct fw_ct_timeouts, tcp_close), 10 },
	{ "udp", offsetof(struct fw_ct_timeouts, udp), 30 },
	{ "udp-stream", offsetof(struct fw_ct_timeouts, udp_stream), 120 },
	{ "icmp", offsetof(struct fw_ct_timeouts, icmp), 30 },
	{ "generic", offsetof(struct fw_ct_timeouts, generic), 600 },
};

#define N_TIMEOUTS (sizeof(timeout_defs) / sizeof(timeout_defs[0]))

_Static_assert(sizeof(struct fw_ct_timeouts) == N_TIMEOUTS * sizeof(uint32_t),
	       "every timeout has a name");

static uint32_t *
timeout_field(struct fw_ct_timeouts *t, unsigned i)
{
	return (uint32_t *)((char *)t + timeout_defs[i].off);
}

static uint32_t
timeout_get(const struct fw_ct_timeouts *t, unsigned i)
{
	return *(const uint32_t *)((const char *)t + timeout_defs[i].off);
}

void
fw_ct_timeouts_default(struct fw_ct_timeouts *t)
{
	for (unsigned i = 0; i < N_TIMEOUTS; i++)
		*timeout_field(t, i) = timeout_defs[i].dflt;
}

int
fw_ct_timeout_set(struct fw_ct_timeouts *t, const char *spec, struct mpdp_errbuf *eb)
{
	const char *eq = spec != NULL ? strchr(spec, '=') : NULL;
	char names[256] = "";
	uint64_t v = 0;
	size_t nlen;
	unsigned i;

	if (eq == NULL)
		return mpdp_err_set(eb, -EINVAL,
				    "timeout '%s': expected NAME=SECONDS, e.g. tcp-established=3600",
				    spec != NULL ? spec : "");
	nlen = (size_t)(eq - spec);
	for (i = 0; i < N_TIMEOUTS; i++)
		if (strlen(timeout_defs[i].name) == nlen &&
		    memcmp(timeout_defs[i].name, spec, nlen) == 0)
			break;
	if (i == N_TIMEOUTS) {
		for (unsigned k = 0; k < N_TIMEOUTS; k++) {
			strncat(names, k ? ", " : "", sizeof(names) - strlen(names) - 1);
			strncat(names, timeout_defs[k].name, sizeof(names) - strlen(names) - 1);
		}
		return mpdp_err_set(eb, -EINVAL, "timeout '%s': unknown name '%.*s' (known: %s)",
				    spec, (int)nlen, spec, names);
	}
	/* Digits only: no sign, space or unit, so a typo cannot mean something. */
	for (const char *p = eq + 1; *p != '\0' && v <= FW_CT_TIMEOUT_MAX; p++) {
		if (*p < '0' || *p > '9') {
			v = 0;
			break;
		}
		v = v * 10 + (uint64_t)(*p - '0');
	}
	if (v == 0 || v > FW_CT_TIMEOUT_MAX)
		return mpdp_err_set(eb, -EINVAL,
				    "timeout '%s': SECONDS must be a whole number from 1 to %u", spec,
				    FW_CT_TIMEOUT_MAX);
	*timeout_field(t, i) = (uint32_t)v;
	return 0;
}

static int
timeouts_check(const struct fw_ct_timeouts *t, struct mpdp_errbuf *eb)
{
	for (unsigned i = 0; i < N_TIMEOUTS; i++) {
		uint32_t v = timeout_get(t, i);

		if (v == 0 || v > FW_CT_TIMEOUT_MAX)
			return mpdp_err_set(eb, -EINVAL,
					    "conntrack: timeout %s is %" PRIu32 ", not 1 to %u",
					    timeout_defs[i].name, v, FW_CT_TIMEOUT_MAX);
	}
	return 0;
}

static uint32_t
tcp_timeout(const struct fw_ct_timeouts *t, unsigned state)
{
	switch (state) {
	case FW_CT_TCP_SYN_SENT:
	case FW_CT_TCP_SYN_SENT2: return t->tcp_syn_sent;
	case FW_CT_TCP_SYN_RECV: return t->tcp_syn_recv;
	case FW_CT_TCP_ESTABLISHED: return t->tcp_established;
	case FW_CT_TCP_FIN_WAIT: return t->tcp_fin_wait;
	case FW_CT_TCP_CLOSE_WAIT: return t->tcp_close_wait;
	case FW_CT_TCP_LAST_ACK: return t->tcp_last_ack;
	case FW_CT_TCP_TIME_WAIT: return t->tcp_time_wait;
	default: return t->tcp_close;
	}
}

/* --- names ---------------------------------------------------------------- */

const char *
fw_ct_state_name(enum fw_ct_state s)
{
	static const char *const names[FW_CT_N_STATES] = { "new", "established", "related",
							     "invalid" };

	return (unsigned)s < FW_CT_N_STATES ? names[s] : "?";
}

const char *
fw_ct_tcp_state_name(unsigned s)
{
	static const char *const names[FW_CT_TCP_N_STATES] = {
		"NONE", "SYN_SENT", "SYN_RECV", "ESTABLISHED", "FIN_WAIT",
		"CLOSE_WAIT", "LAST_ACK", "TIME_WAIT", "CLOSE", "SYN_SENT2",
	};

	return s < FW_CT_TCP_N_STATES ? names[s] : "?";
}

/* --- the table -------------------------------------------------------------- */

static struct mpdp_flowtab_params
table_params(uint32_t max_conns)
{
	return (struct mpdp_flowtab_params){
		.max_records = max_conns,
		.key_size = sizeof(struct ct_key),
		.body_size = sizeof(struct ct_conn),
		.n_keys = 2,
	};
}

static struct mpdp_flowtab *
table(const struct fw_ct *ct)
{
	return (struct mpdp_flowtab *)((uintptr_t)ct + CT_HDR_SIZE);
}

static struct ct_conn *
conn(const struct fw_ct *ct, uint32_t id)
{
	return mpdp_flowtab_body(table(ct), id);
}

static uint64_t
ld(const _Atomic uint64_t *p)
{
	return atomic_load_explicit(p, memory_order_relaxed);
}

/* Single writer: a load and a store, no locked instruction. */
static void
bump(_Atomic uint64_t *p, uint64_t n)
{
	atomic_store_explicit(p, ld(p) + n, memory_order_relaxed);
}

static void
set_expiry(struct ct_conn *c, uint64_t now_ns, uint32_t timeout_s)
{
	atomic_store_explicit(&c->expires_ns, now_ns + (uint64_t)timeout_s * NS_PER_S,
			      memory_order_relaxed);
}

uint64_t
fw_ct_mem_size(uint32_t max_conns)
{
	struct mpdp_flowtab_params p = table_params(max_conns);
	uint64_t n = mpdp_flowtab_mem_size(&p);

	return n == 0 ? 0 : CT_HDR_SIZE + n;
}

static int
all_zero(const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i] != 0)
			return 0;
	return 1;
}

int
fw_ct_open(void *mem, uint64_t len, uint32_t max_conns, const struct fw_ct_timeouts *t,
	   struct fw_ct **out, struct mpdp_errbuf *eb)
{
	struct mpdp_flowtab_params p = table_params(max_conns);
	uint64_t need = fw_ct_mem_size(max_conns);
	struct fw_ct_timeouts dflt;
	struct fw_ct *ct = mem;
	struct mpdp_flowtab *ft;
	uint32_t magic;
	int rc;

	if (need == 0)
		return mpdp_err_set(eb, -EINVAL, "conntrack: %" PRIu32 " connections: not 1 to %u",
				    max_conns, FW_CT_CONNS_MAX);
	if (mem == NULL || ((uintptr_t)mem & 7) != 0)
		return mpdp_err_set(eb, -EINVAL, "conntrack: memory %p is not 8-byte aligned", mem);
	if (len < need)
		return mpdp_err_set(eb, -EINVAL,
				    "conntrack: %" PRIu64 " bytes given, %" PRIu32
				    " connections need %" PRIu64, len, max_conns, need);
	if (t == NULL) {
		fw_ct_timeouts_default(&dflt);
		t = &dflt;
	}
	rc = timeouts_check(t, eb);
	if (rc != 0)
		return rc;

	magic = atomic_load_explicit(&ct->magic, memory_order_acquire);
	if (magic == FW_CT_MAGIC) {
		if (ct->layout != FW_CT_LAYOUT)
			return mpdp_err_set(eb, -EEXIST,
					    "conntrack: table of layout %" PRIu32 ", this is %u",
					    ct->layout, FW_CT_LAYOUT);
		if (ct->max_conns != max_conns)
			return mpdp_err_set(eb, -EEXIST,
					    "conntrack: the table holds %" PRIu32
					    " connections, asked %" PRIu32, ct->max_conns, max_conns);
		rc = mpdp_flowtab_open(table(ct), len - CT_HDR_SIZE, &p, &ft, eb);
		if (rc < 0)
			return rc;
		if (rc != 1)
			return mpdp_err_set(eb, -EEXIST, "conntrack: the table's records are gone");
		ct->t = *t;
		*out = ct;
		return 1;
	}
	if (!all_zero(ct, CT_HDR_SIZE))
		return mpdp_err_set(eb, -EEXIST,
				    "conntrack: memory holds something else (magic 0x%08" PRIx32 ")",
				    magic);
	/* The records first, so a refusal there leaves the header blank. A
	 * flow table found under a blank header was made by a writer that
	 * died before the magic: it is sound, take it. */
	rc = mpdp_flowtab_open(table(ct), len - CT_HDR_SIZE, &p, &ft, eb);
	if (rc < 0)
		return rc;
	ct->layout = FW_CT_LAYOUT;
	ct->max_conns = max_conns;
	ct->cursor = 0;
	ct->t = *t;
	atomic_init(&ct->created, 0);
	atomic_init(&ct->expired, 0);
	atomic_init(&ct->full, 0);
	atomic_store_explicit(&ct->magic, FW_CT_MAGIC, memory_order_release);
	*out = ct;
	return 0;
}

int
fw_ct_attach(void *mem, uint64_t len, struct fw_ct **out, struct mpdp_errbuf *eb)
{
	struct fw_ct *ct = mem;
	struct mpdp_flowtab_params p;
	struct mpdp_flowtab *ft;
	uint64_t need;
	uint32_t magic;

	if (mem == NULL || ((uintptr_t)mem & 7) != 0 || len < CT_HDR_SIZE)
		return mpdp_err_set(eb, -EINVAL, "conntrack: %" PRIu64 " bytes at %p: no table",
				    len, mem);
	magic = atomic_load_explicit(&ct->magic, memory_order_acquire);
	if (magic != FW_CT_MAGIC) {
		if (all_zero(ct, CT_HDR_SIZE))
			return mpdp_err_set(eb, -ENOENT, "conntrack: no table made yet");
		return mpdp_err_set(eb, -EPROTO,
				    "conntrack: memory holds something else (magic 0x%08" PRIx32 ")",
				    magic);
	}
	if (ct->layout != FW_CT_LAYOUT)
		return mpdp_err_set(eb, -EPROTO, "conntrack: table of layout %" PRIu32 ", this is %u",
				    ct->layout, FW_CT_LAYOUT);
	need = fw_ct_mem_size(ct->max_conns);
	if (need == 0)
		return mpdp_err_set(eb, -EPROTO, "conntrack: table header is damaged");
	if (len < need)
		return mpdp_err_set(eb, -EINVAL,
				    "conntrack: %" PRIu64 " bytes, the table needs %" PRIu64, len, need);
	p = table_params(ct->max_conns);
	/* With the magic set, the flow table is there: this only attaches. */
	if (mpdp_flowtab_open(table(ct), len - CT_HDR_SIZE, &p, &ft, eb) != 1)
		return mpdp_err_set(eb, -EPROTO, "conntrack: the table's records are damaged");
	*out = ct;
	return 0;
}

/* --- packets to keys ------------------------------------------------------- */

enum pkt_kind {
	K_BAD,          /* not trackable as it stands */
	K_TCP,
	K_UDP,
	K_ECHO_REQ,
	K_ECHO_REPLY,
	K_ICMP_ERR,
	K_ICMP_OTHER,   /* informational ICMP that is never tracked */
	K_OTHER,        /* another IP protocol: by address pair */
};

static uint8_t
icmp_proto(unsigned family)
{
	return family == 4 ? PROTO_ICMP : PROTO_ICMPV6;
}

static uint8_t
echo_request(unsigned family)
{
	return family == 4 ? 8 : 128;
}

static uint8_t
echo_reply(unsigned family)
{
	return family == 4 ? 0 : 129;
}

static int
icmp_is_error(unsigned family, uint8_t type)
{
	if (family == 4)
		return type == 3 || type == 4 || type == 5 || type == 11 || type == 12;
	return type >= 1 && type <= 4;
}

static void
key_init(struct ct_key *k, unsigned family, uint8_t proto, const uint8_t *src,
	 const uint8_t *dst)
{
	size_t alen = family == 4 ? 4 : 16;

	memset(k, 0, sizeof(*k));
	k->family = (uint8_t)family;
	k->proto = proto;
	memcpy(k->src, src, alen);
	memcpy(k->dst, dst, alen);
}

/* The packet's own direction as a key, and what kind of packet it is. */
static enum pkt_kind
pkt_key(const struct mpdp_pkt_info *info, struct ct_key *k)
{
	unsigned family = info->ptype & MPDP_PTYPE_IPV4 ? 4 : info->ptype & MPDP_PTYPE_IPV6 ? 6 : 0;
	uint8_t proto = info->ip_proto;

	memset(k, 0, sizeof(*k));
	if (family == 0 ||
	    (info->flags & (MPDP_PKT_F_TRUNCATED | MPDP_PKT_F_MALFORMED |
			    MPDP_PKT_F_NOT_FIRST_FRAG)) != 0)
		return K_BAD;
	key_init(k, family, proto, info->src_addr, info->dst_addr);
	if (proto == PROTO_TCP || proto == PROTO_UDP) {
		/* l4_len says the header was read whole. */
		if ((info->ptype & (MPDP_PTYPE_TCP | MPDP_PTYPE_UDP)) == 0 || info->l4_len == 0)
			return K_BAD;
		k->sport = info->src_port;
		k->dport = info->dst_port;
		return proto == PROTO_TCP ? K_TCP : K_UDP;
	}
	if (proto == icmp_proto(family)) {
		uint8_t type = info->icmp_type;

		if ((info->ptype & MPDP_PTYPE_ICMP) == 0 || info->l4_len == 0)
			return K_BAD;
		if (type == echo_request(family) || type == echo_reply(family)) {
			k->sport = info->src_port;
			k->dport = type;
			return type == echo_request(family) ? K_ECHO_REQ : K_ECHO_REPLY;
		}
		return icmp_is_error(family, type) ? K_ICMP_ERR : K_ICMP_OTHER;
	}
	return K_OTHER;
}

/* The other direction of @k: addresses swapped, and ports swapped or, for
 * an echo, the same identifier carrying the reply type. */
static void
key_reverse(const struct ct_key *k, enum pkt_kind kind, struct ct_key *r)
{
	*r = *k;
	memcpy(r->src, k->dst, sizeof(r->src));
	memcpy(r->dst, k->src, sizeof(r->dst));
	if (kind == K_ECHO_REQ) {
		r->dport = echo_reply(k->family);
	} else {
		r->sport = k->dport;
		r->dport = k->sport;
	}
}

static uint32_t
key_hash(const struct ct_key *k)
{
	return mpdp_flowtab_hash(k, sizeof(*k));
}

/*
 * The key of the packet an ICMP error quotes: its IP header (IPv6 with
 * extension headers) and 8 bytes of L4, read within the frame and the
 * outer IP length. @return 0 when the quote is short, malformed, a later
 * fragment, or of nothing that is tracked (an ICMP error about an error).
 */
static int
quoted_key(const uint8_t *frame, uint32_t len, const struct mpdp_pkt_info *info,
	   struct ct_key *k)
{
	unsigned family = info->ptype & MPDP_PTYPE_IPV4 ? 4 : 6;
	uint32_t end = len, off = info->payload_off, n, l4;
	const uint8_t *q, *l;
	uint8_t proto;

	if (info->ip_len != 0 && info->l3_off < len && info->ip_len < len - info->l3_off)
		end = info->l3_off + info->ip_len;
	if (off == 0 || off >= end)
		return 0;
	q = frame + off;
	n = end - off;
	if (family == 4) {
		if (n < IPV4_HDR_MIN || (q[0] >> 4) != 4)
			return 0;
		l4 = (uint32_t)(q[0] & 0xf) * 4;
		if (l4 < IPV4_HDR_MIN || l4 > n || (mpdp_get_be16(q + 6) & 0x1fff) != 0)
			return 0;
		proto = q[9];
		key_init(k, 4, proto, q + 12, q + 16);
	} else {
		if (n < IPV6_HDR_LEN || (q[0] >> 4) != 6)
			return 0;
		proto = q[6];
		l4 = IPV6_HDR_LEN;
		for (unsigned i = 0; proto == PROTO_HOPOPTS || proto == PROTO_ROUTING ||
				     proto == PROTO_DSTOPTS || proto == PROTO_FRAGMENT ||
				     proto == PROTO_AH; i++) {
			uint32_t elen;

			if (i == IPV6_EXT_MAX || n - l4 < 8)
				return 0;
			if (proto == PROTO_FRAGMENT) {
				if ((mpdp_get_be16(q + l4 + 2) & 0xfff8) != 0)
					return 0;
				elen = 8;
			} else if (proto == PROTO_AH) {
				elen = ((uint32_t)q[l4 + 1] + 2) * 4;
			} else {
				elen = ((uint32_t)q[l4 + 1] + 1) * 8;
			}
			if (elen > n - l4)
				return 0;
			proto = q[l4];
			l4 += elen;
		}
		key_init(k, 6, proto, q + 8, q + 24);
	}
	if (n - l4 < QUOTE_L4_LEN)
		return 0;
	l = q + l4;
	if (proto == PROTO_TCP || proto == PROTO_UDP) {
		k->sport = mpdp_get_be16(l);
		k->dport = mpdp_get_be16(l + 2);
	} else if (proto == icmp_proto(family)) {
		if (l[0] != echo_request(family) && l[0] != echo_reply(family))
			return 0;
		k->sport = mpdp_get_be16(l + 4);
		k->dport = l[0];
	} else if (proto == PROTO_ICMP || proto == PROTO_ICMPV6) {
		return 0;   /* the other family's ICMP quoted: nonsense */
	}
	return 1;
}

/* IP bytes of the packet: the IP length when the frame holds it, else what the frame holds. */
static uint64_t
ip_bytes(const struct mpdp_pkt_info *info, uint32_t len)
{
	uint32_t avail = len > info->l3_off ? len - info->l3_off : 0;

	return info->ip_len != 0 && info->ip_len <= avail ? info->ip_len : avail;
}

/* --- lookup ------------------------------------------------------------------ */

static void
conn_delete(struct fw_ct *ct, uint32_t id)
{
	mpdp_flowtab_del(table(ct), id);
	bump(&ct->expired, 1);
}

static int
conn_is_expired(const struct ct_conn *c, uint64_t now_ns)
{
	return now_ns >= atomic_load_explicit(&c->expires_ns, memory_order_relaxed);
}

/* The live connection with key @k; one past its expiry is deleted on the way. */
static uint32_t
conn_find(struct fw_ct *ct, const struct ct_key *k, uint64_t now_ns, unsigned *dir)
{
	uint32_t id = mpdp_flowtab_lookup(table(ct), k, key_hash(k), dir);

	if (id != MPDP_FLOWTAB_NONE && conn_is_expired(conn(ct, id), now_ns)) {
		conn_delete(ct, id);
		id = MPDP_FLOWTAB_NONE;
	}
	return id;
}

static void
conn_count(struct ct_conn *c, unsigned dir, uint64_t bytes)
{
	bump(&c->pkts[dir], 1);
	bump(&c->bytes[dir], bytes);
	if (dir == 1)
		atomic_store_explicit(&c->flags,
				      atomic_load_explicit(&c->flags, memory_order_relaxed) |
					      CT_F_SEEN_REPLY,
				      memory_order_relaxed);
}

/* What a TCP packet's flags are to the state machine. */
enum tcp_class { C_SYN, C_SYNACK, C_FIN, C_ACK, C_RST, C_NONE, C_BAD };

static enum tcp_class
tcp_class(uint8_t flags)
{
	/* ECN and PSH change nothing; the rest must be a combination a
	 * TCP sends (netfilter's list): SYN+FIN, a bare FIN, ... are not. */
	switch (flags & (uint8_t)~(TCP_ECE | TCP_CWR | TCP_PSH)) {
	case TCP_SYN:
	case TCP_SYN | TCP_URG: return C_SYN;
	case TCP_SYN | TCP_ACK: return C_SYNACK;
	case TCP_RST:
	case TCP_RST | TCP_ACK: return C_RST;
	case TCP_FIN | TCP_ACK:
	case TCP_FIN | TCP_ACK | TCP_URG: return C_FIN;
	case TCP_ACK:
	case TCP_ACK | TCP_URG: return C_ACK;
	default: return C_BAD;
	}
}

/*
 * The TCP state machine: next state by direction, packet class and current
 * state, as netfilter's table without window tracking. IV: the packet is
 * invalid, nothing changes. IG: the packet passes, the state and expiry
 * stay (e.g. a SYN-ACK retransmitted in ESTABLISHED).
 */
enum {
	T_NO = FW_CT_TCP_NONE,
	T_SS = FW_CT_TCP_SYN_SENT,
	T_SR = FW_CT_TCP_SYN_RECV,
	T_ES = FW_CT_TCP_ESTABLISHED,
	T_FW = FW_CT_TCP_FIN_WAIT,
	T_CW = FW_CT_TCP_CLOSE_WAIT,
	T_LA = FW_CT_TCP_LAST_ACK,
	T_TW = FW_CT_TCP_TIME_WAIT,
	T_CL = FW_CT_TCP_CLOSE,
	T_S2 = FW_CT_TCP_SYN_SENT2,
	T_IV = 0xfe,
	T_IG = 0xff,
};

static const uint8_t tcp_next[2][C_NONE + 1][FW_CT_TCP_N_STATES] = {
	{ /* original direction; states: NO SS SR ES FW CW LA TW CL S2 */
		[C_SYN] = { T_SS, T_SS, T_IG, T_IG, T_IG, T_IG, T_IG, T_SS, T_SS, T_S2 },
		[C_SYNACK] = { T_IV, T_IV, T_IG, T_IG, T_IG, T_IG, T_IG, T_IG, T_IG, T_SR },
		[C_FIN] = { T_IV, T_IV, T_FW, T_FW, T_LA, T_LA, T_LA, T_TW, T_CL, T_IV },
		[C_ACK] = { T_ES, T_IV, T_ES, T_ES, T_CW, T_CW, T_TW, T_TW, T_CL, T_IV },
		[C_RST] = { T_IV, T_CL, T_CL, T_CL, T_CL, T_CL, T_CL, T_CL, T_CL, T_CL },
		[C_NONE] = { T_IV, T_IV, T_IV, T_IV, T_IV, T_IV, T_IV, T_IV, T_IV, T_IV },
	},
	{ /* reply direction */
		[C_SYN] = { T_IV, T_S2, T_IV, T_IV, T_IV, T_IV, T_IV, T_SS, T_IV, T_S2 },
		[C_SYNACK] = { T_IV, T_SR, T_IG, T_IG, T_IG, T_IG, T_IG, T_IG, T_IG, T_SR },
		[C_FIN] = { T_IV, T_IV, T_FW, T_FW, T_LA, T_LA, T_LA, T_TW, T_CL, T_IV },
		[C_ACK] = { T_IV, T_IG, T_SR, T_ES, T_CW, T_CW, T_TW, T_TW, T_CL, T_IG },
		[C_RST] = { T_IV, T_CL, T_CL, T_CL, T_CL, T_CL, T_CL, T_CL, T_CL, T_CL },
		[C_NONE] = { T_IV, T_IV, T_IV, T_IV, T_IV, T_IV, T_IV, T_IV, T_IV, T_IV },
	},
};

static int
tcp_packet(struct fw_ct *ct, uint32_t id, unsigned dir, const struct mpdp_pkt_info *info,
	   uint64_t bytes, uint64_t now_ns)
{
	struct ct_conn *c = conn(ct, id);
	enum tcp_class cls = tcp_class(info->tcp_flags);
	unsigned old = atomic_load_explicit(&c->tcp_state, memory_order_relaxed);
	uint8_t next;

	if (cls == C_BAD || old >= FW_CT_TCP_N_STATES)
		return FW_CT_INVALID;
	/* A new connection on the tuple of one that is over. */
	if (cls == C_SYN && (old == FW_CT_TCP_TIME_WAIT || old == FW_CT_TCP_CLOSE)) {
		conn_delete(ct, id);
		return FW_CT_NEW;
	}
	next = tcp_next[dir][cls][old];
	if (next == T_IV)
		return FW_CT_INVALID;
	conn_count(c, dir, bytes);
	if (next != T_IG) {
		atomic_store_explicit(&c->tcp_state, next, memory_order_relaxed);
		set_expiry(c, now_ns, tcp_timeout(&ct->t, next));
	}
	return FW_CT_ESTABLISHED;
}

int
fw_ct_lookup(struct fw_ct *ct, const uint8_t *frame, uint32_t len,
	     const struct mpdp_pkt_info *info, uint64_t now_ns)
{
	struct ct_key k;
	enum pkt_kind kind = pkt_key(info, &k);
	uint64_t bytes = ip_bytes(info, len);
	struct ct_conn *c;
	unsigned dir = 0;
	uint32_t id;

	switch (kind) {
	case K_BAD:
		return FW_CT_INVALID;
	case K_ICMP_OTHER:
		return FW_CT_NEW;
	case K_ICMP_ERR:
		if (!quoted_key(frame, len, info, &k))
			return FW_CT_INVALID;
		return conn_find(ct, &k, now_ns, &dir) != MPDP_FLOWTAB_NONE ? FW_CT_RELATED
									     : FW_CT_INVALID;
	default:
		break;
	}

	id = conn_find(ct, &k, now_ns, &dir);
	if (id == MPDP_FLOWTAB_NONE) {
		/* What could start a connection is new; the rest belongs to
		 * one we do not know. */
		if (kind == K_TCP) {
			enum tcp_class cls = tcp_class(info->tcp_flags);

			return cls == C_SYN || cls == C_ACK ? FW_CT_NEW : FW_CT_INVALID;
		}
		return kind == K_ECHO_REPLY ? FW_CT_INVALID : FW_CT_NEW;
	}
	if (kind == K_TCP)
		return tcp_packet(ct, id, dir, info, bytes, now_ns);

	c = conn(ct, id);
	conn_count(c, dir, bytes);
	if (kind == K_UDP)
		set_expiry(c, now_ns,
			   atomic_load_explicit(&c->flags, memory_order_relaxed) & CT_F_SEEN_REPLY
				   ? ct->t.udp_stream
				   : ct->t.udp);
	else if (kind == K_OTHER)
		set_expiry(c, now_ns, ct->t.generic);
	else
		set_expiry(c, now_ns, ct->t.icmp);
	return FW_CT_ESTABLISHED;
}

/* --- create and expire -------------------------------------------------------- */

static int
conn_expired_cb(void *body, uint32_t id, void *arg)
{
	(void)id;
	return conn_is_expired(body, *(const uint64_t *)arg);
}

uint32_t
fw_ct_expire(struct fw_ct *ct, uint64_t now_ns, uint32_t budget)
{
	uint32_t n = mpdp_flowtab_scan(table(ct), &ct->cursor, budget, conn_expired_cb, &now_ns);

	bump(&ct->expired, n);
	return n;
}

int
fw_ct_create(struct fw_ct *ct, const uint8_t *frame, uint32_t len,
	     const struct mpdp_pkt_info *info, uint64_t now_ns)
{
	struct ct_key k[2];
	enum pkt_kind kind = pkt_key(info, &k[0]);
	const void *keys[2] = { &k[0], &k[1] };
	uint8_t tcp_state = FW_CT_TCP_NONE;
	uint32_t timeout, hashes[2], id;
	struct ct_conn *c;
	int rc;

	(void)frame;   /* info holds all a connection starts from */
	switch (kind) {
	case K_TCP:
		switch (tcp_class(info->tcp_flags)) {
		case C_SYN: tcp_state = FW_CT_TCP_SYN_SENT; break;
		case C_ACK: tcp_state = FW_CT_TCP_ESTABLISHED; break;
		default: return -EINVAL;
		}
		timeout = tcp_timeout(&ct->t, tcp_state);
		break;
	case K_UDP: timeout = ct->t.udp; break;
	case K_ECHO_REQ: timeout = ct->t.icmp; break;
	case K_OTHER: timeout = ct->t.generic; break;
	case K_ICMP_OTHER: return -EPROTONOSUPPORT;
	default: return -EINVAL;
	}
	key_reverse(&k[0], kind, &k[1]);
	if (memcmp(&k[0], &k[1], sizeof(k[0])) == 0)
		return -EINVAL;
	for (unsigned i = 0; i < 2; i++) {
		unsigned dir;

		hashes[i] = key_hash(&k[i]);
		if (conn_find(ct, &k[i], now_ns, &dir) != MPDP_FLOWTAB_NONE)
			return -EEXIST;
	}
	rc = mpdp_flowtab_add(table(ct), keys, hashes, &id);
	if (rc == -ENOSPC) {
		/* Room may be there already, held by connections past expiry. */
		fw_ct_expire(ct, now_ns, CT_FULL_AGE_BUDGET);
		rc = mpdp_flowtab_add(table(ct), keys, hashes, &id);
		if (rc == -ENOSPC)
			bump(&ct->full, 1);
	}
	if (rc != 0)
		return rc;
	c = conn(ct, id);
	atomic_store_explicit(&c->tcp_state, tcp_state, memory_order_relaxed);
	conn_count(c, 0, ip_bytes(info, len));
	set_expiry(c, now_ns, timeout);
	bump(&ct->created, 1);
	return 0;
}

/* --- reading ------------------------------------------------------------------- */

void
fw_ct_stats_get(const struct fw_ct *ct, struct fw_ct_stats *s)
{
	s->active = mpdp_flowtab_count(table(ct));
	s->max = ct->max_conns;
	s->created = ld(&ct->created);
	s->expired = ld(&ct->expired);
	s->full = ld(&ct->full);
}

void
fw_ct_stats_print(const struct fw_ct *ct, FILE *f, int json)
{
	struct fw_ct_stats s;

	fw_ct_stats_get(ct, &s);
	if (json)
		fprintf(f,
			"{\"active\":%" PRIu64 ",\"max\":%" PRIu64 ",\"created\":%" PRIu64
			",\"expired\":%" PRIu64 ",\"full\":%" PRIu64 "}",
			s.active, s.max, s.created, s.expired, s.full);
	else
		fprintf(f,
			"active %" PRIu64 "/%" PRIu64 ", created %" PRIu64 ", expired %" PRIu64
			", refused for want of room %" PRIu64,
			s.active, s.max, s.created, s.expired, s.full);
}

static void
tuple_of(const struct ct_key *k, struct fw_ct_tuple *t)
{
	memcpy(t->src, k->src, sizeof(t->src));
	memcpy(t->dst, k->dst, sizeof(t->dst));
	t->sport = k->sport;
	t->dport = k->dport;
}

uint32_t
fw_ct_walk(const struct fw_ct *ct, int (*fn)(const struct fw_ct_conn_view *v, void *arg),
	   void *arg)
{
	const struct mpdp_flowtab *ft = table(ct);
	uint64_t now_ns = mpdp_time_ns();
	uint32_t n = 0;

	for (uint32_t id = mpdp_flowtab_next(ft, MPDP_FLOWTAB_NONE); id != MPDP_FLOWTAB_NONE;
	     id = mpdp_flowtab_next(ft, id)) {
		const struct ct_key *k0 = mpdp_flowtab_key(ft, id, 0);
		const struct ct_conn *c = conn(ct, id);
		struct fw_ct_conn_view v;

		memset(&v, 0, sizeof(v));
		v.family = k0->family;
		v.proto = k0->proto;
		tuple_of(k0, &v.orig);
		tuple_of(mpdp_flowtab_key(ft, id, 1), &v.reply);
		v.seen_reply = (atomic_load_explicit(&c->flags, memory_order_relaxed) &
				CT_F_SEEN_REPLY) != 0;
		v.tcp_state = atomic_load_explicit(&c->tcp_state, memory_order_relaxed);
		if (v.proto == PROTO_TCP)
			v.state = fw_ct_tcp_state_name(v.tcp_state);
		else
			v.state = v.seen_reply ? "REPLIED" : "UNREPLIED";
		v.expires_ns = atomic_load_explicit(&c->expires_ns, memory_order_relaxed);
		v.expires_in_s = v.expires_ns > now_ns ? (v.expires_ns - now_ns) / NS_PER_S : 0;
		for (unsigned d = 0; d < 2; d++) {
			v.pkts[d] = ld(&c->pkts[d]);
			v.bytes[d] = ld(&c->bytes[d]);
		}
		n++;
		if (fn(&v, arg) != 0)
			break;
	}
	return n;
}

static const char *
proto_name(const struct fw_ct_conn_view *v, char *buf, size_t len)
{
	switch (v->proto) {
	case PROTO_TCP: return "tcp";
	case PROTO_UDP: return "udp";
	case PROTO_ICMP: return v->family == 4 ? "icmp" : "proto-1";
	case PROTO_ICMPV6: return v->family == 6 ? "icmp6" : "proto-58";
	default:
		snprintf(buf, len, "proto-%u", v->proto);
		return buf;
	}
}

static void
addr_str(unsigned family, const uint8_t *a, char *buf, size_t len)
{
	if (inet_ntop(family == 4 ? AF_INET : AF_INET6, a, buf, (socklen_t)len) == NULL)
		snprintf(buf, len, "?");
}

static int
has_ports(const struct fw_ct_conn_view *v)
{
	return v->proto == PROTO_TCP || v->proto == PROTO_UDP;
}

static int
is_echo(const struct fw_ct_conn_view *v)
{
	return v->proto == icmp_proto(v->family);
}

static void
tuple_print(const struct fw_ct_conn_view *v, const struct fw_ct_tuple *t, FILE *f, int json)
{
	char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN];

	addr_str(v->family, t->src, src, sizeof(src));
	addr_str(v->family, t->dst, dst, sizeof(dst));
	if (json) {
		fprintf(f, "{\"src\":\"%s\",\"dst\":\"%s\"", src, dst);
		if (has_ports(v))
			fprintf(f, ",\"sport\":%u,\"dport\":%u", t->sport, t->dport);
		else if (is_echo(v))
			fprintf(f, ",\"id\":%u,\"type\":%u", t->sport, t->dport);
		fputc('}', f);
		return;
	}
	if (has_ports(v) && v->family == 6)
		fprintf(f, "[%s]:%u -> [%s]:%u", src, t->sport, dst, t->dport);
	else if (has_ports(v))
		fprintf(f, "%s:%u -> %s:%u", src, t->sport, dst, t->dport);
	else if (is_echo(v))
		fprintf(f, "%s -> %s id %u", src, dst, t->sport);
	else
		fprintf(f, "%s -> %s", src, dst);
}

void
fw_ct_conn_print(const struct fw_ct_conn_view *v, FILE *f, int json)
{
	char pbuf[16];
	const char *proto = proto_name(v, pbuf, sizeof(pbuf));

	if (json) {
		fprintf(f, "{\"family\":%u,\"proto\":\"%s\",\"state\":\"%s\",\"orig\":", v->family,
			proto, v->state);
		tuple_print(v, &v->orig, f, 1);
		fprintf(f, ",\"reply\":");
		tuple_print(v, &v->reply, f, 1);
		fprintf(f,
			",\"expires_in\":%" PRIu64 ",\"packets\":[%" PRIu64 ",%" PRIu64
			"],\"bytes\":[%" PRIu64 ",%" PRIu64 "]}",
			v->expires_in_s, v->pkts[0], v->pkts[1], v->bytes[0], v->bytes[1]);
		return;
	}
	fprintf(f, "%-5s %-11s ", proto, v->state);
	tuple_print(v, &v->orig, f, 0);
	fprintf(f,
		"  pkts %" PRIu64 "/%" PRIu64 " bytes %" PRIu64 "/%" PRIu64 " expires in %" PRIu64
		" s",
		v->pkts[0], v->pkts[1], v->bytes[0], v->bytes[1], v->expires_in_s);
}

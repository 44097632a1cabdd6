/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The mpdp-mon stage: a traffic monitor. It passes every packet to output "out"
 * (or, with no --out, to an unbound output: a sink) and counts what it sees:
 * protocols, a size histogram, rates, and per-flow packets and bytes in a
 * bounded open-addressing table. Everything lives in the zone "<id>.mon", so
 * `mpdp-mon --report` reads it from another process and a restarted mon of
 * the same --stage id carries on. --pcap records what it counts, --filter
 * narrows what it counts (see doc/stage-mon.md). The commands `top` and
 * `stats` print parts of the report, with the report's code.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <pcap/pcap.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mon_stage.h"
#include "mpdp_json.h"
#include "mpdp_log.h"
#include "mpdp_mbuf.h"
#include "mpdp_parse.h"
#include "mpdp_pkt.h"
#include "mpdp_stage.h"
#include "mpdp_time.h"

enum { MON_NEXT_DROP = MPDP_STAGE_NEXT_DROP, MON_NEXT_OUT, MON_N_NEXT };

#define MON_ZONE_SUFFIX "mon"
#define MON_MAGIC 0x314e4f4du       /* "MON1" little-endian */
#define MON_VERSION 2
#define MON_FLOWS_MIN 64u
#define MON_FLOWS_MAX 1048576u
#define MON_FLOWS_DEFAULT 4096u
#define MON_TOP_MAX 100u
#define MON_TOP_DEFAULT 10u
/* Flows in each list of the `top` command: at most (output well under 1 MiB). */
#define MON_TOP_CMD_MAX 1000u
/* A flow sits at most this many slots past its hash position, which bounds
 * the cost of a packet whose flow is not in a full table. */
#define MON_PROBE_MAX 64u
#define MON_SNAPLEN 65535
#define MON_NS 1000000000ull
#define MON_PCAP_BUF (1u << 20)
/* Ticks are MPDP_STAGE_TICK_NS or more apart: this many reach a second back. */
#define MON_SAMPLES (MON_NS / MPDP_STAGE_TICK_NS + 1)

/* Counters of the zone: enum, report name. Totals first, then protocols. */
#define MON_COUNTERS(_) \
	_(PACKETS, "packets") \
	_(BYTES, "bytes") \
	_(UNTRACKED_PACKETS, "not_tracked_packets") \
	_(UNTRACKED_BYTES, "not_tracked_bytes") \
	_(FILTERED_PACKETS, "filtered_out_packets") \
	_(FILTERED_BYTES, "filtered_out_bytes") \
	_(ETH, "eth") \
	_(VLAN, "vlan") \
	_(ARP, "arp") \
	_(IPV4, "ipv4") \
	_(IPV6, "ipv6") \
	_(TCP, "tcp") \
	_(UDP, "udp") \
	_(ICMP, "icmp") \
	_(L4_OTHER, "l4_other") \
	_(OTHER, "other") \
	_(FRAG, "fragments") \
	_(TRUNCATED, "truncated") \
	_(MALFORMED, "malformed")

#define MON_C_ENUM(e, s) MON_C_##e,
enum mon_counter { MON_COUNTERS(MON_C_ENUM) MON_C_N_ };
#define MON_C_NAME(e, s) s,
static const char *const mon_counter_names[MON_C_N_] = { MON_COUNTERS(MON_C_NAME) };

/* Frame-length bins: label, lowest and highest length. */
#define MON_SIZES(_) \
	_("<64", 0, 63) \
	_("64", 64, 64) \
	_("65-127", 65, 127) \
	_("128-255", 128, 255) \
	_("256-511", 256, 511) \
	_("512-1023", 512, 1023) \
	_("1024-1518", 1024, 1518) \
	_(">1518", 1519, 65535)

struct mon_bin {
	const char *label;
	unsigned lo, hi;
};
#define MON_BIN(l, lo, hi) { l, lo, hi },
static const struct mon_bin mon_bins[] = { MON_SIZES(MON_BIN) };
#define MON_N_BINS (sizeof(mon_bins) / sizeof(mon_bins[0]))

/* A unidirectional flow: IPv4 addresses use the first 4 bytes. */
struct mon_key {
	uint8_t src[16];
	uint8_t dst[16];
	uint16_t sport;
	uint16_t dport;
	uint8_t ver;               /* 4 or 6 */
	uint8_t proto;
	uint8_t pad_[2];           /* zero: keys are compared with memcmp */
};

_Static_assert(sizeof(struct mon_key) == 40, "a key is five 64-bit words");

/*
 * One slot. Writer: the mon worker. The key is written before the tag is
 * published (R1), so a reader that sees a tag sees the key (A1).
 */
struct mon_flow {
	_Alignas(64) _Atomic uint64_t packets;
	_Atomic uint64_t bytes;
	_Atomic uint32_t tag;      /* 0: free; else high hash bits | 1 */
	uint32_t pad_;
	struct mon_key key;
};

_Static_assert(sizeof(struct mon_flow) == 64, "a slot is one cache line");

/*
 * The zone "<id>.mon". Writer: the one mon worker of the stage (max_workers
 * is 1), with relaxed atomic stores so a reader in any process never sees a
 * torn value; header fields are written once, before magic (R2).
 */
struct mon_zone {
	_Atomic uint32_t magic;    /* MON_MAGIC once the header is valid */
	uint16_t version;          /* MON_VERSION */
	uint16_t header_size;      /* offsetof(struct mon_zone, flows) */
	uint32_t flow_slots;       /* power of two */
	uint32_t pad_;
	uint64_t zone_len;
	_Atomic uint64_t starts;   /* processes that counted into the zone */
	_Atomic uint64_t flows_used;
	_Atomic uint64_t c[MON_C_N_];
	_Atomic uint64_t sizes[MON_N_BINS];
	/* at each tick of the worker */
	_Atomic uint64_t rate_pps, rate_bps; /* over the last second or a little more */
	_Atomic uint64_t run_ns;   /* time counted by processes, up to run_mark_ns */
	_Atomic uint64_t run_mark_ns; /* since when the live process runs; 0: none */
	struct mon_flow flows[];
};

/* The totals at one tick. */
struct mon_sample {
	uint64_t ns, packets, bytes;
};

/* Everything here is the worker's: process and tick run on its thread. */
struct mon_ctx {
	struct mon_zone *z;
	uint32_t mask;             /* flow_slots - 1 */
	uint32_t probe;            /* slots looked at per lookup */
	uint64_t flows_used;       /* mirror of z->flows_used (this worker writes it) */
	int have_filter;
	struct bpf_program filter;
	pcap_t *dead;              /* for the filter and the dumper */
	pcap_dumper_t *dump;
	int unflushed;             /* dump has packets written since its last flush */
	struct mon_sample samples[MON_SAMPLES]; /* at the last ticks; the oldest at [next] */
	unsigned next;
};

/* What the options say, for init and report. */
struct mon_opts {
	uint32_t flows;
	unsigned top;
	const char *pcap;
	const char *filter;
};

static uint64_t
ld(_Atomic uint64_t *p)
{
	return atomic_load_explicit(p, memory_order_relaxed);
}

static void
store(_Atomic uint64_t *p, uint64_t v)
{
	atomic_store_explicit(p, v, memory_order_relaxed);
}

static void
add(_Atomic uint64_t *p, uint64_t v)
{
	/* One writer: a load and a store, no locked read-modify-write. */
	store(p, ld(p) + v);
}

/* @p n counted over @p ns nanoseconds, per second (0 over no time). */
static uint64_t
per_second(double n, uint64_t ns)
{
	return ns > 0 ? (uint64_t)(n * 1e9 / (double)ns) : 0;
}

static size_t
zone_size(uint32_t slots)
{
	return sizeof(struct mon_zone) + (size_t)slots * sizeof(struct mon_flow);
}

/* Strict unsigned decimal: digits only, no sign, no overflow. */
static int
parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (s == NULL || *s == '\0')
		return -EINVAL;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9' || v > (UINT64_MAX - 9) / 10)
			return -EINVAL;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return 0;
}

static int
opts_parse(const struct mpdp_stage_env *env, struct mon_opts *o, struct mpdp_errbuf *eb)
{
	const char *s;
	uint64_t v;

	o->flows = MON_FLOWS_DEFAULT;
	o->top = MON_TOP_DEFAULT;
	s = mpdp_stage_option(env, "flows");
	if (s != NULL) {
		if (parse_u64(s, &v) != 0 || v < MON_FLOWS_MIN || v > MON_FLOWS_MAX || (v & (v - 1)))
			return mpdp_err_set(eb, -EINVAL, "--flows %s: not a power of two from %u to %u",
					    s, MON_FLOWS_MIN, MON_FLOWS_MAX);
		o->flows = (uint32_t)v;
	}
	s = mpdp_stage_option(env, "top");
	if (s != NULL) {
		if (parse_u64(s, &v) != 0 || v < 1 || v > MON_TOP_MAX)
			return mpdp_err_set(eb, -EINVAL, "--top %s: not a number from 1 to %u", s,
					    MON_TOP_MAX);
		o->top = (unsigned)v;
	}
	o->pcap = mpdp_stage_option(env, "pcap");
	if (o->pcap != NULL && *o->pcap == '\0')
		return mpdp_err_set(eb, -EINVAL, "--pcap needs a file name");
	o->filter = mpdp_stage_option(env, "filter");
	return 0;
}

/*
 * Check the zone of stage @p id (found in shared memory) before believing
 * anything in it. @p want_slots is 0 when any table size will do (the report).
 */
static int
zone_check(const char *id, void *addr, uint64_t len, uint32_t want_slots,
	   struct mpdp_errbuf *eb)
{
	struct mon_zone *z = addr;
	uint32_t slots;

	if (len < sizeof(*z))
		return mpdp_err_set(eb, -EPROTO, "zone '%s." MON_ZONE_SUFFIX "' is %" PRIu64
				    " bytes: not a mon zone", id, len);
	/* A2 pairs with R2: the header is whole once magic is seen. */
	if (atomic_load_explicit(&z->magic, memory_order_acquire) != MON_MAGIC)
		return mpdp_err_set(eb, -EPROTO, "zone '%s." MON_ZONE_SUFFIX "' is not a mon zone "
				    "(bad magic), or its mon died before setting it up", id);
	if (z->version != MON_VERSION || z->header_size != offsetof(struct mon_zone, flows))
		return mpdp_err_set(eb, -EPROTO, "zone '%s." MON_ZONE_SUFFIX "' has mon layout "
				    "version %u, this program reads version %u", id, z->version,
				    MON_VERSION);
	slots = z->flow_slots;
	if (slots < MON_FLOWS_MIN || slots > MON_FLOWS_MAX || (slots & (slots - 1)) ||
	    z->zone_len != zone_size(slots) || len < zone_size(slots))
		return mpdp_err_set(eb, -EPROTO, "zone '%s." MON_ZONE_SUFFIX "': inconsistent "
				    "header (%u flow slots, %" PRIu64 " bytes)", id, slots, len);
	if (want_slots != 0 && slots != want_slots)
		return mpdp_err_set(eb, -EEXIST, "zone '%s." MON_ZONE_SUFFIX "' holds a flow table "
				    "of %u slots, not --flows %u: restart with --flows %u to continue "
				    "its counters, or use another --stage id", id, slots, want_slots,
				    slots);
	return 0;
}

/* A zone whose header was never written (its magic is 0). */
static int
zone_blank(void *addr, uint64_t len)
{
	struct mon_zone *z = addr;

	return len >= sizeof(*z) && atomic_load_explicit(&z->magic, memory_order_acquire) == 0;
}

/* murmur3's 64-bit finaliser: every input bit reaches every output bit. */
static inline uint64_t
fmix64(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 33;
	return h;
}

static inline uint64_t
key_hash(const struct mon_key *k)
{
	uint64_t w[5], h = 0x9e3779b97f4a7c15ull;

	memcpy(w, k, sizeof(w));
	for (unsigned i = 0; i < 5; i++) {
		h ^= w[i];
		h = (h << 27 | h >> 37) * 0x9e3779b97f4a7c15ull;
	}
	return fmix64(h);
}

/* The slot of @p k, inserting it if there is room; NULL: not tracked. */
static inline struct mon_flow *
flow_get(struct mon_ctx *ctx, const struct mon_key *k)
{
	struct mon_zone *z = ctx->z;
	uint64_t h = key_hash(k);
	uint32_t tag = (uint32_t)(h >> 32) | 1u;
	uint32_t idx = (uint32_t)h & ctx->mask;

	for (uint32_t i = 0; i < ctx->probe; i++, idx = (idx + 1) & ctx->mask) {
		struct mon_flow *f = &z->flows[idx];
		uint32_t t = atomic_load_explicit(&f->tag, memory_order_relaxed);

		if (t == 0) {
			f->key = *k;
			/* R1: publish the key; pairs with A1 in the report. */
			atomic_store_explicit(&f->tag, tag, memory_order_release);
			store(&z->flows_used, ++ctx->flows_used);
			return f;
		}
		if (t == tag && memcmp(&f->key, k, sizeof(*k)) == 0)
			return f;
	}
	return NULL;
}

static inline unsigned
size_bin(unsigned len)
{
	if (len < 64)
		return 0;
	if (len == 64)
		return 1;
	if (len > 1518)
		return 7;
	/* 65-127 -> 2, 128-255 -> 3, ... 1024-1518 -> 6 */
	return (unsigned)(31 - __builtin_clz(len)) - 4;
}

/* Count one packet in @p d (burst deltas) and the flow table. */
static inline void
count(struct mon_ctx *ctx, const uint8_t *data, unsigned len, uint64_t *d, uint64_t *sizes)
{
	struct mpdp_pkt_info info;
	struct mon_flow *f;
	struct mon_key k;
	uint32_t pt;

	mpdp_pkt_parse(data, len, &info);
	pt = info.ptype;
	d[MON_C_PACKETS]++;
	d[MON_C_BYTES] += len;
	sizes[size_bin(len)]++;
	d[MON_C_ETH] += (pt & MPDP_PTYPE_ETH) != 0;
	d[MON_C_VLAN] += (pt & MPDP_PTYPE_VLAN) != 0;
	d[MON_C_ARP] += (pt & MPDP_PTYPE_ARP) != 0;
	d[MON_C_IPV4] += (pt & MPDP_PTYPE_IPV4) != 0;
	d[MON_C_IPV6] += (pt & MPDP_PTYPE_IPV6) != 0;
	d[MON_C_TCP] += (pt & MPDP_PTYPE_TCP) != 0;
	d[MON_C_UDP] += (pt & MPDP_PTYPE_UDP) != 0;
	d[MON_C_ICMP] += (pt & MPDP_PTYPE_ICMP) != 0;
	d[MON_C_L4_OTHER] += (pt & MPDP_PTYPE_L4_OTHER) != 0;
	d[MON_C_FRAG] += (pt & MPDP_PTYPE_FRAG) != 0;
	d[MON_C_OTHER] += (pt & (MPDP_PTYPE_ETH | MPDP_PTYPE_ARP | MPDP_PTYPE_IPV4 |
				 MPDP_PTYPE_IPV6)) == MPDP_PTYPE_ETH;
	d[MON_C_TRUNCATED] += (info.flags & MPDP_PKT_F_TRUNCATED) != 0;
	d[MON_C_MALFORMED] += (info.flags & MPDP_PKT_F_MALFORMED) != 0;

	/* Only an IP header that parsed whole names a flow; ports are 0 when
	 * there are none (non-first fragments, ICMP other than echo). */
	if (!(pt & (MPDP_PTYPE_IPV4 | MPDP_PTYPE_IPV6)) || info.l3_len == 0)
		return;
	memcpy(k.src, info.src_addr, sizeof(k.src));
	memcpy(k.dst, info.dst_addr, sizeof(k.dst));
	k.sport = info.src_port;
	k.dport = info.dst_port;
	k.ver = (pt & MPDP_PTYPE_IPV4) ? 4 : 6;
	k.proto = info.ip_proto;
	k.pad_[0] = k.pad_[1] = 0;
	f = flow_get(ctx, &k);
	if (f == NULL) {
		d[MON_C_UNTRACKED_PACKETS]++;
		d[MON_C_UNTRACKED_BYTES] += len;
		return;
	}
	add(&f->packets, 1);
	add(&f->bytes, len);
}

/* Record one packet; its time is the capture time, else @p now_real (ns). */
static void
capture(struct mon_ctx *ctx, const struct mpdp_mbuf *m, const uint8_t *data, uint64_t *now_real)
{
	struct pcap_pkthdr h;
	uint64_t ts = m->timestamp;

	if (ts == 0) {
		if (*now_real == 0) {
			struct timespec t;

			clock_gettime(CLOCK_REALTIME, &t);
			*now_real = (uint64_t)t.tv_sec * MON_NS + (uint64_t)t.tv_nsec;
		}
		ts = *now_real;
	}
	h.ts.tv_sec = (time_t)(ts / MON_NS);
	h.ts.tv_usec = (suseconds_t)(ts % MON_NS / 1000);
	h.caplen = h.len = m->data_len;
	pcap_dump((u_char *)ctx->dump, &h, data);
	ctx->unflushed = 1;
}

static void
mon_process(void *vctx, struct mpdp_mbuf **pkts, uint16_t n, uint16_t *next)
{
	struct mon_ctx *ctx = vctx;
	struct mon_zone *z = ctx->z;
	uint64_t d[MON_C_N_] = { 0 }, sizes[MON_N_BINS] = { 0 };
	uint64_t now_real = 0;

	for (uint16_t i = 0; i < n; i++) {
		const struct mpdp_mbuf *m = pkts[i];
		const uint8_t *data = mpdp_mbuf_data(m);

		next[i] = MON_NEXT_OUT;
		if (ctx->have_filter) {
			struct pcap_pkthdr h = { .caplen = m->data_len, .len = m->data_len };

			if (pcap_offline_filter(&ctx->filter, &h, data) == 0) {
				d[MON_C_FILTERED_PACKETS]++;
				d[MON_C_FILTERED_BYTES] += m->data_len;
				continue;
			}
		}
		count(ctx, data, m->data_len, d, sizes);
		if (ctx->dump != NULL)
			capture(ctx, m, data, &now_real);
	}
	for (unsigned c = 0; c < MON_C_N_; c++) {
		if (d[c] != 0)
			add(&z->c[c], d[c]);
	}
	for (unsigned b = 0; b < MON_N_BINS; b++) {
		if (sizes[b] != 0)
			add(&z->sizes[b], sizes[b]);
	}
}

/*
 * Every 100 ms or so, traffic or not: the rates since the newest sample that
 * is a second old (or the oldest, in the first second), the time counted so
 * far, and the capture written out.
 */
static void
mon_tick(void *vctx, uint64_t now)
{
	struct mon_ctx *ctx = vctx;
	struct mon_zone *z = ctx->z;
	struct mon_sample cur = { now, ld(&z->c[MON_C_PACKETS]), ld(&z->c[MON_C_BYTES]) };
	const struct mon_sample *old = NULL;

	for (unsigned i = 1; i <= MON_SAMPLES; i++) {
		old = &ctx->samples[(ctx->next + MON_SAMPLES - i) % MON_SAMPLES];
		if (now - old->ns >= MON_NS)
			break;
	}
	store(&z->rate_pps, per_second((double)(cur.packets - old->packets), now - old->ns));
	store(&z->rate_bps, per_second(8.0 * (double)(cur.bytes - old->bytes), now - old->ns));
	ctx->samples[ctx->next] = cur;
	ctx->next = (ctx->next + 1) % MON_SAMPLES;
	add(&z->run_ns, now - ld(&z->run_mark_ns));
	store(&z->run_mark_ns, now);
	if (ctx->unflushed) {
		pcap_dump_flush(ctx->dump);
		ctx->unflushed = 0;
	}
}

static void
capture_close(struct mon_ctx *ctx)
{
	if (ctx->dump != NULL)
		pcap_dump_close(ctx->dump);
	ctx->dump = NULL;
	if (ctx->have_filter)
		pcap_freecode(&ctx->filter);
	ctx->have_filter = 0;
	if (ctx->dead != NULL)
		pcap_close(ctx->dead);
	ctx->dead = NULL;
}

static int
capture_open(struct mon_ctx *ctx, const struct mon_opts *o, struct mpdp_errbuf *eb)
{
	FILE *fp;
	int err;

	if (o->filter == NULL && o->pcap == NULL)
		return 0;
	ctx->dead = pcap_open_dead(DLT_EN10MB, MON_SNAPLEN);
	if (ctx->dead == NULL)
		return mpdp_err_set(eb, -ENOMEM, "cannot make a libpcap handle");
	if (o->filter != NULL) {
		if (pcap_compile(ctx->dead, &ctx->filter, o->filter, 1, PCAP_NETMASK_UNKNOWN) != 0) {
			err = mpdp_err_set(eb, -EINVAL, "--filter '%s': %s", o->filter,
					   pcap_geterr(ctx->dead));
			goto fail;
		}
		ctx->have_filter = 1;
	}
	if (o->pcap == NULL)
		return 0;
	fp = fopen(o->pcap, "wb");
	if (fp == NULL) {
		err = -errno;
		mpdp_err_set(eb, err, "--pcap %s: cannot create the file: %s", o->pcap,
			     strerror(-err));
		goto fail;
	}
	/* Large writes; the tick flushes what a quiet input leaves buffered. */
	setvbuf(fp, NULL, _IOFBF, MON_PCAP_BUF);
	ctx->dump = pcap_dump_fopen(ctx->dead, fp);
	if (ctx->dump == NULL) {
		err = mpdp_err_set(eb, -EIO, "--pcap %s: %s", o->pcap, pcap_geterr(ctx->dead));
		fclose(fp);
		unlink(o->pcap);
		goto fail;
	}
	return 0;

fail:
	capture_close(ctx);
	return err;
}

static int
mon_init(void *vctx, const struct mpdp_stage_env *env, struct mpdp_errbuf *eb)
{
	struct mon_ctx *ctx = vctx;
	struct mon_sample start;
	struct mon_opts o;
	struct mon_zone *z;
	uint64_t len;
	void *addr;
	int rc;

	rc = opts_parse(env, &o, eb);
	if (rc != 0)
		return rc;
	/* Refuse a zone of another table size (or not ours) before making anything. */
	rc = mpdp_stage_zone_find(env, MON_ZONE_SUFFIX, &addr, &len, eb);
	if (rc == 0 && !zone_blank(addr, len))
		rc = zone_check(env->cfg->id, addr, len, o.flows, eb);
	else if (rc == -ENOENT)
		rc = 0;
	if (rc == 0)
		rc = capture_open(ctx, &o, eb);
	if (rc != 0)
		return rc;
	rc = mpdp_stage_zone(env, MON_ZONE_SUFFIX, zone_size(o.flows), &addr, eb);
	if (rc < 0) {
		if (o.pcap != NULL)
			unlink(o.pcap);
		capture_close(ctx);
		return rc;
	}
	z = addr;
	/* Blank: just made, or its maker died before writing the header (a zone
	 * with a header passed zone_check above). The framework lets one process
	 * at a time run the id, so nobody races us. */
	if (zone_blank(addr, zone_size(o.flows))) {
		z->version = MON_VERSION;
		z->header_size = offsetof(struct mon_zone, flows);
		z->flow_slots = o.flows;
		z->zone_len = zone_size(o.flows);
		/* R2: the header is whole before magic says so; pairs with A2. */
		atomic_store_explicit(&z->magic, MON_MAGIC, memory_order_release);
	}
	ctx->z = z;
	ctx->mask = o.flows - 1;
	ctx->probe = o.flows < MON_PROBE_MAX ? o.flows : MON_PROBE_MAX;
	ctx->flows_used = ld(&z->flows_used);
	start = (struct mon_sample){ mpdp_time_ns(), ld(&z->c[MON_C_PACKETS]),
				     ld(&z->c[MON_C_BYTES]) };
	/* A process that died left its mark: the time since its last tick is lost. */
	store(&z->run_mark_ns, start.ns);
	/* Rates start afresh: the time the stage was down is no part of them. */
	for (unsigned i = 0; i < MON_SAMPLES; i++)
		ctx->samples[i] = start;
	store(&z->rate_pps, 0);
	store(&z->rate_bps, 0);
	add(&z->starts, 1);
	MPDP_LOG(INFO, "stage %s: zone %s." MON_ZONE_SUFFIX ", %u flow slots, %" PRIu64
		 " in use, %" PRIu64 " packets so far", env->cfg->id, env->cfg->id, o.flows,
		 ctx->flows_used, start.packets);
	return 0;
}

static void
mon_fini(void *vctx)
{
	struct mon_ctx *ctx = vctx;
	struct mon_zone *z = ctx->z;

	add(&z->run_ns, mpdp_time_ns() - ld(&z->run_mark_ns));
	store(&z->run_mark_ns, 0);
	capture_close(ctx);
}

/* ---- report: reads the zone only, from any process ---- */

struct mon_row {
	struct mon_key key;
	uint64_t packets, bytes;
};

/* Is a before b in the list ranked by @p by_bytes? Ties: the other count, then the key. */
static int
row_before(const struct mon_row *a, const struct mon_row *b, int by_bytes)
{
	uint64_t a1 = by_bytes ? a->bytes : a->packets, b1 = by_bytes ? b->bytes : b->packets;
	uint64_t a2 = by_bytes ? a->packets : a->bytes, b2 = by_bytes ? b->packets : b->bytes;

	if (a1 != b1)
		return a1 > b1;
	if (a2 != b2)
		return a2 > b2;
	return memcmp(&a->key, &b->key, sizeof(a->key)) < 0;
}

/* Keep the best @p cap rows of @p list (sorted, *n of them) with @p r offered. */
static void
top_offer(struct mon_row *list, unsigned *n, unsigned cap, const struct mon_row *r, int by_bytes)
{
	unsigned i;

	if (*n == cap && !row_before(r, &list[cap - 1], by_bytes))
		return;
	i = *n < cap ? (*n)++ : cap - 1;
	while (i > 0 && row_before(r, &list[i - 1], by_bytes)) {
		list[i] = list[i - 1];
		i--;
	}
	list[i] = *r;
}

static const char *
proto_name(uint8_t proto, uint8_t ver, char *buf, size_t size)
{
	switch (proto) {
	case 6:
		return "tcp";
	case 17:
		return "udp";
	case 1:
		return ver == 4 ? "icmp" : "1";
	case 58:
		return ver == 6 ? "icmp6" : "58";
	default:
		snprintf(buf, size, "%u", proto);
		return buf;
	}
}

static void
addr_str(const struct mon_key *k, const uint8_t *a, char *buf, size_t size)
{
	if (inet_ntop(k->ver == 4 ? AF_INET : AF_INET6, a, buf, (socklen_t)size) == NULL)
		snprintf(buf, size, "?");
}

struct mon_snap {
	uint64_t c[MON_C_N_];
	uint64_t sizes[MON_N_BINS];
	uint64_t flows_used, starts;
	uint32_t slots;
	uint64_t rate_pps, rate_bps, avg_pps, avg_bps;
	double seconds;
	int running;
};

static void
snap_take(struct mon_zone *z, const struct mpdp_stage_env *env, struct mon_snap *s)
{
	struct mpdp_abi_stage *slot;
	uint64_t now = mpdp_time_ns(), run = ld(&z->run_ns), mark = ld(&z->run_mark_ns);

	for (unsigned c = 0; c < MON_C_N_; c++)
		s->c[c] = ld(&z->c[c]);
	for (unsigned b = 0; b < MON_N_BINS; b++)
		s->sizes[b] = ld(&z->sizes[b]);
	s->flows_used = ld(&z->flows_used);
	s->starts = ld(&z->starts);
	s->slots = z->flow_slots;
	s->running = 0;
	if (mpdp_stage_find(env->shm, env->cfg->id, &slot) == 0) {
		uint32_t st = mpdp_stage_slot_state(slot);

		s->running = st == MPDP_STAGE_RUNNING || st == MPDP_STAGE_STOPPING;
	}
	if (s->running && mark != 0 && now > mark)
		run += now - mark;
	s->seconds = (double)run / 1e9;
	/* The worker's tick keeps the rates; a stage that is down has none. */
	s->rate_pps = s->running ? ld(&z->rate_pps) : 0;
	s->rate_bps = s->running ? ld(&z->rate_bps) : 0;
	s->avg_pps = per_second((double)s->c[MON_C_PACKETS], run);
	s->avg_bps = per_second(8.0 * (double)s->c[MON_C_BYTES], run);
}

static void
print_rows_text(FILE *f, const char *title, const struct mon_row *rows, unsigned n,
		unsigned top)
{
	fprintf(f, "top %u flows by %s\n", top, title);
	fprintf(f, "  %4s %-5s %-39s %-39s %5s %5s %12s %14s\n", "rank", "proto", "src", "dst",
		"sport", "dport", "packets", "bytes");
	for (unsigned i = 0; i < n; i++) {
		const struct mon_row *r = &rows[i];
		char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN], pb[8];

		addr_str(&r->key, r->key.src, src, sizeof(src));
		addr_str(&r->key, r->key.dst, dst, sizeof(dst));
		fprintf(f, "  %4u %-5s %-39s %-39s %5u %5u %12" PRIu64 " %14" PRIu64 "\n", i + 1,
			proto_name(r->key.proto, r->key.ver, pb, sizeof(pb)), src, dst, r->key.sport,
			r->key.dport, r->packets, r->bytes);
	}
}

/* The counters, rates, protocols and sizes, as text (report and `stats`). */
static void
stats_text(FILE *f, const char *id, const struct mon_snap *s)
{
	fprintf(f, "mon %s: %s, %" PRIu64 " start%s\n", id, s->running ? "running" : "stopped",
		s->starts, s->starts == 1 ? "" : "s");
	fprintf(f, "total      packets %" PRIu64 " bytes %" PRIu64 "\n", s->c[MON_C_PACKETS],
		s->c[MON_C_BYTES]);
	fprintf(f, "rate       last_second %" PRIu64 " pps %" PRIu64 " bps, average %" PRIu64
		" pps %" PRIu64 " bps over %.3f s\n", s->rate_pps, s->rate_bps, s->avg_pps,
		s->avg_bps, s->seconds);
	fprintf(f, "flows      tracked %" PRIu64 " slots %u not_tracked_packets %" PRIu64
		" not_tracked_bytes %" PRIu64 "\n", s->flows_used, s->slots,
		s->c[MON_C_UNTRACKED_PACKETS], s->c[MON_C_UNTRACKED_BYTES]);
	fprintf(f, "filter     filtered_out_packets %" PRIu64 " filtered_out_bytes %" PRIu64 "\n",
		s->c[MON_C_FILTERED_PACKETS], s->c[MON_C_FILTERED_BYTES]);
	fprintf(f, "protocols\n");
	for (unsigned c = MON_C_ETH; c < MON_C_N_; c++)
		fprintf(f, "  %-12s %14" PRIu64 "\n", mon_counter_names[c], s->c[c]);
	fprintf(f, "sizes\n");
	for (unsigned b = 0; b < MON_N_BINS; b++)
		fprintf(f, "  %-12s %14" PRIu64 "\n", mon_bins[b].label, s->sizes[b]);
}

static void
print_rows_json(FILE *f, const char *key, const struct mon_row *rows, unsigned n)
{
	fprintf(f, ",\"%s\":[", key);
	for (unsigned i = 0; i < n; i++) {
		const struct mon_row *r = &rows[i];
		char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN], pb[8];

		addr_str(&r->key, r->key.src, src, sizeof(src));
		addr_str(&r->key, r->key.dst, dst, sizeof(dst));
		fprintf(f, "%s{\"ip\":%u,\"proto\":\"%s\",\"ip_proto\":%u,\"src\":\"%s\","
			"\"dst\":\"%s\",\"sport\":%u,\"dport\":%u,\"packets\":%" PRIu64
			",\"bytes\":%" PRIu64 "}", i ? "," : "", r->key.ver,
			proto_name(r->key.proto, r->key.ver, pb, sizeof(pb)), r->key.proto, src, dst,
			r->key.sport, r->key.dport, r->packets, r->bytes);
	}
	fprintf(f, "]");
}

/* The report's members up to "sizes", without braces (report and `stats`). */
static void
stats_json(FILE *f, const char *id, const struct mon_snap *s)
{
	fprintf(f, "\"stage\":");
	mpdp_json_str(f, id);
	fprintf(f, ",\"running\":%s,\"starts\":%" PRIu64 ",\"packets\":%" PRIu64
		",\"bytes\":%" PRIu64, s->running ? "true" : "false", s->starts,
		s->c[MON_C_PACKETS], s->c[MON_C_BYTES]);
	fprintf(f, ",\"rates\":{\"last_second_pps\":%" PRIu64 ",\"last_second_bps\":%" PRIu64
		",\"average_pps\":%" PRIu64 ",\"average_bps\":%" PRIu64 ",\"seconds\":%.3f}",
		s->rate_pps, s->rate_bps, s->avg_pps, s->avg_bps, s->seconds);
	fprintf(f, ",\"flows\":{\"tracked\":%" PRIu64 ",\"slots\":%u,\"not_tracked_packets\":%"
		PRIu64 ",\"not_tracked_bytes\":%" PRIu64 "}", s->flows_used, s->slots,
		s->c[MON_C_UNTRACKED_PACKETS], s->c[MON_C_UNTRACKED_BYTES]);
	fprintf(f, ",\"filter\":{\"filtered_out_packets\":%" PRIu64
		",\"filtered_out_bytes\":%" PRIu64 "}", s->c[MON_C_FILTERED_PACKETS],
		s->c[MON_C_FILTERED_BYTES]);
	fprintf(f, ",\"protocols\":{");
	for (unsigned c = MON_C_ETH; c < MON_C_N_; c++)
		fprintf(f, "%s\"%s\":%" PRIu64, c == MON_C_ETH ? "" : ",", mon_counter_names[c],
			s->c[c]);
	fprintf(f, "},\"sizes\":[");
	for (unsigned b = 0; b < MON_N_BINS; b++)
		fprintf(f, "%s{\"bin\":\"%s\",\"lo\":%u,\"hi\":%u,\"packets\":%" PRIu64 "}",
			b ? "," : "", mon_bins[b].label, mon_bins[b].lo, mon_bins[b].hi,
			s->sizes[b]);
	fprintf(f, "]");
}

/* The top lists: by bytes and by packets, @p top rows at most each. */
struct mon_tops {
	struct mon_row *by_bytes, *by_pkts;
	unsigned nb, np, top;
};

static void
tops_free(struct mon_tops *t)
{
	free(t->by_bytes);
	free(t->by_pkts);
	memset(t, 0, sizeof(*t));
}

/* Rank every flow of the table (report and `top`). */
static int
tops_take(struct mon_zone *z, uint32_t slots, unsigned top, struct mon_tops *t,
	  struct mpdp_errbuf *eb)
{
	memset(t, 0, sizeof(*t));
	t->top = top;
	t->by_bytes = calloc(top, sizeof(*t->by_bytes));
	t->by_pkts = calloc(top, sizeof(*t->by_pkts));
	if (t->by_bytes == NULL || t->by_pkts == NULL) {
		tops_free(t);
		return mpdp_err_set(eb, -ENOMEM, "out of memory");
	}
	for (uint32_t i = 0; i < slots; i++) {
		struct mon_flow *fl = &z->flows[i];
		struct mon_row r;

		/* A1 pairs with R1: the key is whole once the tag is seen. */
		if (atomic_load_explicit(&fl->tag, memory_order_acquire) == 0)
			continue;
		r.key = fl->key;
		r.packets = ld(&fl->packets);
		r.bytes = ld(&fl->bytes);
		top_offer(t->by_bytes, &t->nb, top, &r, 1);
		top_offer(t->by_pkts, &t->np, top, &r, 0);
	}
	return 0;
}

/* The zone of the stage, checked, and a snapshot of its counters (report and commands). */
static int
view_open(const struct mpdp_stage_env *env, struct mon_zone **zp, struct mon_snap *s,
	  struct mpdp_errbuf *eb)
{
	uint64_t len;
	void *addr;
	int rc = mpdp_stage_zone_find(env, MON_ZONE_SUFFIX, &addr, &len, eb);

	if (rc == 0)
		rc = zone_check(env->cfg->id, addr, len, 0, eb);
	if (rc != 0)
		return rc;
	*zp = addr;
	snap_take(*zp, env, s);
	return 0;
}

static int
mon_report(const struct mpdp_stage_env *env, FILE *f, struct mpdp_errbuf *eb)
{
	struct mon_tops t;
	struct mon_snap s;
	struct mon_opts o;
	struct mon_zone *z;
	int rc;

	rc = opts_parse(env, &o, eb);
	if (rc == 0)
		rc = view_open(env, &z, &s, eb);
	if (rc == 0)
		rc = tops_take(z, s.slots, o.top, &t, eb);
	if (rc != 0)
		return rc;
	if (env->json) {
		/* One object on one line, without its newline: the framework puts it under "report". */
		fprintf(f, "{");
		stats_json(f, env->cfg->id, &s);
		fprintf(f, ",\"top\":%u", o.top);
		print_rows_json(f, "top_by_bytes", t.by_bytes, t.nb);
		print_rows_json(f, "top_by_packets", t.by_pkts, t.np);
		fprintf(f, "}");
	} else {
		stats_text(f, env->cfg->id, &s);
		print_rows_text(f, "bytes", t.by_bytes, t.nb, o.top);
		print_rows_text(f, "packets", t.by_pkts, t.np, o.top);
	}
	tops_free(&t);
	return 0;
}

/* ---- commands ---- */

/* top [N] [bytes|packets] */
static int
cmd_top(const struct mpdp_stage_env *env, void *const *ctxs, int argc, char **argv, int json,
	FILE *out, struct mpdp_errbuf *eb)
{
	int lists = 3;            /* 1: by bytes, 2: by packets */
	uint64_t top = MON_TOP_DEFAULT;
	struct mon_tops t;
	struct mon_snap s;
	struct mon_zone *z;
	int rc;

	(void)ctxs;
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "bytes") == 0)
			lists = 1;
		else if (strcmp(argv[i], "packets") == 0)
			lists = 2;
		else if (mpdp_parse_u64(argv[i], 1, MON_TOP_CMD_MAX, &top) != 0)
			return mpdp_err_set(eb, -EINVAL, "top: '%s' is neither a number of flows from 1 to "
					    "%u nor 'bytes' or 'packets'", argv[i], MON_TOP_CMD_MAX);
	}
	rc = view_open(env, &z, &s, eb);
	if (rc == 0)
		rc = tops_take(z, s.slots, (unsigned)top, &t, eb);
	if (rc != 0)
		return rc;
	if (json) {
		fprintf(out, "{\"stage\":");
		mpdp_json_str(out, env->cfg->id);
		fprintf(out, ",\"tracked\":%" PRIu64 ",\"slots\":%u,\"not_tracked_packets\":%" PRIu64
			",\"top\":%u", s.flows_used, s.slots, s.c[MON_C_UNTRACKED_PACKETS], t.top);
		if (lists & 1)
			print_rows_json(out, "top_by_bytes", t.by_bytes, t.nb);
		if (lists & 2)
			print_rows_json(out, "top_by_packets", t.by_pkts, t.np);
		fprintf(out, "}\n");
	} else {
		fprintf(out, "mon %s: %" PRIu64 " flows tracked in %u slots, %" PRIu64
			" packets not tracked\n", env->cfg->id, s.flows_used, s.slots,
			s.c[MON_C_UNTRACKED_PACKETS]);
		if (lists & 1)
			print_rows_text(out, "bytes", t.by_bytes, t.nb, t.top);
		if (lists & 2)
			print_rows_text(out, "packets", t.by_pkts, t.np, t.top);
	}
	tops_free(&t);
	return 0;
}

/* stats */
static int
cmd_stats(const struct mpdp_stage_env *env, void *const *ctxs, int argc, char **argv, int json,
	  FILE *out, struct mpdp_errbuf *eb)
{
	struct mon_snap s;
	struct mon_zone *z;
	int rc;

	(void)ctxs;
	(void)argv;
	if (argc != 0)
		return mpdp_err_set(eb, -EINVAL, "stats: takes no arguments");
	rc = view_open(env, &z, &s, eb);
	if (rc != 0)
		return rc;
	if (json) {
		fprintf(out, "{");
		stats_json(out, env->cfg->id, &s);
		fprintf(out, "}\n");
	} else {
		stats_text(out, env->cfg->id, &s);
	}
	return 0;
}

static const struct mpdp_stage_command mon_commands[] = {
	{ "top", "[N] [bytes|packets]",
	  "the N flows with the most bytes and with the most packets (10; at most 1000), "
	  "or one of the two lists", cmd_top },
	{ "stats", NULL, "totals, rates, flow table use, protocols and sizes", cmd_stats },
	{ NULL, NULL, NULL, NULL },
};

static const char *const mon_next_names[MON_N_NEXT] = { "drop", "out" };

static const struct mpdp_stage_option mon_options[] = {
	{ "flows", "N", "flow table slots, a power of two from 64 to 1048576 (default 4096)" },
	{ "top", "N", "flows in each top list of the report, 1 to 100 (default 10)" },
	{ "pcap", "FILE", "write every packet counted to FILE (microsecond pcap)" },
	{ "filter", "EXPR", "count (and capture) only packets matching the pcap filter EXPR" },
	{ NULL, NULL, NULL },
};

const struct mpdp_stage mon_stage = {
	.name = "mon",
	.summary = "count packets by protocol, size and flow, pass them on to 'out'",
	.ctx_size = sizeof(struct mon_ctx),
	.n_next = MON_N_NEXT,
	.next_names = mon_next_names,
	.max_workers = 1,
	.options = mon_options,
	.init = mon_init,
	.fini = mon_fini,
	.process = mon_process,
	.tick = mon_tick,
	.report = mon_report,
	.commands = mon_commands,
};


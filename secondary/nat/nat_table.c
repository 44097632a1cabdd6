/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mpdp-nat sessions and ports. The bitmaps are the allocator's truth while
 * the process runs; the flowtab is the truth across a restart (the bitmaps
 * are rebuilt from it), so the order of a flowtab change and its bitmap
 * change never matters after a crash.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "nat_table.h"

/* Visit the whole table in about this many ticks (MPDP_STAGE_TICK_NS each: 5 s). */
#define SCAN_TICKS 50u
#define SCAN_BUDGET_MIN 64u
/* Ports tried when the bitmap and the table disagree (never, unless damaged). */
#define ALLOC_TRIES 8

#define NAT_C_NAME(e, s) s,
static const char *const counter_names[NAT_C_N_] = { NAT_COUNTERS(NAT_C_NAME) };
#undef NAT_C_NAME

const char *
nat_counter_name(enum nat_counter c)
{
	return (unsigned)c < NAT_C_N_ ? counter_names[c] : "?";
}

static uint64_t
round64(uint64_t n)
{
	return (n + 63) & ~(uint64_t)63;
}

static void
params_of(const struct nat_config *cfg, struct mpdp_flowtab_params *p)
{
	memset(p, 0, sizeof(*p));
	/* Static mappings come on top of --max-sessions, so they never crowd it. */
	p->max_records = cfg->max_sessions + cfg->n_dnat;
	p->key_size = sizeof(struct nat_key);
	p->body_size = sizeof(struct nat_sess);
	p->n_keys = 2;
}

struct layout {
	uint64_t bitmap_off, table_off, table_len, zone_len;
};

static int
layout_of(const struct nat_config *cfg, struct layout *l)
{
	struct mpdp_flowtab_params p;

	params_of(cfg, &p);
	l->table_len = mpdp_flowtab_mem_size(&p);
	if (l->table_len == 0)
		return -EINVAL;
	l->bitmap_off = round64(sizeof(struct nat_zone));
	l->table_off = round64(l->bitmap_off + (uint64_t)cfg->n_addrs * NAT_BM_N_ * NAT_BM_WORDS * 8);
	l->zone_len = l->table_off + l->table_len;
	return 0;
}

uint64_t
nat_table_zone_size(const struct nat_config *cfg)
{
	struct layout l;

	return layout_of(cfg, &l) == 0 ? l.zone_len : 0;
}

/* A stored configuration whose counts could index past the zone is damage. */
static int
config_sane(const struct nat_config *c)
{
	if (c->n_snat > NAT_SNAT_MAX || c->n_dnat > NAT_DNAT_MAX || c->n_addrs > NAT_ADDRS_MAX ||
	    c->max_sessions < 1 || c->max_sessions > NAT_SESSIONS_MAX)
		return 0;
	for (uint32_t i = 0; i < c->n_snat; i++) {
		if ((uint32_t)c->snat[i].addr_base + c->snat[i].n_addrs > c->n_addrs)
			return 0;
	}
	for (unsigned k = 0; k < NAT_TO_N_; k++) {
		if (c->timeout_s[k] < 1 || c->timeout_s[k] > NAT_TIMEOUT_MAX)
			return 0;
	}
	return 1;
}

int
nat_table_check(const void *mem, uint64_t len, const struct nat_config *cfg, const char *zone,
		struct mpdp_errbuf *eb)
{
	const struct nat_zone *z = mem;
	char why[2 * NAT_RULE_STR_MAX + 64];
	struct layout l;
	uint32_t magic;

	if (len < sizeof(*z))
		return mpdp_err_set(eb, -EPROTO, "zone '%s' is %" PRIu64 " bytes: not a NAT zone",
				    zone, len);
	/* A1 pairs with R1 in nat_table_open(): the header is whole once magic is seen. */
	magic = atomic_load_explicit(&((struct nat_zone *)(uintptr_t)mem)->magic,
				     memory_order_acquire);
	if (magic == 0)
		return 1;
	if (magic != NAT_ZONE_MAGIC)
		return mpdp_err_set(eb, -EPROTO, "zone '%s' is not a NAT zone (bad magic)", zone);
	if (z->version != NAT_ZONE_VERSION || z->header_size != sizeof(*z))
		return mpdp_err_set(eb, -EPROTO, "zone '%s' has NAT layout version %u, this program "
				    "reads version %u", zone, z->version, NAT_ZONE_VERSION);
	if (!config_sane(&z->cfg) || layout_of(&z->cfg, &l) != 0 || z->zone_len != l.zone_len ||
	    z->bitmap_off != l.bitmap_off || z->table_off != l.table_off ||
	    z->table_len != l.table_len || len < l.zone_len)
		return mpdp_err_set(eb, -EPROTO, "zone '%s': inconsistent NAT header (%" PRIu64
				    " bytes)", zone, len);
	if (cfg != NULL && !nat_config_same_shape(&z->cfg, cfg, why, sizeof(why)))
		return mpdp_err_set(eb, -EEXIST, "zone '%s' holds the sessions of another "
				    "configuration (%s): restart with the --snat, --dnat and "
				    "--max-sessions it was made with, or use another --stage id",
				    zone, why);
	return 0;
}

static inline unsigned
bm_of(uint8_t proto)
{
	return proto == IPPROTO_TCP ? NAT_BM_TCP : proto == IPPROTO_UDP ? NAT_BM_UDP : NAT_BM_ICMP;
}

static inline uint64_t *
bitmap(const struct nat_table *t, unsigned addr_idx, unsigned bm)
{
	return t->bitmaps + ((size_t)addr_idx * NAT_BM_N_ + bm) * NAT_BM_WORDS;
}

static inline void
bit_set(uint64_t *bm, uint32_t port)
{
	bm[port >> 6] |= 1ull << (port & 63);
}

static inline void
bit_clear(uint64_t *bm, uint32_t port)
{
	bm[port >> 6] &= ~(1ull << (port & 63));
}

/* First clear bit in [from, to] (from <= to), or -1: a word at a time. */
static int
find_clear(const uint64_t *bm, uint32_t from, uint32_t to)
{
	uint32_t w = from >> 6, last = to >> 6;
	uint64_t free = ~bm[w] & (~0ull << (from & 63));

	for (;;) {
		if (w == last)
			free &= ~0ull >> (63 - (to & 63));
		if (free != 0)
			return (int)(w << 6 | (uint32_t)__builtin_ctzll(free));
		if (w == last)
			return -1;
		free = ~bm[++w];
	}
}

static void
gauge(struct nat_table *t)
{
	atomic_store_explicit(&t->z->c[NAT_C_SESSIONS_ACTIVE], mpdp_flowtab_count(t->ft),
			      memory_order_relaxed);
}

static void
port_release(struct nat_table *t, const struct nat_sess *s)
{
	if (s->addr_idx < t->cfg->n_addrs)
		bit_clear(bitmap(t, s->addr_idx, bm_of(s->proto)), ntohs(s->out_port));
}

static void
handle_init(struct nat_table *t, struct nat_zone *z, struct mpdp_flowtab *ft)
{
	uint32_t records = mpdp_flowtab_params(ft)->max_records;

	t->z = z;
	t->ft = ft;
	t->cfg = &z->cfg;
	t->bitmaps = (uint64_t *)((uint8_t *)z + z->bitmap_off);
	for (unsigned k = 0; k < NAT_TO_N_; k++)
		t->timeout_ns[k] = (uint64_t)z->cfg.timeout_s[k] * 1000000000ull;
	t->scan_cursor = 0;
	t->scan_budget = (records + SCAN_TICKS - 1) / SCAN_TICKS;
	if (t->scan_budget < SCAN_BUDGET_MIN)
		t->scan_budget = SCAN_BUDGET_MIN;
}

static void
key_fill(struct nat_key *k, uint32_t addr, uint16_t port, uint8_t proto, uint8_t side)
{
	k->addr = addr;
	k->port = port;
	k->proto = proto;
	k->side = side;
}

/* The --dnat rules as permanent sessions, their outside ports reserved. */
static int
statics_add(struct nat_table *t, const char *zone, struct mpdp_errbuf *eb)
{
	const struct nat_config *c = t->cfg;

	for (uint32_t i = 0; i < c->n_dnat; i++) {
		const struct nat_dnat *d = &c->dnat[i];
		struct nat_key in, out;
		const void *keys[2] = { &in, &out };
		uint32_t hashes[2], id;
		struct nat_sess *s;
		int idx = nat_config_addr_index(c, d->out_addr), rc;

		key_fill(&in, htonl(d->in_addr), htons(d->in_port), d->proto, NAT_SIDE_INSIDE);
		key_fill(&out, htonl(d->out_addr), htons(d->out_port), d->proto, NAT_SIDE_OUTSIDE);
		hashes[0] = mpdp_flowtab_hash(&in, sizeof(in));
		hashes[1] = mpdp_flowtab_hash(&out, sizeof(out));
		if (idx < 0)
			return mpdp_err_set(eb, -EINVAL, "zone '%s': --dnat rule %u has no outside "
					    "address index", zone, i + 1);
		rc = mpdp_flowtab_add(t->ft, keys, hashes, &id);
		if (rc != 0)
			return mpdp_err_set(eb, rc, "zone '%s': cannot add the static mapping of "
					    "--dnat rule %u: %s", zone, i + 1, mpdp_strerror(rc));
		s = nat_table_sess(t, id);
		s->in_addr = in.addr;
		s->in_port = in.port;
		s->out_addr = out.addr;
		s->out_port = out.port;
		s->addr_idx = (uint16_t)idx;
		s->proto = d->proto;
		s->cls = NAT_CLASS_STATIC;
		bit_set(bitmap(t, (unsigned)idx, bm_of(d->proto)), d->out_port);
	}
	return 0;
}

/* After a restart: the bitmaps again from the sessions; damaged records go. */
static void
bitmaps_rebuild(struct nat_table *t)
{
	const struct nat_config *c = t->cfg;
	uint32_t id = MPDP_FLOWTAB_NONE;

	memset(t->bitmaps, 0, (size_t)c->n_addrs * NAT_BM_N_ * NAT_BM_WORDS * 8);
	while ((id = mpdp_flowtab_next(t->ft, id)) != MPDP_FLOWTAB_NONE) {
		struct nat_sess *s = nat_table_sess(t, id);

		if (s->addr_idx >= c->n_addrs || c->addrs[s->addr_idx] != ntohl(s->out_addr) ||
		    (s->cls >= NAT_TO_N_ && s->cls != NAT_CLASS_STATIC) ||
		    (s->proto != IPPROTO_TCP && s->proto != IPPROTO_UDP && s->proto != IPPROTO_ICMP)) {
			mpdp_flowtab_del(t->ft, id);
			continue;
		}
		bit_set(bitmap(t, s->addr_idx, bm_of(s->proto)), ntohs(s->out_port));
	}
}

int
nat_table_open(struct nat_table *t, void *mem, uint64_t len, const struct nat_config *cfg,
	       const char *zone, struct mpdp_errbuf *eb)
{
	struct nat_zone *z = mem;
	struct mpdp_flowtab_params p;
	struct mpdp_flowtab *ft;
	struct layout l;
	int rc, blank;

	/* The zone's own configuration first: its message says what differs. */
	rc = nat_table_check(mem, len, cfg, zone, eb);
	if (rc < 0)
		return rc;
	if (layout_of(cfg, &l) != 0)
		return mpdp_err_set(eb, -EINVAL, "--max-sessions %u: too many for a flow table",
				    cfg->max_sessions);
	if (len < l.zone_len)
		return mpdp_err_set(eb, -EINVAL, "zone '%s' is %" PRIu64 " bytes, the NAT needs %"
				    PRIu64, zone, len, l.zone_len);
	blank = rc == 1;
	params_of(cfg, &p);
	if (blank) {
		/* Made now, or its maker died before magic: start it over. The
		 * framework runs one process per id, so nobody else is here. */
		z->version = NAT_ZONE_VERSION;
		z->header_size = sizeof(*z);
		z->zone_len = l.zone_len;
		z->bitmap_off = l.bitmap_off;
		z->table_off = l.table_off;
		z->table_len = l.table_len;
		for (unsigned c = 0; c < NAT_C_N_; c++)
			atomic_store_explicit(&z->c[c], 0, memory_order_relaxed);
		atomic_store_explicit(&z->starts, 0, memory_order_relaxed);
		z->cfg = *cfg;
		memset((uint8_t *)z + l.bitmap_off, 0, l.table_off - l.bitmap_off);
	}
	rc = mpdp_flowtab_open((uint8_t *)z + z->table_off, z->table_len, &p, &ft, eb);
	if (rc < 0)
		return rc;
	/* Timeouts are not part of the shape: the latest command line rules. */
	if (!blank)
		memcpy(z->cfg.timeout_s, cfg->timeout_s, sizeof(z->cfg.timeout_s));
	handle_init(t, z, ft);
	if (blank) {
		uint32_t id;

		/* A table left by a maker that died: its sessions never ran. */
		while ((id = mpdp_flowtab_next(ft, MPDP_FLOWTAB_NONE)) != MPDP_FLOWTAB_NONE)
			mpdp_flowtab_del(ft, id);
		rc = statics_add(t, zone, eb);
		if (rc != 0)
			return rc;
		/* R1: the header, bitmaps and table are whole before magic; pairs with A1. */
		atomic_store_explicit(&z->magic, NAT_ZONE_MAGIC, memory_order_release);
	} else {
		bitmaps_rebuild(t);
	}
	atomic_fetch_add_explicit(&z->starts, 1, memory_order_relaxed);
	gauge(t);
	return blank ? 0 : 1;
}

int
nat_table_view(struct nat_table *t, void *mem, uint64_t len, const char *zone,
	       struct mpdp_errbuf *eb)
{
	struct nat_zone *z = mem;
	struct mpdp_flowtab_params p;
	struct mpdp_flowtab *ft;
	int rc = nat_table_check(mem, len, NULL, zone, eb);

	if (rc == 1)
		return mpdp_err_set(eb, -EPROTO, "zone '%s' is not set up yet (or its NAT died "
				    "setting it up)", zone);
	if (rc != 0)
		return rc;
	/* The zone's magic says its table was made: this attaches, writing nothing. */
	params_of(&z->cfg, &p);
	rc = mpdp_flowtab_open((uint8_t *)z + z->table_off, z->table_len, &p, &ft, eb);
	if (rc < 0)
		return rc;
	handle_init(t, z, ft);
	return 0;
}

void
nat_table_remove(struct nat_table *t, uint32_t id)
{
	port_release(t, nat_table_sess(t, id));
	mpdp_flowtab_del(t->ft, id);
	gauge(t);
}

uint32_t
nat_table_lookup(struct nat_table *t, const struct nat_key *k, uint64_t now)
{
	uint32_t id = mpdp_flowtab_lookup(t->ft, k, mpdp_flowtab_hash(k, sizeof(*k)), NULL);

	if (id != MPDP_FLOWTAB_NONE && nat_table_expired(t, nat_table_sess(t, id), now)) {
		nat_table_remove(t, id);
		nat_table_count(t, NAT_C_SESSIONS_EXPIRED, 1);
		return MPDP_FLOWTAB_NONE;
	}
	return id;
}

int
nat_table_create(struct nat_table *t, uint8_t proto, uint32_t in_addr, uint16_t in_port,
		 const struct nat_snat *r, uint64_t now, uint32_t *id)
{
	uint32_t ih = ntohl(in_addr), want = ntohs(in_port), start;
	unsigned idx = r->addr_base + ih % r->n_addrs;
	uint32_t out_addr = htonl(t->cfg->addrs[idx]);
	uint64_t *bm = bitmap(t, idx, bm_of(proto));
	struct nat_key in, out;
	const void *keys[2] = { &in, &out };
	uint32_t hashes[2];
	struct nat_sess *s;
	int port = -1, rc = -EEXIST;

	if (mpdp_flowtab_count(t->ft) >= mpdp_flowtab_params(t->ft)->max_records) {
		nat_table_count(t, NAT_C_DROP_TABLE_FULL, 1);
		return -ENOSPC;
	}
	start = want >= r->port_lo && want <= r->port_hi ? want : r->port_lo;
	key_fill(&in, in_addr, in_port, proto, NAT_SIDE_INSIDE);
	hashes[0] = mpdp_flowtab_hash(&in, sizeof(in));
	for (int tries = 0; tries < ALLOC_TRIES && rc == -EEXIST; tries++) {
		port = find_clear(bm, start, r->port_hi);
		if (port < 0 && start > r->port_lo)
			port = find_clear(bm, r->port_lo, start - 1);
		if (port < 0) {
			nat_table_count(t, NAT_C_DROP_PORTS_EXHAUSTED, 1);
			return -EADDRNOTAVAIL;
		}
		key_fill(&out, out_addr, htons((uint16_t)port), proto, NAT_SIDE_OUTSIDE);
		hashes[1] = mpdp_flowtab_hash(&out, sizeof(out));
		rc = mpdp_flowtab_add(t->ft, keys, hashes, id);
		/* The port is taken by a session the bitmap missed: mark it, go on. */
		if (rc == -EEXIST) {
			if (mpdp_flowtab_lookup(t->ft, &out, hashes[1], NULL) == MPDP_FLOWTAB_NONE)
				return rc;
			bit_set(bm, (uint32_t)port);
		}
	}
	if (rc == -ENOSPC)
		nat_table_count(t, NAT_C_DROP_TABLE_FULL, 1);
	if (rc != 0)
		return rc;
	bit_set(bm, (uint32_t)port);
	s = nat_table_sess(t, *id);
	s->last_ns = now;
	s->in_addr = in_addr;
	s->in_port = in_port;
	s->out_addr = out_addr;
	s->out_port = out.port;
	s->addr_idx = (uint16_t)idx;
	s->proto = proto;
	s->cls = proto == IPPROTO_TCP ? NAT_TO_TCP_TRANS : proto == IPPROTO_UDP ? NAT_TO_UDP :
									   NAT_TO_ICMP;
	nat_table_count(t, NAT_C_SESSIONS_CREATED, 1);
	gauge(t);
	return 0;
}

struct expire_arg {
	struct nat_table *t;
	uint64_t now;
};

static int
expire_one(void *body, uint32_t id, void *varg)
{
	struct expire_arg *a = varg;
	struct nat_sess *s = body;

	(void)id;
	if (!nat_table_expired(a->t, s, a->now))
		return 0;
	/* The scan deletes the record once this returns: free its port first. */
	port_release(a->t, s);
	return 1;
}

uint32_t
nat_table_expire(struct nat_table *t, uint64_t now, uint32_t budget)
{
	struct expire_arg a = { t, now };
	uint32_t n = mpdp_flowtab_scan(t->ft, &t->scan_cursor, budget ? budget : t->scan_budget,
				       expire_one, &a);

	if (n != 0) {
		nat_table_count(t, NAT_C_SESSIONS_EXPIRED, n);
		gauge(t);
	}
	return n;
}

uint32_t
nat_table_ports_used(const struct nat_table *t, unsigned addr_idx, enum nat_bm_proto bm)
{
	const uint64_t *b;
	uint32_t n = 0;

	if (addr_idx >= t->cfg->n_addrs || (unsigned)bm >= NAT_BM_N_)
		return 0;
	b = bitmap(t, addr_idx, bm);
	for (unsigned w = 0; w < NAT_BM_WORDS; w++)
		n += (uint32_t)__builtin_popcountll(b[w]);
	return n;
}

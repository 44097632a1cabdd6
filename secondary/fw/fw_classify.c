/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The classifier: per-dimension equivalence classes with aggregated bit
 * vectors (see fw_classify.h for the idea).
 *
 * Words and bits: rule i is bit i % 64 of word i / 64; summary bit j says
 * word j is not zero. A dimension's vector for class c is
 *
 *     wild | spec(c)
 *
 * where wild holds the rules that do not constrain the dimension (shared by
 * all classes) and spec(c) the constraining rules that match the class,
 * stored sparsely: only its non-zero words. A class is one record of 64-bit
 * words, so a lookup touches few cache lines:
 *
 *     [summary: n_sw words][ranks: 16 bits per summary word][spec words]
 *
 * where rank k counts the spec words of summary words before k. Lookup
 * structures map a field value straight to its class's record offset.
 *
 * Classes come from a sweep: every constraining rule adds an interval of
 * field values (a prefix, a port range, a protocol run...), events are
 * sorted, and the set of rules active between two consecutive boundaries is
 * one elementary interval's set. Equal sets are shared (hashed with a
 * per-rule random value XORed in and out, then compared word by word), so a
 * dimension holds as many classes as distinct sets, not intervals.
 *
 * Field values map to an index per dimension (dim_index()), chosen so
 * that "this field does not apply to the key" (a port of an ICMP packet, a
 * missing VLAN tag) is an index no rule covers: those keys then match only
 * the dimension's wildcard rules, which is what fw_rule_match() says.
 *
 * Figures that shaped this (fw-classify-bench, 10,000 generated rules, one
 * core of the 2-vCPU EPYC test machine, portable -march, a loaded machine
 * so +-20%): with class data in separate arrays, a /16 first-level table
 * for IPv4 and the compiler's popcount (a libgcc call without -mpopcnt) a
 * lookup took 431 ns; an inline popcount made it 227 ns; one record per
 * class, 16-key steps for IPv4 and deduplicated 256-entry blocks for the
 * direct tables about 210 ns (5.2 MiB, built in 25 ms), of which about
 * 70 ns are the field lookups and the rest cache misses on class records.
 * A scan of fw_rule_match() in order takes 10-16 us per key there.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fw_classify.h"

enum dim_id {
	D_SRC, D_DST, D_PROTO, D_SPORT, D_DPORT, D_FLAGS, D_ICMP, D_VLAN, D_CT, D_INPORT,
	D_INRING, D_N
};

static const char *const dim_names[D_N] = {
	"source address", "destination address", "protocol", "source port",
	"destination port", "tcp flags", "icmp type", "vlan", "connection state",
	"input port", "input ring",
};

/* Direct-table sizes (see dim_index()). */
#define PROTO_IDX_N 513u   /* IPv4 0-255, IPv6 256-511, not IP 512 */
#define PORT_IDX_N 65536u  /* 0: not TCP/UDP (no rule has port 0) */
#define BYTE_IDX_N 257u    /* 0: field absent, 1 + value */
#define VLAN_IDX_N 4098u   /* 0: untagged, 1 + id, 4097: id over 4095 */
#define CT_IDX_N 2u

/* Direct tables are blocks of 256 entries; equal blocks are stored once. */
#define BLK 256u

/* IPv4 boundaries are searched through levels of every 16th key: 16 keys
 * (64 bytes) per step. 8 levels cover 16^8 boundaries. */
#define FAN 16u
#define LEVELS_MAX 8

struct dim {
	uint32_t id;            /* enum dim_id */
	uint32_t n_classes;
	/* direct dimensions: index -> record offset */
	uint32_t size;
	uint32_t *top;          /* block of each 256 indexes */
	uint32_t *blk;          /* n_blk blocks of BLK record offsets */
	uint32_t n_blk;
	/* address dimensions: intervals by their first value */
	uint32_t n4;
	uint32_t n_lvl;         /* levels, level 0 being b4 itself */
	uint32_t *lvl[LEVELS_MAX]; /* lvl[0] = n4 starts (b4[0] = 0), lvl[l][j] = lvl[l - 1][FAN * j] */
	uint32_t lvl_n[LEVELS_MAX];
	uint32_t *c4;           /* record of each IPv4 interval */
	uint32_t n6;
	uint64_t *b6;           /* n6 starts as (high, low) pairs, b6[0..1] = 0 */
	uint32_t *c6;
	/* the class records */
	uint64_t *rec;
	size_t n_rec;
};

struct fw_classifier {
	uint32_t n_rules;
	uint32_t n_words;       /* 64-rule words */
	uint32_t n_sw;          /* summary words */
	uint32_t n_dims;
	uint32_t hdr;           /* words of a record before its spec words */
	size_t memory;
	uint64_t *wild;         /* word j of dimension d at [j * n_dims + d] */
	uint64_t *wsum;         /* summary word i of dimension d at [i * n_dims + d] */
	struct dim dims[D_N];   /* the n_dims in use, most selective first */
};

/* ---- lookup ---------------------------------------------------------- */

static inline int
key_is_ip(const struct fw_key *k)
{
	return k->family == 4 || k->family == 6;
}

static inline int
key_is_l4(const struct fw_key *k)
{
	return key_is_ip(k) && (k->proto == 6 || k->proto == 17);
}

static inline int
key_is_icmp(const struct fw_key *k)
{
	return (k->family == 4 && k->proto == 1) || (k->family == 6 && k->proto == 58);
}

static inline uint32_t
dim_index(const struct dim *d, const struct fw_key *k)
{
	switch (d->id) {
	case D_PROTO:
		return k->family == 4 ? k->proto : k->family == 6 ? 256u + k->proto : 512u;
	case D_SPORT:
		return key_is_l4(k) ? k->sport : 0;
	case D_DPORT:
		return key_is_l4(k) ? k->dport : 0;
	case D_FLAGS:
		return key_is_ip(k) && k->proto == 6 ? 1u + k->tcp_flags : 0;
	case D_ICMP:
		return key_is_icmp(k) ? 1u + k->icmp_type : 0;
	case D_VLAN:
		return !k->has_vlan ? 0 : k->vlan_id < 4096 ? 1u + k->vlan_id : 4097u;
	case D_CT:
		return k->ct != 0;
	case D_INPORT:
		return k->port < d->size - 1 ? k->port : d->size - 1;
	default: /* D_INRING */
		return k->input < d->size - 1 ? k->input : d->size - 1;
	}
}

static inline uint32_t
load_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t
load_be64(const uint8_t *p)
{
	return (uint64_t)load_be32(p) << 32 | load_be32(p + 4);
}

/* In block blk of a sorted, UINT32_MAX-padded level of n keys, the index of
 * the last key <= x; the block's first key is <= x. A fixed count of
 * compares, so the compiler can do them in vector registers. */
static inline uint32_t
level_step(const uint32_t *k, uint32_t n, uint32_t blk, uint32_t x)
{
	const uint32_t *b = k + (size_t)blk * FAN;
	uint32_t c = 0, i;

	for (unsigned j = 0; j < FAN; j++)
		c += b[j] <= x;
	i = blk * FAN + c - 1;
	return i < n ? i : n - 1;   /* padding counts when x is UINT32_MAX */
}

static inline uint32_t
v4_rec(const struct dim *d, uint32_t x)
{
	uint32_t i = 0;

	for (uint32_t l = d->n_lvl; l-- > 0;)
		i = level_step(d->lvl[l], d->lvl_n[l], i, x);
	return d->c4[i];
}

static inline uint32_t
v6_rec(const struct dim *d, uint64_t xh, uint64_t xl)
{
	uint32_t lo = 0, hi = d->n6 - 1;

	while (lo < hi) {
		uint32_t mid = (lo + hi + 1) >> 1;
		uint64_t bh = d->b6[2 * mid], bl = d->b6[2 * mid + 1];

		if (bh < xh || (bh == xh && bl <= xl))
			lo = mid;
		else
			hi = mid - 1;
	}
	return d->c6[lo];
}

/* The offset of the record of the key's class in dimension d. */
static inline uint32_t
dim_rec(const struct dim *d, const struct fw_key *k)
{
	const uint8_t *a;
	uint32_t x;

	if (d->id != D_SRC && d->id != D_DST) {
		x = dim_index(d, k);
		return d->blk[(size_t)d->top[x / BLK] * BLK + x % BLK];
	}
	a = d->id == D_SRC ? k->src : k->dst;
	if (k->family == 4)
		return v4_rec(d, load_be32(a));
	if (k->family == 6)
		return v6_rec(d, load_be64(a), load_be64(a + 8));
	return 0;   /* not IP: class 0, only the wildcard rules */
}

/* Bits set in x. The portable build has no popcnt instruction, and the
 * compiler's fallback is a libgcc call that doubled lookup time at 10,000
 * rules; this inline form is within a few ns of popcnt. */
static inline unsigned
popcount64(uint64_t x)
{
	x = x - ((x >> 1) & 0x5555555555555555ull);
	x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
	x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0full;
	return (unsigned)((x * 0x0101010101010101ull) >> 56);
}

/* First set bit of the AND of the dimensions' vectors, visiting only the
 * words every dimension's summary allows, in order. rec[d] is the record of
 * the key's class in dimension d. */
static inline uint32_t
intersect(const struct fw_classifier *c, const uint64_t *const *rec)
{
	uint32_t nd = c->n_dims, nsw = c->n_sw;

	for (uint32_t i = 0; i < nsw; i++) {
		const uint64_t *spec[D_N];
		uint64_t s[D_N], m = UINT64_MAX;

		for (uint32_t d = 0; d < nd; d++) {
			uint64_t rank = (rec[d][nsw + i / 4] >> (16 * (i % 4))) & 0xffff;

			s[d] = rec[d][i];
			spec[d] = rec[d] + c->hdr + rank;
			m &= c->wsum[i * nd + d] | s[d];
		}
		while (m != 0) {
			unsigned b = (unsigned)__builtin_ctzll(m);
			uint32_t j = i * 64 + b;
			const uint64_t *wild = c->wild + (size_t)j * nd;
			uint64_t below = (1ull << b) - 1;
			uint64_t w = UINT64_MAX;

			for (uint32_t d = 0; d < nd && w != 0; d++) {
				uint64_t x = wild[d];

				if ((s[d] >> b) & 1)
					x |= spec[d][popcount64(s[d] & below)];
				w &= x;
			}
			if (w != 0)
				return j * 64 + (uint32_t)__builtin_ctzll(w);
			m &= m - 1;
		}
	}
	return FW_NO_MATCH;
}

uint32_t
fw_classify(const struct fw_classifier *c, const struct fw_key *k)
{
	const uint64_t *rec[D_N];

	if (c->n_rules == 0)
		return FW_NO_MATCH;
	if (c->n_dims == 0)
		return 0;   /* no rule constrains anything: the first matches all */
	for (uint32_t d = 0; d < c->n_dims; d++)
		rec[d] = c->dims[d].rec + dim_rec(&c->dims[d], k);
	return intersect(c, rec);
}

/* Doing every key's field lookups first, so their cache misses overlap,
 * measured no faster (5% slower at 1,000 rules): a plain loop it is. */
void
fw_classify_burst(const struct fw_classifier *c, const struct fw_key *keys, unsigned n,
		  uint32_t *out)
{
	for (unsigned i = 0; i < n; i++)
		out[i] = fw_classify(c, &keys[i]);
}

/* ---- build ----------------------------------------------------------- */

/* A boundary of a rule's interval: delta +1 where it starts, -1 past its end. */
struct ev {
	uint64_t hi, lo;
	uint32_t rule;
	int32_t delta;
};

struct evvec {
	struct ev *v;
	size_t n, cap;
};

struct builder {
	struct fw_classifier *c;
	const struct fw_ruleset *rs;
	struct mpdp_errbuf *eb;
	const char *dim;          /* for messages */
	/* the set of rules active during a sweep */
	uint32_t *cnt;
	uint64_t *act;
	uint64_t *asum;
	uint64_t hash;
	struct evvec ev4, ev6;
	/* intervals a sweep produced: first value and class */
	uint64_t *ihi, *ilo;
	uint32_t *icls;
	size_t n_iv, cap_iv;
	/* the classes of the dimension being built */
	uint32_t n_cls;
	size_t cap_cls;
	uint32_t *roff;           /* record offset of each class */
	uint64_t *chash;
	uint64_t *rec;
	size_t n_rec, cap_rec;
	uint32_t *ht;             /* class + 1, 0 empty; open addressing */
	size_t ht_cap;
	size_t rec_before;        /* record words of the dimensions already built */
	int too_big;              /* over FW_CLASSIFY_MEMORY_MAX */
};

static int
grow(void **p, size_t *cap, size_t need, size_t elem)
{
	size_t ncap;
	void *np;

	if (need <= *cap)
		return 0;
	ncap = *cap ? *cap : 64;
	while (ncap < need)
		ncap *= 2;
	if (ncap > SIZE_MAX / elem)
		return -ENOMEM;
	np = realloc(*p, ncap * elem);
	if (np == NULL)
		return -ENOMEM;
	*p = np;
	*cap = ncap;
	return 0;
}

static int
oom(struct builder *b)
{
	if (b->too_big)
		return mpdp_err_set(b->eb, -ENOMEM, "fw classifier: the rules need more than %llu "
				    "MiB of class records (at the %s dimension, %u classes so far)",
				    FW_CLASSIFY_MEMORY_MAX >> 20, b->dim, b->n_cls);
	return mpdp_err_set(b->eb, -ENOMEM, "fw classifier: out of memory building the %s "
			    "dimension (%u rules, %u classes so far, %zu words)",
			    b->dim, b->c->n_rules, b->n_cls, b->n_rec);
}

static uint64_t
mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static void
rule_on(struct builder *b, uint32_t r)
{
	if (b->cnt[r]++ != 0)
		return;
	b->act[r / 64] |= 1ull << (r % 64);
	b->asum[r / 4096] |= 1ull << ((r / 64) % 64);
	b->hash ^= mix64(r);
}

static void
rule_off(struct builder *b, uint32_t r)
{
	if (--b->cnt[r] != 0)
		return;
	b->act[r / 64] &= ~(1ull << (r % 64));
	if (b->act[r / 64] == 0)
		b->asum[r / 4096] &= ~(1ull << ((r / 64) % 64));
	b->hash ^= mix64(r);
}

static int
class_equal(const struct builder *b, uint32_t cls)
{
	uint32_t nsw = b->c->n_sw;
	const uint64_t *r = b->rec + b->roff[cls];
	const uint64_t *w = r + b->c->hdr;

	if (memcmp(r, b->asum, nsw * sizeof(uint64_t)) != 0)
		return 0;
	for (uint32_t i = 0; i < nsw; i++)
		for (uint64_t m = r[i]; m != 0; m &= m - 1)
			if (*w++ != b->act[i * 64 + (uint32_t)__builtin_ctzll(m)])
				return 0;
	return 1;
}

static int
ht_rehash(struct builder *b, size_t cap)
{
	uint32_t *ht = calloc(cap, sizeof(*ht));

	if (ht == NULL)
		return -ENOMEM;
	for (uint32_t c = 0; c < b->n_cls; c++) {
		size_t i = b->chash[c] & (cap - 1);

		while (ht[i] != 0)
			i = (i + 1) & (cap - 1);
		ht[i] = c + 1;
	}
	free(b->ht);
	b->ht = ht;
	b->ht_cap = cap;
	return 0;
}

/* The class of the active set, its record written when it is new. */
static int
intern(struct builder *b, uint32_t *out)
{
	uint32_t nsw = b->c->n_sw, hdr = b->c->hdr, cls, words = 0;
	uint64_t *r;
	size_t i, cap;

	for (i = b->hash & (b->ht_cap - 1); b->ht[i] != 0; i = (i + 1) & (b->ht_cap - 1)) {
		cls = b->ht[i] - 1;
		if (b->chash[cls] == b->hash && class_equal(b, cls)) {
			*out = cls;
			return 0;
		}
	}
	for (uint32_t k = 0; k < nsw; k++)
		words += popcount64(b->asum[k]);
	/* this also keeps record offsets within 32 bits */
	if ((b->rec_before + b->n_rec + hdr + words) * sizeof(uint64_t) > FW_CLASSIFY_MEMORY_MAX) {
		b->too_big = 1;
		return -ENOMEM;
	}
	if (b->n_cls == b->cap_cls) {
		cap = b->cap_cls;
		if (grow((void **)&b->roff, &cap, (size_t)b->n_cls + 1, sizeof(*b->roff)) < 0)
			return -ENOMEM;
		cap = b->cap_cls;
		if (grow((void **)&b->chash, &cap, (size_t)b->n_cls + 1, sizeof(*b->chash)) < 0)
			return -ENOMEM;
		b->cap_cls = cap;
	}
	if (grow((void **)&b->rec, &b->cap_rec, b->n_rec + hdr + words, sizeof(*b->rec)) < 0)
		return -ENOMEM;
	cls = b->n_cls++;
	b->roff[cls] = (uint32_t)b->n_rec;
	b->chash[cls] = b->hash;
	r = b->rec + b->n_rec;
	memset(r, 0, hdr * sizeof(*r));
	memcpy(r, b->asum, nsw * sizeof(*r));
	words = 0;
	for (uint32_t k = 0; k < nsw; k++) {
		r[nsw + k / 4] |= (uint64_t)words << (16 * (k % 4));
		for (uint64_t m = b->asum[k]; m != 0; m &= m - 1)
			r[hdr + words++] = b->act[k * 64 + (uint32_t)__builtin_ctzll(m)];
	}
	b->n_rec += hdr + words;
	if ((size_t)b->n_cls * 2 > b->ht_cap) {
		if (ht_rehash(b, b->ht_cap * 2) < 0)
			return -ENOMEM;
	} else {
		for (i = b->hash & (b->ht_cap - 1); b->ht[i] != 0; i = (i + 1) & (b->ht_cap - 1))
			;
		b->ht[i] = cls + 1;
	}
	*out = cls;
	return 0;
}

static int
ev_add(struct evvec *v, uint64_t hi, uint64_t lo, uint32_t rule, int32_t delta)
{
	if (grow((void **)&v->v, &v->cap, v->n + 1, sizeof(*v->v)) < 0)
		return -ENOMEM;
	v->v[v->n++] = (struct ev){ .hi = hi, .lo = lo, .rule = rule, .delta = delta };
	return 0;
}

/* Values first..last of a direct index or IPv4 space whose largest value is max. */
static int
ev_range(struct evvec *v, uint64_t first, uint64_t last, uint64_t max, uint32_t rule)
{
	if (ev_add(v, 0, first, rule, 1) < 0)
		return -ENOMEM;
	if (last < max && ev_add(v, 0, last + 1, rule, -1) < 0)
		return -ENOMEM;
	return 0;
}

static int
ev_cmp(const void *a, const void *b)
{
	const struct ev *x = a, *y = b;

	if (x->hi != y->hi)
		return x->hi < y->hi ? -1 : 1;
	if (x->lo != y->lo)
		return x->lo < y->lo ? -1 : 1;
	return 0;
}

static int
iv_add(struct builder *b, uint64_t hi, uint64_t lo, uint32_t cls)
{
	size_t cap = b->cap_iv;

	if (b->n_iv == cap) {
		if (grow((void **)&b->ihi, &cap, b->n_iv + 1, sizeof(uint64_t)) < 0)
			return -ENOMEM;
		cap = b->cap_iv;
		if (grow((void **)&b->ilo, &cap, b->n_iv + 1, sizeof(uint64_t)) < 0)
			return -ENOMEM;
		cap = b->cap_iv;
		if (grow((void **)&b->icls, &cap, b->n_iv + 1, sizeof(uint32_t)) < 0)
			return -ENOMEM;
		b->cap_iv = cap;
	}
	b->ihi[b->n_iv] = hi;
	b->ilo[b->n_iv] = lo;
	b->icls[b->n_iv] = cls;
	b->n_iv++;
	return 0;
}

/* Turn events into intervals (first value, class), merging equal neighbours. */
static int
sweep(struct builder *b, struct evvec *v)
{
	struct ev *e = v->v;
	size_t i = 0, n = v->n;
	uint32_t cls;

	b->n_iv = 0;
	if (n > 0)
		qsort(e, n, sizeof(*e), ev_cmp);
	if ((n == 0 || e[0].hi != 0 || e[0].lo != 0) && iv_add(b, 0, 0, 0) < 0)
		return -ENOMEM;
	while (i < n) {
		uint64_t hi = e[i].hi, lo = e[i].lo;

		for (; i < n && e[i].hi == hi && e[i].lo == lo; i++) {
			if (e[i].delta > 0)
				rule_on(b, e[i].rule);
			else
				rule_off(b, e[i].rule);
		}
		if (intern(b, &cls) < 0)
			return -ENOMEM;
		if (b->n_iv > 0 && b->icls[b->n_iv - 1] == cls)
			continue;
		if (iv_add(b, hi, lo, cls) < 0)
			return -ENOMEM;
	}
	/* intervals that reach the end of the space never end: clear what is left */
	memset(b->cnt, 0, (size_t)b->c->n_rules * sizeof(*b->cnt));
	memset(b->act, 0, (size_t)b->c->n_words * sizeof(*b->act));
	memset(b->asum, 0, (size_t)b->c->n_sw * sizeof(*b->asum));
	b->hash = 0;
	v->n = 0;
	return 0;
}

static int
prefix_bad(const struct fw_prefix *pf)
{
	return !(pf->family == 4 && pf->len <= 32) && !(pf->family == 6 && pf->len <= 128);
}

static int
prefix_events(struct builder *b, const struct fw_prefix *pf, uint32_t n, uint32_t rule)
{
	for (uint32_t i = 0; i < n; i++) {
		if (pf[i].family == 4) {
			uint32_t a = load_be32(pf[i].addr);
			uint32_t mask = pf[i].len ? UINT32_MAX << (32 - pf[i].len) : 0;

			if (ev_range(&b->ev4, a & mask, (a & mask) | ~mask, UINT32_MAX, rule) < 0)
				return -ENOMEM;
		} else {
			uint64_t h = load_be64(pf[i].addr), l = load_be64(pf[i].addr + 8);
			unsigned len = pf[i].len;
			uint64_t mh = len == 0 ? 0 : len >= 64 ? UINT64_MAX : UINT64_MAX << (64 - len);
			uint64_t ml = len <= 64 ? 0 : len == 128 ? UINT64_MAX : UINT64_MAX << (128 - len);
			uint64_t sh = h & mh, sl = l & ml, eh = sh | ~mh, el = sl | ~ml;

			if (ev_add(&b->ev6, sh, sl, rule, 1) < 0)
				return -ENOMEM;
			if (eh != UINT64_MAX || el != UINT64_MAX) {
				/* one past the end */
				uint64_t nh = el == UINT64_MAX ? eh + 1 : eh, nl = el + 1;

				if (ev_add(&b->ev6, nh, nl, rule, -1) < 0)
					return -ENOMEM;
			}
		}
	}
	return 0;
}

/*
 * The events of one rule in one dimension.
 * @return 1 when the rule constrains the dimension, 0 when not, -ENOMEM
 */
static int
rule_events(struct builder *b, const struct dim *d, const struct fw_rule *r, uint32_t ri)
{
	struct evvec *v = &b->ev4;
	uint64_t max = d->size - 1;

	switch (d->id) {
	case D_SRC:
		if (!(r->has & FW_HAS_SRC))
			return 0;
		return prefix_events(b, r->src, r->n_src, ri) < 0 ? -ENOMEM : 1;
	case D_DST:
		if (!(r->has & FW_HAS_DST))
			return 0;
		return prefix_events(b, r->dst, r->n_dst, ri) < 0 ? -ENOMEM : 1;
	case D_PROTO:
		if (!(r->has & FW_HAS_PROTO))
			return 0;
		for (unsigned f = 0; f < 2; f++) {
			for (unsigned p = 0; p < 256; p++) {
				unsigned q;

				if (!((r->proto[f][p >> 6] >> (p & 63)) & 1))
					continue;
				for (q = p; q + 1 < 256 && ((r->proto[f][(q + 1) >> 6] >> ((q + 1) & 63)) & 1); q++)
					;
				if (ev_range(v, f * 256u + p, f * 256u + q, max, ri) < 0)
					return -ENOMEM;
				p = q;
			}
		}
		return 1;
	case D_SPORT:
	case D_DPORT: {
		const struct fw_port_range *pr = d->id == D_SPORT ? r->sport : r->dport;
		uint32_t n = d->id == D_SPORT ? r->n_sport : r->n_dport;

		if (!(r->has & (d->id == D_SPORT ? FW_HAS_SPORT : FW_HAS_DPORT)))
			return 0;
		for (uint32_t i = 0; i < n; i++)
			if (ev_range(v, pr[i].lo, pr[i].hi, max, ri) < 0)
				return -ENOMEM;
		return 1;
	}
	case D_FLAGS:
		if (!(r->has & FW_HAS_FLAGS))
			return 0;
		for (unsigned f = 0; f < 256; f++)
			if ((f & r->tcp_mask) == r->tcp_flags && ev_range(v, 1 + f, 1 + f, max, ri) < 0)
				return -ENOMEM;
		return 1;
	case D_ICMP:
		if (!(r->has & FW_HAS_ICMP_TYPE))
			return 0;
		return ev_range(v, 1u + r->icmp_type, 1u + r->icmp_type, max, ri) < 0 ? -ENOMEM : 1;
	case D_VLAN:
		if (!(r->has & FW_HAS_VLAN))
			return 0;
		return ev_range(v, 1u + r->vlan_id, 1u + r->vlan_id, max, ri) < 0 ? -ENOMEM : 1;
	case D_CT:
		if (!(r->has & FW_HAS_CT))
			return 0;
		return ev_range(v, r->ct != 0, r->ct != 0, max, ri) < 0 ? -ENOMEM : 1;
	case D_INPORT:
		if (!(r->has & FW_HAS_IN) || r->in_port == FW_PORT_NONE)
			return 0;
		return ev_range(v, r->in_port, r->in_port, max, ri) < 0 ? -ENOMEM : 1;
	default: /* D_INRING */
		if (!(r->has & FW_HAS_IN) || r->in_port != FW_PORT_NONE)
			return 0;
		return ev_range(v, r->in_input, r->in_input, max, ri) < 0 ? -ENOMEM : 1;
	}
}

/* Whether any rule constrains a dimension, and its direct-table size. */
static int
dim_used(const struct fw_ruleset *rs, uint32_t id, uint32_t *size)
{
	static const uint32_t has[D_N] = {
		FW_HAS_SRC, FW_HAS_DST, FW_HAS_PROTO, FW_HAS_SPORT, FW_HAS_DPORT, FW_HAS_FLAGS,
		FW_HAS_ICMP_TYPE, FW_HAS_VLAN, FW_HAS_CT, FW_HAS_IN, FW_HAS_IN,
	};
	static const uint32_t sizes[D_N] = {
		0, 0, PROTO_IDX_N, PORT_IDX_N, PORT_IDX_N, BYTE_IDX_N, BYTE_IDX_N, VLAN_IDX_N,
		CT_IDX_N, 0, 0,
	};
	uint32_t max = 0;
	int used = 0;

	for (unsigned i = 0; i < rs->n; i++) {
		const struct fw_rule *r = &rs->rules[i];

		if (!(r->has & has[id]))
			continue;
		if (id == D_INPORT && r->in_port != FW_PORT_NONE) {
			used = 1;
			if (r->in_port > max)
				max = r->in_port;
		} else if (id == D_INRING && r->in_port == FW_PORT_NONE) {
			used = 1;
			if (r->in_input > max)
				max = r->in_input;
		} else if (id != D_INPORT && id != D_INRING) {
			used = 1;
		}
	}
	/* one more entry past the largest named id stands for all the others */
	*size = id == D_INPORT || id == D_INRING ? max + 2 : sizes[id];
	return used;
}

/* Free the classes of the dimension being built (what was not handed over). */
static void
classes_free(struct builder *b)
{
	free(b->roff);
	free(b->chash);
	free(b->rec);
	free(b->ht);
	b->roff = NULL;
	b->chash = NULL;
	b->rec = NULL;
	b->ht = NULL;
	b->n_cls = 0;
	b->cap_cls = 0;
	b->n_rec = b->cap_rec = 0;
	b->ht_cap = 0;
}

static uint32_t *
alloc_level(size_t n)
{
	/* whole 64-byte blocks, so each step of the search reads one cache line */
	size_t bytes = (n + FAN - 1) / FAN * FAN * sizeof(uint32_t);
	uint32_t *p = aligned_alloc(64, bytes);

	if (p != NULL)
		for (size_t i = n; i < bytes / sizeof(uint32_t); i++)
			p[i] = UINT32_MAX;
	return p;
}

static int
addr_tables(struct builder *b, struct dim *d)
{
	if (sweep(b, &b->ev4) < 0)
		return -ENOMEM;
	d->n4 = (uint32_t)b->n_iv;
	d->lvl[0] = alloc_level(d->n4);
	d->lvl_n[0] = d->n4;
	d->c4 = malloc(d->n4 * sizeof(*d->c4));
	if (d->lvl[0] == NULL || d->c4 == NULL)
		return -ENOMEM;
	for (uint32_t i = 0; i < d->n4; i++) {
		d->lvl[0][i] = (uint32_t)b->ilo[i];
		d->c4[i] = b->roff[b->icls[i]];
	}
	d->n_lvl = 1;
	while (d->lvl_n[d->n_lvl - 1] > FAN) {
		uint32_t l = d->n_lvl, n = (d->lvl_n[l - 1] + FAN - 1) / FAN;

		if (l == LEVELS_MAX)
			return -ENOMEM;
		d->lvl[l] = alloc_level(n);
		if (d->lvl[l] == NULL)
			return -ENOMEM;
		d->lvl_n[l] = n;
		d->n_lvl++;
		for (uint32_t j = 0; j < n; j++)
			d->lvl[l][j] = d->lvl[l - 1][(size_t)j * FAN];
	}
	if (sweep(b, &b->ev6) < 0)
		return -ENOMEM;
	d->n6 = (uint32_t)b->n_iv;
	d->b6 = malloc(d->n6 * 2 * sizeof(*d->b6));
	d->c6 = malloc(d->n6 * sizeof(*d->c6));
	if (d->b6 == NULL || d->c6 == NULL)
		return -ENOMEM;
	for (uint32_t i = 0; i < d->n6; i++) {
		d->b6[2 * i] = b->ihi[i];
		d->b6[2 * i + 1] = b->ilo[i];
		d->c6[i] = b->roff[b->icls[i]];
	}
	return 0;
}

static int
direct_tables(struct builder *b, struct dim *d)
{
	uint32_t n_top = (d->size + BLK - 1) / BLK, *full;
	size_t iv = 0;

	if (sweep(b, &b->ev4) < 0)
		return -ENOMEM;
	full = malloc((size_t)n_top * BLK * sizeof(*full));
	d->top = malloc(n_top * sizeof(*d->top));
	d->blk = malloc((size_t)n_top * BLK * sizeof(*d->blk));
	if (full == NULL || d->top == NULL || d->blk == NULL) {
		free(full);
		return -ENOMEM;
	}
	for (uint32_t x = 0; x < n_top * BLK; x++) {
		while (iv + 1 < b->n_iv && b->ilo[iv + 1] <= x)
			iv++;
		full[x] = b->roff[b->icls[iv]];
	}
	/* store each distinct block once: most are one class throughout */
	for (uint32_t t = 0; t < n_top; t++) {
		const uint32_t *blk = full + (size_t)t * BLK;
		uint32_t k;

		for (k = 0; k < d->n_blk; k++)
			if (memcmp(d->blk + (size_t)k * BLK, blk, BLK * sizeof(*blk)) == 0)
				break;
		if (k == d->n_blk)
			memcpy(d->blk + (size_t)d->n_blk++ * BLK, blk, BLK * sizeof(*blk));
		d->top[t] = k;
	}
	free(full);
	full = realloc(d->blk, (size_t)d->n_blk * BLK * sizeof(*d->blk));
	if (full != NULL)
		d->blk = full;
	return 0;
}

static int
dim_build(struct builder *b, struct dim *d, uint32_t id, uint32_t size, uint64_t *wild)
{
	struct fw_classifier *c = b->c;
	uint32_t dummy;
	int rc;

	d->id = id;
	d->size = size;
	b->dim = dim_names[id];
	b->ht = calloc(64, sizeof(*b->ht));
	if (b->ht == NULL)
		return oom(b);
	b->ht_cap = 64;
	/* class 0: no constraining rule matches (the active set is empty now) */
	if (intern(b, &dummy) < 0)
		return oom(b);
	for (uint32_t i = 0; i < c->n_rules; i++) {
		rc = rule_events(b, d, &b->rs->rules[i], i);
		if (rc < 0)
			return oom(b);
		if (rc == 0)
			wild[i / 64] |= 1ull << (i % 64);
	}
	if (id == D_SRC || id == D_DST)
		rc = addr_tables(b, d);
	else
		rc = direct_tables(b, d);
	if (rc < 0)
		return oom(b);
	/* hand the records over */
	d->n_classes = b->n_cls;
	d->rec = b->rec;
	d->n_rec = b->n_rec;
	b->rec_before += b->n_rec;
	b->rec = NULL;
	classes_free(b);
	return 0;
}

/* Rules fw_rules_parse() cannot make would make the classifier disagree with fw_rule_match(). */
static int
rules_check(const struct fw_ruleset *rs, struct mpdp_errbuf *eb)
{
	if (rs->n > FW_RULES_MAX)
		return mpdp_err_set(eb, -EINVAL, "fw classifier: %u rules, at most %d", rs->n,
				    FW_RULES_MAX);
	for (unsigned i = 0; i < rs->n; i++) {
		const struct fw_rule *r = &rs->rules[i];
		const char *why = NULL;

		for (uint32_t j = 0; (r->has & FW_HAS_SPORT) && j < r->n_sport; j++)
			if (r->sport[j].lo == 0 || r->sport[j].lo > r->sport[j].hi)
				why = "a bad source port range";
		for (uint32_t j = 0; (r->has & FW_HAS_DPORT) && j < r->n_dport; j++)
			if (r->dport[j].lo == 0 || r->dport[j].lo > r->dport[j].hi)
				why = "a bad destination port range";
		for (uint32_t j = 0; (r->has & FW_HAS_SRC) && j < r->n_src; j++)
			if (prefix_bad(&r->src[j]))
				why = "a bad source prefix";
		for (uint32_t j = 0; (r->has & FW_HAS_DST) && j < r->n_dst; j++)
			if (prefix_bad(&r->dst[j]))
				why = "a bad destination prefix";
		if ((r->has & FW_HAS_VLAN) && r->vlan_id > 4095)
			why = "a VLAN id over 4095";
		if ((r->has & FW_HAS_IN) && r->in_port == FW_PORT_NONE && r->in_input > 65534)
			return mpdp_err_set(eb, -E2BIG, "fw classifier: rule %u (line %u) names input "
					    "ring %u, at most 65534", i, r->line, r->in_input);
		if (why != NULL)
			return mpdp_err_set(eb, -EINVAL, "fw classifier: rule %u (line %u) has %s",
					    i, r->line, why);
	}
	return 0;
}

static size_t
dim_memory(const struct dim *d)
{
	size_t m = d->n_rec * 8;

	if (d->top != NULL)
		m += (d->size + BLK - 1) / BLK * 4 + (size_t)d->n_blk * BLK * 4;
	for (uint32_t l = 0; l < d->n_lvl; l++)
		m += (d->lvl_n[l] + FAN - 1) / FAN * FAN * 4;
	m += (size_t)d->n4 * 4 + (size_t)d->n6 * 20;
	return m;
}

static void
dim_free(struct dim *d)
{
	free(d->top);
	free(d->blk);
	for (uint32_t l = 0; l < LEVELS_MAX; l++)
		free(d->lvl[l]);
	free(d->c4);
	free(d->b6);
	free(d->c6);
	free(d->rec);
	memset(d, 0, sizeof(*d));
}

static uint32_t
popcount_words(const uint64_t *w, uint32_t n)
{
	uint32_t s = 0;

	for (uint32_t i = 0; i < n; i++)
		s += popcount64(w[i]);
	return s;
}

/* Order the dimensions most selective first (fewest wildcard rules), so the
 * word AND reaches zero sooner, and lay their wildcard words side by side. */
static int
dims_arrange(struct fw_classifier *c, uint64_t *wild[D_N])
{
	uint32_t nd = c->n_dims, nw = c->n_words;

	for (uint32_t i = 1; i < nd; i++) {
		for (uint32_t j = i; j > 0 && popcount_words(wild[j], nw) <
					      popcount_words(wild[j - 1], nw); j--) {
			struct dim t = c->dims[j];
			uint64_t *w = wild[j];

			c->dims[j] = c->dims[j - 1];
			c->dims[j - 1] = t;
			wild[j] = wild[j - 1];
			wild[j - 1] = w;
		}
	}
	c->wild = calloc((size_t)nw * nd + 1, sizeof(*c->wild));
	c->wsum = calloc((size_t)c->n_sw * nd + 1, sizeof(*c->wsum));
	if (c->wild == NULL || c->wsum == NULL)
		return -ENOMEM;
	for (uint32_t d = 0; d < nd; d++) {
		for (uint32_t j = 0; j < nw; j++) {
			c->wild[(size_t)j * nd + d] = wild[d][j];
			if (wild[d][j] != 0)
				c->wsum[(size_t)(j / 64) * nd + d] |= 1ull << (j % 64);
		}
	}
	return 0;
}

int
fw_classifier_build(const struct fw_ruleset *rs, struct fw_classifier **out,
		    struct mpdp_errbuf *eb)
{
	uint64_t *wild[D_N] = { NULL };
	struct builder b;
	struct fw_classifier *c;
	int rc;

	rc = rules_check(rs, eb);
	if (rc < 0)
		return rc;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return mpdp_err_set(eb, -ENOMEM, "fw classifier: out of memory");
	c->n_rules = rs->n;
	c->n_words = (rs->n + 63) / 64;
	c->n_sw = (c->n_words + 63) / 64;
	c->hdr = c->n_sw + (c->n_sw + 3) / 4;
	memset(&b, 0, sizeof(b));
	b.c = c;
	b.rs = rs;
	b.eb = eb;
	b.dim = "first";
	b.cnt = calloc(c->n_rules + 1, sizeof(*b.cnt));
	b.act = calloc(c->n_words + 1, sizeof(*b.act));
	b.asum = calloc(c->n_sw + 1, sizeof(*b.asum));
	if (b.cnt == NULL || b.act == NULL || b.asum == NULL) {
		rc = oom(&b);
		goto fail;
	}
	for (uint32_t id = 0; id < D_N; id++) {
		uint32_t size, d = c->n_dims;

		if (!dim_used(rs, id, &size))
			continue;
		wild[d] = calloc(c->n_words + 1, sizeof(*wild[d]));
		if (wild[d] == NULL) {
			rc = oom(&b);
			goto fail;
		}
		c->n_dims++;
		rc = dim_build(&b, &c->dims[d], id, size, wild[d]);
		if (rc < 0)
			goto fail;
	}
	if (dims_arrange(c, wild) < 0) {
		rc = oom(&b);
		goto fail;
	}
	c->memory = sizeof(*c) + ((size_t)c->n_words + c->n_sw) * c->n_dims * 8;
	for (uint32_t i = 0; i < c->n_dims; i++)
		c->memory += dim_memory(&c->dims[i]);
	rc = 0;
	*out = c;
	c = NULL;
fail:
	for (uint32_t d = 0; d < D_N; d++)
		free(wild[d]);
	classes_free(&b);
	free(b.cnt);
	free(b.act);
	free(b.asum);
	free(b.ev4.v);
	free(b.ev6.v);
	free(b.ihi);
	free(b.ilo);
	free(b.icls);
	fw_classifier_free(c);
	return rc;
}

void
fw_classifier_free(struct fw_classifier *c)
{
	if (c == NULL)
		return;
	for (uint32_t i = 0; i < c->n_dims; i++)
		dim_free(&c->dims[i]);
	free(c->wild);
	free(c->wsum);
	free(c);
}

size_t
fw_classifier_memory(const struct fw_classifier *c)
{
	return c->memory;
}

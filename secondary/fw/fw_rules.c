/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The rule parser, formatter and reference matcher (grammar in fw_rules.h).
 *
 * Parsing is one pass, line by line, with a tiny lexer whose tokens are
 * words, commas and the end of the line (a '#' ends it too). Lists
 * (prefixes, ports, names) go to growing pools while the file is read, with
 * rules holding offsets; at the end everything is packed into a single
 * allocation and the offsets become pointers, so a ruleset frees in one call
 * and nothing is visible to the caller until the whole file is good.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fw_rules.h"
#include "mpdp_pkt.h"

/* Bigger rule files are refused rather than read into memory. */
#define FW_RULES_FILE_MAX (1u << 30)

static const char *const builtin_outputs[] = { "drop", "out" };

struct icmp_name {
	const char *name;
	uint8_t type;
};

static const struct icmp_name icmp4_names[] = {
	{ "echo-reply", 0 }, { "dest-unreach", 3 }, { "source-quench", 4 },
	{ "redirect", 5 }, { "echo-request", 8 }, { "time-exceeded", 11 },
	{ "param-problem", 12 }, { "timestamp", 13 }, { "timestamp-reply", 14 },
};

static const struct icmp_name icmp6_names[] = {
	{ "dest-unreach", 1 }, { "packet-too-big", 2 }, { "time-exceeded", 3 },
	{ "param-problem", 4 }, { "echo-request", 128 }, { "echo-reply", 129 },
	{ "router-solicit", 133 }, { "router-advert", 134 }, { "neighbor-solicit", 135 },
	{ "neighbor-advert", 136 },
};

/* pf's letter order, bit i of the flags byte is letter i. */
static const char tcp_flag_letters[] = "FSRPAUEW";

/* A token: a word, a ',' or (len 0) the end of the line. col counts from 1. */
struct tok {
	const char *s;
	unsigned len;
	unsigned col;
};

/* A rule while it is parsed: lists are offsets into the parser's pools. */
struct prule {
	struct fw_rule r;
	size_t src_off, dst_off, sport_off, dport_off, name_off;
};

/* The match groups: each may appear once per rule. */
enum {
	G_PROTO, G_FROM, G_TO, G_STATE, G_FLAGS, G_ICMP, G_VLAN, G_IN, G_N
};

static const char *const group_names[G_N] = {
	"a protocol", "'from'", "'to'", "a connection state", "'flags'", "'icmp-type'",
	"'vlan'", "'in'",
};

struct parser {
	const char *file;
	const char *const *outputs;
	unsigned n_outputs;
	unsigned out_idx;             /* index of "out", or UINT_MAX */
	const struct fw_names *names;
	struct mpdp_errbuf *eb;

	const char *line;             /* the current line, without its newline */
	size_t len;
	size_t pos;
	unsigned lineno;

	struct prule *rules;
	size_t n_rules, cap_rules;
	struct fw_prefix *pfx;
	size_t n_pfx, cap_pfx;
	struct fw_port_range *rng;
	size_t n_rng, cap_rng;
	char *str;
	size_t n_str, cap_str;

	struct fw_action defaults[4]; /* no match, non-ip, fragment, malformed */
	unsigned default_line[4];     /* 0: not given */
};

/* What one rule's matches looked like, for the checks made at its end. */
struct rule_ctx {
	struct prule pr;
	unsigned col[G_N];            /* where each group started, 0 = absent */
	unsigned sport_col, dport_col;
	struct tok icmp_tok;
};

static int
grow(void **p, size_t *cap, size_t need, size_t elem)
{
	size_t ncap;
	void *np;

	if (need <= *cap)
		return 0;
	ncap = *cap ? *cap : 16;
	while (ncap < need)
		ncap *= 2;
	np = realloc(*p, ncap * elem);
	if (np == NULL)
		return -ENOMEM;
	*p = np;
	*cap = ncap;
	return 0;
}

static int
perr(struct parser *p, unsigned col, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int
perr(struct parser *p, unsigned col, const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return mpdp_err_set(p->eb, -EINVAL, "%s:%u:%u: %s", p->file, p->lineno, col, msg);
}

static int
nomem(struct parser *p)
{
	return mpdp_err_set(p->eb, -ENOMEM, "%s:%u: out of memory", p->file, p->lineno);
}

/* The token as messages show it: quoted, non-printables escaped, long ones cut. */
static const char *
tok_desc(const struct tok *t, char *buf, size_t n)
{
	size_t o = 0;

	if (t->len == 0)
		return "end of line";
	buf[o++] = '\'';
	for (unsigned i = 0; i < t->len; i++) {
		unsigned char c = (unsigned char)t->s[i];

		if (i >= 48 || o + 8 >= n) {
			o += (size_t)snprintf(buf + o, n - o, "...");
			break;
		}
		if (c >= 0x20 && c < 0x7f)
			buf[o++] = (char)c;
		else
			o += (size_t)snprintf(buf + o, n - o, "\\x%02x", c);
	}
	if (o + 2 <= n) {
		buf[o++] = '\'';
		buf[o] = '\0';
	} else {
		buf[n - 1] = '\0';
	}
	return buf;
}

static int
is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

static struct tok
lex_next(struct parser *p)
{
	struct tok t;
	size_t start;

	while (p->pos < p->len && is_blank(p->line[p->pos]))
		p->pos++;
	t.s = p->line + p->pos;
	t.col = (unsigned)p->pos + 1;
	t.len = 0;
	if (p->pos >= p->len || p->line[p->pos] == '#')
		return t;
	if (p->line[p->pos] == ',') {
		p->pos++;
		t.len = 1;
		return t;
	}
	start = p->pos;
	while (p->pos < p->len && !is_blank(p->line[p->pos]) && p->line[p->pos] != ',' &&
	       p->line[p->pos] != '#')
		p->pos++;
	t.len = (unsigned)(p->pos - start);
	return t;
}

static struct tok
lex_peek(struct parser *p)
{
	size_t save = p->pos;
	struct tok t = lex_next(p);

	p->pos = save;
	return t;
}

static int
tok_is(const struct tok *t, const char *w)
{
	size_t n = strlen(w);

	return t->len == n && memcmp(t->s, w, n) == 0;
}

static int
tok_word(const struct tok *t)
{
	return t->len > 0 && t->s[0] != ',';
}

/* Decimal digits at the start of s; the value saturates at 10^9. @return digits read */
static size_t
scan_dec(const char *s, size_t len, unsigned long *v)
{
	size_t i;

	*v = 0;
	for (i = 0; i < len && s[i] >= '0' && s[i] <= '9'; i++)
		if (*v < 1000000000ul)
			*v = *v * 10 + (unsigned long)(s[i] - '0');
	return i;
}

/* A whole token as a decimal number. @return 0, or -1 when it is not one */
static int
tok_num(const struct tok *t, unsigned long *v)
{
	if (!tok_word(t))
		return -1;
	return scan_dec(t->s, t->len, v) == t->len ? 0 : -1;
}

static int
store_str(struct parser *p, const struct tok *t, size_t *off)
{
	if (grow((void **)&p->str, &p->cap_str, p->n_str + t->len + 1, 1) < 0)
		return nomem(p);
	*off = p->n_str;
	memcpy(p->str + p->n_str, t->s, t->len);
	p->str[p->n_str + t->len] = '\0';
	p->n_str += t->len + 1;
	return 0;
}

static void
proto_set(uint64_t proto[2][4], int fam6, unsigned p)
{
	proto[fam6][p >> 6] |= 1ull << (p & 63);
}

static int
proto_has(const uint64_t proto[2][4], int fam6, unsigned p)
{
	return (int)((proto[fam6][p >> 6] >> (p & 63)) & 1);
}

static int
proto_empty(const uint64_t w[4])
{
	return (w[0] | w[1] | w[2] | w[3]) == 0;
}

static int
proto_full(const uint64_t w[4])
{
	return (w[0] & w[1] & w[2] & w[3]) == UINT64_MAX;
}

/* Whether the set holds nothing but the protocols in @p allowed (a 64-bit mask of 0-63). */
static int
proto_only(const struct fw_rule *r, uint64_t allowed)
{
	for (int f = 0; f < 2; f++)
		if ((r->proto[f][0] & ~allowed) | r->proto[f][1] | r->proto[f][2] | r->proto[f][3])
			return 0;
	return 1;
}

/* IP versions a rule's protocol set leaves possible: bit 0 IPv4, bit 1 IPv6. */
static unsigned
proto_families(const struct fw_rule *r)
{
	if (!(r->has & FW_HAS_PROTO))
		return 3;
	return (proto_empty(r->proto[0]) ? 0u : 1u) | (proto_empty(r->proto[1]) ? 0u : 2u);
}

static unsigned
prefix_families(const struct fw_prefix *pf, size_t n)
{
	unsigned m = 0;

	for (size_t i = 0; i < n; i++)
		m |= pf[i].family == 4 ? 1u : 2u;
	return m;
}

static int
action_parse(struct parser *p, const struct tok *t, const char *where, struct fw_action *a)
{
	char d[256], d2[256];
	size_t o = 0;
	struct tok n;

	if (tok_is(t, "allow")) {
		if (p->out_idx == UINT_MAX)
			return perr(p, t->col, "'allow' needs an output named 'out', and the stage has none");
		a->kind = FW_ALLOW;
		a->next = (uint16_t)p->out_idx;
		return 0;
	}
	if (tok_is(t, "deny")) {
		a->kind = FW_DENY;
		a->next = 0;
		return 0;
	}
	if (tok_is(t, "to")) {
		n = lex_next(p);
		if (!tok_word(&n))
			return perr(p, n.col, "expected an output name after 'to', got %s",
				    tok_desc(&n, d, sizeof(d)));
		for (unsigned i = 0; i < p->n_outputs; i++) {
			const char *o = p->outputs[i];

			if (o != NULL && tok_is(&n, o)) {
				a->kind = FW_TO;
				a->next = (uint16_t)i;
				return 0;
			}
		}
		d2[0] = '\0';
		for (unsigned i = 0; i < p->n_outputs && o < sizeof(d2); i++)
			o += (size_t)snprintf(d2 + o, sizeof(d2) - o, "%s%s", i ? ", " : "",
					      p->outputs[i] ? p->outputs[i] : "?");
		return perr(p, n.col, "unknown output %s after 'to' (outputs: %s)",
			    tok_desc(&n, d, sizeof(d)), d2);
	}
	return perr(p, t->col, "expected 'allow', 'deny' or 'to OUTPUT'%s, got %s", where,
		    tok_desc(t, d, sizeof(d)));
}

/* "default [CLASS] ACTION", after the word "default". */
static int
default_parse(struct parser *p, const struct tok *kw)
{
	static const char *const classes[] = { NULL, "non-ip", "fragment", "malformed" };
	char d[256];
	struct fw_action a;
	struct tok t = lex_next(p);
	unsigned cls = 0;
	int rc;

	for (unsigned i = 1; i < 4; i++) {
		if (tok_is(&t, classes[i])) {
			cls = i;
			t = lex_next(p);
			break;
		}
	}
	if (cls == 0 && !tok_is(&t, "allow") && !tok_is(&t, "deny") && !tok_is(&t, "to"))
		return perr(p, t.col, "expected 'non-ip', 'fragment', 'malformed', 'allow', 'deny' "
			    "or 'to OUTPUT' after 'default', got %s", tok_desc(&t, d, sizeof(d)));
	rc = action_parse(p, &t, cls ? " after the default's class" : " after 'default'", &a);
	if (rc < 0)
		return rc;
	t = lex_next(p);
	if (t.len != 0)
		return perr(p, t.col, "expected end of line after the default's action "
			    "(a default takes no matches), got %s", tok_desc(&t, d, sizeof(d)));
	if (p->default_line[cls] != 0)
		return perr(p, kw->col, "'default%s%s' given twice (first on line %u)",
			    cls ? " " : "", cls ? classes[cls] : "", p->default_line[cls]);
	p->default_line[cls] = p->lineno;
	p->defaults[cls] = a;
	return 0;
}

/* One item of a protocol list; @p after names what came before it. */
static int
proto_item(struct parser *p, const struct tok *t, const char *after, struct fw_rule *r, int *any)
{
	char d[256];
	unsigned long v;
	struct tok n;

	if (tok_is(t, "tcp")) {
		proto_set(r->proto, 0, 6);
		proto_set(r->proto, 1, 6);
	} else if (tok_is(t, "udp")) {
		proto_set(r->proto, 0, 17);
		proto_set(r->proto, 1, 17);
	} else if (tok_is(t, "icmp")) {
		proto_set(r->proto, 0, 1);
	} else if (tok_is(t, "icmp6")) {
		proto_set(r->proto, 1, 58);
	} else if (tok_is(t, "ip")) {
		memset(r->proto[0], 0xff, sizeof(r->proto[0]));
	} else if (tok_is(t, "ip6")) {
		memset(r->proto[1], 0xff, sizeof(r->proto[1]));
	} else if (tok_is(t, "any")) {
		*any = 1;
	} else if (tok_is(t, "proto") || tok_num(t, &v) == 0) {
		if (tok_is(t, "proto")) {
			n = lex_next(p);
			if (tok_num(&n, &v) < 0)
				return perr(p, n.col, "expected a protocol number 0-255 after 'proto', got %s",
					    tok_desc(&n, d, sizeof(d)));
			t = &n;
		}
		if (v > 255)
			return perr(p, t->col, "protocol number %.*s is out of range (0-255)",
				    (int)t->len, t->s);
		proto_set(r->proto, 0, (unsigned)v);
		proto_set(r->proto, 1, (unsigned)v);
	} else {
		return perr(p, t->col, "expected a protocol (tcp, udp, icmp, icmp6, ip, ip6, any "
			    "or proto N) after %s, got %s", after, tok_desc(t, d, sizeof(d)));
	}
	return 0;
}

static int
proto_parse(struct parser *p, const struct tok *first, struct fw_rule *r)
{
	struct tok t = *first;
	int any = 0, rc;

	for (;;) {
		rc = proto_item(p, &t, "','", r, &any);
		if (rc < 0)
			return rc;
		t = lex_peek(p);
		if (!(t.len == 1 && t.s[0] == ','))
			break;
		lex_next(p);
		t = lex_next(p);
	}
	if (any)
		memset(r->proto, 0, sizeof(r->proto));
	else
		r->has |= FW_HAS_PROTO;
	return 0;
}

static int
range_cmp(const void *a, const void *b)
{
	const struct fw_port_range *x = a, *y = b;

	return x->lo != y->lo ? (x->lo < y->lo ? -1 : 1) : (x->hi < y->hi ? -1 : x->hi > y->hi);
}

/* Sort, and merge ranges that overlap or touch. @return the new count */
static size_t
ranges_normalize(struct fw_port_range *r, size_t n)
{
	size_t o = 0;

	if (n == 0)
		return 0;
	qsort(r, n, sizeof(*r), range_cmp);
	for (size_t i = 1; i < n; i++) {
		if ((unsigned)r[i].lo <= (unsigned)r[o].hi + 1) {
			if (r[i].hi > r[o].hi)
				r[o].hi = r[i].hi;
		} else {
			r[++o] = r[i];
		}
	}
	return o + 1;
}

/* One port or range; @p after names what came before it. */
static int
port_item(struct parser *p, const struct tok *t, const char *after, struct fw_port_range *out)
{
	char d[256];
	unsigned long lo, hi;
	size_t n1, n2 = 0;

	if (!tok_word(t) || (n1 = scan_dec(t->s, t->len, &lo)) == 0)
		goto bad;
	hi = lo;
	if (n1 < t->len) {
		if (t->s[n1] != '-')
			goto bad;
		n2 = scan_dec(t->s + n1 + 1, t->len - n1 - 1, &hi);
		if (n2 == 0 || n1 + 1 + n2 != t->len)
			goto bad;
	}
	if (lo == 0 || hi == 0)
		return perr(p, lo == 0 ? t->col : t->col + (unsigned)n1 + 1,
			    "port 0 is not allowed (ports are 1-65535)");
	if (lo > 65535)
		return perr(p, t->col, "port %.*s is out of range (1-65535)", (int)n1, t->s);
	if (hi > 65535)
		return perr(p, t->col + (unsigned)n1 + 1, "port %.*s is out of range (1-65535)",
			    (int)n2, t->s + n1 + 1);
	if (lo > hi)
		return perr(p, t->col, "port range %.*s is backwards (%lu is above %lu)",
			    (int)t->len, t->s, lo, hi);
	out->lo = (uint16_t)lo;
	out->hi = (uint16_t)hi;
	return 0;
bad:
	return perr(p, t->col, "expected a port number or range after %s, got %s", after,
		    tok_desc(t, d, sizeof(d)));
}

static int
ports_parse(struct parser *p, size_t *off, uint32_t *count)
{
	size_t start = p->n_rng;
	const char *after = "'port'";
	struct tok t;
	int rc;

	for (;;) {
		t = lex_next(p);
		if (grow((void **)&p->rng, &p->cap_rng, p->n_rng + 1, sizeof(*p->rng)) < 0)
			return nomem(p);
		rc = port_item(p, &t, after, &p->rng[p->n_rng]);
		if (rc < 0)
			return rc;
		p->n_rng++;
		t = lex_peek(p);
		if (!(t.len == 1 && t.s[0] == ','))
			break;
		lex_next(p);
		after = "','";
	}
	p->n_rng = start + ranges_normalize(p->rng + start, p->n_rng - start);
	*off = start;
	*count = (uint32_t)(p->n_rng - start);
	return 0;
}

static int
prefix_cmp(const void *a, const void *b)
{
	const struct fw_prefix *x = a, *y = b;
	int c;

	if (x->family != y->family)
		return x->family < y->family ? -1 : 1;
	c = memcmp(x->addr, y->addr, sizeof(x->addr));
	if (c != 0)
		return c;
	return x->len < y->len ? -1 : x->len > y->len;
}

/* Whether the first len bits of a and b are equal. */
static int
bits_equal(const uint8_t *a, const uint8_t *b, unsigned len)
{
	unsigned whole = len / 8, rest = len % 8;

	if (memcmp(a, b, whole) != 0)
		return 0;
	if (rest == 0)
		return 1;
	return ((a[whole] ^ b[whole]) & (uint8_t)(0xff00u >> rest)) == 0;
}

static int
prefix_covers(const struct fw_prefix *outer, const struct fw_prefix *inner)
{
	return outer->family == inner->family && outer->len <= inner->len &&
	       bits_equal(outer->addr, inner->addr, outer->len);
}

/* Sort, and drop prefixes that lie inside another. @return the new count */
static size_t
prefixes_normalize(struct fw_prefix *pf, size_t n)
{
	size_t o = 0;

	qsort(pf, n, sizeof(*pf), prefix_cmp);
	for (size_t i = 0; i < n; i++) {
		size_t j;

		/* sorted by address then length, so a cover sorts first */
		for (j = 0; j < o; j++)
			if (prefix_covers(&pf[j], &pf[i]))
				break;
		if (j == o)
			pf[o++] = pf[i];
	}
	return o;
}

static int
prefix_parse(struct parser *p, const struct tok *t, const char *after, struct fw_prefix *pf)
{
	char buf[64], d[256], shown[INET6_ADDRSTRLEN];
	unsigned long len;
	const char *slash;
	size_t alen, n;
	unsigned max;
	int is6;

	if (!tok_word(t))
		return perr(p, t->col, "expected an address, prefix or 'any' after %s, got %s",
			    after, tok_desc(t, d, sizeof(d)));
	slash = memchr(t->s, '/', t->len);
	alen = slash ? (size_t)(slash - t->s) : t->len;
	is6 = memchr(t->s, ':', alen) != NULL;
	memset(pf, 0, sizeof(*pf));
	if (alen >= sizeof(buf))
		goto bad_addr;
	memcpy(buf, t->s, alen);
	buf[alen] = '\0';
	if (inet_pton(is6 ? AF_INET6 : AF_INET, buf, pf->addr) != 1)
		goto bad_addr;
	pf->family = is6 ? 6 : 4;
	max = is6 ? 128 : 32;
	if (slash != NULL) {
		unsigned lcol = t->col + (unsigned)alen + 1;

		n = scan_dec(slash + 1, t->len - alen - 1, &len);
		if (n == 0 || alen + 1 + n != t->len)
			return perr(p, lcol, "expected a prefix length 0-%u after '/' in %s", max,
				    tok_desc(t, d, sizeof(d)));
		if (len > max)
			return perr(p, lcol, "prefix length %lu is too long for %s (at most %u) in %s",
				    len, is6 ? "IPv6" : "IPv4", max, tok_desc(t, d, sizeof(d)));
	} else {
		len = max;
	}
	pf->len = (uint8_t)len;
	for (unsigned b = (unsigned)len; b < max; b++) {
		if (pf->addr[b / 8] & (0x80u >> (b % 8))) {
			struct fw_prefix fix = *pf;

			for (unsigned c = (unsigned)len; c < max; c++)
				fix.addr[c / 8] &= (uint8_t)~(0x80u >> (c % 8));
			inet_ntop(is6 ? AF_INET6 : AF_INET, fix.addr, shown, sizeof(shown));
			return perr(p, t->col, "%.*s: host bits set, did you mean %s/%lu",
				    (int)t->len, t->s, shown, len);
		}
	}
	return 0;
bad_addr:
	if (is6 || (t->s[0] >= '0' && t->s[0] <= '9'))
		return perr(p, t->col, "%s is not a valid %s address (expected an address, prefix "
			    "or 'any' after %s)", tok_desc(t, d, sizeof(d)), is6 ? "IPv6" : "IPv4",
			    after);
	return perr(p, t->col, "expected an address, prefix or 'any' after %s, got %s", after,
		    tok_desc(t, d, sizeof(d)));
}

/* "from ADDRS [port PORTS]" or "to ...", after the keyword. */
static int
addrs_parse(struct parser *p, struct rule_ctx *rc, int is_src)
{
	struct fw_rule *r = &rc->pr.r;
	const char *kw = is_src ? "'from'" : "'to'";
	const char *after = kw;
	size_t start = p->n_pfx;
	struct tok t = lex_next(p);
	int ret;

	if (tok_is(&t, "any")) {
		struct tok c = lex_peek(p);

		if (c.len == 1 && c.s[0] == ',')
			return perr(p, c.col, "'any' cannot be combined with prefixes in a list");
	} else {
		for (;;) {
			if (tok_is(&t, "any"))
				return perr(p, t.col, "'any' cannot be combined with prefixes in a list");
			if (grow((void **)&p->pfx, &p->cap_pfx, p->n_pfx + 1, sizeof(*p->pfx)) < 0)
				return nomem(p);
			ret = prefix_parse(p, &t, after, &p->pfx[p->n_pfx]);
			if (ret < 0)
				return ret;
			p->n_pfx++;
			t = lex_peek(p);
			if (!(t.len == 1 && t.s[0] == ','))
				break;
			lex_next(p);
			t = lex_next(p);
			after = "','";
		}
		p->n_pfx = start + prefixes_normalize(p->pfx + start, p->n_pfx - start);
		if (is_src) {
			r->has |= FW_HAS_SRC;
			rc->pr.src_off = start;
			r->n_src = (uint32_t)(p->n_pfx - start);
		} else {
			r->has |= FW_HAS_DST;
			rc->pr.dst_off = start;
			r->n_dst = (uint32_t)(p->n_pfx - start);
		}
	}
	t = lex_peek(p);
	if (!tok_is(&t, "port"))
		return 0;
	lex_next(p);
	if (is_src) {
		rc->sport_col = t.col;
		r->has |= FW_HAS_SPORT;
		return ports_parse(p, &rc->pr.sport_off, &r->n_sport);
	}
	rc->dport_col = t.col;
	r->has |= FW_HAS_DPORT;
	return ports_parse(p, &rc->pr.dport_off, &r->n_dport);
}

static int
flags_parse(struct parser *p, struct fw_rule *r)
{
	struct tok t = lex_next(p);
	char d[256];
	unsigned set = 0, mask = 0, *cur = &set;
	int slash = 0;

	if (!tok_word(&t))
		goto bad;
	for (unsigned i = 0; i < t.len; i++) {
		const char *l;

		if (t.s[i] == '/' && !slash) {
			slash = 1;
			cur = &mask;
			continue;
		}
		l = strchr(tcp_flag_letters, t.s[i]);
		if (t.s[i] == '\0' || l == NULL)
			return perr(p, t.col + i, "expected TCP flag letters (F S R P A U E W) in "
				    "'flags SET[/MASK]', got %s", tok_desc(&t, d, sizeof(d)));
		*cur |= 1u << (l - tcp_flag_letters);
	}
	if (!slash)
		mask = set;
	if (mask == 0)
		goto bad;
	if (set & ~mask) {
		char extra[9];
		unsigned o = 0;

		for (unsigned b = 0; b < 8; b++)
			if (set & ~mask & (1u << b))
				extra[o++] = tcp_flag_letters[b];
		extra[o] = '\0';
		return perr(p, t.col, "flags %.*s: %s is not in the mask", (int)t.len, t.s, extra);
	}
	r->has |= FW_HAS_FLAGS;
	r->tcp_flags = (uint8_t)set;
	r->tcp_mask = (uint8_t)mask;
	return 0;
bad:
	return perr(p, t.col, "expected TCP flags after 'flags' (letters of FSRPAUEW, e.g. S/SA), "
		    "got %s", tok_desc(&t, d, sizeof(d)));
}

static int
in_parse(struct parser *p, struct rule_ctx *rc)
{
	struct fw_rule *r = &rc->pr.r;
	struct tok t = lex_next(p);
	char d[256], name[FW_NAME_MAX + 1];
	uint16_t port = FW_PORT_NONE;
	unsigned input = FW_INPUT_NONE;
	int ret;

	if (!tok_word(&t))
		return perr(p, t.col, "expected a port or input name after 'in', got %s",
			    tok_desc(&t, d, sizeof(d)));
	if (t.len > FW_NAME_MAX)
		return perr(p, t.col, "name after 'in' is longer than %d bytes", FW_NAME_MAX);
	memcpy(name, t.s, t.len);
	name[t.len] = '\0';
	if (p->names == NULL || p->names->resolve_in == NULL)
		return perr(p, t.col, "unknown input %s after 'in' (this stage has no named inputs)",
			    tok_desc(&t, d, sizeof(d)));
	ret = p->names->resolve_in(p->names->arg, name, &port, &input);
	if (ret == -ENOENT)
		return perr(p, t.col, "unknown input %s after 'in' (expected a port or input ring "
			    "of the stage)", tok_desc(&t, d, sizeof(d)));
	if (ret < 0) {
		perr(p, t.col, "cannot resolve %s after 'in': %s", tok_desc(&t, d, sizeof(d)),
		     mpdp_strerror(ret));
		return ret;
	}
	if ((port == FW_PORT_NONE) == (input == FW_INPUT_NONE))
		return perr(p, t.col, "input %s resolved to neither one port nor one ring",
			    tok_desc(&t, d, sizeof(d)));
	if (store_str(p, &t, &rc->pr.name_off) < 0)
		return -ENOMEM;
	r->has |= FW_HAS_IN;
	r->in_port = port;
	r->in_input = input;
	return 0;
}

/* icmp-type: resolved at the end of the rule, once the protocol is known. */
static int
icmp_resolve(struct parser *p, struct rule_ctx *rc)
{
	struct fw_rule *r = &rc->pr.r;
	const struct icmp_name *tab;
	size_t n;
	unsigned long v;
	int v6;
	char d[256], list[256];
	size_t o = 0;

	if (!(r->has & FW_HAS_PROTO))
		goto need;
	/* exactly {IPv4 1} or exactly {IPv6 58} */
	if (proto_empty(r->proto[1]) && proto_only(r, 1ull << 1))
		v6 = 0;
	else if (proto_empty(r->proto[0]) && proto_only(r, 1ull << 58))
		v6 = 1;
	else
		goto need;
	if (tok_num(&rc->icmp_tok, &v) == 0) {
		if (v > 255)
			return perr(p, rc->icmp_tok.col, "ICMP type %.*s is out of range (0-255)",
				    (int)rc->icmp_tok.len, rc->icmp_tok.s);
		r->icmp_type = (uint8_t)v;
		return 0;
	}
	tab = v6 ? icmp6_names : icmp4_names;
	n = v6 ? sizeof(icmp6_names) / sizeof(icmp6_names[0]) :
		 sizeof(icmp4_names) / sizeof(icmp4_names[0]);
	for (size_t i = 0; i < n; i++) {
		if (tok_is(&rc->icmp_tok, tab[i].name)) {
			r->icmp_type = tab[i].type;
			return 0;
		}
		o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s", i ? ", " : "", tab[i].name);
	}
	return perr(p, rc->icmp_tok.col, "expected an %s type (a number 0-255 or one of %s) "
		    "after 'icmp-type', got %s", v6 ? "icmp6" : "icmp", list,
		    tok_desc(&rc->icmp_tok, d, sizeof(d)));
need:
	return perr(p, rc->col[G_ICMP], "'icmp-type' needs exactly one of icmp or icmp6 as the "
		    "protocol");
}

/* The checks that need the whole rule. */
static int
rule_check(struct parser *p, struct rule_ctx *rc)
{
	struct fw_rule *r = &rc->pr.r;
	const uint64_t tcp_udp = (1ull << 6) | (1ull << 17);
	unsigned fam, col;

	if (r->has & (FW_HAS_SPORT | FW_HAS_DPORT)) {
		col = (r->has & FW_HAS_SPORT) ? rc->sport_col : rc->dport_col;
		if (!(r->has & FW_HAS_PROTO) || !proto_only(r, tcp_udp))
			return perr(p, col, "port needs tcp or udp as the only protocols (add 'tcp', "
				    "'udp' or 'tcp,udp' to the rule)");
	}
	if ((r->has & FW_HAS_FLAGS) &&
	    (!(r->has & FW_HAS_PROTO) || !proto_only(r, 1ull << 6)))
		return perr(p, rc->col[G_FLAGS], "'flags' needs tcp as the only protocol");
	if (rc->col[G_ICMP]) {
		int ret = icmp_resolve(p, rc);

		if (ret < 0)
			return ret;
		r->has |= FW_HAS_ICMP_TYPE;
	}
	fam = proto_families(r);
	if (r->has & FW_HAS_SRC)
		fam &= prefix_families(p->pfx + rc->pr.src_off, r->n_src);
	if (r->has & FW_HAS_DST)
		fam &= prefix_families(p->pfx + rc->pr.dst_off, r->n_dst);
	if (fam == 0) {
		col = rc->col[G_PROTO];
		if (rc->col[G_FROM] > col)
			col = rc->col[G_FROM];
		if (rc->col[G_TO] > col)
			col = rc->col[G_TO];
		return perr(p, col, "rule can never match: its protocols and addresses have no IP "
			    "version in common (IPv4 vs IPv6)");
	}
	return 0;
}

static int
group_of(const struct tok *t)
{
	static const char *const protos[] = { "tcp", "udp", "icmp", "icmp6", "ip", "ip6", "any",
					      "proto" };

	for (size_t i = 0; i < sizeof(protos) / sizeof(protos[0]); i++)
		if (tok_is(t, protos[i]))
			return G_PROTO;
	if (tok_is(t, "from"))
		return G_FROM;
	if (tok_is(t, "to"))
		return G_TO;
	if (tok_is(t, "established") || tok_is(t, "new"))
		return G_STATE;
	if (tok_is(t, "flags"))
		return G_FLAGS;
	if (tok_is(t, "icmp-type"))
		return G_ICMP;
	if (tok_is(t, "vlan"))
		return G_VLAN;
	if (tok_is(t, "in"))
		return G_IN;
	return -1;
}

static int
rule_parse(struct parser *p, const struct tok *first)
{
	struct rule_ctx rc;
	struct fw_rule *r = &rc.pr.r;
	char d[256];
	unsigned long v;
	struct tok t;
	int g, ret;

	memset(&rc, 0, sizeof(rc));
	r->in_port = FW_PORT_NONE;
	r->in_input = FW_INPUT_NONE;
	r->line = p->lineno;
	ret = action_parse(p, first, " or 'default' at the start of a rule", &r->action);
	if (ret < 0)
		return ret;
	for (;;) {
		t = lex_next(p);
		if (t.len == 0)
			break;
		g = group_of(&t);
		if (g < 0)
			return perr(p, t.col, "expected a match (a protocol, 'from', 'to', "
				    "'established', 'new', 'flags', 'icmp-type', 'vlan' or 'in') or "
				    "end of line, got %s", tok_desc(&t, d, sizeof(d)));
		if (rc.col[g] != 0)
			return perr(p, t.col, "%s given twice in one rule (first at column %u)%s",
				    group_names[g], rc.col[g],
				    g == G_PROTO ? "; use a list like tcp,udp" : "");
		rc.col[g] = t.col;
		switch (g) {
		case G_PROTO:
			ret = proto_parse(p, &t, r);
			break;
		case G_FROM:
		case G_TO:
			ret = addrs_parse(p, &rc, g == G_FROM);
			break;
		case G_STATE:
			r->has |= FW_HAS_CT;
			r->ct = tok_is(&t, "new") ? FW_MATCH_NEW : FW_MATCH_ESTABLISHED;
			ret = 0;
			break;
		case G_FLAGS:
			ret = flags_parse(p, r);
			break;
		case G_ICMP:
			rc.icmp_tok = lex_next(p);
			ret = 0;
			if (!tok_word(&rc.icmp_tok))
				ret = perr(p, rc.icmp_tok.col, "expected an ICMP type name or number "
					   "after 'icmp-type', got %s",
					   tok_desc(&rc.icmp_tok, d, sizeof(d)));
			break;
		case G_VLAN:
			t = lex_next(p);
			if (tok_num(&t, &v) < 0) {
				ret = perr(p, t.col, "expected a VLAN id 0-4095 after 'vlan', got %s",
					   tok_desc(&t, d, sizeof(d)));
			} else if (v > 4095) {
				ret = perr(p, t.col, "VLAN id %.*s is out of range (0-4095)",
					   (int)t.len, t.s);
			} else {
				r->has |= FW_HAS_VLAN;
				r->vlan_id = (uint16_t)v;
				ret = 0;
			}
			break;
		default:
			ret = in_parse(p, &rc);
			break;
		}
		if (ret < 0)
			return ret;
	}
	ret = rule_check(p, &rc);
	if (ret < 0)
		return ret;
	if (p->n_rules >= FW_RULES_MAX)
		return perr(p, 1, "more than %d rules", FW_RULES_MAX);
	if (grow((void **)&p->rules, &p->cap_rules, p->n_rules + 1, sizeof(*p->rules)) < 0)
		return nomem(p);
	p->rules[p->n_rules++] = rc.pr;
	return 0;
}

static int
line_parse(struct parser *p)
{
	struct tok t;
	const char *nul;

	if (p->len > FW_RULES_LINE_MAX)
		return perr(p, FW_RULES_LINE_MAX + 1, "line is longer than %d bytes",
			    FW_RULES_LINE_MAX);
	nul = memchr(p->line, '\0', p->len);
	if (nul != NULL)
		return perr(p, (unsigned)(nul - p->line) + 1, "NUL byte in the rule file");
	p->pos = 0;
	t = lex_next(p);
	if (t.len == 0)
		return 0;
	if (tok_is(&t, "default"))
		return default_parse(p, &t);
	return rule_parse(p, &t);
}

/* Pack the rules and their lists into one allocation. */
static int
ruleset_pack(struct parser *p, struct fw_ruleset *out)
{
	size_t n = p->n_rules;
	size_t sz_rules = n * sizeof(struct fw_rule);
	size_t sz_rng = p->n_rng * sizeof(struct fw_port_range);
	size_t sz_pfx = p->n_pfx * sizeof(struct fw_prefix);
	char *blob = malloc(sz_rules + sz_rng + sz_pfx + p->n_str + 1);
	struct fw_rule *rules;
	struct fw_port_range *rng;
	struct fw_prefix *pfx;
	char *str;

	if (blob == NULL)
		return mpdp_err_set(p->eb, -ENOMEM, "%s: out of memory for %zu rules", p->file, n);
	/* rules first: the block is aligned for them, and the rest needs less */
	rules = (struct fw_rule *)blob;
	rng = (struct fw_port_range *)(blob + sz_rules);
	pfx = (struct fw_prefix *)(blob + sz_rules + sz_rng);
	str = blob + sz_rules + sz_rng + sz_pfx;
	if (sz_rng)
		memcpy(rng, p->rng, sz_rng);
	if (sz_pfx)
		memcpy(pfx, p->pfx, sz_pfx);
	if (p->n_str)
		memcpy(str, p->str, p->n_str);
	for (size_t i = 0; i < n; i++) {
		const struct prule *pr = &p->rules[i];
		struct fw_rule *r = &rules[i];

		*r = pr->r;
		r->src = r->n_src ? pfx + pr->src_off : NULL;
		r->dst = r->n_dst ? pfx + pr->dst_off : NULL;
		r->sport = r->n_sport ? rng + pr->sport_off : NULL;
		r->dport = r->n_dport ? rng + pr->dport_off : NULL;
		r->in_name = (r->has & FW_HAS_IN) ? str + pr->name_off : NULL;
	}
	out->rules = rules;
	out->n = (unsigned)n;
	out->dflt = p->defaults[0];
	out->non_ip = p->defaults[1];
	out->fragment = p->defaults[2];
	out->malformed = p->defaults[3];
	return 0;
}

int
fw_rules_parse(const char *text, size_t len, const char *filename, const struct fw_names *names,
	       struct fw_ruleset *out, struct mpdp_errbuf *eb)
{
	struct parser p;
	size_t pos = 0;
	int rc = 0;

	memset(&p, 0, sizeof(p));
	p.file = filename ? filename : "<rules>";
	p.names = names;
	p.eb = eb;
	if (out == NULL || (text == NULL && len != 0))
		return mpdp_err_set(eb, -EINVAL, "%s: no rule text or no ruleset to fill", p.file);
	if (names != NULL) {
		p.outputs = names->outputs;
		p.n_outputs = names->outputs ? names->n_outputs : 0;
	} else {
		p.outputs = builtin_outputs;
		p.n_outputs = 2;
	}
	p.out_idx = UINT_MAX;
	for (unsigned i = 0; i < p.n_outputs; i++)
		if (p.outputs[i] != NULL && strcmp(p.outputs[i], "out") == 0)
			p.out_idx = i;
	/* the built-in defaults: deny, non-ip allow, fragment deny, malformed deny */
	for (int i = 0; i < 4; i++)
		p.defaults[i] = (struct fw_action){ .kind = FW_DENY, .next = 0 };
	if (p.out_idx != UINT_MAX)
		p.defaults[1] = (struct fw_action){ .kind = FW_ALLOW, .next = (uint16_t)p.out_idx };

	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);

		p.line = text + pos;
		p.len = nl ? (size_t)(nl - p.line) : len - pos;
		p.lineno++;
		rc = line_parse(&p);
		if (rc < 0)
			goto out;
		pos += p.len + (nl ? 1 : 0);
	}
	if (p.out_idx == UINT_MAX && p.default_line[1] == 0) {
		rc = mpdp_err_set(eb, -EINVAL, "%s: the stage has no output named 'out' for the "
				  "built-in 'default non-ip allow'; add a 'default non-ip' line",
				  p.file);
		goto out;
	}
	rc = ruleset_pack(&p, out);
out:
	free(p.rules);
	free(p.pfx);
	free(p.rng);
	free(p.str);
	return rc;
}

int
fw_rules_load(const char *path, const struct fw_names *names, struct fw_ruleset *out,
	      struct mpdp_errbuf *eb)
{
	struct stat st;
	char *buf = NULL, *nb;
	size_t len = 0, cap;
	ssize_t got;
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return mpdp_err_set(eb, -errno, "%s: %s", path, mpdp_strerror(errno));
	if (fstat(fd, &st) < 0) {
		rc = mpdp_err_set(eb, -errno, "%s: %s", path, mpdp_strerror(errno));
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		rc = mpdp_err_set(eb, -EISDIR, "%s: %s", path, mpdp_strerror(EISDIR));
		goto out;
	}
	/* st_size is a hint only: a pipe or /proc file says 0 */
	cap = st.st_size > 0 && (uint64_t)st.st_size < FW_RULES_FILE_MAX ?
	      (size_t)st.st_size + 1 : 4096;
	buf = malloc(cap);
	if (buf == NULL) {
		rc = mpdp_err_set(eb, -ENOMEM, "%s: out of memory reading it", path);
		goto out;
	}
	for (;;) {
		if (len == cap) {
			if (cap >= FW_RULES_FILE_MAX) {
				rc = mpdp_err_set(eb, -EFBIG, "%s: larger than %u bytes", path,
						  FW_RULES_FILE_MAX);
				goto out;
			}
			nb = realloc(buf, cap * 2);
			if (nb == NULL) {
				rc = mpdp_err_set(eb, -ENOMEM, "%s: out of memory reading it", path);
				goto out;
			}
			buf = nb;
			cap *= 2;
		}
		got = read(fd, buf + len, cap - len);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			rc = mpdp_err_set(eb, -errno, "%s: %s", path, mpdp_strerror(errno));
			goto out;
		}
		if (got == 0)
			break;
		len += (size_t)got;
	}
	rc = fw_rules_parse(buf, len, path, names, out, eb);
out:
	free(buf);
	close(fd);
	return rc;
}

void
fw_ruleset_free(struct fw_ruleset *rs)
{
	if (rs == NULL)
		return;
	free(rs->rules);
	memset(rs, 0, sizeof(*rs));
}

/* A bounded appender: counts what would be written, so overflow is known. */
struct sbuf {
	char *b;
	size_t len;
	size_t pos;
};

static void
sb_printf(struct sbuf *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
sb_printf(struct sbuf *s, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(s->pos < s->len ? s->b + s->pos : NULL,
		      s->pos < s->len ? s->len - s->pos : 0, fmt, ap);
	va_end(ap);
	if (n > 0)
		s->pos += (size_t)n;
}

static void
sb_prefixes(struct sbuf *s, const struct fw_prefix *pf, uint32_t n)
{
	char a[INET6_ADDRSTRLEN];

	for (uint32_t i = 0; i < n; i++) {
		int is6 = pf[i].family == 6;

		inet_ntop(is6 ? AF_INET6 : AF_INET, pf[i].addr, a, sizeof(a));
		if (pf[i].len == (is6 ? 128 : 32))
			sb_printf(s, "%s%s", i ? "," : "", a);
		else
			sb_printf(s, "%s%s/%u", i ? "," : "", a, pf[i].len);
	}
}

static void
sb_ports(struct sbuf *s, const struct fw_port_range *pr, uint32_t n)
{
	sb_printf(s, " port ");
	for (uint32_t i = 0; i < n; i++) {
		if (pr[i].lo == pr[i].hi)
			sb_printf(s, "%s%u", i ? "," : "", pr[i].lo);
		else
			sb_printf(s, "%s%u-%u", i ? "," : "", pr[i].lo, pr[i].hi);
	}
}

static void
sb_flags(struct sbuf *s, unsigned bits)
{
	for (unsigned b = 0; b < 8; b++)
		if (bits & (1u << b))
			sb_printf(s, "%c", tcp_flag_letters[b]);
}

/* The protocol list. @return 0, or -EINVAL when no list gives this set */
static int
sb_protos(struct sbuf *s, const struct fw_rule *r)
{
	int all4 = proto_full(r->proto[0]), all6 = proto_full(r->proto[1]);
	const char *sep = " ";

	if (all4) {
		sb_printf(s, "%sip", sep);
		sep = ",";
	}
	if (all6) {
		sb_printf(s, "%sip6", sep);
		sep = ",";
	}
	for (unsigned v = 0; v < 256; v++) {
		int in4 = proto_has(r->proto, 0, v), in6 = proto_has(r->proto, 1, v);
		int need4 = in4 && !all4, need6 = in6 && !all6;

		if (!need4 && !need6)
			continue;
		/* a family-only name where one fits, else one for both families
		 * (harmless for a family that already has all protocols) */
		if (need4 && !need6 && v == 1) {
			sb_printf(s, "%sicmp", sep);
		} else if (need6 && !need4 && v == 58) {
			sb_printf(s, "%sicmp6", sep);
		} else if (in4 && in6) {
			if (v == 6)
				sb_printf(s, "%stcp", sep);
			else if (v == 17)
				sb_printf(s, "%sudp", sep);
			else
				sb_printf(s, "%sproto %u", sep, v);
		} else {
			return -EINVAL;
		}
		sep = ",";
	}
	return 0;
}

int
fw_rule_format(const struct fw_rule *r, const struct fw_names *names, char *buf, size_t len)
{
	const char *const *outs = names ? names->outputs : builtin_outputs;
	unsigned n_outs = names ? (names->outputs ? names->n_outputs : 0) : 2;
	struct sbuf s = { buf, len, 0 };

	switch (r->action.kind) {
	case FW_ALLOW:
		sb_printf(&s, "allow");
		break;
	case FW_DENY:
		sb_printf(&s, "deny");
		break;
	default:
		if (r->action.next >= n_outs || outs[r->action.next] == NULL)
			return -EINVAL;
		sb_printf(&s, "to %s", outs[r->action.next]);
		break;
	}
	if ((r->has & FW_HAS_PROTO) && sb_protos(&s, r) < 0)
		return -EINVAL;
	if (r->has & (FW_HAS_SRC | FW_HAS_SPORT)) {
		sb_printf(&s, " from ");
		if (r->has & FW_HAS_SRC)
			sb_prefixes(&s, r->src, r->n_src);
		else
			sb_printf(&s, "any");
		if (r->has & FW_HAS_SPORT)
			sb_ports(&s, r->sport, r->n_sport);
	}
	if (r->has & (FW_HAS_DST | FW_HAS_DPORT)) {
		sb_printf(&s, " to ");
		if (r->has & FW_HAS_DST)
			sb_prefixes(&s, r->dst, r->n_dst);
		else
			sb_printf(&s, "any");
		if (r->has & FW_HAS_DPORT)
			sb_ports(&s, r->dport, r->n_dport);
	}
	if (r->has & FW_HAS_CT)
		sb_printf(&s, r->ct ? " established" : " new");
	if (r->has & FW_HAS_FLAGS) {
		sb_printf(&s, " flags ");
		sb_flags(&s, r->tcp_flags);
		if (r->tcp_flags != r->tcp_mask) {
			sb_printf(&s, "/");
			sb_flags(&s, r->tcp_mask);
		}
	}
	if (r->has & FW_HAS_ICMP_TYPE) {
		int v6 = !proto_has(r->proto, 0, 1);
		const struct icmp_name *tab = v6 ? icmp6_names : icmp4_names;
		size_t n = v6 ? sizeof(icmp6_names) / sizeof(icmp6_names[0]) :
				sizeof(icmp4_names) / sizeof(icmp4_names[0]);
		size_t i;

		for (i = 0; i < n && tab[i].type != r->icmp_type; i++)
			;
		if (i < n)
			sb_printf(&s, " icmp-type %s", tab[i].name);
		else
			sb_printf(&s, " icmp-type %u", r->icmp_type);
	}
	if (r->has & FW_HAS_VLAN)
		sb_printf(&s, " vlan %u", r->vlan_id);
	if (r->has & FW_HAS_IN)
		sb_printf(&s, " in %s", r->in_name ? r->in_name : "?");
	if (s.pos >= len) {
		if (len > 0)
			buf[len - 1] = '\0';
		return -ENOSPC;
	}
	return (int)s.pos;
}

static int
addr_in(const struct fw_prefix *pf, uint32_t n, uint8_t family, const uint8_t *addr)
{
	for (uint32_t i = 0; i < n; i++)
		if (pf[i].family == family && bits_equal(pf[i].addr, addr, pf[i].len))
			return 1;
	return 0;
}

static int
port_in(const struct fw_port_range *pr, uint32_t n, uint16_t port)
{
	for (uint32_t i = 0; i < n; i++)
		if (port >= pr[i].lo && port <= pr[i].hi)
			return 1;
	return 0;
}

int
fw_rule_match(const struct fw_rule *r, const struct fw_key *k)
{
	uint32_t has = r->has;
	int ip = k->family == 4 || k->family == 6;
	int l4 = ip && (k->proto == 6 || k->proto == 17);
	int icmp = (k->family == 4 && k->proto == 1) || (k->family == 6 && k->proto == 58);

	if ((has & FW_HAS_PROTO) && (!ip || !proto_has(r->proto, k->family == 6, k->proto)))
		return 0;
	if ((has & FW_HAS_SRC) && !addr_in(r->src, r->n_src, k->family, k->src))
		return 0;
	if ((has & FW_HAS_DST) && !addr_in(r->dst, r->n_dst, k->family, k->dst))
		return 0;
	if ((has & FW_HAS_SPORT) && (!l4 || !port_in(r->sport, r->n_sport, k->sport)))
		return 0;
	if ((has & FW_HAS_DPORT) && (!l4 || !port_in(r->dport, r->n_dport, k->dport)))
		return 0;
	if ((has & FW_HAS_FLAGS) &&
	    (!ip || k->proto != 6 || (k->tcp_flags & r->tcp_mask) != r->tcp_flags))
		return 0;
	if ((has & FW_HAS_ICMP_TYPE) && (!icmp || k->icmp_type != r->icmp_type))
		return 0;
	if ((has & FW_HAS_VLAN) && (!k->has_vlan || k->vlan_id != r->vlan_id))
		return 0;
	if (has & FW_HAS_IN) {
		if (r->in_port != FW_PORT_NONE ? k->port != r->in_port : k->input != r->in_input)
			return 0;
	}
	if ((has & FW_HAS_CT) && (k->ct != 0) != (r->ct != 0))
		return 0;
	return 1;
}

void
fw_key_from_pkt(const struct mpdp_pkt_info *info, uint16_t port, unsigned input,
		int ct_established, struct fw_key *k)
{
	memset(k, 0, sizeof(*k));
	k->port = port;
	k->input = input;
	k->ct = ct_established ? FW_MATCH_ESTABLISHED : FW_MATCH_NEW;
	if (info->n_vlan > 0) {
		k->has_vlan = 1;
		k->vlan_id = info->vlan_tci[0] & 0x0fff;
	}
	if (info->ptype & MPDP_PTYPE_IPV4) {
		k->family = 4;
		memcpy(k->src, info->src_addr, 4);
		memcpy(k->dst, info->dst_addr, 4);
	} else if (info->ptype & MPDP_PTYPE_IPV6) {
		k->family = 6;
		memcpy(k->src, info->src_addr, 16);
		memcpy(k->dst, info->dst_addr, 16);
	} else {
		return;
	}
	k->proto = info->ip_proto;
	if (info->ptype & (MPDP_PTYPE_TCP | MPDP_PTYPE_UDP)) {
		k->sport = info->src_port;
		k->dport = info->dst_port;
	}
	if (info->ptype & MPDP_PTYPE_TCP)
		k->tcp_flags = info->tcp_flags;
	if (info->ptype & MPDP_PTYPE_ICMP)
		k->icmp_type = info->icmp_type;
}

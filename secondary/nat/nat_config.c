/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mpdp-nat options. Every refusal names the option, the value as given and
 * what was expected, since the user reads it once and fixes the command line.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nat_config.h"

#define SNAT_FORM "PREFIX=ADDR[-ADDR][:PORT-PORT], e.g. 10.0.0.0/8=192.0.2.1-192.0.2.4:1024-65535"
#define DNAT_FORM "OUTADDR:PORT=INADDR:PORT/PROTO, e.g. 192.0.2.1:8080=10.0.0.5:80/tcp"
/* Long enough for any value a rule can spell; longer is refused. */
#define VALUE_MAX 128

static const char *const timeout_names[NAT_TO_N_] = {
	"tcp-established", "tcp-transitory", "udp", "icmp",
};

void
nat_config_init(struct nat_config *c)
{
	memset(c, 0, sizeof(*c));
	c->max_sessions = NAT_SESSIONS_DEFAULT;
	c->timeout_s[NAT_TO_TCP_EST] = 7440;
	c->timeout_s[NAT_TO_TCP_TRANS] = 240;
	c->timeout_s[NAT_TO_UDP] = 300;
	c->timeout_s[NAT_TO_ICMP] = 60;
}

const char *
nat_config_timeout_name(enum nat_timeout t)
{
	return (unsigned)t < NAT_TO_N_ ? timeout_names[t] : "?";
}

/* Strict decimal in [lo, hi]: digits only, no sign, no spaces, no overflow. */
static int
parse_dec(const char *s, uint32_t lo, uint32_t hi, uint32_t *out)
{
	uint64_t v = 0;

	if (*s == '\0')
		return -EINVAL;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		v = v * 10 + (uint64_t)(*s - '0');
		if (v > hi)
			return -EINVAL;
	}
	if (v < lo)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

/* A dotted quad, strictly (inet_pton takes no shorthand); host order. */
static int
parse_addr(const char *s, uint32_t *out)
{
	struct in_addr a;

	if (inet_pton(AF_INET, s, &a) != 1)
		return -EINVAL;
	*out = ntohl(a.s_addr);
	return 0;
}

static void
addr_str(uint32_t a, char *buf, size_t size)
{
	snprintf(buf, size, "%u.%u.%u.%u", a >> 24, (a >> 16) & 0xff, (a >> 8) & 0xff, a & 0xff);
}

static int
copy_value(const char *opt, const char *s, char *buf, struct mpdp_errbuf *eb)
{
	if (s == NULL || *s == '\0')
		return mpdp_err_set(eb, -EINVAL, "--%s needs a value", opt);
	if (strlen(s) >= VALUE_MAX)
		return mpdp_err_set(eb, -EINVAL, "--%s %.40s...: too long (at most %d characters)",
				    opt, s, VALUE_MAX - 1);
	strcpy(buf, s);
	return 0;
}

/* "P-Q" or "P": ports 1 to 65535, P <= Q. */
static int
parse_port_range(char *s, uint16_t *lo, uint16_t *hi)
{
	char *dash = strchr(s, '-');
	uint32_t a, b;

	if (dash != NULL)
		*dash = '\0';
	if (parse_dec(s, 1, 65535, &a) != 0)
		return -EINVAL;
	b = a;
	if (dash != NULL && parse_dec(dash + 1, 1, 65535, &b) != 0)
		return -EINVAL;
	if (b < a)
		return -EINVAL;
	*lo = (uint16_t)a;
	*hi = (uint16_t)b;
	return 0;
}

int
nat_config_add_snat(struct nat_config *c, const char *s, struct mpdp_errbuf *eb)
{
	char buf[VALUE_MAX], a1[INET_ADDRSTRLEN], a2[INET_ADDRSTRLEN];
	char *eq, *slash, *colon, *dash;
	struct nat_snat r;
	uint32_t plen, hi;
	int rc;

	rc = copy_value("snat", s, buf, eb);
	if (rc != 0)
		return rc;
	if (c->n_snat == NAT_SNAT_MAX)
		return mpdp_err_set(eb, -EINVAL, "--snat %s: at most %d --snat rules", s, NAT_SNAT_MAX);
	memset(&r, 0, sizeof(r));
	eq = strchr(buf, '=');
	if (eq == NULL || eq == buf || eq[1] == '\0')
		return mpdp_err_set(eb, -EINVAL, "--snat %s: expected " SNAT_FORM, s);
	*eq = '\0';
	slash = strchr(buf, '/');
	if (slash == NULL)
		return mpdp_err_set(eb, -EINVAL, "--snat %s: inside prefix '%s' has no /LEN "
				    "(expected A.B.C.D/LEN, e.g. 10.0.0.0/8)", s, buf);
	*slash = '\0';
	if (parse_addr(buf, &r.prefix) != 0 || parse_dec(slash + 1, 0, 32, &plen) != 0)
		return mpdp_err_set(eb, -EINVAL, "--snat %s: inside prefix '%s/%s' is not "
				    "A.B.C.D/LEN with LEN 0 to 32", s, buf, slash + 1);
	r.plen = (uint8_t)plen;
	r.mask = plen == 0 ? 0 : ~0u << (32 - plen);
	if ((r.prefix & ~r.mask) != 0) {
		addr_str(r.prefix & r.mask, a1, sizeof(a1));
		return mpdp_err_set(eb, -EINVAL, "--snat %s: inside prefix %s/%u has host bits set "
				    "(did you mean %s/%u?)", s, buf, plen, a1, plen);
	}

	colon = strchr(eq + 1, ':');
	r.port_lo = NAT_PORT_LO_DEFAULT;
	r.port_hi = NAT_PORT_HI_DEFAULT;
	if (colon != NULL) {
		*colon = '\0';
		if (parse_port_range(colon + 1, &r.port_lo, &r.port_hi) != 0)
			return mpdp_err_set(eb, -EINVAL, "--snat %s: port range '%s' is not PORT-PORT "
					    "with 1 <= first <= last <= 65535", s, s + (colon + 1 - buf));
	}
	dash = strchr(eq + 1, '-');
	if (dash != NULL)
		*dash = '\0';
	if (parse_addr(eq + 1, &r.addr_lo) != 0)
		return mpdp_err_set(eb, -EINVAL, "--snat %s: outside address '%s' is not an IPv4 "
				    "address (expected " SNAT_FORM ")", s, eq + 1);
	hi = r.addr_lo;
	if (dash != NULL && parse_addr(dash + 1, &hi) != 0)
		return mpdp_err_set(eb, -EINVAL, "--snat %s: outside address '%s' is not an IPv4 "
				    "address (expected " SNAT_FORM ")", s, dash + 1);
	if (hi < r.addr_lo)
		return mpdp_err_set(eb, -EINVAL, "--snat %s: outside pool %s-%s ends before it starts",
				    s, eq + 1, dash + 1);
	if (hi - r.addr_lo >= NAT_POOL_MAX) {
		addr_str(r.addr_lo, a1, sizeof(a1));
		addr_str(hi, a2, sizeof(a2));
		return mpdp_err_set(eb, -EINVAL, "--snat %s: outside pool %s-%s holds %u addresses, "
				    "at most %d", s, a1, a2, hi - r.addr_lo + 1, NAT_POOL_MAX);
	}
	r.n_addrs = (uint16_t)(hi - r.addr_lo + 1);
	c->snat[c->n_snat++] = r;
	return 0;
}

/* "A.B.C.D:PORT" into host-order address and port. */
static int
parse_endpoint(char *s, uint32_t *addr, uint16_t *port)
{
	char *colon = strrchr(s, ':');
	uint32_t p;

	if (colon == NULL)
		return -EINVAL;
	*colon = '\0';
	if (parse_addr(s, addr) != 0 || parse_dec(colon + 1, 1, 65535, &p) != 0)
		return -EINVAL;
	*port = (uint16_t)p;
	return 0;
}

int
nat_config_add_dnat(struct nat_config *c, const char *s, struct mpdp_errbuf *eb)
{
	char buf[VALUE_MAX], out[VALUE_MAX], in[VALUE_MAX];
	char *eq, *slash;
	struct nat_dnat r;
	int rc;

	rc = copy_value("dnat", s, buf, eb);
	if (rc != 0)
		return rc;
	if (c->n_dnat == NAT_DNAT_MAX)
		return mpdp_err_set(eb, -EINVAL, "--dnat %s: at most %d --dnat rules", s, NAT_DNAT_MAX);
	memset(&r, 0, sizeof(r));
	eq = strchr(buf, '=');
	slash = strrchr(buf, '/');
	if (eq == NULL || slash == NULL || slash < eq)
		return mpdp_err_set(eb, -EINVAL, "--dnat %s: expected " DNAT_FORM, s);
	*eq = '\0';
	*slash = '\0';
	strcpy(out, buf);
	strcpy(in, eq + 1);
	if (strcmp(slash + 1, "tcp") == 0)
		r.proto = IPPROTO_TCP;
	else if (strcmp(slash + 1, "udp") == 0)
		r.proto = IPPROTO_UDP;
	else
		return mpdp_err_set(eb, -EINVAL, "--dnat %s: protocol '%s' is not tcp or udp", s,
				    slash + 1);
	if (parse_endpoint(buf, &r.out_addr, &r.out_port) != 0)
		return mpdp_err_set(eb, -EINVAL, "--dnat %s: outside endpoint '%s' is not ADDR:PORT "
				    "(IPv4 address, port 1 to 65535; expected " DNAT_FORM ")", s, out);
	if (parse_endpoint(eq + 1, &r.in_addr, &r.in_port) != 0)
		return mpdp_err_set(eb, -EINVAL, "--dnat %s: inside endpoint '%s' is not ADDR:PORT "
				    "(IPv4 address, port 1 to 65535; expected " DNAT_FORM ")", s, in);
	c->dnat[c->n_dnat++] = r;
	return 0;
}

int
nat_config_set_max_sessions(struct nat_config *c, const char *s, struct mpdp_errbuf *eb)
{
	uint32_t v;

	if (s == NULL || parse_dec(s, 1, NAT_SESSIONS_MAX, &v) != 0)
		return mpdp_err_set(eb, -EINVAL, "--max-sessions %s: expected a number from 1 to %u",
				    s ? s : "", NAT_SESSIONS_MAX);
	c->max_sessions = v;
	return 0;
}

int
nat_config_set_timeout(struct nat_config *c, const char *s, struct mpdp_errbuf *eb)
{
	char buf[VALUE_MAX], *eq;
	uint32_t v;
	int rc;

	rc = copy_value("timeout", s, buf, eb);
	if (rc != 0)
		return rc;
	eq = strchr(buf, '=');
	if (eq == NULL)
		return mpdp_err_set(eb, -EINVAL, "--timeout %s: expected NAME=SECONDS, NAME one of "
				    "tcp-established, tcp-transitory, udp, icmp", s);
	*eq = '\0';
	for (unsigned t = 0; t < NAT_TO_N_; t++) {
		if (strcmp(buf, timeout_names[t]) != 0)
			continue;
		if (parse_dec(eq + 1, 1, NAT_TIMEOUT_MAX, &v) != 0)
			return mpdp_err_set(eb, -EINVAL, "--timeout %s: '%s' is not a number of "
					    "seconds from 1 to %u", s, eq + 1, NAT_TIMEOUT_MAX);
		c->timeout_s[t] = v;
		return 0;
	}
	return mpdp_err_set(eb, -EINVAL, "--timeout %s: unknown timeout '%s' (expected "
			    "tcp-established, tcp-transitory, udp or icmp)", s, buf);
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Add @p a to the unsorted address list unless present (the lists are short: a scan). */
static int
addr_add(struct nat_config *c, uint32_t a, struct mpdp_errbuf *eb)
{
	for (uint32_t i = 0; i < c->n_addrs; i++) {
		if (c->addrs[i] == a)
			return 0;
	}
	if (c->n_addrs == NAT_ADDRS_MAX)
		return mpdp_err_set(eb, -EINVAL, "the --snat pools and --dnat rules name more than %d "
				    "distinct outside addresses", NAT_ADDRS_MAX);
	c->addrs[c->n_addrs++] = a;
	return 0;
}

int
nat_config_finish(struct nat_config *c, struct mpdp_errbuf *eb)
{
	char r1[NAT_RULE_STR_MAX], r2[NAT_RULE_STR_MAX];
	int rc;

	if (c->n_snat == 0 && c->n_dnat == 0)
		return mpdp_err_set(eb, -EINVAL, "no --snat or --dnat rule: give at least one, e.g. "
				    "--snat 10.0.0.0/8=192.0.2.1:1024-65535");
	for (uint32_t i = 0; i < c->n_dnat; i++) {
		for (uint32_t j = 0; j < i; j++) {
			const struct nat_dnat *a = &c->dnat[j], *b = &c->dnat[i];
			int same_out = a->proto == b->proto && a->out_addr == b->out_addr &&
				       a->out_port == b->out_port;
			int same_in = a->proto == b->proto && a->in_addr == b->in_addr &&
				      a->in_port == b->in_port;

			if (!same_out && !same_in)
				continue;
			nat_config_dnat_str(a, r1, sizeof(r1));
			nat_config_dnat_str(b, r2, sizeof(r2));
			return mpdp_err_set(eb, -EINVAL, "--dnat %s and --dnat %s map the same %s "
					    "endpoint: a mapping must be one-to-one", r1, r2,
					    same_out ? "outside" : "inside");
		}
	}
	/* Rebuilt from the rules every time, so finishing twice is harmless. */
	c->n_addrs = 0;
	memset(c->addrs, 0, sizeof(c->addrs));
	for (uint32_t i = 0; i < c->n_snat; i++) {
		for (uint32_t k = 0; k < c->snat[i].n_addrs; k++) {
			rc = addr_add(c, c->snat[i].addr_lo + k, eb);
			if (rc != 0)
				return rc;
		}
	}
	for (uint32_t i = 0; i < c->n_dnat; i++) {
		rc = addr_add(c, c->dnat[i].out_addr, eb);
		if (rc != 0)
			return rc;
	}
	qsort(c->addrs, c->n_addrs, sizeof(c->addrs[0]), cmp_u32);
	/* A pool is a run of consecutive integers, so its addresses are
	 * consecutive in the sorted list too: one base index per rule. */
	for (uint32_t i = 0; i < c->n_snat; i++)
		c->snat[i].addr_base = (uint16_t)nat_config_addr_index(c, c->snat[i].addr_lo);
	return 0;
}

int
nat_config_parse_sessions(const char *s, uint32_t *n, struct mpdp_errbuf *eb)
{
	if (s == NULL || parse_dec(s, 0, NAT_REPORT_SESSIONS_MAX, n) != 0)
		return mpdp_err_set(eb, -EINVAL, "--sessions %s: expected a number from 0 to %u",
				    s ? s : "", NAT_REPORT_SESSIONS_MAX);
	return 0;
}

static const char *const argv_names[] = { "snat", "dnat", "max-sessions", "timeout", "sessions" };
#define N_ARGV_NAMES (sizeof(argv_names) / sizeof(argv_names[0]))

/* Which NAT option @p arg is (-1: none), with its value inline after '=' or not. */
static int
argv_option(const char *arg, const char **inline_value)
{
	if (strncmp(arg, "--", 2) != 0)
		return -1;
	for (unsigned i = 0; i < N_ARGV_NAMES; i++) {
		size_t n = strlen(argv_names[i]);

		if (strncmp(arg + 2, argv_names[i], n) != 0)
			continue;
		if (arg[2 + n] == '\0') {
			*inline_value = NULL;
			return (int)i;
		}
		if (arg[2 + n] == '=') {
			*inline_value = arg + 3 + n;
			return (int)i;
		}
	}
	return -1;
}

int
nat_config_from_argv(struct nat_config *c, uint32_t *sessions, int argc, char *const *argv,
		     struct mpdp_errbuf *eb)
{
	*sessions = NAT_REPORT_SESSIONS_DEFAULT;
	for (int i = 1; i < argc; i++) {
		const char *v;
		int opt, rc;

		if (strcmp(argv[i], "--") == 0)
			break;
		opt = argv_option(argv[i], &v);
		if (opt < 0)
			continue;
		if (v == NULL) {
			if (i + 1 == argc)
				return mpdp_err_set(eb, -EINVAL, "--%s needs a value", argv_names[opt]);
			v = argv[++i];
		}
		switch (opt) {
		case 0: rc = nat_config_add_snat(c, v, eb); break;
		case 1: rc = nat_config_add_dnat(c, v, eb); break;
		case 2: rc = nat_config_set_max_sessions(c, v, eb); break;
		case 3: rc = nat_config_set_timeout(c, v, eb); break;
		default: rc = nat_config_parse_sessions(v, sessions, eb); break;
		}
		if (rc != 0)
			return rc;
	}
	return 0;
}

int
nat_config_inside_known(const struct nat_config *c, uint32_t addr)
{
	if (nat_config_snat_match(c, addr) != NULL)
		return 1;
	for (uint32_t i = 0; i < c->n_dnat; i++) {
		if (c->dnat[i].in_addr == addr)
			return 1;
	}
	return 0;
}

static int
snat_same(const struct nat_snat *a, const struct nat_snat *b)
{
	return a->prefix == b->prefix && a->plen == b->plen && a->addr_lo == b->addr_lo &&
	       a->n_addrs == b->n_addrs && a->port_lo == b->port_lo && a->port_hi == b->port_hi;
}

static int
dnat_same(const struct nat_dnat *a, const struct nat_dnat *b)
{
	return a->proto == b->proto && a->out_addr == b->out_addr && a->out_port == b->out_port &&
	       a->in_addr == b->in_addr && a->in_port == b->in_port;
}

int
nat_config_same_shape(const struct nat_config *was, const struct nat_config *now, char *buf,
		      size_t size)
{
	char r1[NAT_RULE_STR_MAX], r2[NAT_RULE_STR_MAX];

	if (was->max_sessions != now->max_sessions) {
		snprintf(buf, size, "--max-sessions %u there, %u here", was->max_sessions,
			 now->max_sessions);
		return 0;
	}
	for (uint32_t i = 0; i < was->n_snat || i < now->n_snat; i++) {
		if (i < was->n_snat && i < now->n_snat && snat_same(&was->snat[i], &now->snat[i]))
			continue;
		if (i < was->n_snat)
			nat_config_snat_str(&was->snat[i], r1, sizeof(r1));
		if (i < now->n_snat)
			nat_config_snat_str(&now->snat[i], r2, sizeof(r2));
		snprintf(buf, size, "--snat rule %u: %s there, %s here", i + 1,
			 i < was->n_snat ? r1 : "none", i < now->n_snat ? r2 : "none");
		return 0;
	}
	for (uint32_t i = 0; i < was->n_dnat || i < now->n_dnat; i++) {
		if (i < was->n_dnat && i < now->n_dnat && dnat_same(&was->dnat[i], &now->dnat[i]))
			continue;
		if (i < was->n_dnat)
			nat_config_dnat_str(&was->dnat[i], r1, sizeof(r1));
		if (i < now->n_dnat)
			nat_config_dnat_str(&now->dnat[i], r2, sizeof(r2));
		snprintf(buf, size, "--dnat rule %u: %s there, %s here", i + 1,
			 i < was->n_dnat ? r1 : "none", i < now->n_dnat ? r2 : "none");
		return 0;
	}
	if (size > 0)
		buf[0] = '\0';
	return 1;
}

void
nat_config_snat_str(const struct nat_snat *r, char *buf, size_t size)
{
	char p[INET_ADDRSTRLEN], lo[INET_ADDRSTRLEN], hi[INET_ADDRSTRLEN];

	addr_str(r->prefix, p, sizeof(p));
	addr_str(r->addr_lo, lo, sizeof(lo));
	addr_str(r->addr_lo + r->n_addrs - 1u, hi, sizeof(hi));
	if (r->n_addrs > 1)
		snprintf(buf, size, "%s/%u=%s-%s:%u-%u", p, r->plen, lo, hi, r->port_lo, r->port_hi);
	else
		snprintf(buf, size, "%s/%u=%s:%u-%u", p, r->plen, lo, r->port_lo, r->port_hi);
}

void
nat_config_dnat_str(const struct nat_dnat *r, char *buf, size_t size)
{
	char o[INET_ADDRSTRLEN], i[INET_ADDRSTRLEN];

	addr_str(r->out_addr, o, sizeof(o));
	addr_str(r->in_addr, i, sizeof(i));
	snprintf(buf, size, "%s:%u=%s:%u/%s", o, r->out_port, i, r->in_port,
		 r->proto == IPPROTO_TCP ? "tcp" : "udp");
}

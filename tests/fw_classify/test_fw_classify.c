/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The classifier against the reference: on random rule sets of 1 to 10,000
 * rules and random keys aimed at rule boundaries (prefix edges, port range
 * edges, both IP versions, tagged and untagged, every input), fw_classify()
 * and fw_classify_burst() must return the index of the first rule
 * fw_rule_match() accepts. Plus the edges: no rules, rules that constrain
 * nothing, every field in one rule, the ends of the address and port
 * spaces, non-IP keys, and rules the classifier must refuse.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc_fail.h"
#include "fw_classify.h"
#include "fw_rules.h"
#include "fw_test_names.h"
#include "mpdp_err.h"
#include "test_util.h"

static struct fw_ruleset
parse_ok(const char *text)
{
	struct fw_ruleset rs;
	struct mpdp_errbuf eb = { "" };

	if (fw_rules_parse(text, strlen(text), "gen", &fw_test_names, &rs, &eb) != 0)
		fail_msg("parse failed: %s", eb.msg);
	return rs;
}

static struct fw_classifier *
build_ok(const struct fw_ruleset *rs)
{
	struct fw_classifier *c = NULL;
	struct mpdp_errbuf eb = { "" };

	if (fw_classifier_build(rs, &c, &eb) != 0)
		fail_msg("build failed: %s", eb.msg);
	assert_non_null(c);
	assert_true(fw_classifier_memory(c) > 0);
	return c;
}

static uint32_t
brute(const struct fw_ruleset *rs, const struct fw_key *k)
{
	for (unsigned i = 0; i < rs->n; i++)
		if (fw_rule_match(&rs->rules[i], k))
			return i;
	return FW_NO_MATCH;
}

static unsigned
pick(uint64_t *s, unsigned n)
{
	return (unsigned)(test_rand(s) % n);
}

/* ---- random rules, drawn from small pools so that they overlap -------- */

/* Addresses come from spread sites (/16s, or /48s for IPv6): few sites make
 * rules overlap, enough of them keep late rules reachable in large sets. */
static unsigned
spread_of(unsigned n_rules)
{
	return 4 + n_rules / 8;
}

/* 1 in rare_of(n) rules is broad (no address, or a /0): a broad rule early
 * answers for most keys and hides the rules after it. */
static unsigned
rare_of(unsigned spread)
{
	return 46 + 4 * spread;
}

static void
rand_prefix(uint64_t *s, int v6, unsigned spread, char *out, size_t cap)
{
	static const unsigned len4[] = { 8, 12, 16, 20, 22, 24, 24, 26, 28, 30, 31, 32, 32, 32 };
	static const unsigned len6[] = { 16, 32, 48, 52, 56, 64, 64, 96, 120, 127, 128, 128 };
	uint8_t a[16] = { 0 };
	char txt[INET6_ADDRSTRLEN];
	unsigned len, site = pick(s, spread), edge = pick(s, 40);
	uint32_t h = (uint32_t)(site * 2654435761u);

	if (!v6) {
		/* now and then the ends of the space */
		a[0] = (uint8_t)(edge == 0 ? 255 : edge == 1 ? 0 : 1 + (h >> 8) % 254);
		a[1] = (uint8_t)(edge == 0 ? 255 : edge == 1 ? 0 : h >> 16);
		a[2] = (uint8_t)(edge < 2 ? pick(s, 256) : pick(s, 4));
		a[3] = (uint8_t)pick(s, 256);
		len = pick(s, rare_of(spread)) ? len4[pick(s, sizeof(len4) / sizeof(len4[0]))] : 0;
	} else {
		a[0] = 0x20;
		a[1] = 0x01;
		a[2] = 0x0d;
		a[3] = 0xb8;
		a[4] = (uint8_t)(h >> 8);
		a[5] = (uint8_t)(h >> 16);
		a[7] = (uint8_t)pick(s, 4);
		a[14] = (uint8_t)pick(s, 256);
		a[15] = (uint8_t)pick(s, 256);
		if (edge == 0)
			memset(a, 0xff, 16);
		len = pick(s, rare_of(spread)) ? len6[pick(s, sizeof(len6) / sizeof(len6[0]))] : 0;
	}
	for (unsigned b = len; b < 128; b++)
		a[b / 8] &= (uint8_t)~(0x80u >> (b % 8));
	inet_ntop(v6 ? AF_INET6 : AF_INET, a, txt, sizeof(txt));
	snprintf(out, cap, "%s/%u", txt, len);
}

static unsigned
rand_port(uint64_t *s)
{
	static const unsigned pool[] = { 1, 2, 22, 53, 80, 443, 1023, 1024, 8080, 65534, 65535 };

	return pick(s, 4) == 0 ? 1 + pick(s, 65535) : pool[pick(s, sizeof(pool) / sizeof(pool[0]))];
}

static size_t
rand_ports(uint64_t *s, char *out, size_t cap)
{
	unsigned n = 1 + pick(s, 3);
	size_t o = 0;

	o += (size_t)snprintf(out + o, cap - o, " port ");
	for (unsigned i = 0; i < n; i++) {
		unsigned lo = rand_port(s), hi = lo;

		if (pick(s, 3) == 0)
			hi = lo + pick(s, 3) * pick(s, 700);
		if (hi > 65535)
			hi = 65535;
		o += (size_t)snprintf(out + o, cap - o, hi > lo ? "%s%u-%u" : "%s%u", i ? "," : "",
				      lo, hi);
	}
	return o;
}

/* One random valid rule line (with its newline). */
static size_t
rand_rule(uint64_t *s, unsigned density, unsigned spread, char *out, size_t cap)
{
	static const char *const actions[] = { "allow", "deny", "to mon" };
	static const char *const ins[] = { "eth0", "eth1", "port7", "ring0", "inside" };
	static const char *const icmp4[] = { "echo-request", "echo-reply", "dest-unreach", "3",
					     "11", "0" };
	static const char *const icmp6[] = { "echo-request", "neighbor-solicit", "1", "128",
					     "136" };
	unsigned pk = pick(s, 12);
	int tcpudp = pk < 4, tcp_only = pk == 0 || pk == 1, fam, need_addr;
	size_t o = 0;
	char pfx[64];

	o += (size_t)snprintf(out + o, cap - o, "%s", actions[pick(s, 3)]);
	switch (pk) {
	case 0:
	case 1:
		o += (size_t)snprintf(out + o, cap - o, " tcp");
		break;
	case 2:
		o += (size_t)snprintf(out + o, cap - o, " udp");
		break;
	case 3:
		o += (size_t)snprintf(out + o, cap - o, " tcp,udp");
		break;
	case 4:
		o += (size_t)snprintf(out + o, cap - o, " icmp");
		break;
	case 5:
		o += (size_t)snprintf(out + o, cap - o, " icmp6");
		break;
	case 6:
		o += (size_t)snprintf(out + o, cap - o, " ip");
		break;
	case 7:
		o += (size_t)snprintf(out + o, cap - o, " ip6,proto 6");
		break;
	case 8:
		o += (size_t)snprintf(out + o, cap - o, " proto 47,udp");
		break;
	default:
		break;
	}
	/* the IP version(s) the addresses may use: 0 = both */
	fam = pk == 4 || pk == 6 ? 4 : pk == 5 ? 6 : (int[]){ 0, 4, 4, 6 }[pick(s, 4)];
	need_addr = pick(s, rare_of(spread)) != 0;
	for (int dir = 0; dir < 2; dir++) {
		unsigned n = pick(s, 100) < density || (dir == 1 && need_addr) ? 1 + pick(s, 3) : 0;
		int ports = tcpudp && pick(s, 100) < density;

		need_addr &= n == 0;

		if (n == 0 && !ports)
			continue;
		o += (size_t)snprintf(out + o, cap - o, " %s ", dir ? "to" : "from");
		if (n == 0)
			o += (size_t)snprintf(out + o, cap - o, "any");
		for (unsigned i = 0; i < n; i++) {
			/* a mixed list starts with IPv4, so from and to share a family */
			int v6 = fam == 6 || (fam == 0 && i > 0 && pick(s, 2));

			rand_prefix(s, v6, spread, pfx, sizeof(pfx));
			o += (size_t)snprintf(out + o, cap - o, "%s%s", i ? "," : "", pfx);
		}
		if (ports)
			o += rand_ports(s, out + o, cap - o);
	}
	if (pick(s, 100) < density / 3)
		o += (size_t)snprintf(out + o, cap - o, pick(s, 2) ? " established" : " new");
	if (tcp_only && pick(s, 100) < density / 2) {
		static const char *const fl[] = { "S/SA", "S", "A", "/R", "SA/SAFR", "F/F", "R" };

		o += (size_t)snprintf(out + o, cap - o, " flags %s", fl[pick(s, 7)]);
	}
	if (pk == 4 && pick(s, 2))
		o += (size_t)snprintf(out + o, cap - o, " icmp-type %s", icmp4[pick(s, 6)]);
	if (pk == 5 && pick(s, 2))
		o += (size_t)snprintf(out + o, cap - o, " icmp-type %s", icmp6[pick(s, 5)]);
	if (pick(s, 100) < density / 4)
		o += (size_t)snprintf(out + o, cap - o, " vlan %u",
				      (unsigned[]){ 0, 1, 10, 100, 4095 }[pick(s, 5)]);
	if (pick(s, 100) < density / 4)
		o += (size_t)snprintf(out + o, cap - o, " in %s", ins[pick(s, 5)]);
	o += (size_t)snprintf(out + o, cap - o, "\n");
	assert_true(o < cap);
	return o;
}

/* density: percent chance of each optional field; 0 makes rules of action and protocol only */
static struct fw_ruleset
rand_ruleset(uint64_t *s, unsigned n, unsigned density)
{
	size_t cap = (size_t)n * 300 + 1, len = 0;
	char *text = malloc(cap);
	struct fw_ruleset rs;

	assert_non_null(text);
	for (unsigned i = 0; i < n; i++)
		len += rand_rule(s, density, spread_of(n), text + len, cap - len);
	text[len] = '\0';
	rs = parse_ok(text);
	assert_int_equal(rs.n, n);
	free(text);
	return rs;
}

/* ---- random keys, aimed at a rule's edges ----------------------------- */

static void
put_be(uint8_t *a, unsigned bytes, const uint8_t *src)
{
	memcpy(a, src, bytes);
}

/* An address at or next to an edge of @p pf, or inside it. */
static void
addr_near(uint64_t *s, const struct fw_prefix *pf, uint8_t *out)
{
	unsigned max = pf->family == 4 ? 32 : 128, bytes = max / 8;
	uint8_t a[16];
	unsigned how = pick(s, 5);

	memcpy(a, pf->addr, 16);
	/* host part: all zero (start), all one (end), or random */
	for (unsigned b = pf->len; b < max; b++) {
		int one = how == 1 || how == 3 || (how == 4 && pick(s, 2));

		if (one)
			a[b / 8] |= (uint8_t)(0x80u >> (b % 8));
	}
	if (how == 2) {         /* one before the start */
		for (int i = (int)bytes - 1; i >= 0 && a[i]-- == 0; i--)
			;
	} else if (how == 3) {  /* one past the end */
		for (int i = (int)bytes - 1; i >= 0 && ++a[i] == 0; i--)
			;
	}
	memset(out, 0, 16);
	put_be(out, bytes, a);
}

static void
addr_random(uint64_t *s, int v6, unsigned spread, uint8_t *out)
{
	struct fw_prefix pf;
	char txt[64], *slash;

	/* a random rule-like prefix, then somewhere near it */
	rand_prefix(s, v6, spread, txt, sizeof(txt));
	slash = strchr(txt, '/');
	pf.len = (uint8_t)atoi(slash + 1);
	*slash = '\0';
	memset(pf.addr, 0, sizeof(pf.addr));
	assert_int_equal(inet_pton(v6 ? AF_INET6 : AF_INET, txt, pf.addr), 1);
	pf.family = v6 ? 6 : 4;
	addr_near(s, &pf, out);
}

static uint16_t
port_near(uint64_t *s, const struct fw_port_range *r, uint32_t n)
{
	const struct fw_port_range *x;

	if (n == 0 || pick(s, 5) == 0)
		return (uint16_t)(pick(s, 8) == 0 ? 0 : rand_port(s));
	x = &r[pick(s, n)];
	switch (pick(s, 5)) {
	case 0:
		return (uint16_t)(x->lo - 1);
	case 1:
		return x->lo;
	case 2:
		return x->hi;
	case 3:
		return (uint16_t)(x->hi + 1);   /* 65535 + 1 wraps to port 0 */
	default:
		return (uint16_t)(x->lo + pick(s, (unsigned)(x->hi - x->lo) + 1));
	}
}

static void
rand_key(uint64_t *s, const struct fw_ruleset *rs, struct fw_key *k)
{
	static const uint8_t protos[] = { 6, 17, 1, 58, 47, 0, 132, 6, 17 };
	const struct fw_rule *r = rs->n && pick(s, 5) ? &rs->rules[pick(s, rs->n)] : NULL;
	int fam;

	memset(k, 0, sizeof(*k));
	/* the family: the rule's source prefix's, else the destination's, else random */
	if (r && r->n_src)
		fam = r->src[pick(s, r->n_src)].family;
	else if (r && r->n_dst)
		fam = r->dst[pick(s, r->n_dst)].family;
	else
		fam = (int[]){ 4, 6, 4, 6, 0 }[pick(s, 5)];
	k->family = (uint8_t)fam;
	if (fam != 0) {
		int v6 = fam == 6;
		const struct fw_prefix *c[2] = { NULL, NULL };

		for (int dir = 0; dir < 2 && r; dir++) {
			const struct fw_prefix *pf = dir ? r->dst : r->src;
			uint32_t n = dir ? r->n_dst : r->n_src, start = n ? pick(s, n) : 0;

			for (uint32_t i = 0; i < n; i++)
				if (pf[(start + i) % n].family == fam) {
					c[dir] = &pf[(start + i) % n];
					break;
				}
		}
		if (c[0] && pick(s, 6))
			addr_near(s, c[0], k->src);
		else
			addr_random(s, v6, spread_of(rs->n), k->src);
		if (c[1] && pick(s, 6))
			addr_near(s, c[1], k->dst);
		else
			addr_random(s, v6, spread_of(rs->n), k->dst);
		/* the protocol: one the rule allows, mostly */
		k->proto = protos[pick(s, sizeof(protos))];
		if (r && (r->has & FW_HAS_PROTO) && pick(s, 5)) {
			unsigned start = pick(s, 256);

			for (unsigned i = 0; i < 256; i++) {
				unsigned p = (start + i) % 256;

				if ((r->proto[v6][p / 64] >> (p % 64)) & 1) {
					k->proto = (uint8_t)p;
					break;
				}
			}
		}
	} else {
		k->proto = protos[pick(s, sizeof(protos))];   /* ignored: not IP */
	}
	k->sport = port_near(s, r ? r->sport : NULL, r ? r->n_sport : 0);
	k->dport = port_near(s, r ? r->dport : NULL, r ? r->n_dport : 0);
	k->tcp_flags = (uint8_t)test_rand(s);
	if (r && (r->has & FW_HAS_FLAGS) && pick(s, 2))
		k->tcp_flags = (uint8_t)(r->tcp_flags | (k->tcp_flags & ~r->tcp_mask));
	k->icmp_type = (uint8_t)(r && (r->has & FW_HAS_ICMP_TYPE) && pick(s, 2) ?
				 r->icmp_type + (int)pick(s, 3) - 1 :
				 (uint8_t[]){ 0, 3, 8, 11, 128, 135, 255 }[pick(s, 7)]);
	k->has_vlan = (uint8_t)pick(s, 2);
	k->vlan_id = (uint16_t)(r && (r->has & FW_HAS_VLAN) && pick(s, 2) ?
				r->vlan_id + (int)pick(s, 3) - 1 :
				(uint16_t[]){ 0, 1, 10, 4095, 4096, 65535 }[pick(s, 6)]);
	k->port = (uint16_t[]){ 0, 1, 2, 3, 7, 8, 100, FW_PORT_NONE }[pick(s, 8)];
	k->input = (unsigned[]){ 0, 1, 2, 3, 50, FW_INPUT_NONE }[pick(s, 6)];
	if (r && (r->has & FW_HAS_IN) && pick(s, 2)) {
		if (r->in_port != FW_PORT_NONE)
			k->port = r->in_port;
		else
			k->input = r->in_input;
	}
	k->ct = (uint8_t[]){ 0, 1, 0, 1, 2 }[pick(s, 5)];
}

/* n_keys random keys: fw_classify and fw_classify_burst must both agree with brute force. */
static void
check_against_brute_force_with(const struct fw_classifier *c, const struct fw_ruleset *rs,
			       uint64_t *s, unsigned n_keys)
{
	struct fw_key *keys = malloc(n_keys * sizeof(*keys));
	uint32_t *got = malloc(n_keys * sizeof(*got));
	unsigned hits = 0;

	assert_non_null(keys);
	assert_non_null(got);
	for (unsigned i = 0; i < n_keys; i++)
		rand_key(s, rs, &keys[i]);
	fw_classify_burst(c, keys, n_keys, got);
	for (unsigned i = 0; i < n_keys; i++) {
		uint32_t want = brute(rs, &keys[i]);
		uint32_t one = fw_classify(c, &keys[i]);

		if (one != want || got[i] != want) {
			char line[1024] = "";

			if (want != FW_NO_MATCH)
				fw_rule_format(&rs->rules[want], &fw_test_names, line, sizeof(line));
			fail_msg("%u rules, key %u (family %u proto %u sport %u dport %u vlan %u/%u "
				 "port %u input %u ct %u): classify %u, burst %u, brute force %u (%s)",
				 rs->n, i, keys[i].family, keys[i].proto, keys[i].sport, keys[i].dport,
				 keys[i].has_vlan, keys[i].vlan_id, keys[i].port, keys[i].input,
				 keys[i].ct, one, got[i], want, line);
		}
		hits += want != FW_NO_MATCH;
	}
	/* the keys are aimed well enough that many match something */
	if (rs->n >= 10)
		assert_true(hits > n_keys / 20);
	free(keys);
	free(got);
}

static void
check_against_brute_force(const struct fw_ruleset *rs, uint64_t *s, unsigned n_keys)
{
	struct fw_classifier *c = build_ok(rs);

	check_against_brute_force_with(c, rs, s, n_keys);
	fw_classifier_free(c);
}

static void
test_random_rulesets_agree_with_brute_force(void **state)
{
	static const struct { unsigned rules, keys, density, sets; } sizes[] = {
		{ 1, 2000, 60, 40 }, { 10, 5000, 60, 10 }, { 100, 10000, 60, 4 },
		{ 100, 5000, 20, 2 }, { 1000, 10000, 60, 2 }, { 1000, 5000, 95, 1 },
		{ 1000, 5000, 10, 1 }, { 10000, 2000, 60, 1 },
	};
	uint64_t seed = 0xf12ec1a55ull;

	(void)state;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		for (unsigned j = 0; j < sizes[i].sets; j++) {
			struct fw_ruleset rs = rand_ruleset(&seed, sizes[i].rules, sizes[i].density);

			check_against_brute_force(&rs, &seed, sizes[i].keys);
			fw_ruleset_free(&rs);
		}
	}
}

static void
test_no_rules_match_nothing(void **state)
{
	struct fw_ruleset rs = parse_ok("default deny\n");
	struct fw_classifier *c = build_ok(&rs);
	uint64_t seed = 7;
	struct fw_key k[64];
	uint32_t out[64];

	(void)state;
	for (unsigned i = 0; i < 64; i++) {
		rand_key(&seed, &rs, &k[i]);
		assert_int_equal(fw_classify(c, &k[i]), FW_NO_MATCH);
	}
	fw_classify_burst(c, k, 64, out);
	for (unsigned i = 0; i < 64; i++)
		assert_int_equal(out[i], FW_NO_MATCH);
	fw_classifier_free(c);
	fw_ruleset_free(&rs);
	fw_classifier_free(NULL);
}

static void
test_rules_that_constrain_nothing(void **state)
{
	struct fw_ruleset rs = parse_ok("deny\nallow tcp\nallow\n");
	struct fw_classifier *c = build_ok(&rs);
	struct fw_key k;
	uint64_t seed = 8;

	(void)state;
	for (unsigned i = 0; i < 200; i++) {
		rand_key(&seed, &rs, &k);
		assert_int_equal(fw_classify(c, &k), 0);
	}
	fw_classifier_free(c);
	fw_ruleset_free(&rs);

	/* a catch-all after constrained rules takes what they leave */
	rs = parse_ok("deny tcp to any port 22\ndeny udp\nallow\nallow tcp\n");
	c = build_ok(&rs);
	for (unsigned i = 0; i < 2000; i++) {
		rand_key(&seed, &rs, &k);
		assert_int_equal(fw_classify(c, &k), brute(&rs, &k));
		assert_true(fw_classify(c, &k) <= 2);
	}
	fw_classifier_free(c);
	fw_ruleset_free(&rs);
}

static struct fw_key
full_key(void)
{
	struct fw_key k;

	memset(&k, 0, sizeof(k));
	k.family = 4;
	inet_pton(AF_INET, "10.1.2.3", k.src);
	inet_pton(AF_INET, "192.0.2.200", k.dst);
	k.proto = 6;
	k.sport = 1500;
	k.dport = 443;
	k.tcp_flags = FW_TCP_SYN;
	k.has_vlan = 1;
	k.vlan_id = 42;
	k.port = 2;
	k.input = FW_INPUT_NONE;
	k.ct = FW_MATCH_NEW;
	return k;
}

static void
test_a_rule_with_every_field_needs_every_field(void **state)
{
	struct fw_ruleset rs = parse_ok(
		"to mon tcp from 10.0.0.0/8,2001:db8::/32 port 1024-2000 to 192.0.2.128/25 port 443 "
		"new flags S/SA vlan 42 in eth2\n"
		"deny icmp6 from 2001:db8::/32 to ::/0 established icmp-type echo-request vlan 7 in ring1\n"
		"allow\n");
	struct fw_classifier *c = build_ok(&rs);
	struct fw_key k = full_key(), m;

	(void)state;
	assert_int_equal(fw_classify(c, &k), 0);
	/* each field off by one: falls through to the catch-all */
	for (int f = 0; f < 12; f++) {
		m = k;
		switch (f) {
		case 0: m.src[0] = 11; break;
		case 1: m.dst[3] = 127; break;
		case 2: m.proto = 17; break;
		case 3: m.sport = 1023; break;
		case 4: m.sport = 2001; break;
		case 5: m.dport = 444; break;
		case 6: m.tcp_flags = FW_TCP_SYN | FW_TCP_ACK; break;
		case 7: m.vlan_id = 43; break;
		case 8: m.has_vlan = 0; break;
		case 9: m.port = 3; break;
		case 10: m.ct = FW_MATCH_ESTABLISHED; break;
		default: m.family = 6; break;
		}
		assert_int_equal(fw_classify(c, &m), 2);
		assert_int_equal(brute(&rs, &m), 2);
	}
	/* flags outside the mask do not matter */
	m = k;
	m.tcp_flags = FW_TCP_SYN | FW_TCP_PSH | FW_TCP_ECE;
	assert_int_equal(fw_classify(c, &m), 0);

	/* the ICMPv6 rule */
	memset(&k, 0, sizeof(k));
	k.family = 6;
	inet_pton(AF_INET6, "2001:db8:ffff::1", k.src);
	inet_pton(AF_INET6, "fe80::1", k.dst);
	k.proto = 58;
	k.icmp_type = 128;
	k.has_vlan = 1;
	k.vlan_id = 7;
	k.port = FW_PORT_NONE;
	k.input = 1;
	k.ct = FW_MATCH_ESTABLISHED;
	assert_int_equal(fw_classify(c, &k), 1);
	m = k;
	m.icmp_type = 129;
	assert_int_equal(fw_classify(c, &m), 2);
	m = k;
	m.input = 0;
	assert_int_equal(fw_classify(c, &m), 2);
	m = k;
	m.proto = 1;   /* protocol 1 on IPv6 is not ICMP */
	assert_int_equal(fw_classify(c, &m), 2);
	m = k;
	m.src[2] = 0x0d;
	m.src[3] = 0xb9;
	assert_int_equal(fw_classify(c, &m), 2);
	fw_classifier_free(c);
	fw_ruleset_free(&rs);
}

static void
test_ends_of_the_address_and_port_spaces(void **state)
{
	struct fw_ruleset rs = parse_ok(
		"deny from 255.255.255.255 to 0.0.0.0\n"
		"deny from ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff to ::\n"
		"deny from ffff:ffff:ffff:ffff::/64\n"
		"deny tcp,udp from any port 65535 to any port 1\n"
		"to mon from 128.0.0.0/1\n"
		"to mon to 8000::/1\n"
		"allow from 0.0.0.0/0,::/0\n");
	struct fw_classifier *c = build_ok(&rs);
	uint64_t seed = 99;
	struct fw_key k;

	(void)state;
	memset(&k, 0, sizeof(k));
	k.family = 4;
	memset(k.src, 0xff, 4);
	assert_int_equal(fw_classify(c, &k), 0);
	k.src[3] = 0xfe;
	assert_int_equal(fw_classify(c, &k), 4);
	k.family = 6;
	memset(k.src, 0xff, 16);
	assert_int_equal(fw_classify(c, &k), 1);
	k.src[15] = 0xfe;
	assert_int_equal(fw_classify(c, &k), 2);
	k.src[7] = 0xfe;   /* outside the /64; IPv4-only rule 4 does not apply */
	assert_int_equal(fw_classify(c, &k), 6);
	memset(&k, 0, sizeof(k));
	k.family = 6;
	k.proto = 17;
	k.sport = 65535;
	k.dport = 1;
	assert_int_equal(fw_classify(c, &k), 3);
	k.dport = 2;
	assert_int_equal(fw_classify(c, &k), 6);
	k.proto = 1;
	k.dport = 1;
	assert_int_equal(fw_classify(c, &k), 6);
	for (unsigned i = 0; i < 5000; i++) {
		rand_key(&seed, &rs, &k);
		assert_int_equal(fw_classify(c, &k), brute(&rs, &k));
	}
	fw_classifier_free(c);
	fw_ruleset_free(&rs);
}

static void
test_non_ip_keys_match_only_rules_without_ip_fields(void **state)
{
	struct fw_ruleset rs = parse_ok("deny ip,ip6\n"
					"deny from 0.0.0.0/0\n"
					"to mon vlan 5\n"
					"deny in eth1\n"
					"allow new\n");
	struct fw_classifier *c = build_ok(&rs);
	struct fw_key k;

	(void)state;
	memset(&k, 0, sizeof(k));
	k.port = 1;
	k.ct = FW_MATCH_ESTABLISHED;
	assert_int_equal(fw_classify(c, &k), 3);
	k.has_vlan = 1;
	k.vlan_id = 5;
	assert_int_equal(fw_classify(c, &k), 2);
	k.has_vlan = 0;
	k.port = 0;
	assert_int_equal(fw_classify(c, &k), FW_NO_MATCH);
	k.ct = FW_MATCH_NEW;
	assert_int_equal(fw_classify(c, &k), 4);
	/* a family the key should never have is not IP either */
	k.family = 5;
	k.proto = 6;
	assert_int_equal(fw_classify(c, &k), 4);
	assert_int_equal(brute(&rs, &k), 4);
	fw_classifier_free(c);
	fw_ruleset_free(&rs);
}

/* Rules may be built by hand: ports, flags or an ICMP type without a
 * protocol still apply only to TCP/UDP, TCP and ICMP keys. */
static void
test_hand_built_rules_follow_the_reference(void **state)
{
	static const struct fw_port_range sp = { 1000, 2000 }, dp = { 53, 53 };
	struct fw_rule rules[6];
	struct fw_ruleset rs = { .rules = rules, .n = 6 };
	struct fw_classifier *c;
	uint64_t seed = 0xbadc0de;
	struct fw_key k;

	(void)state;
	memset(rules, 0, sizeof(rules));
	for (int i = 0; i < 6; i++) {
		rules[i].in_port = FW_PORT_NONE;
		rules[i].in_input = FW_INPUT_NONE;
		rules[i].line = (unsigned)i + 1;
	}
	rules[0].has = FW_HAS_SPORT;
	rules[0].sport = &sp;
	rules[0].n_sport = 1;
	rules[1].has = FW_HAS_FLAGS;
	rules[1].tcp_flags = FW_TCP_SYN;
	rules[1].tcp_mask = FW_TCP_SYN | FW_TCP_ACK;
	rules[2].has = FW_HAS_ICMP_TYPE;
	rules[2].icmp_type = 8;
	rules[3].has = FW_HAS_DPORT | FW_HAS_PROTO;
	memset(rules[3].proto[0], 0xff, sizeof(rules[3].proto[0]));
	rules[3].dport = &dp;
	rules[3].n_dport = 1;
	rules[4].has = FW_HAS_IN;
	rules[4].in_port = 5;
	rules[5].has = FW_HAS_IN;
	rules[5].in_input = 2;
	c = build_ok(&rs);
	for (unsigned i = 0; i < 20000; i++) {
		rand_key(&seed, &rs, &k);
		k.family = (uint8_t[]){ 0, 4, 6 }[pick(&seed, 3)];
		k.proto = (uint8_t[]){ 1, 6, 17, 58, 0 }[pick(&seed, 5)];
		k.icmp_type = (uint8_t)(7 + pick(&seed, 3));
		k.port = (uint16_t)(pick(&seed, 4) ? 4 + pick(&seed, 3) : FW_PORT_NONE);
		k.input = pick(&seed, 4) ? 1 + pick(&seed, 3) : FW_INPUT_NONE;
		assert_int_equal(fw_classify(c, &k), brute(&rs, &k));
	}
	/* spot checks: a non-IP key with TCP's number is not TCP */
	memset(&k, 0, sizeof(k));
	k.proto = 6;
	k.sport = 1500;
	k.tcp_flags = FW_TCP_SYN;
	k.port = FW_PORT_NONE;
	k.input = FW_INPUT_NONE;
	assert_int_equal(fw_classify(c, &k), FW_NO_MATCH);
	k.family = 4;
	assert_int_equal(fw_classify(c, &k), 0);
	k.proto = 58;   /* ICMPv6's number on IPv4 is not ICMP */
	k.icmp_type = 8;
	assert_int_equal(fw_classify(c, &k), FW_NO_MATCH);
	k.family = 6;
	assert_int_equal(fw_classify(c, &k), 2);
	fw_classifier_free(c);
}

static void
test_rules_the_parser_cannot_make_are_refused(void **state)
{
	struct fw_ruleset rs = parse_ok("allow tcp to any port 80\nallow vlan 3\nallow in ring1\n");
	struct fw_classifier *c = (struct fw_classifier *)&rs;   /* must stay as it is */
	struct fw_port_range zero = { 0, 10 };
	const struct fw_port_range *keep = rs.rules[0].dport;
	struct mpdp_errbuf eb = { "" };

	(void)state;
	rs.rules[0].dport = &zero;
	assert_int_equal(fw_classifier_build(&rs, &c, &eb), -EINVAL);
	assert_non_null(strstr(eb.msg, "rule 0 (line 1) has a bad destination port range"));
	assert_ptr_equal(c, (struct fw_classifier *)&rs);
	rs.rules[0].dport = keep;
	rs.rules[1].vlan_id = 4096;
	assert_int_equal(fw_classifier_build(&rs, &c, &eb), -EINVAL);
	assert_non_null(strstr(eb.msg, "rule 1 (line 2) has a VLAN id over 4095"));
	rs.rules[1].vlan_id = 3;
	rs.rules[2].in_input = 70000;
	assert_int_equal(fw_classifier_build(&rs, &c, &eb), -E2BIG);
	assert_non_null(strstr(eb.msg, "input ring 70000"));
	rs.rules[2].in_input = 1;
	c = build_ok(&rs);
	fw_classifier_free(c);
	fw_ruleset_free(&rs);
}

static void
test_out_of_memory_anywhere_in_build_fails_cleanly(void **state)
{
	uint64_t seed = 0x00e0e0e0;
	struct fw_ruleset rs = rand_ruleset(&seed, 300, 60);
	struct fw_classifier *c, *keep = (struct fw_classifier *)&seed;
	struct mpdp_errbuf eb;
	long fail;
	int rc;

	(void)state;
	for (fail = 0;; fail++) {
		c = keep;
		eb.msg[0] = '\0';
		alloc_fail_arm(fail);
		rc = fw_classifier_build(&rs, &c, &eb);
		alloc_fail_disarm();
		if (rc == 0)
			break;
		assert_int_equal(rc, -ENOMEM);
		assert_non_null(strstr(eb.msg, "fw classifier: out of memory"));
		assert_ptr_equal(c, keep);
	}
	/* every allocation of a build was made to fail once; then it worked */
	assert_true(fail > 20);
	check_against_brute_force_with(c, &rs, &seed, 2000);
	fw_classifier_free(c);
	fw_ruleset_free(&rs);
}

static void
test_memory_stays_sane_at_10000_rules(void **state)
{
	uint64_t seed = 0x10000;
	struct fw_ruleset rs = rand_ruleset(&seed, 10000, 60);
	struct fw_classifier *c = build_ok(&rs);
	size_t mem = fw_classifier_memory(c);

	(void)state;
	/* about 2-20 MB for such a set; a dense class x rule matrix would be far more */
	print_message("# 10000 random rules: %zu bytes\n", mem);
	assert_true(mem < 64u << 20);
	fw_classifier_free(c);
	fw_ruleset_free(&rs);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random_rulesets_agree_with_brute_force),
		cmocka_unit_test(test_no_rules_match_nothing),
		cmocka_unit_test(test_rules_that_constrain_nothing),
		cmocka_unit_test(test_a_rule_with_every_field_needs_every_field),
		cmocka_unit_test(test_ends_of_the_address_and_port_spaces),
		cmocka_unit_test(test_non_ip_keys_match_only_rules_without_ip_fields),
		cmocka_unit_test(test_hand_built_rules_follow_the_reference),
		cmocka_unit_test(test_rules_the_parser_cannot_make_are_refused),
		cmocka_unit_test(test_out_of_memory_anywhere_in_build_fails_cleanly),
		cmocka_unit_test(test_memory_stays_sane_at_10000_rules),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

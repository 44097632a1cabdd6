/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The firewall rule language: the sample lines mean what they say, every
 * grammar feature parses to the right fields, every error names its
 * FILE:LINE:COL and what was expected, a refused file leaves the caller's
 * ruleset alone, formatting parses back to the same rule, and the reference
 * matcher and key builder follow the documented semantics.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc_fail.h"
#include "fw_rules.h"
#include "fw_test_names.h"
#include "mpdp_err.h"
#include "mpdp_pkt.h"
#include "test_util.h"

static int
parse(const char *text, struct fw_ruleset *rs, struct mpdp_errbuf *eb)
{
	return fw_rules_parse(text, strlen(text), "rules.txt", &fw_test_names, rs, eb);
}

static struct fw_ruleset
parse_ok(const char *text)
{
	struct fw_ruleset rs;
	struct mpdp_errbuf eb = { "" };
	int rc = parse(text, &rs, &eb);

	if (rc != 0)
		fail_msg("parse of \"%s\" failed: %s", text, eb.msg);
	return rs;
}

/* One rule, parsed alone. */
static struct fw_ruleset
one(const char *text)
{
	struct fw_ruleset rs = parse_ok(text);

	assert_int_equal(rs.n, 1);
	return rs;
}

static int
pbit(const struct fw_rule *r, int fam6, unsigned p)
{
	return (int)((r->proto[fam6][p / 64] >> (p % 64)) & 1);
}

static unsigned
pcount(const struct fw_rule *r, int fam6)
{
	unsigned n = 0;

	for (unsigned p = 0; p < 256; p++)
		n += (unsigned)pbit(r, fam6, p);
	return n;
}

static void
assert_prefix(const struct fw_prefix *pf, const char *addr, unsigned len)
{
	uint8_t a[16] = { 0 };
	int v6 = strchr(addr, ':') != NULL;

	assert_int_equal(inet_pton(v6 ? AF_INET6 : AF_INET, addr, a), 1);
	assert_int_equal(pf->family, v6 ? 6 : 4);
	assert_int_equal(pf->len, len);
	assert_memory_equal(pf->addr, a, 16);
}

static void
assert_range(const struct fw_port_range *r, unsigned lo, unsigned hi)
{
	assert_int_equal(r->lo, lo);
	assert_int_equal(r->hi, hi);
}

static void
test_sample_lines_parse_to_what_they_say(void **state)
{
	struct fw_ruleset rs = parse_ok("allow tcp from 10.0.0.0/8 to any port 80,443\n"
					"deny udp from any port 53 to 192.0.2.0/24\n"
					"allow icmp\n"
					"allow established\n"
					"default deny\n");
	const struct fw_rule *r;

	(void)state;
	assert_int_equal(rs.n, 4);

	r = &rs.rules[0];
	assert_int_equal(r->line, 1);
	assert_int_equal(r->action.kind, FW_ALLOW);
	assert_int_equal(r->action.next, OUT_OUT);
	assert_int_equal(r->has, FW_HAS_PROTO | FW_HAS_SRC | FW_HAS_DPORT);
	assert_int_equal(pcount(r, 0), 1);
	assert_int_equal(pcount(r, 1), 1);
	assert_true(pbit(r, 0, 6) && pbit(r, 1, 6));
	assert_int_equal(r->n_src, 1);
	assert_prefix(&r->src[0], "10.0.0.0", 8);
	assert_int_equal(r->n_dst, 0);
	assert_int_equal(r->n_dport, 2);
	assert_range(&r->dport[0], 80, 80);
	assert_range(&r->dport[1], 443, 443);
	assert_int_equal(r->n_sport, 0);

	r = &rs.rules[1];
	assert_int_equal(r->line, 2);
	assert_int_equal(r->action.kind, FW_DENY);
	assert_int_equal(r->action.next, OUT_DROP);
	assert_int_equal(r->has, FW_HAS_PROTO | FW_HAS_SPORT | FW_HAS_DST);
	assert_true(pbit(r, 0, 17) && pbit(r, 1, 17));
	assert_int_equal(pcount(r, 0) + pcount(r, 1), 2);
	assert_int_equal(r->n_sport, 1);
	assert_range(&r->sport[0], 53, 53);
	assert_int_equal(r->n_dst, 1);
	assert_prefix(&r->dst[0], "192.0.2.0", 24);

	r = &rs.rules[2];
	assert_int_equal(r->action.kind, FW_ALLOW);
	assert_int_equal(r->has, FW_HAS_PROTO);
	assert_true(pbit(r, 0, 1));
	assert_int_equal(pcount(r, 0), 1);
	assert_int_equal(pcount(r, 1), 0);

	r = &rs.rules[3];
	assert_int_equal(r->line, 4);
	assert_int_equal(r->has, FW_HAS_CT);
	assert_int_equal(r->ct, FW_MATCH_ESTABLISHED);

	assert_int_equal(rs.dflt.kind, FW_DENY);
	assert_int_equal(rs.dflt.next, OUT_DROP);
	assert_int_equal(rs.non_ip.kind, FW_ALLOW);
	assert_int_equal(rs.non_ip.next, OUT_OUT);
	assert_int_equal(rs.fragment.kind, FW_DENY);
	assert_int_equal(rs.malformed.kind, FW_DENY);
	fw_ruleset_free(&rs);
	assert_null(rs.rules);
	assert_int_equal(rs.n, 0);
	fw_ruleset_free(&rs);
}

static void
test_empty_file_comments_and_blanks_give_builtin_defaults(void **state)
{
	const char *texts[] = { "", "\n\n", "# only a comment\n   \t\n  # another\r\n" };

	(void)state;
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		struct fw_ruleset rs = parse_ok(texts[i]);

		assert_int_equal(rs.n, 0);
		assert_int_equal(rs.dflt.kind, FW_DENY);
		assert_int_equal(rs.non_ip.kind, FW_ALLOW);
		assert_int_equal(rs.non_ip.next, OUT_OUT);
		assert_int_equal(rs.fragment.kind, FW_DENY);
		assert_int_equal(rs.malformed.kind, FW_DENY);
		fw_ruleset_free(&rs);
	}
	/* a NULL text of length 0 is an empty file too */
	struct fw_ruleset rs;

	assert_int_equal(fw_rules_parse(NULL, 0, NULL, NULL, &rs, NULL), 0);
	assert_int_equal(rs.n, 0);
	fw_ruleset_free(&rs);
}

static void
test_comments_end_lines_anywhere_and_lines_are_counted(void **state)
{
	struct fw_ruleset rs = parse_ok("# header\n"
					"\n"
					"allow tcp#web\n"
					"   deny   udp   # trailing\r\n"
					"to mon\tip6");
	(void)state;
	assert_int_equal(rs.n, 3);
	assert_int_equal(rs.rules[0].line, 3);
	assert_true(pbit(&rs.rules[0], 0, 6));
	assert_int_equal(rs.rules[1].line, 4);
	assert_int_equal(rs.rules[1].action.kind, FW_DENY);
	assert_true(pbit(&rs.rules[1], 0, 17));
	assert_int_equal(rs.rules[2].line, 5);
	assert_int_equal(rs.rules[2].action.kind, FW_TO);
	assert_int_equal(rs.rules[2].action.next, OUT_MON);
	assert_int_equal(pcount(&rs.rules[2], 1), 256);
	assert_int_equal(pcount(&rs.rules[2], 0), 0);
	fw_ruleset_free(&rs);
}

static void
test_protocol_lists(void **state)
{
	struct fw_ruleset rs;
	const struct fw_rule *r;

	(void)state;
	rs = one("allow tcp,udp");
	r = &rs.rules[0];
	assert_true(pbit(r, 0, 6) && pbit(r, 0, 17) && pbit(r, 1, 6) && pbit(r, 1, 17));
	assert_int_equal(pcount(r, 0) + pcount(r, 1), 4);
	fw_ruleset_free(&rs);

	rs = one("allow tcp , udp ,proto 47, 50");
	r = &rs.rules[0];
	assert_true(pbit(r, 0, 47) && pbit(r, 1, 47) && pbit(r, 0, 50) && pbit(r, 1, 50));
	assert_int_equal(pcount(r, 0), 4);
	fw_ruleset_free(&rs);

	rs = one("allow icmp6");
	r = &rs.rules[0];
	assert_int_equal(pcount(r, 0), 0);
	assert_true(pbit(r, 1, 58));
	assert_int_equal(pcount(r, 1), 1);
	fw_ruleset_free(&rs);

	rs = one("allow ip");
	assert_int_equal(pcount(&rs.rules[0], 0), 256);
	assert_int_equal(pcount(&rs.rules[0], 1), 0);
	fw_ruleset_free(&rs);

	rs = one("allow ip6,tcp");
	assert_int_equal(pcount(&rs.rules[0], 1), 256);
	assert_int_equal(pcount(&rs.rules[0], 0), 1);
	fw_ruleset_free(&rs);

	rs = one("allow proto 0");
	assert_true(pbit(&rs.rules[0], 0, 0) && pbit(&rs.rules[0], 1, 0));
	fw_ruleset_free(&rs);

	/* any, alone or in a list, is no constraint at all */
	rs = one("allow any");
	assert_int_equal(rs.rules[0].has, 0);
	fw_ruleset_free(&rs);
	rs = one("allow tcp,any");
	assert_int_equal(rs.rules[0].has, 0);
	fw_ruleset_free(&rs);
}

static void
test_address_lists_mix_families_and_are_normalized(void **state)
{
	struct fw_ruleset rs;
	const struct fw_rule *r;

	(void)state;
	rs = one("deny from 2001:db8::/32,10.1.2.3 , 10.0.0.0/8,192.168.1.0/24 to ::1");
	r = &rs.rules[0];
	assert_int_equal(r->has, FW_HAS_SRC | FW_HAS_DST);
	/* 10.1.2.3 lies inside 10.0.0.0/8: dropped; IPv4 sorts first */
	assert_int_equal(r->n_src, 3);
	assert_prefix(&r->src[0], "10.0.0.0", 8);
	assert_prefix(&r->src[1], "192.168.1.0", 24);
	assert_prefix(&r->src[2], "2001:db8::", 32);
	assert_int_equal(r->n_dst, 1);
	assert_prefix(&r->dst[0], "::1", 128);
	fw_ruleset_free(&rs);

	rs = parse_ok("allow from 0.0.0.0/0 to 0.0.0.0/0\nallow to ::/0\n");
	r = &rs.rules[0];
	assert_prefix(&r->src[0], "0.0.0.0", 0);
	assert_prefix(&r->dst[0], "0.0.0.0", 0);
	assert_prefix(&rs.rules[1].dst[0], "::", 0);
	fw_ruleset_free(&rs);

	/* "from any" is no constraint */
	rs = one("allow from any to any");
	assert_int_equal(rs.rules[0].has, 0);
	fw_ruleset_free(&rs);

	rs = one("allow from 192.0.2.7");
	assert_prefix(&rs.rules[0].src[0], "192.0.2.7", 32);
	fw_ruleset_free(&rs);

	/* a prefix given twice is kept once */
	rs = one("allow to 10.0.0.0/8,2001:db8::/32,10.0.0.0/8,2001:db8::/32");
	assert_int_equal(rs.rules[0].n_dst, 2);
	assert_prefix(&rs.rules[0].dst[0], "10.0.0.0", 8);
	assert_prefix(&rs.rules[0].dst[1], "2001:db8::", 32);
	fw_ruleset_free(&rs);
}

static void
test_port_lists_ranges_merge(void **state)
{
	struct fw_ruleset rs;
	const struct fw_rule *r;

	(void)state;
	rs = one("allow tcp,udp from any port 1024-65535 to 10.0.0.1 port 8000-8080,80,443,79,8081,1");
	r = &rs.rules[0];
	assert_int_equal(r->has, FW_HAS_PROTO | FW_HAS_SPORT | FW_HAS_DST | FW_HAS_DPORT);
	assert_int_equal(r->n_sport, 1);
	assert_range(&r->sport[0], 1024, 65535);
	/* sorted; 79 and 80 touch, 8000-8080 and 8081 touch */
	assert_int_equal(r->n_dport, 4);
	assert_range(&r->dport[0], 1, 1);
	assert_range(&r->dport[1], 79, 80);
	assert_range(&r->dport[2], 443, 443);
	assert_range(&r->dport[3], 8000, 8081);
	fw_ruleset_free(&rs);

	rs = one("allow udp to any port 53, 53 ,10-20,15-30");
	r = &rs.rules[0];
	assert_int_equal(r->n_dport, 2);
	assert_range(&r->dport[0], 10, 30);
	assert_range(&r->dport[1], 53, 53);
	fw_ruleset_free(&rs);
}

static void
test_state_flags_icmp_vlan_in(void **state)
{
	struct fw_ruleset rs;
	const struct fw_rule *r;

	(void)state;
	rs = parse_ok("allow new\n"
		      "allow tcp flags S/SA\n"
		      "allow tcp flags S\n"
		      "allow tcp flags /R\n"
		      "allow tcp flags FSRPAUEW/FSRPAUEW\n"
		      "allow icmp icmp-type echo-request\n"
		      "allow icmp6 icmp-type neighbor-solicit\n"
		      "allow icmp icmp-type 42\n"
		      "allow vlan 0\n"
		      "allow vlan 4095\n"
		      "allow in eth2\n"
		      "allow in inside\n");
	assert_int_equal(rs.n, 12);
	r = rs.rules;
	assert_int_equal(r[0].has, FW_HAS_CT);
	assert_int_equal(r[0].ct, FW_MATCH_NEW);
	assert_int_equal(r[1].has, FW_HAS_PROTO | FW_HAS_FLAGS);
	assert_int_equal(r[1].tcp_flags, FW_TCP_SYN);
	assert_int_equal(r[1].tcp_mask, FW_TCP_SYN | FW_TCP_ACK);
	assert_int_equal(r[2].tcp_flags, FW_TCP_SYN);
	assert_int_equal(r[2].tcp_mask, FW_TCP_SYN);
	assert_int_equal(r[3].tcp_flags, 0);
	assert_int_equal(r[3].tcp_mask, FW_TCP_RST);
	assert_int_equal(r[4].tcp_flags, 0xff);
	assert_int_equal(r[4].tcp_mask, 0xff);
	assert_int_equal(r[5].has, FW_HAS_PROTO | FW_HAS_ICMP_TYPE);
	assert_int_equal(r[5].icmp_type, 8);
	assert_int_equal(r[6].icmp_type, 135);
	assert_int_equal(r[7].icmp_type, 42);
	assert_int_equal(r[8].has, FW_HAS_VLAN);
	assert_int_equal(r[8].vlan_id, 0);
	assert_int_equal(r[9].vlan_id, 4095);
	assert_int_equal(r[10].has, FW_HAS_IN);
	assert_int_equal(r[10].in_port, 2);
	assert_int_equal(r[10].in_input, FW_INPUT_NONE);
	assert_string_equal(r[10].in_name, "eth2");
	assert_int_equal(r[11].in_port, FW_PORT_NONE);
	assert_int_equal(r[11].in_input, 2);
	assert_string_equal(r[11].in_name, "inside");
	fw_ruleset_free(&rs);

	/* every icmp and icmp6 type name */
	static const struct { const char *proto, *name; unsigned type; } icmp[] = {
		{ "icmp", "echo-reply", 0 }, { "icmp", "dest-unreach", 3 },
		{ "icmp", "source-quench", 4 }, { "icmp", "redirect", 5 },
		{ "icmp", "echo-request", 8 }, { "icmp", "time-exceeded", 11 },
		{ "icmp", "param-problem", 12 }, { "icmp", "timestamp", 13 },
		{ "icmp", "timestamp-reply", 14 },
		{ "icmp6", "dest-unreach", 1 }, { "icmp6", "packet-too-big", 2 },
		{ "icmp6", "time-exceeded", 3 }, { "icmp6", "param-problem", 4 },
		{ "icmp6", "echo-request", 128 }, { "icmp6", "echo-reply", 129 },
		{ "icmp6", "router-solicit", 133 }, { "icmp6", "router-advert", 134 },
		{ "icmp6", "neighbor-solicit", 135 }, { "icmp6", "neighbor-advert", 136 },
	};
	for (size_t i = 0; i < sizeof(icmp) / sizeof(icmp[0]); i++) {
		char line[128];

		/* the type may come before the protocol */
		snprintf(line, sizeof(line), "deny icmp-type %s %s", icmp[i].name, icmp[i].proto);
		rs = one(line);
		assert_int_equal(rs.rules[0].icmp_type, icmp[i].type);
		fw_ruleset_free(&rs);
	}
}

static void
test_actions_and_defaults(void **state)
{
	struct fw_ruleset rs;

	(void)state;
	rs = parse_ok("to mon tcp\n"
		      "to out udp\n"
		      "to drop icmp\n"
		      "to mon to 10.0.0.0/8\n"
		      "default non-ip deny\n"
		      "default fragment to mon\n"
		      "default malformed allow\n"
		      "default to mon\n");
	assert_int_equal(rs.n, 4);
	assert_int_equal(rs.rules[0].action.kind, FW_TO);
	assert_int_equal(rs.rules[0].action.next, OUT_MON);
	assert_int_equal(rs.rules[1].action.next, OUT_OUT);
	assert_int_equal(rs.rules[2].action.next, OUT_DROP);
	assert_int_equal(rs.rules[3].action.next, OUT_MON);
	assert_int_equal(rs.rules[3].has, FW_HAS_DST);
	assert_int_equal(rs.non_ip.kind, FW_DENY);
	assert_int_equal(rs.fragment.kind, FW_TO);
	assert_int_equal(rs.fragment.next, OUT_MON);
	assert_int_equal(rs.malformed.kind, FW_ALLOW);
	assert_int_equal(rs.malformed.next, OUT_OUT);
	assert_int_equal(rs.dflt.kind, FW_TO);
	assert_int_equal(rs.dflt.next, OUT_MON);
	fw_ruleset_free(&rs);

	/* without names, the outputs are drop and out */
	assert_int_equal(fw_rules_parse("allow\n", 6, NULL, NULL, &rs, NULL), 0);
	assert_int_equal(rs.rules[0].action.next, 1);
	assert_int_equal(rs.non_ip.next, 1);
	fw_ruleset_free(&rs);
}

/* ---- errors ---------------------------------------------------------- */

struct bad {
	const char *text;
	unsigned line;
	const char *at;     /* the column is where this first appears on the line; NULL: line end */
	const char *msg1;   /* substrings of the message */
	const char *msg2;
};

static const struct bad bad_cases[] = {
	{ "permit tcp", 1, "permit", "expected 'allow', 'deny' or 'to OUTPUT'", "got 'permit'" },
	{ "allow tcp xyz", 1, "xyz", "expected a match (a protocol, 'from', 'to'", "got 'xyz'" },
	{ "allow tcp 80", 1, "80", "expected a match", "got '80'" },
	{ "allow from any from 10.0.0.0/8", 1, "from 10", "'from' given twice in one rule",
	  "first at column 7" },
	{ "allow to any to 10.0.0.1", 1, "to 10", "'to' given twice", "first at column 7" },
	{ "allow tcp udp", 1, "udp", "protocol given twice", "tcp,udp" },
	{ "allow established new", 1, "new", "connection state given twice", "column 7" },
	{ "allow vlan 1 vlan 2", 1, "vlan 2", "'vlan' given twice", "column 7" },
	{ "allow tcp icmp-type echo-request", 1, "icmp-type",
	  "'icmp-type' needs exactly one of icmp or icmp6", NULL },
	{ "allow icmp-type 3", 1, "icmp-type", "'icmp-type' needs exactly one of icmp", NULL },
	{ "allow icmp,icmp6 icmp-type 3", 1, "icmp-type", "needs exactly one of icmp or icmp6", NULL },
	{ "allow icmp icmp-type neighbor-solicit", 1, "neighbor", "expected an icmp type",
	  "got 'neighbor-solicit'" },
	{ "allow icmp6 icmp-type source-quench", 1, "source", "expected an icmp6 type",
	  "echo-request" },
	{ "allow icmp icmp-type 256", 1, "256", "ICMP type 256 is out of range (0-255)", NULL },
	{ "allow icmp icmp-type", 1, NULL, "expected an ICMP type name or number after 'icmp-type'",
	  "got end of line" },
	{ "allow udp flags S", 1, "flags", "'flags' needs tcp", NULL },
	{ "allow flags S/SA", 1, "flags", "'flags' needs tcp", NULL },
	{ "allow tcp,udp flags S", 1, "flags", "'flags' needs tcp", NULL },
	{ "allow tcp flags SX", 1, "X", "expected TCP flag letters (F S R P A U E W)", "got 'SX'" },
	{ "allow tcp flags q", 1, "q", "expected TCP flag letters", "got 'q'" },
	{ "allow tcp flags S/A", 1, "S/A", "flags S/A: S is not in the mask", NULL },
	{ "allow tcp flags /", 1, "/", "expected TCP flags after 'flags'", "got '/'" },
	{ "allow tcp flags", 1, NULL, "expected TCP flags after 'flags'", "got end of line" },
	{ "allow tcp flags S//A", 1, "/A", "expected TCP flag letters", NULL },
	{ "allow icmp to any port 80", 1, "port", "port needs tcp or udp", NULL },
	{ "allow to any port 80", 1, "port", "port needs tcp or udp", NULL },
	{ "allow ip from any port 80", 1, "port", "port needs tcp or udp", NULL },
	{ "allow tcp,icmp from any port 80", 1, "port", "port needs tcp or udp", NULL },
	{ "allow tcp to any port 0", 1, "0", "port 0 is not allowed", NULL },
	{ "allow tcp to any port 5-0", 1, "0", "port 0 is not allowed", NULL },
	{ "allow tcp to any port 70000", 1, "70000", "port 70000 is out of range (1-65535)", NULL },
	{ "allow tcp to any port 80-99999999999", 1, "99999999999",
	  "port 99999999999 is out of range (1-65535)", NULL },
	{ "allow tcp to any port 90-80", 1, "90-80", "port range 90-80 is backwards", NULL },
	{ "allow tcp to any port 80,", 1, NULL,
	  "expected a port number or range after ','", "got end of line" },
	{ "allow tcp to any port", 1, NULL, "expected a port number or range after 'port'",
	  "got end of line" },
	{ "allow tcp to any port -5", 1, "-5", "expected a port number or range after 'port'",
	  "got '-5'" },
	{ "allow tcp to any port 80-", 1, "80-", "expected a port number or range", "got '80-'" },
	{ "allow tcp to any port 80-90-100", 1, "80-", "expected a port number or range", NULL },
	{ "allow tcp to any port ,80", 1, ",80", "expected a port number or range", "got ','" },
	{ "# two lines first\n\ndeny tcp to any port http", 3, "http",
	  "expected a port number or range after 'port', got 'http'", NULL },
	{ "allow from 10.0.0.0/33", 1, "33", "prefix length 33 is too long for IPv4 (at most 32)",
	  NULL },
	{ "allow from 2001:db8::/129", 1, "129", "prefix length 129 is too long for IPv6", NULL },
	{ "allow from 10.0.0.0/", 1, NULL, "expected a prefix length 0-32 after '/'", NULL },
	{ "allow from 10.0.0.0/8x", 1, "8x", "expected a prefix length 0-32 after '/'", NULL },
	{ "allow from 10.0.0.1/8", 1, "10.", "10.0.0.1/8: host bits set, did you mean 10.0.0.0/8",
	  NULL },
	{ "allow to 2001:db8::1/32", 1, "2001", "host bits set, did you mean 2001:db8::/32", NULL },
	{ "allow from 10.0.0.128/24", 1, "10.", "10.0.0.128/24: host bits set, did you mean "
	  "10.0.0.0/24", NULL },
	{ "allow from 10.0.0.300", 1, "10.", "'10.0.0.300' is not a valid IPv4 address", NULL },
	{ "allow from 10.0.0", 1, "10.", "not a valid IPv4 address", NULL },
	{ "allow from 2001:db8:::1", 1, "2001", "not a valid IPv6 address", NULL },
	{ "allow from foo", 1, "foo", "expected an address, prefix or 'any' after 'from'",
	  "got 'foo'" },
	{ "allow from 10.0.0.0/8,", 1, NULL, "expected an address, prefix or 'any' after ','",
	  "got end of line" },
	{ "allow from any,10.0.0.0/8", 1, ",", "'any' cannot be combined with prefixes", NULL },
	{ "allow from 10.0.0.0/8,any", 1, "any", "'any' cannot be combined", NULL },
	{ "allow tcp from", 1, NULL, "expected an address, prefix or 'any' after 'from'",
	  "got end of line" },
	{ "allow to    # comment", 1, "#", "after 'to'", "got end of line" },
	{ "allow tcp from any port", 1, NULL, "after 'port'", "got end of line" },
	{ "allow from 10.0.0.0/8 to 2001:db8::/32", 1, "to", "rule can never match", "IPv4 vs IPv6" },
	{ "allow icmp from 2001:db8::/32", 1, "from", "rule can never match", NULL },
	{ "allow to 10.0.0.1 icmp6", 1, "icmp6", "rule can never match", NULL },
	{ "allow ip6 to 10.0.0.1", 1, "to", "rule can never match", NULL },
	{ "to", 1, NULL, "expected an output name after 'to'", "got end of line" },
	{ "to nowhere tcp", 1, "nowhere", "unknown output 'nowhere' after 'to'",
	  "outputs: drop, out, mon" },
	{ "allow in eth9", 1, "eth9", "unknown input 'eth9' after 'in'", NULL },
	{ "allow in", 1, NULL, "expected a port or input name after 'in'", "got end of line" },
	{ "allow in " "0123456789012345678901234567890123456789012345678901234567890123", 1, "0123",
	  "name after 'in' is longer than 63 bytes", NULL },
	{ "allow in eth0 in eth1", 1, "in eth1", "'in' given twice", NULL },
	{ "allow vlan 4096", 1, "4096", "VLAN id 4096 is out of range (0-4095)", NULL },
	{ "allow vlan ten", 1, "ten", "expected a VLAN id 0-4095 after 'vlan'", "got 'ten'" },
	{ "allow vlan", 1, NULL, "expected a VLAN id", "got end of line" },
	{ "allow proto 256", 1, "256", "protocol number 256 is out of range (0-255)", NULL },
	{ "allow proto tcp", 1, "tcp", "expected a protocol number 0-255 after 'proto'",
	  "got 'tcp'" },
	{ "allow proto", 1, NULL, "expected a protocol number", "got end of line" },
	{ "allow tcp,foo", 1, "foo", "expected a protocol (tcp, udp, icmp", "after ','" },
	{ "allow tcp,", 1, NULL, "expected a protocol", "got end of line" },
	{ "allow tcp,,udp", 1, ",udp", "expected a protocol", "got ','" },
	{ "default", 1, NULL, "expected 'non-ip', 'fragment', 'malformed', 'allow', 'deny' or "
	  "'to OUTPUT' after 'default'", "got end of line" },
	{ "default bogus", 1, "bogus", "after 'default'", "got 'bogus'" },
	{ "default non-ip", 1, NULL, "expected 'allow', 'deny' or 'to OUTPUT' after the default's "
	  "class", "got end of line" },
	{ "default fragment permit", 1, "permit", "after the default's class", "got 'permit'" },
	{ "default deny tcp", 1, "tcp", "expected end of line after the default's action",
	  "got 'tcp'" },
	{ "default to nowhere", 1, "nowhere", "unknown output 'nowhere'", NULL },
	{ "default deny\nallow\ndefault allow", 3, "default", "'default' given twice",
	  "first on line 1" },
	{ "default malformed deny\ndefault malformed deny", 2, "default",
	  "'default malformed' given twice", "first on line 1" },
	{ "allow \x01\x7f", 1, "\x01", "got '\\x01\\x7f'", NULL },
	{ "allow tcp\nallow udp\nallow tcp to any port 22,ssh", 3, "ssh",
	  "expected a port number or range after ','", "got 'ssh'" },
};

static unsigned
expected_col(const char *text, unsigned line, const char *at)
{
	const char *l = text, *end, *hit;

	for (unsigned i = 1; i < line; i++)
		l = strchr(l, '\n') + 1;
	end = strchr(l, '\n');
	if (end == NULL)
		end = l + strlen(l);
	if (at == NULL)
		return (unsigned)(end - l) + 1;
	hit = strstr(l, at);
	assert_non_null(hit);
	assert_true(hit < end);
	return (unsigned)(hit - l) + 1;
}

static void
test_every_error_names_file_line_column_and_what_was_expected(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad *b = &bad_cases[i];
		struct fw_ruleset rs;
		struct mpdp_errbuf eb = { "" };
		char want[64];
		int rc;

		rc = parse(b->text, &rs, &eb);
		snprintf(want, sizeof(want), "rules.txt:%u:%u: ", b->line,
			 expected_col(b->text, b->line, b->at));
		if (rc != -EINVAL || strncmp(eb.msg, want, strlen(want)) != 0 ||
		    strstr(eb.msg, b->msg1) == NULL || (b->msg2 && strstr(eb.msg, b->msg2) == NULL))
			fail_msg("case %zu \"%s\": rc %d, message \"%s\", wanted \"%s...%s...%s\"",
				 i, b->text, rc, eb.msg, want, b->msg1, b->msg2 ? b->msg2 : "");
	}
}

static void
test_the_brief_example_message_is_exact(void **state)
{
	struct fw_ruleset rs;
	struct mpdp_errbuf eb;

	(void)state;
	/* 'http' at column 22 of line 3 */
	assert_int_equal(parse("allow\n\ndeny tcp to any port http\n", &rs, &eb), -EINVAL);
	assert_string_equal(eb.msg, "rules.txt:3:22: expected a port number or range after "
			    "'port', got 'http'");
	assert_int_equal(parse("\n\nallow tcp port 1\n", &rs, &eb), -EINVAL);
	assert_string_equal(eb.msg, "rules.txt:3:11: expected a match (a protocol, 'from', 'to', "
			    "'established', 'new', 'flags', 'icmp-type', 'vlan' or 'in') or end of "
			    "line, got 'port'");
	assert_int_equal(parse("allow from 10.0.0.1/8", &rs, &eb), -EINVAL);
	assert_string_equal(eb.msg, "rules.txt:1:12: 10.0.0.1/8: host bits set, did you mean "
			    "10.0.0.0/8");
}

static void
test_long_lines_nul_bytes_and_too_many_rules_are_refused(void **state)
{
	struct fw_ruleset rs;
	struct mpdp_errbuf eb;
	size_t n = FW_RULES_LINE_MAX + 10, len;
	char *text = malloc(FW_RULES_LINE_MAX * 2 + 64);

	(void)state;
	assert_non_null(text);
	/* a line of exactly the maximum is fine (blanks after the rule) */
	memset(text, ' ', FW_RULES_LINE_MAX);
	memcpy(text, "allow", 5);
	text[FW_RULES_LINE_MAX] = '\n';
	assert_int_equal(fw_rules_parse(text, FW_RULES_LINE_MAX + 1, "r", &fw_test_names, &rs, &eb), 0);
	fw_ruleset_free(&rs);
	/* one byte more is not, on line 2 */
	memcpy(text, "deny\n", 5);
	memset(text + 5, '#', n);
	assert_int_equal(fw_rules_parse(text, n + 5, "r", &fw_test_names, &rs, &eb), -EINVAL);
	assert_string_equal(eb.msg, "r:2:4097: line is longer than 4096 bytes");
	free(text);

	assert_int_equal(fw_rules_parse("allow tcp\nallow\0tcp\n", 20, "r", &fw_test_names, &rs, &eb),
			 -EINVAL);
	assert_string_equal(eb.msg, "r:2:6: NUL byte in the rule file");

	/* FW_RULES_MAX rules are fine, one more is not */
	len = (size_t)(FW_RULES_MAX + 1) * 5;
	text = malloc(len);
	assert_non_null(text);
	for (size_t i = 0; i <= FW_RULES_MAX; i++)
		memcpy(text + i * 5, "deny\n", 5);
	assert_int_equal(fw_rules_parse(text, len - 5, "r", &fw_test_names, &rs, &eb), 0);
	assert_int_equal(rs.n, FW_RULES_MAX);
	fw_ruleset_free(&rs);
	assert_int_equal(fw_rules_parse(text, len, "r", &fw_test_names, &rs, &eb), -EINVAL);
	assert_non_null(strstr(eb.msg, "r:65537:1: more than 65536 rules"));
	free(text);
}

static void
test_outputs_without_out_and_resolver_errors(void **state)
{
	static const char *const outs[] = { "drop", "mon" };
	const struct fw_names no_out = { .outputs = outs, .n_outputs = 2 };
	struct fw_ruleset rs;
	struct mpdp_errbuf eb;

	(void)state;
	assert_int_equal(fw_rules_parse("allow tcp", 9, "f", &no_out, &rs, &eb), -EINVAL);
	assert_string_equal(eb.msg, "f:1:1: 'allow' needs an output named 'out', and the stage "
			    "has none");
	/* the built-in non-ip default is an allow too */
	assert_int_equal(fw_rules_parse("deny tcp", 8, "f", &no_out, &rs, &eb), -EINVAL);
	assert_non_null(strstr(eb.msg, "f: the stage has no output named 'out'"));
	assert_non_null(strstr(eb.msg, "add a 'default non-ip' line"));
	assert_int_equal(fw_rules_parse("deny tcp\ndefault non-ip to mon", 30, "f", &no_out, &rs, &eb),
			 0);
	assert_int_equal(rs.non_ip.next, 1);
	fw_ruleset_free(&rs);
	/* no resolver: every "in" name is unknown */
	assert_int_equal(fw_rules_parse("deny in eth0 tcp", 16, "f", &no_out, &rs, &eb), -EINVAL);
	assert_non_null(strstr(eb.msg, "f:1:9: unknown input 'eth0'"));
	/* a resolver's own failure is passed on */
	assert_int_equal(parse("deny in broken", &rs, &eb), -EIO);
	assert_non_null(strstr(eb.msg, "rules.txt:1:9: cannot resolve 'broken' after 'in'"));
}

static void
test_a_refused_file_leaves_the_ruleset_untouched(void **state)
{
	struct fw_ruleset rs = parse_ok("allow tcp\ndeny udp\n"), copy = rs;
	struct mpdp_errbuf eb;

	(void)state;
	assert_int_equal(parse("allow icmp\nallow tcp\nallow bogus\n", &rs, &eb), -EINVAL);
	assert_memory_equal(&rs, &copy, sizeof(rs));
	assert_int_equal(rs.n, 2);
	assert_true(pbit(&rs.rules[0], 0, 6));
	fw_ruleset_free(&rs);
}

static void
test_out_of_memory_anywhere_in_parse_or_load_fails_cleanly(void **state)
{
	const char *text = "allow tcp from 10.0.0.0/8,2001:db8::/32 to any port 80,443\n"
			   "deny udp from any port 53 to 192.0.2.0/24 in eth1\n"
			   "to mon in inside\n";
	char path[] = "/tmp/fw_rules_oomXXXXXX";
	struct fw_ruleset rs = { .n = 77 }, keep = rs;
	struct mpdp_errbuf eb;
	long fail;
	int rc, fd;

	(void)state;
	for (fail = 0;; fail++) {
		alloc_fail_arm(fail);
		rc = parse(text, &rs, &eb);
		alloc_fail_disarm();
		if (rc == 0)
			break;
		assert_int_equal(rc, -ENOMEM);
		assert_non_null(strstr(eb.msg, "out of memory"));
		assert_memory_equal(&rs, &keep, sizeof(rs));
	}
	assert_true(fail >= 5);
	assert_int_equal(rs.n, 3);
	fw_ruleset_free(&rs);

	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	rs = keep;
	alloc_fail_arm(0);
	rc = fw_rules_load(path, &fw_test_names, &rs, &eb);
	alloc_fail_disarm();
	unlink(path);
	assert_int_equal(rc, -ENOMEM);
	assert_non_null(strstr(eb.msg, ": out of memory reading it"));
	assert_memory_equal(&rs, &keep, sizeof(rs));
}

/* ---- format and parse back ------------------------------------------- */

static void
assert_rules_equal(const struct fw_rule *a, const struct fw_rule *b)
{
	assert_int_equal(a->has, b->has);
	assert_memory_equal(a->proto, b->proto, sizeof(a->proto));
	assert_int_equal(a->n_src, b->n_src);
	assert_int_equal(a->n_dst, b->n_dst);
	assert_int_equal(a->n_sport, b->n_sport);
	assert_int_equal(a->n_dport, b->n_dport);
	if (a->n_src)
		assert_memory_equal(a->src, b->src, a->n_src * sizeof(*a->src));
	if (a->n_dst)
		assert_memory_equal(a->dst, b->dst, a->n_dst * sizeof(*a->dst));
	if (a->n_sport)
		assert_memory_equal(a->sport, b->sport, a->n_sport * sizeof(*a->sport));
	if (a->n_dport)
		assert_memory_equal(a->dport, b->dport, a->n_dport * sizeof(*a->dport));
	if (a->has & FW_HAS_IN)
		assert_string_equal(a->in_name, b->in_name);
	else
		assert_true(a->in_name == NULL && b->in_name == NULL);
	assert_int_equal(a->in_input, b->in_input);
	assert_int_equal(a->in_port, b->in_port);
	assert_int_equal(a->vlan_id, b->vlan_id);
	assert_int_equal(a->ct, b->ct);
	assert_int_equal(a->tcp_flags, b->tcp_flags);
	assert_int_equal(a->tcp_mask, b->tcp_mask);
	assert_int_equal(a->icmp_type, b->icmp_type);
	assert_int_equal(a->action.kind, b->action.kind);
	assert_int_equal(a->action.next, b->action.next);
}

/* Format every rule, parse the text back, compare; @return the text (caller frees). */
static char *
round_trip(const struct fw_ruleset *rs)
{
	size_t cap = (size_t)rs->n * 512 + 1, len = 0;
	char *text = malloc(cap);
	struct fw_ruleset back;
	struct mpdp_errbuf eb = { "" };

	assert_non_null(text);
	for (unsigned i = 0; i < rs->n; i++) {
		int n = fw_rule_format(&rs->rules[i], &fw_test_names, text + len, cap - len);

		assert_true(n > 0);
		len += (size_t)n;
		text[len++] = '\n';
	}
	if (fw_rules_parse(text, len, "formatted", &fw_test_names, &back, &eb) != 0)
		fail_msg("formatted rules do not parse: %s", eb.msg);
	assert_int_equal(back.n, rs->n);
	for (unsigned i = 0; i < rs->n; i++) {
		assert_rules_equal(&rs->rules[i], &back.rules[i]);
		assert_int_equal(back.rules[i].line, i + 1);
	}
	fw_ruleset_free(&back);
	text[len] = '\0';
	return text;
}

static void
test_format_is_canonical_and_parses_back(void **state)
{
	static const struct { const char *in, *out; } cases[] = {
		{ "allow tcp from 10.0.0.0/8 to any port 80,443",
		  "allow tcp from 10.0.0.0/8 to any port 80,443" },
		{ "deny udp from any port 53 to 192.0.2.0/24",
		  "deny udp from any port 53 to 192.0.2.0/24" },
		{ "allow icmp", "allow icmp" },
		{ "allow established", "allow established" },
		{ "allow   any  from any to any", "allow" },
		{ "to mon in ring1 vlan 7 new udp,tcp to 10.1.0.0/16,::/0 port 90-95,89",
		  "to mon tcp,udp to 10.1.0.0/16,::/0 port 89-95 new vlan 7 in ring1" },
		{ "allow tcp flags SA/SAFR", "allow tcp flags SA/FSRA" },
		{ "allow tcp flags S/S", "allow tcp flags S" },
		{ "allow tcp flags /RF", "allow tcp flags /FR" },
		{ "deny icmp-type 8 icmp", "deny icmp icmp-type echo-request" },
		{ "deny icmp6 icmp-type 200", "deny icmp6 icmp-type 200" },
		{ "allow ip,udp", "allow ip,udp" },
		{ "allow icmp,proto 1", "allow proto 1" },
		{ "allow icmp6,ip", "allow ip,icmp6" },
		{ "allow ip,ip6", "allow ip,ip6" },
		{ "allow proto 47,icmp", "allow icmp,proto 47" },
		{ "allow from 2001:DB8:0:0:0:0:0:1,10.0.0.1/32", "allow from 10.0.0.1,2001:db8::1" },
		{ "deny in eth3", "deny in eth3" },
	};
	char buf[512];
	int n;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct fw_ruleset rs = one(cases[i].in);

		n = fw_rule_format(&rs.rules[0], &fw_test_names, buf, sizeof(buf));
		assert_int_equal(n, (int)strlen(cases[i].out));
		assert_string_equal(buf, cases[i].out);
		free(round_trip(&rs));
		fw_ruleset_free(&rs);
	}
	/* a buffer too small says so and stays terminated */
	struct fw_ruleset rs = one("allow tcp from 10.0.0.0/8 to any port 80,443");

	assert_int_equal(fw_rule_format(&rs.rules[0], &fw_test_names, buf, 10), -ENOSPC);
	assert_string_equal(buf, "allow tcp");
	n = fw_rule_format(&rs.rules[0], &fw_test_names, buf, 44);
	assert_int_equal(n, -ENOSPC);
	assert_int_equal(fw_rule_format(&rs.rules[0], &fw_test_names, buf, 45), 44);
	/* an output index with no name */
	struct fw_rule r = rs.rules[0];

	r.action.kind = FW_TO;
	r.action.next = 9;
	assert_int_equal(fw_rule_format(&r, &fw_test_names, buf, sizeof(buf)), -EINVAL);
	fw_ruleset_free(&rs);
}

/* A random valid rule, to exercise format and parse on many shapes. */
static void
random_rule(uint64_t *s, char *out, size_t cap)
{
	static const char *const protos4[] = { "tcp", "udp", "tcp,udp", "icmp", "ip",
					       "proto 47", "ip,icmp6", "udp,proto 132" };
	static const char *const actions[] = { "allow", "deny", "to mon", "to out", "to drop" };
	static const char *const ins[] = { "eth0", "eth1", "port7", "ring0", "inside" };
	size_t o = 0;
	unsigned pk = (unsigned)(test_rand(s) % 10);
	int tcpudp, tcp_only, icmp4, icmp6, fam;

	o += (size_t)snprintf(out + o, cap - o, "%s", actions[test_rand(s) % 5]);
	tcpudp = pk < 3;
	tcp_only = pk == 0;
	icmp4 = pk == 3;
	icmp6 = pk == 8;
	if (pk < 8)
		o += (size_t)snprintf(out + o, cap - o, " %s", protos4[pk]);
	else if (pk == 8)
		o += (size_t)snprintf(out + o, cap - o, " icmp6");
	/* 4: IPv4 only, 6: IPv6 only, 0: both */
	fam = icmp4 || pk == 4 ? 4 : icmp6 ? 6 : (int[]){ 0, 4, 6 }[test_rand(s) % 3];
	for (int dir = 0; dir < 2; dir++) {
		unsigned n = (unsigned)(test_rand(s) % 4);
		int ports = tcpudp && test_rand(s) % 2;

		if (n == 0 && !ports)
			continue;
		o += (size_t)snprintf(out + o, cap - o, " %s ", dir ? "to" : "from");
		if (n == 0)
			o += (size_t)snprintf(out + o, cap - o, "any");
		for (unsigned i = 0; i < n; i++) {
			/* a mixed list starts with IPv4, so from and to share a family */
			int v6 = fam == 6 || (fam == 0 && i > 0 && test_rand(s) % 2);
			uint8_t a[16];
			char txt[64];
			unsigned len = (unsigned)(test_rand(s) % (v6 ? 129 : 33));

			for (int b = 0; b < 16; b++)
				a[b] = (uint8_t)test_rand(s);
			for (unsigned b = len; b < 128; b++)
				a[b / 8] &= (uint8_t)~(0x80u >> (b % 8));
			inet_ntop(v6 ? AF_INET6 : AF_INET, a, txt, sizeof(txt));
			o += (size_t)snprintf(out + o, cap - o, "%s%s/%u", i ? "," : "", txt, len);
		}
		if (ports) {
			unsigned m = 1 + (unsigned)(test_rand(s) % 4);

			o += (size_t)snprintf(out + o, cap - o, " port ");
			for (unsigned i = 0; i < m; i++) {
				unsigned lo = 1 + (unsigned)(test_rand(s) % 65535);
				unsigned hi = lo + (unsigned)(test_rand(s) % 3 == 0 ? test_rand(s) % 200 : 0);

				if (hi > 65535)
					hi = 65535;
				if (hi > lo)
					o += (size_t)snprintf(out + o, cap - o, "%s%u-%u", i ? "," : "", lo, hi);
				else
					o += (size_t)snprintf(out + o, cap - o, "%s%u", i ? "," : "", lo);
			}
		}
	}
	if (test_rand(s) % 4 == 0)
		o += (size_t)snprintf(out + o, cap - o, test_rand(s) % 2 ? " established" : " new");
	if (tcp_only && test_rand(s) % 2) {
		unsigned mask = 1 + (unsigned)(test_rand(s) % 255);
		unsigned set = (unsigned)test_rand(s) & mask;

		o += (size_t)snprintf(out + o, cap - o, " flags ");
		for (unsigned b = 0; b < 8; b++)
			if (set & (1u << b))
				o += (size_t)snprintf(out + o, cap - o, "%c", "FSRPAUEW"[b]);
		o += (size_t)snprintf(out + o, cap - o, "/");
		for (unsigned b = 0; b < 8; b++)
			if (mask & (1u << b))
				o += (size_t)snprintf(out + o, cap - o, "%c", "FSRPAUEW"[b]);
	}
	if ((icmp4 || icmp6) && test_rand(s) % 2)
		o += (size_t)snprintf(out + o, cap - o, " icmp-type %u", (unsigned)(test_rand(s) % 256));
	if (test_rand(s) % 5 == 0)
		o += (size_t)snprintf(out + o, cap - o, " vlan %u", (unsigned)(test_rand(s) % 4096));
	if (test_rand(s) % 5 == 0)
		o += (size_t)snprintf(out + o, cap - o, " in %s", ins[test_rand(s) % 5]);
	assert_true(o < cap);
}

static void
test_random_rules_round_trip_through_format(void **state)
{
	uint64_t seed = 0x5eed0001;
	size_t n = 2000, cap = n * 400, len = 0;
	char *text = malloc(cap);
	struct fw_ruleset rs;
	struct mpdp_errbuf eb = { "" };

	(void)state;
	assert_non_null(text);
	for (size_t i = 0; i < n; i++) {
		random_rule(&seed, text + len, cap - len);
		len += strlen(text + len);
		text[len++] = '\n';
	}
	if (fw_rules_parse(text, len, "random", &fw_test_names, &rs, &eb) != 0)
		fail_msg("random rules do not parse: %s", eb.msg);
	assert_int_equal(rs.n, n);
	free(round_trip(&rs));
	fw_ruleset_free(&rs);
	free(text);
}

/* ---- files ----------------------------------------------------------- */

static void
test_load_reads_a_file_and_reports_a_missing_one(void **state)
{
	char path[] = "/tmp/fw_rules_testXXXXXX";
	const char *text = "allow tcp to any port 22\ndefault deny\n";
	struct fw_ruleset rs, keep;
	struct mpdp_errbuf eb = { "" };
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	assert_int_equal(fw_rules_load(path, &fw_test_names, &rs, &eb), 0);
	assert_int_equal(rs.n, 1);
	assert_range(&rs.rules[0].dport[0], 22, 22);

	/* an error names the path as the file */
	fd = open(path, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "allow\nallow udp to any port 0\n", 30), 30);
	close(fd);
	keep = rs;
	assert_int_equal(fw_rules_load(path, &fw_test_names, &rs, &eb), -EINVAL);
	assert_memory_equal(&rs, &keep, sizeof(rs));
	assert_true(strncmp(eb.msg, path, strlen(path)) == 0);
	assert_non_null(strstr(eb.msg, ":2:23: port 0 is not allowed"));
	unlink(path);

	assert_int_equal(fw_rules_load(path, &fw_test_names, &rs, &eb), -ENOENT);
	assert_memory_equal(&rs, &keep, sizeof(rs));
	assert_true(strncmp(eb.msg, path, strlen(path)) == 0);
	assert_non_null(strstr(eb.msg, "No such file or directory"));
	assert_int_equal(fw_rules_load("/tmp", &fw_test_names, &rs, &eb), -EISDIR);
	assert_non_null(strstr(eb.msg, "/tmp: Is a directory"));
	fw_ruleset_free(&rs);

	/* an empty file has only the defaults; /dev/null reads as empty */
	assert_int_equal(fw_rules_load("/dev/null", &fw_test_names, &rs, &eb), 0);
	assert_int_equal(rs.n, 0);
	fw_ruleset_free(&rs);
}

/* ---- the reference matcher and the key ------------------------------- */

static struct fw_key
key4(const char *src, const char *dst, uint8_t proto, uint16_t sport, uint16_t dport)
{
	struct fw_key k;

	memset(&k, 0, sizeof(k));
	k.family = 4;
	k.proto = proto;
	k.sport = sport;
	k.dport = dport;
	k.port = FW_PORT_NONE;
	k.input = FW_INPUT_NONE;
	assert_int_equal(inet_pton(AF_INET, src, k.src), 1);
	assert_int_equal(inet_pton(AF_INET, dst, k.dst), 1);
	return k;
}

static struct fw_key
key6(const char *src, const char *dst, uint8_t proto)
{
	struct fw_key k;

	memset(&k, 0, sizeof(k));
	k.family = 6;
	k.proto = proto;
	k.port = FW_PORT_NONE;
	k.input = FW_INPUT_NONE;
	assert_int_equal(inet_pton(AF_INET6, src, k.src), 1);
	assert_int_equal(inet_pton(AF_INET6, dst, k.dst), 1);
	return k;
}

static int
matches(const char *rule, const struct fw_key *k)
{
	struct fw_ruleset rs = one(rule);
	int m = fw_rule_match(&rs.rules[0], k);

	fw_ruleset_free(&rs);
	return m;
}

static void
test_reference_matcher_follows_the_documented_meaning(void **state)
{
	struct fw_key k;

	(void)state;
	k = key4("10.9.8.7", "192.0.2.1", 6, 40000, 443);
	assert_true(matches("allow tcp from 10.0.0.0/8 to any port 80,443", &k));
	assert_false(matches("allow tcp from 11.0.0.0/8 to any port 80,443", &k));
	assert_false(matches("allow udp from 10.0.0.0/8", &k));
	assert_true(matches("allow tcp,udp from any port 40000", &k));
	assert_false(matches("allow tcp to any port 444-500", &k));
	assert_true(matches("allow", &k));
	assert_true(matches("allow ip", &k));
	assert_false(matches("allow ip6", &k));
	assert_false(matches("allow from 2001:db8::/32", &k));
	assert_true(matches("allow from 2001:db8::/32,10.9.8.7", &k));
	assert_true(matches("allow to 192.0.2.0/24", &k));
	assert_false(matches("allow to 192.0.3.0/24", &k));

	/* the same ports on UDP; an ICMP key never matches ports */
	k.proto = 17;
	assert_true(matches("allow tcp,udp to any port 443", &k));
	assert_false(matches("allow tcp to any port 443", &k));
	k.proto = 1;
	assert_false(matches("allow tcp,udp to any port 443", &k));

	/* flags */
	k = key4("1.1.1.1", "2.2.2.2", 6, 1, 2);
	k.tcp_flags = FW_TCP_SYN;
	assert_true(matches("allow tcp flags S/SA", &k));
	assert_true(matches("allow tcp flags S", &k));
	assert_true(matches("allow tcp flags /RA", &k));
	k.tcp_flags = FW_TCP_SYN | FW_TCP_ACK;
	assert_false(matches("allow tcp flags S/SA", &k));
	assert_true(matches("allow tcp flags S", &k));
	assert_false(matches("allow tcp flags /RA", &k));

	/* ICMP: the type of an ICMP key; icmp is IPv4, icmp6 IPv6 */
	k = key4("1.1.1.1", "2.2.2.2", 1, 0, 0);
	k.icmp_type = 8;
	assert_true(matches("allow icmp icmp-type echo-request", &k));
	assert_false(matches("allow icmp icmp-type echo-reply", &k));
	assert_true(matches("allow icmp", &k));
	assert_false(matches("allow icmp6", &k));
	k = key6("2001:db8::1", "2001:db8::2", 58);
	k.icmp_type = 128;
	assert_true(matches("allow icmp6 icmp-type echo-request", &k));
	assert_false(matches("allow icmp", &k));
	assert_true(matches("allow proto 58", &k));
	assert_true(matches("allow from 2001:db8::/64 to 2001:db8::2", &k));
	assert_false(matches("allow from 10.0.0.0/8", &k));

	/* vlan, in, state */
	k = key4("1.1.1.1", "2.2.2.2", 17, 5, 6);
	assert_false(matches("allow vlan 0", &k));
	k.has_vlan = 1;
	k.vlan_id = 0;
	assert_true(matches("allow vlan 0", &k));
	assert_false(matches("allow vlan 1", &k));
	assert_false(matches("allow in eth1", &k));
	k.port = 1;
	assert_true(matches("allow in eth1", &k));
	assert_false(matches("allow in ring1", &k));
	k.input = 1;
	assert_true(matches("allow in ring1", &k));
	assert_true(matches("allow new", &k));
	assert_false(matches("allow established", &k));
	k.ct = FW_MATCH_ESTABLISHED;
	assert_true(matches("allow established", &k));
	assert_false(matches("allow new", &k));
	k.ct = 2;   /* any nonzero state is established */
	assert_true(matches("allow established", &k));
	assert_false(matches("allow new", &k));

	/* a non-IP key matches only rules without IP fields */
	memset(&k, 0, sizeof(k));
	k.port = 2;
	assert_true(matches("allow", &k));
	assert_true(matches("allow in eth2 new", &k));
	assert_false(matches("allow ip,ip6", &k));
	assert_false(matches("allow from 0.0.0.0/0", &k));
	assert_false(matches("allow to ::/0", &k));
}

static void
test_key_from_a_parsed_packet(void **state)
{
	struct mpdp_pkt_info info;
	struct fw_key k;

	(void)state;
	memset(&info, 0, sizeof(info));
	info.ptype = MPDP_PTYPE_ETH | MPDP_PTYPE_VLAN | MPDP_PTYPE_IPV4 | MPDP_PTYPE_TCP;
	info.n_vlan = 1;
	info.vlan_tci[0] = 0xe00a;   /* PCP 7, id 10 */
	info.ip_proto = 6;
	info.tcp_flags = FW_TCP_SYN;
	info.src_port = 1234;
	info.dst_port = 80;
	memcpy(info.src_addr, (uint8_t[]){ 10, 0, 0, 1 }, 4);
	memcpy(info.dst_addr, (uint8_t[]){ 192, 0, 2, 9 }, 4);
	fw_key_from_pkt(&info, 3, FW_INPUT_NONE, 1, &k);
	assert_int_equal(k.family, 4);
	assert_int_equal(k.proto, 6);
	assert_int_equal(k.sport, 1234);
	assert_int_equal(k.dport, 80);
	assert_int_equal(k.tcp_flags, FW_TCP_SYN);
	assert_int_equal(k.has_vlan, 1);
	assert_int_equal(k.vlan_id, 10);
	assert_int_equal(k.port, 3);
	assert_int_equal(k.input, FW_INPUT_NONE);
	assert_int_equal(k.ct, FW_MATCH_ESTABLISHED);
	assert_memory_equal(k.src, ((uint8_t[]){ 10, 0, 0, 1 }), 4);
	assert_memory_equal(k.dst, ((uint8_t[]){ 192, 0, 2, 9 }), 4);
	assert_true(matches("allow tcp from 10.0.0.0/8 to any port 80 flags S/SA vlan 10 in eth3 "
			    "established", &k));

	/* ICMPv6: the echo identifier is not a port */
	memset(&info, 0, sizeof(info));
	info.ptype = MPDP_PTYPE_ETH | MPDP_PTYPE_IPV6 | MPDP_PTYPE_ICMP;
	info.ip_proto = 58;
	info.icmp_type = 128;
	info.src_port = 77;
	info.src_addr[0] = 0x20;
	info.dst_addr[15] = 1;
	fw_key_from_pkt(&info, FW_PORT_NONE, 2, 0, &k);
	assert_int_equal(k.family, 6);
	assert_int_equal(k.icmp_type, 128);
	assert_int_equal(k.sport, 0);
	assert_int_equal(k.has_vlan, 0);
	assert_int_equal(k.input, 2);
	assert_int_equal(k.ct, FW_MATCH_NEW);
	assert_memory_equal(k.src, info.src_addr, 16);
	assert_memory_equal(k.dst, info.dst_addr, 16);

	/* ARP: family 0, nothing else */
	memset(&info, 0, sizeof(info));
	info.ptype = MPDP_PTYPE_ETH | MPDP_PTYPE_ARP;
	info.ip_proto = 6;
	fw_key_from_pkt(&info, 1, FW_INPUT_NONE, 0, &k);
	assert_int_equal(k.family, 0);
	assert_int_equal(k.proto, 0);
	assert_int_equal(k.port, 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sample_lines_parse_to_what_they_say),
		cmocka_unit_test(test_empty_file_comments_and_blanks_give_builtin_defaults),
		cmocka_unit_test(test_comments_end_lines_anywhere_and_lines_are_counted),
		cmocka_unit_test(test_protocol_lists),
		cmocka_unit_test(test_address_lists_mix_families_and_are_normalized),
		cmocka_unit_test(test_port_lists_ranges_merge),
		cmocka_unit_test(test_state_flags_icmp_vlan_in),
		cmocka_unit_test(test_actions_and_defaults),
		cmocka_unit_test(test_every_error_names_file_line_column_and_what_was_expected),
		cmocka_unit_test(test_the_brief_example_message_is_exact),
		cmocka_unit_test(test_long_lines_nul_bytes_and_too_many_rules_are_refused),
		cmocka_unit_test(test_outputs_without_out_and_resolver_errors),
		cmocka_unit_test(test_a_refused_file_leaves_the_ruleset_untouched),
		cmocka_unit_test(test_out_of_memory_anywhere_in_parse_or_load_fails_cleanly),
		cmocka_unit_test(test_format_is_canonical_and_parses_back),
		cmocka_unit_test(test_random_rules_round_trip_through_format),
		cmocka_unit_test(test_load_reads_a_file_and_reports_a_missing_one),
		cmocka_unit_test(test_reference_matcher_follows_the_documented_meaning),
		cmocka_unit_test(test_key_from_a_parsed_packet),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

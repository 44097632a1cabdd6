/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mpdp-nat's modules without the stage framework: the option parser (every
 * refusal), the session table and its port allocator with a hand-driven
 * clock, translation of frames built here (every checksum verified by full
 * recomputation with mpdp_pkt_cksum, never by the incremental path under
 * test), a restart on the same zone memory, and garbage that must be
 * counted, never crash.
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

#include "mpdp_pkt.h"
#include "nat_config.h"
#include "nat_path.h"
#include "nat_table.h"
#include "nat_xlate.h"

#define SEC 1000000000ull
#define T0 (1000 * SEC)    /* the hand-driven clock starts here */
#define FRAME_MAX 1600
#define ETH 14

/* ---------------------------------------------------------------- helpers */

static uint32_t
ip(const char *s)
{
	struct in_addr a;

	assert_int_equal(inet_pton(AF_INET, s, &a), 1);
	return a.s_addr;
}

static uint32_t
rd32n(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

/* ~sum over @p len bytes with the 16-bit field at @p field zeroed: the value
 * a correct checksum field holds, computed from scratch. */
static uint16_t
full_cks(const uint8_t *data, size_t len, size_t field, uint32_t pseudo)
{
	uint8_t buf[FRAME_MAX];

	assert_true(len <= sizeof(buf));
	memcpy(buf, data, len);
	buf[field] = buf[field + 1] = 0;
	return (uint16_t)~mpdp_pkt_cksum(buf, (uint32_t)len, pseudo);
}

static uint32_t
pseudo_sum(const uint8_t *iph, uint8_t proto, size_t l4len)
{
	uint8_t ph[12];

	memcpy(ph, iph + 12, 8);
	ph[8] = 0;
	ph[9] = proto;
	mpdp_put_be16(ph + 10, (uint16_t)l4len);
	return mpdp_pkt_cksum(ph, sizeof(ph), 0);
}

/* Fill the L4 checksum of the IPv4 packet at @p iph (header and L4 whole). */
static void
l4_fill(uint8_t *iph, int udp_zero)
{
	size_t ihl = (size_t)(iph[0] & 0xf) * 4, tot = mpdp_get_be16(iph + 2), l4len = tot - ihl;
	uint8_t *l4 = iph + ihl;
	uint16_t c;

	switch (iph[9]) {
	case IPPROTO_TCP:
		mpdp_put_be16(l4 + 16, full_cks(l4, l4len, 16, pseudo_sum(iph, IPPROTO_TCP, l4len)));
		break;
	case IPPROTO_UDP:
		c = full_cks(l4, l4len, 6, pseudo_sum(iph, IPPROTO_UDP, l4len));
		mpdp_put_be16(l4 + 6, udp_zero ? 0 : c == 0 ? 0xffff : c);
		break;
	case IPPROTO_ICMP:
		mpdp_put_be16(l4 + 2, full_cks(l4, l4len, 2, 0));
		break;
	default:
		break;
	}
	mpdp_put_be16(iph + 10, full_cks(iph, ihl, 10, 0));
}

struct spec {
	uint8_t proto;
	const char *src, *dst;
	uint16_t sport, dport;     /* ICMP echo: sport is the identifier */
	uint8_t type, code;        /* ICMP */
	uint8_t flags;             /* TCP */
	uint16_t payload;
	uint8_t opt_words;         /* IPv4 options (NOPs), 4 bytes each */
	uint8_t udp_zero;          /* send UDP without a checksum */
	uint16_t frag;             /* IPv4 flags and fragment offset */
	uint8_t vlan;
	const uint8_t *quote;      /* ICMP error: what it quotes (an IP packet) */
	uint16_t quote_len;
	uint16_t pay_word;         /* first two payload bytes */
};

/* An Ethernet frame as @p s says, checksums correct. @return its length. */
static size_t
build(uint8_t *f, const struct spec *s)
{
	size_t off = 12, ihl = 20 + 4u * s->opt_words, l4len, tot;
	uint8_t *iph, *l4;

	memset(f, 0, FRAME_MAX);
	memcpy(f, "\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01", 12);
	if (s->vlan) {
		mpdp_put_be16(f + off, 0x8100);
		mpdp_put_be16(f + off + 2, 5);
		off += 4;
	}
	mpdp_put_be16(f + off, 0x0800);
	off += 2;
	iph = f + off;
	switch (s->proto) {
	case IPPROTO_TCP: l4len = 20; break;
	case IPPROTO_UDP: l4len = 8; break;
	case IPPROTO_ICMP: l4len = 8 + (s->quote ? s->quote_len : 0); break;
	default: l4len = 8; break;
	}
	l4len += s->payload;
	tot = ihl + l4len;
	assert_true(off + tot <= FRAME_MAX);
	iph[0] = (uint8_t)(0x40 | ihl / 4);
	mpdp_put_be16(iph + 2, (uint16_t)tot);
	mpdp_put_be16(iph + 4, 0x1234);
	mpdp_put_be16(iph + 6, s->frag);
	iph[8] = 64;
	iph[9] = s->proto;
	memcpy(iph + 12, &(uint32_t){ ip(s->src) }, 4);
	memcpy(iph + 16, &(uint32_t){ ip(s->dst) }, 4);
	memset(iph + 20, 1, ihl - 20);
	l4 = iph + ihl;
	for (size_t i = 0; i < s->payload; i++)
		l4[l4len - s->payload + i] = (uint8_t)(i * 7 + 3);
	if (s->payload >= 2)
		mpdp_put_be16(l4 + l4len - s->payload, s->pay_word);
	switch (s->proto) {
	case IPPROTO_TCP:
		mpdp_put_be16(l4, s->sport);
		mpdp_put_be16(l4 + 2, s->dport);
		l4[7] = 1;
		l4[12] = 5 << 4;
		l4[13] = s->flags;
		mpdp_put_be16(l4 + 14, 65535);
		break;
	case IPPROTO_UDP:
		mpdp_put_be16(l4, s->sport);
		mpdp_put_be16(l4 + 2, s->dport);
		mpdp_put_be16(l4 + 4, (uint16_t)l4len);
		break;
	case IPPROTO_ICMP:
		l4[0] = s->type;
		l4[1] = s->code;
		if (s->quote != NULL)
			memcpy(l4 + 8, s->quote, s->quote_len);
		else
			mpdp_put_be16(l4 + 4, s->sport);
		break;
	default:
		break;
	}
	l4_fill(iph, s->udp_zero);
	return off + tot;
}

/* Verify the L4 checksum of the IP packet at @p iph, of which @p avail bytes are there. */
static void
verify_l4(const uint8_t *iph, size_t avail, int udp_zero_ok)
{
	size_t ihl = (size_t)(iph[0] & 0xf) * 4, tot = mpdp_get_be16(iph + 2), l4len = tot - ihl;
	const uint8_t *l4 = iph + ihl;
	uint16_t want;

	assert_true(tot <= avail);
	switch (iph[9]) {
	case IPPROTO_TCP:
		assert_int_equal(mpdp_get_be16(l4 + 16), full_cks(l4, l4len, 16,
							 pseudo_sum(iph, IPPROTO_TCP, l4len)));
		break;
	case IPPROTO_UDP:
		if (mpdp_get_be16(l4 + 6) == 0) {
			assert_true(udp_zero_ok);
			break;
		}
		want = full_cks(l4, l4len, 6, pseudo_sum(iph, IPPROTO_UDP, l4len));
		assert_int_equal(mpdp_get_be16(l4 + 6), want == 0 ? 0xffff : want);
		break;
	case IPPROTO_ICMP:
		assert_int_equal(mpdp_get_be16(l4 + 2), full_cks(l4, l4len, 2, 0));
		break;
	default:
		break;
	}
}

/*
 * Every checksum of a frame, recomputed from scratch: the IPv4 header, L4,
 * and for an ICMP error the quoted IPv4 header and (the quote being whole)
 * the quoted L4 checksum.
 */
static void
verify(const uint8_t *f, size_t len, int udp_zero_ok)
{
	struct mpdp_pkt_info info;
	const uint8_t *iph, *l4;
	size_t ihl;

	assert_int_equal(mpdp_pkt_parse(f, (uint32_t)len, &info), 0);
	iph = f + info.l3_off;
	ihl = (size_t)(iph[0] & 0xf) * 4;
	assert_int_equal(mpdp_get_be16(iph + 10), full_cks(iph, ihl, 10, 0));
	verify_l4(iph, len - info.l3_off, udp_zero_ok);
	l4 = iph + ihl;
	if (iph[9] == IPPROTO_ICMP && l4[0] != 0 && l4[0] != 8) {
		const uint8_t *q = l4 + 8;
		size_t qihl = (size_t)(q[0] & 0xf) * 4;

		assert_int_equal(mpdp_get_be16(q + 10), full_cks(q, qihl, 10, 0));
		verify_l4(q, mpdp_get_be16(iph + 2) - ihl - 8, udp_zero_ok);
	}
}

/* The IPv4 header of a frame built by build() (no VLAN unless asked). */
static uint8_t *
iphdr(uint8_t *f)
{
	return f + (mpdp_get_be16(f + 12) == 0x8100 ? 18 : 14);
}

static uint8_t *
l4hdr(uint8_t *f)
{
	uint8_t *iph = iphdr(f);

	return iph + (iph[0] & 0xf) * 4;
}

static void
assert_addr(const uint8_t *at, const char *want)
{
	assert_int_equal(rd32n(at), ip(want));
}

/* A NAT on heap memory, as a stage would have it in its zone. */
struct fx {
	struct nat_config c;
	struct nat_table t;
	void *mem;
	uint64_t len;
	uint64_t now;
};

static void
fx_config(struct nat_config *c, const char *const *args)
{
	char *argv[64] = { "test" };
	struct mpdp_errbuf eb = { "" };
	uint32_t sessions;
	int argc = 1;

	for (; args[argc - 1] != NULL; argc++)
		argv[argc] = (char *)args[argc - 1];
	nat_config_init(c);
	if (nat_config_from_argv(c, &sessions, argc, argv, &eb) != 0 ||
	    nat_config_finish(c, &eb) != 0)
		fail_msg("config refused: %s", eb.msg);
}

static void
fx_open_argv(struct fx *f, const char *const *args)
{
	struct mpdp_errbuf eb = { "" };
	int rc;

	memset(f, 0, sizeof(*f));
	fx_config(&f->c, args);
	f->len = nat_table_zone_size(&f->c);
	assert_true(f->len > 0);
	f->mem = aligned_alloc(64, (f->len + 63) & ~63ull);
	assert_non_null(f->mem);
	memset(f->mem, 0, f->len);
	rc = nat_table_open(&f->t, f->mem, f->len, &f->c, "t.nat", &eb);
	if (rc != 0)
		fail_msg("open: %d %s", rc, eb.msg);
	f->now = T0;
}

#define FX_OPEN(f, ...) fx_open_argv((f), (const char *const[]){ __VA_ARGS__, NULL })

static void
fx_close(struct fx *f)
{
	free(f->mem);
	f->mem = NULL;
}

static uint64_t
ctr(const struct fx *f, enum nat_counter c)
{
	return nat_table_counter(&f->t, c);
}

static uint16_t
out(struct fx *f, uint8_t *frame, size_t len)
{
	return nat_path_packet(&f->t, frame, (uint32_t)len, 1, f->now);
}

static uint16_t
in(struct fx *f, uint8_t *frame, size_t len)
{
	return nat_path_packet(&f->t, frame, (uint32_t)len, 0, f->now);
}

/* Make a session straight through the table: (proto, in addr:port) -> out port. */
static int
mk(struct fx *f, uint8_t proto, const char *addr, uint16_t port, uint32_t *out_addr,
   uint16_t *out_port)
{
	const struct nat_snat *r = nat_config_snat_match(&f->c, ntohl(ip(addr)));
	struct nat_key k = { ip(addr), htons(port), proto, NAT_SIDE_INSIDE };
	uint32_t id;
	int rc;

	assert_non_null(r);
	id = nat_table_lookup(&f->t, &k, f->now);
	if (id == MPDP_FLOWTAB_NONE) {
		rc = nat_table_create(&f->t, proto, ip(addr), htons(port), r, f->now, &id);
		if (rc != 0)
			return rc;
	}
	if (out_addr != NULL)
		*out_addr = nat_table_sess(&f->t, id)->out_addr;
	if (out_port != NULL)
		*out_port = ntohs(nat_table_sess(&f->t, id)->out_port);
	return 0;
}

static uint32_t
find(struct fx *f, uint8_t proto, const char *addr, uint16_t port, uint8_t side)
{
	struct nat_key k = { ip(addr), htons(port), proto, side };

	return nat_table_lookup(&f->t, &k, f->now);
}

/* ----------------------------------------------------------------- config */

static void
expect_refused(int (*fn)(struct nat_config *, const char *, struct mpdp_errbuf *),
	       const char *value, const char *needle)
{
	struct nat_config c;
	struct mpdp_errbuf eb = { "" };

	nat_config_init(&c);
	if (fn(&c, value, &eb) != -EINVAL)
		fail_msg("'%s' was accepted", value ? value : "(null)");
	if (strstr(eb.msg, needle) == NULL)
		fail_msg("'%s': message '%s' lacks '%s'", value, eb.msg, needle);
}

static void
test_config_defaults_follow_the_rfcs(void **state)
{
	struct nat_config c;

	(void)state;
	nat_config_init(&c);
	assert_int_equal(c.max_sessions, 65536);
	assert_int_equal(c.timeout_s[NAT_TO_TCP_EST], 7440);
	assert_int_equal(c.timeout_s[NAT_TO_TCP_TRANS], 240);
	assert_int_equal(c.timeout_s[NAT_TO_UDP], 300);
	assert_int_equal(c.timeout_s[NAT_TO_ICMP], 60);
	assert_string_equal(nat_config_timeout_name(NAT_TO_TCP_EST), "tcp-established");
}

static void
test_config_snat_forms_accepted(void **state)
{
	struct nat_config c;
	struct mpdp_errbuf eb = { "" };
	char buf[NAT_RULE_STR_MAX];

	(void)state;
	nat_config_init(&c);
	assert_int_equal(nat_config_add_snat(&c, "10.0.0.0/8=192.0.2.1-192.0.2.4:1024-65535", &eb), 0);
	assert_int_equal(nat_config_add_snat(&c, "172.16.0.0/12=198.51.100.7", &eb), 0);
	assert_int_equal(nat_config_add_snat(&c, "0.0.0.0/0=203.0.113.1:5000", &eb), 0);
	assert_int_equal(c.n_snat, 3);
	assert_int_equal(c.snat[0].n_addrs, 4);
	assert_int_equal(c.snat[0].mask, 0xff000000u);
	assert_int_equal(c.snat[1].port_lo, 1024);
	assert_int_equal(c.snat[1].port_hi, 65535);
	assert_int_equal(c.snat[2].mask, 0);
	assert_int_equal(c.snat[2].port_lo, 5000);
	assert_int_equal(c.snat[2].port_hi, 5000);
	nat_config_snat_str(&c.snat[0], buf, sizeof(buf));
	assert_string_equal(buf, "10.0.0.0/8=192.0.2.1-192.0.2.4:1024-65535");
	nat_config_snat_str(&c.snat[1], buf, sizeof(buf));
	assert_string_equal(buf, "172.16.0.0/12=198.51.100.7:1024-65535");
}

static void
test_config_snat_refusals_name_the_value(void **state)
{
	static const struct {
		const char *v, *needle;
	} bad[] = {
		{ "", "--snat needs a value" },
		{ "10.0.0.0/8", "expected PREFIX=ADDR" },
		{ "=192.0.2.1", "expected PREFIX=ADDR" },
		{ "10.0.0.0/8=", "expected PREFIX=ADDR" },
		{ "10.0.0.0=192.0.2.1", "has no /LEN" },
		{ "10.0.0/8=192.0.2.1", "is not A.B.C.D/LEN" },
		{ "10.0.0.0/33=192.0.2.1", "LEN 0 to 32" },
		{ "10.0.0.0/x=192.0.2.1", "LEN 0 to 32" },
		{ "10.0.0.1/8=192.0.2.1", "did you mean 10.0.0.0/8?" },
		{ "10.0.0.0/8=192.0.2", "outside address '192.0.2' is not an IPv4 address" },
		{ "10.0.0.0/8=192.0.2.1-192.0.2", "outside address '192.0.2' is not" },
		{ "10.0.0.0/8=192.0.2.4-192.0.2.1", "ends before it starts" },
		{ "10.0.0.0/8=192.0.2.0-192.0.3.0", "holds 257 addresses, at most 256" },
		{ "10.0.0.0/8=192.0.2.1:0-100", "port range '0-100'" },
		{ "10.0.0.0/8=192.0.2.1:200-100", "port range '200-100'" },
		{ "10.0.0.0/8=192.0.2.1:1-65536", "1 <= first <= last <= 65535" },
		{ "10.0.0.0/8=192.0.2.1:abc", "port range 'abc'" },
		{ "10.0.0.0/8=192.0.2.1:", "port range ''" },
		{ "10.0.0.0/8=192.0.2.1:+5-9", "port range '+5-9'" },
		{ "10.0.0.0/8=192.0.2.1:5--9", "port range '5--9'" },
		{ "10.0.0.0/8=192.0.2.1 ", "is not an IPv4 address" },
	};
	char longv[300];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_refused(nat_config_add_snat, bad[i].v, bad[i].needle);
	expect_refused(nat_config_add_snat, NULL, "needs a value");
	memset(longv, '1', sizeof(longv) - 1);
	longv[sizeof(longv) - 1] = '\0';
	expect_refused(nat_config_add_snat, longv, "too long");
}

static void
test_config_snat_rule_limit(void **state)
{
	struct nat_config c;
	struct mpdp_errbuf eb = { "" };

	(void)state;
	nat_config_init(&c);
	for (int i = 0; i < NAT_SNAT_MAX; i++)
		assert_int_equal(nat_config_add_snat(&c, "10.0.0.0/8=192.0.2.1", &eb), 0);
	assert_int_equal(nat_config_add_snat(&c, "10.0.0.0/8=192.0.2.1", &eb), -EINVAL);
	assert_non_null(strstr(eb.msg, "at most 32 --snat rules"));
}

static void
test_config_dnat_forms_and_refusals(void **state)
{
	static const struct {
		const char *v, *needle;
	} bad[] = {
		{ "", "--dnat needs a value" },
		{ "192.0.2.1:8080", "expected OUTADDR:PORT=INADDR:PORT/PROTO" },
		{ "192.0.2.1:8080=10.0.0.5:80", "expected OUTADDR:PORT" },
		{ "192.0.2.1:8080/tcp=10.0.0.5:80", "expected OUTADDR:PORT" },
		{ "192.0.2.1:8080=10.0.0.5:80/sctp", "protocol 'sctp' is not tcp or udp" },
		{ "192.0.2.1:8080=10.0.0.5:80/", "protocol '' is not tcp or udp" },
		{ "192.0.2.1=10.0.0.5:80/tcp", "outside endpoint '192.0.2.1' is not ADDR:PORT" },
		{ "192.0.2.1:0=10.0.0.5:80/tcp", "outside endpoint '192.0.2.1:0'" },
		{ "192.0.2:80=10.0.0.5:80/tcp", "outside endpoint" },
		{ "192.0.2.1:80=10.0.0.5/tcp", "inside endpoint '10.0.0.5' is not ADDR:PORT" },
		{ "192.0.2.1:80=10.0.0.5:65536/udp", "inside endpoint '10.0.0.5:65536'" },
	};
	struct nat_config c;
	struct mpdp_errbuf eb = { "" };
	char buf[NAT_RULE_STR_MAX];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_refused(nat_config_add_dnat, bad[i].v, bad[i].needle);
	nat_config_init(&c);
	assert_int_equal(nat_config_add_dnat(&c, "192.0.2.1:8080=10.0.0.5:80/tcp", &eb), 0);
	assert_int_equal(c.dnat[0].proto, IPPROTO_TCP);
	assert_int_equal(c.dnat[0].out_port, 8080);
	assert_int_equal(c.dnat[0].in_addr, 0x0a000005u);
	nat_config_dnat_str(&c.dnat[0], buf, sizeof(buf));
	assert_string_equal(buf, "192.0.2.1:8080=10.0.0.5:80/tcp");
	/* Two rules on one outside (or one inside) endpoint: refused by finish. */
	assert_int_equal(nat_config_add_dnat(&c, "192.0.2.1:8080=10.0.0.6:80/tcp", &eb), 0);
	assert_int_equal(nat_config_finish(&c, &eb), -EINVAL);
	assert_non_null(strstr(eb.msg, "map the same outside endpoint"));
	nat_config_init(&c);
	assert_int_equal(nat_config_add_dnat(&c, "192.0.2.1:8080=10.0.0.5:80/udp", &eb), 0);
	assert_int_equal(nat_config_add_dnat(&c, "192.0.2.2:8080=10.0.0.5:80/udp", &eb), 0);
	assert_int_equal(nat_config_finish(&c, &eb), -EINVAL);
	assert_non_null(strstr(eb.msg, "map the same inside endpoint"));
	/* The same endpoints for another protocol are another mapping. */
	nat_config_init(&c);
	assert_int_equal(nat_config_add_dnat(&c, "192.0.2.1:8080=10.0.0.5:80/udp", &eb), 0);
	assert_int_equal(nat_config_add_dnat(&c, "192.0.2.1:8080=10.0.0.5:80/tcp", &eb), 0);
	assert_int_equal(nat_config_finish(&c, &eb), 0);
	assert_int_equal(c.n_addrs, 1);
}

static void
test_config_numbers_refused(void **state)
{
	static const char *const bad_max[] = { "0", "16777217", "abc", "-1", "", " 5", "5 ",
					       "0x10", "99999999999999999999" };
	static const struct {
		const char *v, *needle;
	} bad_to[] = {
		{ "udp", "expected NAME=SECONDS" },
		{ "udp=", "'' is not a number of seconds" },
		{ "udp=0", "from 1 to 2592000" },
		{ "udp=2592001", "'2592001' is not" },
		{ "udp=-4", "'-4' is not" },
		{ "tcp=30", "unknown timeout 'tcp'" },
		{ "=30", "unknown timeout ''" },
	};
	struct nat_config c;
	struct mpdp_errbuf eb = { "" };

	(void)state;
	for (size_t i = 0; i < sizeof(bad_max) / sizeof(bad_max[0]); i++)
		expect_refused(nat_config_set_max_sessions, bad_max[i], "from 1 to 16777216");
	for (size_t i = 0; i < sizeof(bad_to) / sizeof(bad_to[0]); i++)
		expect_refused(nat_config_set_timeout, bad_to[i].v, bad_to[i].needle);
	nat_config_init(&c);
	assert_int_equal(nat_config_set_max_sessions(&c, "16777216", &eb), 0);
	assert_int_equal(c.max_sessions, 16777216);
	assert_int_equal(nat_config_set_timeout(&c, "tcp-established=86400", &eb), 0);
	assert_int_equal(nat_config_set_timeout(&c, "tcp-transitory=1", &eb), 0);
	assert_int_equal(nat_config_set_timeout(&c, "udp=2592000", &eb), 0);
	assert_int_equal(nat_config_set_timeout(&c, "icmp=5", &eb), 0);
	assert_int_equal(c.timeout_s[NAT_TO_TCP_EST], 86400);
	assert_int_equal(c.timeout_s[NAT_TO_TCP_TRANS], 1);
	assert_int_equal(c.timeout_s[NAT_TO_UDP], 2592000);
	assert_int_equal(c.timeout_s[NAT_TO_ICMP], 5);
	{
		uint32_t n;

		assert_int_equal(nat_config_parse_sessions("0", &n, &eb), 0);
		assert_int_equal(n, 0);
		assert_int_equal(nat_config_parse_sessions("100001", &n, &eb), -EINVAL);
		assert_non_null(strstr(eb.msg, "--sessions 100001: expected a number from 0 to 100000"));
	}
}

static void
test_config_finish_derives_the_address_list(void **state)
{
	struct nat_config c;
	struct mpdp_errbuf eb = { "" };
	char v[64];

	(void)state;
	nat_config_init(&c);
	assert_int_equal(nat_config_finish(&c, &eb), -EINVAL);
	assert_non_null(strstr(eb.msg, "no --snat or --dnat rule"));
	/* Overlapping pools and a --dnat address count once each; sorted. */
	assert_int_equal(nat_config_add_snat(&c, "10.1.0.0/16=192.0.2.3-192.0.2.6", &eb), 0);
	assert_int_equal(nat_config_add_snat(&c, "10.0.0.0/8=192.0.2.1-192.0.2.4", &eb), 0);
	assert_int_equal(nat_config_add_dnat(&c, "198.51.100.1:80=10.9.9.9:80/tcp", &eb), 0);
	assert_int_equal(nat_config_add_dnat(&c, "192.0.2.2:80=10.9.9.9:81/tcp", &eb), 0);
	assert_int_equal(nat_config_finish(&c, &eb), 0);
	assert_int_equal(c.n_addrs, 7);
	for (uint32_t i = 0; i < 6; i++)
		assert_int_equal(c.addrs[i], 0xc0000201u + i);
	assert_int_equal(c.addrs[6], 0xc6336401u);
	assert_int_equal(c.snat[0].addr_base, 2);
	assert_int_equal(c.snat[1].addr_base, 0);
	assert_int_equal(nat_config_addr_index(&c, 0xc0000206u), 5);
	assert_int_equal(nat_config_addr_index(&c, 0xc0000207u), -1);
	assert_int_equal(nat_config_addr_index(&c, 0x01020304u), -1);
	/* First matching prefix wins. */
	assert_ptr_equal(nat_config_snat_match(&c, 0x0a010203u), &c.snat[0]);
	assert_ptr_equal(nat_config_snat_match(&c, 0x0a020203u), &c.snat[1]);
	assert_null(nat_config_snat_match(&c, 0x0b000001u));
	assert_true(nat_config_inside_known(&c, 0x0a090909u));
	assert_false(nat_config_inside_known(&c, 0x0b000001u));
	/* More distinct outside addresses than the bitmaps allow. */
	nat_config_init(&c);
	for (int i = 0; i < 5; i++) {
		snprintf(v, sizeof(v), "10.0.0.0/8=100.%d.0.0-100.%d.0.255", i, i);
		assert_int_equal(nat_config_add_snat(&c, v, &eb), 0);
	}
	assert_int_equal(nat_config_finish(&c, &eb), -EINVAL);
	assert_non_null(strstr(eb.msg, "more than 1024 distinct outside addresses"));
}

static void
test_config_from_argv_reads_only_nat_options(void **state)
{
	char *argv[] = { "mpdp-nat", "--stage", "n1", "--snat=10.0.0.0/8=192.0.2.1",
			 "--inside", "r1", "--max-sessions", "100", "--timeout", "udp=30",
			 "--sessions=7", "--", "--snat", "bogus" };
	char *tail[] = { "mpdp-nat", "--dnat" };
	char *bad[] = { "mpdp-nat", "--snat", "10.0.0.0/8=192.0.2.1", "--max-sessions=0" };
	struct nat_config c;
	struct mpdp_errbuf eb = { "" };
	uint32_t sessions;

	(void)state;
	nat_config_init(&c);
	assert_int_equal(nat_config_from_argv(&c, &sessions, 14, argv, &eb), 0);
	assert_int_equal(c.n_snat, 1);
	assert_int_equal(c.max_sessions, 100);
	assert_int_equal(c.timeout_s[NAT_TO_UDP], 30);
	assert_int_equal(sessions, 7);
	nat_config_init(&c);
	assert_int_equal(nat_config_from_argv(&c, &sessions, 2, tail, &eb), -EINVAL);
	assert_string_equal(eb.msg, "--dnat needs a value");
	nat_config_init(&c);
	assert_int_equal(nat_config_from_argv(&c, &sessions, 4, bad, &eb), -EINVAL);
	assert_non_null(strstr(eb.msg, "--max-sessions 0: expected a number from 1 to 16777216"));
}

static void
test_config_same_shape_says_what_differs(void **state)
{
	struct nat_config a, b;
	char why[256];

	(void)state;
	fx_config(&a, (const char *const[]){ "--snat", "10.0.0.0/8=192.0.2.1", "--dnat",
					     "192.0.2.1:80=10.0.0.5:80/tcp", NULL });
	fx_config(&b, (const char *const[]){ "--snat", "10.0.0.0/8=192.0.2.1", "--dnat",
					     "192.0.2.1:80=10.0.0.5:80/tcp", "--timeout", "udp=5",
					     NULL });
	assert_int_equal(nat_config_same_shape(&a, &b, why, sizeof(why)), 1);
	b.max_sessions = 10;
	assert_int_equal(nat_config_same_shape(&a, &b, why, sizeof(why)), 0);
	assert_string_equal(why, "--max-sessions 65536 there, 10 here");
	fx_config(&b, (const char *const[]){ "--snat", "10.0.0.0/8=192.0.2.2", "--dnat",
					     "192.0.2.1:80=10.0.0.5:80/tcp", NULL });
	assert_int_equal(nat_config_same_shape(&a, &b, why, sizeof(why)), 0);
	assert_string_equal(why, "--snat rule 1: 10.0.0.0/8=192.0.2.1:1024-65535 there, "
				 "10.0.0.0/8=192.0.2.2:1024-65535 here");
	fx_config(&b, (const char *const[]){ "--snat", "10.0.0.0/8=192.0.2.1", NULL });
	assert_int_equal(nat_config_same_shape(&a, &b, why, sizeof(why)), 0);
	assert_string_equal(why, "--dnat rule 1: 192.0.2.1:80=10.0.0.5:80/tcp there, none here");
}

/* ------------------------------------------------------------------ table */

static void
test_alloc_keeps_the_inside_port(void **state)
{
	struct fx f;
	uint32_t oa;
	uint16_t op;

	(void)state;
	FX_OPEN(&f, "--snat", "10.0.0.0/8=192.0.2.1-192.0.2.4:1024-65535", "--max-sessions", "1000");
	assert_int_equal(mk(&f, IPPROTO_UDP, "10.0.0.5", 40000, &oa, &op), 0);
	/* 0x0a000005 % 4 = 1: the second address of the pool. */
	assert_int_equal(oa, ip("192.0.2.2"));
	assert_int_equal(op, 40000);
	/* Another protocol has bitmaps of its own: the same port again. */
	assert_int_equal(mk(&f, IPPROTO_TCP, "10.0.0.5", 40000, &oa, &op), 0);
	assert_int_equal(op, 40000);
	assert_int_equal(mk(&f, IPPROTO_ICMP, "10.0.0.5", 40000, &oa, &op), 0);
	assert_int_equal(op, 40000);
	/* The same mapping for the same inside endpoint (EIM). */
	assert_int_equal(mk(&f, IPPROTO_UDP, "10.0.0.5", 40000, &oa, &op), 0);
	assert_int_equal(op, 40000);
	assert_int_equal(ctr(&f, NAT_C_SESSIONS_CREATED), 3);
	assert_int_equal(ctr(&f, NAT_C_SESSIONS_ACTIVE), 3);
	fx_close(&f);
}

static void
test_alloc_takes_the_next_free_port_upward(void **state)
{
	struct fx f;
	uint32_t oa;
	uint16_t op;

	(void)state;
	FX_OPEN(&f, "--snat", "10.0.0.0/8=192.0.2.1:1024-65535", "--max-sessions", "1000");
	assert_int_equal(mk(&f, IPPROTO_UDP, "10.0.0.5", 5000, &oa, &op), 0);
	assert_int_equal(op, 5000);
	assert_int_equal(mk(&f, IPPROTO_UDP, "10.0.0.6", 5000, &oa, &op), 0);
	assert_int_equal(op, 5001);
	assert_int_equal(mk(&f, IPPROTO_UDP, "10.0.0.7", 5001, &oa, &op), 0);
	assert_int_equal(op, 5002);
	assert_int_equal(mk(&f, IPPROTO_UDP, "10.0.0.8", 5000, &oa, &op), 0);
	assert_int_equal(op, 5003);
	/* Seventy hosts wanting TCP 5000: 5000 to 5069, across a bitmap word. */
	for (int i = 0; i < 70; i++) {
		char a[32];

		snprintf(a, sizeof(a), "10.1.0.%d", i);
		assert_int_equal(mk(&f, IPPROTO_TCP, a, 5000, NULL, &op), 0);
		assert_int_equal(op, 5000 + i);
	}
	fx_close(&f);
}

static void
test_alloc_wraps_within_the_range(void **state)
{
	struct fx f;
	char a[32];
	uint16_t op;

	(void)state;
	FX_OPEN(&f, "--snat", "10.0.0.0/8=192.0.2.1:2000-2009", "--max-sessions", "1000");
	assert_int_equal(mk(&f, IPPROTO_UDP, "10.0.0.1", 2008, NULL, &op), 0);
	assert_int_equal(op, 2008);
	assert_int_equal(mk(&f, IPPROTO_UDP, "10.0.0.2", 2009, NULL, &op), 0);
	assert_int_equal(op, 2009);
	/* 2009 is taken and is the top: wrap to the bottom of the range. */
	assert_int_equal(mk(&f, IPPROTO_UDP, "10.0.0.3", 2009, NULL, &op), 0);
	assert_int_equal(op, 2000);
	assert_int_equal(mk(&f, IPPROTO_UDP, "10.0.0.4", 2008, NULL, &op), 0);
	assert_int_equal(op, 2001);
	/* An inside port outside the range starts at the range's low end. */
	assert_int_equal(mk(&f, IPPROTO_UDP, "10.0.0.5", 80, NULL, &op), 0);
	assert_int_equal(op, 2002);
	assert_int_equal(mk(&f, IPPROTO_UDP, "10.0.0.6", 60000, NULL, &op), 0);
	assert_int_equal(op, 2003);
	for (int i = 0; i < 4; i++) {
		snprintf(a, sizeof(a), "10.0.1.%d", i);
		assert_int_equal(mk(&f, IPPROTO_UDP, a, 1, NULL, &op), 0);
		assert_int_equal(op, 2004 + i);
	}
	/* All ten taken: the eleventh is dropped and counted. */
	assert_int_equal(mk(&f, IPPROTO_UDP, "10.0.2.1", 2005, NULL, &op), -EADDRNOTAVAIL);
	assert_int_equal(ctr(&f, NAT_C_DROP_PORTS_EXHAUSTED), 1);
	/* TCP on the same address is another bitmap. */
	assert_int_equal(mk(&f, IPPROTO_TCP, "10.0.2.1", 2005, NULL, &op), 0);
	assert_int_equal(op, 2005);
	fx_close(&f);
}

static void
test_alloc_pairs_each_inside_host_with_one_address(void **state)
{
	struct fx f;
	char a[32];
	uint32_t oa, first;

	(void)state;
	FX_OPEN(&f, "--snat", "10.0.0.0/8=192.0.2.1-192.0.2.3:1024-65535",
		"--snat", "172.16.0.0/12=198.51.100.10-198.51.100.14:1024-2047",
		"--max-sessions", "1000");
	for (int h = 0; h < 30; h++) {
		snprintf(a, sizeof(a), "10.0.0.%d", h);
		assert_int_equal(mk(&f, IPPROTO_UDP, a, 1000, &oa, NULL), 0);
		assert_int_equal(ntohl(oa), 0xc0000201u + (0x0a000000u + (uint32_t)h) % 3);
		/* Every session of one host uses the same address. */
		first = oa;
		assert_int_equal(mk(&f, IPPROTO_TCP, a, 2000, &oa, NULL), 0);
		assert_int_equal(oa, first);
		assert_int_equal(mk(&f, IPPROTO_ICMP, a, 7, &oa, NULL), 0);
		assert_int_equal(oa, first);
	}
	assert_int_equal(mk(&f, IPPROTO_UDP, "172.16.0.9", 3000, &oa, NULL), 0);
	assert_int_equal(ntohl(oa), 0xc633640au + (0xac100009u % 5));
	fx_close(&f);
}

static void
test_alloc_random_never_collides(void **state)
{
	struct fx f;
	static uint8_t seen[4][3][65536];
	uint32_t made = 0, id = MPDP_FLOWTAB_NONE;
	uint64_t rnd = 0x9e3779b97f4a7c15ull;
	uint32_t used = 0;

	(void)state;
	memset(seen, 0, sizeof(seen));
	FX_OPEN(&f, "--snat", "10.0.0.0/8=192.0.2.1-192.0.2.4:20000-29999", "--max-sessions",
		"20000");
	for (int i = 0; i < 12000; i++) {
		uint8_t protos[3] = { IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP };
		char a[32];
		int rc;

		rnd ^= rnd << 13, rnd ^= rnd >> 7, rnd ^= rnd << 17;
		snprintf(a, sizeof(a), "10.%u.%u.%u", (unsigned)(rnd >> 8 & 3), (unsigned)(rnd >> 16 & 255),
			 (unsigned)(rnd >> 24 & 15));
		rc = mk(&f, protos[rnd % 3], a, (uint16_t)(rnd >> 40), NULL, NULL);
		assert_int_equal(rc, 0);
	}
	/* Every outside (proto, address, port) once, in range, on the paired address. */
	while ((id = mpdp_flowtab_next(f.t.ft, id)) != MPDP_FLOWTAB_NONE) {
		const struct nat_sess *s = nat_table_sess(&f.t, id);
		uint32_t oa = ntohl(s->out_addr) - 0xc0000201u;
		uint16_t op = ntohs(s->out_port);
		unsigned p = s->proto == IPPROTO_TCP ? 0 : s->proto == IPPROTO_UDP ? 1 : 2;

		assert_true(oa < 4);
		assert_int_equal(oa, ntohl(s->in_addr) % 4);
		assert_true(op >= 20000 && op <= 29999);
		assert_int_equal(seen[oa][p][op], 0);
		seen[oa][p][op] = 1;
		made++;
	}
	assert_int_equal(made, ctr(&f, NAT_C_SESSIONS_ACTIVE));
	for (unsigned a = 0; a < 4; a++)
		for (unsigned p = 0; p < 3; p++)
			used += nat_table_ports_used(&f.t, a, (enum nat_bm_proto)p);
	assert_int_equal(used, made);
	fx_close(&f);
}

static void
test_static_dnat_ports_are_reserved(void **state)
{
	struct fx f;
	uint16_t op;
	uint32_t id;

	(void)state;
	FX_OPEN(&f, "--snat", "10.0.0.0/8=192.0.2.1:1024-65535",
		"--dnat", "192.0.2.1:8080=10.0.0.5:80/tcp", "--max-sessions", "100");
	assert_int_equal(ctr(&f, NAT_C_SESSIONS_ACTIVE), 1);
	/* The static mapping is found from both sides. */
	id = find(&f, IPPROTO_TCP, "10.0.0.5", 80, NAT_SIDE_INSIDE);
	assert_int_not_equal(id, MPDP_FLOWTAB_NONE);
	assert_int_equal(find(&f, IPPROTO_TCP, "192.0.2.1", 8080, NAT_SIDE_OUTSIDE), id);
	assert_int_equal(nat_table_sess(&f.t, id)->cls, NAT_CLASS_STATIC);
	/* A host wanting 8080 gets 8081; UDP 8080 is free. */
	assert_int_equal(mk(&f, IPPROTO_TCP, "10.0.0.9", 8080, NULL, &op), 0);
	assert_int_equal(op, 8081);
	assert_int_equal(mk(&f, IPPROTO_UDP, "10.0.0.9", 8080, NULL, &op), 0);
	assert_int_equal(op, 8080);
	/* Static mappings never expire. */
	f.now += 400 * 86400 * SEC;
	assert_int_equal(nat_table_expire(&f.t, f.now, 1000), 2);
	assert_int_equal(find(&f, IPPROTO_TCP, "10.0.0.5", 80, NAT_SIDE_INSIDE), id);
	assert_int_equal(ctr(&f, NAT_C_SESSIONS_ACTIVE), 1);
	fx_close(&f);
}

static void
test_expiry_follows_each_protocol(void **state)
{
	struct fx f;

	(void)state;
	FX_OPEN(&f, "--snat", "10.0.0.0/8=192.0.2.1", "--max-sessions", "100");
	assert_int_equal(mk(&f, IPPROTO_UDP, "10.0.0.1", 1111, NULL, NULL), 0);
	assert_int_equal(mk(&f, IPPROTO_ICMP, "10.0.0.1", 1111, NULL, NULL), 0);
	assert_int_equal(mk(&f, IPPROTO_TCP, "10.0.0.1", 1111, NULL, NULL), 0);
	f.now += 60 * SEC;
	assert_int_equal(nat_table_expire(&f.t, f.now, 1000), 0);
	f.now += 1;
	/* ICMP: 60 s. */
	assert_int_equal(nat_table_expire(&f.t, f.now, 1000), 1);
	assert_int_equal(find(&f, IPPROTO_ICMP, "10.0.0.1", 1111, NAT_SIDE_INSIDE), MPDP_FLOWTAB_NONE);
	/* TCP transitory: 240 s; found lazily by a lookup. */
	f.now = T0 + 240 * SEC + 1;
	assert_int_equal(find(&f, IPPROTO_TCP, "10.0.0.1", 1111, NAT_SIDE_INSIDE), MPDP_FLOWTAB_NONE);
	assert_int_equal(ctr(&f, NAT_C_SESSIONS_EXPIRED), 2);
	assert_int_not_equal(find(&f, IPPROTO_UDP, "10.0.0.1", 1111, NAT_SIDE_INSIDE), MPDP_FLOWTAB_NONE);
	/* UDP: 300 s. */
	f.now = T0 + 300 * SEC;
	assert_int_equal(nat_table_expire(&f.t, f.now, 1000), 0);
	f.now++;
	assert_int_equal(nat_table_expire(&f.t, f.now, 1000), 1);
	assert_int_equal(ctr(&f, NAT_C_SESSIONS_ACTIVE), 0);
	assert_int_equal(ctr(&f, NAT_C_SESSIONS_EXPIRED), 3);
	/* Expired ports are free again: the same port comes back. */
	assert_int_equal(nat_table_ports_used(&f.t, 0, NAT_BM_UDP), 0);
	fx_close(&f);
}

static void
test_tcp_established_after_both_ways_then_transitory_on_fin(void **state)
{
	struct fx f;
	struct nat_sess *s;
	uint32_t id;

	(void)state;
	FX_OPEN(&f, "--snat", "10.0.0.0/8=192.0.2.1", "--max-sessions", "100",
		"--timeout", "tcp-established=1000", "--timeout", "tcp-transitory=10");
	assert_int_equal(mk(&f, IPPROTO_TCP, "10.0.0.1", 1111, NULL, NULL), 0);
	id = find(&f, IPPROTO_TCP, "10.0.0.1", 1111, NAT_SIDE_INSIDE);
	s = nat_table_sess(&f.t, id);
	/* No SYN yet: traffic both ways keeps it transitory. */
	nat_table_touch(s, NAT_DIR_OUT, 0x10, f.now);
	nat_table_touch(s, NAT_DIR_IN, 0x10, f.now);
	assert_int_equal(s->cls, NAT_TO_TCP_TRANS);
	nat_table_touch(s, NAT_DIR_OUT, NAT_TH_SYN, f.now);
	assert_int_equal(s->cls, NAT_TO_TCP_TRANS);
	nat_table_touch(s, NAT_DIR_OUT, NAT_TH_SYN, f.now);
	assert_int_equal(s->cls, NAT_TO_TCP_TRANS);
	nat_table_touch(s, NAT_DIR_IN, NAT_TH_SYN | 0x10, f.now);
	assert_int_equal(s->cls, NAT_TO_TCP_EST);
	assert_int_equal(s->pkts_out, 3);
	assert_int_equal(s->pkts_in, 2);
	f.now += 500 * SEC;
	assert_int_equal(nat_table_expire(&f.t, f.now, 1000), 0);
	nat_table_touch(s, NAT_DIR_IN, NAT_TH_FIN | 0x10, f.now);
	assert_int_equal(s->cls, NAT_TO_TCP_TRANS);
	/* ACKs after the FIN do not re-establish it. */
	nat_table_touch(s, NAT_DIR_OUT, 0x10, f.now);
	nat_table_touch(s, NAT_DIR_IN, 0x10, f.now);
	assert_int_equal(s->cls, NAT_TO_TCP_TRANS);
	f.now += 11 * SEC;
	assert_int_equal(nat_table_expire(&f.t, f.now, 1000), 1);
	/* A new connection: SYN, SYN-ACK, then RST. */
	assert_int_equal(mk(&f, IPPROTO_TCP, "10.0.0.1", 1111, NULL, NULL), 0);
	s = nat_table_sess(&f.t, find(&f, IPPROTO_TCP, "10.0.0.1", 1111, NAT_SIDE_INSIDE));
	nat_table_touch(s, NAT_DIR_OUT, NAT_TH_SYN, f.now);
	nat_table_touch(s, NAT_DIR_IN, NAT_TH_SYN | 0x10, f.now);
	assert_int_equal(s->cls, NAT_TO_TCP_EST);
	nat_table_touch(s, NAT_DIR_OUT, NAT_TH_RST, f.now);
	assert_int_equal(s->cls, NAT_TO_TCP_TRANS);
	/* A new SYN reopens it. */
	nat_table_touch(s, NAT_DIR_OUT, NAT_TH_SYN, f.now);
	nat_table_touch(s, NAT_DIR_IN, 0x10, f.now);
	assert_int_equal(s->cls, NAT_TO_TCP_EST);
	fx_close(&f);
}

static void
test_table_full_refuses_new_sessions_only(void **state)
{
	struct fx f;
	char a[32];

	(void)state;
	FX_OPEN(&f, "--snat", "10.0.0.0/8=192.0.2.1", "--dnat", "192.0.2.1:80=10.9.9.9:80/tcp",
		"--max-sessions", "4");
	for (int i = 0; i < 4; i++) {
		snprintf(a, sizeof(a), "10.0.0.%d", i);
		assert_int_equal(mk(&f, IPPROTO_UDP, a, 1000, NULL, NULL), 0);
	}
	assert_int_equal(mk(&f, IPPROTO_UDP, "10.0.0.99", 1000, NULL, NULL), -ENOSPC);
	assert_int_equal(ctr(&f, NAT_C_DROP_TABLE_FULL), 1);
	/* No port was spent on the refused one. */
	assert_int_equal(nat_table_ports_used(&f.t, 0, NAT_BM_UDP), 4);
	/* Existing sessions keep working, the static one too. */
	for (int i = 0; i < 4; i++) {
		snprintf(a, sizeof(a), "10.0.0.%d", i);
		assert_int_not_equal(find(&f, IPPROTO_UDP, a, 1000, NAT_SIDE_INSIDE), MPDP_FLOWTAB_NONE);
	}
	assert_int_not_equal(find(&f, IPPROTO_TCP, "10.9.9.9", 80, NAT_SIDE_INSIDE), MPDP_FLOWTAB_NONE);
	assert_int_equal(ctr(&f, NAT_C_SESSIONS_ACTIVE), 5);
	fx_close(&f);
}

static void
test_restart_on_the_same_zone_keeps_sessions(void **state)
{
	struct fx f;
	struct nat_table t2;
	struct nat_config c2;
	struct mpdp_errbuf eb = { "" };
	uint16_t op;
	uint32_t id;

	(void)state;
	FX_OPEN(&f, "--snat", "10.0.0.0/8=192.0.2.1-192.0.2.2:1024-65535",
		"--dnat", "192.0.2.1:8080=10.0.0.5:80/tcp", "--max-sessions", "100");
	assert_int_equal(mk(&f, IPPROTO_UDP, "10.0.0.2", 5000, NULL, &op), 0);
	assert_int_equal(mk(&f, IPPROTO_UDP, "10.0.0.4", 5000, NULL, &op), 0);
	assert_int_equal(op, 5001);
	assert_int_equal(mk(&f, IPPROTO_TCP, "10.0.0.8", 8080, NULL, &op), 0);
	assert_int_equal(op, 8081);
	/* A damaged bitmap (as a crash between two writes could leave) is rebuilt. */
	memset(f.t.bitmaps, 0xff, 64);
	/* The same configuration, another timeout: taken over. */
	fx_config(&c2, (const char *const[]){ "--snat", "10.0.0.0/8=192.0.2.1-192.0.2.2:1024-65535",
					      "--dnat", "192.0.2.1:8080=10.0.0.5:80/tcp",
					      "--max-sessions", "100", "--timeout", "udp=7", NULL });
	assert_int_equal(nat_table_open(&t2, f.mem, f.len, &c2, "t.nat", &eb), 1);
	f.t = t2;
	assert_int_equal(ctr(&f, NAT_C_SESSIONS_ACTIVE), 4);
	assert_int_equal(atomic_load(&f.t.z->starts), 2);
	assert_int_equal(f.t.cfg->timeout_s[NAT_TO_UDP], 7);
	id = find(&f, IPPROTO_UDP, "10.0.0.4", 5000, NAT_SIDE_INSIDE);
	assert_int_not_equal(id, MPDP_FLOWTAB_NONE);
	assert_int_equal(ntohs(nat_table_sess(&f.t, id)->out_port), 5001);
	/* Allocation goes on from the sessions, not from the damaged bitmap. */
	assert_int_equal(mk(&f, IPPROTO_UDP, "10.0.0.6", 5000, NULL, &op), 0);
	assert_int_equal(op, 5002);
	assert_int_equal(mk(&f, IPPROTO_TCP, "10.0.0.10", 8080, NULL, &op), 0);
	assert_int_equal(op, 8082);
	assert_int_equal(mk(&f, IPPROTO_UDP, "10.0.0.3", 1030, NULL, &op), 0);
	assert_int_equal(op, 1030);
	/* The new timeout applies to the old sessions. */
	f.now += 8 * SEC;
	assert_int_equal(nat_table_expire(&f.t, f.now, 1000), 4);
	/* Another configuration is refused, saying what differs. */
	fx_config(&c2, (const char *const[]){ "--snat", "10.0.0.0/8=192.0.2.1-192.0.2.2:1024-65535",
					      "--dnat", "192.0.2.1:8080=10.0.0.5:80/tcp", NULL });
	assert_int_equal(nat_table_open(&t2, f.mem, f.len, &c2, "t.nat", &eb), -EEXIST);
	assert_non_null(strstr(eb.msg, "zone 't.nat' holds the sessions of another configuration "
				       "(--max-sessions 100 there, 65536 here)"));
	fx_config(&c2, (const char *const[]){ "--snat", "10.0.0.0/8=192.0.2.1-192.0.2.2:1024-65535",
					      "--max-sessions", "100", NULL });
	assert_int_equal(nat_table_check(f.mem, f.len, &c2, "t.nat", &eb), -EEXIST);
	assert_non_null(strstr(eb.msg, "--dnat rule 1: 192.0.2.1:8080=10.0.0.5:80/tcp there, none here"));
	/* Not a NAT zone; a short one; a blank one. */
	((struct nat_zone *)f.mem)->version = 99;
	assert_int_equal(nat_table_check(f.mem, f.len, NULL, "t.nat", &eb), -EPROTO);
	assert_non_null(strstr(eb.msg, "layout version 99"));
	assert_int_equal(nat_table_check(f.mem, 16, NULL, "t.nat", &eb), -EPROTO);
	atomic_store(&((struct nat_zone *)f.mem)->magic, 0x12345678u);
	assert_int_equal(nat_table_view(&t2, f.mem, f.len, "t.nat", &eb), -EPROTO);
	assert_non_null(strstr(eb.msg, "bad magic"));
	atomic_store(&((struct nat_zone *)f.mem)->magic, 0);
	assert_int_equal(nat_table_check(f.mem, f.len, NULL, "t.nat", &eb), 1);
	fx_close(&f);
}

static void
test_blank_zone_with_a_stale_table_starts_over(void **state)
{
	struct fx f;
	struct nat_table t2;
	struct mpdp_errbuf eb = { "" };

	(void)state;
	FX_OPEN(&f, "--snat", "10.0.0.0/8=192.0.2.1", "--dnat", "192.0.2.1:80=10.0.0.5:80/tcp",
		"--max-sessions", "10");
	assert_int_equal(mk(&f, IPPROTO_UDP, "10.0.0.2", 5000, NULL, NULL), 0);
	/* Its maker died before magic: a new process makes it again. */
	atomic_store(&f.t.z->magic, 0);
	assert_int_equal(nat_table_open(&t2, f.mem, f.len, &f.c, "t.nat", &eb), 0);
	f.t = t2;
	assert_int_equal(ctr(&f, NAT_C_SESSIONS_ACTIVE), 1);
	assert_int_equal(find(&f, IPPROTO_UDP, "10.0.0.2", 5000, NAT_SIDE_INSIDE), MPDP_FLOWTAB_NONE);
	assert_int_not_equal(find(&f, IPPROTO_TCP, "10.0.0.5", 80, NAT_SIDE_INSIDE), MPDP_FLOWTAB_NONE);
	assert_int_equal(nat_table_view(&t2, f.mem, f.len, "t.nat", &eb), 0);
	fx_close(&f);
}

/* ------------------------------------------------------------ translation */

static const char *const CGN[] = {
	"--snat", "10.0.0.0/8=192.0.2.1-192.0.2.4:1024-65535",
	"--dnat", "192.0.2.1:8080=10.0.0.5:80/tcp",
	"--dnat", "192.0.2.1:5353=10.0.0.5:53/udp",
	"--max-sessions", "1000", NULL
};

static void
test_tcp_out_and_back(void **state)
{
	uint8_t fr[FRAME_MAX];
	struct fx f;
	size_t n;

	(void)state;
	fx_open_argv(&f, CGN);
	n = build(fr, &(struct spec){ .proto = IPPROTO_TCP, .src = "10.0.0.6", .dst = "203.0.113.9",
				      .sport = 40000, .dport = 443, .flags = NAT_TH_SYN, .payload = 33 });
	assert_int_equal(out(&f, fr, n), NAT_NEXT_OUTSIDE);
	/* 0x0a000006 % 4 = 2 */
	assert_addr(iphdr(fr) + 12, "192.0.2.3");
	assert_addr(iphdr(fr) + 16, "203.0.113.9");
	assert_int_equal(mpdp_get_be16(l4hdr(fr)), 40000);
	assert_int_equal(mpdp_get_be16(l4hdr(fr) + 2), 443);
	verify(fr, n, 0);
	n = build(fr, &(struct spec){ .proto = IPPROTO_TCP, .src = "203.0.113.9", .dst = "192.0.2.3",
				      .sport = 443, .dport = 40000, .flags = NAT_TH_SYN | 0x10,
				      .payload = 7 });
	assert_int_equal(in(&f, fr, n), NAT_NEXT_INSIDE);
	assert_addr(iphdr(fr) + 16, "10.0.0.6");
	assert_int_equal(mpdp_get_be16(l4hdr(fr) + 2), 40000);
	verify(fr, n, 0);
	assert_int_equal(ctr(&f, NAT_C_XLATE_OUT), 1);
	assert_int_equal(ctr(&f, NAT_C_XLATE_IN), 1);
	/* Endpoint-independent filtering: any source reaches the mapping. */
	n = build(fr, &(struct spec){ .proto = IPPROTO_TCP, .src = "198.51.100.77", .dst = "192.0.2.3",
				      .sport = 9999, .dport = 40000, .flags = 0x10 });
	assert_int_equal(in(&f, fr, n), NAT_NEXT_INSIDE);
	verify(fr, n, 0);
	assert_int_equal(nat_table_sess(&f.t, find(&f, IPPROTO_TCP, "10.0.0.6", 40000,
						   NAT_SIDE_INSIDE))->cls, NAT_TO_TCP_EST);
	/* A port nobody mapped is dropped. */
	n = build(fr, &(struct spec){ .proto = IPPROTO_TCP, .src = "203.0.113.9", .dst = "192.0.2.3",
				      .sport = 443, .dport = 40001, .flags = 0x10 });
	assert_int_equal(in(&f, fr, n), NAT_NEXT_DROP);
	assert_int_equal(ctr(&f, NAT_C_DROP_NO_MAPPING), 1);
	fx_close(&f);
}

static void
test_udp_out_and_back_with_and_without_checksum(void **state)
{
	uint8_t fr[FRAME_MAX];
	struct fx f;
	size_t n;

	(void)state;
	fx_open_argv(&f, CGN);
	n = build(fr, &(struct spec){ .proto = IPPROTO_UDP, .src = "10.0.0.7", .dst = "8.8.8.8",
				      .sport = 5353, .dport = 53, .payload = 41 });
	assert_int_equal(out(&f, fr, n), NAT_NEXT_OUTSIDE);
	assert_addr(iphdr(fr) + 12, "192.0.2.4");
	assert_int_equal(mpdp_get_be16(l4hdr(fr)), 5353);
	assert_int_not_equal(mpdp_get_be16(l4hdr(fr) + 6), 0);
	verify(fr, n, 0);
	/* Without a checksum: 0 stays 0. */
	n = build(fr, &(struct spec){ .proto = IPPROTO_UDP, .src = "8.8.8.8", .dst = "192.0.2.4",
				      .sport = 53, .dport = 5353, .payload = 20, .udp_zero = 1 });
	assert_int_equal(in(&f, fr, n), NAT_NEXT_INSIDE);
	assert_addr(iphdr(fr) + 16, "10.0.0.7");
	assert_int_equal(mpdp_get_be16(l4hdr(fr) + 6), 0);
	verify(fr, n, 1);
	fx_close(&f);
}

static void
test_udp_checksum_that_becomes_zero_is_sent_as_ffff(void **state)
{
	uint8_t fr[FRAME_MAX];
	int hit = 0;

	(void)state;
	/* Find a payload whose translated datagram sums to zero: its checksum
	 * must then be 0xffff, never 0 (which means "none"). */
	for (uint32_t w = 0; w < 65536 && !hit; w++) {
		struct mpdp_pkt_info info;
		struct nat_pkt p;
		size_t n = build(fr, &(struct spec){ .proto = IPPROTO_UDP, .src = "10.0.0.7",
						     .dst = "8.8.8.8", .sport = 1000, .dport = 53,
						     .payload = 4, .pay_word = (uint16_t)w });
		uint8_t *l4 = l4hdr(fr);

		assert_int_equal(mpdp_pkt_parse(fr, (uint32_t)n, &info), 0);
		assert_int_equal(nat_xlate_classify(fr, (uint32_t)n, &info, &p), NAT_CLASS_OK);
		nat_xlate_src(fr, &p, ip("192.0.2.200"), htons(2000));
		verify(fr, n, 0);
		if (full_cks(l4, 12, 6, pseudo_sum(iphdr(fr), IPPROTO_UDP, 12)) == 0) {
			assert_int_equal(mpdp_get_be16(l4 + 6), 0xffff);
			hit = 1;
		}
	}
	assert_true(hit);
}

static void
test_icmp_echo_out_and_back(void **state)
{
	uint8_t fr[FRAME_MAX];
	struct fx f;
	size_t n;

	(void)state;
	FX_OPEN(&f, "--snat", "10.0.0.0/8=192.0.2.1:1024-65535", "--max-sessions", "100");
	/* Identifier 7 is below the range: the first free one of the range. */
	n = build(fr, &(struct spec){ .proto = IPPROTO_ICMP, .type = 8, .src = "10.0.0.6",
				      .dst = "1.1.1.1", .sport = 7, .payload = 56 });
	assert_int_equal(out(&f, fr, n), NAT_NEXT_OUTSIDE);
	assert_addr(iphdr(fr) + 12, "192.0.2.1");
	assert_int_equal(mpdp_get_be16(l4hdr(fr) + 4), 1024);
	verify(fr, n, 0);
	n = build(fr, &(struct spec){ .proto = IPPROTO_ICMP, .type = 0, .src = "1.1.1.1",
				      .dst = "192.0.2.1", .sport = 1024, .payload = 56 });
	assert_int_equal(in(&f, fr, n), NAT_NEXT_INSIDE);
	assert_addr(iphdr(fr) + 16, "10.0.0.6");
	assert_int_equal(mpdp_get_be16(l4hdr(fr) + 4), 7);
	verify(fr, n, 0);
	/* Another host with the same identifier gets the next one. */
	n = build(fr, &(struct spec){ .proto = IPPROTO_ICMP, .type = 8, .src = "10.0.0.9",
				      .dst = "1.1.1.1", .sport = 7, .payload = 56 });
	assert_int_equal(out(&f, fr, n), NAT_NEXT_OUTSIDE);
	assert_int_equal(mpdp_get_be16(l4hdr(fr) + 4), 1025);
	verify(fr, n, 0);
	/* Query sessions open from the inside: no echo request in, no echo reply out. */
	n = build(fr, &(struct spec){ .proto = IPPROTO_ICMP, .type = 8, .src = "1.1.1.1",
				      .dst = "192.0.2.1", .sport = 1024 });
	assert_int_equal(in(&f, fr, n), NAT_NEXT_DROP);
	n = build(fr, &(struct spec){ .proto = IPPROTO_ICMP, .type = 0, .src = "10.0.0.6",
				      .dst = "1.1.1.1", .sport = 7 });
	assert_int_equal(out(&f, fr, n), NAT_NEXT_DROP);
	assert_int_equal(ctr(&f, NAT_C_DROP_ICMP_TYPE), 2);
	assert_int_equal(ctr(&f, NAT_C_SESSIONS_CREATED), 2);
	fx_close(&f);
}

/* The IP packet (no Ethernet header) of a frame built by build(). */
static size_t
ip_packet(uint8_t *dst, const struct spec *s)
{
	uint8_t fr[FRAME_MAX];
	size_t n = build(fr, s);

	memcpy(dst, fr + ETH, n - ETH);
	return n - ETH;
}

static void
test_icmp_error_inbound_translates_the_quote(void **state)
{
	uint8_t fr[FRAME_MAX], q[FRAME_MAX];
	struct fx f;
	size_t n, qn;
	uint8_t *qh;

	(void)state;
	fx_open_argv(&f, CGN);
	n = build(fr, &(struct spec){ .proto = IPPROTO_UDP, .src = "10.0.0.6", .dst = "203.0.113.9",
				      .sport = 33434, .dport = 33434, .payload = 12 });
	assert_int_equal(out(&f, fr, n), NAT_NEXT_OUTSIDE);
	/* A router on the way says TTL exceeded, quoting what we sent (whole). */
	memcpy(q, fr + ETH, n - ETH);
	qn = n - ETH;
	n = build(fr, &(struct spec){ .proto = IPPROTO_ICMP, .type = 11, .src = "198.51.100.1",
				      .dst = "192.0.2.3", .quote = q, .quote_len = (uint16_t)qn });
	assert_int_equal(in(&f, fr, n), NAT_NEXT_INSIDE);
	assert_addr(iphdr(fr) + 12, "198.51.100.1");
	assert_addr(iphdr(fr) + 16, "10.0.0.6");
	qh = l4hdr(fr) + 8;
	assert_addr(qh + 12, "10.0.0.6");
	assert_addr(qh + 16, "203.0.113.9");
	assert_int_equal(mpdp_get_be16(qh + 20), 33434);
	verify(fr, n, 0);
	/* The same about a TCP segment, quoted in 28 bytes (RFC 792): no TCP checksum there. */
	n = build(fr, &(struct spec){ .proto = IPPROTO_TCP, .src = "10.0.0.6", .dst = "203.0.113.9",
				      .sport = 41000, .dport = 80, .flags = NAT_TH_SYN });
	assert_int_equal(out(&f, fr, n), NAT_NEXT_OUTSIDE);
	memcpy(q, fr + ETH, 28);
	n = build(fr, &(struct spec){ .proto = IPPROTO_ICMP, .type = 3, .code = 1,
				      .src = "198.51.100.1", .dst = "192.0.2.3", .quote = q,
				      .quote_len = 28 });
	assert_int_equal(in(&f, fr, n), NAT_NEXT_INSIDE);
	qh = l4hdr(fr) + 8;
	assert_addr(qh + 12, "10.0.0.6");
	assert_int_equal(mpdp_get_be16(qh + 20), 41000);
	assert_int_equal(mpdp_get_be16(l4hdr(fr) + 2), full_cks(l4hdr(fr), 36, 2, 0));
	assert_int_equal(mpdp_get_be16(qh + 10), full_cks(qh, 20, 10, 0));
	assert_int_equal(mpdp_get_be16(iphdr(fr) + 10), full_cks(iphdr(fr), 20, 10, 0));
	/* About a ping of ours. */
	n = build(fr, &(struct spec){ .proto = IPPROTO_ICMP, .type = 8, .src = "10.0.0.6",
				      .dst = "203.0.113.9", .sport = 3000, .payload = 8 });
	assert_int_equal(out(&f, fr, n), NAT_NEXT_OUTSIDE);
	memcpy(q, fr + ETH, n - ETH);
	qn = n - ETH;
	n = build(fr, &(struct spec){ .proto = IPPROTO_ICMP, .type = 3, .code = 0,
				      .src = "198.51.100.1", .dst = "192.0.2.3", .quote = q,
				      .quote_len = (uint16_t)qn });
	assert_int_equal(in(&f, fr, n), NAT_NEXT_INSIDE);
	qh = l4hdr(fr) + 8;
	assert_addr(qh + 12, "10.0.0.6");
	assert_int_equal(mpdp_get_be16(qh + 24), 3000);
	verify(fr, n, 0);
	/* ICMP errors refresh nothing; about an unmapped packet: dropped. */
	qn = ip_packet(q, &(struct spec){ .proto = IPPROTO_UDP, .src = "192.0.2.3",
					  .dst = "203.0.113.9", .sport = 999, .dport = 53 });
	n = build(fr, &(struct spec){ .proto = IPPROTO_ICMP, .type = 3, .src = "203.0.113.9",
				      .dst = "192.0.2.3", .quote = q, .quote_len = (uint16_t)qn });
	assert_int_equal(in(&f, fr, n), NAT_NEXT_DROP);
	assert_int_equal(ctr(&f, NAT_C_DROP_ICMP_NO_MAPPING), 1);
	assert_int_equal(ctr(&f, NAT_C_XLATE_IN), 3);
	fx_close(&f);
}

static void
test_icmp_error_outbound_translates_the_quote(void **state)
{
	uint8_t fr[FRAME_MAX], q[FRAME_MAX];
	struct fx f;
	size_t n, qn;
	uint8_t *qh;

	(void)state;
	fx_open_argv(&f, CGN);
	/* An inbound datagram reaches 10.0.0.5:53 through the static mapping... */
	n = build(fr, &(struct spec){ .proto = IPPROTO_UDP, .src = "203.0.113.9", .dst = "192.0.2.1",
				      .sport = 6000, .dport = 5353, .payload = 10 });
	assert_int_equal(in(&f, fr, n), NAT_NEXT_INSIDE);
	assert_addr(iphdr(fr) + 16, "10.0.0.5");
	assert_int_equal(mpdp_get_be16(l4hdr(fr) + 2), 53);
	verify(fr, n, 0);
	/* ...and the host answers port unreachable, quoting it whole. */
	memcpy(q, fr + ETH, n - ETH);
	qn = n - ETH;
	n = build(fr, &(struct spec){ .proto = IPPROTO_ICMP, .type = 3, .code = 3, .src = "10.0.0.5",
				      .dst = "203.0.113.9", .quote = q, .quote_len = (uint16_t)qn });
	assert_int_equal(out(&f, fr, n), NAT_NEXT_OUTSIDE);
	assert_addr(iphdr(fr) + 12, "192.0.2.1");
	assert_addr(iphdr(fr) + 16, "203.0.113.9");
	qh = l4hdr(fr) + 8;
	assert_addr(qh + 12, "203.0.113.9");
	assert_addr(qh + 16, "192.0.2.1");
	assert_int_equal(mpdp_get_be16(qh + 22), 5353);
	verify(fr, n, 0);
	/* An error about a packet nobody mapped, from a translated host: dropped. */
	qn = ip_packet(q, &(struct spec){ .proto = IPPROTO_UDP, .src = "203.0.113.9",
					  .dst = "10.0.0.77", .sport = 1, .dport = 2 });
	n = build(fr, &(struct spec){ .proto = IPPROTO_ICMP, .type = 3, .code = 3, .src = "10.0.0.77",
				      .dst = "203.0.113.9", .quote = q, .quote_len = (uint16_t)qn });
	assert_int_equal(out(&f, fr, n), NAT_NEXT_DROP);
	assert_int_equal(ctr(&f, NAT_C_DROP_ICMP_NO_MAPPING), 1);
	/* From a host no rule translates: passed as it is. */
	n = build(fr, &(struct spec){ .proto = IPPROTO_ICMP, .type = 3, .code = 3, .src = "11.0.0.1",
				      .dst = "203.0.113.9", .quote = q, .quote_len = (uint16_t)qn });
	assert_int_equal(out(&f, fr, n), NAT_NEXT_OUTSIDE);
	assert_addr(iphdr(fr) + 12, "11.0.0.1");
	assert_int_equal(ctr(&f, NAT_C_PASS_NO_RULE), 1);
	/* Quotes that cannot be read: too short, not IPv4, an error about an error, a fragment. */
	{
		uint8_t bad[4][40];
		uint16_t blen[4] = { 12, 28, 28, 28 };

		memcpy(bad[0], q, 12);
		memcpy(bad[1], q, 28);
		bad[1][0] = 0x65;
		qn = ip_packet(bad[2], &(struct spec){ .proto = IPPROTO_ICMP, .type = 3, .src = "1.1.1.1",
						       .dst = "10.0.0.5", .quote = q, .quote_len = 8 });
		memcpy(bad[3], q, 28);
		mpdp_put_be16(bad[3] + 6, 0x0010);
		for (int i = 0; i < 4; i++) {
			n = build(fr, &(struct spec){ .proto = IPPROTO_ICMP, .type = 3, .src = "10.0.0.5",
						      .dst = "203.0.113.9", .quote = bad[i],
						      .quote_len = blen[i] });
			assert_int_equal(out(&f, fr, n), NAT_NEXT_DROP);
		}
		assert_int_equal(ctr(&f, NAT_C_DROP_ICMP_EMBEDDED), 4);
	}
	fx_close(&f);
}

static void
test_hairpin_translates_both_ways_and_stays_inside(void **state)
{
	uint8_t fr[FRAME_MAX];
	struct fx f;
	size_t n;

	(void)state;
	fx_open_argv(&f, CGN);
	/* B (10.0.0.7) has a mapping: 192.0.2.4:6000. */
	n = build(fr, &(struct spec){ .proto = IPPROTO_UDP, .src = "10.0.0.7", .dst = "203.0.113.9",
				      .sport = 6000, .dport = 3478 });
	assert_int_equal(out(&f, fr, n), NAT_NEXT_OUTSIDE);
	/* A (10.0.0.6) sends to it: both sides translated, back inside. */
	n = build(fr, &(struct spec){ .proto = IPPROTO_UDP, .src = "10.0.0.6", .dst = "192.0.2.4",
				      .sport = 7000, .dport = 6000, .payload = 30 });
	assert_int_equal(out(&f, fr, n), NAT_NEXT_INSIDE);
	assert_addr(iphdr(fr) + 12, "192.0.2.3");
	assert_int_equal(mpdp_get_be16(l4hdr(fr)), 7000);
	assert_addr(iphdr(fr) + 16, "10.0.0.7");
	assert_int_equal(mpdp_get_be16(l4hdr(fr) + 2), 6000);
	verify(fr, n, 0);
	/* B answers A's outside endpoint: hairpinned again. */
	n = build(fr, &(struct spec){ .proto = IPPROTO_UDP, .src = "10.0.0.7", .dst = "192.0.2.3",
				      .sport = 6000, .dport = 7000, .payload = 30 });
	assert_int_equal(out(&f, fr, n), NAT_NEXT_INSIDE);
	assert_addr(iphdr(fr) + 12, "192.0.2.4");
	assert_addr(iphdr(fr) + 16, "10.0.0.6");
	assert_int_equal(mpdp_get_be16(l4hdr(fr) + 2), 7000);
	verify(fr, n, 0);
	assert_int_equal(ctr(&f, NAT_C_XLATE_HAIRPIN), 2);
	/* To one of our addresses on a port nobody has: out, as to anywhere. */
	n = build(fr, &(struct spec){ .proto = IPPROTO_UDP, .src = "10.0.0.6", .dst = "192.0.2.4",
				      .sport = 7000, .dport = 6001 });
	assert_int_equal(out(&f, fr, n), NAT_NEXT_OUTSIDE);
	assert_addr(iphdr(fr) + 12, "192.0.2.3");
	assert_addr(iphdr(fr) + 16, "192.0.2.4");
	verify(fr, n, 0);
	/* A ping to B's address goes out too: echo requests are not translated inbound. */
	n = build(fr, &(struct spec){ .proto = IPPROTO_ICMP, .type = 8, .src = "10.0.0.6",
				      .dst = "192.0.2.4", .sport = 6000 });
	assert_int_equal(out(&f, fr, n), NAT_NEXT_OUTSIDE);
	assert_int_equal(ctr(&f, NAT_C_XLATE_OUT), 3);
	/* An inside client reaches the DNAT server through the outside address. */
	n = build(fr, &(struct spec){ .proto = IPPROTO_TCP, .src = "10.0.0.6", .dst = "192.0.2.1",
				      .sport = 50000, .dport = 8080, .flags = NAT_TH_SYN });
	assert_int_equal(out(&f, fr, n), NAT_NEXT_INSIDE);
	assert_addr(iphdr(fr) + 12, "192.0.2.3");
	assert_addr(iphdr(fr) + 16, "10.0.0.5");
	assert_int_equal(mpdp_get_be16(l4hdr(fr) + 2), 80);
	verify(fr, n, 0);
	n = build(fr, &(struct spec){ .proto = IPPROTO_TCP, .src = "10.0.0.5", .dst = "192.0.2.3",
				      .sport = 80, .dport = 50000, .flags = NAT_TH_SYN | 0x10 });
	assert_int_equal(out(&f, fr, n), NAT_NEXT_INSIDE);
	assert_addr(iphdr(fr) + 12, "192.0.2.1");
	assert_int_equal(mpdp_get_be16(l4hdr(fr)), 8080);
	assert_addr(iphdr(fr) + 16, "10.0.0.6");
	assert_int_equal(mpdp_get_be16(l4hdr(fr) + 2), 50000);
	verify(fr, n, 0);
	fx_close(&f);
}

static void
test_dnat_in_and_reply_and_outbound_from_the_server(void **state)
{
	uint8_t fr[FRAME_MAX];
	struct fx f;
	size_t n;

	(void)state;
	fx_open_argv(&f, CGN);
	n = build(fr, &(struct spec){ .proto = IPPROTO_TCP, .src = "203.0.113.9", .dst = "192.0.2.1",
				      .sport = 55555, .dport = 8080, .flags = NAT_TH_SYN, .payload = 3 });
	assert_int_equal(in(&f, fr, n), NAT_NEXT_INSIDE);
	assert_addr(iphdr(fr) + 16, "10.0.0.5");
	assert_int_equal(mpdp_get_be16(l4hdr(fr) + 2), 80);
	verify(fr, n, 0);
	n = build(fr, &(struct spec){ .proto = IPPROTO_TCP, .src = "10.0.0.5", .dst = "203.0.113.9",
				      .sport = 80, .dport = 55555, .flags = NAT_TH_SYN | 0x10 });
	assert_int_equal(out(&f, fr, n), NAT_NEXT_OUTSIDE);
	assert_addr(iphdr(fr) + 12, "192.0.2.1");
	assert_int_equal(mpdp_get_be16(l4hdr(fr)), 8080);
	verify(fr, n, 0);
	/* The static mapping serves the server's own outbound traffic to anyone. */
	n = build(fr, &(struct spec){ .proto = IPPROTO_TCP, .src = "10.0.0.5", .dst = "198.51.100.3",
				      .sport = 80, .dport = 1234, .flags = 0x10 });
	assert_int_equal(out(&f, fr, n), NAT_NEXT_OUTSIDE);
	assert_addr(iphdr(fr) + 12, "192.0.2.1");
	assert_int_equal(mpdp_get_be16(l4hdr(fr)), 8080);
	/* Its other ports go through the --snat rule: paired address 0x0a000005 % 4 = 1. */
	n = build(fr, &(struct spec){ .proto = IPPROTO_TCP, .src = "10.0.0.5", .dst = "198.51.100.3",
				      .sport = 81, .dport = 1234, .flags = NAT_TH_SYN });
	assert_int_equal(out(&f, fr, n), NAT_NEXT_OUTSIDE);
	assert_addr(iphdr(fr) + 12, "192.0.2.2");
	assert_int_equal(mpdp_get_be16(l4hdr(fr)), 1024);
	/* Static mapping: still there long after. */
	f.now += 30 * 86400 * SEC;
	nat_table_expire(&f.t, f.now, 100000);
	n = build(fr, &(struct spec){ .proto = IPPROTO_UDP, .src = "203.0.113.9", .dst = "192.0.2.1",
				      .sport = 1, .dport = 5353 });
	assert_int_equal(in(&f, fr, n), NAT_NEXT_INSIDE);
	assert_addr(iphdr(fr) + 16, "10.0.0.5");
	fx_close(&f);
}

static void
test_ip_options_and_vlan_are_translated(void **state)
{
	uint8_t fr[FRAME_MAX];
	struct fx f;
	size_t n;

	(void)state;
	fx_open_argv(&f, CGN);
	n = build(fr, &(struct spec){ .proto = IPPROTO_TCP, .src = "10.0.0.6", .dst = "203.0.113.9",
				      .sport = 40000, .dport = 443, .flags = NAT_TH_SYN,
				      .opt_words = 3, .payload = 5 });
	assert_int_equal(out(&f, fr, n), NAT_NEXT_OUTSIDE);
	assert_addr(iphdr(fr) + 12, "192.0.2.3");
	assert_int_equal(mpdp_get_be16(iphdr(fr) + 32), 40000);
	verify(fr, n, 0);
	n = build(fr, &(struct spec){ .proto = IPPROTO_UDP, .src = "203.0.113.9", .dst = "192.0.2.1",
				      .sport = 7, .dport = 5353, .vlan = 1, .opt_words = 1,
				      .payload = 9 });
	assert_int_equal(in(&f, fr, n), NAT_NEXT_INSIDE);
	assert_int_equal(mpdp_get_be16(fr + 12), 0x8100);
	assert_addr(iphdr(fr) + 16, "10.0.0.5");
	verify(fr, n, 0);
	fx_close(&f);
}

static void
test_untranslated_traffic_passes_to_the_other_side(void **state)
{
	uint8_t fr[FRAME_MAX], copy[FRAME_MAX];
	struct fx f;
	size_t n;

	(void)state;
	fx_open_argv(&f, CGN);
	/* IPv6 both ways. */
	memset(fr, 0, 80);
	mpdp_put_be16(fr + 12, 0x86dd);
	fr[14] = 0x60;
	fr[20] = 17;
	fr[21] = 64;
	mpdp_put_be16(fr + 18, 8);
	memcpy(copy, fr, 62);
	assert_int_equal(out(&f, fr, 62), NAT_NEXT_OUTSIDE);
	assert_int_equal(in(&f, fr, 62), NAT_NEXT_INSIDE);
	assert_memory_equal(fr, copy, 62);
	assert_int_equal(ctr(&f, NAT_C_PASS_IPV6), 2);
	/* ARP, and a runt. */
	memset(fr, 0, 60);
	mpdp_put_be16(fr + 12, 0x0806);
	assert_int_equal(out(&f, fr, 42), NAT_NEXT_OUTSIDE);
	assert_int_equal(in(&f, fr, 42), NAT_NEXT_INSIDE);
	assert_int_equal(out(&f, fr, 3), NAT_NEXT_OUTSIDE);
	assert_int_equal(ctr(&f, NAT_C_PASS_NON_IP), 3);
	/* A source outside every --snat prefix, whatever its protocol... */
	n = build(fr, &(struct spec){ .proto = IPPROTO_UDP, .src = "11.1.1.1", .dst = "203.0.113.9",
				      .sport = 1, .dport = 2 });
	memcpy(copy, fr, n);
	assert_int_equal(out(&f, fr, n), NAT_NEXT_OUTSIDE);
	assert_memory_equal(fr, copy, n);
	n = build(fr, &(struct spec){ .proto = 47, .src = "11.1.1.1", .dst = "203.0.113.9" });
	assert_int_equal(out(&f, fr, n), NAT_NEXT_OUTSIDE);
	n = build(fr, &(struct spec){ .proto = IPPROTO_ICMP, .type = 0, .src = "11.1.1.1",
				      .dst = "203.0.113.9", .sport = 5 });
	assert_int_equal(out(&f, fr, n), NAT_NEXT_OUTSIDE);
	assert_int_equal(ctr(&f, NAT_C_PASS_NO_RULE), 3);
	/* ...but its fragments are dropped like anyone's. */
	n = build(fr, &(struct spec){ .proto = 47, .src = "11.1.1.1", .dst = "203.0.113.9",
				      .frag = 0x2000 });
	assert_int_equal(out(&f, fr, n), NAT_NEXT_DROP);
	assert_int_equal(ctr(&f, NAT_C_DROP_FRAGMENT), 1);
	assert_int_equal(ctr(&f, NAT_C_SESSIONS_CREATED), 0);
	fx_close(&f);
}

static void
test_drops_are_counted_by_reason(void **state)
{
	uint8_t fr[FRAME_MAX];
	struct fx f;
	size_t n;

	(void)state;
	fx_open_argv(&f, CGN);
	/* Fragments (first and later) both ways. */
	n = build(fr, &(struct spec){ .proto = IPPROTO_UDP, .src = "10.0.0.6", .dst = "203.0.113.9",
				      .sport = 1, .dport = 2, .frag = 0x2000, .payload = 16 });
	assert_int_equal(out(&f, fr, n), NAT_NEXT_DROP);
	n = build(fr, &(struct spec){ .proto = IPPROTO_UDP, .src = "203.0.113.9", .dst = "192.0.2.1",
				      .sport = 1, .dport = 5353, .frag = 0x0003 });
	assert_int_equal(in(&f, fr, n), NAT_NEXT_DROP);
	assert_int_equal(ctr(&f, NAT_C_DROP_FRAGMENT), 2);
	/* Truncated: IP header cut, TCP header cut, total length past the frame. */
	n = build(fr, &(struct spec){ .proto = IPPROTO_TCP, .src = "10.0.0.6", .dst = "203.0.113.9",
				      .sport = 1, .dport = 2 });
	assert_int_equal(out(&f, fr, ETH + 12), NAT_NEXT_DROP);
	assert_int_equal(out(&f, fr, ETH + 30), NAT_NEXT_DROP);
	assert_int_equal(out(&f, fr, n - 1), NAT_NEXT_DROP);
	assert_int_equal(ctr(&f, NAT_C_DROP_TRUNCATED), 3);
	/* Malformed: IHL 4, TCP offset 4, total length shorter than the header. */
	fr[ETH] = 0x44;
	assert_int_equal(out(&f, fr, n), NAT_NEXT_DROP);
	n = build(fr, &(struct spec){ .proto = IPPROTO_TCP, .src = "10.0.0.6", .dst = "203.0.113.9",
				      .sport = 1, .dport = 2 });
	l4hdr(fr)[12] = 0x40;
	assert_int_equal(out(&f, fr, n), NAT_NEXT_DROP);
	n = build(fr, &(struct spec){ .proto = IPPROTO_TCP, .src = "10.0.0.6", .dst = "203.0.113.9",
				      .sport = 1, .dport = 2 });
	mpdp_put_be16(iphdr(fr) + 2, 19);
	assert_int_equal(in(&f, fr, n), NAT_NEXT_DROP);
	assert_int_equal(ctr(&f, NAT_C_DROP_MALFORMED), 3);
	/* Other protocols; ICMP types that are neither echo nor a translated error. */
	n = build(fr, &(struct spec){ .proto = 47, .src = "10.0.0.6", .dst = "203.0.113.9" });
	assert_int_equal(out(&f, fr, n), NAT_NEXT_DROP);
	assert_int_equal(ctr(&f, NAT_C_DROP_PROTO), 1);
	n = build(fr, &(struct spec){ .proto = IPPROTO_ICMP, .type = 13, .src = "10.0.0.6",
				      .dst = "203.0.113.9", .payload = 12 });
	assert_int_equal(out(&f, fr, n), NAT_NEXT_DROP);
	assert_int_equal(ctr(&f, NAT_C_DROP_ICMP_TYPE), 1);
	/* Nothing was created by any of them. */
	assert_int_equal(ctr(&f, NAT_C_SESSIONS_CREATED), 0);
	fx_close(&f);
}

static uint64_t
all_outcomes(const struct fx *f)
{
	uint64_t n = 0;

	for (unsigned c = NAT_C_XLATE_OUT; c < NAT_C_N_; c++)
		n += ctr(f, (enum nat_counter)c);
	return n;
}

static uint64_t
xorshift(uint64_t *r)
{
	*r ^= *r << 13;
	*r ^= *r >> 7;
	*r ^= *r << 17;
	return *r;
}

/* A real frame (an ICMP error about one, a quarter of the time) with a
 * few bytes flipped and, sometimes, its length cut. @return the length. */
static size_t
broken_frame(uint8_t *fr, uint64_t rnd, int outbound)
{
	static const uint8_t protos[] = { 6, 17, 1, 47 };
	uint8_t q[FRAME_MAX];
	size_t n, qn;

	if ((rnd >> 3) % 4 == 0) {
		qn = ip_packet(q, &(struct spec){ .proto = protos[(rnd >> 5) % 3], .src = "192.0.2.1",
						  .dst = "10.0.0.5", .sport = 80, .dport = 1024,
						  .type = 8, .payload = 4 });
		n = build(fr, &(struct spec){ .proto = IPPROTO_ICMP, .type = 3, .src = "1.2.3.4",
					      .dst = "192.0.2.1", .quote = q,
					      .quote_len = (uint16_t)((rnd >> 9) % (qn + 1)) });
	} else {
		n = build(fr, &(struct spec){ .proto = protos[(rnd >> 5) % 4],
					      .src = outbound ? "10.0.0.9" : "1.2.3.4",
					      .dst = outbound ? "192.0.2.1" : "192.0.2.2",
					      .sport = (uint16_t)(rnd >> 16),
					      .dport = (uint16_t)(1024 + (rnd >> 32) % 80),
					      .type = (uint8_t)((rnd >> 24) % 14),
					      .payload = (uint16_t)((rnd >> 40) % 60) });
	}
	for (int k = 0; k < (int)((rnd >> 48) % 4); k++)
		fr[(rnd >> (8 * k)) % n] ^= (uint8_t)(rnd >> 50);
	return (rnd >> 56) % 4 == 0 ? (rnd >> 20) % (n + 1) : n;
}

static void
test_garbage_is_counted_never_fatal(void **state)
{
	uint8_t fr[FRAME_MAX];
	uint64_t rnd = 0x2545f4914f6cdd1dull, sent = 0;
	struct fx f;

	(void)state;
	FX_OPEN(&f, "--snat", "0.0.0.0/0=192.0.2.1-192.0.2.2:1024-1100",
		"--dnat", "192.0.2.1:80=10.0.0.5:80/tcp", "--max-sessions", "64");
	for (int i = 0; i < 200000; i++) {
		int outbound = (int)(xorshift(&rnd) & 1);
		size_t len;

		if ((rnd >> 1) % 3 == 0) {
			/* Pure noise, often with an IPv4 ethertype and version. */
			len = (rnd >> 8) % 200;
			for (size_t k = 0; k < len; k++)
				fr[k] = (uint8_t)xorshift(&rnd);
			if (len > 14 && (rnd & 2)) {
				mpdp_put_be16(fr + 12, 0x0800);
				fr[14] = (uint8_t)(0x45 + (rnd >> 20) % 3);
			}
		} else {
			len = broken_frame(fr, rnd, outbound);
		}
		(void)nat_path_packet(&f.t, fr, (uint32_t)len, outbound, f.now);
		sent++;
		if (i % 1000 == 0) {
			f.now += 10 * SEC;
			nat_table_expire(&f.t, f.now, 0);
		}
	}
	/* Every frame ended in exactly one outcome counter. */
	assert_int_equal(all_outcomes(&f), sent);
	assert_true(ctr(&f, NAT_C_SESSIONS_ACTIVE) <= 65);
	fx_close(&f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_defaults_follow_the_rfcs),
		cmocka_unit_test(test_config_snat_forms_accepted),
		cmocka_unit_test(test_config_snat_refusals_name_the_value),
		cmocka_unit_test(test_config_snat_rule_limit),
		cmocka_unit_test(test_config_dnat_forms_and_refusals),
		cmocka_unit_test(test_config_numbers_refused),
		cmocka_unit_test(test_config_finish_derives_the_address_list),
		cmocka_unit_test(test_config_from_argv_reads_only_nat_options),
		cmocka_unit_test(test_config_same_shape_says_what_differs),
		cmocka_unit_test(test_alloc_keeps_the_inside_port),
		cmocka_unit_test(test_alloc_takes_the_next_free_port_upward),
		cmocka_unit_test(test_alloc_wraps_within_the_range),
		cmocka_unit_test(test_alloc_pairs_each_inside_host_with_one_address),
		cmocka_unit_test(test_alloc_random_never_collides),
		cmocka_unit_test(test_static_dnat_ports_are_reserved),
		cmocka_unit_test(test_expiry_follows_each_protocol),
		cmocka_unit_test(test_tcp_established_after_both_ways_then_transitory_on_fin),
		cmocka_unit_test(test_table_full_refuses_new_sessions_only),
		cmocka_unit_test(test_restart_on_the_same_zone_keeps_sessions),
		cmocka_unit_test(test_blank_zone_with_a_stale_table_starts_over),
		cmocka_unit_test(test_tcp_out_and_back),
		cmocka_unit_test(test_udp_out_and_back_with_and_without_checksum),
		cmocka_unit_test(test_udp_checksum_that_becomes_zero_is_sent_as_ffff),
		cmocka_unit_test(test_icmp_echo_out_and_back),
		cmocka_unit_test(test_icmp_error_inbound_translates_the_quote),
		cmocka_unit_test(test_icmp_error_outbound_translates_the_quote),
		cmocka_unit_test(test_hairpin_translates_both_ways_and_stays_inside),
		cmocka_unit_test(test_dnat_in_and_reply_and_outbound_from_the_server),
		cmocka_unit_test(test_ip_options_and_vlan_are_translated),
		cmocka_unit_test(test_untranslated_traffic_passes_to_the_other_side),
		cmocka_unit_test(test_drops_are_counted_by_reason),
		cmocka_unit_test(test_garbage_is_counted_never_fatal),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

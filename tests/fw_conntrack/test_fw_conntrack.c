/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Connection tracking of the firewall: frames are built byte by byte
 * (Ethernet, IPv4/IPv6, TCP/UDP/ICMP), parsed with mpdp_pkt_parse() and fed
 * to fw_ct_lookup()/fw_ct_create() at times the test sets, so every
 * timeout is checked to the second without waiting.
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
#include <sys/socket.h>

#include "fw_conntrack.h"
#include "mpdp_pkt.h"
#include "test_util.h"

#define S 1000000000ull     /* one second in ns */
#define T0 (1000 * S)       /* the tests' clock starts here */

enum { PKT_MAX = 512, CONNS = 64 };

/* --- frames ------------------------------------------------------------- */

struct pkt {
	uint8_t buf[PKT_MAX];
	uint32_t len;
	struct mpdp_pkt_info info;
};

static void
addr(int fam, const char *s, uint8_t *out)
{
	assert_int_equal(inet_pton(fam == 4 ? AF_INET : AF_INET6, s, out), 1);
}

static void
pkt_parse(struct pkt *p)
{
	assert_int_equal(mpdp_pkt_parse(p->buf, p->len, &p->info), 0);
}

/* Ethernet + IP header + @l4 (l4len bytes); parsed. */
static void
mk_ip(struct pkt *p, int fam, uint8_t proto, const char *src, const char *dst,
      const uint8_t *l4, uint32_t l4len)
{
	uint8_t *ip = p->buf + 14;
	uint32_t hl = fam == 4 ? 20 : 40;

	assert_true(14 + hl + l4len <= PKT_MAX);
	memset(p->buf, 0, sizeof(p->buf));
	memset(p->buf, 0x02, 12);
	mpdp_put_be16(p->buf + 12, fam == 4 ? 0x0800 : 0x86dd);
	if (fam == 4) {
		ip[0] = 0x45;
		mpdp_put_be16(ip + 2, (uint16_t)(hl + l4len));
		ip[8] = 64;
		ip[9] = proto;
		addr(4, src, ip + 12);
		addr(4, dst, ip + 16);
	} else {
		ip[0] = 0x60;
		mpdp_put_be16(ip + 4, (uint16_t)l4len);
		ip[6] = proto;
		ip[7] = 64;
		addr(6, src, ip + 8);
		addr(6, dst, ip + 24);
	}
	memcpy(ip + hl, l4, l4len);
	p->len = 14 + hl + l4len;
	pkt_parse(p);
}

static void
mk_tcp(struct pkt *p, int fam, const char *src, uint16_t sp, const char *dst, uint16_t dp,
       uint8_t flags)
{
	uint8_t th[20] = { 0 };

	mpdp_put_be16(th, sp);
	mpdp_put_be16(th + 2, dp);
	th[12] = 5 << 4;
	th[13] = flags;
	mpdp_put_be16(th + 14, 65535);
	mk_ip(p, fam, 6, src, dst, th, sizeof(th));
}

static void
mk_udp(struct pkt *p, int fam, const char *src, uint16_t sp, const char *dst, uint16_t dp)
{
	uint8_t uh[8 + 12] = { 0 };

	mpdp_put_be16(uh, sp);
	mpdp_put_be16(uh + 2, dp);
	mpdp_put_be16(uh + 4, sizeof(uh));
	mk_ip(p, fam, 17, src, dst, uh, sizeof(uh));
}

/* ICMP/ICMPv6: type, code, id (echo) and an optional quote after the 8 bytes. */
static void
mk_icmp(struct pkt *p, int fam, const char *src, const char *dst, uint8_t type, uint8_t code,
	uint16_t id, const uint8_t *quote, uint32_t qlen)
{
	uint8_t ih[8 + 256] = { 0 };

	assert_true(qlen <= 256);
	ih[0] = type;
	ih[1] = code;
	mpdp_put_be16(ih + 4, id);
	mpdp_put_be16(ih + 6, 1);
	if (qlen > 0)
		memcpy(ih + 8, quote, qlen);
	mk_ip(p, fam, fam == 4 ? 1 : 58, src, dst, ih, 8 + qlen);
}

/* The IP packet inside @p (what an ICMP error quotes), cut to @n bytes. */
static const uint8_t *
ip_of(const struct pkt *p, uint32_t *n, uint32_t cut)
{
	*n = p->len - 14 < cut ? p->len - 14 : cut;
	return p->buf + 14;
}

/* --- table ----------------------------------------------------------------- */

struct fix {
	void *mem;
	uint64_t len;
	struct fw_ct *ct;
};

static void
fix_open(struct fix *f, uint32_t conns)
{
	struct mpdp_errbuf eb = { { 0 } };

	f->len = fw_ct_mem_size(conns);
	assert_true(f->len > 0);
	f->mem = aligned_alloc(64, (f->len + 63) & ~(uint64_t)63);
	assert_non_null(f->mem);
	memset(f->mem, 0, f->len);
	assert_int_equal(fw_ct_open(f->mem, f->len, conns, NULL, &f->ct, &eb), 0);
}

static void
fix_close(struct fix *f)
{
	free(f->mem);
}

static int
look(struct fix *f, const struct pkt *p, uint64_t now)
{
	return fw_ct_lookup(f->ct, p->buf, p->len, &p->info, now);
}

static int
create(struct fix *f, const struct pkt *p, uint64_t now)
{
	return fw_ct_create(f->ct, p->buf, p->len, &p->info, now);
}

/* What the stage does: look up, and start a connection when new. */
static int
pass(struct fix *f, const struct pkt *p, uint64_t now)
{
	int st = look(f, p, now);

	if (st == FW_CT_NEW)
		assert_int_equal(create(f, p, now), 0);
	return st;
}

static struct fw_ct_stats
stats(struct fix *f)
{
	struct fw_ct_stats s;

	fw_ct_stats_get(f->ct, &s);
	return s;
}

struct one_view {
	struct fw_ct_conn_view v;
	unsigned n;
};

static int
keep_view(const struct fw_ct_conn_view *v, void *arg)
{
	struct one_view *o = arg;

	o->v = *v;
	o->n++;
	return 0;
}

/* The table's only connection. */
static struct fw_ct_conn_view
only_conn(struct fix *f)
{
	struct one_view o = { .n = 0 };

	assert_int_equal(fw_ct_walk(f->ct, keep_view, &o), 1);
	assert_int_equal(o.n, 1);
	return o.v;
}

static void
expect_tcp_state(struct fix *f, unsigned state, uint64_t expires_ns)
{
	struct fw_ct_conn_view v = only_conn(f);

	assert_int_equal(v.proto, 6);
	assert_int_equal(v.tcp_state, state);
	assert_string_equal(v.state, fw_ct_tcp_state_name(state));
	assert_int_equal(v.expires_ns, expires_ns);
}

enum { F_FIN = 0x01, F_SYN = 0x02, F_RST = 0x04, F_PSH = 0x08, F_ACK = 0x10 };

/* A client and a server, and the packets each way. */
struct tcp_pair {
	struct pkt c2s[6], s2c[6];
};

enum { P_SYN, P_SYNACK, P_ACK, P_FIN, P_RST, P_DATA };

static void
mk_pair(struct tcp_pair *t, int fam, const char *c, uint16_t cp, const char *s, uint16_t sp)
{
	static const uint8_t flags[6] = { F_SYN, F_SYN | F_ACK, F_ACK, F_FIN | F_ACK, F_RST,
					  F_PSH | F_ACK };

	for (unsigned i = 0; i < 6; i++) {
		mk_tcp(&t->c2s[i], fam, c, cp, s, sp, flags[i]);
		mk_tcp(&t->s2c[i], fam, s, sp, c, cp, flags[i]);
	}
}

/* Handshake at @now: the connection ends ESTABLISHED. */
static void
handshake(struct fix *f, struct tcp_pair *t, uint64_t now)
{
	assert_int_equal(pass(f, &t->c2s[P_SYN], now), FW_CT_NEW);
	assert_int_equal(look(f, &t->s2c[P_SYNACK], now), FW_CT_ESTABLISHED);
	assert_int_equal(look(f, &t->c2s[P_ACK], now), FW_CT_ESTABLISHED);
}

/* --- TCP ------------------------------------------------------------------ */

static void
test_tcp_full_lifecycle(void **state)
{
	struct fix f;
	struct tcp_pair t;
	struct fw_ct_conn_view v;
	uint64_t now = T0;

	(void)state;
	fix_open(&f, CONNS);
	mk_pair(&t, 4, "10.0.0.1", 40000, "10.0.0.2", 80);

	assert_int_equal(look(&f, &t.c2s[P_SYN], now), FW_CT_NEW);
	assert_int_equal(create(&f, &t.c2s[P_SYN], now), 0);
	assert_int_equal(create(&f, &t.c2s[P_SYN], now), -EEXIST);
	expect_tcp_state(&f, FW_CT_TCP_SYN_SENT, now + 120 * S);
	/* A retransmitted SYN belongs to the connection. */
	now += S;
	assert_int_equal(look(&f, &t.c2s[P_SYN], now), FW_CT_ESTABLISHED);
	expect_tcp_state(&f, FW_CT_TCP_SYN_SENT, now + 120 * S);
	now += S;
	assert_int_equal(look(&f, &t.s2c[P_SYNACK], now), FW_CT_ESTABLISHED);
	expect_tcp_state(&f, FW_CT_TCP_SYN_RECV, now + 60 * S);
	assert_int_equal(look(&f, &t.c2s[P_ACK], now), FW_CT_ESTABLISHED);
	expect_tcp_state(&f, FW_CT_TCP_ESTABLISHED, now + 432000 * S);

	for (unsigned i = 0; i < 3; i++) {
		now += S;
		assert_int_equal(look(&f, &t.c2s[P_DATA], now), FW_CT_ESTABLISHED);
		assert_int_equal(look(&f, &t.s2c[P_DATA], now), FW_CT_ESTABLISHED);
	}
	v = only_conn(&f);
	assert_int_equal(v.pkts[0], 6);   /* SYN x2, ACK, 3 data */
	assert_int_equal(v.pkts[1], 4);   /* SYN-ACK, 3 data */
	assert_int_equal(v.bytes[0], 6 * 40);
	assert_int_equal(v.bytes[1], 4 * 40);
	assert_true(v.seen_reply);
	assert_int_equal(v.family, 4);
	assert_int_equal(v.orig.sport, 40000);
	assert_int_equal(v.orig.dport, 80);
	assert_int_equal(v.reply.sport, 80);
	assert_int_equal(v.reply.dport, 40000);
	assert_memory_equal(v.orig.src, t.c2s[0].info.src_addr, 4);
	assert_memory_equal(v.reply.src, t.c2s[0].info.dst_addr, 4);

	/* The client closes first; the server acknowledges, then closes. */
	now += S;
	assert_int_equal(look(&f, &t.c2s[P_FIN], now), FW_CT_ESTABLISHED);
	expect_tcp_state(&f, FW_CT_TCP_FIN_WAIT, now + 120 * S);
	assert_int_equal(look(&f, &t.s2c[P_ACK], now), FW_CT_ESTABLISHED);
	expect_tcp_state(&f, FW_CT_TCP_CLOSE_WAIT, now + 60 * S);
	assert_int_equal(look(&f, &t.s2c[P_FIN], now), FW_CT_ESTABLISHED);
	expect_tcp_state(&f, FW_CT_TCP_LAST_ACK, now + 30 * S);
	assert_int_equal(look(&f, &t.c2s[P_ACK], now), FW_CT_ESTABLISHED);
	expect_tcp_state(&f, FW_CT_TCP_TIME_WAIT, now + 120 * S);

	/* TIME_WAIT lasts 120 s, to the nanosecond. */
	assert_int_equal(fw_ct_expire(f.ct, now + 120 * S - 1, 100), 0);
	assert_int_equal(stats(&f).active, 1);
	assert_int_equal(fw_ct_expire(f.ct, now + 120 * S, 100), 1);
	assert_int_equal(stats(&f).active, 0);
	assert_int_equal(stats(&f).created, 1);
	assert_int_equal(stats(&f).expired, 1);
	fix_close(&f);
}

static void
test_tcp_close_with_fin_ack_both_ways(void **state)
{
	struct fix f;
	struct tcp_pair t;

	(void)state;
	fix_open(&f, CONNS);
	mk_pair(&t, 4, "10.0.0.1", 40001, "10.0.0.2", 443);
	handshake(&f, &t, T0);
	/* FIN from each side before either ACK: FIN_WAIT, LAST_ACK, TIME_WAIT. */
	assert_int_equal(look(&f, &t.s2c[P_FIN], T0), FW_CT_ESTABLISHED);
	expect_tcp_state(&f, FW_CT_TCP_FIN_WAIT, T0 + 120 * S);
	assert_int_equal(look(&f, &t.c2s[P_FIN], T0), FW_CT_ESTABLISHED);
	expect_tcp_state(&f, FW_CT_TCP_LAST_ACK, T0 + 30 * S);
	assert_int_equal(look(&f, &t.s2c[P_ACK], T0), FW_CT_ESTABLISHED);
	expect_tcp_state(&f, FW_CT_TCP_TIME_WAIT, T0 + 120 * S);
	fix_close(&f);
}

static void
test_tcp_rst_closes(void **state)
{
	struct fix f;
	struct tcp_pair t;

	(void)state;
	fix_open(&f, CONNS);
	mk_pair(&t, 4, "10.0.0.1", 40002, "10.0.0.2", 22);
	handshake(&f, &t, T0);
	assert_int_equal(look(&f, &t.s2c[P_RST], T0 + S), FW_CT_ESTABLISHED);
	expect_tcp_state(&f, FW_CT_TCP_CLOSE, T0 + 11 * S);
	/* Stragglers still belong to it, and CLOSE stays CLOSE. */
	assert_int_equal(look(&f, &t.c2s[P_DATA], T0 + 2 * S), FW_CT_ESTABLISHED);
	expect_tcp_state(&f, FW_CT_TCP_CLOSE, T0 + 12 * S);
	assert_int_equal(fw_ct_expire(f.ct, T0 + 12 * S, 100), 1);
	assert_int_equal(stats(&f).active, 0);

	/* A SYN refused with RST from the server. */
	assert_int_equal(pass(&f, &t.c2s[P_SYN], T0 + 20 * S), FW_CT_NEW);
	assert_int_equal(look(&f, &t.s2c[P_RST], T0 + 20 * S), FW_CT_ESTABLISHED);
	expect_tcp_state(&f, FW_CT_TCP_CLOSE, T0 + 30 * S);
	fix_close(&f);
}

static void
test_syn_reopens_time_wait_and_close(void **state)
{
	struct fix f;
	struct tcp_pair t;
	uint64_t now = T0;

	(void)state;
	fix_open(&f, CONNS);
	mk_pair(&t, 4, "10.0.0.1", 40003, "10.0.0.2", 80);
	handshake(&f, &t, now);
	look(&f, &t.c2s[P_FIN], now);
	look(&f, &t.s2c[P_FIN], now);
	look(&f, &t.c2s[P_ACK], now);
	expect_tcp_state(&f, FW_CT_TCP_TIME_WAIT, now + 120 * S);

	now += 5 * S;
	assert_int_equal(look(&f, &t.c2s[P_SYN], now), FW_CT_NEW);
	assert_int_equal(stats(&f).active, 0);
	assert_int_equal(stats(&f).expired, 1);
	assert_int_equal(create(&f, &t.c2s[P_SYN], now), 0);
	expect_tcp_state(&f, FW_CT_TCP_SYN_SENT, now + 120 * S);
	assert_int_equal(look(&f, &t.s2c[P_SYNACK], now), FW_CT_ESTABLISHED);
	assert_int_equal(look(&f, &t.c2s[P_ACK], now), FW_CT_ESTABLISHED);

	/* CLOSE after a reset, reopened by a SYN from the other side. */
	assert_int_equal(look(&f, &t.c2s[P_RST], now), FW_CT_ESTABLISHED);
	expect_tcp_state(&f, FW_CT_TCP_CLOSE, now + 10 * S);
	assert_int_equal(look(&f, &t.s2c[P_SYN], now), FW_CT_NEW);
	assert_int_equal(create(&f, &t.s2c[P_SYN], now), 0);
	{
		struct fw_ct_conn_view v = only_conn(&f);

		assert_int_equal(v.orig.sport, 80);   /* the server is now the originator */
		assert_int_equal(v.tcp_state, FW_CT_TCP_SYN_SENT);
	}
	/* A SYN in ESTABLISHED is not a reopening. */
	assert_int_equal(look(&f, &t.c2s[P_SYNACK], now), FW_CT_ESTABLISHED);
	assert_int_equal(look(&f, &t.s2c[P_ACK], now), FW_CT_ESTABLISHED);
	expect_tcp_state(&f, FW_CT_TCP_ESTABLISHED, now + 432000 * S);
	assert_int_equal(look(&f, &t.s2c[P_SYN], now), FW_CT_ESTABLISHED);
	expect_tcp_state(&f, FW_CT_TCP_ESTABLISHED, now + 432000 * S);
	fix_close(&f);
}

static void
test_tcp_loose_pickup_and_invalid_flags(void **state)
{
	struct fix f;
	struct tcp_pair t;
	struct pkt p;

	(void)state;
	fix_open(&f, CONNS);
	mk_pair(&t, 4, "10.0.0.1", 40004, "10.0.0.2", 80);

	/* Nothing known: a FIN, a SYN-ACK, a RST start nothing. */
	assert_int_equal(look(&f, &t.c2s[P_FIN], T0), FW_CT_INVALID);
	assert_int_equal(look(&f, &t.s2c[P_SYNACK], T0), FW_CT_INVALID);
	assert_int_equal(look(&f, &t.c2s[P_RST], T0), FW_CT_INVALID);
	assert_int_equal(create(&f, &t.c2s[P_FIN], T0), -EINVAL);
	assert_int_equal(stats(&f).active, 0);

	/* Mid-stream data is picked up as established. */
	assert_int_equal(look(&f, &t.c2s[P_DATA], T0), FW_CT_NEW);
	assert_int_equal(create(&f, &t.c2s[P_DATA], T0), 0);
	expect_tcp_state(&f, FW_CT_TCP_ESTABLISHED, T0 + 432000 * S);
	assert_int_equal(look(&f, &t.s2c[P_DATA], T0 + S), FW_CT_ESTABLISHED);

	/* Flag combinations no TCP sends are invalid, even on a connection. */
	mk_tcp(&p, 4, "10.0.0.1", 40004, "10.0.0.2", 80, F_SYN | F_FIN);
	assert_int_equal(look(&f, &p, T0 + S), FW_CT_INVALID);
	mk_tcp(&p, 4, "10.0.0.1", 40004, "10.0.0.2", 80, 0);
	assert_int_equal(look(&f, &p, T0 + S), FW_CT_INVALID);
	mk_tcp(&p, 4, "10.0.0.1", 40004, "10.0.0.2", 80, F_FIN);
	assert_int_equal(look(&f, &p, T0 + S), FW_CT_INVALID);
	/* And a SYN-ACK from the client of an established connection is let be. */
	assert_int_equal(look(&f, &t.c2s[P_SYNACK], T0 + S), FW_CT_ESTABLISHED);
	expect_tcp_state(&f, FW_CT_TCP_ESTABLISHED, T0 + S + 432000 * S);
	fix_close(&f);
}

static void
test_tcp_refused_packet_changes_nothing(void **state)
{
	struct fix f;
	struct tcp_pair t;
	struct fw_ct_conn_view v;

	(void)state;
	fix_open(&f, CONNS);
	mk_pair(&t, 4, "10.0.0.1", 40005, "10.0.0.2", 80);
	assert_int_equal(pass(&f, &t.c2s[P_SYN], T0), FW_CT_NEW);
	/* In SYN_SENT the client cannot send a FIN or an ACK. */
	assert_int_equal(look(&f, &t.c2s[P_FIN], T0 + S), FW_CT_INVALID);
	assert_int_equal(look(&f, &t.c2s[P_ACK], T0 + S), FW_CT_INVALID);
	v = only_conn(&f);
	assert_int_equal(v.tcp_state, FW_CT_TCP_SYN_SENT);
	assert_int_equal(v.pkts[0], 1);
	assert_int_equal(v.expires_ns, T0 + 120 * S);
	fix_close(&f);
}

static void
test_simultaneous_open(void **state)
{
	struct fix f;
	struct tcp_pair t;

	(void)state;
	fix_open(&f, CONNS);
	mk_pair(&t, 4, "10.0.0.1", 5000, "10.0.0.2", 6000);
	assert_int_equal(pass(&f, &t.c2s[P_SYN], T0), FW_CT_NEW);
	assert_int_equal(look(&f, &t.s2c[P_SYN], T0), FW_CT_ESTABLISHED);
	expect_tcp_state(&f, FW_CT_TCP_SYN_SENT2, T0 + 120 * S);
	assert_int_equal(look(&f, &t.c2s[P_SYNACK], T0), FW_CT_ESTABLISHED);
	expect_tcp_state(&f, FW_CT_TCP_SYN_RECV, T0 + 60 * S);
	assert_int_equal(look(&f, &t.c2s[P_ACK], T0), FW_CT_ESTABLISHED);
	expect_tcp_state(&f, FW_CT_TCP_ESTABLISHED, T0 + 432000 * S);
	fix_close(&f);
}

static void
test_ipv6_tcp(void **state)
{
	struct fix f;
	struct tcp_pair t;
	struct fw_ct_conn_view v;
	uint8_t a[16];

	(void)state;
	fix_open(&f, CONNS);
	mk_pair(&t, 6, "2001:db8::1", 50000, "2001:db8:1::2", 443);
	handshake(&f, &t, T0);
	assert_int_equal(look(&f, &t.s2c[P_DATA], T0 + S), FW_CT_ESTABLISHED);
	v = only_conn(&f);
	assert_int_equal(v.family, 6);
	assert_int_equal(v.tcp_state, FW_CT_TCP_ESTABLISHED);
	addr(6, "2001:db8::1", a);
	assert_memory_equal(v.orig.src, a, 16);
	assert_memory_equal(v.reply.dst, a, 16);
	assert_int_equal(v.bytes[1], 2 * 60);

	/* The same ports over IPv4 are another connection. */
	{
		struct pkt p;

		mk_tcp(&p, 4, "10.0.0.1", 50000, "10.0.0.2", 443, F_ACK);
		assert_int_equal(look(&f, &p, T0 + S), FW_CT_NEW);
	}
	fix_close(&f);
}

/* --- UDP, ICMP, other protocols -------------------------------------------- */

static void
test_udp_timeouts_unreplied_then_replied(void **state)
{
	struct fix f;
	struct pkt out, back;
	struct fw_ct_conn_view v;

	(void)state;
	fix_open(&f, CONNS);
	mk_udp(&out, 4, "192.168.1.10", 5353, "192.168.1.1", 53);
	mk_udp(&back, 4, "192.168.1.1", 53, "192.168.1.10", 5353);

	assert_int_equal(pass(&f, &out, T0), FW_CT_NEW);
	v = only_conn(&f);
	assert_string_equal(v.state, "UNREPLIED");
	assert_int_equal(v.expires_ns, T0 + 30 * S);
	/* More from the same side keeps it unreplied: 30 s from the last. */
	assert_int_equal(look(&f, &out, T0 + 10 * S), FW_CT_ESTABLISHED);
	assert_int_equal(only_conn(&f).expires_ns, T0 + 40 * S);
	/* Past its expiry it is gone, at lookup time already. */
	assert_int_equal(look(&f, &out, T0 + 40 * S), FW_CT_NEW);
	assert_int_equal(stats(&f).active, 0);
	assert_int_equal(stats(&f).expired, 1);

	assert_int_equal(pass(&f, &out, T0 + 50 * S), FW_CT_NEW);
	assert_int_equal(look(&f, &back, T0 + 51 * S), FW_CT_ESTABLISHED);
	v = only_conn(&f);
	assert_string_equal(v.state, "REPLIED");
	assert_true(v.seen_reply);
	assert_int_equal(v.expires_ns, T0 + 171 * S);
	/* Once replied, 120 s from the last packet either way. */
	assert_int_equal(look(&f, &out, T0 + 100 * S), FW_CT_ESTABLISHED);
	assert_int_equal(only_conn(&f).expires_ns, T0 + 220 * S);
	assert_int_equal(fw_ct_expire(f.ct, T0 + 219 * S, 100), 0);
	assert_int_equal(fw_ct_expire(f.ct, T0 + 220 * S, 100), 1);
	fix_close(&f);
}

static void
test_icmp_echo_matches_by_identifier(void **state)
{
	struct fix f;
	struct pkt req, rep, rep_other, req_back;
	static const struct {
		int fam;
		const char *a, *b;
		uint8_t req, rep;
	} cases[] = {
		{ 4, "10.1.0.1", "10.2.0.1", 8, 0 },
		{ 6, "fd00::1", "fd00::2", 128, 129 },
	};

	(void)state;
	for (unsigned i = 0; i < 2; i++) {
		fix_open(&f, CONNS);
		mk_icmp(&req, cases[i].fam, cases[i].a, cases[i].b, cases[i].req, 0, 7, NULL, 0);
		mk_icmp(&rep, cases[i].fam, cases[i].b, cases[i].a, cases[i].rep, 0, 7, NULL, 0);
		mk_icmp(&rep_other, cases[i].fam, cases[i].b, cases[i].a, cases[i].rep, 0, 8, NULL,
			0);
		mk_icmp(&req_back, cases[i].fam, cases[i].b, cases[i].a, cases[i].req, 0, 7, NULL,
			0);

		/* A reply to nothing is invalid and starts nothing. */
		assert_int_equal(look(&f, &rep, T0), FW_CT_INVALID);
		assert_int_equal(create(&f, &rep, T0), -EINVAL);

		assert_int_equal(pass(&f, &req, T0), FW_CT_NEW);
		assert_int_equal(only_conn(&f).expires_ns, T0 + 30 * S);
		assert_int_equal(only_conn(&f).orig.sport, 7);
		assert_int_equal(look(&f, &rep, T0 + S), FW_CT_ESTABLISHED);
		assert_int_equal(only_conn(&f).pkts[1], 1);
		assert_int_equal(only_conn(&f).expires_ns, T0 + 31 * S);
		/* Another identifier, or a request the other way, is not this one. */
		assert_int_equal(look(&f, &rep_other, T0 + S), FW_CT_INVALID);
		assert_int_equal(look(&f, &req_back, T0 + S), FW_CT_NEW);
		assert_int_equal(look(&f, &rep, T0 + 31 * S), FW_CT_INVALID);
		fix_close(&f);
	}
}

static void
test_other_protocol_by_address_pair(void **state)
{
	struct fix f;
	struct pkt gre, gre_back, esp;
	uint8_t payload[4] = { 0, 0, 0x08, 0 };

	(void)state;
	fix_open(&f, CONNS);
	mk_ip(&gre, 4, 47, "10.0.0.1", "10.0.0.2", payload, sizeof(payload));
	mk_ip(&gre_back, 4, 47, "10.0.0.2", "10.0.0.1", payload, sizeof(payload));
	mk_ip(&esp, 4, 50, "10.0.0.2", "10.0.0.1", payload, sizeof(payload));
	assert_int_equal(pass(&f, &gre, T0), FW_CT_NEW);
	assert_int_equal(only_conn(&f).expires_ns, T0 + 600 * S);
	assert_int_equal(look(&f, &gre_back, T0 + S), FW_CT_ESTABLISHED);
	assert_int_equal(look(&f, &esp, T0 + S), FW_CT_NEW);
	assert_int_equal(only_conn(&f).proto, 47);
	fix_close(&f);
}

static void
test_untracked_and_unparsed_packets(void **state)
{
	struct fix f;
	struct pkt p;

	(void)state;
	fix_open(&f, CONNS);
	/* Neighbour solicitation: judged alone every time, never tracked. */
	mk_icmp(&p, 6, "fe80::1", "ff02::1:ff00:2", 135, 0, 0, NULL, 0);
	assert_int_equal(look(&f, &p, T0), FW_CT_NEW);
	assert_int_equal(create(&f, &p, T0), -EPROTONOSUPPORT);
	/* An ICMP error starts nothing. */
	mk_icmp(&p, 4, "10.0.0.9", "10.0.0.1", 3, 1, 0, NULL, 0);
	assert_int_equal(create(&f, &p, T0), -EINVAL);

	/* A truncated TCP header. */
	mk_tcp(&p, 4, "10.0.0.1", 1, "10.0.0.2", 2, F_SYN);
	p.len = 14 + 20 + 10;
	assert_int_equal(mpdp_pkt_parse(p.buf, p.len, &p.info), -EINVAL);
	assert_int_equal(look(&f, &p, T0), FW_CT_INVALID);
	assert_int_equal(create(&f, &p, T0), -EINVAL);
	/* A later fragment. */
	mk_udp(&p, 4, "10.0.0.1", 1, "10.0.0.2", 2);
	mpdp_put_be16(p.buf + 14 + 6, 0x0010);
	pkt_parse(&p);
	assert_true(p.info.flags & MPDP_PKT_F_NOT_FIRST_FRAG);
	assert_int_equal(look(&f, &p, T0), FW_CT_INVALID);
	assert_int_equal(create(&f, &p, T0), -EINVAL);
	/* Not IP. */
	memset(&p, 0, sizeof(p));
	p.len = 60;
	mpdp_put_be16(p.buf + 12, 0x0806);
	mpdp_pkt_parse(p.buf, p.len, &p.info);
	assert_int_equal(look(&f, &p, T0), FW_CT_INVALID);
	assert_int_equal(create(&f, &p, T0), -EINVAL);
	/* UDP to itself: its reply tuple is its own. */
	mk_udp(&p, 4, "10.0.0.1", 7, "10.0.0.1", 7);
	assert_int_equal(create(&f, &p, T0), -EINVAL);
	assert_int_equal(stats(&f).active, 0);
	assert_int_equal(stats(&f).created, 0);
	fix_close(&f);
}

/* --- ICMP errors ------------------------------------------------------------- */

static void
test_icmp_error_related_v4(void **state)
{
	struct fix f;
	struct tcp_pair t;
	struct pkt u, ping, err, other;
	const uint8_t *q;
	uint32_t qn;
	uint8_t bad[64];

	(void)state;
	fix_open(&f, CONNS);
	mk_pair(&t, 4, "10.0.0.1", 40000, "192.0.2.80", 80);
	handshake(&f, &t, T0);
	mk_udp(&u, 4, "10.0.0.1", 3000, "192.0.2.53", 53);
	assert_int_equal(pass(&f, &u, T0), FW_CT_NEW);
	mk_icmp(&ping, 4, "10.0.0.1", "192.0.2.1", 8, 0, 99, NULL, 0);
	assert_int_equal(pass(&f, &ping, T0), FW_CT_NEW);

	/* A router tells the client its SYN could not go on: quoting client->server. */
	q = ip_of(&t.c2s[P_DATA], &qn, 28);
	mk_icmp(&err, 4, "10.0.0.254", "10.0.0.1", 3, 1, 0, q, qn);
	assert_int_equal(look(&f, &err, T0), FW_CT_RELATED);
	/* The whole quoted packet, not just 8 bytes of it, is fine too. */
	q = ip_of(&t.c2s[P_DATA], &qn, 1000);
	mk_icmp(&err, 4, "10.0.0.254", "10.0.0.1", 11, 0, 0, q, qn);
	assert_int_equal(look(&f, &err, T0), FW_CT_RELATED);
	/* The other direction: an error about a server->client packet. */
	q = ip_of(&t.s2c[P_DATA], &qn, 28);
	mk_icmp(&err, 4, "10.0.0.1", "192.0.2.80", 3, 3, 0, q, qn);
	assert_int_equal(look(&f, &err, T0), FW_CT_RELATED);
	/* UDP, and a ping that ran out of TTL (an echo quoted). */
	q = ip_of(&u, &qn, 28);
	mk_icmp(&err, 4, "192.0.2.53", "10.0.0.1", 3, 3, 0, q, qn);
	assert_int_equal(look(&f, &err, T0), FW_CT_RELATED);
	q = ip_of(&ping, &qn, 28);
	mk_icmp(&err, 4, "10.9.9.9", "10.0.0.1", 11, 0, 0, q, qn);
	assert_int_equal(look(&f, &err, T0), FW_CT_RELATED);
	/* The error itself touches nothing of the connection. */
	assert_int_equal(stats(&f).active, 3);

	/* About a connection we do not have. */
	mk_tcp(&other, 4, "10.0.0.1", 40001, "192.0.2.80", 80, F_ACK);
	q = ip_of(&other, &qn, 28);
	mk_icmp(&err, 4, "10.0.0.254", "10.0.0.1", 3, 1, 0, q, qn);
	assert_int_equal(look(&f, &err, T0), FW_CT_INVALID);
	/* A quote that stops before the ports are whole (IP + 4 bytes). */
	q = ip_of(&t.c2s[P_DATA], &qn, 24);
	mk_icmp(&err, 4, "10.0.0.254", "10.0.0.1", 3, 1, 0, q, qn);
	assert_int_equal(look(&f, &err, T0), FW_CT_INVALID);
	/* A frame that holds the whole quote, but an IP length that cuts it. */
	q = ip_of(&t.c2s[P_DATA], &qn, 28);
	mk_icmp(&err, 4, "10.0.0.254", "10.0.0.1", 3, 1, 0, q, qn);
	mpdp_put_be16(err.buf + 14 + 2, 20 + 8 + 24);
	pkt_parse(&err);
	assert_int_equal(look(&f, &err, T0), FW_CT_INVALID);
	/* The connection expired: the error is about nothing. */
	q = ip_of(&u, &qn, 28);
	mk_icmp(&err, 4, "192.0.2.53", "10.0.0.1", 3, 3, 0, q, qn);
	assert_int_equal(look(&f, &err, T0 + 30 * S), FW_CT_INVALID);

	/* Garbage quotes: a bad version, an IHL past the data, an IHL < 5, a later fragment. */
	q = ip_of(&t.c2s[P_DATA], &qn, 28);
	memcpy(bad, q, qn);
	bad[0] = 0x65;
	mk_icmp(&err, 4, "10.0.0.254", "10.0.0.1", 3, 1, 0, bad, qn);
	assert_int_equal(look(&f, &err, T0), FW_CT_INVALID);
	bad[0] = 0x4f;
	mk_icmp(&err, 4, "10.0.0.254", "10.0.0.1", 3, 1, 0, bad, qn);
	assert_int_equal(look(&f, &err, T0), FW_CT_INVALID);
	bad[0] = 0x44;
	mk_icmp(&err, 4, "10.0.0.254", "10.0.0.1", 3, 1, 0, bad, qn);
	assert_int_equal(look(&f, &err, T0), FW_CT_INVALID);
	bad[0] = 0x45;
	mpdp_put_be16(bad + 6, 0x0020);
	mk_icmp(&err, 4, "10.0.0.254", "10.0.0.1", 3, 1, 0, bad, qn);
	assert_int_equal(look(&f, &err, T0), FW_CT_INVALID);
	/* An error with no quote at all. */
	mk_icmp(&err, 4, "10.0.0.254", "10.0.0.1", 3, 1, 0, NULL, 0);
	assert_int_equal(look(&f, &err, T0), FW_CT_INVALID);
	fix_close(&f);
}

/* IPv6 packet @p with a hop-by-hop header of 8 bytes inserted before its L4. */
static void
with_hopopts(const struct pkt *p, uint8_t *out, uint32_t *n)
{
	const uint8_t *ip = p->buf + 14;
	uint32_t l4len = p->len - 14 - 40;

	memcpy(out, ip, 40);
	out[6] = 0;               /* next: hop-by-hop */
	mpdp_put_be16(out + 4, (uint16_t)(l4len + 8));
	memset(out + 40, 0, 8);
	out[40] = ip[6];          /* its next: the L4 */
	out[42] = 1;              /* PadN filling the header */
	out[43] = 4;
	memcpy(out + 48, ip + 40, l4len);
	*n = 48 + l4len;
}

static void
test_icmp_error_related_v6(void **state)
{
	struct fix f;
	struct tcp_pair t;
	struct pkt err, ping;
	const uint8_t *q;
	uint8_t buf[128];
	uint32_t qn;

	(void)state;
	fix_open(&f, CONNS);
	mk_pair(&t, 6, "2001:db8::1", 40000, "2001:db8:2::80", 80);
	handshake(&f, &t, T0);
	mk_icmp(&ping, 6, "2001:db8::1", "2001:db8:2::80", 128, 0, 5, NULL, 0);
	assert_int_equal(pass(&f, &ping, T0), FW_CT_NEW);

	/* Destination unreachable and packet too big, both directions. */
	q = ip_of(&t.c2s[P_DATA], &qn, 48);
	mk_icmp(&err, 6, "2001:db8::fe", "2001:db8::1", 1, 4, 0, q, qn);
	assert_int_equal(look(&f, &err, T0), FW_CT_RELATED);
	q = ip_of(&t.s2c[P_DATA], &qn, 48);
	mk_icmp(&err, 6, "2001:db8:2::fe", "2001:db8:2::80", 2, 0, 0, q, qn);
	assert_int_equal(look(&f, &err, T0), FW_CT_RELATED);
	/* Time exceeded for the ping; a quote with an extension header. */
	q = ip_of(&ping, &qn, 48);
	mk_icmp(&err, 6, "2001:db8::fe", "2001:db8::1", 3, 0, 0, q, qn);
	assert_int_equal(look(&f, &err, T0), FW_CT_RELATED);
	with_hopopts(&t.c2s[P_DATA], buf, &qn);
	mk_icmp(&err, 6, "2001:db8::fe", "2001:db8::1", 4, 0, 0, buf, qn);
	assert_int_equal(look(&f, &err, T0), FW_CT_RELATED);
	/* The extension header cut short, or the L4 bytes missing after it. */
	mk_icmp(&err, 6, "2001:db8::fe", "2001:db8::1", 4, 0, 0, buf, 44);
	assert_int_equal(look(&f, &err, T0), FW_CT_INVALID);
	mk_icmp(&err, 6, "2001:db8::fe", "2001:db8::1", 4, 0, 0, buf, 52);
	assert_int_equal(look(&f, &err, T0), FW_CT_INVALID);

	/* Truncated quotes: a short IPv6 header, and 4 bytes of TCP. */
	q = ip_of(&t.c2s[P_DATA], &qn, 30);
	mk_icmp(&err, 6, "2001:db8::fe", "2001:db8::1", 1, 0, 0, q, qn);
	assert_int_equal(look(&f, &err, T0), FW_CT_INVALID);
	q = ip_of(&t.c2s[P_DATA], &qn, 44);
	mk_icmp(&err, 6, "2001:db8::fe", "2001:db8::1", 1, 0, 0, q, qn);
	assert_int_equal(look(&f, &err, T0), FW_CT_INVALID);
	/* An IPv4 packet quoted by ICMPv6. */
	{
		struct pkt v4;

		mk_tcp(&v4, 4, "10.0.0.1", 40000, "10.0.0.2", 80, F_ACK);
		q = ip_of(&v4, &qn, 28);
		mk_icmp(&err, 6, "2001:db8::fe", "2001:db8::1", 1, 0, 0, q, qn);
		assert_int_equal(look(&f, &err, T0), FW_CT_INVALID);
	}
	fix_close(&f);
}

/* Quotes of random bytes, and valid quotes with bytes changed and cut
 * anywhere: never a read past the frame (each frame is copied into a buffer
 * of its exact size, so ASan sees one), and a quote too short to hold the
 * ports is never related. */
static void
test_icmp_error_garbage_quotes(void **state)
{
	struct fix f;
	struct tcp_pair t4, t6;
	struct pkt err;
	uint64_t rng = 0xc0ffee;
	uint8_t valid[2][128], q[200], *exact;
	uint32_t vlen[2], need[2] = { 20 + 8, 40 + 8 }, n;
	const uint8_t *src;

	(void)state;
	fix_open(&f, CONNS);
	mk_pair(&t4, 4, "10.0.0.1", 40000, "10.0.0.2", 80);
	mk_pair(&t6, 6, "fd00::1", 40000, "fd00::2", 80);
	handshake(&f, &t4, T0);
	handshake(&f, &t6, T0);
	src = ip_of(&t4.c2s[P_DATA], &vlen[0], 1000);
	memcpy(valid[0], src, vlen[0]);
	with_hopopts(&t6.c2s[P_DATA], valid[1], &vlen[1]);

	for (unsigned i = 0; i < 20000; i++) {
		unsigned v6 = i % 2, mutate = (i / 2) % 2;
		int fam = v6 ? 6 : 4;
		int st;

		if (mutate) {
			memcpy(q, valid[v6], vlen[v6]);
			for (unsigned k = (unsigned)(test_rand(&rng) % 4); k > 0; k--)
				q[test_rand(&rng) % vlen[v6]] = (uint8_t)test_rand(&rng);
			n = (uint32_t)(test_rand(&rng) % (vlen[v6] + 1));
		} else {
			n = (uint32_t)(test_rand(&rng) % sizeof(q));
			for (uint32_t k = 0; k < n; k++)
				q[k] = (uint8_t)test_rand(&rng);
		}
		mk_icmp(&err, fam, v6 ? "fd00::fe" : "10.0.0.254", v6 ? "fd00::1" : "10.0.0.1",
			v6 ? 1 : 3, 0, 0, q, n);
		exact = malloc(err.len);
		assert_non_null(exact);
		memcpy(exact, err.buf, err.len);
		st = fw_ct_lookup(f.ct, exact, err.len, &err.info, T0);
		free(exact);
		if (mutate && n >= need[v6])
			assert_true(st == FW_CT_INVALID || st == FW_CT_RELATED);
		else
			assert_int_equal(st, FW_CT_INVALID);
	}
	assert_int_equal(stats(&f).active, 2);
	fix_close(&f);
}

/* --- the table ----------------------------------------------------------------- */

static void
test_full_table_refuses_and_keeps_the_rest(void **state)
{
	struct fix f;
	struct pkt out[5], back[4];
	char src[32];

	(void)state;
	fix_open(&f, 4);
	for (unsigned i = 0; i < 5; i++) {
		snprintf(src, sizeof(src), "10.0.0.%u", i + 1);
		mk_udp(&out[i], 4, src, 1000, "10.9.0.1", 53);
		if (i < 4)
			mk_udp(&back[i], 4, "10.9.0.1", 53, src, 1000);
	}
	for (unsigned i = 0; i < 4; i++)
		assert_int_equal(pass(&f, &out[i], T0), FW_CT_NEW);
	assert_int_equal(look(&f, &out[4], T0), FW_CT_NEW);
	assert_int_equal(create(&f, &out[4], T0), -ENOSPC);
	assert_int_equal(create(&f, &out[4], T0), -ENOSPC);
	assert_int_equal(stats(&f).full, 2);
	assert_int_equal(stats(&f).active, 4);
	assert_int_equal(stats(&f).created, 4);
	for (unsigned i = 0; i < 4; i++)
		assert_int_equal(look(&f, &back[i], T0 + S), FW_CT_ESTABLISHED);

	/* Connections past expiry make room on the spot. Flows 0-3 replied at
	 * T0+1 s (120 s); flow 0 is kept alive, the rest are due at T0+121 s. */
	assert_int_equal(look(&f, &out[0], T0 + 100 * S), FW_CT_ESTABLISHED);
	assert_int_equal(create(&f, &out[4], T0 + 121 * S), 0);
	assert_int_equal(stats(&f).active, 2);
	assert_int_equal(stats(&f).expired, 3);
	assert_int_equal(look(&f, &back[0], T0 + 121 * S), FW_CT_ESTABLISHED);
	fix_close(&f);
}

static void
test_expire_is_bounded_by_budget(void **state)
{
	struct fix f;
	struct pkt p;
	char src[32];
	uint32_t total = 0, n;

	(void)state;
	fix_open(&f, CONNS);
	for (unsigned i = 0; i < 40; i++) {
		snprintf(src, sizeof(src), "10.0.1.%u", i + 1);
		mk_udp(&p, 4, src, 1000, "10.9.0.1", 53);
		assert_int_equal(pass(&f, &p, T0 + (i < 20 ? 0 : 10 * S)), FW_CT_NEW);
	}
	/* Nothing due yet: a slice looks and deletes nothing. */
	assert_int_equal(fw_ct_expire(f.ct, T0 + 29 * S, 1000), 0);
	/* At T0+30 s the first 20 are due, 10 slots a call. */
	for (unsigned call = 0; call < 4; call++) {
		n = fw_ct_expire(f.ct, T0 + 30 * S, 10);
		assert_true(n <= 10);
		total += n;
	}
	assert_int_equal(total, 20);
	assert_int_equal(stats(&f).active, 20);
	/* The rest at T0+40 s, in slices of 7. */
	for (unsigned call = 0; call < 10; call++)
		total += fw_ct_expire(f.ct, T0 + 40 * S, 7);
	assert_int_equal(total, 40);
	assert_int_equal(stats(&f).active, 0);
	assert_int_equal(stats(&f).expired, 40);
	assert_int_equal(fw_ct_expire(f.ct, T0 + 50 * S, 7), 0);
	fix_close(&f);
}

static void
test_reopen_keeps_connections(void **state)
{
	struct fix f;
	struct tcp_pair t;
	struct fw_ct_timeouts to;
	struct fw_ct *ct2, *ro;
	struct mpdp_errbuf eb = { { 0 } };
	struct fw_ct_conn_view v;

	(void)state;
	fix_open(&f, CONNS);
	mk_pair(&t, 4, "10.0.0.1", 40000, "10.0.0.2", 80);
	handshake(&f, &t, T0);

	/* The firewall restarts with a shorter established timeout. */
	fw_ct_timeouts_default(&to);
	to.tcp_established = 3600;
	assert_int_equal(fw_ct_open(f.mem, f.len, CONNS, &to, &ct2, &eb), 1);
	assert_ptr_equal(ct2, f.ct);
	assert_int_equal(stats(&f).active, 1);
	assert_int_equal(stats(&f).created, 1);
	expect_tcp_state(&f, FW_CT_TCP_ESTABLISHED, T0 + 432000 * S);
	/* The reply of a connection opened before the restart passes. */
	assert_int_equal(look(&f, &t.s2c[P_DATA], T0 + S), FW_CT_ESTABLISHED);
	expect_tcp_state(&f, FW_CT_TCP_ESTABLISHED, T0 + S + 3600 * S);

	/* Another size is refused, naming both. */
	assert_int_equal(fw_ct_open(f.mem, f.len, CONNS / 2, NULL, &ct2, &eb), -EEXIST);
	assert_non_null(strstr(eb.msg, "64"));
	assert_non_null(strstr(eb.msg, "32"));

	/* A reader attaches from "another process" and sees it. */
	assert_int_equal(fw_ct_attach(f.mem, f.len, &ro, &eb), 0);
	{
		struct one_view o = { .n = 0 };

		assert_int_equal(fw_ct_walk(ro, keep_view, &o), 1);
		v = o.v;
	}
	assert_int_equal(v.tcp_state, FW_CT_TCP_ESTABLISHED);
	assert_int_equal(v.pkts[1], 2);
	assert_int_equal(fw_ct_attach(f.mem, 100, &ro, &eb), -EINVAL);
	fix_close(&f);
}

static void
test_open_and_attach_refuse_bad_memory(void **state)
{
	struct mpdp_errbuf eb = { { 0 } };
	struct fw_ct_timeouts to;
	struct fw_ct *ct = NULL;
	uint64_t len = fw_ct_mem_size(16);
	uint8_t *mem = aligned_alloc(64, (len + 63) & ~(uint64_t)63);

	(void)state;
	assert_non_null(mem);
	assert_int_equal(fw_ct_mem_size(0), 0);
	assert_int_equal(fw_ct_mem_size(FW_CT_CONNS_MAX + 1), 0);

	memset(mem, 0, len);
	assert_int_equal(fw_ct_attach(mem, len, &ct, &eb), -ENOENT);
	assert_int_equal(fw_ct_open(mem, len - 1, 16, NULL, &ct, &eb), -EINVAL);
	assert_int_equal(fw_ct_open(mem, len, 0, NULL, &ct, &eb), -EINVAL);
	fw_ct_timeouts_default(&to);
	to.udp = 0;
	assert_int_equal(fw_ct_open(mem, len, 16, &to, &ct, &eb), -EINVAL);
	assert_non_null(strstr(eb.msg, "udp"));
	assert_null(ct);
	/* Refusals wrote nothing. */
	for (uint64_t i = 0; i < len; i++)
		assert_int_equal(mem[i], 0);

	memset(mem, 0x5a, len);
	assert_int_equal(fw_ct_open(mem, len, 16, NULL, &ct, &eb), -EEXIST);
	assert_non_null(strstr(eb.msg, "something else"));
	assert_int_equal(fw_ct_attach(mem, len, &ct, &eb), -EPROTO);
	assert_null(ct);
	free(mem);
}

static void
test_timeouts_parse(void **state)
{
	struct fw_ct_timeouts t, d;
	struct mpdp_errbuf eb = { { 0 } };
	static const char *const bad[] = {
		"tcp-established", "tcp-established=", "tcp-established=0",
		"tcp-established=-5", "tcp-established=12x", "tcp-established= 5",
		"tcp-established=1073741825", "tcp-established=99999999999999999999999",
		"=5", "tcp=5", "udp_stream=5", "",
	};

	(void)state;
	fw_ct_timeouts_default(&d);
	assert_int_equal(d.tcp_syn_sent, 120);
	assert_int_equal(d.tcp_syn_recv, 60);
	assert_int_equal(d.tcp_established, 432000);
	assert_int_equal(d.tcp_fin_wait, 120);
	assert_int_equal(d.tcp_close_wait, 60);
	assert_int_equal(d.tcp_last_ack, 30);
	assert_int_equal(d.tcp_time_wait, 120);
	assert_int_equal(d.tcp_close, 10);
	assert_int_equal(d.udp, 30);
	assert_int_equal(d.udp_stream, 120);
	assert_int_equal(d.icmp, 30);
	assert_int_equal(d.generic, 600);

	t = d;
	assert_int_equal(fw_ct_timeout_set(&t, "tcp-established=3600", &eb), 0);
	assert_int_equal(t.tcp_established, 3600);
	assert_int_equal(fw_ct_timeout_set(&t, "udp-stream=1", &eb), 0);
	assert_int_equal(t.udp_stream, 1);
	assert_int_equal(fw_ct_timeout_set(&t, "generic=1073741824", &eb), 0);
	assert_int_equal(t.generic, FW_CT_TIMEOUT_MAX);
	assert_int_equal(fw_ct_timeout_set(&t, "icmp=5", &eb), 0);
	assert_int_equal(fw_ct_timeout_set(&t, "tcp-close=7", &eb), 0);
	assert_int_equal(t.icmp, 5);
	assert_int_equal(t.tcp_close, 7);

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct fw_ct_timeouts before = t;

		eb.msg[0] = '\0';
		assert_int_equal(fw_ct_timeout_set(&t, bad[i], &eb), -EINVAL);
		assert_true(eb.msg[0] != '\0');
		assert_memory_equal(&before, &t, sizeof(t));
	}
	assert_int_equal(fw_ct_timeout_set(&t, NULL, &eb), -EINVAL);
	assert_int_equal(fw_ct_timeout_set(&t, "tcp=5", &eb), -EINVAL);
	assert_non_null(strstr(eb.msg, "unknown name 'tcp'"));
	assert_non_null(strstr(eb.msg, "tcp-time-wait"));
	assert_int_equal(fw_ct_timeout_set(&t, "udp=abc", &eb), -EINVAL);
	assert_non_null(strstr(eb.msg, "1 to 1073741824"));
	assert_int_equal(fw_ct_timeout_set(&t, "udp", &eb), -EINVAL);
	assert_non_null(strstr(eb.msg, "NAME=SECONDS"));
}

static void
test_names_and_printing(void **state)
{
	struct fix f;
	struct tcp_pair t;
	struct pkt ping;
	char *buf = NULL;
	size_t blen = 0;
	FILE *m;
	struct fw_ct_conn_view v;

	(void)state;
	assert_string_equal(fw_ct_state_name(FW_CT_NEW), "new");
	assert_string_equal(fw_ct_state_name(FW_CT_ESTABLISHED), "established");
	assert_string_equal(fw_ct_state_name(FW_CT_RELATED), "related");
	assert_string_equal(fw_ct_state_name(FW_CT_INVALID), "invalid");
	assert_string_equal(fw_ct_state_name(FW_CT_N_STATES), "?");
	assert_string_equal(fw_ct_tcp_state_name(FW_CT_TCP_TIME_WAIT), "TIME_WAIT");
	assert_string_equal(fw_ct_tcp_state_name(FW_CT_TCP_SYN_SENT2), "SYN_SENT2");
	assert_string_equal(fw_ct_tcp_state_name(FW_CT_TCP_N_STATES), "?");

	fix_open(&f, CONNS);
	mk_pair(&t, 4, "10.0.0.1", 40000, "10.0.0.2", 80);
	handshake(&f, &t, T0);
	v = only_conn(&f);

	m = open_memstream(&buf, &blen);
	assert_non_null(m);
	fw_ct_conn_print(&v, m, 0);
	fputc('\n', m);
	fw_ct_conn_print(&v, m, 1);
	fputc('\n', m);
	fw_ct_stats_print(f.ct, m, 0);
	fputc('\n', m);
	fw_ct_stats_print(f.ct, m, 1);
	fclose(m);
	assert_non_null(strstr(buf, "tcp   ESTABLISHED 10.0.0.1:40000 -> 10.0.0.2:80  pkts 2/1"));
	assert_non_null(strstr(buf, "\"proto\":\"tcp\",\"state\":\"ESTABLISHED\""));
	assert_non_null(strstr(buf, "\"orig\":{\"src\":\"10.0.0.1\",\"dst\":\"10.0.0.2\","
				    "\"sport\":40000,\"dport\":80}"));
	assert_non_null(strstr(buf, "\"reply\":{\"src\":\"10.0.0.2\",\"dst\":\"10.0.0.1\""));
	assert_non_null(strstr(buf, "active 1/64, created 1, expired 0"));
	assert_non_null(strstr(buf, "{\"active\":1,\"max\":64,\"created\":1,"
				    "\"expired\":0,\"full\":0}"));
	free(buf);
	fix_close(&f);

	fix_open(&f, CONNS);
	mk_icmp(&ping, 6, "2001:db8::1", "2001:db8::2", 128, 0, 42, NULL, 0);
	assert_int_equal(pass(&f, &ping, T0), FW_CT_NEW);
	v = only_conn(&f);
	buf = NULL;
	m = open_memstream(&buf, &blen);
	assert_non_null(m);
	fw_ct_conn_print(&v, m, 0);
	fputc('\n', m);
	fw_ct_conn_print(&v, m, 1);
	fclose(m);
	assert_non_null(strstr(buf, "icmp6 UNREPLIED   2001:db8::1 -> 2001:db8::2 id 42"));
	assert_non_null(strstr(buf, "\"id\":42,\"type\":128"));
	assert_non_null(strstr(buf, "\"type\":129"));
	free(buf);
	fix_close(&f);
}

static int
stop_after_two(const struct fw_ct_conn_view *v, void *arg)
{
	unsigned *n = arg;

	(void)v;
	return ++*n == 2;
}

static void
test_walk_stops_when_asked(void **state)
{
	struct fix f;
	struct pkt p;
	char src[32];
	unsigned n = 0;

	(void)state;
	fix_open(&f, CONNS);
	for (unsigned i = 0; i < 5; i++) {
		snprintf(src, sizeof(src), "10.0.2.%u", i + 1);
		mk_udp(&p, 4, src, 1000, "10.9.0.1", 53);
		assert_int_equal(pass(&f, &p, T0), FW_CT_NEW);
	}
	assert_int_equal(fw_ct_walk(f.ct, stop_after_two, &n), 2);
	assert_int_equal(n, 2);
	fix_close(&f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tcp_full_lifecycle),
		cmocka_unit_test(test_tcp_close_with_fin_ack_both_ways),
		cmocka_unit_test(test_tcp_rst_closes),
		cmocka_unit_test(test_syn_reopens_time_wait_and_close),
		cmocka_unit_test(test_tcp_loose_pickup_and_invalid_flags),
		cmocka_unit_test(test_tcp_refused_packet_changes_nothing),
		cmocka_unit_test(test_simultaneous_open),
		cmocka_unit_test(test_ipv6_tcp),
		cmocka_unit_test(test_udp_timeouts_unreplied_then_replied),
		cmocka_unit_test(test_icmp_echo_matches_by_identifier),
		cmocka_unit_test(test_other_protocol_by_address_pair),
		cmocka_unit_test(test_untracked_and_unparsed_packets),
		cmocka_unit_test(test_icmp_error_related_v4),
		cmocka_unit_test(test_icmp_error_related_v6),
		cmocka_unit_test(test_icmp_error_garbage_quotes),
		cmocka_unit_test(test_full_table_refuses_and_keeps_the_rest),
		cmocka_unit_test(test_expire_is_bounded_by_budget),
		cmocka_unit_test(test_reopen_keeps_connections),
		cmocka_unit_test(test_open_and_attach_refuse_bad_memory),
		cmocka_unit_test(test_timeouts_parse),
		cmocka_unit_test(test_names_and_printing),
		cmocka_unit_test(test_walk_stops_when_asked),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

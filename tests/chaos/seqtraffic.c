/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * seqtraffic: numbered traffic for the chaos test (tests/chaos/chaos.sh) and
 * the TCP frames of the state-survival test (test_state_survives.sh).
 *
 *   gen FILE N [FLOWS]
 *       N UDP/IPv4 frames (60 bytes) into the pcap FILE. Frame i belongs to
 *       flow i % FLOWS (default 300, at most 50000): from the inside host
 *       10.0.(f / 250).(f % 250 + 2) port 10000 + f to 203.0.113.(f % 100 + 1)
 *       port 7000 + f % 13. Its payload is the magic "MPSQ", the flow number
 *       (32 bits) and the sequence number i (64 bits), big-endian. Every
 *       checksum is valid.
 *   check FILE [N]
 *       reads the frames that left the chain (after NAT: still UDP, the
 *       source translated) and prints one JSON line:
 *         received      frames in FILE
 *         ours          frames carrying the magic, a flow and a sequence number in range
 *         unique        distinct sequence numbers among them
 *         duplicates    ours - unique: a sequence number seen more than once
 *         max_seq       the highest sequence number seen (null when none)
 *         missing       N (or max_seq + 1 without N) - unique
 *         reordered     frames whose sequence number is below an earlier one of the same flow
 *         flows         flows seen
 *         remapped      flows that left with more than one source endpoint (a NAT mapping that moved)
 *         untranslated  frames still carrying an inside (10.0.0.0/8) source
 *         bad_checksum  frames whose IPv4 or UDP checksum is wrong
 *         corrupt       frames of ours whose destination is not the one of their flow
 *         foreign       frames that are not ours (or a sequence number >= N, or
 *                       >= 2^28 without N)
 *   tcp FILE SPEC...
 *       one TCP/IPv4 frame per SPEC, "SRC:PORT>DST:PORT FLAGS SEQ ACK LEN"
 *       (FLAGS from FSRPAU, LEN payload bytes), valid checksums.
 *   dump FILE
 *       one line per frame: "tcp SRC:PORT>DST:PORT FLAGS seq=S ack=A len=L csum=ok|bad",
 *       "udp SRC:PORT>DST:PORT len=L csum=ok|bad", or "other LEN".
 *
 * Exit: 0; 1 when a file cannot be read or written; 2 for bad arguments.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <pcap/pcap.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mpdp_pkt.h"

#define ETH_LEN 14
#define IP_LEN 20
#define UDP_LEN 8
#define TCP_LEN 20
#define MIN_FRAME 60u
#define MAX_FRAME 1514u
#define SEQ_PAYLOAD 16
#define SEQ_MAGIC 0x4d505351u /* "MPSQ" */
#define FLOWS_DEFAULT 300u
#define FLOWS_MAX 50000u
#define TS_BASE 1767225600u /* 2026-01-01 00:00:00 UTC */

struct flow_seen {
	uint64_t last_seq;
	uint32_t saddr;       /* the first source endpoint seen (network order) */
	uint16_t sport;
	uint8_t seen;
	uint8_t remapped;
};

struct check {
	uint64_t n;           /* sequence numbers 0..n-1 are ours; 0: grow as needed */
	uint8_t *bits;
	uint64_t bits_len;    /* bytes */
	struct flow_seen *flows;
	uint64_t received, ours, unique, duplicates, reordered, n_flows, remapped;
	uint64_t untranslated, bad_checksum, corrupt, foreign;
	uint64_t max_seq;
	int any;
};

/* Ones' complement sum of big-endian 16-bit words, not yet folded. */
static uint32_t
sum16(uint32_t sum, const uint8_t *p, size_t len)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += mpdp_get_be16(p + i);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	return sum;
}

static uint16_t
fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

/* The L4 checksum field's value over the pseudo header and the segment (field zeroed). */
static uint16_t
l4_csum(const uint8_t *ip, const uint8_t *l4, uint16_t l4_len)
{
	uint32_t sum = sum16(0, ip + 12, 8);

	sum += ip[9];
	sum += l4_len;
	sum = sum16(sum, l4, l4_len);
	return (uint16_t)~fold(sum);
}

/* Ethernet (locally administered MACs from the addresses) and an IPv4 header; returns the IP header. */
static uint8_t *
put_eth_ip(uint8_t *b, uint32_t src, uint32_t dst, uint8_t proto, uint16_t l4_len, uint16_t id)
{
	uint8_t *ip = b + ETH_LEN;

	memset(b, 0, ETH_LEN + IP_LEN);
	b[0] = 0x02;
	mpdp_put_be32(b + 2, dst);
	b[6] = 0x02;
	mpdp_put_be32(b + 8, src);
	mpdp_put_be16(b + 12, 0x0800);
	ip[0] = 0x45;
	mpdp_put_be16(ip + 2, (uint16_t)(IP_LEN + l4_len));
	mpdp_put_be16(ip + 4, id);
	ip[8] = 64;
	ip[9] = proto;
	mpdp_put_be32(ip + 12, src);
	mpdp_put_be32(ip + 16, dst);
	mpdp_put_be16(ip + 10, (uint16_t)~fold(sum16(0, ip, IP_LEN)));
	return ip;
}

static void
flow_ends(uint32_t f, uint32_t *src, uint16_t *sport, uint32_t *dst, uint16_t *dport)
{
	*src = 10u << 24 | (f / 250) << 8 | (f % 250 + 2);
	*sport = (uint16_t)(10000 + f);
	*dst = 203u << 24 | 0u << 16 | 113u << 8 | (f % 100 + 1);
	*dport = (uint16_t)(7000 + f % 13);
}

static int
parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (s[0] < '0' || s[0] > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < lo || v > hi)
		return -EINVAL;
	*out = v;
	return 0;
}

static pcap_dumper_t *
open_out(const char *file, pcap_t **dead)
{
	pcap_dumper_t *d;

	*dead = pcap_open_dead(DLT_EN10MB, 65535);
	if (*dead == NULL) {
		fprintf(stderr, "seqtraffic: pcap_open_dead failed\n");
		return NULL;
	}
	d = pcap_dump_open(*dead, file);
	if (d == NULL) {
		fprintf(stderr, "seqtraffic: %s: %s\n", file, pcap_geterr(*dead));
		pcap_close(*dead);
	}
	return d;
}

static int
close_out(const char *file, pcap_t *dead, pcap_dumper_t *d)
{
	int rc = pcap_dump_flush(d);

	pcap_dump_close(d);
	pcap_close(dead);
	if (rc != 0) {
		fprintf(stderr, "seqtraffic: %s: write failed\n", file);
		return 1;
	}
	return 0;
}

static void
write_frame(pcap_dumper_t *d, const uint8_t *b, unsigned len, uint64_t i)
{
	struct pcap_pkthdr h = { .caplen = len, .len = len };

	h.ts.tv_sec = (time_t)(TS_BASE + i / 100000);
	h.ts.tv_usec = (suseconds_t)(i % 100000 * 10);
	pcap_dump((u_char *)d, &h, b);
}

static int
cmd_gen(int argc, char **argv)
{
	uint64_t n, flows = FLOWS_DEFAULT;
	uint8_t b[MIN_FRAME];
	pcap_dumper_t *d;
	pcap_t *dead;

	if (argc < 4 || argc > 5 || parse_u64(argv[3], 1, UINT32_MAX, &n) != 0 ||
	    (argc == 5 && parse_u64(argv[4], 1, FLOWS_MAX, &flows) != 0)) {
		fprintf(stderr, "seqtraffic gen FILE N [FLOWS]: N from 1 to %u, FLOWS from 1 to %u\n",
			UINT32_MAX, FLOWS_MAX);
		return 2;
	}
	d = open_out(argv[2], &dead);
	if (d == NULL)
		return 1;
	for (uint64_t i = 0; i < n; i++) {
		uint32_t f = (uint32_t)(i % flows), src, dst;
		uint16_t sport, dport, l4_len = UDP_LEN + SEQ_PAYLOAD;
		uint8_t *ip, *udp, *pl;

		memset(b, 0, sizeof(b));
		flow_ends(f, &src, &sport, &dst, &dport);
		ip = put_eth_ip(b, src, dst, 17, l4_len, (uint16_t)i);
		udp = ip + IP_LEN;
		pl = udp + UDP_LEN;
		mpdp_put_be16(udp, sport);
		mpdp_put_be16(udp + 2, dport);
		mpdp_put_be16(udp + 4, l4_len);
		mpdp_put_be32(pl, SEQ_MAGIC);
		mpdp_put_be32(pl + 4, f);
		mpdp_put_be32(pl + 8, (uint32_t)(i >> 32));
		mpdp_put_be32(pl + 12, (uint32_t)i);
		mpdp_put_be16(udp + 6, l4_csum(ip, udp, l4_len));
		write_frame(d, b, sizeof(b), i);
	}
	return close_out(argv[2], dead, d);
}

/* The IPv4 header of an untagged frame, or NULL; *l4_len is what the IP length leaves for L4. */
static const uint8_t *
frame_ip(const uint8_t *b, uint32_t caplen, uint16_t *l4_len)
{
	const uint8_t *ip = b + ETH_LEN;
	unsigned ihl, tot;

	if (caplen < ETH_LEN + IP_LEN || mpdp_get_be16(b + 12) != 0x0800 || (ip[0] >> 4) != 4)
		return NULL;
	ihl = (ip[0] & 15u) * 4;
	tot = mpdp_get_be16(ip + 2);
	if (ihl < IP_LEN || tot < ihl || ETH_LEN + tot > caplen)
		return NULL;
	*l4_len = (uint16_t)(tot - ihl);
	return ip;
}

/* 1 when the IPv4 header checksum and the L4 one (UDP 0 means none) are right. */
static int
csum_ok(const uint8_t *ip, uint16_t l4_len)
{
	unsigned ihl = (ip[0] & 15u) * 4;
	const uint8_t *l4 = ip + ihl;
	uint32_t sum;

	if (fold(sum16(0, ip, ihl)) != 0xffff)
		return 0;
	if (ip[9] == 17 && mpdp_get_be16(l4 + 6) == 0)
		return 1;
	sum = sum16(0, ip + 12, 8) + ip[9] + l4_len;
	return fold(sum16(sum, l4, l4_len)) == 0xffff;
}

static int
seen_set(struct check *c, uint64_t seq)
{
	uint64_t byte = seq / 8;
	int was;

	if (byte >= c->bits_len) {
		uint64_t len = c->bits_len ? c->bits_len : 4096;
		uint8_t *nb;

		while (len <= byte)
			len *= 2;
		nb = realloc(c->bits, len);
		if (nb == NULL)
			return -ENOMEM;
		memset(nb + c->bits_len, 0, len - c->bits_len);
		c->bits = nb;
		c->bits_len = len;
	}
	was = c->bits[byte] >> (seq % 8) & 1;
	c->bits[byte] |= (uint8_t)(1u << (seq % 8));
	return was;
}

static int
check_frame(struct check *c, const uint8_t *b, uint32_t caplen)
{
	const uint8_t *ip, *udp, *pl;
	uint16_t l4_len, sport, dport, want_sport, want_dport;
	uint32_t f, src, dst, want_src, want_dst;
	struct flow_seen *fs;
	uint64_t seq;
	int was;

	c->received++;
	ip = frame_ip(b, caplen, &l4_len);
	if (ip == NULL || ip[9] != 17 || l4_len < UDP_LEN + SEQ_PAYLOAD) {
		c->foreign++;
		return 0;
	}
	udp = ip + (ip[0] & 15u) * 4;
	pl = udp + UDP_LEN;
	f = mpdp_get_be32(pl + 4);
	seq = (uint64_t)mpdp_get_be32(pl + 8) << 32 | mpdp_get_be32(pl + 12);
	if (mpdp_get_be32(pl) != SEQ_MAGIC || f >= FLOWS_MAX || (c->n != 0 && seq >= c->n) || seq >= 1ull << 28) {
		c->foreign++;
		return 0;
	}
	c->ours++;
	if (!csum_ok(ip, l4_len))
		c->bad_checksum++;
	src = mpdp_get_be32(ip + 12);
	dst = mpdp_get_be32(ip + 16);
	sport = mpdp_get_be16(udp);
	dport = mpdp_get_be16(udp + 2);
	flow_ends(f, &want_src, &want_sport, &want_dst, &want_dport);
	if (dst != want_dst || dport != want_dport)
		c->corrupt++;
	if (src >> 24 == 10)
		c->untranslated++;
	was = seen_set(c, seq);
	if (was < 0)
		return was;
	if (was)
		c->duplicates++;
	else
		c->unique++;
	if (!c->any || seq > c->max_seq)
		c->max_seq = seq;
	c->any = 1;
	fs = &c->flows[f];
	if (!fs->seen) {
		fs->seen = 1;
		fs->saddr = src;
		fs->sport = sport;
		fs->last_seq = seq;
		c->n_flows++;
		return 0;
	}
	if (seq < fs->last_seq)
		c->reordered++;
	else
		fs->last_seq = seq;
	if ((fs->saddr != src || fs->sport != sport) && !fs->remapped) {
		fs->remapped = 1;
		c->remapped++;
	}
	return 0;
}

static int
cmd_check(int argc, char **argv)
{
	char err[PCAP_ERRBUF_SIZE];
	struct check c = { 0 };
	struct pcap_pkthdr *h;
	const u_char *data;
	pcap_t *p;
	int rc;

	if (argc < 3 || argc > 4 || (argc == 4 && parse_u64(argv[3], 1, UINT32_MAX, &c.n) != 0)) {
		fprintf(stderr, "seqtraffic check FILE [N]: N from 1 to %u\n", UINT32_MAX);
		return 2;
	}
	p = pcap_open_offline(argv[2], err);
	if (p == NULL) {
		fprintf(stderr, "seqtraffic: %s: %s\n", argv[2], err);
		return 1;
	}
	c.flows = calloc(FLOWS_MAX, sizeof(*c.flows));
	if (c.flows == NULL) {
		pcap_close(p);
		fprintf(stderr, "seqtraffic: out of memory\n");
		return 1;
	}
	while ((rc = pcap_next_ex(p, &h, &data)) == 1) {
		if (check_frame(&c, data, h->caplen) != 0) {
			rc = -ENOMEM;
			break;
		}
	}
	if (rc == PCAP_ERROR || rc == -ENOMEM)
		fprintf(stderr, "seqtraffic: %s: %s\n", argv[2], rc == -ENOMEM ? "out of memory" : pcap_geterr(p));
	pcap_close(p);
	free(c.flows);
	free(c.bits);
	if (rc == PCAP_ERROR || rc == -ENOMEM)
		return 1;
	uint64_t expect = c.n ? c.n : c.any ? c.max_seq + 1 : 0;
	char max[24] = "null";

	if (c.any)
		snprintf(max, sizeof(max), "%" PRIu64, c.max_seq);
	printf("{\"received\":%" PRIu64 ",\"ours\":%" PRIu64 ",\"unique\":%" PRIu64
	       ",\"duplicates\":%" PRIu64 ",\"max_seq\":%s,\"missing\":%" PRIu64
	       ",\"reordered\":%" PRIu64 ",\"flows\":%" PRIu64 ",\"remapped\":%" PRIu64
	       ",\"untranslated\":%" PRIu64 ",\"bad_checksum\":%" PRIu64 ",\"corrupt\":%" PRIu64
	       ",\"foreign\":%" PRIu64 "}\n",
	       c.received, c.ours, c.unique, c.duplicates, max, expect - c.unique, c.reordered,
	       c.n_flows, c.remapped, c.untranslated, c.bad_checksum, c.corrupt, c.foreign);
	return 0;
}

static int
parse_endpoint(const char *s, size_t len, uint32_t *addr, uint16_t *port)
{
	char buf[32];
	const char *colon;
	struct in_addr a;
	uint64_t p;

	if (len == 0 || len >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, len);
	buf[len] = '\0';
	colon = strrchr(buf, ':');
	if (colon == NULL || parse_u64(colon + 1, 0, 65535, &p) != 0)
		return -EINVAL;
	buf[colon - buf] = '\0';
	if (inet_pton(AF_INET, buf, &a) != 1)
		return -EINVAL;
	*addr = ntohl(a.s_addr);
	*port = (uint16_t)p;
	return 0;
}

static const char tcp_flag_letters[] = "FSRPAU";

/* "SRC:PORT>DST:PORT FLAGS SEQ ACK LEN" into one frame; returns its length, 0 when SPEC is bad. */
static unsigned
build_tcp(const char *spec, uint16_t id, uint8_t *b)
{
	char ends[80], flags[8], seq_s[24], ack_s[24], len_s[8], extra[2];
	uint64_t seq, ack, plen;
	uint32_t src, dst;
	uint16_t sport, dport, l4_len;
	const char *gt;
	uint8_t bits = 0, *ip, *tcp;
	unsigned frame;

	if (sscanf(spec, "%79s %7s %23s %23s %7s %1s", ends, flags, seq_s, ack_s, len_s, extra) != 5)
		return 0;
	gt = strchr(ends, '>');
	if (gt == NULL || parse_endpoint(ends, (size_t)(gt - ends), &src, &sport) != 0 ||
	    parse_endpoint(gt + 1, strlen(gt + 1), &dst, &dport) != 0 ||
	    parse_u64(seq_s, 0, UINT32_MAX, &seq) != 0 || parse_u64(ack_s, 0, UINT32_MAX, &ack) != 0 ||
	    parse_u64(len_s, 0, MAX_FRAME - ETH_LEN - IP_LEN - TCP_LEN, &plen) != 0)
		return 0;
	for (const char *c = flags; *c != '\0'; c++) {
		const char *at = strchr(tcp_flag_letters, *c);

		if (at == NULL)
			return 0;
		bits |= (uint8_t)(1u << (at - tcp_flag_letters));
	}
	l4_len = (uint16_t)(TCP_LEN + plen);
	frame = ETH_LEN + IP_LEN + l4_len;
	memset(b, 0, MAX_FRAME);
	ip = put_eth_ip(b, src, dst, 6, l4_len, id);
	tcp = ip + IP_LEN;
	mpdp_put_be16(tcp, sport);
	mpdp_put_be16(tcp + 2, dport);
	mpdp_put_be32(tcp + 4, (uint32_t)seq);
	mpdp_put_be32(tcp + 8, (uint32_t)ack);
	tcp[12] = 5 << 4;
	tcp[13] = bits;
	mpdp_put_be16(tcp + 14, 65535);
	for (uint64_t i = 0; i < plen; i++)
		tcp[TCP_LEN + i] = (uint8_t)('a' + (seq + i) % 26);
	mpdp_put_be16(tcp + 16, l4_csum(ip, tcp, l4_len));
	return frame < MIN_FRAME ? MIN_FRAME : frame;
}

static int
cmd_tcp(int argc, char **argv)
{
	uint8_t b[MAX_FRAME];
	pcap_dumper_t *d;
	pcap_t *dead;

	if (argc < 4) {
		fprintf(stderr, "seqtraffic tcp FILE 'SRC:PORT>DST:PORT FLAGS SEQ ACK LEN'...\n");
		return 2;
	}
	for (int i = 3; i < argc; i++) {
		if (build_tcp(argv[i], 0, b) == 0) {
			fprintf(stderr, "seqtraffic tcp: '%s' is not 'SRC:PORT>DST:PORT FLAGS SEQ ACK LEN' "
				"(FLAGS from %s)\n", argv[i], tcp_flag_letters);
			return 2;
		}
	}
	d = open_out(argv[2], &dead);
	if (d == NULL)
		return 1;
	for (int i = 3; i < argc; i++)
		write_frame(d, b, build_tcp(argv[i], (uint16_t)i, b), (uint64_t)i);
	return close_out(argv[2], dead, d);
}

static void
dump_frame(const uint8_t *b, uint32_t caplen)
{
	char sa[INET_ADDRSTRLEN], da[INET_ADDRSTRLEN];
	struct in_addr a;
	const uint8_t *ip, *l4;
	uint16_t l4_len;

	ip = frame_ip(b, caplen, &l4_len);
	if (ip == NULL || (ip[9] == 6 && l4_len < TCP_LEN) || (ip[9] == 17 && l4_len < UDP_LEN) ||
	    (ip[9] != 6 && ip[9] != 17)) {
		printf("other %u\n", caplen);
		return;
	}
	l4 = ip + (ip[0] & 15u) * 4;
	a.s_addr = htonl(mpdp_get_be32(ip + 12));
	inet_ntop(AF_INET, &a, sa, sizeof(sa));
	a.s_addr = htonl(mpdp_get_be32(ip + 16));
	inet_ntop(AF_INET, &a, da, sizeof(da));
	if (ip[9] == 17) {
		printf("udp %s:%u>%s:%u len=%u csum=%s\n", sa, mpdp_get_be16(l4), da, mpdp_get_be16(l4 + 2),
		       l4_len - UDP_LEN, csum_ok(ip, l4_len) ? "ok" : "bad");
		return;
	}
	char flags[8];
	unsigned k = 0, hlen = (l4[12] >> 4) * 4u;

	for (unsigned i = 0; tcp_flag_letters[i] != '\0'; i++) {
		if (l4[13] & (1u << i))
			flags[k++] = tcp_flag_letters[i];
	}
	if (k == 0)
		flags[k++] = '-';
	flags[k] = '\0';
	printf("tcp %s:%u>%s:%u %s seq=%" PRIu32 " ack=%" PRIu32 " len=%u csum=%s\n", sa, mpdp_get_be16(l4), da,
	       mpdp_get_be16(l4 + 2), flags, mpdp_get_be32(l4 + 4), mpdp_get_be32(l4 + 8), hlen <= l4_len ? l4_len - hlen : 0,
	       csum_ok(ip, l4_len) ? "ok" : "bad");
}

static int
cmd_dump(int argc, char **argv)
{
	char err[PCAP_ERRBUF_SIZE];
	struct pcap_pkthdr *h;
	const u_char *data;
	pcap_t *p;
	int rc;

	if (argc != 3) {
		fprintf(stderr, "seqtraffic dump FILE\n");
		return 2;
	}
	p = pcap_open_offline(argv[2], err);
	if (p == NULL) {
		fprintf(stderr, "seqtraffic: %s: %s\n", argv[2], err);
		return 1;
	}
	while ((rc = pcap_next_ex(p, &h, &data)) == 1)
		dump_frame(data, h->caplen);
	if (rc == PCAP_ERROR)
		fprintf(stderr, "seqtraffic: %s: %s\n", argv[2], pcap_geterr(p));
	pcap_close(p);
	return rc == PCAP_ERROR ? 1 : 0;
}

int
main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "gen") == 0)
		return cmd_gen(argc, argv);
	if (argc >= 2 && strcmp(argv[1], "check") == 0)
		return cmd_check(argc, argv);
	if (argc >= 2 && strcmp(argv[1], "tcp") == 0)
		return cmd_tcp(argc, argv);
	if (argc >= 2 && strcmp(argv[1], "dump") == 0)
		return cmd_dump(argc, argv);
	fprintf(stderr, "usage: seqtraffic gen FILE N [FLOWS]\n"
			"       seqtraffic check FILE [N]\n"
			"       seqtraffic tcp FILE 'SRC:PORT>DST:PORT FLAGS SEQ ACK LEN'...\n"
			"       seqtraffic dump FILE\n");
	return 2;
}

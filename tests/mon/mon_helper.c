/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mon_helper: what test_mon.sh needs besides the programs under test.
 *
 *   flows OUT N P
 *       a microsecond pcap of N IPv4 UDP flows (10.1.x.y:10000+i -> 10.2.0.1:9000,
 *       100-byte frames) sent round robin P times, so the first flows seen
 *       are the first N listed; then the ten bad or odd frames below, in
 *       this order.
 *   pool NAME RUNDIR POOL
 *       attach to instance NAME and print "in_use N avail N" for the pool.
 *
 * The odd frames, after the flows (what mpdp-mon counts for each):
 *   1. 10 bytes: shorter than an Ethernet header      truncated, not eth
 *   2. IPv4 header cut after 10 bytes                 ipv4, truncated
 *   3. IPv4 with IHL 4                                ipv4, malformed
 *   4. IPv4 TCP whose TCP header is cut at 10 bytes   ipv4, tcp, truncated (a flow, ports 0)
 *   5. IPv4 UDP fragment at offset 800                ipv4, fragment (a flow, ports 0)
 *   6. three 802.1Q tags                              vlan, malformed, other
 *   7. IPv6 header cut after 20 bytes                 ipv6, truncated
 *   8. ARP cut after 4 bytes                          arp, truncated
 *   9. IPv4 GRE (protocol 47)                         ipv4, l4_other (a flow, ports 0)
 *  10. IPv4 UDP, 1600 bytes                           ipv4, udp, size >1518 (a flow)
 * Frames 1-9 are shorter than 64 bytes.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mpdp_pool.h"
#include "mpdp_shm.h"

#define FLOW_FRAME 100
#define BIG_FRAME 1600

struct writer {
	pcap_dumper_t *d;
	unsigned seq;
};

static void
put(struct writer *w, const uint8_t *b, unsigned len)
{
	struct pcap_pkthdr h;

	/* 2026-01-01, 10 us apart, like the demo traffic. */
	h.ts.tv_sec = 1767225600 + w->seq / 100000;
	h.ts.tv_usec = (suseconds_t)(w->seq % 100000) * 10;
	h.caplen = h.len = len;
	pcap_dump((u_char *)w->d, &h, b);
	w->seq++;
}

static unsigned
eth(uint8_t *b, uint16_t type)
{
	static const uint8_t macs[12] = { 2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1 };

	memcpy(b, macs, 12);
	b[12] = (uint8_t)(type >> 8);
	b[13] = (uint8_t)type;
	return 14;
}

/* An IPv4 header at b: 20 bytes, total length tot. */
static void
ipv4(uint8_t *b, uint8_t proto, unsigned tot, uint32_t src, uint32_t dst, uint16_t frag)
{
	b[0] = 0x45;
	b[2] = (uint8_t)(tot >> 8);
	b[3] = (uint8_t)tot;
	b[6] = (uint8_t)(frag >> 8);
	b[7] = (uint8_t)frag;
	b[8] = 64;
	b[9] = proto;
	src = htonl(src);
	dst = htonl(dst);
	memcpy(b + 12, &src, 4);
	memcpy(b + 16, &dst, 4);
}

static void
udp(uint8_t *b, uint16_t sport, uint16_t dport, unsigned len)
{
	b[0] = (uint8_t)(sport >> 8);
	b[1] = (uint8_t)sport;
	b[2] = (uint8_t)(dport >> 8);
	b[3] = (uint8_t)dport;
	b[4] = (uint8_t)(len >> 8);
	b[5] = (uint8_t)len;
}

static void
odd_frames(struct writer *w)
{
	uint8_t b[BIG_FRAME];
	unsigned off;

	memset(b, 0, sizeof(b));
	put(w, b, 10);                                          /* 1 */

	off = eth(b, 0x0800);
	ipv4(b + off, 17, 28, 0x0a030001, 0x0a030002, 0);
	put(w, b, off + 10);                                    /* 2 */

	memset(b, 0, sizeof(b));
	off = eth(b, 0x0800);
	ipv4(b + off, 17, 28, 0x0a030001, 0x0a030002, 0);
	b[off] = 0x44;
	put(w, b, off + 20);                                    /* 3 */

	memset(b, 0, sizeof(b));
	off = eth(b, 0x0800);
	ipv4(b + off, 6, 40, 0x0a030003, 0x0a030004, 0);
	put(w, b, off + 30);                                    /* 4 */

	memset(b, 0, sizeof(b));
	off = eth(b, 0x0800);
	ipv4(b + off, 17, 28, 0x0a030005, 0x0a030006, 800 / 8);
	put(w, b, 60);                                          /* 5 */

	memset(b, 0, sizeof(b));
	off = eth(b, 0x8100);
	for (int i = 0; i < 3; i++) {
		b[off + 1] = (uint8_t)(i + 1);
		b[off + 2] = i < 2 ? 0x81 : 0x08;
		off += 4;
	}
	put(w, b, 60);                                          /* 6 */

	memset(b, 0, sizeof(b));
	off = eth(b, 0x86dd);
	b[off] = 0x60;
	put(w, b, off + 20);                                    /* 7 */

	memset(b, 0, sizeof(b));
	off = eth(b, 0x0806);
	b[off + 1] = 1;
	put(w, b, off + 4);                                     /* 8 */

	memset(b, 0, sizeof(b));
	off = eth(b, 0x0800);
	ipv4(b + off, 47, 46, 0x0a030007, 0x0a030008, 0);
	put(w, b, 60);                                          /* 9 */

	memset(b, 0, sizeof(b));
	off = eth(b, 0x0800);
	ipv4(b + off, 17, BIG_FRAME - off, 0x0a030009, 0x0a03000a, 0);
	udp(b + off + 20, 7000, 7001, BIG_FRAME - off - 20);
	put(w, b, BIG_FRAME);                                   /* 10 */
}

static int
flows(const char *out, unsigned n, unsigned p)
{
	struct writer w = { NULL, 0 };
	pcap_t *dead = pcap_open_dead(DLT_EN10MB, 65535);
	uint8_t b[FLOW_FRAME];

	if (dead == NULL)
		return 1;
	w.d = pcap_dump_open(dead, out);
	if (w.d == NULL) {
		fprintf(stderr, "mon_helper: %s\n", pcap_geterr(dead));
		pcap_close(dead);
		return 1;
	}
	for (unsigned r = 0; r < p; r++) {
		for (unsigned i = 0; i < n; i++) {
			unsigned off;

			memset(b, 0, sizeof(b));
			off = eth(b, 0x0800);
			ipv4(b + off, 17, FLOW_FRAME - off, 0x0a010000 + i, 0x0a020001, 0);
			udp(b + off + 20, (uint16_t)(10000 + i), 9000, FLOW_FRAME - off - 20);
			put(&w, b, FLOW_FRAME);
		}
	}
	odd_frames(&w);
	pcap_dump_close(w.d);
	pcap_close(dead);
	return 0;
}

static int
pool(const char *name, const char *rundir, const char *pool_name)
{
	struct mpdp_errbuf eb = { "" };
	struct mpdp_shm *shm;
	struct mpdp_pool *p;
	int rc = mpdp_shm_attach(name, rundir, &shm, &eb);

	if (rc != 0) {
		fprintf(stderr, "mon_helper: %s\n", eb.msg);
		return 1;
	}
	rc = mpdp_pool_lookup(shm, pool_name, &p);
	if (rc == 0)
		printf("in_use %u avail %u\n", mpdp_pool_in_use_count(p), mpdp_pool_avail_count(p));
	else
		fprintf(stderr, "mon_helper: pool %s: %s\n", pool_name, mpdp_strerror(rc));
	mpdp_shm_close(shm);
	return rc == 0 ? 0 : 1;
}

int
main(int argc, char **argv)
{
	if (argc == 5 && strcmp(argv[1], "flows") == 0)
		return flows(argv[2], (unsigned)atoi(argv[3]), (unsigned)atoi(argv[4]));
	if (argc == 5 && strcmp(argv[1], "pool") == 0)
		return pool(argv[2], argv[3], argv[4]);
	fprintf(stderr, "usage: mon_helper flows OUT N P | pool NAME RUNDIR POOL\n");
	return 2;
}

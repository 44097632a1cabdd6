/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Test frames of the af_packet tests: Ethernet + IPv4 + UDP carrying a
 * marker, a run id and a sequence number, then a pattern derived from the
 * sequence number, so a receiver can rebuild every expected frame and
 * compare it byte for byte. Flows (UDP source ports) vary with the
 * sequence number, so a fanout hash spreads them over the queues.
 */
#ifndef AFP_FRAME_H
#define AFP_FRAME_H

#include <stdint.h>
#include <string.h>

#define AFP_FRAME_MAX 1514
#define AFP_FRAME_MIN 60
#define AFP_MARKER "MPDPAFPT"
#define AFP_HDRS (14 + 20 + 8)          /* Ethernet, IPv4, UDP */
#define AFP_MARK_OFF AFP_HDRS           /* marker (8), run id (4), seq (4) */

/* Frame length of @p seq: @p size, or a spread over 60..1514 when size is 0. */
static inline unsigned
afp_frame_len(uint32_t seq, unsigned size)
{
	return size ? size : AFP_FRAME_MIN + (seq * 7919u) % (AFP_FRAME_MAX - AFP_FRAME_MIN + 1);
}

static inline void
afp_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline uint32_t
afp_get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Build frame @p seq of run @p run into @p f (AFP_FRAME_MAX bytes); returns its length. */
static inline unsigned
afp_frame_build(uint8_t *f, uint32_t run, uint32_t seq, unsigned size, unsigned flows)
{
	static const uint8_t eth[14] = { 0x02, 0, 0, 0, 0x0b, 0x02, 0x02, 0, 0, 0, 0x0b, 0x01, 0x08, 0x00 };
	unsigned len = afp_frame_len(seq, size), ip_len = len - 14, sum = 0;
	uint16_t sport = (uint16_t)(10000 + (flows ? seq % flows : 0));
	uint8_t *ip = f + 14, *udp = ip + 20;

	memcpy(f, eth, sizeof(eth));
	memset(ip, 0, 20);
	ip[0] = 0x45;
	ip[2] = (uint8_t)(ip_len >> 8);
	ip[3] = (uint8_t)ip_len;
	ip[8] = 64;
	ip[9] = 17;
	afp_put32(ip + 12, 0x0a630001);   /* 10.99.0.1 */
	afp_put32(ip + 16, 0x0a630002);   /* 10.99.0.2 */
	for (unsigned i = 0; i < 20; i += 2)
		sum += (unsigned)ip[i] << 8 | ip[i + 1];
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	ip[10] = (uint8_t)(~sum >> 8);
	ip[11] = (uint8_t)~sum;
	udp[0] = (uint8_t)(sport >> 8);
	udp[1] = (uint8_t)sport;
	udp[2] = 0;
	udp[3] = 9;
	udp[4] = (uint8_t)((ip_len - 20) >> 8);
	udp[5] = (uint8_t)(ip_len - 20);
	udp[6] = udp[7] = 0;
	memcpy(f + AFP_MARK_OFF, AFP_MARKER, 8);
	afp_put32(f + AFP_MARK_OFF + 8, run);
	afp_put32(f + AFP_MARK_OFF + 12, seq);
	for (unsigned i = AFP_MARK_OFF + 16; i < len; i++)
		f[i] = (uint8_t)(seq * 31u + i);
	return len;
}

/* @return 1 when @p f is a frame of run @p run (whatever its sequence number). */
static inline int
afp_frame_is_ours(const uint8_t *f, unsigned len, uint32_t run)
{
	return len >= AFP_MARK_OFF + 16 && memcmp(f + AFP_MARK_OFF, AFP_MARKER, 8) == 0 &&
	       afp_get32(f + AFP_MARK_OFF + 8) == run;
}

#endif /* AFP_FRAME_H */

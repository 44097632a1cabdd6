/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * afp-plain: the baseline for bench-afpacket.sh. A plain TPACKET_V3 program
 * doing what mpdp's af_packet port does, without mpdp: the same ring
 * geometry (64 KiB blocks x 64, 2048-byte frames, 1 ms block timeout),
 * the same one copy per frame, the same kick per burst of 32.
 *
 *   afp-plain rx IFACE SECONDS     walk the rx ring, copy each frame out
 *   afp-plain tx IFACE SECONDS     fill the tx ring (QDISC_BYPASS) with
 *                                  64-byte frames, kick once per 32
 *
 * Prints one line: "pps N frames F seconds S drops D": N is the median of
 * the per-second frame counts (seconds from the first frame for rx, from
 * the start for tx; the first and the last second left out; S of them);
 * F all frames; D the kernel's rx ring drops (rx) or failed send() calls
 * (tx). Build: cc -O2 -o afp-plain afp-plain.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BLOCKSZ (64u << 10)
#define BLOCKCNT 64u
#define FRAMESZ 2048u
#define BURST 32u
#define FRAME_LEN 64u
#define TX_OFF TPACKET_ALIGN(sizeof(struct tpacket3_hdr))

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
open_ring(const char *ifname, int tx, uint8_t **map)
{
	struct tpacket_req3 req = {
		.tp_block_size = BLOCKSZ, .tp_block_nr = BLOCKCNT, .tp_frame_size = FRAMESZ,
		.tp_frame_nr = BLOCKCNT * (BLOCKSZ / FRAMESZ), .tp_retire_blk_tov = tx ? 0 : 1,
	};
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL) };
	int fd = socket(AF_PACKET, SOCK_RAW, 0), v = TPACKET_V3, one = 1;

	sll.sll_ifindex = (int)if_nametoindex(ifname);
	if (fd < 0 || sll.sll_ifindex == 0 ||
	    setsockopt(fd, SOL_PACKET, PACKET_VERSION, &v, sizeof(v)) != 0 ||
	    setsockopt(fd, SOL_PACKET, tx ? PACKET_TX_RING : PACKET_RX_RING, &req, sizeof(req)) != 0) {
		perror("afp-plain: socket/ring");
		exit(1);
	}
	if (tx) {
		int sndbuf = (int)(BLOCKSZ * BLOCKCNT);

		setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one));
		setsockopt(fd, SOL_PACKET, PACKET_LOSS, &one, sizeof(one));
		setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof(sndbuf));
		sll.sll_protocol = 0;  /* send only */
	} else {
		setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one));
	}
	*map = mmap(NULL, (size_t)BLOCKSZ * BLOCKCNT, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
	if (*map == MAP_FAILED || bind(fd, (struct sockaddr *)&sll, sizeof(sll)) != 0) {
		perror("afp-plain: mmap/bind");
		exit(1);
	}
	return fd;
}

/* Frame counts sampled at each whole second from a start time. */
struct seconds {
	double start;
	unsigned n;
	uint64_t at[4096];
};

static void
seconds_tick(struct seconds *s, double t, uint64_t frames)
{
	while (s->n < 4096 && t - s->start >= (double)s->n) {
		s->at[s->n] = frames;
		s->n++;
	}
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * Median of the per-second frame counts, the first second (warm-up) and
 * the last (partial) left out, as mpdp's rates are read from its
 * per-second counters.
 */
static void
report(struct seconds *s, uint64_t frames, uint64_t drops)
{
	uint64_t d[4096];
	unsigned k = 0;

	for (unsigned i = 2; i + 1 < s->n; i++)
		d[k++] = s->at[i] - s->at[i - 1];
	qsort(d, k, sizeof(d[0]), cmp_u64);
	printf("pps %llu frames %llu seconds %u drops %llu\n",
	       (unsigned long long)(k == 0 ? 0 : k % 2 ? d[k / 2] : (d[k / 2 - 1] + d[k / 2]) / 2),
	       (unsigned long long)frames, k, (unsigned long long)drops);
}

static int
run_rx(const char *ifname, double secs)
{
	static struct seconds sec;
	uint8_t *map, scratch[FRAMESZ];
	int fd = open_ring(ifname, 0, &map);
	double start = now(), t;
	uint64_t frames = 0, sum = 0, drops = 0;
	unsigned b = 0;
	struct tpacket_stats_v3 st;
	socklen_t sl = sizeof(st);

	/* Seconds count from the first frame. */
	while ((t = now()) - start < secs) {
		struct tpacket_block_desc *bd = (struct tpacket_block_desc *)(map + (size_t)b * BLOCKSZ);
		uint8_t *f;

		if (sec.start != 0)
			seconds_tick(&sec, t, frames);
		if (!(__atomic_load_n(&bd->hdr.bh1.block_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER))
			continue;
		if (sec.start == 0) {
			sec.start = t;
			seconds_tick(&sec, t, 0);
		}
		f = (uint8_t *)bd + bd->hdr.bh1.offset_to_first_pkt;
		for (uint32_t i = 0; i < bd->hdr.bh1.num_pkts; i++) {
			const struct tpacket3_hdr *h = (const struct tpacket3_hdr *)f;

			memcpy(scratch, f + h->tp_mac, h->tp_snaplen);
			sum += scratch[0];
			f += h->tp_next_offset;
		}
		frames += bd->hdr.bh1.num_pkts;
		__atomic_store_n(&bd->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
		b = (b + 1) % BLOCKCNT;
	}
	if (getsockopt(fd, SOL_PACKET, PACKET_STATISTICS, &st, &sl) == 0)
		drops = st.tp_drops;
	report(&sec, frames, drops);
	return sum == 0xdeadbeef; /* keep the copies */
}

static int
run_tx(const char *ifname, double secs)
{
	static const uint8_t frame[FRAME_LEN] = {
		0x02, 0, 0, 0, 0x0b, 0x02, 0x02, 0, 0, 0, 0x0b, 0x01, 0x08, 0x00,
		0x45, 0, 0, 50, 0, 0, 0, 0, 64, 17, 0, 0, 10, 99, 0, 1, 10, 99, 0, 2,
		0x27, 0x10, 0, 9, 0, 30,
	};
	uint8_t *map;
	int fd = open_ring(ifname, 1, &map);
	uint32_t nframes = BLOCKCNT * (BLOCKSZ / FRAMESZ), head = 0;
	static struct seconds sec;
	double t;
	uint64_t frames = 0, errors = 0;

	sec.start = now();
	while ((t = now()) - sec.start < secs) {
		unsigned n = 0;

		seconds_tick(&sec, t, frames);
		for (; n < BURST; n++) {
			struct tpacket3_hdr *h = (struct tpacket3_hdr *)(map + (size_t)head * FRAMESZ);

			if (__atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE) != TP_STATUS_AVAILABLE)
				break;
			memcpy((uint8_t *)h + TX_OFF, frame, FRAME_LEN);
			h->tp_len = FRAME_LEN;
			h->tp_snaplen = FRAME_LEN;
			h->tp_next_offset = 0;
			__atomic_store_n(&h->tp_status, TP_STATUS_SEND_REQUEST, __ATOMIC_RELEASE);
			head = head + 1 == nframes ? 0 : head + 1;
		}
		frames += n;
		if (send(fd, NULL, 0, MSG_DONTWAIT) < 0 && errno != EAGAIN && errno != ENOBUFS)
			errors++;
	}
	report(&sec, frames, errors);
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc != 4 || (strcmp(argv[1], "rx") != 0 && strcmp(argv[1], "tx") != 0)) {
		fprintf(stderr, "usage: afp-plain rx|tx IFACE SECONDS\n");
		return 2;
	}
	return strcmp(argv[1], "rx") == 0 ? run_rx(argv[2], atof(argv[3])) : run_tx(argv[2], atof(argv[3]));
}

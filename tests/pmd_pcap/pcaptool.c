/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pcaptool: test traffic for the pcap driver's integration tests.
 *
 *   gen OUT COUNT [--nano] [--snap N] [--seq S] [--ts-step NS]
 *       COUNT marked frames of mixed sizes (60 to 1514 bytes, both ends
 *       included), increasing timestamps; --snap N cuts records longer than
 *       N bytes to N (len is kept), --nano writes a nanosecond file.
 *   cmp IN OUT [--repeat N] [--marked] [--no-ts] [--set-dst MAC]
 *       OUT must hold IN's records N times over, in order, byte for byte,
 *       same caplen, len and (microsecond) timestamp; --marked ignores
 *       frames in OUT that are not ours, --no-ts skips the timestamps
 *       (live captures are stamped anew), --set-dst expects every frame
 *       of IN with its destination MAC rewritten to MAC.
 *   cat OUT IN...
 *       the records of every IN, in order, into OUT (microseconds).
 *   send IF FILE [--burst N --gap-us U]
 *       write every frame of FILE to interface IF (AF_PACKET), in order;
 *       with --burst, pause U microseconds after every N frames (a live
 *       receiver's ring is finite and the test machines are shared).
 *   recv IF OUT COUNT TIMEOUT_MS
 *       capture marked frames arriving on IF into OUT until COUNT of them
 *       or TIMEOUT_MS of silence; prints "ready" once capturing.
 *
 * A marked frame: broadcast destination, source 02:00:00:00:00:01,
 * EtherType 0x88b5 (local experimental), then "MPDPPCAP" and a 32-bit
 * sequence number; the rest is a pattern derived from the sequence.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <net/if.h>
#include <linux/if_packet.h>
#include <pcap.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define FRAME_MAX 1514
#define MARK_OFF 14
#define MARK "MPDPPCAP"
#define TS_BASE 1700000000ull

struct rec {
	struct pcap_pkthdr h;
	u_char *data;
};

static int
usage(void)
{
	fprintf(stderr, "usage: pcaptool gen OUT COUNT [--nano] [--snap N] [--seq S] [--ts-step NS]\n"
			"       pcaptool cmp IN OUT [--repeat N] [--marked] [--no-ts] [--set-dst MAC]\n"
			"       pcaptool cat OUT IN...\n"
			"       pcaptool send IF FILE [--burst N --gap-us U]\n"
			"       pcaptool recv IF OUT COUNT TIMEOUT_MS\n");
	return 2;
}

static int
is_marked(const u_char *d, uint32_t caplen)
{
	return caplen >= MARK_OFF + 12 && d[12] == 0x88 && d[13] == 0xb5 &&
	       memcmp(d + MARK_OFF, MARK, 8) == 0;
}

/* Sizes: deterministic mix, with the extremes at fixed places. */
static uint32_t
frame_size(uint32_t seq, uint32_t i)
{
	if (i % 97 == 0)
		return 60;
	if (i % 97 == 1)
		return FRAME_MAX;
	return 60 + (seq * 2654435761u >> 7) % (FRAME_MAX - 60 + 1);
}

static void
frame_fill(u_char *f, uint32_t len, uint32_t seq)
{
	static const u_char hdr[14] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
					0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x88, 0xb5 };
	uint32_t nseq = htonl(seq);

	memcpy(f, hdr, sizeof(hdr));
	memcpy(f + MARK_OFF, MARK, 8);
	memcpy(f + MARK_OFF + 8, &nseq, 4);
	for (uint32_t k = MARK_OFF + 12; k < len; k++)
		f[k] = (u_char)(seq * 31 + k);
}

static int
cmd_gen(int argc, char **argv)
{
	uint64_t step = 1234567, snap = 0, seq0 = 1;
	int nano = 0;
	pcap_dumper_t *d;
	pcap_t *dead;
	u_char f[FRAME_MAX];
	long count;

	if (argc < 2)
		return usage();
	count = strtol(argv[1], NULL, 0);
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--nano") == 0)
			nano = 1;
		else if (strcmp(argv[i], "--snap") == 0 && i + 1 < argc)
			snap = strtoull(argv[++i], NULL, 0);
		else if (strcmp(argv[i], "--seq") == 0 && i + 1 < argc)
			seq0 = strtoull(argv[++i], NULL, 0);
		else if (strcmp(argv[i], "--ts-step") == 0 && i + 1 < argc)
			step = strtoull(argv[++i], NULL, 0);
		else
			return usage();
	}
	dead = pcap_open_dead_with_tstamp_precision(DLT_EN10MB, 65535, nano ?
			PCAP_TSTAMP_PRECISION_NANO : PCAP_TSTAMP_PRECISION_MICRO);
	d = dead ? pcap_dump_open(dead, argv[0]) : NULL;
	if (d == NULL) {
		fprintf(stderr, "pcaptool: %s: %s\n", argv[0], dead ? pcap_geterr(dead) : "no memory");
		return 1;
	}
	for (long i = 0; i < count; i++) {
		uint32_t seq = (uint32_t)(seq0 + (uint64_t)i), len = frame_size(seq, (uint32_t)i);
		uint64_t ns = (uint64_t)i * step + (nano ? 7 : 0);
		struct pcap_pkthdr h;

		frame_fill(f, len, seq);
		h.ts.tv_sec = (time_t)(TS_BASE + ns / 1000000000u);
		h.ts.tv_usec = (suseconds_t)(nano ? ns % 1000000000u : ns % 1000000000u / 1000u);
		h.len = len;
		h.caplen = snap && len > snap ? (uint32_t)snap : len;
		pcap_dump((u_char *)d, &h, f);
	}
	pcap_dump_close(d);
	pcap_close(dead);
	return 0;
}

/* Read every record (marked ones only when asked) at microsecond precision. */
static int
read_all(const char *path, int marked, struct rec **out, size_t *n)
{
	char eb[PCAP_ERRBUF_SIZE];
	struct pcap_pkthdr *h;
	const u_char *data;
	size_t cap = 1024;
	pcap_t *p = pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_MICRO, eb);
	int rc;

	if (p == NULL) {
		fprintf(stderr, "pcaptool: %s\n", eb);
		return -1;
	}
	*n = 0;
	*out = malloc(cap * sizeof(**out));
	while ((rc = pcap_next_ex(p, &h, &data)) == 1) {
		if (marked && !is_marked(data, h->caplen))
			continue;
		if (*n == cap) {
			cap *= 2;
			*out = realloc(*out, cap * sizeof(**out));
		}
		(*out)[*n].h = *h;
		(*out)[*n].data = malloc(h->caplen ? h->caplen : 1);
		memcpy((*out)[*n].data, data, h->caplen);
		(*n)++;
	}
	if (rc != PCAP_ERROR_BREAK)
		fprintf(stderr, "pcaptool: %s: %s\n", path, pcap_geterr(p));
	pcap_close(p);
	return rc == PCAP_ERROR_BREAK ? 0 : -1;
}

static void
free_all(struct rec *r, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(r[i].data);
	free(r);
}

static int
cmd_cmp(int argc, char **argv)
{
	int marked = 0, ts = 1, bad = 0, set_dst = 0;
	unsigned dst[6];
	struct rec *a, *b;
	size_t na, nb;
	long repeat = 1;

	if (argc < 2)
		return usage();
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--repeat") == 0 && i + 1 < argc)
			repeat = strtol(argv[++i], NULL, 0);
		else if (strcmp(argv[i], "--marked") == 0)
			marked = 1;
		else if (strcmp(argv[i], "--no-ts") == 0)
			ts = 0;
		else if (strcmp(argv[i], "--set-dst") == 0 && i + 1 < argc &&
			 sscanf(argv[++i], "%x:%x:%x:%x:%x:%x", &dst[0], &dst[1], &dst[2], &dst[3],
				&dst[4], &dst[5]) == 6)
			set_dst = 1;
		else
			return usage();
	}
	if (read_all(argv[0], 0, &a, &na) != 0 || read_all(argv[1], marked, &b, &nb) != 0)
		return 1;
	for (size_t i = 0; set_dst && i < na; i++) {
		for (int k = 0; k < 6 && a[i].h.caplen >= 14; k++)
			a[i].data[k] = (u_char)dst[k];
	}
	if (nb != na * (size_t)repeat) {
		printf("count: %s has %zu records, %s has %zu, expected %zu\n", argv[0], na, argv[1],
		       nb, na * (size_t)repeat);
		bad++;
	}
	for (size_t i = 0; i < nb && i < na * (size_t)repeat && bad < 10; i++) {
		const struct rec *x = &a[i % na], *y = &b[i];

		if (x->h.caplen != y->h.caplen || x->h.len != y->h.len ||
		    memcmp(x->data, y->data, x->h.caplen) != 0 ||
		    (ts && (x->h.ts.tv_sec != y->h.ts.tv_sec || x->h.ts.tv_usec != y->h.ts.tv_usec))) {
			printf("record %zu differs: caplen %u/%u len %u/%u ts %ld.%06ld/%ld.%06ld%s\n", i,
			       x->h.caplen, y->h.caplen, x->h.len, y->h.len, (long)x->h.ts.tv_sec,
			       (long)x->h.ts.tv_usec, (long)y->h.ts.tv_sec, (long)y->h.ts.tv_usec,
			       x->h.caplen == y->h.caplen && memcmp(x->data, y->data, x->h.caplen) ?
			       " (bytes differ)" : "");
			bad++;
		}
	}
	if (bad == 0)
		printf("%zu records match (%ld x %zu)\n", nb, repeat, na);
	free_all(a, na);
	free_all(b, nb);
	return bad ? 1 : 0;
}

static int
cmd_cat(int argc, char **argv)
{
	pcap_dumper_t *d;
	pcap_t *dead;

	if (argc < 2)
		return usage();
	dead = pcap_open_dead(DLT_EN10MB, 65535);
	d = dead ? pcap_dump_open(dead, argv[0]) : NULL;
	if (d == NULL) {
		fprintf(stderr, "pcaptool: %s: cannot write\n", argv[0]);
		return 1;
	}
	for (int i = 1; i < argc; i++) {
		struct rec *r;
		size_t n;

		if (read_all(argv[i], 0, &r, &n) != 0)
			return 1;
		for (size_t k = 0; k < n; k++)
			pcap_dump((u_char *)d, &r[k].h, r[k].data);
		free_all(r, n);
	}
	pcap_dump_close(d);
	pcap_close(dead);
	return 0;
}

static int
cmd_send(int argc, char **argv)
{
	struct sockaddr_ll sll = { .sll_family = AF_PACKET };
	long burst = 0, gap = 0;
	struct rec *r;
	size_t n;
	int fd;

	if (argc < 2)
		return usage();
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--burst") == 0 && i + 1 < argc)
			burst = strtol(argv[++i], NULL, 0);
		else if (strcmp(argv[i], "--gap-us") == 0 && i + 1 < argc)
			gap = strtol(argv[++i], NULL, 0);
		else
			return usage();
	}
	/* Protocol 0: this socket only sends, it receives nothing. */
	fd = socket(AF_PACKET, SOCK_RAW, 0);
	sll.sll_ifindex = (int)if_nametoindex(argv[0]);
	if (fd < 0 || sll.sll_ifindex == 0 || bind(fd, (struct sockaddr *)&sll, sizeof(sll)) != 0) {
		fprintf(stderr, "pcaptool: %s: %s\n", argv[0], strerror(errno));
		return 1;
	}
	if (read_all(argv[1], 0, &r, &n) != 0)
		return 1;
	for (size_t i = 0; i < n; i++) {
		while (send(fd, r[i].data, r[i].h.caplen, 0) < 0) {
			if (errno != ENOBUFS && errno != EAGAIN) {
				fprintf(stderr, "pcaptool: send frame %zu: %s\n", i, strerror(errno));
				return 1;
			}
			usleep(100);
		}
		if (burst > 0 && (i + 1) % (size_t)burst == 0)
			usleep((useconds_t)gap);
	}
	printf("sent %zu\n", n);
	free_all(r, n);
	close(fd);
	return 0;
}

static int
cmd_recv(int argc, char **argv)
{
	char eb[PCAP_ERRBUF_SIZE];
	struct pcap_pkthdr *h;
	const u_char *data;
	pcap_dumper_t *d;
	struct pollfd pfd;
	long want, timeout, got = 0;
	pcap_t *p;

	if (argc < 4)
		return usage();
	want = strtol(argv[2], NULL, 0);
	timeout = strtol(argv[3], NULL, 0);
	p = pcap_create(argv[0], eb);
	if (p == NULL) {
		fprintf(stderr, "pcaptool: %s\n", eb);
		return 1;
	}
	/* Slots of about 1.6 KiB: 64 MiB holds ~40000 frames (marked frames fit the MTU). */
	pcap_set_snaplen(p, 1518);
	pcap_set_immediate_mode(p, 1);
	pcap_set_buffer_size(p, 64 << 20);
	if (pcap_activate(p) < 0 || pcap_setnonblock(p, 1, eb) != 0 ||
	    pcap_setdirection(p, PCAP_D_IN) != 0) {
		fprintf(stderr, "pcaptool: %s: %s\n", argv[0], pcap_geterr(p));
		return 1;
	}
	d = pcap_dump_open(p, argv[1]);
	if (d == NULL) {
		fprintf(stderr, "pcaptool: %s\n", pcap_geterr(p));
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	pfd.fd = pcap_get_selectable_fd(p);
	pfd.events = POLLIN;
	while (got < want) {
		int rc = pcap_next_ex(p, &h, &data);

		if (rc == 1) {
			if (is_marked(data, h->caplen)) {
				pcap_dump((u_char *)d, h, data);
				got++;
			}
			continue;
		}
		if (rc < 0) {
			fprintf(stderr, "pcaptool: %s\n", pcap_geterr(p));
			break;
		}
		if (poll(&pfd, 1, (int)timeout) == 0)
			break;
	}
	pcap_dump_close(d);
	pcap_close(p);
	printf("received %ld\n", got);
	return got == want ? 0 : 1;
}

int
main(int argc, char **argv)
{
	if (argc < 2)
		return usage();
	if (strcmp(argv[1], "gen") == 0)
		return cmd_gen(argc - 2, argv + 2);
	if (strcmp(argv[1], "cmp") == 0)
		return cmd_cmp(argc - 2, argv + 2);
	if (strcmp(argv[1], "cat") == 0)
		return cmd_cat(argc - 2, argv + 2);
	if (strcmp(argv[1], "send") == 0)
		return cmd_send(argc - 2, argv + 2);
	if (strcmp(argv[1], "recv") == 0)
		return cmd_recv(argc - 2, argv + 2);
	return usage();
}

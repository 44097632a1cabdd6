/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * afp-recv: count the test frames (afp_frame.h) of run RUN arriving on an
 * interface and compare each with the frame it should be, byte for byte.
 *
 *   afp-recv -i IFACE -n EXPECT -r RUN [-s SIZE] [-f FLOWS] [-o FIRST]
 *            [-t TIMEOUT_MS] [-q QUIET_MS]
 *
 * Prints "ready" once listening. Stops QUIET_MS after the last expected
 * frame (to catch duplicates) or at TIMEOUT_MS, then prints one line:
 * "received R of N: missing M, duplicates D, corrupt C". Exit 0 when
 * exactly the N expected frames arrived, each once and intact.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "afp_frame.h"

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int
main(int argc, char **argv)
{
	const char *iface = NULL;
	unsigned long expect = 0, run = 0, size = 0, flows = 64, first = 0, timeout = 10000, quiet = 300;
	unsigned long got = 0, dups = 0, corrupt = 0, foreign = 0;
	uint8_t buf[65536], want[AFP_FRAME_MAX], *seen;
	struct sockaddr_ll sll;
	uint64_t start, last_done = 0;
	int c, fd, big = 64 << 20;

	while ((c = getopt(argc, argv, "i:n:r:s:f:o:t:q:")) != -1) {
		switch (c) {
		case 'i': iface = optarg; break;
		case 'n': expect = strtoul(optarg, NULL, 0); break;
		case 'r': run = strtoul(optarg, NULL, 0); break;
		case 's': size = strtoul(optarg, NULL, 0); break;
		case 'f': flows = strtoul(optarg, NULL, 0); break;
		case 'o': first = strtoul(optarg, NULL, 0); break;
		case 't': timeout = strtoul(optarg, NULL, 0); break;
		case 'q': quiet = strtoul(optarg, NULL, 0); break;
		default: goto usage;
		}
	}
	if (iface == NULL || expect == 0)
		goto usage;
	seen = calloc(expect, 1);
	fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_IP));
	if (seen == NULL || fd < 0) {
		perror("afp-recv: socket");
		return 1;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big)) != 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(ETH_P_IP);
	sll.sll_ifindex = (int)if_nametoindex(iface);
	if (sll.sll_ifindex == 0 || bind(fd, (struct sockaddr *)&sll, sizeof(sll)) != 0) {
		fprintf(stderr, "afp-recv: %s: %s\n", iface, strerror(errno));
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	start = now_ms();
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		uint64_t t = now_ms();
		struct sockaddr_ll from;
		socklen_t fl = sizeof(from);
		ssize_t n;

		if (t - start >= timeout || (last_done && t - last_done >= quiet))
			break;
		if (poll(&pfd, 1, 20) <= 0)
			continue;
		n = recvfrom(fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
		if (n <= 0 || from.sll_pkttype == PACKET_OUTGOING)
			continue;
		if (!afp_frame_is_ours(buf, (unsigned)n, (uint32_t)run)) {
			foreign++;
			continue;
		}
		{
			uint32_t seq = afp_get32(buf + AFP_MARK_OFF + 12);
			unsigned len;

			if (seq < first || seq - first >= expect) {
				corrupt++;
				continue;
			}
			len = afp_frame_build(want, (uint32_t)run, seq, (unsigned)size, (unsigned)flows);
			if ((unsigned)n != len || memcmp(buf, want, len) != 0) {
				corrupt++;
				continue;
			}
			if (seen[seq - first]++) {
				dups++;
				continue;
			}
			if (++got == expect)
				last_done = now_ms();
		}
	}
	printf("received %lu of %lu: missing %lu, duplicates %lu, corrupt %lu (other frames %lu)\n",
	       got, expect, expect - got, dups, corrupt, foreign);
	fflush(stdout);
	free(seen);
	close(fd);
	return got == expect && dups == 0 && corrupt == 0 ? 0 : 1;

usage:
	fprintf(stderr, "usage: afp-recv -i IFACE -n EXPECT -r RUN [-s SIZE] [-f FLOWS] [-o FIRST] "
		"[-t TIMEOUT_MS] [-q QUIET_MS]\n");
	return 2;
}

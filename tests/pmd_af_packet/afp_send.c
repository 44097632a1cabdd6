/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * afp-send: send COUNT test frames (afp_frame.h) on an interface through a
 * plain AF_PACKET socket, paced to PPS frames per second.
 *
 *   afp-send -i IFACE -n COUNT -r RUN [-s SIZE] [-f FLOWS] [-p PPS] [-o FIRST]
 *
 * SIZE 0 (the default) spreads lengths over 60..1514. Exit 0 when every
 * frame was handed to the kernel.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "afp_frame.h"

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int
main(int argc, char **argv)
{
	const char *iface = NULL;
	unsigned long count = 0, run = 0, size = 0, flows = 64, pps = 100000, first = 0;
	struct sockaddr_ll sll;
	uint8_t frame[AFP_FRAME_MAX];
	uint64_t start;
	int c, fd;

	while ((c = getopt(argc, argv, "i:n:r:s:f:p:o:")) != -1) {
		switch (c) {
		case 'i': iface = optarg; break;
		case 'n': count = strtoul(optarg, NULL, 0); break;
		case 'r': run = strtoul(optarg, NULL, 0); break;
		case 's': size = strtoul(optarg, NULL, 0); break;
		case 'f': flows = strtoul(optarg, NULL, 0); break;
		case 'p': pps = strtoul(optarg, NULL, 0); break;
		case 'o': first = strtoul(optarg, NULL, 0); break;
		default: goto usage;
		}
	}
	if (iface == NULL || count == 0 || (size != 0 && (size < AFP_FRAME_MIN || size > AFP_FRAME_MAX)))
		goto usage;
	fd = socket(AF_PACKET, SOCK_RAW, 0);
	if (fd < 0) {
		perror("afp-send: socket");
		return 1;
	}
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = 0; /* send only */
	sll.sll_ifindex = (int)if_nametoindex(iface);
	if (sll.sll_ifindex == 0 || bind(fd, (struct sockaddr *)&sll, sizeof(sll)) != 0) {
		fprintf(stderr, "afp-send: %s: %s\n", iface, strerror(errno));
		return 1;
	}
	start = now_ns();
	for (unsigned long i = 0; i < count; i++) {
		uint32_t seq = (uint32_t)(first + i);
		unsigned len = afp_frame_build(frame, (uint32_t)run, seq, (unsigned)size, (unsigned)flows);

		/* Pace: frame i leaves no earlier than i/pps seconds after the start (sleeping, so
		 * the sender leaves the CPU to the forwarder on a small machine). */
		if (pps != 0 && i % 32 == 0) {
			uint64_t due = start + (uint64_t)i * 1000000000ull / pps, t = now_ns();

			if (due > t) {
				struct timespec ts = { (time_t)((due - t) / 1000000000ull),
						       (long)((due - t) % 1000000000ull) };

				nanosleep(&ts, NULL);
			}
		}
		while (send(fd, frame, len, 0) != (ssize_t)len) {
			if (errno != ENOBUFS && errno != EAGAIN && errno != EINTR) {
				fprintf(stderr, "afp-send: send frame %lu: %s\n", i, strerror(errno));
				return 1;
			}
			usleep(100);
		}
	}
	printf("sent %lu frames\n", count);
	close(fd);
	return 0;

usage:
	fprintf(stderr, "usage: afp-send -i IFACE -n COUNT -r RUN [-s SIZE 60..1514, 0: mixed] "
		"[-f FLOWS] [-p PPS, 0: no pacing] [-o FIRST]\n");
	return 2;
}

/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A minimal ping for the tests (iputils ping is not on every machine):
 * "test_ping COUNT ADDRESS" sends COUNT ICMP echo requests to an IPv4
 * address, one every 200 ms, waits up to 2 s for each reply, prints a
 * ping-like summary and exits 0 only when every request was answered.
 * Needs a raw socket (root).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static uint16_t
csum(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint32_t sum = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(b[i] << 8 | b[i + 1]);
	if (len & 1)
		sum += (uint32_t)(b[len - 1] << 8);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return htons((uint16_t)~sum);
}

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Wait for the reply to @p seq; @return 1 when it came within @p timeout_ms. */
static int
wait_reply(int s, uint16_t id, uint16_t seq, double timeout_ms)
{
	double deadline = now_ms() + timeout_ms;

	for (double left; (left = deadline - now_ms()) > 0;) {
		struct pollfd pfd = { .fd = s, .events = POLLIN };
		uint8_t buf[1500];
		const struct icmphdr *icmp;
		size_t hl;
		ssize_t n;

		if (poll(&pfd, 1, (int)left + 1) != 1)
			continue;
		n = recv(s, buf, sizeof(buf), 0);
		if (n < (ssize_t)sizeof(struct iphdr))
			continue;
		hl = (size_t)(buf[0] & 0xf) * 4;
		if ((size_t)n < hl + sizeof(*icmp))
			continue;
		icmp = (const struct icmphdr *)(buf + hl);
		if (icmp->type == ICMP_ECHOREPLY && ntohs(icmp->un.echo.id) == id &&
		    ntohs(icmp->un.echo.sequence) == seq)
			return 1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct sockaddr_in to = { .sin_family = AF_INET };
	unsigned count, received = 0;
	uint16_t id = (uint16_t)getpid();
	int s;

	if (argc != 3 || (count = (unsigned)strtoul(argv[1], NULL, 10)) == 0 ||
	    inet_pton(AF_INET, argv[2], &to.sin_addr) != 1) {
		fprintf(stderr, "usage: %s COUNT IPV4-ADDRESS\n", argv[0]);
		return 2;
	}
	s = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP);
	if (s < 0) {
		fprintf(stderr, "%s: raw socket: %s\n", argv[0], strerror(errno));
		return 2;
	}
	for (unsigned i = 1; i <= count; i++) {
		uint8_t pkt[sizeof(struct icmphdr) + 56] = { 0 };
		struct icmphdr *icmp = (struct icmphdr *)pkt;
		double t0 = now_ms();

		icmp->type = ICMP_ECHO;
		icmp->un.echo.id = htons(id);
		icmp->un.echo.sequence = htons((uint16_t)i);
		for (size_t k = sizeof(*icmp); k < sizeof(pkt); k++)
			pkt[k] = (uint8_t)k;
		icmp->checksum = csum(pkt, sizeof(pkt));
		if (sendto(s, pkt, sizeof(pkt), 0, (struct sockaddr *)&to, sizeof(to)) < 0) {
			printf("icmp_seq=%u send: %s\n", i, strerror(errno));
		} else if (wait_reply(s, id, (uint16_t)i, 2000)) {
			received++;
			printf("64 bytes from %s: icmp_seq=%u time=%.3f ms\n", argv[2], i, now_ms() - t0);
		} else {
			printf("icmp_seq=%u: no reply\n", i);
		}
		if (i < count)
			usleep(200000);
	}
	printf("%u packets transmitted, %u received\n", count, received);
	close(s);
	return received == count ? 0 : 1;
}

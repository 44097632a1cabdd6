/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The pcap driver on live interfaces, through the public port API, on a
 * veth pair in a network namespace of this process's own (unshare), so no
 * other interface sees a frame: opening a down interface, frames both ways
 * with nothing of our own received back, snaplen cuts with the length kept
 * on the way to a file, a frame over the MTU counted as a tx error, kernel
 * drops counted as missed, and link_check
 * following the interface down, deleted and back. Needs root (CAP_NET_ADMIN
 * and CAP_NET_RAW) and ip(8); skipped otherwise.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <pcap.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mpdp_mbuf.h"
#include "mpdp_port.h"
#include "mpdp_shm.h"
#include "test_instance.h"

#define POOL_N 4096
#define MARK_OFF 14

struct fixture {
	struct test_instance ti;
	struct mpdp_pool *pool;
	char dir[64];
};

static void
sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
sh(const char *fmt, ...)
{
	char cmd[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (system(cmd) != 0)
		fail_msg("'%s' failed", cmd);
}

static void
veth_create(void)
{
	sh("ip link add va type veth peer name vb && ip link set va up && ip link set vb up");
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	test_instance_create(&f->ti, "tpcaplive", 64ull << 20, 0);
	if (mpdp_mbuf_pool_create(f->ti.shm, "mbuf", POOL_N, 0, 2048, -1, &f->pool) != 0)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/mpdp-pcaplive-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	veth_create();
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	unsigned in_use = mpdp_pool_in_use_count(f->pool);
	char cmd[128];
	int rc;

	/* Clean up first: a failed test must not leave files or interfaces. */
	rc = system("ip link del va 2>/dev/null; ip link del vd 2>/dev/null; true");
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	rc |= system(cmd);
	test_instance_destroy(&f->ti);
	free(f);
	assert_int_equal(in_use, 0);
	return rc == 0 ? 0 : -1;
}

static struct mpdp_port *
open_ok(struct fixture *f, const char *devargs)
{
	struct mpdp_errbuf eb = { "" };
	struct mpdp_port *port = NULL;
	int rc = mpdp_port_open(f->ti.shm, devargs, f->pool, 64, &port, &eb);

	if (rc != 0)
		fail_msg("'%s': %d %s", devargs, rc, eb.msg);
	return port;
}

static uint64_t
now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* A broadcast frame of @len bytes, EtherType 0x88b5, "MPDPPCAP", seq. */
static void
frame_make(struct mpdp_mbuf *m, uint32_t seq, uint16_t len)
{
	static const uint8_t hdr[14] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
					 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x88, 0xb5 };
	uint8_t *p = mpdp_mbuf_append(m, len);
	uint32_t nseq = htonl(seq);

	assert_non_null(p);
	memcpy(p, hdr, sizeof(hdr));
	memcpy(p + MARK_OFF, "MPDPPCAP", 8);
	memcpy(p + MARK_OFF + 8, &nseq, 4);
	for (uint16_t k = MARK_OFF + 12; k < len; k++)
		p[k] = (uint8_t)(seq + k);
}

/* @return the frame's sequence number, or 0 when it is not ours. */
static uint32_t
frame_seq(const struct mpdp_mbuf *m)
{
	const uint8_t *p = mpdp_mbuf_data(m);
	uint32_t nseq;

	if (m->data_len < MARK_OFF + 12 || p[12] != 0x88 || p[13] != 0xb5 ||
	    memcmp(p + MARK_OFF, "MPDPPCAP", 8) != 0)
		return 0;
	memcpy(&nseq, p + MARK_OFF + 8, 4);
	return ntohl(nseq);
}

static uint16_t
frame_len(uint32_t seq)
{
	return (uint16_t)(60 + seq * 37 % (1514 - 60 + 1));
}

/* Send seq first..first+n-1; every one must be taken (the ring path would retry). */
static void
send_frames(struct fixture *f, struct mpdp_port *port, uint32_t first, unsigned n)
{
	struct mpdp_mbuf *pkts[32];

	for (unsigned done = 0; done < n;) {
		unsigned k = n - done < 32 ? n - done : 32, sent = 0;

		assert_int_equal(mpdp_mbuf_alloc_bulk(f->pool, MPDP_POOL_NO_CACHE, pkts, k), k);
		for (unsigned i = 0; i < k; i++)
			frame_make(pkts[i], first + done + i, frame_len(first + done + i));
		for (int tries = 0; sent < k && tries < 1000; tries++) {
			sent += mpdp_port_tx_burst(port, 0, pkts + sent, (uint16_t)(k - sent));
			if (sent < k)
				usleep(100);
		}
		assert_int_equal(sent, k);
		done += k;
	}
}

/*
 * Receive marked frames until @n arrived or 1 s of silence; check they are
 * first.. in order with their bytes. @return how many.
 */
static unsigned
recv_frames(struct mpdp_port *port, uint32_t first, unsigned n, uint64_t t0)
{
	struct mpdp_mbuf *pkts[32];
	unsigned got = 0, quiet = 0;

	while (got < n && quiet < 1000) {
		uint16_t k = mpdp_port_rx_burst(port, 0, pkts, 32);

		quiet = k ? 0 : quiet + 1;
		if (k == 0)
			usleep(1000);
		for (uint16_t i = 0; i < k; i++) {
			uint32_t seq = frame_seq(pkts[i]);

			if (seq == 0)
				continue;       /* not ours */
			assert_int_equal(seq, first + got);
			assert_int_equal(pkts[i]->data_len, frame_len(seq));
			assert_int_equal(pkts[i]->port, port->id);
			/* live capture times in ns, taken since the test began */
			assert_true(pkts[i]->timestamp >= t0 - 1000000000u);
			assert_true(pkts[i]->timestamp <= now_ns() + 1000000000u);
			got++;
		}
		mpdp_mbuf_free_bulk(pkts, k, port->wid);
	}
	return got;
}

/* Send @n frames from @tx and receive them on @rx, 50 at a time (well within any ring). */
static unsigned
cross(struct fixture *f, struct mpdp_port *tx, struct mpdp_port *rx, uint32_t first, unsigned n)
{
	uint64_t t0 = now_ns();
	unsigned got = 0;

	for (unsigned done = 0; done < n; done += 50) {
		unsigned k = n - done < 50 ? n - done : 50;

		send_frames(f, tx, first + done, k);
		got += recv_frames(rx, first + done, k, t0);
	}
	return got;
}

static unsigned
recv_marked(struct mpdp_port *port, unsigned ms)
{
	struct mpdp_mbuf *pkts[32];
	unsigned got = 0;

	for (unsigned i = 0; i < ms; i++) {
		uint16_t k = mpdp_port_rx_burst(port, 0, pkts, 32);

		for (uint16_t j = 0; j < k; j++)
			got += frame_seq(pkts[j]) != 0;
		mpdp_mbuf_free_bulk(pkts, k, port->wid);
		usleep(1000);
	}
	return got;
}

/*
 * The link as link_check sees it, once it settles: carrier changes reach
 * the interface flags through the kernel's linkwatch work, a moment later.
 */
static int
link_settles(struct mpdp_port *port, int want)
{
	int link = port->ops->link_check(port);

	for (int i = 0; i < 300 && link != want; i++) {
		usleep(10000);
		link = port->ops->link_check(port);
	}
	return link;
}

static void
test_open_fails_on_a_down_interface(void **state)
{
	struct fixture *f = *state;
	struct mpdp_errbuf eb = { "" };
	struct mpdp_port *port = NULL;

	sh("ip link add vd type veth peer name ve");
	assert_int_equal(mpdp_port_open(f->ti.shm, "p0,driver=pcap,iface=vd", f->pool, 64, &port, &eb),
			 -ENETDOWN);
	assert_string_equal(eb.msg, "port p0: iface=vd: the interface is down");
	assert_int_equal(mpdp_port_open(f->ti.shm, "p0,driver=pcap,rx_iface=nosuch0", f->pool, 64,
					&port, &eb), -ENOENT);
	assert_string_equal(eb.msg, "port p0: rx_iface=nosuch0: no such interface");
}

static void
test_frames_cross_both_ways_and_never_come_back(void **state)
{
	struct fixture *f = *state;
	struct mpdp_port *a, *b, *bt;

	a = open_ok(f, "a,driver=pcap,iface=va");
	b = open_ok(f, "b,driver=pcap,rx_iface=vb");
	bt = open_ok(f, "bt,driver=pcap,tx_iface=vb");
	assert_int_equal(a->abi->flags, 0);            /* live: not a file source */
	assert_int_equal(link_settles(a, 1), 1);
	assert_int_equal(link_settles(b, 1), 1);
	assert_int_equal(link_settles(bt, 1), 1);

	assert_int_equal(cross(f, a, b, 1, 2000), 2000);
	assert_int_equal(cross(f, bt, a, 10001, 2000), 2000);
	/* PCAP_D_IN: a port never receives what it sent itself. */
	assert_int_equal(recv_marked(a, 50), 0);
	assert_int_equal(recv_marked(b, 50), 0);
	/* A transmit-only port has no receive side. */
	assert_int_equal(recv_marked(bt, 10), 0);
	mpdp_port_close(bt);
	mpdp_port_close(b);
	mpdp_port_close(a);
}

/* snaplen= cuts what is captured; the file written from it keeps the length seen. */
static void
test_snaplen_cuts_and_the_file_keeps_the_wire_length(void **state)
{
	struct fixture *f = *state;
	struct mpdp_port *a, *b, *out;
	struct mpdp_mbuf *pkts[32];
	char path[128], da[256], eb[PCAP_ERRBUF_SIZE];
	struct pcap_pkthdr *h;
	const u_char *data;
	unsigned got = 0, n = 0;
	pcap_t *p;

	snprintf(path, sizeof(path), "%s/cut.pcap", f->dir);
	snprintf(da, sizeof(da), "out,driver=pcap,tx_pcap=%s", path);
	a = open_ok(f, "a,driver=pcap,tx_iface=va");
	b = open_ok(f, "b,driver=pcap,rx_iface=vb,snaplen=100");
	out = open_ok(f, da);
	send_frames(f, a, 1, 64);
	for (int i = 0; i < 1000 && got < 64; i++) {
		uint16_t k = mpdp_port_rx_burst(b, 0, pkts, 32), keep = 0;

		for (uint16_t j = 0; j < k; j++) {
			if (frame_seq(pkts[j]) == 0) {
				mpdp_mbuf_free(pkts[j], MPDP_POOL_NO_CACHE);
				continue;
			}
			assert_int_equal(pkts[j]->data_len, frame_len(frame_seq(pkts[j])) < 100 ?
					 frame_len(frame_seq(pkts[j])) : 100);
			pkts[keep++] = pkts[j];
		}
		got += keep;
		assert_int_equal(mpdp_port_tx_burst(out, 0, pkts, keep), keep);
		usleep(1000);
	}
	assert_int_equal(got, 64);
	mpdp_port_close(out);
	p = pcap_open_offline(path, eb);
	assert_non_null(p);
	while (pcap_next_ex(p, &h, &data) == 1) {
		n++;
		assert_int_equal(h->len, frame_len(n));
		assert_int_equal(h->caplen, h->len < 100 ? h->len : 100);
	}
	pcap_close(p);
	assert_int_equal(n, 64);
	mpdp_port_close(b);
	mpdp_port_close(a);
}

/* A frame the interface cannot carry is taken and counted, the rest go out. */
static void
test_a_frame_over_the_mtu_counts_a_tx_error(void **state)
{
	struct fixture *f = *state;
	struct mpdp_abi_port_queue s;
	struct mpdp_mbuf *pkts[3];
	struct mpdp_port *a, *b;

	a = open_ok(f, "a,driver=pcap,tx_iface=va");
	b = open_ok(f, "b,driver=pcap,rx_iface=vb");
	assert_int_equal(mpdp_mbuf_alloc_bulk(f->pool, MPDP_POOL_NO_CACHE, pkts, 3), 3);
	frame_make(pkts[0], 1, frame_len(1));
	frame_make(pkts[1], 99, 1600);            /* MTU 1500: 1514 bytes at most */
	frame_make(pkts[2], 2, frame_len(2));
	assert_int_equal(mpdp_port_tx_burst(a, 0, pkts, 3), 3);
	mpdp_port_stats(a->abi, &s);
	assert_int_equal(s.tx_errors, 1);
	assert_int_equal(recv_frames(b, 1, 2, now_ns()), 2);
	mpdp_port_close(b);
	mpdp_port_close(a);
}

/* Frames the kernel dropped because nobody read them show up as rx_missed. */
static void
test_kernel_drops_count_as_missed(void **state)
{
	struct fixture *f = *state;
	struct mpdp_abi_port_queue s;
	struct mpdp_port *a, *b;
	unsigned got;

	a = open_ok(f, "a,driver=pcap,tx_iface=va");
	b = open_ok(f, "b,driver=pcap,rx_iface=vb");
	send_frames(f, a, 1, 20000);
	got = recv_marked(b, 200);
	assert_int_equal(link_settles(b, 1), 1);
	mpdp_port_stats(b->abi, &s);
	print_message("# 20000 sent, %u received, %llu missed\n", got, (unsigned long long)s.rx_missed);
	assert_true(got < 20000);
	assert_int_equal(got + s.rx_missed, 20000);
	mpdp_port_close(b);
	mpdp_port_close(a);
}

static void
test_link_check_follows_the_interface_down_gone_and_back(void **state)
{
	struct fixture *f = *state;
	struct mpdp_abi_port_queue s;
	struct mpdp_mbuf *pkts[8];
	struct mpdp_port *a, *b;

	a = open_ok(f, "a,driver=pcap,iface=va");
	b = open_ok(f, "b,driver=pcap,iface=vb");
	assert_int_equal(link_settles(a, 1), 1);

	/* The peer goes down: no carrier, link down; the handle survives. */
	sh("ip link set vb down");
	assert_int_equal(link_settles(a, 0), 0);
	assert_int_equal(link_settles(b, 0), 0);
	sh("ip link set vb up");
	assert_int_equal(link_settles(a, 1), 1);
	assert_int_equal(link_settles(b, 1), 1);
	assert_int_equal(cross(f, a, b, 1, 10), 10);

	/* Deleted: rx and tx give nothing (tx leaves the packets to the caller), link down. */
	sh("ip link del va");
	assert_int_equal(mpdp_mbuf_alloc_bulk(f->pool, MPDP_POOL_NO_CACHE, pkts, 8), 8);
	for (unsigned i = 0; i < 8; i++)
		frame_make(pkts[i], 100 + i, 60);
	assert_int_equal(mpdp_port_tx_burst(a, 0, pkts, 8), 0);
	assert_int_equal(mpdp_port_rx_burst(b, 0, pkts, 8), 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(a->ops->link_check(a), 0);
		assert_int_equal(b->ops->link_check(b), 0);
		assert_int_equal(mpdp_port_tx_burst(a, 0, pkts, 8), 0);
	}
	mpdp_mbuf_free_bulk(pkts, 8, MPDP_POOL_NO_CACHE);
	mpdp_port_stats(b->abi, &s);
	assert_true(s.rx_errors <= 1);

	/* Back (a new ifindex): both ports reopen and traffic flows again. */
	veth_create();
	assert_int_equal(link_settles(a, 1), 1);
	assert_int_equal(link_settles(b, 1), 1);
	assert_int_equal(cross(f, a, b, 1001, 100), 100);
	assert_int_equal(cross(f, b, a, 2001, 100), 100);
	mpdp_port_close(b);
	mpdp_port_close(a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_fails_on_a_down_interface, setup, teardown),
		cmocka_unit_test_setup_teardown(test_frames_cross_both_ways_and_never_come_back, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_snaplen_cuts_and_the_file_keeps_the_wire_length,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_frame_over_the_mtu_counts_a_tx_error, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_kernel_drops_count_as_missed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_link_check_follows_the_interface_down_gone_and_back,
						setup, teardown),
	};

	if (geteuid() != 0) {
		printf("1..0 # SKIP needs root for a private network namespace and veth\n");
		return 0;
	}
	if (unshare(CLONE_NEWNET) != 0) {
		printf("1..0 # SKIP unshare(CLONE_NEWNET): %s\n", strerror(errno));
		return 0;
	}
	if (system("ip link add vt0 type veth peer name vt1 2>/dev/null && ip link del vt0") != 0) {
		printf("1..0 # SKIP cannot create a veth pair with ip(8)\n");
		return 0;
	}
	/* No IPv6 chatter (neighbour discovery) on the test interfaces. */
	if (system("sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 "
		   "2>/dev/null") != 0)
		printf("# IPv6 stays on; its frames are told apart by the marker\n");
	return cmocka_run_group_tests(tests, NULL, NULL);
}

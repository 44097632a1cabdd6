/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The af_packet driver on real interfaces, through the port API: the test
 * moves itself into a fresh network namespace (so it touches nothing
 * else, and everything it made vanishes with it) and creates a veth pair
 * veth0 (the port) / veth1 (the peer, a plain AF_PACKET socket) and a TAP.
 *
 * Checked: a missing interface and an unknown key; promiscuous mode; frames
 * both ways byte for byte with their length, port and timestamp; the port
 * does not see its own transmissions; frames longer than the data room are
 * rx errors, not truncated; the kernel's ring drops are rx_missed; VLAN
 * tags the kernel strips are put back; a full tx ring takes part of a
 * burst; frames the kernel would refuse are tx errors; fanout delivers each
 * frame once over several queues; link_check follows the interface going
 * down, away and coming back; and frames left pending on a stopped TAP
 * queue are kicked out later (FACTS).
 *
 * Needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN, CAP_NET_RAW) and `ip`; prints
 * "1..0 # SKIP" otherwise.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "afp_frame.h"
#include "mpdp_mbuf.h"
#include "mpdp_port.h"
#include "mpdp_shm.h"
#include "test_instance.h"

#define RUN 0x5eed
#define BURST 32

struct veth_env {
	struct test_instance ti;
	struct mpdp_pool *pool;        /* data room 2048 */
	struct mpdp_pool *small_pool;  /* data room 512 */
};

static uint64_t
now_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t
now_ms(void)
{
	return now_ns(CLOCK_MONOTONIC) / 1000000u;
}

static int
sh(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	rc = system(cmd);
	return rc == -1 ? -1 : WEXITSTATUS(rc);
}

static void
veth_create(void)
{
	assert_int_equal(sh("ip link add veth0 type veth peer name veth1"), 0);
	assert_int_equal(sh("ip link set veth0 up && ip link set veth1 up"), 0);
}

/* A plain AF_PACKET socket on @p ifname: the other end of the wire. */
static int
peer_open(const char *ifname)
{
	int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK, htons(ETH_P_ALL));
	int big = 16 << 20;
	struct sockaddr_ll sll;

	assert_true(fd >= 0);
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big)), 0);
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(ETH_P_ALL);
	sll.sll_ifindex = (int)if_nametoindex(ifname);
	assert_true(sll.sll_ifindex > 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sll, sizeof(sll)), 0);
	return fd;
}

static void
peer_send(int fd, const uint8_t *f, unsigned len)
{
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };

	while (send(fd, f, len, 0) != (ssize_t)len) {
		assert_true(errno == ENOBUFS || errno == EAGAIN);
		poll(&pfd, 1, 10);
	}
}

/* Send frames @p first..@p first+n-1 of the test run. */
static void
peer_send_run(int fd, uint32_t first, unsigned n, unsigned size, unsigned flows)
{
	uint8_t f[AFP_FRAME_MAX];

	for (uint32_t seq = first; seq < first + n; seq++)
		peer_send(fd, f, afp_frame_build(f, RUN, seq, size, flows));
}

/*
 * Receive on the peer until @p n frames of the run arrived intact (each
 * once) or @p ms passed. @return how many; anything else is ignored.
 */
static unsigned
peer_recv_run(int fd, uint32_t first, unsigned n, unsigned size, unsigned flows, unsigned ms)
{
	uint8_t buf[2048], want[AFP_FRAME_MAX];
	uint8_t *seen = calloc(n, 1);
	uint64_t end = now_ms() + ms;
	unsigned got = 0;

	assert_non_null(seen);
	while (got < n && now_ms() < end) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		struct sockaddr_ll from;
		socklen_t fl = sizeof(from);
		ssize_t len;
		uint32_t seq;

		if (poll(&pfd, 1, 10) <= 0)
			continue;
		len = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
		if (len <= 0 || from.sll_pkttype == PACKET_OUTGOING ||
		    !afp_frame_is_ours(buf, (unsigned)len, RUN))
			continue;
		seq = afp_get32(buf + AFP_MARK_OFF + 12);
		assert_true(seq >= first && seq < first + n);
		assert_int_equal((unsigned)len, afp_frame_build(want, RUN, seq, size, flows));
		assert_memory_equal(buf, want, (size_t)len);
		assert_int_equal(seen[seq - first]++, 0);
		got++;
	}
	free(seen);
	return got;
}

static void
peer_drain(int fd)
{
	uint8_t buf[2048];

	while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
}

static struct mpdp_port *
port_open(struct veth_env *env, struct mpdp_pool *pool, const char *devargs)
{
	struct mpdp_errbuf eb = { "" };
	struct mpdp_port *port = NULL;
	int rc = mpdp_port_open(env->ti.shm, devargs, pool, 256, &port, &eb);

	if (rc != 0)
		fail_msg("%s: %s (%d)", devargs, eb.msg, rc);
	return port;
}

static void
port_close(struct veth_env *env, struct mpdp_port *port)
{
	mpdp_port_close(port);
	assert_int_equal(mpdp_pool_in_use_count(env->pool), 0);
	assert_int_equal(mpdp_pool_in_use_count(env->small_pool), 0);
}

static uint64_t
port_counter(const struct mpdp_port *port, size_t offset)
{
	struct mpdp_abi_port_queue sum;

	mpdp_port_stats(port->abi, &sum);
	return *(const uint64_t *)((const char *)&sum + offset);
}

#define COUNTER(port, field) port_counter(port, offsetof(struct mpdp_abi_port_queue, field))

/*
 * Poll every queue of @p port until @p n frames of the run arrived or
 * @p ms passed, checking each (bytes, length, port, timestamp within
 * [@p t0, now]). Other frames are freed. Counts per queue go to @p per_q.
 */
static unsigned
port_recv_run(struct mpdp_port *port, uint32_t first, unsigned n, unsigned size, unsigned flows,
	      unsigned ms, uint64_t t0, unsigned *per_q)
{
	uint8_t want[AFP_FRAME_MAX];
	uint8_t *seen = calloc(n, 1);
	uint64_t end = now_ms() + ms;
	unsigned got = 0;

	assert_non_null(seen);
	while (got < n && now_ms() < end) {
		for (uint16_t q = 0; q < port->n_queues; q++) {
			struct mpdp_mbuf *pkts[BURST];
			uint16_t k = mpdp_port_rx_burst(port, q, pkts, BURST);

			for (uint16_t i = 0; i < k; i++) {
				const uint8_t *d = mpdp_mbuf_data(pkts[i]);
				uint32_t seq;

				if (afp_frame_is_ours(d, pkts[i]->data_len, RUN)) {
					seq = afp_get32(d + AFP_MARK_OFF + 12);
					assert_true(seq >= first && seq < first + n);
					assert_int_equal(pkts[i]->data_len,
							 afp_frame_build(want, RUN, seq, size, flows));
					assert_memory_equal(d, want, pkts[i]->data_len);
					assert_int_equal(pkts[i]->port, port->id);
					assert_true(pkts[i]->timestamp >= t0);
					assert_true(pkts[i]->timestamp <= now_ns(CLOCK_REALTIME));
					assert_int_equal(seen[seq - first]++, 0);
					got++;
					if (per_q != NULL)
						per_q[q]++;
				}
			}
			mpdp_mbuf_free_bulk(pkts, k, port->wid);
		}
	}
	free(seen);
	return got;
}

/* Transmit frames @p first..first+n-1 through the port, retrying what a full ring refuses. */
static void
port_send_run(struct mpdp_port *port, struct mpdp_pool *pool, uint32_t first, unsigned n,
	      unsigned size, unsigned flows)
{
	uint64_t end = now_ms() + 5000;
	uint32_t seq = first;

	while (seq < first + n) {
		struct mpdp_mbuf *pkts[BURST];
		uint16_t k = (uint16_t)(first + n - seq < BURST ? first + n - seq : BURST), sent;

		assert_int_equal(mpdp_mbuf_alloc_bulk(pool, port->wid, pkts, k), k);
		for (uint16_t i = 0; i < k; i++)
			pkts[i]->data_len = (uint16_t)afp_frame_build(mpdp_mbuf_data(pkts[i]), RUN, seq + i,
								      size, flows);
		sent = mpdp_port_tx_burst(port, 0, pkts, k);
		mpdp_mbuf_free_bulk(pkts + sent, (unsigned)(k - sent), port->wid);
		seq += sent;
		assert_true(now_ms() < end);
	}
}

/* Call link_check (as the I/O loop does) until it says @p want or @p ms passed. */
static int
link_wait(struct mpdp_port *port, int want, unsigned ms)
{
	uint64_t end = now_ms() + ms;
	int link;

	while ((link = port->ops->link_check(port)) != want && now_ms() < end)
		usleep(10000);
	return link;
}

/*
 * @return whether something holds @p ifname in promiscuous mode (netlink's
 * promiscuity count: SIOCGIFFLAGS only shows an IFF_PROMISC set by hand).
 */
static int
is_promisc(const char *ifname)
{
	return sh("ip -d link show %s | grep -q ' promiscuity [1-9]'", ifname) == 0;
}

static int
setup(void **state)
{
	struct veth_env *env = calloc(1, sizeof(*env));

	if (env == NULL)
		return -1;
	test_instance_create(&env->ti, "tafpveth", 64ull << 20, 0);
	assert_int_equal(mpdp_mbuf_pool_create(env->ti.shm, "mbuf", 4096, 0, 2048, -1, &env->pool), 0);
	assert_int_equal(mpdp_mbuf_pool_create(env->ti.shm, "small", 256, 0, 512, -1, &env->small_pool), 0);
	*state = env;
	return 0;
}

static int
teardown(void **state)
{
	struct veth_env *env = *state;

	test_instance_destroy(&env->ti);
	free(env);
	return 0;
}

static void
test_open_rejects_a_missing_interface(void **state)
{
	struct veth_env *env = *state;
	struct mpdp_errbuf eb = { "" };
	struct mpdp_port *port = NULL;

	assert_int_equal(mpdp_port_open(env->ti.shm, "p0,driver=af_packet,iface=nosuch0", env->pool, 256,
					&port, &eb), -ENOENT);
	assert_null(port);
	assert_string_equal(eb.msg, "port p0: iface=nosuch0: no such interface");
}

static void
test_open_rejects_an_unknown_key(void **state)
{
	struct veth_env *env = *state;
	struct mpdp_errbuf eb = { "" };
	struct mpdp_port *port = NULL;
	struct mpdp_abi_port *slot;

	assert_int_equal(mpdp_port_open(env->ti.shm, "p0,driver=af_packet,iface=veth0,snaplen=64",
					env->pool, 256, &port, &eb), -EINVAL);
	assert_null(port);
	assert_string_equal(eb.msg, "port p0: unknown key 'snaplen' (driver af_packet)");
	assert_int_equal(mpdp_port_lookup(env->ti.shm, "p0", &slot), -ENOENT);
	assert_false(is_promisc("veth0"));  /* nothing was touched */
}

static void
test_promiscuous_mode_lasts_as_long_as_the_port(void **state)
{
	struct veth_env *env = *state;
	struct mpdp_port *port;

	assert_false(is_promisc("veth0"));
	port = port_open(env, env->pool, "p0,driver=af_packet,iface=veth0,queues=2");
	assert_true(is_promisc("veth0"));
	port_close(env, port);
	assert_false(is_promisc("veth0"));
	port = port_open(env, env->pool, "p0,driver=af_packet,iface=veth0,promisc=0");
	assert_false(is_promisc("veth0"));
	port_close(env, port);
}

static void
test_rx_delivers_frames_intact(void **state)
{
	struct veth_env *env = *state;
	struct mpdp_port *port = port_open(env, env->pool, "p0,driver=af_packet,iface=veth0");
	int peer = peer_open("veth1");
	uint64_t t0 = now_ns(CLOCK_REALTIME);

	assert_int_equal(port->n_queues, 1);
	assert_int_equal(port->ops->link_check(port), 1);
	peer_send_run(peer, 0, 300, 0, 64);
	assert_int_equal(port_recv_run(port, 0, 300, 0, 64, 3000, t0, NULL), 300);
	assert_int_equal(COUNTER(port, rx_errors), 0);
	assert_int_equal(COUNTER(port, rx_missed), 0);
	close(peer);
	port_close(env, port);
}

static void
test_tx_sends_frames_intact_and_not_back_to_the_port(void **state)
{
	struct veth_env *env = *state;
	struct mpdp_port *port = port_open(env, env->pool, "p0,driver=af_packet,iface=veth0");
	int peer = peer_open("veth1");

	port_send_run(port, env->pool, 0, 300, 0, 64);
	assert_int_equal(peer_recv_run(peer, 0, 300, 0, 64, 3000), 300);
	assert_int_equal(mpdp_pool_in_use_count(env->pool), 0);  /* tx freed what it took */
	assert_int_equal(COUNTER(port, tx_errors), 0);
	/* PACKET_IGNORE_OUTGOING (and the filter): the port does not receive what it sent. */
	assert_int_equal(port_recv_run(port, 0, 300, 0, 64, 200, 0, NULL), 0);
	close(peer);
	port_close(env, port);
}

static void
test_rx_counts_frames_longer_than_the_data_room(void **state)
{
	struct veth_env *env = *state;
	struct mpdp_port *port = port_open(env, env->small_pool, "p0,driver=af_packet,iface=veth0");
	int peer = peer_open("veth1");
	uint64_t end = now_ms() + 3000;

	/* 512 bytes fit the data room exactly; 513 and 1500 do not. */
	peer_send_run(peer, 0, 1, 1500, 1);
	peer_send_run(peer, 1, 1, 513, 1);
	peer_send_run(peer, 2, 1, 512, 1);
	assert_int_equal(port_recv_run(port, 2, 1, 512, 1, 3000, 0, NULL), 1);
	while (COUNTER(port, rx_errors) < 2 && now_ms() < end)
		port_recv_run(port, 0, 1, 1500, 1, 10, 0, NULL);
	assert_int_equal(COUNTER(port, rx_errors), 2);
	close(peer);
	port_close(env, port);
}

static void
test_kernel_ring_drops_are_counted_as_missed(void **state)
{
	struct veth_env *env = *state;
	/* An rx ring of two 4 KiB blocks: about 40 frames of 100 bytes. */
	struct mpdp_port *port = port_open(env, env->pool,
					   "p0,driver=af_packet,iface=veth0,blocksz=4096,blockcnt=2");
	int peer = peer_open("veth1");
	unsigned got;

	peer_send_run(peer, 0, 500, 100, 1);  /* nobody reads meanwhile */
	got = port_recv_run(port, 0, 500, 100, 1, 500, 0, NULL);
	port->ops->link_check(port);          /* collects the kernel's drop count */
	print_message("# %u of 500 received, %llu missed\n", got,
		      (unsigned long long)COUNTER(port, rx_missed));
	assert_true(got > 0 && got < 500);
	assert_int_equal(got + COUNTER(port, rx_missed), 500);
	close(peer);
	port_close(env, port);
}

static void
test_rx_puts_back_the_vlan_tags_the_kernel_strips(void **state)
{
	static const uint16_t tpids[] = { 0x8100, 0x88a8 };
	struct veth_env *env = *state;
	struct mpdp_port *port = port_open(env, env->pool, "p0,driver=af_packet,iface=veth0");
	int peer = peer_open("veth1");

	for (size_t t = 0; t < sizeof(tpids) / sizeof(tpids[0]); t++) {
		uint8_t plain[AFP_FRAME_MAX], tagged[AFP_FRAME_MAX + 4];
		unsigned len = afp_frame_build(plain, RUN, (uint32_t)t, 200, 1);
		uint64_t end = now_ms() + 3000;
		int found = 0;

		memcpy(tagged, plain, 12);
		tagged[12] = (uint8_t)(tpids[t] >> 8);
		tagged[13] = (uint8_t)tpids[t];
		tagged[14] = 0x20;   /* PCP 1, VID 5 */
		tagged[15] = 0x05;
		memcpy(tagged + 16, plain + 12, len - 12);
		peer_send(peer, tagged, len + 4);
		while (!found && now_ms() < end) {
			struct mpdp_mbuf *pkts[BURST];
			uint16_t k = mpdp_port_rx_burst(port, 0, pkts, BURST);

			for (uint16_t i = 0; i < k; i++) {
				if (pkts[i]->data_len == len + 4 &&
				    memcmp(mpdp_mbuf_data(pkts[i]), tagged, 16) == 0) {
					assert_memory_equal(mpdp_mbuf_data(pkts[i]), tagged, len + 4);
					found = 1;
				}
			}
			mpdp_mbuf_free_bulk(pkts, k, port->wid);
		}
		assert_true(found);
	}
	close(peer);
	port_close(env, port);
}

static void
test_full_tx_ring_accepts_part_of_a_burst(void **state)
{
	struct veth_env *env = *state;
	/* A tx ring of two 2048-byte frames. */
	struct mpdp_port *port = port_open(env, env->pool,
					   "p0,driver=af_packet,iface=veth0,blocksz=4096,framesz=2048,"
					   "blockcnt=1");
	int peer = peer_open("veth1");
	struct mpdp_mbuf *pkts[8];

	assert_int_equal(mpdp_mbuf_alloc_bulk(env->pool, port->wid, pkts, 8), 8);
	for (uint32_t i = 0; i < 8; i++)
		pkts[i]->data_len = (uint16_t)afp_frame_build(mpdp_mbuf_data(pkts[i]), RUN, i, 100, 1);
	assert_int_equal(mpdp_port_tx_burst(port, 0, pkts, 8), 2);
	mpdp_mbuf_free_bulk(pkts + 2, 6, port->wid);
	assert_int_equal(peer_recv_run(peer, 0, 2, 100, 1, 3000), 2);
	/* The rest, a burst at a time, in order. */
	port_send_run(port, env->pool, 2, 40, 100, 1);
	assert_int_equal(peer_recv_run(peer, 2, 40, 100, 1, 3000), 40);
	close(peer);
	port_close(env, port);
}

static void
test_tx_counts_frames_the_kernel_would_refuse(void **state)
{
	struct veth_env *env = *state;
	struct mpdp_port *port = port_open(env, env->pool, "p0,driver=af_packet,iface=veth0");
	int peer = peer_open("veth1");
	struct mpdp_mbuf *pkts[4];
	uint8_t *d;

	assert_int_equal(mpdp_mbuf_alloc_bulk(env->pool, port->wid, pkts, 4), 4);
	/* Longer than the MTU (1500 + 14), a runt, a good one, an 802.1Q frame of MTU + 18. */
	afp_frame_build(mpdp_mbuf_data(pkts[0]), RUN, 9, 100, 1);
	pkts[0]->data_len = 1515;
	pkts[1]->data_len = 10;
	pkts[2]->data_len = (uint16_t)afp_frame_build(mpdp_mbuf_data(pkts[2]), RUN, 0, 100, 1);
	d = mpdp_mbuf_data(pkts[3]);
	memset(d, 0, 1518);
	memcpy(d, "\x02\x00\x00\x00\x0b\x02\x02\x00\x00\x00\x0b\x01\x81\x00\x00\x07\x08\x00", 18);
	pkts[3]->data_len = 1518;
	assert_int_equal(mpdp_port_tx_burst(port, 0, pkts, 4), 4);
	assert_int_equal(COUNTER(port, tx_errors), 2);
	assert_int_equal(peer_recv_run(peer, 0, 1, 100, 1, 3000), 1);
	assert_int_equal(mpdp_pool_in_use_count(env->pool), 0);
	close(peer);
	port_close(env, port);
}

static void
fanout_case(struct veth_env *env, const char *mode)
{
	char devargs[128];
	unsigned per_q[2] = { 0, 0 };
	struct mpdp_port *port;
	int peer;

	snprintf(devargs, sizeof(devargs), "p0,driver=af_packet,iface=veth0,queues=2,fanout=%s", mode);
	port = port_open(env, env->pool, devargs);
	peer = peer_open("veth1");
	assert_int_equal(port->n_queues, 2);
	peer_send_run(peer, 0, 2000, 0, 64);
	assert_int_equal(port_recv_run(port, 0, 2000, 0, 64, 5000, 0, per_q), 2000);
	print_message("# fanout=%s: queue 0 got %u, queue 1 got %u\n", mode, per_q[0], per_q[1]);
	assert_true(per_q[0] > 0 && per_q[1] > 0);
	/* Nothing more: no frame came twice through two queues. */
	assert_int_equal(port_recv_run(port, 0, 2000, 0, 64, 200, 0, NULL), 0);
	/* And out again through queue 0. */
	port_send_run(port, env->pool, 0, 100, 0, 64);
	assert_int_equal(peer_recv_run(peer, 0, 100, 0, 64, 3000), 100);
	close(peer);
	port_close(env, port);
}

static void
test_fanout_delivers_each_frame_once_over_the_queues(void **state)
{
	fanout_case(*state, "hash");
	fanout_case(*state, "lb");
}

static void
test_link_check_follows_the_interface_going_away_and_back(void **state)
{
	struct veth_env *env = *state;
	struct mpdp_port *port = port_open(env, env->pool, "p0,driver=af_packet,iface=veth0,queues=2");
	struct mpdp_mbuf *pkts[4];
	int peer;

	assert_int_equal(port->ops->link_check(port), 1);
	assert_int_equal(sh("ip link del veth0"), 0);
	assert_int_equal(port->ops->link_check(port), 0);
	assert_int_equal(port->ops->link_check(port), 0);
	/* Down: nothing is taken, nothing arrives. */
	assert_int_equal(mpdp_mbuf_alloc_bulk(env->pool, port->wid, pkts, 4), 4);
	for (uint32_t i = 0; i < 4; i++)
		pkts[i]->data_len = (uint16_t)afp_frame_build(mpdp_mbuf_data(pkts[i]), RUN, i, 100, 1);
	assert_int_equal(mpdp_port_tx_burst(port, 0, pkts, 4), 0);
	mpdp_mbuf_free_bulk(pkts, 4, port->wid);
	assert_int_equal(mpdp_port_rx_burst(port, 0, pkts, 4), 0);
	assert_int_equal(mpdp_port_rx_burst(port, 1, pkts, 4), 0);

	/* The same name again: new sockets on the new interface. */
	veth_create();
	assert_int_equal(link_wait(port, 1, 3000), 1);
	peer = peer_open("veth1");
	peer_send_run(peer, 0, 500, 0, 64);
	assert_int_equal(port_recv_run(port, 0, 500, 0, 64, 3000, 0, NULL), 500);
	port_send_run(port, env->pool, 0, 200, 0, 64);
	assert_int_equal(peer_recv_run(peer, 0, 200, 0, 64, 3000), 200);
	close(peer);
	port_close(env, port);
}

static void
test_link_check_follows_admin_down_and_up(void **state)
{
	struct veth_env *env = *state;
	struct mpdp_port *port = port_open(env, env->pool, "p0,driver=af_packet,iface=veth0");
	int peer;

	assert_int_equal(sh("ip link set veth0 down"), 0);
	assert_int_equal(port->ops->link_check(port), 0);
	assert_int_equal(sh("ip link set veth0 up"), 0);
	assert_int_equal(link_wait(port, 1, 3000), 1);
	peer = peer_open("veth1");
	peer_drain(peer);
	peer_send_run(peer, 0, 100, 0, 64);
	assert_int_equal(port_recv_run(port, 0, 100, 0, 64, 3000, 0, NULL), 100);
	port_send_run(port, env->pool, 0, 100, 0, 64);
	assert_int_equal(peer_recv_run(peer, 0, 100, 0, 64, 3000), 100);
	close(peer);
	port_close(env, port);
}

static void
test_open_on_a_down_interface_starts_when_it_comes_up(void **state)
{
	struct veth_env *env = *state;
	struct mpdp_port *port;
	int peer;

	assert_int_equal(sh("ip link set veth0 down"), 0);
	port = port_open(env, env->pool, "p0,driver=af_packet,iface=veth0,queues=2");
	assert_int_equal(port->ops->link_check(port), 0);
	assert_int_equal(sh("ip link set veth0 up"), 0);
	assert_int_equal(link_wait(port, 1, 3000), 1);
	peer = peer_open("veth1");
	peer_send_run(peer, 0, 200, 0, 64);
	assert_int_equal(port_recv_run(port, 0, 200, 0, 64, 3000, 0, NULL), 200);
	close(peer);
	port_close(env, port);
}

/*
 * FACTS: an AF_PACKET tx ring with QDISC_BYPASS into a TAP stalls after a
 * few thousand frames unless send() is called again while frames are
 * pending (the TAP stops its queue when its reader falls behind). Fill
 * the ring while nobody reads the TAP, then read it while the I/O loop's
 * calls (rx polls, flush) go on: every frame taken must come out.
 */
static void
test_frames_pending_on_a_stopped_tap_are_kicked_out_later(void **state)
{
	struct veth_env *env = *state;
	struct ifreq ifr;
	struct mpdp_port *port;
	uint8_t buf[2048];
	unsigned taken = 0, got = 0;
	uint64_t end;
	int tap = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);

	assert_true(tap >= 0);
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "afptap0");
	assert_int_equal(ioctl(tap, TUNSETIFF, &ifr), 0);
	assert_int_equal(sh("ip link set afptap0 up"), 0);
	port = port_open(env, env->pool, "p0,driver=af_packet,iface=afptap0,qdisc_bypass=1");
	assert_int_equal(link_wait(port, 1, 3000), 1);

	/* Offer frames with nobody reading the TAP until the ring is full. */
	for (unsigned refused = 0, offered = 0; refused < 4 && offered < 20000; offered += BURST) {
		struct mpdp_mbuf *pkts[BURST];
		uint16_t sent;

		assert_int_equal(mpdp_mbuf_alloc_bulk(env->pool, port->wid, pkts, BURST), BURST);
		for (uint16_t i = 0; i < BURST; i++)
			pkts[i]->data_len = (uint16_t)afp_frame_build(mpdp_mbuf_data(pkts[i]), RUN,
								      taken + i, 100, 1);
		sent = mpdp_port_tx_burst(port, 0, pkts, BURST);
		mpdp_mbuf_free_bulk(pkts + sent, (unsigned)(BURST - sent), port->wid);
		taken += sent;
		refused = sent == 0 ? refused + 1 : 0;
	}
	print_message("# the tx ring took %u frames before it was full, the TAP not being read\n", taken);
	assert_true(taken >= 2048 && taken < 20000);

	/* Now read the TAP; the port only sees the loop's rx polls and flushes, no new tx. */
	end = now_ms() + 5000;
	while (got < taken && now_ms() < end) {
		struct mpdp_mbuf *pkts[BURST];
		ssize_t n;

		while ((n = read(tap, buf, sizeof(buf))) > 0) {
			if (afp_frame_is_ours(buf, (unsigned)n, RUN))
				got++;
		}
		mpdp_mbuf_free_bulk(pkts, mpdp_port_rx_burst(port, 0, pkts, BURST), port->wid);
		port->ops->flush(port);
		usleep(1000);
	}
	print_message("# read %u frames from the TAP\n", got);
	assert_int_equal(got, taken);
	assert_int_equal(COUNTER(port, tx_errors), 0);
	port_close(env, port);
	close(tap);
}

/* Move into a private network namespace with a veth pair, or say why not. */
static const char *
make_netns(void)
{
	FILE *f;

	if (geteuid() != 0)
		return "needs root (network namespace, veth, AF_PACKET)";
	if (unshare(CLONE_NEWNET) != 0)
		return "cannot create a network namespace (unshare CLONE_NEWNET)";
	if (sh("ip link add veth0 type veth peer name veth1 2>/dev/null") != 0)
		return "cannot create a veth pair with `ip link add` in a network namespace";
	/* No IPv6 chatter (router solicitations, MLD) on the test links. */
	f = fopen("/proc/sys/net/ipv6/conf/all/disable_ipv6", "w");
	if (f != NULL) {
		fputs("1\n", f);
		fclose(f);
	}
	if (sh("sysctl -qw net.ipv6.conf.veth0.disable_ipv6=1 net.ipv6.conf.veth1.disable_ipv6=1 "
	       "net.ipv6.conf.default.disable_ipv6=1 >/dev/null 2>&1; "
	       "ip link set veth0 up && ip link set veth1 up") != 0)
		return "cannot bring the veth pair up";
	return NULL;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_rejects_a_missing_interface),
		cmocka_unit_test(test_open_rejects_an_unknown_key),
		cmocka_unit_test(test_promiscuous_mode_lasts_as_long_as_the_port),
		cmocka_unit_test(test_rx_delivers_frames_intact),
		cmocka_unit_test(test_tx_sends_frames_intact_and_not_back_to_the_port),
		cmocka_unit_test(test_rx_counts_frames_longer_than_the_data_room),
		cmocka_unit_test(test_kernel_ring_drops_are_counted_as_missed),
		cmocka_unit_test(test_rx_puts_back_the_vlan_tags_the_kernel_strips),
		cmocka_unit_test(test_full_tx_ring_accepts_part_of_a_burst),
		cmocka_unit_test(test_tx_counts_frames_the_kernel_would_refuse),
		cmocka_unit_test(test_fanout_delivers_each_frame_once_over_the_queues),
		cmocka_unit_test(test_link_check_follows_the_interface_going_away_and_back),
		cmocka_unit_test(test_link_check_follows_admin_down_and_up),
		cmocka_unit_test(test_open_on_a_down_interface_starts_when_it_comes_up),
		cmocka_unit_test(test_frames_pending_on_a_stopped_tap_are_kicked_out_later),
	};
	const char *why = make_netns();
	size_t n = sizeof(tests) / sizeof(tests[0]);

	if (why != NULL) {
		printf("1..0 # SKIP %s\n", why);
		return 0;
	}
	if (access("/dev/net/tun", R_OK | W_OK) != 0) {
		printf("# /dev/net/tun is missing: the TAP case is left out\n");
		n--;
	}
	return _cmocka_run_group_tests("af_packet_veth", tests, n, setup, teardown);
}

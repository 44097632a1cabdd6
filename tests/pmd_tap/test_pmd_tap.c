/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The tap driver through the port API, with the kernel on the other side.
 * The process first moves into a network namespace of its own (with its own
 * sysfs, so /sys/class/net shows that namespace), so nothing here touches
 * the host's interfaces: opening creates the interface and closing removes
 * it, persist= keeps it and attaching reuses it, every bad argument gets its
 * code and a message naming the port and the key, frames written by tx
 * arrive on a packet socket bound to the interface and frames sent there
 * come out of rx (bursts, order, oversized frames, several queues), a
 * deleted interface is reported down and then recreated, and a user without
 * the rights gets a clear message. Without TAP or namespaces the executable
 * skips as a whole (STYLE §9).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mpdp_mbuf.h"
#include "mpdp_pool.h"
#include "mpdp_port.h"
#include "mpdp_shm.h"
#include "test_instance.h"

#define ETH_TEST 0x88b5        /* IEEE 802 local experimental ethertype */
#define RING_SIZE 256
#define SMALL_DATAROOM 256

struct fixture {
	struct test_instance ti;
	struct mpdp_pool *pool;   /* default data room */
	struct mpdp_pool *small;  /* SMALL_DATAROOM */
};

static int
group_setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	if (fx == NULL)
		return -1;
	test_instance_create(&fx->ti, "ttap", 32ull << 20, 0);
	if (mpdp_mbuf_pool_create(fx->ti.shm, "mbuf", 1024, 0, MPDP_MBUF_DATAROOM, -1, &fx->pool) != 0 ||
	    mpdp_mbuf_pool_create(fx->ti.shm, "small", 256, 0, SMALL_DATAROOM, -1, &fx->small) != 0)
		return -1;
	*state = fx;
	return 0;
}

static int
group_teardown(void **state)
{
	struct fixture *fx = *state;

	test_instance_destroy(&fx->ti);
	free(fx);
	return 0;
}

/* Every case leaves every mbuf back in the pools. */
static int
case_teardown(void **state)
{
	struct fixture *fx = *state;

	return mpdp_pool_in_use_count(fx->pool) == 0 && mpdp_pool_in_use_count(fx->small) == 0 ? 0 : -1;
}

/* --- the kernel side ---------------------------------------------------- */

/* Whether the interface exists; the private sysfs must agree with the kernel. */
static int
iface_exists(const char *name)
{
	char path[128];
	int by_index = if_nametoindex(name) != 0;

	snprintf(path, sizeof(path), "/sys/class/net/%s", name);
	assert_int_equal(access(path, F_OK) == 0, by_index);
	return by_index;
}

static short
iface_flags(const char *name)
{
	struct ifreq ifr = { 0 };
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	assert_true(s >= 0);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	assert_int_equal(ioctl(s, SIOCGIFFLAGS, &ifr), 0);
	close(s);
	return ifr.ifr_flags;
}

static unsigned long
tun_flags(const char *name)
{
	char path[128], buf[32] = "";
	FILE *f;

	snprintf(path, sizeof(path), "/sys/class/net/%s/tun_flags", name);
	f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(fgets(buf, sizeof(buf), f));
	fclose(f);
	return strtoul(buf, NULL, 16);
}

/* ip link del NAME, over rtnetlink. */
static void
iface_delete(const char *name)
{
	struct {
		struct nlmsghdr nh;
		struct ifinfomsg ifi;
	} req = { 0 };
	struct {
		struct nlmsghdr nh;
		struct nlmsgerr err;
	} ack = { 0 };
	int s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);

	assert_true(s >= 0);
	req.nh.nlmsg_len = sizeof(req);
	req.nh.nlmsg_type = RTM_DELLINK;
	req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	req.ifi.ifi_family = AF_UNSPEC;
	req.ifi.ifi_index = (int)if_nametoindex(name);
	assert_true(req.ifi.ifi_index > 0);
	assert_int_equal(send(s, &req, sizeof(req), 0), (ssize_t)sizeof(req));
	assert_true(recv(s, &ack, sizeof(ack), 0) >= (ssize_t)sizeof(ack));
	assert_int_equal(ack.nh.nlmsg_type, NLMSG_ERROR);
	assert_int_equal(ack.err.error, 0);
	close(s);
}

/* A packet socket that sees (and sends) every frame of the interface. */
static int
pkt_socket(const char *name)
{
	struct sockaddr_ll sll = { 0 };
	int s = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));

	assert_true(s >= 0);
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(ETH_P_ALL);
	sll.sll_ifindex = (int)if_nametoindex(name);
	assert_true(sll.sll_ifindex > 0);
	assert_int_equal(bind(s, (struct sockaddr *)&sll, sizeof(sll)), 0);
	return s;
}

/* A test frame: unicast MACs, ETH_TEST, a byte pattern that depends on @p seq. */
static void
frame_fill(uint8_t *f, unsigned len, uint32_t seq)
{
	static const uint8_t hdr[14] = { 0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01,
					 ETH_TEST >> 8, ETH_TEST & 0xff };

	memcpy(f, hdr, len < 14 ? len : 14);
	for (unsigned i = 14; i < len; i++)
		f[i] = (uint8_t)(seq * 7 + i);
	if (len >= 18)
		memcpy(f + 14, &seq, sizeof(seq));
}

static int
is_test_frame(const uint8_t *f, size_t len)
{
	return len >= 18 && f[12] == (ETH_TEST >> 8) && f[13] == (ETH_TEST & 0xff);
}

static uint32_t
frame_seq(const uint8_t *f)
{
	uint32_t seq;

	memcpy(&seq, f + 14, sizeof(seq));
	return seq;
}

/* The next test frame the kernel received on the socket's interface, or 0 bytes after 2 s. */
static ssize_t
pkt_recv_test(int s, uint8_t *buf, size_t size)
{
	struct pollfd pfd = { .fd = s, .events = POLLIN };

	while (poll(&pfd, 1, 2000) == 1) {
		ssize_t len = recv(s, buf, size, 0);

		if (len > 0 && is_test_frame(buf, (size_t)len))
			return len;
	}
	return 0;
}

static void
pkt_send(int s, const uint8_t *f, size_t len)
{
	assert_int_equal(send(s, f, len, 0), (ssize_t)len);
}

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * Poll every queue until @p want test frames came (or 2 s passed); other
 * frames are freed. @p per_queue counts what each queue delivered.
 * @return how many test frames are in @p out
 */
static unsigned
rx_test_frames(struct mpdp_port *port, uint16_t burst, struct mpdp_mbuf **out, unsigned want,
	       unsigned *per_queue)
{
	uint64_t deadline = now_ms() + 2000;
	unsigned got = 0;

	while (got < want && now_ms() < deadline) {
		unsigned polled = 0;

		for (uint16_t q = 0; q < port->n_queues; q++) {
			struct mpdp_mbuf *pkts[64];
			uint16_t n = mpdp_port_rx_burst(port, q, pkts, burst);

			assert_true(n <= burst);
			polled += n;
			for (uint16_t i = 0; i < n; i++) {
				assert_int_equal(pkts[i]->port, port->id);
				if (got < want && is_test_frame(mpdp_mbuf_data(pkts[i]), pkts[i]->data_len)) {
					out[got++] = pkts[i];
					if (per_queue != NULL)
						per_queue[q]++;
				} else {
					mpdp_mbuf_free(pkts[i], port->wid);
				}
			}
		}
		if (polled == 0)
			usleep(1000);
	}
	return got;
}

static struct mpdp_mbuf *
mbuf_frame(struct mpdp_pool *pool, unsigned len, uint32_t seq)
{
	struct mpdp_mbuf *m = mpdp_mbuf_alloc(pool, MPDP_POOL_NO_CACHE);

	assert_non_null(m);
	assert_non_null(mpdp_mbuf_append(m, len));
	frame_fill(mpdp_mbuf_data(m), len, seq);
	return m;
}

/* --- opening and closing -------------------------------------------------- */

static struct mpdp_port *
port_open(struct fixture *fx, const char *devargs)
{
	struct mpdp_errbuf eb = { "" };
	struct mpdp_port *port = NULL;
	int rc = mpdp_port_open(fx->ti.shm, devargs, fx->pool, RING_SIZE, &port, &eb);

	if (rc != 0)
		fail_msg("%s: %d %s", devargs, rc, eb.msg);
	return port;
}

static void
test_open_creates_interface_up_and_close_removes_it(void **state)
{
	struct fixture *fx = *state;
	struct mpdp_port *port;

	assert_false(iface_exists("mpt0"));
	port = port_open(fx, "t0,driver=tap,iface=mpt0");
	assert_true(iface_exists("mpt0"));
	assert_true(iface_flags("mpt0") & IFF_UP);
	assert_int_equal(port->n_queues, 1);
	assert_string_equal(port->abi->driver, "tap");
	assert_int_equal(port->abi->link, 1);
	assert_int_equal(port->ops->link_check(port), 1);
	assert_false(tun_flags("mpt0") & IFF_PERSIST);
	mpdp_port_close(port);
	assert_false(iface_exists("mpt0"));
}

static void
test_up0_leaves_interface_down_and_reports_link_down(void **state)
{
	struct fixture *fx = *state;
	struct mpdp_port *port = port_open(fx, "t0,driver=tap,iface=mpt0,up=0");
	struct mpdp_mbuf *m = mbuf_frame(fx->pool, 60, 1);

	assert_false(iface_flags("mpt0") & IFF_UP);
	assert_int_equal(port->ops->link_check(port), 0);
	/* The kernel refuses frames for a down interface: nothing is taken. */
	assert_int_equal(mpdp_port_tx_burst(port, 0, &m, 1), 0);
	mpdp_mbuf_free(m, MPDP_POOL_NO_CACHE);
	assert_int_equal(port->abi->queues[0].tx_errors, 0);
	mpdp_port_close(port);
	assert_false(iface_exists("mpt0"));
}

static void
test_mac_sets_the_interface_address(void **state)
{
	static const uint8_t want[6] = { 0x02, 0x11, 0x22, 0x33, 0x44, 0x5a };
	struct fixture *fx = *state;
	struct mpdp_port *port = port_open(fx, "t0,driver=tap,iface=mpt0,mac=02:11:22:33:44:5A");
	struct ifreq ifr = { 0 };
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "mpt0");
	assert_int_equal(ioctl(s, SIOCGIFHWADDR, &ifr), 0);
	assert_memory_equal(ifr.ifr_hwaddr.sa_data, want, 6);
	close(s);
	mpdp_port_close(port);
}

static void
test_persist_keeps_interface_and_a_later_port_attaches_to_it(void **state)
{
	struct fixture *fx = *state;
	struct mpdp_port *port;

	port = port_open(fx, "t0,driver=tap,iface=mpt1,persist=1");
	assert_true(tun_flags("mpt1") & IFF_PERSIST);
	mpdp_port_close(port);
	assert_true(iface_exists("mpt1"));
	/* Attaching without persist= leaves an existing interface as it was. */
	port = port_open(fx, "t0,driver=tap,iface=mpt1");
	mpdp_port_close(port);
	assert_true(iface_exists("mpt1"));
	/* persist=0 makes it go with the port. */
	port = port_open(fx, "t0,driver=tap,iface=mpt1,persist=0");
	assert_false(tun_flags("mpt1") & IFF_PERSIST);
	mpdp_port_close(port);
	assert_false(iface_exists("mpt1"));
}

struct bad_case {
	const char *devargs;
	int rc;
	const char *msg;       /* the whole message */
};

static void
test_bad_arguments_name_the_port_and_the_key(void **state)
{
	static const struct bad_case cases[] = {
		{ "t0,driver=tap", -EINVAL, "port t0: the tap driver needs iface=NAME" },
		{ "t0,driver=tap,iface=", -EINVAL, "port t0: iface= needs a value" },
		{ "t0,driver=tap,iface", -EINVAL, "port t0: iface= needs a value" },
		{ "t0,driver=tap,iface=abcdefghijklmnop", -EINVAL,
		  "port t0: iface=abcdefghijklmnop is longer than 15 characters" },
		{ "t0,driver=tap,iface=a/b", -EINVAL, "port t0: iface=a/b is not a valid interface name "
		  "(no '/', ':', '%', spaces or control characters)" },
		{ "t0,driver=tap,iface=tap%d", -EINVAL, "port t0: iface=tap%d is not a valid interface "
		  "name (no '/', ':', '%', spaces or control characters)" },
		{ "t0,driver=tap,iface=a:1", -EINVAL, "port t0: iface=a:1 is not a valid interface name "
		  "(no '/', ':', '%', spaces or control characters)" },
		{ "t0,driver=tap,iface=..", -EINVAL, "port t0: iface=.. is not a valid interface name" },
		{ "t0,driver=tap,iface=mpbad0,persist=2", -EINVAL,
		  "port t0: persist=2 is not a number from 0 to 1" },
		{ "t0,driver=tap,iface=mpbad0,up=yes", -EINVAL,
		  "port t0: up=yes is not a number from 0 to 1" },
		{ "t0,driver=tap,iface=mpbad0,queues=0", -EINVAL,
		  "port t0: queues=0 is not a number from 1 to 8" },
		{ "t0,driver=tap,iface=mpbad0,queues=9", -EINVAL,
		  "port t0: queues=9 is not a number from 1 to 8" },
		{ "t0,driver=tap,iface=mpbad0,mac=zz", -EINVAL,
		  "port t0: mac=zz is not an address like 02:00:00:00:00:01" },
		{ "t0,driver=tap,iface=mpbad0,mac=02:00:00:00:00", -EINVAL,
		  "port t0: mac=02:00:00:00:00 is not an address like 02:00:00:00:00:01" },
		{ "t0,driver=tap,iface=mpbad0,mac=02:00:00:00:00:01:02", -EINVAL,
		  "port t0: mac=02:00:00:00:00:01:02 is not an address like 02:00:00:00:00:01" },
		{ "t0,driver=tap,iface=mpbad0,mac=01:00:5e:00:00:01", -EINVAL,
		  "port t0: mac=01:00:5e:00:00:01 is a multicast address" },
		{ "t0,driver=tap,iface=mpbad0,mac=00:00:00:00:00:00", -EINVAL,
		  "port t0: mac=00:00:00:00:00:00 is all zero" },
		{ "t0,driver=tap,iface=mpbad0,colour=red", -EINVAL,
		  "port t0: unknown key 'colour' (driver tap)" },
		{ "t0,driver=tap,iface=mpbad0,persist=1,colour=red", -EINVAL,
		  "port t0: unknown key 'colour' (driver tap)" },
		{ "t0,driver=tap,iface=lo", -EEXIST, "port t0: iface=lo exists and is not a TAP interface" },
	};
	struct fixture *fx = *state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct mpdp_errbuf eb = { "" };
		struct mpdp_abi_port *slot;
		struct mpdp_port *port = NULL;
		int rc = mpdp_port_open(fx->ti.shm, cases[i].devargs, fx->pool, RING_SIZE, &port, &eb);

		if (rc != cases[i].rc || strcmp(eb.msg, cases[i].msg) != 0)
			fail_msg("%s: got %d '%s', wanted %d '%s'", cases[i].devargs, rc, eb.msg,
				 cases[i].rc, cases[i].msg);
		assert_null(port);
		/* Nothing is left: no interface, no port slot. */
		assert_false(iface_exists("mpbad0"));
		assert_int_equal(mpdp_port_lookup(fx->ti.shm, "t0", &slot), -ENOENT);
	}
}

static void
test_a_tun_of_that_name_is_refused(void **state)
{
	struct fixture *fx = *state;
	struct mpdp_errbuf eb = { "" };
	struct mpdp_port *port = NULL;
	struct ifreq ifr = { 0 };
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);

	assert_true(fd >= 0);
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "mptun0");
	assert_int_equal(ioctl(fd, TUNSETIFF, &ifr), 0);
	assert_int_equal(mpdp_port_open(fx->ti.shm, "t0,driver=tap,iface=mptun0", fx->pool, RING_SIZE,
					&port, &eb), -EEXIST);
	assert_string_equal(eb.msg, "port t0: iface=mptun0 exists and is a TUN (layer 3) interface, "
			    "not a TAP");
	close(fd);
	assert_false(iface_exists("mptun0"));
}

static void
test_second_port_on_a_single_queue_tap_is_busy(void **state)
{
	struct fixture *fx = *state;
	struct mpdp_port *port = port_open(fx, "t0,driver=tap,iface=mpt2"), *other = NULL;
	struct mpdp_errbuf eb = { "" };

	assert_int_equal(mpdp_port_open(fx->ti.shm, "t1,driver=tap,iface=mpt2", fx->pool, RING_SIZE,
					&other, &eb), -EBUSY);
	assert_string_equal(eb.msg, "port t1: iface=mpt2 is a TAP already attached to another process "
			    "or port");
	assert_true(iface_exists("mpt2"));
	mpdp_port_close(port);
	assert_false(iface_exists("mpt2"));
}

/* --- frames both ways ------------------------------------------------------ */

static void
test_tx_frames_reach_the_kernel_intact(void **state)
{
	static const unsigned lens[] = { 60, 14 + 4, 1514, 333 };
	struct fixture *fx = *state;
	struct mpdp_port *port = port_open(fx, "t0,driver=tap,iface=mpt3");
	int s = pkt_socket("mpt3");
	struct mpdp_mbuf *pkts[4];
	uint8_t want[2048], got[2048];

	for (unsigned i = 0; i < 4; i++)
		pkts[i] = mbuf_frame(fx->pool, lens[i], 100 + i);
	assert_int_equal(mpdp_port_tx_burst(port, 0, pkts, 4), 4);
	/* The driver sent and freed them. */
	assert_int_equal(mpdp_pool_in_use_count(fx->pool), 0);
	for (unsigned i = 0; i < 4; i++) {
		ssize_t len = pkt_recv_test(s, got, sizeof(got));

		frame_fill(want, lens[i], 100 + i);
		assert_int_equal(len, lens[i]);
		assert_memory_equal(got, want, lens[i]);
	}
	assert_int_equal(port->abi->queues[0].tx_errors, 0);
	close(s);
	mpdp_port_close(port);
}

static void
test_tx_frame_the_kernel_refuses_counts_tx_error(void **state)
{
	struct fixture *fx = *state;
	struct mpdp_port *port = port_open(fx, "t0,driver=tap,iface=mpt3");
	int s = pkt_socket("mpt3");
	struct mpdp_mbuf *pkts[2] = { mbuf_frame(fx->pool, 10, 1), mbuf_frame(fx->pool, 64, 2) };
	uint8_t got[2048];

	/* A 10-byte "frame" is shorter than an Ethernet header. */
	assert_int_equal(mpdp_port_tx_burst(port, 0, pkts, 2), 2);
	assert_int_equal(port->abi->queues[0].tx_errors, 1);
	assert_int_equal(mpdp_pool_in_use_count(fx->pool), 0);
	assert_int_equal(pkt_recv_test(s, got, sizeof(got)), 64);
	assert_int_equal(frame_seq(got), 2);
	close(s);
	mpdp_port_close(port);
}

static void
test_rx_frames_from_the_kernel_intact(void **state)
{
	static const unsigned lens[] = { 60, 1514, 18, 777 };
	struct fixture *fx = *state;
	struct mpdp_port *port = port_open(fx, "t0,driver=tap,iface=mpt4");
	int s = pkt_socket("mpt4");
	struct mpdp_mbuf *pkts[4];
	uint8_t want[2048];

	for (unsigned i = 0; i < 4; i++) {
		frame_fill(want, lens[i], 200 + i);
		pkt_send(s, want, lens[i]);
	}
	assert_int_equal(rx_test_frames(port, 32, pkts, 4, NULL), 4);
	for (unsigned i = 0; i < 4; i++) {
		frame_fill(want, lens[i], 200 + i);
		assert_int_equal(pkts[i]->data_len, lens[i]);
		assert_int_equal(pkts[i]->port, port->id);
		assert_memory_equal(mpdp_mbuf_data(pkts[i]), want, lens[i]);
	}
	mpdp_mbuf_free_bulk(pkts, 4, MPDP_POOL_NO_CACHE);
	assert_int_equal(port->abi->queues[0].rx_errors, 0);
	close(s);
	mpdp_port_close(port);
}

static void
test_rx_bursts_are_bounded_and_in_order(void **state)
{
	struct fixture *fx = *state;
	struct mpdp_port *port = port_open(fx, "t0,driver=tap,iface=mpt4");
	int s = pkt_socket("mpt4");
	struct mpdp_mbuf *pkts[100];
	uint8_t f[128];

	for (uint32_t i = 0; i < 100; i++) {
		frame_fill(f, 64, i);
		pkt_send(s, f, 64);
	}
	/* rx_test_frames asserts no burst is longer than asked. */
	assert_int_equal(rx_test_frames(port, 7, pkts, 100, NULL), 100);
	for (uint32_t i = 0; i < 100; i++)
		assert_int_equal(frame_seq(mpdp_mbuf_data(pkts[i])), i);
	mpdp_mbuf_free_bulk(pkts, 100, MPDP_POOL_NO_CACHE);
	/* Nothing waiting: an empty poll takes nothing from the pool. */
	assert_int_equal(mpdp_port_rx_burst(port, 0, pkts, 32), 0);
	assert_int_equal(mpdp_pool_in_use_count(fx->pool), 0);
	close(s);
	mpdp_port_close(port);
}

static void
test_frame_longer_than_the_data_room_counts_rx_error(void **state)
{
	struct fixture *fx = *state;
	struct mpdp_errbuf eb = { "" };
	struct mpdp_port *port = NULL;
	struct mpdp_mbuf *pkts[2];
	uint8_t f[1024];
	int s;

	assert_int_equal(mpdp_port_open(fx->ti.shm, "t0,driver=tap,iface=mpt5", fx->small, RING_SIZE,
					&port, &eb), 0);
	s = pkt_socket("mpt5");
	frame_fill(f, SMALL_DATAROOM + 1, 1);
	pkt_send(s, f, SMALL_DATAROOM + 1);
	frame_fill(f, SMALL_DATAROOM, 2);
	pkt_send(s, f, SMALL_DATAROOM);
	assert_int_equal(rx_test_frames(port, 32, pkts, 1, NULL), 1);
	assert_int_equal(pkts[0]->data_len, SMALL_DATAROOM);
	assert_int_equal(frame_seq(mpdp_mbuf_data(pkts[0])), 2);
	assert_int_equal(port->abi->queues[0].rx_errors, 1);
	mpdp_mbuf_free(pkts[0], MPDP_POOL_NO_CACHE);
	assert_int_equal(mpdp_pool_in_use_count(fx->small), 0);
	close(s);
	mpdp_port_close(port);
}

/* IPv4/UDP frames of 200 flows, so the kernel spreads them over the queues. */
static void
test_queues_receive_every_frame_between_them(void **state)
{
	struct fixture *fx = *state;
	struct mpdp_port *port = port_open(fx, "t0,driver=tap,iface=mpt6,queues=4");
	unsigned per_queue[4] = { 0 }, used = 0, got = 0;
	int s = pkt_socket("mpt6");
	struct mpdp_mbuf *pkts[32];

	assert_int_equal(port->n_queues, 4);
	assert_int_equal(port->abi->n_queues, 4);
	assert_true(tun_flags("mpt6") & IFF_MULTI_QUEUE);
	for (uint32_t i = 0; i < 200; i++) {
		uint8_t f[64] = { 0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x08, 0x00,
				  0x45, 0, 0, 50, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2 };

		f[34] = (uint8_t)(i >> 8); /* UDP source port */
		f[35] = (uint8_t)i;
		f[36] = 0x30;              /* destination port */
		f[37] = 0x39;
		f[39] = 30;                /* UDP length */
		pkt_send(s, f, sizeof(f));
	}
	/* Any frame counts here: they are IPv4, not test frames. */
	for (uint64_t deadline = now_ms() + 2000; got < 200 && now_ms() < deadline;) {
		for (uint16_t q = 0; q < 4; q++) {
			uint16_t n = mpdp_port_rx_burst(port, q, pkts, 32);

			for (uint16_t i = 0; i < n; i++) {
				const uint8_t *f = mpdp_mbuf_data(pkts[i]);

				got += pkts[i]->data_len == 64 && f[12] == 0x08 && f[13] == 0x00;
			}
			per_queue[q] += n;
			mpdp_mbuf_free_bulk(pkts, n, MPDP_POOL_NO_CACHE);
		}
	}
	for (unsigned q = 0; q < 4; q++)
		used += per_queue[q] != 0;
	print_message("# queues got %u %u %u %u\n", per_queue[0], per_queue[1], per_queue[2],
		      per_queue[3]);
	assert_int_equal(got, 200);
	assert_true(used >= 2);
	close(s);
	mpdp_port_close(port);
	assert_false(iface_exists("mpt6"));
}

static void
test_queues_must_match_an_existing_tap(void **state)
{
	struct fixture *fx = *state;
	struct mpdp_errbuf eb = { "" };
	struct mpdp_port *port = NULL;

	/* A persistent single-queue TAP cannot take queues=2. */
	mpdp_port_close(port_open(fx, "t0,driver=tap,iface=mpt7,persist=1"));
	assert_int_equal(mpdp_port_open(fx->ti.shm, "t0,driver=tap,iface=mpt7,queues=2", fx->pool,
					RING_SIZE, &port, &eb), -EINVAL);
	assert_string_equal(eb.msg, "port t0: iface=mpt7 is an existing single-queue TAP; queues=2 "
			    "needs a multi-queue one (or delete it)");
	assert_true(iface_exists("mpt7"));
	mpdp_port_close(port_open(fx, "t0,driver=tap,iface=mpt7,persist=0"));
	assert_false(iface_exists("mpt7"));
	/* An existing multi-queue TAP is attached as one queue when queues=1. */
	mpdp_port_close(port_open(fx, "t0,driver=tap,iface=mpt7,queues=3,persist=1"));
	port = port_open(fx, "t0,driver=tap,iface=mpt7");
	assert_int_equal(port->n_queues, 1);
	mpdp_port_close(port);
	mpdp_port_close(port_open(fx, "t0,driver=tap,iface=mpt7,queues=2,persist=0"));
	assert_false(iface_exists("mpt7"));
}

/* --- losing the interface ------------------------------------------------- */

static void
check_recreated(struct fixture *fx, struct mpdp_port *port, const char *name)
{
	struct mpdp_mbuf *m = mbuf_frame(fx->pool, 60, 9);
	uint8_t got[256];
	int s;

	iface_delete(name);
	assert_false(iface_exists(name));
	/* rx and tx notice and do nothing; the caller keeps what tx did not take. */
	assert_int_equal(mpdp_port_rx_burst(port, 0, &m, 1), 0);
	assert_int_equal(mpdp_port_tx_burst(port, 0, &m, 1), 0);
	assert_int_equal(mpdp_port_tx_burst(port, 0, &m, 1), 0);
	/* Reported down once, then recreated with its settings. */
	assert_int_equal(port->ops->link_check(port), 0);
	assert_false(iface_exists(name));
	assert_int_equal(port->ops->link_check(port), 1);
	assert_true(iface_exists(name));
	assert_true(iface_flags(name) & IFF_UP);
	assert_int_equal(port->ops->link_check(port), 1);
	s = pkt_socket(name);
	assert_int_equal(mpdp_port_tx_burst(port, 0, &m, 1), 1);
	assert_int_equal(pkt_recv_test(s, got, sizeof(got)), 60);
	assert_int_equal(frame_seq(got), 9);
	close(s);
}

static void
test_deleted_interface_is_reported_down_then_recreated(void **state)
{
	struct fixture *fx = *state;
	struct mpdp_port *port = port_open(fx, "t0,driver=tap,iface=mpt8");

	check_recreated(fx, port, "mpt8");
	assert_false(tun_flags("mpt8") & IFF_PERSIST);
	mpdp_port_close(port);
	assert_false(iface_exists("mpt8"));
}

static void
test_deleted_persistent_interface_comes_back_persistent(void **state)
{
	struct fixture *fx = *state;
	struct mpdp_port *port = port_open(fx, "t0,driver=tap,iface=mpt9,persist=1,mac=02:00:00:00:00:09");
	struct ifreq ifr = { 0 };
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	check_recreated(fx, port, "mpt9");
	assert_true(tun_flags("mpt9") & IFF_PERSIST);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "mpt9");
	assert_int_equal(ioctl(s, SIOCGIFHWADDR, &ifr), 0);
	assert_memory_equal(ifr.ifr_hwaddr.sa_data, "\x02\x00\x00\x00\x00\x09", 6);
	close(s);
	mpdp_port_close(port);
	assert_true(iface_exists("mpt9"));
	iface_delete("mpt9");
}

/* --- rights --------------------------------------------------------------- */

/*
 * In a child with a mount namespace of its own, put a /dev/net/tun node of
 * @p mode owned by root (on a tmpfs mounted on @p dir) over the real one,
 * become nobody and open a port.
 * The child writes the code and the message to @p fd.
 */
static void
child_open_as_nobody(struct fixture *fx, const char *dir, mode_t mode, int fd)
{
	struct mpdp_errbuf eb = { "" };
	struct mpdp_port *port = NULL;
	char node[64];
	int rc;

	if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
	    mount("tmpfs", dir, "tmpfs", 0, "mode=0755") != 0)
		_exit(2);
	snprintf(node, sizeof(node), "%s/tun", dir);
	if (mknod(node, S_IFCHR | mode, makedev(10, 200)) != 0 || chmod(node, mode) != 0 ||
	    mount(node, "/dev/net/tun", NULL, MS_BIND, NULL) != 0)
		_exit(3);
	if (setresgid(65534, 65534, 65534) != 0 || setresuid(65534, 65534, 65534) != 0)
		_exit(4);
	rc = mpdp_port_open(fx->ti.shm, "tp,driver=tap,iface=mptperm", fx->pool, RING_SIZE, &port, &eb);
	if (write(fd, &rc, sizeof(rc)) != sizeof(rc) ||
	    write(fd, eb.msg, sizeof(eb.msg)) != sizeof(eb.msg))
		_exit(5);
	_exit(0);
}

static void
expect_open_as_nobody(struct fixture *fx, mode_t mode, int want_rc, const char *want_msg)
{
	char msg[sizeof(((struct mpdp_errbuf *)0)->msg)] = "", dir[] = "/tmp/mpdp-tap-XXXXXX";
	int pfd[2], status, rc = 0;
	pid_t pid;

	/* The child mounts a tmpfs here in its own mount namespace; the directory is ours. */
	assert_non_null(mkdtemp(dir));
	assert_int_equal(pipe(pfd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(pfd[0]);
		child_open_as_nobody(fx, dir, mode, pfd[1]);
	}
	close(pfd[1]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(rmdir(dir), 0);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(read(pfd[0], &rc, sizeof(rc)), sizeof(rc));
	assert_int_equal(read(pfd[0], msg, sizeof(msg)), sizeof(msg));
	close(pfd[0]);
	assert_int_equal(rc, want_rc);
	assert_string_equal(msg, want_msg);
	assert_false(iface_exists("mptperm"));
}

static void
test_without_rights_the_message_says_what_is_missing(void **state)
{
	struct fixture *fx = *state;
	struct mpdp_abi_port *slot;

	expect_open_as_nobody(fx, 0600, -EACCES, "port tp: cannot open /dev/net/tun: Permission "
			      "denied (the tap driver needs root or CAP_NET_ADMIN, or access to "
			      "/dev/net/tun)");
	expect_open_as_nobody(fx, 0666, -EPERM, "port tp: iface=mptperm: creating or attaching a TAP "
			      "interface needs CAP_NET_ADMIN (or a persistent TAP owned by this user)");
	assert_int_equal(mpdp_port_lookup(fx->ti.shm, "tp", &slot), -ENOENT);
}

/* --- the namespace ---------------------------------------------------------- */

static void
write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);

	if (fd >= 0) {
		if (write(fd, s, strlen(s)) < 0) {
			/* best effort: without IPv6 there is nothing to quiet */
		}
		close(fd);
	}
}

/* Move into a network and mount namespace of our own; @return NULL or why not. */
static const char *
enter_namespace(char *why, size_t size)
{
	int fd;

	if (unshare(CLONE_NEWNET | CLONE_NEWNS) != 0)
		return snprintf(why, size, "cannot create a network namespace: %s", strerror(errno)), why;
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
	    mount("sysfs", "/sys", "sysfs", 0, NULL) != 0)
		return snprintf(why, size, "cannot mount a sysfs for the namespace: %s", strerror(errno)), why;
	fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return snprintf(why, size, "no TAP: /dev/net/tun: %s", strerror(errno)), why;
	close(fd);
	/* No IPv6 router solicitations or MLD reports on the test interfaces. */
	write_file("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1");
	write_file("/proc/sys/net/ipv6/conf/all/disable_ipv6", "1");
	return NULL;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_open_creates_interface_up_and_close_removes_it, case_teardown),
		cmocka_unit_test_teardown(test_up0_leaves_interface_down_and_reports_link_down, case_teardown),
		cmocka_unit_test_teardown(test_mac_sets_the_interface_address, case_teardown),
		cmocka_unit_test_teardown(test_persist_keeps_interface_and_a_later_port_attaches_to_it,
					  case_teardown),
		cmocka_unit_test_teardown(test_bad_arguments_name_the_port_and_the_key, case_teardown),
		cmocka_unit_test_teardown(test_a_tun_of_that_name_is_refused, case_teardown),
		cmocka_unit_test_teardown(test_second_port_on_a_single_queue_tap_is_busy, case_teardown),
		cmocka_unit_test_teardown(test_tx_frames_reach_the_kernel_intact, case_teardown),
		cmocka_unit_test_teardown(test_tx_frame_the_kernel_refuses_counts_tx_error, case_teardown),
		cmocka_unit_test_teardown(test_rx_frames_from_the_kernel_intact, case_teardown),
		cmocka_unit_test_teardown(test_rx_bursts_are_bounded_and_in_order, case_teardown),
		cmocka_unit_test_teardown(test_frame_longer_than_the_data_room_counts_rx_error, case_teardown),
		cmocka_unit_test_teardown(test_queues_receive_every_frame_between_them, case_teardown),
		cmocka_unit_test_teardown(test_queues_must_match_an_existing_tap, case_teardown),
		cmocka_unit_test_teardown(test_deleted_interface_is_reported_down_then_recreated, case_teardown),
		cmocka_unit_test_teardown(test_deleted_persistent_interface_comes_back_persistent,
					  case_teardown),
		cmocka_unit_test_teardown(test_without_rights_the_message_says_what_is_missing, case_teardown),
	};
	char why[256];

	if (enter_namespace(why, sizeof(why)) != NULL) {
		printf("1..0 # SKIP %s\n", why);
		return 0;
	}
	return cmocka_run_group_tests_name("pmd_tap", tests, group_setup, group_teardown);
}

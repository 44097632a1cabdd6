/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * af_packet: a kernel network interface through PACKET_MMAP rings
 * (doc/ports-af_packet.md).
 *
 * Each queue is one AF_PACKET socket bound to iface= with TPACKET_V3: a
 * block-based rx ring and a frame-based tx ring (V3 tx, Linux >= 4.11) in
 * one mapping. With queues=N > 1 the sockets form a PACKET_FANOUT group.
 * A classic BPF filter on every socket drops outgoing frames and caps the
 * snap length at the pool's data room, so a longer frame arrives with
 * tp_snaplen < tp_len and is counted as an rx error instead of truncated.
 *
 * Ring ownership. rx: a block belongs to user space while its block_status
 * has TP_STATUS_USER; we copy its frames out and give it back by storing
 * TP_STATUS_KERNEL. tx: a frame is ours while its tp_status is
 * TP_STATUS_AVAILABLE; we fill it and store TP_STATUS_SEND_REQUEST, then
 * kick with send(MSG_DONTWAIT); the kernel sets SENDING, then AVAILABLE
 * when the skb is freed. Frames still in SEND_REQUEST after a kick (device
 * queue stopped, socket send buffer full) are kicked again by the next
 * burst, by the rx poll of the queue and by flush.
 *
 * Threads. The primary calls rx, tx, flush and link_check of a port from
 * its one I/O worker (patched ports share a worker). Each queue's tx state
 * is still behind a spinlock, held for one burst and by teardown: two
 * uncontended atomic operations per burst buy safety against any other
 * caller transmitting while link_check closes and re-creates the rings.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mpdp_log.h"
#include "pmd_drivers.h"

#define AFP_BLOCKSZ_DEFAULT (64u << 10)
#define AFP_BLOCKSZ_MAX (256u << 20)
#define AFP_BLOCKCNT_DEFAULT 64u
#define AFP_FRAMESZ_DEFAULT 2048u
#define AFP_FRAMESZ_MIN 128u
#define AFP_RING_MAX (1ull << 30)       /* bytes of one ring (rx or tx) of one queue */
#define AFP_TOV_DEFAULT 1u              /* ms before a partly filled rx block is handed over */
/* Room a V3 rx block needs beside the frame data: block header, frame header, sockaddr_ll, gap. */
#define AFP_RX_OVERHEAD 256u
/* Where a V3 tx frame's data starts (the kernel's tp_hdrlen - sizeof(struct sockaddr_ll)). */
#define AFP_TX_DATA_OFF TPACKET_ALIGN(sizeof(struct tpacket3_hdr))
#define AFP_VLAN_HLEN 4u
/* rx polls of a queue between retries of a stalled tx kick. */
#define AFP_KICK_RETRY_POLLS 64u

struct afp_queue {
	int fd;                    /* -1 when closed */
	uint8_t *map;              /* rx ring, then tx ring */
	uint8_t *tx_ring;          /* in map, after the rx ring */
	size_t map_len;
	/* rx, the I/O worker only */
	uint32_t rx_block;         /* block being read or next to check */
	uint32_t rx_left;          /* frames of rx_block still to read; 0: block not held */
	uint8_t *rx_frame;         /* next frame of rx_block */
	uint32_t kick_polls;       /* rx polls since the last stalled-kick retry */
	/* tx, under tx_lock */
	atomic_flag tx_lock;
	uint32_t tx_head;          /* next frame to fill */
	uint32_t tx_last;          /* last frame filled, UINT32_MAX: none yet */
	_Atomic uint32_t tx_stalled; /* frames were left in SEND_REQUEST by the last kick */
};

struct afp_priv {
	char iface[IFNAMSIZ];
	int ctl_fd;                /* ioctls on the interface, never bound */
	int ifindex;               /* of the open sockets; 0 when none */
	uint32_t blocksz, blockcnt, framesz, tov;
	uint32_t fanout_mode;      /* PACKET_FANOUT_* */
	uint32_t qdisc_bypass, promisc;
	uint32_t snaplen;          /* the pool's data room */
	uint32_t tx_frames;        /* frames of each tx ring */
	uint32_t tx_max;           /* longest untagged frame that may be sent (MTU and frame size) */
	uint32_t tx_room;          /* bytes of data a tx frame holds */
	int active;                /* sockets and rings exist (set by the worker holding every tx_lock) */
	_Atomic int lost;          /* a send said the device is gone or down: stop until link_check */
	_Atomic int link;          /* last link_check result: tx refuses while down */
	int last_reopen_err;       /* last failure of a re-creation, logged once */
	struct afp_queue q[MPDP_PORT_QUEUE_MAX];
};

static const struct {
	const char *name;
	uint32_t mode;
} fanout_modes[] = {
	{ "hash", PACKET_FANOUT_HASH },
	{ "lb", PACKET_FANOUT_LB },
	{ "cpu", PACKET_FANOUT_CPU },
	{ "qm", PACKET_FANOUT_QM },
	{ "rollover", PACKET_FANOUT_ROLLOVER },
	{ "rnd", PACKET_FANOUT_RND },
};

#define N_FANOUT_MODES (sizeof(fanout_modes) / sizeof(fanout_modes[0]))

static int
is_pow2(uint64_t x)
{
	return x != 0 && (x & (x - 1)) == 0;
}

/* ---------------------------------------------------------------- slow path */

/* Ask the kernel about the interface by name: its index, flags and MTU. */
static int
iface_query(const struct afp_priv *ap, int *ifindex, unsigned *flags, unsigned *mtu)
{
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, ap->iface, sizeof(ifr.ifr_name));
	if (ioctl(ap->ctl_fd, SIOCGIFINDEX, &ifr) != 0)
		return -errno;
	*ifindex = ifr.ifr_ifindex;
	if (ioctl(ap->ctl_fd, SIOCGIFFLAGS, &ifr) != 0)
		return -errno;
	*flags = (unsigned)(uint16_t)ifr.ifr_flags;
	if (ioctl(ap->ctl_fd, SIOCGIFMTU, &ifr) != 0)
		return -errno;
	*mtu = (unsigned)ifr.ifr_mtu;
	return 0;
}

static void
set_tx_limits(struct afp_priv *ap, unsigned mtu)
{
	uint32_t by_mtu = mtu + ETH_HLEN;

	ap->tx_room = ap->framesz - (uint32_t)AFP_TX_DATA_OFF;
	ap->tx_max = by_mtu < ap->tx_room ? by_mtu : ap->tx_room;
}

static uint8_t *
rx_block_at(const struct afp_priv *ap, const struct afp_queue *aq, uint32_t b)
{
	return aq->map + (size_t)b * ap->blocksz;
}

static struct tpacket3_hdr *
tx_frame_at(const struct afp_priv *ap, const struct afp_queue *aq, uint32_t f)
{
	return (struct tpacket3_hdr *)(aq->tx_ring + (size_t)f * ap->framesz);
}

static void
queue_close(struct afp_queue *aq)
{
	if (aq->map != NULL)
		munmap(aq->map, aq->map_len);
	if (aq->fd >= 0)
		close(aq->fd);
	aq->map = NULL;
	aq->fd = -1;
}

static int
sockopt(int fd, int level, int name, const void *val, socklen_t len)
{
	return setsockopt(fd, level, name, val, len) == 0 ? 0 : -errno;
}

static int
attach_filter(int fd, uint32_t snaplen)
{
	/* Drop what the interface sends; keep at most snaplen bytes of the rest. */
	struct sock_filter keep[] = {
		BPF_STMT(BPF_LD | BPF_B | BPF_ABS, (uint32_t)(SKF_AD_OFF + SKF_AD_PKTTYPE)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, PACKET_OUTGOING, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, 0),
		BPF_STMT(BPF_RET | BPF_K, snaplen),
	};
	struct sock_filter none[] = { BPF_STMT(BPF_RET | BPF_K, 0) };
	struct sock_fprog prog = { .len = 4, .filter = keep };

	if (snaplen == 0) {
		prog.len = 1;
		prog.filter = none;
	}
	return sockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog));
}

/*
 * Open queue @p q's socket on @p ifindex. A queue joining a fanout group
 * drops everything until it is a member, so no frame is received twice.
 */
static int
queue_open(struct mpdp_port *port, unsigned q, int ifindex, int *fanout_id, struct mpdp_errbuf *eb)
{
	struct afp_priv *ap = port->priv;
	struct afp_queue *aq = &ap->q[q];
	int joining = port->n_queues > 1 && q > 0;
	struct tpacket_req3 req;
	struct sockaddr_ll sll;
	const char *step;
	int one = 1, rc, v;
	size_t ring = (size_t)ap->blocksz * ap->blockcnt;

	aq->fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (aq->fd < 0) {
		rc = -errno;
		step = "socket(AF_PACKET) (needs CAP_NET_RAW)";
		goto fail;
	}
	v = TPACKET_V3;
	step = "PACKET_VERSION V3";
	if ((rc = sockopt(aq->fd, SOL_PACKET, PACKET_VERSION, &v, sizeof(v))) != 0)
		goto fail;
	step = "PACKET_LOSS";
	if ((rc = sockopt(aq->fd, SOL_PACKET, PACKET_LOSS, &one, sizeof(one))) != 0)
		goto fail;
	step = "PACKET_QDISC_BYPASS";
	if (ap->qdisc_bypass &&
	    (rc = sockopt(aq->fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one))) != 0)
		goto fail;
	/* Linux >= 4.20; before that the filter alone drops outgoing frames. */
	(void)sockopt(aq->fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one));
	step = "SO_ATTACH_FILTER";
	if ((rc = attach_filter(aq->fd, joining ? 0 : ap->snaplen)) != 0)
		goto fail;

	memset(&req, 0, sizeof(req));
	req.tp_block_size = ap->blocksz;
	req.tp_block_nr = ap->blockcnt;
	req.tp_frame_size = ap->framesz;
	req.tp_frame_nr = ap->tx_frames;
	req.tp_retire_blk_tov = ap->tov;
	step = "PACKET_RX_RING";
	if ((rc = sockopt(aq->fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof(req))) != 0)
		goto fail;
	req.tp_retire_blk_tov = 0; /* V3 tx wants no block options */
	step = "PACKET_TX_RING (TPACKET_V3 tx needs Linux >= 4.11)";
	if ((rc = sockopt(aq->fd, SOL_PACKET, PACKET_TX_RING, &req, sizeof(req))) != 0)
		goto fail;
	aq->map_len = 2 * ring;
	aq->map = mmap(NULL, aq->map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, aq->fd, 0);
	if (aq->map == MAP_FAILED) {
		aq->map = NULL;
		rc = -errno;
		step = "mmap of the rings";
		goto fail;
	}
	aq->tx_ring = aq->map + ring;
	/* Let a whole tx ring be in flight (root may exceed wmem_max). */
	v = ring > INT32_MAX ? INT32_MAX : (int)ring;
	if (sockopt(aq->fd, SOL_SOCKET, SO_SNDBUFFORCE, &v, sizeof(v)) != 0)
		(void)sockopt(aq->fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v));

	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(ETH_P_ALL);
	sll.sll_ifindex = ifindex;
	step = "bind";
	if (bind(aq->fd, (struct sockaddr *)&sll, sizeof(sll)) != 0) {
		rc = -errno;
		goto fail;
	}
	if (q == 0 && ap->promisc) {
		struct packet_mreq mr;

		memset(&mr, 0, sizeof(mr));
		mr.mr_ifindex = ifindex;
		mr.mr_type = PACKET_MR_PROMISC;
		step = "PACKET_ADD_MEMBERSHIP promisc";
		if ((rc = sockopt(aq->fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof(mr))) != 0)
			goto fail;
	}
	if (port->n_queues > 1) {
		socklen_t len = sizeof(v);

		step = "PACKET_FANOUT";
		if (q == 0) {
			v = (int)((ap->fanout_mode | PACKET_FANOUT_FLAG_UNIQUEID) << 16);
			if ((rc = sockopt(aq->fd, SOL_PACKET, PACKET_FANOUT, &v, sizeof(v))) != 0)
				goto fail;
			if (getsockopt(aq->fd, SOL_PACKET, PACKET_FANOUT, &v, &len) != 0) {
				rc = -errno;
				goto fail;
			}
			*fanout_id = v & 0xffff;
		} else {
			v = (int)((ap->fanout_mode << 16) | (uint32_t)*fanout_id);
			if ((rc = sockopt(aq->fd, SOL_PACKET, PACKET_FANOUT, &v, sizeof(v))) != 0)
				goto fail;
			step = "SO_ATTACH_FILTER";
			if ((rc = attach_filter(aq->fd, ap->snaplen)) != 0)
				goto fail;
		}
	}
	aq->rx_block = 0;
	aq->rx_left = 0;
	aq->rx_frame = NULL;
	aq->kick_polls = 0;
	aq->tx_head = 0;
	aq->tx_last = UINT32_MAX;
	atomic_store_explicit(&aq->tx_stalled, 0, memory_order_relaxed);
	return 0;

fail:
	queue_close(aq);
	return mpdp_err_set(eb, rc, "port %s: iface=%s: queue %u: %s: %s", port->abi->name, ap->iface,
			    q, step, mpdp_strerror(rc));
}

static void
tx_lock(struct afp_queue *aq)
{
	/* L1: pairs with U1; orders a burst's ring accesses after the previous holder's. */
	while (atomic_flag_test_and_set_explicit(&aq->tx_lock, memory_order_acquire))
		;
}

static void
tx_unlock(struct afp_queue *aq)
{
	/* U1: pairs with L1. */
	atomic_flag_clear_explicit(&aq->tx_lock, memory_order_release);
}

static uint32_t
frame_status(const struct tpacket3_hdr *h)
{
	/* A2: pairs with the kernel's smp_wmb() after it sets tp_status (__packet_set_status). */
	return __atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE);
}

/* Frames we filled that the kernel has not taken yet (teardown: they are lost). */
static uint64_t
tx_pending(const struct afp_priv *ap, const struct afp_queue *aq)
{
	uint64_t n = 0;

	for (uint32_t f = 0; f < ap->tx_frames; f++) {
		if (frame_status(tx_frame_at(ap, aq, f)) & TP_STATUS_SEND_REQUEST)
			n++;
	}
	return n;
}

/* Close every queue; what was still waiting to be sent counts as tx errors. */
static void
queues_teardown(struct mpdp_port *port)
{
	struct afp_priv *ap = port->priv;

	for (unsigned q = 0; q < port->n_queues; q++)
		tx_lock(&ap->q[q]);
	ap->active = 0;
	for (unsigned q = 0; q < port->n_queues; q++)
		tx_unlock(&ap->q[q]);
	for (unsigned q = 0; q < port->n_queues; q++) {
		struct afp_queue *aq = &ap->q[q];

		if (aq->map != NULL)
			mpdp_port_count(&port->abi->queues[q].tx_errors, tx_pending(ap, aq));
		queue_close(aq);
	}
	ap->ifindex = 0;
}

/* Create every queue's socket and rings on @p ifindex, all or none. */
static int
queues_open(struct mpdp_port *port, int ifindex, struct mpdp_errbuf *eb)
{
	struct afp_priv *ap = port->priv;
	int fanout_id = 0, rc = 0;
	unsigned q;

	for (q = 0; q < port->n_queues && rc == 0; q++)
		rc = queue_open(port, q, ifindex, &fanout_id, eb);
	if (rc != 0) {
		while (q-- > 0)
			queue_close(&ap->q[q]);
		return rc;
	}
	ap->ifindex = ifindex;
	atomic_store(&ap->lost, 0);
	for (q = 0; q < port->n_queues; q++)
		tx_lock(&ap->q[q]);
	ap->active = 1;
	for (q = 0; q < port->n_queues; q++)
		tx_unlock(&ap->q[q]);
	return 0;
}

static int
parse_fanout(struct mpdp_port *port, struct mpdp_kvargs *kv, uint32_t *mode, struct mpdp_errbuf *eb)
{
	const char *s = NULL;
	int rc = mpdp__pmd_arg_str(port, kv, "fanout", &s, eb);

	if (rc != 0 || s == NULL)
		return rc;
	for (size_t i = 0; i < N_FANOUT_MODES; i++) {
		if (strcmp(s, fanout_modes[i].name) == 0) {
			*mode = fanout_modes[i].mode;
			return 0;
		}
	}
	return mpdp_err_set(eb, -EINVAL, "port %s: fanout=%s: not one of hash, lb, cpu, qm, rollover, rnd",
			    port->abi->name, s);
}

/* Ring geometry: sizes and counts from the arguments, checked as the kernel will. */
static int
parse_geometry(struct mpdp_port *port, struct mpdp_kvargs *kv, struct mpdp_errbuf *eb)
{
	struct afp_priv *ap = port->priv;
	uint64_t blocksz = AFP_BLOCKSZ_DEFAULT, framesz = AFP_FRAMESZ_DEFAULT, tov = AFP_TOV_DEFAULT;
	uint64_t blockcnt = 0, framecnt = 0, page = (uint64_t)sysconf(_SC_PAGESIZE);
	const char *name = port->abi->name;
	uint64_t per_block;
	int rc;

	rc = mpdp__pmd_arg_u64(port, kv, "blocksz", page, AFP_BLOCKSZ_MAX, &blocksz, eb);
	if (rc == 0)
		rc = mpdp__pmd_arg_u64(port, kv, "framesz", AFP_FRAMESZ_MIN, AFP_BLOCKSZ_MAX, &framesz, eb);
	if (rc == 0)
		rc = mpdp__pmd_arg_u64(port, kv, "blockcnt", 1, 1u << 20, &blockcnt, eb);
	if (rc == 0)
		rc = mpdp__pmd_arg_u64(port, kv, "framecnt", 1, 1u << 24, &framecnt, eb);
	if (rc == 0)
		rc = mpdp__pmd_arg_u64(port, kv, "blocktov", 1, 1000, &tov, eb);
	if (rc != 0)
		return rc;
	if (!is_pow2(blocksz) || blocksz % page != 0)
		return mpdp_err_set(eb, -EINVAL, "port %s: blocksz=%llu must be a power of two and a multiple "
				    "of the page size (%llu)", name, (unsigned long long)blocksz,
				    (unsigned long long)page);
	if (!is_pow2(framesz) || framesz % TPACKET_ALIGNMENT != 0)
		return mpdp_err_set(eb, -EINVAL, "port %s: framesz=%llu must be a power of two and a multiple "
				    "of TPACKET_ALIGNMENT (%d)", name, (unsigned long long)framesz,
				    TPACKET_ALIGNMENT);
	if (blocksz % framesz != 0)
		return mpdp_err_set(eb, -EINVAL, "port %s: blocksz=%llu must be a multiple of framesz=%llu",
				    name, (unsigned long long)blocksz, (unsigned long long)framesz);
	if (blocksz < (uint64_t)ap->snaplen + AFP_RX_OVERHEAD)
		return mpdp_err_set(eb, -EINVAL, "port %s: blocksz=%llu is too small for the pool's data room "
				    "(%u bytes + %u of headers)", name, (unsigned long long)blocksz,
				    ap->snaplen, AFP_RX_OVERHEAD);
	per_block = blocksz / framesz;
	if (framecnt != 0 && framecnt % per_block != 0)
		return mpdp_err_set(eb, -EINVAL, "port %s: framecnt=%llu must be a multiple of blocksz/framesz "
				    "= %llu", name, (unsigned long long)framecnt, (unsigned long long)per_block);
	if (framecnt != 0 && blockcnt != 0 && framecnt != blockcnt * per_block)
		return mpdp_err_set(eb, -EINVAL, "port %s: framecnt=%llu and blockcnt=%llu disagree "
				    "(framecnt must be blockcnt * blocksz/framesz = %llu)", name,
				    (unsigned long long)framecnt, (unsigned long long)blockcnt,
				    (unsigned long long)(blockcnt * per_block));
	if (blockcnt == 0)
		blockcnt = framecnt != 0 ? framecnt / per_block : AFP_BLOCKCNT_DEFAULT;
	if (blockcnt * blocksz > AFP_RING_MAX)
		return mpdp_err_set(eb, -EINVAL, "port %s: blocksz * blockcnt = %llu bytes: at most %llu "
				    "per ring", name, (unsigned long long)(blockcnt * blocksz),
				    (unsigned long long)AFP_RING_MAX);
	ap->blocksz = (uint32_t)blocksz;
	ap->framesz = (uint32_t)framesz;
	ap->blockcnt = (uint32_t)blockcnt;
	ap->tx_frames = (uint32_t)(blockcnt * per_block);
	ap->tov = (uint32_t)tov;
	return 0;
}

static int
af_packet_open(struct mpdp_port *port, struct mpdp_kvargs *kv, struct mpdp_errbuf *eb)
{
	struct afp_priv *ap = port->priv;
	const char *name = port->abi->name, *iface = NULL;
	uint64_t queues = 1, bypass = 1, promisc = 1;
	unsigned flags = 0, mtu = 0;
	int ifindex = 0, rc;

	ap->ctl_fd = -1;
	for (unsigned q = 0; q < MPDP_PORT_QUEUE_MAX; q++) {
		ap->q[q].fd = -1;
		atomic_flag_clear(&ap->q[q].tx_lock);
	}
	ap->fanout_mode = PACKET_FANOUT_HASH;
	ap->snaplen = mpdp_mbuf_pool_dataroom(port->pool);

	rc = mpdp__pmd_arg_str(port, kv, "iface", &iface, eb);
	if (rc == 0)
		rc = mpdp__pmd_arg_u64(port, kv, "queues", 1, MPDP_PORT_QUEUE_MAX, &queues, eb);
	if (rc == 0)
		rc = mpdp__pmd_arg_u64(port, kv, "qdisc_bypass", 0, 1, &bypass, eb);
	if (rc == 0)
		rc = mpdp__pmd_arg_u64(port, kv, "promisc", 0, 1, &promisc, eb);
	if (rc == 0)
		rc = parse_fanout(port, kv, &ap->fanout_mode, eb);
	if (rc == 0)
		rc = parse_geometry(port, kv, eb);
	if (rc != 0)
		return rc;
	if (iface == NULL)
		return mpdp_err_set(eb, -EINVAL, "port %s: missing iface= (the interface to open)", name);
	if (strlen(iface) >= IFNAMSIZ)
		return mpdp_err_set(eb, -EINVAL, "port %s: iface=%s: an interface name has at most %d characters",
				    name, iface, IFNAMSIZ - 1);
	/*
	 * A misspelt key: touch nothing (no socket, no promiscuous mode). The
	 * port layer reports the key in its own words and calls close(), which
	 * then has nothing to do.
	 */
	if (mpdp_kvargs_check_unused(kv, NULL) != 0)
		return 0;
	memcpy(ap->iface, iface, strlen(iface) + 1);
	port->n_queues = (uint16_t)queues;
	ap->qdisc_bypass = (uint32_t)bypass;
	ap->promisc = (uint32_t)promisc;

	ap->ctl_fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (ap->ctl_fd < 0) {
		rc = -errno;
		return mpdp_err_set(eb, rc, "port %s: iface=%s: socket(AF_PACKET): %s (needs CAP_NET_RAW)",
				    name, ap->iface, mpdp_strerror(rc));
	}
	rc = iface_query(ap, &ifindex, &flags, &mtu);
	if (rc == -ENODEV) {
		rc = mpdp_err_set(eb, -ENOENT, "port %s: iface=%s: no such interface", name, ap->iface);
		goto fail_ctl;
	}
	if (rc != 0) {
		mpdp_err_set(eb, rc, "port %s: iface=%s: %s", name, ap->iface, mpdp_strerror(rc));
		goto fail_ctl;
	}
	set_tx_limits(ap, mtu);
	/* A fanout group forms only on an interface that is up: a down one is opened by link_check. */
	if (flags & IFF_UP) {
		rc = queues_open(port, ifindex, eb);
		if (rc != 0)
			goto fail_ctl;
	}
	atomic_store(&ap->link, (flags & IFF_UP) && (flags & IFF_RUNNING));
	return 0;

fail_ctl:
	close(ap->ctl_fd);
	ap->ctl_fd = -1;
	return rc;
}

static void
af_packet_close(struct mpdp_port *port)
{
	struct afp_priv *ap = port->priv;

	if (ap->active)
		queues_teardown(port);
	if (ap->ctl_fd >= 0)
		close(ap->ctl_fd);
	ap->ctl_fd = -1;
}

/*
 * The kernel's ring drops (ring full) since the last call, per queue, into
 * rx_missed; and clear the socket error a down interface leaves behind
 * (ENETDOWN), which the next send would otherwise return.
 */
static void
collect_drops(struct mpdp_port *port)
{
	struct afp_priv *ap = port->priv;

	for (unsigned q = 0; q < port->n_queues; q++) {
		struct tpacket_stats_v3 st;
		socklen_t len = sizeof(st);
		int err;

		if (getsockopt(ap->q[q].fd, SOL_PACKET, PACKET_STATISTICS, &st, &len) == 0 && st.tp_drops)
			mpdp_port_count(&port->abi->queues[q].rx_missed, st.tp_drops);
		len = sizeof(err);
		(void)getsockopt(ap->q[q].fd, SOL_SOCKET, SO_ERROR, &err, &len);
	}
}

/*
 * Every ~100 ms: is the interface there (same index), up and running? When
 * it is gone the sockets are closed; when one of that name is back, they
 * are created again on it.
 */
static int
af_packet_link_check(struct mpdp_port *port)
{
	struct afp_priv *ap = port->priv;
	struct mpdp_errbuf eb = { "" };
	unsigned flags = 0, mtu = 0;
	int ifindex = 0, up, rc;

	rc = iface_query(ap, &ifindex, &flags, &mtu);
	if (ap->active && (rc != 0 || ifindex != ap->ifindex)) {
		collect_drops(port);
		queues_teardown(port);
	}
	up = rc == 0 && (flags & IFF_UP) && (flags & IFF_RUNNING);
	if (rc == 0)
		set_tx_limits(ap, mtu);
	if (rc == 0 && !ap->active && (flags & IFF_UP)) {
		rc = queues_open(port, ifindex, &eb);
		if (rc != 0 && rc != ap->last_reopen_err)
			MPDP_LOG(WARN, "%s (retrying)", eb.msg);
		ap->last_reopen_err = rc;
	}
	if (!ap->active)
		up = 0;
	if (ap->active) {
		collect_drops(port);
		atomic_store(&ap->lost, 0);
	}
	atomic_store(&ap->link, up);
	return up;
}

/* ---------------------------------------------------------------- data path */

/* Kick the kernel to send queue @p q's filled frames. Called with tx_lock held. */
static void
tx_kick(struct mpdp_port *port, uint16_t q)
{
	struct afp_priv *ap = port->priv;
	struct afp_queue *aq = &ap->q[q];
	ssize_t rc = send(aq->fd, NULL, 0, MSG_DONTWAIT);

	/* A socket error left by a down/up of the interface is reported (and cleared) once. */
	if (rc < 0 && errno == ENETDOWN)
		rc = send(aq->fd, NULL, 0, MSG_DONTWAIT);
	if (rc < 0) {
		switch (errno) {
		case EAGAIN:
		case ENOBUFS:
		case EINTR:
			break; /* congestion: the frames stay and are kicked again */
		case ENXIO:
		case ENODEV:
		case ENETDOWN:
			atomic_store_explicit(&ap->lost, 1, memory_order_relaxed);
			break;
		default:
			mpdp_port_count(&port->abi->queues[q].tx_errors, 1);
			break;
		}
	}
	atomic_store_explicit(&aq->tx_stalled,
			      aq->tx_last != UINT32_MAX &&
			      (frame_status(tx_frame_at(ap, aq, aq->tx_last)) & TP_STATUS_SEND_REQUEST),
			      memory_order_relaxed);
}

/* Kick again if the last kick left frames behind. */
static void
tx_retry(struct mpdp_port *port, uint16_t q)
{
	struct afp_priv *ap = port->priv;
	struct afp_queue *aq = &ap->q[q];

	if (atomic_flag_test_and_set_explicit(&aq->tx_lock, memory_order_acquire))
		return; /* a burst is in progress: it kicks */
	if (ap->active && atomic_load_explicit(&aq->tx_stalled, memory_order_relaxed))
		tx_kick(port, q);
	tx_unlock(aq);
}

static void
af_packet_flush(struct mpdp_port *port)
{
	for (uint16_t q = 0; q < port->n_queues; q++)
		tx_retry(port, q);
}

/* Copy one received frame into @p m; 0, or -1 when it cannot be delivered whole. */
static int
rx_frame_copy(const struct afp_priv *ap, const struct tpacket3_hdr *h, struct mpdp_mbuf *m)
{
	const uint8_t *src = (const uint8_t *)h + h->tp_mac;
	uint32_t len = h->tp_snaplen;
	uint8_t *dst = mpdp_mbuf_data(m);

	if (len != h->tp_len || len < ETH_HLEN)
		return -1; /* longer than the data room (or a runt) */
	if (h->tp_status & TP_STATUS_VLAN_VALID) {
		/* The kernel took the outer tag off into the header: put it back. */
		uint16_t tpid = (h->tp_status & TP_STATUS_VLAN_TPID_VALID) ? h->hv1.tp_vlan_tpid : ETH_P_8021Q;
		uint16_t tci = (uint16_t)h->hv1.tp_vlan_tci;

		if (len + AFP_VLAN_HLEN > ap->snaplen)
			return -1;
		memcpy(dst, src, 2 * ETH_ALEN);
		dst[12] = (uint8_t)(tpid >> 8);
		dst[13] = (uint8_t)tpid;
		dst[14] = (uint8_t)(tci >> 8);
		dst[15] = (uint8_t)tci;
		memcpy(dst + 2 * ETH_ALEN + AFP_VLAN_HLEN, src + 2 * ETH_ALEN, len - 2 * ETH_ALEN);
		len += AFP_VLAN_HLEN;
	} else {
		memcpy(dst, src, len);
	}
	m->data_len = (uint16_t)len;
	m->timestamp = (uint64_t)h->tp_sec * 1000000000ull + h->tp_nsec;
	return 0;
}

static uint16_t
af_packet_rx(struct mpdp_port *port, uint16_t q, struct mpdp_mbuf **pkts, uint16_t n)
{
	struct afp_priv *ap = port->priv;
	struct afp_queue *aq = &ap->q[q];
	uint64_t errors = 0;
	uint16_t got = 0;

	if (!ap->active || atomic_load_explicit(&ap->lost, memory_order_relaxed))
		return 0;
	if (atomic_load_explicit(&aq->tx_stalled, memory_order_relaxed) &&
	    ++aq->kick_polls >= AFP_KICK_RETRY_POLLS) {
		aq->kick_polls = 0;
		tx_retry(port, q);
	}
	while (got < n) {
		struct tpacket_block_desc *bd = (struct tpacket_block_desc *)rx_block_at(ap, aq, aq->rx_block);
		uint32_t want, used = 0;

		if (aq->rx_left == 0) {
			/* A1: pairs with the kernel's smp_wmb() before it sets TP_STATUS_USER (prb_close_block). */
			if (!(__atomic_load_n(&bd->hdr.bh1.block_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER))
				break;
			aq->rx_left = bd->hdr.bh1.num_pkts;
			aq->rx_frame = (uint8_t *)bd + bd->hdr.bh1.offset_to_first_pkt;
		}
		want = aq->rx_left < (uint32_t)(n - got) ? aq->rx_left : (uint32_t)(n - got);
		if (want != 0 && mpdp_mbuf_alloc_bulk(port->pool, port->wid, pkts + got, want) != want)
			break; /* pool empty: the frames wait in the ring */
		for (uint32_t k = 0; k < want; k++) {
			const struct tpacket3_hdr *h = (const struct tpacket3_hdr *)aq->rx_frame;
			struct mpdp_mbuf *m = pkts[got + used];

			aq->rx_frame += h->tp_next_offset;
			if (k + 1 < want)
				__builtin_prefetch(aq->rx_frame);
			if (rx_frame_copy(ap, h, m) != 0) {
				errors++;
				continue; /* the mbuf is reused for the next frame */
			}
			m->port = port->id;
			used++;
		}
		if (used < want)
			mpdp_mbuf_free_bulk(pkts + got + used, want - used, port->wid);
		got = (uint16_t)(got + used);
		aq->rx_left -= want;
		if (aq->rx_left == 0) {
			/* R1: the frames are copied out: hand the block back (pairs with the kernel's
			 * read of block_status in prb_dispatch_next_block, under its queue lock). */
			__atomic_store_n(&bd->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
			aq->rx_block = aq->rx_block + 1 == ap->blockcnt ? 0 : aq->rx_block + 1;
		}
	}
	if (errors)
		mpdp_port_count(&port->abi->queues[q].rx_errors, errors);
	return got;
}

static uint16_t
af_packet_tx(struct mpdp_port *port, uint16_t q, struct mpdp_mbuf **pkts, uint16_t n)
{
	struct afp_priv *ap = port->priv;
	struct afp_queue *aq = &ap->q[q];
	uint64_t errors = 0;
	uint16_t i, wrote = 0;

	tx_lock(aq);
	if (!ap->active || atomic_load_explicit(&ap->lost, memory_order_relaxed) ||
	    !atomic_load_explicit(&ap->link, memory_order_relaxed)) {
		tx_unlock(aq);
		return 0;
	}
	for (i = 0; i < n; i++) {
		struct mpdp_mbuf *m = pkts[i];
		const uint8_t *data = mpdp_mbuf_data(m);
		struct tpacket3_hdr *h = tx_frame_at(ap, aq, aq->tx_head);
		uint32_t len = m->data_len, max = ap->tx_max;

		/* The kernel allows 4 more bytes for an 802.1Q tag (packet_extra_vlan_len_allowed). */
		if (len > max && data[12] == 0x81 && data[13] == 0x00)
			max = ap->tx_max + AFP_VLAN_HLEN <= ap->tx_room ? ap->tx_max + AFP_VLAN_HLEN : ap->tx_room;
		if (len < ETH_HLEN || len > max) {
			errors++; /* the kernel would discard it: taken, counted, freed */
			continue;
		}
		if (frame_status(h) != TP_STATUS_AVAILABLE)
			break; /* ring full */
		memcpy((uint8_t *)h + AFP_TX_DATA_OFF, data, len);
		h->tp_len = len;
		h->tp_snaplen = len;
		h->tp_next_offset = 0;
		/* R2: the frame is written; pairs with the kernel's smp_rmb() in __packet_get_status. */
		__atomic_store_n(&h->tp_status, TP_STATUS_SEND_REQUEST, __ATOMIC_RELEASE);
		aq->tx_last = aq->tx_head;
		aq->tx_head = aq->tx_head + 1 == ap->tx_frames ? 0 : aq->tx_head + 1;
		wrote++;
	}
	if (wrote > 0 || atomic_load_explicit(&aq->tx_stalled, memory_order_relaxed))
		tx_kick(port, q);
	if (errors)
		mpdp_port_count(&port->abi->queues[q].tx_errors, errors);
	tx_unlock(aq);
	mpdp_mbuf_free_bulk(pkts, i, port->wid);
	return i;
}

const struct mpdp_pmd_ops mpdp__pmd_af_packet_ops = {
	.driver = "af_packet",
	.priv_size = sizeof(struct afp_priv),
	.open = af_packet_open,
	.close = af_packet_close,
	.rx_burst = af_packet_rx,
	.tx_burst = af_packet_tx,
	.link_check = af_packet_link_check,
	.flush = af_packet_flush,
};

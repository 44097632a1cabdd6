/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tap: a Linux TAP interface as a port, so the kernel's own stack (ping,
 * sockets, bridges, namespaces) is on the other side. What the kernel sends
 * out of the interface is what rx reads; what tx writes, the kernel receives.
 *
 *   iface=NAME   the interface: created when absent, attached when it is an
 *                existing persistent TAP (required, 1 to 15 characters)
 *   persist=0|1  1: the interface outlives the port (TUNSETPERSIST);
 *                0: it goes when the port closes, even if it existed before;
 *                absent: one this port created goes, an existing one stays
 *   mac=MAC      the interface's address, e.g. 02:00:00:00:00:01
 *   up=0|1       bring the interface up (default 1)
 *   queues=N     N queues (IFF_MULTI_QUEUE), 1 to MPDP_PORT_QUEUE_MAX; the
 *                kernel spreads what it sends over them by flow hash
 *
 * One read() or write() per frame is the TAP interface's nature (about
 * 0.6-1 Mpps a core, FACTS "Kernel packet paths"). rx reads straight into
 * the mbuf's buffer; tx writes straight from it.
 *
 * The descriptors stay valid while the port is open. When the interface is
 * deleted under us (ip link del, or its namespace goes), reads and writes
 * fail with EBADFD: rx and tx then do nothing, link_check reports the link
 * down once and from its next call on recreates (reattaches) the interface
 * with the same settings.
 *
 * Interface ioctls that need a name (flags) go through a socket opened with
 * the port, so they act in the network namespace the port was opened in.
 * An interface moved to another namespace keeps working through the
 * descriptors; its up/down state is then not visible here and is taken as up.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/ethtool.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "pmd_drivers.h"

#define TAP_DEV "/dev/net/tun"
/* Where rx puts the tail of a frame longer than the data room, to drop it. */
#define TAP_SCRATCH 65536
#define TAP_PERSIST_UNSET UINT64_MAX

enum tap_state {
	TAP_ATTACHED = 0,
	TAP_LOST = 1,       /* the interface went away; link_check has not said so yet */
	TAP_REPORTED = 2,   /* link_check said link down; it now tries to recreate it */
};

struct tap_priv {
	int fd[MPDP_PORT_QUEUE_MAX];   /* one per queue, -1 when closed */
	int ctl;                       /* AF_INET datagram socket for interface ioctls */
	uint32_t state;                /* enum tap_state */
	uint32_t persist;              /* what the interface should be when we leave it */
	uint32_t up;
	uint32_t has_mac;
	uint8_t mac[6];
	char iface[IFNAMSIZ];
	uint8_t scratch[TAP_SCRATCH];
};

/* Interface names the kernel takes as given: no format ('%'), no path, no space. */
static int
iface_check(const struct mpdp_port *port, const char *name, struct mpdp_errbuf *eb)
{
	if (strlen(name) >= IFNAMSIZ)
		return mpdp_err_set(eb, -EINVAL, "port %s: iface=%s is longer than %d characters",
				    port->abi->name, name, IFNAMSIZ - 1);
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return mpdp_err_set(eb, -EINVAL, "port %s: iface=%s is not a valid interface name",
				    port->abi->name, name);
	for (const char *c = name; *c != '\0'; c++) {
		if (*c <= ' ' || *c >= 0x7f || *c == '/' || *c == ':' || *c == '%')
			return mpdp_err_set(eb, -EINVAL, "port %s: iface=%s is not a valid interface "
					    "name (no '/', ':', '%%', spaces or control characters)",
					    port->abi->name, name);
	}
	return 0;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* "xx:xx:xx:xx:xx:xx", a unicast address other than zero. */
static int
mac_parse(const struct mpdp_port *port, const char *s, uint8_t mac[6], struct mpdp_errbuf *eb)
{
	unsigned nonzero = 0;

	for (unsigned i = 0; i < 6; i++) {
		const char *p = s + 3 * i;
		int hi, lo;

		if ((hi = hexval(p[0])) < 0 || (lo = hexval(p[1])) < 0 ||
		    p[2] != (i == 5 ? '\0' : ':'))
			return mpdp_err_set(eb, -EINVAL, "port %s: mac=%s is not an address like "
					    "02:00:00:00:00:01", port->abi->name, s);
		mac[i] = (uint8_t)(hi << 4 | lo);
		nonzero |= mac[i];
	}
	if (mac[0] & 1)
		return mpdp_err_set(eb, -EINVAL, "port %s: mac=%s is a multicast address",
				    port->abi->name, s);
	if (nonzero == 0)
		return mpdp_err_set(eb, -EINVAL, "port %s: mac=%s is all zero", port->abi->name, s);
	return 0;
}

/* What holds the name: 0 nothing, 1 a TAP, 2 a TUN, 3 another kind of interface. */
static int
iface_kind(int ctl, const char *name)
{
	struct ethtool_drvinfo info = { .cmd = ETHTOOL_GDRVINFO };
	struct ifreq ifr = { 0 };

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(ctl, SIOCGIFINDEX, &ifr) != 0)
		return 0;
	ifr.ifr_data = (char *)&info;
	if (ioctl(ctl, SIOCETHTOOL, &ifr) != 0 || strcmp(info.driver, "tun") != 0)
		return 3;
	return strcmp(info.bus_info, "tap") == 0 ? 1 : 2;
}

static void
tap_detach(struct tap_priv *tp)
{
	for (unsigned q = 0; q < MPDP_PORT_QUEUE_MAX; q++) {
		if (tp->fd[q] >= 0)
			close(tp->fd[q]);
		tp->fd[q] = -1;
	}
}

/* Open /dev/net/tun (not yet attached to any interface). */
static int
tun_open(const struct mpdp_port *port, int *out, struct mpdp_errbuf *eb)
{
	int fd = open(TAP_DEV, O_RDWR | O_NONBLOCK | O_CLOEXEC), rc;

	if (fd >= 0) {
		*out = fd;
		return 0;
	}
	rc = -errno;
	if (rc == -ENOENT || rc == -ENXIO || rc == -ENODEV)
		return mpdp_err_set(eb, -ENOENT, "port %s: no TAP support: cannot open %s: %s "
				    "(load the tun module: modprobe tun)", port->abi->name, TAP_DEV,
				    mpdp_strerror(rc));
	if (rc == -EACCES || rc == -EPERM)
		return mpdp_err_set(eb, rc, "port %s: cannot open %s: %s (the tap driver needs root "
				    "or CAP_NET_ADMIN, or access to %s)", port->abi->name, TAP_DEV,
				    mpdp_strerror(rc), TAP_DEV);
	return mpdp_err_set(eb, rc, "port %s: cannot open %s: %s", port->abi->name, TAP_DEV,
			    mpdp_strerror(rc));
}

/* Attach @p fd to the interface (creating it when absent). @return 0 or -errno */
static int
tun_setiff(int fd, const char *iface, short flags)
{
	struct ifreq ifr = { 0 };

	ifr.ifr_flags = flags;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", iface);
	return ioctl(fd, TUNSETIFF, &ifr) == 0 ? 0 : -errno;
}

static int
attach_error(const struct mpdp_port *port, const struct tap_priv *tp, int rc, int multi_queue,
	     struct mpdp_errbuf *eb)
{
	const char *name = port->abi->name;

	if (rc == -EPERM)
		return mpdp_err_set(eb, rc, "port %s: iface=%s: creating or attaching a TAP interface "
				    "needs CAP_NET_ADMIN (or a persistent TAP owned by this user)",
				    name, tp->iface);
	if (rc == -EBUSY)
		return mpdp_err_set(eb, rc, "port %s: iface=%s is a TAP already attached to another "
				    "process or port", name, tp->iface);
	if (rc == -EINVAL) {
		switch (iface_kind(tp->ctl, tp->iface)) {
		case 1:
			return mpdp_err_set(eb, rc, "port %s: iface=%s is an existing %s TAP; queues=%u "
					    "needs a %s one (or delete it)", name, tp->iface,
					    multi_queue ? "single-queue" : "multi-queue", port->n_queues,
					    multi_queue ? "multi-queue" : "single-queue");
		case 2:
			return mpdp_err_set(eb, -EEXIST, "port %s: iface=%s exists and is a TUN "
					    "(layer 3) interface, not a TAP", name, tp->iface);
		case 3:
			return mpdp_err_set(eb, -EEXIST, "port %s: iface=%s exists and is not a TAP "
					    "interface", name, tp->iface);
		default:
			break;
		}
	}
	return mpdp_err_set(eb, rc, "port %s: iface=%s: cannot create or attach the TAP: %s",
			    name, tp->iface, mpdp_strerror(rc));
}

static int
set_flags_up(const struct mpdp_port *port, const struct tap_priv *tp, struct mpdp_errbuf *eb)
{
	struct ifreq ifr = { 0 };
	int rc;

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", tp->iface);
	if (ioctl(tp->ctl, SIOCGIFFLAGS, &ifr) != 0) {
		rc = -errno;
		return mpdp_err_set(eb, rc, "port %s: iface=%s: cannot read its flags: %s",
				    port->abi->name, tp->iface, mpdp_strerror(rc));
	}
	if (ifr.ifr_flags & IFF_UP)
		return 0;
	ifr.ifr_flags = (short)(ifr.ifr_flags | IFF_UP);
	if (ioctl(tp->ctl, SIOCSIFFLAGS, &ifr) != 0) {
		rc = -errno;
		return mpdp_err_set(eb, rc, "port %s: iface=%s: cannot bring it up: %s",
				    port->abi->name, tp->iface, mpdp_strerror(rc));
	}
	return 0;
}

/*
 * Create or attach the interface with n_queues descriptors, then apply mac=,
 * up= and persistence. @p adopt_persist: persist= was absent and this is the first
 * attach, so an existing interface's persistence is adopted. On failure every
 * descriptor is closed again (an interface this call created goes with them).
 */
static int
tap_attach(struct mpdp_port *port, struct tap_priv *tp, int adopt_persist,
	   struct mpdp_errbuf *eb)
{
	short flags = IFF_TAP | IFF_NO_PI;
	int multi_queue = port->n_queues > 1;
	struct ifreq ifr = { 0 };
	int fd = -1, rc, persistent;

	rc = tun_open(port, &fd, eb);
	if (rc != 0)
		return rc;
	rc = tun_setiff(fd, tp->iface, (short)(flags | (multi_queue ? IFF_MULTI_QUEUE : 0)));
	if (rc == -EINVAL && !multi_queue && iface_kind(tp->ctl, tp->iface) == 1) {
		/* An existing multi-queue TAP: attach as its one queue. */
		multi_queue = 1;
		rc = tun_setiff(fd, tp->iface, (short)(flags | IFF_MULTI_QUEUE));
	}
	if (rc != 0) {
		close(fd);
		return attach_error(port, tp, rc, multi_queue, eb);
	}
	tp->fd[0] = fd;
	for (unsigned q = 1; q < port->n_queues; q++) {
		rc = tun_open(port, &tp->fd[q], eb);
		if (rc != 0)
			goto fail;
		rc = tun_setiff(tp->fd[q], tp->iface, (short)(flags | IFF_MULTI_QUEUE));
		if (rc != 0) {
			close(tp->fd[q]);
			tp->fd[q] = -1;
			rc = attach_error(port, tp, rc, multi_queue, eb);
			goto fail;
		}
	}
	if (ioctl(tp->fd[0], TUNGETIFF, &ifr) != 0) {
		rc = -errno;
		mpdp_err_set(eb, rc, "port %s: iface=%s: TUNGETIFF: %s", port->abi->name,
			     tp->iface, mpdp_strerror(rc));
		goto fail;
	}
	persistent = (ifr.ifr_flags & IFF_PERSIST) != 0;
	if (adopt_persist)
		tp->persist = (uint32_t)persistent;
	if (tp->has_mac) {
		struct ifreq hw = { 0 };

		snprintf(hw.ifr_name, sizeof(hw.ifr_name), "%s", tp->iface);
		hw.ifr_hwaddr.sa_family = ARPHRD_ETHER;
		memcpy(hw.ifr_hwaddr.sa_data, tp->mac, sizeof(tp->mac));
		if (ioctl(tp->fd[0], SIOCSIFHWADDR, &hw) != 0) {
			rc = -errno;
			mpdp_err_set(eb, rc, "port %s: mac=: cannot set the address of %s: %s",
				     port->abi->name, tp->iface, mpdp_strerror(rc));
			goto fail;
		}
	}
	if (tp->up && (rc = set_flags_up(port, tp, eb)) != 0)
		goto fail;
	/* Last, so that a failure above leaves an existing interface as it was. */
	if ((uint32_t)persistent != tp->persist &&
	    ioctl(tp->fd[0], TUNSETPERSIST, (unsigned long)tp->persist) != 0) {
		rc = -errno;
		mpdp_err_set(eb, rc, "port %s: persist=%u: TUNSETPERSIST on %s: %s",
			     port->abi->name, tp->persist, tp->iface, mpdp_strerror(rc));
		goto fail;
	}
	return 0;

fail:
	tap_detach(tp);
	return rc;
}

static int
tap_open(struct mpdp_port *port, struct mpdp_kvargs *kv, struct mpdp_errbuf *eb)
{
	struct tap_priv *tp = port->priv;
	uint64_t persist = TAP_PERSIST_UNSET, up = 1, queues = 1;
	const char *iface = NULL, *mac = NULL;
	int rc;

	for (unsigned q = 0; q < MPDP_PORT_QUEUE_MAX; q++)
		tp->fd[q] = -1;
	tp->ctl = -1;
	rc = mpdp__pmd_arg_str(port, kv, "iface", &iface, eb);
	if (rc == 0)
		rc = mpdp__pmd_arg_u64(port, kv, "persist", 0, 1, &persist, eb);
	if (rc == 0)
		rc = mpdp__pmd_arg_str(port, kv, "mac", &mac, eb);
	if (rc == 0)
		rc = mpdp__pmd_arg_u64(port, kv, "up", 0, 1, &up, eb);
	if (rc == 0)
		rc = mpdp__pmd_arg_u64(port, kv, "queues", 1, MPDP_PORT_QUEUE_MAX, &queues, eb);
	if (rc != 0)
		return rc;
	if (iface == NULL)
		return mpdp_err_set(eb, -EINVAL, "port %s: the tap driver needs iface=NAME",
				    port->abi->name);
	rc = iface_check(port, iface, eb);
	if (rc == 0 && mac != NULL)
		rc = mac_parse(port, mac, tp->mac, eb);
	if (rc != 0)
		return rc;
	/*
	 * A misspelt key: touch nothing, so that no interface is created only to
	 * be deleted (or, with persist=1, left behind). The port layer reports the
	 * key in its own words and calls close(), which then has nothing to do.
	 */
	if (mpdp_kvargs_check_unused(kv, NULL) != 0)
		return 0;
	snprintf(tp->iface, sizeof(tp->iface), "%s", iface);
	tp->has_mac = mac != NULL;
	tp->up = (uint32_t)up;
	tp->persist = persist == TAP_PERSIST_UNSET ? 0 : (uint32_t)persist;
	port->n_queues = (uint16_t)queues;
	tp->ctl = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (tp->ctl < 0) {
		rc = -errno;
		return mpdp_err_set(eb, rc, "port %s: cannot open a socket for interface "
				    "ioctls: %s", port->abi->name, mpdp_strerror(rc));
	}
	rc = tap_attach(port, tp, persist == TAP_PERSIST_UNSET, eb);
	if (rc != 0) {
		close(tp->ctl);
		tp->ctl = -1;
	}
	return rc;
}

static void
tap_close(struct mpdp_port *port)
{
	struct tap_priv *tp = port->priv;

	/* Without persistence, the interface goes with its last descriptor. */
	tap_detach(tp);
	if (tp->ctl >= 0)
		close(tp->ctl);
	tp->ctl = -1;
}

static uint16_t
tap_rx(struct mpdp_port *port, uint16_t q, struct mpdp_mbuf **pkts, uint16_t n)
{
	struct tap_priv *tp = port->priv;
	struct mpdp_mbuf *m = NULL;
	uint64_t errors = 0;
	uint16_t got = 0;
	int fd = tp->fd[q];

	if (tp->state != TAP_ATTACHED)
		return 0;
	/* At most n reads a call, even when oversized frames keep coming. */
	for (uint16_t tries = 0; tries < n && got < n; tries++) {
		struct iovec iov[2];
		ssize_t len;

		if (m == NULL && (m = mpdp_mbuf_alloc(port->pool, port->wid)) == NULL)
			break; /* the frame waits in the kernel until mbufs are back */
		iov[0].iov_base = mpdp_mbuf_data(m);
		iov[0].iov_len = mpdp_mbuf_tailroom(m);
		iov[1].iov_base = tp->scratch;
		iov[1].iov_len = sizeof(tp->scratch);
		len = readv(fd, iov, 2);
		if (len <= 0) {
			if (len < 0 && errno == EBADFD)
				tp->state = TAP_LOST;
			break; /* EAGAIN: nothing more; EIO: down */
		}
		if ((size_t)len > iov[0].iov_len) {
			errors++; /* longer than the data room: dropped, m is reused */
			continue;
		}
		m->data_len = (uint16_t)len;
		m->port = port->id;
		pkts[got++] = m;
		m = NULL;
	}
	if (m != NULL)
		mpdp_mbuf_free(m, port->wid);
	if (errors != 0)
		mpdp_port_count(&port->abi->queues[q].rx_errors, errors);
	return got;
}

static uint16_t
tap_tx(struct mpdp_port *port, uint16_t q, struct mpdp_mbuf **pkts, uint16_t n)
{
	struct tap_priv *tp = port->priv;
	uint64_t errors = 0;
	uint16_t i;
	int fd = tp->fd[q];

	if (tp->state != TAP_ATTACHED)
		return 0;
	for (i = 0; i < n; i++) {
		if (write(fd, mpdp_mbuf_data(pkts[i]), pkts[i]->data_len) >= 0)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS || errno == EINTR ||
		    errno == EIO)
			break; /* full, or the interface is down: the rest is the caller's */
		if (errno == EBADFD) {
			tp->state = TAP_LOST;
			break;
		}
		errors++; /* the kernel refused this frame (too short, too long): taken, freed */
	}
	mpdp_mbuf_free_bulk(pkts, i, port->wid);
	if (errors != 0)
		mpdp_port_count(&port->abi->queues[q].tx_errors, errors);
	return i;
}

static int
tap_link_check(struct mpdp_port *port)
{
	struct tap_priv *tp = port->priv;
	struct ifreq ifr = { 0 };

	if (tp->state == TAP_ATTACHED && ioctl(tp->fd[0], TUNGETIFF, &ifr) != 0 && errno == EBADFD)
		tp->state = TAP_LOST;
	if (tp->state == TAP_LOST) {
		tp->state = TAP_REPORTED; /* say "down" once before recreating */
		return 0;
	}
	if (tp->state == TAP_REPORTED) {
		tap_detach(tp);
		if (tap_attach(port, tp, 0, NULL) != 0)
			return 0;
		tp->state = TAP_ATTACHED;
		if (ioctl(tp->fd[0], TUNGETIFF, &ifr) != 0)
			return 0;
	}
	/* Down when set down here; up when up, or moved to another namespace (not found). */
	if (ioctl(tp->ctl, SIOCGIFFLAGS, &ifr) == 0 && !(ifr.ifr_flags & IFF_UP))
		return 0;
	return 1;
}

const struct mpdp_pmd_ops mpdp__pmd_tap_ops = {
	.driver = "tap",
	.priv_size = sizeof(struct tap_priv),
	.open = tap_open,
	.close = tap_close,
	.rx_burst = tap_rx,
	.tx_burst = tap_tx,
	.link_check = tap_link_check,
};

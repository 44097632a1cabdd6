/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pcap: ports over libpcap, with DPDK net_pcap's device arguments.
 *
 * The receive side is a capture file (rx_pcap=, replayed loop= times, at
 * most pps= packets a second) or a live interface (rx_iface=); the
 * transmit side is a capture file (tx_pcap=) or a live interface
 * (tx_iface=); iface= is both on one handle.
 * doc/ports-pcap.md has the keys and the decisions; the ones that shape the
 * code are:
 *  - a file source is back-pressured (MPDP_PORT_F_FILE_RX) and says when it
 *    has delivered its last packet (MPDP_PORT_F_RX_EOF);
 *  - pps= is a token bucket checked in rx, which returns fewer packets
 *    (or none) rather than wait: the I/O loop polls its other ports meanwhile;
 *  - rx copies caplen bytes and notes len - caplen (struct pcap_wire, in
 *    the tail of mbuf->priv) so that tx_pcap writes the original length
 *    back; a record larger than the data room is counted, never truncated;
 *  - live handles are non-blocking (libpcap can block forever otherwise),
 *    see only what comes in (PCAP_D_IN), and are closed when their
 *    interface disappears and reopened by link_check when it returns.
 */
#include <errno.h>
#include <net/if.h>
#include <pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mpdp_log.h"
#include "mpdp_time.h"
#include "pmd_drivers.h"

#define PCAP_SNAPLEN_DEFAULT 65535
#define PCAP_SNAPLEN_MAX 262144        /* libpcap's own ceiling */
#define PCAP_OUT_SNAPLEN 65535         /* snaplen written in tx_pcap headers */
#define PCAP_RING_FRAMES 512           /* frames the kernel ring of a live rx handle holds */
#define PCAP_RING_MIN (2u << 20)       /* libpcap's default ring size */
#define PCAP_OUT_VBUF (1u << 20)       /* stdio buffer of a tx_pcap file */
#define PCAP_STASH 64                  /* mbufs taken from the pool at a time */
#define PCAP_WIRE_MAGIC 0x70636170u    /* "pcap" */
/* Keeps elapsed ticks x pps below 2^64 for counters up to ~18 GHz. */
#define PCAP_PPS_MAX 1000000000u

/*
 * What rx leaves in the last 16 bytes of mbuf->priv so that tx_pcap can
 * restore a record's original length. It is trusted only while the packet
 * still carries the timestamp rx gave it, so a stale note from the mbuf's
 * previous life (priv is not reset on allocation) is never believed.
 */
struct pcap_wire {
	uint32_t magic;
	uint32_t cut;           /* len - caplen of the record */
	uint64_t timestamp;     /* copy of mbuf->timestamp */
};

_Static_assert(sizeof(struct pcap_wire) <= MPDP_MBUF_PRIV_SIZE, "note fits mbuf->priv");

#define PCAP_WIRE_OFF (MPDP_MBUF_PRIV_SIZE - sizeof(struct pcap_wire))

/* A live interface handle, for one side or (iface=) both. */
struct pcap_live {
	pcap_t *h;              /* NULL while the interface is gone */
	const char *key;        /* "rx_iface", "tx_iface" or "iface", for messages */
	char ifname[IFNAMSIZ];
	int ifindex;            /* of the interface the handle is bound to */
	int rx;                 /* receives (else a drop-all filter is attached) */
	int failed;             /* the data path saw it die: link_check reopens it */
	int warned;             /* a failed reopen was logged for this outage */
	uint32_t ns_mult;       /* 1 for nanosecond timestamps, 1000 for micro */
	uint64_t kernel_drops;  /* ps_drop already added to rx_missed */
};

struct pcap_priv {
	uint32_t snaplen;
	int ctl_fd;                   /* for SIOCGIF* on live interfaces, -1 when none */
	/* receive side: at most one of rx_file and rx_live.h */
	pcap_t *rx_file;
	long rx_start;                /* offset of the first record, for loop= */
	uint64_t loop;                /* passes to make, 0 for forever */
	uint64_t passes;              /* passes finished */
	uint64_t pass_delivered;      /* packets delivered by the current pass */
	int rx_eof;
	/* pps=: credit is in packets x tsc_hz, so no division but the one per burst */
	uint64_t pps;                 /* 0: as fast as the reader asks */
	uint64_t tsc_hz;
	uint64_t credit;
	uint64_t credit_tsc;          /* when credit was last topped up, 0 before the first rx */
	struct pcap_live rx_live;
	/* transmit side: tx_dumper, tx_live or nothing */
	pcap_t *tx_dead;
	pcap_dumper_t *tx_dumper;
	FILE *tx_fp;
	char *tx_vbuf;
	int tx_failed;                /* the file stopped taking writes */
	int tx_errno;
	int tx_logged;
	char tx_path[512];
	struct pcap_live tx_live;
	struct pcap_live *tx_lv;      /* &tx_live, &rx_live (iface=) or NULL */
	/* mbufs taken from the pool ahead of the records that will fill them */
	unsigned n_stash;
	struct mpdp_mbuf *stash[PCAP_STASH];
};

struct pcap_args {
	const char *rx_pcap, *tx_pcap, *rx_iface, *tx_iface, *iface;
	uint64_t loop, snaplen, pps;
};

/* ---- opening ---- */

static int
args_get(struct mpdp_port *port, struct mpdp_kvargs *kv, struct pcap_args *a,
	 struct mpdp_errbuf *eb)
{
	int rc;

	a->loop = UINT64_MAX;
	a->snaplen = UINT64_MAX;
	a->pps = UINT64_MAX;
	rc = mpdp__pmd_arg_str(port, kv, "rx_pcap", &a->rx_pcap, eb);
	if (rc == 0)
		rc = mpdp__pmd_arg_str(port, kv, "tx_pcap", &a->tx_pcap, eb);
	if (rc == 0)
		rc = mpdp__pmd_arg_str(port, kv, "rx_iface", &a->rx_iface, eb);
	if (rc == 0)
		rc = mpdp__pmd_arg_str(port, kv, "tx_iface", &a->tx_iface, eb);
	if (rc == 0)
		rc = mpdp__pmd_arg_str(port, kv, "iface", &a->iface, eb);
	if (rc == 0)
		rc = mpdp__pmd_arg_u64(port, kv, "loop", 0, UINT32_MAX, &a->loop, eb);
	if (rc == 0)
		rc = mpdp__pmd_arg_u64(port, kv, "snaplen", 14, PCAP_SNAPLEN_MAX, &a->snaplen, eb);
	if (rc == 0)
		rc = mpdp__pmd_arg_u64(port, kv, "pps", 0, PCAP_PPS_MAX, &a->pps, eb);
	return rc;
}

/* Reject combinations that leave a side doubly given, or a key with nothing to act on. */
static int
args_check(struct mpdp_port *port, struct pcap_args *a, struct mpdp_errbuf *eb)
{
	const char *name = port->abi->name;

	if (!a->rx_pcap && !a->tx_pcap && !a->rx_iface && !a->tx_iface && !a->iface)
		return mpdp_err_set(eb, -EINVAL, "port %s: the pcap driver needs rx_pcap=, tx_pcap=, "
				    "rx_iface=, tx_iface= or iface=", name);
	if (a->iface && (a->rx_pcap || a->rx_iface || a->tx_pcap || a->tx_iface))
		return mpdp_err_set(eb, -EINVAL, "port %s: iface= gives both sides and cannot be "
				    "combined with %s=", name, a->rx_pcap ? "rx_pcap" : a->rx_iface ?
				    "rx_iface" : a->tx_pcap ? "tx_pcap" : "tx_iface");
	if (a->rx_pcap && a->rx_iface)
		return mpdp_err_set(eb, -EINVAL, "port %s: rx_pcap= and rx_iface= both give the "
				    "receive side", name);
	if (a->tx_pcap && a->tx_iface)
		return mpdp_err_set(eb, -EINVAL, "port %s: tx_pcap= and tx_iface= both give the "
				    "transmit side", name);
	if (a->loop != UINT64_MAX && !a->rx_pcap)
		return mpdp_err_set(eb, -EINVAL, "port %s: loop= applies to rx_pcap= only", name);
	if (a->pps != UINT64_MAX && !a->rx_pcap)
		return mpdp_err_set(eb, -EINVAL, "port %s: pps= applies to rx_pcap= only", name);
	if (a->snaplen != UINT64_MAX && !a->rx_iface && !a->iface)
		return mpdp_err_set(eb, -EINVAL, "port %s: snaplen= applies to live capture "
				    "(rx_iface= or iface=) only", name);
	if (a->loop == UINT64_MAX)
		a->loop = 1;
	if (a->snaplen == UINT64_MAX)
		a->snaplen = PCAP_SNAPLEN_DEFAULT;
	if (a->pps == UINT64_MAX)
		a->pps = 0;
	return 0;
}

static const char *
dlt_name(int dlt)
{
	const char *name = pcap_datalink_val_to_name(dlt);

	return name != NULL ? name : "unknown";
}

static int
rx_file_open(struct mpdp_port *port, struct pcap_priv *pp, const char *path,
	     struct mpdp_errbuf *eb)
{
	char perr[PCAP_ERRBUF_SIZE];
	FILE *fp = fopen(path, "rb");
	int rc;

	if (fp == NULL) {
		rc = -errno;
		return mpdp_err_set(eb, rc, "port %s: rx_pcap=%s: %s", port->abi->name, path,
				    rc == -ENOENT ? "no such file" : mpdp_strerror(rc));
	}
	/* Nanosecond precision: libpcap scales microsecond files up, so both read the same way. */
	pp->rx_file = pcap_fopen_offline_with_tstamp_precision(fp, PCAP_TSTAMP_PRECISION_NANO, perr);
	if (pp->rx_file == NULL) {
		fclose(fp);
		return mpdp_err_set(eb, -EINVAL, "port %s: rx_pcap=%s: not a capture file (%s)",
				    port->abi->name, path, perr);
	}
	if (pcap_datalink(pp->rx_file) != DLT_EN10MB) {
		rc = mpdp_err_set(eb, -EINVAL, "port %s: rx_pcap=%s: link type %s; ports carry "
				  "Ethernet (EN10MB) frames only", port->abi->name, path,
				  dlt_name(pcap_datalink(pp->rx_file)));
		goto fail_close;
	}
	/* Replaying seeks back here: libpcap reads records with plain stdio, no read-ahead. */
	pp->rx_start = ftell(fp);
	if (pp->loop != 1 && pp->rx_start < 0) {
		rc = mpdp_err_set(eb, -EINVAL, "port %s: rx_pcap=%s: loop= needs a file that can be "
				  "rewound", port->abi->name, path);
		goto fail_close;
	}
	return 0;

fail_close:
	pcap_close(pp->rx_file);
	pp->rx_file = NULL;
	return rc;
}

static int
tx_file_open(struct mpdp_port *port, struct pcap_priv *pp, const char *path,
	     struct mpdp_errbuf *eb)
{
	struct stat in, out;
	int rc;

	/* Opening the output truncates it: never when it is the file being read. */
	if (pp->rx_file != NULL && fstat(fileno(pcap_file(pp->rx_file)), &in) == 0 &&
	    stat(path, &out) == 0 && in.st_dev == out.st_dev && in.st_ino == out.st_ino)
		return mpdp_err_set(eb, -EINVAL, "port %s: tx_pcap=%s is the rx_pcap= file",
				    port->abi->name, path);
	snprintf(pp->tx_path, sizeof(pp->tx_path), "%s", path);
	pp->tx_fp = fopen(path, "wb");
	if (pp->tx_fp == NULL) {
		rc = -errno;
		return mpdp_err_set(eb, rc, "port %s: tx_pcap=%s: %s", port->abi->name, path,
				    rc == -ENOENT ? "no such directory" : mpdp_strerror(rc));
	}
	pp->tx_vbuf = malloc(PCAP_OUT_VBUF);
	if (pp->tx_vbuf == NULL) {
		rc = -ENOMEM;
		goto fail_fclose;
	}
	setvbuf(pp->tx_fp, pp->tx_vbuf, _IOFBF, PCAP_OUT_VBUF);
	pp->tx_dead = pcap_open_dead_with_tstamp_precision(DLT_EN10MB, PCAP_OUT_SNAPLEN,
							   PCAP_TSTAMP_PRECISION_MICRO);
	if (pp->tx_dead == NULL) {
		rc = -ENOMEM;
		goto fail_fclose;
	}
	pp->tx_dumper = pcap_dump_fopen(pp->tx_dead, pp->tx_fp);
	if (pp->tx_dumper == NULL) {
		rc = mpdp_err_set(eb, -EIO, "port %s: tx_pcap=%s: %s", port->abi->name, path,
				  pcap_geterr(pp->tx_dead));
		goto fail_dead;
	}
	return 0;

fail_dead:
	pcap_close(pp->tx_dead);
	pp->tx_dead = NULL;
fail_fclose:
	fclose(pp->tx_fp);
	pp->tx_fp = NULL;
	free(pp->tx_vbuf);
	pp->tx_vbuf = NULL;
	return rc;
}

static int
ifindex_get(int ctl_fd, const char *ifname)
{
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (ioctl(ctl_fd, SIOCGIFINDEX, &ifr) != 0)
		return 0;
	return ifr.ifr_ifindex;
}

/*
 * Open and activate a live handle on lv->ifname. On failure @p msg says
 * why (libpcap's words).
 */
static int
live_activate(struct pcap_live *lv, uint32_t snaplen, int ctl_fd, char *msg, size_t msg_size)
{
	/* A transmit-only handle must not queue every frame the interface sees. */
	static const struct bpf_insn drop_all[] = { BPF_STMT(BPF_RET | BPF_K, 0) };
	struct bpf_program prog = { 1, (struct bpf_insn *)(uintptr_t)drop_all };
	char perr[PCAP_ERRBUF_SIZE];
	pcap_t *h;
	int rc;

	h = pcap_create(lv->ifname, perr);
	if (h == NULL) {
		snprintf(msg, msg_size, "%s", perr);
		return -ENOMEM;
	}
	pcap_set_snaplen(h, (int)snaplen);
	/*
	 * Immediate mode gives each frame a slot of about snaplen bytes (on
	 * veth, with its offloads on, whatever the MTU): libpcap's default 2 MiB
	 * would hold 32 frames at snaplen 65535, a few tens of microseconds of
	 * traffic (measured). Size the ring in frames instead.
	 */
	if (lv->rx) {
		uint32_t ring = (snaplen + 128) * PCAP_RING_FRAMES;

		pcap_set_buffer_size(h, (int)(ring > PCAP_RING_MIN ? ring : PCAP_RING_MIN));
	}
	pcap_set_promisc(h, 1);
	pcap_set_immediate_mode(h, 1);
	pcap_set_tstamp_precision(h, PCAP_TSTAMP_PRECISION_NANO); /* else micro: see ns_mult */
	rc = pcap_activate(h);
	if (rc < 0) {
		snprintf(msg, msg_size, "%s", rc == PCAP_ERROR_NO_SUCH_DEVICE ? "no such interface" :
			 rc == PCAP_ERROR_IFACE_NOT_UP ? "the interface is down" : pcap_geterr(h));
		rc = rc == PCAP_ERROR_NO_SUCH_DEVICE ? -ENOENT : rc == PCAP_ERROR_IFACE_NOT_UP ?
		     -ENETDOWN : rc == PCAP_ERROR_PERM_DENIED || rc == PCAP_ERROR_PROMISC_PERM_DENIED ?
		     -EPERM : -EIO;
		goto fail;
	}
	if (pcap_datalink(h) != DLT_EN10MB) {
		snprintf(msg, msg_size, "link type %s; ports carry Ethernet (EN10MB) frames only",
			 dlt_name(pcap_datalink(h)));
		rc = -EINVAL;
		goto fail;
	}
	/* FACTS: a blocking live capture can wait forever even with a timeout. */
	if (pcap_setnonblock(h, 1, perr) != 0 ||
	    (lv->rx ? pcap_setdirection(h, PCAP_D_IN) : pcap_setfilter(h, &prog)) != 0) {
		snprintf(msg, msg_size, "%s", pcap_geterr(h));
		rc = -EIO;
		goto fail;
	}
	lv->ns_mult = pcap_get_tstamp_precision(h) == PCAP_TSTAMP_PRECISION_NANO ? 1 : 1000;
	lv->ifindex = ifindex_get(ctl_fd, lv->ifname);
	lv->kernel_drops = 0;
	lv->failed = 0;
	lv->h = h;
	return 0;

fail:
	pcap_close(h);
	return rc;
}

static int
live_open(struct mpdp_port *port, struct pcap_priv *pp, struct pcap_live *lv, const char *key,
	  const char *ifname, int rx, struct mpdp_errbuf *eb)
{
	char msg[PCAP_ERRBUF_SIZE];
	int rc;

	if (strlen(ifname) >= IFNAMSIZ)
		return mpdp_err_set(eb, -EINVAL, "port %s: %s=%s: interface names are at most %d "
				    "characters", port->abi->name, key, ifname, IFNAMSIZ - 1);
	/* Asked first: without privileges libpcap reports a missing interface as EPERM. */
	if (ifindex_get(pp->ctl_fd, ifname) == 0)
		return mpdp_err_set(eb, -ENOENT, "port %s: %s=%s: no such interface", port->abi->name,
				    key, ifname);
	lv->key = key;
	lv->rx = rx;
	snprintf(lv->ifname, sizeof(lv->ifname), "%s", ifname);
	rc = live_activate(lv, pp->snaplen, pp->ctl_fd, msg, sizeof(msg));
	if (rc != 0) {
		mpdp_err_set(eb, rc, "port %s: %s=%s: %s", port->abi->name, key, ifname, msg);
		memset(lv, 0, sizeof(*lv));
	}
	return rc;
}

static void
live_close(struct pcap_live *lv)
{
	if (lv->h != NULL)
		pcap_close(lv->h);
	lv->h = NULL;
}

static void
rx_side_close(struct pcap_priv *pp)
{
	if (pp->rx_file != NULL)
		pcap_close(pp->rx_file);
	pp->rx_file = NULL;
	live_close(&pp->rx_live);
}

static void
tx_side_close(struct pcap_priv *pp)
{
	if (pp->tx_dumper != NULL)
		pcap_dump_close(pp->tx_dumper);   /* flushes and closes tx_fp */
	if (pp->tx_dead != NULL)
		pcap_close(pp->tx_dead);
	free(pp->tx_vbuf);                        /* only once tx_fp is closed */
	pp->tx_dumper = NULL;
	pp->tx_dead = NULL;
	pp->tx_fp = NULL;
	pp->tx_vbuf = NULL;
	live_close(&pp->tx_live);
	pp->tx_lv = NULL;
}

static int
rx_side_open(struct mpdp_port *port, struct pcap_priv *pp, const struct pcap_args *a,
	     struct mpdp_errbuf *eb)
{
	if (a->rx_pcap != NULL)
		return rx_file_open(port, pp, a->rx_pcap, eb);
	if (a->rx_iface != NULL)
		return live_open(port, pp, &pp->rx_live, "rx_iface", a->rx_iface, 1, eb);
	if (a->iface != NULL)
		return live_open(port, pp, &pp->rx_live, "iface", a->iface, 1, eb);
	return 0;
}

static int
tx_side_open(struct mpdp_port *port, struct pcap_priv *pp, const struct pcap_args *a,
	     struct mpdp_errbuf *eb)
{
	int rc = 0;

	if (a->tx_pcap != NULL) {
		rc = tx_file_open(port, pp, a->tx_pcap, eb);
	} else if (a->tx_iface != NULL) {
		rc = live_open(port, pp, &pp->tx_live, "tx_iface", a->tx_iface, 0, eb);
		if (rc == 0)
			pp->tx_lv = &pp->tx_live;
	} else if (a->iface != NULL) {
		pp->tx_lv = &pp->rx_live;         /* one handle both ways, as DPDK does */
	}
	return rc;
}

static int
pcap_port_open(struct mpdp_port *port, struct mpdp_kvargs *kv, struct mpdp_errbuf *eb)
{
	struct pcap_priv *pp = port->priv;
	struct pcap_args a = { 0 };
	int rc;

	rc = args_get(port, kv, &a, eb);
	if (rc == 0)
		rc = args_check(port, &a, eb);
	if (rc != 0)
		return rc;
	pp->snaplen = (uint32_t)a.snaplen;
	pp->loop = a.loop;
	pp->pps = a.pps;
	if (pp->pps != 0)
		pp->tsc_hz = mpdp_tsc_hz();   /* measured once: about 20 ms, at open only */
	pp->ctl_fd = -1;
	if (a.rx_iface || a.tx_iface || a.iface) {
		pp->ctl_fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (pp->ctl_fd < 0) {
			rc = -errno;
			return mpdp_err_set(eb, rc, "port %s: socket for interface checks: %s",
					    port->abi->name, mpdp_strerror(rc));
		}
	}
	rc = rx_side_open(port, pp, &a, eb);
	if (rc != 0)
		goto fail_ctl;
	rc = tx_side_open(port, pp, &a, eb);
	if (rc != 0)
		goto fail_rx;
	if (pp->rx_file != NULL)
		port->abi->flags |= MPDP_PORT_F_FILE_RX;
	return 0;

fail_rx:
	rx_side_close(pp);
fail_ctl:
	if (pp->ctl_fd >= 0)
		close(pp->ctl_fd);
	pp->ctl_fd = -1;
	return rc;
}

static void pcap_port_flush(struct mpdp_port *port);

static void
pcap_port_close(struct mpdp_port *port)
{
	struct pcap_priv *pp = port->priv;

	pcap_port_flush(port);
	if (pp->n_stash > 0)
		mpdp_mbuf_free_bulk(pp->stash, pp->n_stash, port->wid);
	pp->n_stash = 0;
	tx_side_close(pp);
	rx_side_close(pp);
	if (pp->ctl_fd >= 0)
		close(pp->ctl_fd);
	pp->ctl_fd = -1;
}

/* ---- data path: no logging, no allocation but mbufs, counters instead ---- */

/* Make sure an mbuf is at hand before a record is consumed. */
static inline int
stash_ready(struct mpdp_port *port, struct pcap_priv *pp)
{
	if (pp->n_stash > 0)
		return 1;
	if (mpdp_mbuf_alloc_bulk(port->pool, port->wid, pp->stash, PCAP_STASH) == PCAP_STASH)
		pp->n_stash = PCAP_STASH;
	else if (mpdp_mbuf_alloc_bulk(port->pool, port->wid, pp->stash, 1) == 1)
		pp->n_stash = 1;
	return pp->n_stash > 0;
}

/* Copy one record into a stashed mbuf. @return 0 when it was counted as an error instead. */
static inline int
rx_take(struct mpdp_port *port, struct pcap_priv *pp, const struct pcap_pkthdr *h,
	const u_char *data, uint32_t ns_mult, struct mpdp_mbuf **out)
{
	struct mpdp_mbuf *m = pp->stash[pp->n_stash - 1];
	struct pcap_wire w;

	if (h->caplen > mpdp_mbuf_tailroom(m)) {   /* larger than the data room */
		mpdp_port_count(&port->abi->queues[0].rx_errors, 1);
		return 0;
	}
	pp->n_stash--;
	memcpy(mpdp_mbuf_data(m), data, h->caplen);
	m->data_len = (uint16_t)h->caplen;
	m->port = port->id;
	m->timestamp = (uint64_t)h->ts.tv_sec * 1000000000u + (uint64_t)h->ts.tv_usec * ns_mult;
	w.magic = PCAP_WIRE_MAGIC;
	w.cut = h->len > h->caplen ? h->len - h->caplen : 0;
	w.timestamp = m->timestamp;
	memcpy(m->priv + PCAP_WIRE_OFF, &w, sizeof(w));
	*out = m;
	return 1;
}

/* The pass ended: rewind for the next one, or mark the end of the input. */
static void
rx_file_pass_end(struct mpdp_port *port, struct pcap_priv *pp)
{
	pp->passes++;
	/* A pass that gave nothing would make loop=0 spin without end. */
	if ((pp->loop != 0 && pp->passes >= pp->loop) || pp->pass_delivered == 0 ||
	    fseek(pcap_file(pp->rx_file), pp->rx_start, SEEK_SET) != 0) {
		pp->rx_eof = 1;
		/* Nothing more will be read: the stash goes back, so a drained instance holds no mbuf. */
		mpdp_mbuf_free_bulk(pp->stash, pp->n_stash, port->wid);
		pp->n_stash = 0;
		__atomic_or_fetch(&port->abi->flags, MPDP_PORT_F_RX_EOF, __ATOMIC_RELEASE);
		return;
	}
	pp->pass_delivered = 0;
}

/*
 * pps=: how many packets this call may deliver. The bucket fills at pps
 * per second and holds 10 ms of them (at least one burst): enough to make
 * up for a poller that lost its core for a moment, never a flood.
 */
static inline uint16_t
rx_budget(struct pcap_priv *pp, uint16_t n)
{
	uint64_t depth = pp->pps / 100 > n ? pp->pps / 100 : n;
	uint64_t now = mpdp_tsc(), cap = depth * pp->tsc_hz, dt, allowed;

	dt = now > pp->credit_tsc ? now - pp->credit_tsc : 0;
	if (pp->credit_tsc == 0 || dt >= pp->tsc_hz)
		pp->credit = cap;
	else
		pp->credit += dt * pp->pps;
	if (pp->credit > cap)
		pp->credit = cap;
	pp->credit_tsc = now;
	allowed = pp->credit / pp->tsc_hz;
	return allowed < n ? (uint16_t)allowed : n;
}

static uint16_t
rx_file(struct mpdp_port *port, struct pcap_priv *pp, struct mpdp_mbuf **pkts, uint16_t n)
{
	struct pcap_pkthdr *h;
	const u_char *data;
	uint16_t got = 0;
	int pass_end = 0;

	if (pp->rx_eof)
		return 0;
	if (pp->pps != 0) {
		n = rx_budget(pp, n);
		if (n == 0)
			return 0;
	}
	while (got < n && stash_ready(port, pp)) {
		int rc = pcap_next_ex(pp->rx_file, &h, &data);

		if (rc == 1) {
			got = (uint16_t)(got + rx_take(port, pp, h, data, 1, &pkts[got]));
			continue;
		}
		if (rc == 0)                   /* not from a file; kept for safety */
			break;
		if (rc != PCAP_ERROR_BREAK)   /* a truncated or unreadable record ends the pass */
			mpdp_port_count(&port->abi->queues[0].rx_errors, 1);
		pass_end = 1;                  /* at most one pass boundary per call */
		break;
	}
	pp->pass_delivered += got;
	if (pass_end)
		rx_file_pass_end(port, pp);
	pp->credit -= (uint64_t)got * pp->tsc_hz;   /* stays 0 without pps= */
	return got;
}

static uint16_t
rx_live(struct mpdp_port *port, struct pcap_priv *pp, struct mpdp_mbuf **pkts, uint16_t n)
{
	struct pcap_live *lv = &pp->rx_live;
	struct pcap_pkthdr *h;
	const u_char *data;
	uint16_t got = 0;

	if (lv->h == NULL || lv->failed)
		return 0;
	while (got < n && stash_ready(port, pp)) {
		int rc = pcap_next_ex(lv->h, &h, &data);

		if (rc == 1) {
			got = (uint16_t)(got + rx_take(port, pp, h, data, lv->ns_mult, &pkts[got]));
			continue;
		}
		if (rc < 0) {                  /* the interface went away: link_check reopens */
			lv->failed = 1;
			mpdp_port_count(&port->abi->queues[0].rx_errors, 1);
		}
		break;
	}
	return got;
}

static uint16_t
pcap_port_rx(struct mpdp_port *port, uint16_t q, struct mpdp_mbuf **pkts, uint16_t n)
{
	struct pcap_priv *pp = port->priv;

	(void)q;
	if (pp->rx_file != NULL)
		return rx_file(port, pp, pkts, n);
	return rx_live(port, pp, pkts, n);
}

/* The original length of a packet: data_len plus what its capture cut off. */
static inline uint32_t
wire_len(const struct mpdp_mbuf *m)
{
	struct pcap_wire w;

	memcpy(&w, m->priv + PCAP_WIRE_OFF, sizeof(w));
	if (w.magic != PCAP_WIRE_MAGIC || w.timestamp != m->timestamp)
		return m->data_len;
	return m->data_len + w.cut;
}

static uint16_t
tx_file(struct mpdp_port *port, struct pcap_priv *pp, struct mpdp_mbuf **pkts, uint16_t n)
{
	uint64_t now = 0;

	if (pp->tx_failed) {
		mpdp_port_count(&port->abi->queues[0].tx_errors, n);
		mpdp_mbuf_free_bulk(pkts, n, port->wid);
		return n;
	}
	for (uint16_t i = 0; i < n; i++) {
		const struct mpdp_mbuf *m = pkts[i];
		struct pcap_pkthdr hdr;
		uint64_t ts = m->timestamp;

		if (ts == 0) {             /* no capture time: stamp it with the time it is written */
			if (now == 0) {
				struct timespec t;

				clock_gettime(CLOCK_REALTIME, &t);
				now = (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
			}
			ts = now;
		}
		hdr.ts.tv_sec = (time_t)(ts / 1000000000u);
		hdr.ts.tv_usec = (suseconds_t)(ts % 1000000000u / 1000u);
		hdr.caplen = m->data_len;
		hdr.len = wire_len(m);
		pcap_dump((u_char *)pp->tx_dumper, &hdr, mpdp_mbuf_data(m));
	}
	if (ferror_unlocked(pp->tx_fp)) {    /* disk full or I/O error: this burst is lost */
		pp->tx_failed = 1;
		pp->tx_errno = errno;
		mpdp_port_count(&port->abi->queues[0].tx_errors, n);
	}
	mpdp_mbuf_free_bulk(pkts, n, port->wid);
	return n;
}

static uint16_t
tx_live(struct mpdp_port *port, struct pcap_live *lv, struct mpdp_mbuf **pkts, uint16_t n)
{
	uint16_t i;

	if (lv->h == NULL || lv->failed)
		return 0;
	for (i = 0; i < n; i++) {
		int e;

		if (pcap_inject(lv->h, mpdp_mbuf_data(pkts[i]), pkts[i]->data_len) >= 0)
			continue;
		e = errno;
		/* Full socket buffer or link down: leave the rest to the caller. */
		if (e == EAGAIN || e == EWOULDBLOCK || e == ENOBUFS || e == ENETDOWN)
			break;
		if (e == ENXIO || e == ENODEV) {   /* the interface is gone: link_check reopens */
			lv->failed = 1;
			break;
		}
		mpdp_port_count(&port->abi->queues[0].tx_errors, 1); /* e.g. larger than the MTU */
	}
	mpdp_mbuf_free_bulk(pkts, i, port->wid);
	return i;
}

static uint16_t
pcap_port_tx(struct mpdp_port *port, uint16_t q, struct mpdp_mbuf **pkts, uint16_t n)
{
	struct pcap_priv *pp = port->priv;

	(void)q;
	if (pp->tx_dumper != NULL)
		return tx_file(port, pp, pkts, n);
	if (pp->tx_lv != NULL)
		return tx_live(port, pp->tx_lv, pkts, n);
	/* No transmit side: as DPDK's net_pcap, sending is dropping, counted as sent. */
	mpdp_mbuf_free_bulk(pkts, n, port->wid);
	return n;
}

/* ---- housekeeping (the poller, about every 100 ms) ---- */

static void
pcap_port_flush(struct mpdp_port *port)
{
	struct pcap_priv *pp = port->priv;

	if (pp->tx_dumper == NULL)
		return;
	if (!pp->tx_failed && pcap_dump_flush(pp->tx_dumper) != 0) {
		pp->tx_failed = 1;
		pp->tx_errno = errno;
	}
	if (pp->tx_failed && !pp->tx_logged) {
		pp->tx_logged = 1;
		MPDP_LOG(ERR, "port %s: tx_pcap=%s: write failed (%s); what is sent to it from now "
			 "on counts as tx_errors", port->abi->name, pp->tx_path,
			 mpdp_strerror(pp->tx_errno ? -pp->tx_errno : -EIO));
	}
}

/*
 * One live handle: is its interface there and running? Ask the kernel
 * with ioctls rather than /sys/class/net, which shows the interfaces of
 * the namespace sysfs was mounted in, not necessarily ours. A handle whose
 * interface vanished (or was replaced: new ifindex) is closed, and a new
 * one opened once the interface is back and up.
 */
static int
live_check(struct mpdp_port *port, struct pcap_priv *pp, struct pcap_live *lv)
{
	char msg[PCAP_ERRBUF_SIZE];
	struct ifreq ifr;
	int index = ifindex_get(pp->ctl_fd, lv->ifname), up, rc;

	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", lv->ifname);
	up = index > 0 && ioctl(pp->ctl_fd, SIOCGIFFLAGS, &ifr) == 0 &&
	     (ifr.ifr_flags & IFF_UP) && (ifr.ifr_flags & IFF_RUNNING);
	if (lv->h != NULL && (lv->failed || index != lv->ifindex)) {
		MPDP_LOG(NOTICE, "port %s: %s=%s: the interface %s; capture closed until it is back",
			 port->abi->name, lv->key, lv->ifname, index == 0 ? "is gone" :
			 index != lv->ifindex ? "was replaced" : "failed");
		live_close(lv);
		lv->warned = 0;
	}
	if (lv->h == NULL && up) {
		rc = live_activate(lv, pp->snaplen, pp->ctl_fd, msg, sizeof(msg));
		if (rc == 0)
			MPDP_LOG(NOTICE, "port %s: %s=%s: capture reopened", port->abi->name, lv->key,
				 lv->ifname);
		else if (!lv->warned)
			MPDP_LOG(WARN, "port %s: %s=%s: cannot reopen: %s (retrying)", port->abi->name,
				 lv->key, lv->ifname, msg);
		lv->warned = rc != 0;
	}
	if (lv->h != NULL && lv->rx) {
		struct pcap_stat st;

		/* Frames the kernel dropped because we were late count as missed. */
		if (pcap_stats(lv->h, &st) == 0 && st.ps_drop > lv->kernel_drops) {
			mpdp_port_count(&port->abi->queues[0].rx_missed, st.ps_drop - lv->kernel_drops);
			lv->kernel_drops = st.ps_drop;
		}
	}
	return lv->h != NULL && up;
}

static int
pcap_port_link_check(struct mpdp_port *port)
{
	struct pcap_priv *pp = port->priv;
	int up = 1;

	if (pp->rx_live.key != NULL)
		up &= live_check(port, pp, &pp->rx_live);
	if (pp->tx_live.key != NULL)
		up &= live_check(port, pp, &pp->tx_live);
	if (pp->tx_dumper != NULL && pp->tx_failed)
		up = 0;
	return up;
}

const struct mpdp_pmd_ops mpdp__pmd_pcap_ops = {
	.driver = "pcap",
	.priv_size = sizeof(struct pcap_priv),
	.open = pcap_port_open,
	.close = pcap_port_close,
	.rx_burst = pcap_port_rx,
	.tx_burst = pcap_port_tx,
	.link_check = pcap_port_link_check,
	.flush = pcap_port_flush,
};

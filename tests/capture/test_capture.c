/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Capture tests: the data-path side (mpdp_capture.h) driven as a dequeuer or
 * a port would drive it, and the primary's manager (primary/capture.c,
 * compiled in), with every file read back by a small pcapng reader of our
 * own (and by tshark when it is installed).
 *
 * Checked: only the matching packets are written, in order, byte for byte,
 * with their original length, truncated at snaplen, with non-decreasing
 * timestamps; the originals are never touched; a count limit ends a capture
 * on its own; captures run side by side; rings and ports; every refused
 * start (bad filter, target, snaplen, fd, double capture, all slots busy)
 * says why and changes nothing; a late copy of an ended capture is freed,
 * not written into the next capture's file; a slot full of garbage neither
 * crashes the copy path nor copies; and copies racing with stop lose,
 * leak and double-free no buffer.
 *
 * Run with "perf" as the first argument for the cost of the copy path and
 * of the lock-free zone lookup (a benchmark: doc/performance.md).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "capture.h"
#include "mpdp_capture.h"
#include "mpdp_mbuf.h"
#include "mpdp_pkt.h"
#include "mpdp_pool.h"
#include "mpdp_ring.h"
#include "mpdp_shm.h"
#include "mpdp_time.h"
#include "test_instance.h"

#define N_RINGS 6
#define PKT_POOL_N 1024
#define FRAME_MAX 2048
#define FILES_MAX 16

struct fixture {
	struct test_instance ti;
	struct mpdp_shm *shm;
	struct mpdp_pool *pkts;
	struct mpdp_ring *rings[N_RINGS];   /* "r0".."r5" */
	struct capture_mgr *m;
	char files[FILES_MAX][64];
	unsigned n_files;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct mpdp_errbuf eb = { "" };

	if (f == NULL)
		return -1;
	test_instance_create(&f->ti, "tcap", 64ull << 20, 0);
	f->shm = f->ti.shm;
	assert_int_equal(mpdp_capture_zone_memsize() > 0, 1);
	assert_int_equal(capture_mgr_open(f->shm, &f->m, &eb), 0);
	assert_int_equal(mpdp_mbuf_pool_create(f->shm, "pkts", PKT_POOL_N, 0, FRAME_MAX, -1,
					       &f->pkts), 0);
	for (unsigned i = 0; i < N_RINGS; i++) {
		char name[16];

		snprintf(name, sizeof(name), "r%u", i);
		assert_int_equal(mpdp_ring_create(f->shm, name, 256, 0, -1, &f->rings[i]), 0);
	}
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	struct mpdp_pool *cap;
	struct mpdp_capture_zone *z;

	if (f->m != NULL)
		capture_mgr_close(f->m);
	/* Closing the manager frees its pool and zone. */
	assert_int_equal(mpdp_pool_lookup(f->shm, MPDP_CAPTURE_POOL, &cap), -ENOENT);
	assert_int_equal(mpdp_capture_zone_lookup(f->shm, &z), -ENOENT);
	assert_int_equal(mpdp_pool_in_use_count(f->pkts), 0);
	for (unsigned i = 0; i < N_RINGS; i++)
		mpdp_ring_delete(f->shm, f->rings[i]);
	mpdp_pool_delete(f->shm, f->pkts);
	test_instance_destroy(&f->ti);
	for (unsigned i = 0; i < f->n_files; i++)
		unlink(f->files[i]);
	free(f);
	return 0;
}

/* --- frames ----------------------------------------------------------------- */

struct frame {
	uint8_t b[FRAME_MAX];
	unsigned len;
};

static void
eth_header(uint8_t *b, uint16_t type)
{
	static const uint8_t macs[12] = { 2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2 };

	memcpy(b, macs, sizeof(macs));
	mpdp_put_be16(b + 12, type);
}

/* Ethernet + IPv4 + UDP (proto 17) or TCP (6), @payload bytes stamped with @seq. */
static void
frame_ipv4(struct frame *fr, uint8_t proto, uint16_t sport, uint16_t dport, unsigned payload,
	   uint32_t seq)
{
	unsigned l4 = proto == 6 ? 20 : 8;
	uint8_t *ip = fr->b + 14, *th = ip + 20, *data = th + l4;
	uint32_t sum = 0;

	assert_true(14 + 20 + l4 + payload <= FRAME_MAX);
	memset(fr->b, 0, 14 + 20 + l4);
	eth_header(fr->b, 0x0800);
	ip[0] = 0x45;
	mpdp_put_be16(ip + 2, (uint16_t)(20 + l4 + payload));
	mpdp_put_be16(ip + 4, (uint16_t)seq);
	ip[8] = 64;
	ip[9] = proto;
	mpdp_put_be32(ip + 12, 0x0a000001);
	mpdp_put_be32(ip + 16, 0x0a000002);
	for (unsigned i = 0; i < 20; i += 2)
		sum += (uint32_t)(ip[i] << 8 | ip[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	mpdp_put_be16(ip + 10, (uint16_t)~sum);
	mpdp_put_be16(th, sport);
	mpdp_put_be16(th + 2, dport);
	if (proto == 6) {
		mpdp_put_be32(th + 4, seq);
		th[12] = 5 << 4;
		th[13] = 0x18;
		mpdp_put_be16(th + 14, 65535);
	} else {
		mpdp_put_be16(th + 4, (uint16_t)(8 + payload));
	}
	for (unsigned i = 0; i < payload; i++)
		data[i] = (uint8_t)(seq * 7 + i);
	fr->len = 14 + 20 + l4 + payload;
}

static void
frame_arp(struct frame *fr)
{
	memset(fr->b, 0, 14 + 28);
	eth_header(fr->b, 0x0806);
	mpdp_put_be16(fr->b + 14, 1);
	mpdp_put_be16(fr->b + 16, 0x0800);
	fr->b[18] = 6;
	fr->b[19] = 4;
	mpdp_put_be16(fr->b + 20, 1);
	fr->len = 14 + 28;
}

static struct mpdp_mbuf *
mbuf_of(struct fixture *f, const struct frame *fr)
{
	struct mpdp_mbuf *m = mpdp_mbuf_alloc(f->pkts, MPDP_POOL_NO_CACHE);

	assert_non_null(m);
	memcpy(mpdp_mbuf_append(m, fr->len), fr->b, fr->len);
	return m;
}

/*
 * Send @n frames through ring @r in bursts of @burst as a dequeuer would:
 * enqueue, dequeue, offer the burst to capture, check it is untouched and
 * in order, free it.
 */
static void
pass_ring(struct fixture *f, struct mpdp_ring *r, const struct frame *fr, unsigned n,
	  unsigned burst)
{
	for (unsigned base = 0; base < n; base += burst) {
		unsigned k = n - base < burst ? n - base : burst;
		struct mpdp_mbuf *in[64], *out[64];

		assert_true(k <= 64);
		for (unsigned i = 0; i < k; i++)
			in[i] = mbuf_of(f, &fr[base + i]);
		assert_int_equal(mpdp_ring_enqueue_burst(r, (void *const *)in, k, NULL), k);
		assert_int_equal(mpdp_ring_dequeue_burst(r, (void **)out, k, NULL), k);
		mpdp_capture_ring(f->shm, r, out, k);
		for (unsigned i = 0; i < k; i++) {
			assert_ptr_equal(out[i], in[i]);
			assert_int_equal(out[i]->data_len, fr[base + i].len);
			assert_memory_equal(mpdp_mbuf_data(out[i]), fr[base + i].b, fr[base + i].len);
		}
		mpdp_mbuf_free_bulk(out, k, MPDP_POOL_NO_CACHE);
	}
}

/* --- files ------------------------------------------------------------------ */

/* A new empty file, open for writing; its path is removed at teardown. */
static int
new_file(struct fixture *f, char **path)
{
	char *p;
	int fd;

	assert_true(f->n_files < FILES_MAX);
	p = f->files[f->n_files++];
	snprintf(p, 64, "/tmp/mpdp-cap-XXXXXX");
	fd = mkstemp(p);
	assert_true(fd >= 0);
	*path = p;
	return fd;
}

struct rd_pkt {
	uint64_t ts;
	uint32_t caplen, origlen;
	const uint8_t *data;
};

/* A pcapng file as read back: its blocks, checked for structure on the way. */
struct rd {
	uint8_t *buf;
	size_t len;
	unsigned n_shb, n_idb, n_isb, n_other;
	uint16_t linktype;
	uint32_t snaplen;
	int tsresol;
	char if_name[64];
	char filter[CAPTURE_FILTER_MAX + 1];
	uint64_t isb_accept, isb_drop, isb_deliv, isb_start, isb_end;
	unsigned n;
	struct rd_pkt *pkts;
};

static uint16_t
rd16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static uint32_t
rd32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static uint64_t
rd64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/* Walk the options of a block from @p to @end; call back per option. */
static void
rd_options(struct rd *r, uint32_t type, const uint8_t *p, const uint8_t *end)
{
	while (p + 4 <= end) {
		uint16_t code = rd16(p), len = rd16(p + 2);
		const uint8_t *v = p + 4;

		if (code == 0)
			return;
		assert_true(v + len <= end);
		if (type == 1 && code == 2)
			snprintf(r->if_name, sizeof(r->if_name), "%.*s", (int)len, v);
		if (type == 1 && code == 9) {
			assert_int_equal(len, 1);
			r->tsresol = v[0];
		}
		if (type == 1 && code == 11) {
			assert_true(len >= 1);
			assert_int_equal(v[0], 0);
			snprintf(r->filter, sizeof(r->filter), "%.*s", (int)len - 1, v + 1);
		}
		if (type == 5 && (code == 2 || code == 3)) {
			uint64_t t = (uint64_t)rd32(v) << 32 | rd32(v + 4);

			assert_int_equal(len, 8);
			*(code == 2 ? &r->isb_start : &r->isb_end) = t;
		}
		if (type == 5 && code == 6)
			r->isb_accept = rd64(v);
		if (type == 5 && code == 7)
			r->isb_drop = rd64(v);
		if (type == 5 && code == 8)
			r->isb_deliv = rd64(v);
		p = v + ((len + 3u) & ~3u);
	}
}

static void
rd_file(const char *path, struct rd *r)
{
	FILE *fp = fopen(path, "rb");
	struct stat st;
	size_t off = 0;

	memset(r, 0, sizeof(*r));
	r->tsresol = -1;
	assert_non_null(fp);
	assert_int_equal(fstat(fileno(fp), &st), 0);
	r->len = (size_t)st.st_size;
	r->buf = malloc(r->len + 1);
	assert_non_null(r->buf);
	assert_int_equal(fread(r->buf, 1, r->len, fp), r->len);
	fclose(fp);
	r->pkts = calloc(r->len / 32 + 1, sizeof(*r->pkts));
	assert_non_null(r->pkts);
	while (off < r->len) {
		const uint8_t *b = r->buf + off;
		uint32_t type, total;

		assert_true(r->len - off >= 12);
		type = rd32(b);
		total = rd32(b + 4);
		assert_true(total >= 12 && total % 4 == 0 && total <= r->len - off);
		assert_int_equal(rd32(b + total - 4), total);
		if (off == 0)
			assert_int_equal(type, 0x0A0D0D0A);
		switch (type) {
		case 0x0A0D0D0A:
			assert_int_equal(rd32(b + 8), 0x1A2B3C4D);
			assert_int_equal(rd16(b + 12), 1);
			assert_int_equal(rd16(b + 14), 0);
			r->n_shb++;
			break;
		case 1:
			r->linktype = rd16(b + 8);
			r->snaplen = rd32(b + 12);
			rd_options(r, 1, b + 16, b + total - 4);
			r->n_idb++;
			break;
		case 5:
			assert_int_equal(rd32(b + 8), 0);
			rd_options(r, 5, b + 20, b + total - 4);
			r->n_isb++;
			break;
		case 6: {
			struct rd_pkt *p = &r->pkts[r->n++];

			assert_int_equal(rd32(b + 8), 0);
			p->ts = (uint64_t)rd32(b + 12) << 32 | rd32(b + 16);
			p->caplen = rd32(b + 20);
			p->origlen = rd32(b + 24);
			p->data = b + 28;
			assert_true(28 + ((p->caplen + 3u) & ~3u) + 4 <= total);
			assert_true(p->caplen <= p->origlen);
			break;
		}
		default:
			r->n_other++;
		}
		off += total;
	}
	assert_int_equal(r->n_shb, 1);
	assert_int_equal(r->n_idb, 1);
	assert_int_equal(r->n_other, 0);
}

static void
rd_free(struct rd *r)
{
	free(r->buf);
	free(r->pkts);
}

/*
 * tshark reads the file and finds @n packets with these lengths. Skipped,
 * with the reason printed, when tshark is not installed.
 */
static void
tshark_agrees(const char *path, unsigned n, const struct rd *r)
{
	char cmd[256], line[128];
	unsigned got = 0;
	FILE *p;

	if (system("command -v tshark >/dev/null 2>&1") != 0) {
		printf("# tshark is not installed: not cross-checking %s\n", path);
		return;
	}
	snprintf(cmd, sizeof(cmd), "tshark -n -r '%s' -T fields -e frame.len -e frame.cap_len 2>/dev/null",
		 path);
	p = popen(cmd, "r");
	assert_non_null(p);
	while (fgets(line, sizeof(line), p) != NULL) {
		unsigned len, cap;

		assert_int_equal(sscanf(line, "%u %u", &len, &cap), 2);
		assert_true(got < r->n);
		assert_int_equal(len, r->pkts[got].origlen);
		assert_int_equal(cap, r->pkts[got].caplen);
		got++;
	}
	assert_int_equal(WEXITSTATUS(pclose(p)), 0);
	assert_int_equal(got, n);
}

/* --- manager helpers --------------------------------------------------------- */

static struct capture_info
info_of(struct fixture *f, uint32_t id)
{
	struct capture_info all[MPDP_CAPTURE_MAX + CAPTURE_HISTORY];
	unsigned n = capture_list(f->m, all, MPDP_CAPTURE_MAX + CAPTURE_HISTORY);

	for (unsigned i = 0; i < n; i++) {
		if (all[i].id == id)
			return all[i];
	}
	fail_msg("capture %u is not listed", id);
	return all[0];
}

static unsigned
n_listed(struct fixture *f)
{
	struct capture_info all[MPDP_CAPTURE_MAX + CAPTURE_HISTORY];

	return capture_list(f->m, all, MPDP_CAPTURE_MAX + CAPTURE_HISTORY);
}

static uint32_t
start_ok(struct fixture *f, const char *target, const char *filter, unsigned snaplen,
	 uint64_t count, char **path)
{
	struct mpdp_errbuf eb = { "" };
	uint32_t id = 0;
	int fd = new_file(f, path);
	int rc = capture_start(f->m, target, filter, snaplen, count, fd, *path, &id, &eb);

	if (rc != 0)
		fail_msg("capture_start(%s, '%s'): %s (%s)", target, filter, eb.msg, mpdp_strerror(rc));
	assert_true(id >= 1);
	return id;
}

static void
stop_ok(struct fixture *f, uint32_t id)
{
	struct mpdp_errbuf eb = { "" };
	int rc = capture_stop(f->m, id, &eb);

	if (rc != 0)
		fail_msg("capture_stop(%u): %s (%s)", id, eb.msg, mpdp_strerror(rc));
}

static struct mpdp_pool *
capture_pool(struct fixture *f)
{
	struct mpdp_pool *p;

	assert_int_equal(mpdp_pool_lookup(f->shm, MPDP_CAPTURE_POOL, &p), 0);
	return p;
}

/* Every capture buffer is free, each once: none leaked, none freed twice. */
static void
expect_capture_pool_whole(struct fixture *f)
{
	struct mpdp_pool *p = capture_pool(f);
	void **objs = calloc(MPDP_CAPTURE_POOL_SIZE + 1, sizeof(*objs));

	assert_non_null(objs);
	assert_int_equal(mpdp_pool_in_use_count(p), 0);
	assert_int_equal(mpdp_pool_avail_count(p), MPDP_CAPTURE_POOL_SIZE);
	assert_int_equal(mpdp_pool_get_bulk(p, MPDP_POOL_NO_CACHE, objs, MPDP_CAPTURE_POOL_SIZE),
			 MPDP_CAPTURE_POOL_SIZE);
	assert_int_equal(mpdp_pool_get_bulk(p, MPDP_POOL_NO_CACHE, objs + MPDP_CAPTURE_POOL_SIZE, 1), 0);
	for (unsigned i = 0; i < MPDP_CAPTURE_POOL_SIZE; i++)
		assert_true(mpdp_pool_owns(p, objs[i]));
	for (unsigned i = 0; i < MPDP_CAPTURE_POOL_SIZE; i++) {
		for (unsigned j = i + 1; j < MPDP_CAPTURE_POOL_SIZE; j++)
			assert_ptr_not_equal(objs[i], objs[j]);
	}
	mpdp_pool_put_bulk(p, MPDP_POOL_NO_CACHE, objs, MPDP_CAPTURE_POOL_SIZE);
	free(objs);
}

static uint64_t
now_realtime(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* --- tests ------------------------------------------------------------------- */

/* 40 frames: every 5th is UDP to port 53 (one of them large), the rest are near misses. */
static unsigned
mixed_frames(struct frame *fr, unsigned n, int *match)
{
	unsigned matches = 0;

	for (unsigned i = 0; i < n; i++) {
		switch (i % 5) {
		case 0:
			frame_ipv4(&fr[i], 17, 4000, 53, i == 10 ? 1400 : 20 + i, i);
			break;
		case 1:
			frame_ipv4(&fr[i], 17, 4000, 54, 20, i);   /* other port */
			break;
		case 2:
			frame_ipv4(&fr[i], 6, 4000, 53, 20, i);    /* TCP to 53 */
			break;
		case 3:
			frame_ipv4(&fr[i], 17, 53, 4000, 20, i);   /* from 53, not to it */
			break;
		default:
			frame_arp(&fr[i]);
		}
		match[i] = i % 5 == 0;
		matches += (unsigned)match[i];
	}
	return matches;
}

static void
test_filter_writes_only_matching_packets_in_order(void **state)
{
	struct fixture *f = *state;
	struct frame fr[40];
	int match[40];
	unsigned want = mixed_frames(fr, 40, match), k = 0;
	uint64_t t0 = now_realtime(), t1;
	char *path;
	uint32_t id = start_ok(f, "r0", "udp and dst port 53", 0, 0, &path);
	struct capture_info ci;
	struct rd r;

	assert_int_equal(atomic_load(&f->rings[0]->capture), id + 1);
	ci = info_of(f, id);
	assert_int_equal(ci.state, CAPTURE_RUNNING);
	assert_string_equal(ci.kind, "ring");
	assert_string_equal(ci.target, "r0");
	assert_string_equal(ci.filter, "udp and dst port 53");
	assert_string_equal(ci.file, path);
	assert_int_equal(ci.snaplen, MPDP_CAPTURE_SNAPLEN_MAX);

	pass_ring(f, f->rings[0], fr, 20, 7);
	capture_poll(f->m);
	pass_ring(f, f->rings[0], fr + 20, 20, 32);
	capture_poll(f->m);
	ci = info_of(f, id);
	assert_int_equal(ci.matched, want);
	assert_int_equal(ci.written, want);
	stop_ok(f, id);
	t1 = now_realtime();

	assert_int_equal(atomic_load(&f->rings[0]->capture), 0);
	ci = info_of(f, id);
	assert_int_equal(ci.state, CAPTURE_STOPPED);
	assert_string_equal(capture_state_name(ci.state), "stopped");
	assert_int_equal(ci.matched, want);
	assert_int_equal(ci.written, want);
	assert_int_equal(ci.dropped, 0);
	assert_string_equal(ci.error, "");
	expect_capture_pool_whole(f);
	assert_int_equal(mpdp_pool_in_use_count(f->pkts), 0);

	rd_file(path, &r);
	assert_int_equal(r.linktype, 1);
	assert_int_equal(r.snaplen, MPDP_CAPTURE_SNAPLEN_MAX);
	assert_int_equal(r.tsresol, 9);
	assert_string_equal(r.if_name, "r0");
	assert_string_equal(r.filter, "udp and dst port 53");
	assert_int_equal(r.n, want);
	for (unsigned i = 0; i < 40; i++) {
		if (!match[i])
			continue;
		assert_int_equal(r.pkts[k].caplen, fr[i].len);
		assert_int_equal(r.pkts[k].origlen, fr[i].len);
		assert_memory_equal(r.pkts[k].data, fr[i].b, fr[i].len);
		assert_true(r.pkts[k].ts >= t0 && r.pkts[k].ts <= t1);
		if (k > 0)
			assert_true(r.pkts[k].ts >= r.pkts[k - 1].ts);
		k++;
	}
	assert_int_equal(r.n_isb, 1);
	assert_int_equal(r.isb_accept, want);
	assert_int_equal(r.isb_deliv, want);
	assert_int_equal(r.isb_drop, 0);
	assert_true(r.isb_start >= t0 && r.isb_start <= r.isb_end && r.isb_end <= t1);
	tshark_agrees(path, want, &r);
	rd_free(&r);
}

static void
test_snaplen_truncates_and_keeps_original_length(void **state)
{
	struct fixture *f = *state;
	struct frame fr[4];
	char *path;
	uint32_t id;
	struct rd r;

	frame_ipv4(&fr[0], 17, 1, 53, 1000, 1);
	frame_ipv4(&fr[1], 17, 1, 53, 10, 2);     /* 52 bytes: shorter than the snaplen */
	frame_ipv4(&fr[2], 6, 1, 80, 1400, 3);
	frame_ipv4(&fr[3], 17, 1, 53, 1470, 4);
	id = start_ok(f, "r1", "", 60, 0, &path);
	pass_ring(f, f->rings[1], fr, 4, 4);
	stop_ok(f, id);
	rd_file(path, &r);
	assert_int_equal(r.snaplen, 60);
	assert_string_equal(r.filter, "");
	assert_int_equal(r.n, 4);
	for (unsigned i = 0; i < 4; i++) {
		unsigned cap = fr[i].len < 60 ? fr[i].len : 60;

		assert_int_equal(r.pkts[i].caplen, cap);
		assert_int_equal(r.pkts[i].origlen, fr[i].len);
		assert_memory_equal(r.pkts[i].data, fr[i].b, cap);
	}
	tshark_agrees(path, 4, &r);
	rd_free(&r);
	expect_capture_pool_whole(f);
}

/* Poll until capture @id has ended, as the control thread would every 10 ms. */
static struct capture_info
poll_until_ended(struct fixture *f, uint32_t id)
{
	struct capture_info ci;

	for (unsigned i = 0; i < 500; i++) {
		capture_poll(f->m);
		ci = info_of(f, id);
		if (ci.state != CAPTURE_RUNNING)
			return ci;
		usleep(10000);
	}
	fail_msg("capture %u did not end", id);
	return ci;
}

static void
test_count_limit_ends_capture_on_its_own(void **state)
{
	struct fixture *f = *state;
	struct mpdp_errbuf eb = { "" };
	struct frame fr[10];
	struct capture_info ci;
	char *path;
	uint32_t id;
	struct rd r;

	for (unsigned i = 0; i < 10; i++)
		frame_ipv4(&fr[i], 17, 9, 53, 30 + i, i);
	id = start_ok(f, "r2", "udp port 53", 0, 3, &path);
	/* One burst of 10 matches: only the first 3 are copied. */
	pass_ring(f, f->rings[2], fr, 10, 10);
	pass_ring(f, f->rings[2], fr, 10, 2);
	ci = poll_until_ended(f, id);
	assert_int_equal(ci.state, CAPTURE_DONE);
	assert_string_equal(capture_state_name(ci.state), "done");
	assert_int_equal(ci.limit, 3);
	assert_int_equal(ci.matched, 3);
	assert_int_equal(ci.written, 3);
	assert_int_equal(ci.dropped, 0);
	assert_int_equal(atomic_load(&f->rings[2]->capture), 0);
	assert_int_equal(capture_stop(f->m, id, &eb), -EALREADY);
	assert_non_null(strstr(eb.msg, "already ended (done)"));
	rd_file(path, &r);
	assert_int_equal(r.n, 3);
	for (unsigned i = 0; i < 3; i++)
		assert_memory_equal(r.pkts[i].data, fr[i].b, fr[i].len);
	assert_int_equal(r.n_isb, 1);
	tshark_agrees(path, 3, &r);
	rd_free(&r);
	expect_capture_pool_whole(f);
}

static void
test_two_captures_run_side_by_side(void **state)
{
	struct fixture *f = *state;
	struct frame fr[30];
	int is_udp[30];
	char *pu, *pt;
	uint32_t a, b;
	unsigned ku = 0, kt = 0;
	struct rd ru, rt;

	for (unsigned i = 0; i < 30; i++) {
		is_udp[i] = i % 3 != 0;
		frame_ipv4(&fr[i], is_udp[i] ? 17 : 6, 100, (uint16_t)(200 + i), 40, i);
	}
	a = start_ok(f, "r0", "udp", 128, 0, &pu);
	b = start_ok(f, "r1", "tcp", 0, 0, &pt);
	assert_int_not_equal(a, b);
	assert_int_equal(n_listed(f), 2);
	/* Interleaved bursts on both rings; ring r1 gets the frames in reverse. */
	for (unsigned i = 0; i < 30; i += 5) {
		struct frame rev[5];

		pass_ring(f, f->rings[0], fr + i, 5, 5);
		for (unsigned j = 0; j < 5; j++)
			rev[j] = fr[29 - i - j];
		pass_ring(f, f->rings[1], rev, 5, 5);
		capture_poll(f->m);
	}
	assert_int_equal(info_of(f, a).state, CAPTURE_RUNNING);
	assert_int_equal(info_of(f, b).state, CAPTURE_RUNNING);
	stop_ok(f, a);
	assert_int_equal(info_of(f, b).state, CAPTURE_RUNNING);
	stop_ok(f, b);
	rd_file(pu, &ru);
	rd_file(pt, &rt);
	assert_int_equal(ru.n, 20);
	assert_int_equal(rt.n, 10);
	assert_int_equal(ru.snaplen, 128);
	for (unsigned i = 0; i < 30; i++) {
		if (is_udp[i]) {
			assert_memory_equal(ru.pkts[ku++].data, fr[i].b, fr[i].len);
		}
		if (!is_udp[29 - i]) {
			assert_memory_equal(rt.pkts[kt++].data, fr[29 - i].b, fr[29 - i].len);
		}
	}
	assert_int_equal(info_of(f, a).written, 20);
	assert_int_equal(info_of(f, b).written, 10);
	tshark_agrees(pu, 20, &ru);
	tshark_agrees(pt, 10, &rt);
	rd_free(&ru);
	rd_free(&rt);
	expect_capture_pool_whole(f);
}

/* A port entry as the primary makes one; returns its slot. */
static unsigned
fake_port(struct fixture *f, const char *name)
{
	struct mpdp_abi_header *h = mpdp_shm_header(f->shm);

	for (unsigned i = 0; i < MPDP_PORT_MAX; i++) {
		struct mpdp_abi_port *p = &h->ports[i];

		if (p->state == MPDP_PORT_FREE) {
			memset(p, 0, sizeof(*p));
			snprintf(p->name, sizeof(p->name), "%s", name);
			snprintf(p->driver, sizeof(p->driver), "null");
			__atomic_store_n(&p->state, MPDP_PORT_STARTED, __ATOMIC_RELEASE);
			return i;
		}
	}
	fail_msg("no free port slot");
	return 0;
}

static void
test_port_capture_and_target_prefixes(void **state)
{
	struct fixture *f = *state;
	struct mpdp_abi_header *h = mpdp_shm_header(f->shm);
	struct mpdp_errbuf eb = { "" };
	unsigned pi = fake_port(f, "p0");
	struct mpdp_abi_port *port = &h->ports[pi];
	struct mpdp_ring *same;
	struct frame fr[6];
	struct mpdp_mbuf *burst[6];
	char *path, *path2;
	uint32_t id, id2;
	struct rd r;
	int fd;

	for (unsigned i = 0; i < 6; i++)
		frame_ipv4(&fr[i], i % 2 ? 6 : 17, 1, 2, 64, i);
	id = start_ok(f, "p0", "tcp", 0, 0, &path);
	assert_string_equal(info_of(f, id).kind, "port");
	assert_int_equal(__atomic_load_n(&port->capture, __ATOMIC_RELAXED), id + 1);
	/* A received burst, then the same burst about to be transmitted. */
	for (unsigned i = 0; i < 6; i++)
		burst[i] = mbuf_of(f, &fr[i]);
	mpdp_capture_port(f->shm, port, burst, 6);
	mpdp_capture_port(f->shm, port, burst, 6);
	for (unsigned i = 0; i < 6; i++)
		assert_memory_equal(mpdp_mbuf_data(burst[i]), fr[i].b, fr[i].len);
	mpdp_mbuf_free_bulk(burst, 6, MPDP_POOL_NO_CACHE);
	stop_ok(f, 0); /* the only one running */
	assert_int_equal(__atomic_load_n(&port->capture, __ATOMIC_RELAXED), 0);
	rd_file(path, &r);
	assert_string_equal(r.if_name, "p0");
	assert_int_equal(r.n, 6);
	for (unsigned i = 0; i < 6; i++)
		assert_memory_equal(r.pkts[i].data, fr[1 + 2 * (i % 3)].b, fr[1].len);
	rd_free(&r);

	/* A ring of the same name: the bare name is ambiguous, a prefix picks one. */
	assert_int_equal(mpdp_ring_create(f->shm, "p0", 64, 0, -1, &same), 0);
	fd = new_file(f, &path2);
	assert_int_equal(capture_start(f->m, "p0", "", 0, 0, fd, NULL, &id2, &eb), -EINVAL);
	assert_non_null(strstr(eb.msg, "say port:p0 or ring:p0"));
	assert_int_equal(fcntl(fd, F_GETFD), -1); /* taken over, closed on failure too */
	id2 = start_ok(f, "ring:p0", "", 0, 0, &path2);
	assert_string_equal(info_of(f, id2).kind, "ring");
	assert_int_equal(atomic_load(&same->capture), id2 + 1);
	assert_int_equal(__atomic_load_n(&port->capture, __ATOMIC_RELAXED), 0);
	id = start_ok(f, "port:p0", "", 0, 0, &path);
	assert_int_equal(__atomic_load_n(&port->capture, __ATOMIC_RELAXED), id + 1);
	stop_ok(f, id);
	stop_ok(f, id2);
	assert_int_equal(atomic_load(&same->capture), 0);
	assert_int_equal(mpdp_ring_delete(f->shm, same), 0);

	/* A target that goes away ends its capture. */
	id = start_ok(f, "p0", "", 0, 0, &path);
	__atomic_store_n(&port->state, MPDP_PORT_FREE, __ATOMIC_RELEASE);
	{
		struct capture_info ci = poll_until_ended(f, id);

		assert_int_equal(ci.state, CAPTURE_STOPPED);
		assert_non_null(strstr(ci.error, "port went away"));
	}
	memset(port, 0, sizeof(*port));
	expect_capture_pool_whole(f);
}

/* A refused start: the code, a message containing @what, the fd closed, nothing else changed. */
static void
expect_refused(struct fixture *f, const char *target, const char *filter, unsigned snaplen,
	       int flags, int want_rc, const char *what)
{
	struct mpdp_errbuf eb = { "" };
	uint32_t words[N_RINGS], id = 12345;
	unsigned listed = n_listed(f);
	char *path;
	int fd = new_file(f, &path);
	int rc;

	if (flags != O_WRONLY) {
		close(fd);
		fd = open(path, flags);
		assert_true(fd >= 0);
	}
	for (unsigned i = 0; i < N_RINGS; i++)
		words[i] = atomic_load(&f->rings[i]->capture);
	rc = capture_start(f->m, target, filter, snaplen, 0, fd, path, &id, &eb);
	if (rc != want_rc || strstr(eb.msg, what) == NULL)
		fail_msg("start(%s, '%s'): got %d '%s', want %d '...%s...'", target, filter, rc,
			 eb.msg, want_rc, what);
	assert_int_equal(id, 12345);
	assert_int_equal(fcntl(fd, F_GETFD), -1);
	assert_int_equal(n_listed(f), listed);
	for (unsigned i = 0; i < N_RINGS; i++)
		assert_int_equal(atomic_load(&f->rings[i]->capture), words[i]);
	{
		struct stat st;

		assert_int_equal(stat(path, &st), 0);
		assert_int_equal(st.st_size, 0); /* not a byte written */
	}
}

static void
test_refused_starts_say_why_and_change_nothing(void **state)
{
	struct fixture *f = *state;
	struct mpdp_errbuf eb = { "" };
	struct mpdp_capture_zone *z;
	char long_filter[CAPTURE_FILTER_MAX + 8];
	uint32_t ids[MPDP_CAPTURE_MAX];
	char *path;

	expect_refused(f, "r0", "tcp port x", 0, O_WRONLY, -EINVAL, "filter 'tcp port x': ");
	expect_refused(f, "nope", "", 0, O_WRONLY, -ENOENT, "no ring or port named 'nope'");
	expect_refused(f, "port:r0", "", 0, O_WRONLY, -ENOENT, "no port named 'r0'");
	expect_refused(f, "ring:", "", 0, O_WRONLY, -EINVAL, "bad capture target");
	expect_refused(f, "r0", "", MPDP_CAPTURE_SNAPLEN_MAX + 1, O_WRONLY, -EINVAL,
		       "snaplen 4097 is beyond the largest");
	expect_refused(f, "r0", "", 0, O_RDONLY, -EBADF, "not open for writing");
	memset(long_filter, 'a', sizeof(long_filter) - 1);
	long_filter[sizeof(long_filter) - 1] = '\0';
	expect_refused(f, "r0", long_filter, 0, O_WRONLY, -EINVAL, "at most 1023");
	/* Nothing was made for the refused starts: no capture pool yet. */
	{
		struct mpdp_pool *p;

		assert_int_equal(mpdp_pool_lookup(f->shm, MPDP_CAPTURE_POOL, &p), -ENOENT);
	}
	assert_int_equal(capture_start(f->m, "r0", "", 0, 0, -1, NULL, &ids[0], &eb), -EBADF);

	ids[0] = start_ok(f, "r0", "udp", 0, 0, &path);
	expect_refused(f, "r0", "", 0, O_WRONLY, -EBUSY, "ring 'r0' is already captured");
	for (unsigned i = 1; i < MPDP_CAPTURE_MAX; i++)
		ids[i] = start_ok(f, f->rings[i]->name, "", 0, 0, &path);
	expect_refused(f, "r5", "", 0, O_WRONLY, -ENOSPC, "all 4 capture slots are busy");
	/* Distinct ids in distinct slots. */
	for (unsigned i = 0; i < MPDP_CAPTURE_MAX; i++) {
		for (unsigned j = i + 1; j < MPDP_CAPTURE_MAX; j++)
			assert_int_not_equal(ids[i] % MPDP_CAPTURE_MAX, ids[j] % MPDP_CAPTURE_MAX);
	}
	assert_int_equal(capture_stop(f->m, 0, &eb), -EINVAL);
	assert_non_null(strstr(eb.msg, "4 captures are running"));
	assert_int_equal(capture_stop(f->m, 999, &eb), -ENOENT);
	assert_non_null(strstr(eb.msg, "no capture 999"));
	for (unsigned i = 0; i < MPDP_CAPTURE_MAX; i++)
		stop_ok(f, ids[i]);
	assert_int_equal(capture_stop(f->m, 0, &eb), -ENOENT);
	assert_non_null(strstr(eb.msg, "no capture is running"));
	/* A slot frees at stop: a fifth capture can start now. */
	stop_ok(f, start_ok(f, "r5", "", 0, 0, &path));
	assert_int_equal(mpdp_capture_zone_lookup(f->shm, &z), 0);
	for (unsigned i = 0; i < MPDP_CAPTURE_MAX; i++) {
		assert_int_equal(atomic_load(&z->slots[i].state), MPDP_CAPTURE_SLOT_FREE);
		assert_int_equal(atomic_load(&z->slots[i].id), 0);
	}
	expect_capture_pool_whole(f);
}

/*
 * A copy made for a capture that has ended, arriving after a new capture took
 * the same slot (a worker preempted past the grace period), is freed at the
 * next poll and never written into the new capture's file.
 */
static void
test_late_copy_of_ended_capture_is_freed_not_written(void **state)
{
	struct fixture *f = *state;
	struct mpdp_capture_zone *z;
	struct mpdp_pool *cp;
	struct mpdp_mbuf *late;
	struct mpdp_capture_rec rec;
	struct frame fr;
	uint32_t old_id, id = 0;
	char *path;
	struct rd r;

	frame_ipv4(&fr, 17, 1, 53, 40, 1);
	old_id = start_ok(f, "r0", "", 0, 0, &path);
	stop_ok(f, old_id);
	/* Start captures until one reuses the old one's slot. */
	for (unsigned i = 0; i < MPDP_CAPTURE_MAX; i++) {
		id = start_ok(f, "r0", "", 0, 0, &path);
		if (id % MPDP_CAPTURE_MAX == old_id % MPDP_CAPTURE_MAX)
			break;
		stop_ok(f, id);
	}
	assert_int_equal(id % MPDP_CAPTURE_MAX, old_id % MPDP_CAPTURE_MAX);
	assert_int_not_equal(id, old_id);

	assert_int_equal(mpdp_capture_zone_lookup(f->shm, &z), 0);
	cp = capture_pool(f);
	late = mpdp_mbuf_alloc(cp, MPDP_POOL_NO_CACHE);
	assert_non_null(late);
	memcpy(mpdp_mbuf_append(late, fr.len), fr.b, fr.len);
	rec.id = old_id;
	rec.orig_len = fr.len;
	memcpy(late->priv, &rec, sizeof(rec));
	assert_int_equal(mpdp_ring_enqueue_burst(mpdp_capture_zone_ring(z, id % MPDP_CAPTURE_MAX),
						 (void *const *)&late, 1, NULL), 1);
	assert_int_equal(mpdp_pool_in_use_count(cp), 1);
	capture_poll(f->m);
	assert_int_equal(mpdp_pool_in_use_count(cp), 0);
	pass_ring(f, f->rings[0], &fr, 1, 1);
	stop_ok(f, id);
	assert_int_equal(info_of(f, id).written, 1);
	rd_file(path, &r);
	assert_int_equal(r.n, 1);
	rd_free(&r);
	expect_capture_pool_whole(f);
}

/* A slot or zone written by a buggy process neither crashes the copy path nor copies. */
static void
test_garbage_in_the_zone_is_survived(void **state)
{
	struct fixture *f = *state;
	struct mpdp_capture_zone *z;
	struct mpdp_capture_slot *s;
	struct mpdp_ring *r = f->rings[0];
	struct frame fr;
	struct mpdp_mbuf *m;
	struct mpdp_capture_insn saved0;
	uint32_t saved_n, saved_snap, id;
	uint64_t saved_pool;
	char *path;

	frame_ipv4(&fr, 17, 1, 53, 40, 1);
	m = mbuf_of(f, &fr);
	id = start_ok(f, "r0", "udp", 0, 0, &path);
	assert_int_equal(mpdp_capture_zone_lookup(f->shm, &z), 0);
	s = &z->slots[id % MPDP_CAPTURE_MAX];
	saved0 = s->prog[0];
	saved_n = atomic_load(&s->n_insns);
	saved_snap = atomic_load(&s->snaplen);
	saved_pool = atomic_load(&z->pool_off);

	/* A jump far beyond the program. */
	s->prog[0] = (struct mpdp_capture_insn){ .code = 0x05 /* BPF_JMP|BPF_JA */, .k = 100000 };
	mpdp_capture_ring(f->shm, r, &m, 1);
	s->prog[0] = saved0;
	/* A program longer than the slot, and none at all. */
	atomic_store(&s->n_insns, 1u << 30);
	mpdp_capture_ring(f->shm, r, &m, 1);
	atomic_store(&s->n_insns, 0);
	mpdp_capture_ring(f->shm, r, &m, 1);
	atomic_store(&s->n_insns, saved_n);
	/* A pool beyond the region, and a snaplen beyond the buffers (clamped). */
	atomic_store(&z->pool_off, UINT64_MAX - 7);
	mpdp_capture_ring(f->shm, r, &m, 1);
	atomic_store(&z->pool_off, saved_pool);
	atomic_store(&s->snaplen, 1u << 31);
	mpdp_capture_ring(f->shm, r, &m, 1);
	atomic_store(&s->snaplen, saved_snap);
	/* A capture word naming an id that no slot holds. */
	atomic_store(&r->capture, id + 1 + MPDP_CAPTURE_MAX * 7);
	mpdp_capture_ring(f->shm, r, &m, 1);
	atomic_store(&r->capture, id + 1);
	/* A packet claiming more bytes than its buffer holds is not read. */
	m->data_len = (uint16_t)(m->buf_len - m->data_off + 1);
	mpdp_capture_ring(f->shm, r, &m, 1);
	m->data_len = (uint16_t)fr.len;

	mpdp_capture_ring(f->shm, r, &m, 1); /* the one sound copy */
	mpdp_mbuf_free(m, MPDP_POOL_NO_CACHE);
	stop_ok(f, id);
	/* The clamped-snaplen copy and the sound one. */
	assert_int_equal(info_of(f, id).written, 2);
	expect_capture_pool_whole(f);
}

struct hammer {
	struct fixture *f;
	struct mpdp_ring *r;
	struct mpdp_mbuf *pkts[32];
	_Atomic int stop;
	_Atomic uint64_t bursts;
};

static void *
hammer_main(void *arg)
{
	struct hammer *h = arg;

	while (!atomic_load_explicit(&h->stop, memory_order_relaxed)) {
		mpdp_capture_ring(h->f->shm, h->r, h->pkts, 32);
		atomic_fetch_add_explicit(&h->bursts, 1, memory_order_relaxed);
	}
	return NULL;
}

static void
test_copies_racing_with_stop_leak_nothing(void **state)
{
	struct fixture *f = *state;
	struct hammer h = { .f = f, .r = f->rings[3] };
	struct frame fr[32];
	pthread_t t[2];
	uint64_t total_written = 0;

	for (unsigned i = 0; i < 32; i++) {
		frame_ipv4(&fr[i], 17, 7, 53, 60 + i, i);
		h.pkts[i] = mbuf_of(f, &fr[i]);
	}
	assert_int_equal(pthread_create(&t[0], NULL, hammer_main, &h), 0);
	assert_int_equal(pthread_create(&t[1], NULL, hammer_main, &h), 0);
	/* Start and stop over and over, in every slot, while two threads copy. */
	for (unsigned round = 0; round < 12; round++) {
		char *path;
		uint32_t id = start_ok(f, "r3", round % 2 ? "udp" : "", 0, round % 3 ? 0 : 500, &path);
		struct capture_info ci;
		struct rd r;

		for (unsigned i = 0; i < 3; i++) {
			usleep(3000);
			capture_poll(f->m);
		}
		if (round % 3 == 0) {
			ci = poll_until_ended(f, id);
			assert_int_equal(ci.state, CAPTURE_DONE);
			assert_int_equal(ci.matched, 500);
		} else {
			stop_ok(f, id);
			ci = info_of(f, id);
			assert_int_equal(ci.state, CAPTURE_STOPPED);
		}
		assert_int_equal(ci.matched, ci.written + ci.dropped);
		printf("# round %u: capture %u %s, matched %llu, written %llu, dropped %llu\n", round,
		       id, capture_state_name(ci.state), (unsigned long long)ci.matched,
		       (unsigned long long)ci.written, (unsigned long long)ci.dropped);
		rd_file(path, &r);
		assert_int_equal(r.n, ci.written);
		assert_int_equal(r.isb_accept, ci.matched);
		for (unsigned i = 0; i < r.n; i++) {
			uint32_t len = r.pkts[i].caplen;
			int found = 0;

			for (unsigned j = 0; j < 32 && !found; j++)
				found = fr[j].len == len && memcmp(fr[j].b, r.pkts[i].data, len) == 0;
			assert_true(found);
		}
		total_written += ci.written;
		if (round == 11)
			tshark_agrees(path, (unsigned)ci.written, &r);
		rd_free(&r);
	}
	atomic_store(&h.stop, 1);
	pthread_join(t[0], NULL);
	pthread_join(t[1], NULL);
	assert_true(total_written > 0);
	assert_true(atomic_load(&h.bursts) > 0);
	capture_poll(f->m); /* frees a copy that came later than its capture's grace */
	expect_capture_pool_whole(f);
	for (unsigned i = 0; i < 32; i++) {
		assert_int_equal(h.pkts[i]->data_len, fr[i].len);
		assert_memory_equal(mpdp_mbuf_data(h.pkts[i]), fr[i].b, fr[i].len);
	}
	mpdp_mbuf_free_bulk(h.pkts, 32, MPDP_POOL_NO_CACHE);
}

/* With no capture, copying is a load and a branch; the ring's burst is untouched. */
static void
test_no_capture_touches_nothing(void **state)
{
	struct fixture *f = *state;
	struct frame fr[8];

	for (unsigned i = 0; i < 8; i++)
		frame_ipv4(&fr[i], 17, 1, 53, 10, i);
	pass_ring(f, f->rings[4], fr, 8, 8);
	assert_int_equal(n_listed(f), 0);
	/* The pool is made at the first start only. */
	{
		struct mpdp_pool *p;

		assert_int_equal(mpdp_pool_lookup(f->shm, MPDP_CAPTURE_POOL, &p), -ENOENT);
	}
}

/* A pipe is written without blocking; a reader that goes away fails the capture, not the process. */
static void
test_pipe_reader_gone_fails_capture(void **state)
{
	struct fixture *f = *state;
	struct mpdp_errbuf eb = { "" };
	struct frame fr[16];
	struct capture_info ci;
	uint32_t id;
	int p[2];

	for (unsigned i = 0; i < 16; i++)
		frame_ipv4(&fr[i], 17, 1, 53, 100, i);
	assert_int_equal(pipe(p), 0);
	assert_int_equal(capture_start(f->m, "r0", "", 0, 0, p[1], "pipe", &id, &eb), 0);
	close(p[0]);
	pass_ring(f, f->rings[0], fr, 16, 16);
	ci = poll_until_ended(f, id);
	assert_int_equal(ci.state, CAPTURE_FAILED);
	assert_non_null(strstr(ci.error, "Broken pipe"));
	assert_int_equal(atomic_load(&f->rings[0]->capture), 0);
	assert_int_equal(ci.matched, ci.written + ci.dropped);
	expect_capture_pool_whole(f);
}

/* --- perf -------------------------------------------------------------------- */

static double
ns_per(uint64_t t0, uint64_t t1, uint64_t n)
{
	return (double)(t1 - t0) / (double)n;
}

/* Index of the capture zone in the memzone table. */
static unsigned
zone_index(struct fixture *f)
{
	const struct mpdp_abi_header *h = mpdp_shm_header(f->shm);

	for (unsigned i = 0; i < MPDP_MEMZONE_MAX; i++) {
		if (h->memzones[i].state == MPDP_MZ_STATE_USED &&
		    strcmp(h->memzones[i].name, MPDP_CAPTURE_ZONE) == 0)
			return i;
	}
	fail_msg("no capture zone");
	return 0;
}

/*
 * What a burst of 32 costs: with no capture, with a capture whose filter
 * matches nothing, with one that copies everything, and the zone lookup
 * alone, with the zone first in the memzone table and behind 400 others.
 */
static void
perf_copy_path(void **state)
{
	struct fixture *f = *state;
	struct mpdp_ring *r = f->rings[0];
	struct mpdp_mbuf *pkts[32];
	struct frame fr;
	struct mpdp_capture_zone *z;
	const unsigned iters = 2000000;
	uint64_t t0, t1;
	uint32_t id;
	unsigned at;
	char *path;

	frame_ipv4(&fr, 17, 1, 53, 100, 1);
	for (unsigned i = 0; i < 32; i++)
		pkts[i] = mbuf_of(f, &fr);

	t0 = mpdp_time_ns();
	for (unsigned i = 0; i < iters; i++) {
		mpdp_capture_ring(f->shm, r, pkts, 32);
		__asm__ volatile("" ::: "memory");
	}
	t1 = mpdp_time_ns();
	printf("# no capture: %.2f ns per burst of 32\n", ns_per(t0, t1, iters));

	for (unsigned behind = 0; behind <= 400; behind += 400) {
		/* Reopen the manager with @behind zones before the capture zone. */
		capture_mgr_close(f->m);
		for (unsigned i = 0; i < behind; i++) {
			char name[32];
			void *mem;

			snprintf(name, sizeof(name), "filler.%u", i);
			assert_int_equal(mpdp_shm_memzone_reserve(f->shm, name, 64, 0, -1,
								  MPDP_MZ_KIND_RAW, &mem), 0);
		}
		assert_int_equal(capture_mgr_open(f->shm, &f->m, NULL), 0);
		at = zone_index(f);

		t0 = mpdp_time_ns();
		for (unsigned i = 0; i < iters; i++) {
			assert_int_equal(mpdp_capture_zone_lookup(f->shm, &z), 0);
			__asm__ volatile("" ::: "memory");
		}
		t1 = mpdp_time_ns();
		printf("# zone lookup, entry %u of the memzone table: %.1f ns\n", at,
		       ns_per(t0, t1, iters));

		id = start_ok(f, "r0", "tcp and port 80", 0, 0, &path);
		t0 = mpdp_time_ns();
		for (unsigned i = 0; i < iters / 10; i++)
			mpdp_capture_ring(f->shm, r, pkts, 32);
		t1 = mpdp_time_ns();
		printf("# capture, filter matches none, zone at entry %u: %.1f ns per burst of 32 (%.1f per packet)\n",
		       at, ns_per(t0, t1, iters / 10), ns_per(t0, t1, iters / 10 * 32));
		stop_ok(f, id);

		id = start_ok(f, "r0", "udp", 0, 0, &path);
		{
			uint64_t spent = 0, bursts = 0;

			for (unsigned i = 0; i < 2000; i++) {
				t0 = mpdp_time_ns();
				mpdp_capture_ring(f->shm, r, pkts, 32);
				t1 = mpdp_time_ns();
				spent += t1 - t0;
				bursts++;
				if (i % 16 == 15)
					capture_poll(f->m);
			}
			printf("# capture, filter matches all (copy 142 bytes each), zone at entry %u: "
			       "%.1f ns per burst of 32; %llu dropped\n", at,
			       (double)spent / (double)bursts,
			       (unsigned long long)info_of(f, id).dropped);
		}
		stop_ok(f, id);
		for (unsigned i = 0; i < behind; i++) {
			char name[32];

			snprintf(name, sizeof(name), "filler.%u", i);
			assert_int_equal(mpdp_shm_memzone_free(f->shm, name), 0);
		}
	}
	mpdp_mbuf_free_bulk(pkts, 32, MPDP_POOL_NO_CACHE);
}

#define FIXTURE_TEST(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int
main(int argc, char **argv)
{
	const struct CMUnitTest fast[] = {
		FIXTURE_TEST(test_no_capture_touches_nothing),
		FIXTURE_TEST(test_filter_writes_only_matching_packets_in_order),
		FIXTURE_TEST(test_snaplen_truncates_and_keeps_original_length),
		FIXTURE_TEST(test_count_limit_ends_capture_on_its_own),
		FIXTURE_TEST(test_two_captures_run_side_by_side),
		FIXTURE_TEST(test_port_capture_and_target_prefixes),
		FIXTURE_TEST(test_refused_starts_say_why_and_change_nothing),
		FIXTURE_TEST(test_late_copy_of_ended_capture_is_freed_not_written),
		FIXTURE_TEST(test_garbage_in_the_zone_is_survived),
		FIXTURE_TEST(test_pipe_reader_gone_fails_capture),
		FIXTURE_TEST(test_copies_racing_with_stop_leak_nothing),
	};
	const struct CMUnitTest perf[] = {
		FIXTURE_TEST(perf_copy_path),
	};

	if (argc > 1 && strcmp(argv[1], "perf") == 0)
		return cmocka_run_group_tests_name("capture_perf", perf, NULL, NULL);
	return cmocka_run_group_tests_name("capture", fast, NULL, NULL);
}

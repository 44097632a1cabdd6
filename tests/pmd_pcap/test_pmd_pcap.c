/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The pcap driver on capture files, through the public port API: device
 * arguments and their exact errors, reading a nanosecond file (every size,
 * byte, length and timestamp; a record larger than the data room counted and
 * skipped; cut records), loop=N and loop=0 replays and the end-of-input flag,
 * writing a file and reading it back byte for byte (original lengths kept,
 * microsecond timestamps), flush, a failing output, and the sides a port
 * does not have. The test files are written here with libpcap.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mpdp_mbuf.h"
#include "mpdp_port.h"
#include "mpdp_shm.h"
#include "test_instance.h"

#define DATAROOM 2048
#define POOL_N 1024
#define TS0 1700000000123456789ull   /* ns, with a sub-microsecond part */

struct fixture {
	struct test_instance ti;
	struct mpdp_pool *pool;
	char dir[64];                 /* temporary files */
};

/* The frames of the test file: every size class, one too big, two cut. */
static const struct {
	uint32_t caplen, len;
} frames[] = {
	{ 60, 60 }, { 61, 61 }, { 64, 64 }, { 100, 100 }, { 128, 128 }, { 255, 255 },
	{ 256, 256 }, { 511, 511 }, { 512, 512 }, { 1000, 1000 }, { 1499, 1499 },
	{ 1500, 1500 }, { 1514, 1514 }, { 3000, 3000 } /* > DATAROOM */, { 200, 1514 } /* cut */,
	{ 2048, 2048 } /* exactly the data room */, { 96, 9000 } /* cut */, { 77, 77 },
};

#define N_FRAMES (sizeof(frames) / sizeof(frames[0]))
#define N_GOOD (N_FRAMES - 1)

static uint64_t
frame_ts(unsigned i)
{
	return TS0 + (uint64_t)i * 1000000123u;
}

static void
frame_bytes(unsigned i, uint8_t *buf, uint32_t len)
{
	for (uint32_t k = 0; k < len; k++)
		buf[k] = (uint8_t)(i * 7 + k * 13 + (k >> 8));
}

static void
path_of(const struct fixture *f, const char *name, char *out, size_t size)
{
	snprintf(out, size, "%s/%s", f->dir, name);
}

/* Write the test file: nanosecond precision, DLT as given, frames[0..n). */
static void
write_pcap(const char *path, int dlt, unsigned n)
{
	pcap_t *dead = pcap_open_dead_with_tstamp_precision(dlt, 65535, PCAP_TSTAMP_PRECISION_NANO);
	pcap_dumper_t *d;
	uint8_t buf[3000];

	assert_non_null(dead);
	d = pcap_dump_open(dead, path);
	assert_non_null(d);
	for (unsigned i = 0; i < n; i++) {
		struct pcap_pkthdr h;

		h.ts.tv_sec = (time_t)(frame_ts(i) / 1000000000u);
		h.ts.tv_usec = (suseconds_t)(frame_ts(i) % 1000000000u);
		h.caplen = frames[i].caplen;
		h.len = frames[i].len;
		frame_bytes(i, buf, h.caplen);
		pcap_dump((u_char *)d, &h, buf);
	}
	pcap_dump_close(d);
	pcap_close(dead);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	test_instance_create(&f->ti, "tpcap", 32ull << 20, 0);
	if (mpdp_mbuf_pool_create(f->ti.shm, "mbuf", POOL_N, 0, DATAROOM, -1, &f->pool) != 0)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/mpdp-pcap-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	/* Every mbuf is back once the ports are closed (the driver's stash too). */
	unsigned in_use = mpdp_pool_in_use_count(f->pool);
	char cmd[128];
	int rc;

	/* Clean up first: a failed test must not leave files behind. */
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	rc = system(cmd);
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

/* Exact code and message; nothing left behind. */
static void
expect_error(struct fixture *f, const char *devargs, int code, const char *msg, int prefix_only)
{
	struct mpdp_errbuf eb = { "" };
	struct mpdp_port *port = NULL;
	struct mpdp_abi_port *slot;

	assert_int_equal(mpdp_port_open(f->ti.shm, devargs, f->pool, 64, &port, &eb), code);
	if (prefix_only ? strncmp(eb.msg, msg, strlen(msg)) != 0 : strcmp(eb.msg, msg) != 0)
		fail_msg("'%s': message\n  '%s', expected%s\n  '%s'", devargs, eb.msg,
			 prefix_only ? " to start with" : "", msg);
	assert_int_equal(mpdp_port_lookup(f->ti.shm, "p0", &slot), -ENOENT);
	assert_int_equal(mpdp_pool_in_use_count(f->pool), 0);
}

static void
test_bad_devargs_fail_with_exact_errors(void **state)
{
	struct fixture *f = *state;
	char good[128], raw[128], text[128], da[512], msg[512];
	struct stat st;
	pid_t writer;
	FILE *fp;

	path_of(f, "good.pcap", good, sizeof(good));
	path_of(f, "raw.pcap", raw, sizeof(raw));
	path_of(f, "text.pcap", text, sizeof(text));
	write_pcap(good, DLT_EN10MB, N_FRAMES);
	write_pcap(raw, DLT_RAW, 1);
	fp = fopen(text, "w");
	assert_non_null(fp);
	fputs("this is not a capture file, it is text long enough to be read\n", fp);
	fclose(fp);

	expect_error(f, "p0,driver=pcap", -EINVAL, "port p0: the pcap driver needs rx_pcap=, "
		     "tx_pcap=, rx_iface=, tx_iface= or iface=", 0);
	snprintf(da, sizeof(da), "p0,driver=pcap,rx_pcap=%s,bogus=1", good);
	expect_error(f, da, -EINVAL, "port p0: unknown key 'bogus' (driver pcap)", 0);
	expect_error(f, "p0,driver=pcap,rx_pcap=/nonexistent/in.pcap", -ENOENT,
		     "port p0: rx_pcap=/nonexistent/in.pcap: no such file", 0);
	expect_error(f, "p0,driver=pcap,rx_pcap=", -EINVAL, "port p0: rx_pcap= needs a value", 0);
	snprintf(da, sizeof(da), "p0,driver=pcap,rx_pcap=%s,loop=abc", good);
	expect_error(f, da, -EINVAL, "port p0: loop=abc is not a number from 0 to 4294967295", 0);
	snprintf(da, sizeof(da), "p0,driver=pcap,rx_pcap=%s,loop=-1", good);
	expect_error(f, da, -EINVAL, "port p0: loop=-1 is not a number from 0 to 4294967295", 0);
	snprintf(da, sizeof(da), "p0,driver=pcap,tx_pcap=%s/o.pcap,loop=2", f->dir);
	expect_error(f, da, -EINVAL, "port p0: loop= applies to rx_pcap= only", 0);
	snprintf(da, sizeof(da), "p0,driver=pcap,rx_pcap=%s,snaplen=128", good);
	expect_error(f, da, -EINVAL, "port p0: snaplen= applies to live capture (rx_iface= or "
		     "iface=) only", 0);
	expect_error(f, "p0,driver=pcap,iface=lo,snaplen=10", -EINVAL,
		     "port p0: snaplen=10 is not a number from 14 to 262144", 0);
	expect_error(f, "p0,driver=pcap,rx_iface=nosuch0", -ENOENT,
		     "port p0: rx_iface=nosuch0: no such interface", 0);
	expect_error(f, "p0,driver=pcap,tx_iface=nosuch0", -ENOENT,
		     "port p0: tx_iface=nosuch0: no such interface", 0);
	expect_error(f, "p0,driver=pcap,iface=nosuch0", -ENOENT,
		     "port p0: iface=nosuch0: no such interface", 0);
	snprintf(da, sizeof(da), "p0,driver=pcap,rx_pcap=%s,tx_iface=nosuch0", good);
	expect_error(f, da, -ENOENT, "port p0: tx_iface=nosuch0: no such interface", 0);
	expect_error(f, "p0,driver=pcap,iface=averyveryverylongname0", -EINVAL,
		     "port p0: iface=averyveryverylongname0: interface names are at most 15 "
		     "characters", 0);
	snprintf(da, sizeof(da), "p0,driver=pcap,iface=lo,rx_pcap=%s", good);
	expect_error(f, da, -EINVAL, "port p0: iface= gives both sides and cannot be combined "
		     "with rx_pcap=", 0);
	snprintf(da, sizeof(da), "p0,driver=pcap,rx_pcap=%s,rx_iface=lo", good);
	expect_error(f, da, -EINVAL, "port p0: rx_pcap= and rx_iface= both give the receive side", 0);
	snprintf(da, sizeof(da), "p0,driver=pcap,tx_pcap=%s,tx_iface=lo", good);
	expect_error(f, da, -EINVAL, "port p0: tx_pcap= and tx_iface= both give the transmit side", 0);
	expect_error(f, "p0,driver=pcap,tx_pcap=/nonexistent/out.pcap", -ENOENT,
		     "port p0: tx_pcap=/nonexistent/out.pcap: no such directory", 0);
	snprintf(da, sizeof(da), "p0,driver=pcap,rx_pcap=%s", text);
	snprintf(msg, sizeof(msg), "port p0: rx_pcap=%s: not a capture file (", text);
	expect_error(f, da, -EINVAL, msg, 1);
	snprintf(da, sizeof(da), "p0,driver=pcap,rx_pcap=%s", raw);
	snprintf(msg, sizeof(msg), "port p0: rx_pcap=%s: link type RAW; ports carry Ethernet "
		 "(EN10MB) frames only", raw);
	expect_error(f, da, -EINVAL, msg, 0);
	/* The output would truncate the input: refused, and the input is intact. */
	snprintf(da, sizeof(da), "p0,driver=pcap,rx_pcap=%s,tx_pcap=%s", good, good);
	snprintf(msg, sizeof(msg), "port p0: tx_pcap=%s is the rx_pcap= file", good);
	expect_error(f, da, -EINVAL, msg, 0);
	assert_int_equal(stat(good, &st), 0);
	assert_true(st.st_size > 3000);
	/* A FIFO cannot be rewound for loop=. */
	path_of(f, "fifo", text, sizeof(text));
	assert_int_equal(mkfifo(text, 0600), 0);
	writer = fork();
	assert_true(writer >= 0);
	if (writer == 0) {             /* feeds the good file into the FIFO */
		char cmd[300];

		snprintf(cmd, sizeof(cmd), "cat '%s' > '%s' 2>/dev/null", good, text);
		_exit(system(cmd) == 0 ? 0 : 1);
	}
	snprintf(da, sizeof(da), "p0,driver=pcap,rx_pcap=%s,loop=2", text);
	snprintf(msg, sizeof(msg), "port p0: rx_pcap=%s: loop= needs a file that can be rewound", text);
	expect_error(f, da, -EINVAL, msg, 0);
	assert_int_equal(waitpid(writer, NULL, 0), writer);
}

/* Receive everything in bursts of @burst until the end flag; check each frame. */
static unsigned
rx_all(struct mpdp_port *port, uint16_t burst, unsigned passes, unsigned n_src)
{
	struct mpdp_mbuf *pkts[64];
	unsigned got = 0, idle = 0;

	for (unsigned calls = 0; idle < 3; calls++) {
		assert_true(calls < 100000);   /* the end flag must come */
		uint16_t n = mpdp_port_rx_burst(port, 0, pkts, burst);

		idle = n == 0 && (port->abi->flags & MPDP_PORT_F_RX_EOF) ? idle + 1 : 0;
		for (uint16_t i = 0; i < n; i++, got++) {
			/* frame index in the file, skipping the one that is too big */
			unsigned k = got % N_GOOD, src = k < 13 ? k : k + 1;
			uint8_t want[2048];

			assert_true(src < n_src);
			assert_int_equal(pkts[i]->data_len, frames[src].caplen);
			assert_int_equal(pkts[i]->port, port->id);
			assert_true(pkts[i]->timestamp == frame_ts(src));
			frame_bytes(src, want, frames[src].caplen);
			assert_memory_equal(mpdp_mbuf_data(pkts[i]), want, frames[src].caplen);
		}
		mpdp_mbuf_free_bulk(pkts, n, port->wid);
		assert_true(got <= passes * N_GOOD);
	}
	return got;
}

static void
test_rx_file_delivers_every_frame_and_skips_the_too_big(void **state)
{
	struct fixture *f = *state;
	struct mpdp_abi_port_queue s;
	struct mpdp_mbuf *pkts[4];
	struct mpdp_port *port;
	char in[128], da[256];

	path_of(f, "in.pcap", in, sizeof(in));
	write_pcap(in, DLT_EN10MB, N_FRAMES);
	snprintf(da, sizeof(da), "p0,driver=pcap,rx_pcap=%s", in);
	port = open_ok(f, da);
	assert_true(port->abi->flags & MPDP_PORT_F_FILE_RX);
	assert_false(port->abi->flags & MPDP_PORT_F_RX_EOF);
	assert_int_equal(port->n_queues, 1);
	assert_int_equal(rx_all(port, 4, 1, N_FRAMES), N_GOOD);
	mpdp_port_stats(port->abi, &s);
	assert_int_equal(s.rx_errors, 1);                /* the 3000-byte frame */
	assert_true(port->abi->flags & MPDP_PORT_F_RX_EOF);
	assert_int_equal(mpdp_port_rx_burst(port, 0, pkts, 4), 0);
	assert_int_equal(port->ops->link_check(port), 1);
	mpdp_port_close(port);
}

static void
test_rx_loop_3_replays_three_times_then_ends(void **state)
{
	struct fixture *f = *state;
	struct mpdp_port *port;
	char in[128], da[256];

	path_of(f, "in.pcap", in, sizeof(in));
	write_pcap(in, DLT_EN10MB, N_FRAMES);
	snprintf(da, sizeof(da), "p0,driver=pcap,rx_pcap=%s,loop=3", in);
	port = open_ok(f, da);
	assert_int_equal(rx_all(port, 32, 3, N_FRAMES), 3 * N_GOOD);
	assert_true(port->abi->flags & MPDP_PORT_F_RX_EOF);
	mpdp_port_close(port);
}

static void
test_rx_loop_0_never_ends(void **state)
{
	struct fixture *f = *state;
	struct mpdp_mbuf *pkts[32];
	struct mpdp_port *port;
	char in[128], da[256];
	unsigned got = 0;

	path_of(f, "in.pcap", in, sizeof(in));
	write_pcap(in, DLT_EN10MB, N_FRAMES);
	snprintf(da, sizeof(da), "p0,driver=pcap,rx_pcap=%s,loop=0", in);
	port = open_ok(f, da);
	while (got < 50 * N_GOOD) {
		uint16_t n = mpdp_port_rx_burst(port, 0, pkts, 32);

		assert_false(port->abi->flags & MPDP_PORT_F_RX_EOF);
		got += n;
		mpdp_mbuf_free_bulk(pkts, n, port->wid);
	}
	mpdp_port_close(port);
}

/* loop=0 over a file that yields nothing must end, not spin. */
static void
test_rx_loop_0_of_an_empty_or_useless_file_ends(void **state)
{
	struct fixture *f = *state;
	struct mpdp_abi_port_queue s;
	struct mpdp_mbuf *pkts[32];
	struct mpdp_port *port;
	char in[128], da[256];

	path_of(f, "empty.pcap", in, sizeof(in));
	write_pcap(in, DLT_EN10MB, 0);
	snprintf(da, sizeof(da), "p0,driver=pcap,rx_pcap=%s,loop=0", in);
	port = open_ok(f, da);
	assert_int_equal(mpdp_port_rx_burst(port, 0, pkts, 32), 0);
	assert_true(port->abi->flags & MPDP_PORT_F_RX_EOF);
	mpdp_port_close(port);

	/* Only the frame that is too big, replayed forever: counted once, then the end. */
	{
		pcap_t *dead = pcap_open_dead(DLT_EN10MB, 65535);
		pcap_dumper_t *d = pcap_dump_open(dead, in);
		struct pcap_pkthdr h = { { 1, 0 }, 3000, 3000 };
		uint8_t buf[3000] = { 0 };

		pcap_dump((u_char *)d, &h, buf);
		pcap_dump_close(d);
		pcap_close(dead);
	}
	port = open_ok(f, da);
	assert_int_equal(mpdp_port_rx_burst(port, 0, pkts, 32), 0);
	assert_true(port->abi->flags & MPDP_PORT_F_RX_EOF);
	mpdp_port_stats(port->abi, &s);
	assert_int_equal(s.rx_errors, 1);
	mpdp_port_close(port);
}

static void
test_rx_truncated_file_counts_an_error_and_ends(void **state)
{
	struct fixture *f = *state;
	struct mpdp_abi_port_queue s;
	struct mpdp_port *port;
	char in[128], da[256];
	struct stat st;

	path_of(f, "cut.pcap", in, sizeof(in));
	write_pcap(in, DLT_EN10MB, 5);
	assert_int_equal(stat(in, &st), 0);
	assert_int_equal(truncate(in, st.st_size - 20), 0);   /* the 5th record loses its tail */
	snprintf(da, sizeof(da), "p0,driver=pcap,rx_pcap=%s", in);
	port = open_ok(f, da);
	assert_int_equal(rx_all(port, 32, 1, 4), 4);
	mpdp_port_stats(port->abi, &s);
	assert_int_equal(s.rx_errors, 1);
	mpdp_port_close(port);
}

struct rec {
	struct pcap_pkthdr h;
	uint8_t data[2048];
};

/* Read back a file written by the driver; check it is a microsecond pcap. */
static unsigned
read_back(const char *path, struct rec *recs, unsigned max)
{
	char eb[PCAP_ERRBUF_SIZE];
	struct pcap_pkthdr *h;
	const u_char *data;
	unsigned n = 0;
	uint32_t magic = 0;
	pcap_t *p;
	FILE *fp = fopen(path, "rb");

	assert_non_null(fp);
	assert_int_equal(fread(&magic, 4, 1, fp), 1);
	fclose(fp);
	assert_true(magic == 0xa1b2c3d4u);                   /* microsecond pcap, host order */
	p = pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_NANO, eb);
	assert_non_null(p);
	assert_int_equal(pcap_datalink(p), DLT_EN10MB);
	while (pcap_next_ex(p, &h, &data) == 1) {
		assert_true(n < max);
		recs[n].h = *h;
		memcpy(recs[n].data, data, h->caplen);
		n++;
	}
	pcap_close(p);
	return n;
}

static void
test_tx_file_round_trip_keeps_bytes_lengths_and_times(void **state)
{
	struct fixture *f = *state;
	struct mpdp_port *in, *out;
	struct mpdp_mbuf *pkts[64];
	char src[128], dst[128], da[256];
	static struct rec recs[64];
	uint16_t n, k = 0;
	struct timespec t0;

	path_of(f, "in.pcap", src, sizeof(src));
	path_of(f, "out.pcap", dst, sizeof(dst));
	write_pcap(src, DLT_EN10MB, N_FRAMES);
	snprintf(da, sizeof(da), "in,driver=pcap,rx_pcap=%s", src);
	in = open_ok(f, da);
	snprintf(da, sizeof(da), "p0,driver=pcap,tx_pcap=%s", dst);
	out = open_ok(f, da);
	assert_false(out->abi->flags & MPDP_PORT_F_FILE_RX);
	while ((n = mpdp_port_rx_burst(in, 0, pkts, 5)) > 0) {
		assert_int_equal(mpdp_port_tx_burst(out, 0, pkts, n), n);
		k = (uint16_t)(k + n);
	}
	assert_int_equal(k, N_GOOD);
	/* One packet made here, without a capture time: stamped when written. */
	clock_gettime(CLOCK_REALTIME, &t0);
	assert_int_equal(mpdp_mbuf_alloc_bulk(f->pool, MPDP_POOL_NO_CACHE, pkts, 1), 1);
	memset(mpdp_mbuf_append(pkts[0], 60), 0xab, 60);
	assert_int_equal(mpdp_port_tx_burst(out, 0, pkts, 1), 1);
	mpdp_port_close(out);
	mpdp_port_close(in);

	assert_int_equal(read_back(dst, recs, 64), N_GOOD + 1);
	for (unsigned i = 0; i < N_GOOD; i++) {
		unsigned s = i < 13 ? i : i + 1;
		uint8_t want[2048];

		assert_int_equal(recs[i].h.caplen, frames[s].caplen);
		assert_int_equal(recs[i].h.len, frames[s].len);      /* cut records keep len */
		/* microseconds in the file: the nanosecond part is dropped */
		assert_true((uint64_t)recs[i].h.ts.tv_sec == frame_ts(s) / 1000000000u);
		assert_true((uint64_t)recs[i].h.ts.tv_usec == frame_ts(s) % 1000000000u / 1000u * 1000u);
		frame_bytes(s, want, frames[s].caplen);
		assert_memory_equal(recs[i].data, want, frames[s].caplen);
	}
	assert_int_equal(recs[N_GOOD].h.caplen, 60);
	assert_int_equal(recs[N_GOOD].h.len, 60);
	assert_true(recs[N_GOOD].h.ts.tv_sec >= t0.tv_sec && recs[N_GOOD].h.ts.tv_sec <= t0.tv_sec + 5);
}

static void
test_flush_makes_the_output_complete_while_open(void **state)
{
	struct fixture *f = *state;
	struct mpdp_mbuf *pkts[32];
	struct mpdp_port *out;
	static struct rec recs[64];
	char dst[128], da[256];

	path_of(f, "flush.pcap", dst, sizeof(dst));
	snprintf(da, sizeof(da), "p0,driver=pcap,tx_pcap=%s", dst);
	out = open_ok(f, da);
	assert_int_equal(mpdp_mbuf_alloc_bulk(f->pool, MPDP_POOL_NO_CACHE, pkts, 32), 32);
	for (unsigned i = 0; i < 32; i++) {
		frame_bytes(i, mpdp_mbuf_append(pkts[i], 60 + i), 60 + i);
		pkts[i]->timestamp = frame_ts(i);
	}
	assert_int_equal(mpdp_port_tx_burst(out, 0, pkts, 32), 32);
	out->ops->flush(out);
	assert_int_equal(read_back(dst, recs, 64), 32);
	for (unsigned i = 0; i < 32; i++)
		assert_int_equal(recs[i].h.caplen, 60 + i);
	assert_int_equal(out->ops->link_check(out), 1);
	mpdp_port_close(out);
}

/* /dev/full takes the header into its buffer, then refuses every write. */
static void
test_failing_output_counts_errors_and_shows_link_down(void **state)
{
	struct fixture *f = *state;
	struct mpdp_abi_port_queue s;
	struct mpdp_mbuf *pkts[32];
	struct mpdp_port *out;

	out = open_ok(f, "p0,driver=pcap,tx_pcap=/dev/full");
	assert_int_equal(mpdp_mbuf_alloc_bulk(f->pool, MPDP_POOL_NO_CACHE, pkts, 32), 32);
	for (unsigned i = 0; i < 32; i++)
		memset(mpdp_mbuf_append(pkts[i], 64), 0, 64);
	assert_int_equal(mpdp_port_tx_burst(out, 0, pkts, 16), 16);
	out->ops->flush(out);
	assert_int_equal(out->ops->link_check(out), 0);
	assert_int_equal(mpdp_port_tx_burst(out, 0, pkts + 16, 16), 16);
	mpdp_port_stats(out->abi, &s);
	assert_true(s.tx_errors >= 16);
	mpdp_port_close(out);
}

static void
test_missing_sides_receive_nothing_and_drop_what_is_sent(void **state)
{
	struct fixture *f = *state;
	struct mpdp_abi_port_queue s;
	struct mpdp_mbuf *pkts[8];
	struct mpdp_port *port;
	char path[128], da[256];

	/* Transmit-only: rx gives nothing and never claims an end. */
	path_of(f, "o.pcap", path, sizeof(path));
	snprintf(da, sizeof(da), "p0,driver=pcap,tx_pcap=%s", path);
	port = open_ok(f, da);
	assert_int_equal(mpdp_port_rx_burst(port, 0, pkts, 8), 0);
	assert_int_equal(port->abi->flags, 0);
	mpdp_port_close(port);

	/* Receive-only: as DPDK's net_pcap, tx takes and frees everything, no error. */
	path_of(f, "in.pcap", path, sizeof(path));
	write_pcap(path, DLT_EN10MB, 2);
	snprintf(da, sizeof(da), "p0,driver=pcap,rx_pcap=%s", path);
	port = open_ok(f, da);
	assert_int_equal(mpdp_mbuf_alloc_bulk(f->pool, MPDP_POOL_NO_CACHE, pkts, 8), 8);
	assert_int_equal(mpdp_port_tx_burst(port, 0, pkts, 8), 8);
	mpdp_port_stats(port->abi, &s);
	assert_int_equal(s.tx_errors, 0);
	mpdp_port_close(port);
}

/* A pool smaller than a burst: rx delivers what it can and resumes later. */
static void
test_rx_waits_for_mbufs_without_losing_records(void **state)
{
	struct fixture *f = *state;
	struct mpdp_mbuf *hold[POOL_N], *pkts[32];
	struct mpdp_port *port;
	char in[128], da[256];
	unsigned n_hold, got = 0;

	path_of(f, "in.pcap", in, sizeof(in));
	write_pcap(in, DLT_EN10MB, N_FRAMES);
	snprintf(da, sizeof(da), "p0,driver=pcap,rx_pcap=%s", in);
	port = open_ok(f, da);
	n_hold = POOL_N - 3;
	assert_int_equal(mpdp_mbuf_alloc_bulk(f->pool, MPDP_POOL_NO_CACHE, hold, n_hold), n_hold);
	assert_int_equal(mpdp_port_rx_burst(port, 0, pkts, 32), 3);
	assert_int_equal(mpdp_port_rx_burst(port, 0, pkts + 3, 29), 0);
	assert_false(port->abi->flags & MPDP_PORT_F_RX_EOF);
	mpdp_mbuf_free_bulk(pkts, 3, MPDP_POOL_NO_CACHE);
	mpdp_mbuf_free_bulk(hold, n_hold, MPDP_POOL_NO_CACHE);
	for (int i = 0; i < 100 && !(port->abi->flags & MPDP_PORT_F_RX_EOF); i++) {
		uint16_t n = mpdp_port_rx_burst(port, 0, pkts, 32);

		got += n;
		mpdp_mbuf_free_bulk(pkts, n, MPDP_POOL_NO_CACHE);
	}
	assert_int_equal(got + 3, N_GOOD);
	mpdp_port_close(port);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_bad_devargs_fail_with_exact_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_file_delivers_every_frame_and_skips_the_too_big,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_loop_3_replays_three_times_then_ends, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_rx_loop_0_never_ends, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_loop_0_of_an_empty_or_useless_file_ends, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_rx_truncated_file_counts_an_error_and_ends, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_tx_file_round_trip_keeps_bytes_lengths_and_times,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_flush_makes_the_output_complete_while_open, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_failing_output_counts_errors_and_shows_link_down,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_sides_receive_nothing_and_drop_what_is_sent,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_waits_for_mbufs_without_losing_records, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The port layer and the null and ring drivers, through the public port
 * API: opening from device arguments, errors that name the port and the key,
 * the port's rings and slot, counters, and rx/tx of both drivers.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mpdp_mbuf.h"
#include "mpdp_port.h"
#include "mpdp_shm.h"
#include "test_instance.h"

struct fixture {
	struct test_instance ti;
	struct mpdp_pool *pool;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	test_instance_create(&f->ti, "tpmd", 32ull << 20, 0);
	if (mpdp_mbuf_pool_create(f->ti.shm, "mbuf", 1024, 0, 2048, -1, &f->pool) != 0)
		return -1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	test_instance_destroy(&f->ti);
	free(f);
	return 0;
}

static void
expect_open_error(struct fixture *f, const char *devargs, int code, const char *needle)
{
	struct mpdp_errbuf eb = { "" };
	struct mpdp_port *port = NULL;
	struct mpdp_abi_port *slot;
	struct mpdp_ring *r;

	assert_int_equal(mpdp_port_open(f->ti.shm, devargs, f->pool, 64, &port, &eb), code);
	if (strstr(eb.msg, needle) == NULL)
		fail_msg("'%s': message '%s' lacks '%s'", devargs, eb.msg, needle);
	/* A failed open leaves nothing behind: no slot, no rings. */
	assert_int_equal(mpdp_port_lookup(f->ti.shm, "p0", &slot), -ENOENT);
	assert_int_equal(mpdp_ring_lookup(f->ti.shm, "p0.rx", &r), -ENOENT);
	assert_int_equal(mpdp_ring_lookup(f->ti.shm, "p0.tx", &r), -ENOENT);
}

static void
test_bad_devargs_name_the_port_and_the_key(void **state)
{
	struct fixture *f = *state;

	expect_open_error(f, "p0", -EINVAL, "port p0: missing driver=");
	expect_open_error(f, "p0,driver=", -EINVAL, "port p0: missing driver=");
	expect_open_error(f, "p0,driver=nul", -EINVAL, "unknown driver 'nul'");
	expect_open_error(f, "p0,driver=null,sise=3", -EINVAL, "port p0: unknown key 'sise' (driver null)");
	expect_open_error(f, "p0,driver=null,size=3", -EINVAL, "port p0: size=3 is not a number");
	expect_open_error(f, "p0,driver=null,size=4096", -EINVAL, "size=4096");
	expect_open_error(f, "p0,driver=null,copy=2", -EINVAL, "copy=2");
	expect_open_error(f, "p0,driver=null,lcore=x", -EINVAL, "lcore=x");
	expect_open_error(f, "p0,driver=ring", -EINVAL, "needs rx=RING, tx=RING or both");
	expect_open_error(f, "p0,driver=ring,rx=a,size=1000", -EINVAL, "size=1000 is not a power of two");
	expect_open_error(f, ",driver=null", -EINVAL, "--port");
	expect_open_error(f, "p0,driver=null,size=64,size=65", -EINVAL, "given twice");
	expect_open_error(f, "a-name-that-is-far-too-long-x,driver=null", -EINVAL, "at most 28 characters");
}

static void
test_open_makes_slot_and_rings_and_close_removes_them(void **state)
{
	struct fixture *f = *state;
	struct mpdp_errbuf eb = { "" };
	struct mpdp_port *port, *dup;
	struct mpdp_abi_port *slot;
	struct mpdp_ring *r;

	assert_int_equal(mpdp_port_open(f->ti.shm, "p0,driver=null,lcore=1", f->pool, 64, &port, &eb), 0);
	assert_int_equal(mpdp_port_lookup(f->ti.shm, "p0", &slot), 0);
	assert_ptr_equal(slot, port->abi);
	assert_string_equal(slot->driver, "null");
	assert_int_equal(slot->state, MPDP_PORT_STOPPED);
	assert_int_equal(slot->link, 1);
	assert_int_equal(slot->lcore, 1);
	assert_int_equal(slot->n_queues, 1);
	assert_int_equal(mpdp_ring_lookup(f->ti.shm, "p0.rx", &r), 0);
	assert_ptr_equal(r, port->rx_ring);
	assert_int_equal(r->size, 64);
	assert_int_equal(mpdp_port_open(f->ti.shm, "p0,driver=null", f->pool, 64, &dup, &eb), -EEXIST);
	/* Whatever is still queued on its rings goes back to the pool at close. */
	struct mpdp_mbuf *m = mpdp_mbuf_alloc(f->pool, MPDP_POOL_NO_CACHE);

	assert_non_null(m);
	assert_int_equal(mpdp_ring_enqueue_burst(port->tx_ring, (void **)&m, 1, NULL), 1);
	mpdp_port_close(port);
	assert_int_equal(mpdp_pool_in_use_count(f->pool), 0);
	assert_int_equal(mpdp_port_lookup(f->ti.shm, "p0", &slot), -ENOENT);
	assert_int_equal(mpdp_ring_lookup(f->ti.shm, "p0.rx", &r), -ENOENT);
	assert_int_equal(mpdp_ring_lookup(f->ti.shm, "p0.tx", &r), -ENOENT);
}

static void
test_port_table_full_is_enospc(void **state)
{
	struct fixture *f = *state;
	struct mpdp_port *ports[MPDP_PORT_MAX + 1];
	struct mpdp_errbuf eb = { "" };
	char devargs[64];

	for (unsigned i = 0; i < MPDP_PORT_MAX; i++) {
		snprintf(devargs, sizeof(devargs), "p%u,driver=null", i);
		assert_int_equal(mpdp_port_open(f->ti.shm, devargs, f->pool, 8, &ports[i], &eb), 0);
	}
	assert_int_equal(mpdp_port_open(f->ti.shm, "extra,driver=null", f->pool, 8, &ports[MPDP_PORT_MAX], &eb),
			 -ENOSPC);
	assert_non_null(strstr(eb.msg, "port table is full"));
	for (unsigned i = 0; i < MPDP_PORT_MAX; i++)
		mpdp_port_close(ports[i]);
}

static void
test_null_rx_makes_sized_packets_and_tx_frees_them(void **state)
{
	struct fixture *f = *state;
	struct mpdp_errbuf eb = { "" };
	struct mpdp_mbuf *pkts[32];
	struct mpdp_port *port;

	for (int copy = 0; copy <= 1; copy++) {
		char devargs[64];

		snprintf(devargs, sizeof(devargs), "p0,driver=null,size=100,copy=%d", copy);
		assert_int_equal(mpdp_port_open(f->ti.shm, devargs, f->pool, 64, &port, &eb), 0);
		assert_int_equal(mpdp_port_rx_burst(port, 0, pkts, 32), 32);
		for (unsigned i = 0; i < 32; i++) {
			assert_int_equal(pkts[i]->data_len, 100);
			assert_int_equal(pkts[i]->port, port->id);
			if (copy) /* a frame to a locally administered address */
				assert_int_equal(((uint8_t *)mpdp_mbuf_data(pkts[i]))[0], 0x02);
		}
		assert_int_equal(mpdp_pool_in_use_count(f->pool), 32);
		assert_int_equal(mpdp_port_tx_burst(port, 0, pkts, 32), 32);
		assert_int_equal(mpdp_pool_in_use_count(f->pool), 0);
		mpdp_port_close(port);
	}
}

static void
test_null_rx_takes_nothing_from_an_empty_pool(void **state)
{
	struct fixture *f = *state;
	struct mpdp_errbuf eb = { "" };
	struct mpdp_mbuf *held[1024], *pkts[32];
	struct mpdp_port *port;

	assert_int_equal(mpdp_port_open(f->ti.shm, "p0,driver=null", f->pool, 64, &port, &eb), 0);
	assert_int_equal(mpdp_mbuf_alloc_bulk(f->pool, MPDP_POOL_NO_CACHE, held, 1020), 1020);
	assert_int_equal(mpdp_port_rx_burst(port, 0, pkts, 32), 0);
	assert_int_equal(mpdp_pool_in_use_count(f->pool), 1020);
	mpdp_mbuf_free_bulk(held, 1020, MPDP_POOL_NO_CACHE);
	mpdp_port_close(port);
}

static void
test_ring_port_moves_mbufs_between_named_rings(void **state)
{
	struct fixture *f = *state;
	struct mpdp_errbuf eb = { "" };
	struct mpdp_mbuf *in[8], *out[16];
	struct mpdp_ring *rx, *tx;
	struct mpdp_port *port, *only_rx;

	assert_int_equal(mpdp_port_open(f->ti.shm, "p0,driver=ring,rx=feed,tx=sink,size=16", f->pool, 64,
					&port, &eb), 0);
	assert_int_equal(mpdp_ring_lookup(f->ti.shm, "feed", &rx), 0);
	assert_int_equal(mpdp_ring_lookup(f->ti.shm, "sink", &tx), 0);
	assert_int_equal(rx->size, 16);
	assert_int_equal(mpdp_mbuf_alloc_bulk(f->pool, MPDP_POOL_NO_CACHE, in, 8), 8);
	assert_int_equal(mpdp_ring_enqueue_bulk(rx, (void **)in, 8, NULL), 8);
	assert_int_equal(mpdp_port_rx_burst(port, 0, out, 16), 8);
	for (unsigned i = 0; i < 8; i++)
		assert_ptr_equal(out[i], in[i]);
	assert_int_equal(mpdp_port_tx_burst(port, 0, out, 8), 8);
	assert_int_equal(mpdp_ring_count(tx), 8);
	/* A full tx ring takes what fits; the caller keeps the rest. */
	assert_int_equal(mpdp_mbuf_alloc_bulk(f->pool, MPDP_POOL_NO_CACHE, out, 10), 10);
	assert_int_equal(mpdp_port_tx_burst(port, 0, out, 10), 8);
	mpdp_mbuf_free_bulk(out + 8, 2, MPDP_POOL_NO_CACHE);
	/* The named rings outlive the port. */
	mpdp_port_close(port);
	assert_int_equal(mpdp_ring_lookup(f->ti.shm, "sink", &tx), 0);
	assert_int_equal(mpdp_ring_count(tx), 16);
	/* A receive-only ring port refuses to send: the caller counts a drop. */
	assert_int_equal(mpdp_port_open(f->ti.shm, "p1,driver=ring,rx=sink", f->pool, 64, &only_rx, &eb), 0);
	assert_int_equal(mpdp_port_rx_burst(only_rx, 0, out, 16), 16);
	assert_int_equal(mpdp_port_tx_burst(only_rx, 0, out, 16), 0);
	mpdp_mbuf_free_bulk(out, 16, MPDP_POOL_NO_CACHE);
	mpdp_port_close(only_rx);
	assert_int_equal(mpdp_pool_in_use_count(f->pool), 0);
}

static void
test_stats_add_up_every_queue_and_summary_names_the_port(void **state)
{
	struct fixture *f = *state;
	struct mpdp_errbuf eb = { "" };
	struct mpdp_abi_port_queue sum;
	struct mpdp_port *port;
	char line[512];
	FILE *mem;

	assert_int_equal(mpdp_port_open(f->ti.shm, "p0,driver=null", f->pool, 64, &port, &eb), 0);
	mpdp_port_count(&port->abi->queues[0].rx_packets, 5);
	mpdp_port_count(&port->abi->queues[3].rx_packets, 7);
	mpdp_port_count(&port->abi->queues[7].tx_drops, 2);
	mpdp_port_stats(port->abi, &sum);
	assert_int_equal(sum.rx_packets, 12);
	assert_int_equal(sum.tx_drops, 2);
	mem = fmemopen(line, sizeof(line), "w");
	assert_non_null(mem);
	mpdp_port_summary(mem, port->abi);
	fclose(mem);
	assert_non_null(strstr(line, "port p0"));
	assert_non_null(strstr(line, "rx 12 pkts"));
	assert_non_null(strstr(line, "drops 2"));
	mpdp_port_close(port);
}

static void
test_every_driver_is_found_by_name(void **state)
{
	const char *const *names = mpdp_pmd_names();
	unsigned n = 0;

	(void)state;
	for (; names[n] != NULL; n++)
		assert_ptr_equal(mpdp_pmd_find(names[n])->driver, names[n]);
	assert_int_equal(n, 5);
	assert_null(mpdp_pmd_find("nosuch"));
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_bad_devargs_name_the_port_and_the_key),
		T(test_open_makes_slot_and_rings_and_close_removes_them),
		T(test_port_table_full_is_enospc),
		T(test_null_rx_makes_sized_packets_and_tx_frees_them),
		T(test_null_rx_takes_nothing_from_an_empty_pool),
		T(test_ring_port_moves_mbufs_between_named_rings),
		T(test_stats_add_up_every_queue_and_summary_names_the_port),
		cmocka_unit_test(test_every_driver_is_found_by_name),
	};

	return cmocka_run_group_tests_name("pmd", tests, NULL, NULL);
}

/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * af_packet device arguments that are wrong before any interface is
 * touched: each gives its exact error code and a message naming the port
 * and the key, and leaves no port behind. Runs anywhere (no privileges).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mpdp_mbuf.h"
#include "mpdp_port.h"
#include "mpdp_shm.h"
#include "test_instance.h"

struct args_env {
	struct test_instance ti;
	struct mpdp_pool *pool;       /* data room 2048 */
	struct mpdp_pool *big_pool;   /* data room 8192 */
};

static int
setup(void **state)
{
	struct args_env *env = calloc(1, sizeof(*env));

	if (env == NULL)
		return -1;
	test_instance_create(&env->ti, "tafpargs", 32ull << 20, 0);
	assert_int_equal(mpdp_mbuf_pool_create(env->ti.shm, "mbuf", 256, 0, 2048, -1, &env->pool), 0);
	assert_int_equal(mpdp_mbuf_pool_create(env->ti.shm, "big", 64, 0, 8192, -1, &env->big_pool), 0);
	*state = env;
	return 0;
}

static int
teardown(void **state)
{
	struct args_env *env = *state;

	test_instance_destroy(&env->ti);
	free(env);
	return 0;
}

/* Open @p devargs on @p pool and expect @p rc with exactly @p msg, and no port left. */
static void
expect_open_error(struct args_env *env, struct mpdp_pool *pool, const char *devargs, int rc,
		  const char *msg)
{
	struct mpdp_errbuf eb = { "" };
	struct mpdp_port *port = NULL;
	struct mpdp_abi_port *slot;

	assert_int_equal(mpdp_port_open(env->ti.shm, devargs, pool, 256, &port, &eb), rc);
	assert_null(port);
	assert_string_equal(eb.msg, msg);
	assert_int_equal(mpdp_port_lookup(env->ti.shm, "p0", &slot), -ENOENT);
}

static void
test_missing_iface_is_rejected(void **state)
{
	struct args_env *env = *state;

	expect_open_error(env, env->pool, "p0,driver=af_packet", -EINVAL,
			  "port p0: missing iface= (the interface to open)");
	expect_open_error(env, env->pool, "p0,driver=af_packet,iface", -EINVAL,
			  "port p0: iface= needs a value");
	expect_open_error(env, env->pool, "p0,driver=af_packet,iface=", -EINVAL,
			  "port p0: iface= needs a value");
}

static void
test_overlong_iface_is_rejected(void **state)
{
	struct args_env *env = *state;

	expect_open_error(env, env->pool, "p0,driver=af_packet,iface=abcdefghijklmnop", -EINVAL,
			  "port p0: iface=abcdefghijklmnop: an interface name has at most 15 characters");
}

static void
test_bad_framesz_is_rejected(void **state)
{
	struct args_env *env = *state;

	expect_open_error(env, env->pool, "p0,driver=af_packet,iface=x,framesz=3000", -EINVAL,
			  "port p0: framesz=3000 must be a power of two and a multiple of "
			  "TPACKET_ALIGNMENT (16)");
	expect_open_error(env, env->pool, "p0,driver=af_packet,iface=x,framesz=64", -EINVAL,
			  "port p0: framesz=64 is not a number from 128 to 268435456");
	expect_open_error(env, env->pool, "p0,driver=af_packet,iface=x,framesz=big", -EINVAL,
			  "port p0: framesz=big is not a number from 128 to 268435456");
}

static void
test_bad_blocksz_is_rejected(void **state)
{
	struct args_env *env = *state;
	long page = sysconf(_SC_PAGESIZE);
	char devargs[128], msg[256];

	snprintf(devargs, sizeof(devargs), "p0,driver=af_packet,iface=x,blocksz=%ld", page + 904);
	snprintf(msg, sizeof(msg), "port p0: blocksz=%ld must be a power of two and a multiple of the "
		 "page size (%ld)", page + 904, page);
	expect_open_error(env, env->pool, devargs, -EINVAL, msg);
	snprintf(devargs, sizeof(devargs), "p0,driver=af_packet,iface=x,blocksz=%ld", page / 2);
	snprintf(msg, sizeof(msg), "port p0: blocksz=%ld is not a number from %ld to 268435456", page / 2,
		 page);
	expect_open_error(env, env->pool, devargs, -EINVAL, msg);
	expect_open_error(env, env->pool, "p0,driver=af_packet,iface=x,blocksz=4096,framesz=8192", -EINVAL,
			  "port p0: blocksz=4096 must be a multiple of framesz=8192");
}

static void
test_blocksz_must_hold_the_data_room(void **state)
{
	struct args_env *env = *state;

	expect_open_error(env, env->big_pool, "p0,driver=af_packet,iface=x,blocksz=8192", -EINVAL,
			  "port p0: blocksz=8192 is too small for the pool's data room "
			  "(8192 bytes + 256 of headers)");
}

static void
test_bad_ring_counts_are_rejected(void **state)
{
	struct args_env *env = *state;

	expect_open_error(env, env->pool, "p0,driver=af_packet,iface=x,framecnt=100", -EINVAL,
			  "port p0: framecnt=100 must be a multiple of blocksz/framesz = 32");
	expect_open_error(env, env->pool, "p0,driver=af_packet,iface=x,framecnt=64,blockcnt=4", -EINVAL,
			  "port p0: framecnt=64 and blockcnt=4 disagree (framecnt must be "
			  "blockcnt * blocksz/framesz = 128)");
	expect_open_error(env, env->pool, "p0,driver=af_packet,iface=x,blockcnt=0", -EINVAL,
			  "port p0: blockcnt=0 is not a number from 1 to 1048576");
	expect_open_error(env, env->pool,
			  "p0,driver=af_packet,iface=x,blocksz=268435456,framesz=2048,blockcnt=8", -EINVAL,
			  "port p0: blocksz * blockcnt = 2147483648 bytes: at most 1073741824 per ring");
}

static void
test_bad_queues_are_rejected(void **state)
{
	struct args_env *env = *state;

	expect_open_error(env, env->pool, "p0,driver=af_packet,iface=x,queues=0", -EINVAL,
			  "port p0: queues=0 is not a number from 1 to 8");
	expect_open_error(env, env->pool, "p0,driver=af_packet,iface=x,queues=9", -EINVAL,
			  "port p0: queues=9 is not a number from 1 to 8");
}

static void
test_bad_switches_are_rejected(void **state)
{
	struct args_env *env = *state;

	expect_open_error(env, env->pool, "p0,driver=af_packet,iface=x,fanout=random", -EINVAL,
			  "port p0: fanout=random: not one of hash, lb, cpu, qm, rollover, rnd");
	expect_open_error(env, env->pool, "p0,driver=af_packet,iface=x,qdisc_bypass=2", -EINVAL,
			  "port p0: qdisc_bypass=2 is not a number from 0 to 1");
	expect_open_error(env, env->pool, "p0,driver=af_packet,iface=x,promisc=yes", -EINVAL,
			  "port p0: promisc=yes is not a number from 0 to 1");
	expect_open_error(env, env->pool, "p0,driver=af_packet,iface=x,blocktov=0", -EINVAL,
			  "port p0: blocktov=0 is not a number from 1 to 1000");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_missing_iface_is_rejected),
		cmocka_unit_test(test_overlong_iface_is_rejected),
		cmocka_unit_test(test_bad_framesz_is_rejected),
		cmocka_unit_test(test_bad_blocksz_is_rejected),
		cmocka_unit_test(test_blocksz_must_hold_the_data_room),
		cmocka_unit_test(test_bad_ring_counts_are_rejected),
		cmocka_unit_test(test_bad_queues_are_rejected),
		cmocka_unit_test(test_bad_switches_are_rejected),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

/* SPDX-License-Identifier: BSD-3-Clause */
/* Test helpers shared by the cmocka executables: forked children and a PRNG. */
#ifndef MPDP_TEST_UTIL_H
#define MPDP_TEST_UTIL_H

#include <stdint.h>
#include <sys/types.h>

#include "test_instance.h"

/** What a forked child runs once attached; its return value is the exit code. */
typedef int test_child_fn(struct mpdp_shm *shm, void *arg);

/**
 * Fork a child that attaches to @p ti (as an exec'd secondary would), runs
 * @p fn and exits with its result. Signals are reset in the child, so a crash
 * ends it instead of returning into cmocka's runner; @p timeout_s bounds it.
 */
pid_t test_child_spawn(const struct test_instance *ti, test_child_fn *fn, void *arg,
		       unsigned timeout_s);

/** Reap @p pid within @p timeout_s seconds; @return its wait status. */
int test_child_wait(pid_t pid, unsigned timeout_s);

/** Reap @p pid and assert it exited with @p code. */
void test_child_expect_exit(pid_t pid, int code, unsigned timeout_s);

/** Reap @p pid and assert it was killed by @p sig. */
void test_child_expect_signal(pid_t pid, int sig, unsigned timeout_s);

/** xorshift64*: a fast, seedable generator for randomized tests. */
static inline uint64_t
test_rand(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1Dull;
}

#endif /* MPDP_TEST_UTIL_H */

/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Test helper: a private instance per test process (its name carries the
 * pid and its runtime directory is a fresh temporary one), so tests run in
 * parallel and leave nothing behind.
 */
#ifndef MPDP_TEST_INSTANCE_H
#define MPDP_TEST_INSTANCE_H

#include <limits.h>
#include <stdint.h>

#include "mpdp_shm.h"

struct test_instance {
	char name[MPDP_NAME_MAX];
	char dir[PATH_MAX - 128];      /* runtime directory parent, made by mkdtemp */
	struct mpdp_shm *shm;          /* the creating (primary) handle */
	int creator_pid;
};

/**
 * Create an instance on tmpfs (or on huge pages when @p huge), @p size bytes
 * (0 for 64 MiB). Aborts the test on failure.
 */
void test_instance_create(struct test_instance *ti, const char *prefix, uint64_t size, int huge);

/**
 * Attach to @p ti from this process. A forked child first drops the mapping
 * it inherited from the creator, as an exec'd secondary would not have it.
 * Aborts on failure.
 */
struct mpdp_shm *test_instance_attach(const struct test_instance *ti);

/** Close the primary handle and remove the temporary directory. */
void test_instance_destroy(struct test_instance *ti);

#endif /* MPDP_TEST_INSTANCE_H */

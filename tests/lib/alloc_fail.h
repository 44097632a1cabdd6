/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Allocation failure injection. A test linked with alloc_fail_dep has its
 * calls to malloc, calloc, realloc and aligned_alloc (and those of the
 * libraries linked into it from this project) wrapped: once armed, the Nth
 * allocation fails. cmocka and libc keep the real allocators.
 */
#ifndef MPDP_TEST_ALLOC_FAIL_H
#define MPDP_TEST_ALLOC_FAIL_H

/* The allocation @nth from now (0: the next one) returns NULL. */
void alloc_fail_arm(long nth);

/* No allocation fails. */
void alloc_fail_disarm(void);

#endif

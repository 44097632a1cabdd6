/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Test helper: whether a text is exactly one JSON value (RFC 8259), for the
 * --json outputs of the stage commands (tests/fw_rules, tests/nat,
 * tests/mon).
 */
#ifndef MPDP_TEST_JSON_CHECK_H
#define MPDP_TEST_JSON_CHECK_H

#include <stddef.h>

/**
 * @return 1 when @p s (@p len bytes) holds one JSON value, with blanks
 *         around it allowed, else 0
 */
int json_check(const char *s, size_t len);

#endif /* MPDP_TEST_JSON_CHECK_H */

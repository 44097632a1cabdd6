/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * Writing JSON: what the --json outputs of the tools and stages share.
 */
#ifndef MPDP_JSON_H
#define MPDP_JSON_H

#include <stddef.h>
#include <stdio.h>

/**
 * Write @p len bytes of @p s as a JSON string, quoted, with '"', '\' and
 * control characters escaped (names and rule texts come from users).
 */
void mpdp_json_strn(FILE *f, const char *s, size_t len);

/** Write the NUL-terminated @p s as a JSON string, escaped as mpdp_json_strn() does. */
void mpdp_json_str(FILE *f, const char *s);

#endif /* MPDP_JSON_H */

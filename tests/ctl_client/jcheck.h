/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A strict JSON reader for the tests of mpdpctl (RFC 8259: one value, no
 * trailing commas, no raw control characters in strings), with lookups by
 * path, so a test can both check that output parses and what it holds.
 */
#ifndef MPDP_TEST_JCHECK_H
#define MPDP_TEST_JCHECK_H

#include <stddef.h>

enum jcheck_type { JC_NULL, JC_BOOL, JC_NUM, JC_STR, JC_ARR, JC_OBJ };

struct jcheck {
	enum jcheck_type type;
	int b;                     /* JC_BOOL */
	char *text;                /* JC_NUM: as written; JC_STR: decoded (UTF-8) */
	size_t n;                  /* JC_ARR, JC_OBJ: members */
	struct jcheck *v;          /* members' values */
	char **k;                  /* JC_OBJ: members' names */
};

/**
 * Parse @p s, which must hold exactly one JSON value (blanks around it allowed).
 * @return the value, to free with jcheck_free(), or NULL when @p s is not JSON
 */
struct jcheck *jcheck_parse(const char *s, size_t len);

void jcheck_free(struct jcheck *v);

/**
 * The value at @p path: members and indices separated by dots, e.g.
 * "ports.0.name" ("" is @p v itself). @return NULL when there is none
 */
const struct jcheck *jcheck_get(const struct jcheck *v, const char *path);

/** The string at @p path, or NULL when absent or not a string. */
const char *jcheck_str(const struct jcheck *v, const char *path);

/** The number at @p path as written, or NULL when absent or not a number. */
const char *jcheck_num(const struct jcheck *v, const char *path);

#endif /* MPDP_TEST_JCHECK_H */

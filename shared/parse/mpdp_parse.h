/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * Parsers for command-line values: numbers, sizes, addresses and DPDK-style
 * device arguments ("NAME,key=value,flag,..."). Each rejects the whole value
 * on any stray character and says what it expected.
 */
#ifndef MPDP_PARSE_H
#define MPDP_PARSE_H

#include <stdint.h>

#include "mpdp_err.h"

/**
 * Parse an unsigned integer (decimal, or hex with 0x) in [@p min, @p max].
 *
 * @return 0, -EINVAL when not a number, -ERANGE when out of range
 */
int mpdp_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/**
 * Parse a size with an optional K, M, G or T suffix (powers of 1024).
 *
 * @return 0, -EINVAL, or -ERANGE on overflow
 */
int mpdp_parse_size(const char *s, uint64_t *out);

#define MPDP_KVARGS_MAX 16

/** A split device-argument string; points into its own copy. */
struct mpdp_kvargs {
	char buf[512];
	const char *name;       /* the first element, before any '=' */
	unsigned n;
	struct {
		const char *key;
		const char *value;  /* NULL for a bare flag */
		int used;           /* set by mpdp_kvargs_get() */
	} kv[MPDP_KVARGS_MAX];
};

/**
 * Split "NAME,key=value,flag,..." into @p kv.
 *
 * @param s  the argument
 * @param kv  filled in
 * @param eb  detail on failure, or NULL
 * @return 0, -EINVAL (empty name, empty key, duplicate key), -E2BIG (too long or too many keys)
 */
int mpdp_kvargs_parse(const char *s, struct mpdp_kvargs *kv, struct mpdp_errbuf *eb);

/**
 * Find @p key and mark it used.
 *
 * @return the entry's index, or -ENOENT
 */
int mpdp_kvargs_get(struct mpdp_kvargs *kv, const char *key);

/**
 * Check that every key was looked up, so misspelt keys are reported.
 *
 * @return 0, or -EINVAL naming the first unknown key in @p eb
 */
int mpdp_kvargs_check_unused(const struct mpdp_kvargs *kv, struct mpdp_errbuf *eb);

#endif /* MPDP_PARSE_H */

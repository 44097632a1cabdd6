/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * Error codes and error detail.
 *
 * Functions return 0 or a negative errno value. Slow-path calls whose
 * failures need more than a code (which file, which mapping, which option)
 * also fill a caller-owned struct mpdp_errbuf with one line of detail, so
 * the caller that decides what happens can print it; the library never
 * prints errors itself.
 */
#ifndef MPDP_ERR_H
#define MPDP_ERR_H

#include <stddef.h>

/** Caller-owned detail for a failed slow-path call. */
struct mpdp_errbuf {
	char msg[512];
};

/**
 * Describe an error code.
 *
 * @param err  a negative errno value (positive values are accepted too)
 * @return a static string; never NULL, safe from any thread
 */
const char *mpdp_strerror(int err);

/**
 * Write a detail line into @p eb when it is not NULL and return @p err,
 * so a failure path reads `return mpdp_err_set(eb, -EINVAL, "...", ...);`.
 *
 * @param eb  the caller's buffer, or NULL
 * @param err  the code to return
 * @param fmt  printf format of the detail
 * @return @p err
 */
int mpdp_err_set(struct mpdp_errbuf *eb, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif /* MPDP_ERR_H */

/* SPDX-License-Identifier: BSD-3-Clause */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "mpdp_err.h"

const char *
mpdp_strerror(int err)
{
	const char *s;

	if (err < 0)
		err = -err;
	if (err == 0)
		return "success";
	s = strerrordesc_np(err);
	return s != NULL ? s : "unknown error";
}

int
mpdp_err_set(struct mpdp_errbuf *eb, int err, const char *fmt, ...)
{
	va_list ap;

	if (eb != NULL) {
		va_start(ap, fmt);
		vsnprintf(eb->msg, sizeof(eb->msg), fmt, ap);
		va_end(ap);
	}
	return err;
}

/* SPDX-License-Identifier: BSD-3-Clause */
#include <unistd.h>

#include "mpdp_time.h"

uint64_t
mpdp_tsc_hz(void)
{
	uint64_t t0 = mpdp_time_ns(), c0 = mpdp_tsc();
	uint64_t t1, c1;

	usleep(20000);
	t1 = mpdp_time_ns();
	c1 = mpdp_tsc();
	return (uint64_t)((double)(c1 - c0) * 1e9 / (double)(t1 - t0));
}

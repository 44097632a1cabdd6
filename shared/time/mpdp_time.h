/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * Clocks: the cycle counter the benchmarks report in, and nanoseconds.
 */
#ifndef MPDP_TIME_H
#define MPDP_TIME_H

#include <stdint.h>
#include <time.h>

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#endif

/** @return the time-stamp counter (x86) or monotonic nanoseconds elsewhere. */
static inline uint64_t
mpdp_tsc(void)
{
#if defined(__x86_64__) || defined(__i386__)
	return __rdtsc();
#else
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
#endif
}

/** @return CLOCK_MONOTONIC in nanoseconds. */
static inline uint64_t
mpdp_time_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/** @return CLOCK_REALTIME in nanoseconds (wall time, for timestamps others read). */
static inline uint64_t
mpdp_realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/**
 * Measure the counter's frequency against CLOCK_MONOTONIC (about 20 ms,
 * measured once per call).
 *
 * @return ticks per second of mpdp_tsc()
 */
uint64_t mpdp_tsc_hz(void);

#endif /* MPDP_TIME_H */

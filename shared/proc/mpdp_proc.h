/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * Process identity: a pid plus its start time names one process even when
 * the kernel reuses the pid, which is how a dead owner is told from a live one.
 */
#ifndef MPDP_PROC_H
#define MPDP_PROC_H

#include <stdint.h>
#include <sys/types.h>

/**
 * Read a process's start time (clock ticks since boot, /proc/PID/stat field 22).
 *
 * @return 0, -ENOENT when no such process or it is a zombie (it has exited and
 *         waits to be reaped), -EPROTO when the file cannot be parsed
 */
int mpdp_proc_start_time(pid_t pid, uint64_t *out);

/**
 * @return 1 when process @p pid exists and started at @p start_time
 *         (0 accepts any start time), 0 otherwise
 */
int mpdp_proc_alive(pid_t pid, uint64_t start_time);

#endif /* MPDP_PROC_H */

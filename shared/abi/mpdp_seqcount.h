/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * Sequence words: how a reader in any process takes a consistent snapshot
 * of counters that one thread writes, without a lock and without ever
 * making the writer wait.
 *
 * The writer makes the word odd, updates its counters (relaxed stores) and
 * makes it even again. A reader notes the word, copies the counters, and
 * keeps the copy only when the word was even and has not moved. A writer
 * that died mid-update leaves the word odd for good, so a reader tries a
 * bounded number of times and then reports the snapshot as torn rather
 * than spin.
 */
#ifndef MPDP_SEQCOUNT_H
#define MPDP_SEQCOUNT_H

#include <stdint.h>

/** Reader attempts before a snapshot is given up as torn. */
#define MPDP_SEQ_READ_TRIES 1000

/** Writer: counters of @p seq are about to change. */
static inline void
mpdp_seq_write_begin(uint32_t *seq)
{
	__atomic_store_n(seq, *seq + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
}

/** Writer: the counters are consistent again. */
static inline void
mpdp_seq_write_end(uint32_t *seq)
{
	__atomic_store_n(seq, *seq + 1, __ATOMIC_RELEASE);
}

/** Reader: the word before copying; odd means "retry". */
static inline uint32_t
mpdp_seq_read_begin(const uint32_t *seq)
{
	return __atomic_load_n(seq, __ATOMIC_ACQUIRE);
}

/** Reader: whether the copy taken since @p start is consistent. */
static inline int
mpdp_seq_read_ok(const uint32_t *seq, uint32_t start)
{
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	return (start & 1) == 0 && __atomic_load_n(seq, __ATOMIC_RELAXED) == start;
}

#endif /* MPDP_SEQCOUNT_H */

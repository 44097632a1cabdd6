/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * Fault points: named places in the data path where a process can be made
 * to kill itself with SIGKILL, so that tests can stop a stage inside each
 * window the primary must recover from (doc/faults.md).
 *
 * Arm one from the environment: MPDP_FAULT=NAME[:N] kills the process the
 * N-th time (default 1) it passes NAME. When nothing is armed a point is one
 * load and one branch.
 */
#ifndef MPDP_FAULT_H
#define MPDP_FAULT_H

/** The places. */
enum mpdp_fault_point {
	MPDP_FAULT_NONE = 0,
	MPDP_FAULT_MID_DEQUEUE,    /**< a ring side taken, objects copied out, tail not moved */
	MPDP_FAULT_MID_ENQUEUE,    /**< a ring side taken, objects copied in, tail not moved */
	MPDP_FAULT_AFTER_DEQUEUE,  /**< a stage's dequeue took effect, its hand not yet recorded */
	MPDP_FAULT_AFTER_PROCESS,  /**< between a stage's process() and its dispatch */
	MPDP_FAULT_AFTER_SORT,     /**< a burst sorted by output, nothing sent yet */
	MPDP_FAULT_AFTER_ENQUEUE,  /**< an enqueue took effect, the hand not yet moved */
	MPDP_FAULT_MID_CACHE_PUT,  /**< a mempool cache written, its length not yet */
	MPDP_FAULT_AFTER_FREE,     /**< a free (cache put) took effect, the hand not yet moved */
	MPDP_FAULT_ALLOC_LOCK,     /**< holding the region's allocation lock */
	MPDP_FAULT_N_,
};

/** The armed point, MPDP_FAULT_NONE when none (set once, from MPDP_FAULT, at load). */
extern int mpdp_fault_armed;

/** Count a pass at the armed point; SIGKILL the process at the chosen one. */
void mpdp__fault_hit(void);

/** @return the point called @p name ("mid-dequeue", ...), or MPDP_FAULT_NONE. */
enum mpdp_fault_point mpdp_fault_parse(const char *name);

#define MPDP_FAULT_POINT(p)                                              \
	do {                                                             \
		if (__builtin_expect(mpdp_fault_armed == (p), 0))       \
			mpdp__fault_hit();                               \
	} while (0)

#endif /* MPDP_FAULT_H */

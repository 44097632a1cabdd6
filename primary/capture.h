/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mpdp-primary: the capture manager (private to this program).
 *
 * The control thread starts and stops captures and calls capture_poll()
 * about every 10 ms. Each call drains the captures' rings into their pcapng
 * files. The workers do the copying (mpdp_capture.h). A capture writes a
 * Section Header Block and an Interface Description Block (Ethernet, the
 * snap length, nanosecond timestamps, if_name = the target, if_filter =
 * the expression). Then come one Enhanced Packet Block per copy and, at
 * the end, an Interface Statistics Block.
 *
 * Ending is safe against workers in the middle of a copy. The target's
 * capture word is cleared first and the slot marked stopping. After a
 * grace period of CAPTURE_GRACE_NS, the ring is drained one last time and
 * the file closed. A copy that comes later still carries its capture id,
 * so it is freed at a later poll and never written to another capture's
 * file.
 *
 * All calls come from one thread, the control thread; the manager has no lock.
 */
#ifndef MPDP_PRIMARY_CAPTURE_H
#define MPDP_PRIMARY_CAPTURE_H

#include <stdint.h>

#include "mpdp_abi.h"
#include "mpdp_err.h"

struct mpdp_shm;
struct capture_mgr;

#define CAPTURE_FILTER_MAX 1024   /* bytes of a filter expression, with the NUL */
#define CAPTURE_LABEL_MAX 256     /* bytes of the file label, with the NUL */
#define CAPTURE_HISTORY 16        /* ended captures kept for capture_list() */
#define CAPTURE_GRACE_NS 50000000ull /* workers finish a burst far sooner */

enum capture_state {
	CAPTURE_RUNNING = 0,  /* copying, or ending (in its grace period) */
	CAPTURE_DONE,         /* its count was reached */
	CAPTURE_STOPPED,      /* stopped on request, or its target went away */
	CAPTURE_FAILED,       /* the file could not be written */
};

/* One capture, running or ended. */
struct capture_info {
	uint32_t id;
	char kind[8];                     /* "ring" or "port" */
	char target[MPDP_NAME_MAX];
	char filter[CAPTURE_FILTER_MAX];
	char file[CAPTURE_LABEL_MAX];     /* the label given at start */
	enum capture_state state;
	unsigned snaplen;
	uint64_t limit;                   /* 0: none */
	uint64_t matched;                 /* passed the filter (never beyond limit) */
	uint64_t written;                 /* in the file */
	uint64_t dropped;                 /* matched, not written: no buffer, queue or file room */
	char error[160];                  /* why it failed or stopped on its own, else "" */
};

/* @return "running", "done", "stopped" or "failed". */
const char *capture_state_name(enum capture_state s);

/*
 * Make the capture manager and the shared capture zone. Call it early, right
 * after the region is made: workers find the zone by scanning the memzone
 * table, and an early zone is found sooner. The capture pool
 * (MPDP_CAPTURE_POOL_SIZE buffers of MPDP_CAPTURE_SNAPLEN_MAX bytes) is
 * made at the first start.
 *
 * @return 0, -EEXIST (the zone exists: another manager), -ENOMEM, -ENOSPC
 */
int capture_mgr_open(struct mpdp_shm *shm, struct capture_mgr **out, struct mpdp_errbuf *eb);

/*
 * Stop every running capture (one grace period for all), close their files,
 * free the capture pool and zone and the manager.
 */
void capture_mgr_close(struct capture_mgr *m);

/*
 * Start capturing @p target into @p fd.
 *
 * @param target  a port or ring name; "port:NAME" or "ring:NAME" when a
 *                name is both
 * @param filter  a pcap filter expression, "" or NULL for every packet
 * @param snaplen  bytes kept per packet, 0 for MPDP_CAPTURE_SNAPLEN_MAX
 * @param count  stop after this many matches, 0 for no limit
 * @param fd  a file open for writing; taken over, closed also on failure
 * @param file_label  what to show as its name (e.g. the client's path), or NULL
 * @param id  the capture's id (>= 1)
 * @return 0, -EINVAL (bad target, filter, snaplen or count), -ENOENT (no
 *         such target), -EBUSY (the target is captured), -ENOSPC (every slot
 *         is busy), -EBADF (fd not writable), -ENOMEM, or the -errno of the
 *         first write; @p eb says which
 */
int capture_start(struct capture_mgr *m, const char *target, const char *filter, unsigned snaplen,
		  uint64_t count, int fd, const char *file_label, uint32_t *id,
		  struct mpdp_errbuf *eb);

/*
 * Stop capture @p id, or the only running one when @p id is 0. Waits out the
 * grace period (CAPTURE_GRACE_NS), drains and closes the file before it
 * returns.
 *
 * @return 0, -ENOENT (no such capture, or none running), -EINVAL (id 0 but
 *         several run), -EALREADY (it has ended)
 */
int capture_stop(struct capture_mgr *m, uint32_t id, struct mpdp_errbuf *eb);

/*
 * Running and recently ended captures, oldest id first.
 *
 * @return how many were written to @p out (at most @p max)
 */
unsigned capture_list(struct capture_mgr *m, struct capture_info *out, unsigned max);

/*
 * Drain each capture's ring into its file and flush it. Begin ending a
 * capture whose count is reached, whose target is gone or whose file
 * failed. Finish those whose grace period is over. Free copies that
 * arrived too late for their capture. Call it about every 10 ms from the
 * control thread; it never blocks on a worker.
 */
void capture_poll(struct capture_mgr *m);

#endif /* MPDP_PRIMARY_CAPTURE_H */

/* SPDX-License-Identifier: BSD-3-Clause */
/* mpdp-primary: dead stages, seen within milliseconds and reclaimed (private to this program). */
#ifndef MPDP_PRIMARY_FAULTS_H
#define MPDP_PRIMARY_FAULTS_H

#include <poll.h>
#include <sys/types.h>

#include "mpdp_abi.h"

struct mpdp_shm;

#define FAULTS_WATCH_MAX 64

/* Running stages watched through a pidfd each: their exit wakes the primary at once. */
struct faults {
	struct mpdp_shm *shm;
	unsigned n;
	struct {
		pid_t pid;
		int fd;
	} watch[FAULTS_WATCH_MAX];
	uint64_t reclaims;          /* dead stages reclaimed so far */
};

void faults_init(struct faults *f, struct mpdp_shm *shm);

/* Put the pidfds in @p fds (up to @p max); return how many. */
unsigned faults_pollfds(const struct faults *f, struct pollfd *fds, unsigned max);

/*
 * Reclaim every stage whose process is gone, and watch the stages that run
 * now. Cheap enough for every wake-up and every 10 ms.
 *
 * @return stages reclaimed by this call
 */
unsigned faults_scan(struct faults *f);

void faults_fini(struct faults *f);

#endif /* MPDP_PRIMARY_FAULTS_H */

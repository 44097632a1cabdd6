/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A stage that dies is seen three ways: its pidfd becomes readable (the
 * primary's poll wakes at once), its control connection closes (the control
 * thread), and, for a process that was never watched, the scan every 10 ms.
 * Reclaiming is mpdp_stage_reap_dead(): the library does the work, so a
 * stage taking the id over can do it too when it gets there first.
 */
#include <errno.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "faults.h"
#include "mpdp_log.h"
#include "mpdp_stage.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

void
faults_init(struct faults *f, struct mpdp_shm *shm)
{
	memset(f, 0, sizeof(*f));
	f->shm = shm;
}

unsigned
faults_pollfds(const struct faults *f, struct pollfd *fds, unsigned max)
{
	unsigned n = 0;

	for (unsigned i = 0; i < f->n && n < max; i++) {
		fds[n].fd = f->watch[i].fd;
		fds[n].events = POLLIN;
		fds[n].revents = 0;
		n++;
	}
	return n;
}

static int
watched(const struct faults *f, pid_t pid)
{
	for (unsigned i = 0; i < f->n; i++) {
		if (f->watch[i].pid == pid)
			return 1;
	}
	return 0;
}

static int
watch_one(struct mpdp_abi_stage *slot, void *arg)
{
	struct faults *f = arg;
	uint32_t state = mpdp_stage_slot_state(slot);
	pid_t pid = mpdp_stage_slot_pid(slot);
	int fd;

	if ((state != MPDP_STAGE_RUNNING && state != MPDP_STAGE_STOPPING) || pid <= 0 ||
	    watched(f, pid) || f->n == FAULTS_WATCH_MAX)
		return 0;
	fd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (fd < 0)
		return 0; /* gone already (the next scan reclaims it) or no pidfds: the scan covers it */
	f->watch[f->n].pid = pid;
	f->watch[f->n].fd = fd;
	f->n++;
	return 0;
}

/* Drop the watches of processes that have exited. */
static void
unwatch_exited(struct faults *f)
{
	for (unsigned i = 0; i < f->n;) {
		struct pollfd pfd = { .fd = f->watch[i].fd, .events = POLLIN };

		if (poll(&pfd, 1, 0) == 1) {
			close(f->watch[i].fd);
			f->watch[i] = f->watch[--f->n];
		} else {
			i++;
		}
	}
}

unsigned
faults_scan(struct faults *f)
{
	unsigned n = mpdp_stage_reap_dead(f->shm);

	f->reclaims += n;
	unwatch_exited(f);
	mpdp_stage_walk(f->shm, watch_one, f);
	return n;
}

void
faults_fini(struct faults *f)
{
	for (unsigned i = 0; i < f->n; i++)
		close(f->watch[i].fd);
	f->n = 0;
}

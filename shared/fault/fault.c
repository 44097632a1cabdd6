/* SPDX-License-Identifier: BSD-3-Clause */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mpdp_fault.h"

/* A process-wide test switch, like the log level: read-only after load. */
int mpdp_fault_armed;
static unsigned long fault_countdown;

static const char *const fault_names[MPDP_FAULT_N_] = {
	[MPDP_FAULT_MID_DEQUEUE] = "mid-dequeue",
	[MPDP_FAULT_MID_ENQUEUE] = "mid-enqueue",
	[MPDP_FAULT_AFTER_DEQUEUE] = "after-dequeue",
	[MPDP_FAULT_AFTER_PROCESS] = "after-process",
	[MPDP_FAULT_AFTER_SORT] = "after-sort",
	[MPDP_FAULT_AFTER_ENQUEUE] = "after-enqueue",
	[MPDP_FAULT_MID_CACHE_PUT] = "mid-cache-put",
	[MPDP_FAULT_AFTER_FREE] = "after-free",
	[MPDP_FAULT_ALLOC_LOCK] = "alloc-lock",
};

enum mpdp_fault_point
mpdp_fault_parse(const char *name)
{
	size_t len = strcspn(name, ":");

	for (int p = 1; p < MPDP_FAULT_N_; p++) {
		if (strlen(fault_names[p]) == len && strncmp(fault_names[p], name, len) == 0)
			return (enum mpdp_fault_point)p;
	}
	return MPDP_FAULT_NONE;
}

__attribute__((constructor)) static void
fault_arm_from_env(void)
{
	const char *v = getenv("MPDP_FAULT");
	const char *colon;

	if (v == NULL || *v == '\0')
		return;
	mpdp_fault_armed = mpdp_fault_parse(v);
	colon = strchr(v, ':');
	fault_countdown = colon != NULL ? strtoul(colon + 1, NULL, 10) : 1;
	if (mpdp_fault_armed == MPDP_FAULT_NONE || fault_countdown == 0) {
		fprintf(stderr, "MPDP_FAULT=%s: not a fault point (NAME[:N], N >= 1); ignored\n", v);
		mpdp_fault_armed = MPDP_FAULT_NONE;
	}
}

void
mpdp__fault_hit(void)
{
	static const char msg[] = "mpdp: fault point reached, killing this process\n";

	if (__atomic_sub_fetch(&fault_countdown, 1, __ATOMIC_RELAXED) != 0)
		return;
	if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0) {
		/* nothing to do: dying anyway */
	}
	raise(SIGKILL);
}

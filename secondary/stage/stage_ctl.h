/* SPDX-License-Identifier: BSD-3-Clause */
/* The stage's control connection to the primary (private to the framework). */
#ifndef MPDP_STAGE_CTL_H
#define MPDP_STAGE_CTL_H

#include "mpdp_stage.h"

struct stage_ctl;

/*
 * Connect to the instance's control socket, register the stage and its
 * commands, and answer what the primary forwards from a thread of its own.
 * A primary without a control socket is not an error: the stage runs
 * without commands (*out is NULL) and says so once. When the connection
 * ends (the primary closed it, or died), one 8-byte count is written to
 * @p wake_fd (an eventfd; -1 for none).
 */
void stage_ctl_open(struct mpdp_stage_instance *si, const struct mpdp_stage *stage,
		    const char *instance, const char *runtime_dir, int wake_fd,
		    struct stage_ctl **out);

/* Stop answering and close the connection. */
void stage_ctl_close(struct stage_ctl *c);

#endif /* MPDP_STAGE_CTL_H */

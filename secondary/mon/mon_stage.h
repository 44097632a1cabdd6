/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * The monitor stage (mpdp-mon) as a struct mpdp_stage, in a library of its
 * own so that a test can run it inside its own process (mpdp_stage_open())
 * and call its commands directly; mon.c is only its main().
 *
 * Its commands (doc/stage-mon.md): `top [N] [bytes|packets]` and `stats`.
 */
#ifndef MON_STAGE_H
#define MON_STAGE_H

#include "mpdp_stage.h"

/** The monitor stage: one output, "out". */
extern const struct mpdp_stage mon_stage;

#endif /* MON_STAGE_H */

/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * The NAT stage (mpdp-nat) as a struct mpdp_stage, in a library of its own
 * so that a test can run it inside its own process (mpdp_stage_open()) and
 * call its commands directly; nat.c is only its main().
 *
 * Its commands (doc/stage-nat.md): `session list [COUNT]` and `stats`.
 */
#ifndef NAT_STAGE_H
#define NAT_STAGE_H

#include "mpdp_stage.h"

/** The NAT stage: inputs with the roles "inside" and "outside", outputs "inside" and "outside". */
extern const struct mpdp_stage nat_stage;

#endif /* NAT_STAGE_H */

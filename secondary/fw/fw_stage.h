/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * The firewall stage (mpdp-fw) as a struct mpdp_stage, in a library of its
 * own so that a test can run it inside its own process (mpdp_stage_open())
 * and call its commands directly. fw.c's main() only adds the outputs that
 * its command line names.
 *
 * Its commands (doc/stage-fw.md): `rule list`, `rule add`, `rule del`,
 * `rule load` and `conn list`.
 */
#ifndef FW_STAGE_H
#define FW_STAGE_H

#include <stdint.h>

#include "mpdp_stage.h"

/**
 * Fill @p st with the firewall stage.
 *
 * @param st  filled in whole
 * @param n_next  outputs: 2 ("drop", "out") plus the outputs `to NAME`
 *                rules may name, at most MPDP_STAGE_IO_MAX
 * @param next_names  "drop", "out", then those names; must outlive the stage
 */
void fw_stage_fill(struct mpdp_stage *st, uint16_t n_next, const char *const *next_names);

#endif /* FW_STAGE_H */

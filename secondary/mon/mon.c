/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mpdp-mon: a traffic monitor stage's program. The stage (counting, flow
 * table, capture, report, commands) is mon_stage.c; see doc/stage-mon.md.
 */
#include "mon_stage.h"
#include "mpdp_stage.h"

int
main(int argc, char **argv)
{
	return mpdp_stage_main(argc, argv, &mon_stage);
}

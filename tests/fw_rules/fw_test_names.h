/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The names the firewall's unit tests parse rules against: outputs drop,
 * out and mon; ports eth0..eth3 (0-3) and port7 (7); input rings ring0,
 * ring1 and inside (0-2); "broken" fails its lookup with -EIO.
 */
#ifndef MPDP_FW_TEST_NAMES_H
#define MPDP_FW_TEST_NAMES_H

#include "fw_rules.h"

enum { OUT_DROP, OUT_OUT, OUT_MON };

extern const struct fw_names fw_test_names;

#endif

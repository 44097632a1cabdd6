/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mpdp-fw: the stateful firewall stage's program. The stage itself (rules,
 * classification, connection tracking, report, commands) is fw_stage.c;
 * this adds the outputs its command line names, for `to NAME` rules.
 */
#include <stdint.h>
#include <string.h>

#include "fw_stage.h"
#include "mpdp_stage.h"

/* Outputs: drop, out, and every other NAME of the command line's --out NAME=RING (for `to NAME`). */
static const char *fw_next_names[MPDP_STAGE_IO_MAX] = { "drop", "out" };
static char fw_extra_names[MPDP_STAGE_IO_MAX][MPDP_STAGE_NEXT_NAME_MAX];

static uint16_t
collect_outputs(int argc, char **argv)
{
	uint16_t n = 2;

	for (int i = 1; i < argc; i++) {
		const char *v = NULL, *eq;
		size_t len;
		int seen = 0;

		if (strcmp(argv[i], "--out") == 0 && i + 1 < argc)
			v = argv[++i];
		else if (strncmp(argv[i], "--out=", 6) == 0)
			v = argv[i] + 6;
		if (v == NULL || (eq = strchr(v, '=')) == NULL)
			continue;
		len = (size_t)(eq - v);
		if (len == 0 || len >= MPDP_STAGE_NEXT_NAME_MAX || n == MPDP_STAGE_IO_MAX)
			continue;   /* the framework reports it */
		for (uint16_t k = 0; k < n; k++)
			seen |= strncmp(fw_next_names[k], v, len) == 0 && fw_next_names[k][len] == '\0';
		if (seen)
			continue;
		memcpy(fw_extra_names[n], v, len);
		fw_next_names[n] = fw_extra_names[n];
		n++;
	}
	return n;
}

int
main(int argc, char **argv)
{
	struct mpdp_stage fw_stage;

	fw_stage_fill(&fw_stage, collect_outputs(argc, argv), fw_next_names);
	return mpdp_stage_main(argc, argv, &fw_stage);
}

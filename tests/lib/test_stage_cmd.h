/* SPDX-License-Identifier: BSD-3-Clause */
/* Test helper: run a stage's control commands as the control connection does. */
#ifndef MPDP_TEST_STAGE_CMD_H
#define MPDP_TEST_STAGE_CMD_H

#include "mpdp_err.h"
#include "mpdp_stage.h"

/**
 * Run @p line (words split at blanks) through mpdp_stage_command(). With
 * @p json, a successful command must print one JSON value (fails the test
 * otherwise).
 *
 * @param text  its output (free it), or NULL to drop it
 * @return what the command returned
 */
int test_stage_cmd(struct mpdp_stage_instance *si, const char *line, int json, char **text,
		   struct mpdp_errbuf *eb);

/** Run a command that must succeed: its output (free it). */
char *test_stage_cmd_ok(struct mpdp_stage_instance *si, const char *line, int json);

/** Fail the test unless @p text holds @p want. */
void test_contains(const char *text, const char *want);

/** Fail the test if @p text holds @p unwanted. */
void test_lacks(const char *text, const char *unwanted);

#endif /* MPDP_TEST_STAGE_CMD_H */

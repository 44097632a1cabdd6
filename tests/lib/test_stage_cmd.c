/* SPDX-License-Identifier: BSD-3-Clause */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "json_check.h"
#include "test_stage_cmd.h"

#define ARGS_MAX 16

int
test_stage_cmd(struct mpdp_stage_instance *si, const char *line, int json, char **text,
	       struct mpdp_errbuf *eb)
{
	char *copy = strdup(line), *argv[ARGS_MAX], *save = NULL, *w, *out;
	struct { char *buf; size_t len; } *ms = calloc(1, sizeof(*ms));
	int argc = 0, rc;
	size_t len;
	FILE *fp;

	assert_non_null(copy);
	assert_non_null(ms);
	for (w = strtok_r(copy, " ", &save); w != NULL && argc < ARGS_MAX; w = strtok_r(NULL, " ", &save))
		argv[argc++] = w;
	/* The stream's buffer lives on the heap: the compiler cannot follow it past fclose. */
	fp = open_memstream(&ms->buf, &ms->len);
	assert_non_null(fp);
	eb->msg[0] = '\0';
	rc = mpdp_stage_command(si, argc, argv, json, fp, eb);
	fclose(fp);
	out = ms->buf;
	len = ms->len;
	free(ms);
	if (rc == 0 && json && !json_check(out, len))
		fail_msg("'%s' --json printed no JSON value: %s", line, out);
	if (text != NULL)
		*text = out;
	else
		free(out);
	free(copy);
	return rc;
}

char *
test_stage_cmd_ok(struct mpdp_stage_instance *si, const char *line, int json)
{
	struct mpdp_errbuf eb = { "" };
	char **out = calloc(1, sizeof(*out)), *text;

	assert_non_null(out);
	if (test_stage_cmd(si, line, json, out, &eb) != 0)
		fail_msg("'%s': %s", line, eb.msg);
	text = *out;
	free(out);
	return text;
}

void
test_contains(const char *text, const char *want)
{
	if (strstr(text, want) == NULL)
		fail_msg("expected '%s' in:\n%s", want, text);
}

void
test_lacks(const char *text, const char *unwanted)
{
	if (strstr(text, unwanted) != NULL)
		fail_msg("did not expect '%s' in:\n%s", unwanted, text);
}

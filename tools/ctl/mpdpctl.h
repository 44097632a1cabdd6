/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mpdpctl's own header (not installed): what its files share.
 *
 * mpdpctl.c   options, the commands and their Requests, calls, --watch
 * ctl_print.c human tables, rates, and the JSON of a Response
 * ctl_json.c  any protobuf-c message as JSON (ctl_json.h)
 * ctl_split.c shell-like splitting of a line into words
 * ctl_repl.c  the prompt (libedit), completion, commands read from stdin
 */
#ifndef MPDPCTL_H
#define MPDPCTL_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "mpdp_ctl.h"
#include "mpdp_err.h"

/* Exit codes. */
enum { MPDPCTL_EXIT_OK = 0, MPDPCTL_EXIT_FAIL = 1, MPDPCTL_EXIT_USAGE = 2 };

/* What a command prints, beyond what the Response's body says. */
enum mpdpctl_view {
	MPDPCTL_VIEW_LIST,      /* configuration columns */
	MPDPCTL_VIEW_STATS,     /* counter columns, with rates under --watch */
	MPDPCTL_VIEW_ACTION,    /* a confirmation */
	MPDPCTL_VIEW_CAPTURE,   /* capture start: the id */
	MPDPCTL_VIEW_STAGE_CMD, /* a stage's own output */
};

/* Options that can be given per command (also on a line of the prompt). */
struct mpdpctl_opts {
	int json;
	double watch;           /* seconds; 0: once */
	int timeout_ms;
	int timeout_set;        /* --timeout was given (else a command may wait longer) */
};

/* Words of stage launch's PROGRAM ARGS... */
#define MPDPCTL_LAUNCH_ARGS_MAX 128

/* The program: where the instance is, and the connection to it. */
struct mpdpctl {
	const char *name;        /* NULL: the default instance */
	const char *runtime_dir; /* NULL: the default place */
	struct mpdpctl_opts opts;
	int fd;                  /* -1 when not connected */
	uint64_t next_id;
};

/* A parsed command: its Request, with room for every sub-message. */
struct mpdpctl_cmd {
	Mpdppb__Request req;
	union {
		Mpdppb__StatusReq status;
		Mpdppb__PortReq port;
		Mpdppb__RingReq ring;
		Mpdppb__PoolReq pool;
		Mpdppb__PatchReq patch;
		Mpdppb__StageReq stage;
		Mpdppb__StageCmdReq stage_cmd;
		Mpdppb__CaptureReq capture;
		Mpdppb__LogReq log;
		Mpdppb__ShutdownReq shutdown;
	} u;
	enum mpdpctl_view view;
	int watchable;                /* reads only: may be repeated */
	const char *capture_file;     /* capture start: the file as given */
	char capture_path[PATH_MAX];  /* ... made absolute, for CaptureReq.file */
	int wait_ms;                  /* the instance's own limit on the answer, 0 for none */
	char *launch_argv[MPDPCTL_LAUNCH_ARGS_MAX]; /* stage launch: PROGRAM ARGS... */
	char launch_prog[PATH_MAX];   /* ... a relative PROGRAM path made absolute */
};

/* Words of a line (ctl_split.c); each is malloc'd. */
struct mpdpctl_words {
	char **w;
	size_t n, cap;
};

/* ---- mpdpctl.c ---- */

/*
 * Run one command given as words, options first (as on the command line,
 * less --name and --runtime-dir): parse, call, print.
 * @return an exit code (MPDPCTL_EXIT_*)
 */
int mpdpctl_run_words(struct mpdpctl *ctl, int argc, char **argv);

/*
 * Send @p req on the connection (made when there is none) and read its answer.
 * Failures close the connection, so a late answer cannot be taken for the
 * next one. @return the Response, or NULL with the reason in @p eb
 */
Mpdppb__Response *mpdpctl_call(struct mpdpctl *ctl, Mpdppb__Request *req, int pass_fd,
			       int timeout_ms, struct mpdp_errbuf *eb);

/* A built-in command: its first word, operations, usage and Request builder. */
struct mpdpctl_builtin {
	const char *word;
	const char *const *ops;  /* second words, NULL-terminated; NULL when none */
	const char *usage;       /* lines after "mpdpctl ", '\n'-separated */
	const char *help;        /* one line */
	/* Fill @p cmd from the words (argv[0] is @p word): 0, or -EINVAL with the reason in @p eb. */
	int (*parse)(struct mpdpctl_cmd *cmd, int argc, char **argv, struct mpdp_errbuf *eb);
};

/* The built-in commands, ending with an entry whose word is NULL. */
extern const struct mpdpctl_builtin mpdpctl_builtins[];

/* The built-in command @p word, or NULL. */
const struct mpdpctl_builtin *mpdpctl_builtin_find(const char *word);

/* Log levels that `log level` takes, NULL-terminated. */
extern const char *const mpdpctl_log_levels[];

/* ---- ctl_print.c ---- */

/* Under --watch: the sample before, for rates. */
struct mpdpctl_prev {
	const Mpdppb__Response *resp;  /* NULL for the first sample */
	double secs;                   /* between the two samples */
};

/*
 * Print @p resp (status 0) for a person. @p prev is NULL unless under
 * --watch, where counter tables get rate columns.
 */
void mpdpctl_print_text(FILE *f, const struct mpdpctl_cmd *cmd, const Mpdppb__Response *resp,
			const struct mpdpctl_prev *prev);

/*
 * Print @p resp as one JSON value on one line (doc/control.md). Under
 * --watch (@p prev not NULL), the samples also carry now_ns and rates.
 */
void mpdpctl_print_json(FILE *f, const struct mpdpctl_cmd *cmd, const Mpdppb__Response *resp,
			const struct mpdpctl_prev *prev);

/* The body of @p resp (the member of its oneof that is set), or NULL. */
const ProtobufCMessage *mpdpctl_body(const Mpdppb__Response *resp);

/* @p s, or "" when NULL: every string of a Response may be absent. */
static inline const char *
mpdpctl_str(const char *s)
{
	return s != NULL ? s : "";
}

/* ---- ctl_split.c ---- */

/*
 * Split @p line like a shell would: blanks separate words, '...' is literal,
 * "..." takes \" \\ \$ \` escapes, a backslash outside quotes escapes the
 * next character, and # at the start of a word begins a comment.
 *
 * @param words    empty on entry; filled (left empty on failure)
 * @param partial  for completion: an unterminated quote is accepted, and
 *                 the last word is the one under the cursor ("" after a blank)
 * @param quote    when not NULL, set to the quote still open at the end, or 0
 * @return 0, -EINVAL (unterminated quote, in @p eb), -ENOMEM
 */
int mpdpctl_split(const char *line, int partial, struct mpdpctl_words *words, char *quote,
		  struct mpdp_errbuf *eb);

/* Free the words and empty @p words. */
void mpdpctl_words_free(struct mpdpctl_words *words);

/* ---- ctl_repl.c ---- */

/*
 * Read commands from stdin: a prompt with history and completion when it
 * is a terminal, else one command per line.
 * @return from stdin: 0 when every command succeeded, else the exit code of
 *         the last one that failed; from the prompt: 0
 */
int mpdpctl_repl(struct mpdpctl *ctl);

#endif /* MPDPCTL_H */

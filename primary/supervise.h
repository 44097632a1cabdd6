/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mpdp-primary: stages it launches and restarts (private to this program).
 *
 * The supervisor lives on the control thread's libuv loop (ctl_server.c):
 * it starts stage processes with uv_spawn, learns of their exit from libuv,
 * restarts the ones that failed (the policy is in supervise.c and
 * doc/supervision.md), performs graceful restarts (--takeover) and watches
 * every running stage's heartbeat. main() only starts it once the instance
 * is ready and stops it before the control thread goes; everything else
 * runs on the loop's thread, so the supervisor takes no lock but the one
 * main() waits on.
 */
#ifndef MPDP_PRIMARY_SUPERVISE_H
#define MPDP_PRIMARY_SUPERVISE_H

#include <limits.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#include "mpdp.pb-c.h"
#include "mpdp_abi.h"
#include "mpdp_err.h"

struct primary;
struct supervisor;

/* Supervised stages at once (--stage and stage launch together). */
#define SUPERVISE_STAGES_MAX 64
/* Words of one stage's command line (PROGRAM ARGS...). */
#define SUPERVISE_ARGS_MAX 128
/* Default of --hung-ms. */
#define SUPERVISE_HUNG_MS 2000

/* A stage to run: from --stage ID=PROGRAM ARGS... or stage launch. */
struct supervise_spec {
	char id[MPDP_NAME_MAX];
	char path[PATH_MAX];       /* the program found */
	unsigned argc;             /* PROGRAM (as given) and ARGS */
	char **argv;               /* malloc'd, NULL-terminated */
};

/*
 * Parse "ID=PROGRAM ARGS..." (ARGS split at blanks; '...', "..." and \ quote
 * as in a shell) and find PROGRAM. @return 0, or -EINVAL/-ENOENT/-ENOMEM
 * with the reason in @p eb (@p out is then empty).
 */
int supervise_spec_parse(const char *spec, struct supervise_spec *out, struct mpdp_errbuf *eb);

/* The same from an id and words already split (stage launch: its messages say so). */
int supervise_spec_make(const char *id, char *const *argv, size_t argc, struct supervise_spec *out,
			struct mpdp_errbuf *eb);

void supervise_spec_free(struct supervise_spec *s);

/*
 * ctl_server.c's way to answer a request the supervisor took: a Response
 * with @p status (0 or a positive errno value) and @p msg to connection
 * @p conn for its request @p id, after which the connection's next
 * requests are served.
 */
typedef void supervise_answer_fn(void *server, void *conn, uint64_t id, int status, const char *msg);

/*
 * Make the supervisor of @p p (p->sup) on @p loop, before the loop's thread
 * runs. @return 0 or -ENOMEM.
 */
int supervise_init(struct primary *p, uv_loop_t *loop, supervise_answer_fn *answer, void *server);

/* Free it, once the loop has stopped and its handles are closed. */
void supervise_fini(struct primary *p);

/* From main(), once the instance is ready: launch the --stage stages. */
void supervise_start(struct primary *p);

/*
 * From main(), before the control thread stops: no more restarts; every
 * supervised process gets SIGTERM, SIGKILL 2 s later, and is reaped before
 * this returns.
 */
void supervise_stop(struct primary *p);

/* The control loop's periodic hook (every 100 ms): heartbeats. */
void supervise_tick(struct supervisor *sup, uint64_t now_ns);

/*
 * A stage request that the supervisor answers itself (launch, restart),
 * from connection @p conn of a peer with uid @p uid.
 *
 * @return 1 when taken: the answer comes later through the answer
 *         function; 0 when the request is not the supervisor's (serve it
 *         as usual); -errno when refused at once, the reason in @p why
 */
int supervise_request(struct supervisor *sup, const Mpdppb__StageReq *r, uid_t uid, void *conn,
		      uint64_t id, char *why, size_t len);

/* Connection @p conn is gone: an answer pending for it is not sent. */
void supervise_conn_gone(struct supervisor *sup, void *conn);

/* What `stage list` shows of a supervised stage. */
struct supervise_status {
	const char *state;         /* starting, running, restarting, stopping, backoff, failed, stopped */
	int pid;                   /* its process, 0 when none */
	const char *kind;          /* from the program's name */
	uint32_t restarts;
	uint64_t backoff_until_ns;
	uint32_t recent_failures;
	const char *last_exit;
	unsigned argc;
	char *const *argv;
};

/* @return 1 with @p out filled when stage @p id is supervised, else 0. */
int supervise_status(const struct supervisor *sup, const char *id, struct supervise_status *out);

/* The ids of the supervised stages, in launch order: up to @p max into @p ids. @return how many. */
unsigned supervise_ids(const struct supervisor *sup, const char **ids, unsigned max);

/*
 * stage stop of a supervised stage: SIGTERM, and no restart.
 *
 * @return 1 when @p id is supervised (done, or refused: *status is then a
 *         positive errno value), 0 when it is not; @p msg says what happened
 */
int supervise_stage_stop(struct supervisor *sup, const char *id, int *status, char *msg, size_t len);

#endif /* MPDP_PRIMARY_SUPERVISE_H */

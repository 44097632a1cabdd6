/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mpdp-primary: the control socket (private to this program).
 *
 * ctl_server.c owns the socket, the connections and the libuv loop on the
 * control thread; ctl_cmd.c answers the built-in commands from the
 * instance's state. Stage commands are forwarded by the server to the
 * stage's own connection.
 */
#ifndef MPDP_PRIMARY_CTL_H
#define MPDP_PRIMARY_CTL_H

#include <stddef.h>

#include "mpdp.pb-c.h"
#include "mpdp_err.h"
#include "primary.h"

/* Connections served at once; more are refused. */
#define CTL_CONNS_MAX 64

/* Bump allocator for one answer: everything a Response points to. */
struct ctl_arena {
	struct ctl_arena_chunk *chunks;
};

void *ctl_alloc(struct ctl_arena *a, size_t len);
char *ctl_strdup(struct ctl_arena *a, const char *s);
char *ctl_printf(struct ctl_arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ctl_arena_free(struct ctl_arena *a);

/* A stage that registered on its control connection. */
struct ctl_stage_reg {
	char id[MPDP_NAME_MAX];
	char kind[MPDP_STAGE_KIND_MAX];
	int pid;
	Mpdppb__RegisterReq *req;       /* as it came, with its commands */
};

struct capture_mgr;

/* What the command handlers work with. */
struct ctl_env {
	struct primary *p;
	struct capture_mgr *capture;
	const struct ctl_stage_reg *(*find_reg)(void *arg, const char *id);
	void (*shutdown)(void *arg);
	void *arg;                      /* for find_reg and shutdown */
};

/*
 * Answer a built-in command (everything but stage_cmd, stage_register and
 * a log level for a stage, which the server routes). @p passed_fd is a
 * descriptor that came with the request, or -1; it is taken over.
 */
void ctl_cmd_run(struct ctl_env *env, const Mpdppb__Request *req, int passed_fd,
		 Mpdppb__Response *resp, struct ctl_arena *a);

/* Set @p resp to an error: status is a positive errno value. */
void ctl_fail(Mpdppb__Response *resp, struct ctl_arena *a, int status, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/*
 * Serve the control socket of @p p's instance from a new thread.
 * @p group: the group allowed besides root and the primary's user (-1: the
 * primary's group).
 */
int ctl_server_start(struct primary *p, int group, struct mpdp_errbuf *eb);

/* Stop serving, close every connection, remove the socket. */
void ctl_server_stop(struct primary *p);

#endif /* MPDP_PRIMARY_CTL_H */

/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The stage's end of the control socket. After one `stage_register`
 * request the connection turns around: the primary sends the commands
 * users give for this stage, and a thread here runs each one (the stage's
 * own command table, mpdp_stage_command()) and answers in order. The
 * workers never wait for it. When the connection ends, the thread writes to
 * the main thread's eventfd: a primary that died closed it, so the main
 * thread looks at the primary at once rather than at its next tick.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mpdp_ctl.h"
#include "mpdp_log.h"
#include "stage_ctl.h"

/* What a command may print: the answer must fit one frame. */
#define STAGE_CTL_OUTPUT_MAX (MPDP_CTL_FRAME_MAX - 4096)

struct stage_ctl {
	struct mpdp_stage_instance *si;
	int fd;
	int wake_fd;               /* the main thread's eventfd, -1 for none */
	pthread_t thread;
	char id[MPDP_NAME_MAX];
};

/* Run one command; its text goes in *text, a failure's reason in @p msg. */
static void
answer_command(struct stage_ctl *c, const Mpdppb__StageCmdReq *cmd, Mpdppb__Response *resp,
	       Mpdppb__StageCmdResp *body, char **text, char *msg, size_t msg_len)
{
	struct mpdp_errbuf eb = { "" };
	size_t len = 0;
	FILE *out = open_memstream(text, &len);
	int rc;

	if (out == NULL) {
		resp->status = ENOMEM;
		snprintf(msg, msg_len, "out of memory");
		return;
	}
	rc = mpdp_stage_command(c->si, (int)cmd->n_args, cmd->args, cmd->json, out, &eb);
	fclose(out);
	if (rc != 0) {
		resp->status = -rc;
		snprintf(msg, msg_len, "%s", eb.msg[0] ? eb.msg : strerror(-rc));
		return;
	}
	if (len > STAGE_CTL_OUTPUT_MAX) {
		resp->status = EMSGSIZE;
		snprintf(msg, msg_len, "the output (%zu bytes) exceeds the 1 MiB frame limit: ask for "
			 "fewer entries", len);
		return;
	}
	body->stage = c->id;
	body->output = *text;
	resp->body_case = MPDPPB__RESPONSE__BODY_STAGE_CMD;
	resp->stage_cmd = body;
}

static void
answer(struct stage_ctl *c, const Mpdppb__Request *req)
{
	Mpdppb__Response resp = MPDPPB__RESPONSE__INIT;
	Mpdppb__StageCmdResp body = MPDPPB__STAGE_CMD_RESP__INIT;
	enum mpdp_log_level level;
	char *text = NULL;
	char msg[512] = "";

	resp.id = req->id;
	switch (req->cmd_case) {
	case MPDPPB__REQUEST__CMD_STAGE_CMD:
		answer_command(c, req->stage_cmd, &resp, &body, &text, msg, sizeof(msg));
		break;
	case MPDPPB__REQUEST__CMD_LOG:
		if (mpdp_log_level_parse(req->log->level ? req->log->level : "", &level) != 0) {
			resp.status = EINVAL;
			snprintf(msg, sizeof(msg), "unknown level '%s' (err, warn, notice, info, debug)",
				 req->log->level ? req->log->level : "");
		} else {
			mpdp_log_set_level(NULL, level);
			snprintf(msg, sizeof(msg), "log level of stage %s is now %s", c->id,
				 mpdp_log_level_name(level));
		}
		break;
	default:
		resp.status = EINVAL;
		snprintf(msg, sizeof(msg), "a stage answers stage commands and log levels only");
		break;
	}
	resp.message = msg;
	if (mpdp_ctl_send(c->fd, &resp.base, -1) != 0)
		MPDP_LOG(WARN, "stage %s: cannot answer the primary", c->id);
	free(text);
}

static void *
serve(void *arg)
{
	struct stage_ctl *c = arg;

	for (;;) {
		Mpdppb__Request *req;
		uint8_t *payload;
		size_t len;
		int rc = mpdp_ctl_recv(c->fd, &payload, &len, NULL, -1);

		if (rc != 0) {
			MPDP_LOG(INFO, "stage %s: the control connection closed (%s)", c->id,
				 mpdp_strerror(rc));
			break;
		}
		req = mpdppb__request__unpack(NULL, len, payload);
		free(payload);
		if (req == NULL) {
			MPDP_LOG(WARN, "stage %s: the primary sent a frame that does not decode", c->id);
			break;
		}
		answer(c, req);
		mpdppb__request__free_unpacked(req, NULL);
	}
	if (c->wake_fd >= 0) {
		uint64_t one = 1;

		if (write(c->wake_fd, &one, sizeof(one)) < 0)
			MPDP_LOG(DEBUG, "stage %s: cannot wake the main thread", c->id);
	}
	return NULL;
}

/* Register: the stage's id, kind, pid and commands; the primary checks the pid owns the slot. */
static int
register_stage(struct stage_ctl *c, const struct mpdp_stage *stage, struct mpdp_errbuf *eb)
{
	Mpdppb__Request req = MPDPPB__REQUEST__INIT;
	Mpdppb__RegisterReq reg = MPDPPB__REGISTER_REQ__INIT;
	Mpdppb__StageCommand cmds[64], *ptrs[64];
	Mpdppb__Response *resp;
	size_t n = 0;
	int rc = 0;

	for (const struct mpdp_stage_command *sc = stage->commands; sc != NULL && sc->name && n < 64;
	     sc++, n++) {
		mpdppb__stage_command__init(&cmds[n]);
		cmds[n].name = (char *)sc->name;
		cmds[n].args = (char *)(sc->args ? sc->args : "");
		cmds[n].help = (char *)(sc->help ? sc->help : "");
		ptrs[n] = &cmds[n];
	}
	reg.id = c->id;
	reg.kind = (char *)stage->name;
	reg.pid = (int32_t)getpid();
	reg.n_commands = n;
	reg.commands = ptrs;
	req.cmd_case = MPDPPB__REQUEST__CMD_STAGE_REGISTER;
	req.stage_register = &reg;
	resp = mpdp_ctl_call(c->fd, &req, -1, MPDP_CTL_TIMEOUT_MS, eb);
	if (resp == NULL)
		return -EIO;
	if (resp->status != 0)
		rc = mpdp_err_set(eb, -resp->status, "%s", resp->message);
	mpdp_ctl_response_free(resp);
	return rc;
}

void
stage_ctl_open(struct mpdp_stage_instance *si, const struct mpdp_stage *stage, const char *instance,
	       const char *runtime_dir, int wake_fd, struct stage_ctl **out)
{
	struct mpdp_errbuf eb = { "" };
	struct stage_ctl *c = calloc(1, sizeof(*c));
	const struct mpdp_abi_stage *slot = mpdp_stage_slot(si);
	int rc;

	*out = NULL;
	if (c == NULL)
		return;
	c->si = si;
	c->wake_fd = wake_fd;
	snprintf(c->id, sizeof(c->id), "%.*s", MPDP_NAME_MAX - 1, slot->id);
	c->fd = mpdp_ctl_connect(instance, runtime_dir, &eb);
	if (c->fd < 0) {
		MPDP_LOG(NOTICE, "stage %s: no control connection, so no stage commands: %s", c->id,
			 eb.msg);
		free(c);
		return;
	}
	rc = register_stage(c, stage, &eb);
	if (rc == 0)
		rc = -pthread_create(&c->thread, NULL, serve, c);
	if (rc != 0) {
		MPDP_LOG(WARN, "stage %s: cannot register with the primary: %s", c->id,
			 eb.msg[0] ? eb.msg : strerror(-rc));
		close(c->fd);
		free(c);
		return;
	}
	*out = c;
}

void
stage_ctl_close(struct stage_ctl *c)
{
	if (c == NULL)
		return;
	/* Wakes the thread's read: it sees the end of the stream and returns. */
	shutdown(c->fd, SHUT_RDWR);
	pthread_join(c->thread, NULL);
	close(c->fd);
	free(c);
}

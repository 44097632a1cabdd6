/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The control socket: a libuv loop on its own thread serves
 * ctl.sock in the instance's runtime directory. Every connection is checked
 * with SO_PEERCRED; its bytes are read without blocking, cut into frames
 * (mpdp_ctl.h) and answered in order. A stage registers on a connection of
 * its own; a command for it is forwarded there, and the client's next
 * request waits until the stage has answered (or the time is up), so every
 * client still gets its answers in the order it asked.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>

#include "capture.h"
#include "ctl.h"
#include "mpdp_ctl.h"
#include "mpdp_log.h"
#include "mpdp_proc.h"
#include "mpdp_shm.h"
#include "mpdp_stage.h"
#include "mpdp_time.h"
#include "supervise.h"

/* How long a stage may take to answer a forwarded command. */
#define CTL_STAGE_TIMEOUT_NS (5ull * 1000000000ull)
/* Answers queued for a client that does not read; beyond this it is dropped. */
#define CTL_OUT_MAX (8u << 20)
/* Descriptors a connection may have sent ahead of the request that uses them. */
#define CTL_FDS_MAX 4
/* Capture files are fed this often. */
#define CTL_CAPTURE_POLL_MS 10
#define CTL_TIMER_MS 100

struct conn;

/* A command forwarded to a stage, waiting for its answer (FIFO per stage). */
struct fwd {
	struct fwd *next;
	struct conn *client;          /* NULL once answered or gone */
	uint64_t client_id;           /* the client's Request.id */
	uint64_t deadline_ns;
};

struct conn {
	uv_poll_t poll;
	struct ctl_server *s;
	int fd;
	int events;                   /* UV_READABLE, | UV_WRITABLE while output waits */
	struct ucred cred;
	uint8_t *in;
	size_t in_len, in_cap;
	int fds[CTL_FDS_MAX];
	unsigned n_fds;
	uint8_t *out;
	size_t out_len, out_off;
	int closing;                  /* close once the output is written */
	int waiting;                  /* a forwarded command of this client is in flight */
	int is_stage;
	struct ctl_stage_reg reg;
	struct fwd *fwd_head, *fwd_tail;
	struct conn *prev, *next;
};

struct ctl_server {
	struct primary *p;
	uv_loop_t loop;
	uv_poll_t listen_poll;
	uv_timer_t timer;
	uv_timer_t capture_timer;
	uv_async_t stop;
	uv_thread_t thread;
	int listen_fd;
	gid_t group;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct conn *conns;
	unsigned n_conns;
	struct capture_mgr *capture;
	struct ctl_env env;
};

static void conn_close(struct conn *c);
static void conn_process(struct conn *c);

/* ---- output ------------------------------------------------------------ */

static void
conn_set_events(struct conn *c)
{
	int want = (c->closing ? 0 : UV_READABLE) | (c->out_len > c->out_off ? UV_WRITABLE : 0);

	if (want != c->events) {
		c->events = want;
		if (want == 0)
			uv_poll_stop(&c->poll);
	}
}

static void conn_on_io(uv_poll_t *h, int status, int events);

static void
conn_flush(struct conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n < 0) {
			c->out_off = c->out_len;
			c->closing = 1;
			break;
		}
		c->out_off += (size_t)n;
	}
	if (c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
	if (c->closing && c->out_len == 0) {
		conn_close(c);
		return;
	}
	conn_set_events(c);
	if (c->events != 0)
		uv_poll_start(&c->poll, c->events, conn_on_io);
}

/* Queue one frame for @p c and try to write it now. */
static void
conn_send(struct conn *c, const ProtobufCMessage *msg)
{
	uint8_t *frame;
	size_t len;

	if (mpdp_ctl_pack(msg, &frame, &len) != 0) {
		Mpdppb__Response big = MPDPPB__RESPONSE__INIT;

		/* An answer too large to frame is itself answered. */
		big.status = EMSGSIZE;
		big.message = (char *)"the answer exceeds the 1 MiB frame limit: ask for less";
		if (mpdp_ctl_pack(&big.base, &frame, &len) != 0)
			return;
	}
	if (c->out_len + len > CTL_OUT_MAX) {
		MPDP_LOG(WARN, "control: pid %d does not read its answers; dropping it", (int)c->cred.pid);
		free(frame);
		c->closing = 1;
		c->out_off = c->out_len = 0;
		return;
	}
	uint8_t *grown = realloc(c->out, c->out_len + len);

	if (grown == NULL) {
		free(frame);
		c->closing = 1;
		return;
	}
	c->out = grown;
	memcpy(c->out + c->out_len, frame, len);
	c->out_len += len;
	free(frame);
	conn_flush(c);
}

static void
send_error(struct conn *c, uint64_t id, int status, const char *msg)
{
	Mpdppb__Response resp = MPDPPB__RESPONSE__INIT;

	resp.id = id;
	resp.status = status;
	resp.message = (char *)msg;
	resp.now_ns = mpdp_time_ns();
	conn_send(c, &resp.base);
}

/* ---- stages ------------------------------------------------------------ */

static const struct ctl_stage_reg *
find_reg(void *arg, const char *id)
{
	struct ctl_server *s = arg;

	for (struct conn *c = s->conns; c != NULL; c = c->next) {
		if (c->is_stage && !c->closing && strcmp(c->reg.id, id) == 0)
			return &c->reg;
	}
	return NULL;
}

static struct conn *
stage_conn(struct ctl_server *s, const char *id)
{
	for (struct conn *c = s->conns; c != NULL; c = c->next) {
		if (c->is_stage && !c->closing && strcmp(c->reg.id, id) == 0)
			return c;
	}
	return NULL;
}

/* The stage @p name designates: an id, or a kind with exactly one registered stage. */
static struct conn *
route(struct ctl_server *s, const char *name, char *why, size_t len)
{
	struct conn *found = stage_conn(s, name);
	struct mpdp_abi_stage *slot;
	char ids[128] = "";
	unsigned n = 0;

	if (found != NULL)
		return found;
	for (struct conn *c = s->conns; c != NULL; c = c->next) {
		if (c->is_stage && !c->closing && strcmp(c->reg.kind, name) == 0) {
			size_t used = strlen(ids);

			snprintf(ids + used, sizeof(ids) - used, "%s%s", n ? ", " : "", c->reg.id);
			found = c;
			n++;
		}
	}
	if (n == 1)
		return found;
	if (n > 1)
		snprintf(why, len, "%u stages of kind %s run (%s): name one, e.g. `%s %s ...`", n, name,
			 ids, name, found->reg.id);
	else if (mpdp_stage_find(s->p->shm, name, &slot) == 0)
		snprintf(why, len, "stage %s has no control connection (it is %s)", name,
			 mpdp_stage_state_name(mpdp_stage_slot_state(slot)));
	else
		snprintf(why, len, "no stage or stage kind named '%s'", name);
	return NULL;
}

/* Whether @p args begins with one of the stage's command names. */
static int
stage_has_command(const struct ctl_stage_reg *reg, char **args, size_t n_args)
{
	for (size_t i = 0; i < reg->req->n_commands; i++) {
		const char *name = reg->req->commands[i]->name;
		size_t w = 0;

		while (name != NULL && *name != '\0' && w < n_args) {
			size_t len = strcspn(name, " ");

			if (strlen(args[w]) != len || strncmp(args[w], name, len) != 0)
				break;
			name += len;
			name += strspn(name, " ");
			w++;
		}
		if (name != NULL && *name == '\0' && w > 0)
			return 1;
	}
	return 0;
}

static void
forward(struct conn *client, struct conn *stage, Mpdppb__Request *req)
{
	struct fwd *f = calloc(1, sizeof(*f));
	uint64_t client_id = req->id;

	if (f == NULL) {
		send_error(client, req->id, ENOMEM, "out of memory");
		return;
	}
	f->client = client;
	f->client_id = client_id;
	f->deadline_ns = mpdp_time_ns() + CTL_STAGE_TIMEOUT_NS;
	if (stage->fwd_tail != NULL)
		stage->fwd_tail->next = f;
	else
		stage->fwd_head = f;
	stage->fwd_tail = f;
	client->waiting = 1;
	req->id = 0;
	conn_send(stage, &req->base);
	req->id = client_id;
}

/* Answer the oldest forwarded command of @p stage (with @p resp, or an error). */
static void
fwd_finish(struct conn *stage, Mpdppb__Response *resp, int status, const char *msg)
{
	struct fwd *f = stage->fwd_head;
	struct conn *client;

	if (f == NULL)
		return;
	stage->fwd_head = f->next;
	if (stage->fwd_head == NULL)
		stage->fwd_tail = NULL;
	client = f->client;
	if (client != NULL) {
		if (resp != NULL) {
			resp->id = f->client_id;
			resp->now_ns = mpdp_time_ns();
			conn_send(client, &resp->base);
		} else {
			send_error(client, f->client_id, status, msg);
		}
		client->waiting = 0;
		conn_process(client);
	}
	free(f);
}

static void
register_stage(struct conn *c, Mpdppb__Request *req)
{
	Mpdppb__RegisterReq *r = req->stage_register;
	struct mpdp_abi_stage *slot;
	struct conn *old;
	char msg[256];

	if (r->id == NULL || mpdp_stage_find(c->s->p->shm, r->id, &slot) != 0) {
		snprintf(msg, sizeof(msg), "register: no stage slot named '%s'", r->id ? r->id : "");
		send_error(c, req->id, ENOENT, msg);
		return;
	}
	/* Only the process that owns the slot may speak for it. */
	if ((pid_t)r->pid != c->cred.pid || mpdp_stage_slot_pid(slot) != c->cred.pid) {
		snprintf(msg, sizeof(msg), "register %s: the slot belongs to pid %d, not to pid %d", r->id,
			 mpdp_stage_slot_pid(slot), (int)c->cred.pid);
		send_error(c, req->id, EPERM, msg);
		return;
	}
	old = stage_conn(c->s, r->id);
	if (old != NULL) {
		MPDP_LOG(NOTICE, "control: stage %s re-registered (pid %d replaces pid %d)", r->id,
			 (int)c->cred.pid, old->reg.pid);
		old->closing = 1;
		conn_flush(old);
	}
	c->is_stage = 1;
	snprintf(c->reg.id, sizeof(c->reg.id), "%s", r->id);
	snprintf(c->reg.kind, sizeof(c->reg.kind), "%s", r->kind ? r->kind : "");
	c->reg.pid = c->cred.pid;
	c->reg.req = r;
	req->stage_register = NULL;   /* kept by the registration, freed with the connection */
	req->cmd_case = MPDPPB__REQUEST__CMD__NOT_SET;
	MPDP_LOG(INFO, "control: stage %s (%s, pid %d) registered %zu commands", c->reg.id,
		 c->reg.kind, c->reg.pid, r->n_commands);
	send_error(c, req->id, 0, "registered");
}

/* The supervisor's answer to a stage launch or restart it took (supervise.c). */
static void
supervise_answer(void *server, void *conn, uint64_t id, int status, const char *msg)
{
	struct conn *c = conn;

	(void)server;
	send_error(c, id, status, msg);
	c->waiting = 0;
	conn_process(c);
}

/* ---- requests ---------------------------------------------------------- */

static int
take_fd(struct conn *c)
{
	int fd;

	if (c->n_fds == 0)
		return -1;
	fd = c->fds[0];
	memmove(c->fds, c->fds + 1, (c->n_fds - 1) * sizeof(int));
	c->n_fds--;
	return fd;
}

static void
handle_request(struct conn *c, Mpdppb__Request *req)
{
	struct ctl_server *s = c->s;
	Mpdppb__Response resp = MPDPPB__RESPONSE__INIT;
	struct ctl_arena a = { NULL };
	struct conn *stage;
	char why[512];
	int rc;

	if (req->version != MPDP_CTL_VERSION) {
		snprintf(why, sizeof(why), "protocol version %u is not supported: this primary speaks "
			 "version %u (use an mpdpctl of the same release)", req->version, MPDP_CTL_VERSION);
		send_error(c, req->id, EPROTONOSUPPORT, why);
		return;
	}
	switch (req->cmd_case) {
	case MPDPPB__REQUEST__CMD_STAGE_REGISTER:
		register_stage(c, req);
		return;
	case MPDPPB__REQUEST__CMD_STAGE_CMD:
		stage = route(s, req->stage_cmd->stage ? req->stage_cmd->stage : "", why, sizeof(why));
		if (stage == NULL) {
			send_error(c, req->id, ENOENT, why);
			return;
		}
		if (!stage_has_command(&stage->reg, req->stage_cmd->args, req->stage_cmd->n_args)) {
			size_t off = (size_t)snprintf(why, sizeof(why), "stage %s (%s) has no command '%s'; "
						      "it has:", stage->reg.id, stage->reg.kind,
						      req->stage_cmd->n_args ? req->stage_cmd->args[0] : "");

			for (size_t i = 0; i < stage->reg.req->n_commands && off < sizeof(why); i++)
				off += (size_t)snprintf(why + off, sizeof(why) - off, "%s %s",
							i ? "," : "", stage->reg.req->commands[i]->name);
			send_error(c, req->id, EINVAL, why);
			return;
		}
		forward(c, stage, req);
		return;
	case MPDPPB__REQUEST__CMD_STAGE:
		/* stage launch and restart: the supervisor answers once the new process runs. */
		rc = supervise_request(s->p->sup, req->stage, c->cred.uid, c, req->id, why, sizeof(why));
		if (rc > 0) {
			c->waiting = 1;
			return;
		}
		if (rc < 0) {
			send_error(c, req->id, -rc, why);
			return;
		}
		break;
	case MPDPPB__REQUEST__CMD_LOG:
		stage = req->log->component ? stage_conn(s, req->log->component) : NULL;
		if (stage != NULL) {
			forward(c, stage, req);
			return;
		}
		break;
	default:
		break;
	}
	ctl_cmd_run(&s->env, req, req->cmd_case == MPDPPB__REQUEST__CMD_CAPTURE ? take_fd(c) : -1,
		    &resp, &a);
	resp.id = req->id;
	conn_send(c, &resp.base);
	ctl_arena_free(&a);
}

/* A frame from a registered stage: the answer to the oldest forwarded command. */
static void
handle_stage_answer(struct conn *c, const uint8_t *payload, size_t len)
{
	Mpdppb__Response *resp = mpdppb__response__unpack(NULL, len, payload);

	if (resp == NULL) {
		MPDP_LOG(WARN, "control: stage %s sent an answer that does not decode; closing it",
			 c->reg.id);
		c->closing = 1;
		return;
	}
	fwd_finish(c, resp, 0, NULL);
	mpdppb__response__free_unpacked(resp, NULL);
}

/* Cut and answer the whole frames buffered on @p c, in order, while it is not waiting. */
static void
conn_process(struct conn *c)
{
	size_t off = 0, len;

	while (!c->closing && !c->waiting) {
		int rc = mpdp_ctl_frame_length(c->in + off, c->in_len - off, MPDP_CTL_FRAME_MAX, &len);
		const uint8_t *payload = c->in + off + MPDP_CTL_HDR;

		if (rc == 0)
			break;
		if (rc < 0) {
			MPDP_LOG(WARN, "control: pid %d sent a frame longer than %u bytes; closing it",
				 (int)c->cred.pid, MPDP_CTL_FRAME_MAX);
			send_error(c, 0, EMSGSIZE, "frame too long: the limit is 1 MiB; closing");
			c->closing = 1;
			break;
		}
		off += MPDP_CTL_HDR + len;
		if (c->is_stage) {
			handle_stage_answer(c, payload, len);
			continue;
		}
		Mpdppb__Request *req = mpdppb__request__unpack(NULL, len, payload);

		if (req == NULL) {
			MPDP_LOG(WARN, "control: pid %d sent a frame that is not a Request; closing it",
				 (int)c->cred.pid);
			send_error(c, 0, EPROTO, "the frame is not a valid Request message; closing");
			c->closing = 1;
			break;
		}
		handle_request(c, req);
		mpdppb__request__free_unpacked(req, NULL);
	}
	if (off > 0) {
		memmove(c->in, c->in + off, c->in_len - off);
		c->in_len -= off;
	}
	if (c->closing)
		conn_flush(c);
}

/* ---- connections ------------------------------------------------------- */

static void
conn_free(uv_handle_t *h)
{
	struct conn *c = h->data;

	free(c->in);
	free(c->out);
	free(c);
}

static void
conn_close(struct conn *c)
{
	struct ctl_server *s = c->s;

	if (c->fd < 0)
		return;
	/* Clients waiting for this stage get an answer; forwards this client waits on forget it. */
	while (c->fwd_head != NULL) {
		char msg[128];

		snprintf(msg, sizeof(msg), "stage %s went away before answering", c->reg.id);
		fwd_finish(c, NULL, ESHUTDOWN, msg);
	}
	for (struct conn *o = s->conns; o != NULL; o = o->next) {
		for (struct fwd *f = o->fwd_head; f != NULL; f = f->next) {
			if (f->client == c)
				f->client = NULL;
		}
	}
	supervise_conn_gone(s->p->sup, c);
	if (c->is_stage) {
		MPDP_LOG(INFO, "control: stage %s (pid %d) closed its connection", c->reg.id, c->reg.pid);
		/* Its process may have died: mark it down now rather than at the next periodic reap. */
		mpdp_stage_reap_dead(s->p->shm);
		mpdppb__register_req__free_unpacked(c->reg.req, NULL);
		c->reg.req = NULL;
	}
	while (c->n_fds > 0)
		close(take_fd(c));
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	s->n_conns--;
	uv_poll_stop(&c->poll);
	close(c->fd);
	c->fd = -1;
	uv_close((uv_handle_t *)&c->poll, conn_free);
}

static void
conn_read(struct conn *c)
{
	union {
		char buf[CMSG_SPACE(CTL_FDS_MAX * sizeof(int))];
		struct cmsghdr align;
	} ctrl;

	for (;;) {
		if (c->in_cap - c->in_len < 4096) {
			size_t cap = c->in_cap ? c->in_cap * 2 : 8192;
			uint8_t *grown;

			if (cap > MPDP_CTL_FRAME_MAX + MPDP_CTL_HDR + 8192)
				cap = MPDP_CTL_FRAME_MAX + MPDP_CTL_HDR + 8192;
			if (cap <= c->in_len) {
				/* Only a frame over the limit fills this much: framing says so. */
				conn_process(c);
				return;
			}
			grown = realloc(c->in, cap);
			if (grown == NULL) {
				c->closing = 1;
				return;
			}
			c->in = grown;
			c->in_cap = cap;
		}
		struct iovec iov = { c->in + c->in_len, c->in_cap - c->in_len };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
				     .msg_control = ctrl.buf, .msg_controllen = sizeof(ctrl.buf) };
		ssize_t n = recvmsg(c->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm != NULL; cm = CMSG_NXTHDR(&mh, cm)) {
			if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
				continue;
			for (size_t i = 0; i < (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
				int fd;

				memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
				if (c->n_fds < CTL_FDS_MAX && !c->is_stage)
					c->fds[c->n_fds++] = fd;
				else
					close(fd);
			}
		}
		if (n <= 0) {
			if (c->in_len > 0)
				MPDP_LOG(INFO, "control: pid %d closed the connection mid-frame (%zu bytes "
					 "of a frame)", (int)c->cred.pid, c->in_len);
			conn_close(c);
			return;
		}
		c->in_len += (size_t)n;
		conn_process(c);
		if (c->fd < 0 || c->closing)
			return;
	}
}

static void
conn_on_io(uv_poll_t *h, int status, int events)
{
	struct conn *c = h->data;

	if (status < 0) {
		conn_close(c);
		return;
	}
	if (events & UV_WRITABLE)
		conn_flush(c);
	if (c->fd >= 0 && (events & UV_READABLE) && !c->closing)
		conn_read(c);
}

/* Root, the primary's own user, or a member of its group may connect. */
static int
peer_allowed(struct ctl_server *s, int fd, const struct ucred *cred)
{
	gid_t groups[256];
	socklen_t len = sizeof(groups);

	if (cred->uid == 0 || cred->uid == geteuid() || cred->gid == s->group)
		return 1;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) == 0) {
		for (size_t i = 0; i < len / sizeof(gid_t); i++) {
			if (groups[i] == s->group)
				return 1;
		}
	}
	return 0;
}

static void
on_accept(uv_poll_t *h, int status, int events)
{
	struct ctl_server *s = h->data;
	socklen_t len = sizeof(struct ucred);
	struct ucred cred;
	struct conn *c;
	int fd;

	(void)events;
	if (status < 0)
		return;
	fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
		close(fd);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		close(fd);
		return;
	}
	c->s = s;
	c->fd = fd;
	c->cred = cred;
	c->next = s->conns;
	if (s->conns != NULL)
		s->conns->prev = c;
	s->conns = c;
	s->n_conns++;
	uv_poll_init(&s->loop, &c->poll, fd);
	c->poll.data = c;
	c->events = UV_READABLE;
	uv_poll_start(&c->poll, c->events, conn_on_io);
	if (!peer_allowed(s, fd, &cred)) {
		char msg[160];

		MPDP_LOG(WARN, "control: refused pid %d uid %u gid %u: not root, the primary's user, "
			 "or in its group %u", (int)cred.pid, cred.uid, cred.gid, (unsigned)s->group);
		snprintf(msg, sizeof(msg), "permission denied: uid %u is not root, uid %u, or in group %u",
			 cred.uid, (unsigned)geteuid(), (unsigned)s->group);
		c->closing = 1;
		send_error(c, 0, EACCES, msg);
		return;
	}
	if (s->n_conns > CTL_CONNS_MAX) {
		MPDP_LOG(WARN, "control: refused pid %d: %d connections already", (int)cred.pid,
			 CTL_CONNS_MAX);
		c->closing = 1;
		send_error(c, 0, EUSERS, "too many control connections; try again later");
	}
}

/* ---- timers, thread ---------------------------------------------------- */

static void
on_timer(uv_timer_t *t)
{
	struct ctl_server *s = t->data;
	uint64_t now = mpdp_time_ns();

	/* A stage that does not answer in time: its client hears so, the late answer is dropped. */
	for (struct conn *c = s->conns; c != NULL; c = c->next) {
		for (struct fwd *f = c->fwd_head; f != NULL; f = f->next) {
			struct conn *client = f->client;

			if (client == NULL || now < f->deadline_ns)
				continue;
			f->client = NULL;
			send_error(client, f->client_id, ETIMEDOUT, "the stage did not answer within 5 s");
			client->waiting = 0;
			conn_process(client);
		}
	}
	supervise_tick(s->p->sup, now);
}

static void
on_capture_timer(uv_timer_t *t)
{
	struct ctl_server *s = t->data;

	capture_poll(s->capture);
}

static void
close_walk(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

static void
on_stop(uv_async_t *a)
{
	struct ctl_server *s = a->data;

	while (s->conns != NULL)
		conn_close(s->conns);
	uv_stop(&s->loop);
}

static void
server_main(void *arg)
{
	struct ctl_server *s = arg;

	uv_run(&s->loop, UV_RUN_DEFAULT);
}

static void
request_shutdown(void *arg)
{
	(void)arg;
	/* main() waits for SIGTERM: the same path as `kill`, so the shutdown is the usual one. */
	kill(getpid(), SIGTERM);
}

int
ctl_server_start(struct primary *p, int group, struct mpdp_errbuf *eb)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct ctl_server *s;
	int rc;

	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	s->p = p;
	s->listen_fd = -1;
	s->group = group >= 0 ? (gid_t)group : getegid();
	rc = mpdp_ctl_socket_path(p->cfg.name, p->cfg.shm.runtime_dir, s->path, sizeof(s->path));
	if (rc != 0) {
		mpdp_err_set(eb, rc, "control socket path too long");
		goto fail;
	}
	s->capture = p->capture;
	memcpy(sa.sun_path, s->path, sizeof(s->path));
	s->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->listen_fd < 0) {
		rc = mpdp_err_set(eb, -errno, "socket: %s", strerror(errno));
		goto fail;
	}
	/* The instance lock is ours: a socket file left here belongs to a dead primary. */
	unlink(s->path);
	if (bind(s->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    chmod(s->path, 0660) != 0 ||
	    (group >= 0 && chown(s->path, (uid_t)-1, (gid_t)group) != 0) ||
	    listen(s->listen_fd, 64) != 0) {
		rc = mpdp_err_set(eb, -errno, "control socket %s: %s", s->path, strerror(errno));
		goto fail;
	}
	s->env = (struct ctl_env){ p, s->capture, find_reg, request_shutdown, s };
	uv_loop_init(&s->loop);
	uv_poll_init(&s->loop, &s->listen_poll, s->listen_fd);
	s->listen_poll.data = s;
	uv_poll_start(&s->listen_poll, UV_READABLE, on_accept);
	uv_timer_init(&s->loop, &s->timer);
	s->timer.data = s;
	uv_timer_start(&s->timer, on_timer, CTL_TIMER_MS, CTL_TIMER_MS);
	uv_timer_init(&s->loop, &s->capture_timer);
	s->capture_timer.data = s;
	uv_timer_start(&s->capture_timer, on_capture_timer, CTL_CAPTURE_POLL_MS, CTL_CAPTURE_POLL_MS);
	uv_async_init(&s->loop, &s->stop, on_stop);
	s->stop.data = s;
	rc = supervise_init(p, &s->loop, supervise_answer, s);
	if (rc != 0)
		mpdp_err_set(eb, rc, "cannot make the stage supervisor: %s", mpdp_strerror(rc));
	else if ((rc = uv_thread_create(&s->thread, server_main, s)) != 0)
		rc = mpdp_err_set(eb, -EAGAIN, "cannot start the control thread: %s", uv_strerror(rc));
	if (rc != 0) {
		uv_walk(&s->loop, close_walk, NULL);
		uv_run(&s->loop, UV_RUN_DEFAULT);
		uv_loop_close(&s->loop);
		supervise_fini(p);
		unlink(s->path);
		goto fail;
	}
	p->ctl = s;
	return 0;
fail:
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	free(s);
	return rc;
}

void
ctl_server_stop(struct primary *p)
{
	struct ctl_server *s = p->ctl;

	if (s == NULL)
		return;
	uv_async_send(&s->stop);
	uv_thread_join(&s->thread);
	uv_walk(&s->loop, close_walk, NULL);
	uv_run(&s->loop, UV_RUN_DEFAULT);
	uv_loop_close(&s->loop);
	supervise_fini(p);
	close(s->listen_fd);
	unlink(s->path);
	free(s);
	p->ctl = NULL;
}

/* SPDX-License-Identifier: BSD-3-Clause */
/* The fake control server: see fake_server.h. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctl_json.h"
#include "fake_server.h"
#include "mpdp_ctl.h"
#include "mpdp_json.h"

/* Every message an answer may hold, on the stack of one call. */
struct answer {
	Mpdppb__Response r;
	Mpdppb__StatusResp status;
	Mpdppb__WorkerInfo w[2], *wp[2];
	Mpdppb__PortList pl;
	Mpdppb__PortInfo p[2], *pp[2];
	Mpdppb__RingList rl;
	Mpdppb__RingInfo ring[2], *ringp[2];
	Mpdppb__PoolList pooll;
	Mpdppb__PoolInfo pool, *poolp[1];
	Mpdppb__PatchList patchl;
	Mpdppb__Patch patch, *patchp[1];
	Mpdppb__StageList sl;
	Mpdppb__StageInfo s[3], *sp[3];
	Mpdppb__StageOutput out[2], *outp[2];
	Mpdppb__StageCommand cmd[4], *fwcmd[3], *natcmd[1];
	char *inputs[1];
	Mpdppb__StageCmdResp scr;
	Mpdppb__CaptureList cl;
	Mpdppb__CaptureInfo cap[3], *capp[3];
	char text[1024];
};

/* Status @p err (0 for a confirmation) and a message. */
static void
reply(struct answer *a, int err, const char *fmt, const char *arg)
{
	a->r.status = err;
	snprintf(a->text, sizeof(a->text), fmt, arg);
	a->r.message = a->text;
}

static void
ports_fill(struct answer *a, unsigned k)
{
	static const char *const names[] = { "p0", "p1" };

	mpdppb__port_list__init(&a->pl);
	for (int i = 0; i < 2; i++) {
		Mpdppb__PortInfo *p = &a->p[i];

		mpdppb__port_info__init(p);
		p->name = (char *)names[i];
		p->driver = "null";
		p->state = i == 0 ? "started" : "stopped";
		p->link = i == 0;
		p->lcore = i == 0 ? 2 : -1;
		p->patch_to = i == 0 ? "p1" : "";
		p->rx_packets = (uint64_t)FAKE_RX_PKTS * (k + 1);
		p->rx_bytes = (uint64_t)FAKE_RX_BYTES * (k + 1);
		p->tx_packets = 500ull * (k + 1);
		p->tx_bytes = 32000ull * (k + 1);
		p->rx_missed = 3;
		a->pp[i] = p;
	}
	a->pl.ports = a->pp;
	a->pl.n_ports = 2;
	a->r.body_case = MPDPPB__RESPONSE__BODY_PORTS;
	a->r.ports = &a->pl;
}

static void
stages_fill(struct answer *a, unsigned k)
{
	static const char *const fw[][3] = {
		{ "rule list", "", "list the rules" },
		{ "rule add", "RULE", "add a rule" },
		{ "stats", "", "counters per rule" },
	};

	mpdppb__stage_list__init(&a->sl);
	for (int i = 0; i < 3; i++) {
		mpdppb__stage_info__init(&a->s[i]);
		a->sp[i] = &a->s[i];
	}
	for (int i = 0; i < 4; i++)
		mpdppb__stage_command__init(&a->cmd[i]);
	for (int i = 0; i < 3; i++) {
		a->cmd[i].name = (char *)fw[i][0];
		a->cmd[i].args = (char *)fw[i][1];
		a->cmd[i].help = (char *)fw[i][2];
		a->fwcmd[i] = &a->cmd[i];
	}
	a->cmd[3].name = "session list";
	a->cmd[3].help = "the NAT sessions";
	a->natcmd[0] = &a->cmd[3];
	for (int i = 0; i < 2; i++) {
		mpdppb__stage_output__init(&a->out[i]);
		a->outp[i] = &a->out[i];
	}
	a->out[0].name = "drop";
	a->out[0].packets = 5;
	a->out[1].name = "out";
	a->out[1].ring = "r1";
	a->out[1].packets = 95;
	a->inputs[0] = "r0";

	a->s[0].id = "fw1";
	a->s[0].kind = "fw";
	a->s[0].pid = 300;
	a->s[0].state = "running";
	a->s[0].workers = 1;
	a->s[0].inputs = a->inputs;
	a->s[0].n_inputs = 1;
	a->s[0].outputs = a->outp;
	a->s[0].n_outputs = 2;
	a->s[0].in_packets = 100ull * (k + 1);
	a->s[0].in_bytes = 6400ull * (k + 1);
	a->s[0].sent = 95ull * (k + 1);
	a->s[0].dropped = 5ull * (k + 1);
	a->s[0].polls = 1000;
	a->s[0].busy_polls = 250;
	a->s[0].heartbeat_age_ns = 1500000;
	a->s[0].registered = 1;
	a->s[0].commands = a->fwcmd;
	a->s[0].n_commands = 3;

	a->s[1].id = "nat1";
	a->s[1].kind = "nat";
	a->s[1].pid = 301;
	a->s[1].state = "running";
	a->s[1].registered = 1;
	a->s[1].commands = a->natcmd;
	a->s[1].n_commands = 1;
	/* Launched by the primary, restarted twice. */
	a->s[1].supervised = 1;
	a->s[1].supervisor_state = "running";
	a->s[1].supervisor_restarts = 2;
	a->s[1].last_exit = "signal 9 (Killed)";

	a->s[2].id = "mon1";
	a->s[2].kind = "mon";
	a->s[2].state = "down";
	a->s[2].heartbeat_age_ns = -1;
	/* Supervised, backing off: it starts again 0.4 s after this answer's now_ns. */
	a->s[2].supervised = 1;
	a->s[2].supervisor_state = "backoff";
	a->s[2].supervisor_restarts = 3;
	a->s[2].recent_failures = 4;
	a->s[2].backoff_until_ns = (uint64_t)(k + 1) * 1000000000u + 400000000u;
	a->s[2].last_exit = "exit 1";

	a->sl.stages = a->sp;
	a->sl.n_stages = 3;
	a->r.body_case = MPDPPB__RESPONSE__BODY_STAGES;
	a->r.stages = &a->sl;
}

static void
status_fill(struct answer *a)
{
	static const char *const names[] = { "primary/io0", "fw1/0" };
	Mpdppb__StatusResp *s = &a->status;

	mpdppb__status_resp__init(s);
	s->name = "fake";
	s->version = "0.1.0";
	s->pid = 4242;
	s->uptime_ns = 3723ull * 1000000000u;
	s->hugepages = 1;
	s->page_size = 2u << 20;
	s->mem_total = (1ull << 40) + 5;     /* a 64-bit value, exact in JSON */
	s->mem_used = 1ull << 30;
	s->mem_free = (1ull << 40) + 5 - (1ull << 30);
	s->base_virtaddr = 0x100000000ull;
	for (int i = 0; i < 2; i++) {
		mpdppb__worker_info__init(&a->w[i]);
		a->w[i].id = (uint32_t)i;
		a->w[i].name = (char *)names[i];
		a->w[i].pid = 100 + i;
		a->w[i].cpu = i == 0 ? 2 : -1;
		a->wp[i] = &a->w[i];
	}
	s->workers = a->wp;
	s->n_workers = 2;
	s->ports = 2;
	s->stages = 3;
	s->protocol = 1;
	a->r.body_case = MPDPPB__RESPONSE__BODY_STATUS_RESP;
	a->r.status_resp = s;
}

static void
rings_fill(struct answer *a)
{
	static const char *const names[] = { "r0", "r1" };

	mpdppb__ring_list__init(&a->rl);
	for (int i = 0; i < 2; i++) {
		Mpdppb__RingInfo *r = &a->ring[i];

		mpdppb__ring_info__init(r);
		r->name = (char *)names[i];
		r->size = 1024;
		r->count = i == 0 ? 3 : 0;
		r->free = r->size - r->count;
		r->sp = i == 0;
		r->enqueued = 10;
		r->dequeued = 7;
		r->users = i == 0 ? "port:p0 rx, fw1 in" : "fw1 out:out";
		r->capture = i == 0 ? 0 : FAKE_CAPTURE_ID;
		a->ringp[i] = r;
	}
	a->rl.rings = a->ringp;
	a->rl.n_rings = 2;
	a->r.body_case = MPDPPB__RESPONSE__BODY_RINGS;
	a->r.rings = &a->rl;
}

/*
 * As the primary does: every capture operation answers with every capture,
 * history included. Before the one started here: an older one on the same
 * target and a newer-looking one on another.
 */
static void
capture_fill(struct answer *a, const Mpdppb__CaptureReq *req)
{
	int start = req->op == MPDPPB__CAPTURE_REQ__OP__START;

	mpdppb__capture_list__init(&a->cl);
	for (int i = 0; i < 3; i++) {
		mpdppb__capture_info__init(&a->cap[i]);
		a->capp[i] = &a->cap[i];
	}
	a->cap[0].id = 3;
	a->cap[0].target = start ? req->target : "p0";
	a->cap[0].file = "/tmp/old.pcapng";
	a->cap[0].state = "failed";
	a->cap[0].error = "disk full";
	a->cap[1].id = 9;
	a->cap[1].target = "elsewhere";
	a->cap[1].state = "done";
	a->cap[2].id = FAKE_CAPTURE_ID;
	a->cap[2].target = start ? req->target : "p0";
	a->cap[2].filter = start ? req->filter : "tcp";
	a->cap[2].file = start ? req->file : "/tmp/x.pcapng";
	a->cap[2].state = "running";
	a->cap[2].snaplen = req->snaplen;
	a->cap[2].limit = req->count;
	a->cap[2].matched = 12;
	a->cap[2].written = 11;
	a->cap[2].dropped = 1;
	a->cl.captures = a->capp;
	a->cl.n_captures = 3;
	a->r.body_case = MPDPPB__RESPONSE__BODY_CAPTURES;
	a->r.captures = &a->cl;
}

/* A stage command: "fw"/"fw1" is fw1, "nat"/"nat1" is nat1; it echoes its words. */
static void
stage_cmd_fill(struct answer *a, const Mpdppb__StageCmdReq *req)
{
	const char *id = strcmp(req->stage, "fw") == 0 || strcmp(req->stage, "fw1") == 0 ? "fw1" :
			 strcmp(req->stage, "nat") == 0 || strcmp(req->stage, "nat1") == 0 ? "nat1" : NULL;
	FILE *f;

	if (id == NULL) {
		reply(a, ENOENT, "no stage '%s'", req->stage);
		return;
	}
	if (req->n_args > 0 && strcmp(req->args[0], "fail") == 0) {
		reply(a, EINVAL, "%s: bad rule", id);
		return;
	}
	f = fmemopen(a->text, sizeof(a->text), "w");
	if (f == NULL)
		return;
	if (req->json) {
		fputs("  {\"stage\":", f);
		mpdp_json_str(f, id);
		fputs(",\"args\":[", f);
		for (size_t i = 0; i < req->n_args; i++) {
			if (i > 0)
				fputc(',', f);
			mpdp_json_str(f, req->args[i]);
		}
		fputs("]}\n", f);
	} else {
		fprintf(f, "%s:", id);
		for (size_t i = 0; i < req->n_args; i++)
			fprintf(f, " [%s]", req->args[i]);
		fputc('\n', f);
	}
	fclose(f);
	mpdppb__stage_cmd_resp__init(&a->scr);
	a->scr.stage = (char *)id;
	a->scr.output = a->text;
	a->r.body_case = MPDPPB__RESPONSE__BODY_STAGE_CMD;
	a->r.stage_cmd = &a->scr;
}

/* The name a request is about, for the odd answers. */
static const char *
req_name(const Mpdppb__Request *req)
{
	switch (req->cmd_case) {
	case MPDPPB__REQUEST__CMD_PORT: return req->port->name;
	case MPDPPB__REQUEST__CMD_RING: return req->ring->name;
	case MPDPPB__REQUEST__CMD_POOL: return req->pool->name;
	case MPDPPB__REQUEST__CMD_STAGE: return req->stage->id;
	default: return "";
	}
}

static void
log_request(const char *log_path, const Mpdppb__Request *req, int passed_fd)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	int fd;

	if (f == NULL)
		return;
	fprintf(f, "{\"passed_fd\":%s,\"request\":", passed_fd >= 0 ? "true" : "false");
	mpdpctl_json_message(f, &req->base);
	fputs("}\n", f);
	fclose(f);
	fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd >= 0) {
		if (write(fd, buf, len) != (ssize_t)len)
			perror("fake server: log");
		close(fd);
	}
	free(buf);
}

/* Answer one request; @return 0 to go on, -1 to close the connection. */
static int
serve_one(int fd, const Mpdppb__Request *req, int passed_fd, unsigned k)
{
	struct answer a;
	const char *name = req_name(req);

	memset(&a, 0, sizeof(a));
	mpdppb__response__init(&a.r);
	a.r.id = req->id;
	a.r.now_ns = (uint64_t)(k + 1) * 1000000000u;
	if (strcmp(name, "hang") == 0) {
		sleep(3);
		return -1;
	}
	if (strcmp(name, "close") == 0)
		return -1;
	if (strcmp(name, "garbage") == 0) {
		static const uint8_t junk[] = { 3, 0, 0, 0, 0xff, 0xff, 0xff };

		return write(fd, junk, sizeof(junk)) == sizeof(junk) ? 0 : -1;
	}
	if (strcmp(name, "nosuch") == 0) {
		reply(&a, ENOENT, "no such thing: '%s'", name);
	} else if (strcmp(name, "mismatch") == 0) {
		stages_fill(&a, k);
	} else if (strcmp(name, "empty") == 0) {
		/* status 0, no body, no message */
	} else {
		switch (req->cmd_case) {
		case MPDPPB__REQUEST__CMD_STATUS:
			status_fill(&a);
			break;
		case MPDPPB__REQUEST__CMD_PORT:
			if (req->port->op == MPDPPB__PORT_REQ__OP__LIST ||
			    req->port->op == MPDPPB__PORT_REQ__OP__STATS)
				ports_fill(&a, k);
			else
				reply(&a, 0, "port %s: done", req->port->name);
			break;
		case MPDPPB__REQUEST__CMD_RING:
			if (req->ring->op == MPDPPB__RING_REQ__OP__LIST ||
			    req->ring->op == MPDPPB__RING_REQ__OP__STATS)
				rings_fill(&a);
			else
				reply(&a, 0, "ring %s: done", req->ring->name);
			break;
		case MPDPPB__REQUEST__CMD_POOL:
			mpdppb__pool_list__init(&a.pooll);
			mpdppb__pool_info__init(&a.pool);
			a.pool.name = "mbufs";
			a.pool.size = 8192;
			a.pool.obj_size = 2176;
			a.pool.cache_size = 256;
			a.pool.available = 8000;
			a.pool.cached = 100;
			a.pool.in_use = 92;
			a.poolp[0] = &a.pool;
			a.pooll.pools = a.poolp;
			a.pooll.n_pools = 1;
			a.r.body_case = MPDPPB__RESPONSE__BODY_POOLS;
			a.r.pools = &a.pooll;
			break;
		case MPDPPB__REQUEST__CMD_PATCH:
			mpdppb__patch_list__init(&a.patchl);
			mpdppb__patch__init(&a.patch);
			a.patch.src = "p0";
			a.patch.dst = "p1";
			a.patchp[0] = &a.patch;
			a.patchl.patches = a.patchp;
			a.patchl.n_patches = 1;
			a.r.body_case = MPDPPB__RESPONSE__BODY_PATCHES;
			a.r.patches = &a.patchl;
			break;
		case MPDPPB__REQUEST__CMD_STAGE:
			stages_fill(&a, k);
			break;
		case MPDPPB__REQUEST__CMD_STAGE_CMD:
			stage_cmd_fill(&a, req->stage_cmd);
			break;
		case MPDPPB__REQUEST__CMD_CAPTURE:
			if (req->capture->op == MPDPPB__CAPTURE_REQ__OP__START && passed_fd < 0) {
				reply(&a, EBADF, "capture: no file came with the request%s", "");
			} else if (req->capture->op == MPDPPB__CAPTURE_REQ__OP__START) {
				if (write(passed_fd, "X", 1) != 1)
					reply(&a, EIO, "capture: cannot write the file%s", "");
				else
					capture_fill(&a, req->capture);
			} else if (req->capture->op == MPDPPB__CAPTURE_REQ__OP__LIST) {
				capture_fill(&a, req->capture);
			} else {
				reply(&a, 0, "capture %s stopped", "7");
				capture_fill(&a, req->capture);
			}
			break;
		case MPDPPB__REQUEST__CMD_LOG:
			reply(&a, 0, "log level set%s", "");
			break;
		case MPDPPB__REQUEST__CMD_SHUTDOWN:
			reply(&a, 0, "shutting down%s", "");
			break;
		default:
			reply(&a, EPROTONOSUPPORT, "not served here%s", "");
			break;
		}
	}
	if (strcmp(name, "wrongid") == 0)
		a.r.id = req->id + 100;
	return mpdp_ctl_send(fd, &a.r.base, -1) == 0 ? 0 : -1;
}

static void
serve_conn(int fd, const char *log_path)
{
	for (unsigned k = 0;; k++) {
		Mpdppb__Request *req;
		uint8_t *payload;
		size_t len;
		int passed_fd = -1, rc;

		if (mpdp_ctl_recv(fd, &payload, &len, &passed_fd, -1) != 0)
			return;
		req = mpdppb__request__unpack(NULL, len, payload);
		free(payload);
		if (req == NULL) {
			if (passed_fd >= 0)
				close(passed_fd);
			return;
		}
		log_request(log_path, req, passed_fd);
		rc = serve_one(fd, req, passed_fd, k);
		if (passed_fd >= 0)
			close(passed_fd);
		mpdppb__request__free_unpacked(req, NULL);
		if (rc != 0)
			return;
	}
}

pid_t
fake_server_start(const char *sock_path, const char *log_path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int lfd;
	pid_t pid;

	if (strlen(sock_path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, sock_path);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0)
		return -errno;
	unlink(sock_path);
	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(lfd, 16) != 0) {
		int err = errno;

		close(lfd);
		return -err;
	}
	pid = fork();
	if (pid < 0) {
		int err = errno;

		close(lfd);
		return -err;
	}
	if (pid > 0) {
		setpgid(pid, pid);
		close(lfd);
		return pid;
	}
	setpgid(0, 0);
	signal(SIGCHLD, SIG_IGN);   /* connections' children reap themselves */
	signal(SIGPIPE, SIG_IGN);
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR)
				continue;
			_exit(1);
		}
		if (fork() == 0) {
			close(lfd);
			serve_conn(fd, log_path);
			_exit(0);
		}
		close(fd);
	}
}

void
fake_server_stop(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(-pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fuzz target: the control socket's frame decoder and request dispatch.
 *
 * Each input is a byte stream as a client would send it: frames are cut
 * with mpdp_ctl_frame_length(), decoded as Requests and answered by
 * ctl_cmd_run() against a real (tmpfs) instance with a pool and rings, and
 * each answer is packed as the server would send it. Built with libFuzzer
 * when the compiler is clang; otherwise (and with --replay) the same code
 * runs the corpus files once, so every build checks them.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capture.h"
#include "ctl.h"
#include "mpdp_ctl.h"
#include "mpdp_log.h"
#include "mpdp_mbuf.h"
#include "mpdp_ring.h"
#include "test_instance.h"

struct fuzz_state {
	struct test_instance ti;
	struct primary p;
	struct ctl_env env;
};

static void
no_shutdown(void *arg)
{
	(void)arg;
}

static const struct ctl_stage_reg *
no_reg(void *arg, const char *id)
{
	(void)arg;
	(void)id;
	return NULL;
}

static void
drop_log(void *arg, enum mpdp_log_level level, const char *component, const char *msg)
{
	(void)arg;
	(void)level;
	(void)component;
	(void)msg;
}

/* libFuzzer calls the target many times in one process: one instance for all. */
static struct fuzz_state *fuzz_st;

static void
cleanup(void)
{
	capture_mgr_close(fuzz_st->env.capture);
	test_instance_destroy(&fuzz_st->ti);
}

static struct fuzz_state *
state(void)
{
	struct fuzz_state *st = fuzz_st;
	struct mpdp_errbuf eb = { "" };
	struct mpdp_pool *pool;
	struct mpdp_ring *ring;

	if (st != NULL)
		return st;
	st = fuzz_st = calloc(1, sizeof(*st));
	if (st == NULL)
		abort();
	mpdp_log_set_sink(drop_log, NULL);
	test_instance_create(&st->ti, "fuzz", 0, 0);
	st->p.shm = st->ti.shm;
	snprintf(st->p.cfg.name, sizeof(st->p.cfg.name), "%s", st->ti.name);
	if (mpdp_mbuf_pool_create(st->p.shm, "pool0", 512, 32, 2048, -1, &pool) != 0 ||
	    mpdp_ring_create(st->p.shm, "r0", 64, 0, -1, &ring) != 0 ||
	    mpdp_ring_create(st->p.shm, "r1", 64, MPDP_RING_F_SP_ENQ, -1, &ring) != 0)
		abort();
	st->env.p = &st->p;
	if (capture_mgr_open(st->p.shm, &st->env.capture, &eb) != 0) {
		fprintf(stderr, "fuzz_ctl: %s\n", eb.msg);
		abort();
	}
	st->env.find_reg = no_reg;
	st->env.shutdown = no_shutdown;
	atexit(cleanup);
	return st;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_state *st = state();
	size_t off = 0, len;

	for (;;) {
		int rc = mpdp_ctl_frame_length(data + off, size - off, MPDP_CTL_FRAME_MAX, &len);
		Mpdppb__Response resp = MPDPPB__RESPONSE__INIT;
		struct ctl_arena a = { NULL };
		Mpdppb__Request *req;
		uint8_t *frame;
		size_t frame_len;

		if (rc <= 0)
			break;
		req = mpdppb__request__unpack(NULL, len, data + off + MPDP_CTL_HDR);
		off += MPDP_CTL_HDR + len;
		if (req == NULL)
			continue;
		ctl_cmd_run(&st->env, req, -1, &resp, &a);
		/* Every answer must pack: a field left NULL where a string belongs would crash here. */
		if (mpdp_ctl_pack(&resp.base, &frame, &frame_len) == 0)
			free(frame);
		ctl_arena_free(&a);
		mpdppb__request__free_unpacked(req, NULL);
		capture_poll(st->env.capture);
	}
	return 0;
}

#ifndef MPDP_LIBFUZZER
/* Without libFuzzer: run each file named (or each file of each directory named) once. */
static int
replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long n;

	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0) {
		fprintf(stderr, "fuzz_ctl: %s: %s\n", path, strerror(errno));
		if (f != NULL)
			fclose(f);
		return 1;
	}
	rewind(f);
	buf = malloc((size_t)n + 1);
	if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n) {
		fclose(f);
		free(buf);
		return 1;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(buf, (size_t)n);
	free(buf);
	return 0;
}

static void
seed(const char *dir, const char *name, Mpdppb__Request *req)
{
	char path[4096];
	uint8_t *frame;
	size_t len;
	FILE *f;

	req->version = MPDP_CTL_VERSION;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (mpdp_ctl_pack(&req->base, &frame, &len) != 0 || (f = fopen(path, "wb")) == NULL)
		abort();
	fwrite(frame, 1, len, f);
	fclose(f);
	free(frame);
}

/* One valid request of each kind: where the fuzzer starts from (tests/fuzz/corpus). */
static int
write_seeds(const char *dir)
{
	Mpdppb__Request req = MPDPPB__REQUEST__INIT;
	Mpdppb__StatusReq status = MPDPPB__STATUS_REQ__INIT;
	Mpdppb__PortReq port = MPDPPB__PORT_REQ__INIT;
	Mpdppb__RingReq ring = MPDPPB__RING_REQ__INIT;
	Mpdppb__PoolReq pool = MPDPPB__POOL_REQ__INIT;
	Mpdppb__PatchReq patch = MPDPPB__PATCH_REQ__INIT;
	Mpdppb__StageReq stage = MPDPPB__STAGE_REQ__INIT;
	Mpdppb__CaptureReq cap = MPDPPB__CAPTURE_REQ__INIT;
	Mpdppb__LogReq log = MPDPPB__LOG_REQ__INIT;
	Mpdppb__ShutdownReq shut = MPDPPB__SHUTDOWN_REQ__INIT;

	req.cmd_case = MPDPPB__REQUEST__CMD_STATUS;
	req.status = &status;
	seed(dir, "status", &req);
	req.cmd_case = MPDPPB__REQUEST__CMD_PORT;
	req.port = &port;
	port.op = MPDPPB__PORT_REQ__OP__STOP;
	port.name = (char *)"p0";
	seed(dir, "port-stop", &req);
	req.cmd_case = MPDPPB__REQUEST__CMD_RING;
	req.ring = &ring;
	seed(dir, "ring-list", &req);
	ring.op = MPDPPB__RING_REQ__OP__CREATE;
	ring.name = (char *)"fz";
	ring.size = 64;
	seed(dir, "ring-create", &req);
	ring.op = MPDPPB__RING_REQ__OP__DELETE;
	seed(dir, "ring-delete", &req);
	req.cmd_case = MPDPPB__REQUEST__CMD_POOL;
	req.pool = &pool;
	pool.name = (char *)"pool0";
	seed(dir, "pool-stats", &req);
	req.cmd_case = MPDPPB__REQUEST__CMD_PATCH;
	req.patch = &patch;
	patch.op = MPDPPB__PATCH_REQ__OP__ADD;
	patch.src = (char *)"p0";
	patch.dst = (char *)"p1";
	seed(dir, "patch-add", &req);
	req.cmd_case = MPDPPB__REQUEST__CMD_STAGE;
	req.stage = &stage;
	seed(dir, "stage-list", &req);
	req.cmd_case = MPDPPB__REQUEST__CMD_CAPTURE;
	req.capture = &cap;
	cap.op = MPDPPB__CAPTURE_REQ__OP__START;
	cap.target = (char *)"r0";
	cap.filter = (char *)"tcp port 80";
	seed(dir, "capture-start", &req);
	req.cmd_case = MPDPPB__REQUEST__CMD_LOG;
	req.log = &log;
	log.component = (char *)"ring";
	log.level = (char *)"debug";
	seed(dir, "log", &req);
	req.cmd_case = MPDPPB__REQUEST__CMD_SHUTDOWN;
	req.shutdown = &shut;
	seed(dir, "shutdown", &req);
	return 0;
}

int
main(int argc, char **argv)
{
	unsigned files = 0;
	int failed = 0;

	if (argc == 3 && strcmp(argv[1], "--write-seeds") == 0)
		return write_seeds(argv[2]);
	for (int i = 1; i < argc; i++) {
		DIR *d = opendir(argv[i]);
		struct dirent *e;

		if (d == NULL) {
			failed |= replay_file(argv[i]);
			files++;
			continue;
		}
		while ((e = readdir(d)) != NULL) {
			char path[4096];

			if (e->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s", argv[i], e->d_name);
			failed |= replay_file(path);
			files++;
		}
		closedir(d);
	}
	printf("1..1\n%s 1 - %u corpus inputs replayed through the frame decoder and dispatch\n",
	       failed || files == 0 ? "not ok" : "ok", files);
	return failed || files == 0;
}
#endif

/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mpdpctl: the control client of an mpdp instance (doc/control.md).
 *
 * Each command is one Request on the instance's control socket and one
 * Response, printed as a table or (--json) as one JSON value. Words that are
 * not a built-in command go to a stage as its own command. --watch repeats a
 * command that reads and adds rates; with no command, mpdpctl reads commands
 * from a prompt or from stdin (ctl_repl.c).
 *
 * Exit: 0; 1 when the instance refused (a Response with status != 0) or
 * could not be reached; 2 for bad arguments.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctl_json.h"
#include "mpdp_config.h"
#include "mpdp_json.h"
#include "mpdp_parse.h"
#include "mpdp_shm.h"
#include "mpdp_time.h"
#include "mpdpctl.h"

#define WATCH_MIN 0.05
#define WATCH_MAX 3600.0
#define TIMEOUT_MAX_MS 3600000
/* help asks the instance for its stages, but does not wait long for them. */
#define HELP_TIMEOUT_MS 1000
/* stage launch and restart: the primary's limit (10 s) and some. */
#define MPDPCTL_STAGE_WAIT_MS 15000

/* ---- words to Requests ---- */

static const char *const port_ops[] = { "list", "stats", "start", "stop", NULL };
static const char *const ring_ops[] = { "list", "stats", "create", "delete", "del", NULL };
static const char *const pool_ops[] = { "list", "stats", NULL };
static const char *const patch_ops[] = { "list", "add", "del", "delete", NULL };
static const char *const stage_ops[] = { "list", "stats", "stop", "launch", "restart", NULL };
static const char *const capture_ops[] = { "start", "stop", "list", NULL };
static const char *const log_ops[] = { "level", NULL };

const char *const mpdpctl_log_levels[] = { "err", "warn", "notice", "info", "debug", NULL };

/* @return the index of @p word in @p ops, or -ENOENT */
static int
op_find(const char *word, const char *const *ops)
{
	for (int i = 0; ops[i] != NULL; i++) {
		if (strcmp(word, ops[i]) == 0)
			return i;
	}
	return -ENOENT;
}

static int
bad_op(struct mpdp_errbuf *eb, const char *cmd, const char *word, const char *const *ops)
{
	char list[128] = "";
	size_t len = 0;

	for (int i = 0; ops[i] != NULL && len < sizeof(list); i++)
		len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%s", i ? ", " : "", ops[i]);
	return mpdp_err_set(eb, -EINVAL, "%s: unknown operation '%s' (one of: %s)", cmd, word, list);
}

/* argc must be within [min, max]; @p what names the first missing argument. */
static int
count_check(struct mpdp_errbuf *eb, int argc, char **argv, int min, int max, const char *what)
{
	if (argc < min)
		return mpdp_err_set(eb, -EINVAL, "%s %s: missing %s", argv[0], argv[1], what);
	if (argc > max)
		return mpdp_err_set(eb, -EINVAL, "%s %s: unexpected argument '%s'", argv[0], argv[1],
				    argv[max]);
	return 0;
}

/* The operation index of argv[1], 0 (list) when there is none. */
static int
op_get(struct mpdp_errbuf *eb, int argc, char **argv, const char *const *ops)
{
	int op = argc < 2 ? 0 : op_find(argv[1], ops);

	return op < 0 ? bad_op(eb, argv[0], argv[1], ops) : op;
}

static int
parse_status(struct mpdpctl_cmd *c, int argc, char **argv, struct mpdp_errbuf *eb)
{
	mpdppb__status_req__init(&c->u.status);
	c->req.cmd_case = MPDPPB__REQUEST__CMD_STATUS;
	c->req.status = &c->u.status;
	c->view = MPDPCTL_VIEW_LIST;
	c->watchable = 1;
	if (argc > 1)
		return mpdp_err_set(eb, -EINVAL, "status: unexpected argument '%s'", argv[1]);
	return 0;
}

static int
parse_port(struct mpdpctl_cmd *c, int argc, char **argv, struct mpdp_errbuf *eb)
{
	static const Mpdppb__PortReq__Op op_map[] = {
		MPDPPB__PORT_REQ__OP__LIST, MPDPPB__PORT_REQ__OP__STATS,
		MPDPPB__PORT_REQ__OP__START, MPDPPB__PORT_REQ__OP__STOP,
	};
	Mpdppb__PortReq *r = &c->u.port;
	int op = op_get(eb, argc, argv, port_ops);
	int rc;

	mpdppb__port_req__init(r);
	c->req.cmd_case = MPDPPB__REQUEST__CMD_PORT;
	c->req.port = r;
	if (op < 0)
		return op;
	r->op = op_map[op];
	if (op <= 1) {
		c->view = op == 0 ? MPDPCTL_VIEW_LIST : MPDPCTL_VIEW_STATS;
		c->watchable = 1;
		rc = count_check(eb, argc, argv, 1, 3, "");
	} else {
		c->view = MPDPCTL_VIEW_ACTION;
		rc = count_check(eb, argc, argv, 3, 3, "the port NAME");
	}
	if (argc > 2)
		r->name = argv[2];
	return rc;
}

static int
parse_ring_size(const char *s, uint32_t *out, struct mpdp_errbuf *eb)
{
	uint64_t v;

	if (mpdp_parse_u64(s, 1, UINT32_MAX, &v) != 0 || (v & (v - 1)) != 0)
		return mpdp_err_set(eb, -EINVAL, "ring create: SIZE must be a power of two "
				    "from 1 to 2^31, not '%s'", s);
	*out = (uint32_t)v;
	return 0;
}

static int
parse_ring(struct mpdpctl_cmd *c, int argc, char **argv, struct mpdp_errbuf *eb)
{
	static const Mpdppb__RingReq__Op op_map[] = {
		MPDPPB__RING_REQ__OP__LIST, MPDPPB__RING_REQ__OP__STATS, MPDPPB__RING_REQ__OP__CREATE,
		MPDPPB__RING_REQ__OP__DELETE, MPDPPB__RING_REQ__OP__DELETE,
	};
	Mpdppb__RingReq *r = &c->u.ring;
	int op = op_get(eb, argc, argv, ring_ops);
	int rc;

	mpdppb__ring_req__init(r);
	c->req.cmd_case = MPDPPB__REQUEST__CMD_RING;
	c->req.ring = r;
	if (op < 0)
		return op;
	r->op = op_map[op];
	if (argc > 2)
		r->name = argv[2];
	switch (r->op) {
	case MPDPPB__RING_REQ__OP__CREATE:
		c->view = MPDPCTL_VIEW_ACTION;
		rc = count_check(eb, argc, argv, 4, 6, argc < 3 ? "the ring NAME" : "the ring SIZE");
		if (rc == 0)
			rc = parse_ring_size(argv[3], &r->size, eb);
		for (int i = 4; i < argc && rc == 0; i++) {
			protobuf_c_boolean *flag = strcmp(argv[i], "sp") == 0 ? &r->sp :
						   strcmp(argv[i], "sc") == 0 ? &r->sc : NULL;

			if (flag == NULL || *flag)
				rc = mpdp_err_set(eb, -EINVAL, "ring create: '%s' is not a flag (sp, sc, "
						  "each once)", argv[i]);
			else
				*flag = 1;
		}
		return rc;
	case MPDPPB__RING_REQ__OP__DELETE:
		c->view = MPDPCTL_VIEW_ACTION;
		return count_check(eb, argc, argv, 3, 3, "the ring NAME");
	default:
		c->view = r->op == MPDPPB__RING_REQ__OP__LIST ? MPDPCTL_VIEW_LIST : MPDPCTL_VIEW_STATS;
		c->watchable = 1;
		return count_check(eb, argc, argv, 1, 3, "");
	}
}

static int
parse_pool(struct mpdpctl_cmd *c, int argc, char **argv, struct mpdp_errbuf *eb)
{
	Mpdppb__PoolReq *r = &c->u.pool;
	int op = op_get(eb, argc, argv, pool_ops);

	mpdppb__pool_req__init(r);
	c->req.cmd_case = MPDPPB__REQUEST__CMD_POOL;
	c->req.pool = r;
	if (op < 0)
		return op;
	r->op = op == 0 ? MPDPPB__POOL_REQ__OP__LIST : MPDPPB__POOL_REQ__OP__STATS;
	c->view = op == 0 ? MPDPCTL_VIEW_LIST : MPDPCTL_VIEW_STATS;
	c->watchable = 1;
	if (argc > 2)
		r->name = argv[2];
	return count_check(eb, argc, argv, 1, 3, "");
}

static int
parse_patch(struct mpdpctl_cmd *c, int argc, char **argv, struct mpdp_errbuf *eb)
{
	Mpdppb__PatchReq *r = &c->u.patch;
	int op = op_get(eb, argc, argv, patch_ops);

	mpdppb__patch_req__init(r);
	c->req.cmd_case = MPDPPB__REQUEST__CMD_PATCH;
	c->req.patch = r;
	if (op < 0)
		return op;
	if (op == 0) {
		r->op = MPDPPB__PATCH_REQ__OP__LIST;
		c->view = MPDPCTL_VIEW_LIST;
		c->watchable = 1;
		return count_check(eb, argc, argv, 1, 2, "");
	}
	r->op = op == 1 ? MPDPPB__PATCH_REQ__OP__ADD : MPDPPB__PATCH_REQ__OP__DEL;
	c->view = MPDPCTL_VIEW_ACTION;
	if (argc > 2)
		r->src = argv[2];
	if (argc > 3)
		r->dst = argv[3];
	return count_check(eb, argc, argv, 4, 4, argc < 3 ? "the SRC port" : "the DST port");
}

/* The rule of stage ids (doc/stages.md), checked before anything is sent. */
static int
stage_id_check(const char *cmd, const char *id, struct mpdp_errbuf *eb)
{
	size_t len = strlen(id);

	if (len == 0 || len > MPDP_NAME_MAX - sizeof(MPDP_STAGE_ZONE_PREFIX))
		return mpdp_err_set(eb, -EINVAL, "%s: stage ID '%s' must be 1 to %zu characters", cmd, id,
				    MPDP_NAME_MAX - sizeof(MPDP_STAGE_ZONE_PREFIX));
	if (strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") != len)
		return mpdp_err_set(eb, -EINVAL, "%s: stage ID '%s' may hold only letters, digits, '_', "
				    "'-' and '.'", cmd, id);
	return 0;
}

/* stage launch ID [--] PROGRAM [ARGS...]: a relative PROGRAM path is made absolute for the primary. */
static int
parse_stage_launch(struct mpdpctl_cmd *c, int argc, char **argv, struct mpdp_errbuf *eb)
{
	Mpdppb__StageReq *r = &c->u.stage;
	int first = 3;
	char cwd[PATH_MAX];

	if (argc < 3)
		return mpdp_err_set(eb, -EINVAL, "stage launch: missing the stage ID");
	if (stage_id_check("stage launch", argv[2], eb) != 0)
		return -EINVAL;
	if (argc > 3 && strcmp(argv[3], "--") == 0)
		first = 4;
	if (first >= argc || argv[first][0] == '\0')
		return mpdp_err_set(eb, -EINVAL, "stage launch %s: missing the PROGRAM to run", argv[2]);
	if (argc - first > MPDPCTL_LAUNCH_ARGS_MAX)
		return mpdp_err_set(eb, -EINVAL, "stage launch %s: more than %d words", argv[2],
				    MPDPCTL_LAUNCH_ARGS_MAX);
	for (int i = first; i < argc; i++)
		c->launch_argv[i - first] = argv[i];
	if (argv[first][0] != '/' && strchr(argv[first], '/') != NULL) {
		if (getcwd(cwd, sizeof(cwd)) == NULL ||
		    (size_t)snprintf(c->launch_prog, sizeof(c->launch_prog), "%s/%s", cwd,
				     argv[first]) >= sizeof(c->launch_prog))
			return mpdp_err_set(eb, -EINVAL, "stage launch %s: cannot make '%s' an absolute "
					    "path", argv[2], argv[first]);
		c->launch_argv[0] = c->launch_prog;
	}
	r->argv = c->launch_argv;
	r->n_argv = (size_t)(argc - first);
	return 0;
}

static int
parse_stage(struct mpdpctl_cmd *c, int argc, char **argv, struct mpdp_errbuf *eb)
{
	static const Mpdppb__StageReq__Op op_map[] = {
		MPDPPB__STAGE_REQ__OP__LIST, MPDPPB__STAGE_REQ__OP__STATS, MPDPPB__STAGE_REQ__OP__STOP,
		MPDPPB__STAGE_REQ__OP__LAUNCH, MPDPPB__STAGE_REQ__OP__RESTART,
	};
	Mpdppb__StageReq *r = &c->u.stage;
	int op = op_get(eb, argc, argv, stage_ops);

	mpdppb__stage_req__init(r);
	c->req.cmd_case = MPDPPB__REQUEST__CMD_STAGE;
	c->req.stage = r;
	if (op < 0)
		return op;
	r->op = op_map[op];
	if (argc > 2)
		r->id = argv[2];
	if (r->op == MPDPPB__STAGE_REQ__OP__LAUNCH || r->op == MPDPPB__STAGE_REQ__OP__RESTART) {
		c->view = MPDPCTL_VIEW_ACTION;
		/* The primary answers when the new process runs, or fails after its own 10 s. */
		c->wait_ms = MPDPCTL_STAGE_WAIT_MS;
		if (r->op == MPDPPB__STAGE_REQ__OP__LAUNCH)
			return parse_stage_launch(c, argc, argv, eb);
		if (count_check(eb, argc, argv, 3, 3, "the stage ID") != 0)
			return -EINVAL;
		return stage_id_check("stage restart", argv[2], eb);
	}
	if (op == 2) {
		c->view = MPDPCTL_VIEW_ACTION;
		return count_check(eb, argc, argv, 3, 3, "the stage ID");
	}
	c->view = op == 0 ? MPDPCTL_VIEW_LIST : MPDPCTL_VIEW_STATS;
	c->watchable = 1;
	return count_check(eb, argc, argv, 1, 3, "");
}

enum { CAP_FILTER, CAP_SNAPLEN, CAP_COUNT, CAP_WRITE };

/*
 * The option at argv[*i] ("--opt VALUE", "--opt=VALUE"): its CAP_* index
 * with *value set and *i moved past the value, or -EINVAL (said in @p eb).
 */
static int
capture_opt(int argc, char **argv, int *i, const char **value, struct mpdp_errbuf *eb)
{
	static const struct {
		const char *name;
		int which;
	} opts[] = {
		{ "--filter", CAP_FILTER }, { "--snaplen", CAP_SNAPLEN }, { "--count", CAP_COUNT },
		{ "-w", CAP_WRITE }, { "--write", CAP_WRITE },
	};
	const char *a = argv[*i];

	for (size_t k = 0; k < sizeof(opts) / sizeof(opts[0]); k++) {
		size_t len = strlen(opts[k].name);

		if (strncmp(a, opts[k].name, len) != 0 || (a[len] != '\0' && a[len] != '='))
			continue;
		if (a[len] == '=') {
			*value = a + len + 1;
		} else if (*i + 1 < argc) {
			*value = argv[++*i];
		} else {
			return mpdp_err_set(eb, -EINVAL, "capture start: %s needs a value", opts[k].name);
		}
		return opts[k].which;
	}
	return mpdp_err_set(eb, -EINVAL, "capture start: unknown option '%s'", a);
}

static int
parse_capture_start(struct mpdpctl_cmd *c, int argc, char **argv, struct mpdp_errbuf *eb)
{
	Mpdppb__CaptureReq *r = &c->u.capture;

	for (int i = 2; i < argc; i++) {
		const char *v = NULL;
		uint64_t n;
		int which;

		if (argv[i][0] != '-' || argv[i][1] == '\0') {
			if (r->target[0] != '\0')
				return mpdp_err_set(eb, -EINVAL, "capture start: unexpected argument "
						    "'%s' (the TARGET is '%s')", argv[i], r->target);
			r->target = argv[i];
			continue;
		}
		which = capture_opt(argc, argv, &i, &v, eb);
		switch (which) {
		case CAP_FILTER:
			r->filter = (char *)v;
			break;
		case CAP_SNAPLEN:
			if (mpdp_parse_u64(v, 0, UINT32_MAX, &n) != 0)
				return mpdp_err_set(eb, -EINVAL, "capture start: --snaplen takes bytes "
						    "(0 for whole frames), not '%s'", v);
			r->snaplen = (uint32_t)n;
			break;
		case CAP_COUNT:
			if (mpdp_parse_u64(v, 0, UINT64_MAX, &n) != 0)
				return mpdp_err_set(eb, -EINVAL, "capture start: --count takes a number "
						    "of packets (0 for no limit), not '%s'", v);
			r->count = n;
			break;
		case CAP_WRITE:
			c->capture_file = v;
			break;
		default:
			return which;
		}
	}
	if (r->target[0] == '\0')
		return mpdp_err_set(eb, -EINVAL, "capture start: missing the TARGET (a port or a ring)");
	if (c->capture_file == NULL || c->capture_file[0] == '\0')
		return mpdp_err_set(eb, -EINVAL, "capture start: missing -w FILE");
	return 0;
}

static int
parse_capture(struct mpdpctl_cmd *c, int argc, char **argv, struct mpdp_errbuf *eb)
{
	Mpdppb__CaptureReq *r = &c->u.capture;
	int op = argc < 2 ? 2 : op_find(argv[1], capture_ops);
	uint64_t id;

	mpdppb__capture_req__init(r);
	c->req.cmd_case = MPDPPB__REQUEST__CMD_CAPTURE;
	c->req.capture = r;
	if (op < 0)
		return bad_op(eb, argv[0], argv[1], capture_ops);
	switch (op) {
	case 0:
		r->op = MPDPPB__CAPTURE_REQ__OP__START;
		c->view = MPDPCTL_VIEW_CAPTURE;
		return parse_capture_start(c, argc, argv, eb);
	case 1:
		r->op = MPDPPB__CAPTURE_REQ__OP__STOP;
		c->view = MPDPCTL_VIEW_ACTION;
		if (argc > 2 && mpdp_parse_u64(argv[2], 1, UINT32_MAX, &id) != 0)
			return mpdp_err_set(eb, -EINVAL, "capture stop: ID is a capture id (a number "
					    "from capture list), not '%s'", argv[2]);
		r->capture_id = argc > 2 ? (uint32_t)id : 0;
		return count_check(eb, argc, argv, 2, 3, "");
	default:
		r->op = MPDPPB__CAPTURE_REQ__OP__LIST;
		c->view = MPDPCTL_VIEW_LIST;
		c->watchable = 1;
		return argc > 2 ? count_check(eb, argc, argv, 2, 2, "") : 0;
	}
}

static int
parse_log(struct mpdpctl_cmd *c, int argc, char **argv, struct mpdp_errbuf *eb)
{
	Mpdppb__LogReq *r = &c->u.log;

	mpdppb__log_req__init(r);
	c->req.cmd_case = MPDPPB__REQUEST__CMD_LOG;
	c->req.log = r;
	c->view = MPDPCTL_VIEW_ACTION;
	if (argc < 2)
		return mpdp_err_set(eb, -EINVAL, "log: missing the operation (level)");
	if (op_find(argv[1], log_ops) < 0)
		return bad_op(eb, argv[0], argv[1], log_ops);
	if (argc > 2)
		r->component = argv[2];
	if (argc > 3)
		r->level = argv[3];
	if (count_check(eb, argc, argv, 4, 4, argc < 3 ? "the COMPONENT" : "the LEVEL") != 0)
		return -EINVAL;
	if (op_find(argv[3], mpdpctl_log_levels) < 0)
		return mpdp_err_set(eb, -EINVAL, "log level: unknown LEVEL '%s' (err, warn, notice, "
				    "info or debug)", argv[3]);
	return 0;
}

static int
parse_shutdown(struct mpdpctl_cmd *c, int argc, char **argv, struct mpdp_errbuf *eb)
{
	mpdppb__shutdown_req__init(&c->u.shutdown);
	c->req.cmd_case = MPDPPB__REQUEST__CMD_SHUTDOWN;
	c->req.shutdown = &c->u.shutdown;
	c->view = MPDPCTL_VIEW_ACTION;
	if (argc > 1)
		return mpdp_err_set(eb, -EINVAL, "shutdown: unexpected argument '%s'", argv[1]);
	return 0;
}

const struct mpdpctl_builtin mpdpctl_builtins[] = {
	{ "status", NULL, "status",
	  "the instance: version, uptime, memory, workers", parse_status },
	{ "port", port_ops, "port [list|stats [NAME]]\nport start|stop NAME",
	  "ports: configuration, counters, start and stop", parse_port },
	{ "ring", ring_ops, "ring [list|stats [NAME]]\nring create NAME SIZE [sp] [sc]\n"
	  "ring delete NAME",
	  "rings: fill, counters, users; make and remove them", parse_ring },
	{ "pool", pool_ops, "pool [list|stats [NAME]]",
	  "buffer pools: objects available, cached and in use", parse_pool },
	{ "patch", patch_ops, "patch [list]\npatch add SRC DST\npatch del SRC DST",
	  "port patches: what SRC receives goes out of DST", parse_patch },
	{ "stage", stage_ops, "stage [list|stats [ID]]\nstage stop ID\n"
	  "stage launch ID -- PROGRAM [ARGS...]\nstage restart ID",
	  "stages: state, counters, supervision; stop, launch, restart", parse_stage },
	{ "capture", capture_ops, "capture start TARGET [--filter EXPR] [--snaplen N] "
	  "[--count N] -w FILE\ncapture stop [ID]\ncapture [list]",
	  "pcapng capture of a port or a ring into a file", parse_capture },
	{ "log", log_ops, "log level COMPONENT LEVEL",
	  "log level of a component, of '*' (all) or of a stage", parse_log },
	{ "shutdown", NULL, "shutdown", "stop the instance", parse_shutdown },
	{ NULL, NULL, NULL, NULL, NULL },
};

const struct mpdpctl_builtin *
mpdpctl_builtin_find(const char *word)
{
	for (const struct mpdpctl_builtin *b = mpdpctl_builtins; b->word != NULL; b++) {
		if (strcmp(b->word, word) == 0)
			return b;
	}
	return NULL;
}

/* A stage's command: "KIND [ID] WORDS..." or "ID WORDS..."; resolved against the stage list later. */
static void
parse_stage_cmd(struct mpdpctl_cmd *c, int argc, char **argv, int json)
{
	Mpdppb__StageCmdReq *r = &c->u.stage_cmd;

	mpdppb__stage_cmd_req__init(r);
	c->req.cmd_case = MPDPPB__REQUEST__CMD_STAGE_CMD;
	c->req.stage_cmd = r;
	c->view = MPDPCTL_VIEW_STAGE_CMD;
	c->watchable = 1;
	r->stage = argv[0];
	r->args = argv + 1;
	r->n_args = (size_t)argc - 1;
	r->json = json != 0;
}

/* ---- usage and help ---- */

static void
usage_lines(FILE *f, const char *usage, const char *first)
{
	const char *p = usage;

	while (*p != '\0') {
		size_t len = strcspn(p, "\n");

		fprintf(f, "%s mpdpctl %.*s\n", p == usage ? first : "      ", (int)len, p);
		p += len + (p[len] == '\n');
	}
}

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: mpdpctl [OPTIONS] COMMAND [ARGS...]\n"
		"       mpdpctl [OPTIONS]     commands from a prompt, or one per line from stdin\n"
		"Control a running mpdp instance through its control socket.\n"
		"options (before the command):\n"
		"  --name NAME          instance (default %s)\n"
		"  --runtime-dir DIR    parent of the instance directory\n"
		"  --json               one JSON value per command on stdout\n"
		"  --watch SECONDS      repeat a command that reads every SECONDS (%.2f to %.0f),\n"
		"                       with rates for counters, until Ctrl-C\n"
		"  --timeout MS         wait up to MS milliseconds for each answer (default %d)\n"
		"  -h, --help           this text (help COMMAND: one command)\n"
		"  --version            print the version\n"
		"commands:\n",
		MPDP_SHM_DEFAULT_NAME, WATCH_MIN, WATCH_MAX, MPDP_CTL_TIMEOUT_MS);
	for (const struct mpdpctl_builtin *b = mpdpctl_builtins; b->word != NULL; b++)
		fprintf(f, "  %-20s %s\n", b->word, b->help);
	fprintf(f,
		"  %-20s a stage's own command (mpdpctl help KIND lists them)\n"
		"  %-20s this list, or how to write one command\n"
		"exit: 0; 1 when the instance refuses or cannot be reached; 2 for bad arguments\n",
		"KIND [ID] WORDS...", "help [COMMAND]");
}

/* Print what was wrong and the usage of the command; @return MPDPCTL_EXIT_USAGE. */
static int
usage_error(const struct mpdpctl_builtin *b, const char *msg)
{
	fprintf(stderr, "mpdpctl: %s\n", msg);
	if (b != NULL)
		usage_lines(stderr, b->usage, "usage:");
	else
		fprintf(stderr, "see mpdpctl --help\n");
	return MPDPCTL_EXIT_USAGE;
}

/* ---- calls ---- */

static int
connect_once(struct mpdpctl *ctl, struct mpdp_errbuf *eb)
{
	int fd;

	if (ctl->fd >= 0)
		return 0;
	fd = mpdp_ctl_connect(ctl->name, ctl->runtime_dir, eb);
	if (fd < 0) {
		if (fd == -EACCES || fd == -EPERM) {
			size_t len = strlen(eb->msg);

			snprintf(eb->msg + len, sizeof(eb->msg) - len, " (the instance runs; its "
				 "socket admits its owner and group only)");
		}
		return fd;
	}
	ctl->fd = fd;
	return 0;
}

static void
disconnect(struct mpdpctl *ctl)
{
	if (ctl->fd >= 0)
		close(ctl->fd);
	ctl->fd = -1;
}

Mpdppb__Response *
mpdpctl_call(struct mpdpctl *ctl, Mpdppb__Request *req, int pass_fd, int timeout_ms,
	     struct mpdp_errbuf *eb)
{
	Mpdppb__Response *resp;

	if (connect_once(ctl, eb) != 0)
		return NULL;
	req->id = ++ctl->next_id;
	resp = mpdp_ctl_call(ctl->fd, req, pass_fd, timeout_ms, eb);
	if (resp == NULL) {
		disconnect(ctl);
		return NULL;
	}
	/* A refusal of a request that could not be read may carry no id. */
	if (resp->id != req->id && !(resp->id == 0 && resp->status != 0)) {
		mpdp_err_set(eb, -EPROTO, "the answer is for request %" PRIu64 ", not %" PRIu64,
			     resp->id, req->id);
		mpdp_ctl_response_free(resp);
		disconnect(ctl);
		return NULL;
	}
	return resp;
}

/* The stage list, or NULL (errors left in @p eb). */
static Mpdppb__Response *
stages_get(struct mpdpctl *ctl, int timeout_ms, struct mpdp_errbuf *eb)
{
	Mpdppb__Request req = MPDPPB__REQUEST__INIT;
	Mpdppb__StageReq sr = MPDPPB__STAGE_REQ__INIT;
	Mpdppb__Response *resp;

	req.cmd_case = MPDPPB__REQUEST__CMD_STAGE;
	req.stage = &sr;
	resp = mpdpctl_call(ctl, &req, -1, timeout_ms, eb);
	if (resp != NULL && (resp->status != 0 || resp->body_case != MPDPPB__RESPONSE__BODY_STAGES ||
			     resp->stages == NULL)) {
		mpdp_err_set(eb, -EPROTO, "no stage list: %s", resp->message[0] ? resp->message :
			     mpdp_ctl_status_name(resp->status));
		mpdp_ctl_response_free(resp);
		return NULL;
	}
	return resp;
}

/*
 * "fw fw1 rule add ..." names stage fw1 when fw1 is a stage of kind fw;
 * otherwise the first word is the stage (a kind or an id) and the rest are
 * its words. A first word that is neither is a usage error, when the
 * instance could say so.
 */
static int
stage_cmd_resolve(struct mpdpctl *ctl, struct mpdpctl_cmd *c, int timeout_ms)
{
	Mpdppb__StageCmdReq *r = &c->u.stage_cmd;
	struct mpdp_errbuf eb = { "" };
	Mpdppb__Response *resp = stages_get(ctl, timeout_ms, &eb);
	int known = 0;
	char msg[256];

	/* Unreachable, or no list: the command itself goes and says what is wrong. */
	if (resp == NULL)
		return 0;
	for (size_t i = 0; i < resp->stages->n_stages; i++) {
		const Mpdppb__StageInfo *s = resp->stages->stages[i];

		if (s == NULL)
			continue;
		if (strcmp(mpdpctl_str(s->id), r->stage) == 0 || strcmp(mpdpctl_str(s->kind), r->stage) == 0)
			known = 1;
		if (r->n_args > 0 && strcmp(mpdpctl_str(s->kind), r->stage) == 0 &&
		    strcmp(mpdpctl_str(s->id), r->args[0]) == 0) {
			r->stage = r->args[0];
			r->args++;
			r->n_args--;
			break;
		}
	}
	mpdp_ctl_response_free(resp);
	if (known)
		return 0;
	snprintf(msg, sizeof(msg), "unknown command '%s': not a built-in command, nor a stage kind "
		 "or id of this instance", r->stage);
	usage_error(NULL, msg);
	return -EINVAL;
}

static void
print_call_error(const struct mpdp_errbuf *eb)
{
	fprintf(stderr, "mpdpctl: %s\n", eb->msg[0] ? eb->msg : "the call failed");
}

/* A refusal: the message on stderr (and the JSON on stdout); @return MPDPCTL_EXIT_FAIL. */
static int
print_refusal(const struct mpdpctl_cmd *c, const Mpdppb__Response *resp, int json)
{
	if (json) {
		mpdpctl_print_json(stdout, c, resp, NULL);
		fflush(stdout);
	}
	fprintf(stderr, "mpdpctl: %s\n", resp->message != NULL && resp->message[0] ? resp->message :
		mpdp_ctl_status_name(resp->status));
	return MPDPCTL_EXIT_FAIL;
}

/*
 * capture start: open the file with our own rights; its descriptor goes with
 * the request. @return 0 with *fd set, or -errno (said)
 */
static int
capture_open(struct mpdpctl_cmd *c, int *fd, int *created)
{
	const char *file = c->capture_file;
	int err;

	*created = 1;
	*fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (*fd < 0 && errno == EEXIST) {
		*created = 0;
		*fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	}
	if (*fd < 0) {
		err = errno;
		fprintf(stderr, "mpdpctl: capture start: cannot open %s: %s\n", file, strerror(err));
		return -err;
	}
	if (file[0] == '/' || getcwd(c->capture_path, sizeof(c->capture_path) - 1) == NULL)
		snprintf(c->capture_path, sizeof(c->capture_path), "%s", file);
	else
		snprintf(c->capture_path + strlen(c->capture_path),
			 sizeof(c->capture_path) - strlen(c->capture_path), "/%s", file);
	c->u.capture.file = c->capture_path;
	return 0;
}

static int
run_once(struct mpdpctl *ctl, struct mpdpctl_cmd *c, const struct mpdpctl_opts *o)
{
	struct mpdp_errbuf eb = { "" };
	Mpdppb__Response *resp;
	int pass_fd = -1, created = 0, rc;

	if (c->capture_file != NULL) {
		/* Connect first: a file is not made for an instance that is not there. */
		if (connect_once(ctl, &eb) != 0) {
			print_call_error(&eb);
			return MPDPCTL_EXIT_FAIL;
		}
		if (capture_open(c, &pass_fd, &created) != 0)
			return MPDPCTL_EXIT_FAIL;
	}
	resp = mpdpctl_call(ctl, &c->req, pass_fd, !o->timeout_set && c->wait_ms > o->timeout_ms ?
			    c->wait_ms : o->timeout_ms, &eb);
	if (pass_fd >= 0)
		close(pass_fd);
	if (resp == NULL) {
		print_call_error(&eb);
		rc = MPDPCTL_EXIT_FAIL;
	} else if (resp->status != 0) {
		rc = print_refusal(c, resp, o->json);
	} else {
		if (o->json)
			mpdpctl_print_json(stdout, c, resp, NULL);
		else
			mpdpctl_print_text(stdout, c, resp, NULL);
		rc = fflush(stdout) == 0 ? MPDPCTL_EXIT_OK : MPDPCTL_EXIT_FAIL;
	}
	if (rc != MPDPCTL_EXIT_OK && created)
		unlink(c->capture_file);
	mpdp_ctl_response_free(resp);
	return rc;
}

/* ---- --watch ---- */

/*
 * Write one frame: on a terminal over the previous one (cursor home, erase
 * what is left), else after a blank line; JSON lines follow each other.
 */
static void
frame_write(const char *buf, size_t len, int tty, int json, unsigned frame)
{
	if (json || !tty) {
		if (frame > 0 && !json)
			fputc('\n', stdout);
		fwrite(buf, 1, len, stdout);
	} else {
		fputs(frame == 0 ? "\033[H\033[2J" : "\033[H", stdout);
		for (size_t i = 0; i < len; i++) {
			if (buf[i] == '\n')
				fputs("\033[K", stdout);
			fputc(buf[i], stdout);
		}
		fputs("\033[J", stdout);
	}
	fflush(stdout);
}

static void
watch_header(FILE *f, const struct mpdpctl_opts *o, int argc, char **argv)
{
	char when[32] = "";
	time_t t = time(NULL);
	struct tm tm;

	if (localtime_r(&t, &tm) != NULL)
		strftime(when, sizeof(when), "%H:%M:%S", &tm);
	fprintf(f, "every %gs:", o->watch);
	for (int i = 0; i < argc; i++)
		fprintf(f, " %s", argv[i]);
	fprintf(f, "   %s   (Ctrl-C to stop)\n\n", when);
}

/* Wait until @p until_ns (monotonic); @return 1 when SIGINT or SIGTERM came. */
static int
watch_sleep(const sigset_t *sigs, uint64_t until_ns)
{
	for (;;) {
		uint64_t now = mpdp_time_ns();
		struct timespec ts;
		int sig;

		if (now >= until_ns)
			return 0;
		ts.tv_sec = (time_t)((until_ns - now) / 1000000000u);
		ts.tv_nsec = (long)((until_ns - now) % 1000000000u);
		sig = sigtimedwait(sigs, NULL, &ts);
		if (sig > 0)
			return 1;
		if (sig < 0 && errno != EINTR && errno != EAGAIN)
			return 1;
	}
}

static int
run_watch(struct mpdpctl *ctl, struct mpdpctl_cmd *c, const struct mpdpctl_opts *o, int argc,
	  char **argv)
{
	uint64_t period = (uint64_t)(o->watch * 1e9), next = mpdp_time_ns(), prev_local = 0;
	Mpdppb__Response *prev = NULL;
	struct sigaction ign[2];
	sigset_t sigs, old;
	int tty = isatty(STDOUT_FILENO), rc = MPDPCTL_EXIT_OK;
	const int signo[2] = { SIGINT, SIGTERM };
	unsigned frame = 0;

	/* Taken by sigtimedwait only; a shell may have started us with them ignored. */
	sigemptyset(&sigs);
	for (int i = 0; i < 2; i++) {
		sigaddset(&sigs, signo[i]);
		sigaction(signo[i], NULL, &ign[i]);
		if (ign[i].sa_handler == SIG_IGN)
			signal(signo[i], SIG_DFL);
	}
	sigprocmask(SIG_BLOCK, &sigs, &old);
	for (;;) {
		struct mpdp_errbuf eb = { "" };
		Mpdppb__Response *resp = mpdpctl_call(ctl, &c->req, -1, o->timeout_ms, &eb);
		uint64_t local = mpdp_time_ns();
		struct mpdpctl_prev p = { prev, 0 };
		char *buf = NULL;
		size_t len = 0;
		FILE *f;

		if (resp == NULL) {
			print_call_error(&eb);
			rc = MPDPCTL_EXIT_FAIL;
			break;
		}
		if (resp->status != 0) {
			rc = print_refusal(c, resp, o->json);
			mpdp_ctl_response_free(resp);
			break;
		}
		if (prev != NULL)
			p.secs = resp->now_ns > prev->now_ns && prev->now_ns != 0 ?
				 (double)(resp->now_ns - prev->now_ns) / 1e9 :
				 (double)(local - prev_local) / 1e9;
		f = open_memstream(&buf, &len);
		if (f != NULL) {
			if (o->json) {
				mpdpctl_print_json(f, c, resp, &p);
			} else {
				watch_header(f, o, argc, argv);
				mpdpctl_print_text(f, c, resp, &p);
			}
			fclose(f);
			frame_write(buf, len, tty, o->json, frame++);
			free(buf);
		}
		mpdp_ctl_response_free(prev);
		prev = resp;
		prev_local = local;
		next += period;
		if (next <= mpdp_time_ns())
			next = mpdp_time_ns() + period;
		if (watch_sleep(&sigs, next)) {
			if (tty)
				fputc('\n', stdout);   /* after the ^C the terminal echoed */
			break;
		}
	}
	mpdp_ctl_response_free(prev);
	/* Nothing of ours stays pending once the signals are let through again. */
	for (struct timespec zero = { 0, 0 }; sigtimedwait(&sigs, NULL, &zero) > 0;)
		;
	sigprocmask(SIG_SETMASK, &old, NULL);
	for (int i = 0; i < 2; i++)
		sigaction(signo[i], &ign[i], NULL);
	return rc;
}

/* ---- help ---- */

static void
stage_help_text(const Mpdppb__StageList *sl, const char *only)
{
	int any = 0;

	for (size_t i = 0; i < sl->n_stages; i++) {
		const Mpdppb__StageInfo *s = sl->stages[i];
		const char *kind, *id;
		int seen = 0;

		if (s == NULL)
			continue;
		kind = mpdpctl_str(s->kind);
		id = mpdpctl_str(s->id);
		if (only != NULL && strcmp(only, kind) != 0 && strcmp(only, id) != 0)
			continue;
		/* One block per kind (the first stage of it), unless one id was asked for. */
		for (size_t j = 0; j < i && only == NULL; j++)
			seen |= sl->stages[j] != NULL && strcmp(mpdpctl_str(sl->stages[j]->kind), kind) == 0;
		if (seen)
			continue;
		if (!any)
			printf("stage commands (mpdpctl KIND [ID] ... or mpdpctl ID ...):\n");
		any = 1;
		printf("  %s (", kind);
		for (size_t j = 0, n = 0; j < sl->n_stages; j++) {
			if (sl->stages[j] != NULL && strcmp(mpdpctl_str(sl->stages[j]->kind), kind) == 0)
				printf("%s%s", n++ ? ", " : "", mpdpctl_str(sl->stages[j]->id));
		}
		printf(")%s\n", s->registered ? "" : ": not registered, takes no commands now");
		for (size_t k = 0; k < s->n_commands; k++) {
			const Mpdppb__StageCommand *sc = s->commands[k];
			char left[160];

			if (sc == NULL)
				continue;
			snprintf(left, sizeof(left), "%s %s %s", only != NULL && strcmp(only, id) == 0 ?
				 id : kind, mpdpctl_str(sc->name), mpdpctl_str(sc->args));
			printf("    %-40s %s\n", left, mpdpctl_str(sc->help));
		}
	}
}

static void
help_json(const struct mpdpctl_builtin *one, const Mpdppb__StageList *sl, const char *only)
{
	unsigned n = 0;

	printf("{\"commands\":[");
	for (const struct mpdpctl_builtin *b = mpdpctl_builtins; b->word != NULL; b++) {
		const char *p = b->usage;

		if ((one != NULL && one != b) || (one == NULL && only != NULL))
			continue;
		printf("%s{\"name\":", n++ ? "," : "");
		mpdp_json_str(stdout, b->word);
		printf(",\"usage\":[");
		while (*p != '\0') {
			size_t len = strcspn(p, "\n");

			if (p != b->usage)
				putchar(',');
			mpdp_json_strn(stdout, p, len);
			p += len + (p[len] == '\n');
		}
		printf("],\"help\":");
		mpdp_json_str(stdout, b->help);
		putchar('}');
	}
	printf("],\"stages\":[");
	n = 0;
	for (size_t i = 0; sl != NULL && one == NULL && i < sl->n_stages; i++) {
		const Mpdppb__StageInfo *s = sl->stages[i];

		if (s == NULL || (only != NULL && strcmp(only, mpdpctl_str(s->kind)) != 0 &&
				  strcmp(only, mpdpctl_str(s->id)) != 0))
			continue;
		printf("%s{\"id\":", n++ ? "," : "");
		mpdp_json_str(stdout, mpdpctl_str(s->id));
		printf(",\"kind\":");
		mpdp_json_str(stdout, mpdpctl_str(s->kind));
		printf(",\"registered\":%s,\"commands\":[", s->registered ? "true" : "false");
		for (size_t k = 0; k < s->n_commands; k++) {
			if (k > 0)
				putchar(',');
			mpdpctl_json_message(stdout, s->commands[k] ? &s->commands[k]->base : NULL);
		}
		printf("]}");
	}
	printf("]}\n");
}

static int
run_help(struct mpdpctl *ctl, const struct mpdpctl_opts *o, int argc, char **argv)
{
	const struct mpdpctl_builtin *b = argc > 0 ? mpdpctl_builtin_find(argv[0]) : NULL;
	const char *only = argc > 0 && b == NULL ? argv[0] : NULL;
	int timeout = o->timeout_ms < HELP_TIMEOUT_MS ? o->timeout_ms : HELP_TIMEOUT_MS;
	struct mpdp_errbuf eb = { "" };
	Mpdppb__Response *resp = NULL;
	int found = 0;

	if (argc > 1) {
		fprintf(stderr, "mpdpctl: help: unexpected argument '%s'\nusage: mpdpctl help "
			"[COMMAND]\n", argv[1]);
		return MPDPCTL_EXIT_USAGE;
	}
	if (b == NULL)
		resp = stages_get(ctl, timeout, &eb);
	for (size_t i = 0; resp != NULL && only != NULL && i < resp->stages->n_stages; i++) {
		const Mpdppb__StageInfo *s = resp->stages->stages[i];

		found |= s != NULL && (strcmp(only, mpdpctl_str(s->kind)) == 0 ||
				       strcmp(only, mpdpctl_str(s->id)) == 0);
	}
	if (only != NULL && !found) {
		fprintf(stderr, "mpdpctl: help: '%s' is not a command%s\n", only, resp != NULL ?
			", nor a stage kind or id of this instance" : " (stage commands are listed "
			"while the instance runs)");
		mpdp_ctl_response_free(resp);
		return MPDPCTL_EXIT_USAGE;
	}
	if (o->json) {
		help_json(b, resp != NULL ? resp->stages : NULL, only);
	} else if (b != NULL) {
		usage_lines(stdout, b->usage, "usage:");
		printf("%s\n", b->help);
	} else {
		if (only == NULL)
			usage(stdout);
		if (resp != NULL)
			stage_help_text(resp->stages, only);
		else
			printf("(stage commands are listed here while the instance runs: %s)\n", eb.msg);
	}
	mpdp_ctl_response_free(resp);
	return fflush(stdout) == 0 ? MPDPCTL_EXIT_OK : MPDPCTL_EXIT_FAIL;
}

/* ---- options and commands ---- */

/*
 * Options at the front of @p argv, into @p o (and the instance into @p ctl
 * when @p instance); *cmd is set to the index of the command word (argc
 * when there is none). Returns 0 to run, 1 when --help/--version was
 * printed, 2 for a bad option (said): the exit code in the last two cases
 * is 0 and 2.
 */
static int
parse_opts(struct mpdpctl *ctl, struct mpdpctl_opts *o, int argc, char **argv, int instance,
	   int *cmd)
{
	int i;

	*cmd = argc;
	for (i = 0; i < argc && argv[i][0] == '-'; i++) {
		const char *a = argv[i], *eq = strchr(a, '=');
		size_t klen = eq != NULL ? (size_t)(eq - a) : strlen(a);
		const char *v = eq != NULL ? eq + 1 : NULL;
		char key[32];
		char *end;
		uint64_t n;

		if (strcmp(a, "--") == 0) {
			*cmd = i + 1;
			return 0;
		}
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			usage(stdout);
			return 1;
		}
		if (strcmp(a, "--version") == 0) {
			printf("mpdpctl %s (protocol %d)\n", MPDP_CFG_VERSION, MPDP_CTL_VERSION);
			return 1;
		}
		snprintf(key, sizeof(key), "%.*s", (int)(klen < sizeof(key) ? klen : sizeof(key) - 1), a);
		if (strcmp(key, "--json") == 0 && v == NULL) {
			o->json = 1;
			continue;
		}
		if (strcmp(key, "--name") != 0 && strcmp(key, "--runtime-dir") != 0 &&
		    strcmp(key, "--watch") != 0 && strcmp(key, "--timeout") != 0) {
			fprintf(stderr, "mpdpctl: unknown option '%s'\nsee mpdpctl --help\n", a);
			return 2;
		}
		if (v == NULL && i + 1 >= argc) {
			fprintf(stderr, "mpdpctl: option %s needs a value\nsee mpdpctl --help\n", key);
			return 2;
		}
		if (v == NULL)
			v = argv[++i];
		if (strcmp(key, "--name") == 0 || strcmp(key, "--runtime-dir") == 0) {
			if (!instance) {
				fprintf(stderr, "mpdpctl: %s is given when mpdpctl starts, not per "
					"command\n", key);
				return 2;
			}
			if (key[2] == 'n')
				ctl->name = v;
			else
				ctl->runtime_dir = v;
		} else if (strcmp(key, "--watch") == 0) {
			errno = 0;
			o->watch = strtod(v, &end);
			if (errno != 0 || end == v || *end != '\0' || !isfinite(o->watch) ||
			    o->watch < WATCH_MIN || o->watch > WATCH_MAX) {
				fprintf(stderr, "mpdpctl: --watch takes seconds from %.2f to %.0f, not "
					"'%s'\nsee mpdpctl --help\n", WATCH_MIN, WATCH_MAX, v);
				return 2;
			}
		} else {
			if (mpdp_parse_u64(v, 1, TIMEOUT_MAX_MS, &n) != 0) {
				fprintf(stderr, "mpdpctl: --timeout takes milliseconds from 1 to %d, "
					"not '%s'\nsee mpdpctl --help\n", TIMEOUT_MAX_MS, v);
				return 2;
			}
			o->timeout_ms = (int)n;
			o->timeout_set = 1;
		}
	}
	*cmd = i;
	return 0;
}

int
mpdpctl_run_words(struct mpdpctl *ctl, int argc, char **argv)
{
	struct mpdpctl_opts o = ctl->opts;
	const struct mpdpctl_builtin *b;
	struct mpdpctl_cmd c;
	struct mpdp_errbuf eb = { "" };
	int i, rc = parse_opts(ctl, &o, argc, argv, 0, &i);

	if (rc != 0)
		return rc == 1 ? MPDPCTL_EXIT_OK : MPDPCTL_EXIT_USAGE;
	argc -= i;
	argv += i;
	if (argc == 0)
		return o.watch > 0 || o.json ? usage_error(NULL, "no command after the options") :
		       MPDPCTL_EXIT_OK;
	if (strcmp(argv[0], "help") == 0)
		return run_help(ctl, &o, argc - 1, argv + 1);
	memset(&c, 0, sizeof(c));
	mpdppb__request__init(&c.req);
	b = mpdpctl_builtin_find(argv[0]);
	if (b != NULL && b->parse(&c, argc, argv, &eb) != 0)
		return usage_error(b, eb.msg);
	if (b == NULL) {
		if (argv[0][0] == '\0')
			return usage_error(NULL, "empty command word");
		parse_stage_cmd(&c, argc, argv, o.json);
	}
	if (o.watch > 0 && !c.watchable) {
		snprintf(eb.msg, sizeof(eb.msg), "--watch repeats a command that reads; '%s %s' "
			 "changes something", argv[0], argc > 1 ? argv[1] : "");
		return usage_error(b, eb.msg);
	}
	if (b == NULL && stage_cmd_resolve(ctl, &c, o.timeout_ms) == -EINVAL)
		return MPDPCTL_EXIT_USAGE;
	if (o.watch > 0)
		return run_watch(ctl, &c, &o, argc, argv);
	return run_once(ctl, &c, &o);
}

int
main(int argc, char **argv)
{
	struct mpdpctl ctl = {
		.opts = { .timeout_ms = MPDP_CTL_TIMEOUT_MS },
		.fd = -1,
	};
	int i, rc;

	rc = parse_opts(&ctl, &ctl.opts, argc - 1, argv + 1, 1, &i);
	if (rc != 0)
		return rc == 1 ? MPDPCTL_EXIT_OK : MPDPCTL_EXIT_USAGE;
	if (i + 1 == argc)
		rc = mpdpctl_repl(&ctl);
	else
		rc = mpdpctl_run_words(&ctl, argc - 1 - i, argv + 1 + i);
	disconnect(&ctl);
	return rc;
}

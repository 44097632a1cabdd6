/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mpdpctl, the built binary, against a fake control server (fake_server.c)
 * on a unix socket in a private runtime directory: JSON and table outputs,
 * exit codes and messages, the descriptor capture start passes, stage
 * commands, --watch rates, commands read from stdin, and answers that are
 * refusals, wrong, partial or missing.
 *
 * argv[1] is the mpdpctl binary (meson passes it).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fake_server.h"
#include "jcheck.h"

#define RUN_TIMEOUT_S 20

struct ctx {
	const char *ctl;          /* the mpdpctl binary */
	char dir[64];             /* runtime dir: DIR/NAME/ctl.sock */
	char name[32];
	char log[128];            /* the server's request log */
	pid_t server;
	unsigned runs;
};

/* What one run of mpdpctl did. */
struct run {
	int code;                 /* exit code; 128 + signal when killed */
	char *out, *err;
	size_t out_len;
};

/* ---- helpers ---- */

static char *
file_read(const char *path, size_t *len)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t n = 0, cap = 0;

	if (f != NULL) {
		for (;;) {
			if (n + 4096 + 1 > cap) {
				cap = cap ? cap * 2 : 8192;
				buf = realloc(buf, cap);
				assert_non_null(buf);
			}
			size_t got = fread(buf + n, 1, cap - n - 1, f);

			n += got;
			if (got == 0)
				break;
		}
		fclose(f);
	}
	if (buf == NULL)
		buf = calloc(1, 1);
	assert_non_null(buf);
	buf[n] = '\0';
	if (len != NULL)
		*len = n;
	return buf;
}

static void
file_write(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

/* Start mpdpctl --runtime-dir DIR --name NAME ARGS... with @p input on stdin (NULL: /dev/null). */
static pid_t
ctl_spawn(struct ctx *t, const char *input, const char *const *args)
{
	char out[160], err[160], in[160];
	const char *argv[64];
	int n = 0;
	pid_t pid;

	t->runs++;
	snprintf(out, sizeof(out), "%s/out", t->dir);
	snprintf(err, sizeof(err), "%s/err", t->dir);
	snprintf(in, sizeof(in), "%s/in", t->dir);
	if (input != NULL)
		file_write(in, input);
	argv[n++] = t->ctl;
	argv[n++] = "--runtime-dir";
	argv[n++] = t->dir;
	argv[n++] = "--name";
	argv[n++] = t->name;
	for (int i = 0; args[i] != NULL && n < 63; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	fflush(stdout);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int ifd = open(input != NULL ? in : "/dev/null", O_RDONLY);
		int ofd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int efd = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		if (ifd < 0 || ofd < 0 || efd < 0)
			_exit(126);
		dup2(ifd, 0);
		dup2(ofd, 1);
		dup2(efd, 2);
		umask(022);
		signal(SIGINT, SIG_DFL);
		execv(t->ctl, (char *const *)argv);
		_exit(127);
	}
	return pid;
}

static void
ctl_wait(struct ctx *t, pid_t pid, struct run *r)
{
	char path[160];
	int status = 0;
	time_t end = time(NULL) + RUN_TIMEOUT_S;
	pid_t got;

	while ((got = waitpid(pid, &status, WNOHANG)) == 0 && time(NULL) < end)
		usleep(5000);
	if (got == 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		fail_msg("mpdpctl did not finish in %d s", RUN_TIMEOUT_S);
	}
	r->code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	snprintf(path, sizeof(path), "%s/out", t->dir);
	r->out = file_read(path, &r->out_len);
	snprintf(path, sizeof(path), "%s/err", t->dir);
	r->err = file_read(path, NULL);
}

#define ARGS(...) ((const char *const[]){ __VA_ARGS__, NULL })

static void
ctl_run(struct ctx *t, struct run *r, const char *input, const char *const *args)
{
	ctl_wait(t, ctl_spawn(t, input, args), r);
}

static void
run_free(struct run *r)
{
	free(r->out);
	free(r->err);
	memset(r, 0, sizeof(*r));
}

/* Whether some line of @p text is @p row, comparing blank-separated words. */
static int
has_row(const char *text, const char *row)
{
	const char *line = text;

	while (*line != '\0') {
		size_t len = strcspn(line, "\n");
		const char *a = line, *b = row, *aend = line + len;

		for (;;) {
			while (a < aend && (*a == ' ' || *a == '\t'))
				a++;
			while (*b == ' ')
				b++;
			if (a == aend || *b == '\0')
				break;
			size_t wa = strcspn(a, " \t\n"), wb = strcspn(b, " ");

			if (a + wa > aend)
				wa = (size_t)(aend - a);
			if (wa != wb || memcmp(a, b, wa) != 0)
				break;
			a += wa;
			b += wb;
		}
		if (a == aend && *b == '\0')
			return 1;
		line += len + (line[len] == '\n');
	}
	return 0;
}

/* The line of @p text that starts with @p start (blanks before it skipped), or NULL. */
static const char *
line_with(const char *text, const char *start)
{
	for (const char *line = text; *line != '\0';) {
		const char *p = line + strspn(line, " ");

		if (strncmp(p, start, strlen(start)) == 0)
			return line;
		line += strcspn(line, "\n");
		line += *line == '\n';
	}
	return NULL;
}

/* The column where @p word starts in the line @p line. */
static long
column_of(const char *line, const char *word)
{
	const char *p = strstr(line, word);
	const char *nl = strchr(line, '\n');

	assert_non_null(p);
	assert_true(nl == NULL || p < nl);
	return p - line;
}

static unsigned
log_lines(struct ctx *t)
{
	char *text = file_read(t->log, NULL);
	unsigned n = 0;

	for (const char *p = text; *p; p++)
		n += *p == '\n';
	free(text);
	return n;
}

/* Request number @p i (from 0) of the log, as JSON {"passed_fd":..., "request":{...}}. */
static struct jcheck *
log_get(struct ctx *t, unsigned i)
{
	char *text = file_read(t->log, NULL);
	const char *line = text;
	struct jcheck *v;

	for (unsigned k = 0; k < i && line != NULL; k++) {
		line = strchr(line, '\n');
		line = line != NULL ? line + 1 : NULL;
	}
	assert_non_null(line);
	v = jcheck_parse(line, strcspn(line, "\n"));
	assert_non_null(v);
	free(text);
	return v;
}

static struct jcheck *
json_of(const struct run *r)
{
	struct jcheck *v = jcheck_parse(r->out, r->out_len);

	if (v == NULL)
		fail_msg("stdout is not one JSON value: %s", r->out);
	return v;
}

/* ---- setup ---- */

/* A runtime directory with the instance's directory in it, and the fake server on its socket. */
static int
ctx_setup(struct ctx *t)
{
	char inst[128], sock[160];

	snprintf(t->dir, sizeof(t->dir), "/tmp/mpdpctl-test.XXXXXX");
	if (mkdtemp(t->dir) == NULL)
		return -1;
	snprintf(t->name, sizeof(t->name), "t%d", (int)getpid());
	snprintf(inst, sizeof(inst), "%s/%s", t->dir, t->name);
	if (mkdir(inst, 0750) != 0)
		return -1;
	snprintf(sock, sizeof(sock), "%s/ctl.sock", inst);
	snprintf(t->log, sizeof(t->log), "%s/requests.log", t->dir);
	t->server = fake_server_start(sock, t->log);
	return t->server < 0 ? -1 : 0;
}

static int
ctx_teardown(struct ctx *t)
{
	char cmd[256];

	fake_server_stop(t->server);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t->dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* ---- JSON ---- */

static void
test_json_port_list_has_the_ports(void **state)
{
	struct ctx *t = *state;
	unsigned before = log_lines(t);
	struct run r;
	struct jcheck *v, *req;

	ctl_run(t, &r, NULL, ARGS("--json", "port", "list"));
	assert_int_equal(r.code, 0);
	assert_string_equal(r.err, "");
	v = json_of(&r);
	assert_int_equal(jcheck_get(v, "ports")->type, JC_ARR);
	assert_int_equal(jcheck_get(v, "ports")->n, 2);
	assert_string_equal(jcheck_str(v, "ports.0.name"), "p0");
	assert_string_equal(jcheck_str(v, "ports.0.state"), "started");
	assert_int_equal(jcheck_get(v, "ports.0.link")->type, JC_BOOL);
	assert_string_equal(jcheck_num(v, "ports.0.rx_packets"), "1000");
	assert_string_equal(jcheck_num(v, "ports.1.lcore"), "-1");
	assert_string_equal(jcheck_str(v, "ports.1.patch_to"), "");
	assert_null(jcheck_get(v, "status"));   /* no status/message when it went well */
	assert_null(jcheck_get(v, "message"));
	jcheck_free(v);
	/* What went: one PortReq LIST for every port. */
	assert_int_equal(log_lines(t), before + 1);
	req = log_get(t, before);
	assert_string_equal(jcheck_str(req, "request.port.op"), "LIST");
	assert_string_equal(jcheck_str(req, "request.port.name"), "");
	assert_string_equal(jcheck_num(req, "request.version"), "1");
	jcheck_free(req);
	run_free(&r);
}

static void
test_json_status_keeps_64_bit_values_exact(void **state)
{
	struct ctx *t = *state;
	struct run r;
	struct jcheck *v;

	ctl_run(t, &r, NULL, ARGS("--json", "status"));
	assert_int_equal(r.code, 0);
	v = json_of(&r);
	assert_string_equal(jcheck_str(v, "name"), "fake");
	assert_string_equal(jcheck_num(v, "mem_total"), "1099511627781");
	assert_string_equal(jcheck_num(v, "uptime_ns"), "3723000000000");
	assert_string_equal(jcheck_str(v, "workers.1.name"), "fw1/0");
	assert_string_equal(jcheck_num(v, "workers.1.cpu"), "-1");
	assert_int_equal(jcheck_get(v, "hugepages")->b, 1);
	jcheck_free(v);
	run_free(&r);
}

static void
test_json_of_every_list_parses(void **state)
{
	static const char *const cmds[][3] = {
		{ "ring", "list", "rings.1.capture" }, { "ring", "stats", "rings.0.enqueued" },
		{ "pool", "stats", "pools.0.in_use" }, { "patch", "list", "patches.0.dst" },
		{ "stage", "list", "stages.0.commands.1.args" }, { "stage", "stats", "stages.2.heartbeat_age_ns" },
		{ "capture", "list", "captures.0.error" }, { "port", "stats", "ports.1.tx_bytes" },
	};
	struct ctx *t = *state;

	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		struct run r;
		struct jcheck *v;

		ctl_run(t, &r, NULL, ARGS("--json", cmds[i][0], cmds[i][1]));
		assert_int_equal(r.code, 0);
		v = json_of(&r);
		if (jcheck_get(v, cmds[i][2]) == NULL)
			fail_msg("%s %s: no %s in %s", cmds[i][0], cmds[i][1], cmds[i][2], r.out);
		jcheck_free(v);
		run_free(&r);
	}
}

static void
test_json_of_an_action_is_status_and_message(void **state)
{
	struct ctx *t = *state;
	struct run r;
	struct jcheck *v;

	ctl_run(t, &r, NULL, ARGS("--json", "port", "start", "p0"));
	assert_int_equal(r.code, 0);
	v = json_of(&r);
	assert_string_equal(jcheck_num(v, "status"), "0");
	assert_string_equal(jcheck_str(v, "message"), "port p0: done");
	jcheck_free(v);
	run_free(&r);
}

/* Python's json module agrees, where there is a python3 to ask. */
static void
test_json_parses_with_python_too(void **state)
{
	struct ctx *t = *state;
	char cmd[512];
	struct run r;

	if (system("command -v python3 >/dev/null 2>&1") != 0) {
		printf("# python3 not found: only the C reader checked the JSON\n");
		return;
	}
	ctl_run(t, &r, NULL, ARGS("--json", "stage", "stats"));
	assert_int_equal(r.code, 0);
	snprintf(cmd, sizeof(cmd), "python3 -c 'import json,sys; d=json.load(sys.stdin); "
		 "assert d[\"stages\"][0][\"outputs\"][1][\"ring\"] == \"r1\"' < '%s/out'", t->dir);
	assert_int_equal(system(cmd), 0);
	run_free(&r);
}

/* ---- tables ---- */

static void
test_port_list_table_is_aligned(void **state)
{
	struct ctx *t = *state;
	const char *head, *row;
	struct run r;

	ctl_run(t, &r, NULL, ARGS("port", "list"));
	assert_int_equal(r.code, 0);
	assert_true(has_row(r.out, "NAME DRIVER STATE LINK LCORE PATCH"));
	assert_true(has_row(r.out, "p0 null started up 2 p1"));
	assert_true(has_row(r.out, "p1 null stopped down - -"));
	head = line_with(r.out, "NAME");
	row = line_with(r.out, "p1");
	assert_non_null(head);
	assert_non_null(row);
	assert_int_equal(column_of(head, "DRIVER"), column_of(row, "null"));
	assert_int_equal(column_of(head, "STATE"), column_of(row, "stopped"));
	run_free(&r);
}

static void
test_tables_of_every_command(void **state)
{
	static const char *const cases[][4] = {
		{ "port", "stats", "NAME RX-PACKETS RX-BYTES RX-MISSED RX-ERRORS TX-PACKETS TX-BYTES "
		  "TX-ERRORS TX-DROPS", "p0 1000 64000 3 0 500 32000 0 0" },
		{ "ring", "list", "NAME SIZE COUNT FREE SYNC CAPTURE USERS",
		  "r0 1024 3 1021 sp/mc - port:p0 rx, fw1 in" },
		{ "ring", "stats", "NAME SIZE COUNT FREE USE% ENQUEUED DEQUEUED", "r0 1024 3 1021 0 10 7" },
		{ "pool", "list", "NAME SIZE OBJ-SIZE CACHE AVAILABLE CACHED IN-USE USE%",
		  "mbufs 8192 2176 256 8000 100 92 1" },
		{ "patch", "list", "SRC DST", "p0 p1" },
		{ "stage", "list", "ID KIND STATE PID WORKERS RESTARTS CTL SUPERVISOR INPUTS OUTPUTS",
		  "fw1 fw running 300 1 0 yes - r0 drop:-,out:r1" },
		{ "stage", "list", "ID KIND STATE PID WORKERS RESTARTS CTL SUPERVISOR INPUTS OUTPUTS",
		  "nat1 nat running 301 0 0 yes running, 2 restarts - -" },
		{ "stage", "list", "ID KIND STATE PID WORKERS RESTARTS CTL SUPERVISOR INPUTS OUTPUTS",
		  "mon1 mon down 0 0 0 no backoff 0.4s, 3 restarts - -" },
		{ "stage", "stats", "ID STATE IN-PACKETS IN-BYTES SENT DROPPED IN-HAND BUSY% HEARTBEAT "
		  "SUPERVISOR", "fw1 running 100 6400 95 5 0 25.0 1.5ms -" },
		{ "capture", "list", "ID TARGET STATE SNAPLEN LIMIT MATCHED WRITTEN DROPPED FILE FILTER ERROR",
		  "7 p0 running max - 12 11 1 /tmp/x.pcapng tcp -" },
		{ "capture", "list", "ID TARGET STATE SNAPLEN LIMIT MATCHED WRITTEN DROPPED FILE FILTER ERROR",
		  "3 p0 failed max - 0 0 0 /tmp/old.pcapng - disk full" },
	};
	struct ctx *t = *state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct run r;

		ctl_run(t, &r, NULL, ARGS(cases[i][0], cases[i][1]));
		assert_int_equal(r.code, 0);
		if (!has_row(r.out, cases[i][2]) || !has_row(r.out, cases[i][3]))
			fail_msg("%s %s: want header '%s' and row '%s' in:\n%s", cases[i][0], cases[i][1],
				 cases[i][2], cases[i][3], r.out);
		run_free(&r);
	}
}

static void
test_stage_stats_lists_outputs_and_never_beat(void **state)
{
	struct ctx *t = *state;
	struct run r;

	ctl_run(t, &r, NULL, ARGS("stage", "stats"));
	assert_int_equal(r.code, 0);
	assert_true(has_row(r.out, "mon1 down 0 0 0 0 0 - never backoff 0.4s, 3 restarts"));
	assert_true(has_row(r.out, "ID OUTPUT RING PACKETS BYTES DROPS"));
	assert_true(has_row(r.out, "fw1 out r1 95 0 0"));
	assert_true(has_row(r.out, "fw1 drop - 5 0 0"));
	run_free(&r);
}

static void
test_status_text(void **state)
{
	struct ctx *t = *state;
	struct run r;

	ctl_run(t, &r, NULL, ARGS("status"));
	assert_int_equal(r.code, 0);
	assert_true(has_row(r.out, "instance fake"));
	assert_true(has_row(r.out, "primary pid 4242, up 01:02:03"));
	assert_true(has_row(r.out, "ID NAME PID CPU"));
	assert_true(has_row(r.out, "1 fw1/0 101 -"));
	run_free(&r);
}

/* ---- errors ---- */

static void
test_refusal_exits_1_with_the_message(void **state)
{
	struct ctx *t = *state;
	struct run r;
	struct jcheck *v;

	ctl_run(t, &r, NULL, ARGS("port", "stats", "nosuch"));
	assert_int_equal(r.code, 1);
	assert_string_equal(r.err, "mpdpctl: no such thing: 'nosuch'\n");
	assert_string_equal(r.out, "");
	run_free(&r);

	/* With --json, stdout still holds one value: the refusal. */
	ctl_run(t, &r, NULL, ARGS("--json", "port", "stats", "nosuch"));
	assert_int_equal(r.code, 1);
	assert_string_equal(r.err, "mpdpctl: no such thing: 'nosuch'\n");
	v = json_of(&r);
	assert_string_equal(jcheck_num(v, "status"), "2");
	assert_string_equal(jcheck_str(v, "message"), "no such thing: 'nosuch'");
	assert_non_null(jcheck_str(v, "error"));
	assert_null(jcheck_get(v, "ports"));
	jcheck_free(v);
	run_free(&r);
}

static void
test_bad_arguments_exit_2_and_send_nothing(void **state)
{
	static const struct {
		const char *args[6];
		const char *what;     /* in the message */
		const char *usage;    /* the usage line of the command */
	} cases[] = {
		{ { "port", "stop" }, "port stop: missing the port NAME", "usage: mpdpctl port" },
		{ { "port", "frob" }, "port: unknown operation 'frob'", "usage: mpdpctl port" },
		{ { "port", "list", "p0", "p1" }, "unexpected argument 'p1'", "usage: mpdpctl port" },
		{ { "ring", "create", "r9", "100" }, "SIZE must be a power of two", "ring create NAME SIZE" },
		{ { "ring", "create", "r9", "64", "mpmc" }, "'mpmc' is not a flag", "ring create" },
		{ { "capture", "start", "p0" }, "missing -w FILE", "usage: mpdpctl capture start" },
		{ { "capture", "start", "-w", "/tmp/x" }, "missing the TARGET", "capture start" },
		{ { "capture", "start", "p0", "--snaplen", "big", "-w" }, "--snaplen takes bytes", "capture" },
		{ { "capture", "stop", "x" }, "capture stop: ID is a capture id", "capture stop [ID]" },
		{ { "log", "level", "primary", "loud" }, "unknown LEVEL 'loud'", "log level COMPONENT LEVEL" },
		{ { "stage", "launch" }, "stage launch: missing the stage ID", "stage launch ID -- PROGRAM" },
		{ { "stage", "launch", "fw2", "--" }, "stage launch fw2: missing the PROGRAM",
		  "usage: mpdpctl stage" },
		{ { "stage", "launch", "f/2", "--", "mpdp-fw" }, "stage ID 'f/2' may hold only letters",
		  "usage: mpdpctl stage" },
		{ { "stage", "restart" }, "stage restart: missing the stage ID", "stage restart ID" },
		{ { "stage", "restart", "fw1", "now" }, "unexpected argument 'now'", "stage restart ID" },
		{ { "--watch", "0", "status" }, "--watch takes seconds", "--help" },
		{ { "--watch", "1", "port", "start", "p0" }, "--watch repeats a command that reads",
		  "usage: mpdpctl port" },
		{ { "--bogus", "status" }, "unknown option '--bogus'", "--help" },
		{ { "--timeout" }, "option --timeout needs a value", "--help" },
		{ { "status", "now" }, "status: unexpected argument 'now'", "usage: mpdpctl status" },
		{ { "help", "port", "x" }, "help: unexpected argument 'x'", "usage: mpdpctl help" },
	};
	struct ctx *t = *state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		unsigned before = log_lines(t);
		struct run r;

		ctl_run(t, &r, NULL, cases[i].args);
		assert_int_equal(r.code, 2);
		if (strstr(r.err, cases[i].what) == NULL || strstr(r.err, cases[i].usage) == NULL ||
		    strncmp(r.err, "mpdpctl: ", 9) != 0)
			fail_msg("case %zu: want '%s' and '%s' in stderr:\n%s", i, cases[i].what,
				 cases[i].usage, r.err);
		assert_string_equal(r.out, "");
		assert_int_equal(log_lines(t), before);
		run_free(&r);
	}
}

static void
test_unknown_command_is_a_usage_error(void **state)
{
	struct ctx *t = *state;
	struct run r;

	/* Not built in, nor a stage kind or id the instance knows. */
	ctl_run(t, &r, NULL, ARGS("prot", "list"));
	assert_int_equal(r.code, 2);
	assert_non_null(strstr(r.err, "mpdpctl: unknown command 'prot'"));
	assert_string_equal(r.out, "");
	run_free(&r);
}

static void
test_connection_failure_names_the_socket(void **state)
{
	struct ctx *t = *state;
	char want[256];
	struct run r;

	ctl_run(t, &r, NULL, ARGS("--name", "ghost", "status"));
	assert_int_equal(r.code, 1);
	snprintf(want, sizeof(want), "mpdpctl: instance 'ghost' is not running (nothing serves "
		 "%s/ghost/ctl.sock)\n", t->dir);
	assert_string_equal(r.err, want);
	assert_string_equal(r.out, "");
	run_free(&r);
}

static void
test_no_answer_in_time(void **state)
{
	struct ctx *t = *state;
	struct run r;

	ctl_run(t, &r, NULL, ARGS("--timeout", "200", "port", "list", "hang"));
	assert_int_equal(r.code, 1);
	assert_string_equal(r.err, "mpdpctl: no answer in time\n");
	run_free(&r);
}

/* Whatever comes back, mpdpctl says something and exits 0 or 1: never a crash. */
static void
test_odd_answers_never_crash(void **state)
{
	static const struct {
		const char *args[5];
		int code;
		const char *err;      /* in stderr, or NULL for none */
	} cases[] = {
		{ { "port", "list", "garbage" }, 1, "not a valid Response" },
		{ { "port", "list", "close" }, 1, "closed the connection" },
		{ { "port", "list", "wrongid" }, 1, "the answer is for request" },
		{ { "port", "list", "mismatch" }, 0, NULL },
		{ { "port", "list", "empty" }, 0, NULL },
		{ { "--json", "port", "list", "mismatch" }, 0, NULL },
		{ { "--json", "ring", "stats", "empty" }, 0, NULL },
		{ { "--json", "port", "list", "garbage" }, 1, "not a valid Response" },
	};
	struct ctx *t = *state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct run r;

		ctl_run(t, &r, NULL, cases[i].args);
		if (r.code != cases[i].code)
			fail_msg("case %zu: exit %d, want %d; stderr: %s", i, r.code, cases[i].code, r.err);
		if (cases[i].err != NULL)
			assert_non_null(strstr(r.err, cases[i].err));
		else
			assert_string_equal(r.err, "");
		if (strcmp(cases[i].args[0], "--json") == 0 && r.code == 0)
			jcheck_free(json_of(&r));
		run_free(&r);
	}
}

/* ---- capture ---- */

static void
test_capture_start_passes_the_file(void **state)
{
	struct ctx *t = *state;
	char file[160], *content;
	unsigned before = log_lines(t);
	struct jcheck *req;
	struct stat st;
	struct run r;

	snprintf(file, sizeof(file), "%s/cap.pcapng", t->dir);
	file_write(file, "old content, to be truncated");
	ctl_run(t, &r, NULL, ARGS("capture", "start", "p0", "--filter", "tcp port 80", "--snaplen=128",
				  "--count", "10", "-w", file));
	assert_int_equal(r.code, 0);
	assert_string_equal(r.out, "7\n");
	assert_string_equal(r.err, "");
	/* The fake server wrote one byte through the descriptor it received. */
	content = file_read(file, NULL);
	assert_string_equal(content, "X");
	free(content);
	assert_int_equal(stat(file, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0644);
	assert_int_equal(st.st_uid, getuid());
	req = log_get(t, before);
	assert_true(jcheck_get(req, "passed_fd")->b);
	assert_string_equal(jcheck_str(req, "request.capture.op"), "START");
	assert_string_equal(jcheck_str(req, "request.capture.target"), "p0");
	assert_string_equal(jcheck_str(req, "request.capture.filter"), "tcp port 80");
	assert_string_equal(jcheck_num(req, "request.capture.snaplen"), "128");
	assert_string_equal(jcheck_num(req, "request.capture.count"), "10");
	assert_string_equal(jcheck_str(req, "request.capture.file"), file);
	jcheck_free(req);
	run_free(&r);
}

static void
test_capture_start_json_and_a_new_file(void **state)
{
	struct ctx *t = *state;
	char file[160];
	struct jcheck *v;
	struct run r;

	snprintf(file, sizeof(file), "%s/new.pcapng", t->dir);
	unlink(file);
	ctl_run(t, &r, NULL, ARGS("--json", "capture", "start", "-w", file, "r1"));
	assert_int_equal(r.code, 0);
	v = json_of(&r);
	/* The whole list, as the primary answers, and which one is ours. */
	assert_int_equal(jcheck_get(v, "captures")->n, 3);
	assert_string_equal(jcheck_num(v, "captures.2.id"), "7");
	assert_string_equal(jcheck_str(v, "captures.2.target"), "r1");
	assert_string_equal(jcheck_str(v, "captures.2.file"), file);
	assert_string_equal(jcheck_num(v, "capture_id"), "7");
	jcheck_free(v);
	assert_int_equal(access(file, F_OK), 0);
	run_free(&r);
}

static void
test_capture_stop_says_so_and_shows_the_figures(void **state)
{
	struct ctx *t = *state;
	struct jcheck *req;
	struct run r;

	ctl_run(t, &r, NULL, ARGS("capture", "stop", "7"));
	assert_int_equal(r.code, 0);
	assert_int_equal(strncmp(r.out, "capture 7 stopped\n", 18), 0);
	assert_true(has_row(r.out, "7 p0 running max - 12 11 1 /tmp/x.pcapng tcp -"));
	req = log_get(t, log_lines(t) - 1);
	assert_string_equal(jcheck_str(req, "request.capture.op"), "STOP");
	assert_string_equal(jcheck_num(req, "request.capture.capture_id"), "7");
	jcheck_free(req);
	run_free(&r);
}

static void
test_capture_file_not_made_without_an_instance(void **state)
{
	struct ctx *t = *state;
	char file[160];
	struct run r;

	snprintf(file, sizeof(file), "%s/never.pcapng", t->dir);
	ctl_run(t, &r, NULL, ARGS("--name", "ghost", "capture", "start", "p0", "-w", file));
	assert_int_equal(r.code, 1);
	assert_int_equal(access(file, F_OK), -1);
	run_free(&r);
}

/* ---- stage commands and help ---- */

static void
test_stage_command_by_kind_and_id(void **state)
{
	struct ctx *t = *state;
	unsigned before;
	struct jcheck *req;
	struct run r;

	/* KIND ID WORDS: the stage is the id, the words go as they are. */
	before = log_lines(t);
	ctl_run(t, &r, NULL, ARGS("fw", "fw1", "rule", "add", "allow tcp to port 22"));
	assert_int_equal(r.code, 0);
	assert_string_equal(r.out, "fw1: [rule] [add] [allow tcp to port 22]\n");
	req = log_get(t, log_lines(t) - 1);
	assert_string_equal(jcheck_str(req, "request.stage_cmd.stage"), "fw1");
	assert_int_equal(jcheck_get(req, "request.stage_cmd.args")->n, 3);
	assert_string_equal(jcheck_str(req, "request.stage_cmd.args.2"), "allow tcp to port 22");
	assert_int_equal(jcheck_get(req, "request.stage_cmd.json")->b, 0);
	jcheck_free(req);
	assert_true(log_lines(t) > before);
	run_free(&r);

	/* KIND WORDS: the kind goes as the stage, for the primary to resolve. */
	ctl_run(t, &r, NULL, ARGS("fw", "rule", "list"));
	assert_int_equal(r.code, 0);
	req = log_get(t, log_lines(t) - 1);
	assert_string_equal(jcheck_str(req, "request.stage_cmd.stage"), "fw");
	assert_string_equal(jcheck_str(req, "request.stage_cmd.args.0"), "rule");
	assert_string_equal(jcheck_str(req, "request.stage_cmd.args.1"), "list");
	jcheck_free(req);
	run_free(&r);

	/* ID WORDS */
	ctl_run(t, &r, NULL, ARGS("nat1", "session", "list"));
	assert_int_equal(r.code, 0);
	assert_string_equal(r.out, "nat1: [session] [list]\n");
	run_free(&r);
}

/* stage launch and restart: what goes to the primary. */
static void
test_stage_launch_and_restart_requests(void **state)
{
	struct ctx *t = *state;
	struct jcheck *req;
	char cwd[4096], want[4200];
	struct run r;

	/* A relative PROGRAM path is made absolute: the primary runs it from its own directory. */
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	ctl_run(t, &r, NULL, ARGS("stage", "launch", "fw2", "--", "build/mpdp-fw", "--in", "a", "--out",
				  "out=b"));
	assert_int_equal(r.code, 0);
	req = log_get(t, log_lines(t) - 1);
	assert_string_equal(jcheck_str(req, "request.stage.op"), "LAUNCH");
	assert_string_equal(jcheck_str(req, "request.stage.id"), "fw2");
	assert_int_equal(jcheck_get(req, "request.stage.argv")->n, 5);
	snprintf(want, sizeof(want), "%s/build/mpdp-fw", cwd);
	assert_string_equal(jcheck_str(req, "request.stage.argv.0"), want);
	assert_string_equal(jcheck_str(req, "request.stage.argv.4"), "out=b");
	jcheck_free(req);
	run_free(&r);

	/* Without "--", and a PROGRAM name as it is (the primary looks it up). */
	ctl_run(t, &r, NULL, ARGS("stage", "launch", "fw3", "mpdp-fw", "--in", "a"));
	assert_int_equal(r.code, 0);
	req = log_get(t, log_lines(t) - 1);
	assert_string_equal(jcheck_str(req, "request.stage.argv.0"), "mpdp-fw");
	assert_string_equal(jcheck_str(req, "request.stage.argv.1"), "--in");
	jcheck_free(req);
	run_free(&r);

	ctl_run(t, &r, NULL, ARGS("--json", "stage", "restart", "fw1"));
	assert_int_equal(r.code, 0);
	req = log_get(t, log_lines(t) - 1);
	assert_string_equal(jcheck_str(req, "request.stage.op"), "RESTART");
	assert_string_equal(jcheck_str(req, "request.stage.id"), "fw1");
	jcheck_free(req);
	run_free(&r);
}

/* The supervision fields come in the JSON of stage list, every one of them. */
static void
test_stage_list_json_has_supervision(void **state)
{
	struct ctx *t = *state;
	struct jcheck *v;
	struct run r;

	ctl_run(t, &r, NULL, ARGS("--json", "stage", "list"));
	assert_int_equal(r.code, 0);
	v = json_of(&r);
	assert_int_equal(jcheck_get(v, "stages.0.supervised")->b, 0);
	assert_string_equal(jcheck_str(v, "stages.0.supervisor_state"), "");
	assert_int_equal(jcheck_get(v, "stages.1.supervised")->b, 1);
	assert_string_equal(jcheck_str(v, "stages.1.supervisor_state"), "running");
	assert_string_equal(jcheck_num(v, "stages.1.supervisor_restarts"), "2");
	assert_string_equal(jcheck_str(v, "stages.2.supervisor_state"), "backoff");
	assert_string_equal(jcheck_num(v, "stages.2.recent_failures"), "4");
	assert_string_equal(jcheck_str(v, "stages.2.last_exit"), "exit 1");
	assert_non_null(jcheck_get(v, "stages.2.backoff_until_ns"));
	assert_non_null(jcheck_get(v, "stages.0.reclaimed"));
	assert_non_null(jcheck_get(v, "stages.0.reclaims"));
	assert_non_null(jcheck_get(v, "stages.0.argv"));
	jcheck_free(v);
	run_free(&r);
}

static void
test_stage_command_json_is_the_stage_output(void **state)
{
	struct ctx *t = *state;
	struct jcheck *v, *req;
	struct run r;

	ctl_run(t, &r, NULL, ARGS("--json", "fw", "rule", "list"));
	assert_int_equal(r.code, 0);
	/* As the stage wrote it, trimmed, on one line. */
	assert_string_equal(r.out, "{\"stage\":\"fw1\",\"args\":[\"rule\",\"list\"]}\n");
	v = json_of(&r);
	assert_string_equal(jcheck_str(v, "stage"), "fw1");
	jcheck_free(v);
	req = log_get(t, log_lines(t) - 1);
	assert_int_equal(jcheck_get(req, "request.stage_cmd.json")->b, 1);
	jcheck_free(req);
	run_free(&r);
}

static void
test_stage_command_refused(void **state)
{
	struct ctx *t = *state;
	struct run r;

	ctl_run(t, &r, NULL, ARGS("fw", "fail", "now"));
	assert_int_equal(r.code, 1);
	assert_string_equal(r.err, "mpdpctl: fw1: bad rule\n");
	run_free(&r);
}

static void
test_help_lists_stage_commands(void **state)
{
	struct ctx *t = *state;
	struct jcheck *v;
	struct run r;

	ctl_run(t, &r, NULL, ARGS("help", "fw"));
	assert_int_equal(r.code, 0);
	assert_true(has_row(r.out, "fw rule add RULE add a rule"));
	assert_true(has_row(r.out, "fw stats counters per rule"));
	assert_null(strstr(r.out, "session"));
	run_free(&r);

	ctl_run(t, &r, NULL, ARGS("help"));
	assert_int_equal(r.code, 0);
	assert_non_null(strstr(r.out, "usage: mpdpctl"));
	assert_true(has_row(r.out, "nat session list the NAT sessions"));
	assert_non_null(strstr(r.out, "mon (mon1): not registered"));
	run_free(&r);

	ctl_run(t, &r, NULL, ARGS("--json", "help"));
	assert_int_equal(r.code, 0);
	v = json_of(&r);
	assert_string_equal(jcheck_str(v, "commands.0.name"), "status");
	assert_string_equal(jcheck_str(v, "stages.0.commands.1.name"), "rule add");
	jcheck_free(v);
	run_free(&r);

	ctl_run(t, &r, NULL, ARGS("help", "nope"));
	assert_int_equal(r.code, 2);
	assert_non_null(strstr(r.err, "'nope' is not a command"));
	run_free(&r);
}

/* ---- --watch ---- */

static unsigned
count_of(const char *text, const char *what)
{
	unsigned n = 0;

	for (const char *p = text; (p = strstr(p, what)) != NULL; p++)
		n++;
	return n;
}

/* Run with --watch until @p frames samples are out (each has @p marker), then Ctrl-C. */
static void
watch_run(struct ctx *t, struct run *r, const char *const *args, const char *marker,
	  unsigned frames)
{
	pid_t pid = ctl_spawn(t, NULL, args);
	char path[160];
	time_t end = time(NULL) + RUN_TIMEOUT_S;
	unsigned n = 0;

	snprintf(path, sizeof(path), "%s/out", t->dir);
	while (n < frames && time(NULL) < end) {
		char *out = file_read(path, NULL);

		n = count_of(out, marker);
		free(out);
		usleep(20000);
	}
	kill(pid, SIGINT);
	ctl_wait(t, pid, r);
	assert_true(n >= frames);
}

static void
test_watch_redraws_with_rates(void **state)
{
	struct ctx *t = *state;
	struct run r;

	watch_run(t, &r, ARGS("--watch", "0.1", "port", "stats"), "every 0.1s: port stats", 3);
	assert_int_equal(r.code, 0);
	assert_string_equal(r.err, "");
	assert_true(count_of(r.out, "every 0.1s: port stats") >= 3);
	/* Not a terminal: blocks one after the other, no escape sequences. */
	assert_null(strchr(r.out, '\033'));
	assert_true(has_row(r.out, "NAME RX-PACKETS RX-BYTES RX-MISSED RX-ERRORS TX-PACKETS TX-BYTES "
				   "TX-ERRORS TX-DROPS RX-PPS RX-BIT/S TX-PPS TX-BIT/S"));
	/* First sample: no rates yet. Then 1000 pkt and 64000 B per (fake) second. */
	assert_true(has_row(r.out, "p0 1000 64000 3 0 500 32000 0 0 - - - -"));
	assert_true(has_row(r.out, "p0 2000 128000 3 0 1000 64000 0 0 1.00k 512.00k 500 256.00k"));
	run_free(&r);
}

static void
test_watch_json_is_one_value_per_line(void **state)
{
	struct ctx *t = *state;
	unsigned lines = 0;
	struct run r;

	watch_run(t, &r, ARGS("--json", "--watch", "0.1", "stage", "stats"), "\"now_ns\"", 3);
	assert_int_equal(r.code, 0);
	for (char *line = r.out, *nl; (nl = strchr(line, '\n')) != NULL; line = nl + 1) {
		struct jcheck *v = jcheck_parse(line, (size_t)(nl - line));

		assert_non_null(v);
		assert_non_null(jcheck_get(v, "stages.0.in_packets"));
		assert_non_null(jcheck_num(v, "now_ns"));
		if (lines == 0)
			assert_int_equal(jcheck_get(v, "rates.0.in_pps")->type, JC_NULL);
		else
			assert_string_equal(jcheck_num(v, "rates.0.in_pps"), "100.000");
		assert_string_equal(jcheck_str(v, "rates.0.id"), "fw1");
		jcheck_free(v);
		lines++;
	}
	assert_true(lines >= 3);
	run_free(&r);
}

static void
test_watch_stops_on_a_refusal(void **state)
{
	struct ctx *t = *state;
	struct run r;

	ctl_run(t, &r, NULL, ARGS("--watch", "0.1", "port", "stats", "nosuch"));
	assert_int_equal(r.code, 1);
	assert_string_equal(r.err, "mpdpctl: no such thing: 'nosuch'\n");
	run_free(&r);
}

/* ---- commands from stdin ---- */

static void
test_stdin_runs_each_line(void **state)
{
	struct ctx *t = *state;
	unsigned before = log_lines(t);
	struct run r;

	ctl_run(t, &r, "status\n# a comment\n\n  port list\n", ARGS("--timeout", "2000"));
	assert_int_equal(r.code, 0);
	assert_string_equal(r.err, "");
	assert_true(has_row(r.out, "instance fake"));
	assert_true(has_row(r.out, "p0 null started up 2 p1"));
	assert_null(strstr(r.out, "mpdp>"));      /* no prompt when stdin is no terminal */
	assert_int_equal(log_lines(t), before + 2);
	run_free(&r);
}

static void
test_stdin_goes_on_after_errors(void **state)
{
	struct ctx *t = *state;
	struct run r;

	ctl_run(t, &r, "port stats nosuch\nfw 'unterminated\n--json patch list\n"
		"fw fw1 rule add \"allow tcp to port 22\"\n", ARGS("--timeout", "2000"));
	assert_int_equal(r.code, 2);        /* the last line that failed: 2, a usage error */
	assert_non_null(strstr(r.err, "mpdpctl: no such thing: 'nosuch'\n"));
	assert_non_null(strstr(r.err, "mpdpctl: line 2: unterminated single quote\n"));
	assert_non_null(strstr(r.out, "{\"patches\":[{\"src\":\"p0\",\"dst\":\"p1\"}]}\n"));
	assert_non_null(strstr(r.out, "fw1: [rule] [add] [allow tcp to port 22]\n"));
	run_free(&r);
}

static void
test_stdin_quit_stops_reading(void **state)
{
	struct ctx *t = *state;
	unsigned before = log_lines(t);
	struct run r;

	ctl_run(t, &r, "pool list\nquit\nstatus\n", ARGS("--timeout", "2000"));
	assert_int_equal(r.code, 0);
	assert_true(has_row(r.out, "mbufs 8192 2176 256 8000 100 92 1"));
	assert_null(strstr(r.out, "instance"));
	assert_int_equal(log_lines(t), before + 1);
	run_free(&r);
}

/* ---- the prompt, on a pseudo-terminal ---- */

/* Read from @p fd into @p buf until @p want shows up after *seen; @return 1 when it did. */
static int
pty_expect(int fd, char *buf, size_t size, size_t *len, size_t *seen, const char *want)
{
	time_t end = time(NULL) + RUN_TIMEOUT_S;

	for (;;) {
		char *hit = strstr(buf + *seen, want);
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (hit != NULL) {
			*seen = (size_t)(hit - buf) + strlen(want);
			return 1;
		}
		if (time(NULL) >= end || *len + 1 >= size || poll(&pfd, 1, 100) < 0)
			return 0;
		if (!(pfd.revents & (POLLIN | POLLHUP)))
			continue;
		n = read(fd, buf + *len, size - *len - 1);
		if (n <= 0)
			return strstr(buf + *seen, want) != NULL;
		*len += (size_t)n;
		buf[*len] = '\0';
	}
}

static void
pty_say(int fd, const char *keys)
{
	assert_int_equal(write(fd, keys, strlen(keys)), (ssize_t)strlen(keys));
}

static void
test_prompt_completes_and_keeps_history(void **state)
{
	static const struct {
		const char *keys;
		const char *want;     /* what the terminal shows next */
	} steps[] = {
		{ "", "mpdp> " },
		{ "po\t", "pool  port" },                /* two candidates: both listed */
		{ "rt li\t", "st " },                    /* one: completed, with a blank */
		{ "\r", "p1    null    stopped" },       /* run as on the command line */
		{ "", "mpdp> " },                         /* (keys typed sooner would echo) */
		{ "port stats p\t", "p0  p1" },          /* names from the instance */
		{ "\x15" "fw fw1 ru\t", "le " },         /* a stage's declared commands */
		{ "a\t", "dd " },
		{ "'allow tcp'\r", "fw1: [rule] [add] [allow tcp]" },
		{ "", "mpdp> " },
		{ "port li", "port li" },
		{ "\x03", "mpdp> " },                    /* Ctrl-C drops the line */
		{ "bogus\r", "unknown command 'bogus'" }, /* errors print, the prompt goes on */
		{ "", "mpdp> " },
		{ "stage la\t", "unch " },               /* stage launch ID -- PROGRAM */
		{ "fw9 \t", "-- " },
		{ "mpdp-n\t", "at " },
		{ "\x15" "quit\r", "quit" },
	};
	struct ctx *t = *state;
	char home[160], hist[200], buf[65536] = "", *text;
	size_t len = 0, seen = 0;
	int mfd, status;
	pid_t pid;

	snprintf(home, sizeof(home), "%s/home", t->dir);
	assert_int_equal(mkdir(home, 0700), 0);
	mfd = posix_openpt(O_RDWR | O_NOCTTY);
	assert_true(mfd >= 0);
	assert_int_equal(grantpt(mfd), 0);
	assert_int_equal(unlockpt(mfd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int sfd;

		setsid();
		sfd = open(ptsname(mfd), O_RDWR);
		if (sfd < 0)
			_exit(126);
		ioctl(sfd, TIOCSCTTY, 0);
		dup2(sfd, 0);
		dup2(sfd, 1);
		dup2(sfd, 2);
		close(mfd);
		setenv("HOME", home, 1);
		setenv("TERM", "xterm", 1);
		signal(SIGINT, SIG_DFL);
		execl(t->ctl, t->ctl, "--runtime-dir", t->dir, "--name", t->name, (char *)NULL);
		_exit(127);
	}
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		pty_say(mfd, steps[i].keys);
		if (!pty_expect(mfd, buf, sizeof(buf), &len, &seen, steps[i].want)) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			fail_msg("step %zu: no '%s' in what the terminal showed:\n%s", i, steps[i].want,
				 buf);
		}
	}
	pty_expect(mfd, buf, sizeof(buf), &len, &seen, "no such text: read to the end");
	assert_int_equal(waitpid(pid, &status, 0), pid);
	close(mfd);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	snprintf(hist, sizeof(hist), "%s/.mpdpctl_history", home);
	text = file_read(hist, NULL);
	assert_non_null(strstr(text, "port\\040list"));   /* libedit's history encodes blanks */
	assert_non_null(strstr(text, "bogus"));
	free(text);
}

int
main(int argc, char **argv)
{
	struct ctx t = { 0 };
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_prestate(test_json_port_list_has_the_ports, &t),
		cmocka_unit_test_prestate(test_json_status_keeps_64_bit_values_exact, &t),
		cmocka_unit_test_prestate(test_json_of_every_list_parses, &t),
		cmocka_unit_test_prestate(test_json_of_an_action_is_status_and_message, &t),
		cmocka_unit_test_prestate(test_json_parses_with_python_too, &t),
		cmocka_unit_test_prestate(test_port_list_table_is_aligned, &t),
		cmocka_unit_test_prestate(test_tables_of_every_command, &t),
		cmocka_unit_test_prestate(test_stage_stats_lists_outputs_and_never_beat, &t),
		cmocka_unit_test_prestate(test_status_text, &t),
		cmocka_unit_test_prestate(test_refusal_exits_1_with_the_message, &t),
		cmocka_unit_test_prestate(test_bad_arguments_exit_2_and_send_nothing, &t),
		cmocka_unit_test_prestate(test_unknown_command_is_a_usage_error, &t),
		cmocka_unit_test_prestate(test_connection_failure_names_the_socket, &t),
		cmocka_unit_test_prestate(test_no_answer_in_time, &t),
		cmocka_unit_test_prestate(test_odd_answers_never_crash, &t),
		cmocka_unit_test_prestate(test_capture_start_passes_the_file, &t),
		cmocka_unit_test_prestate(test_capture_start_json_and_a_new_file, &t),
		cmocka_unit_test_prestate(test_capture_stop_says_so_and_shows_the_figures, &t),
		cmocka_unit_test_prestate(test_capture_file_not_made_without_an_instance, &t),
		cmocka_unit_test_prestate(test_stage_command_by_kind_and_id, &t),
		cmocka_unit_test_prestate(test_stage_launch_and_restart_requests, &t),
		cmocka_unit_test_prestate(test_stage_list_json_has_supervision, &t),
		cmocka_unit_test_prestate(test_stage_command_json_is_the_stage_output, &t),
		cmocka_unit_test_prestate(test_stage_command_refused, &t),
		cmocka_unit_test_prestate(test_help_lists_stage_commands, &t),
		cmocka_unit_test_prestate(test_watch_redraws_with_rates, &t),
		cmocka_unit_test_prestate(test_watch_json_is_one_value_per_line, &t),
		cmocka_unit_test_prestate(test_watch_stops_on_a_refusal, &t),
		cmocka_unit_test_prestate(test_stdin_runs_each_line, &t),
		cmocka_unit_test_prestate(test_stdin_goes_on_after_errors, &t),
		cmocka_unit_test_prestate(test_stdin_quit_stops_reading, &t),
		cmocka_unit_test_prestate(test_prompt_completes_and_keeps_history, &t),
	};

	int rc;

	if (argc < 2) {
		fprintf(stderr, "usage: %s MPDPCTL\n", argv[0]);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	t.ctl = argv[1];
	if (ctx_setup(&t) != 0) {
		printf("Bail out! cannot start the fake control server in %s\n", t.dir);
		return 1;
	}
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	if (ctx_teardown(&t) != 0)
		rc = 1;
	return rc;
}

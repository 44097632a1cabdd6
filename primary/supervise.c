/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The stage supervisor (doc/supervision.md): stages the primary launched
 * (--stage, stage launch) are restarted when they fail, the way systemd's
 * Restart=on-failure does:
 *
 *   - exit status 0 (stage stop, SIGTERM) is a stop: not restarted;
 *   - a non-zero status or a signal is a failure: restarted at once when
 *     the process ran for at least 1 s, else after a back-off that starts at
 *     100 ms and doubles up to 5 s with each quick failure in a row;
 *   - more than 10 failures within 30 s: the stage is given up ("failed"),
 *     said once in the log with the last exit status.
 *
 * A graceful restart (stage restart) starts the same command line plus
 * --takeover; once the new process has written its pid into the slot's
 * standby_pid the old one gets SIGTERM, finishes its burst and marks the
 * slot down, the new one claims it, and the client is answered when the
 * slot runs with the new pid. Every running stage's heartbeat is watched:
 * one that stopped beating for --hung-ms is reported once, and with
 * --kill-hung killed (and, when supervised, restarted by the policy).
 *
 * Everything here runs on the control thread's libuv loop; main() reaches
 * it through two async handles and waits for the end of a shutdown on a
 * condition variable.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mpdp_log.h"
#include "mpdp_proc.h"
#include "mpdp_shm.h"
#include "mpdp_stage.h"
#include "mpdp_time.h"
#include "primary.h"
#include "supervise.h"

#define NS_PER_MS 1000000ull
#define NS_PER_S 1000000000ull

/* The restart policy's figures (doc/supervision.md). */
#define SUP_QUICK_NS (1 * NS_PER_S)          /* ran less than this: a quick failure */
#define SUP_BACKOFF_MIN_NS (100 * NS_PER_MS)
#define SUP_BACKOFF_MAX_NS (5 * NS_PER_S)
#define SUP_FAIL_WINDOW_NS (30 * NS_PER_S)
#define SUP_FAIL_LIMIT 10                    /* more failures than this within the window: failed */
/* How long launch and restart wait for the new process to run. */
#define SUP_OP_TIMEOUT_NS (10 * NS_PER_S)
/* At shutdown: SIGTERM, then SIGKILL after this. */
#define SUP_STOP_GRACE_MS 2000
/* main() waits at most this for the stages to be reaped. */
#define SUP_STOP_WAIT_NS (10 * NS_PER_S)
#define SUP_POLL_MS 10
#define SUP_HUNG_MAX 64
#define SUP_REPLIES_MAX 16

enum sup_state {
	SUP_ACTIVE,                /* a process runs (starting, running, restarting, stopping) */
	SUP_BACKOFF,               /* waiting to start again */
	SUP_FAILED,                /* given up */
	SUP_STOPPED,               /* exited 0 or was stopped: not restarted */
};

enum sup_op {
	SUP_OP_NONE,
	SUP_OP_LAUNCH,             /* stage launch: forgotten when it never runs */
	SUP_OP_START,              /* stage restart of a stage with no process */
	SUP_OP_RESTART,            /* stage restart: a --takeover process stands by */
};

struct sup_stage;

/* One process the supervisor started; freed by its handle's close callback. */
struct sup_proc {
	uv_process_t h;
	struct sup_stage *st;
	struct sup_proc *prev, *next;  /* the supervisor's live processes */
	int pid;
	uint64_t spawned_ns;
	int term_sent;                 /* asked to stop (graceful restart, stage stop, shutdown) */
	int restart_on_exit;           /* its replacement failed after it was asked to stop */
};

struct sup_stage {
	struct supervisor *sup;
	struct supervise_spec spec;
	char kind[MPDP_STAGE_KIND_MAX];
	enum sup_state state;
	struct sup_proc *proc;         /* the stage's process, NULL when none */
	struct sup_proc *standby;      /* a graceful restart's new process */
	unsigned n_procs;              /* processes of this stage still alive, replaced ones too */
	uint64_t backoff_ns;           /* the next quick failure's delay */
	uint64_t restart_at_ns;        /* SUP_BACKOFF: when */
	uint64_t fails[SUP_FAIL_LIMIT + 1]; /* times of the latest failures, oldest first */
	unsigned n_fails;
	uint32_t restarts;
	char last_exit[64];
	int stop_requested;
	int forget;                    /* a launch that never ran: removed once its process is reaped */
	/* A launch or restart whose client waits for the answer. */
	enum sup_op op;
	void *op_conn;                 /* NULL once the client has gone */
	uint64_t op_id;
	uint64_t op_deadline_ns;
	int op_old_pid;
	int op_old_signalled;
};

struct sup_reply {
	void *conn;
	uint64_t id;
	int status;
	char msg[320];
};

struct sup_hung {
	char id[MPDP_NAME_MAX];
	int pid;
	int killed;
};

struct supervisor {
	struct primary *p;
	uv_loop_t *loop;
	supervise_answer_fn *answer;
	void *server;
	uv_async_t start_async, stop_async;
	uv_timer_t poll;               /* back-offs and waiting clients, every SUP_POLL_MS */
	uv_timer_t kill_timer;         /* shutdown: SIGKILL what SIGTERM did not stop */
	unsigned n_stages;
	struct sup_stage *stages[SUPERVISE_STAGES_MAX];
	struct sup_proc *live;         /* every process not yet reaped */
	unsigned n_live;
	int shutting_down;
	uint64_t hung_ns;
	int kill_hung;
	unsigned n_hung;
	struct sup_hung hung[SUP_HUNG_MAX];
	/* Answers are sent last, once the state they report is complete. */
	unsigned n_replies;
	struct sup_reply replies[SUP_REPLIES_MAX];
	uv_mutex_t lock;               /* done, for main() */
	uv_cond_t cond;
	int done;
};

/* ---- specs --------------------------------------------------------------- */

void
supervise_spec_free(struct supervise_spec *s)
{
	for (unsigned i = 0; s->argv != NULL && i < s->argc; i++)
		free(s->argv[i]);
	free(s->argv);
	memset(s, 0, sizeof(*s));
}

static int
id_check(const char *what, const char *id, struct mpdp_errbuf *eb)
{
	size_t len = strlen(id), max = MPDP_NAME_MAX - sizeof(MPDP_STAGE_ZONE_PREFIX);

	if (len == 0)
		return mpdp_err_set(eb, -EINVAL, "%s: the stage ID is empty", what);
	if (len > max)
		return mpdp_err_set(eb, -EINVAL, "%s: stage ID '%s' is longer than %zu characters", what,
				    id, max);
	for (size_t i = 0; i < len; i++) {
		char c = id[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-' || c == '.'))
			return mpdp_err_set(eb, -EINVAL, "%s: stage ID '%s' may hold only letters, digits, "
					    "'_', '-' and '.'", what, id);
	}
	return 0;
}

static int
is_exec(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

/*
 * PROGRAM as the primary runs it: a path with '/' as it is (made absolute);
 * a name beside mpdp-primary, in the build tree's secondary/KIND/, then in PATH.
 */
static int
find_program(const char *what, const char *prog, char *out, size_t len, struct mpdp_errbuf *eb)
{
	char self[PATH_MAX], cand[PATH_MAX + 64];
	const char *kind = strncmp(prog, "mpdp-", 5) == 0 && prog[5] != '\0' ? prog + 5 : prog;
	const char *path = getenv("PATH");
	ssize_t n;
	char *slash;

	if (prog[0] == '\0')
		return mpdp_err_set(eb, -EINVAL, "%s: no PROGRAM to run", what);
	if (strchr(prog, '/') != NULL) {
		char cwd[PATH_MAX];

		if (prog[0] != '/' && getcwd(cwd, sizeof(cwd)) != NULL)
			snprintf(cand, sizeof(cand), "%s/%s", cwd, prog);
		else
			snprintf(cand, sizeof(cand), "%s", prog);
		if (!is_exec(cand))
			return mpdp_err_set(eb, -ENOENT, "%s: program '%s' is not an executable file",
					    what, prog);
		if (strlen(cand) >= len)
			return mpdp_err_set(eb, -ENAMETOOLONG, "%s: program path too long", what);
		snprintf(out, len, "%s", cand);
		return 0;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	self[n > 0 ? n : 0] = '\0';
	slash = strrchr(self, '/');
	if (slash != NULL) {
		*slash = '\0';
		snprintf(cand, sizeof(cand), "%s/%s", self, prog);
		if (is_exec(cand) && strlen(cand) < len) {
			snprintf(out, len, "%s", cand);
			return 0;
		}
		slash = strrchr(self, '/');
		if (slash != NULL) {
			snprintf(cand, sizeof(cand), "%.*s/secondary/%s/%s", (int)(slash - self), self,
				 kind, prog);
			if (is_exec(cand) && strlen(cand) < len) {
				snprintf(out, len, "%s", cand);
				return 0;
			}
		}
	}
	for (const char *p = path != NULL ? path : "/usr/local/bin:/usr/bin:/bin"; *p != '\0';) {
		size_t dl = strcspn(p, ":");

		snprintf(cand, sizeof(cand), "%.*s/%s", (int)(dl ? dl : 1), dl ? p : ".", prog);
		if (is_exec(cand) && strlen(cand) < len) {
			snprintf(out, len, "%s", cand);
			return 0;
		}
		p += dl + (p[dl] == ':');
	}
	return mpdp_err_set(eb, -ENOENT, "%s: program '%s' not found (looked beside mpdp-primary, "
			    "in the build tree's secondary/%s/ and in PATH)", what, prog, kind);
}

/* The options the primary gives a stage itself. */
static int
args_check(const char *what, char *const *argv, size_t argc, struct mpdp_errbuf *eb)
{
	static const char *const ours[] = { "--name", "--runtime-dir", "--stage", "--takeover" };

	for (size_t i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			break;
		for (size_t k = 0; k < sizeof(ours) / sizeof(ours[0]); k++) {
			size_t len = strlen(ours[k]);

			if (strncmp(argv[i], ours[k], len) == 0 &&
			    (argv[i][len] == '\0' || argv[i][len] == '='))
				return mpdp_err_set(eb, -EINVAL, "%s: leave %s out of the arguments: the "
						    "primary gives it", what, ours[k]);
		}
	}
	return 0;
}

int
supervise_spec_make(const char *id, char *const *argv, size_t argc, struct supervise_spec *out,
		    struct mpdp_errbuf *eb)
{
	char what[64];
	int rc;

	memset(out, 0, sizeof(*out));
	snprintf(what, sizeof(what), "stage launch %.40s", id);
	rc = id_check(what, id, eb);
	if (rc != 0)
		return rc;
	if (argc == 0 || argv[0] == NULL)
		return mpdp_err_set(eb, -EINVAL, "%s: no PROGRAM to run", what);
	if (argc > SUPERVISE_ARGS_MAX)
		return mpdp_err_set(eb, -EINVAL, "%s: more than %d words", what, SUPERVISE_ARGS_MAX);
	rc = args_check(what, argv, argc, eb);
	if (rc == 0)
		rc = find_program(what, argv[0], out->path, sizeof(out->path), eb);
	if (rc != 0)
		return rc;
	snprintf(out->id, sizeof(out->id), "%s", id);
	out->argv = calloc(argc + 1, sizeof(char *));
	if (out->argv == NULL)
		return mpdp_err_set(eb, -ENOMEM, "%s: out of memory", what);
	for (size_t i = 0; i < argc; i++) {
		out->argv[i] = strdup(argv[i] != NULL ? argv[i] : "");
		if (out->argv[i] == NULL) {
			out->argc = (unsigned)i;
			supervise_spec_free(out);
			return mpdp_err_set(eb, -ENOMEM, "%s: out of memory", what);
		}
	}
	out->argc = (unsigned)argc;
	return 0;
}

/* Split @p s into words, as a shell would: blanks, '...', "..." (\" \\ \$ \`), \x. */
static int
split_words(const char *what, const char *s, char ***out, size_t *n_out, struct mpdp_errbuf *eb)
{
	size_t len = strlen(s), n = 0;
	char **w = calloc(SUPERVISE_ARGS_MAX + 1, sizeof(char *));
	char *buf = malloc(len + 1);
	int rc = 0;

	if (w == NULL || buf == NULL) {
		rc = mpdp_err_set(eb, -ENOMEM, "%s: out of memory", what);
		goto out;
	}
	for (const char *p = s; rc == 0;) {
		size_t b = 0;
		int any = 0;

		while (*p == ' ' || *p == '\t' || *p == '\n')
			p++;
		if (*p == '\0')
			break;
		while (*p != '\0' && *p != ' ' && *p != '\t' && *p != '\n') {
			any = 1;
			if (*p == '\'') {
				const char *e = strchr(p + 1, '\'');

				if (e == NULL) {
					rc = mpdp_err_set(eb, -EINVAL, "%s: a ' is not closed", what);
					break;
				}
				memcpy(buf + b, p + 1, (size_t)(e - p - 1));
				b += (size_t)(e - p - 1);
				p = e + 1;
			} else if (*p == '"') {
				for (p++; *p != '\0' && *p != '"'; p++) {
					if (*p == '\\' && p[1] != '\0' && strchr("\"\\$`", p[1]) != NULL)
						p++;
					buf[b++] = *p;
				}
				if (*p != '"') {
					rc = mpdp_err_set(eb, -EINVAL, "%s: a \" is not closed", what);
					break;
				}
				p++;
			} else {
				if (*p == '\\' && p[1] != '\0')
					p++;
				buf[b++] = *p++;
			}
		}
		if (rc != 0 || !any)
			break;
		if (n == SUPERVISE_ARGS_MAX) {
			rc = mpdp_err_set(eb, -EINVAL, "%s: more than %d words", what, SUPERVISE_ARGS_MAX);
			break;
		}
		w[n] = strndup(buf, b);
		if (w[n++] == NULL)
			rc = mpdp_err_set(eb, -ENOMEM, "%s: out of memory", what);
	}
out:
	free(buf);
	if (rc != 0 && w != NULL) {
		for (size_t i = 0; i < n; i++)
			free(w[i]);
		free(w);
		w = NULL;
		n = 0;
	}
	*out = w;
	*n_out = n;
	return rc;
}

int
supervise_spec_parse(const char *spec, struct supervise_spec *out, struct mpdp_errbuf *eb)
{
	const char *eq = strchr(spec, '=');
	char what[96], id[MPDP_NAME_MAX + 8];
	char **words = NULL;
	size_t n = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	snprintf(what, sizeof(what), "--stage '%.60s%s'", spec, strlen(spec) > 60 ? "..." : "");
	if (eq == NULL)
		return mpdp_err_set(eb, -EINVAL, "%s: expected ID=PROGRAM [ARGS...], e.g. "
				    "--stage 'fw1=mpdp-fw --in p0.rx --out out=p1.tx'", what);
	if (eq == spec)
		return mpdp_err_set(eb, -EINVAL, "%s: the stage ID before '=' is empty", what);
	snprintf(id, sizeof(id), "%.*s", (int)((size_t)(eq - spec) < sizeof(id) - 1 ?
					      (size_t)(eq - spec) : sizeof(id) - 1), spec);
	rc = id_check(what, id, eb);
	if (rc != 0)
		return rc;
	rc = split_words(what, eq + 1, &words, &n, eb);
	if (rc != 0)
		return rc;
	if (n == 0)
		rc = mpdp_err_set(eb, -EINVAL, "%s: no PROGRAM after '='", what);
	if (rc == 0)
		rc = args_check(what, words, n, eb);
	if (rc == 0)
		rc = find_program(what, words[0], out->path, sizeof(out->path), eb);
	if (rc == 0) {
		snprintf(out->id, sizeof(out->id), "%.*s", MPDP_NAME_MAX - 1, id);
		out->argv = realloc(words, (n + 1) * sizeof(char *));
		if (out->argv == NULL) {
			rc = mpdp_err_set(eb, -ENOMEM, "%s: out of memory", what);
		} else {
			out->argv[n] = NULL;
			out->argc = (unsigned)n;
			return 0;
		}
	}
	for (size_t i = 0; i < n; i++)
		free(words[i]);
	free(words);
	memset(out, 0, sizeof(*out));
	return rc;
}

/* ---- helpers ------------------------------------------------------------- */

static struct sup_stage *
stage_find(const struct supervisor *sup, const char *id)
{
	for (unsigned i = 0; sup != NULL && i < sup->n_stages; i++) {
		if (strcmp(sup->stages[i]->spec.id, id) == 0)
			return sup->stages[i];
	}
	return NULL;
}

static struct sup_stage *
stage_new(struct supervisor *sup, struct supervise_spec *spec)
{
	struct sup_stage *st;
	const char *base;

	if (sup->n_stages == SUPERVISE_STAGES_MAX || (st = calloc(1, sizeof(*st))) == NULL)
		return NULL;
	st->sup = sup;
	st->spec = *spec;
	memset(spec, 0, sizeof(*spec));
	base = strrchr(st->spec.argv[0], '/');
	base = base != NULL ? base + 1 : st->spec.argv[0];
	snprintf(st->kind, sizeof(st->kind), "%s", strncmp(base, "mpdp-", 5) == 0 && base[5] != '\0' ?
		 base + 5 : base);
	st->state = SUP_STOPPED;
	st->backoff_ns = SUP_BACKOFF_MIN_NS;
	sup->stages[sup->n_stages++] = st;
	return st;
}

static void
stage_remove(struct sup_stage *st)
{
	struct supervisor *sup = st->sup;

	for (unsigned i = 0; i < sup->n_stages; i++) {
		if (sup->stages[i] == st) {
			memmove(&sup->stages[i], &sup->stages[i + 1],
				(sup->n_stages - i - 1) * sizeof(sup->stages[0]));
			sup->n_stages--;
			break;
		}
	}
	supervise_spec_free(&st->spec);
	free(st);
}

static double
secs(uint64_t ns)
{
	return (double)ns / 1e9;
}

/* The slot of @p id (NULL when none) and its state and pid. */
static struct mpdp_abi_stage *
slot_of(const struct supervisor *sup, const char *id, uint32_t *state, int *pid)
{
	struct mpdp_abi_stage *slot;

	if (mpdp_stage_find(sup->p->shm, id, &slot) != 0) {
		*state = MPDP_STAGE_FREE;
		*pid = 0;
		return NULL;
	}
	*state = mpdp_stage_slot_state(slot);
	*pid = mpdp_stage_slot_pid(slot);
	return slot;
}

/* Queue the answer of @p st's operation; it goes when the current event is done. */
static void
op_end(struct sup_stage *st, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
op_end(struct sup_stage *st, int status, const char *fmt, ...)
{
	struct supervisor *sup = st->sup;
	struct sup_reply *r;
	va_list ap;

	if (st->op_conn != NULL && sup->n_replies < SUP_REPLIES_MAX) {
		r = &sup->replies[sup->n_replies++];
		r->conn = st->op_conn;
		r->id = st->op_id;
		r->status = status;
		va_start(ap, fmt);
		vsnprintf(r->msg, sizeof(r->msg), fmt, ap);
		va_end(ap);
	}
	st->op = SUP_OP_NONE;
	st->op_conn = NULL;
}

/* Send the queued answers (an answer may make the server serve the client's next request). */
static void
replies_flush(struct supervisor *sup)
{
	while (sup->n_replies > 0) {
		struct sup_reply r = sup->replies[0];

		memmove(&sup->replies[0], &sup->replies[1], (sup->n_replies - 1) * sizeof(r));
		sup->n_replies--;
		if (r.conn != NULL)
			sup->answer(sup->server, r.conn, r.id, r.status, r.msg);
	}
}

static void on_poll(uv_timer_t *t);

static void
poll_arm(struct supervisor *sup)
{
	if (!uv_is_active((uv_handle_t *)&sup->poll))
		uv_timer_start(&sup->poll, on_poll, SUP_POLL_MS, SUP_POLL_MS);
}

static void
done_signal(struct supervisor *sup)
{
	uv_timer_stop(&sup->kill_timer);
	uv_mutex_lock(&sup->lock);
	sup->done = 1;
	uv_cond_signal(&sup->cond);
	uv_mutex_unlock(&sup->lock);
}

/* ---- processes ----------------------------------------------------------- */

static void
proc_free(uv_handle_t *h)
{
	free(h->data);
}

static void proc_exited(uv_process_t *h, int64_t status, int term_signal);

/* Start @p st's command line (plus --takeover): the new process in *out. */
static int
stage_spawn(struct sup_stage *st, int takeover, struct sup_proc **out, char *err, size_t len)
{
	struct supervisor *sup = st->sup;
	const struct primary_cfg *cfg = &sup->p->cfg;
	uv_process_options_t o = { 0 };
	uv_stdio_container_t io[3];
	const char *argv[SUPERVISE_ARGS_MAX + 10];
	struct sup_proc *pr;
	unsigned n = 0;
	int rc;

	pr = calloc(1, sizeof(*pr));
	if (pr == NULL) {
		snprintf(err, len, "out of memory");
		return -ENOMEM;
	}
	/* Ours first, so an ARGS with "--" cannot turn them into operands. */
	argv[n++] = st->spec.path;
	argv[n++] = "--name";
	argv[n++] = cfg->name;
	if (cfg->shm.runtime_dir != NULL) {
		argv[n++] = "--runtime-dir";
		argv[n++] = cfg->shm.runtime_dir;
	}
	argv[n++] = "--stage";
	argv[n++] = st->spec.id;
	if (takeover)
		argv[n++] = "--takeover";
	for (unsigned i = 1; i < st->spec.argc; i++)
		argv[n++] = st->spec.argv[i];
	argv[n] = NULL;
	/* No input; what it prints goes where the primary logs. */
	io[0].flags = UV_IGNORE;
	io[1].flags = UV_INHERIT_FD;
	io[1].data.fd = STDERR_FILENO;
	io[2].flags = UV_INHERIT_FD;
	io[2].data.fd = STDERR_FILENO;
	o.exit_cb = proc_exited;
	o.file = st->spec.path;
	o.args = (char **)argv;
	o.stdio_count = 3;
	o.stdio = io;
	pr->h.data = pr;
	rc = uv_spawn(sup->loop, &pr->h, &o);
	if (rc != 0) {
		snprintf(err, len, "cannot start %s: %s", st->spec.path, uv_strerror(rc));
		uv_close((uv_handle_t *)&pr->h, proc_free);
		return rc;
	}
	pr->st = st;
	pr->pid = pr->h.pid;
	pr->spawned_ns = mpdp_time_ns();
	pr->next = sup->live;
	if (sup->live != NULL)
		sup->live->prev = pr;
	sup->live = pr;
	sup->n_live++;
	st->n_procs++;
	*out = pr;
	return 0;
}

static void
proc_signal(struct sup_proc *pr, int sig)
{
	if (sig == SIGTERM)
		pr->term_sent = 1;
	uv_process_kill(&pr->h, sig);
}

static void
fails_record(struct sup_stage *st, uint64_t now)
{
	unsigned keep = 0;

	for (unsigned i = 0; i < st->n_fails; i++) {
		if (now - st->fails[i] < SUP_FAIL_WINDOW_NS)
			st->fails[keep++] = st->fails[i];
	}
	if (keep == SUP_FAIL_LIMIT + 1) {
		memmove(&st->fails[0], &st->fails[1], SUP_FAIL_LIMIT * sizeof(st->fails[0]));
		keep--;
	}
	st->fails[keep++] = now;
	st->n_fails = keep;
}

static unsigned
fails_recent(const struct sup_stage *st, uint64_t now)
{
	unsigned n = 0;

	for (unsigned i = 0; i < st->n_fails; i++)
		n += now - st->fails[i] < SUP_FAIL_WINDOW_NS;
	return n;
}

static void after_exit(struct sup_stage *st, int failed, uint64_t ran_ns, int pid, const char *how);

/* Start @p st again (a restart of the policy or of stage restart). */
static void
restart_now(struct sup_stage *st)
{
	struct sup_proc *pr;
	char err[PATH_MAX + 96];

	if (stage_spawn(st, 0, &pr, err, sizeof(err)) != 0) {
		MPDP_LOG(ERR, "stage %s: %s", st->spec.id, err);
		snprintf(st->last_exit, sizeof(st->last_exit), "could not start");
		after_exit(st, 1, 0, 0, "could not be started");
		return;
	}
	st->proc = pr;
	st->state = SUP_ACTIVE;
	st->restarts++;
	MPDP_LOG(NOTICE, "stage %s: restarted as pid %d (restart %u)", st->spec.id, pr->pid, st->restarts);
}

/*
 * The restart policy, when @p st's process ended (or could not start) and
 * nothing else takes its place.
 */
static void
after_exit(struct sup_stage *st, int failed, uint64_t ran_ns, int pid, const char *how)
{
	struct supervisor *sup = st->sup;
	uint64_t now = mpdp_time_ns(), delay;
	char who[48] = "";
	unsigned n;

	if (pid > 0)
		snprintf(who, sizeof(who), " (pid %d)", pid);
	st->proc = NULL;
	if (sup->shutting_down) {
		st->state = SUP_STOPPED;
		MPDP_LOG(NOTICE, "stage %s%s %s at shutdown", st->spec.id, who, how);
		return;
	}
	if (st->stop_requested) {
		st->state = SUP_STOPPED;
		MPDP_LOG(NOTICE, "stage %s%s %s after it was asked to stop: not restarted", st->spec.id,
			 who, how);
		return;
	}
	if (!failed) {
		st->state = SUP_STOPPED;
		MPDP_LOG(NOTICE, "stage %s%s %s after %.1f s: a clean stop, not restarted", st->spec.id,
			 who, how, secs(ran_ns));
		return;
	}
	fails_record(st, now);
	n = fails_recent(st, now);
	if (n > SUP_FAIL_LIMIT) {
		st->state = SUP_FAILED;
		MPDP_LOG(ERR, "stage %s%s %s after %.2f s: %u failures within %llu s, giving up (state "
			 "failed; `mpdpctl stage restart %s` starts it again)", st->spec.id, who, how,
			 secs(ran_ns), n, (unsigned long long)(SUP_FAIL_WINDOW_NS / NS_PER_S), st->spec.id);
		return;
	}
	if (ran_ns >= SUP_QUICK_NS) {
		st->backoff_ns = SUP_BACKOFF_MIN_NS;
		MPDP_LOG(NOTICE, "stage %s%s %s after %.1f s; restarting it now", st->spec.id, who, how,
			 secs(ran_ns));
		restart_now(st);
		return;
	}
	delay = st->backoff_ns;
	st->backoff_ns = delay * 2 < SUP_BACKOFF_MAX_NS ? delay * 2 : SUP_BACKOFF_MAX_NS;
	st->state = SUP_BACKOFF;
	st->restart_at_ns = now + delay;
	MPDP_LOG(NOTICE, "stage %s%s %s after %.2f s; restarting in %.1f s (failure %u within %llu s)",
		 st->spec.id, who, how, secs(ran_ns), secs(delay), n,
		 (unsigned long long)(SUP_FAIL_WINDOW_NS / NS_PER_S));
	poll_arm(sup);
}

static void
proc_exited(uv_process_t *h, int64_t status, int term_signal)
{
	struct sup_proc *pr = h->data;
	struct sup_stage *st = pr->st;
	struct supervisor *sup = st->sup;
	uint64_t ran = mpdp_time_ns() - pr->spawned_ns;
	int failed = status != 0 || term_signal != 0;
	char how[96];

	if (term_signal != 0) {
		snprintf(how, sizeof(how), "was killed by signal %d (%s)", term_signal,
			 strsignal(term_signal));
		snprintf(st->last_exit, sizeof(st->last_exit), "signal %d (%s)", term_signal,
			 strsignal(term_signal));
	} else {
		snprintf(how, sizeof(how), "exited with status %lld", (long long)status);
		snprintf(st->last_exit, sizeof(st->last_exit), "exit %lld", (long long)status);
	}
	if (pr->prev != NULL)
		pr->prev->next = pr->next;
	else
		sup->live = pr->next;
	if (pr->next != NULL)
		pr->next->prev = pr->prev;
	sup->n_live--;
	st->n_procs--;

	if (pr == st->standby) {
		/* A graceful restart's new process ended before it ran. */
		st->standby = NULL;
		MPDP_LOG(WARN, "stage %s: the new process (pid %d) %s before it took over", st->spec.id,
			 pr->pid, how);
		if (st->proc == NULL) {
			op_end(st, EIO, "stage %s: the new process (pid %d) %s before it took over, and "
			       "the old one (pid %d) has stopped: restarting it", st->spec.id, pr->pid, how,
			       st->op_old_pid);
			after_exit(st, 1, ran, pr->pid, how);
		} else if (st->op_old_signalled) {
			st->proc->restart_on_exit = 1;
			op_end(st, EIO, "stage %s: the new process (pid %d) %s before it took over; the old "
			       "one (pid %d) was asked to stop and is restarted when it has", st->spec.id,
			       pr->pid, how, st->proc->pid);
		} else {
			op_end(st, EIO, "stage %s: the new process (pid %d) %s before it took over (does "
			       "%s take --takeover?); pid %d keeps running", st->spec.id, pr->pid, how,
			       st->spec.argv[0], st->proc->pid);
		}
	} else if (pr == st->proc) {
		st->proc = NULL;
		if (st->op == SUP_OP_RESTART && st->standby != NULL) {
			MPDP_LOG(NOTICE, "stage %s: pid %d %s; pid %d takes over", st->spec.id, pr->pid, how,
				 st->standby->pid);
		} else if (st->forget || st->op == SUP_OP_LAUNCH) {
			if (st->op == SUP_OP_LAUNCH)
				op_end(st, EIO, "stage %s: %s (pid %d) %s before it ran (what it said is in "
				       "the primary's log); not kept", st->spec.id, st->spec.argv[0], pr->pid,
				       how);
			MPDP_LOG(WARN, "stage %s: launched as pid %d, %s before it ran; not kept",
				 st->spec.id, pr->pid, how);
			st->forget = 1;
		} else {
			if (st->op == SUP_OP_START)
				op_end(st, EIO, "stage %s: pid %d %s before it ran (what it said is in the "
				       "primary's log)", st->spec.id, pr->pid, how);
			if (pr->restart_on_exit && !failed) {
				failed = 1;
				snprintf(how + strlen(how), sizeof(how) - strlen(how),
					 ", its replacement failed");
			}
			after_exit(st, failed, ran, pr->pid, how);
		}
	} else {
		MPDP_LOG(INFO, "stage %s: pid %d (replaced) %s", st->spec.id, pr->pid, how);
	}
	uv_close((uv_handle_t *)h, proc_free);
	if (st->forget && st->n_procs == 0)
		stage_remove(st);
	if (sup->shutting_down && sup->n_live == 0)
		done_signal(sup);
	replies_flush(sup);
}

/* ---- launch and restart -------------------------------------------------- */

/* A launch or restart waiting for the new process to run. */
static void
op_poll(struct sup_stage *st, uint64_t now)
{
	struct supervisor *sup = st->sup;
	struct mpdp_abi_stage *slot;
	struct sup_proc *pr;
	uint32_t state;
	int pid;

	slot = slot_of(sup, st->spec.id, &state, &pid);
	if (st->op == SUP_OP_LAUNCH || st->op == SUP_OP_START) {
		pr = st->proc;
		if (pr != NULL && state == MPDP_STAGE_RUNNING && pid == pr->pid) {
			MPDP_LOG(NOTICE, "stage %s: pid %d runs", st->spec.id, pr->pid);
			op_end(st, 0, "stage %s %s: pid %d, supervised", st->spec.id,
			       st->op == SUP_OP_LAUNCH ? "launched" : "started", pr->pid);
			return;
		}
		if (now < st->op_deadline_ns || pr == NULL)
			return;
		MPDP_LOG(WARN, "stage %s: pid %d did not run within %llu s; killing it", st->spec.id,
			 pr->pid, (unsigned long long)(SUP_OP_TIMEOUT_NS / NS_PER_S));
		if (st->op == SUP_OP_LAUNCH)
			st->forget = 1;
		op_end(st, ETIMEDOUT, "stage %s: pid %d did not run within %llu s: killed it%s", st->spec.id,
		       pr->pid, (unsigned long long)(SUP_OP_TIMEOUT_NS / NS_PER_S),
		       st->forget ? " (not kept)" : "");
		proc_signal(pr, SIGKILL);
		return;
	}
	/* SUP_OP_RESTART */
	if (!st->op_old_signalled && st->proc == NULL) {
		st->op_old_signalled = 1;   /* the old one went on its own: nothing to ask */
	} else if (!st->op_old_signalled && slot != NULL && st->standby != NULL &&
		   __atomic_load_n(&slot->standby_pid, __ATOMIC_ACQUIRE) == st->standby->pid) {
		MPDP_LOG(NOTICE, "stage %s: pid %d stands by; asking pid %d to stop", st->spec.id,
			 st->standby->pid, st->proc->pid);
		proc_signal(st->proc, SIGTERM);
		st->op_old_signalled = 1;
	}
	pr = st->standby;
	if (pr != NULL && state == MPDP_STAGE_RUNNING && pid == pr->pid) {
		st->proc = pr;
		st->standby = NULL;
		st->state = SUP_ACTIVE;
		st->restarts++;
		MPDP_LOG(NOTICE, "stage %s: restarted gracefully, pid %d took over from pid %d (restart %u)",
			 st->spec.id, pr->pid, st->op_old_pid, st->restarts);
		op_end(st, 0, "stage %s restarted: pid %d took over from pid %d", st->spec.id, pr->pid,
		       st->op_old_pid);
		return;
	}
	if (now < st->op_deadline_ns || pr == NULL)
		return;
	st->standby = NULL;
	proc_signal(pr, SIGKILL);
	MPDP_LOG(WARN, "stage %s: the new process (pid %d) did not take over within %llu s; killed it",
		 st->spec.id, pr->pid, (unsigned long long)(SUP_OP_TIMEOUT_NS / NS_PER_S));
	if (!st->op_old_signalled) {
		op_end(st, ETIMEDOUT, "stage %s: the new process (pid %d) did not stand by within %llu s "
		       "(does %s take --takeover?): killed it; pid %d keeps running", st->spec.id, pr->pid,
		       (unsigned long long)(SUP_OP_TIMEOUT_NS / NS_PER_S), st->spec.argv[0], st->proc->pid);
	} else if (st->proc != NULL) {
		st->proc->restart_on_exit = 1;
		op_end(st, ETIMEDOUT, "stage %s: the new process (pid %d) did not take over within %llu s: "
		       "killed it; the old one (pid %d) was asked to stop and is restarted when it has",
		       st->spec.id, pr->pid, (unsigned long long)(SUP_OP_TIMEOUT_NS / NS_PER_S),
		       st->proc->pid);
	} else {
		op_end(st, ETIMEDOUT, "stage %s: the new process (pid %d) did not take over within %llu s: "
		       "killed it; restarting the stage", st->spec.id, pr->pid,
		       (unsigned long long)(SUP_OP_TIMEOUT_NS / NS_PER_S));
		after_exit(st, 1, 0, pr->pid, "did not take over");
	}
}

static void
on_poll(uv_timer_t *t)
{
	struct supervisor *sup = t->data;
	uint64_t now = mpdp_time_ns();
	int pending = 0;

	for (unsigned i = 0; i < sup->n_stages; i++) {
		struct sup_stage *st = sup->stages[i];

		if (st->state == SUP_BACKOFF && !sup->shutting_down && now >= st->restart_at_ns)
			restart_now(st);
		if (st->op != SUP_OP_NONE)
			op_poll(st, now);
		pending |= st->op != SUP_OP_NONE || st->state == SUP_BACKOFF;
	}
	if (!pending || sup->shutting_down)
		uv_timer_stop(&sup->poll);
	replies_flush(sup);
}

static int
refuse(char *why, size_t len, int rc, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int
refuse(char *why, size_t len, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
	return rc;
}

static void
op_begin(struct sup_stage *st, enum sup_op op, void *conn, uint64_t id)
{
	st->op = op;
	st->op_conn = conn;
	st->op_id = id;
	st->op_deadline_ns = mpdp_time_ns() + SUP_OP_TIMEOUT_NS;
	st->op_old_pid = st->proc != NULL ? st->proc->pid : 0;
	st->op_old_signalled = 0;
	poll_arm(st->sup);
}

static int
req_launch(struct supervisor *sup, const Mpdppb__StageReq *r, uid_t uid, void *conn, uint64_t id,
	   char *why, size_t len)
{
	const char *sid = r->id != NULL ? r->id : "";
	struct mpdp_errbuf eb = { "" };
	struct supervise_spec spec;
	struct sup_stage *st;
	struct sup_proc *pr;
	char err[PATH_MAX + 96];
	uint32_t state;
	int pid, rc, fresh;

	/* It runs a program as the primary's user: the group the socket admits may not. */
	if (uid != 0 && uid != geteuid())
		return refuse(why, len, -EPERM, "stage launch runs a program as the primary's user (uid "
			      "%u): only that user or root may ask, not uid %u", (unsigned)geteuid(),
			      (unsigned)uid);
	if (sup->shutting_down)
		return refuse(why, len, -ESHUTDOWN, "the primary is shutting down");
	if (sid[0] == '\0')
		return refuse(why, len, -EINVAL, "stage launch: give the stage ID");
	rc = supervise_spec_make(sid, r->argv, r->n_argv, &spec, &eb);
	if (rc != 0)
		return refuse(why, len, rc, "%s", eb.msg);
	st = stage_find(sup, sid);
	if (st != NULL && (st->state == SUP_ACTIVE || st->state == SUP_BACKOFF || st->op != SUP_OP_NONE ||
			   st->n_procs > 0)) {
		char note[32] = "";

		if (st->proc != NULL)
			snprintf(note, sizeof(note), ", pid %d", st->proc->pid);
		supervise_spec_free(&spec);
		return refuse(why, len, -EEXIST, "stage %s is already supervised (%s%s): use stage restart "
			      "%s, or stage stop %s first", sid, st->state == SUP_BACKOFF ? "backing off" :
			      "running", note, sid, sid);
	}
	slot_of(sup, sid, &state, &pid);
	if (state != MPDP_STAGE_FREE && state != MPDP_STAGE_DOWN && pid > 0 && mpdp_proc_alive(pid, 0)) {
		supervise_spec_free(&spec);
		return refuse(why, len, -EBUSY, "stage %s is already running (pid %d), not launched by the "
			      "primary: stop it first", sid, pid);
	}
	fresh = st == NULL;
	if (fresh) {
		st = stage_new(sup, &spec);
		if (st == NULL) {
			supervise_spec_free(&spec);
			return refuse(why, len, -ENOSPC, "stage launch %s: the primary supervises %d stages "
				      "at most", sid, SUPERVISE_STAGES_MAX);
		}
	} else {
		/* Launched again (it had stopped or failed): the new command line, a fresh record. */
		supervise_spec_free(&st->spec);
		st->spec = spec;
		st->n_fails = 0;
		st->backoff_ns = SUP_BACKOFF_MIN_NS;
		st->restarts = 0;
		st->last_exit[0] = '\0';
	}
	st->stop_requested = 0;
	st->forget = 0;
	rc = stage_spawn(st, 0, &pr, err, sizeof(err));
	if (rc != 0) {
		MPDP_LOG(ERR, "stage launch %s: %s", sid, err);
		stage_remove(st);
		return refuse(why, len, rc, "stage launch %s: %s", sid, err);
	}
	st->proc = pr;
	st->state = SUP_ACTIVE;
	MPDP_LOG(NOTICE, "stage %s: launched %s as pid %d by the control socket (supervised)", sid,
		 st->spec.path, pr->pid);
	op_begin(st, SUP_OP_LAUNCH, conn, id);
	return 1;
}

static int
req_restart(struct supervisor *sup, const Mpdppb__StageReq *r, void *conn, uint64_t id, char *why,
	    size_t len)
{
	const char *sid = r->id != NULL ? r->id : "";
	struct sup_stage *st = stage_find(sup, sid);
	struct sup_proc *pr;
	char err[PATH_MAX + 96];
	uint32_t state;
	int pid, rc;

	if (sid[0] == '\0')
		return refuse(why, len, -EINVAL, "stage restart: give the stage ID");
	if (sup->shutting_down)
		return refuse(why, len, -ESHUTDOWN, "the primary is shutting down");
	slot_of(sup, sid, &state, &pid);
	if (st == NULL && state == MPDP_STAGE_FREE)
		return refuse(why, len, -ENOENT, "no stage named '%s'", sid);
	if (st == NULL)
		return refuse(why, len, -EOPNOTSUPP, "%s was not launched by the primary: start the new "
			      "process yourself with --takeover", sid);
	if (st->op != SUP_OP_NONE)
		return refuse(why, len, -EBUSY, "stage %s: a %s is already under way", sid,
			      st->op == SUP_OP_RESTART ? "restart" : "launch");
	if (st->proc == NULL) {
		/* Backing off, failed or stopped: start it again, with a clean slate. */
		if (st->n_procs > 0)
			return refuse(why, len, -EBUSY, "stage %s: its last process is still stopping", sid);
		rc = stage_spawn(st, 0, &pr, err, sizeof(err));
		if (rc != 0)
			return refuse(why, len, rc, "stage restart %s: %s", sid, err);
		MPDP_LOG(NOTICE, "stage %s (%s) started again as pid %d by the control socket", sid,
			 st->state == SUP_FAILED ? "failed" : st->state == SUP_BACKOFF ? "backing off" :
			 "stopped", pr->pid);
		st->proc = pr;
		st->state = SUP_ACTIVE;
		st->stop_requested = 0;
		st->n_fails = 0;
		st->backoff_ns = SUP_BACKOFF_MIN_NS;
		st->restarts++;
		op_begin(st, SUP_OP_START, conn, id);
		return 1;
	}
	if (st->proc->term_sent || st->stop_requested)
		return refuse(why, len, -EBUSY, "stage %s (pid %d) is stopping", sid, st->proc->pid);
	if (state != MPDP_STAGE_RUNNING || pid != st->proc->pid)
		return refuse(why, len, -EBUSY, "stage %s (pid %d) is starting: restart it once it runs",
			      sid, st->proc->pid);
	rc = stage_spawn(st, 1, &pr, err, sizeof(err));
	if (rc != 0)
		return refuse(why, len, rc, "stage restart %s: %s", sid, err);
	st->standby = pr;
	MPDP_LOG(NOTICE, "stage %s: graceful restart by the control socket: pid %d starts with "
		 "--takeover to replace pid %d", sid, pr->pid, st->proc->pid);
	op_begin(st, SUP_OP_RESTART, conn, id);
	return 1;
}

int
supervise_request(struct supervisor *sup, const Mpdppb__StageReq *r, uid_t uid, void *conn,
		  uint64_t id, char *why, size_t len)
{
	if (sup == NULL)
		return 0;
	if (r->op == MPDPPB__STAGE_REQ__OP__LAUNCH)
		return req_launch(sup, r, uid, conn, id, why, len);
	if (r->op == MPDPPB__STAGE_REQ__OP__RESTART)
		return req_restart(sup, r, conn, id, why, len);
	return 0;
}

void
supervise_conn_gone(struct supervisor *sup, void *conn)
{
	for (unsigned i = 0; sup != NULL && i < sup->n_stages; i++) {
		if (sup->stages[i]->op_conn == conn)
			sup->stages[i]->op_conn = NULL;
	}
	for (unsigned i = 0; sup != NULL && i < sup->n_replies; i++) {
		if (sup->replies[i].conn == conn)
			sup->replies[i].conn = NULL;
	}
}

int
supervise_stage_stop(struct supervisor *sup, const char *id, int *status, char *msg, size_t len)
{
	struct sup_stage *st = stage_find(sup, id);

	*status = 0;
	if (st == NULL)
		return 0;
	if (st->op != SUP_OP_NONE) {
		*status = EBUSY;
		snprintf(msg, len, "stage %s: a %s is under way; stop it once that is done", id,
			 st->op == SUP_OP_RESTART ? "restart" : "launch");
		return 1;
	}
	switch (st->state) {
	case SUP_ACTIVE:
		if (st->stop_requested) {
			*status = EALREADY;
			snprintf(msg, len, "stage %s (pid %d) is already stopping", id, st->proc->pid);
			break;
		}
		st->stop_requested = 1;
		proc_signal(st->proc, SIGTERM);
		MPDP_LOG(NOTICE, "stage %s (pid %d) asked to stop by the control socket; it will not be "
			 "restarted", id, st->proc->pid);
		snprintf(msg, len, "stage %s (pid %d) asked to stop; the primary will not restart it", id,
			 st->proc->pid);
		break;
	case SUP_BACKOFF:
	case SUP_FAILED:
		MPDP_LOG(NOTICE, "stage %s (%s) stopped by the control socket", id,
			 st->state == SUP_FAILED ? "failed" : "backing off");
		snprintf(msg, len, "stage %s was %s; it stays stopped", id,
			 st->state == SUP_FAILED ? "failed" : "waiting to be restarted");
		st->state = SUP_STOPPED;
		st->stop_requested = 1;
		break;
	case SUP_STOPPED:
		*status = ESRCH;
		snprintf(msg, len, "stage %s is not running (stopped)", id);
		break;
	}
	return 1;
}

/* ---- status -------------------------------------------------------------- */

int
supervise_status(const struct supervisor *sup, const char *id, struct supervise_status *out)
{
	const struct sup_stage *st = stage_find(sup, id);
	uint32_t state;
	int pid;

	if (st == NULL)
		return 0;
	memset(out, 0, sizeof(*out));
	out->kind = st->kind;
	out->restarts = st->restarts;
	out->recent_failures = fails_recent(st, mpdp_time_ns());
	out->last_exit = st->last_exit;
	out->argc = st->spec.argc;
	out->argv = st->spec.argv;
	out->pid = st->proc != NULL ? st->proc->pid : 0;
	switch (st->state) {
	case SUP_ACTIVE:
		slot_of(sup, id, &state, &pid);
		out->state = st->op == SUP_OP_RESTART ? "restarting" :
			     st->stop_requested || st->proc == NULL || st->proc->term_sent ? "stopping" :
			     state == MPDP_STAGE_RUNNING && pid == st->proc->pid ? "running" : "starting";
		break;
	case SUP_BACKOFF:
		out->state = "backoff";
		out->backoff_until_ns = st->restart_at_ns;
		break;
	case SUP_FAILED:
		out->state = "failed";
		break;
	case SUP_STOPPED:
		out->state = "stopped";
		break;
	}
	return 1;
}

unsigned
supervise_ids(const struct supervisor *sup, const char **ids, unsigned max)
{
	unsigned n = 0;

	for (unsigned i = 0; sup != NULL && i < sup->n_stages && n < max; i++)
		ids[n++] = sup->stages[i]->spec.id;
	return n;
}

/* ---- heartbeats ---------------------------------------------------------- */

struct hung_walk {
	struct supervisor *sup;
	uint64_t now;
};

static struct sup_hung *
hung_find(struct supervisor *sup, const char *id)
{
	for (unsigned i = 0; i < sup->n_hung; i++) {
		if (strcmp(sup->hung[i].id, id) == 0)
			return &sup->hung[i];
	}
	return NULL;
}

static void
hung_forget(struct supervisor *sup, struct sup_hung *h)
{
	*h = sup->hung[--sup->n_hung];
}

static int
hung_one(struct mpdp_abi_stage *slot, void *arg)
{
	struct hung_walk *hw = arg;
	struct supervisor *sup = hw->sup;
	struct mpdp_stage_totals t;
	struct sup_hung *h;
	struct sup_stage *st;
	char id[MPDP_NAME_MAX];
	uint64_t last, age;
	int pid;

	snprintf(id, sizeof(id), "%.*s", MPDP_NAME_MAX - 1, slot->id);
	h = hung_find(sup, id);
	pid = mpdp_stage_slot_pid(slot);
	if (mpdp_stage_slot_state(slot) != MPDP_STAGE_RUNNING) {
		if (h != NULL)
			hung_forget(sup, h);
		return 0;
	}
	mpdp_stage_totals(slot, &t);
	/* Heartbeats outlive a process; a new one counts from its start until it beats. */
	last = t.heartbeat_ns > slot->started_ns ? t.heartbeat_ns : slot->started_ns;
	age = hw->now > last ? hw->now - last : 0;
	if (age < sup->hung_ns) {
		if (h != NULL && h->pid == pid && !h->killed)
			MPDP_LOG(NOTICE, "stage %s (pid %d) beats again", id, pid);
		if (h != NULL)
			hung_forget(sup, h);
		return 0;
	}
	if (h != NULL && h->pid == pid)
		return 0;
	if (!mpdp_proc_alive(pid, slot->start_time))
		return 0;   /* dead, not hung: the primary reaps it */
	if (h == NULL) {
		if (sup->n_hung == SUP_HUNG_MAX)
			return 0;
		h = &sup->hung[sup->n_hung++];
	}
	snprintf(h->id, sizeof(h->id), "%s", id);
	h->pid = pid;
	h->killed = 0;
	MPDP_LOG(WARN, "stage %s (pid %d) is alive but its heartbeat stopped %.1f s ago", id, pid,
		 secs(age));
	if (!sup->kill_hung)
		return 0;
	st = stage_find(sup, id);
	if (st != NULL && st->proc != NULL && st->proc->pid == pid) {
		proc_signal(st->proc, SIGKILL);
		MPDP_LOG(WARN, "stage %s (pid %d): killed with SIGKILL (--kill-hung); it is supervised and "
			 "will be restarted", id, pid);
	} else if (kill(pid, SIGKILL) == 0) {
		MPDP_LOG(WARN, "stage %s (pid %d): killed with SIGKILL (--kill-hung)", id, pid);
	} else {
		MPDP_LOG(ERR, "stage %s (pid %d): cannot kill it: %s", id, pid, strerror(errno));
	}
	h->killed = 1;
	return 0;
}

void
supervise_tick(struct supervisor *sup, uint64_t now_ns)
{
	struct hung_walk hw = { sup, now_ns };

	if (sup == NULL || sup->shutting_down)
		return;
	mpdp_stage_walk(sup->p->shm, hung_one, &hw);
	replies_flush(sup);
}

/* ---- start and stop ------------------------------------------------------ */

static void
on_start(uv_async_t *a)
{
	struct supervisor *sup = a->data;

	if (sup->shutting_down)
		return;
	for (unsigned i = 0; i < sup->n_stages; i++) {
		struct sup_stage *st = sup->stages[i];
		struct sup_proc *pr;
		char err[PATH_MAX + 96];

		if (st->state != SUP_STOPPED || st->proc != NULL || st->stop_requested)
			continue;
		if (stage_spawn(st, 0, &pr, err, sizeof(err)) != 0) {
			MPDP_LOG(ERR, "stage %s: %s", st->spec.id, err);
			snprintf(st->last_exit, sizeof(st->last_exit), "could not start");
			after_exit(st, 1, 0, 0, "could not be started");
			continue;
		}
		st->proc = pr;
		st->state = SUP_ACTIVE;
		MPDP_LOG(NOTICE, "stage %s: started %s as pid %d (supervised)", st->spec.id, st->spec.path,
			 pr->pid);
	}
	replies_flush(sup);
}

static void
on_kill_timer(uv_timer_t *t)
{
	struct supervisor *sup = t->data;

	for (struct sup_proc *pr = sup->live; pr != NULL; pr = pr->next) {
		MPDP_LOG(WARN, "stage %s (pid %d) did not stop within %.1f s of SIGTERM: SIGKILL",
			 pr->st->spec.id, pr->pid, SUP_STOP_GRACE_MS / 1000.0);
		uv_process_kill(&pr->h, SIGKILL);
	}
}

static void
on_stop(uv_async_t *a)
{
	struct supervisor *sup = a->data;

	if (sup->shutting_down)
		return;
	sup->shutting_down = 1;
	uv_timer_stop(&sup->poll);
	for (unsigned i = 0; i < sup->n_stages; i++) {
		struct sup_stage *st = sup->stages[i];

		if (st->op != SUP_OP_NONE)
			op_end(st, ESHUTDOWN, "stage %s: the primary is shutting down", st->spec.id);
		if (st->state == SUP_BACKOFF)
			st->state = SUP_STOPPED;
	}
	if (sup->n_live > 0)
		MPDP_LOG(NOTICE, "stopping %u supervised stage process%s", sup->n_live,
			 sup->n_live == 1 ? "" : "es");
	for (struct sup_proc *pr = sup->live; pr != NULL; pr = pr->next)
		proc_signal(pr, SIGTERM);
	if (sup->n_live == 0)
		done_signal(sup);
	else
		uv_timer_start(&sup->kill_timer, on_kill_timer, SUP_STOP_GRACE_MS, 0);
	replies_flush(sup);
}

int
supervise_init(struct primary *p, uv_loop_t *loop, supervise_answer_fn *answer, void *server)
{
	struct supervisor *sup = calloc(1, sizeof(*sup));
	struct mpdp_errbuf eb = { "" };

	if (sup == NULL)
		return -ENOMEM;
	sup->p = p;
	sup->loop = loop;
	sup->answer = answer;
	sup->server = server;
	sup->hung_ns = (uint64_t)(p->cfg.hung_ms ? p->cfg.hung_ms : SUPERVISE_HUNG_MS) * NS_PER_MS;
	sup->kill_hung = p->cfg.kill_hung;
	for (unsigned i = 0; i < p->cfg.n_stages; i++) {
		struct supervise_spec spec;

		/* The command line was checked already; a program gone since is a failure to start. */
		if (supervise_spec_parse(p->cfg.stages[i], &spec, &eb) != 0) {
			MPDP_LOG(ERR, "%s", eb.msg);
			continue;
		}
		if (stage_new(sup, &spec) == NULL)
			supervise_spec_free(&spec);
	}
	if (uv_mutex_init(&sup->lock) != 0) {
		free(sup);
		return -ENOMEM;
	}
	if (uv_cond_init(&sup->cond) != 0) {
		uv_mutex_destroy(&sup->lock);
		free(sup);
		return -ENOMEM;
	}
	uv_async_init(loop, &sup->start_async, on_start);
	sup->start_async.data = sup;
	uv_async_init(loop, &sup->stop_async, on_stop);
	sup->stop_async.data = sup;
	uv_timer_init(loop, &sup->poll);
	sup->poll.data = sup;
	uv_timer_init(loop, &sup->kill_timer);
	sup->kill_timer.data = sup;
	p->sup = sup;
	return 0;
}

void
supervise_fini(struct primary *p)
{
	struct supervisor *sup = p->sup;

	if (sup == NULL)
		return;
	while (sup->n_stages > 0)
		stage_remove(sup->stages[sup->n_stages - 1]);
	uv_cond_destroy(&sup->cond);
	uv_mutex_destroy(&sup->lock);
	free(sup);
	p->sup = NULL;
}

void
supervise_start(struct primary *p)
{
	if (p->sup != NULL)
		uv_async_send(&p->sup->start_async);
}

void
supervise_stop(struct primary *p)
{
	struct supervisor *sup = p->sup;
	uint64_t until = mpdp_time_ns() + SUP_STOP_WAIT_NS;

	if (sup == NULL)
		return;
	uv_async_send(&sup->stop_async);
	uv_mutex_lock(&sup->lock);
	while (!sup->done) {
		uint64_t now = mpdp_time_ns();

		if (now >= until || uv_cond_timedwait(&sup->cond, &sup->lock, until - now) == UV_ETIMEDOUT) {
			MPDP_LOG(ERR, "supervised stages still not reaped after %llu s; going on",
				 (unsigned long long)(SUP_STOP_WAIT_NS / NS_PER_S));
			break;
		}
	}
	uv_mutex_unlock(&sup->lock);
}

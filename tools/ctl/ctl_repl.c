/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mpdpctl with no command: a prompt (libedit) with history and completion
 * when stdin is a terminal, else one command per line from stdin. Each
 * line is split like a shell would and run as the same words would run on
 * the command line; errors are printed and the next line is read.
 */
#include <dirent.h>
#include <errno.h>
#include <histedit.h>
#include <limits.h>
#include <locale.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>
#include <wchar.h>

#include "mpdpctl.h"

#define HISTORY_FILE ".mpdpctl_history"
#define HISTORY_SIZE 1000
/* Completion asks the instance for names, but does not keep a typist waiting. */
#define COMPLETE_TIMEOUT_MS 1000

struct repl {
	struct mpdpctl *ctl;
	EditLine *el;
	History *hist;
	char hist_path[PATH_MAX];   /* "" without a home */
	int sigfd;                  /* SIGINT, while the prompt runs */
};

/* Run the words of one line (*quit set for quit and exit). @return the command's exit code. */
static int
line_run(struct mpdpctl *ctl, const char *line, unsigned lineno, int *quit)
{
	struct mpdpctl_words w = { 0 };
	struct mpdp_errbuf eb = { "" };
	int rc;

	*quit = 0;
	if (mpdpctl_split(line, 0, &w, NULL, &eb) != 0) {
		if (lineno > 0)
			fprintf(stderr, "mpdpctl: line %u: %s\n", lineno, eb.msg);
		else
			fprintf(stderr, "mpdpctl: %s\n", eb.msg);
		return MPDPCTL_EXIT_USAGE;
	}
	*quit = w.n == 1 && (strcmp(w.w[0], "quit") == 0 || strcmp(w.w[0], "exit") == 0);
	rc = w.n > 0 && !*quit ? mpdpctl_run_words(ctl, (int)w.n, w.w) : MPDPCTL_EXIT_OK;
	mpdpctl_words_free(&w);
	fflush(stdout);
	return rc;
}

/* stdin is not a terminal: no editor, no prompt, no history. */
static int
repl_lines(struct mpdpctl *ctl)
{
	char *line = NULL;
	size_t cap = 0;
	unsigned lineno = 0;
	int result = 0;

	while (getline(&line, &cap, stdin) >= 0) {
		int quit, rc = line_run(ctl, line, ++lineno, &quit);

		if (rc != 0)
			result = rc;
		if (quit)
			break;
	}
	free(line);
	return result;
}

/* ---- completion ---- */

struct cands {
	char **v;
	size_t n, cap;
	const char *prefix;   /* only words that start with it */
	int no_space;         /* a directory: the word goes on */
};

static void
cand_add(struct cands *c, const char *s)
{
	char *dup;

	if (s == NULL || s[0] == '\0' || strncmp(s, c->prefix, strlen(c->prefix)) != 0)
		return;
	for (size_t i = 0; i < c->n; i++) {
		if (strcmp(c->v[i], s) == 0)
			return;
	}
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 32;
		char **v = realloc(c->v, cap * sizeof(*v));

		if (v == NULL)
			return;
		c->v = v;
		c->cap = cap;
	}
	dup = strdup(s);
	if (dup != NULL)
		c->v[c->n++] = dup;
}

static void
cand_add_list(struct cands *c, const char *const *list)
{
	for (size_t i = 0; list != NULL && list[i] != NULL; i++)
		cand_add(c, list[i]);
}

static void
cands_free(struct cands *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->v[i]);
	free(c->v);
}

/* A list of @p which from the instance, or NULL when it does not answer. */
static Mpdppb__Response *
fetch(struct repl *r, Mpdppb__Request__CmdCase which)
{
	Mpdppb__Request req = MPDPPB__REQUEST__INIT;
	Mpdppb__PortReq port = MPDPPB__PORT_REQ__INIT;
	Mpdppb__RingReq ring = MPDPPB__RING_REQ__INIT;
	Mpdppb__PoolReq pool = MPDPPB__POOL_REQ__INIT;
	Mpdppb__StageReq stage = MPDPPB__STAGE_REQ__INIT;
	Mpdppb__CaptureReq capture = MPDPPB__CAPTURE_REQ__INIT;
	struct mpdp_errbuf eb = { "" };
	int timeout = r->ctl->opts.timeout_ms < COMPLETE_TIMEOUT_MS ? r->ctl->opts.timeout_ms :
		      COMPLETE_TIMEOUT_MS;
	Mpdppb__Response *resp;

	req.cmd_case = which;
	switch (which) {
	case MPDPPB__REQUEST__CMD_PORT: req.port = &port; break;
	case MPDPPB__REQUEST__CMD_RING: req.ring = &ring; break;
	case MPDPPB__REQUEST__CMD_POOL: req.pool = &pool; break;
	case MPDPPB__REQUEST__CMD_STAGE: req.stage = &stage; break;
	case MPDPPB__REQUEST__CMD_CAPTURE: req.capture = &capture; break;
	default: return NULL;
	}
	resp = mpdpctl_call(r->ctl, &req, -1, timeout, &eb);
	if (resp != NULL && (resp->status != 0 || mpdpctl_body(resp) == NULL)) {
		mpdp_ctl_response_free(resp);
		resp = NULL;
	}
	return resp;
}

static void
add_ports(struct repl *r, struct cands *c)
{
	Mpdppb__Response *resp = fetch(r, MPDPPB__REQUEST__CMD_PORT);

	for (size_t i = 0; resp != NULL && resp->body_case == MPDPPB__RESPONSE__BODY_PORTS &&
	     i < resp->ports->n_ports; i++)
		cand_add(c, resp->ports->ports[i] ? resp->ports->ports[i]->name : NULL);
	mpdp_ctl_response_free(resp);
}

static void
add_rings(struct repl *r, struct cands *c)
{
	Mpdppb__Response *resp = fetch(r, MPDPPB__REQUEST__CMD_RING);

	for (size_t i = 0; resp != NULL && resp->body_case == MPDPPB__RESPONSE__BODY_RINGS &&
	     i < resp->rings->n_rings; i++)
		cand_add(c, resp->rings->rings[i] ? resp->rings->rings[i]->name : NULL);
	mpdp_ctl_response_free(resp);
}

static void
add_pools(struct repl *r, struct cands *c)
{
	Mpdppb__Response *resp = fetch(r, MPDPPB__REQUEST__CMD_POOL);

	for (size_t i = 0; resp != NULL && resp->body_case == MPDPPB__RESPONSE__BODY_POOLS &&
	     i < resp->pools->n_pools; i++)
		cand_add(c, resp->pools->pools[i] ? resp->pools->pools[i]->name : NULL);
	mpdp_ctl_response_free(resp);
}

static void
add_captures(struct repl *r, struct cands *c)
{
	Mpdppb__Response *resp = fetch(r, MPDPPB__REQUEST__CMD_CAPTURE);
	char id[16];

	for (size_t i = 0; resp != NULL && resp->body_case == MPDPPB__RESPONSE__BODY_CAPTURES &&
	     i < resp->captures->n_captures; i++) {
		if (resp->captures->captures[i] == NULL)
			continue;
		snprintf(id, sizeof(id), "%u", (unsigned)resp->captures->captures[i]->id);
		cand_add(c, id);
	}
	mpdp_ctl_response_free(resp);
}

/* The stage list (to free), or NULL. */
static Mpdppb__StageList *
stages_fetch(struct repl *r, Mpdppb__Response **resp)
{
	*resp = fetch(r, MPDPPB__REQUEST__CMD_STAGE);
	if (*resp == NULL || (*resp)->body_case != MPDPPB__RESPONSE__BODY_STAGES)
		return NULL;
	return (*resp)->stages;
}

static void
add_stages(struct repl *r, struct cands *c, int ids, int kinds)
{
	Mpdppb__Response *resp;
	Mpdppb__StageList *sl = stages_fetch(r, &resp);

	for (size_t i = 0; sl != NULL && i < sl->n_stages; i++) {
		if (sl->stages[i] == NULL)
			continue;
		if (ids)
			cand_add(c, sl->stages[i]->id);
		if (kinds)
			cand_add(c, sl->stages[i]->kind);
	}
	mpdp_ctl_response_free(resp);
}

/* Files for -w FILE: the entries of the directory part that start with the rest. */
static void
add_files(struct cands *c)
{
	const char *slash = strrchr(c->prefix, '/');
	char dir[PATH_MAX];
	struct dirent *de;
	DIR *d;

	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
	else
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - c->prefix + 1), c->prefix);
	d = opendir(dir);
	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		const char *base = slash != NULL ? slash + 1 : c->prefix;
		char *path;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
		    strncmp(de->d_name, base, strlen(base)) != 0 || (de->d_name[0] == '.' && base[0] != '.'))
			continue;
		if (asprintf(&path, "%s%s%s", slash != NULL ? dir : "", de->d_name,
			     de->d_type == DT_DIR ? "/" : "") < 0)
			continue;
		cand_add(c, path);
		free(path);
	}
	closedir(d);
	c->no_space = c->n == 1 && c->v[0][strlen(c->v[0]) - 1] == '/';
}

/* A stage's own words: ids after a kind, then the words of its declared commands. */
static void
add_stage_words(struct repl *r, struct cands *c, char **args, size_t na)
{
	Mpdppb__Response *resp;
	Mpdppb__StageList *sl = stages_fetch(r, &resp);
	const char *only = NULL;
	char **rest = args + 1;
	size_t nr = na - 1;

	/* "KIND ID ...": the commands of that stage only. */
	for (size_t i = 0; sl != NULL && nr > 0 && i < sl->n_stages; i++) {
		const Mpdppb__StageInfo *s = sl->stages[i];

		if (s != NULL && strcmp(mpdpctl_str(s->kind), args[0]) == 0 &&
		    strcmp(mpdpctl_str(s->id), rest[0]) == 0) {
			only = rest[0];
			rest++;
			nr--;
			break;
		}
	}
	for (size_t i = 0; sl != NULL && i < sl->n_stages; i++) {
		const Mpdppb__StageInfo *s = sl->stages[i];
		int by_kind;

		if (s == NULL)
			continue;
		by_kind = strcmp(mpdpctl_str(s->kind), args[0]) == 0;
		if (only != NULL ? strcmp(mpdpctl_str(s->id), only) != 0 :
				   !by_kind && strcmp(mpdpctl_str(s->id), args[0]) != 0)
			continue;
		if (only == NULL && by_kind && nr == 0)
			cand_add(c, s->id);
		for (size_t k = 0; k < s->n_commands; k++) {
			struct mpdpctl_words cw = { 0 };
			int match = 1;

			if (s->commands[k] == NULL ||
			    mpdpctl_split(mpdpctl_str(s->commands[k]->name), 0, &cw, NULL, NULL) != 0)
				continue;
			for (size_t j = 0; j < nr && match; j++)
				match = j < cw.n && strcmp(cw.w[j], rest[j]) == 0;
			if (match && nr < cw.n)
				cand_add(c, cw.w[nr]);
			mpdpctl_words_free(&cw);
		}
	}
	mpdp_ctl_response_free(resp);
}

static void
add_capture_start(struct repl *r, struct cands *c, char **args, size_t na)
{
	static const char *const opts[] = { "--filter", "--snaplen", "--count", "-w", NULL };
	const char *last = args[na - 1];
	int target = 0;

	if (strcmp(last, "-w") == 0 || strcmp(last, "--write") == 0) {
		add_files(c);
		return;
	}
	if (strcmp(last, "--filter") == 0 || strcmp(last, "--snaplen") == 0 ||
	    strcmp(last, "--count") == 0)
		return;
	for (size_t i = 2; i < na; i++) {
		if (args[i][0] == '-')
			i += strchr(args[i], '=') == NULL;
		else
			target = 1;
	}
	cand_add_list(c, opts);
	if (!target) {
		add_ports(r, c);
		add_rings(r, c);
	}
}

/* Candidates for the word after @p args (the words before the cursor, options left out). */
static void
gather(struct repl *r, struct cands *c, char **args, size_t na)
{
	static const char *const local[] = { "help", "quit", "exit", NULL };
	static const char *const components[] = { "primary", "*", NULL };
	const struct mpdpctl_builtin *b;
	const char *op;

	if (na == 0 || (na == 1 && strcmp(args[0], "help") == 0)) {
		for (b = mpdpctl_builtins; b->word != NULL; b++)
			cand_add(c, b->word);
		if (na == 0)
			cand_add_list(c, local);
		add_stages(r, c, 1, 1);
		return;
	}
	b = mpdpctl_builtin_find(args[0]);
	if (b == NULL) {
		add_stage_words(r, c, args, na);
		return;
	}
	if (na == 1) {
		cand_add_list(c, b->ops);
		return;
	}
	op = args[1];
	if (strcmp(b->word, "port") == 0 && na == 2)
		add_ports(r, c);
	else if (strcmp(b->word, "ring") == 0 && na == 2 && strcmp(op, "create") != 0)
		add_rings(r, c);
	else if (strcmp(b->word, "ring") == 0 && na >= 4 && strcmp(op, "create") == 0)
		cand_add_list(c, (const char *const[]){ "sp", "sc", NULL });
	else if (strcmp(b->word, "pool") == 0 && na == 2)
		add_pools(r, c);
	else if (strcmp(b->word, "patch") == 0 && (na == 2 || na == 3) && strcmp(op, "list") != 0)
		add_ports(r, c);
	else if (strcmp(b->word, "stage") == 0 && na == 2 && strcmp(op, "launch") != 0)
		add_stages(r, c, 1, 0);
	else if (strcmp(b->word, "stage") == 0 && strcmp(op, "launch") == 0 && na == 3)
		cand_add(c, "--");
	else if (strcmp(b->word, "stage") == 0 && strcmp(op, "launch") == 0 && na == 4 &&
		 strcmp(args[3], "--") == 0)
		cand_add_list(c, (const char *const[]){ "mpdp-fw", "mpdp-nat", "mpdp-mon", "mpdp-fwd",
							NULL });
	else if (strcmp(b->word, "capture") == 0 && strcmp(op, "start") == 0)
		add_capture_start(r, c, args, na);
	else if (strcmp(b->word, "capture") == 0 && strcmp(op, "stop") == 0 && na == 2)
		add_captures(r, c);
	else if (strcmp(b->word, "log") == 0 && na == 2) {
		cand_add_list(c, components);
		add_stages(r, c, 1, 0);
	} else if (strcmp(b->word, "log") == 0 && na == 3)
		cand_add_list(c, mpdpctl_log_levels);
}

/* Insert @p s, escaped for the quote the word is in. */
static void
insert_escaped(EditLine *el, const char *s, char quote)
{
	char buf[2 * 256 + 1];
	size_t n = 0;

	for (; *s != '\0' && n + 2 < sizeof(buf); s++) {
		if ((quote == 0 && strchr(" \t'\"\\#$`", *s) != NULL) ||
		    (quote == '"' && strchr("\"\\$`", *s) != NULL))
			buf[n++] = '\\';
		buf[n++] = *s;
	}
	buf[n] = '\0';
	el_insertstr(el, buf);
}

static void
cands_show(const struct cands *c)
{
	struct winsize ws;
	size_t w = 0, cols = 80, per;

	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		cols = ws.ws_col;
	for (size_t i = 0; i < c->n; i++)
		w = strlen(c->v[i]) > w ? strlen(c->v[i]) : w;
	per = cols / (w + 2) ? cols / (w + 2) : 1;
	fputc('\n', stdout);
	for (size_t i = 0; i < c->n; i++) {
		int eol = (i + 1) % per == 0 || i + 1 == c->n;

		fprintf(stdout, "%-*s%s", eol ? 0 : (int)w, c->v[i], eol ? "\n" : "  ");
	}
	fflush(stdout);
}

static int
cand_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static unsigned char
complete(EditLine *el, int ch)
{
	const LineInfo *li = el_line(el);
	struct mpdpctl_words w = { 0 };
	struct cands c = { 0 };
	struct repl *r = NULL;
	unsigned char ret = CC_REFRESH;
	size_t skip = 0, plen, common;
	char quote = 0;
	char *line;

	(void)ch;
	el_get(el, EL_CLIENTDATA, &r);
	line = strndup(li->buffer, (size_t)(li->cursor - li->buffer));
	if (r == NULL || line == NULL || mpdpctl_split(line, 1, &w, &quote, NULL) != 0 || w.n == 0) {
		free(line);
		return CC_ERROR;
	}
	free(line);
	c.prefix = w.w[w.n - 1];
	/* Options before the command: complete them, skip them and their values. */
	while (skip + 1 < w.n && w.w[skip][0] == '-')
		skip += (strcmp(w.w[skip], "--watch") == 0 || strcmp(w.w[skip], "--timeout") == 0) ? 2 : 1;
	if (skip + 1 == w.n && c.prefix[0] == '-')
		cand_add_list(&c, (const char *const[]){ "--json", "--watch", "--timeout", NULL });
	else if (skip + 1 <= w.n)
		gather(r, &c, w.w + skip, w.n - 1 - skip);
	plen = strlen(c.prefix);
	if (c.n == 0) {
		ret = CC_REFRESH_BEEP;
		goto out;
	}
	qsort(c.v, c.n, sizeof(c.v[0]), cand_cmp);
	for (common = strlen(c.v[0]); common > 0; common--) {
		size_t i = 1;

		while (i < c.n && strncmp(c.v[0], c.v[i], common) == 0)
			i++;
		if (i == c.n)
			break;
	}
	if (c.n == 1) {
		insert_escaped(el, c.v[0] + plen, quote);
		if (!c.no_space)
			el_insertstr(el, quote == '"' ? "\" " : quote == '\'' ? "' " : " ");
	} else if (common > plen) {
		c.v[0][common] = '\0';
		insert_escaped(el, c.v[0] + plen, quote);
	} else {
		cands_show(&c);
		ret = CC_REDISPLAY;
	}
out:
	cands_free(&c);
	mpdpctl_words_free(&w);
	return ret;
}

/* ---- the prompt ---- */

static char *
prompt(EditLine *el)
{
	(void)el;
	return (char *)"mpdp> ";
}

/*
 * Ctrl-C at the prompt drops the line instead of leaving. SIGINT stays
 * blocked while the prompt runs and comes through a signalfd, which the
 * editor's read waits on beside the terminal: no handler, no race between
 * a check and a read.
 */

/* The editor's read of one character: 1, 0 at the end, -1 with errno (EINTR: Ctrl-C). */
static int
key_read(EditLine *el, wchar_t *wc)
{
	struct repl *r = NULL;
	char buf[MB_LEN_MAX];
	size_t n = 0;

	el_get(el, EL_CLIENTDATA, &r);
	for (;;) {
		struct pollfd pfd[2] = {
			{ .fd = STDIN_FILENO, .events = POLLIN },
			{ .fd = r->sigfd, .events = POLLIN },
		};
		struct signalfd_siginfo si;
		mbstate_t mbs;
		ssize_t got;
		size_t len;

		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (pfd[1].revents & POLLIN) {
			if (read(r->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
				errno = EINTR;
				return -1;
			}
			continue;
		}
		got = read(STDIN_FILENO, buf + n, 1);
		if (got == 0)
			return 0;
		if (got < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -1;
		}
		n++;
		memset(&mbs, 0, sizeof(mbs));
		len = mbrtowc(wc, buf, n, &mbs);
		if (len == (size_t)-2 && n < sizeof(buf))
			continue;        /* more bytes of the character to come */
		if (len == (size_t)-1 || len == (size_t)-2)
			*wc = (unsigned char)buf[0];
		return 1;
	}
}

static void
history_open(struct repl *r)
{
	const char *home = getenv("HOME");
	HistEvent ev;

	r->hist = history_init();
	if (r->hist == NULL)
		return;
	history(r->hist, &ev, H_SETSIZE, HISTORY_SIZE);
	history(r->hist, &ev, H_SETUNIQUE, 1);
	if (home != NULL && home[0] == '/' &&
	    (size_t)snprintf(r->hist_path, sizeof(r->hist_path), "%s/%s", home, HISTORY_FILE) <
	    sizeof(r->hist_path))
		history(r->hist, &ev, H_LOAD, r->hist_path);   /* best effort: may not exist */
	else
		r->hist_path[0] = '\0';
	el_set(r->el, EL_HIST, history, r->hist);
}

static void
history_close(struct repl *r)
{
	const char *home = getenv("HOME");
	HistEvent ev;

	if (r->hist == NULL)
		return;
	/* Best effort: a read-only home keeps no history. */
	if (r->hist_path[0] != '\0' && (access(r->hist_path, W_OK) == 0 ||
					(home != NULL && access(home, W_OK) == 0)))
		history(r->hist, &ev, H_SAVE, r->hist_path);
	history_end(r->hist);
}

/* At a terminal, errors were seen as they came: the session itself ends with 0. */
static int
repl_edit(struct mpdpctl *ctl)
{
	struct repl r = { .ctl = ctl };
	struct sigaction old_sa;
	sigset_t sigint, old_mask;

	sigemptyset(&sigint);
	sigaddset(&sigint, SIGINT);
	r.sigfd = signalfd(-1, &sigint, SFD_CLOEXEC | SFD_NONBLOCK);
	r.el = r.sigfd >= 0 ? el_init("mpdpctl", stdin, stdout, stderr) : NULL;
	if (r.el == NULL) {
		fprintf(stderr, "mpdpctl: cannot start the line editor; reading lines plainly\n");
		if (r.sigfd >= 0)
			close(r.sigfd);
		return repl_lines(ctl);
	}
	setlocale(LC_CTYPE, "");   /* keys beyond ASCII, as the terminal sends them */
	/* Blocked, it waits in the signalfd (an ignored one would be dropped). */
	sigaction(SIGINT, NULL, &old_sa);
	if (old_sa.sa_handler == SIG_IGN)
		signal(SIGINT, SIG_DFL);
	sigprocmask(SIG_BLOCK, &sigint, &old_mask);
	el_set(r.el, EL_CLIENTDATA, &r);
	el_set(r.el, EL_GETCFN, key_read);
	el_set(r.el, EL_PROMPT, prompt);
	el_set(r.el, EL_EDITOR, "emacs");
	/* Wide strings: the narrow EL_ADDFN copies them and nothing ever frees the copies. */
	el_wset(r.el, EL_ADDFN, L"mpdpctl-complete", L"complete a word", complete);
	el_set(r.el, EL_BIND, "^I", "mpdpctl-complete", NULL);
	el_source(r.el, NULL);   /* ~/.editrc, if any */
	history_open(&r);

	for (;;) {
		struct timespec zero = { 0, 0 };
		const char *line;
		HistEvent ev;
		int count = 0, quit;

		/* A Ctrl-C typed while a command ran is not one for the new line. */
		while (sigtimedwait(&sigint, NULL, &zero) > 0)
			;
		line = el_gets(r.el, &count);
		if (line == NULL || count <= 0) {
			if (count < 0 && errno == EINTR) {
				fputc('\n', stdout);
				el_reset(r.el);
				continue;
			}
			fputc('\n', stdout);   /* EOF: the next prompt of the shell on its own line */
			break;
		}
		if (strspn(line, " \t\r\n") != strlen(line) && r.hist != NULL)
			history(r.hist, &ev, H_ENTER, line);
		line_run(ctl, line, 0, &quit);
		if (quit)
			break;
	}
	sigprocmask(SIG_SETMASK, &old_mask, NULL);
	sigaction(SIGINT, &old_sa, NULL);
	close(r.sigfd);
	history_close(&r);
	el_end(r.el);
	return 0;
}

int
mpdpctl_repl(struct mpdpctl *ctl)
{
	if (!isatty(STDIN_FILENO))
		return repl_lines(ctl);
	return repl_edit(ctl);
}

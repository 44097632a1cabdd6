/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mpdp_stage_main(): the main() every stage program shares. It parses the
 * command line, attaches, runs one worker thread per core of -l, and waits
 * for SIGTERM/SIGINT (stop), SIGUSR1 (report) or the primary going away.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "mpdp_log.h"
#include "mpdp_parse.h"
#include "mpdp_shm.h"
#include "mpdp_stage.h"
#include "mpdp_time.h"
#include "mpdp_worker.h"
#include "stage_ctl.h"

/* Empty turns before an idle worker starts yielding its core to others. */
#define STAGE_IDLE_SPINS 256
#define STAGE_TICK_NS 100000000L
#define STAGE_OPT_BASE 1000
#define STAGE_ROLE_BASE 2000
#define STAGE_OUT_ARG_MAX (2 * MPDP_NAME_MAX)

enum {
	OPT_NAME = 1, OPT_RUNTIME_DIR, OPT_STAGE, OPT_IN, OPT_OUT, OPT_BURST, OPT_RING_SIZE,
	OPT_BACKPRESSURE, OPT_BUSY_POLL, OPT_REPORT, OPT_REPORT_ON_EXIT, OPT_JSON, OPT_LOG_LEVEL, OPT_VERSION,
};

static const struct option common_opts[] = {
	{ "name", required_argument, NULL, OPT_NAME },
	{ "runtime-dir", required_argument, NULL, OPT_RUNTIME_DIR },
	{ "stage", required_argument, NULL, OPT_STAGE },
	{ "in", required_argument, NULL, OPT_IN },
	{ "out", required_argument, NULL, OPT_OUT },
	{ "burst", required_argument, NULL, OPT_BURST },
	{ "ring-size", required_argument, NULL, OPT_RING_SIZE },
	{ "backpressure", no_argument, NULL, OPT_BACKPRESSURE },
	{ "busy-poll", no_argument, NULL, OPT_BUSY_POLL },
	{ "report", no_argument, NULL, OPT_REPORT },
	{ "report-on-exit", no_argument, NULL, OPT_REPORT_ON_EXIT },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "log-level", required_argument, NULL, OPT_LOG_LEVEL },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, OPT_VERSION },
};
#define N_COMMON (sizeof(common_opts) / sizeof(common_opts[0]))

struct stage_thread {
	struct stage_run *run;
	unsigned w;
	int cpu;
	unsigned wid;
	pthread_t thread;
	int started;
};

struct stage_run {
	const struct mpdp_stage *stage;
	char prog[64];
	const char *instance;
	const char *runtime_dir;
	struct mpdp_stage_config cfg;
	char out_args[MPDP_STAGE_IO_MAX][STAGE_OUT_ARG_MAX];
	char in_args[MPDP_STAGE_IO_MAX][STAGE_OUT_ARG_MAX];
	cpu_set_t cores;
	int cores_given;
	int busy_poll;
	int report;
	int report_on_exit;
	int json;
	struct mpdp_shm *shm;
	struct mpdp_stage_instance *si;
	struct stage_thread threads[MPDP_STAGE_WORKERS_MAX];
	_Atomic int stop;
	_Atomic int failed;
};

static void
usage(const struct stage_run *r, FILE *f)
{
	const struct mpdp_stage *st = r->stage;

	fprintf(f, "usage: %s --stage ID --in RING [--in RING]... [--out NEXT=RING]... [options]\n",
		r->prog);
	if (st->summary != NULL)
		fprintf(f, "%s\n", st->summary);
	fprintf(f, "\noutputs:");
	for (uint16_t k = 1; k < st->n_next; k++)
		fprintf(f, " %s", st->next_names[k]);
	fprintf(f, "%s (and drop)\n", st->n_next > 1 ? "" : " none");
	if (st->n_in_roles != 0) {
		fprintf(f, "input roles (--in ROLE=RING, or --ROLE RING):");
		for (uint16_t k = 0; k < st->n_in_roles; k++)
			fprintf(f, " %s", st->in_roles[k]);
		fprintf(f, "\n");
	}
	fprintf(f, "\n");
	fprintf(f,
		"  --name NAME          instance to attach to (default %s)\n"
		"  --runtime-dir DIR    parent of the instance directory\n"
		"  --stage ID           this stage's id: its slot, counters and state\n"
		"  --in RING            input ring, made if absent (repeatable, up to %d)\n"
		"  --out NEXT=RING      ring of output NEXT, made if absent (repeatable)\n"
		"  -l CORELIST          one worker thread per core, e.g. 1 or 2-3\n"
		"  --burst N            packets per dequeue, 1 to %d (default %d)\n"
		"  --ring-size N        slots of rings this stage makes (default %d)\n"
		"  --backpressure       wait for room on a full output instead of dropping\n"
		"  --busy-poll          never yield the core when idle\n"
		"  --report             print the stage's counters (from another process) and exit\n"
		"  --report-on-exit     print them when this stage stops\n"
		"  --json               reports as one JSON object\n"
		"  --log-level [COMP:]LEVEL  err, warn, notice, info or debug\n"
		"  -h, --help           this text\n"
		"  --version            print the version\n",
		MPDP_SHM_DEFAULT_NAME, MPDP_STAGE_IO_MAX, MPDP_STAGE_BURST_MAX, MPDP_CFG_BURST,
		MPDP_STAGE_RING_SIZE);
	if (st->options != NULL && st->options[0].name != NULL) {
		fprintf(f, "\n%s options:\n", r->prog);
		for (const struct mpdp_stage_option *o = st->options; o->name != NULL; o++) {
			char left[64];

			snprintf(left, sizeof(left), "--%s%s%s", o->name, o->arg ? " " : "",
				 o->arg ? o->arg : "");
			fprintf(f, "  %-20s %s\n", left, o->help ? o->help : "");
		}
	}
}

static int __attribute__((format(printf, 2, 3)))
bad_arg(const struct stage_run *r, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", r->prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n%s: see --help\n", r->prog);
	return 2;
}

static int
parse_out(struct stage_run *r, const char *arg)
{
	unsigned i = r->cfg.n_out;
	char *eq;

	if (i == MPDP_STAGE_IO_MAX)
		return bad_arg(r, "--out %s: at most %d outputs", arg, MPDP_STAGE_IO_MAX);
	if (snprintf(r->out_args[i], sizeof(r->out_args[i]), "%s", arg) >= (int)sizeof(r->out_args[i]))
		return bad_arg(r, "--out %s: too long", arg);
	eq = strchr(r->out_args[i], '=');
	if (eq == NULL || eq == r->out_args[i] || eq[1] == '\0')
		return bad_arg(r, "--out %s: expected NEXT=RING, e.g. out=r1", arg);
	*eq = '\0';
	r->cfg.out[i].next = r->out_args[i];
	r->cfg.out[i].ring = eq + 1;
	r->cfg.n_out++;
	return 0;
}

/* An input: --in RING, or --in ROLE=RING (--ROLE RING) for a stage with roles. */
static int
add_input(struct stage_run *r, const char *role, const char *arg)
{
	const struct mpdp_stage *st = r->stage;
	unsigned i = r->cfg.n_in;
	char *ring = r->in_args[i];

	if (i == MPDP_STAGE_IO_MAX)
		return bad_arg(r, "--in %s: at most %d inputs", arg, MPDP_STAGE_IO_MAX);
	if (snprintf(ring, STAGE_OUT_ARG_MAX, "%s", arg) >= STAGE_OUT_ARG_MAX)
		return bad_arg(r, "--in %s: too long", arg);
	if (st->n_in_roles != 0 && role == NULL) {
		char *eq = strchr(ring, '=');

		if (eq == NULL || eq == ring || eq[1] == '\0')
			return bad_arg(r, "--in %s: expected ROLE=RING, e.g. %s=r1", arg, st->in_roles[0]);
		*eq = '\0';
		role = ring;
		ring = eq + 1;
	}
	if (st->n_in_roles != 0) {
		uint16_t k = 0;

		while (k < st->n_in_roles && strcmp(st->in_roles[k], role) != 0)
			k++;
		if (k == st->n_in_roles)
			return bad_arg(r, "--in %s: mpdp-%s has no input role '%s'", arg, st->name, role);
		r->cfg.in_role[i] = (uint8_t)k;
	}
	r->cfg.in[r->cfg.n_in++] = ring;
	return 0;
}

/* Returns 0 to run, 1 when --help/--version was printed, 2 for a bad argument. */
static int
parse_args(struct stage_run *r, int argc, char **argv)
{
	struct option opts[N_COMMON + 64 + 1];
	const struct mpdp_stage_option *so = r->stage->options;
	unsigned n_so = 0;
	struct mpdp_errbuf eb = { "" };
	uint64_t v;
	int opt;

	memcpy(opts, common_opts, sizeof(common_opts));
	for (; so != NULL && so[n_so].name != NULL && n_so < 64; n_so++) {
		for (unsigned c = 0; c < N_COMMON; c++) {
			if (strcmp(so[n_so].name, common_opts[c].name) == 0)
				return bad_arg(r, "stage option --%s clashes with a framework option",
					       so[n_so].name);
		}
		opts[N_COMMON + n_so] = (struct option){ so[n_so].name,
			so[n_so].arg ? required_argument : no_argument, NULL, (int)(STAGE_OPT_BASE + n_so) };
	}
	for (uint16_t k = 0; k < r->stage->n_in_roles && n_so + k < 64; k++)
		opts[N_COMMON + n_so + k] = (struct option){ r->stage->in_roles[k], required_argument,
							     NULL, (int)(STAGE_ROLE_BASE + k) };
	opts[N_COMMON + n_so + (r->stage->n_in_roles < 64 - n_so ? r->stage->n_in_roles : 0)] =
		(struct option){ NULL, 0, NULL, 0 };

	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, ":l:h", opts, NULL)) != -1) {
		switch (opt) {
		case OPT_NAME: r->instance = optarg; break;
		case OPT_RUNTIME_DIR: r->runtime_dir = optarg; break;
		case OPT_STAGE: r->cfg.id = optarg; break;
		case OPT_IN:
			if (add_input(r, NULL, optarg) != 0)
				return 2;
			break;
		case OPT_OUT:
			if (parse_out(r, optarg) != 0)
				return 2;
			break;
		case 'l':
			if (mpdp_corelist_parse(optarg, &r->cores, &eb) != 0)
				return bad_arg(r, "-l %s: %s", optarg, eb.msg);
			r->cores_given = 1;
			break;
		case OPT_BURST:
			if (mpdp_parse_u64(optarg, 1, MPDP_STAGE_BURST_MAX, &v) != 0)
				return bad_arg(r, "--burst %s: expected a number from 1 to %d", optarg, MPDP_STAGE_BURST_MAX);
			r->cfg.burst = (unsigned)v;
			break;
		case OPT_RING_SIZE:
			if (mpdp_parse_u64(optarg, 1, MPDP_RING_SIZE_MAX, &v) != 0 || (v & (v - 1)) != 0)
				return bad_arg(r, "--ring-size %s: expected a power of two", optarg);
			r->cfg.ring_size = (unsigned)v;
			break;
		case OPT_BACKPRESSURE: r->cfg.backpressure = 1; break;
		case OPT_BUSY_POLL: r->busy_poll = 1; break;
		case OPT_REPORT: r->report = 1; break;
		case OPT_REPORT_ON_EXIT: r->report_on_exit = 1; break;
		case OPT_JSON: r->json = 1; break;
		case OPT_LOG_LEVEL:
			if (mpdp_log_set_from_arg(optarg, &eb) != 0)
				return bad_arg(r, "%s", eb.msg);
			break;
		case 'h': usage(r, stdout); return 1;
		case OPT_VERSION: printf("%s %s\n", r->prog, MPDP_CFG_VERSION); return 1;
		case ':': return bad_arg(r, "option '%s' needs a value", argv[optind - 1]);
		case '?': return bad_arg(r, "unknown option '%s'", argv[optind - 1]);
		default:
			if (opt >= STAGE_ROLE_BASE) {
				if (add_input(r, r->stage->in_roles[opt - STAGE_ROLE_BASE], optarg) != 0)
					return 2;
				break;
			}
			if (r->cfg.n_options == MPDP_STAGE_OPTIONS_MAX)
				return bad_arg(r, "more than %d stage options", MPDP_STAGE_OPTIONS_MAX);
			r->cfg.options[r->cfg.n_options].name = so[opt - STAGE_OPT_BASE].name;
			r->cfg.options[r->cfg.n_options].value = optarg ? optarg : "";
			r->cfg.n_options++;
			break;
		}
	}
	if (optind < argc)
		return bad_arg(r, "unexpected argument '%s'", argv[optind]);
	if (r->cfg.id == NULL)
		return bad_arg(r, "--stage ID is required");
	if (r->report)
		return 0;
	r->cfg.n_workers = r->cores_given ? (unsigned)CPU_COUNT(&r->cores) : 1;
	if (mpdp_stage_check_config(r->stage, &r->cfg, &eb) != 0)
		return bad_arg(r, "%s", eb.msg);
	return 0;
}

static void
print_counters(const struct mpdp_abi_stage *slot, FILE *f)
{
	struct mpdp_stage_totals t;
	uint32_t state = mpdp_stage_slot_state(slot);
	uint64_t end = slot->stopped_ns ? slot->stopped_ns : mpdp_time_ns();
	double secs = slot->started_ns && end > slot->started_ns ?
		      (double)(end - slot->started_ns) / 1e9 : 0;

	mpdp_stage_totals(slot, &t);
	fprintf(f, "stage %s (mpdp-%s): %s, pid %d, %.1f s, %u worker%s, %u restart%s\n", slot->id,
		slot->kind, mpdp_stage_state_name(state), mpdp_stage_slot_pid(slot), secs,
		slot->n_workers, slot->n_workers == 1 ? "" : "s", slot->restarts,
		slot->restarts == 1 ? "" : "s");
	fprintf(f, "  in  ");
	for (unsigned i = 0; i < slot->n_in && i < MPDP_STAGE_IO_MAX; i++)
		fprintf(f, " %s", slot->in[i]);
	fprintf(f, ": %" PRIu64 " pkts %" PRIu64 " bytes, in hand %" PRIu64 "\n",
		t.in_packets, t.in_bytes, t.in_hand);
	for (unsigned k = 1; k < slot->n_next && k < MPDP_STAGE_IO_MAX; k++)
		fprintf(f, "  out  %-10s -> %-12s %" PRIu64 " pkts %" PRIu64 " bytes, %" PRIu64 " dropped (%s)\n",
			slot->next[k], slot->out[k][0] ? slot->out[k] : "(unbound)", t.out_packets[k],
			t.out_bytes[k], t.out_drops[k], slot->out[k][0] ? "ring full" : "no ring");
	fprintf(f, "  drop %" PRIu64 " pkts %" PRIu64 " bytes by verdict; %" PRIu64 " dropped in all\n",
		t.out_packets[0], t.out_bytes[0], t.dropped);
}

static void
print_counters_json(const struct mpdp_abi_stage *slot, FILE *f)
{
	struct mpdp_stage_totals t;
	uint64_t end = slot->stopped_ns ? slot->stopped_ns : mpdp_time_ns();

	mpdp_stage_totals(slot, &t);
	fprintf(f, "{\"id\":\"%s\",\"kind\":\"%s\",\"state\":\"%s\",\"pid\":%d,"
		"\"seconds\":%.3f,\"workers\":%u,\"restarts\":%u,\"in\":[", slot->id, slot->kind,
		mpdp_stage_state_name(mpdp_stage_slot_state(slot)), mpdp_stage_slot_pid(slot),
		slot->started_ns && end > slot->started_ns ? (double)(end - slot->started_ns) / 1e9 : 0,
		slot->n_workers, slot->restarts);
	for (unsigned i = 0; i < slot->n_in && i < MPDP_STAGE_IO_MAX; i++)
		fprintf(f, "%s\"%s\"", i ? "," : "", slot->in[i]);
	fprintf(f, "],\"in_packets\":%" PRIu64 ",\"in_bytes\":%" PRIu64 ",\"in_hand\":%" PRIu64
		",\"sent\":%" PRIu64 ",\"dropped\":%" PRIu64 ",\"outputs\":[", t.in_packets,
		t.in_bytes, t.in_hand, t.sent, t.dropped);
	for (unsigned k = 0; k < slot->n_next && k < MPDP_STAGE_IO_MAX; k++)
		fprintf(f, "%s{\"name\":\"%s\",\"ring\":\"%s\",\"packets\":%" PRIu64
			",\"bytes\":%" PRIu64 ",\"dropped\":%" PRIu64 "}", k ? "," : "", slot->next[k],
			slot->out[k], t.out_packets[k], t.out_bytes[k], t.out_drops[k]);
	fprintf(f, "]}");
}

static int
report(struct stage_run *r, FILE *f)
{
	struct mpdp_errbuf eb = { "" };
	struct mpdp_abi_stage *slot;
	struct mpdp_stage_env env = { r->shm, r->stage, &r->cfg, 0, 1, r->json };
	int rc = mpdp_stage_find(r->shm, r->cfg.id, &slot);

	if (rc != 0) {
		fprintf(stderr, "%s: instance '%s' has no stage '%s'\n", r->prog,
			r->instance ? r->instance : MPDP_SHM_DEFAULT_NAME, r->cfg.id);
		return 1;
	}
	if (strcmp(slot->kind, r->stage->name) != 0) {
		fprintf(stderr, "%s: stage '%s' is an mpdp-%s stage\n", r->prog, r->cfg.id, slot->kind);
		return 1;
	}
	if (r->json) {
		fprintf(f, "{\"stage\":");
		print_counters_json(slot, f);
		fprintf(f, r->stage->report != NULL ? ",\"report\":" : "");
	} else {
		print_counters(slot, f);
	}
	if (r->stage->report != NULL) {
		rc = r->stage->report(&env, f, &eb);
		if (rc != 0) {
			fprintf(stderr, "%s: %s\n", r->prog, eb.msg[0] ? eb.msg : mpdp_strerror(rc));
			if (r->json)
				fprintf(f, "null}\n");
			return 1;
		}
	}
	if (r->json)
		fprintf(f, "}\n");
	fflush(f);
	return 0;
}

static void *
worker_main(void *arg)
{
	struct stage_thread *t = arg;
	struct stage_run *r = t->run;
	struct mpdp_abi_stage_worker *c = &mpdp_stage_slot(r->si)->workers[t->w];
	char name[MPDP_NAME_MAX];
	unsigned idle = 0;
	int rc;

	snprintf(name, sizeof(name), "%s/%u", r->cfg.id, t->w);
	rc = mpdp_worker_register(r->shm, name, t->cpu, &t->wid);
	if (rc != 0) {
		MPDP_LOG(ERR, "stage %s: worker %u cannot take a worker id%s%d: %s", r->cfg.id, t->w,
			 t->cpu >= 0 ? " on core " : "", t->cpu, mpdp_strerror(rc));
		atomic_store(&r->failed, 1);
		return NULL;
	}
	c->wid = t->wid;
	c->cpu = t->cpu;
	while (!atomic_load_explicit(&r->stop, memory_order_relaxed)) {
		if (mpdp_stage_poll(r->si, t->w, t->wid) != 0)
			idle = 0;
		else if (!r->busy_poll && ++idle > STAGE_IDLE_SPINS)
			sched_yield();
	}
	c->wid = UINT32_MAX;
	mpdp_worker_release(r->shm, t->wid);
	return NULL;
}

static int
start_threads(struct stage_run *r)
{
	unsigned n = r->cfg.n_workers ? r->cfg.n_workers : 1;

	for (unsigned w = 0; w < n; w++) {
		struct stage_thread *t = &r->threads[w];
		int rc;

		t->run = r;
		t->w = w;
		t->cpu = r->cores_given ? mpdp_corelist_nth(&r->cores, w) : -1;
		rc = pthread_create(&t->thread, NULL, worker_main, t);
		if (rc != 0) {
			fprintf(stderr, "%s: cannot start worker %u: %s\n", r->prog, w, strerror(rc));
			return -rc;
		}
		t->started = 1;
	}
	return 0;
}

static void
stop_threads(struct stage_run *r)
{
	mpdp_stage_stop(r->si);
	atomic_store(&r->stop, 1);
	for (unsigned w = 0; w < MPDP_STAGE_WORKERS_MAX; w++) {
		if (r->threads[w].started)
			pthread_join(r->threads[w].thread, NULL);
		r->threads[w].started = 0;
	}
}

/* Wait for a stop signal, the primary's exit or a failed worker; answer SIGUSR1. */
static int
wait_loop(struct stage_run *r, const sigset_t *sigs)
{
	const struct timespec tick = { 0, STAGE_TICK_NS };

	for (;;) {
		siginfo_t info;
		int sig = sigtimedwait(sigs, &info, &tick);

		if (sig == SIGUSR1) {
			report(r, stdout);
		} else if (sig > 0) {
			MPDP_LOG(NOTICE, "stage %s: %s, stopping", r->cfg.id, strsignal(sig));
			return 0;
		}
		if (atomic_load(&r->failed))
			return 1;
		if (!mpdp_shm_primary_alive(r->shm)) {
			MPDP_LOG(NOTICE, "stage %s: the primary of the instance has exited, stopping",
				 r->cfg.id);
			return 0;
		}
	}
}

static int
run(struct stage_run *r, const sigset_t *sigs)
{
	struct mpdp_errbuf eb = { "" };
	struct mpdp_stage_totals t;
	struct stage_ctl *ctl = NULL;
	int rc = mpdp_stage_open(r->shm, r->stage, &r->cfg, &r->si, &eb);

	if (rc != 0) {
		fprintf(stderr, "%s: %s\n", r->prog, eb.msg);
		return 1;
	}
	rc = start_threads(r) == 0 ? 0 : 1;
	if (rc == 0) {
		stage_ctl_open(r->si, r->stage, r->instance, r->runtime_dir, &ctl);
		printf("ready\n");
		fflush(stdout);
		rc = wait_loop(r, sigs);
	}
	stage_ctl_close(ctl);
	stop_threads(r);
	mpdp_stage_totals(mpdp_stage_slot(r->si), &t);
	printf("%s %s: in %" PRIu64 " pkts, sent %" PRIu64 " pkts, dropped %" PRIu64 " pkts\n",
	       r->prog, r->cfg.id, t.in_packets, t.sent, t.dropped);
	fflush(stdout);
	if (r->report_on_exit)
		report(r, stdout);
	mpdp_stage_close(r->si);
	return rc;
}

int
mpdp_stage_main(int argc, char **argv, const struct mpdp_stage *stage)
{
	struct stage_run *r = calloc(1, sizeof(*r));
	struct mpdp_errbuf eb = { "" };
	sigset_t sigs;
	int rc;

	if (r == NULL) {
		fprintf(stderr, "mpdp-%s: out of memory\n", stage->name);
		return 1;
	}
	r->stage = stage;
	snprintf(r->prog, sizeof(r->prog), "mpdp-%s", stage->name);
	rc = parse_args(r, argc, argv);
	if (rc != 0) {
		free(r);
		return rc == 1 ? 0 : rc;
	}
	/*
	 * Stop signals are taken by sigtimedwait only, with their default
	 * disposition restored first: a shell starts background jobs with
	 * SIGINT ignored, and an ignored signal never becomes pending.
	 */
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGUSR1, SIG_DFL);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);

	rc = mpdp_shm_attach(r->instance, r->runtime_dir, &r->shm, &eb);
	if (rc != 0) {
		fprintf(stderr, "%s: %s\n", r->prog, eb.msg);
		free(r);
		return 1;
	}
	rc = r->report ? report(r, stdout) : run(r, &sigs);
	mpdp_shm_close(r->shm);
	free(r);
	return rc;
}

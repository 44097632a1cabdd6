/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mpdp_stage_main(): the main() every stage program shares. It parses the
 * command line, attaches, runs one worker thread per core of -l, and waits
 * for SIGTERM/SIGINT (stop), SIGUSR1 (report) or the primary going away.
 *
 * The primary is watched through a pidfd (and a 10 ms poll where there is
 * none), and the control connection's end prompts a check at once. A
 * primary that exits cleanly (it clears the header's ready flag first)
 * stops the stage with exit 0; one that dies stops it with exit 1, or with
 * --wait-primary the process waits for the next primary of the instance and
 * executes itself again. --takeover stands by (the slot's standby_pid) until
 * the running process of the id stops, for a restart without loss. See
 * doc/restart.md.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "mpdp_log.h"
#include "mpdp_parse.h"
#include "mpdp_proc.h"
#include "mpdp_shm.h"
#include "mpdp_stage.h"
#include "mpdp_time.h"
#include "mpdp_worker.h"
#include "stage_ctl.h"

/* Empty turns before an idle worker starts yielding its core to others. */
#define STAGE_IDLE_SPINS 256
/* How often the main thread looks at the primary: with a pidfd its exit wakes it at once. */
#define STAGE_WATCH_MS 100
#define STAGE_WATCH_NO_PIDFD_MS 10
/* --wait-primary: how often a waiting stage tries to attach. */
#define STAGE_WAIT_PRIMARY_MS 50
/* --takeover: how often a standby looks at the slot, and at its owner's life. */
#define STAGE_STANDBY_MS 1
#define STAGE_STANDBY_ALIVE_NS 50000000ull
#define STAGE_TAKEOVER_TIMEOUT_S 10.0
#define STAGE_TAKEOVER_TIMEOUT_MAX_S 86400.0
/* mpdp_stage_open() says -EAGAIN while a dead predecessor's buffers are being reclaimed. */
#define STAGE_OPEN_RETRY_NS 2000000000ull
#define STAGE_OPEN_RETRY_PAUSE_NS 5000000L
#define STAGE_OPT_BASE 1000
#define STAGE_ROLE_BASE 2000
#define STAGE_OUT_ARG_MAX (2 * MPDP_NAME_MAX)

enum {
	OPT_NAME = 1, OPT_RUNTIME_DIR, OPT_STAGE, OPT_IN, OPT_OUT, OPT_BURST, OPT_RING_SIZE,
	OPT_BACKPRESSURE, OPT_BUSY_POLL, OPT_REPORT, OPT_REPORT_ON_EXIT, OPT_JSON, OPT_LOG_LEVEL, OPT_VERSION,
	OPT_WAIT_PRIMARY, OPT_TAKEOVER, OPT_TAKEOVER_TIMEOUT,
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
	{ "wait-primary", no_argument, NULL, OPT_WAIT_PRIMARY },
	{ "takeover", no_argument, NULL, OPT_TAKEOVER },
	{ "takeover-timeout", required_argument, NULL, OPT_TAKEOVER_TIMEOUT },
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
	int wait_primary;          /* --wait-primary */
	int takeover;              /* --takeover */
	double takeover_timeout;   /* --takeover-timeout, seconds */
	char **argv;               /* the command line as given, to execute again */
	struct mpdp_shm *shm;
	struct mpdp_stage_instance *si;
	struct mpdp_abi_stage *standby; /* the slot whose standby_pid is ours, until cleared */
	int sig_fd;                /* signalfd of SIGINT, SIGTERM, SIGUSR1 */
	int wake_fd;               /* eventfd: the control connection ended, look at the primary */
	int pid_fd;                /* pidfd of the primary, -1 when none */
	int primary_pid;           /* of the instance attached to, for the messages */
	uint64_t dead_generation;  /* of the region whose primary died, not to be joined again */
	char instance_name[MPDP_NAME_MAX];
	struct stage_thread threads[MPDP_STAGE_WORKERS_MAX];
	_Atomic int stop;
	_Atomic int failed;
	_Atomic int primary_dead;  /* workers leave the dead instance's pools alone */
};

/* How a run ended; mpdp_stage_main() turns it into the exit code. */
enum stage_end {
	STAGE_END_OK,              /* a stop signal, or the primary exited cleanly: 0 */
	STAGE_END_FAILED,          /* could not run, the reason printed: 1 */
	STAGE_END_PRIMARY_DIED,    /* 1, or wait for the next primary (--wait-primary) */
	STAGE_END_GO,              /* (stand_by) the slot is free: open the stage */
};

/* What the primary of the attached instance is doing. */
enum primary_status {
	PRIMARY_UP,
	PRIMARY_EXITED,            /* stopped cleanly, or is stopping (ready cleared) */
	PRIMARY_DIED,              /* gone with the region still marked ready */
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
		"  --wait-primary       when the primary dies, wait for the next one and run in it\n"
		"  --takeover           stand by until the running process of this id stops, then\n"
		"                       take its place (a restart without loss)\n"
		"  --takeover-timeout S give up standing by after S seconds (default %g)\n"
		"  -h, --help           this text\n"
		"  --version            print the version\n",
		MPDP_SHM_DEFAULT_NAME, MPDP_STAGE_IO_MAX, MPDP_STAGE_BURST_MAX, MPDP_CFG_BURST,
		MPDP_STAGE_RING_SIZE, STAGE_TAKEOVER_TIMEOUT_S);
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

/* Seconds, e.g. 10 or 0.5: more than 0, at most STAGE_TAKEOVER_TIMEOUT_MAX_S. */
static int
parse_seconds(const char *s, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !(v > 0) || v > STAGE_TAKEOVER_TIMEOUT_MAX_S)
		return -EINVAL;
	*out = v;
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
	int timeout_given = 0;
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
		case OPT_WAIT_PRIMARY: r->wait_primary = 1; break;
		case OPT_TAKEOVER: r->takeover = 1; break;
		case OPT_TAKEOVER_TIMEOUT:
			if (parse_seconds(optarg, &r->takeover_timeout) != 0)
				return bad_arg(r, "--takeover-timeout %s: expected seconds, more than 0 and "
					       "at most %g", optarg, STAGE_TAKEOVER_TIMEOUT_MAX_S);
			timeout_given = 1;
			break;
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
	if (timeout_given && !r->takeover)
		return bad_arg(r, "--takeover-timeout goes with --takeover");
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

	int32_t standby = __atomic_load_n(&slot->standby_pid, __ATOMIC_ACQUIRE);

	mpdp_stage_totals(slot, &t);
	fprintf(f, "stage %s (mpdp-%s): %s, pid %d, %.1f s, %u worker%s, %u restart%s", slot->id,
		slot->kind, mpdp_stage_state_name(state), mpdp_stage_slot_pid(slot), secs,
		slot->n_workers, slot->n_workers == 1 ? "" : "s", slot->restarts,
		slot->restarts == 1 ? "" : "s");
	if (standby != 0)
		fprintf(f, ", standby pid %d", (int)standby);
	fprintf(f, "\n");
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
		"\"seconds\":%.3f,\"workers\":%u,\"restarts\":%u,\"standby_pid\":%d,\"in\":[",
		slot->id, slot->kind, mpdp_stage_state_name(mpdp_stage_slot_state(slot)),
		mpdp_stage_slot_pid(slot),
		slot->started_ns && end > slot->started_ns ? (double)(end - slot->started_ns) / 1e9 : 0,
		slot->n_workers, slot->restarts,
		(int)__atomic_load_n(&slot->standby_pid, __ATOMIC_ACQUIRE));
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
	/* A dead primary's instance is left as it is: its pools have no future. */
	if (!atomic_load(&r->primary_dead))
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

/* Ask the workers to stop: a backpressured dispatch gives up waiting for room. */
static void
signal_threads(struct stage_run *r)
{
	if (atomic_exchange(&r->stop, 1))
		return;
	if (r->si != NULL)
		mpdp_stage_stop(r->si);
}

static void
join_threads(struct stage_run *r)
{
	for (unsigned w = 0; w < MPDP_STAGE_WORKERS_MAX; w++) {
		if (r->threads[w].started)
			pthread_join(r->threads[w].thread, NULL);
		r->threads[w].started = 0;
	}
}

/*
 * Wait up to @p timeout_ms for a signal, the primary's exit (its pidfd) or
 * the end of the control connection.
 *
 * @return the signal taken, 0 after the timeout, -1 when the primary's
 *         pidfd or the control connection woke it
 */
static int
wait_event(struct stage_run *r, int timeout_ms)
{
	struct pollfd p[3] = {
		{ .fd = r->sig_fd, .events = POLLIN },
		{ .fd = r->wake_fd, .events = POLLIN },
		{ .fd = r->pid_fd, .events = POLLIN }, /* poll skips a negative fd */
	};
	struct signalfd_siginfo info;
	uint64_t count;

	if (poll(p, 3, timeout_ms) <= 0)
		return 0; /* the timeout, or EINTR (a stage's own handler, e.g. mpdp-fw's SIGHUP) */
	if ((p[0].revents & POLLIN) && read(r->sig_fd, &info, sizeof(info)) == (ssize_t)sizeof(info))
		return (int)info.ssi_signo;
	if ((p[1].revents & POLLIN) && read(r->wake_fd, &count, sizeof(count)) < 0)
		count = 0;
	return p[1].revents != 0 || p[2].revents != 0 ? -1 : 0;
}

/*
 * A primary that stops cleanly clears the header's ready flag before it
 * removes the instance; one that dies leaves it set.
 */
static enum primary_status
primary_status(const struct stage_run *r)
{
	const struct mpdp_abi_header *h = mpdp_shm_header(r->shm);
	uint32_t ready = __atomic_load_n(&h->ready, __ATOMIC_ACQUIRE); /* pairs with the primary's R1 */

	if (mpdp_shm_primary_alive(r->shm))
		return ready ? PRIMARY_UP : PRIMARY_EXITED;
	return ready ? PRIMARY_DIED : PRIMARY_EXITED;
}

/* Watch the primary of the attached instance: its pidfd, or a 10 ms poll without one. */
static void
watch_primary(struct stage_run *r)
{
	const struct mpdp_abi_header *h = mpdp_shm_header(r->shm);

	r->primary_pid = h->primary_pid;
	snprintf(r->instance_name, sizeof(r->instance_name), "%s", h->name);
	r->pid_fd = (int)syscall(SYS_pidfd_open, (pid_t)h->primary_pid, 0);
	/* The pid may have been reused before the pidfd pinned it: the start time tells. */
	if (r->pid_fd >= 0 && !mpdp_shm_primary_alive(r->shm)) {
		close(r->pid_fd);
		r->pid_fd = -1;
	}
	if (r->pid_fd < 0)
		MPDP_LOG(INFO, "stage %s: no pidfd for the primary (pid %d): polling every %d ms",
			 r->cfg.id, r->primary_pid, STAGE_WATCH_NO_PIDFD_MS);
}

static void
detach(struct stage_run *r)
{
	if (r->pid_fd >= 0)
		close(r->pid_fd);
	r->pid_fd = -1;
	mpdp_shm_close(r->shm);
	r->shm = NULL;
}

/* Wait for a stop signal, the primary's exit or a failed worker; answer SIGUSR1. */
static enum stage_end
wait_loop(struct stage_run *r)
{
	for (;;) {
		int sig = wait_event(r, r->pid_fd >= 0 ? STAGE_WATCH_MS : STAGE_WATCH_NO_PIDFD_MS);

		if (sig == SIGUSR1) {
			report(r, stdout);
		} else if (sig > 0) {
			MPDP_LOG(NOTICE, "stage %s: %s, stopping", r->cfg.id, strsignal(sig));
			return STAGE_END_OK;
		}
		if (atomic_load(&r->failed))
			return STAGE_END_FAILED;
		switch (primary_status(r)) {
		case PRIMARY_UP:
			break;
		case PRIMARY_EXITED:
			MPDP_LOG(NOTICE, "stage %s: the primary of the instance has exited, stopping",
				 r->cfg.id);
			return STAGE_END_OK;
		case PRIMARY_DIED:
			atomic_store(&r->primary_dead, 1);
			signal_threads(r);
			return STAGE_END_PRIMARY_DIED;
		}
	}
}

/* Whether a live process runs the stage of @p slot (or is taking it, or stopping). */
static int
slot_busy(const struct mpdp_abi_stage *slot, int check_alive)
{
	uint64_t claim = __atomic_load_n(&slot->claim, __ATOMIC_ACQUIRE);
	uint32_t state = (uint32_t)claim;
	int pid = (int)(claim >> 32);

	if (state == MPDP_STAGE_FREE || state == MPDP_STAGE_DOWN)
		return 0;
	/* CLAIMED names its claimer; RUNNING and STOPPING also carry its start time. */
	return !check_alive || mpdp_proc_alive(pid, state == MPDP_STAGE_CLAIMED ? 0 : slot->start_time);
}

/* Give the standby place back (no-op when it is not ours). */
static void
standby_clear(struct stage_run *r)
{
	int32_t me = (int32_t)getpid();

	if (r->standby == NULL)
		return;
	__atomic_compare_exchange_n(&r->standby->standby_pid, &me, 0, 0, __ATOMIC_ACQ_REL,
				    __ATOMIC_ACQUIRE);
	r->standby = NULL;
}

/* Write our pid into the slot's standby_pid: 0, or -EBUSY (another standby is alive; said so). */
static int
standby_take(struct stage_run *r, struct mpdp_abi_stage *slot)
{
	int32_t me = (int32_t)getpid();

	for (;;) {
		int32_t cur = 0;

		if (__atomic_compare_exchange_n(&slot->standby_pid, &cur, me, 0, __ATOMIC_ACQ_REL,
						__ATOMIC_ACQUIRE))
			break;
		/* A standby that died without clearing its place leaves it to the next. */
		if (cur == me || mpdp_proc_alive(cur, 0)) {
			fprintf(stderr, "%s: stage %s already has a standby (pid %d): one at a time\n",
				r->prog, r->cfg.id, (int)cur);
			return -EBUSY;
		}
		if (__atomic_compare_exchange_n(&slot->standby_pid, &cur, me, 0, __ATOMIC_ACQ_REL,
						__ATOMIC_ACQUIRE))
			break;
	}
	r->standby = slot;
	return 0;
}

/*
 * --takeover: when a live process runs the id, stand by (the slot's
 * standby_pid) until it stops, then let the caller open the stage.
 */
static enum stage_end
stand_by(struct stage_run *r)
{
	struct mpdp_abi_stage *slot;
	uint64_t start = mpdp_time_ns(), last_alive = start, last_primary = start;
	uint64_t timeout_ns = (uint64_t)(r->takeover_timeout * 1e9);
	int owner;

	/* Not there, or not running: start as usual (open says why when the id is another kind's). */
	if (mpdp_stage_find(r->shm, r->cfg.id, &slot) != 0 || !slot_busy(slot, 1))
		return STAGE_END_GO;
	if (strcmp(slot->kind, r->stage->name) != 0)
		return STAGE_END_GO;
	if (standby_take(r, slot) != 0)
		return STAGE_END_FAILED;
	owner = mpdp_stage_slot_pid(slot);
	fprintf(stderr, "%s: stage %s runs in pid %d: standing by (pid %d) to take over when it "
		"stops, for up to %g s\n", r->prog, r->cfg.id, owner, (int)getpid(), r->takeover_timeout);
	for (;;) {
		uint64_t now = mpdp_time_ns();
		int check_alive = now - last_alive >= STAGE_STANDBY_ALIVE_NS;
		int sig;

		/* Its owner's life is read from /proc now and then; its state at every turn. */
		if (check_alive)
			last_alive = now;
		if (!slot_busy(slot, check_alive))
			return STAGE_END_GO;
		if (now - start >= timeout_ns) {
			standby_clear(r);
			fprintf(stderr, "%s: stage %s is still running (pid %d) after %g s "
				"(--takeover-timeout); not taking over\n", r->prog, r->cfg.id,
				mpdp_stage_slot_pid(slot), r->takeover_timeout);
			return STAGE_END_FAILED;
		}
		sig = wait_event(r, STAGE_STANDBY_MS);
		if (sig == SIGUSR1) {
			report(r, stdout);
		} else if (sig > 0) {
			standby_clear(r);
			MPDP_LOG(NOTICE, "stage %s: %s while standing by, stopping", r->cfg.id,
				 strsignal(sig));
			return STAGE_END_OK;
		}
		/* Woken by the pidfd, or now and then (every 10 ms without a pidfd). */
		now = mpdp_time_ns();
		if (sig != 0 || now - last_primary >= (r->pid_fd >= 0 ? STAGE_WATCH_MS :
			STAGE_WATCH_NO_PIDFD_MS) * 1000000ull) {
			enum primary_status ps = primary_status(r);

			last_primary = now;
			if (ps == PRIMARY_EXITED) {
				standby_clear(r);
				MPDP_LOG(NOTICE, "stage %s: the primary of the instance has exited, "
					 "stopping", r->cfg.id);
				return STAGE_END_OK;
			}
			if (ps == PRIMARY_DIED) {
				r->standby = NULL; /* the dead instance is left as it is */
				atomic_store(&r->primary_dead, 1);
				return STAGE_END_PRIMARY_DIED;
			}
		}
	}
}

/* mpdp_stage_open(), tried again while a dead predecessor's buffers are being reclaimed. */
static int
open_stage(struct stage_run *r, struct mpdp_errbuf *eb)
{
	const struct timespec pause = { 0, STAGE_OPEN_RETRY_PAUSE_NS };
	uint64_t until = mpdp_time_ns() + STAGE_OPEN_RETRY_NS;
	int rc;

	while ((rc = mpdp_stage_open(r->shm, r->stage, &r->cfg, &r->si, eb)) == -EAGAIN &&
	       mpdp_time_ns() < until)
		nanosleep(&pause, NULL);
	return rc;
}

static enum stage_end
run(struct stage_run *r)
{
	struct mpdp_errbuf eb = { "" };
	struct mpdp_stage_totals t;
	struct stage_ctl *ctl = NULL;
	enum stage_end end;
	int rc;

	if (r->takeover) {
		end = stand_by(r);
		if (end != STAGE_END_GO)
			return end;
	}
	rc = open_stage(r, &eb);
	standby_clear(r);
	if (rc != 0) {
		fprintf(stderr, "%s: %s\n", r->prog, eb.msg);
		return STAGE_END_FAILED;
	}
	end = start_threads(r) == 0 ? STAGE_END_OK : STAGE_END_FAILED;
	if (end == STAGE_END_OK) {
		stage_ctl_open(r->si, r->stage, r->instance, r->runtime_dir, r->wake_fd, &ctl);
		printf("ready\n");
		fflush(stdout);
		end = wait_loop(r);
	}
	signal_threads(r);
	stage_ctl_close(ctl);
	join_threads(r);
	mpdp_stage_totals(mpdp_stage_slot(r->si), &t);
	printf("%s %s: in %" PRIu64 " pkts, sent %" PRIu64 " pkts, dropped %" PRIu64 " pkts\n",
	       r->prog, r->cfg.id, t.in_packets, t.sent, t.dropped);
	fflush(stdout);
	if (r->report_on_exit)
		report(r, stdout);
	mpdp_stage_close(r->si);
	r->si = NULL;
	return end;
}

/*
 * --wait-primary: with the instance left, try to attach every 50 ms; once a
 * primary is ready, execute this program again with the same arguments (a
 * fresh process state in the new region). SIGTERM or SIGINT ends the wait.
 *
 * @return the exit code (when it does not execute)
 */
static int
wait_primary(struct stage_run *r)
{
	const char *instance = r->instance ? r->instance : MPDP_SHM_DEFAULT_NAME;

	printf("waiting for a primary of instance '%s'\n", instance);
	fflush(stdout);
	for (;;) {
		struct mpdp_errbuf eb = { "" };
		struct mpdp_shm *shm;
		int pid, rc, sig;

		rc = mpdp_shm_attach(r->instance, r->runtime_dir, &shm, &eb);
		/*
		 * The region of the dead primary itself, which can still be
		 * attached for a moment: the threads of a killed process exit one
		 * by one, and its lock is released with the last.
		 */
		if (rc == 0 && (mpdp_shm_header(shm)->generation == r->dead_generation ||
				!mpdp_shm_primary_alive(shm))) {
			mpdp_shm_close(shm);
			rc = -EAGAIN;
		}
		if (rc == 0) {
			pid = mpdp_shm_header(shm)->primary_pid;
			mpdp_shm_close(shm);
			fprintf(stderr, "%s: stage %s: instance '%s' has a primary again (pid %d); "
				"starting in it\n", r->prog, r->cfg.id, instance, pid);
			fflush(stdout);
			fflush(stderr);
			execv("/proc/self/exe", r->argv);
			fprintf(stderr, "%s: stage %s: cannot execute /proc/self/exe again: %s\n", r->prog,
				r->cfg.id, strerror(errno));
			return 1;
		}
		if (rc != -ENOENT && rc != -EAGAIN) {
			fprintf(stderr, "%s: %s\n", r->prog, eb.msg);
			return 1;
		}
		sig = wait_event(r, STAGE_WAIT_PRIMARY_MS);
		if (sig > 0 && sig != SIGUSR1) {
			MPDP_LOG(NOTICE, "stage %s: %s while waiting for a primary, stopping", r->cfg.id,
				 strsignal(sig));
			return 0;
		}
	}
}

/* The primary died under a running (or standing-by) stage: say so, then exit or wait. */
static int
primary_died(struct stage_run *r)
{
	fprintf(stderr, "%s: stage %s: the primary of instance '%s' (pid %d) died; %s\n", r->prog,
		r->cfg.id, r->instance_name, r->primary_pid,
		r->wait_primary ? "waiting for the next one (--wait-primary)" :
		"exiting (use --wait-primary to wait for the next one)");
	r->dead_generation = mpdp_shm_header(r->shm)->generation;
	detach(r);
	return r->wait_primary ? wait_primary(r) : 1;
}

int
mpdp_stage_main(int argc, char **argv, const struct mpdp_stage *stage)
{
	struct stage_run *r = calloc(1, sizeof(*r));
	struct mpdp_errbuf eb = { "" };
	sigset_t sigs;
	int rc;

	if (r == NULL || (r->argv = calloc((size_t)argc + 1, sizeof(char *))) == NULL) {
		fprintf(stderr, "mpdp-%s: out of memory\n", stage->name);
		free(r);
		return 1;
	}
	/* getopt may permute argv: keep it as given, for --wait-primary's exec. */
	memcpy(r->argv, argv, (size_t)argc * sizeof(char *));
	r->stage = stage;
	r->takeover_timeout = STAGE_TAKEOVER_TIMEOUT_S;
	r->sig_fd = r->wake_fd = r->pid_fd = -1;
	snprintf(r->prog, sizeof(r->prog), "mpdp-%s", stage->name);
	rc = parse_args(r, argc, argv);
	if (rc != 0) {
		rc = rc == 1 ? 0 : rc; /* 1: --help or --version was printed */
		goto out;
	}
	/*
	 * Stop signals are taken by a signalfd only, with their default
	 * disposition restored first: a shell starts background jobs with
	 * SIGINT ignored, and an ignored signal never becomes pending. They stay
	 * blocked across the exec of --wait-primary, so one sent meanwhile waits.
	 */
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGUSR1, SIG_DFL);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	r->sig_fd = signalfd(-1, &sigs, SFD_CLOEXEC);
	r->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (r->sig_fd < 0 || r->wake_fd < 0) {
		fprintf(stderr, "%s: cannot make a signalfd or an eventfd: %s\n", r->prog, strerror(errno));
		rc = 1;
		goto out;
	}

	rc = mpdp_shm_attach(r->instance, r->runtime_dir, &r->shm, &eb);
	if (rc != 0) {
		if (r->wait_primary && !r->report && (rc == -ENOENT || rc == -EAGAIN)) {
			rc = wait_primary(r);
		} else {
			fprintf(stderr, "%s: %s\n", r->prog, eb.msg);
			rc = 1;
		}
		goto out;
	}
	if (r->report) {
		rc = report(r, stdout);
	} else {
		watch_primary(r);
		switch (run(r)) {
		case STAGE_END_OK: rc = 0; break;
		case STAGE_END_PRIMARY_DIED: rc = primary_died(r); break;
		default: rc = 1; break;
		}
	}
	if (r->shm != NULL)
		detach(r);
out:
	if (r->sig_fd >= 0)
		close(r->sig_fd);
	if (r->wake_fd >= 0)
		close(r->wake_fd);
	free(r->argv);
	free(r);
	return rc;
}

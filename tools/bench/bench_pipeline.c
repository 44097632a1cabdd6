/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Rate through a chain of stage processes: the real mpdp-primary with a
 * null port p0 (a source) and a null port p1 (a sink, no_rx=1), and K
 * mpdp-fwd --mac-swap processes (plain mpdp-fwd with --no-swap) chained by
 * rings (with --backpressure when K > 1, see bench_pipeline()):
 *
 *   p0 -> primary I/O worker -> p0.rx -> fwd f1 -> r1 -> ... -> fK -> p1.tx
 *      -> primary I/O worker -> p1 (freed)
 *
 * The primary runs on the first core of -l, every stage on the second. The
 * figure is p1's tx_packets per second over the window, read from the port
 * table in shared memory; beside it the first stage's in-rate, what the
 * stages dropped (output ring full) and what the primary missed (p0.rx
 * full), each per second, and the cache-line round trip between the two
 * cores measured just before the run (shared/FACTS.md: every two-core
 * figure on this host follows it).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "mpdp_err.h"
#include "mpdp_port.h"
#include "mpdp_shm.h"
#include "mpdp_stage.h"
#include "mpdp_time.h"
#include "mpdp_worker.h"

#define PL_STAGES_MAX 8
#define PL_WARMUP_NS 500000000ull
#define PL_READY_MS 10000
#define PL_STOP_MS 5000
#define PL_RTT_ROUNDS 20000u
#define PL_PORT_RING_SIZE 1024u /* mpdp-primary's default --port-ring-size */

extern char **environ;

/* A child process and the read end of its stdout. */
struct pl_child {
	pid_t pid;
	int out;
};

struct pl_run {
	struct pl_child primary;
	struct pl_child stage[PL_STAGES_MAX];
	unsigned n_stages;         /* stages started */
	struct mpdp_shm *shm;
	char name[32];
	char dir[40];
};

/* Counters at one instant. */
struct pl_sample {
	uint64_t ns;
	uint64_t tx;               /* p1 tx_packets: through the whole chain */
	uint64_t missed;           /* p0 rx_missed: p0.rx was full */
	uint64_t in;               /* f1 in_packets */
	uint64_t polls, busy;      /* f1 loop turns, and those that got packets */
	uint64_t dropped;          /* every stage's drops */
};

/* One run's figures. */
enum pl_fig {
	PL_MPPS,                   /* out of p1, Mpps */
	PL_IN,                     /* into f1, Mpps */
	PL_DROP,                   /* dropped by the stages, Mpps */
	PL_MISSED,                 /* missed by the primary, Mpps */
	PL_BUSY,                   /* share of f1's loop turns that got packets */
	PL_RTT,                    /* core-to-core round trip before the run, ns */
	PL_N_FIGS,
};

struct pl_result {
	double fig[PL_N_FIGS];
	int hugepages;
};

/* A program beside this one: build tree (../SUBDIR/PROG) or installed (same bin/). */
static int
find_beside(const char *self, const char *subdir, const char *prog, char *out, size_t len)
{
	char copy[PATH_MAX];
	const char *dir;

	snprintf(copy, sizeof(copy), "%s", self);
	dir = dirname(copy);
	snprintf(out, len, "%s/../%s/%s", dir, subdir, prog);
	if (access(out, X_OK) == 0)
		return 0;
	snprintf(out, len, "%s/%s", dir, prog);
	return access(out, X_OK) == 0 ? 0 : -ENOENT;
}

/* Start @args[0] with its stdout on a pipe (stderr stays ours). */
static int
spawn_child(char **args, struct pl_child *c)
{
	posix_spawn_file_actions_t fa;
	int fds[2], rc;

	if (pipe2(fds, O_CLOEXEC) != 0)
		return -errno;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
	rc = posix_spawn(&c->pid, args[0], &fa, NULL, args, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(fds[1]);
	if (rc != 0) {
		close(fds[0]);
		c->pid = 0;
		return -rc;
	}
	c->out = fds[0];
	return 0;
}

/* Wait until the child prints "ready" (0), exits (-EPIPE) or @ms pass (-ETIMEDOUT). */
static int
wait_ready(const struct pl_child *c, int ms)
{
	char buf[256];
	size_t len = 0;
	uint64_t end = mpdp_time_ns() + (uint64_t)ms * 1000000u;

	for (;;) {
		struct pollfd pfd = { c->out, POLLIN, 0 };
		uint64_t now = mpdp_time_ns();
		ssize_t n;

		if (now >= end)
			return -ETIMEDOUT;
		if (poll(&pfd, 1, (int)((end - now) / 1000000u) + 1) <= 0)
			continue;
		n = read(c->out, buf + len, sizeof(buf) - 1 - len);
		if (n <= 0)
			return -EPIPE;
		len += (size_t)n;
		buf[len] = '\0';
		if (strstr(buf, "ready\n") != NULL)
			return 0;
		if (len == sizeof(buf) - 1) { /* keep the tail: "ready" may straddle */
			memmove(buf, buf + len - 8, 8);
			len = 8;
		}
	}
}

/* SIGTERM, then wait up to PL_STOP_MS (SIGKILL after). @return 0 when it exited 0. */
static int
stop_child(struct pl_child *c, const char *what)
{
	int status = 0, rc = 0;
	pid_t got = 0;

	if (c->pid <= 0)
		return 0;
	kill(c->pid, SIGTERM);
	for (int i = 0; i < PL_STOP_MS / 10 && (got = waitpid(c->pid, &status, WNOHANG)) == 0; i++)
		usleep(10000);
	if (got == 0) {
		fprintf(stderr, "mpdp-bench: pipeline: %s (pid %d) did not stop on SIGTERM; killed\n",
			what, (int)c->pid);
		kill(c->pid, SIGKILL);
		waitpid(c->pid, &status, 0);
		rc = -ETIMEDOUT;
	} else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		if (WIFSIGNALED(status))
			fprintf(stderr, "mpdp-bench: pipeline: %s (pid %d) died of signal %d\n", what,
				(int)c->pid, WTERMSIG(status));
		else
			fprintf(stderr, "mpdp-bench: pipeline: %s (pid %d) exited with status %d\n", what,
				(int)c->pid, WEXITSTATUS(status));
		rc = -EIO;
	}
	/* Only now: a child writing its last words to a closed pipe would die of SIGPIPE. */
	close(c->out);
	c->pid = 0;
	return rc;
}

/* Stages first (the last one first), then the primary; 0 when all exited 0. */
static int
stop_all(struct pl_run *r)
{
	char what[32];
	int rc = 0;

	if (r->shm != NULL)
		mpdp_shm_close(r->shm);
	r->shm = NULL;
	for (unsigned i = r->n_stages; i-- > 0;) {
		snprintf(what, sizeof(what), "mpdp-fwd f%u", i + 1);
		if (stop_child(&r->stage[i], what) != 0)
			rc = -EIO;
	}
	if (stop_child(&r->primary, "mpdp-primary") != 0)
		rc = -EIO;
	rmdir(r->dir);
	return rc;
}

static int
start_primary(const struct bench *b, const char *prog, struct pl_run *r)
{
	char core[16], p0[64], p1[64], ring[16];
	char *args[32] = { (char *)prog, "--name", r->name, "--runtime-dir", r->dir, "-l", core,
			   "--port", p0, "--port", p1, "--log-level", "err" };
	unsigned n = 13;
	int rc;

	snprintf(core, sizeof(core), "%d", b->cpu[0]);
	snprintf(p0, sizeof(p0), "p0,driver=null,size=%u", b->size);
	snprintf(p1, sizeof(p1), "p1,driver=null,size=%u,no_rx=1", b->size);
	if (b->no_huge)
		args[n++] = "--no-huge";
	if (b->ring_size != 0) {
		snprintf(ring, sizeof(ring), "%u", b->ring_size);
		args[n++] = "--port-ring-size";
		args[n++] = ring;
	}
	args[n] = NULL;
	rc = spawn_child(args, &r->primary);
	if (rc != 0) {
		fprintf(stderr, "mpdp-bench: pipeline: cannot start %s: %s\n", prog, mpdp_strerror(rc));
		return rc;
	}
	rc = wait_ready(&r->primary, PL_READY_MS);
	if (rc != 0) {
		fprintf(stderr, "mpdp-bench: pipeline: mpdp-primary %s\n",
			rc == -EPIPE ? "exited before it was ready" : "was not ready in time");
		return rc;
	}
	return 0;
}

/* Stage @i (0-based): f(i+1), from p0.rx or r(i) to r(i+1) or p1.tx. */
static int
start_stage(const struct bench *b, const char *prog, struct pl_run *r, unsigned i)
{
	char id[16], in[16], out[24], core[16], burst[16], ring[16];
	char *args[40] = { (char *)prog, "--name", r->name, "--runtime-dir", r->dir, "--stage", id,
			   "--in", in, "--out", out, "-l", core, "--log-level", "err" };
	unsigned n = 15;
	int rc;

	snprintf(id, sizeof(id), "f%u", i + 1);
	if (i == 0)
		snprintf(in, sizeof(in), "p0.rx");
	else
		snprintf(in, sizeof(in), "r%u", i);
	if (i + 1 == b->stages)
		snprintf(out, sizeof(out), "out=p1.tx");
	else
		snprintf(out, sizeof(out), "out=r%u", i + 1);
	snprintf(core, sizeof(core), "%d", b->cpu[1]);
	if (b->burst != 0) {
		snprintf(burst, sizeof(burst), "%u", b->burst);
		args[n++] = "--burst";
		args[n++] = burst;
	}
	if (b->ring_size != 0) {
		snprintf(ring, sizeof(ring), "%u", b->ring_size);
		args[n++] = "--ring-size";
		args[n++] = ring;
	}
	if (b->busy_poll)
		args[n++] = "--busy-poll";
	if (!b->no_swap)
		args[n++] = "--mac-swap";
	if (b->backpressure)
		args[n++] = "--backpressure";
	args[n] = NULL;
	rc = spawn_child(args, &r->stage[i]);
	if (rc != 0) {
		fprintf(stderr, "mpdp-bench: pipeline: cannot start %s: %s\n", prog, mpdp_strerror(rc));
		return rc;
	}
	r->n_stages = i + 1;
	rc = wait_ready(&r->stage[i], PL_READY_MS);
	if (rc != 0)
		fprintf(stderr, "mpdp-bench: pipeline: mpdp-fwd f%u %s\n", i + 1,
			rc == -EPIPE ? "exited before it was ready" : "was not ready in time");
	return rc;
}

static int
take_sample(struct mpdp_shm *shm, unsigned n_stages, struct pl_sample *s)
{
	struct mpdp_abi_port *p0, *p1;
	struct mpdp_abi_port_queue q0, q1;
	struct mpdp_stage_totals t;
	struct mpdp_abi_stage *slot;
	char id[16];
	int rc;

	rc = mpdp_port_lookup(shm, "p0", &p0);
	if (rc == 0)
		rc = mpdp_port_lookup(shm, "p1", &p1);
	if (rc != 0)
		return rc;
	s->ns = mpdp_time_ns();
	mpdp_port_stats(p1, &q1);
	mpdp_port_stats(p0, &q0);
	s->tx = q1.tx_packets;
	s->missed = q0.rx_missed;
	s->in = s->polls = s->busy = 0;
	s->dropped = 0;
	for (unsigned i = 0; i < n_stages; i++) {
		snprintf(id, sizeof(id), "f%u", i + 1);
		rc = mpdp_stage_find(shm, id, &slot);
		if (rc != 0)
			return rc;
		mpdp_stage_totals(slot, &t);
		if (i == 0) {
			s->in = t.in_packets;
			s->polls = t.polls;
			s->busy = t.busy_polls;
		}
		s->dropped += t.dropped;
	}
	return 0;
}

/*
 * Cache-line round trip between two cores: each side waits for the other's
 * value and answers with the next one. Side 0 times the rounds after the
 * first, so thread start-up is not counted.
 */
struct rtt_arg {
	_Atomic uint64_t *line;
	int cpu;
	unsigned side;
	uint64_t t0, t1;           /* side 0: after the first round, after the last */
};

static void *
rtt_thread(void *varg)
{
	struct rtt_arg *a = varg;

	mpdp_worker_pin(a->cpu);
	for (uint64_t v = a->side; v < 2ull * PL_RTT_ROUNDS; v += 2) {
		uint64_t seen;

		while ((seen = atomic_load_explicit(a->line, memory_order_acquire)) != v) {
			if (seen >= 2ull * PL_RTT_ROUNDS) /* the other side never started */
				return NULL;
		}
		if (v == 2)
			a->t0 = mpdp_time_ns();
		atomic_store_explicit(a->line, v + 1, memory_order_release);
	}
	a->t1 = mpdp_time_ns();
	return NULL;
}

static double
measure_rtt(const struct bench *b)
{
	_Alignas(128) _Atomic uint64_t line = 0;
	struct rtt_arg a[2] = { { &line, b->cpu[0], 0, 0, 0 }, { &line, b->cpu[1], 1, 0, 0 } };
	pthread_t t[2];

	/* Two threads of their own: the children inherit this thread's affinity. */
	if (pthread_create(&t[0], NULL, rtt_thread, &a[0]) != 0)
		return 0;
	if (pthread_create(&t[1], NULL, rtt_thread, &a[1]) != 0) {
		atomic_store(&line, 2ull * PL_RTT_ROUNDS); /* releases the first one */
		pthread_join(t[0], NULL);
		return 0;
	}
	pthread_join(t[0], NULL);
	pthread_join(t[1], NULL);
	return (double)(a[0].t1 - a[0].t0) / (PL_RTT_ROUNDS - 1);
}

static double
per_sec(uint64_t a, uint64_t b, uint64_t ns)
{
	return (double)(b - a) * 1e3 / (double)ns;
}

/* One run: start everything, wait for ready, warm up, sample over the window, stop. */
static int
pipeline_run(const struct bench *b, const char *primary, const char *fwd, unsigned run,
	     struct pl_result *res)
{
	struct mpdp_errbuf eb = { "" };
	struct pl_run r = { .primary = { 0, -1 } };
	struct pl_sample s0, s1;
	uint64_t t0;
	int rc;

	res->fig[PL_RTT] = measure_rtt(b);
	snprintf(r.name, sizeof(r.name), "benchpl-%d-%u", (int)getpid(), run);
	snprintf(r.dir, sizeof(r.dir), "/tmp/mpdp-bench-pl-XXXXXX");
	if (mkdtemp(r.dir) == NULL)
		return -errno;
	rc = start_primary(b, primary, &r);
	if (rc == 0) {
		rc = mpdp_shm_attach(r.name, r.dir, &r.shm, &eb);
		if (rc != 0)
			fprintf(stderr, "mpdp-bench: pipeline: %s\n", eb.msg);
	}
	for (unsigned i = 0; rc == 0 && i < b->stages; i++)
		rc = start_stage(b, fwd, &r, i);
	if (rc != 0) {
		stop_all(&r);
		return rc;
	}
	res->hugepages = mpdp_shm_header(r.shm)->hugepages != 0;
	t0 = mpdp_time_ns();
	while (mpdp_time_ns() - t0 < PL_WARMUP_NS)
		usleep(10000);
	rc = take_sample(r.shm, b->stages, &s0);
	if (rc == 0) {
		struct timespec window = { (time_t)b->seconds, 0 };

		while (nanosleep(&window, &window) != 0 && errno == EINTR)
			;
		rc = take_sample(r.shm, b->stages, &s1);
	}
	if (rc != 0)
		fprintf(stderr, "mpdp-bench: pipeline: cannot read the counters: %s\n", mpdp_strerror(rc));
	if (stop_all(&r) != 0 && rc == 0)
		rc = -EIO;
	if (rc != 0)
		return rc;
	res->fig[PL_MPPS] = per_sec(s0.tx, s1.tx, s1.ns - s0.ns);
	res->fig[PL_IN] = per_sec(s0.in, s1.in, s1.ns - s0.ns);
	res->fig[PL_DROP] = per_sec(s0.dropped, s1.dropped, s1.ns - s0.ns);
	res->fig[PL_MISSED] = per_sec(s0.missed, s1.missed, s1.ns - s0.ns);
	res->fig[PL_BUSY] = s1.polls > s0.polls ?
			    (double)(s1.busy - s0.busy) / (double)(s1.polls - s0.polls) : 0;
	if (s1.tx == s0.tx) {
		fprintf(stderr, "mpdp-bench: pipeline: nothing came out of the chain\n");
		return -EIO;
	}
	return 0;
}

static double
median_of(const struct pl_result *res, unsigned n, enum pl_fig f)
{
	double v[1000];

	for (unsigned i = 0; i < n; i++)
		v[i] = res[i].fig[f];
	return bench_median(v, n);
}

static void
print_run(unsigned i, const struct pl_result *r)
{
	printf("  run %u: %.2f Mpps out, stage in %.2f Mpps, stage drops %.3f Mpps, primary "
	       "missed %.2f Mpps, stage busy %.0f%%, core-to-core round trip %.0f ns\n", i + 1,
	       r->fig[PL_MPPS], r->fig[PL_IN], r->fig[PL_DROP], r->fig[PL_MISSED],
	       r->fig[PL_BUSY] * 100, r->fig[PL_RTT]);
}

static void
print_summary(const struct bench *b, const struct pl_result *res, int huge)
{
	double m[PL_N_FIGS];

	for (unsigned f = 0; f < PL_N_FIGS; f++)
		m[f] = median_of(res, b->runs, (enum pl_fig)f);
	if (!b->json) {
		printf("pipeline: null p0 -> primary (core %d) -> %u x mpdp-fwd%s%s (core %d) -> null p1, "
		       "%u B, %s: %.2f Mpps (stage in %.2f, stage drops %.3f, primary missed %.2f Mpps, "
		       "stage busy %.0f%%; round trip %.0f ns)\n", b->cpu[0], b->stages,
		       b->no_swap ? "" : " --mac-swap", b->backpressure ? " --backpressure" : "",
		       b->cpu[1], b->size, huge ? "hugepages" : "tmpfs",
		       m[PL_MPPS], m[PL_IN], m[PL_DROP], m[PL_MISSED], m[PL_BUSY] * 100, m[PL_RTT]);
		return;
	}
	printf("{\"bench\":\"pipeline\",\"stages\":%u,\"size\":%u,\"burst\":%u,\"port_ring_size\":%u,"
	       "\"busy_poll\":%d,\"backpressure\":%d,\"mac_swap\":%s,\"hugepages\":%s,\"seconds\":%u,"
	       "\"runs\":%u,",
	       b->stages, b->size, b->burst ? b->burst : MPDP_CFG_BURST,
	       b->ring_size ? b->ring_size : PL_PORT_RING_SIZE, b->busy_poll, b->backpressure,
	       b->no_swap ? "false" : "true", huge ? "true" : "false", b->seconds, b->runs);
	printf("\"mpps\":%.2f,\"stage_in_mpps\":%.2f,\"stage_drop_mpps\":%.3f,\"rx_missed_mpps\":%.2f,"
	       "\"stage_busy\":%.3f,\"rtt_ns\":%.0f,\"runs_mpps\":[", m[PL_MPPS], m[PL_IN],
	       m[PL_DROP], m[PL_MISSED], m[PL_BUSY], m[PL_RTT]);
	for (unsigned i = 0; i < b->runs; i++)
		printf("%s%.2f", i ? "," : "", res[i].fig[PL_MPPS]);
	printf("],\"runs_rtt_ns\":[");
	for (unsigned i = 0; i < b->runs; i++)
		printf("%s%.0f", i ? "," : "", res[i].fig[PL_RTT]);
	printf("]}\n");
}

int
bench_pipeline(struct bench *b)
{
	char primary[PATH_MAX], fwd[PATH_MAX];
	struct pl_result *res;
	int huge = 1, rc = 0;

	if (b->stages < 1 || b->stages > PL_STAGES_MAX) {
		fprintf(stderr, "mpdp-bench: pipeline: --stages %u: expected 1 to %d\n", b->stages,
			PL_STAGES_MAX);
		return -EINVAL;
	}
	if (b->cpu[0] < 0 || b->cpu[1] < 0) {
		fprintf(stderr, "mpdp-bench: pipeline: needs two cores (-l A,B: the primary on A, "
			"the stages on B)\n");
		return -EINVAL;
	}
	if (find_beside(b->self, "primary", "mpdp-primary", primary, sizeof(primary)) != 0 ||
	    find_beside(b->self, "secondary/fwd", "mpdp-fwd", fwd, sizeof(fwd)) != 0) {
		fprintf(stderr, "mpdp-bench: cannot find mpdp-primary and mpdp-fwd beside %s\n", b->self);
		return -ENOENT;
	}
	/*
	 * Stages polling on one core take turns by the scheduler's slices: one
	 * that drops on a full output while the next waits for the core moves
	 * next to nothing (0.3 Mpps for two), one that yields instead moves the
	 * ring's worth per turn.
	 */
	if (b->stages > 1)
		b->backpressure = 1;
	res = calloc(b->runs, sizeof(*res));
	if (res == NULL)
		return -ENOMEM;
	for (unsigned i = 0; i < b->runs && rc == 0; i++) {
		rc = pipeline_run(b, primary, fwd, i, &res[i]);
		if (rc != 0) {
			fprintf(stderr, "mpdp-bench: pipeline run %u failed: %s\n", i + 1, mpdp_strerror(rc));
			break;
		}
		huge &= res[i].hugepages;
		if (!b->json)
			print_run(i, &res[i]);
	}
	if (rc == 0) {
		if (!huge && !b->no_huge)
			fprintf(stderr, "mpdp-bench: pipeline: no free hugepages, the primary was using "
				"tmpfs\n");
		print_summary(b, res, huge);
		fflush(stdout);
	}
	free(res);
	return rc;
}

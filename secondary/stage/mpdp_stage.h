/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * The stage framework: how a packet function becomes a process.
 *
 * A stage is described by a struct mpdp_stage: a context size, the names of
 * its outputs ("drop" is always output 0), optional init/fini/report hooks,
 * its command-line options and a process() callback that reads a burst and
 * writes one output index per packet into next[]. The framework does the
 * rest: argument parsing, attaching to the instance, the stage's slot in
 * shared memory (memzone "stage.<id>"), rings made on demand, one worker
 * thread per core of -l with a context each, the poll loop, the enqueue of
 * each packet to the ring of its output (VPP's enqueue-to-next), counters,
 * the heartbeat, and stopping cleanly on SIGTERM or SIGINT.
 *
 * A stage program is one file whose main() is
 * `return mpdp_stage_main(argc, argv, &my_stage);` (see doc/writing-a-stage.md).
 *
 * The lower-level calls (mpdp_stage_open(), mpdp_stage_poll(),
 * mpdp_stage_dispatch(), mpdp_stage_close()) run a stage inside any process,
 * which is how the tests drive one burst at a time.
 */
#ifndef MPDP_STAGE_H
#define MPDP_STAGE_H

#include <stdint.h>
#include <stdio.h>

#include "mpdp_abi.h"
#include "mpdp_err.h"
#include "mpdp_mbuf.h"

struct mpdp_shm;
struct mpdp_ring;

/** Output 0 of every stage: the packet is freed and counted as dropped. */
#define MPDP_STAGE_NEXT_DROP 0

/** Largest burst a stage may ask for (--burst). */
#define MPDP_STAGE_BURST_MAX MPDP_STAGE_HAND_MAX

/** Stage options one command line may carry (repeats included). */
#define MPDP_STAGE_OPTIONS_MAX 32

/** About how often a worker calls the stage's tick hook. */
#define MPDP_STAGE_TICK_NS 100000000ull

/** Default slots of a ring made on demand (--ring-size). */
#define MPDP_STAGE_RING_SIZE 1024

/** One stage-specific command-line option, e.g. { "set-dst-mac", "MAC", "..." }. */
struct mpdp_stage_option {
	const char *name;          /**< long option, without the leading "--" */
	const char *arg;           /**< what the value is called in --help, NULL for a flag */
	const char *help;          /**< one line */
};

/** An output bound to a ring: --out NEXT=RING. */
struct mpdp_stage_output_cfg {
	const char *next;          /**< one of the stage's next_names, not "drop" */
	const char *ring;
};

/** An option as given: flags have the value "". */
struct mpdp_stage_option_val {
	const char *name;
	const char *value;
};

/** How to run a stage: what mpdp_stage_main() builds from the command line. */
struct mpdp_stage_config {
	const char *id;            /**< --stage: names the slot and the stage's zones */
	unsigned n_in;
	const char *in[MPDP_STAGE_IO_MAX];
	uint8_t in_role[MPDP_STAGE_IO_MAX]; /**< index into stage->in_roles, when it has roles */
	unsigned n_out;
	struct mpdp_stage_output_cfg out[MPDP_STAGE_IO_MAX];
	unsigned n_workers;        /**< contexts (worker threads); 0 means 1 */
	unsigned burst;            /**< packets per dequeue; 0 means MPDP_CFG_BURST */
	unsigned ring_size;        /**< slots of rings made on demand; 0 means MPDP_STAGE_RING_SIZE */
	int backpressure;          /**< wait for room on a full output rather than drop */
	unsigned n_options;
	struct mpdp_stage_option_val options[MPDP_STAGE_OPTIONS_MAX];
};

struct mpdp_stage;
struct mpdp_stage_env;

/**
 * A command the stage serves through the control socket: the user types
 * `mpdpctl KIND NAME ARGS...` (or `mpdpctl KIND ID NAME ...` when several
 * stages of the kind run) and the primary routes it to the stage.
 */
struct mpdp_stage_command {
	const char *name;          /**< one or more words, e.g. "rule add" */
	const char *args;          /**< how the rest is written, e.g. "[POS] RULE"; NULL for none */
	const char *help;          /**< one line */
	/**
	 * Run the command in the stage's control thread, concurrently with its
	 * workers (hand anything they must see over safely: the workers never
	 * wait for a command). @p ctxs holds env->n_workers contexts, @p argv
	 * the words after the name. Write text to @p out, or with @p json one
	 * JSON value. Output beyond about 1 MiB is refused: bound what a list
	 * prints (e.g. a count argument).
	 * @return 0, or -errno with the reason in @p eb (the user sees it)
	 */
	int (*run)(const struct mpdp_stage_env *env, void *const *ctxs, int argc, char **argv,
		   int json, FILE *out, struct mpdp_errbuf *eb);
};

/** What the hooks of a stage are given. */
struct mpdp_stage_env {
	struct mpdp_shm *shm;
	const struct mpdp_stage *stage;
	const struct mpdp_stage_config *cfg;
	unsigned worker;           /**< which context (0 to n_workers - 1); 0 for report */
	unsigned n_workers;
	int json;                  /**< report: print one JSON object, not text */
};

/** A stage: what a packet function declares about itself. */
struct mpdp_stage {
	const char *name;          /**< kind, e.g. "fwd"; the program is mpdp-<name> */
	const char *summary;       /**< one line for --help */
	size_t ctx_size;           /**< bytes of context per worker, zeroed before init */
	uint16_t n_next;           /**< outputs, "drop" included; 1 to MPDP_STAGE_IO_MAX */
	const char *const *next_names; /**< [0] is "drop" */
	unsigned max_workers;      /**< 0: any number of workers */
	const struct mpdp_stage_option *options; /**< terminated by { NULL }; NULL for none */

	/** Optional. Set up one context. @return 0, or -errno with the reason in @p eb. */
	int (*init)(void *ctx, const struct mpdp_stage_env *env, struct mpdp_errbuf *eb);
	/** Optional. Undo init; called once per context that was set up. */
	void (*fini)(void *ctx);
	/** Fill next[i] with the output of pkts[i], for i < n. */
	void (*process)(void *ctx, struct mpdp_mbuf **pkts, uint16_t n, uint16_t *next);
	/**
	 * Optional. Called by each worker about every MPDP_STAGE_TICK_NS, with
	 * or without traffic: for timers, rates, flushing (never between
	 * process() and the dispatch of its burst, nor while a backpressured
	 * dispatch waits for room).
	 */
	void (*tick)(void *ctx, uint64_t now_ns);
	/**
	 * Optional. Print what the stage knows (from its shared zones, so it
	 * works from another process: `mpdp-<name> --report`, or SIGUSR1);
	 * with env->json, one JSON object (the framework puts it under
	 * "report", beside its own counters under "stage").
	 * @return 0, or -errno with the reason in @p eb
	 */
	int (*report)(const struct mpdp_stage_env *env, FILE *f, struct mpdp_errbuf *eb);
	/**
	 * Optional: the roles of the stage's inputs, e.g. { "inside", "outside" }
	 * for a NAT. Each input is then given as --in ROLE=RING or --ROLE RING,
	 * and process() learns the role of a burst with mpdp_stage_input() and
	 * cfg->in_role[]. 0: inputs have no role (--in RING).
	 */
	uint16_t n_in_roles;
	const char *const *in_roles;
	/** Optional: commands for mpdpctl, terminated by { NULL }. */
	const struct mpdp_stage_command *commands;
};

/**
 * The main() of a stage program: parse the command line, attach, run until
 * SIGTERM or SIGINT (or until the primary goes away), report, exit.
 *
 * @return the process exit code: 0 after a clean stop, 1 when it could not
 *         run (the reason is printed), 2 for bad arguments
 */
int mpdp_stage_main(int argc, char **argv, const struct mpdp_stage *stage);

/**
 * The value of a stage option, for init and report.
 *
 * @return the last value given for @p name ("" for a flag), or NULL when absent
 */
const char *mpdp_stage_option(const struct mpdp_stage_env *env, const char *name);

/**
 * Every value given for a repeatable option: call with *iter = 0, then
 * again with the same iter until it returns NULL.
 */
const char *mpdp_stage_option_next(const struct mpdp_stage_env *env, const char *name,
				   unsigned *iter);

/**
 * Which input the burst being processed came from, inside process(): an
 * index into cfg->in[] (and cfg->in_role[]).
 *
 * @param ctx  the context process() was given
 */
unsigned mpdp_stage_input(const void *ctx);

/** Whether output @p next has a ring bound to it. */
int mpdp_stage_output_bound(const struct mpdp_stage_env *env, uint16_t next);

/**
 * Find or make the zone "<id>.<suffix>" of @p len bytes: state that outlives
 * the process (a restarted stage of the same id finds it).
 *
 * @return 1 when it existed (same size), 0 when it was made (zeroed),
 *         -errno with the reason in @p eb (-EEXIST: exists with another size)
 */
int mpdp_stage_zone(const struct mpdp_stage_env *env, const char *suffix, uint64_t len,
		    void **addr, struct mpdp_errbuf *eb);

/**
 * Check a configuration against a stage without touching shared memory:
 * names, counts, outputs that exist, no output ring that is also an input.
 *
 * @return 0, or -EINVAL with the reason in @p eb
 */
int mpdp_stage_check_config(const struct mpdp_stage *stage, const struct mpdp_stage_config *cfg,
			    struct mpdp_errbuf *eb);

/**
 * Find the zone "<id>.<suffix>" without making it (for report).
 *
 * @return 0 with its address and size, or -ENOENT with the reason in @p eb
 */
int mpdp_stage_zone_find(const struct mpdp_stage_env *env, const char *suffix, void **addr,
			 uint64_t *len, struct mpdp_errbuf *eb);

/** A stage running in this process. */
struct mpdp_stage_instance;

/**
 * Run a stage in this process: claim its slot, bind (and make) its rings,
 * set up one context per worker.
 *
 * @return 0, -EINVAL (bad config), -EBUSY (the id is running in a live
 *         process), or what init returned; the reason is in @p eb
 */
int mpdp_stage_open(struct mpdp_shm *shm, const struct mpdp_stage *stage,
		    const struct mpdp_stage_config *cfg, struct mpdp_stage_instance **out,
		    struct mpdp_errbuf *eb);

/**
 * One turn of worker @p w's loop: dequeue a burst (inputs in turn), count
 * it, process it, dispatch it. @p wid is the caller's worker id (for the
 * pool caches); the same worker must always use the same @p w.
 *
 * @return packets handled this turn
 */
unsigned mpdp_stage_poll(struct mpdp_stage_instance *si, unsigned w, unsigned wid);

/**
 * Send each of @p pkts to the ring of output next[i] and count it. A packet
 * for "drop", for an unbound output, for a full ring (unless backpressure)
 * or with next[i] out of range is freed and counted. Every packet is taken.
 */
void mpdp_stage_dispatch(struct mpdp_stage_instance *si, unsigned w, unsigned wid,
			 struct mpdp_mbuf **pkts, uint16_t n, const uint16_t *next);

/** Ask every worker to stop: a backpressured dispatch gives up waiting. */
void mpdp_stage_stop(struct mpdp_stage_instance *si);

/** Finish: fini each context, mark the slot down. */
void mpdp_stage_close(struct mpdp_stage_instance *si);

/**
 * Run the stage command that @p argv begins with (its name's words, then
 * its arguments), as the control connection does.
 *
 * @return what the command returned; -EINVAL when no command matches
 */
int mpdp_stage_command(struct mpdp_stage_instance *si, int argc, char **argv, int json, FILE *out,
		       struct mpdp_errbuf *eb);

/** The stage's slot in shared memory. */
struct mpdp_abi_stage *mpdp_stage_slot(const struct mpdp_stage_instance *si);

/** A stage's counters summed over its workers. */
struct mpdp_stage_totals {
	uint64_t in_packets, in_bytes;
	uint64_t in_hand;
	uint64_t polls, busy_polls;
	uint64_t heartbeat_ns;     /**< the most recent of the workers' */
	uint64_t out_packets[MPDP_STAGE_IO_MAX]; /**< [0]: dropped by verdict */
	uint64_t out_bytes[MPDP_STAGE_IO_MAX];
	uint64_t out_drops[MPDP_STAGE_IO_MAX];
	uint64_t sent;             /**< sum of out_packets[1..] */
	uint64_t dropped;          /**< out_packets[0] plus every out_drops */
};

/** Sum the workers of @p slot. */
void mpdp_stage_totals(const struct mpdp_abi_stage *slot, struct mpdp_stage_totals *t);

/**
 * Find the slot of stage @p id in any process of the instance.
 *
 * @return 0, -ENOENT, -EINVAL (bad id)
 */
int mpdp_stage_find(struct mpdp_shm *shm, const char *id, struct mpdp_abi_stage **out);

/**
 * Call @p fn for every stage slot of the instance.
 *
 * @return 0, or the first non-zero value @p fn returned
 */
int mpdp_stage_walk(struct mpdp_shm *shm, int (*fn)(struct mpdp_abi_stage *slot, void *arg),
		    void *arg);

/**
 * Mark the slots of stages whose process died as down (the primary calls
 * this periodically).
 *
 * @return how many were marked
 */
unsigned mpdp_stage_reap_dead(struct mpdp_shm *shm);

/** The state of @p slot (enum mpdp_stage_state). */
static inline uint32_t
mpdp_stage_slot_state(const struct mpdp_abi_stage *slot)
{
	return (uint32_t)__atomic_load_n(&slot->claim, __ATOMIC_ACQUIRE);
}

/** The process that owns (or last owned) @p slot. */
static inline int
mpdp_stage_slot_pid(const struct mpdp_abi_stage *slot)
{
	return (int)(__atomic_load_n(&slot->claim, __ATOMIC_ACQUIRE) >> 32);
}

/** Name of a stage state. */
const char *mpdp_stage_state_name(uint32_t state);

#endif /* MPDP_STAGE_H */

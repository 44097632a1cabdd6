/* SPDX-License-Identifier: BSD-3-Clause */
/* mpdp-primary: its configuration and context (private to this program). */
#ifndef MPDP_PRIMARY_H
#define MPDP_PRIMARY_H

#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>

#include "mpdp_abi.h"
#include "mpdp_err.h"
#include "mpdp_shm.h"

#define PRIMARY_OBJS_MAX 64

struct primary_pool_cfg {
	char name[MPDP_NAME_MAX];
	unsigned n;
	unsigned cache;
	unsigned dataroom;
};

struct primary_ring_cfg {
	char name[MPDP_NAME_MAX];
	unsigned size;
	unsigned flags;
};

struct primary_patch_cfg {
	char src[MPDP_NAME_MAX];
	char dst[MPDP_NAME_MAX];
};

struct primary_cfg {
	struct mpdp_shm_params shm;
	char name[MPDP_NAME_MAX];
	cpu_set_t cores;
	int cores_given;
	unsigned n_pools;
	struct primary_pool_cfg pools[PRIMARY_OBJS_MAX];
	unsigned n_rings;
	struct primary_ring_cfg rings[PRIMARY_OBJS_MAX];
	unsigned n_ports;
	const char *ports[MPDP_PORT_MAX];          /* device arguments, as given */
	unsigned n_patches;
	struct primary_patch_cfg patches[MPDP_PORT_MAX];
	unsigned port_ring_size;                   /* slots of NAME.rx and NAME.tx */
	unsigned stats_period;                     /* seconds, 0 for none */
	int until_eof;
	int lockstep;                              /* one packet in flight at a time */
	unsigned n_stages;
	const char *stages[PRIMARY_OBJS_MAX];      /* --stage ID=PROGRAM ARGS..., as given (checked) */
	unsigned hung_ms;                          /* --hung-ms: a heartbeat this old is a hang; 0: default */
	int kill_hung;                             /* --kill-hung: SIGKILL a hung stage */
};

struct mpdp_pool;
struct mpdp_port;
struct io_worker;
struct ctl_server;
struct capture_mgr;
struct supervisor;

/* The running primary: what main() builds and the control thread reads. */
struct primary {
	struct primary_cfg cfg;
	struct mpdp_shm *shm;
	uint64_t started_ns;                    /* CLOCK_MONOTONIC at start */
	struct mpdp_pool *port_pool;            /* where ports take received mbufs from */
	unsigned n_ports;
	struct mpdp_port *ports[MPDP_PORT_MAX];
	unsigned n_workers;
	struct io_worker *workers;
	_Atomic int stop_io;
	struct capture_mgr *capture;            /* live captures (capture.c) */
	struct ctl_server *ctl;                 /* the control socket (ctl_server.c) */
	struct supervisor *sup;                 /* stages it launched (supervise.c), on ctl's loop */
};

/* What main() should do after parsing. */
enum primary_parse_result {
	PRIMARY_RUN = 0,
	PRIMARY_EXIT_OK = 1,   /* --help or --version was printed */
};

/**
 * Parse the command line into @p cfg.
 *
 * @return PRIMARY_RUN or PRIMARY_EXIT_OK, or -EINVAL with the reason in @p eb
 */
int primary_parse_args(int argc, char **argv, struct primary_cfg *cfg, struct mpdp_errbuf *eb);

/** Print the usage text. */
void primary_usage(FILE *f, const char *prog);

#endif /* MPDP_PRIMARY_H */

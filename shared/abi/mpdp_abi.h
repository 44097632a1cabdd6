/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * The shared-memory ABI of an mpdp instance.
 *
 * Every struct that lives in the shared region and is read by more than one
 * process (or by a tool, a guest or the kernel module) is declared here, with
 * fixed-width fields only. The tables below hold offsets from the region
 * base and indices, never pointers, so a reader may map the region anywhere.
 * The fast-path objects (rings of mbuf pointers, mempools) are not part of
 * these tables: they rely on the region being mapped at the same address in
 * every host process (see doc/memory.md).
 *
 * Writers are marked on each field: (p) the primary, (s) any attached
 * process, (ro) written once before the instance is marked ready.
 *
 * Lock order: mpdp_abi_header.alloc_lock is the only lock in the region.
 * It serialises memzone reservation and release. It is a process-shared
 * robust mutex: when its owner dies, the next locker gets EOWNERDEAD and
 * repairs the table (entries left in MPDP_MZ_STATE_RESERVING are cleared).
 * Nothing else may be locked while it is held. The worker table is
 * lock-free (a compare-and-swap per slot).
 */
#ifndef MPDP_ABI_H
#define MPDP_ABI_H

#include <stddef.h>
#include <stdint.h>

#include "mpdp_config.h"

#define MPDP_ABI_MAGIC 0x5044504dU /* "MPDP" little-endian */
#define MPDP_ABI_MAJOR 3
#define MPDP_ABI_MINOR 0

#define MPDP_NAME_MAX 32           /* names include the terminating NUL */
#define MPDP_MEMZONE_MAX MPDP_CFG_MAX_MEMZONES
#define MPDP_WORKER_MAX MPDP_CFG_MAX_WORKERS
#define MPDP_CACHE_LINE MPDP_CFG_CACHE_LINE

/** Space reserved for the allocation mutex (pthread_mutex_t is 40 bytes on glibc x86-64). */
#define MPDP_ABI_MUTEX_SIZE 64

/** Memzone slot state. */
enum mpdp_mz_state {
	MPDP_MZ_STATE_FREE = 0,
	MPDP_MZ_STATE_RESERVING = 1, /* being filled; cleared on lock recovery */
	MPDP_MZ_STATE_USED = 2,
};

/** What a memzone holds, so tools and the primary can find rings and pools. */
enum mpdp_mz_kind {
	MPDP_MZ_KIND_RAW = 0,
	MPDP_MZ_KIND_RING = 1,
	MPDP_MZ_KIND_POOL = 2,
	MPDP_MZ_KIND_STAGE = 3,   /* a stage's slot: struct mpdp_abi_stage */
	MPDP_MZ_KIND_N_,
};

/** One named reservation inside the region. */
struct mpdp_abi_memzone {
	char name[MPDP_NAME_MAX];  /* (s) under alloc_lock */
	uint64_t offset;           /* (s) from the region base */
	uint64_t len;              /* (s) bytes */
	uint32_t state;            /* (s) enum mpdp_mz_state, release-stored last */
	uint32_t kind;             /* (s) enum mpdp_mz_kind */
	int32_t socket;            /* (s) NUMA node, -1 when not bound */
	int32_t owner_pid;         /* (s) process that reserved it */
	uint64_t align;            /* (s) alignment it was reserved with */
};

/** Worker slot state. */
enum mpdp_worker_state {
	MPDP_WORKER_FREE = 0,
	MPDP_WORKER_CLAIMED = 1, /* taken, identity being written */
	MPDP_WORKER_ACTIVE = 2,
	MPDP_WORKER_RECLAIMING = 3, /* owner dead; its caches are being returned */
};

/**
 * One polling thread, in any process. Its index is the worker id, which
 * indexes mempool caches and per-worker counters.
 */
struct mpdp_abi_worker {
	uint32_t state;            /* (s) enum mpdp_worker_state, CAS to claim */
	int32_t pid;               /* (s) owning process */
	uint64_t start_time;       /* (s) owner's start time in clock ticks since boot */
	int32_t tid;               /* (s) owning thread */
	int32_t cpu;               /* (s) core it is pinned to, -1 when not pinned */
	char name[MPDP_NAME_MAX];  /* (s) who it is, e.g. "primary/io0" */
	uint8_t pad_[8];
};

/** Journal state. */
enum mpdp_journal_state {
	MPDP_JOURNAL_IDLE = 0,
	MPDP_JOURNAL_ARMED = 1,    /* an operation on @c target is under way */
};

/** What a journalled operation does. */
enum mpdp_journal_op {
	MPDP_JOURNAL_RING_ENQ = 1, /* objs[0..n) onto a ring; target is its producer side */
	MPDP_JOURNAL_RING_DEQ = 2, /* n objects off a ring into objs; target is its consumer side */
	MPDP_JOURNAL_CACHE_PUT = 3, /* objs[0..n) into a mempool cache; target is the cache */
};

/** The hand word: the address of an array of held objects (low 48 bits) and how many (high 16). */
#define MPDP_JOURNAL_HAND(addr, n) ((uint64_t)(uintptr_t)(addr) | (uint64_t)(n) << 48)
#define MPDP_JOURNAL_HAND_ADDR(h) ((h) & ((1ull << 48) - 1))
#define MPDP_JOURNAL_HAND_N(h) ((unsigned)((h) >> 48))

/**
 * One worker's journal (indexed by worker id): what it holds and the one
 * buffer operation it is in the middle of, so that the primary can tell,
 * after the worker's process died at any instruction, which objects it
 * still owned (see doc/faults.md). Only its worker writes it, with release
 * stores in program order; the primary reads it once the process is gone.
 */
struct mpdp_abi_journal {
	uint32_t state;            /* (s) enum mpdp_journal_state, stored last when arming */
	uint32_t op;               /* (s) enum mpdp_journal_op */
	uint64_t target;           /* (s) address of the ring side or the pool cache */
	uint64_t objs;             /* (s) address of the objects' array */
	uint32_t base;             /* (s) the side's tail, or the cache's length, before the op */
	uint32_t n;                /* (s) objects the op moves */
	uint64_t hand;             /* (s) MPDP_JOURNAL_HAND(): what the worker holds, 0 when nothing */
	uint32_t owner;            /* (s) worker id + 1: what a recoverable ring side it takes records */
	uint8_t pad_[20];
};

#define MPDP_PORT_MAX 32
#define MPDP_PORT_QUEUE_MAX 8
#define MPDP_DRIVER_NAME_MAX 16

/** Port slot state. */
enum mpdp_port_state {
	MPDP_PORT_FREE = 0,
	MPDP_PORT_STOPPED = 1,   /* configured, not polled */
	MPDP_PORT_STARTED = 2,   /* polled by its I/O worker */
};

/** Port flags. */
enum mpdp_port_flag {
	MPDP_PORT_F_FILE_RX = 1u << 0,  /* rx reads a file: back-pressured, never drops */
	MPDP_PORT_F_RX_EOF = 1u << 1,   /* a file source has delivered its last packet */
};

/**
 * Counters of one queue of a port, in packets and bytes. Each is written
 * only by the I/O worker that polls the queue, with relaxed atomic stores,
 * so any reader sees whole 64-bit values without a lock.
 */
struct mpdp_abi_port_queue {
	uint64_t rx_packets;       /* (p) received and handed on */
	uint64_t rx_bytes;         /* (p) */
	uint64_t rx_missed;        /* (p) received but dropped: the port's rx ring was full */
	uint64_t rx_errors;        /* (p) the driver could not receive (bad frame, no mbuf) */
	uint64_t tx_packets;       /* (p) handed to the driver and sent */
	uint64_t tx_bytes;         /* (p) */
	uint64_t tx_errors;        /* (p) the driver failed to send them */
	uint64_t tx_drops;         /* (p) dropped before the driver: link down or queue full */
};

/** One port. The driver state itself lives in the primary's memory. */
struct mpdp_abi_port {
	char name[MPDP_NAME_MAX];          /* (p) */
	char driver[MPDP_DRIVER_NAME_MAX]; /* (p) */
	uint32_t state;                    /* (p) enum mpdp_port_state */
	uint32_t link;                     /* (p) 1 up, 0 down */
	uint32_t flags;                    /* (p) enum mpdp_port_flag */
	uint32_t n_queues;                 /* (p) rx and tx queues */
	int32_t lcore;                     /* (p) core of the I/O worker that polls it */
	uint32_t patch_to;                 /* (p) port index + 1 it is cross-connected to, 0 when none */
	uint64_t link_changes;             /* (p) times the link went down or came back */
	uint32_t capture;                  /* (p) capture id + 1 watching the port, 0 when none */
	uint32_t seq;                      /* (p) odd while its worker updates the counters */
	uint8_t pad_[40];
	struct mpdp_abi_port_queue queues[MPDP_PORT_QUEUE_MAX];
};

#define MPDP_STAGE_IO_MAX 8        /* inputs; outputs including "drop" */
#define MPDP_STAGE_WORKERS_MAX 8
#define MPDP_STAGE_NEXT_NAME_MAX 16
#define MPDP_STAGE_KIND_MAX 16
#define MPDP_STAGE_ZONE_PREFIX "stage."
#define MPDP_STAGE_HAND_MAX 256    /* == MPDP_STAGE_BURST_MAX */

/** Stage slot state. */
enum mpdp_stage_state {
	MPDP_STAGE_FREE = 0,      /* never written (a zone just reserved) */
	MPDP_STAGE_CLAIMED = 1,   /* a process is taking the slot over */
	MPDP_STAGE_RUNNING = 2,
	MPDP_STAGE_STOPPING = 3,  /* asked to stop: finishing the burst in hand */
	MPDP_STAGE_DOWN = 4,      /* its process is gone; counters kept */
	MPDP_STAGE_RECLAIMING = 5, /* its process died; the pid in the claim word returns what it held */
};

/**
 * What one worker of a stage did. Only that worker writes it (plain
 * relaxed stores), so a reader sums the workers for the stage's totals.
 * Output 0 is "drop": out_packets[0] counts the packets the stage dropped
 * by verdict; out_drops[k] counts packets sent to output k that were freed
 * because its ring was full or no ring is bound to it.
 */
struct mpdp_abi_stage_worker {
	uint64_t heartbeat_ns;     /* (s) CLOCK_MONOTONIC at a recent loop turn */
	uint64_t polls;            /* (s) loop turns */
	uint64_t busy_polls;       /* (s) turns that found packets */
	uint64_t in_packets;       /* (s) dequeued from the inputs */
	uint64_t in_bytes;         /* (s) */
	uint32_t in_hand;          /* (s) dequeued and not yet dispatched */
	uint32_t wid;              /* (s) worker id, UINT32_MAX when none */
	int32_t cpu;               /* (s) pinned core, -1 when not pinned */
	uint32_t seq;              /* (s) odd while the worker updates its counters */
	uint8_t pad0_[8];
	uint64_t out_packets[MPDP_STAGE_IO_MAX]; /* (s) enqueued on the output's ring */
	uint64_t out_bytes[MPDP_STAGE_IO_MAX];   /* (s) */
	uint64_t out_drops[MPDP_STAGE_IO_MAX];   /* (s) freed: ring full or unbound */
};

/**
 * A stage's slot: the memzone "stage.<id>". It is claimed by compare-and-
 * swap on @c claim, which holds the state and the owner's pid together so a
 * claimed slot always names its claimer; one process at a time runs a
 * stage id, and a process
 * that finds the slot DOWN, or RUNNING with a dead owner, takes it over and
 * keeps its counters (restarts counts how often).
 */
struct mpdp_abi_stage {
	uint64_t claim;            /* (s) state (low 32 bits) and owner pid (high 32): one CAS */
	uint64_t start_time;       /* (s) owner's start time, clock ticks since boot */
	uint64_t started_ns;       /* (s) CLOCK_MONOTONIC when it began running */
	uint64_t stopped_ns;       /* (s) CLOCK_MONOTONIC when it went down, 0 while running */
	uint32_t restarts;         /* (s) times the slot was taken over */
	uint32_t n_in;             /* (s) input rings */
	uint32_t n_next;           /* (s) outputs including "drop" */
	uint32_t n_workers;        /* (s) */
	uint32_t flags;            /* (s) enum mpdp_stage_flag */
	char id[MPDP_NAME_MAX];    /* (s) --stage */
	char kind[MPDP_STAGE_KIND_MAX];                 /* (s) e.g. "fwd" for mpdp-fwd */
	char in[MPDP_STAGE_IO_MAX][MPDP_NAME_MAX];      /* (s) input ring names */
	char next[MPDP_STAGE_IO_MAX][MPDP_STAGE_NEXT_NAME_MAX]; /* (s) output names, [0] "drop" */
	char out[MPDP_STAGE_IO_MAX][MPDP_NAME_MAX];     /* (s) ring of each output, "" when unbound */
	uint64_t reclaimed;        /* (p) packets freed from the hands of its dead processes */
	uint32_t reclaims;         /* (p) times the primary reclaimed a dead process's buffers */
	int32_t standby_pid;       /* (s) a process waiting to take the slot over (--takeover), 0 when none */
	struct mpdp_abi_stage_worker workers[MPDP_STAGE_WORKERS_MAX] __attribute__((aligned(MPDP_CACHE_LINE)));
	/*
	 * (s) Each worker's packets in hand live here, not on its stack, so the
	 * primary can find them when the process dies: [0] is the burst as
	 * dequeued, [1] the same packets sorted by output (the worker's journal
	 * says which of the two it holds, and how many).
	 */
	uint64_t hands[MPDP_STAGE_WORKERS_MAX][2][MPDP_STAGE_HAND_MAX] __attribute__((aligned(MPDP_CACHE_LINE)));
};

/** Stage flags. */
enum mpdp_stage_flag {
	MPDP_STAGE_F_BACKPRESSURE = 1u << 0, /* waits for room on a full output instead of dropping */
};

/**
 * The root of the region: offset 0 of segment 0.
 *
 * The primary writes every (ro) field, then stores ready = 1 with release
 * (R1); an attaching process loads ready with acquire (A1) before it trusts
 * any other field.
 */
struct mpdp_abi_header {
	uint32_t magic;            /* (ro) MPDP_ABI_MAGIC */
	uint16_t abi_major;        /* (ro) */
	uint16_t abi_minor;        /* (ro) */
	uint32_t header_size;      /* (ro) sizeof(struct mpdp_abi_header) */
	uint32_t ready;            /* (p) 1 once attachable (R1/A1) */
	uint64_t base;             /* (ro) virtual address every host process maps it at */
	uint64_t size;             /* (ro) bytes in the region */
	uint64_t page_size;        /* (ro) 4096 on tmpfs, the huge page size otherwise */
	uint64_t generation;       /* (ro) differs for every primary start */
	int32_t primary_pid;       /* (ro) */
	uint32_t hugepages;        /* (ro) 1 when backed by hugetlbfs */
	uint64_t primary_start;    /* (ro) primary's start time, clock ticks since boot */
	uint64_t created_ns;       /* (ro) CLOCK_REALTIME at creation */
	char name[MPDP_NAME_MAX];  /* (ro) instance name */
	uint64_t heap_offset;      /* (ro) first byte memzones may use */
	uint32_t memzone_max;      /* (ro) MPDP_MEMZONE_MAX */
	uint32_t worker_max;       /* (ro) MPDP_WORKER_MAX */
	uint8_t alloc_lock[MPDP_ABI_MUTEX_SIZE] __attribute__((aligned(MPDP_CACHE_LINE)));
	struct mpdp_abi_memzone memzones[MPDP_MEMZONE_MAX]; /* (s) under alloc_lock */
	struct mpdp_abi_worker workers[MPDP_WORKER_MAX] __attribute__((aligned(MPDP_CACHE_LINE)));
	struct mpdp_abi_port ports[MPDP_PORT_MAX];         /* (p) */
	struct mpdp_abi_journal journals[MPDP_WORKER_MAX] __attribute__((aligned(MPDP_CACHE_LINE))); /* (s) */
};

_Static_assert(sizeof(struct mpdp_abi_memzone) == 72, "memzone entry is ABI");
_Static_assert(sizeof(struct mpdp_abi_worker) == 64, "worker entry is one cache line");
_Static_assert(sizeof(struct mpdp_abi_journal) == 64, "a journal is one cache line");
_Static_assert(offsetof(struct mpdp_abi_header, magic) == 0, "magic first");
_Static_assert(offsetof(struct mpdp_abi_header, abi_major) == 4, "version after magic");
_Static_assert(offsetof(struct mpdp_abi_header, alloc_lock) % MPDP_CACHE_LINE == 0,
	       "lock on its own cache line");
_Static_assert(offsetof(struct mpdp_abi_header, workers) % MPDP_CACHE_LINE == 0,
	       "worker slots on cache-line boundaries");
_Static_assert(sizeof(struct mpdp_abi_port_queue) == 64, "queue counters are one cache line");
_Static_assert(offsetof(struct mpdp_abi_port, queues) % 64 == 0, "counters start a cache line");
_Static_assert(sizeof(struct mpdp_abi_stage_worker) % MPDP_CACHE_LINE == 0,
	       "a stage worker's counters start a cache line");
_Static_assert(offsetof(struct mpdp_abi_stage_worker, out_packets) == 64,
	       "output counters after the first line");
_Static_assert(offsetof(struct mpdp_abi_header, ports) % MPDP_CACHE_LINE == 0,
	       "port slots on cache-line boundaries");

#endif /* MPDP_ABI_H */

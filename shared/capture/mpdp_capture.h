/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * Live packet capture at any ring or port: the data-path side.
 *
 * A ring (struct mpdp_ring.capture) or a port (struct mpdp_abi_port.capture)
 * holds the id + 1 of the capture watching it, 0 when none. Whoever dequeues
 * from a ring, or receives or transmits on a port, calls mpdp_capture_ring()
 * or mpdp_capture_port() with the burst. With no capture that is one relaxed
 * load and one branch. Otherwise mpdp__capture_copy() runs the capture's
 * classic BPF program over the burst and copies the first snaplen bytes of
 * each match into an mbuf of the capture pool. The copy is queued on the
 * capture's ring, and the primary drains that ring into a pcapng file
 * (primary/capture.c). The original packets are only read. Copying never
 * blocks: with no mbuf or no room, the match counts as dropped.
 *
 * Shared state lives in the memzone MPDP_CAPTURE_ZONE. The primary makes it
 * with mpdp_capture_zone_create(). It holds MPDP_CAPTURE_MAX slots, then one
 * multi-producer ring per slot. The capture pool MPDP_CAPTURE_POOL has no
 * per-worker cache, so a worker cannot strand a capture buffer.
 *
 * Ids: capture id @c id uses slot id % MPDP_CAPTURE_MAX, so the slot index
 * is in bounds by construction. Each copy carries its id (struct
 * mpdp_capture_rec in mbuf->priv). A copy made late for a capture that has
 * ended, even one that lands after a new capture took the slot, is told
 * apart by that id and freed. It never goes into the wrong file.
 *
 * The copy path does not trust the zone's own fields. The slot index, the
 * zone's place and size, the pool offset, the ring geometry, snaplen,
 * packet lengths and the BPF program are all checked before use. The
 * program runs from a local copy that bpf_validate() has accepted. A slot
 * written by a buggy process can lose or mangle captured packets, but
 * cannot make a worker jump, read or write out of bounds. (The pool's own
 * internals are trusted, as on every other path.)
 */
#ifndef MPDP_CAPTURE_H
#define MPDP_CAPTURE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "mpdp_abi.h"
#include "mpdp_mbuf.h"
#include "mpdp_ring.h"

struct mpdp_shm;

#define MPDP_CAPTURE_ZONE "mpdp.capture"       /**< memzone of the slots and rings */
#define MPDP_CAPTURE_POOL "mpdp.capture.pool"  /**< mbuf pool of the copies */
#define MPDP_CAPTURE_MAGIC 0x50414350U         /**< "PCAP" little-endian */
#define MPDP_CAPTURE_MAX 4                     /**< captures running at once */
#define MPDP_CAPTURE_RING_SIZE 1024            /**< copies queued per capture */
#define MPDP_CAPTURE_POOL_SIZE 2048            /**< copies in flight, all captures */
#define MPDP_CAPTURE_SNAPLEN_MAX 4096          /**< bytes kept per packet at most */
#define MPDP_CAPTURE_BPF_MAX 512               /**< BPF instructions per filter */

/*
 * Counter words pack the low 16 bits of the capture id above a 48-bit
 * count. An update (compare-and-swap) from a worker with a stale id then
 * fails and cannot inflate the next capture's counters.
 */
#define MPDP_CAPTURE_COUNT_BITS 48
#define MPDP_CAPTURE_COUNT_MASK ((UINT64_C(1) << MPDP_CAPTURE_COUNT_BITS) - 1)

/** Slot state. */
enum mpdp_capture_slot_state {
	MPDP_CAPTURE_SLOT_FREE = 0,
	MPDP_CAPTURE_SLOT_RUNNING = 1,  /* copies are made */
	MPDP_CAPTURE_SLOT_STOPPING = 2, /* no new copies; the primary drains the ring */
};

/** One classic BPF instruction, laid out as libpcap's struct bpf_insn. */
struct mpdp_capture_insn {
	uint16_t code;
	uint8_t jt;
	uint8_t jf;
	uint32_t k;
};

/**
 * A capture slot. The primary fills it (seqlock style, see capture.c: id is
 * set to 0 first and release-stored last); workers read it.
 */
struct mpdp_capture_slot {
	_Atomic uint32_t id;        /* (p) capture id, 0 when free */
	_Atomic uint32_t state;     /* (p) enum mpdp_capture_slot_state */
	_Atomic uint32_t snaplen;   /* (p) bytes copied per packet, 1..MPDP_CAPTURE_SNAPLEN_MAX */
	_Atomic uint32_t n_insns;   /* (p) instructions in prog, 1..MPDP_CAPTURE_BPF_MAX */
	_Atomic uint64_t limit;     /* (p) matches to copy, 0 for no limit */
	_Atomic uint64_t matched;   /* (s) id tag | matches accepted (never beyond limit) */
	_Atomic uint64_t dropped;   /* (s) id tag | accepted but not queued: no mbuf, ring full */
	uint8_t pad_[MPDP_CACHE_LINE - 40];
	struct mpdp_capture_insn prog[MPDP_CAPTURE_BPF_MAX]; /* (p) */
};

/** The capture zone; the slots' rings follow it (mpdp_capture_zone_ring()). */
struct mpdp_capture_zone {
	_Atomic uint32_t magic;     /* (p) MPDP_CAPTURE_MAGIC once initialised */
	uint32_t n_slots;           /* (p) MPDP_CAPTURE_MAX */
	_Atomic uint64_t pool_off;  /* (p) capture pool's offset from the region base, 0 until made */
	struct mpdp_capture_slot slots[MPDP_CAPTURE_MAX] __attribute__((aligned(MPDP_CACHE_LINE)));
};

/** What a copy carries in mbuf->priv; its capture time is in mbuf->timestamp. */
struct mpdp_capture_rec {
	uint32_t id;                /* capture it was made for */
	uint32_t orig_len;          /* length of the packet on the wire (data_len) */
};

_Static_assert(offsetof(struct mpdp_capture_slot, prog) == MPDP_CACHE_LINE,
	       "a slot's hot fields fill its first cache line");
_Static_assert(sizeof(struct mpdp_capture_rec) <= MPDP_MBUF_PRIV_SIZE, "rec fits priv");

/**
 * Copy the matches of a burst for capture @p id (out of line; reached
 * only when a capture watches the ring or port).
 *
 * @param shm  the caller's instance handle
 * @param id  the capture id read from the ring's or port's capture word, minus 1
 * @param pkts  the burst, only read
 * @param n  packets in it
 */
void mpdp__capture_copy(struct mpdp_shm *shm, uint32_t id, struct mpdp_mbuf *const *pkts,
			unsigned n);

/**
 * Offer a burst just dequeued from @p r to the capture watching it, if any.
 * Call it after a dequeue of n > 0 packets, before the packets move on.
 *
 * @param shm  the caller's instance handle
 * @param r  the ring they came from
 * @param pkts  the burst; never modified, kept or reordered
 * @param n  packets in it
 */
static inline void
mpdp_capture_ring(struct mpdp_shm *shm, const struct mpdp_ring *r, struct mpdp_mbuf *const *pkts,
		  unsigned n)
{
	/* Relaxed: a stale value costs one lookup that finds no running slot. */
	uint32_t w = atomic_load_explicit(&r->capture, memory_order_relaxed);

	if (__builtin_expect(w != 0, 0))
		mpdp__capture_copy(shm, w - 1, pkts, n);
}

/**
 * Offer a port's burst (just received from the driver, or about to be
 * transmitted) to the capture watching the port, if any.
 *
 * @param shm  the caller's instance handle
 * @param port  the port's entry in the shared port table
 * @param pkts  the burst; never modified, kept or reordered
 * @param n  packets in it
 */
static inline void
mpdp_capture_port(struct mpdp_shm *shm, const struct mpdp_abi_port *port,
		  struct mpdp_mbuf *const *pkts, unsigned n)
{
	uint32_t w = __atomic_load_n(&port->capture, __ATOMIC_RELAXED);

	if (__builtin_expect(w != 0, 0))
		mpdp__capture_copy(shm, w - 1, pkts, n);
}

/**
 * Bytes of the capture memzone: the zone and its MPDP_CAPTURE_MAX rings.
 */
size_t mpdp_capture_zone_memsize(void);

/**
 * Create the capture zone, with its slots free and its rings empty
 * (primary). The capture pool is made separately, when first needed, and
 * recorded with mpdp_capture_zone_set_pool().
 *
 * @param shm  the instance
 * @param out  the zone
 * @return 0, -EEXIST (the zone exists), -ENOMEM, -ENOSPC (as mpdp_shm_memzone_reserve())
 */
int mpdp_capture_zone_create(struct mpdp_shm *shm, struct mpdp_capture_zone **out);

/**
 * Find the capture zone without taking any lock. The data path calls it
 * on every burst that a capture watches, so it only reads the memzone
 * table. It checks the zone's place, size and magic before returning it.
 *
 * @return 0, -ENOENT (no zone, or not initialised)
 */
int mpdp_capture_zone_lookup(struct mpdp_shm *shm, struct mpdp_capture_zone **out);

/**
 * Free the capture zone (primary). No capture may run, and the workers must
 * have had a grace period since the last one stopped.
 *
 * @return 0, -ENOENT
 */
int mpdp_capture_zone_delete(struct mpdp_shm *shm, struct mpdp_capture_zone *z);

/**
 * Record the capture pool in the zone (primary, before the first capture
 * starts). The pool must be an mbuf pool with no cache and a data room of
 * at least MPDP_CAPTURE_SNAPLEN_MAX.
 *
 * @return 0, -EINVAL (not in the region, has a cache, or too small a data room)
 */
int mpdp_capture_zone_set_pool(struct mpdp_shm *shm, struct mpdp_capture_zone *z,
			       struct mpdp_pool *pool);

/** @return the ring of slot @p slot (< MPDP_CAPTURE_MAX), or NULL when out of range. */
struct mpdp_ring *mpdp_capture_zone_ring(struct mpdp_capture_zone *z, unsigned slot);

/** @return the count in a counter word (struct mpdp_capture_slot.matched or .dropped). */
static inline uint64_t
mpdp_capture_count(uint64_t word)
{
	return word & MPDP_CAPTURE_COUNT_MASK;
}

/** @return the tag capture @p id puts above its counts. */
static inline uint64_t
mpdp_capture_tag(uint32_t id)
{
	return (uint64_t)(id & 0xffffu) << MPDP_CAPTURE_COUNT_BITS;
}

#endif /* MPDP_CAPTURE_H */

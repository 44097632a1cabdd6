/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * Packet buffers (mbufs): one contiguous buffer per packet, allocated from a
 * mempool whose objects are mbufs.
 *
 * An object is 128 bytes of metadata (two cache lines: the first holds what
 * the fast path reads, the second is free for stages) followed by the
 * buffer: MPDP_MBUF_HEADROOM bytes of headroom, then the pool's data room.
 * Packets are single-segment: data_len is the packet length (see
 * doc/memory.md for why).
 */
#ifndef MPDP_MBUF_H
#define MPDP_MBUF_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "mpdp_pool.h"

struct mpdp_shm;

#define MPDP_MBUF_HEADROOM 128      /**< default headroom before the data */
#define MPDP_MBUF_DATAROOM 2048     /**< default data room of a pool */
#define MPDP_MBUF_PRIV_SIZE 64      /**< bytes in mbuf->priv for stages */
#define MPDP_MBUF_PORT_NONE 0xffff

/** Packet metadata; the buffer follows it in the same object. */
struct mpdp_mbuf {
	/* cache line 0: the fast path */
	void *buf_addr;           /**< start of the buffer (the headroom begins here) */
	uint64_t buf_iova;        /**< bus address of buf_addr for DMA, 0 when unknown */
	uint16_t data_off;        /**< offset of the packet from buf_addr */
	uint16_t buf_len;         /**< headroom + data room */
	uint16_t data_len;        /**< packet bytes */
	uint16_t port;            /**< input port, MPDP_MBUF_PORT_NONE when none */
	uint32_t packet_type;     /**< MPDP_PTYPE_* bits, set by mpdp_pkt_parse() users */
	uint32_t hash;            /**< flow hash, 0 when not computed */
	uint64_t ol_flags;        /**< offload and status flags */
	struct mpdp_pool *pool;   /**< pool it returns to */
	uint32_t owner;           /**< worker or stage that holds it (fault reclaim) */
	uint8_t l2_len;           /**< header lengths, set by mpdp_mbuf_parse() */
	uint8_t l4_len;
	uint16_t l3_len;          /**< IPv6 extension headers included */
	uint64_t timestamp;       /**< capture time in ns, 0 when unknown */
	/* cache line 1: stage-private */
	uint8_t priv[MPDP_MBUF_PRIV_SIZE];
};

_Static_assert(sizeof(struct mpdp_mbuf) == 2 * 64, "mbuf metadata is two cache lines");
_Static_assert(offsetof(struct mpdp_mbuf, timestamp) + 8 <= 64, "fast-path fields in line 0");

/**
 * Create a pool of @p n mbufs with @p dataroom bytes of data room each.
 *
 * @param cache_size  per-worker cache (see mpdp_pool.h)
 * @param dataroom  1 to 65535 - MPDP_MBUF_HEADROOM
 * @return as mpdp_pool_create()
 */
int mpdp_mbuf_pool_create(struct mpdp_shm *shm, const char *name, unsigned n,
			  unsigned cache_size, unsigned dataroom, int socket,
			  struct mpdp_pool **out);

struct mpdp_pkt_info;

/**
 * Parse the packet's headers (mpdp_pkt_parse() over data_len bytes, never
 * beyond) and record the result in the mbuf: packet_type, l2_len, l3_len,
 * l4_len.
 *
 * @param info  if not NULL, receives the whole parse
 * @return as mpdp_pkt_parse(): 0, or -EINVAL for a truncated or malformed packet
 *         (packet_type then holds what was recognised before the fault)
 */
int mpdp_mbuf_parse(struct mpdp_mbuf *m, struct mpdp_pkt_info *info);

/** @return the data room of an mbuf pool's buffers. */
unsigned mpdp_mbuf_pool_dataroom(const struct mpdp_pool *pool);

/** Reset the metadata of a freshly taken mbuf. */
static inline void
mpdp_mbuf_reset(struct mpdp_mbuf *m)
{
	m->data_off = m->buf_len < MPDP_MBUF_HEADROOM ? m->buf_len : MPDP_MBUF_HEADROOM;
	m->data_len = 0;
	m->port = MPDP_MBUF_PORT_NONE;
	m->packet_type = 0;
	m->hash = 0;
	m->ol_flags = 0;
	m->l2_len = m->l3_len = m->l4_len = 0;
	m->timestamp = 0;
}

/**
 * Take @p n mbufs, all or none, reset.
 *
 * @param wid  the caller's worker id, or MPDP_POOL_NO_CACHE
 * @return @p n or 0
 */
static inline unsigned
mpdp_mbuf_alloc_bulk(struct mpdp_pool *pool, unsigned wid, struct mpdp_mbuf **ms, unsigned n)
{
	if (mpdp_pool_get_bulk(pool, wid, (void **)ms, n) != n)
		return 0;
	for (unsigned i = 0; i < n; i++) {
		mpdp_mbuf_reset(ms[i]);
		ms[i]->owner = wid;
	}
	return n;
}

/** @return one reset mbuf, or NULL when the pool is empty. */
static inline struct mpdp_mbuf *
mpdp_mbuf_alloc(struct mpdp_pool *pool, unsigned wid)
{
	struct mpdp_mbuf *m;

	return mpdp_mbuf_alloc_bulk(pool, wid, &m, 1) ? m : NULL;
}

/** Return an mbuf to its pool. */
static inline void
mpdp_mbuf_free(struct mpdp_mbuf *m, unsigned wid)
{
	mpdp_pool_put_bulk(m->pool, wid, (void *const *)&m, 1);
}

/** Return @p n mbufs, from any mix of pools, to their pools. */
static inline void
mpdp_mbuf_free_bulk(struct mpdp_mbuf *const *ms, unsigned n, unsigned wid)
{
	unsigned start = 0;

	for (unsigned i = 1; i <= n; i++) {
		if (i == n || ms[i]->pool != ms[start]->pool) {
			mpdp_pool_put_bulk(ms[start]->pool, wid, (void *const *)&ms[start], i - start);
			start = i;
		}
	}
}

/** @return the packet bytes of @p n mbufs (for byte counters). */
static inline uint64_t
mpdp_mbuf_bytes(struct mpdp_mbuf *const *ms, unsigned n)
{
	uint64_t bytes = 0;

	for (unsigned i = 0; i < n; i++)
		bytes += ms[i]->data_len;
	return bytes;
}

/** @return the first byte of the packet. */
static inline void *
mpdp_mbuf_data(const struct mpdp_mbuf *m)
{
	return (char *)m->buf_addr + m->data_off;
}

/** @return bytes free before the packet. */
static inline unsigned
mpdp_mbuf_headroom(const struct mpdp_mbuf *m)
{
	return m->data_off;
}

/** @return bytes free after the packet. */
static inline unsigned
mpdp_mbuf_tailroom(const struct mpdp_mbuf *m)
{
	return (unsigned)m->buf_len - m->data_off - m->data_len;
}

/** Grow the packet at the front. @return the new start, or NULL when the headroom is short. */
static inline void *
mpdp_mbuf_prepend(struct mpdp_mbuf *m, unsigned len)
{
	if (len > m->data_off)
		return NULL;
	m->data_off = (uint16_t)(m->data_off - len);
	m->data_len = (uint16_t)(m->data_len + len);
	return mpdp_mbuf_data(m);
}

/** Grow the packet at the end. @return the first new byte, or NULL when the tailroom is short. */
static inline void *
mpdp_mbuf_append(struct mpdp_mbuf *m, unsigned len)
{
	void *tail;

	if (len > mpdp_mbuf_tailroom(m))
		return NULL;
	tail = (char *)mpdp_mbuf_data(m) + m->data_len;
	m->data_len = (uint16_t)(m->data_len + len);
	return tail;
}

/** Drop @p len bytes from the front. @return the new start, or NULL when the packet is shorter. */
static inline void *
mpdp_mbuf_adj(struct mpdp_mbuf *m, unsigned len)
{
	if (len > m->data_len)
		return NULL;
	m->data_off = (uint16_t)(m->data_off + len);
	m->data_len = (uint16_t)(m->data_len - len);
	return mpdp_mbuf_data(m);
}

/** Drop @p len bytes from the end. @return 0, or -EINVAL when the packet is shorter. */
static inline int
mpdp_mbuf_trim(struct mpdp_mbuf *m, unsigned len)
{
	if (len > m->data_len)
		return -EINVAL;
	m->data_len = (uint16_t)(m->data_len - len);
	return 0;
}

#endif /* MPDP_MBUF_H */

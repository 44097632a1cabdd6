/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * Flow table: a fixed-capacity hash table of records, each found by one or
 * two keys, laid out in memory the caller provides (a stage zone, see
 * mpdp_stage_zone()) so that it outlives the process that fills it. It is
 * what the firewall keeps its connections in (one key per direction) and
 * the NAT its sessions (the inside and the outside tuple).
 *
 * Everything inside is indices, never pointers. One thread writes a table;
 * other processes may read it (a report) by walking records with
 * mpdp_flowtab_next(): a record is published (its keys and body written
 * first) before it is marked in use, and unmarked before it is reused.
 *
 * The table does not know time: a record's body holds whatever its owner
 * needs (an expiry, a state), and mpdp_flowtab_scan() lets the owner drop
 * records in slices, a bounded amount of work per call.
 */
#ifndef MPDP_FLOWTAB_H
#define MPDP_FLOWTAB_H

#include <stdint.h>

#include "mpdp_err.h"

/** No record: what lookups return when nothing matches. */
#define MPDP_FLOWTAB_NONE UINT32_MAX

/** Largest key, in bytes. */
#define MPDP_FLOWTAB_KEY_MAX 64

/** Largest record body, in bytes. */
#define MPDP_FLOWTAB_BODY_MAX 512

/** Most records one table may hold. */
#define MPDP_FLOWTAB_RECORDS_MAX (1u << 26)

/** The shape of a table: a table attaches only with the shape it was made with. */
struct mpdp_flowtab_params {
	uint32_t max_records;  /**< 1 to MPDP_FLOWTAB_RECORDS_MAX */
	uint16_t key_size;     /**< bytes, 1 to MPDP_FLOWTAB_KEY_MAX; compared with memcmp */
	uint16_t body_size;    /**< bytes, 0 to MPDP_FLOWTAB_BODY_MAX; 8-byte aligned */
	uint8_t n_keys;        /**< keys per record: 1 or 2 */
};

/** A table, at the start of its memory. */
struct mpdp_flowtab;

/**
 * Bytes a table of this shape needs (header, buckets, records).
 *
 * @return the size, or 0 when @p p is out of range
 */
uint64_t mpdp_flowtab_mem_size(const struct mpdp_flowtab_params *p);

/**
 * Make an empty table in @p mem, or attach to the one already there.
 *
 * @param mem  8-byte aligned; at the same address in every process
 * @param len  bytes at @p mem, at least mpdp_flowtab_mem_size()
 * @param out  the table (== mem)
 * @return 1 when a table of the same shape was found (its records kept),
 *         0 when @p mem held zeros and an empty table was made, -EINVAL
 *         (bad shape or size), -EEXIST (a table of another shape is there,
 *         or the memory holds something else); the reason is in @p eb
 */
int mpdp_flowtab_open(void *mem, uint64_t len, const struct mpdp_flowtab_params *p,
		      struct mpdp_flowtab **out, struct mpdp_errbuf *eb);

/** Hash of a key (the same in every process); give it to lookup and add. */
uint32_t mpdp_flowtab_hash(const void *key, uint16_t len);

/**
 * Find the record that has @p key as one of its keys. For the writer's
 * thread: a delete running meanwhile may hide a key from another thread.
 *
 * @param which  if not NULL, set to which of the record's keys matched (0 or 1)
 * @return the record id, or MPDP_FLOWTAB_NONE
 */
uint32_t mpdp_flowtab_lookup(const struct mpdp_flowtab *ft, const void *key, uint32_t hash,
			     unsigned *which);

/**
 * Add a record with n_keys keys (keys[i] with hashes[i]) and a zeroed body.
 * With two keys, they must differ.
 *
 * @param id  the new record's id
 * @return 0, -ENOSPC (the table is full), -EEXIST (a key is already in the
 *         table, or the two keys are equal)
 */
int mpdp_flowtab_add(struct mpdp_flowtab *ft, const void *const *keys, const uint32_t *hashes,
		     uint32_t *id);

/** Remove record @p id (which must be in use). Its id may be reused at once. */
void mpdp_flowtab_del(struct mpdp_flowtab *ft, uint32_t id);

/** The body of record @p id, body_size bytes, 8-byte aligned. */
void *mpdp_flowtab_body(const struct mpdp_flowtab *ft, uint32_t id);

/** Key @p which (0 or 1) of record @p id. */
const void *mpdp_flowtab_key(const struct mpdp_flowtab *ft, uint32_t id, unsigned which);

/** Records in use. */
uint32_t mpdp_flowtab_count(const struct mpdp_flowtab *ft);

/** The table's shape. */
const struct mpdp_flowtab_params *mpdp_flowtab_params(const struct mpdp_flowtab *ft);

/**
 * Walk the records in use: start with @p id = MPDP_FLOWTAB_NONE, then pass
 * back what it returned.
 *
 * @return the next record in use after @p id, or MPDP_FLOWTAB_NONE at the end
 */
uint32_t mpdp_flowtab_next(const struct mpdp_flowtab *ft, uint32_t id);

/**
 * Look at up to @p budget record slots from *cursor on (wrapping), and
 * delete each record in use for which @p expired returns non-zero. Call it
 * from the writer with the same cursor, a slice at a time, to age a table
 * without a pause.
 *
 * @return records deleted
 */
uint32_t mpdp_flowtab_scan(struct mpdp_flowtab *ft, uint32_t *cursor, uint32_t budget,
			   int (*expired)(void *body, uint32_t id, void *arg), void *arg);

#endif /* MPDP_FLOWTAB_H */

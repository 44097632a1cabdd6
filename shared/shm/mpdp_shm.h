/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * The instance region: creation by the primary, attach by every other
 * process, and the named memzones carved out of it.
 *
 * The region is one segment file, on hugetlbfs when huge pages can be had and
 * on tmpfs otherwise, mapped with MAP_FIXED_NOREPLACE at the same virtual
 * address in every process, so pointers into it are valid everywhere. Its
 * first bytes are struct mpdp_abi_header (mpdp_abi.h).
 *
 * Files of instance NAME live in its runtime directory: /run/mpdp/NAME as
 * root, $XDG_RUNTIME_DIR/mpdp/NAME otherwise (or /tmp/mpdp-UID/NAME):
 * `lock`, held with flock() by the live primary, and `seg0`, the segment or
 * a symlink to it on hugetlbfs. See doc/memory.md.
 */
#ifndef MPDP_SHM_H
#define MPDP_SHM_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "mpdp_abi.h"
#include "mpdp_err.h"

/** A process's handle on an instance region (process-local, not shared). */
struct mpdp_shm;

#define MPDP_SHM_DEFAULT_NAME "mpdp"
#define MPDP_SHM_DEFAULT_SIZE (256ull << 20)
#define MPDP_SHM_MIN_SIZE (4ull << 20)

/** How the primary creates the region. Zero-initialise, then set what differs. */
struct mpdp_shm_params {
	const char *name;        /**< instance name; NULL for "mpdp" */
	uint64_t size;           /**< bytes; 0 for MPDP_SHM_DEFAULT_SIZE; rounded up to the page */
	const char *huge_dir;    /**< hugetlbfs mount; NULL to find one in /proc/mounts */
	int no_huge;             /**< 1: tmpfs, do not try huge pages */
	uint64_t base;           /**< fixed address; 0 for the default (MPDP_CFG_DEFAULT_BASE) */
	const char *runtime_dir; /**< parent of the instance directory; NULL for the default */
};

/**
 * Create the instance region (primary only).
 *
 * Takes the instance lock, reclaims the files of a primary that died,
 * creates and maps the segment and initialises the header. Falls back to
 * tmpfs, with one warning line, when no huge pages can be had and
 * @p p->huge_dir was not given.
 *
 * @param p  parameters
 * @param out  the handle
 * @param eb  detail on failure, or NULL
 * @return 0, -EINVAL (bad name, size, address or huge_dir), -EBUSY (a live
 *         primary holds the instance), -EADDRINUSE (the fixed range is taken
 *         in this process), -ENOMEM, or another -errno from the system
 */
int mpdp_shm_create(const struct mpdp_shm_params *p, struct mpdp_shm **out,
		    struct mpdp_errbuf *eb);

/**
 * Attach to a running instance at its fixed address.
 *
 * @param name  instance name; NULL for "mpdp"
 * @param runtime_dir  as in struct mpdp_shm_params; NULL for the default
 * @param out  the handle
 * @param eb  detail on failure, or NULL
 * @return 0, -ENOENT (not running), -EAGAIN (primary not ready yet),
 *         -EPROTO (bad magic or ABI version), -EADDRINUSE (the range is taken
 *         in this process: @p eb names the mapping and the option that moves
 *         the base), or another -errno
 */
int mpdp_shm_attach(const char *name, const char *runtime_dir, struct mpdp_shm **out,
		    struct mpdp_errbuf *eb);

/**
 * Unmap the region and free the handle. The primary also removes the
 * instance files and releases the lock.
 */
void mpdp_shm_close(struct mpdp_shm *shm);

/**
 * The runtime directory of instance @p name (NULL for "mpdp") under
 * @p parent (NULL for the default), whether or not it exists.
 *
 * @return 0, -EINVAL (bad name), -ENAMETOOLONG
 */
int mpdp_shm_instance_dir(const char *name, const char *parent, char *out, size_t len);

/** @return the header at offset 0 of the region. */
struct mpdp_abi_header *mpdp_shm_header(const struct mpdp_shm *shm);

/** @return 1 in the process that created the region. */
int mpdp_shm_is_primary(const struct mpdp_shm *shm);

/** @return the instance's runtime directory. */
const char *mpdp_shm_runtime_dir(const struct mpdp_shm *shm);

/**
 * Whether the primary that created this region is still alive, by its pid
 * and start time.
 *
 * @return 1 or 0
 */
int mpdp_shm_primary_alive(const struct mpdp_shm *shm);

/** Bytes of the region in memzones, and the total usable by memzones. */
void mpdp_shm_usage(struct mpdp_shm *shm, uint64_t *used, uint64_t *total);

/** Print the header and the memzone table. */
void mpdp_shm_dump(FILE *f, struct mpdp_shm *shm);

/** What a memzone is, as returned by lookup and walk. */
struct mpdp_shm_memzone {
	char name[MPDP_NAME_MAX];
	void *addr;
	uint64_t len;
	unsigned kind;    /**< enum mpdp_mz_kind */
	int socket;
	pid_t owner_pid;
};

/** Pass as @p kind to match any kind. */
#define MPDP_MZ_KIND_ANY (~0u)

/**
 * Reserve a zeroed, named memzone.
 *
 * @param name  unique in the instance, up to MPDP_NAME_MAX - 1 characters
 * @param len  bytes (> 0), rounded up to the cache line
 * @param align  power of two; 0 for the cache line
 * @param socket  NUMA node to bind the pages to, or -1 for any (binding is
 *                done only when the machine has more than one node)
 * @param kind  enum mpdp_mz_kind
 * @param addr  the zone's address
 * @return 0, -EINVAL, -EEXIST (name taken), -ENOSPC (table full),
 *         -ENOMEM (no gap large enough), -ENOTRECOVERABLE (lock unusable)
 */
int mpdp_shm_memzone_reserve(struct mpdp_shm *shm, const char *name, uint64_t len,
			     uint64_t align, int socket, unsigned kind, void **addr);

/**
 * Find a memzone by name.
 *
 * @param kind  required kind, or MPDP_MZ_KIND_ANY
 * @param out  filled in when found
 * @return 0, -ENOENT (no such zone, or of another kind)
 */
int mpdp_shm_memzone_lookup(struct mpdp_shm *shm, const char *name, unsigned kind,
			    struct mpdp_shm_memzone *out);

/**
 * Release a memzone; its memory may be reused at once.
 *
 * @return 0, -ENOENT
 */
int mpdp_shm_memzone_free(struct mpdp_shm *shm, const char *name);

/**
 * Call @p fn for every memzone of @p kind, on a snapshot of the table taken
 * under the lock (so @p fn may reserve or free).
 *
 * @return 0, or the first non-zero value @p fn returned
 */
int mpdp_shm_memzone_walk(struct mpdp_shm *shm, unsigned kind,
			  int (*fn)(const struct mpdp_shm_memzone *mz, void *arg), void *arg);

/**
 * Physical address of @p addr, from /proc/self/pagemap (needs
 * CAP_SYS_ADMIN; pages must be present).
 *
 * @return 0, -EPERM (the kernel hid the frame number), -ENOENT (not present)
 */
int mpdp_shm_virt2phys(const void *addr, uint64_t *phys);

#endif /* MPDP_SHM_H */

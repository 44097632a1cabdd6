/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "mpdp_ring.h"
#include "mpdp_shm.h"

size_t
mpdp_ring_memsize(unsigned count)
{
	if (count == 0 || count > MPDP_RING_SIZE_MAX || (count & (count - 1)) != 0)
		return 0;
	return sizeof(struct mpdp_ring) + (size_t)count * sizeof(void *);
}

int
mpdp_ring_init(struct mpdp_ring *r, const char *name, unsigned count, unsigned flags)
{
	if (mpdp_ring_memsize(count) == 0 || (flags & ~(unsigned)MPDP_RING_F_ALL_) != 0 ||
	    name == NULL || strlen(name) >= MPDP_NAME_MAX ||
	    ((uintptr_t)r % _Alignof(struct mpdp_ring)) != 0)
		return -EINVAL;
	memset(r, 0, sizeof(*r));
	snprintf(r->name, sizeof(r->name), "%s", name);
	r->flags = flags;
	r->size = count;
	r->mask = count - 1;
	r->capacity = count;
	atomic_init(&r->prod.head, 0);
	atomic_init(&r->prod.tail, 0);
	atomic_init(&r->cons.head, 0);
	atomic_init(&r->cons.tail, 0);
	atomic_init(&r->prod.other_tail, 0);
	atomic_init(&r->cons.other_tail, 0);
	return 0;
}

int
mpdp_ring_create(struct mpdp_shm *shm, const char *name, unsigned count, unsigned flags,
		 int socket, struct mpdp_ring **out)
{
	size_t len = mpdp_ring_memsize(count);
	void *mem;
	int rc;

	if (len == 0 || (flags & ~(unsigned)MPDP_RING_F_ALL_) != 0)
		return -EINVAL;
	rc = mpdp_shm_memzone_reserve(shm, name, len, _Alignof(struct mpdp_ring), socket,
				      MPDP_MZ_KIND_RING, &mem);
	if (rc != 0)
		return rc;
	rc = mpdp_ring_init(mem, name, count, flags);
	if (rc != 0) {
		mpdp_shm_memzone_free(shm, name);
		return rc;
	}
	*out = mem;
	return 0;
}

int
mpdp_ring_lookup(struct mpdp_shm *shm, const char *name, struct mpdp_ring **out)
{
	struct mpdp_shm_memzone mz;
	int rc;

	if (name == NULL || strlen(name) >= MPDP_NAME_MAX)
		return -EINVAL;
	rc = mpdp_shm_memzone_lookup(shm, name, MPDP_MZ_KIND_RING, &mz);
	if (rc != 0)
		return rc;
	*out = mz.addr;
	return 0;
}

int
mpdp_ring_delete(struct mpdp_shm *shm, struct mpdp_ring *r)
{
	struct mpdp_shm_memzone mz;
	int rc = mpdp_shm_memzone_lookup(shm, r->name, MPDP_MZ_KIND_RING, &mz);

	if (rc != 0 || mz.addr != (void *)r)
		return -ENOENT;
	return mpdp_shm_memzone_free(shm, r->name);
}

void
mpdp_ring_dump(FILE *f, const struct mpdp_ring *r)
{
	fprintf(f, "ring %s: size %u, %s/%s, prod %" PRIu32 "/%" PRIu32 ", cons %" PRIu32 "/%" PRIu32
		", used %u, free %u\n",
		r->name, r->size, (r->flags & MPDP_RING_F_SP_ENQ) ? "SP" : "MP",
		(r->flags & MPDP_RING_F_SC_DEQ) ? "SC" : "MC",
		atomic_load(&r->prod.head), atomic_load(&r->prod.tail),
		atomic_load(&r->cons.head), atomic_load(&r->cons.tail),
		mpdp_ring_count(r), mpdp_ring_free_count(r));
}

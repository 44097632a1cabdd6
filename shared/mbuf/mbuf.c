/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>

#include "mpdp_mbuf.h"
#include "mpdp_pkt.h"

static void
mbuf_init(struct mpdp_pool *pool, void *obj, unsigned idx, void *arg)
{
	struct mpdp_mbuf *m = obj;
	unsigned dataroom = *(const unsigned *)arg;

	(void)idx;
	m->buf_addr = (char *)obj + sizeof(*m);
	m->buf_len = (uint16_t)(MPDP_MBUF_HEADROOM + dataroom);
	m->pool = pool;
	m->owner = MPDP_POOL_NO_CACHE;
	mpdp_mbuf_reset(m);
}

int
mpdp_mbuf_pool_create(struct mpdp_shm *shm, const char *name, unsigned n, unsigned cache_size,
		      unsigned dataroom, int socket, struct mpdp_pool **out)
{
	if (dataroom == 0 || dataroom > UINT16_MAX - MPDP_MBUF_HEADROOM)
		return -EINVAL;
	return mpdp_pool_create(shm, name, n, (unsigned)sizeof(struct mpdp_mbuf) +
				MPDP_MBUF_HEADROOM + dataroom, cache_size, socket, mbuf_init,
				&dataroom, out);
}

unsigned
mpdp_mbuf_pool_dataroom(const struct mpdp_pool *pool)
{
	return pool->obj_size - (unsigned)sizeof(struct mpdp_mbuf) - MPDP_MBUF_HEADROOM;
}

int
mpdp_mbuf_parse(struct mpdp_mbuf *m, struct mpdp_pkt_info *info)
{
	struct mpdp_pkt_info local;
	struct mpdp_pkt_info *pi = info != NULL ? info : &local;
	int rc = mpdp_pkt_parse(mpdp_mbuf_data(m), m->data_len, pi);

	m->packet_type = pi->ptype;
	m->l2_len = (uint8_t)(pi->l3_off > UINT8_MAX ? 0 : pi->l3_off);
	m->l3_len = pi->l3_len;
	m->l4_len = (uint8_t)(pi->l4_len > UINT8_MAX ? 0 : pi->l4_len);
	return rc;
}

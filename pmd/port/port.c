/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <sched.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "mpdp_port.h"
#include "mpdp_shm.h"
#include "pmd_drivers.h"

/* The process's driver table: const, built at compile time (STYLE §11.3). */
static const struct mpdp_pmd_ops *const drivers[] = {
	&mpdp__pmd_null_ops,
	&mpdp__pmd_ring_ops,
	&mpdp__pmd_pcap_ops,
	&mpdp__pmd_af_packet_ops,
	&mpdp__pmd_tap_ops,
};

#define N_DRIVERS (sizeof(drivers) / sizeof(drivers[0]))

const struct mpdp_pmd_ops *
mpdp_pmd_find(const char *name)
{
	for (size_t i = 0; i < N_DRIVERS; i++) {
		if (strcmp(drivers[i]->driver, name) == 0)
			return drivers[i];
	}
	return NULL;
}

const char *const *
mpdp_pmd_names(void)
{
	static const char *names[N_DRIVERS + 1];

	for (size_t i = 0; i < N_DRIVERS; i++)
		names[i] = drivers[i]->driver;
	return names;
}

static struct mpdp_abi_port *
slot_find(struct mpdp_abi_header *h, const char *name)
{
	for (unsigned i = 0; i < MPDP_PORT_MAX; i++) {
		struct mpdp_abi_port *p = &h->ports[i];

		if (atomic_load_explicit((_Atomic uint32_t *)&p->state, memory_order_acquire) !=
		    MPDP_PORT_FREE && strncmp(p->name, name, MPDP_NAME_MAX) == 0)
			return p;
	}
	return NULL;
}

/* "NAME.rx"/"NAME.tx" must fit a ring name. */
static int
ring_names(const char *name, char *rx, char *tx, struct mpdp_errbuf *eb)
{
	if (strlen(name) + 3 >= MPDP_NAME_MAX)
		return mpdp_err_set(eb, -EINVAL, "port %s: the name must be at most %d characters",
				    name, MPDP_NAME_MAX - 4);
	snprintf(rx, MPDP_NAME_MAX, "%s.rx", name);
	snprintf(tx, MPDP_NAME_MAX, "%s.tx", name);
	return 0;
}

int
mpdp_port_open(struct mpdp_shm *shm, const char *devargs, struct mpdp_pool *pool,
	       unsigned ring_size, struct mpdp_port **out, struct mpdp_errbuf *eb)
{
	struct mpdp_abi_header *h = mpdp_shm_header(shm);
	char rx_name[MPDP_NAME_MAX], tx_name[MPDP_NAME_MAX];
	const struct mpdp_pmd_ops *ops;
	struct mpdp_abi_port *slot = NULL;
	uint64_t lcore = UINT64_MAX;   /* which I/O worker polls it: a key every driver takes */
	struct mpdp_kvargs kv;
	struct mpdp_port *port;
	int i, rc;

	rc = mpdp_kvargs_parse(devargs, &kv, eb);
	if (rc != 0) {
		char detail[sizeof(eb->msg)];

		snprintf(detail, sizeof(detail), "%s", eb->msg);
		return mpdp_err_set(eb, -EINVAL, "--port %s", detail);
	}
	i = mpdp_kvargs_get(&kv, "driver");
	if (i < 0 || kv.kv[i].value == NULL || kv.kv[i].value[0] == '\0')
		return mpdp_err_set(eb, -EINVAL, "port %s: missing driver= (one of null, ring, pcap, "
				    "af_packet, tap)", kv.name);
	ops = mpdp_pmd_find(kv.kv[i].value);
	if (ops == NULL)
		return mpdp_err_set(eb, -EINVAL, "port %s: unknown driver '%s' (one of null, ring, "
				    "pcap, af_packet, tap)", kv.name, kv.kv[i].value);
	rc = ring_names(kv.name, rx_name, tx_name, eb);
	if (rc != 0)
		return rc;
	if (slot_find(h, kv.name) != NULL)
		return mpdp_err_set(eb, -EEXIST, "port %s: a port of that name exists", kv.name);
	for (unsigned s = 0; s < MPDP_PORT_MAX && slot == NULL; s++) {
		if (h->ports[s].state == MPDP_PORT_FREE)
			slot = &h->ports[s];
	}
	if (slot == NULL)
		return mpdp_err_set(eb, -ENOSPC, "port %s: the port table is full (%d ports)",
				    kv.name, MPDP_PORT_MAX);

	port = calloc(1, sizeof(*port) + ops->priv_size);
	if (port == NULL)
		return -ENOMEM;
	port->ops = ops;
	port->shm = shm;
	port->pool = pool;
	port->abi = slot;
	port->id = (uint16_t)(slot - h->ports);
	port->n_queues = 1;
	port->wid = MPDP_POOL_NO_CACHE;
	port->priv = port + 1;
	memset(slot, 0, sizeof(*slot));
	snprintf(slot->name, sizeof(slot->name), "%s", kv.name);
	snprintf(slot->driver, sizeof(slot->driver), "%s", ops->driver);
	slot->lcore = -1;

	/* The I/O worker is the only producer of NAME.rx and the only consumer of NAME.tx. */
	rc = mpdp_ring_create(shm, rx_name, ring_size, MPDP_RING_F_SP_ENQ | MPDP_RING_F_RECOVER, -1,
			      &port->rx_ring);
	if (rc != 0) {
		mpdp_err_set(eb, rc, "port %s: cannot create ring %s: %s", kv.name, rx_name,
			     mpdp_strerror(rc));
		goto fail_free;
	}
	rc = mpdp_ring_create(shm, tx_name, ring_size, MPDP_RING_F_SC_DEQ | MPDP_RING_F_RECOVER, -1,
			      &port->tx_ring);
	if (rc != 0) {
		mpdp_err_set(eb, rc, "port %s: cannot create ring %s: %s", kv.name, tx_name,
			     mpdp_strerror(rc));
		goto fail_rx_ring;
	}
	rc = mpdp__pmd_arg_u64(port, &kv, "lcore", 0, CPU_SETSIZE - 1, &lcore, eb);
	if (rc != 0)
		goto fail_tx_ring;
	slot->lcore = lcore == UINT64_MAX ? -1 : (int32_t)lcore;
	rc = ops->open(port, &kv, eb);
	if (rc != 0)
		goto fail_tx_ring;
	rc = mpdp_kvargs_check_unused(&kv, eb);
	if (rc != 0) {
		char detail[sizeof(eb->msg)];

		snprintf(detail, sizeof(detail), "%s", eb->msg);
		mpdp_err_set(eb, rc, "port %s (driver %s)", detail, ops->driver);
		goto fail_open;
	}
	if (port->n_queues == 0 || port->n_queues > MPDP_PORT_QUEUE_MAX) {
		rc = mpdp_err_set(eb, -EINVAL, "port %s: %u queues (1 to %d)", kv.name,
				  port->n_queues, MPDP_PORT_QUEUE_MAX);
		goto fail_open;
	}
	slot->n_queues = port->n_queues;
	slot->link = 1;
	atomic_store_explicit((_Atomic uint32_t *)&slot->state, MPDP_PORT_STOPPED, memory_order_release);
	*out = port;
	return 0;

fail_open:
	ops->close(port);
fail_tx_ring:
	mpdp_ring_delete(shm, port->tx_ring);
fail_rx_ring:
	mpdp_ring_delete(shm, port->rx_ring);
fail_free:
	memset(slot, 0, sizeof(*slot));
	free(port);
	return rc;
}

/* Return every mbuf still queued on the port's rings to its pool. */
static void
drain_ring(struct mpdp_ring *r, unsigned wid)
{
	struct mpdp_mbuf *ms[64];
	unsigned n;

	while ((n = mpdp_ring_dequeue_burst(r, (void **)ms, 64, NULL)) > 0)
		mpdp_mbuf_free_bulk(ms, n, wid);
}

void
mpdp_port_close(struct mpdp_port *port)
{
	if (port == NULL)
		return;
	atomic_store_explicit((_Atomic uint32_t *)&port->abi->state, MPDP_PORT_STOPPED,
			      memory_order_release);
	port->ops->close(port);
	drain_ring(port->rx_ring, MPDP_POOL_NO_CACHE);
	drain_ring(port->tx_ring, MPDP_POOL_NO_CACHE);
	mpdp_ring_delete(port->shm, port->rx_ring);
	mpdp_ring_delete(port->shm, port->tx_ring);
	memset(port->abi, 0, sizeof(*port->abi));
	free(port);
}

int
mpdp_port_lookup(struct mpdp_shm *shm, const char *name, struct mpdp_abi_port **out)
{
	struct mpdp_abi_port *p = slot_find(mpdp_shm_header(shm), name);

	if (p == NULL)
		return -ENOENT;
	*out = p;
	return 0;
}

void
mpdp_port_stats(const struct mpdp_abi_port *port, struct mpdp_abi_port_queue *sum)
{
	uint64_t *dst = (uint64_t *)sum;

	memset(sum, 0, sizeof(*sum));
	for (unsigned q = 0; q < MPDP_PORT_QUEUE_MAX; q++) {
		const uint64_t *src = (const uint64_t *)&port->queues[q];

		for (size_t i = 0; i < sizeof(*sum) / sizeof(uint64_t); i++)
			dst[i] += __atomic_load_n(&src[i], __ATOMIC_RELAXED);
	}
}

void
mpdp_port_summary(FILE *f, const struct mpdp_abi_port *port)
{
	struct mpdp_abi_port_queue s;

	mpdp_port_stats(port, &s);
	fprintf(f, "port %-12s %-9s link %-4s rx %" PRIu64 " pkts %" PRIu64 " bytes, missed %" PRIu64
		", errors %" PRIu64 " | tx %" PRIu64 " pkts %" PRIu64 " bytes, errors %" PRIu64
		", drops %" PRIu64 "\n",
		port->name, port->driver, port->link ? "up" : "down", s.rx_packets, s.rx_bytes,
		s.rx_missed, s.rx_errors, s.tx_packets, s.tx_bytes, s.tx_errors, s.tx_drops);
}

/* SPDX-License-Identifier: BSD-3-Clause */
/* The drivers compiled into this library (internal to pmd/). */
#ifndef MPDP_PMD_DRIVERS_H
#define MPDP_PMD_DRIVERS_H

#include "mpdp_port.h"

extern const struct mpdp_pmd_ops mpdp__pmd_null_ops;
extern const struct mpdp_pmd_ops mpdp__pmd_ring_ops;
extern const struct mpdp_pmd_ops mpdp__pmd_pcap_ops;
extern const struct mpdp_pmd_ops mpdp__pmd_af_packet_ops;
extern const struct mpdp_pmd_ops mpdp__pmd_tap_ops;

/**
 * Parse an unsigned device argument: absent leaves *out as it is.
 *
 * @return 0, or -EINVAL naming the port and the key in @p eb
 */
int mpdp__pmd_arg_u64(struct mpdp_port *port, struct mpdp_kvargs *kv, const char *key,
		      uint64_t min, uint64_t max, uint64_t *out, struct mpdp_errbuf *eb);

/**
 * Get a string device argument: absent leaves *out as it is.
 *
 * @return 0, or -EINVAL when the key has no value
 */
int mpdp__pmd_arg_str(struct mpdp_port *port, struct mpdp_kvargs *kv, const char *key,
		      const char **out, struct mpdp_errbuf *eb);

#endif /* MPDP_PMD_DRIVERS_H */

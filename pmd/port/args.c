/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <inttypes.h>

#include "pmd_drivers.h"

int
mpdp__pmd_arg_u64(struct mpdp_port *port, struct mpdp_kvargs *kv, const char *key,
		  uint64_t min, uint64_t max, uint64_t *out, struct mpdp_errbuf *eb)
{
	int i = mpdp_kvargs_get(kv, key);

	if (i < 0)
		return 0;
	if (kv->kv[i].value == NULL || mpdp_parse_u64(kv->kv[i].value, min, max, out) != 0)
		return mpdp_err_set(eb, -EINVAL, "port %s: %s=%s is not a number from %" PRIu64
				    " to %" PRIu64, port->abi->name, key,
				    kv->kv[i].value ? kv->kv[i].value : "", min, max);
	return 0;
}

int
mpdp__pmd_arg_str(struct mpdp_port *port, struct mpdp_kvargs *kv, const char *key,
		  const char **out, struct mpdp_errbuf *eb)
{
	int i = mpdp_kvargs_get(kv, key);

	if (i < 0)
		return 0;
	if (kv->kv[i].value == NULL || kv->kv[i].value[0] == '\0')
		return mpdp_err_set(eb, -EINVAL, "port %s: %s= needs a value", port->abi->name, key);
	*out = kv->kv[i].value;
	return 0;
}

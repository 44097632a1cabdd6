/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <string.h>

#include "fw_test_names.h"

static const char *const outputs[] = { "drop", "out", "mon" };

static int
resolve(void *arg, const char *name, uint16_t *port, unsigned *input)
{
	static const char *const ports[] = { "eth0", "eth1", "eth2", "eth3" };
	static const char *const rings[] = { "ring0", "ring1", "inside" };

	(void)arg;
	*port = FW_PORT_NONE;
	*input = FW_INPUT_NONE;
	for (unsigned i = 0; i < 4; i++)
		if (strcmp(name, ports[i]) == 0) {
			*port = (uint16_t)i;
			return 0;
		}
	if (strcmp(name, "port7") == 0) {
		*port = 7;
		return 0;
	}
	for (unsigned i = 0; i < 3; i++)
		if (strcmp(name, rings[i]) == 0) {
			*input = i;
			return 0;
		}
	if (strcmp(name, "broken") == 0)
		return -EIO;
	return -ENOENT;
}

const struct fw_names fw_test_names = {
	.outputs = outputs, .n_outputs = 3, .resolve_in = resolve, .arg = NULL,
};

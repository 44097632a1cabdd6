/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mpdp-nat: NAT44 as a carrier-grade NAT does it (see nat_stage.c and
 * doc/stage-nat.md). The stage is nat_stage.c; this is its main(), which
 * checks the NAT options before the framework attaches.
 */
#include <stdio.h>
#include <string.h>

#include "mpdp_stage.h"
#include "nat_config.h"
#include "nat_stage.h"

/* Whether the framework will only print something (help, version) or report. */
static int
argv_has(int argc, char **argv, const char *const *names)
{
	for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
		for (const char *const *n = names; *n != NULL; n++) {
			if (strcmp(argv[i], *n) == 0)
				return 1;
		}
	}
	return 0;
}

int
main(int argc, char **argv)
{
	static const char *const print_only[] = { "-h", "--help", "--version", NULL };
	static const char *const report[] = { "--report", NULL };
	struct mpdp_errbuf eb = { "" };
	struct nat_config c;
	uint32_t sessions;

	/* NAT values are checked here, before anything attaches, so a bad one
	 * exits 2 like every bad argument; init checks them again. */
	if (!argv_has(argc, argv, print_only)) {
		nat_config_init(&c);
		if (nat_config_from_argv(&c, &sessions, argc, argv, &eb) != 0 ||
		    (!argv_has(argc, argv, report) && nat_config_finish(&c, &eb) != 0)) {
			fprintf(stderr, "mpdp-nat: %s\nmpdp-nat: see --help\n", eb.msg);
			return 2;
		}
	}
	return mpdp_stage_main(argc, argv, &nat_stage);
}

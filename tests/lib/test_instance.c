/* SPDX-License-Identifier: BSD-3-Clause */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "test_instance.h"

void
test_instance_create(struct test_instance *ti, const char *prefix, uint64_t size, int huge)
{
	struct mpdp_shm_params p = { 0 };
	struct mpdp_errbuf eb = { "" };
	int rc;

	memset(ti, 0, sizeof(*ti));
	snprintf(ti->name, sizeof(ti->name), "%s-%d", prefix, (int)getpid());
	snprintf(ti->dir, sizeof(ti->dir), "/tmp/mpdp-test-XXXXXX");
	if (mkdtemp(ti->dir) == NULL) {
		perror("mkdtemp");
		abort();
	}
	ti->creator_pid = (int)getpid();
	p.name = ti->name;
	p.size = size ? size : 64ull << 20;
	p.no_huge = !huge;
	p.runtime_dir = ti->dir;
	rc = mpdp_shm_create(&p, &ti->shm, &eb);
	if (rc != 0) {
		fprintf(stderr, "test_instance_create: %s (%s)\n", eb.msg, mpdp_strerror(rc));
		abort();
	}
}

struct mpdp_shm *
test_instance_attach(const struct test_instance *ti)
{
	struct mpdp_errbuf eb = { "" };
	struct mpdp_shm *shm;
	int rc;

	if (ti->shm != NULL && (int)getpid() != ti->creator_pid) {
		const struct mpdp_abi_header *h = mpdp_shm_header(ti->shm);

		munmap((void *)(uintptr_t)h->base, h->size);
	}
	rc = mpdp_shm_attach(ti->name, ti->dir, &shm, &eb);

	if (rc != 0) {
		fprintf(stderr, "test_instance_attach: %s (%s)\n", eb.msg, mpdp_strerror(rc));
		abort();
	}
	return shm;
}

void
test_instance_destroy(struct test_instance *ti)
{
	mpdp_shm_close(ti->shm);
	ti->shm = NULL;
	rmdir(ti->dir);
}

/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Hugepage mode: needs root to reserve pages and mount hugetlbfs, so it is
 * its own executable that skips (TAP "1..0 # SKIP") when it cannot. It
 * restores nr_hugepages and unmounts what it mounted.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mpdp_log.h"
#include "mpdp_shm.h"

#define HUGE_PAGES_NEEDED 40   /* a 64 MiB instance plus room */
#define NR_PATH "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"
#define FREE_PATH "/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages"

struct huge_env {
	long nr_before;           /* to restore, or -1 when untouched */
	char mnt[64];             /* our hugetlbfs mount */
	char small_mnt[64];       /* a mount limited to 2 pages */
	char rundir[64];
};

static struct huge_env env = { .nr_before = -1 };

static long
read_long(const char *path)
{
	FILE *f = fopen(path, "re");
	long v = -1;

	if (f != NULL) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

static int
write_long(const char *path, long v)
{
	FILE *f = fopen(path, "we");
	int ok;

	if (f == NULL)
		return -errno;
	ok = fprintf(f, "%ld\n", v) > 0;
	return fclose(f) == 0 && ok ? 0 : -EIO;
}

static void
env_restore(void)
{
	if (env.small_mnt[0] != '\0') {
		umount2(env.small_mnt, MNT_DETACH);
		rmdir(env.small_mnt);
	}
	if (env.mnt[0] != '\0') {
		umount2(env.mnt, MNT_DETACH);
		rmdir(env.mnt);
	}
	if (env.rundir[0] != '\0')
		rmdir(env.rundir);
	if (env.nr_before >= 0)
		write_long(NR_PATH, env.nr_before);
}

/* Returns NULL when ready, or why the test must skip. */
static const char *
env_setup(void)
{
	long free_pages;

	if (geteuid() != 0)
		return "not root: cannot reserve hugepages or mount hugetlbfs";
	free_pages = read_long(FREE_PATH);
	if (free_pages < 0)
		return "no 2 MiB hugepage support in this kernel";
	if (free_pages < HUGE_PAGES_NEEDED) {
		env.nr_before = read_long(NR_PATH);
		if (write_long(NR_PATH, env.nr_before + HUGE_PAGES_NEEDED - free_pages) != 0 ||
		    read_long(FREE_PATH) < HUGE_PAGES_NEEDED)
			return "cannot reserve 40 hugepages (memory fragmented?)";
	}
	snprintf(env.mnt, sizeof(env.mnt), "/tmp/mpdp-huge-XXXXXX");
	snprintf(env.small_mnt, sizeof(env.small_mnt), "/tmp/mpdp-huge-small-XXXXXX");
	snprintf(env.rundir, sizeof(env.rundir), "/tmp/mpdp-huge-run-XXXXXX");
	if (mkdtemp(env.mnt) == NULL || mkdtemp(env.small_mnt) == NULL || mkdtemp(env.rundir) == NULL)
		return "cannot make temporary directories";
	if (mount("nodev", env.mnt, "hugetlbfs", 0, "pagesize=2M") != 0)
		return "cannot mount hugetlbfs";
	if (mount("nodev", env.small_mnt, "hugetlbfs", 0, "pagesize=2M,size=4M") != 0)
		return "cannot mount a size-limited hugetlbfs";
	return NULL;
}

static struct mpdp_shm *
create_on(const char *dir, const char *prefix, uint64_t size)
{
	struct mpdp_shm_params p = { .huge_dir = dir, .size = size, .runtime_dir = env.rundir };
	struct mpdp_errbuf eb = { "" };
	struct mpdp_shm *shm;
	char name[32];
	int rc;

	snprintf(name, sizeof(name), "%s-%d", prefix, (int)getpid());
	p.name = name;
	rc = mpdp_shm_create(&p, &shm, &eb);
	if (rc != 0)
		fprintf(stderr, "create: %s\n", eb.msg);
	assert_int_equal(rc, 0);
	return shm;
}

static void
test_region_is_on_hugepages_and_physically_contiguous_per_page(void **state)
{
	struct mpdp_shm *shm = create_on(env.mnt, "huge", 64ull << 20);
	struct mpdp_abi_header *h = mpdp_shm_header(shm);
	uint64_t pa0, pa1;
	char *base = (char *)h;

	(void)state;
	assert_int_equal(h->hugepages, 1);
	assert_int_equal(h->page_size, 2u << 20);
	assert_int_equal(h->size, 64u << 20);
	assert_int_equal(mpdp_shm_virt2phys(base, &pa0), 0);
	assert_int_equal(mpdp_shm_virt2phys(base + 1234567 % (2u << 20), &pa1), 0);
	assert_int_equal(pa1 - pa0, 1234567 % (2u << 20));
	assert_int_equal(pa0 % (2u << 20), 0);
	mpdp_shm_close(shm);
}

static int
child_attach(const char *name)
{
	struct mpdp_shm *shm;
	int rc = mpdp_shm_attach(name, env.rundir, &shm, NULL);

	if (rc != 0)
		return 1;
	rc = mpdp_shm_header(shm)->hugepages == 1 ? 0 : 2;
	mpdp_shm_close(shm);
	return rc;
}

static void
test_exec_free_child_attaches_to_hugepage_region(void **state)
{
	struct mpdp_shm *shm = create_on(env.mnt, "hattach", 16ull << 20);
	const struct mpdp_abi_header *h = mpdp_shm_header(shm);
	uint64_t base = h->base, size = h->size;
	char name[MPDP_NAME_MAX];
	int status;
	pid_t pid;

	(void)state;
	memcpy(name, h->name, sizeof(name));
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		alarm(20);
		munmap((void *)(uintptr_t)base, size); /* as a freshly exec'd process */
		_exit(child_attach(name));
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	mpdp_shm_close(shm);
}

static char captured[512];

static void
capture_sink(void *arg, enum mpdp_log_level level, const char *component, const char *msg)
{
	(void)arg;
	(void)component;
	if (level == MPDP_LOG_WARN)
		snprintf(captured, sizeof(captured), "%s", msg);
}

static void
test_too_few_hugepages_falls_back_to_tmpfs_with_one_warning(void **state)
{
	struct mpdp_shm *shm;

	(void)state;
	mpdp_log_set_sink(capture_sink, NULL);
	shm = create_on(env.small_mnt, "fallback", 64ull << 20);
	mpdp_log_set_sink(NULL, NULL);
	assert_int_equal(mpdp_shm_header(shm)->hugepages, 0);
	assert_non_null(strstr(captured, "using tmpfs"));
	mpdp_shm_close(shm);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_region_is_on_hugepages_and_physically_contiguous_per_page),
		cmocka_unit_test(test_exec_free_child_attaches_to_hugepage_region),
		cmocka_unit_test(test_too_few_hugepages_falls_back_to_tmpfs_with_one_warning),
	};
	const char *skip = env_setup();
	int rc;

	if (skip != NULL) {
		printf("1..0 # SKIP %s\n", skip);
		env_restore();
		return 0;
	}
	rc = cmocka_run_group_tests_name("shm_huge", tests, NULL, NULL);
	env_restore();
	return rc;
}

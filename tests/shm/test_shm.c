/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Memory tests on tmpfs: create and attach at the fixed address, ABI checks,
 * the collision message, a second primary, stale-instance reclaim, a
 * process killed while it holds the allocation lock, and memzones.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mpdp_shm.h"
#include "test_instance.h"

/* Run @fn in a forked child; return its exit status (or 128 + signal). */
static int
in_child(int (*fn)(void *), void *arg)
{
	int status;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		alarm(20);
		_exit(fn(arg));
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int
child_writes_memzone(void *arg)
{
	struct mpdp_shm *shm = test_instance_attach(arg);
	struct mpdp_shm_memzone mz;

	if (mpdp_shm_is_primary(shm))
		return 2;
	if (mpdp_shm_memzone_lookup(shm, "shared", MPDP_MZ_KIND_RAW, &mz) != 0 || mz.len < 64)
		return 3;
	strcpy(mz.addr, "written by the child");
	mpdp_shm_close(shm);
	return 0;
}

static void
test_child_attaches_at_the_same_address(void **state)
{
	struct test_instance ti;
	void *zone;

	(void)state;
	test_instance_create(&ti, "attach", 0, 0);
	assert_int_equal(mpdp_shm_header(ti.shm)->hugepages, 0);
	assert_int_equal(mpdp_shm_memzone_reserve(ti.shm, "shared", 100, 0, -1, MPDP_MZ_KIND_RAW, &zone), 0);
	assert_int_equal(in_child(child_writes_memzone, &ti), 0);
	assert_string_equal(zone, "written by the child");
	test_instance_destroy(&ti);
}

struct attach_expect {
	struct test_instance *ti;
	int rc;
	const char *needle[3];
};

/* Attach without dropping the inherited mapping first when ti is NULL-named. */
static int
child_expects_attach_error(void *arg)
{
	struct attach_expect *e = arg;
	struct mpdp_errbuf eb = { "" };
	struct mpdp_shm *shm;
	int rc;

	if (e->rc != -EADDRINUSE && e->ti->shm != NULL) {
		const struct mpdp_abi_header *h = mpdp_shm_header(e->ti->shm);

		munmap((void *)(uintptr_t)h->base, h->size);
	}
	rc = mpdp_shm_attach(e->ti->name, e->ti->dir, &shm, &eb);
	if (rc != e->rc) {
		fprintf(stderr, "attach returned %d, expected %d: %s\n", rc, e->rc, eb.msg);
		return 1;
	}
	for (int i = 0; i < 3 && e->needle[i] != NULL; i++) {
		if (strstr(eb.msg, e->needle[i]) == NULL) {
			fprintf(stderr, "message '%s' lacks '%s'\n", eb.msg, e->needle[i]);
			return 2;
		}
	}
	return 0;
}

static void
test_attach_rejects_abi_mismatch(void **state)
{
	struct test_instance ti;
	struct mpdp_abi_header *h;
	struct attach_expect e = { &ti, -EPROTO, { "ABI 99.", "rebuild", NULL } };

	(void)state;
	test_instance_create(&ti, "abi", 0, 0);
	h = mpdp_shm_header(ti.shm);
	h->abi_major = 99;
	assert_int_equal(in_child(child_expects_attach_error, &e), 0);
	h->abi_major = MPDP_ABI_MAJOR;
	h->magic = 0xdeadbeef;
	e.needle[0] = "bad magic";
	e.needle[1] = NULL;
	assert_int_equal(in_child(child_expects_attach_error, &e), 0);
	h->magic = MPDP_ABI_MAGIC;
	test_instance_destroy(&ti);
}

/* The child keeps the mapping it inherited: it is exactly in the way. */
static void
test_attach_names_the_mapping_in_the_way(void **state)
{
	struct test_instance ti;
	struct attach_expect e = { &ti, -EADDRINUSE,
				   { "taken in this process by 0x200000000000", "--base-virtaddr", ".seg0" } };

	(void)state;
	test_instance_create(&ti, "collide", 0, 0);
	assert_int_equal(in_child(child_expects_attach_error, &e), 0);
	test_instance_destroy(&ti);
}

static void
test_attach_to_stopped_instance_says_not_running(void **state)
{
	struct test_instance ti;
	struct attach_expect e = { &ti, -ENOENT, { "is not running", NULL, NULL } };

	(void)state;
	test_instance_create(&ti, "stopped", 0, 0);
	test_instance_destroy(&ti);
	ti.shm = NULL;
	assert_int_equal(in_child(child_expects_attach_error, &e), 0);
}

static void
test_second_primary_is_refused(void **state)
{
	struct test_instance ti;
	struct mpdp_shm_params p = { 0 };
	struct mpdp_errbuf eb = { "" };
	struct mpdp_shm *second;

	(void)state;
	test_instance_create(&ti, "twice", 0, 0);
	p.name = ti.name;
	p.no_huge = 1;
	p.runtime_dir = ti.dir;
	p.base = 0x300000000000ull;
	assert_int_equal(mpdp_shm_create(&p, &second, &eb), -EBUSY);
	assert_non_null(strstr(eb.msg, "already running"));
	test_instance_destroy(&ti);
}

static void
test_bad_parameters_are_refused_with_a_reason(void **state)
{
	struct mpdp_shm_params p = { .no_huge = 1, .runtime_dir = "/tmp" };
	struct mpdp_errbuf eb = { "" };
	struct mpdp_shm *shm;

	(void)state;
	p.name = "bad/name";
	assert_int_equal(mpdp_shm_create(&p, &shm, &eb), -EINVAL);
	assert_non_null(strstr(eb.msg, "bad instance name"));
	p.name = "";
	assert_int_equal(mpdp_shm_create(&p, &shm, &eb), -EINVAL);
	p.name = "ok";
	p.size = 4096;
	assert_int_equal(mpdp_shm_create(&p, &shm, &eb), -EINVAL);
	assert_non_null(strstr(eb.msg, "out of range"));
	p.size = 0;
	p.base = 0x200000001000ull;
	assert_int_equal(mpdp_shm_create(&p, &shm, &eb), -EINVAL);
	assert_non_null(strstr(eb.msg, "multiple of 1 GiB"));
	p.base = 0;
	p.huge_dir = "/tmp";
	p.no_huge = 0;
	assert_int_equal(mpdp_shm_create(&p, &shm, &eb), -EINVAL);
	assert_non_null(strstr(eb.msg, "not a hugetlbfs mount"));
}

static int
dir_entries(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		n += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
	closedir(d);
	return n;
}

static int
child_dies_as_primary(void *arg)
{
	struct test_instance *ti = arg;
	struct mpdp_shm_params p = { .name = ti->name, .no_huge = 1, .runtime_dir = ti->dir,
				     .base = 0x300000000000ull };
	struct mpdp_shm *shm;

	if (mpdp_shm_create(&p, &shm, NULL) != 0)
		return 1;
	raise(SIGKILL);
	return 2;
}

static void
test_stale_instance_is_reclaimed_and_close_removes_every_file(void **state)
{
	struct test_instance ti;
	char inst_dir[PATH_MAX], seg[PATH_MAX + 32];
	struct stat st;

	(void)state;
	memset(&ti, 0, sizeof(ti));
	snprintf(ti.name, sizeof(ti.name), "stale-%d", (int)getpid());
	snprintf(ti.dir, sizeof(ti.dir), "/tmp/mpdp-test-XXXXXX");
	assert_non_null(mkdtemp(ti.dir));
	assert_int_equal(in_child(child_dies_as_primary, &ti), 128 + SIGKILL);
	snprintf(inst_dir, sizeof(inst_dir), "%s/%s", ti.dir, ti.name);
	snprintf(seg, sizeof(seg), "%s/seg0", inst_dir);
	assert_int_equal(lstat(seg, &st), 0); /* the dead primary left its files */

	struct mpdp_shm_params p = { .name = ti.name, .no_huge = 1, .runtime_dir = ti.dir };
	struct mpdp_errbuf eb = { "" };

	assert_int_equal(mpdp_shm_create(&p, &ti.shm, &eb), 0);
	ti.creator_pid = (int)getpid();
	assert_int_equal(mpdp_shm_header(ti.shm)->primary_pid, getpid());
	assert_int_equal(mpdp_shm_primary_alive(ti.shm), 1);
	mpdp_shm_close(ti.shm);
	assert_int_equal(dir_entries(ti.dir), 0); /* lock, segment and directory are gone */
	assert_int_equal(rmdir(ti.dir), 0);
}

/*
 * A child takes the allocation lock through the ABI, leaves a half-written
 * memzone entry, and is killed. The next locker recovers the lock and
 * clears the half-written entry.
 */
static int
child_dies_holding_the_lock(void *arg)
{
	struct mpdp_shm *shm = test_instance_attach(arg);
	struct mpdp_abi_header *h = mpdp_shm_header(shm);

	if (pthread_mutex_lock((pthread_mutex_t *)(void *)h->alloc_lock) != 0)
		return 1;
	h->memzones[5].state = MPDP_MZ_STATE_RESERVING;
	snprintf(h->memzones[5].name, sizeof(h->memzones[5].name), "half");
	raise(SIGKILL);
	return 2;
}

static void
test_kill_9_while_holding_the_allocation_lock_does_not_wedge(void **state)
{
	struct test_instance ti;
	struct mpdp_shm_memzone mz;
	void *a, *b;

	(void)state;
	test_instance_create(&ti, "lockdeath", 0, 0);
	assert_int_equal(mpdp_shm_memzone_reserve(ti.shm, "before", 4096, 0, -1, MPDP_MZ_KIND_RAW, &a), 0);
	assert_int_equal(in_child(child_dies_holding_the_lock, &ti), 128 + SIGKILL);
	assert_int_equal(mpdp_shm_memzone_reserve(ti.shm, "after", 4096, 0, -1, MPDP_MZ_KIND_RAW, &b), 0);
	assert_int_equal(mpdp_shm_header(ti.shm)->memzones[5].state, MPDP_MZ_STATE_FREE);
	assert_int_equal(mpdp_shm_memzone_lookup(ti.shm, "half", MPDP_MZ_KIND_ANY, &mz), -ENOENT);
	assert_int_equal(mpdp_shm_memzone_lookup(ti.shm, "before", MPDP_MZ_KIND_RAW, &mz), 0);
	assert_ptr_equal(mz.addr, a);
	/* And the lock keeps working: a second round. */
	assert_int_equal(in_child(child_dies_holding_the_lock, &ti), 128 + SIGKILL);
	assert_int_equal(mpdp_shm_memzone_free(ti.shm, "after"), 0);
	test_instance_destroy(&ti);
}

static int
count_zone(const struct mpdp_shm_memzone *mz, void *arg)
{
	(void)mz;
	(*(unsigned *)arg)++;
	return 0;
}

static void
test_memzones_reserve_align_lookup_free_and_reuse(void **state)
{
	struct test_instance ti;
	struct mpdp_shm_memzone mz;
	void *a, *b, *c, *d;
	unsigned n = 0;
	uint64_t used, total;

	(void)state;
	test_instance_create(&ti, "zones", 16ull << 20, 0);
	assert_int_equal(mpdp_shm_memzone_reserve(ti.shm, "a", 100, 0, -1, MPDP_MZ_KIND_RAW, &a), 0);
	assert_int_equal((uintptr_t)a % 64, 0);
	assert_int_equal(mpdp_shm_memzone_reserve(ti.shm, "b", 5000, 1u << 21, -1, MPDP_MZ_KIND_RAW, &b), 0);
	assert_int_equal((uintptr_t)b % (1u << 21), 0);
	assert_int_equal(mpdp_shm_memzone_reserve(ti.shm, "c", 64, 0, 0, MPDP_MZ_KIND_RAW, &c), 0);
	assert_int_equal(mpdp_shm_memzone_reserve(ti.shm, "a", 64, 0, -1, MPDP_MZ_KIND_RAW, &d), -EEXIST);
	assert_int_equal(mpdp_shm_memzone_reserve(ti.shm, "big", 64ull << 20, 0, -1, MPDP_MZ_KIND_RAW, &d), -ENOMEM);
	assert_int_equal(mpdp_shm_memzone_reserve(ti.shm, "x", 64, 3, -1, MPDP_MZ_KIND_RAW, &d), -EINVAL);
	assert_int_equal(mpdp_shm_memzone_reserve(ti.shm, "x", 0, 0, -1, MPDP_MZ_KIND_RAW, &d), -EINVAL);
	assert_int_equal(mpdp_shm_memzone_reserve(ti.shm, "x", 64, 0, 4096, MPDP_MZ_KIND_RAW, &d), -EINVAL);
	assert_int_equal(mpdp_shm_memzone_lookup(ti.shm, "b", MPDP_MZ_KIND_RING, &mz), -ENOENT);
	assert_int_equal(mpdp_shm_memzone_lookup(ti.shm, "b", MPDP_MZ_KIND_RAW, &mz), 0);
	assert_ptr_equal(mz.addr, b);
	assert_int_equal(mz.len, 5056); /* rounded up to the cache line */
	assert_int_equal(mz.owner_pid, getpid());
	mpdp_shm_usage(ti.shm, &used, &total);
	assert_int_equal(used, 128 + 5056 + 64);
	assert_int_equal(mpdp_shm_memzone_walk(ti.shm, MPDP_MZ_KIND_ANY, count_zone, &n), 0);
	assert_int_equal(n, 3);

	/* A freed gap is found again, and handed out zeroed. */
	memset(a, 0xab, 100);
	assert_int_equal(mpdp_shm_memzone_free(ti.shm, "a"), 0);
	assert_int_equal(mpdp_shm_memzone_free(ti.shm, "a"), -ENOENT);
	assert_int_equal(mpdp_shm_memzone_reserve(ti.shm, "a2", 128, 0, -1, MPDP_MZ_KIND_RAW, &d), 0);
	assert_ptr_equal(d, a);
	for (unsigned i = 0; i < 128; i++)
		assert_int_equal(((unsigned char *)d)[i], 0);
	test_instance_destroy(&ti);
}

static void
test_memzone_table_full_is_enospc(void **state)
{
	struct test_instance ti;
	char name[32];
	void *p;
	unsigned i;

	(void)state;
	test_instance_create(&ti, "full", 0, 0);
	for (i = 0; i < MPDP_MEMZONE_MAX; i++) {
		snprintf(name, sizeof(name), "z%u", i);
		assert_int_equal(mpdp_shm_memzone_reserve(ti.shm, name, 64, 0, -1, MPDP_MZ_KIND_RAW, &p), 0);
	}
	assert_int_equal(mpdp_shm_memzone_reserve(ti.shm, "one-more", 64, 0, -1, MPDP_MZ_KIND_RAW, &p), -ENOSPC);
	assert_int_equal(mpdp_shm_memzone_free(ti.shm, "z7"), 0);
	assert_int_equal(mpdp_shm_memzone_reserve(ti.shm, "one-more", 64, 0, -1, MPDP_MZ_KIND_RAW, &p), 0);
	test_instance_destroy(&ti);
}

static void
test_base_virtaddr_moves_the_region(void **state)
{
	struct mpdp_shm_params p = { .no_huge = 1, .base = 0x340000000000ull };
	struct mpdp_errbuf eb = { "" };
	char dir[] = "/tmp/mpdp-test-XXXXXX", name[32];
	struct mpdp_shm *shm;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(name, sizeof(name), "moved-%d", (int)getpid());
	p.name = name;
	p.runtime_dir = dir;
	assert_int_equal(mpdp_shm_create(&p, &shm, &eb), 0);
	assert_ptr_equal(mpdp_shm_header(shm), (void *)0x340000000000ull);
	assert_int_equal(mpdp_shm_header(shm)->base, 0x340000000000ull);
	mpdp_shm_close(shm);
	assert_int_equal(rmdir(dir), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_child_attaches_at_the_same_address),
		cmocka_unit_test(test_attach_rejects_abi_mismatch),
		cmocka_unit_test(test_attach_names_the_mapping_in_the_way),
		cmocka_unit_test(test_attach_to_stopped_instance_says_not_running),
		cmocka_unit_test(test_second_primary_is_refused),
		cmocka_unit_test(test_bad_parameters_are_refused_with_a_reason),
		cmocka_unit_test(test_stale_instance_is_reclaimed_and_close_removes_every_file),
		cmocka_unit_test(test_kill_9_while_holding_the_allocation_lock_does_not_wedge),
		cmocka_unit_test(test_memzones_reserve_align_lookup_free_and_reuse),
		cmocka_unit_test(test_memzone_table_full_is_enospc),
		cmocka_unit_test(test_base_virtaddr_moves_the_region),
	};

	return cmocka_run_group_tests_name("shm", tests, NULL, NULL);
}

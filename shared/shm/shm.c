/* SPDX-License-Identifier: BSD-3-Clause */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <numa.h>
#include <numaif.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include "mpdp_log.h"
#include "mpdp_proc.h"
#include "mpdp_fault.h"
#include "mpdp_shm.h"
#include "mpdp_time.h"

#ifndef HUGETLBFS_MAGIC
#define HUGETLBFS_MAGIC 0x958458f6
#endif
#ifndef TMPFS_MAGIC
#define TMPFS_MAGIC 0x01021994
#endif

struct mpdp_shm {
	struct mpdp_abi_header *hdr;
	uint64_t size;
	int is_primary;
	int lock_fd;               /* primary: holds flock(LOCK_EX) */
	char name[MPDP_NAME_MAX];
	char dir[PATH_MAX - 64];   /* runtime directory: room for "/seg0" and "/lock" */
	char seg_path[PATH_MAX];   /* the segment file itself */
};

static pthread_mutex_t *
alloc_lock(struct mpdp_shm *shm)
{
	return (pthread_mutex_t *)(void *)shm->hdr->alloc_lock;
}

_Static_assert(sizeof(pthread_mutex_t) <= MPDP_ABI_MUTEX_SIZE, "mutex fits its ABI slot");

static int
name_valid(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n >= MPDP_NAME_MAX || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (!isalnum((unsigned char)name[i]) && strchr("_-.", name[i]) == NULL)
			return 0;
	}
	return 1;
}

int
mpdp_shm_instance_dir(const char *name, const char *parent, char *out, size_t len)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	int n;

	if (name == NULL)
		name = MPDP_SHM_DEFAULT_NAME;
	if (!name_valid(name))
		return -EINVAL;
	if (parent != NULL)
		n = snprintf(out, len, "%s/%s", parent, name);
	else if (geteuid() == 0)
		n = snprintf(out, len, "/run/mpdp/%s", name);
	else if (xdg != NULL && xdg[0] == '/')
		n = snprintf(out, len, "%s/mpdp/%s", xdg, name);
	else
		n = snprintf(out, len, "/tmp/mpdp-%u/%s", (unsigned)geteuid(), name);
	return n > 0 && (size_t)n < len ? 0 : -ENAMETOOLONG;
}

/* mkdir -p for the instance directory; parents are 0755, the instance 0750. */
static int
make_dirs(const char *path)
{
	char tmp[PATH_MAX];

	snprintf(tmp, sizeof(tmp), "%s", path);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(tmp, 0750) != 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static uint64_t
align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

/* Describe who holds [base, base + size) in this process, from /proc/self/maps. */
static void
describe_collision(uint64_t base, uint64_t size, char *out, size_t len)
{
	FILE *f = fopen("/proc/self/maps", "re");
	char line[512];

	snprintf(out, len, "an unknown mapping");
	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		unsigned long lo, hi;
		int off = 0;

		if (sscanf(line, "%lx-%lx %*s %*s %*s %*s%n", &lo, &hi, &off) < 2)
			continue;
		if (lo >= base + size || hi <= base)
			continue;
		char *what = line + off;

		while (*what == ' ')
			what++;
		what[strcspn(what, "\n")] = '\0';
		snprintf(out, len, "0x%lx-0x%lx %s", lo, hi, *what ? what : "[anonymous]");
		break;
	}
	fclose(f);
}

static int
map_fixed(int fd, uint64_t base, uint64_t size, int populate, struct mpdp_errbuf *eb,
	  const char *name)
{
	char who[400];
	void *want = (void *)(uintptr_t)base;
	void *p = mmap(want, size, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_FIXED_NOREPLACE | (populate ? MAP_POPULATE : 0), fd, 0);

	if (p == MAP_FAILED && errno == EEXIST) {
		describe_collision(base, size, who, sizeof(who));
		return mpdp_err_set(eb, -EADDRINUSE,
				    "cannot map instance '%s' at 0x%" PRIx64 "-0x%" PRIx64
				    ": the range is taken in this process by %s; start the primary "
				    "with --base-virtaddr ADDR to move the region",
				    name, base, base + size, who);
	}
	if (p == MAP_FAILED)
		return mpdp_err_set(eb, -errno, "cannot map instance '%s' (%" PRIu64 " bytes): %s",
				    name, size, strerror(errno));
	if (p != want) { /* a kernel without MAP_FIXED_NOREPLACE treats it as a hint */
		munmap(p, size);
		return mpdp_err_set(eb, -EADDRINUSE,
				    "cannot map instance '%s' at 0x%" PRIx64 ": the kernel placed it at "
				    "%p; start the primary with --base-virtaddr ADDR to move the region",
				    name, base, p);
	}
	return 0;
}

/* The first hugetlbfs mount, and its page size. */
static int
find_hugetlbfs(char *dir, size_t len, uint64_t *page_size)
{
	FILE *f = fopen("/proc/mounts", "re");
	char dev[256], mnt[PATH_MAX], type[64];
	int rc = -ENOENT;

	if (f == NULL)
		return -errno;
	while (fscanf(f, "%255s %4095s %63s %*s %*d %*d", dev, mnt, type) == 3) {
		struct statfs sf;

		if (strcmp(type, "hugetlbfs") != 0 || statfs(mnt, &sf) != 0)
			continue;
		snprintf(dir, len, "%s", mnt);
		*page_size = (uint64_t)sf.f_bsize;
		rc = 0;
		break;
	}
	fclose(f);
	return rc;
}

static long
free_hugepages(uint64_t page_size)
{
	char path[128];
	long n = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/kernel/mm/hugepages/hugepages-%" PRIu64 "kB/free_hugepages",
		 page_size >> 10);
	f = fopen(path, "re");
	if (f == NULL)
		return -1;
	if (fscanf(f, "%ld", &n) != 1)
		n = -1;
	fclose(f);
	return n;
}

/* Remove what a dead primary left: the segment (through the symlink) and the link. */
static void
remove_segment_files(const char *dir)
{
	char link[PATH_MAX], target[PATH_MAX];
	ssize_t n;

	snprintf(link, sizeof(link), "%s/seg0", dir);
	n = readlink(link, target, sizeof(target) - 1);
	if (n > 0) {
		target[n] = '\0';
		unlink(target);
	}
	unlink(link);
}

/*
 * Take the instance lock for a new primary. A lock that nobody holds but
 * whose files remain means the previous primary died: reclaim them.
 */
static int
take_instance_lock(struct mpdp_shm *shm, struct mpdp_errbuf *eb)
{
	char path[PATH_MAX], buf[32] = "";
	struct stat st;
	int fd, n;

	snprintf(path, sizeof(path), "%s/lock", shm->dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0)
		return mpdp_err_set(eb, -errno, "cannot open %s: %s", path, strerror(errno));
	n = (int)pread(fd, buf, sizeof(buf) - 1, 0);
	buf[n > 0 ? n : 0] = '\0';
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		int err = errno;

		close(fd);
		if (err == EWOULDBLOCK)
			return mpdp_err_set(eb, -EBUSY,
					    "instance '%s' is already running (primary pid %d); stop it "
					    "or choose another --name", shm->name, atoi(buf));
		return mpdp_err_set(eb, -err, "cannot lock %s: %s", path, strerror(err));
	}
	snprintf(path, sizeof(path), "%s/seg0", shm->dir);
	if (lstat(path, &st) == 0) {
		remove_segment_files(shm->dir);
		MPDP_LOG(NOTICE, "instance '%s': reclaimed the files of primary pid %d, which is gone",
			 shm->name, atoi(buf));
	}
	n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) != 0 || pwrite(fd, buf, (size_t)n, 0) != n) {
		close(fd);
		return mpdp_err_set(eb, -EIO, "cannot write %s/lock", shm->dir);
	}
	shm->lock_fd = fd;
	return 0;
}

/* Remove the lock file while still holding it, then the directory if empty. */
static void
remove_instance_dir(struct mpdp_shm *shm)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/lock", shm->dir);
	unlink(path);
	close(shm->lock_fd);
	rmdir(shm->dir);
}

/* Create and size the segment file in @dir; returns an fd or -errno. */
static int
create_segment(struct mpdp_shm *shm, const char *dir, uint64_t size, struct mpdp_errbuf *eb)
{
	int fd;

	snprintf(shm->seg_path, sizeof(shm->seg_path), "%s/mpdp.%s.seg0", dir, shm->name);
	unlink(shm->seg_path);
	fd = open(shm->seg_path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
	if (fd < 0)
		return mpdp_err_set(eb, -errno, "cannot create %s: %s", shm->seg_path, strerror(errno));
	if (ftruncate(fd, (off_t)size) != 0) {
		int err = errno;

		close(fd);
		unlink(shm->seg_path);
		return mpdp_err_set(eb, -err, "cannot size %s to %" PRIu64 " bytes: %s",
				    shm->seg_path, size, strerror(err));
	}
	return fd;
}

/* Try huge pages; on any shortfall say why and return -EAGAIN to fall back. */
static int
try_hugepages(struct mpdp_shm *shm, const struct mpdp_shm_params *p, uint64_t base,
	      uint64_t *size, uint64_t *page_size, struct mpdp_errbuf *eb)
{
	char dir[PATH_MAX];
	struct statfs sf;
	uint64_t need;
	long avail;
	int fd, rc;

	if (p->huge_dir != NULL) {
		if (statfs(p->huge_dir, &sf) != 0 || sf.f_type != HUGETLBFS_MAGIC)
			return mpdp_err_set(eb, -EINVAL, "--huge-dir %s is not a hugetlbfs mount",
					    p->huge_dir);
		snprintf(dir, sizeof(dir), "%s", p->huge_dir);
		*page_size = (uint64_t)sf.f_bsize;
	} else if (find_hugetlbfs(dir, sizeof(dir), page_size) != 0) {
		MPDP_LOG(WARN, "no hugetlbfs mount in /proc/mounts; using tmpfs (mount -t hugetlbfs nodev /dev/hugepages)");
		return -EAGAIN;
	}
	/* A mount found (not asked for) that this user may not write to is a shortfall too. */
	if (p->huge_dir == NULL && access(dir, W_OK | X_OK) != 0) {
		MPDP_LOG(WARN, "hugetlbfs %s is not writable by this user; using tmpfs", dir);
		return -EAGAIN;
	}
	need = align_up(*size, *page_size) / *page_size;
	avail = free_hugepages(*page_size);
	if (avail >= 0 && (uint64_t)avail < need) {
		MPDP_LOG(WARN, "%ld free %" PRIu64 " kB hugepages, %" PRIu64 " needed; using tmpfs "
			 "(reserve them: echo %" PRIu64 " > /proc/sys/vm/nr_hugepages)",
			 avail, *page_size >> 10, need, need);
		return -EAGAIN;
	}
	*size = need * *page_size;
	fd = create_segment(shm, dir, *size, eb);
	if (fd < 0)
		return fd;
	rc = map_fixed(fd, base, *size, 1, eb, shm->name);
	close(fd);
	if (rc == -ENOMEM) {
		unlink(shm->seg_path);
		MPDP_LOG(WARN, "cannot reserve %" PRIu64 " hugepages; using tmpfs", need);
		return -EAGAIN;
	}
	if (rc != 0)
		unlink(shm->seg_path);
	return rc;
}

static int
use_tmpfs(struct mpdp_shm *shm, uint64_t base, uint64_t *size, struct mpdp_errbuf *eb)
{
	const char *dir = shm->dir;
	struct statfs sf;
	int fd, rc;

	/* The segment must be in memory, not on disk: /dev/shm when the runtime dir is not tmpfs. */
	if (statfs(shm->dir, &sf) != 0 || sf.f_type != TMPFS_MAGIC)
		dir = "/dev/shm";
	*size = align_up(*size, 4096);
	fd = create_segment(shm, dir, *size, eb);
	if (fd < 0)
		return fd;
	rc = map_fixed(fd, base, *size, 1, eb, shm->name);
	close(fd);
	if (rc != 0)
		unlink(shm->seg_path);
	return rc;
}

static void
header_init(struct mpdp_shm *shm, uint64_t base, uint64_t size, uint64_t page_size, int huge)
{
	struct mpdp_abi_header *h = shm->hdr;
	pthread_mutexattr_t ma;
	uint64_t start = 0, created = mpdp_realtime_ns();

	mpdp_proc_start_time(getpid(), &start);
	memset(h, 0, sizeof(*h));
	h->magic = MPDP_ABI_MAGIC;
	h->abi_major = MPDP_ABI_MAJOR;
	h->abi_minor = MPDP_ABI_MINOR;
	h->header_size = sizeof(*h);
	h->base = base;
	h->size = size;
	h->page_size = page_size;
	h->created_ns = created;
	h->generation = h->created_ns ^ ((uint64_t)getpid() << 32);
	h->primary_pid = getpid();
	h->primary_start = start;
	h->hugepages = (uint32_t)huge;
	snprintf(h->name, sizeof(h->name), "%s", shm->name);
	h->heap_offset = align_up(sizeof(*h), 4096);
	h->memzone_max = MPDP_MEMZONE_MAX;
	h->worker_max = MPDP_WORKER_MAX;

	pthread_mutexattr_init(&ma);
	pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&ma, PTHREAD_MUTEX_ROBUST);
	pthread_mutex_init(alloc_lock(shm), &ma);
	pthread_mutexattr_destroy(&ma);
}

int
mpdp_shm_create(const struct mpdp_shm_params *p, struct mpdp_shm **out, struct mpdp_errbuf *eb)
{
	const char *name = p->name ? p->name : MPDP_SHM_DEFAULT_NAME;
	uint64_t base = p->base ? p->base : (uint64_t)MPDP_CFG_DEFAULT_BASE;
	uint64_t size = p->size ? p->size : MPDP_SHM_DEFAULT_SIZE;
	uint64_t page_size = 4096;
	struct mpdp_shm *shm;
	int huge = 0, rc;

	if (!name_valid(name))
		return mpdp_err_set(eb, -EINVAL, "bad instance name '%s' (1-%d characters of "
				    "[A-Za-z0-9_.-])", name, MPDP_NAME_MAX - 1);
	if (size < MPDP_SHM_MIN_SIZE || size > (1ull << 46))
		return mpdp_err_set(eb, -EINVAL, "region size %" PRIu64 " is out of range "
				    "(%llu MiB to 64 TiB)", size, MPDP_SHM_MIN_SIZE >> 20);
	if (base == 0 || base % (1ull << 30) != 0 || base >= (1ull << 47) - size)
		return mpdp_err_set(eb, -EINVAL, "base address 0x%" PRIx64 " must be a multiple of "
				    "1 GiB below the top of user space", base);
	shm = calloc(1, sizeof(*shm));
	if (shm == NULL)
		return -ENOMEM;
	shm->is_primary = 1;
	shm->lock_fd = -1;
	snprintf(shm->name, sizeof(shm->name), "%s", name);
	rc = mpdp_shm_instance_dir(name, p->runtime_dir, shm->dir, sizeof(shm->dir));
	if (rc != 0) {
		mpdp_err_set(eb, rc, "runtime directory path too long");
		goto fail_free;
	}
	rc = make_dirs(shm->dir);
	if (rc != 0) {
		mpdp_err_set(eb, rc, "cannot create %s: %s", shm->dir, strerror(-rc));
		goto fail_free;
	}
	rc = take_instance_lock(shm, eb);
	if (rc != 0)
		goto fail_free;

	rc = -EAGAIN;
	if (!p->no_huge)
		rc = try_hugepages(shm, p, base, &size, &page_size, eb);
	if (rc == 0) {
		huge = 1;
	} else if (rc == -EAGAIN) {
		page_size = 4096;
		rc = use_tmpfs(shm, base, &size, eb);
	}
	if (rc != 0)
		goto fail_lock;
	shm->hdr = (struct mpdp_abi_header *)(uintptr_t)base;
	shm->size = size;
	header_init(shm, base, size, page_size, huge);

	if (strncmp(shm->seg_path, shm->dir, strlen(shm->dir)) != 0) {
		char link[PATH_MAX];

		snprintf(link, sizeof(link), "%s/seg0", shm->dir);
		if (symlink(shm->seg_path, link) != 0) {
			rc = mpdp_err_set(eb, -errno, "cannot link %s: %s", link, strerror(errno));
			goto fail_map;
		}
	} else {
		char seg0[PATH_MAX];

		snprintf(seg0, sizeof(seg0), "%s/seg0", shm->dir);
		if (rename(shm->seg_path, seg0) != 0) {
			rc = mpdp_err_set(eb, -errno, "cannot rename to %s: %s", seg0, strerror(errno));
			goto fail_map;
		}
		snprintf(shm->seg_path, sizeof(shm->seg_path), "%s", seg0);
	}
	atomic_store_explicit((_Atomic uint32_t *)&shm->hdr->ready, 1, memory_order_release); /* R1 */
	*out = shm;
	return 0;

fail_map:
	munmap(shm->hdr, size);
	unlink(shm->seg_path);
fail_lock:
	remove_instance_dir(shm);
fail_free:
	free(shm);
	return rc;
}

/* Is a primary holding the instance lock? Probe with a shared lock and let go at once. */
static int
primary_holds_lock(const char *dir)
{
	char path[PATH_MAX];
	int fd, held;

	snprintf(path, sizeof(path), "%s/lock", dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	held = flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
	close(fd);
	return held;
}

static int
check_header(const struct mpdp_abi_header *h, const char *name, struct mpdp_errbuf *eb)
{
	if (h->magic != MPDP_ABI_MAGIC)
		return mpdp_err_set(eb, -EPROTO, "instance '%s': bad magic 0x%08x (not an mpdp region)",
				    name, h->magic);
	/* Minor versions only add meaning to reserved bytes; the header size must match. */
	if (h->abi_major != MPDP_ABI_MAJOR || h->header_size != sizeof(struct mpdp_abi_header))
		return mpdp_err_set(eb, -EPROTO, "instance '%s' has ABI %u.%u (header %u bytes); this "
				    "program needs %u.%u (header %zu bytes): rebuild it against the "
				    "primary's libmpdp", name, h->abi_major, h->abi_minor,
				    h->header_size, MPDP_ABI_MAJOR, MPDP_ABI_MINOR,
				    sizeof(struct mpdp_abi_header));
	return 0;
}

int
mpdp_shm_attach(const char *name, const char *runtime_dir, struct mpdp_shm **out,
		struct mpdp_errbuf *eb)
{
	struct mpdp_abi_header peek;
	struct mpdp_shm *shm;
	char path[PATH_MAX];
	int fd, rc;

	if (name == NULL)
		name = MPDP_SHM_DEFAULT_NAME;
	if (!name_valid(name))
		return mpdp_err_set(eb, -EINVAL, "bad instance name '%s'", name);
	shm = calloc(1, sizeof(*shm));
	if (shm == NULL)
		return -ENOMEM;
	shm->lock_fd = -1;
	snprintf(shm->name, sizeof(shm->name), "%s", name);
	rc = mpdp_shm_instance_dir(name, runtime_dir, shm->dir, sizeof(shm->dir));
	if (rc != 0)
		goto fail_free;
	if (!primary_holds_lock(shm->dir)) {
		rc = mpdp_err_set(eb, -ENOENT, "instance '%s' is not running (no primary holds %s/lock)",
				  name, shm->dir);
		goto fail_free;
	}
	snprintf(path, sizeof(path), "%s/seg0", shm->dir);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		rc = mpdp_err_set(eb, errno == ENOENT ? -EAGAIN : -errno,
				  "instance '%s': cannot open %s: %s", name, path, strerror(errno));
		goto fail_free;
	}
	if (pread(fd, &peek, offsetof(struct mpdp_abi_header, alloc_lock), 0) !=
	    (ssize_t)offsetof(struct mpdp_abi_header, alloc_lock)) {
		rc = mpdp_err_set(eb, -EAGAIN, "instance '%s' is not ready yet", name);
		goto fail_close;
	}
	rc = check_header(&peek, name, eb);
	if (rc != 0)
		goto fail_close;
	if (!peek.ready) {
		rc = mpdp_err_set(eb, -EAGAIN, "instance '%s' is not ready yet", name);
		goto fail_close;
	}
	rc = map_fixed(fd, peek.base, peek.size, 0, eb, name);
	if (rc != 0)
		goto fail_close;
	close(fd);
	shm->hdr = (struct mpdp_abi_header *)(uintptr_t)peek.base;
	shm->size = peek.size;
	snprintf(shm->seg_path, sizeof(shm->seg_path), "%s", path);
	if (atomic_load_explicit((_Atomic uint32_t *)&shm->hdr->ready, memory_order_acquire) != 1) { /* A1 */
		rc = mpdp_err_set(eb, -EAGAIN, "instance '%s' is not ready yet", name);
		munmap(shm->hdr, shm->size);
		goto fail_free;
	}
	*out = shm;
	return 0;

fail_close:
	close(fd);
fail_free:
	free(shm);
	return rc;
}

void
mpdp_shm_close(struct mpdp_shm *shm)
{
	if (shm == NULL)
		return;
	if (shm->is_primary) {
		atomic_store_explicit((_Atomic uint32_t *)&shm->hdr->ready, 0, memory_order_release);
		remove_segment_files(shm->dir);
		unlink(shm->seg_path);
	}
	munmap(shm->hdr, shm->size);
	if (shm->is_primary)
		remove_instance_dir(shm);
	free(shm);
}

struct mpdp_abi_header *
mpdp_shm_header(const struct mpdp_shm *shm)
{
	return shm->hdr;
}

int
mpdp_shm_is_primary(const struct mpdp_shm *shm)
{
	return shm->is_primary;
}

const char *
mpdp_shm_runtime_dir(const struct mpdp_shm *shm)
{
	return shm->dir;
}

int
mpdp_shm_primary_alive(const struct mpdp_shm *shm)
{
	return mpdp_proc_alive(shm->hdr->primary_pid, shm->hdr->primary_start);
}

/*
 * Take the allocation lock. When its owner died, finish what it left: a
 * slot it was filling or clearing (state RESERVING) is cleared, so the table
 * holds only whole entries.
 */
static int
zone_lock(struct mpdp_shm *shm)
{
	int rc = pthread_mutex_lock(alloc_lock(shm));

	if (rc == EOWNERDEAD) {
		unsigned repaired = 0;

		for (unsigned i = 0; i < MPDP_MEMZONE_MAX; i++) {
			struct mpdp_abi_memzone *z = &shm->hdr->memzones[i];

			if (z->state == MPDP_MZ_STATE_RESERVING) {
				memset(z, 0, sizeof(*z));
				repaired++;
			}
		}
		pthread_mutex_consistent(alloc_lock(shm));
		MPDP_LOG(NOTICE, "instance '%s': allocation lock recovered from a dead owner "
			 "(%u half-written memzone entries cleared)", shm->name, repaired);
		return 0;
	}
	if (rc == 0)
		MPDP_FAULT_POINT(MPDP_FAULT_ALLOC_LOCK);
	return -rc;
}

static void
zone_unlock(struct mpdp_shm *shm)
{
	pthread_mutex_unlock(alloc_lock(shm));
}

static struct mpdp_abi_memzone *
zone_find_locked(struct mpdp_shm *shm, const char *name)
{
	for (unsigned i = 0; i < MPDP_MEMZONE_MAX; i++) {
		struct mpdp_abi_memzone *z = &shm->hdr->memzones[i];

		if (z->state == MPDP_MZ_STATE_USED && strncmp(z->name, name, MPDP_NAME_MAX) == 0)
			return z;
	}
	return NULL;
}

static int
cmp_offset(const void *a, const void *b)
{
	const struct mpdp_abi_memzone *x = *(const struct mpdp_abi_memzone *const *)a;
	const struct mpdp_abi_memzone *y = *(const struct mpdp_abi_memzone *const *)b;

	return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* First fit over the gaps between used zones, in address order. */
static int
zone_place_locked(struct mpdp_shm *shm, uint64_t len, uint64_t align, uint64_t *offset)
{
	_Static_assert(MPDP_MEMZONE_MAX <= 4096, "sort array on the stack");
	const struct mpdp_abi_memzone *used[MPDP_MEMZONE_MAX];
	unsigned n = 0;
	uint64_t cursor = align_up(shm->hdr->heap_offset, align);

	for (unsigned i = 0; i < MPDP_MEMZONE_MAX; i++) {
		if (shm->hdr->memzones[i].state == MPDP_MZ_STATE_USED)
			used[n++] = &shm->hdr->memzones[i];
	}
	qsort(used, n, sizeof(used[0]), cmp_offset);
	for (unsigned i = 0; i < n; i++) {
		if (cursor + len <= used[i]->offset)
			break;
		if (used[i]->offset + used[i]->len > cursor)
			cursor = align_up(used[i]->offset + used[i]->len, align);
	}
	if (cursor + len > shm->size)
		return -ENOMEM;
	*offset = cursor;
	return 0;
}

static int
bind_socket(void *addr, uint64_t len, int socket)
{
	unsigned long mask[16] = { 0 };

	if (socket < 0 || numa_available() < 0 || numa_max_node() == 0)
		return 0;
	if (socket > numa_max_node() || socket >= (int)(sizeof(mask) * 8))
		return -EINVAL;
	mask[socket / 64] = 1ul << (socket % 64);
	if (mbind(addr, len, MPOL_BIND, mask, sizeof(mask) * 8, MPOL_MF_MOVE) != 0)
		return -errno;
	return 0;
}

int
mpdp_shm_memzone_reserve(struct mpdp_shm *shm, const char *name, uint64_t len, uint64_t align,
			 int socket, unsigned kind, void **addr)
{
	struct mpdp_abi_memzone *slot = NULL;
	uint64_t offset;
	void *p;
	int rc;

	if (name == NULL || name[0] == '\0' || strlen(name) >= MPDP_NAME_MAX || len == 0 ||
	    kind >= MPDP_MZ_KIND_N_ || socket < -1)
		return -EINVAL;
	if (len > shm->size)
		return -ENOMEM;
	if (align == 0)
		align = MPDP_CACHE_LINE;
	if ((align & (align - 1)) != 0 || align > shm->size)
		return -EINVAL;
	if (socket >= 0 && numa_available() >= 0 && socket > numa_max_node())
		return -EINVAL;
	len = align_up(len, MPDP_CACHE_LINE);
	rc = zone_lock(shm);
	if (rc != 0)
		return rc;
	if (zone_find_locked(shm, name) != NULL) {
		rc = -EEXIST;
		goto out;
	}
	for (unsigned i = 0; i < MPDP_MEMZONE_MAX && slot == NULL; i++) {
		if (shm->hdr->memzones[i].state == MPDP_MZ_STATE_FREE)
			slot = &shm->hdr->memzones[i];
	}
	if (slot == NULL) {
		rc = -ENOSPC;
		goto out;
	}
	rc = zone_place_locked(shm, len, align, &offset);
	if (rc != 0)
		goto out;
	p = (char *)shm->hdr + offset;
	rc = bind_socket(p, len, socket);
	if (rc != 0)
		goto out;
	/* RESERVING until the entry is whole; a death before USED is cleared on recovery. */
	slot->state = MPDP_MZ_STATE_RESERVING;
	snprintf(slot->name, sizeof(slot->name), "%s", name);
	slot->offset = offset;
	slot->len = len;
	slot->kind = kind;
	slot->socket = socket;
	slot->align = align;
	slot->owner_pid = getpid();
	memset(p, 0, len);
	atomic_store_explicit((_Atomic uint32_t *)&slot->state, MPDP_MZ_STATE_USED, memory_order_release);
	*addr = p;
out:
	zone_unlock(shm);
	return rc;
}

static void
zone_info(struct mpdp_shm *shm, const struct mpdp_abi_memzone *z, struct mpdp_shm_memzone *out)
{
	memcpy(out->name, z->name, sizeof(out->name));
	out->name[MPDP_NAME_MAX - 1] = '\0';
	out->addr = (char *)shm->hdr + z->offset;
	out->len = z->len;
	out->kind = z->kind;
	out->socket = z->socket;
	out->owner_pid = z->owner_pid;
}

int
mpdp_shm_memzone_lookup(struct mpdp_shm *shm, const char *name, unsigned kind,
			struct mpdp_shm_memzone *out)
{
	const struct mpdp_abi_memzone *z;
	int rc;

	if (name == NULL)
		return -EINVAL;
	rc = zone_lock(shm);
	if (rc != 0)
		return rc;
	z = zone_find_locked(shm, name);
	if (z == NULL || (kind != MPDP_MZ_KIND_ANY && z->kind != kind))
		rc = -ENOENT;
	else
		zone_info(shm, z, out);
	zone_unlock(shm);
	return rc;
}

int
mpdp_shm_memzone_free(struct mpdp_shm *shm, const char *name)
{
	struct mpdp_abi_memzone *z;
	int rc;

	if (name == NULL)
		return -EINVAL;
	rc = zone_lock(shm);
	if (rc != 0)
		return rc;
	z = zone_find_locked(shm, name);
	if (z == NULL) {
		rc = -ENOENT;
	} else {
		z->state = MPDP_MZ_STATE_RESERVING;
		memset(z->name, 0, sizeof(z->name));
		z->offset = z->len = 0;
		atomic_store_explicit((_Atomic uint32_t *)&z->state, MPDP_MZ_STATE_FREE,
				      memory_order_release);
	}
	zone_unlock(shm);
	return rc;
}

int
mpdp_shm_memzone_walk(struct mpdp_shm *shm, unsigned kind,
		      int (*fn)(const struct mpdp_shm_memzone *mz, void *arg), void *arg)
{
	struct mpdp_shm_memzone *snap;
	unsigned n = 0;
	int rc;

	snap = calloc(MPDP_MEMZONE_MAX, sizeof(*snap));
	if (snap == NULL)
		return -ENOMEM;
	rc = zone_lock(shm);
	if (rc != 0)
		goto out;
	for (unsigned i = 0; i < MPDP_MEMZONE_MAX; i++) {
		const struct mpdp_abi_memzone *z = &shm->hdr->memzones[i];

		if (z->state == MPDP_MZ_STATE_USED && (kind == MPDP_MZ_KIND_ANY || z->kind == kind))
			zone_info(shm, z, &snap[n++]);
	}
	zone_unlock(shm);
	for (unsigned i = 0; i < n && rc == 0; i++)
		rc = fn(&snap[i], arg);
out:
	free(snap);
	return rc;
}

void
mpdp_shm_usage(struct mpdp_shm *shm, uint64_t *used, uint64_t *total)
{
	uint64_t u = 0;

	if (zone_lock(shm) == 0) {
		for (unsigned i = 0; i < MPDP_MEMZONE_MAX; i++) {
			if (shm->hdr->memzones[i].state == MPDP_MZ_STATE_USED)
				u += shm->hdr->memzones[i].len;
		}
		zone_unlock(shm);
	}
	*used = u;
	*total = shm->size - shm->hdr->heap_offset;
}

static const char *const kind_names[MPDP_MZ_KIND_N_] = { "raw", "ring", "pool", "stage" };

void
mpdp_shm_dump(FILE *f, struct mpdp_shm *shm)
{
	const struct mpdp_abi_header *h = shm->hdr;

	fprintf(f, "instance %s: ABI %u.%u, %" PRIu64 " MiB at 0x%" PRIx64 " on %s (page %" PRIu64
		" kB), primary pid %d, generation %016" PRIx64 "\n",
		h->name, h->abi_major, h->abi_minor, h->size >> 20, h->base,
		h->hugepages ? "hugetlbfs" : "tmpfs", h->page_size >> 10, h->primary_pid,
		h->generation);
	if (zone_lock(shm) != 0)
		return;
	for (unsigned i = 0; i < MPDP_MEMZONE_MAX; i++) {
		const struct mpdp_abi_memzone *z = &h->memzones[i];

		if (z->state != MPDP_MZ_STATE_USED)
			continue;
		fprintf(f, "  memzone %-31s %-4s offset 0x%09" PRIx64 " len %10" PRIu64 " socket %d\n",
			z->name, z->kind < MPDP_MZ_KIND_N_ ? kind_names[z->kind] : "?", z->offset,
			z->len, z->socket);
	}
	zone_unlock(shm);
}

int
mpdp_shm_virt2phys(const void *addr, uint64_t *phys)
{
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE), entry;
	uintptr_t va = (uintptr_t)addr;
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = pread(fd, &entry, sizeof(entry), (off_t)(va / page * sizeof(entry)));
	close(fd);
	if (n != sizeof(entry))
		return -EIO;
	if (!(entry & (1ull << 63)))
		return -ENOENT;
	entry &= (1ull << 55) - 1;
	if (entry == 0)
		return -EPERM;
	*phys = entry * page + va % page;
	return 0;
}

/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "mpdp_log.h"
#include "mpdp_mbuf.h"
#include "mpdp_parse.h"
#include "mpdp_pool.h"
#include "mpdp_ring.h"
#include "mpdp_worker.h"
#include "primary.h"
#include "supervise.h"

enum {
	OPT_NAME = 256, OPT_MEM, OPT_HUGE_DIR, OPT_NO_HUGE, OPT_BASE, OPT_POOL, OPT_RING,
	OPT_RUNTIME_DIR, OPT_LOG_LEVEL, OPT_VERSION, OPT_PORT, OPT_PATCH, OPT_UNTIL_EOF, OPT_LOCKSTEP,
	OPT_STATS_PERIOD, OPT_PORT_RING_SIZE, OPT_STAGE, OPT_HUNG_MS, OPT_KILL_HUNG,
};

static const struct option long_opts[] = {
	{ "name", required_argument, NULL, OPT_NAME },
	{ "mem", required_argument, NULL, OPT_MEM },
	{ "huge-dir", required_argument, NULL, OPT_HUGE_DIR },
	{ "no-huge", no_argument, NULL, OPT_NO_HUGE },
	{ "base-virtaddr", required_argument, NULL, OPT_BASE },
	{ "pool", required_argument, NULL, OPT_POOL },
	{ "ring", required_argument, NULL, OPT_RING },
	{ "runtime-dir", required_argument, NULL, OPT_RUNTIME_DIR },
	{ "log-level", required_argument, NULL, OPT_LOG_LEVEL },
	{ "port", required_argument, NULL, OPT_PORT },
	{ "patch", required_argument, NULL, OPT_PATCH },
	{ "until-eof", no_argument, NULL, OPT_UNTIL_EOF },
	{ "lockstep", no_argument, NULL, OPT_LOCKSTEP },
	{ "stats-period", required_argument, NULL, OPT_STATS_PERIOD },
	{ "port-ring-size", required_argument, NULL, OPT_PORT_RING_SIZE },
	{ "stage", required_argument, NULL, OPT_STAGE },
	{ "hung-ms", required_argument, NULL, OPT_HUNG_MS },
	{ "kill-hung", no_argument, NULL, OPT_KILL_HUNG },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

void
primary_usage(FILE *f, const char *prog)
{
	fprintf(f,
		"usage: %s [options]\n"
		"  --name NAME              instance name (default mpdp)\n"
		"  -l CORELIST              cores of the I/O workers, one worker each, e.g. 0-3,6\n"
		"  --mem SIZE               region size, e.g. 512M or 1G (default 256M)\n"
		"  --huge-dir DIR           hugetlbfs mount to use (default: found in /proc/mounts)\n"
		"  --no-huge                use tmpfs, not huge pages\n"
		"  --base-virtaddr ADDR     fixed address of the region (default %#lx)\n"
		"  --pool NAME,n=COUNT[,cache=N][,dataroom=BYTES]\n"
		"                           an mbuf pool (repeatable; default mbuf,n=16384,cache=256,dataroom=2048)\n"
		"  --ring NAME,size=N[,sp][,sc]\n"
		"                           a ring (repeatable; multi-producer/consumer unless sp/sc)\n"
		"  --port NAME,driver=DRV[,key=value]...\n"
		"                           a port (repeatable); drivers: null, ring, pcap, af_packet, tap;\n"
		"                           lcore=N picks the I/O worker; see doc/ports.md for each driver's keys\n"
		"  --patch SRC:DST          send what port SRC receives straight to port DST (repeatable)\n"
		"  --port-ring-size N       slots of each port's NAME.rx and NAME.tx rings (default 1024)\n"
		"  --until-eof              exit 0 once every rx_pcap file is read and every ring drained\n"
		"  --lockstep               one packet in flight: read the next only when every packet\n"
		"                           before it has left (sent or dropped); for golden tests\n"
		"  --stats-period N         print the port counters every N seconds\n"
		"  --stage 'ID=PROGRAM [ARGS...]'\n"
		"                           launch a stage once ready, adding --name, --runtime-dir and\n"
		"                           --stage ID, and restart it when it fails (repeatable; a PROGRAM\n"
		"                           without '/' is found beside mpdp-primary, in the build tree,\n"
		"                           then in PATH; see doc/supervision.md)\n"
		"  --hung-ms N              a running stage whose heartbeat is N ms old is hung (default %d)\n"
		"  --kill-hung              SIGKILL a hung stage (a supervised one is then restarted)\n"
		"  --runtime-dir DIR        parent of the instance directory (default /run/mpdp as root)\n"
		"  --log-level [COMP:]LEVEL err, warn, notice, info or debug\n"
		"  -h, --help               this text\n"
		"  --version                print the version\n",
		prog, (unsigned long)MPDP_CFG_DEFAULT_BASE, SUPERVISE_HUNG_MS);
}

/* Put "OPT: " in front of a detail another parser wrote. */
static int
err_prefix(struct mpdp_errbuf *eb, int rc, const char *opt)
{
	char detail[sizeof(eb->msg)];

	snprintf(detail, sizeof(detail), "%s", eb->msg);
	return mpdp_err_set(eb, rc, "%s %s", opt, detail);
}

static int
name_fits(const char *what, const char *name, struct mpdp_errbuf *eb)
{
	if (name[0] == '\0' || strlen(name) >= MPDP_NAME_MAX)
		return mpdp_err_set(eb, -EINVAL, "%s '%s': the name must be 1 to %d characters",
				    what, name, MPDP_NAME_MAX - 1);
	return 0;
}

static int
kv_u64(struct mpdp_kvargs *kv, const char *opt, const char *key, uint64_t min, uint64_t max,
       uint64_t *out, int required, struct mpdp_errbuf *eb)
{
	int i = mpdp_kvargs_get(kv, key);

	if (i < 0) {
		if (required)
			return mpdp_err_set(eb, -EINVAL, "%s %s: missing %s=", opt, kv->name, key);
		return 0;
	}
	if (kv->kv[i].value == NULL || mpdp_parse_u64(kv->kv[i].value, min, max, out) != 0)
		return mpdp_err_set(eb, -EINVAL, "%s %s: %s=%s is not a number from %" PRIu64 " to %" PRIu64,
				    opt, kv->name, key, kv->kv[i].value ? kv->kv[i].value : "",
				    min, max);
	return 0;
}

static int
parse_pool(const char *arg, struct primary_cfg *cfg, struct mpdp_errbuf *eb)
{
	struct primary_pool_cfg *pc = &cfg->pools[cfg->n_pools];
	uint64_t n = 0, cache = 256, dataroom = MPDP_MBUF_DATAROOM;
	struct mpdp_kvargs kv;
	int rc;

	if (cfg->n_pools == PRIMARY_OBJS_MAX)
		return mpdp_err_set(eb, -EINVAL, "--pool: at most %d pools", PRIMARY_OBJS_MAX);
	if (mpdp_kvargs_parse(arg, &kv, eb) != 0)
		return err_prefix(eb, -EINVAL, "--pool");
	rc = name_fits("--pool", kv.name, eb);
	if (rc == 0)
		rc = kv_u64(&kv, "--pool", "n", 1, MPDP_RING_SIZE_MAX, &n, 1, eb);
	if (rc == 0)
		rc = kv_u64(&kv, "--pool", "cache", 0, MPDP_POOL_CACHE_MAX, &cache, 0, eb);
	if (rc == 0)
		rc = kv_u64(&kv, "--pool", "dataroom", 1, UINT16_MAX - MPDP_MBUF_HEADROOM, &dataroom, 0, eb);
	if (rc == 0 && mpdp_kvargs_check_unused(&kv, eb) != 0)
		rc = err_prefix(eb, -EINVAL, "--pool");
	if (rc != 0)
		return rc;
	/* A cache that can hold more than the pool would starve the other workers. */
	if (cache * 3 / 2 > n)
		return mpdp_err_set(eb, -EINVAL, "--pool %s: cache=%" PRIu64 " is too large for n=%" PRIu64
				    " (at most n/1.5 = %" PRIu64 ")", kv.name, cache, n, n * 2 / 3);
	snprintf(pc->name, sizeof(pc->name), "%s", kv.name);
	pc->n = (unsigned)n;
	pc->cache = (unsigned)cache;
	pc->dataroom = (unsigned)dataroom;
	cfg->n_pools++;
	return 0;
}

static int
parse_ring(const char *arg, struct primary_cfg *cfg, struct mpdp_errbuf *eb)
{
	struct primary_ring_cfg *rc_ = &cfg->rings[cfg->n_rings];
	struct mpdp_kvargs kv;
	uint64_t size = 0;
	int rc;

	if (cfg->n_rings == PRIMARY_OBJS_MAX)
		return mpdp_err_set(eb, -EINVAL, "--ring: at most %d rings", PRIMARY_OBJS_MAX);
	if (mpdp_kvargs_parse(arg, &kv, eb) != 0)
		return err_prefix(eb, -EINVAL, "--ring");
	rc = name_fits("--ring", kv.name, eb);
	if (rc == 0)
		rc = kv_u64(&kv, "--ring", "size", 1, MPDP_RING_SIZE_MAX, &size, 1, eb);
	if (rc != 0)
		return -EINVAL;
	if (mpdp_ring_memsize((unsigned)size) == 0)
		return mpdp_err_set(eb, -EINVAL, "--ring %s: size=%" PRIu64 " is not a power of two",
				    kv.name, size);
	rc_->flags = 0;
	for (const char *flag = "sp"; flag != NULL; flag = strcmp(flag, "sp") == 0 ? "sc" : NULL) {
		int i = mpdp_kvargs_get(&kv, flag);

		if (i < 0)
			continue;
		if (kv.kv[i].value != NULL)
			return mpdp_err_set(eb, -EINVAL, "--ring %s: '%s' takes no value", kv.name, flag);
		rc_->flags |= strcmp(flag, "sp") == 0 ? MPDP_RING_F_SP_ENQ : MPDP_RING_F_SC_DEQ;
	}
	if (mpdp_kvargs_check_unused(&kv, eb) != 0)
		return err_prefix(eb, -EINVAL, "--ring");
	snprintf(rc_->name, sizeof(rc_->name), "%s", kv.name);
	rc_->size = (unsigned)size;
	cfg->n_rings++;
	return 0;
}

/* --stage ID=PROGRAM ARGS...: checked now (the program must exist), run once the instance is ready. */
static int
parse_stage(const char *arg, struct primary_cfg *cfg, struct mpdp_errbuf *eb)
{
	struct supervise_spec spec;
	size_t id_len = strcspn(arg, "=");
	int rc;

	if (cfg->n_stages == PRIMARY_OBJS_MAX)
		return mpdp_err_set(eb, -EINVAL, "--stage: at most %d stages", PRIMARY_OBJS_MAX);
	rc = supervise_spec_parse(arg, &spec, eb);
	if (rc != 0)
		return -EINVAL;
	supervise_spec_free(&spec);
	for (unsigned i = 0; i < cfg->n_stages; i++) {
		if (strncmp(cfg->stages[i], arg, id_len) == 0 && cfg->stages[i][id_len] == '=')
			return mpdp_err_set(eb, -EINVAL, "--stage %.*s: that stage ID is given twice",
					    (int)id_len, arg);
	}
	cfg->stages[cfg->n_stages++] = arg;
	return 0;
}

static int
parse_patch(const char *arg, struct primary_cfg *cfg, struct mpdp_errbuf *eb)
{
	struct primary_patch_cfg *pc = &cfg->patches[cfg->n_patches];
	const char *colon = strchr(arg, ':');

	if (cfg->n_patches == MPDP_PORT_MAX)
		return mpdp_err_set(eb, -EINVAL, "--patch: at most %d patches", MPDP_PORT_MAX);
	if (colon == NULL || colon == arg || colon[1] == '\0' || strchr(colon + 1, ':') != NULL)
		return mpdp_err_set(eb, -EINVAL, "--patch '%s': expected SRC:DST, two port names", arg);
	if ((size_t)(colon - arg) >= MPDP_NAME_MAX || strlen(colon + 1) >= MPDP_NAME_MAX)
		return mpdp_err_set(eb, -EINVAL, "--patch '%s': a port name is too long", arg);
	memcpy(pc->src, arg, (size_t)(colon - arg));
	pc->src[colon - arg] = '\0';
	snprintf(pc->dst, sizeof(pc->dst), "%s", colon + 1);
	if (strcmp(pc->src, pc->dst) == 0)
		return mpdp_err_set(eb, -EINVAL, "--patch '%s': a port cannot be patched to itself", arg);
	for (unsigned i = 0; i < cfg->n_patches; i++) {
		if (strcmp(cfg->patches[i].src, pc->src) == 0)
			return mpdp_err_set(eb, -EINVAL, "--patch '%s': port %s is already patched to %s",
					    arg, pc->src, cfg->patches[i].dst);
	}
	cfg->n_patches++;
	return 0;
}

int
primary_parse_args(int argc, char **argv, struct primary_cfg *cfg, struct mpdp_errbuf *eb)
{
	uint64_t v;
	int opt, rc;

	memset(cfg, 0, sizeof(*cfg));
	snprintf(cfg->name, sizeof(cfg->name), "%s", MPDP_SHM_DEFAULT_NAME);
	opterr = 0; /* we word the errors ourselves */
	optind = 1;
	while ((opt = getopt_long(argc, argv, ":l:h", long_opts, NULL)) != -1) {
		rc = 0;
		switch (opt) {
		case OPT_NAME:
			if (strlen(optarg) >= MPDP_NAME_MAX || optarg[0] == '\0')
				return mpdp_err_set(eb, -EINVAL, "--name '%s': 1 to %d characters",
						    optarg, MPDP_NAME_MAX - 1);
			snprintf(cfg->name, sizeof(cfg->name), "%s", optarg);
			break;
		case 'l':
			rc = mpdp_corelist_parse(optarg, &cfg->cores, eb);
			if (rc != 0)
				return err_prefix(eb, rc, "-l");
			cfg->cores_given = 1;
			break;
		case OPT_MEM:
			if (mpdp_parse_size(optarg, &v) != 0 || v < MPDP_SHM_MIN_SIZE)
				return mpdp_err_set(eb, -EINVAL, "--mem '%s': expected a size of at least "
						    "4M, such as 512M or 2G", optarg);
			cfg->shm.size = v;
			break;
		case OPT_HUGE_DIR:
			cfg->shm.huge_dir = optarg;
			break;
		case OPT_NO_HUGE:
			cfg->shm.no_huge = 1;
			break;
		case OPT_BASE:
			if (mpdp_parse_u64(optarg, 1, (1ull << 47) - 1, &v) != 0 || v % (1ull << 30) != 0)
				return mpdp_err_set(eb, -EINVAL, "--base-virtaddr '%s': expected an address "
						    "that is a multiple of 1 GiB below 0x800000000000, "
						    "such as 0x300000000000", optarg);
			cfg->shm.base = v;
			break;
		case OPT_POOL:
			rc = parse_pool(optarg, cfg, eb);
			break;
		case OPT_RING:
			rc = parse_ring(optarg, cfg, eb);
			break;
		case OPT_RUNTIME_DIR:
			if (optarg[0] != '/')
				return mpdp_err_set(eb, -EINVAL, "--runtime-dir '%s': expected an absolute path", optarg);
			cfg->shm.runtime_dir = optarg;
			break;
		case OPT_LOG_LEVEL:
			rc = mpdp_log_set_from_arg(optarg, eb);
			break;
		case OPT_PORT:
			if (cfg->n_ports == MPDP_PORT_MAX)
				return mpdp_err_set(eb, -EINVAL, "--port: at most %d ports", MPDP_PORT_MAX);
			cfg->ports[cfg->n_ports++] = optarg;
			break;
		case OPT_PATCH:
			rc = parse_patch(optarg, cfg, eb);
			break;
		case OPT_UNTIL_EOF:
			cfg->until_eof = 1;
			break;
		case OPT_LOCKSTEP:
			cfg->lockstep = 1;
			break;
		case OPT_STATS_PERIOD:
			if (mpdp_parse_u64(optarg, 1, 86400, &v) != 0)
				return mpdp_err_set(eb, -EINVAL, "--stats-period '%s': expected seconds, 1 to 86400", optarg);
			cfg->stats_period = (unsigned)v;
			break;
		case OPT_PORT_RING_SIZE:
			if (mpdp_parse_u64(optarg, 2, MPDP_RING_SIZE_MAX, &v) != 0 ||
			    mpdp_ring_memsize((unsigned)v) == 0)
				return mpdp_err_set(eb, -EINVAL, "--port-ring-size '%s': expected a power of two "
						    "from 2 to %u", optarg, MPDP_RING_SIZE_MAX);
			cfg->port_ring_size = (unsigned)v;
			break;
		case OPT_STAGE:
			rc = parse_stage(optarg, cfg, eb);
			break;
		case OPT_HUNG_MS:
			if (mpdp_parse_u64(optarg, 100, 3600000, &v) != 0)
				return mpdp_err_set(eb, -EINVAL, "--hung-ms '%s': expected milliseconds, 100 to "
						    "3600000", optarg);
			cfg->hung_ms = (unsigned)v;
			break;
		case OPT_KILL_HUNG:
			cfg->kill_hung = 1;
			break;
		case 'h':
			primary_usage(stdout, argv[0]);
			return PRIMARY_EXIT_OK;
		case OPT_VERSION:
			printf("mpdp-primary %s (ABI %d.%d)\n", MPDP_CFG_VERSION, MPDP_ABI_MAJOR, MPDP_ABI_MINOR);
			return PRIMARY_EXIT_OK;
		case ':':
			return mpdp_err_set(eb, -EINVAL, "option '%s' needs a value", argv[optind - 1]);
		default:
			return mpdp_err_set(eb, -EINVAL, "unknown option '%s'", argv[optind - 1]);
		}
		if (rc != 0)
			return rc;
	}
	if (optind < argc)
		return mpdp_err_set(eb, -EINVAL, "unexpected argument '%s'", argv[optind]);
	if (cfg->shm.no_huge && cfg->shm.huge_dir != NULL)
		return mpdp_err_set(eb, -EINVAL, "--no-huge and --huge-dir exclude each other");
	cfg->shm.name = cfg->name;
	if (cfg->port_ring_size == 0)
		cfg->port_ring_size = 1024;
	if (cfg->lockstep && cfg->cores_given && CPU_COUNT(&cfg->cores) > 1)
		return mpdp_err_set(eb, -EINVAL, "--lockstep needs one I/O worker: give -l one core");
	if (cfg->until_eof && cfg->n_ports == 0)
		return mpdp_err_set(eb, -EINVAL, "--until-eof needs ports to read from");
	if (cfg->n_pools == 0) {
		struct primary_pool_cfg *pc = &cfg->pools[cfg->n_pools++];

		snprintf(pc->name, sizeof(pc->name), "mbuf");
		pc->n = 16384;
		pc->cache = 256;
		pc->dataroom = MPDP_MBUF_DATAROOM;
	}
	return PRIMARY_RUN;
}

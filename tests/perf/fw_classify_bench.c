/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fw-classify-bench: rule files of a realistic shape, and how fast the
 * firewall classifier is on them.
 *
 *   fw-classify-bench gen N SEED     print N rules (ending with "default deny")
 *   fw-classify-bench run RULEFILE   build time, memory, and Mlookups/s
 *                                    (median of 5 runs over a fixed set of
 *                                    65,536 keys), one at a time and in
 *                                    bursts of 32, beside a linear scan
 *   fw-classify-bench gen-acl N SEED OUTDIR
 *                                    the same IPv4 5-tuple rules twice, in
 *                                    our grammar (rules.fw) and in DPDK
 *                                    dpdk-test-acl's ClassBench format
 *                                    (rules.acl, with acl2fw.map: the rule
 *                                    of rules.fw each line comes from), and
 *                                    the same 65,536 keys twice (trace.acl
 *                                    for dpdk-test-acl, trace.keys for us)
 *   fw-classify-bench run-trace RULEFILE TRACEFILE [--out FILE]
 *                                    build time, memory and Mlookups/s over
 *                                    exactly the keys of TRACEFILE (a
 *                                    trace.keys); --out writes the rule each
 *                                    key matched (index from 0, -1 for none)
 *
 * gen-acl and run-trace exist for tests/perf/compare-acl.sh, which runs
 * DPDK's rte_acl and us on the same rules and packets.
 *
 * The rules: "allow established" first, then a mix like an organisation's
 * policy: 55% tcp, 25% udp, 5% tcp,udp, icmp/icmp6 and protocol-less
 * rules; sources any half the time, destinations mostly hosts and subnets
 * (/8 to /32, clustered in 64 sites, 10% IPv6, some lists), destination
 * ports mostly well-known (single, lists, some high ranges), a few source
 * ports, "new", "flags S/SA" and icmp-type rules. The keys: three in four
 * fall inside a random rule's prefixes, protocol and ports (so lookups
 * reach deep rules), the rest are random; one in four is established.
 * Every key's result is checked against a scan before anything is timed.
 *
 * Not a test: the figures depend on the machine.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fw_classify.h"
#include "fw_rules.h"
#include "mpdp_err.h"

#define N_KEYS 65536u
#define N_RUNS 5
#define BURST 32u

static uint64_t
rnd(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1Dull;
}

static unsigned
pick(uint64_t *s, unsigned n)
{
	return (unsigned)(rnd(s) % n);
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- gen ------------------------------------------------------------- */

#define N_SITES 64

/* An organisation's address plan: a few /16 sites, hosts and subnets in them. */
struct plan {
	uint8_t site[N_SITES][2];
};

static void
gen_v4(uint64_t *s, const struct plan *pl, char *out, size_t cap)
{
	static const unsigned lens[] = { 8, 12, 16, 16, 20, 22, 24, 24, 24, 24, 24, 26, 28, 29,
					 30, 32, 32, 32, 32, 32, 32 };
	unsigned len = lens[pick(s, sizeof(lens) / sizeof(lens[0]))];
	const uint8_t *site = pl->site[pick(s, N_SITES)];
	uint32_t a = (uint32_t)site[0] << 24 | (uint32_t)site[1] << 16 |
		     (uint32_t)pick(s, 64) << 8 | pick(s, 256);

	if (len < 32)
		a &= UINT32_MAX << (32 - len);
	if (len == 32)
		snprintf(out, cap, "%u.%u.%u.%u", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255);
	else
		snprintf(out, cap, "%u.%u.%u.%u/%u", a >> 24, (a >> 16) & 255, (a >> 8) & 255,
			 a & 255, len);
}

static void
gen_v6(uint64_t *s, char *out, size_t cap)
{
	static const unsigned lens[] = { 32, 48, 56, 64, 64, 64, 128, 128 };
	unsigned len = lens[pick(s, sizeof(lens) / sizeof(lens[0]))];
	uint8_t a[16] = { 0x20, 0x01, 0x0d, 0xb8 };
	char txt[INET6_ADDRSTRLEN];

	a[4] = (uint8_t)pick(s, 16);
	a[5] = (uint8_t)pick(s, 256);
	for (int i = 6; i < 16; i++)
		a[i] = (uint8_t)rnd(s);
	for (unsigned b = len; b < 128; b++)
		a[b / 8] &= (uint8_t)~(0x80u >> (b % 8));
	inet_ntop(AF_INET6, a, txt, sizeof(txt));
	if (len == 128)
		snprintf(out, cap, "%s", txt);
	else
		snprintf(out, cap, "%s/%u", txt, len);
}

static void
gen_addrs(uint64_t *s, const struct plan *pl, int v6, char *out, size_t cap)
{
	unsigned n = pick(s, 10) == 0 ? 2 + pick(s, 3) : 1;
	size_t o = 0;
	char a[64];

	for (unsigned i = 0; i < n; i++) {
		if (v6)
			gen_v6(s, a, sizeof(a));
		else
			gen_v4(s, pl, a, sizeof(a));
		o += (size_t)snprintf(out + o, cap - o, "%s%s", i ? "," : "", a);
	}
}

static void
gen_ports(uint64_t *s, char *out, size_t cap)
{
	static const unsigned known[] = { 22, 25, 53, 80, 110, 123, 143, 443, 465, 587, 993, 995,
					  1194, 3306, 3389, 5432, 6379, 8080, 8443, 9090 };
	unsigned kind = pick(s, 10);

	if (kind < 7) {
		snprintf(out, cap, "%u", known[pick(s, 20)]);
	} else if (kind < 9) {
		unsigned n = 2 + pick(s, 4);
		size_t o = 0;

		for (unsigned i = 0; i < n; i++)
			o += (size_t)snprintf(out + o, cap - o, "%s%u", i ? "," : "", known[pick(s, 20)]);
	} else {
		unsigned lo = 1024 + pick(s, 60000);

		snprintf(out, cap, "%u-%u", lo, lo + pick(s, 2000) > 65535 ? 65535 : lo + pick(s, 2000));
	}
}

static int
gen(unsigned n, uint64_t seed)
{
	static const char *const icmp_types[] = { "echo-request", "echo-reply", "dest-unreach",
						  "time-exceeded" };
	struct plan pl;
	uint64_t s = seed * 0x9e3779b97f4a7c15ull + 1;
	char src[512], dst[512], ports[128];

	for (int i = 0; i < N_SITES; i++) {
		pl.site[i][0] = (uint8_t)(i < 16 ? 10 : i < 24 ? 172 : 1 + pick(&s, 223));
		pl.site[i][1] = (uint8_t)(i < 16 ? pick(&s, 256) : i < 24 ? 16 + pick(&s, 16) : pick(&s, 256));
	}
	printf("# %u rules, seed %llu (fw-classify-bench gen)\n", n, (unsigned long long)seed);
	for (unsigned i = 0; i < n; i++) {
		unsigned kind = pick(&s, 100);
		const char *action = kind < 60 ? "allow" : kind < 95 ? "deny" : "to mon";
		unsigned pk = pick(&s, 100);
		int v6 = pick(&s, 10) == 0;
		int l4 = pk < 85;

		if (i == 0 && n > 1) {
			printf("allow established\n");
			continue;
		}
		if (pick(&s, 200) == 0) {
			printf("allow %s icmp-type %s\n", v6 ? "icmp6" : "icmp", icmp_types[pick(&s, 4)]);
			continue;
		}
		printf("%s", action);
		if (pk < 55)
			printf(" tcp");
		else if (pk < 80)
			printf(" udp");
		else if (pk < 85)
			printf(" tcp,udp");
		else if (pk < 92)
			printf(v6 ? " icmp6" : " icmp");
		/* sources: often any; destinations: mostly a host or subnet with a port */
		if (pick(&s, 10) < 5 || (l4 && pick(&s, 20) == 0)) {
			if (pick(&s, 10) < 9)
				gen_addrs(&s, &pl, v6, src, sizeof(src));
			else
				snprintf(src, sizeof(src), "any");
			printf(" from %s", src);
			if (l4 && pick(&s, 20) == 0) {
				gen_ports(&s, ports, sizeof(ports));
				printf(" port %s", ports);
			}
		}
		if (pick(&s, 10) < 8 || pk >= 85) {
			gen_addrs(&s, &pl, v6, dst, sizeof(dst));
			printf(" to %s", dst);
			if (l4 && pick(&s, 4) < 3) {
				gen_ports(&s, ports, sizeof(ports));
				printf(" port %s", ports);
			}
		} else if (l4) {
			gen_ports(&s, ports, sizeof(ports));
			printf(" to any port %s", ports);
		}
		if (pick(&s, 50) == 0)
			printf(" new");
		if (pk < 55 && pick(&s, 40) == 0)
			printf(" flags S/SA");
		printf("\n");
	}
	printf("default deny\n");
	return 0;
}

/* ---- run ------------------------------------------------------------- */

static const char *const outputs[] = { "drop", "out", "mon" };

static int
resolve(void *arg, const char *name, uint16_t *port, unsigned *input)
{
	(void)arg;
	*port = FW_PORT_NONE;
	*input = FW_INPUT_NONE;
	if (strncmp(name, "eth", 3) == 0 && name[3] >= '0' && name[3] <= '3' && !name[4]) {
		*port = (uint16_t)(name[3] - '0');
		return 0;
	}
	if (strncmp(name, "ring", 4) == 0 && name[4] >= '0' && name[4] <= '3' && !name[5]) {
		*input = (unsigned)(name[4] - '0');
		return 0;
	}
	return -ENOENT;
}

/* A key inside a rule's fields (so lookups reach deep rules), or a random one. */
static void
make_key(uint64_t *s, const struct fw_ruleset *rs, struct fw_key *k)
{
	const struct fw_rule *r = rs->n ? &rs->rules[pick(s, rs->n)] : NULL;
	int aimed = r != NULL && pick(s, 4) != 0;

	memset(k, 0, sizeof(*k));
	k->family = pick(s, 10) == 0 ? 6 : 4;
	if (aimed && r->n_src)
		k->family = r->src[0].family;
	else if (aimed && r->n_dst)
		k->family = r->dst[0].family;
	for (int dir = 0; dir < 2; dir++) {
		uint8_t *a = dir ? k->dst : k->src;
		const struct fw_prefix *pf = aimed ? (dir ? r->dst : r->src) : NULL;
		uint32_t n = aimed ? (dir ? r->n_dst : r->n_src) : 0;
		unsigned bytes = k->family == 4 ? 4 : 16;

		for (unsigned i = 0; i < bytes; i++)
			a[i] = (uint8_t)rnd(s);
		if (k->family == 4 && pick(s, 2))
			a[0] = 10;
		for (uint32_t i = 0; i < n; i++) {
			if (pf[i].family != k->family)
				continue;
			for (unsigned b = 0; b < pf[i].len; b++) {
				uint8_t m = (uint8_t)(0x80u >> (b % 8));

				a[b / 8] = (uint8_t)((a[b / 8] & ~m) | (pf[i].addr[b / 8] & m));
			}
			break;
		}
	}
	k->proto = (uint8_t[]){ 6, 6, 6, 17, 17, 1 }[pick(s, 6)];
	if (k->family == 6 && k->proto == 1)
		k->proto = 58;
	if (aimed && (r->has & FW_HAS_PROTO)) {
		for (unsigned p = 0; p < 256; p++)
			if ((r->proto[k->family == 6][p / 64] >> (p % 64)) & 1) {
				k->proto = (uint8_t)p;
				break;
			}
	}
	k->sport = (uint16_t)(1024 + pick(s, 64512));
	k->dport = (uint16_t)(aimed && r->n_dport ? r->dport[0].lo : 1 + pick(s, 1024));
	if (aimed && r->n_sport)
		k->sport = r->sport[0].lo;
	k->tcp_flags = (uint8_t)(pick(s, 2) ? FW_TCP_ACK : FW_TCP_SYN);
	k->icmp_type = (uint8_t)(k->family == 4 ? 8 : 128);
	k->port = (uint16_t)pick(s, 2);
	k->input = FW_INPUT_NONE;
	k->ct = (uint8_t)(pick(s, 4) == 0);
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Median Mlookups/s over N_RUNS runs; mode 0 one at a time, 1 burst, 2 linear scan. */
static double
measure(const struct fw_classifier *c, const struct fw_ruleset *rs, const struct fw_key *keys,
	unsigned n_keys, int mode)
{
	double rates[N_RUNS];
	uint32_t out[BURST];

	for (int run = 0; run < N_RUNS; run++) {
		uint64_t acc = 0, done = 0;
		double t0 = now_s(), t;

		do {
			if (mode == 0) {
				for (unsigned i = 0; i < n_keys; i++)
					acc += fw_classify(c, &keys[i]);
			} else if (mode == 1) {
				for (unsigned i = 0; i < n_keys; i += BURST) {
					fw_classify_burst(c, keys + i, BURST, out);
					acc += out[0] + out[BURST - 1];
				}
			} else {
				for (unsigned i = 0; i < n_keys; i++) {
					unsigned j = 0;

					while (j < rs->n && !fw_rule_match(&rs->rules[j], &keys[i]))
						j++;
					acc += j;
				}
			}
			done += n_keys;
			t = now_s() - t0;
		} while (t < 0.2);
		/* the results are used, so the loops cannot be optimised away */
		__asm__ volatile("" : : "r"(acc));
		rates[run] = (double)done / t / 1e6;
	}
	qsort(rates, N_RUNS, sizeof(rates[0]), cmp_double);
	return rates[N_RUNS / 2];
}

static int
run(const char *path)
{
	const struct fw_names names = { outputs, 3, resolve, NULL };
	struct fw_ruleset rs;
	struct fw_classifier *c = NULL;
	struct mpdp_errbuf eb = { "" };
	struct fw_key *keys;
	uint64_t s = 12345;
	unsigned matched = 0, scan_keys;
	double t0, t_build, r_one, r_burst, r_scan;
	int rc;

	t0 = now_s();
	rc = fw_rules_load(path, &names, &rs, &eb);
	if (rc < 0) {
		fprintf(stderr, "fw-classify-bench: %s\n", eb.msg);
		return 1;
	}
	printf("rules:            %u (parsed in %.1f ms)\n", rs.n, (now_s() - t0) * 1e3);
	t0 = now_s();
	rc = fw_classifier_build(&rs, &c, &eb);
	t_build = now_s() - t0;
	if (rc < 0) {
		fprintf(stderr, "fw-classify-bench: %s\n", eb.msg);
		fw_ruleset_free(&rs);
		return 1;
	}
	keys = malloc(N_KEYS * sizeof(*keys));
	if (keys == NULL) {
		fprintf(stderr, "fw-classify-bench: out of memory\n");
		return 1;
	}
	for (unsigned i = 0; i < N_KEYS; i++)
		make_key(&s, &rs, &keys[i]);
	/* the classifier must agree with a scan before its speed means anything */
	for (unsigned i = 0; i < N_KEYS; i++) {
		uint32_t want = FW_NO_MATCH, got = fw_classify(c, &keys[i]);

		for (unsigned j = 0; j < rs.n; j++)
			if (fw_rule_match(&rs.rules[j], &keys[i])) {
				want = j;
				break;
			}
		if (got != want) {
			fprintf(stderr, "fw-classify-bench: key %u: classifier %u, scan %u\n", i, got,
				want);
			return 1;
		}
		matched += want != FW_NO_MATCH;
	}
	printf("build:            %.1f ms\n", t_build * 1e3);
	printf("memory:           %.2f MiB\n", (double)fw_classifier_memory(c) / (1 << 20));
	printf("keys:             %u, %.1f%% match a rule\n", N_KEYS, 100.0 * matched / N_KEYS);
	r_one = measure(c, &rs, keys, N_KEYS, 0);
	r_burst = measure(c, &rs, keys, N_KEYS, 1);
	scan_keys = rs.n > 1000 ? 1024 : N_KEYS;
	r_scan = measure(c, &rs, keys, scan_keys, 2);
	printf("fw_classify:      %.2f Mlookups/s (%.0f ns each)\n", r_one, 1e3 / r_one);
	printf("fw_classify_burst:%.2f Mlookups/s (%.0f ns each)\n", r_burst, 1e3 / r_burst);
	printf("linear scan:      %.3f Mlookups/s (fw_rule_match in order)\n", r_scan);
	free(keys);
	fw_classifier_free(c);
	fw_ruleset_free(&rs);
	return 0;
}

/* ---- gen-acl and run-trace: the same rules and keys for DPDK's test-acl -- */

/*
 * Rules of gen's shape cut down to what both classifiers express: IPv4
 * source and destination prefixes, port lists and ranges, and tcp, udp,
 * tcp+udp, icmp or no protocol. No IPv6, no "established"/"new", no TCP
 * flags, no ICMP types.
 */
static void
gen_acl_rules(unsigned n, uint64_t seed, FILE *f)
{
	struct plan pl;
	uint64_t s = seed * 0x9e3779b97f4a7c15ull + 1;
	char src[512], dst[512], ports[128];

	for (int i = 0; i < N_SITES; i++) {
		pl.site[i][0] = (uint8_t)(i < 16 ? 10 : i < 24 ? 172 : 1 + pick(&s, 223));
		pl.site[i][1] = (uint8_t)(i < 16 ? pick(&s, 256) : i < 24 ? 16 + pick(&s, 16) : pick(&s, 256));
	}
	fprintf(f, "# %u rules, seed %llu (fw-classify-bench gen-acl)\n", n,
		(unsigned long long)seed);
	for (unsigned i = 0; i < n; i++) {
		unsigned kind = pick(&s, 100);
		const char *action = kind < 60 ? "allow" : kind < 95 ? "deny" : "to mon";
		unsigned pk = pick(&s, 100);
		int l4 = pk < 85;

		fprintf(f, "%s", action);
		if (pk < 55)
			fprintf(f, " tcp");
		else if (pk < 80)
			fprintf(f, " udp");
		else if (pk < 85)
			fprintf(f, " tcp,udp");
		else if (pk < 92)
			fprintf(f, " icmp");
		if (pick(&s, 10) < 5 || (l4 && pick(&s, 20) == 0)) {
			if (pick(&s, 10) < 9)
				gen_addrs(&s, &pl, 0, src, sizeof(src));
			else
				snprintf(src, sizeof(src), "any");
			fprintf(f, " from %s", src);
			if (l4 && pick(&s, 20) == 0) {
				gen_ports(&s, ports, sizeof(ports));
				fprintf(f, " port %s", ports);
			}
		}
		if (pick(&s, 10) < 8 || pk >= 85) {
			gen_addrs(&s, &pl, 0, dst, sizeof(dst));
			fprintf(f, " to %s", dst);
			if (l4 && pick(&s, 4) < 3) {
				gen_ports(&s, ports, sizeof(ports));
				fprintf(f, " port %s", ports);
			}
		} else if (l4) {
			gen_ports(&s, ports, sizeof(ports));
			fprintf(f, " to any port %s", ports);
		}
		fprintf(f, "\n");
	}
	fprintf(f, "default deny\n");
}

static FILE *
open_out(const char *dir, const char *name)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (f == NULL)
		fprintf(stderr, "fw-classify-bench: %s: %s\n", path, strerror(errno));
	return f;
}

/* Prefix i of a list, or 0.0.0.0/0 for a field the rule leaves open. */
static void
acl_prefix(const struct fw_prefix *pf, uint32_t n, uint32_t i, char *out, size_t cap)
{
	const uint8_t *a = n ? pf[i].addr : (const uint8_t[4]){ 0 };

	snprintf(out, cap, "%u.%u.%u.%u/%u", a[0], a[1], a[2], a[3], n ? pf[i].len : 0);
}

/*
 * One line of rules.acl per element of the cross product of the rule's
 * protocols, sources, destinations, source and destination port ranges,
 * written next to each other in rule order: dpdk-test-acl gives line k
 * (counting rule lines from 1) priority RTE_ACL_MAX_PRIORITY - k, so the
 * earliest matching line wins, as the first matching rule does for us.
 * Returns the number of lines written, or -1 for a rule out of reach.
 */
static long
write_acl_rule(const struct fw_rule *r, unsigned idx, FILE *acl, FILE *map)
{
	int protos[256], n_proto = 0;
	uint32_t n_src = r->n_src ? r->n_src : 1, n_dst = r->n_dst ? r->n_dst : 1;
	uint32_t n_sp = r->n_sport ? r->n_sport : 1, n_dp = r->n_dport ? r->n_dport : 1;
	long lines = 0;

	if (r->has & ~(uint32_t)(FW_HAS_PROTO | FW_HAS_SRC | FW_HAS_DST | FW_HAS_SPORT |
				  FW_HAS_DPORT))
		return -1;
	for (uint32_t i = 0; i < r->n_src; i++)
		if (r->src[i].family != 4)
			return -1;
	for (uint32_t i = 0; i < r->n_dst; i++)
		if (r->dst[i].family != 4)
			return -1;
	if (r->has & FW_HAS_PROTO) {
		for (int p = 0; p < 256; p++)
			if ((r->proto[0][p / 64] >> (p % 64)) & 1)
				protos[n_proto++] = p;
		if (n_proto == 0 || n_proto == 256)
			return -1;
	} else {
		protos[n_proto++] = -1;
	}
	for (int p = 0; p < n_proto; p++)
		for (uint32_t a = 0; a < n_src; a++)
			for (uint32_t b = 0; b < n_dst; b++)
				for (uint32_t c = 0; c < n_sp; c++)
					for (uint32_t d = 0; d < n_dp; d++) {
						char sa[32], da[32];

						acl_prefix(r->src, r->n_src, a, sa, sizeof(sa));
						acl_prefix(r->dst, r->n_dst, b, da, sizeof(da));
						fprintf(acl, "@%s %s %u : %u %u : %u %u/0x%02x\n", sa, da,
							r->n_sport ? r->sport[c].lo : 0,
							r->n_sport ? r->sport[c].hi : 65535,
							r->n_dport ? r->dport[d].lo : 0,
							r->n_dport ? r->dport[d].hi : 65535,
							protos[p] < 0 ? 0 : protos[p],
							protos[p] < 0 ? 0 : 0xff);
						fprintf(map, "%u\n", idx);
						lines++;
					}
	return lines;
}

static const struct fw_names bench_names = { outputs, 3, resolve, NULL };

static int
gen_acl(unsigned n, uint64_t seed, const char *dir)
{
	struct fw_ruleset rs;
	struct mpdp_errbuf eb = { "" };
	char path[4096];
	FILE *f, *acl, *map, *tr_acl, *tr_keys;
	uint64_t s = 12345;
	long lines = 0;
	int rc = 1;

	f = open_out(dir, "rules.fw");
	if (f == NULL)
		return 1;
	gen_acl_rules(n, seed, f);
	if (fclose(f) != 0)
		return 1;
	/* rules.acl is written from what our parser made of rules.fw */
	snprintf(path, sizeof(path), "%s/rules.fw", dir);
	if (fw_rules_load(path, &bench_names, &rs, &eb) < 0) {
		fprintf(stderr, "fw-classify-bench: %s\n", eb.msg);
		return 1;
	}
	acl = open_out(dir, "rules.acl");
	map = open_out(dir, "acl2fw.map");
	tr_acl = open_out(dir, "trace.acl");
	tr_keys = open_out(dir, "trace.keys");
	if (acl == NULL || map == NULL || tr_acl == NULL || tr_keys == NULL)
		goto out;
	for (unsigned i = 0; i < rs.n; i++) {
		long l = write_acl_rule(&rs.rules[i], i, acl, map);

		if (l < 0) {
			fprintf(stderr, "fw-classify-bench: rule %u has no rte_acl form\n", i);
			goto out;
		}
		lines += l;
	}
	/* the keys of run, folded into IPv4; ports only for tcp and udp */
	for (unsigned i = 0; i < N_KEYS; i++) {
		struct fw_key k;
		uint32_t sa, da;

		make_key(&s, &rs, &k);
		k.family = 4;
		memset(k.src + 4, 0, 12);
		memset(k.dst + 4, 0, 12);
		if (k.proto == 58)
			k.proto = 1;
		if (k.proto != 6 && k.proto != 17)
			k.sport = k.dport = 0;
		sa = (uint32_t)k.src[0] << 24 | (uint32_t)k.src[1] << 16 | (uint32_t)k.src[2] << 8 | k.src[3];
		da = (uint32_t)k.dst[0] << 24 | (uint32_t)k.dst[1] << 16 | (uint32_t)k.dst[2] << 8 | k.dst[3];
		fprintf(tr_acl, "0x%08x 0x%08x %u %u %u\n", sa, da, k.sport, k.dport, k.proto);
		fprintf(tr_keys, "%u.%u.%u.%u %u.%u.%u.%u %u %u %u\n", k.src[0], k.src[1], k.src[2],
			k.src[3], k.dst[0], k.dst[1], k.dst[2], k.dst[3], k.sport, k.dport, k.proto);
	}
	printf("%u rules, %ld rte_acl rules, %u keys in %s\n", rs.n, lines, N_KEYS, dir);
	rc = 0;
out:
	if (acl != NULL && fclose(acl) != 0)
		rc = 1;
	if (map != NULL && fclose(map) != 0)
		rc = 1;
	if (tr_acl != NULL && fclose(tr_acl) != 0)
		rc = 1;
	if (tr_keys != NULL && fclose(tr_keys) != 0)
		rc = 1;
	fw_ruleset_free(&rs);
	return rc;
}

/* trace.keys: "A.B.C.D A.B.C.D SPORT DPORT PROTO" per line. */
static struct fw_key *
read_keys(const char *path, unsigned *n_out)
{
	FILE *f = fopen(path, "r");
	struct fw_key *keys = NULL;
	unsigned n = 0, cap = 0;
	unsigned a[4], b[4], sp, dp, pr;
	char line[256];

	if (f == NULL) {
		fprintf(stderr, "fw-classify-bench: %s: %s\n", path, strerror(errno));
		return NULL;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		struct fw_key *k;

		if (line[0] == '#' || line[0] == '\n')
			continue;
		if (sscanf(line, "%u.%u.%u.%u %u.%u.%u.%u %u %u %u", &a[0], &a[1], &a[2], &a[3], &b[0],
			   &b[1], &b[2], &b[3], &sp, &dp, &pr) != 11 ||
		    (a[0] | a[1] | a[2] | a[3] | b[0] | b[1] | b[2] | b[3] | pr) > 255 ||
		    (sp | dp) > 65535) {
			fprintf(stderr, "fw-classify-bench: %s: bad key: %s", path, line);
			goto fail;
		}
		if (n == cap) {
			struct fw_key *nk;

			cap = cap ? 2 * cap : 65536;
			nk = realloc(keys, cap * sizeof(*keys));
			if (nk == NULL) {
				fprintf(stderr, "fw-classify-bench: out of memory\n");
				goto fail;
			}
			keys = nk;
		}
		k = &keys[n++];
		memset(k, 0, sizeof(*k));
		for (int i = 0; i < 4; i++) {
			k->src[i] = (uint8_t)a[i];
			k->dst[i] = (uint8_t)b[i];
		}
		k->family = 4;
		k->proto = (uint8_t)pr;
		k->sport = (uint16_t)sp;
		k->dport = (uint16_t)dp;
		k->tcp_flags = FW_TCP_ACK;
		k->port = FW_PORT_NONE;
		k->input = FW_INPUT_NONE;
	}
	fclose(f);
	if (n == 0) {
		fprintf(stderr, "fw-classify-bench: %s: no keys\n", path);
		free(keys);
		return NULL;
	}
	*n_out = n;
	return keys;
fail:
	fclose(f);
	free(keys);
	return NULL;
}

static int
run_trace(const char *rules, const char *trace, const char *out_path)
{
	struct fw_ruleset rs;
	struct fw_classifier *c = NULL;
	struct mpdp_errbuf eb = { "" };
	struct fw_key *keys;
	unsigned n_keys, matched = 0;
	double t0, t_build, r_one, r_burst;
	FILE *out = NULL;
	int rc = 1;

	if (fw_rules_load(rules, &bench_names, &rs, &eb) < 0) {
		fprintf(stderr, "fw-classify-bench: %s\n", eb.msg);
		return 1;
	}
	t0 = now_s();
	if (fw_classifier_build(&rs, &c, &eb) < 0) {
		fprintf(stderr, "fw-classify-bench: %s\n", eb.msg);
		fw_ruleset_free(&rs);
		return 1;
	}
	t_build = now_s() - t0;
	keys = read_keys(trace, &n_keys);
	if (keys == NULL)
		goto done;
	if (out_path != NULL) {
		out = fopen(out_path, "w");
		if (out == NULL) {
			fprintf(stderr, "fw-classify-bench: %s: %s\n", out_path, strerror(errno));
			goto done;
		}
	}
	/* as in run: the classifier agrees with a scan, or nothing is timed */
	for (unsigned i = 0; i < n_keys; i++) {
		uint32_t want = FW_NO_MATCH, got = fw_classify(c, &keys[i]);

		for (unsigned j = 0; j < rs.n; j++)
			if (fw_rule_match(&rs.rules[j], &keys[i])) {
				want = j;
				break;
			}
		if (got != want) {
			fprintf(stderr, "fw-classify-bench: key %u: classifier %u, scan %u\n", i, got,
				want);
			goto done;
		}
		matched += want != FW_NO_MATCH;
		if (out != NULL)
			fprintf(out, "%ld\n", want == FW_NO_MATCH ? -1L : (long)want);
	}
	if (out != NULL) {
		int e = fclose(out);

		out = NULL;
		if (e != 0) {
			fprintf(stderr, "fw-classify-bench: %s: write failed\n", out_path);
			goto done;
		}
	}
	printf("rules:            %u\n", rs.n);
	printf("build:            %.1f ms\n", t_build * 1e3);
	printf("memory:           %.2f MiB\n", (double)fw_classifier_memory(c) / (1 << 20));
	printf("keys:             %u, %.1f%% match a rule\n", n_keys, 100.0 * matched / n_keys);
	r_one = measure(c, &rs, keys, n_keys, 0);
	/* measure's burst loop takes whole bursts */
	r_burst = n_keys >= BURST ? measure(c, &rs, keys, n_keys / BURST * BURST, 1) : 0;
	printf("fw_classify:      %.2f Mlookups/s (%.1f ns each)\n", r_one, 1e3 / r_one);
	printf("fw_classify_burst:%.2f Mlookups/s (%.1f ns each)\n", r_burst, 1e3 / r_burst);
	rc = 0;
done:
	if (out != NULL)
		fclose(out);
	free(keys);
	fw_classifier_free(c);
	fw_ruleset_free(&rs);
	return rc;
}

static int
usage(void)
{
	fprintf(stderr, "usage: fw-classify-bench gen N SEED\n"
			"       fw-classify-bench run RULEFILE\n"
			"       fw-classify-bench gen-acl N SEED OUTDIR\n"
			"       fw-classify-bench run-trace RULEFILE TRACEFILE [--out FILE]\n");
	return 2;
}

int
main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "gen") == 0) {
		char *end;
		unsigned long n = strtoul(argv[2], &end, 10);
		unsigned long long seed;

		if (*end != '\0' || n > FW_RULES_MAX)
			return usage();
		seed = strtoull(argv[3], &end, 10);
		if (*end != '\0')
			return usage();
		return gen((unsigned)n, seed);
	}
	if (argc == 3 && strcmp(argv[1], "run") == 0)
		return run(argv[2]);
	if (argc == 5 && strcmp(argv[1], "gen-acl") == 0) {
		char *end;
		unsigned long n = strtoul(argv[2], &end, 10);
		unsigned long long seed;

		if (*end != '\0' || n == 0 || n > FW_RULES_MAX)
			return usage();
		seed = strtoull(argv[3], &end, 10);
		if (*end != '\0')
			return usage();
		return gen_acl((unsigned)n, seed, argv[4]);
	}
	if (argc == 4 && strcmp(argv[1], "run-trace") == 0)
		return run_trace(argv[2], argv[3], NULL);
	if (argc == 6 && strcmp(argv[1], "run-trace") == 0 && strcmp(argv[4], "--out") == 0)
		return run_trace(argv[2], argv[3], argv[5]);
	return usage();
}

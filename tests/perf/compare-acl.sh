#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# compare-acl.sh [BUILD_DIR] [--rounds K]: our firewall classifier
# (fw_classify) beside DPDK 22.11's rte_acl, on the same rules and the same
# packets, for 10, 1,000 and 10,000 rules; prints one Markdown table. DPDK's
# side is Debian's own /usr/bin/dpdk-test-acl (app/test-acl), unmodified;
# ours is fw-classify-bench run-trace. A manual benchmark, never part of
# `make test`. Run it as root (EAL; it runs with --no-huge either way).
#
# Why it is built the way it is:
#
# * Same rules: fw-classify-bench gen-acl N SEED DIR writes rules.fw in our
#   grammar, parses it with our parser, and writes rules.acl (test-acl's
#   ClassBench format, "@SRC/LEN DST/LEN SPORT_LO : SPORT_HI DPORT_LO :
#   DPORT_HI PROTO/MASK") from what the parser made of it. The rules are
#   the shape of `gen` cut down to what both express: IPv4 prefixes, port
#   lists and ranges, tcp / udp / tcp,udp / icmp / no protocol (no IPv6,
#   established, flags, icmp-type). rte_acl has no lists, so a rule becomes
#   the cross product of its protocols, sources, destinations and port
#   ranges, written next to each other: hence two rule counts per row.
#   Priority: test-acl (add_cb_rules) gives its k-th rule line (counting
#   from 1, comments and blank lines skipped) priority
#   RTE_ACL_MAX_PRIORITY - k and userdata k, so the earliest matching line
#   wins - our "first rule that matches". acl2fw.map names the rule of
#   rules.fw each rules.acl line comes from.
#
# * Same packets: 65,536 keys made as `run` makes them (three in four aimed
#   inside a random rule), folded into IPv4, ports 0 unless tcp or udp;
#   written as trace.acl (test-acl's trace: "SRC DST SPORT DPORT PROTO",
#   each read with strtoul(.., 0) in 22.11, so addresses are 0x-hex: it
#   does not take dotted quads) and as trace.keys (dotted, for run-trace).
#   test-acl's default --tracenum is 65,536, exactly the trace.
#
# * Agreement is checked, not assumed: once per rule set, test-acl runs with
#   --verbose=2 --iter=1, which prints "result: R" per packet (R = userdata
#   - 1, the 0-based rule line; 4294967295 for no match), and run-trace
#   writes its rule per key (--out; -1 for none). R is mapped through
#   acl2fw.map and every one of the 65,536 keys is compared. (run-trace
#   also checks itself against fw_rule_match's linear scan before timing.)
#
# * Conversion (app/test-acl/main.c, search_ip5tuples, v22.11): test-acl
#   times --iter passes over the trace with rte_rdtsc_precise around the
#   whole loop and prints "C cycles/pkt, P pkt/sec" with
#   P = packets / (cycles / rte_get_timer_hz()). We take P / 1e6 as
#   Mlookups/s and 1e3 / that as ns/lookup: the same unit as run-trace's
#   "Mlookups/s" (keys done / CLOCK_MONOTONIC seconds). cycles/pkt is not
#   used (it depends on the TSC rate). The DPDK figure is one
#   rte_acl_classify() call per --tracestep = 256 packets, 1 category
#   (test-acl's defaults), so it includes test-acl's loop that gathers the
#   256 pointers; --verbose=0 so nothing is printed inside the loop. Ours is
#   given one key at a time (fw_classify) and in bursts of 32
#   (fw_classify_burst); the ratio uses the burst figure, the nearer
#   like-for-like, and the single figure is shown beside it.
#
# * Run length: test-acl gives one figure per run; --iter is chosen per rule
#   set from a calibration run (not counted) so that a run classifies for
#   about 0.5 s. run-trace reports the median of 5 runs of >= 0.2 s each.
#
# * The machine is noisy (2 vCPUs shared with the host): as in
#   compare-dpdk.sh, each side runs once per round, alternately (DPDK first
#   in odd rounds, mpdp first in even ones), K rounds; a figure is the
#   median over rounds, the ratio the median of the per-round ratios.
#   Both run on one core (EAL -l 0; run-trace is single-threaded).
#
# * SIMD: test-acl is left on its default algorithm (RTE_ACL_CLASSIFY_DEFAULT,
#   the best this CPU and EAL's max SIMD bitwidth allow); the one it used is
#   read from rte_acl_dump's "alg=" and named in the table's footer.
#
# * DPDK build time and memory: test-acl prints neither time nor a summary
#   by default. Memory is the "total: B bytes" of rte_acl's runtime
#   structures, logged at debug level (--log-level=lib.acl:debug) by its
#   gen phase. Build time is estimated as the wall time of a test-acl run
#   without a trace on the rule set minus one on a 1-rule file (EAL start-up
#   cancels out), median over rounds: it includes reading rules.acl, and
#   is rough (tens of ms of noise). Ours is fw_classifier_build() alone
#   (the parse is not counted) and fw_classifier_memory().

set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
build="$here/../../build"
rounds=3
while [ $# -gt 0 ]; do
	case "$1" in
	--rounds) rounds=${2:?--rounds needs a number}; shift 2 ;;
	--rounds=*) rounds=${1#--rounds=}; shift ;;
	-h|--help) sed -n '4,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	-*) echo "compare-acl.sh: unknown option $1" >&2; exit 2 ;;
	*) build=$1; shift ;;
	esac
done
case "$rounds" in ''|*[!0-9]*|0) echo "compare-acl.sh: --rounds wants a positive number" >&2; exit 2 ;; esac

acl=${DPDK_TEST_ACL:-/usr/bin/dpdk-test-acl}
[ -x "$acl" ] || { echo "compare-acl.sh: $acl not found (Debian package dpdk)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || echo "compare-acl.sh: not root; EAL may refuse to start" >&2
ninja -C "$build" tests/fw_classify/fw-classify-bench >/dev/null
bench="$build/tests/fw_classify/fw-classify-bench"

# One core, no hugepages, no PCI probing (the virtio NIC here is not ours to
# take); 1 GiB of EAL memory: 10,000 rules take ~110 MB of rte_acl runtime
# structures plus more while building.
eal=(--no-huge --no-pci -m 1024 -l 0 --log-level=lib.eal:error)
seed=1
n_keys=65536

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
printf '@0.0.0.0/0 0.0.0.0/0 0 : 65535 0 : 65535 0/0\n' >"$work/one.acl"

median() { sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
now() { date +%s.%N; }

# dpdk_rate DIR ITER RULENUM: Mlookups/s from test-acl's "pkt/sec"
dpdk_rate() {
	"$acl" "${eal[@]}" -- --rulesf="$1/rules.acl" --tracef="$1/trace.acl" \
		--rulenum="$3" --iter="$2" --verbose=0 2>&1 |
		awk '/pkt\/sec/ { for (i = 1; i < NF; i++) if ($(i + 1) == "pkt/sec") print $i / 1e6 }'
}

# dpdk_wall RULEFILE RULENUM: seconds for EAL start, rule load and build
dpdk_wall() {
	local t0 t1
	t0=$(now)
	"$acl" "${eal[@]}" -- --rulesf="$1" --rulenum="$2" --verbose=0 >/dev/null 2>&1
	t1=$(now)
	echo "$t1 - $t0" | bc -l
}

# ours DIR: "single burst build_ms mem_mib" from run-trace
ours() {
	"$bench" run-trace "$1/rules.fw" "$1/trace.keys" |
		awk '/^build:/ { b = $2 } /^memory:/ { m = $2 }
		     /^fw_classify:/ { s = $2 } /^fw_classify_burst:/ { sub(/^fw_classify_burst:/, ""); u = $1 }
		     END { print s, u, b, m }'
}

rows=()
algs=""
for n in 10 1000 10000; do
	d="$work/$n"
	mkdir -p "$d"
	"$bench" gen-acl "$n" "$seed" "$d" >/dev/null
	n_acl=$(grep -c '^@' "$d/rules.acl")
	rulenum=$((n_acl > 1 ? n_acl : 1))

	# agreement, and what test-acl says about its build
	"$acl" "${eal[@]}" --log-level=lib.acl:debug -- --rulesf="$d/rules.acl" \
		--tracef="$d/trace.acl" --rulenum="$rulenum" --iter=1 --verbose=2 >"$d/dpdk.txt" 2>&1
	"$bench" run-trace "$d/rules.fw" "$d/trace.keys" --out "$d/ours.txt" >/dev/null
	agree=$(awk 'FNR == 1 { f++ }
		f == 1 { map[FNR - 1] = $1; next }
		f == 2 && /^ipv4_5tuple:/ { r = $NF; got[$2 + 0] = (r == 4294967295 ? -1 : map[r]); next }
		f == 3 { n++; if ((FNR in got) && got[FNR] == $1) ok++ }
		END { printf "%d/%d", ok, n }' "$d/acl2fw.map" "$d/dpdk.txt" "$d/ours.txt")
	mem_b=$(awk '/^total: [0-9]+ bytes/ { print $2; exit }' "$d/dpdk.txt")
	alg=$(awk -F= '/^ *alg=/ { print $2; exit }' "$d/dpdk.txt")
	tries=$(awk -F= '/num_tries=/ { print $2; exit }' "$d/dpdk.txt")
	algs="$algs $n:alg=$alg,tries=$tries"

	# calibrate --iter for ~0.5 s of classification per run
	cal=$(dpdk_rate "$d" 20 "$rulenum")
	iter=$(awk -v r="$cal" -v k="$n_keys" 'BEGIN { i = int(0.5 * r * 1e6 / k); print (i < 20 ? 20 : i) }')

	: >"$d/dpdk.r"; : >"$d/one.r"; : >"$d/burst.r"; : >"$d/ratio_b.r"; : >"$d/ratio_s.r"
	: >"$d/bld.r"; : >"$d/obld.r"; : >"$d/omem.r"
	for ((r = 1; r <= rounds; r++)); do
		if ((r % 2)); then
			dr=$(dpdk_rate "$d" "$iter" "$rulenum"); o=$(ours "$d")
		else
			o=$(ours "$d"); dr=$(dpdk_rate "$d" "$iter" "$rulenum")
		fi
		read -r os ob obld omem <<<"$o"
		echo "$dr" >>"$d/dpdk.r"; echo "$os" >>"$d/one.r"; echo "$ob" >>"$d/burst.r"
		echo "$ob / $dr" | bc -l >>"$d/ratio_b.r"
		echo "$os / $dr" | bc -l >>"$d/ratio_s.r"
		echo "$obld" >>"$d/obld.r"; echo "$omem" >>"$d/omem.r"
		w1=$(dpdk_wall "$d/rules.acl" "$rulenum"); w0=$(dpdk_wall "$work/one.acl" 1)
		echo "($w1 - $w0) * 1000" | bc -l >>"$d/bld.r"
		echo "  $n rules, round $r/$rounds: DPDK $dr, mpdp $os / $ob Mlookups/s" >&2
	done
	md=$(median <"$d/dpdk.r"); mo=$(median <"$d/one.r"); mb=$(median <"$d/burst.r")
	rb=$(median <"$d/ratio_b.r"); rs=$(median <"$d/ratio_s.r")
	bld=$(median <"$d/bld.r"); obld=$(median <"$d/obld.r"); omem=$(median <"$d/omem.r")
	rows+=("$(awk -v n="$n" -v na="$n_acl" -v md="$md" -v mo="$mo" -v mb="$mb" -v rb="$rb" \
		-v rs="$rs" -v bld="$bld" -v mem="$mem_b" -v obld="$obld" -v omem="$omem" \
		-v ag="$agree" -v it="$iter" 'BEGIN {
		printf "| %d (%d rte_acl) | %.2f (%.1f ns) | %.2f (%.1f ns) | %.2f (%.1f ns) | %.2f | %.2f | ~%.0f ms, %.2f MiB | %.1f ms, %.2f MiB | %s | %d |\n",
			n, na, md, 1e3 / md, mb, 1e3 / mb, mo, 1e3 / mo, rb, rs,
			(bld < 0 ? 0 : bld), mem / 1048576, obld, omem, ag, it }')")
done

echo
echo "| rules (ours / rte_acl lines) | DPDK rte_acl Mlookups/s | mpdp fw_classify_burst | mpdp fw_classify | ratio burst (mpdp/DPDK, >1 = ours faster) | ratio single | DPDK build, runtime memory | mpdp build, memory | same rule chosen | test-acl --iter |"
echo "|---|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
echo
echo "$rounds rounds, medians; one core; seed $seed; $n_keys keys (the same for both)."
echo "DPDK: $acl$(dpkg-query -W -f=' (Debian dpdk ${Version})' dpdk 2>/dev/null || true);" \
	"rte_acl_dump per rule set:$algs (alg: 1 scalar, 2 sse, 3 avx2, 6 avx512x16, 7 avx512x32)."
echo "DPDK Mlookups/s = test-acl's pkt/sec / 1e6 (rte_acl_classify, 256 packets per call, 1 category); ns = 1e3 / Mlookups/s."

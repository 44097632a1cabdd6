#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# compare-dpdk.sh [BUILD_DIR] [options]: runs DPDK 22.11's own micro-benchmarks
# (dpdk-test ring_perf_autotest and mempool_perf_autotest, a dpdk-proc-info
# secondary attaching to a dpdk-testpmd primary) and ours (mpdp-bench ring,
# mempool, attach) in the same run, and prints one Markdown table:
# case, DPDK, mpdp, ratio. A manual benchmark (`make compare-dpdk`), never
# part of `make test`. Needs root for hugepages; without root it runs both
# sides with --no-huge and says so.
#
# Why it is built the way it is:
#
# * The machine is noisy (2 vCPUs shared with the host, other work running):
#   each side is run once per round, the two sides alternately (DPDK first in
#   odd rounds, mpdp first in even ones, so neither always runs "second"),
#   K rounds. A figure is the median over rounds of that side; the ratio is
#   the median of the per-round ratios, so that a slow phase of the host
#   hits both members of a pair rather than one side.
#
# * Definitions, verified against app/test/test_ring_perf.c and
#   app/test/test_mempool_perf.c at tag v22.11 (identical at v22.11.11, the
#   Debian package here), and against the output of the installed dpdk-test:
#   - ring, one core, "single": (cycles of N x (enqueue 1 + dequeue 1)) / N:
#     cycles per element. Same as ours.
#   - ring, one core, "burst (size: B)" and "bulk (size: B)": 22.11 prints
#     (end - start) / iterations, i.e. cycles per enqueue+dequeue of a WHOLE
#     burst of B, not per element (older releases divided by B; this one does
#     not, which is why bulk 32 prints ~45 and bulk 8 ~18). We divide by B to
#     get cycles per element, which is what mpdp-bench prints.
#   - ring, "empty bulk deq": cycles per dequeue call of 8 from an empty ring.
#     Same as ours.
#   - ring, "two physical cores" (or "two hyperthreads" on an SMT machine):
#     the enqueuing lcore's cycles per element plus the dequeuing lcore's
#     cycles per element, SP/SC then MP/MC. Ours adds the two threads' figures
#     the same way.
#   - Only the "legacy APIs" lines are used (pointer-size elements, like ours),
#     not the "elem APIs: element size 16B" ones.
#   - mempool: each lcore takes n_keep objects in bulks of n_get_bulk and puts
#     them back in bulks of n_put_bulk, looping for TIME_S = 5 s; every pass of
#     the inner loop adds N = 65536 to that lcore's count, and N is the number
#     of objects taken (and returned) in that pass. rate_persec = sum over
#     lcores of count / 5, i.e. objects taken-and-returned per second, all
#     lcores together. That is exactly our "mops" x 1e6: the only conversion
#     is the division by 1e6 (and the time scaling below). Rows used:
#     n_get_bulk=32 n_put_bulk=32 n_keep=128 constant_n=0 (bulk sizes are
#     variables, as in mpdp-bench; constant_n=1 lets the compiler specialise
#     the copy for a constant 32), cache=0 from "start performance test
#     (without cache)" and cache=512 from "start performance test (with
#     cache)", 1 and 2 cores (the first row of each; the "max cores" block
#     repeats 2 cores on this machine, the ring_mp_mc and user-owned-cache
#     blocks are not used).
#
# * mempool_perf_autotest cannot be restricted (no arguments; it runs 60
#   combinations x 3 core counts x 4 pools, 5 s each: ~1 h). Our four rows
#   come after 477 of them (~40 min). So the test runs under libfaketime
#   with the clock sped up S times (--mempool-speedup, default 50): EAL
#   calibrates its TSC frequency by sleeping 100 ms against
#   CLOCK_MONOTONIC_RAW, so it calibrates hz_scaled ~= hz / S, and the
#   test's TSC-timed 5 s loop lasts 5 * hz_scaled / hz real seconds (~0.1 s).
#   The test still divides by 5, so the real rate is
#       rate_persec * hz_ref / hz_scaled
#   with both frequencies taken from EAL's own "TSC frequency is ~N KHz" log
#   line (hz_ref from the unscaled ring_perf_autotest run of the same round),
#   so the figure is what an unscaled run would print. Only the calibration
#   is faked: the benchmark loop itself reads the TSC. The process is killed
#   once the four rows are out. --mempool-speedup 1 runs it unscaled.
#
# * Attach: both figures are exec to EXIT of a secondary. DPDK's is
#   `dpdk-proc-info --stats` against a dpdk-testpmd primary (8192 mbufs, like
#   our bench pool), timed by this script around the command; ours is an
#   mpdp-bench child that attaches, looks up a ring and a pool and exits,
#   timed by mpdp-bench around it. DPDK's includes printing the stats, ours
#   a write to a pipe.
#
# * Pipeline: ours is `mpdp-bench pipeline` (null port p0 -> the primary's
#   I/O worker on core 0 -> ring p0.rx -> an mpdp-fwd process on core 1 ->
#   ring p1.tx -> the I/O worker -> null port p1, 64 B), the figure p1's
#   tx_packets per second, median of 3 runs of 2 s. DPDK cannot chain two
#   processes with the binaries Debian ships: a secondary dpdk-testpmd takes
#   its own share of every port's queues (queue proc-id * nb_q / num-procs),
#   and a net_ring port is a loopback (one rte_ring per queue for both its rx
#   and its tx), so a secondary forwarding A -> B would also read B, where the
#   primary reads. A DPDK secondary's data path is the same code on the same
#   memory as a second lcore of one process (rings and mempools in shared
#   hugepages at the same address), so the counterpart is one dpdk-testpmd
#   with the same chain on two lcores: --vdev net_ring0 (A), net_ring1 (B),
#   net_null0 (N), --port-topology=chained gives the streams A -> B, B -> N and
#   N -> A; testpmd gives the first stream to the first forwarding lcore and
#   the other two to the second, and --lcores '0@0,1@1,2@0' puts the first on
#   core 1 (our stage) and the second on core 0 with the idle main lcore (our
#   primary). Same pool size and cache as ours (16384 mbufs, 256). The figure
#   is N's Tx-pps, the median of the per-second prints after the first two.
#   A testpmd forwarding mode applies to every stream, so DPDK cannot swap
#   MACs on the middle hop only: two rows. "io": neither side touches packet
#   data (mpdp-fwd without --mac-swap against testpmd io), the like-for-like
#   pair. "MAC swap": mpdp-fwd --mac-swap (one swap, on core 1) against
#   testpmd macswap, which swaps on all three hops, twice on core 0, so the
#   DPDK side does more work there and this ratio flatters mpdp.
#
# * The cache-line round trip between core 0 and core 1 (which every two-core
#   figure follows on this host, see shared/FACTS.md) is not measured: it
#   would need a small C program. The header gives nproc, the CPU model, the
#   date and whether hugepages were used instead.

set -Eeuo pipefail
export LC_ALL=C # "." as the decimal point in $EPOCHREALTIME, awk and sort -g

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
readonly ROOT
readonly HUGE_WANT=512            # free hugepages (2 MiB) wanted for both sides
readonly MEMPOOL_CASES_BEFORE=477 # mempool cases dpdk-test runs up to our last row
readonly DPDK_PREFIX="cmp$$"
readonly ATT_PREFIX="cmpatt$$"

BUILD=build
ROUNDS=3
ONLY=
JSON=0
ATTACH_RUNS=20
SPEEDUP=50
FORCE_NO_HUGE=0

WORK=""                 # temporary directory: logs, samples, the fifo
NO_HUGE=0               # 1: both sides run with --no-huge
HUGE_NOTE=""            # how hugepages were obtained, or why not
ORIG_NR_HUGE=""         # nr_hugepages to restore, if we raised it
OUR_MOUNT=""            # hugetlbfs mount point we created, if any
PRIMARY_PID=""          # dpdk-testpmd primary for the attach case
FG_PID=""               # dpdk-test run in the background
MPDP_TMPFS=0            # mpdp-bench fell back to tmpfs at some point
FAKETIME_LIB=""
declare -a NOTES=()

usage() {
	cat <<EOF
usage: tests/perf/compare-dpdk.sh [BUILD_DIR] [options]
  BUILD_DIR              meson build directory with tools/mpdp-bench (default: build)
  --rounds K             interleaved rounds, DPDK and mpdp alternately (default 3)
  --json                 one JSON object per table row on stdout (header on stderr)
  --attach-runs N        dpdk-proc-info runs per round (default 20, as mpdp-bench --runs 1)
  --mempool-speedup S    run mempool_perf_autotest's clock S times faster (default 50;
                         1 = unscaled, ~40 min per round)
  --no-huge              run both sides without hugepages even when they are available
  --only CASES           only these of ring,mempool,attach,fwd,pipeline (comma-separated;
                         mempool brings ring, whose calibration it needs)
EOF
}

say() { printf '%s\n' "$*" >&2; }
die() { say "compare-dpdk: $*"; exit 1; }

# ---------------------------------------------------------------- cleanup

# Everything we start or change is undone here, by PID and by our own names.
cleanup() {
	local pid m
	set +e
	trap - ERR
	for pid in "$FG_PID" "$PRIMARY_PID"; do
		[[ -n $pid ]] || continue
		kill -TERM "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	exec 9>&-
	# A killed DPDK primary leaves its hugepage files (and so its pages) behind.
	awk '$3 == "hugetlbfs" { print $2 }' /proc/mounts | while read -r m; do
		rm -f "$m/${DPDK_PREFIX}map_"* "$m/${ATT_PREFIX}map_"* 2>/dev/null
	done
	# EAL's runtime directory: /var/run/dpdk as root, else under XDG_RUNTIME_DIR or /tmp.
	for m in /var/run/dpdk "${XDG_RUNTIME_DIR:-/tmp}/dpdk"; do
		rm -rf "${m:?}/$DPDK_PREFIX" "${m:?}/$ATT_PREFIX" 2>/dev/null
	done
	if [[ -n $OUR_MOUNT ]]; then
		umount "$OUR_MOUNT" && rmdir "$OUR_MOUNT"
	fi
	if [[ -n $ORIG_NR_HUGE ]]; then
		echo "$ORIG_NR_HUGE" > /proc/sys/vm/nr_hugepages
	fi
	[[ -n $WORK ]] && rm -rf "$WORK"
}

# ---------------------------------------------------------------- setup

parse_args() {
	local positional=0
	while (($#)); do
		case $1 in
		--rounds) ROUNDS=${2:?--rounds needs a value}; shift ;;
		--json) JSON=1 ;;
		--attach-runs) ATTACH_RUNS=${2:?--attach-runs needs a value}; shift ;;
		--mempool-speedup) SPEEDUP=${2:?--mempool-speedup needs a value}; shift ;;
		--no-huge) FORCE_NO_HUGE=1 ;;
		--only) ONLY=,${2:?--only needs a value},; shift ;;
		-h|--help) usage; exit 0 ;;
		-*) usage >&2; exit 2 ;;
		*) ((positional++ == 0)) || { usage >&2; exit 2; }; BUILD=$1 ;;
		esac
		shift
	done
	[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "--rounds: expected a positive integer"
	[[ $ATTACH_RUNS =~ ^[1-9][0-9]*$ ]] || die "--attach-runs: expected a positive integer"
	[[ $SPEEDUP =~ ^[1-9][0-9]*$ ]] || die "--mempool-speedup: expected a positive integer"
	[[ -z ${ONLY:-} || $ONLY =~ ^,((ring|mempool|attach|fwd|pipeline),)+$ ]] ||
		die "--only: expected cases from ring,mempool,attach,fwd,pipeline"
	[[ ${ONLY:-} != *,mempool,* ]] || ONLY+=ring,
}

# wanted CASE: whether this run measures CASE (--only)
wanted() { [[ -z ${ONLY:-} || $ONLY == *,$1,* ]]; }

# apt-get install PKG... as root, else tell the user what to run.
install_pkgs() {
	if ((EUID != 0)); then
		die "missing $*: run 'sudo apt-get install -y $*' and try again"
	fi
	say "installing $* ..."
	apt-get install -y "$@" >&2 || { apt-get update >&2 && apt-get install -y "$@" >&2; } ||
		die "apt-get install $* failed"
}

find_tools() {
	local t missing=0
	for t in dpdk-test dpdk-testpmd dpdk-proc-info; do
		command -v "$t" >/dev/null || missing=1
	done
	((missing == 0)) || install_pkgs dpdk
	if ((SPEEDUP > 1)); then
		FAKETIME_LIB=$(compgen -G '/usr/lib/*/faketime/libfaketimeMT.so.1' | head -n1 || true)
		if [[ -z $FAKETIME_LIB ]]; then
			install_pkgs libfaketime
			FAKETIME_LIB=$(compgen -G '/usr/lib/*/faketime/libfaketimeMT.so.1' | head -n1 || true)
			[[ -n $FAKETIME_LIB ]] || die "libfaketime installed but libfaketimeMT.so.1 not found"
		fi
	fi
	if [[ -x $BUILD/tools/mpdp-bench ]]; then
		BENCH=$(cd "$BUILD" && pwd)/tools/mpdp-bench
	elif [[ -x $ROOT/$BUILD/tools/mpdp-bench ]]; then
		BENCH=$ROOT/$BUILD/tools/mpdp-bench
	else
		die "$BUILD/tools/mpdp-bench not found: build first (make build, or meson compile -C $BUILD)"
	fi
}

meminfo() { awk -v k="$1:" '$1 == k { print $2 }' /proc/meminfo; }
hugetlbfs_mount() { awk '$3 == "hugetlbfs" { print $2; exit }' /proc/mounts; }

# Both sides use the kernel's default hugepage size; 512 of them (1 GiB) hold
# our 512 MiB bench instance and DPDK's test memory with room to spare.
setup_hugepages() {
	local free total
	if ((FORCE_NO_HUGE)); then
		NO_HUGE=1; HUGE_NOTE="no (--no-huge given)"; return
	fi
	free=$(meminfo HugePages_Free); total=$(meminfo HugePages_Total)
	if ((free < HUGE_WANT)); then
		if ((EUID == 0)); then
			ORIG_NR_HUGE=$(cat /proc/sys/vm/nr_hugepages)
			echo $((total + HUGE_WANT - free)) > /proc/sys/vm/nr_hugepages
			free=$(meminfo HugePages_Free)
		fi
		if ((free < HUGE_WANT)); then
			NO_HUGE=1
			HUGE_NOTE="no: only $free free hugepages and $( ((EUID == 0)) && echo "the kernel would not reserve more" || echo "not root") (both sides run with --no-huge)"
			return
		fi
	fi
	if [[ -z $(hugetlbfs_mount) ]]; then
		if ((EUID != 0)); then
			NO_HUGE=1; HUGE_NOTE="no: no hugetlbfs mount and not root (both sides run with --no-huge)"
			return
		fi
		OUR_MOUNT=$(mktemp -d /tmp/compare-dpdk-huge.XXXXXX)
		mount -t hugetlbfs nodev "$OUR_MOUNT"
	fi
	if [[ ! -w $(hugetlbfs_mount) ]]; then
		NO_HUGE=1; HUGE_NOTE="no: $(hugetlbfs_mount) is not writable by $(id -un) (both sides run with --no-huge)"
		return
	fi
	HUGE_NOTE="yes: $(meminfo Hugepagesize) kB pages on $(hugetlbfs_mount), $(meminfo HugePages_Free) free at start"
	[[ -n $ORIG_NR_HUGE ]] && HUGE_NOTE+=" (nr_hugepages raised from $ORIG_NR_HUGE for this run)"
	[[ -n $OUR_MOUNT ]] && HUGE_NOTE+=" (mounted for this run)"
	return 0
}

# EAL options shared by every dpdk-test run. --huge-unlink: the mempool run is
# killed, and unlinked hugepage files go back to the kernel when it dies.
dpdk_test_opts() {
	local o=(--no-pci -l 0-1 "--file-prefix=$DPDK_PREFIX" --log-level=lib.eal:debug)
	if ((NO_HUGE)); then o+=(--no-huge); else o+=(--huge-unlink); fi
	printf '%s\n' "${o[@]}"
}

mpdp_opts() {
	((NO_HUGE)) && echo --no-huge
	return 0
}

# ---------------------------------------------------------------- helpers

median() {
	sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) exit; print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# "TSC frequency is ~2600000 KHz" -> 2600000
eal_tsc_khz() { sed -n 's/.*TSC frequency is ~\([0-9]*\) KHz.*/\1/p' "$1" | sed -n 1p; }

record() { echo "$1 $2 $3 $4" >> "$WORK/samples"; }  # key side round value

# Our bench's JSON lines -> "key mpdp round value".
parse_mpdp() {
	awk -v round="$1" '
	function jf(k,    s) {
		if (!match($0, "\"" k "\":\"?[^,\"}]*")) return ""
		s = substr($0, RSTART, RLENGTH); sub(/^"[^"]*":"?/, "", s); return s
	}
	jf("bench") == "ring" {
		v = jf("cycles_per_elem"); if (v == "") v = jf("cycles_per_call")
		print "ring/" jf("case") "/" jf("burst") "/" jf("cores"), "mpdp", round, v
	}
	jf("bench") == "mempool" { print "mempool/" jf("case") "/" jf("cores"), "mpdp", round, jf("mops") }
	jf("bench") == "attach" { print "attach/secondary", "mpdp", round, jf("exit_median_ms") }
	jf("bench") == "fwd" { print "fwd/" jf("size") "/" jf("copy"), "mpdp", round, jf("mpps") }
	jf("bench") == "pipeline" {
		print "pipeline/" jf("stages") "/" (jf("mac_swap") == "true" ? "swap" : "io"), "mpdp", round, jf("mpps")
	}'
}

# Runs mpdp-bench SUBCOMMAND once (--runs 1: one sample per round, as DPDK).
run_mpdp() {
	local what=$1 round=$2 log=$WORK/mpdp-$1-$2
	say "  mpdp-bench $what"
	# shellcheck disable=SC2046
	"$BENCH" "$what" --json --runs 1 -l 0,1 $(mpdp_opts) > "$log.out" 2> "$log.err" ||
		die "mpdp-bench $what failed: $(tail -n3 "$log.err")"
	grep -q 'using tmpfs' "$log.err" && MPDP_TMPFS=1
	parse_mpdp "$round" < "$log.out" >> "$WORK/samples"
}

# mpdp-bench pipeline, without and with the MAC swap (the two pipeline rows).
# The core 0 <-> core 1 round trip it measures before each run goes in a note.
run_mpdp_pipeline() {
	local round=$1 swap log rtt=""
	for swap in io swap; do
		log=$WORK/mpdp-pipeline-$round-$swap
		say "  mpdp-bench pipeline ($swap)"
		# shellcheck disable=SC2046
		"$BENCH" pipeline --json --runs 3 --seconds 2 -l 0,1 $(mpdp_opts) \
			$([[ $swap == io ]] && echo --no-swap) > "$log.out" 2> "$log.err" ||
			die "mpdp-bench pipeline failed: $(tail -n3 "$log.err")"
		grep -q 'using tmpfs' "$log.err" && MPDP_TMPFS=1
		parse_mpdp "$round" < "$log.out" >> "$WORK/samples"
		rtt+="${rtt:+; }$swap $(sed -n 's/.*"runs_rtt_ns":\[\([^]]*\)\].*/\1/p' "$log.out")"
	done
	add_note "pipeline, round $round: core 0 <-> core 1 round trip before each mpdp run (ns): $rtt (about 90 ns and 460 ns are the two host placements, see doc/performance.md)"
}

# ---------------------------------------------------------------- DPDK runs

run_dpdk_ring() {
	local round=$1 log=$WORK/dpdk-ring-$1
	local -a opts
	mapfile -t opts < <(dpdk_test_opts)
	say "  dpdk-test ring_perf_autotest"
	timeout 600 dpdk-test "${opts[@]}" <<< ring_perf_autotest > "$log" 2>&1 ||
		die "dpdk-test ring_perf_autotest failed, see the tail of its output:$(printf '\n'; tail -n5 "$log")"
	grep -q '^Test OK' "$log" || die "ring_perf_autotest did not pass: $(tail -n3 "$log")"
	awk -v round="$round" '
	/^### Testing/ {
		sec = ""
		if (/single element/) sec = "single"
		else if (/burst enq\/deq/) sec = "burst"
		else if (/bulk enq\/deq/) sec = "bulk"
		else if (/empty bulk deq/) sec = "empty"
		else if (/two physical cores|two hyperthreads/) sec = "two"
		next
	}
	/^elem APIs/ { exit }
	sec != "" && /^legacy APIs: / {
		mode = ($3 == "SP/SC:") ? "spsc" : "mpmc"
		size = 1
		if (match($0, /size: [0-9]+/)) size = substr($0, RSTART + 6, RLENGTH - 6) + 0
		v = $NF + 0
		if (sec == "single") key = "ring/" mode "_single/1/1"
		else if (sec == "burst" || sec == "bulk") { key = "ring/" mode "_" sec "/" size "/1"; v /= size }
		else if (sec == "empty") key = "ring/" (mode == "spsc" ? "sc" : "mc") "_empty_deq/" size "/1"
		else key = "ring/" mode "_bulk/" size "/2"
		printf "%s dpdk %s %.4f\n", key, round, v
		# Our multi rings run twice (biased, and shared like DPDK): both set against the DPDK row.
		if (mode == "mpmc") {
			sub(/mpmc_|mc_empty/, (sec == "empty") ? "mc_shared_empty" : "mpmc_shared_", key)
			printf "%s dpdk %s %.4f\n", key, round, v
		}
	}' "$log" >> "$WORK/samples"
	grep -q 'two hyperthreads' "$log" && add_note "DPDK's two-core ring rows ran on two hyperthreads of one core."
	return 0
}

# The four rows we use, converted to M objs/s ("key dpdk round value").
parse_dpdk_mempool() { # log round factor
	awk -v round="$2" -v f="$3" '
	/^start performance test/ {
		sec = ""
		if ($0 ~ /^start performance test \(without cache\)$/) sec = "no_cache"
		if ($0 ~ /^start performance test \(with cache\)$/) sec = "cache"
		next
	}
	sec != "" && /n_get_bulk=32 n_put_bulk=32 n_keep=128 constant_n=0 rate_persec=/ {
		match($0, /cores=[0-9]+/); cores = substr($0, RSTART + 6, RLENGTH - 6)
		match($0, /rate_persec=[0-9]+/); rate = substr($0, RSTART + 12, RLENGTH - 12)
		key = "mempool/" sec "/" cores
		if ((cores == 1 || cores == 2) && !(key in seen)) {
			seen[key] = 1
			printf "%s dpdk %s %.1f\n", key, round, rate * f / 1e6
		}
	}' "$1"
}

run_dpdk_mempool() {
	local round=$1 log=$WORK/dpdk-mempool-$1 hz_ref hz_scaled factor n t=0 limit
	local -a opts env=()
	mapfile -t opts < <(dpdk_test_opts)
	hz_ref=$(eal_tsc_khz "$WORK/dpdk-ring-$round")
	[[ -n $hz_ref ]] || die "no TSC frequency in the ring_perf_autotest log"
	((SPEEDUP > 1)) && env=(env "LD_PRELOAD=$FAKETIME_LIB" "FAKETIME=+0 x$SPEEDUP")
	# Each case takes 5 s / S plus ~25 ms of set-up; allow three times that.
	limit=$((MEMPOOL_CASES_BEFORE * (5000 / SPEEDUP + 25) * 3 / 1000 + 60))
	say "  dpdk-test mempool_perf_autotest (clock x$SPEEDUP: about $((MEMPOOL_CASES_BEFORE * (5000 / SPEEDUP + 25) / 1000)) s, our rows come after case $MEMPOOL_CASES_BEFORE)"
	# stdbuf: line-buffered, so the rows show up as soon as they are printed.
	"${env[@]}" stdbuf -oL dpdk-test "${opts[@]}" <<< mempool_perf_autotest > "$log" 2>&1 &
	FG_PID=$!
	while :; do
		n=$(parse_dpdk_mempool "$log" "$round" 1 | wc -l)
		((n >= 4)) && break
		kill -0 "$FG_PID" 2>/dev/null || die "mempool_perf_autotest stopped early: $(tail -n3 "$log")"
		((t >= limit * 2)) && die "mempool_perf_autotest: our rows not out after $limit s"
		if ((t % 40 == 39)); then say "    $(grep -c rate_persec "$log" || true) cases done"; fi
		sleep 0.5; t=$((t + 1))
	done
	kill -TERM "$FG_PID" 2>/dev/null || true
	wait "$FG_PID" 2>/dev/null || true
	FG_PID=""
	hz_scaled=$(eal_tsc_khz "$log")
	[[ -n $hz_scaled && $hz_scaled -gt 0 ]] || die "no TSC frequency in the mempool_perf_autotest log"
	factor=$(awk -v a="$hz_ref" -v b="$hz_scaled" 'BEGIN { printf "%.6f", a / b }')
	echo "$round $hz_ref $hz_scaled $factor" >> "$WORK/mempool-scale"
	parse_dpdk_mempool "$log" "$round" "$factor" >> "$WORK/samples"
}

# A dpdk-testpmd primary that idles at its prompt (stdin is a fifo we hold
# open) until cleanup; no forwarding is started, so it uses no CPU.
start_dpdk_primary() {
	local i
	mkfifo "$WORK/primary.in"
	exec 9<> "$WORK/primary.in"
	say "starting the DPDK primary (dpdk-testpmd, net_null0, 8192 mbufs) for the attach case"
	dpdk-testpmd --no-pci --vdev net_null0 "--file-prefix=$ATT_PREFIX" -l 0-1 \
		-- -i --total-num-mbufs=8192 < "$WORK/primary.in" > "$WORK/primary.log" 2>&1 &
	PRIMARY_PID=$!
	for ((i = 0; i < 600; i++)); do
		grep -qs 'testpmd>' "$WORK/primary.log" && return 0
		kill -0 "$PRIMARY_PID" 2>/dev/null || break
		sleep 0.1
	done
	die "the dpdk-testpmd primary did not come up: $(tail -n3 "$WORK/primary.log")"
}

run_dpdk_attach() {
	local round=$1 i t0 t1 log=$WORK/dpdk-attach-$1
	if ((NO_HUGE)); then
		return 0 # a DPDK secondary cannot attach to a --no-huge primary
	fi
	[[ -n $PRIMARY_PID ]] || start_dpdk_primary
	say "  dpdk-proc-info --proc-type=secondary x$ATTACH_RUNS"
	: > "$log"
	for ((i = 0; i < ATTACH_RUNS; i++)); do
		t0=$EPOCHREALTIME
		dpdk-proc-info --no-pci "--file-prefix=$ATT_PREFIX" --proc-type=secondary -- --stats \
			> "$log.out" 2>&1 || die "dpdk-proc-info failed: $(tail -n3 "$log.out")"
		t1=$EPOCHREALTIME
		awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", (b - a) * 1000 }' >> "$log"
	done
	record attach/secondary dpdk "$round" "$(median < "$log")"
}

# testpmd, io forwarding between two net_null ports on one forwarding lcore,
# as the ports issue specifies; the figure is the sum of both ports' Rx-pps,
# the median of the per-second prints after the first two (start-up).
run_dpdk_fwd() {
	local round=$1 copy log
	for copy in 0 1; do
		log=$WORK/dpdk-fwd-$round-$copy
		say "  dpdk-testpmd io forwarding, net_null copy=$copy"
		# shellcheck disable=SC2046
		timeout -s INT 7 dpdk-testpmd $(dpdk_test_opts | grep -v log-level) \
			--vdev "net_null0,size=64,copy=$copy" --vdev "net_null1,size=64,copy=$copy" \
			-- --forward-mode=io --nb-cores=1 -a --stats-period 1 < /dev/null > "$log" 2>&1 || true
		awk '/Rx-pps:/ { v[n++] = $2 } END { for (i = 4; i + 1 < n; i += 2) printf "%.1f\n", (v[i] + v[i + 1]) / 1e6 }' \
			"$log" | median > "$log.mpps"
		[[ -s $log.mpps ]] || die "dpdk-testpmd printed no rates: $(tail -n3 "$log")"
		record "fwd/64/$copy" dpdk "$round" "$(cat "$log.mpps")"
	done
}

# testpmd, the pipeline's chain in one process on two lcores (see the header):
# net_ring0 (A), net_ring1 (B), net_null0 (N), chained: A -> B on lcore 1
# (core 1), B -> N and N -> A on lcore 2 (core 0). The figure is N's Tx-pps,
# the median of the per-second prints after the first two (start-up).
run_dpdk_pipeline() {
	local round=$1 mode log
	for mode in io macswap; do
		log=$WORK/dpdk-pipeline-$round-$mode
		say "  dpdk-testpmd pipeline net_null -> ring -> lcore on core 1 -> ring -> net_null, $mode"
		# shellcheck disable=SC2046
		timeout -s INT 10 dpdk-testpmd $(dpdk_test_opts | grep -vx -e -l -e 0-1 -e '--log-level=.*') \
			--lcores '0@0,1@1,2@0' --vdev net_ring0 --vdev net_ring1 --vdev net_null0,size=64 \
			-- --forward-mode=$mode --nb-cores=2 --port-topology=chained \
			--total-num-mbufs=16384 --mbcache=256 -a --stats-period 1 < /dev/null > "$log" 2>&1 || true
		grep -A1 'Logical Core 1 .* on 1 streams' "$log" | grep -q 'RX P=0/Q=0 .* TX P=1/Q=0' ||
			die "dpdk-testpmd (pipeline): not the stream layout this row needs (A -> B alone on lcore 1): $(grep -A4 'packet forwarding - ports' "$log")"
		awk '/NIC statistics for port/ { p = $(NF - 1) } /Tx-pps:/ && p == 2 { if (++n > 2) print $2 / 1e6 }' \
			"$log" | median > "$log.mpps"
		[[ -s $log.mpps ]] || die "dpdk-testpmd (pipeline, $mode) printed no rates: $(tail -n3 "$log")"
		record "pipeline/1/$([[ $mode == io ]] && echo io || echo swap)" dpdk "$round" "$(cat "$log.mpps")"
	done
}

# ---------------------------------------------------------------- report

add_note() {
	local n
	for n in "${NOTES[@]}"; do [[ $n == "$1" ]] && return 0; done
	NOTES+=("$1")
}

# key|label|unit|better
ROWS=(
	"ring/spsc_single/1/1|ring SP/SC single (1 elem), 1 core|cycles/elem|lower"
	"ring/mpmc_single/1/1|ring MP/MC single (1 elem), 1 core|cycles/elem|lower"
	"ring/spsc_burst/8/1|ring SP/SC burst 8, 1 core|cycles/elem|lower"
	"ring/spsc_burst/32/1|ring SP/SC burst 32, 1 core|cycles/elem|lower"
	"ring/mpmc_burst/8/1|ring MP/MC burst 8, 1 core|cycles/elem|lower"
	"ring/mpmc_burst/32/1|ring MP/MC burst 32, 1 core|cycles/elem|lower"
	"ring/spsc_bulk/8/1|ring SP/SC bulk 8, 1 core|cycles/elem|lower"
	"ring/spsc_bulk/32/1|ring SP/SC bulk 32, 1 core|cycles/elem|lower"
	"ring/mpmc_bulk/8/1|ring MP/MC bulk 8, 1 core|cycles/elem|lower"
	"ring/mpmc_bulk/32/1|ring MP/MC bulk 32, 1 core|cycles/elem|lower"
	"ring/sc_empty_deq/8/1|ring SC dequeue 8 from empty, 1 core|cycles/call|lower"
	"ring/mc_empty_deq/8/1|ring MC dequeue 8 from empty, 1 core|cycles/call|lower"
	"ring/spsc_bulk/8/2|ring SP/SC bulk 8, 2 cores (enq + deq)|cycles/elem|lower"
	"ring/mpmc_bulk/8/2|ring MP/MC bulk 8, 2 cores (enq + deq)|cycles/elem|lower"
	"ring/spsc_bulk/32/2|ring SP/SC bulk 32, 2 cores (enq + deq)|cycles/elem|lower"
	"ring/mpmc_bulk/32/2|ring MP/MC bulk 32, 2 cores (enq + deq)|cycles/elem|lower"
	"ring/mpmc_shared_single/1/1|ring MP/MC shared (F_UNBIASED) single, 1 core|cycles/elem|lower"
	"ring/mpmc_shared_bulk/8/1|ring MP/MC shared bulk 8, 1 core|cycles/elem|lower"
	"ring/mpmc_shared_bulk/32/1|ring MP/MC shared bulk 32, 1 core|cycles/elem|lower"
	"ring/mc_shared_empty_deq/8/1|ring MC shared dequeue 8 from empty, 1 core|cycles/call|lower"
	"ring/mpmc_shared_bulk/8/2|ring MP/MC shared bulk 8, 2 cores (enq + deq)|cycles/elem|lower"
	"ring/mpmc_shared_bulk/32/2|ring MP/MC shared bulk 32, 2 cores (enq + deq)|cycles/elem|lower"
	"mempool/no_cache/1|mempool no cache, bulk 32, keep 128, 1 core|M objs/s|higher"
	"mempool/no_cache/2|mempool no cache, bulk 32, keep 128, 2 cores|M objs/s|higher"
	"mempool/cache/1|mempool cache 512, bulk 32, keep 128, 1 core|M objs/s|higher"
	"mempool/cache/2|mempool cache 512, bulk 32, keep 128, 2 cores|M objs/s|higher"
	"attach/secondary|secondary exec to exit, attach included|ms|lower"
	"fwd/64/0|forwarding, one core, two null ports patched both ways, 64 B|Mpps|higher"
	"fwd/64/1|forwarding, one core, as above with copy=1 (one copy on rx and on tx)|Mpps|higher"
	"pipeline/1/io|pipeline, null -> core 0 -> ring -> stage on core 1 -> ring -> core 0 -> null, 64 B, no rewrite (testpmd io)|Mpps|higher"
	"pipeline/1/swap|pipeline, as above with MAC swap (mpdp: on the stage only; testpmd macswap: on all three hops)|Mpps|higher"
)

side_median() { awk -v k="$1" -v s="$2" '$1 == k && $2 == s { print $4 }' "$WORK/samples" | median; }

# The per-round values of one side, in round order, as a JSON array.
side_rounds() {
	awk -v k="$1" -v s="$2" '$1 == k && $2 == s { print $3, $4 }' "$WORK/samples" |
		sort -n | awk '{ printf "%s%s", sep, $2; sep = "," } END { print "" }' | sed 's/.*/[&]/'
}

ratio_median() {
	awk -v k="$1" '
	$1 == k { v[$2, $3] = $4; r[$3] = 1 }
	END { for (i in r) if ((("dpdk", i) in v) && (("mpdp", i) in v) && v["dpdk", i] > 0) print v["mpdp", i] / v["dpdk", i] }' \
		"$WORK/samples" | median
}

fmt() { # value unit
	[[ -n $1 ]] || { echo "n/a"; return; }
	case $2 in
	M*) printf '%.0f' "$1" ;;
	*) printf '%.2f' "$1" ;;
	esac
}

jnum() { if [[ -n $1 ]]; then printf "%.${2}f" "$1"; else echo null; fi; }

print_header() {
	local cpu hv cc flags march dpdk_ver
	cpu=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)
	hv=$(lscpu 2>/dev/null | awk -F': *' '/^Hypervisor vendor/ { print " (" $2 " guest)" }')
	# The flags the ring library was really compiled with.
	flags=$(grep -m1 -E '"command": ".* -c [^ ]*shared/ring/ring\.c"' "$(dirname "$BENCH")/../compile_commands.json" 2>/dev/null |
		grep -oE -- ' -(O[0-3s]|march=[^ ]+|mtune=[^ ]+|flto[^ ]*)' | tr -d '\n' || true)
	cc=$(cc --version 2>/dev/null | sed -n 1p || true)
	if [[ $flags == *-march=* ]]; then
		march="host-tuned build"
	else
		march="no -march: compiler default $(cc -Q --help=target 2>/dev/null | awk '$1 == "-march=" && !m { m = $2 } END { print m }' || true), the portable build"
	fi
	dpdk_ver=$(dpkg-query -W -f='${Version}' dpdk 2>/dev/null || echo unknown)
	echo "## mpdp vs DPDK 22.11: ring, mempool, attach"
	echo
	echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "- machine: $cpu$hv, nproc $(nproc), $(uname -sr)"
	echo "- command: \`$CMDLINE\` (took $1 s)"
	echo "- hugepages: $HUGE_NOTE"
	echo "- mpdp: ${cc:-cc}, flags${flags:- (none found)} ($march)"
	echo "- DPDK: Debian package dpdk $dpdk_ver (built for -march=corei7)"
	echo "- load average (1/5/15 min) at start: $LOAD_START, at end: $(cut -d' ' -f1-3 /proc/loadavg) (other processes share the 2 vCPUs; the 2-core rows suffer most)"
	echo "- method: rounds: $ROUNDS, DPDK and mpdp alternately (DPDK first in odd rounds); a figure is the median over rounds, the ratio the median of per-round ratios; mpdp-bench --runs 1 -l 0,1; dpdk-test -l 0-1"
	echo "- not measured: the core 0 <-> core 1 cache-line round trip, which the 2-core rows follow on this host (see shared/FACTS.md)"
	echo
}

print_table() {
	local row key label unit better d m r
	if ((JSON == 0)); then
		echo "| case | DPDK 22.11 | mpdp | ratio (mpdp/DPDK) | better is |"
		echo "| --- | ---: | ---: | ---: | --- |"
	fi
	for row in "${ROWS[@]}"; do
		IFS='|' read -r key label unit better <<< "$row"
		d=$(side_median "$key" dpdk); m=$(side_median "$key" mpdp); r=$(ratio_median "$key")
		if ((JSON)); then
			printf '{"case":"%s","label":"%s","unit":"%s","dpdk":%s,"mpdp":%s,"ratio":%s,"better":"%s","rounds":%d,"dpdk_rounds":%s,"mpdp_rounds":%s,"hugepages":%s}\n' \
				"$key" "$label" "$unit" "$(jnum "$d" 3)" "$(jnum "$m" 3)" \
				"$(jnum "$r" 3)" "$better" "$ROUNDS" \
				"$(side_rounds "$key" dpdk)" "$(side_rounds "$key" mpdp)" \
				"$( ((NO_HUGE)) && echo false || echo true)"
		else
			printf '| %s (%s) | %s | %s | %s | %s |\n' "$label" "$unit" "$(fmt "$d" "$unit")" \
				"$(fmt "$m" "$unit")" "$([[ -n $r ]] && printf '%.2f' "$r" || echo n/a)" "$better"
		fi
	done
}

print_notes() {
	local n scale
	scale=$(awk '{ printf "%s/%s kHz (x%.2f)\n", $2, $3, $4 }' "$WORK/mempool-scale" 2>/dev/null | sort -u | paste -sd, - || true)
	echo
	echo "Notes:"
	echo "- ratio: the median of the per-round ratios, so it need not equal the quotient of the two medians when rounds differ a lot."
	echo "- ring 1-core burst/bulk: DPDK 22.11 prints cycles per enqueue+dequeue of the whole burst; divided here by the burst size to get cycles per element, as mpdp prints."
	echo "- ring 2-core: enqueuing core's cycles per element + dequeuing core's cycles per element, on both sides. Both time 2^15 bulk operations per case (a few milliseconds), so a vCPU descheduled by the host weighs the same on both."
	echo "- mempool: DPDK's rate_persec counts objects taken and returned once each, per second, all cores together = mpdp's M objs/s x 1e6. DPDK ran with its clock sped up x$SPEEDUP by libfaketime (~$((5000 / SPEEDUP)) ms per case instead of 5 s; mpdp: 500 ms per case); rates corrected by EAL's unscaled/scaled TSC calibration${scale:+: $scale}."
	echo "- attach: DPDK = exec to exit of \`dpdk-proc-info --proc-type=secondary -- --stats\` against a dpdk-testpmd primary, timed by the script (includes fork, stats and EAL cleanup), median of $ATTACH_RUNS per round; mpdp = exec to exit of an mpdp-bench child that attaches and looks up a ring and a pool, timed by mpdp-bench around the child, median of 20 per round (exec to attached alone: see mpdp-bench attach)."
	((NO_HUGE)) && echo "- --no-huge: DPDK's attach is n/a (a DPDK secondary cannot attach to a --no-huge primary); mpdp attaches on tmpfs."
	((MPDP_TMPFS)) && echo "- WARNING: mpdp-bench fell back to tmpfs in at least one run (hugepages ran out)."
	for n in "${NOTES[@]}"; do echo "- $n"; done
	return 0
}

# ---------------------------------------------------------------- main

main() {
	local round start took
	CMDLINE="tests/perf/compare-dpdk.sh${*:+ $*}"
	parse_args "$@"
	trap cleanup EXIT
	trap 'say "compare-dpdk: line $LINENO: \"$BASH_COMMAND\" failed (status $?)"' ERR
	trap 'exit 130' INT
	trap 'exit 143' TERM
	find_tools
	WORK=$(mktemp -d /tmp/compare-dpdk.XXXXXX)
	: > "$WORK/samples"
	setup_hugepages
	say "compare-dpdk: $ROUNDS rounds; hugepages: $HUGE_NOTE"
	start=$SECONDS
	LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
	for ((round = 1; round <= ROUNDS; round++)); do
		say "[round $round/$ROUNDS]"
		# The mempool scaling needs this round's unscaled EAL calibration,
		# which the ring run logs, so that one is always run.
		if ((round % 2)); then
			! wanted ring || { run_dpdk_ring "$round"; run_mpdp ring "$round"; }
			! wanted mempool || { run_dpdk_mempool "$round"; run_mpdp mempool "$round"; }
			! wanted attach || { run_dpdk_attach "$round"; run_mpdp attach "$round"; }
			! wanted fwd || { run_dpdk_fwd "$round"; run_mpdp fwd "$round"; }
			! wanted pipeline || { run_dpdk_pipeline "$round"; run_mpdp_pipeline "$round"; }
		else
			! wanted ring || { run_mpdp ring "$round"; run_dpdk_ring "$round"; }
			! wanted mempool || { run_mpdp mempool "$round"; run_dpdk_mempool "$round"; }
			! wanted attach || { run_mpdp attach "$round"; run_dpdk_attach "$round"; }
			! wanted fwd || { run_mpdp fwd "$round"; run_dpdk_fwd "$round"; }
			! wanted pipeline || { run_mpdp_pipeline "$round"; run_dpdk_pipeline "$round"; }
		fi
	done
	took=$((SECONDS - start))
	if ((JSON)); then
		print_header "$took" >&2
		print_table
		print_notes >&2
	else
		print_header "$took"
		print_table
		print_notes
	fi
}

main "$@"

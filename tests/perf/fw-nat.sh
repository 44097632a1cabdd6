#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# fw-nat.sh [BUILD_DIR] [--runs K] [--seconds S] [--only fw|nat]: the rate of
# mpdp-fw at 10, 1,000 and 10,000 rules and of mpdp-nat with 1,000 and
# 1,000,000 sessions, each a stage in its own process behind null ports:
#
#   null p0 (flows=F) -> primary (core 0) -> p0.rx -> STAGE (core 1) -> p1.tx -> null p1 (sink)
#
# A manual benchmark (`make bench`), never part of `make test`.
#
# * Firewall: rule sets from `fw-classify-bench gen N 1` (random prefixes,
#   ports, protocols), then `allow udp from 10.0.0.0/16 to any port 9`
#   (the traffic) and `default deny`: every packet is classified past the
#   random rules to the last one, and 65,536 flows are tracked.
# * NAT: --snat 10.0.0.0/8 onto 64 addresses, F flows = F sessions. The
#   sessions are made during the warm-up; the window measures translation.
# * The figure is the stage's packets in per second over the window (its
#   counters in shared memory, read by mpdp-stat --json), median of K runs,
#   each run a fresh primary and stage. The stage drops nothing it is given
#   (an output that is full is the sink's; it never is).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../../build}
[ $# -gt 0 ] && [ "${1#--}" = "$1" ] && shift
runs=5
seconds=3
only=
while [ $# -gt 0 ]; do
	case $1 in
	--runs) runs=$2; shift 2 ;;
	--seconds) seconds=$2; shift 2 ;;
	--only) only=$2; shift 2 ;;
	*) echo "fw-nat.sh: unknown argument '$1'" >&2; exit 2 ;;
	esac
done
primary=$build/primary/mpdp-primary
fw=$build/secondary/fw/mpdp-fw
nat=$build/secondary/nat/mpdp-nat
stat=$build/tools/mpdp-stat
gen=$build/tests/fw_classify/fw-classify-bench
for p in "$primary" "$fw" "$nat" "$stat" "$gen"; do
	[ -x "$p" ] || { echo "fw-nat.sh: $p not built (meson compile -C $build)" >&2; exit 1; }
done
[ "$(nproc)" -ge 2 ] || { echo "fw-nat.sh: needs two cores" >&2; exit 1; }
work=$(mktemp -d /tmp/mpdp-fwnat-XXXXXX)
name=fwnat-$$
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	rm -rf "$work"
}
trap cleanup EXIT

wait_line() {
	for _ in $(seq 400); do grep -qx "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done
	echo "fw-nat.sh: no '$2' in $1: $(cat "$1.err" 2>/dev/null | head -3)" >&2
	return 1
}

stage_in() {
	"$stat" --name "$name" --runtime-dir "$work" --json |
		python3 -c 'import json,sys; d=json.load(sys.stdin); print(sum(s["in_packets"] for s in d["stages"]))'
}

# one_run FLOWS STAGE_PROGRAM ARGS...: prints Mpps
one_run() {
	local flows=$1 t0 t1 c0 c1
	shift
	"$primary" --name "$name" --runtime-dir "$work" --mem 1536M -l 0 --pool mbuf,n=8192,cache=256 \
		--port "p0,driver=null,size=64,flows=$flows" --port p1,driver=null,no_rx=1 \
		>"$work/primary" 2>"$work/primary.err" </dev/null &
	local ppid=$!
	pids+=($ppid)
	wait_line "$work/primary" ready || return 1
	"$@" --name "$name" --runtime-dir "$work" --stage s1 --in "$IN" --out "$OUT"=p1.tx -l 1 \
		>"$work/stage" 2>"$work/stage.err" </dev/null &
	local spid=$!
	pids+=($spid)
	wait_line "$work/stage" ready || return 1
	sleep 1
	t0=$(date +%s%N); c0=$(stage_in)
	sleep "$seconds"
	t1=$(date +%s%N); c1=$(stage_in)
	kill -TERM "$spid"; wait "$spid" || true
	kill -TERM "$ppid"; wait "$ppid" || true
	python3 -c "print('%.2f' % (($c1 - $c0) / (($t1 - $t0) / 1e3)))"
}

median() { tr ' ' '\n' | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

# row LABEL FLOWS PROGRAM ARGS...
row() {
	local label=$1 flows=$2 figs=()
	shift 2
	local fig
	for _ in $(seq "$runs"); do
		fig=$(one_run "$flows" "$@") || { echo "fw-nat.sh: $label: a run failed" >&2; exit 1; }
		figs+=("$fig")
	done
	printf '| %s | %s | %s |\n' "$label" "$(echo "${figs[*]}" | median)" "${figs[*]}"
}

echo "# fw-nat.sh: $(date -u +%F), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $runs runs of $seconds s"
echo
echo "| stage | Mpps (median) | runs |"
echo "|---|---|---|"
if [ "$only" != nat ]; then
	OUT=out IN=p0.rx
	for n in 10 1000 10000; do
		"$gen" gen "$n" 1 | grep -v '^default' >"$work/rules-$n"
		printf 'allow udp from 10.0.0.0/16 to any port 9\ndefault deny\n' >>"$work/rules-$n"
		# The generated rules send some traffic `to mon`: that output goes to the sink too.
		row "mpdp-fw, $n rules (+2)" 65536 "$fw" --rules "$work/rules-$n" --max-conns 131072 \
			--out mon=p1.tx
	done
fi
if [ "$only" != fw ]; then
	OUT=outside IN=inside=p0.rx
	for s in 1000 1000000; do
		row "mpdp-nat, $s sessions" "$s" "$nat" --snat 10.0.0.0/8=192.0.2.0-192.0.2.63:1024-65535 \
			--max-sessions 2097152
	done
fi

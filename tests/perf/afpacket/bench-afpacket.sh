#!/usr/bin/env bash
# bench-afpacket.sh [BUILD_DIR] [RUNS] [SECONDS]
#
# mpdp's af_packet port against a plain TPACKET_V3 program (afp-plain.c,
# built here with cc) on the same path: a veth pair vX/vY between two
# network namespaces made for the run, 64-byte frames. The side under
# test runs on CPU 0, the traffic peer on CPU 1.
#
#   rx: afp-plain tx floods vY; in X either mpdp-primary with
#       --port wire,driver=af_packet,iface=vX --port sink,driver=null
#       --patch wire:sink (rate: wire's rx_packets per second), or
#       afp-plain rx vX (frames copied out of the ring per second).
#   tx: in X either mpdp-primary with --port src,driver=null,size=64,copy=1
#       --port wire,driver=af_packet,iface=vX --patch src:wire (rate: wire's
#       tx_packets per second, frames taken into the tx ring), or
#       afp-plain tx vX; afp-plain rx vY counts what arrives.
#
# Every rate is the median of per-second counts, the first (warm-up) and
# the last second left out: for mpdp from the counters the primary prints
# (--stats-period 1), for afp-plain counted by the program. The table gives
# for each case the median and the best of RUNS rounds, the four cases
# interleaved in each round, and the median over the rounds of the ratio
# mpdp/plain (each round's pair measured back to back), because the
# machine is small and shared. Prints Markdown. Root only; everything it
# makes is removed.
set -u
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../../../build}
runs=${2:-5}
secs=${3:-5}
primary=$build/primary/mpdp-primary
X=mpdp-benchX-$$
Y=mpdp-benchY-$$
tmp=$(mktemp -d /tmp/mpdp-afpbench-XXXXXX)
pids=()
made=()

cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
	for ns in "${made[@]}"; do ip netns del "$ns" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT

[ "$(id -u)" -eq 0 ] || { echo "bench-afpacket.sh: needs root" >&2; exit 1; }
[ -x "$primary" ] || { echo "bench-afpacket.sh: no $primary (build first)" >&2; exit 1; }
cc -O2 -Wall -Werror -o "$tmp/afp-plain" "$here/afp-plain.c" || exit 1
plain=$tmp/afp-plain
for ns in "$X" "$Y"; do
	ip netns add "$ns" || exit 1
	made+=("$ns")
	ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
done
ip link add vX netns "$X" type veth peer name vY netns "$Y" || exit 1
ip -n "$X" link set vX up && ip -n "$Y" link set vY up || exit 1

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# Start the primary in X with the given --port/--patch arguments; wait for "ready".
start_primary() {
	: >"$tmp/p.out"
	ip netns exec "$X" "$primary" --name "afpbench-$$" --runtime-dir "$tmp" --no-huge --mem 256M -l 0 \
		--stats-period 1 "$@" >"$tmp/p.out" 2>"$tmp/p.err" &
	ppid=$!
	pids+=("$ppid")
	for _ in $(seq 100); do grep -q '^ready$' "$tmp/p.out" && return 0; sleep 0.05; done
	echo "primary did not start: $(cat "$tmp/p.err")" >&2
	exit 1
}

stop_primary() {
	kill "$ppid"; wait "$ppid" 2>/dev/null
	pids=("${pids[@]/$ppid}")
}

# Median per-second delta of PORT's FIELD (rx or tx packets) in p.out, first and last left out.
counter_rate() {
	grep "^port $1 " "$tmp/p.out" | sed -E "s/.* $2 ([0-9]+) pkts.*/\\1/" |
		awk 'NR > 1 { print $1 - prev } { prev = $1 }' | sed '1d;$d' | median
}

mpdp_rx() {
	start_primary --port wire,driver=af_packet,iface=vX --port sink,driver=null --patch wire:sink
	ip netns exec "$Y" taskset -c 1 "$plain" tx vY $((secs + 3)) >"$tmp/gen.out"
	stop_primary
	echo "mpdp_rx $(counter_rate wire 'rx') gen $(awk '{print $2}' "$tmp/gen.out")" \
		"missed $(grep '^port wire ' "$tmp/p.out" | tail -1 | sed -E 's/.*missed ([0-9]+),.*/\1/')" >>"$tmp/raw"
}

plain_rx() {
	ip netns exec "$X" taskset -c 0 "$plain" rx vX $((secs + 2)) >"$tmp/rx.out" &
	local r=$!
	pids+=("$r")
	sleep 0.3
	ip netns exec "$Y" taskset -c 1 "$plain" tx vY $((secs + 1)) >"$tmp/gen.out"
	wait "$r"; pids=("${pids[@]/$r}")
	echo "plain_rx $(awk '{print $2}' "$tmp/rx.out") gen $(awk '{print $2}' "$tmp/gen.out")" \
		"missed $(awk '{print $8}' "$tmp/rx.out")" >>"$tmp/raw"
}

mpdp_tx() {
	ip netns exec "$Y" taskset -c 1 "$plain" rx vY $((secs + 3)) >"$tmp/rx.out" &
	local r=$!
	pids+=("$r")
	start_primary --port src,driver=null,size=64,copy=1 --port wire,driver=af_packet,iface=vX --patch src:wire
	sleep $((secs + 2))
	stop_primary
	wait "$r"; pids=("${pids[@]/$r}")
	echo "mpdp_tx $(counter_rate wire 'tx') peer $(awk '{print $2}' "$tmp/rx.out") peer_drops $(awk '{print $8}' "$tmp/rx.out")" >>"$tmp/raw"
}

plain_tx() {
	ip netns exec "$Y" taskset -c 1 "$plain" rx vY $((secs + 2)) >"$tmp/rx.out" &
	local r=$!
	pids+=("$r")
	sleep 0.3
	ip netns exec "$X" taskset -c 0 "$plain" tx vX $((secs + 1)) >"$tmp/tx.out"
	wait "$r"; pids=("${pids[@]/$r}")
	echo "plain_tx $(awk '{print $2}' "$tmp/tx.out") peer $(awk '{print $2}' "$tmp/rx.out") peer_drops $(awk '{print $8}' "$tmp/rx.out")" >>"$tmp/raw"
}

load0=$(cut -d' ' -f1-3 /proc/loadavg)
for i in $(seq "$runs"); do
	mpdp_rx; plain_rx; mpdp_tx; plain_tx
	echo "run $i of $runs done" >&2
done
load1=$(cut -d' ' -f1-3 /proc/loadavg)

m() { awk -v k="$1" -v f="$2" '$1 == k { print $f }' "$tmp/raw" | median | awk '{ printf "%.3f", $1 / 1e6 }'; }
best() { awk -v k="$1" -v f="$2" '$1 == k && $f > b { b = $f } END { printf "%.3f", b / 1e6 }' "$tmp/raw"; }
# Median over the rounds of mpdp/plain, the two measured back to back in each round.
ratio() {
	awk -v a="$1" -v b="$2" -v f="$3" '$1 == a { x = $f } $1 == b { if (x > 0 && $f > 0) print x / $f }' "$tmp/raw" |
		median | awk '{ printf "%.2f", $1 }'
}
drops() { awk -v k="$1" -v f="$2" '$1 == k { s += $f } END { printf "%d", s }' "$tmp/raw"; }

echo "## AF_PACKET on a veth pair, 64-byte frames"
echo
echo "$(date -u '+%Y-%m-%d %H:%M UTC'); $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) vCPUs," \
	"Linux $(uname -r); side under test on CPU 0, peer on CPU 1; $runs rounds of ${secs} s, the four cases" \
	"interleaved in each; load average before/after: $load0 / $load1."
echo "Command: \`tests/perf/afpacket/bench-afpacket.sh $build $runs $secs\`"
echo
echo "| Mpps, 64-byte frames | mpdp median | plain median | mpdp best | plain best | mpdp/plain (median of rounds) |"
echo "|---|---:|---:|---:|---:|---:|"
echo "| rx: frames taken from the rx ring | $(m mpdp_rx 2) | $(m plain_rx 2) | $(best mpdp_rx 2) | $(best plain_rx 2) | $(ratio mpdp_rx plain_rx 2) |"
echo "| rx: what the peer's tx ring offered | $(m mpdp_rx 4) | $(m plain_rx 4) | $(best mpdp_rx 4) | $(best plain_rx 4) | $(ratio mpdp_rx plain_rx 4) |"
echo "| tx: frames taken into the tx ring | $(m mpdp_tx 2) | $(m plain_tx 2) | $(best mpdp_tx 2) | $(best plain_tx 2) | $(ratio mpdp_tx plain_tx 2) |"
echo "| tx: frames arriving at the peer | $(m mpdp_tx 4) | $(m plain_tx 4) | $(best mpdp_tx 4) | $(best plain_tx 4) | $(ratio mpdp_tx plain_tx 4) |"
echo
echo "Kernel rx ring drops over all rounds (the reader was descheduled): rx case, the side under test:" \
	"mpdp $(drops mpdp_rx 6), plain $(drops plain_rx 6); tx case, the peer's receiver: mpdp $(drops mpdp_tx 6)," \
	"plain $(drops plain_tx 6)."
echo
echo "<details><summary>raw runs (packets per second)</summary>"
echo
sed 's/^/    /' "$tmp/raw"
echo
echo "</details>"

#!/usr/bin/env bash
# make demo: replay tools/traffic/demo.pcap through the real product. A
# primary owns a pcap port that replays the file (loop and pps below) and
# a pcap port that records what comes out; mpdp-fw (tools/traffic/demo.rules,
# with connection tracking), mpdp-nat (translates the inside networks'
# sources) and mpdp-mon (counts protocols, sizes and flows) run as separate
# processes chained by rings; mpdp-stat shows the counters live. At the end:
# the summary, the stages' reports, and the output file checked.
#
# usage: tools/demo.sh [BUILD_DIR]
# env:   MPDP_DEMO_LOOP  passes over the file (default 40, at least 1)
#        MPDP_DEMO_PPS   packets per second, 0 for full speed (default 40000)
#
# Everything it starts is stopped by PID when it exits or on Ctrl-C. The
# instance files and logs are removed; the output pcap is kept (its path is
# printed) unless the demo fails or is interrupted.
set -euo pipefail

build=${1:-build}
src=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
traffic=$src/tools/traffic/demo.pcap
loop=${MPDP_DEMO_LOOP:-40}
pps=${MPDP_DEMO_PPS:-40000}
name=demo-$$
primary=$build/primary/mpdp-primary
fw=$build/secondary/fw/mpdp-fw
nat=$build/secondary/nat/mpdp-nat
rules=$src/tools/traffic/demo.rules
mon=$build/secondary/mon/mpdp-mon
stat=$build/tools/mpdp-stat

die() { echo "demo: $*" >&2; exit 1; }
[[ $loop =~ ^[0-9]+$ && $loop -ge 1 ]] || die "MPDP_DEMO_LOOP=$loop: expected a number of passes, 1 or more"
[[ $pps =~ ^[0-9]+$ ]] || die "MPDP_DEMO_PPS=$pps: expected packets per second, or 0 for full speed"
for exe in "$primary" "$fw" "$nat" "$mon" "$stat"; do
	[ -x "$exe" ] || die "$exe is not built (make build)"
done
[ -r "$traffic" ] || die "$traffic is missing (tools/gen-traffic.sh makes it)"

tmp=$(mktemp -d /tmp/mpdp-demo-XXXXXX)
rundir=$tmp/run
out=$tmp/out.pcap
keep_out=0
pids=()
cleanup() {
	local pid
	trap - EXIT INT TERM
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
	if [ "$keep_out" = 1 ]; then
		find "$tmp" -mindepth 1 ! -path "$out" -delete
	else
		rm -rf "$tmp"
	fi
}
trap cleanup EXIT
trap 'echo; echo "demo: interrupted"; exit 130' INT TERM

# wait_ready FILE PID WHAT: until FILE says "ready" (10 s at most)
wait_ready() {
	for _ in $(seq 200); do
		grep -q '^ready$' "$1" 2>/dev/null && return 0
		kill -0 "$2" 2>/dev/null || break
		sleep 0.05
	done
	echo "demo: $3 did not start:" >&2
	sed 's/^/   /' "${1%.out}.err" >&2
	exit 1
}

# The first two cores this process may use: the primary's I/O worker on one,
# both stages on the other (they yield when idle); one core: all share it.
read -r -a cores < <(sed -n 's/^Cpus_allowed_list:[[:space:]]*//p' /proc/self/status |
	tr ',' '\n' | awk -F- '{ for (c = $1; c <= ($2 == "" ? $1 : $2); c++) if (n++ < 2) printf "%d ", c } END { print "" }')
primary_core=${cores[0]:-0}
stage_core=${cores[1]:-$primary_core}

rate="$pps pps"
[ "$pps" -ne 0 ] || rate="full speed"
echo "== mpdp demo: $(basename "$traffic") x $loop at $rate -> mpdp-fw -> mpdp-nat -> mpdp-mon -> out.pcap"
echo "   primary on core $primary_core, stages on core $stage_core; instance $name in $rundir"
# Huge pages when they can be had: the primary falls back to tmpfs by itself
# (one warning line) when there are none or the mount is not ours to write.
mkdir "$rundir"
"$primary" --name "$name" --runtime-dir "$rundir" -l "$primary_core" --mem 128M \
	--pool mbuf,n=8192,cache=256 \
	--port "in,driver=pcap,rx_pcap=$traffic,loop=$loop,pps=$pps" \
	--port "out,driver=pcap,tx_pcap=$out" \
	--until-eof >"$tmp/primary.out" 2>"$tmp/primary.err" &
ppid=$!
pids+=("$ppid")
wait_ready "$tmp/primary.out" "$ppid" mpdp-primary
sed 's/^/   primary: /' "$tmp/primary.err"
"$stat" --name "$name" --runtime-dir "$rundir" | sed -n '1s/^/   /p'   # where the memory is

# Downstream first, so the chain is whole when packets start to move.
# --backpressure: with a file source nothing needs to be dropped.
"$mon" --name "$name" --runtime-dir "$rundir" --stage mon -l "$stage_core" \
	--in mid --out out=out.tx --backpressure --report-on-exit --top 5 \
	>"$tmp/mon.out" 2>"$tmp/mon.err" &
mpid=$!
pids+=("$mpid")
wait_ready "$tmp/mon.out" "$mpid" mpdp-mon
"$nat" --name "$name" --runtime-dir "$rundir" --stage nat -l "$stage_core" \
	--inside lan --outside wan --out outside=mid --backpressure --report-on-exit \
	--snat 192.168.0.0/16=198.18.0.1-198.18.0.4 --snat 10.0.0.0/8=198.18.0.5 \
	>"$tmp/nat.out" 2>"$tmp/nat.err" &
npid=$!
pids+=("$npid")
wait_ready "$tmp/nat.out" "$npid" mpdp-nat
"$fw" --name "$name" --runtime-dir "$rundir" --stage fw -l "$stage_core" \
	--in in.rx --out out=lan --rules "$rules" --backpressure --report-on-exit \
	>"$tmp/fw.out" 2>"$tmp/fw.err" &
fpid=$!
pids+=("$fpid")
wait_ready "$tmp/fw.out" "$fpid" mpdp-fw
echo "   in.rx -> mpdp-fw (pid $fpid, $(grep -vc '^#' "$rules") rules) -> lan -> mpdp-nat (pid $npid) -> mid -> mpdp-mon (pid $mpid) -> out.tx"
echo

# Live until the primary exits (every packet read and delivered), then the summary.
"$stat" --name "$name" --runtime-dir "$rundir" --watch 0.5

status=0
wait "$ppid" || status=$?
[ "$status" -eq 0 ] || { sed 's/^/   primary: /' "$tmp/primary.err"; die "mpdp-primary exited $status"; }
for pid in "$fpid" "$npid" "$mpid"; do
	wait "$pid" || die "a stage exited $?: $(cat "$tmp/fw.err" "$tmp/nat.err" "$tmp/mon.err")"
done
pids=()

echo
echo "== the stages, as they stopped"
for log in fw nat mon; do
	awk 'seen { print "   " $0 } /^ready$/ { seen = 1 }' "$tmp/$log.out"
done

# Count the output's records with the product itself: replay it into a sink.
# What reached mon is what the firewall and the NAT did not drop.
sent=$(sed -n 's/^mpdp-mon mon: in \([0-9]*\) pkts.*/\1/p' "$tmp/mon.out")
"$primary" --name "$name-check" --runtime-dir "$rundir" -l "$primary_core" --no-huge --mem 64M \
	--pool mbuf,n=2048,cache=64 --port "chk,driver=pcap,rx_pcap=$out" \
	--port sink,driver=null,no_rx=1 --patch chk:sink --until-eof \
	>"$tmp/check.out" 2>"$tmp/check.err" || die "cannot read back $out: $(cat "$tmp/check.err")"
got=$(sed -n 's/^port chk .* rx \([0-9]*\) pkts.*/\1/p' "$tmp/check.out")
echo "== output"
if [ -z "$sent" ] || [ "$got" != "$sent" ]; then
	die "$out holds ${got:-?} packets, but mon passed ${sent:-?}"
fi
keep_out=1
echo "   $out: $got packets, every one mon passed on ($(du -h "$out" | cut -f1))"
echo "   kept for you to look at (e.g. tcpdump -e -r $out | head); remove it with: rm -r $tmp"

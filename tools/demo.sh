#!/usr/bin/env bash
# make demo: a primary, then two secondary processes that push numbered
# packets through a pair of rings, back and forth, and check every one.
set -euo pipefail

build=${1:-build}
name=demo-$$
rundir=$(mktemp -d /tmp/mpdp-demo-XXXXXX)
count=${MPDP_DEMO_COUNT:-20000000}
pids=()

cleanup() {
	for pid in "${pids[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${pids[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	rm -rf "$rundir"
}
trap cleanup EXIT

cores=$(nproc)
ping_core=0
pong_core=$((cores > 1 ? 1 : 0))

echo "== mpdp demo: primary + two secondaries, $count packets through rings 'ping' and 'pong'"
echo "== starting mpdp-primary --name $name"
"$build/primary/mpdp-primary" --name "$name" --runtime-dir "$rundir" --log-level info \
	--pool mbuf,n=8192,cache=256,dataroom=2048 \
	--ring ping,size=1024,sp,sc --ring pong,size=1024,sp,sc \
	>"$rundir/primary.out" 2>"$rundir/primary.err" &
pids+=($!)
for _ in $(seq 100); do
	grep -q '^ready$' "$rundir/primary.out" 2>/dev/null && break
	kill -0 "${pids[0]}" 2>/dev/null || { cat "$rundir/primary.err"; exit 1; }
	sleep 0.05
done
grep -q '^ready$' "$rundir/primary.out" || { echo "primary did not become ready"; cat "$rundir/primary.err"; exit 1; }
sed 's/^/   primary: /' "$rundir/primary.err"

echo "== starting mpdp-pingpong --role pong on core $pong_core (a separate process)"
"$build/secondary/mpdp-pingpong" --name "$name" --runtime-dir "$rundir" --role pong -l "$pong_core" \
	>"$rundir/pong.out" 2>&1 &
pids+=($!)

echo "== running mpdp-pingpong --role ping on core $ping_core"
"$build/secondary/mpdp-pingpong" --name "$name" --runtime-dir "$rundir" --role ping -l "$ping_core" \
	--count "$count"
status=$?

kill "${pids[1]}"
wait "${pids[1]}" || true
sed 's/^/   /' "$rundir/pong.out"
echo "== stopping the primary; it removes the instance's files"
kill "${pids[0]}"
wait "${pids[0]}" || true
pids=()
exit $status

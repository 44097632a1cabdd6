#!/usr/bin/env bash
# Integration: a real mpdp-primary and two real secondaries (ping and pong
# processes) push numbered packets both ways through shared rings; every
# packet must come back intact and in order, and every mbuf return to the
# pool. Then the primary stops and must leave no file behind. TAP output.
set -u
bin=$1
rundir=$(mktemp -d /tmp/mpdp-pp-XXXXXX)
name=pp-$$
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
	rm -rf "$rundir"
}
trap cleanup EXIT
echo "1..4"

"$bin/primary/mpdp-primary" --name "$name" --runtime-dir "$rundir" --no-huge --mem 64M \
	--pool mbuf,n=4096,cache=128 --ring ping,size=512 --ring pong,size=512 \
	>"$rundir/p.out" 2>"$rundir/p.err" &
pids+=($!)
for _ in $(seq 200); do grep -q '^ready$' "$rundir/p.out" && break; sleep 0.05; done
if grep -q '^ready$' "$rundir/p.out"; then echo "ok 1 - primary ready"; else echo "not ok 1 - primary ready: $(cat "$rundir/p.err")"; exit 1; fi

"$bin/secondary/mpdp-pingpong" --name "$name" --runtime-dir "$rundir" --role pong >"$rundir/pong.out" 2>&1 &
pids+=($!)
out=$("$bin/secondary/mpdp-pingpong" --name "$name" --runtime-dir "$rundir" --role ping --count 300000 --burst 17 2>&1)
rc=$?
echo "$out" | sed 's/^/# /'
if [ $rc -eq 0 ] && grep -q 'received 300000, lost 0, corrupt or out of order 0' <<<"$out"; then
	echo "ok 2 - 300000 packets there and back, none lost, corrupt or reordered"
else
	echo "not ok 2 - ping failed (rc $rc)"
fi
kill "${pids[1]}"; wait "${pids[1]}"
if grep -q 'bounced 300000 packets' "$rundir/pong.out" && grep -q 'in use: 0 before, 0 after' <<<"$out"; then
	echo "ok 3 - pong bounced them all and every mbuf is back in the pool"
else
	echo "not ok 3 - pong: $(cat "$rundir/pong.out")"
fi
kill "${pids[0]}"; wait "${pids[0]}"; prc=$?
pids=()
left=$(find "$rundir" -mindepth 1 ! -name '*.out' ! -name '*.err'; ls /dev/shm | grep -F "mpdp.$name." || true)
if [ $prc -eq 0 ] && [ -z "$left" ]; then
	echo "ok 4 - primary exited 0 on SIGTERM and removed its files"
else
	echo "not ok 4 - primary rc $prc, left: $left"
fi

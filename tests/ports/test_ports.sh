#!/usr/bin/env bash
# The port layer through the real mpdp-primary: every bad device argument
# ends the program with a non-zero exit and a message naming the port and
# the key (never a crash or a sanitizer report, and no instance file left),
# then two good runs: null ports patched both ways under --stats-period, and
# ring ports that a helper process feeds and drains through shared rings,
# every mbuf back in the pool at the end. Each primary runs in a network
# namespace of its own when unshare works (the tap and af_packet cases need
# it and are skipped without it). TAP output.
set -u
bin=$1
primary=$bin/primary/mpdp-primary
client=$bin/tests/ports/ring_client
rundir=$(mktemp -d /tmp/mpdp-ports-XXXXXX)
files=$(mktemp -d /tmp/mpdp-ports-files-XXXXXX)
pid=
cleanup() {
	if [ -n "$pid" ]; then kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; fi
	rm -rf "$rundir" "$files"
}
trap cleanup EXIT

netns=()
if unshare --net true 2>/dev/null; then netns=(unshare --net --); fi
# A core this process may run on, for -l, and one that is not in that list.
core=$(sed -n 's/^Cpus_allowed_list:[[:space:]]*\([0-9]*\).*/\1/p' /proc/self/status)
other=$((core + 1))

n=0
fail=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
notok() { n=$((n + 1)); echo "not ok $n - $*"; fail=$((fail + 1)); }

# expect_error 'NEEDLE1|NEEDLE2' ARGS...: non-zero exit, both needles in the output
expect_error() {
	local needles=$1 out rc miss=
	shift
	out=$("${netns[@]}" "$primary" --runtime-dir "$rundir" --name "ports-$$-$n" --no-huge --mem 32M \
		--pool mbuf,n=1024,cache=32 "$@" 2>&1 </dev/null)
	rc=$?
	IFS='|' read -r -a list <<<"$needles"
	for needle in "${list[@]}"; do grep -qF -- "$needle" <<<"$out" || miss="$miss '$needle'"; done
	left=$(find "$rundir" -mindepth 1 | head -3)
	if [ "$rc" -eq 0 ] || [ "$rc" -ge 128 ] || grep -q 'Sanitizer' <<<"$out" || [ -n "$miss" ] ||
	   [ -n "$left" ]; then
		notok "$* -> rc $rc, missing:${miss:- none}, left: ${left:-nothing}; got: $(head -3 <<<"$out")"
	else
		ok "$* -> rc $rc: $(grep -v '^mpdp-primary: see --help' <<<"$out" | head -1)"
	fi
}
skip_case() { n=$((n + 1)); echo "ok $n # SKIP $*"; }

echo "1..30"
expect_error "port p0: unknown driver 'bogus'|driver" --port p0,driver=bogus
expect_error "port p0: missing driver=" --port p0
expect_error "port p0: missing driver=" --port p0,size=64
expect_error "port n0: unknown key 'colour' (driver null)" --port n0,driver=null,colour=red
expect_error "port r0: unknown key 'colour' (driver ring)" --port r0,driver=ring,rx=a,colour=red
expect_error "port c0: unknown key 'colour' (driver pcap)" --port "c0,driver=pcap,tx_pcap=$files/out.pcap,colour=red"
if [ ${#netns[@]} -gt 0 ]; then
	expect_error "port a0: unknown key 'colour' (driver af_packet)" --port a0,driver=af_packet,iface=lo,colour=red
	expect_error "port t0: unknown key 'colour' (driver tap)" --port t0,driver=tap,iface=mpdpt0,colour=red
else
	skip_case "af_packet unknown key: no network namespace (unshare --net)"
	skip_case "tap unknown key: no network namespace (unshare --net)"
fi
expect_error "port n0: size=5 is not a number from 14 to" --port n0,driver=null,size=5
expect_error "port n0: size=99999 is not a number from 14 to" --port n0,driver=null,size=99999
expect_error "port n0: copy=2 is not a number from 0 to 1" --port n0,driver=null,copy=2
expect_error "port n0: lcore=abc is not a number" --port n0,driver=null,lcore=abc
expect_error "port r0: the ring driver needs rx=RING, tx=RING or both" --port r0,driver=ring
expect_error "port r0: size=1000 is not a power of two" --port r0,driver=ring,rx=a,size=1000
expect_error "port r0: rx= needs a value" --port r0,driver=ring,rx=
expect_error "port t0: iface=abcdefghijklmnop is longer than 15 characters" --port t0,driver=tap,iface=abcdefghijklmnop
expect_error "port t0: the tap driver needs iface=NAME" --port t0,driver=tap
expect_error "port t0: queues=9 is not a number from 1 to 8" --port t0,driver=tap,iface=mpdpt0,queues=9
# The pcap and af_packet drivers word these themselves: port, key and what is wrong.
expect_error "port c0|rx_pcap=/nonexistent" --port c0,driver=pcap,rx_pcap=/nonexistent
if [ ${#netns[@]} -gt 0 ]; then
	expect_error "port a0|iface=nosuch0" --port a0,driver=af_packet,iface=nosuch0
else
	skip_case "af_packet iface=nosuch0: no network namespace (unshare --net)"
fi
expect_error "port n0: a port of that name exists" --port n0,driver=null --port n0,driver=null
expect_error "--patch n0:zz: no port named zz" --port n0,driver=null --patch n0:zz
expect_error "--patch zz:n0: no port named zz" --port n0,driver=null --patch zz:n0
expect_error "--patch 'n0:n0': a port cannot be patched to itself" --port n0,driver=null --patch n0:n0
expect_error "port n0: lcore=$other is not one of the -l cores" -l "$core" --port "n0,driver=null,lcore=$other"
many=()
for i in $(seq 0 32); do many+=(--port "n$i,driver=null"); done
expect_error "--port: at most 32 ports" "${many[@]}"

# start_primary OUT ARGS...: run it in the background, wait for "ready"
start_primary() {
	local out=$1
	shift
	"${netns[@]}" "$primary" --runtime-dir "$rundir" --name "ports-$$-$n" --no-huge --mem 64M "$@" \
		>"$out" 2>"$out.err" </dev/null &
	pid=$!
	for _ in $(seq 200); do grep -q '^ready$' "$out" && return 0; sleep 0.05; done
	return 1
}
# field FILE PORT rx|tx|drops|missed: from the last summary line of PORT
field() {
	local line
	line=$(grep "^port $2 " "$1" | tail -1)
	case $3 in
	rx) sed -n 's/.* rx \([0-9]*\) pkts.*/\1/p' <<<"$line" ;;
	tx) sed -n 's/.* | tx \([0-9]*\) pkts.*/\1/p' <<<"$line" ;;
	drops) sed -n 's/.* drops \([0-9]*\).*/\1/p' <<<"$line" ;;
	missed) sed -n 's/.* missed \([0-9]*\),.*/\1/p' <<<"$line" ;;
	esac
}
stop_primary() {
	local rc
	kill -TERM "$pid"
	wait "$pid"
	rc=$?
	pid=
	return $rc
}

# Null ports patched both ways: every packet one receives, the other sends.
out=$files/null.out
if start_primary "$out" --pool mbuf,n=4096,cache=64 --port n0,driver=null --port n1,driver=null \
	--patch n0:n1 --patch n1:n0 --stats-period 1; then
	sleep 2.3
	periodic=$(grep -c '^port n0 ' "$out")
	stop_primary; rc=$?
	sed 's/^/# /' "$out" | tail -2
	if [ $rc -eq 0 ] && [ "$periodic" -ge 2 ] && [ "$(field "$out" n0 rx)" -gt 0 ] &&
	   [ "$(field "$out" n0 rx)" -eq "$(field "$out" n1 tx)" ] &&
	   [ "$(field "$out" n1 rx)" -eq "$(field "$out" n0 tx)" ] &&
	   [ "$(field "$out" n0 drops)" -eq 0 ] && [ "$(field "$out" n1 drops)" -eq 0 ] &&
	   [ "$(field "$out" n0 missed)" -eq 0 ] && [ "$(field "$out" n1 missed)" -eq 0 ]; then
		ok "null ports patched both ways: exit 0 on SIGTERM, $periodic stats lines, n0 rx = n1 tx = $(field "$out" n0 rx), n1 rx = n0 tx, no drops"
	else
		notok "null ports: rc $rc, $periodic stats lines: $(tail -2 "$out") $(cat "$out.err")"
	fi
else
	notok "null ports: primary not ready: $(cat "$out.err")"
	stop_primary
fi
[ -z "$(find "$rundir" -mindepth 1)" ] && ok "no instance file left after the null run" ||
	notok "left after the null run: $(find "$rundir" -mindepth 1)"

# Ring ports: in -> r0 -> (patch) -> r1 -> ring mid -> r1 -> (patch) -> r0 -> out.
count=100000
out=$files/ring.out
if start_primary "$out" --pool mbuf,n=4096,cache=64 --port r0,driver=ring,rx=in,tx=out \
	--port r1,driver=ring,rx=mid,tx=mid --patch r0:r1 --patch r1:r0; then
	cout=$("$client" "ports-$$-$n" "$rundir" "$count" 2>&1); crc=$?
	echo "# $cout"
	stop_primary; rc=$?
	sed 's/^/# /' "$out" | tail -2
	if [ $crc -eq 0 ] && [ $rc -eq 0 ] &&
	   [ "$(field "$out" r0 rx)" -eq $count ] && [ "$(field "$out" r1 tx)" -eq $count ] &&
	   [ "$(field "$out" r1 rx)" -eq $count ] && [ "$(field "$out" r0 tx)" -eq $count ] &&
	   [ "$(field "$out" r0 drops)" -eq 0 ] && [ "$(field "$out" r1 drops)" -eq 0 ]; then
		ok "ring ports: $count stamped mbufs through r0 and r1 and back, intact and in order, every mbuf back in the pool; counters agree"
	else
		notok "ring ports: client rc $crc ($cout), primary rc $rc: $(tail -2 "$out") $(cat "$out.err")"
	fi
else
	notok "ring ports: primary not ready: $(cat "$out.err")"
	stop_primary
fi
[ -z "$(find "$rundir" -mindepth 1)" ] && ok "no instance file left after the ring run" ||
	notok "left after the ring run: $(find "$rundir" -mindepth 1)"
[ "$n" -eq 30 ] || echo "# planned 30 cases, ran $n"

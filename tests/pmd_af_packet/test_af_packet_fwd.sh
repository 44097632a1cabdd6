#!/usr/bin/env bash
# Integration: the real mpdp-primary forwards between two af_packet ports.
#
#   ns B: vethB ---- vethA (port wire)  ns A: mpdp-primary  vethA2 (port wire2) ---- vethB2 :ns C
#
# with --patch wire:wire2 --patch wire2:wire. afp-send in B (or C) sends
# marked frames; afp-recv in C (or B) checks that exactly those arrive,
# each once and byte for byte. Then with queues=2 (fanout). Then the
# runtime failure: vethB is deleted while the primary runs; the primary
# stays up, logs the link down and shows it in its counters, wire2 keeps
# receiving; vethB is created again under the same name and wire comes
# back and forwards again. The namespaces carry the PID and are deleted,
# with every process started, on exit. TAP output; "1..0 # SKIP" when
# network namespaces cannot be made.
set -u
bin=$1
primary=$bin/primary/mpdp-primary
send=$bin/tests/pmd_af_packet/afp-send
recv=$bin/tests/pmd_af_packet/afp-recv
A=mpdp-afpA-$$
B=mpdp-afpB-$$
C=mpdp-afpC-$$
name=afp-$$
tmp=$(mktemp -d /tmp/mpdp-afp-XXXXXX)
N=20000
# Paced, with 8 MiB rx rings: the primary may be starved of CPU for a few
# hundred ms on a busy 2-vCPU machine without the kernel dropping frames.
RATE=25000
RING=",blockcnt=128"
pids=()
ppid=
made_ns=()

cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
	for ns in "${made_ns[@]}"; do ip netns del "$ns" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT

skip() { echo "1..0 # SKIP $*"; exit 0; }
[ "$(id -u)" -eq 0 ] || skip "needs root (network namespaces, veth, AF_PACKET)"
command -v ip >/dev/null || skip "needs iproute2 (ip)"
for ns in "$A" "$B" "$C"; do
	ip netns add "$ns" 2>/dev/null || skip "cannot create network namespaces (ip netns add)"
	made_ns+=("$ns")
	# No IPv6 chatter on the test links; lo up for nothing else to complain.
	ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 \
		>/dev/null 2>&1
	ip -n "$ns" link set lo up
done

wire_up() {
	ip link add vethA netns "$A" type veth peer name vethB netns "$B" &&
	ip -n "$A" link set vethA up && ip -n "$B" link set vethB up
}
wire_up || skip "cannot create a veth pair between namespaces"
ip link add vethA2 netns "$A" type veth peer name vethB2 netns "$C" &&
	ip -n "$A" link set vethA2 up && ip -n "$C" link set vethB2 up ||
	skip "cannot create a veth pair between namespaces"

echo "1..16"
t=0
ok() { t=$((t + 1)); echo "ok $t - $*"; }
notok() { t=$((t + 1)); echo "not ok $t - $*"; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else notok "$what"; fi; }

# wait_for FILE REGEX SECONDS
wait_for() {
	local i
	for i in $(seq $(($3 * 20))); do grep -qE "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done
	return 1
}

# start_primary EXTRA_DEVARGS: the primary in A, stats every second
start_primary() {
	: >"$tmp/p.out"; : >"$tmp/p.err"
	mkdir -p "$tmp/run"
	ip netns exec "$A" "$primary" --name "$name" --runtime-dir "$tmp/run" --no-huge --mem 128M \
		--stats-period 1 \
		--port "wire,driver=af_packet,iface=vethA$RING$1" --port "wire2,driver=af_packet,iface=vethA2$RING$1" \
		--patch wire:wire2 --patch wire2:wire >"$tmp/p.out" 2>"$tmp/p.err" &
	ppid=$!
	pids+=("$ppid")
	wait_for "$tmp/p.out" '^ready$' 10
}

stop_primary() {
	local rc
	kill "$ppid"
	wait "$ppid"
	rc=$?
	pids=("${pids[@]/$ppid}")
	return $rc
}

# forward FROM_NS FROM_IF TO_NS TO_IF RUN FLOWS: N frames across, exactly N must arrive intact
forward() {
	local rpid
	ip netns exec "$3" "$recv" -i "$4" -n $N -r "$5" -f "$6" -t 20000 -q 500 >"$tmp/recv.out" 2>&1 &
	rpid=$!
	pids+=("$rpid")
	wait_for "$tmp/recv.out" '^ready$' 5 || { echo "# receiver not ready: $(cat "$tmp/recv.out")"; return 1; }
	ip netns exec "$1" "$send" -i "$2" -n $N -r "$5" -f "$6" -p $RATE >/dev/null || return 1
	wait "$rpid"
	local rc=$?
	pids=("${pids[@]/$rpid}")
	echo "# $(grep received "$tmp/recv.out")"
	return $rc
}

# counter PORT FIELD: from the latest stats line; FIELD one of rx tx missed rxerr txerr drops link
counter() {
	grep "^port $1 " "$tmp/p.out" | tail -1 | sed -E \
		's/^port +[^ ]+ +[^ ]+ +link ([a-z]+) +rx ([0-9]+) pkts [0-9]+ bytes, missed ([0-9]+), errors ([0-9]+) \| tx ([0-9]+) pkts [0-9]+ bytes, errors ([0-9]+), drops ([0-9]+)$/link=\1 rx=\2 missed=\3 rxerr=\4 tx=\5 txerr=\6 drops=\7/' |
		tr ' ' '\n' | sed -n "s/^$2=//p"
}

# wait_counter PORT FIELD MIN SECONDS: until the printed counter reaches MIN
wait_counter() {
	local i v
	for i in $(seq $(($4 * 10))); do
		v=$(counter "$1" "$2")
		[ -n "$v" ] && [ "$v" -ge "$3" ] 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# --- one queue per port
check "primary forwards between two af_packet ports (queues=1)" start_primary ""
check "$N frames B -> C through wire and wire2, each once and intact" forward "$B" vethB "$C" vethB2 1 64
check "$N frames C -> B through wire2 and wire, each once and intact" forward "$C" vethB2 "$B" vethB 2 64
wait_counter wire tx $N 5
echo "# $(grep '^port wire ' "$tmp/p.out" | tail -1)"
echo "# $(grep '^port wire2 ' "$tmp/p.out" | tail -1)"
check "port counters: wire and wire2 received and sent at least $N each, no errors or drops" \
	test "$(counter wire rx)" -ge $N -a "$(counter wire tx)" -ge $N -a \
	"$(counter wire2 rx)" -ge $N -a "$(counter wire2 tx)" -ge $N -a \
	"$(counter wire rxerr)$(counter wire txerr)$(counter wire drops)$(counter wire2 rxerr)$(counter wire2 txerr)$(counter wire2 drops)" = 000000
check "primary exits 0 on SIGTERM" stop_primary

# --- two queues per port (fanout)
check "primary starts with queues=2 on both ports" start_primary ",queues=2"
check "$N frames over 64 flows B -> C with queues=2, each once and intact" forward "$B" vethB "$C" vethB2 3 64
check "$N frames over 64 flows C -> B with queues=2, each once and intact" forward "$C" vethB2 "$B" vethB 4 64

# --- the wire's interface disappears while forwarding
ip netns exec "$B" "$send" -i vethB -n 1000000 -r 99 -p 50000 >/dev/null 2>&1 &
bg=$!
pids+=("$bg")
sleep 0.5
ip -n "$B" link del vethB
check "the primary logs the link of wire down" wait_for "$tmp/p.err" 'port wire: link down' 3
sleep 0.3
check "the primary is still running" kill -0 "$ppid"
for i in $(seq 30); do [ "$(counter wire link)" = down ] && break; sleep 0.1; done
echo "# $(grep '^port wire ' "$tmp/p.out" | tail -1)"
check "the counters show wire's link down" test "$(counter wire link)" = down
kill "$bg" 2>/dev/null; wait "$bg" 2>/dev/null; pids=("${pids[@]/$bg}")
# What wire2 receives goes to wire, which is down: the loop counts it as wire's tx drops.
drops0=$(counter wire drops)
ip netns exec "$C" "$send" -i vethB2 -n $N -r 5 -p $RATE >/dev/null
wait_counter wire drops $((drops0 + N)) 5
echo "# $(grep '^port wire ' "$tmp/p.out" | tail -1)"
check "wire2 keeps receiving: its $N frames are counted as wire's tx drops while wire is down" \
	test "$(counter wire drops)" -ge $((drops0 + N))

# --- the interface comes back under the same name
check "vethA/vethB created again" wire_up
check "the primary logs the link of wire back up" wait_for "$tmp/p.err" 'port wire: link back up' 5
check "$N frames B -> C again after the link came back, each once and intact" \
	forward "$B" vethB "$C" vethB2 6 64
stop_primary
prc=$?
left=$(find "$tmp/run" -mindepth 1 2>/dev/null; ls /dev/shm | grep -F "mpdp.$name." || true)
check "primary exits 0 and leaves no file (rc $prc)" test $prc -eq 0 -a -z "$left"
sed 's/^/# primary: /' "$tmp/p.err" | grep -v 'WARN: port wire: link' | head -20

#!/usr/bin/env bash
# Integration: the kernel on both sides of a real mpdp-primary. In a network
# namespace of its own the primary opens two tap ports patched to each
# other; each TAP is then moved into a namespace of its own and given an
# address there, and ICMP echo from mptap0's side to mptap1's side must be
# answered, through mpdp, both ways. The counters the primary prints at exit
# must show the packets. Everything (processes, namespaces, files) is
# removed by the trap. TAP output; skips without root, ip, TAP or netns.
set -u
bin=$1
ping_helper=$2
skip() { echo "1..0 # SKIP $*"; exit 0; }
[ "$(id -u)" -eq 0 ] || skip "needs root (network namespaces, TAP)"
command -v ip >/dev/null || skip "no ip command (iproute2)"
[ -c /dev/net/tun ] || skip "no /dev/net/tun"

tag=mpdp-tp$$
nsp=$tag-p nsa=$tag-a nsb=$tag-b
rundir=$(mktemp -d /tmp/mpdp-tapping-XXXXXX)
pid=
cleanup() {
	if [ -n "$pid" ]; then kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; fi
	for ns in "$nsp" "$nsa" "$nsb"; do ip netns del "$ns" 2>/dev/null; done
	rm -rf "$rundir"
}
trap cleanup EXIT
ip netns add "$nsp" 2>/dev/null || skip "cannot create a network namespace"
ip netns add "$nsa" && ip netns add "$nsb" || skip "cannot create network namespaces"
echo "1..6"
# No IPv6 chatter (router solicitations, MLD): only the pings and their ARP
# cross mpdp, so the counters below are exact and nothing meets a TAP that
# is down while it moves.
for ns in "$nsp" "$nsa" "$nsb"; do
	ip netns exec "$ns" sh -c 'for f in /proc/sys/net/ipv6/conf/default/disable_ipv6 \
		/proc/sys/net/ipv6/conf/all/disable_ipv6; do [ -w "$f" ] && echo 1 >"$f"; done; true'
done

ip netns exec "$nsp" "$bin/primary/mpdp-primary" --name "tp-$$" --runtime-dir "$rundir" --no-huge \
	--mem 64M --pool mbuf,n=2048,cache=64 \
	--port t0,driver=tap,iface=mptap0 --port t1,driver=tap,iface=mptap1 \
	--patch t0:t1 --patch t1:t0 >"$rundir/p.out" 2>"$rundir/p.err" &
pid=$!
for _ in $(seq 200); do grep -q '^ready$' "$rundir/p.out" && break; sleep 0.05; done
if grep -q '^ready$' "$rundir/p.out"; then
	echo "ok 1 - primary ready with tap ports t0 (mptap0) and t1 (mptap1), patched both ways"
else
	echo "not ok 1 - primary not ready: $(cat "$rundir/p.err")"
	exit 1
fi

# The TAPs keep working through the primary's descriptors once moved.
if ip -n "$nsp" link set mptap0 netns "$nsa" && ip -n "$nsp" link set mptap1 netns "$nsb" &&
   ip -n "$nsa" addr add 10.77.0.1/24 dev mptap0 && ip -n "$nsa" link set mptap0 up &&
   ip -n "$nsb" addr add 10.77.0.2/24 dev mptap1 && ip -n "$nsb" link set mptap1 up &&
   ip -n "$nsa" link set lo up && ip -n "$nsb" link set lo up; then
	echo "ok 2 - mptap0 in $nsa as 10.77.0.1, mptap1 in $nsb as 10.77.0.2"
else
	echo "not ok 2 - could not move or address the TAPs"
fi

out=$(ip netns exec "$nsa" "$ping_helper" 5 10.77.0.2 2>&1); rc=$?
echo "$out" | sed 's/^/# /'
if [ $rc -eq 0 ]; then echo "ok 3 - 5 echo requests from mptap0's side answered from mptap1's side"
else echo "not ok 3 - ping 10.77.0.2 from $nsa failed (rc $rc)"; fi

if command -v ping >/dev/null; then
	out=$(ip netns exec "$nsb" ping -c 5 -i 0.2 -W 2 10.77.0.1 2>&1); rc=$?
	echo "$out" | sed 's/^/# /'
	if [ $rc -eq 0 ] && grep -q ' 0% packet loss' <<<"$out"; then
		echo "ok 4 - ping -c 5 from mptap1's side answered from mptap0's side"
	else
		echo "not ok 4 - ping -c 5 10.77.0.1 from $nsb failed (rc $rc)"
	fi
else
	out=$(ip netns exec "$nsb" "$ping_helper" 5 10.77.0.1 2>&1); rc=$?
	echo "$out" | sed 's/^/# /'
	if [ $rc -eq 0 ]; then echo "ok 4 - 5 echo requests from mptap1's side answered (no iputils ping here)"
	else echo "not ok 4 - ping 10.77.0.1 from $nsb failed (rc $rc)"; fi
fi

kill -TERM "$pid"; wait "$pid"; prc=$?
pid=
sed 's/^/# /' "$rundir/p.out"
# count PORT rx|tx: packets in the exit summary line of PORT
count() {
	local line
	line=$(grep "^port $1 " "$rundir/p.out" | tail -1)
	if [ "$2" = rx ]; then sed -n 's/.* rx \([0-9]*\) pkts.*/\1/p' <<<"$line"
	else sed -n 's/.* | tx \([0-9]*\) pkts.*/\1/p' <<<"$line"; fi
}
ok=1
for p in t0 t1; do
	for d in rx tx; do
		c=$(count $p $d)
		[ -n "$c" ] && [ "$c" -ge 10 ] || ok=0
	done
	grep "^port $p " "$rundir/p.out" | tail -1 | grep -q 'errors 0 | tx .* errors 0, drops 0' || ok=0
done
if [ $prc -eq 0 ] && [ $ok -eq 1 ] && [ "$(count t0 rx)" -eq "$(count t1 tx)" ] &&
   [ "$(count t1 rx)" -eq "$(count t0 tx)" ]; then
	echo "ok 5 - primary exited 0; each port received and sent the 10 echoes and more, t0 rx = t1 tx, t1 rx = t0 tx, no errors or drops"
else
	echo "not ok 5 - primary rc $prc, counters: $(grep '^port' "$rundir/p.out" | tail -2) $(cat "$rundir/p.err")"
fi

if ! ip -n "$nsa" link show mptap0 >/dev/null 2>&1 && ! ip -n "$nsb" link show mptap1 >/dev/null 2>&1; then
	echo "ok 6 - the TAPs went with the primary"
else
	echo "not ok 6 - a TAP is left: $(ip -n "$nsa" -br link; ip -n "$nsb" -br link)"
fi

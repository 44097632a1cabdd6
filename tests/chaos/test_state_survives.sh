#!/usr/bin/env bash
# Issue 7: NAT and firewall state survive a restart. A TCP connection is
# opened from the inside through fw1 (stateful rules: new connections only
# from the inside, established both ways) and nat1: SYN out, SYN-ACK back in
# through the NAT's outside input and the firewall, ACK out. Then fw1 and
# nat1 are killed with SIGKILL and started again with the same command
# lines, and more packets of the same connection go both ways: they are
# still allowed (the firewall finds its connection) and translated to the
# same outside port, while a new connection from the outside is still
# refused. TAP output.
#
#   lanq -> fw1 -(out)-> c.fn -> nat1(inside) -(outside)-> wan.tx
#   wanq -> nat1(outside) -(inside)-> c.fwb -> fw1 -(back)-> lan.tx
#
# Each phase's packets wait in a pcap port's rx ring (iN: inside, oN:
# outside) until a pump (mpdp-fwd) moves them into lanq or wanq, so the
# order of the phases is the test's, whatever the speed of the machine.
set -u
here=$(cd "$(dirname "$0")" && pwd)
bin=${1:-$here/../../build}
primary=$bin/primary/mpdp-primary
ctl_bin=$bin/tools/mpdpctl
fw=$bin/secondary/fw/mpdp-fw
nat=$bin/secondary/nat/mpdp-nat
fwd=$bin/secondary/fwd/mpdp-fwd
seqt=$bin/tests/chaos/seqtraffic
rundir=$(mktemp -d /tmp/mpdp-survive-XXXXXX)
files=$(mktemp -d /tmp/mpdp-survive-files-XXXXXX)
name=survive-$$
pids=()

# kill9 PID...: SIGKILL those still running for this instance (a pid reaped
# earlier may be someone else's by now; ours name $rundir on their command line)
kill9() {
	for p in "$@"; do
		tr '\0' ' ' 2>/dev/null <"/proc/$p/cmdline" | grep -qF -- "$rundir" || continue
		kill -9 "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
}
cleanup() {
	kill9 "${pids[@]}"
	rm -rf "$rundir" "$files"
}
trap cleanup EXIT

. "$here/../lib/stage_tap.sh"

plan=19
if ! command -v jq >/dev/null; then
	echo "1..0 # SKIP jq not found"
	exit 0
fi
echo "1..$plan"
bail() {
	while [ "$n" -lt "$plan" ]; do notok "$1"; done
	exit 0
}

# pump PORT RING: once PORT has read its file (one packet), move it from PORT.rx to RING
# with a pump stage; wait until it is through, stop the pump
pump() {
	settle ".ports[0].rx_packets == 1" port stats "$1" || return 1
	start_stage "pump-$1.out" "$fwd" --stage "p$1" --in "$1.rx" --out "out=$2" || return 1
	local p=$stage_pid rc
	settle "(.stages[0].sent == 1) and (.stages[0].in_hand == 0)" stage stats "p$1"
	rc=$?
	kill -TERM "$p"
	wait "$p" || rc=1
	return $rc
}
# tx PORT: packets the port sent
tx() { ctl --json port stats "$1" | jq '.ports[0].tx_packets'; }

in_host=10.0.0.2 in_port=40000 srv=203.0.113.5 pub=198.18.0.1
c2s="$in_host:$in_port>$srv:80"
s2p="$srv:80>$pub:$in_port"
"$seqt" tcp "$files/i1.pcap" "$c2s S 1000 0 0" &&
	"$seqt" tcp "$files/o1.pcap" "$s2p SA 5000 1001 0" &&
	"$seqt" tcp "$files/i2.pcap" "$c2s A 1001 5001 0" &&
	"$seqt" tcp "$files/i3.pcap" "$c2s PA 1001 5001 100" &&
	"$seqt" tcp "$files/o3.pcap" "$s2p PA 5001 1101 200" &&
	"$seqt" tcp "$files/o4.pcap" "192.0.2.99:5555>$pub:$in_port S 9000 0 0" ||
	bail "seqtraffic tcp failed"
cat >"$files/fw.rules" <<-'EOF'
	# new connections only from the inside; established ones both ways
	to back established in c.fwb
	allow established in lanq
	allow tcp from 10.0.0.0/8 new flags S/SA in lanq
	default deny
EOF
ports=()
for p in i1 o1 i2 i3 o3 o4; do ports+=(--port "$p,driver=pcap,rx_pcap=$files/$p.pcap"); done
"$primary" --name "$name" --runtime-dir "$rundir" --no-huge --mem 96M --pool mbuf,n=2048,cache=32 \
	"${ports[@]}" --port "lan,driver=pcap,tx_pcap=$files/lan.pcap" --port "wan,driver=pcap,tx_pcap=$files/wan.pcap" \
	>"$files/primary.out" 2>"$files/primary.err" </dev/null &
primary_pid=$!
pids+=($!)
wait_line "$files/primary.out" ready || bail "primary did not start: $(head -c 300 "$files/primary.err")"

fw_args=(--stage fw1 --in lanq --in c.fwb --out out=c.fn --out back=lan.tx --rules "$files/fw.rules")
nat_args=(--stage nat1 --inside c.fn --outside wanq --out outside=wan.tx --out inside=c.fwb --snat "10.0.0.0/8=$pub")
start_stage fw1.out "$fw" "${fw_args[@]}"
r1=$?
fw_pid=$stage_pid
start_stage nat1.out "$nat" "${nat_args[@]}"
r2=$?
nat_pid=$stage_pid
[ $r1 -eq 0 ] && [ $r2 -eq 0 ]
verdict $? "fw1 and nat1 started"
[ $r1 -eq 0 ] && [ $r2 -eq 0 ] || bail "the stages did not start: $(cat "$files"/*.err | head -c 400)"

# --- the handshake
pump i1 lanq && settle ".ports[0].tx_packets == 1" port stats wan
verdict $? "the SYN from the inside left on wan ($(tx wan) sent)"
jcheck "nat1 mapped $in_host:$in_port to $pub:$in_port (the SYN-ACK of this test is sent to that port)" \
	"[.sessions[] | select(.proto == \"tcp\" and .inside == \"$in_host\" and .inside_port == $in_port)
	  | .outside == \"$pub\" and .outside_port == $in_port] == [true]" nat session list
pump o1 wanq && settle ".ports[0].tx_packets == 1" port stats lan
verdict $? "the SYN-ACK from the outside came back through nat1 and fw1 to lan ($(tx lan) sent)"
pump i2 lanq && settle ".ports[0].tx_packets == 2" port stats wan
verdict $? "the ACK from the inside left on wan ($(tx wan) sent)"
conn_sel=".connections[] | select(.proto == \"tcp\" and (tostring | contains(\"$in_host\")) and (tostring | contains(\"$srv\")))"
ctl --json fw conn list >"$files/conns-before.json"
echo "# fw1 before the kill: $(jq -c "$conn_sel" "$files/conns-before.json" 2>/dev/null)"
jcheck "fw1 tracks the connection as established" "[$conn_sel | .state | ascii_downcase] == [\"established\"]" fw conn list
ctl --json nat session list >"$files/sessions-before.json"
echo "# nat1 before the kill: $(jq -c '.sessions' "$files/sessions-before.json" 2>/dev/null)"
jcheck "nat1 holds the session as established" \
	"[.sessions[] | select(.inside == \"$in_host\") | .state] == [\"established\"]" nat session list

# --- SIGKILL both, restart with the same command lines
{ kill -9 "$fw_pid" "$nat_pid"; wait "$fw_pid"; wait "$nat_pid"; } 2>/dev/null
start_stage fw1.out "$fw" "${fw_args[@]}"
r1=$?
fw_pid=$stage_pid
start_stage nat1.out "$nat" "${nat_args[@]}"
r2=$?
nat_pid=$stage_pid
[ $r1 -eq 0 ] && [ $r2 -eq 0 ]
verdict $? "fw1 and nat1 killed with SIGKILL and started again with the same command lines: $(cat "$files/fw1.out.err" "$files/nat1.out.err" | head -c 300)"
[ $r1 -eq 0 ] && [ $r2 -eq 0 ] || bail "the restarted stages did not start"
jcheck "both took over their slots (restarts 1 each, running)" \
	'[.stages[] | select(.id == "fw1" or .id == "nat1") | .restarts == 1 and .state == "running"] == [true,true]' stage list
jcheck "fw1 still tracks the connection, established, after the restart" \
	"[$conn_sel | .state | ascii_downcase] == [\"established\"]" fw conn list
jcheck "nat1 still holds the same mapping after the restart" \
	"[.sessions[] | select(.inside == \"$in_host\" and .inside_port == $in_port) | .outside + \":\" + (.outside_port | tostring)] == [\"$pub:$in_port\"]" \
	nat session list

# --- the same connection, both ways, after the restart; a new one from the outside
pump i3 lanq && settle ".ports[0].tx_packets == 3" port stats wan
verdict $? "data from the inside after the restart is allowed and leaves on wan ($(tx wan) sent)"
pump o3 wanq && settle ".ports[0].tx_packets == 2" port stats lan
verdict $? "the reply from the outside after the restart is translated and allowed back to lan ($(tx lan) sent)"
ctl --json fw conn list >"$files/conns-after.json"
echo "# fw1 after: $(jq -c "$conn_sel" "$files/conns-after.json" 2>/dev/null)"
ctl --json nat session list >"$files/sessions-after.json"
echo "# nat1 after: $(jq -c '.sessions' "$files/sessions-after.json" 2>/dev/null)"
nat_counts=$(jq -c "[.sessions[] | select(.inside == \"$in_host\") | .pkts_out, .pkts_in]" "$files/sessions-after.json")
fw_counts=$(jq -c "[$conn_sel | .packets]" "$files/conns-after.json")
[ "$nat_counts" = "[3,2]" ] && [ "$fw_counts" = "[[3,2]]" ]
verdict $? "fw1's connection and nat1's session counted every packet, before and after the kill (out, in: fw1 $fw_counts, nat1 $nat_counts)"

fw_in=$(ctl --json stage stats fw1 | jq '.stages[0].in_packets')
fw_drop=$(ctl --json stage stats fw1 | jq '.stages[0].dropped')
pump o4 wanq && settle ".stages[0].in_packets == $((fw_in + 1)) and .stages[0].dropped == $((fw_drop + 1))" stage stats fw1
r=$?
sleep 0.3
[ $r -eq 0 ] && [ "$(tx lan)" = 2 ]
verdict $? "a new connection from the outside (192.0.2.99:5555) is still refused by fw1 ($(ctl --json stage stats fw1 | jq -c '.stages[0] | {in_packets, dropped}'), lan sent $(tx lan))"
# --- stop, then read what left
kill -TERM "$fw_pid" "$nat_pid"
wait "$fw_pid"
r1=$?
wait "$nat_pid"
r2=$?
in_use=$(ctl --json pool stats | jq '[.pools[].in_use] | add')
kill -TERM "$primary_pid"
wait "$primary_pid"
r3=$?
[ $r1 -eq 0 ] && [ $r2 -eq 0 ] && [ $r3 -eq 0 ]
verdict $? "fw1, nat1 and the primary exit 0 at SIGTERM ($r1 $r2 $r3)"
[ "$in_use" = 0 ]
verdict $? "every mbuf back in its pool ($in_use in use)"
"$seqt" dump "$files/wan.pcap" >"$files/wan.txt"
"$seqt" dump "$files/lan.pcap" >"$files/lan.txt"
sed 's/^/# wan: /' "$files/wan.txt"
sed 's/^/# lan: /' "$files/lan.txt"
want_wan="tcp $pub:$in_port>$srv:80 S seq=1000 ack=0 len=0 csum=ok
tcp $pub:$in_port>$srv:80 A seq=1001 ack=5001 len=0 csum=ok
tcp $pub:$in_port>$srv:80 PA seq=1001 ack=5001 len=100 csum=ok"
want_lan="tcp $srv:80>$in_host:$in_port SA seq=5000 ack=1001 len=0 csum=ok
tcp $srv:80>$in_host:$in_port PA seq=5001 ack=1101 len=200 csum=ok"
[ "$(cat "$files/wan.txt")" = "$want_wan" ]
verdict $? "wan.pcap: the three packets out, from $pub:$in_port before and after the kill, checksums valid"
[ "$(cat "$files/lan.txt")" = "$want_lan" ]
verdict $? "lan.pcap: the two replies in, to $in_host:$in_port, nothing from 192.0.2.99, checksums valid"

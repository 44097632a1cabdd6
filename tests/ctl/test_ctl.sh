#!/usr/bin/env bash
# The control socket end to end: a real primary and real stages, every
# command through mpdpctl --json (checked with jq), the refusals (a stranger,
# oversized, truncated and garbage frames, an old client, unknown commands, a
# stage that is gone) with the primary serving others throughout, a capture
# under traffic checked against tcpdump's reading of the same filter, and
# shutdown. TAP output.
set -u
bin=$1
src=$2
primary=$bin/primary/mpdp-primary
ctl_bin=$bin/tools/mpdpctl
fwd=$bin/secondary/fwd/mpdp-fwd
fw=$bin/secondary/fw/mpdp-fw
mon=$bin/secondary/mon/mpdp-mon
traffic=$src/tools/traffic/demo.pcap

. "$(dirname "$0")/../lib/stage_tap.sh"
tap_instance ctl

for tool in jq python3 tshark tcpdump; do
	if ! command -v $tool >/dev/null; then
		echo "1..0 # SKIP $tool not found (make deps installs it)"
		exit 0
	fi
done

# raw HEX-FRAME: send bytes on a fresh connection, print what comes back (hex and text)
raw() {
	python3 - "$rundir/$name/ctl.sock" "$1" <<-'EOF'
	import socket, sys
	s = socket.socket(socket.AF_UNIX)
	s.connect(sys.argv[1])
	s.sendall(bytes.fromhex(sys.argv[2]))
	s.shutdown(socket.SHUT_WR)
	s.settimeout(5)
	data = b""
	try:
	    while True:
	        chunk = s.recv(65536)
	        if not chunk:
	            break
	        data += chunk
	except socket.timeout:
	    print("TIMEOUT")
	print("".join(chr(b) if 32 <= b < 127 else "." for b in data))
	EOF
}

echo "1..52"

printf 'allow any\n' >"$files/all.rules"
"$primary" --name "$name" --runtime-dir "$rundir" --no-huge --mem 128M -l 0 \
	--pool mbuf,n=4096,cache=32 \
	--port "in,driver=pcap,rx_pcap=$traffic,pps=20000" --port "out,driver=pcap,tx_pcap=$files/out.pcap" \
	--port "n0,driver=null" --port "n1,driver=null,no_rx=1" \
	>"$files/primary.out" 2>"$files/primary.err" </dev/null &
primary_pid=$!
pids+=($!)
if ! wait_line "$files/primary.out" ready; then
	for _ in $(seq 52); do notok "primary did not start: $(cat "$files/primary.err")"; done
	exit 0
fi
sock=$rundir/$name/ctl.sock

# --- the socket itself
[ "$(stat -c %a "$sock")" = 660 ]
verdict $? "ctl.sock is mode 0660 ($(stat -c %a "$sock"))"

# --- built-in commands
jcheck "status: name, protocol 1, tmpfs, memory adds up" \
	".name == \"$name\" and .protocol == 1 and .hugepages != true and .mem_used + .mem_free == .mem_total" status
jcheck "port list: the four ports, started, with their drivers" \
	'[.ports[] | .name + ":" + .driver + ":" + .state] | sort == ["in:pcap:started","n0:null:started","n1:null:started","out:pcap:started"]' port list
jcheck "ring create mid (1024 slots)" '.' ring create mid 1024
jcheck "ring list shows mid: 1024 slots, empty, no users" \
	'.rings[] | select(.name == "mid") | .size == 1024 and .count == 0 and .users == ""' ring list
out=$(ctl ring create bad 1000 2>&1)
rc=$?
[ $rc -eq 2 ] && grep -q "power of two" <<<"$out"
verdict $? "ring create with 1000 slots refused by mpdpctl: $(head -1 <<<"$out")"
out=$(ctl ring create mid 64 2>&1)
rc=$?
[ $rc -eq 1 ] && grep -q "name is taken" <<<"$out"
verdict $? "ring create of a name taken refused by the primary: $out"
jcheck "pool stats: available + cached + in use = size" \
	'.pools[] | select(.name == "mbuf") | .available + .cached + .in_use == .size' pool stats mbuf
jcheck "patch add n0 n1" '.' patch add n0 n1
jcheck "patch list: n0 -> n1" '.patches == [{"src":"n0","dst":"n1"}]' patch list
c1=$(ctl --json port stats n1 | jq .ports[0].tx_packets)
n1_grew() { c2=$(ctl --json port stats n1 | jq .ports[0].tx_packets) && [ "$c2" -gt "$c1" ]; }
until_true 5 n1_grew
verdict $? "what n0 receives is sent on n1 ($c1 then $c2 packets)"
jcheck "patch del n0 n1" '.' patch del n0 n1
jcheck "port stop n0: stopped" '.' port stop n0
r1=$(ctl --json port stats n0 | jq .ports[0].rx_packets)
sleep 0.2
r2=$(ctl --json port stats n0 | jq '.ports[0] | select(.state == "stopped") | .rx_packets')
[ -n "$r2" ] && [ "$r1" = "$r2" ]
verdict $? "a stopped port receives nothing ($r1 then $r2)"
jcheck "port start n0" '.' port start n0

# --- a capture on 'mid', made before any packet crosses it
filter='tcp and dst port 80'
want=$(tcpdump -r "$traffic" "$filter" 2>/dev/null | wc -l)
total=$(tcpdump -r "$traffic" 2>/dev/null | wc -l)
jcheck "capture start on ring mid with a filter" \
	'.captures[] | select(.target == "mid") | .state == "running"' \
	capture start mid --filter "$filter" -w "$files/mid.pcapng"
start_stage fw.out "$fw" --stage fw1 --in in.rx --out out=mid --rules "$files/all.rules" --backpressure
verdict $? "mpdp-fw started"
start_stage mon.out "$mon" --stage mon1 --in mid --out out=out.tx --backpressure
mon_pid=$stage_pid
verdict $? "mpdp-mon started"
jcheck "stage list: fw1 and mon1 running and registered" \
	'[.stages[] | select(.state == "running" and .registered) | .id] | sort == ["fw1","mon1"]' stage list
settle ".ports[0].tx_packets == $total" port stats out
jcheck "every packet of the file left on 'out' ($total)" ".ports[0].tx_packets == $total" port stats out
jcheck "capture stop" '.' capture stop
jcheck "capture figures: matched $want, written $want, dropped 0" \
	".captures[] | select(.target == \"mid\") | .matched == $want and .written == $want and .dropped == 0" capture list
got=$(tshark -r "$files/mid.pcapng" 2>/dev/null | wc -l)
[ "$got" = "$want" ]
verdict $? "the pcapng opens in tshark and holds the $want packets tcpdump's filter picks ($got)"
tshark -r "$files/mid.pcapng" -T fields -e tcp.dstport 2>/dev/null | sort -u >"$files/ports"
[ "$(cat "$files/ports")" = 80 ]
verdict $? "every captured packet is TCP to port 80 ($(tr '\n' ' ' <"$files/ports"))"
counted="[.stages[] | select(.id == \"fw1\" or .id == \"mon1\") | .in_packets == $total and .sent == $total] == [true,true]"
settle "$counted" stage stats
jcheck "the stages' counters are those of a run without capture: fw1 and mon1 each took and sent $total" \
	"$counted" stage stats
jcheck "ring mid: every packet through, none left" \
	".rings[] | select(.name == \"mid\") | .count == 0 and .users != \"\"" ring stats mid

# --- stage commands, routed by kind and by id
jcheck "fw rule list through the primary (by kind)" '.' fw rule list
jcheck "fw1 rule add (by id), then its rules are two" '.' fw1 rule add 1 'deny udp'
out=$(ctl fw rule list 2>&1)
grep -q "deny udp" <<<"$out"
verdict $? "the added rule is listed: $(grep -m1 'deny udp' <<<"$out")"
jcheck "fw1 rule del 1: back to one rule" '.n_rules == 1' fw1 rule del 1
printf 'allow tcp\nallow any\n' >"$files/two.rules"
jcheck "fw rule load FILE: two rules" '.n_rules == 2' fw rule load "$files/two.rules"
jcheck "fw conn list: the conntrack figures" '.conntrack.active >= 0 and (.connections | type) == "array"' fw conn list 10
jcheck "mon top 3 by bytes" '.stage == "mon1" and (.top_by_bytes | length) <= 3' mon top 3 bytes
start_stage nat.out "$bin/secondary/nat/mpdp-nat" --stage nat1 --inside na --outside nb \
	--out inside=nc --out outside=nd --snat 10.0.0.0/8=198.18.0.1
verdict $? "mpdp-nat started (no traffic)"
nat_pid=$stage_pid
jcheck "nat session list: none yet" '.stage == "nat1" and .sessions_active == 0' nat session list
jcheck "nat stats" '.' nat stats
jcheck "stage stop nat1" '.' stage stop nat1
wait "$nat_pid"
verdict $? "nat1 stopped by the control socket exits 0"
jcheck "ring delete nc (its stage is down): the ring is gone" '.' ring delete nc
jcheck "ring list no longer shows nc" '[.rings[].name] | index("nc") == null' ring list
out=$(ctl fw rule nonsense 2>&1)
[ $? -eq 1 ] && grep -q "no command" <<<"$out"
verdict $? "an unknown stage command names the commands the stage has: $(head -c 200 <<<"$out")"
out=$(ctl log level fw1 debug 2>&1)
[ $? -eq 0 ] && grep -q "fw1" <<<"$out"
verdict $? "log level for a stage is set in the stage: $out"
jcheck "log level of a primary component" '.' log level ring debug

# --- refusals; the primary keeps serving
out=$(raw 0400000008011005)
grep -q "names no command" <<<"$out"
verdict $? "a request with no command: $(tr -cd '[:print:]' <<<"$out" | head -c 120)"
out=$(raw "0400000008021005")
grep -q "version 2 is not supported" <<<"$out"
verdict $? "an old or new client's version: $(tr -cd '[:print:]' <<<"$out" | head -c 140)"
out=$(raw ffffff7f)
grep -q "frame too long" <<<"$out"
verdict $? "an oversized frame is refused before anything is read: $(tr -cd '[:print:]' <<<"$out" | head -c 100)"
out=$(raw 0a000000ffffffffffffffffffff)
grep -q "not a valid Request" <<<"$out"
verdict $? "garbage bytes: $(tr -cd '[:print:]' <<<"$out" | head -c 100)"
raw 20000000080110 >/dev/null
jcheck "after a truncated frame the primary still answers" ".name == \"$name\"" status
if id nobody >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
	# Open the directory and the socket to everyone: the credential check must still refuse.
	chmod 755 "$rundir" "$rundir/$name"
	chmod 666 "$sock"
	out=$(runuser -u nobody -- "$ctl_bin" --name "$name" --runtime-dir "$rundir" status 2>&1)
	rc=$?
	chmod 660 "$sock"
	[ $rc -eq 1 ] && grep -q "permission denied" <<<"$out" && grep -q "refused pid" "$files/primary.err"
	verdict $? "a client running as nobody is refused by SO_PEERCRED and logged: $out"
else
	ok "# SKIP a stranger's connection needs root and a 'nobody' user"
fi
kill -9 "$mon_pid"
for _ in $(seq 60); do
	[ "$(ctl --json stage list | jq -r '.stages[] | select(.id == "mon1") | .registered')" = false ] && break
	sleep 0.05
done
out=$(ctl mon1 top 2>&1)
[ $? -eq 1 ] && grep -qE "mon1 .*(down|went away)" <<<"$out"
verdict $? "a command for a stage that is gone: $out"
jcheck "and the primary still serves the others" '[.stages[].id] | index("fw1") != null' stage list

# --- shutdown
ctl shutdown >/dev/null
for _ in $(seq 100); do kill -0 "$primary_pid" 2>/dev/null || break; sleep 0.05; done
wait "$primary_pid"
rc=$?
[ $rc -eq 0 ] && [ ! -e "$sock" ]
verdict $? "shutdown: the primary exits 0 (rc $rc) and removes the socket"

#!/usr/bin/env bash
# mpdp-fw as a process: rule files refused as a whole with file, line and
# column (nothing made); the connection table kept across a kill -9 and a
# restart (a reply to a connection opened before the kill is still let
# through after it); SIGHUP reloads the rules, and a bad file leaves the
# running set in place. TAP output.
set -u
bin=$1
primary=$bin/primary/mpdp-primary
fw=$bin/secondary/fw/mpdp-fw
probe=$bin/tests/stages/probe

. "$(dirname "$0")/../lib/stage_tap.sh"
tap_instance fw

if ! command -v python3 >/dev/null; then
	echo "1..0 # SKIP python3 not found (the test writes its frames with it)"
	exit 0
fi

# mkpcap OUT FRAME...: TCP frames "SRC:PORT>DST:PORT FLAGS" (checksums are not the firewall's business)
mkpcap() {
	python3 - "$@" <<-'EOF'
	import ipaddress, struct, sys
	out = open(sys.argv[1], "wb")
	out.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
	for i, spec in enumerate(sys.argv[2:]):
	    ends, flags = spec.split()
	    (sa, sp), (da, dp) = (e.rsplit(":", 1) for e in ends.split(">"))
	    bits = sum({"F": 1, "S": 2, "R": 4, "P": 8, "A": 16}[c] for c in flags)
	    tcp = struct.pack("!HHIIBBHHH", int(sp), int(dp), 1000 + i, 0, 0x50, bits, 65535, 0, 0)
	    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), i, 0, 64, 6, 0,
	                     ipaddress.ip_address(sa).packed, ipaddress.ip_address(da).packed)
	    frame = bytes.fromhex("020000000002020000000001") + b"\x08\x00" + ip + tcp
	    out.write(struct.pack("<IIII", i, 0, len(frame), len(frame)) + frame)
	EOF
}

echo "1..14"

# --- rule files refused as a whole, before anything is made
printf 'allow tcp from 10.0.0.0/8 to any port 80\nallow tcp to any port http\n' >"$files/bad.rules"
printf 'to mon tcp\n' >"$files/tomon.rules"
cat >"$files/good.rules" <<-'EOF'
	# the firewall of the restart and reload checks
	allow established
	allow tcp from 10.0.0.0/8 to any port 80
	default deny
EOF
# Phase files: an outbound SYN; the reply after the restart; then what the reloads decide.
mkpcap "$files/p1.pcap" "10.0.0.1:40000>198.51.100.10:80 S"
mkpcap "$files/p2.pcap" "198.51.100.10:80>10.0.0.1:40000 SA" "198.51.100.10:80>10.0.0.2:40000 SA"
mkpcap "$files/p3.pcap" "10.0.0.3:40001>198.51.100.10:22 S" "10.0.0.3:40002>198.51.100.10:22 S"
"$primary" --name "$name" --runtime-dir "$rundir" --no-huge --mem 96M -l 0 --pool mbuf,n=1024,cache=32 \
	--port "p1,driver=pcap,rx_pcap=$files/p1.pcap" --port "p2,driver=pcap,rx_pcap=$files/p2.pcap" \
	--port "p3,driver=pcap,rx_pcap=$files/p3.pcap" --port "out,driver=pcap,tx_pcap=$files/out.pcap" \
	>"$files/primary.out" 2>"$files/primary.err" </dev/null &
primary_pid=$!
pids+=($!)
if ! wait_line "$files/primary.out" ready; then
	for _ in $(seq 14); do notok "primary did not start: $(cat "$files/primary.err")"; done
	exit 0
fi
common=(--name "$name" --runtime-dir "$rundir" --stage fw1 --out out=out.tx)
run_expect 1 "$files/bad.rules:2:23: expected" "$fw" "${common[@]}" --in p1.rx --rules "$files/bad.rules"
run_expect 1 "unknown output 'mon'" "$fw" "${common[@]}" --in p1.rx --rules "$files/tomon.rules"
run_expect 1 "--rules FILE is required" "$fw" "${common[@]}" --in p1.rx
run_expect 1 "$files/none.rules" "$fw" "${common[@]}" --in p1.rx --rules "$files/none.rules"
[ -z "$(field stage fw1 state)" ]
verdict $? "refused firewalls left no stage slot ($(field stage fw1 state))"

# --- kill -9 and restart: the connection survives
"$fw" "${common[@]}" --in p1.rx --rules "$files/good.rules" >"$files/fw1.out" 2>"$files/fw1.err" </dev/null &
fw_pid=$!
pids+=($!)
wait_line "$files/fw1.out" ready
wait_count stage fw1 in 1
verdict $? "the first firewall let the outbound SYN out ($(field stage fw1 sent) sent)"
kill -9 "$fw_pid"; wait "$fw_pid" 2>/dev/null
"$fw" "${common[@]}" --in p2.rx --rules "$files/good.rules" >"$files/fw2.out" 2>"$files/fw2.err" </dev/null &
fw_pid=$!
pids+=($!)
wait_line "$files/fw2.out" ready
wait_count stage fw1 in 3
[ "$(field stage fw1 sent)" = 2 ] && [ "$(field stage fw1 dropped)" = 1 ] && [ "$(field stage fw1 restarts)" = 1 ]
verdict $? "after kill -9 and a restart, the reply of the tracked connection passes and the untracked one does not (sent $(field stage fw1 sent), dropped $(field stage fw1 dropped), restarts $(field stage fw1 restarts))"
report=$("$fw" --name "$name" --runtime-dir "$rundir" --stage fw1 --report 2>&1)
grep -q "198.51.100.10" <<<"$report" && grep -q "allow established" <<<"$report"
verdict $? "--report from another process shows the rules with hits and the connection: $(grep -c . <<<"$report") lines"

# --- SIGHUP: a bad file keeps the running set, a good one replaces it
cp "$files/bad.rules" "$files/live.rules"
kill -TERM "$fw_pid"; wait "$fw_pid"
cp "$files/good.rules" "$files/live.rules"
"$fw" "${common[@]}" --in p3.rx --rules "$files/live.rules" --backpressure >"$files/fw3.out" 2>"$files/fw3.err" </dev/null &
fw_pid=$!
pids+=($!)
wait_line "$files/fw3.out" ready
wait_count stage fw1 in 5
[ "$(field stage fw1 dropped)" = 3 ]
verdict $? "port 22 is denied by the first rule set ($(field stage fw1 dropped) dropped in all)"
cp "$files/bad.rules" "$files/live.rules"
kill -HUP "$fw_pid"
for _ in $(seq 60); do grep -q "rules not reloaded" "$files/fw3.err" && break; sleep 0.05; done
grep -q "rules not reloaded, the running set stays: $files/live.rules:2:23" "$files/fw3.err" && kill -0 "$fw_pid"
verdict $? "SIGHUP with a bad file: refused with its line and column, the stage runs on: $(grep 'not reloaded' "$files/fw3.err" | head -1)"
printf 'allow tcp from 10.0.0.0/8 to any port 22\ndefault deny\n' >"$files/live.rules"
kill -HUP "$fw_pid"
for _ in $(seq 60); do grep -q "rules reloaded" "$files/fw3.err" && break; sleep 0.05; done
json=$("$fw" --name "$name" --runtime-dir "$rundir" --stage fw1 --report --json 2>&1)
python3 -c 'import json,sys; c=json.loads(sys.argv[1])["report"]["counters"]; assert c["rule_reloads"]==1 and c["rule_reload_errors"]==1, c' "$json"
verdict $? "SIGHUP with a good file: reloaded once, one refusal counted"
kill -TERM "$fw_pid"; wait "$fw_pid"; rc=$?
[ "$rc" -eq 0 ]
verdict $? "SIGTERM: exit 0 ($rc)"
grep -q "allow tcp from 10.0.0.0/8 to any port 22" <<<"$json"
verdict $? "the report holds the reloaded rules"
kill -TERM "$primary_pid"; wait "$primary_pid"; rc=$?
[ "$rc" -eq 0 ]
verdict $? "primary exits 0 ($rc)"

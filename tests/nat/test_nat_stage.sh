#!/usr/bin/env bash
# mpdp-nat as a real process between pcap ports: bad values exit 2, the
# inside traffic goes out translated, a restart (with the outside input
# added) keeps the sessions so the replies come back in, the report reads
# the zone from another process, and a restart with other rules is refused.
# Every frame out is checked by nat_pcap.py (addresses, ports, checksums
# recomputed). TAP output.
set -u
bin=$1
src=$2
primary=$bin/primary/mpdp-primary
nat=$bin/secondary/nat/mpdp-nat
probe=$bin/tests/stages/probe
pcapy=(python3 "$src/tests/nat/nat_pcap.py")
rules=(--snat 10.0.0.0/8=192.0.2.1-192.0.2.4:1024-65535 --dnat 192.0.2.1:8080=10.0.0.5:80/tcp
       --max-sessions 1000)

. "$src/tests/lib/stage_tap.sh"
tap_instance nat

if ! command -v python3 >/dev/null; then
	echo "1..0 # SKIP python3 not found (nat_pcap.py writes and checks the frames)"
	exit 0
fi

start_nat() {
	local log=$1
	shift
	"$nat" --name "$name" --runtime-dir "$rundir" --stage n1 "$@" >"$files/$log" 2>"$files/$log.err" </dev/null &
	pids+=($!)
	nat_pid=$!
	wait_line "$files/$log" ready
}

# json_get FILE EXPR: a value from the JSON object in FILE (python expression on r)
json_get() {
	python3 -c 'import json,sys; t=open(sys.argv[1]).read(); r=json.loads(t[t.index("{"):t.rindex("}")+1]); print(eval(sys.argv[2]))' "$1" "$2"
}

echo "1..17"

# --- the command line: malformed values exit 2 before anything attaches
run_expect 2 "--snat 10.0.0.1/8=192.0.2.1: inside prefix 10.0.0.1/8 has host bits set" \
	"$nat" --stage n1 --inside a --snat 10.0.0.1/8=192.0.2.1
run_expect 2 "--dnat 192.0.2.1:80=10.0.0.5:80/sctp: protocol 'sctp' is not tcp or udp" \
	"$nat" --stage n1 --inside a --dnat=192.0.2.1:80=10.0.0.5:80/sctp
run_expect 2 "--timeout udp=0: '0' is not a number of seconds from 1 to 2592000" \
	"$nat" --stage n1 --inside a --snat 10.0.0.0/8=192.0.2.1 --timeout udp=0
run_expect 2 "no --snat or --dnat rule" "$nat" --stage n1 --inside a
run_expect 0 "--dnat RULE" "$nat" --help

"${pcapy[@]}" gen "$files"
if "$primary" --name "$name" --runtime-dir "$rundir" --no-huge --mem 96M -l 0 \
	--pool mbuf,n=2048,cache=32 \
	--port "lan,driver=pcap,rx_pcap=$files/lan-in.pcap,tx_pcap=$files/lan-out.pcap" \
	--port "wan,driver=pcap,rx_pcap=$files/wan-in.pcap,tx_pcap=$files/wan-out.pcap" \
	>"$files/primary.out" 2>"$files/primary.err" </dev/null &
	pids+=($!)
	primary_pid=$!
	wait_line "$files/primary.out" ready; then
	# Phase 1: only the inside input. The replies wait in wan.rx.
	start_nat nat1.out --inside lan.rx --outside idle --out inside=lan.tx --out outside=wan.tx "${rules[@]}"
	verdict $? "mpdp-nat starts: $(head -1 "$files/nat1.out.err")"
	wait_count port wan tx 5
	verdict $? "5 of the 6 inside frames went out (the fragment is dropped): wan tx $(field port wan tx)"
	kill -TERM "$nat_pid"; wait "$nat_pid"
	verdict $? "SIGTERM: exit 0"
	"$nat" --name "$name" --runtime-dir "$rundir" --stage n1 --report --json >"$files/rep1" 2>&1
	[ "$(json_get "$files/rep1" 'r["report"]["counters"]["sessions_active"]')" = 4 ] &&
		[ "$(json_get "$files/rep1" 'r["report"]["counters"]["drop_fragment"]')" = 1 ] &&
		[ "$(json_get "$files/rep1" 'r["report"]["running"]')" = False ]
	verdict $? "--report --json from another process: 4 sessions (3 + the static one), 1 fragment dropped"

	# Phase 2: the same id with the outside input: the sessions are still there.
	start_nat nat2.out --inside lan.rx --outside wan.rx --out inside=lan.tx --out outside=wan.tx \
		"${rules[@]}" --timeout udp=600
	verdict $? "restarted with the outside input and another timeout: $(head -1 "$files/nat2.out.err")"
	wait_count port lan tx 4
	verdict $? "4 of the 5 outside frames came in (the unmapped one is dropped): lan tx $(field port lan tx)"
	"$nat" --name "$name" --runtime-dir "$rundir" --stage n1 --report >"$files/rep2" 2>&1
	grep -q "nat n1: running, 2 starts" "$files/rep2" && grep -q "udp=600" "$files/rep2" &&
		grep -qE "drop_no_mapping +1" "$files/rep2" && grep -qE "translated_in +4" "$files/rep2"
	verdict $? "--report (text): running, 2 starts, udp=600, 4 in, 1 without mapping"
	kill -9 "$nat_pid"; wait "$nat_pid" 2>/dev/null
	sleep 1.2
	run_expect 1 "zone 'n1.nat' holds the sessions of another configuration (--snat rule 1: 10.0.0.0/8=192.0.2.1-192.0.2.4:1024-65535 there, 10.0.0.0/8=192.0.2.1-192.0.2.2:1024-65535 here)" \
		"$nat" --name "$name" --runtime-dir "$rundir" --stage n1 --inside lan.rx \
		--snat 10.0.0.0/8=192.0.2.1-192.0.2.2:1024-65535 --dnat 192.0.2.1:8080=10.0.0.5:80/tcp \
		--max-sessions 1000
	start_nat nat3.out --inside lan.rx --outside wan.rx --out inside=lan.tx --out outside=wan.tx "${rules[@]}"
	verdict $? "after kill -9, the same rules take the zone over again"
	"$nat" --name "$name" --runtime-dir "$rundir" --stage n1 --report --json --sessions 2 >"$files/rep3" 2>&1
	[ "$(json_get "$files/rep3" 'r["report"]["starts"]')" = 3 ] &&
		[ "$(json_get "$files/rep3" 'r["report"]["counters"]["sessions_active"]')" = 4 ] &&
		[ "$(json_get "$files/rep3" 'len(r["report"]["sessions"])')" = 2 ]
	verdict $? "3 starts, the 4 sessions kept, --sessions 2 lists 2"
	kill -TERM "$nat_pid"; wait "$nat_pid"
	kill -TERM "$primary_pid"; wait "$primary_pid"
	"${pcapy[@]}" check "$files" >"$files/check.log" 2>&1
	verdict $? "frames out: $(grep -c '^ok' "$files/check.log") checked (addresses, ports, checksums)"
	grep '^not ok' "$files/check.log" | head -10 | sed 's/^/# /'
	! grep -l "Sanitizer\|runtime error" "$files"/*.err
	verdict $? "no sanitizer report from any process"
else
	for _ in $(seq 12); do notok "primary did not start: $(cat "$files/primary.err")"; done
fi

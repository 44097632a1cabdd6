#!/usr/bin/env bash
# Golden traffic through real processes. golden.py writes pcaps of real
# flows with the expected fate of every frame; a primary replays each one
# packet at a time (--lockstep, so replies follow what they answer) through
# mpdp-fw, and through mpdp-fw (as a splitter) and mpdp-nat, into pcap
# ports; golden.py then checks the outputs frame by frame, parsing them and
# verifying every checksum with its own code (and tshark's, when present).
# TAP output.
set -u
bin=$1
src=$2
primary=$bin/primary/mpdp-primary
fw=$bin/secondary/fw/mpdp-fw
nat=$bin/secondary/nat/mpdp-nat
probe=$bin/tests/stages/probe
golden=(python3 "$src/tests/golden/golden.py")

. "$src/tests/lib/stage_tap.sh"
tap_instance golden

if ! command -v python3 >/dev/null; then
	echo "1..0 # SKIP python3 not found (golden.py needs it; make deps installs it)"
	exit 0
fi

start_primary() {
	"$primary" --name "$name" --runtime-dir "$rundir" --no-huge --mem 96M -l 0 --lockstep \
		--pool mbuf,n=2048,cache=32 "$@" >"$files/primary.out" 2>"$files/primary.err" </dev/null &
	pids+=($!)
	primary_pid=$!
	wait_line "$files/primary.out" ready
}

# expected EXPECT.json: "inputs outputs-sum drops"
expected() {
	python3 -c 'import json,sys; e=json.load(open(sys.argv[1])); print(e["inputs"], sum(len(v) for v in e["outputs"].values()), len(e["drop"]))' "$1"
}

# settle TX_PORTS... : until the ports have sent every expected packet and the pool is full again
settle() {
	local want=$1 got
	shift
	for _ in $(seq 300); do
		got=0
		for p in "$@"; do got=$((got + $(field port "$p" tx))); done
		[ "$got" -ge "$want" ] && [ "$(field pool mbuf in_use)" = 0 ] && return 0
		sleep 0.05
	done
	return 1
}

echo "1..11"
"${golden[@]}" gen "$files" >"$files/gen.log" 2>&1
verdict $? "golden.py gen: $(tail -1 "$files/gen.log")"

# --- the firewall
read -r inputs outs drops < <(expected "$files/fw-expect.json")
if start_primary --port "in,driver=pcap,rx_pcap=$files/fw-in.pcap" \
	--port "out,driver=pcap,tx_pcap=$files/out.pcap" --port "mon,driver=pcap,tx_pcap=$files/mon.pcap"; then
	start_stage fw.out "$fw" --stage fw1 --in in.rx --out out=out.tx --out mon=mon.tx \
		--rules "$files/fw.rules" --report-on-exit --json
	verdict $? "mpdp-fw starts with fw.rules: $(head -2 "$files/fw.out.err" | tr '\n' ' ')"
	fw_pid=$stage_pid
	settle "$outs" out mon
	verdict $? "$inputs frames replayed one at a time: $outs sent, pool full again ($(field port out tx) out, $(field port mon tx) mon, $(field pool mbuf in_use) mbufs in use)"
	[ "$(field stage fw1 in)" = "$inputs" ] && [ "$(field stage fw1 dropped)" = "$drops" ]
	verdict $? "mpdp-fw took $inputs and dropped $drops ($(field stage fw1 in) in, $(field stage fw1 dropped) dropped)"
	kill -TERM "$fw_pid"; wait "$fw_pid"; rc=$?
	kill -TERM "$primary_pid"; wait "$primary_pid"
	python3 - "$files/fw.out" "$inputs" <<-'EOF'
	import json, sys
	text = open(sys.argv[1]).read()
	rep = json.loads(text[text.index("{"):text.rindex("}") + 1])
	c = rep["report"]["counters"]
	assert c["packets"] == int(sys.argv[2]), c
	assert c["allowed"] + c["denied"] + c["sent_to_other_outputs"] == c["packets"], c
	hits = sum(r["packets"] for r in rep["report"]["rules"])
	classes = c["non_ip"] + c["fragments"] + c["malformed"]
	assert hits + classes == c["packets"], (hits, classes, c)
	assert all(r["packets"] > 0 for r in rep["report"]["rules"][:-1]), "a rule never matched"
	print("# counters agree: %d packets, %d rule hits + %d by class defaults" % (c["packets"], hits, classes))
	EOF
	verdict $? "exit $rc; the report's counters add up and every rule matched at least once"
	"${golden[@]}" check "$files/fw-expect.json" out="$files/out.pcap" mon="$files/mon.pcap" >"$files/fw-check.log" 2>&1
	verdict $? "fw output frame by frame: $(grep -c '^ok' "$files/fw-check.log") checks ok; $(grep -i 'checksums verified' "$files/fw-check.log")"
	grep '^not ok\|^#   ' "$files/fw-check.log" | head -20 | sed 's/^/# /'
else
	for _ in $(seq 5); do notok "primary did not start: $(cat "$files/primary.err")"; done
fi

# --- the NAT behind a splitter (both directions come from one file, in order)
read -r inputs outs drops < <(expected "$files/nat-expect.json")
read -r -a nat_args <"$files/nat.args"
if start_primary --port "in,driver=pcap,rx_pcap=$files/nat-in.pcap" \
	--port "lan,driver=pcap,tx_pcap=$files/lan.pcap" --port "wan,driver=pcap,tx_pcap=$files/wan.pcap"; then
	start_stage split.out "$fw" --stage split --in in.rx --out lan=nat-in --out wan=nat-out \
		--rules "$files/nat-split.rules"
	verdict $? "the splitter starts: $(head -1 "$files/split.out.err")"
	start_stage nat.out "$nat" --stage nat1 --inside nat-in --outside nat-out \
		--out inside=lan.tx --out outside=wan.tx "${nat_args[@]}" --report-on-exit --json
	verdict $? "mpdp-nat starts with ${nat_args[*]}: $(head -1 "$files/nat.out.err")"
	nat_pid=$stage_pid
	settle "$outs" lan wan
	verdict $? "$inputs frames replayed one at a time: $outs sent, pool full again ($(field port lan tx) lan, $(field port wan tx) wan, $(field pool mbuf in_use) in use)"
	[ "$(field stage nat1 in)$(field stage split in)" = "$((inputs - $(field stage split dropped)))$inputs" ]
	verdict $? "every frame reached the NAT but what the splitter dropped (split $(field stage split in)/$(field stage split dropped), nat $(field stage nat1 in)/$(field stage nat1 dropped))"
	kill -TERM "$nat_pid"; wait "$nat_pid"
	kill -TERM "$primary_pid"; wait "$primary_pid"
	"${golden[@]}" check "$files/nat-expect.json" lan="$files/lan.pcap" wan="$files/wan.pcap" >"$files/nat-check.log" 2>&1
	verdict $? "nat output frame by frame: $(grep -c '^ok' "$files/nat-check.log") checks ok; $(grep -i 'checksums verified' "$files/nat-check.log")"
	grep '^not ok\|^#   ' "$files/nat-check.log" | head -20 | sed 's/^/# /'
else
	for _ in $(seq 5); do notok "primary did not start: $(cat "$files/primary.err")"; done
fi

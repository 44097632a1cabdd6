#!/usr/bin/env bash
# Stages as real processes: the framework's command line and its errors,
# a chain of stages between pcap ports whose output must equal the input
# (or the input with its destination MAC rewritten) with the counts agreeing
# at every hop and every mbuf back in the pool, --until-eof with stages,
# a stage stopped under live load, one killed and taken over. TAP output.
set -u
bin=$1
src=$2
primary=$bin/primary/mpdp-primary
fwd=$bin/secondary/fwd/mpdp-fwd
mon=$bin/secondary/mon/mpdp-mon
probe=$bin/tests/stages/probe
pcaptool=$bin/tests/pmd_pcap/pcaptool
traffic=$src/tools/traffic/demo.pcap
frames=$(awk '$1 == "total" { print $2 }' "$src/tools/traffic/demo.flows")

. "$src/tests/lib/stage_tap.sh"
tap_instance stages

start_primary() {
	rm -f "$files/primary.out" # the last primary's "ready" must not be read as this one's
	"$primary" --name "$name" --runtime-dir "$rundir" --no-huge --mem 96M -l 0 \
		--pool mbuf,n=4096,cache=64 "$@" >"$files/primary.out" 2>"$files/primary.err" </dev/null &
	pids+=($!)
	primary_pid=$!
	wait_line "$files/primary.out" ready
}

# stop PID: SIGTERM, then its exit code. A process still there after 20 s is
# described (its threads' states and stacks, as TAP comments) and killed, so a
# hang shows where it is instead of stalling the test until meson's timeout.
stop() {
	kill -TERM "$1"
	for _ in $(seq 400); do kill -0 "$1" 2>/dev/null || break; sleep 0.05; done
	if kill -0 "$1" 2>/dev/null; then
		echo "# pid $1 ($(tr '\0' ' ' </proc/"$1"/cmdline | cut -c1-120)) ignored SIGTERM for 20 s:"
		for t in /proc/"$1"/task/*; do
			echo "#   thread ${t##*/}: $(cut -d' ' -f3 "$t/stat") in $(cat "$t/wchan" 2>/dev/null)"
		done
		if command -v gdb >/dev/null; then
			gdb -p "$1" -batch -ex 'thread apply all bt' 2>/dev/null | sed 's/^/#   /' | grep -v '^#   $'
		fi
		kill -9 "$1"
	fi
	wait "$1"
}

# Stages on the second core when there is one; the primary polls on core 0.
core=$(($(nproc) > 1 ? 1 : 0))
echo "1..27"

# --- the command line, before any instance exists
run_expect 1 "instance '$name-none' is not running" \
	"$fwd" --name "$name-none" --runtime-dir "$rundir" --stage f1 --in a --out out=b
run_expect 2 "--stage ID is required" "$fwd" --in a
run_expect 2 "no input: give --in RING" "$fwd" --stage f1
run_expect 2 "mpdp-fwd has no output 'bogus' (it has: out)" "$fwd" --stage f1 --in a --out bogus=b
run_expect 2 "--out out: expected NEXT=RING" "$fwd" --stage f1 --in a --out out
run_expect 2 "unknown option '--bogus'" "$fwd" --stage f1 --in a --bogus
run_expect 2 "--burst 0: expected a number from 1 to 256" "$fwd" --stage f1 --in a --burst 0
run_expect 2 "--stage 'a b': only letters" "$fwd" --stage 'a b' --in a
run_expect 2 "--out out=a: a is also an input" "$fwd" --stage f1 --in a --out out=a
run_expect 0 "--set-dst-mac MAC" "$fwd" --help

# --- chain of three stages between pcap ports: out equals in, counts agree, pool full
loops=4
want=$((frames * loops))
if start_primary --port "in,driver=pcap,rx_pcap=$traffic,loop=$loops" \
	--port "out,driver=pcap,tx_pcap=$files/out.pcap"; then
	start_stage f1.out "$fwd" --stage f1 --in in.rx --out out=f1-f2 --mac-swap --backpressure -l "$core"
	f1=$stage_pid
	start_stage f2.out "$fwd" --stage f2 --in f1-f2 --out out=f2-m --mac-swap --backpressure -l "$core"
	f2=$stage_pid
	start_stage m.out "$mon" --stage m --in f2-m --out out=out.tx --backpressure -l "$core"
	m=$stage_pid
	run_expect 1 "stage f1 is already running (pid $f1" "$fwd" --name "$name" --runtime-dir "$rundir" \
		--stage f1 --in x --out out=y
	run_expect 1 "--out out=in.rx: that ring takes a single producer" "$fwd" --name "$name" \
		--runtime-dir "$rundir" --stage f8 --in x --out out=in.rx
	run_expect 1 "--set-dst-mac zz: expected a MAC address" "$fwd" --name "$name" \
		--runtime-dir "$rundir" --stage f9 --in x --out out=y --set-dst-mac zz
	[ "$("$probe" "$name" "$rundir" | grep -c 'stage f[89]\|ring [xy] ')" -eq 0 ]
	verdict $? "a refused stage leaves no slot and no ring: $("$probe" "$name" "$rundir" | grep -c 'stage f[89]\|ring [xy] ') found"
	if wait_count port out tx "$want"; then
		snap=$("$probe" "$name" "$rundir")
		get() { awk -v k="$1" -v n="$2" -v f="$3" '$1 == k && $2 == n { for (i = 3; i < NF; i += 2) if ($i == f) print $(i + 1) }' <<<"$snap"; }
		hops="in.rx $(get port in rx) f1 $(get stage f1 in)/$(get stage f1 sent)/$(get stage f1 dropped) f2 $(get stage f2 in)/$(get stage f2 sent)/$(get stage f2 dropped) m $(get stage m in)/$(get stage m sent)/$(get stage m dropped) out.tx $(get port out tx)"
		[ "$(get port in rx)" = "$want" ] && [ "$(get stage f1 in)" = "$want" ] && [ "$(get stage f1 sent)" = "$want" ] && [ "$(get stage f2 in)" = "$want" ] && [ "$(get stage m in)" = "$want" ] && [ "$(get stage m sent)" = "$want" ] && [ "$(get stage f1 dropped)$(get stage f2 dropped)$(get stage m dropped)" = 000 ]
		verdict $? "counts agree at every hop ($hops)"
	else
		notok "the chain delivered $(field port out tx) of $want packets: $("$probe" "$name" "$rundir" | tr '\n' ';')"
	fi
	s1=0; s2=0; s3=0
	stop "$f1" || s1=$?; stop "$f2" || s2=$?; stop "$m" || s3=$?
	[ "$s1$s2$s3" = 000 ] && grep -q "^mpdp-fwd f1: in $want pkts, sent $want pkts, dropped 0 pkts$" "$files/f1.out"
	verdict $? "SIGTERM stops each stage with exit 0 ($s1 $s2 $s3) and a final count"
	[ "$(field pool mbuf in_use)" = 0 ]
	verdict $? "every mbuf is back in the pool once traffic stopped ($(field pool mbuf in_use) in use)"
	[ "$(field stage f1 state)$(field stage f2 state)$(field stage m state)" = downdowndown ]
	verdict $? "stopped stages are down in the table ($(field stage f2 state))"
	stop "$primary_pid"; rc=$?
	res=$("$pcaptool" cmp "$traffic" "$files/out.pcap" --repeat "$loops" 2>&1)
	[ "$rc" -eq 0 ] && [ "$(grep -c "records match" <<<"$res")" -eq 1 ]
	verdict $? "primary exits 0 ($rc); output equals the input $loops times over (two MAC swaps): $res"
else
	for _ in $(seq 9); do notok "primary did not start: $(cat "$files/primary.err")"; done
fi

# --- --until-eof with a stage: everything exits by itself, MACs rewritten
if start_primary --port "in,driver=pcap,rx_pcap=$traffic,loop=2" \
	--port "out,driver=pcap,tx_pcap=$files/out2.pcap" --until-eof; then
	start_stage f3.out "$fwd" --stage f3 --in in.rx --out out=out.tx --set-dst-mac 02:00:00:00:00:aa \
		--backpressure
	f3=$stage_pid
	wait "$primary_pid"; rc=$?
	wait "$f3"; s3=$?
	res=$("$pcaptool" cmp "$traffic" "$files/out2.pcap" --repeat 2 --set-dst 02:00:00:00:00:aa 2>&1)
	[ "$rc" -eq 0 ] && [ "$s3" -eq 0 ] && grep -q "primary of the instance has exited" "$files/f3.out.err"
	verdict $? "--until-eof: primary exits 0 ($rc) once the stage drained, the stage then exits 0 ($s3)"
	[ "$(grep -c "records match" <<<"$res")" -eq 1 ]
	verdict $? "output is the input with the destination MAC rewritten: $res"
	grep -q "^mpdp-fwd f3: in $((frames * 2)) pkts, sent $((frames * 2)) pkts, dropped 0 pkts$" "$files/f3.out"
	verdict $? "stage's final count: $(tail -1 "$files/f3.out")"
else
	for _ in $(seq 3); do notok "primary did not start: $(cat "$files/primary.err")"; done
fi

# --- live load: a stage stopped mid-stream loses nothing it took; a killed one is taken over
if start_primary --port p0,driver=null --port p1,driver=null,no_rx=1; then
	start_stage f4.out "$fwd" --stage f4 --in p0.rx --out out=p1.tx -l "$core"
	f4=$stage_pid
	sleep 1
	stop "$f4"; rc=$?
	line=$(tail -1 "$files/f4.out")
	read -r in sent dropped < <(sed -n 's/.*in \([0-9]*\) pkts, sent \([0-9]*\) pkts, dropped \([0-9]*\) pkts/\1 \2 \3/p' <<<"$line")
	[ "$rc" -eq 0 ] && [ "${in:-0}" -gt 0 ] && [ "$in" -eq $((sent + dropped)) ]
	verdict $? "SIGTERM under load: exit $rc, in = sent + dropped ($line)"
	# The I/O worker still polls the live port: at any instant it may hold one burst (32).
	worst=0
	for _ in $(seq 5); do
		snap=$("$probe" "$name" "$rundir")
		queued=$(awk '$1 == "ring" { s += $4 } END { print s + 0 }' <<<"$snap")
		inuse=$(awk '$1 == "pool" { print $4 }' <<<"$snap")
		diff=$((inuse - queued))
		if [ "$diff" -lt 0 ] || [ "$diff" -gt 32 ]; then worst=$diff; break; fi
		sleep 0.1
	done
	[ "$worst" -eq 0 ]
	verdict $? "nothing leaked: mbufs in use = packets waiting on rings (+ at most the I/O worker's burst): $inuse, $queued"
	start_stage f5.out "$fwd" --stage f5 --in p0.rx --out out=p1.tx -l "$core"
	f5=$stage_pid
	kill -9 "$f5"; wait "$f5" 2>/dev/null
	for _ in $(seq 60); do [ "$(field stage f5 state)" = down ] && break; sleep 0.05; done
	[ "$(field stage f5 state)" = down ]
	verdict $? "a killed stage is marked down by the primary ($(field stage f5 state))"
	start_stage f5b.out "$fwd" --stage f5 --in p0.rx --out out=p1.tx -l "$core"
	f5=$stage_pid
	[ "$(field stage f5 restarts)" = 1 ] && [ "$(field stage f5 state)" = running ]
	verdict $? "a new process takes the id over (restarts $(field stage f5 restarts), $(field stage f5 state))"
	stop "$f5" >/dev/null
	stop "$primary_pid"; rc=$?
	[ "$rc" -eq 0 ]
	verdict $? "primary exits 0 with stages gone ($rc)"
else
	for _ in $(seq 5); do notok "primary did not start: $(cat "$files/primary.err")"; done
fi
pids=()

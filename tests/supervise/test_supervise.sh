#!/usr/bin/env bash
# The primary's supervision of stages (doc/supervision.md), with real
# processes. Two instances run side by side:
#   crash  no ports, --hung-ms 500: a stage that always exits 1 (it backs off
#          and ends "failed", which takes ~26 s, so it runs from the start
#          while the rest is tested), and an idle stage stopped with SIGSTOP
#          (reported once, not killed; at shutdown SIGTERM cannot stop it,
#          SIGKILL does);
#   main   pcap ports at fixed rates, --kill-hung --hung-ms 1500: a --stage
#          stage forwards, is killed with -9 and restarted within 1 s, hangs
#          and is killed and restarted, is stopped for good; stage launch,
#          a graceful stage restart under traffic that loses nothing, the
#          refusals; shutdown leaves no stage process.
# TAP output.
set -u
bin=$1
src=$2
primary=$bin/primary/mpdp-primary
ctl_bin=$bin/tools/mpdpctl
fwd=$bin/secondary/fwd/mpdp-fwd
traffic=$src/tools/traffic/demo.pcap
rundir=$(mktemp -d /tmp/mpdp-sup-XXXXXX)
files=$(mktemp -d /tmp/mpdp-sup-files-XXXXXX)
name=sup-$$
crash=supc-$$
pids=()

children() { ps -o pid= --ppid "$1" 2>/dev/null | tr -d ' '; }

cleanup() {
	# Stages first (a stopped one would outlive its primary), each by its pid.
	for p in "${pids[@]}"; do
		for c in $(children "$p"); do kill -9 "$c" 2>/dev/null; done
	done
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	rm -rf "$rundir" "$files"
}
trap cleanup EXIT

. "$(dirname "$0")/../lib/stage_tap.sh"

for tool in jq ps timeout; do
	if ! command -v $tool >/dev/null; then
		echo "1..0 # SKIP $tool not found (make deps installs it)"
		exit 0
	fi
done

ctl_timeout=30
ctlc() { timeout 30 "$ctl_bin" --name "$crash" --runtime-dir "$rundir" "$@"; }
CTL=("$ctl_bin" --name "$name" --runtime-dir "$rundir")
# sf CTL-FN ID FIELD: a field of stage ID in `stage list --json`
sf() { $1 --json stage list 2>/dev/null | jq -r --arg id "$2" ".stages[] | select(.id == \$id) | .$3"; }
running_new() { [ "$(sf "$1" "$2" state)" = running ] && p=$(sf "$1" "$2" pid) && [ -n "$p" ] && [ "$p" != "$3" ] && [ "$p" != 0 ]; }
is_state() { [ "$(sf "$1" "$2" supervisor_state)" = "$3" ]; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }

echo "1..53"

# ---- bad --stage specs: refused at start, exit 2, nothing made
for c in "fw1|expected ID=PROGRAM" "=mpdp-fwd --in a|the stage ID before '=' is empty" \
	 "f w=mpdp-fwd --in a|may hold only letters, digits" "f1=mpdp-no-such-stage --in a|not found" \
	 "f1=|no PROGRAM" "f1=mpdp-fwd --in a --stage f2|leave --stage out"; do
	run_expect 2 "${c#*|}" "$primary" --name bad-$$ --runtime-dir "$rundir" --no-huge --mem 64M \
		--stage "${c%%|*}"
done
run_expect 2 "given twice" "$primary" --name bad-$$ --runtime-dir "$rundir" --no-huge --mem 64M \
	--stage "a=mpdp-fwd --in x" --stage "a=mpdp-fwd --in y"
[ ! -e "$rundir/bad-$$" ]
verdict $? "a refused command line leaves no instance behind"

# ---- the crash instance: a crash loop, and an idle stage to hang
crash_t0=$(now_ms)
"$primary" --name "$crash" --runtime-dir "$rundir" --no-huge --mem 64M --hung-ms 500 \
	--stage "crash=mpdp-fw --in cx --out out=cy --rules $files/no-such.rules" \
	--stage "h0=mpdp-fwd --in hx --out out=hy" \
	>"$files/crash.out" 2>"$files/crash.err" </dev/null &
crash_pid=$!
pids+=($!)

# ---- the main instance: n0 plays the file forever at 2000 pps into f1; 'in' plays
# it twice at 1500 pps for the graceful restart (it waits for room until g1 reads)
"$primary" --name "$name" --runtime-dir "$rundir" --no-huge --mem 96M -l 0 --kill-hung --hung-ms 1500 \
	--port "n0,driver=pcap,rx_pcap=$traffic,loop=0,pps=2000" --port "n1,driver=null,no_rx=1" \
	--port "in,driver=pcap,rx_pcap=$traffic,loop=2,pps=1500" \
	--port "out,driver=pcap,tx_pcap=$files/out.pcap" \
	--stage "f1=mpdp-fwd --in n0.rx --out out=n1.tx" \
	>"$files/main.out" 2>"$files/main.err" </dev/null &
main_pid=$!
pids+=($!)
if ! wait_line "$files/main.out" ready || ! wait_line "$files/crash.out" ready; then
	for _ in $(seq 45); do notok "a primary did not start: $(tail -3 "$files/main.err" "$files/crash.err")"; done
	exit 0
fi

# ---- a --stage stage runs and forwards
until_true 5 running_new ctl f1 0
verdict $? "f1 given with --stage is started by the primary and runs (pid $(sf ctl f1 pid))"
jq -e '.stages[] | select(.id == "f1") | .supervised and .supervisor_state == "running" and
	.argv == ["mpdp-fwd","--in","n0.rx","--out","out=n1.tx"]' <<<"$(ctl --json stage list)" >/dev/null
verdict $? "stage list: f1 is supervised, running, with its command line"
t1=$(ctl --json port stats n1 | jq .ports[0].tx_packets)
# n0 plays 2000 pps: within 5 s (a loaded machine under sanitizers stalls for a while) n1 sends more.
n1_grew() { t2=$(ctl --json port stats n1 | jq .ports[0].tx_packets) && [ "$t2" -gt "$t1" ]; }
until_true 5 n1_grew
verdict $? "f1 forwards n0 to n1 ($t1 then $t2 packets sent)"
grep -q "stage f1: started .*mpdp-fwd as pid" "$files/main.err"
verdict $? "the start is logged: $(grep -m1 'stage f1: started' "$files/main.err")"
# Between two back-offs it is "starting" for as long as a start takes (longer under sanitizers).
backing_off() { is_state ctlc crash backoff && [ "$(sf ctlc crash recent_failures)" -ge 2 ]; }
until_true 5 backing_off
verdict $? "a stage that exits 1 at once backs off ($(sf ctlc crash supervisor_state), \
$(sf ctlc crash recent_failures) failures, last $(sf ctlc crash last_exit))"

# ---- kill -9: restarted at once (it ran for more than 1 s)
ran_1200ms() { [ "$(sf ctl f1 uptime_ns)" -gt 1200000000 ]; }
until_true 5 ran_1200ms
old=$(sf ctl f1 pid)
t0=$(now_ms)
kill -9 "$old"
until_true 3 running_new ctl f1 "$old"
took=$(($(now_ms) - t0))
new=$(sf ctl f1 pid)
[ "$took" -le 1000 ] && [ "$new" != "$old" ]
verdict $? "kill -9 of f1 (pid $old): pid $new runs $took ms later"
jq -e '.stages[] | select(.id == "f1") | .restarts == 1 and .supervisor_restarts == 1 and
	.last_exit == "signal 9 (Killed)"' <<<"$(ctl --json stage list)" >/dev/null
verdict $? "stage list: restarts 1, the last exit was signal 9"
out=$(ctl stage list)
grep -q "SUPERVISOR" <<<"$out" && grep -qE "^f1 .*running, 1 restart " <<<"$out"
verdict $? "the table says so: $(grep '^f1' <<<"$out")"
grep -q "stage f1 (pid $old) was killed by signal 9 (Killed) after .* s; restarting it now" "$files/main.err"
verdict $? "the decision is logged: $(grep -m1 "pid $old) was killed" "$files/main.err")"

# ---- a hung stage with --kill-hung: killed, then restarted
sleep 1.1
old=$new
kill -STOP "$old"
until_true 6 running_new ctl f1 "$old"
verdict $? "f1 stopped with SIGSTOP (pid $old) is killed and restarted (pid $(sf ctl f1 pid))"
grep -q "stage f1 (pid $old) is alive but its heartbeat stopped [0-9.]* s ago" "$files/main.err" &&
	grep -q "stage f1 (pid $old): killed with SIGKILL (--kill-hung)" "$files/main.err"
verdict $? "reported and killed: $(grep -m1 "pid $old) is alive" "$files/main.err")"

# ---- the crash instance's idle stage, hung without --kill-hung: reported once, left alone
h0=$(sf ctlc h0 pid)
kill -STOP "$h0"
until_true 3 grep -q "stage h0 (pid $h0) is alive but its heartbeat stopped" "$files/crash.err"
verdict $? "h0 stopped with SIGSTOP is reported: $(grep -m1 "h0 (pid $h0) is alive" "$files/crash.err")"
sleep 1
[ "$(grep -c "stage h0 (pid $h0) is alive" "$files/crash.err")" = 1 ] && kill -0 "$h0" &&
	[ "$(sf ctlc h0 pid)" = "$h0" ]
verdict $? "once, and without --kill-hung it is not killed"
kill -CONT "$h0"
until_true 3 grep -q "stage h0 (pid $h0) beats again" "$files/crash.err"
verdict $? "after SIGCONT: $(grep -m1 "h0 (pid $h0) beats again" "$files/crash.err")"

# ---- stage launch
# --backpressure: a slow 'out' (a loaded machine) makes g1 wait, not drop; what is
# checked is that the restart itself loses nothing.
out=$(ctl stage launch g1 -- mpdp-fwd --in in.rx --out out=out.tx --backpressure 2>&1)
rc=$?
[ $rc -eq 0 ] && grep -q "stage g1 launched: pid [0-9]*, supervised" <<<"$out"
verdict $? "stage launch g1 answers once it runs: $out"
jq -e '.stages[] | select(.id == "g1") | .state == "running" and .supervised and .pid > 0' \
	<<<"$(ctl --json stage list)" >/dev/null
verdict $? "g1 is running and supervised"

# ---- graceful restart while 'in' plays at 1500 pps: nothing lost, a new pid
sleep 1
old=$(sf ctl g1 pid)
inflight=$(ctl --json port stats out | jq .ports[0].tx_packets)
out=$(ctl stage restart g1 2>&1)
rc=$?
new=$(sf ctl g1 pid)
[ $rc -eq 0 ] && grep -q "stage g1 restarted: pid $new took over from pid $old" <<<"$out" && [ "$new" != "$old" ]
verdict $? "stage restart g1 under traffic ($inflight packets out so far): $out"
total=$((2 * 3027))
until_true 15 eval '[ "$(ctl --json port stats out | jq .ports[0].tx_packets)" = '$total' ]'
jq -e ".ports[] | select(.name == \"in\") | .rx_packets == $total and .rx_missed == 0" \
	<<<"$(ctl --json port stats)" >/dev/null &&
	jq -e ".ports[] | select(.name == \"out\") | .tx_packets == $total and .tx_drops == 0" \
	<<<"$(ctl --json port stats)" >/dev/null
verdict $? "no packet lost: in received $total, out sent $(ctl --json port stats out | jq -c \
	'.ports[0] | [.tx_packets, .tx_drops]')"
jq -e ".stages[] | select(.id == \"g1\") | .in_packets == $total and .sent == $total and .dropped == 0 and
	.restarts == 1 and .supervisor_restarts == 1" <<<"$(ctl --json stage stats g1)" >/dev/null
verdict $? "g1's counters: in $total, sent $total, dropped 0, across the two processes \
($(ctl --json stage stats g1 | jq -c '.stages[0] | [.in_packets, .sent, .dropped, .restarts]'))"
kill -0 "$old" 2>/dev/null
[ $? -ne 0 ] && grep -q "stage g1: pid $new stands by; asking pid $old to stop" "$files/main.err"
verdict $? "the old process is gone, logged: $(grep -m1 "pid $new stands by" "$files/main.err")"

# ---- refusals of stage launch and restart
start_stage m1.out "$fwd" --stage m1 --in mx --out out=my
m1=$stage_pid
verdict $? "m1 started by hand"
run_expect 1 "m1 was not launched by the primary: start the new process yourself with --takeover" \
	"${CTL[@]}" stage restart m1
run_expect 1 "stage m1 is already running (pid $m1), not launched by the primary" \
	"${CTL[@]}" stage launch m1 -- mpdp-fwd --in mx
run_expect 1 "stage g1 is already supervised" "${CTL[@]}" stage launch g1 -- mpdp-fwd --in in.rx
run_expect 1 "program 'mpdp-no-such-stage' not found" "${CTL[@]}" stage launch z1 -- mpdp-no-such-stage --in a
run_expect 1 "leave --name out of the arguments" "${CTL[@]}" stage launch z1 -- mpdp-fwd --in a --name x
run_expect 1 "no stage named 'nosuch'" "${CTL[@]}" stage restart nosuch
out=$(ctl stage launch z2 -- mpdp-fwd --in za --no-such-option 2>&1)
rc=$?
[ $rc -eq 1 ] && grep -q "exited with status 2 before it ran" <<<"$out" &&
	[ -z "$(sf ctl z2 id)" ] && grep -q "unknown option '--no-such-option'" "$files/main.err"
verdict $? "a launched stage that exits before it runs is refused and not kept: $out"
run_expect 2 "stage launch: missing the stage ID" "${CTL[@]}" stage launch
run_expect 2 "may hold only letters" "${CTL[@]}" stage launch 'a b' -- mpdp-fwd
run_expect 2 "missing the PROGRAM" "${CTL[@]}" stage launch z3 --
run_expect 2 "stage restart: missing the stage ID" "${CTL[@]}" stage restart
run_expect 2 "unexpected argument 'x'" "${CTL[@]}" stage restart g1 x

# ---- stage stop of a supervised stage: exits 0, not restarted
old=$(sf ctl f1 pid)
out=$(ctl stage stop f1 2>&1)
[ $? -eq 0 ] && grep -q "the primary will not restart it" <<<"$out"
verdict $? "stage stop f1: $out"
until_true 3 is_state ctl f1 stopped
sleep 1.2
jq -e '.stages[] | select(.id == "f1") | .supervisor_state == "stopped" and .state == "down" and
	.last_exit == "exit 0"' <<<"$(ctl --json stage list)" >/dev/null && ! kill -0 "$old" 2>/dev/null
verdict $? "f1 exited 0 and stays down ($(sf ctl f1 supervisor_state), $(sf ctl f1 last_exit))"
out=$(ctl stage restart f1 2>&1)
[ $? -eq 0 ] && grep -q "stage f1 started: pid" <<<"$out" && running_new ctl f1 "$old"
verdict $? "stage restart of a stopped stage starts it again: $out"

# ---- shutdown of the main instance: its stages are stopped and reaped
ctl stage stop m1 >/dev/null
wait "$m1"
kids=$(children "$main_pid" | tr '\n' ' ')
[ -n "$kids" ]
verdict $? "the main instance's stage processes: $kids"
ctl shutdown >/dev/null
until_true 10 eval '! kill -0 '$main_pid' 2>/dev/null'
wait "$main_pid"
rc=$?
left=""
for k in $kids; do kill -0 "$k" 2>/dev/null && left="$left $k"; done
[ $rc -eq 0 ] && [ -z "$left" ]
verdict $? "shutdown: the primary exits $rc and no stage process is left${left:+ (left:$left)}"

# ---- the crash loop ends "failed" within the policy's limits
# ~26.3 s of back-off, plus the time each of the 11 processes takes to fail.
until_true 45 is_state ctlc crash failed
took=$(($(now_ms) - crash_t0))
[ "$(sf ctlc crash supervisor_state)" = failed ] && [ "$took" -ge 26000 ] && [ "$took" -le 35000 ]
verdict $? "the crash loop is given up after $took ms (11 failures within 30 s)"
delays=$(grep -o "stage crash (pid [0-9]*) exited with status 1 after [0-9.]* s; restarting in [0-9.]* s" \
	"$files/crash.err" | sed 's/.*restarting in \([0-9.]*\) s/\1/' | tr '\n' ' ')
[ "$delays" = "0.1 0.2 0.4 0.8 1.6 3.2 5.0 5.0 5.0 5.0 " ]
verdict $? "its back-off doubles from 0.1 s up to 5 s: $delays"
[ "$(grep -c "stage crash (pid [0-9]*) exited with status 1 .*11 failures within 30 s, giving up" \
	"$files/crash.err")" = 1 ]
verdict $? "logged once, with the last exit status: $(grep -m1 'giving up' "$files/crash.err")"
sleep 1
jq -e '.stages[] | select(.id == "crash") | .supervisor_state == "failed" and .supervisor_restarts == 10 and
	.recent_failures >= 1 and .last_exit == "exit 1" and .pid == 0' <<<"$(ctlc --json stage list)" >/dev/null
verdict $? "failed stays failed: 10 restarts, last exit 1, no process \
($(ctlc --json stage list | jq -c '.stages[] | select(.id == "crash") | [.supervisor_state,
	.supervisor_restarts, .recent_failures, .last_exit, .pid]'))"
out=$(ctlc stage stats)
grep -qE "^crash .*failed \(exit 1\), 10 restarts" <<<"$out"
verdict $? "stage stats shows it: $(grep '^crash' <<<"$out")"

# ---- shutdown of the crash instance, h0 stopped with SIGSTOP: SIGTERM cannot stop it, SIGKILL does
kill -STOP "$h0"
kids=$(children "$crash_pid" | tr '\n' ' ')
ctlc shutdown >/dev/null
until_true 10 eval '! kill -0 '$crash_pid' 2>/dev/null'
wait "$crash_pid"
rc=$?
left=""
for k in $kids; do kill -0 "$k" 2>/dev/null && left="$left $k"; done
[ $rc -eq 0 ] && [ -z "$left" ] && [ "$kids" = "$h0 " ] &&
	grep -q "stage h0 (pid $h0) did not stop within 2.0 s of SIGTERM: SIGKILL" "$files/crash.err"
verdict $? "shutdown with a stopped stage: SIGKILL after 2 s, nothing left (rc $rc${left:+, left:$left})"

! grep -q "Sanitizer" "$files/main.err" "$files/crash.err"
verdict $? "no sanitizer report in the primaries' logs$(grep -m1 -h Sanitizer "$files/main.err" "$files/crash.err")"

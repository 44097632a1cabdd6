# Sourced by the shell tests that run an instance and its stages: TAP lines,
# starting stages and waiting on what the processes print and count. The
# sourcing script sets name, rundir, files, probe (tests/stages/probe) and
# pids, and kills pids when it exits.

n=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
notok() { n=$((n + 1)); echo "not ok $n - $*"; }
# verdict STATUS DESC: ok when STATUS (pass $? of the check first) is 0
verdict() { if [ "$1" -eq 0 ]; then ok "$2"; else notok "$2"; fi; }

# run_expect RC 'NEEDLE' CMD...: exit code RC, NEEDLE in the output, no sanitizer report.
# A command still running after 60 s is killed (rc 124) and named, not left to
# stall the whole test until meson's timeout.
run_expect() {
	local want=$1 needle=$2 out rc
	shift 2
	out=$(timeout 60 "$@" 2>&1 </dev/null)
	rc=$?
	if [ "$rc" -eq "$want" ] && grep -qF -- "$needle" <<<"$out" && ! grep -q Sanitizer <<<"$out"; then
		ok "rc $rc: $(head -1 <<<"$out")"
	else
		notok "${*:2} -> rc $rc (want $want), '$needle' not in: $(head -3 <<<"$out")"
	fi
}

# wait_line FILE LINE [TRIES]: until FILE has LINE (0.05 s apart)
wait_line() {
	for _ in $(seq "${3:-200}"); do grep -qx -- "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done
	return 1
}

# field KIND NAME KEY: a counter from the probe
field() {
	"$probe" "$name" "$rundir" | awk -v k="$1" -v n="$2" -v f="$3" \
		'$1 == k && $2 == n { for (i = 3; i < NF; i += 2) if ($i == f) print $(i + 1) }'
}

# wait_count KIND NAME KEY VALUE: until the counter reaches VALUE (10 s)
wait_count() {
	for _ in $(seq 200); do [ "$(field "$1" "$2" "$3")" = "$4" ] && return 0; sleep 0.05; done
	return 1
}

# start_stage LOG PROGRAM ARGS...: run it in the background (pid in stage_pid), wait for "ready"
start_stage() {
	local log=$1 prog=$2
	shift 2
	"$prog" --name "$name" --runtime-dir "$rundir" "$@" >"$files/$log" 2>"$files/$log.err" </dev/null &
	pids+=($!)
	stage_pid=$!
	wait_line "$files/$log" ready
}

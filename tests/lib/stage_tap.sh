# Sourced by the shell tests that run an instance and its stages: TAP lines,
# starting stages, waiting on what the processes print and count, and
# mpdpctl. The sourcing script calls tap_instance (or sets name, rundir,
# files and pids, and kills pids when it exits itself), and sets probe
# (tests/stages/probe) and ctl_bin (tools/mpdpctl, for ctl/jcheck/settle).

# tap_instance TAG: the test's instance name, run and file folders, and the
# pids it starts, all killed and removed at exit.
tap_instance() {
	rundir=$(mktemp -d "/tmp/mpdp-$1-XXXXXX")
	files=$(mktemp -d "/tmp/mpdp-$1-files-XXXXXX")
	name=$1-$$
	pids=()
	trap tap_cleanup EXIT
}

tap_cleanup() {
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	rm -rf "$rundir" "$files"
}

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

# until_true SECONDS CMD...: poll CMD every 50 ms until it succeeds
until_true() {
	local end=$(($(date +%s%N) + $(awk -v s="$1" 'BEGIN { printf "%.0f", s * 1e9 }')))
	shift
	while :; do
		"$@" && return 0
		[ "$(date +%s%N)" -ge "$end" ] && return 1
		sleep 0.05
	done
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
	rm -f "$files/$log" # a "ready" left by an earlier process must not be read as this one's
	"$prog" --name "$name" --runtime-dir "$rundir" "$@" >"$files/$log" 2>"$files/$log.err" </dev/null &
	pids+=($!)
	stage_pid=$!
	wait_line "$files/$log" ready
}

# ctl ARGS...: mpdpctl on this instance (ctl_timeout seconds at most, default 20)
ctl() { timeout "${ctl_timeout:-20}" "$ctl_bin" --name "$name" --runtime-dir "$rundir" "$@"; }

# jcheck DESC JQ-EXPR MPDPCTL-ARGS...: the command succeeds and its JSON satisfies the expression
jcheck() {
	local desc=$1 expr=$2 out
	shift 2
	out=$(ctl --json "$@" 2>"$files/jcheck.err")
	if [ $? -eq 0 ] && jq -e "$expr" <<<"$out" >/dev/null 2>&1; then
		ok "$desc"
	else
		notok "$desc: mpdpctl $* -> $(head -c 600 <<<"$out") $(head -c 300 "$files/jcheck.err")"
	fi
}

# settle JQ-EXPR MPDPCTL-ARGS...: wait up to 10 s for the JSON to satisfy the expression
# (counters move after the packets they count); a jcheck that follows asserts it
settle() {
	local expr=$1
	shift
	for _ in $(seq 200); do
		ctl --json "$@" 2>/dev/null | jq -e "$expr" >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	return 1
}

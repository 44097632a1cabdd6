#!/usr/bin/env bash
# mpdp-stat against a real instance: a primary with two null ports and an
# mpdp-fwd from one to the other. A snapshot shows the ports and the stage
# with counters that moved, --json is one valid JSON object, --watch stops
# on SIGTERM and by itself once the primary is gone (exit 0, final frame and
# summary), a missing instance is exit 1 and bad arguments exit 2. Every
# process is stopped by PID. TAP output.
# usage: test_stat.sh BUILD_DIR
set -u
bin=$1
primary=$bin/primary/mpdp-primary
fwd=$bin/secondary/fwd/mpdp-fwd
stat=$bin/tools/mpdp-stat
dir=$(mktemp -d /tmp/mpdp-stat-XXXXXX)
name=stat-$$
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
	rm -rf "$dir"
}
trap cleanup EXIT

n=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
notok() { n=$((n + 1)); echo "not ok $n - $*"; }
skip() { n=$((n + 1)); echo "ok $n # SKIP $*"; }
check() { # DESCRIPTION DETAIL_FILE CMD...: ok when CMD succeeds, else the file as comments
	local what=$1 detail=$2
	shift 2
	if "$@"; then ok "$what"; else notok "$what"; sed 's/^/# /' "$detail" 2>/dev/null | head -30; fi
}
# wait_for FILE PATTERN PID: until FILE has a line matching PATTERN, or PID is gone (10 s at most)
wait_for() {
	for _ in $(seq 200); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		kill -0 "$3" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}
# wait_exit PID SECONDS: wait for a background process to end; rc is its exit code, 124 on timeout
wait_exit() {
	local i
	for ((i = 0; i < $2 * 20; i++)); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.05
	done
	if kill -0 "$1" 2>/dev/null; then
		kill "$1" 2>/dev/null
		wait "$1" 2>/dev/null
		rc=124
	else
		wait "$1"
		rc=$?
	fi
}
no_escape() { ! grep -q $'\033' "$1"; }
forget() { # PID: no longer ours to clean up
	local keep=() p
	for p in "${pids[@]}"; do [ "$p" != "$1" ] && keep+=("$p"); done
	pids=("${keep[@]}")
}

echo "1..14"

"$primary" --name "$name" --runtime-dir "$dir" --no-huge --mem 64M --pool mbuf,n=4096,cache=64 \
	--port n0,driver=null --port n1,driver=null,no_rx=1 >"$dir/primary.out" 2>"$dir/primary.err" &
ppid=$!
pids+=("$ppid")
check "primary with null ports n0 and n1 is ready" "$dir/primary.err" wait_for "$dir/primary.out" '^ready$' "$ppid"
"$fwd" --name "$name" --runtime-dir "$dir" --stage f1 --in n0.rx --out out=n1.tx \
	>"$dir/fwd.out" 2>"$dir/fwd.err" &
fpid=$!
pids+=("$fpid")
check "mpdp-fwd f1 from n0.rx to n1.tx is ready" "$dir/fwd.err" wait_for "$dir/fwd.out" '^ready$' "$fpid"
sleep 0.3

# Columns: NAME DRIVER LINK RX TX MISSED DROPS ERRORS / ID KIND STATE PID IN SENT DROPPED IN_HAND
"$stat" --name "$name" --runtime-dir "$dir" >"$dir/snap" 2>&1
rc=$?
check "snapshot: exit $rc" "$dir/snap" [ $rc -eq 0 ]
check "snapshot: port n0 (null, up) received and port n1 sent packets" "$dir/snap" \
	awk '$1 == "n0" && $2 == "null" && $3 == "up" && $4 > 0 { a = 1 }
	     $1 == "n1" && $2 == "null" && $5 > 0 { b = 1 } END { exit !(a && b) }' "$dir/snap"
check "snapshot: stage f1 (fwd, running, pid $fpid) took in and sent packets, one output line" "$dir/snap" \
	awk -v pid="$fpid" '$1 == "f1" && $2 == "fwd" && $3 == "running" && $4 == pid && $5 > 0 && $6 > 0 { a = 1 }
	     $1 == "out" && $2 == "out" && $4 == "n1.tx:" { b = 1 } END { exit !(a && b) }' "$dir/snap"
check "snapshot: rings (n0.rx count/size) and pools (mbuf in use/total)" "$dir/snap" \
	awk '$1 == "n0.rx" && $2 ~ /^[0-9]+\/1024$/ { a = 1 } $1 == "mbuf" && $2 ~ /^[0-9]+\/4096$/ { b = 1 }
	     END { exit !(a && b) }' "$dir/snap"

"$stat" --name "$name" --runtime-dir "$dir" --json >"$dir/json" 2>&1
rc=$?
if ! command -v python3 >/dev/null; then
	skip "--json is valid JSON: python3 is not installed to check it (exit $rc)"
else
	check "--json: exit $rc, valid JSON with port n0 and stage f1 counting" "$dir/json" \
		python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
p = {x["name"]: x for x in d["ports"]}
s = {x["id"]: x for x in d["stages"]}
assert p["n0"]["rx_packets"] > 0 and p["n1"]["tx_packets"] > 0, p
assert s["f1"]["kind"] == "fwd" and s["f1"]["in_packets"] > 0 and s["f1"]["outputs"][0]["ring"] == "n1.tx", s
assert any(r["name"] == "n0.rx" for r in d["rings"]) and d["pools"][0]["total"] == 4096
' "$dir/json"
fi

# --watch stops on SIGTERM with the final frame and the summary.
"$stat" --name "$name" --runtime-dir "$dir" --watch 0.2 >"$dir/watch1" 2>&1 &
wpid=$!
pids+=("$wpid")
sleep 0.7
kill -TERM "$wpid"
wait_exit "$wpid" 5
forget "$wpid"
check "--watch 0.2: SIGTERM -> exit $rc, 'stopped by' frame and summary" "$dir/watch1" \
	eval '[ $rc -eq 0 ] && grep -q "stopped by" "$dir/watch1" && grep -q "^summary: packets in [1-9]" "$dir/watch1"'

# --watch ends by itself when the primary exits; mpdp-fwd does too.
"$stat" --name "$name" --runtime-dir "$dir" --watch 0.2 >"$dir/watch2" 2>&1 &
wpid=$!
pids+=("$wpid")
sleep 0.9
kill -TERM "$ppid"
wait_exit "$wpid" 10
forget "$wpid"
frames=$(grep -c '^PORT ' "$dir/watch2")
check "--watch 0.2: exit $rc by itself after the primary stopped; $frames frames, the last says so" "$dir/watch2" \
	eval '[ $rc -eq 0 ] && [ "$frames" -ge 3 ] && grep -q "the primary has exited" "$dir/watch2"'
check "--watch summary: packets in and out counted, Mpps measured ($(grep '^summary' "$dir/watch2" | sed 's/.*), //'))" \
	"$dir/watch2" grep -Eq '^summary: packets in [1-9][0-9]*, out [1-9][0-9]*, dropped [0-9]+ .* [0-9.]+ Mpps' "$dir/watch2"
check "--watch into a file: frames one after another, no terminal escapes" "$dir/watch2" \
	no_escape "$dir/watch2"
wait_exit "$ppid" 5
forget "$ppid"
prc=$rc
wait_exit "$fpid" 5
forget "$fpid"
check "the primary (exit $prc) and mpdp-fwd (exit $rc, by itself) are gone" "$dir/fwd.err" \
	eval '[ $prc -eq 0 ] && [ $rc -eq 0 ]'

# Nothing runs there any more.
out=$("$stat" --name "$name" --runtime-dir "$dir" 2>&1)
rc=$?
echo "$out" >"$dir/gone"
check "instance not running: exit $rc, '$out'" "$dir/gone" eval '[ $rc -eq 1 ] && grep -q "is not running" "$dir/gone"'

bad=0
: >"$dir/bad"
for args in "--watch abc" "--watch 0" "--watch" "--colour" "--json --watch 1" "extra"; do
	# shellcheck disable=SC2086
	"$stat" --name "$name" --runtime-dir "$dir" $args >>"$dir/bad" 2>&1
	rc=$?
	echo "[$args -> $rc]" >>"$dir/bad"
	[ $rc -eq 2 ] || bad=$((bad + 1))
done
check "bad arguments (--watch abc, 0, none; unknown option; --json with --watch; extra) exit 2 with a message" \
	"$dir/bad" eval '[ $bad -eq 0 ] && [ "$(grep -c "^mpdp-stat: see --help" "$dir/bad")" -eq 6 ]'

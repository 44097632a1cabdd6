#!/usr/bin/env bash
# Run a libFuzzer target for a bounded time from the committed corpus (copied,
# so what it finds does not land in the source tree), as one TAP case.
# Usage: run_fuzz.sh FUZZER CORPUS_DIR SECONDS
set -u
fuzzer=$1 corpus=$2 secs=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/corpus"
cp "$corpus"/* "$work/corpus/"
echo "1..1"
cd "$work" || exit 1
"$fuzzer" -max_total_time="$secs" -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 \
	"$work/corpus" >"$work/log" 2>&1
rc=$?
sed 's/^/# /' "$work/log" | grep -E 'stat::|DONE|ERROR|SUMMARY|crash-|leak' | tail -20
if [ $rc -eq 0 ]; then
	echo "ok 1 - fuzz-ctl: ${secs}s without a crash, leak or hang"
else
	sed 's/^/# /' "$work/log" | tail -40
	echo "not ok 1 - fuzz-ctl found a failing input (exit $rc)"
fi

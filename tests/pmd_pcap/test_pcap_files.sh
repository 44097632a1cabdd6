#!/usr/bin/env bash
# Integration: the real mpdp-primary copies a capture file to another through
# two pcap ports patched together, and exits by itself (--until-eof). The
# output must equal the input: record count, every byte, caplen, len and
# timestamp (compared by pcaptool, which links libpcap). Then loop=5 (five
# copies), a nanosecond input with cut records (lengths kept, times at the
# microsecond), the primary's exit code and port summary, a pps= replay
# (paced, nothing lost) and bad pps= values. TAP output.
# usage: test_pcap_files.sh MPDP_PRIMARY PCAPTOOL
set -u
primary=$1
tool=$2
dir=$(mktemp -d /tmp/mpdp-pcapf-XXXXXX)
name=pcapf-$$
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
	rm -rf "$dir"
}
trap cleanup EXIT
echo "1..13"

# run_copy TAG DEVARGS_IN: in -> out until the end of the input; sets rc and the files.
run_copy() {
	local tag=$1 rxargs=$2
	timeout 60 "$primary" --name "$name" --runtime-dir "$dir" --no-huge --mem 64M \
		--pool mbuf,n=4096,cache=128 \
		--port "in,driver=pcap,$rxargs" --port "out,driver=pcap,tx_pcap=$dir/$tag.out.pcap" \
		--patch in:out --until-eof >"$dir/$tag.stdout" 2>"$dir/$tag.stderr" &
	pids+=($!)
	wait "${pids[-1]}"
	rc=$?
	unset 'pids[-1]'
}

report() { # N OK_CONDITION_RC DESCRIPTION [DETAIL_FILE]
	if [ "$2" -eq 0 ]; then echo "ok $1 - $3"; else
		echo "not ok $1 - $3"
		[ -n "${4:-}" ] && sed 's/^/# /' "$4"
	fi
}

"$tool" gen "$dir/in.pcap" 3000 || { echo "Bail out! pcaptool gen failed"; exit 1; }

start=$(date +%s%N)
run_copy one "rx_pcap=$dir/in.pcap"
secs=$(awk -v a="$start" -v b="$(date +%s%N)" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')
report 1 $rc "primary copied 3000 frames and exited 0 by itself (${secs}s)" "$dir/one.stderr"
"$tool" cmp "$dir/in.pcap" "$dir/one.out.pcap" >"$dir/cmp1" 2>&1
report 2 $? "output equals input: count, bytes, caplen, len, timestamps ($(head -1 "$dir/cmp1"))" "$dir/cmp1"
grep -Eq '^port in +pcap +link up +rx 3000 pkts .* errors 0 \|' "$dir/one.stdout" &&
	grep -Eq '^port out +pcap +link up +rx 0 pkts .*\| tx 3000 pkts .* errors 0, drops 0$' "$dir/one.stdout"
report 3 $? "the primary printed its port summary (in: rx 3000, out: tx 3000, no errors)" "$dir/one.stdout"

run_copy five "rx_pcap=$dir/in.pcap,loop=5"
report 4 $rc "loop=5: primary exited 0 by itself" "$dir/five.stderr"
"$tool" cmp "$dir/in.pcap" "$dir/five.out.pcap" --repeat 5 >"$dir/cmp5" 2>&1
report 5 $? "loop=5: the output is the input five times over ($(head -1 "$dir/cmp5"))" "$dir/cmp5"
grep -Eq '^port in +pcap +link up +rx 15000 pkts' "$dir/five.stdout"
report 6 $? "loop=5: port in received 15000" "$dir/five.stdout"

# Nanosecond input, records over 200 bytes cut to 200 (len kept), odd sub-microsecond times.
"$tool" gen "$dir/nano.pcap" 2000 --nano --snap 200 --ts-step 999 --seq 7
run_copy nano "rx_pcap=$dir/nano.pcap"
report 7 $rc "nanosecond input with cut records: primary exited 0" "$dir/nano.stderr"
"$tool" cmp "$dir/nano.pcap" "$dir/nano.out.pcap" >"$dir/cmpn" 2>&1
report 8 $? "cut records keep their length, times kept to the microsecond ($(head -1 "$dir/cmpn"))" "$dir/cmpn"
magic=$(od -An -tx4 -N4 "$dir/nano.out.pcap" | tr -d ' ')
[ "$magic" = a1b2c3d4 ]
report 9 $? "the output is a microsecond pcap (magic $magic)"

# pps=: 3000 frames at 1500 per second take 2 s less one burst (32 frames
# may go at once); 0.15 s of slack. The wall time includes start and exit,
# so it can only be longer than the replay.
pps=1500
start=$(date +%s%N)
run_copy paced "rx_pcap=$dir/in.pcap,pps=$pps"
secs=$(awk -v a="$start" -v b="$(date +%s%N)" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')
awk -v s="$secs" -v k=3000 -v p=$pps 'BEGIN { exit !(s >= k / p - 0.15) }'
paced=$?
[ $rc -eq 0 ] && [ $paced -eq 0 ]
report 10 $? "pps=$pps: 3000 frames took ${secs}s (at least $(awk -v p=$pps 'BEGIN { printf "%.2f", 3000 / p - 0.15 }')s), exit $rc" "$dir/paced.stderr"
"$tool" cmp "$dir/in.pcap" "$dir/paced.out.pcap" >"$dir/cmpp" 2>&1 &&
	grep -Eq '^port in +pcap +link up +rx 3000 pkts .* missed 0, errors 0 \|' "$dir/paced.stdout"
report 11 $? "pps=$pps: all 3000 arrived, output equals input ($(head -1 "$dir/cmpp"))" "$dir/cmpp"

# expect_refused N TAG DEVARGS_IN NEEDLE: non-zero exit and the message naming port and key
expect_refused() {
	run_copy "$2" "$3"
	[ $rc -ne 0 ] && [ $rc -lt 128 ] && grep -qF -- "$4" "$dir/$2.stderr"
	report "$1" $? "${3//$dir\//} refused: exit $rc, '$(grep -F -- "$4" "$dir/$2.stderr" | head -1 | sed 's/.*err: //')'" "$dir/$2.stderr"
}
expect_refused 12 badpps "rx_pcap=$dir/in.pcap,pps=fast" "port in: pps=fast is not a number from 0 to"
expect_refused 13 nopcap "tx_pcap=$dir/x.pcap,pps=100" "port in: pps= applies to rx_pcap= only"

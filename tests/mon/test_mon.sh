#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# mpdp-mon through the real programs: a primary (tmpfs, private runtime dir)
# replays tools/traffic/demo.pcap on pcap ports, mon stages count it, and
# `mpdp-mon --report` (text and --json) must say what tools/traffic/demo.flows
# says: totals, every protocol counter, every size bin, every flow, the top
# flow by bytes and by packets. Then: --pcap writes the input back record for
# record (flushed while mon idles), the last-second rate falls to 0 while mon
# idles and reads 0 once it stopped, SIGUSR1 reports, a restart with the same
# --stage continues the counters and one with another --flows is refused,
# --filter counts only what matches and a bad one exits 1 naming it, a sink
# counts its output as dropped, a 64-slot table facing 104 flows counts the
# rest as not tracked (traffic from mon_helper, with truncated and malformed
# frames), reports of unknown stages fail clearly, every process exits 0 on
# SIGTERM and every mbuf is back in the pool. TAP output.
# usage: test_mon.sh BUILD_ROOT SOURCE_ROOT
set -u
bin=$1
src=$2
primary=$bin/primary/mpdp-primary
mon=$bin/secondary/mon/mpdp-mon
helper=$bin/tests/mon/mon_helper
pcaptool=$bin/tests/pmd_pcap/pcaptool
demo=$src/tools/traffic/demo.pcap
manifest=$src/tools/traffic/demo.flows
rundir=$(mktemp -d /tmp/mpdp-mon-run-XXXXXX)
dir=$(mktemp -d /tmp/mpdp-mon-files-XXXXXX)
name=mon-$$
ppid_=
mpids=()
cleanup() {
	for p in "${mpids[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${mpids[@]}"; do wait "$p" 2>/dev/null; done
	if [ -n "$ppid_" ]; then kill "$ppid_" 2>/dev/null; wait "$ppid_" 2>/dev/null; fi
	rm -rf "$rundir" "$dir"
}
trap cleanup EXIT

plan=48
echo "1..$plan"
n=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
notok() { n=$((n + 1)); echo "not ok $n - $*"; }
skip() { n=$((n + 1)); echo "ok $n # SKIP $*"; }
# check RC DESCRIPTION [DETAIL_FILE]
check() {
	if [ "$1" -eq 0 ]; then ok "$2"; else
		notok "$2"
		[ -n "${3:-}" ] && [ -f "$3" ] && sed 's/^/# /' "$3" | head -40
	fi
	return 0
}

common=(--name "$name" --runtime-dir "$rundir")
# report ID [ARGS...]: the text report of stage ID on stdout
report() {
	local id=$1
	shift
	"$mon" "${common[@]}" --stage "$id" --report "$@" 2>&1
}
# total FILE packets|bytes
total() { awk -v f="$2" '$1 == "total" && $2 == "packets" { print (f == "packets" ? $3 : $5); exit }' "$1"; }
# section FILE TITLE: the "name value" lines of a report section
section() {
	awk -v t="$2" '$0 == t { on = 1; next } /^[^ ]/ { on = 0 } on { print $1, $2 }' "$1"
}
# counter FILE NAME: one protocol counter
counter() { section "$1" protocols | awk -v k="$2" '$1 == k { print $2 }'; }
# kv FILE LINE_TAG KEY: the value after KEY on the line starting with LINE_TAG
kv() { awk -v t="$2" -v k="$3" '$1 == t { for (i = 2; i < NF; i++) if ($i == k) { print $(i + 1); exit } }' "$1"; }
# rows FILE bytes|packets: "proto src dst sport dport packets bytes" per row
rows() {
	awk -v t="$2" '$1 == "top" && $4 == "by" { on = ($5 == t); next }
		/^[^ ]/ { on = 0 } on && $1 != "rank" { print $2, $3, $4, $5, $6, $7, $8 }' "$1"
}
# manifest KEY [FIELD]: a trailer line of the manifest (flow lines have 7 fields)
manifest() { awk -F'\t' -v k="$1" -v f="${2:-2}" '$1 == k && NF < 7 { print $f; exit }' "$manifest"; }
# wait_packets ID COUNT FILE: poll the report until it shows COUNT packets (20 s)
wait_packets() {
	for _ in $(seq 200); do
		report "$1" >"$3"
		[ "$(total "$3" packets)" = "$2" ] && return 0
		sleep 0.1
	done
	return 1
}
# start_mon OUT ARGS...: a mon in the background; waits for its "ready"
start_mon() {
	local out=$1
	shift
	"$mon" "${common[@]}" "$@" >"$out" 2>"$out.err" </dev/null &
	mpids+=($!)
	for _ in $(seq 200); do grep -q '^ready$' "$out" && return 0; sleep 0.05; done
	return 1
}
# stop_mon OUT: SIGTERM the last mon started; returns its exit code
stop_mon() {
	local p=${mpids[-1]} rc
	kill -TERM "$p"
	wait "$p"
	rc=$?
	unset 'mpids[-1]'
	return $rc
}

for f in "$demo" "$manifest"; do
	[ -r "$f" ] || { echo "Bail out! $f is missing"; exit 1; }
done
"$helper" flows "$dir/flows.pcap" 100 3 || { echo "Bail out! mon_helper flows failed"; exit 1; }

# One primary for everything: each input port replays its file into NAME.rx
# and waits there (file sources are back-pressured) until a stage drains it.
"$primary" "${common[@]}" --no-huge --mem 64M --pool mbuf,n=8192,cache=64 \
	--port "in,driver=pcap,rx_pcap=$demo" --port "out,driver=pcap,tx_pcap=$dir/out.pcap" \
	--port "again,driver=pcap,rx_pcap=$demo" --port "fin,driver=pcap,rx_pcap=$demo" \
	--port "fin2,driver=pcap,rx_pcap=$demo" \
	--port "gen,driver=pcap,rx_pcap=$dir/flows.pcap" \
	>"$dir/primary.out" 2>"$dir/primary.err" </dev/null &
ppid_=$!
for _ in $(seq 200); do grep -q '^ready$' "$dir/primary.out" && break; sleep 0.05; done
grep -q '^ready$' "$dir/primary.out"
check $? "primary ready: six pcap ports, tmpfs, runtime dir $rundir" "$dir/primary.err"
grep -q '^ready$' "$dir/primary.out" || { echo "Bail out! the primary did not start"; exit 1; }

# --- the demo traffic through mon, out to a pcap port, captured with --pcap
id=mon$$
start_mon "$dir/m1.out" --stage "$id" --in in.rx --out out=out.tx --backpressure --pcap "$dir/mon.pcap"
check $? "mpdp-mon --stage $id --in in.rx --out out=out.tx --backpressure --pcap started" "$dir/m1.out.err"
tot_p=$(manifest total 2)
tot_b=$(manifest total 3)
wait_packets "$id" "$tot_p" "$dir/r1"
check $? "mon counted all $tot_p packets of demo.pcap" "$dir/r1"
report "$id" --top 100 >"$dir/r1"
[ "$(total "$dir/r1" bytes)" = "$tot_b" ]
check $? "total: $tot_p packets, $tot_b bytes as the manifest says" "$dir/r1"

miss=
for k in ipv4 ipv6 tcp udp icmp arp vlan other; do
	[ "$(counter "$dir/r1" $k)" = "$(manifest $k)" ] || miss="$miss $k=$(counter "$dir/r1" $k)/$(manifest $k)"
done
[ "$(counter "$dir/r1" eth)" = "$tot_p" ] || miss="$miss eth"
for k in l4_other fragments truncated malformed; do
	[ "$(counter "$dir/r1" $k)" = 0 ] || miss="$miss $k"
done
[ -z "$miss" ]
check $? "protocol counters equal the manifest (ipv4 ipv6 tcp udp icmp arp vlan other; eth = total; no fragment, truncated, malformed, other L4)${miss:+; wrong:$miss}" "$dir/r1"

miss=
while IFS=$'\t' read -r _ lo hi cnt; do
	case $lo in 0) label="<64" ;; "$hi") label=$lo ;; *) label=$lo-$hi ;; esac
	got=$(section "$dir/r1" sizes | awk -v l="$label" '$1 == l { print $2 }')
	[ "$got" = "$cnt" ] || miss="$miss $label=$got/$cnt"
done < <(awk -F'\t' '$1 == "size"' "$manifest")
[ "$(section "$dir/r1" sizes | awk '$1 == ">1518" { print $2 }')" = 0 ] || miss="$miss >1518"
[ -z "$miss" ]
check $? "every size bin equals the manifest, >1518 empty${miss:+; wrong:$miss}" "$dir/r1"

awk -F'\t' 'NF == 7 && $1 !~ /^#/ { print $1, $2, $3, $4, $5, $6, $7 }' "$manifest" | sort >"$dir/flows.want"
n_flows=$(wc -l <"$dir/flows.want")
rows "$dir/r1" bytes | sort >"$dir/flows.bytes"
rows "$dir/r1" packets | sort >"$dir/flows.pkts"
diff "$dir/flows.want" "$dir/flows.bytes" >"$dir/diff1" &&
	[ "$(kv "$dir/r1" flows tracked)" = "$n_flows" ] && [ "$(kv "$dir/r1" flows not_tracked_packets)" = 0 ]
check $? "top 100 by bytes lists exactly the $n_flows manifest flows with their packets and bytes; $n_flows tracked, none untracked" "$dir/diff1"
diff "$dir/flows.want" "$dir/flows.pkts" >"$dir/diff2"
check $? "top 100 by packets lists the same $n_flows flows and counts" "$dir/diff2"

want_b=$(sort -k7,7nr "$dir/flows.want" | head -1)
want_p=$(sort -k6,6nr "$dir/flows.want" | head -1)
got_b=$(rows "$dir/r1" bytes | head -1)
got_p=$(rows "$dir/r1" packets | head -1)
[ "$got_b" = "$want_b" ] && [ "$got_p" = "$want_p" ] && [ "$got_b" != "$got_p" ]
check $? "top flow by bytes is '$got_b', by packets '$got_p', as in the manifest" "$dir/r1"

# JSON: one object, the framework's counters under "stage", mon's tables under "report".
report "$id" --top 100 --json >"$dir/r1.json"
if command -v python3 >/dev/null; then
	python3 - "$dir/r1.json" "$dir/r1" "$manifest" >"$dir/json.err" 2>&1 <<'EOF'
import json, sys
whole = json.loads(open(sys.argv[1]).read())
j = whole["report"]
text = open(sys.argv[2]).read().split("\n")
man = [l.rstrip("\n").split("\t") for l in open(sys.argv[3]) if not l.startswith("#")]
tot = [m for m in man if m[0] == "total"][0]
assert j["packets"] == int(tot[1]) and j["bytes"] == int(tot[2]), "totals"
for m in man:
    if len(m) == 2:
        assert j["protocols"][m[0]] == int(m[1]), m[0]
    if m[0] == "size":
        b = [s for s in j["sizes"] if s["lo"] == int(m[1]) and s["hi"] == int(m[2])]
        assert len(b) == 1 and b[0]["packets"] == int(m[3]), "size %s" % m[1]
flows = set((f["proto"], f["src"], f["dst"], f["sport"], f["dport"], f["packets"], f["bytes"])
            for f in j["top_by_bytes"])
want = set((m[0], m[1], m[2], int(m[3]), int(m[4]), int(m[5]), int(m[6])) for m in man if len(m) == 7)
assert flows == want, "flows by bytes"
assert set((f["proto"], f["src"], f["dst"], f["sport"], f["dport"], f["packets"], f["bytes"])
           for f in j["top_by_packets"]) == want, "flows by packets"
assert j["top_by_bytes"][0]["bytes"] == max(w[6] for w in want)
assert j["top_by_packets"][0]["packets"] == max(w[5] for w in want)
assert j["flows"]["tracked"] == len(want) and j["flows"]["not_tracked_packets"] == 0
assert j["stage"] and j["running"] is True and j["top"] == 100
assert whole["stage"]["kind"] == "mon" and whole["stage"]["in_packets"] >= j["packets"]
EOF
	check $? "--json: one valid JSON object with the same totals, protocols, bins and flows" "$dir/json.err"
else
	skip "--json: python3 not found to parse it"
fi

# --pcap: mon is idle now; its tick (every 100 ms or so, later on a loaded
# machine) must write out everything it buffered.
for _ in $(seq 50); do
	"$pcaptool" cmp "$demo" "$dir/mon.pcap" >"$dir/cmp1" 2>&1 && break
	sleep 0.1
done
check $? "--pcap file equals demo.pcap record for record while mon idles ($(head -1 "$dir/cmp1"))" "$dir/cmp1"

# The idle worker's ticks bring the last-second rate to 0 a second or so
# after the traffic (later if the ticks are late on a loaded machine).
for _ in $(seq 100); do
	report "$id" >"$dir/r1b"
	[ "$(awk '$1 == "rate" { print $3 }' "$dir/r1b")" = 0 ] && break
	sleep 0.1
done
last=$(awk '$1 == "rate" { print $3 }' "$dir/r1b")
avg=$(awk '$1 == "rate" { print $8 }' "$dir/r1b")
[ "$last" = 0 ] && [ -n "$avg" ] && [ "$avg" -gt 0 ]
check $? "rates: nothing in the last second once mon idles, average $avg pps > 0 ($(grep '^rate' "$dir/r1b"))" "$dir/r1b"

kill -USR1 "${mpids[-1]}"
for _ in $(seq 50); do grep -q "^total      packets $tot_p " "$dir/m1.out" && break; sleep 0.1; done
grep -q "^total      packets $tot_p bytes $tot_b$" "$dir/m1.out" && grep -q '^top 10 flows by bytes$' "$dir/m1.out"
check $? "SIGUSR1: the running mon prints its report on stdout" "$dir/m1.out"

stop_mon
rc=$?
grep -q "in $tot_p pkts, sent $tot_p pkts, dropped 0 pkts" "$dir/m1.out"
check $(( rc != 0 || $? != 0 )) "SIGTERM: mon exits 0 (rc $rc), passed all $tot_p packets to out" "$dir/m1.out.err"

report "$id" >"$dir/r2"
[ "$(total "$dir/r2" packets)" = "$tot_p" ] && grep -q "^mon $id: stopped, 1 start$" "$dir/r2" &&
	[ "$(awk '$1 == "rate" { print $3 }' "$dir/r2")" = 0 ]
check $? "--report on the stopped stage: counters kept, stopped, last-second rate 0" "$dir/r2"

# --- restart: another table size is refused, the same one continues
"$mon" "${common[@]}" --stage "$id" --in again.rx --flows 128 >"$dir/m2.out" 2>&1 </dev/null
rc=$?
[ $rc -eq 1 ] && grep -q -- "--flows 128" "$dir/m2.out" && grep -q "4096 slots" "$dir/m2.out"
check $? "restart with --flows 128 exits 1: $(grep -v '^mpdp' "$dir/m2.out" | head -1)$(grep -m1 'flows' "$dir/m2.out")" "$dir/m2.out"
report "$id" >"$dir/r3"
[ "$(total "$dir/r3" packets)" = "$tot_p" ]
check $? "the refused restart changed nothing: still $tot_p packets" "$dir/r3"

start_mon "$dir/m3.out" --stage "$id" --in again.rx --out out=out.tx --backpressure
check $? "restart with the same --stage $id on again.rx" "$dir/m3.out.err"
wait_packets "$id" $((2 * tot_p)) "$dir/r4"
check $? "counters continue: $((2 * tot_p)) packets after the file is fed again" "$dir/r4"
report "$id" --top 100 >"$dir/r4"
awk '{ print $1, $2, $3, $4, $5, $6 * 2, $7 * 2 }' "$dir/flows.want" | sort >"$dir/flows.want2"
rows "$dir/r4" bytes | sort >"$dir/flows.bytes2"
diff "$dir/flows.want2" "$dir/flows.bytes2" >"$dir/diff3" && [ "$(total "$dir/r4" bytes)" = $((2 * tot_b)) ] &&
	[ "$(counter "$dir/r4" udp)" = $((2 * $(manifest udp))) ] && grep -q "^mon $id: running, 2 starts$" "$dir/r4"
check $? "after the restart every flow, byte and protocol count doubled; 2 starts" "$dir/diff3"
stop_mon
check $? "the restarted mon exits 0 on SIGTERM" "$dir/m3.out.err"

# --- --filter
fid=monf$$
"$mon" "${common[@]}" --stage "$fid" --in fin.rx --filter 'bogus (((' --pcap "$dir/never.pcap" \
	>"$dir/mf0.out" 2>&1 </dev/null
rc=$?
[ $rc -eq 1 ] && grep -qF -- "--filter 'bogus (((':" "$dir/mf0.out" && [ ! -e "$dir/never.pcap" ]
check $? "--filter 'bogus (((' exits 1 ($rc) naming it: $(grep -F 'bogus' "$dir/mf0.out" | head -1)" "$dir/mf0.out"
report "$fid" >"$dir/rf0"
[ $? -eq 1 ] && grep -q "no stage '$fid'" "$dir/rf0"
check $? "... and leaves nothing behind: no stage $fid, no capture file" "$dir/rf0"

"$mon" "${common[@]}" --stage "$fid" --in fin.rx --pcap /nonexistent-mon-dir/x.pcap >"$dir/mf1.out" 2>&1 </dev/null
rc=$?
[ $rc -eq 1 ] && grep -q "/nonexistent-mon-dir/x.pcap.*No such file or directory" "$dir/mf1.out"
check $? "--pcap in a missing directory exits 1 naming the file and the reason: $(grep x.pcap "$dir/mf1.out" | head -1)" "$dir/mf1.out"

"$mon" "${common[@]}" --stage "$fid" --in fin.rx --flows 100 >"$dir/mf2.out" 2>&1 </dev/null
rc=$?
[ $rc -ne 0 ] && grep -q -- "--flows 100: not a power of two from 64 to 1048576" "$dir/mf2.out"
check $? "--flows 100 is refused (rc $rc)" "$dir/mf2.out"

# A sink (no --out): what it passes on is dropped by the framework at "out".
# As in tcpdump, "udp" does not look inside VLAN tags: the syslog flow on
# VLAN 100 (doc/traffic.md) is not matched; "udp or (vlan and udp)" is all.
udp_p=$(manifest udp)
awk '$1 == "udp"' "$dir/flows.want" >"$dir/udp.want"
grep -v '^udp 10.100.0.5 10.100.0.1 ' "$dir/udp.want" >"$dir/udp-untagged.want"
# filter_case EXPR ID PORT WANT_FILE
filter_case() {
	local expr=$1 id=$2 port=$3 want=$4 miss= p b
	p=$(awk '{ s += $6 } END { print s }' "$want")
	b=$(awk '{ s += $7 } END { print s }' "$want")
	start_mon "$dir/$id.out" --stage "$id" --in "$port.rx" --filter "$expr"
	check $? "mpdp-mon --filter '$expr' as a sink (no --out) started" "$dir/$id.out.err"
	wait_packets "$id" "$p" "$dir/$id.r"
	sleep 0.3
	report "$id" --top 100 >"$dir/$id.r"
	[ "$(total "$dir/$id.r" packets)" = "$p" ] || miss="$miss packets"
	[ "$(total "$dir/$id.r" bytes)" = "$b" ] || miss="$miss bytes"
	[ "$(kv "$dir/$id.r" filter filtered_out_packets)" = $((tot_p - p)) ] || miss="$miss filtered_out"
	for k in tcp icmp arp other; do [ "$(counter "$dir/$id.r" $k)" = 0 ] || miss="$miss $k"; done
	[ "$(counter "$dir/$id.r" udp)" = "$p" ] || miss="$miss udp"
	diff "$want" <(rows "$dir/$id.r" bytes | sort) >"$dir/$id.diff" || miss="$miss flows"
	[ -z "$miss" ]
	check $? "--filter '$expr' counts only UDP: $p packets, $b bytes, $(wc -l <"$want") flows; $((tot_p - p)) filtered out${miss:+; wrong:$miss}" "$dir/$id.r"
	grep -Eq "^  out  out +-> \(unbound\) +0 pkts 0 bytes, $tot_p dropped \(no ring\)$" "$dir/$id.r"
	check $? "sink: all $tot_p packets (matching or not) went to the unbound output, counted as dropped there" "$dir/$id.r"
	stop_mon
	check $? "the filter mon exits 0 on SIGTERM" "$dir/$id.out.err"
}
filter_case udp "$fid" fin "$dir/udp-untagged.want"
filter_case 'udp or (vlan and udp)' "monv$$" fin2 "$dir/udp.want"
[ "$(awk '{ s += $6 } END { print s }' "$dir/udp.want")" = "$udp_p" ]
check $? "the manifest's UDP flows hold its $udp_p UDP packets (so the second filter saw them all)" "$manifest"

# --- a 64-slot table facing 104 flows, and bad frames; a default table after it
sid=mons$$
bid=monb$$
start_mon "$dir/mb.out" --stage "$bid" --in mid
check $? "mon $bid (default table) on ring mid started" "$dir/mb.out.err"
start_mon "$dir/ms.out" --stage "$sid" --in gen.rx --out out=mid --flows 64
check $? "mon $sid --flows 64 on gen.rx, out to mid, started" "$dir/ms.out.err"
wait_packets "$bid" 310 "$dir/rb"
check $? "both counted the 310 frames of mon_helper (100 flows x 3, then 10 odd frames)" "$dir/rb"
report "$sid" --top 100 >"$dir/rs"
# Flows 0-63 take the 64 slots in the first round; flows 64-99 (3 packets
# each) and the 4 odd frames with a whole IP header are new flows after that.
miss=
[ "$(kv "$dir/rs" flows tracked)" = 64 ] || miss="$miss tracked"
[ "$(kv "$dir/rs" flows not_tracked_packets)" = 112 ] || miss="$miss not_tracked_packets"
[ "$(kv "$dir/rs" flows not_tracked_bytes)" = 12564 ] || miss="$miss not_tracked_bytes"
[ "$(rows "$dir/rs" packets | awk '$6 == 3 && $7 == 300' | wc -l)" = 64 ] || miss="$miss rows"
[ "$(total "$dir/rs" packets)" = 310 ] && [ "$(total "$dir/rs" bytes)" = 31944 ] || miss="$miss total"
[ -z "$miss" ]
check $? "--flows 64: 64 flows tracked with 3 packets each, 112 packets (12564 bytes) not tracked${miss:+; wrong:$miss}" "$dir/rs"
want="eth 309 vlan 1 arp 1 ipv4 306 ipv6 1 tcp 1 udp 301 icmp 0 l4_other 1 other 1 fragments 1 truncated 5 malformed 2"
got=$(section "$dir/rs" protocols | tr '\n' ' ' | sed 's/ $//')
sizes=$(section "$dir/rs" sizes | tr '\n' ' ' | sed 's/ $//')
[ "$got" = "$want" ] && [ "$sizes" = "<64 9 64 0 65-127 300 128-255 0 256-511 0 512-1023 0 1024-1518 0 >1518 1" ]
check $? "odd frames counted: $got; sizes $sizes" "$dir/rs"
report "$bid" >"$dir/rb"
[ "$(kv "$dir/rb" flows tracked)" = 104 ] && [ "$(kv "$dir/rb" flows not_tracked_packets)" = 0 ] &&
	[ "$(total "$dir/rb" bytes)" = 31944 ]
check $? "the default table behind it tracks all 104 flows" "$dir/rb"
stop_mon; rc1=$?
stop_mon; rc2=$?
check $(( rc1 != 0 || rc2 != 0 )) "both exit 0 on SIGTERM ($rc1, $rc2)" "$dir/ms.out.err"

# --- reports of what is not there
report nosuch$$ >"$dir/rn"
[ $? -eq 1 ] && grep -q "no stage 'nosuch$$'" "$dir/rn"
check $? "--report of an unknown stage exits 1: $(head -1 "$dir/rn")" "$dir/rn"
"$mon" --name "nosuch-$$" --runtime-dir "$rundir" --stage "$id" --report >"$dir/rn2" 2>&1
[ $? -eq 1 ] && grep -q "nosuch-$$" "$dir/rn2"
check $? "--report against an instance that does not exist exits 1: $(head -1 "$dir/rn2")" "$dir/rn2"

# --- the end: every mbuf home, the primary exits 0, the pass-through output is whole
"$helper" pool "$name" "$rundir" mbuf >"$dir/pool" 2>&1
grep -q '^in_use 0 avail 8192$' "$dir/pool"
check $? "every mbuf is back in the pool: $(cat "$dir/pool")" "$dir/pool"
kill -TERM "$ppid_"
wait "$ppid_"
rc=$?
ppid_=
grep -Eq '^port out +pcap +link up +rx 0 pkts .*\| tx 6054 pkts 1564322 bytes, errors 0, drops 0$' "$dir/primary.out"
check $(( rc != 0 || $? != 0 )) "primary exits 0 on SIGTERM (rc $rc); port out sent the 6054 packets mon passed on" "$dir/primary.out"
"$pcaptool" cmp "$demo" "$dir/out.pcap" --repeat 2 >"$dir/cmp2" 2>&1
check $? "the pass-through output is demo.pcap twice, record for record ($(head -1 "$dir/cmp2"))" "$dir/cmp2"
[ -z "$(find "$rundir" -mindepth 1)" ]
check $? "no instance file left in the runtime dir" "$dir/primary.err"
grep -l -E 'Sanitizer|runtime error:' "$dir"/* >"$dir/san" 2>/dev/null
check $(( $? == 0 )) "no sanitizer report in the output of any process" "$dir/san"
[ "$n" -eq "$plan" ] || echo "# planned $plan cases, ran $n"

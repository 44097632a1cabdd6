#!/usr/bin/env bash
# A stage killed inside each window the primary must recover from, by its
# own fault point (MPDP_FAULT=NAME:N, shared/fault): mid-dequeue and
# mid-enqueue (a ring side taken), after a dequeue or an enqueue took effect
# but before the hand moved, between process() and dispatch, after sorting,
# inside a cache put and after a free (a cache holding buffers), holding the
# allocation lock (the second time it takes it: the first reserves its
# slot). Each time: the primary marks it down within 100 ms of its
# death, the restarted stage carries on through the same rings, and once the
# input is read every packet is accounted for exactly once (sent, dropped or
# reclaimed from the dead process's hands), none appears twice, and every
# mbuf is back in its pool. TAP output.
set -u
bin=$1
src=$2
primary=$bin/primary/mpdp-primary
probe=$bin/tests/stages/probe
ctl_bin=$bin/tools/mpdpctl
fw=$bin/secondary/fw/mpdp-fw
mon=$bin/secondary/mon/mpdp-mon
traffic=$src/tools/traffic/demo.pcap

. "$(dirname "$0")/../lib/stage_tap.sh"
tap_instance faults

if ! command -v python3 >/dev/null; then
	echo "1..0 # SKIP python3 not found (make deps installs it)"
	exit 0
fi

# Records of a pcap file, one hex line each (for a multiset comparison).
records() {
	python3 - "$1" <<-'PY'
	import struct, sys
	d = open(sys.argv[1], "rb").read()
	end = "<" if d[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
	off = 24
	while off + 16 <= len(d):
	    incl = struct.unpack(end + "I", d[off + 8:off + 12])[0]
	    print(d[off + 16:off + 16 + incl].hex())
	    off += 16 + incl
	PY
}

# No output record more often than in the input (times the loops): nothing delivered twice.
no_duplicates() {
	records "$traffic" | sort | uniq -c | awk -v l="$2" '{ print $2, $1 * l }' >"$files/in.count"
	records "$1" | sort | uniq -c | awk '{ print $2, $1 }' >"$files/out.count"
	awk 'NR == FNR { max[$1] = $2; next } !($1 in max) || $2 > max[$1] { bad++ } END { exit bad > 0 }' \
		"$files/in.count" "$files/out.count"
}

loops=3
per_file=$(records "$traffic" | wc -l)
total=$((per_file * loops))
windows=(
	"mid-dequeue mon 20"
	"mid-enqueue mon 20"
	"after-dequeue mon 20"
	"after-process mon 20"
	"after-enqueue mon 20"
	"after-sort fw 10"
	"mid-cache-put fw 10"
	"after-free fw 12"
	"alloc-lock mon 2"
)
echo "1..$((${#windows[@]} * 5 + 1))"

printf 'deny udp\nallow any\n' >"$files/mixed.rules"
for w in "${windows[@]}"; do
	read -r point kind count <<<"$w"
	name=faults-$$-$point
	# Gone before the start: the shell truncates them only in the child, after the fork.
	rm -f "$files/out.pcap" "$files/primary.out" "$files/s1.out" "$files/s1b.out"
	"$primary" --name "$name" --runtime-dir "$rundir" --no-huge --mem 64M -l 0 \
		--pool mbuf,n=4096,cache=32 --port-ring-size 256 \
		--port "in,driver=pcap,rx_pcap=$traffic,pps=20000,loop=$loops" \
		--port "out,driver=pcap,tx_pcap=$files/out.pcap" \
		>"$files/primary.out" 2>"$files/primary.err" </dev/null &
	primary_pid=$!
	pids+=($!)
	wait_line "$files/primary.out" ready || { notok "$point: primary not ready: $(tail -2 "$files/primary.err")"; continue; }
	if [ "$kind" = fw ]; then
		args=("$fw" --stage s1 --in in.rx --out out=out.tx --rules "$files/mixed.rules")
	elif [ "$point" = alloc-lock ]; then
		args=("$mon" --stage s1 --in in.rx --out out=fresh)
	else
		args=("$mon" --stage s1 --in in.rx --out out=out.tx)
	fi
	# The stage kills itself at the point; the primary must notice at once.
	MPDP_FAULT=$point:$count "${args[0]}" --name "$name" --runtime-dir "$rundir" "${args[@]:1}" \
		>"$files/s1.out" 2>"$files/s1.err" </dev/null &
	victim=$!
	pids+=($!)
	# Attached before the death: it times from the exit (a pidfd) to the slot reading down.
	"$probe" "$name" "$rundir" wait-down s1 "$victim" >"$files/down_ms" &
	waiter=$!
	wait "$victim"
	rc=$?
	wait "$waiter"
	down_ms=$(cat "$files/down_ms")
	[ "$rc" = 137 ] && grep -q "fault point reached" "$files/s1.err"
	verdict $? "$point: the stage died by SIGKILL at the point (rc $rc) $(grep -v "fault point" "$files/s1.err" | tail -1)"
	awk -v t="$down_ms" 'BEGIN { exit !(t >= 0 && t < 100) }' 
	verdict $? "$point: the primary marked it down $down_ms ms after its death (< 100)"
	if [ "$point" = alloc-lock ]; then
		# Whoever takes the lock next repairs it; the region's table stays whole.
		out=$(timeout 10 "$ctl_bin" --name "$name" --runtime-dir "$rundir" ring create after 64 2>&1)
		[ $? -eq 0 ]
		verdict $? "$point: the allocation lock is taken again after its owner died: $out"
		args=("$mon" --stage s1 --in in.rx --out out=out.tx)
	fi
	"${args[0]}" --name "$name" --runtime-dir "$rundir" "${args[@]:1}" \
		>"$files/s1b.out" 2>"$files/s1b.err" </dev/null &
	pids+=($!)
	restarted=$!
	wait_line "$files/s1b.out" ready && [ "$(field stage s1 restarts)" = 1 ]
	verdict $? "$point: a new process took stage s1 over (restarts $(field stage s1 restarts))"
	# Everything read, everything through: rx done, nothing on the rings, nothing in hand.
	for _ in $(seq 400); do
		rx=$(field port in rx)
		if [ "$rx" = "$total" ] && [ "$(field ring in.rx count)" = 0 ] &&
		   [ "$(field ring out.tx count)" = 0 ] && [ "$(field stage s1 in_hand)" = 0 ]; then
			break
		fi
		sleep 0.05
	done
	sleep 0.2
	kill "$restarted" 2>/dev/null; wait "$restarted" 2>/dev/null
	sent=$(field port out tx)
	dropped=$(field stage s1 dropped)
	reclaimed=$(field stage s1 reclaimed)
	in_use=$(field pool mbuf in_use)
	[ "$((sent + dropped + reclaimed))" = "$total" ] && [ "$in_use" = 0 ]
	verdict $? "$point: $total in = $sent out + $dropped dropped + $reclaimed reclaimed; mbufs in use $in_use"
	kill "$primary_pid"; wait "$primary_pid"
	no_duplicates "$files/out.pcap" "$loops"
	verdict $? "$point: no packet delivered twice ($(records "$files/out.pcap" | wc -l) records out)"
	grep -h "died; marked down" "$files/primary.err" | sed 's/^/# /'
done

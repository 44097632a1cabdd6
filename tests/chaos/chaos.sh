#!/usr/bin/env bash
# The chaos test of issue 7 (doc/chaos.md): numbered UDP traffic replayed at
# a steady rate through  in.rx -> fw1 -> c.fn -> nat1 -> c.nm -> mon1 -> out.tx
# while stages are killed with SIGKILL at random moments (seeded) and
# restarted, then, once the input is read whole and every ring has drained:
# no sequence number twice at the output, every missing one counted by a
# drop counter, every mbuf back in its pool, the ports never down, every
# killed stage forwarding again. TAP output; the figures as "# " lines and
# one JSON line ("# {...}").
#
#   chaos.sh [BUILD_DIR] [--kills K] [--pps R] [--packets N] [--seed S]
#            [--ring-size N] [--supervised] [--keep]
#
# BUILD_DIR defaults to build/ beside this checkout. --packets defaults to
# enough traffic for the kills (R x (0.6 s x K + 2 s); 1.3 s x K supervised).
# --ring-size sets the slots of every ring, the ports' and those between the
# stages (default 4096: no ring smaller than the one before it, so a backlog
# in front of a stage that did not get a core for a moment on a loaded
# machine fits in every ring after it; without kills nothing may be lost).
# --supervised starts the stages with mpdp-primary --stage 'ID=PROGRAM ARGS'
# and lets the primary restart them, killing at the pace its restart policy
# allows (skipped when mpdp-primary does not offer --stage).
# --keep leaves the files (input, output, logs, counters) and prints where.
set -u

here=$(cd "$(dirname "$0")" && pwd)
bin=$here/../../build
if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then
	bin=$1
	shift
fi
kills=12 pps=20000 packets=0 seed=1 ring_size=4096 supervised=0 keep=0
usage() {
	echo "usage: chaos.sh [BUILD_DIR] [--kills K] [--pps R] [--packets N] [--seed S] [--ring-size N] [--supervised] [--keep]" >&2
	exit 2
}
isnum() { [[ $1 =~ ^[0-9]+$ ]]; }
# value OPTION VALUE [MIN]: a number for OPTION, at least MIN (default 0), or the usage
value() {
	if ! isnum "${2:-}" || [ "$2" -lt "${3:-0}" ]; then
		usage
	fi
	echo "$2"
}
while [ $# -gt 0 ]; do
	case $1 in
	--kills) kills=$(value "$1" "${2:-}") || exit 2; shift 2 ;;
	--pps) pps=$(value "$1" "${2:-}" 1) || exit 2; shift 2 ;;
	--packets) packets=$(value "$1" "${2:-}" 1) || exit 2; shift 2 ;;
	--seed) seed=$(value "$1" "${2:-}") || exit 2; shift 2 ;;
	--ring-size) ring_size=$(value "$1" "${2:-}" 2) || exit 2; shift 2 ;;
	--supervised) supervised=1; shift ;;
	--keep) keep=1; shift ;;
	*) usage ;;
	esac
done
# Per kill: 0.6 s of traffic; 1.3 s supervised, where the supervisor's policy
# allows each stage 10 deaths in 30 s (see the kill loop).
per_kill=60
[ "$supervised" -eq 1 ] && per_kill=130
[ "$packets" -eq 0 ] && packets=$((pps * (kills * per_kill + 200) / 100))

primary=$bin/primary/mpdp-primary
ctl_bin=$bin/tools/mpdpctl
fw=$bin/secondary/fw/mpdp-fw
nat=$bin/secondary/nat/mpdp-nat
mon=$bin/secondary/mon/mpdp-mon
seqt=$bin/tests/chaos/seqtraffic
rundir=$(mktemp -d /tmp/mpdp-chaos-XXXXXX)
files=$(mktemp -d /tmp/mpdp-chaos-files-XXXXXX)
name=chaos-$$
pids=()
declare -A spid cmdline

# kill9 PID...: SIGKILL those still running for this instance (a pid reaped
# earlier may be someone else's by now; ours name $rundir on their command line)
kill9() {
	for p in "$@"; do
		tr '\0' ' ' 2>/dev/null <"/proc/$p/cmdline" | grep -qF -- "$rundir" || continue
		kill -9 "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
}
cleanup() {
	# The primary first, by SIGTERM: it stops the stages it supervises.
	if [ -n "${primary_pid:-}" ] && tr '\0' ' ' 2>/dev/null <"/proc/$primary_pid/cmdline" | grep -qF -- "$rundir"; then
		kill -TERM "$primary_pid" 2>/dev/null
		for _ in $(seq 60); do kill -0 "$primary_pid" 2>/dev/null || break; sleep 0.05; done
	fi
	kill9 "${pids[@]}" "${spid[@]}" "${CTL_PID:-}"
	[ -n "${nap_fd:-}" ] && exec {nap_fd}>&-
	if [ "$keep" -eq 1 ]; then
		echo "# files kept in $files" >&2
		rm -rf "$rundir"
	else
		rm -rf "$rundir" "$files"
	fi
}
trap cleanup EXIT

. "$here/../lib/stage_tap.sh"

plan=14
if ! command -v jq >/dev/null; then
	echo "1..0 # SKIP jq not found"
	exit 0
fi
for b in "$primary" "$ctl_bin" "$fw" "$nat" "$mon" "$seqt"; do
	if [ ! -x "$b" ]; then
		echo "1..0 # SKIP $b not built"
		exit 0
	fi
done
if [ "$supervised" -eq 1 ] && ! "$primary" --help 2>&1 | grep -q -- '--stage'; then
	echo "1..0 # SKIP --supervised: mpdp-primary --help does not mention --stage (no supervisor yet)"
	exit 0
fi
echo "1..$plan"
bail() {
	while [ "$n" -lt "$plan" ]; do notok "$1"; done
	exit 0
}

now_us() { echo "${EPOCHREALTIME/./}"; }
# nap MS: sleep without a fork (a read that times out on a FIFO nobody writes)
mkfifo "$files/nap"
exec {nap_fd}<>"$files/nap"
nap() { read -r -t "$(printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)))" -u "$nap_fd" _; }

# One mpdpctl that reads a command per line: polling every 5 ms costs no fork.
ctl_open() {
	coproc CTL { exec "$ctl_bin" --name "$name" --runtime-dir "$rundir" --json 2>>"$files/ctl.err"; }
}
# q WORDS...: one command through it; its JSON line in $reply (1 when it failed to answer)
q() {
	reply=
	if [ -z "${CTL_PID:-}" ] || ! kill -0 "$CTL_PID" 2>/dev/null; then
		ctl_open
	fi
	{ printf '%s\n' "$*" >&"${CTL[1]}"; } 2>/dev/null || { CTL_PID=; return 1; }
	IFS= read -r -t 10 reply <&"${CTL[0]}" || { kill -9 "$CTL_PID" 2>/dev/null; CTL_PID=; return 1; }
}
# num KEY: the first "KEY":NUMBER in $reply
num() { [[ $reply =~ \"$1\":(-?[0-9]+) ]] && echo "${BASH_REMATCH[1]}"; }
str() { [[ $reply =~ \"$1\":\"([^\"]*)\" ]] && echo "${BASH_REMATCH[1]}"; }

# --- the traffic and the instance
"$seqt" gen "$files/in.pcap" "$packets" || bail "seqtraffic gen failed"
cat >"$files/fw.rules" <<-'EOF'
	# chaos: the numbered UDP traffic from the inside goes through
	allow established
	allow udp from 10.0.0.0/8 to 203.0.113.0/24
	default deny
EOF
common=(--name "$name" --runtime-dir "$rundir")
sc="${common[*]} --ring-size $ring_size"
declare -A prog args
prog[fw1]=$fw args[fw1]="--in in.rx --out out=c.fn --rules $files/fw.rules"
prog[nat1]=$nat args[nat1]="--inside c.fn --outside c.wan --out outside=c.nm --out inside=c.back --snat 10.0.0.0/8=198.18.0.1"
prog[mon1]=$mon args[mon1]="--in c.nm --out out=out.tx"
ids=(fw1 nat1 mon1)
sup=()
for id in "${ids[@]}"; do
	cmdline[$id]="${prog[$id]} $sc --stage $id ${args[$id]}"
done
# Supervised: the primary adds --name, --runtime-dir and --stage ID; downstream first.
if [ "$supervised" -eq 1 ]; then
	for id in mon1 nat1 fw1; do sup+=(--stage "$id=${prog[$id]} --ring-size $ring_size ${args[$id]}"); done
fi
echo "# $kills kills, $packets packets at $pps pps, rings of $ring_size, seed $seed$([ "$supervised" -eq 1 ] && echo ', supervised')"
"$primary" "${common[@]}" --no-huge --mem 128M --pool mbuf,n=16384,cache=64 --port-ring-size "$ring_size" \
	--port "in,driver=pcap,rx_pcap=$files/in.pcap,pps=$pps" --port "out,driver=pcap,tx_pcap=$files/out.pcap" \
	"${sup[@]}" >"$files/primary.out" 2>"$files/primary.err" </dev/null &
primary_pid=$!
pids+=($!)
wait_line "$files/primary.out" ready || bail "primary did not start: $(head -c 300 "$files/primary.err")"
# The input waits while the stages start: a backlog in in.rx would reach each
# ring after it in one burst, before its reader runs.
ctl port stop in >/dev/null || bail "port stop in refused"

# start ID: the stage's command line in the background; its pid in spid[ID]
start() {
	# shellcheck disable=SC2086 # the command lines hold no spaces within words
	${cmdline[$1]} >>"$files/$1.out" 2>>"$files/$1.err" </dev/null &
	spid[$1]=$!
}
started=1
if [ "$supervised" -eq 0 ]; then
	# Downstream first: a stage started before its consumer would fill the ring between them.
	for id in mon1 nat1 fw1; do
		start "$id"
		wait_line "$files/$id.out" ready || started=0
	done
fi
for _ in $(seq 200); do
	q stage list
	[ "$(jq '[.stages[] | select(.state == "running")] | length' <<<"$reply" 2>/dev/null)" = 3 ] && break
	nap 50
done
[ "$(jq '[.stages[] | select(.state == "running")] | length' <<<"$reply" 2>/dev/null)" = 3 ] || started=0
if [ "$supervised" -eq 1 ]; then
	# Not our children, but known, so that a test stopped half-way leaves none behind.
	for id in "${ids[@]}"; do spid[$id]=$(jq ".stages[] | select(.id == \"$id\") | .pid" <<<"$reply"); done
fi
[ "$started" -eq 1 ]
verdict $? "primary, fw1, nat1 and mon1 running ($(jq -c '[.stages[] | .id + ":" + .state]' <<<"$reply" 2>/dev/null))"
[ "$started" -eq 1 ] || bail "the chain did not start: $(cat "$files"/*.err | head -c 400)"
ctl port start in >/dev/null || bail "port start in refused"

# ports_ok: every port started, link up, no link change (a sample taken while things die)
port_samples=0 port_bad=0 port_bad_what=
ports_ok() {
	q port stats || return 1
	port_samples=$((port_samples + 1))
	if ! jq -e '[.ports[] | .state == "started" and .link and .link_changes == 0] | all' <<<"$reply" >/dev/null 2>&1; then
		port_bad=$((port_bad + 1))
		port_bad_what=$(jq -c '[.ports[] | {name, state, link, link_changes}]' <<<"$reply" 2>/dev/null)
	fi
	in_rx=$(jq '.ports[] | select(.name == "in") | .rx_packets' <<<"$reply" 2>/dev/null)
}

# --- the kills
RANDOM=$seed
done_kills=0 refused=0 stuck=0 max_us=0 sum_us=0 paced=0
declare -A by_stage=([fw1]=0 [nat1]=0 [mon1]=0) killed_at=() up_since=()
for id in "${ids[@]}"; do up_since[$id]=$(now_us); done
: >"$files/kills.log"
for k in $(seq "$kills"); do
	ports_ok
	if [ "${in_rx:-0}" -ge "$packets" ]; then
		echo "# the input ran out after $done_kills kills"
		break
	fi
	wait_ms=$((50 + RANDOM % 351))
	id=${ids[$((RANDOM % 3))]}
	nap "$wait_ms"
	if [ "$supervised" -eq 1 ]; then
		# The supervisor backs off a stage that dies within 1 s of its start and gives
		# up on one that fails more than 10 times in 30 s (doc/supervision.md): kill
		# only stages that ran 1.2 s and died at most 8 times in the last 30 s.
		while :; do
			t=$(now_us) eligible=()
			for e in "${ids[@]}"; do
				recent=0
				for x in ${killed_at[$e]:-}; do [ $((t - x)) -lt 30000000 ] && recent=$((recent + 1)); done
				[ $((t - ${up_since[$e]})) -ge 1200000 ] && [ "$recent" -le 8 ] && eligible+=("$e")
			done
			[ ${#eligible[@]} -gt 0 ] && break
			paced=$((paced + 1))
			nap 50
		done
		case " ${eligible[*]} " in
		*" $id "*) ;;
		*) id=${eligible[$((RANDOM % ${#eligible[@]}))]} ;;
		esac
		killed_at[$id]="${killed_at[$id]:-} $t"
	fi
	q stage stats "$id"
	old=$(num pid)
	[ "$supervised" -eq 0 ] && old=${spid[$id]}
	# (in braces: bash reports a killed job on the shell's stderr, not on wait's)
	{
		kill -9 "$old"
		t0=$(now_us)
		[ "$supervised" -eq 0 ] && wait "$old"
	} 2>/dev/null
	# The dead process's counters are final now; the new one must move them.
	q stage stats "$id"
	in0=$(num in_packets) sent0=$(num sent)
	[ "$supervised" -eq 0 ] && start "$id"
	new=${spid[$id]:-} fwd_us=-1 tries=1
	while :; do
		t=$(now_us)
		if [ $((t - t0)) -gt 10000000 ]; then
			stuck=$((stuck + 1))
			break
		fi
		if [ "$supervised" -eq 0 ] && ! kill -0 "${spid[$id]}" 2>/dev/null; then
			# Refused (exited before forwarding): counted, and tried again so the run goes on.
			{ wait "${spid[$id]}"; } 2>/dev/null
			refused=$((refused + 1))
			tries=$((tries + 1))
			nap 100
			start "$id"
			new=${spid[$id]}
			continue
		fi
		if q stage stats "$id"; then
			p=$(num pid) st=$(str state) in1=$(num in_packets) sent1=$(num sent)
			if [ "$st" = running ] && [ -n "$p" ] && [ "$p" != "$old" ] &&
			   { [ "$supervised" -eq 1 ] || [ "$p" = "$new" ]; } &&
			   { [ "${in1:-0}" -gt "${in0:-0}" ] || [ "${sent1:-0}" -gt "${sent0:-0}" ]; }; then
				fwd_us=$((t - t0))
				new=$p
				spid[$id]=$p
				up_since[$id]=$t
				break
			fi
		fi
		nap 5
	done
	done_kills=$((done_kills + 1))
	by_stage[$id]=$((by_stage[$id] + 1))
	if [ "$fwd_us" -ge 0 ]; then
		[ "$fwd_us" -gt "$max_us" ] && max_us=$fwd_us
		sum_us=$((sum_us + fwd_us))
		printf '# kill %d: %s pid %s after %d ms; pid %s forwarding again after %d.%03d ms%s\n' "$k" "$id" "$old" \
			"$wait_ms" "$new" $((fwd_us / 1000)) $((fwd_us % 1000)) \
			"$([ "$tries" -gt 1 ] && echo " ($tries starts)")" | tee -a "$files/kills.log"
	else
		printf '# kill %d: %s pid %s after %d ms; NOT forwarding again within 10 s (%d starts)\n' "$k" "$id" \
			"$old" "$wait_ms" "$tries" | tee -a "$files/kills.log"
	fi
done
ports_ok

# --- the end of the input, then every ring, hand and port drained
drained=0 last='' idle=0
t_end=$(now_us)
for _ in $(seq 100000); do
	ports_ok
	out_tx=$(jq '.ports[] | select(.name == "out") | .tx_packets + .tx_drops + .tx_errors' <<<"$reply" 2>/dev/null)
	q ring list
	ring_sum=$(jq '[.rings[].count] | add' <<<"$reply" 2>/dev/null)
	q stage stats
	hands=$(jq '[.stages[].in_hand] | add' <<<"$reply" 2>/dev/null)
	cur="$in_rx/$out_tx/$ring_sum/$hands"
	if [ "${in_rx:-0}" -ge "$packets" ] && [ "${ring_sum:-1}" = 0 ] && [ "${hands:-1}" = 0 ] && [ "$cur" = "$last" ]; then
		drained=1
		break
	fi
	if [ "$cur" = "$last" ]; then
		idle=$((idle + 1))
		# Nothing moved for 15 s: it will not drain.
		[ "$idle" -ge 150 ] && break
	else
		idle=0
	fi
	last=$cur
	nap 100
done
# The pcap port gives its stash of mbufs back when it meets the end of the file.
for _ in $(seq 40); do
	q pool stats
	[ "$(jq '[.pools[].in_use] | add' <<<"$reply" 2>/dev/null)" = 0 ] && break
	nap 50
done
ctl --json pool stats >"$files/pools.json"
ctl --json stage stats >"$files/stages.json"
ctl --json port stats >"$files/ports.json"
ctl --json ring list >"$files/rings.json"
ports_ok
drain_ms=$(( ($(now_us) - t_end) / 1000 ))

# --- stop everything, then read what left
stop_rc=0
if [ "$supervised" -eq 0 ]; then
	for id in "${ids[@]}"; do
		kill -TERM "${spid[$id]}" 2>/dev/null
		wait "${spid[$id]}"
		rc=$?
		[ "$rc" -ne 0 ] && stop_rc=$rc && echo "# $id exited $rc at SIGTERM"
		unset "spid[$id]"
	done
fi
kill -TERM "$primary_pid"
wait "$primary_pid"
rc=$?
pids=() primary_pid=
[ "$rc" -ne 0 ] && stop_rc=$rc && echo "# the primary exited $rc at SIGTERM"
check=$("$seqt" check "$files/out.pcap" "$packets" 2>&1)
echo "# check: $check"
jv() { jq -r "$1" <<<"$check" 2>/dev/null; }
sv() { jq -r "[.stages[] | select(.id == \"$1\") | $2] | first // 0" "$files/stages.json" 2>/dev/null; }
pv() { jq -r "[.ports[] | select(.name == \"$1\") | .$2] | first // 0" "$files/ports.json" 2>/dev/null; }

unique=$(jv .unique) dups=$(jv .duplicates) received=$(jv .received)
lost=$((packets - ${unique:-0}))
terms=() total=0
for id in "${ids[@]}"; do
	d=$(sv "$id" .dropped)
	r=$(sv "$id" '(.reclaimed // 0)')
	d=${d:-0} r=${r:-0}
	terms+=("$id.dropped=$d" "$id.reclaimed=$r")
	total=$((total + d + r))
done
for t in in.rx_missed in.rx_errors out.tx_drops out.tx_errors; do
	v=$(pv "${t%%.*}" "${t#*.}")
	v=${v:-0}
	terms+=("$t=$v")
	total=$((total + v))
done
in_use=$(jq '[.pools[].in_use] | add' "$files/pools.json" 2>/dev/null)
# Leaked: in use, less what still waits in a ring or a stage's hands (nothing once drained).
held=$(jq -s '([.[0].rings[].count] | add) + ([.[1].stages[].in_hand] | add)' "$files/rings.json" "$files/stages.json" 2>/dev/null)
leaked=$(( ${in_use:-0} - ${held:-0} ))
has_reclaimed=$(jq '[.stages[] | has("reclaimed")] | all' "$files/stages.json" 2>/dev/null)
link_changes=$(jq '[.ports[].link_changes] | add' "$files/ports.json" 2>/dev/null)
reclaims=$(jq '[.stages[].reclaims // 0] | add' "$files/stages.json" 2>/dev/null)
mean_us=0
fwd_count=$((done_kills - stuck))
[ "$fwd_count" -gt 0 ] && mean_us=$((sum_us / fwd_count))
ms() { printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)); }

echo "# kills: $done_kills of $kills (fw1 ${by_stage[fw1]}, nat1 ${by_stage[nat1]}, mon1 ${by_stage[mon1]}); restarts refused: $refused; not forwarding again: $stuck$([ "$supervised" -eq 1 ] && echo "; waits for the supervisor's policy: $paced x 50 ms")"
echo "# kill to forwarding again: max $(ms "$max_us") ms, mean $(ms "$mean_us") ms"
echo "# packets: $packets sent in, $received out, $unique unique; lost $lost"
echo "# drop counters: ${terms[*]} (sum $total)$([ "$has_reclaimed" = true ] || echo '; reclaimed not reported by this primary: taken as 0')"
echo "# mbufs in use after the drain: ${in_use:-?}, of which in rings and hands ${held:-?}: leaked $leaked; dead processes' buffers reclaimed ${reclaims:-?} times; duplicates: $dups; reordered within a flow: $(jv .reordered)"
echo "# ports: $port_samples samples, $port_bad with a port not started, link down or a link change; link_changes $link_changes"
echo "# drained: $drained ($(jq -c '[.rings[] | select(.count > 0) | {name, count}]' "$files/rings.json" 2>/dev/null) left in rings) $drain_ms ms after the last kill"
drops_json=$(printf '%s\n' "${terms[@]}" | jq -R 'split("=") | {(.[0]): (.[1] | tonumber)}' | jq -sc 'add')
json=$(jq -nc --argjson kills "$done_kills" --argjson asked "$kills" --argjson refused "$refused" \
	--argjson stuck "$stuck" --argjson max_us "$max_us" --argjson mean_us "$mean_us" \
	--argjson packets "$packets" --argjson pps "$pps" --argjson seed "$seed" --argjson check "${check:-null}" \
	--argjson drops "$drops_json" --argjson total "$total" --argjson in_use "$leaked" \
	--argjson lc "${link_changes:-null}" --argjson port_bad "$port_bad" --argjson reclaims "${reclaims:-null}" \
	--argjson fw1 "${by_stage[fw1]}" --argjson nat1 "${by_stage[nat1]}" --argjson mon1 "${by_stage[mon1]}" \
	'{kills: $kills, kills_asked: $asked, kills_by_stage: {fw1: $fw1, nat1: $nat1, mon1: $mon1},
	  restarts_refused: $refused, not_forwarding_again: $stuck,
	  max_kill_to_forwarding_ms: ($max_us / 1000), mean_kill_to_forwarding_ms: ($mean_us / 1000),
	  packets: $packets, pps: $pps, seed: $seed, received: $check.received, unique: $check.unique,
	  packets_lost: ($packets - ($check.unique // 0)), drop_counters: $drops, drops_total: $total,
	  mbufs_leaked: $in_use, reclaims: $reclaims, duplicates: $check.duplicates, reordered: $check.reordered,
	  remapped: $check.remapped, link_changes: $lc, port_samples_bad: $port_bad}' 2>&1)
echo "# $json"

# --- the verdicts
[ "$done_kills" -eq "$kills" ]
verdict $? "all $kills kills happened while the traffic ran ($done_kills)"
[ "$stuck" -eq 0 ]
verdict $? "every killed stage forwarded again (max $(ms "$max_us") ms after its kill; $stuck did not within 10 s)"
[ "$refused" -eq 0 ]
verdict $? "every restart was taken at the first start ($refused refused: $(grep -h -i -m3 'already\|refus\|error' "$files"/*1.err 2>/dev/null | head -c 300))"
[ "$drained" -eq 1 ]
verdict $? "the input was read whole ($in_rx of $packets) and every ring and hand drained"
[ "${dups:-x}" = 0 ]
verdict $? "no sequence number twice at the output (duplicates $dups)"
[ -n "$in_use" ] && [ "$leaked" -eq 0 ]
verdict $? "every mbuf back in its pool (leaked $leaked: pool in_use ${in_use:-?} after the drain, ${held:-?} of them in rings and hands)"
[ "$lost" -eq "$total" ] && { [ "$kills" -gt 0 ] || [ "$lost" -eq 0 ]; }
verdict $? "packets lost ($packets - $unique = $lost) == the drop counters ($total: ${terms[*]})$([ "$kills" -eq 0 ] && echo '; none without kills')"
[ "$port_bad" -eq 0 ] && [ "${link_changes:-x}" = 0 ] && [ "$port_samples" -gt 0 ]
verdict $? "the ports stayed started with their link up throughout ($port_samples samples; link_changes $link_changes) $port_bad_what"
[ "$(jv .foreign)" = 0 ] && [ "$(jv .corrupt)" = 0 ] && [ "$(jv .bad_checksum)" = 0 ] && [ "$(jv .untranslated)" = 0 ]
verdict $? "every packet out is ours, translated, with valid checksums (foreign $(jv .foreign), corrupt $(jv .corrupt), bad_checksum $(jv .bad_checksum), untranslated $(jv .untranslated))"
[ "$(jv .remapped)" = 0 ]
verdict $? "no NAT mapping moved across the restarts ($(jv .remapped) of $(jv .flows) flows remapped)"
[ "$(pv out tx_packets)" = "$received" ]
verdict $? "the output file holds what the out port sent ($received of $(pv out tx_packets))"
[ "$(jq "[.stages[] | .in_packets == .sent + .dropped + (.reclaimed // 0)] | all" "$files/stages.json" 2>/dev/null)" = true ]
verdict $? "each stage: in = sent + dropped + reclaimed ($(jq -c '[.stages[] | {id, in_packets, sent, dropped, reclaimed}]' "$files/stages.json" 2>/dev/null))"
[ "$stop_rc" -eq 0 ] && ! grep -q Sanitizer "$files"/*.err
verdict $? "the stages and the primary exit 0 at SIGTERM, no sanitizer report"

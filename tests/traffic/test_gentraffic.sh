#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# mpdp-gentraffic: the capture and manifest shipped in tools/traffic/
# regenerate byte for byte; the capture, read here without the generator or
# libpcap (od and awk), holds what the manifest says, with valid IPv4 header
# and TCP/UDP/ICMP/ICMPv6 checksums; --scale and --seed act; bad arguments
# exit 2 and name the problem. TAP output.
# usage: test_gentraffic.sh MPDP_GENTRAFFIC SOURCE_ROOT
set -u
gen=$1
src=$2
shipped=$src/tools/traffic
dir=$(mktemp -d /tmp/mpdp-gentraffic-XXXXXX)
trap 'rm -rf "$dir"' EXIT
echo "1..18"

report() { # N OK_CONDITION_RC DESCRIPTION [DETAIL_FILE]
	if [ "$2" -eq 0 ]; then echo "ok $1 - $3"; else
		echo "not ok $1 - $3"
		[ -n "${4:-}" ] && [ -f "$4" ] && sed 's/^/# /' "$4"
	fi
}

# Field 2 (or FIELD) of the manifest trailer line KEY; flow lines, which
# also start with tcp, udp or icmp, have 7 fields, trailer lines fewer.
trailer() { # FILE KEY [FIELD]
	awk -F'\t' -v k="$2" -v f="${3:-2}" '$1 == k && NF < 7 { print $f; exit }' "$1"
}

# Same arguments as tools/gen-traffic.sh.
"$gen" --out "$dir/demo.pcap" --manifest "$dir/demo.flows" 2>"$dir/gen.err"
rc=$?
[ $rc -eq 0 ] && cmp "$dir/demo.pcap" "$shipped/demo.pcap" >"$dir/cmp1" 2>&1
report 1 $? "regenerated demo.pcap equals the shipped one byte for byte (rc $rc)" "$dir/cmp1"
cmp "$dir/demo.flows" "$shipped/demo.flows" >"$dir/cmp2" 2>&1
report 2 $? "regenerated demo.flows equals the shipped one byte for byte" "$dir/cmp2"
[ ! -s "$dir/gen.err" ]
report 3 $? "the generator printed no warning (no ties, different leaders)" "$dir/gen.err"

# Walk the shipped capture: global header, then 16-byte record headers
# (little-endian: seconds, microseconds, incl_len, orig_len). Per record:
# lengths, timestamps, size bin, and every IPv4 header and L4 checksum.
od -An -v -tu1 "$shipped/demo.pcap" | awk '
function le32(o) { return b[o] + b[o + 1] * 256 + b[o + 2] * 65536 + b[o + 3] * 16777216 }
function be16(o) { return b[o] * 256 + b[o + 1] }
# ones-complement sum of LEN bytes from O, added to S
function sum(s, o, len,    k) {
	for (k = 0; k + 1 < len; k += 2)
		s += b[o + k] * 256 + b[o + k + 1]
	if (len % 2)
		s += b[o + len - 1] * 256
	return s
}
function fold(s) { while (s > 65535) s = s % 65536 + int(s / 65536); return s }
{ for (i = 1; i <= NF; i++) b[n++] = $i }
END {
	if (le32(0) != 2712847316 || be16(4) != 512 || le32(20) != 1) {
		print "bad global header"
		exit 1
	}
	off = 24
	split("63 64 127 255 511 1023 1518", hi, " ")
	while (off + 16 <= n) {
		us = le32(off) * 1000000 + le32(off + 4)
		incl = le32(off + 8)
		if (off + 16 + incl > n)
			break
		if (incl != le32(off + 12) || incl < 60 || incl > 1514)
			badlen++
		if (us != 1767225600000000 + recs * 10)
			badts++
		for (k = 1; k <= 7; k++)
			if (incl <= hi[k]) { bin[k]++; break }
		f = off + 16
		et = be16(f + 12)
		o = f + 14
		while (et == 33024 || et == 34984) { et = be16(o + 2); o += 4 }
		if (et == 2048) {
			ihl = (b[o] % 16) * 4
			if (fold(sum(0, o, ihl)) != 65535)
				badip++
			proto = b[o + 9]
			l4 = o + ihl
			l4len = be16(o + 2) - ihl
			ps = (proto == 1) ? 0 : sum(proto + l4len, o + 12, 8)
			v4++
		} else if (et == 34525) {
			proto = b[o + 6]
			l4 = o + 40
			l4len = be16(o + 4)
			ps = sum(proto + l4len, o + 8, 32)
			v6++
		} else {
			proto = -1
		}
		if (proto == 6 || proto == 17 || proto == 1 || proto == 58) {
			l4n++
			if (fold(sum(ps, l4, l4len)) != 65535)
				badl4++
		}
		bytes += incl
		recs++
		off = f + incl
	}
	printf "records %d bytes %d badlen %d badts %d ipv4 %d ipv6 %d badip %d l4 %d badl4 %d bins",
		recs, bytes, badlen, badts, v4, v6, badip, l4n, badl4
	for (k = 1; k <= 7; k++)
		printf " %d", bin[k]
	printf "\n"
	if (off != n)
		print "a cut record or bytes after the last record"
}' >"$dir/walk" 2>&1
read -r _ recs _ bytes _ badlen _ badts _ v4 _ v6 _ badip _ l4n _ badl4 _ b1 b2 b3 b4 b5 b6 b7 <"$dir/walk"
m=$shipped/demo.flows
[ "${recs:-x}" = "$(trailer "$m" total)" ] && [ "${bytes:-x}" = "$(trailer "$m" total 3)" ] &&
	[ "$(wc -l <"$dir/walk")" -eq 1 ]
report 4 $? "the capture holds the manifest's total: $recs records, $bytes bytes" "$dir/walk"
[ "${badlen:-x}" = 0 ] && [ "${badts:-x}" = 0 ]
report 5 $? "every record is whole, 60 to 1514 bytes, 10 us after the last from 2026-01-01" "$dir/walk"
[ "${v4:-x}" = "$(trailer "$m" ipv4)" ] && [ "${v6:-x}" = "$(trailer "$m" ipv6)" ] &&
	[ "$l4n" -eq $(($(trailer "$m" tcp) + $(trailer "$m" udp) + $(trailer "$m" icmp))) ] &&
	[ "${badip:-x}" = 0 ] && [ "${badl4:-x}" = 0 ] && [ "$l4n" -gt 0 ]
report 6 $? "checksums valid: $v4 IPv4 headers, $l4n TCP/UDP/ICMP/ICMPv6 ($badip, $badl4 bad)" "$dir/walk"
want=$(awk -F'\t' '$1 == "size" { printf "%s%s", sep, $4; sep = " " }' "$m")
[ "$b1 $b2 $b3 $b4 $b5 $b6 $b7" = "$want" ] && ! [[ " $want " == *" 0 "* ]]
report 7 $? "size bins as the manifest says, none empty ($want)" "$dir/walk"

# The manifest agrees with itself: flows + ARP + other frames = total, the
# bins add up, no two flows tie, and the leaders by packets and bytes differ.
awk -F'\t' '
/^#/ { next }
NF == 7 { nf++; p += $6; if ($6 in pk || $7 in by) tie++; pk[$6]; by[$7]
	if ($6 > mp) { mp = $6; tp = $2 ">" $3 ":" $5 }
	if ($7 > mb) { mb = $7; tb = $2 ">" $3 ":" $5 } }
$1 == "total" { total = $2 }
$1 == "arp" || $1 == "other" { p += $2 }
$1 == "size" { s += $4 }
$1 == "vlan" { vlan = $2 }
END {
	print "flows", nf, "ties", tie + 0, "top packets", tp, "top bytes", tb
	exit !(nf >= 20 && p == total && s == total && !tie && tp != tb && vlan > 0)
}' "$m" >"$dir/self" 2>&1
report 8 $? "manifest is consistent: $(cat "$dir/self")" "$dir/self"

"$gen" --out "$dir/x2.pcap" --manifest "$dir/x2.flows" --scale 2 >"$dir/x2.err" 2>&1 &&
	[ "$(trailer "$dir/x2.flows" total)" -eq $((2 * $(trailer "$m" total))) ]
report 9 $? "--scale 2 doubles the total packets ($(trailer "$dir/x2.flows" total 2>/dev/null))" "$dir/x2.err"

"$gen" --out "$dir/s7.pcap" --seed 7 >"$dir/s7.err" 2>&1 && ! cmp -s "$dir/s7.pcap" "$shipped/demo.pcap" &&
	[ "$(stat -c %s "$dir/s7.pcap")" -gt 24 ]
report 10 $? "--seed 7 gives a different capture" "$dir/s7.err"

# bad_args N DESCRIPTION PATTERN ARGS...: exit 2 and a message matching PATTERN.
bad_args() {
	local n=$1 what=$2 pattern=$3 rc
	shift 3
	"$gen" "$@" >"$dir/bad.out" 2>&1
	rc=$?
	[ $rc -eq 2 ] && grep -q -e "$pattern" "$dir/bad.out"
	report "$n" $? "$what: exit 2 (got $rc), message names it" "$dir/bad.out"
}
bad_args 11 "--scale 0" "--scale '0'" --out "$dir/b.pcap" --scale 0
bad_args 12 "--scale 1001" "--scale '1001'" --out "$dir/b.pcap" --scale 1001
bad_args 13 "--scale abc" "--scale 'abc'" --out "$dir/b.pcap" --scale abc
bad_args 14 "unknown option --bogus" "unknown option '--bogus'" --out "$dir/b.pcap" --bogus
bad_args 15 "missing --out" "--out FILE is required" --scale 2
bad_args 16 "unwritable output path" "$dir/no/such/dir/x.pcap" --out "$dir/no/such/dir/x.pcap"
bad_args 17 "unwritable manifest path" "--manifest $dir/no/such/dir/x.flows" \
	--out "$dir/m.pcap" --manifest "$dir/no/such/dir/x.flows"
[ ! -e "$dir/b.pcap" ] && [ ! -e "$dir/m.pcap" ]
report 18 $? "refused runs leave no output file behind"

#!/usr/bin/env bash
# Every malformed option of mpdp-primary gets a clear message naming what
# was wrong and a non-zero exit, never a crash (exit by signal, or an
# AddressSanitizer report). TAP output.
set -u
primary=$1
rundir=$(mktemp -d /tmp/mpdp-args-XXXXXX)
trap 'rm -rf "$rundir"' EXIT

n=0
fail=0
# expect_error WHAT-THE-MESSAGE-MUST-SAY ARGS...
expect_error() {
	local needle=$1 out rc
	shift
	n=$((n + 1))
	out=$("$primary" --runtime-dir "$rundir" --name "args-$$-$n" "$@" 2>&1 </dev/null)
	rc=$?
	if [ "$rc" -eq 0 ] || [ "$rc" -ge 128 ] || grep -q 'Sanitizer' <<<"$out" || ! grep -qF -- "$needle" <<<"$out"; then
		echo "not ok $n - $* -> rc $rc, wanted a message with '$needle', got: $out"
		fail=$((fail + 1))
	else
		echo "ok $n - $* -> rc $rc: $(head -1 <<<"$out")"
	fi
}

cases=(
	"unknown option '--bogus'|--bogus"
	"needs a value|--mem"
	"--mem 'lots'|--mem lots"
	"--mem '1k'|--mem 1k"
	"--mem '12Q'|--mem 12Q"
	"--mem '-5'|--mem -5"
	"--base-virtaddr 'zz'|--base-virtaddr zz"
	"--base-virtaddr '0x12345'|--base-virtaddr 0x12345"
	"--base-virtaddr '0x900000000000'|--base-virtaddr 0x900000000000"
	"-l core list 'x'|-l x"
	"runs backwards|-l 1-0"
	"not available|-l 1000"
	"is beyond|-l 99999"
	"unexpected ';'|-l 0;1"
	"nothing after the last|-l 0,"
	"--name '': 1 to 31|--name="
	"bad instance name|--name a/b"
	"--pool p: missing n=|--pool p"
	"--pool p: n=abc|--pool p,n=abc"
	"--pool p: n=0|--pool p,n=0"
	"--pool p: cache=9999|--pool p,n=100,cache=9999"
	"too large for n=100|--pool p,n=100,cache=80"
	"--pool p: dataroom=0|--pool p,n=100,dataroom=0"
	"--pool p: dataroom=70000|--pool p,n=100,dataroom=70000"
	"unknown key 'colour'|--pool p,n=100,colour=red"
	"given twice|--pool p,n=1,n=2"
	"does not start with a name|--pool ,n=5"
	"--ring r: missing size=|--ring r"
	"not a power of two|--ring r,size=1000"
	"--ring r: size=0|--ring r,size=0"
	"'sp' takes no value|--ring r,size=64,sp=1"
	"unknown key 'xx'|--ring r,size=64,xx"
	"the name must be 1 to 31|--ring aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa,size=64"
	"already taken|--ring dup,size=64 --ring dup,size=64"
	"raise --mem|--mem 4M --pool big,n=100000"
	"--huge-dir /tmp is not a hugetlbfs mount|--huge-dir /tmp --mem 4M"
	"exclude each other|--huge-dir /tmp --no-huge"
	"--runtime-dir 'rel': expected an absolute path|--runtime-dir rel"
	"level must be|--log-level loud"
	"unexpected argument 'extra'|extra"
	"expected SRC:DST|--patch a"
	"expected SRC:DST|--patch a:b:c"
	"cannot be patched to itself|--patch a:a"
	"already patched to b|--patch a:b --patch a:c"
	"--stats-period '0'|--stats-period 0"
	"--port-ring-size '1000': expected a power of two|--port-ring-size 1000"
	"--until-eof needs ports|--until-eof"
	"--port: at most 32 ports|$(for i in $(seq 33); do printf -- '--port p%d,driver=null ' "$i"; done)"
)
echo "1..$((${#cases[@]} + 2))"
for c in "${cases[@]}"; do
	needle=${c%%|*}
	# shellcheck disable=SC2086
	expect_error "$needle" ${c#*|}
done

# --help and --version succeed.
n=$((n + 1))
if "$primary" --help | grep -q -- '--base-virtaddr'; then echo "ok $n - --help"; else echo "not ok $n - --help"; fail=$((fail + 1)); fi
n=$((n + 1))
if "$primary" --version | grep -q 'ABI'; then echo "ok $n - --version"; else echo "not ok $n - --version"; fail=$((fail + 1)); fi
# Nothing of the failed starts is left behind.
left=$(find "$rundir" -mindepth 1 | head -5)
[ -z "$left" ] || { echo "# left behind: $left"; exit 1; }
exit $((fail > 0))

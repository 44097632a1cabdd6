#!/usr/bin/env bash
# `meson install` ships binaries, libmpdp (shared and static), its headers and
# libmpdp.pc; a program outside the tree builds with pkg-config against the
# installed copy and runs against a real primary, and so does a stage
# (doc/examples/l4split.c, the one doc/writing-a-stage.md walks through),
# run between two pcap ports of the installed primary. TAP output.
set -u
build=$1
src=$2
if [ "${3:-none}" != none ]; then
	echo "1..0 # SKIP sanitizer build: a program built outside would need the sanitizer runtime"
	exit 0
fi
tmp=$(mktemp -d /tmp/mpdp-install-XXXXXX)
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
echo "1..7"

if meson install -C "$build" --destdir "$tmp/root" --no-rebuild --quiet >"$tmp/install.log" 2>&1; then
	echo "ok 1 - meson install"
else
	echo "not ok 1 - meson install: $(tail -3 "$tmp/install.log")"; exit 1
fi
pc=$(find "$tmp/root" -name libmpdp.pc | head -1)
prefix=$(sed -n 's/^prefix=//p' "$pc")
missing=""
for f in bin/mpdp-primary bin/mpdp-fwd include/mpdp/mpdp_stage.h include/mpdp/mpdp_ring.h include/mpdp/mpdp_abi.h include/mpdp/mpdp_config.h; do
	[ -e "$tmp/root$prefix/$f" ] || missing="$missing $f"
done
ls "$(dirname "$(dirname "$pc")")"/libmpdp.so* >/dev/null 2>&1 || missing="$missing libmpdp.so"
ls "$(dirname "$(dirname "$pc")")"/libmpdp.a >/dev/null 2>&1 || missing="$missing libmpdp.a"
if [ -z "$missing" ]; then echo "ok 2 - binaries, shared and static library, headers and libmpdp.pc installed"; else echo "not ok 2 - missing:$missing"; fi

export PKG_CONFIG_SYSROOT_DIR="$tmp/root" PKG_CONFIG_PATH
PKG_CONFIG_PATH=$(dirname "$pc")
# shellcheck disable=SC2046
if cc -std=c11 -Wall -Wextra -Werror -o "$tmp/example" "$src/example_secondary.c" \
	$(pkg-config --cflags --libs libmpdp) >"$tmp/cc.log" 2>&1; then
	echo "ok 3 - an outside program builds with pkg-config --cflags --libs libmpdp"
else
	echo "not ok 3 - build failed: $(cat "$tmp/cc.log")"; exit 1
fi

"$tmp/root$prefix/bin/mpdp-primary" --name "inst-$$" --runtime-dir "$tmp" --no-huge --mem 32M \
	--pool mbuf,n=1024,cache=32 --ring ext,size=64 >"$tmp/p.out" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q '^ready$' "$tmp/p.out" && break; sleep 0.05; done
libdir=$(dirname "$(dirname "$pc")")
if out=$(LD_LIBRARY_PATH="$libdir" "$tmp/example" "inst-$$" "$tmp" 2>&1) &&
	grep -q '8000 of 8000 mbufs through ring ext, 0 in use' <<<"$out"; then
	echo "ok 4 - it runs against the installed primary: $out"
else
	echo "not ok 4 - example: $out"
fi
kill "$pid" && wait "$pid"
pid=

# A stage of one's own: built outside the tree, run in a chain.
root=$(cd "$src/../.." && pwd)
# shellcheck disable=SC2046
if cc -std=c11 -Wall -Wextra -Werror -o "$tmp/mpdp-l4split" "$root/doc/examples/l4split.c" \
	$(pkg-config --cflags --libs libmpdp) >"$tmp/cc2.log" 2>&1; then
	echo "ok 5 - the example stage builds outside the tree with pkg-config"
else
	echo "not ok 5 - build failed: $(cat "$tmp/cc2.log")"; exit 1
fi
flows=$root/tools/traffic/demo.flows
total=$(awk '$1 == "total" { print $2 }' "$flows")
tcp=$(awk '$1 == "tcp" && NF == 2 { print $2 }' "$flows")
"$tmp/root$prefix/bin/mpdp-primary" --name "inst2-$$" --runtime-dir "$tmp" --no-huge --mem 64M \
	--pool mbuf,n=2048,cache=32 --port "in,driver=pcap,rx_pcap=$root/tools/traffic/demo.pcap" \
	--port "out,driver=pcap,tx_pcap=$tmp/tcp.pcap" --until-eof >"$tmp/p2.out" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q '^ready$' "$tmp/p2.out" && break; sleep 0.05; done
LD_LIBRARY_PATH="$libdir" "$tmp/mpdp-l4split" --name "inst2-$$" --runtime-dir "$tmp" --stage split \
	--in in.rx --out tcp=out.tx --backpressure >"$tmp/s.out" 2>&1
rc=$?
if [ $rc -eq 0 ] && grep -q "^mpdp-l4split split: in $total pkts, sent $tcp pkts, dropped $((total - tcp)) pkts$" "$tmp/s.out"; then
	echo "ok 6 - it runs in a chain: $(tail -1 "$tmp/s.out")"
else
	echo "not ok 6 - stage rc $rc, expected in $total sent $tcp: $(cat "$tmp/s.out")"
fi
wait "$pid"; rc=$?
pid=
if [ $rc -eq 0 ] && grep -q "^port out .* tx $tcp pkts" "$tmp/p2.out"; then
	echo "ok 7 - the primary wrote the $tcp TCP packets of the traffic file and exited at its end"
else
	echo "not ok 7 - primary rc $rc: $(grep '^port' "$tmp/p2.out")"
fi

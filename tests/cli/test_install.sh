#!/usr/bin/env bash
# `meson install` ships binaries, libmpdp (shared and static), its headers and
# libmpdp.pc; a program outside the tree builds with pkg-config against the
# installed copy and runs against a real primary. TAP output.
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
echo "1..4"

if meson install -C "$build" --destdir "$tmp/root" --no-rebuild --quiet >"$tmp/install.log" 2>&1; then
	echo "ok 1 - meson install"
else
	echo "not ok 1 - meson install: $(tail -3 "$tmp/install.log")"; exit 1
fi
pc=$(find "$tmp/root" -name libmpdp.pc | head -1)
prefix=$(sed -n 's/^prefix=//p' "$pc")
missing=""
for f in bin/mpdp-primary include/mpdp/mpdp_ring.h include/mpdp/mpdp_abi.h include/mpdp/mpdp_config.h; do
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

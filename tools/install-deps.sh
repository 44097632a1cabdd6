#!/usr/bin/env bash
# Install the Debian packages mpdp builds and tests with, when any is missing.
# Runs apt-get directly as root, through sudo otherwise, and says what to run
# when neither is possible.
set -euo pipefail

pkgs=(meson ninja-build pkg-config gcc clang libclang-rt-dev libnuma-dev libpcap-dev
      protobuf-c-compiler libprotobuf-c-dev libuv1-dev libcmocka-dev libedit-dev python3 tshark tcpdump)

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null; then
	echo "install-deps: missing packages: ${missing[*]}; this is not a Debian system, install them with your package manager" >&2
	exit 1
fi
if [ "$(id -u)" -eq 0 ]; then
	sudo=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
	sudo=(sudo)
else
	echo "install-deps: missing packages: ${missing[*]}" >&2
	echo "install-deps: run: sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
	exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"

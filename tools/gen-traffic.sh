#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Regenerates the demo traffic shipped in tools/traffic/: demo.pcap and its
# manifest demo.flows, at scale 1 with the default seed. The output is
# deterministic, so a rerun changes nothing unless the generator changed
# (tests/traffic/test_gentraffic.sh checks exactly that).
# usage: tools/gen-traffic.sh [BUILD_DIR]   (default: build)
set -euo pipefail

build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)

# Meson names the ninja target by its path in the build tree.
ninja -C "$build" tools/mpdp-gentraffic
mkdir -p "$here/traffic"
"$build/tools/mpdp-gentraffic" --out "$here/traffic/demo.pcap" --manifest "$here/traffic/demo.flows"
echo "wrote $here/traffic/demo.pcap ($(wc -c <"$here/traffic/demo.pcap") bytes) and demo.flows"

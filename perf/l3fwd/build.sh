#!/usr/bin/env bash
# Builds DPDK's l3fwd example, patched for the vnetd forwarding benchmark.
#
#   perf/l3fwd/build.sh            # -> target/l3fwd/l3fwd/build/l3fwd
#
# The sources come from Debian's dpdk-doc package (/usr/share/dpdk/examples, installed
# here if missing); they are copied under target/ (gitignored) with ../common, patched
# with perf/l3fwd/l3fwd-vnetd.patch and built with the example's Makefile against
# pkg-config libdpdk. Env: L3FWD_EXTRA_MBUFS (mbufs added for the pcap replay,
# default 65536), L3FWD_BUILD_DIR (default <repo>/target/l3fwd). Idempotent: rebuilds
# only when the patch or the installed sources change.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
examples=/usr/share/dpdk/examples
build_dir=${L3FWD_BUILD_DIR:-$repo/target/l3fwd}
extra_mbufs=${L3FWD_EXTRA_MBUFS:-65536}
patch_file=$here/l3fwd-vnetd.patch

if [ ! -d "$examples/l3fwd" ]; then
    echo "build.sh: installing dpdk-doc (DPDK example sources)" >&2
    if [ "$(id -u)" -ne 0 ]; then
        echo "build.sh: $examples/l3fwd missing; run as root or: apt-get install dpdk-doc" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y --no-install-recommends dpdk-doc >/dev/null \
        || { apt-get update >/dev/null && apt-get install -y --no-install-recommends dpdk-doc >/dev/null; }
fi
for tool in make cc pkg-config patch; do
    command -v "$tool" >/dev/null || { echo "build.sh: $tool not found" >&2; exit 1; }
done
pkg-config --exists libdpdk || { echo "build.sh: pkg-config libdpdk not found (apt-get install libdpdk-dev)" >&2; exit 1; }

# Rebuild when the patch, the sources' package version or the mbuf count change.
stamp="$(sha256sum "$patch_file" | cut -d' ' -f1) $(pkg-config --modversion libdpdk) $extra_mbufs"
bin=$build_dir/l3fwd/build/l3fwd
if [ -x "$bin" ] && [ "$(cat "$build_dir/.stamp" 2>/dev/null)" = "$stamp" ]; then
    echo "$bin (up to date)"
    exit 0
fi

rm -rf "$build_dir"
mkdir -p "$build_dir"
cp -r "$examples/l3fwd" "$examples/common" "$build_dir/"
chmod -R u+w "$build_dir"
patch -d "$build_dir/l3fwd" -p1 --quiet --forward < "$patch_file"
# CFLAGS from the environment: the Makefile appends pkg-config's flags to it.
CFLAGS="-DL3FWD_EXTRA_MBUFS=$extra_mbufs" make -C "$build_dir/l3fwd" -j"$(nproc)" \
    >"$build_dir/make.log" 2>&1 \
    || { tail -40 "$build_dir/make.log" >&2; exit 1; }
echo "$stamp" >"$build_dir/.stamp"
echo "$bin"

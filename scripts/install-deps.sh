#!/usr/bin/env bash
# Installs what building, the demo and the end-to-end tests need on Debian 12.
# Idempotent and quick when everything is there: it asks dpkg first and only runs
# `apt-get update` + `apt-get install` for what is missing.
#
#   sudo ./scripts/install-deps.sh              # packages only
#   sudo ./scripts/install-deps.sh --hugepages 512   # also reserve 512 x 2 MiB hugepages
#
# Hugepages are NOT needed for the demo and tests (they run DPDK with --no-huge).
set -euo pipefail
VN_PROG=install-deps
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

PACKAGES=(
    libdpdk-dev dpdk dpdk-dev            # DPDK 22.11 LTS headers, libs, PMDs, tools
    clang libclang-dev pkg-config        # bindgen in dpdk-sys
    libpcap-dev                          # capture filters (tcpdump's language) in vnetd
    iproute2 iputils-ping traceroute     # namespaces, veths, ping, traceroute
    tcpdump ethtool ncat curl            # captures, offloads, TCP clients
    iperf3                               # throughput through the router
    prometheus                           # promtool check metrics
    openvswitch-switch                   # userspace VLAN switch (datapath_type=netdev)
    python3                              # tiny payload servers and metrics parsing
)

orig_args=("$@")
hugepages=""
while [[ $# -gt 0 ]]; do
    case $1 in
        --hugepages) hugepages=${2:?--hugepages needs a count of 2 MiB pages}; shift 2 ;;
        -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
        *) vn_die "unknown argument: $1" ;;
    esac
done

missing=()
for p in "${PACKAGES[@]}"; do
    st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    [[ $st == installed ]] || missing+=("$p")
done

if [[ ${#missing[@]} -eq 0 ]]; then
    vn_log "all ${#PACKAGES[@]} packages already installed"
else
    vn_require_root "$0" "${orig_args[@]}"
    vn_log "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt_opts=(-y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
    for attempt in 1 2 3; do
        if apt-get update -q && apt-get install "${apt_opts[@]}" --no-install-recommends "${missing[@]}"; then
            break
        fi
        [[ $attempt -lt 3 ]] || vn_die "apt-get failed 3 times"
        vn_warn "apt-get failed (attempt $attempt), retrying in 5 s"
        sleep 5
    done
    for p in "${missing[@]}"; do
        st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
        [[ $st == installed ]] || vn_die "package $p is still not installed"
    done
fi

# Rust comes from the machine (rustup), not from apt.
if vn_find_cargo 2>/dev/null; then
    vn_log "$(cargo --version 2>/dev/null || echo 'cargo found')"
else
    vn_warn "cargo not found on PATH nor in ~/.cargo/bin: install Rust 1.95 (rustup) before building"
fi

pkg-config --exists libdpdk || vn_die "pkg-config cannot find libdpdk after installing libdpdk-dev"

if [[ -n $hugepages ]]; then
    vn_require_root "$0" --hugepages "$hugepages"
    echo "$hugepages" > /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
    mountpoint -q /dev/hugepages || { mkdir -p /dev/hugepages; mount -t hugetlbfs nodev /dev/hugepages; }
    vn_log "hugepages (2 MiB): $(cat /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages) reserved"
fi

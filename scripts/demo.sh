#!/usr/bin/env bash
# The vnetd demo: two tenants with the same addresses behind one router.
#
#   sudo ./scripts/demo.sh            install deps, build, create the namespaces, run vnetd
#   sudo ./scripts/demo.sh --no-build  skip install + build (use what is in target/release)
#
# vnetd runs in the foreground; Ctrl-C stops it and the topology is torn down.
set -euo pipefail
VN_PROG=demo
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
vn_require_root "$0" "$@"
cd "$VN_ROOT"

build=1
case ${1:-} in
    --no-build) build=0 ;;
    "") ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) vn_die "unknown argument: $1" ;;
esac

CONFIG=configs/demo.toml
VNETD=target/release/vnetd
VNETCTL=target/release/vnetctl
SOCK=/run/vnetd/vnetd.sock
METRICS=127.0.0.1:9469

if [[ $build -eq 1 ]]; then
    vn_log "installing dependencies"
    ./scripts/install-deps.sh
    vn_log "building (cargo build --release --workspace)"
    vn_cargo build --release --workspace
fi
[[ -x $VNETD ]] || vn_die "$VNETD not found: build with cargo build --release --workspace"

# shellcheck source=tests/lib/topology.sh
source tests/lib/topology.sh
# shellcheck disable=SC2317 # invoked by the traps below
cleanup() {
    trap - EXIT INT TERM HUP
    vn_log "tearing the demo topology down"
    vn_topo_down
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

vn_log "creating the topology (namespaces vn-red1 vn-red2 vn-blue1 vn-blue2, OVS bridge vnbr0)"
vn_topo_up || vn_die "could not create the topology (see above)"
mkdir -p "$(dirname "$SOCK")"

cat <<EOT

  vnetd demo: tenants red and blue, SAME addresses, one router

    vn-red1  10.0.1.10 ──OVS tag 10──┐                ┌── vd-red2  ── vn-red2  10.0.2.10 "red-server"
                                     ├─ vd-trunk ─ vnetd
    vn-blue1 10.0.1.10 ──OVS tag 20──┘   (trunk0)     └── vd-blue2 ── vn-blue2 10.0.2.10 "blue-server"

  In another terminal (as root), try:
    ip netns exec vn-red1  ping -c3 10.0.2.10               # red1 -> red2 through vnetd
    ip netns exec vn-red1  curl -s http://10.0.2.10:8080/   # prints red-server
    ip netns exec vn-blue1 curl -s http://10.0.2.10:8080/   # same address, prints blue-server
    ip netns exec vn-red1  ping -c3 fd00:2::10              # IPv6
    ip netns exec vn-red1  traceroute -n 10.0.2.10          # one hop: 10.0.1.1
    ip netns exec vn-red1  ping -c1 10.99.0.1               # no route: Destination Net Unreachable
    tcpdump -eni vo-trunk vlan                              # tagged frames on the trunk
    curl -s $METRICS/metrics | grep vnetd_                   # Prometheus counters
    $VNETCTL --socket $SOCK status

  Starting: $VNETD --config $CONFIG      (Ctrl-C stops it and removes the namespaces)

EOT
# Foreground, not exec: when it ends (Ctrl-C), the EXIT trap removes the topology.
rc=0
"$VNETD" --config "$CONFIG" || rc=$?
vn_log "vnetd exited with status $rc"
exit "$rc"

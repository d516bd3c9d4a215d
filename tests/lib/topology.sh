#!/usr/bin/env bash
# shellcheck shell=bash
# The shared test/demo topology for vnetd: two tenants, red and blue, with the SAME
# address plan, wired to the router through a userspace Open vSwitch VLAN trunk and
# through plain veths.
#
#                          root namespace
#   vn-red1  eth0 ──veth── vo-red1  (access, tag 10) ┐
#   vn-blue1 eth0 ──veth── vo-blue1 (access, tag 20) ├ OVS vnbr0 (netdev datapath)
#                          vo-trunk (trunk 10,20)    ┘
#                             │ veth
#                          vd-trunk ── vnetd port trunk0 (net_af_packet0)
#   vn-red2  eth0 ──veth── vd-red2  ── vnetd port red2   (net_af_packet1)
#   vn-blue2 eth0 ──veth── vd-blue2 ── vnetd port blue2  (net_af_packet2)
#
#   host1 (red1, blue1): 10.0.1.10/24 fd00:1::10/64 gw 10.0.1.1 fd00:1::1
#   host2 (red2, blue2): 10.0.2.10/24 fd00:2::10/64 gw 10.0.2.1 fd00:2::1
#   host2 serves "<tenant>-server" over HTTP on TCP 8080 (IPv4 and IPv6).
#
# Sourced by scripts/demo.sh and tests/e2e/*.sh:
#   vn_topo_up                 create everything (tears down stale leftovers first)
#   vn_topo_down [--force]     destroy; idempotent, safe to call twice (use in trap EXIT)
#   vn_topo_check              without vnetd: ARP from red1/blue1 appears on vd-trunk
#                              tagged with VLAN 10/20
#   vn_topo_status             print what exists
#   vn_capture_start NS|- IFACE FILTER...   background tcpdump (text) -> $VN_CAP_FILE
#   vn_capture_stop            stop it; then vn_capture_count PATTERN
# Or run it directly:  sudo tests/lib/topology.sh up|down|check|status
#
# Names: namespaces vn-*, root-namespace links vd-* (router side) and vo-* (OVS side),
# bridge vnbr0, state in /run/vn-topo, OVS db/pids/sockets/logs in /tmp/vn-ovs.XXXXXX
# (kept after teardown when VN_KEEP=1).

VN_TOPO_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
VN_STATE_DIR=${VN_STATE_DIR:-/run/vn-topo}
VN_BRIDGE=vnbr0
VN_TENANTS=(red blue)
VN_HOSTS=(red1 blue1 red2 blue2)
VN_ROUTER_LINKS=(vd-trunk vd-red2 vd-blue2)
VN_OVS_LINKS=(vo-trunk vo-red1 vo-blue1)
VN_HTTP_PORT=8080
declare -A VN_VLAN=([red]=10 [blue]=20)

_vn_t() { printf '[topology] %s\n' "$*" >&2; }
_vn_q() { "$@" >/dev/null 2>&1; }
# _vn_run CMD...: run, and on failure say what failed (with its output) and return 1.
_vn_run() {
    local out
    if ! out=$("$@" 2>&1); then
        _vn_t "FAILED: $*"
        [[ -n $out ]] && printf '%s\n' "$out" | sed 's/^/[topology]   /' >&2
        return 1
    fi
}
_vn_ovs_dir() { cat "$VN_STATE_DIR/ovs_dir" 2>/dev/null || true; }
_vn_vsctl() {
    local dir
    dir=$(_vn_ovs_dir)
    ovs-vsctl --db="unix:$dir/db.sock" --timeout=20 "$@"
}
_vn_alive() { [[ -n ${1:-} && $1 =~ ^[0-9]+$ ]] && kill -0 "$1" 2>/dev/null; }
_vn_setsys() { # _vn_setsys NS|- key value  (writes /proc/sys, NS "-" = root namespace)
    local ns=$1 key=$2 val=$3 path
    path="/proc/sys/${key//.//}"
    if [[ $ns == - ]]; then
        [[ -w $path ]] && echo "$val" >"$path"
    else
        ip netns exec "$ns" sh -c "echo $val > $path"
    fi
}

# Kill one process we started (by pid), TERM then KILL.
_vn_kill_pid() {
    local pid=$1 i
    _vn_alive "$pid" || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 20; i++)); do _vn_alive "$pid" || return 0; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
}

_vn_owner_ok() { # may this process tear down / rebuild what is there?
    local owner
    owner=$(cat "$VN_STATE_DIR/owner" 2>/dev/null || true)
    [[ -z $owner || $owner == "$$" ]] && return 0
    [[ $owner == manual ]] && return 1
    ! _vn_alive "$owner"
}

vn_topo_down() {
    local force=0 ns pid dir name pidfile l
    [[ ${1:-} == --force ]] && force=1
    if [[ $force -eq 0 ]] && ! _vn_owner_ok; then
        _vn_t "topology belongs to $(cat "$VN_STATE_DIR/owner"), leaving it (use: tests/lib/topology.sh down)"
        return 0
    fi
    # Processes we started inside the hosts' namespaces (payload servers, captures, pings).
    for ns in "${VN_HOSTS[@]/#/vn-}"; do
        [[ -e /run/netns/$ns ]] || continue
        for pid in $(ip netns pids "$ns" 2>/dev/null); do _vn_kill_pid "$pid"; done
        ip netns del "$ns" 2>/dev/null || true
    done
    for l in "${VN_ROUTER_LINKS[@]}" "${VN_OVS_LINKS[@]}"; do
        _vn_q ip link show dev "$l" && { ip link del dev "$l" 2>/dev/null || true; }
    done
    dir=$(_vn_ovs_dir)
    if [[ -n $dir && -d $dir ]]; then
        for name in ovs-vswitchd ovsdb-server; do
            pidfile=$dir/$name.pid
            [[ -f $pidfile ]] || continue
            pid=$(cat "$pidfile" 2>/dev/null || true)
            if _vn_alive "$pid" && [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$name"* ]]; then
                if [[ -S $dir/$name.ctl ]]; then
                    timeout 5 ovs-appctl -t "$dir/$name.ctl" exit >/dev/null 2>&1 || true
                fi
                _vn_kill_pid "$pid"
            fi
        done
        if [[ ${VN_KEEP:-0} == 1 ]]; then
            _vn_t "VN_KEEP=1: OVS logs kept in $dir"
        else
            rm -rf -- "$dir"
        fi
    fi
    # OVS daemons of an earlier topology whose state was lost (a run killed hard):
    # there is one topology per machine (tests/lib/e2e.sh's lock), so any left is stale.
    pkill -f 'ovs(db-server|-vswitchd) [^ ]*/tmp/vn-ovs\.' 2>/dev/null || true
    # The netdev datapath's tap for the bridge's internal port, if it outlived vswitchd.
    _vn_q ip link show dev "$VN_BRIDGE" && { ip link del dev "$VN_BRIDGE" 2>/dev/null || true; }
    rm -rf -- "$VN_STATE_DIR"
    return 0
}

_vn_start_ovs() {
    local dir schema i
    dir=$(mktemp -d /tmp/vn-ovs.XXXXXX)
    echo "$dir" >"$VN_STATE_DIR/ovs_dir"
    mkdir -p /var/run/openvswitch
    schema=/usr/share/openvswitch/vswitch.ovsschema
    [[ -r $schema ]] || { _vn_t "no $schema: is openvswitch-switch installed? (scripts/install-deps.sh)"; return 1; }
    _vn_run ovsdb-tool create "$dir/conf.db" "$schema" || return 1
    _vn_run ovsdb-server "$dir/conf.db" --remote="punix:$dir/db.sock" \
        --pidfile="$dir/ovsdb-server.pid" --unixctl="$dir/ovsdb-server.ctl" \
        --detach --log-file="$dir/ovsdb-server.log" || return 1
    for ((i = 0; i < 50; i++)); do [[ -S $dir/db.sock ]] && break; sleep 0.1; done
    [[ -S $dir/db.sock ]] || { _vn_t "ovsdb-server socket did not appear; log:"; tail -n 20 "$dir/ovsdb-server.log" >&2; return 1; }
    _vn_run _vn_vsctl --no-wait init || return 1
    _vn_run ovs-vswitchd "unix:$dir/db.sock" --pidfile="$dir/ovs-vswitchd.pid" \
        --unixctl="$dir/ovs-vswitchd.ctl" --detach --log-file="$dir/ovs-vswitchd.log" || {
        tail -n 20 "$dir/ovs-vswitchd.log" >&2 2>/dev/null; return 1; }
    # add-br waits (up to --timeout) until vswitchd has applied it: that is our readiness check.
    _vn_run _vn_vsctl add-br "$VN_BRIDGE" -- set bridge "$VN_BRIDGE" datapath_type=netdev || {
        _vn_t "ovs-vswitchd log:"; tail -n 20 "$dir/ovs-vswitchd.log" >&2; return 1; }
}

# _vn_veth_end NS|- IFACE: tx checksum offload off, MTU 1500, up.
_vn_veth_end() {
    local ns=$1 dev=$2 pre=()
    [[ $ns != - ]] && pre=(ip netns exec "$ns")
    _vn_run "${pre[@]}" ip link set dev "$dev" mtu 1500 || return 1
    _vn_run "${pre[@]}" ethtool -K "$dev" tx off || return 1
    _vn_run "${pre[@]}" ip link set dev "$dev" up
}

# Root-namespace side of a link: no IPv6 (no RS/ND/MLD noise), no kernel ARP, no
# IPv4 forwarding from it, so that only the owner of the link talks on it.
_vn_quiet_root_link() {
    local dev=$1
    _vn_setsys - "net.ipv6.conf.$dev.disable_ipv6" 1 || return 1
    _vn_setsys - "net.ipv4.conf.$dev.forwarding" 0 || true
    _vn_run ip link set dev "$dev" arp off
}

# _vn_host NAME LAN(1|2): namespace vn-NAME, eth0 already in it.
_vn_host() {
    local name=$1 lan=$2 ns=vn-$1
    _vn_run ip -n "$ns" link set lo up || return 1
    _vn_setsys "$ns" net.ipv6.conf.all.accept_dad 0 || return 1
    _vn_setsys "$ns" net.ipv6.conf.default.accept_dad 0 || return 1
    _vn_setsys "$ns" net.ipv6.conf.eth0.accept_dad 0 || return 1
    _vn_setsys "$ns" net.ipv6.conf.eth0.accept_ra 0 || return 1
    _vn_veth_end "$ns" eth0 || return 1
    _vn_run ip -n "$ns" addr add "10.0.$lan.10/24" dev eth0 || return 1
    _vn_run ip -n "$ns" addr add "fd00:$lan::10/64" dev eth0 nodad || return 1
    _vn_run ip -n "$ns" route add default via "10.0.$lan.1" dev eth0 || return 1
    _vn_run ip -n "$ns" -6 route add default via "fd00:$lan::1" dev eth0 || return 1
    : "$name"
}

_vn_start_server() {
    local tenant=$1 ns=vn-${1}2 pid i log
    log=$VN_STATE_DIR/http-$tenant.log
    ip netns exec "$ns" python3 "$VN_TOPO_LIB_DIR/payload_server.py" "$VN_HTTP_PORT" "$tenant-server" \
        </dev/null >"$log" 2>&1 &
    pid=$!
    echo "$pid" >"$VN_STATE_DIR/http-$tenant.pid"
    for ((i = 0; i < 50; i++)); do
        if ip netns exec "$ns" ss -Hltn "sport = :$VN_HTTP_PORT" 2>/dev/null | grep -q LISTEN; then
            return 0
        fi
        _vn_alive "$pid" || break
        sleep 0.1
    done
    _vn_t "payload server in $ns did not start listening on :$VN_HTTP_PORT; log:"
    cat "$log" >&2
    return 1
}

vn_topo_up() {
    local t h l
    [[ $EUID -eq 0 ]] || { _vn_t "must run as root"; return 1; }
    for c in ip ethtool ovsdb-tool ovsdb-server ovs-vswitchd ovs-vsctl ovs-appctl python3 ss tcpdump; do
        command -v "$c" >/dev/null 2>&1 || { _vn_t "missing command: $c (run scripts/install-deps.sh)"; return 1; }
    done
    if ! _vn_owner_ok; then
        _vn_t "topology already in use by $(cat "$VN_STATE_DIR/owner") (demo running?)."
        _vn_t "stop it, or remove it with: sudo tests/lib/topology.sh down"
        return 1
    fi
    vn_topo_down --force # stale leftovers of an earlier run
    mkdir -p "$VN_STATE_DIR"
    echo "${VN_TOPO_OWNER:-$$}" >"$VN_STATE_DIR/owner"

    _vn_t "starting userspace Open vSwitch (netdev datapath)"
    _vn_start_ovs || return 1

    _vn_t "creating namespaces and links"
    for h in "${VN_HOSTS[@]}"; do _vn_run ip netns add "vn-$h" || return 1; done
    _vn_run ip link add vd-trunk type veth peer name vo-trunk || return 1
    for t in "${VN_TENANTS[@]}"; do
        _vn_run ip link add "vo-${t}1" type veth peer name eth0 netns "vn-${t}1" || return 1
        _vn_run ip link add "vd-${t}2" type veth peer name eth0 netns "vn-${t}2" || return 1
    done
    for l in "${VN_ROUTER_LINKS[@]}" "${VN_OVS_LINKS[@]}"; do
        _vn_quiet_root_link "$l" || return 1
        _vn_veth_end - "$l" || return 1
    done
    for l in "${VN_ROUTER_LINKS[@]}"; do _vn_run ip link set dev "$l" promisc on || return 1; done

    _vn_t "plugging OVS ports: vo-trunk trunks=10,20; vo-red1 tag=10; vo-blue1 tag=20"
    _vn_run _vn_vsctl add-port "$VN_BRIDGE" vo-trunk -- set port vo-trunk vlan_mode=trunk trunks=10,20 || return 1
    for t in "${VN_TENANTS[@]}"; do
        _vn_run _vn_vsctl add-port "$VN_BRIDGE" "vo-${t}1" -- set port "vo-${t}1" vlan_mode=access "tag=${VN_VLAN[$t]}" || return 1
    done
    for l in "${VN_OVS_LINKS[@]}"; do
        local err
        err=$(_vn_vsctl get interface "$l" error 2>&1 || true)
        if [[ $err != "[]" && -n $err ]]; then _vn_t "OVS port $l: $err"; return 1; fi
    done

    _vn_t "configuring hosts"
    for t in "${VN_TENANTS[@]}"; do
        _vn_host "${t}1" 1 || return 1
        _vn_host "${t}2" 2 || return 1
    done
    for t in "${VN_TENANTS[@]}"; do _vn_start_server "$t" || return 1; done
    _vn_t "topology up (OVS state in $(_vn_ovs_dir))"
}

vn_topo_status() {
    local h
    echo "== namespaces"; ip netns list | grep '^vn-' || echo "(none)"
    echo "== root links"; ip -br link | grep -E '^(vd-|vo-|vnbr0)' || echo "(none)"
    for h in "${VN_HOSTS[@]}"; do
        [[ -e /run/netns/vn-$h ]] || continue
        echo "== vn-$h"; ip -n "vn-$h" -br addr show dev eth0; ip -n "vn-$h" route; ip -n "vn-$h" -6 route | grep -v '^fe80'
    done
    if [[ -S $(_vn_ovs_dir)/db.sock ]]; then echo "== OVS"; _vn_vsctl show; fi
}

# ---- packet capture helpers (text output, so no pcap file permissions matter) ----
VN_CAP_PID=""
VN_CAP_FILE=""
# vn_capture_start NS|- IFACE FILTER...: start tcpdump -e -nn -l, wait until it listens.
# Sets VN_CAP_PID and VN_CAP_FILE (copy them to run several captures at once).
vn_capture_start() {
    local ns=$1 dev=$2 pre=() i
    shift 2
    [[ $ns != - ]] && pre=(ip netns exec "$ns")
    VN_CAP_FILE=$(mktemp /tmp/vn-cap.XXXXXX)
    "${pre[@]}" tcpdump -e -nn -l -i "$dev" "$@" >"$VN_CAP_FILE" 2>"$VN_CAP_FILE.err" </dev/null &
    VN_CAP_PID=$!
    for ((i = 0; i < 50; i++)); do
        grep -q 'listening on' "$VN_CAP_FILE.err" 2>/dev/null && return 0
        _vn_alive "$VN_CAP_PID" || break
        sleep 0.1
    done
    _vn_t "tcpdump on ${ns/#-/root}:$dev did not start:"; cat "$VN_CAP_FILE.err" >&2
    return 1
}
# vn_capture_stop [PID FILE]: stop a capture; its text stays in FILE (caller removes it).
vn_capture_stop() {
    local pid=${1:-$VN_CAP_PID} file=${2:-$VN_CAP_FILE} i
    if _vn_alive "$pid"; then
        sleep 0.3 # let the last frames through the ring
        kill -INT "$pid" 2>/dev/null || true
        for ((i = 0; i < 30; i++)); do _vn_alive "$pid" || break; sleep 0.1; done
        _vn_kill_pid "$pid"
        wait "$pid" 2>/dev/null || true
    fi
    rm -f "$file.err"
}
# vn_capture_count REGEX [FILE]: number of captured lines matching REGEX.
vn_capture_count() { grep -cE "$1" "${2:-$VN_CAP_FILE}" || true; }

# Without vnetd: a ping from red1/blue1 to the gateway makes the kernel ARP for it;
# OVS must put that ARP on the trunk tagged with the tenant's VLAN.
vn_topo_check() {
    local ok=0 t n
    vn_capture_start - vd-trunk vlan and arp || return 1
    for t in "${VN_TENANTS[@]}"; do
        ip netns exec "vn-${t}1" ping -c1 -W1 10.0.1.1 >/dev/null 2>&1 || true
    done
    vn_capture_stop "$VN_CAP_PID" "$VN_CAP_FILE"
    for t in "${VN_TENANTS[@]}"; do
        n=$(vn_capture_count "vlan ${VN_VLAN[$t]},.*[Rr]equest who-has 10\.0\.1\.1 tell 10\.0\.1\.10")
        if [[ $n -ge 1 ]]; then
            _vn_t "check: ${t}1's ARP seen on vd-trunk tagged VLAN ${VN_VLAN[$t]} ($n frames)"
        else
            _vn_t "check FAILED: no ARP from ${t}1 tagged VLAN ${VN_VLAN[$t]} on vd-trunk"; ok=1
        fi
    done
    if [[ $ok -ne 0 ]]; then
        _vn_t "capture on vd-trunk:"; sed 's/^/[topology]   /' "$VN_CAP_FILE" >&2
        [[ -n $(_vn_ovs_dir) ]] && { _vn_t "ovs-vswitchd log:"; tail -n 20 "$(_vn_ovs_dir)/ovs-vswitchd.log" >&2; }
    fi
    rm -f "$VN_CAP_FILE"
    # Forget the failed resolutions so the router gets asked afresh.
    for t in "${VN_TENANTS[@]}"; do ip -n "vn-${t}1" neigh flush dev eth0 >/dev/null 2>&1 || true; done
    return $ok
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
    set -uo pipefail
    case ${1:-} in
        up) VN_TOPO_OWNER=manual vn_topo_up || { vn_topo_down --force; exit 1; } ;;
        down) vn_topo_down --force ;;
        check) vn_topo_check ;;
        status) vn_topo_status ;;
        *) echo "usage: sudo $0 up|down|check|status" >&2; exit 2 ;;
    esac
fi

#!/usr/bin/env bash
# End-to-end: two tenants with the SAME address plan through one vnetd.
#
#   sudo tests/e2e/overlap.sh            (tests/run.sh builds and runs it for you)
#
# Builds the topology of tests/lib/topology.sh, starts target/release/vnetd on a
# temporary config (API socket in a temp dir, metrics on 127.0.0.1:19469), and checks
# forwarding, TCP, tenant isolation, IPv6, ICMP errors, the router's own addresses,
# Prometheus metrics and config validation. Prints TAP-style `ok N - name` /
# `not ok N - name` with `# ` diagnostics; exits non-zero when any case failed.
#
# Environment: VNETD, VNETCTL (binaries), VN_E2E_METRICS (host:port), VN_KEEP=1 (keep
# the work dir with logs and configs, and the OVS logs).
set -uo pipefail # no -e: one failing case must not stop the others

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
VN_PROG=e2e/overlap
# shellcheck source=scripts/lib/common.sh
source "$ROOT/scripts/lib/common.sh"
# shellcheck source=tests/lib/topology.sh
source "$ROOT/tests/lib/topology.sh"
vn_require_root "$0" "$@"
cd "$ROOT" || exit 1

VNETD=${VNETD:-$ROOT/target/release/vnetd}
VNETCTL=${VNETCTL:-$ROOT/target/release/vnetctl}
METRICS=${VN_E2E_METRICS:-127.0.0.1:19469}
WORK=$(mktemp -d /tmp/vn-e2e.XXXXXX)
SOCK=$WORK/vnetd.sock
CFG=$WORK/vnetd.toml
LOG=$WORK/vnetd.log
VNETD_PID=""
VNETD_RC=""
N=0
FAILED=0
LOG_SHOWN=""

cleanup() {
    trap - EXIT INT TERM
    stop_vnetd >/dev/null 2>&1
    [[ -n $VN_CAP_PID ]] && vn_capture_stop "$VN_CAP_PID" "$VN_CAP_FILE" >/dev/null 2>&1
    vn_topo_down
    if [[ ${VN_KEEP:-0} == 1 ]]; then
        echo "# VN_KEEP=1: logs and configs kept in $WORK"
    else
        rm -rf -- "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- helpers
say() { printf '%s\n' "$*"; }                 # diagnostics inside a case (captured)
hx() { local ns=vn-$1; shift; timeout 30 ip netns exec "$ns" "$@"; }

vnetd_alive() { [[ -n $VNETD_PID ]] && kill -0 "$VNETD_PID" 2>/dev/null; }

# stop_vnetd: SIGTERM, wait up to 10 s, then SIGKILL. Sets VNETD_RC. Returns 1 if it
# had to be killed.
stop_vnetd() {
    local i
    [[ -n $VNETD_PID ]] || return 0
    if kill -0 "$VNETD_PID" 2>/dev/null; then
        kill -TERM "$VNETD_PID" 2>/dev/null
        for ((i = 0; i < 100; i++)); do kill -0 "$VNETD_PID" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$VNETD_PID" 2>/dev/null; then
            kill -KILL "$VNETD_PID" 2>/dev/null
            wait "$VNETD_PID" 2>/dev/null
            VNETD_RC=killed
            VNETD_PID=""
            return 1
        fi
    fi
    wait "$VNETD_PID" 2>/dev/null
    VNETD_RC=$?
    VNETD_PID=""
}

# run_case NAME FUNCTION [ARGS...]: runs the check in this shell, output to a file;
# prints ok/not ok, and on failure the output and the tail of vnetd's log.
run_case() {
    local name=$1 out rc
    shift
    N=$((N + 1))
    out=$WORK/case-$N.out
    "$@" >"$out" 2>&1 </dev/null
    rc=$?
    if [[ $rc -eq 0 ]]; then
        say "ok $N - $name"
        [[ ${VN_DEBUG:-0} == 1 ]] && sed 's/^/#   /' "$out"
    else
        FAILED=$((FAILED + 1))
        say "not ok $N - $name"
        sed 's/^/#   /' "$out"
        # The log's tail, unless it was shown already and has not grown since.
        if [[ -s $LOG && $(wc -c <"$LOG") != "$LOG_SHOWN" ]]; then
            LOG_SHOWN=$(wc -c <"$LOG")
            say "#   --- vnetd log (last 15 lines of $LOG):"
            tail -n 15 "$LOG" | sed 's/^/#   | /'
        fi
        if [[ -n $VNETD_PID ]] && ! vnetd_alive; then
            wait "$VNETD_PID" 2>/dev/null
            say "#   --- vnetd is no longer running (exit status $?)"
            VNETD_PID=""
        fi
    fi
    return 0
}

need_vnetd() { vnetd_alive || { say "vnetd is not running (see the readiness case above)"; return 1; }; }

# ping_ok NS DEST [ping options]: warm-up (neighbor resolution), then 3 pings, 0% loss.
ping_ok() {
    local ns=$1 dst=$2 i out
    shift 2
    need_vnetd || return 1
    for ((i = 0; i < 5; i++)); do
        hx "$ns" ping "$@" -c1 -W1 "$dst" >/dev/null 2>&1 && break
    done
    out=$(hx "$ns" ping "$@" -c3 -i0.2 -W2 "$dst" 2>&1)
    say "\$ ip netns exec vn-$ns ping $* -c3 $dst"
    say "$out"
    grep -qE ' 3 received, 0% packet loss' <<<"$out"
}

# http_is NS URL EXPECTED: curl the payload server, expect exactly EXPECTED.
http_is() {
    local ns=$1 url=$2 want=$3 got i
    need_vnetd || return 1
    for ((i = 0; i < 2; i++)); do
        got=$(hx "$ns" curl -sS -g --max-time 5 "$url" 2>&1)
        [[ $got == "$want" ]] && { say "got: $got"; return 0; }
        sleep 0.5
    done
    say "\$ ip netns exec vn-$ns curl $url"
    say "expected '$want', got: '$got'"
    return 1
}

# ping_error NS REGEX PING-ARGS...: one probe (two tries) whose output must match REGEX.
ping_error() {
    local ns=$1 re=$2 out i
    shift 2
    need_vnetd || return 1
    for ((i = 0; i < 2; i++)); do
        out=$(hx "$ns" ping -c1 -W2 "$@" 2>&1)
        grep -qE "$re" <<<"$out" && { say "$out"; return 0; }
        sleep 1.1 # ICMP errors may be rate-limited
    done
    say "\$ ip netns exec vn-$ns ping -c1 -W2 $*"
    say "$out"
    say "expected a line matching: $re"
    return 1
}

scrape() { curl -sS --max-time 5 "http://$METRICS/metrics"; }

# metric_sum FILE NAME LABEL VALUE: sum of NAME{...LABEL="VALUE"...}; fails if absent.
metric_sum() {
    python3 - "$@" <<'PY'
import re, sys
path, name, key, val = sys.argv[1:]
total, found = 0.0, False
for line in open(path, encoding="utf-8", errors="replace"):
    if line.startswith("#"):
        continue
    m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)', line)
    if not m or m.group(1) != name:
        continue
    labels = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
    if labels.get(key) != val:
        continue
    found = True
    total += float(m.group(3))
if not found:
    sys.exit(1)
print(int(total))
PY
}

write_config() { # write_config FILE SOCKET METRICS BLUE_LAN1_VLAN
    cat >"$1" <<EOF
# generated by tests/e2e/overlap.sh (from configs/demo.toml)
[dataplane]
workers = 1
eal_args = ["--no-pci", "--no-huge", "-m", "512", "--file-prefix=vnetd-e2e-$$"]

[api]
socket = "$2"

[metrics]
listen = "$3"

[[port]]
name = "trunk0"
device = "net_af_packet0,iface=vd-trunk"

[[port]]
name = "red2"
device = "net_af_packet1,iface=vd-red2"

[[port]]
name = "blue2"
device = "net_af_packet2,iface=vd-blue2"

[[vnet]]
name = "red"

  [[vnet.interface]]
  name = "lan1"
  port = "trunk0"
  vlan = 10
  addresses = ["10.0.1.1/24", "fd00:1::1/64"]

  [[vnet.interface]]
  name = "lan2"
  port = "red2"
  addresses = ["10.0.2.1/24", "fd00:2::1/64"]

[[vnet]]
name = "blue"

  [[vnet.interface]]
  name = "lan1"
  port = "trunk0"
  vlan = $4
  addresses = ["10.0.1.1/24", "fd00:1::1/64"]

  [[vnet.interface]]
  name = "lan2"
  port = "blue2"
  addresses = ["10.0.2.1/24", "fd00:2::1/64"]
EOF
}

# ---------------------------------------------------------------- cases
t_topology() { vn_topo_check; }

t_start() {
    local i out
    for f in "$VNETD" "$VNETCTL"; do
        [[ -x $f ]] || { say "$f not built (cargo build --release --workspace)"; return 1; }
    done
    write_config "$CFG" "$SOCK" "$METRICS" 20
    say "\$ $VNETD --config $CFG   (log: $LOG)"
    "$VNETD" --config "$CFG" >"$LOG" 2>&1 </dev/null &
    VNETD_PID=$!
    for ((i = 0; i < 60; i++)); do # 30 s
        if ! vnetd_alive; then
            wait "$VNETD_PID" 2>/dev/null
            say "vnetd exited with status $? before becoming ready"
            VNETD_PID=""
            return 1
        fi
        if out=$(timeout 2 "$VNETCTL" --socket "$SOCK" status 2>&1); then
            say "ready after ~$((i / 2)) s; vnetctl status:"
            say "$out"
            return 0
        fi
        sleep 0.5
    done
    say "vnetctl --socket $SOCK status did not succeed within 30 s; last output:"
    say "$out"
    return 1
}

# Captures on the HOST side (vn-*2 eth0) see both directions. On the router side
# (vd-*) tcpdump sees only what the hosts send: DPDK's af_packet PMD transmits with
# PACKET_QDISC_BYPASS, which skips the kernel's capture taps.
t_isolation() {
    local p_ctl f_ctl pids=() files=() names=() i n n_ctl out rc=0
    local echo_re='ICMP6? echo (request|reply)'
    need_vnetd || return 1
    vn_capture_start vn-red2 eth0 icmp || return 1
    p_ctl=$VN_CAP_PID f_ctl=$VN_CAP_FILE
    for spec in "-:vd-blue2" "vn-blue2:eth0" "vn-blue1:eth0"; do
        vn_capture_start "${spec%%:*}" "${spec#*:}" icmp or icmp6 || return 1
        pids+=("$VN_CAP_PID") files+=("$VN_CAP_FILE") names+=("${spec/#-:/}")
    done
    out=$(hx red1 ping -c5 -i0.2 -W2 10.0.2.10 2>&1)
    vn_capture_stop "$p_ctl" "$f_ctl"
    for i in "${!pids[@]}"; do vn_capture_stop "${pids[$i]}" "${files[$i]}"; done
    say "red1 -> 10.0.2.10: $(grep 'packet loss' <<<"$out")"
    n_ctl=$(vn_capture_count 'ICMP echo request' "$f_ctl")
    say "control, vn-red2 eth0: $n_ctl echo requests"
    if [[ $n_ctl -lt 5 ]]; then say "fewer than 5 echo requests reached red2: red's pings did not get through"; rc=1; fi
    for i in "${!pids[@]}"; do
        n=$(vn_capture_count "$echo_re" "${files[$i]}")
        say "${names[$i]}: $n ICMP echo frames"
        if [[ $n -ne 0 ]]; then say "LEAK into blue seen on ${names[$i]}:"; cat "${files[$i]}"; rc=1; fi
    done
    rm -f "$f_ctl" "${files[@]}"
    return $rc
}

t_router_addrs() {
    local rc=0
    ping_ok red1 10.0.1.1 || rc=1
    ping_ok red1 fd00:1::1 -6 || rc=1
    ping_ok blue1 10.0.1.1 || rc=1
    ping_ok red2 10.0.2.1 || rc=1
    return $rc
}

t_metrics_valid() {
    local m=$WORK/metrics.txt
    need_vnetd || return 1
    scrape >"$m" || { say "curl http://$METRICS/metrics failed"; return 1; }
    [[ -s $m ]] || { say "empty /metrics"; return 1; }
    say "$(wc -l <"$m") lines; promtool check metrics:"
    promtool check metrics <"$m" 2>&1 || { say "--- first lines of /metrics:"; head -n 30 "$m"; return 1; }
}

t_metrics_vnet() {
    local count=20 a=$WORK/m-before.txt b=$WORK/m-after.txt red0 blue0 red1 blue1 attempt i
    need_vnetd || return 1
    for attempt in 1 2; do
        scrape >"$a" || { say "scrape failed"; return 1; }
        red0=$(metric_sum "$a" vnetd_vnet_rx_packets_total vnet red) || { say 'no vnetd_vnet_rx_packets_total{vnet="red"}'; grep -m5 vnet_rx "$a"; return 1; }
        blue0=$(metric_sum "$a" vnetd_vnet_rx_packets_total vnet blue) || { say 'no vnetd_vnet_rx_packets_total{vnet="blue"}'; return 1; }
        hx red1 ping -c"$count" -i0.05 -W1 10.0.2.10 >/dev/null 2>&1
        for ((i = 0; i < 6; i++)); do # counters may be published with a small delay
            sleep 0.5
            scrape >"$b" || { say "scrape failed"; return 1; }
            red1=$(metric_sum "$b" vnetd_vnet_rx_packets_total vnet red)
            blue1=$(metric_sum "$b" vnetd_vnet_rx_packets_total vnet blue)
            [[ $((red1 - red0)) -ge $count ]] && break
        done
        say "attempt $attempt: red $red0 -> $red1 (+$((red1 - red0))), blue $blue0 -> $blue1 (+$((blue1 - blue0))) after $count pings in red"
        if [[ $((red1 - red0)) -lt $count ]]; then say "red's counter grew by less than $count"; return 1; fi
        [[ $blue1 -eq $blue0 ]] && return 0
        # Red's traffic would add >= count to blue; a few packets are background noise
        # (neighbor probes): look again once.
        [[ $((blue1 - blue0)) -ge $count ]] && break
    done
    say "blue's counter grew while only red was sending"
    return 1
}

t_metrics_port() {
    local m=$WORK/metrics.txt v
    need_vnetd || return 1
    scrape >"$m" || { say "scrape failed"; return 1; }
    v=$(metric_sum "$m" vnetd_port_rx_packets_total port trunk0) || {
        say 'no vnetd_port_rx_packets_total{port="trunk0"}'; grep -m10 '^vnetd_port' "$m"; return 1; }
    say "vnetd_port_rx_packets_total{port=\"trunk0\"} = $v"
    [[ $v -gt 0 ]] || { say "expected > 0 after the pings through trunk0"; return 1; }
}

t_bad_config() {
    local bad=$WORK/bad.toml out rc t0 ms first second lines l ok_line=0 res=0
    write_config "$bad" "$WORK/bad.sock" "127.0.0.1:19470" 10 # blue lan1 on (trunk0, 10) too
    # The two interfaces that clash: lines of red's and blue's lan1 blocks.
    first=$(grep -n 'vlan = 10' "$bad" | sed -n 1p | cut -d: -f1)
    second=$(grep -n 'vlan = 10' "$bad" | sed -n 2p | cut -d: -f1)
    t0=$(date +%s%N)
    out=$(timeout 10 "$VNETD" --config "$bad" 2>&1 </dev/null)
    rc=$?
    ms=$((($(date +%s%N) - t0) / 1000000))
    say "\$ vnetd --config $bad  -> exit $rc after $ms ms; output:"
    say "$out"
    if [[ $rc -eq 0 ]]; then say "expected a non-zero exit"; res=1; fi
    if [[ $rc -eq 124 ]]; then say "still running after 10 s (it should reject the file at once)"; res=1; fi
    if [[ $ms -ge 2000 ]]; then say "took ${ms} ms, expected < 2 s (validation must come before EAL init)"; res=1; fi
    if grep -q 'EAL:' <<<"$out"; then say "EAL output seen: the bad config got as far as EAL init"; res=1; fi
    grep -qi vlan <<<"$out" || { say "message does not mention 'vlan'"; res=1; }
    lines=$(grep -oE ':[0-9]+:[0-9]+' <<<"$out" | cut -d: -f2)
    [[ -n $lines ]] || { say "message has no ':LINE:COL'"; res=1; }
    for l in $lines; do
        if { [[ $l -ge $((first - 3)) && $l -le $((first + 1)) ]]; } || { [[ $l -ge $((second - 3)) && $l -le $((second + 1)) ]]; }; then ok_line=1; fi
    done
    if [[ -n $lines && $ok_line -eq 0 ]]; then
        say "no ':LINE:COL' points at the clashing interfaces (vlan lines $first and $second)"; res=1
    fi
    grep -qF "$(basename "$bad")" <<<"$out" || say "note: the message does not name the file"
    # And the running router is undisturbed.
    if vnetd_alive; then
        ping_ok red1 10.0.2.10 || { say "the running vnetd stopped forwarding"; res=1; }
    fi
    return $res
}

t_stop() {
    need_vnetd || return 1
    if stop_vnetd; then
        say "vnetd stopped on SIGTERM, exit status $VNETD_RC"
        [[ $VNETD_RC == 0 || $VNETD_RC == 143 ]] || { say "expected exit status 0"; return 1; }
    else
        say "vnetd still running 10 s after SIGTERM; killed"
        return 1
    fi
}

# ---------------------------------------------------------------- main
say "# vnetd e2e: overlapping tenants red/blue (work dir $WORK)"
if ! vn_topo_up >"$WORK/topology.log" 2>&1; then
    say "not ok 1 - topology: namespaces, veths and userspace OVS come up"
    sed 's/^/#   /' "$WORK/topology.log"
    say "1..1"
    exit 1
fi
N=1
say "ok 1 - topology: namespaces, veths and userspace OVS come up"

run_case "topology: OVS puts red1's ARP on the trunk as VLAN 10, blue1's as VLAN 20 (no vnetd)" t_topology
run_case "vnetd starts and answers 'vnetctl status' within 30 s" t_start
run_case "a. red1 pings red2 10.0.2.10, 0% loss" ping_ok red1 10.0.2.10
run_case "a. blue1 pings blue2 10.0.2.10 (same address), 0% loss" ping_ok blue1 10.0.2.10
run_case "b. TCP: red1 gets red's payload from 10.0.2.10:8080" http_is red1 http://10.0.2.10:8080/ red-server
run_case "b. TCP: blue1 gets blue's payload from 10.0.2.10:8080" http_is blue1 http://10.0.2.10:8080/ blue-server
run_case "c. isolation: red's ICMP reaches red2, never vd-blue2, vn-blue2 nor vn-blue1" t_isolation
run_case "d. IPv6: red1 pings fd00:2::10" ping_ok red1 fd00:2::10 -6
run_case "d. IPv6: blue1 pings fd00:2::10" ping_ok blue1 fd00:2::10 -6
run_case "d. IPv6 TCP: red1 and blue1 get their own payload from [fd00:2::10]:8080" \
    eval 'http_is red1 "http://[fd00:2::10]:8080/" red-server && http_is blue1 "http://[fd00:2::10]:8080/" blue-server'
run_case "e. reverse: red2 pings red1 10.0.1.10" ping_ok red2 10.0.1.10
run_case "e. reverse: blue2 pings blue1 10.0.1.10" ping_ok blue2 10.0.1.10
run_case "f. no route: 10.99.0.1 from red1 gets Destination Net Unreachable from 10.0.1.1" \
    ping_error red1 'From 10\.0\.1\.1 .*Unreachable' 10.99.0.1
run_case "g. TTL 1 from red1 gets Time to live exceeded from 10.0.1.1" \
    ping_error red1 'From 10\.0\.1\.1 .*Time to live exceeded' -t1 10.0.2.10
run_case "g. IPv6 hop limit 1 from red1 gets Time exceeded from fd00:1::1" \
    ping_error red1 'From fd00:1::1 .*Time exceeded' -6 -t1 fd00:2::10
run_case "h. the router's own addresses answer ping (10.0.1.1, fd00:1::1, blue's 10.0.1.1, 10.0.2.1)" t_router_addrs
run_case "i. /metrics passes promtool check metrics" t_metrics_valid
run_case "i. vnetd_vnet_rx_packets_total: red grows by >= pings sent, blue does not" t_metrics_vnet
run_case "i. vnetd_port_rx_packets_total{port=\"trunk0\"} exists" t_metrics_port
run_case "j. duplicate (port, VLAN) config is rejected fast with :LINE:COL and 'vlan'" t_bad_config
run_case "vnetd stops on SIGTERM within 10 s" t_stop

say "1..$N"
say "# $((N - FAILED)) passed, $FAILED failed"
[[ $FAILED -eq 0 ]]

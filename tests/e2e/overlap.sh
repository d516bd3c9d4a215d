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
# shellcheck source=tests/lib/e2e.sh
source "$ROOT/tests/lib/e2e.sh"
vn_require_root "$0" "$@"
cd "$ROOT" || exit 1

e2e_init e2e

# ---------------------------------------------------------------- cases
t_topology() { vn_topo_check; }

t_start() {
    demo_config "$CFG" 20
    start_vnetd "$CFG" || return 1
    say "vnetctl status:"
    ctl status
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
    (SOCK=$WORK/bad.sock METRICS=127.0.0.1:19470 demo_config "$bad" 10) # blue lan1 on (trunk0, 10) too
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

# ---------------------------------------------------------------- main
say "# vnetd e2e: overlapping tenants red/blue (work dir $WORK)"
e2e_topology

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

e2e_finish

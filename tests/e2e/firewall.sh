#!/usr/bin/env bash
# End-to-end: ipfw rules in tenant red, none in tenant blue, same address plan.
#
#   sudo tests/e2e/firewall.sh           (tests/run.sh builds and runs it for you)
#
# Red's rules (below) are enforced by vnetd between real hosts in namespaces:
# a deny rule drops telnet while ssh passes, `reject` gets the client an ICMP
# host unreachable (seen by tcpdump and by the client's error), `reset` a TCP
# RST (connection refused), keep-state lets replies of red1's connections and
# pings back in while unsolicited traffic from red2 is dropped (ping, TCP,
# iperf3), drops are counted by reason in /metrics; blue, with the same
# addresses and no rules, is untouched by any of it.
# TAP-style output as tests/e2e/overlap.sh. Environment: as overlap.sh.
set -uo pipefail # no -e: one failing case must not stop the others

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
VN_PROG=e2e/firewall
# shellcheck source=scripts/lib/common.sh
source "$ROOT/scripts/lib/common.sh"
# shellcheck source=tests/lib/topology.sh
source "$ROOT/tests/lib/topology.sh"
# shellcheck source=tests/lib/e2e.sh
source "$ROOT/tests/lib/e2e.sh"
vn_require_root "$0" "$@"
cd "$ROOT" || exit 1

e2e_init e2e-firewall

# Red: red1 (10.0.1.10, lan1) may open TCP connections and ping into lan2;
# lan2 (red2, 10.0.2.10) may only answer. Ports on red2: 22 open, 23 denied,
# 24 rejected (ICMP), 25 reset (RST). The quotes are TOML's, literal on purpose.
# shellcheck disable=SC2089
RED_EXTRA='  [vnet.firewall]
  default = "allow"
  rules = """
  add 100 check-state
  add 200 deny tcp from any to any 23
  add 300 reject tcp from any to any 24
  add 400 reset tcp from any to any 25
  add 500 allow tcp from 10.0.1.0/24 to 10.0.2.0/24 setup keep-state
  add 600 allow icmp from 10.0.1.0/24 to 10.0.2.0/24 keep-state
  add 700 deny ip from 10.0.2.0/24 to 10.0.1.0/24 in recv lan2
  """'

# Per-rule counters in /metrics are an opt-in.
METRICS_EXTRA='firewall_rules = true'

# ---------------------------------------------------------------- helpers
# listen NS PORT...: ncat listeners answering "open" (killed with the namespaces).
listen() {
    local ns=vn-$1 p i
    shift
    for p in "$@"; do
        ip netns exec "$ns" ncat -lk -p "$p" -c 'echo open' </dev/null >/dev/null 2>&1 &
    done
    for p in "$@"; do
        for ((i = 0; i < 50; i++)); do
            ip netns exec "$ns" ss -Hltn "sport = :$p" 2>/dev/null | grep -q LISTEN && break
            sleep 0.1
        done
    done
}

# tcp_says NS DEST PORT REGEX: one TCP connect (3 s), its output must match REGEX.
tcp_says() {
    local ns=$1 dst=$2 port=$3 re=$4 out
    need_vnetd || return 1
    out=$(hx "$ns" ncat --recv-only -w3 "$dst" "$port" </dev/null 2>&1)
    say "\$ ip netns exec vn-$ns ncat --recv-only -w3 $dst $port -> $out"
    grep -qE "$re" <<<"$out" || { say "expected output matching: $re"; return 1; }
}

t_start() {
    demo_config "$CFG" 20
    say "red's firewall:"; grep -A9 'vnet.firewall' "$CFG"
    start_vnetd "$CFG" || return 1
    listen red2 22 23 24 25
    listen blue2 22 23 24 25
    listen red1 9000
    ctl status
}

t_deny_telnet() {
    local rc=0
    tcp_says red1 10.0.2.10 22 '^open' || rc=1
    tcp_says red1 10.0.2.10 23 'TIMEOUT|timed out' || rc=1
    return $rc
}

t_reject_icmp() {
    local n rc=0
    need_vnetd || return 1
    vn_capture_start vn-red1 eth0 icmp || return 1
    tcp_says red1 10.0.2.10 24 'No route to host|unreachable' || rc=1
    vn_capture_stop
    say "tcpdump on red1:"; cat "$VN_CAP_FILE"
    n=$(vn_capture_count '10\.0\.2\.10 unreachable|host 10\.0\.2\.10 unreachable' "$VN_CAP_FILE")
    [[ $n -ge 1 ]] || { say "no ICMP host unreachable for 10.0.2.10 seen on red1"; rc=1; }
    rm -f "$VN_CAP_FILE"
    return $rc
}

t_reset_rst() {
    local n rc=0
    need_vnetd || return 1
    vn_capture_start vn-red1 eth0 tcp port 25 || return 1
    tcp_says red1 10.0.2.10 25 'refused' || rc=1
    vn_capture_stop
    say "tcpdump on red1:"; cat "$VN_CAP_FILE"
    n=$(vn_capture_count '10\.0\.2\.10\.25 > 10\.0\.1\.10\.[0-9]+: Flags \[R' "$VN_CAP_FILE")
    [[ $n -ge 1 ]] || { say "no RST from 10.0.2.10:25 seen on red1"; rc=1; }
    rm -f "$VN_CAP_FILE"
    return $rc
}

t_iperf() {
    local out rc=0
    need_vnetd || return 1
    ip netns exec vn-red2 iperf3 -s -1 -p 5201 </dev/null >/dev/null 2>&1 &
    sleep 0.5
    out=$(hx red1 iperf3 -c 10.0.2.10 -p 5201 -t 2 2>&1)
    say "$out" | tail -n 4
    grep -qE 'receiver' <<<"$out" || { say "iperf3 did not complete through keep-state"; rc=1; }
    return $rc
}

t_metrics_drops() {
    local m=$WORK/metrics.txt red blue
    need_vnetd || return 1
    scrape >"$m" || { say "scrape failed"; return 1; }
    red=$(grep -E '^vnetd_vnet_dropped_packets_total\{.*vnet="red".*reason="firewall_deny"' "$m" | awk '{s+=$2} END {print s+0}')
    blue=$(grep -E '^vnetd_vnet_dropped_packets_total\{.*vnet="blue".*reason="firewall_(deny|reject)"' "$m" | awk '{s+=$2} END {print s+0}')
    grep -E 'reason="firewall_' "$m" | head -n 8
    say "red firewall_deny = $red, blue firewall drops = $blue"
    [[ $red -gt 0 && $blue -eq 0 ]] || return 1
    grep -E '^vnetd_firewall_(states|rule_packets_total)\{vnet="red"' "$m" | head -n 12
    grep -qE '^vnetd_firewall_rule_packets_total\{vnet="red",rule="200"\} [1-9]' "$m" || { say "no per-rule counter for red's rule 200"; return 1; }
    grep -q 'vnet="blue"' <(grep '^vnetd_firewall' "$m") && { say "blue (no rules) has firewall series"; return 1; }
    promtool check metrics <"$m" 2>&1 || return 1
}

t_show_counters() {
    local out n
    need_vnetd || return 1
    out=$(ctl -v red ipfw show) || { say "vnetctl -v red ipfw show failed: $out"; return 1; }
    say "\$ vnetctl -v red ipfw show"; say "$out"
    # `00200  PACKETS BYTES set 0 deny tcp from any to any 23`: counted the telnet SYNs.
    n=$(awk '$1 == "00200" {print $2}' <<<"$out")
    [[ -n $n && $n -gt 0 ]] || { say "rule 200 has no packets counted"; return 1; }
    grep -q '^## Dynamic rules' <<<"$out" || { say "no dynamic rules section"; return 1; }
}

t_api_edit() {
    local out rc=0
    need_vnetd || return 1
    out=$(ctl -v red ipfw add 250 deny tcp from any to any 22 2>&1) || { say "add refused: $out"; return 1; }
    say "\$ vnetctl -v red ipfw add 250 deny tcp from any to any 22 -> $out"
    tcp_says red1 10.0.2.10 22 'TIMEOUT|timed out' || rc=1
    tcp_says blue1 10.0.2.10 22 '^open' || rc=1
    out=$(ctl -v red ipfw delete 250 2>&1) || { say "delete refused: $out"; return 1; }
    tcp_says red1 10.0.2.10 22 '^open' || rc=1
    # Rule 200 kept its counters through both edits.
    out=$(ctl -v red ipfw show)
    [[ $(awk '$1 == "00200" {print $2}' <<<"$out") -gt 0 ]] || { say "rule 200's counters were lost:"; say "$out"; rc=1; }
    return $rc
}

t_api_error() {
    local out
    need_vnetd || return 1
    out=$(ctl -v red ipfw add 260 allow tcp from any to any port 80 2>&1) && { say "accepted: $out"; return 1; }
    say "\$ vnetctl -v red ipfw add 260 allow tcp from any to any port 80 -> $out"
    grep -qE '1:[0-9]+: expected' <<<"$out" || { say "no LINE:COL and 'expected' in the error"; return 1; }
    grep -q '^00260' <<<"$(ctl -v red ipfw show)" && { say "rule 260 is there after a refused add"; return 1; }
    return 0
}

# ---------------------------------------------------------------- main
say "# vnetd e2e: firewall rules in red, none in blue (work dir $WORK)"
e2e_topology

run_case "vnetd starts with red's [vnet.firewall] and answers 'vnetctl status'" t_start
run_case "a. deny: red1 reaches red2:22, red2:23 (deny tcp ... 23) times out" t_deny_telnet
run_case "b. reject: red1 -> red2:24 gets an ICMP host unreachable (tcpdump) and 'No route to host'" t_reject_icmp
run_case "b. reset: red1 -> red2:25 gets a TCP RST (tcpdump) and 'Connection refused'" t_reset_rst
run_case "c. keep-state: unsolicited ping red2 -> red1 is dropped" ping_fails red2 10.0.1.10
run_case "c. keep-state: red1 pings red2 and the replies come back" ping_ok red1 10.0.2.10
run_case "c. keep-state: red1 gets red's payload over TCP from 10.0.2.10:8080" http_is red1 http://10.0.2.10:8080/ red-server
run_case "c. keep-state: unsolicited TCP red2 -> red1:9000 is dropped" tcp_says red2 10.0.1.10 9000 'TIMEOUT|timed out'
run_case "c. keep-state: iperf3 red1 -> red2 runs through the states" t_iperf
run_case "d. isolation: blue1 reaches blue2:23, :24 and :25 (no rules in blue)" \
    eval 'tcp_says blue1 10.0.2.10 23 ^open && tcp_says blue1 10.0.2.10 24 ^open && tcp_says blue1 10.0.2.10 25 ^open'
run_case "d. isolation: blue2 pings blue1 (red's rule 700 does not apply)" ping_ok blue2 10.0.1.10
run_case "e. /metrics: red's firewall_deny drops counted, blue has none; per-rule counters (opt-in) pass promtool" t_metrics_drops
run_case "f. vnetctl -v red ipfw show: per-rule counters (rule 200 counted) and dynamic states" t_show_counters
run_case "f. vnetctl -v red ipfw add/delete 250: ssh denied then allowed again, blue untouched, counters kept" t_api_edit
run_case "f. a bad ipfw add is refused with LINE:COL and changes nothing" t_api_error
run_case "vnetd stops on SIGTERM within 10 s" t_stop

e2e_finish

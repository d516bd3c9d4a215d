#!/usr/bin/env bash
# End-to-end: dummynet pipes and queues in tenant red, fed by its firewall rules.
#
#   sudo tests/e2e/shaper.sh            (tests/run.sh builds and runs it for you)
#
# The topology of tests/lib/topology.sh; red's firewall sends traffic from red1 to
# red2 into pipes (out on lan2):
#   TCP port 5201 -> pipe 1, 10 Mbit/s           iperf3 measures 9.3-10.0 Mbit/s
#   ICMP          -> pipe 2, delay 40 ms          ping RTT 40 +- 2 ms above blue's
#   TCP 5202/5203 -> queues of weight 1 and 3 on pipe 3 (20 Mbit/s): split ~1:3
# Blue has no pipes: its iperf3 runs at full speed while red's pipe is busy.
# Prints TAP-style `ok N - name` / `not ok N - name`; exits non-zero on any failure.
#
# Environment: VNETD, VNETCTL (binaries), VN_E2E_METRICS (host:port), VN_KEEP=1,
# SHAPER_WORKERS=N (default 1; with 2, packets reach red's pipes from both workers
# and are handed to the one that owns red's shaper). On a 2-CPU machine two
# busy-polling workers leave userspace OVS and iperf3 little CPU: under load the TCP
# cases then read low (8.4-9.2 Mbit/s through pipe 1 in 4 of 8 runs on 2026-11-21,
# with no handoff or other drops, only the pipe's tail drops), while delay, isolation,
# metrics and flush always passed. The handoff was reviewed for a starvation bug
# (shaper/README.md, "Across cores"): none found; CPU left to iperf3 and the switch
# is what the TCP cases measure there.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
VN_PROG=e2e/shaper
# shellcheck source=scripts/lib/common.sh
source "$ROOT/scripts/lib/common.sh"
# shellcheck source=tests/lib/topology.sh
source "$ROOT/tests/lib/topology.sh"
# shellcheck source=tests/lib/e2e.sh
source "$ROOT/tests/lib/e2e.sh"
vn_require_root "$0" "$@"
cd "$ROOT" || exit 1

e2e_init shaper
IPERF_PIDS=()

RED_EXTRA='
  [vnet.firewall]
  default = "allow"
  rules = """
  add 100 pipe 1 tcp from 10.0.1.10 to 10.0.2.10 5201 out
  add 110 queue 31 tcp from 10.0.1.10 to 10.0.2.10 5202 out
  add 120 queue 33 tcp from 10.0.1.10 to 10.0.2.10 5203 out
  add 130 pipe 2 icmp from 10.0.1.10 to 10.0.2.10 out
  add 140 pipe 4 udp from 10.0.1.10 to 10.0.2.10 9 out
  """

  [[vnet.pipe]]
  id = 1
  bw = "10Mbit/s"

  [[vnet.pipe]]
  id = 2
  delay = "40ms"

  [[vnet.pipe]]
  id = 3
  bw = "20Mbit/s"
  scheduler = "wf2q+"

  [[vnet.pipe]]
  id = 4
  delay = "30s"
  queue = 1000

  [[vnet.queue]]
  id = 31
  pipe = 3
  weight = 1

  [[vnet.queue]]
  id = 33
  pipe = 3
  weight = 3
'

shaper_cleanup() {
    local p
    for p in "${IPERF_PIDS[@]}"; do kill "$p" 2>/dev/null; done
    e2e_cleanup
}
trap shaper_cleanup EXIT

# iperf3 servers in red2 and blue2, one per port (a server takes one test at a time).
start_servers() {
    local ns port pidf
    for ns in red2 blue2; do
        for port in 5201 5202 5203; do
            pidf=$WORK/iperf-$ns-$port.pid
            ip netns exec "vn-$ns" iperf3 -s -p "$port" -D --pidfile "$pidf" >/dev/null 2>&1 || {
                say "iperf3 -s -p $port in vn-$ns failed"
                return 1
            }
            for _ in 1 2 3 4 5 6 7 8 9 10; do [[ -s $pidf ]] && break; sleep 0.1; done
            IPERF_PIDS+=("$(cat "$pidf")")
        done
    done
}

# iperf_mbps NS PORT SECONDS OUT: one TCP test from NS to 10.0.2.10:PORT; writes the
# receiver's Mbit/s to OUT (a file, so tests can run in the background).
iperf_mbps() {
    local ns=$1 port=$2 secs=$3 out=$4 json
    json=$(timeout $((secs + 20)) ip netns exec "vn-$ns" iperf3 -J -c 10.0.2.10 -p "$port" -t "$secs" -O 2 2>&1)
    python3 -c '
import json, sys
d = json.loads(sys.stdin.read())
print("%.3f" % (d["end"]["sum_received"]["bits_per_second"] / 1e6))
' <<<"$json" >"$out" 2>/dev/null || { echo "error: $(head -c 300 <<<"$json")" >"$out"; return 1; }
}

t_start() {
    RED_EXTRA=$RED_EXTRA demo_config "$CFG" 20
    if [[ ${SHAPER_WORKERS:-1} != 1 ]]; then # af_packet needs a queue pair per worker
        sed -i -e "s/^workers = 1\$/workers = $SHAPER_WORKERS/" \
            -e "s/\(device = \"net_af_packet[0-9],iface=[^\"]*\)\"/\1,qpairs=$SHAPER_WORKERS\"/" "$CFG"
    fi
    grep -q "^workers = ${SHAPER_WORKERS:-1}\$" "$CFG" || { say "could not set workers"; return 1; }
    start_vnetd "$CFG" || return 1
    start_servers || return 1
    ping_ok red1 10.0.2.10 && ping_ok blue1 10.0.2.10
}

t_rate() {
    local f=$WORK/rate.txt mbps
    need_vnetd || return 1
    iperf_mbps red1 5201 10 "$f"
    mbps=$(cat "$f")
    say "iperf3 TCP red1 -> red2:5201 through pipe 1 (10 Mbit/s): $mbps Mbit/s"
    python3 -c "import sys; v=float('$mbps'); sys.exit(0 if 9.3 <= v <= 10.0 else 1)" 2>/dev/null || {
        say "expected 9.3-10.0 Mbit/s"
        return 1
    }
}

# rtt NS OUT: "min avg" RTT (ms) of 40 pings to 10.0.2.10, into file OUT.
rtt() {
    hx "$1" ping -c40 -i0.1 -W2 10.0.2.10 2>&1 | awk -F'[/ ]' '/^rtt|^round-trip/ {print $7, $8}' >"$2"
}

# Both tenants ping at the same time, so they see the same load on this machine,
# and the minimum RTTs are compared: scheduling noise only ever adds delay.
t_delay() {
    local r=$WORK/rtt-red.txt b=$WORK/rtt-blue.txt pb
    need_vnetd || return 1
    rtt blue1 "$b" &
    pb=$!
    rtt red1 "$r"
    wait "$pb"
    say "ping RTT min/avg: blue (no pipe) $(cat "$b") ms, red (pipe 2, delay 40 ms on red1 -> red2) $(cat "$r") ms"
    python3 -c "
import sys
r, b = (float(open(f).read().split()[0]) for f in ('$r', '$b'))
print('# difference of the minimum RTTs %.2f ms' % (r - b))
sys.exit(0 if 38 <= r - b <= 42 else 1)
" || {
        say "expected a 40 +- 2 ms difference"
        return 1
    }
}

t_weights() {
    local a=$WORK/w1.txt b=$WORK/w3.txt p1 p3
    need_vnetd || return 1
    iperf_mbps red1 5202 15 "$a" &
    p1=$!
    iperf_mbps red1 5203 15 "$b" &
    p3=$!
    wait "$p1" "$p3"
    say "pipe 3 (20 Mbit/s, wf2q+): queue weight 1 $(cat "$a") Mbit/s, weight 3 $(cat "$b") Mbit/s"
    python3 -c "
import sys
w1, w3 = float(open('$a').read()), float(open('$b').read())
print('# ratio %.2f, sum %.2f Mbit/s' % (w3 / w1, w1 + w3))
sys.exit(0 if 2.4 <= w3 / w1 <= 3.6 and w1 + w3 <= 20.5 else 1)
" || {
        say "expected a 1:3 split (ratio 2.4-3.6) of at most 20 Mbit/s"
        return 1
    }
}

t_isolation() {
    local r=$WORK/iso-red.txt b=$WORK/iso-blue.txt pr
    need_vnetd || return 1
    iperf_mbps red1 5201 8 "$r" &
    pr=$!
    iperf_mbps blue1 5201 8 "$b"
    wait "$pr"
    say "at the same time: red through pipe 1 $(cat "$r") Mbit/s, blue (no pipe) $(cat "$b") Mbit/s"
    python3 -c "
import sys
r, b = float(open('$r').read()), float(open('$b').read())
sys.exit(0 if r <= 10.0 and b >= 3 * r else 1)
" || {
        say "expected red <= 10 Mbit/s and blue well above it (>= 3x)"
        return 1
    }
}

t_metrics() {
    local m=$WORK/metrics.txt out
    need_vnetd || return 1
    scrape >"$m" || { say "scrape failed"; return 1; }
    promtool check metrics <"$m" 2>&1 || return 1
    out=$(metric_sum "$m" vnetd_pipe_out_packets_total pipe 1) || { say "no vnetd_pipe_out_packets_total{pipe=\"1\"}"; return 1; }
    say "vnetd_pipe_out_packets_total{pipe=\"1\"} = $out"
    grep -E '^vnetd_pipe_(in|out)_bytes_total|^vnetd_pipe_backlog|queue_full' "$m" | grep 'pipe="1"' | head -8
    [[ $out -gt 1000 ]] || { say "expected > 1000 packets out of pipe 1 after the iperf3 runs"; return 1; }
    if grep -q 'vnet="blue",pipe=' "$m"; then say "blue has no pipes but shows pipe metrics"; return 1; fi
}

# Frames held in a pipe are freed when its vnet's pipes change: 300 UDP packets
# wait in pipe 4 (30 s delay: a slow reload on a loaded machine must not let them
# leave on their own first); a reload changes that delay; the backlog is flushed
# (counted pipe_flushed) and the mbufs come back.
t_flush_on_reload() {
    local m=$WORK/m-flush.txt held used0 used1 used2 flushed r
    need_vnetd || return 1
    scrape >"$m" || return 1
    used0=$(metric_sum "$m" vnetd_mbufs_in_use - -)
    # In batches: a burst of 300 at once overflows the af_packet RX ring.
    hx red1 python3 -c '
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for b in range(6):
    for i in range(50):
        s.sendto(b"x" * 100, ("10.0.2.10", 9))
    time.sleep(0.02)
'
    sleep 0.3
    scrape >"$m" || return 1
    held=$(metric_sum "$m" vnetd_pipe_backlog_packets pipe 4)
    used1=$(metric_sum "$m" vnetd_mbufs_in_use - -)
    say "pipe 4 holds $held packets; mbufs in use $used0 -> $used1"
    [[ $held -ge 250 ]] || { say "expected ~300 packets held in pipe 4"; return 1; }
    sed -i 's/delay = "30s"/delay = "20s"/' "$CFG"
    r=$(ctl reload 2>&1) || { say "reload failed: $r"; return 1; }
    sleep 0.5
    scrape >"$m" || return 1
    used2=$(metric_sum "$m" vnetd_mbufs_in_use - -)
    flushed=$(metric_sum "$m" vnetd_vnet_dropped_packets_total reason pipe_flushed)
    held=$(metric_sum "$m" vnetd_pipe_backlog_packets pipe 4)
    say "after the reload: pipe 4 holds $held, flushed $flushed, mbufs in use $used2"
    [[ $held -eq 0 && $flushed -ge 250 ]] || { say "expected the held packets flushed and counted"; return 1; }
    [[ $used2 -le $((used1 - 250)) ]] || { say "expected the mbufs back (in use $used1 -> $used2)"; return 1; }
}

# ---------------------------------------------------------------- main
say "# vnetd e2e: shaper pipes and queues in tenant red (work dir $WORK)"
e2e_topology
run_case "vnetd starts with red's pipes and firewall rules; both tenants forward" t_start
run_case "a. iperf3 TCP through a 10 Mbit/s pipe measures 9.3-10.0 Mbit/s" t_rate
run_case "b. a 40 ms delay pipe on red1 -> red2 raises ping RTT by 40 +- 2 ms" t_delay
run_case "c. queues of weight 1 and 3 on a 20 Mbit/s pipe split two iperf3 flows ~1:3" t_weights
run_case "d. red's 10 Mbit/s pipe does not slow blue" t_isolation
run_case "e. per-pipe metrics pass promtool and count red's pipe 1" t_metrics
run_case "f. frames held in a pipe are freed (and counted) when a reload changes it" t_flush_on_reload
run_case "vnetd stops on SIGTERM within 10 s" t_stop
e2e_finish

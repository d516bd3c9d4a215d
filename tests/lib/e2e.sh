# shellcheck shell=bash
# What every end-to-end script shares: TAP-style cases, starting and stopping
# vnetd, the demo topology's config, and probes (ping, curl, metrics).
#
# A script sets VN_PROG, sources scripts/lib/common.sh, tests/lib/topology.sh and
# this file, calls `e2e_init NAME` (work dir, traps), `e2e_topology` (the first
# case), then `run_case "what it shows" FUNCTION ARGS...` per case, and ends
# with `e2e_finish` (the exit status).
#
# Environment: VNETD, VNETCTL (binaries), VN_E2E_METRICS (host:port), VN_KEEP=1
# (keep the work dir with logs and configs), VN_DEBUG=1 (show passing output too).

E2E_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
VNETD=${VNETD:-$E2E_ROOT/target/release/vnetd}
VNETCTL=${VNETCTL:-$E2E_ROOT/target/release/vnetctl}
METRICS=${VN_E2E_METRICS:-127.0.0.1:19469}
VNETD_PID=""
VNETD_RC=""
N=0
FAILED=0
LOG_SHOWN=""

# e2e_init NAME: work dir (WORK, SOCK, CFG, LOG) and the cleanup trap.
e2e_init() {
    WORK=$(mktemp -d "/tmp/vn-$1.XXXXXX")
    SOCK=$WORK/vnetd.sock
    CFG=$WORK/vnetd.toml
    LOG=$WORK/vnetd.log
    trap e2e_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    e2e_lock
}

# One topology per machine (fixed namespace names): e2e scripts started at the same
# time (several developers, a shared CI box) take turns. The lock lives in a small
# holder process, not in this shell, so that the daemons a test starts (OVS, vnetd,
# servers) do not inherit it and keep it after the test is gone.
e2e_lock() {
    local ready=$WORK/lock.held i
    (
        exec 9>/tmp/vnetd-e2e.lock
        flock 9 || exit 1
        : >"$ready"
        while kill -0 "$$" 2>/dev/null; do sleep 0.5; done
    ) </dev/null >/dev/null 2>&1 &
    for ((i = 0; i < 1800; i++)); do # 15 min
        [[ -e $ready ]] && return 0
        ((i == 2)) && echo "# another e2e run holds /tmp/vnetd-e2e.lock: waiting for it (up to 15 min)"
        sleep 0.5
    done
    echo "# gave up waiting for /tmp/vnetd-e2e.lock"
    exit 1
}

e2e_cleanup() {
    trap - EXIT INT TERM
    stop_vnetd >/dev/null 2>&1
    [[ -n ${VN_CAP_PID:-} ]] && vn_capture_stop "$VN_CAP_PID" "$VN_CAP_FILE" >/dev/null 2>&1
    vn_topo_down
    if [[ ${VN_KEEP:-0} == 1 ]]; then
        echo "# VN_KEEP=1: logs and configs kept in $WORK"
    else
        rm -rf -- "$WORK"
    fi
}

# e2e_topology: brings the namespaces up as case 1; exits if that fails.
e2e_topology() {
    if ! vn_topo_up >"$WORK/topology.log" 2>&1; then
        say "not ok 1 - topology: namespaces, veths and userspace OVS come up"
        sed 's/^/#   /' "$WORK/topology.log"
        say "1..1"
        exit 1
    fi
    N=1
    say "ok 1 - topology: namespaces, veths and userspace OVS come up"
}

e2e_finish() {
    say "1..$N"
    say "# $((N - FAILED)) passed, $FAILED failed"
    [[ $FAILED -eq 0 ]]
}

say() { printf '%s\n' "$*"; } # diagnostics inside a case (captured)
hx() { local ns=vn-$1; shift; timeout 30 ip netns exec "$ns" "$@"; }

vnetd_alive() { [[ -n $VNETD_PID ]] && kill -0 "$VNETD_PID" 2>/dev/null; }
need_vnetd() { vnetd_alive || { say "vnetd is not running (see the readiness case above)"; return 1; }; }

# ctl ARGS...: vnetctl on the test's admin socket.
ctl() { timeout 60 "$VNETCTL" --socket "$SOCK" "$@"; }

# start_vnetd [CONFIG]: starts vnetd and waits until `vnetctl status` answers (30 s).
start_vnetd() {
    local cfg=${1:-$CFG} i out
    for f in "$VNETD" "$VNETCTL"; do
        [[ -x $f ]] || { say "$f not built (cargo build --release --workspace)"; return 1; }
    done
    say "\$ $VNETD --config $cfg   (log: $LOG)"
    "$VNETD" --config "$cfg" >>"$LOG" 2>&1 </dev/null &
    VNETD_PID=$!
    for ((i = 0; i < 60; i++)); do
        if ! vnetd_alive; then
            wait "$VNETD_PID" 2>/dev/null
            say "vnetd exited with status $? before becoming ready"
            VNETD_PID=""
            return 1
        fi
        if out=$(timeout 2 "$VNETCTL" --socket "$SOCK" status 2>&1); then
            say "ready after ~$((i / 2)) s"
            return 0
        fi
        sleep 0.5
    done
    say "vnetctl --socket $SOCK status did not succeed within 30 s; last output:"
    say "$out"
    return 1
}

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

# t_stop: a case: vnetd exits 0 on SIGTERM within 10 s.
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

# ping_fails NS DEST [ping options]: 3 pings, none answered.
ping_fails() {
    local ns=$1 dst=$2 out
    shift 2
    need_vnetd || return 1
    out=$(hx "$ns" ping "$@" -c3 -i0.2 -W1 "$dst" 2>&1)
    say "\$ ip netns exec vn-$ns ping $* -c3 $dst"
    say "$out"
    grep -qE ' 0 received' <<<"$out"
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
# LABEL "-" sums every series of NAME.
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
    if key != "-" and labels.get(key) != val:
        continue
    found = True
    total += float(m.group(3))
if not found:
    sys.exit(1)
print(int(total))
PY
}

# demo_config FILE [BLUE_LAN1_VLAN]: the demo topology's config (configs/demo.toml's
# shape) on the test's socket and metrics address. Hooks: $API_EXTRA (lines in
# [api]), $METRICS_EXTRA (lines in [metrics]), $RED_TOP / $BLUE_TOP (keys of the [[vnet]] itself, before its interfaces),
# $RED_EXTRA / $BLUE_EXTRA (tables after its interfaces, e.g.
# RED_EXTRA=$'[vnet.firewall]\nrules = [...]').
demo_config() {
    cat >"$1" <<EOF
# generated by ${VN_PROG:-tests} (the shape of configs/demo.toml)
[dataplane]
workers = 1
eal_args = ["--no-pci", "--no-huge", "-m", "512", "--file-prefix=vnetd-e2e-$$"]

[api]
socket = "$SOCK"
${API_EXTRA:-}

[metrics]
listen = "$METRICS"
${METRICS_EXTRA:-}

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
${RED_TOP:-}
  [[vnet.interface]]
  name = "lan1"
  port = "trunk0"
  vlan = 10
  addresses = ["10.0.1.1/24", "fd00:1::1/64"]

  [[vnet.interface]]
  name = "lan2"
  port = "red2"
  addresses = ["10.0.2.1/24", "fd00:2::1/64"]
${RED_EXTRA:-}

[[vnet]]
name = "blue"
${BLUE_TOP:-}
  [[vnet.interface]]
  name = "lan1"
  port = "trunk0"
  vlan = ${2:-20}
  addresses = ["10.0.1.1/24", "fd00:1::1/64"]

  [[vnet.interface]]
  name = "lan2"
  port = "blue2"
  addresses = ["10.0.2.1/24", "fd00:2::1/64"]
${BLUE_EXTRA:-}
EOF
}

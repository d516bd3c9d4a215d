#!/usr/bin/env bash
# The forwarding benchmark in one command: vnetd vs DPDK l3fwd (lpm and fib) on the
# same pcap and routes, scenarios 1 to 6 of issue 7 and 1 vs 2 workers, then the
# latency of scenario 1 through a paced probe (vnetd vs l3fwd-fib). Run as root:
#
#   perf/fwd/run.sh                       # 5 rounds -> perf/results/fwd.{md,json,png}
#                                         #   and perf/results/fwd-latency.{md,json}
#   RUNS=3 WINDOW=3 perf/fwd/run.sh --scenarios 1,6   # extra args go to bench.py
#   LATENCY=0 perf/fwd/run.sh             # rates only
#
# Steps: build l3fwd (perf/l3fwd/build.sh) and vnetd (cargo --release); generate
# traffic, routes and configs into target/fwd-work (perf/fwd/gen.py; kept between runs
# while its inputs are unchanged); measure (perf/fwd/bench.py); plot (perf/fwd/plot.py,
# matplotlib, installed under target/pylib if the system has none; skipped with a
# warning when it cannot be had); latency (perf/fwd/latency.py with the probe
# perf/src/bin/fwd_latency.rs). Env: RUNS (5), WINDOW (5 s), WARMUP (2 s), VNETS
# (10000), FRAMES (32768), RESULTS (perf/results), JOBS (cargo -j, 2), LATENCY (1),
# LAT_RUNS (3), LAT_APPS (l3fwd-fib,vnetd).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
work=$repo/target/fwd-work
results=${RESULTS:-$repo/perf/results}
runs=${RUNS:-5}
window=${WINDOW:-5}
warmup=${WARMUP:-2}
vnets=${VNETS:-10000}
frames=${FRAMES:-32768}

[ "$(id -u)" -eq 0 ] || { echo "run.sh: needs root (hugepages, /var/run/dpdk)" >&2; exit 1; }

echo "run.sh: building l3fwd and vnetd" >&2
l3fwd=$("$repo/perf/l3fwd/build.sh" | tail -1 | cut -d' ' -f1)
(cd "$repo" && cargo build --release -q -j "${JOBS:-2}" -p controlplane --bin vnetd \
    && cargo build --release -q -j "${JOBS:-2}" -p perf --bin fwd_latency)
vnetd=$repo/target/release/vnetd
probe=$repo/target/release/fwd_latency

# Regenerate only when gen.py or its parameters changed (10,000 vnets take ~20 s).
stamp="$(sha256sum "$here/gen.py" | cut -d' ' -f1) vnets=$vnets frames=$frames"
if [ "$(cat "$work/.stamp" 2>/dev/null)" != "$stamp" ]; then
    echo "run.sh: generating traffic and configs in $work" >&2
    rm -rf "$work"
    python3 "$here/gen.py" --out "$work" --vnets "$vnets" --frames "$frames" >&2
    echo "$stamp" >"$work/.stamp"
fi

mkdir -p "$results"
python3 "$here/bench.py" --work "$work" --l3fwd "$l3fwd" --vnetd "$vnetd" \
    --runs "$runs" --window "$window" --warmup "$warmup" \
    --out "$results/fwd.md" --raw "$results/fwd.json" "$@"
if [ "${LATENCY:-1}" != 0 ]; then
    python3 "$here/latency.py" --work "$work" --l3fwd "$l3fwd" --vnetd "$vnetd" \
        --probe "$probe" --runs "${LAT_RUNS:-3}" --apps "${LAT_APPS:-l3fwd-fib,vnetd}" \
        --out "$results/fwd-latency.md" --raw "$results/fwd-latency.json"
fi

if ! python3 -c 'import matplotlib' 2>/dev/null; then
    export PYTHONPATH=$repo/target/pylib${PYTHONPATH:+:$PYTHONPATH}
    python3 -c 'import matplotlib' 2>/dev/null \
        || python3 -m pip install -q --target "$repo/target/pylib" matplotlib >&2 \
        || true
fi
if python3 -c 'import matplotlib' 2>/dev/null; then
    python3 "$here/plot.py" "$results/fwd.json" "$results"
    echo "run.sh: $results/fwd.md, fwd.png, fwd-workers.png" >&2
else
    echo "run.sh: WARNING: no matplotlib; plots skipped ($results/fwd.md written)" >&2
fi

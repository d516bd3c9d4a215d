#!/usr/bin/env bash
# The LPM benchmark in one command: builds lpm_bench (release), reserves hugepages
# for DPDK's tables when run as root (their best case), runs it, and draws the plot.
#
#   perf/lpm/run.sh                  # -> perf/results/lpm.md, lpm.csv, lpm.png (~5 min)
#   LPM_QUICK=1 perf/lpm/run.sh      # full tables only, no table-size sweep
#
# Env: LPM_RUNS (5), LPM_KEYS (4194304), LPM_QUICK, RESULTS (perf/results), JOBS (2).
# The plot needs matplotlib: installed under target/pylib when the system has none
# (skipped with a warning when it cannot be had). CI never runs this.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
results=${RESULTS:-$repo/perf/results}
export RESULTS=$results
mkdir -p "$results"

cd "$repo"
cargo build --release -p perf --bin lpm_bench -j "${JOBS:-2}" >&2

if [[ $(id -u) == 0 ]]; then
    free=$(cat /sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages 2>/dev/null || echo 0)
    if (( free < 512 )); then
        echo 1024 > /proc/sys/vm/nr_hugepages || true
    fi
else
    echo "run.sh: not root: DPDK's tables run on ordinary pages (not their best case)" >&2
fi

./target/release/lpm_bench

if ! python3 -c 'import matplotlib' 2>/dev/null; then
    export PYTHONPATH=$repo/target/pylib${PYTHONPATH:+:$PYTHONPATH}
    python3 -c 'import matplotlib' 2>/dev/null \
        || python3 -m pip install -q --target "$repo/target/pylib" matplotlib >&2 \
        || true
fi
if python3 -c 'import matplotlib' 2>/dev/null; then
    python3 "$here/plot.py" "$results"
    echo "run.sh: $results/lpm.md, lpm.csv, lpm.png" >&2
else
    echo "run.sh: WARNING: no matplotlib; plot skipped ($results/lpm.md written)" >&2
fi

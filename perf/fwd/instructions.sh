#!/bin/bash
# Instructions per forwarded packet in the worker's burst processing, counted by
# callgrind: unlike cycles, the count does not move with the load of this shared
# machine, so it shows small steps that stage-cycle medians cannot (perf/README.md,
# "Instructions per packet").
#
#   perf/fwd/instructions.sh [SCENARIO] [SECONDS]     # default: scenario 1, 60 s
#   VNETD=path/to/vnetd perf/fwd/instructions.sh 6    # another build (stage-cycles)
#   LINES=1 perf/fwd/instructions.sh                  # and the costliest source lines
#
# Runs vnetd on target/fwd-work/vnetd-sN.toml (perf/fwd/gen.py writes it) under
# `valgrind --tool=callgrind`, counting only inside `dataplane::pipeline::burst::run`
# (with what it calls: the route lookup, the TX flush into net_null) and the
# shaper's stage (`dataplane::shaping::stage`: hand-off to pipes, release), and divides by
# the packets the worker reports. Needs a vnetd built with the `stage-cycles` feature
# (it prints the packet count) and valgrind. Valgrind hides AVX-512 from the program,
# so the IPv4 lookup runs its portable path here: compare builds with each other,
# not with the native instruction mix.
set -euo pipefail
cd "$(dirname "$0")/../.."
scenario=${1:-1}
secs=${2:-60}
work=target/fwd-work
vnetd=${VNETD:-target/release/vnetd}
command -v valgrind >/dev/null || { echo "instructions.sh: valgrind is not installed" >&2; exit 1; }
[ -f "$work/vnetd-s$scenario.toml" ] || { echo "instructions.sh: no $work/vnetd-s$scenario.toml (run perf/fwd/gen.py)" >&2; exit 1; }
if [ -z "${VNETD:-}" ]; then
    cargo build --release -q -p controlplane --bin vnetd --features dataplane/stage-cycles
fi

tmp=$(mktemp -d /tmp/vnetd-instr.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
# A config of our own: no hugepages (valgrind), a socket, file prefix and metrics
# port no other run uses.
port=$((40000 + $$ % 20000))
sed -e "s#^socket = .*#socket = \"$tmp/api.sock\"#" \
    -e "s#^listen = .*#listen = \"127.0.0.1:$port\"#" \
    -e "s#^eal_args = .*#eal_args = [\"--no-pci\", \"--no-huge\", \"-m\", \"1024\", \"--file-prefix=instr$$\"]#" \
    "$work/vnetd-s$scenario.toml" > "$tmp/vnetd.toml"
# GLIBC_TUNABLES as the daemon would set it: it re-executes itself otherwise,
# and valgrind would not follow.
GLIBC_TUNABLES=glibc.malloc.hugetlb=1 timeout -s INT "$secs" \
    valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.out" --collect-atstart=no \
    "--toggle-collect=dataplane::pipeline::burst::run*" \
    "--toggle-collect=dataplane::shaping::stage::*" \
    "$vnetd" --config "$tmp/vnetd.toml" > "$tmp/vnetd.log" 2>&1 || true
packets=$(grep -o "over [0-9]* packets" "$tmp/vnetd.log" | awk '{print $2}' | tail -1)
total=$(awk '/^summary:/ {print $2}' "$tmp/cg.out")
if [ -z "$packets" ] || [ -z "$total" ] || [ "$packets" = 0 ]; then
    echo "instructions.sh: no packet count (a vnetd without stage-cycles?); its log:" >&2
    tail -20 "$tmp/vnetd.log" >&2
    exit 1
fi
python3 -c "print(f'scenario $scenario: {$total / $packets:.1f} instructions per packet in burst::run and the shaper stage ({$packets} packets, {$total} instructions)')"
if [ -n "${LINES:-}" ]; then
    callgrind_annotate --auto=yes --show-percs=no "$tmp/cg.out" 2>/dev/null |
        awk -v pk="$packets" '/Auto-annotated source/ {print "== " $NF}
            /^ *[0-9][0-9,]* / {n=$1; gsub(",", "", n); if (n / pk >= 1) printf "%6.1f %s\n", n / pk, substr($0, index($0, $2), 120)}'
fi

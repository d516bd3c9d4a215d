#!/usr/bin/env bash
# How long one API route change takes on a vnet that holds the full IPv4 table
# (issue 3): starts vnetd (release) on a null port with vnet "full" loaded from a
# routes_file of the real table (../shared/data; a synthetic one if absent), then
# times `vnetctl -v full route add` and `route delete` N times each and prints the
# medians (wall time of the vnetctl command, what an operator waits for) and what
# vnetd reported. As root (DPDK). Leaves nothing running.
#
#   perf/lpm/route_add.sh            # N=9
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
work=${WORK:-$repo/target/lpm-route-add}
n=${N:-9}
mkdir -p "$work"
cd "$repo"
cargo build --release -p controlplane --bins -j "${JOBS:-2}" >&2

python3 - "$repo/../shared/data/routeviews-2014-05-13-v4.dat.gz" "$work/full.routes" <<'PY'
import gzip, os, random, sys
src, dst = sys.argv[1], sys.argv[2]
seen = set()
out = []
if os.path.exists(src):
    for line in gzip.open(src, "rt"):
        if line.startswith(";") or ":" in line or not line.strip():
            continue
        prefix = line.split()[0]
        if prefix not in seen and not prefix.startswith("10."):
            seen.add(prefix)
            out.append(prefix)
    what = f"{src} ({len(out)} prefixes)"
else:
    rnd = random.Random(5)
    while len(out) < 512_000:
        a = rnd.randrange(0x0B000000, 0xDF000000) & 0xFFFFFF00
        p = f"{a >> 24}.{(a >> 16) & 255}.{(a >> 8) & 255}.0/24"
        if p not in seen:
            seen.add(p)
            out.append(p)
    what = f"SYNTHETIC table of {len(out)} /24s ({src} not found)"
with open(dst, "w") as f:
    for p in out:
        f.write(f"{p} 10.255.255.254\n")
print(f"routes_file: {what}", file=sys.stderr)
PY

sock=$work/vnetd.sock
# A free port for the metrics listener (other benchmarks may run a vnetd too).
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat > "$work/vnetd.toml" <<TOML
[dataplane]
workers = 1
eal_args = ["--no-pci", "--no-huge", "-m", "1024", "--file-prefix=lpmra$$"]

[api]
socket = "$sock"

[metrics]
listen = "127.0.0.1:$port"

[[port]]
name = "p0"
device = "net_null0"

[[vnet]]
name = "full"
routes_file = "full.routes"

  [[vnet.interface]]
  name = "lan"
  port = "p0"
  addresses = ["10.255.255.1/24"]
TOML

rm -f "$sock"
t0=$(date +%s.%N)
./target/release/vnetd --config "$work/vnetd.toml" > "$work/vnetd.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null || true' EXIT
ctl() { ./target/release/vnetctl --socket "$sock" "$@"; }
for _ in $(seq 600); do
    if [[ -S $sock ]] && ctl status > /dev/null 2>&1; then break; fi
    kill -0 $pid 2>/dev/null || { cat "$work/vnetd.log" >&2; exit 1; }
    sleep 0.1
done
t1=$(date +%s.%N)
echo "vnetd up with the full table in $(echo "$t1 - $t0" | bc) s" >&2

rm -f "$work/add.json" "$work/delete.json"
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
add_ms=()
del_ms=()
for i in $(seq 1 "$n"); do
    s=$(date +%s%N)
    out=$(ctl --json -v full route add "198.18.$i.0/24" 10.255.255.254)
    e=$(date +%s%N)
    add_ms+=("$(( (e - s) / 1000 ))")
    echo "$out" >> "$work/add.json"
done
for i in $(seq 1 "$n"); do
    s=$(date +%s%N)
    out=$(ctl --json -v full route delete "198.18.$i.0/24")
    e=$(date +%s%N)
    del_ms+=("$(( (e - s) / 1000 ))")
    echo "$out" >> "$work/delete.json"
done
ctl -v full route get 198.18.1.1 >&2 || true
printf 'route add    (vnetctl wall time, median of %d): %.1f ms\n' "$n" "$(printf '%s\n' "${add_ms[@]}" | median | awk '{print $1/1000}')"
printf 'route delete (vnetctl wall time, median of %d): %.1f ms\n' "$n" "$(printf '%s\n' "${del_ms[@]}" | median | awk '{print $1/1000}')"
for what in add delete; do
    python3 - "$work/$what.json" "$what" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
def find(o, k):
    if isinstance(o, dict):
        if k in o:
            return o[k]
        for v in o.values():
            r = find(v, k)
            if r is not None:
                return r
    return None
v = [find(r, "validate_ms") for r in rows]
p = [find(r, "publish_ms") for r in rows]
if None not in v + p:
    print(f"route {sys.argv[2]}: vnetd's own split, medians: validate {statistics.median(v):.1f} ms, publish {statistics.median(p):.1f} ms")
PY
done
echo "all add times (us): ${add_ms[*]}"
echo "all delete times (us): ${del_ms[*]}"

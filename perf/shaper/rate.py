#!/usr/bin/env python3
"""Pipe rate accuracy on the real clock, through the whole router (issue 5): one
vnetd worker replays a capture of 1514-byte UDP/IPv4 frames from memory
(`net_pcap ... infinite_rx=1`, far more than either rate offered) and every forwarded
frame goes through `pipe 1` on its way out (`net_null`). The pipe's rate is set to
10 Mbit/s and to 1 Gbit/s in turn; the delivered rate is the pipe's own count of IP
bytes out (what dummynet charges) over a fixed window after a warm-up, and the
vnet's count of bytes sent (Ethernet bytes: x 1514/1500) says the same thing from the
other side (net_null does not count bytes).

Queue size: the pipe releases packets when its worker polls. While a worker is
descheduled (this machine's 2 CPUs are shared with other work; a production worker
has a core of its own) nothing leaves, and the link's schedule catches up afterwards
only as far as the backlog reaches: a pause longer than the queue's worth of
transmission time is lost for good. The defaults hold ~1.2 s at 10 Mbit/s (100
packets) and ~24 ms at 1 Gbit/s (2,000 packets); `--queue` overrides both.

    perf/shaper/rate.py                    # 3 rounds x 10 s -> perf/results/shaper-rate.md
    perf/shaper/rate.py --runs 1 --window 5 --rates 10M

Needs root (hugepages) and the release vnetd (cargo build --release -p controlplane
--bin vnetd). Work files go to target/shaper-rate. Python 3 standard library only.
"""

import argparse
import datetime
import ipaddress
import os
import statistics
import subprocess
import sys
import time
import types

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "../.."))
sys.path.insert(0, os.path.join(REPO, "perf/fwd"))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import bench  # noqa: E402  (perf/fwd: running and scraping vnetd)
import gen  # noqa: E402  (perf/fwd: frames, pcap and config pieces)

FRAME = 1514          # Ethernet bytes without FCS: a 1500-byte IP packet
IP_LEN = FRAME - 14
# name: (config spelling, bit/s, default queue in packets; see above)
RATES = {"10M": ("10Mbit/s", 10e6, 100), "1G": ("1Gbit/s", 1e9, 2000)}


def write_inputs(work):
    """The capture (256 flows to addresses behind the default route) and the routes."""
    src = ipaddress.ip_address(gen.SRC4)
    frames = [gen.frame4(src, ipaddress.ip_address(f"203.0.113.{i % 250 + 1}"), 10000 + i,
                         size=FRAME)
              for i in range(256)]
    gen.write_pcap(os.path.join(work, "big.pcap"), frames)
    with open(os.path.join(work, "routes.txt"), "w") as f:
        f.write(f"0.0.0.0/0 {gen.GW4}\n")


def config(work, rate_spec, queue):
    """One vnet, the default route, `pipe 1 ... out` at `rate_spec`."""
    opts = types.SimpleNamespace(file_prefix="shaper-rate", eal_arg=[], mbufs=8191,
                                 metrics="127.0.0.1:0")
    text = gen.dataplane_toml(opts, work, [[os.path.join(work, "big.pcap")]])
    text += gen.vnet_toml("rate", os.path.join(work, "routes.txt"))
    text += ('\n  [vnet.firewall]\n  default = "allow"\n  rules = """\n'
             '  add 100 pipe 1 ip from any to any out\n  """\n\n'
             f'  [[vnet.pipe]]\n  id = 1\n  bw = "{rate_spec}"\n  queue = {queue}\n')
    name = f"rate-{rate_spec.replace('/', '')}.toml"
    with open(os.path.join(work, name), "w") as f:
        f.write(text)
    return name


def measure(args, name, rate_bps, prefix, mem, log_path):
    """One run: start, wait for frames out of the pipe, warm up, then the window."""
    cmd, listen = bench.vnetd_cmd(args, name, prefix, mem)
    with open(log_path, "w") as log:
        p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        started = time.monotonic()
        while True:
            if p.poll() is not None:
                raise bench.Failed(f"vnetd exited with {p.returncode}; see {log_path}")
            if time.monotonic() - started > args.startup_timeout:
                raise bench.Failed(f"no frames out of pipe 1 after {args.startup_timeout}s")
            m = bench.scrape(listen)
            if m and bench.metric_sum(m, "vnetd_pipe_out_packets_total") > 0:
                break
            time.sleep(0.2)
        time.sleep(args.warmup)

        def sample():
            # The counters are read somewhere within the scrape (which takes a few
            # ms, more on a loaded machine): its midpoint is the sample's time.
            a = time.monotonic()
            m = bench.scrape(listen)
            t = (a + time.monotonic()) / 2
            if m is None:
                raise bench.Failed("metrics unreachable")
            return t, m, bench.cpu_seconds(p.pid)

        t0, m0, c0 = sample()
        time.sleep(args.window)
        t1, m1, c1 = sample()
        dt = t1 - t0

        def delta(metric, **labels):
            return bench.metric_sum(m1, metric, **labels) - bench.metric_sum(m0, metric, **labels)

        ip_bps = delta("vnetd_pipe_out_bytes_total") * 8 / dt
        sent_bps = delta("vnetd_vnet_tx_bytes_total", vnet="rate") * 8 / dt
        return {
            "rate_bps": rate_bps,
            "delivered_bps": ip_bps,
            "error": ip_bps / rate_bps - 1,
            # The vnet sends Ethernet frames: 14 bytes more per IP packet.
            "sent_error": sent_bps * IP_LEN / FRAME / rate_bps - 1,
            "offered_mpps": delta("vnetd_pipe_in_packets_total") / dt / 1e6,
            "pipe_drop_share": (delta("vnetd_pipe_dropped_packets_total")
                                / max(delta("vnetd_pipe_in_packets_total"), 1)),
            "cpu_share": (c1 - c0) / dt,
            "window_s": dt,
        }
    finally:
        bench.stop(p)


def report(rows, args, mem_desc):
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    out = [
        "# Pipe rate accuracy through vnetd (real clock)",
        "",
        f"- Date: {date}; machine: {bench.machine()}",
        f"- vnetd: {args.version}; memory: {mem_desc}",
        f"- One worker; {FRAME}-byte UDP/IPv4 frames replayed from memory by net_pcap "
        "(infinite_rx) into one vnet, every frame through `pipe 1` on the way out, "
        "net_null out",
        f"- {args.runs} rounds; warm-up {args.warmup} s, window {args.window} s; delivered = "
        "the pipe's IP bytes out over the window (the vnet's Ethernet bytes sent as a check)",
        "",
        "| pipe bw | queue | delivered (median) | error (median) | worst round | bytes sent check | "
        "offered into the pipe | dropped for room | CPU share |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for key, runs in rows.items():
        spec, rate, _ = RATES[key]
        med = statistics.median(r["delivered_bps"] for r in runs)
        errs = [r["error"] for r in runs]
        worst = max(errs, key=abs)
        out.append(
            f"| {spec} | {runs[0]['queue']} | {med / 1e6:.3f} Mbit/s | {statistics.median(errs) * 100:+.3f}% | "
            f"{worst * 100:+.3f}% | {statistics.median(r['sent_error'] for r in runs) * 100:+.3f}% | "
            f"{statistics.median(r['offered_mpps'] for r in runs):.2f} Mpps | "
            f"{statistics.median(r['pipe_drop_share'] for r in runs) * 100:.1f}% | "
            f"{statistics.median(r['cpu_share'] for r in runs):.2f} |")
    out += ["", "Goal (issue 5): within 1% of the pipe's rate over 10 s.", ""]
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--vnetd", default=os.path.join(REPO, "target/release/vnetd"))
    ap.add_argument("--work", default=os.path.join(REPO, "target/shaper-rate"))
    ap.add_argument("--out", default=os.path.join(REPO, "perf/results/shaper-rate.md"))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--window", type=float, default=10.0)
    ap.add_argument("--warmup", type=float, default=2.0)
    ap.add_argument("--rates", default="10M,1G", help="comma-separated: 10M, 1G")
    ap.add_argument("--queue", type=int, help="pipe queue, packets (default: per rate)")
    ap.add_argument("--startup-timeout", type=float, default=60.0)
    ap.add_argument("--memory", choices=["auto", "huge", "nohuge"], default="auto")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("rate.py: needs root (hugepages, /var/run/dpdk)")
    if not os.access(args.vnetd, os.X_OK):
        sys.exit(f"rate.py: no vnetd at {args.vnetd} (cargo build --release -p controlplane "
                 "--bin vnetd)")
    keys = [k for k in args.rates.split(",") if k]
    for k in keys:
        if k not in RATES:
            sys.exit(f"rate.py: --rates: unknown rate {k!r} (known: {', '.join(RATES)})")
    os.makedirs(args.work, exist_ok=True)
    write_inputs(args.work)
    args.version = subprocess.run([args.vnetd, "--version"], capture_output=True,
                                  text=True).stdout.strip() or "vnetd"
    mem, mem_desc = bench.choose_memory(args.memory)
    rows = {k: [] for k in keys}
    for run in range(args.runs):
        for k in keys:
            spec, rate, queue = RATES[k]
            queue = args.queue or queue
            name = config(args.work, spec, queue)
            log = os.path.join(args.work, f"vnetd-{k}-{run}.log")
            r = measure(args, name, rate, f"shaper-rate-{os.getpid()}", mem, log)
            r["queue"] = queue
            rows[k].append(r)
            print(f"rate.py: round {run + 1} {spec}: {r['delivered_bps'] / 1e6:.3f} Mbit/s "
                  f"({r['error'] * 100:+.3f}%), sent {r['sent_error'] * 100:+.3f}%, "
                  f"offered {r['offered_mpps']:.2f} Mpps, CPU {r['cpu_share']:.2f}",
                  file=sys.stderr)
    text = report(rows, args, mem_desc)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()

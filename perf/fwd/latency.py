#!/usr/bin/env python3
"""Forwarding latency: vnetd against DPDK's l3fwd, through the same probe.

net_pcap's infinite_rx replays as fast as it can and cannot pace, so latency is
measured with a probe of our own (perf/src/bin/fwd_latency.rs): it holds the server
end of two memif sockets, the router under test connects its ingress port to one and
its egress port to the other (scenario 1: the full IPv4 table, v4.pcap's frames). The
probe writes the TSC into each frame's UDP payload just before handing the burst to
memif and reads it when the frame comes back, so a sample is the whole trip: probe ->
memif -> router RX, lookup, rewrite, TX -> memif -> probe. Both programs pay the same
two memif hops, which keeps the comparison fair.

Per run: the probe first sends as fast as it can (what the router then delivers is
its max rate through this setup), then paced at 50% and 90% of that max (--fractions);
each phase has a warm-up, a measured window in which every frame is a sample, and a
short drain. Probe on CPU 0, the router's forwarding lcore on CPU 1 (l3fwd `-l 1`,
vnetd's worker; vnetd's main lcore and control thread share CPU 0 with the probe).
Rounds alternate the programs, rotating the order; the table holds medians over rounds.
Python 3 standard library only; reuses bench.py's helpers.
"""

import argparse
import datetime
import json
import os
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import bench  # noqa: E402  (same directory)


def l3fwd_memif_cmd(args, lookup, prefix, mem, sock_in, sock_out):
    w = args.work
    return [args.l3fwd, "-l", "1", "--no-pci", f"--file-prefix={prefix}", *mem,
            "--vdev", f"net_memif0,role=client,socket={sock_in},socket-abstract=no",
            "--vdev", f"net_memif1,role=client,socket={sock_out},socket-abstract=no",
            "--", "-p", "0x3", "--config=(0,0,1)", f"--lookup={lookup}", "--parse-ptype",
            f"--rule_ipv4={w}/rules_v4.cfg", f"--rule_ipv6={w}/rules_v6.cfg"]


def run_one(args, app, n, mem, logs, rnd):
    """One probe run against one router: the probe's phase lines, parsed."""
    sock_in = os.path.join(args.work, "lat-in.sock")
    sock_out = os.path.join(args.work, "lat-out.sock")
    for s in (sock_in, sock_out):
        if os.path.exists(s):
            os.unlink(s)
    prefix = f"fwdlat-{os.getpid()}-{n}"
    probe_log = os.path.join(logs, f"lat-r{rnd}-{app}-probe.log")
    router_log = os.path.join(logs, f"lat-r{rnd}-{app}.log")
    probe_cmd = [args.probe, "--pcap", os.path.join(args.work, "v4.pcap"),
                 "--in", sock_in, "--out", sock_out, "--lcore", "0",
                 "--warmup", str(args.warmup), "--window", str(args.window),
                 "--fractions", args.fractions, "--link-timeout", str(args.startup_timeout)]
    if app.startswith("vnetd"):
        router_cmd, _ = bench.vnetd_cmd(args, "vnetd-lat.toml", prefix, mem)
    else:
        router_cmd = l3fwd_memif_cmd(args, app.split("-")[1], prefix, mem, sock_in, sock_out)
    phases = 1 + len(args.fractions.split(","))
    budget = args.startup_timeout + phases * (args.warmup + args.window + 1) + 60
    with open(probe_log, "w") as plog:
        probe = subprocess.Popen(probe_cmd, stdout=subprocess.PIPE, stderr=plog, text=True,
                                 start_new_session=True)
    router = None
    try:
        started = time.monotonic()
        while not (os.path.exists(sock_in) and os.path.exists(sock_out)):
            if probe.poll() is not None or time.monotonic() - started > 30:
                raise bench.Failed(f"probe did not open its sockets; see {probe_log}")
            time.sleep(0.1)
        with open(router_log, "w") as rlog:
            router = subprocess.Popen(router_cmd, stdout=rlog, stderr=subprocess.STDOUT,
                                      start_new_session=True)
        # The probe prints {"ready": true} when its phases start and a line per phase
        # as it ends: the CPU time of both processes between lines gives each phase's
        # CPU shares (below ~0.95 the program was waiting for its CPU: on a shared
        # machine the tail latency is mostly that).
        watchdog = threading.Timer(budget, lambda: os.killpg(probe.pid, signal.SIGKILL))
        watchdog.start()
        res, last = [], None
        try:
            for line in probe.stdout:
                if not line.startswith("{"):
                    continue
                now = (time.monotonic(), bench.cpu_seconds(router.pid),
                       bench.cpu_seconds(probe.pid))
                r = json.loads(line)
                if "phase" in r and last is not None:
                    dt = now[0] - last[0]
                    r["router_cpu"] = (now[1] - last[1]) / dt
                    r["probe_cpu"] = (now[2] - last[2]) / dt
                    res.append(r)
                last = now
            probe.wait()
        finally:
            watchdog.cancel()
        if probe.returncode != 0:
            raise bench.Failed(f"probe exited with {probe.returncode}; see {probe_log}, "
                               f"{router_log}")
        if len(res) != phases:
            raise bench.Failed(f"probe printed {len(res)} phases, expected {phases}")
        return res
    finally:
        if router is not None:
            bench.stop(router)
        bench.stop(probe)
        bench.quiet_log(router_log)
        for s in (sock_in, sock_out):
            if os.path.exists(s):
                os.unlink(s)


def report(results, args, meta, mem_desc, date=None, machine_desc=None):
    by = {}
    for r in results:
        by.setdefault((r["app"], r["phase"]), []).append(r)
    apps = list(dict.fromkeys(r["app"] for r in results))
    fractions = [f for f in args.fractions.split(",") if f]
    med = bench.med
    fmt = bench.fmt

    def col(app, phase, key):
        return med([r.get(key) for r in by.get((app, phase), [])])

    def cpus(app, phase):
        return f"{fmt(col(app, phase, 'router_cpu'))} / {fmt(col(app, phase, 'probe_cpu'))}"

    def lost_share(app, phase):
        return med([(r["lost"] + r["tx_refused"]) / (r["sent"] + r["tx_refused"])
                    for r in by.get((app, phase), []) if r["sent"] + r["tx_refused"]])

    now = (datetime.datetime.fromisoformat(date) if date
           else datetime.datetime.now(datetime.timezone.utc)).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# vnetd vs DPDK l3fwd: forwarding latency",
        "",
        f"- Date: {now}; machine: {machine_desc or bench.machine()}",
        f"- vnetd: {args.vnetd_version}",
        f"- Memory: {mem_desc}",
        f"- Routes: {meta.get('routes4')} IPv4 ({meta.get('table')}); frames: v4.pcap "
        f"({meta.get('frames')} 64-byte UDP/IPv4 frames, destinations uniform over the prefixes)",
        "- Path: probe (perf/src/bin/fwd_latency.rs, CPU 0) -> memif -> router (forwarding "
        "lcore on CPU 1) -> memif -> probe; the TSC is written into each frame's UDP payload "
        "just before the burst is handed to memif and read right after it comes back: every "
        "frame sent in the window is a sample (the latency includes both memif hops, the "
        "same for both programs)",
        f"- Max: the rate the router delivered while the probe sent as fast as it could; "
        f"then paced at {', '.join(f'{float(f) * 100:.0f}%' for f in fractions)} of that max "
        f"(each program's own). Warm-up {args.warmup:g} s, window {args.window:g} s per phase; "
        f"{args.runs} rounds, programs alternating; medians over rounds",
        "- lost: frames that did not come back plus frames the probe could not hand to memif "
        "(the router's RX ring full), as a share of what the probe tried to send",
        "",
        "| program | max Mpps | load | target Mpps | offered Mpps | delivered Mpps | lost "
        "| p50 µs | p99 µs | p99.9 µs | CPU router / probe |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for app in apps:
        mx = col(app, "max", "rx_mpps")
        lines.append(f"| {app} | {fmt(mx)} | max | | {fmt(col(app, 'max', 'sent_mpps'))} "
                     f"| {fmt(mx)} | {fmt(lost_share(app, 'max'), 3)} "
                     f"| {fmt(col(app, 'max', 'p50_us'), 1)} "
                     f"| {fmt(col(app, 'max', 'p99_us'), 1)} "
                     f"| {fmt(col(app, 'max', 'p999_us'), 1)} | {cpus(app, 'max')} |")
        for f in fractions:
            lines.append(f"| {app} | | {float(f) * 100:.0f}% | {fmt(col(app, f, 'target_mpps'))} "
                         f"| {fmt(col(app, f, 'sent_mpps'))} "
                         f"| {fmt(col(app, f, 'rx_mpps'))} | {fmt(lost_share(app, f), 3)} "
                         f"| {fmt(col(app, f, 'p50_us'), 1)} | {fmt(col(app, f, 'p99_us'), 1)} "
                         f"| {fmt(col(app, f, 'p999_us'), 1)} | {cpus(app, f)} |")
    if "vnetd" in apps:
        base = [a for a in apps if a != "vnetd"]
        if base:
            lines += ["", "vnetd / l3fwd, median of the per-round ratios (latency: lower is "
                      "better):", "",
                      "| against | max rate | " + " | ".join(
                          f"p50 at {float(f) * 100:.0f}% | p99 at {float(f) * 100:.0f}%"
                          for f in fractions) + " |",
                      "|---|---:|" + "---:|---:|" * len(fractions)]
            for b in base:
                def ratio(phase, key):
                    num = {r["round"]: r.get(key) for r in by.get(("vnetd", phase), [])}
                    den = {r["round"]: r.get(key) for r in by.get((b, phase), [])}
                    return med([num[k] / den[k] for k in num
                                if k in den and num[k] and den[k]])
                cells = [fmt(ratio("max", "rx_mpps"), suffix="x")]
                for f in fractions:
                    cells += [fmt(ratio(f, "p50_us"), suffix="x"),
                              fmt(ratio(f, "p99_us"), suffix="x")]
                lines.append(f"| {b} | " + " | ".join(cells) + " |")
    lines += ["", "## Every phase", "",
              "| round | program | phase | target Mpps | offered Mpps | delivered Mpps | lost "
              "| refused | skipped | p50 µs | p99 µs | p99.9 µs | max µs | CPU router / probe |",
              "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in results:
        lines.append(f"| {r['round']} | {r['app']} | {r['phase']} | {fmt(r['target_mpps'])} "
                     f"| {r['sent_mpps']:.2f} "
                     f"| {r['rx_mpps']:.2f} | {r['lost']} | {r['tx_refused']} | {r['skipped']} "
                     f"| {fmt(r['p50_us'], 1)} | {fmt(r['p99_us'], 1)} "
                     f"| {fmt(r['p999_us'], 1)} | {fmt(r['max_us'], 1)} "
                     f"| {fmt(r.get('router_cpu'))} / {fmt(r.get('probe_cpu'))} |")
    lines += ["", "target: the phase's share of the max; offered: what the probe sent. "
              "skipped: frames a paced phase did not send because the probe itself was "
              "off its CPU for over 1 ms (it does not catch up in a burst, which would "
              "measure its own burst). CPU router / probe: each process's CPU time over "
              "the phase's wall time; a busy-polling program at 1.00 had its CPU to itself. "
              "Below that, frames wait for the scheduler: tail latencies of milliseconds "
              "are time slices of other work on the same CPU, not forwarding."]
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", help="directory written by gen.py")
    ap.add_argument("--l3fwd")
    ap.add_argument("--vnetd")
    ap.add_argument("--probe", help="the fwd_latency binary")
    ap.add_argument("--apps", default="l3fwd-fib,vnetd",
                    help="programs: any of l3fwd-lpm, l3fwd-fib, vnetd")
    ap.add_argument("--runs", type=int, default=3, help="rounds")
    ap.add_argument("--fractions", default="0.5,0.9", help="of the max rate")
    ap.add_argument("--window", type=float, default=3.0, help="seconds measured per phase")
    ap.add_argument("--warmup", type=float, default=1.0, help="seconds before each window")
    ap.add_argument("--startup-timeout", type=float, default=300.0)
    ap.add_argument("--mem", choices=("auto", "huge", "nohuge"), default="auto")
    ap.add_argument("--out", help="markdown report")
    ap.add_argument("--raw", help="JSON with every phase")
    ap.add_argument("--report-only", metavar="RAW", help="re-render an earlier --raw JSON")
    args = ap.parse_args()
    if args.report_only:
        with open(args.report_only) as f:
            raw = json.load(f)
        for k in ("vnetd_version", "runs", "fractions", "window", "warmup"):
            setattr(args, k, raw[k])
        text = report(raw["results"], args, raw["meta"], raw["memory"], raw["date"],
                      raw["machine"])
    else:
        if not (args.work and args.l3fwd and args.vnetd and args.probe):
            ap.error("--work, --l3fwd, --vnetd and --probe are required (or --report-only)")
        args.work = os.path.abspath(args.work)
        with open(os.path.join(args.work, "meta.json")) as f:
            meta = json.load(f)
        if not os.path.exists(os.path.join(args.work, "vnetd-lat.toml")):
            sys.exit(f"latency: vnetd-lat.toml missing in {args.work} (run gen.py again)")
        args.vnetd_version = subprocess.run([args.vnetd, "--version"], capture_output=True,
                                            text=True, timeout=10).stdout.strip()
        rev = subprocess.run(["git", "-C", os.path.dirname(os.path.abspath(__file__)),
                              "describe", "--always", "--dirty"], capture_output=True,
                             text=True).stdout.strip()
        if rev:
            args.vnetd_version += f" (git {rev})"
        mem, mem_desc = bench.choose_memory(args.mem)
        logs = os.path.join(args.work, "logs")
        os.makedirs(logs, exist_ok=True)
        apps = [a for a in args.apps.split(",") if a]
        results, n = [], 0
        for rnd in range(1, args.runs + 1):
            k = (rnd - 1) % len(apps)
            for app in apps[k:] + apps[:k]:
                n += 1
                try:
                    phases = run_one(args, app, n, mem, logs, rnd)
                except bench.Failed as e:
                    print(f"latency: round {rnd} {app}: FAILED: {e}", file=sys.stderr)
                    continue
                for p in phases:
                    p.update(round=rnd, app=app)
                    results.append(p)
                    print(f"latency: round {rnd} {app:9s} {p['phase']:>4s}: "
                          f"{p['sent_mpps']:.2f} -> {p['rx_mpps']:.2f} Mpps, p50 "
                          f"{bench.fmt(p['p50_us'], 1)} p99 {bench.fmt(p['p99_us'], 1)} "
                          f"p99.9 {bench.fmt(p['p999_us'], 1)} µs", file=sys.stderr)
        raw = {"meta": meta, "memory": mem_desc, "machine": bench.machine(),
               "date": datetime.datetime.now(datetime.timezone.utc).isoformat(),
               "vnetd_version": args.vnetd_version, "runs": args.runs,
               "fractions": args.fractions, "window": args.window, "warmup": args.warmup,
               "results": results}
        if args.raw:
            with open(args.raw, "w") as f:
                json.dump(raw, f, indent=1)
        text = report(results, args, meta, mem_desc, raw["date"], raw["machine"])
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()

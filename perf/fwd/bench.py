#!/usr/bin/env python3
"""Forwarding: vnetd against DPDK's l3fwd (lpm and fib), same routes, same pcap.

Each measurement starts one program (l3fwd `-l 1`: its main lcore forwards on CPU 1;
vnetd: worker lcore 1@1, the main lcore and control thread on CPU 0), waits until
frames leave the egress port(s), lets it warm up, then reads the ports' own counters
through DPDK telemetry (`/ethdev/stats`, the same for both programs) at the start and
the end of a fixed window: rate = delta(egress opackets) / window. Programs alternate
within a round and the order rotates between rounds, so slow drift of a shared machine
hits all alike; the table holds medians over rounds and the median of the per-round
vnetd/l3fwd ratios.

Also recorded per measurement: the CPU the process used during the window (CPU time /
wall time; below ~0.95 per busy lcore means something else ran on its CPU) and, for
vnetd, its own Prometheus `vnetd_port_tx_packets_total` rate as a cross-check of the
telemetry figure. Python 3 standard library only.
"""

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request

RUNTIME = "/var/run/dpdk"
NOHUGE_MEM = ["--no-huge", "-m", "1536"]
HUGEPAGES_WANTED = 1024  # 2 MiB pages: 2 GiB, enough for either program alone

# Scenario rows of issue 7. "apps": vnetd variants -> generated config; "l3fwd": whether
# l3fwd runs the same pcap (it has no VLANs, tenants, firewall or pipes).
SCENARIOS = {
    "1": {"title": "1: 1 vnet, full IPv4 table", "pcap": "v4.pcap",
          "apps": {"vnetd": "vnetd-s1.toml"}, "l3fwd": True},
    "2": {"title": "2: 1 + 100-rule stateless firewall in and out", "pcap": None,
          "apps": {"vnetd": "vnetd-s2.toml"}, "l3fwd": False},
    "3": {"title": "3: 2 + check-state / keep-state", "pcap": None,
          "apps": {"vnetd": "vnetd-s3.toml"}, "l3fwd": False},
    "4": {"title": "4: {vnets} vnets on {vnets} VLANs ({trunks} trunk pairs), 100 routes each",
          "pcap": None, "apps": {"vnetd": "vnetd-s4.toml"}, "l3fwd": False},
    "5": {"title": "5: 1 + every frame through a pipe at unlimited bandwidth", "pcap": None,
          "apps": {"vnetd": "vnetd-s5.toml"}, "l3fwd": False},
    "6": {"title": "6: IPv6, 1 vnet, full IPv6 table", "pcap": "v6.pcap",
          "apps": {"vnetd": "vnetd-s6.toml"}, "l3fwd": True},
    "w": {"title": "1 on 2 RX queues: 1 vs 2 workers", "pcap": None,
          "apps": {"vnetd-1w": "vnetd-s1q2w1.toml", "vnetd-2w": "vnetd-s1q2w2.toml"},
          "l3fwd": False},
}


def scenario_ports(s, meta):
    """(ingress port ids, egress port ids) of a scenario's vnetd config."""
    if s == "4":
        k = int(meta.get("vnet_trunks", 1))
        return list(range(k)), list(range(k, 2 * k))
    return [0], [1]


# ---- DPDK telemetry (the v2 socket protocol: JSON over SOCK_SEQPACKET) ---------

class Telemetry:
    def __init__(self, prefix):
        self.path = os.path.join(RUNTIME, prefix, "dpdk_telemetry.v2")
        self.sock = None

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        s.settimeout(5)
        s.connect(self.path)
        json.loads(s.recv(16384).decode())  # greeting: version, pid, max_output_len
        self.sock = s

    def query(self, cmd):
        self.sock.send(cmd.encode())
        reply = json.loads(self.sock.recv(1 << 16).decode())
        return reply[cmd.split(",")[0]]

    def stats(self, port):
        return self.query(f"/ethdev/stats,{port}")

    def close(self):
        if self.sock:
            self.sock.close()


def cpu_seconds(pid):
    """utime + stime of a whole process, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def scrape(listen):
    """vnetd's Prometheus samples as {'name{labels}': value}, or None if unreachable."""
    try:
        with urllib.request.urlopen(f"http://{listen}/metrics", timeout=10) as r:
            text = r.read().decode()
    except OSError:
        return None
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            k, v = line.rsplit(" ", 1)
            out[k] = float(v)
    return out


def metric_sum(samples, name, **labels):
    """Sum of the samples of `name` whose labels include `labels`."""
    want = [f'{k}="{v}"' for k, v in labels.items()]
    return sum(v for k, v in samples.items()
               if k.split("{", 1)[0] == name and all(w in k for w in want))


def prometheus_tx(samples, nout):
    """vnetd's own count of frames sent on out0..out{nout-1}."""
    return sum(metric_sum(samples, "vnetd_port_tx_packets_total", port=f"out{k}")
               for k in range(nout))


def checks(m0, m1, dt):
    """What says a row measured what it claims, from vnetd's counters over the window:
    frames through pipes (scenario 5), firewall states held and frames dropped because
    the state table was full (scenario 3)."""
    def delta(name, **labels):
        return metric_sum(m1, name, **labels) - metric_sum(m0, name, **labels)
    return {
        "pipe_in_mpps": delta("vnetd_pipe_in_packets_total") / dt / 1e6,
        "pipe_out_mpps": delta("vnetd_pipe_out_packets_total") / dt / 1e6,
        "pipe_dropped": delta("vnetd_pipe_dropped_packets_total"),
        "firewall_states": metric_sum(m1, "vnetd_firewall_states"),
        "states_full_dropped": delta("vnetd_vnet_dropped_packets_total",
                                     reason="firewall_states_full"),
    }


def nonzero_drops(samples):
    """vnetd's nonzero drop counters (what vnetd did instead of forwarding)."""
    return {k: v for k, v in samples.items() if "dropped" in k and v != 0}


# ---- one measurement ----------------------------------------------------------

class Failed(Exception):
    pass


def measure(name, cmd, prefix, args, log_path, ports, metrics=None):
    """Runs `cmd`, waits for frames out, warms up, then rates over one window.
    `ports` = (ingress port ids, egress port ids); their counters are summed."""
    ins, outs = ports

    def summed(key, ids):
        return sum(tel.stats(i)[key] for i in ids)

    shutil.rmtree(os.path.join(RUNTIME, prefix), ignore_errors=True)
    with open(log_path, "w") as log:
        p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    tel = Telemetry(prefix)
    try:
        started = time.monotonic()
        while True:  # up: telemetry answers and frames leave port 1
            if p.poll() is not None:
                raise Failed(f"{name} exited with {p.returncode}; see {log_path}")
            if time.monotonic() - started > args.startup_timeout:
                raise Failed(f"{name}: no frames out of port 1 after {args.startup_timeout}s")
            try:
                if tel.sock is None:
                    tel.connect()
                if summed("opackets", outs) > 0:
                    break
            except (OSError, ValueError, KeyError):
                tel.close()
                tel.sock = None
            time.sleep(0.2)
        up_s = time.monotonic() - started
        time.sleep(args.warmup)

        def sample():
            rx, tx = summed("ipackets", ins), summed("opackets", outs)
            err = summed("oerrors", outs)
            t = time.monotonic()
            prom = scrape(metrics) if metrics else None
            return t, rx, (tx, err), cpu_seconds(p.pid), prom

        t0, a0, b0, c0, m0 = sample()
        time.sleep(args.window)
        t1, a1, b1, c1, m1 = sample()
        dt = t1 - t0
        out = b1[0] - b0[0]
        inp = a1 - a0
        res = {
            "app": name,
            "mpps": out / dt / 1e6,
            "rx_mpps": inp / dt / 1e6,
            "forwarded_share": out / inp if inp else 0.0,
            "cpu_share": (c1 - c0) / dt,
            "window_s": dt,
            "startup_s": up_s,
            "tx_errors": b1[1] - b0[1],
        }
        if m0 is not None and m1 is not None:
            res["prometheus_mpps"] = (prometheus_tx(m1, len(outs))
                                      - prometheus_tx(m0, len(outs))) / dt / 1e6
            res["drops"] = nonzero_drops(m1)
            res["checks"] = checks(m0, m1, dt)
        return res
    finally:
        tel.close()
        stop(p)
        shutil.rmtree(os.path.join(RUNTIME, prefix), ignore_errors=True)


# ---- programs -----------------------------------------------------------------

def stop(p):
    """SIGINT to the program's process group (DPDK programs clean up their hugepage
    files on it), SIGKILL if it has not exited within 30 s."""
    if p.poll() is None:
        os.killpg(p.pid, signal.SIGINT)
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


def l3fwd_cmd(args, pcap, lookup, prefix, mem):
    w = args.work
    return [args.l3fwd, "-l", "1", "--no-pci", f"--file-prefix={prefix}", *mem,
            "--vdev", f"net_pcap0,rx_pcap={pcap},infinite_rx=1",
            "--vdev", "net_null0,no-rx=1",
            "--", "-p", "0x3", "--config=(0,0,1)", f"--lookup={lookup}", "--parse-ptype",
            f"--rule_ipv4={w}/rules_v4.cfg", f"--rule_ipv6={w}/rules_v6.cfg"]


def vnetd_cmd(args, config, prefix, mem):
    """vnetd on a copy of the generated config with this run's EAL arguments."""
    with open(os.path.join(args.work, config)) as f:
        text = f.read()
    eal = ["--no-pci", f"--file-prefix={prefix}", *mem]
    text, n = re.subn(r"^eal_args = .*$", "eal_args = " + json.dumps(eal), text, flags=re.M)
    if n != 1:
        raise Failed(f"{config}: no eal_args line")
    # A port of our own for the metrics: another benchmark (or an e2e suite) running
    # on the machine at the same time must not answer our scrapes.
    listen = f"127.0.0.1:{free_port()}"
    text, n = re.subn(r'^listen = .*$', f'listen = "{listen}"', text, flags=re.M)
    if n != 1:
        raise Failed(f"{config}: no [metrics] listen line")
    path = os.path.join(args.work, f"run-{config}")
    with open(path, "w") as f:
        f.write(text)
    return [args.vnetd, "--config", path], listen


def free_port():
    """A TCP port nobody listens on now (the kernel's pick for port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- memory mode --------------------------------------------------------------

def meminfo(key):
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def hugetlbfs_mounted():
    with open("/proc/mounts") as f:
        return any(line.split()[2] == "hugetlbfs" for line in f)


def choose_memory(mode):
    """EAL memory arguments and a description. 'auto' reserves hugepages if it can."""
    if mode == "nohuge":
        return NOHUGE_MEM, "no hugepages (--no-huge -m 1536, 4 KiB pages)"
    try:
        if meminfo("HugePages_Total") < HUGEPAGES_WANTED:
            with open("/proc/sys/vm/nr_hugepages", "w") as f:
                f.write(str(HUGEPAGES_WANTED))
        if not hugetlbfs_mounted():
            os.makedirs("/dev/hugepages", exist_ok=True)
            subprocess.run(["mount", "-t", "hugetlbfs", "nodev", "/dev/hugepages"], check=True,
                           capture_output=True)
    except (OSError, subprocess.CalledProcessError) as e:
        print(f"bench: cannot reserve hugepages: {e}", file=sys.stderr)
    free = meminfo("HugePages_Free")
    if free >= 768 and hugetlbfs_mounted():
        return [], f"hugepages ({free} x 2 MiB free at start)"
    if mode == "huge":
        sys.exit(f"bench: only {free} hugepages free or hugetlbfs not mounted")
    print("bench: falling back to --no-huge", file=sys.stderr)
    return NOHUGE_MEM, "no hugepages (reservation failed; --no-huge -m 1536)"


# ---- report -------------------------------------------------------------------

def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(x, digits=2, suffix=""):
    return "—" if x is None else f"{x:.{digits}f}{suffix}"


def machine():
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{model}, nproc {os.cpu_count()}, {platform.system()} {platform.release()}"


def report(results, args, meta, mem_desc, date=None, machine_desc=None):
    by = {}
    for r in results:
        by.setdefault((r["scenario"], r["app"]), []).append(r)

    def rates(s, app):
        return [r["mpps"] for r in by.get((s, app), [])]

    def cpu(s, app):
        return med([r["cpu_share"] for r in by.get((s, app), [])])

    def per_cpu(r):
        # Mpps per CPU-second the program got: on a shared machine the scheduler
        # hands each run a different share of its core, and a poll-mode program
        # forwards in proportion to the CPU time it gets.
        return r["mpps"] / r["cpu_share"] if r["cpu_share"] > 0.05 else None

    def norm(s, app):
        return med([per_cpu(r) for r in by.get((s, app), [])])

    def per_round_norm_ratio(s, num_app, den_s, den_app):
        num = {r["round"]: per_cpu(r) for r in by.get((s, num_app), [])}
        den = {r["round"]: per_cpu(r) for r in by.get((den_s, den_app), [])}
        return med([num[k] / den[k] for k in num if k in den and num[k] and den[k]])

    def per_round_ratio(s, num_app, den_s, den_app):
        num = {r["round"]: r["mpps"] for r in by.get((s, num_app), [])}
        den = {r["round"]: r["mpps"] for r in by.get((den_s, den_app), [])}
        return med([num[k] / den[k] for k in num if k in den and den[k] > 0])

    now = (datetime.datetime.fromisoformat(date) if date
           else datetime.datetime.now(datetime.timezone.utc)).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# vnetd vs DPDK l3fwd: forwarding",
        "",
        f"- Date: {now}; machine: {machine_desc or machine()}",
        f"- vnetd: {args.vnetd_version}",
        f"- Memory: {mem_desc}, the same for both programs",
        f"- Routes: {meta.get('routes4')} IPv4 + {meta.get('routes6')} IPv6 "
        f"({meta.get('table')}), all via one gateway on the egress port",
        f"- Traffic: {meta.get('frames')} frames per pcap, 64-byte UDP/IPv4 (62-byte UDP/IPv6), "
        "destinations uniform over the prefixes; net_pcap infinite_rx in, net_null out",
        f"- {args.runs} rounds, program order rotating; warm-up {args.warmup:g} s, "
        f"window {args.window:g} s; rate = egress ports' TX counters (DPDK telemetry "
        "/ethdev/stats); one core (l3fwd `-l 1`, vnetd's worker on CPU 1)",
        "- Mpps: median over rounds; ratios: median of the per-round ratios (same round)",
        "- Per CPU-second: Mpps divided by the CPU share the program got in its window "
        "(process CPU time / wall time). On a machine shared with other work this is the "
        "fairer figure: a polling program forwards in proportion to the CPU it is given, "
        "and the shares below show how unequal that was",
        "",
        "| scenario | l3fwd-lpm Mpps | l3fwd-fib Mpps | vnetd Mpps | vnetd/lpm | vnetd/fib "
        "| vnetd/scenario 1 | CPU share l3fwd-lpm / -fib / vnetd "
        "| per CPU-second: vnetd/lpm | vnetd/fib | vnetd/scenario 1 |",
        "|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|",
    ]
    footnote = False
    for s in ("1", "2", "3", "4", "5", "6"):
        sc = SCENARIOS[s]
        title = sc["title"].format(vnets=meta.get("vnets", "?"),
                                   trunks=meta.get("vnet_trunks", "?"))
        if s not in args.scenarios:
            lines.append(f"| {title} | not run | | | | | | | | | |")
            continue
        lpm, fib, vn = rates(s, "l3fwd-lpm"), rates(s, "l3fwd-fib"), rates(s, "vnetd")
        base = s if sc["l3fwd"] else "1"
        r_lpm = per_round_ratio(s, "vnetd", base, "l3fwd-lpm")
        r_fib = per_round_ratio(s, "vnetd", base, "l3fwd-fib")
        # What tenants (4) and the firewall (2, 3) cost: against vnetd's own scenario 1.
        r_s1 = per_round_ratio(s, "vnetd", "1", "vnetd") if s in ("2", "3", "4", "5") else None
        shares = " / ".join(fmt(cpu(s, a)) for a in ("l3fwd-lpm", "l3fwd-fib", "vnetd"))
        n_lpm = per_round_norm_ratio(s, "vnetd", base, "l3fwd-lpm")
        n_fib = per_round_norm_ratio(s, "vnetd", base, "l3fwd-fib")
        n_s1 = per_round_norm_ratio(s, "vnetd", "1", "vnetd") if s in ("2", "3", "4", "5") else None
        note = "" if sc["l3fwd"] else " ¹"
        footnote |= not sc["l3fwd"]
        lines.append(
            f"| {title} | {fmt(med(lpm))} | {fmt(med(fib))} | {fmt(med(vn))} "
            f"| {fmt(r_lpm, suffix='x')}{note} | {fmt(r_fib, suffix='x')}{note} "
            f"| {fmt(r_s1, suffix='x')} | {shares} | {fmt(n_lpm, suffix='x')} "
            f"| {fmt(n_fib, suffix='x')} | {fmt(n_s1, suffix='x')} |")
    if footnote:
        lines += ["", "¹ l3fwd has no firewall, pipes, VLANs or tenants: scenarios 2 to 5 are "
                  "compared with l3fwd on scenario 1 (same round)."]
    if "w" in args.scenarios:
        one, two = rates("w", "vnetd-1w"), rates("w", "vnetd-2w")
        lines += ["", "## Workers", "",
                  "Scenario 1's frames split over two captures = two RX queues of one "
                  "net_pcap port; 1 worker polls both, 2 workers one each "
                  f"(this machine has {os.cpu_count()} CPUs: with 2 workers the main lcore "
                  "and the control thread share a CPU with a worker).", "",
                  "| workers | vnetd Mpps | CPU share | 2 workers / 1 worker "
                  "| Mpps per CPU-second |",
                  "|---:|---:|---:|---:|---:|",
                  f"| 1 | {fmt(med(one))} | {fmt(cpu('w', 'vnetd-1w'))} | "
                  f"| {fmt(norm('w', 'vnetd-1w'))} |",
                  f"| 2 | {fmt(med(two))} | {fmt(cpu('w', 'vnetd-2w'))} "
                  f"| {fmt(per_round_ratio('w', 'vnetd-2w', 'w', 'vnetd-1w'), suffix='x')} "
                  f"| {fmt(norm('w', 'vnetd-2w'))} |",
                  "",
                  "With 2 CPUs shared with other work, a CPU share of 2 is never reached: "
                  "the scaling figure here is a floor, and per CPU-second the 2 workers "
                  "should equal 1 worker when nothing is shared between them."]
    lines += checks_section(by, args)
    lines += ["", "## Every measurement", "",
              "| round | scenario | program | Mpps | RX Mpps | forwarded | CPU share | "
              "Prometheus Mpps | startup s |",
              "|---:|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        lines.append(
            f"| {r['round']} | {r['scenario']} | {r['app']} | {r['mpps']:.2f} | "
            f"{r['rx_mpps']:.2f} | {r['forwarded_share'] * 100:.1f}% | {r['cpu_share']:.2f} | "
            f"{fmt(r.get('prometheus_mpps'))} | {r['startup_s']:.1f} |")
    drops = {k: v for r in results for k, v in r.get("drops", {}).items()}
    if drops:
        lines += ["", "vnetd drop counters seen (last value): "
                  + ", ".join(f"`{k}` {v:.0f}" for k, v in sorted(drops.items())[:20])]
    return "\n".join(lines) + "\n"


def checks_section(by, args):
    """Rows 3 and 5 are only what they claim if vnetd's counters say so: every frame
    through the pipe (5), a state per flow and none refused for a full table (3)."""
    lines = ["", "## Checks (vnetd's own counters over the windows)", "",
             "| scenario | pipe out / frames sent | pipe drops | firewall states held "
             "| dropped: state table full | valid |",
             "|---|---:|---:|---:|---:|---|"]
    any_row = False
    for s in ("3", "5"):
        rs = [r for r in by.get((s, "vnetd"), []) if "checks" in r]
        if s not in args.scenarios or not rs:
            continue
        any_row = True
        share = med([r["checks"]["pipe_out_mpps"] / r["prometheus_mpps"]
                     for r in rs if r.get("prometheus_mpps")])
        pipe_drops = sum(r["checks"]["pipe_dropped"] for r in rs)
        states = max(r["checks"]["firewall_states"] for r in rs)
        full = sum(r["checks"]["states_full_dropped"] for r in rs)
        if s == "5":
            # Not exactly 1: the two counters are summed at slightly different moments.
            ok = share is not None and share > 0.98 and pipe_drops == 0
            cells = f"{fmt(share)} | {pipe_drops:.0f} | | "
        else:
            ok = full == 0 and states > 0
            cells = f" | | {states:.0f} | {full:.0f}"
        lines.append(f"| {s} | {cells} | {'yes' if ok else '**NO**'} |")
    return lines if any_row else []


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", help="directory written by gen.py")
    ap.add_argument("--l3fwd")
    ap.add_argument("--vnetd")
    ap.add_argument("--scenarios", default="1,2,3,4,5,6,w",
                    help="comma list of 1 to 6 and w (1 vs 2 workers)")
    ap.add_argument("--apps", default="l3fwd-lpm,l3fwd-fib,vnetd",
                    help="programs on the scenarios l3fwd runs too")
    ap.add_argument("--runs", type=int, default=5, help="rounds")
    ap.add_argument("--window", type=float, default=5.0, help="seconds measured")
    ap.add_argument("--warmup", type=float, default=2.0, help="seconds after first frames")
    ap.add_argument("--startup-timeout", type=float, default=300.0)
    ap.add_argument("--mem", choices=("auto", "huge", "nohuge"), default="auto")
    ap.add_argument("--out", help="markdown report (default: stdout only)")
    ap.add_argument("--raw", help="JSON with every measurement")
    ap.add_argument("--report-only", metavar="RAW",
                    help="only re-render the report of an earlier run's --raw JSON")
    args = ap.parse_args()
    if args.report_only:
        with open(args.report_only) as f:
            raw = json.load(f)
        args.vnetd_version = raw.get("vnetd", "?")
        args.scenarios = sorted({r["scenario"] for r in raw["results"]})
        args.runs = max(r["round"] for r in raw["results"])
        args.window = raw.get("window", args.window)
        args.warmup = raw.get("warmup", args.warmup)
        text = report(raw["results"], args, raw["meta"], raw["memory"],
                      raw.get("date"), raw.get("machine"))
        print(text)
        if args.out:
            with open(args.out, "w") as f:
                f.write(text)
        return
    if not (args.work and args.l3fwd and args.vnetd):
        ap.error("--work, --l3fwd and --vnetd are required (or --report-only RAW)")
    args.work = os.path.abspath(args.work)
    args.scenarios = [s for s in args.scenarios.split(",") if s]
    apps = [a for a in args.apps.split(",") if a]
    with open(os.path.join(args.work, "meta.json")) as f:
        meta = json.load(f)
    for s in args.scenarios:
        if s not in SCENARIOS:
            sys.exit(f"bench: unknown scenario {s} (known: 1 to 6, w)")
        for cfg in SCENARIOS[s]["apps"].values():
            if not os.path.exists(os.path.join(args.work, cfg)):
                sys.exit(f"bench: {cfg} missing in {args.work} (gen.py --vnets?)")
    try:
        args.vnetd_version = subprocess.run([args.vnetd, "--version"], capture_output=True,
                                            text=True, timeout=10).stdout.strip()
    except OSError as e:
        sys.exit(f"bench: {args.vnetd}: {e}")
    rev = subprocess.run(["git", "-C", os.path.dirname(os.path.abspath(__file__)), "describe",
                          "--always", "--dirty"], capture_output=True, text=True).stdout.strip()
    if rev:
        args.vnetd_version += f" (git {rev})"
    mem, mem_desc = choose_memory(args.mem)
    print(f"bench: {mem_desc}", file=sys.stderr)

    results = []
    logs = os.path.join(args.work, "logs")
    os.makedirs(logs, exist_ok=True)
    n = 0
    for rnd in range(1, args.runs + 1):
        for s in args.scenarios:
            sc = SCENARIOS[s]
            todo = [a for a in apps if a.startswith("l3fwd")] if sc["l3fwd"] else []
            todo += list(sc["apps"])
            k = (rnd - 1) % len(todo)
            for app in todo[k:] + todo[:k]:
                n += 1
                prefix = f"fwdperf-{os.getpid()}-{n}"
                log = os.path.join(logs, f"r{rnd}-s{s}-{app}.log")
                metrics = None
                if app.startswith("vnetd"):
                    cmd, metrics = vnetd_cmd(args, sc["apps"][app], prefix, mem)
                    ports = scenario_ports(s, meta)
                else:
                    pcap = os.path.join(args.work, sc["pcap"])
                    cmd = l3fwd_cmd(args, pcap, app.split("-")[1], prefix, mem)
                    ports = ([0], [1])
                try:
                    r = measure(app, cmd, prefix, args, log, ports, metrics)
                except Failed as e:
                    print(f"bench: round {rnd} scenario {s} {app}: FAILED: {e}", file=sys.stderr)
                    continue
                finally:
                    quiet_log(log)
                r.update(round=rnd, scenario=s)
                results.append(r)
                print(f"bench: round {rnd} scenario {s} {app:9s} {r['mpps']:6.2f} Mpps "
                      f"(rx {r['rx_mpps']:.2f}, cpu {r['cpu_share']:.2f}, "
                      f"up {r['startup_s']:.0f}s)", file=sys.stderr)
    text = report(results, args, meta, mem_desc)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    if args.raw:
        with open(args.raw, "w") as f:
            json.dump({"meta": meta, "memory": mem_desc, "machine": machine(),
                       "date": datetime.datetime.now(datetime.timezone.utc).isoformat(),
                       "vnetd": args.vnetd_version, "window": args.window,
                       "warmup": args.warmup, "results": results}, f, indent=1)


def quiet_log(path):
    """l3fwd logs every route it adds (half a million lines): keep the rest."""
    try:
        with open(path, errors="replace") as f:
            kept = [line for line in f if ": Adding route " not in line]
        with open(path, "w") as f:
            f.writelines(kept)
    except OSError:
        pass


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Whole router with a 1,000-rule firewall: vnetd forwarding scenario 1 of
perf/fwd (one vnet, the full IPv4 table, 64-byte UDP frames from a pcap) without a
firewall and with a 1,000-rule ipfw set, measured by perf/fwd/bench.py in the same
rounds (its rows 1 and 2; row 2's title there says "100-rule": here it is this
script's 1,000-rule set). The figure is bench.py's "vnetd/scenario 1" ratio.

The rules are a realistic ACL drawn from the same routing table: prefix pairs,
tcp/udp/ip, service ports and port ranges, allow and deny. None matches the
benchmark's frames (their source, 198.51.100.2, is in no rule's source prefix; their
UDP destination port 9 is in no port range), so every frame walks the compiled set
in the "in" pass and again in the "out" pass and the default rule allows it: the
most a 1,000-rule set costs a frame.

    perf/firewall/router.py                  # 3 rounds -> perf/results/firewall-router.md
    perf/firewall/router.py --rules 100 --runs 5 --window 5

Needs root (hugepages) and the release vnetd (cargo build --release -p controlplane
--bin vnetd). Generates target/fw-router with perf/fwd/gen.py the first time.
Python 3 standard library only.
"""

import argparse
import ipaddress
import os
import random
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "../.."))
SRC4 = ipaddress.ip_address("198.51.100.2")   # perf/fwd/gen.py's frame source
SERVICES = [22, 25, 53, 80, 110, 123, 143, 443, 993, 3306, 5432, 8080]


def prefixes(routes_file):
    out = []
    with open(routes_file) as f:
        for line in f:
            net = line.split()[0]
            if ":" not in net:
                n = ipaddress.ip_network(net)
                if SRC4 not in n:
                    out.append(n)
    return out


def ports(rng):
    """A destination port pattern that never holds port 9 (the frames')."""
    k = rng.randrange(10)
    if k < 6:
        return f" {rng.choice(SERVICES)}"
    if k < 8:
        lo = 1024 + rng.randrange(30000)
        return f" {lo}-{lo + rng.randrange(5000)}"
    return f" {rng.choice(SERVICES)},{rng.choice(SERVICES)}"


def rules(nets, n, rng):
    out = []
    for i in range(n):
        proto = rng.choice(["tcp", "tcp", "tcp", "udp", "udp", "ip"])
        action = "deny" if rng.randrange(3) == 0 else "allow"
        src, dst = rng.choice(nets), rng.choice(nets)
        if proto == "ip":
            out.append(f"add {10 + i * 10} {action} ip from {src} to {dst}")
        else:
            sp = " 1024-65535" if rng.randrange(10) == 0 else ""
            out.append(f"add {10 + i * 10} {action} {proto} from {src}{sp} to {dst}{ports(rng)}")
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", default=os.path.join(REPO, "target/fw-router"))
    ap.add_argument("--rules", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--window", type=float, default=4.0)
    ap.add_argument("--warmup", type=float, default=2.0)
    ap.add_argument("--vnetd", default=os.path.join(REPO, "target/release/vnetd"))
    ap.add_argument("--out", default=os.path.join(REPO, "perf/results/firewall-router.md"))
    ap.add_argument("--only-configs", action="store_true", help="write the configs, measure nothing")
    args = ap.parse_args()

    work = os.path.abspath(args.work)
    s1 = os.path.join(work, "vnetd-s1.toml")
    if not os.path.exists(s1):
        subprocess.run([sys.executable, os.path.join(REPO, "perf/fwd/gen.py"), "--out", work,
                        "--vnets", "0"], check=True)
    rng = random.Random(args.seed)
    rs = rules(prefixes(os.path.join(work, "routes.txt")), args.rules, rng)
    with open(s1) as f:
        base = f.read()
    body = "\n".join("  " + r for r in rs)
    with open(os.path.join(work, "vnetd-s2.toml"), "w") as f:
        f.write(base.replace("scenario 1, one vnet, full tables.",
                             f"scenario 1 + a {args.rules}-rule firewall (perf/firewall/router.py)."))
        f.write(f'\n  [vnet.firewall]\n  default = "allow"\n  rules = """\n{body}\n  """\n')
    print(f"router.py: {len(rs)} rules in {work}/vnetd-s2.toml", file=sys.stderr)
    if args.only_configs:
        return
    # bench.py wants an l3fwd path even when it runs only vnetd.
    l3fwd = shutil.which("true")
    tmp = args.out + ".tmp"
    subprocess.run([sys.executable, os.path.join(REPO, "perf/fwd/bench.py"), "--work", work,
                    "--l3fwd", l3fwd, "--vnetd", args.vnetd, "--apps", "vnetd",
                    "--scenarios", "1,2", "--runs", str(args.runs), "--window", str(args.window),
                    "--warmup", str(args.warmup), "--out", tmp], check=True)
    with open(tmp) as f:
        report = f.read()
    os.remove(tmp)
    report = report.replace("2: 1 + 100-rule stateless firewall in and out",
                            f"2: 1 + {args.rules}-rule firewall (router.py) in and out")
    report = report.replace("# vnetd vs DPDK l3fwd: forwarding", "## perf/fwd/bench.py's report")
    report = "\n".join(line for line in report.split("\n") if "| not run |" not in line)
    head = (f"# Whole router with a {args.rules}-rule firewall\n\n"
            f"`perf/firewall/router.py --rules {args.rules} --runs {args.runs} --window {args.window}`"
            f": perf/fwd/bench.py's scenario 1 (no firewall) and its row 2 replaced by "
            f"{args.rules} rules that no frame matches (every frame walks the set in and out; "
            f"the default allows). The goal: row 2 / row 1 (\"vnetd/scenario 1\") ≥ 0.80.\n\n")
    with open(args.out, "w") as f:
        f.write(head + report)
    print(head + report)


if __name__ == "__main__":
    main()

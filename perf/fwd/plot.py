#!/usr/bin/env python3
"""PNG plots of a perf/fwd/bench.py run (its --raw JSON), with matplotlib.

  plot.py RAW.json OUTDIR     # -> OUTDIR/fwd.png, OUTDIR/fwd-workers.png

fwd.png: median Mpps per scenario and program, with every round as a dot (the spread
of a shared machine is part of the result). fwd-workers.png: 1 vs 2 workers.
perf/fwd/run.sh installs matplotlib into target/ when the system has none; CI never
runs this.
"""

import json
import os
import statistics
import sys

import matplotlib

matplotlib.use("Agg")  # no display: render straight to PNG
import matplotlib.pyplot as plt  # noqa: E402

TITLES = {"1": "1: 1 vnet\nfull IPv4 table", "2": "2: 1 + firewall\n100 rules",
          "3": "3: 2 + keep-state", "4": "4: {vnets} vnets\n100 routes each",
          "5": "5: 1 + a pipe\nunlimited bw", "6": "6: IPv6\nfull table"}
COLORS = {"l3fwd-lpm": "#9aa5b1", "l3fwd-fib": "#52606d", "vnetd": "#d9480f",
          "vnetd-1w": "#f08c00", "vnetd-2w": "#d9480f"}


def rates(results, scenario, app):
    return [r["mpps"] for r in results if r["scenario"] == scenario and r["app"] == app]


def bars(ax, groups, apps, results):
    width = 0.8 / len(apps)
    for j, app in enumerate(apps):
        for i, (scenario, _) in enumerate(groups):
            xs = rates(results, scenario, app)
            if not xs:
                continue
            x = i + (j - (len(apps) - 1) / 2) * width
            ax.bar(x, statistics.median(xs), width * 0.9, color=COLORS[app],
                   label=app if i == next(k for k, (s, _) in enumerate(groups)
                                          if rates(results, s, app)) else None)
            ax.plot([x] * len(xs), xs, "k.", markersize=3)
            ax.annotate(f"{statistics.median(xs):.1f}", (x, statistics.median(xs)),
                        ha="center", va="bottom", fontsize=8)
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels([t for _, t in groups])
    ax.set_ylabel("Mpps (64-byte frames)")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="upper right", fontsize=8)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    with open(sys.argv[1]) as f:
        raw = json.load(f)
    out = sys.argv[2]
    os.makedirs(out, exist_ok=True)
    results, meta = raw["results"], raw["meta"]
    stamp = f"{raw.get('date', '')[:16]} UTC · {raw.get('machine', '')}"

    groups = [(s, TITLES[s].format(vnets=meta.get("vnets", "?")))
              for s in ("1", "2", "3", "4", "5", "6") if any(r["scenario"] == s for r in results)]
    if groups:
        fig, ax = plt.subplots(figsize=(10, 4.5), dpi=110)
        bars(ax, groups, ["l3fwd-lpm", "l3fwd-fib", "vnetd"], results)
        ax.set_title("Forwarding on one core: vnetd vs DPDK l3fwd (median, dots = rounds)",
                     fontsize=10)
        fig.text(0.01, 0.01, stamp, fontsize=7, color="#555")
        fig.tight_layout(rect=(0, 0.03, 1, 1))
        fig.savefig(os.path.join(out, "fwd.png"))
        plt.close(fig)
    if any(r["scenario"] == "w" for r in results):
        fig, ax = plt.subplots(figsize=(5, 4), dpi=110)
        bars(ax, [("w", "scenario 1 on 2 RX queues")], ["vnetd-1w", "vnetd-2w"], results)
        ax.set_title("vnetd: 1 vs 2 workers", fontsize=10)
        fig.text(0.01, 0.01, stamp, fontsize=6, color="#555")
        fig.tight_layout(rect=(0, 0.03, 1, 1))
        fig.savefig(os.path.join(out, "fwd-workers.png"))
        plt.close(fig)


if __name__ == "__main__":
    main()

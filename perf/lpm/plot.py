#!/usr/bin/env python3
"""Draws perf/results/lpm.png from lpm.csv (written by lpm_bench): per family, the
lookup rate (random keys, batches of 32) against table size for each structure, and
memory per prefix against table size. matplotlib only; run.sh installs it when missing.

usage: plot.py RESULTS_DIR
"""

import csv
import os
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main():
    results = sys.argv[1]
    rows = list(csv.DictReader(open(os.path.join(results, "lpm.csv"))))
    families = sorted({r["family"] for r in rows})
    fig, axes = plt.subplots(len(families), 2, figsize=(13, 5 * len(families)), squeeze=False)
    for i, fam in enumerate(families):
        series = defaultdict(list)
        for r in rows:
            if r["family"] == fam:
                series[r["structure"]].append(
                    (int(r["prefixes"]), float(r["random_mlookups"]), float(r["bytes_per_prefix"]))
                )
        for name, pts in sorted(series.items(), key=lambda kv: kv[0] != "vnetd lpm"):
            pts.sort()
            xs = [p[0] for p in pts]
            style = dict(marker="o", linewidth=2.5 if name == "vnetd lpm" else 1.2)
            axes[i][0].plot(xs, [p[1] for p in pts], label=name, **style)
            axes[i][1].plot(xs, [p[2] for p in pts], label=name, **style)
        ax = axes[i][0]
        ax.set_xscale("log")
        ax.set_xlabel("prefixes in the table")
        ax.set_ylabel("million lookups/s (random keys, batch 32, one core)")
        ax.set_title(f"{fam}: lookup rate vs table size")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
        ax = axes[i][1]
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("prefixes in the table")
        ax.set_ylabel("bytes per prefix (log)")
        ax.set_title(f"{fam}: memory per prefix")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    out = os.path.join(results, "lpm.png")
    fig.savefig(out, dpi=90)
    print(f"plot.py: {out}", file=sys.stderr)


if __name__ == "__main__":
    main()

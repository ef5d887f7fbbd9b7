#!/usr/bin/env python3
"""Tables and figure of scripts/vote_experiments.sh's runs (docs/byzantine_vote.md).

  /usr/bin/python3 scripts/plot_vote_experiments.py BYZANTINE_DIR HETERO_DIR OUT.png

Per configuration: the val loss (8 batches of the Tiny Shakespeare val split) at every
evaluated step, mean over the seeds found, +- the half-width of the 95% Student t interval
(n - 1 degrees of freedom; n = 3 seeds: 4.30 x sd / sqrt(3)). Prints two Markdown tables (the
last step, and the gap to the reference f0 / equal) and writes a two-panel PNG of the val
loss against the step, the interval shaded.
"""
import json
import math
import os
import re
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571}


def val_curves(path):
    out = {}
    for line in open(path):
        r = json.loads(line)
        if r.get("type") == "val":
            out[r["step"]] = r["loss"]
    return out


def load(directory):
    runs = {}
    for name in sorted(os.listdir(directory)):
        m = re.fullmatch(r"(.+)_s(\d+)", name)
        metrics = os.path.join(directory, name, "metrics.jsonl")
        if m and os.path.isfile(metrics):
            runs.setdefault(m.group(1), {})[int(m.group(2))] = val_curves(metrics)
    return runs


def summary(curves):
    """steps, mean, half-width over the seeds (only steps every seed has)."""
    steps = sorted(set.intersection(*(set(c) for c in curves.values())))
    vals = np.array([[c[s] for s in steps] for c in curves.values()])
    n = vals.shape[0]
    mean = vals.mean(axis=0)
    half = T95.get(n - 1, 1.96) * vals.std(axis=0, ddof=1) / math.sqrt(n) if n > 1 else np.zeros_like(mean)
    return steps, mean, half, n


def table(runs, order, reference, title):
    print(f"\n{title}\n")
    print("| run | seeds | val loss at the last step (mean +- 95% CI) | minus the reference (paired by seed) |")
    print("|---|---|---|---|")
    ref = runs.get(reference, {})
    for name in order:
        if name not in runs:
            continue
        steps, mean, half, n = summary(runs[name])
        last = steps[-1]
        diffs = [runs[name][s][last] - ref[s][last] for s in runs[name] if s in ref and last in ref[s]]
        if name == reference or len(diffs) < 2:
            d = "-"
        else:
            d_arr = np.array(diffs)
            d = f"{d_arr.mean():+.3f} +- {T95.get(len(d_arr) - 1, 1.96) * d_arr.std(ddof=1) / math.sqrt(len(d_arr)):.3f}"
        print(f"| {name} | {n} | {mean[-1]:.3f} +- {half[-1]:.3f} (step {last}) | {d} |")


def panel(ax, runs, order, title):
    for name in order:
        if name not in runs:
            continue
        steps, mean, half, n = summary(runs[name])
        line, = ax.plot(steps, mean, marker="o", ms=3, label=f"{name} (n={n})")
        ax.fill_between(steps, mean - half, mean + half, color=line.get_color(), alpha=0.15)
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("step")
    ax.set_ylabel("val loss")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)


def main():
    if len(sys.argv) != 4:
        print(__doc__)
        sys.exit(2)
    byz, het = load(sys.argv[1]), load(sys.argv[2])
    byz_order = ["f0", "f1_blind", "f1_omniscient", "f2_blind", "f2_omniscient"]
    het_order = ["equal", "equal_noise", "unequal", "unequal_noise"]
    table(byz, byz_order, "f0", "Byzantine ranks (5 ranks, signsgd vote)")
    table(het, het_order, "equal", "Equal and unequal data, with and without --vote-noise (5 ranks)")
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), dpi=90)
    panel(axes[0], byz, byz_order, "(a) f adversaries of 5, blind or omniscient")
    panel(axes[1], het, het_order, "(b) equal / first-token split data, vote noise")
    fig.tight_layout()
    fig.savefig(sys.argv[3])
    print(f"\nwrote {sys.argv[3]} ({os.path.getsize(sys.argv[3]) // 1024} KB)")


if __name__ == "__main__":
    main()

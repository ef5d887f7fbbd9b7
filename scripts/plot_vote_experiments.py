#!/usr/bin/env python3
"""Tables and figure of scripts/vote_experiments.sh's runs (docs/byzantine_vote.md).

  /usr/bin/python3 scripts/plot_vote_experiments.py BYZANTINE_DIR HETERO_DIR OUT.png
  /usr/bin/python3 scripts/plot_vote_experiments.py --agreement AGREEMENT_DIR OUT.png

Per configuration: the val loss (8 batches of the Tiny Shakespeare val split) at every
evaluated step, mean over the seeds found, +- the half-width of the 95% Student t interval
(n - 1 degrees of freedom; n = 3 seeds: 4.30 x sd / sqrt(3)). Prints two Markdown tables (the
last step, and the gap to the reference f0 / equal) and writes a two-panel PNG of the val
loss against the step, the interval shaded. --agreement (scripts/vote_experiments.sh agreement:
equal_c<C> / unequal_c<C> runs with --vote-agreement 1): a table of the agreement of the vote and
of its expected tally with sign(mean of the ranks' values), averaged over the train records from
step AGREE_SKIP on, and of the final val loss, per C; a two-panel PNG of both against C.
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
AGREE_SKIP = 10  # the first steps, from the random init, left out of the agreement averages


def val_curves(path):
    out = {}
    for line in open(path):
        r = json.loads(line)
        if r.get("type") == "val":
            out[r["step"]] = r["loss"]
    return out


def agreement_means(path):
    """Per --vote-agreement field: its mean over the train records after step AGREE_SKIP."""
    rows = [json.loads(line) for line in open(path)]
    rows = [r for r in rows if r.get("type") == "train" and r["step"] >= AGREE_SKIP and "vote_mean_agree_w" in r]
    keys = ("vote_mean_agree", "vote_mean_agree_w", "vote_expected_mean_agree", "vote_expected_mean_agree_w")
    return {k: float(np.mean([r[k] for r in rows])) for k in keys} if rows else {}


def load(directory, read=val_curves):
    runs = {}
    for name in sorted(os.listdir(directory)):
        m = re.fullmatch(r"(.+)_s(\d+)", name)
        metrics = os.path.join(directory, name, "metrics.jsonl")
        if m and os.path.isfile(metrics):
            runs.setdefault(m.group(1), {})[int(m.group(2))] = read(metrics)
    return runs


def ci(values):
    """mean, 95% t half-width of a list (half-width 0 for one value)."""
    a = np.array(values, dtype=float)
    half = T95.get(len(a) - 1, 1.96) * a.std(ddof=1) / math.sqrt(len(a)) if len(a) > 1 else 0.0
    return a.mean(), half


def agreement_study(directory):
    """Table of the agreement runs; returns (grid, per-kind arrays) for the panels."""
    curves, agree = load(directory), load(directory, agreement_means)
    final = max(max(c) for r in curves.values() for c in r.values() if c)
    for n in curves:  # a run still going (no val record at the last step) is left out
        curves[n] = {s: c for s, c in curves[n].items() if final in c}
    curves = {n: r for n, r in curves.items() if r}
    grid = sorted({float(re.fullmatch(r"(?:un)?equal_c(.+)", n).group(1)) for n in curves if re.fullmatch(r"(?:un)?equal_c.+", n)})
    name = lambda kind, c: f"{kind}_c{c:g}"  # noqa: E731
    print("\nThe vote against sign(mean of the ranks' values) (3 ranks; |mean|-weighted agreement, mean over steps "
          f"{AGREE_SKIP}-{final - 1}; val loss at the last step; 95% t over seeds)\n")
    print("| data | C | seeds | vote agrees (weighted) | expected tally agrees (weighted) | vote agrees (unweighted) | val loss | minus C = 0, same data (paired) | split minus equal, same C (paired) |")
    print("|---|---|---|---|---|---|---|---|---|")
    out = {}
    for kind in ("equal", "unequal"):
        for c in grid:
            n = name(kind, c)
            if n not in curves:
                continue
            seeds = sorted(curves[n])
            last = final
            loss = [curves[n][s][last] for s in seeds]
            def paired(other):
                d = [curves[n][s][last] - curves[other][s][last] for s in seeds if other in curves and s in curves[other]]
                return "-" if len(d) < 2 or other == n else "%+.3f +- %.3f" % ci(d)
            a = [ci([agree[n][s][k] for s in seeds]) for k in ("vote_mean_agree_w", "vote_expected_mean_agree_w", "vote_mean_agree")]
            out[(kind, c)] = a + [ci(loss)]
            print(f"| {kind} | {c:g} | {len(seeds)} | " + " | ".join("%.3f +- %.3f" % x for x in a) +
                  " | %.3f +- %.3f | " % ci(loss) + paired(name(kind, 0)) + " | " + (paired(name("equal", c)) if kind == "unequal" else "-") + " |")
    return grid, out


def agreement_panels(ax_agree, ax_loss, grid, out):
    x = [max(c, 1e-3) for c in grid]  # C = 0 drawn at 1e-3 on the log axis
    for kind, style in (("equal", "-"), ("unequal", "--")):
        cs = [c for c in grid if (kind, c) in out]
        xs = [max(c, 1e-3) for c in cs]
        for idx, label, color in ((0, "vote", "C0"), (1, "expected tally", "C1")):
            m = np.array([out[(kind, c)][idx][0] for c in cs]); h = np.array([out[(kind, c)][idx][1] for c in cs])
            ax_agree.errorbar(xs, m, yerr=h, ls=style, color=color, marker="o", ms=3, capsize=2, label=f"{label}, {kind} data")
        m = np.array([out[(kind, c)][3][0] for c in cs]); h = np.array([out[(kind, c)][3][1] for c in cs])
        ax_loss.errorbar(xs, m, yerr=h, ls=style, color="C2", marker="o", ms=3, capsize=2, label=f"{kind} data")
    for ax, title, ylabel in ((ax_agree, "(a) agreement with sign(mean of the ranks' values), |mean|-weighted", "weighted agreement"),
                              (ax_loss, "(b) val loss at the last step", "val loss")):
        ax.set_xscale("log")
        ax.set_xticks(x)
        ax.set_xticklabels([("0" if c == 0 else f"{c:g}") for c in grid])
        ax.set_xlabel("--vote-noise C")
        ax.set_ylabel(ylabel)
        ax.set_title(title, fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)


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
    if sys.argv[1] == "--agreement":
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), dpi=90)
        agreement_panels(axes[0], axes[1], *agreement_study(sys.argv[2]))
        fig.tight_layout()
        fig.savefig(sys.argv[3])
        print(f"\nwrote {sys.argv[3]} ({os.path.getsize(sys.argv[3]) // 1024} KB)")
        return
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

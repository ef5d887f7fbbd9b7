"""The figure of `make toy`: four panels from the CSV files of build/toy/toy_experiments.

usage: plot_toy.py CSV_DIR OUT.png
"""
import csv
import math
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def read(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: plot_toy.py CSV_DIR OUT.png")
    src, out = sys.argv[1], sys.argv[2]
    fig, ax = plt.subplots(2, 2, figsize=(12, 8.5))

    # (a) deter: each rule at its best lr
    rows = read(f"{src}/deter_curves.csv")
    grid = read(f"{src}/deter_grid.csv")
    best_lr = {r["rule"]: r["lr"] for r in grid if r["selected"] == "1"}
    steps = [int(r["step"]) for r in rows]
    a = ax[0, 0]
    for rule in [k for k in rows[0] if k != "step"]:
        a.plot(steps, [float(r[rule]) for r in rows], label=f"{rule} (lr {best_lr.get(rule, 'none')})", lw=1.5)
    a.set_yscale("log")
    a.set_xlabel("iteration")
    a.set_ylabel("loss")
    a.set_title("deter: L_0=1000, other L_i=1, exact gradients, best lr each")
    a.legend(fontsize=8)
    a.grid(True, ls="--", alpha=0.5)

    # (b) sto: mean and 10-90% band over seeds
    rows = read(f"{src}/sto_curves.csv")
    steps = [int(r["step"]) for r in rows]
    a = ax[0, 1]
    for rule, lr, color in [("sgd", "1e-3", "tab:blue"), ("signsgd", "1e-2", "tab:green")]:
        a.plot(steps, [float(r[f"{rule}_mean"]) for r in rows], color=color, label=f"{rule} (lr {lr}): mean")
        a.fill_between(steps, [float(r[f"{rule}_p10"]) for r in rows], [float(r[f"{rule}_p90"]) for r in rows],
                       color=color, alpha=0.3, label=f"{rule}: 10-90% of seeds")
    a.set_ylim(-2, 60)
    a.set_xlabel("iteration")
    a.set_ylabel("loss")
    a.set_title("sto: d=100, noise N(0, 100^2) on coordinate 0 only")
    a.legend(fontsize=8)
    a.grid(True, ls="--", alpha=0.5)

    # (c) scaling: SGD iterations / SignSGD iterations to ||grad f||_1 <= eps, each at its best lr
    rows = read(f"{src}/scaling.csv")
    best = {(r["problem"], int(r["d"]), int(r["k"]), r["rule"]): (None, int(r["iters_to_eps"]))
            for r in rows if r["selected"] == "1"}
    steps_max = int(rows[0]["steps"])
    a = ax[1, 0]
    for problem, ls in [("stiff", "-"), ("flat", "--")]:
        for label, pick, color in [("k=1", lambda d: 1, "tab:red"), ("k~sqrt(d)", lambda d: round(math.sqrt(d)), "tab:orange"),
                                   ("k=d", lambda d: d, "tab:purple")]:
            ds = sorted({int(r["d"]) for r in rows if r["problem"] == problem})
            xs, ys, lower = [], [], []
            for d in ds:
                sgd = best.get((problem, d, pick(d), "sgd"))
                sign = best.get((problem, d, pick(d), "signsgd"))
                if sgd is None or sign is None or sign[1] < 0:
                    continue
                n_sign = max(1, sign[1])
                xs.append(d)
                ys.append((sgd[1] if sgd[1] >= 0 else steps_max) / n_sign)
                lower.append(sgd[1] < 0)
            a.plot(xs, ys, ls=ls, color=color, marker="o", label=f"{problem}, {label}")
            a.plot([x for x, lo in zip(xs, lower) if lo], [y for y, lo in zip(ys, lower) if lo], ls="none", marker="^",
                   ms=11, mfc="none", color=color)
    a.axhline(1, color="gray", lw=0.8)
    a.set_xscale("log")
    a.set_yscale("log")
    a.set_xlabel("dimension d")
    a.set_ylabel("SGD iters / SignSGD iters to eps")
    a.set_title("noise on k coords, ||sigma||_2^2 = d (triangle: SGD did not reach eps)", fontsize=10)
    a.legend(fontsize=7, ncol=2)
    a.grid(True, ls="--", alpha=0.5)

    # (d) heavy: median final loss at each rule's best lr, per alpha
    rows = read(f"{src}/heavy_grid.csv")
    alphas = sorted({float(r["alpha"]) for r in rows}, reverse=True)
    rules = list(dict.fromkeys(r["rule"] for r in rows))
    a = ax[1, 1]
    width = 0.8 / len(rules)
    for j, rule in enumerate(rules):
        vals = []
        for al in alphas:
            vals += [float(r["final_median"]) for r in rows
                     if float(r["alpha"]) == al and r["rule"] == rule and r["selected"] == "1"] or [math.nan]
        a.bar([i + (j - (len(rules) - 1) / 2) * width for i in range(len(alphas))], vals, width, label=rule)
    a.set_xticks(range(len(alphas)))
    a.set_xticklabels([f"alpha={al:g}" for al in alphas])
    a.set_yscale("log")
    a.set_ylabel("final loss, median over seeds (best lr)")
    a.set_title("symmetric alpha-stable noise, d=100")
    a.legend(fontsize=8)
    a.grid(True, axis="y", ls="--", alpha=0.5)

    fig.tight_layout()
    fig.savefig(out, dpi=80)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

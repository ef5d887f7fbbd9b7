#!/usr/bin/env python3
"""Statistics over seeds for optimizer sweeps: the one implementation that scripts/plot_runs.py
(and through it scripts/compare_optimizers.sh and scripts/reproduce_signsgd_paper.sh) uses.

    scripts/run_stats.py RUN_DIR... [--baseline sgd] [--target LOSS]

A "point" is one optimizer configuration (rule, per-group rules, lr and the other hyper-
parameters); its runs differ only in --seed / --data-seed. Per optimizer the best point is the one
with the lowest mean final val loss; the summary gives its mean and 95% Student-t interval of the
final val loss and of the steps to the target loss, the paired difference of each optimizer's best
point to the baseline's (default sgd) over the seeds both ran, with a one-line verdict, the
number of grid points (trials) each optimizer had and where its best point lies in each key's
grid. Student t quantiles come from a table (no scipy needed; test/test_run_stats.py checks it).
"""
import math
import os
import re
import statistics
import sys

# t_{0.975, df}, two-sided 95%, df 1..30, then 40, 60, 120 (standard tables, 3 decimals).
T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228,
        11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131, 16: 2.120, 17: 2.110, 18: 2.101, 19: 2.093, 20: 2.086,
        21: 2.080, 22: 2.074, 23: 2.069, 24: 2.064, 25: 2.060, 26: 2.056, 27: 2.052, 28: 2.048, 29: 2.045, 30: 2.042,
        40: 2.021, 60: 2.000, 120: 1.980}
Z975 = 1.959964  # the normal limit, df -> infinity

# Hyperparameters that make a point (config-record flag names); seeds and paths do not.
POINT_KEYS = ["lr", "weight_decay", "momentum", "beta1", "beta2", "fallback_lr"]
# short names in directory names and the summary (compare_optimizers.sh writes these)
KEY_SHORT = {"lr": "lr", "weight_decay": "wd", "momentum": "mom", "beta1": "b1", "beta2": "b2"}


def t975(df):
    """The 0.975 quantile of Student's t with df degrees of freedom: the table, linear in 1/df
    between its rows above 30 (error below 1e-3), the normal value beyond 120."""
    if df < 1 or int(df) != df:
        raise ValueError(f"degrees of freedom must be a positive integer, got {df}")
    df = int(df)
    if df in T975:
        return T975[df]
    if df > 120:
        lo, hi, t_lo, t_hi = 120, math.inf, T975[120], Z975
    else:
        lo = max(k for k in T975 if k < df)
        hi = min(k for k in T975 if k > df)
        t_lo, t_hi = T975[lo], T975[hi]
    w = (1 / lo - 1 / df) / (1 / lo - (0 if hi == math.inf else 1 / hi))
    return t_lo + w * (t_hi - t_lo)


def mean_ci(values):
    """(mean, half-width of the 95% Student-t interval or None for one value, n)."""
    values = list(values)
    n = len(values)
    if n == 0:
        return None, None, 0
    m = statistics.mean(values)
    if n == 1:
        return m, None, 1
    return m, t975(n - 1) * statistics.stdev(values) / math.sqrt(n), n


def fmt_ci(m, half, digits=4):
    if m is None:
        return "-"
    return f"{m:.{digits}f}" + ("" if half is None else f" +- {half:.{digits}f}")


def paired_difference(a_by_seed, b_by_seed):
    """Mean and 95% interval of a - b over the seeds both have; also those seeds."""
    seeds = sorted(set(a_by_seed) & set(b_by_seed))
    m, half, n = mean_ci(a_by_seed[s] - b_by_seed[s] for s in seeds)
    return m, half, n, seeds


def verdict(name_a, name_b, m, half, n, unit="nats"):
    """'a - b = -0.21 +- 0.05 nats, 3 seeds: a lower' (or 'no difference detected', or too few seeds)."""
    if n == 0:
        return f"{name_a} - {name_b}: no common seeds"
    if half is None:
        return f"{name_a} - {name_b} = {m:+.4f} {unit}, 1 seed: no interval (run --seeds 2 or more)"
    text = f"{name_a} - {name_b} = {m:+.4f} +- {half:.4f} {unit}, {n} seeds: "
    if m + half < 0:
        return text + f"{name_a} lower"
    if m - half > 0:
        return text + f"{name_a} higher"
    return text + "no difference detected"


def seed_of(run):
    """(init seed, data seed) of a run: its config record, else its directory name's _s<S>[_d<D>]."""
    if run.seed is not None:
        return (run.seed, run.data_seed if run.data_seed is not None else run.seed)
    m = re.search(r"_s(\d+)(?:_d(\d+))?$", os.path.basename(os.path.normpath(run.path)))
    if m:
        return (int(m.group(1)), int(m.group(2) or m.group(1)))
    return None


# config-record flags that do not change what a run trains: seeds of one point may differ in them
# (the reproduction measures phi on its first seed only; a run may checkpoint, sample, or be resumed)
NOT_POINT_FLAGS = {"seed", "data_seed", "output_dir", "resume", "keep", "overwrite", "checkpoint_every", "sample_every",
                   "gen_tokens", "noise_every", "noise_batches", "noise_windows", "tail_index_every", "tail_index_samples",
                   "tail_index_tensor", "profile_kernels", "hellaswag", "hellaswag_path", "tokenizer"}


def point_key(run):
    """What makes two runs the same point: the optimizer name (with its groups), its hyperparameters and
    every other training flag of its config record. A run whose seed is unknown (no config seed, no
    _s<seed> in its name) is a point of its own: it cannot be told from another setting's run."""
    if seed_of(run) is None:
        return ("path", os.path.normpath(run.path))
    flags = tuple(sorted((k, str(v)) for k, v in (run.flags or {}).items() if k not in NOT_POINT_FLAGS))
    return (run.optim,) + tuple((k, run.hyper.get(k)) for k in POINT_KEYS) + flags


class Point:
    def __init__(self, runs):
        self.runs = runs
        self.optim = runs[0].optim
        self.hyper = dict(runs[0].hyper)
        self.lr = runs[0].lr

    def finals(self):
        """{seed: final val loss} of the runs that have one."""
        return {seed_of(r): r.val[-1][1] for r in self.runs if r.val}

    def mean_final(self):
        f = self.finals()
        if len(f) < len(self.runs) or not f or not all(math.isfinite(v) for v in f.values()):
            return math.inf  # a run without a val loss (or a diverged one) makes the point unusable
        return statistics.mean(f.values())

    def label(self, keys=("lr",)):
        """'lr=0.003' and the other given keys' values."""
        return " ".join(f"{KEY_SHORT.get(k, k)}={self.hyper[k]:g}" for k in keys if self.hyper.get(k) is not None)


def group_points(runs):
    """Runs grouped into points, in the order first seen; two runs of one point with the same seed
    are both kept (the later one labels itself by directory)."""
    points, index = [], {}
    for r in runs:
        k = point_key(r)
        if k not in index:
            index[k] = len(points)
            points.append([])
        points[index[k]].append(r)
    return [Point(rs) for rs in points]


def best_points(points):
    """{optim: its point with the lowest mean final val loss} (ties: the first)."""
    best = {}
    for p in points:
        if p.optim not in best or p.mean_final() < best[p.optim].mean_final():
            best[p.optim] = p
    return best


def varying_keys(points, optim):
    """lr, and the other keys whose value differs among this optimizer's points."""
    mine = [p for p in points if p.optim == optim]
    return ["lr"] + [k for k in POINT_KEYS[1:] if len({p.hyper.get(k) for p in mine}) > 1]


def grid_position(points, best):
    """Per key that varies among this optimizer's points: 'lr 3e-3: 2nd of 3 (inside)' phrases."""
    mine = [p for p in points if p.optim == best.optim]
    phrases = []
    for k in POINT_KEYS:
        values = sorted({p.hyper.get(k) for p in mine if p.hyper.get(k) is not None})
        if len(values) < 2 or best.hyper.get(k) is None:
            continue
        i = values.index(best.hyper[k])
        where = "low edge" if i == 0 else "high edge" if i == len(values) - 1 else "inside"
        phrases.append(f"{KEY_SHORT.get(k, k)} {best.hyper[k]:g}: {i + 1} of {len(values)} ({where})")
    return "; ".join(phrases) or "one value per key"


def trials_lines(runs, order=None):
    """One line per optimizer with 2+ grid points: its trials and where its best point lies."""
    points = group_points(runs)
    best = best_points(points)
    lines = []
    for o in sorted(best, key=order or (lambda x: x)):
        trials = sum(q.optim == o for q in points)
        if trials > 1:
            lines.append(f"- {o}: {trials} trials (grid points), best {best[o].label(varying_keys(points, o))}; "
                         f"{grid_position(points, best[o])}")
    return lines


def steps_to_target(run, target):
    for step, loss, _ in run.val:
        if loss <= target:
            return step
    return None


def seed_summary(runs, target, baseline="sgd", order=None):
    """The Markdown statistics section (a string) and the verdict lines (a list)."""
    points = group_points(runs)
    best = best_points(points)
    names = sorted(best, key=order or (lambda o: o))
    lines = ["| optimizer | best point | trials (grid points) | seeds | final val loss (mean +- 95% CI) | "
             f"steps to val loss <= {target:.4f} (mean +- 95% CI) | reached | best point in its grid |",
             "|---|---|---|---|---|---|---|---|"]
    for o in names:
        p = best[o]
        finals = list(p.finals().values())
        reach = [steps_to_target(r, target) for r in p.runs]
        hit = [s for s in reach if s is not None]
        trials = sum(q.optim == o for q in points)
        lines.append(f"| {o} | {p.label(varying_keys(points, o))} | {trials} | {len(p.runs)} | {fmt_ci(*mean_ci(finals)[:2])} | "
                     f"{fmt_ci(*mean_ci(hit)[:2], digits=1) if hit else 'not reached'} | {len(hit)} of {len(reach)} | "
                     f"{grid_position(points, p)} |")
    verdicts = []
    if baseline in best:
        base = best[baseline].finals()
        for o in names:
            if o == baseline:
                continue
            m, half, n, _ = paired_difference(best[o].finals(), base)
            verdicts.append(verdict(o, baseline, m, half, n))
    # a per-group variant ('signsgd+wte=sgd:0.1') against its base rule too: what the group's rule changes
    for o in names:
        root = o.split("+")[0]
        if "+" in o and root in best and root != baseline:
            m, half, n, _ = paired_difference(best[o].finals(), best[root].finals())
            verdicts.append(verdict(o, root, m, half, n))
    text = "\n".join(lines)
    if verdicts:
        text += (f"\n\nPaired differences of the final val loss to {baseline} (each at its best point, over the seeds "
                 "both ran; 95% Student-t interval of the per-seed differences):\n\n" + "\n".join(f"- {v}" for v in verdicts))
    elif len(names) > 1:
        text += f"\n\n(no {baseline} runs: no paired differences)"
    return text, verdicts


def main():
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import plot_runs
    from cli_errors import OneLineParser
    parser = OneLineParser(prog="run_stats.py", prog_first=True, description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="*")
    parser.add_argument("--baseline", default="sgd", help="the optimizer the paired differences are to (default sgd)")
    parser.add_argument("--target", type=float, help="val loss to reach (default: the median final val loss)")
    args = parser.parse_args()
    if not args.runs:
        plot_runs.fail("no run directories given")
    try:
        runs = [plot_runs.load_run(p) for p in args.runs]
    except (plot_runs.InputError, OSError) as e:
        plot_runs.fail(str(e))
    with_val = [r for r in runs if r.val]
    if not with_val:
        plot_runs.fail("no run has a val loss")
    target = args.target if args.target is not None else statistics.median(r.val[-1][1] for r in with_val)
    text, _ = seed_summary(runs, target, args.baseline, plot_runs.optimizer_rank)
    print(text)


if __name__ == "__main__":
    main()

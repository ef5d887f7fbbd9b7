#!/usr/bin/env python3
"""Draws training runs of train_gpt2cpu / train_gpt2cu into one picture and a summary table.

    scripts/plot_runs.py RUN_DIR... -o compare.png [--summary summary.md] [--target LOSS]

Each run directory holds main.log (llm.c lines and step numbers: `s:STEP trl:LOSS [lr:..
norm:.. tps:..]` for the update at STEP (the first is s:0), `s:STEP tel:VAL` and
`s:STEP eval:ACC` (HellaSwag) after STEP updates, `s:STEP phi:..`, `s:STEP skip:1`) and,
when the trainer wrote it, metrics.jsonl (a "config" record first, then "train", "val",
"eval" and "noise" records, same step numbers), which is preferred where it has the data.
llm.c's own main.log reads the same way. The optimizer and learning rate come from the config record,
else from the directory name <optim>_lr<lr>.

The picture: train loss (smoothed) and val loss against step and, when tokens per step are
known, against tokens; the phi noise measure when recorded. One color per optimizer; each
optimizer's best learning rate (lowest final val loss, else lowest final smoothed train loss)
is drawn bold, the others faint. The table (printed, and written with --summary): optimizer,
lr, final losses, steps and tokens until the loss first reaches --target, tokens/s.
"""
import argparse
import json
import math
import os
import re
import statistics
import sys

PROG = "plot_runs.py"
OPTIMIZER_ORDER = ["sgd", "signsgd", "signum", "muon", "adamw", "lion"]
# tab10 colors, fixed per optimizer so pictures of different sweeps read the same way.
OPTIMIZER_COLORS = {"sgd": "#1f77b4", "signsgd": "#d62728", "signum": "#ff7f0e",
                    "muon": "#9467bd", "adamw": "#2ca02c", "lion": "#8c564b"}
EXTRA_COLORS = ["#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]


class InputError(Exception):
    pass


def fail(message):
    print(f"{PROG}: error: {message}", file=sys.stderr)
    sys.exit(2)


class Run:
    def __init__(self, path):
        self.path = path
        self.optim = None
        self.lr = None
        self.tokens_per_step = None
        self.device = None
        self.train = []  # (step, loss, tokens or None)
        self.val = []    # (step, loss, tokens or None)
        self.phi = []    # (step, phi)
        self.eval = []   # (step, HellaSwag accuracy)
        self.tokens_per_s = []
        self.skipped_steps = 0

    @property
    def label(self):
        return f"{self.optim} lr={self.lr:g}" if self.lr is not None else self.optim

    def tokens_at(self, step, recorded):
        """Tokens seen after `step` updates (a train record at step s: pass s + 1)."""
        if recorded is not None:
            return recorded
        return step * self.tokens_per_step if self.tokens_per_step else None

    @property
    def has_tokens(self):
        return all(t is not None for _, _, t in self.train + self.val) and bool(self.train or self.val)


def parse_main_log(path, run):
    """Fills run from llm.c-style main.log lines (run.eval too); returns (train, val, phi) lists."""
    train, val, phi = [], [], []
    with open(path) as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            fields = line.split()
            m = re.fullmatch(r"s:(\d+)", fields[0])
            if not m:
                raise InputError(f"{path}:{number}: expected 's:STEP key:value ...', got '{line[:60]}'")
            step = int(m.group(1))
            values = {}
            for field in fields[1:]:
                key, sep, value = field.partition(":")
                if not sep:
                    raise InputError(f"{path}:{number}: expected key:value, got '{field}'")
                try:
                    values[key] = float(value)
                except ValueError:
                    raise InputError(f"{path}:{number}: '{field}' is not a number")
            if "trl" in values:
                train.append((step, values["trl"], None))
                if "tps" in values:
                    run.tokens_per_s.append(values["tps"])
            if "tel" in values:
                val.append((step, values["tel"], None))
            if "phi" in values:
                phi.append((step, values["phi"]))
            if "eval" in values:
                run.eval.append((step, values["eval"]))
            if values.get("skip", 0) != 0:
                run.skipped_steps += 1
    return train, val, phi


def parse_metrics(path, run):
    """Fills run from metrics.jsonl (run.eval too, when recorded); returns (train, val, phi, tokens_per_s) lists."""
    train, val, phi, tps, evals = [], [], [], [], []
    with open(path) as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                kind = record["type"]
                if kind == "config":
                    flags = record.get("flags", {})
                    if flags.get("optim"):
                        run.optim = str(flags["optim"])
                    if isinstance(flags.get("lr"), (int, float)) and flags["lr"] >= 0:
                        run.lr = float(flags["lr"])
                    if record.get("tokens_per_step"):
                        run.tokens_per_step = int(record["tokens_per_step"])
                    run.device = record.get("device")
                elif kind == "train":
                    train.append((int(record["step"]), float(record["loss"]), record.get("tokens")))
                    if record.get("tokens_per_s") is not None:
                        tps.append(float(record["tokens_per_s"]))
                elif kind == "val":
                    val.append((int(record["step"]), float(record["loss"]), record.get("tokens")))
                elif kind == "noise":
                    phi.append((int(record["step"]), float(record["phi"])))
                elif kind == "eval":
                    evals.append((int(record["step"]), float(record["accuracy"])))
            except (ValueError, KeyError, TypeError) as e:
                raise InputError(f"{path}:{number}: bad record ({type(e).__name__}: {e})")
    if evals:
        run.eval = evals
    return train, val, phi, tps


def load_run(path):
    run = Run(path)
    log_path = os.path.join(path, "main.log")
    metrics_path = os.path.join(path, "metrics.jsonl")
    if not os.path.isdir(path):
        raise InputError(f"'{path}' is not a directory")
    if not os.path.exists(log_path) and not os.path.exists(metrics_path):
        raise InputError(f"'{path}' has neither main.log nor metrics.jsonl")
    train, val, phi, tps = [], [], [], []
    if os.path.exists(log_path):
        train, val, phi = parse_main_log(log_path, run)
        tps = run.tokens_per_s
    if os.path.exists(metrics_path):
        m_train, m_val, m_phi, m_tps = parse_metrics(metrics_path, run)
        # metrics.jsonl carries tokens and more digits: it wins where it has the series.
        train, val, phi, tps = m_train or train, m_val or val, m_phi or phi, m_tps or tps
    if not train and not val:
        raise InputError(f"run '{path}' has no train or val loss lines")
    name = os.path.basename(os.path.normpath(path))
    m = re.fullmatch(r"([A-Za-z0-9]+)_lr([0-9.]+(?:[eE][-+]?[0-9]+)?)", name)
    if run.optim is None:
        run.optim = m.group(1) if m else name
    if run.lr is None and m:
        run.lr = float(m.group(2))
    run.train = sorted((s, l, run.tokens_at(s + 1, t)) for s, l, t in train)
    run.val = sorted((s, l, run.tokens_at(s, t)) for s, l, t in val)
    run.phi = sorted(phi)
    run.eval = sorted(dict(run.eval).items())  # a resumed llm.c log repeats steps: the last wins
    run.tokens_per_s = tps
    return run


def smooth(values, weight):
    """Bias-corrected exponential moving average (as TensorBoard's smoothing)."""
    out, avg = [], 0.0
    for i, v in enumerate(values):
        avg = weight * avg + (1 - weight) * v
        out.append(avg / (1 - weight ** (i + 1)) if weight > 0 else v)
    return out


def final_score(run, weight):
    """What 'best' means: the final val loss, else the final smoothed train loss."""
    if run.val:
        return run.val[-1][1]
    return smooth([l for _, l, _ in run.train], weight)[-1]


def first_reaching(points, target):
    """(step, tokens) of the first point with loss <= target, else None."""
    for step, loss, tokens in points:
        if loss <= target:
            return step, tokens
    return None


def fmt(x, digits=4):
    return "-" if x is None else f"{x:.{digits}f}"


def fmt_count(x):
    if x is None:
        return "-"
    for unit, size in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if x >= size:
            return f"{x / size:.3g}{unit}"
    return str(int(x))


def summary_table(runs, best, target, target_on, weight):
    header = ["optimizer", "lr", "best lr", "final val loss", "final train loss (smoothed)",
              "steps", f"steps to {target_on} loss <= {target:.4f}", "tokens to target", "tokens/s"]
    rows = []
    for run in runs:
        smoothed = smooth([l for _, l, _ in run.train], weight)
        curve = run.val if target_on == "val" else [
            (s, l, t) for (s, _, t), l in zip(run.train, smoothed)]
        hit = first_reaching(curve, target)
        last_step = max([s for s, _, _ in run.train + run.val])
        tps = run.tokens_per_s[1:] or run.tokens_per_s  # the first step includes warm-up costs
        rows.append([run.optim, "-" if run.lr is None else f"{run.lr:g}", "yes" if run is best[run.optim] else "",
                     fmt(run.val[-1][1] if run.val else None), fmt(smoothed[-1] if smoothed else None),
                     str(last_step), "not reached" if hit is None else str(hit[0]),
                     "not reached" if hit is None else fmt_count(hit[1]),
                     fmt_count(statistics.mean(tps)) if tps else "-"])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def draw(runs, best, colors, weight, png_path, notes):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import EngFormatter

    with_tokens = [r for r in runs if r.has_tokens]
    panels = [("train", "step"), ("val", "step")]
    if with_tokens:
        panels += [("train", "tokens"), ("val", "tokens")]
    if any(r.phi for r in runs):
        panels.append(("phi", "step"))
    if any(r.eval for r in runs):
        panels.append(("eval", "step"))
    cols = 2
    rows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(12.5, 4.2 * rows + 0.8), squeeze=False)
    titles = {"train": "train loss (EMA-smoothed)", "val": "val loss",
              "phi": "gradient-noise measure phi", "eval": "HellaSwag accuracy"}
    for ax, (what, x_axis) in zip(axes.flat, panels):
        for run in (with_tokens if x_axis == "tokens" else runs):
            if what in ("phi", "eval"):
                series = run.phi if what == "phi" else run.eval
                xs, ys = [s for s, _ in series], [p for _, p in series]
            else:
                points = run.train if what == "train" else run.val
                xs = [s if x_axis == "step" else t for s, _, t in points]
                ys = [l for _, l, _ in points]
                if what == "train":
                    ys = smooth(ys, weight)
            if not xs:
                continue
            bold = run is best[run.optim]
            ax.plot(xs, ys, color=colors[run.optim], lw=2.2 if bold else 0.9, alpha=1.0 if bold else 0.35,
                    marker="o" if what == "val" else None, ms=3 if bold else 2,
                    label=run.label + (" (best)" if bold else ""))
        ax.set_title(f"{titles[what]} vs {x_axis}")
        ax.set_xlabel("optimizer step" if x_axis == "step" else "training tokens")
        if x_axis == "tokens":
            ax.xaxis.set_major_formatter(EngFormatter())  # 2.6 G instead of 2600000000
        ax.set_ylabel({"phi": "phi", "eval": "accuracy"}.get(what, "loss (nats/token)"))
        ax.grid(True, alpha=0.3)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center right", fontsize=8, title="optimizer, lr (bold: best lr)")
    fig.suptitle("Optimizer comparison: " + ", ".join(sorted({r.optim for r in runs}, key=optimizer_rank))
                 + (f"\n{'; '.join(notes)}" if notes else ""), fontsize=11)
    fig.tight_layout(rect=(0, 0, 0.82, 1))
    fig.savefig(png_path, dpi=110)
    plt.close(fig)
    return [f"{w}/{x}" for w, x in panels]


def optimizer_rank(name):
    return OPTIMIZER_ORDER.index(name) if name in OPTIMIZER_ORDER else len(OPTIMIZER_ORDER)


class OneLineParser(argparse.ArgumentParser):
    def error(self, message):
        fail(message)


def main():
    parser = OneLineParser(prog=PROG, description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="*", help="run directories (main.log and/or metrics.jsonl)")
    parser.add_argument("-o", "--output", default="compare.png", help="PNG to write (default compare.png)")
    parser.add_argument("--summary", help="also write the Markdown table to this file")
    parser.add_argument("--target", type=float,
                        help="loss to reach (default: the median of the final val losses, else of the final smoothed train losses)")
    parser.add_argument("--smooth", type=float, default=0.9,
                        help="EMA weight for the train loss, 0 off (default 0.9)")
    args = parser.parse_args()
    if not args.runs:
        fail("no run directories given")
    if not 0 <= args.smooth < 1:
        fail(f"--smooth must be in [0, 1), got {args.smooth}")
    try:
        runs = [load_run(path) for path in args.runs]
    except (InputError, OSError) as e:
        fail(str(e))
    runs.sort(key=lambda r: (optimizer_rank(r.optim), r.optim, r.lr if r.lr is not None else 0.0))

    best = {}
    for run in runs:
        if run.optim not in best or final_score(run, args.smooth) < final_score(best[run.optim], args.smooth):
            best[run.optim] = run
    extra = iter(EXTRA_COLORS * 10)
    colors = {o: OPTIMIZER_COLORS.get(o) or next(extra) for o in sorted(best, key=optimizer_rank)}

    target_on = "val" if all(r.val for r in runs) else "train"
    target = args.target
    if target is None:
        target = statistics.median(final_score(r, args.smooth) if target_on == "train" else r.val[-1][1] for r in runs)

    notes = []
    no_tokens = [os.path.basename(os.path.normpath(r.path)) for r in runs if not r.has_tokens]
    if no_tokens:
        notes.append("no tokens per step for " + (", ".join(no_tokens) if len(no_tokens) < len(runs) else "any run")
                     + ": plotted against step only")
    for r in runs:
        if r.skipped_steps:
            notes.append(f"{os.path.basename(os.path.normpath(r.path))} skipped {r.skipped_steps} non-finite step(s)")
    try:
        panels = draw(runs, best, colors, args.smooth, args.output, notes)
    except OSError as e:
        fail(f"cannot write '{args.output}': {e}")

    table = summary_table(runs, best, target, target_on, args.smooth)
    print(table)
    for note in notes:
        print(f"note: {note}")
    if args.summary:
        try:
            with open(args.summary, "w") as f:
                f.write(table + "\n" + "".join(f"\nnote: {n}\n" for n in notes))
        except OSError as e:
            fail(f"cannot write '{args.summary}': {e}")
    print(f"wrote {args.output}: {len(runs)} runs; panels {', '.join(panels)}")


if __name__ == "__main__":
    main()

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
known, against tokens; the phi noise measure when recorded (raw points and the paper's EMA, span
--phi-span, restarted in each --noise-windows window), and per run with noise records its phi by
part (wte, wpe, attention and MLP matrices, LayerNorms and biases, all but wte); when the train
records have them (the trainers' -o), every run's per-group update norms ||p_after - p_before||
(one line style per --optim-group group). One color per optimizer; each optimizer's best
learning rate (lowest final val loss, else lowest final smoothed train loss) is drawn bold, the
others faint. The table (printed, and written with --summary): optimizer,
lr, final losses, steps and tokens until the loss first reaches --target, tokens/s.
"""
import json
import math
import os
import re
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cli_errors  # noqa: E402
import run_stats  # noqa: E402  (the seeds' statistics: one implementation, scripts/run_stats.py)

PROG = "plot_runs.py"
OPTIMIZER_ORDER = ["sgd", "signsgd", "signum", "muon", "adamw", "lion"]
# tab10 colors, fixed per optimizer so pictures of different sweeps read the same way.
OPTIMIZER_COLORS = {"sgd": "#1f77b4", "signsgd": "#d62728", "signum": "#ff7f0e",
                    "muon": "#9467bd", "adamw": "#2ca02c", "lion": "#8c564b"}
EXTRA_COLORS = ["#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]
# phi by part of the model (docs/phi.md): (label, noise record field, key).
PHI_PARTS = [("wte", "phi_per_tensor", "wte"), ("wpe", "phi_per_tensor", "wpe"),
             ("attention matrices", "phi_per_group", "attention"), ("MLP matrices", "phi_per_group", "mlp"),
             ("LayerNorms and biases", "phi_per_group", "norms_biases"), ("all but wte", "phi_per_group", "all_but_wte")]
PHI_PART_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"]
MAX_PHI_PART_PANELS = 6
# The train records' per-group update norms (||p_after - p_before||, optim/param_groups.h): one
# line style per --optim-group group, the run's color.
UPDATE_NORM_STYLES = {"wte": "-", "wpe": ":", "attn": "--", "mlp": "-.", "norms": (0, (5, 1, 1, 1, 1, 1))}


class InputError(Exception):
    pass


def fail(message):
    cli_errors.fail(message, prog=PROG)


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
        self.noise = []  # (step, phi, mean_density, tail_index or None, batches or None, tokens per gradient or None)
        self.phi_parts = []  # (step, {part: phi}) for PHI_PARTS, from the noise records
        self.update_norms = []  # (step, {group: ||update||}) from the train records' update_norm
        self.noise_windows = []  # [(A, B)] of --noise-windows, from the config record
        self.fallback_lr = None  # muon's --fallback-lr, from the config record
        self.seed = None         # --seed and --data-seed, from the config record (run_stats.seed_of)
        self.data_seed = None
        self.hyper = {}          # run_stats.POINT_KEYS: what makes a point besides the optimizer
        self.flags = {}          # the config record's flags (run_stats.point_key compares the rest)
        self.label_suffix = ""   # set when two runs would otherwise share a legend label
        self.eval = []   # (step, HellaSwag accuracy)
        self.tokens_per_s = []
        self.skipped_steps = 0
        self.seed_curves = None  # a point's mean run (mean_run): {"train"|"val": [per-seed loss lists]}

    @property
    def label(self):
        text = f"{self.optim} lr={self.lr:g}" if self.lr is not None else self.optim
        if self.optim == "muon" and self.fallback_lr is not None:
            text += f" fb={self.fallback_lr:g}"  # a muon sweep moves both rates
        return text + self.label_suffix

    def tokens_at(self, step, recorded):
        """Tokens seen after `step` updates (a train record at step s: pass s + 1)."""
        if recorded is not None:
            return recorded
        return step * self.tokens_per_step if self.tokens_per_step else None

    @property
    def has_tokens(self):
        return all(t is not None for _, _, t in self.train + self.val) and bool(self.train or self.val)


def text_lines(path, f):
    """The lines of the binary file f, decoded; a line that is not UTF-8 (a binary or corrupt
    file) is an input error naming it, not a traceback."""
    for number, raw in enumerate(f, 1):
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise InputError(f"{path}:{number}: not UTF-8 text (byte 0x{raw[e.start]:02x} at column {e.start + 1})")


def parse_main_log(path, run):
    """Fills run from llm.c-style main.log lines (run.eval too); returns (train, val, phi) lists."""
    train, val, phi = [], [], []
    run.noise = []
    with open(path, "rb") as f:
        for number, line in enumerate(text_lines(path, f), 1):
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
                    values[key] = float(value)  # float("nan") for alpha:nan
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
                alpha = values.get("alpha")
                run.noise.append((step, values["phi"], values.get("md"),
                                  None if alpha is None or math.isnan(alpha) else alpha, None, None))
            if "eval" in values:
                run.eval.append((step, values["eval"]))
            if values.get("skip", 0) != 0:
                run.skipped_steps += 1
    return train, val, phi


def parse_metrics(path, run):
    """Fills run from metrics.jsonl (run.eval too, when recorded); returns (train, val, phi, tokens_per_s) lists."""
    train, val, phi, tps, evals, noise = [], [], [], [], [], []
    with open(path, "rb") as f:
        for number, line in enumerate(text_lines(path, f), 1):
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
                    if isinstance(flags.get("fallback_lr"), (int, float)) and flags["fallback_lr"] >= 0:
                        run.fallback_lr = float(flags["fallback_lr"])
                    run.flags = dict(flags)
                    for key in ("seed", "data_seed"):
                        if str(flags.get(key, "")).isdigit():
                            setattr(run, key, int(flags[key]))
                    for key in ("lr", "weight_decay", "momentum", "beta1", "beta2", "fallback_lr"):
                        if isinstance(flags.get(key), (int, float)):
                            run.hyper[key] = float(flags[key])
                    groups = group_rules_name(flags)
                    if groups:
                        run.optim += "+" + groups
                    if flags.get("noise_windows"):
                        run.noise_windows = [tuple(int(x) for x in w.split(":")) for w in str(flags["noise_windows"]).split(",")]
                elif kind == "train":
                    train.append((int(record["step"]), float(record["loss"]), record.get("tokens")))
                    norms = record.get("update_norm")
                    if isinstance(norms, dict) and norms:
                        run.update_norms.append((int(record["step"]), {str(g): float(v) for g, v in norms.items()}))
                    if record.get("tokens_per_s") is not None:
                        tps.append(float(record["tokens_per_s"]))
                elif kind == "val":
                    val.append((int(record["step"]), float(record["loss"]), record.get("tokens")))
                elif kind == "noise":
                    phi.append((int(record["step"]), float(record["phi"])))
                    md, alpha = record.get("mean_density"), record.get("tail_index")
                    noise.append((int(record["step"]), float(record["phi"]), None if md is None else float(md),
                                  None if alpha is None else float(alpha), record.get("K", record.get("batches")),
                                  record.get("tokens_per_gradient")))
                    parts = {label: record[field][key] for label, field, key in PHI_PARTS
                             if isinstance(record.get(field), dict) and isinstance(record[field].get(key), (int, float))}
                    if parts:
                        run.phi_parts.append((int(record["step"]), parts))
                elif kind == "eval":
                    evals.append((int(record["step"]), float(record["accuracy"])))
            except (ValueError, KeyError, TypeError, AttributeError, OverflowError) as e:
                raise InputError(f"{path}:{number}: bad record ({type(e).__name__}: {e})")
    if evals:
        run.eval = evals
    if noise:
        run.noise = noise
    return train, val, phi, tps


def group_rules_name(flags):
    """'wte=signsgd' (or 'wte=signsgd:0.003,attn=...') for a run with --optim-group, from the config
    record's optim_group; '' without groups (or from a trainer that has none)."""
    given = flags.get("optim_group")
    if isinstance(given, str) and given and given != "none":  # the trainer's %.9g of a float lr: 0.0299999993 -> 0.03
        return re.sub(r":([0-9.eE+-]+)", lambda m: f":{float(m.group(1)):.6g}", given.replace(" ", ""))
    return ""


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
    # <optim>_lr<lr>, then compare_optimizers.sh's other grid keys and seeds (_wd.. _mom.. _b1.. _b2.. _s<S>[_d<D>])
    num = r"[0-9.]+(?:[eE][-+]?[0-9]+)?"
    m = re.fullmatch(rf"([A-Za-z0-9+=]+)_lr({num})((?:_(?:wd|mom|b1|b2){num})*)(?:_s\d+(?:_d\d+)?)?", name)
    if run.optim is None:
        run.optim = m.group(1) if m else name
    if run.lr is None and m:
        run.lr = float(m.group(2))
    if not run.hyper and m:
        run.hyper["lr"] = float(m.group(2))
        full = {"wd": "weight_decay", "mom": "momentum", "b1": "beta1", "b2": "beta2"}
        for short, value in re.findall(rf"_(wd|mom|b1|b2)({num})", m.group(3)):
            run.hyper[full[short]] = float(value)
    run.train = sorted((s, l, run.tokens_at(s + 1, t)) for s, l, t in train)
    run.val = sorted((s, l, run.tokens_at(s, t)) for s, l, t in val)
    run.phi = sorted(phi)
    run.noise = sorted(run.noise, key=lambda r: r[0])
    run.phi_parts = sorted(run.phi_parts, key=lambda r: r[0])
    run.eval = sorted(dict(run.eval).items())  # a resumed llm.c log repeats steps: the last wins
    run.tokens_per_s = tps
    return run


def mean_run(point):
    """One Run for a point's seeds: the mean train and val curves over the steps every seed has,
    the per-seed curves kept for the bands (draw), the noise records of the first seed that has them."""
    runs = point.runs
    first = runs[0]
    if len(runs) == 1:
        return first
    m = Run(first.path)
    m.optim, m.lr, m.fallback_lr, m.hyper, m.device = first.optim, first.lr, first.fallback_lr, first.hyper, first.device
    m.tokens_per_step = first.tokens_per_step
    m.seed_curves = {}
    for what in ("train", "val"):
        steps = sorted(set.intersection(*(set(s for s, _, _ in getattr(r, what)) for r in runs)))
        per_seed = [[dict((s, l) for s, l, _ in getattr(r, what))[s] for s in steps] for r in runs]
        tokens = dict((s, t) for s, _, t in getattr(first, what))
        setattr(m, what, [(s, statistics.mean(col), tokens.get(s)) for s, col in zip(steps, zip(*per_seed))])
        m.seed_curves[what] = (steps, per_seed)
    noisy = next((r for r in runs if r.noise or r.phi), None)
    if noisy is not None:
        m.noise, m.phi, m.phi_parts, m.noise_windows = noisy.noise, noisy.phi, noisy.phi_parts, noisy.noise_windows
    m.eval = first.eval
    m.tokens_per_s = [t for r in runs for t in r.tokens_per_s]
    m.skipped_steps = sum(r.skipped_steps for r in runs)
    m.label_suffix = f" ({len(runs)} seeds)"
    return m


def seed_band(per_seed):
    """(low, high) lists of the 95% Student-t interval of the mean at each step of per-seed curves."""
    lows, highs = [], []
    for col in zip(*per_seed):
        mean, half, _ = run_stats.mean_ci(col)
        lows.append(mean - (half or 0.0))
        highs.append(mean + (half or 0.0))
    return lows, highs


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
        # steps as the trainer counts them: updates made (a train record at s:S is the update
        # after which S + 1 are made; a val record at S is after S), so a 4-step run reads 4
        # with or without its final validation
        curve = run.val if target_on == "val" else [
            (s + 1, l, t) for (s, _, t), l in zip(run.train, smoothed)]
        hit = first_reaching(curve, target)
        last_step = max([s + 1 for s, _, _ in run.train] + [s for s, _, _ in run.val])
        tps = run.tokens_per_s[1:] or run.tokens_per_s  # the first step includes warm-up costs
        lr_text = "-" if run.lr is None else f"{run.lr:g}"
        if run.optim == "muon" and run.fallback_lr is not None:
            lr_text += f" (fallback {run.fallback_lr:g})"
        rows.append([run.optim, lr_text + run.label_suffix, "yes" if run is best[run.optim] else "",
                     fmt(run.val[-1][1] if run.val else None), fmt(smoothed[-1] if smoothed else None),
                     str(last_step), "not reached" if hit is None else str(hit[0]),
                     "not reached" if hit is None else fmt_count(hit[1]),
                     fmt_count(statistics.mean(tps)) if tps else "-"])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def common_tokens_per_step(runs):
    """N when every run has tokens and all have the same N tokens per step: the token axis is then
    the step axis times N, and token panels would repeat the step panels; else None."""
    if not runs or not all(r.has_tokens for r in runs):
        return None
    per_step = set()
    for r in runs:
        for s, _, t in r.train:
            per_step.add(t / (s + 1))   # a train record at step s: (s + 1) steps done
        for s, _, t in r.val:
            if s > 0:
                per_step.add(t / s)
    return per_step.pop() if len(per_step) == 1 else None


def tail_index_gaussian(k):
    """What the block-sum tail index reads for finite-variance noise at K samples (its small-K bias;
    common/noise_density.h): 2 log m / log(m (K - m) / (K - 1)), m the largest divisor of K <= sqrt(K)."""
    m = max(d for d in range(1, int(math.isqrt(k)) + 1) if k % d == 0)
    return None if m == 1 else 2 * math.log(m) / math.log(m * (k - m) / (k - 1))


def noise_series(run, what):
    """(steps, values) of one noise statistic; an undefined tail index is left out."""
    index = {"phi": 1, "mean_density": 2, "tail_index": 3}[what]
    points = [(r[0], r[index]) for r in run.noise if r[index] is not None]
    if what == "phi" and not points:
        points = list(run.phi)  # main.log of an older trainer: phi only
    return [s for s, _ in points], [v for _, v in points]


def paper_ema(values, span):
    """The SignSGD paper's smoothing of phi (pandas' ewm(span=span, adjust=False).mean(), as its
    plot script calls it): alpha = 2 / (span + 1), y_0 = x_0, y_t = (1 - alpha) y_{t-1} + alpha x_t."""
    alpha, out = 2.0 / (span + 1), []
    for v in values:
        out.append(v if not out else (1 - alpha) * out[-1] + alpha * v)
    return out


def window_segments(steps, windows):
    """Index lists of the points in each --noise-windows window (the paper smooths each window's
    measurements apart); one segment when there are no windows. Points outside every window (the
    run's last step) form segments of their own."""
    def window_of(step):
        return next((i for i, (a, b) in enumerate(windows) if a <= step < b), ("out", step))
    segments, key = [], object()
    for i, step in enumerate(steps):
        k = window_of(step) if windows else 0
        if k != key:
            segments.append([])
            key = k
        segments[-1].append(i)
    return segments


def label_log_panel(ax, title, ylabel):
    """A panel whose lines carry their own legend, against step on a log axis."""
    ax.set_title(title)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel(ylabel)
    ax.set_yscale("log")
    ax.legend(fontsize=7)
    ax.grid(True, alpha=0.3)


def draw(runs, best, colors, weight, png_path, notes, title, phi_span):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import EngFormatter

    with_tokens = [r for r in runs if r.has_tokens]
    panels = [("train", "step"), ("val", "step")]
    if with_tokens and common_tokens_per_step(runs) is None:
        panels += [("train", "tokens"), ("val", "tokens")]
    if any(r.phi for r in runs):
        panels.append(("phi", "step"))
    part_runs = [r for r in runs if r.phi_parts]
    for r in part_runs[:MAX_PHI_PART_PANELS]:
        panels.append(("phi_parts", r))
    if len(part_runs) > MAX_PHI_PART_PANELS:
        notes.append(f"phi by part drawn for the first {MAX_PHI_PART_PANELS} of {len(part_runs)} runs with noise records")
    for what in ("mean_density", "tail_index"):
        if any(noise_series(r, what)[0] for r in runs):
            panels.append((what, "step"))
    if any(r.update_norms for r in runs):
        panels.append(("update_norm", "step"))
    if any(r.eval for r in runs):
        panels.append(("eval", "step"))
    cols = 2
    rows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(12.5, 4.2 * rows + 0.8), squeeze=False)
    titles = {"train": "train loss (EMA-smoothed)", "val": "val loss",
              "phi": "noise density phi", "mean_density": "mean-gradient density",
              "tail_index": "noise tail index alpha", "eval": "HellaSwag accuracy"}
    for ax, (what, x_axis) in zip(axes.flat, panels):
        if what == "phi_parts":  # x_axis holds the run
            run = x_axis
            for (label, _, _), color in zip(PHI_PARTS, PHI_PART_COLORS):
                points = [(s, p[label]) for s, p in run.phi_parts if label in p]
                if points:
                    ax.plot([s for s, _ in points], [v for _, v in points], color=color, lw=1.2, marker="o", ms=2.5, label=label)
            xs, ys = noise_series(run, "phi")
            ax.plot(xs, ys, color="k", lw=1.2, ls="--", marker="o", ms=2.5, label="whole model")
            label_log_panel(ax, f"phi by part: {run.label}", "phi")
            continue
        if what == "update_norm":  # every run's groups: its color, a line style per group
            for run in runs:
                bold = run is best[run.optim]
                for group, style in UPDATE_NORM_STYLES.items():
                    points = [(s, n[group]) for s, n in run.update_norms if n.get(group, 0) > 0]  # log axis: no zeros
                    if points:
                        ax.plot([s for s, _ in points], [v for _, v in points], color=colors[run.optim], ls=style,
                                lw=1.6 if bold else 0.8, alpha=1.0 if bold else 0.35, label="_" + group)
            for group, style in UPDATE_NORM_STYLES.items():  # the styles' key, in black
                ax.plot([], [], color="k", ls=style, lw=1.2, label=group)
            label_log_panel(ax, "update norm per group vs step", "||p_after - p_before||")
            continue
        if what == "tail_index":
            ax.axhline(2.0, color="0.5", lw=0.8, ls="--", label="_alpha 2")  # finite variance, K -> infinity
            for k in sorted({n[4] for r in runs for n in r.noise if n[4]}):
                ref = tail_index_gaussian(int(k))
                if ref is not None:  # what finite-variance noise reads at this K
                    ax.axhline(ref, color="0.5", lw=0.8, ls=":")
                    ax.annotate(f"Gaussian at K={k}: {ref:.2f}", (0.01, ref), xycoords=("axes fraction", "data"),
                                fontsize=7, color="0.4", va="bottom")
        for run in (with_tokens if x_axis == "tokens" else runs):
            if what == "phi":  # raw points faint, the paper's EMA per window as the line
                xs, ys = noise_series(run, what)
                if not xs:
                    continue
                bold = run is best[run.optim]
                alone = sum(r.optim == run.optim for r in runs) == 1
                ax.plot(xs, ys, color=colors[run.optim], lw=0, marker="o", ms=2.5, alpha=0.35, label="_raw")
                for n, seg in enumerate(window_segments(xs, run.noise_windows)):
                    ax.plot([xs[i] for i in seg], paper_ema([ys[i] for i in seg], phi_span), color=colors[run.optim],
                            lw=2.2 if bold else 0.9, alpha=1.0 if bold else 0.35,
                            label=(run.label + (" (best)" if bold and not alone else "")) if n == 0 else "_ema")
                continue
            if what in ("mean_density", "tail_index"):
                xs, ys = noise_series(run, what)
            elif what == "eval":
                xs, ys = [s for s, _ in run.eval], [p for _, p in run.eval]
            else:
                points = run.train if what == "train" else run.val
                xs = [s if x_axis == "step" else t for s, _, t in points]
                ys = [l for _, l, _ in points]
                if what == "train":
                    ys = smooth(ys, weight)
            if not xs:
                continue
            bold = run is best[run.optim]
            alone = sum(r.optim == run.optim for r in runs) == 1  # no other lr to be best among
            ax.plot(xs, ys, color=colors[run.optim], lw=2.2 if bold else 0.9, alpha=1.0 if bold else 0.35,
                    marker="o" if what not in ("train", "eval") else None, ms=3 if bold else 2,
                    label=run.label + (" (best)" if bold and not alone else ""))
            if run.seed_curves and what in ("train", "val"):  # the mean over seeds, its 95% interval as a band
                steps, per_seed = run.seed_curves[what]
                if what == "train":
                    per_seed = [smooth(c, weight) for c in per_seed]
                low, high = seed_band(per_seed)
                bx = steps if x_axis == "step" else xs
                ax.fill_between(bx, low, high, color=colors[run.optim], alpha=0.25 if bold else 0.08, lw=0)
        ax.set_title(f"{titles[what]} vs {x_axis}" + (f" (points; line: EMA span {phi_span:g} per window)" if what == "phi" else ""))
        ax.set_xlabel("optimizer step" if x_axis == "step" else "training tokens")
        if x_axis == "tokens":
            ax.xaxis.set_major_formatter(EngFormatter())  # 2.6 G instead of 2600000000
        if what in ("phi", "mean_density"):
            ax.set_yscale("log")  # the paper's phi falls by a factor of 10
        ax.set_ylabel({"phi": "phi", "mean_density": "density", "tail_index": "alpha",
                       "eval": "accuracy"}.get(what, "loss (nats/token)"))
        ax.grid(True, alpha=0.3)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    one_each = len({r.optim for r in runs}) == len(runs)
    fig.legend(handles, labels, loc="center right", fontsize=8,
               title="optimizer, lr" if one_each else "optimizer, lr (bold: best lr)")
    fig.suptitle((title or "Optimizer comparison: " + ", ".join(sorted({r.optim for r in runs}, key=optimizer_rank)))
                 + (f"\n{'; '.join(notes)}" if notes else ""), fontsize=11)
    fig.tight_layout(rect=(0, 0, 0.82, 1))
    fig.savefig(png_path, dpi=110)
    plt.close(fig)
    return [f"phi_parts/{x.label}" if w == "phi_parts" else f"{w}/{x}" for w, x in panels]


def noise_table(runs):
    """The noise measurements of every run that has them, one row per measurement."""
    rows = [(r, n) for r in runs for n in r.noise]
    if not rows:
        return ""
    lines = ["| run | step | phi | mean density | tail index alpha | K | tokens per gradient |", "|---|---|---|---|---|---|---|"]
    for r, (step, phi, md, alpha, k, tokens) in rows:
        lines.append(f"| {r.label} | {step} | {phi:.4f} | {fmt(md)} | {fmt(alpha, 3)} | {'-' if k is None else k} | "
                     f"{'-' if tokens is None else tokens} |")
    return "\n".join(lines)


def phi_parts_table(runs):
    """phi by part (docs/phi.md's groups) of every measurement that has them, one row each, the run
    named by its directory; '' when none has."""
    rows = [(r, step, parts) for r in runs for step, parts in r.phi_parts]
    if not rows:
        return ""
    labels = [label for label, _, _ in PHI_PARTS]
    lines = ["| run (directory) | step | " + " | ".join(labels) + " | whole model |", "|---|---|" + "---|" * (len(labels) + 1)]
    for r, step, parts in rows:
        whole = next((phi for s, phi in r.phi if s == step), None)
        lines.append(f"| {os.path.basename(os.path.normpath(r.path))} | {step} | "
                     + " | ".join(fmt(parts.get(label)) for label in labels) + f" | {fmt(whole)} |")
    return "\n".join(lines)


def tell_apart_labels(runs):
    """Two runs with the same legend label (same optimizer and rates, other flags) get their
    directory names added, so the legend and the table name each run once."""
    by_label = {}
    for r in runs:
        by_label.setdefault(r.label, []).append(r)
    for same in by_label.values():
        if len(same) > 1:
            for r in same:
                r.label_suffix = f" [{os.path.basename(os.path.normpath(r.path))}]"


def optimizer_rank(name):
    """Sort key: the known optimizers in their order, a per-group variant ('sgd+wte=signsgd:0.003') after its base."""
    base = name.split("+")[0]
    return (OPTIMIZER_ORDER.index(base) if base in OPTIMIZER_ORDER else len(OPTIMIZER_ORDER), "+" in name, name)


def main():
    parser = cli_errors.OneLineParser(prog=PROG, prog_first=True, description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="*", help="run directories (main.log and/or metrics.jsonl)")
    parser.add_argument("-o", "--output", default="compare.png", help="PNG to write (default compare.png)")
    parser.add_argument("--summary", help="also write the Markdown table to this file")
    parser.add_argument("--target", type=float,
                        help="loss to reach (default: the median of the final val losses, else of the final smoothed train losses)")
    parser.add_argument("--smooth", type=float, default=0.9,
                        help="EMA weight for the train loss, 0 off (default 0.9)")
    parser.add_argument("--phi-span", type=float, default=100,
                        help="span of phi's EMA, alpha = 2/(span+1), as the paper (default 100)")
    parser.add_argument("--title", help="the figure's title (default: 'Optimizer comparison: ' and the optimizers)")
    args = parser.parse_args()
    if not args.runs:
        fail("no run directories given")
    if not 0 <= args.smooth < 1:
        fail(f"--smooth must be in [0, 1), got {args.smooth}")
    if not (args.phi_span >= 1 and math.isfinite(args.phi_span)):
        fail(f"--phi-span must be at least 1 and finite, got {args.phi_span}")
    if args.target is not None and not math.isfinite(args.target):
        fail(f"--target must be a finite loss, got {args.target}")
    try:
        runs = [load_run(path) for path in args.runs]
    except (InputError, OSError) as e:
        fail(str(e))
    runs.sort(key=lambda r: (optimizer_rank(r.optim), r.optim, r.lr if r.lr is not None else 0.0))
    all_runs = runs
    # Several seeds of one point: one mean run per point (curves with bands, table rows of means).
    if any(len(p.runs) > 1 for p in run_stats.group_points(runs)):
        runs = [mean_run(p) for p in run_stats.group_points(runs)]
    tell_apart_labels(runs)

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
    per_step = common_tokens_per_step(runs)
    if per_step is not None:
        notes.append(f"every run: {fmt_count(per_step)} tokens per step (tokens = updates made x {per_step:g}: "
                     f"(S + 1) x {per_step:g} after the update at s:S, S x {per_step:g} at a validation at s:S), so no token panels")
    for r in runs:
        if r.skipped_steps:
            notes.append(f"{os.path.basename(os.path.normpath(r.path))} skipped {r.skipped_steps} non-finite step(s)")
    try:
        panels = draw(runs, best, colors, args.smooth, args.output, notes, args.title, args.phi_span)
    except OSError as e:
        fail(f"cannot write '{args.output}': {e}")

    table = summary_table(runs, best, target, target_on, args.smooth)
    grid_lines = run_stats.trials_lines(all_runs, optimizer_rank)
    if grid_lines:
        table += "\n\nGrid (best: the lowest final val loss, the mean over seeds):\n\n" + "\n".join(grid_lines)
    if runs is not all_runs:
        with_val = [r for r in all_runs if r.val]
        if with_val:
            val_target = args.target if args.target is not None and target_on == "val" else \
                statistics.median(r.val[-1][1] for r in with_val)
            seeds_text, _ = run_stats.seed_summary(all_runs, val_target, "sgd", optimizer_rank)
            table += "\n\nOver seeds (rows above: each point's mean over its seeds; here each optimizer's best point):\n\n" + seeds_text
    noise = noise_table(runs)
    if noise:
        table += "\n\nGradient-noise statistics (K micro-batch gradients at fixed weights per measurement):\n\n" + noise
    parts = phi_parts_table(runs)
    if parts:
        table += "\n\nphi by part (docs/phi.md; K and tokens per gradient as above):\n\n" + parts
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

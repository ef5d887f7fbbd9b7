"""scripts/run_stats.py (the statistics over seeds) and plot_runs.py's multi-seed summary:
  - t_{0.975, df} of the table against the quantile of Student's t computed here by integrating
    its density (Simpson, then bisection), and against scipy when it is installed;
  - fixture runs (fake metrics.jsonl in a temporary directory) whose means, intervals and paired
    differences are computed by hand below: the printed numbers must equal them;
  - main.log-only runs named <optim>_lr<lr>_s<seed> (the seed from the name), a per-group run name
    from the config record's optim_group, and the grid position of each best point.
Usage: /usr/bin/python3 test/test_run_stats.py   (PASS/FAIL lines; exit 1 on a failure)
"""
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile

here = os.path.dirname(os.path.abspath(__file__))
repo = os.path.dirname(here)
sys.path.insert(0, os.path.join(repo, "scripts"))
sys.path.insert(0, here)
import run_stats  # noqa: E402
import plot_runs as plot_runs_module  # noqa: E402
from verdicts import check, report, summary  # noqa: E402

PY = sys.executable


def t_cdf(x, df):
    """P(T <= x) for x >= 0: 1/2 plus Simpson's rule over the density on [0, x]."""
    c = math.exp(math.lgamma((df + 1) / 2) - math.lgamma(df / 2)) / math.sqrt(df * math.pi)
    n = 4000
    h = x / n
    f = [c * (1 + (i * h) ** 2 / df) ** (-(df + 1) / 2) for i in range(n + 1)]
    return 0.5 + h / 3 * (f[0] + f[-1] + 4 * sum(f[1:-1:2]) + 2 * sum(f[2:-1:2]))


def t_quantile(p, df):
    lo, hi = 0.0, 20.0
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if t_cdf(mid, df) < p else (lo, mid)
    return (lo + hi) / 2


# ---- t quantiles
dfs = list(range(1, 31)) + [35, 40, 50, 60, 90, 120, 200, 1000]
worst = max((abs(run_stats.t975(d) - t_quantile(0.975, d)) / t_quantile(0.975, d), d) for d in dfs)
check("stats/t975_vs_integrated_density", worst[0] < 1.5e-3,
      f"worst relative error {worst[0]:.2e} at df {worst[1]} over df {dfs[0]}..{dfs[-1]} (table 3 decimals, 1/df interpolation)")
known = {1: 12.706, 2: 4.303, 3: 3.182, 10: 2.228, 30: 2.042}
check("stats/t975_known_values", all(abs(run_stats.t975(d) - v) < 5e-4 for d, v in known.items()),
      ", ".join(f"df {d}: {run_stats.t975(d)}" for d in known))
try:
    from scipy.stats import t as scipy_t
    worst = max(abs(run_stats.t975(d) - scipy_t.ppf(0.975, d)) / scipy_t.ppf(0.975, d) for d in range(1, 301))
    check("stats/t975_vs_scipy", worst < 1.5e-3, f"worst relative error {worst:.2e} over df 1..300")
except ImportError:
    report("SKIP", "stats/t975_vs_scipy", "scipy is not installed (the integrated density above is the reference)")

# ---- mean_ci and the verdict on hand-computed numbers
m, half, n = run_stats.mean_ci([5.0, 5.2, 5.4])
want = 4.303 * 0.2 / math.sqrt(3)  # sd 0.2, t_{0.975,2} 4.303
check("stats/mean_ci_three", n == 3 and abs(m - 5.2) < 1e-12 and abs(half - want) < 1e-12, f"{m} +- {half}, want 5.2 +- {want}")
check("stats/mean_ci_one_value", run_stats.mean_ci([3.0]) == (3.0, None, 1), str(run_stats.mean_ci([3.0])))

# ---- fixture runs
work = tempfile.mkdtemp(prefix="test_run_stats.")
# optimizer, lr, seed -> final val loss; val at steps 0, 10, 20 (loss at 10: final + 1)
finals = {("sgd", 0.1): [5.0, 5.2, 5.4], ("sgd", 0.3): [6.0, 6.1, 6.2],
          ("signsgd", 0.003): [4.8, 4.9, 5.3], ("signsgd", 0.001): [5.5, 5.6, 5.7], ("signsgd", 0.01): [5.9, 6.0, 6.1],
          ("adamw", 0.003): [4.5, 4.6, 4.7], ("adamw", 0.01): [4.9, 5.0, 5.1]}


def write_run(name, optim, lr, seed, final, group=""):
    d = os.path.join(work, name)
    os.makedirs(d)
    flags = {"optim": optim, "lr": lr, "momentum": 0.9, "weight_decay": 0.0, "seed": str(seed), "data_seed": str(seed)}
    if group:
        flags["optim_group"] = group
    with open(os.path.join(d, "metrics.jsonl"), "w") as f:
        f.write(json.dumps({"type": "config", "flags": flags, "tokens_per_step": 512}) + "\n")
        for step, loss in ((0, 10.8), (10, final + 1.0), (20, final)):
            if step:
                f.write(json.dumps({"type": "train", "step": step - 1, "loss": loss + 0.1, "tokens": 512 * step}) + "\n")
            f.write(json.dumps({"type": "val", "step": step, "loss": loss, "tokens": 512 * step}) + "\n")
    return d


dirs = []
for (o, lr), vals in finals.items():
    for seed, v in enumerate(vals):
        dirs.append(write_run(f"{o}_lr{lr:g}_s{seed}", o, lr, seed, v))
# a per-group run: sgd with signsgd on wte, finals 5.1 5.0 5.1 (paired to sgd: +0.1 -0.2 -0.3)
for seed, v in enumerate([5.1, 5.0, 5.1]):
    dirs.append(write_run(f"hyb_s{seed}", "sgd", 0.1, seed, v, group="wte=signsgd:0.003"))
out = subprocess.run([PY, os.path.join(repo, "scripts/run_stats.py"), *dirs, "--target", "5.9"],
                     capture_output=True, text=True)
text = out.stdout


def row(optim):
    return next((l for l in text.splitlines() if l.startswith(f"| {optim} |")), "")


# sgd's best point lr 0.1: 5.2 +- 0.4969; steps to 5.9: seed 0 (5.0+1=6.0 at 10: no) -> 20 for all
sgd_half = 4.303 * 0.2 / math.sqrt(3)
check("stats/summary_sgd_mean_ci", out.returncode == 0 and f"| 5.2000 +- {sgd_half:.4f} |" in row("sgd")
      and "| 3 of 3 |" in row("sgd") and "| 20.0 +- 0.0 |" in row("sgd"), row("sgd") or out.stderr.strip())
# signsgd best lr 0.003 (mean 5.0), 2nd of 3; finals sd = 0.2646 -> half 4.303 * 0.26458 / sqrt 3
sd = math.sqrt(((4.8 - 5) ** 2 + (4.9 - 5) ** 2 + (5.3 - 5) ** 2) / 2)
check("stats/summary_signsgd_best_and_grid", f"| 5.0000 +- {4.303 * sd / math.sqrt(3):.4f} |" in row("signsgd")
      and "| lr=0.003 | 3 | 3 |" in row("signsgd") and "lr 0.003: 2 of 3 (inside)" in row("signsgd"), row("signsgd"))
check("stats/summary_grid_edge", "lr 0.003: 1 of 2 (low edge)" in row("adamw") and "lr 0.1: 1 of 2 (low edge)" in row("sgd"),
      row("adamw") + " / " + row("sgd"))
# paired: signsgd - sgd = (-0.2, -0.3, -0.1): -0.2 +- 4.303*0.1/sqrt3 = 0.2484: no difference detected
check("stats/paired_no_difference", "signsgd - sgd = -0.2000 +- 0.2484 nats, 3 seeds: no difference detected" in text,
      [l for l in text.splitlines() if l.startswith("- signsgd")])
# adamw - sgd = (-0.5, -0.6, -0.7): -0.6 +- 0.2484: adamw lower
check("stats/paired_lower", "adamw - sgd = -0.6000 +- 0.2484 nats, 3 seeds: adamw lower" in text,
      [l for l in text.splitlines() if l.startswith("- adamw")])
# the per-group run is its own optimizer; paired to sgd (+0.1, -0.2, -0.3): mean -0.1333, sd 0.2082
hyb = "sgd+wte=signsgd:0.003"
sd = math.sqrt(((0.1 + 0.4 / 3) ** 2 + (-0.2 + 0.4 / 3) ** 2 + (-0.3 + 0.4 / 3) ** 2) / 2)
want = f"{hyb} - sgd = -0.1333 +- {4.303 * sd / math.sqrt(3):.4f} nats, 3 seeds: no difference detected"
check("stats/paired_group_run", want in text and row(hyb), want)

# ---- plot_runs.py: the same section, mean rows, one PNG
png = os.path.join(work, "seeds.png")
out = subprocess.run([PY, os.path.join(repo, "scripts/plot_runs.py"), *dirs, "-o", png, "--target", "5.9"],
                     capture_output=True, text=True)
check("plot/seeds_summary", out.returncode == 0 and "adamw - sgd = -0.6000 +- 0.2484 nats, 3 seeds: adamw lower" in out.stdout
      and "| 0.1 (3 seeds) | yes | 5.2000 |" in out.stdout and os.path.getsize(png) > 1000,
      (out.stderr.strip() or out.stdout[-300:]))

# --baseline: the paired differences to another optimizer (the fanion study's is muon)
out = subprocess.run([PY, os.path.join(repo, "scripts/plot_runs.py"), *dirs, "-o", png, "--target", "5.9", "--baseline", "adamw"],
                     capture_output=True, text=True)
check("plot/seeds_baseline", out.returncode == 0 and "sgd - adamw = +0.6000 +- 0.2484 nats, 3 seeds: sgd higher" in out.stdout
      and "- adamw - " not in out.stdout, (out.stderr.strip() or out.stdout[-300:]))

# ---- fmuon/smuon directory names (compare_optimizers.sh's _a<alpha>, _ss<sign scale>): alpha makes another point
fan = []
for name, v in (("fmuon_lr0.2_a0.25_s0", 5.0), ("fmuon_lr0.2_a0.75_s0", 4.0), ("fmuon_lr0.2_a0.75_s1", 4.2),
                ("smuon_lr0.2_a0.5_ss0.003_s1", 4.5)):
    d = os.path.join(work, "fan", name)
    os.makedirs(d)
    with open(os.path.join(d, "main.log"), "w") as f:
        f.write(f"s:0 tel:10.8\ns:0 trl:10.9\ns:1 trl:{v + 0.1}\ns:2 tel:{v}\n")
    fan.append(d)
fan_runs = [plot_runs_module.load_run(d) for d in fan]
points = run_stats.group_points(fan_runs)
best = run_stats.best_points(points)
got = [(r.optim, r.hyper.get("fanion_alpha"), r.hyper.get("smuon_sign_scale"), run_stats.seed_of(r)) for r in fan_runs]
check("stats/fanion_dir_names", got == [("fmuon", 0.25, None, (0, 0)), ("fmuon", 0.75, None, (0, 0)), ("fmuon", 0.75, None, (1, 1)),
                                        ("smuon", 0.5, 0.003, (1, 1))]
      and len(points) == 3 and best["fmuon"].label(run_stats.varying_keys(points, "fmuon")) == "lr=0.2 a=0.75"
      and run_stats.grid_position(points, best["fmuon"]) == "a 0.75: 2 of 2 (high edge)", f"{got}; {len(points)} points")

# ---- main.log-only runs: seed and lr from the directory name; one seed gives no interval
logdirs = []
for seed, (a, b) in enumerate([(5.0, 4.0), (5.5, 4.7)]):
    for o, v in (("sgd", a), ("signsgd", b)):
        d = os.path.join(work, "logonly", f"{o}_lr0.01_s{seed}")
        os.makedirs(d)
        with open(os.path.join(d, "main.log"), "w") as f:
            f.write(f"s:0 tel:10.8\ns:0 trl:10.9\ns:1 trl:{v + 0.1}\ns:2 tel:{v}\n")
        logdirs.append(d)
out = subprocess.run([PY, os.path.join(repo, "scripts/run_stats.py"), *logdirs], capture_output=True, text=True)
# signsgd - sgd = (-1.0, -0.8): -0.9 +- 12.706 * 0.1414 / 1.414 = 1.2706
check("stats/log_only_seeds_from_names", "signsgd - sgd = -0.9000 +- 1.2706 nats, 2 seeds: no difference detected" in out.stdout,
      out.stdout.strip()[-200:] or out.stderr.strip())
out = subprocess.run([PY, os.path.join(repo, "scripts/run_stats.py"), logdirs[0], logdirs[1]], capture_output=True, text=True)
check("stats/one_seed_no_interval", "1 seed: no interval" in out.stdout, out.stdout.strip()[-200:] or out.stderr.strip())

# ---- two runs of one optimizer and lr that differ in another training flag are two points, not two seeds
other = []
for seed, batch in ((0, 4), (1, 8)):
    d = write_run(f"batch{batch}/sgd_lr0.1_s{seed}", "sgd", 0.1, seed, 5.0 + seed)
    path = os.path.join(d, "metrics.jsonl")
    lines = open(path).read().splitlines()
    cfg = json.loads(lines[0])
    cfg["flags"]["batch_size"] = batch
    cfg["flags"]["noise_every"] = seed  # a measurement flag: does not make another point
    open(path, "w").write("\n".join([json.dumps(cfg)] + lines[1:]) + "\n")
    other.append(d)
points = run_stats.group_points([plot_runs_module.load_run(d) for d in other])
same = run_stats.group_points([plot_runs_module.load_run(d) for d in dirs[:3]])
check("stats/other_flag_other_point", len(points) == 2 and len(same) == 1 and len(same[0].runs) == 3,
      f"{len(points)} points for -b 4 and -b 8 (want 2); {len(same)} point(s) for sgd lr 0.1 seeds 0-2 (want 1 of 3 runs)")

code = summary("test_run_stats.py")
if code == 0:
    shutil.rmtree(work)  # kept on a failure, to look at
else:
    print(f"(fixtures kept in {work})")
sys.exit(code)

"""--warmup-shape cos against PyTorch's own OneCycleLR (anneal_strategy='cos', three_phase=False),
the SignSGD paper's schedule: every step's learning rate that the trainers take from their flags
(build/test_train_config --lrs "FLAGS": peak * lr_factor_at of optim/schedule.h, as float) equals
the scheduler's to 1e-6 relative, over 10,000 steps with warmup 1,000 and div_factor 100, and over
a short odd one. The flags that reproduce OneCycleLR(max_lr, total_steps, pct_start = W / total,
div_factor, final_div_factor):
    -l max_lr -x total -u W --warmup-shape cos --warmup-init 1/div_factor --schedule cosine
    -q 1/(div_factor * final_div_factor)
Also: the issue's numbers (lr factor at step 100 of a 1,000-step warmup: 0.034 cos, 0.110 linear)
and that llm.c's linear warmup does not pass the comparison.
Usage: /usr/bin/python3 test/test_warmup_onecycle.py [BUILD_DIR]   (PASS/FAIL lines; exit 1 on a failure)
"""
import os
import subprocess
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from verdicts import check, summary  # noqa: E402

build = "build"


def trainer_lrs(flags):
    """The trainers' lr of every step for these flags (scripts/plot_warmup_shapes.py uses it too)."""
    binary = os.path.join(build, "test_train_config")
    out = subprocess.run([binary, "--lrs", flags], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit("error: %s --lrs '%s' failed: %s" % (binary, flags, out.stderr.strip()))
    return [float(x) for x in out.stdout.split()]


def onecycle_lrs(max_lr, total, warmup, div, final_div):
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=max_lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=max_lr, total_steps=total, pct_start=warmup / total,
                                                anneal_strategy="cos", div_factor=div, final_div_factor=final_div,
                                                three_phase=False, cycle_momentum=False)
    lrs = []
    for _ in range(total):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return lrs


def worst_step(ours, want):
    """(relative error, step) of the step where ours differs most from want."""
    return max((abs(a - b) / abs(b), i) for i, (a, b) in enumerate(zip(ours, want)))


def flags_for(max_lr, total, warmup, div, final_div, shape="cos"):
    return "--optim nsgd -l %r -x %d -u %d --warmup-shape %s --warmup-init %r --schedule cosine -q %r" % (
        max_lr, total, warmup, shape, 1.0 / div, 1.0 / (div * final_div))


def main():
    global build
    build = sys.argv[1] if len(sys.argv) > 1 else "build"
    cases = [("paper_10000_steps", 1e-3, 10000, 1000, 100.0, 1e4),  # the SignSGD paper's (final_div: PyTorch's default)
             ("short_odd", 3e-2, 53, 7, 25.0, 40.0)]
    for name, max_lr, total, warmup, div, final_div in cases:
        want = onecycle_lrs(max_lr, total, warmup, div, final_div)
        ours = trainer_lrs(flags_for(max_lr, total, warmup, div, final_div))
        err, step = worst_step(ours, want)
        check("onecycle/" + name, len(ours) == total and err <= 1e-6,
              "%d steps, worst step %d: ours %.9g, OneCycleLR %.9g (rel err %.2e, tol 1e-6)" % (len(ours), step, ours[step], want[step], err))

    # the numbers: step 100 of a 1,000-step warmup, div 100
    cos = trainer_lrs(flags_for(1.0, 10000, 1000, 100.0, 1e4))[100]
    linear = trainer_lrs(flags_for(1.0, 10000, 1000, 100.0, 1e4, "linear"))[100]
    check("onecycle/issue_step100", abs(cos - 0.0344) < 5e-4 and abs(linear - 0.110) < 5e-4,
          "lr factor at step 100: cos %.4f (OneCycleLR 0.034), linear %.4f (llm.c 0.110)" % (cos, linear))
    # the comparison can fail: llm.c's linear warmup is not OneCycleLR
    want = onecycle_lrs(1e-3, 10000, 1000, 100.0, 1e4)
    err, step = worst_step(trainer_lrs(flags_for(1e-3, 10000, 1000, 100.0, 1e4, "linear")), want)
    check("onecycle/linear_warmup_differs", err > 1e-2, "--warmup-shape linear: worst step %d, rel err %.2e" % (step, err))
    sys.exit(summary("test_warmup_onecycle.py"))


if __name__ == "__main__":
    main()

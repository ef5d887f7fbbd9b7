"""The lr of --warmup-shape linear and cos (the trainers' schedule, build/test_train_config --lrs)
beside torch's OneCycleLR, for the SignSGD paper's 10,000 steps, warmup 1,000, div 100.
Usage: /usr/bin/python3 scripts/plot_warmup_shapes.py [BUILD_DIR] [OUT.png]   (docs/nsgd_and_warmup.md)
"""
import os
import sys

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test"))
import test_warmup_onecycle as schedule_test  # noqa: E402

schedule_test.build = sys.argv[1] if len(sys.argv) > 1 else "build"
out = sys.argv[2] if len(sys.argv) > 2 else "docs/warmup_shapes.png"
flags = "-l 1 -x 10000 -u 1000 --warmup-init 0.01 --schedule cosine -q 1e-6 --warmup-shape "
fig, axes = plt.subplots(1, 2, figsize=(11, 4))
torch_lrs = schedule_test.onecycle_lrs(1.0, 10000, 1000, 100.0, 1e4)
for ax, last in zip(axes, (1500, 10000)):
    for shape, style in (("linear", "-"), ("cos", "-")):
        ax.plot(schedule_test.trainer_lrs(flags + shape)[:last], style, label="--warmup-shape " + shape)
    ax.plot(range(0, last, max(1, last // 40)), torch_lrs[:last:max(1, last // 40)], "k.", label="torch OneCycleLR (cos, div 100)")
    ax.set_xlabel("step")
    ax.set_ylabel("lr factor")
    ax.set_title("first %d of 10,000 steps (warmup 1,000)" % last)
    ax.legend()
fig.tight_layout()
fig.savefig(out, dpi=80)
print("wrote", out)

#!/usr/bin/env python3
"""The bias of phi's K-sample estimate on sparse token rows, in a numpy model (docs/phi.md).

    scripts/phi_bias_model.py [--vocab 50257] [--zipf 1.0] [--tokens 1024,8192,65536] [--k 8,16,32,64,128]
                              [--trials 4] [--seed 0]

The model of wte's gradient: a micro-batch of N tokens holds token v n_v ~ Poisson(N p_v) times
(p_v Zipf: p_v proportional to 1 / rank^s), and each occurrence adds an independent unit Gaussian
to the row, so one coordinate of row v reads g = sqrt(n_v) e / N with e ~ N(0, 1). Its true
standard deviation is sqrt(N p_v) / N, so the true phi over the rows is
    phi = (sum_v sqrt(p_v))^2 / (V sum_v p_v)
whatever N is. The estimate takes K such micro-batches, the sample standard deviation per row and
phi of those (the trainer's estimator); printed: its mean over --trials repetitions over the true
phi, per N and K (1 = unbiased). Rows with no occurrence in all K samples read sigma = 0.
"""
import math

import numpy as np

from cli_errors import OneLineParser


def main():
    p = OneLineParser(prog_first=True, description=__doc__.split("\n")[0])
    p.add_argument("--vocab", type=int, default=50257)
    p.add_argument("--zipf", type=float, default=1.0)
    p.add_argument("--tokens", default="1024,8192,65536")
    p.add_argument("--k", default="8,16,32,64,128")
    p.add_argument("--trials", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    try:
        tokens = [int(x) for x in a.tokens.split(",")]
        ks = [int(x) for x in a.k.split(",")]
    except ValueError as e:
        p.error(f"bad list ({e})")
    if a.vocab < 1 or a.trials < 1 or a.seed < 0 or not (math.isfinite(a.zipf) and a.zipf >= 0):
        p.error(f"--vocab and --trials must be positive, --seed and --zipf non-negative (got {a.vocab}, {a.trials}, {a.seed}, {a.zipf:g})")
    if min(tokens) < 1 or min(ks) < 2:
        p.error(f"--tokens must be positive and --k at least 2 (got {a.tokens}, {a.k})")
    rng = np.random.default_rng(a.seed)
    prob = 1.0 / np.arange(1, a.vocab + 1) ** a.zipf
    prob /= prob.sum()
    true_phi = np.sqrt(prob).sum() ** 2 / (a.vocab * prob.sum())
    print(f"Zipf s = {a.zipf}, V = {a.vocab}: true phi {true_phi:.4f}; estimate / true, mean of {a.trials} trials (seed {a.seed})")
    print()
    print("| tokens per gradient | " + " | ".join(f"K = {k}" for k in ks) + " |")
    print("|---|" + "---|" * len(ks))
    for n in tokens:
        cells = []
        for k in ks:
            ratios = []
            for _ in range(a.trials):
                counts = rng.poisson(n * prob[:, None], size=(a.vocab, k))
                g = np.sqrt(counts) * rng.standard_normal((a.vocab, k)) / n
                sigma = g.std(axis=1, ddof=1)
                ratios.append(sigma.sum() ** 2 / (a.vocab * (sigma ** 2).sum()) / true_phi)
            cells.append(f"{np.mean(ratios):.3f}")
        print(f"| {n:,} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()

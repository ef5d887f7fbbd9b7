"""The noise statistics of common/noise_density.h (phi, mean_density, tail_index) on synthetic
gradient samples: numpy draws them, build/test_noise_density --samples runs the C++
accumulator on the same samples, and this script checks
  - the C++ values against the same statistics computed here in numpy (float64, two-pass),
    for the whole vector and each half (relative 1e-9);
  - known answers: dense Gaussian noise (sigma_i = |z_i|) phi ~ 2/pi and alpha ~ 2 (K = 1024; the finite-K
    value 2 log m / log(m (K-m)/(K-1)) at K = 8); noise on 1% of the coordinates phi ~ 0.01;
    symmetric alpha-stable noise with alpha 1.5 (Chambers-Mallows-Stuck) alpha ~ 1.5;
    mean_density of a dense Gaussian mean ~ 2/pi and of a mean on 10% of the coordinates ~ 0.1.
Usage: /usr/bin/python3 test/test_noise_stats.py [BUILD_DIR]   (PASS/FAIL lines; exit 1 on a failure)
"""
import json
import math
import os
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from named_tensors import write_named_tensors  # noqa: E402

failed = 0


def expect(ok, name, detail):
    global failed
    print("%s %s%s%s" % ("PASS" if ok else "FAIL", name, " " if ok else ": ", detail), flush=True)
    failed += 0 if ok else 1


def block_size(K):
    return max(b for b in range(1, math.isqrt(K) + 1) if K % b == 0)


def stats(G):
    """phi, mean_density, tail_index of samples G (K x d), float64, two-pass."""
    G = G.astype(np.float64)
    K, d = G.shape
    mean = G.mean(axis=0)
    sigma = G.std(axis=0, ddof=1)
    phi = sigma.sum() ** 2 / (d * (sigma ** 2).sum())
    md = np.abs(mean).sum() ** 2 / (d * (mean ** 2).sum())
    m = block_size(K)
    X = G - mean
    Y = X.reshape(K // m, m, d).sum(axis=1)
    diff = np.log(np.linalg.norm(Y, axis=1)).mean() - np.log(np.linalg.norm(X, axis=1)).mean()
    alpha = math.log(m) / diff if m > 1 else float("nan")
    return {"phi": phi, "mean_density": md, "tail_index": alpha}


def symmetric_stable(alpha, shape, rng):
    """Chambers-Mallows-Stuck: symmetric alpha-stable, unit scale."""
    V = rng.uniform(-math.pi / 2, math.pi / 2, shape)
    W = rng.exponential(1.0, shape)
    return np.sin(alpha * V) / np.cos(V) ** (1 / alpha) * (np.cos(V - alpha * V) / W) ** ((1 - alpha) / alpha)


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else "build"
    rng = np.random.default_rng(20261201)
    d = 4000
    mu_dense = rng.standard_normal(d)
    mu_sparse = np.where(np.arange(d) % 10 == 3, rng.standard_normal(d), 0.0)
    sparse_mask = (np.arange(d) % 100 == 7)
    scale = np.abs(rng.standard_normal(d))  # sigma_i like the magnitudes of a Gaussian: phi 2/pi
    cases = {
        "gaussian_k8": mu_dense + rng.standard_normal((8, d)),  # unit noise: concentrated norms
        "gaussian_k1024": 0.1 * mu_dense + scale * rng.standard_normal((1024, d)),
        "sparse_1pct_k64": mu_sparse + rng.standard_normal((64, d)) * sparse_mask,
        "stable_1.5_k1024": symmetric_stable(1.5, (1024, d), rng),
    }
    cases = {k: v.astype(np.float32) for k, v in cases.items()}
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "samples.bin")
        write_named_tensors(path, {"samples/" + k: v for k, v in cases.items()})
        out = subprocess.run([os.path.join(build, "test_noise_density"), "--samples", path], capture_output=True, text=True)
    if out.returncode != 0:
        expect(False, "noise_stats/cpp_runs", out.stderr.strip()[:300])
        return 1
    nan = float("nan")
    got = {r["case"]: r for r in map(lambda line: json.loads(line, parse_constant=lambda c: nan), out.stdout.splitlines())}
    for r in got.values():  # null (undefined) -> NaN, which fails every comparison
        for part in [r["whole"]] + r["halves"]:
            for k in part:
                part[k] = nan if part[k] is None else part[k]
    expect(sorted(got) == sorted(cases), "noise_stats/cpp_cases", "cases %s" % sorted(got))

    for name, G in cases.items():
        if name not in got:
            continue
        want = [stats(G), stats(G[:, :d // 2]), stats(G[:, d // 2:])]
        ours = [got[name]["whole"]] + got[name]["halves"]
        errors = [abs(o[k] - w[k]) / abs(w[k]) for o, w in zip(ours, want) for k in w]
        worst = max(e if math.isfinite(e) else float("inf") for e in errors)
        expect(worst < 1e-9, "noise_stats/%s_cpp_vs_numpy" % name, "worst relative error %.2e over 3 parts x 3 statistics" % worst)

    def value(case, key):
        return got.get(case, {}).get("whole", {}).get(key, float("nan"))

    two_over_pi = 2 / math.pi
    K, m = 8, 2
    gauss8 = 2 * math.log(m) / math.log(m * (K - m) / (K - 1))
    checks = [
        ("gaussian_phi_2_over_pi", value("gaussian_k1024", "phi"), two_over_pi, 0.01),
        ("gaussian_mean_density_2_over_pi", value("gaussian_k8", "mean_density"), two_over_pi, 0.03),
        ("gaussian_alpha_2", value("gaussian_k1024", "tail_index"), 2.0, 0.06),
        ("gaussian_alpha_finite_k8", value("gaussian_k8", "tail_index"), gauss8, 0.1),
        ("sparse_phi_0.01", value("sparse_1pct_k64", "phi"), 0.01, 0.002),
        ("sparse_mean_density_0.1", value("sparse_1pct_k64", "mean_density"), 0.1 * two_over_pi, 0.02),
        ("stable_alpha_1.5", value("stable_1.5_k1024", "tail_index"), 1.5, 0.12),
    ]
    for name, v, want, tol in checks:
        expect(abs(v - want) < tol, "noise_stats/" + name, "%.4f, want %.4f within %g" % (v, want, tol))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

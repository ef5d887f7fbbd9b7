"""The PyTorch oracle's zero-order step (--zo mezo|jaguar-sign|jaguar-muon, common/zero_order.h)
in float64, with the trainer's draws replayed from (--seed, step, flat index) as
common/zero_order_draws.h defines them and test/gpt2_oracle.py's own forward for L+ and L-;
and a check of train_gpt2cpu against it: 3 steps of each method on d2 (B=4, T=16, one batch),
the trainer's per-step dumps (GPT2_TEST_DUMP_ZO) against the oracle's own 3-step run.

  /usr/bin/python3 test/zo_oracle.py [TRAINER]     (PASS/FAIL lines; exit 1 on a failure)
"""
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dp_check import model_params  # noqa: E402
from gpt2_oracle import (HIDDEN, LAYERED, VECTOR, Checks, Config, f32, gets_weight_decay, gpt2_forward,  # noqa: E402
                         init_params, newton_schulz, param_layout, random_bits, splitmix64_scalar)

MASK = (1 << 64) - 1
MEZO_DIRECTION, JAGUAR_SETS, JAGUAR_SIGNS = 1, 2, 3  # ZoStream


def zo_step_key(seed, t, purpose):
    return splitmix64_scalar((splitmix64_scalar(seed ^ 0x7a65726f6f726465) + t * 4 + purpose) & MASK)


def mezo_direction(key, idx):
    """z at flat indices idx: the two 24-bit uniforms exactly as the fp32 code forms them, the
    Box-Muller transform in float64 (the trainer's fp32 sqrtf/logf/sinf differ by ~1e-7)."""
    bits = random_bits(key, idx >> np.uint64(1))
    half, scale = np.float32(0.5), np.float32(1.0 / 16777216.0)
    u1 = ((bits >> np.uint64(40)).astype(np.float32) + half) * scale
    u2 = (((bits >> np.uint64(16)) & np.uint64(0xFFFFFF)).astype(np.float32) + half) * scale
    r = np.sqrt(-2.0 * np.log(u1.astype(np.float64)))
    angle = np.float64(np.float32(6.28318530718)) * u2.astype(np.float64)
    return r * np.where(idx & np.uint64(1), np.sin(angle), np.cos(angle))


def jaguar_count(n, fraction):
    return max(1, min(n, int(n * fraction)))


def jaguar_choose(n, k, key):
    """k distinct indices of range(n), sorted: the partial Fisher-Yates shuffle of the draws."""
    draws = random_bits(key, np.arange(k, dtype=np.uint64))
    idx = list(range(n))
    for i in range(k):
        j = i + int(draws[i] % np.uint64(n - i))
        idx[i], idx[j] = idx[j], idx[i]
    return sorted(idx[:k])


def tensor_slices(cfg):
    """(name, kind, flat offset of each layer slice, rows, cols) in layout order; a vector's
    entries are its rows (cols 1), as common/gpt2_layout.h's ParamTensor."""
    out, at = [], 0
    for (name, kind, shape), layered in zip(param_layout(cfg), LAYERED):
        layers = shape[0] if layered else 1
        per = shape[1:] if layered else shape
        rows, cols = (per[0], per[1]) if len(per) == 2 else (per[0], 1)
        out.append((name, kind, [at + l * rows * cols for l in range(layers)], rows, cols))
        at += layers * rows * cols
    return out


def jaguar_set_indices(cfg, fraction, seed, t):
    """The flat indices of step t's coordinate sets, in the trainer's order (uint64 array)."""
    key = zo_step_key(seed, t, JAGUAR_SETS)
    parts, slice_no = [], 0
    for name, _, offsets, rows, cols in tensor_slices(cfg):
        sampled_rows = cfg.V if name == "wte" else rows
        for offset in offsets:
            k = splitmix64_scalar((key + 2 * slice_no) & MASK)
            r = jaguar_choose(sampled_rows, jaguar_count(sampled_rows, fraction), k)
            c = [0] if cols == 1 else jaguar_choose(cols, jaguar_count(cols, fraction), splitmix64_scalar((k + 1) & MASK))
            parts.append((offset + np.array(r, dtype=np.int64)[:, None] * cols + np.array(c, dtype=np.int64)[None, :]).ravel())
            slice_no += 1
    return np.concatenate(parts).astype(np.uint64)


class ZeroOrderOracle:
    """Float64 parameters (one flat vector) and JAGUAR's m; step(t) is the trainer's step t."""

    def __init__(self, cfg, init, batch, method, lr, wd, eps, tau, beta, fraction, seed):
        self.cfg, self.method, self.lr, self.wd = cfg, method, lr, wd
        self.eps, self.tau, self.beta, self.fraction, self.seed = eps, tau, beta, fraction, seed
        self.flat = torch.tensor(np.concatenate([init[n].ravel() for n, _, _ in param_layout(cfg)]), dtype=torch.float64)
        self.m = torch.zeros_like(self.flat)
        self.inputs, self.targets = batch
        self.slices = tensor_slices(cfg)

    def loss(self, flat):
        p, at = {}, 0
        for name, _, shape in param_layout(self.cfg):
            n = int(np.prod(shape))
            p[name] = flat[at:at + n].view(shape)
            at += n
        with torch.no_grad():
            return gpt2_forward(p, self.inputs, self.targets, self.cfg)[1].item()

    def decays(self, kind):
        return self.wd > 0 and gets_weight_decay(kind, "matrices")

    def step(self, t):
        """Returns (L+, L-, estimate, the set's flat indices or None)."""
        return self.mezo_step(t) if self.method == "mezo" else self.jaguar_step(t)

    def mezo_step(self, t):
        key = zo_step_key(self.seed, t, MEZO_DIRECTION)
        wte_valid, wte_all = self.cfg.V * self.cfg.C, self.cfg.Vp * self.cfg.C
        idx = np.concatenate([np.arange(wte_valid), np.arange(wte_all, self.flat.numel())]).astype(np.uint64)
        z = torch.zeros_like(self.flat)
        z[torch.from_numpy(idx.astype(np.int64))] = torch.from_numpy(mezo_direction(key, idx))
        plus, minus = self.loss(self.flat + self.eps * z), self.loss(self.flat - self.eps * z)
        g = (plus - minus) / (2 * self.eps)
        for _, kind, offsets, rows, cols in self.slices:  # sgd: p -= lr (g z + wd p)
            a, b = offsets[0], offsets[-1] + rows * cols
            decay = self.wd * self.flat[a:b] if self.decays(kind) else 0.0
            self.flat[a:b] -= self.lr * (g * z[a:b] + decay)
        self.z = z
        return plus, minus, g, None

    def jaguar_step(self, t):
        S = torch.from_numpy(jaguar_set_indices(self.cfg, self.fraction, self.seed, t).astype(np.int64))
        s = torch.from_numpy(np.where(random_bits(zo_step_key(self.seed, t, JAGUAR_SIGNS), S.numpy().astype(np.uint64))
                                      & np.uint64(1), 1.0, -1.0))
        shifted = self.flat.clone()
        shifted[S] = self.flat[S] + self.tau * s
        plus = self.loss(shifted)
        shifted[S] = self.flat[S] - self.tau * s
        minus = self.loss(shifted)
        rho = (plus - minus) / (2 * self.tau)
        self.m[S] = self.beta * self.m[S] + (1 - self.beta) * s * rho
        for _, kind, offsets, rows, cols in self.slices:
            for a in offsets:
                p, m = self.flat[a:a + rows * cols], self.m[a:a + rows * cols]
                if self.decays(kind):
                    p -= self.lr * self.wd * p
                if self.method == "jaguar-muon" and kind == HIDDEN:
                    scale = max(1.0, rows / cols) ** 0.5
                    p -= self.lr * scale * newton_schulz(m.view(rows, cols), 5).reshape(-1)
                else:
                    p -= self.lr * torch.sign(m)
        return plus, minus, rho, S.numpy()


# ----------------------------------------------------------------------------------------
# The check against train_gpt2cpu

B, T, SEED, STEPS = 4, 16, 42, 3
# (method, flags): lr large enough that an update is many fp32 ulps of the weights; weight decay on
RUNS = [("mezo", "-l 1e-3 -c 0.1 --zo-eps 1e-3"),
        ("jaguar-sign", "-l 1e-3 -c 0.1 --zo-tau 5e-3 --zo-beta 0.1 --zo-fraction 0.1"),
        ("jaguar-muon", "-l 1e-3 -c 0.1 --zo-tau 5e-3 --zo-beta 0.1 --zo-fraction 0.1")]
# Measured (d2, these flags, seed 42): L+/L- fp32 against float64 2e-8..4e-8. The estimate
# divides the loss difference by 2 eps (2 tau), amplifying that error by ~loss / (eps |g|):
# measured 6e-6..9e-4 relative. MeZO's update lr (g z + wd p) carries the estimate's error
# (measured up to 9e-4), and 3 of them the params' (1.5e-5). JAGUAR's sign updates agree
# exactly but for sign flips (none measured: m on S is (1-beta) s rho, one sign per set unless
# rho ~ 0), NS(m) fp32 against float64: updates 3e-6..9e-6, params after 3 steps 1e-7.
TOL_LOSS, TOL_ESTIMATE = 1e-6, 1e-2
# z from the trainer's update: fp32 rounding of p - lr g z (|p| ~ 0.02, ulp 2e-9, |lr g z| ~ 1e-3 |g|)
# and MeZO's restore drift (an ulp per step); measured 8e-7 to 5e-6.
TOL_DIRECTION = 5e-5
TOL_UPDATE = {"mezo": 1e-2, "jaguar-sign": 1e-4, "jaguar-muon": 1e-4}
TOL_PARAMS = {"mezo": 1e-4, "jaguar-sign": 1e-6, "jaguar-muon": 1e-6}
MAX_FLIP_FRACTION = 1e-3


def write_inputs(work, cfg, init):
    header = np.zeros(256, dtype="<i4")
    header[:8] = [20240326, 3, cfg.maxT, cfg.V, cfg.L, cfg.NH, cfg.C, cfg.Vp]
    with open(os.path.join(work, "init.bin"), "wb") as f:
        f.write(header.tobytes())
        f.write(np.concatenate([init[n].ravel() for n, _, _ in param_layout(cfg)]).astype("<f4").tobytes())
    tokens = np.random.default_rng(SEED).integers(0, cfg.V, size=4 * B * T + 1).astype("<u2")
    shard = np.zeros(256, dtype="<i4")
    shard[:3] = [20240520, 1, tokens.size]
    with open(os.path.join(work, "data.bin"), "wb") as f:
        f.write(shard.tobytes())
        f.write(tokens.tobytes())


def check_method(checks, trainer, work, cfg, init, method, flags):
    name = "zo_oracle/" + method
    prefix, out = os.path.join(work, method), os.path.join(work, method + "_out")
    cmd = [trainer, "-e", os.path.join(work, "init.bin"), "-i", os.path.join(work, "data.bin"), "-j",
           os.path.join(work, "data.bin"), "-b", str(B), "-t", str(T), "-v", "0", "-s", "0", "-a", "1",
           "-x", str(STEPS), "-o", out, "--seed", str(SEED), "--zo", method] + flags.split()
    env = dict(os.environ, GPT2_TEST_DUMP_ZO=prefix, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    run = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300)
    if run.returncode != 0:
        checks.expect(False, name + "/trainer_runs", "exit %d: %s" % (run.returncode, run.stdout.strip()[-300:]))
        return
    values = dict(zip(flags.split()[::2], flags.split()[1::2]))
    batch = np.fromfile(prefix + ".step1.batch.i32", dtype=np.int32).reshape(2, B, T)
    oracle = ZeroOrderOracle(cfg, init, (torch.from_numpy(batch[0]).long(), torch.from_numpy(batch[1]).long()), method,
                             f32(values["-l"]), f32(values["-c"]), f32(values.get("--zo-eps", "1e-3")),
                             f32(values.get("--zo-tau", "5e-3")), f32(values.get("--zo-beta", "0.1")),
                             f32(values.get("--zo-fraction", "0.1")), SEED)
    lr = oracle.lr
    before = [np.fromfile(prefix + ".step%d.params.f32" % t, dtype=np.float32) for t in range(1, STEPS + 1)]
    before.append(model_params(os.path.join(out, "model_%08d.bin" % STEPS)))
    checks.close(name + "/init", before[0], oracle.flat.numpy(), 1e-12)
    for t in range(1, STEPS + 1):
        same_batch = np.array_equal(np.fromfile(prefix + ".step%d.batch.i32" % t, dtype=np.int32).reshape(2, B, T), batch)
        ours = np.fromfile(prefix + ".step%d.zo.f64" % t, dtype=np.float64)
        start = oracle.flat.numpy().copy()
        plus, minus, estimate, S = oracle.step(t)
        step = "%s/step%d" % (name, t)
        checks.expect(same_batch, step + "/batch", "the trainer's batch is step 1's (-a 1)")
        checks.close(step + "/losses", ours[:2], [plus, minus], TOL_LOSS)
        checks.close(step + "/estimate", ours[2:], [estimate], TOL_ESTIMATE)
        # the update of this step from the trainer's own start against the oracle's from its own
        got, want = before[t].astype(np.float64) - before[t - 1], oracle.flat.numpy() - start
        if S is None:  # MeZO's z, recovered from the trainer's own step and estimate: p -= lr (g z + wd p)
            decay = np.zeros(got.size)
            for _, kind, offsets, rows, cols in oracle.slices:
                if oracle.decays(kind):
                    decay[offsets[0]:offsets[-1] + rows * cols] = oracle.wd * before[t - 1][offsets[0]:offsets[-1] + rows * cols]
            checks.close(step + "/direction", (-got / lr - decay) / ours[2], oracle.z.numpy(), TOL_DIRECTION)
        if S is not None and t == 1:  # sign-step coordinates moved by ~lr: exactly S (m is 0 elsewhere)
            sign_part = np.ones(got.size, dtype=bool)
            if method == "jaguar-muon":
                for _, kind, offsets, rows, cols in oracle.slices:
                    if kind == HIDDEN:
                        sign_part[offsets[0]:offsets[-1] + rows * cols] = False
            moved = np.flatnonzero(sign_part & (np.abs(got) > lr / 2))
            expected = np.sort(S.astype(np.int64)[sign_part[S.astype(np.int64)]])
            checks.expect(np.array_equal(moved, expected), step + "/set",
                          "%d coordinates moved by ~lr, oracle's set %d (%d in common)" % (
                              moved.size, expected.size, np.intersect1d(moved, expected).size))
        if S is not None:  # sign flips: a coordinate off by ~2 lr; counted, bounded, then excluded
            flips = np.abs(got - want) > lr
            checks.expect(flips.sum() <= MAX_FLIP_FRACTION * S.size, step + "/sign_flips",
                          "%d of %d set coordinates (max %.0e of them)" % (flips.sum(), S.size, MAX_FLIP_FRACTION))
            got, want = got[~flips], want[~flips]
        checks.close(step + "/update", got, want, TOL_UPDATE[method])
    checks.close(name + "/params_after_%d_steps" % STEPS, before[STEPS], oracle.flat.numpy(), TOL_PARAMS[method])


def main():
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    trainer = sys.argv[1] if len(sys.argv) > 1 else os.path.join(repo, "train_gpt2cpu")
    if not os.access(trainer, os.X_OK):
        print("SKIP zo_oracle: no trainer %s (make train_gpt2cpu)" % trainer)
        return 0
    torch.set_num_threads(1)
    cfg = Config("d2")
    init = init_params(cfg, SEED)
    checks = Checks()
    os.makedirs(os.path.join(repo, "build"), exist_ok=True)
    with tempfile.TemporaryDirectory(dir=os.path.join(repo, "build")) as work:
        write_inputs(work, cfg, init)
        for method, flags in RUNS:
            check_method(checks, trainer, work, cfg, init, method, flags)
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())

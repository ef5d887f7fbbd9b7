#!/usr/bin/env python3
"""Checks for test/test_distributed.sh (data-parallel train_gpt2cpu runs).

  dp_check.py same REF_DIR DIR STEP TOL     losses of metrics.jsonl's train and val records and
                                            the parameters of model_STEP.bin: relative error <= TOL
  dp_check.py vote DUMP_PREFIX RANKS STEPS LR MOMENTUM BYZANTINE OPTIM BITS MODEL_FILE
                                            majority vote (--vote-bits BITS: 1 sends sign(0) as +1,
                                            2 and 8 as 0) recomputed from every rank's dumped
                                            gradients (GPT2_TEST_DUMP_GRAD), step by step, against
                                            the parameters the run wrote (weight decay 0, constant lr)
Prints one PASS/FAIL line each (the caller adds the name); exit 1 on FAIL.
"""
import json
import sys

import numpy as np


def model_params(path, tensors=False):
    """The flat fp32 parameters of an llm.c model file; with tensors=True also the 16 tensors'
    (name, begin, end) in llm.c's order."""
    with open(path, "rb") as f:
        header = np.frombuffer(f.read(256 * 4), dtype=np.int32)
        assert header[0] == 20240326 and header[1] == 3, f"{path}: not an fp32 llm.c model file"
        p = np.frombuffer(f.read(), dtype=np.float32)
    if not tensors:
        return p
    t, L, C, vp = int(header[2]), int(header[4]), int(header[6]), int(header[7])
    sizes = [("wte", vp * C), ("wpe", t * C), ("ln1w", L * C), ("ln1b", L * C), ("qkvw", L * 3 * C * C), ("qkvb", L * 3 * C),
             ("attprojw", L * C * C), ("attprojb", L * C), ("ln2w", L * C), ("ln2b", L * C), ("fcw", L * 4 * C * C),
             ("fcb", L * 4 * C), ("fcprojw", L * 4 * C * C), ("fcprojb", L * C), ("lnfw", C), ("lnfb", C)]
    out, at = [], 0
    for name, n in sizes:
        out.append((name, at, at + n))
        at += n
    assert at == len(p), f"{path}: {len(p)} parameters, the header's shape has {at}"
    return p, out


def records(path, kind):
    out = {}
    for line in open(path):
        r = json.loads(line)
        if r.get("type") == kind:
            out[r["step"]] = r
    return out


def rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        return float("inf")
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


def same(ref_dir, run_dir, step, tol):
    tol = float(tol)
    worst = {}
    for kind in ("train", "val"):
        ref, got = records(ref_dir + "/metrics.jsonl", kind), records(run_dir + "/metrics.jsonl", kind)
        if sorted(ref) != sorted(got) or (kind == "train" and not ref):
            return f"FAIL {kind} records at steps {sorted(got)}, reference {sorted(ref)}"
        if ref:
            worst[kind] = rel([got[s]["loss"] for s in sorted(got)], [ref[s]["loss"] for s in sorted(ref)])
    train_ref, train_got = records(ref_dir + "/metrics.jsonl", "train"), records(run_dir + "/metrics.jsonl", "train")
    worst["grad_norm"] = rel([train_got[s]["grad_norm"] for s in sorted(train_got)], [train_ref[s]["grad_norm"] for s in sorted(train_ref)])
    p_ref, tensors = model_params(f"{ref_dir}/model_{int(step):08d}.bin", tensors=True)
    p_got = model_params(f"{run_dir}/model_{int(step):08d}.bin")
    worst["params"] = rel(p_got, p_ref)
    # tensor by tensor too: a few wrong elements (a shard's leftover) vanish in the whole model's
    # norm. Looser: AdamW's normalized steps on near-zero bias gradients (qkvb) turn the sums'
    # order differences into ~1e-4 of those small tensors; a wrong element is ~1e-1 of its tensor.
    name, err = max(((n, rel(p_got[a:b], p_ref[a:b])) for n, a, b in tensors), key=lambda x: x[1])
    tensor_tol = 1e-3
    text = ", ".join(f"{k} {v:.2e}" for k, v in worst.items())
    ok = all(v <= tol for v in worst.values()) and err <= tensor_tol
    return ("PASS" if ok else "FAIL") + f" (relative errors {text}; tolerance {tol:g}; worst tensor {name} {err:.2e}, tolerance {tensor_tol:g})"


def vote(prefix, ranks, steps, lr, momentum, byzantine, optim, bits, model_file):
    ranks, steps, byzantine, bits = int(ranks), int(steps), int(byzantine), int(bits)
    lr, beta = np.float32(lr), np.float32(momentum)
    p = np.fromfile(f"{prefix}.step1.params.f32", dtype=np.float32).copy()
    m = [np.zeros_like(p) for _ in range(ranks)]
    ties = zeros = flipped = 0
    for step in range(1, steps + 1):
        before = np.fromfile(f"{prefix}.step{step}.params.f32", dtype=np.float32)
        if not np.array_equal(before, p):
            return f"FAIL the parameters before step {step} are not the reference's ({rel(before, p):.2e})"
        signs = []
        zero = np.ones_like(p, dtype=bool)  # every rank's value 0
        for r in range(ranks):
            g = np.fromfile(f"{prefix}.step{step}.rank{r}.f32", dtype=np.float32)
            if optim == "signum":
                m[r] = beta * m[r] + (np.float32(1) - beta) * g
                g = m[r]
            s = np.where(g < 0, -1, 1) if bits == 1 else np.sign(g).astype(np.int32)
            zero &= g == 0
            signs.append(-s if r < byzantine else s)
        total = np.sum(signs, axis=0)
        v = np.sign(total).astype(np.float32)
        honest = np.sign(np.sum([np.sign(x) * (-1 if r < byzantine else 1) for r, x in enumerate(signs)], axis=0))
        ties += int(np.sum((total == 0) & ~zero))
        zeros += int(np.sum(zero))
        flipped += int(np.sum(honest != v))
        p = p - lr * v  # weight decay 0: signsgd.h's p -= lr*wd*p leaves p as it is
    got = model_params(model_file)
    if byzantine > 0 and flipped == 0:
        return "FAIL --byzantine changed no vote coordinate (the test would not notice it being ignored)"
    # with an odd rank count a tie needs a zero among the signs: rare, not required
    if zeros == 0 or (ties == 0 and ranks % 2 == 0):
        return f"FAIL the run had {ties} ties and {zeros} all-zero coordinates: the check needs both"
    err = rel(got, p)
    mismatched = int(np.sum(got != p))
    ok = err <= 1e-6 and mismatched == 0
    return ("PASS" if ok else "FAIL") + (f" ({ranks} ranks, {bits}-bit signs, {steps} steps: {ties} ties, {zeros} all-zero coordinates, "
                                         f"{flipped} coordinates the byzantine ranks flipped; {mismatched} parameters differ, "
                                         f"relative error {err:.2e})")


if __name__ == "__main__":
    verdict = {"same": same, "vote": vote}[sys.argv[1]](*sys.argv[2:])
    print(verdict)
    sys.exit(0 if verdict.startswith("PASS") else 1)

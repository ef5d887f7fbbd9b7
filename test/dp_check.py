#!/usr/bin/env python3
"""Checks for test/test_distributed.sh (data-parallel train_gpt2cpu runs).

  dp_check.py same REF_DIR DIR STEP TOL     losses of metrics.jsonl's train and val records and
                                            the parameters of model_STEP.bin: relative error <= TOL
  dp_check.py vote DUMP_PREFIX RANKS STEPS LR MOMENTUM BYZANTINE OPTIM BITS MODEL_FILE [MODE NOISE SEED [METRICS]]
                                            majority vote (--vote-bits BITS: 1 sends sign(0) as +1,
                                            2 and 8 as 0) recomputed from every rank's dumped
                                            gradients (GPT2_TEST_DUMP_GRAD), step by step, against
                                            the parameters the run wrote (weight decay 0, constant lr);
                                            MODE blind|omniscient (--byzantine-mode), NOISE the
                                            --vote-noise C, its xi drawn here from common/rng.h's
                                            stream (test/gpt2_oracle.py's numpy copy) with --seed SEED;
                                            METRICS: the run's metrics.jsonl (--vote-agreement 1), whose
                                            train records' vote_*mean_agree* fields must equal the ones
                                            recomputed here
Prints one PASS/FAIL line each (the caller adds the name); exit 1 on FAIL.
"""
import json
import sys

import numpy as np

VOTE_NOISE_SALT = 0x564f54454e4f4953  # optim/sign_vote.h


def vote_noise(seed, rank, step, n):
    """xi of rank RANK at step STEP: normal(vote_noise_key(seed, rank, step), i), i < n (optim/sign_vote.h)."""
    from gpt2_oracle import random_bits, random_normal  # (imports torch: only where noise is checked)

    return random_normal(int(random_bits(int(random_bits(seed ^ VOTE_NOISE_SALT, rank)), step)), n)


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


AGREEMENT_TOL = 1e-5  # a few coordinates whose sum is ~0: the ranks' fp32 sums in another order


def agreement(vote, mean):
    """(fraction, |mean|-weighted fraction) of coordinates where vote == sign(mean) (optim/sign_vote.h)."""
    same = vote == np.sign(mean)
    w = np.abs(mean.astype(np.float64))
    return float(np.mean(same)), float(np.sum(w[same]) / np.sum(w)) if np.sum(w) > 0 else 1.0


def expected_sign(x, b, sign):
    """E[sign(x + b xi)], xi ~ N(0, 1): erf(x / (b sqrt 2)); b = 0: sign(x)."""
    if b == 0:
        return sign(x).astype(np.float32)
    import torch
    return torch.erf(torch.from_numpy(x.astype(np.float64)) / (float(b) * np.sqrt(2.0))).numpy().astype(np.float32)


def vote(prefix, ranks, steps, lr, momentum, byzantine, optim, bits, model_file, mode="blind", noise="0", seed="0", metrics=None):
    ranks, steps, byzantine, bits, seed = int(ranks), int(steps), int(byzantine), int(bits), int(seed)
    lr, beta, c = np.float32(lr), np.float32(momentum), np.float32(noise)
    p = np.fromfile(f"{prefix}.step1.params.f32", dtype=np.float32).copy()
    _, tensors = model_params(model_file, tensors=True)
    m = [np.zeros_like(p) for _ in range(ranks)]
    ties = zeros = flipped = noise_moved = 0
    logged = records(metrics, "train") if metrics else None
    agree_worst, agree_lines = 0.0, []
    for step in range(1, steps + 1):
        before = np.fromfile(f"{prefix}.step{step}.params.f32", dtype=np.float32)
        if not np.array_equal(before, p):
            return f"FAIL the parameters before step {step} are not the reference's ({rel(before, p):.2e})"
        sign = (lambda x: np.where(x < 0, -1, 1)) if bits == 1 else (lambda x: np.sign(x).astype(np.int32))
        values = []
        for r in range(ranks):
            g = np.fromfile(f"{prefix}.step{step}.rank{r}.f32", dtype=np.float32)
            if optim == "signum":
                m[r] = beta * m[r] + (np.float32(1) - beta) * g
                g = m[r]
            values.append(g)
        zero = np.all([g == 0 for g in values], axis=0)  # every rank's value 0
        sent = list(values)
        scales = [c * np.float32(max(np.max(np.abs(x[a:b])) for x in values)) for _, a, b in tensors]
        if c > 0:  # b_k = C x the ranks' max |value| over tensor k; xi from each rank's own stream
            for r in range(ranks):
                if mode == "omniscient" and r < byzantine:
                    continue
                xi = vote_noise(seed, r, step, len(p)).astype(np.float32)
                noisy = values[r].copy()
                for (_, a, b), scale in zip(tensors, scales):
                    noisy[a:b] = values[r][a:b] + scale * xi[a:b]
                noise_moved += int(np.sum(sign(noisy) != sign(values[r])))
                sent[r] = noisy
        signs = [sign(x) for x in sent]
        if mode == "omniscient" and byzantine > 0:
            honest_sum = np.sum([values[r] for r in range(byzantine, ranks)], axis=0, dtype=np.float32)
            signs = [-sign(honest_sum) if r < byzantine else s for r, s in enumerate(signs)]
        else:
            signs = [-s if r < byzantine else s for r, s in enumerate(signs)]
        total = np.sum(signs, axis=0)
        v = np.sign(total).astype(np.float32)
        if logged is not None:  # --vote-agreement: against sign(sum of the unperturbed values)
            mean = np.sum(values, axis=0, dtype=np.float32)
            tally = np.zeros_like(p)
            for r in range(ranks):
                if mode == "omniscient" and r < byzantine:
                    e = -sign(np.sum([values[q] for q in range(byzantine, ranks)], axis=0, dtype=np.float32)).astype(np.float32)
                else:
                    e = np.concatenate([expected_sign(values[r][a:b], s, sign) for (_, a, b), s in zip(tensors, scales)])
                    e = -e if r < byzantine else e
                tally += e
            want = agreement(v, mean) + agreement(np.sign(tally), mean)
            rec = logged.get(step - 1, {})
            got = [rec.get(k, np.nan) for k in ("vote_mean_agree", "vote_mean_agree_w", "vote_expected_mean_agree", "vote_expected_mean_agree_w")]
            err = float(np.max(np.abs(np.subtract(got, want))))
            agree_worst = err if not err <= agree_worst else agree_worst  # NaN (a missing field) sticks
            agree_lines.append("step %d: logged %s, numpy %s" % (step, " ".join(f"{x:.6f}" for x in got), " ".join(f"{x:.6f}" for x in want)))
        honest = np.sign(np.sum([sign(x) for x in sent], axis=0))  # every rank sending its own sign
        ties += int(np.sum((total == 0) & ~zero))
        zeros += int(np.sum(zero))
        flipped += int(np.sum(honest != v))
        p = p - lr * v  # weight decay 0: signsgd.h's p -= lr*wd*p leaves p as it is
    got = model_params(model_file)
    if byzantine > 0 and flipped == 0:
        return "FAIL --byzantine changed no vote coordinate (the test would not notice it being ignored)"
    if c > 0 and noise_moved == 0:
        return "FAIL --vote-noise changed no sent sign (the test would not notice it being ignored)"
    # with an odd rank count a tie needs a zero among the signs: rare, not required;
    # noise leaves no exact zero
    if (zeros == 0 and c == 0) or (ties == 0 and ranks % 2 == 0 and c == 0):
        return f"FAIL the run had {ties} ties and {zeros} all-zero coordinates: the check needs both"
    if logged is not None and not agree_worst <= AGREEMENT_TOL:
        return f"FAIL --vote-agreement fields off by {agree_worst:.2e} (tolerance {AGREEMENT_TOL:g}): " + "; ".join(agree_lines)
    err = rel(got, p)
    mismatched = int(np.sum(got != p))
    ok = err <= 1e-6 and mismatched == 0
    return ("PASS" if ok else "FAIL") + (f" ({ranks} ranks, {bits}-bit signs, {steps} steps: {ties} ties, {zeros} all-zero coordinates, "
                                         f"{flipped} coordinates the byzantine ranks flipped ({mode}), {noise_moved} signs the noise "
                                         f"(C {float(c):g}) moved; {mismatched} parameters differ, "
                                         f"relative error {err:.2e}" + (f"; agreement fields within {agree_worst:.1e}: "
                                         + "; ".join(agree_lines) if logged is not None else "") + ")")


if __name__ == "__main__":
    verdict = {"same": same, "vote": vote}[sys.argv[1]](*sys.argv[2:])
    print(verdict)
    sys.exit(0 if verdict.startswith("PASS") else 1)

"""PyTorch oracle for the GPT-2 trainers: an independent fp32 reference of the model, its
gradients and one short run of every optimizer, written as a named-tensor file
(common/named_tensors.h, test/named_tensors.py) for the C++ and CUDA tests.

Usage:
  /usr/bin/python3 test/gpt2_oracle.py --out build/gpt2_debug_state.bin [--model d2 --B 4 --T 64 --seed 42]
  /usr/bin/python3 test/gpt2_oracle.py --selftest [--out FILE]   (PASS/FAIL lines; exit 1 on a failure)

Plain PyTorch (1.13 CPU or 2.x), no fused attention. Parameters are stacked exactly as
common/gpt2_layout.h lays them out (wte (Vp,C), wpe (maxT,C), ln1w (L,C), ..., qkvw (L,3C,C),
...; matrices (out,in) as nn.Linear stores them). Initial weights follow common/rng.h
(splitmix64 counter RNG, Box-Muller), so every implementation starts from the same point.

Records of the debug state (float32 unless said otherwise; "the 16 tensors" are the layout's,
each with its layout shape, per-layer ones stacked along dim 0):
  config                int32 (9,): maxT, V, Vp, L, NH, C, B, T, seed
  init/<name>           the 16 initial parameter tensors
  batch/inputs          int32 (B,T): tokens[:, :-1] of B*(T+1) random tokens in [0,V)
  batch/targets         int32 (B,T): tokens[:, 1:]
  forward/logits        (B,T,V): the first V columns of the logits at init
  forward/loss          (1,): mean cross-entropy over the B*T positions
  grad/<name>           gradient of forward/loss for each of the 16 tensors
  optim/<R>/flags       bytes: trainer flags selecting run R, for parse_train_args_string
  optim/<R>/losses      (3,): the loss at each of 3 steps, before that step's update
                        (the same batch every step, unless optim/<R>/inputs exists)
  optim/<R>/grad_norms  (3,): the global gradient norm of each step, before clipping
  optim/<R>/lrs         (3,): the learning rate of each step (peak times the schedule factor;
                        muon's fallback uses --fallback-lr times the same factor)
  optim/<R>/params      (num_params,): the flat parameter vector (the 16 tensors in layout
                        order) after the 3 updates
  optim/<R>/inputs, optim/<R>/targets  int32 (3,B,T): only for runs that take a new batch
                        every step (ssvr); the others use batch/ every step
  Runs R: sgd, sgd_momentum, sgd_nesterov, signsgd, signum, adamw, lion, muon, nsgd (per layer slice),
          nsgd_global (--nsgd-norm global), ssvr, muon_rms (--muon-scale rms), muon_polar (--muon-ns polar-express),
          group_sgd_signsgd, group_signum_adamw (--optim-group: each group its own optimizer, GroupedOptimizer);
          fmuon, smuon (F-Muon and S-Muon, arXiv 2512.09678).

Step semantics (sign(0) = 0): forward and backward of the mean loss; global norm
sqrt(sum g^2) over all parameters; when --grad-clip > 0 and the norm exceeds it, every
gradient is scaled by clip / (norm + 1e-6); lr = peak * factor(step); then the update.
sgd and adamw are torch.optim.SGD / torch.optim.AdamW themselves (two parameter groups:
with and without weight decay); signsgd, signum, lion, muon (and fmuon, smuon), nsgd and ssvr are written out
below (the zero-order methods, --zo, in test/zo_oracle.py). ssvr also takes, from the second step on,
the gradient at the previous step's parameters on the same batch (clipped by its own norm).
"""
import argparse
import math
import os
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from named_tensors import read_named_tensors, write_named_tensors  # noqa: E402

# ----------------------------------------------------------------------------------------
# Model shapes and the parameter layout (common/gpt2_layout.h)

MODELS = {"d2": (2, 64, 4), "d4": (4, 128, 4), "d6": (6, 384, 6), "d12": (12, 768, 12),
          "d24": (24, 1024, 16), "d36": (36, 1280, 20), "d48": (48, 1600, 25)}  # L, C, NH


class Config:
    def __init__(self, model, vocab=50257):
        if model not in MODELS:
            raise SystemExit("error: unknown model '%s' (%s)" % (model, "|".join(MODELS)))
        self.L, self.C, self.NH = MODELS[model]
        # GPT-2's 50257 padded to 50304 (a multiple of 128), as any other --vocab
        self.maxT, self.V, self.Vp = 1024, vocab, (vocab + 127) // 128 * 128


HIDDEN, EMBEDDING, VECTOR = "hidden", "embedding", "vector"


def param_layout(cfg):
    """The 16 tensors in llm.c order: (name, kind, shape)."""
    L, C = cfg.L, cfg.C
    return [("wte", EMBEDDING, (cfg.Vp, C)), ("wpe", EMBEDDING, (cfg.maxT, C)),
            ("ln1w", VECTOR, (L, C)), ("ln1b", VECTOR, (L, C)),
            ("qkvw", HIDDEN, (L, 3 * C, C)), ("qkvb", VECTOR, (L, 3 * C)),
            ("attprojw", HIDDEN, (L, C, C)), ("attprojb", VECTOR, (L, C)),
            ("ln2w", VECTOR, (L, C)), ("ln2b", VECTOR, (L, C)),
            ("fcw", HIDDEN, (L, 4 * C, C)), ("fcb", VECTOR, (L, 4 * C)),
            ("fcprojw", HIDDEN, (L, C, 4 * C)), ("fcprojb", VECTOR, (L, C)),
            ("lnfw", VECTOR, (C,)), ("lnfb", VECTOR, (C,))]


# ----------------------------------------------------------------------------------------
# Counter-based RNG and the initialization (common/rng.h), vectorized over the counter

GOLDEN, MIX1, MIX2 = np.uint64(0x9E3779B97F4A7C15), np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


def splitmix64(x):
    """splitmix64 on a uint64 array (or scalar), wrapping mod 2^64."""
    x = np.asarray(x, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = x + GOLDEN
        z = (z ^ (z >> np.uint64(30))) * MIX1
        z = (z ^ (z >> np.uint64(27))) * MIX2
    return z ^ (z >> np.uint64(31))


def random_bits(key, counters):
    """random_bits(key, i) of common/rng.h: splitmix64(splitmix64(key) + i), over an array of counters."""
    with np.errstate(over="ignore"):
        return splitmix64(splitmix64(np.uint64(key)) + np.asarray(counters, dtype=np.uint64))


def random_uniform(key, counters):
    bits = random_bits(key, counters)
    return ((bits >> np.uint64(11)).astype(np.float64) + 0.5) * (1.0 / 9007199254740992.0)


def random_normal(key, n):
    """normal(key, i) for i in 0..n-1, in float64."""
    i = np.arange(n, dtype=np.uint64)
    u1 = random_uniform(key, np.uint64(2) * i)
    u2 = random_uniform(key, np.uint64(2) * i + np.uint64(1))
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(6.283185307179586476925286766559 * u2)


def init_params(cfg, seed):
    """Name -> float32 numpy array, GPT-2's init drawn as common/rng.h draws it."""
    residual_std = np.float32(0.02) / np.sqrt(np.float32(2.0) * np.float32(cfg.L))  # float32 math, as the C++
    params = {}
    for k, (name, kind, shape) in enumerate(param_layout(cfg)):
        numel = int(np.prod(shape))
        if kind == VECTOR:
            fill = 1.0 if name in ("ln1w", "ln2w", "lnfw") else 0.0
            params[name] = np.full(shape, fill, dtype=np.float32)
            continue
        std = np.float64(residual_std if name in ("attprojw", "fcprojw") else np.float32(0.02))
        valid = cfg.V * cfg.C if name == "wte" else numel  # wte's padding rows stay zero
        flat = np.zeros(numel, dtype=np.float32)
        flat[:valid] = (std * random_normal(seed * 16 + k, valid)).astype(np.float32)
        params[name] = flat.reshape(shape)
    return params


# ----------------------------------------------------------------------------------------
# The model: works in any float dtype (float32 for the records, float64 for the checks)

def layer_norm(x, w, b, eps=1e-5):
    mean = x.mean(dim=-1, keepdim=True)
    var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)  # biased, as nn.LayerNorm
    return (x - mean) * torch.rsqrt(var + eps) * w + b


def gelu_tanh(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def causal_attention(qkv, NH):
    B, T, C3 = qkv.shape
    C = C3 // 3
    hs = C // NH
    q, k, v = qkv.split(C, dim=-1)
    q, k, v = [t.reshape(B, T, NH, hs).transpose(1, 2) for t in (q, k, v)]  # (B,NH,T,hs)
    scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hs))
    causal = torch.tril(torch.ones(T, T, dtype=torch.bool))
    scores = scores.masked_fill(~causal, float("-inf"))
    y = torch.softmax(scores, dim=-1) @ v
    return y.transpose(1, 2).reshape(B, T, C)


def gpt2_forward(p, inputs, targets, cfg):
    """Returns (logits over the first V columns (B,T,V), mean cross-entropy loss)."""
    B, T = inputs.shape
    x = p["wte"][inputs] + p["wpe"][:T].unsqueeze(0)
    for l in range(cfg.L):
        h = layer_norm(x, p["ln1w"][l], p["ln1b"][l])
        qkv = F.linear(h, p["qkvw"][l], p["qkvb"][l])
        x = x + F.linear(causal_attention(qkv, cfg.NH), p["attprojw"][l], p["attprojb"][l])
        h = layer_norm(x, p["ln2w"][l], p["ln2b"][l])
        h = gelu_tanh(F.linear(h, p["fcw"][l], p["fcb"][l]))
        x = x + F.linear(h, p["fcprojw"][l], p["fcprojb"][l])
    x = layer_norm(x, p["lnfw"], p["lnfb"])
    logits = (x @ p["wte"].t())[..., :cfg.V]  # tied head; padding columns never reach the loss
    loss = F.cross_entropy(logits.reshape(B * T, cfg.V), targets.reshape(B * T))
    return logits, loss


def torch_params(np_params, dtype=torch.float32):
    return {n: torch.tensor(a, dtype=dtype).requires_grad_(True) for n, a in np_params.items()}


def loss_and_grads(p, inputs, targets, cfg):
    for t in p.values():
        t.grad = None
    logits, loss = gpt2_forward(p, inputs, targets, cfg)
    loss.backward()
    return logits, loss


# ----------------------------------------------------------------------------------------
# Optimizer flags: the subset of common/train_config.h the runs use, with its defaults.
# Values are read as float32, as the C++ reads them with strtof.

def f32(text):
    return float(np.float32(text))


DEFAULT_LR = {"sgd": 1e-2, "signsgd": 1e-4, "signum": 1e-4, "adamw": 6e-4, "lion": 1e-4, "muon": 2e-2, "nsgd": 1e-3,
              "ssvr": 1e-4}
NSGD_GLOBAL_LR = 1e-1  # --nsgd-norm global's default
MUONS = ("muon", "fmuon", "smuon")  # one algorithm with its matrices, fallback and defaults


def parse_optim_flags(line):
    s = dict(optim="adamw", lr=-1.0, momentum=-1.0, nesterov=-1, beta1=-1.0, beta2=-1.0, eps=f32("1e-8"),
             wd=0.0, wd_on="matrices", grad_clip=1.0, ns_steps=5, fallback="adamw", fallback_lr=-1.0,
             schedule="cosine", warmup=0, warmup_init=0.0, final_frac=0.0, wsd_decay_frac=f32("0.2"), wsd_shape="sqrt",
             max_steps=-1, muon_scale="shape", muon_ns="quintic", nsgd_norm="tensor", warmup_shape="linear",
             fanion_alpha=f32("0.5"), smuon_sign_scale=f32("0.003"))
    floats = {"-l": "lr", "--momentum": "momentum", "--beta1": "beta1", "--beta2": "beta2", "--eps": "eps",
              "-c": "wd", "--grad-clip": "grad_clip", "--fallback-lr": "fallback_lr", "--warmup-init": "warmup_init",
              "-q": "final_frac", "--wsd-decay-frac": "wsd_decay_frac", "--fanion-alpha": "fanion_alpha",
              "--smuon-sign-scale": "smuon_sign_scale"}
    ints = {"--nesterov": "nesterov", "--muon-ns-steps": "ns_steps", "-u": "warmup", "-x": "max_steps"}
    words = {"--optim": "optim", "--wd-on": "wd_on", "--muon-fallback": "fallback", "--schedule": "schedule",
             "--wsd-shape": "wsd_shape", "--muon-scale": "muon_scale", "--muon-ns": "muon_ns", "--nsgd-norm": "nsgd_norm",
             "--warmup-shape": "warmup_shape"}
    groups = {}  # --optim-group GROUP=RULE[:LR], repeatable
    tokens = line.split()
    if len(tokens) % 2:
        raise SystemExit("error: flags '%s' are not flag/value pairs" % line)
    for flag, value in zip(tokens[::2], tokens[1::2]):
        if flag == "--optim-group":
            group, rule_lr = value.split("=")
            rule, _, lr = rule_lr.partition(":")
            groups[group] = (rule, f32(lr) if lr else -1.0)
        elif flag in floats:
            s[floats[flag]] = f32(value)
        elif flag in ints:
            s[ints[flag]] = int(value)
        elif flag in words:
            s[words[flag]] = value
        else:
            raise SystemExit("error: the oracle does not know flag '%s'" % flag)
    # resolve_optim_defaults() of optim/optim_config.h. A group's rule takes --momentum, --nesterov,
    # --beta1, --beta2 when given, else its own rule's defaults; its lr defaults to the rule's.
    s["groups"] = {}
    for group, (rule, lr) in groups.items():
        s["groups"][group] = dict(
            optim=rule, lr=lr if lr >= 0 else f32(DEFAULT_LR[rule]),
            momentum=s["momentum"] if s["momentum"] >= 0 else f32("0.95" if rule == "muon" else "0.9"),
            nesterov=s["nesterov"] if s["nesterov"] >= 0 else (1 if rule == "muon" else 0),
            beta1=s["beta1"] if s["beta1"] >= 0 else f32("0.9"),
            beta2=s["beta2"] if s["beta2"] >= 0 else f32("0.99" if rule == "lion" else "0.95"))
    muon = s["optim"] in MUONS
    muon_rms = muon and s["muon_scale"] == "rms"
    if s["lr"] < 0:
        nsgd_global = s["optim"] == "nsgd" and s["nsgd_norm"] == "global"
        s["lr"] = f32(NSGD_GLOBAL_LR) if nsgd_global else f32(DEFAULT_LR["adamw" if muon_rms else "muon" if muon else s["optim"]])
    if s["fallback_lr"] < 0:
        s["fallback_lr"] = s["lr"] if muon_rms else f32(DEFAULT_LR[s["fallback"]])
    if s["momentum"] < 0:
        s["momentum"] = f32("0.95") if muon else f32("0.9")
    if s["nesterov"] < 0:
        s["nesterov"] = 1 if muon else 0
    lion_betas = s["optim"] == "lion" or (muon and s["fallback"] == "lion")
    if s["beta1"] < 0:
        s["beta1"] = f32("0.9")
    if s["beta2"] < 0:
        s["beta2"] = f32("0.99") if lion_betas else f32("0.95")
    return s


def schedule_factor(s, step):
    """The lr multiplier of 0-based step `step`."""
    warmup, max_steps, low = s["warmup"], s["max_steps"], s["final_frac"]
    cos_warmup = s["warmup_shape"] == "cos" and warmup > 0
    if step < warmup:
        if cos_warmup:  # OneCycleLR's first phase: from warmup_init at step 0 to 1 at step warmup - 1
            if warmup == 1:
                return 1.0
            return 1.0 + (s["warmup_init"] - 1.0) / 2.0 * (math.cos(math.pi * step / (warmup - 1)) + 1.0)
        return s["warmup_init"] + (1.0 - s["warmup_init"]) * (step + 1) / warmup
    # OneCycleLR's second phase starts at the peak step warmup - 1
    progress = (step - (warmup - 1 if cos_warmup else warmup)) / max(1, max_steps - warmup)
    if s["schedule"] == "cosine":
        return low + (1.0 - low) * 0.5 * (1.0 + math.cos(math.pi * progress))
    if s["schedule"] == "linear":
        return 1.0 - (1.0 - low) * progress
    if s["schedule"] == "constant":
        return 1.0
    if s["schedule"] == "wsd":
        decay_steps = int(s["wsd_decay_frac"] * max_steps)
        decay_start = max_steps - decay_steps
        if step < decay_start:
            return 1.0
        decayed = (step - decay_start) / max(1, decay_steps)
        return 1.0 - (1.0 - low) * (math.sqrt(decayed) if s["wsd_shape"] == "sqrt" else decayed)
    raise SystemExit("error: unknown schedule '%s'" % s["schedule"])


def gets_weight_decay(kind, wd_on):
    return {"matrices": kind != VECTOR, "hidden": kind == HIDDEN, "all": True}[wd_on]


# ----------------------------------------------------------------------------------------
# Optimizers. Each takes [(param, kind)] and the settings; step(lr) applies one update.

class TorchOptimizer:
    """torch.optim.SGD / AdamW with a weight-decay group and a no-decay group."""

    def __init__(self, entries, s, algorithm):
        groups = []
        for decays in (True, False):
            ps = [p for p, kind in entries if gets_weight_decay(kind, s["wd_on"]) == decays]
            if ps:
                groups.append({"params": ps, "weight_decay": s["wd"] if decays else 0.0})
        if algorithm == "sgd":
            self.opt = torch.optim.SGD(groups, lr=s["lr"], momentum=s["momentum"], dampening=0.0,
                                       nesterov=bool(s["nesterov"]))
        else:
            self.opt = torch.optim.AdamW(groups, lr=s["lr"], betas=(s["beta1"], s["beta2"]), eps=s["eps"])

    def step(self, lr):
        for g in self.opt.param_groups:
            g["lr"] = lr
        self.opt.step()


class SignOptimizer:
    """signsgd, signum and lion: decoupled weight decay, then a step of lr * sign(direction)."""

    def __init__(self, entries, s, algorithm):
        self.algorithm, self.s = algorithm, s
        self.entries = [(p, gets_weight_decay(kind, s["wd_on"])) for p, kind in entries]
        self.momentum = [torch.zeros_like(p) for p, _ in entries]

    @torch.no_grad()
    def step(self, lr):
        s = self.s
        for (p, decays), m in zip(self.entries, self.momentum):
            g = p.grad
            if self.algorithm == "signsgd":
                direction = g
            elif self.algorithm == "signum":
                m.mul_(s["momentum"]).add_(g, alpha=1.0 - s["momentum"])
                direction = m
            else:  # lion: interpolate for the step, then update the momentum with beta2
                direction = m * s["beta1"] + g * (1.0 - s["beta1"])
                m.mul_(s["beta2"]).add_(g, alpha=1.0 - s["beta2"])
            if decays and s["wd"] > 0:
                p.sub_(p * (lr * s["wd"]))
            p.sub_(torch.sign(direction) * lr)


NS_COEFFS = (3.4445, -4.7750, 2.0315)
# Polar Express (arXiv 2505.16932), per iteration, as modded-nanogpt's polar_express_coeffs.
POLAR_EXPRESS = [(8.156554524902461, -22.48329292557795, 15.878769915207462),
                 (4.042929935166739, -2.808917465908714, 0.5000178451051316),
                 (3.8916678022926607, -2.772484153217685, 0.5060648178503393),
                 (3.285753657755655, -2.3681294933425376, 0.46449024233003106),
                 (2.3465413258596377, -1.7097828382687081, 0.42323551169305323)]


def newton_schulz(u, steps, ns="quintic"):
    """Approximately orthogonalizes u (fp32): the quintic Newton-Schulz iteration, or Polar Express."""
    tall = u.shape[0] > u.shape[1]
    x = u.t() if tall else u  # work on the wide orientation: X X^T is the small Gram matrix
    if ns == "polar-express":
        x = x / (torch.linalg.norm(x) * 1.02 + 1e-6)
    else:
        x = x / (torch.linalg.norm(x) + 1e-7)
    for i in range(steps):
        a, b, c = NS_COEFFS if ns == "quintic" else POLAR_EXPRESS[min(i, len(POLAR_EXPRESS) - 1)]
        gram = x @ x.t()
        x = a * x + (b * gram + c * (gram @ gram)) @ x
    return x.t() if tall else x


# Tensors stacked over the layers (a layer slice each), in param_layout's order: all but wte, wpe, lnfw, lnfb.
LAYERED = [False, False] + [True] * 12 + [False, False]


class NSGD:
    """--nsgd-norm tensor: the heavy-tail paper's NSGD (arXiv 2602.07425, its src/optim/nsgd.py), per
    PyTorch parameter there, per layer slice here: g / (||g||_2 + 1e-8), then buf = beta buf + (1 - beta) g,
    p *= 1 - lr wd, p -= lr buf; the buffer starts at zero (theirs at a copy of the parameters).
    --nsgd-norm global: p -= lr * m / ||m||, m the momentum of the raw gradients, the norm over the whole model."""

    def __init__(self, entries, s):
        self.s = s
        self.entries = [(p, gets_weight_decay(kind, s["wd_on"])) for p, kind in entries]
        self.momentum = [torch.zeros_like(p) for p, _ in entries]

    @torch.no_grad()
    def step(self, lr):
        if self.s["nsgd_norm"] == "tensor":
            return self.step_per_slice(lr)
        beta = self.s["momentum"]
        for (p, _), m in zip(self.entries, self.momentum):
            m.mul_(beta).add_(p.grad, alpha=1.0 - beta)
        norm = math.sqrt(sum(float((m.double() ** 2).sum()) for m in self.momentum))
        for (p, decays), m in zip(self.entries, self.momentum):
            if decays and self.s["wd"] > 0:
                p.sub_(p * (lr * self.s["wd"]))
            if norm > 0:
                p.sub_(m * (lr / norm))

    @torch.no_grad()
    def step_per_slice(self, lr):
        beta, wd = self.s["momentum"], self.s["wd"]
        for ((p, decays), m), layered in zip(zip(self.entries, self.momentum), LAYERED):
            slices = range(p.shape[0]) if layered else [slice(None)]
            for l in slices:
                g = p.grad[l]
                g = g / (g.norm(2) + 1e-8)
                m[l].mul_(beta).add_(g, alpha=1.0 - beta)
                if decays and wd != 0:
                    p[l].mul_(1.0 - lr * wd)
                p[l].add_(m[l] * (-lr))


class SSVR:
    """v_t = g(x_t) + M (v_{t-1} - g(x_{t-1})) on the same batch (M = --momentum), p -= lr sign(v)."""

    def __init__(self, entries, s):
        self.s = s
        self.entries = [(p, gets_weight_decay(kind, s["wd_on"])) for p, kind in entries]
        self.v = [torch.zeros_like(p) for p, _ in entries]
        self.prev = None  # the parameters before the last step

    @torch.no_grad()
    def step(self, lr, prev_grads):
        """prev_grads: the gradients at self.prev on this step's batch (None at the first step)."""
        past = self.s["momentum"]
        for i, (p, decays) in enumerate(self.entries):
            correction = self.v[i] - prev_grads[i] if prev_grads is not None else torch.zeros_like(p)
            self.v[i] = p.grad + past * correction
        self.prev = [p.detach().clone() for p, _ in self.entries]
        for (p, decays), v in zip(self.entries, self.v):
            if decays and self.s["wd"] > 0:
                p.sub_(p * (lr * self.s["wd"]))
            p.sub_(torch.sign(v) * lr)


class Muon:
    """Muon on every layer slice of the hidden matrices; the rest goes to the fallback.
    fmuon, smuon (arXiv 2512.09678): the update (1 - alpha) scale NS(u) + alpha u / ||u||_F
    (fmuon) or alpha s sign(u) (smuon), --muon-scale's scale on the NS part only."""

    def __init__(self, entries, s):
        self.s = s
        self.matrices = [(p, gets_weight_decay(kind, s["wd_on"])) for p, kind in entries if kind == HIDDEN]
        self.momentum = [torch.zeros_like(p) for p, _ in self.matrices]
        rest = [(p, kind) for p, kind in entries if kind != HIDDEN]
        fb = dict(s, lr=s["fallback_lr"])
        if s["fallback"] == "adamw":
            self.fallback = TorchOptimizer(rest, fb, "adamw")
        elif s["fallback"] in ("signsgd", "lion"):
            self.fallback = SignOptimizer(rest, fb, s["fallback"])
        else:
            raise SystemExit("error: the oracle has no muon fallback '%s'" % s["fallback"])

    @torch.no_grad()
    def step(self, lr, fallback_lr):
        s, beta = self.s, self.s["momentum"]
        for (p, decays), m in zip(self.matrices, self.momentum):
            rows, cols = p.shape[1], p.shape[2]
            scale = 0.2 * max(rows, cols) ** 0.5 if s["muon_scale"] == "rms" else max(1.0, rows / cols) ** 0.5
            for l in range(p.shape[0]):
                g = p.grad[l]
                m[l].mul_(beta).add_(g, alpha=1.0 - beta)
                u = g * (1.0 - beta) + m[l] * beta if s["nesterov"] else m[l]
                update = newton_schulz(u, s["ns_steps"], s["muon_ns"]) * scale
                alpha = s["fanion_alpha"]
                if s["optim"] == "fmuon":
                    norm = float(u.double().norm())
                    update = update * (1.0 - alpha) + (u / norm if norm > 0 else torch.zeros_like(u)) * alpha
                elif s["optim"] == "smuon":
                    update = update * (1.0 - alpha) + torch.sign(u) * (alpha * s["smuon_sign_scale"])
                if decays and s["wd"] > 0:
                    p[l].sub_(p[l] * (lr * s["wd"]))
                p[l].sub_(update * lr)
        self.fallback.step(fallback_lr)


# --optim-group's groups by tensor name (optim/param_groups.h): everything else is "norms".
GROUP_OF = {"wte": "wte", "wpe": "wpe", "qkvw": "attn", "attprojw": "attn", "fcw": "mlp", "fcprojw": "mlp"}


class GroupedOptimizer:
    """--optim-group: each group's tensors under their own optimizer (own state, rule, lr and
    hyperparameters); the groups not named share one optimizer of --optim at -l."""

    def __init__(self, named_entries, s):
        self.parts = []  # (optimizer, its peak lr)
        rest = [(p, kind) for name, p, kind in named_entries if GROUP_OF.get(name, "norms") not in s["groups"]]
        if rest:
            self.parts.append((make_optimizer(rest, s), s["lr"]))
        for group, g in s["groups"].items():
            mine = [(p, kind) for name, p, kind in named_entries if GROUP_OF.get(name, "norms") == group]
            self.parts.append((make_optimizer(mine, dict(s, **g)), g["lr"]))

    def step(self, factor):
        for opt, peak in self.parts:
            opt.step(peak * factor)


def make_optimizer(entries, s):
    if s["optim"] in ("sgd", "adamw"):
        return TorchOptimizer(entries, s, s["optim"])
    if s["optim"] in ("signsgd", "signum", "lion"):
        return SignOptimizer(entries, s, s["optim"])
    if s["optim"] in MUONS:
        return Muon(entries, s)
    if s["optim"] == "nsgd":
        return NSGD(entries, s)
    if s["optim"] == "ssvr":
        return SSVR(entries, s)
    raise SystemExit("error: unknown optimizer '%s'" % s["optim"])


@torch.no_grad()
def clip_gradients(params, clip):
    """Returns the global norm before clipping; scales the gradients when it exceeds clip."""
    norm = math.sqrt(sum(float((p.grad.double() ** 2).sum()) for p in params))
    if clip > 0 and norm > clip:
        for p in params:
            p.grad.mul_(clip / (norm + 1e-6))
    return norm


def flat_params(p, cfg):
    return torch.cat([p[name].detach().reshape(-1) for name, _, _ in param_layout(cfg)]).numpy().copy()


STEPS = 3

RUNS = [  # name, trainer flags
    ("sgd", "--optim sgd -l 0.1 --momentum 0 -c 0.1 --schedule constant --grad-clip 0"),
    ("sgd_momentum", "--optim sgd -l 0.1 --momentum 0.9 -c 0.1 --schedule constant --grad-clip 0.5"),
    ("sgd_nesterov", "--optim sgd -l 0.1 --momentum 0.9 --nesterov 1 -c 0.1 --schedule constant --grad-clip 0"),
    ("signsgd", "--optim signsgd -l 3e-4 -c 0.1 --schedule constant --grad-clip 0"),
    ("signum", "--optim signum -l 3e-4 --momentum 0.9 -c 0.1 --schedule constant --grad-clip 0"),
    ("adamw", "--optim adamw -l 6e-4 --beta1 0.9 --beta2 0.95 --eps 1e-8 -c 0.1 -u 1 --schedule cosine -q 0.1 --grad-clip 0.5"),
    ("lion", "--optim lion -l 3e-4 --beta1 0.9 --beta2 0.99 -c 0.1 --schedule constant --grad-clip 0"),
    ("muon", "--optim muon -l 0.005 --momentum 0.95 --nesterov 1 -c 0.1 --muon-fallback adamw --fallback-lr 5e-4"
             " -u 2 --warmup-init 0.25 --schedule cosine -q 0.1 --grad-clip 1.1"),
    ("nsgd", "--optim nsgd -l 0.01 --momentum 0.9 -c 0.1 -u 2 --warmup-init 0.1 --warmup-shape cos --schedule cosine -q 0.1"
             " --grad-clip 0.5"),
    ("nsgd_global", "--optim nsgd --nsgd-norm global -l 0.05 --momentum 0.9 -c 0.1 --schedule constant --grad-clip 0"),
    ("ssvr", "--optim ssvr -l 3e-4 --momentum 0.9 -c 0.1 --schedule constant --grad-clip 0.5"),
    ("muon_rms", "--optim muon --muon-scale rms -l 5e-4 -c 0.1 --schedule constant --grad-clip 0"),
    ("muon_polar", "--optim muon --muon-ns polar-express -l 0.005 -c 0.1 --muon-fallback adamw --fallback-lr 5e-4"
                   " --schedule constant --grad-clip 0"),
    # --optim-group: SignSGD on the embeddings, SGD (its default momentum 0.9) elsewhere; signum
    # with AdamW on the norms and biases (weight decay on all) and Lion (its own beta2 0.99) on attn
    ("group_sgd_signsgd", "--optim sgd -l 0.05 -c 0.1 --optim-group wte=signsgd:3e-4 --schedule constant --grad-clip 0.5"),
    ("group_signum_adamw", "--optim signum -l 3e-4 -c 0.1 --wd-on all --optim-group norms=adamw:1e-3 --optim-group attn=lion"
                           " -u 1 --schedule cosine -q 0.1 --grad-clip 0"),
    ("fmuon", "--optim fmuon --fanion-alpha 0.4 -l 0.008 -c 0.1 --muon-fallback adamw --fallback-lr 5e-4 --schedule constant"
              " --grad-clip 1.1"),
    ("smuon", "--optim smuon --fanion-alpha 0.3 --smuon-sign-scale 0.01 --muon-scale rms --nesterov 0 --momentum 0.9"
              " -l 5e-4 -c 0.1 --schedule constant --grad-clip 0"),
]


# Runs that take a new batch every step: on one batch ssvr's correction g(x_{t-1}) cancels
# v_{t-1} exactly and ssvr would be signsgd.
STEP_BATCH_RUNS = ("ssvr",)


def run_optimizer(flags, init, batches, cfg):
    """Three steps on batches[step] (inputs, targets); returns (losses, grad norms, lrs, final flat params, settings)."""
    s = parse_optim_flags(flags)
    p = torch_params(init)
    entries = [(p[name], kind) for name, kind, _ in param_layout(cfg)]
    if s["groups"] and s["optim"] in ("muon", "nsgd", "ssvr"):
        raise SystemExit("error: the oracle has no --optim-group under --optim %s" % s["optim"])
    opt = GroupedOptimizer([(name, p[name], kind) for name, kind, _ in param_layout(cfg)], s) if s["groups"] else make_optimizer(entries, s)
    losses, norms, lrs = [], [], []
    for step in range(STEPS):
        inputs, targets = batches[step]
        _, loss = loss_and_grads(p, inputs, targets, cfg)
        losses.append(loss.item())
        norms.append(clip_gradients(list(p.values()), s["grad_clip"]))
        factor = schedule_factor(s, step)
        lrs.append(s["lr"] * factor)
        if s["optim"] == "ssvr":
            prev_grads = None
            if opt.prev is not None:  # the gradient at the previous parameters on the same batch
                q = {name: t.detach().clone().requires_grad_(True) for name, t in
                     zip([n for n, _, _ in param_layout(cfg)], opt.prev)}
                loss_and_grads(q, inputs, targets, cfg)
                clip_gradients(list(q.values()), s["grad_clip"])
                prev_grads = [q[name].grad for name, _, _ in param_layout(cfg)]
            opt.step(s["lr"] * factor, prev_grads)
        elif s["groups"]:
            opt.step(factor)
        elif s["optim"] in MUONS:
            opt.step(s["lr"] * factor, s["fallback_lr"] * factor)
        else:
            opt.step(s["lr"] * factor)
    return losses, norms, lrs, flat_params(p, cfg), s


# ----------------------------------------------------------------------------------------
# The debug state

def make_batch(cfg, B, T, seed):
    tokens = np.random.default_rng(seed).integers(0, cfg.V, size=(B, T + 1)).astype(np.int32)
    return np.ascontiguousarray(tokens[:, :-1]), np.ascontiguousarray(tokens[:, 1:])


def build_debug_state(cfg, B, T, seed, log):
    layout = param_layout(cfg)
    rec = {"config": np.array([cfg.maxT, cfg.V, cfg.Vp, cfg.L, cfg.NH, cfg.C, B, T, seed], dtype=np.int32)}
    init = init_params(cfg, seed)
    for name, _, _ in layout:
        rec["init/" + name] = init[name]
    inputs_np, targets_np = make_batch(cfg, B, T, seed)
    rec["batch/inputs"], rec["batch/targets"] = inputs_np, targets_np
    inputs, targets = torch.from_numpy(inputs_np).long(), torch.from_numpy(targets_np).long()

    p = torch_params(init)
    logits, loss = loss_and_grads(p, inputs, targets, cfg)
    rec["forward/logits"] = logits.detach().numpy().astype(np.float32)
    rec["forward/loss"] = np.array([loss.item()], dtype=np.float32)
    for name, _, _ in layout:
        rec["grad/" + name] = p[name].grad.numpy().copy()
    log("loss at init %.6f (ln V = %.6f)" % (loss.item(), math.log(cfg.V)))

    init_flat = flat_params(p, cfg)
    summaries = {}
    for run, flags in RUNS:
        flags = flags + " -x %d" % STEPS
        t0 = time.time()
        batches = [(inputs, targets)] * STEPS
        if run in STEP_BATCH_RUNS:  # a batch per step, recorded: optim/R/inputs, optim/R/targets (STEPS,B,T)
            step_batches = [make_batch(cfg, B, T, seed + 1 + step) for step in range(STEPS)]
            rec["optim/%s/inputs" % run] = np.stack([b[0] for b in step_batches])
            rec["optim/%s/targets" % run] = np.stack([b[1] for b in step_batches])
            batches = [(torch.from_numpy(i).long(), torch.from_numpy(t).long()) for i, t in step_batches]
        losses, norms, lrs, final, s = run_optimizer(flags, init, batches, cfg)
        rec["optim/%s/flags" % run] = flags.encode("utf-8")
        rec["optim/%s/losses" % run] = np.array(losses, dtype=np.float32)
        rec["optim/%s/grad_norms" % run] = np.array(norms, dtype=np.float32)
        rec["optim/%s/lrs" % run] = np.array(lrs, dtype=np.float32)
        rec["optim/%s/params" % run] = final
        ratio = np.linalg.norm(final.astype(np.float64) - init_flat) / np.linalg.norm(init_flat.astype(np.float64))
        summaries[run] = dict(losses=losses, norms=norms, ratio=ratio, settings=s)
        log("%-13s losses %s  grad norms %s  |dparams|/|params| %.3e  (%.1fs)" % (
            run, " ".join("%.4f" % x for x in losses), " ".join("%.3f" % x for x in norms), ratio, time.time() - t0))
    return rec, summaries


# ----------------------------------------------------------------------------------------
# Self-checks

class Checks:
    def __init__(self):
        self.failed = 0

    def expect(self, ok, name, detail):
        print("%s %s%s%s" % ("PASS" if ok else "FAIL", name, " " if ok else ": ", detail), flush=True)
        self.failed += 0 if ok else 1

    def close(self, name, out, ref, tol):
        out, ref = np.asarray(out, dtype=np.float64).ravel(), np.asarray(ref, dtype=np.float64).ravel()
        norm = np.linalg.norm(ref)
        ok_values = np.all(np.isfinite(out)) and np.all(np.isfinite(ref)) and norm > 0
        err = np.linalg.norm(out - ref) / norm if ok_values else float("inf")
        self.expect(err < tol, name, "rel err %.3e (tol %.1e, n=%d)" % (err, tol, out.size))


def splitmix64_scalar(x):
    """Plain-integer splitmix64: the definition the vectorized one must agree with."""
    mask = (1 << 64) - 1
    z = (x + 0x9E3779B97F4A7C15) & mask
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
    return z ^ (z >> 31)


def check_rng_and_init(checks, cfg, seed, rec):
    # Known answer: the first output of SplitMix64 seeded with 0 is 0xE220A8397B1DCDAF.
    checks.expect(int(splitmix64(np.uint64(0))) == 0xE220A8397B1DCDAF, "oracle/splitmix64_known_answer",
                  "splitmix64(0) = %#x" % int(splitmix64(np.uint64(0))))
    xs = [0, 1, 42 * 16 + 4, (1 << 64) - 1, 0x123456789ABCDEF0, (1 << 63) + 12345]
    vec = splitmix64(np.array(xs, dtype=np.uint64))
    checks.expect(all(int(v) == splitmix64_scalar(x) for v, x in zip(vec, xs)), "oracle/splitmix64_vectorized",
                  "numpy wraparound agrees with integer math on %d values" % len(xs))
    L = cfg.L
    wte = rec["init/wte"].astype(np.float64)
    checks.expect(not np.any(wte[cfg.V:]), "oracle/init_wte_padding_zero", "rows V..Vp-1 of wte are zero")
    for name, want in (("wte", 0.02), ("qkvw", 0.02), ("fcprojw", 0.02 / math.sqrt(2 * L))):
        a = rec["init/" + name].astype(np.float64)
        a = a[:cfg.V] if name == "wte" else a
        checks.expect(abs(a.std() / want - 1) < 0.02 and abs(a.mean()) < 0.05 * want, "oracle/init_%s_stats" % name,
                      "std %.5f (want %.5f), mean %.1e" % (a.std(), want, a.mean()))
    gains_ok = all(np.all(rec["init/" + n] == 1) for n in ("ln1w", "ln2w", "lnfw"))
    biases_ok = all(not np.any(rec["init/" + n]) for n in ("ln1b", "qkvb", "attprojb", "ln2b", "fcb", "fcprojb", "lnfb"))
    checks.expect(gains_ok and biases_ok, "oracle/init_vectors", "LayerNorm gains 1, biases 0")
    # Element i of a tensor is drawn with counter i: spot-check against the scalar path.
    k, i = 4, 12345  # qkvw
    bits = [splitmix64_scalar((splitmix64_scalar(seed * 16 + k) + c) & ((1 << 64) - 1)) for c in (2 * i, 2 * i + 1)]
    u = [((b >> 11) + 0.5) / 2.0 ** 53 for b in bits]
    want = np.float32(float(np.float32(0.02)) * math.sqrt(-2 * math.log(u[0])) * math.cos(2 * math.pi * u[1]))
    got = rec["init/qkvw"].reshape(-1)[i]
    checks.expect(got == want, "oracle/init_counter_spot", "qkvw[%d] = %.9g (scalar path %.9g)" % (i, got, want))


def check_gradients(checks, cfg, rec):
    """Autograd in float64 against central finite differences, and float32 against float64."""
    init = {n[5:]: a for n, a in rec.items() if n.startswith("init/")}
    inputs = torch.from_numpy(rec["batch/inputs"]).long()
    targets = torch.from_numpy(rec["batch/targets"]).long()
    p = torch_params(init, torch.float64)
    _, loss = loss_and_grads(p, inputs, targets, cfg)
    checks.close("oracle/loss_fp32_vs_fp64", rec["forward/loss"], [loss.item()], 1e-6)
    for name, _, _ in param_layout(cfg):
        checks.close("oracle/grad_fp32_vs_fp64/" + name, rec["grad/" + name], p[name].grad.numpy(), 1e-4)
    g = rec["grad/wte"]
    checks.expect(not np.any(g[cfg.V:]), "oracle/grad_wte_padding_zero", "padding rows get no gradient")
    checks.expect(abs(rec["forward/loss"][0] - math.log(cfg.V)) < 0.1, "oracle/loss_at_init",
                  "%.4f vs ln V %.4f" % (rec["forward/loss"][0], math.log(cfg.V)))

    # Finite differences at the largest-gradient coordinate of several tensors.
    h = 1e-5
    autograd, numeric, names = [], [], []
    for name in ("wte", "wpe", "ln1w", "qkvw", "qkvb", "attprojw", "fcw", "fcprojw", "ln2b", "lnfw"):
        grad = p[name].grad
        idx = int(torch.argmax(grad.abs()))
        with torch.no_grad():
            flat = p[name].view(-1)
            old = flat[idx].item()
            flat[idx] = old + h
            up = gpt2_forward(p, inputs, targets, cfg)[1].item()
            flat[idx] = old - h
            down = gpt2_forward(p, inputs, targets, cfg)[1].item()
            flat[idx] = old
        autograd.append(grad.view(-1)[idx].item())
        numeric.append((up - down) / (2 * h))
        names.append(name)
    checks.close("oracle/grad_vs_finite_difference(%s)" % ",".join(names), autograd, numeric, 1e-6)


def check_optim(checks, cfg, rec, summaries):
    # Schedule known answers.
    cos = parse_optim_flags("--schedule cosine -u 1 -q 0.1 -x 3")
    wsd = parse_optim_flags("--schedule wsd -u 2 --warmup-init 0.5 --wsd-decay-frac 0.4 -q 0 -x 10 --wsd-shape linear")
    wsd_sqrt = parse_optim_flags("--schedule wsd --wsd-decay-frac 0.4 -q 0 -x 10")
    lin = parse_optim_flags("--schedule linear -x 5 -q 0.2")
    got = [schedule_factor(cos, i) for i in range(3)] + [schedule_factor(wsd, i) for i in (0, 1, 5, 6, 7, 9)] + \
          [schedule_factor(lin, i) for i in (0, 4)] + [schedule_factor(wsd_sqrt, i) for i in (6, 7)]
    want = [1.0, 1.0, 0.55] + [0.75, 1.0, 1.0, 1.0, 0.75, 0.25] + [1.0, 0.36] + [1.0, 0.5]
    checks.close("oracle/schedule_known_answers", got, want, 1e-6)
    # Newton-Schulz: singular values of the output land near 1 (the quintic keeps them in ~[0.7, 1.2]).
    gen = torch.Generator().manual_seed(0)
    sv = torch.linalg.svdvals(newton_schulz(torch.randn(192, 64, generator=gen), 5))
    checks.expect(0.5 < sv.min().item() and sv.max().item() < 1.5, "oracle/newton_schulz_orthogonalizes",
                  "singular values in [%.3f, %.3f]" % (sv.min().item(), sv.max().item()))
    sv = torch.linalg.svdvals(newton_schulz(torch.randn(192, 64, generator=gen), 5, "polar-express"))
    checks.expect(0.7 < sv.min().item() and sv.max().item() < 1.2, "oracle/polar_express_orthogonalizes",
                  "singular values in [%.3f, %.3f]" % (sv.min().item(), sv.max().item()))
    wte_numel = cfg.Vp * cfg.C
    for run, _ in RUNS:
        sm = summaries[run]
        final = rec["optim/%s/params" % run]
        nonzero = int(np.count_nonzero(final[cfg.V * cfg.C:wte_numel]))
        checks.expect(nonzero == 0, "oracle/%s/padding_stays_zero" % run, "%d nonzero in wte's padding rows" % nonzero)
        checks.expect(1e-3 <= sm["ratio"] <= 1e-1, "oracle/%s/update_size" % run,
                      "|dparams|/|params| %.3e" % sm["ratio"])
        checks.expect(sm["losses"][-1] < sm["losses"][0], "oracle/%s/loss_decreases" % run,
                      "%.4f -> %.4f" % (sm["losses"][0], sm["losses"][-1]))
        clip = sm["settings"]["grad_clip"]
        if clip > 0:
            clipped = sum(n > clip for n in sm["norms"])  # a run whose clip never bites tests nothing
            checks.expect(clipped > 0, "oracle/%s/clip_active" % run, "clipped at %d of %d steps (norms %s, clip %g)" % (
                clipped, STEPS, " ".join("%.3f" % n for n in sm["norms"]), clip))


def check_round_trip(checks, path, rec):
    back = read_named_tensors(path)
    mismatched = [] if list(back) == list(rec) else ["(record names or order)"]
    for name, value in rec.items():
        other = back.get(name)
        if isinstance(value, bytes):
            same = other == value
        else:
            same = isinstance(other, np.ndarray) and other.dtype == value.dtype and \
                other.shape == value.shape and np.array_equal(other, value)
        if not same:
            mismatched.append(name)
    detail = "%d records read back identically from %s" % (len(rec), path) if not mismatched else \
        "%s: %d of %d records differ, first %s" % (path, len(mismatched), len(rec), mismatched[0])
    checks.expect(not mismatched, "oracle/file_round_trip", detail)


# ----------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", help="debug-state file to write (default with --selftest: a temporary file)")
    ap.add_argument("--model", default="d2", help="d2|d4|d6|d12|... (default d2)")
    ap.add_argument("--B", type=int, default=4)
    ap.add_argument("--T", type=int, default=64)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--vocab", type=int, default=50257,
                    help="vocabulary size (default GPT-2's 50257); a small one (e.g. 500) makes a quick state")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--selftest", action="store_true", help="also run the self-checks (PASS/FAIL lines)")
    args = ap.parse_args()
    if not args.out and not args.selftest:
        ap.error("--out FILE is required (or --selftest)")
    if args.vocab < 2:
        ap.error("--vocab needs at least 2 tokens, got %d" % args.vocab)
    cfg = Config(args.model, args.vocab)
    if not (1 <= args.T <= cfg.maxT) or args.B < 1 or args.seed < 0:
        ap.error("need 1 <= T <= %d, B >= 1 and seed >= 0" % cfg.maxT)
    torch.set_num_threads(args.threads)
    log = (lambda msg: print("# " + msg, flush=True)) if args.selftest else (lambda msg: print(msg, flush=True))

    t0 = time.time()
    rec, summaries = build_debug_state(cfg, args.B, args.T, args.seed, log)
    out = args.out
    tmp_dir = None
    if not out:
        tmp_dir = tempfile.TemporaryDirectory()
        out = os.path.join(tmp_dir.name, "gpt2_debug_state.bin")
    if os.path.dirname(out):
        os.makedirs(os.path.dirname(out), exist_ok=True)
    write_named_tensors(out, rec)
    log("wrote %s: %d records, %.1f MB, %.1fs" % (out, len(rec), os.path.getsize(out) / 1e6, time.time() - t0))

    if args.selftest:
        checks = Checks()
        check_round_trip(checks, out, rec)
        check_rng_and_init(checks, cfg, args.seed, rec)
        check_gradients(checks, cfg, rec)
        check_optim(checks, cfg, rec, summaries)
        log("self-checks done in %.1fs total" % (time.time() - t0))
        sys.exit(1 if checks.failed else 0)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""The PyTorch peer of scripts/benchmark.sh: plain PyTorch GPT-2 (124M by default) training
throughput at the same B and T as train_gpt2cu.

The model is the usual GPT-2 (pre-LayerNorm blocks, causal self-attention through
scaled_dot_product_attention when torch has it, tanh GELU, tied embeddings, vocabulary padded
to 50304), AdamW (fused=True when this torch and device support it), bf16 autocast on a GPU (fp32
on the CPU, --dtype), and
torch.compile when torch has it (torch < 2.0 has not: it prints a note and runs eagerly).
Tokens are random, or read from an llm.c token shard with --shard.

After --warmup steps it times --steps steps (synchronizing each) and prints one line
    peer tokens_per_s=N ms_per_step=N B=N T=N compile=0|1 fused_adamw=0|1 device=NAME
that scripts/benchmark.sh parses.
"""
import argparse
import math
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, n_embd, n_head):
        super().__init__()
        self.n_head = n_head
        self.ln_1 = nn.LayerNorm(n_embd)
        self.c_attn = nn.Linear(n_embd, 3 * n_embd)
        self.c_proj = nn.Linear(n_embd, n_embd)
        self.ln_2 = nn.LayerNorm(n_embd)
        self.c_fc = nn.Linear(n_embd, 4 * n_embd)
        self.mlp_proj = nn.Linear(4 * n_embd, n_embd)

    def attention(self, x):
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)
        q, k, v = (y.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for y in (q, k, v))
        if hasattr(F, "scaled_dot_product_attention"):
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:  # torch < 2.0
            att = (q @ k.transpose(-2, -1)) / math.sqrt(k.size(-1))
            mask = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()
            y = att.masked_fill(~mask, float("-inf")).softmax(dim=-1) @ v
        return self.c_proj(y.transpose(1, 2).contiguous().view(B, T, C))

    def forward(self, x):
        x = x + self.attention(self.ln_1(x))
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))


class GPT2(nn.Module):
    def __init__(self, n_layer, n_head, n_embd, vocab, max_t):
        super().__init__()
        self.wte = nn.Embedding(vocab, n_embd)
        self.wpe = nn.Embedding(max_t, n_embd)
        self.blocks = nn.ModuleList(Block(n_embd, n_head) for _ in range(n_layer))
        self.ln_f = nn.LayerNorm(n_embd)
        for name, p in self.named_parameters():
            if p.dim() == 2:
                std = 0.02 / math.sqrt(2 * n_layer) if name.endswith("proj.weight") else 0.02
                nn.init.normal_(p, 0.0, std)
            elif name.endswith("bias"):
                nn.init.zeros_(p)

    def forward(self, idx, targets):
        x = self.wte(idx) + self.wpe(torch.arange(idx.size(1), device=idx.device))
        for block in self.blocks:
            x = block(x)
        logits = self.ln_f(x) @ self.wte.weight.t()  # tied
        return F.cross_entropy(logits.float().view(-1, logits.size(-1)), targets.view(-1))


def fail(message):
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def shard_tokens(path):
    import numpy as np

    try:
        header = np.fromfile(path, dtype=np.int32, count=256)
        if header.size < 256 or header[0] != 20240520:
            fail(f"{path} is not an llm.c token shard (magic 20240520)")
        return torch.from_numpy(np.fromfile(path, dtype=np.uint16, offset=1024).astype(np.int64))
    except OSError as e:
        fail(f"cannot read {path}: {e.strerror}")


def main():
    p = argparse.ArgumentParser(description="PyTorch GPT-2 training throughput (the peer of scripts/benchmark.sh)")
    p.add_argument("-b", type=int, default=16, help="micro-batch B")
    p.add_argument("-t", type=int, default=1024, help="sequence length T")
    p.add_argument("--steps", type=int, default=20, help="timed steps")
    p.add_argument("--warmup", type=int, default=5, help="untimed steps first (compilation happens here)")
    p.add_argument("--n-layer", type=int, default=12)
    p.add_argument("--n-head", type=int, default=12)
    p.add_argument("--n-embd", type=int, default=768)
    p.add_argument("--vocab", type=int, default=50304, help="vocabulary (GPT-2's 50257 padded to 50304)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--no-compile", action="store_true", help="skip torch.compile")
    p.add_argument("--shard", help="llm.c token shard to read (default: random tokens)")
    p.add_argument("--lr", type=float, default=6e-4)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--dtype", choices=("bf16", "fp32"),
                   help="autocast bf16, or plain fp32 (default: bf16 on a GPU, fp32 on the CPU, where bf16 without "
                        "AMX is emulated and many times slower: the fp32 trainers' fair peer)")
    p.add_argument("--threads", type=int, default=0,
                   help="CPU: torch's intra-op threads (default 0: every core; Debian's torch starts with 1)")
    a = p.parse_args()
    for name in ("b", "t", "steps", "n_layer", "n_head", "n_embd", "vocab"):
        if getattr(a, name) < 1:
            fail(f"{'-' if len(name) == 1 else '--'}{name.replace('_', '-')} must be at least 1")
    if a.warmup < 0:
        fail("--warmup must not be negative")
    if a.n_embd % a.n_head:
        fail("--n-head must divide --n-embd")
    if a.t > 1024:
        fail("-t must be at most 1024")

    torch.manual_seed(a.seed)
    device = torch.device(a.device)
    dtype = a.dtype or ("bf16" if device.type == "cuda" else "fp32")
    if device.type == "cpu":
        torch.set_num_threads(a.threads if a.threads > 0 else (os.cpu_count() or 1))
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    model = GPT2(a.n_layer, a.n_head, a.n_embd, a.vocab, 1024).to(device)
    compiled = 0
    if a.no_compile:
        print("note: --no-compile: running eagerly")
    elif hasattr(torch, "compile"):
        model = torch.compile(model)
        compiled = 1
    else:
        print(f"note: torch {torch.__version__} has no torch.compile: running eagerly")
    fused = 0
    try:
        optimizer = torch.optim.AdamW(model.parameters(), lr=a.lr, betas=(0.9, 0.95), weight_decay=0.0, fused=True)
        fused = 1
    except (TypeError, RuntimeError) as e:  # no fused AdamW in this torch or for this device
        print(f"note: fused AdamW unavailable ({str(e).splitlines()[0][:80]}): using the default AdamW")
        optimizer = torch.optim.AdamW(model.parameters(), lr=a.lr, betas=(0.9, 0.95), weight_decay=0.0)

    tokens = shard_tokens(a.shard) if a.shard else None
    need = a.b * a.t + 1
    if tokens is not None and tokens.numel() < need:
        fail(f"{a.shard} has {tokens.numel()} tokens, one batch needs {need}")
    generator = torch.Generator().manual_seed(a.seed)

    def batch(step):
        if tokens is None:
            buf = torch.randint(0, min(a.vocab, 50257), (need,), generator=generator)
        else:
            start = (step * (need - 1)) % (tokens.numel() - need + 1)
            buf = tokens[start:start + need]
        return buf[:-1].view(a.b, a.t).to(device), buf[1:].view(a.b, a.t).to(device)

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    times = []
    for step in range(a.warmup + a.steps):
        x, y = batch(step)
        sync()
        t0 = time.perf_counter()
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=dtype == "bf16"):
            loss = model(x, y)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        sync()
        ms = (time.perf_counter() - t0) * 1e3
        if step >= a.warmup:
            times.append(ms)
        print(f"step {step + 1}/{a.warmup + a.steps} loss {loss.item():.4f} {ms:.1f} ms{' (warm-up)' if step < a.warmup else ''}")
    mean_ms = sum(times) / len(times)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"peer tokens_per_s={a.b * a.t / (mean_ms / 1e3):.1f} ms_per_step={mean_ms:.2f} B={a.b} T={a.t} "
          f"compile={compiled} fused_adamw={fused} dtype={dtype} threads={torch.get_num_threads()} "
          f"device={name.replace(' ', '_')}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Communication model of data-parallel GPT-2 training: bytes per rank per step and their time
against the compute time per step, for N = 1, 2, 4, ..., 64 GPUs.

    python3 scripts/comm_model.py [--model d12] [--csv]

Schemes (P parameters, ring algorithms, bytes each rank sends per optimizer step; it receives as
many):
  allreduce  bf16 ring all-reduce of the gradients (-z 0): 2 (N-1)/N x 2P
  zero1      ZeRO-1 (-z 1): reduce-scatter of bf16 gradients + all-gather of bf16 parameters:
             (N-1)/N x 2P + (N-1)/N x 2P (the same bytes as the all-reduce, in two halves)
  vote1      --sign-vote 1 (--vote-bits 1, the default): all-gather of every rank's packed 1-bit
             signs (P/8 bytes each): (N-1)/N x N x P/8 = (N-1) P/8 (grows with N: every rank
             needs every rank's signs)
  vote2      --vote-bits 2, 2 bits per element so that sign(0) = 0 survives: (N-1) P/4
  vote_i8    --vote-bits 8, a ring all-reduce of one int8 sign per element: 2 (N-1)/N x P
             (valid up to 127 ranks); as many bytes as vote1 at N = 16, fewer beyond
These are the figures both trainers report as comm_bytes (common/comm.h's ring estimates).
Bandwidth: NVLink 450 GB/s per direction within a node (N <= 8), 400 Gb/s InfiniBand (one NIC per
GPU, 50 GB/s) once the ring leaves the node; a ring runs at its slowest link. Bandwidth terms only
(no latency, no overlap with the backward pass).
Compute: llm.c's GPT-2 124M run, 8 x H100 at about 140 ms per 524,288-token step, i.e. 1.12
GPU-seconds per step; the global batch is fixed, so each of N GPUs computes 1.12 / N s per step
(perfect compute scaling assumed). A scheme stops scaling at the first N where its communication
time exceeds the compute time (and is costly beyond the first N where it exceeds --fraction of it).
"""
import math

from cli_errors import OneLineParser

MODELS = {  # name: (layers, channels); GPT-2's padded vocabulary 50304 and 1024 positions
    "d2": (2, 64), "d4": (4, 128), "d6": (6, 384), "d12": (12, 768), "d24": (24, 1024), "d36": (36, 1280), "d48": (48, 1600),
}
SCHEMES = ["allreduce", "zero1", "vote1", "vote2", "vote_i8"]


def num_params(layers, channels, vocab=50304, max_t=1024):
    c = channels
    per_layer = 2 * c + (3 * c * c + 3 * c) + (c * c + c) + 2 * c + (4 * c * c + 4 * c) + (4 * c * c + c)
    return vocab * c + max_t * c + layers * per_layer + 2 * c


def bytes_per_rank(scheme, p, n):
    f = (n - 1) / n
    if scheme == "allreduce":
        return 2 * f * 2 * p
    if scheme == "zero1":
        return f * 2 * p + f * 2 * p
    if scheme == "vote1":
        return f * n * p / 8
    if scheme == "vote2":
        return f * n * p / 4
    if scheme == "vote_i8":
        return 2 * f * p
    raise ValueError(scheme)


def bandwidth(n, args):
    return args.nvlink_gbs * 1e9 if n <= args.gpus_per_node else args.ib_gbps / 8 * 1e9


def compute_s(n, args):
    return args.compute_ms / 1e3 * args.compute_gpus / n


def main():
    ap = OneLineParser(prog_first=True, description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="d12", choices=sorted(MODELS))
    ap.add_argument("--max-gpus", type=int, default=64)
    ap.add_argument("--nvlink-gbs", type=float, default=450.0, help="GB/s per direction within a node")
    ap.add_argument("--ib-gbps", type=float, default=400.0, help="Gb/s per GPU across nodes")
    ap.add_argument("--gpus-per-node", type=int, default=8)
    ap.add_argument("--compute-ms", type=float, default=140.0, help="ms per step on --compute-gpus GPUs")
    ap.add_argument("--compute-gpus", type=int, default=8)
    ap.add_argument("--fraction", type=float, default=0.25, help="the 'costly' threshold: comm > this x compute")
    ap.add_argument("--csv", action="store_true", help="one line per (N, scheme): n,scheme,mb,comm_ms,compute_ms")
    args = ap.parse_args()
    for name in ("max_gpus", "nvlink_gbs", "ib_gbps", "gpus_per_node", "compute_ms", "compute_gpus", "fraction"):
        value = getattr(args, name)
        if not (math.isfinite(value) and value > 0):  # a rate, a count or a time: 0 divides by zero
            ap.error(f"--{name.replace('_', '-')} must be a positive number, got {value:g}")
    p = num_params(*MODELS[args.model])
    ns = []
    n = 1
    while n <= args.max_gpus:
        ns.append(n)
        n *= 2
    rows = []
    for n in ns:
        for s in SCHEMES:
            b = bytes_per_rank(s, p, n)
            rows.append((n, s, b / 1e6, b / bandwidth(n, args) * 1e3, compute_s(n, args) * 1e3))
    if args.csv:
        print("n,scheme,mb,comm_ms,compute_ms")
        for r in rows:
            print("%d,%s,%.3f,%.4f,%.3f" % r)
        return
    print("%s: %d parameters (padded vocab 50304); bf16 gradient buffer %.1f MB, 1-bit signs %.2f MB" %
          (args.model, p, 2 * p / 1e6, p / 8 / 1e6))
    print("compute %.0f ms x %d GPUs per step, split over N; NVLink %.0f GB/s (N <= %d), InfiniBand %.0f Gb/s beyond" %
          (args.compute_ms, args.compute_gpus, args.nvlink_gbs, args.gpus_per_node, args.ib_gbps))
    print()
    print("| N | compute ms | " + " | ".join("%s MB, ms" % s for s in SCHEMES) + " |")
    print("|---|---|" + "---|" * len(SCHEMES))
    for n in ns:
        cells = [r for r in rows if r[0] == n]
        print("| %d | %.1f | " % (n, cells[0][4]) + " | ".join("%.1f, %.2f" % (c[2], c[3]) for c in cells) + " |")
    print()
    for s in SCHEMES:
        over = [r[0] for r in rows if r[1] == s and r[3] > r[4]]
        costly = [r[0] for r in rows if r[1] == s and r[3] > args.fraction * r[4]]
        print("%-9s stops scaling (comm > compute) at N = %s; comm > %.0f%% of compute from N = %s" %
              (s, over[0] if over else "none up to %d" % args.max_gpus, 100 * args.fraction,
               costly[0] if costly else "none up to %d" % args.max_gpus))
    # (N-1) P/8 = 2 (N-1)/N 2P at N = 32: beyond it the 1-bit all-gather sends more than the bf16 all-reduce
    print("vote1 sends fewer bytes than allreduce while N < 32 ((N-1) P/8 < 4 (N-1) P/N); vote2 while N < 16")


if __name__ == "__main__":
    main()

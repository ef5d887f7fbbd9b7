"""Tokens per second per core of the GPT-2 encoders on data/fineweb.py's own path.

    /usr/bin/python3 scripts/bench_tokenizers.py [--input FILE...] [--repeats 3] [--encoders tiktoken builtin]

Runs fineweb.main(["--input", FILE..., "-j", "1", ...]) in this process with the encoder that
--encoder E gives (tokenize_docs.gpt2_encoder, loaded before the clock starts and timed apart):
the whole path a FineWeb run takes per document (end-of-text + encode_ordinary, uint16, shards
written to a temporary folder), once per repeat and encoder, and prints the best wall time of
each as tokens per second on one core (-j 1: one process), by wall time and by this process's
CPU time (the steadier figure on a shared, loaded machine). Default input: the FineWeb-Edu sample
text (../shared/data/fineweb_sample/fineweb_edu_sample.txt, else data/fineweb_sample/). The
tiktoken here is its gpt2 encoding with no download (data/tiktoken_gpt2.py).
"""
import argparse
import os
import shutil
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "data"))
import fineweb  # noqa: E402
from tokenize_docs import fail, gpt2_encoder  # noqa: E402

SAMPLE = [os.path.join(REPO, "..", "shared", "data", "fineweb_sample", "fineweb_edu_sample.txt"),
          os.path.join(REPO, "data", "fineweb_sample", "fineweb_edu_sample.txt")]


def main(argv=None):
    p = argparse.ArgumentParser(description="GPT-2 encoders' tokens/s per core on data/fineweb.py's path.")
    p.add_argument("--input", nargs="+", metavar="FILE", help=".txt or .jsonl files (default: the FineWeb-Edu sample text)")
    p.add_argument("--repeats", type=int, default=3, help="runs per encoder; the best is reported (default 3)")
    p.add_argument("--encoders", nargs="+", choices=["tiktoken", "builtin"], default=["tiktoken", "builtin"])
    args = p.parse_args(argv)
    inputs = args.input or [next((s for s in SAMPLE if os.path.isfile(s)), SAMPLE[0])]
    for path in inputs:
        if not os.path.isfile(path):
            fail(f"input file '{path}' not found")
    if args.repeats < 1:
        fail("--repeats must be positive")
    size = sum(os.path.getsize(f) for f in inputs)
    print(f"input: {', '.join(inputs)} ({size:,} bytes); load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    for encoder in args.encoders:
        best, best_cpu, tokens = None, None, 0
        for _ in range(args.repeats):
            out = tempfile.mkdtemp(prefix="bench_tokenizers_")
            try:
                start = time.perf_counter()
                encode, eot = gpt2_encoder(encoder, quiet=True)  # what fineweb.main does first; timed apart
                load = time.perf_counter() - start
                start, start_cpu = time.perf_counter(), time.process_time()
                written = fineweb.main(["--input", *inputs, "-o", out, "-j", "1", "-q", "--val-tokens", "1000"],
                                       encode=encode, eot=eot)
                seconds, cpu = time.perf_counter() - start, time.process_time() - start_cpu
            finally:
                shutil.rmtree(out)
            tokens = sum(n for _, n in written)
            best = seconds if best is None else min(best, seconds)
            best_cpu = cpu if best_cpu is None else min(best_cpu, cpu)
        print(f"{encoder:9s} {tokens:,} tokens in {best:.3f} s wall, {best_cpu:.3f} s CPU (best of {args.repeats}; "
              f"loading the encoder {load:.2f} s more): {tokens / best / 1e6:.3f} M tokens/s per core by wall time, "
              f"{tokens / best_cpu / 1e6:.3f} M by CPU time")


if __name__ == "__main__":
    main()

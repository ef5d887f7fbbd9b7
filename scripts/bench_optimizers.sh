#!/usr/bin/env bash
# Optimizer step times at d12 (124M parameters) against their floors, as a Markdown table:
# each rule's fused step against the bytes it must move at the measured device copy
# bandwidth, Muon's Newton-Schulz against its FLOPs at the measured GEMM rate and as a share
# of a d12 step at 524288 tokens (estimated from 6 x params x tokens at that rate).
#   scripts/bench_optimizers.sh            # bf16 (the training precision)
#   scripts/bench_optimizers.sh FP32       # the fp32 build (fp32 Newton-Schulz)
# Needs a CUDA GPU; builds build/dev/optimizers for the chosen precision first.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
precision="${1:-BF16}"
case "$precision" in
    BF16|FP32) ;;
    *) echo "error: precision must be BF16 or FP32, got '$precision'" >&2; exit 2 ;;
esac
# The binary's precision is not in its name: rebuild so it always matches the request.
rm -f build/dev/optimizers
make --no-print-directory PRECISION="$precision" build/dev/optimizers >/dev/null
echo "command: scripts/bench_optimizers.sh $precision ($(git rev-parse --short HEAD 2>/dev/null || echo 'no git'))"
build/dev/optimizers --bench

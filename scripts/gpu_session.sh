#!/usr/bin/env bash
# What a session that is lent a GPU runs, in phases that each fit one 10-minute device call:
#   scripts/gpu_session.sh check     # the GPU tests: CUDA model vs oracle, flash model, trainer
#                                    # checkpoint/resume on the real binary, every dev/cuda check
#   scripts/gpu_session.sh train     # d12, B=64, T=1024, 50 adamw steps: ms/step, tok/s, MFU, memory
#   scripts/gpu_session.sh bench     # bench_optimizers.sh, benchmark.sh (with the PyTorch peer), profile.sh
#   scripts/gpu_session.sh compare   # the default optimizer sweep (d6, Tiny Shakespeare) and its picture
#   scripts/gpu_session.sh --dry-run PHASE   # print the commands, run nothing
# Everything it prints and writes goes to DIR (default runs/gpu_session/PHASE; $OUT/PHASE when
# the device tool's OUT is set), so the figures come back with the call. Needs the data
# (make shared-data) for train and compare; PYTHON and SHARED_DATA override the defaults below.
set -uo pipefail
cd "$(dirname "$0")/.."
die() { echo "error: $*" >&2; exit 2; }
dry=0
[ "${1:-}" = "--dry-run" ] && { dry=1; shift; }
[ $# -eq 1 ] || die "usage: scripts/gpu_session.sh [--dry-run] check|train|bench|compare"
phase=$1
out="${OUT:-runs/gpu_session}/$phase"
PYTHON="${PYTHON:-python3}"                   # the GPU machine's python (writes the oracle's debug state)
SHARED_DATA="${SHARED_DATA:-../shared/data}" # Tiny Shakespeare shards for the checkpoint tests

case "$phase" in
    check) commands=(
        "make -j8 PYTHON=$PYTHON train_gpt2cu build/test_gpt2_cuda build/test_flash_model dev build/gpt2_debug_state.bin"
        "build/test_gpt2_cuda build/gpt2_debug_state.bin"
        "build/test_flash_model"
        "bash test/test_checkpoint_resume_cuda.sh $SHARED_DATA"
        "for b in build/dev/*; do \$b; done") ;;
    train) commands=(
        "make -j8 train_gpt2cu"
        "./train_gpt2cu -e d12 -b 64 -t 1024 -x 50 -v 0 --optim adamw -o $out/d12_adamw"
        "nvidia-smi --query-gpu=name,memory.total --format=csv") ;;
    bench) commands=(
        "scripts/bench_optimizers.sh"
        "scripts/benchmark.sh --out $out/benchmark"
        "make -j8 profile_gpt2"
        "scripts/profile.sh -b 16 --out $out/profile") ;;
    compare) commands=(
        "make -j8 train_gpt2cu"
        "scripts/compare_optimizers.sh --out $out/compare") ;;
    *) die "unknown phase '$phase' (check, train, bench or compare)" ;;
esac

if [ "$dry" -eq 1 ]; then
    printf '%s\n' "${commands[@]}"
    exit 0
fi
command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1 || die "phase '$phase' needs a CUDA GPU and found none"
mkdir -p "$out"
status=0
for c in "${commands[@]}"; do
    echo "\$ $c" | tee -a "$out/session.log"
    bash -c "$c" 2>&1 | tee -a "$out/session.log"
    [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
done
echo "phase $phase: $([ $status -eq 0 ] && echo ok || echo 'a command failed'); log in $out/session.log"
exit $status

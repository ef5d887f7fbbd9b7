#!/usr/bin/env bash
# test/test_checkpoint_resume.sh's checks against the CUDA trainer: ./train_gpt2cu on a GPU
# (verdicts "cuda/..."), else its build for the CPU emulator, build/emu/bf16/train_gpt2cu
# (test/cuda_emu; made here when stale, verdicts "emu/cuda/..."; an emulated d2 step takes
# seconds, the whole set minutes), else one SKIP line.
#   test/test_checkpoint_resume_cuda.sh [SHARED_DATA_DIR]
# EMU_TRAINER overrides the emulated binary (then nothing is built).
set -uo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
shared="${1:-../shared/data}"

if nvidia-smi -L >/dev/null 2>&1 && [ -x ./train_gpt2cu ]; then
    exec bash test/test_checkpoint_resume.sh "$shared" ./train_gpt2cu cuda/
fi
if [ -z "${EMU_TRAINER:-}" ] && [ -f test/cuda_emu/emu_cxx.sh ]; then
    EMU_TRAINER=build/emu/bf16/train_gpt2cu
    mkdir -p build
    if ! "${MAKE:-make}" --no-print-directory "$EMU_TRAINER" >build/emu_train_gpt2cu_build.log 2>&1; then
        echo "FAIL emu/cuda/ckpt/build: make $EMU_TRAINER failed (build/emu_train_gpt2cu_build.log)"
        exit 1
    fi
fi
if [ -x "${EMU_TRAINER:-}" ]; then
    start=$(date +%s)
    # CKPT_QUICK: a subset under emulation (test/test_checkpoint_resume.sh says which), for make test's time
    CKPT_QUICK=1 OMP_WAIT_POLICY=passive bash test/test_checkpoint_resume.sh "$shared" "$EMU_TRAINER" emu/cuda/
    rc=$?
    echo "emulated checkpoint/resume checks took $(( $(date +%s) - start )) s"
    exit $rc
fi
echo "SKIP cuda/ckpt: no CUDA GPU (nvidia-smi) and no CPU emulator (test/cuda_emu)"

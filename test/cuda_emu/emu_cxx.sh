#!/usr/bin/env bash
# Compiles one CUDA source for the CPU emulator:
#   test/cuda_emu/emu_cxx.sh SOURCE.cu OUTPUT [-DENABLE_FP32 | -DENABLE_BF16] [more g++ flags]
# 1. g++ -E with test/cuda_emu/include first on the include path (the stand-in CUDA headers;
#    the real CUDA include directories are never used), CUDA_EMULATION defined;
# 2. rewrite_launches.py turns kernel launches and __shared__ into C++;
# 3. g++ -O2 -fopenmp compiles the result (OUTPUT.emu.cpp is kept for debugging).
set -euo pipefail
if [ $# -lt 2 ]; then echo "usage: $0 SOURCE.cu OUTPUT [g++ flags]" >&2; exit 2; fi
src=$1 out=$2
shift 2
here="$(cd "$(dirname "$0")" && pwd)"
PYTHON="${PYTHON:-python3}"
CXX="${CXX:-g++}"
mkdir -p "$(dirname "$out")"
"$CXX" -E -x c++ -std=c++17 -fopenmp -DCUDA_EMULATION -I"$here/include" "$@" "$src" -o "$out.emu.ii"
"$PYTHON" "$here/rewrite_launches.py" "$out.emu.ii" "$out.emu.cpp"
rm -f "$out.emu.ii"
# EMU_LDLIBS: libraries after the source (the emulated trainer's MPI for the NCCL stand-in)
"$CXX" -x c++ -std=c++17 -O2 -fopenmp -pthread -Wall -Wno-unused-function -Wno-unknown-pragmas "$@" "$out.emu.cpp" -o "$out" ${EMU_LDLIBS:-}

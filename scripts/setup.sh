#!/usr/bin/env bash
# Installs what the tests need on Debian, only what is missing: Debian's PyTorch (CPU, the
# oracle), numpy, OpenBLAS (without it Debian's torch is ~30x slower; its headers for the CPU
# trainer's cblas_sgemm), matplotlib (plots) and regex (the built-in GPT-2 encoder of the data
# scripts, data/gpt2_bpe.py), Open MPI (libopenmpi-dev, openmpi-bin: train_gpt2cpu under mpirun).
# The tests use Debian's /usr/bin/python3: another python3 first on PATH may lack torch.
#   scripts/setup.sh           everything (what CI runs before make test), PyPI's pinned
#                              requirements.txt included
#   scripts/setup.sh --build   only what building and running the trainers needs (make run)
set -euo pipefail
cd "$(dirname "$0")/.."
build_only=0
case "${1:-}" in --build) build_only=1 ;; "") ;; *) echo "error: unknown option '$1' (--build or nothing)" >&2; exit 2 ;; esac
missing=()
if [ $build_only -eq 0 ]; then
    /usr/bin/python3 -c 'import torch' 2>/dev/null || missing+=(python3-torch)
    /usr/bin/python3 -c 'import numpy' 2>/dev/null || missing+=(python3-numpy)
    /usr/bin/python3 -c 'import matplotlib' 2>/dev/null || missing+=(python3-matplotlib)
    /usr/bin/python3 -c 'import regex' 2>/dev/null || missing+=(python3-regex)
fi
dpkg -s libopenblas0-pthread >/dev/null 2>&1 || missing+=(libopenblas0-pthread)
dpkg -s libopenblas-dev >/dev/null 2>&1 || missing+=(libopenblas-dev) # cblas.h and -lopenblas for train_gpt2cpu (make BLAS=1)
command -v g++ >/dev/null || missing+=(g++)
# Open MPI: train_gpt2cpu's data parallelism (mpirun -np N; make builds without it otherwise)
dpkg -s libopenmpi-dev >/dev/null 2>&1 || missing+=(libopenmpi-dev)
command -v mpirun >/dev/null || missing+=(openmpi-bin)
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}"
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# PyPI packages (transformers, safetensors, tiktoken, tensorboard), pinned in requirements.txt,
# into Debian's python3 beside its own packages (see requirements.txt for why there)
if [ $build_only -eq 0 ]; then
    if ! /usr/bin/python3 -m pip --version >/dev/null 2>&1; then
        SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-pip >/dev/null
    fi
    # pip's check: every pinned requirement already satisfied means nothing to install
    if ! /usr/bin/python3 - requirements.txt <<'PYEOF' 2>/dev/null
import sys
from importlib.metadata import version
for line in open(sys.argv[1]):
    line = line.split("#")[0].strip()
    if line:
        name, want = line.split("==")
        assert version(name) == want, name
PYEOF
    then
        echo "installing from PyPI: requirements.txt"
        SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
        $SUDO /usr/bin/python3 -m pip install -q --break-system-packages --disable-pip-version-check --root-user-action=ignore -r requirements.txt
    fi
fi
command -v nvcc >/dev/null || [ -x /usr/local/cuda/bin/nvcc ] || { echo "error: nvcc not found (install the CUDA toolkit; the CUDA sources must compile)" >&2; exit 1; }
echo "setup: ok"

#!/usr/bin/env bash
# Stages what scripts/gpu_check.sh needs on a GPU machine into one folder (`make gpu-kit`; default
# build/gpu_kit, git-ignored) to name in the device tool's `carry`: the sm_90 binaries (bin/), the
# oracle and what it imports, the PyTorch peer, the scripts, and the small data (Tiny Shakespeare
# shards and the tokenizer), in the repository's layout, so that
#   bash build/gpu_kit/scripts/gpu_check.sh
# runs on its own. Files are copied with cp -L: data/ holds symlinks into ../shared, which
# would arrive dangling on the device. Prints the kit's size; fails over 64 MiB (the carry limit).
#   scripts/make_gpu_kit.sh [KIT_DIR]        (the binaries must be built: make gpu-kit does that)
set -euo pipefail
cd "$(dirname "$0")/.."
kit=${1:-build/gpu_kit}
limit=${GPU_KIT_LIMIT:-$((64 * 1024 * 1024))} # bytes; the test lowers it to see the failure
die() { echo "error: $*" >&2; exit 2; }

# The kit's train_gpt2cu: KIT_TRAINER, by default build/kit/train_gpt2cu (one process, no libnccl
# or libmpi needed where it runs); its NCCL-only twin train_gpt2cu_nccl (KIT_NCCL_TRAINER, when
# nccl.h was here; empty: none) for gpu_check's nccl_pn1 step.
trainer=${KIT_TRAINER:-build/kit/train_gpt2cu}
nccl_trainer=${KIT_NCCL_TRAINER-build/kit/train_gpt2cu_nccl}
bins=("$trainer" build/test_gpt2_cuda build/test_flash_model profile_gpt2)
for b in "${bins[@]}"; do [ -x "$b" ] || die "$b is not built (make gpu-kit builds it)"; done
ls build/dev/* >/dev/null 2>&1 || die "build/dev/* is not built (make dev)"
data_files=(data/tinyshakespeare/tiny_shakespeare_train.bin data/tinyshakespeare/tiny_shakespeare_val.bin data/gpt2_tokenizer.bin)
for f in "${data_files[@]}"; do [ -r "$f" ] || die "$f is missing (make shared-data, or data/tinyshakespeare.py)"; done
sources=(scripts/gpu_check.sh scripts/ncu_table.py test/gpt2_oracle.py test/named_tensors.py dev/torch_gpt2_peer.py)

rm -rf "$kit"
mkdir -p "$kit/bin/dev" "$kit/data/tinyshakespeare" "$kit/scripts" "$kit/test" "$kit/dev"
cp -L "$trainer" "$kit/bin/train_gpt2cu"
for b in "${bins[@]:1}"; do cp -L "$b" "$kit/bin/$(basename "$b")"; done
if [ -n "$nccl_trainer" ] && [ -x "$nccl_trainer" ]; then cp -L "$nccl_trainer" "$kit/bin/train_gpt2cu_nccl"; fi
for b in build/dev/*; do [ -x "$b" ] && [ -f "$b" ] && cp -L "$b" "$kit/bin/dev/"; done
for f in "${data_files[@]}" "${sources[@]}"; do cp -L "$f" "$kit/$f"; done
{
    echo "gpu kit of $(git rev-parse --short HEAD 2>/dev/null || echo '(no git)')$(git diff --quiet HEAD 2>/dev/null || echo ' + uncommitted changes'), staged $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "built with $("${NVCC:-nvcc}" --version 2>/dev/null | tail -n 1 || echo 'nvcc ?') for sm_${GPU_ARCH:-90}, ${PRECISION:-BF16}"
} >"$kit/VERSION"
[ -z "$(find "$kit" -type l)" ] || die "the kit holds symlinks: $(find "$kit" -type l | head -n 3)"
bytes=$(du -sb "$kit" | cut -f1)
echo "gpu kit: $kit, $(find "$kit" -type f | wc -l) files, $(awk -v b="$bytes" 'BEGIN { printf "%.1f MiB", b / 1048576 }') (limit 64 MiB)"
[ "$bytes" -le "$limit" ] || die "the kit is $bytes bytes, over the device tool's 64 MiB carry limit"
echo "device call: run(command=\"bash $kit/scripts/gpu_check.sh\", carry=[\"$kit\"], timeout_s=540)"

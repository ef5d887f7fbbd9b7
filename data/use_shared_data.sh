#!/usr/bin/env bash
# Links the offline data in ../shared/data (or $1) into data/, where the trainers' default
# paths (-i, -j, --tokenizer) look, so a first run needs no network and no tiktoken.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
shared="$(cd "${1:-$repo/../shared/data}" 2>/dev/null && pwd)" || { echo "error: shared data folder '${1:-$repo/../shared/data}' not found" >&2; exit 2; }
for item in tinyshakespeare fineweb_sample gpt2_tokenizer.bin; do
    if [ ! -e "$shared/$item" ]; then echo "skip $item (not in $shared)"; continue; fi
    if [ -e "$repo/data/$item" ] && [ ! -L "$repo/data/$item" ]; then echo "keep data/$item (a real file or folder is already there)"; continue; fi
    ln -sfn "$shared/$item" "$repo/data/$item"
    echo "data/$item -> $shared/$item"
done

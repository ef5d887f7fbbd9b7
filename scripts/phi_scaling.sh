#!/usr/bin/env bash
# phi's estimate at fixed weights against the tokens per gradient (B x T) and the number of
# gradients K (docs/phi.md): the trainer's step-0 measurement (train_gpt2cpu -e MODEL -b B -t T
# --noise-every 1 --noise-batches K --noise-windows 0:1) for every B and K, by build/phi_scaling
# (dev/phi_scaling.cpp: one pass of max K gradients per B reads every smaller K on the way).
#   scripts/phi_scaling.sh [--model d4|FILE] [--seed 42] [-t 128] [-b 8,64:64,...] [-k 8,16,32,64,128]
#                          [--data DIR] [--out FILE.jsonl]
# -b: micro-batch sizes; B:KMAX caps K for that B (the cost is B x max K). --data: the
# FineWeb-Edu sample's directory (fineweb_edu_sample_train.bin); absent: one SKIP line, exit 0.
# Writes the JSON lines (--out, default a temporary file) and prints a Markdown table: whole
# model, wte, wpe, attention, MLP, norms+biases, all but wte; then the wall time.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
model=d4 seed=42 T=128 bs=8,64:64 ks=8,16,32,64,128 data=../shared/data/fineweb_sample out=""
usage_error() { echo "error: $1 (see --help)" >&2; exit 2; }
while [ $# -gt 0 ]; do
    case "$1" in --model|--seed|-t|-b|-k|--data|--out) [ $# -ge 2 ] && [ -n "$2" ] || usage_error "$1 needs a value" ;; esac
    case "$1" in
        --model) model=$2; shift 2 ;;
        --seed) seed=$2; shift 2 ;;
        -t) T=$2; shift 2 ;;
        -b) bs=$2; shift 2 ;;
        -k) ks=$2; shift 2 ;;
        --data) data=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        -h|--help) sed -n 2,11p "$0"; exit 0 ;;
        *) usage_error "unknown argument '$1'" ;;
    esac
done
n='[1-9][0-9]*'  # a positive integer
[[ $bs =~ ^$n(:$n)?(,$n(:$n)?)*$ ]] || usage_error "-b takes B or B:KMAX (positive integers), comma-separated, got '$bs'"
[[ $ks =~ ^$n(,$n)*$ ]] || usage_error "-k takes K1,K2,... (positive integers), got '$ks'"
[[ $seed =~ ^[0-9]+$ ]] || usage_error "--seed wants a non-negative integer, got '$seed'"
[[ $T =~ ^[1-9][0-9]*$ ]] || usage_error "-t wants a positive integer, got '$T'"
shard="$data/fineweb_edu_sample_train.bin"
if [ ! -f "$shard" ]; then echo "SKIP phi_scaling: no $shard"; exit 0; fi
[ -x build/phi_scaling ] || usage_error "build/phi_scaling is missing (make build/phi_scaling)"
PYTHON="${PYTHON:-/usr/bin/python3}"
[ -n "$out" ] || { out=$(mktemp); trap 'rm -f "$out"' EXIT; }
: >"$out"
start=$(date +%s)
echo "build/phi_scaling $model $seed $shard $T B K, per B (-b $bs, -k $ks), $(date -u +%Y-%m-%dT%H:%MZ), $(git rev-parse --short HEAD)"
for cell in ${bs//,/ }; do
    b=${cell%%:*} kmax=${cell#*:}
    [ "$cell" = "$b" ] && kmax=1000000000
    kb=$(echo "${ks//,/ }" | tr ' ' '\n' | awk -v m="$kmax" '$1 <= m' | paste -sd, -)
    [ -n "$kb" ] || continue
    build/phi_scaling "$model" "$seed" "$shard" "$T" "$b" "$kb" >>"$out"
done
"$PYTHON" - "$out" <<'EOF'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
print()
print("| tokens per gradient (B x T) | K | whole model | wte | wpe | attention | MLP | norms+biases | all but wte | seconds |")
print("|---|---|---|---|---|---|---|---|---|---|")
for r in sorted(rows, key=lambda r: (r["tokens_per_gradient"], r["K"])):
    t, g = r["phi_per_tensor"], r["phi_per_group"]
    cells = [r["phi"], t["wte"], t["wpe"], g["attention"], g["mlp"], g["norms_biases"], g["all_but_wte"]]
    print(f"| {r['tokens_per_gradient']:,} ({r['B']} x {r['T']}) | {r['K']} | " + " | ".join(f"{v:.4f}" for v in cells)
          + f" | {r['seconds']:.0f} |")
EOF
echo
echo "wall time $(( $(date +%s) - start )) s (seconds column: since that B's first gradient)"

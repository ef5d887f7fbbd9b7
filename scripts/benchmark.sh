#!/usr/bin/env bash
# Training throughput of train_gpt2cu for each optimizer, and of the PyTorch peer
# (dev/torch_gpt2_peer.py) at the same B and T, as one Markdown table.
#   scripts/benchmark.sh [-b B] [-t T] [--steps N] [--warmup N] [--optims "adamw sgd ..."]
#                        [--no-peer] [--out DIR] [--bin PATH] [--dry-run] [-- MORE_TRAINER_FLAGS]
# d12 (GPT-2 124M), T=1024, micro-batch B (default: the largest of 64, 32, 16 with which a
# 2-step adamw run succeeds), no gradient accumulation, no validation. Each run does --warmup
# (default 5) untimed steps then --steps (default 20) timed ones; tokens/s = B*T / mean step
# time of the timed steps, MFU the trainer's (flops per token 6N + 6*L*C*T, against the dense
# bf16 datasheet peak of the device: H100 SXM and H200 989 TFLOP/s). The peer's MFU is its
# tokens/s times the trainer's MFU per token/s (same model, T and device).
# Logs and the table (benchmark.md) go to DIR (default runs/benchmark). --dry-run prints the
# commands (with B=64 when -b is not given) and runs nothing. --bin: a trainer binary to use instead
# of building ./train_gpt2cu. PEER_PYTHON: the python that runs the peer (default python3).
set -uo pipefail
cd "$(dirname "$0")/.."
PEER_PYTHON="${PEER_PYTHON:-python3}" # the GPU machine's python with CUDA torch (not Debian's CPU one)
B="" T=1024 steps=20 warmup=5 optims="adamw sgd signsgd signum lion muon" peer=1 out=runs/benchmark dry=0 extra=()
bin=./train_gpt2cu build=1
die() { echo "error: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
    case "$1" in
        -b) [ $# -ge 2 ] || die "-b needs a value"; [ -n "$2" ] || die "-b wants a positive integer, got ''"; B=$2; shift 2 ;;
        -t) [ $# -ge 2 ] || die "-t needs a value"; T=$2; shift 2 ;;
        --steps) [ $# -ge 2 ] || die "--steps needs a value"; steps=$2; shift 2 ;;
        --warmup) [ $# -ge 2 ] || die "--warmup needs a value"; warmup=$2; shift 2 ;;
        --optims) [ $# -ge 2 ] || die "--optims needs a value"; optims=$2; shift 2 ;;
        --no-peer) peer=0; shift ;;
        --out) [ $# -ge 2 ] || die "--out needs a value"; out=$2; shift 2 ;;
        --bin) [ $# -ge 2 ] || die "--bin needs a value"; bin=$2; build=0; shift 2 ;;
        --dry-run) dry=1; shift ;;
        --) shift; extra=("$@"); break ;;
        -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown option '$1' (see --help)" ;;
    esac
done
[ -z "$B" ] || [[ "$B" =~ ^[1-9][0-9]*$ ]] || die "-b wants a positive integer, got '$B'"
[[ "$T" =~ ^[1-9][0-9]*$ ]] && [ "$T" -le 1024 ] || die "-t wants an integer in 1..1024, got '$T'"
[[ "$steps" =~ ^[1-9][0-9]*$ ]] || die "--steps wants a positive integer, got '$steps'"
[[ "$warmup" =~ ^[0-9]+$ ]] || die "--warmup wants a non-negative integer, got '$warmup'"
[ -n "$optims" ] || die "--optims is empty"
for o in $optims; do
    case "$o" in sgd|signsgd|signum|adamw|lion|muon) ;; *) die "unknown optimizer '$o' in --optims" ;; esac
done

# trainer_cmd OPTIM B STEPS
trainer_cmd() { echo "$bin -e d12 -b $2 -t $T -d $(($2 * T)) -x $3 -v 0 --optim $1 ${extra[*]:-}"; }
peer_cmd() { echo "$PEER_PYTHON dev/torch_gpt2_peer.py -b $1 -t $T --steps $steps --warmup $warmup"; }

if [ $dry -eq 1 ]; then
    b=${B:-64}
    [ $build -eq 1 ] && echo "make train_gpt2cu"
    for o in $optims; do echo "$(trainer_cmd "$o" "$b" $((warmup + steps)))"; done
    [ $peer -eq 1 ] && echo "$(peer_cmd "$b")"
    exit 0
fi

mkdir -p "$out"
if [ $build -eq 1 ]; then
    make train_gpt2cu >"$out/build.log" 2>&1 || die "make train_gpt2cu failed (see $out/build.log)"
fi
[ -x "$bin" ] || die "trainer '$bin' is not an executable"
if [ -z "$B" ]; then
    for b in 64 32 16; do
        if $(trainer_cmd adamw "$b" 2) >"$out/probe_b$b.log" 2>&1; then B=$b; break; fi
        echo "B=$b does not fit or fails ($(tail -n 1 "$out/probe_b$b.log"))" >&2
    done
    [ -n "$B" ] || die "no micro-batch of 64, 32, 16 runs (logs in $out)"
fi
echo "d12, B=$B, T=$T: $warmup warm-up + $steps timed steps per run" >&2

# stats LOG: "tokens_per_s mfu_percent" over the timed steps of a trainer log.
stats() {
    awk -v warmup="$warmup" -v tokens=$((B * T)) '
        /^step +[0-9]+\/[0-9]+ \|/ {
            n++; if (n <= warmup) next
            for (i = 1; i <= NF; i++) { if ($(i + 1) == "ms") ms = $i; if ($i == "MFU") mfu = $(i + 1) }
            sub(/%/, "", mfu); sum_ms += ms; sum_work += ms * mfu; k++ # MFU * ms is the same for every step
        }
        END { if (k == 0) exit 1; mean = sum_ms / k; printf "%.0f %.1f\n", tokens / (mean / 1000), sum_work / sum_ms }' "$1"
}

table="$out/benchmark.md"
{
    echo "| run | tokens/s | MFU | vs PyTorch |"
    echo "|---|---:|---:|---:|"
} >"$table.rows"
declare -A tps mfu
ref_ratio="" # trainer MFU per token/s, for the peer's MFU
for o in $optims; do
    log="$out/train_$o.log"
    echo "+ $(trainer_cmd "$o" "$B" $((warmup + steps)))" >&2
    if $(trainer_cmd "$o" "$B" $((warmup + steps))) >"$log" 2>&1 && s=$(stats "$log"); then
        tps[$o]=${s% *}; mfu[$o]=${s#* }
        ref_ratio=$(awk -v m="${mfu[$o]}" -v t="${tps[$o]}" 'BEGIN { print m / t }')
    else
        echo "train_gpt2cu --optim $o failed: $(tail -n 1 "$log")" >&2
    fi
done
peer_tps=""
if [ $peer -eq 1 ]; then
    echo "+ $(peer_cmd "$B")" >&2
    if $(peer_cmd "$B") >"$out/peer.log" 2>&1; then
        peer_tps=$(sed -n 's/^peer tokens_per_s=\([0-9.]*\) .*/\1/p' "$out/peer.log" | tail -n 1)
    fi
    [ -n "$peer_tps" ] || echo "the PyTorch peer failed: $(tail -n 1 "$out/peer.log")" >&2
fi
for o in $optims; do
    if [ -z "${tps[$o]:-}" ]; then echo "| train_gpt2cu $o | failed | | |"; continue; fi
    ratio=$([ -n "$peer_tps" ] && awk -v a="${tps[$o]}" -v b="$peer_tps" 'BEGIN { printf "%.2fx", a / b }')
    echo "| train_gpt2cu $o | ${tps[$o]} | ${mfu[$o]}% | ${ratio:-} |"
done >>"$table.rows"
if [ $peer -eq 1 ]; then
    if [ -n "$peer_tps" ]; then
        peer_mfu=$([ -n "$ref_ratio" ] && awk -v r="$ref_ratio" -v t="$peer_tps" 'BEGIN { printf "%.1f%%", r * t }')
        echo "| PyTorch peer ($(sed -n 's/^peer .*compile=\([01]\).*/compile=\1/p' "$out/peer.log" | tail -n 1), AdamW) | ${peer_tps%.*} | ${peer_mfu:-} | 1.00x |"
    else
        echo "| PyTorch peer | failed | | |"
    fi >>"$table.rows"
fi
{
    device=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n 1)
    echo "d12 (GPT-2 124M), B=$B, T=$T, bf16; mean of $steps steps after $warmup warm-up steps${device:+; $device}"
    echo
    cat "$table.rows"
} >"$table"
rm -f "$table.rows"
cat "$table"

#!/usr/bin/env bash
# Zero-order training's memory and speed in train_gpt2cpu (common/zero_order.h), measured beside
# first-order AdamW: one short run each, in this invocation, on the same model and batch.
#   scripts/bench_zero_order.sh [--model d12] [--steps 3] [--data DIR] [--threads N]
# Prints a Markdown table: peak resident memory (/usr/bin/time -v), the run's own memory plan
# line, the mean step time over the steps after the first, and forward passes per second
# (--zo: 2 forwards per step; AdamW: 1 forward + 1 backward per step), and the whole run's user
# CPU seconds (less sensitive to a shared machine's load than wall time). -b 1 -t 64: d12 is
# slow on a CPU; the parameters (124M x 4 bytes = 0.5 GB) dominate at this batch anyway.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
source scripts/bench_lib.sh
model=d12 steps=3 data=data/tinyshakespeare threads=${OMP_NUM_THREADS:-2}
bench_flags 2,8 --model --steps --data --threads -- "$@"
[[ "$steps" =~ ^[2-9]$|^[1-9][0-9]+$ ]] || die "--steps wants an integer of at least 2 (the first step is not timed), got '$steps'"
positive --threads "$threads"
[ -f "$data/tiny_shakespeare_train.bin" ] || die "no $data/tiny_shakespeare_train.bin (give --data DIR)"
[ -x ./train_gpt2cpu ] || die "no ./train_gpt2cpu (make train_gpt2cpu)"
export OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads OMP_WAIT_POLICY=passive
make_work
echo "train_gpt2cpu -e $model -b 1 -t 64 -x $steps, $threads thread(s) ($(bench_stamp), $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg))"
echo
echo "| run | peak RSS (GiB) | memory plan | ms per step | forward passes / s | CPU seconds of the run (user) |"
echo "|---|---|---|---|---|---|"
for run in "adamw|--optim adamw" "mezo|--zo mezo" "jaguar-sign|--zo jaguar-sign" "jaguar-muon|--zo jaguar-muon"; do
    name=${run%%|*} flags=${run#*|}
    # shellcheck disable=SC2086
    if ! /usr/bin/time -v ./train_gpt2cpu -e "$model" -i "$data/tiny_shakespeare_train.bin" -j "$data/tiny_shakespeare_val.bin" \
            -b 1 -t 64 -x "$steps" -v 0 -s 0 $flags >"$work/$name.out" 2>"$work/$name.err"; then
        echo "error: the $name run failed: $(grep -h -m1 '^error' "$work/$name.err" "$work/$name.out" || tail -1 "$work/$name.err")" >&2
        exit 1
    fi
    kib=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$work/$name.err")
    plan=$(sed -n 's/^memory: this run needs \([0-9.]*\) GiB.*/\1 GiB/p' "$work/$name.out")
    ms=$(grep -E '^step +[0-9]+/' "$work/$name.out" | tail -n +2 | sed 's/.* | \([0-9.]*\) ms | .*/\1/' | awk '{s += $1} END {printf "%.0f", s / NR}')
    # AdamW: a backward costs about two forwards, so its step is about 3 forward-equivalents; the
    # column counts the forward passes actually run
    fwd=$(awk -v ms="$ms" -v n="$([ "$name" = adamw ] && echo 1 || echo 2)" 'BEGIN {printf "%.2f", n * 1000 / ms}')
    user=$(sed -n 's/.*User time (seconds): //p' "$work/$name.err")
    printf '| %s | %s | %s | %s | %s | %s |\n' "$name $flags" "$(gib "$kib")" "$plan" "$ms" "$fwd" "$user"
done

#!/usr/bin/env bash
# Zero-order training's memory and speed in train_gpt2cpu (common/zero_order.h), measured beside
# first-order AdamW: one short run each, in this invocation, on the same model and batch.
#   scripts/bench_zero_order.sh [--model d12] [--steps 3] [--data DIR] [--threads N] [--cpu-runs 1]
# Prints a Markdown table: peak resident memory (/usr/bin/time -v), the run's own memory plan
# line, the mean step time over the steps after the first, and forward passes per second
# (--zo: 2 forwards per step; AdamW: 1 forward + 1 backward per step), and the whole run's user
# CPU seconds (less sensitive to a shared machine's load than wall time). -b 1 -t 64: d12 is
# slow on a CPU; the parameters (124M x 4 bytes = 0.5 GB) dominate at this batch anyway.
# Then train_gpt2cu's device memory plan of the same runs ("this run needs", computed before any
# allocation; -x 0): ./train_gpt2cu where nvidia-smi sees a GPU, else the emulated build
# (build/emu/bf16/train_gpt2cu, whose plan is the same but for the cuBLAS workspace); a plan,
# never a measured peak. --cpu-runs 0: that table alone (seconds, not minutes).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
source scripts/bench_lib.sh
model=d12 steps=3 data=data/tinyshakespeare threads=${OMP_NUM_THREADS:-2} cpu_runs=1
bench_flags 2,12 --model --steps --data --threads --cpu-runs -- "$@"
[[ "$steps" =~ ^[2-9]$|^[1-9][0-9]+$ ]] || die "--steps wants an integer of at least 2 (the first step is not timed), got '$steps'"
positive --threads "$threads"
[ -f "$data/tiny_shakespeare_train.bin" ] || die "no $data/tiny_shakespeare_train.bin (give --data DIR)"
[[ "$cpu_runs" =~ ^[01]$ ]] || die "--cpu-runs wants 0 or 1, got '$cpu_runs'"
[ "$cpu_runs" = 0 ] || [ -x ./train_gpt2cpu ] || die "no ./train_gpt2cpu (make train_gpt2cpu)"
export OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads OMP_WAIT_POLICY=passive
make_work
runs=("adamw|--optim adamw" "mezo|--zo mezo" "jaguar-sign|--zo jaguar-sign" "jaguar-muon|--zo jaguar-muon")
if [ "$cpu_runs" = 1 ]; then
    echo "train_gpt2cpu -e $model -b 1 -t 64 -x $steps, $threads thread(s) ($(bench_stamp), $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg))"
    echo
    echo "| run | peak RSS (GiB) | memory plan | ms per step | forward passes / s | CPU seconds of the run (user) |"
    echo "|---|---|---|---|---|---|"
    for run in "${runs[@]}"; do
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
    echo
fi

# ---- train_gpt2cu's device memory plan of the same runs
if [ -x ./train_gpt2cu ] && nvidia-smi -L >/dev/null 2>&1; then gpu=./train_gpt2cu
elif [ -x build/emu/bf16/train_gpt2cu ]; then gpu=build/emu/bf16/train_gpt2cu
else echo "no train_gpt2cu plan: no GPU with ./train_gpt2cu, and no build/emu/bf16/train_gpt2cu (make build/emu/bf16/train_gpt2cu)"; exit 0
fi
echo "$gpu -e $model -b 1 -t 64 -d -1 -x 0: its device memory plan, not a measurement ($(bench_stamp))"
echo
echo "| run | this run needs (GiB) | what --zo leaves out or adds |"
echo "|---|---|---|"
for run in "${runs[@]}" "muon|--optim muon"; do
    name=${run%%|*} flags=${run#*|}
    # shellcheck disable=SC2086
    if ! "$gpu" -e "$model" -i "$data/tiny_shakespeare_train.bin" -j "$data/tiny_shakespeare_val.bin" -b 1 -t 64 -d -1 -x 0 -v 0 -s 0 \
            $flags >"$work/gpu_$name.out" 2>&1; then
        echo "error: the $gpu $name run failed: $(grep -m1 '^error' "$work/gpu_$name.out" || tail -1 "$work/gpu_$name.out")" >&2
        exit 1
    fi
    need=$(sed -n 's/.*this run needs \([0-9.]*\) GiB.*/\1/p' "$work/gpu_$name.out")
    zo=$(sed -n 's/^zero-order memory plan: no gradient buffer (\([0-9.]* MiB\) not allocated).*/no gradient buffer (\1)/p' "$work/gpu_$name.out")
    sets=$(sed -n "s/.*; \(JAGUAR's sets [0-9.]* MiB\).*/; \1/p" "$work/gpu_$name.out")
    ns=$(sed -n 's/.*; \(Newton-Schulz work .*\)$/; \1/p' "$work/gpu_$name.out")
    printf '| %s | %s | %s |\n' "$name $flags" "$need" "${zo:--}${sets}${ns}"
done

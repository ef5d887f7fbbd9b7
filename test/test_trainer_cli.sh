#!/usr/bin/env bash
# train_gpt2cpu end to end: flag errors (one line, exit 2), a short real training run on
# Tiny Shakespeare (loss falls, main.log in llm.c's format, model file written), reloading
# that model file with -e, run-to-run determinism, and every optimizer taking steps.
#   test/test_trainer_cli.sh [SHARED_DATA_DIR]     (training checks SKIP when it is absent)
set -uo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
shared="${1:-../shared/data}"
bin=./train_gpt2cpu
work=build/trainer_cli
rm -rf "$work"; mkdir -p "$work"
PYTHON="${PYTHON:-/usr/bin/python3}"

source test/lib.sh

# expect_usage_error NAME PATTERN ARGS...: exit code 2 and one stderr line matching PATTERN.
expect_usage_error() { local name=$1 pattern=$2; shift 2; expect_one_line_error "cli/$name" "$pattern" "" "$bin" "$@"; }

"$bin" -h >"$work/help.out" 2>&1 && grep -q -- "--optim" "$work/help.out" && grep -q -- "--muon-ns-steps" "$work/help.out" \
    && pass cli/help || fail cli/help "-h did not list the flags"
expect_usage_error unknown_flag "unknown flag '--bogus'" --bogus 1
expect_usage_error missing_value "needs a value" -l
expect_usage_error seq_len_too_long "sequence length.*1024" -t 2048
expect_usage_error negative_lr "learning rate.*negative" -l -0.1
expect_usage_error unknown_optimizer "unknown optimizer 'adam'" --optim adam
expect_usage_error bad_number "wants a number.*abc" --momentum abc
expect_usage_error bad_schedule "--schedule" --schedule step
expect_usage_error unknown_model "neither a model name .* nor a model file" -e d7
expect_usage_error missing_shard "no_such_shard.*not found" -e d2 -t 64 -i "$work/no_such_shard.bin"
# A model file whose header has 5 heads for width 64.
"$PYTHON" - "$work/bad_heads.bin" <<'EOF'
import sys, numpy as np
h = np.zeros(256, dtype=np.int32); h[:8] = [20240326, 3, 64, 100, 1, 5, 64, 128]
h.tofile(sys.argv[1])
EOF
expect_usage_error heads_not_dividing_width "heads \(5\) must divide the width \(64\)" -e "$work/bad_heads.bin"
expect_usage_error batch_not_multiple "not a multiple of B\*T" -e d2 -b 4 -t 64 -d 1000 \
    -i "$shared/tinyshakespeare/tiny_shakespeare_train.bin" -j "$shared/tinyshakespeare/tiny_shakespeare_val.bin"

# The memory plan (cpu/memory_plan.h): a run that cannot fit in MemAvailable is one line naming
# the GiB it needs and the GiB available (exit 2), not a std::bad_alloc abort (exit 134). A case
# SKIPs where MemAvailable reaches the least it needs (then it would start training for real).
avail_gib=$(awk '/^MemAvailable:/ {printf "%d", $2 / 1048576}' /proc/meminfo)
expect_memory_error() {
    local name=$1 least_gib=$2; shift 2
    if [ "${avail_gib:-0}" -ge "$least_gib" ]; then
        echo "SKIP cli/$name: MemAvailable ${avail_gib} GiB holds the run's ${least_gib}+ GiB"
    else
        expect_usage_error "$name" "^error: not enough memory: this run needs [0-9.]+ GiB \(params\+grads [0-9.]+, .*\), [0-9.]+ GiB available" "$@"
    fi
}
expect_memory_error memory_d48 23 -e d48 -x 1 -v 0               # params, grads, AdamW state: 23.2 GiB
expect_memory_error memory_d12_b16_t1024 24 -e d12 -b 16 -t 1024 -x 1 -v 0  # activations: 24.1 GiB
expect_memory_error memory_d2_b4000 50 -e d2 -b 4000 -x 1 -v 0  # logits alone: 4000 x T x 50304 floats
# What the plan does not foresee (here a 1.4 GB address-space limit): still one line, exit 2.
expect_one_line_error cli/memory_bad_alloc "^error: out of memory: an allocation failed \(std::bad_alloc\)" "" \
    bash -c "ulimit -v 1400000 && exec $bin -e d12 -t 64 -x 1 -v 0"

train="$shared/tinyshakespeare/tiny_shakespeare_train.bin"
val="$shared/tinyshakespeare/tiny_shakespeare_val.bin"
if [ ! -f "$train" ] || [ ! -f "$val" ]; then
    echo "SKIP cli/training: no Tiny Shakespeare shards in $shared"
    exit 0
fi
data=(-i "$train" -j "$val" -e d2 -b 4 -t 64)

# A short AdamW run: the loss must fall and the log must parse.
"$bin" "${data[@]}" -x 30 -l 3e-3 -u 5 -v 15 -m 4 --optim adamw -o "$work/run" >"$work/run.out" 2>&1
rc=$?
[ $rc -eq 0 ] && pass cli/train_runs || fail cli/train_runs "exit $rc: $(tail -3 "$work/run.out")"
log="$work/run/main.log"
# main.log lines (scripts parse them): train 's:STEP trl:LOSS lr:LR norm:NORM tps:TOKENS_PER_S', val 's:STEP tel:LOSS'.
if [ -f "$log" ] && ! grep -vqE '^s:[0-9]+ (trl:[0-9]+\.[0-9]{6} lr:[0-9]\.[0-9]{6}e[-+][0-9]+ norm:[0-9]+\.[0-9]{4} tps:[0-9]+|tel:[0-9]+\.[0-9]{6})$' "$log" \
    && [ "$(grep -c ' trl:' "$log")" -eq 30 ] && [ "$(grep -c ' tel:' "$log")" -eq 3 ]; then
    pass cli/main_log_format "(30 trl lines, 3 tel lines)"
else
    fail cli/main_log_format "$(head -5 "$log" 2>/dev/null)"
fi
first=$(grep -m1 ' tel:' "$log" | sed 's/.*tel://'); final=$(grep ' tel:' "$log" | tail -1 | sed 's/.*tel://')
awk -v a="$first" -v b="$final" 'BEGIN { exit !(b < a - 1.0) }' \
    && pass cli/val_loss_falls "($first -> $final)" || fail cli/val_loss_falls "val loss $first -> $final, want a drop of more than 1.0"

# The model file: llm.c header and size, and -e reloads exactly these weights.
model="$work/run/model_00000030.bin"
"$PYTHON" - "$model" <<'EOF' && pass cli/model_file_header || fail cli/model_file_header "bad header or size in $model"
import os, sys, numpy as np
h = np.fromfile(sys.argv[1], dtype=np.int32, count=256)
L, C, Vp, maxT = 2, 64, 50304, 1024
n = Vp * C + maxT * C + L * (12 * C * C + 13 * C) + 2 * C
sys.exit(0 if list(h[:8]) == [20240326, 3, maxT, 50257, L, 4, C, Vp] and os.path.getsize(sys.argv[1]) == 1024 + 4 * n else 1)
EOF
"$bin" -i "$train" -j "$val" -e "$model" -b 4 -t 64 -x 1 -v 1 -m 4 -l 0 >"$work/reload.out" 2>&1
reloaded=$(grep -m1 'val loss' "$work/reload.out" | sed 's/.*val loss //')
[ -n "$reloaded" ] && [ "$reloaded" = "$final" ] \
    && pass cli/model_file_reload "(val loss $reloaded)" || fail cli/model_file_reload "reloaded val loss '$reloaded', saved model had $final"

# Same flags and seed: the same losses, to the printed digit.
for i in 1 2; do "$bin" "${data[@]}" -x 3 -v 0 --optim muon -o "$work/det$i" >/dev/null 2>&1; done
# ... and the same weights, bit for bit, at 1 and 3 threads (README: thread count and results).
for n in 1 3; do OMP_NUM_THREADS=$n "$bin" "${data[@]}" -x 3 -v 0 --optim muon -o "$work/det_threads$n" >/dev/null 2>&1; done
cmp -s "$work/det1/model_00000003.bin" "$work/det_threads1/model_00000003.bin" \
    && cmp -s "$work/det1/model_00000003.bin" "$work/det_threads3/model_00000003.bin" \
    && pass cli/deterministic_thread_count "(muon, 3 steps: identical model files at 1, 3 and $(nproc) threads)" \
    || fail cli/deterministic_thread_count "the model after 3 steps depends on OMP_NUM_THREADS"
# (tokens/s, the last field of train lines, is a timing and differs run to run)
losses() { sed 's/ tps:.*//' "$1"; }
cmp -s <(losses "$work/det1/main.log") <(losses "$work/det2/main.log") && [ -s "$work/det1/main.log" ] \
    && pass cli/deterministic || fail cli/deterministic "two runs with the same seed logged different losses"
"$bin" "${data[@]}" -x 3 -v 0 --optim muon --seed 7 -o "$work/det3" >/dev/null 2>&1
cmp -s <(losses "$work/det1/main.log") <(losses "$work/det3/main.log") \
    && fail cli/seed_changes_run "--seed 7 gave the same losses as seed 42" || pass cli/seed_changes_run

# Every optimizer (and a muon fallback that is not adamw) takes finite steps.
for opt in "sgd" "sgd --nesterov 1" "signsgd" "signum" "lion" "muon --muon-fallback lion" "adamw -c 0.1 --wd-on all --schedule wsd"; do
    name="optim_$(echo "$opt" | tr ' ' '_' | tr -d '-')"
    # shellcheck disable=SC2086
    "$bin" "${data[@]}" -x 2 -v 0 --optim $opt >"$work/$name.out" 2>&1
    rc=$?
    if [ $rc -eq 0 ] && grep -q "step    2/2 | loss [0-9]" "$work/$name.out"; then pass "cli/$name"; else fail "cli/$name" "exit $rc: $(tail -2 "$work/$name.out")"; fi
done

# Gradient accumulation: with --no-shuffle, one micro-batch of 4 rows and two of 2 rows
# read the same token rows, so the per-step losses agree to fp32 rounding (SGD without
# clipping: a wrong gradient scale changes its steps, unlike AdamW's).
"$bin" "${data[@]}" -b 4 -d 256 -x 3 -v 0 --no-shuffle --optim sgd -l 0.5 --grad-clip 0 -o "$work/accum1" >/dev/null 2>&1
"$bin" "${data[@]}" -b 2 -d 256 -x 3 -v 0 --no-shuffle --optim sgd -l 0.5 --grad-clip 0 -o "$work/accum2" >/dev/null 2>&1
if paste -d' ' <(cut -d' ' -f1,2 "$work/accum1/main.log") <(cut -d' ' -f1,2 "$work/accum2/main.log") | awk '
    { split($2, a, ":"); split($4, b, ":"); d = a[2] - b[2]; if (d < 0) d = -d; if (NF != 4 || d > 1e-5 * a[2]) bad = 1; n++ }
    END { exit (bad || n != 3) }'; then
    pass cli/grad_accumulation "(B=4 vs 2x B=2: $(cut -d' ' -f1,2 "$work/accum2/main.log" | tr '\n' ' '))"
else
    fail cli/grad_accumulation "losses differ: $(cut -d' ' -f1,2 "$work/accum1/main.log" | tr '\n' ' ') vs $(cut -d' ' -f1,2 "$work/accum2/main.log" | tr '\n' ' ')"
fi

# A bf16 (version 5) model file, as llm.c writes, loads: its val loss is that of the fp32
# weights rounded to bf16, close to the fp32 model's.
"$PYTHON" - "$model" "$work/model_bf16.bin" <<'EOF2'
import sys, numpy as np
h = np.fromfile(sys.argv[1], dtype=np.int32, count=256).copy()
w = np.fromfile(sys.argv[1], dtype=np.float32, offset=1024)
bits = w.view(np.uint32)
bf16 = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)   # round to nearest even
h[1] = 5
with open(sys.argv[2], "wb") as f:
    f.write(h.tobytes()); f.write(bf16.tobytes())
EOF2
"$bin" -i "$train" -j "$val" -e "$work/model_bf16.bin" -b 4 -t 64 -x 1 -v 1 -m 4 -l 0 >"$work/reload_bf16.out" 2>&1
bf16_loss=$(grep -m1 'val loss' "$work/reload_bf16.out" | sed 's/.*val loss //')
awk -v a="$bf16_loss" -v b="$final" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(a != "" && d < 0.02 * b && a != b) }' \
    && pass cli/model_file_bf16_reload "(val loss $bf16_loss vs fp32 $final)" \
    || fail cli/model_file_bf16_reload "bf16 model val loss '$bf16_loss', fp32 model $final"

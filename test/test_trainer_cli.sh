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

# Help is --help, or a bare -h as the last word (llm.c's -h N is HellaSwag, below).
for h in --help -h "-e d2 -h"; do
    # shellcheck disable=SC2086
    "$bin" $h >"$work/help.out" 2>&1 && grep -q -- "--optim" "$work/help.out" && grep -q -- "--muon-ns-steps" "$work/help.out" \
        && grep -q -- "--fanion-alpha" "$work/help.out" && grep -q -- "--smuon-sign-scale" "$work/help.out" \
        && grep -q -- "-h 0|1 .*HellaSwag" "$work/help.out" \
        && grep -q -- "--allow-train-val-overlap" "$work/help.out" && grep -q -- "--data-seed" "$work/help.out" && grep -q "GPT2_COMM_TIMEOUT" "$work/help.out" && pass "cli/help(${h// /_})" || fail "cli/help(${h// /_})" "'$h' did not list the flags"
done
expect_usage_error unknown_flag "unknown flag '--bogus'" --bogus 1
expect_usage_error missing_value "needs a value" -l
expect_usage_error seq_len_too_long "sequence length.*1024" -t 2048
expect_usage_error negative_lr "learning rate.*negative" -l -0.1
expect_usage_error unknown_optimizer "unknown optimizer 'adam'" --optim adam
expect_usage_error bad_number "wants a number.*abc" --momentum abc
expect_usage_error bad_schedule "--schedule" --schedule step
expect_usage_error bad_muon_scale "--muon-scale wants shape|rms" --muon-scale big
expect_usage_error bad_muon_ns "--muon-ns wants quintic|polar-express" --muon-ns cubic
expect_usage_error muon_fallback_not_nsgd "--muon-fallback wants" --muon-fallback nsgd
expect_usage_error fanion_alpha_above_1 "--fanion-alpha must be in \[0, 1\], got 1.5" --optim fmuon --fanion-alpha 1.5
expect_usage_error fanion_alpha_nan "--fanion-alpha wants a number, got .nan." --optim smuon --fanion-alpha nan
expect_usage_error fanion_alpha_without_fanion "--fanion-alpha needs --optim fmuon or smuon, got --optim muon" --optim muon --fanion-alpha 0.5
expect_usage_error smuon_sign_scale_zero "--smuon-sign-scale must be positive, got 0" --optim smuon --smuon-sign-scale 0
expect_usage_error smuon_sign_scale_with_fmuon "--smuon-sign-scale needs --optim smuon, got --optim fmuon" --optim fmuon --smuon-sign-scale 0.01
expect_usage_error bad_nsgd_norm "--nsgd-norm wants tensor\|global, got 'layer'" --nsgd-norm layer
expect_usage_error bad_warmup_shape "--warmup-shape wants linear\|cos, got 'cosine'" --warmup-shape cosine
# --optim-group GROUP=RULE[:LR] (docs/param_groups.md)
expect_usage_error optim_group_unknown_group "--optim-group emb=sgd: unknown group 'emb' \(wte\|wpe\|attn\|mlp\|norms\)" --optim-group emb=sgd
expect_usage_error optim_group_unknown_rule "--optim-group wte=adam: unknown rule 'adam'" --optim-group wte=adam
expect_usage_error optim_group_not_group_rule "--optim-group wte=ssvr: ssvr is not a group rule" --optim-group wte=ssvr
expect_usage_error optim_group_twice "--optim-group names group wte twice" --optim-group wte=sgd --optim-group wte=signsgd
expect_usage_error optim_group_muon_non_matrix "--optim-group norms=muon: muon orthogonalizes matrices; group norms is not attn or mlp" --optim muon --optim-group norms=muon
expect_usage_error optim_group_muon_without_muon "--optim-group attn=muon needs --optim muon" --optim-group attn=muon
expect_usage_error optim_group_matrix_off_muon "under --optim muon the groups attn and mlp stay muon" --optim muon --optim-group mlp=adamw
expect_usage_error optim_group_bad_lr "--optim-group wte=sgd:1e-x: the learning rate must be a number >= 0, got '1e-x'" --optim-group wte=sgd:1e-x
expect_usage_error optim_group_negative_lr "the learning rate must be a number >= 0, got '-0.1'" --optim-group wte=sgd:-0.1
expect_usage_error optim_group_no_rule "--optim-group wants GROUP=RULE\[:LR\], got 'wte'" --optim-group wte
expect_usage_error optim_group_nsgd "--optim-group does not apply to --optim nsgd" --optim nsgd --optim-group wte=sgd
expect_usage_error optim_group_sign_vote_mixed "--sign-vote 1 votes on one rule's signs: --optim-group wte=sgd differs from --optim signsgd" --optim signsgd --sign-vote 1 --optim-group wte=sgd
expect_usage_error unknown_model "neither a model name .* nor a model file" -e d7
expect_usage_error missing_shard "no_such_shard.*not found" -e d2 -t 64 -i "$work/no_such_shard.bin"
# A model file whose header has 5 heads for width 64.
"$PYTHON" - "$work/bad_heads.bin" <<'EOF'
import sys, numpy as np
h = np.zeros(256, dtype=np.int32); h[:8] = [20240326, 3, 64, 100, 1, 5, 64, 128]
h.tofile(sys.argv[1])
EOF
expect_usage_error heads_not_dividing_width "heads \(5\) must divide the width \(64\)" -e "$work/bad_heads.bin"
# Integer flags are range-checked before narrowing to int: none of these may wrap into a run.
# (a missing shard after each: code that lets the value through fails fast with another error)
nowhere=(-e d2 -i "$work/no_such_shard.bin")
expect_usage_error x_wraps_to_epoch "flag -x: 4294967295 is too large" -x 4294967295 "${nowhere[@]}"
expect_usage_error x_too_large "flag -x: 3000000000 is too large \(at most 2147483647\)" -x 3000000000 "${nowhere[@]}"
expect_usage_error b_wraps_to_1 "flag -b: 4294967297 is too large" -b 4294967297 "${nowhere[@]}"
expect_usage_error t_wraps_to_64 "flag -t: 4294967360 is too large" -t 4294967360 "${nowhere[@]}"
expect_usage_error d_accum_wraps_negative "total batch -d 549755813888 is too large: 2147483648 accumulation steps" -b 4 -t 64 -d 549755813888 "${nowhere[@]}"
expect_usage_error d_accum_wraps_to_1 "total batch -d 1099511628032 is too large: 4294967297 accumulation steps" -b 4 -t 64 -d 1099511628032 "${nowhere[@]}"
expect_usage_error bt_product_too_large "micro-batch -b 2147483647 x -t 2 .* too large" -b 2147483647 -t 2 "${nowhere[@]}"
expect_usage_error d_beyond_long "flag -d: 99999999999999999999 is too large" -d 99999999999999999999 "${nowhere[@]}"
expect_usage_error negative_seed "--seed wants a non-negative integer" --seed -1 "${nowhere[@]}"
expect_usage_error bad_data_seed "--data-seed wants a non-negative integer below 2\^64, got 'x1'" --data-seed x1 "${nowhere[@]}"
expect_usage_error v_too_large "flag -v: 2147483648 is too large" -v 2147483648 "${nowhere[@]}"
expect_usage_error x_below_minus_1 "max steps -x must be -1 .*, 0 .* or positive" -x -2 "${nowhere[@]}"
expect_usage_error nsgd_tensor_z1 "-z 1 shards nsgd's layer slices across ranks: use --nsgd-norm global" --optim nsgd -z 1 "${nowhere[@]}"
# llm.c flags: values outside llm.c's meaning are errors; -h N needs B >= 4.
expect_usage_error h_value "flag -h: 2 is too large \(at most 1\)" -h 2 "${nowhere[@]}"
expect_usage_error zero_stage_2 "-z 2: ZeRO stages 2 and 3 are not implemented" -z 2 "${nowhere[@]}"
expect_usage_error recompute_3 "-r wants 0, 1 or 2" -r 3 "${nowhere[@]}"
expect_usage_error wsd_shape "--wsd-shape wants sqrt\|linear" --wsd-shape cubic "${nowhere[@]}"
expect_usage_error init_name "--init wants counter\|llmc" --init xavier "${nowhere[@]}"
expect_usage_error init_llmc_seed_range "--seed must be below 2\^32" --init llmc --seed 4294967296 "${nowhere[@]}"
expect_usage_error hellaswag_small_batch "-h 1 packs the 4 completions .* -b 4 or more, got 2" -h 1 -b 2 "${nowhere[@]}"
expect_usage_error noise_windows_format "flag --noise-windows wants windows START:END" --noise-every 2 --noise-windows 5 "${nowhere[@]}"
expect_usage_error noise_windows_empty "flag --noise-windows: window 7:7 is empty" --noise-every 2 --noise-windows 0:4,7:7 "${nowhere[@]}"
expect_usage_error noise_windows_order "flag --noise-windows: window 3:9 starts before the previous one ends \(5\)" --noise-every 2 --noise-windows 0:5,3:9 "${nowhere[@]}"
expect_usage_error noise_windows_negative "flag --noise-windows: -1 is too small" --noise-every 2 --noise-windows -1:4 "${nowhere[@]}"
expect_usage_error noise_windows_need_every "--noise-windows picks where --noise-every N measures" --noise-windows 0:4 "${nowhere[@]}"
expect_usage_error batch_not_multiple "not a multiple of B\*T" -e d2 -b 4 -t 64 -d 1000 \
    -i "$shared/tinyshakespeare/tiny_shakespeare_train.bin" -j "$shared/tinyshakespeare/tiny_shakespeare_val.bin"

# -o on a symlink to nowhere names the symlink, not the lock file mkdir could not reach
ln -sfn "$work/no_such_dir/out" "$work/dangling"
expect_usage_error o_dangling_symlink "'$work/dangling' is a symlink to '$work/no_such_dir/out', which does not resolve" \
    -o "$work/dangling" -e d2 -b 4 -t 64 -x 1 -i "$shared/tinyshakespeare/tiny_shakespeare_train.bin" -j "$shared/tinyshakespeare/tiny_shakespeare_val.bin"

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

# Training and validation data must not overlap (compared by real path) unless
# --allow-train-val-overlap says so; -a 1 and a run that never validates are not checked.
ln -sfn "$(cd "$(dirname "$val")" && pwd)/$(basename "$val")" "$work/val_link.bin"
expect_usage_error train_val_overlap_glob "-i '.*\*\.bin' and -j '.*' both match '.*tiny_shakespeare_val.bin'.*--allow-train-val-overlap" \
    -i "$(dirname "$train")/*.bin" -j "$val" -e d2 -b 4 -t 64 -x 1
expect_usage_error train_val_overlap_symlink "both match '$work/val_link.bin'.*val loss would be measured on training data" \
    -i "$work/val_link.bin" -j "$val" -e d2 -b 4 -t 64 -x 1
overlap_ok() { # NAME NOTE_PATTERN ARGS...: exit 0, and a note matching NOTE_PATTERN ("" for none)
    local name=$1 pattern=$2; shift 2
    "$bin" -e d2 -b 4 -t 64 -x 1 -s 0 "$@" >"$work/$name.out" 2>&1
    local rc=$?
    if [ $rc -eq 0 ] && { [ -z "$pattern" ] && ! grep -q '^note: --allow' "$work/$name.out" || grep -qE -- "$pattern" "$work/$name.out"; }; then
        pass "cli/$name" "($(grep -m1 '^note: --allow' "$work/$name.out"))"
    else fail "cli/$name" "exit $rc: $(grep -m2 -e error -e note "$work/$name.out")"; fi
}
overlap_ok train_val_overlap_allowed "^note: --allow-train-val-overlap: -i and -j share 1 file" -i "$(dirname "$train")/*.bin" -j "$val" --allow-train-val-overlap -m 1
overlap_ok train_val_overlap_not_validating "" -i "$(dirname "$train")/*.bin" -j "$val" -v 0
overlap_ok train_val_overlap_flag_idle "^note: --allow-train-val-overlap has no effect: -i and -j share no file" -i "$train" -j "$val" --allow-train-val-overlap -m 1

# Flags that would do nothing in this run: one note line each, and the run goes on.
expect_note() { # NAME NOTE_PATTERN ARGS...
    local name=$1 pattern=$2; shift 2
    "$bin" "${data[@]}" -s 0 "$@" >"$work/$name.out" 2>&1
    local rc=$? n
    n=$(grep -cE -- "^note: $pattern" "$work/$name.out")
    [ $rc -eq 0 ] && [ "$n" -eq 1 ] && pass "cli/$name" "($(grep -m1 -E -- "^note: $pattern" "$work/$name.out"))" \
        || fail "cli/$name" "exit $rc, $n matching note(s): $(grep -m3 -e '^note' -e error "$work/$name.out")"
}
expect_note note_noise_windows_beyond_x "--noise-windows 100:200 has no effect: it starts after the run's last step 3" \
    -x 3 -v 0 --noise-every 1 --noise-batches 2 --noise-windows 0:1,100:200
expect_note note_v_without_val_batches "-v 1 has no effect: -m 0 gives it no val batches" -x 1 -v 1 -m 0
expect_note note_m_without_v "-m has no effect: -v 0 never validates" -x 1 -v 0 -m 3
expect_note note_noise_batches_without_every "--noise-batches has no effect" -x 1 -v 0 --noise-batches 4
expect_note note_tail_samples_without_every "--tail-index-samples has no effect" -x 1 -v 0 --tail-index-samples 8
expect_note note_g_without_s "-g has no effect: -s 0 never samples" -x 1 -v 0 -g 10
expect_note note_n_without_o "-n has no effect: checkpoints are written only with -o DIR" -x 1 -v 0 -n 1
expect_note note_beta1_for_sgd "--beta1 has no effect: --optim sgd does not use it" -x 1 -v 0 --optim sgd --beta1 0.8
expect_note note_beta2_for_sgd_signsgd_groups "--beta2 has no effect: --optim sgd and its --optim-group rules do not use it" -x 1 -v 0 --optim sgd --optim-group wte=signsgd --beta2 0.9
expect_note note_wsd_shape_for_cosine "--wsd-shape has no effect: it shapes --schedule wsd only" -x 1 -v 0 --wsd-shape linear

# A short AdamW run: the loss must fall and the log must parse.
"$bin" "${data[@]}" -x 30 -l 3e-3 -u 5 -v 15 -m 4 --optim adamw -o "$work/run" >"$work/run.out" 2>&1
rc=$?
[ $rc -eq 0 ] && pass cli/train_runs || fail cli/train_runs "exit $rc: $(tail -3 "$work/run.out")"
log="$work/run/main.log"
# main.log lines in llm.c's format, precision and numbering (llm.c's dev/vislog.ipynb reads
# them): train 's:STEP trl:%.4f lr:%.6f norm:%.2f' then our 'tps:N', val 's:STEP tel:%.4f';
# the first update is s:0, after 's:0 tel:'; val at 15 follows the update s:14.
if [ -f "$log" ] && ! grep -vqE '^s:[0-9]+ (trl:[0-9]+\.[0-9]{4} lr:[0-9]+\.[0-9]{6} norm:[0-9]+\.[0-9]{2} tps:[0-9]+|tel:[0-9]+\.[0-9]{4})$' "$log" \
    && [ "$(grep -c ' trl:' "$log")" -eq 30 ] && [ "$(grep -c ' tel:' "$log")" -eq 3 ] \
    && [ "$(head -2 "$log" | cut -c1-7 | tr '\n' ' ')" = "s:0 tel s:0 trl " ] \
    && [ "$(grep -B1 '^s:15 tel' "$log" | head -1 | cut -d' ' -f1)" = "s:14" ] && [ "$(grep ' trl:' "$log" | tail -1 | cut -d' ' -f1)" = "s:29" ]; then
    pass cli/main_log_format "(30 trl lines s:0..s:29, 3 tel lines, llm.c precision)"
else
    fail cli/main_log_format "$(head -3 "$log" 2>/dev/null | tr '\n' ' ')"
fi
# llm.c's vislog parser: 's:STEP' then 'stream:value' as float, later lines overwrite a step.
"$PYTHON" - "$log" <<'EOF' && pass cli/main_log_vislog_parses || fail cli/main_log_vislog_parses "llm.c's parser failed on $log"
import sys
streams = {}
for line in open(sys.argv[1]):
    parts = line.split()
    step = int(parts[0].split(":")[1])
    stream, val = parts[1].split(":")[0], float(parts[1].split(":")[1])
    streams.setdefault(stream, {})[step] = val
sys.exit(0 if sorted(streams["trl"]) == list(range(30)) and sorted(streams["tel"]) == [0, 15, 30] else 1)
EOF
first=$(grep -m1 'val loss' "$work/run.out" | sed 's/.*val loss //'); final=$(grep 'val loss' "$work/run.out" | tail -1 | sed 's/.*val loss //')
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
# ... and the same weights, bit for bit, at 1 and 3 threads (docs/cpu_speed.md: thread count and results).
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
# --data-seed: its default is --seed's value (the same run, bit for bit); another value changes the
# data order (other losses) and not the init (the same step-0 model file).
"$bin" "${data[@]}" -x 3 -v 0 --optim muon --data-seed 42 -o "$work/ds42" >/dev/null 2>&1
cmp -s "$work/det1/model_00000003.bin" "$work/ds42/model_00000003.bin" && grep -q '"data_seed":"\?42' "$work/ds42/metrics.jsonl" \
    && pass cli/data_seed_default_is_seed "(--data-seed 42 = no --data-seed under --seed 42: identical model after 3 steps)" \
    || fail cli/data_seed_default_is_seed "--data-seed 42 trained another model than the default, or no data_seed 42 in metrics.jsonl"
"$bin" "${data[@]}" -x 3 -v 0 --optim muon --data-seed 7 -o "$work/ds7" >/dev/null 2>&1
for d in s0 ds0; do "$bin" "${data[@]}" -x 0 -v 0 $([ $d = ds0 ] && echo --data-seed 7) -o "$work/init_$d" >/dev/null 2>&1; done
cmp -s <(losses "$work/det1/main.log") <(losses "$work/ds7/main.log") || [ ! -s "$work/ds7/main.log" ] \
    && fail cli/data_seed_changes_order "--data-seed 7 gave the same losses as the default (or did not run)" \
    || { cmp -s "$work/init_s0/model_00000000.bin" "$work/init_ds0/model_00000000.bin" && [ -s "$work/init_s0/model_00000000.bin" ] \
         && pass cli/data_seed_changes_order "(other losses, the same init)" \
         || fail cli/data_seed_changes_order "--data-seed 7 changed the step-0 model (the init must follow --seed alone)"; }

# --noise-windows: noise records only at A, A+N, ... below B in each window, none at the end.
"$bin" "${data[@]}" -x 6 -v 0 --optim sgd --noise-every 2 --noise-batches 2 --noise-windows 1:4,5:6 -o "$work/noise_windows" >"$work/noise_windows.out" 2>&1
got=$(grep ' phi:' "$work/noise_windows/main.log" 2>/dev/null | cut -d' ' -f1 | tr '\n' ' ')
[ "$got" = "s:1 s:3 s:5 " ] && grep -q '"noise_windows":"1:4,5:6"' "$work/noise_windows/metrics.jsonl" \
    && pass cli/noise_windows "(phi at steps 1, 3, 5 of 6)" || fail cli/noise_windows "phi lines at '$got', want 's:1 s:3 s:5 ' and the windows in the config record"

# Every optimizer (and a muon fallback that is not adamw) takes finite steps.
for opt in "sgd" "sgd --nesterov 1" "signsgd" "signum" "lion" "muon --muon-fallback lion" "adamw -c 0.1 --wd-on all --schedule wsd" \
           "nsgd" "nsgd --nsgd-norm global" "ssvr -d 512" "muon --muon-scale rms --muon-ns polar-express" \
           "fmuon" "smuon --fanion-alpha 0.3 --muon-fallback signsgd"; do
    name="optim_$(echo "$opt" | tr ' ' '_' | tr -d '-')"
    # shellcheck disable=SC2086
    "$bin" "${data[@]}" -x 2 -v 0 --optim $opt >"$work/$name.out" 2>&1
    rc=$?
    if [ $rc -eq 0 ] && grep -q "step    2/2 | loss [0-9]" "$work/$name.out"; then pass "cli/$name"; else fail "cli/$name" "exit $rc: $(tail -2 "$work/$name.out")"; fi
done

# The config record names nsgd's norm and the warmup's shape; the plan line says them too.
"$bin" "${data[@]}" -x 2 -v 0 --optim nsgd -u 2 --warmup-shape cos -o "$work/nsgd_cos" >"$work/nsgd_cos.out" 2>&1
grep -q '"nsgd_norm":"tensor"' "$work/nsgd_cos/metrics.jsonl" 2>/dev/null && grep -q '"warmup_shape":"cos"' "$work/nsgd_cos/metrics.jsonl" \
    && grep -q "norm per layer slice, cos warmup" "$work/nsgd_cos.out" \
    && pass cli/nsgd_norm_warmup_shape_recorded || fail cli/nsgd_norm_warmup_shape_recorded "$(grep -o '"nsgd_norm":"[a-z]*"\|"warmup_shape":"[a-z]*"' "$work/nsgd_cos/metrics.jsonl" 2>/dev/null | tr '\n' ' ') $(grep '^optimizer' "$work/nsgd_cos.out")"

# Gradient accumulation: with --no-shuffle, one micro-batch of 4 rows and two of 2 rows
# read the same token rows, so the per-step losses agree to fp32 rounding (SGD without
# clipping: a wrong gradient scale changes its steps, unlike AdamW's).
"$bin" "${data[@]}" -b 4 -d 256 -x 3 -v 0 --no-shuffle --optim sgd -l 0.5 --grad-clip 0 -o "$work/accum1" >/dev/null 2>&1
"$bin" "${data[@]}" -b 2 -d 256 -x 3 -v 0 --no-shuffle --optim sgd -l 0.5 --grad-clip 0 -o "$work/accum2" >/dev/null 2>&1
# (the full-precision losses of metrics.jsonl: main.log has llm.c's 4 decimals)
train_losses() { grep '"type":"train"' "$1" | sed 's/.*"loss":\([^,]*\),.*/\1/' | tr '\n' ' '; }
if paste -d' ' <(train_losses "$work/accum1/metrics.jsonl" | tr ' ' '\n') <(train_losses "$work/accum2/metrics.jsonl" | tr ' ' '\n') | awk '
    NF == 0 { next } { d = $1 - $2; if (d < 0) d = -d; if (NF != 2 || d > 1e-5 * $1) bad = 1; n++ }
    END { exit (bad || n != 3) }'; then
    pass cli/grad_accumulation "(B=4 vs 2x B=2: $(train_losses "$work/accum2/metrics.jsonl"))"
else
    fail cli/grad_accumulation "losses differ: $(train_losses "$work/accum1/metrics.jsonl") vs $(train_losses "$work/accum2/metrics.jsonl")"
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

# ---- llm.c's flags on a real run: each accepted-but-ignored flag prints one note line; -x 0
# evaluates only and, with -o, writes the untrained model as model_00000000.bin.
"$bin" "${data[@]}" -x 0 -v 1 -m 1 -z 1 -w 0 -ge 2 -sl 3 -sg 3 -nm 10 -lg 5 -o "$work/x0" >"$work/x0.out" 2>&1
rc=$?
notes=$(grep -c '^note: ' "$work/x0.out")
missing=""; for f in "-z 1" "-w 0" "-ge" "-sl" "-sg" "-nm" "-lg"; do grep -q "^note: $f" "$work/x0.out" || missing="$missing $f"; done
[ $rc -eq 0 ] && [ "$notes" -eq 7 ] && [ -z "$missing" ] \
    && pass cli/llmc_flags_notes "($notes notes)" || fail cli/llmc_flags_notes "exit $rc, $notes notes: $(grep -m3 -e note -e error "$work/x0.out" | tr '\n' ' ')"
[ $rc -eq 0 ] && [ -f "$work/x0/model_00000000.bin" ] && [ "$(cut -c1-7 "$work/x0/main.log")" = "s:0 tel" ] \
    && ! grep -q ' trl:' "$work/x0/main.log" && ! grep -qE '^step +[0-9]+/' "$work/x0.out" \
    && pass cli/x0_evaluates_and_writes_model "($(cat "$work/x0/main.log"))" || fail cli/x0_evaluates_and_writes_model "exit $rc: $(tail -2 "$work/x0.out")"
# the untrained model reloads to the same val loss
"$bin" -i "$train" -j "$val" -e "$work/x0/model_00000000.bin" -b 4 -t 64 -x 0 -v 1 -m 1 >"$work/x0_reload.out" 2>&1
a=$(grep -m1 'val loss' "$work/x0.out" | sed 's/.*val loss //'); b=$(grep -m1 'val loss' "$work/x0_reload.out" | sed 's/.*val loss //')
[ -n "$a" ] && [ "$a" = "$b" ] && pass cli/x0_model_reloads "(val loss $a)" || fail cli/x0_model_reloads "'$a' vs '$b'"

# ---- --init llmc: llm.c train_gpt2.cu's init, checked against an independent computation
# of llm.c's generator (Python's random.Random is MT19937; its state is set from
# init_genrand(seed) as llm.c's manual_seed does), Box-Muller in float32 as llmc/rand.h, and
# llm.c's fill order (wte's real rows, wpe, then per layer qkvw, attprojw, fcw, fcprojw).
# numpy's log/sqrt/cos/sin, rounded to float, stand in for the C library's logf/sqrtf/cosf/
# sinf; where they differ in the last bits (~1% of values) the value is recomputed with this
# machine's libm through ctypes, and then every value must be bit-identical.
"$bin" "${data[@]}" -x 0 -v 0 --init llmc --seed 42 -o "$work/llmc42" >"$work/llmc42.out" 2>&1
"$bin" "${data[@]}" -x 0 -v 0 --init llmc --seed 7 -o "$work/llmc7" >"$work/llmc7.out" 2>&1
"$PYTHON" - "$work/llmc42/model_00000000.bin" 42 "$work/llmc7/model_00000000.bin" 7 <<'EOF'
import ctypes, math, random, sys
import numpy as np
libm = ctypes.CDLL("libm.so.6")
for fn in ("logf", "sqrtf", "cosf", "sinf"):
    getattr(libm, fn).restype, getattr(libm, fn).argtypes = ctypes.c_float, [ctypes.c_float]
def libm_normal(u_lo, u_hi, use_sin, std):  # one value of normal_fill_16, with the C library's float functions
    f32 = np.float32
    radius = f32(libm.sqrtf(float(f32(-2) * f32(libm.logf(float((f32(1) - u_lo) + f32(1e-12)))))))
    theta = f32(2.0 * math.pi * float(u_hi))
    c = f32(libm.sinf(float(theta)) if use_sin else libm.cosf(float(theta)))
    return radius * c * f32(std)
def mt_stream(seed):
    s = [seed & 0xffffffff]
    for j in range(1, 624):
        s.append((1812433253 * (s[-1] ^ (s[-1] >> 30)) + j) & 0xffffffff)
    r = random.Random()
    r.setstate((3, tuple(s + [624]), None))  # index 624: regenerate before the first draw
    return r
def normal(r, n, std, got):  # llmc/rand.h normal_ for n >= 16, float32 throughout; got: the trainer's values
    f32 = np.float32
    u = np.array([r.getrandbits(32) & 0xFFFFFF for _ in range(n)], dtype=np.float64) / 2**24
    x = u.astype(np.float32)
    def bm(blocks):  # rows of 16 draws -> 16 normals each
        u1, u2 = f32(1) - blocks[:, :8], blocks[:, 8:].astype(np.float64)
        # logf/sqrtf/cosf/sinf in double, rounded once (a correctly rounded float libm); glibc
        # may differ in the last bit, hence the ulp tolerance below
        lg = np.log((u1 + f32(1e-12)).astype(np.float64)).astype(np.float32)
        radius = np.sqrt((f32(-2) * lg).astype(np.float64)).astype(np.float32)
        theta = (2.0 * math.pi * u2).astype(np.float32).astype(np.float64)
        c, s = np.cos(theta).astype(np.float32), np.sin(theta).astype(np.float32)
        return np.concatenate([radius * c * f32(std), radius * s * f32(std)], axis=1).reshape(-1)
    full = n // 16 * 16
    out = np.concatenate([bm(x[:full].reshape(-1, 16)), x[full:]])
    src = x.copy()
    if n % 16:
        tail = np.array([r.getrandbits(32) & 0xFFFFFF for _ in range(16)], dtype=np.float64) / 2**24
        src[n - 16:] = tail.astype(np.float32)
        out[n - 16:] = bm(src[n - 16:].reshape(1, 16))
    global via_libm
    for i in np.nonzero(out != got)[0]:
        base = n - 16 if i >= n - 16 and n % 16 else i // 16 * 16
        t = (i - base) % 8
        out[i] = libm_normal(src[base + t], src[base + 8 + t], i - base >= 8, std)
        via_libm += 1
    return out
ok = True
for path, seed in zip(sys.argv[1::2], map(int, sys.argv[2::2])):
    h = np.fromfile(path, dtype=np.int32, count=256)
    maxT, V, L, NH, C, Vp = h[2:8]
    w = np.fromfile(path, dtype=np.float32, offset=1024)
    sizes = [Vp * C, maxT * C, L * C, L * C, L * 3 * C * C, L * 3 * C, L * C * C, L * C, L * C, L * C,
             L * 4 * C * C, L * 4 * C, L * 4 * C * C, L * C, C, C]
    offs = np.cumsum([0] + sizes)
    t = lambda k: w[offs[k]:offs[k + 1]]
    r = mt_stream(seed)
    via_libm = 0
    want = {0: [normal(r, V * C, 0.02, t(0)[:V * C])], 1: [normal(r, maxT * C, 0.02, t(1))], 4: [], 6: [], 10: [], 12: []}
    res = np.float32(0.02) * (np.float32(1) / np.sqrt(np.float32(2 * L)))  # float, as llm.c
    for l in range(L):
        for k, n in ((4, 3 * C * C), (6, C * C), (10, 4 * C * C), (12, 4 * C * C)):
            lc = t(k)[l * n:(l + 1) * n]
            want[k].append(normal(r, n, res if k in (6, 12) else 0.02, lc))
    worst, exact, total = 0.0, 0, 0
    for k, parts in want.items():
        got = t(k)[:V * C] if k == 0 else t(k)
        ref = np.concatenate(parts)
        ulp = np.abs(got.view(np.int32).astype(np.int64) - ref.view(np.int32).astype(np.int64))
        worst, exact, total = max(worst, ulp.max()), exact + (ulp == 0).sum(), total + ulp.size
    rest = (np.all(t(0)[V * C:] == 0) and all(np.all(t(k) == 1) for k in (2, 8, 14))
            and all(np.all(t(k) == 0) for k in (3, 5, 7, 9, 11, 13, 15)))
    good = worst == 0 and rest and via_libm < 0.05 * total
    ok &= good
    print("%s cli/init_llmc_seed%d (%d values bit-identical: %d (%d through libm), worst %d ulp; gains 1, biases and wte padding 0)"
          % ("PASS" if good else "FAIL", seed, total, exact, via_libm, worst))
sys.exit(0 if ok else 1)
EOF
[ $? -eq 0 ] || failures=$((failures + 1))

# ---- -h 1: HellaSwag in llm.c's eval file format. The test writes 7 made-up examples with
# data/hellaswag.py's writer (token ids 1000..1399, a 6-token context, 4 completions of 3-5
# tokens), checks the file with a reader written from llm.c's EvalLoader (dev/data/
# data_common.py write_evalfile and llmc/dataloader.h: header, START, EXAMPLE_BYTES covering
# the whole example, index, label, 4 completions, the fits-in-T checks), then trains d2 on
# "<eot> context right-completion" sequences: after training it must answer all 7 right, and
# a copy of the file whose labels all point at another completion must then score 0.
hs="$work/hellaswag"; mkdir -p "$hs"
"$PYTHON" - "$repo/data" "$hs" <<'EOF'
import random, sys
import numpy as np
sys.path.insert(0, sys.argv[1])
from hellaswag import write_eval_file
out = sys.argv[2]
rng = random.Random(5)
examples = []
for i in range(7):
    ctx = [rng.randrange(1000, 1400) for _ in range(6)]
    comps = [[rng.randrange(1000, 1400) for _ in range(rng.randrange(3, 6))] for _ in range(4)]
    examples.append((rng.randrange(4), ctx, comps))
write_eval_file(out + "/good.bin", examples)
write_eval_file(out + "/wrong.bin", [((l + 1) % 4, c, k) for l, c, k in examples])
toks = []
for _ in range(3000):
    l, c, k = examples[rng.randrange(7)]
    toks += [50256] + c + k[l]
h = np.zeros(256, dtype="<i4"); h[:3] = [20240520, 1, len(toks)]
with open(out + "/train.bin", "wb") as f:
    f.write(h.tobytes()); f.write(np.array(toks, dtype="<u2").tobytes())
# the same file with a broken EXAMPLE_BYTES in example 3, and a truncated copy
w = np.fromfile(out + "/good.bin", dtype="<u2", offset=1024)
starts = [i for i in range(len(w)) if w[i] == 65535]
bad = w.copy(); bad[starts[3] + 1] += 2
open(out + "/bad_bytes.bin", "wb").write(open(out + "/good.bin", "rb").read(1024) + bad.tobytes())
open(out + "/truncated.bin", "wb").write(open(out + "/good.bin", "rb").read()[:-6])
EOF
"$PYTHON" - "$hs/good.bin" 16 <<'EOF' && pass cli/hellaswag_layout_llmc_reader || fail cli/hellaswag_layout_llmc_reader "llm.c's layout checks failed on $hs/good.bin"
import sys
import numpy as np
path, T = sys.argv[1], int(sys.argv[2])
h = np.fromfile(path, dtype="<i4", count=256)
assert h[0] == 20240522 and h[1] == 1, "magic/version"
n, longest = int(h[2]), int(h[3])
assert 0 < longest < (1 + 4) * T * 2, "longest example bytes"
w = np.fromfile(path, dtype="<u2", offset=1024)
pos, seen = 0, 0
for i in range(n):
    assert w[pos] == 65535 and w[pos + 2] == i, "START / EXAMPLE_INDEX"
    nbytes = int(w[pos + 1]); ex = w[pos + 3:pos + nbytes // 2]
    label, ncomp, nctx = int(ex[0]), int(ex[1]), int(ex[2])
    assert 0 <= label < 4 and ncomp == 4 and 0 < nctx < T, "label / completions / context"
    j = 3 + nctx
    for c in range(4):
        m = int(ex[j]); assert m > 0 and nctx + m < T, "completion fits"; j += 1 + m
    assert j == len(ex), "EXAMPLE_BYTES covers exactly the example"
    seen = max(seen, nbytes); pos += nbytes // 2
assert pos == len(w) and seen == longest
EOF
hsrun=(-i "$hs/train.bin" -j "$hs/train.bin" --allow-train-val-overlap -e d2 -b 8 -t 16 -m 1) # one tiny shard for both
"$bin" "${hsrun[@]}" -x 20 -v 10 -h 1 --hellaswag "$hs/good.bin" -l 1e-2 -o "$hs/run" >"$hs/run.out" 2>&1
rc=$?
evals=$(grep ' eval:' "$hs/run/main.log" 2>/dev/null | tr '\n' ' ')
[ $rc -eq 0 ] && [ "$evals" = "s:10 eval:$(grep 'step 10: HellaSwag' "$hs/run.out" | sed 's/.*= //') s:20 eval:1.0000 " ] \
    && grep -q '"type":"eval","step":20,"task":"hellaswag","accuracy":1,"correct":7,"examples":7' "$hs/run/metrics.jsonl" \
    && pass cli/hellaswag_learned "($evals)" || fail cli/hellaswag_learned "exit $rc, main.log eval lines '$evals': $(grep -e HellaSwag -e error "$hs/run.out" | tr '\n' ' ')"
"$bin" "${hsrun[@]}" -e "$hs/run/model_00000020.bin" -x 0 -v 1 -h 1 --hellaswag "$hs/wrong.bin" >"$hs/wrong.out" 2>&1
grep -q "step 0: HellaSwag 0/7 = 0.0000" "$hs/wrong.out" && pass cli/hellaswag_wrong_labels_score_0 \
    || fail cli/hellaswag_wrong_labels_score_0 "$(grep -e HellaSwag -e error "$hs/wrong.out")"
expect_usage_error hellaswag_directory "--hellaswag '$hs' is a directory, not a file" "${hsrun[@]}" -h 1 --hellaswag "$hs"
expect_usage_error hellaswag_missing_file "-h 1 needs the HellaSwag eval file '$hs/none.bin' .*data/hellaswag.py" "${hsrun[@]}" -h 1 --hellaswag "$hs/none.bin"
expect_usage_error hellaswag_bad_magic "HellaSwag file .* has magic 20240520, not 20240522" "${hsrun[@]}" -h 1 --hellaswag "$hs/train.bin"
expect_usage_error hellaswag_bad_example_bytes "example 3: its byte count does not match" "${hsrun[@]}" -h 1 --hellaswag "$hs/bad_bytes.bin"
expect_usage_error hellaswag_truncated "example 6: the file ends inside the example" "${hsrun[@]}" -h 1 --hellaswag "$hs/truncated.bin"
expect_usage_error hellaswag_too_long_for_T "context \+ completion must be shorter than -t" "${hsrun[@]}" -t 9 -h 1 --hellaswag "$hs/good.bin"

# --profile-kernels on train_gpt2cpu: the matmuls' time and rate over the steps after the
# first (a BLAS build; a BLAS=0 build says there is nothing to time).
"$bin" "${data[@]}" -x 3 -v 0 --profile-kernels >"$work/profile.out" 2>&1
line=$(grep '^profile: ' "$work/profile.out")
if grep -q 'BLAS=0 build' "$work/profile.out"; then
    pass cli/profile_kernels "(BLAS=0 build: $(grep -m1 '^note: --profile' "$work/profile.out"))"
elif [[ "$line" =~ ^profile:\ matmuls\ [0-9.]+\ ms\ of\ [0-9.]+\ ms\ per\ step\ \(([0-9.]+)%\),\ [0-9.]+\ GFLOP/s\ in\ the\ matmuls\ \(27\ products,\ 2\ steps\)$ ]] \
    && awk -v p="${BASH_REMATCH[1]}" 'BEGIN { exit !(p > 0 && p < 100) }'; then
    pass cli/profile_kernels "($line)"
else
    fail cli/profile_kernels "profile line '$line'"
fi
"$bin" "${data[@]}" -x 1 -v 0 --profile-kernels 2>&1 | grep -q '^profile: no step after the first to time' \
    && pass cli/profile_kernels_one_step || fail cli/profile_kernels_one_step "no 'nothing to time' line with -x 1"

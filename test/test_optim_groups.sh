#!/usr/bin/env bash
# --optim-group (optim/param_groups.h, docs/param_groups.md) end to end on a trainer (d2,
# B=2, T=32 on Tiny Shakespeare):
#   - every group given --optim's own rule and lr is bit-identical to the plain run (model
#     files and losses), and so is Muon's fallback spelled as --optim-group (adamw on wte,
#     wpe, norms at the fallback's lr);
#   - a mixed run records each group's rule and lr (plan line, config record), and its
#     train records' per-group update_norm equal ||p_after - p_before|| per group computed
#     with numpy from the checkpoints' model files;
#   - a resume with the same groups writes a byte-identical checkpoint; with other groups it
#     is refused (one line, exit 2).
# The rules themselves are checked against the PyTorch oracle by test_cpu_vs_oracle and
# test_gpt2_cuda (runs group_*); the flag errors by test/test_trainer_cli.sh.
#   test/test_optim_groups.sh [SHARED_DATA_DIR [TRAINER [NAME_PREFIX]]]
# TRAINER: ./train_gpt2cpu (default) or build/emu/bf16/train_gpt2cu (NAME_PREFIX "emu/cuda/").
set -uo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
source test/lib.sh
trainer_test_args "$@"
PYTHON="${PYTHON:-/usr/bin/python3}"

{
if ! test_tiny_shakespeare || [ ! -x "$bin" ]; then
    echo "SKIP groups: no $train or no trainer $bin"
    exit 0
fi
mkdir -p build
work=$(mktemp -d build/optim_groups.XXXXXX)
run=("$bin" -i "$train" -j "$val" -e d2 -b 2 -t 32 -d 64 -v 0 -s 0)

# ---- all groups on --optim's rule and lr: the plain run, bit for bit
all_sgd=(--optim-group wte=sgd:0.01 --optim-group wpe=sgd:0.01 --optim-group attn=sgd:0.01 --optim-group mlp=sgd:0.01 --optim-group norms=sgd:0.01)
"${run[@]}" -x 2 --optim sgd -l 0.01 -c 0.1 -o "$work/plain" >"$work/plain.out" 2>&1
"${run[@]}" -x 2 --optim sgd -l 0.01 -c 0.1 "${all_sgd[@]}" -o "$work/all_sgd" >"$work/all_sgd.out" 2>&1
train_losses() { grep '"type":"train"' "$1" 2>/dev/null | sed 's/.*"loss":\([^,]*\),.*/\1/' | tr '\n' ' '; }
if [ -s "$work/plain/model_00000002.bin" ] && cmp -s "$work/plain/model_00000002.bin" "$work/all_sgd/model_00000002.bin" \
    && [ "$(train_losses "$work/plain/metrics.jsonl")" = "$(train_losses "$work/all_sgd/metrics.jsonl")" ]; then
    pass groups/all_groups_one_rule_bit_identical "(sgd at 0.01 on all five groups = --optim sgd: same model file and losses after 2 steps)"
else
    fail groups/all_groups_one_rule_bit_identical "model files or losses differ: $(train_losses "$work/plain/metrics.jsonl") vs $(train_losses "$work/all_sgd/metrics.jsonl") $(tail -1 "$work/all_sgd.out")"
fi

# ---- Muon's fallback spelled as groups (adamw at its default 6e-4 on wte, wpe, norms)
"${run[@]}" -x 2 --optim muon -o "$work/muon" >"$work/muon.out" 2>&1
"${run[@]}" -x 2 --optim muon --optim-group wte=adamw:6e-4 --optim-group wpe=adamw --optim-group norms=adamw -o "$work/muon_groups" >"$work/muon_groups.out" 2>&1
cmp -s "$work/muon/model_00000002.bin" "$work/muon_groups/model_00000002.bin" && [ -s "$work/muon/model_00000002.bin" ] \
    && pass groups/muon_fallback_as_groups_bit_identical "(--optim muon = --optim muon with adamw groups on wte, wpe, norms)" \
    || fail groups/muon_fallback_as_groups_bit_identical "model files differ after 2 steps: $(tail -1 "$work/muon_groups.out")"

# ---- a mixed run: plan, config record, update norms against the model files
mixed=(--optim sgd -l 0.05 -c 0.1 --optim-group wte=signsgd:3e-3 --optim-group norms=adamw:1e-3)
"${run[@]}" -x 4 -n 1 "${mixed[@]}" -o "$work/mixed" >"$work/mixed.out" 2>&1
rc=$?
grep -q "^optimizer sgd: lr 0.05.*, group wte signsgd at lr 0.003, group norms adamw at lr 0.001$" "$work/mixed.out" \
    && grep -q '"optim_group":"wte=signsgd:0.00300000003,norms=adamw:0.00100000005"' "$work/mixed/metrics.jsonl" \
    && grep -q '"wte":{"rule":"signsgd","lr":0.00300000003,' "$work/mixed/metrics.jsonl" \
    && grep -q '"attn":{"rule":"sgd","lr":0.0500000007,"momentum":0.899999976,' "$work/mixed/metrics.jsonl" \
    && pass groups/plan_and_config_record "(plan line and optim_group, optim_groups in the config record)" \
    || fail groups/plan_and_config_record "exit $rc: $(grep '^optimizer' "$work/mixed.out") $(grep -o '"optim_group[^}]*}' "$work/mixed/metrics.jsonl" | head -1)"
# update_norm of update s (0-based) = per-group ||model_{s+1} - model_s|| (the model files hold
# the master weights); s = 1, 2, 3 (checkpoints at 1..4)
"$PYTHON" - "$work/mixed" <<'EOF' && pass groups/update_norms_match_model_files || fail groups/update_norms_match_model_files "see above"
import json, sys
import numpy as np
d = sys.argv[1]
L, C, Vp, maxT = 2, 64, 50304, 1024
sizes = [("wte", Vp * C), ("wpe", maxT * C), ("norms", 2 * L * C), ("attn", L * 3 * C * C), ("norms", L * 3 * C),
         ("attn", L * C * C), ("norms", 3 * L * C), ("mlp", L * 4 * C * C), ("norms", L * 4 * C), ("mlp", L * 4 * C * C),
         ("norms", L * C), ("norms", 2 * C)]  # the 16 tensors' groups in layout order (ln1w+ln1b, ..., lnfw+lnfb merged)
def model(step):
    return np.fromfile("%s/model_%08d.bin" % (d, step), dtype=np.float32, offset=1024).astype(np.float64)
records = {r["step"]: r for r in map(json.loads, open(d + "/metrics.jsonl")) if r.get("type") == "train"}
worst = 0.0
for s in (1, 2, 3):
    delta = model(s + 1) - model(s)
    want, at = {}, 0
    for group, n in sizes:
        want[group] = want.get(group, 0.0) + float((delta[at:at + n] ** 2).sum())
        at += n
    assert at == delta.size, (at, delta.size)
    got = records[s]["update_norm"]
    for group, sq in want.items():
        err = abs(got[group] - sq ** 0.5) / sq ** 0.5
        worst = max(worst, err)
        if err > 1e-5:
            print("FAIL groups/update_norm_step%d_%s: record %.9g, model files %.9g" % (s, group, got[group], sq ** 0.5))
            sys.exit(1)
print("# update norms of steps 1..3 match the model files to %.1e (wte %.4g, norms %.4g at step 1)" % (worst, records[1]["update_norm"]["wte"], records[1]["update_norm"]["norms"]))
EOF

# ---- resume: same groups byte-identical, other groups refused
mkdir -p "$work/resumed"
cp "$work/mixed/model_00000002.bin" "$work/mixed/state_00000002.bin" "$work/resumed/"
"${run[@]}" -x 4 -n 1 "${mixed[@]}" -o "$work/resumed" -y 1 >"$work/resumed.out" 2>&1
cmp -s "$work/mixed/state_00000004.bin" "$work/resumed/state_00000004.bin" && cmp -s "$work/mixed/model_00000004.bin" "$work/resumed/model_00000004.bin" \
    && pass groups/resume_same_groups_byte_identical "(resumed at step 2 of 4)" \
    || fail groups/resume_same_groups_byte_identical "checkpoint 4 differs after resuming: $(tail -2 "$work/resumed.out")"
expect_one_line_error groups/resume_other_groups_refused "cannot resume the checkpoint of step 4 .* with --optim-group 'wte=signsgd:0.00100000005,norms=adamw:0.00100000005': it was trained with 'wte=signsgd:0.00300000003,norms=adamw:0.00100000005'" "" \
    "${run[@]}" -x 6 --optim sgd -l 0.05 -c 0.1 --optim-group wte=signsgd:1e-3 --optim-group norms=adamw:1e-3 -o "$work/resumed" -y 1
expect_one_line_error groups/resume_without_groups_refused "with --optim-group '': it was trained with 'wte=signsgd" "" \
    "${run[@]}" -x 6 --optim sgd -l 0.05 -c 0.1 -o "$work/resumed" -y 1

if [ "$failures" -eq 0 ]; then rm -rf "$work"; else echo "outputs kept in $work"; fi
exit $((failures > 0))
} 2>&1 | prefix_verdicts
exit "${PIPESTATUS[0]}"

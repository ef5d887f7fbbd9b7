#!/usr/bin/env bash
# --zo (common/zero_order.h) in train_gpt2cpu end to end, on d2 (B=4, T=16) fine-tuned from a
# model file of a few AdamW steps: every bad --zo value and impossible combination is one
# line and exit 2; each method's loss falls over 6 steps on one batch (-a 1); a run stopped
# at a checkpoint and resumed writes byte-identical checkpoints; mpirun -np 2 at B=2 equals
# one process at B=4 (the losses all-reduced, the same perturbation on every rank). train_gpt2cu
# under the CPU emulator (build/emu/bf16/train_gpt2cu; those checks SKIP without it, and are
# "passed under emulation", never on a GPU): each method's losses follow the CPU trainer's,
# jaguar-muon's first update follows it tensor by tensor, resume is byte-identical, and 2 emulated
# NCCL ranks equal one process (and resume byte-identical).
# build/test_zero_order checks the estimates and updates themselves.
#   test/test_zero_order.sh [SHARED_DATA_DIR]
set -uo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
shared="${1:-../shared/data}"
bin=./train_gpt2cpu
PYTHON="${PYTHON:-/usr/bin/python3}"
source test/lib.sh
mkdir -p build/zo_tests
work=$(mktemp -d build/zo_tests/run.XXXXXX)
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 OMP_WAIT_POLICY=passive

expect_usage_error() { local name=$1 pattern=$2; shift 2; expect_one_line_error "zo/$name" "$pattern" "" "$bin" "$@"; }
expect_usage_error bad_method "--zo wants mezo\|jaguar-sign\|jaguar-muon, got 'spsa'" --zo spsa
expect_usage_error eps_zero "--zo-eps must be positive, got 0" --zo mezo --zo-eps 0
expect_usage_error tau_negative "--zo-tau must be positive, got -0.1" --zo jaguar-sign --zo-tau -0.1
expect_usage_error beta_one "--zo-beta must be in \[0, 1\), got 1" --zo jaguar-sign --zo-beta 1
expect_usage_error fraction_zero "--zo-fraction must be in \(0, 1\], got 0" --zo jaguar-sign --zo-fraction 0
expect_usage_error fraction_big "--zo-fraction must be in \(0, 1\], got 1.5" --zo jaguar-muon --zo-fraction 1.5
expect_usage_error fraction_word "--zo-fraction wants a number, got 'tenth'" --zo jaguar-muon --zo-fraction tenth
expect_usage_error with_sign_vote "no gradient signs to vote on" --zo jaguar-sign --optim signsgd --sign-vote 1
expect_usage_error with_zero1 "-z 1 does not apply" --zo mezo -z 1
expect_usage_error with_noise "--noise-every measures gradients" --zo mezo --noise-every 2
expect_usage_error with_tail_index "--tail-index-every measures gradients" --zo jaguar-muon --tail-index-every 2
expect_usage_error with_other_optim "--zo mezo steps with sgd's rule: --optim adamw" --zo mezo --optim adamw
expect_usage_error with_momentum "JAGUAR's momentum is --zo-beta" --zo jaguar-sign --momentum 0.9
expect_usage_error with_nesterov "--nesterov does not apply" --zo jaguar-muon --nesterov 1
expect_usage_error with_muon_fallback "--muon-fallback does not apply" --zo jaguar-muon --muon-fallback adamw
"$bin" --help >"$work/help.out" 2>&1
grep -q -- "--zo-fraction F" "$work/help.out" && pass zo/help_lists_flags || fail zo/help_lists_flags "--help has no --zo-fraction"
"$bin" --zo-tau 0.01 -x 0 -e d2 -t 8 -v 0 >"$work/idle.out" 2>&1
grep -q "note: --zo-tau has no effect" "$work/idle.out" && pass zo/idle_flag_note || fail zo/idle_flag_note "no note for --zo-tau without --zo"

# train_gpt2cu parses the same flags (common/train_config.h): one of the refusals there too
emu=build/emu/bf16/train_gpt2cu
if [ -x "$emu" ]; then
    expect_one_line_error zo/cuda_with_nesterov "--nesterov does not apply" "" "$emu" --zo jaguar-muon --nesterov 1
else
    echo "SKIP zo/cuda_with_nesterov: no $emu (make build/emu/bf16/train_gpt2cu)"
fi

train="$shared/tinyshakespeare/tiny_shakespeare_train.bin" val="$shared/tinyshakespeare/tiny_shakespeare_val.bin"
if [ ! -f "$train" ]; then
    echo "SKIP zo/training: no Tiny Shakespeare shards in $shared"
    [ $failures -eq 0 ] && rm -rf "$work"
    exit $((failures > 0))
fi
common=(-i "$train" -j "$val" -b 4 -t 16 -v 0 -s 0)
"$bin" "${common[@]}" -e d2 -x 4 --optim adamw -l 3e-3 -o "$work/pre" >"$work/pre.out" 2>&1 || fail zo/pretrain "exit $?: $(tail -2 "$work/pre.out")"
model="$work/pre/model_00000004.bin"

# ---- loss falls over 8 steps on one batch (-a 1), from the model file
step_loss() { grep -E "^step +$2/" "$1" | sed 's/.*| loss \([0-9.]*\) .*/\1/'; }
for spec in "mezo -l 3e-4" "jaguar-sign -l 2e-3" "jaguar-muon -l 2e-3"; do
    read -r method lr_flag lr <<<"$spec"
    out="$work/fall_$method.out"
    if "$bin" "${common[@]}" -e "$model" -x 6 -a 1 --zo "$method" "$lr_flag" "$lr" >"$out" 2>&1; then
        first=$(step_loss "$out" 1) last=$(step_loss "$out" 6)
        "$PYTHON" -c "import sys; sys.exit(0 if float('$last') < float('$first') - 1e-3 else 1)" \
            && pass "zo/${method}_loss_falls" "(step 1 $first, step 6 $last)" || fail "zo/${method}_loss_falls" "step 1 $first, step 6 $last (want a drop > 1e-3)"
    else
        fail "zo/${method}_loss_falls" "exit $?: $(tail -2 "$out")"
    fi
done
grep -q "memory: this run needs" "$work/fall_mezo.out" && ! grep -q "params+grads" "$work/fall_mezo.out" && pass zo/memory_plan_line || fail zo/memory_plan_line "$(grep memory: "$work/fall_mezo.out")"

# ---- resume: 3 steps straight against 2 + 1 with a checkpoint between: byte-identical
# resumed_equals NAME STRAIGHT_DIR DIR STEPS CMD...: CMD -x STEPS-1 -o DIR, then -y 1 -x STEPS;
# step STEPS's model and state files must equal STRAIGHT_DIR's (CMD's run of -x STEPS)
resumed_equals() {
    local name=$1 straight=$2 dir=$3 steps=$4; shift 4
    local at; at=$(printf %08d "$steps")
    "$@" -x $((steps - 1)) -o "$dir" >"$dir.out" 2>&1
    "$@" -x "$steps" -o "$dir" -y 1 >>"$dir.out" 2>&1
    if cmp -s "$straight/model_$at.bin" "$dir/model_$at.bin" && cmp -s "$straight/state_$at.bin" "$dir/state_$at.bin" \
        && grep -q "resuming from the checkpoint of step $((steps - 1))" "$dir.out"; then
        pass "$name"
    else
        fail "$name" "step $steps's model/state files differ (or no resume): $(grep -m1 -E 'error|resuming' "$dir.out")"
    fi
}
for method in mezo jaguar-muon; do
    args=("${common[@]}" -e "$model" --zo "$method" -l 1e-3 -n 2)
    "$bin" "${args[@]}" -x 3 -o "$work/straight_$method" >"$work/straight_$method.out" 2>&1
    resumed_equals "zo/${method}_resume_byte_identical" "$work/straight_$method" "$work/resumed_$method" 3 "$bin" "${args[@]}"
done

# ---- train_gpt2cu's zero-order step (optim/zero_order.cuh; emulated here, passed under emulation):
# the same draws as the CPU's, so its losses follow the CPU trainer's (bf16 weights: within 2e-4 relative, measured 5e-5; one step moves them ~6e-4), and
# its resume is byte-identical; -d 64: train_gpt2cu's default batch is 524288 tokens
if [ -x "$emu" ]; then
    for spec in "mezo 3e-4" "jaguar-sign 2e-3" "jaguar-muon 2e-3"; do
        read -r method lr <<<"$spec"
        args=("${common[@]}" -d 64 -e "$model" -x 3 -a 1 --zo "$method" -l "$lr")
        "$bin" "${args[@]}" >"$work/cpu3_$method.out" 2>&1
        if OMP_WAIT_POLICY=passive "$emu" "${args[@]}" >"$work/emu3_$method.out" 2>&1; then
            verdict=$("$PYTHON" - "$work/cpu3_$method.out" "$work/emu3_$method.out" <<'PYEOF'
import re, sys
def losses(p): return [float(m.group(1)) for m in re.finditer(r"^step +\d+/\d+ \| loss ([0-9.]+)", open(p).read(), re.M)]
c, g = losses(sys.argv[1]), losses(sys.argv[2])
worst = max((abs(a - b) / abs(a) for a, b in zip(c, g)), default=1.0)
ok = len(c) == len(g) == 3 and worst < 2e-4  # a step moves the loss by ~6e-4 relative
print(("ok " if ok else "bad ") + f"cpu {c} emulated {g} worst rel {worst:.1e}")
PYEOF
)
            [[ $verdict == ok* ]] && pass "zo/cuda_${method}_follows_cpu" "${verdict#ok }" || fail "zo/cuda_${method}_follows_cpu" "${verdict#bad }"
        else
            fail "zo/cuda_${method}_follows_cpu" "exit $?: $(tail -2 "$work/emu3_$method.out")"
        fi
    done
    # jaguar-muon's first update, tensor by tensor, against the CPU's: m = (1 - beta) s rho on the
    # sets, so sign(m) and NS(m) (scale-free) depend on rho's sign only, not on the bf16-rounded
    # shifts' |rho|: the sign-step tensors' updates equal the CPU's, the matrices' follow to the
    # bf16 Newton-Schulz (measured 1.0e-2 to 3.0e-2 relative)
    args=("${common[@]}" -d 64 -e "$model" -x 1 -a 1 --zo jaguar-muon -l 2e-3)
    "$bin" "${args[@]}" -o "$work/cpu_muon1" >"$work/cpu_muon1.out" 2>&1
    if "$emu" "${args[@]}" -o "$work/emu_muon1" >"$work/emu_muon1.out" 2>&1; then
        verdict=$("$PYTHON" - "$model" "$work/cpu_muon1/model_00000001.bin" "$work/emu_muon1/model_00000001.bin" <<'PYEOF'
import sys
sys.path.insert(0, "test")
import numpy as np
from dp_check import model_params
p0, tensors = model_params(sys.argv[1], tensors=True)
cpu, emu = model_params(sys.argv[2]) - p0, model_params(sys.argv[3]) - p0
bad, worst = [], {}
for name, a, b in tensors:
    dc, de = cpu[a:b].astype(np.float64), emu[a:b].astype(np.float64)
    rel = np.linalg.norm(de - dc) / np.linalg.norm(dc) if np.linalg.norm(dc) > 0 else np.inf
    matrix = name in ("qkvw", "attprojw", "fcw", "fcprojw")
    worst["matrices" if matrix else "the rest"] = max(worst.get("matrices" if matrix else "the rest", 0.0), rel)
    if not rel <= (5e-2 if matrix else 1e-6): bad.append(f"{name} {rel:.1e}")
text = ", ".join(f"{k} {v:.1e}" for k, v in worst.items())
print(("ok " if not bad else "bad ") + f"worst relative error of the update: {text} (tol 5e-2, 1e-6)" + ("; " + ", ".join(bad) if bad else ""))
PYEOF
)
        [[ $verdict == ok* ]] && pass zo/cuda_jaguar-muon_first_update "(${verdict#ok })" || fail zo/cuda_jaguar-muon_first_update "${verdict#bad }"
    else
        fail zo/cuda_jaguar-muon_first_update "exit $?: $(tail -2 "$work/emu_muon1.out")"
    fi
    for method in mezo jaguar-muon; do
        args=("${common[@]}" -d 64 -e "$model" --zo "$method" -l 1e-3 -n 2)
        "$emu" "${args[@]}" -x 3 -o "$work/emu_straight_$method" >"$work/emu_straight_$method.out" 2>&1
        resumed_equals "zo/cuda_${method}_resume_byte_identical" "$work/emu_straight_$method" "$work/emu_resumed_$method" 3 "$emu" "${args[@]}"
    done
else
    echo "SKIP zo/cuda_steps: no $emu (make build/emu/bf16/train_gpt2cu)"
fi

# ---- the checkpoint records --zo and its settings: a resume that changes them is one line, exit 2
# (a jaguar-sign checkpoint holds JAGUAR's m in signum's momentum slot, so nothing else would notice)
"$bin" "${common[@]}" -e "$model" --zo jaguar-sign -l 1e-3 -x 2 -n 2 -o "$work/ck_jaguar" >"$work/ck_jaguar.out" 2>&1
"$bin" "${common[@]}" -e "$model" --optim signum -l 1e-3 -x 2 -n 2 -o "$work/ck_signum" >"$work/ck_signum.out" 2>&1
expect_one_line_error zo/resume_refuses_dropping_zo "with --zo off: it was trained with --zo jaguar-sign tau 0.005" "" \
    "$bin" "${common[@]}" -e "$model" --optim signum -l 1e-3 -x 3 -n 2 -y 1 -o "$work/ck_jaguar"
expect_one_line_error zo/resume_refuses_adding_zo "with --zo jaguar-sign tau 0.005 beta 0.1 fraction 0.1: it was trained with --zo off" "" \
    "$bin" "${common[@]}" -e "$model" --zo jaguar-sign -l 1e-3 -x 3 -n 2 -y 1 -o "$work/ck_signum"
expect_one_line_error zo/resume_refuses_other_tau "with --zo jaguar-sign tau 0.01 beta 0.1 fraction 0.1: it was trained with --zo jaguar-sign tau 0.005" "" \
    "$bin" "${common[@]}" -e "$model" --zo jaguar-sign --zo-tau 0.01 -l 1e-3 -x 3 -n 2 -y 1 -o "$work/ck_jaguar"
line=$(grep -m1 "^optimizer" "$work/ck_jaguar.out")
[[ -n "$line" && "$line" != *clip* ]] && grep -q "clip 1" "$work/ck_signum.out" && pass zo/optimizer_line_without_clip \
    || fail zo/optimizer_line_without_clip "under --zo: '$line'; without: '$(grep -m1 "^optimizer" "$work/ck_signum.out")'"

# ---- data parallel: 2 ranks at B=2 against one process at B=4 (--no-shuffle: the same tokens)
if command -v mpirun >/dev/null && ldd "$bin" | grep libmpi >/dev/null; then
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_btl_vader_single_copy_mechanism=none
    dp=(-i "$train" -j "$val" -t 16 -v 2 -m 1 -s 0 --no-shuffle -e "$model" -x 2 --zo jaguar-sign -l 1e-3)
    "$bin" "${dp[@]}" -b 4 -o "$work/dp_ref" >"$work/dp_ref.out" 2>&1
    if timeout 120 mpirun -np 2 "$bin" "${dp[@]}" -b 2 -o "$work/dp_np2" >"$work/dp_np2.out" 2>&1; then
        # the weights byte for byte; the logged |rho| (the norm column) at 1e-3: the losses' last-bit
        # differences (a mean of two rank means against one mean) are divided by 2 tau
        out=$("$PYTHON" test/dp_check.py same "$work/dp_ref" "$work/dp_np2" 2 1e-3 2>&1) \
            && cmp -s "$work/dp_ref/model_00000002.bin" "$work/dp_np2/model_00000002.bin" \
            && pass zo/np2_equals_one_process "(model file byte-identical; ${out#PASS })" || fail zo/np2_equals_one_process "model files $(cmp -s "$work/dp_ref/model_00000002.bin" "$work/dp_np2/model_00000002.bin" && echo identical || echo differ); $out"
    else
        fail zo/np2_equals_one_process "mpirun exit: $(grep -m2 error "$work/dp_np2.out")"
    fi
else
    echo "SKIP zo/np2_equals_one_process: no mpirun or a train_gpt2cpu without MPI"
fi

# ---- train_gpt2cu data parallel (emulated NCCL over MPI; passed under emulation): 2 ranks at B=2
# against one process at B=4; mezo (its update scales with the estimate, so a rank that kept its
# own losses would move its weights apart: the val loss at step 2, a mean over both ranks'
# weights, and rank 0's step-2 update would show it) and jaguar-muon (the sets, m and layer-by-layer
# Newton-Schulz on every rank); then mezo's 1 + 1 steps resumed under 2 ranks
if command -v mpirun >/dev/null && [ -x "$emu" ] && ldd "$emu" | grep libmpi >/dev/null; then
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_btl_vader_single_copy_mechanism=none
    export OMPI_MCA_mpi_yield_when_idle=1 GPT2_DIST_TIMEOUT=1
    dp_common=(-i "$train" -j "$val" -t 16 -v 2 -m 1 -s 0 --no-shuffle -e "$model" -d 64 -l 1e-3 -n 1)
    # cuda_np2_equals_one_process METHOD: -x 2 at B=4 against mpirun -np 2 at B=2, in $work/emu_dp_{ref,np2}_METHOD
    cuda_np2_equals_one_process() {
        local method=$1 name="zo/cuda_$1_np2_equals_one_process" out
        local dp=("${dp_common[@]}" --zo "$method")
        "$emu" "${dp[@]}" -x 2 -b 4 -o "$work/emu_dp_ref_$method" >"$work/emu_dp_ref_$method.out" 2>&1
        if timeout 300 mpirun -np 2 "$emu" "${dp[@]}" -x 2 -b 2 -o "$work/emu_dp_np2_$method" >"$work/emu_dp_np2_$method.out" 2>&1; then
            # losses, val losses, |estimate| and the weights at 1e-6 (measured: 0 but the val loss's last float bit)
            out=$("$PYTHON" test/dp_check.py same "$work/emu_dp_ref_$method" "$work/emu_dp_np2_$method" 2 1e-6 2>&1) \
                && grep -q "the two losses all-reduced (16 bytes per step)" "$work/emu_dp_np2_$method.out" \
                && pass "$name" "(${out#PASS })" || fail "$name" "$out; $(grep -m1 'data parallel' "$work/emu_dp_np2_$method.out")"
        else
            fail "$name" "mpirun exit: $(grep -m2 error "$work/emu_dp_np2_$method.out")"
        fi
    }
    cuda_np2_equals_one_process mezo
    cuda_np2_equals_one_process jaguar-muon
    resumed_equals zo/cuda_mezo_np2_resume_byte_identical "$work/emu_dp_np2_mezo" "$work/emu_dp_resumed" 2 \
        timeout 300 mpirun -np 2 "$emu" "${dp_common[@]}" --zo mezo -b 2
else
    echo "SKIP zo/cuda_np2: no mpirun or no $emu built with MPI"
fi

[ $failures -eq 0 ] && rm -rf "$work"
exit $((failures > 0))

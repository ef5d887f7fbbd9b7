#!/usr/bin/env bash
# A trainer's run outputs (d2, B=4, T=64 on Tiny Shakespeare): main.log and
# metrics.jsonl parse; a run stopped after a checkpoint and resumed with -y 1 logs the
# same losses and writes byte-identical checkpoints as one that was never stopped; an
# interrupted checkpoint write (a leftover .tmp, a model file without its state file)
# leaves the previous checkpoint as the one -y 1 uses, and so does a write that fails;
# --keep deletes old checkpoints;
# a non-finite loss or gradient norm stops the run naming the step (or is skipped with
# --skip-nonfinite); --noise-every leaves the trajectory unchanged and its phi matches a
# direct computation (build/test_noise_density).
#   test/test_checkpoint_resume.sh [SHARED_DATA_DIR [TRAINER [NAME_PREFIX]]]
# TRAINER: ./train_gpt2cpu (default), ./train_gpt2cu or its emulated build (test/
# test_checkpoint_resume_cuda.sh picks one); NAME_PREFIX goes before every verdict name
# ("cuda/", "emu/cuda/"). The CUDA trainer computes in bf16, so its phi is compared with the
# fp32 direct computation at a looser tolerance; everything else is checked the same way.
set -uo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
source test/lib.sh
trainer_test_args "$@"
# CKPT_QUICK=1 (the emulated CUDA trainer in make test, for time): the reference run, phi, HellaSwag,
# the bit-identical resume, the fresh-run, -b and nothing-to-do refusals, --overwrite and the lock;
# the rest (the same common/ code) runs for train_gpt2cpu and on a GPU.
quick=${CKPT_QUICK:-0}
if [ "$(basename "$bin")" = train_gpt2cpu ]; then device_kind=cpu; phi_tolerance=(); else device_kind=gpu; phi_tolerance=(1e-2); fi
small=(-e d2 -b 4 -t 64 -d 256)  # -d: train_gpt2cu's default total batch is 524288 tokens
# A directory per invocation, so two `make test`s at once cannot mix their checkpoints; it
# holds ~0.6 GB of checkpoints and is removed when every check passed.
mkdir -p build/checkpoint_tests
work=$(mktemp -d build/checkpoint_tests/run.XXXXXX)
PYTHON="${PYTHON:-/usr/bin/python3}"

# expect NAME DETAIL COMMAND...: PASS when COMMAND succeeds.
expect() { local name=$1 detail=$2; shift 2; if "$@"; then pass "$name" "$detail"; else fail "$name" "$detail"; fi; }
# emit COMMAND...: runs a checker that prints its own PASS/FAIL lines, counting its failures.
emit() { local out; out=$("$@" 2>&1); local rc=$?; echo "$out"; if grep -q '^FAIL' <<<"$out" || [ $rc -ne 0 ]; then failures=$((failures + 1)); fi; }
losses() { sed 's/ tps:.*//' "$1"; }  # main.log without the timing field

{  # every verdict below goes through the NAME_PREFIX filter at the end

# Flag errors for the new flags: one line, exit 2.
for args in "-y 1" "-y 2 -o $work/x" "--keep -1" "--noise-batches 1" "--noise-every -3"; do
    # shellcheck disable=SC2086
    "$bin" $args >"$work/flag.out" 2>"$work/flag.err"
    rc=$?
    label=${args//$work/DIR}  # the same verdict name in every run
    [ $rc -eq 2 ] && [ "$(wc -l <"$work/flag.err")" -eq 1 ] && pass "ckpt/flag_error_${label// /_}" "($(cat "$work/flag.err"))" \
        || fail "ckpt/flag_error_${label// /_}" "exit $rc: $(cat "$work/flag.err")"
done

if ! test_tiny_shakespeare; then
    echo "SKIP ckpt/runs: no Tiny Shakespeare shards in $shared"
    exit 0
fi
# -h 1: HellaSwag (llm.c's eval file, 16 made-up examples written by data/hellaswag.py) at
# steps 2 and 4, so its records go through resume too.
"$PYTHON" - "$repo/data" "$work/hellaswag.bin" <<'EOF'
import random, sys
sys.path.insert(0, sys.argv[1])
from hellaswag import write_eval_file
rng = random.Random(3)
write_eval_file(sys.argv[2], [(rng.randrange(4), [rng.randrange(200, 3000) for _ in range(rng.randrange(3, 20))],
                               [[rng.randrange(200, 3000) for _ in range(rng.randrange(1, 12))] for _ in range(4)])
                              for _ in range(16)])
EOF
run=(-i "$train" -j "$val" "${small[@]}" -x 4 -v 2 -m 2 -n 2 --optim adamw -l 3e-3 -h 1 --hellaswag "$work/hellaswag.bin")
noise=(--noise-every 2 --noise-batches 4)  # K = 4: m = 2, the smallest K with a tail index

# ---- A: the uninterrupted reference run.
"$bin" "${run[@]}" "${noise[@]}" -o "$work/A" >"$work/A.out" 2>&1
expect ckpt/reference_run "(exit $?)" test -f "$work/A/state_00000004.bin"

# Log formats, as scripts/plot_runs.py and compare_optimizers.sh read them.
emit "$PYTHON" - "$work/A" "$device_kind" <<'EOF'
import json, re, sys
d, device_kind = sys.argv[1], sys.argv[2]
line_re = re.compile(r'^s:(\d+) (trl:\d+\.\d{4} lr:\d+\.\d{6} norm:\d+\.\d{2} tps:\d+|tel:\d+\.\d{4}|eval:[01]\.\d{4}|phi:\d\.\d{5} md:\d\.\d{5} alpha:\d+\.\d{4}|skip:1)$')
lines = open(d + "/main.log").read().splitlines()
bad = [l for l in lines if not line_re.match(l)]
kinds = [l.split()[1].split(":")[0] for l in lines]
ok = not bad and kinds.count("trl") == 4 and kinds.count("tel") == 3 and kinds.count("phi") == 3 and kinds.count("eval") == 2
print(("PASS ckpt/main_log_format (%d lines: 4 trl, 3 tel, 2 eval, 3 phi)" % len(lines)) if ok else "FAIL ckpt/main_log_format: %s" % (bad[:2] or kinds))
try:
    recs = [json.loads(l) for l in open(d + "/metrics.jsonl")]
except ValueError as e:
    print("FAIL ckpt/metrics_jsonl_parses: %s" % e); sys.exit(1)
cfg = recs[0]
want = ["optim", "lr", "momentum", "nesterov", "beta1", "beta2", "eps", "weight_decay", "wd_on", "grad_clip", "schedule",
        "warmup_steps", "warmup_init", "final_lr_frac", "wsd_decay_frac", "muon_ns_steps", "muon_fallback", "fallback_lr",
        "model", "batch_size", "seq_len", "total_batch_tokens", "max_steps", "seed", "resume", "keep", "skip_nonfinite",
        "noise_every", "noise_batches", "nsgd_norm", "warmup_shape"]
missing = [k for k in want if k not in cfg.get("flags", {})]
# the CPU trainer names its matmul kernels (results depend on them: docs/cpu_speed.md)
ok = (cfg.get("type") == "config" and not missing and cfg["device"] and (cfg["device"] == "cpu") == (device_kind == "cpu")
      and (device_kind != "cpu" or re.match(r"^(OpenBLAS \S+|loops \(BLAS=0\))$", cfg.get("cpu_kernels", "")))
      and cfg["num_params"] == 3385088
      and cfg["tokens_per_step"] == 256 and cfg["flags"]["total_batch_tokens"] == 256 and cfg["flags"]["lr"] > 0.0029
      and re.match(r"^([0-9a-f]{40}|unknown)$", cfg["git_revision"]) and "--noise-every" in cfg["argv"])
print("PASS ckpt/metrics_config_record (%d flags, git %s, device %s)" % (len(cfg["flags"]), cfg["git_revision"][:8], cfg["device"]) if ok
      else "FAIL ckpt/metrics_config_record: missing %s in %s" % (missing, json.dumps(cfg)[:300]))
train = [r for r in recs if r["type"] == "train"]
trl = {int(l.split()[0][2:]): float(l.split()[1][4:]) for l in lines if " trl:" in l}
# llm.c's numbering: the update at step s (0-based) has seen 256 * (s + 1) tokens
ok = ([r["step"] for r in train] == [0, 1, 2, 3] and all(r["tokens"] == 256 * (r["step"] + 1) for r in train)
      and all(abs(r["loss"] - trl[r["step"]]) <= 5e-5 for r in train)
      and all(k in r for r in train for k in ("lr", "grad_norm", "ms", "tokens_per_s")))
print("PASS ckpt/metrics_train_records (steps 0-3, losses match main.log)" if ok else "FAIL ckpt/metrics_train_records: %s" % train)
# ||g||_1 >= ||g||_2 >= ||g||_inf > 0, and ||g||_1 <= sqrt(d) ||g||_2 (Cauchy-Schwarz), grad_l2 = grad_norm.
d = cfg["num_params"]
ok = all(r.get("grad_l2") == r["grad_norm"] and r.get("grad_l1") is not None and r.get("grad_linf") is not None
         and r["grad_l1"] >= r["grad_l2"] * (1 - 1e-6) and r["grad_l2"] >= r["grad_linf"] * (1 - 1e-6) > 0
         and r["grad_l1"] <= d ** 0.5 * r["grad_l2"] * (1 + 1e-6) for r in train)
print(("PASS ckpt/metrics_train_grad_norms (l1 %s, linf %s)" % ([round(r["grad_l1"], 2) for r in train], [round(r["grad_linf"], 4) for r in train])) if ok
      else "FAIL ckpt/metrics_train_grad_norms: %s" % [{k: r.get(k) for k in ("grad_l1", "grad_l2", "grad_linf")} for r in train])
noise = [r for r in recs if r["type"] == "noise"]
vals = [r for r in recs if r["type"] == "val"]
ok = ([r["step"] for r in noise] == [0, 2, 4] and all(len(r["phi_per_tensor"]) == 16 and r["batches"] == 4 and 0 < r["phi"] <= 1 for r in noise)
      and all(len(r.get(k + "_per_tensor", {})) == 16 for r in noise for k in ("mean_density", "tail_index"))
      and all(0 < r["mean_density"] <= 1 and r["tail_index"] is not None and r["tail_index"] > 0 for r in noise)
      and [r["step"] for r in vals] == [0, 2, 4])
alpha = {int(l.split()[0][2:]): float(l.split("alpha:")[1]) for l in lines if " phi:" in l}
ok = ok and all(abs(alpha[r["step"]] - r["tail_index"]) < 1e-4 for r in noise)
print("PASS ckpt/metrics_val_noise_records (phi %s, md %s, alpha %s)" % tuple([round(r[k], 4) for r in noise] for k in ("phi", "mean_density", "tail_index")) if ok
      else "FAIL ckpt/metrics_val_noise_records: %s" % (noise or vals))
evals = [r for r in recs if r["type"] == "eval"]
ok = ([r["step"] for r in evals] == [2, 4] and all(r["examples"] == 16 and r["accuracy"] == r["correct"] / 16 for r in evals))
print("PASS ckpt/metrics_eval_records (HellaSwag %s/16 at steps 2, 4)" % [r["correct"] for r in evals] if ok
      else "FAIL ckpt/metrics_eval_records: %s" % evals)
EOF

# The trainer's HellaSwag count at step 4 against train_gpt2cpu's on the saved step-4 model
# (its fp32 master weights: the CUDA trainer evaluated bf16 weights, so one of 16 may flip).
if [ -x ./train_gpt2cpu ]; then
    ./train_gpt2cpu -i "$train" -j "$val" -e "$work/A/model_00000004.bin" -b 4 -t 64 -x 0 -v 0 -h 1 --hellaswag "$work/hellaswag.bin" >"$work/A_eval.out" 2>&1
    cpu=$(sed -n 's/^step 0: HellaSwag \([0-9]*\)\/16.*/\1/p' "$work/A_eval.out")
    dev=$(sed -n 's/^step 4: HellaSwag \([0-9]*\)\/16.*/\1/p' "$work/A.out")
    slack=$([ "$device_kind" = cpu ] && echo 0 || echo 1)
    expect ckpt/hellaswag_matches_cpu_reference "($dev/16 vs train_gpt2cpu $cpu/16)" \
        bash -c "[ -n '$cpu' ] && [ -n '$dev' ] && [ \$(( $dev > $cpu ? $dev - $cpu : $cpu - $dev )) -le $slack ]"
fi

# phi at step 0 against a direct computation from the same batches.
if [ -x build/test_noise_density ]; then
    emit build/test_noise_density "$work/A/metrics.jsonl" "$train" 4 4 64 42 "${phi_tolerance[@]}"
else
    fail ckpt/noise_density_program "build/test_noise_density is not built"
fi

if [ "$quick" -eq 0 ]; then  # CKPT_QUICK=1 leaves this out: keep/noise-trajectory
# ---- --noise-every must not change the trajectory; --keep 2 with -n 1 keeps steps 3, 4.
"$bin" "${run[@]}" -n 1 --keep 2 -o "$work/E" >"$work/E.out" 2>&1
expect ckpt/noise_leaves_trajectory "(same trl/tel lines without --noise-every)" \
    cmp -s <(losses "$work/A/main.log" | grep -v phi) <(losses "$work/E/main.log")
kept=$(cd "$work/E" && ls model_*.bin state_*.bin | tr '\n' ' ')
expect ckpt/keep_deletes_old "(left: $kept)" test "$kept" = "model_00000003.bin model_00000004.bin state_00000003.bin state_00000004.bin "

fi
# ---- B: stopped at step 3 by a non-finite gradient (after checkpoint 2), then resumed.
GPT2_TEST_NAN_GRAD_STEP=3 "$bin" "${run[@]}" "${noise[@]}" -o "$work/B" >"$work/B1.out" 2>"$work/B1.err"
rc=$?
expect ckpt/nonfinite_stops "(exit $rc: $(cat "$work/B1.err"))" \
    bash -c "[ $rc -eq 1 ] && grep -q 'step 3: .*not finite.*latest checkpoint: step 2' '$work/B1.err' \
             && [ ! -e '$work/B/model_00000003.bin' ] && [ ! -e '$work/B/model_00000004.bin' ] && [ -f '$work/B/state_00000002.bin' ]"
"$bin" "${run[@]}" "${noise[@]}" -o "$work/B" -y 1 >"$work/B2.out" 2>&1
expect ckpt/resume_uses_latest "($(grep -m1 resuming "$work/B2.out"))" grep -q "resuming from the checkpoint of step 2" "$work/B2.out"
expect ckpt/resume_same_losses "(main.log of the resumed run = uninterrupted, incl. phi)" \
    cmp -s <(losses "$work/A/main.log") <(losses "$work/B/main.log")
expect ckpt/resume_bit_identical_checkpoint "(model_00000004.bin and state_00000004.bin byte-identical)" \
    bash -c "cmp -s '$work/A/model_00000004.bin' '$work/B/model_00000004.bin' && cmp -s '$work/A/state_00000004.bin' '$work/B/state_00000004.bin'"
emit "$PYTHON" - "$work/B/metrics.jsonl" <<'EOF'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
cfgs = [r for r in recs if r["type"] == "config"]
steps = [r["step"] for r in recs if r["type"] == "train"]
ok = len(cfgs) == 2 and "resumed_from" not in cfgs[0] and cfgs[1].get("resumed_from") == 2 and steps == [0, 1, 2, 3]
print("PASS ckpt/resume_metrics_continue (config, resumed_from 2, train steps %s)" % steps if ok
      else "FAIL ckpt/resume_metrics_continue: configs %d, train steps %s" % (len(cfgs), steps))
EOF

if [ "$quick" -eq 0 ]; then  # CKPT_QUICK=1 leaves this out: ssvr resume, interrupted and failed writes
# ---- ssvr keeps v and the previous parameters as optimizer state and replays each step's
# micro-batches (-d: 2 per step) for its second gradient: stopped at step 3 and resumed, it
# logs the same losses and writes byte-identical step-4 files as an uninterrupted run.
ssvr_run=(-i "$train" -j "$val" -e d2 -b 4 -t 64 -d 512 -x 4 -v 0 -n 2 --optim ssvr -l 1e-3)
"$bin" "${ssvr_run[@]}" -o "$work/S" >"$work/S.out" 2>&1
GPT2_TEST_NAN_GRAD_STEP=3 "$bin" "${ssvr_run[@]}" -o "$work/T" >/dev/null 2>&1
"$bin" "${ssvr_run[@]}" -o "$work/T" -y 1 >"$work/T2.out" 2>&1
expect ckpt/ssvr_resume_identical "(main.log and step-4 files of a resumed ssvr run = uninterrupted; state has v and prev_params)" \
    bash -c "[ -f '$work/S/state_00000004.bin' ] && cmp -s <(sed 's/ tps:.*//' '$work/S/main.log') <(sed 's/ tps:.*//' '$work/T/main.log') \
             && cmp -s '$work/S/state_00000004.bin' '$work/T/state_00000004.bin' && cmp -s '$work/S/model_00000004.bin' '$work/T/model_00000004.bin' \
             && grep -q 'qkvw.prev_params' '$work/S/state_00000004.bin' && grep -q 'qkvw.v' '$work/S/state_00000004.bin'"

# ---- C: a write killed mid-way: step 4's model file landed, its state file did not (only a
# partial .tmp), and a partial model .tmp of a later step. -y 1 must use step 2.
mkdir -p "$work/C"
cp "$work/A/model_00000002.bin" "$work/A/state_00000002.bin" "$work/A/model_00000004.bin" "$work/C/"
head -c 100000 "$work/A/state_00000004.bin" >"$work/C/state_00000004.bin.tmp"
head -c 5000 "$work/A/model_00000004.bin" >"$work/C/model_00000006.bin.tmp"
"$bin" "${run[@]}" "${noise[@]}" -o "$work/C" -y 1 >"$work/C.out" 2>&1
expect ckpt/interrupted_write_uses_previous "($(grep -m1 resuming "$work/C.out"))" \
    bash -c "grep -q 'resuming from the checkpoint of step 2' '$work/C.out' && cmp -s '$work/A/state_00000004.bin' '$work/C/state_00000004.bin' \
             && cmp -s '$work/A/model_00000004.bin' '$work/C/model_00000004.bin' && [ ! -e '$work/C/state_00000004.bin.tmp' ]"

# ---- D: a checkpoint write that fails (step 4's state file cannot be created: a directory
# is in the way of its .tmp) stops the run with one line; with --keep 1 the previous
# checkpoint must still be there, unchanged, and stay the latest complete one.
mkdir -p "$work/D/state_00000004.bin.tmp"
cp "$work/A/model_00000002.bin" "$work/A/state_00000002.bin" "$work/D/"
"$bin" "${run[@]}" "${noise[@]}" --keep 1 -o "$work/D" -y 1 >"$work/D.out" 2>"$work/D.err"
rc=$?
expect ckpt/failed_write_keeps_previous "(exit $rc: $(cat "$work/D.err"))" \
    bash -c "[ $rc -eq 1 ] && [ \$(wc -l <'$work/D.err') -eq 1 ] && grep -q 'state_00000004.bin.tmp' '$work/D.err' \
             && cmp -s '$work/A/model_00000002.bin' '$work/D/model_00000002.bin' && cmp -s '$work/A/state_00000002.bin' '$work/D/state_00000002.bin' \
             && [ ! -e '$work/D/state_00000004.bin' ]"

# ---- D2: a checkpoint write that fails midway (the state file's .tmp is /dev/full: the
# disk is "full") leaves nothing of that step behind: no model file, no .tmp.
mkdir -p "$work/D2"
cp "$work/A/model_00000002.bin" "$work/A/state_00000002.bin" "$work/D2/"
ln -s /dev/full "$work/D2/state_00000004.bin.tmp"
"$bin" "${run[@]}" "${noise[@]}" -o "$work/D2" -y 1 >"$work/D2.out" 2>"$work/D2.err"
rc=$?
expect ckpt/failed_write_leaves_nothing "(exit $rc: $(cat "$work/D2.err"))" \
    bash -c "[ $rc -eq 1 ] && [ \$(wc -l <'$work/D2.err') -eq 1 ] && grep -q 'step 4 not written.*latest complete checkpoint: step 2' '$work/D2.err' \
             && [ ! -e '$work/D2/model_00000004.bin' ] && [ ! -e '$work/D2/state_00000004.bin' ] \
             && ! ls '$work/D2' | grep -q tmp && cmp -s '$work/A/state_00000002.bin' '$work/D2/state_00000002.bin'"

fi
# ---- R: what a resume must refuse (one line, exit 2, nothing trained or written): a fresh
# run into a directory holding another run's checkpoints, a resume with another -b, -t,
# -d, -i, -j, --no-shuffle or --data-seed, a -x with nothing left to do, a flipped bit in the state file.
fresh_ckpt() { rm -rf "$work/R"; mkdir -p "$work/R"; cp "$work/A/model_00000002.bin" "$work/A/state_00000002.bin" "$work/R/"; }
refuse() {
    local name=$1 pattern=$2; shift 2
    fresh_ckpt
    expect_one_line_error "ckpt/$name" "$pattern" "$work/R/model_00000003.bin" "$bin" "$@"
}
train_copy="$work/train_copy.bin"; val_copy="$work/val_copy.bin"
cp "$train" "$train_copy"; cp "$val" "$val_copy"
others=(-v 2 -m 2 -n 1 --optim adamw -l 3e-3 "${noise[@]}" -o "$work/R")
refuse fresh_run_into_checkpoints "already holds checkpoints .*latest step 2.*-y 1.*--overwrite" \
    -i "$train" -j "$val" "${small[@]}" -x 4 "${others[@]}"
refuse resume_other_b "with -b 2: it was trained with -b 4" -i "$train" -j "$val" -e d2 -b 2 -t 64 -d 256 -x 4 "${others[@]}" -y 1
if [ "$quick" -eq 0 ]; then  # CKPT_QUICK=1 leaves this out: -t/-d/-i/-j refusals
refuse resume_other_t "with -t 32: it was trained with -t 64" -i "$train" -j "$val" -e d2 -b 4 -t 32 -d 256 -x 4 "${others[@]}" -y 1
refuse resume_other_d "with -d 512: it was trained with -d 256" -i "$train" -j "$val" -e d2 -b 4 -t 64 -d 512 -x 4 "${others[@]}" -y 1
refuse resume_other_i "with -i '.*train_copy.bin'.*trained with -i" -i "$train_copy" -j "$val" "${small[@]}" -x 4 "${others[@]}" -y 1
refuse resume_other_j "with -j '.*val_copy.bin'.*trained with -j" -i "$train" -j "$val_copy" "${small[@]}" -x 4 "${others[@]}" -y 1
fi
# the data order: A was shuffled; --no-shuffle would read another order from step 3 on
refuse resume_no_shuffle "with --no-shuffle: it was trained shuffled" -i "$train" -j "$val" "${small[@]}" -x 4 "${others[@]}" -y 1 --no-shuffle
# another data seed: another order of batches from step 3 on (A ran with --seed's default 42)
refuse resume_other_data_seed "with --data-seed 7: it was trained with --data-seed 42" -i "$train" -j "$val" "${small[@]}" -x 4 "${others[@]}" -y 1 --data-seed 7
# unequal data per rank: another split reads other documents from step 3 on (A ran without one)
refuse resume_rank_data_split "with --rank-data-split first-token: it was trained with --rank-data-split none" -i "$train" -j "$val" "${small[@]}" -x 4 "${others[@]}" -y 1 --rank-data-split first-token
refuse resume_nothing_to_do "nothing to do: .* at step 2 and this run ends at step 2" -i "$train" -j "$val" "${small[@]}" -x 2 "${others[@]}" -y 1
if [ "$quick" -eq 0 ]; then  # CKPT_QUICK=1 leaves this out: state-file corruption
fresh_ckpt
"$PYTHON" - "$work/R/state_00000002.bin" <<'PYEOF'
import sys
path = sys.argv[1]
data = bytearray(open(path, "rb").read())
data[len(data) - 4097] ^= 0x10   # one bit deep inside the last record's elements
open(path, "wb").write(bytes(data))
PYEOF
expect_one_line_error ckpt/state_bit_flip_caught "state_00000002.bin' is corrupt: checksum" "$work/R/model_00000003.bin" \
    "$bin" -i "$train" -j "$val" "${small[@]}" -x 4 "${others[@]}" -y 1
# Corrupt lengths are caught before anything is allocated for them; trailing bytes too.
for corruption in negative_name_length huge_dim trailing_bytes; do
    fresh_ckpt
    "$PYTHON" - "$work/R/state_00000002.bin" "$corruption" <<'PYEOF'
import struct, sys
path, kind = sys.argv[1], sys.argv[2]
data = bytearray(open(path, "rb").read())
name_len = struct.unpack_from("<i", data, 1024)[0]
if kind == "negative_name_length":
    struct.pack_into("<i", data, 1024, -5)
elif kind == "huge_dim":   # the first record's first dim: 2^31 - 1 elements
    struct.pack_into("<i", data, 1024 + 4 + name_len + 8, 2**31 - 1)
else:
    data += b"\0\0\0"
open(path, "wb").write(bytes(data))
PYEOF
    case $corruption in
        negative_name_length) pattern="is corrupt: record 0 has name length -5" ;;
        huge_dim) pattern="is corrupt: the elements of record .* needs [0-9]+ bytes, [0-9]+ are left" ;;
        trailing_bytes) pattern="is corrupt: 3 bytes after the last record" ;;
    esac
    expect_one_line_error "ckpt/state_$corruption" "$pattern" "$work/R/model_00000003.bin" \
        "$bin" -i "$train" -j "$val" "${small[@]}" -x 4 "${others[@]}" -y 1
done
fi
# --overwrite: the fresh run deletes the old checkpoints, then trains and writes its own.
fresh_ckpt
"$bin" -i "$train" -j "$val" "${small[@]}" -x 1 "${others[@]}" --overwrite >"$work/R.out" 2>&1
rc=$?
expect ckpt/overwrite_starts_fresh "(exit $rc: $(grep -m1 overwrite "$work/R.out"))" \
    bash -c "[ $rc -eq 0 ] && grep -q 'deleted 2 checkpoint file' '$work/R.out' && [ ! -e '$work/R/model_00000002.bin' ] && [ -f '$work/R/state_00000001.bin' ]"

# ---- L: two trainers on one -o: the second stops with one line while the first holds the lock.
rm -rf "$work/L"
"$bin" -i "$train" -j "$val" "${small[@]}" -x 100000 -v 0 -o "$work/L" >"$work/L1.out" 2>&1 &
holder=$!
for _ in $(seq 1 600); do [ -s "$work/L/.lock" ] && break; sleep 0.1; done
expect_one_line_error ckpt/output_dir_locked "output directory '.*/L' is in use by another run \(pid $holder\)" "" \
    "$bin" -i "$train" -j "$val" "${small[@]}" -x 2 -v 0 -o "$work/L"
kill "$holder" 2>/dev/null; wait "$holder" 2>/dev/null

if [ "$quick" -eq 0 ]; then  # CKPT_QUICK=1 leaves this out: diverging and skipped non-finite steps
# ---- A huge SGD step makes the next loss non-finite: stop at step 2, keep checkpoint 1.
"$bin" -i "$train" -j "$val" "${small[@]}" -x 3 -v 0 -n 1 --optim sgd -l 1e30 --grad-clip 0 -o "$work/F" >"$work/F.out" 2>"$work/F.err"
rc=$?
expect ckpt/diverging_run_stops "(exit $rc: $(cat "$work/F.err"))" \
    bash -c "[ $rc -eq 1 ] && [ \$(wc -l <'$work/F.err') -eq 1 ] && grep -q 'step 2: loss .* not finite' '$work/F.err' \
             && [ -f '$work/F/state_00000001.bin' ] && [ ! -e '$work/F/model_00000002.bin' ]"

# ---- --skip-nonfinite: step 2 is skipped (logged), the run goes on, the weights are untouched by it.
GPT2_TEST_NAN_GRAD_STEP=2 "$bin" -i "$train" -j "$val" "${small[@]}" -x 3 -v 0 -n 1 --optim sgd -l 0.1 --skip-nonfinite -o "$work/G" >"$work/G.out" 2>&1
rc=$?
expect ckpt/skip_nonfinite "(exit $rc: $(tr '\n' ' ' <"$work/G/main.log" | sed 's/ tps:[0-9]*//g'))" \
    bash -c "[ $rc -eq 0 ] && [ \"\$(sed 's/^\\(s:[0-9]* [a-z]*\\):.*/\\1/' '$work/G/main.log' | tr '\n' ' ')\" = 's:0 trl s:1 skip s:2 trl ' ] \
             && grep -q '\"type\":\"skip\",\"step\":1,.*\"skips\":1' '$work/G/metrics.jsonl' \
             && cmp -s <(tail -c +1025 '$work/G/model_00000001.bin') <(tail -c +1025 '$work/G/model_00000002.bin')"

fi
# Keep the outputs only when something failed (they are large).
if [ "$failures" -eq 0 ]; then rm -rf "$work"; else echo "outputs kept in $work"; fi
} 2>&1 | prefix_verdicts

#!/usr/bin/env bash
# Data-parallel train_gpt2cpu under mpirun (optim/data_parallel.h), on a d2 model, T=16, two
# accumulation steps, 2 steps (a run is about 1-3 s):
# - mpirun -np 2 and -np 3 at micro-batch B/n equal one process at B (--no-shuffle: the same
#   tokens), step for step: train and val losses, gradient norms and the final parameters
#   within 1e-6 relative (test/dp_check.py same), for sgd, adamw and muon, each under -z 0 and
#   -z 1 (one at each rank count), so ZeRO-1 equals -z 0 through the single-process run;
# - --sign-vote 1: the parameters after 2 steps equal the majority vote recomputed in numpy
#   from every rank's dumped gradient (GPT2_TEST_DUMP_GRAD; ties and sign(0) present), for
#   signsgd on 3 ranks and signum with --byzantine 1 on 2 (the flipped votes are counted);
#   --byzantine-mode omniscient, --vote-noise (xi recomputed in numpy from the same counter RNG)
#   and both, on 3 ranks (docs/byzantine_vote.md);
# - comm_bytes in metrics.jsonl per scheme; a checkpoint of 2 ranks resumed with -y 1 writes
#   byte-identical files (-z 1 adamw; signum's per-rank momenta under the vote), and a resume
#   with another rank count is refused;
# - rank 1 alone given a bad shard (GPT2_TEST_RANK_TRAIN_GLOB) or a NaN gradient
#   (GPT2_TEST_NAN_GRAD_RANK) ends both ranks within seconds with one error line naming rank 1;
#   flag errors are one line, rank 0's.
#   test/test_distributed.sh [SHARED_DATA_DIR]
set -uo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
shared="${1:-../shared/data}"
PYTHON="${PYTHON:-/usr/bin/python3}"
bin=./train_gpt2cpu
source test/lib.sh

train="$shared/tinyshakespeare/tiny_shakespeare_train.bin"
val="$shared/tinyshakespeare/tiny_shakespeare_val.bin"
if ! command -v mpirun >/dev/null; then echo "SKIP dist/all: no mpirun (scripts/setup.sh installs openmpi-bin)"; exit 0; fi
if ! "$bin" --help >/dev/null 2>&1; then echo "FAIL dist/all: $bin does not run"; exit 1; fi
if ! ldd "$bin" | grep libmpi >/dev/null; then # not -q: an early grep exit would SIGPIPE ldd, and pipefail would report that
    echo "SKIP dist/all: $bin was built without MPI (single process only)"; exit 0
fi
if [ ! -f "$train" ] || [ ! -f "$val" ]; then echo "SKIP dist/all: no Tiny Shakespeare shards in $shared"; exit 0; fi
mkdir -p build/dist_tests
work=$(mktemp -d build/dist_tests/run.XXXXXX)

# One OpenMP thread per rank; as root mpirun wants to be told; 3 ranks on 2 cores oversubscribe.
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_btl_vader_single_copy_mechanism=none
mpi() { local np=$1; shift; timeout 120 mpirun -np "$np" "$@"; }
check() { local name=$1; shift; local out; out=$("$PYTHON" test/dp_check.py "$@" 2>&1); [ $? -eq 0 ] && pass "$name" "${out#PASS }" || fail "$name" "$out"; }

common=(-i "$train" -j "$val" -e d2 -t 16 -d 192 -x 2 -v 2 -m 1 -s 0 --no-shuffle)

# ---- equivalence: one process at B=6 against 2 ranks at 3 and 3 ranks at 2
# sgd without clipping: its parameters then scale with the gradient (a clipped or AdamW update
# would hide a gradient off by a factor); adamw and muon clip at the default 1 (norm ~2.5).
opt_flags() { [ "$1" = sgd ] && echo "--optim sgd --grad-clip 0" || echo "--optim $1"; }
for opt in sgd adamw muon fmuon; do
    # shellcheck disable=SC2046
    "$bin" "${common[@]}" -b 6 $(opt_flags "$opt") -o "$work/ref_$opt" >"$work/ref_$opt.out" 2>&1 || fail "dist/reference_$opt" "exit $?: $(tail -2 "$work/ref_$opt.out")"
done
# "np optimizer -z [extra flags]": every optimizer under both stages, both rank counts under both
for spec in "2 sgd 0 --noise-every 2 --noise-batches 2" "3 sgd 1" "2 adamw 1 -n 1" "3 adamw 0" "2 muon 0" "3 muon 1 -n 1" "3 fmuon 1 -n 1"; do
    read -r np opt z extra <<<"$spec"
    name="np${np}_${opt}_z${z}"
    # shellcheck disable=SC2086,SC2046
    if mpi "$np" "$bin" "${common[@]}" -b $((6 / np)) $(opt_flags "$opt") -z "$z" $extra -o "$work/$name" >"$work/$name.out" 2>&1; then
        check "dist/${name}_equals_one_process" same "$work/ref_$opt" "$work/$name" 2 1e-6
    else
        fail "dist/${name}_equals_one_process" "exit code: $(grep -m2 error "$work/$name.out")"
    fi
done
# --optim-group (docs/param_groups.md): mixed rules on -z 1's flat shards (which cut through
# wte), and groups beside Muon's round-robin matrices (an sgd fallback on wte, mlp at its own lr)
groups_sgd=(--optim sgd --grad-clip 0 --optim-group wte=adamw:1e-3 --optim-group attn=sgd:0.02)
groups_muon=(--optim muon --optim-group wte=sgd --optim-group mlp=muon:0.01)
for spec in "2 groups_sgd" "3 groups_muon"; do
    read -r np kind <<<"$spec"
    declare -n flags=$kind
    "$bin" "${common[@]}" -b 6 "${flags[@]}" -o "$work/ref_$kind" >"$work/ref_$kind.out" 2>&1 || fail "dist/reference_$kind" "exit $?: $(tail -2 "$work/ref_$kind.out")"
    if mpi "$np" "$bin" "${common[@]}" -b $((6 / np)) "${flags[@]}" -z 1 -o "$work/np${np}_${kind}_z1" >"$work/np${np}_${kind}_z1.out" 2>&1; then
        check "dist/np${np}_${kind}_z1_equals_one_process" same "$work/ref_$kind" "$work/np${np}_${kind}_z1" 2 1e-6
    else
        fail "dist/np${np}_${kind}_z1_equals_one_process" "exit code: $(grep -m2 error "$work/np${np}_${kind}_z1.out")"
    fi
    unset -n flags
done
grep -q '"type":"noise"' "$work/np2_sgd_z0/metrics.jsonl" && grep -q '^s:2 phi:' "$work/np2_sgd_z0/main.log" \
    && pass dist/noise_density_record "($(grep -m1 phi: "$work/np2_sgd_z0/main.log"))" || fail dist/noise_density_record "no noise record"
# only rank 0 writes: one config record, one line per step
[ "$(grep -c '"type":"train"' "$work/np3_adamw_z0/metrics.jsonl")" -eq 2 ] && [ "$(grep -cE '^step +[0-9]+/' "$work/np3_adamw_z0.out")" -eq 2 ] \
    && pass dist/rank0_logs_alone || fail dist/rank0_logs_alone "$(grep -c '"type":"train"' "$work/np3_adamw_z0/metrics.jsonl") train records, $(grep -cE '^step +[0-9]+/' "$work/np3_adamw_z0.out") step lines"

# ---- bytes each rank sends per step (d2: N = 3,385,088 fp32 parameters)
N=3385088
comm_bytes() { "$PYTHON" -c 'import json,sys; print([json.loads(l) for l in open(sys.argv[1]) if "\"train\"" in l][-1].get("comm_bytes"))' "$1/metrics.jsonl"; }
shard=$(( N / 3 )) # q = floor(N / 3); the 2 leftover elements' collectives are not counted
# ring estimates (common/comm.h): -z 0 on 2 ranks, 2 (N-1)/N x 4N bytes; -z 1 on 3, the
# reduce-scatter and the all-gather of 3q floats, (N-1)/N x 12q bytes each
for c in "np2_sgd_z0 $((4 * N))" "np3_sgd_z1 $((16 * shard))"; do
    read -r run want <<<"$c"; [ -d "$work/$run" ] || continue
    got=$(comm_bytes "$work/$run")
    [ "$got" = "$want" ] && grep -q "$want bytes sent per rank per step" "$work/$run.out" \
        && pass "dist/comm_bytes_$run" "($got bytes)" || fail "dist/comm_bytes_$run" "metrics $got, want $want"
done

# ---- bit-exact resume: the finished 2-step run in $work/RUN resumed from its step-1 checkpoint (a
# copy) on NP ranks with the given flags writes byte-identical step-2 files
check_resume() {
    local name=$1 np=$2 run=$3; shift 3
    cp -r "$work/$run" "$work/${run}_resumed"
    rm -f "$work/${run}_resumed"/{model,state}_00000002.bin
    if mpi "$np" "$bin" "$@" -n 1 -o "$work/${run}_resumed" -y 1 >"$work/${run}_resumed.out" 2>&1 \
        && cmp -s "$work/$run/model_00000002.bin" "$work/${run}_resumed/model_00000002.bin" \
        && cmp -s "$work/$run/state_00000002.bin" "$work/${run}_resumed/state_00000002.bin"; then
        pass "$name"
    else
        fail "$name" "$(grep -m2 -e error -e resuming "$work/${run}_resumed.out")"
    fi
}
# -z 1: the optimizer shards gathered to rank 0's checkpoint; muon on 3 ranks: round-robin
# matrices, fallback tensors split with leftovers
check_resume dist/resume_2_ranks_z1_bit_identical 2 np2_adamw_z1 "${common[@]}" -b 3 --optim adamw -z 1
check_resume dist/resume_3_ranks_muon_z1_bit_identical 3 np3_muon_z1 "${common[@]}" -b 2 --optim muon -z 1
# F-Muon: Muon's round-robin and state; its momentum alone carries it across the resume
check_resume dist/resume_3_ranks_fmuon_z1_bit_identical 3 np3_fmuon_z1 "${common[@]}" -b 2 --optim fmuon -z 1
# ZeRO-1's memory: each rank keeps about 1/ranks of the optimizer state (the line rank 0 prints)
for run in np2_adamw_z1 np3_sgd_z1 np3_muon_z1; do
    line=$(grep -m1 '^optimizer state: this rank keeps' "$work/$run.out")
    ranks=${run:2:1}
    if "$PYTHON" -c "import re, sys; a, b = map(float, re.findall(r'([0-9.]+) MB', sys.argv[1])); sys.exit(not (b > 0 and a <= b / int(sys.argv[2]) * 1.05))" "$line" "$ranks" 2>/dev/null; then
        pass "dist/zero1_state_per_rank_$run" "($line)"
    else
        fail "dist/zero1_state_per_rank_$run" "want at most 1/$ranks of the state: '${line:-no ZeRO-1 line}'"
    fi
done
"$bin" "${common[@]}" -b 3 --optim adamw -o "$work/np2_adamw_z1_resumed" -y 1 -x 3 >"$work/resume_1.out" 2>"$work/resume_1.err"
rc=$?
[ $rc -eq 2 ] && [ "$(wc -l <"$work/resume_1.err")" -eq 1 ] && grep -q "with 1 process(es): it was trained with 2" "$work/resume_1.err" \
    && pass dist/resume_other_rank_count_refused "($(cat "$work/resume_1.err"))" || fail dist/resume_other_rank_count_refused "exit $rc: $(cat "$work/resume_1.err")"

# ---- majority vote against numpy, from every rank's gradients (weight decay 0, constant lr)
vote=(-i "$train" -j "$val" -e d2 -t 16 -b 2 -x 2 -v 0 -s 0 -c 0 --schedule constant -u 0 -l 1e-3)
# 1-bit signs (the default) on 3 ranks; 2-bit (sign(0) = 0) signum with a Byzantine rank on 2;
# int8 signs all-reduced on 2
if GPT2_TEST_DUMP_GRAD="$work/g3" mpi 3 "$bin" "${vote[@]}" --optim signsgd --sign-vote 1 -o "$work/vote3" >"$work/vote3.out" 2>&1; then
    check dist/vote_signsgd_3_ranks_1bit vote "$work/g3" 3 2 1e-3 0 0 signsgd 1 "$work/vote3/model_00000002.bin"
else fail dist/vote_signsgd_3_ranks_1bit "exit code: $(grep -m2 error "$work/vote3.out")"; fi
if GPT2_TEST_DUMP_GRAD="$work/g2" mpi 2 "$bin" "${vote[@]}" --optim signum --momentum 0.9 --sign-vote 1 --vote-bits 2 --byzantine 1 -n 1 \
    -o "$work/vote2" >"$work/vote2.out" 2>&1; then
    check dist/vote_signum_2_ranks_2bit_byzantine_1 vote "$work/g2" 2 2 1e-3 0.9 1 signum 2 "$work/vote2/model_00000002.bin"
else fail dist/vote_signum_2_ranks_2bit_byzantine_1 "exit code: $(grep -m2 error "$work/vote2.out")"; fi
if GPT2_TEST_DUMP_GRAD="$work/g8" mpi 2 "$bin" "${vote[@]}" --optim signsgd --sign-vote 1 --vote-bits 8 -o "$work/vote8" >"$work/vote8.out" 2>&1; then
    check dist/vote_signsgd_2_ranks_int8 vote "$work/g8" 2 2 1e-3 0 0 signsgd 8 "$work/vote8/model_00000002.bin"
else fail dist/vote_signsgd_2_ranks_int8 "exit code: $(grep -m2 error "$work/vote8.out")"; fi
# --byzantine-mode omniscient (rank 0 sends -sign(sum of ranks 1, 2)) with 2-bit signs; --vote-noise
# (xi from the same counter RNG in numpy) with a blind Byzantine rank, signum, 1-bit; both together, int8;
# the two noisy runs with --vote-agreement 1, its four fields recomputed in numpy too
if GPT2_TEST_DUMP_GRAD="$work/go" mpi 3 "$bin" "${vote[@]}" --optim signsgd --sign-vote 1 --vote-bits 2 --byzantine 1 --byzantine-mode omniscient \
    -o "$work/vote_omni" >"$work/vote_omni.out" 2>&1; then
    check dist/vote_signsgd_3_ranks_2bit_omniscient_1 vote "$work/go" 3 2 1e-3 0 1 signsgd 2 "$work/vote_omni/model_00000002.bin" omniscient 0 0
else fail dist/vote_signsgd_3_ranks_2bit_omniscient_1 "exit code: $(grep -m2 error "$work/vote_omni.out")"; fi
if GPT2_TEST_DUMP_GRAD="$work/gn" mpi 3 "$bin" "${vote[@]}" --optim signum --momentum 0.9 --sign-vote 1 --byzantine 1 --vote-noise 0.1 --seed 7 \
    --vote-agreement 1 -o "$work/vote_noise" >"$work/vote_noise.out" 2>&1; then
    check dist/vote_signum_3_ranks_1bit_noise_blind_1 vote "$work/gn" 3 2 1e-3 0.9 1 signum 1 "$work/vote_noise/model_00000002.bin" blind 0.1 7 \
        "$work/vote_noise/metrics.jsonl"
else fail dist/vote_signum_3_ranks_1bit_noise_blind_1 "exit code: $(grep -m2 error "$work/vote_noise.out")"; fi
if GPT2_TEST_DUMP_GRAD="$work/gon" mpi 3 "$bin" "${vote[@]}" --optim signsgd --sign-vote 1 --vote-bits 8 --byzantine 1 --byzantine-mode omniscient \
    --vote-noise 0.5 --vote-agreement 1 -o "$work/vote_omni_noise" >"$work/vote_omni_noise.out" 2>&1; then
    check dist/vote_signsgd_3_ranks_int8_noise_omniscient_1 vote "$work/gon" 3 2 1e-3 0 1 signsgd 8 "$work/vote_omni_noise/model_00000002.bin" omniscient 0.5 42 \
        "$work/vote_omni_noise/metrics.jsonl"
else fail dist/vote_signsgd_3_ranks_int8_noise_omniscient_1 "exit code: $(grep -m2 error "$work/vote_omni_noise.out")"; fi
# the omniscient ranks' fp32 all-reduce of n floats is counted: 2 (N-1)/N 4 n bytes on top of the 2-bit all-gather
want=$(awk -v n="$N" 'BEGIN { w = 2 * int((n + 31) / 32); printf "%d", (2 / 3) * (w * 4 * 3) + (2.0 * 2 / 3) * (4 * n) }')
got=$(comm_bytes "$work/vote_omni")
[ "$got" = "$want" ] && pass dist/comm_bytes_vote_omniscient "($got bytes: 2-bit signs and the honest sum's fp32 all-reduce)" \
    || fail dist/comm_bytes_vote_omniscient "metrics $got, want $want"
# bytes each rank sends (ring estimates): the all-gather of 1- or 2-bit words forwards the
# other ranks' (N-1 times its own on N ranks), the int8 all-reduce 2 (N-1)/N bytes per coordinate
for c in "vote3 $(( 2 * 4 * ((N + 31) / 32) )) 1-bit" "vote2 $(( 8 * ((N + 31) / 32) )) 2-bit" "vote8 $N int8"; do
    read -r run want what <<<"$c"
    got=$(comm_bytes "$work/$run")
    [ "$got" = "$want" ] && pass "dist/comm_bytes_$run" "($got bytes: $what signs of $N parameters)" || fail "dist/comm_bytes_$run" "metrics $got, want $want"
done
# each rank's momentum goes through the checkpoint: the resume is bit-identical
check_resume dist/resume_sign_vote_per_rank_momentum_bit_identical 2 vote2 "${vote[@]}" --optim signum --momentum 0.9 --sign-vote 1 \
    --vote-bits 2 --byzantine 1

# ---- failures: one error line, naming the rank, within seconds
printf 'not a shard' >"$work/bad_shard.bin"
start=$(date +%s)
GPT2_TEST_RANK_TRAIN_GLOB="1:$work/bad_shard.bin" timeout 60 mpirun -np 2 "$bin" "${vote[@]}" >"$work/bad.out" 2>"$work/bad.err"
rc=$? seconds=$(( $(date +%s) - start ))
errors=$(grep -c '^error' "$work/bad.err")
[ $rc -ne 0 ] && [ $rc -ne 124 ] && [ "$errors" -eq 1 ] && grep -q "^error: rank 1: .*bad_shard.bin" "$work/bad.err" && [ $seconds -le 20 ] \
    && pass dist/bad_shard_on_rank_1_ends_job "(exit $rc after ${seconds}s: $(grep '^error' "$work/bad.err"))" \
    || fail dist/bad_shard_on_rank_1_ends_job "exit $rc after ${seconds}s, $errors error lines: $(grep -m3 '^error' "$work/bad.err")"
# a NaN gradient on rank 1 alone (GPT2_TEST_NAN_GRAD_RANK): one line, rank 1's, non-zero exit
GPT2_TEST_NAN_GRAD_STEP=1 GPT2_TEST_NAN_GRAD_RANK=1 timeout 60 mpirun -np 2 "$bin" "${vote[@]}" -z 1 >/dev/null 2>"$work/nan.err"
rc=$?
[ $rc -ne 0 ] && [ $rc -ne 124 ] && [ "$(grep -c '^error' "$work/nan.err")" -eq 1 ] && grep -q '^error: rank 1: step 1: .*is not finite' "$work/nan.err" \
    && pass dist/nan_on_rank_1_one_line "(exit $rc: $(grep '^error' "$work/nan.err"))" || fail dist/nan_on_rank_1_one_line "exit $rc: $(grep -m3 '^error' "$work/nan.err")"
# an error every rank hits (here: -d against B*T*ranks) is one line, rank 0's
timeout 60 mpirun -np 2 "$bin" "${vote[@]}" -b 3 -d 100 >/dev/null 2>"$work/d.err"
rc=$?
[ $rc -eq 2 ] && [ "$(grep -c '^error' "$work/d.err")" -eq 1 ] && grep -q '^error: rank 0: total batch -d 100 is not a multiple of B\*T\*processes' "$work/d.err" \
    && pass dist/same_error_on_every_rank_one_line "($(grep '^error' "$work/d.err"))" || fail dist/same_error_on_every_rank_one_line "exit $rc: $(grep -m3 '^error' "$work/d.err")"
# flags that need more ranks or another optimizer, and -pn without mpirun: one line, exit 2
for c in "--sign-vote 1 --optim adamw|--sign-vote 1 is for --optim signsgd or signum" "--byzantine 1|--byzantine 1 negates" \
         "--byzantine 1 --sign-vote 1 --optim signsgd|must be fewer than the 1 process" "-pn 2|launch them with mpirun -np 2" \
         "--vote-bits 2|it needs --sign-vote 1" "--vote-bits 4 --sign-vote 1 --optim signsgd|--vote-bits wants 1, 2 or 8" \
         "--byzantine-mode omniscient|--byzantine-mode sets how --byzantine ranks attack the majority vote: it needs --sign-vote 1" \
         "--byzantine-mode sneaky --sign-vote 1 --optim signsgd|--byzantine-mode wants blind or omniscient, got 'sneaky'" \
         "--byzantine-mode omniscient --sign-vote 1 --optim signsgd|--byzantine-mode needs --byzantine K" \
         "--vote-noise 0.1|--vote-noise 0.1 perturbs each rank's gradient before its sign in the majority vote: it needs --sign-vote 1" \
         "--vote-noise -1 --sign-vote 1 --optim signsgd|--vote-noise wants a finite C >= 0" \
         "--rank-data-split docs|--rank-data-split wants none or first-token, got 'docs'" \
         "--vote-agreement 1|--vote-agreement 1 measures the majority vote: it needs --sign-vote 1"; do
    args=${c%%|*}; pattern=${c#*|}
    # shellcheck disable=SC2086
    "$bin" "${vote[@]}" $args >/dev/null 2>"$work/flag.err"
    rc=$?
    [ $rc -eq 2 ] && [ "$(wc -l <"$work/flag.err")" -eq 1 ] && grep -q -- "$pattern" "$work/flag.err" \
        && pass "dist/flag_error_${args// /_}" "($(cat "$work/flag.err"))" || fail "dist/flag_error_${args// /_}" "exit $rc: $(cat "$work/flag.err")"
done

# --rank-data-split first-token on a shard without EOT tokens (one document: rank 1 gets nothing)
fineweb="$shared/fineweb_sample/fineweb_edu_sample_train.bin"
if [ -f "$fineweb" ]; then
    timeout 60 mpirun -np 2 "$bin" "${vote[@]}" -i "$fineweb" --rank-data-split first-token >/dev/null 2>"$work/split.err"
    rc=$?
    [ $rc -eq 2 ] && [ "$(grep -c '^error' "$work/split.err")" -eq 1 ] && grep -q "rank-data-split first-token: some rank's documents fill no batch" "$work/split.err" \
        && pass dist/rank_data_split_without_documents_one_line "($(grep '^error' "$work/split.err"))" \
        || fail dist/rank_data_split_without_documents_one_line "exit $rc: $(grep -m3 '^error' "$work/split.err")"
else echo "SKIP dist/rank_data_split_without_documents_one_line: no $fineweb"; fi

# ---- the ranks' settings are compared before any collective (common/rank_agreement.h): an MPMD
# launch with one flag different is one line naming the flag and both values, exit 2, within
# seconds (before: silent training with mixed settings, a hang, or MPI_ERR_TRUNCATE)
cp "$train" "$work/train_copy.bin"
mixed=(-e d2 -b 2 -t 32 -s 0 -j "$val")
for c in "-l 1e-3|-l 1e-2|-l: rank 0 has '0.001', rank 1 has '0.01'" "-x 4|-x 5|-x: rank 0 has '4', rank 1 has '5'" \
         "-z 0|-z 1|-z: rank 0 has '0', rank 1 has '1'" "-n 1|-n 2|-n: rank 0 has '1', rank 1 has '2'" \
         "-v 1|-v 2|-v: rank 0 has '1', rank 1 has '2'" "-b 2|-b 1|-b: rank 0 has '2', rank 1 has '1'" \
         "--seed 1|--seed 2|--seed: rank 0 has '1', rank 1 has '2'" "--optim sgd|--optim adamw|--optim: rank 0 has 'sgd', rank 1 has 'adamw'" \
         "--optim signum --sign-vote 1|--optim signum|--sign-vote: rank 0 has '1', rank 1 has '0'" \
         "-x 4 -e d4|-x 4|-e: rank 0 has 'd4', rank 1 has 'd2'" \
         "-i $work/train_copy.bin|-i $train|-i: rank 0 has '$work/train_copy.bin', rank 1 has '$train'"; do
    IFS='|' read -r a b want <<<"$c"
    name="dist/ranks_disagree_${want%%:*}"; name=${name//-/}; name=${name// /_}
    start=$(date +%s)
    # shellcheck disable=SC2086
    timeout 60 mpirun -np 1 "$bin" "${mixed[@]}" -i "$train" -x 4 $a : -np 1 "$bin" "${mixed[@]}" -i "$train" -x 4 $b >/dev/null 2>"$work/mixed.err"
    rc=$? seconds=$(( $(date +%s) - start ))
    [ $rc -eq 2 ] && [ "$(grep -c '^error' "$work/mixed.err")" -eq 1 ] && [ $seconds -le 30 ] \
        && grep -qF "error: rank 0: the ranks disagree on $want (every rank must run the same configuration)" "$work/mixed.err" \
        && pass "$name" "(${seconds}s: $(grep '^error' "$work/mixed.err"))" \
        || fail "$name" "exit $rc after ${seconds}s, want one line '... $want': $(grep -m3 '^error' "$work/mixed.err")"
done

# the same -i glob and -e file name seen from two working directories (a node with other files):
# the files the glob matches, and the model file's content, are compared too
abs_work=$(cd "$work" && pwd) abs_bin=$(pwd)/$bin
for r in 0 1; do mkdir -p "$abs_work/node$r/data"; cp "$train" "$abs_work/node$r/data/train.bin"; done
cp "$train" "$abs_work/node1/data/train_extra.bin"
"$bin" -e d2 -x 0 -v 0 -s 0 -t 32 -i "$train" -j "$val" --seed 1 -o "$work/m1" >/dev/null 2>&1
"$bin" -e d2 -x 0 -v 0 -s 0 -t 32 -i "$train" -j "$val" --seed 2 -o "$work/m2" >/dev/null 2>&1
cp "$work/m1/model_00000000.bin" "$abs_work/node0/model.bin"; cp "$work/m2/model_00000000.bin" "$abs_work/node1/model.bin"
for c in "-e d2 -i data/*.bin|-i (the files it matches): rank 0 has '" "-e model.bin -i data/train.bin|-e (the model file's content): rank 0 has '"; do
    IFS='|' read -r args want <<<"$c"
    name="dist/ranks_disagree_${want%%:*}"; name=${name//[- ()\']/_}; name=${name//__/_}
    set -f # $args word-split, its globs left to the trainer
    # shellcheck disable=SC2086
    timeout 60 mpirun -np 1 --wdir "$abs_work/node0" "$abs_bin" -b 2 -t 32 -s 0 -x 4 -j "$(cd "$(dirname "$val")" && pwd)/$(basename "$val")" $args : \
        -np 1 --wdir "$abs_work/node1" "$abs_bin" -b 2 -t 32 -s 0 -x 4 -j "$(cd "$(dirname "$val")" && pwd)/$(basename "$val")" $args >/dev/null 2>"$work/mixed.err"
    rc=$?
    set +f
    [ $rc -eq 2 ] && [ "$(grep -c '^error' "$work/mixed.err")" -eq 1 ] && grep -qF "error: rank 0: the ranks disagree on $want" "$work/mixed.err" \
        && pass "$name" "($(grep '^error' "$work/mixed.err" | cut -c1-300))" || fail "$name" "exit $rc, want '$want': $(grep -m3 '^error' "$work/mixed.err")"
done

# ---- a rank that stops responding (SIGSTOP of rank 1): the collective's timeout
# (GPT2_COMM_TIMEOUT=5) ends the job within seconds of it, one line naming rank 1; a rank stopped
# for less than the timeout only delays the run. A wrapper records each rank's pid.
stop_rank_1() { # NAME TIMEOUT STOP_SECONDS(0: for good) -> runs the job in the background, stops rank 1 after step 3
    local name=$1 timeout_s=$2 stop_s=$3
    rm -f "$work/$name".pid.* "$work/$name.out"
    GPT2_COMM_TIMEOUT=$timeout_s timeout 120 mpirun -np 2 sh -c 'echo $$ >"$0.pid.$OMPI_COMM_WORLD_RANK"; exec "$@"' "$work/$name" \
        "$bin" "${mixed[@]}" -i "$train" -v 0 -x 60 >"$work/$name.out" 2>"$work/$name.err" &
    local job=$! i
    for i in $(seq 300); do grep -q '^step *3/' "$work/$name.out" 2>/dev/null && [ -f "$work/$name.pid.1" ] && break; sleep 0.1; done
    kill -STOP "$(cat "$work/$name.pid.1")"; start=$(date +%s)
    if [ "$stop_s" -gt 0 ]; then sleep "$stop_s"; kill -CONT "$(cat "$work/$name.pid.1")"; fi
    wait $job; rc=$? seconds=$(( $(date +%s) - start ))
}
stop_rank_1 stopped 5 0
[ $rc -ne 0 ] && [ $rc -ne 124 ] && [ $seconds -le 15 ] && [ "$(grep -c '^error' "$work/stopped.err")" -eq 1 ] \
    && grep -qE '^error: rank 0: MPI_[A-Za-z]+ has waited [0-9]+ s \(GPT2_COMM_TIMEOUT=5\) for rank 1, which never arrived' "$work/stopped.err" \
    && pass dist/stopped_rank_1_times_out "(exit $rc ${seconds}s after SIGSTOP: $(grep '^error' "$work/stopped.err"))" \
    || fail dist/stopped_rank_1_times_out "exit $rc ${seconds}s after SIGSTOP: $(grep -m3 '^error' "$work/stopped.err")"
stop_rank_1 slow 8 3
[ $rc -eq 0 ] && grep -q '^step *60/60' "$work/slow.out" && ! grep -q '^error' "$work/slow.err" \
    && pass dist/slow_rank_1_not_killed "(rank 1 stopped 3 s under GPT2_COMM_TIMEOUT=8: the run finished)" \
    || fail dist/slow_rank_1_not_killed "exit $rc: $(grep -m3 '^error' "$work/slow.err")"

# ---- resumes that change the ranks or the vote: one line, rank 0's, naming what changed; the
# rank count checked from checkpoints of steps 1 to 4 (before: from some steps each rank's
# data-position error, interleaved)
vote4=(-i "$train" -j "$val" -e d2 -t 16 -b 2 -v 0 -s 0 --optim signum)
mpi 2 "$bin" "${vote4[@]}" -x 4 -n 1 --sign-vote 1 -o "$work/vote4" >/dev/null 2>&1 || fail dist/vote4_run "exit $?"
mpi 2 "$bin" "${vote4[@]}" -x 2 -n 1 -o "$work/novote" >/dev/null 2>&1 || fail dist/novote_run "exit $?"
resume_refused() { # NAME NP DIR STEP PATTERN ARGS...: DIR holding only STEP's checkpoint, resumed on NP ranks
    local name=$1 np=$2 dir=$3 step=$4 pattern=$5; shift 5
    rm -rf "$work/resumed"; mkdir "$work/resumed"
    cp "$work/$dir/model_0000000$step.bin" "$work/$dir/state_0000000$step.bin" "$work/resumed/"
    mpi "$np" "$bin" "$@" -o "$work/resumed" -y 1 >/dev/null 2>"$work/resumed.err"
    local rc=$?
    [ $rc -eq 2 ] && [ "$(grep -c '^error' "$work/resumed.err")" -eq 1 ] && grep -qE "^error: rank 0: $pattern" "$work/resumed.err" \
        && pass "$name" "($(grep '^error' "$work/resumed.err"))" || fail "$name" "exit $rc: $(grep -m3 '^error' "$work/resumed.err")"
}
for step in 1 2 3 4; do
    resume_refused "dist/resume_3_ranks_from_2_step_$step" 3 vote4 $step "cannot resume the checkpoint of step $step .* with 3 process\(es\): it was trained with 2" \
        "${vote4[@]}" -x 6 --sign-vote 1
done
resume_refused dist/resume_vote_dropped 2 vote4 2 "cannot resume .* with --sign-vote 0: it was trained with --sign-vote 1" "${vote4[@]}" -x 6
resume_refused dist/resume_vote_added 2 novote 1 "cannot resume .* with --sign-vote 1: it was trained with --sign-vote 0" "${vote4[@]}" -x 6 --sign-vote 1
# a checkpoint written before run/sign_vote was recorded: the vote is read from its per-rank records
rm -rf "$work/novote_old"; cp -r "$work/novote" "$work/novote_old"
"$PYTHON" - "$work/novote_old/state_00000001.bin" <<'PYEOF' || fail dist/strip_run_sign_vote "python failed"
import sys
sys.path.insert(0, "test")
from named_tensors import read_named_tensors, write_named_tensors
path = sys.argv[1]
records = read_named_tensors(path)
del records["run/sign_vote"]
write_named_tensors(path, records)
PYEOF
resume_refused dist/resume_vote_added_older_checkpoint 2 novote_old 1 "cannot resume .* with --sign-vote 1: it was trained with --sign-vote 0" \
    "${vote4[@]}" -x 6 --sign-vote 1

[ $failures -eq 0 ] && rm -rf "$work"
exit $((failures > 0))

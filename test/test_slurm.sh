#!/usr/bin/env bash
# Launching on Slurm without Slurm (docs/clusters.md), verdicts slurm/...:
# - scripts/slurm/*.sbatch parse (bash -n) and carry --signal=USR1@120 and --requeue;
# - each, run with DRY_RUN=1 and a fake job's SLURM_* variables (a fake scontrol on PATH), prints
#   the one srun line it would run: no -pn/-pr (the ranks come from SLURM_*), -y 1, -x, and
#   -pf <SHARED>/nccl_<job id> (fs) or -ps <first host>:<port> (tcp); exit 75 of the trainer
#   (DRY_RUN_RC=75) requeues the job, another code is the job's, an existing DONE_<steps>
#   marker runs nothing;
# - train_gpt2cpu under fake SLURM_* variables (common/launch_env.h): -pr that contradicts
#   SLURM_PROCID, srun tasks without MPI's environment and a malformed variable are one line,
#   exit 2; one task runs; mpirun -np 2 beside SLURM_* (a Slurm batch step) trains 2 ranks.
#   test/test_slurm.sh [SHARED_DATA_DIR]   (expects make train_gpt2cpu)
set -uo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
source test/lib.sh
shared="${1:-../shared/data}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

templates=(scripts/slurm/one_node_8gpu.sbatch scripts/slurm/multi_node_fs.sbatch scripts/slurm/multi_node_tcp.sbatch)
for t in "${templates[@]}" scripts/slurm/lib.sh; do
    name=slurm/syntax/$(basename "$t")
    if err=$(bash -n "$t" 2>&1); then pass "$name"; else fail "$name" "$err"; fi
done
for t in "${templates[@]}"; do
    name=slurm/sbatch_header/$(basename "$t" .sbatch)
    if grep -qx '#SBATCH --signal=USR1@120' "$t" && grep -qx '#SBATCH --requeue' "$t"; then pass "$name"
    else fail "$name" "no '#SBATCH --signal=USR1@120' or '#SBATCH --requeue' line"; fi
done

# a fake job: id 4242 on gpu07 and gpu08, submitted from the repository
mkdir -p "$work/bin" "$work/shared" "$work/data"
# two shards that the pattern matches: a shell that expanded -i's glob would pass both
touch "$work/data/fineweb_train_000001.bin" "$work/data/fineweb_train_000002.bin"
printf '#!/bin/sh\n[ "$1 $2" = "show hostnames" ] && { echo gpu07; echo gpu08; exit 0; }\necho "fake scontrol: $*" >&2; exit 1\n' >"$work/bin/scontrol"
chmod +x "$work/bin/scontrol"
job=(env PATH="$work/bin:$PATH" DRY_RUN=1 SLURM_JOB_ID=4242 SLURM_JOB_NAME=gpt2-d12 SLURM_JOB_NODELIST='gpu[07-08]'
     SLURM_SUBMIT_DIR="$repo" OUT="$work/out" SHARED="$work/shared" STEPS=100 TRAINER=/opt/gpt2/train_gpt2cu DATA="$work/data")
# dry NAME TEMPLATE WANT_RC [VAR=VALUE...]: runs the template's dry run into $work/NAME.out
dry() {
    local name=$1 t=$2 want=$3; shift 3
    "${job[@]}" "$@" bash "$t" >"$work/$name.out" 2>&1
    local rc=$?
    [ $rc -eq "$want" ] || { fail "slurm/dry/$name" "exit $rc, want $want: $(head -c 300 "$work/$name.out")"; return 1; }
}
# expect_srun NAME TEMPLATE RENDEZVOUS: the one srun line has the rank-free flags and RENDEZVOUS
expect_srun() {
    local name=$1 t=$2 rdv=$3
    dry "$name" "$t" 0 || return
    local line n
    n=$(grep -c '^+ srun ' "$work/$name.out")
    line=$(grep '^+ srun ' "$work/$name.out")
    if [ "$n" -eq 1 ] && [[ "$line" == *" --mpi=none "* ]] && [[ "$line" == *" /opt/gpt2/train_gpt2cu "* ]] &&
       [[ "$line" == *" -o $work/out -x 100 -y 1 $rdv" ]] && [[ "$line" != *" -pn "* ]] && [[ "$line" != *" -pr "* ]] &&
       [[ "$line" == *" -i $work/data/fineweb_train_\*.bin "* ]] && ! grep -q '^+ scontrol requeue' "$work/$name.out"; then
        pass "slurm/dry/$name" "($line)"
    else
        fail "slurm/dry/$name" "$n srun line(s), want one with -i's glob unexpanded, ending '-o $work/out -x 100 -y 1 $rdv', without -pn/-pr: $(head -c 400 "$work/$name.out")"
    fi
}
expect_srun one_node scripts/slurm/one_node_8gpu.sbatch "-pi fs -pf /tmp/nccl_4242"
expect_srun multi_node_fs scripts/slurm/multi_node_fs.sbatch "-pi fs -pf $work/shared/nccl_4242"
expect_srun multi_node_tcp scripts/slurm/multi_node_tcp.sbatch "-pi tcp -ps gpu07:$((12000 + 4242 % 5000))"

for t in "${templates[@]}"; do
    base=$(basename "$t" .sbatch)
    # exit 75 (stopped after a checkpoint): requeue this job, and the batch script ends 0
    if dry "${base}_75" "$t" 0 DRY_RUN_RC=75; then
        if grep -qx '+ scontrol requeue 4242' "$work/${base}_75.out"; then pass "slurm/requeue_on_75/$base"
        else fail "slurm/requeue_on_75/$base" "no '+ scontrol requeue 4242': $(head -c 300 "$work/${base}_75.out")"; fi
    fi
    # another failure is the job's exit code, and no requeue
    if dry "${base}_1" "$t" 1 DRY_RUN_RC=1; then
        if ! grep -q 'requeue' "$work/${base}_1.out"; then pass "slurm/no_requeue_on_1/$base"
        else fail "slurm/no_requeue_on_1/$base" "requeued after exit 1"; fi
    fi
done
# a finished run (DONE_<steps> in OUT): nothing runs, exit 0
mkdir -p "$work/out" && touch "$work/out/DONE_00000100"
for t in "${templates[@]}"; do
    base=$(basename "$t" .sbatch)
    if dry "${base}_done" "$t" 0 && ! grep -q '^+ ' "$work/${base}_done.out" && grep -q "already done" "$work/${base}_done.out"; then
        pass "slurm/done_runs_nothing/$base"
    else
        fail "slurm/done_runs_nothing/$base" "$(head -c 300 "$work/${base}_done.out")"
    fi
done
rm -f "$work/out/DONE_00000100"
# multi_node_fs needs a shared folder: without SHARED, one error, nothing run
if dry fs_no_shared scripts/slurm/multi_node_fs.sbatch 1 SHARED= && grep -q "SHARED" "$work/fs_no_shared.out" &&
   ! grep -q '^+ srun' "$work/fs_no_shared.out"; then pass slurm/fs_needs_shared
else fail slurm/fs_needs_shared "$(head -c 300 "$work/fs_no_shared.out" 2>/dev/null)"; fi

# ---- train_gpt2cpu reads SLURM_* (common/launch_env.h)
bin=./train_gpt2cpu
train="$shared/tinyshakespeare/tiny_shakespeare_train.bin"
val="$shared/tinyshakespeare/tiny_shakespeare_val.bin"
if [ ! -x "$bin" ]; then echo "FAIL slurm/trainer: $bin is missing (make train_gpt2cpu)"; exit 1; fi
if [ ! -f "$train" ]; then echo "SKIP slurm/trainer: no Tiny Shakespeare shards in $shared"; exit $((failures > 0)); fi
common=(-i "$train" -j "$val" -e d2 -t 16 -b 2 -x 1 -v 0 -s 0 --no-shuffle)
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
clean=(env -u OMPI_COMM_WORLD_SIZE -u OMPI_COMM_WORLD_RANK -u PMI_SIZE -u PMI_RANK -u PMIX_SIZE)
expect_one_line_error slurm/cpu/pr_contradicts_procid "^error: -pr 1 contradicts SLURM_PROCID=3 " "" \
    "${clean[@]}" SLURM_PROCID=3 SLURM_NTASKS=4 "$bin" "${common[@]}" -pr 1
expect_one_line_error slurm/cpu/pn_contradicts_ntasks "^error: -pn 2 contradicts SLURM_NTASKS=4 " "" \
    "${clean[@]}" SLURM_PROCID=0 SLURM_NTASKS=4 "$bin" "${common[@]}" -pn 2
expect_one_line_error slurm/cpu/tasks_without_mpi "SLURM_NTASKS=2: srun started 2 tasks without MPI's environment" "" \
    "${clean[@]}" SLURM_PROCID=0 SLURM_NTASKS=2 "$bin" "${common[@]}"
expect_one_line_error slurm/cpu/malformed "SLURM_NTASKS='two' is not a whole number" "" \
    "${clean[@]}" SLURM_PROCID=0 SLURM_NTASKS=two "$bin" "${common[@]}"
# the other tasks of srun without MPI stay quiet: rank 0's line is the one
"${clean[@]}" SLURM_PROCID=1 SLURM_NTASKS=2 "$bin" "${common[@]}" >/dev/null 2>"$work/quiet.err"
rc=$?
if [ $rc -eq 2 ] && [ ! -s "$work/quiet.err" ]; then pass slurm/cpu/tasks_without_mpi_rank1_quiet
else fail slurm/cpu/tasks_without_mpi_rank1_quiet "exit $rc: $(head -c 300 "$work/quiet.err")"; fi
# one task (a batch script that runs the trainer itself): a single-process run
if "${clean[@]}" SLURM_PROCID=0 SLURM_NTASKS=1 SLURM_LOCALID=0 "$bin" "${common[@]}" >"$work/one.out" 2>&1; then
    pass slurm/cpu/one_task_runs
else fail slurm/cpu/one_task_runs "exit $?: $(tail -c 300 "$work/one.out")"; fi
# mpirun inside an allocation: SLURM_PROCID=0 / SLURM_NTASKS=1 are the batch step's, OMPI_* win
if command -v mpirun >/dev/null && ldd "$bin" | grep libmpi >/dev/null; then
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_btl_vader_single_copy_mechanism=none
    SLURM_PROCID=0 SLURM_NTASKS=1 SLURM_LOCALID=0 timeout 120 mpirun -np 2 -x SLURM_PROCID -x SLURM_NTASKS "$bin" "${common[@]}" -b 1 >"$work/mpi.out" 2>&1
    rc=$?
    if [ $rc -eq 0 ] && grep -q "^step *1/1" "$work/mpi.out"; then pass slurm/cpu/mpirun_in_allocation "(2 ranks beside SLURM_NTASKS=1)"
    else fail slurm/cpu/mpirun_in_allocation "exit $rc: $(tail -c 300 "$work/mpi.out")"; fi
else
    echo "SKIP slurm/cpu/mpirun_in_allocation: no mpirun or train_gpt2cpu without MPI"
fi
exit $((failures > 0))

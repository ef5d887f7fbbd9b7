# Sourced by scripts/slurm/*.sbatch (docs/clusters.md): the run's settings, the NCCL knobs, and
# run/finish, which honour DRY_RUN=1 (print each command as "+ cmd", run nothing) so that
# test/test_slurm.sh checks the templates without Slurm.
# Settings (environment, with defaults): TRAINER (the binary), DATA (a folder with the FineWeb
# shards), OUT (the run's output folder, on a filesystem every node sees), STEPS (-x),
# TRAIN_ARGS (the trainer's flags besides -o -x -y and the rank flags).
set -uo pipefail
set -f # TRAIN_ARGS holds the shard globs for the trainer (-i, -j): the shell must not expand them
TRAINER=${TRAINER:-$REPO/train_gpt2cu}
DATA=${DATA:-$REPO/dev/data/fineweb10B}
STEPS=${STEPS:-18865}
OUT=${OUT:-$REPO/runs/${SLURM_JOB_NAME:-gpt2}}
# llm.c's GPT-2 (124M) run; -n: a checkpoint every 1000 steps besides the one on USR1/TERM
TRAIN_ARGS=${TRAIN_ARGS:-"-i $DATA/fineweb_train_*.bin -j $DATA/fineweb_val_*.bin -e d12 -b 64 -t 1024 -d 524288 -z 1 -c 0.1 -l 0.0006 -q 0.0 -u 700 -n 1000 -v 250 -s 0 -h 0"}

# NCCL: the knobs that matter on a cluster (docs/clusters.md). Unset ones keep NCCL's choice.
export NCCL_DEBUG=${NCCL_DEBUG:-WARN}                           # INFO: which network and rings NCCL picked
[ -n "${NCCL_SOCKET_IFNAME:-}" ] && export NCCL_SOCKET_IFNAME    # e.g. ib0 or eth0: the interface for sockets
[ -n "${NCCL_IB_DISABLE:-}" ] && export NCCL_IB_DISABLE          # 1: no InfiniBand (sockets only)

DRY_RUN=${DRY_RUN:-0}
# run CMD...: print it (DRY_RUN=1; returns DRY_RUN_RC, default 0, to play an exit code) or run it
run() {
    if [ "$DRY_RUN" = 1 ]; then printf "+"; printf " %q" "$@"; printf "\n"; return "${DRY_RUN_RC:-0}"; fi
    "$@"
}
# done_marker: the trainer writes it after the final step (common/checkpoint.h)
done_marker() { printf '%s/DONE_%08d' "$OUT" "$STEPS"; }
# already_done: nothing to run (a requeued job whose run had finished)
already_done() {
    if [ -f "$(done_marker)" ]; then echo "already done: $(done_marker) exists"; return 0; fi
    return 1
}
# finish RC: 75 is "stopped by USR1/TERM after a checkpoint": requeue this job (--requeue),
# whose next start resumes with -y 1; anything else is the job's exit code.
finish() {
    local rc=$1
    if [ "$rc" -eq 75 ]; then
        echo "stopped after a checkpoint (exit 75): requeueing job ${SLURM_JOB_ID:-?}"
        run scontrol requeue "${SLURM_JOB_ID:?}"
        exit 0
    fi
    exit "$rc"
}

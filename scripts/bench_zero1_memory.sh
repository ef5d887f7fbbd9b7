#!/usr/bin/env bash
# ZeRO-1's memory saving in train_gpt2cpu, measured: the peak resident memory (ru_maxrss) of every
# rank of `mpirun -np N` for -z 0 (the peer: whole optimizer state on every rank) and -z 1 (each
# rank its shard, CpuOptimizer::keep_only), one short run each in this invocation, side by side.
#   scripts/bench_zero1_memory.sh [--model d12] [--np 2] [--optim adamw] [--steps 1]
# Prints a Markdown table: per run the largest rank's peak RSS, the run plan's state line, and
# the -z 1 / -z 0 ratio. Needs mpirun and a train_gpt2cpu built with MPI (make).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
source scripts/bench_lib.sh
model=d12 np=2 optim=adamw steps=1
bench_flags 2,7 --model --np --optim --steps -- "$@"
positive --np "$np"
positive --steps "$steps"
PYTHON="${PYTHON:-/usr/bin/python3}"
command -v mpirun >/dev/null || die "no mpirun (scripts/setup.sh installs openmpi-bin)"
[ -x ./train_gpt2cpu ] && ldd ./train_gpt2cpu | grep libmpi >/dev/null \
    || die "./train_gpt2cpu is missing or built without MPI (make train_gpt2cpu)"
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_btl_vader_single_copy_mechanism=none
make_work
# each rank runs the trainer as the child of a small Python process that then writes the child's
# peak resident memory (KiB) to a file of its own, $PEAK_DIR/rank<R>.kib: a file, not a line
# printed after the child exits, which mpirun may drop once the other ranks have ended
wrap='import os, resource, subprocess, sys
rc = subprocess.call(sys.argv[1:])
path = os.path.join(os.environ["PEAK_DIR"], "rank%s.kib" % os.environ["OMPI_COMM_WORLD_RANK"])
with open(path + ".tmp", "w") as f:
    f.write("%d\n" % resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
os.rename(path + ".tmp", path)
sys.exit(rc)'
echo "train_gpt2cpu -e $model --optim $optim, mpirun -np $np, -b 1 -t 64 -x $steps ($(bench_stamp))"
echo
echo "| -z | peak RSS of the largest rank (GiB) | every rank (GiB) | run plan |"
echo "|---|---|---|---|"
declare -A peak
for z in 0 1; do
    mkdir -p "$work/z$z"
    if ! PEAK_DIR="$work/z$z" mpirun -x PEAK_DIR -np "$np" "$PYTHON" -c "$wrap" ./train_gpt2cpu -e "$model" -b 1 -t 64 -x "$steps" -v 0 -s 0 --optim "$optim" -z "$z" \
            >"$work/z$z.out" 2>"$work/z$z.err"; then
        echo "error: the -z $z run failed: $(grep -h -m1 '^error' "$work/z$z.err" "$work/z$z.out" || tail -1 "$work/z$z.err")" >&2
        exit 1
    fi
    kib=()
    for ((r = 0; r < np; r++)); do
        [ -s "$work/z$z/rank$r.kib" ] || { echo "error: the -z $z run left no peak memory for rank $r" >&2; exit 1; }
        kib+=("$(cat "$work/z$z/rank$r.kib")")
    done
    ranks=$(printf '%s\n' "${kib[@]}" | awk '{printf "%s%.2f", (NR > 1 ? ", " : ""), $1 / 1048576}')
    peak[$z]=$(printf '%s\n' "${kib[@]}" | awk 'BEGIN {m = 0} {if ($1 > m) m = $1} END {print m}')
    plan=$(grep -m1 '^optimizer state:' "$work/z$z.out" || echo "whole optimizer state on every rank")
    printf '| %s | %s | %s | %s |\n' "$z" "$(gib "${peak[$z]}")" "$ranks" "$plan"
done
echo
awk -v a="${peak[1]}" -v b="${peak[0]}" 'BEGIN {printf "-z 1 / -z 0 peak RSS: %.3f (%.2f GiB less on the largest rank)\n", a / b, (b - a) / 1048576}'

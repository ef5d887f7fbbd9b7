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
model=d12 np=2 optim=adamw steps=1
while [ $# -gt 0 ]; do
    case "$1" in --model|--np|--optim|--steps) [ $# -ge 2 ] || { echo "error: $1 needs a value" >&2; exit 2; } ;; esac
    case "$1" in
        --model) model=$2; shift 2 ;;
        --np) np=$2; shift 2 ;;
        --optim) optim=$2; shift 2 ;;
        --steps) steps=$2; shift 2 ;;
        -h|--help) sed -n 2,7p "$0"; exit 0 ;;
        *) echo "error: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done
[[ "$np" =~ ^[1-9][0-9]*$ ]] || { echo "error: --np wants a positive integer, got '$np'" >&2; exit 2; }
[[ "$steps" =~ ^[1-9][0-9]*$ ]] || { echo "error: --steps wants a positive integer, got '$steps'" >&2; exit 2; }
PYTHON="${PYTHON:-/usr/bin/python3}"
command -v mpirun >/dev/null || { echo "error: no mpirun (scripts/setup.sh installs openmpi-bin)" >&2; exit 2; }
[ -x ./train_gpt2cpu ] && ldd ./train_gpt2cpu | grep libmpi >/dev/null \
    || { echo "error: ./train_gpt2cpu is missing or built without MPI (make train_gpt2cpu)" >&2; exit 2; }
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_btl_vader_single_copy_mechanism=none
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
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
echo "train_gpt2cpu -e $model --optim $optim, mpirun -np $np, -b 1 -t 64 -x $steps ($(date -u +%Y-%m-%dT%H:%MZ), $(git rev-parse --short HEAD))"
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
    printf '| %s | %.2f | %s | %s |\n' "$z" "$(awk -v k="${peak[$z]}" 'BEGIN {print k / 1048576}')" "$ranks" "$plan"
done
echo
awk -v a="${peak[1]}" -v b="${peak[0]}" 'BEGIN {printf "-z 1 / -z 0 peak RSS: %.3f (%.2f GiB less on the largest rank)\n", a / b, (b - a) / 1048576}'

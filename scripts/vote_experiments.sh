#!/usr/bin/env bash
# The three majority-vote experiments of docs/byzantine_vote.md (train_gpt2cpu under mpirun, d2,
# Tiny Shakespeare, signsgd --sign-vote 1 on 5 ranks (agreement: 3), -b 4 -t 32, constant lr 2e-3, 30 steps (agreement: 60),
# val loss on 8 batches every 10 steps; seeds 1 2 3 set init, data order and vote noise):
#   byzantine   f = 0, 1, 2 adversarial ranks (ranks 0..f-1), --byzantine-mode blind and omniscient
#   hetero      equal data (the loader's disjoint windows) against --rank-data-split first-token,
#               each with --vote-noise 0 and C (default 0.1, Chen et al.'s CIFAR value)
#   agreement   3 ranks (the vote is then the sign of the ranks' median), 60 steps: equal and
#               first-token-split data, each at every C of --noise-grid (default "0 0.01 0.1 1"),
#               with --vote-agreement 1 (the vote's and the expected tally's agreement with
#               sign(mean of the ranks' values) in every train record)
#   scripts/vote_experiments.sh byzantine|hetero|agreement OUT_DIR [--seeds "1 2 3"] [--steps 30] [--noise 0.1]
#                                                                  [--noise-grid "0 0.01 0.1 1"]
# Each run writes OUT_DIR/<config>_s<seed>/metrics.jsonl; then
#   /usr/bin/python3 scripts/plot_vote_experiments.py BYZANTINE_DIR HETERO_DIR FIGURE.png   (tables + figure)
#   /usr/bin/python3 scripts/plot_vote_experiments.py --agreement AGREEMENT_DIR FIGURE.png
# Runs one job at a time under nice -n 5 (the machine is shared); prints each run's wall time.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
usage_error() { echo "error: $1 (see --help)" >&2; exit 2; }
case "${1:-}" in -h|--help) sed -n 2,17p "$0"; exit 0 ;; byzantine|hetero|agreement) ;; *) usage_error "first argument: byzantine, hetero or agreement" ;; esac
exp=$1
[ $# -ge 2 ] || usage_error "OUT_DIR is missing"
out=$2
shift 2
seeds="1 2 3" steps=30 noise=0.1 grid="0 0.01 0.1 1" ranks=5 data=../shared/data/tinyshakespeare
[ "$exp" = agreement ] && steps=60 ranks=3
while [ $# -gt 0 ]; do
    [ $# -ge 2 ] || usage_error "$1 needs a value"
    case "$1" in
        --seeds) seeds=$2 ;;
        --steps) steps=$2 ;;
        --noise) noise=$2 ;;
        --noise-grid) grid=$2 ;;
        --data) data=$2 ;;
        *) usage_error "unknown argument '$1'" ;;
    esac
    shift 2
done
[ -x ./train_gpt2cpu ] && ldd ./train_gpt2cpu | grep libmpi >/dev/null || usage_error "./train_gpt2cpu with MPI is missing (make train_gpt2cpu)"
mkdir -p "$out"
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_btl_vader_single_copy_mechanism=none
common=(-i "$data/tiny_shakespeare_train.bin" -j "$data/tiny_shakespeare_val.bin" -e d2 -t 32 -b 4 -x "$steps" -v 10 -m 8 -s 0
        -n 0 --optim signsgd -l 2e-3 --schedule constant -u 0 --sign-vote 1)
run() { # NAME SEED FLAGS...
    local name=$1 seed=$2; shift 2
    local dir="$out/${name}_s$seed" t0=$SECONDS
    if [ -f "$dir/metrics.jsonl" ] && grep -q "\"step\":$steps," "$dir/metrics.jsonl"; then echo "$name seed $seed: done before"; return; fi
    rm -rf "$dir"
    nice -n 5 mpirun -np "$ranks" ./train_gpt2cpu "${common[@]}" --seed "$seed" "$@" -o "$dir" >"$dir.log" 2>&1 || { echo "$name seed $seed failed: $(tail -2 "$dir.log")"; exit 1; }
    echo "$name seed $seed: $((SECONDS - t0)) s ($(grep -o 'val loss [0-9.]*' "$dir.log" | tail -1))"
}
start=$SECONDS
for seed in $seeds; do
    if [ "$exp" = byzantine ]; then
        run f0 "$seed"
        for f in 1 2; do
            for mode in blind omniscient; do run "f${f}_$mode" "$seed" --byzantine "$f" --byzantine-mode "$mode"; done
        done
    elif [ "$exp" = agreement ]; then
        for c in $grid; do
            run "equal_c$c" "$seed" --vote-agreement 1 --vote-noise "$c"
            run "unequal_c$c" "$seed" --vote-agreement 1 --vote-noise "$c" --rank-data-split first-token
        done
    else
        run equal "$seed"
        run equal_noise "$seed" --vote-noise "$noise"
        run unequal "$seed" --rank-data-split first-token
        run unequal_noise "$seed" --rank-data-split first-token --vote-noise "$noise"
    fi
done
echo "wall time: $((SECONDS - start)) s"

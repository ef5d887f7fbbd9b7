#!/usr/bin/env bash
# Which optimizer trains GPT-2 faster, and when? Trains the same model on the same data,
# seed, batch and step budget with each optimizer over a small learning-rate grid, one
# directory per run (OUT/<optim>_lr<lr>/), then draws every run into one picture and a
# Markdown table with scripts/plot_runs.py.
#
#   scripts/compare_optimizers.sh                 # GPU, d6 on Tiny Shakespeare, 1.6M tokens a run
#   scripts/compare_optimizers.sh --cpu           # CPU, d2, a smoke test that runs anywhere
#   scripts/compare_optimizers.sh --paper         # GPU, d12 on FineWeb, the paper's 124M setting
#   scripts/compare_optimizers.sh --dry-run ...   # print the commands, run nothing
# Run with -h for every option.
set -uo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
PYTHON="${PYTHON:-/usr/bin/python3}"
prog=scripts/compare_optimizers.sh

usage() {
    cat <<EOF
usage: $prog [options] [-- extra trainer flags]
modes (default: GPU, ./train_gpt2cu -e d6 -b 16 -t 512 -d 8192 (no accumulation), 200 steps on
                    Tiny Shakespeare: 1.6M tokens, about 5 epochs, per run):
  --cpu             ./train_gpt2cpu -e d2 -b 4 -t 64, 30 steps (a smoke test; runs without a GPU)
  --paper           ./train_gpt2cu d12 on FineWeb as in arXiv 2605.06615's GPT-2 124M runs:
                    512 x 512 tokens per step (-b 64, accumulation 8), 10000 steps, warmup 1000
                    from lr/100, cosine to lr/100, weight decay 0.1 on hidden matrices, clip 1.0
options:
  --optims "A B"    optimizers to compare (default: "$all_optims")
  --lr OPTIM=L1,L2  learning-rate grid of one optimizer (repeatable; default: 3 values per optimizer)
  --steps N         optimizer steps per run (overrides the mode's -x)
  --seed N          seed for every run (default 42)
  --out DIR         one sub-directory per run (default runs/compare_<mode>)
  --extra "FLAGS"   more trainer flags for every run, after the mode's (so they override them);
                    anything after -- is appended the same way
  --bin PATH        trainer binary (default: the mode's)
  --keep-models     keep each run's model and state files (default: deleted after the run, they are big)
  --force           rerun runs that already finished (default: skip them, so a sweep resumes)
  --dry-run         print the exact commands, one per line, and run nothing
  -h, --help        this help
EOF
}

die() { echo "$prog: $*" >&2; exit 2; }

all_optims="sgd signsgd signum muon adamw lion"
mode=gpu optims="$all_optims" steps="" seed=42 out="" bin="" dry_run=0 keep_models=0 force=0
extra=()
declare -A lr_override=()

is_number() { [[ $1 =~ ^[0-9]*\.?[0-9]+([eE][-+]?[0-9]+)?$ ]]; }

while [ $# -gt 0 ]; do
    case $1 in
        -h|--help) usage; exit 0 ;;
        --cpu) mode=cpu ;;
        --paper) mode=paper ;;
        --dry-run) dry_run=1 ;;
        --keep-models) keep_models=1 ;;
        --force) force=1 ;;
        --optims|--lr|--steps|--seed|--out|--extra|--bin)
            [ $# -ge 2 ] || die "option $1 needs a value"
            case $1 in
                --optims) optims=$2 ;;
                --lr)
                    [[ $2 =~ ^([a-z]+)=(.+)$ ]] || die "--lr wants OPTIM=LR1,LR2,..., got '$2'"
                    name=${BASH_REMATCH[1]} grid=${BASH_REMATCH[2]}
                    [[ " $all_optims " == *" $name "* ]] || die "--lr: unknown optimizer '$name' ($all_optims)"
                    for lr in ${grid//,/ }; do is_number "$lr" || die "--lr: '$lr' is not a learning rate"; done
                    lr_override[$name]=${grid//,/ } ;;
                --steps) [[ $2 =~ ^[1-9][0-9]*$ ]] || die "--steps wants a positive integer, got '$2'"; steps=$2 ;;
                --seed) [[ $2 =~ ^[0-9]+$ ]] || die "--seed wants a non-negative integer, got '$2'"; seed=$2 ;;
                --out) out=$2 ;;
                --extra) read -r -a words <<<"$2"; extra+=("${words[@]}") ;;
                --bin) bin=$2 ;;
            esac
            shift ;;
        --) shift; extra+=("$@"); break ;;
        *) die "unknown option '$1' (see -h)" ;;
    esac
    shift
done

for o in $optims; do
    [[ " $all_optims " == *" $o "* ]] || die "unknown optimizer '$o' in --optims ($all_optims)"
done
[ -n "$optims" ] || die "--optims is empty"

# Mode settings. The learning-rate grids are x3 steps around each optimizer's default
# (the trainer's -l defaults; SGD 1e-2 and SignSGD 1e-4 are the paper's). The CPU smoke
# test trains a 2-layer model for 30 steps, where larger rates are needed to move at all
# (a first sweep had its best rates at the top of a grid one x3 step lower).
case $mode in
    gpu)
        bin=${bin:-./train_gpt2cu}
        # -d B*T: train_gpt2cu's default total batch is llm.c's 524288 tokens (32 accumulation steps here)
        common=(-e d6 -b 16 -t 512 -d 8192 -x 200 -u 20 -q 0.1 -v 20 -m 8)
        declare -A grid=([sgd]="3e-3 1e-2 3e-2" [signsgd]="3e-5 1e-4 3e-4" [signum]="3e-5 1e-4 3e-4"
                         [muon]="1e-2 2e-2 4e-2" [adamw]="2e-4 6e-4 1.8e-3" [lion]="3e-5 1e-4 3e-4") ;;
    cpu)
        bin=${bin:-./train_gpt2cpu}
        common=(-e d2 -b 4 -t 64 -x 30 -u 3 -q 0.1 -v 10 -m 4)
        declare -A grid=([sgd]="3e-2 1e-1 3e-1" [signsgd]="1e-3 3e-3 1e-2" [signum]="1e-3 3e-3 1e-2"
                         [muon]="3e-2 1e-1 3e-1" [adamw]="3e-3 1e-2 3e-2" [lion]="1e-3 3e-3 1e-2") ;;
    paper)
        bin=${bin:-./train_gpt2cu}
        common=(-e d12 -b 64 -t 512 -d 262144 -x 10000 -u 1000 --warmup-init 0.01 -q 0.01
                -c 0.1 --wd-on hidden --grad-clip 1.0 -v 250 -m 20
                -i 'data/fineweb10B/fineweb_train_*.bin' -j 'data/fineweb10B/fineweb_val_*.bin')
        declare -A grid=([sgd]="3e-3 1e-2 3e-2" [signsgd]="3e-5 1e-4 3e-4" [signum]="3e-5 1e-4 3e-4"
                         [muon]="1e-2 2e-2 4e-2" [adamw]="2e-4 6e-4 1.8e-3" [lion]="3e-5 1e-4 3e-4") ;;
esac
for o in "${!lr_override[@]}"; do grid[$o]=${lr_override[$o]}; done
if [ -n "$steps" ]; then   # replace the mode's -x value, so each command has one -x
    for i in "${!common[@]}"; do [ "${common[$i]}" = -x ] && common[$((i + 1))]=$steps; done
fi
out=${out:-runs/compare_$mode}

# Per-optimizer flags: SGD is heavy-ball momentum 0.9 (stated, not left to the default).
optim_flags() {
    case $1 in
        sgd) echo "--momentum 0.9 --nesterov 0" ;;
        *) echo "" ;;
    esac
}

# One command per run, in a fixed order: optimizers as given, learning rates as listed.
commands=() run_dirs=()
for o in $optims; do
    for lr in ${grid[$o]}; do
        dir="$out/${o}_lr$lr"
        read -r -a oflags <<<"$(optim_flags "$o")"
        cmd=("$bin" "${common[@]}" --seed "$seed" --optim "$o" "${oflags[@]}" -l "$lr" "${extra[@]}" -o "$dir")
        cmd_line=$(printf "%q " "${cmd[@]}"); commands+=("${cmd_line% }")
        run_dirs+=("$dir")
    done
done
plot_cmd=("$PYTHON" scripts/plot_runs.py "${run_dirs[@]}" -o "$out/compare.png" --summary "$out/summary.md")

if [ $dry_run -eq 1 ]; then
    for c in "${commands[@]}"; do echo "${c% }"; done
    printf '%q ' "${plot_cmd[@]}" | sed 's/ $/\n/'
    exit 0
fi

# The GPU modes need a GPU: checked once, here, instead of failing every run the same way.
if [ "$mode" != cpu ] && ! nvidia-smi -L >/dev/null 2>&1; then
    die "mode '$mode' trains with train_gpt2cu and nvidia-smi finds no CUDA GPU here (--cpu sweeps with train_gpt2cpu)"
fi
[ -x "$bin" ] || die "trainer '$bin' not found or not executable (run make first)"
mkdir -p "$out" || die "cannot create '$out'"
failed=() done_dirs=()
for i in "${!commands[@]}"; do
    dir=${run_dirs[$i]}
    if [ $force -eq 0 ] && [ -f "$dir/.finished" ]; then
        echo "== skip $dir (finished earlier; --force reruns it)"
        done_dirs+=("$dir"); continue
    fi
    rm -rf "$dir"; mkdir -p "$dir"
    echo "== run $((i + 1))/${#commands[@]}: ${commands[$i]}"
    # The command line was built with printf %q, so eval gives back the exact words.
    if eval "${commands[$i]}" >"$dir/stdout.txt" 2>&1; then
        touch "$dir/.finished"; done_dirs+=("$dir")
        [ $keep_models -eq 1 ] || rm -f "$dir"/model_*.bin "$dir"/state_*.bin
        tail -n 1 "$dir/stdout.txt" | sed 's/^/   /'
    else
        rc=$?
        # The trainer's one-line reason, else its last line.
        reason=$(grep -m1 '^error:' "$dir/stdout.txt" || tail -n 1 "$dir/stdout.txt")
        echo "   FAILED (exit $rc): $reason"
        failed+=("$dir")
    fi
done

if [ ${#done_dirs[@]} -gt 0 ]; then
    "$PYTHON" scripts/plot_runs.py "${done_dirs[@]}" -o "$out/compare.png" --summary "$out/summary.md" || failed+=("plot")
fi
if [ ${#failed[@]} -gt 0 ]; then
    echo "$prog: ${#failed[@]} failed: ${failed[*]}" >&2
    exit 1
fi
echo "picture: $out/compare.png  table: $out/summary.md"

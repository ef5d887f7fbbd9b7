#!/usr/bin/env bash
# The GPT-2 experiment of arXiv 2605.06615 ("when and why does SignSGD beat SGD") as one
# command: SGD-momentum, SignSGD, Signum, Muon and AdamW trained on the same data, seed,
# batches and schedule, the gradient-noise statistics (phi, mean density, tail index) measured
# at every step of seven windows of the SGD run (docs/phi.md), then one figure and a table next to
# the runs (OUT/reproduction.png, OUT/reproduction.md), drawn by scripts/plot_runs.py.
#
#   scripts/reproduce_signsgd_paper.sh --scale paper   # the paper's d12 run, train_gpt2cu on a GPU
#   scripts/reproduce_signsgd_paper.sh --scale cpu     # the same protocol shrunk to ~35 min on 2 quiet cores
#   scripts/reproduce_signsgd_paper.sh --dry-run ...   # print every command, run nothing
#
# The protocol (both scales): the paper's OneCycleLR(anneal_strategy='cos', div_factor=100,
# pct_start=0.1, final_div_factor 1e4 by default): a cosine warmup over the first 10% of the steps
# from lr/100, then cosine to lr/1e6 (--warmup-shape cos --warmup-init 0.01 -q 1e-6, equal to
# OneCycleLR step for step: test/test_warmup_onecycle.py), gradient clipping 1.0, weight decay 0.1 on the hidden matrices only (--wd-on hidden:
# the 4 matrices of each block, not the embeddings, norms or biases). The trainers' weight decay is
# coupled for sgd (added to the gradient, as torch.optim.SGD) and decoupled, p -= lr*wd*p, for
# every other rule (optim/sgd.h, optim/signsgd.h): exactly the paper's "coupled for SGD,
# decoupled for SignSGD", so no switch is needed. SGD is heavy-ball momentum 0.9 (no Nesterov),
# SignSGD has no momentum.
#
# --scale paper (arXiv 2605.06615's GPT-2 124M runs): -e d12, T = 512, 262,144-token batches
# (-b 64, 8 accumulation steps), 10,000 steps, warmup 1,000; SGD lr 1e-2, SignSGD lr 1e-4 (the
# paper's); Signum 1e-4, Muon 2e-2 (its embeddings, norms and biases on AdamW at 6e-4), AdamW
# 6e-4 (the trainer's defaults: these three are not in the paper's GPT-2 figure and are not tuned
# here). phi over 128 gradients per measurement at every step of the windows [0,100), [500,600),
# [1000,1100), [2000,2100), [3000,3100), [5000,5100), [9900,10000) (--noise-every 1
# --noise-batches 128 --noise-windows ...): 700 measurements, the figure smooths them as the
# paper (EMA span 100 within each window, plot_runs.py --phi-span). Each gradient is one
# micro-batch (64 x 512 = 32,768 tokens; the paper's code: 128 x 512 = 65,536, K = 4 ranks x 32):
# K x tokens = 4.2M, where docs/phi.md's bias model reads 0.95 of the true phi (the estimate of a
# rare token's row is biased low until it has been seen a few times). Cost: 700 x 128
# micro-batches, 1.1x the SGD run's own 80,000; memory 16 + 2K bytes per parameter for the
# accumulator (34 GB at K = 128). The paper reports val
# loss 6.69 for SGD and 4.51 for SignSGD (on C4; these runs read FineWeb: compare the gap) and phi
# falling from about 0.30 to 0.03 along the SGD run.
#
# --scale cpu (train_gpt2cpu on the 2-core development machine, FineWeb-Edu sample of ../shared):
# -e d4 (4 blocks of width 128, 7.4M parameters, 11% in the hidden matrices: the next model up
# from d2, whose 2 blocks of width 64 are 97% embedding; ~1.2 s a step on 2 cores), -b 8 -t 128
# (1,024 tokens a step: T = 128 keeps attention a small share, as T = 512 is for d12), 100 steps
# = 102k tokens, half a pass over the sample's 185k training tokens (no repeated data, as in the
# paper's single pass), warmup 10. Validation every 5 steps over 4 batches (4k of the 32k val
# tokens). The learning rates are not the paper's: 1e-4 SignSGD would move a weight by at most
# 0.01 in 100 steps. SGD, SignSGD and AdamW take the best of a 50-step probe at this size
# (docs/reproduction.md): SGD 3e-1 (of 3e-1, 1), SignSGD 3e-3 (of 1e-3, 3e-3),
# AdamW 3e-3 (of 3e-3, 1e-2); Signum runs at SignSGD's rate (its momentum the only difference),
# Muon at 3e-2 with its fallback AdamW at AdamW's 3e-3 (neither probed). phi over 32 gradients
# at every step of [0,5), [5,10), [10,15), [20,25), [30,35), [50,55), [95,100): 35 measurements,
# smoothed with span 5 (the window's length, as the paper's span 100 is its window's). K = 32 at
# 1,024 tokens is where phi of everything but wte has converged at d4 (docs/phi.md: 0.402, 0.389,
# 0.389 at K = 16, 32, 64); wte's, and so the whole model's, has not (K x tokens = 32k: the bias
# model reads about 0.2 of the true value) and cannot be on this machine. The tail index at
# K = 32 reads 2.16 for Gaussian noise (tail_index_gaussian(32)). About 35 minutes on the quiet
# 2-core machine (100 steps at ~1.2 s, 21 validations, 1,120 noise gradients).
#
# Run with -h for the options.
set -uo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
PYTHON="${PYTHON:-/usr/bin/python3}"
prog=scripts/reproduce_signsgd_paper.sh

usage() {
    cat <<EOF
usage: $prog --scale paper|cpu [options] [-- extra trainer flags]
  --scale paper     the paper's GPT-2 124M run: ./train_gpt2cu -e d12 -b 64 -t 512 -d 262144, 10000 steps
  --scale cpu       the same protocol shrunk: ./train_gpt2cpu -e d4 -b 8 -t 128, 100 steps on the
                    FineWeb-Edu sample (about 35 minutes on 2 quiet cores)
  --steps N         steps per run (the warmup, the validation interval and the noise windows follow)
  --seeds N         every optimizer N times, seeds 42, 43, ..., into OUT/<optim>_s<seed>/ (without it: one
                    run, seed 42, in OUT/<optim>/); phi is measured on the first seed's SGD run only; the
                    table then has each optimizer's mean, 95% interval and paired difference to SGD
  --seed-mode M     both (default: --seed and the data order together), init (--seed varies, the data
                    order stays seed 42's: --data-seed 42) or data (--data-seed varies, --seed 42)
  --out DIR         one sub-directory per optimizer (default runs/repro_<scale>)
  --bin PATH        trainer binary (default: the scale's)
  --extra "FLAGS"   more trainer flags for every run, last (so they override); also anything after --
  --force           rerun finished runs (default: skip a run that finished with the same command line
                    and trainer binary, so an interrupted reproduction resumes; others rerun, with a note)
  --dry-run         print every command, one per line, and run nothing
  -h, --help        this help
EOF
}
die() { echo "$prog: $*" >&2; exit 2; }

scale="" steps="" out="" bin="" dry_run=0 force=0 seeds="" seed_mode=both
extra=()
while [ $# -gt 0 ]; do
    case $1 in
        -h|--help) usage; exit 0 ;;
        --dry-run) dry_run=1 ;;
        --force) force=1 ;;
        --scale|--steps|--seeds|--seed-mode|--out|--bin|--extra)
            [ $# -ge 2 ] || die "option $1 needs a value"
            case $1 in
                --scale) [[ $2 == paper || $2 == cpu ]] || die "--scale wants paper or cpu, got '$2'"; scale=$2 ;;
                --steps) [[ $2 =~ ^[1-9][0-9]*$ ]] || die "--steps wants a positive integer, got '$2'"; steps=$2 ;;
                --seeds) [[ $2 =~ ^[1-9][0-9]*$ ]] || die "--seeds wants a positive integer (runs per optimizer), got '$2'"; seeds=$2 ;;
                --seed-mode) [[ $2 =~ ^(both|init|data)$ ]] || die "--seed-mode wants both, init or data, got '$2'"; seed_mode=$2 ;;
                --out) out=$2 ;;
                --bin) bin=$2 ;;
                --extra) read -r -a words <<<"$2"; extra+=("${words[@]}") ;;
            esac
            shift ;;
        --) shift; extra+=("$@"); break ;;
        *) die "unknown option '$1' (see -h)" ;;
    esac
    shift
done
[ -n "$scale" ] || die "give --scale paper or --scale cpu (see -h)"

optims=(sgd signsgd signum muon adamw)
declare -A lr optim_flags
optim_flags=([sgd]="--momentum 0.9 --nesterov 0" [signsgd]="" [signum]="--momentum 0.9" [muon]="" [adamw]="")
case $scale in
    paper)
        bin=${bin:-./train_gpt2cu}
        x=10000 val_every=250 window=100 noise_every=1 noise_k=128
        model=(-e d12 -b 64 -t 512 -d 262144 -m 20
               -i 'data/fineweb10B/fineweb_train_*.bin' -j 'data/fineweb10B/fineweb_val_*.bin')
        lr=([sgd]=1e-2 [signsgd]=1e-4 [signum]=1e-4 [muon]=2e-2 [adamw]=6e-4)
        optim_flags[muon]="--fallback-lr 6e-4" ;;
    cpu)
        bin=${bin:-./train_gpt2cpu}
        x=100 val_every=5 window=5 noise_every=1 noise_k=32
        model=(-e d4 -b 8 -t 128 -m 4
               -i data/fineweb_sample/fineweb_edu_sample_train.bin -j data/fineweb_sample/fineweb_edu_sample_val.bin)
        lr=([sgd]=3e-1 [signsgd]=3e-3 [signum]=3e-3 [muon]=3e-2 [adamw]=3e-3)
        optim_flags[muon]="--fallback-lr 3e-3" ;;
esac
if [ -n "$steps" ]; then   # the protocol's proportions at another length
    ((val_every = val_every * steps / x > 0 ? val_every * steps / x : 1))
    ((window = window * steps / x > 0 ? window * steps / x : 1))
    ((noise_every = noise_every < window ? noise_every : window))
    x=$steps
fi
warmup=$((x / 10))
mid=$((x / 2))
# Windows at 0, 5%, 10%, 20%, 30%, 50% of the run and at its end (the paper's SGD curve: a rise
# near 5%, the warmup's middle, then the fall, quoted at 10%, 20%, 30%, 50%); phi at every step
# inside them. At a few steps they would overlap: each starts where the previous ended.
windows="" prev_end=0
for start in 0 $((x * 5 / 100)) $((x / 10)) $((x / 5)) $((x * 3 / 10)) "$mid" $((x - window)); do
    w="$start $((start + window))"
    read -r a b <<<"$w"
    ((a = a < prev_end ? prev_end : a))
    [ "$a" -lt "$b" ] || continue
    windows+="${windows:+,}$a:$b" prev_end=$b
done
out=${out:-runs/repro_$scale}
protocol=(-x "$x" -u "$warmup" --warmup-shape cos --warmup-init 0.01 -q 1e-6 --schedule cosine --grad-clip 1.0 -c 0.1 --wd-on hidden
          -v "$val_every" -s 0)
noise=(--noise-every "$noise_every" --noise-batches "$noise_k" --noise-windows "$windows")

commands=() run_dirs=()
for o in "${optims[@]}"; do
    for ((rep = 0; rep < ${seeds:-1}; rep++)); do
        # the seeds of repetition rep (--seed-mode); --data-seed only where it differs from --seed
        s=42 ds=42
        [ "$seed_mode" = data ] || s=$((42 + rep))
        [ "$seed_mode" = init ] || ds=$((42 + rep))
        dir="$out/$o"
        [ -z "$seeds" ] || { dir+="_s$s"; [ "$ds" = "$s" ] || dir+="_d$ds"; }
        sflags=(--seed "$s"); [ "$ds" = "$s" ] || sflags+=(--data-seed "$ds")
        read -r -a oflags <<<"${optim_flags[$o]}"
        cmd=("$bin" "${model[@]}" "${protocol[@]}" "${sflags[@]}" --optim "$o" -l "${lr[$o]}" "${oflags[@]}")
        [ "$o" = sgd ] && [ "$rep" -eq 0 ] && cmd+=("${noise[@]}")
        cmd+=("${extra[@]}" -o "$dir")
        line=$(printf "%q " "${cmd[@]}"); commands+=("${line% }")
        run_dirs+=("$dir")
    done
done
plot_cmd=("$PYTHON" scripts/plot_runs.py "${run_dirs[@]}" -o "$out/reproduction.png" --summary "$out/runs.md"
          --phi-span "$window" --title "arXiv 2605.06615 reproduction, --scale $scale")
plot_line=$(printf "%q " "${plot_cmd[@]}"); plot_line=${plot_line% }

if [ $dry_run -eq 1 ]; then
    printf '%s\n' "${commands[@]}" "$plot_line"
    exit 0
fi
if [ "$scale" = paper ] && [[ $bin == *train_gpt2cu* ]] && ! nvidia-smi -L >/dev/null 2>&1; then
    die "--scale paper trains with train_gpt2cu and nvidia-smi finds no CUDA GPU here (--scale cpu runs on the CPU)"
fi
[ -x "$bin" ] || die "trainer '$bin' not found or not executable (run make first)"
mkdir -p "$out" || die "cannot create '$out'"

source scripts/run_record.sh
start=$(date +%s)
failed=()
for i in "${!commands[@]}"; do
    dir=${run_dirs[$i]}
    if [ $force -eq 0 ] && [ -f "$dir/.finished" ]; then
        change=$(run_record_change "$dir" "${commands[$i]}" "$bin")
        if [ -z "$change" ]; then
            echo "== skip $dir (finished earlier with this command and binary; --force reruns it)"; continue
        fi
        echo "note: rerunning $dir: $change"
    fi
    rm -rf "$dir"; mkdir -p "$dir"
    echo "== run $((i + 1))/${#commands[@]} ($(date -u +%H:%M:%S)): ${commands[$i]}"
    t0=$(date +%s)
    if eval "${commands[$i]}" >"$dir/stdout.txt" 2>&1; then
        run_record_write "$dir" "${commands[$i]}" "$bin" "$(( $(date +%s) - t0 ))"
        rm -f "$dir"/model_*.bin "$dir"/state_*.bin
        grep 'val loss' "$dir/stdout.txt" | tail -n 1 | sed 's/^/   /'
    else
        rc=$?
        echo "   FAILED (exit $rc): $(grep -m1 '^error:' "$dir/stdout.txt" || tail -n 1 "$dir/stdout.txt")"
        failed+=("$dir")
    fi
done
[ ${#failed[@]} -eq 0 ] || { echo "$prog: ${#failed[@]} failed: ${failed[*]}" >&2; exit 1; }

echo "== plot: $plot_line"
eval "$plot_line" >"$out/plot.out" 2>&1 || { cat "$out/plot.out" >&2; exit 1; }
wall=$(( $(date +%s) - start ))
{
    echo "# arXiv 2605.06615 reproduction, --scale $scale"
    echo
    echo "Trainer commands, as each run recorded them (DIR/.finished; wall time of this invocation: $((wall / 60))m$((wall % 60))s,"
    echo "each run's own after its command):"
    echo
    echo '```'
    for dir in "${run_dirs[@]}"; do
        echo "$(run_record_field "$dir" command)   # $(run_record_field "$dir" seconds) s"
    done
    echo "$plot_line"
    echo '```'
    echo
    echo "Paper (GPT-2 124M on C4, 10k steps of 262k tokens): final val loss SGD 6.69, SignSGD 4.51;"
    echo "phi along the SGD run from about 0.30 (start) to 0.03 (end)."
    echo
    cat "$out/runs.md"
} >"$out/reproduction.md"
cat "$out/reproduction.md"
echo "figure: $out/reproduction.png  table: $out/reproduction.md"

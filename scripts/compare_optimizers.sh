#!/usr/bin/env bash
# Which optimizer trains GPT-2 faster, and when? Trains the same model on the same data,
# seed, batch and step budget with each optimizer over a small learning-rate grid, one
# directory per run (OUT/<optim>_lr<lr>/), then draws every run into one picture and a
# Markdown table with scripts/plot_runs.py. A grid whose best rate (lowest final val loss) is
# on its edge gets one more x3 step beyond that edge, up to --extend times, so the reported
# best is a minimum, not a boundary. Muon's fallback AdamW (embeddings, norms and biases:
# most of a small model) moves with muon's rate at a fixed ratio, so the sweep moves both.
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
  --optims "A B"    optimizers to compare (default: "$default_optims"; also: fmuon smuon, docs/fanions.md)
  --lr OPTIM=L1,L2  learning-rate grid of one optimizer (repeatable; default: 3 values per optimizer)
  --grid FILE       a search space in a file, one 'KEY=V1,V2,...' or 'OPTIM.KEY=V1,V2,...' per line ('#'
                    comments); KEY: lr, wd (weight decay, -c), momentum (sgd, signum, muon, fmuon, smuon),
                    beta1, beta2 (adamw, lion), alpha (--fanion-alpha: fmuon, smuon), sscale (smuon's
                    --smuon-sign-scale). A bare KEY applies to every optimizer that uses it, OPTIM.KEY to one (it
                    wins); lr defaults to the mode's grid. Each optimizer's trials are the product of its
                    keys' value counts, and every optimizer must get the same number (refused otherwise).
                    Runs go to OUT/<optim>_lr<lr>[_wd<v>][_mom<v>][_b1<v>][_b2<v>][_a<v>][_ss<v>][_s<seed>]/.
                    Example: scripts/grids/cpu_study.grid
  --grid-line LINE  one such line on the command line (repeatable; with or without --grid)
  --extend N        a grid of 2+ rates whose best is on its edge gets one more x3 step beyond it,
                    at most N per optimizer (default 2; 0: off; the best is then reported as it is)
  --fallback-ratio R  muon's (fmuon's, smuon's) --fallback-lr is R x its lr (default: AdamW's grid
                    center over muon's, the mode's 0.03 or 0.1)
  --fallback-lr LR  instead, one fixed --fallback-lr for every muon, fmuon and smuon run: a sweep of the
                    hidden matrices' rule alone (the fallback trains the embeddings, norms and biases)
  --steps N         optimizer steps per run (overrides the mode's -x)
  --seed N          seed for every run (default 42); with --seeds, the first seed
  --seeds N         run every point N times, with seeds --seed, --seed+1, ..., into
                    OUT/<optim>_lr<lr>_s<seed>/ (OUT/<optim>_lr<lr>_s<seed>_d<data seed>/ when the two
                    differ); without --seeds one run per point in OUT/<optim>_lr<lr>/ as before
  --seed-mode M     what the seeds vary: both (default: --seed and the data order together, the
                    trainer's --data-seed left at --seed), init (--seed varies, --data-seed fixed at
                    the first seed) or data (--data-seed varies, --seed fixed)
  --out DIR         one sub-directory per run (default runs/compare_<mode>)
  --extra "FLAGS"   more trainer flags for every run, after the mode's (so they override them);
                    anything after -- is appended the same way
  --bin PATH        trainer binary (default: the mode's)
  --keep-models     keep each run's model and state files (default: deleted after the run, they are big)
  --force           rerun runs that already finished (default: skip a run that finished with the
                    same command line and trainer binary, so a sweep resumes; others rerun, with a note)
  --dry-run         print the exact commands, one per line, and run nothing
  -h, --help        this help
EOF
}

die() { echo "$prog: $*" >&2; exit 2; }

default_optims="sgd signsgd signum muon adamw lion"
all_optims="$default_optims fmuon smuon"
mode=gpu optims="$default_optims" grid_lines=() steps="" seed=42 seeds="" seed_mode=both out="" bin="" dry_run=0 keep_models=0 force=0 extend=2 fallback_ratio="" fallback_lr=""
extra=()
declare -A lr_override=()

is_number() { [[ $1 =~ ^[0-9]*\.?[0-9]+([eE][-+]?[0-9]+)?$ ]]; }
is_positive() { is_number "$1" && awk -v x="$1" 'BEGIN { exit !(x + 0 > 0) }'; }

while [ $# -gt 0 ]; do
    case $1 in
        -h|--help) usage; exit 0 ;;
        --cpu) mode=cpu ;;
        --paper) mode=paper ;;
        --dry-run) dry_run=1 ;;
        --keep-models) keep_models=1 ;;
        --force) force=1 ;;
        --optims|--lr|--grid|--grid-line|--steps|--seed|--seeds|--seed-mode|--out|--extra|--bin|--extend|--fallback-ratio|--fallback-lr)
            [ $# -ge 2 ] || die "option $1 needs a value"
            case $1 in
                --optims) optims=$2 ;;
                --lr)
                    [[ $2 =~ ^([a-z]+)=(.+)$ ]] || die "--lr wants OPTIM=LR1,LR2,..., got '$2'"
                    name=${BASH_REMATCH[1]} grid=${BASH_REMATCH[2]}
                    [[ " $all_optims " == *" $name "* ]] || die "--lr: unknown optimizer '$name' ($all_optims)"
                    for lr in ${grid//,/ }; do is_positive "$lr" || die "--lr: '$lr' is not a learning rate (a positive number)"; done
                    lr_override[$name]=${grid//,/ } ;;
                --grid)
                    [ -f "$2" ] && [ -r "$2" ] || die "--grid: cannot read '$2' (a file of KEY=V1,V2 lines)"
                    while IFS= read -r line || [ -n "$line" ]; do
                        line=${line%%#*}; line=${line//[[:space:]]/}
                        [ -n "$line" ] && grid_lines+=("$line")
                    done <"$2" ;;
                --grid-line) grid_lines+=("${2//[[:space:]]/}") ;;
                --steps) [[ $2 =~ ^[1-9][0-9]*$ ]] || die "--steps wants a positive integer, got '$2'"; steps=$2 ;;
                --seed) [[ $2 =~ ^[0-9]+$ ]] || die "--seed wants a non-negative integer, got '$2'"; seed=$2 ;;
                --seeds) [[ $2 =~ ^[1-9][0-9]*$ ]] || die "--seeds wants a positive integer (runs per point), got '$2'"; seeds=$2 ;;
                --seed-mode) [[ $2 =~ ^(both|init|data)$ ]] || die "--seed-mode wants both, init or data, got '$2'"; seed_mode=$2 ;;
                --out) out=$2 ;;
                --extra) read -r -a words <<<"$2"; extra+=("${words[@]}") ;;
                --bin) bin=$2 ;;
                --extend) [[ $2 =~ ^[0-9]+$ ]] || die "--extend wants a non-negative integer, got '$2'"; extend=$2 ;;
                --fallback-ratio) is_positive "$2" || die "--fallback-ratio wants a positive number, got '$2'"; fallback_ratio=$2 ;;
                --fallback-lr) is_positive "$2" || die "--fallback-lr wants a learning rate (a positive number), got '$2'"; fallback_lr=$2 ;;
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
[ -z "$fallback_lr" ] || [ -z "$fallback_ratio" ] || die "--fallback-lr and --fallback-ratio both set the fallback's rate: give one"

# Mode settings. The learning-rate grids are x3 steps around each optimizer's default
# (the trainer's -l defaults; SGD 1e-2 and SignSGD 1e-4 are the paper's). The CPU smoke
# test trains a 2-layer model for 30 steps, where larger rates are needed to move at all
# (a first sweep had its best rates at the top of a grid one x3 step lower). Validation
# every 5% of the steps, so "steps to target" resolves to 5% of the run.
case $mode in
    gpu)
        bin=${bin:-./train_gpt2cu}
        # -d B*T: train_gpt2cu's default total batch is llm.c's 524288 tokens (32 accumulation steps here)
        common=(-e d6 -b 16 -t 512 -d 8192 -x 200 -u 20 -q 0.1 -v 10 -m 4)
        declare -A grid=([sgd]="3e-3 1e-2 3e-2" [signsgd]="3e-5 1e-4 3e-4" [signum]="3e-5 1e-4 3e-4"
                         [muon]="1e-2 2e-2 4e-2" [adamw]="2e-4 6e-4 1.8e-3" [lion]="3e-5 1e-4 3e-4"
                         [fmuon]="2e-2 4e-2 8e-2" [smuon]="2e-2 4e-2 8e-2") ;;
    cpu)
        bin=${bin:-./train_gpt2cpu}
        common=(-e d2 -b 4 -t 64 -x 30 -u 3 -q 0.1 -v 2 -m 4)
        declare -A grid=([sgd]="3e-2 1e-1 3e-1" [signsgd]="1e-3 3e-3 1e-2" [signum]="1e-3 3e-3 1e-2"
                         [muon]="3e-2 1e-1 3e-1" [adamw]="3e-3 1e-2 3e-2" [lion]="1e-3 3e-3 1e-2"
                         [fmuon]="6e-2 2e-1 6e-1" [smuon]="6e-2 2e-1 6e-1") ;;
    paper)
        bin=${bin:-./train_gpt2cu}
        common=(-e d12 -b 64 -t 512 -d 262144 -x 10000 -u 1000 --warmup-shape cos --warmup-init 0.01 -q 1e-6
                -c 0.1 --wd-on hidden --grad-clip 1.0 -v 100 -m 20
                -i 'data/fineweb10B/fineweb_train_*.bin' -j 'data/fineweb10B/fineweb_val_*.bin')
        declare -A grid=([sgd]="3e-3 1e-2 3e-2" [signsgd]="3e-5 1e-4 3e-4" [signum]="3e-5 1e-4 3e-4"
                         [muon]="1e-2 2e-2 4e-2" [adamw]="2e-4 6e-4 1.8e-3" [lion]="3e-5 1e-4 3e-4"
                         [fmuon]="2e-2 4e-2 8e-2" [smuon]="2e-2 4e-2 8e-2") ;;
esac
# fmuon and smuon at alpha 0.5 take half of Muon's Newton-Schulz step (docs/fanions.md): their grids are
# muon's x2, about 1 / (1 - alpha), as the F-Muon authors raised the lr over Muon's (at d2 on the CPU
# the best came out 0.06 and 0.2 against muon's 0.1: the x2 centers the grid, it does not predict the best).
# muon's fallback (AdamW on embeddings, norms, biases) at the ratio of the two grids' centers
center() { local g=($1); echo "${g[$(( ${#g[@]} / 2 ))]}"; }
fallback_ratio=${fallback_ratio:-$(awk -v a="$(center "${grid[adamw]}")" -v m="$(center "${grid[muon]}")" 'BEGIN { printf "%g", a / m }')}
for o in "${!lr_override[@]}"; do grid[$o]=${lr_override[$o]}; done

# --grid / --grid-line: per optimizer, the values of each key (lr, wd, momentum, beta1, beta2).
declare -A uses=([sgd]="lr wd momentum" [signsgd]="lr wd" [signum]="lr wd momentum" [muon]="lr wd momentum"
                 [adamw]="lr wd beta1 beta2" [lion]="lr wd beta1 beta2" [fmuon]="lr wd momentum alpha"
                 [smuon]="lr wd momentum alpha sscale")
declare -A grid_values=() grid_set=()  # [optim.key]="v1 v2 ...", and which were set by OPTIM.KEY
grid_keys="lr wd momentum beta1 beta2 alpha sscale"
for line in "${grid_lines[@]}"; do
    [[ $line =~ ^(([a-z]+)\.)?([a-z0-9]+)=(.+)$ ]] || die "--grid: '$line' is not KEY=V1,V2,... or OPTIM.KEY=V1,V2,..."
    go=${BASH_REMATCH[2]} key=${BASH_REMATCH[3]} values=${BASH_REMATCH[4]}
    [[ " $grid_keys " == *" $key "* ]] || die "--grid: unknown key '$key' in '$line' (keys: $grid_keys)"
    [ -z "$go" ] || [[ " $all_optims " == *" $go "* ]] || die "--grid: unknown optimizer '$go' in '$line' ($all_optims)"
    [ -z "$go" ] || [[ " ${uses[$go]} " == *" $key "* ]] || die "--grid: $go does not use $key ('$line'; $go's keys: ${uses[$go]})"
    vals=()
    for v in ${values//,/ }; do
        is_number "$v" || die "--grid: '$v' in '$line' is not a number"
        [ "$key" != lr ] || is_positive "$v" || die "--grid: '$v' in '$line' is not a learning rate (a positive number)"
        [[ " ${vals[*]} " != *" $v "* ]] || die "--grid: '$v' appears twice in '$line'"
        vals+=("$v")
    done
    [ ${#vals[@]} -gt 0 ] || die "--grid: no values in '$line'"
    for o in ${go:-$all_optims}; do
        [[ " ${uses[$o]} " == *" $key "* ]] || continue
        # OPTIM.KEY wins over a bare KEY, whatever the order of the lines
        [ -n "$go" ] || [ -z "${grid_set[$o.$key]:-}" ] || continue
        grid_values[$o.$key]="${vals[*]}"
        [ -z "$go" ] || grid_set[$o.$key]=1
    done
done
# point_specs OPTIM: one line per grid point, 'lr=V[ wd=V][ momentum=V][ beta1=V][ beta2=V][ alpha=V][ sscale=V]', the cartesian
# product in key order (lr slowest); without --grid, one point per lr of the mode's grid.
point_specs() {
    local o=$1 specs=("") key v s next
    for key in $grid_keys; do
        local vals=${grid_values[$o.$key]:-}
        [ "$key" = lr ] && vals=${vals:-${grid[$o]}}
        [ -n "$vals" ] || continue
        next=()
        for s in "${specs[@]}"; do for v in $vals; do next+=("${s:+$s }$key=$v"); done; done
        specs=("${next[@]}")
    done
    printf '%s\n' "${specs[@]}"
}
if [ ${#grid_lines[@]} -gt 0 ]; then  # AlgoPerf's rule: every optimizer gets the same number of trials
    counts=""
    for o in $optims; do counts+="${counts:+, }$o $(point_specs "$o" | wc -l)"; done
    [ "$(for o in $optims; do point_specs "$o" | wc -l; done | sort -u | wc -l)" -eq 1 ] \
        || die "--grid gives the optimizers different numbers of trials ($counts): every optimizer needs the same number (give each key as many values per optimizer)"
fi
if [ -n "$steps" ]; then   # replace the mode's -x value, so each command has one -x
    for i in "${!common[@]}"; do [ "${common[$i]}" = -x ] && common[$((i + 1))]=$steps; done
fi
out=${out:-runs/compare_$mode}

# Per-optimizer flags: SGD is heavy-ball momentum 0.9 (stated, not left to the default);
# muon's (fmuon's, smuon's) fallback rate moves with its rate, or is --fallback-lr.
optim_flags() {
    case $1 in
        sgd) echo "--momentum 0.9 --nesterov 0" ;;
        muon|fmuon|smuon) echo "--fallback-lr ${fallback_lr:-$(awk -v l="$2" -v r="$fallback_ratio" 'BEGIN { printf "%g", l * r }')}" ;;
        *) echo "" ;;
    esac
}

# seed_pair REP: the init seed and the data seed of repetition REP (0-based) under --seed-mode.
seed_pair() {
    case $seed_mode in
        both) echo "$((seed + $1)) $((seed + $1))" ;;
        init) echo "$((seed + $1)) $seed" ;;
        data) echo "$seed $((seed + $1))" ;;
    esac
}
# run_command OPTIM SPEC [REP]: the command line of one run (printf %q words) and its directory.
# SPEC is a point_specs line ('lr=V wd=V ...'; a bare number is an lr). Without --seeds:
# OUT/<optim>_lr<lr>[_wd..]/ and --seed; with it, repetition REP's seeds and _s<seed>.
# --data-seed is written only where it differs from --seed, so a "both" run's command is the
# single-seed command of its seed.
run_command() {
    local o=$1 lr="" hflags=() dsuffix="" kv
    for kv in $2; do
        [[ $kv == *=* ]] || kv="lr=$kv"
        case ${kv%%=*} in
            lr) lr=${kv#*=} ;;
            wd) hflags+=(-c "${kv#*=}"); dsuffix+="_wd${kv#*=}" ;;
            momentum) hflags+=(--momentum "${kv#*=}"); dsuffix+="_mom${kv#*=}" ;;
            beta1) hflags+=(--beta1 "${kv#*=}"); dsuffix+="_b1${kv#*=}" ;;
            beta2) hflags+=(--beta2 "${kv#*=}"); dsuffix+="_b2${kv#*=}" ;;
            alpha) hflags+=(--fanion-alpha "${kv#*=}"); dsuffix+="_a${kv#*=}" ;;
            sscale) hflags+=(--smuon-sign-scale "${kv#*=}"); dsuffix+="_ss${kv#*=}" ;;
        esac
    done
    local dir="$out/${o}_lr$lr$dsuffix" oflags s=$seed ds=$seed
    if [ -n "$seeds" ]; then
        read -r s ds <<<"$(seed_pair "${3:-0}")"
        dir+="_s$s"; [ "$ds" = "$s" ] || dir+="_d$ds"
    fi
    local sflags=(--seed "$s"); [ "$ds" = "$s" ] || sflags+=(--data-seed "$ds")
    read -r -a oflags <<<"$(optim_flags "$o" "$lr")"
    local cmd=("$bin" "${common[@]}" "${sflags[@]}" --optim "$o" "${oflags[@]}" -l "$lr" "${hflags[@]}" "${extra[@]}" -o "$dir")
    local line; line=$(printf "%q " "${cmd[@]}")
    cmd_line=${line% } cmd_dir=$dir
}

# add_point OPTIM SPEC: queues the point's runs, one per seed (--seeds; one without it).
add_point() {
    local rep lr=$2
    [[ $lr == *lr=* ]] && { lr=${lr#*lr=}; lr=${lr%% *}; }
    for ((rep = 0; rep < ${seeds:-1}; rep++)); do
        run_command "$1" "$2" "$rep"
        commands+=("$cmd_line") run_dirs+=("$cmd_dir") run_optims+=("$1") run_lrs+=("$lr") run_specs+=("$2")
    done
}
# One command per run, in a fixed order: optimizers as given, learning rates as listed, seeds.
commands=() run_dirs=() run_optims=() run_lrs=() run_specs=()
for o in $optims; do
    while IFS= read -r spec; do add_point "$o" "$spec"; done < <(point_specs "$o")
done

if [ $dry_run -eq 1 ]; then
    printf '%s\n' "${commands[@]}"
    [ "$extend" -gt 0 ] && echo "# then each grid of 2+ rates whose best final val loss is on its edge: one more run x3 beyond that edge, the same command with that -l, at most $extend per optimizer (--extend)"
    printf '%q ' "$PYTHON" scripts/plot_runs.py "${run_dirs[@]}" -o "$out/compare.png" --summary "$out/summary.md" | sed 's/ $/\n/'
    exit 0
fi

# The GPU modes need a GPU: checked once, here, instead of failing every run the same way.
if [ "$mode" != cpu ] && ! nvidia-smi -L >/dev/null 2>&1; then
    die "mode '$mode' trains with train_gpt2cu and nvidia-smi finds no CUDA GPU here (--cpu sweeps with train_gpt2cpu)"
fi
[ -x "$bin" ] || die "trainer '$bin' not found or not executable (run make first)"
mkdir -p "$out" || die "cannot create '$out'"
failed=() done_dirs=() busy=()
source scripts/run_record.sh
# run_one I: runs commands[I] into run_dirs[I], or skips it when it finished earlier with the same
# command line and trainer binary (DIR/.finished, scripts/run_record.sh), or when another sweep on
# this host is running it now (DIR/.running holds that sweep's host and process id): two sweeps
# into one --out share the work instead of clobbering each other's runs.
run_one() {
    local i=$1 dir=${run_dirs[$1]} owner
    owner=$(cat "$dir/.running" 2>/dev/null)
    if [ -n "$owner" ] && [ "${owner% *}" = "$(hostname)" ] && [ "${owner#* }" != $$ ] && kill -0 "${owner#* }" 2>/dev/null; then
        echo "== busy $dir (another sweep, process ${owner#* }, is running it)"; busy+=("$dir"); return
    fi
    if [ $force -eq 0 ] && [ -f "$dir/.finished" ]; then
        local change; change=$(run_record_change "$dir" "${commands[$i]}" "$bin")
        if [ -z "$change" ]; then
            echo "== skip $dir (finished earlier with this command and binary; --force reruns it)"
            done_dirs+=("$dir"); return
        fi
        echo "note: rerunning $dir: $change"
    fi
    rm -rf "$dir"; mkdir -p "$dir"
    echo "$(hostname) $$" >"$dir/.running"
    echo "== run $((i + 1))/${#commands[@]}: ${commands[$i]}"
    local t0; t0=$(date +%s)
    # The command line was built with printf %q, so eval gives back the exact words.
    if eval "${commands[$i]}" >"$dir/stdout.txt" 2>&1; then
        rm -f "$dir/.running"
        run_record_write "$dir" "${commands[$i]}" "$bin" "$(( $(date +%s) - t0 ))"; done_dirs+=("$dir")
        [ $keep_models -eq 1 ] || rm -f "$dir"/model_*.bin "$dir"/state_*.bin
        tail -n 1 "$dir/stdout.txt" | sed 's/^/   /'
    else
        local rc=$?
        rm -f "$dir/.running"
        # The trainer's one-line reason, else its last line.
        local reason; reason=$(grep -m1 '^error:' "$dir/stdout.txt" || tail -n 1 "$dir/stdout.txt")
        echo "   FAILED (exit $rc): $reason"
        failed+=("$dir")
    fi
}
for i in "${!commands[@]}"; do run_one "$i"; done

# final_val DIR: the run's last val loss; "inf" when it has none (failed, diverged).
final_val() { local v; v=$(grep ' tel:' "$1/main.log" 2>/dev/null | tail -n 1 | sed 's/.*tel://'); echo "${v:-inf}"; }
# Extend each grid of 2+ rates whose best run is at its lowest or highest rate by one x3 step
# beyond it, until the best is inside or `extend` steps were added.
edge_notes=()
for o in $optims; do
    added=0
    while true; do
        rows=()   # lr TAB the point's other keys TAB final val loss, one per run
        for i in "${!run_optims[@]}"; do
            [ "${run_optims[$i]}" = "$o" ] || continue
            rest=$(echo " ${run_specs[$i]} " | sed -E 's/ lr=[^ ]+ / /; s/^ +//; s/ +$//; s/^[0-9.eE+-]+$//')
            rows+=("${run_lrs[$i]}	$rest	$(final_val "${run_dirs[$i]}")")
        done
        [ "$(printf '%s\n' "${rows[@]}" | cut -f1 | sort -u | wc -l)" -ge 2 ] || break
        # which: "low LR", "high LR" or "inside": where the best point's lr lies among this optimizer's
        # rates (ties go to the lower rate); a point's value is the mean of its seeds' (none when one of
        # them has none); best_rest: the best point's other keys, which an extension keeps
        which=$(printf '%s\n' "${rows[@]}" | awk -F'\t' '
            { k = ($1 + 0) SUBSEP $2; if (!(k in cnt)) { key[++m] = k; lr[m] = $1 + 0; rest[m] = $2 }
              cnt[k]++; if ($3 == "inf") bad[k] = 1; else sum[k] += $3 }
            END { lo = hi = best = 1
                  for (i = 1; i <= m; i++) { v[i] = (key[i] in bad ? 1e30 : sum[key[i]] / cnt[key[i]])
                                              if (lr[i] < lr[lo]) lo = i; if (lr[i] > lr[hi]) hi = i }
                  for (i = 1; i <= m; i++) if (v[i] < v[best] || (v[i] == v[best] && lr[i] < lr[best])) best = i
                  print (v[best] >= 1e30 ? "none" : lr[best] == lr[lo] ? "low " lr[best] : lr[best] == lr[hi] ? "high " lr[best] : "inside")
                  print rest[best] }')
        best_rest=$(echo "$which" | sed -n 2p); which=$(echo "$which" | head -n 1)
        case $which in inside|none) break ;; esac
        if [ $added -ge "$extend" ]; then
            [ "$extend" -gt 0 ] && edge_notes+=("$o: best lr ${which#* } is still on the ${which% *} edge after $added extension(s) (--extend)")
            [ "$extend" -eq 0 ] && edge_notes+=("$o: best lr ${which#* } is on the ${which% *} edge of its grid")
            break
        fi
        new=$(awk -v x="${which#* }" -v w="${which% *}" 'BEGIN { printf "%g", w == "low" ? x / 3 : x * 3 }')
        echo "== $o: best lr ${which#* } is on the ${which% *} edge of its grid: adding lr $new"
        first=${#commands[@]}
        add_point "$o" "lr=$new${best_rest:+ $best_rest}"
        for ((i = first; i < ${#commands[@]}; i++)); do run_one "$i"; done
        added=$((added + 1))
    done
done

if [ ${#done_dirs[@]} -gt 0 ]; then
    "$PYTHON" scripts/plot_runs.py "${done_dirs[@]}" -o "$out/compare.png" --summary "$out/summary.md" || failed+=("plot")
    for n in "${edge_notes[@]}"; do echo "note: $n" | tee -a "$out/summary.md"; done
fi
[ ${#busy[@]} -eq 0 ] || echo "note: ${#busy[@]} run(s) left to the sweep running them (not in this summary): ${busy[*]}"
if [ ${#failed[@]} -gt 0 ]; then
    echo "$prog: ${#failed[@]} failed: ${failed[*]}" >&2
    exit 1
fi
echo "picture: $out/compare.png  table: $out/summary.md"

#!/usr/bin/env bash
# CPU training speed, side by side in one invocation: this project's train_gpt2cpu, llm.c's
# train_gpt2.c (its own flags: -Ofast -march=native -fopenmp) and a plain PyTorch CPU GPT-2
# step (dev/torch_gpt2_peer.py --device cpu --no-compile), all AdamW, same model, B and T,
# interleaved round by round so a change in machine load hits all three alike. Prints per
# (model, T): ms/step (median over rounds of each run's mean timed step), tokens/s, GFLOP/s
# (flops per token 6N + 6*L*C*T, N = every parameter, as train_gpt2cu's MFU), the share of the
# machine's SGEMM ceiling (build/sgemm_peak, measured in the same run) and each peer's time
# over ours; then, from train_gpt2cpu --profile-kernels, the matmuls' share of our step and
# their own GFLOP/s against the ceiling. Also writes the tables to OUT/bench_cpu.md.
#
#   scripts/bench_cpu.sh [--llmc DIR] [--models "d2 d6 d12"] [--seqs "64 256"] [-b 4]
#                        [--steps 5] [--warmup 2] [--rounds 3] [--out DIR] [--no-llmc] [--no-torch]
#                        [--quick] [--dry-run]
#   --llmc DIR  an llm.c checkout (default build/llm.c): its train_gpt2.c is copied to OUT, given
#               this run's model file, shard, T and step count by sed, and built there. Without
#               it the llm.c column says "skipped" and why. Nothing of llm.c enters this repo.
#   --quick     d2, T=64, 1 round, 3 + 1 steps: a smoke run of the whole pipeline.
#   --dry-run   prints the commands instead of running them.
# Timings are only as good as the machine is quiet: the script prints `uptime` first and last.
set -uo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"

die() { echo "error: $*" >&2; exit 2; }
llmc=build/llm.c models="d2 d6 d12" seqs="64 256" B=4 steps=5 warmup=2 rounds=3 out=build/bench_cpu
use_llmc=1 use_torch=1 dry=0
PYTHON="${PYTHON:-/usr/bin/python3}"
SHARD="${SHARD:-data/tinyshakespeare/tiny_shakespeare_train.bin}"
positive() { [[ "$2" =~ ^[1-9][0-9]*$ ]] || die "$1 wants a positive integer, got '$2'"; }
while [ $# -gt 0 ]; do
    case "$1" in
        --llmc) [ $# -ge 2 ] || die "--llmc needs a directory"; llmc=$2; shift 2 ;;
        --models) [ $# -ge 2 ] || die "--models needs a list"; models=$2; shift 2 ;;
        --seqs) [ $# -ge 2 ] || die "--seqs needs a list"; seqs=$2; shift 2 ;;
        -b) [ $# -ge 2 ] || die "-b needs a value"; positive -b "$2"; B=$2; shift 2 ;;
        --steps) [ $# -ge 2 ] || die "--steps needs a value"; positive --steps "$2"; steps=$2; shift 2 ;;
        --warmup) [ $# -ge 2 ] || die "--warmup needs a value"; [[ "$2" =~ ^[0-9]+$ ]] || die "--warmup wants an integer >= 0, got '$2'"; warmup=$2; shift 2 ;;
        --rounds) [ $# -ge 2 ] || die "--rounds needs a value"; positive --rounds "$2"; rounds=$2; shift 2 ;;
        --out) [ $# -ge 2 ] || die "--out needs a directory"; out=$2; shift 2 ;;
        --no-llmc) use_llmc=0; shift ;;
        --no-torch) use_torch=0; shift ;;
        --quick) models=d2 seqs=64 rounds=1 steps=3 warmup=1; shift ;;
        --dry-run) dry=1; shift ;;
        -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown option '$1'" ;;
    esac
done
declare -A shape=([d2]="2 4 64" [d6]="6 6 384" [d12]="12 12 768" [d24]="24 16 1024")
[ -n "${models// /}" ] || die "--models is empty"
[ -n "${seqs// /}" ] || die "--seqs is empty"
for m in $models; do [ -n "${shape[$m]:-}" ] || die "unknown model '$m' (d2 d6 d12 d24)"; done
for t in $seqs; do [[ "$t" =~ ^[0-9]+$ ]] && [ "$t" -ge 1 ] && [ "$t" -le 1024 ] || die "--seqs wants integers in 1..1024, got '$t'"; done

llmc_reason=""
if [ "$use_llmc" -eq 0 ]; then llmc_reason="--no-llmc"
elif [ ! -f "$llmc/train_gpt2.c" ] || [ ! -d "$llmc/llmc" ]; then llmc_reason="no llm.c checkout at '$llmc' (give one with --llmc DIR)"; fi
torch_reason=""
if [ "$use_torch" -eq 0 ]; then torch_reason="--no-torch"
elif [ "$dry" -eq 0 ] && ! "$PYTHON" -c "import torch" 2>/dev/null; then torch_reason="no torch in $PYTHON"; fi

exec 3>&1 # --dry-run prints each command here, past any redirection of its output
run() { if [ "$dry" -eq 1 ]; then echo "$*" >&3; else "$@"; fi; }
total=$((warmup + steps))
echo "== bench_cpu: models $models, T $seqs, B=$B, $warmup warm-up + $steps timed steps, $rounds round(s); $(nproc) cores"
echo "== load before: $(uptime)"
[ -n "$llmc_reason" ] && echo "== llm.c peer skipped: $llmc_reason"
[ -n "$torch_reason" ] && echo "== PyTorch peer skipped: $torch_reason"
run make --no-print-directory train_gpt2cpu build/sgemm_peak >/dev/null || die "build failed (make train_gpt2cpu build/sgemm_peak)"
mkdir -p "$out"

# Mean ms of the timed steps (the last `steps`) from lines ending in "... X ms ...".
mean_ms_ours() { grep -E '^step +[0-9]+/' "$1" | tail -n "$steps" | awk -F'|' '{ split($5, a, " "); s += a[1]; n++ } END { if (n) printf "%.1f", s / n }'; }
mean_ms_llmc() { grep -E '^step [0-9]+: train loss' "$1" | tail -n "$steps" | sed -E 's/.*took ([0-9.]+) ms.*/\1/' | awk '{ s += $1; n++ } END { if (n) printf "%.1f", s / n }'; }
mean_ms_torch() { sed -nE 's/^peer .*ms_per_step=([0-9.]+).*/\1/p' "$1" | head -n 1; }
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ a[NR] = $1 } END { if (NR) print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) }'; }

# llm.c: its train_gpt2.c with this run's model file, shard, T and steps, validation and
# sampling off (they are outside its timed region anyway). Fails loudly if a pattern is gone.
build_llmc() { # MODEL T -> $out/llmc_MODEL_T/train_gpt2
    local m=$1 t=$2 dir="$out/llmc_$1_$2" model_file="$repo/$out/model_$1/model_00000001.bin"
    run mkdir -p "$dir"
    run cp -r "$llmc/llmc" "$llmc/train_gpt2.c" "$dir/"
    # pairs of literal text: what llm.c has, what this run needs
    local subs=("\"gpt2_124M.bin\"" "\"$model_file\"" "int T = 64;" "int T = $t;" "int B = 4;" "int B = $B;"
                "step <= 40;" "step <= $((total - 1));" "if (step % 10 == 0) {" "if (0) {"
                "if (step > 0 && step % 20 == 0) {" "if (0) {"
                "\"dev/data/tinyshakespeare/tiny_shakespeare_train.bin\"" "\"$repo/$SHARD\""
                "\"dev/data/tinyshakespeare/tiny_shakespeare_val.bin\"" "\"$repo/$SHARD\"")
    if [ "$dry" -eq 1 ]; then
        printf "substitute in $dir/train_gpt2.c: '%s' -> '%s'\n" "${subs[@]}" >&3
    else
        local src i
        src=$(cat "$dir/train_gpt2.c")
        for ((i = 0; i < ${#subs[@]}; i += 2)); do
            [[ "$src" == *"${subs[i]}"* ]] || { echo "llm.c's train_gpt2.c has changed: no '${subs[i]}' in it"; return 1; }
            src=${src//"${subs[i]}"/"${subs[i + 1]}"}
        done
        printf '%s\n' "$src" >"$dir/train_gpt2.c"
    fi
    run bash -c "cd '$dir' && gcc -Ofast -march=native -fopenmp -DOMP -Wno-unused-result train_gpt2.c -lm -lgomp -o train_gpt2"
}

peak=""
if [ "$dry" -eq 0 ]; then peak=$(build/sgemm_peak 2048 2 | sed -nE 's/.*gflops=([0-9.]+).*/\1/p'); fi
run build/sgemm_peak 2048 2 >/dev/null
declare -A ms params llmc_ok mm_share mm_gflops
for m in $models; do
    read -r L NH C <<<"${shape[$m]}"
    # the model file llm.c loads (llm.c's format, version 3): one step of ours writes it
    run rm -rf "$out/model_$m"
    run ./train_gpt2cpu -e "$m" -b "$B" -t 64 -x 1 -v 0 -i "$SHARD" -o "$out/model_$m" >"$out/model_$m.log" 2>&1
    [ "$dry" -eq 1 ] || params[$m]=$(sed -nE 's/^model .*, ([0-9]+) parameters$/\1/p' "$out/model_$m.log")
    for t in $seqs; do
        llmc_ok[$m/$t]=0
        if [ -z "$llmc_reason" ]; then
            if build_llmc "$m" "$t" >"$out/llmc_build_${m}_$t.log" 2>&1; then llmc_ok[$m/$t]=1
            else echo "== llm.c peer skipped at $m T=$t: build failed ($(tail -n 1 "$out/llmc_build_${m}_$t.log"))"; fi
        fi
    done
done

for r in $(seq 1 "$rounds"); do
    for m in $models; do
        read -r L NH C <<<"${shape[$m]}"
        for t in $seqs; do
            key="$m/$t" log="$out/r${r}_${m}_$t"
            run ./train_gpt2cpu -e "$m" -b "$B" -t "$t" -x "$total" -v 0 -i "$SHARD" --optim adamw --profile-kernels >"$log.ours" 2>&1
            if [ "$dry" -eq 0 ]; then
                ms[ours/$key]+=" $(mean_ms_ours "$log.ours")"
                # "profile: matmuls X ms of Y ms per step (P%), G GFLOP/s in the matmuls ..."
                mm_share[$key]+=" $(sed -nE 's/^profile: matmuls .*\(([0-9.]+)%\).*/\1/p' "$log.ours")"
                mm_gflops[$key]+=" $(sed -nE 's/^profile: .*, ([0-9.]+) GFLOP\/s in the matmuls.*/\1/p' "$log.ours")"
            fi
            if [ "${llmc_ok[$key]}" -eq 1 ]; then
                run bash -c "cd '$out/llmc_${m}_$t' && ./train_gpt2" >"$log.llmc" 2>&1
                [ "$dry" -eq 1 ] || ms[llmc/$key]+=" $(mean_ms_llmc "$log.llmc")"
            fi
            if [ -z "$torch_reason" ]; then
                run "$PYTHON" dev/torch_gpt2_peer.py --device cpu --no-compile -b "$B" -t "$t" --steps "$steps" --warmup "$warmup" \
                    --n-layer "$L" --n-head "$NH" --n-embd "$C" --shard "$SHARD" >"$log.torch" 2>&1
                [ "$dry" -eq 1 ] || ms[torch/$key]+=" $(mean_ms_torch "$log.torch")"
            fi
            [ "$dry" -eq 1 ] || echo "round $r $m T=$t: ours${ms[ours/$key]:-} | llm.c${ms[llmc/$key]:-} | torch${ms[torch/$key]:-} (ms)"
        done
    done
done
[ "$dry" -eq 1 ] && exit 0

{
    echo "SGEMM ceiling (OpenBLAS, 2048^3, all threads): ${peak:-?} GFLOP/s; B=$B; median of $rounds round(s) of $steps timed steps"
    echo
    echo "| model | T | run | ms/step | tokens/s | GFLOP/s | of SGEMM | time / ours |"
    echo "|---|---|---|---|---|---|---|---|"
    for m in $models; do
        read -r L NH C <<<"${shape[$m]}"
        for t in $seqs; do
            ours=$(echo "${ms[ours/$m/$t]:-}" | median)
            for impl in ours llmc torch; do
                name=$impl; [ $impl = ours ] && name=train_gpt2cpu; [ $impl = llmc ] && name="llm.c train_gpt2.c"; [ $impl = torch ] && name="PyTorch CPU"
                v=$(echo "${ms[$impl/$m/$t]:-}" | median)
                if [ -z "$v" ]; then
                    why="not run"; [ $impl = llmc ] && why="skipped: ${llmc_reason:-build or run failed}"; [ $impl = torch ] && why="skipped: ${torch_reason:-run failed}"
                    echo "| $m | $t | $name | $why | | | | |"; continue
                fi
                awk -v m="$m" -v t="$t" -v name="$name" -v ms="$v" -v ours="$ours" -v B="$B" -v N="${params[$m]:-0}" -v L="$L" -v C="$C" -v peak="${peak:-0}" 'BEGIN {
                    tps = B * t / (ms / 1000); gf = tps * (6 * N + 6 * L * C * t) / 1e9
                    share = peak > 0 ? sprintf("%.0f%%", 100 * gf / peak) : "?"
                    ratio = ours > 0 ? sprintf("%.2fx", ms / ours) : "?"
                    printf "| %s | %d | %s | %.1f | %.0f | %.1f | %s | %s |\n", m, t, name, ms, tps, gf, share, ratio }'
            done
        done
    done
    echo
    echo "train_gpt2cpu's matmuls (--profile-kernels: every layer and classifier product; attention's per-head products not counted):"
    echo
    echo "| model | T | matmul share of the step | matmul GFLOP/s | of SGEMM |"
    echo "|---|---|---|---|---|"
    for m in $models; do
        for t in $seqs; do
            sh=$(echo "${mm_share[$m/$t]:-}" | median) gf=$(echo "${mm_gflops[$m/$t]:-}" | median)
            [ -n "$gf" ] || { echo "| $m | $t | no profile line | | |"; continue; }
            awk -v m="$m" -v t="$t" -v sh="$sh" -v gf="$gf" -v peak="${peak:-0}" 'BEGIN {
                share = peak > 0 ? sprintf("%.0f%%", 100 * gf / peak) : "?"
                printf "| %s | %d | %.0f%% | %.1f | %s |\n", m, t, sh, gf, share }'
        done
    done
} | tee "$out/bench_cpu.md"
echo "== load after: $(uptime)"

#!/usr/bin/env bash
# gpu_check.sh: everything a session that is lent a GPU must learn, in ONE device call of at most
# 8 minutes (an H200 session has 15 minutes of device time in all, machine start and retries
# included). Steps in priority order, each under its own `timeout` and all under one time budget
# (default 450 s; a step that no longer fits is skipped, never left half-run):
#    1 env              nvidia-smi, nvcc, the python's torch
#    2 build            make the sm_90 binaries, or use prebuilt ones (--prebuilt DIR, make gpu-kit)
#    2b libs            ldd on each binary; a library not found (GPU boxes often have PyTorch's
#                       CUDA wheels and no CUDA toolkit): the wheels' nvidia/*/lib folders (from
#                       $PYTHON's `import nvidia`) join LD_LIBRARY_PATH for every later step; one
#                       still missing: this step SKIPs naming it, and the steps that need its
#                       binaries are skipped (no FAIL)
#    3 oracle           the PyTorch oracle's debug state (test/gpt2_oracle.py, d2 B=4 T=64)
#    4 cuda_vs_oracle   test_gpt2_cuda against it: logits, loss, every gradient, every optimizer
#    5 flash_model      test_flash_model: flash attention in the model vs cuBLAS attention and the CPU
#    6 dev_cuda         every dev/cuda check (kernels vs the CPU reference, then their timings)
#    6b nccl_pn1        d2, 5 steps: -pn 1 -pi fs through NCCL (train_gpt2cu_nccl, or train_gpt2cu
#                       itself when built with NCCL here) prints the same losses as one plain process
#    7 speed_adamw      train_gpt2cu d12, B=64, T=1024, no accumulation, no checkpoint: tok/s, MFU
#    8 speed_<optim>    the same for sgd, signsgd, signum, lion, muon (fewer steps)
#    9 optimizer_bench  build/dev/optimizers --bench: each optimizer's d12 step against its floor
#   10 torch_peer       dev/torch_gpt2_peer.py (torch.compile, fused AdamW) at the same B, T
#   11 ncu              Nsight Compute, --clock-control none, on a few kernels of one profile_gpt2 step
# Output: everything in OUT_DIR/gpu_check.log, the one-screen summary on stdout and in
# OUT_DIR/summary.txt, the ncu table in OUT_DIR/kernels.md: three small files (the device tool
# brings back at most ~8 files of 16 MiB; nothing large, no checkpoint, is written there).
# OUT_DIR: --out DIR, else $OUT (the device tool's), else runs/gpu_check.
#
# How to call it through the device tool (`run`), from a CPU machine:
#   1. make gpu-kit            # sm_90 binaries + oracle + scripts + Tiny Shakespeare into build/gpu_kit
#                              # (git-ignored, < 64 MiB; the symlinks into ../shared are resolved)
#   2. run(command="bash build/gpu_kit/scripts/gpu_check.sh", carry=["build/gpu_kit"], timeout_s=540)
#      The kit's copy finds its binaries (build/gpu_kit/bin) and data (build/gpu_kit/data) itself;
#      the 450 s budget leaves time for the call's start and the copy back inside timeout_s.
#   3. Read the summary in the reply (output_tail); the log comes back under files_at/gpu_check.log.
#   Without a kit: run(command="bash scripts/gpu_check.sh", timeout_s=590) builds on the device
#   first (the build step takes ~2-3 minutes of the budget; later steps may then be skipped).
#   Rerun one part: --only "cuda_vs_oracle dev_cuda" (step names as above; speed_* with speed).
#
# Options:
#   --prebuilt DIR   binaries from DIR (train_gpt2cu, test_gpt2_cuda, test_flash_model,
#                    profile_gpt2, dev/*) instead of building; default: bin/ next to scripts/ if any
#   --data DIR       Tiny Shakespeare shards (DIR/tinyshakespeare/*.bin); default DIR/../data of
#                    --prebuilt if present, else data/
#   --out DIR        where the log and summary go (see above)
#   --budget S       total seconds for all steps (default 450)
#   --only "A B"     run only these steps (env always runs)
#   --dev "A B"      only these dev/cuda checks (default: every binary in dev/)
#   --emulated       the CPU emulator's binaries (make emu; test/cuda_emu) with a tiny model: d2,
#                    B=1, T=32, 2 steps per optimizer; oracle d2 B=2 T=16 V=500 and the model test
#                    against it only (--oracle-only); peer on the CPU without compile; no
#                    optimizer_bench or ncu. `make test` runs it so (test/test_gpu_check.sh).
#   --dry-run        print the plan (steps, timeouts, commands) and run nothing
# Environment: PYTHON (default python3: the device's, with PyTorch 2.x), MAKE (default make).
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
caller=$(pwd)
die() { echo "error: $*" >&2; exit 2; }
abs() { case "$1" in /*) echo "$1" ;; *) echo "$caller/$1" ;; esac; } # paths from options: the caller's

PYTHON="${PYTHON:-python3}"
MAKE="${MAKE:-make}"
prebuilt="" data="" out="" budget=450 only="" dev_list="" emulated=0 dry=0
while [ $# -gt 0 ]; do
    case "$1" in
        --prebuilt) [ $# -ge 2 ] || die "--prebuilt needs a directory"; prebuilt=$(abs "$2"); shift 2 ;;
        --data) [ $# -ge 2 ] || die "--data needs a directory"; data=$(abs "$2"); shift 2 ;;
        --out) [ $# -ge 2 ] || die "--out needs a directory"; out=$(abs "$2"); shift 2 ;;
        --budget) [ $# -ge 2 ] || die "--budget needs seconds"; budget=$2; shift 2 ;;
        --only) [ $# -ge 2 ] || die "--only needs step names"; only=$2; shift 2 ;;
        --dev) [ $# -ge 2 ] || die "--dev needs check names"; dev_list=$2; shift 2 ;;
        --emulated) emulated=1; shift ;;
        --dry-run) dry=1; shift ;;
        -h|--help) sed -n '2,50p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown option '$1' (see --help)" ;;
    esac
done
cd "$root"
[[ "$budget" =~ ^[1-9][0-9]*$ ]] || die "--budget wants a positive number of seconds, got '$budget'"
steps_known="env build libs oracle cuda_vs_oracle flash_model dev_cuda nccl_pn1 speed optimizer_bench torch_peer ncu"
for s in $only; do
    [[ " $steps_known " == *" $s "* ]] || die "--only: unknown step '$s' (one of: $steps_known)"
done

# ---- the plan's parameters
optims_other="sgd signsgd signum lion muon"
if [ $emulated -eq 1 ]; then
    [ -n "$prebuilt" ] || prebuilt="$root/build/emu/bf16"
    model=d2 B=1 T=32 speed_steps=2 optim_steps=2 oracle_args="--model d2 --B 2 --T 16 --vocab 500 --threads 2"
    test_args=" --oracle-only" # the 10-step CPU comparisons run in make test's own emulated test
    peer_args="-b 1 -t 32 --steps 1 --warmup 1 --n-layer 2 --n-head 4 --n-embd 64 --device cpu --no-compile"
    emu_env="OMP_WAIT_POLICY=passive " warm=1
else
    [ -n "$prebuilt" ] || { [ -d "$root/bin" ] && prebuilt="$root/bin"; }
    model=d12 B=64 T=1024 speed_steps=20 optim_steps=8 oracle_args="--model d2 --B 4 --T 64 --threads 8" test_args=""
    peer_args="-b 64 -t 1024 --steps 10 --warmup 3"
    emu_env="" warm=3
fi
if [ -n "$prebuilt" ]; then
    [ -d "$prebuilt" ] || die "--prebuilt: '$prebuilt' is not a directory"
    bin=$(cd "$prebuilt" && pwd)
    trainer=$bin/train_gpt2cu test_cuda=$bin/test_gpt2_cuda test_flash=$bin/test_flash_model
    profiler=$bin/profile_gpt2 devdir=$bin/dev
    [ -z "$data" ] && [ -d "$bin/../data" ] && data="$bin/../data"
else
    trainer=./train_gpt2cu test_cuda=build/test_gpt2_cuda test_flash=build/test_flash_model
    profiler=./profile_gpt2 devdir=build/dev
fi
data=${data:-data}
shard="$data/tinyshakespeare/tiny_shakespeare_train.bin"
out=${out:-${OUT:-$root/runs/gpu_check}}
# large files (debug state, ncu report) go to a scratch directory, never under OUT
if [ $dry -eq 1 ]; then work='$WORK'; else work=$(mktemp -d "${TMPDIR:-/tmp}/gpu_check.XXXXXX"); trap 'rm -rf "$work"' EXIT; fi
state="$work/gpt2_debug_state.bin"
log="$out/gpu_check.log"

# The commands, in priority order: NAME TIMEOUT COMMAND.
plan=()
add() { plan+=("$1|$2|$3"); }
add env 20 "nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader 2>/dev/null || echo 'no GPU visible (nvidia-smi)'; cat $root/VERSION 2>/dev/null; nvcc --version 2>/dev/null | tail -n 1; $PYTHON -c 'import torch; print(\"torch\", torch.__version__, \"cuda\", torch.version.cuda, \"gpu\", torch.cuda.is_available())' || echo 'no torch for $PYTHON'"
if [ -n "$prebuilt" ]; then
    add build 10 "ls -l $trainer $test_cuda $test_flash $devdir; ls $profiler 2>/dev/null || echo 'no profile_gpt2 (the ncu step skips)'"
else
    add build 240 "$MAKE -j16 train_gpt2cu build/test_gpt2_cuda build/test_flash_model profile_gpt2 dev"
fi
add libs 30 "ldd on each binary; missing libraries: LD_LIBRARY_PATH += the PyTorch wheels' nvidia/*/lib from $PYTHON"
add oracle 120 "$PYTHON test/gpt2_oracle.py $oracle_args --out $state"
add cuda_vs_oracle 150 "${emu_env}$test_cuda $state$test_args"
add flash_model 90 "${emu_env}$test_flash"
add dev_cuda 150 "for c in \$(dev_checks); do echo \"== \$c\"; ${emu_env}timeout --foreground 60 $devdir/\$c || echo \"FAIL dev_cuda/\$c: exit \$?\"; done"
# NCCL with one rank against one plain process: the same "step N/M | loss" lines. The kit's
# NCCL trainer needs libnccl.so.2: from ldconfig, else the one PyTorch's wheel ships.
if [ $emulated -eq 0 ]; then
    nccl_trainer=$trainer; [ -n "$prebuilt" ] && [ -x "$bin/train_gpt2cu_nccl" ] && nccl_trainer=$bin/train_gpt2cu_nccl
    small="-e d2 -b 4 -t 64 -x 5 -v 0 -s 0 -i $shard --optim adamw"
    nccl_lib="\$($PYTHON -c 'import os, nvidia.nccl as n; print(os.path.join(list(n.__path__)[0], \"lib\"))' 2>/dev/null)"
    add nccl_pn1 60 "export LD_LIBRARY_PATH=$nccl_lib:\${LD_LIBRARY_PATH:-}; $trainer $small > $work/plain.txt && $nccl_trainer $small -pn 1 -pr 0 -pi fs -pf $work > $work/nccl.txt; rc=\$?; grep -i -m2 'nccl\|data parallel' $work/nccl.txt; grep '^step' $work/plain.txt | cut -d'|' -f1-2 > $work/a; grep '^step' $work/nccl.txt | cut -d'|' -f1-2 > $work/b; [ \$rc -eq 0 ] && [ -s $work/a ] && cmp -s $work/a $work/b && echo \"PASS nccl_pn1 same losses (\$(wc -l < $work/a) steps)\" || { echo \"FAIL nccl_pn1: exit \$rc\"; diff $work/a $work/b | head -4; tail -n 2 $work/nccl.txt; }"
fi
speed() { echo "${emu_env}$trainer -e $model -b $B -t $T -d $((B * T)) -x $2 -v 0 -s 0 -i $shard --optim $1"; }
add speed_adamw 100 "$(speed adamw $speed_steps)"
for o in $optims_other; do add "speed_$o" 45 "$(speed "$o" $optim_steps)"; done
if [ $emulated -eq 0 ]; then add optimizer_bench 90 "$devdir/optimizers --bench"; fi
add torch_peer 180 "$PYTHON dev/torch_gpt2_peer.py $peer_args --shard $shard"
if [ $emulated -eq 0 ]; then
    metrics=gpu__time_duration.sum,dram__bytes.sum,dram__throughput.avg.pct_of_peak_sustained_elapsed,sm__warps_active.avg.pct_of_peak_sustained_active,launch__registers_per_thread,launch__occupancy_limit_registers
    add ncu 120 "ncu --clock-control none --profile-from-start off --nvtx -k 'regex:flash|layernorm|classifier|encoder|adamw|gelu' -c 16 --metrics $metrics --export $work/step --force-overwrite $profiler -e d12 -b 16 -t 1024 --optim adamw && ncu --import $work/step.ncu-rep --csv --page raw --print-units base --print-kernel-base function > $work/kernels.csv && $PYTHON scripts/ncu_table.py $work/kernels.csv -o $out/kernels.md && cat $out/kernels.md"
fi

selected() { # step NAME is in --only (speed_* as speed); env and libs always
    [ -z "$only" ] || [ "$1" = env ] || [ "$1" = libs ] || [[ " $only " == *" $1 "* ]] || [[ "$1" == speed_* && " $only " == *" speed "* ]]
}

if [ $dry -eq 1 ]; then
    echo "gpu_check plan: budget $budget s; out $out; binaries ${prebuilt:-built here}; data $data$([ $emulated -eq 1 ] && echo '; emulated')"
    for p in "${plan[@]}"; do
        IFS='|' read -r name limit cmd <<<"$p"
        selected "$name" || continue
        [ "$name" = dev_cuda ] && cmd="for each dev/cuda check C ($([ -n "$dev_list" ] && echo "$dev_list" || echo "every binary in $devdir")): ${emu_env}timeout --foreground 60 $devdir/C"
        printf '%-16s %4ss  %s\n' "$name" "$limit" "$cmd"
    done
    exit 0
fi

dev_checks() {
    if [ -n "$dev_list" ]; then echo "$dev_list"; else for f in "$devdir"/*; do [ -x "$f" ] && basename "$f"; done; fi
}
export -f dev_checks 2>/dev/null
export dev_list devdir

mkdir -p "$out" || die "cannot create $out"
: >"$log"
start=$(date +%s)
names=() verdicts=() seconds=() results=()

# The libs step (in this shell: LD_LIBRARY_PATH must reach every later step): each binary's
# libraries that ldd does not find; where some are missing, the PyTorch wheels' nvidia/*/lib
# folders are added and ldd asked again. Sets lib_verdict, lib_result and unusable (the binaries
# still missing a library); dev checks among them leave dev_list.
unusable=()
missing_libs() { ldd "$1" 2>/dev/null | awk '/=> not found/ { print $1 }' | sort -u | tr '\n' ' '; }
check_libraries() {
    local bins=() b missing=() wheels added=0 still=() libs
    for b in "$trainer" "${nccl_trainer:-}" "$test_cuda" "$test_flash" "$profiler" "$devdir"/*; do
        [ -n "$b" ] && [ -f "$b" ] && [ -x "$b" ] && [[ " ${bins[*]} " != *" $b "* ]] && bins+=("$b")
    done
    for b in "${bins[@]}"; do [ -n "$(missing_libs "$b")" ] && missing+=("$b"); done
    if [ ${#missing[@]} -gt 0 ]; then
        wheels=$($PYTHON -c 'import glob, os, nvidia; print(":".join(sorted(d for p in nvidia.__path__ for d in glob.glob(os.path.join(p, "*", "lib")))))' 2>/dev/null)
        if [ -n "$wheels" ]; then
            export LD_LIBRARY_PATH="$wheels${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
            added=$(tr ':' '\n' <<<"$wheels" | wc -l)
            echo "added the PyTorch wheels' library folders to LD_LIBRARY_PATH: $wheels"
        else
            echo "no PyTorch CUDA wheels (nvidia/*/lib) for $PYTHON"
        fi
        for b in "${missing[@]}"; do
            libs=$(missing_libs "$b")
            echo "$b: ${libs:-every library found now}"
            [ -n "$libs" ] && still+=("$b")
        done
    fi
    echo "${#bins[@]} binaries checked with ldd"
    lib_verdict=ok lib_result="${#bins[@]} binaries, every library found"
    [ ${#missing[@]} -gt 0 ] && lib_result="$lib_result after adding $added PyTorch wheel lib folder(s)"
    if [ ${#still[@]} -gt 0 ]; then
        libs=$(for b in "${still[@]}"; do missing_libs "$b"; done | tr ' ' '\n' | sed '/^$/d' | sort -u | tr '\n' ' ')
        lib_verdict=SKIP lib_result="missing ${libs% } (needed by $(for b in "${still[@]}"; do basename "$b"; done | tr '\n' ' ' | sed 's/ $//')); their steps skipped"
        unusable=("${still[@]}")
        local keep=() c
        for c in $(dev_checks); do [[ " ${still[*]} " == *" $devdir/$c "* ]] || keep+=("$c"); done
        dev_list="${keep[*]}"
        [ ${#keep[@]} -eq 0 ] && unusable+=("$devdir/\$c") # no dev check left: the step is skipped
        export dev_list
    fi
}
# The unusable binary a step's command runs, if any.
needs_unusable() {
    local b
    for b in ${unusable[@]+"${unusable[@]}"}; do
        [[ "$1 " == *"$b "* ]] || continue
        [ "$b" = "$devdir/\$c" ] && echo "every dev check" || basename "$b"
        return 0
    done
    return 1
}

# PASS/FAIL counts of a test log, and its first FAIL line.
test_result() {
    local p f
    p=$(grep -c '^PASS ' "$1"); f=$(grep -c '^FAIL ' "$1")
    echo "$p PASS, $f FAIL$([ "$f" -gt 0 ] && echo ": $(grep -m1 '^FAIL ' "$1" | cut -c6-90)")"
}
# Mean tok/s, ms and MFU of a trainer log's steps after the first $warm (cuBLASLt plans,
# allocations and the first launches make them slow). Step line: step N/M | loss | lr | norm |
# ms | tok/s | MFU.
speed_result() {
    awk -F'|' -v warm="$warm" '/^step +[0-9]+\/[0-9]+ \| loss/ {
        split($1, a, /[ \/]+/); if (a[2] + 0 <= warm) next
        ms += $5 + 0; tok += $6 + 0; m = $7; gsub(/[^0-9.]/, "", m); if (m == "") na = 1; mfu += m; n++; loss = $2 }
        END { if (n == 0) { print "no step lines after the first " warm; exit 1 }
              gsub(/ *loss */, "", loss); gsub(/ +$/, "", loss)
              printf "%.0f tok/s, MFU %s, %.1f ms/step (mean of %d steps after %d), loss %s\n", tok / n,
                     na ? "n/a" : sprintf("%.1f%%", mfu / n), ms / n, n, warm, loss }' "$1"
}

for p in "${plan[@]}"; do
    IFS='|' read -r name limit cmd <<<"$p"
    selected "$name" || continue
    left=$(( budget - ($(date +%s) - start) ))
    if [ "$left" -lt 10 ]; then
        names+=("$name") verdicts+=("skipped") seconds+=(0) results+=("budget spent")
        echo "==== $name: skipped, budget spent" >>"$log"
        continue
    fi
    if blocked=$(needs_unusable "$cmd"); then
        names+=("$name") verdicts+=("skipped") seconds+=(0) results+=("$blocked lacks a library (see libs)")
        echo "==== $name: skipped, $blocked lacks a library" >>"$log"
        continue
    fi
    limit=$(( limit < left ? limit : left ))
    slog="$work/$name.log"
    if [ "$name" = libs ]; then
        { echo "==== libs"; check_libraries >"$slog" 2>&1; cat "$slog"; echo "==== libs: $lib_verdict"; } >>"$log"
        names+=("$name") verdicts+=("$lib_verdict") seconds+=(0) results+=("$lib_result")
        continue
    fi
    { echo "==== $name (timeout ${limit}s)"; echo "\$ $cmd"; } >>"$log"
    t0=$(date +%s)
    timeout -k 5 "$limit" bash -c "$cmd" >"$slog" 2>&1
    rc=$?
    dt=$(( $(date +%s) - t0 ))
    cat "$slog" >>"$log"
    echo "==== $name: exit $rc after ${dt}s" >>"$log"
    verdict=ok result=""
    case "$name" in
        env) result=$(head -n 1 "$slog" | cut -c1-100) ;;
        build) result=$([ -n "$prebuilt" ] && echo "prebuilt: $prebuilt" || echo "built here") ;;
        oracle) result="debug state: $oracle_args" ;;
        cuda_vs_oracle|flash_model|dev_cuda|nccl_pn1)
            result=$(test_result "$slog")
            grep -q '^FAIL ' "$slog" && verdict=FAIL
            [ "$name" = dev_cuda ] && result="$(grep -c '^== ' "$slog") checks: $result"
            grep -q '^SKIP ' "$slog" && ! grep -q '^PASS ' "$slog" && verdict=SKIP result=$(grep -m1 '^SKIP ' "$slog" | cut -c1-90) ;;
        speed_*) result=$(speed_result "$slog") || verdict=FAIL ;;
        optimizer_bench) result=$(grep -m1 '^| --optim adamw\|^| adamw' "$slog" | cut -c1-90); result=${result:-"table in the log"} ;;
        torch_peer)
            result=$(grep -m1 '^peer ' "$slog" | cut -c1-100) || verdict=FAIL
            ours=$(for i in "${!names[@]}"; do [ "${names[$i]}" = speed_adamw ] && echo "${results[$i]%% tok/s*}"; done)
            peer=$(sed -n 's/^peer tokens_per_s=\([0-9.]*\).*/\1/p' "$slog" | head -n 1)
            if [[ "$ours" =~ ^[0-9]+$ ]] && [ -n "$peer" ]; then
                result="$result; train_gpt2cu/peer $(awk -v a="$ours" -v b="$peer" 'BEGIN { printf "%.2fx", a / b }')"
            fi ;;
        ncu) result=$(grep -m1 -E '^\| [a-z_]' "$out/kernels.md" 2>/dev/null | cut -c1-90); result=${result:-"see the log"} ;;
    esac
    if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then verdict=TIMEOUT result="killed after ${limit}s; $result"
    elif [ $rc -ne 0 ] && [ "$verdict" != FAIL ]; then verdict=FAIL result="exit $rc: $(grep -v '^\s*$' "$slog" | tail -n 1 | cut -c1-80)"
    fi
    names+=("$name") verdicts+=("$verdict") seconds+=("$dt") results+=("$result")
done

total=$(( $(date +%s) - start ))
bad=$(printf '%s\n' "${verdicts[@]}" | grep -c -E '^(FAIL|TIMEOUT)$')
{
    echo "gpu_check $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '(no git)')$([ $emulated -eq 1 ] && echo ' EMULATED (CPU, test/cuda_emu): no GPU result'): $total s of a $budget s budget; log $log"
    printf '%-16s %-8s %5s  %s\n' step verdict s result
    for i in "${!names[@]}"; do
        printf '%-16s %-8s %5s  %s\n' "${names[$i]}" "${verdicts[$i]}" "${seconds[$i]}" "${results[$i]}"
    done
    echo "$bad step(s) failed or timed out$([ "$bad" -gt 0 ] && echo '; first FAIL lines:')"
    [ "$bad" -gt 0 ] && grep -m 8 -E '^FAIL |^error: ' "$log" | cut -c1-120 | sed 's/^/  /'
} | tee "$out/summary.txt"
cat "$out/summary.txt" >>"$log"
[ "$bad" -eq 0 ]

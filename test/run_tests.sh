#!/usr/bin/env bash
# `make test`: builds and runs every test. Each test prints verdict lines
#   PASS name ... | FAIL name: why | SKIP name: why
# and this script counts them into the closing line "N passed, N failed, N skipped".
# A test program that exits non-zero without a FAIL line counts as one failure, and so
# does a build that fails. GPU tests report SKIP when there is no CUDA device.
#
# Environment: PYTHON (default /usr/bin/python3: Debian's, with torch), SHARED_DATA
# (default ../shared/data, else the repo's data/; tests that need what is absent SKIP), MAKE.
#
# Schedule (2 cores; each test's wall and CPU seconds are printed): the builds (make -j2), then the
# tests in the order below in the foreground, with pairs started by run_bg and collected by the
# next wait_bg; the emulated model tests (run_bg --long, one core for about 90 s each) run beside
# the CPU section (bf16 from the oracle on, fp32 from its middle) and are collected at the end. A
# new test goes in the foreground where it belongs; a timing-sensitive one (deadlines, signals,
# SIGSTOP) must pass beside other CPU-heavy jobs too.
set -uo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
PYTHON="${PYTHON:-/usr/bin/python3}"
MAKE="${MAKE:-make}"
SHARED_DATA="${SHARED_DATA:-$repo/../shared/data}"
# Tiny Shakespeare and the tokenizer are committed under data/: without ../shared the
# tests that need only them still run (the FineWeb-Edu sample checks SKIP).
[ -f "$SHARED_DATA/tinyshakespeare/tiny_shakespeare_train.bin" ] || SHARED_DATA="$repo/data"
logs=build/test_logs
mkdir -p "$logs"
verdicts="$logs/verdicts.txt"
: >"$verdicts"

# record NAME LOG RC: keeps the verdict lines of LOG; a non-zero RC without a FAIL line
# becomes a FAIL that shows the end of the log.
record() {
    local name=$1 log=$2 rc=$3
    grep -E '^(PASS|FAIL|SKIP) ' "$log" | tee -a "$verdicts"
    if [ "$rc" -ne 0 ] && ! grep -qE '^FAIL ' "$log"; then
        echo "FAIL $name: exit code $rc" | tee -a "$verdicts"
        tail -n 15 "$log" | sed 's/^/    /'
    fi
}

# build TARGET...: one verdict per target, so a compile error is a counted failure.
# BUILD_PREFIX=emu/ build ... names the verdicts emu/compile/TARGET. All targets are first
# built together on BUILD_JOBS cores (-k: past failures); the per-target make then only
# records the verdict, and rebuilds a failed target alone to log its errors.
build() {
    local all="$logs/build_all_$(echo "$1" | tr '/' '_').log" t0=$SECONDS
    timed "$all" $MAKE -j"${BUILD_JOBS:-2}" -k --no-print-directory "$@"
    echo "   (build: $(( SECONDS - t0 )) s, $(cpu_seconds "$all") s CPU)"
    for target in "$@"; do
        local log="$logs/build_$(echo "$target" | tr '/' '_').log"
        if $MAKE --no-print-directory "$target" >"$log" 2>&1; then
            echo "PASS ${BUILD_PREFIX:-}compile/$target" | tee -a "$verdicts"
        else
            echo "FAIL ${BUILD_PREFIX:-}compile/$target: compile or link error" | tee -a "$verdicts"
            grep -m 10 -E 'error|Error' "$log" | sed 's/^/    /'
        fi
    done
}

# timed LOG COMMAND...: runs COMMAND into LOG and its CPU seconds (user+sys, children included)
# into LOG.cpu: wall seconds say little on a machine shared with other jobs. In a subshell: this
# shell's own children total would also count a background test that ends meanwhile.
timed() (
    log=$1; shift
    TIMEFORMAT='%U %S'
    { time "$@" >"$log" 2>&1; } 2>"$log.cpu"
)
cpu_seconds() { awk '{ printf "%.0f", $1 + $2 }' "$1.cpu" 2>/dev/null; }

# run NAME COMMAND...: runs a test and records its verdicts.
run() {
    local name=$1; shift
    local log="$logs/${name//\//_}.log"
    echo "== $name"
    local t0=$SECONDS rc
    timed "$log" "$@"; rc=$?
    echo "   ($name: $(( SECONDS - t0 )) s, $(cpu_seconds "$log") s CPU)"
    record "$name" "$log" $rc
}

# run_bg [--long] NAME COMMAND...: starts a test in the background; wait_bg records the verdicts
# of those started without --long (in start order), wait_bg --long of every one still running.
# --long: the emulated model tests, started in the CPU section and left to run beside it (one
# kernel thread each: the second core that the CPU tests, mostly one process at a time, leave idle).
bg_names=() bg_pids=() bg_long=()
run_bg() {
    local long=0; [ "$1" = --long ] && { long=1; shift; }
    local name=$1; shift
    local log="$logs/${name//\//_}.log"
    echo "== $name (in the background)"
    timed "$log" "$@" &
    bg_names+=("$name"); bg_pids+=($!); bg_long+=($long)
}
wait_bg() {
    local i rc all=0
    [ "${1:-}" = --long ] && all=1
    for i in "${!bg_pids[@]}"; do
        [ $all = 1 ] || [ "${bg_long[$i]}" = 0 ] || continue
        wait "${bg_pids[$i]}"; rc=$?
        local log="$logs/${bg_names[$i]//\//_}.log"
        echo "   (${bg_names[$i]}: ended at $(( $(date +%s) - start )) s of make test, $(cpu_seconds "$log") s CPU)"
        record "${bg_names[$i]}" "$log" $rc
        unset "bg_names[$i]" "bg_pids[$i]" "bg_long[$i]"
    done
}

start=$(date +%s)
# README.md and docs/*.md: every relative link and #anchor resolves, every page is in docs/README.md, the README is short
run docs_links "$PYTHON" test/test_docs_links.py
echo "== building (CPU)"
build train_gpt2cpu build/test_gradcheck build/noblas/test_gradcheck build/test_optim build/test_train_config build/test_cpu_vs_oracle build/test_noise_density \
    build/phi_scaling build/test_toy build/toy/toy_experiments build/test_tail_index build/test_hf_logits build/test_zero_order
echo "== building (CUDA: these must compile and link even without a GPU)"
build train_gpt2cu build/test_gpt2_cuda build/test_flash_model profile_gpt2 $(ls dev/cuda/*.cu 2>/dev/null | sed 's#dev/cuda/\(.*\)\.cu#build/dev/\1#')
echo "== building (CUDA under CPU emulation, test/cuda_emu: the same sources with g++)"
emu_start=$(date +%s)
BUILD_PREFIX=emu/ build build/emu/test_emulator build/emu/fp32/test_gpt2_cuda build/emu/bf16/test_gpt2_cuda \
    build/emu/bf16/train_gpt2cu build/emu/bf16/test_flash_model \
    $(ls dev/cuda/*.cu 2>/dev/null | sed 's#dev/cuda/\(.*\)\.cu#build/emu/bf16/dev/\1 build/emu/fp32/dev/\1#' | sed 's#build/emu/fp32/dev/sign_vote##; s#build/emu/fp32/dev/vote_comm##') build/emu/nccl/vote_comm
emu_seconds=$(( $(date +%s) - emu_start ))

# The PyTorch oracle writes the debug state and checks itself (autograd vs finite
# differences, file round trip, RNG); everything below compares against that state.
run oracle "$PYTHON" test/gpt2_oracle.py --selftest --out build/gpt2_debug_state.bin
# The longest test (the emulated bf16 model test, about 250 s of one core) starts here, beside the
# CPU section, and is recorded at the end with the rest of the emulated tests (see that section).
run_bg --long emu/cuda_vs_oracle_bf16 env OMP_WAIT_POLICY=passive build/emu/bf16/test_gpt2_cuda build/gpt2_debug_state.bin --skip-oracle-optim
run gradcheck build/test_gradcheck
# the same checks on a BLAS=0 build: the model on the reference loops
run gradcheck_noblas build/noblas/test_gradcheck
run optimizers build/test_optim
# --zo: MeZO's and JAGUAR's estimates against the backward pass's directional derivatives, their updates
run zero_order build/test_zero_order
run train_config build/test_train_config
# --warmup-shape cos: every step's lr against torch.optim.lr_scheduler.OneCycleLR (10,000 steps)
run warmup_onecycle "$PYTHON" test/test_warmup_onecycle.py build
# phi, mean density, tail index of the C++ accumulator vs numpy on synthetic samples, known answers
run noise_stats "$PYTHON" test/test_noise_stats.py build
# scripts/export_metrics.py: metrics.jsonl -> TensorBoard events, read back with TensorBoard's reader; --follow, bad input
run export_metrics "$PYTHON" test/test_export_metrics.py
# seeds' statistics (scripts/run_stats.py): t quantiles vs the integrated density, fixture runs' means, intervals, paired differences
run run_stats "$PYTHON" test/test_run_stats.py
# phi's panels in plot_runs.py (parts, the paper's EMA per window) and scripts/phi_scaling.sh on 2 x 2 cells of d2
run phi env OMP_WAIT_POLICY=passive bash test/test_phi.sh "$SHARED_DATA"
# the heavy-tail paper's tail index on synthetic alpha-stable samples, its slices and coordinates
run tail_index build/test_tail_index
run cpu_vs_oracle env OMP_WAIT_POLICY=passive build/test_cpu_vs_oracle build/gpt2_debug_state.bin
# --zo against the oracle's float64 zero-order step: 3 steps of each method, losses, estimates, sets, updates
run zo_oracle env OMP_WAIT_POLICY=passive "$PYTHON" test/zo_oracle.py
# Hugging Face export and import: transformers' logits against the CPU trainer's (build/test_hf_logits), the
# tokenizer files against data/gpt2_bpe.py, bit-identical round trips, bad input (offline; SKIP without transformers)
run hf "$PYTHON" test/test_hf.py build "$SHARED_DATA"
# The SignSGD paper's synthetic experiments (dev/toy/): the toy's rules against hand formulas and the
# alpha-stable sampler, then `make toy` at reduced size with facts of its results (about 6 s).
run toy build/test_toy
run toy_experiments bash test/test_toy.sh build
# Two CPU test scripts at a time (each often waits on python or a single-threaded step), with
# passive OpenMP waiting so the two trainers' threads do not spin against each other.
# Logs, checkpoints, resume, non-finite steps and the noise density (runs build/test_noise_density).
run_bg checkpoint_resume env OMP_WAIT_POLICY=passive bash test/test_checkpoint_resume.sh "$SHARED_DATA"
run data env OMP_WAIT_POLICY=passive bash test/test_data.sh build "$SHARED_DATA"
# --optim-group: all groups on one rule = the plain run, muon's fallback as groups, update norms, resume (CPU trainer)
run optim_groups env OMP_WAIT_POLICY=passive bash test/test_optim_groups.sh "$SHARED_DATA"
# ncu table from a CSV fixture, profile/benchmark commands, the PyTorch peer on the CPU,
# train_gpt2cu --profile-kernels and --attention under the CUDA emulator.
run speed_tools env OMP_WAIT_POLICY=passive bash test/test_speed_tools.sh "$SHARED_DATA"
wait_bg
# The emulated fp32 model test (about 90 s of one core, as the bf16 one) from here, when the bf16 one is about done.
run_bg --long emu/cuda_vs_oracle_fp32 env OMP_WAIT_POLICY=passive build/emu/fp32/test_gpt2_cuda build/gpt2_debug_state.bin --skip-oracle-optim
run_bg trainer_cli env OMP_WAIT_POLICY=passive bash test/test_trainer_cli.sh "$SHARED_DATA"
# --zo end to end: bad values, loss falls from a model file, byte-identical resume, 2 ranks = 1 process
run_bg zero_order_cli bash test/test_zero_order.sh "$SHARED_DATA"
run scripts env OMP_WAIT_POLICY=passive bash test/test_scripts.sh "$SHARED_DATA"
wait_bg
# First runs and bad inputs: output directory, shard token ids, directories for files, stdout order, build revision.
run reliability bash test/test_reliability.sh "$SHARED_DATA"
# Log writes: a failed write (injected, /dev/full, a full tmpfs) is one line and exit 1 with whole records; -y 1 cuts torn lines.
run log_writes bash test/test_log_writes.sh "$SHARED_DATA"
# Data parallelism under mpirun (SKIP without it): 2 and 3 ranks equal one process, ZeRO-1,
# the majority vote, resume with 2 ranks, a failing rank ends the job with one line.
# (in the background beside the next two: its ranks run one thread each and wait on each other)
run_bg distributed bash test/test_distributed.sh "$SHARED_DATA"
# HellaSwag dealt over the ranks: mpirun -np 2 and 3 of train_gpt2cpu, -np 2 of the emulated train_gpt2cu, the same line as one process
run hellaswag_ranks bash test/test_hellaswag_ranks.sh
# Slurm: the sbatch templates (bash -n, dry runs with a fake job), SLURM_* ranks in train_gpt2cpu, mpirun beside SLURM_*
run slurm bash test/test_slurm.sh "$SHARED_DATA"
wait_bg
# Stops and restarts: SIGTERM / SIGUSR1 stop with a checkpoint (exit 75), the DONE marker and llm.c's restart
# loop, a signal to one rank, a dead rank and a hung one under mpirun (train_gpt2cu: below)
run preemption bash test/test_preemption.sh "$SHARED_DATA" ./train_gpt2cpu stop/
# --tail-index-*: bad values, numpy on the dumped single-sequence gradients, the emulated train_gpt2cu vs the CPU's.
run tail_index_runs env OMP_WAIT_POLICY=passive bash test/test_tail_index.sh "$SHARED_DATA"

echo "== GPU tests (SKIP without a CUDA device)"
run cuda_vs_oracle build/test_gpt2_cuda build/gpt2_debug_state.bin
# flash attention in the model vs the cuBLAS attention and the CPU model (head size 64)
run flash_model build/test_flash_model
# checkpoint_resume's checks on train_gpt2cu: on a GPU, else emulated (emu/...), else SKIP.
run_bg checkpoint_resume_cuda bash test/test_checkpoint_resume_cuda.sh "$SHARED_DATA"
# the same failures on real NCCL (SKIP with fewer than 2 GPUs)
if nvidia-smi -L >/dev/null 2>&1 && [ -x ./train_gpt2cu ]; then
    run comm_faults_cuda bash test/test_comm_faults_cuda.sh "$SHARED_DATA" ./train_gpt2cu cuda/comm/
fi
for bin in build/dev/*; do
    [ -x "$bin" ] && run "dev_cuda_$(basename "$bin")" "$bin"
done

# CUDA under CPU emulation: every verdict is named emu/...: passed under emulation, never a
# GPU result. Passive OpenMP waiting: spinning threads starve the single-threaded kernels.
echo "== CUDA under CPU emulation"
emu_start=$(date +%s)
run emu/self_test build/emu/test_emulator
# Under emulation, for make test's time: the forward/backward against the oracle and every
# optimizer for 10 steps against the CPU reference, in both precisions, but not the 3-step
# optimizer runs against the oracle at the full vocabulary (2+ minutes each): those run on a
# GPU, and emulated at a small vocabulary in emu/gpu_check; test_cpu_vs_oracle ties the CPU
# reference to the oracle. (Both started in the CPU section, above.)
# log_writes on train_gpt2cu (on a GPU, else emulated, about 45 s): failed log writes, their resume, torn lines, stdout, a
# full tmpfs; in the foreground beside checkpoint_resume_cuda.
run log_writes_cuda env OMP_WAIT_POLICY=passive bash test/test_log_writes.sh "$SHARED_DATA" cuda
wait_bg  # checkpoint_resume_cuda
# failures without mpirun: 2 ranks as separate processes under -pi fs and -pi tcp (the stand-in's
# TCP star): a lost rank, a non-finite step, the init deadline, a slow rank 0 vs a hung
# collective, a stale id file (each launch with a deadline). In the background: it mostly waits
# out its deadlines and sleeps (make test's time); its own ports and folders.
run_bg emu/comm_faults bash test/test_comm_faults_cuda.sh "$SHARED_DATA"
# scripts/gpu_check.sh, the one device call of a GPU session: its plan, make gpu-kit, its
# machinery on stand-ins, and end to end from the kit on the emulated binaries (tiny model).
# In the background beside the foreground rest of this section (about 40 s of CPU against 100+;
# its step deadlines are minutes for seconds of work).
run_bg emu/gpu_check bash test/test_gpu_check.sh "$SHARED_DATA"
run emu/flash_model env OMP_WAIT_POLICY=passive build/emu/bf16/test_flash_model
# Both precisions: the fp32 build's 1e-5 tolerance catches what bf16's 2e-2 lets through
# (a GELU constant 0.79 instead of 0.7979 passes in bf16 and fails in fp32).
for src in dev/cuda/*.cu; do
    name=$(basename "$src" .cu)
    for precision in bf16 fp32; do
        # sign_vote and vote_comm are integer logic (pack, count, update): one precision is enough (make test's time)
        [ "$name/$precision" = sign_vote/fp32 ] || [ "$name/$precision" = vote_comm/fp32 ] && continue
        run "emu/dev_cuda_${name}_$precision" env OMP_WAIT_POLICY=passive "build/emu/$precision/dev/$name"
    done
done
# train_gpt2cu's data parallelism: mpirun -np 2 of the emulated trainer (NCCL stand-in over MPI)
# against one process; launch errors (SKIP of the mpirun runs without mpirun)
run emu/data_parallel bash test/test_data_parallel_cuda.sh "$SHARED_DATA"
# test/test_preemption.sh's checks on train_gpt2cu: on a GPU, else emulated
if nvidia-smi -L >/dev/null 2>&1 && [ -x ./train_gpt2cu ]; then
    run preemption_cuda bash test/test_preemption.sh "$SHARED_DATA" ./train_gpt2cu cuda/stop/
else
    run emu/preemption bash test/test_preemption.sh "$SHARED_DATA" build/emu/bf16/train_gpt2cu emu/cuda/stop/
fi
wait_bg --long  # comm_faults, gpu_check and the two model tests
echo "== CUDA under CPU emulation: $(( emu_seconds + $(date +%s) - emu_start )) s (builds and runs)"

# a background test never collected by wait_bg would lose its verdicts without a word
[ ${#bg_pids[@]} -eq 0 ] || echo "FAIL run_tests/uncollected: ${bg_names[*]} started by run_bg, never waited for" | tee -a "$verdicts"
passed=$(grep -c '^PASS ' "$verdicts")
failed=$(grep -c '^FAIL ' "$verdicts")
skipped=$(grep -c '^SKIP ' "$verdicts")
# the children's user and sys time (bash's times, second line): all of make test's CPU seconds
# (into a file: in $(...) it would be a subshell's, which has no children)
times >"$logs/times.txt"
cpu_total=$(awk 'NR == 2 { split($1, u, "m"); split($2, s, "m"); printf "%.0f", u[1] * 60 + u[2] + s[1] * 60 + s[2] }' "$logs/times.txt")
echo "== $(( $(date +%s) - start )) s, $cpu_total s CPU; failures:"
grep '^FAIL ' "$verdicts" | sed 's/^/  /'
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]

#!/usr/bin/env bash
# `make test`: builds and runs every test. Each test prints verdict lines
#   PASS name ... | FAIL name: why | SKIP name: why
# and this script counts them into the closing line "N passed, N failed, N skipped".
# A test program that exits non-zero without a FAIL line counts as one failure, and so
# does a build that fails. GPU tests report SKIP when there is no CUDA device.
#
# Environment: PYTHON (default /usr/bin/python3: Debian's, with torch), SHARED_DATA
# (default ../shared/data; tests that need it SKIP when absent), MAKE.
set -uo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
PYTHON="${PYTHON:-/usr/bin/python3}"
MAKE="${MAKE:-make}"
SHARED_DATA="${SHARED_DATA:-$repo/../shared/data}"
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
build() {
    for target in "$@"; do
        local log="$logs/build_$(echo "$target" | tr '/' '_').log"
        if $MAKE --no-print-directory "$target" >"$log" 2>&1; then
            echo "PASS compile/$target" | tee -a "$verdicts"
        else
            echo "FAIL compile/$target: compile or link error" | tee -a "$verdicts"
            grep -m 10 -E 'error|Error' "$log" | sed 's/^/    /'
        fi
    done
}

# run NAME COMMAND...: runs a test and records its verdicts.
run() {
    local name=$1; shift
    local log="$logs/$name.log"
    echo "== $name"
    "$@" >"$log" 2>&1
    record "$name" "$log" $?
}

start=$(date +%s)
echo "== building (CPU)"
build train_gpt2cpu build/test_gradcheck build/test_optim build/test_cpu_vs_oracle build/test_noise_density
echo "== building (CUDA: these must compile and link even without a GPU)"
build train_gpt2cu build/test_gpt2_cuda $(ls dev/cuda/*.cu 2>/dev/null | sed 's#dev/cuda/\(.*\)\.cu#build/dev/\1#')

# The PyTorch oracle writes the debug state and checks itself (autograd vs finite
# differences, file round trip, RNG); everything below compares against that state.
run oracle "$PYTHON" test/gpt2_oracle.py --selftest --out build/gpt2_debug_state.bin
run gradcheck build/test_gradcheck
run optimizers build/test_optim
run cpu_vs_oracle build/test_cpu_vs_oracle build/gpt2_debug_state.bin
run data bash test/test_data.sh build "$SHARED_DATA"
run trainer_cli bash test/test_trainer_cli.sh "$SHARED_DATA"
run scripts bash test/test_scripts.sh "$SHARED_DATA"
# Logs, checkpoints, resume, non-finite steps and the noise density (runs build/test_noise_density).
run checkpoint_resume bash test/test_checkpoint_resume.sh "$SHARED_DATA"

echo "== GPU tests (SKIP without a CUDA device)"
run cuda_vs_oracle build/test_gpt2_cuda build/gpt2_debug_state.bin
for bin in build/dev/*; do
    [ -x "$bin" ] && run "dev_cuda_$(basename "$bin")" "$bin"
done

passed=$(grep -c '^PASS ' "$verdicts")
failed=$(grep -c '^FAIL ' "$verdicts")
skipped=$(grep -c '^SKIP ' "$verdicts")
echo "== $(( $(date +%s) - start )) s; failures:"
grep '^FAIL ' "$verdicts" | sed 's/^/  /'
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]

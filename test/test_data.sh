#!/usr/bin/env bash
# Builds and runs every data test: synthetic shards (test/make_test_shards.py), the C++
# loader/tokenizer test, the Python script tests and the built-in GPT-2 encoder test
# (test/test_gpt2_bpe.py). Prints PASS/FAIL/SKIP lines (and the compiler's or a crashed
# test's output when something breaks); exits 1 on any failure.
#
#   test/test_data.sh BUILD_DIR [SHARED_DATA_DIR]      (SHARED_DATA_DIR may be absent: SKIPs)
set -uo pipefail
if [ $# -lt 1 ] || [ $# -gt 2 ]; then echo "usage: $0 BUILD_DIR [SHARED_DATA_DIR]" >&2; exit 2; fi
repo="$(cd "$(dirname "$0")/.." && pwd)"
build="$1/data_tests"
shared="${2:-}"
python=/usr/bin/python3
CXX="${CXX:-g++}"
status=0
mkdir -p "$build"

# Runs a test, showing only its verdict lines; anything else only when it failed.
run_test() {
    local log="$build/$1.log"; shift
    "$@" >"$log" 2>&1
    local rc=$?
    grep -E '^(PASS|FAIL|SKIP) ' "$log"
    if [ $rc -ne 0 ]; then
        if ! grep -qE '^FAIL ' "$log"; then echo "FAIL $(basename "$log" .log): exit code $rc"; grep -vE '^(PASS|SKIP) ' "$log" | tail -20; fi
        status=1
    fi
}

rm -rf "$build/shards"
if ! $python "$repo/test/make_test_shards.py" "$build/shards" >"$build/make_test_shards.log" 2>&1; then
    echo "FAIL make_test_shards: could not write the synthetic shards"; tail -20 "$build/make_test_shards.log"; exit 1
fi

if $CXX -std=c++17 -O2 -fopenmp -Wall -pthread "$repo/test/test_dataloader.cpp" -o "$build/test_dataloader" >"$build/build.log" 2>&1; then
    run_test test_dataloader "$build/test_dataloader" "$build/shards" "$shared"
else
    echo "FAIL build_test_dataloader: compiler errors:"; head -40 "$build/build.log"; status=1
fi

run_test test_data_scripts $python "$repo/test/test_data_scripts.py" "$shared"
run_test test_gpt2_bpe $python "$repo/test/test_gpt2_bpe.py" "$shared"
exit $status

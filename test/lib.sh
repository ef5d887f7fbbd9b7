# Shared by the shell tests (source it): verdict lines in the format test/run_tests.sh counts.
failures=0
pass() { echo "PASS $1${2:+ $2}"; }
# a FAIL is one line: a multi-line why (a program's output) is folded with " | "
fail() { local why=${2//$'\n'/ | }; echo "FAIL $1: $why"; failures=$((failures + 1)); }

# expect_one_line_error NAME PATTERN ABSENT COMMAND...: COMMAND must exit 2 with exactly one
# stderr line matching the extended regex PATTERN, and, when ABSENT is not empty, must not
# have created the path ABSENT. Uses $work for its output files.
expect_one_line_error() {
    local name=$1 pattern=$2 absent=$3; shift 3
    local err="$work/$(echo "$name" | tr '/' '_').err"
    "$@" >/dev/null 2>"$err"
    local rc=$? lines
    lines=$(wc -l <"$err")
    if [ $rc -eq 2 ] && [ "$lines" -eq 1 ] && grep -qiE -- "$pattern" "$err" && { [ -z "$absent" ] || [ ! -e "$absent" ]; }; then
        pass "$name" "($(cat "$err"))"
    else
        fail "$name" "exit $rc, $lines stderr line(s)${absent:+, created $absent: $([ -e "$absent" ] && echo yes || echo no)}: $(head -c 300 "$err")"
    fi
}

# The trainer tests' arguments [DATA_DIR [TRAINER [NAME_PREFIX]]]: trainer_test_args "$@" sets
# shared (default ../shared/data), bin (./train_gpt2cpu), prefix (for prefix_verdicts) and
# train, val: the Tiny Shakespeare shards under shared (test_tiny_shakespeare: both there).
trainer_test_args() {
    shared="${1:-../shared/data}" bin="${2:-./train_gpt2cpu}" prefix="${3:-}"
    train="$shared/tinyshakespeare/tiny_shakespeare_train.bin" val="$shared/tinyshakespeare/tiny_shakespeare_val.bin"
}
test_tiny_shakespeare() { [ -f "$train" ] && [ -f "$val" ]; }
# { ...tests... } 2>&1 | prefix_verdicts: NAME_PREFIX ("cuda/", "emu/cuda/") before every verdict name.
prefix_verdicts() { sed -E "s#^(PASS|FAIL|SKIP) #\1 ${prefix}#"; }

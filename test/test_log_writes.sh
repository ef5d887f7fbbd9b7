#!/usr/bin/env bash
# main.log and metrics.jsonl never silently lose records (issue 23, finding 1): a failed log
# write ends the run with one line and exit 1, the logs end at their last complete record, the
# checkpoint already written stays intact and -y 1 continues to the uninterrupted run's losses;
# a resume cuts a torn line (a crash mid-write) with one note line; a failed write to stdout is
# an error too. Failures come from GPT2_TEST_FAIL_LOG_WRITE=N (common/run_log.h), from
# /dev/full, and from a real full tmpfs (mounted here when root may, else SKIP).
#   test/test_log_writes.sh [DATA_DIR [TRAINER [NAME_PREFIX]]]
# TRAINER "cuda": ./train_gpt2cu on a GPU (cuda/...), else the emulated build/emu/bf16/train_gpt2cu
# (emu/cuda/..., about 80 s; LOG_WRITES_QUICK=1: two one-step runs, the first main.log line failing
# half-way and stdout on /dev/full), else one SKIP line.
set -uo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
data="${1:-data}"
bin="${2:-./train_gpt2cpu}"
prefix="${3:-}"
quick=0
if [ "$bin" = cuda ]; then
    if nvidia-smi -L >/dev/null 2>&1 && [ -x ./train_gpt2cu ]; then bin=./train_gpt2cu prefix=cuda/
    elif [ -x build/emu/bf16/train_gpt2cu ]; then bin=build/emu/bf16/train_gpt2cu prefix=emu/cuda/ quick=${LOG_WRITES_QUICK:-0}
    else echo "SKIP cuda/log_writes: no CUDA GPU and no build/emu/bf16/train_gpt2cu"; exit 0
    fi
fi
PYTHON="${PYTHON:-/usr/bin/python3}"
work=$(mktemp -d)
mounted=""
cleanup() { [ -n "$mounted" ] && umount "$mounted" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
source test/lib.sh

train="$data/tinyshakespeare/tiny_shakespeare_train.bin"
val="$data/tinyshakespeare/tiny_shakespeare_val.bin"
if [ ! -f "$train" ] || [ ! -f "$val" ]; then
    echo "SKIP ${prefix}log_writes: no Tiny Shakespeare shards in $data"
    exit 0
fi
T=("$bin" -i "$train" -j "$val" -e d2 -b 2 -t 32 -d 64 -s 0 -v 0)  # -d: train_gpt2cu defaults to 524288 tokens
if [ $quick -eq 1 ]; then
    {
    # write 2 is main.log's first line (write 1: the config record)
    GPT2_TEST_FAIL_LOG_WRITE=2 "$bin" -i "$train" -j "$val" -e d2 -b 1 -t 16 -d 16 -s 0 -v 0 -x 1 -o "$work/fail" >/dev/null 2>"$work/fail.err"
    rc=$?
    [ $rc -eq 1 ] && [ "$(wc -l <"$work/fail.err")" -eq 1 ] && grep -q "cannot write '.*/main.log' (No space left on device)" "$work/fail.err" \
        && [ ! -s "$work/fail/main.log" ] && [ "$(grep -c '^{"type":"config".*}$' "$work/fail/metrics.jsonl")" -eq 1 ] \
        && [ "$(wc -l <"$work/fail/metrics.jsonl")" -eq 1 ] \
        && pass log_writes/failed_write_main.log_exit_1_logs_whole "($(cat "$work/fail.err"))" \
        || fail log_writes/failed_write_main.log_exit_1_logs_whole "exit $rc, stderr '$(head -c 300 "$work/fail.err")', main.log $(wc -c <"$work/fail/main.log") bytes"
    "$bin" -i "$train" -j "$val" -e d2 -b 1 -t 16 -d 16 -s 0 -v 0 -x 1 >/dev/full 2>"$work/console.err"
    rc=$?
    [ $rc -eq 1 ] && [ "$(wc -l <"$work/console.err")" -eq 1 ] && grep -q '^error: cannot write to standard output' "$work/console.err" \
        && pass log_writes/console_write_fails "($(cat "$work/console.err"))" \
        || fail log_writes/console_write_fails "exit $rc: $(head -c 300 "$work/console.err")"
    } 2>&1 | sed -E "s#^(PASS|FAIL|SKIP) #\1 ${prefix}#"
    exit 0
fi
x=6   # steps of the runs that fail and resume

# complete_logs DIR: "ok", or what is wrong: every line of both logs ends with a newline and is a
# whole record (main.log: s:STEP and its kind's fields; metrics.jsonl: a JSON object), each
# train step at most once, in order, the same in both.
complete_logs() {
    "$PYTHON" - "$1" <<'EOF'
import json, re, sys
d = sys.argv[1]
fields = {"trl": "trl lr norm tps", "tel": "tel", "phi": "phi md alpha", "tail": "tail coord", "skip": "skip", "eval": "eval"}
try:
    main = open(d + "/main.log", "rb").read().decode()
    metrics = open(d + "/metrics.jsonl", "rb").read().decode()
except Exception as e:
    sys.exit(print(f"unreadable: {e}"))
for name, text in (("main.log", main), ("metrics.jsonl", metrics)):
    if text and not text.endswith("\n"):
        sys.exit(print(f"{name} ends without a newline: {text[-60:]!r}"))
steps = []
for line in main.splitlines():
    m = re.fullmatch(r"s:(\d+) ((?:\w+:\S+ ?)+)", line)
    keys = [p.split(":")[0] for p in m.group(2).split()] if m else []
    if not m or keys[0] not in fields or keys != fields[keys[0]].split():
        sys.exit(print(f"main.log line not a whole record: {line!r}"))
    if keys[0] == "trl": steps.append(int(m.group(1)))
train = []
for line in metrics.splitlines():
    try: r = json.loads(line)
    except ValueError: sys.exit(print(f"metrics.jsonl line not JSON: {line[:80]!r}"))
    if r.get("type") == "train": train.append(r["step"])
# a failed metrics.jsonl write leaves main.log one record ahead, never behind
if steps != sorted(set(steps)) or train != steps[:len(train)] or len(steps) - len(train) > 1:
    sys.exit(print(f"train steps main.log {steps}, metrics.jsonl {train}"))
print("ok")
EOF
}
# losses DIR: main.log's "s:STEP trl:LOSS" pairs (what two runs of the same steps share)
losses() { grep -o '^s:[0-9]* trl:[^ ]*' "$1/main.log" | tr '\n' ' '; }

{
# The uninterrupted run every interrupted one must end equal to.
"${T[@]}" -n 2 -x $x -o "$work/whole" >"$work/whole.out" 2>&1 || fail log_writes/reference_run "exit $?: $(tail -2 "$work/whole.out")"

# A write that fails half-way: write 6 is main.log's line of step 2 (1: config, then main/metrics
# per step), write 7 that step's metrics.jsonl record; the checkpoint of step 2 is already written.
for n in 6 7; do
    dir="$work/fail$n"
    GPT2_TEST_FAIL_LOG_WRITE=$n "${T[@]}" -n 2 -x $x -o "$dir" >"$work/fail$n.out" 2>"$work/fail$n.err"
    rc=$?
    file=$([ $n -eq 6 ] && echo main.log || echo metrics.jsonl)
    logs=$(complete_logs "$dir")
    if [ $rc -eq 1 ] && [ "$(wc -l <"$work/fail$n.err")" -eq 1 ] && grep -q "cannot write '.*/$file' (No space left on device)" "$work/fail$n.err" \
        && [ "$logs" = ok ] && [ -n "$(losses "$dir")" ] && [[ "$(losses "$work/whole")" == "$(losses "$dir")"* ]] \
        && [ -f "$dir/model_00000002.bin" ] && [ ! -e "$dir/model_00000004.bin" ]; then
        pass "log_writes/failed_write_${file}_exit_1_logs_whole" "($(cat "$work/fail$n.err"))"
    else
        fail "log_writes/failed_write_${file}_exit_1_logs_whole" "exit $rc, stderr '$(head -c 300 "$work/fail$n.err")', logs: $logs, losses '$(losses "$dir")', files: $(ls "$dir" | tr '\n' ' ')"
    fi
    "${T[@]}" -n 2 -x $x -o "$dir" -y 1 >"$work/resume$n.out" 2>&1
    rc=$?
    logs=$(complete_logs "$dir")
    [ $rc -eq 0 ] && [ "$logs" = ok ] && [ "$(losses "$dir")" = "$(losses "$work/whole")" ] && cmp -s "$dir/model_0000000$x.bin" "$work/whole/model_0000000$x.bin" \
        && pass "log_writes/resume_after_failed_${file}_write" "(losses and model equal the uninterrupted run's)" \
        || fail "log_writes/resume_after_failed_${file}_write" "exit $rc, logs: $logs, losses '$(losses "$dir")' vs '$(losses "$work/whole")': $(tail -1 "$work/resume$n.out")"
done

# A torn last line (a crash mid-write: no newline) and a torn record with a newline (two halves
# run together) are cut by the resume, which says so in one note line.
for kind in no_newline with_newline; do
    dir="$work/torn_$kind"
    cp -r "$work/whole" "$dir"
    rm -f "$dir"/DONE_* "$dir"/model_0000000[46].bin "$dir"/state_0000000[46].bin   # resume from step 2
    grep -v '^s:[2-9]' "$work/whole/main.log" >"$dir/main.log"
    grep -v '"step":[2-9]' "$work/whole/metrics.jsonl" >"$dir/metrics.jsonl"
    if [ $kind = no_newline ]; then
        printf 's:2 trl:10.79' >>"$dir/main.log"; printf '{"type":"train","step":2,"loss":10.7' >>"$dir/metrics.jsonl"
    else   # before the last complete record, so only the check of each line finds them
        sed -i '$ i s:1 trl:10.81 lr:0.00056' "$dir/main.log"
        sed -i '$ i {"type":"train","step":1,"lo{"type":"train","step":1,"loss":10.8}' "$dir/metrics.jsonl"
    fi
    "${T[@]}" -n 2 -x $x -o "$dir" -y 1 >"$work/torn_$kind.out" 2>&1
    rc=$?
    logs=$(complete_logs "$dir")
    notes=$(grep -c '^note: cut 1 torn line(s) from .*main.log and 1 from .*metrics.jsonl' "$work/torn_$kind.out")
    [ $rc -eq 0 ] && [ "$logs" = ok ] && [ "$notes" -eq 1 ] && [ "$(losses "$dir")" = "$(losses "$work/whole")" ] \
        && pass "log_writes/resume_cuts_torn_line_$kind" "($(grep '^note: cut' "$work/torn_$kind.out"))" \
        || fail "log_writes/resume_cuts_torn_line_$kind" "exit $rc, $notes note line(s), logs: $logs, losses '$(losses "$dir")': $(grep -m2 -E '^(note|error)' "$work/torn_$kind.out")"
done

# The console: stdout on a full disk (/dev/full) is an error, not a silent gap.
"${T[@]}" -x 2 >/dev/full 2>"$work/console.err"
rc=$?
[ $rc -eq 1 ] && [ "$(wc -l <"$work/console.err")" -eq 1 ] && grep -q '^error: cannot write to standard output' "$work/console.err" \
    && pass log_writes/console_write_fails "($(cat "$work/console.err"))" \
    || fail log_writes/console_write_fails "exit $rc: $(head -c 300 "$work/console.err")"

# A real full disk: a tmpfs with 16 KiB (4 pages: the lock, main.log, 2 of metrics.jsonl) left fills up mid-run; the run stops with one line naming
# the log, and both logs end at a complete record (they used to stop mid-record, exit 0 or not).
mkdir -p "$work/tmpfs"
if [ "$(id -u)" -eq 0 ] && mount -t tmpfs -o size=1m tmpfs "$work/tmpfs" 2>/dev/null; then
    mounted="$work/tmpfs"
    free=$(df -B1 --output=avail "$work/tmpfs" | tail -1)
    head -c $((free - 16384)) /dev/zero >"$work/tmpfs/fill" 2>/dev/null
    "${T[@]}" -x 200 -o "$work/tmpfs/run" >"$work/tmpfs.out" 2>"$work/tmpfs.err"
    rc=$?
    logs=$(complete_logs "$work/tmpfs/run")
    [ $rc -eq 1 ] && [ "$(wc -l <"$work/tmpfs.err")" -eq 1 ] && grep -qE "cannot write '.*/(main.log|metrics.jsonl)' \(No space left on device\)" "$work/tmpfs.err" \
        && [ "$logs" = ok ] && [ -n "$(losses "$work/tmpfs/run")" ] \
        && pass log_writes/full_tmpfs "($(cat "$work/tmpfs.err"); main.log ends '$(tail -1 "$work/tmpfs/run/main.log")')" \
        || fail log_writes/full_tmpfs "exit $rc, stderr '$(head -c 300 "$work/tmpfs.err")', logs: $logs"
    umount "$work/tmpfs" && mounted=""
else
    echo "SKIP log_writes/full_tmpfs: cannot mount a tmpfs here (needs root)"
fi
} 2>&1 | sed -E "s#^(PASS|FAIL|SKIP) #\1 ${prefix}#"

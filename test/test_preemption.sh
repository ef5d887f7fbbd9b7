#!/usr/bin/env bash
# Stops, restarts and lost ranks (common/stop_request.h, common/checkpoint.h's DONE marker),
# for one trainer:
# - SIGTERM mid-run, and a second signal right after it: the step in flight finishes, the
#   checkpoint of that step is written, one "stopped by" line, exit 75; -y 1 then ends with a
#   model byte-identical to an uninterrupted run (a constant schedule: -x may change on resume);
# - the final checkpoint writes DONE_<step>; -y 1 on that run exits 0 with one line, writing nothing;
# - llm.c's restart loop (`while [ ! -f DONE_... ]; do trainer -y 1; done`) with a kill -9 in
#   the middle ends with the uninterrupted run's final model and losses;
# - under mpirun (2 ranks; SKIP without it): SIGUSR1 to rank 1 alone stops both ranks at the
#   same step with a checkpoint (exit 75) that resumes byte-identically; kill -9 of rank 1 ends
#   the job within 30 s and leaves the last complete checkpoint intact; three different signals
#   (they never merge) end a rank hung in a collective (its peer stopped) at once.
#   test/test_preemption.sh SHARED_DATA_DIR TRAINER PREFIX   (e.g. ./train_gpt2cpu stop/)
set -uo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
source test/lib.sh
shared="${1:-../shared/data}"
bin="${2:-./train_gpt2cpu}"
prefix="${3:-stop/}"
train="$shared/tinyshakespeare/tiny_shakespeare_train.bin"
val="$shared/tinyshakespeare/tiny_shakespeare_val.bin"
if [ ! -x "$bin" ]; then echo "FAIL ${prefix}build: $bin is missing"; exit 1; fi
if [ ! -f "$train" ]; then echo "SKIP ${prefix}all: no Tiny Shakespeare shards in $shared"; exit 0; fi
mkdir -p build/preemption_tests
work=$(mktemp -d build/preemption_tests/run.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null; pkill -9 -f -- "$work" 2>/dev/null; rm -rf "$work"' EXIT
export OMP_WAIT_POLICY=passive
# the CPU trainer: one thread per process (2 ranks on 2 cores); the emulator needs its threads
[ "$(basename "$bin")" = train_gpt2cpu ] && export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
# constant lr: the model after step S does not depend on -x, so a run stopped and resumed with
# another -x can be compared with an uninterrupted one
common=(-i "$train" -j "$val" -e d2 -b 2 -t 16 -d 32 -v 0 -s 0 --schedule constant)  # -d: train_gpt2cu defaults to 524288

# wait_for FILE PATTERN SECONDS: until a line of FILE matches PATTERN (0) or the time is up (1)
wait_for() {
    local i
    for ((i = 0; i < $3 * 10; i++)); do
        grep -qE "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}
# stopped_step FILE: K of "stopped by SIG after step K"
stopped_step() { sed -n 's/^stopped by [A-Z0-9]* after step \([0-9]*\):.*/\1/p' "$1"; }
model() { printf '%s/model_%08d.bin' "$1" "$2"; }

# ---- SIGTERM, then a second signal while the stop is handled
timeout -k 10 300 "$bin" "${common[@]}" -x 100000 -o "$work/term" >"$work/term.out" 2>&1 &  # timeout passes the signals on
pid=$!
if wait_for "$work/term.out" '^step +2/' 300; then
    kill -TERM $pid; sleep 0.2; kill -TERM $pid 2>/dev/null
fi
wait $pid; rc=$?
K=$(stopped_step "$work/term.out")
if [ $rc -eq 75 ] && [ -n "$K" ] && [ "$(grep -c '^stopped by' "$work/term.out")" = 1 ] && [ -f "$(model "$work/term" "$K")" ] &&
   [ -f "$(printf '%s/state_%08d.bin' "$work/term" "$K")" ] && ! ls "$work/term"/DONE_* >/dev/null 2>&1; then
    pass "${prefix}sigterm_checkpoint_exit_75" "($(grep '^stopped by' "$work/term.out"))"
else
    fail "${prefix}sigterm_checkpoint_exit_75" "exit $rc (want 75), stop line '$(grep '^stopped by' "$work/term.out")', files: $(ls "$work/term" | tr '\n' ' ')"
fi
K=${K:-3}
final=$((K + 2))
"$bin" "${common[@]}" -x $final -o "$work/term" -y 1 >"$work/term_resumed.out" 2>&1; rc=$?
"$bin" "${common[@]}" -x $final -o "$work/ref" >"$work/ref.out" 2>&1
if [ $rc -eq 0 ] && grep -q "resuming from the checkpoint of step $K" "$work/term_resumed.out" && cmp -s "$(model "$work/term" $final)" "$(model "$work/ref" $final)"; then
    pass "${prefix}sigterm_resume_equals_uninterrupted" "(stopped after step $K, resumed to $final: byte-identical model)"
else
    fail "${prefix}sigterm_resume_equals_uninterrupted" "exit $rc; $(grep -hE '^error|resuming' "$work/term_resumed.out"); models $(cmp "$(model "$work/term" $final)" "$(model "$work/ref" $final)" 2>&1)"
fi

# ---- DONE marker, and -y 1 on a finished run
marker=$(printf '%s/DONE_%08d' "$work/ref" $final)
before=$(stat -c %Y.%s "$(model "$work/ref" $final)" 2>/dev/null)
"$bin" "${common[@]}" -x $final -o "$work/ref" -y 1 >"$work/done.out" 2>"$work/done.err"; rc=$?
if [ -f "$marker" ] && [ $rc -eq 0 ] && grep -q "^already done at step $final: .*DONE_$(printf %08d $final) exists" "$work/done.out" &&
   ! grep -qE '^step +[0-9]+/' "$work/done.out" && [ ! -s "$work/done.err" ] && [ "$(stat -c %Y.%s "$(model "$work/ref" $final)")" = "$before" ]; then
    pass "${prefix}done_marker_already_done" "($(grep '^already done' "$work/done.out"))"
else
    fail "${prefix}done_marker_already_done" "marker $([ -f "$marker" ] && echo present || echo missing), exit $rc, out: $(grep -vE '^(memory|model|batch|optimizer|device)' "$work/done.out" | head -c 200) err: $(head -c 200 "$work/done.err")"
fi

# ---- llm.c's restart loop with a kill -9 in the middle (checkpoints every 2 steps)
loop_dir="$work/loop"
tries=0
while [ ! -f "$(printf '%s/DONE_%08d' "$loop_dir" 6)" ] && [ $tries -lt 4 ]; do
    tries=$((tries + 1))
    "$bin" "${common[@]}" -x 6 -n 2 -y 1 -o "$loop_dir" >"$work/loop$tries.out" 2>&1 &
    pid=$!
    if [ $tries = 1 ] && wait_for "$work/loop$tries.out" '^step +3/' 300; then kill -9 $pid; fi
    wait $pid 2>/dev/null
done
"$bin" "${common[@]}" -x 6 -o "$work/ref6" >"$work/ref6.out" 2>&1
last_loss() { sed -En 's/^step +6\/6 \| loss ([0-9.]+) .*/\1/p' "$1"; }
if [ $tries = 2 ] && grep -q "resuming from the checkpoint of step 2" "$work/loop2.out" && cmp -s "$(model "$loop_dir" 6)" "$(model "$work/ref6" 6)" &&
   [ -n "$(last_loss "$work/ref6.out")" ] && [ "$(last_loss "$work/loop2.out")" = "$(last_loss "$work/ref6.out")" ]; then
    pass "${prefix}restart_loop_after_kill" "(2 launches; step 6 loss $(last_loss "$work/ref6.out") as uninterrupted, byte-identical model)"
else
    fail "${prefix}restart_loop_after_kill" "$tries launches (want 2): $(grep -h -E '^error|resuming|^step +6/' "$work"/loop*.out | head -c 300); uninterrupted: $(grep -E '^step +6/' "$work/ref6.out")"
fi

# ---- data parallel under mpirun: a signal to one rank, a rank that dies
if ! command -v mpirun >/dev/null || ! ldd "$bin" 2>/dev/null | grep libmpi >/dev/null; then
    echo "SKIP ${prefix}mpirun: no mpirun, or $bin without MPI"
    [ $failures -eq 0 ]; exit
fi
# rank_pid DIR R: the pid of the rank R whose command line holds -o DIR (or -x DIR: a unique tag)
rank_pid() {
    local p
    for p in $(pgrep -f -- "$1"); do
        tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$2" && { echo "$p"; return; }
    done
}
# every launch has a time limit: a rank that never learns of the stop must fail the test, not hang it
mpi() { timeout -k 10 300 mpirun -np 2 "$@"; }
dp=("${common[@]}" -b 1 -d 32)
mpi "$bin" "${dp[@]}" -x 100000 -o "$work/dp" >"$work/dp.out" 2>&1 &
mpid=$!
if wait_for "$work/dp.out" '^step +2/' 300; then kill -USR1 "$(rank_pid "$work/dp" 1)"; fi
wait $mpid; rc=$?
K=$(stopped_step "$work/dp.out")
K=${K:-0}
mpi "$bin" "${dp[@]}" -x $((K + 1)) -o "$work/dp" -y 1 >"$work/dp_resumed.out" 2>&1
mpi "$bin" "${dp[@]}" -x $((K + 1)) -o "$work/dp_uninterrupted" >/dev/null 2>&1
if [ $rc -eq 75 ] && [ "$K" -gt 0 ] && grep -q "^stopped by SIGUSR1 after step $K" "$work/dp.out" &&
   grep -q "resuming from the checkpoint of step $K" "$work/dp_resumed.out" &&
   cmp -s "$(model "$work/dp" $((K + 1)))" "$(model "$work/dp_uninterrupted" $((K + 1)))"; then
    pass "${prefix}mpirun_signal_to_one_rank" "(both ranks stopped after step $K, exit 75; resumed byte-identical)"
else
    fail "${prefix}mpirun_signal_to_one_rank" "exit $rc (want 75), stop line '$(grep '^stopped by' "$work/dp.out")', $(grep -hE '^error|resuming' "$work/dp_resumed.out" | head -c 200)"
fi
# kill -9 of rank 1 after a checkpoint (-n 1): the job ends, the checkpoint stays complete
mpi "$bin" "${dp[@]}" -x 100000 -n 1 -o "$work/dead" >"$work/dead.out" 2>&1 &
mpid=$!
if wait_for "$work/dead.out" '^wrote checkpoint .*00000002' 300; then
    kill -9 "$(rank_pid "$work/dead" 1)"; start=$(date +%s)
    for ((i = 0; i < 300 && $(kill -0 $mpid 2>/dev/null && echo 1 || echo 0); i++)); do sleep 0.1; done
    took=$(( $(date +%s) - start ))
fi
kill -0 $mpid 2>/dev/null && { kill -9 $mpid; took=timeout; }
wait $mpid; rc=$?
latest=$(ls "$work/dead" | sed -n 's/^state_0*\([0-9][0-9]*\)\.bin$/\1/p' | sort -n | tail -1)
resumed=1
[ -n "$latest" ] && mpi "$bin" "${dp[@]}" -x $((latest + 1)) -o "$work/dead" -y 1 >"$work/dead_resumed.out" 2>&1 && resumed=0
if [ "${took:-x}" != timeout ] && [ -n "${took:-}" ] && [ $rc -ne 0 ] && [ $resumed = 0 ] &&
   grep -q "resuming from the checkpoint of step $latest" "$work/dead_resumed.out"; then
    pass "${prefix}mpirun_dead_rank" "(job ended ${took} s after the kill, exit $rc; checkpoint $latest resumed)"
else
    fail "${prefix}mpirun_dead_rank" "ended after ${took:-?} s, exit $rc, latest checkpoint '${latest}': $(grep -hE '^error|resuming' "$work/dead_resumed.out" 2>/dev/null | head -c 200)"
fi
# three different signals (they never merge) to rank 0 while rank 1 is stopped (SIGSTOP), so rank 0
# waits in a collective and never reaches the flag check: the way out of a hang, 128 + the last
mpi "$bin" "${dp[@]}" -x 100000 -o "$work/hang" >"$work/hang.out" 2>&1 &
mpid=$!
if wait_for "$work/hang.out" '^step +2/' 300; then
    r0=$(rank_pid "$work/hang" 0); r1=$(rank_pid "$work/hang" 1)
    kill -STOP "$r1"; sleep 0.5
    kill -USR1 "$r0"; sleep 0.3; kill -INT "$r0"; sleep 0.3; kill -TERM "$r0"
    for ((i = 0; i < 100 && $(kill -0 "$r0" 2>/dev/null && echo 1 || echo 0); i++)); do sleep 0.1; done
    r0_alive=$(kill -0 "$r0" 2>/dev/null && echo yes || echo no)
    kill -CONT "$r1" 2>/dev/null
fi
kill -0 $mpid 2>/dev/null && sleep 5
kill -9 $mpid 2>/dev/null; wait $mpid 2>/dev/null
if [ "${r0_alive:-yes}" = no ] && ! grep -q '^stopped by' "$work/hang.out"; then
    pass "${prefix}three_signals_end_a_hung_rank" "(rank 0, waiting on a stopped rank 1, ended within 10 s of the third signal)"
else
    fail "${prefix}three_signals_end_a_hung_rank" "rank 0 alive after the third signal: ${r0_alive:-never started}; $(grep -E '^(stopped|error)' "$work/hang.out" | head -c 200)"
fi
[ $failures -eq 0 ]

#!/usr/bin/env bash
# train_gpt2cu's failures WITHOUT mpirun (common/comm_nccl.cuh, common/peer_link.h): 2 ranks as
# separate processes, with -pi fs and with -pi tcp (verdicts PREFIX<fs|tcp>/...):
#   normal: the losses equal the mpirun run's exactly (else the one process's at 2B to 1e-4);
#   kill_rank1: kill -9 of rank 1 mid-run: rank 0 ends within 30 s, one line naming rank 1,
#     non-zero exit; the last checkpoint resumes (2 ranks, -y 1);
#   nonfinite: a NaN gradient on rank 1 (GPT2_TEST_NAN_GRAD_*): one error line over both ranks,
#     both exit with the same non-zero code, within 5 s of each other;
#   init_deadline: rank 0 alone (rank 1 never started) ends within GPT2_DIST_TIMEOUT (+ startup)
#     with one line (fs: NCCL's non-blocking init aborted; tcp: the rendezvous);
#   stale_id (fs): a ncclUniqueId.bin left by a killed job does not mislead the next one, even
#     with its rank 1 started first;
#   slow_rank0: rank 0 sleeps 8 s in each checkpoint (GPT2_TEST_SLOW_CHECKPOINT_S) with
#     GPT2_COMM_TIMEOUT=3: the job ends normally (nothing pending on rank 0; rank 1's collective
#     waits for a rank that has not reached it);
#   hung_collective (emulator only: NCCL_EMU_HANG_COLLECTIVE=5 on rank 1, a transport that hangs):
#     GPT2_COMM_TIMEOUT=3 ends both ranks, one line naming the pending collective, same code.
# Every launch has a deadline, so a hang is a FAIL. On a GPU box: TRAINER ./train_gpt2cu (2 GPUs
# at least: NCCL refuses two ranks on one GPU).
#   test/test_comm_faults_cuda.sh [SHARED_DATA_DIR] [TRAINER] [PREFIX]
#   (defaults: data build/emu/bf16/train_gpt2cu emu/comm/)
set -uo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
source test/lib.sh
PYTHON="${PYTHON:-/usr/bin/python3}"
shared="${1:-data}"
bin="${2:-build/emu/bf16/train_gpt2cu}"
prefix="${3:-emu/comm/}"
if [ ! -x "$bin" ]; then echo "FAIL ${prefix}build: $bin is missing"; exit 1; fi
train="$shared/tinyshakespeare/tiny_shakespeare_train.bin"
if [ ! -f "$train" ]; then echo "SKIP ${prefix}all: no Tiny Shakespeare shards in $shared"; exit 0; fi
emulated=0
case "$prefix" in emu/*) emulated=1;; esac
if [ $emulated = 0 ] && [ "$(nvidia-smi -L 2>/dev/null | wc -l)" -lt 2 ]; then
    echo "SKIP ${prefix}all: fewer than 2 GPUs (NCCL refuses two ranks on one GPU)"; exit 0
fi
work=$(mktemp -d)
declare -A pid
cleanup() { for p in "${pid[@]}"; do kill -9 "$p" 2>/dev/null; done; rm -rf "$work"; }
trap cleanup EXIT
export OMP_WAIT_POLICY=passive OMPI_MCA_mpi_yield_when_idle=1
unset GPT2_TEST_NAN_GRAD_STEP GPT2_TEST_NAN_GRAD_RANK GPT2_TEST_SLOW_CHECKPOINT_S NCCL_EMU_HANG_COLLECTIVE
common=(-i "$train" -j "$shared/tinyshakespeare/tiny_shakespeare_val.bin" -e d2 -t 16 -d 64 -v 0 --no-shuffle --schedule constant)

# COMM_FAULT_TESTS="normal kill ...": only these checks (all when unset)
want() { [ -z "${COMM_FAULT_TESTS:-}" ] || [[ " $COMM_FAULT_TESTS " == *" $1 "* ]]; }
free_port() { "$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# rendezvous MODE NAME: the flags of a fresh rendezvous (a folder or a port of its own)
rendezvous() {
    if [ "$1" = fs ]; then mkdir -p "$work/$2.rdv"; echo "-pi fs -pf $work/$2.rdv"; else echo "-pi tcp -ps 127.0.0.1:$(free_port)"; fi
}
# start NAME RANK [env VAR=V ...] -- ARGS...: rank RANK of 2 in the background; out/err in $work/NAME.RANK.*
start() {
    local name=$1 rank=$2; shift 2
    local envs=()
    while [ "$1" != -- ]; do envs+=("$1"); shift; done
    shift
    env "${envs[@]}" "$bin" "${common[@]}" "$@" -pn 2 -pr "$rank" >"$work/$name.$rank.out" 2>"$work/$name.$rank.err" &
    pid[$name.$rank]=$!
    date +%s.%N >"$work/$name.$rank.start"
}
# finish NAME RANK SECONDS: waits for it at most SECONDS (then kill -9, rc 124); rc in $work/NAME.RANK.rc,
# its end time in .end
finish() {
    local key=$1.$2 i rc
    for ((i = 0; i < $3 * 10; i++)); do kill -0 "${pid[$key]}" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "${pid[$key]}" 2>/dev/null; then kill -9 "${pid[$key]}"; wait "${pid[$key]}" 2>/dev/null; rc=124
    else wait "${pid[$key]}" 2>/dev/null; rc=$?; fi
    date +%s.%N >"$work/$key.end"
    echo $rc >"$work/$key.rc"
    unset "pid[$key]"
}
rc() { cat "$work/$1.rc"; }
errors() { cat "$work/$1.0.err" "$work/$1.1.err" | grep -c '^error'; }
seconds_between() { "$PYTHON" -c 'import sys; print("%.1f" % abs(float(open(sys.argv[2]).read()) - float(open(sys.argv[1]).read())))' "$1" "$2"; }
losses() { sed -n 's/^step *[0-9]*\/[0-9]* | loss \([0-9.]*\) .*/\1/p' "$1" | tr '\n' ' '; }
wait_file() { local i; for ((i = 0; i < $2 * 10; i++)); do [ -e "$1" ] && return 0; sleep 0.1; done; return 1; }

# the reference for the normal runs: mpirun -np 2 (the same reduction bits), else one process at 2B
mpi=(mpirun -np 2 --oversubscribe); [ "$(id -u)" = 0 ] && mpi+=(--allow-run-as-root)
if ! want normal; then
    :
elif command -v mpirun >/dev/null 2>&1 && ldd "$bin" 2>/dev/null | grep libmpi >/dev/null; then
    timeout 300 "${mpi[@]}" "$bin" "${common[@]}" -b 2 -x 3 >"$work/ref.out" 2>&1
    ref_kind="mpirun -np 2" ref_tol=0
else
    timeout 300 "$bin" "${common[@]}" -b 4 -x 3 >"$work/ref.out" 2>&1
    ref_kind="one process at -b 4" ref_tol=1e-4
fi

for mode in fs tcp; do
    p="$prefix$mode"
    if want normal; then
        # ---- 1. a normal run equals the reference
        rdv=$(rendezvous $mode normal)
        start normal 1 -- -b 2 -x 3 $rdv; start normal 0 -- -b 2 -x 3 $rdv
        finish normal 0 300; finish normal 1 60
        verdict=$("$PYTHON" - "$(losses "$work/ref.out")" "$(losses "$work/normal.0.out")" "$ref_tol" <<'EOF'
import sys
a, b = ([float(x) for x in s.split()] for s in sys.argv[1:3])
tol = float(sys.argv[3])
ok = len(a) == len(b) == 3 and all(abs(x - y) <= tol * abs(x) for x, y in zip(a, b))
print("%s %s vs %s" % ("ok" if ok else "differ", a, b))
EOF
        )
        if [ "$(rc normal.0)" = 0 ] && [ "$(rc normal.1)" = 0 ] && [ "${verdict%% *}" = ok ]; then
            pass "$p/normal_equals_reference" "(losses equal to $ref_kind's, tol $ref_tol: ${verdict#ok })"
        else
            fail "$p/normal_equals_reference" "exit $(rc normal.0)/$(rc normal.1) vs $ref_kind: $verdict $(head -c 200 "$work/normal.0.err")"
        fi

    fi
    if want kill; then
        # ---- 2. kill -9 of rank 1 after the checkpoint of step 2: rank 0 ends within 30 s, one line
        rdv=$(rendezvous $mode kill)
        run=(-b 2 -x 40 -n 1 -o "$work/kill_$mode.ck")
        start kill 1 -- "${run[@]}" $rdv; start kill 0 -- "${run[@]}" $rdv
        if wait_file "$work/kill_$mode.ck/state_00000002.bin" 240; then
            kill -9 "${pid[kill.1]}"; date +%s.%N >"$work/kill.killed"
            finish kill 1 10; finish kill 0 60
            took=$(seconds_between "$work/kill.killed" "$work/kill.0.end")
            if [ "$(rc kill.0)" != 0 ] && [ "$(rc kill.0)" != 124 ] && [ "$(wc -l <"$work/kill.0.err")" = 1 ] &&
               grep -qE '^error: rank 0: lost rank 1 ' "$work/kill.0.err" && "$PYTHON" -c "import sys; sys.exit(not $took < 30)"; then
                pass "$p/kill_rank1_one_line" "(exit $(rc kill.0) after ${took} s: $(cat "$work/kill.0.err"))"
            else
                fail "$p/kill_rank1_one_line" "exit $(rc kill.0) after ${took} s: $(head -c 300 "$work/kill.0.err")"
            fi
            # the last complete checkpoint: its model and state files both there (each is written atomically)
            last=$(ls "$work/kill_$mode.ck" | sed -n 's/^state_0*\([0-9][0-9]*\)\.bin$/\1/p' | sort -n | tail -1)
            rdv=$(rendezvous $mode resume)
            start resume 1 -- -b 2 -x $((last + 1)) -n 1 -y 1 -o "$work/kill_$mode.ck" $rdv
            start resume 0 -- -b 2 -x $((last + 1)) -n 1 -y 1 -o "$work/kill_$mode.ck" $rdv
            finish resume 0 300; finish resume 1 60
            if [ "$(rc resume.0)" = 0 ] && [ "$(rc resume.1)" = 0 ] && [ "$last" -ge 2 ] &&
               grep -q "resuming from the checkpoint of step $last " "$work/resume.0.out"; then
                pass "$p/kill_rank1_checkpoint_resumes" "(from step $last, to step $((last + 1)))"
            else
                fail "$p/kill_rank1_checkpoint_resumes" "exit $(rc resume.0)/$(rc resume.1), last $last: $(grep -hE '^error|resuming' "$work"/resume.*.{out,err} | head -c 300)"
            fi
        else
            finish kill 1 1; finish kill 0 1
            fail "$p/kill_rank1_one_line" "no checkpoint of step 2 within 240 s: $(head -c 300 "$work/kill.0.err")"
        fi

    fi
    if want nonfinite; then
        # ---- 3. a NaN gradient on rank 1: rank 0 reports it (one line), both exit with its code
        rdv=$(rendezvous $mode nan)
        start nan 1 GPT2_TEST_NAN_GRAD_STEP=2 GPT2_TEST_NAN_GRAD_RANK=1 -- -b 2 -x 4 $rdv
        start nan 0 GPT2_TEST_NAN_GRAD_STEP=2 GPT2_TEST_NAN_GRAD_RANK=1 -- -b 2 -x 4 $rdv
        finish nan 0 300; finish nan 1 60
        apart=$(seconds_between "$work/nan.0.end" "$work/nan.1.end")
        if [ "$(rc nan.0)" = "$(rc nan.1)" ] && [ "$(rc nan.0)" != 0 ] && [ "$(rc nan.0)" != 124 ] && [ "$(errors nan)" = 1 ] &&
           grep -q '^error: rank 0: step 2: .*is not finite' "$work/nan.0.err" && "$PYTHON" -c "import sys; sys.exit(not $apart < 5)"; then
            pass "$p/nonfinite_one_line_same_code" "(both exit $(rc nan.0), ${apart} s apart: $(cut -c1-80 "$work/nan.0.err")...)"
        else
            fail "$p/nonfinite_one_line_same_code" "exit $(rc nan.0)/$(rc nan.1), ${apart} s apart, $(errors nan) error lines: $(cat "$work"/nan.*.err | head -c 300)"
        fi

    fi
    if want init_deadline; then
        # ---- 4. rank 0 alone: the init (fs) or the rendezvous (tcp) deadline, one line
        rdv=$(rendezvous $mode alone)
        start alone 0 GPT2_DIST_TIMEOUT=3 -- -b 2 -x 2 $rdv
        finish alone 0 60
        took=$(seconds_between "$work/alone.0.start" "$work/alone.0.end")
        want=$([ $mode = fs ] && echo "NCCL init: not all 2 ranks joined within 3 s" || echo "-pi tcp: only 1 of 2 ranks connected to port [0-9]+ within 3 s")
        if [ "$(rc alone.0)" = 1 ] && [ "$(wc -l <"$work/alone.0.err")" = 1 ] && grep -qE "^error: rank 0: $want" "$work/alone.0.err" &&
           "$PYTHON" -c "import sys; sys.exit(not $took < 33)"; then
            pass "$p/init_deadline_one_line" "(${took} s with startup: $(cat "$work/alone.0.err"))"
        else
            fail "$p/init_deadline_one_line" "exit $(rc alone.0) after ${took} s: $(head -c 300 "$work/alone.0.err")"
        fi

    fi
    if want slow; then
        # ---- 6. a long phase of rank 0 alone is healthy; a collective every rank reached that never
        # completes is not
        rdv=$(rendezvous $mode slow)
        start slow 1 GPT2_COMM_TIMEOUT=3 -- -b 2 -x 2 -n 1 -o "$work/slow_$mode.ck" $rdv
        start slow 0 GPT2_COMM_TIMEOUT=3 GPT2_TEST_SLOW_CHECKPOINT_S=8 -- -b 2 -x 2 -n 1 -o "$work/slow_$mode.ck" $rdv
        finish slow 0 300; finish slow 1 60
        if [ "$(rc slow.0)" = 0 ] && [ "$(rc slow.1)" = 0 ] && grep -q "step *2/2" "$work/slow.0.out"; then
            pass "$p/slow_rank0_phase_survives" "(rank 0 slept 8 s in each checkpoint, GPT2_COMM_TIMEOUT=3)"
        else
            fail "$p/slow_rank0_phase_survives" "exit $(rc slow.0)/$(rc slow.1): $(cat "$work"/slow.*.err | head -c 300)"
        fi
    fi
    if want hang; then
        if [ $emulated = 1 ]; then
            rdv=$(rendezvous $mode hang)
            start hang 1 GPT2_COMM_TIMEOUT=3 NCCL_EMU_HANG_COLLECTIVE=5 -- -b 2 -x 4 $rdv
            start hang 0 GPT2_COMM_TIMEOUT=3 -- -b 2 -x 4 $rdv
            finish hang 0 120; finish hang 1 30
            apart=$(seconds_between "$work/hang.0.end" "$work/hang.1.end")
            if [ "$(rc hang.0)" = 1 ] && [ "$(rc hang.1)" = 1 ] && [ "$(errors hang)" = 1 ] &&
               grep -qE '^error: rank 0: collective 5 pending for 3 s after every rank reached it' "$work/hang.0.err" &&
               "$PYTHON" -c "import sys; sys.exit(not $apart < 5)"; then
                pass "$p/hung_collective_ends_job" "(both exit 1, ${apart} s apart: $(cut -c1-90 "$work/hang.0.err")...)"
            else
                fail "$p/hung_collective_ends_job" "exit $(rc hang.0)/$(rc hang.1), ${apart} s apart, $(errors hang) error lines: $(cat "$work"/hang.*.err | head -c 300)"
            fi
        else
            echo "SKIP $p/hung_collective_ends_job: NCCL_EMU_HANG_COLLECTIVE is the emulator's (no way to hang real NCCL on purpose)"
        fi
    fi
done

if want stale; then
    # ---- 5. a stale ncclUniqueId.bin (rank 0 of a job killed while it waited) in the shared -pf:
    # the next job's rank 1, started first, waits for the live one
    mkdir -p "$work/stale.rdv"
    start dead 0 GPT2_DIST_TIMEOUT=120 -- -b 2 -x 1 -pi fs -pf "$work/stale.rdv"
    if wait_file "$work/stale.rdv/ncclUniqueId.bin" 120; then
        kill -9 "${pid[dead.0]}"; finish dead 0 10
        start stale 1 GPT2_DIST_TIMEOUT=60 -- -b 2 -x 1 -pi fs -pf "$work/stale.rdv"
        sleep 3
        start stale 0 GPT2_DIST_TIMEOUT=60 -- -b 2 -x 1 -pi fs -pf "$work/stale.rdv"
        finish stale 0 300; finish stale 1 60
        if [ "$(rc stale.0)" = 0 ] && [ "$(rc stale.1)" = 0 ] && grep -q "step *1/1" "$work/stale.0.out"; then
            pass "${prefix}fs/stale_id_file_ignored" "(rank 1 started 3 s before rank 0, beside a killed job's id file)"
        else
            fail "${prefix}fs/stale_id_file_ignored" "exit $(rc stale.0)/$(rc stale.1): $(cat "$work"/stale.*.err | head -c 300)"
        fi
    else
        finish dead 0 1
        fail "${prefix}fs/stale_id_file_ignored" "the first job wrote no id file: $(head -c 300 "$work/dead.0.err")"
    fi
fi
[ $failures -eq 0 ]

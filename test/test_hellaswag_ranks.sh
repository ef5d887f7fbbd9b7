#!/usr/bin/env bash
# HellaSwag (-h 1) dealt over the ranks (common/hellaswag.h: whole batches, batch b to rank
# b % ranks, the ranks' counts summed): mpirun -np 2 and -np 3 of train_gpt2cpu, and -np 2 of
# the emulated train_gpt2cu (emu/...), print the same HellaSwag line and write the same
# metrics.jsonl eval record as one process of the same binary.
# The fixture: 13 made-up examples written by data/hellaswag.py's writer, a d2 model trained by
# train_gpt2cpu on "<eot> context right-ending" sequences, and a copy of the file whose labels
# of examples 1, 4, 7 and 10 point at a wrong ending: the trained model answers 9/13 there, so a
# batch lost or counted twice, or a rank's count not summed, changes the line. -b 8 packs 2
# examples per batch: 7 batches, the last half full, which neither 2 nor 3 ranks divide.
# Also: a bad file under 2 ranks is one error line, rank 0's. Nothing here ran on a GPU.
#   test/test_hellaswag_ranks.sh [CPU_TRAINER [EMU_TRAINER]]
#   (defaults ./train_gpt2cpu and build/emu/bf16/train_gpt2cu; without the emulated one, or
#   without mpirun or an MPI build, those checks SKIP)
set -uo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
source test/lib.sh
PYTHON="${PYTHON:-/usr/bin/python3}"
cpu=${1:-./train_gpt2cpu}
emu=${2:-build/emu/bf16/train_gpt2cu}
if ! "$cpu" --help >/dev/null 2>&1; then echo "FAIL hswag/build: $cpu does not run (make train_gpt2cpu)"; exit 1; fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# One OpenMP thread per rank; as root mpirun wants to be told; 3 ranks on 2 cores oversubscribe.
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_btl_vader_single_copy_mechanism=none
export OMP_WAIT_POLICY=passive OMPI_MCA_mpi_yield_when_idle=1

"$PYTHON" - "$repo/data" "$work" <<'EOF' || { echo "FAIL hswag/fixture: the fixture could not be written"; exit 1; }
import random, sys
import numpy as np
sys.path.insert(0, sys.argv[1])
from hellaswag import write_eval_file
out = sys.argv[2]
rng = random.Random(7)
examples = []
for i in range(13):
    ctx = [rng.randrange(1000, 1400) for _ in range(6)]
    comps = [[rng.randrange(1000, 1400) for _ in range(rng.randrange(3, 6))] for _ in range(4)]
    examples.append((rng.randrange(4), ctx, comps))
write_eval_file(out + "/mixed.bin", [((l + 1) % 4 if i % 3 == 1 else l, c, k) for i, (l, c, k) in enumerate(examples)])
toks = []
for _ in range(4000):
    l, c, k = examples[rng.randrange(len(examples))]
    toks += [50256] + c + k[l]
h = np.zeros(256, dtype="<i4"); h[:3] = [20240520, 1, len(toks)]
with open(out + "/train.bin", "wb") as f:
    f.write(h.tobytes()); f.write(np.array(toks, dtype="<u2").tobytes())
open(out + "/truncated.bin", "wb").write(open(out + "/mixed.bin", "rb").read()[:-6])
EOF
data=(-i "$work/train.bin" -j "$work/train.bin" --allow-train-val-overlap -t 16) # one shard for both
"$cpu" "${data[@]}" -e d2 -b 8 -x 40 -v 0 -m 1 -l 1e-2 -o "$work/model" >"$work/train.out" 2>&1 \
    || { echo "FAIL hswag/train: the fixture model did not train: $(grep -m2 error "$work/train.out")"; exit 1; }
model="$work/model/model_00000040.bin"
# the evaluation alone: -x 0 evaluates at step 0 and writes the eval record
evaluate=(-e "$model" -b 8 -x 0 -v 1 -h 1 --hellaswag "$work/mixed.bin")
hs_line() { grep '^step 0: HellaSwag' "$1" 2>/dev/null; }
eval_record() { grep '"type":"eval"' "$1/metrics.jsonl" 2>/dev/null; }

# same_as_one NAME ONE_OUT ONE_DIR OUT DIR: the same HellaSwag line and eval record
same_as_one() {
    local name=$1 one=$2 one_dir=$3 out=$4 dir=$5
    if [ -n "$(hs_line "$one")" ] && [ "$(hs_line "$out")" = "$(hs_line "$one")" ] && [ -n "$(eval_record "$one_dir")" ] &&
       [ "$(eval_record "$dir")" = "$(eval_record "$one_dir")" ] && [ "$(grep -c HellaSwag "$out")" = 1 ]; then
        pass "$name" "($(hs_line "$out"), as one process)"
    else
        fail "$name" "one process '$(hs_line "$one")' $(eval_record "$one_dir"); ranks '$(hs_line "$out" | tr '\n' ' ')' $(eval_record "$dir"); $(grep -m2 error "$out")"
    fi
}

# ---- train_gpt2cpu: one process is the reference (and shows the model learned the fixture)
"$cpu" "${data[@]}" "${evaluate[@]}" -o "$work/cpu1" >"$work/cpu1.out" 2>&1
if [ "$(hs_line "$work/cpu1.out")" = "step 0: HellaSwag 9/13 = 0.6923" ]; then
    pass hswag/cpu_one_process_learned "($(hs_line "$work/cpu1.out"))"
else
    fail hswag/cpu_one_process_learned "want 'step 0: HellaSwag 9/13 = 0.6923', got '$(hs_line "$work/cpu1.out")' $(grep -m2 error "$work/cpu1.out")"
fi
have_mpi=1
if ! command -v mpirun >/dev/null 2>&1; then
    echo "SKIP hswag/cpu_ranks: no mpirun (scripts/setup.sh installs openmpi-bin)"; have_mpi=0
elif ! ldd "$cpu" | grep libmpi >/dev/null; then # not -q: an early grep exit would SIGPIPE ldd
    echo "SKIP hswag/cpu_ranks: $cpu was built without MPI"
else
    for np in 2 3; do
        timeout 300 mpirun -np $np "$cpu" "${data[@]}" "${evaluate[@]}" -o "$work/cpu$np" >"$work/cpu$np.out" 2>&1
        same_as_one hswag/cpu_${np}_ranks_same_as_one "$work/cpu1.out" "$work/cpu1" "$work/cpu$np.out" "$work/cpu$np"
    done
    # every rank reads the file: a bad one is the same error on every rank, printed once (rank 0's)
    timeout 120 mpirun -np 2 "$cpu" "${data[@]}" -e "$model" -b 8 -x 0 -h 1 --hellaswag "$work/truncated.bin" >/dev/null 2>"$work/bad.err"
    rc=$?
    [ $rc -eq 2 ] && [ "$(grep -c '^error' "$work/bad.err")" -eq 1 ] && grep -q '^error: rank 0: .*example 12: the file ends inside' "$work/bad.err" \
        && pass hswag/cpu_bad_file_one_line "($(grep '^error' "$work/bad.err"))" \
        || fail hswag/cpu_bad_file_one_line "exit $rc: $(grep -m3 '^error' "$work/bad.err")"
fi

# ---- the emulated train_gpt2cu: 2 ranks (the NCCL stand-in over MPI) against one process
if [ ! -x "$emu" ]; then
    echo "SKIP emu/hswag/all: $emu is missing (make $emu)"
elif [ $have_mpi = 0 ] || ! ldd "$emu" 2>/dev/null | grep libmpi >/dev/null; then
    echo "SKIP emu/hswag/ranks: no mpirun, or $emu was built without MPI"
else
    "$emu" "${data[@]}" "${evaluate[@]}" -o "$work/emu1" >"$work/emu1.out" 2>&1
    timeout 300 mpirun -np 2 "$emu" "${data[@]}" "${evaluate[@]}" -o "$work/emu2" >"$work/emu2.out" 2>&1
    same_as_one emu/hswag/2_ranks_same_as_one "$work/emu1.out" "$work/emu1" "$work/emu2.out" "$work/emu2"
    timeout 120 mpirun -np 2 "$emu" "${data[@]}" -e "$model" -b 8 -x 0 -h 1 --hellaswag "$work/truncated.bin" >/dev/null 2>"$work/emu_bad.err"
    rc=$?
    [ $rc -eq 2 ] && [ "$(grep -c '^error' "$work/emu_bad.err")" -eq 1 ] && grep -q '^error: rank 0: .*example 12: the file ends inside' "$work/emu_bad.err" \
        && pass emu/hswag/bad_file_one_line "($(grep '^error' "$work/emu_bad.err"))" \
        || fail emu/hswag/bad_file_one_line "exit $rc: $(grep -m3 '^error' "$work/emu_bad.err")"
fi
[ $failures -eq 0 ]

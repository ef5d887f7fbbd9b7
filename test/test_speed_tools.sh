#!/usr/bin/env bash
# The profiling and benchmark tools without a GPU: scripts/ncu_table.py on a hand-written ncu
# raw-page CSV (test/fixtures/ncu_step_raw.csv: 7 launches, 1.000 ms, known shares) and its
# input errors; the commands of scripts/profile.sh and scripts/benchmark.sh (--dry-run) and their
# option errors; a whole benchmark.sh run with a stand-in trainer and peer (batch fallback,
# tokens/s, MFU, ratio); dev/torch_gpt2_peer.py on the CPU, tiny model, 2 timed steps; and, under the
# CUDA emulator (test/cuda_emu), train_gpt2cu's --profile-kernels table and --attention errors.
#   test/test_speed_tools.sh [SHARED_DATA_DIR]     (the emulated runs SKIP when it is absent)
set -uo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
shared="${1:-../shared/data}"
PYTHON="${PYTHON:-/usr/bin/python3}"
mkdir -p build/test_speed_tools
work=$(mktemp -d build/test_speed_tools/run.XXXXXX)
source test/lib.sh
# has NAME FILE LINE: PASS when FILE has exactly the line LINE.
has() { if grep -qxF -- "$3" "$2"; then pass "$1"; else fail "$1" "no line '$3' in $2"; fi; }

# ---- ncu_table.py on the fixture
fixture=test/fixtures/ncu_step_raw.csv
"$PYTHON" scripts/ncu_table.py "$fixture" -o "$work/table.md" 2>"$work/table.err"
rc=$?
[ $rc -eq 0 ] && pass ncu_table/exit || fail ncu_table/exit "exit $rc: $(head -c 300 "$work/table.err")"
t="$work/table.md"
has ncu_table/step_total "$t" "1.000 ms of GPU time in 7 kernel launches (the sum of kernel durations; ncu serializes kernels, so this is not the wall time of a step)."
has ncu_table/phase_forward_summed_over_blocks "$t" "| forward/block */attention | 4 | 0.300 | 30.0% |"
has ncu_table/phase_optimizer "$t" "| optimizer/adamw | 1 | 0.150 | 15.0% |"
has ncu_table/phase_outside "$t" "| (outside the phases) | 1 | 0.250 | 25.0% |"
has ncu_table/group_backward "$t" "## backward: 0.300 ms, 30.0% of the step"
# two launches of the GEMM: 200 us, 400 MB -> 2000 GB/s; shortened kernel names
has ncu_table/kernel_gemm "$t" "| \`sm90_xmma_gemm_bf16bf16_bf16f32_f32_tn_n_tilesize128x128x64_cublas\` | 2 | 0.200 | 20.0% | 100.0 | 2000 | 60.0 | 40.0 |"
# 40 and 60 us launches: DRAM % and occupancy are duration-weighted means (32.0, 22.0; not 30, 20)
has ncu_table/kernel_flash_weighted_means "$t" "| \`flash_detail::flash_attention_forward_kernel\` | 2 | 0.100 | 10.0% | 50.0 | 1000 | 32.0 | 22.0 |"
has ncu_table/kernel_template_name "$t" "| \`adamw_kernel<__nv_bfloat16>\` | 1 | 0.150 | 15.0% | 150.0 | 4000 | 90.0 | 80.0 |"
gemm_line=$(grep -n 'sm90_xmma_gemm' "$t" | cut -d: -f1)
flash_line=$(grep -n 'flash_attention_forward_kernel' "$t" | cut -d: -f1)
[ -n "$gemm_line" ] && [ -n "$flash_line" ] && [ "$gemm_line" -lt "$flash_line" ] && pass ncu_table/sorted_by_time ||
    fail ncu_table/sorted_by_time "the 0.200 ms GEMM is not listed before the 0.100 ms flash kernel"
groups=$(grep '^## ' "$t" | cut -d: -f1 | tr '\n' ',')
[ "$groups" = "## Phases,## forward,## backward,## optimizer,## (outside the phases)," ] && pass ncu_table/group_order ||
    fail ncu_table/group_order "sections: $groups"
# microseconds in, the same table out
sed -e 's/"nsecond"/"usecond"/; s/"100000"/"100"/; s/"40000"/"40"/; s/"60000"/"60"/; s/"300000"/"300"/; s/"150000"/"150"/; s/"250000"/"250"/' \
    "$fixture" >"$work/us.csv"
"$PYTHON" scripts/ncu_table.py "$work/us.csv" >"$work/us.md" 2>&1
cmp -s "$work/us.md" "$t" && pass ncu_table/time_units || fail ncu_table/time_units "usecond input gives another table: $(diff "$work/us.md" "$t" | head -n 4)"

# input errors: one line, exit 2
cut -d, -f1-4,6- "$fixture" >"$work/no_nvtx.csv" # drops the NVTX column (its cells have no commas)
expect_one_line_error ncu_table/error_no_nvtx "no NVTX column; run ncu with --nvtx" "" "$PYTHON" scripts/ncu_table.py "$work/no_nvtx.csv"
expect_one_line_error ncu_table/error_missing_file "cannot read" "" "$PYTHON" scripts/ncu_table.py "$work/absent.csv"
echo "not a csv" >"$work/junk.csv"
expect_one_line_error ncu_table/error_no_header "no ncu CSV header" "" "$PYTHON" scripts/ncu_table.py "$work/junk.csv"
sed 's/"nsecond"/"fortnight"/' "$fixture" >"$work/unit.csv"
expect_one_line_error ncu_table/error_unit "unknown time unit 'fortnight'" "" "$PYTHON" scripts/ncu_table.py "$work/unit.csv"

# ---- profile.sh and benchmark.sh: commands and option errors
bash scripts/profile.sh --dry-run -b 8 -t 512 --optim muon --attention cublas >"$work/profile.txt" 2>&1
has profile/dry_run_ncu "$work/profile.txt" "ncu --profile-from-start off --nvtx --metrics gpu__time_duration.sum,dram__bytes.sum,dram__throughput.avg.pct_of_peak_sustained_elapsed,sm__warps_active.avg.pct_of_peak_sustained_active --export runs/profile_b8_t512/step --force-overwrite ./profile_gpt2 -e d12 -b 8 -t 512 --optim muon --attention cublas "
has profile/dry_run_export "$work/profile.txt" "ncu --import runs/profile_b8_t512/step.ncu-rep --csv --page raw --print-units base --print-kernel-base function > runs/profile_b8_t512/kernels.csv"
[ ! -e runs/profile_b8_t512 ] && pass profile/dry_run_creates_nothing || fail profile/dry_run_creates_nothing "runs/profile_b8_t512 exists"
expect_one_line_error profile/error_batch "-b wants a positive integer" "" bash scripts/profile.sh -b 0
expect_one_line_error profile/error_option "unknown option '--bogus'" "" bash scripts/profile.sh --bogus

env -u PEER_PYTHON bash scripts/benchmark.sh --dry-run >"$work/bench.txt" 2>&1
n=$(grep -c '^\./train_gpt2cu -e d12 -b 64 -t 1024 -d 65536 -x 25 -v 0 --optim ' "$work/bench.txt")
[ "$n" -eq 6 ] && pass benchmark/dry_run_six_optimizers || fail benchmark/dry_run_six_optimizers "$n trainer commands at B=64: $(head -c 300 "$work/bench.txt")"
has benchmark/dry_run_peer "$work/bench.txt" "python3 dev/torch_gpt2_peer.py -b 64 -t 1024 --steps 20 --warmup 5"
bash scripts/benchmark.sh --dry-run -b 16 --steps 10 --warmup 2 --optims "sgd muon" --no-peer -- -r 1 >"$work/bench2.txt" 2>&1
printf 'make train_gpt2cu\n./train_gpt2cu -e d12 -b 16 -t 1024 -d 16384 -x 12 -v 0 --optim sgd -r 1\n./train_gpt2cu -e d12 -b 16 -t 1024 -d 16384 -x 12 -v 0 --optim muon -r 1\n' >"$work/bench2.want"
cmp -s "$work/bench2.txt" "$work/bench2.want" && pass benchmark/dry_run_options || fail benchmark/dry_run_options "$(diff "$work/bench2.txt" "$work/bench2.want" | head -n 6)"
# A whole benchmark with a stand-in trainer and peer: B=64 fails, so B=32; per run 5 warm-up steps
# of 500 ms, then timed steps of 100 and 300 ms at MFU 60% and 20% (the same work): mean 200 ms,
# 32768 / 0.2 s = 163840 tokens/s at MFU 30.0%; the peer's 81920 tokens/s are 0.5x that.
cat >"$work/fake_trainer" <<'FAKE'
#!/usr/bin/env bash
b=0 x=0
while [ $# -gt 0 ]; do case "$1" in -b) b=$2; shift 2 ;; -x) x=$2; shift 2 ;; *) shift ;; esac; done
[ "$b" -eq 64 ] && { echo "error: not enough GPU memory" >&2; exit 1; }
for ((i = 1; i <= x; i++)); do
    if [ $i -le 5 ]; then ms=500.0 mfu=12.0%; elif [ $((i % 2)) -eq 0 ]; then ms=100.0 mfu=60.0%; else ms=300.0 mfu=20.0%; fi
    printf 'step %4d/%d | loss 10.000000 | lr 6.000e-04 | norm 1.0000 | %s ms | 1 tok/s | MFU %s\n' $i $x $ms $mfu
done
FAKE
printf '#!/usr/bin/env bash\necho "peer tokens_per_s=81920.0 ms_per_step=400.00 B=32 T=1024 compile=1 fused_adamw=1 device=fake"\n' >"$work/fake_python"
chmod +x "$work/fake_trainer" "$work/fake_python"
PEER_PYTHON="$work/fake_python" bash scripts/benchmark.sh --bin "$work/fake_trainer" --optims "adamw muon" --out "$work/bench" \
    >"$work/bench_run.txt" 2>&1
rc=$?
[ $rc -eq 0 ] && pass benchmark/fake_run_exit || fail benchmark/fake_run_exit "exit $rc: $(tail -n 3 "$work/bench_run.txt")"
has benchmark/fake_run_batch "$work/bench_run.txt" "d12, B=32, T=1024: 5 warm-up + 20 timed steps per run"
has benchmark/fake_run_adamw "$work/bench/benchmark.md" "| train_gpt2cu adamw | 163840 | 30.0% | 2.00x |"
has benchmark/fake_run_muon "$work/bench/benchmark.md" "| train_gpt2cu muon | 163840 | 30.0% | 2.00x |"
has benchmark/fake_run_peer "$work/bench/benchmark.md" "| PyTorch peer (compile=1, AdamW) | 81920 | 15.0% | 1.00x |"
expect_one_line_error benchmark/error_batch "-b wants a positive integer, got 'x'" "" bash scripts/benchmark.sh -b x
expect_one_line_error benchmark/error_seq_len "-t wants an integer in 1..1024" "" bash scripts/benchmark.sh -t 2048
expect_one_line_error benchmark/error_optimizer "unknown optimizer 'adam'" "" bash scripts/benchmark.sh --optims adam
expect_one_line_error benchmark/error_option "unknown option '--fast'" "" bash scripts/benchmark.sh --fast

# ---- bench_cpu.sh (no timed runs here): --dry-run commands, the llm.c peer skipped or
#      patched, option errors
bash scripts/bench_cpu.sh --dry-run --models d2 --seqs 64 --rounds 1 --llmc "$work/no_llmc" >"$work/bcpu.txt" 2>&1
has bench_cpu/dry_run_skips_llmc "$work/bcpu.txt" "== llm.c peer skipped: no llm.c checkout at '$work/no_llmc' (give one with --llmc DIR)"
has bench_cpu/dry_run_ours "$work/bcpu.txt" "./train_gpt2cpu -e d2 -b 4 -t 64 -x 7 -v 0 -i data/tinyshakespeare/tiny_shakespeare_train.bin --optim adamw --profile-kernels"
has bench_cpu/dry_run_torch "$work/bcpu.txt" "$PYTHON dev/torch_gpt2_peer.py --device cpu --no-compile -b 4 -t 64 --steps 5 --warmup 2 --n-layer 2 --n-head 4 --n-embd 64 --shard data/tinyshakespeare/tiny_shakespeare_train.bin"
has bench_cpu/dry_run_ceiling "$work/bcpu.txt" "build/sgemm_peak 2048 2"
mkdir -p "$work/fake_llmc/llmc" && : >"$work/fake_llmc/train_gpt2.c"
bash scripts/bench_cpu.sh --dry-run --models d6 --seqs 256 -b 2 --steps 4 --warmup 1 --no-torch --llmc "$work/fake_llmc" >"$work/bcpu2.txt" 2>&1
subst="substitute in build/bench_cpu/llmc_d6_256/train_gpt2.c:"
has bench_cpu/dry_run_llmc_seq "$work/bcpu2.txt" "$subst 'int T = 64;' -> 'int T = 256;'"
has bench_cpu/dry_run_llmc_steps "$work/bcpu2.txt" "$subst 'step <= 40;' -> 'step <= 4;'"
has bench_cpu/dry_run_llmc_model "$work/bcpu2.txt" "$subst '\"gpt2_124M.bin\"' -> '\"$repo/build/bench_cpu/model_d6/model_00000001.bin\"'"
has bench_cpu/dry_run_model_file "$work/bcpu2.txt" "./train_gpt2cpu -e d6 -b 2 -t 64 -x 1 -v 0 -i data/tinyshakespeare/tiny_shakespeare_train.bin -o build/bench_cpu/model_d6"
has bench_cpu/dry_run_no_torch "$work/bcpu2.txt" "== PyTorch peer skipped: --no-torch"
expect_one_line_error bench_cpu/error_model "unknown model 'd7'" "" bash scripts/bench_cpu.sh --dry-run --models d7
expect_one_line_error bench_cpu/error_batch "-b wants a positive integer, got 'x'" "" bash scripts/bench_cpu.sh -b x
expect_one_line_error bench_cpu/error_seq "--seqs wants integers in 1..1024, got '2048'" "" bash scripts/bench_cpu.sh --seqs 2048
expect_one_line_error bench_cpu/error_option "unknown option '--fast'" "" bash scripts/bench_cpu.sh --fast

# ---- the PyTorch peer on the CPU: tiny model, 1 warm-up + 2 timed steps
if "$PYTHON" -c 'import torch' 2>/dev/null; then
    "$PYTHON" dev/torch_gpt2_peer.py --device cpu -b 2 -t 32 --steps 2 --warmup 1 --n-layer 2 --n-head 2 --n-embd 32 \
        --vocab 256 >"$work/peer.txt" 2>&1
    rc=$?
    line=$(grep '^peer ' "$work/peer.txt")
    if [ $rc -eq 0 ] && [[ "$line" =~ ^peer\ tokens_per_s=[0-9.]+\ ms_per_step=[0-9.]+\ B=2\ T=32\ compile=[01]\ fused_adamw=[01]\ dtype=fp32\ threads=[0-9]+\ device=cpu$ ]]; then
        pass peer/cpu_tiny "($line)"
    else
        fail peer/cpu_tiny "exit $rc: $(tail -n 3 "$work/peer.txt")"
    fi
    n=$(grep -c '^step [0-9]/3 loss [0-9.]* ' "$work/peer.txt")
    [ "$n" -eq 3 ] && pass peer/steps_logged || fail peer/steps_logged "$n step lines, want 3"
    if ! "$PYTHON" -c 'import torch, sys; sys.exit(0 if hasattr(torch, "compile") else 1)'; then
        grep -q '^note: torch .* has no torch.compile: running eagerly$' "$work/peer.txt" && pass peer/no_compile_note ||
            fail peer/no_compile_note "no note about the missing torch.compile"
    fi
    expect_one_line_error peer/error_heads "error: --n-head must divide --n-embd" "" "$PYTHON" dev/torch_gpt2_peer.py --device cpu --n-head 5
else
    echo "SKIP peer/cpu_tiny: $PYTHON has no torch"
fi

# ---- train_gpt2cu under the CUDA emulator: --profile-kernels, --attention (d2: head size 16)
ts="$shared/tinyshakespeare"
emu=build/emu/bf16/train_gpt2cu
if [ ! -f "$ts/tiny_shakespeare_train.bin" ]; then
    echo "SKIP emu_trainer: no Tiny Shakespeare shards in $shared"
elif ! ${MAKE:-make} --no-print-directory "$emu" >"$work/emu_build.log" 2>&1; then
    fail emu_trainer/build "make $emu failed: $(grep -m 3 error "$work/emu_build.log")"
else
    export OMP_WAIT_POLICY=passive
    data=(-i "$ts/tiny_shakespeare_train.bin" -j "$ts/tiny_shakespeare_val.bin")
    "$emu" -e d2 -b 2 -t 64 -d 128 -x 3 -v 0 "${data[@]}" --profile-kernels >"$work/prof.txt" 2>&1
    rc=$?
    [ $rc -eq 0 ] && pass emu_trainer/profile_kernels_exit || fail emu_trainer/profile_kernels_exit "exit $rc: $(tail -n 2 "$work/prof.txt")"
    grep -q '^model d2: .*; cuBLAS attention$' "$work/prof.txt" && pass emu_trainer/auto_attention_head_size_16 ||
        fail emu_trainer/auto_attention_head_size_16 "d2 (head size 16) does not report the cuBLAS attention"
    has emu_trainer/profile_table_title "$work/prof.txt" "per-phase GPU time (CUDA events), mean over 2 steps after the first:"
    for row in "forward/block \\*/attention \\| 2" "backward/block \\*/mlp \\| 2" "forward/classifier \\| 1" "optimizer/grad_norm \\| 1" \
               "optimizer/adamw \\| 1" "\\(outside the phases\\) \\| "; do
        name="emu_trainer/profile_row/$(echo "$row" | tr -d '\\|()*' | tr -s ' ' '_' | sed 's/_$//')"
        grep -qE "^\\| $row" "$work/prof.txt" && pass "$name" || fail "$name" "no row matching '$row'"
    done
    # phases must not overlap: then no share is negative, the time outside them included
    negative=$(awk -F'|' '/^\| / && $5 ~ /%/ { gsub(/[ %]/, "", $5); if ($5 < 0) print $2 }' "$work/prof.txt")
    [ -z "$negative" ] && pass emu_trainer/profile_shares_not_negative || fail emu_trainer/profile_shares_not_negative "negative share: $negative"
    "$emu" -e d2 -b 2 -t 64 -d 128 -x 1 -v 0 "${data[@]}" >"$work/noprof.txt" 2>&1
    grep -q 'per-phase GPU time' "$work/noprof.txt" && fail emu_trainer/no_table_by_default "a table without --profile-kernels" ||
        pass emu_trainer/no_table_by_default
    expect_one_line_error emu_trainer/error_flash_head_size "--attention flash needs the bf16 build, head size 64 and compute capability 8.0\\+; this model has head size 16" "" \
        "$emu" -e d2 -b 2 -t 64 -d 128 -x 1 -v 0 "${data[@]}" --attention flash
    expect_one_line_error emu_trainer/error_attention_value "--attention wants auto\\|flash\\|cublas, got 'fast'" "" "$emu" --attention fast
fi

if [ $failures -eq 0 ]; then rm -rf "$work"; else echo "(outputs kept in $work)"; fi
exit $((failures > 0))

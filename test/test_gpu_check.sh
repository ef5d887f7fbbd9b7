#!/usr/bin/env bash
# scripts/gpu_check.sh (the one device call of a GPU session) and `make gpu-kit`, before they
# ever meet a GPU:
#   - the plan (--dry-run): every step in priority order, d12 B=64 T=1024 without accumulation
#     or checkpoint, ncu with --clock-control none; nothing written; option errors;
#   - the kit: binaries, oracle, peer, scripts and data staged as plain files (no symlinks),
#     the data byte-identical, its size printed, the 64 MiB limit enforced;
#   - the machinery on stand-in binaries: PASS/FAIL counts, tok/s means after the warm-up steps,
#     the peer ratio, a step killed by its timeout, a step skipped when the budget is spent;
#   - the libs step on stand-in ELF binaries: a library that only a fake PyTorch wheel folder
#     holds is found through it, one that nothing holds is one SKIP and its steps are skipped;
#   - end to end from the staged kit against the emulated binaries (build/emu/bf16, test/cuda_emu)
#     with a tiny model: every step ok, the summary on one screen, only small files under OUT.
#   test/test_gpu_check.sh [SHARED_DATA_DIR]    (the kit and emulated parts SKIP without the data)
set -uo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
shared="${1:-../shared/data}"
PYTHON="${PYTHON:-/usr/bin/python3}"
check_script=scripts/gpu_check.sh
mkdir -p build/test_gpu_check
work=$(mktemp -d build/test_gpu_check/run.XXXXXX)
work=$(cd "$work" && pwd)
source test/lib.sh
finish() {
    if [ $failures -eq 0 ]; then rm -rf "$work"; else echo "(outputs kept in $work)"; fi
    exit $((failures > 0))
}
check() { local name=$1 why=$2; shift 2; if "$@"; then pass "$name"; else fail "$name" "$why"; fi; }
has() { grep -qE -- "$2" "$1"; }

# ---- the plan
bash "$check_script" --dry-run --out "$work/dry_out" >"$work/plan.txt" 2>&1
rc=$?
check gpu_check/dry_run_exit "exit $rc: $(head -c 200 "$work/plan.txt")" [ $rc -eq 0 ]
check gpu_check/dry_run_creates_nothing "'$work/dry_out' exists after --dry-run" [ ! -e "$work/dry_out" ]
order=$(awk 'NR > 1 { printf "%s ", $1 }' "$work/plan.txt")
want="env build libs oracle cuda_vs_oracle flash_model dev_cuda nccl_pn1 speed_adamw speed_sgd speed_signsgd speed_signum speed_lion speed_muon optimizer_bench torch_peer ncu "
check gpu_check/plan_order "steps '$order', want '$want'" [ "$order" = "$want" ]
check gpu_check/plan_d12_speed "no 'train_gpt2cu -e d12 -b 64 -t 1024 -d 65536' (no accumulation) in the speed step" \
    has "$work/plan.txt" '^speed_adamw .*train_gpt2cu -e d12 -b 64 -t 1024 -d 65536 -x 20 -v 0 -s 0 -i .* --optim adamw$'
check gpu_check/plan_no_checkpoint "a trainer command writes outputs (-o)" bash -c "! grep -E '^speed_.* -o ' '$work/plan.txt'"
check gpu_check/plan_ncu_clock "the ncu step lacks --clock-control none" has "$work/plan.txt" '^ncu .*ncu --clock-control none '
check gpu_check/plan_peer_same_bt "the peer does not run at -b 64 -t 1024" has "$work/plan.txt" '^torch_peer .*torch_gpt2_peer.py -b 64 -t 1024 '
check gpu_check/plan_build_all "the build step misses a binary" \
    has "$work/plan.txt" '^build .*make -j16 train_gpt2cu build/test_gpt2_cuda build/test_flash_model profile_gpt2 dev$'
bash "$check_script" --dry-run --prebuilt "$work" --only "speed" >"$work/plan_only.txt" 2>&1
check gpu_check/only_speed "--only speed: $(awk '{ printf "%s ", $1 }' "$work/plan_only.txt")" \
    [ "$(awk 'NR > 1 { printf "%s ", $1 }' "$work/plan_only.txt")" = "env libs speed_adamw speed_sgd speed_signsgd speed_signum speed_lion speed_muon " ]
expect_one_line_error gpu_check/unknown_option "unknown option '--bogus'" "" bash "$check_script" --bogus
expect_one_line_error gpu_check/unknown_step "unknown step 'flash'" "" bash "$check_script" --only flash --dry-run
expect_one_line_error gpu_check/bad_budget "--budget wants a positive number" "" bash "$check_script" --budget 0 --dry-run
expect_one_line_error gpu_check/missing_prebuilt "is not a directory" "" bash "$check_script" --prebuilt "$work/none" --dry-run

# ---- the machinery, on stand-ins: a test with a FAIL, trainer step lines, a peer line
fake="$work/fake"
mkdir -p "$fake/dev"
printf '#!/bin/sh\necho "PASS a"; echo "PASS b"; echo "FAIL cuda/grad/wte: rel err 1 (tol 0.02)"; exit 1\n' >"$fake/test_gpt2_cuda"
printf '#!/bin/sh\nsleep 60\n' >"$fake/test_flash_model"
printf '#!/bin/sh\necho "PASS k1"; echo "PASS k2"\n' >"$fake/dev/k"
# steps 1-3 are warm-up; the mean of steps 4-5 is 1500 tok/s, 150 ms, MFU 15%
cat >"$fake/train_gpt2cu" <<'EOF'
#!/bin/sh
for s in "1 9000 900" "2 10 100" "3 10 100" "4 1000 100" "5 2000 200"; do
    set -- $s
    echo "step    $1/5 | loss 10.500000 | lr 6.000e-04 | norm 1.0000 | $3.0 ms | $2 tok/s | MFU $(($3 / 10)).0%"
done
EOF
cat >"$work/fake_python" <<EOF
#!/bin/sh
case "\$*" in
    *torch_gpt2_peer.py*) echo "peer tokens_per_s=1200 ms_per_step=1.0 B=64 T=1024 compile=1 fused_adamw=1 device=fake" ;;
    *"import torch"*) echo "torch (stand-in)" ;; # the env step, without torch's slow import
    *) exec $PYTHON "\$@" ;;
esac
EOF
chmod +x "$fake"/* "$fake/dev/k" "$work/fake_python"
PYTHON="$work/fake_python" bash "$check_script" --prebuilt "$fake" --only "cuda_vs_oracle dev_cuda speed torch_peer" \
    --out "$work/fake_out" >"$work/fake.txt" 2>&1
rc=$?
sum="$work/fake_out/summary.txt"
check gpu_check/fake_exit_on_failure "exit $rc, want 1 (a test FAILed)" [ $rc -eq 1 ]
check gpu_check/fake_summary_file "no $sum" [ -s "$sum" ]
check gpu_check/fake_counts "$(grep '^cuda_vs_oracle' "$sum")" has "$sum" '^cuda_vs_oracle +FAIL .* 2 PASS, 1 FAIL: cuda/grad/wte'
check gpu_check/fake_dev_counts "$(grep '^dev_cuda' "$sum")" has "$sum" '^dev_cuda +ok .* 1 checks: 2 PASS, 0 FAIL'
check gpu_check/fake_speed_mean "$(grep '^speed_adamw' "$sum")" \
    has "$sum" '^speed_adamw +ok .* 1500 tok/s, MFU 15.0%, 150.0 ms/step \(mean of 2 steps after 3\)'
check gpu_check/fake_peer_ratio "$(grep '^torch_peer' "$sum")" has "$sum" '^torch_peer +ok .*train_gpt2cu/peer 1.25x'
check gpu_check/fake_failures_listed "the FAIL line is not repeated under the table" has "$sum" '^  FAIL cuda/grad/wte'
check gpu_check/fake_log_has_steps "the log lacks a step's header" \
    bash -c "grep -q '^==== cuda_vs_oracle' '$work/fake_out/gpu_check.log' && grep -q '^==== speed_muon' '$work/fake_out/gpu_check.log'"
check gpu_check/fake_summary_in_stdout "stdout lacks the summary" has "$work/fake.txt" '^step +verdict +s +result'
# a step over the budget is killed by its timeout, the next one is skipped
start=$(date +%s)
PYTHON="$work/fake_python" bash "$check_script" --prebuilt "$fake" --only "flash_model dev_cuda" --budget 14 --out "$work/fake_out2" >"$work/fake2.txt" 2>&1
rc=$? took=$(( $(date +%s) - start ))
sum2="$work/fake_out2/summary.txt"
check gpu_check/timeout_killed "$(grep '^flash_model' "$sum2")" has "$sum2" '^flash_model +TIMEOUT +[0-9]+ +killed after'
check gpu_check/budget_skips "$(grep '^dev_cuda' "$sum2")" has "$sum2" '^dev_cuda +skipped .*budget spent'
check gpu_check/budget_respected "took $took s for a 14 s budget, exit $rc" [ "$took" -le 25 ] && [ $rc -eq 1 ]

# ---- the libs step, on stand-in ELF binaries: test_gpt2_cuda needs libfakewheel.so.1, which only
# a fake PyTorch CUDA wheel folder (nvidia/fakewheel/lib, on PYTHONPATH) holds; test_flash_model
# and dev/k2 need libnowhere.so.1, which nothing holds. With the wheel: test_gpt2_cuda runs, the
# libs step SKIPs naming libnowhere.so.1, flash_model is skipped, dev_cuda runs k alone, no FAIL.
# Without it: libfakewheel.so.1 is named too and cuda_vs_oracle is skipped.
libs="$work/libs"
mkdir -p "$libs/bin/dev" "$libs/site/nvidia/fakewheel/lib" "$libs/gone"
printf 'int fake_wheel(void) { return 7; }\n' >"$libs/wheel.c"
printf 'int nowhere(void) { return 1; }\n' >"$libs/nowhere.c"
printf '#include <stdio.h>\nint fake_wheel(void);\nint main(void) { printf("PASS elf/wheel %%d\\n", fake_wheel()); return 0; }\n' >"$libs/uses_wheel.c"
printf '#include <stdio.h>\nint nowhere(void);\nint main(void) { printf("PASS elf/nowhere %%d\\n", nowhere()); return 0; }\n' >"$libs/uses_nowhere.c"
cc=${CC:-cc}
if ! "$cc" -shared -fPIC -Wl,-soname,libfakewheel.so.1 -o "$libs/site/nvidia/fakewheel/lib/libfakewheel.so.1" "$libs/wheel.c" 2>"$libs/cc.err" ||
   ! "$cc" -shared -fPIC -Wl,-soname,libnowhere.so.1 -o "$libs/gone/libnowhere.so.1" "$libs/nowhere.c" 2>>"$libs/cc.err" ||
   ! "$cc" -o "$libs/bin/test_gpt2_cuda" "$libs/uses_wheel.c" "$libs/site/nvidia/fakewheel/lib/libfakewheel.so.1" 2>>"$libs/cc.err" ||
   ! "$cc" -o "$libs/bin/test_flash_model" "$libs/uses_nowhere.c" "$libs/gone/libnowhere.so.1" 2>>"$libs/cc.err"; then
    echo "SKIP gpu_check/libs: no C compiler to build the stand-ins ($(head -c 200 "$libs/cc.err"))"
else
    cp "$libs/bin/test_flash_model" "$libs/bin/dev/k2"
    rm -rf "$libs/gone" # libnowhere.so.1 is now nowhere
    printf '#!/bin/sh\necho "PASS k1"\n' >"$libs/bin/dev/k"
    chmod +x "$libs/bin/dev/k"
    steps="cuda_vs_oracle flash_model dev_cuda"
    env -u LD_LIBRARY_PATH PYTHONPATH="$libs/site" PYTHON="$PYTHON" bash "$check_script" --prebuilt "$libs/bin" --only "$steps" --out "$work/libs_out" >"$work/libs.txt" 2>&1
    rc=$?
    sum="$work/libs_out/summary.txt"
    check gpu_check/libs_exit_0 "exit $rc, want 0 (a missing library is a SKIP, not a FAIL): $(tail -n 6 "$work/libs.txt")" [ $rc -eq 0 ]
    check gpu_check/libs_skip_names_library "$(grep '^libs' "$sum")" \
        has "$sum" '^libs +SKIP +0 +missing libnowhere\.so\.1 \(needed by test_flash_model k2\); their steps skipped$'
    check gpu_check/libs_one_skip_line "$(grep -c SKIP "$sum") SKIP lines, $(grep -cE ' (FAIL|TIMEOUT) ' "$sum") FAIL/TIMEOUT" \
        [ "$(grep -c SKIP "$sum")" = 1 ] && [ "$(grep -cE ' (FAIL|TIMEOUT) ' "$sum")" = 0 ]
    check gpu_check/libs_wheel_folder_used "$(grep '^cuda_vs_oracle' "$sum")" has "$sum" '^cuda_vs_oracle +ok .* 1 PASS, 0 FAIL'
    check gpu_check/libs_step_skipped "$(grep '^flash_model' "$sum")" has "$sum" '^flash_model +skipped +0 +test_flash_model lacks a library \(see libs\)'
    check gpu_check/libs_dev_check_left_out "$(grep '^dev_cuda' "$sum")" has "$sum" '^dev_cuda +ok .* 1 checks: 1 PASS, 0 FAIL'
    check gpu_check/libs_logged "the log does not name the wheel folder" has "$work/libs_out/gpu_check.log" "LD_LIBRARY_PATH: $libs/site/nvidia/fakewheel/lib"
    env -u LD_LIBRARY_PATH PYTHON="$PYTHON" bash "$check_script" --prebuilt "$libs/bin" --only "$steps" --out "$work/libs_out2" >"$work/libs2.txt" 2>&1
    rc=$?
    sum="$work/libs_out2/summary.txt"
    check gpu_check/libs_without_wheel "exit $rc: $(grep -E '^(libs|cuda_vs_oracle) ' "$sum" | tr '\n' ' ')" \
        bash -c "[ $rc -eq 0 ] && grep -qE '^libs +SKIP +0 +missing libfakewheel\.so\.1 libnowhere\.so\.1 ' '$sum' && grep -qE '^cuda_vs_oracle +skipped .*test_gpt2_cuda lacks a library' '$sum'"
fi

# ---- the kit
if [ ! -r "$shared/tinyshakespeare/tiny_shakespeare_train.bin" ] && [ ! -r data/tinyshakespeare/tiny_shakespeare_train.bin ]; then
    echo "SKIP gpu_check/kit: no Tiny Shakespeare shards in $shared or data/"
    finish
fi
kit="$work/kit"
# the already built train_gpt2cu as the kit's trainer: the kit's own two trainer builds are nvcc
# runs of minutes, and what is checked here is the kit's assembly
"${MAKE:-make}" --no-print-directory gpu-kit GPU_KIT="$kit" KIT_TRAINER=train_gpt2cu KIT_NCCL_TRAINER= >"$work/kit.txt" 2>&1
rc=$?
check gpu_check/kit_exit "exit $rc: $(tail -n 3 "$work/kit.txt")" [ $rc -eq 0 ]
check gpu_check/kit_size_printed "$(tail -n 2 "$work/kit.txt")" has "$work/kit.txt" '^gpu kit: .*, [0-9]+ files, [0-9.]+ MiB \(limit 64 MiB\)$'
missing=""
for f in bin/train_gpt2cu bin/test_gpt2_cuda bin/test_flash_model bin/profile_gpt2 bin/dev/encoder bin/dev/optimizers \
         scripts/gpu_check.sh scripts/ncu_table.py test/gpt2_oracle.py test/named_tensors.py dev/torch_gpt2_peer.py VERSION \
         data/tinyshakespeare/tiny_shakespeare_train.bin data/tinyshakespeare/tiny_shakespeare_val.bin data/gpt2_tokenizer.bin; do
    [ -f "$kit/$f" ] || missing="$missing $f"
done
check gpu_check/kit_files "missing:$missing" [ -z "$missing" ]
check gpu_check/kit_no_symlinks "symlinks: $(find "$kit" -type l 2>/dev/null | head -n 3)" [ -z "$(find "$kit" -type l 2>/dev/null)" ]
check gpu_check/kit_data_identical "a staged shard differs from data/" \
    bash -c "cmp -s data/tinyshakespeare/tiny_shakespeare_train.bin '$kit/data/tinyshakespeare/tiny_shakespeare_train.bin' && cmp -s data/gpt2_tokenizer.bin '$kit/data/gpt2_tokenizer.bin'"
check gpu_check/kit_dev_complete "$(ls "$kit/bin/dev" 2>/dev/null | wc -l) dev checks staged, $(ls dev/cuda/*.cu | wc -l) in dev/cuda" \
    [ "$(ls "$kit/bin/dev" 2>/dev/null | wc -l)" -eq "$(ls dev/cuda/*.cu | wc -l)" ]
KIT_TRAINER=train_gpt2cu KIT_NCCL_TRAINER= GPU_KIT_LIMIT=1000 bash scripts/make_gpu_kit.sh "$work/kit_small" >/dev/null 2>"$work/kit_small.err"
rc=$?
check gpu_check/kit_over_limit_fails "exit $rc: $(cat "$work/kit_small.err")" \
    bash -c "[ $rc -eq 2 ] && grep -q 'over the device tool.s 64 MiB carry limit' '$work/kit_small.err'"
check gpu_check/kit_plan_finds_itself "the kit's plan does not use its bin/ and data/" \
    bash -c "bash '$kit/scripts/gpu_check.sh' --dry-run | grep -q '^speed_adamw .*$kit/bin/train_gpt2cu .* -i $kit/bin/../data/tinyshakespeare/'"

# ---- end to end from the kit, on the emulated binaries, with a tiny model
emu=build/emu/bf16
for b in train_gpt2cu test_gpt2_cuda test_flash_model dev/encoder dev/matmul; do
    "${MAKE:-make}" --no-print-directory "$emu/$b" >>"$work/emu_build.log" 2>&1 || fail "gpu_check/emu_build" "make $emu/$b failed"
done
start=$(date +%s)
OUT="$work/emu_out" PYTHON="$PYTHON" bash "$kit/scripts/gpu_check.sh" --emulated --prebuilt "$emu" --dev "encoder matmul" \
    >"$work/emu.txt" 2>&1
rc=$? took=$(( $(date +%s) - start ))
sum="$work/emu_out/summary.txt"
check gpu_check/emu_exit "exit $rc after $took s: $(tail -n 12 "$work/emu.txt")" [ $rc -eq 0 ]
check gpu_check/emu_labelled "the summary does not say EMULATED" has "$sum" '^gpu_check .* EMULATED'
for s in env build libs oracle cuda_vs_oracle flash_model dev_cuda speed_adamw speed_sgd speed_signsgd speed_signum speed_lion speed_muon torch_peer; do
    check "gpu_check/emu_step/$s" "$(grep "^$s " "$sum" || echo 'no line')" has "$sum" "^$s +ok "
done
check gpu_check/emu_model_test_ran "$(grep '^cuda_vs_oracle' "$sum")" has "$sum" '^cuda_vs_oracle +ok .* [1-9][0-9]* PASS, 0 FAIL'
check gpu_check/emu_speed_figures "$(grep '^speed_adamw' "$sum")" has "$sum" '^speed_adamw +ok .* [0-9]+ tok/s, MFU n/a'
check gpu_check/emu_peer_ratio "$(grep '^torch_peer' "$sum")" has "$sum" 'train_gpt2cu/peer [0-9.]+x'
check gpu_check/emu_one_screen "$(wc -l <"$sum") summary lines" [ "$(wc -l <"$sum")" -le 24 ]
files=$(ls "$work/emu_out")
check gpu_check/emu_small_outputs "OUT holds: $(echo $files)" bash -c "[ '$(echo $files)' = 'gpu_check.log summary.txt' ] && [ \$(du -sk '$work/emu_out' | cut -f1) -lt 16384 ]"
echo "emulated gpu_check took $took s"
finish

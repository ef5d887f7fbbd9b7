#!/usr/bin/env bash
# scripts/compare_optimizers.sh and scripts/plot_runs.py: the sweep's --dry-run commands
# (binary, flags per optimizer and per mode, one directory per run, nothing created), its
# option errors, and the plot of real short CPU runs (main.log only) and of a hand-written
# metrics.jsonl fixture (tokens, phi, targets, best lr), plus the plot's input errors.
#   test/test_scripts.sh [SHARED_DATA_DIR]     (the real runs SKIP when it is absent)
set -uo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
shared="${1:-../shared/data}"
PYTHON="${PYTHON:-/usr/bin/python3}"
export PYTHON
sweep=scripts/compare_optimizers.sh
plot=scripts/plot_runs.py
# A directory of its own, so two `make test` at once do not collide; kept only on failure.
mkdir -p build/test_scripts
work=$(mktemp -d build/test_scripts/run.XXXXXX)

source test/lib.sh
# finish: removes the work directory when everything passed, and exits 1 on a failure.
finish() {
    if [ $failures -eq 0 ]; then rm -rf "$work"; else echo "(outputs kept in $work)"; fi
    exit $((failures > 0))
}
# check NAME WHY COMMAND...: PASS when COMMAND succeeds, else FAIL with WHY.
check() { local name=$1 why=$2; shift 2; if "$@"; then pass "$name"; else fail "$name" "$why"; fi; }

# ---- the sweep's --dry-run
dry="$work/dry_out"
bash "$sweep" --dry-run --out "$dry" >"$work/dry.txt" 2>"$work/dry.err"
rc=$?
grep -v -e 'plot_runs.py' -e '^#' "$work/dry.txt" >"$work/dry_train.txt"
check sweep/dry_run_exit "exit $rc: $(head -c 200 "$work/dry.err")" [ $rc -eq 0 ]
check sweep/dry_run_creates_nothing "'$dry' exists after --dry-run" [ ! -e "$dry" ]
n=$(wc -l <"$work/dry_train.txt")
check sweep/dry_run_18_runs "$n trainer commands, want 6 optimizers x 3 lrs" [ "$n" -eq 18 ]
check sweep/dry_run_gpu_binary "not every command starts with ./train_gpt2cu -e d6 -b 16 -t 512 -d 8192 -x 200" \
    [ "$(grep -c '^\./train_gpt2cu -e d6 -b 16 -t 512 -d 8192 -x 200 ' "$work/dry_train.txt")" -eq 18 ]
for o in sgd signsgd signum muon adamw lion; do
    k=$(grep -cE -- "--optim $o .* -o $dry/${o}_lr[0-9.e-]+$" "$work/dry_train.txt")
    [ "$k" -eq 3 ] || fail sweep/dry_run_dirs "$o has $k commands with -o $dry/${o}_lr<lr>, want 3"
done
dirs=$(grep -oE -- "-o [^ ]+$" "$work/dry_train.txt" | sort -u | wc -l)
check sweep/dry_run_one_dir_per_run "$dirs distinct -o dirs" [ "$dirs" -eq 18 ]
same() { grep -- "--optim $1 " "$work/dry_train.txt" | grep -oE -- "-l [^ ]+" | tr '\n' ' '; }
check sweep/dry_run_lr_grid "sgd grid is '$(same sgd)'" [ "$(same sgd)" = "-l 3e-3 -l 1e-2 -l 3e-2 " ]
check sweep/dry_run_sgd_momentum "sgd runs lack --momentum 0.9, or others have it" \
    [ "$(grep -c -- '--optim sgd --momentum 0.9 --nesterov 0 ' "$work/dry_train.txt")" -eq 3 -a "$(grep -c -- '--momentum' "$work/dry_train.txt")" -eq 3 ]
check sweep/dry_run_same_seed "not every run has --seed 42" [ "$(grep -c -- '--seed 42 ' "$work/dry_train.txt")" -eq 18 ]
plot_line=$(grep 'plot_runs.py' "$work/dry.txt")
check sweep/dry_run_plot_command "plot line: $plot_line" \
    [ "$(echo "$plot_line" | grep -o "$dry/[a-z]*_lr[0-9.e-]*" | wc -l)" -eq 18 -a -n "$(echo "$plot_line" | grep -- "-o $dry/compare.png --summary $dry/summary.md")" ]

bash "$sweep" --cpu --dry-run --out "$dry" >"$work/cpu.txt" 2>&1
check sweep/dry_run_cpu "--cpu commands: $(head -1 "$work/cpu.txt")" \
    [ "$(grep -c '^\./train_gpt2cpu -e d2 -b 4 -t 64 -x 30 ' "$work/cpu.txt")" -eq 18 ]
# Validation every 5% of the steps (steps to target resolves to 1/20 of the run), in every mode.
check sweep/dry_run_val_often "--cpu: $(grep -c -- ' -x 30 .*-v 2 ' "$work/cpu.txt"), gpu: $(grep -c -- ' -x 200 .*-v 10 ' "$work/dry_train.txt")" \
    [ "$(grep -c -- ' -x 30 .*-v 2 ' "$work/cpu.txt")" -eq 18 -a "$(grep -c -- ' -x 200 .*-v 10 ' "$work/dry_train.txt")" -eq 18 ]
# Muon's fallback AdamW rate moves with muon's rate: the ratio of the grids' centers (cpu 1e-2 / 1e-1).
muon_rates=$(grep -- '--optim muon' "$work/cpu.txt" | grep -oE -- '--fallback-lr [^ ]+ -l [^ ]+' | tr '\n' ' ')
check sweep/dry_run_muon_fallback_moves "$muon_rates" \
    [ "$muon_rates" = "--fallback-lr 0.003 -l 3e-2 --fallback-lr 0.01 -l 1e-1 --fallback-lr 0.03 -l 3e-1 " ]
bash "$sweep" --optims muon --fallback-ratio 0.5 --lr muon=2e-2 --dry-run --out "$dry" >"$work/ratio.txt" 2>&1
check sweep/dry_run_fallback_ratio "$(head -1 "$work/ratio.txt")" grep -q -- '--optim muon --fallback-lr 0.01 -l 2e-2 ' "$work/ratio.txt"
# fmuon and smuon (docs/fanions.md): muon's fallback rule, their own grid keys alpha and sscale, and
# --fallback-lr holding the fallback's rate for every muon-like run.
bash "$sweep" --cpu --optims "muon fmuon smuon" --lr muon=1e-1 --lr fmuon=2e-1 --lr smuon=2e-1 --dry-run --out "$dry" >"$work/fan.txt" 2>&1
fan_rates=$(grep -oE -- '--optim [a-z]+ --fallback-lr [^ ]+ -l [^ ]+' "$work/fan.txt" | tr '\n' ' ')
check sweep/dry_run_fanion_fallback_moves "$fan_rates" \
    [ "$fan_rates" = "--optim muon --fallback-lr 0.01 -l 1e-1 --optim fmuon --fallback-lr 0.02 -l 2e-1 --optim smuon --fallback-lr 0.02 -l 2e-1 " ]
bash "$sweep" --cpu --optims "fmuon smuon" --fallback-lr 3e-3 --lr fmuon=2e-1 --lr smuon=2e-1 --grid-line alpha=0.25,0.75 \
    --grid-line smuon.sscale=0.01 --seeds 1 --seed 0 --dry-run --out "$dry" >"$work/fan_grid.txt" 2>&1
fan_runs=$(grep -oE -- '--optim .*' "$work/fan_grid.txt" | sed -E 's/ -b 4 .* -m 4 / /; s|-o [^ ]*/|-o |' | tr '\n' ';')
check sweep/dry_run_fanion_keys "$(head -c 600 "$work/fan_grid.txt")" [ "$fan_runs" = "$(printf '%s;' \
    "--optim fmuon --fallback-lr 3e-3 -l 2e-1 --fanion-alpha 0.25 -o fmuon_lr2e-1_a0.25_s0" \
    "--optim fmuon --fallback-lr 3e-3 -l 2e-1 --fanion-alpha 0.75 -o fmuon_lr2e-1_a0.75_s0" \
    "--optim smuon --fallback-lr 3e-3 -l 2e-1 --fanion-alpha 0.25 --smuon-sign-scale 0.01 -o smuon_lr2e-1_a0.25_ss0.01_s0" \
    "--optim smuon --fallback-lr 3e-3 -l 2e-1 --fanion-alpha 0.75 --smuon-sign-scale 0.01 -o smuon_lr2e-1_a0.75_ss0.01_s0")" ]
check sweep/dry_run_says_extension "no line about the grid extension" grep -q '^# then each grid of 2+ rates whose best .* at most 2 per optimizer (--extend)' "$work/dry.txt"

bash "$sweep" --paper --optims "sgd signsgd" --dry-run --out "$dry" >"$work/paper.txt" 2>&1
paper_ok=1
for flags in "-e d12" "-b 64 -t 512 -d 262144" "-x 10000" "-u 1000 --warmup-shape cos --warmup-init 0.01 -q 1e-6" "-c 0.1 --wd-on hidden" \
             "--grad-clip 1.0" '-i data/fineweb10B/fineweb_train_\*.bin' '-j data/fineweb10B/fineweb_val_\*.bin'; do
    k=$(grep -cF -- " $flags " "$work/paper.txt")
    [ "$k" -eq 6 ] || { paper_ok=0; fail sweep/dry_run_paper "'$flags' in $k of 6 commands"; }
done
grep -qF -- "--optim sgd --momentum 0.9 --nesterov 0 -l 1e-2 " "$work/paper.txt" || { paper_ok=0; fail sweep/dry_run_paper "no SGD run at the paper's lr 1e-2 with momentum 0.9"; }
grep -qF -- "--optim signsgd -l 1e-4 " "$work/paper.txt" || { paper_ok=0; fail sweep/dry_run_paper "no SignSGD run at the paper's lr 1e-4"; }
[ $paper_ok -eq 1 ] && pass sweep/dry_run_paper "(262144-token batches, 10000 steps, warmup 1000 cos from lr/100, cosine to lr/1e6, wd 0.1 hidden, clip 1)"

bash "$sweep" --optims "sgd signsgd" --steps 50 --lr signsgd=1e-3,2e-3 --extra "-v 5" --dry-run --out "$dry" -- -m 3 >"$work/opts.txt" 2>&1
check sweep/dry_run_options "--optims/--steps/--lr/--extra/-- not applied: $(head -c 300 "$work/opts.txt")" \
    [ "$(grep -c -- ' -x 50 .*-v 5 -m 3 -o ' "$work/opts.txt")" -eq 5 -a "$(grep -c -- ' -x ' "$work/opts.txt")" -eq 5 \
      -a "$(grep -c -- "--optim signsgd -l [12]e-3 .* -o $dry/signsgd_lr[12]e-3$" "$work/opts.txt")" -eq 2 ]

# ---- the sweep's option errors: exit 2, one line on stderr, nothing run
expect_sweep_error() { local name=$1 pattern=$2; shift 2; expect_one_line_error "sweep/$name" "$pattern" "$work/err_out" bash "$sweep" --out "$work/err_out" "$@"; }
expect_sweep_error unknown_option "unknown option '--bogus'" --bogus
expect_sweep_error unknown_optimizer "unknown optimizer 'adam'" --optims "sgd adam"
expect_sweep_error steps_zero "--steps wants a positive integer" --steps 0
expect_sweep_error steps_text "--steps wants a positive integer, got 'abc'" --steps abc
expect_sweep_error missing_value "--steps needs a value" --steps
if ! nvidia-smi -L >/dev/null 2>&1; then   # the GPU modes check for a GPU once, up front
    expect_sweep_error gpu_mode_needs_gpu "mode 'gpu' trains with train_gpt2cu and nvidia-smi finds no CUDA GPU" --optims sgd
fi
expect_sweep_error bad_lr "'abc' is not a learning rate" --lr sgd=abc
expect_sweep_error lr_unknown_optimizer "--lr: unknown optimizer 'foo'" --lr foo=1e-3
expect_sweep_error missing_binary "not found or not executable" --cpu --bin "$work/no_such_trainer"
expect_sweep_error bad_extend "--extend wants a non-negative integer, got 'x'" --extend x
expect_sweep_error bad_fallback_ratio "--fallback-ratio wants a positive number, got 'big'" --fallback-ratio big
expect_sweep_error seeds_zero "--seeds wants a positive integer \(runs per point\), got '0'" --seeds 0
expect_sweep_error seeds_text "--seeds wants a positive integer \(runs per point\), got '3x'" --seeds 3x
expect_sweep_error bad_seed_mode "--seed-mode wants both, init or data, got 'weights'" --seed-mode weights
expect_sweep_error grid_missing_file "--grid: cannot read '.*no_such.grid'" --grid "$work/no_such.grid"
expect_sweep_error grid_bad_line "--grid: 'lr' is not KEY=V1,V2,..." --grid-line lr
expect_sweep_error grid_unknown_key "--grid: unknown key 'eps'" --grid-line eps=1e-8
expect_sweep_error grid_unknown_optimizer "--grid: unknown optimizer 'adam'" --grid-line adam.lr=1e-3
expect_sweep_error grid_key_unused "--grid: signsgd does not use momentum" --grid-line signsgd.momentum=0.9
expect_sweep_error grid_bad_value "--grid: 'fast' in 'wd=0,fast' is not a number" --grid-line wd=0,fast
expect_sweep_error grid_lr_zero "--grid: '0' in 'sgd.lr=0,1' is not a learning rate" --grid-line sgd.lr=0,1
expect_sweep_error grid_repeated_value "--grid: '1e-3' appears twice" --grid-line lr=1e-3,1e-3
expect_sweep_error grid_alpha_not_muon "--grid: muon does not use alpha" --grid-line muon.alpha=0.5
expect_sweep_error fallback_lr_and_ratio "--fallback-lr and --fallback-ratio both set" --fallback-lr 3e-3 --fallback-ratio 0.1
expect_sweep_error bad_fallback_lr "--fallback-lr wants a learning rate \(a positive number\), got '0'" --fallback-lr 0
expect_sweep_error grid_unequal_trials "--grid gives the optimizers different numbers of trials \(sgd 6, signsgd 3\)" --optims "sgd signsgd" --grid-line sgd.momentum=0.8,0.9

# ---- the grid extension, with a stand-in trainer whose final val loss is 3 + log10(lr / 0.05)^2
cat >"$work/fake_trainer" <<'FAKE'
#!/usr/bin/env bash
lr="" out=""
while [ $# -gt 0 ]; do case $1 in -l) lr=$2; shift ;; -o) out=$2; shift ;; esac; shift; done
awk -v lr="$lr" 'BEGIN { d = log(lr / 0.05) / log(10); printf "s:0 tel:11.0000\ns:0 trl:11.0000\ns:1 trl:%.4f\ns:2 tel:%.4f\n", 3 + d * d, 3 + d * d }' >"$out/main.log"
echo "fake run lr $lr"
FAKE
chmod +x "$work/fake_trainer"
# sgd: best on the high edge twice, then inside (3e-2 beats 1e-2 and 0.09); lion: on the low edge
# after the limit of 2 (0.5 1.5 -> 0.166667 -> 0.0555557, %g of 0.166667/3); adamw: --lr of one value, never extended.
bash "$sweep" --cpu --bin "$work/fake_trainer" --optims "sgd lion adamw" --lr sgd=1e-3,3e-3,1e-2 --lr lion=0.5,1.5 --lr adamw=0.05 \
    --out "$work/extend" >"$work/extend.out" 2>&1
rc=$?
ran() { ls -d "$work/$1/$2"_lr* 2>/dev/null | sed "s|.*_lr||" | sort -g | tr '\n' ' '; }
check sweep/extend_runs "exit $rc: $(tail -3 "$work/extend.out")" [ $rc -eq 0 ]
check sweep/extend_high_edge "sgd ran '$(ran extend sgd)'" [ "$(ran extend sgd)" = "1e-3 3e-3 1e-2 0.03 0.09 " ]
check sweep/extend_low_edge_limit "lion ran '$(ran extend lion)'" [ "$(ran extend lion)" = "0.0555557 0.166667 0.5 1.5 " ]
check sweep/extend_single_lr_kept "adamw ran '$(ran extend adamw)'" [ "$(ran extend adamw)" = "0.05 " ]
check sweep/extend_edge_note "$(grep note "$work/extend/summary.md")" \
    grep -qx "note: lion: best lr 0.0555557 is still on the low edge after 2 extension(s) (--extend)" "$work/extend/summary.md"
check sweep/extend_no_note_inside "a note for sgd or adamw" bash -c "! grep -qE 'note: (sgd|adamw)' '$work/extend/summary.md'"
check sweep/extend_plotted "$(grep -cE '^\| (sgd|lion|adamw) \|' "$work/extend/summary.md") of 10 runs in the table" \
    [ "$(grep -cE '^\| (sgd|lion|adamw) \|' "$work/extend/summary.md")" -eq 10 ]
bash "$sweep" --cpu --bin "$work/fake_trainer" --optims sgd --lr sgd=1e-3,3e-3 --extend 0 --out "$work/extend0" >/dev/null 2>&1
check sweep/extend_off "sgd ran '$(ran extend0 sgd)'; $(grep note "$work/extend0/summary.md")" \
    grep -qx "note: sgd: best lr 0.003 is on the high edge of its grid" "$work/extend0/summary.md"

# ---- a finished run is reused only when it ran the same command line and trainer binary
# (DIR/.finished, scripts/run_record.sh); else it reruns with a note, and the table shows what ran.
# The stand-in writes -x train lines and a final val loss of 3 + steps/100 + seed/1000.
cat >"$work/steps_trainer" <<'FAKE'
#!/usr/bin/env bash
x=1 seed=0 out=""
while [ $# -gt 0 ]; do case $1 in -x) x=$2; shift ;; --seed) seed=$2; shift ;; -o) out=$2; shift ;; esac; shift; done
awk -v x="$x" -v seed="$seed" 'BEGIN { for (i = 0; i < x; i++) printf "s:%d trl:%.4f\n", i, 5 - i / 100
                                       printf "s:%d tel:%.4f\n", x, 3 + x / 100 + seed / 1000 }' >"$out/main.log"
echo "stand-in run of $x steps, seed $seed"
FAKE
chmod +x "$work/steps_trainer"
reuse() { bash "$sweep" --cpu --bin "$work/steps_trainer" --optims sgd --lr sgd=1e-2 --extend 0 --out "$work/reuse" "$@" >"$work/reuse.out" 2>&1; }
reuse_row() { grep -E '^\| sgd \|' "$work/reuse/summary.md" | tr -s ' '; }
reuse --steps 3
check sweep/reuse_first_run "$(tail -2 "$work/reuse.out")" grep -q '^command: .*steps_trainer .* -x 3 .*-o .*reuse/sgd_lr1e-2$' "$work/reuse/sgd_lr1e-2/.finished"
reuse --steps 3
check sweep/reuse_same_command_skips "$(head -2 "$work/reuse.out")" grep -q '^== skip .*sgd_lr1e-2 (finished earlier with this command and binary' "$work/reuse.out"
reuse --steps 6; rc=$?
check sweep/reuse_other_steps_reruns "exit $rc; $(grep -m1 -E '^(note|==)' "$work/reuse.out"); row: $(reuse_row)" \
    bash -c "[ $rc -eq 0 ] && grep -q '^note: rerunning .*sgd_lr1e-2: it ran another command: .* -x 3 ' '$work/reuse.out' \
             && [ \"\$(grep -c ' trl:' '$work/reuse/sgd_lr1e-2/main.log')\" -eq 6 ] && grep -qE '^\| sgd \| 0.01 \| yes \| 3.1020 \| [0-9.]+ \| 6 \|' '$work/reuse/summary.md'"
reuse --steps 6 --seed 7
check sweep/reuse_other_seed_reruns "$(grep -m1 -E '^(note|==)' "$work/reuse.out"); row: $(reuse_row)" \
    bash -c "grep -q '^note: rerunning .*: it ran another command: .*--seed 42 ' '$work/reuse.out' && grep -qE '^\| sgd \| 0.01 \| yes \| 3.0670 \|' '$work/reuse/summary.md'"
echo "# another build" >>"$work/steps_trainer"
reuse --steps 6 --seed 7
check sweep/reuse_other_binary_reruns "$(grep -m1 -E '^(note|==)' "$work/reuse.out")" \
    grep -q "^note: rerunning .*: it ran another build of .*steps_trainer" "$work/reuse.out"
other_kernels=Haswell; [ "${OPENBLAS_CORETYPE:-}" = Haswell ] && other_kernels=Zen
OPENBLAS_CORETYPE=$other_kernels reuse --steps 6 --seed 7  # another kernel set: another machine for the record
check sweep/reuse_other_machine_reruns "$(grep -m1 -E '^(note|==)' "$work/reuse.out")" \
    grep -q "^note: rerunning .*: it ran on another machine (.*OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-}; GPU: .*), whose BLAS kernels may differ" "$work/reuse.out"
reuse --steps 6 --seed 7  # back on this machine (the rerun recorded the other kernels)
printf '' >"$work/reuse/sgd_lr1e-2/.finished"   # an older sweep's bare marker
reuse --steps 6 --seed 7
check sweep/reuse_bare_marker_reruns "$(grep -m1 -E '^(note|==)' "$work/reuse.out")" \
    grep -q "^note: rerunning .*: its .finished does not record its command, binary and machine" "$work/reuse.out"

# ---- --seeds: every point N times in OUT/<optim>_lr<lr>_s<seed>/, an interrupted study resumes
# (only the unfinished run reruns), and the summary has each optimizer's mean and interval and the
# paired difference to sgd. The stand-in's final val loss 3 + 6/100 + seed/1000: 3.060, 3.061, 3.062
# (mean 3.061, sd 0.001, 95% half-width 4.303 x 0.001 / sqrt 3 = 0.0025), the same for both rules.
seeds_sweep() { bash "$sweep" --cpu --bin "$work/steps_trainer" --optims "sgd signsgd" --lr sgd=1e-2 --lr signsgd=1e-3 --extend 0 \
                     --steps 6 --seeds 3 --seed 0 --out "$work/seeds" "$@" >"$work/seeds.out" 2>&1; }
seeds_sweep; rc=$?
got=$(cd "$work/seeds" 2>/dev/null && LC_ALL=C ls -d *_s* | tr '\n' ' ')
check sweep/seeds_dirs "exit $rc, dirs '$got'" [ $rc -eq 0 -a "$got" = "sgd_lr1e-2_s0 sgd_lr1e-2_s1 sgd_lr1e-2_s2 signsgd_lr1e-3_s0 signsgd_lr1e-3_s1 signsgd_lr1e-3_s2 " ]
check sweep/seeds_summary "$(grep -E '^\| sgd \| lr|^- signsgd' "$work/seeds/summary.md")" \
    bash -c "grep -qF '| sgd | lr=0.01 | 1 | 3 | 3.0610 +- 0.0025 |' '$work/seeds/summary.md' \
             && grep -qF -- '- signsgd - sgd = +0.0000 +- 0.0000 nats, 3 seeds: no difference detected' '$work/seeds/summary.md' \
             && grep -qF '| 0.01 (3 seeds) | yes | 3.0610 |' '$work/seeds/summary.md'"
rm "$work/seeds/signsgd_lr1e-3_s1/.finished"
seeds_sweep; rc=$?
check sweep/seeds_resume "exit $rc, $(grep -c '^== skip' "$work/seeds.out") skips, runs: $(grep '^== run' "$work/seeds.out" | grep -o -- '-o .*' | tr '\n' ' ')" \
    bash -c "[ $rc -eq 0 ] && [ \$(grep -c '^== skip' '$work/seeds.out') -eq 5 ] && [ \$(grep -c '^== run' '$work/seeds.out') -eq 1 ] \
             && grep -q '^== run .* -o .*signsgd_lr1e-3_s1$' '$work/seeds.out'"
# A run that another sweep is running (DIR/.running: this host and a live process, here this test) is
# left to it: not deleted, not rerun, not in this sweep's summary.
rm "$work/seeds/sgd_lr1e-2_s2/.finished"; echo "$(hostname) $$" >"$work/seeds/sgd_lr1e-2_s2/.running"
seeds_sweep; rc=$?
check sweep/seeds_busy_left_alone "exit $rc, $(grep -E '^== (busy|run)' "$work/seeds.out" | head -2 | tr '\n' ' ')" \
    bash -c "[ $rc -eq 0 ] && grep -q '^== busy .*sgd_lr1e-2_s2 (another sweep, process $$, is running it)' '$work/seeds.out' \
             && [ \$(grep -c '^== run' '$work/seeds.out') -eq 0 ] && [ -e '$work/seeds/sgd_lr1e-2_s2/main.log' ]"
rm "$work/seeds/sgd_lr1e-2_s2/.running"
bash "$sweep" --cpu --dry-run --optims sgd --lr sgd=1e-2 --seeds 2 --seed 5 --seed-mode data --out "$work/sm" >"$work/seed_mode.txt" 2>&1
check sweep/seed_mode_data "$(grep -o -- '--seed .* --optim\|-o .*' "$work/seed_mode.txt" | tr '\n' ' ')" \
    bash -c "grep -q -- '--seed 5 --optim sgd .* -o $work/sm/sgd_lr1e-2_s5$' '$work/seed_mode.txt' \
             && grep -q -- '--seed 5 --data-seed 6 --optim sgd .* -o $work/sm/sgd_lr1e-2_s5_d6$' '$work/seed_mode.txt'"

# ---- --grid FILE: the cartesian product per optimizer, a key only where the rule uses it, the same
# number of trials for every optimizer, and the summary's trials and best-point positions
cat >"$work/study.grid" <<'GRID'
# a search space as a paper would publish it
sgd.lr = 1e-2, 3e-2
signsgd.lr = 1e-3, 3e-3
wd = 0, 0.1
momentum = 0.9    # sgd only (signsgd has none)
GRID
bash "$sweep" --cpu --bin "$work/fake_trainer" --optims "sgd signsgd" --grid "$work/study.grid" --extend 0 --out "$work/grid" >"$work/grid.out" 2>&1; rc=$?
got=$(cd "$work/grid" 2>/dev/null && LC_ALL=C ls -d *_lr* | tr '\n' ' ')
check sweep/grid_points "exit $rc, dirs '$got'" [ $rc -eq 0 -a "$got" = "sgd_lr1e-2_wd0.1_mom0.9 sgd_lr1e-2_wd0_mom0.9 sgd_lr3e-2_wd0.1_mom0.9 sgd_lr3e-2_wd0_mom0.9 signsgd_lr1e-3_wd0 signsgd_lr1e-3_wd0.1 signsgd_lr3e-3_wd0 signsgd_lr3e-3_wd0.1 " ]
check sweep/grid_flags "$(grep -o -- '--optim sgd.*' "$work/grid/sgd_lr3e-2_wd0.1_mom0.9/.finished")" \
    grep -q -- '--optim sgd --momentum 0.9 --nesterov 0 -l 3e-2 -c 0.1 --momentum 0.9 -o ' "$work/grid/sgd_lr3e-2_wd0.1_mom0.9/.finished"
# the stand-in's loss is lowest at lr 0.05: sgd's best lr 3e-2 (the high edge), signsgd's 3e-3 (high edge)
check sweep/grid_trials "$(grep '^- s' "$work/grid/summary.md" | tr '\n' ' ')" \
    bash -c "grep -qF -- '- sgd: 4 trials (grid points), best lr=0.03 wd=0; lr 0.03: 2 of 2 (high edge); wd 0: 1 of 2 (low edge)' '$work/grid/summary.md' \
             && grep -qF -- '- signsgd: 4 trials (grid points), best lr=0.003 wd=0; lr 0.003: 2 of 2 (high edge)' '$work/grid/summary.md'"

# The reproduction the same way: --steps 6 over 4-step runs reruns all five, and reproduction.md
# lists the commands each run recorded above a table of what they wrote.
reproduce() { bash scripts/reproduce_signsgd_paper.sh --scale cpu --bin "$work/steps_trainer" --out "$work/repro_reuse" "$@" >"$work/repro_reuse.out" 2>&1; }
reproduce --steps 4
reproduce --steps 6; rc=$?
md="$work/repro_reuse/reproduction.md"
check repro/reuse_other_steps_reruns "exit $rc, $(grep -c '^note: rerunning .*: it ran another command: .* -x 4 ' "$work/repro_reuse.out") notes; md: $(grep -c -- ' -x 6 .*# [0-9]* s$' "$md") commands -x 6, $(grep -c -- ' -x 4 ' "$md") -x 4, $(grep -cE '^\| (sgd|signsgd|signum|muon|adamw) \| .* \| 3\.1020 \|' "$md") rows at 3.1020" \
    bash -c "[ $rc -eq 0 ] && [ \$(grep -c '^note: rerunning .*: it ran another command: .* -x 4 ' '$work/repro_reuse.out') -eq 5 ] \
             && [ \$(grep -c -- ' -x 6 .*# [0-9]* s\$' '$md') -eq 5 ] && [ \$(grep -c -- ' -x 4 ' '$md') -eq 0 ] \
             && [ \$(grep -cE '^\| (sgd|signsgd|signum|muon|adamw) \| .* \| 3\.1020 \|' '$md') -eq 5 ]"
# A third call reuses all five; the md's commands and times are read from each run's .finished.
sed -i 's/^seconds: .*/seconds: 4321/' "$work/repro_reuse/sgd/.finished"
reproduce --steps 6; rc=$?
check repro/reuse_md_from_records "exit $rc, $(grep -c '^== skip' "$work/repro_reuse.out") skips; sgd line: $(grep -- '--optim sgd' "$md" | grep -o '# .*')" \
    bash -c "[ $rc -eq 0 ] && [ \$(grep -c '^== skip' '$work/repro_reuse.out') -eq 5 ] && grep -q -- '--optim sgd .* # 4321 s\$' '$md'"

# ---- scripts/reproduce_signsgd_paper.sh: --dry-run of both scales, option errors
repro=scripts/reproduce_signsgd_paper.sh
bash "$repro" --scale paper --dry-run --out "$dry" >"$work/repro_paper.txt" 2>"$work/repro_paper.err"
rc=$?
check repro/dry_run_exit "exit $rc: $(head -c 200 "$work/repro_paper.err")" [ $rc -eq 0 ]
check repro/dry_run_creates_nothing "'$dry' exists after --dry-run" [ ! -e "$dry" ]
grep '^\./train_gpt2cu ' "$work/repro_paper.txt" >"$work/repro_paper_train.txt"
optims_run=$(grep -oE -- '--optim [a-z]+ ' "$work/repro_paper_train.txt" | tr '\n' ' ')
check repro/dry_run_five_optimizers "$optims_run" [ "$optims_run" = "--optim sgd  --optim signsgd  --optim signum  --optim muon  --optim adamw  " ]
paper_ok=1
for flags in "-e d12 -b 64 -t 512 -d 262144" "-x 10000 -u 1000 --warmup-shape cos --warmup-init 0.01 -q 1e-6 --schedule cosine --grad-clip 1.0 -c 0.1 --wd-on hidden" \
             "--seed 42" '-i data/fineweb10B/fineweb_train_\*.bin'; do
    k=$(grep -cF -- " $flags " "$work/repro_paper_train.txt")
    [ "$k" -eq 5 ] || { paper_ok=0; fail repro/dry_run_paper_protocol "'$flags' in $k of 5 commands"; }
done
[ $paper_ok -eq 1 ] && pass repro/dry_run_paper_protocol "(d12, T 512, 262144-token batches, 10k steps, warmup 1k cos from lr/100, cosine to lr/1e6, clip 1, wd 0.1 hidden)"
check repro/dry_run_paper_sgd "$(grep -- '--optim sgd' "$work/repro_paper_train.txt" | grep -oE -- '--optim .*')" \
    grep -qF -- "--optim sgd -l 1e-2 --momentum 0.9 --nesterov 0 --noise-every 1 --noise-batches 128 --noise-windows 0:100\,500:600\,1000:1100\,2000:2100\,3000:3100\,5000:5100\,9900:10000 -o $dry/sgd" "$work/repro_paper_train.txt"
check repro/dry_run_paper_signsgd "$(grep -- '--optim signsgd' "$work/repro_paper_train.txt" | grep -oE -- '--optim .*')" \
    grep -qE -- "--optim signsgd -l 1e-4 -o $dry/signsgd$" "$work/repro_paper_train.txt"
check repro/dry_run_noise_on_sgd_only "$(grep -c -- '--noise-every' "$work/repro_paper_train.txt") commands measure noise" \
    [ "$(grep -c -- '--noise-every' "$work/repro_paper_train.txt")" -eq 1 ]
check repro/dry_run_plot "$(tail -1 "$work/repro_paper.txt")" \
    grep -qF "scripts/plot_runs.py $dry/sgd $dry/signsgd $dry/signum $dry/muon $dry/adamw -o $dry/reproduction.png --summary $dry/runs.md --phi-span 100" "$work/repro_paper.txt"
bash "$repro" --scale cpu --dry-run --out "$dry" >"$work/repro_cpu.txt" 2>&1
check repro/dry_run_cpu "$(head -1 "$work/repro_cpu.txt")" \
    [ "$(grep -c -- '^\./train_gpt2cpu -e d4 -b 8 -t 128 .*-i data/fineweb_sample/fineweb_edu_sample_train.bin .*-x 100 -u 10 --warmup-shape cos --warmup-init 0.01 -q 1e-6 .*-c 0.1 --wd-on hidden ' "$work/repro_cpu.txt")" -eq 5 ]
check repro/dry_run_cpu_windows "$(grep -oE -- '--noise-every.*windows [^ ]+' "$work/repro_cpu.txt")" \
    grep -qF -- "--noise-every 1 --noise-batches 32 --noise-windows 0:5\,5:10\,10:15\,20:25\,30:35\,50:55\,95:100 " "$work/repro_cpu.txt"
# --steps keeps the protocol's proportions: warmup 10%, windows at 0, 5, 10, 20, 30, 50% and the end.
bash "$repro" --scale paper --steps 1000 --dry-run --out "$dry" >"$work/repro_steps.txt" 2>&1
check repro/dry_run_steps "$(head -1 "$work/repro_steps.txt" | grep -oE -- '-x [0-9]+ -u [0-9]+|--noise-every.*windows [^ ]+')" \
    grep -qF -- "-x 1000 -u 100 --warmup-shape cos --warmup-init 0.01 -q 1e-6 --schedule cosine --grad-clip 1.0 -c 0.1 --wd-on hidden -v 25 -s 0 --seed 42 --optim sgd -l 1e-2 --momentum 0.9 --nesterov 0 --noise-every 1 --noise-batches 128 --noise-windows 0:10\,50:60\,100:110\,200:210\,300:310\,500:510\,990:1000 " "$work/repro_steps.txt"
bash "$repro" --scale cpu --steps 2 --dry-run --out "$dry" >"$work/repro_steps2.txt" 2>&1
check repro/dry_run_steps_windows_apart "$(grep -oE -- '--noise-windows [^ ]+' "$work/repro_steps2.txt")" \
    grep -qF -- "--noise-every 1 --noise-batches 32 --noise-windows 0:1\,1:2 " "$work/repro_steps2.txt"
expect_repro_error() { local name=$1 pattern=$2; shift 2; expect_one_line_error "repro/$name" "$pattern" "$work/repro_err" bash "$repro" --out "$work/repro_err" "$@"; }
expect_repro_error no_scale "give --scale paper or --scale cpu"
expect_repro_error bad_scale "--scale wants paper or cpu, got 'gpu'" --scale gpu
expect_repro_error bad_steps "--steps wants a positive integer, got '0'" --scale cpu --steps 0
expect_repro_error unknown_option "unknown option '--bogus'" --scale cpu --bogus
expect_repro_error bad_seeds "--seeds wants a positive integer \(runs per optimizer\), got '-1'" --scale cpu --seeds -1
expect_repro_error bad_seed_mode "--seed-mode wants both, init or data, got 'all'" --scale cpu --seed-mode all
# --seeds 2: two runs per optimizer in OUT/<optim>_s<seed>/, phi on the first seed's sgd run only
bash "$repro" --scale cpu --dry-run --seeds 2 --out "$dry" >"$work/repro_seeds.txt" 2>&1
check repro/dry_run_seeds "$(grep -c -- '--optim' "$work/repro_seeds.txt") commands, $(grep -c -- '--noise-every' "$work/repro_seeds.txt") with noise" \
    bash -c "[ \$(grep -c -- '--optim' '$work/repro_seeds.txt') -eq 10 ] && [ \$(grep -c -- '--noise-every' '$work/repro_seeds.txt') -eq 1 ] \
             && grep -q -- '--seed 43 --optim signsgd .* -o $dry/signsgd_s43$' '$work/repro_seeds.txt' \
             && grep -q -- '--seed 42 --optim sgd .*--noise-every .* -o $dry/sgd_s42$' '$work/repro_seeds.txt'"
expect_repro_error missing_binary "trainer '.*no_such' not found" --scale cpu --bin "$work/no_such"
if ! nvidia-smi -L >/dev/null 2>&1; then
    expect_repro_error paper_needs_gpu "--scale paper trains with train_gpt2cu and nvidia-smi finds no CUDA GPU" --scale paper
fi

# ---- plot_runs.py: input errors (exit 2, one stderr line)
expect_plot_error() { local name=$1 pattern=$2; shift 2; expect_one_line_error "plot/$name" "$pattern" "$work/$name.png" "$PYTHON" "$plot" -o "$work/$name.png" "$@"; }
mkdir -p "$work/bad/empty_dir" "$work/bad/empty_log" "$work/bad/garbage_log" "$work/bad/bad_json"
: >"$work/bad/empty_log/main.log"
printf 's:1 trl:10.5\nhello world\n' >"$work/bad/garbage_log/main.log"
printf '{"type":"config","flags":{"optim":"sgd","lr":0.01},"tokens_per_step":256}\n{"type":"train","step":1}\n' >"$work/bad/bad_json/metrics.jsonl"
expect_plot_error no_runs "no run directories"
expect_plot_error missing_dir "is not a directory" "$work/bad/no_such_run"
expect_plot_error empty_dir "neither main.log nor metrics.jsonl" "$work/bad/empty_dir"
expect_plot_error empty_log "no train or val loss lines" "$work/bad/empty_log"
expect_plot_error garbage_log "main.log:2: expected 's:STEP" "$work/bad/garbage_log"
expect_plot_error bad_json "metrics.jsonl:2: bad record" "$work/bad/bad_json"
expect_plot_error bad_option "unrecognized arguments: --bogus" --bogus "$work/bad/empty_log"
# Bytes that are not UTF-8 (a corrupt or binary file) name the file and line; never a traceback.
mkdir -p "$work/bad/latin1_log" "$work/bad/binary_metrics"
printf 's:0 trl:10.5\ns:1 trl:10.4 caf\xe9\n' >"$work/bad/latin1_log/main.log"
printf '{"type":"config"}\n\x89PNG\r\n\x1a\n\x00\x00\xff\xd8{"type":\n' >"$work/bad/binary_metrics/metrics.jsonl"
expect_plot_error non_utf8_log "main.log:2: not UTF-8 text \(byte 0xe9 at column 17\)" "$work/bad/latin1_log"
expect_plot_error binary_metrics "metrics.jsonl:2: not UTF-8 text \(byte 0x89 at column 1\)" "$work/bad/binary_metrics"
printf '{"type":"config","flags":[1]}\n{"type":"train","step":1e400,"loss":1}\n' >"$work/bad/bad_json/metrics.jsonl"
expect_plot_error odd_json "metrics.jsonl:1: bad record \(AttributeError" "$work/bad/bad_json"
printf '{"type":"train","step":1e400,"loss":1}\n' >"$work/bad/bad_json/metrics.jsonl"
expect_plot_error huge_step "metrics.jsonl:1: bad record \(OverflowError" "$work/bad/bad_json"
# Steps as the trainer counts them (updates made): a 4-step run is "4" with or without its final
# validation (a train record at s:3 is the 4th update); a train loss reaches a target after S + 1.
mkdir -p "$work/steps/final_val" "$work/steps/no_final_val" "$work/steps/train_only"
printf 's:0 tel:11.0\ns:0 trl:11.0\ns:1 trl:10.9\ns:2 trl:10.8\ns:3 trl:10.7\ns:4 tel:10.6\n' >"$work/steps/final_val/main.log"
printf 's:0 tel:11.0\ns:0 trl:11.0\ns:1 trl:10.9\ns:2 trl:10.8\ns:3 trl:10.7\n' >"$work/steps/no_final_val/main.log"
printf 's:0 trl:11.0\ns:1 trl:10.9\ns:2 trl:10.8\ns:3 trl:10.7\n' >"$work/steps/train_only/main.log"
"$PYTHON" "$plot" "$work/steps/final_val" "$work/steps/no_final_val" -o "$work/steps.png" >"$work/steps.out" 2>&1
"$PYTHON" "$plot" "$work/steps/train_only" --smooth 0 --target 10.85 -o "$work/steps.png" >>"$work/steps.out" 2>&1
check plot/steps_as_the_trainer_counts "$(grep -E '^\| (final|no_final|train_only)' "$work/steps.out" | tr '\n' ' ')" \
    bash -c "grep -qE '^\| final_val \| - \| (yes)? *\| 10.6000 \| [0-9.]+ \| 4 \|' '$work/steps.out' && grep -qE '^\| no_final_val \| - \| (yes)? *\| 11.0000 \| [0-9.]+ \| 4 \|' '$work/steps.out' \
             && grep -qE '^\| train_only \| - \| yes \| - \| 10.7000 \| 4 \| 3 \|' '$work/steps.out'"

# ---- every script's numeric arguments: a bad or missing value is one line, exit 2 (before any work)
args_error() { local name=$1 pattern=$2; shift 2; expect_one_line_error "script_args/$name" "$pattern" "" "$@"; }
args_error zero1_np_missing "--np needs a value" bash scripts/bench_zero1_memory.sh --np
args_error zero1_steps_not_a_number "--steps wants a positive integer, got 'abc'" bash scripts/bench_zero1_memory.sh --steps abc
args_error benchmark_b_empty "-b wants a positive integer, got ''" bash scripts/benchmark.sh --dry-run -b ''
args_error bench_cpu_seqs_empty "--seqs is empty" bash scripts/bench_cpu.sh --dry-run --seqs ''
args_error bench_cpu_models_empty "--models is empty" bash scripts/bench_cpu.sh --dry-run --models ' '
args_error phi_scaling_seed "--seed wants a non-negative integer, got 'abc'" bash scripts/phi_scaling.sh --seed abc
args_error phi_scaling_seq_len_zero "-t wants a positive integer, got '0'" bash scripts/phi_scaling.sh -t 0
args_error phi_scaling_k_zero "-k takes K1,K2,... \(positive integers\), got '4,0'" bash scripts/phi_scaling.sh -k 4,0
args_error phi_scaling_value_missing "--seed needs a value" bash scripts/phi_scaling.sh --seed
args_error sweep_lr_zero "--lr: '0' is not a learning rate" bash "$sweep" --dry-run --lr sgd=0
args_error sweep_fallback_ratio_zero "--fallback-ratio wants a positive number, got '0'" bash "$sweep" --dry-run --fallback-ratio 0
args_error plot_target_nan "--target must be a finite loss, got nan" "$PYTHON" "$plot" --target nan "$work/steps/final_val" -o "$work/args.png"
args_error plot_phi_span_inf "--phi-span must be at least 1 and finite, got inf" "$PYTHON" "$plot" --phi-span inf "$work/steps/final_val" -o "$work/args.png"
args_error comm_model_bandwidth_zero "--nvlink-gbs must be a positive number, got 0" "$PYTHON" scripts/comm_model.py --nvlink-gbs 0
args_error comm_model_gpus_per_node "--gpus-per-node must be a positive number, got -1" "$PYTHON" scripts/comm_model.py --gpus-per-node -1
args_error comm_model_not_an_int "argument --max-gpus: invalid int value: 'abc'" "$PYTHON" scripts/comm_model.py --max-gpus abc
args_error phi_bias_trials_zero "--vocab and --trials must be positive" "$PYTHON" scripts/phi_bias_model.py --trials 0
args_error phi_bias_k_one "--k at least 2" "$PYTHON" scripts/phi_bias_model.py --k 1
args_error phi_bias_not_an_int "argument --vocab: invalid int value: 'abc'" "$PYTHON" scripts/phi_bias_model.py --vocab abc

# is_png FILE: the 8-byte PNG signature and more than 10 kB.
is_png() { [ "$(head -c 8 "$1" 2>/dev/null | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a" ] && [ "$(stat -c %s "$1")" -gt 10000 ]; }

# ---- plot_runs.py on a hand-written metrics.jsonl fixture: 3 runs, tokens, phi, a stale main.log
"$PYTHON" - "$work/fixture" <<'EOF'
import json, os, sys
root = sys.argv[1]
# name: (optim, lr, val losses at steps 0, 10, 20, tokens field in records or derived from tokens_per_step)
runs = {"a": ("sgd", 0.01, [10, 6, 4], False), "b": ("sgd", 0.1, [10, 7, 6], False), "c": ("signsgd", 1e-4, [10, 5, 3], True)}
for name, (optim, lr, val, explicit_tokens) in runs.items():
    os.makedirs(f"{root}/{name}")
    with open(f"{root}/{name}/metrics.jsonl", "w") as f:
        w = lambda r: f.write(json.dumps(r) + "\n")
        w({"type": "config", "flags": {"optim": optim, "lr": lr, "b": 4, "t": 250}, "tokens_per_step": 1000, "device": "cpu"})
        for step in range(0, 20):  # llm.c's numbering: the update at step s has seen (s + 1) * 1000 tokens
            r = {"type": "train", "step": step, "loss": val[0] - (val[0] - val[2]) * (step + 1) / 20, "lr": lr, "grad_norm": 1.0, "ms": 200.0, "tokens_per_s": 5000.0}
            if explicit_tokens: r["tokens"] = (step + 1) * 1000
            w(r)
            if step % 5 == 0: w({"type": "noise", "step": step, "phi": 0.5 + 0.01 * step, "phi_per_tensor": [0.5] * 16,
                                 "mean_density": 0.25, "tail_index": None if step == 5 else 1.5, "batches": 8})
        for i, step in enumerate([0, 10, 20]):
            r = {"type": "val", "step": step, "loss": val[i]}
            if explicit_tokens: r["tokens"] = step * 1000
            w(r)
# d: another batch (2000 tokens per step), so a token axis is not a rescaled step axis.
# e: the same optimizer and lr as a (another flag set): its legend label must differ from a's.
# d's train records carry per-group update norms (as the trainers' -o writes them).
for name, (optim, lr, per_step) in {"d": ("adamw", 1e-3, 2000), "e": ("sgd", 0.01, 1000)}.items():
    os.makedirs(f"{root}/{name}")
    with open(f"{root}/{name}/metrics.jsonl", "w") as f:
        f.write(json.dumps({"type": "config", "flags": {"optim": optim, "lr": lr}, "tokens_per_step": per_step}) + "\n")
        for step in range(0, 20):
            norms = {"update_norm": {"wte": 0.5, "wpe": 0.1, "attn": 0.3, "mlp": 0.4, "norms": 0.0}} if name == "d" else {}
            f.write(json.dumps({"type": "train", "step": step, "loss": 9 - 0.1 * step, **norms}) + "\n")
        f.write(json.dumps({"type": "val", "step": 20, "loss": 5.0}) + "\n")
# A main.log with other numbers: the metrics.jsonl records must win.
with open(f"{root}/a/main.log", "w") as f:
    f.write("s:0 tel:99.0\ns:1 trl:99.0\ns:20 trl:99.0\ns:20 tel:99.0\n")
EOF
fx="$work/fixture"
"$PYTHON" "$plot" "$fx/a" "$fx/b" "$fx/c" -o "$work/fixture.png" --summary "$work/fixture.md" >"$work/fixture.out" 2>&1
rc=$?
check plot/fixture_runs "exit $rc: $(tail -2 "$work/fixture.out")" [ $rc -eq 0 ]
check plot/fixture_png "no PNG signature or under 10 kB" is_png "$work/fixture.png"
# Every run has 1000 tokens per step: token panels would repeat the step panels, so there are none.
check plot/fixture_panels "$(tail -1 "$work/fixture.out")" \
    grep -q "3 runs; panels train/step, val/step, phi/step, mean_density/step, tail_index/step$" "$work/fixture.out"
check plot/fixture_no_token_panels_note "$(grep note "$work/fixture.out")" \
    grep -qF "note: every run: 1k tokens per step (tokens = updates made x 1000: (S + 1) x 1000 after the update at s:S, S x 1000 at a validation at s:S), so no token panels" "$work/fixture.out"
# The noise table: one row per measurement, an undefined tail index as "-".
check plot/fixture_noise_table "$(grep -c '^| sgd lr=0.01 |' "$work/fixture.md") rows for run a" \
    [ "$(grep -c '^| sgd lr=0.01 |' "$work/fixture.md")" -eq 4 -a -n "$(grep -F '| sgd lr=0.01 | 5 | 0.5500 | 0.2500 | - | 8 | - |' "$work/fixture.md")" \
      -a -n "$(grep -F '| signsgd lr=0.0001 | 15 | 0.6500 | 0.2500 | 1.500 | 8 | - |' "$work/fixture.md")" ]
"$PYTHON" "$plot" "$fx/a" "$fx/d" "$fx/e" -o "$work/fixture_e.png" >"$work/fixture_e.out" 2>&1
check plot/fixture_token_panels_differing_batches "$(tail -1 "$work/fixture_e.out")" \
    grep -q "3 runs; panels train/step, val/step, train/tokens, val/tokens, phi/step, mean_density/step, tail_index/step, update_norm/step$" "$work/fixture_e.out"
check plot/fixture_same_labels_told_apart "$(grep -E '^\| sgd \|' "$work/fixture_e.out" | cut -d'|' -f2-3 | tr '\n' ' ')" \
    [ -n "$(grep -F '| sgd | 0.01 [a] |' "$work/fixture_e.out")" -a -n "$(grep -F '| sgd | 0.01 [e] |' "$work/fixture_e.out")" ]
# Default target: the median of the final val losses (4, 6, 3) = 4. a reaches it at step 20
# (20k tokens), b never, c at step 20. Best lr: sgd 0.01 (final val 4 < 6).
check plot/fixture_default_target "$(grep -m1 optimizer "$work/fixture.md")" grep -qF "steps to val loss <= 4.0000 |" "$work/fixture.md"
check plot/fixture_rows "rows: $(grep -E '^\| (sgd|signsgd) ' "$work/fixture.md" | tr '\n' ' ')" \
    grep -qF "| sgd | 0.01 | yes | 4.0000 | " "$work/fixture.md"
check plot/fixture_reached "row a: $(grep -F '| sgd | 0.01 |' "$work/fixture.md")" grep -qE '^\| sgd \| 0.01 \| yes \| 4.0000 \| [0-9.]+ \| 20 \| 20 \| 20k \| 5k \|$' "$work/fixture.md"
check plot/fixture_not_reached "row b: $(grep -F '| sgd | 0.1 |' "$work/fixture.md")" grep -qE '^\| sgd \| 0.1 \|  \| 6.0000 \| [0-9.]+ \| 20 \| not reached \| not reached \| 5k \|$' "$work/fixture.md"
check plot/fixture_metrics_win "main.log's 99.0 leaked into the table" bash -c "! grep -q '99\.0' '$work/fixture.md'"
check plot/fixture_summary_printed "the table was not printed" grep -qF "| signsgd | 0.0001 | yes | 3.0000 |" "$work/fixture.out"
"$PYTHON" "$plot" "$fx/a" "$fx/b" "$fx/c" --target 5.5 -o "$work/fixture_t.png" --summary "$work/fixture_t.md" >/dev/null 2>&1
check plot/fixture_explicit_target "row c: $(grep -F '| signsgd' "$work/fixture_t.md")" \
    grep -qE '^\| signsgd \| 0.0001 \| yes \| 3.0000 \| [0-9.]+ \| 20 \| 10 \| 10k \| 5k \|$' "$work/fixture_t.md"

# ---- main.log with the newer keys (lr, norm, tps), a skipped step and phi lines
mkdir -p "$work/newlog/signum_lr3e-4"
printf 's:0 tel:10.5\ns:0 trl:10.4 lr:1e-4 norm:1.5 tps:400\ns:1 skip:1\ns:2 trl:10.2 lr:3e-4 norm:1.2 tps:600\ns:3 phi:0.3\ns:3 tel:10.1\ns:3 eval:0.2500\n' \
    >"$work/newlog/signum_lr3e-4/main.log"
"$PYTHON" "$plot" "$work/newlog/signum_lr3e-4" -o "$work/newlog.png" >"$work/newlog.out" 2>&1
check plot/main_log_keys "$(cat "$work/newlog.out")" \
    grep -qE '^\| signum \| 0.0003 \| yes \| 10.1000 \| [0-9.]+ \| 3 \| 3 \| - \| 600 \|$' "$work/newlog.out"
check plot/main_log_skip_note "$(tail -2 "$work/newlog.out")" grep -q "skipped 1 non-finite step" "$work/newlog.out"
check plot/main_log_phi_panel "$(tail -1 "$work/newlog.out")" grep -q "panels train/step, val/step, phi/step, eval/step$" "$work/newlog.out"

# ---- the sweep for real on the CPU (3 short runs), then its picture and table
train="$shared/tinyshakespeare/tiny_shakespeare_train.bin"
val="$shared/tinyshakespeare/tiny_shakespeare_val.bin"
if [ ! -f "$train" ] || [ ! -f "$val" ]; then
    echo "SKIP sweep/real_cpu_runs: no Tiny Shakespeare shards in $shared"
    finish
fi
if ! ${MAKE:-make} --no-print-directory train_gpt2cpu >"$work/make.log" 2>&1; then
    fail sweep/real_cpu_runs "make train_gpt2cpu failed: $(tail -2 "$work/make.log")"
    finish
fi
real="$work/real"
bash "$sweep" --cpu --optims "sgd signsgd" --lr sgd=1e-2,3e-2 --lr signsgd=1e-3 --steps 6 --extend 0 --out "$real" \
    -- -v 3 -m 2 -i "$train" -j "$val" >"$work/real.out" 2>&1
rc=$?
check sweep/real_cpu_runs "exit $rc: $(tail -3 "$work/real.out")" [ $rc -eq 0 ]
logs_ok=1
for d in sgd_lr1e-2 sgd_lr3e-2 signsgd_lr1e-3; do
    [ "$(grep -c ' trl:' "$real/$d/main.log" 2>/dev/null)" = 6 ] && [ "$(grep -c ' tel:' "$real/$d/main.log")" = 3 ] \
        || { logs_ok=0; fail sweep/real_run_logs "$real/$d/main.log lacks 6 trl and 3 tel lines"; }
done
[ $logs_ok -eq 1 ] && pass sweep/real_run_logs "(3 runs in $real/<optim>_lr<lr>/)"
check sweep/real_models_removed "model or state files left behind" bash -c "! ls $real/*/model_*.bin $real/*/state_*.bin >/dev/null 2>&1"
check plot/real_png "no PNG signature or under 10 kB" is_png "$real/compare.png"
# The same batch in every run: step panels only (tokens = updates made x 256).
check plot/real_panels "$(grep "panels" "$work/real.out")" grep -q "3 runs; panels train/step, val/step, update_norm/step$" "$work/real.out"
rows=$(grep -cE '^\| (sgd \| 0.01|sgd \| 0.03|signsgd \| 0.001) \| (yes)? *\| 1[01]\.[0-9]{4} \|' "$real/summary.md")
check plot/real_summary "$rows of 3 rows with val losses: $(cat "$real/summary.md")" [ "$rows" -eq 3 ]
check plot/real_one_best_per_optimizer "best-lr marks: $(grep -c '| yes |' "$real/summary.md")" [ "$(grep -c '| yes |' "$real/summary.md")" -eq 2 ]
# A second call skips the finished runs (a sweep resumes) and re-plots.
bash "$sweep" --cpu --optims "sgd signsgd" --lr sgd=1e-2,3e-2 --lr signsgd=1e-3 --steps 6 --extend 0 --out "$real" \
    -- -v 3 -m 2 -i "$train" -j "$val" >"$work/resume.out" 2>&1
check sweep/resume_skips_finished "$(head -3 "$work/resume.out")" [ "$(grep -c '^== skip' "$work/resume.out")" -eq 3 ]

# A run that fails is reported with the trainer's error line, not its last output line.
bash "$sweep" --cpu --optims sgd --lr sgd=1e-2 --steps 2 --out "$work/failing" -- -i "$work/no_such_shard.bin" >"$work/failing.out" 2>&1
check sweep/failed_run_reason "$(grep FAILED "$work/failing.out")" \
    grep -q "FAILED (exit 2): error: no token shard matches '.*no_such_shard.bin'" "$work/failing.out"

# The reproduction for real: 2 steps of d2 at B=1, T=16 per optimizer, K = 4, its figure and tables;
# on the FineWeb-Edu sample when ../shared has it, else on the committed Tiny Shakespeare shards
# (a fresh clone, CI): the pipeline is what is checked, and the 2-step losses are 10.x on either.
fw_train="$shared/fineweb_sample/fineweb_edu_sample_train.bin" fw_val="$shared/fineweb_sample/fineweb_edu_sample_val.bin"
if [ ! -f "$fw_train" ] || [ ! -f "$fw_val" ]; then
    fw_train=data/tinyshakespeare/tiny_shakespeare_train.bin fw_val=data/tinyshakespeare/tiny_shakespeare_val.bin
fi
if [ -f "$fw_train" ] && [ -f "$fw_val" ]; then
    OMP_NUM_THREADS=1 bash "$repro" --scale cpu --steps 2 --out "$work/repro" -- -e d2 -b 1 -t 16 -m 1 --noise-batches 4 \
        -i "$fw_train" -j "$fw_val" >"$work/repro.out" 2>&1
    rc=$?
    check repro/real_runs "exit $rc: $(tail -3 "$work/repro.out")" [ $rc -eq 0 ]
    check repro/real_png "no PNG signature or under 10 kB" is_png "$work/repro/reproduction.png"
    check repro/real_panels "$(grep panels "$work/repro/plot.out")" \
        grep -q "5 runs; panels train/step, val/step, phi/step, phi_parts/sgd lr=0.3, mean_density/step, tail_index/step, update_norm/step$" "$work/repro/plot.out"
    check repro/real_table "$(grep -cE '^\| (sgd|signsgd|signum|muon|adamw) \| [0-9.e-]+( \(fallback [0-9.e-]+\))? \| yes \| 10\.[0-9]{4} \|' "$work/repro/reproduction.md") of 5 rows" \
        [ "$(grep -cE '^\| (sgd|signsgd|signum|muon|adamw) \| [0-9.e-]+( \(fallback [0-9.e-]+\))? \| yes \| 10\.[0-9]{4} \|' "$work/repro/reproduction.md")" -eq 5 ]
    # windows 0:1 and 1:2 at 2 steps: measurements before the updates at steps 0 and 1, K = 4
    check repro/real_noise_rows "$(grep -E '^\| sgd lr=0.3 \|' "$work/repro/reproduction.md" | tr '\n' ' ')" \
        [ "$(grep -cE '^\| sgd lr=0.3 \| [01] \| 0\.[0-9]{4} \| 0\.[0-9]{4} \| [0-9]+\.[0-9]{3} \| 4 \| 16 \|$' "$work/repro/reproduction.md")" -eq 2 ]
    check repro/real_commands_recorded "the md lacks the trainer commands" \
        [ "$(grep -c '^\./train_gpt2cpu .* -o '"$work/repro/" "$work/repro/reproduction.md")" -eq 5 ]
    check repro/real_models_removed "model or state files left behind" bash -c "! ls $work/repro/*/model_*.bin $work/repro/*/state_*.bin >/dev/null 2>&1"
else
    echo "SKIP repro/real_runs: no FineWeb-Edu sample in $shared/fineweb_sample and no data/tinyshakespeare shards"
fi

# The same runs with main.log only (as llm.c writes them): step panels only, and a note.
mkdir -p "$work/logonly"
for d in sgd_lr1e-2 sgd_lr3e-2 signsgd_lr1e-3; do mkdir -p "$work/logonly/$d"; cp "$real/$d/main.log" "$work/logonly/$d/"; done
"$PYTHON" "$plot" "$work/logonly"/* -o "$work/logonly.png" --summary "$work/logonly.md" >"$work/logonly.out" 2>&1
rc=$?
check plot/log_only_runs "exit $rc: $(tail -2 "$work/logonly.out")" [ $rc -eq 0 ]
check plot/log_only_png "no PNG signature or under 10 kB" is_png "$work/logonly.png"
check plot/log_only_step_panels "$(tail -1 "$work/logonly.out")" grep -q "3 runs; panels train/step, val/step$" "$work/logonly.out"
check plot/log_only_note "no 'step only' note" grep -q "note: no tokens per step for any run: plotted against step only" "$work/logonly.md"
# Optimizer and lr from the directory names, and the val losses agree with the full runs.
names_ok=1
for d in sgd_lr1e-2 signsgd_lr1e-3; do
    want=$(grep ' tel:' "$real/$d/main.log" | tail -1 | sed 's/.*tel://' | awk '{printf "%.4f", $1}')
    o=${d%%_lr*} lr=$(awk -v x="${d#*_lr}" 'BEGIN { printf "%g", x }')
    grep -qE "^\| $o \| $lr \| (yes)? *\| $want \|" "$work/logonly.md" \
        || { names_ok=0; fail plot/log_only_names "no row '$o | $lr | .. | $want' in: $(cat "$work/logonly.md")"; }
done
[ $names_ok -eq 1 ] && pass plot/log_only_names "(optimizer and lr from <optim>_lr<lr>)"

# ---- scripts/comm_model.py: d12's parameter count from its shape and a few bytes and times
"$PYTHON" scripts/comm_model.py --csv >"$work/comm.csv" 2>"$work/comm.err"
"$PYTHON" scripts/comm_model.py >"$work/comm.txt" 2>&1
"$PYTHON" - "$work/comm.csv" "$work/comm.txt" >"$work/comm.check" 2>&1 <<'EOF'
import csv, sys
rows = {(int(r["n"]), r["scheme"]): r for r in csv.DictReader(open(sys.argv[1]))}
text = open(sys.argv[2]).read()
mb = lambda n, s: float(rows[(n, s)]["mb"])
ms = lambda n, s: float(rows[(n, s)]["comm_ms"])
want = [
    ("124475904 parameters", "d12: 124475904 parameters" in text),
    ("1-bit signs 15.56 MB", "1-bit signs 15.56 MB" in text),
    ("N=2 all-reduce 249.0 MB (2(N-1)/N x 2P)", abs(mb(2, "allreduce") - 248.952) < 0.01),
    ("N=64 all-reduce 490.1 MB", abs(mb(64, "allreduce") - 490.124) < 0.01),
    ("zero1 = allreduce bytes", all(abs(mb(n, "zero1") - mb(n, "allreduce")) < 1e-6 for n in (2, 8, 64))),
    ("N=2 1-bit vote 15.56 MB", abs(mb(2, "vote1") - 15.5595) < 0.01),
    ("N=64 1-bit vote 63 x 15.56 MB", abs(mb(64, "vote1") - 63 * 15.5595) < 0.1),
    ("N=8 all-reduce at NVLink 0.97 ms", abs(ms(8, "allreduce") - 0.968) < 0.01),
    ("N=16 all-reduce at 400 Gb/s 9.34 ms", abs(ms(16, "allreduce") - 9.336) < 0.01),
    ("N=64 compute 17.5 ms", abs(float(rows[(64, "allreduce")]["compute_ms"]) - 17.5) < 1e-6),
    ("vote1 stops scaling at N = 64", "vote1     stops scaling (comm > compute) at N = 64" in text),
]
bad = [w for w, ok in want if not ok]
print("ok" if not bad else "wrong: " + "; ".join(bad))
EOF
if [ "$(cat "$work/comm.check")" = ok ]; then pass scripts/comm_model "(d12 124475904 parameters, signs 15.56 MB, all-reduce 249.0 MB at N=2 and 490.1 MB at N=64)"
else fail scripts/comm_model "$(head -c 400 "$work/comm.check")"; fi

# ---- scripts/bench_zero1_memory.sh on d2 (2 ranks, about 2 s): both rows, the run plan's state
# line for -z 1, every rank's peak, a ratio (the figure itself is the benchmark's, not asserted)
if command -v mpirun >/dev/null && ldd ./train_gpt2cpu 2>/dev/null | grep libmpi >/dev/null; then
    out="$work/zero1_mem.out"
    row0='^\| 0 \| [0-9.]+ \| [0-9.]+, [0-9.]+ \| whole optimizer state'
    row1='^\| 1 \| [0-9.]+ \| [0-9.]+, [0-9.]+ \| optimizer state: this rank keeps 13.54 MB of the whole 27.08 MB'
    if ! scripts/bench_zero1_memory.sh --model d2 --np 2 >"$out" 2>&1; then
        fail scripts/bench_zero1_memory "the script failed: $(grep -m1 '^error' "$out" || tail -n 3 "$out")"
    elif ! grep -qE "$row0" "$out"; then
        fail scripts/bench_zero1_memory "want a -z 0 row with 2 ranks' peaks and the whole state, got: $(grep '^| 0 ' "$out" || echo 'no -z 0 row')"
    elif ! grep -qE "$row1" "$out"; then
        fail scripts/bench_zero1_memory "want a -z 1 row with 2 ranks' peaks and a 13.54 of 27.08 MB state, got: $(grep '^| 1 ' "$out" || echo 'no -z 1 row')"
    elif ! grep -qE '^-z 1 / -z 0 peak RSS: [0-9.]+' "$out"; then
        fail scripts/bench_zero1_memory "no '-z 1 / -z 0 peak RSS' ratio line in: $(tail -n 3 "$out")"
    else
        pass scripts/bench_zero1_memory "($(tail -1 "$out"))"
    fi
    expect_one_line_error scripts/bench_zero1_memory_bad_np "--np wants a positive integer, got 'abc'" "" scripts/bench_zero1_memory.sh --np abc
else
    echo "SKIP scripts/bench_zero1_memory: no mpirun or train_gpt2cpu without MPI"
fi

finish

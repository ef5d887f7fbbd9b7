#!/usr/bin/env bash
# phi as docs/phi.md describes it: scripts/plot_runs.py's phi panels on a hand-written
# metrics.jsonl (phi by part, the paper's EMA per window against a closed-form reference, K and
# tokens per gradient in the noise table) and scripts/phi_scaling.sh on 2 x 2 cells of d2 (its
# table, and a cell against the trainer's own step-0 record), with their option errors.
#   test/test_phi.sh [SHARED_DATA_DIR]    (phi_scaling SKIPs without the FineWeb-Edu sample)
set -uo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
shared="${1:-../shared/data}"
PYTHON="${PYTHON:-/usr/bin/python3}"
mkdir -p build/test_phi
work=$(mktemp -d build/test_phi/run.XXXXXX)
source test/lib.sh
check() { local name=$1 why=$2; shift 2; if "$@"; then pass "$name"; else fail "$name" "$why"; fi; }

# ---- plot_runs.py: a run measured in two windows, with parts, K and tokens per gradient
"$PYTHON" - "$work/fx" <<'EOF'
import json, os, sys
root = sys.argv[1] + "/sgd"
os.makedirs(root)
parts = ["wte", "wpe", "ln1w", "ln1b", "qkvw", "qkvb", "attprojw", "attprojb", "ln2w", "ln2b", "fcw", "fcb", "fcprojw",
         "fcprojb", "lnfw", "lnfb"]
with open(root + "/metrics.jsonl", "w") as f:
    w = lambda r: f.write(json.dumps(r) + "\n")
    w({"type": "config", "flags": {"optim": "sgd", "lr": 0.01, "noise_windows": "0:3,10:13"}, "tokens_per_step": 1024})
    for step in range(14):
        w({"type": "train", "step": step, "loss": 10 - 0.1 * step})
        if step in (0, 1, 2, 10, 11, 12):
            w({"type": "noise", "step": step, "phi": 0.3 - 0.01 * step, "mean_density": 0.1, "tail_index": 2.4,
               "phi_per_tensor": {p: 0.5 for p in parts}, "phi_per_group": {"attention": 0.3, "mlp": 0.8,
               "norms_biases": 0.2, "all_but_wte": 0.6}, "d": 1000, "batches": 16, "K": 16, "tokens_per_gradient": 1024})
    w({"type": "val", "step": 14, "loss": 8.5})
EOF
"$PYTHON" scripts/plot_runs.py "$work/fx/sgd" -o "$work/fx.png" --summary "$work/fx.md" >"$work/fx.out" 2>&1
rc=$?
check phi/plot_fixture_runs "exit $rc: $(tail -2 "$work/fx.out")" [ $rc -eq 0 ]
check phi/plot_parts_panel "$(tail -1 "$work/fx.out")" \
    grep -q "1 runs; panels train/step, val/step, phi/step, phi_parts/sgd lr=0.01, mean_density/step, tail_index/step$" "$work/fx.out"
check phi/plot_table_k_and_tokens "$(grep -F '| sgd lr=0.01 | 11 |' "$work/fx.md")" \
    grep -qF "| sgd lr=0.01 | 11 | 0.1900 | 0.1000 | 2.400 | 16 | 1024 |" "$work/fx.md"
# phi by part, one row per measurement: wte, wpe (per tensor 0.5), attention 0.3, MLP 0.8, norms 0.2, all but wte 0.6, whole 0.19
check phi/plot_parts_table "$(grep -F '| sgd | 11 |' "$work/fx.md")" \
    grep -qF "| sgd | 11 | 0.5000 | 0.5000 | 0.3000 | 0.8000 | 0.2000 | 0.6000 | 0.1900 |" "$work/fx.md"

# The EMA and the windows as the paper's plot script smooths: pandas' ewm(span, adjust=False),
# written here in closed form, y_t = (1-a)^t x_0 + sum_{j=1..t} a (1-a)^(t-j) x_j, a = 2/(span+1).
"$PYTHON" - <<'EOF' >"$work/ema.out" 2>&1
import random, sys
sys.path.insert(0, "scripts")
import plot_runs
rng = random.Random(7)
x = [rng.uniform(0.01, 0.5) for _ in range(300)]
worst = 0.0
for span in (100, 10):
    a = 2.0 / (span + 1)
    ref = [(1 - a) ** t * x[0] + sum(a * (1 - a) ** (t - j) * x[j] for j in range(1, t + 1)) for t in range(len(x))]
    got = plot_runs.paper_ema(x, span)
    worst = max(worst, max(abs(g - r) / abs(r) for g, r in zip(got, ref)))
print(("PASS" if worst < 1e-12 else "FAIL") + f" phi/paper_ema_vs_closed_form{':' if worst >= 1e-12 else ''} worst relative error {worst:.2e} (span 100 and 10, 300 points)")
seg = plot_runs.window_segments([0, 1, 2, 10, 11, 12, 20], [(0, 3), (10, 13)])
want = [[0, 1, 2], [3, 4, 5], [6]]
print(("PASS phi/ema_restarts_per_window " if seg == want else "FAIL phi/ema_restarts_per_window: ") + f"segments {seg}, want {want}")
EOF
cat "$work/ema.out"
failures=$((failures + $(grep -c '^FAIL' "$work/ema.out")))
expect_one_line_error phi/plot_bad_span "--phi-span must be at least 1" "" "$PYTHON" scripts/plot_runs.py "$work/fx/sgd" --phi-span 0 -o "$work/bad.png"

# ---- scripts/phi_scaling.sh: option errors, then 2 x 2 cells of d2 at T = 32
expect_one_line_error phi/scaling_bad_b "-b takes B or B:KMAX" "" bash scripts/phi_scaling.sh -b 8:x
expect_one_line_error phi/scaling_bad_k "-k takes K1,K2" "" bash scripts/phi_scaling.sh -k 8,,16
out=$(bash scripts/phi_scaling.sh --data "$work/no_such_dir" 2>&1)
check phi/scaling_skips_without_data "printed: $out" [ "$(echo "$out" | grep -c '^SKIP phi_scaling: no ')" -eq 1 ]
sample="$shared/fineweb_sample"
if [ -f "$sample/fineweb_edu_sample_train.bin" ] && [ -x build/phi_scaling ] && [ -x train_gpt2cpu ]; then
    OMP_NUM_THREADS=1 bash scripts/phi_scaling.sh --model d2 --seed 7 -t 32 -b 2,4 -k 2,4 --data "$sample" \
        --out "$work/scaling.jsonl" >"$work/scaling.md" 2>&1
    rc=$?
    check phi/scaling_runs "exit $rc: $(tail -2 "$work/scaling.md")" [ $rc -eq 0 ]
    check phi/scaling_table_rows "$(grep -cE '^\| (64|128) \((2|4) x 32\) \| (2|4) \|( 0\.[0-9]{4} \|){7} [0-9]+ \|$' "$work/scaling.md") of 4 rows" \
        [ "$(grep -cE '^\| (64|128) \((2|4) x 32\) \| (2|4) \|( 0\.[0-9]{4} \|){7} [0-9]+ \|$' "$work/scaling.md")" -eq 4 ]
    # The cell B = 4, K = 4 is the trainer's step-0 measurement at -b 4 -t 32 --noise-batches 4.
    OMP_NUM_THREADS=1 ./train_gpt2cpu -e d2 --seed 7 -b 4 -t 32 -x 1 -v 0 -s 0 -i "$sample/fineweb_edu_sample_train.bin" \
        -j "$sample/fineweb_edu_sample_val.bin" --noise-every 1 --noise-batches 4 --noise-windows 0:1 -o "$work/trainer" >/dev/null 2>&1
    "$PYTHON" - "$work/scaling.jsonl" "$work/trainer/metrics.jsonl" >"$work/cell.out" 2>&1 <<'EOF'
import json, sys
cell = [json.loads(l) for l in open(sys.argv[1]) if json.loads(l)["B"] == 4 and json.loads(l)["K"] == 4]
rec = [json.loads(l) for l in open(sys.argv[2]) if '"type":"noise"' in l]
if len(cell) != 1 or len(rec) != 1:
    print(f"FAIL phi/scaling_cell_equals_trainer: {len(cell)} cells, {len(rec)} trainer records"); sys.exit()
c, r = cell[0], rec[0]
pairs = [("phi", c["phi"], r["phi"]), ("wte", c["phi_per_tensor"]["wte"], r["phi_per_tensor"]["wte"]),
         ("all_but_wte", c["phi_per_group"]["all_but_wte"], r["phi_per_group"]["all_but_wte"]), ("d", c["d"], r["d"])]
worst = max(abs(a - b) / abs(b) for _, a, b in pairs)
text = ", ".join(f"{n} {a:.6g} vs {b:.6g}" for n, a, b in pairs)
print(f"PASS phi/scaling_cell_equals_trainer ({text})" if worst < 1e-6 else f"FAIL phi/scaling_cell_equals_trainer: {text}")
EOF
    cat "$work/cell.out"
    [ "$(grep -c '^PASS' "$work/cell.out")" -eq 1 ] || failures=$((failures + 1))
else
    echo "SKIP phi/scaling_runs: no $sample/fineweb_edu_sample_train.bin, build/phi_scaling or train_gpt2cpu"
fi
if [ $failures -eq 0 ]; then rm -rf "$work"; else echo "(outputs kept in $work)"; fi
exit $((failures > 0))

#!/usr/bin/env bash
# The synthetic experiments end to end (`make toy` at reduced size, --scale quick, about 5 s):
# flag errors (one line, exit 2), then facts of the results that can fail:
#   deter    SignSGD's best final loss below 1/100 of SGD's;
#   sto      SignSGD's mean final loss below SGD's;
#   scaling  (the stiff problem) SGD/SignSGD iterations to eps grow with d for 1-sparse noise,
#            and at d = 100 are near 1 for dense noise and at least 3x larger for sparse;
#   heavy    the tail index of the alpha = 1.5 draws is within 0.1; SignSGD's median final loss
#            is below SGD's at alpha = 1.5 and 1.2 and not above 3x SGD's at alpha = 2;
#   figure   plot_toy.py writes a PNG under 300 KB.
#   test/test_toy.sh [BUILD_DIR]     (BUILD_DIR holds toy/toy_experiments; default build)
set -uo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
build="${1:-build}"
bin="$build/toy/toy_experiments"
PYTHON="${PYTHON:-/usr/bin/python3}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

source test/lib.sh

expect_usage_error() { local name=$1 pattern=$2; shift 2; expect_one_line_error "toy/cli/$name" "$pattern" "" "$bin" "$@"; }
expect_usage_error unknown_option "unknown option '--bogus'" --bogus
expect_usage_error missing_value "--scale needs a value" --scale
expect_usage_error bad_scale "--scale must be full or quick, got 'huge'" --scale huge
expect_usage_error bad_only "--only must be deter, sto, scaling or heavy, got 'all'" --only all
touch "$work/file"
expect_one_line_error toy/cli/out_under_file "cannot create output directory" "" "$bin" --out "$work/file/sub"

out="$work/out"
if "$bin" --scale quick --out "$out" >"$work/stdout" 2>"$work/stderr"; then
    pass toy/run_quick "($(tail -n 1 "$work/stdout"))"
else
    fail toy/run_quick "exit $?: $(head -c 300 "$work/stderr")"
fi

"$PYTHON" - "$out" <<'EOF'
import csv, math, sys
out = sys.argv[1]
def read(name):
    with open(f"{out}/{name}") as f:
        return list(csv.DictReader(f))
def verdict(ok, name, detail):
    print(f"PASS {name} {detail}" if ok else f"FAIL {name}: {detail}")

try:
    best = {r["rule"]: float(r["final_loss"]) for r in read("deter_grid.csv") if r["selected"] == "1"}
    sgd, sign = best.get("sgd", math.nan), best.get("signsgd", math.nan)
    verdict(sign < sgd / 100, "toy/deter_signsgd_far_below_sgd", f"best final loss signsgd {sign:.4g}, sgd {sgd:.4g} (want signsgd < sgd/100)")

    last = read("sto_curves.csv")[-1]
    sgd, sign = float(last["sgd_mean"]), float(last["signsgd_mean"])
    verdict(sign < sgd, "toy/sto_signsgd_below_sgd", f"mean final loss signsgd {sign:.4g}, sgd {sgd:.4g}")

    rows = [r for r in read("scaling.csv") if r["problem"] == "stiff" and r["selected"] == "1"]
    steps = int(rows[0]["steps"])
    hit = {(int(r["d"]), int(r["k"]), r["rule"]): int(r["iters_to_eps"]) for r in rows}
    def ratio(d, k):  # SGD iterations / SignSGD's; SGD not reaching eps counts as all the steps (a lower bound)
        s, g = hit[(d, k, "sgd")], hit[(d, k, "signsgd")]
        return math.nan if g < 0 else (s if s >= 0 else steps) / max(1, g)
    dims = sorted({d for d, _, _ in hit})
    sparse = [ratio(d, 1) for d in dims]
    verdict(all(a < b for a, b in zip(sparse, sparse[1:])), "toy/scaling_sparse_advantage_grows_with_d",
            "SGD/SignSGD iterations at k=1: " + ", ".join(f"d={d}: {r:.3g}" for d, r in zip(dims, sparse)))
    dense, sp = ratio(100, 100), ratio(100, 1)
    verdict(0.25 <= dense <= 4 and sp >= 3 * dense, "toy/scaling_dense_no_advantage",
            f"d=100: SGD/SignSGD iterations {dense:.3g} for k=d (want 0.25..4), {sp:.3g} for k=1 (want >= 3x)")

    heavy = read("heavy_grid.csv")
    med = {(float(r["alpha"]), r["rule"]): float(r["final_median"]) for r in heavy if r["selected"] == "1"}
    ok = med[(1.5, "signsgd")] < med[(1.5, "sgd")] and med[(1.2, "signsgd")] < med[(1.2, "sgd")] and med[(2.0, "signsgd")] <= 3 * med[(2.0, "sgd")]
    verdict(ok, "toy/heavy_signsgd_vs_sgd", "median final loss signsgd/sgd: " +
            ", ".join(f"alpha={a:g}: {med[(a, 'signsgd')]:.3g}/{med[(a, 'sgd')]:.3g}" for a in (2.0, 1.5, 1.2)))
except Exception as e:  # a missing file or column is a failure, not a crash without a verdict
    verdict(False, "toy/results", f"{type(e).__name__}: {e}")
EOF

alpha=$(grep -E '^\| 1\.5 \| [0-9.]+ \| sgd ' "$work/stdout" | awk -F'|' '{gsub(/ /, "", $3); print $3}')
if [ -n "$alpha" ] && awk -v a="$alpha" 'BEGIN { exit !(a > 1.4 && a < 1.6) }'; then
    pass toy/heavy_tail_index "(alpha 1.5 estimated $alpha)"
else
    fail toy/heavy_tail_index "alpha 1.5 estimated '${alpha}' (want 1.4..1.6)"
fi

if "$PYTHON" dev/toy/plot_toy.py "$out" "$work/toy.png" >/dev/null 2>"$work/plot.err" && [ -s "$work/toy.png" ] \
    && [ "$(stat -c %s "$work/toy.png")" -lt 300000 ]; then
    pass toy/figure "($(stat -c %s "$work/toy.png") bytes)"
else
    fail toy/figure "plot_toy.py: $(head -c 300 "$work/plot.err")"
fi

[ "$failures" -eq 0 ]

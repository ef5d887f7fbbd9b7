#!/usr/bin/env bash
# Kernel profile of one training step with Nsight Compute, as a Markdown table.
#   scripts/profile.sh [-b B] [-t T] [--optim NAME] [--attention auto|flash|cublas] [--out DIR]
#                      [--dry-run] [-- MORE_PROFILE_GPT2_FLAGS]
# Builds profile_gpt2 (one d12 step after warm-up; profile_gpt2.cu), runs ncu over that step only
# (--profile-from-start off: the binary brackets the step with cudaProfilerStart/Stop) with NVTX
# ranges (forward/block 3/mlp, backward/..., optimizer/...), exports the raw page as CSV and turns
# it into DIR/kernels.md (scripts/ncu_table.py): kernels grouped by phase, sorted by time, with
# duration, DRAM throughput, achieved occupancy and share of the step.
# Outputs in DIR (default runs/profile_b<B>_t<T>): step.ncu-rep (open it in ncu-ui), kernels.csv,
# kernels.md. --dry-run prints the commands and runs nothing.
#
# Timeline (launch gaps, host work, overlap) with Nsight Systems, over the same step:
#   nsys profile --capture-range=cudaProfilerApi --trace=cuda,nvtx,osrt -o DIR/step ./profile_gpt2 -b B -t T
#   nsys stats --report cuda_gpu_kern_sum,nvtx_sum DIR/step.nsys-rep
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-/usr/bin/python3}"
B=16 T=1024 optim=adamw attention=auto out="" dry=0 extra=()
die() { echo "error: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
    case "$1" in
        -b) [ $# -ge 2 ] || die "-b needs a value"; B=$2; shift 2 ;;
        -t) [ $# -ge 2 ] || die "-t needs a value"; T=$2; shift 2 ;;
        --optim) [ $# -ge 2 ] || die "--optim needs a value"; optim=$2; shift 2 ;;
        --attention) [ $# -ge 2 ] || die "--attention needs a value"; attention=$2; shift 2 ;;
        --out) [ $# -ge 2 ] || die "--out needs a value"; out=$2; shift 2 ;;
        --dry-run) dry=1; shift ;;
        --) shift; extra=("$@"); break ;;
        -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown option '$1' (see --help)" ;;
    esac
done
[[ "$B" =~ ^[1-9][0-9]*$ ]] || die "-b wants a positive integer, got '$B'"
[[ "$T" =~ ^[1-9][0-9]*$ ]] || die "-t wants a positive integer, got '$T'"
out=${out:-runs/profile_b${B}_t${T}}

metrics=gpu__time_duration.sum,dram__bytes.sum,dram__throughput.avg.pct_of_peak_sustained_elapsed,sm__warps_active.avg.pct_of_peak_sustained_active
commands=(
    "make profile_gpt2"
    "mkdir -p $out"
    "ncu --profile-from-start off --nvtx --metrics $metrics --export $out/step --force-overwrite ./profile_gpt2 -e d12 -b $B -t $T --optim $optim --attention $attention ${extra[*]:-}"
    "ncu --import $out/step.ncu-rep --csv --page raw --print-units base --print-kernel-base function > $out/kernels.csv"
    "$PYTHON scripts/ncu_table.py $out/kernels.csv -o $out/kernels.md"
)
if [ $dry -eq 1 ]; then
    printf '%s\n' "${commands[@]}"
    exit 0
fi
command -v ncu >/dev/null || die "ncu (Nsight Compute) is not on PATH"
export LC_ALL=C # plain numbers in the CSV
for c in "${commands[@]}"; do
    echo "+ $c" >&2
    eval "$c"
done
cat "$out/kernels.md"
echo "(table: $out/kernels.md; full report: ncu-ui $out/step.ncu-rep)" >&2

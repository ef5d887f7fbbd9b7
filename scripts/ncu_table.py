#!/usr/bin/env python3
"""Per-kernel Markdown table of one profiled training step from an Nsight Compute CSV.

Input: the raw page of an ncu report, as scripts/profile.sh exports it:
    ncu -i step.ncu-rep --csv --page raw --print-units base > kernels.csv
(a header row of column names, a row of units, then one row per kernel launch). Columns used:
"Kernel Name", the NVTX stack column ("thread Domain:Push/Pop_Range:...", present when ncu ran
with --nvtx), gpu__time_duration.sum, and when present dram__bytes.sum,
dram__throughput.avg.pct_of_peak_sustained_elapsed (DRAM throughput, % of peak) and
sm__warps_active.avg.pct_of_peak_sustained_active (achieved occupancy).

Each launch belongs to the trainer's NVTX phase it ran in (forward/block 3/attention, ...):
the group is the part before the first '/' (forward, backward, optimizer). Output: a table of
phases (layer numbers shown as *), then per group its kernels sorted by time with their share
of the step (the sum of all kernel durations). Standard library only.

usage: ncu_table.py KERNELS.csv [-o TABLE.md]
"""
import argparse
import csv
import re
import sys
from collections import OrderedDict

TIME = "gpu__time_duration.sum"
DRAM_BYTES = "dram__bytes.sum"
DRAM_PCT = "dram__throughput.avg.pct_of_peak_sustained_elapsed"
OCCUPANCY = "sm__warps_active.avg.pct_of_peak_sustained_active"
TIME_UNITS = {"nsecond": 1e-3, "ns": 1e-3, "usecond": 1.0, "us": 1.0, "msecond": 1e3, "ms": 1e3, "second": 1e6, "s": 1e6}
BYTE_UNITS = {"byte": 1.0, "Kbyte": 1e3, "Mbyte": 1e6, "Gbyte": 1e9, "Tbyte": 1e12, "KB": 1e3, "MB": 1e6, "GB": 1e9}
GROUP_ORDER = ["forward", "backward", "optimizer"]
NO_PHASE = "(outside the phases)"


def fail(message):
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def number(text, what):
    try:
        return float(text.replace(",", ""))  # thousands separators (run ncu with LC_ALL=C)
    except ValueError:
        fail(f"{what}: '{text}' is not a number")


def short_kernel_name(name):
    """'void ns::kernel<T>(float *, int)' -> 'ns::kernel<T>'."""
    name = name.strip()
    if name.startswith("void "):
        name = name[5:]
    if name.endswith(")"):
        depth = 0
        for i in range(len(name) - 1, -1, -1):
            depth += {")": 1, "(": -1}.get(name[i], 0)
            if depth == 0:
                name = name[:i]
                break
    return name.strip()


def nvtx_ranges(cell):
    """Range names of an ncu NVTX stack cell: 'TID  "<default domain>:name:none:..."  "..."'."""
    return [quoted.split(":")[1] for quoted in re.findall(r'"([^"]*)"', cell) if ":" in quoted]


def phase_of(ranges):
    for name in reversed(ranges):  # innermost first
        if name.split("/")[0] in GROUP_ORDER:
            return name
    return NO_PHASE


def read_launches(path):
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            lines = f.read().splitlines()
    except OSError as e:
        fail(f"cannot read {path}: {e.strerror}")
    start = next((i for i, line in enumerate(lines) if line.startswith('"ID"')), None)
    if start is None:
        fail(f"{path}: no ncu CSV header (a line starting with \"ID\"); export with --csv --page raw")
    table = list(csv.reader(lines[start:]))
    if len(table) < 3:
        fail(f"{path}: no kernel rows after the header and units rows")
    header, units, rows = table[0], table[1], table[2:]
    col = {name: i for i, name in enumerate(header)}
    for needed in ("Kernel Name", TIME):
        if needed not in col:
            fail(f"{path}: column '{needed}' is missing (collect it with --metrics)")
    nvtx = [i for i, name in enumerate(header) if "Push/Pop_Range" in name]
    if not nvtx:
        fail(f"{path}: no NVTX column; run ncu with --nvtx")
    time_scale = TIME_UNITS.get(units[col[TIME]])
    if time_scale is None:
        fail(f"{path}: unknown time unit '{units[col[TIME]]}'")
    byte_scale = BYTE_UNITS.get(units[col[DRAM_BYTES]], None) if DRAM_BYTES in col else None
    if DRAM_BYTES in col and byte_scale is None:
        fail(f"{path}: unknown byte unit '{units[col[DRAM_BYTES]]}'")
    launches = []
    for n, row in enumerate(rows, start=start + 3):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            fail(f"{path}:{n}: {len(row)} fields, the header has {len(header)}")
        optional = lambda name: number(row[col[name]], f"{path}:{n} {name}") if name in col and row[col[name]].strip() else None
        dram_bytes = optional(DRAM_BYTES)
        launches.append({
            "kernel": short_kernel_name(row[col["Kernel Name"]]),
            "phase": phase_of(nvtx_ranges(row[nvtx[0]])),
            "us": number(row[col[TIME]], f"{path}:{n} {TIME}") * time_scale,
            "bytes": dram_bytes * byte_scale if dram_bytes is not None else None,
            "dram_pct": optional(DRAM_PCT),
            "occupancy": optional(OCCUPANCY),
        })
    if not launches:
        fail(f"{path}: no kernel rows")
    return launches


def group_of(phase):
    return phase.split("/")[0] if phase != NO_PHASE else NO_PHASE


def weighted(items, key):
    """Duration-weighted mean of key over the launches that have it, or None."""
    have = [x for x in items if x[key] is not None]
    total = sum(x["us"] for x in have)
    return sum(x[key] * x["us"] for x in have) / total if total > 0 else None


def fmt(value, spec):
    return "" if value is None else format(value, spec)


def render(launches):
    step_us = sum(x["us"] for x in launches)
    out = [
        "# Kernels of one training step (Nsight Compute)",
        "",
        f"{step_us / 1e3:.3f} ms of GPU time in {len(launches)} kernel launches (the sum of kernel durations; "
        "ncu serializes kernels, so this is not the wall time of a step).",
        "",
        "## Phases",
        "",
        "| phase | launches | time (ms) | share of step |",
        "|---|---:|---:|---:|",
    ]
    phases = OrderedDict()
    for x in launches:
        phases.setdefault(re.sub(r"\d+", "*", x["phase"]), []).append(x)
    for name, items in phases.items():
        us = sum(x["us"] for x in items)
        out.append(f"| {name} | {len(items)} | {us / 1e3:.3f} | {100 * us / step_us:.1f}% |")
    groups = OrderedDict((g, []) for g in GROUP_ORDER)
    for x in launches:
        groups.setdefault(group_of(x["phase"]), []).append(x)
    for group, items in groups.items():
        if not items:
            continue
        group_us = sum(x["us"] for x in items)
        out += ["", f"## {group}: {group_us / 1e3:.3f} ms, {100 * group_us / step_us:.1f}% of the step", "",
                "| kernel | launches | time (ms) | share of step | mean (us) | DRAM (GB/s) | DRAM (% of peak) | achieved occupancy (%) |",
                "|---|---:|---:|---:|---:|---:|---:|---:|"]
        kernels = OrderedDict()
        for x in items:
            kernels.setdefault(x["kernel"], []).append(x)
        for name, ks in sorted(kernels.items(), key=lambda kv: -sum(x["us"] for x in kv[1])):
            us = sum(x["us"] for x in ks)
            have_bytes = all(x["bytes"] is not None for x in ks)
            gbps = sum(x["bytes"] for x in ks) / (us * 1e3) if have_bytes and us > 0 else None
            out.append(f"| `{name}` | {len(ks)} | {us / 1e3:.3f} | {100 * us / step_us:.1f}% | {us / len(ks):.1f} | "
                       f"{fmt(gbps, '.0f')} | {fmt(weighted(ks, 'dram_pct'), '.1f')} | {fmt(weighted(ks, 'occupancy'), '.1f')} |")
    return "\n".join(out) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("csv", help="ncu raw-page CSV (--csv --page raw --print-units base)")
    parser.add_argument("-o", "--out", help="write the Markdown here (default: stdout)")
    args = parser.parse_args()
    table = render(read_launches(args.csv))
    if args.out:
        with open(args.out, "w") as f:
            f.write(table)
    else:
        sys.stdout.write(table)


if __name__ == "__main__":
    main()

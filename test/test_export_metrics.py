"""Tests of scripts/export_metrics.py: metrics.jsonl -> TensorBoard event files, read back with
TensorBoard's own reader (EventAccumulator) and compared exactly (scalars as float32, steps, text).

    /usr/bin/python3 test/test_export_metrics.py

Fixtures: runs written here with known values (every record type, a resumed config, two runs
with the same folder name), and test/fixtures/metrics_d2/metrics.jsonl, a real train_gpt2cpu run
(d2, -x 6, -v 2, -h 1, --noise-every 2, --tail-index-every 3). Also the torn last line, --follow
(a run appended to as it trains, ending at its DONE marker; a run cut back by -y 1; Ctrl-C) and bad input (one line, exit 2).
Prints one PASS/FAIL/SKIP line per check and exits 1 when any check failed.
"""
import contextlib
import importlib.util
import io
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "scripts"))
sys.path.insert(0, os.path.join(REPO, "test"))
from verdicts import check, report, run_in_folders, summary  # noqa: E402

SCRIPT = os.path.join(REPO, "scripts", "export_metrics.py")
REAL = os.path.join(REPO, "test", "fixtures", "metrics_d2", "metrics.jsonl")

CONFIG = {"type": "config", "argv": "./train_gpt2cpu -e d2 -o run", "flags": {"optim": "signsgd", "lr": 0.001, "noise_every": 2},
          "git_revision": "abc123", "git_dirty": False, "device": "cpu", "num_params": 3385088, "tokens_per_step": 128}
RECORDS = [CONFIG,
           {"type": "val", "step": 0, "loss": 10.83, "tokens": 0},
           {"type": "noise", "step": 0, "phi": 0.25, "mean_density": 0.125, "tail_index": None,
            "phi_per_tensor": {"wte": 0.5, "wpe": 0.75}, "phi_per_group": {"attention": 0.3}, "K": 4, "tokens_per_gradient": 32},
           {"type": "tail", "step": 0, "tensor": "qkvw:1", "alpha": 1.5, "coord_alpha": [1.0, None], "coords": [3, 4]},
           {"type": "train", "step": 0, "loss": 10.5, "lr": 0.001, "grad_norm": 2.0, "grad_l1": 300.0, "grad_linf": 0.25,
            "ms": 12.5, "tokens_per_s": 10240.0, "tokens": 128},
           {"type": "skip", "step": 1, "reason": "non-finite loss", "skips": 1},
           {"type": "train", "step": 2, "loss": 10.25, "lr": 0.0005, "grad_norm": 1.5, "grad_l1": 250.0, "grad_linf": 0.125,
            "ms": 11.0, "tokens_per_s": 11636.0, "tokens": 384},
           {"type": "val", "step": 3, "loss": 10.125, "tokens": 384},
           {"type": "eval", "step": 3, "task": "hellaswag", "accuracy": 0.375, "correct": 3, "examples": 8, "tokens": 384}]
# the scalars those records must give: tag -> [(step, value)]
WANT = {"val/loss": [(0, 10.83), (3, 10.125)], "val/tokens": [(0, 0), (3, 384)],
        "noise/phi": [(0, 0.25)], "noise/mean_density": [(0, 0.125)], "noise/phi_per_tensor/wte": [(0, 0.5)],
        "noise/phi_per_tensor/wpe": [(0, 0.75)], "noise/phi_per_group/attention": [(0, 0.3)], "noise/K": [(0, 4)],
        "noise/tokens_per_gradient": [(0, 32)], "tail/qkvw:1/alpha": [(0, 1.5)],
        "train/loss": [(0, 10.5), (2, 10.25)], "train/lr": [(0, 0.001), (2, 0.0005)], "train/grad_norm": [(0, 2.0), (2, 1.5)],
        "train/grad_l1": [(0, 300.0), (2, 250.0)], "train/grad_linf": [(0, 0.25), (2, 0.125)], "train/ms": [(0, 12.5), (2, 11.0)],
        "train/tokens_per_s": [(0, 10240.0), (2, 11636.0)], "train/tokens": [(0, 128), (2, 384)], "skip/skips": [(1, 1)],
        "eval/hellaswag/accuracy": [(3, 0.375)], "eval/hellaswag/correct": [(3, 3)], "eval/hellaswag/examples": [(3, 8)],
        "eval/hellaswag/tokens": [(3, 384)]}


def write_run(folder, records, tail=b""):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "metrics.jsonl"), "wb") as f:
        f.write(b"".join(json.dumps(r).encode() + b"\n" for r in records) + tail)
    return folder


def read_back(folder):
    """{scalar tag: [(step, value)]}, {text tag: [(step, text)]} from TensorBoard's own reader."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.util import tensor_util
    acc = EventAccumulator(folder, size_guidance={"scalars": 0, "tensors": 0})
    acc.Reload()
    tags = acc.Tags()
    scalars = {t: [(e.step, e.value) for e in acc.Scalars(t)] for t in tags["scalars"]}
    texts = {t: [(e.step, tensor_util.make_ndarray(e.tensor_proto).item().decode()) for e in acc.Tensors(t)] for t in tags["tensors"]}
    return scalars, texts


def as_f32(series):
    return [(int(s), float(np.float32(v))) for s, v in series]


def run_main(*argv):
    """export_metrics.main in this process: (exit code, stdout, stderr)."""
    import export_metrics
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = export_metrics.main(list(argv))
        except SystemExit as e:
            rc = e.code
    return rc, out.getvalue(), err.getvalue()


def diff_scalars(got, want):
    """'' when got equals want exactly (float32), else the first difference."""
    for tag in sorted(set(got) | set(want)):
        if tag not in got or tag not in want:
            return f"tag {tag} only in {'the export' if tag in got else 'the expected'}"
        if got[tag] != as_f32(want[tag]):
            return f"{tag}: got {got[tag]}, want {as_f32(want[tag])}"
    return ""


def test_known_runs(tmp):
    out = os.path.join(tmp, "tb")
    a = write_run(os.path.join(tmp, "x", "run"), RECORDS)
    resumed = dict(CONFIG, resumed_from=2, flags=dict(CONFIG["flags"], optim="sgd"))
    b = write_run(os.path.join(tmp, "y", "run"), [CONFIG, RECORDS[4], resumed, RECORDS[6]])
    r = subprocess.run([sys.executable, SCRIPT, a, b, "--tensorboard", out], capture_output=True, text=True, timeout=120)
    names = sorted(os.listdir(out)) if os.path.isdir(out) else []
    check("export_cli_two_runs", r.returncode == 0 and names == ["x", "y"] and os.path.isdir(os.path.join(out, "x", "run"))
          and os.path.isdir(os.path.join(out, "y", "run")),
          f"rc {r.returncode}, subfolders {names} (two runs named 'run' become x/run and y/run); {r.stderr.strip()[:200]}")
    scalars, texts = read_back(os.path.join(out, "x", "run"))
    problem = diff_scalars(scalars, WANT)
    check("export_scalars_exact", not problem, f"{len(scalars)} tags, every step and float32 value as written" + (f"; {problem}" if problem else ""))
    flags = texts.get("config/flags", [(None, "")])
    want_text = {"config/argv": [(0, "    ./train_gpt2cpu -e d2 -o run")],
                 "config/run": [(0, 'git_revision: "abc123"  \ngit_dirty: false  \ndevice: "cpu"  \nnum_params: 3385088  \ntokens_per_step: 128')],
                 "config/flags": [(0, '| flag | value |\n|---|---|\n| optim | "signsgd" |\n| lr | 0.001 |\n| noise_every | 2 |\n')]}
    check("export_config_text", texts == want_text, f"text tags {sorted(texts)}, flags at step {flags[0][0]}: {flags[0][1]!r}"
          if texts != want_text else "config/argv, config/run and config/flags (a table of every flag) at step 0")
    scalars_b, texts_b = read_back(os.path.join(out, "y", "run"))
    steps = [s for s, _ in texts_b.get("config/flags", [])]
    check("export_resumed_config_and_second_run", steps == [0, 2] and '"sgd"' in texts_b["config/flags"][1][1]
          and scalars_b.get("train/loss") == as_f32([(0, 10.5), (2, 10.25)]) and "val/loss" not in scalars_b,
          f"config text at steps {steps} (resumed_from 2), train/loss {scalars_b.get('train/loss')}")
    # a second export of the same run replaces its event files (no doubled points)
    rc, _, _ = run_main(a, "--tensorboard", out)
    again, _ = read_back(os.path.join(out, "x", "run"))
    files = [f for f in os.listdir(os.path.join(out, "x", "run"))]
    check("export_again_replaces", rc == 0 and not diff_scalars(again, WANT) and len(files) == 1, f"rc {rc}, files {files}")


def test_real_run(tmp):
    out = os.path.join(tmp, "tb")
    folder = write_run(os.path.join(tmp, "d2"), [])
    with open(REAL, "rb") as src, open(os.path.join(folder, "metrics.jsonl"), "wb") as dst:
        dst.write(src.read())
    rc, _, err = run_main(folder, "--tensorboard", out)
    scalars, texts = read_back(os.path.join(out, "d2"))
    records = [json.loads(line) for line in open(REAL)]
    want = {}
    for r in records:
        key = {"train": "train/{}", "val": "val/{}", "eval": "eval/hellaswag/{}", "noise": "noise/{}", "tail": "tail/qkvw:1/{}"}.get(r["type"])
        for field in ("loss", "lr", "grad_norm", "tokens_per_s", "accuracy", "phi", "mean_density", "tail_index", "alpha"):
            if key and r.get(field) is not None:
                want.setdefault(key.format(field), []).append((r["step"], r[field]))
        if r["type"] == "noise":
            want.setdefault("noise/phi_per_group/all_but_wte", []).append((r["step"], r["phi_per_group"]["all_but_wte"]))
    bad = [t for t in want if scalars.get(t) != as_f32(want[t])]
    flags = texts.get("config/flags", [(0, "")])[0][1]
    check("export_real_train_gpt2cpu_run", rc == 0 and not bad and "| noise_every | 2 |" in flags and len(scalars) == 80,
          f"rc {rc}, {len(scalars)} scalar tags (80: train 9, val 2, eval 4, tail 6, noise 7 + 3 x 16 per tensor + 4 per group), {len(want)} compared with the jsonl"
          + (f"; differ: {bad[:3]}, e.g. {scalars.get(bad[0])} vs {want[bad[0]]}" if bad else "") + (f"; {err.strip()}" if rc else ""))


def test_torn_last_line(tmp):
    out = os.path.join(tmp, "tb")
    half = json.dumps({"type": "train", "step": 4, "loss": 9.0}).encode()[:20]
    folder = write_run(os.path.join(tmp, "torn"), RECORDS, tail=half)
    rc, _, err = run_main(folder, "--tensorboard", out)
    scalars, _ = read_back(os.path.join(out, "torn"))
    check("export_torn_last_line_left_out", rc == 0 and not diff_scalars(scalars, WANT) and "without its newline" in err,
          f"rc {rc}; the complete records exported exactly: {not diff_scalars(scalars, WANT)}; note: {err.strip()[:160]}")


def check_one_line_error(name, result, words):
    rc, _, err = result
    err = err.strip()
    ok = rc == 2 and len(err.splitlines()) == 1 and err.startswith("error: ") and all(w in err for w in words)
    check(name, ok, f"rc {rc}: {err[:240]}")


def test_bad_input(tmp):
    out = os.path.join(tmp, "tb")
    good = write_run(os.path.join(tmp, "good"), RECORDS)
    empty = os.path.join(tmp, "empty")
    os.makedirs(empty)
    corrupt = write_run(os.path.join(tmp, "corrupt"), RECORDS[:3])
    with open(os.path.join(corrupt, "metrics.jsonl"), "ab") as f:
        f.write(b'{"type":"train","step":3,"loss":1.0\n' + json.dumps(RECORDS[4]).encode() + b"\n")
    no_type = write_run(os.path.join(tmp, "no_type"), [CONFIG, {"step": 1, "loss": 2.0}])
    no_step = write_run(os.path.join(tmp, "no_step"), [CONFIG, {"type": "train", "loss": 2.0}])
    a_file = os.path.join(tmp, "a_file")
    open(a_file, "w").close()
    cases = [("export_error_missing_folder", (os.path.join(tmp, "nope"), "--tensorboard", out), ["nope", "not found"]),
             ("export_error_folder_is_file", (a_file, "--tensorboard", out), ["a_file", "not a folder"]),
             ("export_error_no_metrics", (empty, "--tensorboard", out), ["empty", "no metrics.jsonl"]),
             ("export_error_corrupt_line", (corrupt, "--tensorboard", out), ["metrics.jsonl' line 4", "not JSON"]),
             ("export_error_record_without_type", (no_type, "--tensorboard", out), ["line 2", "\"type\""]),
             ("export_error_record_without_step", (no_step, "--tensorboard", out), ["line 2", "\"step\""]),
             ("export_error_no_tensorboard_flag", (good,), ["--tensorboard"]),
             ("export_error_out_is_file", (good, "--tensorboard", a_file), ["a_file", "is a file"]),
             ("export_error_bad_poll", (good, "--tensorboard", out, "--follow", "--poll", "0"), ["--poll"]),
             ("export_error_same_run_twice", (good, good, "--tensorboard", out), ["twice"])]
    for name, argv, words in cases:
        check_one_line_error(name, run_main(*argv), words)


def start_follower(folder, out):
    return subprocess.Popen([sys.executable, SCRIPT, folder, "--tensorboard", out, "--follow", "--poll", "0.05"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def end_of_follower(p, after):
    """(exit code, stderr) of a follower that should end within 30 s (of DONE, of Ctrl-C); the
    exit code is a sentence saying so when it did not."""
    try:
        _, err = p.communicate(timeout=30)
        return p.returncode, err
    except subprocess.TimeoutExpired:
        p.kill()
        return f"still running 30 s after {after}", p.communicate()[1]


def wait_for_scalar(out, name, tag):
    """Up to 30 s until the follower has exported a point of tag for run name; whether it did."""
    deadline = time.time() + 30
    while time.time() < deadline:
        if os.path.isdir(os.path.join(out, name)) and read_back(os.path.join(out, name))[0].get(tag):
            return True
        time.sleep(0.1)
    return False


def test_follow(tmp):
    """--follow on a run being written: records arrive in pieces (a torn line completed later),
    the DONE marker ends it; a follower of an unfinished run stops on Ctrl-C, its events kept."""
    out = os.path.join(tmp, "tb")
    folder = os.path.join(tmp, "live")
    os.makedirs(folder)
    p = start_follower(folder, out)
    lines = b"".join(json.dumps(r).encode() + b"\n" for r in RECORDS)
    first = lines.index(b'"phi": 0.25') + 5  # the config and val records, then half a noise record
    cut = lines.index(b'"loss": 10.25') + 5  # inside a train record
    waiting = p.stderr.readline()  # the follower is up, waiting for metrics.jsonl
    seen_early = None
    with open(os.path.join(folder, "metrics.jsonl"), "wb") as f:
        f.write(lines[:first])
        f.flush()
        deadline = time.time() + 30  # the complete records arrive while the torn one waits
        while seen_early is None and time.time() < deadline and p.poll() is None:
            if os.path.isdir(os.path.join(out, "live")):
                seen_early = read_back(os.path.join(out, "live"))[0].get("val/loss")
            time.sleep(0.05)
        for piece in (lines[first:cut], lines[cut:]):
            f.write(piece)
            f.flush()
            time.sleep(0.2)
    open(os.path.join(folder, "DONE_00000003"), "w").close()
    rc, err = end_of_follower(p, "DONE")
    scalars, texts = read_back(os.path.join(out, "live"))
    problem = diff_scalars(scalars, WANT)
    check("export_follow_until_done", rc == 0 and not problem and "config/flags" in texts and seen_early == as_f32([(0, 10.83)]),
          f"rc {rc}; read while being written: {seen_early} ({waiting.strip()[:60]}); records in 3 pieces (2 torn), then "
          f"DONE_00000003: exact: {not problem} {problem}; {err.strip()[:160]}")

    # a resumed run (-y 1 from step 2) cuts metrics.jsonl back to its records before step 2 and goes on
    folder = write_run(os.path.join(tmp, "resumed"), RECORDS)
    p = start_follower(folder, out)
    wait_for_scalar(out, "resumed", "eval/hellaswag/accuracy")
    kept = b"".join(json.dumps(r).encode() + b"\n" for r in RECORDS[:5])
    resumed = [dict(CONFIG, resumed_from=2), dict(RECORDS[6], loss=9.5), {"type": "val", "step": 3, "loss": 9.25, "tokens": 384}]
    with open(os.path.join(folder, "metrics.jsonl"), "r+b") as f:
        f.truncate(len(kept))
        f.seek(0, os.SEEK_END)
        f.write(b"".join(json.dumps(r).encode() + b"\n" for r in resumed))
    open(os.path.join(folder, "DONE_00000003"), "w").close()
    rc, err = end_of_follower(p, "DONE")
    scalars, texts = read_back(os.path.join(out, "resumed"))
    want = {"train/loss": [(0, 10.5), (2, 9.5)], "val/loss": [(0, 10.83), (3, 9.25)]}
    got = {t: scalars.get(t) for t in want}
    check("export_follow_resumed_run", rc == 0 and all(got[t] == as_f32(want[t]) for t in want) and "eval/hellaswag/accuracy" not in scalars
          and [s for s, _ in texts.get("config/flags", [])] == [0, 2] and "rewritten" in err,
          f"rc {rc}; after the cut: {got} (want {want}), the dropped eval gone: {'eval/hellaswag/accuracy' not in scalars}; {err.strip()[:160]}")

    # a follower of an unfinished run stops on Ctrl-C (and on SIGTERM, a job's end), its events kept
    folder = write_run(os.path.join(tmp, "unfinished"), RECORDS[:5])
    for name, signum, said in (("export_follow_ctrl_c", signal.SIGINT, "Ctrl-C"), ("export_follow_sigterm", signal.SIGTERM, "SIGTERM")):
        tb = os.path.join(tmp, "tb_" + said)
        p = start_follower(folder, tb)
        up = wait_for_scalar(tb, "unfinished", "train/loss")
        p.send_signal(signum)
        rc, err = end_of_follower(p, said)
        scalars, _ = read_back(os.path.join(tb, "unfinished"))
        check(name, rc == 0 and f"stopped ({said})" in err and scalars.get("train/loss") == as_f32([(0, 10.5)]),
              f"rc {rc}, {err.strip()[:120]!r}, train/loss {scalars.get('train/loss')}"
              f"{'' if up else ' (no point exported within 30 s before the signal)'}")


def main():
    if importlib.util.find_spec("tensorboard") is None:
        report("SKIP", "export_metrics", "tensorboard is not installed (scripts/setup.sh installs requirements.txt)")
        return summary("test_export_metrics.py")
    with tempfile.TemporaryDirectory() as tmp:
        run_in_folders((test_known_runs, test_real_run, test_torn_last_line, test_bad_input, test_follow), tmp)
    return summary("test_export_metrics.py")


if __name__ == "__main__":
    sys.exit(main())

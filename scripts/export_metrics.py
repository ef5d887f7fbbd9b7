#!/usr/bin/env python3
"""TensorBoard event files from the trainers' metrics.jsonl, one subfolder per run.

    /usr/bin/python3 scripts/export_metrics.py RUN_DIR... --tensorboard OUT [--follow [--poll SECONDS]]
    tensorboard --logdir OUT

Every record of a run's metrics.jsonl (common/run_log.h) becomes scalars on the step axis, tagged
TYPE/FIELD: train/loss, train/lr, train/grad_norm, train/grad_l1, train/grad_linf, train/ms,
train/tokens_per_s, train/tokens; val/loss; eval/hellaswag/accuracy (eval/TASK/...); noise/phi,
noise/mean_density, noise/tail_index, noise/phi_per_tensor/wte, noise/phi_per_group/attention, ...;
tail/TENSOR/alpha, tail/TENSOR/coord_alpha_mean, ...; skip/skips. Every number but "step" is
kept, so fields a later trainer adds come along; null (undefined, e.g. a tail index of too few
samples), lists (tail's per-coordinate values) and other strings are left out. The config record
becomes text: config/argv, config/flags (a table of every flag) and config/run (git revision,
device, parameters, tokens per step), at step 0, or at S for a run resumed (-y 1) from step S.

Runs are named by their folder (the shortest trailing parts of the paths that tell them apart),
so `tensorboard --logdir OUT` compares them; an export replaces the event files of OUT/NAME.
A last line without its newline is a record still being written: it is left out (--follow reads
it once complete). --follow tails each metrics.jsonl until every run has written its DONE_<step>
marker (the trainers write it after the last step), or until Ctrl-C; a file cut back by a
resumed run (-y 1) is exported again from its start. Bad input (a missing folder,
no metrics.jsonl, a line that is not a record) is one line `error: ...` and exit 2.

Writer: tensorboard's own EventFileWriter with plain Summary protos (needs tensorboard only: no
TensorFlow and no torch, whose SummaryWriter takes seconds to import and wraps the same writer).
"""
import glob
import json
import math
import os
import signal
import sys
import time

from cli_errors import OneLineParser, fail

PROG = "export_metrics.py"
EVENT_PREFIX = "events.out.tfevents."


class InputError(Exception):
    pass


def tensorboard_modules():
    try:
        from tensorboard.compat.proto import event_pb2, summary_pb2
        from tensorboard.plugins.text import metadata as text_metadata
        from tensorboard.summary.writer.event_file_writer import EventFileWriter
        from tensorboard.util import tensor_util
    except ImportError:
        fail("--tensorboard needs the Python package 'tensorboard' (pinned in requirements.txt; scripts/setup.sh installs it)")
    return event_pb2, summary_pb2, text_metadata, EventFileWriter, tensor_util


# ---------------------------------------------------------------- records -> scalars and text

def is_number(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def record_scalars(record):
    """[(tag, value)] of one non-config record: TYPE[/TASK or /TENSOR]/FIELD[/KEY] for every number."""
    prefix = str(record["type"])
    for name_field in ("task", "tensor"):  # eval/hellaswag/accuracy, tail/qkvw:1/alpha
        if isinstance(record.get(name_field), str):
            prefix += "/" + record[name_field]
    out = []
    for field, value in record.items():
        if field in ("type", "step"):
            continue
        if is_number(value):
            out.append((f"{prefix}/{field}", float(value)))
        elif isinstance(value, dict):  # phi_per_tensor, phi_per_group, ...
            out += [(f"{prefix}/{field}/{key}", float(v)) for key, v in value.items() if is_number(v)]
    return out


def config_texts(record):
    """[(tag, markdown)] of a config record."""
    flags = record.get("flags") if isinstance(record.get("flags"), dict) else {}
    table = "| flag | value |\n|---|---|\n" + "".join(f"| {k} | {json.dumps(v)} |\n" for k, v in flags.items())
    run = [f"{k}: {json.dumps(record[k])}" for k in ("git_revision", "git_dirty", "device", "num_params",
                                                    "tokens_per_step", "resumed_from") if k in record]
    texts = [("config/flags", table), ("config/run", "  \n".join(run))]
    if isinstance(record.get("argv"), str):
        texts.insert(0, ("config/argv", "    " + record["argv"]))  # indented: a code block in markdown
    return texts


def parse_record(path, line_no, raw):
    where = f"'{path}' line {line_no}"
    try:
        record = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise InputError(f"{where} is not UTF-8 text") from None
    except ValueError as e:
        raise InputError(f"{where} is not JSON ({e.msg} at column {e.colno}): a corrupt metrics.jsonl") from None
    if not isinstance(record, dict) or not isinstance(record.get("type"), str):
        raise InputError(f"{where} is not a metrics record (a JSON object with a \"type\")")
    if record["type"] != "config" and not (is_number(record.get("step")) and float(record["step"]).is_integer()):
        raise InputError(f"{where}: a \"{record['type']}\" record without an integer \"step\"")
    return record


# ---------------------------------------------------------------- one run

class RunExport:
    """One run folder's metrics.jsonl, read from where the last read stopped, into OUT/NAME."""

    def __init__(self, folder, name, out_root, tb):
        self.folder, self.name = folder, name
        self.path = os.path.join(folder, "metrics.jsonl")
        self.out = os.path.join(out_root, name)
        self.tb = tb
        self.offset, self.line_no, self.records, self.writer = 0, 0, 0, None
        self.last_line = b""  # the last complete line read, which ends at offset
        self.torn_noted = False

    def open_writer(self):
        try:
            os.makedirs(self.out, exist_ok=True)
            for old in glob.glob(os.path.join(glob.escape(self.out), EVENT_PREFIX + "*")):
                os.remove(old)  # a fresh export of this run replaces the last one
            self.writer = self.tb[3](self.out)
        except OSError as e:
            fail(f"cannot write event files to '{self.out}' ({e.strerror})")

    def done(self):
        return bool(glob.glob(os.path.join(glob.escape(self.folder), "DONE_*")))

    def read_new(self, final):
        """Writes the records completed since the last call; returns how many. final: the last
        read of a finished run or a one-shot export (a torn last line is then noted once)."""
        try:
            with open(self.path, "rb") as f:
                if self.offset:
                    f.seek(self.offset - len(self.last_line))
                    if f.read(len(self.last_line)) != self.last_line:
                        self.restart()  # cut back by a resumed run (-y 1): export it again from the start
                f.seek(self.offset)
                data = f.read()
        except FileNotFoundError:
            return 0
        except OSError as e:
            raise InputError(f"cannot read '{self.path}' ({e.strerror})") from None
        end = data.rfind(b"\n") + 1  # complete lines only
        torn = data[end:]
        count = 0
        for raw in data[:end].split(b"\n")[:-1]:
            self.line_no += 1
            if raw.strip():
                self.write(parse_record(self.path, self.line_no, raw))
                count += 1
        self.offset += end
        if end:
            self.last_line = data[data.rfind(b"\n", 0, end - 1) + 1:end]
        if torn.strip() and final and not self.torn_noted:
            self.torn_noted = True
            print(f"{PROG}: note: '{self.path}' ends in a line without its newline (a record being written): "
                  "left out", file=sys.stderr, flush=True)
        if count:
            self.writer.flush()
        self.records += count
        return count

    def restart(self):
        """New event files from the start of the file. A SessionLog START at step 0 first tells a
        TensorBoard that already loaded this run's points to drop them (its purge rule)."""
        event_pb2 = self.tb[0]
        print(f"{PROG}: '{self.path}' was rewritten (a resumed run): exporting it again", file=sys.stderr, flush=True)
        self.writer.close()
        self.open_writer()
        self.writer.add_event(event_pb2.Event(wall_time=time.time(), step=0,
                                              session_log=event_pb2.SessionLog(status=event_pb2.SessionLog.START)))
        self.offset, self.line_no, self.last_line = 0, 0, b""

    def write(self, record):
        event_pb2, summary_pb2, text_metadata, _, tensor_util = self.tb
        now = time.time()
        if record["type"] == "config":
            step = int(record.get("resumed_from", 0)) if is_number(record.get("resumed_from")) else 0
            meta = text_metadata.create_summary_metadata(display_name=None, description="")
            values = [summary_pb2.Summary.Value(tag=tag, metadata=meta, tensor=tensor_util.make_tensor_proto(text.encode("utf-8")))
                      for tag, text in config_texts(record)]
        else:
            step = int(record["step"])
            values = [summary_pb2.Summary.Value(tag=tag, simple_value=v) for tag, v in record_scalars(record)]
        if values:
            self.writer.add_event(event_pb2.Event(wall_time=now, step=step, summary=summary_pb2.Summary(value=values)))

    def close(self):
        if self.writer is not None:
            self.writer.close()


def run_names(folders):
    """The shortest trailing parts of the folders' paths that tell them apart ('a/out', 'b/out')."""
    parts = [os.path.abspath(f).strip(os.sep).split(os.sep) for f in folders]
    for k in range(1, max(len(p) for p in parts) + 1):
        names = ["/".join(p[-k:]) for p in parts]
        if len(set(names)) == len(names):
            return names
    fail("the same run folder is given twice")


def check_folders(folders, follow):
    for folder in folders:
        if not os.path.exists(folder):
            fail(f"run folder '{folder}' not found")
        if not os.path.isdir(folder):
            fail(f"run folder '{folder}' is not a folder")
        path = os.path.join(folder, "metrics.jsonl")
        if not follow and not os.path.isfile(path):
            fail(f"run folder '{folder}' has no metrics.jsonl (the trainers write it with -o)")


def main(argv=None):
    p = OneLineParser(prog=PROG, description="TensorBoard event files from the trainers' metrics.jsonl, one subfolder per run.")
    p.add_argument("runs", nargs="+", metavar="RUN_DIR", help="run folders (the trainers' -o) holding metrics.jsonl")
    p.add_argument("--tensorboard", required=True, metavar="OUT", help="folder for the event files (tensorboard --logdir OUT)")
    p.add_argument("--follow", action="store_true",
                   help="keep reading the runs as they train; stops when every run has its DONE_<step> marker, or on Ctrl-C")
    p.add_argument("--poll", type=float, default=2.0, metavar="SECONDS", help="--follow: seconds between reads (default 2)")
    args = p.parse_args(argv)
    if not (args.poll > 0 and math.isfinite(args.poll)):
        fail(f"--poll must be a positive number of seconds, not {args.poll}")
    check_folders(args.runs, args.follow)
    if os.path.exists(args.tensorboard) and not os.path.isdir(args.tensorboard):
        fail(f"--tensorboard folder '{args.tensorboard}' is a file")
    if args.follow:  # before the slow imports: a Ctrl-C from now on stops after the next read
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, request_stop)
    tb = tensorboard_modules()
    runs = [RunExport(f, n, args.tensorboard, tb) for f, n in zip(args.runs, run_names(args.runs))]
    for run in runs:
        run.open_writer()
    try:
        if not args.follow:
            for run in runs:
                run.read_new(final=True)
        elif follow(runs, args.poll):
            print(f"{PROG}: stopped (Ctrl-C)" if stop_requested[0] == signal.SIGINT else f"{PROG}: stopped (SIGTERM)",
                  file=sys.stderr, flush=True)
    except InputError as e:
        fail(str(e))
    finally:
        for run in runs:
            run.close()
    for run in runs:
        print(f"{run.folder}: {run.records} records -> {run.out}")
    return 0


# --follow's stop flag: Ctrl-C (SIGINT) and SIGTERM set it, and the loop ends after its next read.
# A flag rather than KeyboardInterrupt, which can land inside tensorboard's writer (or its import,
# under load) and leave the follower hung: a stop is seen only between reads.
stop_requested = []


def request_stop(signum, frame):
    stop_requested.append(signum)


def follow(runs, poll):
    """Reads until every run has its DONE marker (False) or a stop was requested (True)."""
    waiting = [r for r in runs if not os.path.isfile(r.path)]
    if waiting:
        print(f"{PROG}: waiting for {', '.join(r.path for r in waiting)}", file=sys.stderr, flush=True)
    while True:
        finished = [r.done() for r in runs]  # before reading: a run's last records precede its marker
        for run, done in zip(runs, finished):
            run.read_new(final=done)
        if all(finished) or stop_requested:
            return bool(stop_requested)
        time.sleep(poll)


if __name__ == "__main__":
    sys.exit(main())

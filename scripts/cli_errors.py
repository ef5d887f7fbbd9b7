"""Bad input as one line on stderr and exit code 2, shared by the Python tools of scripts/ and
data/ (data/tokenize_docs.py puts scripts/ on sys.path and re-exports these for data/).

    fail(message)             "error: message", or "PROG: error: message" with prog=PROG
    OneLineParser             argparse whose bad-option message is that one line, not usage
    require(module, purpose)  an optional package, or one line saying what needs it
    prepare_out_dir(path)     creates an output folder or fails before any work is done
"""
import argparse
import importlib
import os
import sys


def fail(message, prog=None):
    """One line on stderr, exit 2 (no traceback)."""
    print(f"{prog}: error: {message}" if prog else f"error: {message}", file=sys.stderr, flush=True)
    sys.exit(2)


class OneLineParser(argparse.ArgumentParser):
    """argparse whose bad-option message is fail's one line: "error: PROG: message", or with
    prog_first=True "PROG: error: message" (the tools whose own errors read that way)."""

    def __init__(self, *args, prog_first=False, **kwargs):
        super().__init__(*args, **kwargs)
        self.prog_first = prog_first

    def error(self, message):
        if self.prog_first:
            fail(message, prog=self.prog)
        fail(f"{self.prog}: {message}")


def require(module, purpose):
    """Imports an optional package or exits with one line saying what needs it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        fail(f"{purpose} needs the Python package '{module}' (pip install {module})")


def prepare_out_dir(path):
    """Creates the output folder (with parents) or fails with one line, before any work is done."""
    if os.path.exists(path) and not os.path.isdir(path):
        fail(f"output folder '{path}' is a file")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as e:
        fail(f"cannot create output folder '{path}' ({e.strerror})")
    if not os.access(path, os.W_OK | os.X_OK):
        fail(f"output folder '{path}' is not writable")

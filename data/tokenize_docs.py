"""Tokenizing documents into shards: the code path shared by fineweb.py and tinyshakespeare.py.

The encoder is a plain function text -> list of ids, so tests can inject a fake one and run
the whole path without tiktoken. Optional packages (tiktoken, datasets, tqdm) are imported
only where needed; a missing required one is a one-line error.
"""
import importlib
import json
import multiprocessing
import os
import sys
import time

import numpy as np

from shard_format import ShardSplitter

GPT2_EOT = 50256  # tiktoken's gpt2 "<|endoftext|>"


class InputError(Exception):
    """Bad input data. Raised, not sys.exit: the documents are read in a Pool thread, where
    SystemExit would hang the pool; write_document_shards turns it into a one-line exit."""


def require(module, purpose):
    """Imports an optional package or exits with one line saying what needs it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        sys.exit(f"error: {purpose} needs the Python package '{module}' (pip install {module})")


_gpt2 = None


def gpt2_encode(text):
    """GPT-2 BPE ids of text (special tokens are treated as plain text). Per process, lazy."""
    global _gpt2
    if _gpt2 is None:
        _gpt2 = require("tiktoken", "GPT-2 tokenization").get_encoding("gpt2")
    return _gpt2.encode_ordinary(text)


def gpt2_encoder():
    """Returns (encode, eot) for GPT-2, failing in this process (not in a worker) without tiktoken."""
    gpt2_encode("")
    return gpt2_encode, GPT2_EOT


class DocTokenizer:
    """text -> uint16 array [eot] + encode(text); picklable, so it can run in worker processes."""

    def __init__(self, encode, eot):
        self.encode, self.eot = encode, eot

    def __call__(self, text):
        ids = np.array([self.eot] + list(self.encode(text)), dtype=np.int64)
        if ids.min() < 0 or ids.max() > 0xFFFF:
            raise ValueError("token ids must fit in uint16 for the shard format")
        return ids.astype(np.uint16)


def tokenize_documents(texts, encode, eot, num_procs=1):
    """Yields one token array per text, in input order, using num_procs processes."""
    tokenize = DocTokenizer(encode, eot)
    if num_procs <= 1:
        yield from map(tokenize, texts)
        return
    with multiprocessing.Pool(num_procs) as pool:
        yield from pool.imap(tokenize, texts, chunksize=16)


def read_local_documents(paths):
    """Documents from local files, as a generator: a .txt file is one document, a .jsonl file
    one document per line (its "text" field, as in FineWeb rows). Checks every path first."""
    for path in paths:
        if not path.endswith((".txt", ".jsonl")):
            sys.exit(f"error: input file '{path}' must end in .txt or .jsonl")
        if not os.path.isfile(path):
            sys.exit(f"error: input file '{path}' not found")
    return _documents(paths)


def _documents(paths):
    for path in paths:
        if path.endswith(".txt"):
            with open(path, encoding="utf-8") as f:
                yield f.read()
        elif path.endswith(".jsonl"):
            with open(path, encoding="utf-8") as f:
                for line_no, line in enumerate(f, 1):
                    if not line.strip():
                        continue
                    try:
                        yield json.loads(line)["text"]
                    except (ValueError, KeyError, TypeError):
                        raise InputError(f"'{path}' line {line_no} is not a JSON object with a \"text\" field") from None


class Progress:
    """A token-count progress bar: tqdm when installed, else a line on stderr every few seconds."""

    def __init__(self, desc, quiet=False):
        self.quiet, self.count, self.last = quiet, 0, time.time()
        self.bar = None
        if not quiet:
            try:
                self.bar = importlib.import_module("tqdm").tqdm(desc=desc, unit=" tokens", unit_scale=True)
            except ImportError:
                self.desc = desc

    def update(self, n):
        self.count += n
        if self.bar is not None:
            self.bar.update(n)
        elif not self.quiet and time.time() - self.last > 5:
            self.last = time.time()
            print(f"{self.desc}: {self.count:,} tokens", file=sys.stderr, flush=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()


def write_document_shards(texts, encode, eot, out_dir, name, shard_size, val_tokens=None,
                          num_procs=1, quiet=False):
    """Tokenizes texts ([eot] before each) and writes shards; returns [(path, count), ...]."""
    def report(path, count):
        if not quiet:
            print(f"wrote {path} ({count:,} tokens)", file=sys.stderr, flush=True)

    splitter = ShardSplitter(out_dir, name, shard_size, val_tokens, on_write=report)
    progress = Progress(f"tokenizing {name}", quiet)
    try:
        for tokens in tokenize_documents(texts, encode, eot, num_procs):
            splitter.add(tokens)
            progress.update(len(tokens))
    except InputError as e:
        sys.exit(f"error: {e}")
    finally:
        progress.close()
    return splitter.finish()

"""Tokenizing documents into shards: the code path shared by fineweb.py and tinyshakespeare.py.

The encoder is a plain function text -> list of ids, so tests can inject a fake one and run
the whole path without GPT-2. load_gpt2 is the one place that picks the GPT-2 encoder:
tiktoken when it is installed (tiktoken_gpt2.py: never a download), else the built-in one
(gpt2_bpe.py on the tokenizer table).
Optional packages (tiktoken, regex, datasets, tqdm) are imported only where needed. Bad
input, a missing package or an unwritable output folder is one line `error: ...`, exit 2
(scripts/cli_errors.py).
"""
import importlib
import importlib.util
import json
import multiprocessing
import os
import sys
import time

import numpy as np

from shard_format import ShardSplitter

sys.path.append(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "scripts"))
from cli_errors import OneLineParser, fail, prepare_out_dir, require  # noqa: E402,F401  (re-exported for data/)

GPT2_EOT = 50256  # tiktoken's gpt2 "<|endoftext|>"


class InputError(Exception):
    """Bad input data. Raised, not sys.exit: the documents are read in a Pool thread, where
    SystemExit would hang the pool; write_document_shards turns it into a one-line exit."""


# ---------------------------------------------------------------- the GPT-2 encoder

DEFAULT_TOKENIZER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "gpt2_tokenizer.bin")
ENCODER_HELP = ("GPT-2 encoder: auto (default) uses tiktoken when it is installed (its gpt2 encoding, never "
                "downloaded: from tiktoken's cache, else built from --tokenizer), else the built-in exact "
                "encoder (data/gpt2_bpe.py, needs python3-regex and --tokenizer)")


def add_encoder_args(parser):
    parser.add_argument("--encoder", choices=["auto", "tiktoken", "builtin"], default="auto", help=ENCODER_HELP)
    parser.add_argument("--tokenizer", metavar="FILE", default=DEFAULT_TOKENIZER,
                        help="GPT-2 tokenizer table for the built-in encoder and tiktoken's offline gpt2 "
                             "(default data/gpt2_tokenizer.bin)")


def load_gpt2(choice="auto", table=DEFAULT_TOKENIZER):
    """The one place that picks the GPT-2 encoder: returns (object with encode_ordinary, description)."""
    if choice in ("auto", "tiktoken"):
        if importlib.util.find_spec("tiktoken") is not None:
            from tiktoken_gpt2 import load_tiktoken_gpt2  # the official cached files, else built from the table
            return load_tiktoken_gpt2(table)
        if choice == "tiktoken":
            fail("--encoder tiktoken needs the Python package 'tiktoken', which is not installed")
    try:
        regex = importlib.import_module("regex")
    except ImportError:
        fail("the built-in GPT-2 encoder needs the Python package 'regex' (apt-get install python3-regex), "
             "or install tiktoken")
    token_bytes, eot = read_gpt2_table(table, "the built-in GPT-2 encoder")
    from gpt2_bpe import GPT2BPE
    try:
        encoder = GPT2BPE(token_bytes, eot, regex)
    except ValueError as e:
        fail(f"tokenizer table '{table}' is not the GPT-2 table: {e}")
    why = "; tiktoken is not installed" if choice == "auto" else ""
    return encoder, f"built-in (data/gpt2_bpe.py on {table}{why})"


def read_gpt2_table(table, purpose, hint="or install tiktoken"):
    """(token_bytes, eot) of the GPT-2 tokenizer table, or one line naming what needs it and why not."""
    if os.path.isdir(table):
        fail(f"tokenizer table '{table}' is a directory")
    if not os.path.isfile(table):
        fail(f"{purpose} needs the tokenizer table '{table}', which is not there "
             f"(data/use_shared_data.sh links it; {hint})")
    from tokenizer_file import TokenizerFileError, read_tokenizer_file
    try:
        token_bytes, eot = read_tokenizer_file(table)
    except TokenizerFileError as e:
        fail(f"tokenizer table '{table}' is not the GPT-2 table: {e}")
    if len(token_bytes) != 50257 or eot != GPT2_EOT:
        fail(f"tokenizer table '{table}' is not the GPT-2 table: vocab {len(token_bytes)} and end-of-text {eot}, "
             f"want 50257 and {GPT2_EOT}")
    return token_bytes, eot


_gpt2 = None  # this process's encoder; set by gpt2_encoder before worker processes fork


def gpt2_encode(text):
    """GPT-2 BPE ids of text ("<|endoftext|>" in it is plain text). A module function, so
    worker processes get it by name instead of a pickled encoder."""
    global _gpt2
    if _gpt2 is None:
        _gpt2 = load_gpt2()[0]
    return _gpt2.encode_ordinary(text)


def gpt2_encoder(choice="auto", table=DEFAULT_TOKENIZER, quiet=False):
    """Returns (encode, eot) for GPT-2, failing here (not in a worker) when no encoder can be
    had, and says on stderr which encoder it is."""
    global _gpt2
    _gpt2, description = load_gpt2(choice, table)
    if not quiet:
        print(f"GPT-2 encoder: {description}", file=sys.stderr, flush=True)
    return gpt2_encode, GPT2_EOT


# ---------------------------------------------------------------- input and output

def read_text_file(path):
    """The whole file as str; raises InputError naming the file when it is not UTF-8 or unreadable."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise InputError(f"cannot read '{path}' ({e.strerror})") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InputError(f"'{path}' is not UTF-8 text (byte {data[e.start]:#04x} at offset {e.start})") from None


class DocTokenizer:
    """text -> uint16 array [eot] + encode(text); picklable, so it can run in worker processes."""

    def __init__(self, encode, eot):
        self.encode, self.eot = encode, eot

    def __call__(self, text):
        if not isinstance(text, str):
            raise InputError(f"a document is {type(text).__name__}, not text")
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
            fail(f"input file '{path}' must end in .txt or .jsonl")
        if os.path.isdir(path):
            fail(f"input file '{path}' is a directory")
        if not os.path.isfile(path):
            fail(f"input file '{path}' not found")
    return _documents(paths)


def _documents(paths):
    for path in paths:
        if path.endswith(".txt"):
            yield read_text_file(path)
            continue
        try:
            f = open(path, "rb")
        except OSError as e:
            raise InputError(f"cannot read '{path}' ({e.strerror})") from None
        with f:  # read line by line: a .jsonl may be larger than memory
            for line_no, raw in enumerate(f, 1):
                if raw.strip():  # blank lines are skipped
                    yield _jsonl_text(path, line_no, raw)


def _jsonl_text(path, line_no, raw):
    where = f"'{path}' line {line_no}"
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InputError(f"{where} is not UTF-8 (byte {raw[e.start]:#04x} at column {e.start + 1})") from None
    try:
        row = json.loads(line)
    except ValueError as e:
        raise InputError(f"{where} is not JSON ({e.msg} at column {e.colno})") from None
    if not isinstance(row, dict) or "text" not in row:
        raise InputError(f"{where} is not a JSON object with a \"text\" field")
    text = row["text"]
    if not isinstance(text, str):
        raise InputError(f"{where}: \"text\" is {json.dumps(text)[:40]}, not a string")
    return text


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
    """Tokenizes texts ([eot] before each) and writes shards; returns [(path, count), ...].
    Fails with one line (writing nothing, or removing what it wrote) when the input has no
    text or too few tokens to leave any for a train shard."""
    def report(path, count):
        if not quiet:
            print(f"wrote {path} ({count:,} tokens)", file=sys.stderr, flush=True)

    prepare_out_dir(out_dir)
    splitter = ShardSplitter(out_dir, name, shard_size, val_tokens, on_write=report)
    progress = Progress(f"tokenizing {name}", quiet)
    stream = tokenize_documents(texts, encode, eot, num_procs)
    documents = 0
    try:
        for tokens in stream:
            splitter.add(tokens)
            progress.update(len(tokens))
            documents += 1
        problem = None
        if progress.count == documents:
            problem = "the input holds no text" + (f" ({documents:,} empty documents)" if documents > 1 else "")
        elif progress.count <= splitter.val_tokens:
            problem = (f"the input gives only {progress.count:,} tokens, not more than the "
                       f"{splitter.val_tokens:,} val tokens: there would be no train shard")
        if problem:
            for path, _ in splitter.written:
                os.remove(path)
            raise InputError(problem)
        return splitter.finish()
    except InputError as e:
        fail(str(e))
    except OSError as e:
        fail(f"cannot write shards to '{out_dir}' ({e.strerror}: '{e.filename}')")
    finally:
        stream.close()  # stops the worker processes now, also when failing
        progress.close()

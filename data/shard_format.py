"""The llm.c token-shard format: the one reader and writer every data script and test uses.

A shard is a 1024-byte header of 256 little-endian int32 (magic 20240520, version 1,
token count, then zeros) followed by that many uint16 token ids. Only numpy is needed.
"""
import os

import numpy as np

SHARD_MAGIC = 20240520
SHARD_VERSION = 1
HEADER_INTS = 256
HEADER_BYTES = HEADER_INTS * 4
TOKEN_BYTES = 2


class ShardError(ValueError):
    """A file that is not a valid shard; the message names the file and the problem."""


def write_shard(path, tokens):
    """Writes tokens (any integer sequence with values in 0..65535) as one shard."""
    tokens = np.asarray(tokens)
    if tokens.ndim != 1:
        raise ValueError(f"{path}: tokens must be a 1-D sequence, got shape {tokens.shape}")
    if tokens.size and not np.issubdtype(tokens.dtype, np.integer):
        raise ValueError(f"{path}: tokens must be integers, got {tokens.dtype}")
    if tokens.size and (tokens.min() < 0 or tokens.max() > 0xFFFF):
        raise ValueError(f"{path}: token ids must fit in uint16 (0..65535)")
    header = np.zeros(HEADER_INTS, dtype="<i4")
    header[0], header[1], header[2] = SHARD_MAGIC, SHARD_VERSION, tokens.size
    with open(path, "wb") as f:
        f.write(header.tobytes())
        f.write(tokens.astype("<u2").tobytes())


def read_shard_header(path):
    """Checks the header and the file size; returns the token count or raises ShardError."""
    if not os.path.isfile(path):
        raise ShardError(f"'{path}' not found")
    size = os.path.getsize(path)
    if size < HEADER_BYTES:
        raise ShardError(f"'{path}' is truncated: {size} bytes, shorter than the {HEADER_BYTES}-byte header")
    header = np.fromfile(path, dtype="<i4", count=HEADER_INTS)
    magic, version, count = (int(x) for x in header[:3])
    if magic != SHARD_MAGIC:
        raise ShardError(f"'{path}' is not a token shard (magic {magic}, want {SHARD_MAGIC})")
    if version != SHARD_VERSION:
        raise ShardError(f"'{path}' has shard version {version}, want {SHARD_VERSION}")
    want = HEADER_BYTES + TOKEN_BYTES * count
    if count < 0 or size < want:
        raise ShardError(f"'{path}' is truncated: header says {count} tokens ({want} bytes), file has {size} bytes")
    if size > want:
        raise ShardError(f"'{path}' has {size - want} bytes after the {count} tokens its header announces")
    return count


def read_shard(path):
    """Returns the tokens of a shard as a uint16 array (header checked first)."""
    count = read_shard_header(path)
    return np.fromfile(path, dtype="<u2", count=count, offset=HEADER_BYTES)


def shard_path(out_dir, name, split, index=None):
    """llm.c names: NAME_SPLIT.bin for a single file, NAME_SPLIT_000003.bin when numbered."""
    stem = f"{name}_{split}" if index is None else f"{name}_{split}_{index:06d}"
    return os.path.join(out_dir, stem + ".bin")


class ShardSplitter:
    """Cuts a stream of token arrays (one per document) into shards, as llm.c does.

    The first val_tokens tokens form the val shard, everything after goes to train shards
    of shard_size tokens; documents are split where a shard fills up. With shard_size=None
    there is one val file and one train file (NAME_val.bin, NAME_train.bin); otherwise
    shards are numbered, val first: NAME_val_000000.bin, NAME_train_000001.bin, ...
    on_write(path, count) is called after each shard is written.
    """

    def __init__(self, out_dir, name, shard_size, val_tokens=None, on_write=None):
        if shard_size is not None and shard_size < 1:
            raise ValueError("shard_size must be positive")
        self.out_dir, self.name, self.shard_size = out_dir, name, shard_size
        self.val_tokens = val_tokens if val_tokens is not None else shard_size
        if self.val_tokens is None or self.val_tokens < 1:
            raise ValueError("val_tokens must be positive (or given through shard_size)")
        self.on_write = on_write
        self.written = []  # (path, token count) in writing order
        self._parts, self._filled = [], 0
        os.makedirs(out_dir, exist_ok=True)

    def _capacity(self):
        if not self.written:
            return self.val_tokens
        return self.shard_size if self.shard_size is not None else float("inf")

    def add(self, tokens):
        tokens = np.asarray(tokens, dtype=np.uint16)
        while tokens.size:
            take = int(min(self._capacity() - self._filled, tokens.size))
            self._parts.append(tokens[:take])
            self._filled += take
            tokens = tokens[take:]
            if self._filled == self._capacity():
                self._flush()

    def finish(self):
        """Writes the last, partly filled shard; returns [(path, count), ...]."""
        if self._filled:
            self._flush()
        return self.written

    def _flush(self):
        index = len(self.written)
        split = "val" if index == 0 else "train"
        path = shard_path(self.out_dir, self.name, split, None if self.shard_size is None else index)
        write_shard(path, np.concatenate(self._parts))
        self.written.append((path, self._filled))
        self._parts, self._filled = [], 0
        if self.on_write:
            self.on_write(path, self.written[-1][1])

"""The llm.c tokenizer (decode table) file: the trainers read it to print samples as text.

Layout: 256 little-endian uint32 header (magic 20240328, version 2, vocab size, id of the
end-of-text token, then zeros), then for each token id in order one uint8 byte length
(1..255) followed by that many raw bytes. Version 1 files lack the end-of-text field.
"""
import os

import numpy as np

TOKENIZER_MAGIC = 20240328
TOKENIZER_VERSION = 2
HEADER_INTS = 256
HEADER_BYTES = HEADER_INTS * 4


class TokenizerFileError(ValueError):
    """A file that is not a valid tokenizer file; the message names the file."""


def write_tokenizer_file(path, token_bytes, eot_token):
    """token_bytes[i] is the byte string of token id i; eot_token the end-of-text id."""
    if not 0 <= eot_token < len(token_bytes):
        raise ValueError(f"end-of-text id {eot_token} is outside the vocabulary of {len(token_bytes)}")
    header = np.zeros(HEADER_INTS, dtype="<u4")
    header[0], header[1], header[2], header[3] = TOKENIZER_MAGIC, TOKENIZER_VERSION, len(token_bytes), eot_token
    body = bytearray()
    for i, b in enumerate(token_bytes):
        if not 1 <= len(b) <= 255:
            raise ValueError(f"token {i} has {len(b)} bytes; the format holds 1..255")
        body.append(len(b))
        body += b
    with open(path, "wb") as f:
        f.write(header.tobytes())
        f.write(bytes(body))


def read_tokenizer_file(path):
    """Returns (token_bytes list, eot_token) or raises TokenizerFileError."""
    if not os.path.isfile(path):
        raise TokenizerFileError(f"'{path}' not found")
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < HEADER_BYTES:
        raise TokenizerFileError(f"'{path}' is truncated: shorter than the {HEADER_BYTES}-byte header")
    header = np.frombuffer(data[:HEADER_BYTES], dtype="<u4")
    magic, version, vocab = int(header[0]), int(header[1]), int(header[2])
    if magic != TOKENIZER_MAGIC:
        raise TokenizerFileError(f"'{path}' is not a tokenizer file (magic {magic}, want {TOKENIZER_MAGIC})")
    if version not in (1, 2):
        raise TokenizerFileError(f"'{path}' has tokenizer version {version}, want 1 or 2")
    eot = int(header[3]) if version == 2 else 50256
    tokens, pos = [], HEADER_BYTES
    for i in range(vocab):
        if pos >= len(data) or data[pos] == 0 or pos + 1 + data[pos] > len(data):
            raise TokenizerFileError(f"'{path}' is truncated or corrupt at token {i} of {vocab}")
        n = data[pos]
        tokens.append(data[pos + 1:pos + 1 + n])
        pos += 1 + n
    if pos != len(data):
        raise TokenizerFileError(f"'{path}' has {len(data) - pos} bytes after its {vocab} tokens")
    return tokens, eot


def decode(token_bytes, ids):
    """Bytes of a token id sequence (decode to str with errors='replace' for display)."""
    return b"".join(token_bytes[i] for i in ids)

"""Writes synthetic shards and tokenizer files for test/test_dataloader.cpp, with data/shard_format.py.

    /usr/bin/python3 test/make_test_shards.py OUT_DIR

OUT_DIR/good/train_00S.bin: token i of shard S is 10000*S + i, so the test can tell from a
token which shard and offset it came from; OUT_DIR/good/manifest.txt lists "path count".
OUT_DIR/bad/: one file per error the loader must report. OUT_DIR/tok/: tokenizer files.
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data"))
from shard_format import HEADER_BYTES, write_shard  # noqa: E402
from tokenizer_file import write_tokenizer_file  # noqa: E402

# With B=2, T=8 (16 tokens a window): 5, 3 (plus 6 unused tokens), 4 and 1 windows.
SHARD_TOKENS = [81, 55, 65, 17]


def patch_int32(path, index, value):
    with open(path, "r+b") as f:
        f.seek(4 * index)
        f.write(np.int32(value).tobytes())


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: make_test_shards.py OUT_DIR")
    out = sys.argv[1]
    good, bad, tok = (os.path.join(out, d) for d in ("good", "bad", "tok"))
    for d in (good, bad, tok):
        os.makedirs(d, exist_ok=True)
    with open(os.path.join(good, "manifest.txt"), "w") as manifest:
        for s, n in enumerate(SHARD_TOKENS):
            path = os.path.join(good, f"train_{s:03d}.bin")
            write_shard(path, 10000 * s + np.arange(n))
            manifest.write(f"{path} {n}\n")

    tokens = np.arange(100)
    write_shard(os.path.join(bad, "bad_magic.bin"), tokens)
    patch_int32(os.path.join(bad, "bad_magic.bin"), 0, 12345)
    write_shard(os.path.join(bad, "bad_version.bin"), tokens)
    patch_int32(os.path.join(bad, "bad_version.bin"), 1, 7)
    write_shard(os.path.join(bad, "truncated.bin"), tokens)
    with open(os.path.join(bad, "truncated.bin"), "r+b") as f:
        f.truncate(HEADER_BYTES + 2 * 50)
    write_shard(os.path.join(bad, "short.bin"), np.arange(10))  # fewer than B*T+1 = 17
    with open(os.path.join(bad, "header_cut.bin"), "wb") as f:
        f.write(b"\0" * 100)

    vocab = [bytes([b]) for b in range(256)] + [b"Hello", b" world", b"<|endoftext|>"]
    write_tokenizer_file(os.path.join(tok, "fake_tokenizer.bin"), vocab, len(vocab) - 1)
    write_tokenizer_file(os.path.join(tok, "bad_magic.bin"), vocab, len(vocab) - 1)
    patch_int32(os.path.join(tok, "bad_magic.bin"), 0, 12345)
    write_tokenizer_file(os.path.join(tok, "truncated.bin"), vocab, len(vocab) - 1)
    with open(os.path.join(tok, "truncated.bin"), "r+b") as f:
        f.truncate(os.path.getsize(os.path.join(tok, "truncated.bin")) - 3)


if __name__ == "__main__":
    main()

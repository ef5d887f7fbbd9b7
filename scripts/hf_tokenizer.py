"""Hugging Face GPT-2 tokenizer files (vocab.json, merges.txt, tokenizer.json, ...) from the
tokenizer table this project commits (data/gpt2_tokenizer.bin), offline.

GPT-2's merge ranks are its token ids (data/gpt2_bpe.py): ids 0..255 are the single bytes,
id 256 + r is merge r, and 50256 is <|endoftext|>. The table holds each id's bytes but not
which two tokens were merged into it; the pair is recovered by replaying BPE on the token's
bytes with only the merges ranked below it: that leaves exactly two parts, the pair merged
last. vocab.json spells bytes with GPT-2's byte-to-unicode map (transformers'
bytes_to_unicode). tokenizer.json comes from transformers' own slow-to-fast conversion.
"""
import json
import os
import sys

from cli_errors import fail, require
from hf_gpt2 import GPT2_EOT

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.append(os.path.join(REPO, "data"))  # tokenizer_file
DEFAULT_TABLE = os.path.join(REPO, "data", "gpt2_tokenizer.bin")


def last_merge(token, ranks, rank):
    """The two parts BPE leaves of token when only merges ranked below rank are allowed (the
    lowest-ranked adjacent pair first, the leftmost on a tie: tiktoken's rule)."""
    parts = [token[i:i + 1] for i in range(len(token))]
    while len(parts) > 2:
        best, best_rank = None, rank
        for i in range(len(parts) - 1):
            r = ranks.get(parts[i] + parts[i + 1])
            if r is not None and r < best_rank:
                best, best_rank = i, r
        if best is None:
            break
        parts[best:best + 2] = [parts[best] + parts[best + 1]]
    return parts


def gpt2_vocab_and_merges(token_bytes, eot):
    """(vocab: unicode string -> id, merges: list of (left, right) strings in rank order)."""
    from transformers.models.gpt2.tokenization_gpt2 import bytes_to_unicode
    byte_char = str.maketrans({chr(b): c for b, c in bytes_to_unicode().items()})

    def spell(b):
        return b.decode("latin-1").translate(byte_char)

    ranks = {b: i for i, b in enumerate(token_bytes) if i != eot}
    vocab = {spell(b): i for i, b in enumerate(token_bytes) if i != eot}
    vocab["<|endoftext|>"] = eot
    merges = []
    for rank in range(256, len(token_bytes)):
        if rank == eot:
            continue
        parts = last_merge(token_bytes[rank], ranks, rank)
        if len(parts) != 2:
            raise ValueError(f"token {rank} is not one merge of two lower-ranked tokens")
        merges.append((spell(parts[0]), spell(parts[1])))
    return vocab, merges


_written = {}  # (table, max_len) -> {file name: bytes}: a second export in one process copies them


def write_tokenizer(out_dir, max_len, table=DEFAULT_TABLE):
    """Writes vocab.json, merges.txt, tokenizer.json, tokenizer_config.json and
    special_tokens_map.json into out_dir."""
    key = (os.path.abspath(table), max_len)
    if key in _written:
        for name, data in _written[key].items():
            with open(os.path.join(out_dir, name), "wb") as f:
                f.write(data)
        return
    from tokenizer_file import TokenizerFileError, read_tokenizer_file
    try:
        token_bytes, eot = read_tokenizer_file(table)
    except TokenizerFileError as e:
        fail(str(e))
    if len(token_bytes) != GPT2_EOT + 1 or eot != GPT2_EOT:
        fail(f"tokenizer table '{table}' is not GPT-2's ({len(token_bytes)} tokens, end-of-text {eot})")
    require("transformers", "writing the tokenizer files")
    vocab, merges = gpt2_vocab_and_merges(token_bytes, eot)
    vocab_file, merges_file = os.path.join(out_dir, "vocab.json"), os.path.join(out_dir, "merges.txt")
    with open(vocab_file, "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=False)
    with open(merges_file, "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n")
        f.writelines(f"{a} {b}\n" for a, b in merges)
    from transformers import GPT2TokenizerFast
    tok = GPT2TokenizerFast(vocab_file=vocab_file, merges_file=merges_file, model_max_length=max_len)
    _written[key] = {}
    for path in tok.save_pretrained(out_dir):
        if os.path.isfile(path):  # save_pretrained also names an added_tokens.json it does not write
            with open(path, "rb") as f:
                _written[key][os.path.basename(path)] = f.read()

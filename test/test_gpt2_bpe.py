"""Tests of the built-in GPT-2 encoder (data/gpt2_bpe.py): it must be tiktoken's GPT-2 exactly.

The proof is the shipped shards: tinyshakespeare.py and fineweb.py, run with the built-in
encoder on the shipped .txt files, must write the shipped .bin shards byte for byte. Also
fixed ids from tiktoken's own tests, the heap merge against a literal transcription of
tiktoken's scan on hard pieces. Where tiktoken is importable, its path in the data scripts:
its gpt2 encoding made offline (data/tiktoken_gpt2.py: OpenAI's files from the table, their
sha256 checked; and the Encoding built from the table) equals the built-in encoder on hard
cases and the committed texts, and remakes the shipped shards.

    /usr/bin/python3 test/test_gpt2_bpe.py [SHARED_DATA_DIR]

SHARED_DATA_DIR (../shared/data) has the tokenizer table, the texts and the shards; without
it every check SKIPs (data/gpt2_tokenizer.bin, when present, still runs the fixed-id checks).
Prints one PASS/FAIL/SKIP line per check and exits 1 when any check failed.
"""
import importlib.util
import json
import os
import random
import sys
import tempfile
import time
import traceback

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(REPO, "data")
sys.path.insert(0, DATA)
import fineweb  # noqa: E402
import tinyshakespeare  # noqa: E402
from verdicts import check, report, results, summary  # noqa: E402,F401
from tokenizer_file import decode, read_tokenizer_file  # noqa: E402


# (text, ids) from tiktoken's tests/test_encoding.py (gpt2) and ../shared/data/README.md
FIXED = [("Hello world", [15496, 995]), ("hello world", [31373, 995]), ("Hello, world!", [15496, 11, 995, 0]),
         ("", [])] + [("0" * n, ids) for n, ids in [
             (1, [15]), (2, [405]), (3, [830]), (4, [2388]), (5, [20483]), (6, [10535]), (7, [24598]), (8, [8269]),
             (9, [10535, 830]), (10, [8269, 405]), (11, [8269, 830]), (12, [8269, 2388]), (13, [8269, 20483]),
             (14, [8269, 10535]), (15, [8269, 24598]), (16, [25645]), (17, [8269, 10535, 830])]]


def scan_merge(ranks, piece):
    """tiktoken's byte-pair merge as written there: rescan for the lowest-ranked adjacent pair,
    leftmost on a tie, merge it, repeat. Quadratic; the reference for the heap version."""
    if piece in ranks:
        return [ranks[piece]]
    parts = [piece[i:i + 1] for i in range(len(piece))]
    while len(parts) > 1:
        best, at = None, -1
        for i in range(len(parts) - 1):
            r = ranks.get(parts[i] + parts[i + 1])
            if r is not None and (best is None or r < best):
                best, at = r, i
        if best is None:
            break
        parts[at:at + 2] = [parts[at] + parts[at + 1]]
    return [ranks[p] for p in parts]


def first_path(*paths):
    return next((p for p in paths if p and os.path.isfile(p)), None)


def test_fixed_ids(enc, vocab):
    bad = [(t, enc.encode_ordinary(t), ids) for t, ids in FIXED if enc.encode_ordinary(t) != ids]
    check("bpe_fixed_ids", not bad, f"{len(FIXED)} texts (Hello world, tiktoken's repeated zeros)"
          + (f"; first wrong: {bad[0][0]!r} -> {bad[0][1]}, want {bad[0][2]}" if bad else ""))
    text = "a <|endoftext|> b"
    ids = enc.encode_ordinary(text)
    check("bpe_endoftext_is_plain_text", 50256 not in ids and decode(vocab, ids) == text.encode(),
          f"{text!r} -> {ids}")
    # tiktoken turns lone surrogates (json.loads("\"\\ud83d\"") makes one) into U+FFFD
    check("bpe_lone_surrogate_as_replacement_char", enc.encode_ordinary("x\ud83dy") == enc.encode_ordinary("x\ufffdy"),
          f"{enc.encode_ordinary('x' + chr(0xD83D) + 'y')}")


def test_heap_matches_scan(enc, vocab):
    rng = random.Random(1234)
    common = [b for b in vocab[256:4000] if b.isalpha()]  # pieces made of frequent merges: many ties
    pieces = [b"0" * n for n in range(1, 70)] + [b"ab" * n for n in range(1, 40)] + [b" " * n for n in range(1, 40)]
    for _ in range(3000):
        pieces.append(b"".join(rng.choice(common) for _ in range(rng.randint(1, 12))))
    for _ in range(500):
        pieces.append(bytes(rng.choice(b"aeinrst\x80\xe3 ") for _ in range(rng.randint(1, 60))))
    pieces.append(os.urandom(300))
    bad = [p for p in pieces if enc.encode_piece(p) != scan_merge(enc.ranks, p)]
    check("bpe_heap_merge_matches_tiktoken_scan", not bad,
          f"{len(pieces)} pieces" + (f"; first differing {bad[0][:40]!r}" if bad else ""))


def test_shards(shared, table, tmp, encoder="builtin"):
    """The shipped shards, re-made by the scripts with the encoder, byte for byte."""
    cases = [("tinyshakespeare", "tiny_shakespeare", "input.txt", ["val", "train"], tinyshakespeare.main, []),
             ("fineweb_sample", "fineweb_edu_sample", "fineweb_edu_sample.txt", ["val_000000", "train_000001"],
              fineweb.main, ["--val-tokens", "32768", "--name", "fineweb_edu_sample", "-j", "1"])]
    texts = {}
    label = "bpe" if encoder == "builtin" else encoder
    for folder, stem, text_name, made, script, extra in cases:
        src = os.path.join(shared, folder, text_name)
        shipped = [os.path.join(shared, folder, f"{stem}_{split}.bin") for split in ("val", "train")]
        if not all(os.path.isfile(p) for p in [src] + shipped):
            report("SKIP", f"{label}_reproduces_{folder}_shards", f"no {src} or its shards")
            continue
        out = os.path.join(tmp, folder)
        start = time.time()
        script(["--input", src, "-o", out, "-q", "--encoder", encoder, "--tokenizer", table] + extra)
        seconds = time.time() - start
        mine = [os.path.join(out, f"{stem}_{split}.bin") for split in made]
        same = [os.path.isfile(m) and open(m, "rb").read() == open(s, "rb").read() for m, s in zip(mine, shipped)]
        check(f"{label}_reproduces_{folder}_shards", all(same) and sorted(os.listdir(out)) == sorted(map(os.path.basename, mine)),
              f"val, train identical: {same}, {os.path.getsize(src):,} bytes of text in {seconds:.1f} s")
        with open(src, encoding="utf-8") as f:
            texts[folder] = f.read()
    return texts


def test_whole_text_count(enc, texts):
    if "tinyshakespeare" not in texts:
        report("SKIP", "bpe_tinyshakespeare_338025_tokens", "no Tiny Shakespeare text")
        return
    n = len(enc.encode_ordinary(texts["tinyshakespeare"]))
    check("bpe_tinyshakespeare_338025_tokens", n == 338025, f"{n} tokens without inserted end-of-text")


# Hard cases for the two encoders. "<|endoftext|>" in a document is text to the data scripts
# (encode_ordinary in both encoders); the scripts put the one end-of-text id before each document.
HARD = ["日本語のテキスト、中文文本，한국어 텍스트", "emoji 😀👍🏽 👨‍👩‍👧‍👦 🇩🇪 ❤️", "e\u0301 a\u0308\u0323 \u1100\u1161\u11a8 क्षि ñ",
        " " * 300, "a" + " " * 77 + "b", "\t\t \n \t\n\n  x", "trailing   ", "   leading", "\r\n\r\nwin\r\n",
        "3.14159 1,000,000 -42 007 12345678901234567890", "٣٤٥ ² ½ １２３ x2y3", "<|endoftext|>", "a<|endoftext|>b",
        "doc one.<|endoftext|>doc two <|endoftext|><|endoftext|> end <|endo", "\n", "\n\n\n", "a\nb\n\nc\n",
        "it's I'M we'll they'VE 'd'", "x\ud83dy", "\x00\x01\x7f\u00a0\u00ad", ""]


def tiktoken_cases(enc, vocab, texts, shared, table, tmp):
    """tiktoken's path in the data scripts: its gpt2 encoding made offline (tiktoken_gpt2.py)
    must be OpenAI's, equal the built-in encoder, and remake the shipped shards."""
    if importlib.util.find_spec("tiktoken") is None:
        report("SKIP", "tiktoken_gpt2", "tiktoken is not installed (the shard checks above are the proof)")
        return
    import tiktoken
    import tiktoken_gpt2
    cache = os.path.join(tmp, "tiktoken_cache")
    empty = os.path.join(tmp, "empty_cache")
    os.makedirs(empty)
    paths = tiktoken_gpt2.write_cache(table, cache)  # fails unless both files hash to OpenAI's sha256
    check("tiktoken_official_files_from_table", len(paths) == 2,
          "vocab.bpe and encoder.json made from the table have OpenAI's sha256")
    os.environ["TIKTOKEN_CACHE_DIR"] = cache
    official = tiktoken.get_encoding("gpt2")  # reads the cache, checks the sha256 itself
    loaded, said = tiktoken_gpt2.load_tiktoken_gpt2(table)
    os.environ["TIKTOKEN_CACHE_DIR"] = empty
    built, said_built = tiktoken_gpt2.load_tiktoken_gpt2(table)
    same = [official._mergeable_ranks == built._mergeable_ranks, official._pat_str == built._pat_str,
            official._special_tokens == built._special_tokens, official.n_vocab == built.n_vocab == 50257]
    check("tiktoken_built_equals_official", all(same) and loaded is official and "official" in said and "no download" in said_built,
          f"ranks, pattern, special tokens, vocab equal: {same}; with the cache: {said!r}; without: {said_built!r}")

    rng = random.Random(7)
    samples = HARD + list(texts.values()) + [
        "".join(chr(rng.choice([rng.randint(32, 0x2FF), rng.randint(0x3000, 0x9FFF), rng.randint(0x1F300, 0x1FAFF), 10, 32, 9]))
                for _ in range(rng.randint(0, 200))) for _ in range(300)]
    bad = [s for s in samples if not enc.encode_ordinary(s) == built.encode_ordinary(s) == official.encode_ordinary(s)]
    check("tiktoken_equals_builtin", not bad, f"{len(samples)} texts: {len(HARD)} hard cases, the committed texts, 300 random"
          + (f"; first differing {bad[0][:60]!r}: builtin {enc.encode_ordinary(bad[0])[:12]}, tiktoken {built.encode_ordinary(bad[0])[:12]}"
             if bad else ""))
    text = "a <|endoftext|> b"
    ids = built.encode_ordinary(text)
    try:
        built.encode(text)
        refused = False
    except ValueError:  # tiktoken's encode refuses special tokens in text unless allowed
        refused = True
    special = built.encode(text, allowed_special="all")
    check("tiktoken_endoftext_in_text_is_text", ids == enc.encode_ordinary(text) and 50256 not in ids and refused and special.count(50256) == 1,
          f"encode_ordinary {ids}; encode refuses: {refused}; allowed_special='all' gives {special} (not used by the scripts)")

    docs = os.path.join(tmp, "docs.jsonl")
    with open(docs, "w", encoding="utf-8") as f:
        for s in HARD:
            f.write(json.dumps({"text": s}) + "\n")
    outs = {}
    for encoder in ("builtin", "tiktoken"):
        out = os.path.join(tmp, "docs_" + encoder)
        fineweb.main(["--input", docs, "-o", out, "-q", "--encoder", encoder, "--tokenizer", table, "--val-tokens", "8", "-j", "1"])
        outs[encoder] = [open(os.path.join(out, f"text_{x}.bin"), "rb").read() for x in ("val_000000", "train_000001")]
    stream = [int(t) for t in np.frombuffer(b"".join(o[1024:] for o in outs["tiktoken"]), dtype="<u2")]
    eots = stream.count(50256)
    check("tiktoken_fineweb_shards_equal_builtin", outs["builtin"] == outs["tiktoken"] and eots == len(HARD),
          f"fineweb.py on {len(HARD)} hard documents (.jsonl): shards identical: {outs['builtin'] == outs['tiktoken']}, "
          f"{eots} end-of-text ids (one per document)")

    if shared and os.path.isdir(shared):
        test_shards(shared, table, os.path.join(tmp, "tiktoken_shards"), "tiktoken")
    else:
        report("SKIP", "tiktoken_reproduces_shards", f"no shared data folder '{shared}'")


def main():
    shared = sys.argv[1] if len(sys.argv) > 1 else ""
    table = first_path(os.path.join(shared, "gpt2_tokenizer.bin") if shared else None,
                       os.path.join(DATA, "gpt2_tokenizer.bin"))
    if table is None or importlib.util.find_spec("regex") is None:
        report("SKIP", "gpt2_bpe", "no tokenizer table (give SHARED_DATA_DIR)" if table is None
               else "no Python module regex (apt-get install python3-regex; scripts/setup.sh does)")
        return 0
    import regex
    from gpt2_bpe import GPT2BPE
    vocab, eot = read_tokenizer_file(table)
    enc = GPT2BPE(vocab, eot, regex)
    texts = {}
    with tempfile.TemporaryDirectory() as tmp:
        steps = [lambda: test_fixed_ids(enc, vocab), lambda: test_heap_matches_scan(enc, vocab)]
        if shared and os.path.isdir(shared):
            steps.append(lambda: texts.update(test_shards(shared, table, tmp)))
        else:
            report("SKIP", "bpe_reproduces_shards", f"no shared data folder '{shared}'")
        steps += [lambda: test_whole_text_count(enc, texts), lambda: tiktoken_cases(enc, vocab, texts, shared, table, tmp)]
        for step in steps:
            try:
                step()
            except BaseException:  # SystemExit too: a script's error line is already printed
                report("FAIL", "test_gpt2_bpe", "raised " + traceback.format_exc().strip().splitlines()[-1])
    return summary("test_gpt2_bpe.py")


if __name__ == "__main__":
    sys.exit(main())

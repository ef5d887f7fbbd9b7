"""Tests of the data/ scripts: shard and tokenizer file formats, and the tokenize-and-shard path
run end to end with a fake byte-level encoder (so neither tiktoken nor a network is needed).
With the shared data folder, also checks the real shards and tokenizer file in it.

    /usr/bin/python3 test/test_data_scripts.py [SHARED_DATA_DIR]

Prints one PASS/FAIL/SKIP line per check and exits 1 when any check failed.
"""
import hashlib
import importlib.util
import os
import subprocess
import sys
import tempfile
import traceback

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(REPO, "data")
sys.path.insert(0, DATA)
import fineweb  # noqa: E402
import tinyshakespeare  # noqa: E402
from shard_format import HEADER_BYTES, SHARD_MAGIC, ShardError, read_shard, read_shard_header, write_shard  # noqa: E402
from tokenizer_file import TokenizerFileError, decode, read_tokenizer_file, write_tokenizer_file  # noqa: E402

FAKE_EOT = 256
GPT2_TOKENIZER_SHA256 = "6f3abc21e444e4e8300e225f4e03da48ea121cf17e30f67009b8dad7a66c2f13"
results = {"PASS": 0, "FAIL": 0, "SKIP": 0}


class Skip(Exception):
    pass


def report(verdict, name, detail=""):
    results[verdict] += 1
    sep = " " if verdict == "PASS" else ": "
    print(f"{verdict} {name}{sep + detail if detail else ''}", flush=True)


def check(name, ok, detail):
    report("PASS" if ok else "FAIL", name, detail)


def fake_encode(text):
    """Byte-level stand-in for GPT-2 BPE: one token per UTF-8 byte, end-of-text is 256."""
    return list(text.encode("utf-8"))


def fake_decode(tokens):
    return bytes(int(t) for t in tokens if t != FAKE_EOT).decode("utf-8")


def expect_error(exc_type, fn, *words):
    """Runs fn, returns the message of the exc_type it raises; fails unless it names all words."""
    try:
        fn()
    except exc_type as e:
        msg = str(e)
        missing = [w for w in words if w not in msg]
        return msg, not missing
    return "no error raised", False


# ---------------------------------------------------------------- shard format

def test_shard_roundtrip(tmp):
    rng = np.random.default_rng()
    tokens = rng.integers(0, 65536, size=1000)
    path = os.path.join(tmp, "round.bin")
    write_shard(path, tokens)
    header = np.fromfile(path, dtype="<i4", count=256)
    got = read_shard(path)
    ok = (header[0] == SHARD_MAGIC and header[1] == 1 and header[2] == 1000 and not header[3:].any()
          and os.path.getsize(path) == HEADER_BYTES + 2000 and got.dtype == np.uint16 and np.array_equal(got, tokens))
    check("shard_roundtrip", ok, f"header {header[:3].tolist()}, {got.size} tokens, size {os.path.getsize(path)}")


def test_shard_errors(tmp):
    good = os.path.join(tmp, "good.bin")
    write_shard(good, np.arange(100))
    data = open(good, "rb").read()

    def variant(name, blob):
        path = os.path.join(tmp, name)
        with open(path, "wb") as f:
            f.write(blob)
        return path

    magic = variant("magic.bin", np.int32(7).tobytes() + data[4:])
    version = variant("version.bin", data[:4] + np.int32(3).tobytes() + data[8:])
    cases = [
        ("shard_error_missing", os.path.join(tmp, "nope.bin"), ["nope.bin", "not found"]),
        ("shard_error_magic", magic, ["magic.bin", "magic 7"]),
        ("shard_error_version", version, ["version.bin", "version 3"]),
        ("shard_error_truncated", variant("trunc.bin", data[:-10]), ["trunc.bin", "truncated"]),
        ("shard_error_short_header", variant("short.bin", data[:50]), ["short.bin", "truncated"]),
        ("shard_error_extra_bytes", variant("extra.bin", data + b"xx"), ["extra.bin", "after the 100 tokens"]),
    ]
    for name, path, words in cases:
        msg, ok = expect_error(ShardError, lambda: read_shard_header(path), *words)
        check(name, ok, msg)
    msg, ok = expect_error(ValueError, lambda: write_shard(os.path.join(tmp, "x.bin"), [1, 70000]), "uint16")
    check("shard_error_token_out_of_range", ok, msg)


# ---------------------------------------------------------------- tokenizing into shards

def write_inputs(tmp):
    # Many jsonl documents of random length, so the parallel path spreads them over workers
    # and a reordering would show.
    rng = np.random.default_rng()
    many = [f"doc {i} " * int(rng.integers(1, 60)) for i in range(400)]
    docs = ["First document, plain ASCII.\n", "Zweites Dokument: ä ö ü ß — and 日本語.",
            "jsonl one", "jsonl two has\nnewlines", "", *many, "last text file " * 7]
    with open(os.path.join(tmp, "a.txt"), "w", encoding="utf-8") as f:
        f.write(docs[0])
    with open(os.path.join(tmp, "b.txt"), "w", encoding="utf-8") as f:
        f.write(docs[1])
    with open(os.path.join(tmp, "c.jsonl"), "w", encoding="utf-8") as f:
        import json
        for d in docs[2:-1]:
            f.write(json.dumps({"text": d, "id": "x"}) + "\n")
        f.write("\n")  # blank lines are skipped
    with open(os.path.join(tmp, "d.txt"), "w", encoding="utf-8") as f:
        f.write(docs[-1])
    paths = [os.path.join(tmp, n) for n in ("a.txt", "b.txt", "c.jsonl", "d.txt")]
    expected = np.concatenate([[FAKE_EOT] + fake_encode(d) for d in docs])
    return paths, expected, len(docs)


def test_fineweb_input_path(tmp):
    paths, expected, ndocs = write_inputs(tmp)
    outputs = {}
    for procs in (1, 2):
        out = os.path.join(tmp, f"shards_j{procs}")
        written = fineweb.main(["--input", *paths, "-o", out, "--name", "t", "--shard-size", "5000", "-j", str(procs), "-q"],
                               encode=fake_encode, eot=FAKE_EOT)
        outputs[procs] = written
        names = [os.path.basename(p) for p, _ in written]
        want_names = ["t_val_000000.bin"] + [f"t_train_{i:06d}.bin" for i in range(1, len(written))]
        shards = [read_shard(p) for p, _ in written]
        sizes = [s.size for s in shards]
        stream = np.concatenate(shards)
        ok_sizes = all(n == 5000 for n in sizes[:-1]) and 0 < sizes[-1] <= 5000 and sum(sizes) == expected.size and len(sizes) > 3
        check(f"fineweb_input_j{procs}_names_val_first", names == want_names and sorted(os.listdir(out)) == sorted(want_names),
              f"{names[0]}, {names[1]}, ... {len(names)} files")
        check(f"fineweb_input_j{procs}_shard_sizes", ok_sizes, f"{len(sizes)} shards of {sizes[0]}, last {sizes[-1]}, {expected.size} tokens in all")
        check(f"fineweb_input_j{procs}_tokens_with_eot_prefix",
              np.array_equal(stream, expected) and (stream == FAKE_EOT).sum() == ndocs and stream[0] == FAKE_EOT,
              f"{(stream == FAKE_EOT).sum()} end-of-text tokens for {ndocs} documents, stream equal: {np.array_equal(stream, expected)}")
    same = [read_shard(p).tolist() for p, _ in outputs[1]] == [read_shard(p).tolist() for p, _ in outputs[2]]
    check("fineweb_input_parallel_same_as_serial", same, f"{len(outputs[1])} shards each")

    out = os.path.join(tmp, "shards_val30")
    written = fineweb.main(["--input", *paths, "-o", out, "--name", "t", "--val-tokens", "30", "-s", "10000000", "-j", "1", "-q"],
                           encode=fake_encode, eot=FAKE_EOT)
    sizes = [n for _, n in written]
    check("fineweb_input_val_tokens", sizes == [30, expected.size - 30], f"sizes {sizes}")


def test_fineweb_input_errors(tmp):
    def run(args):
        return subprocess.run([sys.executable, "-c", "import sys; sys.path.insert(0, %r); import fineweb; from test_data_scripts "
                               "import fake_encode; fineweb.main(sys.argv[1:], encode=fake_encode, eot=256)" % DATA, *args],
                              capture_output=True, text=True, cwd=os.path.dirname(os.path.abspath(__file__)))
    bad = os.path.join(tmp, "bad.jsonl")
    with open(bad, "w") as f:
        f.write('{"text": "ok"}\n{"no_text": 1}\n')
    for name, args, words in [("fineweb_error_missing_input", ["--input", os.path.join(tmp, "nope.txt")], ["nope.txt", "not found"]),
                              ("fineweb_error_bad_jsonl", ["--input", bad, "-j", "2", "-q", "-o", os.path.join(tmp, "x")], ["bad.jsonl", "line 2"]),
                              ("fineweb_error_wrong_suffix", ["--input", os.path.join(tmp, "a.csv")], ["a.csv", ".txt or .jsonl"])]:
        r = run(args)
        err = r.stderr.strip()
        check(name, r.returncode != 0 and len(err.splitlines()) == 1 and all(w in err for w in words), f"rc {r.returncode}: {err}")


def test_tinyshakespeare_input_path(tmp):
    rng = np.random.default_rng()
    words = ["thou", "art", "noble", "lord", "ROMEO:", "JULIET:", "speak", "'tis"]
    paras = ["\n".join(" ".join(rng.choice(words, size=rng.integers(1, 9))) for _ in range(rng.integers(1, 5)))
             for _ in range(1500)]
    text = "\n\n".join(paras)
    src = os.path.join(tmp, "input.txt")
    with open(src, "w") as f:
        f.write(text)
    out = os.path.join(tmp, "ts")
    written = tinyshakespeare.main(["--input", src, "-o", out, "-q"], encode=fake_encode, eot=FAKE_EOT)
    names = [os.path.basename(p) for p, _ in written]
    val, train = (read_shard(p) for p, _ in written)
    stream = np.concatenate([val, train])
    eot_at = np.flatnonzero(stream == FAKE_EOT)
    sections_ok = [fake_decode(c) for c in np.split(stream, eot_at)[1:]] == tinyshakespeare.sections(text)
    check("tinyshakespeare_input_files", names == ["tiny_shakespeare_val.bin", "tiny_shakespeare_train.bin"]
          and val.size == 32768 and train.size == stream.size - 32768, f"{names}, val {val.size}, train {train.size}")
    check("tinyshakespeare_input_eot_per_section", sections_ok and len(eot_at) == len(paras) and eot_at[0] == 0
          and fake_decode(stream) == text, f"{len(eot_at)} end-of-text tokens for {len(paras)} sections, text restored: {fake_decode(stream) == text}")


# ---------------------------------------------------------------- tokenizer file

def test_tokenizer_file(tmp):
    rng = np.random.default_rng()
    vocab = [bytes([b]) for b in range(256)] + [rng.bytes(int(n)) for n in rng.integers(1, 256, size=300)] + [b"<|endoftext|>"]
    path = os.path.join(tmp, "tok.bin")
    write_tokenizer_file(path, vocab, len(vocab) - 1)
    got, eot = read_tokenizer_file(path)
    header = np.fromfile(path, dtype="<u4", count=4)
    check("tokenizer_file_roundtrip", got == vocab and eot == len(vocab) - 1 and header.tolist() == [20240328, 2, len(vocab), len(vocab) - 1],
          f"header {header.tolist()}, {len(got)} tokens")
    msg, ok = expect_error(ValueError, lambda: write_tokenizer_file(path + "x", vocab + [b""], 0), "0 bytes")
    check("tokenizer_file_rejects_empty_token", ok, msg)
    data = open(path, "rb").read()
    for name, blob, words in [("tokenizer_file_error_magic", np.uint32(5).tobytes() + data[4:], ["bad.bin", "magic 5"]),
                              ("tokenizer_file_error_truncated", data[:-4], ["bad.bin", "truncated"]),
                              ("tokenizer_file_error_extra_bytes", data + b"z", ["bad.bin", "after its"])]:
        bad = os.path.join(tmp, "bad.bin")
        with open(bad, "wb") as f:
            f.write(blob)
        msg, ok = expect_error(TokenizerFileError, lambda: read_tokenizer_file(bad), *words)
        check(name, ok, msg)


# ---------------------------------------------------------------- scripts without optional packages

def test_scripts_without_packages(tmp):
    for script in ("fineweb.py", "tinyshakespeare.py", "gpt2_tokenizer.py"):
        r = subprocess.run([sys.executable, os.path.join(DATA, script), "--help"], capture_output=True, text=True)
        check(f"help_{script}", r.returncode == 0 and r.stdout.startswith("usage:"), f"rc {r.returncode}, {len(r.stdout.splitlines())} lines")
    if importlib.util.find_spec("tiktoken") is not None:
        report("SKIP", "missing_tiktoken_message", "tiktoken is installed here")
        return
    src = os.path.join(tmp, "t.txt")
    with open(src, "w") as f:
        f.write("hello")
    r = subprocess.run([sys.executable, os.path.join(DATA, "tinyshakespeare.py"), "--input", src, "-o", os.path.join(tmp, "o")],
                       capture_output=True, text=True)
    err = r.stderr.strip()
    check("missing_tiktoken_message", r.returncode != 0 and len(err.splitlines()) == 1 and "tiktoken" in err, f"rc {r.returncode}: {err}")


# ---------------------------------------------------------------- the shared offline data

def test_shared(shared, tmp):
    if not shared or not os.path.isdir(shared):
        raise Skip(f"no shared data folder '{shared}'")
    tok_path = os.path.join(shared, "gpt2_tokenizer.bin")
    vocab = None
    if not os.path.isfile(tok_path):
        report("SKIP", "shared_tokenizer", f"no {tok_path}")
    else:
        vocab, eot = read_tokenizer_file(tok_path)
        hello = decode(vocab, [15496, 995])
        check("shared_tokenizer_decode", len(vocab) == 50257 and eot == 50256 and hello == b"Hello world" and vocab[eot] == b"<|endoftext|>",
              f"15496,995 -> {hello!r}, vocab {len(vocab)}, eot {eot}")
        rewritten = os.path.join(tmp, "gpt2_tokenizer.bin")
        write_tokenizer_file(rewritten, vocab, eot)
        same = open(rewritten, "rb").read() == open(tok_path, "rb").read()
        sha = hashlib.sha256(open(tok_path, "rb").read()).hexdigest()
        check("shared_tokenizer_writer_reproduces_file", same and sha == GPT2_TOKENIZER_SHA256, f"identical bytes: {same}, sha256 {sha[:16]}...")

    for folder, stem, text_name, counts in [("tinyshakespeare", "tiny_shakespeare", "input.txt", (32768, 305260)),
                                            ("fineweb_sample", "fineweb_edu_sample", "fineweb_edu_sample.txt", (32768, 185121))]:
        paths = [os.path.join(shared, folder, f"{stem}_{split}.bin") for split in ("val", "train")]
        if not all(os.path.isfile(p) for p in paths):
            report("SKIP", f"shared_{folder}_shards", f"missing {paths}")
            continue
        got = tuple(read_shard_header(p) for p in paths)
        check(f"shared_{folder}_shard_counts", got == counts, f"val, train tokens {got}, README says {counts}")
        text_path = os.path.join(shared, folder, text_name)
        if vocab is None or not os.path.isfile(text_path):
            report("SKIP", f"shared_{folder}_decodes_to_text", "tokenizer or text missing")
            continue
        stream = np.concatenate([read_shard(p) for p in paths])
        with open(text_path, "rb") as f:
            text = f.read()
        eot_at = np.flatnonzero(stream == 50256)
        chunks = [decode(vocab, c[1:].tolist()) for c in np.split(stream, eot_at)[1:]]
        if folder == "tinyshakespeare":  # the layout tinyshakespeare.py writes: one eot per section
            want = [s.encode() for s in tinyshakespeare.sections(text.decode("utf-8"))]
        else:                            # fineweb.py --input FILE.txt: the file is one document
            want = [text]
        check(f"shared_{folder}_decodes_to_text", eot_at[0] == 0 and chunks == want,
              f"{len(eot_at)} end-of-text tokens, {len(want)} documents, decoded text equal: {b''.join(chunks) == text}")


def main():
    shared = sys.argv[1] if len(sys.argv) > 1 else ""
    tests = [test_shard_roundtrip, test_shard_errors, test_fineweb_input_path, test_fineweb_input_errors,
             test_tinyshakespeare_input_path, test_tokenizer_file, test_scripts_without_packages]
    with tempfile.TemporaryDirectory() as tmp:
        for t in tests:
            sub = os.path.join(tmp, t.__name__)
            os.makedirs(sub)
            try:
                t(sub)
            except Exception:
                report("FAIL", t.__name__, "raised " + traceback.format_exc().strip().splitlines()[-1])
        try:
            sub = os.path.join(tmp, "shared")
            os.makedirs(sub)
            test_shared(shared, sub)
        except Skip as e:
            report("SKIP", "shared_data", str(e))
        except Exception:
            report("FAIL", "test_shared", "raised " + traceback.format_exc().strip().splitlines()[-1])
    print(f"[{results['PASS']} passed, {results['FAIL']} failed, {results['SKIP']} skipped in test_data_scripts.py]", file=sys.stderr)
    return 1 if results["FAIL"] else 0


if __name__ == "__main__":
    sys.exit(main())

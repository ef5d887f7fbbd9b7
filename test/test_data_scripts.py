"""Tests of the data/ scripts: shard and tokenizer file formats, and the tokenize-and-shard path
run end to end with a fake byte-level encoder (so neither tiktoken nor a network is needed).
With the shared data folder, also checks the real shards and tokenizer file in it.

    /usr/bin/python3 test/test_data_scripts.py [SHARED_DATA_DIR]

Prints one PASS/FAIL/SKIP line per check and exits 1 when any check failed.
"""
import hashlib
import json
import importlib.util
import os
import subprocess
import sys
import tempfile

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(REPO, "data")
sys.path.insert(0, DATA)
import fineweb  # noqa: E402
import hellaswag  # noqa: E402
import tinyshakespeare  # noqa: E402
from verdicts import check, raised, report, results, run_in_folders, summary  # noqa: E402,F401
from shard_format import HEADER_BYTES, SHARD_MAGIC, ShardError, read_shard, read_shard_header, write_shard  # noqa: E402
from tokenizer_file import TokenizerFileError, decode, read_tokenizer_file, write_tokenizer_file  # noqa: E402

FAKE_EOT = 256
SHARED = ""  # the shared data folder given on the command line ("" when none)
GPT2_TOKENIZER_SHA256 = "6f3abc21e444e4e8300e225f4e03da48ea121cf17e30f67009b8dad7a66c2f13"


class Skip(Exception):
    pass


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


def run_script(script, args, eot=True):
    """Runs data/SCRIPT.py's main with the fake encoder in a fresh process; returns the CompletedProcess."""
    code = ("import sys; sys.path.insert(0, %r); import %s; from test_data_scripts import fake_encode; "
            "%s.main(sys.argv[1:], encode=fake_encode%s)" % (DATA, script, script, ", eot=256" if eot else ""))
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120,
                          cwd=os.path.dirname(os.path.abspath(__file__)))


def check_one_line_error(name, r, words, absent=()):
    """Exit 2, exactly one stderr line 'error: ...' naming every word, and no path in absent made."""
    err = r.stderr.strip()
    made = [p for p in absent if os.path.exists(p)]
    ok = r.returncode == 2 and len(err.splitlines()) == 1 and err.startswith("error: ") and all(w in err for w in words) and not made
    check(name, ok, f"rc {r.returncode}: {err[:300]}" + (f"; left {made}" if made else ""))


def write_file(path, data):
    with open(path, "wb") as f:
        f.write(data)
    return path


def test_fineweb_input_errors(tmp):
    good = write_file(os.path.join(tmp, "good.txt"), b"some text " * 20)
    bad_json = write_file(os.path.join(tmp, "bad.jsonl"), b'{"text": "ok"}\n{"no_text": 1}\n')
    not_json = write_file(os.path.join(tmp, "notjson.jsonl"), b'{"text": "ok"}\n\n{"text": "fine"}\nnot json at all\n')
    null = write_file(os.path.join(tmp, "null.jsonl"), b'{"text": "ok"}\n{"text": null}\n')
    number = write_file(os.path.join(tmp, "number.jsonl"), b'{"text": 42}\n')
    latin1 = write_file(os.path.join(tmp, "latin1.txt"), "café".encode("latin-1"))
    latin1_line = write_file(os.path.join(tmp, "latin1.jsonl"), b'{"text": "ok"}\n{"text": "caf\xe9"}\n')
    empty = write_file(os.path.join(tmp, "empty.txt"), b"")
    empty_jsonl = write_file(os.path.join(tmp, "empty.jsonl"), b"\n")
    a_file = write_file(os.path.join(tmp, "a_file"), b"")
    out = lambda name: os.path.join(tmp, name)  # noqa: E731
    # the shard path taken by a folder: writing the first shard fails (also as root)
    os.makedirs(os.path.join(tmp, "blocked", "t_val_000000.bin"))
    fake_shards = lambda name: [os.path.join(out(name), f"t_{s}") for s in ("val_000000.bin", "train_000001.bin")]  # noqa: E731
    cases = [
        ("fineweb_error_missing_input", ["--input", out("nope.txt")], ["nope.txt", "not found"], []),
        ("fineweb_error_wrong_suffix", ["--input", out("a.csv")], ["a.csv", ".txt or .jsonl"], []),
        ("fineweb_error_bad_jsonl", ["--input", bad_json, "-j", "2", "-o", out("x")], ["bad.jsonl", "line 2", '"text"'], []),
        ("fineweb_error_jsonl_not_json", ["--input", not_json, "-o", out("x")], ["notjson.jsonl", "line 4", "not JSON"], []),
        ("fineweb_error_jsonl_text_null", ["--input", null, "-o", out("x")], ["null.jsonl", "line 2", "null"], []),
        ("fineweb_error_jsonl_text_number_j2", ["--input", number, "-j", "2", "-o", out("x")], ["number.jsonl", "line 1", "42"], []),
        ("fineweb_error_txt_not_utf8", ["--input", latin1, "-o", out("x")], ["latin1.txt", "UTF-8", "0xe9"], []),
        ("fineweb_error_jsonl_not_utf8", ["--input", latin1_line, "-o", out("x")], ["latin1.jsonl", "line 2", "UTF-8"], []),
        ("fineweb_error_out_dir_is_file", ["--input", good, "-o", a_file], ["a_file", "is a file"], []),
        ("fineweb_error_out_dir_cannot_create", ["--input", good, "-o", os.path.join(a_file, "sub")], ["a_file/sub", "cannot create"], []),
        ("fineweb_error_shard_not_writable", ["--input", good, "-o", out("blocked"), "--name", "t", "--val-tokens", "5"],
         ["cannot write", "t_val_000000.bin"], []),
        ("fineweb_error_empty_txt", ["--input", empty, "-o", out("e1"), "--name", "t"], ["no text"], fake_shards("e1")),
        ("fineweb_error_empty_jsonl", ["--input", empty_jsonl, "-o", out("e2"), "--name", "t"], ["no text"], fake_shards("e2")),
        ("fineweb_error_val_tokens_above_data", ["--input", good, "-o", out("v1"), "--name", "t", "--val-tokens", "1000"],
         ["201 tokens", "1,000 val tokens", "no train shard"], fake_shards("v1")),
        ("fineweb_error_val_tokens_equal_data", ["--input", good, "-o", out("v2"), "--name", "t", "--val-tokens", "201"],
         ["201 tokens", "201 val tokens", "no train shard"], fake_shards("v2")),
        # numeric options: one line (argparse's usage lines are not printed), exit 2
        ("fineweb_error_procs_zero", ["--input", good, "-j", "0"], ["--procs", "must be positive"], []),
        ("fineweb_error_shard_size_not_a_number", ["--input", good, "-s", "abc"], ["--shard-size", "invalid int value: 'abc'"], []),
    ]
    for name, args, words, absent in cases:
        check_one_line_error(name, run_script("fineweb", args + ["-q"]), words, absent)
    if os.geteuid() == 0:
        report("SKIP", "fineweb_error_out_dir_not_writable", "running as root, which may write anywhere")
    else:
        locked = out("locked")
        os.makedirs(locked, mode=0o555)
        check_one_line_error("fineweb_error_out_dir_not_writable", run_script("fineweb", ["--input", good, "-o", locked, "-q"]),
                             ["locked", "not writable"])
        os.chmod(locked, 0o755)


def test_tinyshakespeare_input_errors(tmp):
    small = write_file(os.path.join(tmp, "small.txt"), b"ROMEO:\nspeak.\n\nJULIET:\nno.\n")
    latin1 = write_file(os.path.join(tmp, "latin1.txt"), "ROMÉO".encode("latin-1"))
    empty = write_file(os.path.join(tmp, "empty.txt"), b"")
    a_file = write_file(os.path.join(tmp, "a_file"), b"")
    shards = lambda d: [os.path.join(d, f"tiny_shakespeare_{s}.bin") for s in ("val", "train")]  # noqa: E731
    cases = [
        ("tinyshakespeare_error_missing_input", ["--input", os.path.join(tmp, "nope.txt")], ["nope.txt", "not found"], []),
        ("tinyshakespeare_error_not_utf8", ["--input", latin1, "-o", os.path.join(tmp, "o1")], ["latin1.txt", "UTF-8"], []),
        ("tinyshakespeare_error_empty_input", ["--input", empty, "-o", os.path.join(tmp, "o2")], ["no text"], shards(os.path.join(tmp, "o2"))),
        ("tinyshakespeare_error_fewer_tokens_than_val", ["--input", small, "-o", os.path.join(tmp, "o3")],
         ["32,768 val tokens", "no train shard"], shards(os.path.join(tmp, "o3"))),
        ("tinyshakespeare_error_out_dir_is_file", ["--input", small, "-o", a_file], ["a_file", "is a file"], []),
        # an empty --input is a mistake, not a request to download
        ("tinyshakespeare_error_empty_input_flag", ["--input", "", "-o", os.path.join(tmp, "o4")], ["--input is empty"],
         shards(os.path.join(tmp, "o4")) + [os.path.join(tmp, "o4", "input.txt")]),
    ]
    for name, args, words, absent in cases:
        check_one_line_error(name, run_script("tinyshakespeare", args + ["-q"]), words, absent)


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


# ---------------------------------------------------------------- HellaSwag eval file

def hellaswag_record(rng, i, **fields):
    ex = {"ind": 100 + i, "ctx": "ctx %d %s" % (i, "x" * int(rng.integers(1, 6))),
          "endings": ["end %d.%d%s" % (i, k, "y" * int(rng.integers(0, 4))) for k in range(4)], "label": int(rng.integers(4))}
    ex.update(fields)
    return {k: v for k, v in ex.items() if v is not None}  # a field given as None is left out


def write_jsonl(path, records):
    """records: JSON values, one a line; "" is a blank line."""
    with open(path, "w") as f:
        f.write("".join((json.dumps(r) if r != "" else "") + "\n" for r in records))
    return path


def test_hellaswag_input(tmp):
    """data/hellaswag.py --input: the eval file's examples read back as written (a reader of
    llm.c's layout here, not hellaswag.py's), and each bad record one line naming its line."""
    rng = np.random.default_rng()
    records = [hellaswag_record(rng, i) for i in range(5)]
    records[3]["label"] = str(records[3]["label"])  # Hugging Face's copy spells labels as strings
    good = write_jsonl(os.path.join(tmp, "good.jsonl"), records)
    out = os.path.join(tmp, "good.bin")
    r = run_script("hellaswag", ["--input", good, "-o", out], eot=False)
    got = []
    if r.returncode == 0:
        header = np.fromfile(out, dtype="<i4", count=256)
        w = np.fromfile(out, dtype="<u2", offset=1024).tolist()
        pos = 0
        for i in range(int(header[2])):
            start, nbytes, index, label, ncomp, nctx = w[pos:pos + 6]
            j = pos + 6 + nctx
            ctx, comps = w[pos + 6:j], []
            for _ in range(ncomp):
                comps.append(w[j + 1:j + 1 + w[j]])
                j += 1 + w[j]
            got.append((start, index, label, fake_decode(ctx), [fake_decode(c) for c in comps], nbytes == 2 * (j - pos)))
            pos = j
    want = [(65535, i, int(e["label"]), e["ctx"], [" " + x for x in e["endings"]], True) for i, e in enumerate(records)]
    check("hellaswag_input_roundtrip", r.returncode == 0 and got == want,
          f"rc {r.returncode} {r.stderr.strip()[:200]}; {len(got)} examples read back, equal: {got == want}")
    msg, ok = expect_error(ValueError, lambda: hellaswag.write_eval_file(os.path.join(tmp, "w.bin"), [(4, [1], [[2]] * 4)]),
                           "example 0", "label 4")
    check("hellaswag_writer_rejects_label_4", ok and not os.path.exists(os.path.join(tmp, "w.bin")), msg)
    cases = [  # name, the record after a good one, words the one error line must hold
        ("label_9", hellaswag_record(rng, 1, label=9), ['line 2 (ind 101)', '"label" 9 is not in 0..3']),
        ("label_4_after_blank_line", ["", hellaswag_record(rng, 1, label=4)], ['line 3 (ind 101)', '"label" 4 is not in 0..3']),
        ("label_negative", hellaswag_record(rng, 1, label=-1), ["line 2", '"label" -1 is not in 0..3']),
        ("label_not_a_number", hellaswag_record(rng, 1, label="b"), ["line 2", '"label" "b" is not in 0..3']),
        ("three_endings", hellaswag_record(rng, 1, endings=["a", "b", "c"], label=2), ["line 2", '"endings" has 3 entries, want 4']),
        ("no_endings", hellaswag_record(rng, 1, endings=None), ["line 2 (ind 101)", 'no "endings" field']),
        ("no_ctx_no_label", hellaswag_record(rng, 1, ctx=None, label=None), ["line 2", 'no "ctx" or "label" field']),
        ("not_an_object", [1, 2], ["line 2", "not a JSON object"]),
    ]
    for name, bad, words in cases:
        src = write_jsonl(os.path.join(tmp, name + ".jsonl"), [records[0]] + (bad if name.endswith("blank_line") else [bad]))
        dst = os.path.join(tmp, name + ".bin")
        check_one_line_error("hellaswag_error_" + name, run_script("hellaswag", ["--input", src, "-o", dst], eot=False),
                             [name + ".jsonl"] + words, [dst])
    src = write_file(os.path.join(tmp, "not_json.jsonl"), (json.dumps(records[0]) + "\n{oops\n").encode())
    check_one_line_error("hellaswag_error_not_json", run_script("hellaswag", ["--input", src, "-o", os.path.join(tmp, "nj.bin")], eot=False),
                         ["not_json.jsonl", "line 2 is not JSON"], [os.path.join(tmp, "nj.bin")])


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
    for script in ("fineweb.py", "tinyshakespeare.py", "gpt2_tokenizer.py", "tiktoken_gpt2.py"):
        r = subprocess.run([sys.executable, os.path.join(DATA, script), "--help"], capture_output=True, text=True)
        says_encoder = script in ("gpt2_tokenizer.py", "tiktoken_gpt2.py") or all(w in " ".join(r.stdout.split()) for w in ("--encoder", "tiktoken", "built-in"))
        check(f"help_{script}", r.returncode == 0 and r.stdout.startswith("usage:") and says_encoder,
              f"rc {r.returncode}, {len(r.stdout.splitlines())} lines, names the encoder choice: {says_encoder}")


def test_encoder_choice(tmp):
    """Which GPT-2 encoder runs, and the one-line errors when the chosen one cannot."""
    src = write_file(os.path.join(tmp, "t.txt"), b"Hello world, hello world.")

    def run(*args):
        return subprocess.run([sys.executable, os.path.join(DATA, "fineweb.py"), "--input", src, "--val-tokens", "2",
                               "-o", os.path.join(tmp, "o"), *args], capture_output=True, text=True, timeout=120)
    check_one_line_error("encoder_builtin_missing_table", run("--encoder", "builtin", "--tokenizer", os.path.join(tmp, "nope.bin")),
                         ["nope.bin", "tiktoken"])
    check_one_line_error("encoder_builtin_table_is_directory", run("--encoder", "builtin", "--tokenizer", tmp),
                         ["is a directory"])
    small = os.path.join(tmp, "small_tok.bin")
    write_tokenizer_file(small, [bytes([b]) for b in range(256)] + [b"<|endoftext|>"], 256)
    check_one_line_error("encoder_builtin_not_gpt2_table", run("--encoder", "builtin", "--tokenizer", small),
                         ["small_tok.bin", "not the GPT-2 table", "vocab 257"])
    has_tiktoken = importlib.util.find_spec("tiktoken") is not None
    if has_tiktoken:
        report("SKIP", "encoder_tiktoken_missing", "tiktoken is installed here")
    else:
        check_one_line_error("encoder_tiktoken_missing", run("--encoder", "tiktoken"), ["--encoder tiktoken", "'tiktoken'"])
    candidates = ([os.path.join(SHARED, "gpt2_tokenizer.bin")] if SHARED else []) + [os.path.join(DATA, "gpt2_tokenizer.bin")]
    table = next((t for t in candidates if os.path.isfile(t)), "")
    if has_tiktoken:  # tiktoken's gpt2 never downloads: with no cached official files it needs the table
        empty_cache = {**os.environ, "TIKTOKEN_CACHE_DIR": os.path.join(tmp, "no_cache")}
        r = subprocess.run([sys.executable, os.path.join(DATA, "fineweb.py"), "--input", src, "--val-tokens", "2", "-o",
                            os.path.join(tmp, "o"), "--encoder", "tiktoken", "--tokenizer", os.path.join(tmp, "nope.bin")],
                           capture_output=True, text=True, timeout=120, env=empty_cache)
        check_one_line_error("encoder_tiktoken_no_cache_no_table", r, ["nope.bin", "without a download", "--cache-dir"])
        check_one_line_error("encoder_tiktoken_not_gpt2_table", run("--encoder", "tiktoken", "--tokenizer", small),
                             ["small_tok.bin", "not the GPT-2 table", "vocab 257"])
    tool = os.path.join(DATA, "tiktoken_gpt2.py")
    for name, args, words in [("tiktoken_cache_missing_table", ["--tokenizer", os.path.join(tmp, "nope.bin")], ["nope.bin", "not there"]),
                              ("tiktoken_cache_not_gpt2_table", ["--tokenizer", small], ["small_tok.bin", "vocab 257"]),
                              ("tiktoken_cache_dir_is_file", ["--tokenizer", table, "--cache-dir", src], ["t.txt", "cannot write"]),
                              ("tiktoken_cache_no_dir", ["--tokenizer", table, "--cache-dir"], ["--cache-dir"])]:
        if not table and name.endswith("_file"):
            report("SKIP", name, "no GPT-2 tokenizer table")
            continue
        full = args if "--cache-dir" in args else args + ["--cache-dir", os.path.join(tmp, "cache")]
        check_one_line_error(name, subprocess.run([sys.executable, tool, *full], capture_output=True, text=True, timeout=120),
                             words, [os.path.join(tmp, "cache")])
    if not has_tiktoken and not (os.path.isfile(table) and importlib.util.find_spec("regex")):
        report("SKIP", "encoder_auto_reported", "neither tiktoken nor the built-in encoder's table and regex module")
        return
    r = run("--tokenizer", table)
    want = "GPT-2 encoder: tiktoken" if has_tiktoken else "GPT-2 encoder: built-in (data/gpt2_bpe.py on"
    shards = [read_shard(os.path.join(tmp, "o", f"text_{x}.bin")).tolist() for x in ("val_000000", "train_000001")] if r.returncode == 0 else []
    check("encoder_auto_reported", r.returncode == 0 and r.stderr.startswith(want) and shards == [[50256, 15496], [995, 11, 23748, 995, 13]],
          f"rc {r.returncode}, {r.stderr.splitlines()[0] if r.stderr else 'no output'}; shards {shards}")


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
    global SHARED
    shared = SHARED = sys.argv[1] if len(sys.argv) > 1 else ""
    tests = [test_shard_roundtrip, test_shard_errors, test_fineweb_input_path, test_fineweb_input_errors,
             test_tinyshakespeare_input_path, test_tinyshakespeare_input_errors, test_hellaswag_input, test_tokenizer_file,
             test_scripts_without_packages, test_encoder_choice]
    with tempfile.TemporaryDirectory() as tmp:
        run_in_folders(tests, tmp)
        try:
            sub = os.path.join(tmp, "shared")
            os.makedirs(sub)
            test_shared(shared, sub)
        except Skip as e:
            report("SKIP", "shared_data", str(e))
        except Exception:
            raised("test_shared")
    return summary("test_data_scripts.py")


if __name__ == "__main__":
    sys.exit(main())

"""HellaSwag (validation split) as llm.c's eval file, for the trainers' `-h 1`.

    /usr/bin/python3 data/hellaswag.py                          # download (needs a network), tokenize
    /usr/bin/python3 data/hellaswag.py --input hellaswag_val.jsonl   # a local copy of the jsonl

Writes data/hellaswag/hellaswag_val.bin (10,042 examples, about 3.6 MB), the trainers'
default --hellaswag file. The jsonl comes from github.com/rowanz/hellaswag (data/
hellaswag_val.jsonl, MIT licence). Each example is its "ctx" and its 4 "endings", each ending
tokenized with a leading space (GPT-2 tokenizer: tiktoken when it is installed, else the
built-in encoder data/gpt2_bpe.py, which gives the same tokens); "label" is the right ending.
Needs the network for the download, unless --input is given. A bad record (not a JSON object;
no "ctx", "endings" or "label"; other than 4 endings; a label outside 0..3) is one line
`error: FILE line N (ind I): what`, exit 2, and nothing is written.

File layout (llm.c's dev/data/data_common.py write_evalfile, read by llm.c's EvalLoader and
by common/hellaswag.h here): a header of 256 little-endian int32 ([0] magic 20240522,
[1] version 1, [2] number of examples, [3] the longest example in bytes), then per example
little-endian uint16s: 65535, the example's size in bytes (these header words included),
its index, its label, the number of completions (4), the context length and tokens, then
for each completion its length and tokens.
"""
import argparse
import json
import os
import sys
import urllib.request

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tokenize_docs import fail  # noqa: E402  (bad input: one line on stderr, exit 2)

URL = "https://raw.githubusercontent.com/rowanz/hellaswag/master/data/hellaswag_val.jsonl"
MAGIC, VERSION, START = 20240522, 1, 65535


def render(example, encode):
    """A jsonl example -> (label, context tokens, [4 completion token lists]). ValueError says
    what is wrong with it (the caller names the line)."""
    if not isinstance(example, dict):
        raise ValueError("not a JSON object")
    missing = [k for k in ("ctx", "endings", "label") if k not in example]
    if missing:
        raise ValueError("no %s field" % " or ".join('"%s"' % k for k in missing))
    ctx, endings, label = example["ctx"], example["endings"], example["label"]
    if not isinstance(ctx, str):
        raise ValueError('"ctx" is not a string')
    if not isinstance(endings, list) or not all(isinstance(e, str) for e in endings):
        raise ValueError('"endings" is not a list of strings')
    if len(endings) != 4:
        raise ValueError('"endings" has %d entries, want 4' % len(endings))
    if isinstance(label, str) and label.strip().isdigit():  # Hugging Face's copy has "label": "3"
        label = int(label)
    if isinstance(label, bool) or not isinstance(label, int) or not 0 <= label < len(endings):
        raise ValueError('"label" %s is not in 0..%d (the index of one of its %d endings)' % (json.dumps(label), len(endings) - 1, len(endings)))
    return label, list(encode(ctx)), [list(encode(" " + e)) for e in endings]


def write_eval_file(path, examples):
    """examples: (label, context, completions) tuples. Writes the layout above."""
    if not 0 < len(examples) < 2**16:
        raise ValueError("an eval file holds 1..65535 examples, got %d" % len(examples))
    words, longest = [], 0
    for index, (label, context, completions) in enumerate(examples):
        if len(completions) != 4 or not 0 <= label < 4:
            raise ValueError("example %d has label %d and %d completions: want 4 and a label in 0..3" % (index, label, len(completions)))
        body = [index, label, len(completions), len(context)] + list(context)
        for c in completions:
            body += [len(c)] + list(c)
        example = [START, 2 * (len(body) + 2)] + body
        if example[1] >= 2**16 or any(not 0 <= t < START for t in body):
            raise ValueError("example %d does not fit the format (too long, or a token id >= 65535)" % index)
        longest = max(longest, example[1])
        words += example
    header = np.zeros(256, dtype="<i4")
    header[:4] = [MAGIC, VERSION, len(examples), longest]
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(header.tobytes())
        f.write(np.array(words, dtype="<u2").tobytes())
    os.replace(tmp, path)


def main(argv=None, encode=None):
    """encode defaults to GPT-2 (tokenize_docs.gpt2_encoder: tiktoken or the built-in one); tests pass their own."""
    repo_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    p = argparse.ArgumentParser(description="Write HellaSwag val as llm.c's eval file (for -h 1).")
    p.add_argument("--input", metavar="FILE", help="a local hellaswag_val.jsonl instead of downloading")
    p.add_argument("-o", "--out", default=os.path.join(repo_dir, "data", "hellaswag", "hellaswag_val.bin"),
                   help="output file (default data/hellaswag/hellaswag_val.bin)")
    args = p.parse_args(argv)
    if encode is None:
        from tokenize_docs import gpt2_encoder
        encode, _ = gpt2_encoder()
    out_dir = os.path.dirname(os.path.abspath(args.out))
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as e:
        sys.exit("error: cannot create '%s' (%s)" % (out_dir, e.strerror))
    src = args.input
    if src is None:
        src = os.path.join(out_dir, "hellaswag_val.jsonl")
        if not os.path.isfile(src):
            try:  # to a temporary name first, so a failed download leaves nothing behind
                urllib.request.urlretrieve(URL, src + ".part")
                os.replace(src + ".part", src)
            except OSError as e:
                sys.exit("error: cannot download %s (%s); pass --input with a local copy" % (URL, e))
    examples = []
    try:
        with open(src, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except ValueError as e:
                    fail("'%s' line %d is not JSON (%s)" % (src, n, e))
                try:
                    examples.append(render(record, encode))
                except ValueError as e:
                    ind = " (ind %s)" % json.dumps(record.get("ind")) if isinstance(record, dict) and "ind" in record else ""
                    fail("'%s' line %d%s: %s" % (src, n, ind, e))
    except (OSError, UnicodeDecodeError) as e:
        fail("cannot read HellaSwag examples from '%s' (%s)" % (src, e))
    try:
        write_eval_file(args.out, examples)
    except (OSError, ValueError) as e:
        sys.exit("error: cannot write '%s' (%s)" % (args.out, e))
    print("wrote %d examples to %s" % (len(examples), args.out))


if __name__ == "__main__":
    main()

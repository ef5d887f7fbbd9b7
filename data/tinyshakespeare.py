"""Tiny Shakespeare as GPT-2 token shards: the small default data set for a first run.

    /usr/bin/python3 data/tinyshakespeare.py                        # download, tokenize
    /usr/bin/python3 data/tinyshakespeare.py --input ../shared/data/tinyshakespeare/input.txt

Writes data/tinyshakespeare/tiny_shakespeare_val.bin (the first 32,768 tokens) and
tiny_shakespeare_train.bin (the rest). The text is cut at blank lines into sections; each
section, with its trailing blank line, is one document, so an end-of-text token starts the
text and follows every section (as llm.c does). Needs tiktoken.
"""
import argparse
import os
import sys
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tokenize_docs import gpt2_encoder, write_document_shards  # noqa: E402

URL = "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"
VAL_TOKENS = 32768


def sections(text):
    """Blank-line separated sections, each but the last keeping its "\\n\\n"."""
    parts = text.split("\n\n")
    return [p + "\n\n" for p in parts[:-1]] + parts[-1:]


def main(argv=None, encode=None, eot=None):
    """encode/eot default to GPT-2 (tiktoken); tests pass a fake encoder to run this offline."""
    repo_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    p = argparse.ArgumentParser(description="Tokenize Tiny Shakespeare into llm.c token shards.")
    p.add_argument("--input", metavar="FILE", help="a local copy of input.txt instead of downloading")
    p.add_argument("-o", "--out-dir", default=os.path.join(repo_dir, "data", "tinyshakespeare"),
                   help="output folder (default data/tinyshakespeare)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    args = p.parse_args(argv)
    if encode is None:
        encode, eot = gpt2_encoder()
    if args.input:
        if not os.path.isfile(args.input):
            sys.exit(f"error: input file '{args.input}' not found")
        with open(args.input, encoding="utf-8") as f:
            text = f.read()
    else:
        os.makedirs(args.out_dir, exist_ok=True)
        local = os.path.join(args.out_dir, "input.txt")
        if not os.path.isfile(local):
            try:  # to a temporary name first, so a failed download leaves nothing behind
                urllib.request.urlretrieve(URL, local + ".part")
                os.replace(local + ".part", local)
            except OSError as e:
                sys.exit(f"error: cannot download {URL} ({e}); pass --input with a local copy")
        with open(local, encoding="utf-8") as f:
            text = f.read()
    return write_document_shards(sections(text), encode, eot, args.out_dir, "tiny_shakespeare",
                                 shard_size=None, val_tokens=VAL_TOKENS, quiet=args.quiet)


if __name__ == "__main__":
    main()

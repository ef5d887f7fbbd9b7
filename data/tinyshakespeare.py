"""Tiny Shakespeare as GPT-2 token shards: the small default data set for a first run.

    /usr/bin/python3 data/tinyshakespeare.py                        # download, tokenize
    /usr/bin/python3 data/tinyshakespeare.py --input ../shared/data/tinyshakespeare/input.txt

Writes data/tinyshakespeare/tiny_shakespeare_val.bin (the first 32,768 tokens) and
tiny_shakespeare_train.bin (the rest). The text is cut at blank lines into sections; each
section, with its trailing blank line, is one document, so an end-of-text token starts the
text and follows every section (as llm.c does). Tokenizes with tiktoken when it is installed,
else with the built-in GPT-2 encoder (data/gpt2_bpe.py; --encoder picks).
"""
import os
import sys
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tokenize_docs import (InputError, OneLineParser, add_encoder_args, fail, gpt2_encoder, prepare_out_dir,  # noqa: E402
                           read_text_file, write_document_shards)

URL = "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"
VAL_TOKENS = 32768


def sections(text):
    """Blank-line separated sections, each but the last keeping its "\\n\\n"."""
    parts = text.split("\n\n")
    return [p + "\n\n" for p in parts[:-1]] + parts[-1:]


def main(argv=None, encode=None, eot=None):
    """encode/eot default to GPT-2 (see --encoder); tests pass a fake encoder to run this offline."""
    repo_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    p = OneLineParser(description="Tokenize Tiny Shakespeare into llm.c token shards.")
    p.add_argument("--input", metavar="FILE", help="a local copy of input.txt instead of downloading")
    p.add_argument("-o", "--out-dir", default=os.path.join(repo_dir, "data", "tinyshakespeare"),
                   help="output folder (default data/tinyshakespeare)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    add_encoder_args(p)
    args = p.parse_args(argv)
    if args.input == "":  # not "no --input": that downloads
        fail("--input is empty: give a local input.txt (or leave --input out to download)")
    if args.input and os.path.isdir(args.input):
        fail(f"input file '{args.input}' is a directory")
    if args.input and not os.path.isfile(args.input):
        fail(f"input file '{args.input}' not found")
    prepare_out_dir(args.out_dir)
    if encode is None:
        encode, eot = gpt2_encoder(args.encoder, args.tokenizer, args.quiet)
    local = args.input or os.path.join(args.out_dir, "input.txt")
    if not args.input:
        if not os.path.isfile(local):
            try:  # to a temporary name first, so a failed download leaves nothing behind
                urllib.request.urlretrieve(URL, local + ".part")
                os.replace(local + ".part", local)
            except OSError as e:
                fail(f"cannot download {URL} ({e}); pass --input with a local copy")
    try:
        text = read_text_file(local)
    except InputError as e:
        fail(str(e))
    return write_document_shards(sections(text), encode, eot, args.out_dir, "tiny_shakespeare",
                                 shard_size=None, val_tokens=VAL_TOKENS, quiet=args.quiet)


if __name__ == "__main__":
    main()

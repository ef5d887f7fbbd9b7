"""Writes the GPT-2 decode table (llm.c tokenizer file) that the trainers use to print samples.

    /usr/bin/python3 data/gpt2_tokenizer.py            # -> data/gpt2_tokenizer.bin

Token i's bytes come from tiktoken's "gpt2" encoding; the layout is in data/tokenizer_file.py
and data/README.md. Needs tiktoken.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tokenize_docs import OneLineParser, require  # noqa: E402
from tokenizer_file import write_tokenizer_file  # noqa: E402


def main(argv=None):
    repo_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    p = OneLineParser(description="Write the GPT-2 tokenizer decode table from tiktoken.")
    p.add_argument("-o", "--out", default=os.path.join(repo_dir, "data", "gpt2_tokenizer.bin"),
                   help="output file (default data/gpt2_tokenizer.bin)")
    args = p.parse_args(argv)
    enc = require("tiktoken", "writing the GPT-2 tokenizer file").get_encoding("gpt2")
    token_bytes = [enc.decode_single_token_bytes(i) for i in range(enc.n_vocab)]
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    write_tokenizer_file(args.out, token_bytes, enc.eot_token)
    print(f"wrote {args.out} ({enc.n_vocab} tokens, end-of-text {enc.eot_token})")


if __name__ == "__main__":
    main()

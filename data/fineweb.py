"""Downloads FineWeb (or FineWeb-Edu) and writes GPT-2 token shards for the trainers.

    /usr/bin/python3 data/fineweb.py                      # FineWeb sample-10BT -> data/fineweb10B/
    /usr/bin/python3 data/fineweb.py --version 100B --edu # FineWeb-Edu sample-100BT -> data/edu_fineweb100B/
    /usr/bin/python3 data/fineweb.py --input a.txt b.jsonl -o data/mytext --name mytext   # offline

Every document gets the end-of-text token in front; shards hold --shard-size tokens
(100M), the first one is the validation shard. Tokenizes with tiktoken when it is installed,
else with the built-in GPT-2 encoder (data/gpt2_bpe.py; --encoder picks). Needs datasets to
download; tqdm for a nicer progress bar. See data/README.md.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tokenize_docs import (OneLineParser, add_encoder_args, gpt2_encoder, prepare_out_dir, read_local_documents,  # noqa: E402
                           require, write_document_shards)

DATASETS = {  # (edu, version) -> (Hugging Face repo, config, local name)
    (False, "10B"): ("HuggingFaceFW/fineweb", "sample-10BT", "fineweb"),
    (False, "100B"): ("HuggingFaceFW/fineweb", "sample-100BT", "fineweb"),
    (True, "10B"): ("HuggingFaceFW/fineweb-edu", "sample-10BT", "edu_fineweb"),
    (True, "100B"): ("HuggingFaceFW/fineweb-edu", "sample-100BT", "edu_fineweb"),
}


def parse_args(argv):
    p = OneLineParser(description="Tokenize FineWeb (or local text) into llm.c token shards.")
    p.add_argument("-v", "--version", choices=["10B", "100B"], default="10B", help="which FineWeb sample (default 10B)")
    p.add_argument("--edu", action="store_true", help="FineWeb-Edu instead of FineWeb")
    p.add_argument("--input", nargs="+", metavar="FILE", help="local .txt (one document each) or .jsonl files "
                   "(one {\"text\": ...} document per line) instead of downloading")
    p.add_argument("-o", "--out-dir", help="output folder (default data/<name><version>, data/<name> with --input)")
    p.add_argument("--name", help="shard file prefix (default fineweb / edu_fineweb, 'text' with --input)")
    p.add_argument("-s", "--shard-size", type=int, default=10**8, help="tokens per shard (default 100M)")
    p.add_argument("--val-tokens", type=int, help="tokens in the first (val) shard (default: --shard-size)")
    p.add_argument("-j", "--procs", type=int, default=max(1, (os.cpu_count() or 2) // 2),
                   help="tokenizer processes (default half the cores)")
    p.add_argument("--streaming", action="store_true", help="stream the dataset instead of downloading it whole")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    add_encoder_args(p)
    args = p.parse_args(argv)
    if args.shard_size < 1 or (args.val_tokens is not None and args.val_tokens < 1) or args.procs < 1:
        p.error("--shard-size, --val-tokens and --procs must be positive")
    return args


def download_documents(edu, version, streaming):
    repo, config, _ = DATASETS[(edu, version)]
    datasets = require("datasets", "downloading FineWeb")
    ds = datasets.load_dataset(repo, name=config, split="train", streaming=streaming)
    return (row["text"] for row in ds)


def main(argv=None, encode=None, eot=None):
    """encode/eot default to GPT-2 (see --encoder); tests pass a fake encoder to run this offline."""
    args = parse_args(argv)
    repo_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if args.input:
        name = args.name or "text"
        out_dir = args.out_dir or os.path.join(repo_dir, "data", name)
        texts = read_local_documents(args.input)  # checks the paths now, reads later
        prepare_out_dir(out_dir)
    else:
        name = args.name or DATASETS[(args.edu, args.version)][2]
        out_dir = args.out_dir or os.path.join(repo_dir, "data", name + args.version)
        prepare_out_dir(out_dir)  # before a long download
    if encode is None:
        encode, eot = gpt2_encoder(args.encoder, args.tokenizer, args.quiet)
    if not args.input:
        texts = download_documents(args.edu, args.version, args.streaming)
    return write_document_shards(texts, encode, eot, out_dir, name, args.shard_size, args.val_tokens,
                                 num_procs=args.procs, quiet=args.quiet)


if __name__ == "__main__":
    main()

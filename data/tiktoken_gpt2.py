"""tiktoken's "gpt2" encoding with no download, from the committed GPT-2 table.

tiktoken.get_encoding("gpt2") downloads OpenAI's vocab.bpe and encoder.json (and checks their
sha256) unless they are in its cache. Both files follow from data/gpt2_tokenizer.bin, because
GPT-2's merge ranks are its token ids: encoder.json maps every token (bytes in GPT-2's
byte-to-character alphabet) to its id, and vocab.bpe lists merge i-256 as the two tokens that
BPE, using only the merges ranked below i, leaves of token i's bytes. Made here, they equal
OpenAI's byte for byte (the sha256 tiktoken checks; test/test_gpt2_bpe.py runs it).

load_tiktoken_gpt2 (used by tokenize_docs.load_gpt2) prefers the official encoding when its files
are in tiktoken's cache (TIKTOKEN_CACHE_DIR, DATA_GYM_CACHE_DIR, else $TMPDIR/data-gym-cache);
otherwise it builds the same tiktoken.Encoding from the table (ranks = token ids 0..50255,
"<|endoftext|>" = 50256, tiktoken's own gpt2 pattern). To fill a cache for any tiktoken user:

    /usr/bin/python3 data/tiktoken_gpt2.py --cache-dir DIR [--tokenizer data/gpt2_tokenizer.bin]
    TIKTOKEN_CACHE_DIR=DIR python3 -c 'import tiktoken; print(tiktoken.get_encoding("gpt2").encode("hi"))'
"""
import hashlib
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tokenize_docs import DEFAULT_TOKENIZER, OneLineParser, fail, read_gpt2_table, require  # noqa: E402

# tiktoken_ext/openai_public.py's gpt2(): the files it downloads and the sha256 it checks
OFFICIAL = {
    "vocab.bpe": ("https://openaipublic.blob.core.windows.net/gpt-2/encodings/main/vocab.bpe",
                  "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5"),
    "encoder.json": ("https://openaipublic.blob.core.windows.net/gpt-2/encodings/main/encoder.json",
                     "196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783"),
}
ENDOFTEXT = "<|endoftext|>"


def byte_alphabet():
    """GPT-2's byte -> character map for its text files (tiktoken's data_gym order): printable
    bytes other than space are themselves, the other 68 bytes are chr(256), chr(257), ..."""
    chars = {b: chr(b) for b in range(256) if chr(b).isprintable() and chr(b) != " "}
    others = [b for b in range(256) if b not in chars]
    chars.update((b, chr(256 + n)) for n, b in enumerate(others))
    return chars


def merge_parts(ranks, token, rank):
    """The two tokens that BPE with the merges ranked below `rank` leaves of `token`'s bytes."""
    parts = [token[i:i + 1] for i in range(len(token))]
    while len(parts) > 2:
        best, at = None, -1
        for i in range(len(parts) - 1):
            r = ranks.get(parts[i] + parts[i + 1])
            if r is not None and r < rank and (best is None or r < best):
                best, at = r, i
        if best is None:
            break
        parts[at:at + 2] = [parts[at] + parts[at + 1]]
    if len(parts) != 2:
        raise ValueError(f"token {rank} ({token!r}) is not one merge of two earlier tokens")
    return parts


def official_files(token_bytes, eot):
    """{name: contents} of vocab.bpe and encoder.json made from the table; raises ValueError
    when their sha256 is not OpenAI's (the table is not GPT-2's)."""
    chars = byte_alphabet()
    text = lambda b: "".join(chars[x] for x in b)  # noqa: E731
    ranks = {b: i for i, b in enumerate(token_bytes) if i != eot}
    merges = (" ".join(map(text, merge_parts(ranks, token_bytes[i], i))) for i in range(256, len(token_bytes)) if i != eot)
    files = {"vocab.bpe": ("#version: 0.2\n" + "\n".join(merges) + "\n").encode(),
             "encoder.json": json.dumps({ENDOFTEXT if i == eot else text(b): i for i, b in enumerate(token_bytes)}).encode()}
    for name, data in files.items():
        if hashlib.sha256(data).hexdigest() != OFFICIAL[name][1]:
            raise ValueError(f"the {name} made from this table is not OpenAI's (sha256 differs)")
    return files


def cache_dir():
    """The folder tiktoken reads its cache from (tiktoken/load.py's rule); None when caching is off."""
    folder = os.environ.get("TIKTOKEN_CACHE_DIR", os.environ.get("DATA_GYM_CACHE_DIR"))
    if folder is None:
        folder = os.path.join(tempfile.gettempdir(), "data-gym-cache")
    return folder or None


def cache_path(folder, name):
    return os.path.join(folder, hashlib.sha1(OFFICIAL[name][0].encode()).hexdigest())


def cached_official():
    """tiktoken's cache folder when both official files are in it with the right sha256, else None."""
    folder = cache_dir()
    if folder is None:
        return None
    for name, (_, sha) in OFFICIAL.items():
        try:
            with open(cache_path(folder, name), "rb") as f:
                if hashlib.sha256(f.read()).hexdigest() != sha:
                    return None
        except OSError:
            return None
    return folder


def encoding_from_table(token_bytes, eot):
    """The gpt2 tiktoken.Encoding built from the table, with tiktoken's own gpt2 pattern."""
    tiktoken = require("tiktoken", "the tiktoken encoder")
    from tiktoken_ext.openai_public import r50k_pat_str  # the pattern get_encoding("gpt2") uses
    ranks = {b: i for i, b in enumerate(token_bytes) if i != eot}
    return tiktoken.Encoding(name="gpt2", pat_str=r50k_pat_str, mergeable_ranks=ranks,
                             special_tokens={ENDOFTEXT: eot}, explicit_n_vocab=len(token_bytes))


def load_tiktoken_gpt2(table=DEFAULT_TOKENIZER):
    """(gpt2 tiktoken.Encoding, description): the official one from tiktoken's cache when it is
    there, else the same encoding built from the table; never a download."""
    tiktoken = require("tiktoken", "the tiktoken encoder")
    folder = cached_official()
    if folder is not None:
        return tiktoken.get_encoding("gpt2"), f"tiktoken (official gpt2 files from its cache {folder})"
    token_bytes, eot = read_gpt2_table(table, "tiktoken's gpt2 encoding without a download",
                                     "or put the official files in tiktoken's cache: data/tiktoken_gpt2.py --cache-dir")
    return encoding_from_table(token_bytes, eot), f"tiktoken (gpt2 ranks = token ids of {table}; no download)"


def write_cache(table, folder):
    """Writes the official files under tiktoken's cache names in folder; returns their paths."""
    token_bytes, eot = read_gpt2_table(table, "writing tiktoken's gpt2 files", "give --tokenizer FILE")
    try:
        files = official_files(token_bytes, eot)
    except ValueError as e:
        fail(f"tokenizer table '{table}': {e}")
    try:
        os.makedirs(folder, exist_ok=True)
        paths = []
        for name, data in files.items():
            path = cache_path(folder, name)
            with open(path + ".tmp", "wb") as f:
                f.write(data)
            os.replace(path + ".tmp", path)
            paths.append(path)
    except OSError as e:
        fail(f"cannot write tiktoken's cache in '{folder}' ({e.strerror})")
    return paths


def main(argv=None):
    p = OneLineParser(description="Write tiktoken's gpt2 files (vocab.bpe, encoder.json) into a tiktoken "
                                  "cache folder from the GPT-2 tokenizer table, with no download.")
    p.add_argument("--cache-dir", required=True, help="folder to use as TIKTOKEN_CACHE_DIR")
    p.add_argument("--tokenizer", metavar="FILE", default=DEFAULT_TOKENIZER,
                   help="GPT-2 tokenizer table (default data/gpt2_tokenizer.bin)")
    args = p.parse_args(argv)
    for path in write_cache(args.tokenizer, args.cache_dir):
        print(f"wrote {path}")
    print(f"export TIKTOKEN_CACHE_DIR={os.path.abspath(args.cache_dir)}  # tiktoken.get_encoding('gpt2') then needs no network")


if __name__ == "__main__":
    main()

"""An exact GPT-2 BPE encoder built on the GPT-2 tokenizer table, for machines without tiktoken.

GPT-2's merge ranks are its token ids: the 256 single-byte tokens are the base and each later
id is one merge, so the table that holds every token's bytes (data/gpt2_tokenizer.bin) is all
the encoder needs. Text is cut into pre-tokens with GPT-2's pattern (needs the `regex` module,
Debian package python3-regex, for \\p{L} and \\p{N}); each pre-token's UTF-8 bytes are merged
as tiktoken does: a pre-token that is itself a token is that token, otherwise the adjacent pair
whose concatenation has the lowest rank is merged first, the leftmost on a tie, until no
adjacent pair is a token. `encode_ordinary` matches tiktoken's: "<|endoftext|>" in the text
is ordinary text; callers insert the end-of-text id themselves.
"""
import heapq

GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
CACHE_LIMIT = 1 << 20  # pre-tokens remembered; the cache is cleared when it grows past this


class GPT2BPE:
    """encode_ordinary(text) -> GPT-2 token ids, from token_bytes[i] = bytes of id i."""

    def __init__(self, token_bytes, eot_token, regex_module):
        ranks = {b: i for i, b in enumerate(token_bytes) if i != eot_token}  # eot is never merged into
        if len(ranks) != len(token_bytes) - 1:
            raise ValueError("the tokenizer table holds the same bytes under two ids")
        missing = [b for b in range(256) if bytes([b]) not in ranks]
        if missing:
            raise ValueError(f"the tokenizer table lacks the single-byte token {missing[0]:#04x}")
        self.ranks, self.eot = ranks, eot_token
        self._pretokens = regex_module.compile(GPT2_PATTERN).findall
        self._cache = {}

    def encode_ordinary(self, text):
        ids, cache = [], self._cache
        for piece in self._pretokens(text):
            piece_ids = cache.get(piece)
            if piece_ids is None:
                try:
                    piece_bytes = piece.encode("utf-8")
                except UnicodeEncodeError:  # a lone surrogate (JSON "\ud83d"): U+FFFD, as tiktoken does
                    piece_bytes = piece.encode("utf-16", "surrogatepass").decode("utf-16", "replace").encode("utf-8")
                piece_ids = self.encode_piece(piece_bytes)
                if len(cache) >= CACHE_LIMIT:
                    cache.clear()
                cache[piece] = piece_ids
            ids.extend(piece_ids)
        return ids

    def encode_piece(self, piece):
        """Ids of one pre-token's bytes. A heap of adjacent pairs keyed by (rank, start) picks
        the same merge as tiktoken's scan for the lowest-ranked, leftmost pair, in O(n log n)
        (a long run without spaces would be quadratic with the scan)."""
        ranks = self.ranks
        whole = ranks.get(piece)
        if whole is not None:
            return [whole]
        n = len(piece)
        nxt = list(range(1, n + 1))  # nxt[s]: start of the part after the part starting at s (n: none)
        prv = list(range(-1, n - 1))
        alive = [True] * n
        heap = []
        for s in range(n - 1):
            r = ranks.get(piece[s:s + 2])
            if r is not None:
                heap.append((r, s, s + 1, s + 2))
        heapq.heapify(heap)
        while heap:
            _, s, mid, end = heapq.heappop(heap)
            # skip entries made stale by earlier merges: the pair must still be parts s, mid ending at end
            if not alive[s] or nxt[s] != mid or not alive[mid] or nxt[mid] != end:
                continue
            alive[mid] = False
            nxt[s] = end
            if end < n:
                prv[end] = s
                r = ranks.get(piece[s:nxt[end]])
                if r is not None:
                    heapq.heappush(heap, (r, s, end, nxt[end]))
            p = prv[s]
            if p >= 0:
                r = ranks.get(piece[p:end])
                if r is not None:
                    heapq.heappush(heap, (r, p, s, end))
        ids, s = [], 0
        while s < n:
            ids.append(ranks[piece[s:nxt[s]]])
            s = nxt[s]
        return ids

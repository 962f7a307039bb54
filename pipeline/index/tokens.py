"""Words for the n-gram sketch and the full-text index: one definition, used on both sides.

A word is a run of letters, digits and marks; every Han, Hiragana, Katakana or Thai character is a word
of its own (those scripts do not separate words with spaces). Words are lower-cased; words of 40 bytes
or more (hashes, base64) are dropped. The same regular expression (Rust `regex`) drives Polars here and
tantivy's `Tokenizer.regex`, so a sketch n-gram can be sent to tantivy as a phrase query.

Format characters (`pipeline.text_identity`: zero-width spaces and joiners, soft hyphens, ...) are removed
first, as dedup's normalisation removes them, so an invisible character never splits a word; tantivy has no
filter for that, so the index hands it texts already without them.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import xxhash

from pipeline.text_identity import strip_format

WORD_PATTERN = r"[\p{Han}\p{Hiragana}\p{Katakana}\p{Thai}]|[\p{L}\p{N}\p{M}]+"
MAX_WORD_BYTES = 40  # tantivy's RemoveLongFilter limit: longer tokens are not indexed
ANALYZER = "apertura_words"
_POLY = np.uint64(0x9E3779B97F4A7C15)  # the same odd multiplier as dedup's shingle hash


@cache
def analyzer() -> Any:
    """The tantivy text analyzer with the same word definition (register it on every opened index)."""
    import tantivy

    return (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.regex(WORD_PATTERN))
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.remove_long(MAX_WORD_BYTES))
        .build()
    )


def words(texts: pl.Series) -> pl.Series:
    """List of lower-cased words per text (null text: no words)."""
    return (
        strip_format(texts)
        .fill_null("")
        .str.replace_all("Σ", "σ", literal=True)  # tantivy lower-cases per character: no final-sigma rule
        .str.to_lowercase()
        .str.extract_all(WORD_PATTERN)
        .list.eval(pl.element().filter(pl.element().str.len_bytes() < MAX_WORD_BYTES))
    )


def word_list(text: str) -> list[str]:
    return words(pl.Series([text]))[0].to_list()


def word_hashes(lists: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """xxh3_64 of every word, text after text, and the word count of each text.

    Distinct words are hashed once (dictionary encoding), as dedup does for its shingles.
    """
    counts = lists.list.len().fill_null(0).to_numpy().astype(np.int64)
    flat = lists.explode().drop_nulls().to_arrow()
    if len(flat) == 0:
        return np.zeros(0, np.uint64), counts
    encoded = pc.dictionary_encode(flat.cast(pa.large_string()))
    distinct = encoded.dictionary.cast(pa.large_binary()).to_pylist()
    table = np.fromiter((xxhash.xxh3_64_intdigest(w) for w in distinct), dtype=np.uint64, count=len(distinct))
    return table[encoded.indices.to_numpy(zero_copy_only=False)], counts


def gram_hashes(hashes: np.ndarray, counts: np.ndarray, n: int, stride: int) -> np.ndarray:
    """64-bit hash of each word n-gram starting at a multiple of `stride` inside its text.

    h = sum_j w[i+j] * P^(n-1-j) mod 2^64; an n-gram never runs across two texts; texts shorter than n
    words have none (they are found by the exact hashes instead).
    """
    total = len(hashes)
    if total < n:
        return np.zeros(0, np.uint64)
    m = total - n + 1
    rolled = np.zeros(m, dtype=np.uint64)
    for j in range(n):
        rolled += hashes[j : j + m] * np.uint64(pow(int(_POLY), n - 1 - j, 1 << 64))
    starts = np.cumsum(counts) - counts
    doc = np.repeat(np.arange(len(counts)), counts)[:m]
    local = np.arange(m) - starts[doc]
    ok = (local + n <= counts[doc]) & (local % stride == 0)
    return rolled[ok]


def fmix64(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finaliser: spreads a gram hash into independent-looking bits."""
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xFF51AFD7ED558CCD)
    h ^= h >> np.uint64(33)
    h = h * np.uint64(0xC4CEB9FE1A85EC53)
    h ^= h >> np.uint64(33)
    return h

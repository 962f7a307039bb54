"""Comparing a query's text with a document's, the evidence behind a text answer: the words' character offsets
in the text as pasted and as stored, maximal runs of words shared in order, and the Jaccard of the dedup
shingle sets (the shingles MinHash signatures are made of)."""

from __future__ import annotations

from difflib import SequenceMatcher

import numpy as np
import polars as pl

from pipeline.fingerprints import shingle_hashes
from pipeline.index.tokens import word_list
from pipeline.text_identity import FORMAT_CHARACTERS, has_format


def word_offsets(text: str, tokens: list[str]) -> list[tuple[int, int]]:
    """Character offsets of each word in `text`, found in order in the text lower-cased as `tokens.words` does
    (no final-sigma rule). Format characters, which words skip, are skipped in the search; a character that
    lower-cases to two ('İ' -> 'i̇') is searched in that form; offsets count both as they stand in `text`."""
    kept: list[int] | None = [i for i, c in enumerate(text) if c not in FORMAT_CHARACTERS] if has_format(text) else None
    visible = "".join(text[i] for i in kept) if kept is not None else text
    lower = visible.replace("Σ", "σ").lower()
    if len(lower) != len(visible):  # every lower-cased character points back at the character it came from
        origin = [i for i, c in enumerate(visible) for _ in c.lower()]
        kept = [kept[i] for i in origin] if kept is not None else origin
    out, pos = [], 0
    for token in tokens:
        k = lower.find(token, pos)
        if k < 0:
            out.append((pos, pos))
        else:
            out.append((k, k + len(token)))
            pos = k + len(token)
    if kept is None:
        return out
    at = [*kept, len(text)]  # a position in `lower` -> its position in `text`
    return [(at[a], at[b - 1] + 1 if b > a else at[a]) for a, b in out]


def query_offsets(raw: str, tokens: list[str]) -> list[tuple[int, int]]:
    """Offsets in the pasted text `raw` of the words `tokens` of its release form. Where the release form has a
    placeholder for personal data, the placeholder's words point at the passage it replaced."""
    raw_tokens = word_list(raw)
    if raw_tokens == tokens:
        return word_offsets(raw, tokens)
    raw_offsets = word_offsets(raw, raw_tokens)
    out: list[tuple[int, int]] = []
    for tag, i1, i2, j1, j2 in SequenceMatcher(a=tokens, b=raw_tokens).get_opcodes():
        if tag == "equal":
            out += raw_offsets[j1:j2]
        elif i2 > i1:
            start = raw_offsets[j1][0] if j2 > j1 else raw_offsets[j1 - 1][1] if j1 else 0
            out += [(start, raw_offsets[j2 - 1][1] if j2 > j1 else start)] * (i2 - i1)
    return out


def shared_spans(query: list[str], doc: list[str], n: int) -> list[tuple[int, int, int]]:
    """(query start, query end, doc start) of maximal word runs of at least n words found in order in both."""
    if len(query) < n or len(doc) < n:
        return []
    first: dict[tuple[str, ...], int] = {}
    for j in range(len(doc) - n + 1):
        first.setdefault(tuple(doc[j : j + n]), j)
    spans, i = [], 0
    while i <= len(query) - n:
        j = first.get(tuple(query[i : i + n]))
        if j is None:
            i += 1
            continue
        length = n
        while i + length < len(query) and j + length < len(doc) and query[i + length] == doc[j + length]:
            length += 1
        spans.append((i, i + length, j))
        i += length
    return spans


def shingle_sets(texts: list[str], n: int) -> list[np.ndarray]:
    """Distinct dedup shingle hashes (the ones MinHash signatures are made of) of each text."""
    shingles, n_sh = shingle_hashes(pl.Series(texts, dtype=pl.String), n)
    bounds = np.concatenate([[0], np.cumsum(n_sh)])
    return [np.unique(shingles[bounds[i] : bounds[i + 1]]) for i in range(len(texts))]


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    union = len(np.union1d(a, b))
    return len(np.intersect1d(a, b, assume_unique=True)) / union if union else 0.0

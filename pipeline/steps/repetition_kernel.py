"""Compiled (numba) kernels for Gopher's n-gram repetition statistics (`pipeline.steps.quality`).

Per document: the characters in its most frequent word n-gram, and in its repeated n-grams (a repeat
skips its n words), exactly as datatrove's Gopher repetition filter counts them. Python's `Counter` of
tuples took half the quality stage (230 µs a document of 450 words). Here words get exact integer ids
(equal bytes, equal id), and n-grams of ids go into one open-addressing table per document and n,
compared id by id on a hash match: exact, not a hash estimate.
"""

from __future__ import annotations

import numpy as np
from numba import njit

import pipeline.numba_cache  # noqa: F401  (before any kernel is defined: the user's cache dir)

_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)
_MIX = np.uint64(0x9E3779B97F4A7C15)


def table_size(n: int) -> int:
    """A power of two of at least 2n slots (load factor <= 1/2)."""
    return 1 << max(4, int(2 * max(n, 1) - 1).bit_length())


@njit(cache=True)
def word_ids(data: np.ndarray, offsets: np.ndarray, size: int) -> np.ndarray:
    """An id per word (`data[offsets[i]:offsets[i+1]]`), equal exactly when the words' bytes are equal."""
    count = len(offsets) - 1
    mask = np.uint64(size - 1)
    slots = np.full(size, -1, dtype=np.int64)  # a word that holds the slot
    hashes = np.empty(count, dtype=np.uint64)
    ids = np.empty(count, dtype=np.int64)
    for w in range(count):
        start, end = offsets[w], offsets[w + 1]
        h = _FNV_OFFSET
        for i in range(start, end):
            h = (h ^ np.uint64(data[i])) * _FNV_PRIME
        hashes[w] = h
        s = h & mask
        while True:
            held = slots[s]
            if held < 0:
                slots[s] = w
                ids[w] = w
                break
            if hashes[held] == h and offsets[held + 1] - offsets[held] == end - start:
                same = True
                other = offsets[held]
                for i in range(end - start):
                    if data[other + i] != data[start + i]:
                        same = False
                        break
                if same:
                    ids[w] = ids[held]
                    break
            s = (s + np.uint64(1)) & mask
    return ids


@njit(cache=True, inline="always")
def _gram_hash(ids: np.ndarray, start: int, n: int) -> np.uint64:
    h = np.uint64(0)
    for j in range(n):
        h = (h ^ np.uint64(ids[start + j])) * _MIX
        h ^= h >> np.uint64(29)
    return h


@njit(cache=True, inline="always")
def _same_gram(ids: np.ndarray, a: int, b: int, n: int) -> bool:
    for j in range(n):  # noqa: SIM110 (numba compiles the loop, not all() over a generator)
        if ids[a + j] != ids[b + j]:
            return False
    return True


@njit(cache=True)
def ngram_chars(
    ids: np.ndarray, chars: np.ndarray, doc_offsets: np.ndarray, top_ns: np.ndarray, dup_ns: np.ndarray, size: int
) -> np.ndarray:
    """Per document (its words `doc_offsets[d]:doc_offsets[d+1]`, their lengths `chars`): for each n in
    `top_ns`, count x characters of the most frequent n-gram, words joined by spaces (ties: the one seen
    first); for each n in `dup_ns`, the characters of the words in repeated n-grams, a repeat skipping its
    n words. `size` (a power of two) is at least twice the longest document's word count."""
    docs = len(doc_offsets) - 1
    out = np.zeros((docs, len(top_ns) + len(dup_ns)), dtype=np.int64)
    mask = np.uint64(size - 1)
    owner = np.full(size, -1, dtype=np.int64)  # which table (document and n) a slot's entry belongs to
    first = np.empty(size, dtype=np.int64)  # the entry's first position
    counts = np.empty(size, dtype=np.int64)
    hashes = np.empty(size, dtype=np.uint64)
    table = 0
    for d in range(docs):
        a = doc_offsets[d]
        m = doc_offsets[d + 1] - a
        for k in range(len(top_ns)):
            n = top_ns[k]
            if m < n:
                continue
            table += 1
            best, best_at = 0, 0
            for i in range(a, a + m - n + 1):
                h = _gram_hash(ids, i, n)
                s = h & mask
                while True:
                    if owner[s] != table:
                        owner[s], first[s], counts[s], hashes[s] = table, i, 1, h
                        break
                    if hashes[s] == h and _same_gram(ids, first[s], i, n):
                        counts[s] += 1
                        break
                    s = (s + np.uint64(1)) & mask
                if counts[s] > best or (counts[s] == best and first[s] < best_at):
                    best, best_at = counts[s], first[s]
            out[d, k] = best * (chars[best_at : best_at + n].sum() + n - 1)
        unique_from = -1  # the smallest n whose n-grams are all distinct: then so are all longer ones
        for k in range(len(dup_ns)):
            n = dup_ns[k]
            if unique_from >= 0 and n >= unique_from:
                continue
            table += 1
            repeated, total, i = False, 0, a
            while i < a + m - n + 1:
                h = _gram_hash(ids, i, n)
                s = h & mask
                seen = False
                while owner[s] == table:
                    if hashes[s] == h and _same_gram(ids, first[s], i, n):
                        seen = True
                        break
                    s = (s + np.uint64(1)) & mask
                if seen:
                    repeated = True
                    total += chars[i : i + n].sum()
                    i += n
                else:
                    owner[s], first[s], hashes[s] = table, i, h
                    i += 1
            if not repeated:
                unique_from = n
            out[d, len(top_ns) + k] = total
    return out

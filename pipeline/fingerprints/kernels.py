"""Compiled (numba) kernels for the fingerprints: normalisation, word and shingle hashes, signatures.

They compute exactly what `pipeline.fingerprints` defines (and tests against datasketch and xxhash):
xxh3_64 of every space-separated word of the normalised UTF-8 text, word n-grams folded as a polynomial
mod 2^64, the top 32 bits pre-mixed with fmix32, and per document the minimum of datasketch's affine32
permutations; and the normalisation's per-character steps. numpy needed a pass over memory per operation
and Python per distinct word (92 µs a document in all); here each shingle's 112 permuted values stay in
registers (37 µs in all, bench/RESULTS.md). Compiled once and cached in the user's cache directory
(`cache=True`, pipeline/numba_cache.py).

xxh3_64 is written out for words up to 240 bytes (XXH3's short and mid-size paths, seed 0, default
secret); the caller hashes the rare longer word with the `xxhash` library.
"""

from __future__ import annotations

import numpy as np
from numba import njit

import pipeline.numba_cache  # noqa: F401  (before any kernel is defined: the user's cache dir)

_U64 = np.uint64
_M32 = _U64(0xFFFFFFFF)
_P64_1 = _U64(0x9E3779B185EBCA87)
_P64_2 = _U64(0xC2B2AE3D27D4EB4F)
_P64_3 = _U64(0x165667B19E3779F9)
_MX1 = _U64(0x165667919E3779F9)
_MX2 = _U64(0x9FB21C651E98DF25)
MAX_WORD = 240  # longest word hashed here (XXH3_MIDSIZE_MAX)

# XXH3's default secret (kSecret): its first 144 of 192 bytes, all that inputs up to 240 bytes use.
_SECRET = np.frombuffer(
    bytes.fromhex(
        "b8fe6c3923a44bbe7c01812cf721ad1cded46de9839097db7240a4a4b7b3671f"
        "cb79e64eccc0e578825ad07dccff7221b8084674f743248ee03590e6813a264c"
        "3c2852bb91c300cb88d0658b1b532ea371644897a20df94e3819ef46a9deacd8"
        "a8fa763fe39c343ff9dcbbc7c70b4f1d8a51e04bcdb45931c89f7ec9d9787364"
        "eac5ac8334d3ebc3c581a0fffa1363eb"
    ),
    dtype=np.uint8,
)


@njit(cache=True, inline="always")
def _read(buf: np.ndarray, at: int, size: int) -> np.uint64:
    """`size` bytes of `buf` from `at`, little-endian (XXH3's readLE32/readLE64)."""
    v = _U64(0)
    for k in range(size):
        v |= _U64(buf[at + k]) << _U64(8 * k)
    return v


@njit(cache=True, inline="always")
def _mul128_fold64(a: np.uint64, b: np.uint64) -> np.uint64:
    lo_lo = (a & _M32) * (b & _M32)
    hi_lo = (a >> _U64(32)) * (b & _M32)
    lo_hi = (a & _M32) * (b >> _U64(32))
    hi_hi = (a >> _U64(32)) * (b >> _U64(32))
    cross = (lo_lo >> _U64(32)) + (hi_lo & _M32) + lo_hi
    upper = (hi_lo >> _U64(32)) + (cross >> _U64(32)) + hi_hi
    lower = (cross << _U64(32)) | (lo_lo & _M32)
    return lower ^ upper


@njit(cache=True, inline="always")
def _avalanche(h: np.uint64) -> np.uint64:
    h ^= h >> _U64(37)
    h *= _MX1
    return h ^ (h >> _U64(32))


@njit(cache=True, inline="always")
def _xxh64_avalanche(h: np.uint64) -> np.uint64:
    h ^= h >> _U64(33)
    h *= _P64_2
    h ^= h >> _U64(29)
    h *= _P64_3
    return h ^ (h >> _U64(32))


@njit(cache=True, inline="always")
def _mix16(buf: np.ndarray, at: int, sec: int) -> np.uint64:
    lo = _read(buf, at, 8) ^ _read(_SECRET, sec, 8)
    hi = _read(buf, at + 8, 8) ^ _read(_SECRET, sec + 8, 8)
    return _mul128_fold64(lo, hi)


@njit(cache=True)
def xxh3_64(buf: np.ndarray, at: int, n: int) -> np.uint64:
    """XXH3_64bits(buf[at:at+n]) with seed 0, for n <= 240."""
    if n == 0:
        return _xxh64_avalanche(_read(_SECRET, 56, 8) ^ _read(_SECRET, 64, 8))
    if n <= 3:
        combined = (
            (_U64(buf[at]) << _U64(16))
            | (_U64(buf[at + (n >> 1)]) << _U64(24))
            | _U64(buf[at + n - 1])
            | (_U64(n) << _U64(8))
        )
        return _xxh64_avalanche(combined ^ (_read(_SECRET, 0, 4) ^ _read(_SECRET, 4, 4)))
    if n <= 8:
        word = _read(buf, at + n - 4, 4) + (_read(buf, at, 4) << _U64(32))
        h = word ^ (_read(_SECRET, 8, 8) ^ _read(_SECRET, 16, 8))
        h ^= ((h << _U64(49)) | (h >> _U64(15))) ^ ((h << _U64(24)) | (h >> _U64(40)))
        h *= _MX2
        h ^= (h >> _U64(35)) + _U64(n)
        h *= _MX2
        return h ^ (h >> _U64(28))
    if n <= 16:
        lo = _read(buf, at, 8) ^ (_read(_SECRET, 24, 8) ^ _read(_SECRET, 32, 8))
        hi = _read(buf, at + n - 8, 8) ^ (_read(_SECRET, 40, 8) ^ _read(_SECRET, 48, 8))
        swapped = _U64(0)
        for k in range(8):
            swapped |= ((lo >> _U64(8 * k)) & _U64(0xFF)) << _U64(56 - 8 * k)
        return _avalanche(_U64(n) + swapped + hi + _mul128_fold64(lo, hi))
    acc = _U64(n) * _P64_1
    if n <= 128:
        if n > 32:
            if n > 64:
                if n > 96:
                    acc += _mix16(buf, at + 48, 96)
                    acc += _mix16(buf, at + n - 64, 112)
                acc += _mix16(buf, at + 32, 64)
                acc += _mix16(buf, at + n - 48, 80)
            acc += _mix16(buf, at + 16, 32)
            acc += _mix16(buf, at + n - 32, 48)
        acc += _mix16(buf, at, 0)
        acc += _mix16(buf, at + n - 16, 16)
        return _avalanche(acc)
    for i in range(8):
        acc += _mix16(buf, at + 16 * i, 16 * i)
    acc = _avalanche(acc)
    for i in range(8, n // 16):
        acc += _mix16(buf, at + 16 * i, 16 * (i - 8) + 3)
    acc += _mix16(buf, at + n - 16, 136 - 17)
    return _avalanche(acc)


@njit(cache=True)
def word_hashes(data: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """xxh3_64 of every word (`text.split(b" ")` of each non-empty text data[offsets[i]:offsets[i+1]]),
    each text's word count, and (index, start, end) of every word longer than MAX_WORD, whose hash is
    left 0 for the caller.

    Spaces are collected first without a branch per byte: a loop that stops at each space mispredicts
    once a word, which cost more than the hashing.
    """
    n_docs = len(offsets) - 1
    base, stop = offsets[0], offsets[-1]
    spaces = np.empty(stop - base + 1, dtype=np.int64)
    n_spaces = 0
    for i in range(base, stop):
        spaces[n_spaces] = i
        n_spaces += data[i] == 32
    spaces[n_spaces] = stop  # a sentinel past every text
    out = np.empty(n_spaces + n_docs, dtype=np.uint64)
    n_words = np.zeros(n_docs, dtype=np.int64)
    long_words = []
    w, k = 0, 0
    for d in range(n_docs):
        start, end = offsets[d], offsets[d + 1]
        if end == start:
            continue
        first = w
        while True:
            cut = min(spaces[k], end)
            if cut - start <= MAX_WORD:
                out[w] = xxh3_64(data, start, cut - start)
            else:
                out[w] = 0
                long_words.append((w, start, cut))
            w += 1
            if cut == end:
                break
            start = cut + 1
            k += 1
        n_words[d] = w - first
    found = np.zeros((len(long_words), 3), dtype=np.int64)
    for r, row in enumerate(long_words):
        found[r, 0], found[r, 1], found[r, 2] = row
    return out[:w], n_words, found


@njit(cache=True)
def shingle_hashes(words: np.ndarray, n_words: np.ndarray, ngram: int, poly: int) -> tuple[np.ndarray, np.ndarray]:
    """`shingle_hash` of every word n-gram (h = h * poly + word hash, mod 2^64, top 32 bits), doc after
    doc, as uint32; and each doc's shingle count.

    A doc with fewer than `ngram` words (but at least one) is one shingle of all its words.
    """
    powers = np.empty(ngram, dtype=np.uint64)
    p = _U64(1)
    for k in range(ngram):
        powers[k] = p  # poly^k mod 2^64
        p *= _U64(poly)
    n_sh = np.zeros(len(n_words), dtype=np.int64)
    for d in range(len(n_words)):
        n_sh[d] = max(n_words[d] - ngram + 1, 1) if n_words[d] > 0 else 0
    out = np.empty(n_sh.sum(), dtype=np.uint32)
    first, at = 0, 0
    for d in range(len(n_words)):
        k = min(n_words[d], ngram)
        for s in range(n_sh[d]):
            h = _U64(0)
            for j in range(k):
                h += words[first + s + j] * powers[k - 1 - j]
            out[at] = np.uint32(h >> _U64(32))
            at += 1
        first += n_words[d]
    return out, n_sh


@njit(cache=True)
def signatures(shingles: np.ndarray, n_sh: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per doc, the minimum over its shingles h of (a * fmix32(h) + b) mod 2^32: (docs x len(a)) uint32;
    a doc without shingles keeps datasketch's empty value 0xFFFFFFFF.

    Permutation by permutation, each a min-reduction over the doc's shingles held in SIMD registers
    (the other loop order stores the signature row back for every shingle).
    """
    sig = np.full((len(n_sh), len(a)), np.uint32(0xFFFFFFFF), dtype=np.uint32)
    mixed = np.empty(n_sh.max() if len(n_sh) else 0, dtype=np.uint32)
    at = 0
    for d in range(len(n_sh)):
        n = n_sh[d]
        for s in range(n):
            x = np.uint32(shingles[at + s])  # fmix32: datasketch affine32's pre-mix
            x ^= x >> np.uint32(16)
            x = np.uint32(x * np.uint32(0x85EBCA6B))
            x ^= x >> np.uint32(13)
            x = np.uint32(x * np.uint32(0xC2B2AE35))
            mixed[s] = x ^ (x >> np.uint32(16))
        at += n
        for q in range(len(a) if n else 0):
            aq, bq = a[q], b[q]
            low = np.uint32(0xFFFFFFFF)
            for s in range(n):
                low = min(low, np.uint32(aq * mixed[s] + bq))
            sig[d, q] = low
    return sig


# What each ASCII byte becomes in the normalised text: itself lower-cased, _DROP (Unicode P*/S*: all of
# string.punctuation), 32 (Unicode White_Space). Texts with bytes >= 128 take the Unicode path.
_DROP = 255
_ASCII_MAP = np.frombuffer(bytes(range(128)).lower(), dtype=np.uint8).copy()
_ASCII_MAP[np.frombuffer(b"!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", dtype=np.uint8)] = _DROP
_ASCII_MAP[[9, 10, 11, 12, 13]] = 32


@njit(cache=True)
def normalise_ascii(data: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`normalise` of every all-ASCII text in one pass: lower case, punctuation and symbols dropped,
    whitespace runs made one space, stripped. Returns the bytes, their offsets (from 0) and a flag per
    text holding a non-ASCII byte: such a text is left empty here, for the Unicode-aware path.

    Branch-free per byte (every byte is written, the cursor advances or not), ~4x the branching loop.
    """
    n_docs = len(offsets) - 1
    out = np.empty(offsets[-1] - offsets[0] + 1, dtype=np.uint8)
    out_offsets = np.zeros(n_docs + 1, dtype=np.int64)
    non_ascii = np.zeros(n_docs, dtype=np.bool_)
    w = 0
    for d in range(n_docs):
        begin = w
        seen = np.uint8(0)
        last = np.uint8(32)  # as if after a space: a leading run is dropped
        for i in range(offsets[d], offsets[d + 1]):
            c = data[i]
            seen |= c
            v = _ASCII_MAP[c & np.uint8(127)]
            out[w] = v
            advance = (v != _DROP) & ((v != 32) | (last != 32))
            w += advance
            last = v if v != _DROP else last  # equals the last byte written: a space not written follows one
        if w > begin and last == 32:
            w -= 1  # a trailing space
        if seen >= 128:
            non_ascii[d] = True
            w = begin
        out_offsets[d + 1] = w
    return out[:w], out_offsets, non_ascii


@njit(cache=True)
def splice(
    data: np.ndarray, offsets: np.ndarray, rows: np.ndarray, sub_data: np.ndarray, sub_offsets: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Texts `data` with text rows[k] (empty in `data`) replaced by sub text k: bytes and offsets."""
    n_docs = len(offsets) - 1
    out = np.empty(len(data) + sub_offsets[-1] - sub_offsets[0], dtype=np.uint8)
    out_offsets = np.zeros(n_docs + 1, dtype=np.int64)
    w, r = 0, 0
    for d in range(n_docs):
        if r < len(rows) and rows[r] == d:
            src, start, end = sub_data, sub_offsets[r], sub_offsets[r + 1]
            r += 1
        else:
            src, start, end = data, offsets[d], offsets[d + 1]
        out[w : w + end - start] = src[start:end]
        w += end - start
        out_offsets[d + 1] = w
    return out, out_offsets


DROPPED, WHITESPACE, CONTEXTUAL = -1, -2, -3  # `normalise_utf8` table codes besides a code point


@njit(cache=True)
def normalise_utf8(
    data: np.ndarray, offsets: np.ndarray, table: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`normalise_ascii` for UTF-8 texts (already NFKC), a code point at a time through `table`: its
    lower case, DROPPED, WHITESPACE or CONTEXTUAL. A text with a CONTEXTUAL code point (final-sigma
    lower-casing, a multi-character lower case, a format character, one past the table) is left empty and
    flagged."""
    n_docs = len(offsets) - 1
    out = np.empty(2 * (offsets[-1] - offsets[0]) + 4, dtype=np.uint8)  # a lower case may be longer
    out_offsets = np.zeros(n_docs + 1, dtype=np.int64)
    flagged = np.zeros(n_docs, dtype=np.bool_)
    w = 0
    for d in range(n_docs):
        begin, i, end = w, offsets[d], offsets[d + 1]
        pending_space = False
        while i < end:
            c = np.int64(data[i])
            if c < 0x80:
                cp, i = c, i + 1
            elif c < 0xE0:
                cp, i = ((c & 0x1F) << 6) | (data[i + 1] & 0x3F), i + 2
            elif c < 0xF0:
                cp, i = ((c & 0x0F) << 12) | ((data[i + 1] & 0x3F) << 6) | (data[i + 2] & 0x3F), i + 3
            else:
                cp = ((c & 0x07) << 18) | ((data[i + 1] & 0x3F) << 12) | ((data[i + 2] & 0x3F) << 6)
                cp, i = cp | (data[i + 3] & 0x3F), i + 4
            v = table[cp] if cp < len(table) else CONTEXTUAL
            if v == DROPPED:
                continue
            if v == WHITESPACE:
                pending_space = w > begin  # a leading run is stripped
                continue
            if v == CONTEXTUAL:
                flagged[d] = True
                break
            if pending_space:
                out[w] = 32
                w += 1
                pending_space = False
            if v < 0x80:
                out[w] = v
                w += 1
            elif v < 0x800:
                out[w], out[w + 1] = 0xC0 | (v >> 6), 0x80 | (v & 0x3F)
                w += 2
            elif v < 0x10000:
                out[w], out[w + 1], out[w + 2] = 0xE0 | (v >> 12), 0x80 | ((v >> 6) & 0x3F), 0x80 | (v & 0x3F)
                w += 3
            else:
                out[w], out[w + 1] = 0xF0 | (v >> 18), 0x80 | ((v >> 12) & 0x3F)
                out[w + 2], out[w + 3] = 0x80 | ((v >> 6) & 0x3F), 0x80 | (v & 0x3F)
                w += 4
        if flagged[d]:
            w = begin
        out_offsets[d + 1] = w
    return out[:w], out_offsets, flagged

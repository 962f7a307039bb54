"""Normalisation entry points: the text both dedup keys (and the registry's and the index's) are built on.

`normalise` computes `pipeline.text_identity.normalise_defined` compiled (`kernels`): format characters removed,
NFKC, lower case, Unicode punctuation/symbols removed, whitespace collapsed. `utf8_buffers` hands Polars texts
to compiled kernels without a copy (the quality step's repetition kernel reads them the same way).
"""

from __future__ import annotations

from functools import cache
from types import ModuleType

import numpy as np
import polars as pl
import pyarrow as pa

from pipeline.text_identity import FORMAT_RANGES, PUNCT, after_nfkc, nfkc, strip_format


def utf8_buffers(texts: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """The UTF-8 bytes of all (String) texts and each text's start (and the end) in them, without a copy
    where Arrow allows: what the compiled kernels read. A null is empty."""
    arr = texts.fill_null("").rechunk().to_arrow()
    if not isinstance(arr, pa.LargeStringArray):
        arr = arr.cast(pa.large_string())
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)[arr.offset : arr.offset + len(arr) + 1]
    return np.frombuffer(arr.buffers()[2] or b"", dtype=np.uint8), offsets


@cache
def compiled() -> ModuleType:
    """The compiled kernels (`pipeline.fingerprints.kernels`), imported on first use: numba costs a process ~0.3 s
    and ~150 MB, which one that only clusters or reads a release (the driver, the app) need not pay."""
    from pipeline.fingerprints import kernels

    return kernels


def _normalised(texts: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """`normalise` as UTF-8 bytes and offsets (a null text is empty), what the keys are computed from.

    All-ASCII texts (NFKC-invariant, no format characters) are normalised compiled in one branch-free pass;
    the rest by `_normalised_unicode`.
    """
    kernel = compiled()
    texts = texts.cast(pl.String)
    out, offsets, non_ascii = kernel.normalise_ascii(*utf8_buffers(texts))
    if non_ascii.any():
        rows = np.flatnonzero(non_ascii)
        out, offsets = kernel.splice(out, offsets, rows, *_normalised_unicode(texts.gather(rows)))
    return out, offsets


def _normalised_unicode(texts: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """`_normalised` of texts with non-ASCII characters: NFKC from Python's `unicodedata` (Unicode's stability
    policy keeps it fixed for assigned characters), then the compiled pass a code point at a time with Polars'
    own answers for each code point (`_codepoint_table`).

    A text the table flags is done again from the start: format characters must go before NFKC (they block
    composition), so a text holding one has them removed, NFKC and the compiled pass again; what is still
    flagged (a lower case that depends on context) takes Polars' path. Web text rarely has either, so the
    common text pays nothing for them.
    """
    kernel = compiled()
    data, offsets, flagged = kernel.normalise_utf8(*utf8_buffers(nfkc(texts)), _codepoint_table())
    if flagged.any():
        rows = np.flatnonzero(flagged)
        again = nfkc(strip_format(texts.gather(rows)))
        sub, sub_offsets, contextual = kernel.normalise_utf8(*utf8_buffers(again), _codepoint_table())
        if contextual.any():
            slow = np.flatnonzero(contextual)
            sub, sub_offsets = kernel.splice(sub, sub_offsets, slow, *utf8_buffers(after_nfkc(again.gather(slow))))
        data, offsets = kernel.splice(data, offsets, rows, sub, sub_offsets)
    return data, offsets


@cache
def _codepoint_table(size: int = 0x30000) -> np.ndarray:
    """What `after_nfkc` does to each code point below `size` on its own (BMP, SMP, SIP; ~0.16 s, once):
    its lower case, or kernel.DROPPED / WHITESPACE / CONTEXTUAL. Per code point is exact for Polars'
    per-character lower case, character classes and whitespace runs; the one context-dependent lower
    case (Greek final sigma) and multi-character ones are CONTEXTUAL, so their texts take Polars' path.
    Format characters are CONTEXTUAL too: they are removed before NFKC, so their texts are redone.
    """
    kernel = compiled()
    points = np.setdiff1d(np.arange(size), np.arange(0xD800, 0xE000))  # surrogates are not text
    lower = pl.Series([chr(p) for p in points], dtype=pl.String).str.to_lowercase()
    kept = lower.str.replace_all(PUNCT, "")
    table = np.full(size, kernel.CONTEXTUAL, dtype=np.int32)
    single = (kept.str.len_chars() == 1).to_numpy()
    codes = np.array([ord(c) for c in kept.filter(single).to_list()], dtype=np.int32)
    table[points[single]] = codes
    table[points[(kept == "").to_numpy()]] = kernel.DROPPED
    table[points[kept.str.contains(r"^\s$").to_numpy()]] = kernel.WHITESPACE
    table[ord("Σ")] = kernel.CONTEXTUAL  # lower case ς at a word's end, σ elsewhere
    for a, b in FORMAT_RANGES:
        table[a : min(b + 1, size)] = kernel.CONTEXTUAL
    return table


def normalise(texts: pl.Series) -> pl.Series:
    """Format characters removed, NFKC, lower case, punctuation/symbols removed, whitespace collapsed: the text
    both keys are built on (`pipeline.text_identity.normalise_defined`, compiled). Nulls stay null."""
    data, offsets = _normalised(texts)
    norm = pl.Series(
        texts.name, pa.LargeStringArray.from_buffers(len(texts), pa.py_buffer(offsets), pa.py_buffer(data))
    )
    return norm.scatter(texts.is_null().arg_true(), None) if texts.null_count() else norm

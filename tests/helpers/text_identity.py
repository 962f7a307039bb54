"""Text identity for tests, with no pipeline code: dedup's normalisation written from its definition, and copies
of a text as they are made in the wild (invisible characters added or lost).

`reference_normalise` follows schemas' `norm_sha256` and the manifest's `software.minhash.normalisation`:
format characters by their Unicode category, then Python's NFKC, then Polars' lower case, Unicode punctuation
and symbols removed, whitespace collapsed, stripped. The tests compare the pipeline's compiled and plain paths
with it."""

from __future__ import annotations

import unicodedata

import polars as pl


def reference_normalise(texts: list[str | None]) -> list[str | None]:
    visible = [None if t is None else "".join(c for c in t if unicodedata.category(c) != "Cf") for t in texts]
    nfkc = pl.Series([None if t is None else unicodedata.normalize("NFKC", t) for t in visible], dtype=pl.String)
    return (
        nfkc.str.to_lowercase()
        .str.replace_all(r"[\p{P}\p{S}]", "")
        .str.replace_all(r"\s+", " ")
        .str.strip_chars(" ")
        .to_list()
    )


def visible(text: str) -> str:
    """`text` without its format characters (Unicode category Cf)."""
    return "".join(c for c in text if unicodedata.category(c) != "Cf")


def soft_hyphens(text: str) -> str:
    """A soft hyphen (U+00AD) in the middle of every word of 8 letters or more, as hyphenated web pages have."""
    return " ".join(w[: len(w) // 2] + "\u00ad" + w[len(w) // 2 :] if len(w) >= 8 else w for w in text.split(" "))


def zero_width(text: str) -> str:
    """Zero-width space, joiner, non-joiner and word joiner inside words of 4 characters or more, in turn (as
    pages that defend against scrapers, and some copy tools, insert them)."""
    marks = "\u200b\u200d\u200c\u2060"
    words = text.split(" ")
    return " ".join(w[:2] + marks[i % 4] + w[2:] if len(w) >= 4 else w for i, w in enumerate(words))

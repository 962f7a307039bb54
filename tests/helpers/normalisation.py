"""Dedup's normalisation written from its definition (schemas' `norm_sha256`, the manifest's
`software.minhash.normalisation`), with no pipeline code: format characters by their Unicode category, then
Python's NFKC, then Polars' lower case, Unicode punctuation and symbols removed, whitespace collapsed, stripped.
The tests compare the pipeline's compiled and plain paths with this."""

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

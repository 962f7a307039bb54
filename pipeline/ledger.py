"""Turning the rows a stage removed into ledger rows: same provenance as documents, plus why.

Keeping text in the ledger lets auditors compare a filtered page or a duplicate with what was
kept; opt-out removals never keep text, because the rights holder asked for it to go.
"""

from __future__ import annotations

import polars as pl

from pipeline.provenance import sha256_hex

NO_TEXT_STAGES = frozenset({"optout"})


def ledger_rows(removed: pl.DataFrame, *, keep_text: bool) -> pl.DataFrame:
    """Add the ledger's derived columns (text hashes, record type) to rows removed by a stage."""
    if removed.is_empty():
        return removed
    frame = removed
    if "text" in frame.columns:
        frame = frame.with_columns(sha256_hex(frame["text"]).alias("text_sha256"))
        drop_text = pl.col("stage").is_in(list(NO_TEXT_STAGES)) | (not keep_text)
        frame = frame.with_columns(pl.when(drop_text).then(None).otherwise(pl.col("text")).alias("text"))
    return frame

"""Turning the rows a stage removed into ledger rows: same provenance as documents, plus why.

Keeping text in the ledger lets auditors compare a filtered page or a duplicate with what was
kept, and both text hashes let "am I in the data?" find removed copies; opt-out removals never
keep text, because the rights holder asked for it to go.
"""

from __future__ import annotations

import polars as pl

from pipeline.fingerprints import normalise
from pipeline.provenance import PROVENANCE_COLUMNS, sha256_hex
from pipeline.tables import fit, polars_schema

NO_TEXT_STAGES = frozenset({"optout"})
STAGED_LEDGER_SCHEMA = polars_schema("ledger", exclude=PROVENANCE_COLUMNS)


def staged_ledger(removed: pl.DataFrame, *, keep_text: bool) -> pl.DataFrame:
    """Ledger rows (without the provenance added at shard end) for rows a stage removed."""
    if removed.is_empty():
        return pl.DataFrame(schema=STAGED_LEDGER_SCHEMA)
    frame = removed
    if "text" in frame.columns:
        frame = frame.with_columns(
            sha256_hex(frame["text"]).alias("text_sha256"),
            sha256_hex(normalise(frame["text"])).alias("norm_sha256"),
        )
        drop_text = pl.col("stage").is_in(list(NO_TEXT_STAGES)) | (not keep_text)
        frame = frame.with_columns(pl.when(drop_text).then(None).otherwise(pl.col("text")).alias("text"))
    return fit(frame, STAGED_LEDGER_SCHEMA)

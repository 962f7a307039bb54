"""Read a whole input through `read_input`, checking the source contract on every batch."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from pipeline.config import ReadConfig
from pipeline.sources.base import RECORD_SCHEMA, ReadReport, empty_records
from pipeline.sources.inputs import read_input


def read_all(spec: Path | str, batch_size: int = 3, **config) -> tuple[pl.DataFrame, ReadReport, list[pl.DataFrame]]:
    """All records, the report and the batches; every batch has RECORD_SCHEMA and at most `batch_size` rows."""
    batches, report = read_input(str(spec), batch_size=batch_size, read_config=ReadConfig(**config))
    frames = list(batches)
    for frame in frames:
        assert frame.schema == pl.Schema(RECORD_SCHEMA)
        assert 0 < frame.height <= batch_size
    df = pl.concat(frames) if frames else empty_records()
    assert report.eligible == df.height  # every counted eligible record was emitted
    return df, report, frames

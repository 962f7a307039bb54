"""Conforming frames to the release schemas and writing Parquet deterministically.

All Parquet in a release goes through `PartWriter`, so every file has the schema from `schemas/`,
the same compression and row-group size, and is written under a temporary name then renamed.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

import schemas

ROW_GROUP_SIZE = 50_000  # rows; small enough for selective DuckDB scans, large enough to compress well
COMPRESSION = "zstd"
NO_STATISTICS = frozenset({"text", "raw"})  # min/max of whole documents would bloat every file footer


def writer_options(schema: pa.Schema) -> dict:
    """The options every release file is written with (PartWriter and `write_part` agree)."""
    return {
        "compression": COMPRESSION,
        "write_statistics": [f.name for f in schema if f.name not in NO_STATISTICS],
    }


def write_part(frame: pl.DataFrame, table: str, path: Path) -> None:
    """One whole release file of `table` at `path`, written under a temporary name and renamed."""
    arrow = conform(frame, table)
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(arrow, tmp, row_group_size=ROW_GROUP_SIZE, **writer_options(arrow.schema))
    os.replace(tmp, path)


def conform(frame: pl.DataFrame, table: str) -> pa.Table:
    """Select and cast the table's columns in schema order; absent nullable columns become nulls."""
    schema = schemas.arrow_schema(table)
    arrow = frame.to_arrow()
    columns = []
    for field in schema:
        if field.name in arrow.column_names:
            columns.append(arrow[field.name].cast(field.type))
        elif field.nullable:
            columns.append(pa.nulls(len(arrow), field.type))
        else:
            raise ValueError(f"{table}: required column {field.name!r} is missing")
    return pa.Table.from_arrays(columns, schema=schema)


def polars_schema(table: str, exclude: Iterable[str] = ()) -> dict[str, pl.DataType]:
    """The table's columns as Polars types, minus `exclude` (columns added at a later stage)."""
    skip = set(exclude)
    empty = pl.from_arrow(schemas.arrow_schema(table).empty_table())
    return {name: dtype for name, dtype in empty.schema.items() if name not in skip}


def fit(frame: pl.DataFrame, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """Exactly `schema`'s columns, in order and type; absent ones are null. Staged files then always agree."""
    return frame.select(
        (pl.col(name) if name in frame.columns else pl.lit(None)).cast(dtype).alias(name)
        for name, dtype in schema.items()
    )


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class PartWriter:
    """Writes one table as `<dir>/part-NNNNN.parquet` files of at most `rows_per_file` rows."""

    def __init__(self, root: Path, table: str, rows_per_file: int) -> None:
        self.root, self.table, self.rows_per_file = root, table, rows_per_file
        self.schema = schemas.arrow_schema(table)
        self.files: list[dict] = []
        self._writer: pq.ParquetWriter | None = None
        self._rows_in_file = 0
        self._tmp: Path | None = None

    def _open(self) -> None:
        rel = f"{self.table}/part-{len(self.files):05d}.parquet"
        (self.root / self.table).mkdir(parents=True, exist_ok=True)
        self._tmp = self.root / (rel + ".tmp")
        self._writer = pq.ParquetWriter(self._tmp, self.schema, **writer_options(self.schema))
        self.files.append({"path": rel, "table": self.table, "rows": 0})
        self._rows_in_file = 0

    def _close(self) -> None:
        if self._writer is None:
            return
        self._writer.close()
        final = self.root / self.files[-1]["path"]
        os.replace(self._tmp, final)
        self.files[-1].update(rows=self._rows_in_file)
        self._writer = None

    def write(self, frame: pl.DataFrame) -> None:
        table = conform(frame, self.table)
        start = 0
        while start < table.num_rows:
            if self._writer is None or self._rows_in_file >= self.rows_per_file:
                self._close()
                self._open()
            take = min(self.rows_per_file - self._rows_in_file, table.num_rows - start)
            self._writer.write_table(table.slice(start, take), row_group_size=ROW_GROUP_SIZE)
            self._rows_in_file += take
            start += take

    def close(self) -> list[dict]:
        """Finish the last file (an empty table still gets one, so every table exists) and list them."""
        if not self.files:
            self._open()
        self._close()
        return self.files

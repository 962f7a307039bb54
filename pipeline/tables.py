"""Conforming frames to the release schemas and writing Parquet deterministically.

All Parquet in a release goes through `PartWriter`, so every file has the schema from `schemas/`,
the same compression and row-group size, and is written under a temporary name then renamed.
A write that fails (disk full, file size limit, read-only or forbidden directory) becomes a
one-line `ReleaseError` naming the path and the cause (`writing`), never a traceback.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import resource
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

import schemas
from pipeline.release_read import ReleaseError  # re-exported: the executors' and the release's writes raise it

ROW_GROUP_SIZE = 50_000  # rows; small enough for selective DuckDB scans, large enough to compress well
COMPRESSION = "zstd"
NO_STATISTICS = frozenset({"text", "raw"})  # min/max of whole documents would bloat every file footer




# What a failed write raises: OSError from Python and pyarrow, ComputeError from Polars' Parquet writer
# (whose message carries the OS error as "(os error N)", or only "Invalid thrift: transport error").
WRITE_ERRORS = (OSError, pl.exceptions.ComputeError)
_OS_ERROR = re.compile(r"os error (\d+)")
_HINTS = {
    errno.ENOSPC: "free space on that file system and rerun",
    errno.EDQUOT: "free space (disk quota) and rerun",
    errno.EFBIG: "the process's file size limit (ulimit -f) is too small",
    errno.EROFS: "the file system is read-only: choose another --out",
    errno.EACCES: "no permission to write there: choose another --out",
    errno.EPERM: "no permission to write there: choose another --out",
}


def _cause(err: BaseException, where: Path) -> int | None:
    """The errno behind a failed write: the exception's own, the one Polars quotes, or what the system shows."""
    if isinstance(err, OSError) and err.errno:
        return err.errno
    if m := _OS_ERROR.search(str(err)):
        return int(m.group(1))
    # Polars sometimes reports a failed footer write only as a thrift transport error: look around
    probe = where
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    with contextlib.suppress(OSError):
        fs = os.statvfs(probe)
        if fs.f_bavail == 0:
            return errno.ENOSPC
    if resource.getrlimit(resource.RLIMIT_FSIZE)[0] != resource.RLIM_INFINITY:
        return errno.EFBIG
    return None


def write_failure(what: str, where: Path, err: BaseException) -> ReleaseError:
    """A one-line ReleaseError for a failed write: what was being written, where, the cause and what to do."""
    code = _cause(err, where)
    if code is not None:
        reason = f"{os.strerror(code)} [{errno.errorcode.get(code, code)}]"
        if hint := _HINTS.get(code):
            reason += f"; {hint}"
    else:
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0]
    return ReleaseError(f"cannot write {what} in {where}: {reason}")


@contextlib.contextmanager
def writing(what: str, where: Path) -> Iterator[None]:
    """Turn a failed write inside the block into `write_failure` (a ReleaseError)."""
    try:
        yield
    except WRITE_ERRORS as err:
        raise write_failure(what, where, err) from err


def writer_options(schema: pa.Schema) -> dict:
    """The options every release file is written with (PartWriter and `write_part` agree)."""
    return {
        "compression": COMPRESSION,
        "write_statistics": [f.name for f in schema if f.name not in NO_STATISTICS],
    }


def write_part(frame: pl.DataFrame, table: str, path: Path, version: int | None = None) -> None:
    """One whole release file of `table` (schema `version`, default the newest) at `path`, written under a
    temporary name and renamed."""
    arrow = conform(frame, table, version)
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(arrow, tmp, row_group_size=ROW_GROUP_SIZE, **writer_options(arrow.schema))
    os.replace(tmp, path)


def conform(frame: pl.DataFrame, table: str, version: int | None = None) -> pa.Table:
    """Select and cast the table's columns in schema order; absent nullable columns become nulls."""
    schema = schemas.arrow_schema(table, version)
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
    # not Schema.empty_table(): it imports pandas (~0.16 s in every worker process)
    empty = pl.from_arrow(pa.Table.from_batches([], schema=schemas.arrow_schema(table)))
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


T = TypeVar("T")
_END = object()


def read_ahead(items: Iterator[T]) -> Iterator[T]:
    """`items`, each produced in a background thread while the caller works on the one before, so that
    reading and decoding Parquet (pyarrow releases the GIL) overlaps the caller's work."""
    with ThreadPoolExecutor(1, thread_name_prefix="read-ahead") as thread:
        coming = thread.submit(next, items, _END)
        while (item := coming.result()) is not _END:
            coming = thread.submit(next, items, _END)
            yield item


class PartWriter:
    """Writes one table as `<dir>/part-NNNNN.parquet` files of at most `rows_per_file` rows.

    Encoding and compression run in a background thread (pyarrow releases the GIL), one frame at a time,
    so the caller prepares the next frame meanwhile; a write error surfaces at the next `write` or at
    `close`, and the files stay in write order.
    """

    def __init__(self, root: Path, table: str, rows_per_file: int) -> None:
        self.root, self.table, self.rows_per_file = root, table, rows_per_file
        self.schema = schemas.arrow_schema(table)
        self.files: list[dict] = []
        self._writer: pq.ParquetWriter | None = None
        self._rows_in_file = 0
        self._tmp: Path | None = None
        self._thread = ThreadPoolExecutor(1, thread_name_prefix=f"write-{table}")
        self._pending: Future | None = None

    def _wait(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

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
        self._wait()
        self._pending = self._thread.submit(self._write, table)

    def _write(self, table: pa.Table) -> None:
        start = 0
        while start < table.num_rows:
            if self._writer is None or self._rows_in_file >= self.rows_per_file:
                self._close()
                self._open()
            take = min(self.rows_per_file - self._rows_in_file, table.num_rows - start)
            self._writer.write_table(table.slice(start, take), row_group_size=ROW_GROUP_SIZE)
            self._rows_in_file += take
            start += take

    def abort(self) -> None:
        """Drop the file being written after a failed write (a full disk), quietly: no half file is left, and
        no 'Exception ignored in ParquetWriter.__del__' traceback appears when the process exits."""
        with contextlib.suppress(Exception):  # the caller is already handling the error
            self._wait()
        self._thread.shutdown()
        if self._writer is not None:
            with contextlib.suppress(*WRITE_ERRORS):
                self._writer.close()
            self._writer = None
        if self._tmp is not None:
            self._tmp.unlink(missing_ok=True)

    def close(self) -> list[dict]:
        """Finish the last file (an empty table still gets one, so every table exists) and list them."""
        self._wait()
        self._thread.shutdown()
        if not self.files:
            self._open()
        self._close()
        return self.files

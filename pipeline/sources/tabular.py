"""Parquet and JSONL readers for already-extracted documents (FineWeb-style columns).

Each row/line becomes one record of type 'row': `text` is required; `id` -> warc_record_id, `url`
and `date` are kept; any other column is ignored. `warc_record_offset` is the 0-based row number
(for JSONL: the 0-based line number, counting every line, so `sed -n "$((offset+1))p"` finds it);
`warc_record_length` and `payload` are null.

Per-row read errors (the row is still emitted): 'read_bad_json' (a line that is not a JSON
object), 'read_no_text' (text missing, null or not a string), 'read_too_large' (text longer than
max_payload_bytes in UTF-8). Blank JSONL lines are not records and are skipped. If the file cannot
be read to the end, `read_stopped.offset` is the row/line number of the first row not emitted.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from pipeline.config import ReadConfig
from pipeline.sources.base import RECORD_SCHEMA, ReadReport
from pipeline.sources.inputs import CHUNK, HashingReader, finish_stream, normalise_date, rows_to_frame

_FATAL = (KeyboardInterrupt, SystemExit, GeneratorExit, MemoryError)
_OPTIONAL = ("id", "url", "date")


def _error_text(e: BaseException) -> str:
    return " ".join(f"{type(e).__name__}: {e}".split())[:500]


# ---------------------------------------------------------------------------------------------
# Parquet


def _parquet_batch(df: pl.DataFrame, start: int, limit: int) -> pl.DataFrame:
    """One RECORD_SCHEMA batch from a Parquet record batch, column-wise (no per-row Python but dates)."""
    text = pl.col("text")
    if df.schema["text"] != pl.String:
        text = text.cast(pl.String, strict=False)
    size = text.str.len_bytes()
    error = (
        pl.when(text.is_null()).then(pl.lit("read_no_text"))
        .when(size > limit).then(pl.lit("read_too_large"))
        .otherwise(pl.lit(None, pl.String))
    )
    detail = (
        pl.when(text.is_null()).then(pl.lit("text is null or not a string"))
        .when(size > limit).then(pl.format("text of {} bytes exceeds max_payload_bytes={}", size, pl.lit(limit)))
        .otherwise(pl.lit(None, pl.String))
    )

    def optional(name: str) -> pl.Expr:
        return pl.col(name).cast(pl.String, strict=False) if name in df.columns else pl.lit(None, pl.String)

    if "date" in df.columns:
        df = df.with_columns(
            pl.Series("date", [normalise_date(v) for v in df["date"].to_list()], dtype=pl.String)
        )
    return df.select(
        warc_record_offset=pl.int_range(pl.len(), dtype=pl.Int64) + start,
        warc_record_length=pl.lit(None, pl.Int64),
        record_type=pl.lit("row"),
        warc_record_id=optional("id"),
        url=optional("url"),
        date=optional("date"),
        warc_payload_digest=pl.lit(None, pl.String),
        http_status=pl.lit(None, pl.Int32),
        content_type=pl.lit(None, pl.String),
        http_charset=pl.lit(None, pl.String),
        payload=pl.lit(None, pl.Binary),
        text=pl.when(error.is_null()).then(text).otherwise(pl.lit(None, pl.String)),
        read_error=error,
        read_detail=detail,
        http_headers=pl.lit(None, pl.String),
        site_file=pl.lit(None, pl.String),
    ).cast(RECORD_SCHEMA)  # type: ignore[arg-type]


def _hash_file(path: Path) -> tuple[str, int]:
    sha, size = hashlib.sha256(), 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            sha.update(chunk)
            size += len(chunk)
    return sha.hexdigest(), size


def read_parquet(
    path: Path, report: ReadReport, *, batch_size: int, read_config: ReadConfig
) -> Iterator[pl.DataFrame]:
    """Stream a local Parquet file in record batches of `batch_size` rows.

    Parquet needs random access, so sha256/bytes come from a separate pass over the file at the end.
    A file that cannot be opened, or has no `text` column, yields nothing and sets read_stopped at 0.
    """
    row = 0
    try:
        pf = pq.ParquetFile(path)
        names = pf.schema_arrow.names
        if "text" not in names:
            raise ValueError(f"no `text` column (columns: {', '.join(names)})")
        columns = ["text", *(c for c in _OPTIONAL if c in names)]
        for rb in pf.iter_batches(batch_size=batch_size, columns=columns):
            df = pl.from_arrow(rb)
            assert isinstance(df, pl.DataFrame)
            if df.height == 0:
                continue
            batch = _parquet_batch(df, row, read_config.max_payload_bytes)
            row += df.height
            report.records_by_type["row"] += df.height
            yield batch
    except _FATAL:
        raise
    except BaseException as e:
        report.read_stopped = {"offset": row, "error": _error_text(e)}
    report.sha256, report.bytes = _hash_file(path)


# ---------------------------------------------------------------------------------------------
# JSONL


def _lines(src: HashingReader | gzip.GzipFile) -> Iterator[bytes]:
    """Lines without their newline; the last one may lack it."""
    parts: list[bytes] = []
    while True:
        chunk = src.read(CHUNK)
        if not chunk:
            break
        pieces = chunk.split(b"\n")
        if len(pieces) == 1:
            parts.append(chunk)
            continue
        parts.append(pieces[0])
        yield b"".join(parts)
        yield from pieces[1:-1]
        parts = [pieces[-1]] if pieces[-1] else []
    if parts:
        yield b"".join(parts)


def jsonl_row(line: bytes, index: int, limit: int) -> tuple:
    """One RECORD_SCHEMA row tuple for a JSONL line."""
    error = detail = text = rid = url = date = None
    try:
        obj = json.loads(line)
    except ValueError as e:  # JSONDecodeError and UnicodeDecodeError
        obj, error, detail = None, "read_bad_json", str(e)[:200]
    if error is None and not isinstance(obj, dict):
        error, detail = "read_bad_json", f"not a JSON object but {type(obj).__name__}"
    if isinstance(obj, dict):
        value = obj.get("text")
        if not isinstance(value, str):
            if error is None:
                error = "read_no_text"
                detail = "no text field" if "text" not in obj else f"text is {type(value).__name__}"
        elif len(value) > limit // 4 and len(value.encode("utf-8", "surrogatepass")) > limit:
            error, detail = "read_too_large", f"text exceeds max_payload_bytes={limit}"
        else:
            text = value
        rid = None if obj.get("id") is None else str(obj["id"])
        url = None if obj.get("url") is None else str(obj["url"])
        date = normalise_date(obj.get("date"))
    return (index, None, "row", rid, url, date, None, None, None, None, None, text, error, detail, None, None)


def read_jsonl(
    stream: HashingReader, report: ReadReport, *, batch_size: int, read_config: ReadConfig
) -> Iterator[pl.DataFrame]:
    """Stream a JSONL file (plain or gzip, local or URL) line by line, in batches."""
    rows: list[tuple] = []
    next_line = 0  # number of the first line not yet completely read
    stop: tuple[int, str] | None = None
    try:
        src = gzip.GzipFile(fileobj=stream, mode="rb") if stream.peek(2) == b"\x1f\x8b" else stream
        for line in _lines(src):
            index, next_line = next_line, next_line + 1
            if not line.strip():
                continue
            rows.append(jsonl_row(line, index, read_config.max_payload_bytes))
            report.records_by_type["row"] += 1
            if len(rows) >= batch_size:
                yield rows_to_frame(rows)
                rows = []
    except GeneratorExit:
        stream.close()
        raise
    except _FATAL:
        raise
    except BaseException as e:  # corrupt/truncated gzip, dropped connection, ...
        stop = (next_line, _error_text(e))
    finish_stream(stream, report, stop)
    if rows:
        yield rows_to_frame(rows)

"""Parquet and JSONL readers for already-extracted documents (FineWeb-style columns).

Each row/line becomes one record of type 'row': `text` is required; `id` -> warc_record_id, `url`
and `date` are kept; FineWeb's `id`, `date`, `dump`, `file_path` and `token_count` are also kept as given, in the
`upstream_*` columns (the upstream dataset's own provenance); any other column is ignored.
`warc_record_offset` is the 0-based row number
(for JSONL: the 0-based line number, counting every line, so `sed -n "$((offset+1))p"` finds it);
`warc_record_length` and `payload` are null.

Per-row read errors (the row is still emitted): 'read_bad_json' (a line that is not a JSON
object), 'read_no_text' (text missing, null or not a string), 'read_too_large' (text longer than
max_payload_bytes in UTF-8). Blank JSONL lines are not records and are skipped. If the file cannot
be read to the end, `read_stopped.offset` is the row/line number of the first row not emitted.

Memory follows bytes, not rows: a JSONL line longer than LINE_FACTOR x max_payload_bytes (the most a JSON
string of max_payload_bytes can take, every byte escaped) is counted, not held, and becomes a
'read_too_large' row; a Parquet row group is read in batches of about max_batch_bytes of text (from its
metadata), and a one-row group whose text column alone exceeds max_payload_bytes is not decompressed at all.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline.config import ReadConfig
from pipeline.sources.base import RECORD_SCHEMA, ReadReport, normalise_date, rows_to_frame
from pipeline.sources.streams import CHUNK, HashingReader, finish_stream

_FATAL = (KeyboardInterrupt, SystemExit, GeneratorExit, MemoryError)
_OPTIONAL = ("id", "url", "date", "dump", "file_path", "token_count")
_UPSTREAM = ("id", "date", "dump", "file_path", "token_count")  # kept as given in upstream_<name>
LINE_FACTOR = 6  # a JSON string escapes a byte as at most 6 (\u0001): longer lines cannot hold an admissible text
_LINE_SLACK = 64 * 1024  # room for the other fields of a line
_CHUNK_SLACK = 64 * 1024  # a Parquet column chunk's page headers, lengths and levels beside the text itself


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
    if "_text_bytes" in df.columns:  # a value too large, dropped before it reached Polars (`_parquet_frames`)
        size = pl.coalesce(pl.col("_text_bytes"), size)
        text = pl.when(pl.col("_text_bytes").is_null()).then(text)
    unread = pl.col("_unread_bytes") if "_unread_bytes" in df.columns else pl.lit(None, pl.Int64)  # not decompressed
    error = (
        pl.when(unread.is_not_null()).then(pl.lit("read_too_large"))
        .when(size > limit).then(pl.lit("read_too_large"))
        .when(text.is_null()).then(pl.lit("read_no_text"))
        .otherwise(pl.lit(None, pl.String))
    )
    detail = (
        pl.when(unread.is_not_null()).then(
            pl.format("text column of {} bytes (uncompressed, in a one-row group) exceeds max_payload_bytes={}: "
                      "not read", unread, pl.lit(limit))
        )
        .when(size > limit).then(pl.format("text of {} bytes exceeds max_payload_bytes={}", size, pl.lit(limit)))
        .when(text.is_null()).then(pl.lit("text is null or not a string"))
        .otherwise(pl.lit(None, pl.String))
    )

    def optional(name: str) -> pl.Expr:
        return pl.col(name).cast(pl.String, strict=False) if name in df.columns else pl.lit(None, pl.String)

    upstream = {f"upstream_{name}": optional(name) for name in _UPSTREAM}
    if "date" in df.columns:  # as given: `date` itself is normalised below
        df = df.with_columns(pl.col("date").cast(pl.String, strict=False).alias("_upstream_date"))
        upstream["upstream_date"] = pl.col("_upstream_date")
    if "token_count" in df.columns:  # an integer upstream; anything else is not a count
        upstream["upstream_token_count"] = pl.col("token_count").cast(pl.Int64, strict=False)
    else:
        upstream["upstream_token_count"] = pl.lit(None, pl.Int64)
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
        **upstream,
    ).cast(RECORD_SCHEMA)  # type: ignore[arg-type]


def _parquet_frames(
    pf: pq.ParquetFile, columns: list[str], batch_size: int, cfg: ReadConfig
) -> Iterator[pl.DataFrame]:
    """Row group by row group, in batches of about `cfg.max_batch_bytes` of text (sized from the group's metadata,
    before anything is decompressed). A one-row group whose text column chunk alone is larger than
    max_payload_bytes (plus its own overhead) is not decompressed: its row comes with a marker that
    `_parquet_batch` turns into read_too_large."""
    meta = pf.metadata
    for group in range(meta.num_row_groups):
        rg = meta.row_group(group)
        chunks = [rg.column(i) for i in range(rg.num_columns)]
        text_bytes = sum(c.total_uncompressed_size for c in chunks if c.path_in_schema == "text")
        if rg.num_rows == 1 and text_bytes > cfg.max_payload_bytes + _CHUNK_SLACK:
            others = [c for c in columns if c != "text"]
            df = pl.from_arrow(pf.read_row_group(group, columns=others)) if others else pl.DataFrame({"_": [0]})
            assert isinstance(df, pl.DataFrame)
            yield df.select(others).with_columns(text=pl.lit(None, pl.String), _unread_bytes=pl.lit(text_bytes))
            continue
        per_row = max(1, text_bytes // max(rg.num_rows, 1))
        rows = max(1, min(batch_size, cfg.max_batch_bytes // per_row))
        for rb in pf.iter_batches(batch_size=rows, row_groups=[group], columns=columns):
            yield _without_oversized(rb, cfg.max_payload_bytes)


def _without_oversized(rb: pa.RecordBatch, limit: int) -> pl.DataFrame:
    """The batch as Polars, a text over `limit` bytes replaced by null (its size kept in `_text_bytes`) while
    still in Arrow: the large value is never copied into Polars."""
    text = rb.column("text")
    if pa.types.is_string(text.type) or pa.types.is_large_string(text.type) or pa.types.is_binary(text.type):
        sizes = pc.binary_length(text)
        over = pc.fill_null(pc.greater(sizes, limit), False)
        if pc.any(over).as_py():
            kept = pc.if_else(over, pa.scalar(None, text.type), text)
            rb = rb.set_column(rb.schema.get_field_index("text"), "text", kept)
            df = pl.from_arrow(rb)
            assert isinstance(df, pl.DataFrame)
            return df.with_columns(_text_bytes=pl.Series(pc.if_else(over, sizes, None)).cast(pl.Int64))
    df = pl.from_arrow(rb)
    assert isinstance(df, pl.DataFrame)
    return df


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
        for df in _parquet_frames(pf, columns, batch_size, read_config):
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


def _lines(src: HashingReader | gzip.GzipFile, cap: int) -> Iterator[bytes | int]:
    """Lines without their newline (the last one may lack it); a line longer than `cap` bytes is read through but
    not kept: its length (an int) comes instead of its bytes, so one huge line never sits in memory."""
    parts: list[bytes] = []
    size = 0  # bytes of the line being read; parts are dropped once it passes the cap

    def add(piece: bytes) -> None:
        nonlocal parts, size
        size += len(piece)
        if size > cap:
            parts = []
        elif piece:
            parts.append(piece)

    def line() -> bytes | int:
        nonlocal parts, size
        done: bytes | int = size if size > cap else b"".join(parts)
        parts, size = [], 0
        return done

    while True:
        chunk = src.read(CHUNK)
        if not chunk:
            break
        pieces = chunk.split(b"\n")
        add(pieces[0])
        if len(pieces) == 1:
            continue
        yield line()
        for middle in pieces[1:-1]:
            yield middle if len(middle) <= cap else len(middle)
        add(pieces[-1])
    if size:
        yield line()


def line_cap(limit: int) -> int:
    """The longest JSONL line that can hold a text of `limit` bytes (every byte escaped, plus other fields)."""
    return LINE_FACTOR * limit + _LINE_SLACK


def jsonl_row(line: bytes | int, index: int, limit: int) -> tuple:
    """One RECORD_SCHEMA row tuple for a JSONL line (an int: the length of a line too long to hold)."""
    if isinstance(line, int):
        detail = (f"JSON line of {line:,} bytes, longer than any line holding a text of max_payload_bytes={limit} "
                  f"can be ({line_cap(limit):,} bytes): not parsed")  # fmt: skip
        return (index, None, "row", None, None, None, None, None, None, None, None, None, "read_too_large", detail,
                None, None, None, None, None, None, None)  # fmt: skip
    error = detail = text = rid = url = date = None
    upstream: tuple = (None,) * 5
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
        upstream = (*(_as_text(obj.get(name)) for name in _UPSTREAM[:-1]), _as_count(obj.get("token_count")))
    return (index, None, "row", rid, url, date, None, None, None, None, None, text, error, detail, None, None,
            *upstream)  # fmt: skip


def _as_text(value: object) -> str | None:
    return None if value is None else value if isinstance(value, str) else json.dumps(value)


def _as_count(value: object) -> int | None:
    """An upstream token count when it is an integer (not a bool) within Int64; anything else is no count."""
    ok = isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63
    return value if ok else None


def read_jsonl(
    stream: HashingReader, report: ReadReport, *, batch_size: int, read_config: ReadConfig
) -> Iterator[pl.DataFrame]:
    """Stream a JSONL file (plain or gzip, local or URL) line by line, in batches."""
    rows: list[tuple] = []
    held = 0  # text bytes of `rows`: a batch is also cut at max_batch_bytes
    next_line = 0  # number of the first line not yet completely read
    stop: tuple[int, str] | None = None
    limit = read_config.max_payload_bytes
    try:
        src = gzip.GzipFile(fileobj=stream, mode="rb") if stream.peek(2) == b"\x1f\x8b" else stream
        for line in _lines(src, line_cap(limit)):
            index, next_line = next_line, next_line + 1
            if not isinstance(line, int) and not line.strip():
                continue
            row = jsonl_row(line, index, limit)
            rows.append(row)
            held += len(row[11]) if row[11] is not None else 0  # TEXT
            report.records_by_type["row"] += 1
            if len(rows) >= batch_size or held >= read_config.max_batch_bytes:
                yield rows_to_frame(rows)
                rows, held = [], 0
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

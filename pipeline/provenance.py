"""Provenance columns every row carries, and reopening the exact source bytes of a row.

A document id is `<first 16 hex of the source file's sha256>-<record byte offset>`: stable across
releases and runs, independent of where the file lives, and it says where the record is.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import polars as pl

from pipeline.url_identity import domain_expr, url_key_expr
from pipeline.version import __version__


def sha256_hex(texts: pl.Series) -> pl.Series:
    return pl.Series([None if t is None else hashlib.sha256(t.encode()).hexdigest() for t in texts], dtype=pl.String)


PROVENANCE_COLUMNS = (
    "id",
    "order",
    "file_path",
    "source_sha256",
    "source_format",
    "dump",
    "url_key",
    "domain",
    "pipeline_version",
    "config_hash",
)


def add_provenance(
    frame: pl.DataFrame, *, index: int, path: str, sha256: str, fmt: str, dump: str, config_hash: str
) -> pl.DataFrame:
    """Columns that identify a row and where it came from; `order` sorts rows in input order."""
    return frame.with_columns(
        pl.format("{}-{}", pl.lit(sha256[:16]), pl.col("warc_record_offset")).alias("id"),
        ((pl.lit(index, pl.Int64) * (1 << 40)) + pl.col("warc_record_offset")).alias("order"),
        pl.lit(path).alias("file_path"),
        pl.lit(sha256).alias("source_sha256"),
        pl.lit(fmt).alias("source_format"),
        pl.lit(dump).alias("dump"),
        url_key_expr(pl.col("url")).alias("url_key"),
        domain_expr(pl.col("url")).alias("domain"),
        pl.lit(__version__).alias("pipeline_version"),
        pl.lit(config_hash).alias("config_hash"),
    )


RECHECK_LIMIT = 10 * 1024 * 1024  # the default max_payload_bytes (config.read): what extraction would read


@dataclass(frozen=True)
class ReopenedRecord:
    """A record re-read from its stored bytes by the one WARC record parser (`pipeline.warc_record`)."""

    record_type: str | None
    record_id: str | None
    url: str | None
    stored_digest: str | None  # WARC-Payload-Digest of the record as it is in the file now
    computed_digest: str | None  # recomputed over its body now ('<alg>:<BASE32>'); None when not recomputed
    digest_ok: bool | None  # None: no digest (or an algorithm hashlib does not know), or too large to re-check
    payload: bytes
    too_large: str | None = None  # "too large to re-check: ...": the body was not decoded
    note: str | None = None  # damage seen in the stored bytes

    def differences(self, row: dict) -> list[str]:
        """What differs between this record and the release row that names it (empty: nothing)."""
        found = []
        for column, label, value in (
            ("warc_record_id", "record id", self.record_id),
            ("url", "URL", self.url),
            ("warc_payload_digest", "payload digest header", self.stored_digest),
        ):
            if column in row and (row[column] or None) != (value or None):
                found.append(f"{label}: the release says {row[column]!r}, the file says {value!r}")
        if self.digest_ok is False:
            found.append(f"payload: digest {self.stored_digest} does not match the bytes ({self.computed_digest})")
        return found


def _read_range(file_path: str, offset: int, length: int) -> bytes:
    """The stored byte range of a local file or URL (HTTP Range; raw bytes, never content-decoded)."""
    if not file_path.startswith(("http://", "https://")):
        with open(file_path, "rb") as f:
            f.seek(offset)
            return f.read(length)
    import httpx

    headers = {"Range": f"bytes={offset}-{offset + length - 1}", "Accept-Encoding": "identity"}
    with (
        httpx.Client(timeout=30, follow_redirects=True) as client,
        client.stream("GET", file_path, headers=headers) as r,
    ):
        r.raise_for_status()
        skip = 0 if r.status_code == 206 else offset  # a server that ignores Range sends the whole file
        out = bytearray()
        for chunk in r.iter_raw():
            if skip:
                dropped = min(skip, len(chunk))
                chunk, skip = chunk[dropped:], skip - dropped
            out += chunk
            if len(out) >= length:
                break
        return bytes(out[:length])


def reopen_record(file_path: str, offset: int, length: int, *, limit: int = RECHECK_LIMIT) -> ReopenedRecord:
    """Read exactly the stored byte range, parse it as one WARC/ARC record and re-check its payload digest.

    The one WARC record parser reads it as the pipeline's reader did (digests in any encoding and algorithm,
    LF-only headers). Nothing is decoded past `limit` (the release's max_payload_bytes): a record over it is
    "too large to re-check". ValueError (RecordError) when the bytes are no record.
    """
    from pipeline.warc_record import MAX_HEAD_BYTES, RecordError, read_stored

    if length > limit + 4 * MAX_HEAD_BYTES:  # more bytes than a record under the limit can have
        why = f"too large to re-check: {length:,} stored bytes (limit {limit:,})"
        return ReopenedRecord(None, None, None, None, None, None, b"", too_large=why)
    raw = _read_range(file_path, offset, length)
    if len(raw) < length:
        raise RecordError(f"the file ends {length - len(raw):,} bytes before the record does")
    stored = read_stored(raw, limit)
    f = stored.fields
    return ReopenedRecord(
        record_type=f.rtype,
        record_id=f.record_id,
        url=f.url,
        stored_digest=f.digest_header,
        computed_digest=None if stored.too_large else f.computed_digest,
        digest_ok=None if stored.too_large else f.digest_ok,
        payload=(f.payload if f.payload is not None else (f.text or "").encode()) if not stored.too_large else b"",
        too_large=stored.too_large,
        note=stored.note,
    )

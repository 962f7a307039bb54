"""Provenance columns every row carries, and reopening the exact source bytes of a row.

A document id is `<first 16 hex of the source file's sha256>-<record byte offset>`: stable across
releases and runs, independent of where the file lives, and it says where the record is.
"""

from __future__ import annotations

import base64
import hashlib
import io
import zlib
from dataclasses import dataclass

import polars as pl

from pipeline import __version__
from pipeline.url_identity import domain_expr, url_key_expr


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


@dataclass(frozen=True)
class ReopenedRecord:
    record_type: str
    record_id: str | None
    url: str | None
    stored_digest: str | None
    computed_digest: str | None
    payload: bytes

    @property
    def digest_ok(self) -> bool | None:
        if not self.stored_digest or not self.computed_digest:
            return None
        return self.stored_digest == self.computed_digest


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


def payload_digest(payload: bytes, algorithm: str) -> str:
    """Digest in the WARC convention '<alg>:<base32>' (sha1 base32 as written by crawlers)."""
    raw = hashlib.new(algorithm, payload).digest()
    return f"{algorithm}:{base64.b32encode(raw).decode()}"


def reopen_record(file_path: str, offset: int, length: int) -> ReopenedRecord:
    """Read exactly the stored byte range, parse it as one WARC/ARC record and re-check its payload digest.

    The WARC payload digest covers the HTTP body as transmitted (before de-chunking and content
    decoding), so the range is parsed twice: once for those raw bytes, once for the decoded payload.
    """
    from warcio.archiveiterator import ArchiveIterator

    raw = _read_range(file_path, offset, length)
    if raw[:2] == b"\x1f\x8b":
        raw = zlib.decompressobj(zlib.MAX_WBITS | 16).decompress(raw)

    def first_record():
        return next(iter(ArchiveIterator(io.BytesIO(raw), arc2warc=True)))

    record = first_record()
    transmitted = record.raw_stream.read()
    payload = first_record().content_stream().read()
    stored = record.rec_headers.get_header("WARC-Payload-Digest")
    computed = None
    if stored and ":" in stored:
        algorithm = stored.split(":", 1)[0].lower()
        if algorithm in hashlib.algorithms_available:
            computed = payload_digest(transmitted, algorithm)
    return ReopenedRecord(
        record_type=record.rec_type,
        record_id=record.rec_headers.get_header("WARC-Record-ID"),
        url=record.rec_headers.get_header("WARC-Target-URI"),
        stored_digest=stored,
        computed_digest=computed,
        payload=payload,
    )

"""The contract between sources and steps: what a batch of input records looks like.

A source turns one input (a WARC/WET/ARC file, a Parquet/JSONL file of extracted documents, local
or over http) into a stream of Polars DataFrames with exactly RECORD_SCHEMA, one row per
*eligible* record (one that could become a document: WARC response/resource/conversion records,
ARC responses, tabular rows). Every record, eligible or not, is counted by type in the
`ReadReport`. A source never drops an eligible record: a record it cannot read fully is still
emitted, with `read_error` set, so that it reaches the ledger. Bytes are accounted too: a WARC/ARC
reader emits every span of the input that is not a record it could read as a row of its own
(record_type 'unreadable', read_error 'read_unparsable'), so the spans of the records read and the
unreadable spans cover the file (`ReadReport.bytes_by_type` sums to `bytes`).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

import polars as pl

RECORD_SCHEMA: dict[str, pl.DataType] = {
    "warc_record_offset": pl.Int64(),  # byte offset of the record (gzip member start) or row number
    "warc_record_length": pl.Int64(),  # bytes up to the next record (whole gzip member); null for rows
    "record_type": pl.String(),  # response | resource | conversion | row | unreadable (a span, not a record)
    "warc_record_id": pl.String(),  # WARC-Record-ID, or the tabular input's own `id`
    "url": pl.String(),  # WARC-Target-URI
    "date": pl.String(),  # WARC-Date, ISO 8601 UTC 'YYYY-MM-DDTHH:MM:SSZ'
    "warc_payload_digest": pl.String(),  # WARC-Payload-Digest as written ('sha1:BASE32')
    "http_status": pl.Int32(),  # null for resource/conversion records and rows
    "content_type": pl.String(),  # MIME type, lower-case, no parameters ('text/html')
    "http_charset": pl.String(),  # charset parameter of the HTTP Content-Type, if any
    "payload": pl.Binary(),  # HTTP body (de-chunked, content-decoded); null when `text` is given
    "text": pl.String(),  # already-extracted text (WET conversion records, Parquet/JSONL)
    "read_error": pl.String(),  # ledger reason when the record could not be read, e.g. 'read_truncated'
    "read_detail": pl.String(),  # human-readable detail for read_error
    "http_headers": pl.String(),  # HTTP response headers as 'Name: value' lines ('\n'), for opt-out signals
    "site_file": pl.String(),  # the site policy file (its URL) this exchange was fetched for: SITE_FILE_HEADER
}
# What a Parquet/JSONL input says of its own rows (FineWeb's columns), kept as documents' `upstream_*` columns; null
# for web archives. Last in RECORD_SCHEMA, so readers that build rows without them (`rows_to_frame`) leave them null.
UPSTREAM_SCHEMA: dict[str, pl.DataType] = {
    "upstream_id": pl.String(),
    "upstream_date": pl.String(),
    "upstream_dump": pl.String(),
    "upstream_file_path": pl.String(),
    "upstream_token_count": pl.Int64(),
}
_READ_SCHEMA = dict(RECORD_SCHEMA)
RECORD_SCHEMA |= UPSTREAM_SCHEMA

# The WARC header Apertura's crawler puts on every request/response of a robots.txt, tdmrep.json or ai.txt fetch,
# redirect hops included, naming the policy file's URL: such a record is evidence, never a document, whatever URL
# the file redirected to. (Not a `WARC-` field: those names belong to the WARC standard.)
SITE_FILE_HEADER = "Apertura-Site-File"

UNREADABLE = "unreadable"  # record_type of a span of an input that is no readable record (reason read_unparsable)
ELIGIBLE_TYPES = frozenset({"response", "resource", "conversion", "row", UNREADABLE})
FORMATS = ("warc", "wet", "arc", "parquet", "jsonl")


@dataclass
class ReadReport:
    """What reading one input saw; becomes that input's entry in the manifest."""

    path: str
    format: str
    records_by_type: Counter[str] = field(default_factory=Counter)
    sha256: str = ""
    bytes: int = 0
    read_stopped: dict | None = None  # {"offset": int, "error": str} when reading ended early
    # bytes of the file in the spans of each record type (and of unreadable spans); None for tabular inputs
    bytes_by_type: Counter[str] | None = None
    damaged: int = 0  # rows for damage (unreadable spans, records cut short or unparsable): not part of the release

    @property
    def eligible(self) -> int:
        return sum(n for t, n in self.records_by_type.items() if t in ELIGIBLE_TYPES)


def empty_records() -> pl.DataFrame:
    return pl.DataFrame(schema=RECORD_SCHEMA)


def rows_to_frame(rows: list[tuple]) -> pl.DataFrame:
    """One DataFrame per batch from row tuples in RECORD_SCHEMA column order; rows that stop before the upstream
    columns (web archive readers) get them as nulls."""
    if rows and len(rows[0]) == len(_READ_SCHEMA):
        frame = pl.DataFrame(rows, schema=_READ_SCHEMA, orient="row")
        return frame.with_columns(pl.lit(None, dtype).alias(name) for name, dtype in UPSTREAM_SCHEMA.items())
    return pl.DataFrame(rows, schema=RECORD_SCHEMA, orient="row")


_CANONICAL_DATE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def normalise_date(value: object) -> str | None:
    """WARC-Date / ARC 14-digit / ISO 8601 / datetime -> 'YYYY-MM-DDTHH:MM:SSZ' in UTC; None if unparsable."""
    if value is None:
        return None
    if isinstance(value, datetime):
        dt = value
    else:
        s = str(value).strip()
        if _CANONICAL_DATE.fullmatch(s):
            return s
        if s.isdigit() and len(s) >= 14:  # ARC: YYYYMMDDhhmmss (bad.arc has 18 digits)
            s = f"{s[:4]}-{s[4:6]}-{s[6:8]}T{s[8:10]}:{s[10:12]}:{s[12:14]}Z"
        try:
            dt = datetime.fromisoformat(s)
        except ValueError:
            return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    try:
        return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except OverflowError:  # '0001-01-01T00:00:00+01:00' is before year 1 in UTC
        return None

"""ARC (v1) reader, read with warcio: one row per ARC response record, every byte accounted for, in the rows
and spans of `record_rows` (those of the WARC reader); its rules are in `read_arc`."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from typing import Any

import polars as pl
from warcio.archiveiterator import ArchiveIterator as WarcioArchiveIterator

from pipeline.config import ReadConfig
from pipeline.sources.base import ReadReport, normalise_date
from pipeline.sources.record_rows import (
    CHARSET,
    CTYPE,
    DATE,
    DETAIL,
    ERROR,
    FATAL,
    HEADERS,
    NON_CHUNKED,
    OFFSET,
    PAYLOAD,
    ROW_WIDTH,
    RTYPE,
    STATUS,
    URL,
    Collector,
    Stop,
    allowed,
    drive,
)
from pipeline.sources.streams import CHUNK, HashingReader
from pipeline.warc_record import clean_uri, decode_body, split_content_type


def _process_arc_response(rec: Any, offset: int, cfg: ReadConfig) -> tuple[list, str | None]:
    """Row for an ARC response record, and why it is partial (None if complete)."""
    arc = rec.rec_headers
    row: list = [None] * ROW_WIDTH
    row[OFFSET], row[RTYPE] = offset, "response"
    row[URL] = clean_uri(arc.get_header("uri"))
    row[DATE] = normalise_date(arc.get_header("archive-date"))
    http = rec.http_headers
    status = te = ce = None
    ctype, charset = split_content_type(arc.get_header("content-type"))
    if http is not None and http.statusline:
        code = http.get_statuscode()
        status = int(code) if code and code.isdigit() else None
        ctype, charset = split_content_type(http.get_header("Content-Type"))
        te, ce = http.get_header("Transfer-Encoding"), http.get_header("Content-Encoding")
        row[HEADERS] = "\n".join(f"{k}: {v}" for k, v in http.headers)
    row[STATUS], row[CTYPE], row[CHARSET] = status, ctype, charset
    stream = rec.raw_stream
    expected = max(0, getattr(stream, "limit", 0))
    keep = True
    if expected > cfg.max_payload_bytes:
        keep = False
        row[ERROR] = "read_too_large"
        row[DETAIL] = f"payload of {expected} bytes exceeds max_payload_bytes={cfg.max_payload_bytes}"
    elif not allowed(status, ctype, cfg, row[URL]):
        keep = False
        row[ERROR], row[DETAIL] = "read_content_type", f"content_type={ctype or 'missing'}"
    parts, got = [], 0
    while True:
        b = stream.read(CHUNK)
        if not b:
            break
        got += len(b)
        if keep:
            parts.append(b)
    if got < expected:
        return row, f"record block ends {expected - got} bytes short of its declared length"
    if keep:
        row[PAYLOAD], row[ERROR], row[DETAIL] = decode_body(b"".join(parts), te, ce, cfg.max_payload_bytes)
    return row, None


def read_arc(
    stream: HashingReader, report: ReadReport, *, batch_size: int, read_config: ReadConfig
) -> Iterator[pl.DataFrame]:
    """Batches of the response records of an ARC (v1) file, plain or gzip, read with warcio.

    Offsets are warcio's (the gzip member, or the record's first byte); a record's length runs to the next
    record (or the end of the input), so the spans cover the file. Records are counted by warcio's type
    ('arc_header', 'response'); ARC records carry no record id or digest. A record shorter than its
    declared length (or whose bytes cannot be read) is emitted as 'read_truncated' and stops reading there;
    an error parsing the next record stops reading at that record (warcio's non-chunked gzip error is
    reported as NON_CHUNKED). What is not read after a stop is one unreadable span.
    """
    return drive(_parse_arc, stream, report, batch_size, read_config)


def _parse_arc(stream: HashingReader, out: Collector, cfg: ReadConfig) -> Generator[pl.DataFrame, None, Stop]:
    it: Any = None
    try:
        it = WarcioArchiveIterator(stream)
        records = iter(it)
    except FATAL:
        raise
    except BaseException as e:
        return (0, f"{type(e).__name__}: {e}")
    pending: tuple[str, int, list | None, int] | None = None  # (type, offset, row, warcio's length)

    def settle(end: int | None) -> None:
        """Commit the pending record up to `end` (the next record's offset; None: the end of the input). When
        `end` does not follow it (warcio's offsets in a non-chunked gzip ARC), its own length, else to the end."""
        if pending is None:
            return
        rtype, offset, row, own = pending
        length = None if end is None else end - offset if end > offset else own if own > 0 else None
        out.record(rtype, offset, length, row)

    while True:
        try:
            rec = next(records)
        except StopIteration:
            if stream.tell() > it.offset:  # warcio ends quietly on a cut-off record header
                settle(it.offset)
                return (it.offset, f"unreadable data after offset {it.offset} (truncated record header?)")
            settle(None)
            return None
        except FATAL:
            raise
        except BaseException as e:
            msg = f"{type(e).__name__}: {e}"
            # warcio's offset can go negative (non-chunked gzip ARC): then the end of the last good record
            good_end = pending[1] + max(pending[3], 0) if pending else 0
            at = it.offset if pending is not None and pending[1] < it.offset <= stream.tell() else good_end
            at = at if pending is not None else max(0, min(it.offset, stream.tell()))
            settle(at)
            return (out.accounted, NON_CHUNKED if "non-chunked gzip" in msg else " ".join(msg.split())[:300])
        offset = it.offset
        if pending is not None and offset <= pending[1]:  # offsets that do not advance: the records overlap
            settle(pending[1] + max(pending[3], 1))
            return (out.accounted, NON_CHUNKED)
        settle(offset)
        pending = None
        rtype, row, partial = rec.rec_type or "unknown", None, None
        try:
            if rtype == "response":
                row, partial = _process_arc_response(rec, offset, cfg)
            else:
                while rec.raw_stream.read(CHUNK):
                    pass
                if getattr(rec.raw_stream, "limit", 0) > 0:
                    partial = "record block ends short of its declared length"
            length = it.get_record_length() if partial is None else 0
        except FATAL:
            raise
        except BaseException as e:
            partial = f"{type(e).__name__}: {e}"
        if partial is not None:
            if row is not None:  # else the rest of the input, this record included, is one unreadable span
                row[PAYLOAD] = None
                row[ERROR], row[DETAIL] = "read_truncated", partial
                out.record(rtype, offset, None, row)
            return (offset, f"record at offset {offset} could not be read completely: {partial}")
        pending = (rtype, offset, row, length or 0)
        while out.full():
            yield out.take()

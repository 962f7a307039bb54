"""Rows of a record file (WARC, WET, ARC) and the accounting of its bytes, shared by the WARC and ARC readers.

A reader parses records and hands each one, or each span that is no readable record, to a `Collector`, which
checks that the spans follow each other (so together they cover the input), counts records and bytes by type
in the `ReadReport`, and cuts the rows into batches by count and by bytes held; `drive` runs a reader to its
end and flushes the last batch.
"""

from __future__ import annotations

from collections.abc import Iterator

import polars as pl

from pipeline.config import ReadConfig
from pipeline.optout.families import site_file_family
from pipeline.sources.base import UNREADABLE, ReadReport, normalise_date, rows_to_frame
from pipeline.sources.streams import HashingReader, finish_stream
from pipeline.warc_record import Fields

NON_CHUNKED = "non-chunked gzip: records are not individually addressable, recompress with `warcio recompress`"
FATAL = (KeyboardInterrupt, SystemExit, GeneratorExit, MemoryError)

Stop = tuple[int, str] | None  # (offset, error) where reading stopped; None when it reached the end

# Row layout: positions of RECORD_SCHEMA's columns in a row list.
(OFFSET, LENGTH, RTYPE, RECORD_ID, URL, DATE, DIGEST, STATUS, CTYPE, CHARSET,
 PAYLOAD, TEXT, ERROR, DETAIL, HEADERS, SITE_FILE) = range(16)  # fmt: skip
ROW_WIDTH = 16


def allowed(
    status: int | None, ctype: str | None, cfg: ReadConfig, url: str | None, site_file: str | None = None
) -> bool:
    """Whether to hold the body in memory; a non-2xx status is judged (and explained) by the admit step,
    and a site policy file (robots.txt, tdmrep.json, ai.txt, or a record the crawler marked as fetched for one)
    is evidence for the opt-out step whatever its type."""
    if status is not None and not 200 <= status <= 299:
        return True
    policy_file = site_file_family(url) is not None or site_file is not None
    return (ctype is not None and ctype in cfg.content_types) or policy_file


def fields_row(f: Fields, offset: int, length: int | None = None) -> list:
    """A RECORD_SCHEMA row (as a list, in column order) from what the one record parser read."""
    return [offset, length, f.rtype, f.record_id, f.url, normalise_date(f.date), f.digest_header, f.status,
            f.content_type, f.charset, f.payload, f.text, f.error, f.detail, f.http_headers, f.site_file]  # fmt: skip


def row_bytes(row: tuple | list) -> int:
    """What a record row holds in memory, for cutting batches by bytes: its payload or its text."""
    body = row[PAYLOAD] if row[PAYLOAD] is not None else row[TEXT]
    return len(body) if body is not None else 0


class Collector:
    """Rows of the current batch, counted as they are made: `report.eligible == rows emitted`, and every
    record's span (or unreadable span) follows the previous one, so together they cover the input. A batch
    ends at `batch_size` rows or once its rows hold `max_bytes` of payload/text, whichever comes first."""

    def __init__(self, report: ReadReport, batch_size: int, max_bytes: int, origin: int = 0) -> None:
        self.report = report
        report.bytes_by_type = report.bytes_by_type or type(report.records_by_type)()
        self.batch_size = batch_size
        self.max_bytes = max_bytes
        self.rows: list[tuple] = []
        self.bytes = 0  # payload/text bytes of `rows`
        self.held: list[list] = []  # rows whose span runs to the end of the input (known once drained)
        self.origin = origin  # file offset of the input's first byte (a window of a file starts later)
        self.accounted = origin  # everything before this offset is in a record's or an unreadable span

    def record(self, rtype: str, offset: int, length: int | None, row: list | None = None) -> None:
        """Count one record (its row, when eligible) spanning [offset, offset + length); None: to the end."""
        if offset < self.accounted or (length is not None and length < 0):
            raise RuntimeError(f"reader bug: span {offset}+{length} overlaps bytes accounted up to {self.accounted}")
        if offset > self.accounted:  # never happens by design; if it did, the gap would still be accounted for
            self.unreadable(self.accounted, offset - self.accounted, "bytes between records that no reader read")
        self.report.records_by_type[rtype] += 1
        if length is not None:
            self.report.bytes_by_type[rtype] += length
            self.accounted = offset + length
        if row is not None:
            row[LENGTH] = length
            if row[ERROR] in _DAMAGE:
                self.report.damaged += 1
            if length is None:
                self.held.append(row)
            else:
                self.add(tuple(row))
        elif length is None:
            self.held.append([rtype, offset])

    def unreadable(self, offset: int, length: int | None, why: str) -> None:
        """A span that is no readable record: one row of its own (reason read_unparsable)."""
        row: list = [None] * ROW_WIDTH
        row[OFFSET], row[RTYPE], row[ERROR] = offset, UNREADABLE, "read_unparsable"
        size = "to the end of the input" if length is None else f"{length} bytes"
        row[DETAIL] = " ".join(f"{size} at offset {offset} are no readable record: {why}".split())[:500]
        self.record(UNREADABLE, offset, length, row)

    def add(self, row: tuple) -> None:
        self.rows.append(row)
        self.bytes += row_bytes(row)

    def full(self) -> bool:
        return len(self.rows) >= self.batch_size or self.bytes >= self.max_bytes

    def take(self) -> pl.DataFrame:
        """The next batch: at most batch_size rows, and no more rows than reach max_bytes (at least one)."""
        cut, held = 0, 0
        while cut < min(len(self.rows), self.batch_size) and (cut == 0 or held < self.max_bytes):
            held += row_bytes(self.rows[cut])
            cut += 1
        batch, self.rows = self.rows[:cut], self.rows[cut:]
        self.bytes -= held
        return rows_to_frame(batch)

    def finish(self, size: int, stop: Stop) -> None:
        """The input's size is known: held spans run to it, and any bytes still unaccounted become one span."""
        size += self.origin
        for held in self.held:
            if len(held) == 2:  # a record without a row
                rtype, offset = held
            else:
                rtype, offset = held[RTYPE], held[OFFSET]
                held[LENGTH] = size - offset
                self.add(tuple(held))
            self.report.bytes_by_type[rtype] += size - offset
            self.accounted = size
        self.held.clear()
        if size > self.accounted:
            why = f"not read: {stop[1]}" if stop else "not read"
            self.unreadable(self.accounted, size - self.accounted, why)


_DAMAGE = frozenset({"read_truncated", "read_unparsable"})


def _finish(stream: HashingReader, report: ReadReport, out: Collector, stop: Stop) -> None:
    """Finish the input (hash, size, read_stopped), then account for the bytes no span covers yet."""
    finish_stream(stream, report, stop)
    out.finish(report.bytes, stop)


def drive(
    parse, stream: HashingReader, report: ReadReport, batch_size: int, cfg: ReadConfig, origin: int = 0
) -> Iterator[pl.DataFrame]:
    """Run a record parser to its end, then flush: full batches while parsing, the rest after."""
    out = Collector(report, batch_size, cfg.max_batch_bytes, origin)
    try:
        stop = yield from parse(stream, out, cfg)
    except GeneratorExit:
        stream.close()
        raise
    _finish(stream, report, out, stop)
    while out.rows:
        yield out.take()

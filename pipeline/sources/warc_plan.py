"""Reading a local WARC file in pieces: the batch plan (where each batch starts, noted by a clean sequential
read) that lets every worker read its own batch, byte windows of a file read as files of their own, and cuts
at gzip members that start records."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import polars as pl
from isal import isal_zlib

from pipeline.config import ReadConfig
from pipeline.sources.base import UNREADABLE, ReadReport, empty_records
from pipeline.sources.streams import HashingReader, InputError
from pipeline.sources.warc import read_warc
from pipeline.warc_record import GZIP_MAGIC


@dataclass(frozen=True)
class BatchPlan:
    """Where every batch of a local WARC file starts, noted by a pass that read the whole file cleanly.

    With it each worker reads its own batch (`read_planned_batch`) instead of one process reading the file
    and shipping batches to the others, so reading is parallel too. Made only for files read to the end
    with no unreadable span: every record is then addressable, and a read from a batch's first record to the
    next batch's gives exactly the rows the sequential read gives that batch.
    """

    path: str
    report: ReadReport  # what the planning pass saw: records by type, sha256, bytes of the whole file
    batch_size: int
    starts: tuple[int, ...]  # byte offset where batch n begins (batch 0 at 0, later ones at a record start)
    size: int  # the file's size and mtime when planned: a file changed since is refused, not misread
    mtime_ns: int

    @classmethod
    def of(cls, path: str, report: ReadReport, batch_size: int, offsets: pl.Series) -> BatchPlan | None:
        """The plan of a file whose reading gave `report` and the `offsets` of its eligible records, in
        order; None if the file cannot be read in pieces (not a local WARC, or it has unreadable spans)."""
        if report.format != "warc" or not clean(report) or not os.path.isfile(path):
            return None
        stat = os.stat(path)
        if stat.st_size != report.bytes:
            return None
        firsts = offsets.gather_every(batch_size).to_list()  # each batch's first record
        return cls(path, report, batch_size, (0, *firsts[1:]), stat.st_size, stat.st_mtime_ns)

    def __len__(self) -> int:
        return len(self.starts) if self.report.eligible else 0

    def batch(self, n: int) -> tuple[int, int | None, int]:
        """(start, end or None for the end of the file, eligible records) of batch `n`."""
        end = self.starts[n + 1] if n + 1 < len(self.starts) else None
        rows = self.batch_size if end is not None else self.report.eligible - self.batch_size * n
        return self.starts[n], end, rows


def clean(report: ReadReport) -> bool:
    """Whether reading found no damage: read to the end, no unreadable span, no record cut short or unparsable."""
    return report.read_stopped is None and not report.records_by_type.get(UNREADABLE) and not report.damaged


class _Window:
    """Bytes [start, end) of an open file, as a stream whose positions count from `start`."""

    def __init__(self, raw: Any, start: int, end: int | None) -> None:
        raw.seek(start)
        self._raw = raw
        self._start = start
        self._left = None if end is None else end - start
        self._end = end

    def read(self, n: int = -1) -> bytes:
        if self._left is not None and (n is None or n < 0 or n > self._left):
            n = self._left
        data = self._raw.read(n)
        if self._left is not None:
            self._left -= len(data)
        return data

    def pread(self, n: int, pos: int) -> bytes:
        if self._end is not None:
            n = max(0, min(n, self._end - self._start - pos))
        return os.pread(self._raw.fileno(), n, self._start + pos)

    def close(self) -> None:
        self._raw.close()


def read_window(
    path: str, start: int, end: int | None, batch_size: int, read_config: ReadConfig
) -> tuple[Iterator[pl.DataFrame], ReadReport]:
    """Batches of the records in bytes [start, end) of a local WARC file, read as a file of its own (so
    `start` must begin a record, and a gzip member); offsets are the whole file's. The report fills in
    as the batches are read."""
    report = ReadReport(path=path, format="warc")
    stream = HashingReader(_Window(open(path, "rb"), start, end))  # noqa: SIM115 (the reader closes it)
    gz = path.endswith(".gz")
    return read_warc(stream, report, batch_size=batch_size, read_config=read_config, gzip_name=gz, origin=start), report


def record_members(path: str, pieces: int, probe: int = 1 << 20) -> list[int]:
    """Offsets that cut a gzip WARC file into about `pieces` equal parts, each at a gzip member that starts
    a WARC record (checked by inflating its first bytes); a cut with no such member near it is left out.

    A chance match (the magic bytes inside compressed data, inflating to "WARC/") is not ruled out here:
    whoever reads in pieces checks that every piece read cleanly to its end.
    """
    size = os.path.getsize(path)
    cuts: list[int] = []
    with open(path, "rb") as f:
        for k in range(1, pieces):
            near = size * k // pieces
            f.seek(near)
            window = f.read(probe)
            at = window.find(GZIP_MAGIC + b"\x08")
            while at != -1:
                with contextlib.suppress(isal_zlib.error):
                    if isal_zlib.decompressobj(31).decompress(window[at : at + 4096], 5) == b"WARC/":
                        cuts.append(near + at)
                        break
                at = window.find(GZIP_MAGIC + b"\x08", at + 1)
    return sorted({c for c in cuts if 0 < c < size})


def read_planned_batch(plan: BatchPlan, n: int, read_config: ReadConfig) -> pl.DataFrame:
    """Batch `n` of a planned file, read from its own byte range: the same rows as a sequential read."""
    frames = list(read_planned_pieces(plan, n, read_config))
    return pl.concat(frames) if frames else empty_records()


def read_planned_pieces(plan: BatchPlan, n: int, read_config: ReadConfig) -> Iterator[pl.DataFrame]:
    """`read_planned_batch` in pieces of at most `read_config.max_batch_bytes` of payload, each yielded as soon as
    it is read: what the workers process, so their memory follows bytes, not the plan's rows."""
    start, end, rows = plan.batch(n)
    stat = os.stat(plan.path)
    if (stat.st_size, stat.st_mtime_ns) != (plan.size, plan.mtime_ns):
        raise InputError(f"{plan.path} changed while the run was reading it: run again")
    batches, report = read_window(plan.path, start, end, max(rows, 1), read_config)
    read = 0
    for frame in batches:
        read += frame.height
        if read > rows:
            break
        yield frame
    if not clean(report) or read != rows:
        raise InputError(
            f"{plan.path}: batch {n} at byte {start} did not read as planned ({read} of {rows} "
            f"records, {report.read_stopped}): was the file changed during the run?"
        )

"""The policy scan: the site policy files found in the inputs and in opt-out snapshots, before any batch.

A crawl stores every fetch of a declared site file (robots.txt, /.well-known/tdmrep.json, ai.txt:
`pipeline.optout.families`) as a WARC response record; an opt-out snapshot (`apertura robots-snapshot`) is
a WARC of nothing else. `collect` reads those records (and the targets of their redirects) from every file
in one pass; `pipeline.optout.policies.PolicyIndex` parses them per origin (`load_policies` from the run's
staged copy of what was collected).
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from pipeline.config import ReadConfig
from pipeline.optout.families import policy_url_pattern
from pipeline.optout.policies import PolicyIndex, redirect_target
from pipeline.sources.base import RECORD_SCHEMA, ReadReport
from pipeline.sources.inputs import detect_format, read_input
from pipeline.sources.warc_plan import BatchPlan, clean, read_window, record_members
from pipeline.warc_record import GZIP_MAGIC

HTTP_FORMATS = ("warc", "arc")  # formats whose records carry HTTP responses (and so policy files)

COLLECTED_SCHEMA: dict[str, pl.DataType] = {
    "url": pl.String(),
    "http_status": pl.Int32(),
    "content_type": pl.String(),
    "http_headers": pl.String(),
    "payload": pl.Binary(),
    "read_error": pl.String(),
    "date": pl.String(),
    "warc_record_id": pl.String(),
    "warc_record_offset": pl.Int64(),
    "warc_record_length": pl.Int64(),
    "source_file": pl.String(),
    "source_sha256": pl.String(),
    "source_id": pl.String(),
}


@dataclass(frozen=True)
class ScannedFile:
    path: str
    sha256: str
    bytes: int
    plan: BatchPlan | None = None  # where its batches start (local WARC files read cleanly): see BatchPlan

    def describe(self) -> dict:
        return {"path": self.path, "sha256": self.sha256, "bytes": self.bytes}


SPLIT_BYTES = 64 << 20  # a local gzip WARC at least this big is scanned in pieces when a pool scans
_SCAN_READ = ReadConfig(content_types=())  # bodies of other records are not held


@dataclass(frozen=True)
class _Found:
    """What one sequential read (of a file, or of a piece of one) saw, in record order."""

    hits: pl.DataFrame  # policy-file records and redirect targets of one
    offsets: pl.Series  # every eligible record's offset, for the batch plan
    url_hashes: pl.Series | None  # a piece's: every eligible record's URL, hashed (Polars, this run only)
    wanted: frozenset[str]  # redirect targets of the hits
    report: ReadReport


def _find(batches: Iterator[pl.DataFrame], report: ReadReport, *, piece: bool = False) -> _Found:
    """Policy records (URL match) and, record by record, the targets of earlier redirects among them."""
    wanted: dict[str, int] = {}  # redirect target -> global row of the first redirect to it
    kept = [pl.DataFrame(schema=RECORD_SCHEMA)]
    offsets, urls = [pl.Series(dtype=pl.Int64)], [pl.Series(dtype=pl.UInt64)]
    first = 0
    policy_url = policy_url_pattern()
    for batch in batches:
        offsets.append(batch["warc_record_offset"])
        if piece:
            urls.append(batch["url"].hash())
        rows = batch.with_row_index("row", offset=first)
        first += batch.height
        while True:  # until no redirect among the hits names a target not yet wanted
            after = pl.col("url").replace_strict(wanted, default=None, return_dtype=pl.Int64)
            marked = pl.col("site_file").is_not_null()  # the crawler's mark on every hop of a policy file fetch
            redirected_to = (pl.col("row") > after).fill_null(False)
            hits = rows.filter(pl.col("url").str.contains(policy_url) | marked | redirected_to)
            grew = False
            for row, url, status, headers in hits.select("row", "url", "http_status", "http_headers").iter_rows():
                target = redirect_target(url, headers) if status is not None and 300 <= status < 400 else None
                if target is not None and target not in wanted:
                    wanted[target], grew = row, True
            if not grew:
                break
        kept.append(hits.drop("row"))
    url_hashes = pl.concat(urls) if piece else None
    return _Found(pl.concat(kept), pl.concat(offsets), url_hashes, frozenset(wanted), report)


def _scan_piece(spec: str, start: int, end: int | None) -> _Found:
    """The pool task of a piece: bytes [start, end) of a local gzip WARC."""
    return _find(*read_window(spec, start, end, 4096, _SCAN_READ), piece=True)


def _result(spec: str, found: _Found, batch_size: int | None) -> tuple[pl.DataFrame, ScannedFile]:
    report = found.report
    frame = found.hits.with_columns(
        source_file=pl.lit(spec),
        source_sha256=pl.lit(report.sha256),
        source_id=pl.format("{}-{}", pl.lit(report.sha256[:16]), pl.col("warc_record_offset")),
    )
    plan = BatchPlan.of(spec, report, batch_size, found.offsets) if batch_size else None
    return frame, ScannedFile(spec, report.sha256, report.bytes, plan)


def scan(spec: str, batch_size: int | None = None) -> tuple[pl.DataFrame, ScannedFile] | None:
    """The policy-file records (and redirect targets of one) of one input, in record order; None for a
    format without HTTP responses. With `batch_size`, the scan also plans the file's batches.

    Bodies of other records are not held (an empty content-type allow list), so this costs one
    decompression of the input, not an extraction.
    """
    if detect_format(spec) not in HTTP_FORMATS:
        return None
    batches, report = read_input(spec, batch_size=4096, read_config=_SCAN_READ)
    return _result(spec, _find(batches, report), batch_size)


def _joined(spec: str, pieces: list[_Found]) -> _Found | None:
    """The pieces of one file as if read in one go, or None where that cannot be vouched for: a piece did
    not read cleanly to its end (or found damage), or a redirect's target may lie in a later piece than the
    redirect."""
    wanted: set[str] = set()
    for piece in pieces:
        earlier_targets = pl.Series(list(wanted), dtype=pl.String).hash()  # a hash collision only falls back
        if not clean(piece.report) or piece.url_hashes.is_in(earlier_targets.implode()).any():
            return None
        wanted |= piece.wanted
    records: Counter[str] = Counter()
    spans: Counter[str] = Counter()
    for piece in pieces:
        records.update(piece.report.records_by_type)
        spans.update(piece.report.bytes_by_type or {})
    with open(spec, "rb") as f:
        sha256 = hashlib.file_digest(f, "sha256").hexdigest()
    report = ReadReport(spec, "warc", records, sha256, os.path.getsize(spec), bytes_by_type=spans)
    return _Found(
        pl.concat([p.hits for p in pieces]),
        pl.concat([p.offsets for p in pieces]),
        None,
        frozenset(wanted),
        report,
    )


def _pieces(spec: str, pieces: int) -> list[tuple[int, int | None]]:
    """Byte ranges to scan `spec` in: several for a large local gzip WARC, else the whole file."""
    if pieces < 2 or not os.path.isfile(spec) or os.path.getsize(spec) < SPLIT_BYTES:
        return [(0, None)]
    with open(spec, "rb") as f:
        if f.read(2) != GZIP_MAGIC or detect_format(spec) != "warc":
            return [(0, None)]
    cuts = record_members(spec, pieces)
    return list(zip([0, *cuts], [*cuts, None], strict=True))


def collect(
    specs: list[str],
    on_file: Callable[[str], None] | None = None,
    *,
    batch_size: int | None = None,
    map_files: Callable = map,
    pieces: int = 1,
) -> tuple[pl.DataFrame, list[ScannedFile]]:
    """Every policy-file record (and redirect target of one) in `specs`, in file then record order, and
    the scanned files (WET and tabular inputs hold no HTTP responses and are skipped).

    `map_files` runs the scans (a process pool's `map` scans several files, or pieces of one, at once).
    With `pieces` > 1 a large local gzip WARC is scanned in that many byte ranges cut at records (the first
    here, the others by `map_files`); the result is the one-piece scan's, which is what a file whose pieces
    cannot be vouched for gets instead.
    """
    ranges = {spec: _pieces(spec, pieces) for spec in specs}
    # a split file's first piece is scanned here, while the pool scans the others
    others = [(spec, start, end) for spec in specs if len(ranges[spec]) > 1 for start, end in ranges[spec][1:]]
    whole = [spec for spec in specs if len(ranges[spec]) == 1]
    by_piece = iter(map_files(_scan_piece, *zip(*others, strict=True)) if others else ())
    scanned_whole = iter(map_files(scan, whole, [batch_size] * len(whole)))
    frames, scanned = [], []
    for spec in specs:
        if len(ranges[spec]) > 1:
            first = _scan_piece(spec, *ranges[spec][0])
            joined = _joined(spec, [first, *(next(by_piece) for _ in ranges[spec][1:])])
            found = _result(spec, joined, batch_size) if joined else scan(spec, batch_size)
        else:
            found = next(scanned_whole)
        if found is not None:
            frames.append(found[0])
            scanned.append(found[1])
        if on_file:
            on_file(spec)
    collected = pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame()
    return collected.select(
        (pl.col(c) if c in collected.columns else pl.lit(None)).cast(t).alias(c) for c, t in COLLECTED_SCHEMA.items()
    ), scanned


def load_policies(path: Path | None) -> PolicyIndex:
    """The `PolicyIndex` of a run's collected policy files (written by the run beside its shards); None: empty."""
    return PolicyIndex() if path is None else PolicyIndex.build(pl.read_parquet(path))

"""The conservation law of one read input, in records and in bytes, checked against ground truth.

    df, report, _ = read_all(path)
    check_spans(df, report)  # the spans cover the file exactly
    check_records(df, report, [(offset, end, "response"), ...])  # each eligible record a row, or in an unreadable one
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Iterable

import polars as pl

from pipeline.sources.base import ELIGIBLE_TYPES, UNREADABLE


def check_spans(df: pl.DataFrame, report) -> None:
    """Byte conservation: the rows' spans (records and unreadable spans) lie in the file without overlapping,
    and the bytes of every type (eligible or not) sum to the file, so the bytes between rows are exactly the
    bytes of the records that are not eligible; every row is counted in records_by_type."""
    assert report.bytes_by_type is not None, "a WARC/ARC read accounts for bytes"
    assert all(n > 0 for n in report.bytes_by_type.values()), report.bytes_by_type
    assert sum(report.bytes_by_type.values()) == report.bytes, (report.bytes_by_type, report.bytes)
    spans = sorted(df.select("warc_record_offset", "warc_record_length").iter_rows())
    end = 0
    for offset, length in spans:
        assert length is not None and length > 0, (offset, length)
        assert offset >= end, f"span at {offset} overlaps the one ending at {end}"
        end = offset + length
    assert end <= report.bytes
    eligible_bytes = sum(n for t, n in report.bytes_by_type.items() if t in ELIGIBLE_TYPES)
    assert sum(length for _, length in spans) == eligible_bytes
    rows_by_type = Counter(df["record_type"].to_list())
    assert rows_by_type == Counter({t: n for t, n in report.records_by_type.items() if t in ELIGIBLE_TYPES})
    bad = df.filter((pl.col("record_type") == UNREADABLE) & (pl.col("read_error") != "read_unparsable"))
    assert bad.is_empty(), "an unreadable span whose reason is not read_unparsable"


def unreadable_spans(df: pl.DataFrame) -> list[tuple[int, int]]:
    rows = df.filter(pl.col("record_type") == UNREADABLE).select("warc_record_offset", "warc_record_length")
    return [(o, o + n) for o, n in rows.iter_rows()]


def damaged_spans(df: pl.DataFrame) -> list[tuple[int, int]]:
    """Spans of the ledger rows for damage: unreadable spans, and records cut short or unparsable (whose span runs
    to the next readable record, and so holds any record whose own start the damage destroyed)."""
    rows = df.filter(pl.col("read_error").is_in(["read_unparsable", "read_truncated"]))
    return [(o, o + n) for o, n in rows.select("warc_record_offset", "warc_record_length").iter_rows()]


def check_records(
    df: pl.DataFrame, report, records: Iterable[tuple[int, int, str]], present: int | None = None
) -> None:
    """Record conservation against ground truth: every eligible record (offset, end, type) that starts in the
    input (before `present` bytes, for a cut file) is a row at its offset, or lies inside the span of a ledger
    row for damage (`damaged_spans`: one that says why). A record's row may name it by an empty gzip member
    before it (then the row starts inside the record's span, as the truth's `end` gives it)."""
    present = report.bytes if present is None else present
    starts = sorted(o for o, t in df.select("warc_record_offset", "record_type").iter_rows() if t != UNREADABLE)
    holes = damaged_spans(df)
    for offset, end, rtype in records:
        if rtype not in ELIGIBLE_TYPES or offset >= present:
            continue
        i = bisect.bisect_left(starts, offset)
        if i < len(starts) and offset <= starts[i] < max(end, offset + 1):
            continue
        assert any(a <= offset < b for a, b in holes), f"eligible record at {offset} is neither a row nor in damage"

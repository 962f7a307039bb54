"""Damaged inputs: truncated at many offsets, bit-flipped. The reader never raises, never hands out
corrupt bytes as a good record, every eligible record is a row or lies inside an unreadable span (a
row of its own), and the spans cover the file (the conservation law, in records and in bytes)."""

from __future__ import annotations

import hashlib
import random
import struct
from pathlib import Path

import polars as pl
import pytest

from tests.helpers.accounting import check_records, check_spans
from tests.helpers.reading import read_all
from tests.helpers.warcs import Page, make_pages, record_spans, write_warc


def check_conservation(df: pl.DataFrame, report, pages: list[Page], offsets: list[int], present: int) -> None:
    """Each page whose record starts inside the first `present` bytes is a row or inside an unreadable span;
    the spans cover the file; a row read without error has exactly the page's body."""
    check_spans(df, report)
    check_records(df, report, [(o, o, "response") for o in offsets], present)
    rows = {r["warc_record_offset"]: r for r in df.iter_rows(named=True)}
    for page, off in zip(pages, offsets, strict=True):
        row = rows.get(off)
        if row is not None and row["read_error"] is None:
            assert row["payload"] == page.body  # never a silently damaged payload
    assert report.read_stopped is None  # a damaged file is read to its end


@pytest.mark.parametrize("gz", [True, False])
def test_truncated_at_many_offsets(tmp_path: Path, gz: bool) -> None:
    pages = make_pages(3, size=150)
    full = tmp_path / ("full.warc.gz" if gz else "full.warc")
    offsets = write_warc(full, pages, gzip=gz)
    data = full.read_bytes()
    cut_path = tmp_path / ("cut.warc.gz" if gz else "cut.warc")
    step = 3 if gz else 5
    truncated_rows = 0
    for cut in [*range(0, len(data), step), len(data) - 1]:
        cut_path.write_bytes(data[:cut])
        df, report, _ = read_all(cut_path, batch_size=2)
        assert report.bytes == cut
        assert report.sha256 == hashlib.sha256(data[:cut]).hexdigest()
        check_conservation(df, report, pages, offsets, cut)
        truncated_rows += (df["read_error"] == "read_truncated").sum()
        # a page whose record is entirely before the cut is read in full
        ends = [*offsets[1:], len(data)]
        for page, off, end in zip(pages, offsets, ends, strict=True):
            if end <= cut:
                row = df.filter(pl.col("warc_record_offset") == off)
                assert row.height == 1 and row["payload"][0] == page.body, (cut, off)
    assert truncated_rows > 0, "some cut should land inside a response and emit it as read_truncated"


def test_truncated_inside_a_large_gzip_record(tmp_path: Path) -> None:
    rng = random.Random(3)
    body = "<html>" + " ".join(f"{rng.random():.12f}" for _ in range(40_000)) + "</html>"  # ~600 KB
    pages = [make_pages(1)[0], Page("http://s.test/large", body)]
    full = tmp_path / "large.warc.gz"
    offsets = write_warc(full, pages)
    data = full.read_bytes()
    cut = offsets[1] + (offsets[1] - offsets[0]) + 100_000  # well inside the large member
    path = tmp_path / "large-cut.warc.gz"
    path.write_bytes(data[:cut])
    df, report, _ = read_all(path, batch_size=2)
    assert df["read_error"].to_list() == [None, "read_truncated"]
    row = df.row(1, named=True)
    assert row["warc_record_offset"] == offsets[1] and row["payload"] is None
    assert row["warc_record_length"] == cut - offsets[1]
    assert row["url"] == "http://s.test/large"  # its header was read: the ledger names the page
    assert report.bytes == cut
    check_spans(df, report)


def test_corrupt_gzip_trailer_of_a_large_record(tmp_path: Path) -> None:
    rng = random.Random(4)
    body = "<html>" + " ".join(f"{rng.random():.12f}" for _ in range(40_000)) + "</html>"
    pages = [Page("http://s.test/large", body), *make_pages(2)]
    full = tmp_path / "crc.warc.gz"
    offsets = write_warc(full, pages, with_requests=False)
    data = bytearray(full.read_bytes())
    crc_at = offsets[1] - 8  # the large member's CRC32 (its last 8 bytes: CRC32, ISIZE)
    (crc,) = struct.unpack("<I", data[crc_at : crc_at + 4])
    data[crc_at : crc_at + 4] = struct.pack("<I", crc ^ 0xFFFF)
    full.write_bytes(bytes(data))
    df, report, _ = read_all(full, batch_size=2)
    check_conservation(df, report, pages, offsets, len(data))
    # the damaged record is in the ledger; reading goes on at the next member and the later pages are read
    assert df["read_error"].to_list() == ["read_truncated", None, None]
    assert "corrupt gzip data" in df["read_detail"][0]
    assert df["warc_record_offset"].to_list() == offsets
    assert df["warc_record_length"][0] == offsets[1] - offsets[0]
    assert report.bytes == len(data)
    assert report.sha256 == hashlib.sha256(data).hexdigest()


def test_bit_flips_in_gzip_warc(tmp_path: Path) -> None:
    pages = make_pages(5, size=300)
    full = tmp_path / "flip-src.warc.gz"
    offsets = write_warc(full, pages)
    data = full.read_bytes()
    rng = random.Random(11)
    path = tmp_path / "flip.warc.gz"
    damaged_rows = 0
    for _ in range(120):
        damaged = bytearray(data)
        for _ in range(rng.choice((1, 1, 3))):
            damaged[rng.randrange(len(damaged))] ^= 1 << rng.randrange(8)
        path.write_bytes(bytes(damaged))
        df, report, _ = read_all(path, batch_size=2)
        check_conservation(df, report, pages, offsets, len(data))
        assert report.sha256 == hashlib.sha256(damaged).hexdigest()
        damaged_rows += df["read_error"].is_in(["read_unparsable", "read_truncated"]).any()
        # a flip damages one member: every page whose bytes (up to the next page) hold no flip is read in full
        flipped = [i for i, b in enumerate(damaged) if b != data[i]]
        ends = [*offsets[1:], len(data)]
        for page, off, end in zip(pages, offsets, ends, strict=True):
            if not any(off <= i < end for i in flipped):
                row = df.filter(pl.col("warc_record_offset") == off)
                assert row.height == 1 and row["payload"][0] == page.body, (flipped, off)
    assert damaged_rows > 50


def test_bit_flips_in_plain_warc_payloads(tmp_path: Path) -> None:
    pages = make_pages(4, size=300)
    full = tmp_path / "flip-src.warc"
    offsets = write_warc(full, pages, gzip=False)
    data = full.read_bytes()
    bodies = [(data.index(p.body, off), len(p.body)) for p, off in zip(pages, offsets, strict=True)]
    rng = random.Random(5)
    path = tmp_path / "flip.warc"
    for _ in range(40):
        damaged = bytearray(data)
        start, n = rng.choice(bodies)
        damaged[start + rng.randrange(n)] ^= 1 << rng.randrange(8)
        path.write_bytes(bytes(damaged))
        df, report, _ = read_all(path, batch_size=2)
        check_conservation(df, report, pages, offsets, len(data))
        assert (df["read_error"] == "read_digest_mismatch").sum() == 1


def test_bit_flips_in_plain_warc_anywhere(tmp_path: Path) -> None:
    """Flips in headers too: a record may change type or framing, but nothing raises and no
    emitted good payload is damaged."""
    pages = make_pages(4, size=200)
    full = tmp_path / "any-src.warc"
    offsets = write_warc(full, pages, gzip=False)
    data = full.read_bytes()
    rng = random.Random(9)
    path = tmp_path / "any.warc"
    for _ in range(80):
        damaged = bytearray(data)
        damaged[rng.randrange(len(damaged))] ^= 1 << rng.randrange(8)
        path.write_bytes(bytes(damaged))
        df, report, _ = read_all(path, batch_size=2)
        check_spans(df, report)
        for row in df.iter_rows(named=True):
            if row["read_error"] is None and row["warc_record_offset"] in offsets:
                assert row["payload"] == pages[offsets.index(row["warc_record_offset"])].body


def test_spans_match_warcio_on_damage_free_prefixes(tmp_path: Path) -> None:
    """A file cut exactly at record boundaries is a valid, shorter WARC: nothing stops."""
    full = tmp_path / "b.warc.gz"
    write_warc(full, make_pages(3))
    data = full.read_bytes()
    path = tmp_path / "prefix.warc.gz"
    for off, length, _ in record_spans(full):
        path.write_bytes(data[: off + length])
        _, report, _ = read_all(path, batch_size=2)
        assert report.read_stopped is None


ARC_FIXTURES = (Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures" / "warc" / "warcio").resolve()


@pytest.mark.skipif(not ARC_FIXTURES.exists(), reason=f"shared fixtures not found at {ARC_FIXTURES}")
@pytest.mark.parametrize("name", ["example.arc", "example.arc.gz"])
def test_truncated_arc(tmp_path: Path, name: str) -> None:
    data = (ARC_FIXTURES / name).read_bytes()
    full_df, _, _ = read_all(ARC_FIXTURES / name, batch_size=2)
    (response_offset,) = full_df["warc_record_offset"].to_list()
    payload = full_df["payload"][0]
    path = tmp_path / name
    for cut in range(0, len(data), 3):
        path.write_bytes(data[:cut])
        df, report, _ = read_all(path, batch_size=2)
        assert report.bytes == cut
        check_spans(df, report)
        check_records(df, report, [(response_offset, len(data), "response")], cut)
        row = df.filter((pl.col("warc_record_offset") == response_offset) & (pl.col("record_type") == "response"))
        if row.height:
            row = row.row(0, named=True)
            assert row["payload"] == payload if row["read_error"] is None else row["read_error"] == "read_truncated"

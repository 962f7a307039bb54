"""The third-party WARC/ARC fixtures (see <repo>/../shared/fixtures/README.md) read without raising,
with the record counts the README gives, offsets that reopen the records they name, and byte spans that
cover each file."""

from __future__ import annotations

import hashlib
import io
import re
import zlib
from collections import Counter
from pathlib import Path

import polars as pl
import pytest
from warcio.archiveiterator import ArchiveIterator

from pipeline.sources.record_rows import NON_CHUNKED
from tests.helpers.accounting import check_spans
from tests.helpers.reading import read_all

FIXTURES = (Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures").resolve()
README = FIXTURES / "README.md"
pytestmark = pytest.mark.skipif(not README.exists(), reason=f"shared fixtures not found at {FIXTURES}")


def readme_counts() -> dict[str, Counter]:
    """Path -> record counts by type, from the README table (before any 'after recompress' part)."""
    table: dict[str, Counter] = {}
    if not README.exists():
        return table
    for line in README.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 6 or not cells[0].startswith("`warc/"):
            continue
        path = cells[0].strip("`")
        if not path.endswith((".warc", ".warc.gz", ".arc", ".arc.gz")):
            continue
        contents = re.split(r"After `warcio recompress`|\(with `arc2warc", cells[5])[0]
        table[path] = Counter({t: int(n) for t, n in re.findall(r"`(\w+)` ×(\d+)", contents)})
    return table


COUNTS = readme_counts()
# Files whose gzip members are not one per record: one unreadable span (see pipeline/sources/warc.py).
UNADDRESSABLE = {"warc/warcio/example-bad-non-chunked.warc.gz", "warc/warcio/example-wrong-chunks.warc.gz"}
# The ARC reader (warcio) still stops where a record is cut short; the rest is one unreadable span.
STOPS = {"warc/warcio/example-space-in-url.arc": "short of its declared length"}


def test_readme_table_was_parsed() -> None:
    assert len(COUNTS) >= 15
    assert COUNTS["warc/warcio/example.warc"] == Counter(warcinfo=2, response=1, request=2, revisit=1)
    assert COUNTS["warc/warcio/example.arc.gz"] == Counter(arc_header=1, response=1)


@pytest.mark.parametrize("rel", sorted(COUNTS))
def test_fixture_reads_with_readme_counts(rel: str) -> None:
    path = FIXTURES / rel
    df, report, _ = read_all(path, batch_size=2)
    data = path.read_bytes()
    assert report.bytes == len(data)
    assert report.sha256 == hashlib.sha256(data).hexdigest()
    expected = COUNTS[rel]
    check_spans(df, report)
    if rel in UNADDRESSABLE:  # unreadable spans only (cut at gzip members), the first says why
        assert set(report.records_by_type) == {"unreadable"} and report.read_stopped is None
        assert df["warc_record_length"].sum() == len(data) and NON_CHUNKED in df["read_detail"][0]
    elif rel in STOPS:
        assert report.read_stopped is not None
        assert STOPS[rel] in report.read_stopped["error"]
        # reading stopped early: never more than warcio reads, and nothing after the stop offset
        assert all(n <= expected[t] for t, n in report.records_by_type.items()), report.records_by_type
        assert all(o <= report.read_stopped["offset"] for o in df["warc_record_offset"])
    else:  # every record warcio counts, plus any unreadable span between them (example-trunc.warc has one)
        assert report.read_stopped is None, report.read_stopped
        assert Counter({t: n for t, n in report.records_by_type.items() if t != "unreadable"}) == expected


def test_fixture_details() -> None:
    df, _, _ = read_all(FIXTURES / "warc/jwarc-cc.warc.gz", batch_size=2)
    row = df.row(0, named=True)
    assert (row["url"], row["http_status"], row["content_type"], row["read_error"]) == (
        "http://commoncrawl.org/",
        200,
        "text/html",
        None,
    )
    assert row["date"] == "2019-12-10T10:00:01Z"
    assert row["payload"].lstrip().lower().startswith(b"<!doctype html")

    df, _, _ = read_all(FIXTURES / "warc/warcio/example-iana.org-chunked.warc", batch_size=2)
    row = df.row(0, named=True)
    assert row["read_error"] is None  # its digest is written in hex, over the chunked body
    assert b"\r\n0\r\n" not in row["payload"] and row["payload"].rstrip().endswith(b"</html>")

    df, _, _ = read_all(FIXTURES / "warc/warcio/example.warc.gz", batch_size=2)
    assert df["payload"][0].startswith(b"<!doctype html>")  # Content-Encoding: gzip undone

    df, _, _ = read_all(FIXTURES / "warc/warcio/example-wget-bad-target-uri.warc.gz", batch_size=2)
    assert df["url"].to_list()[0] == "http://example.com/"  # wget's <...> removed

    df, _, _ = read_all(FIXTURES / "warc/warcio/example-space-in-target-uri.warc.gz", batch_size=2)
    assert df["url"].to_list() == ["file:///example%20with%20spaces.png"]
    assert df["read_error"].to_list() == ["read_content_type"]

    df, report, _ = read_all(FIXTURES / "warc/warcio/example-trunc.warc", batch_size=2)
    # its Content-Length is 2 bytes short: bytes that are no record follow the block, and no digest vouches
    # for it (the payload digest fails): the record is unparsable, the 6 bytes after its declared block are an
    # unreadable span, and the request after them is read
    assert df["read_error"].to_list() == ["read_unparsable", "read_unparsable"]
    assert "no digest vouches" in df["read_detail"][0] and df["warc_record_length"][1] == 6
    assert dict(report.records_by_type) == {"warcinfo": 2, "response": 1, "request": 1, "unreadable": 1}

    df, report, _ = read_all(FIXTURES / "warc/warcio/example-bad-non-chunked.warc.gz", batch_size=2)
    assert df["record_type"].to_list() == ["unreadable"] and report.read_stopped is None

    df, _, _ = read_all(FIXTURES / "warc/warcio/bad.arc", batch_size=2)
    assert df["url"].to_list() == ["http://example.com/"] * 3
    assert df["http_status"].null_count() == 3  # those responses carry no HTTP headers


def _gzip_member(chunk: bytes) -> bytes:
    d = zlib.decompressobj(31)
    out = d.decompress(chunk)
    assert d.eof and d.unused_data == b"", "span is not exactly one gzip member"
    return out


@pytest.mark.parametrize("rel", sorted(r for r in COUNTS if ".warc" in r))
def test_fixture_offsets_reopen_records(rel: str) -> None:
    path = FIXTURES / rel
    df, _, _ = read_all(path, batch_size=2)
    data = path.read_bytes()
    for row in df.filter(pl.col("read_error").is_null() & (pl.col("record_type") != "unreadable")).iter_rows(
        named=True
    ):
        chunk = data[row["warc_record_offset"] : row["warc_record_offset"] + row["warc_record_length"]]
        if chunk[:2] == b"\x1f\x8b":
            _gzip_member(chunk)
        rec = next(iter(ArchiveIterator(io.BytesIO(chunk), check_digests="raise")))
        assert rec.rec_headers.get_header("WARC-Record-ID") == row["warc_record_id"]
        assert rec.content_stream().read() == row["payload"]


@pytest.mark.parametrize("rel", ["warc/warcio/example.arc", "warc/warcio/example.arc.gz"])
def test_arc_offsets_reopen_records(rel: str) -> None:
    path = FIXTURES / rel
    df, _, _ = read_all(path, batch_size=2)
    data = path.read_bytes()
    row = df.row(0, named=True)
    chunk = data[row["warc_record_offset"] : row["warc_record_offset"] + row["warc_record_length"]]
    if chunk[:2] == b"\x1f\x8b":
        _gzip_member(chunk)
    rec = next(iter(ArchiveIterator(io.BytesIO(chunk))))
    assert rec.rec_headers.get_header("uri") == row["url"]
    assert rec.content_stream().read() == row["payload"]

"""Damaged WARCs of the kinds real crawls contain: the reader resynchronises after each damaged region, every
eligible record is a row (read, or in the ledger with a reason) or lies inside an unreadable span (a row of
its own, read_unparsable, with its offset and length), the spans cover the file, and every record after the
damage is read with its exact body. Ground truth comes from how each file is built, and from warcio."""

from __future__ import annotations

import gzip
import io
import zlib
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest
from warcio.archiveiterator import ArchiveIterator

from pipeline.sources.record_rows import NON_CHUNKED
from tests.helpers.accounting import check_records, check_spans, unreadable_spans
from tests.helpers.reading import read_all
from tests.helpers.warcs import Page, make_pages, record_spans, write_warc

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "warc"


@dataclass
class Part:
    data: bytes
    rtype: str | None  # None: damage (bytes that are no record)
    page: int | None = None  # index of the page a response carries


def parts_of(path: Path, pages: list[Page]) -> list[Part]:
    """The file's records as stored (each up to the next record), with their types and pages."""
    data = path.read_bytes()
    spans = record_spans(path)
    ends = [*(o for o, _, _ in spans[1:]), len(data)]
    urls = {p.url: i for i, p in enumerate(pages)}
    out = []
    for (offset, _, rtype), end in zip(spans, ends, strict=True):
        chunk = data[offset:end]
        plain = zlib.decompressobj(31).decompress(chunk) if chunk[:2] == b"\x1f\x8b" else chunk
        uri = next((line.split(b": ", 1)[1].decode() for line in plain.split(b"\r\n")
                    if line.startswith(b"WARC-Target-URI: ")), None)  # fmt: skip
        out.append(Part(chunk, rtype, urls.get(uri) if rtype == "response" else None))
    return out


def layout(parts: list[Part]) -> tuple[bytes, list[tuple[int, int, str]], dict[int, int]]:
    """(file bytes, truth records (offset, end, type), page -> offset) of parts laid out in order."""
    records, offsets, pos = [], {}, 0
    for part in parts:
        if part.rtype is not None:
            records.append((pos, pos + len(part.data), part.rtype))
            if part.page is not None:
                offsets[part.page] = pos
        pos += len(part.data)
    return b"".join(p.data for p in parts), records, offsets


def read_damaged(tmp_path: Path, parts: list[Part], pages: list[Page], suffix: str, skip: set[int] = frozenset()):
    """Write, read, check both conservation laws; every page not in `skip` is read with its exact body."""
    data, records, offsets = layout(parts)
    path = tmp_path / f"damaged{suffix}"
    path.write_bytes(data)
    df, report, _ = read_all(path, batch_size=3)
    assert report.bytes == len(data) and report.read_stopped is None
    check_spans(df, report)
    check_records(df, report, records)
    rows = {r["warc_record_offset"]: r for r in df.iter_rows(named=True) if r["record_type"] != "unreadable"}
    for i, page in enumerate(pages):
        if i in skip:
            continue
        row = rows.get(offsets[i])
        assert row is not None and row["read_error"] is None and row["payload"] == page.body, (i, row)
    return df, offsets


def base(tmp_path: Path, gz: bool, n: int = 5) -> tuple[list[Page], list[Part]]:
    pages = make_pages(n, size=400)
    path = tmp_path / ("base.warc.gz" if gz else "base.warc")
    write_warc(path, pages, gzip=gz)
    return pages, parts_of(path, pages)


def index_of(parts: list[Part], page: int) -> int:
    return next(i for i, p in enumerate(parts) if p.page == page)


def edit_plain(part: Part, edit) -> Part:
    """`edit(plain record bytes)`, recompressed when the part is a gzip member."""
    gz = part.data[:2] == b"\x1f\x8b"
    plain = zlib.decompressobj(31).decompress(part.data) if gz else part.data
    new = edit(plain)
    return Part(gzip.compress(new, mtime=0) if gz else new, part.rtype, part.page)


def test_garbage_between_gzip_members_is_one_span_and_every_record_is_read(tmp_path):
    pages, parts = base(tmp_path, gz=True)
    junk = b"garbage between members\r\n" * 3
    at = index_of(parts, 2)
    parts.insert(at, Part(junk, None))
    df, _ = read_damaged(tmp_path, parts, pages, ".warc.gz")
    start = sum(len(p.data) for p in parts[:at])
    assert unreadable_spans(df) == [(start, start + len(junk))]
    hole = df.filter(pl.col("record_type") == "unreadable").row(0, named=True)
    assert hole["read_error"] == "read_unparsable" and f"at offset {start}" in hole["read_detail"]


@pytest.mark.parametrize("gz", [True, False])
def test_lf_only_headers_are_read_as_warcio_reads_them(tmp_path, gz):
    """WARC and HTTP header lines ending in LF alone (Content-Length fixed to the shorter block)."""
    pages, parts = base(tmp_path, gz=gz)

    def lf_only(plain: bytes) -> bytes:
        head, _, rest = plain.partition(b"\r\n\r\n")
        length = int(next(v for k, _, v in (x.partition(b": ") for x in head.split(b"\r\n")) if k == b"Content-Length"))
        block = rest[:length]
        if block.startswith(b"HTTP/"):
            http, _, body = block.partition(b"\r\n\r\n")
            block = http.replace(b"\r\n", b"\n") + b"\n\n" + body
        lines = [b"Content-Length: %d" % len(block) if x.startswith(b"Content-Length:") else x
                 for x in head.split(b"\r\n")]  # fmt: skip
        return b"\n".join(lines) + b"\n\n" + block + b"\n\n"

    parts = [edit_plain(p, lf_only) for p in parts]
    df, _ = read_damaged(tmp_path, parts, pages, ".warc.gz" if gz else ".warc")
    assert unreadable_spans(df) == [] and df["http_status"].to_list() == [200] * len(pages)
    # warcio, the reference, reads the same file to the same records
    data, _, _ = layout(parts)
    warcio_urls = [r.rec_headers.get_header("WARC-Target-URI") for r in ArchiveIterator(io.BytesIO(data))
                   if r.rec_type == "response"]  # fmt: skip
    assert df["url"].to_list() == warcio_urls == [p.url for p in pages]


@pytest.mark.parametrize("gz", [True, False])
def test_a_non_numeric_content_length_is_one_ledger_row_and_reading_goes_on(tmp_path, gz):
    pages, parts = base(tmp_path, gz=gz)
    at = index_of(parts, 1)

    def junk_length(plain: bytes) -> bytes:
        head, sep, rest = plain.partition(b"\r\n\r\n")
        lines = [b"Content-Length: 12abc" if x.startswith(b"Content-Length:") else x for x in head.split(b"\r\n")]
        return b"\r\n".join(lines) + sep + rest

    parts[at] = edit_plain(parts[at], junk_length)
    df, offsets = read_damaged(tmp_path, parts, pages, ".warc.gz" if gz else ".warc", skip={1})
    row = df.filter(pl.col("warc_record_offset") == offsets[1]).row(0, named=True)
    assert (row["record_type"], row["url"], row["read_error"]) == ("response", pages[1].url, "read_unparsable")
    assert "'12abc' is not a number" in row["read_detail"] and row["payload"] is None
    assert row["warc_record_length"] == len(parts[at].data)  # up to the request that follows it


@pytest.mark.parametrize("gz", [True, False])
def test_a_record_cut_short_in_the_middle_of_the_file(tmp_path, gz):
    """A response whose block was cut (its Content-Length unchanged), then the rest of the crawl."""
    pages, parts = base(tmp_path, gz=gz)
    at = index_of(parts, 2)

    def cut(plain: bytes) -> bytes:
        head, sep, rest = plain.partition(b"\r\n\r\n")
        return head + sep + rest[: len(rest) // 2]

    parts[at] = edit_plain(parts[at], cut)
    df, offsets = read_damaged(tmp_path, parts, pages, ".warc.gz" if gz else ".warc", skip={2})
    row = df.filter(pl.col("warc_record_offset") == offsets[2]).row(0, named=True)
    assert (row["url"], row["read_error"], row["payload"]) == (pages[2].url, "read_truncated", None)
    assert row["warc_record_length"] == len(parts[at].data)
    assert unreadable_spans(df) == []


def test_a_corrupt_gzip_member_in_the_middle_of_the_file(tmp_path):
    pages, parts = base(tmp_path, gz=True)
    at = index_of(parts, 3)
    member = bytearray(parts[at].data)
    member[len(member) // 2 : len(member) // 2 + 16] = bytes(16)
    parts[at] = Part(bytes(member), "response", 3)
    df, offsets = read_damaged(tmp_path, parts, pages, ".warc.gz", skip={3})
    damaged = df.filter(pl.col("warc_record_offset") == offsets[3]).row(0, named=True)
    assert damaged["read_error"] in ("read_truncated", "read_unparsable") and damaged["payload"] is None
    assert damaged["warc_record_length"] == len(parts[at].data)  # the next member begins the next record


def test_records_sharing_a_gzip_member_are_one_unreadable_span(tmp_path):
    """Page 1's response and its request in one member: not individually addressable, the rest read."""
    pages, parts = base(tmp_path, gz=True)
    at = index_of(parts, 1)
    both = gzip.compress(b"".join(zlib.decompressobj(31).decompress(p.data) for p in parts[at : at + 2]), mtime=0)
    parts[at : at + 2] = [Part(both, "response", 1)]
    df, _ = read_damaged(tmp_path, parts, pages, ".warc.gz", skip={1})
    start = sum(len(p.data) for p in parts[:at])
    assert unreadable_spans(df) == [(start, start + len(both))]
    assert NON_CHUNKED in df.filter(pl.col("record_type") == "unreadable")["read_detail"][0]


def test_garbage_after_a_plain_record_whose_digest_vouches_for_it(tmp_path):
    pages, parts = base(tmp_path, gz=False)
    at = index_of(parts, 1)
    junk = b"this line is no record\r\n"
    parts.insert(at + 1, Part(junk, None))  # right after page 1's response (its payload digest verifies)
    df, _ = read_damaged(tmp_path, parts, pages, ".warc")
    start = sum(len(p.data) for p in parts[: at + 1])
    assert unreadable_spans(df) == [(start, start + len(junk))]


@pytest.mark.parametrize("gz", [True, False])
def test_leading_and_trailing_garbage(tmp_path, gz):
    pages, parts = base(tmp_path, gz=gz)
    parts = [Part(b"JUNK" * 5, None), *parts, Part(b"\x00trailing\xff" * 7, None)]
    df, _ = read_damaged(tmp_path, parts, pages, ".warc.gz" if gz else ".warc")
    total = sum(len(p.data) for p in parts)
    assert unreadable_spans(df) == [(0, 20), (total - 70, total)]


def test_every_kind_at_once_through_the_pipeline(tmp_path):
    """One gzip WARC with garbage between members, a junk Content-Length and a cut record: the release
    verifies, the ledger names each unreadable span and damaged record, and every other page is a document."""
    from pipeline.cli import build
    from pipeline.config import RunConfig
    from pipeline.verify import verify_release
    from tests.helpers.corrupt import sample_pages

    pages = sample_pages(n=6)
    path = tmp_path / "b.warc.gz"
    write_warc(path, pages)
    parts = parts_of(path, pages)
    parts.insert(index_of(parts, 4), Part(b"garbage\r\n", None))
    at = index_of(parts, 5)
    parts[at] = edit_plain(parts[at], lambda p: p.replace(b"Content-Length: ", b"Content-Length: x", 1))
    at = index_of(parts, 7)
    parts[at] = edit_plain(parts[at], lambda p: p[: len(p) * 2 // 3])
    damaged = tmp_path / "damaged.warc.gz"
    data, _, offsets = layout(parts)
    damaged.write_bytes(data)
    manifest = build([str(damaged)], RunConfig.model_validate({"extract": {"extractor": "resiliparse"}}),
                     tmp_path / "r", index=False)  # fmt: skip
    report = verify_release(tmp_path / "r")
    assert report.ok, [c for c in report.checks if not c.ok]
    assert any(c.name.startswith("conservation in bytes") and c.ok for c in report.checks)
    entry = manifest["inputs"][0]
    assert entry["records_by_type"]["unreadable"] == 1 and sum(entry["bytes_by_type"].values()) == len(data)
    ledger = pl.read_parquet(tmp_path / "r" / "ledger")
    docs = pl.read_parquet(tmp_path / "r" / "documents")
    reasons = dict(ledger.select("warc_record_offset", "reason").iter_rows())
    assert reasons[offsets[5]] == "read_unparsable" and reasons[offsets[7]] == "read_truncated"
    hole = ledger.filter(pl.col("record_type") == "unreadable").row(0, named=True)
    assert (hole["reason"], hole["file_path"], hole["warc_record_length"]) == ("read_unparsable", str(damaged), 9)
    # every page is a document or a ledger row; the pages around the damage are documents (page 4 is under
    # /private/, which robots.txt disallows: an opt-out; pages 0-2 are the site's policy files)
    accounted = set(docs["warc_record_offset"]) | set(ledger["warc_record_offset"])
    assert all(offsets[i] in accounted for i in range(len(pages)))
    assert set(docs["warc_record_offset"]) == {offsets[3], offsets[6], offsets[8]}
    assert reasons[offsets[4]] == "optout_robots"


# ---------------------------------------------------------------------------------------------
# The damaged and quirky files of the warcio and resiliparse test corpora (tests/fixtures/warc/README.md)


def test_resiliparse_clipped_record_is_one_truncated_row():
    df, report, _ = read_all(FIXTURES / "resiliparse-clipped.warc.gz")
    check_spans(df, report)
    assert df.select("warc_record_offset", "record_type", "read_error").rows() == [(0, "response", "read_truncated")]
    assert df["url"][0].startswith("http://www.houstonpress.com/") and "88275" in df["read_detail"][0]


def test_resiliparse_clueweb_quirks_lf_only_http_heads():
    """WARC/0.18 with LF-only HTTP heads: every response is read and its HTTP head parsed (status, type);
    their payload digests do not verify, and warcio agrees, so each is in the ledger with that reason."""
    path = FIXTURES / "resiliparse-clueweb-quirk.warc.gz"
    df, report, _ = read_all(path, batch_size=8)
    check_spans(df, report)
    assert dict(report.records_by_type) == {"warcinfo": 1, "response": 29}
    assert df["http_status"].null_count() == 0 and df["content_type"].null_count() == 0
    failed = []
    for record in ArchiveIterator(open(path, "rb"), check_digests=True):  # noqa: SIM115
        record.content_stream().read()
        if record.rec_type == "response":
            failed.append(not record.digest_checker.passed)
    assert df["read_error"].to_list() == ["read_digest_mismatch"] * 29 and all(failed) and len(failed) == 29


def test_resiliparse_block_sized_records_of_unknown_type():
    df, report, _ = read_all(FIXTURES / "resiliparse-block-sized-records.warc.gz")
    check_spans(df, report)
    assert df.height == 0 and dict(report.records_by_type) == {"unknown": 3}


def test_warcio_example_bad_is_one_unreadable_span():
    path = FIXTURES / "warcio-example-bad.warc.gz"
    df, report, _ = read_all(path)
    check_spans(df, report)
    assert df.select("warc_record_offset", "warc_record_length", "record_type").rows() == [
        (0, path.stat().st_size, "unreadable")
    ]

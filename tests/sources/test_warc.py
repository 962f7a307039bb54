"""WARC / WET reading on generated files: rows, counts, offsets that reopen records, per-record errors."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import tracemalloc
import zlib
from pathlib import Path

import brotli
import pytest
from warcio.archiveiterator import ArchiveIterator
from warcio.warcwriter import WARCWriter

from pipeline.sources.record_rows import NON_CHUNKED
from tests.helpers.reading import read_all
from tests.helpers.warcs import Page, make_pages, page_record, record_spans, request_record, write_warc


def reopen(path: Path | str, offset: int, length: int):
    """Seek to offset, read length bytes, gunzip that single member, parse one record with warcio."""
    with open(path, "rb") as f:
        f.seek(offset)
        chunk = f.read(length)
    assert len(chunk) == length
    if chunk[:2] == b"\x1f\x8b":
        d = zlib.decompressobj(31)
        d.decompress(chunk)
        assert d.eof and d.unused_data == b"", "the span is not exactly one gzip member"
    rec = next(iter(ArchiveIterator(io.BytesIO(chunk))))
    raw_body = rec.raw_stream.read()
    # again, with warcio verifying the digests while it reads, for the decoded payload
    checked = next(iter(ArchiveIterator(io.BytesIO(chunk), check_digests="raise")))
    return rec, raw_body, checked.content_stream().read()


def sha1_b32(data: bytes) -> str:
    return "sha1:" + base64.b32encode(hashlib.sha1(data).digest()).decode()


@pytest.mark.parametrize("gz", [True, False])
def test_rows_counts_and_hash(tmp_path: Path, gz: bool) -> None:
    pages = [
        *make_pages(7),
        Page("http://site.test/res.txt", "plain resource", content_type="text/plain", record_type="resource"),
    ]
    path = tmp_path / ("a.warc.gz" if gz else "a.warc")
    offsets = write_warc(path, pages, gzip=gz)
    df, report, batches = read_all(path, batch_size=3)

    assert [b.height for b in batches] == [3, 3, 2]
    assert df["warc_record_offset"].to_list() == offsets
    assert df["record_type"].to_list() == ["response"] * 7 + ["resource"]
    assert df["url"].to_list() == [p.url for p in pages]
    assert df["payload"].to_list() == [p.body for p in pages]
    assert df["date"].unique().to_list() == ["2025-01-02T03:04:05Z"]
    assert df["http_status"].to_list() == [200] * 7 + [None]
    assert df["content_type"].to_list() == ["text/html"] * 7 + ["text/plain"]
    assert df["http_charset"].to_list() == ["utf-8"] * 7 + [None]
    assert df["read_error"].null_count() == df.height
    assert df["text"].null_count() == df.height
    assert all(rid.startswith("<urn:uuid:") for rid in df["warc_record_id"])
    assert df["warc_payload_digest"].to_list() == [sha1_b32(p.body) for p in pages]

    assert dict(report.records_by_type) == {"warcinfo": 1, "response": 7, "request": 7, "resource": 1}
    assert report.format == "warc"
    data = path.read_bytes()
    assert report.bytes == len(data)
    assert report.sha256 == hashlib.sha256(data).hexdigest()
    assert report.read_stopped is None


@pytest.mark.parametrize("gz", [True, False])
def test_offsets_reopen_the_exact_record(tmp_path: Path, gz: bool) -> None:
    pages = [
        *make_pages(4, size=3000),
        Page("http://site.test/z", gzip.compress(b"<p>zipped</p>"), extra_headers=[("Content-Encoding", "gzip")]),
        Page("http://site.test/r", "resource body", content_type="text/plain", record_type="resource"),
    ]
    path = tmp_path / ("b.warc.gz" if gz else "b.warc")
    write_warc(path, pages, gzip=gz)
    df, _, _ = read_all(path)
    spans = {off: (length, rtype) for off, length, rtype in record_spans(path)}
    size = path.stat().st_size
    for row in df.iter_rows(named=True):
        off, length = row["warc_record_offset"], row["warc_record_length"]
        rec, raw_body, decoded = reopen(path, off, length)
        assert rec.rec_headers.get_header("WARC-Record-ID") == row["warc_record_id"]
        assert rec.rec_headers.get_header("WARC-Payload-Digest") == row["warc_payload_digest"] == sha1_b32(raw_body)
        assert decoded == row["payload"]
        # the span is warcio's record (gzip: its member), plus the blank lines before the next record
        assert off in spans and spans[off][1] == row["record_type"]
        assert length >= spans[off][0]
        following = [o for o in spans if o > off]
        assert off + length == (min(following) if following else size)
        if gz:
            assert length == spans[off][0]


def test_warc_1_1_and_wet_conversion_records(tmp_path: Path) -> None:
    path = tmp_path / "a.warc.gz"
    write_warc(path, make_pages(2), warc_version="1.1")
    df, report, _ = read_all(path)
    assert df.height == 2 and df["read_error"].null_count() == 2

    docs = [
        Page(
            "http://site.test/1", "Plain text one.\nSecond line.", content_type="text/plain", record_type="conversion"
        ),
        Page(
            "http://site.test/2",
            b"caf\xc3\xa9 and a bad byte \xff",
            content_type="text/plain",
            record_type="conversion",
        ),
    ]
    wet = tmp_path / "CC-MAIN-x.warc.wet.gz"
    write_warc(wet, docs)
    df, report, _ = read_all(wet)
    assert report.format == "wet"
    assert dict(report.records_by_type) == {"warcinfo": 1, "conversion": 2}
    assert df["record_type"].to_list() == ["conversion", "conversion"]
    assert df["text"].to_list() == ["Plain text one.\nSecond line.", "café and a bad byte \ufffd"]
    assert df["payload"].null_count() == 2
    assert df["content_type"].to_list() == ["text/plain", "text/plain"]
    assert df["http_status"].null_count() == 2


def _chunked(body: bytes, size: int = 7) -> bytes:
    parts = [b"%x\r\n%s\r\n" % (len(body[i : i + size]), body[i : i + size]) for i in range(0, len(body), size)]
    return b"".join(parts) + b"0\r\n\r\n"


def test_http_decoding_status_and_content_type(tmp_path: Path) -> None:
    body = b"<html><body>" + b"decoded body " * 50 + b"</body></html>"
    deflated = zlib.compress(body)
    raw_deflate = zlib.compressobj(wbits=-15)
    raw_deflate_body = raw_deflate.compress(body) + raw_deflate.flush()
    pages = [
        Page("http://s.test/gzip", gzip.compress(body), extra_headers=[("Content-Encoding", "gzip")]),
        Page("http://s.test/deflate", deflated, extra_headers=[("Content-Encoding", "deflate")]),
        Page("http://s.test/rawdeflate", raw_deflate_body, extra_headers=[("Content-Encoding", "deflate")]),
        Page("http://s.test/br", brotli.compress(body), extra_headers=[("Content-Encoding", "br")]),
        Page("http://s.test/chunked", _chunked(body), extra_headers=[("Transfer-Encoding", "chunked")]),
        Page(
            "http://s.test/chunked-gzip",
            _chunked(gzip.compress(body)),
            extra_headers=[("Transfer-Encoding", "chunked"), ("Content-Encoding", "gzip")],
        ),
        Page("http://s.test/stored-dechunked", body, extra_headers=[("Transfer-Encoding", "chunked")]),
        Page("http://s.test/latin", body, content_type='Text/HTML; Charset="ISO-8859-1"'),
        Page("http://s.test/missing", b"<p>gone</p>", status=404),
        Page("http://s.test/bad-gzip", b"not gzip at all", extra_headers=[("Content-Encoding", "gzip")]),
        Page("http://s.test/compress", b"xx", extra_headers=[("Content-Encoding", "compress")]),
    ]
    path = tmp_path / "h.warc.gz"
    write_warc(path, pages)
    df, _, _ = read_all(path)
    rows = {r["url"]: r for r in df.iter_rows(named=True)}
    for name in ("gzip", "deflate", "rawdeflate", "br", "chunked", "chunked-gzip", "stored-dechunked", "latin"):
        assert rows[f"http://s.test/{name}"]["payload"] == body, name
        assert rows[f"http://s.test/{name}"]["read_error"] is None, name
    assert rows["http://s.test/latin"]["content_type"] == "text/html"
    assert rows["http://s.test/latin"]["http_charset"] == "iso-8859-1"
    assert rows["http://s.test/missing"]["http_status"] == 404
    assert rows["http://s.test/missing"]["payload"] == b"<p>gone</p>"
    for name in ("bad-gzip", "compress"):
        row = rows[f"http://s.test/{name}"]
        assert (row["read_error"], row["payload"]) == ("read_bad_encoding", None), name
        assert row["read_detail"]


def test_digest_mismatch(tmp_path: Path) -> None:
    pages = make_pages(3)
    path = tmp_path / "d.warc"
    write_warc(path, pages, gzip=False)
    data = bytearray(path.read_bytes())
    at = data.index(b"Page 1.")
    data[at : at + 7] = b"PAGE 1!"  # same length: the WARC framing stays valid, the digest does not
    path.write_bytes(bytes(data))
    df, report, _ = read_all(path)
    assert df["read_error"].to_list() == [None, "read_digest_mismatch", None]
    bad = df.row(1, named=True)
    assert bad["payload"] is None and "WARC-Payload-Digest" in bad["read_detail"]
    assert df["payload"][0] == pages[0].body
    assert report.read_stopped is None


def test_too_large_payload_is_not_held_in_memory(tmp_path: Path) -> None:
    big = b"<html>" + b"x" * 8_000_000 + b"</html>"
    pages = [make_pages(1)[0], Page("http://s.test/big", big), make_pages(2, host="b.test")[1]]
    path = tmp_path / "big.warc"
    write_warc(path, pages, gzip=False)
    del big, pages
    tracemalloc.start()
    try:
        df, _, _ = read_all(path, max_payload_bytes=100_000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2_000_000, f"peak Python allocation {peak} bytes while skipping an 8 MB payload"
    assert df["read_error"].to_list() == [None, "read_too_large", None]
    row = df.row(1, named=True)
    assert row["payload"] is None
    assert "8000013 bytes" in row["read_detail"] and "max_payload_bytes=100000" in row["read_detail"]
    assert df["payload"][2] is not None


def test_decoded_payload_too_large(tmp_path: Path) -> None:
    bomb = gzip.compress(b"\0" * 2_000_000)  # ~2 KB on disk, 2 MB decoded
    path = tmp_path / "bomb.warc.gz"
    write_warc(path, [Page("http://s.test/bomb", bomb, extra_headers=[("Content-Encoding", "gzip")])])
    df, _, _ = read_all(path, max_payload_bytes=100_000)
    assert df["read_error"].to_list() == ["read_too_large"]
    assert df["payload"].to_list() == [None]


def test_content_type_outside_the_config_is_not_loaded(tmp_path: Path) -> None:
    pages = [
        Page("http://s.test/a.png", b"\x89PNG....", content_type="image/png"),
        Page("http://s.test/gone.png", b"\x89PNG....", content_type="image/png", status=404),
        Page("http://s.test/none", b"???", content_type=""),
        Page("http://s.test/page", "<p>ok</p>"),
    ]
    path = tmp_path / "ct.warc.gz"
    write_warc(path, pages)
    df, _, _ = read_all(path)
    assert df["read_error"].to_list() == ["read_content_type", None, "read_content_type", None]
    assert df["read_detail"].to_list() == ["content_type=image/png", None, "content_type=missing", None]
    assert df["payload"].to_list() == [None, b"\x89PNG....", None, b"<p>ok</p>"]
    # the admit step decides non-2xx responses, so that one keeps its payload and its type
    assert df["content_type"].to_list() == ["image/png", "image/png", None, "text/html"]


def test_all_records_counted_only_eligible_emitted(tmp_path: Path) -> None:
    path = tmp_path / "mixed.warc.gz"
    with open(path, "wb") as out:
        w = WARCWriter(out, gzip=True)
        w.write_record(w.create_warcinfo_record("mixed.warc.gz", {"software": "t"}))
        for rtype in ("response", "metadata", "resource", "revisit", "request", "conversion"):
            payload = io.BytesIO(b"<p>x</p>")
            if rtype in ("response", "revisit", "request"):
                page = Page("http://s.test/", "<p>x</p>")
                rec = request_record(w, page) if rtype == "request" else page_record(w, page)
                if rtype == "revisit":
                    rec = w.create_revisit_record(
                        "http://s.test/",
                        digest=sha1_b32(b"<p>x</p>"),
                        refers_to_uri="http://s.test/",
                        refers_to_date="2025-01-01T00:00:00Z",
                    )
            else:
                rec = w.create_warc_record(
                    "http://s.test/", rtype, payload=payload, length=8, warc_content_type="text/html"
                )
            w.write_record(rec)
    df, report, _ = read_all(path)
    assert dict(report.records_by_type) == {
        "warcinfo": 1,
        "response": 1,
        "metadata": 1,
        "resource": 1,
        "revisit": 1,
        "request": 1,
        "conversion": 1,
    }
    assert df["record_type"].to_list() == ["response", "resource", "conversion"]
    assert report.eligible == 3


def raw_record(rtype: str, block: bytes, content_type: str = "application/http; msgtype=response") -> bytes:
    rid = f"<urn:uuid:00000000-0000-0000-0000-00000000000{len(block) % 10}>"
    head = (
        f"WARC/1.0\r\nWARC-Type: {rtype}\r\nWARC-Record-ID: {rid}\r\n"
        f"WARC-Date: 2020-01-01T00:00:00Z\r\nWARC-Target-URI: http://s.test/\r\n"
        f"Content-Type: {content_type}\r\nContent-Length: {len(block)}\r\n\r\n"
    ).encode()
    return head + block + b"\r\n\r\n"


def test_response_without_http_status_line(tmp_path: Path) -> None:
    path = tmp_path / "nohttp.warc"
    path.write_bytes(
        raw_record("response", b"Content-Type: text/html\r\n\r\n<p>no status line</p>")
        + raw_record("response", b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<p>fine</p>")
        + raw_record("response", b"<p>dns-like body</p>", content_type="text/html")
    )
    df, report, _ = read_all(path)
    assert df["read_error"].to_list() == ["read_bad_http", None, None]
    assert df["payload"].to_list() == [None, b"<p>fine</p>", b"<p>dns-like body</p>"]
    assert df["http_status"].to_list() == [None, 200, None]
    assert report.read_stopped is None


def test_not_a_warc_and_empty_files(tmp_path: Path) -> None:
    junk = tmp_path / "junk.warc"
    junk.write_bytes(b"this is not a WARC file\n" * 10)
    df, report, _ = read_all(junk)
    assert df.select("warc_record_offset", "warc_record_length", "record_type", "read_error").rows() == [
        (0, 240, "unreadable", "read_unparsable")  # nothing lost: the whole file is one unreadable span
    ]
    assert report.bytes == 240 and dict(report.bytes_by_type) == {"unreadable": 240}

    empty = tmp_path / "empty.warc.gz"
    empty.write_bytes(b"")
    df, report, _ = read_all(empty)
    assert df.height == 0 and report.read_stopped is None
    assert report.sha256 == hashlib.sha256(b"").hexdigest()

    not_gzip = tmp_path / "plain-but-named.warc.gz"  # compression is sniffed, not trusted from the name
    write_warc(not_gzip, make_pages(2), gzip=False)
    df, report, _ = read_all(not_gzip)
    assert df.height == 2 and report.read_stopped is None


def test_non_chunked_gzip_is_one_unreadable_span(tmp_path: Path) -> None:
    plain = tmp_path / "p.warc"
    write_warc(plain, make_pages(3), gzip=False)
    whole = tmp_path / "whole.warc.gz"
    whole.write_bytes(gzip.compress(plain.read_bytes()))
    df, report, _ = read_all(whole)
    assert df["record_type"].to_list() == ["unreadable"] and df["warc_record_length"][0] == whole.stat().st_size
    assert NON_CHUNKED in df["read_detail"][0] and report.read_stopped is None
    assert report.bytes == whole.stat().st_size

    # first two records in their own members, the rest in one member: that member is the unreadable span
    data = plain.read_bytes()
    spans = record_spans(plain)
    split = spans[2][0]  # the third record (the first page's request) starts the shared member
    mixed = tmp_path / "mixed.warc.gz"
    head = b"".join(gzip.compress(data[o : o + n + 4]) for o, n, _ in spans[:2])
    mixed.write_bytes(head + gzip.compress(data[split:]))
    df, report, _ = read_all(mixed)
    assert dict(report.records_by_type) == {"warcinfo": 1, "response": 1, "unreadable": 1}
    assert df["read_error"].to_list() == [None, "read_unparsable"]
    size = len(mixed.read_bytes())
    assert df["warc_record_offset"][1] == len(head) and df["warc_record_length"][1] == size - len(head)
    reopen(mixed, df["warc_record_offset"][0], df["warc_record_length"][0])

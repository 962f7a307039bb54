"""Bad input never crashes a run or loses a record: it reaches the ledger, or the manifest says where reading ended."""

from __future__ import annotations

import gzip

import duckdb
import polars as pl
import pytest

from pipeline.cli import build
from pipeline.config import ReadConfig, RunConfig
from pipeline.sources.inputs import expand_inputs
from pipeline.synthetic import make_page
from pipeline.verify import verify_release
from tests.helpers.warcs import Page, write_warc


def run(paths, out, config=None):
    manifest = build(expand_inputs([str(p) for p in paths]), config or RunConfig(), out)
    report = verify_release(out)
    assert report.ok, [c for c in report.checks if not c.ok]
    return manifest


def ledger(out):
    return duckdb.sql(f"select * from read_parquet('{out}/ledger/*.parquet') order by warc_record_offset").pl()


def test_shipped_fixture_warcs_ingest(fixtures_dir, tmp_path):
    paths = sorted(
        p for p in (fixtures_dir / "warc").rglob("*") if p.name.endswith((".warc", ".warc.gz", ".arc", ".arc.gz"))
    )
    assert len(paths) >= 15
    manifest = run(paths, tmp_path / "fixtures")
    by_name = {e["path"].rsplit("/", 1)[-1]: e for e in manifest["inputs"]}
    assert set(by_name) == {p.name for p in paths}
    # The real Common Crawl capture becomes a document.
    assert by_name["jwarc-cc.warc.gz"]["kept"] == 1
    # Deliberately malformed files: what cannot be read is in the ledger, and reading goes on after it.
    for name in ("example-bad-non-chunked.warc.gz", "example-wrong-chunks.warc.gz"):
        entry = by_name[name]
        assert set(entry["records_by_type"]) == {"unreadable"}
        assert entry["bytes_by_type"] == {"unreadable": entry["bytes"]}
    trunc = by_name["example-trunc.warc"]  # its response's Content-Length is 2 bytes short: the request after is read
    assert trunc["read_stopped"] is None
    assert trunc["records_by_type"] == {"warcinfo": 2, "response": 1, "request": 1, "unreadable": 1}
    rows = ledger(tmp_path / "fixtures").filter(pl.col("file_path") == trunc["path"])
    assert rows.select("record_type", "reason").rows() == [("response", "read_unparsable"),
                                                           ("unreadable", "read_unparsable")]  # fmt: skip
    # Non-document records are counted by type, not turned into documents.
    assert by_name["example.warc.gz"]["records_by_type"] == {"warcinfo": 2, "response": 1, "request": 2, "revisit": 1}
    assert by_name["example-digest.warc"]["eligible"] == 0


def _pages(n: int) -> list[Page]:
    return [Page(f"http://site.test/{i}", make_page(i, f"http://site.test/{i}", "en").html()) for i in range(n)]


def test_corrupt_gzip_member_is_reported_and_the_rest_survives(tmp_path):
    path = tmp_path / "corrupt.warc.gz"
    offsets = write_warc(path, _pages(6), with_requests=False)
    data = bytearray(path.read_bytes())
    middle = (offsets[3] + offsets[4]) // 2  # inside the 4th record's gzip member
    data[middle : middle + 40] = bytes(40)
    path.write_bytes(bytes(data))
    manifest = run([path], tmp_path / "r")
    entry = manifest["inputs"][0]
    assert entry["kept"] == 5  # the records before and after the damage: reading resumes at the next member
    assert entry["read_stopped"] is None
    # The damaged record is the one ledger row: named if its header could still be parsed, else a span.
    rows = ledger(tmp_path / "r")
    assert rows["reason"].to_list() in (["read_unparsable"], ["read_truncated"])
    assert rows.select("warc_record_offset", "warc_record_length").rows() == [(offsets[3], offsets[4] - offsets[3])]


def test_truncated_file_keeps_what_was_complete(tmp_path):
    path = tmp_path / "cut.warc"
    offsets = write_warc(path, _pages(4), gzip=False, with_requests=False)
    path.write_bytes(path.read_bytes()[: offsets[2] + 500])  # cut inside the third record
    manifest = run([path], tmp_path / "r")
    entry = manifest["inputs"][0]
    assert entry["kept"] == 2 and entry["removed"] == 1
    assert ledger(tmp_path / "r")["reason"].to_list() == ["read_truncated"]


def test_wrong_content_length_does_not_crash(tmp_path):
    path = tmp_path / "len.warc"
    write_warc(path, _pages(3), gzip=False, with_requests=False)
    data = path.read_bytes()
    first = data.index(b"Content-Length: ") + len(b"Content-Length: ")
    end = data.index(b"\r\n", first)
    data = data[:first] + str(int(data[first:end]) + 1000).encode() + data[end:]
    path.write_bytes(data)
    manifest = run([path], tmp_path / "r")
    entry = manifest["inputs"][0]
    assert entry["eligible"] == entry["kept"] + entry["removed"]
    assert entry["read_stopped"] is not None or entry["removed"] >= 1


def test_huge_page_is_skipped_above_the_configured_size(tmp_path):
    path = tmp_path / "huge.warc.gz"
    big = "<html><body><p>" + "lorem ipsum dolor " * (50 * 1024 * 1024 // 18) + "</p></body></html>"
    write_warc(path, [*_pages(1), Page("http://site.test/huge", big)], with_requests=False)
    run([path], tmp_path / "r")
    rows = ledger(tmp_path / "r")
    assert rows["reason"].to_list() == ["read_too_large"]
    assert rows["url"].to_list() == ["http://site.test/huge"]

    small_limit = RunConfig(read=ReadConfig(max_payload_bytes=1000))
    run([path], tmp_path / "r2", small_limit)
    assert ledger(tmp_path / "r2")["reason"].to_list() == ["read_too_large", "read_too_large"]


def test_encodings_and_empty_and_binary_bodies(tmp_path):
    page, other, third = (make_page(seed, "http://de.test/a", "de") for seed in (3, 4, 5))
    latin1_lying = page.html(charset="utf-8").encode("latin-1", errors="replace")
    pages = [
        Page("http://de.test/latin1-labelled-utf8", latin1_lying, content_type="text/html; charset=utf-8"),
        Page("http://de.test/unknown-charset", other.html().encode(), content_type="text/html; charset=x-nonsense"),
        Page("http://de.test/empty", b""),
        Page("http://de.test/binary", bytes(range(256)) * 8, content_type="text/html"),
        Page("http://de.test/pdf", b"%PDF-1.4 ...", content_type="application/pdf"),
        Page(
            "http://de.test/gzip-body",
            gzip.compress(third.html().encode()),
            extra_headers=(("Content-Encoding", "gzip"),),
        ),
    ]
    path = tmp_path / "enc.warc.gz"
    write_warc(path, pages, with_requests=False)
    run([path], tmp_path / "r")
    docs = duckdb.sql(f"select url, language, text from read_parquet('{tmp_path}/r/documents/*.parquet')").pl()
    kept = dict(zip(docs["url"], docs["text"], strict=True))
    assert set(kept) == {
        "http://de.test/latin1-labelled-utf8",
        "http://de.test/unknown-charset",
        "http://de.test/gzip-body",
    }
    assert third.paragraphs[0][:50] in kept["http://de.test/gzip-body"]
    assert "ü" in kept["http://de.test/latin1-labelled-utf8"] or "ö" in kept["http://de.test/latin1-labelled-utf8"]
    reasons = dict(zip(ledger(tmp_path / "r")["url"], ledger(tmp_path / "r")["reason"], strict=True))
    assert reasons == {
        "http://de.test/empty": "read_empty",
        "http://de.test/binary": "extract_undecodable",
        "http://de.test/pdf": "read_content_type",
    }


@pytest.mark.parametrize(
    "bad", ["<html><body><p>unclosed <div><table><tr><td>" * 2000, "<<<<>>>>" * 10_000, "\x00" * 10]
)
def test_html_the_extractor_cannot_parse_goes_to_the_ledger(tmp_path, bad):
    path = tmp_path / "bad.warc.gz"
    write_warc(path, [Page("http://x.test/bad", bad)], with_requests=False)
    manifest = run([path], tmp_path / "r")
    assert manifest["inputs"][0]["eligible"] == 1
    assert manifest["counts"]["kept"] + manifest["counts"]["removed"] == 1

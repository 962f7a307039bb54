"""One test per bug the hardening corpus and fuzzers found; each failed (crash, hang or wrong offset) before its fix."""

from __future__ import annotations

import gzip
import time

import pytest

from pipeline.optout import robots, tdmrep
from pipeline.optout.base import html_meta
from pipeline.sources.base import normalise_date
from pipeline.synthetic import make_page
from pipeline.warc_record import dechunk, split_content_type
from tests.hardening.support import check_release, deadline, rows, run_build
from tests.helpers.corrupt import FIXTURES
from tests.helpers.reading import read_all
from tests.helpers.warcs import Page, write_warc


def test_negative_chunk_size_does_not_loop_forever():
    # warc.py dechunk: int('-4', 16) stepped the cursor backwards, forever
    with deadline(2, "dechunk"), pytest.raises(ValueError, match="negative chunk size"):
        dechunk(b"-4\n\n")


def test_date_before_year_one_in_utc_is_unparsable_not_fatal():
    # sources normalise_date: astimezone() raised OverflowError, which stopped reading the whole file
    assert normalise_date("0001-01-01T00:00:00+01:00") is None
    assert normalise_date("9999-12-31T23:59:59-01:00") is None


def test_charset_with_a_nul_is_dropped():
    # inputs.py split_content_type: 'utf-8\x00' reached codecs.lookup, whose ValueError crashed the extract step
    assert split_content_type("text/html; charset=utf-8\x00") == ("text/html", None)
    assert split_content_type("text/html; charset=ISO-8859-1") == ("text/html", "iso-8859-1")


def test_poison_records_do_not_stop_the_run(tmp_path):
    """Each of these crashed the run or stopped reading the file at that record before the fixes."""
    text = make_page(1, "http://p.test/", "en").html()
    pages = [
        Page("http://[broken/private/a", text),  # robots.url_path: urlsplit ValueError crashed the optout step
        Page("http://p.test/old", text, date="0001-01-01T00:00:00+01:00"),
        Page("http://p.test/nul-charset", text, content_type="text/html; charset=utf-8\x00"),
        Page("http://p.test/chunked", b"-4\n\n", extra_headers=(("Transfer-Encoding", "chunked"),)),
        Page("http://p.test/last", make_page(2, "http://p.test/last", "en").html()),
    ]
    path = tmp_path / "poison.warc.gz"
    write_warc(path, pages)
    manifest = run_build([path], tmp_path / "r")
    docs, ledger = check_release(tmp_path / "r", manifest)
    (entry,) = manifest["inputs"]
    assert entry["read_stopped"] is None and entry["eligible"] == len(pages)
    assert "http://p.test/last" in docs["url"].to_list()
    assert rows(tmp_path / "r", "ledger").height == ledger.height


def test_overflowing_content_length_is_read_cleanly(tmp_path):
    # warc.py: fastwarc frames by 0, we used 10**20: the record length overflowed Int64 and polars raised
    path = tmp_path / "cl.warc"
    write_warc(path, [Page("http://a.test/1", "<p>one</p>"), Page("http://a.test/2", "<p>two</p>")], gzip=False)
    data = path.read_bytes()
    second = data.index(b"WARC/1.0", data.index(b"http://a.test/2") - 400)
    head_end = data.index(b"\r\n\r\n", second)
    cl = data.index(b"Content-Length: ", second, head_end)
    end = data.index(b"\r\n", cl)
    path.write_bytes(data[:cl] + b"Content-Length: 99999999999999999999" + data[end:])
    df, report, _ = read_all(path)
    assert df["url"].to_list() == ["http://a.test/1", "http://a.test/2"]
    assert df["read_error"].to_list() == [None, "read_truncated"]  # its block "ends" past the end of the file
    data = path.read_bytes()
    request = data.index(b"WARC/1.0", second + 1)  # the record after it is read: the span ends there
    assert df["warc_record_length"][1] == request - second and report.records_by_type["request"] == 2


def test_non_chunked_gzip_arc_reports_a_real_offset(tmp_path):
    # warc.py _parse_arc: warcio's offset for a one-member ARC is negative; read_stopped.offset was -723
    source = FIXTURES / "warc" / "warcio" / "example.arc.gz"
    if not source.is_file():
        pytest.skip("shared fixture example.arc.gz absent")
    path = tmp_path / "one-member.arc.gz"
    path.write_bytes(gzip.compress(gzip.decompress(source.read_bytes()), mtime=0))
    _, report, _ = read_all(path)
    assert report.read_stopped is not None and report.read_stopped["offset"] >= 0


@pytest.mark.parametrize(
    "pattern", ["/" + "*" * 5000 + "x$", "/" + "*a" * 300, "/" + "*a" * 300 + "b$", "*" + "a*" * 300 + "$"]
)
def test_robots_patterns_cannot_backtrack_exponentially(pattern):
    # robots.py path_matches was a regex: '/' + '*' * 30 + 'x$' against a 26-character path ran > 20 s
    parsed = robots.parse(f"User-agent: *\nDisallow: {pattern}\n")
    start = time.perf_counter()
    for path in ("/" + "a" * 3000 + "b", "/" + "a" * 3000, "/x"):
        robots.decide(parsed, "https://e.test" + path, ["GPTBot"])
        tdmrep.decide(
            "https://e.test" + path,
            ["GPTBot"],
            well_known=tdmrep.parse_file(f'[{{"location": "{pattern}", "tdm-reservation": 1}}]'),
        )
    assert time.perf_counter() - start < 2


@pytest.mark.parametrize("html", [b"<meta " * 100_000, b"<meta " + b"x" * 400_000 + b">", b"<meta a=" * 60_000])
def test_meta_tag_scan_is_linear(html):
    # base.py html_meta: '<meta[^>]*>' and the attribute regex were quadratic (20k '<meta ' took 5 s)
    with deadline(2, "html_meta"):
        html_meta(html)


def test_parsers_accept_str_with_lone_surrogates():
    # robots.parse / tdmrep.parse_file: str.encode('utf-8') raised UnicodeEncodeError; path normalisation too
    assert robots.parse("User-agent: *\nDisallow: /\ud800\n").groups
    assert tdmrep.parse_file("[\ud800]").malformed
    assert robots.url_path("/\udcff") == "/%FF"
    assert robots.decide(robots.parse(b"User-agent: *\nDisallow: /a\n"), "https://e.test/a\ud800", ["x"])[0]


def test_invalid_ipv6_url_still_has_a_path():
    parsed = robots.parse(b"User-agent: *\nDisallow: /private/\n")
    assert not robots.decide(parsed, "http://[broken/private/a?q#f", ["GPTBot"])[0].allowed
    assert robots.url_path("http://[::1/x y?q=1#f") == "/x%20y?q=1"

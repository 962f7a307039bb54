"""Extraction: charset handling and the reasons a payload yields no document."""

import codecs

import polars as pl
import pytest

from pipeline.config import ExtractConfig, RunConfig
from pipeline.sources.base import RECORD_SCHEMA
from pipeline.steps.extract import ExtractStep, Undecodable, decode_payload
from pipeline.synthetic import make_page


def records(rows: list[dict]) -> pl.DataFrame:
    full = [{name: row.get(name) for name in RECORD_SCHEMA} | {"warc_record_offset": i} for i, row in enumerate(rows)]
    return pl.DataFrame(full, schema=RECORD_SCHEMA)


@pytest.fixture(scope="module", params=["trafilatura", "resiliparse"])
def step(request) -> ExtractStep:
    return ExtractStep(RunConfig(extract=ExtractConfig(extractor=request.param)))


def test_article_text_and_title_are_extracted_without_boilerplate(step):
    page = make_page(7, "http://a.test/x", "de")
    result = step.apply(records([{"payload": page.html().encode(), "content_type": "text/html"}]))
    assert result.removed.is_empty()
    row = result.kept.row(0, named=True)
    assert page.paragraphs[0][:60] in row["text"]
    assert "Imprint" not in row["text"]
    assert row["title"]
    assert row["extractor"].startswith(step.config.extract.extractor + " ")
    assert row["charset"] == "utf-8"


def test_reasons_for_pages_without_text(step):
    batch = records(
        [
            {"payload": b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 20, "content_type": "text/html"},
            {"payload": b"<html><body><script>var x = 1;</script></body></html>", "content_type": "text/html"},
        ]
    )
    removed = step.apply(batch).removed
    assert removed["reason"].to_list() == ["extract_undecodable", "extract_no_text"]
    assert removed["stage"].unique().to_list() == ["extract"]


def test_prextracted_text_passes_through(step):
    result = step.apply(records([{"text": "already extracted text", "record_type": "row"}]))
    row = result.kept.row(0, named=True)
    assert row["text"] == "already extracted text"
    assert row["extractor"] is None


def test_plain_text_payload_is_kept_verbatim(step):
    result = step.apply(records([{"payload": b"Zeile eins.\nZeile zwei.", "content_type": "text/plain"}]))
    assert result.kept["text"].to_list() == ["Zeile eins.\nZeile zwei."]


PAGE_16 = "<html><body><p>Grüezi: Ünïcödé in UTF-16, 日本語 too.</p></body></html>"


def test_mislabelled_charset_falls_back_to_a_charset_that_decodes():
    text = "Grüezi mitenand, das Café an der Aare ist geöffnet. " * 5
    latin1 = f"<html><body><p>{text}</p></body></html>".encode("latin-1")
    decoded, charset = decode_payload(latin1, "utf-8")  # the header lies: the bytes are latin-1
    assert "Grüezi" in decoded and "Café" in decoded
    assert charset != "utf-8"


def test_meta_charset_wins_over_guessing():
    body = '<html><head><meta charset="windows-1252"></head><body>Öl für 5 €</body></html>'.encode("cp1252")
    decoded, charset = decode_payload(body, None)
    assert "Öl für 5 €" in decoded and charset == "cp1252"


@pytest.mark.parametrize(
    ("encoded", "header"),
    [
        (codecs.BOM_UTF16_LE + PAGE_16.encode("utf-16-le"), None),  # the BOM alone decides
        (codecs.BOM_UTF16_BE + PAGE_16.encode("utf-16-be"), "iso-8859-1"),  # and overrides a wrong label
        (PAGE_16.encode("utf-16-le"), "UTF-16LE"),  # no BOM: the server's UTF-16 label
        (codecs.BOM_UTF8 + PAGE_16.encode("utf-8"), "windows-1252"),
    ],
)
def test_byte_order_marks_and_utf16_labels_decode_before_the_binary_check(encoded, header):
    decoded, charset = decode_payload(encoded, header)
    assert decoded.lstrip("\ufeff") == PAGE_16  # the text itself, whatever the charset is called
    assert charset.startswith("utf-")


def test_binary_payload_is_undecodable():
    with pytest.raises(Undecodable):
        decode_payload(bytes(1000), None)


def test_nesting_depth_is_measured_only_where_it_could_matter():
    from pipeline.steps.extract import MAX_NESTING, nesting_depth

    assert nesting_depth("<div>" * 10 + "x" + "</div>" * 10) == 0  # too few tags to scan
    deep = "<html><body>" + "<div><br><img src=x>" * 3000 + "x" + "</div>" * 3000 + "</body></html>"
    assert nesting_depth(deep) == 3002 > MAX_NESTING  # void elements do not nest
    flat = "<p>a</p>" * 5000
    assert nesting_depth(flat) == 1

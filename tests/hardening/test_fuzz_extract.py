"""Property-based fuzzing of the HTML -> text step (`ExtractStep`) on batches shaped like the reader's output.

Every row is kept or removed with an extract reason; nothing raises, nothing is lost, time is bounded.
"""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.config import RunConfig
from pipeline.sources.base import RECORD_SCHEMA
from pipeline.steps.extract import ExtractStep
from pipeline.warc_record import split_content_type
from tests.hardening.support import deadline, fuzz_settings

REASONS = {"extract_undecodable", "extract_failed", "extract_no_text"}
TAGS = ["<html>", "<head>", "<title>", "</title>", "<body>", "<p>", "</p>", "<div>", "</div>", "<br>", "<script>",
        "</script>", "<style>", "</style>", "<!--", "-->", "<![CDATA[", "]]>", "<table><tr><td>", "&amp;", "&#0;",
        "&#x110000;", "<meta charset=", "utf-16", "'", '"', "<", ">", "\x00", "\r", "\n"]  # fmt: skip
WORDS = st.sampled_from(["text", "word", "Grüße", "日本語", "\u202e", "\ufeff", "a" * 200, " "])
HTML = st.lists(st.one_of(st.sampled_from(TAGS), WORDS, st.text(max_size=20)), max_size=40).map("".join)
CHARSET = st.none() | st.sampled_from(["utf-8", "latin-1", "utf-16", "shift_jis", "x-klingon", "", "utf-8\x00", "cp1"])


def payload_of(html: str, charset: str | None) -> bytes:
    """`html` encoded as its label says when that codec exists (else UTF-8)."""
    try:
        return html.encode(charset or "utf-8")
    except (LookupError, UnicodeEncodeError, ValueError):
        return html.encode("utf-8", "surrogatepass")


ROW = st.one_of(
    st.builds(lambda h, c, ct: (payload_of(h, c), None, c, ct), HTML, CHARSET,
              st.sampled_from(["text/html", "text/plain", "application/xhtml+xml", None])),
    st.builds(lambda b, c: (b, None, c, "text/html"), st.binary(max_size=300), CHARSET),
    st.builds(lambda t: (None, t, None, None), st.text(max_size=50)),
)  # fmt: skip


def batch(rows: list[tuple]) -> pl.DataFrame:
    """RECORD_SCHEMA rows as the reader emits them: payload (or text), charset and MIME type set."""
    data = {name: [None] * len(rows) for name in RECORD_SCHEMA}
    data["warc_record_offset"] = list(range(len(rows)))
    data["record_type"] = ["response"] * len(rows)
    data["url"] = [f"http://fuzz.test/{i}" for i in range(len(rows))]
    data["http_status"] = [200] * len(rows)
    for i, (payload, text, charset, ctype) in enumerate(rows):
        header = None if charset is None else f"{ctype or 'text/html'}; charset={charset}"
        data["payload"][i], data["text"][i], data["content_type"][i] = payload, text, ctype
        data["http_charset"][i] = split_content_type(header)[1]  # as the reader derives it
    return pl.DataFrame(data, schema=RECORD_SCHEMA)


@pytest.fixture(scope="module", params=["resiliparse", "trafilatura"])
def step(request):
    return ExtractStep(RunConfig.model_validate({"extract": {"extractor": request.param}}))


@fuzz_settings(150)
@given(rows=st.lists(ROW, min_size=1, max_size=8))
def test_extract_keeps_or_explains_every_row(step, rows):
    frame = batch(rows)
    with deadline(20, f"extract ({step.extractor_name}) on {len(rows)} rows"):
        result = step.apply(frame)
    assert result.kept.height + result.removed.height == frame.height
    offsets = sorted([*result.kept["warc_record_offset"], *result.removed["warc_record_offset"]])
    assert offsets == list(range(frame.height))
    assert set(result.removed["reason"]) <= REASONS, set(result.removed["reason"])
    assert result.removed["stage"].to_list() == ["extract"] * result.removed.height
    kept = dict(zip(result.kept["warc_record_offset"], result.kept["text"], strict=True))
    for i, (payload, text, _, _) in enumerate(rows):
        if payload is None:  # rows that arrived with text pass through unchanged
            assert kept[i] == text
        elif i in kept:  # extracted text is never empty
            assert kept[i] and kept[i] == kept[i].strip()


def test_extract_survives_a_charset_with_a_nul(step):
    """codecs.lookup raises ValueError (not LookupError) on a NUL; the step falls back to detection."""
    result = step.apply(
        batch([(b"<p>text</p>", None, "utf-8", "text/html")]).with_columns(http_charset=pl.lit("utf-8\x00"))
    )
    assert result.kept.height + result.removed.height == 1

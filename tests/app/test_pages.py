"""Every page of the audit app, driven with Streamlit's AppTest on the real test release: the numbers shown
equal DuckDB's counts over the Parquet, planted pages are found (or reported removed with their reason),
document text is shown as text, and hostile input in any text box changes nothing and raises nothing."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import duckdb
import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from pipeline.release_read import table_files
from tests.app.conftest import HOSTILE_TEXT, HOSTILE_TITLE, HOSTILE_URL, OLD_URL, PII_URL, unredacted
from tests.helpers.text_identity import zero_width

APP = Path(__file__).resolve().parents[2] / "audit_app"
HOSTILE = [
    "' OR 1=1 --",
    "'; DROP TABLE documents; --",
    "%_%",
    "<script>alert(1)</script>",
    "[x](javascript:alert(1))",
    "../../../../etc/passwd",
    "%' OR 1=1 -- " * 20,  # long, but within every box's max_chars (longer input is rejected by the widget)
]


def page(name: str, **query_params: str) -> AppTest:
    at = AppTest.from_file(str(APP / "views" / f"{name}.py"), default_timeout=30)
    for key, value in query_params.items():
        at.query_params[key] = value
    return at.run()


def elements(node):
    """Every element below a node of the AppTest tree (blocks are walked, not returned)."""
    children = getattr(node, "children", None)
    if children is None:
        yield node
        return
    for child in children.values():
        yield from elements(child)


# The one st.html the app may draw: the dedup explorer's word diff (audit_app/textdiff.py), whose only tags are
# these; everything else in it must be escaped text.
DIFF_TAGS = re.compile(
    r'^<div style="[^"<>]*">|</div>$|<(del|ins) class="apertura-diff">|</(del|ins)>|^<style>[^<]*</style>$'
)


def assert_no_raw_html(at: AppTest) -> None:
    for element in elements(at._tree):
        if element.type == "html":
            assert "<" not in DIFF_TAGS.sub("", element.value), f"st.html with tags of its own: {element.value[:200]}"
        proto = getattr(element, "proto", None)
        assert not getattr(proto, "allow_html", False), f"unsafe_allow_html on {element.type}"


def texts(at: AppTest) -> str:
    parts = []
    for element in elements(at._tree):
        value = getattr(element, "value", None)
        if isinstance(value, str):
            parts.append(value)
    return "\n".join(parts)


def sql(app_release, query: str, table: str = "documents"):
    _, release, manifest, _ = app_release
    return duckdb.sql(query.replace("T", "read_parquet($f)"), params={"f": table_files(release, manifest, table)})


@pytest.fixture(scope="module")
def docs(app_release) -> pl.DataFrame:
    _, release, manifest, _ = app_release
    return pl.read_parquet(table_files(release, manifest, "documents"))


def test_overview_shows_duckdb_counts_and_charts(app_env, app_release):
    at = page("overview")
    assert not at.exception
    ((documents, words, text_bytes, domains, languages),) = sql(
        app_release,
        "select count(*), sum(word_count), sum(octet_length(encode(text))), count(distinct domain), "
        "count(distinct language) from T",
    ).fetchall()
    removed = sql(app_release, "select count(*) from T", "ledger").fetchall()[0][0]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Documents"] == f"{documents:,}"
    assert metrics["Tokens (approx.)"] == f"{round(words * 1.3):,}"
    assert metrics["Text"] == f"{text_bytes / 1000:,.1f} kB"
    assert metrics["Domains"] == f"{domains:,}"
    assert metrics["Languages"] == f"{languages:,}"
    assert metrics["Removed records"] == f"{removed:,}"
    assert "word_count" in texts(at)  # the token formula is shown
    assert len(at.get("vega_lite_chart")) == 5  # languages, domains, TLDs, dates, funnel
    assert_no_raw_html(at)

    # Crawl dates binned by their span: the planted pages span from OLD_DATE (2024-06-30) to the crawl's day.
    ((first, last),) = sql(app_release, "select min(left(date, 10)), max(left(date, 10)) from T").fetchall()
    span = (dt.date.fromisoformat(last) - dt.date.fromisoformat(first)).days
    unit = "day" if span <= 92 else "month" if span <= 3 * 366 else "year"
    spec = json.loads(at.get("vega_lite_chart")[3].proto.spec)
    assert spec["encoding"]["x"]["title"] == f"fetch {unit}"
    periods = at.dataframe[3].value["period"].tolist()  # the chart's data, shown under it
    assert {len(p) for p in periods} == {{"day": 10, "month": 7, "year": 4}[unit]}
    assert periods[0] == first[: len(periods[0])] and periods[-1] == last[: len(periods[-1])]


def test_search_finds_a_planted_url_and_pages(app_env, docs):
    at = page("search")
    assert not at.exception
    assert f"{docs.height:,} matching documents" in at.caption[0].value
    at.text_input(key="f_url").input("de.news.test/article/1").run()
    assert not at.exception
    shown = at.dataframe[0].value
    assert shown["url"].tolist() == ["http://de.news.test/article/1"]
    assert shown["id"].iloc[0].startswith("document?release=releases%2Fr1&doc=")  # document view, this release
    assert len(at.get("download_button")) == 2

    at.text_input(key="f_url").input("").run()
    at.selectbox(key="page_size").set_value(10).run()
    assert at.number_input(key="page").value == 1
    at.number_input(key="page").set_value(2).run()
    assert at.dataframe[0].value.shape[0] == docs.height - 10

    at.date_input(key="f_dates").set_value((dt.date(2024, 6, 30), dt.date(2024, 6, 30))).run()
    assert at.dataframe[0].value["url"].tolist() == [OLD_URL]
    assert at.number_input(key="page").value == 1  # new filters start at the first page

    at.multiselect(key="f_lang").set_value(["de"]).run()
    assert not at.exception
    assert "No document matches" in at.info[0].value


@pytest.mark.parametrize("hostile", HOSTILE)
def test_search_hostile_input(app_env_no_index, hostile):
    """The DuckDB filters (the text box is a substring filter without an index; with one: test_index_pages)."""
    at = page("search")
    for key in ("f_domain", "f_url", "f_text"):
        at.text_input(key=key).input(hostile).run()
        assert not at.exception, (key, hostile)
        assert at.text_input(key=key).value == hostile
        if key == "f_domain":  # not a domain: refused with what is expected, never answered
            assert "not a domain" in at.warning[0].value, hostile
        else:
            assert "No document matches" in at.info[0].value, (key, hostile)
        assert not at.dataframe
        at.text_input(key=key).input("").run()
    assert_no_raw_html(at)


def test_document_text_is_shown_as_text(app_env, docs):
    doc_id = docs.filter(pl.col("url") == HOSTILE_URL)["id"][0]
    at = page("document", doc=doc_id)
    assert not at.exception
    assert "In the training data" in at.success[0].value
    shown = [c.value for c in at.code]
    assert any(HOSTILE_TEXT in value for value in shown)  # verbatim, in a code block
    assert HOSTILE_URL in shown
    assert at.subheader[0].value != HOSTILE_TITLE and "\\<b\\>" in at.subheader[0].value  # Markdown-escaped
    assert_no_raw_html(at)
    chain = at.dataframe[0].value
    fields = dict(zip(chain["field"], chain["value"], strict=True))
    row = docs.filter(pl.col("id") == doc_id).row(0, named=True)
    for column in ("file_path", "source_sha256", "warc_record_id", "warc_payload_digest", "extractor", "config_hash"):
        assert fields[column] == str(row[column])
    assert fields["warc_record_offset"] == str(row["warc_record_offset"])
    assert fields["config_hash matches manifest"] == "yes"
    assert at.query_params["doc"] == [doc_id] or at.query_params["doc"] == doc_id


def test_document_removed_record_and_typed_ids(app_env, app_release):
    removed = sql(app_release, "select id, duplicate_of from T where reason = 'dedup_near'", "ledger").fetchall()[0]
    at = page("document", doc=removed[0])
    assert not at.exception
    assert "dedup_near" in at.error[0].value and "dedup" in at.error[0].value
    cluster = at.dataframe[-1].value
    assert cluster["status"].tolist() == ["kept", "removed"]

    for hostile in HOSTILE:
        at.text_input(key="doc_id").input(hostile[:200]).run()
        assert not at.exception
        assert "No document and no ledger row" in at.warning[0].value
        assert hostile[:200].strip() in [c.value for c in at.code]  # echoed as text
    at.text_input(key="doc_id").input(removed[1]).run()
    assert "In the training data" in at.success[0].value


def test_am_i_in_reports_a_removed_url_with_its_reason(app_env):
    at = page("am_i_in")
    assert not at.exception
    at.text_input(key="q_url").input("http://en.blog.test/short").run()
    assert not at.exception
    assert "Not in the training data" in at.info[0].value
    assert "gopher_short_doc" in texts(at).replace("\\", "")
    ledger = at.dataframe[0].value
    assert ledger["reason"].tolist() == ["gopher_short_doc"]
    assert ledger["detail"].iloc[0].startswith("words=")


def test_am_i_in_duplicates_domains_and_text(app_env, docs):
    at = page("am_i_in")
    at.text_input(key="q_url").input("http://mirror.test/copy-of-en-0").run()
    said = texts(at).replace("\\", "")
    assert "dedup_exact" in said and "http://en.news.test/article/0" in said

    at = page("am_i_in")
    at.text_input(key="q_domain").input("www.fr.news.test").run()
    assert "In the training data: 3 documents" in at.success[0].value.replace("\\", "")
    at.text_input(key="q_domain").input("img.test").run()
    assert "all 2 records from img.test (with its subdomains) were removed" in at.info[0].value.replace("\\", "")
    at.text_input(key="q_domain").input("unknown.example").run()
    assert "this release has no record from" in at.info[0].value

    at = page("am_i_in")
    text = docs.filter(pl.col("url") == OLD_URL)["text"][0]
    at.text_area(key="q_text").input(text.upper()).run()
    assert not at.exception
    assert at.success[0].value.startswith("In the training data")
    assert "the same text up to case" in at.success[0].value
    assert "Answered from the membership index" in texts(at)
    at.text_area(key="q_text").input("Nothing in this corpus reads like this sentence at all.").run()
    assert at.info[0].value.startswith("Not in the training data")


def test_am_i_in_text_without_index(app_env_no_index, docs):
    """The fallback: exact hash, normalised hash and substring over DuckDB, and the page says so."""
    at = page("am_i_in")
    text = docs.filter(pl.col("url") == OLD_URL)["text"][0]
    at.text_area(key="q_text").input(text.upper()).run()
    assert not at.exception
    assert "No index" in texts(at) and "no membership index" in texts(at)
    assert "In the training data: this text is in 1 document" in at.success[0].value.replace("\\", "")
    assert at.dataframe[0].value["url"].tolist() == [OLD_URL]
    at.text_area(key="q_text").input("Nothing in this corpus reads like this sentence at all.").run()
    # without an index near copies are not looked for: "not found", never "not in"
    assert at.warning[0].value.startswith("Not found") and "does not mean the text is not in" in at.warning[0].value


def pii_copy(docs) -> str:
    """The PII_URL page's text as it was (with the personal data the release replaced) and with zero-width
    characters inside its words: an exact copy of the document as the release stores texts."""
    return zero_width(unredacted(docs.filter(pl.col("url") == PII_URL)["text"][0]))


def test_am_i_in_a_copy_with_personal_data_and_zero_width_characters(app_env, docs):
    at = page("am_i_in")
    at.text_area(key="q_text").input(pii_copy(docs)).run()
    assert not at.exception
    shown = texts(at).replace("\\", "")  # Markdown escapes off
    verdict = at.success[0].value.replace("\\", "")
    assert verdict.startswith("In the training data: an exact copy is in 1 document(s)")
    assert PII_URL in shown and "2 e-mail addresses replaced by <EMAIL_ADDRESS>" in shown


def test_am_i_in_a_copy_with_personal_data_and_zero_width_characters_without_index(app_env_no_index, docs):
    at = page("am_i_in")
    at.text_area(key="q_text").input(pii_copy(docs)).run()
    assert not at.exception and "No index" in texts(at)
    assert at.success[0].value.replace("\\", "").startswith("In the training data: this text is in 1 document")
    assert "1 IBAN replaced by <IBAN>" in texts(at).replace("\\", "")


@pytest.mark.parametrize("hostile", HOSTILE)
def test_am_i_in_hostile_input(app_env, hostile):
    at = page("am_i_in")
    at.text_input(key="q_domain").input(hostile)
    at.text_input(key="q_url").input(hostile)
    at.text_area(key="q_text").input(hostile)
    at.checkbox(key="q_prefix").check()
    at.run()
    assert not at.exception
    assert not at.success  # nothing found, no injection
    assert_no_raw_html(at)


def test_removals_by_reason_with_examples(app_env, app_release):
    at = page("removals")
    assert not at.exception
    counts = app_release[2]["counts"]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Removed records"] == f"{counts['removed']:,}"
    assert metrics["Input records"] == f"{counts['inputs']:,}"
    assert len(at.get("vega_lite_chart")) == 1
    summary = at.dataframe[0].value
    expected = sql(app_release, "select stage, reason, count(*) from T group by all", "ledger").fetchall()
    assert sorted(zip(summary["stage"], summary["reason"], summary["records"], strict=True)) == sorted(expected)
    assert "agrees with the manifest" in texts(at)

    at.selectbox(key="reason").set_value("quality / gopher_short_doc").run()
    assert not at.exception
    assert at.dataframe[1].value["url"].tolist() == ["http://en.blog.test/short"]


def test_entrypoint_routes_and_shows_the_release(app_env, app_release):
    at = AppTest.from_file(str(APP / "app.py"), default_timeout=30).run()
    assert not at.exception
    assert at.title[0].value == "Overview"
    assert at.sidebar.selectbox(key="release").value == "releases/r1"
    assert [c.value for c in at.sidebar.code] == ["r1", app_release[2]["config_hash"]]
    assert at.sidebar.button(key="verify_files")
    # Not clicked here: with st.navigation, AppTest drops the sidebar on every rerun after the first
    # (streamlit 1.67; the same happens with a two-line app). `verify_files` is tested in test_queries.py.


def test_a_release_outside_the_data_root_is_refused(app_env, monkeypatch):
    monkeypatch.setenv("APERTURA_RELEASE", "../../../../etc")
    at = page("overview")
    assert not at.exception
    assert "outside this app's data directory" in at.error[0].value
    assert str(app_env.parent.parent) not in texts(at)  # the server's directories are not named
    monkeypatch.delenv("APERTURA_RELEASE")
    at = page("search")
    assert not at.exception and "No release selected" in at.error[0].value


def test_overview_draws_before_the_text_size_is_known(app_env, app_release, monkeypatch):
    """The text size reads every text (seconds on a large release): it is measured in the background and the
    page does not wait for it; once known, the metric shows it."""
    import threading

    import streamlit as st

    from audit_app import queries

    release = threading.Event()
    slow = queries.text_bytes

    def held(rel):
        release.wait(30)
        return slow(rel)

    monkeypatch.setattr(queries, "text_bytes", held)
    st.cache_resource.clear()  # the release is reopened, which starts the background measurement
    try:
        at = page("overview")
        assert not at.exception
        metrics = {m.label: m.value for m in at.metric}
        assert metrics["Text"] == "…" and metrics["Documents"] != "…"
        release.set()
        for _ in range(100):
            at.run()
            if {m.label: m.value for m in at.metric}["Text"] != "…":
                break
        expected = sql(app_release, "select sum(octet_length(encode(text))) from T").fetchall()[0][0]
        assert {m.label: m.value for m in at.metric}["Text"] == f"{expected / 1000:,.1f} kB"
    finally:
        release.set()
        st.cache_resource.clear()


def test_overview_names_unreadable_spans(app_env, tmp_path, monkeypatch):
    """A release with damaged input bytes: the overview says how many spans (and bytes) were no readable
    record, each a ledger row; an undamaged release says every byte is accounted for."""
    from pipeline.cli import build
    from pipeline.config import RunConfig
    from tests.helpers.warcs import make_pages, write_warc

    at = page("overview")
    assert not [w for w in at.warning if "Unreadable spans" in w.value]
    assert any("Unreadable spans: none" in c.value for c in at.caption)

    root = tmp_path / "root"
    path = root / "damaged.warc.gz"
    root.mkdir()
    write_warc(path, make_pages(3, host="hole.test", size=300))
    data = path.read_bytes()
    path.write_bytes(data[:400] + b"\x00" * 50 + data[400:])  # 50 zero bytes inside the second record's member
    build([str(path)], RunConfig.model_validate({"extract": {"extractor": "resiliparse"}}), root / "r", index=False)
    monkeypatch.setenv("APERTURA_DATA_ROOT", str(root))
    monkeypatch.setenv("APERTURA_RELEASE", "r")
    at = page("overview")
    assert not at.exception
    (warning,) = [w.value for w in at.warning if "Unreadable spans" in w.value]
    assert "read_unparsable" in warning and "1 input file" in warning
    import polars as pl

    hole = pl.read_parquet(root / "r" / "ledger").filter(pl.col("record_type") == "unreadable")["id"][0]
    at = page("document", doc=hole)
    assert not at.exception
    assert any("unreadable span of its input" in i.value for i in at.info)
    assert not [b for b in at.button if b.key == "recheck"]  # nothing to re-check

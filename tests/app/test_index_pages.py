"""The search and "Am I in?" pages answered by the membership index (R/index/) of a release built by the real
command line (`apertura run data/sample`), and their fallback to DuckDB when the index is gone or stale: the
page must say which path answered, and never show a traceback."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import polars as pl
import pytest

from audit_app import membership, queries
from tests.app.conftest import HOSTILE_TEXT, HOSTILE_URL
from tests.app.test_pages import HOSTILE, assert_no_raw_html, page, texts

TANTIVY_SYNTAX = [
    'title:garden AND (quiet OR "busy) ^2 ~1 *',
    "text:[a TO z] -festival +garden",
    "garden\\ festival/regex/ {1 TO 5} !x && || :",
    '"""',
    "SELECT * FROM entries; DROP TABLE entries; --",
    "<img src=x onerror=alert(1)> **bold** [x](javascript:alert(1))",
]


def at_release(monkeypatch, root: Path, release: Path) -> None:
    monkeypatch.setenv(queries.DATA_ROOT_ENV, str(root))
    monkeypatch.setenv("APERTURA_RELEASE", str(release.relative_to(root)))


@pytest.fixture
def cli_env(cli_release, monkeypatch) -> Path:
    root, release = cli_release
    at_release(monkeypatch, root, release)
    return release


@pytest.fixture(scope="module")
def cli_docs(cli_release) -> pl.DataFrame:
    _, release = cli_release
    return pl.read_parquet(release / "documents" / "*.parquet")


def first_words(text: str, n: int) -> str:
    return " ".join(text.split()[:n])


def paragraph(text: str) -> str:
    """The longest paragraph of a document (dozens of words: more than the sketch's n-gram + stride)."""
    return max(text.split("\n"), key=len)


def test_search_with_index_ranks_a_planted_phrase(cli_env, cli_docs):
    doc = cli_docs.filter(pl.col("language") == "en").sort("id").row(0, named=True)
    phrase = first_words(paragraph(doc["text"]), 6)
    at = page("search")
    assert not at.exception
    assert at.text_input(key="f_text").label == "Text"  # a word search, not "Text contains"
    at.text_input(key="f_text").input(f'"{phrase}"').run()
    assert not at.exception
    assert "ranked full-text search (index)" in texts(at).lower()
    hits = at.dataframe[0].value
    assert hits["id"].iloc[0].endswith(doc["id"])  # the planted phrase's document ranks first
    assert hits["rank"].tolist() == list(range(1, len(hits) + 1))
    assert hits["score"].is_monotonic_decreasing
    assert "«" in hits["snippet"].iloc[0]  # highlighted words, as text
    snippets = [m.value for m in at.markdown if "`" in m.value and "**" in m.value]
    assert snippets and doc["id"] in snippets[0]
    assert_no_raw_html(at)


def test_search_with_index_honours_the_language_filter(cli_env, cli_docs):
    en = cli_docs.filter(pl.col("language") == "en").sort("id").row(0, named=True)
    de = cli_docs.filter(pl.col("language") == "de").sort("id").row(0, named=True)
    # one distinctive word of each: an OR query that finds documents in both languages
    query = f"{paragraph(en['text']).split()[2]} {paragraph(de['text']).split()[2]}"
    at = page("search")
    at.text_input(key="f_text").input(query).run()
    assert set(at.dataframe[0].value["language"]) >= {"en", "de"}
    at.multiselect(key="f_lang").set_value(["de"]).run()
    assert not at.exception
    assert "in de" in texts(at)
    assert set(at.dataframe[0].value["language"]) == {"de"}
    at.multiselect(key="f_lang").set_value(["de", "fr"]).run()  # several: filtered on the ranked hits
    assert set(at.dataframe[0].value["language"]) <= {"de", "fr"}
    at.multiselect(key="f_lang").set_value([]).run()
    # the other filters still apply, to the ranked hits
    at.text_input(key="f_domain").input("de.news.test").run()
    assert not at.exception
    shown = at.dataframe[0].value
    assert set(shown["url"].str.extract(r"//([^/]+)/")[0]) == {"de.news.test"}


@pytest.mark.parametrize("hostile", [*HOSTILE, *TANTIVY_SYNTAX])
def test_search_with_index_hostile_queries_are_harmless(cli_env, hostile):
    at = page("search")
    at.text_input(key="f_text").input(hostile[:1_000]).run()
    assert not at.exception, hostile
    assert at.text_input(key="f_text").value == hostile[:1_000]
    said = texts(at).lower()
    assert "ranked full-text search (index)" in said or "cannot be checked" in said
    assert_no_raw_html(at)


def test_search_snippet_with_html_is_escaped(app_env):
    at = page("search")
    at.text_input(key="f_text").input("alert apertura inside a sentence").run()
    assert not at.exception
    hits = at.dataframe[0].value
    assert hits["url"].iloc[0] == HOSTILE_URL
    shown = [m.value for m in at.markdown if "alert" in m.value]
    assert shown and "<script>" not in shown[0] and "\\<script\\>" in shown[0]
    assert_no_raw_html(at)


def test_am_i_in_with_index_finds_a_paragraph_with_its_span(cli_env, cli_docs):
    doc = cli_docs.filter(pl.col("language") == "fr").sort("id").row(0, named=True)
    passage = paragraph(doc["text"])
    at = page("am_i_in")
    at.text_area(key="q_text").input(passage).run()
    assert not at.exception
    verdict = at.success[0].value if at.success else at.warning[0].value
    assert verdict.startswith(("In the training data", "Partly in"))
    assert "Answered from the membership index" in texts(at)
    matches = at.dataframe[0].value
    assert doc["id"] in " ".join(matches["id"])
    assert {"jaccard", "overlap", "how", "longest_span_words"} <= set(matches.columns)
    spans = [c.value for c in at.code]
    assert any(span in passage for span in spans if len(span.split()) >= 8)  # the shared passage, verbatim
    said = texts(at)
    assert "false-positive rate per passage" in said and "verified on the document's text" in said
    assert_no_raw_html(at)


def test_am_i_in_with_index_names_removed_copies_and_their_reason(cli_env, cli_docs):
    # data/sample has a mirror page removed as an exact duplicate of en.news.test/article/0
    text = cli_docs.filter(pl.col("url") == "http://en.news.test/article/0")["text"][0]
    at = page("am_i_in")
    at.text_area(key="q_text").input(text).run()
    assert not at.exception
    assert at.success[0].value.startswith("In the training data")
    removed = at.dataframe[1].value
    assert "dedup" in set(removed["stage"]) and "dedup_exact" in set(removed["reason"])
    shown = texts(at).replace("\\", "")  # markdown escapes removed
    assert "1 record removed by duplicates: An exact copy of a kept document" in shown  # the reason in words
    assert "(dedup_exact)" in shown  # then its code


def test_am_i_in_with_index_absent_text_is_not_in(cli_env):
    at = page("am_i_in")
    at.text_area(key="q_text").input(
        "Zebra quantum marmalade flew over seventeen purple bicycles beyond the harbour of Valparaiso at dawn."
    ).run()
    assert not at.exception
    assert at.info[0].value.startswith("Not in the training data")
    assert not at.success and not at.dataframe


@pytest.mark.parametrize("hostile", [*HOSTILE, *TANTIVY_SYNTAX, HOSTILE_TEXT])
def test_am_i_in_with_index_hostile_text_is_harmless(cli_env, hostile):
    at = page("am_i_in")
    at.text_area(key="q_text").input(hostile).run()
    assert not at.exception
    assert not at.success
    assert_no_raw_html(at)


def test_pages_fall_back_without_an_index(cli_release, cli_docs, monkeypatch):
    root, release = cli_release
    copy = release.parent / "sample-no-index"
    shutil.copytree(release, copy, ignore=shutil.ignore_patterns("index"))
    at_release(monkeypatch, root, copy)
    doc = cli_docs.sort("id").row(0, named=True)

    at = page("search")
    assert at.text_input(key="f_text").label == "Text contains"
    at.text_input(key="f_text").input(first_words(doc["text"], 4)).run()
    assert not at.exception
    said = texts(at)
    # before the scan: what it reads (counted here from the tables), how long it may take, how to avoid it
    assert f"No index: substring scan (slower): it reads the text of all {cli_docs.height:,} documents (" in said
    assert "of Parquet), which can take under a second; the index answers in milliseconds; build one with" in said
    assert "apertura index" in said
    assert doc["id"] in " ".join(at.dataframe[0].value["id"])

    at = page("am_i_in")
    at.text_area(key="q_text").input(doc["text"]).run()
    assert not at.exception
    removed = duckdb.sql("select count(*) from read_parquet($f)", params={"f": str(copy / "ledger" / "*.parquet")})
    assert (f"it reads the text of all {cli_docs.height:,} documents and {removed.fetchall()[0][0]:,} removed records"
            in texts(at))  # fmt: skip
    assert "In the training data: this text is in 1 document" in at.success[0].value.replace("\\", "")


def test_pages_fall_back_with_a_stale_index(cli_release, cli_docs, monkeypatch):
    root, release = cli_release
    copy = release.parent / "sample-stale-index"
    shutil.copytree(release, copy)
    (copy / "manifest.json").write_text((copy / "manifest.json").read_text() + "\n")  # another manifest sha256
    at_release(monkeypatch, root, copy)
    doc = cli_docs.sort("id").row(0, named=True)

    at = page("am_i_in")
    at.text_area(key="q_text").input(doc["text"]).run()
    assert not at.exception
    assert "cannot be used" in at.warning[0].value and "another manifest" in at.warning[0].value
    assert "In the training data: this text is in 1 document" in at.success[0].value.replace("\\", "")

    at = page("search")
    at.text_input(key="f_text").input(first_words(doc["text"], 4)).run()
    assert not at.exception
    assert "cannot be used" in at.warning[0].value
    assert doc["id"] in " ".join(at.dataframe[0].value["id"])


def test_a_damaged_index_falls_back(cli_release, cli_docs, monkeypatch):
    root, release = cli_release
    copy = release.parent / "sample-damaged-index"
    shutil.copytree(release, copy)
    (copy / "index" / "index.json").write_text("{not json")
    at_release(monkeypatch, root, copy)
    at = page("am_i_in")
    at.text_area(key="q_text").input(cli_docs["text"][0]).run()
    assert not at.exception
    assert "cannot be used" in at.warning[0].value
    assert "In the training data" in at.success[0].value


def test_marked_snippet_and_stamp(cli_release):
    assert membership.marked("a quiet  garden", [(2, 7), (9, 15)]) == "a «quiet» «garden»"
    assert membership.marked("abc", [(1, 1), (5, 2)]) == "abc"
    _, release = cli_release
    assert membership.stamp(release) is not None
    assert membership.stamp(release / "nowhere") is None


def test_the_scan_estimate_grows_with_the_documents_parquet():
    """The time said before a scan: from the manifest's documents (and, for "Am I in?", ledger) Parquet bytes."""
    from audit_app import common

    manifest = {"files": [{"table": "documents", "rows": 600_000, "bytes": 1_000_000_000},
                          {"table": "documents", "rows": 400_000, "bytes": 500_000_000},
                          {"table": "ledger", "rows": 300_000, "bytes": 700_000_000},
                          {"table": "signatures", "rows": 1_000_000, "bytes": 9_000_000_000}]}  # fmt: skip
    assert common.scan_size(manifest) == ({"documents": 1_000_000}, 1_500_000_000)
    assert common.scan_size(manifest, ("documents", "ledger")) == ({"documents": 1_000_000, "ledger": 300_000},
                                                                   2_200_000_000)  # fmt: skip
    assert common._about(common.scan_seconds(1_500_000_000)) == f"about {1.5 * common.SCAN_SECONDS_PER_GB:,.0f} s"
    assert common._about(common.scan_seconds(20_000_000)) == "under a second"


WARM_CHILD = """
import sys, threading
from pathlib import Path
from audit_app import common, membership
release = Path(sys.argv[1])
if sys.argv[2] == 'app':  # as a page opens it: the cached IndexState, and the warm-up started beside it
    index = common._open_index(str(release), membership.stamp(release)).index
    for thread in threading.enumerate():
        if thread.name == 'apertura-index-warm-up':
            thread.join(120)
else:
    index = membership.open_membership(release)
loaded = 'pipeline.fingerprints.kernels' in sys.modules
print(loaded, index.check_text(sys.argv[3]).verdict)
"""


def test_opening_the_index_loads_the_text_kernels_in_the_background(cli_release, cli_docs):
    """The first text check of a server process imported and loaded the numba kernels (1.1-1.3 s on 1M documents,
    bench/RESULTS.md); the app now starts that when it opens the index. Checked in fresh processes: opening the
    index alone does not load them, the app's opening does (before any check), and a check after it still
    answers (a kept document's text: in)."""
    import subprocess
    import sys

    _, release = cli_release
    text = cli_docs.sort("id")["text"][0]
    env = {**__import__("os").environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    runs = {}
    for mode in ("bare", "app"):
        done = subprocess.run([sys.executable, "-c", WARM_CHILD, str(release), mode, text], env=env,
                              capture_output=True, text=True, timeout=300, check=True)  # fmt: skip
        runs[mode] = done.stdout.split()
    assert runs["bare"] == ["False", "in"]
    assert runs["app"] == ["True", "in"]

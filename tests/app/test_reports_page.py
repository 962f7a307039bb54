"""The Reports page: the EU summary, Croissant and datasheet of the open release, offered as downloads."""

from __future__ import annotations

from pathlib import Path

import duckdb

from pipeline.release import load_manifest, table_files
from tests.app.test_pages import assert_no_raw_html, page, texts


def _hashes(release: Path) -> dict[str, int]:
    return {str(p): p.stat().st_mtime_ns for p in release.rglob("*") if p.is_file()}


def test_reports_page_offers_the_summary_computed_from_the_release(app_env):
    before = _hashes(app_env)
    at = page("reports").run()
    assert not at.exception, at.exception
    documents = duckdb.sql(
        "select count(*) from read_parquet($f)", params={"f": table_files(app_env, load_manifest(app_env), "documents")}
    ).fetchall()[0][0]
    shown = texts(at)
    assert "Public Summary of Training Content" in shown
    assert f"{documents:,} documents" in shown  # the document count the summary states is the table's
    # before computing, the page says what that reads (every text) and so about how long it may take
    assert f"this reads the text of all {documents:,} documents (" in shown and "of Parquet), which can take" in shown
    assert_no_raw_html(at)
    assert _hashes(app_env) == before  # nothing under the release was written


def test_reports_page_uses_the_provider_given_and_never_opens_inputs(app_env):
    at = page("reports").run()
    # unset fields are asked for in words, not as command-line flags (the app has no flags)
    assert "not recorded in the release; provider not given" in texts(at).split("1.2")[0]
    assert "give --" not in texts(at)
    at.text_input[0].input("Example AI <ai@example.org>")
    at.button[0].click()
    at = at.run()
    assert not at.exception, at.exception
    assert "Example AI" in texts(at)
    assert "provider not given" not in texts(at).split("1.2")[0]

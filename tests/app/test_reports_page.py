"""The Reports page: the EU summary, Croissant and datasheet of the open release, offered as downloads."""

from __future__ import annotations

import hashlib
import json
import shutil
import threading
from pathlib import Path

import duckdb
import pytest

from audit_app import queries
from audit_app.queries import APP_SUMMARY_OPTIONS
from audit_app.queries.base import _BACKGROUND
from pipeline.release import load_manifest, table_files
from pipeline.release_read import MANIFEST
from pipeline.reports.eu_summary import build_summary
from pipeline.reports.eu_summary.cache import cached_summary
from pipeline.reports.eu_summary.compute import with_names
from tests.app.test_pages import assert_no_raw_html, page, sql, texts


def _hashes(release: Path) -> dict[str, int]:
    return {str(p): p.stat().st_mtime_ns for p in release.rglob("*") if p.is_file()}


def _ready(release: Path) -> None:
    """Waits for the summary the release's opening started in the background (a server up for a moment)."""
    root = Path(queries.data_root())
    _opened(root, release).background("eu_summary", queries.eu_summary).result(timeout=120)


def test_reports_page_offers_the_summary_computed_from_the_release(app_env, summary_cache):
    before = _hashes(app_env)
    _ready(app_env)
    at = page("reports").run()
    assert not at.exception, at.exception
    documents = duckdb.sql(
        "select count(*) from read_parquet($f)", params={"f": table_files(app_env, load_manifest(app_env), "documents")}
    ).fetchall()[0][0]
    shown = texts(at)
    assert "Public Summary of Training Content" in shown
    assert f"{documents:,} documents" in shown  # the document count the summary states is the table's
    assert_no_raw_html(at)
    assert _hashes(app_env) == before  # nothing under the release was written


def test_reports_page_uses_the_provider_given_and_never_opens_inputs(app_env):
    _ready(app_env)
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


# ---- the summary kept per release (computed once, in the background, outside the release) ----------------------


def _named_copy(release: Path, name: str, release_id: str | None = None) -> Path:
    """A copy of `release` beside it (without its index); with `release_id`, its manifest names another release,
    so the copy is a release with another manifest sha256 whose tables are the same."""
    copy = release.parent / name
    if not copy.exists():
        shutil.copytree(release, copy, ignore=shutil.ignore_patterns("index"))
        if release_id:
            manifest = json.loads((copy / MANIFEST).read_text())
            manifest["release_id"] = release_id
            (copy / MANIFEST).write_text(json.dumps(manifest, indent=2))
    return copy


@pytest.fixture
def summary_cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "apertura" / "summaries"


def _entries(cache: Path) -> list[Path]:
    return sorted(cache.glob("*.json")) if cache.is_dir() else []


def _plant(entry: Path, marker: str) -> None:
    """Rewrite a kept summary with `marker` as its 3.3 text (a field no figure depends on): shown = read from disk."""
    kept = json.loads(entry.read_text())
    kept["summary"]["other_information"] = marker
    entry.write_text(json.dumps(kept))


def test_cached_summary_equals_a_fresh_computation_and_is_read_back(app_release, summary_cache):
    _, release, _, _ = app_release
    fresh = build_summary(release, APP_SUMMARY_OPTIONS).model_dump()
    assert cached_summary(release, APP_SUMMARY_OPTIONS).model_dump() == fresh  # computed, then kept
    (entry,) = _entries(summary_cache)
    assert cached_summary(release, APP_SUMMARY_OPTIONS).model_dump() == fresh  # read back: the same summary
    _plant(entry, "READ FROM THE CACHE")
    assert cached_summary(release, APP_SUMMARY_OPTIONS).other_information == "READ FROM THE CACHE"
    assert not any(p.is_relative_to(release) for p in summary_cache.parent.rglob("*"))  # outside the release


def test_another_release_never_gets_the_cached_summary_of_another(app_release, summary_cache):
    _, release, _, _ = app_release
    other = _named_copy(release, "r1-other-id", release_id="another-release")
    cached_summary(release, APP_SUMMARY_OPTIONS)
    (entry,) = _entries(summary_cache)
    _plant(entry, "SUMMARY OF r1")
    got = cached_summary(other, APP_SUMMARY_OPTIONS)
    other_sha = hashlib.sha256((other / MANIFEST).read_bytes()).hexdigest()
    assert got.other_information != "SUMMARY OF r1"
    assert (got.general.release_id, got.general.manifest_sha256) == ("another-release", other_sha)
    # r1's entry put under the other release's name (the file a key maps to) is refused too: its key says r1
    (other_entry,) = set(_entries(summary_cache)) - {entry}
    other_entry.write_bytes(entry.read_bytes())
    got = cached_summary(other, APP_SUMMARY_OPTIONS)
    assert got.other_information != "SUMMARY OF r1" and got.general.manifest_sha256 == other_sha
    # and other options (another code of practice answer) are another entry
    options = APP_SUMMARY_OPTIONS.model_copy(update={"sme": True})
    assert cached_summary(release, options).other_information != "SUMMARY OF r1"


@pytest.mark.parametrize(
    "damage", [b"", b"{not json", b'{"key": 1}', b"[]", None], ids=["empty", "not-json", "bad-key", "list", "cut"]
)
def test_a_corrupt_cache_file_is_recomputed(app_release, summary_cache, damage):
    _, release, _, _ = app_release
    fresh = build_summary(release, APP_SUMMARY_OPTIONS).model_dump()
    cached_summary(release, APP_SUMMARY_OPTIONS)
    (entry,) = _entries(summary_cache)
    whole = entry.read_bytes()
    entry.write_bytes(whole[: len(whole) // 2] if damage is None else damage)
    assert cached_summary(release, APP_SUMMARY_OPTIONS).model_dump() == fresh
    assert entry.read_bytes() == whole  # and kept again, whole


def test_the_names_a_reader_gives_are_those_build_summary_prints(app_release):
    _, release, _, _ = app_release
    named = APP_SUMMARY_OPTIONS.model_copy(update={"provider": "Example AI <ai@example.org>", "model": "m-1"})
    assert with_names(build_summary(release, APP_SUMMARY_OPTIONS), named) == build_summary(release, named)


def _opened(root: Path, release: Path):
    from audit_app import common

    return common._open(str(queries.resolve_release(release.relative_to(root), root)), str(root.resolve()))


def test_the_page_renders_the_summary_kept_on_disk(app_release, summary_cache, monkeypatch):
    root, release, _, _ = app_release
    copy = _named_copy(release, "r1-kept")
    cached_summary(copy, APP_SUMMARY_OPTIONS)
    (entry,) = _entries(summary_cache)
    _plant(entry, "KEPT SUMMARY SHOWN")
    monkeypatch.setenv(queries.DATA_ROOT_ENV, str(root))
    monkeypatch.setenv("APERTURA_RELEASE", str(copy.relative_to(root)))
    at = page("reports")
    assert not at.exception, at.exception
    assert "KEPT SUMMARY SHOWN" in texts(at)
    assert "Public Summary of Training Content" in texts(at)


def test_the_page_says_the_summary_is_being_computed_then_shows_it(app_release, summary_cache, monkeypatch):
    root, release, _, _ = app_release
    copy = _named_copy(release, "r1-busy")
    monkeypatch.setenv(queries.DATA_ROOT_ENV, str(root))
    monkeypatch.setenv("APERTURA_RELEASE", str(copy.relative_to(root)))
    gate = threading.Event()
    busy = _BACKGROUND.submit(gate.wait, 60)  # the background thread is busy: the summary waits its turn
    try:
        at = page("reports")
        assert not at.exception, at.exception
        documents = len(sql(app_release, "select id from T").fetchall())
        shown = texts(at)
        assert "The reports are being computed" in shown and f"the text of all {documents:,} documents" in shown
        assert "Public Summary of Training Content" not in shown
    finally:
        gate.set()
    busy.result()
    _opened(root, copy).background("eu_summary", queries.eu_summary).result(timeout=60)
    at = at.run()
    assert not at.exception, at.exception
    assert "Public Summary of Training Content" in texts(at) and "being computed" not in texts(at)
    assert len(_entries(summary_cache)) == 1  # and kept for the next visit


def test_the_overview_text_size_is_the_kept_summary_total_and_the_bytes_of_every_text(app_release, summary_cache):
    root, release, _, _ = app_release
    rel = queries.open_release(release, root)
    expected = sql(app_release, "select sum(octet_length(encode(text))) from T").fetchall()[0][0]  # independent
    assert queries.text_bytes(rel) == expected == cached_summary(release, APP_SUMMARY_OPTIONS).general.totals.text_bytes
    (entry,) = _entries(summary_cache)
    kept = json.loads(entry.read_text())
    kept["summary"]["general"]["totals"]["text_bytes"] = 123  # read from the kept summary, not re-read
    entry.write_text(json.dumps(kept))
    assert queries.text_bytes(rel) == 123

"""Issue 18: a text looked for in a release without a usable membership index reads every text of the release
(seconds on a million documents). On "Am I in?", Search and Rights holders that scan runs in the background
(audit_app/common.py `scan`, `scans_done`): the page run returns at once with what is read and since when, then the
same answer the synchronous engine gives (pipeline.index.answer, queries.search); each input its own answer; a
failed scan its error on one line and no verdict; with an index nothing changes (the answer in the same run).

The scan pool (one thread) is kept busy by a gate here, so a scan of the small test release is still queued when the
page run returns, as a scan of a million documents still runs then. Each test has its own data root holding copies
of the session's release: `plain` (no index) and, where needed, `indexed` (with its index)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from audit_app import common, queries
from pipeline.index import answer as engine
from tests.app.test_pages import APP, texts

STATUS = "in the background: "  # the status while a scan runs: "Reading the text of … in the background: …"
ABSENT = "Zebra quantum marmalade flew over seventeen purple bicycles beyond the harbour tonight."
LABEL = {engine.IN: "In", engine.PARTLY: "Partly in", engine.NOT_IN: "Not in", engine.NOT_FOUND: "Not found"}


@pytest.fixture
def root(app_release, tmp_path, monkeypatch) -> Path:
    """A data root of its own with `releases/plain`, the session release without its index (the app's current one)."""
    _, release, _, _ = app_release
    data = tmp_path / "data"
    shutil.copytree(release, data / "releases" / "plain", ignore=shutil.ignore_patterns("index"))
    monkeypatch.setenv(queries.DATA_ROOT_ENV, str(data))
    monkeypatch.setenv("APERTURA_RELEASE", "releases/plain")
    monkeypatch.setattr(common, "SCAN_WAIT_S", 0.2)  # as the app: a short wait (conftest gives other tests a long one)
    return data


def with_indexed(root: Path, app_release) -> Path:
    """`releases/indexed` beside `plain`: the session release with its membership index."""
    _, release, _, _ = app_release
    shutil.copytree(release, root / "releases" / "indexed")
    return root / "releases" / "indexed"


@pytest.fixture
def busy() -> Iterator[threading.Event]:
    """The scan pool busy until the gate is set: a scan asked for now waits its turn."""
    gate = threading.Event()
    blocker = common._SCAN_POOL.submit(gate.wait, 60)
    try:
        yield gate
    finally:
        gate.set()
        blocker.result(timeout=60)


def finish(gate: threading.Event) -> None:
    """Opens the gate and waits for every scan asked for (what the page's polling waits for)."""
    gate.set()
    for job in list(common._scans.values()):
        if not job.future.cancelled():
            job.future.exception(timeout=60)


def documents(release: Path) -> pl.DataFrame:
    return pl.read_parquet(release / "documents" / "*.parquet").sort("id")


def run(name: str, **params: str) -> AppTest:
    at = AppTest.from_file(str(APP / "views" / f"{name}.py"), default_timeout=60)
    for key, value in params.items():
        at.query_params[key] = value
    return at.run()


def asked(name: str, value: str) -> AppTest:
    """The page with `value` entered in its text box (Rights holders: "A text" chosen first)."""
    at = run(name)
    if name == "am_i_in":
        at.text_area(key="q_text").input(value)
    elif name == "search":
        at.text_input(key="f_text").input(value)
    else:
        at.radio(key="rh_kind").set_value("text").run()
        at.text_area(key="rh_text").input(value)
    at = at.run()
    assert not at.exception, at.exception
    return at


def box(at: AppTest) -> list[str]:
    """The verdict boxes of "Am I in?" (one per answer shown)."""
    boxes = (*at.success, *at.warning, *at.info)
    return [e.value for e in boxes if e.value.replace("\\", "").startswith(VERDICT_SENTENCES)]


VERDICT_SENTENCES = ("In the training data", "Partly in the training data", "Not in the training data", "Not found")


def assert_running(at: AppTest) -> None:
    """The in-progress status and no answer: what is read and since when, no verdict, no results."""
    shown = texts(at)
    assert "Reading the text of" in shown and STATUS in shown, shown
    assert "The answer appears here when ready" in shown
    assert not box(at) and not at.dataframe
    assert not [m for m in at.markdown if m.value.startswith(("**In**", "**Not found**", "**Partly in**"))]


# ---- Am I in? ------------------------------------------------------------------------------------------------------


def synchronous(release: Path, value: str) -> engine.Answer:
    """The engine's answer for a text in a release without index, as the app asks it synchronously
    (`common.answer`: the engine on the app's connection, saying the release has no membership index)."""
    rel = queries.open_release(release, release.parents[1])
    return engine.answer(rel, engine.validate("text", value), no_index="this release has no membership index")


def expected_answer(release: Path, value: str) -> engine.Answer:
    """By the release's index when it has one (as `apertura check` and the app ask it), else `synchronous`."""
    return engine.check(release, "text", value) if (release / "index").is_dir() else synchronous(release, value)


def assert_am_i_in(at: AppTest, release: Path, value: str) -> None:
    """The page shows exactly the synchronous engine's verdict and sentences for `value`."""
    expected = expected_answer(release, value)
    assert not at.exception, at.exception
    assert STATUS not in texts(at)
    assert box(at) == [common.plain(expected.headline)]
    captions = [c.value for c in at.caption]
    assert all(common.plain(line) in captions for line in expected.details)
    assert f"Answered from {common.plain(expected.method)} in" in texts(at)


def test_am_i_in_text_without_index_shows_the_status_then_the_engine_answer(root, busy):
    plain = root / "releases" / "plain"
    kept = documents(plain)["text"][0]
    at = asked("am_i_in", kept)
    assert_running(at)
    assert "No index: only exact and verbatim copies can be found: it reads the text of all" in texts(at)
    finish(busy)
    at = at.run()
    assert_am_i_in(at, plain, kept)
    assert box(at)[0].startswith("In the training data\\:")
    # a rerun, or another visitor asking the same, gets the kept answer at once, even with the pool busy again
    gate = threading.Event()
    blocker = common._SCAN_POOL.submit(gate.wait, 60)
    try:
        assert_am_i_in(asked("am_i_in", kept), plain, kept)
    finally:
        gate.set()
        blocker.result(timeout=60)


def test_am_i_in_two_texts_get_their_own_answers(root, busy):
    plain = root / "releases" / "plain"
    kept = documents(plain)["text"][0]
    first, second = asked("am_i_in", kept), asked("am_i_in", ABSENT)
    assert_running(first)
    assert_running(second)
    finish(busy)
    first, second = first.run(), second.run()
    assert_am_i_in(first, plain, kept)
    assert_am_i_in(second, plain, ABSENT)
    assert box(first)[0].startswith("In the training data\\:") and box(second)[0].startswith("Not found")


def test_am_i_in_switching_release_never_shows_the_other_release_answer(root, busy):
    plain, other = root / "releases" / "plain", root / "releases" / "other"
    shutil.copytree(plain, other)
    kept = documents(plain).row(0, named=True)
    for part in other.glob("documents/*.parquet"):  # `other` holds every document but this one
        pl.read_parquet(part).filter(pl.col("id") != kept["id"]).write_parquet(part)
    assert synchronous(plain, kept["text"]).headline != synchronous(other, kept["text"]).headline
    at = asked("am_i_in", kept["text"])
    assert_running(at)
    finish(busy)
    assert_am_i_in(at.run(), plain, kept["text"])
    at.query_params["release"] = "releases/other"  # the same text, the other release picked
    at = at.run()
    assert common.plain(synchronous(plain, kept["text"]).headline) not in box(at)
    finish(threading.Event())
    assert_am_i_in(at.run(), other, kept["text"])


def test_scans_are_kept_per_input_and_bounded(root, busy):
    rel = queries.open_release(root / "releases" / "plain", root)
    first = common.scan(rel, "probe", "a", lambda: "A")
    assert common.scan(rel, "probe", "a", lambda: "not run") is first  # the same question: the same scan
    assert common.scan(rel, "probe", "b", lambda: "B") is not first
    for n in range(common.SCANS_KEPT):  # the pool busy: all queued, the least recently asked dropped
        common.scan(rel, "probe", n, lambda n=n: n)
    assert len(common._scans) == common.SCANS_KEPT and first.future.cancelled()
    again = common.scan(rel, "probe", "a", lambda: "A again")  # asked again: queued again
    finish(busy)
    assert again is not first and again.result == "A again" and again.error is None


def test_am_i_in_scan_error_is_a_message_and_no_verdict(root):
    plain = root / "releases" / "plain"
    at = run("am_i_in")
    text = documents(plain)["text"][0]
    for part in plain.glob("documents/*.parquet"):  # the release's files gone under the open app
        part.unlink()
    at.text_area(key="q_text").input(text)
    at = at.run()
    assert not at.exception, at.exception
    (error,) = at.error
    assert error.value.startswith("The text could not be looked for: ") and "\n" not in error.value
    assert str(root) not in error.value
    assert not box(at) and STATUS not in texts(at)


def test_am_i_in_refuses_invalid_text_before_any_scan(root, busy):
    at = asked("am_i_in", "!!! ??? ...")
    assert "This input cannot be checked: there is no word to look for" in texts(at)
    assert STATUS not in texts(at) and not box(at)
    assert not common._scans or all(str(root) not in key[0] for key in common._scans)


def test_am_i_in_text_with_index_answers_in_the_same_run(root, app_release, busy, monkeypatch):
    indexed = with_indexed(root, app_release)
    monkeypatch.setenv("APERTURA_RELEASE", "releases/indexed")
    kept = documents(indexed)["text"][0]
    at = asked("am_i_in", kept)  # the scan pool is busy: an index answer never waits for it
    assert_am_i_in(at, indexed, kept)
    assert "membership index" in texts(at) and "No index" not in texts(at)


# ---- Search --------------------------------------------------------------------------------------------------------


def expected_search(release: Path, phrase: str) -> dict:
    """What the synchronous query gives for the page's first page of this text filter."""
    rel = queries.open_release(release, release.parents[1])
    filters = {"domain": "", "url_contains": "", "languages": (), "date_from": None, "date_to": None}
    return queries.search(rel, **filters, text_contains=phrase, limit=50, offset=0)


def assert_search(at: AppTest, release: Path, phrase: str) -> None:
    expected = expected_search(release, phrase)
    assert not at.exception, at.exception
    assert STATUS not in texts(at)
    if not expected["total"]:
        assert "No document matches these filters." in texts(at)
        return
    assert f"{expected['total']:,} matching documents" in texts(at)
    shown = [link.rsplit("doc=", 1)[1] for link in at.dataframe[0].value["id"]]
    assert shown == expected["rows"]["id"].to_list()


def test_search_text_without_index_shows_the_status_then_the_results(root, busy):
    plain = root / "releases" / "plain"
    phrase = " ".join(documents(plain)["text"][0].split()[:4])
    at = asked("search", phrase)
    assert_running(at)
    assert "No index: substring scan (slower): it reads the text of all" in texts(at)
    finish(busy)
    at = at.run()
    assert_search(at, plain, phrase)
    assert expected_search(plain, phrase)["total"] >= 1


def test_search_two_texts_get_their_own_results(root, busy):
    plain = root / "releases" / "plain"
    texts_ = documents(plain)["text"]
    one, other = " ".join(texts_[0].split()[:4]), " ".join(texts_[-1].split()[:4])
    assert expected_search(plain, one)["rows"]["id"].to_list() != expected_search(plain, other)["rows"]["id"].to_list()
    first, second = asked("search", one), asked("search", other)
    assert_running(first)
    assert_running(second)
    finish(busy)
    assert_search(first.run(), plain, one)
    assert_search(second.run(), plain, other)


def test_search_scan_error_is_a_message_and_no_results(root):
    plain = root / "releases" / "plain"
    phrase = " ".join(documents(plain)["text"][0].split()[:4])
    at = run("search")
    for part in plain.glob("documents/*.parquet"):
        part.unlink()
    at.text_input(key="f_text").input(phrase)
    at = at.run()
    assert not at.exception, at.exception
    (error,) = at.error
    assert error.value.startswith("The search could not be done: ") and "\n" not in error.value
    assert str(root) not in error.value
    assert not at.dataframe and STATUS not in texts(at)


def test_search_text_with_index_answers_in_the_same_run(root, app_release, busy, monkeypatch):
    indexed = with_indexed(root, app_release)
    monkeypatch.setenv("APERTURA_RELEASE", "releases/indexed")
    doc = documents(indexed).row(0, named=True)
    at = asked("search", " ".join(doc["text"].split()[:4]))
    assert "Ranked full-text search (index)" in texts(at) and STATUS not in texts(at)
    assert doc["id"] in " ".join(at.dataframe[0].value["id"])


# ---- Rights holders ------------------------------------------------------------------------------------------------


def release_id(release: Path) -> str:
    return json.loads((release / queries.MANIFEST).read_text())["release_id"]


def rights_lines(at: AppTest, release: Path) -> list[str]:
    """The verdict lines of a release's id ("**In** `r1`: …"): one per release of that id the page answered for."""
    return [m.value for m in at.markdown if f"** {common.code_span(release_id(release))}: " in m.value]


def rights_line(at: AppTest, release: Path, value: str) -> str:
    """The line the Rights holders page shows for the synchronous engine's answer on `release`."""
    expected = expected_answer(release, value)
    return f"**{LABEL[expected.verdict]}** {common.code_span(release_id(release))}: {common.plain(expected.headline)}"


def assert_rights(at: AppTest, release: Path, value: str) -> None:
    assert not at.exception, at.exception
    assert STATUS not in texts(at)
    assert rights_lines(at, release) == [rights_line(at, release, value)]


def test_rights_holder_text_without_index_shows_the_status_then_the_engine_answers(root, app_release, busy):
    plain = root / "releases" / "plain"
    indexed = with_indexed(root, app_release)
    kept = documents(plain)["text"][0]
    at = asked("rights_holder", kept)
    assert_running(at)
    assert "Without a membership index (`releases/plain`) only exact and verbatim copies can be found" in texts(at)
    assert "File the opt-out request" in [b.label for b in at.button]  # the rest of the page is there meanwhile
    finish(busy)
    at = at.run()
    assert not at.exception, at.exception
    assert STATUS not in texts(at)
    # the copy without index scanned, the indexed one (the same release id) by its index: both the engine's answers
    expected = [rights_line(at, plain, kept), rights_line(at, indexed, kept)]
    assert sorted(rights_lines(at, plain)) == sorted(expected)
    assert all(line.startswith("**In**") for line in expected)


def test_rights_holder_two_texts_get_their_own_answers(root, busy):
    plain = root / "releases" / "plain"
    kept = documents(plain)["text"][0]
    first, second = asked("rights_holder", kept), asked("rights_holder", ABSENT)
    assert_running(first)
    assert_running(second)
    finish(busy)
    first, second = first.run(), second.run()
    assert_rights(first, plain, kept)
    assert_rights(second, plain, ABSENT)
    assert rights_lines(first, plain)[0].startswith("**In**")
    assert rights_lines(second, plain)[0].startswith("**Not found**")


def test_rights_holder_scan_error_is_a_message_and_no_verdict(root):
    plain = root / "releases" / "plain"
    text = documents(plain)["text"][0]
    at = run("rights_holder")
    at.text_input(key="rh_domain").input("example.org").run()  # the release opened by the app, as any check does
    at.radio(key="rh_kind").set_value("text").run()
    for part in plain.glob("documents/*.parquet"):
        part.unlink()
    at.text_area(key="rh_text").input(text)
    at = at.run()
    assert not at.exception, at.exception
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and errors[0].startswith("Release `releases/plain` could not be checked: "), errors
    assert "\n" not in errors[0] and str(root) not in errors[0]
    assert not rights_lines(at, plain) and STATUS not in texts(at)


def test_rights_holder_text_with_index_answers_in_the_same_run(root, app_release, busy):
    indexed = with_indexed(root, app_release)
    shutil.rmtree(root / "releases" / "plain")  # only the indexed release in this data root
    kept = documents(indexed)["text"][0]
    at = asked("rights_holder", kept)
    assert_rights(at, indexed, kept)
    assert "Without a membership index" not in texts(at)


def test_search_page_asked_while_its_scan_runs_is_the_page_shown(root, busy):
    """The page number survives the runs that show the status (its widget is not drawn then)."""
    plain = root / "releases" / "plain"
    at = run("search")
    at.selectbox(key="page_size").set_value(10)
    at.text_input(key="f_text").input("e")
    finish(busy)
    at = at.run()
    total = expected_search(plain, "e")["total"]
    assert total > 10 and f"{total:,} matching documents · showing 1–10" in texts(at)
    gate = threading.Event()
    blocker = common._SCAN_POOL.submit(gate.wait, 60)
    try:
        at.number_input(key="page").set_value(2)
        at = at.run()
        assert_running(at)
        at = at.run()  # a poll's rerun before the scan ends
        assert_running(at)
    finally:
        gate.set()
        blocker.result(timeout=60)
    finish(gate)
    at = at.run()
    assert not at.exception, at.exception
    assert f"{total:,} matching documents · showing 11–{min(total, 20)}" in texts(at)


def test_the_text_kernels_are_loaded_in_the_background_when_the_app_starts(app_env):
    """The Rights holders' text check fingerprints the text (the MinHash kernels) with or without an index: the app
    loads them at start-up in a daemon thread, so the first visitor does not wait for them. In a fresh process,
    since this one has long loaded them."""
    script = (
        "import sys, threading\n"
        "from streamlit.testing.v1 import AppTest\n"
        "AppTest.from_file('audit_app/app.py', default_timeout=120).run()\n"
        "(warm,) = [t for t in threading.enumerate() if t.name == 'apertura-kernel-warm-up'] or [None]\n"
        "warm is None or warm.join(120)\n"
        "from pipeline.fingerprints import kernels\n"
        "print(bool(kernels.signatures.signatures), bool(kernels.shingle_hashes.signatures))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=Path(__file__).parents[2], capture_output=True,
                          text=True, timeout=300, env=os.environ.copy())  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-2:] == ["True", "True"]

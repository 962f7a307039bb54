"""A real release for the app tests: the planted corpus plus one WARC of hostile and differently dated pages,
built once per session by the pipeline, inside its own data root."""

from __future__ import annotations

import re
import shutil
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from audit_app import queries
from pipeline.synthetic import make_page
from tests.helpers.warcs import Page, write_warc

HOSTILE_URL = "http://evil.test/page?q=%3Cscript%3E"
HOSTILE_TEXT = "Here is <script>alert('apertura')</script> and <img src=x onerror=alert(1)> inside a sentence."
HOSTILE_TITLE = "<b>Bold</b> & [link](http://evil.test) title"
OLD_URL = "http://en.archive.test/2024/story"
OLD_DATE = "2024-06-30T12:00:00Z"
PII_URL = "http://fr.shop.test/contact"  # the planted page with personal data (tests/helpers/corpus.py)
PII_REPLACED = (  # what the pii step replaced on it, in the order it appears
    ("<EMAIL_ADDRESS>", "marie.dupont@example.fr"),
    ("<EMAIL_ADDRESS>", "support@shop.example.com"),
    ("<IP_ADDRESS>", "8.8.4.4"),
    ("<IBAN>", "CH93 0076 2011 6238 5295 7"),
)


def unredacted(stored: str) -> str:
    """The PII_URL page's text as it was before the pii step: its personal data back in place of the placeholders."""
    assert [p for p, _ in PII_REPLACED] == [m for m in re.findall(r"<[A-Z_]+>", stored)], stored
    for placeholder, value in PII_REPLACED:
        stored = stored.replace(placeholder, value, 1)
    return stored


def hostile_pages() -> list[Page]:
    """A kept English page whose text and title carry HTML/script and Markdown, and an older kept page."""
    base = make_page(7, HOSTILE_URL, "en")
    paragraphs = (*base.paragraphs[:-1], base.paragraphs[-1] + " " + HOSTILE_TEXT)
    hostile = replace(base, title=HOSTILE_TITLE, paragraphs=paragraphs)
    old = make_page(8, OLD_URL, "en")
    return [Page(HOSTILE_URL, hostile.html()), Page(OLD_URL, old.html(), date=OLD_DATE)]


@pytest.fixture(autouse=True)
def _restore_main_module():
    """AppTest installs the script it runs as sys.modules['__main__'] and leaves it there (streamlit 1.67);
    a later multiprocessing 'spawn' child (the pipeline's local executor) would then re-run that page as
    its main module and die. Put pytest's own __main__ back after every test."""
    main = sys.modules.get("__main__")
    yield
    if main is not None:
        sys.modules["__main__"] = main


@pytest.fixture(autouse=True)
def _scans_answer_in_the_run(monkeypatch):
    """A text looked for without an index is scanned in the background; the page waits `SCAN_WAIT_S` (0.5 s) for it
    before showing the in-progress status. The test releases' scans take ~0.1 s, more on a loaded machine: the page
    tests check the answer in the same run, so they wait up to a minute (the answer a browser's poll would show
    later; tests/app/test_background_scans.py sets the app's short wait and checks the status)."""
    from audit_app import common

    monkeypatch.setattr(common, "SCAN_WAIT_S", 60.0)


@pytest.fixture(scope="session")
def app_release(planted, tmp_path_factory):
    """(data root, release directory, manifest, expectations by URL) of a release built by the pipeline."""
    from pipeline.cli import build
    from pipeline.config import RunConfig
    from pipeline.sources.inputs import expand_inputs

    paths, expect = planted
    root = tmp_path_factory.mktemp("app_data")
    extra = root / "inputs" / "hostile.warc.gz"
    extra.parent.mkdir()
    write_warc(extra, hostile_pages())
    release = root / "releases" / "r1"
    manifest = build(expand_inputs([*(str(p) for p in paths), str(extra)]), RunConfig(), release)
    return root, release, manifest, expect


@pytest.fixture(scope="session")
def rel(app_release) -> queries.Release:
    root, release, _, _ = app_release
    return queries.open_release(release, root)


@pytest.fixture
def app_env(app_release, monkeypatch) -> Path:
    """Points the app at the test release (as `apertura app` would) and returns the release directory."""
    root, release, _, _ = app_release
    monkeypatch.setenv(queries.DATA_ROOT_ENV, str(root))
    monkeypatch.setenv("APERTURA_RELEASE", str(release.relative_to(root)))
    return release


def without_index(release: Path, name: str) -> Path:
    """A copy of `release` beside it, minus its membership index: the app must fall back to DuckDB."""
    copy = release.parent / name
    if not copy.exists():
        shutil.copytree(release, copy, ignore=shutil.ignore_patterns("index"))
    return copy


@pytest.fixture
def app_env_no_index(app_release, monkeypatch) -> Path:
    """Like `app_env`, on a copy of the test release without `index/` (the DuckDB text paths)."""
    root, release, _, _ = app_release
    copy = without_index(release, "r1-no-index")
    monkeypatch.setenv(queries.DATA_ROOT_ENV, str(root))
    monkeypatch.setenv("APERTURA_RELEASE", str(copy.relative_to(root)))
    return copy


@pytest.fixture(scope="session")
def cli_release(tmp_path_factory) -> tuple[Path, Path]:
    """(data root, release) built from data/sample by the real command line, `apertura run`, which writes the
    membership index by default."""
    from typer.testing import CliRunner

    from pipeline.cli import app

    root = tmp_path_factory.mktemp("cli_data")
    release = root / "releases" / "sample"
    sample = Path(__file__).resolve().parents[2] / "data" / "sample"
    result = CliRunner().invoke(app, ["run", str(sample), "--out", str(release)])
    assert result.exit_code == 0, result.output
    assert (release / "index" / "index.json").is_file(), result.output
    return root, release

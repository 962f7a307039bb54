"""Issue 18 in a real browser: a link keeps its release. Headless Chromium (tests/app/test_browser.py's driver)
on `streamlit run audit_app/app.py` over a data root holding two releases built by the pipeline: r1 (the app
tests' release, the start-up one) and r2 (`apertura run data/sample`). A person picks r2 in the sidebar, the page
shows one of r2's removed duplicates with a link to its kept copy, and that link opened in a new tab must show
r2's kept document, not "no document has this id" on the start-up release (the measured bug: links carried no
release). A release named in the URL that is not one of the data root's gets a message, never a traceback or a
server path."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from urllib.parse import quote, urljoin

import polars as pl
import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from tests.app.test_browser import CHROMIUM, DONE, PAGE_TIMEOUT, REPO, TRAP, Browser
from tests.helpers.app_server import app_server

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed at /usr/bin/chromium")


@pytest.fixture(scope="module")
def two_releases(app_release, tmp_path_factory) -> dict:
    """A data root with r1 (a copy of the app tests' release) and r2 (from data/sample), and one of r2's removed
    duplicates whose kept copy has an id r1 does not have."""
    _, release, _, _ = app_release
    root = tmp_path_factory.mktemp("two_releases")
    r1, r2 = root / "releases" / "r1", root / "releases" / "r2"
    shutil.copytree(release, r1)
    result = CliRunner().invoke(app, ["run", str(REPO / "data" / "sample"), "--out", str(r2)])
    assert result.exit_code == 0, result.output
    r1_ids = set(pl.read_parquet(r1 / "documents" / "*.parquet", columns=["id"])["id"])
    docs2 = pl.read_parquet(r2 / "documents" / "*.parquet", columns=["id", "url"])
    dups = pl.read_parquet(r2 / "ledger" / "*.parquet", columns=["id", "stage", "duplicate_of"]).filter(
        (pl.col("stage") == "dedup") & pl.col("duplicate_of").is_not_null()
    )
    dup = dups.join(docs2, left_on="duplicate_of", right_on="id").sort("id").row(0, named=True)
    assert dup["duplicate_of"] not in r1_ids
    counts = {name: json.loads((r / "manifest.json").read_text())["counts"] for name, r in (("r1", r1), ("r2", r2))}
    return {"root": root, "dup": dup["id"], "keeper": dup["duplicate_of"], "keeper_url": dup["url"], "counts": counts}


@pytest.fixture(scope="module")
def server(two_releases):
    """`streamlit run audit_app/app.py -- --release releases/r1` on a free loopback port."""
    with app_server(two_releases["root"], "releases/r1") as base:
        yield base


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    started = Browser(tmp_path_factory.mktemp("chromium-profile"))
    yield started
    started.close()


class Tab:
    """One tab kept open, for a person's steps on one page (type, press Enter, wait)."""

    def __init__(self, browser: Browser, url: str):
        self.browser = browser
        self.target = browser.send("Target.createTarget", url="about:blank")["targetId"]
        self.session = browser.send("Target.attachToTarget", targetId=self.target, flatten=True)["sessionId"]
        browser.send("Page.enable", self.session)
        browser.send("Page.addScriptToEvaluateOnNewDocument", self.session, source=TRAP)
        browser.send("Page.navigate", self.session, url=url)

    def js(self, expression: str):
        return self.browser.send("Runtime.evaluate", self.session, expression=expression, returnByValue=True)[
            "result"
        ].get("value")

    def wait_for(self, *texts: str, timeout: float = PAGE_TIMEOUT) -> str:
        """The page's text once the script run finished and every text is there (and stayed so for a moment)."""
        probe = (
            f"(() => document.querySelector({json.dumps(DONE)}) && document.body && "
            f"{json.dumps(list(texts))}.every((t) => document.body.innerText.includes(t)) ? document.body.innerText"
            " : null)()"
        )
        deadline = time.monotonic() + timeout
        before = None
        while time.monotonic() < deadline:
            now = self.js(probe)
            if now and now == before:
                return now
            before = now
            time.sleep(0.3)
        raise AssertionError(
            f"{texts!r} not shown within {timeout:.0f} s; page: {(self.js('document.body.innerText') or '')[:1500]}"
        )

    def type_into(self, selector: str, text: str) -> None:
        """Focus the element, type `text` as keystrokes would insert it, then press Enter."""
        assert self.js(f"(() => {{ const e = document.querySelector({json.dumps(selector)}); if (!e) return false; "
                       "e.focus(); return true; })()"), selector  # fmt: skip
        self.browser.send("Input.insertText", self.session, text=text)
        time.sleep(0.5)
        for kind in ("keyDown", "keyUp"):
            self.browser.send(
                "Input.dispatchKeyEvent", self.session, type=kind, key="Enter", code="Enter", windowsVirtualKeyCode=13
            )

    def screenshot(self, path: Path) -> None:
        import base64

        path.write_bytes(
            base64.b64decode(self.browser.send("Page.captureScreenshot", self.session, format="png")["data"])
        )

    def close(self) -> None:
        self.browser.send("Target.closeTarget", targetId=self.target)


def _sidebar_counts(counts: dict) -> str:
    return f"{counts['kept']:,} documents · {counts['removed']:,} removed"


def test_a_second_release_picked_in_the_sidebar_is_kept_by_a_link_opened_in_a_new_tab(
    server, browser, two_releases, tmp_path
):
    r1, r2 = two_releases["counts"]["r1"], two_releases["counts"]["r2"]
    tab = Tab(browser, f"{server}/document?doc={quote(two_releases['dup'], safe='')}")
    try:
        text = tab.wait_for(_sidebar_counts(r1), "No document and no ledger row has this id")  # r1: not there
        assert "release=releases%2Fr1" in tab.js("location.href")
        tab.type_into('[data-testid="stSidebar"] [data-testid="stSelectbox"] input', "releases/r2")
        text = tab.wait_for(_sidebar_counts(r2), "Open the kept copy")
        assert "release=releases%2Fr2" in tab.js("location.href"), tab.js("location.href")
        tab.screenshot(tmp_path / "document-r2.png")
        href = tab.js(
            "(() => { const a = [...document.querySelectorAll('a')].find((x) => x.innerText.includes('Open the kept "
            "copy')); return a ? a.getAttribute('href') : null; })()"
        )
        assert href, text[:2000]
        link = urljoin(tab.js("location.href"), href)
    finally:
        tab.close()
    assert two_releases["keeper"] in link or quote(two_releases["keeper"], safe="") in link
    page = browser.render(link, (two_releases["keeper_url"], _sidebar_counts(r2)), tmp_path / "kept-copy.png")
    text = page["text"]
    assert "In the training data: this document is in the release" in text
    assert "No document and no ledger row has this id" not in text and "Traceback" not in text
    assert not page["alerts"]


@pytest.mark.parametrize("release", ["releases/nope", "../../../../etc", "/etc"])
def test_a_release_in_the_url_that_is_not_under_the_data_root_gets_a_message(server, browser, two_releases, release,
                                                                             tmp_path):  # fmt: skip
    page = browser.render(f"{server}/?release={quote(release, safe='')}", "release", tmp_path / "bad.png")
    text = page["text"]
    assert ("outside this app's data directory" in text) or ("There is no release" in text), text[:1500]
    assert str(two_releases["root"]) not in text and "Traceback" not in text and "Page not found" not in text
    assert "Documents" not in text  # no release's figures under a release that was refused

"""The audit app in a real browser: the Streamlit server started as `streamlit run` on 127.0.0.1, pages
rendered by Debian's headless Chromium, assertions on the rendered DOM, whose text comes from the test release
(counts, a planted URL, a deep-linked document, hostile document text shown as text and never executed).

Chromium is driven over its DevTools protocol on a pipe (`--remote-debugging-pipe`, no extra package): load a
page, wait until Streamlit's script run has finished, the expected text is there and the DOM has stopped
changing, then read it and save a screenshot in `screenshots/` (ignored by git), one per page, for review.
(`--dump-dom --virtual-time-budget` was tried first: virtual time runs out before Streamlit's websocket delivers
the page in about 4 of 5 loads here, so it cannot be a reliable test.)

Every page loaded in one browser. Skipped when /usr/bin/chromium is absent; CI installs it (.ci/run)."""

from __future__ import annotations

import base64
import contextlib
import fcntl
import html
import json
import os
import re
import select
import subprocess
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import duckdb
import polars as pl
import pytest

from audit_app import queries
from pipeline.release_read import table_files
from tests.app.conftest import HOSTILE_URL
from tests.helpers.app_server import app_server

CHROMIUM = Path("/usr/bin/chromium")
REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian chromium is not installed at /usr/bin/chromium (apt-get install chromium)"
)

# From ../shared/NOTES.md: headless, no sandbox (CI runs as root), nothing reaching out to the internet.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--window-size=1280,900",
    "--remote-debugging-pipe",
]
DONE = '[data-test-script-state="notRunning"]'  # Streamlit's marker of a finished script run
# Placeholders Streamlit draws while an element (a chart, a table) is still loading: a screenshot waits for them.
SKELETON = '.stSkeleton, [data-testid^="stSkeleton"]'

PAGE_TIMEOUT = 30.0  # seconds for one page to finish rendering
# Installed before any page script runs: records instead of showing any alert/confirm/prompt a page would open.
TRAP = (
    "window.__alerts = [];"
    "for (const f of ['alert', 'confirm', 'prompt']) window[f] = (m) => { window.__alerts.push(f + ':' + m); };"
)


def _above_4(fd: int) -> int:
    """The same pipe end on a descriptor number of 10 or more."""
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return moved


class Browser:
    """Headless Chromium over the DevTools protocol on fds 3/4 (JSON messages separated by NUL bytes)."""

    def __init__(self, profile: Path):
        to_child, self._write = os.pipe()
        self._read, from_child = os.pipe()
        to_child, from_child = _above_4(to_child), _above_4(from_child)  # so the moves below cannot collide
        # The child's fd 3 reads our commands and its fd 4 writes the replies; bash moves the pipe ends there
        # (no preexec_fn: that is not safe with threads in the test process).
        wire = f'exec "$@" 3<&{to_child} 4>&{from_child} {to_child}<&- {from_child}>&-'
        self.proc = subprocess.Popen(
            ["/bin/bash", "-c", wire, "chromium", str(CHROMIUM), *FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(to_child, from_child),
        )  # same process group as pytest: a run stopped from outside (Ctrl-C, timeout) stops the browser too
        os.close(to_child)
        os.close(from_child)
        self._buffer = b""
        self._id = 0

    def _message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._read], [], [], left)[0]:
                raise TimeoutError("no answer from chromium")
            chunk = os.read(self._read, 1 << 20)
            if not chunk:
                raise EOFError("chromium closed the pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def send(self, method: str, session: str | None = None, timeout: float = 15.0, **params: Any) -> dict:
        self._id += 1
        command: dict[str, Any] = {"id": self._id, "method": method, "params": params}
        if session:
            command["sessionId"] = session
        os.write(self._write, json.dumps(command).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            message = self._message(deadline)
            if message.get("id") == self._id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})

    def render(self, url: str, ready: str | tuple[str, ...], screenshot: Path) -> dict[str, Any]:
        """Open `url` in a new tab; once the script run finished and every `ready` text is on the page, return
        {'html': outerHTML, 'text': visible text incl. hidden tabs, 'alerts': dialogs the page tried to open}."""
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        session = self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        try:
            self.send("Page.enable", session)
            self.send("Page.addScriptToEvaluateOnNewDocument", session, source=TRAP)
            self.send("Page.navigate", session, url=url)
            # Elements drawn after the script run's marker (code blocks, metrics) are waited for by their text.
            wanted = json.dumps([ready] if isinstance(ready, str) else list(ready))
            probe = (
                f"(() => document.querySelector({json.dumps(DONE)}) && document.body"
                f" && !document.querySelector({json.dumps(SKELETON)})"
                f" && {wanted}.every((t) => document.body.textContent.includes(t))"
                " ? {html: document.documentElement.outerHTML, alerts: window.__alerts || []} : null)()"
            )
            deadline = time.monotonic() + PAGE_TIMEOUT
            page, before = None, None
            while True:  # ready, and the DOM unchanged between two probes: nothing is still being drawn
                value = self.send("Runtime.evaluate", session, expression=probe, returnByValue=True)["result"]
                page, before = value.get("value"), page
                if page and before and page["html"] == before["html"]:
                    break
                if time.monotonic() > deadline:
                    shot = self.send("Page.captureScreenshot", session, format="png")["data"]
                    screenshot.write_bytes(base64.b64decode(shot))
                    pytest.fail(f"{url} did not show {ready!r} within {PAGE_TIMEOUT:.0f} s; see {screenshot}")
                time.sleep(0.25)
            shot = self.send("Page.captureScreenshot", session, format="png")["data"]
            screenshot.write_bytes(base64.b64decode(shot))
            page["text"] = visible_text(page["html"])
            return page
        finally:
            self.send("Target.closeTarget", targetId=target)

    def close(self) -> None:
        with contextlib.suppress(OSError, EOFError, TimeoutError, RuntimeError):
            self.send("Browser.close", timeout=5)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()  # its helper processes exit with it
            self.proc.wait(timeout=10)
        os.close(self._write)
        os.close(self._read)


def visible_text(dom: str) -> str:
    """The document's text: no style or script bodies, no tags, entities decoded, whitespace collapsed."""
    body = re.sub(r"<(style|script)\b.*?</\1\s*>", " ", dom, flags=re.S | re.I)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", body)).split())


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    started = Browser(tmp_path_factory.mktemp("chromium-profile"))
    yield started
    started.close()


SHOTS = REPO / "screenshots"  # ignored by git: every page as the browser drew it, for review (README shows two)


@pytest.fixture(scope="module")
def shots() -> Path:
    SHOTS.mkdir(exist_ok=True)
    return SHOTS


@pytest.fixture(scope="module")
def server(app_release):
    """Base URL of `streamlit run audit_app/app.py -- --release <test release>` on a free loopback port."""
    root, release, _, _ = app_release
    with app_server(root, release) as base:
        yield base


@pytest.fixture(scope="module")
def counts(app_release) -> dict:
    _, release, manifest, _ = app_release
    docs = pl.read_parquet(table_files(release, manifest, "documents"), columns=["id", "url"])
    removed = duckdb.sql(
        "select count(*) from read_parquet($f)", params={"f": table_files(release, manifest, "ledger")}
    ).fetchall()[0][0]
    return {
        "documents": docs.height,
        "removed": removed,
        "hostile_id": docs.filter(pl.col("url") == HOSTILE_URL)["id"][0],
        "release": str(release),
    }


def test_document_deep_link_first_in_chromium(server, browser, counts, shots):
    """The first page this fresh server serves is a deep link (a shared link, after a restart): it must run
    through the entrypoint (release, sidebar), not as a stand-alone page (see audit_app/app.py)."""
    doc_id = counts["hostile_id"]
    url = f"{server}/document?doc={quote(doc_id, safe='')}"
    command = f"apertura show {counts['release']} {doc_id}"  # a code block, drawn after the run's marker
    page = browser.render(url, (HOSTILE_URL, command), shots / "document.png")
    dom, text = page["html"], page["text"]
    assert "In the training data: this document is in the release" in text
    assert f"{counts['documents']:,} documents · {counts['removed']:,} removed" in text  # the entrypoint's sidebar
    assert HOSTILE_URL in text and command in text
    # The document's text carries <script> and <img onerror>: shown as text, never elements, never run.
    assert "<script>alert('apertura')</script>" in text
    assert "&lt;script&gt;alert('apertura')&lt;/script&gt;" in dom
    assert not re.search(r"<script[^>]*>\s*alert\(", dom, flags=re.I)
    assert not re.search(r"<img[^>]*onerror", dom, flags=re.I)
    assert page["alerts"] == []
    assert "Traceback" not in text


def test_overview_in_chromium(server, browser, counts, shots):
    started = time.monotonic()
    page = browser.render(f"{server}/", "Removed records", shots / "overview.png")
    text = page["text"]
    print(f"overview rendered in {time.monotonic() - started:.1f} s")
    assert "Overview" in text
    assert re.search(rf"\bDocuments {counts['documents']:,} Tokens", text), text[:2000]
    assert f"Removed records {counts['removed']:,}" in text
    assert f"{counts['documents']:,} documents · {counts['removed']:,} removed" in text  # sidebar, from the release
    assert "Traceback" not in text and not page["alerts"]


def test_search_in_chromium(server, browser, counts, shots):
    page = browser.render(f"{server}/search", "matching documents", shots / "search.png")
    assert f"{counts['documents']:,} matching documents" in page["text"]
    assert "Traceback" not in page["text"] and not page["alerts"]


def test_am_i_in_in_chromium(server, browser, counts, shots):
    page = browser.render(f"{server}/am_i_in", "A text", shots / "am_i_in.png")
    text = page["text"]
    assert "Am I in the training data?" in text
    assert "A domain" in text and "A URL" in text
    assert f"{counts['documents']:,} documents · {counts['removed']:,} removed" in text
    assert "Traceback" not in text and not page["alerts"]
    assert all((shots / f"{name}.png").stat().st_size > 1000 for name in ("overview", "search", "document", "am_i_in"))


def test_compliance_in_chromium(server, browser, counts, shots):
    """The opt-out compliance page through the router: 0 violations, and the SQL that proves it, as text."""
    # Ready once the SQL's code block is drawn (code blocks and metrics appear after the script run's marker).
    page = browser.render(f"{server}/compliance", "AS by_removed_url", shots / "compliance.png")
    text = page["text"]
    assert "Opt-out compliance" in text
    assert re.search(r"Violations\s*0\b", text), text[text.find("Deploy") :][:1500]
    assert "0 violations: no document in this release" in text
    squeezed = "".join(text.split())  # the code block is syntax-highlighted: one element per token
    assert "".join(queries.VIOLATIONS_SQL.split()) in squeezed, text[:3000]
    assert "Traceback" not in text and not page["alerts"]


def test_rights_holder_and_releases_in_chromium(server, browser, counts, shots):
    """The two pages that look at every release under the data root, through the router (no input typed: the
    checks and the request form are driven with AppTest in test_rights_releases.py)."""
    # Ready once the form's last field is drawn (form widgets appear after the script run's marker).
    page = browser.render(f"{server}/rights_holder", "Note (optional)", shots / "rights_holder.png")
    text = page["text"]
    assert "Rights holders: opt-out status and requests" in text and "from this app's data directory" in text
    assert "File the opt-out request" in text and "Your name or organisation" in text
    assert "Traceback" not in text and not page["alerts"]
    page = browser.render(f"{server}/releases", "A diff needs two releases", shots / "releases.png")
    text = page["text"]  # the table is drawn on a canvas: its cells are checked with AppTest
    assert "Every release in this data directory" in text and "Lineage" in text
    assert "No derived release yet" in text  # the browser tests' data root holds one release built from inputs
    assert "Traceback" not in text and not page["alerts"]


def test_removals_dedup_and_reports_in_chromium(server, browser, counts, shots, app_release):
    """The other pages, drawn for review: the removals with their plain reasons, the planted near duplicate with
    its differences highlighted (escaped text, own tags only), the reports."""
    page = browser.render(f"{server}/removals", "Examples", shots / "removals.png")
    text = page["text"]
    assert "By step and reason" in text and "Traceback" not in text and not page["alerts"]
    _, release, manifest, _ = app_release
    docs = pl.read_parquet(table_files(release, manifest, "documents"), columns=["id", "url"])
    keeper = docs.filter(pl.col("url") == "http://de.news.test/article/1")["id"][0]  # tests/app/test_dedup.py NEAR
    page = browser.render(f"{server}/dedup?cluster={quote(keeper, safe='')}", "Zwischenbemerkung", shots / "dedup.png")
    assert re.search(r'<ins class="apertura-diff">[^<]*Zwischenbemerkung', page["html"]), page["html"][-3000:]
    assert "Traceback" not in page["text"] and not page["alerts"]
    page = browser.render(f"{server}/reports", "Public Summary of Training Content", shots / "reports.png")
    assert "give --" not in page["text"] and "Traceback" not in page["text"] and not page["alerts"]
    assert all(
        (shots / f"{name}.png").stat().st_size > 1000 for name in ("removals", "dedup", "reports")
    )

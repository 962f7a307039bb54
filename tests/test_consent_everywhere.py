"""One answer everywhere: every place that decides or reports consent says the same for the same URL or text.

A table of cases, each a page stored under one spelling and asked about under another: `optout explain`,
`optout check`, the pipeline's `optout` stage, `verify --registry`, `release derive`, `apertura check` (the
membership index), `optout-status`, and the audit app's "Am I in the training data?" and rights-holder pages
(driven with streamlit.testing) must all agree with the construction: reserved by robots.txt (RFC 9309's own
percent-encoding examples), covered by the registry (a URL prefix given in another spelling, a text pasted with
invisible characters and an e-mail address the release stores redacted), or allowed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest
from streamlit.testing.v1 import AppTest
from typer.testing import CliRunner

from audit_app import queries
from pipeline.cli import app, build
from pipeline.config import RunConfig
from pipeline.derive import derive_release
from pipeline.optout.registry import Registry
from pipeline.synthetic import make_page
from pipeline.verify import verify_release
from tests.helpers.warcs import Page, write_warc

APP = Path(__file__).resolve().parents[1] / "audit_app"
runner = CliRunner()
ROBOTS = b"User-agent: *\nDisallow: /path/foo-%24\nDisallow: /%70rivate/\n"  # RFC 9309 2.2.2/2.2.3 spellings
EMAIL = "jane.doe@example.org"
ZWSP, SOFT_HYPHEN = "\u200b", "\u00ad"


@dataclass(frozen=True)
class Case:
    stored: str  # WARC-Target-URI
    typed: str  # what a person types
    by: str | None  # 'robots', 'registry' or None (allowed)


CASES = [
    Case("http://site.test/path/foo-$", "https://SITE.test/path/foo-$", "robots"),
    Case("http://site.test/private/a", "http://site.test:80/%70rivate/a", "robots"),
    Case("http://site.test/open/a", "HTTP://Site.Test./open/a", None),
    Case("http://ALPHA.test./paywall/a0", "https://alpha.test/paywall/a0", "registry"),
    Case("http://alpha.test/free/a1", "alpha.test/free/a1", None),
]
REGISTRY_PREFIX = "HTTPS://alpha.TEST:443/%70aywall/"  # stored as https://alpha.test/paywall/
TEXT_STORED, TEXT_KEPT = "http://gamma.test/opted-out-text", "http://gamma.test/kept-text"


def _article(seed: int, url: str) -> str:
    page = make_page(seed, url, "en", paragraphs=6)
    paragraphs = list(page.paragraphs)
    paragraphs[1] += f" Write to {EMAIL} for reprints."  # stored redacted by the pii step
    return "\n\n".join(paragraphs)


def _html(text: str) -> str:
    body = "".join(f"<p>{p}</p>" for p in text.split("\n\n"))
    return f"<html><head><title>Story</title></head><body><article>{body}</article></body></html>"


def _pasted(text: str) -> str:
    """The copy a rights holder pastes: zero-width spaces and soft hyphens inside words, the e-mail unredacted."""
    words = text.split(" ")
    for i in range(3, len(words), 17):
        words[i] = words[i][:2] + (ZWSP if i % 2 else SOFT_HYPHEN) + words[i][2:]
    return " ".join(words)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A data root holding r0 (no registry), r1 (run with the registry), r2 (r0 derived), and the registry."""
    root = tmp_path_factory.mktemp("consent_root")
    pages = [Page("http://site.test/robots.txt", ROBOTS, content_type="text/plain")]
    pages += [Page(c.stored, _html(_article(i, c.stored))) for i, c in enumerate(CASES)]
    texts = {url: _article(100 + i, url) for i, url in enumerate((TEXT_STORED, TEXT_KEPT))}
    pages += [Page(url, _html(text)) for url, text in texts.items()]
    warc = root / "inputs" / "consent.warc.gz"
    warc.parent.mkdir()
    write_warc(warc, pages)
    registry = Registry(root / "registry")
    registry.add("url_prefix", REGISTRY_PREFIX, requester="Alpha <legal@alpha.test>")
    registry.add("text", requester="Gamma <legal@gamma.test>", text=_pasted(texts[TEXT_STORED]))
    releases = root / "releases"
    build([str(warc)], RunConfig(), releases / "r0")
    build([str(warc)], RunConfig(), releases / "r1", registry=root / "registry")
    derive_release(releases / "r0", releases / "r2", registry=registry)
    for name, text in texts.items():
        (root / f"{name.rsplit('/', 1)[1]}.txt").write_text(_pasted(text), encoding="utf-8")
    (root / "robots.txt").write_bytes(ROBOTS)
    return root


def _removed(release: Path) -> dict[str, str]:
    ledger = pl.read_parquet(release / "ledger" / "*.parquet")
    return dict(ledger.filter(pl.col("stage") == "optout").select("url", "reason").iter_rows())


def _kept_urls(release: Path) -> set[str]:
    return set(pl.read_parquet(release / "documents" / "*.parquet")["url"])


def _cli(*args: str) -> str:
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code in (0, 1), result.output
    return result.output


def _page(name: str, root: Path, monkeypatch, release: str = "releases/r1") -> AppTest:
    monkeypatch.setenv(queries.DATA_ROOT_ENV, str(root))
    monkeypatch.setenv("APERTURA_RELEASE", release)
    monkeypatch.setenv("APERTURA_REGISTRY", "registry")
    return AppTest.from_file(str(APP / "views" / f"{name}.py"), default_timeout=60).run()


def _all_text(at: AppTest) -> str:
    from tests.app.test_pages import texts

    return texts(at)


@pytest.mark.parametrize("case", CASES, ids=[c.typed for c in CASES])
def test_every_surface_gives_one_answer_for_a_url(world, case, monkeypatch):
    root = world
    releases = root / "releases"
    reserved = case.by is not None

    # the signals alone, as a rights holder tests them: robots.txt decides
    explained = _cli("optout", "explain", "--url", case.typed, "--robots", root / "robots.txt", "--agent", "GPTBot")
    assert ("GPTBot: RESERVED" in explained) is (case.by == "robots"), explained
    # the registry alone
    checked = _cli("optout", "check", "--url", case.typed, "--registry", root / "registry")
    assert ("OPTED OUT" in checked) is (case.by == "registry"), checked
    # the pipeline: a fresh run with the registry, and the parent derived with it
    expected_reason = {"robots": "optout_robots", "registry": "optout_registry", None: None}[case.by]
    assert _removed(releases / "r1").get(case.stored) == expected_reason
    assert (case.stored in _kept_urls(releases / "r1")) is not reserved
    assert (case.stored in _kept_urls(releases / "r2")) is not reserved
    assert (case.stored in _kept_urls(releases / "r0")) is (case.by != "robots")
    # the membership index (`apertura check`) and optout-status, asked in the typed spelling
    report = json.loads(_cli("check", releases / "r1", "--url", case.typed, "--json"))
    assert report["verdict"] == ("not in" if reserved else "in"), report["summary"]
    status = json.loads(_cli("optout-status", releases / "r1", "--url", case.typed, "--json"))
    assert status["in_release"] == (0 if reserved else 1)
    signals = {d["signal"] for d in status["decisions"] if d["verdict"] == "reserved"}
    assert signals == ({case.by} if reserved else set()), status["decisions"]

    # the app's "Am I in the training data?"
    at = _page("am_i_in", root, monkeypatch)
    at.text_input(key="q_url").input(case.typed).run()
    assert not at.exception
    if reserved:
        assert at.info and "Not in the training data" in at.info[0].value  # an honoured opt-out: no error box
        assert "opt" in _all_text(at).lower()
    else:
        assert at.success and "In the training data" in at.success[0].value
    # the rights-holder page: every release, and the registry
    at = _page("rights_holder", root, monkeypatch)
    at.radio(key="rh_kind").set_value("url").run()
    at.text_input(key="rh_url").input(case.typed).run()
    assert not at.exception
    shown = _all_text(at)
    assert (("**Not in** `r1`" in shown) is reserved) and (("**In** `r1`" in shown) is not reserved), shown
    assert ("Opted out:" in shown) is (case.by == "registry")


def test_verify_with_the_registry_agrees(world):
    root = world
    releases = root / "releases"
    assert verify_release(releases / "r1", root / "registry").ok
    assert verify_release(releases / "r2", root / "registry").ok
    report = verify_release(releases / "r0", root / "registry")
    failed = [c.name for c in report.checks if not c.ok]
    assert failed == ["registry opt-outs honoured (no document matches an entry)"]
    assert _kept_urls(releases / "r1") == _kept_urls(releases / "r2")


def test_every_surface_gives_one_answer_for_a_pasted_text(world, monkeypatch):
    """Pasted with zero-width spaces, soft hyphens and the e-mail address the release stores redacted."""
    root = world
    releases = root / "releases"
    opted, kept = root / "opted-out-text.txt", root / "kept-text.txt"
    assert "OPTED OUT" in _cli("optout", "check", "--text-file", opted, "--registry", root / "registry")
    assert "OPTED OUT" not in _cli("optout", "check", "--text-file", kept, "--registry", root / "registry")
    assert _removed(releases / "r1").get(TEXT_STORED) == "optout_registry"
    assert TEXT_STORED not in _kept_urls(releases / "r2") and TEXT_KEPT in _kept_urls(releases / "r2")
    report = json.loads(_cli("check", releases / "r1", "--text-file", kept, "--json"))
    assert report["verdict"] == "in" and report["counts"]["same_text_documents"] == 1, report["summary"]

    at = _page("am_i_in", root, monkeypatch)
    at.text_area(key="q_text").input(kept.read_text(encoding="utf-8")).run()
    assert not at.exception
    assert at.success and "in" in at.success[0].value.lower(), _all_text(at)
    at = _page("rights_holder", root, monkeypatch)
    at.radio(key="rh_kind").set_value("text").run()
    at.text_area(key="rh_text").input(kept.read_text(encoding="utf-8")).run()
    assert not at.exception
    assert "**In** `r1`" in _all_text(at)
    at.text_area(key="rh_text").input(opted.read_text(encoding="utf-8")).run()
    assert "Opted out:" in _all_text(at)

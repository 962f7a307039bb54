"""A new opt-out family with a site file is one declaration (issue 19: at most 3 files to add one).

The toy family below is declared in this file only: its site file `/toy.txt` holds `reserve: <path prefix>`
lines, and it reserves the pages under them for every agent. The test adds it to
`pipeline.optout.families.FAMILIES` and edits no other module; then the crawler fetches `/toy.txt` for the
origin, the policy scan collects it, `PolicyIndex`, `decide` and `explain` use it, the read stage keeps it out of
the documents, and a real run's ledger names the removal with the toy's reason. A crawl without the declaration
is the control: `/toy.txt` is never asked for.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import polars as pl
import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.crawl import crawl
from pipeline.derive import derive_release
from pipeline.optout import families
from pipeline.optout.base import Decision, Evidence, sha256_hex
from pipeline.optout.explain import explain
from pipeline.optout.families import Family, Fetch, Page, Parsed, Signal, SiteFile
from pipeline.optout.policies import PolicyIndex
from pipeline.sources.policy_scan import collect
from pipeline.synthetic import make_page
from pipeline.verify import verify_release
from tests.crawl.helpers import fast_config, records
from tests.helpers.warcs import Page as WarcPage
from tests.helpers.warcs import write_warc

TOY_BODY = b"# toy opt-out file\nreserve: /secret/\n"
AGENTS = ("GPTBot", "CCBot")


# ---- the whole toy family: a parser, a decider, a declaration


@dataclass(frozen=True)
class ToyFile:
    url: str
    prefixes: tuple[str, ...]
    sha256: str
    fetched_at: str | None


def parse_toy(fetch: Fetch) -> Parsed:
    text = (fetch.body or b"").decode("utf-8", "replace")
    prefixes = tuple(line.partition(":")[2].strip() for line in text.splitlines() if line.startswith("reserve:"))
    toy = ToyFile(fetch.url, prefixes, sha256_hex(fetch.body or b""), fetch.fetched_at)
    return "observed", f"{len(prefixes)} reserved prefixes", toy


def decide_toy(page: Page, files: tuple[ToyFile, ...]) -> Iterable[list[Decision]]:
    path = urlsplit(page.url).path
    for toy in files:
        hit = next((p for p in toy.prefixes if path.startswith(p)), None)
        if hit is None:
            yield [Decision(agent, True, "toy", "no toy reservation") for agent in page.agents]
            continue
        seen = Evidence("toy", toy.url, f"reserve: {hit}", toy.sha256, toy.fetched_at)
        yield [Decision(agent, False, "toy", f"reserve: {hit}", (seen,)) for agent in page.agents]


TOY = Family("toy", (Signal("toy", "the toy file"),), decide_toy, SiteFile("/toy.txt", "toy.txt", parse_toy))


# ---- a one-origin web on 127.0.0.1


def _html(path: str) -> bytes:
    return make_page(19, path, "en", paragraphs=6).html().encode()


PAGES = {
    "/robots.txt": (b"User-agent: *\nAllow: /\n", "text/plain"),
    "/toy.txt": (TOY_BODY, "text/plain"),
    "/": (b'<html><body><a href="/secret/plans">plans</a> <a href="/open/news">news</a></body></html>', "text/html"),
    "/secret/plans": (_html("/secret/plans"), "text/html; charset=utf-8"),
    "/open/news": (_html("/open/news"), "text/html; charset=utf-8"),
}


class _Handler(BaseHTTPRequestHandler):
    log: list[str]

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        self.log.append(self.path)
        body, ctype = PAGES.get(self.path, (b"not here", "text/plain"))
        self.send_response(200 if self.path in PAGES else 404)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def site() -> Iterator[tuple[str, list[str]]]:
    log: list[str] = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), type("H", (_Handler,), {"log": log}))
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", log
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_a_family_declared_in_one_place_is_fetched_collected_decided_and_ledgered(site, tmp_path, monkeypatch):
    base, log = site
    crawl([base + "/"], tmp_path / "control", fast_config())
    assert "/toy.txt" not in log  # not declared: nobody asks for it

    monkeypatch.setattr(families, "FAMILIES", (*families.FAMILIES, TOY))
    log.clear()
    out = tmp_path / "crawl"
    crawl([base + "/"], out, fast_config())

    # the crawler: asked for /toy.txt right after robots.txt, before any page, and stored the exchange
    assert log[0] == "/robots.txt" and log.index("/toy.txt") < log.index("/") and set(PAGES) <= set(log)
    recs = records(out)
    stored = [r for r in recs if r.type == "response" and r.url == base + "/toy.txt"]
    assert len(stored) == 1 and stored[0].body == TOY_BODY
    assert b"/ai.txt and /toy.txt stored per origin" in next(r.body for r in recs if r.type == "warcinfo")

    # the scan collects it; the index parses it into the origin's policy, with the record it came from
    warcs = [str(p) for p in sorted(out.glob("*.warc.gz"))]
    collected, _ = collect(warcs)
    assert base + "/toy.txt" in collected["url"].to_list()
    index = PolicyIndex.build(collected)
    (toy,) = index.site(base + "/secret/plans").versions("toy")
    assert toy.prefixes == ("/secret/",) and toy.sha256 == sha256_hex(TOY_BODY)
    assert index.source(toy.url, toy.sha256, toy.fetched_at)["source_file"] == warcs[0]
    file_rows = index.file_evidence().filter(pl.col("signal") == "toy.txt")
    assert file_rows.select("verdict", "rule").rows() == [("observed", "1 reserved prefixes")]

    # explain: from the raw bytes, by path, as a rights holder's tester asks
    secret = explain(base + "/secret/plans", AGENTS, files={"/toy.txt": TOY_BODY})
    assert [(v.reserved, [d.signal for d in v.reserving]) for v in secret] == [(True, ["toy"])] * 2
    assert not any(v.reserved for v in explain(base + "/open/news", AGENTS, files={"/toy.txt": TOY_BODY}))
    assert families.signal_texts()["toy"] == "the toy file"

    # a real run over the crawl and over a WARC from elsewhere (its records carry no crawler mark, so the
    # toy file is known by its URL alone): the toy files are evidence, not documents, and each reserved page
    # is in the ledger by the toy's reason
    other = tmp_path / "other.warc.gz"
    write_warc(
        other,
        [
            WarcPage("http://toy.test/toy.txt", TOY_BODY, "text/plain"),
            *(WarcPage("http://toy.test" + path, _html(path)) for path in ("/secret/memo", "/open/report")),
        ],
    )
    release = tmp_path / "release"
    result = CliRunner().invoke(app, ["run", *warcs, str(other), "--out", str(release), "--no-index"])
    assert result.exit_code == 0, result.output
    ledger = pl.read_parquet(release / "ledger" / "*.parquet")
    why = dict(zip(ledger["url"].str.replace(base, "", literal=True), ledger["reason"], strict=True))
    assert why["/secret/plans"] == why["http://toy.test/secret/memo"] == "optout_toy"
    assert why["/toy.txt"] == why["http://toy.test/toy.txt"] == "read_policy_file"
    assert why.get("/open/news", "kept") != "optout_toy" and why.get("http://toy.test/open/report") != "optout_toy"
    detail = ledger.filter(pl.col("reason") == "optout_toy")["detail"].to_list()
    assert len(detail) == 2 and all(d.endswith(": reserve: /secret/") for d in detail)
    documents = pl.read_parquet(release / "documents" / "*.parquet")
    assert not documents["url"].str.ends_with("/toy.txt").any()
    evidence = pl.read_parquet(release / "optout_evidence" / "*.parquet")
    reserved = evidence.filter(pl.col("signal") == "toy").sort("url")
    assert reserved.select("verdict", "rule", "raw").unique().rows() == [
        ("reserved", "reserve: /secret/", "reserve: /secret/")
    ]
    crawled = reserved.filter(pl.col("url").str.starts_with(base))
    assert crawled["source_record_id"].to_list() == [stored[0].headers["WARC-Record-ID"]]
    assert verify_release(Path(release)).ok

    # derive: a release built without opt-outs, then the toy file applied retroactively as a snapshot
    (tmp_path / "no-optout.json").write_text('{"optout": {"enabled": false}}')
    parent, child = tmp_path / "parent", tmp_path / "child"
    argv = ["run", str(other), "--out", str(parent), "--no-index", "--config", str(tmp_path / "no-optout.json")]
    assert CliRunner().invoke(app, argv).exit_code == 0
    assert "http://toy.test/secret/memo" in pl.read_parquet(parent / "documents" / "*.parquet")["url"].to_list()
    derive_release(parent, child, snapshots=[str(other)])
    removed = pl.read_parquet(child / "ledger" / "*.parquet").filter(pl.col("stage") == "optout")
    assert removed.select("url", "reason").rows() == [("http://toy.test/secret/memo", "optout_toy")]

"""Releases for the report tests, built once per session by the real pipeline.

* `demo`: the README's demo (the sample web served on 127.0.0.1, crawled by our crawler, plus the
  sample WARCs): real opt-outs, evidence and crawler `warcinfo`.
* `web`: one WARC from a foreign crawler whose `warcinfo` names a hostile user agent, with pages on
  30 domains of different sizes and dates (enough for a top-10 % list of 3), one page whose host and
  title carry `<script>`; plus a JSONL dataset (a "publicly available dataset" for the template).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner
from warcio.warcwriter import WARCWriter

from pipeline.config import RunConfig
from pipeline.synthetic import make_page
from tests.helpers.warcs import Page, page_record

HOSTILE_UA = 'EvilCrawler/1.0 (<script>alert("ua")</script>)'
# a host a browser accepts (WHATWG forbids '<' and '>' in hosts, so a '<script>' host has no domain at all) that is
# still hostile in HTML: a quote to break out of an attribute, an entity
HOSTILE_HOST = "x\"onmouseover=alert(1)&amp;'.test"
HOSTILE_TITLE = "<script>alert('title')</script> & <img src=x onerror=alert(2)>"
CRAWLER = "ExampleCrawler 2.0"
LANGS = ("en", "de", "fr", "it")
N_DOMAINS = 30


def web_pages() -> list[Page]:
    """30 domains, 1-3 pages each, 3-8 paragraphs, dated across 2025; one hostile page."""
    pages = []
    for d in range(N_DOMAINS):
        for n in range(1 + d % 3):
            url = f"http://site{d:02d}.example/{n}"
            lang = LANGS[(d + n) % len(LANGS)]
            page = make_page(1000 + 10 * d + n, url, lang, paragraphs=3 + (d * 7 + n) % 6)
            pages.append(Page(url, page.html(), date=f"2025-{1 + d % 12:02d}-{1 + n:02d}T10:00:00Z"))
    hostile = make_page(4242, "http://hostile.test/", "en", paragraphs=24)  # the largest domain: ranked first
    html = hostile.html().replace(f"<title>{hostile.title}</title>", "<title>&lt;script&gt;alert('title')"
                                  "&lt;/script&gt; &amp; &lt;img src=x onerror=alert(2)&gt;</title>")
    pages.append(Page(f"http://{HOSTILE_HOST}/p", html, date="2025-06-15T08:00:00Z"))
    return pages


def write_crawl(path: Path, pages: list[Page], info: dict[str, str]) -> None:
    with open(path, "wb") as out:
        writer = WARCWriter(out, gzip=True, warc_version="1.1")
        writer.write_record(writer.create_warcinfo_record(path.name, info))
        for page in pages:
            writer.write_record(page_record(writer, page))


def write_dataset(path: Path) -> None:
    """A FineWeb-style JSONL file: text, id, url, date."""
    rows = []
    for i in range(4):
        page = make_page(77 + i, f"https://dataset.example/doc/{i}", LANGS[i], paragraphs=5)
        rows.append({"text": "\n\n".join(page.paragraphs), "id": f"ds-{i}", "url": page.url,
                     "date": f"2024-03-0{i + 1}T00:00:00Z"})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


@pytest.fixture(scope="session")
def demo_release(tmp_path_factory) -> tuple[Path, Path]:
    """(release, crawl directory) of `apertura demo`."""
    from pipeline.cli import app

    tmp = tmp_path_factory.mktemp("report-demo")
    release, crawl = tmp / "releases" / "demo", tmp / "crawls" / "demo"
    result = CliRunner().invoke(app, ["demo", "--out", str(release), "--crawl-dir", str(crawl)])
    assert result.exit_code == 0, result.output
    return release, crawl


@pytest.fixture(scope="session")
def web_release(tmp_path_factory) -> tuple[Path, Path, Path]:
    """(release, crawled WARC, JSONL dataset) for the 30-domain corpus."""
    from pipeline.cli import build
    from pipeline.sources.inputs import expand_inputs

    tmp = tmp_path_factory.mktemp("report-web")
    warc, dataset = tmp / "crawl-00000.warc.gz", tmp / "dataset.jsonl"
    info = {
        "software": CRAWLER,
        "http-header-user-agent": HOSTILE_UA,
        "operator": "crawl-ops@example.org",
        "robots": "obey",
        "format": "WARC File Format 1.1",
    }
    write_crawl(warc, web_pages(), info)
    write_dataset(dataset)
    release = tmp / "releases" / "web"
    build(expand_inputs([str(warc), str(dataset)]), RunConfig(), release)
    return release, warc, dataset


def copy_release(release: Path, to: Path) -> Path:
    """A writable copy (releases are immutable; tests that damage one work on a copy)."""
    import shutil

    shutil.copytree(release, to)
    return to

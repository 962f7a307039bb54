"""Reading back what the crawler wrote, for the crawl tests."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from warcio.archiveiterator import ArchiveIterator

from pipeline.crawl.config import CrawlConfig
from pipeline.sources.sample_web import SampleWeb

OUR_TOKEN = "AperturaBot"


def fast_config(**overrides: Any) -> CrawlConfig:
    """Small delays so the whole sample web crawls in about a second; loopback allowed (the test servers)."""
    settings: dict[str, Any] = {
        "delay_seconds": 0.02,
        "backoff_seconds": 0.02,
        "contact": "mailto:ops@example.org",
        "allow_private": True,
    }
    settings.update(overrides)
    return CrawlConfig(**settings)


@dataclass
class Rec:
    file: str
    type: str
    url: str | None
    headers: dict[str, str]
    status: int | None
    http_headers: list[tuple[str, str]]
    status_line: str | None
    body: bytes
    version: str

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.body)


def warc_files(out: Path) -> list[Path]:
    return sorted(out.glob("*.warc.gz"))


def records(out: Path) -> list[Rec]:
    """Every record of every finished WARC file in `out`, digests checked by warcio."""
    found = []
    for path in warc_files(out):
        with open(path, "rb") as f:
            for rec in ArchiveIterator(f, check_digests="raise"):
                http = rec.http_headers
                body = rec.content_stream().read() if rec.rec_type != "response" else rec.raw_stream.read()
                found.append(
                    Rec(
                        path.name,
                        rec.rec_type,
                        rec.rec_headers.get_header("WARC-Target-URI"),
                        dict(rec.rec_headers.headers),
                        int(http.get_statuscode()) if http is not None and rec.rec_type == "response" else None,
                        list(http.headers) if http is not None else [],
                        http.protocol + " " + http.statusline if http is not None else None,
                        body,
                        rec.rec_headers.protocol,
                    )
                )
    return found


def site_path(web: SampleWeb, url: str) -> tuple[str, str]:
    """(site, path) of a sample-web URL."""
    parts = urlsplit(url)
    base = f"{parts.scheme}://{parts.netloc}"
    site = next(name for name, b in web.sites.items() if b == base)
    return site, parts.path + (f"?{parts.query}" if parts.query else "")

"""The crawler: polite, robots.txt-first, WARC 1.1 out (`apertura crawl`, `apertura robots-snapshot`).

`crawl(seeds, out, config)` and `robots_snapshot(hosts, out, config)` in `crawler.py`, the UI-free core
(progress goes to a callback); the frontier, seen set and crawl-state.json in `state.py`; GETs behind the
egress policy (`egress.py`) with politeness and retries in `fetch.py`; robots.txt and the other site files
in `site_files.py`; the typed config in `config.py`; the WARC layout in `warc.py`; URL canonicalisation,
scope and link extraction in `urls.py`; Crawl-delay and Retry-After in `politeness.py`; the Typer commands
and the progress line in `cli.py`.
"""

from pipeline.crawl.config import CrawlConfig
from pipeline.crawl.crawler import CrawlError, CrawlSummary, crawl, read_url_list, robots_snapshot

__all__ = ["CrawlConfig", "CrawlError", "CrawlSummary", "crawl", "read_url_list", "robots_snapshot"]

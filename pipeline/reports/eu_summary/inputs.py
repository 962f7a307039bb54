"""The EU summary's inputs: which template source category each input of a release falls in (from its format,
its `warcinfo` record and the provider's overrides, with the basis printed beside it), and which crawler wrote it.
"""

from __future__ import annotations

import fnmatch
import json
from pathlib import Path

from pipeline.reports.eu_summary.model import Category, Crawler, InputSource

WARCINFO_BYTES = 256 * 1024  # of a warcinfo record's fields, at most this much is read


def read_warcinfo(path: str) -> dict[str, str] | None:
    """The fields of a WARC/WET file's leading `warcinfo` record, or None (no file, no warcinfo, remote URL).

    Parsed by the one WARC record parser (`pipeline.warc_record`), from the file's first bytes only."""
    if "://" in path or not Path(path).is_file():
        return None
    from pipeline.warc_record import MAX_HEAD_BYTES, warcinfo_fields

    try:
        with open(path, "rb") as f:
            head = f.read(WARCINFO_BYTES + 2 * MAX_HEAD_BYTES)
    except OSError:  # it loses its crawler identification, no more
        return None
    return warcinfo_fields(head, WARCINFO_BYTES)


def classify(
    entry: dict, info: dict[str, str] | None, overrides: dict[str, Category], inspected: bool = True
) -> InputSource:
    """The template category of one manifest input, with the basis printed beside it so a reader can contest it."""
    path, fmt_ = entry["path"], entry["format"]
    category: Category
    dataset = None
    for pattern, forced in overrides.items():
        if fnmatch.fnmatch(path, pattern):
            category, basis = forced, f"set by the provider (--source {pattern}={forced})"
            break
    else:
        info = info or {}
        part_of = info.get("isPartOf", "")
        if (
            "common crawl" in info.get("publisher", "").lower()
            or part_of.startswith("CC-MAIN")
            or ("crawl-data/CC-MAIN-" in path)
        ):
            category, basis = "public", "Common Crawl archive (warcinfo publisher/isPartOf or path)"
            dataset = part_of or "Common Crawl"
        elif fmt_ in ("parquet", "jsonl"):
            category, basis = "public", "already-extracted dataset file (Parquet/JSONL)"
            dataset = Path(path).name
        elif info.get("http-header-user-agent"):
            category, basis = "crawled", "warcinfo names the crawler and its user agent"
        elif fmt_ in ("warc", "wet", "arc"):
            category = "other"
            if not inspected:
                basis = "web archive file whose warcinfo was not read (inspect_inputs off)"
            elif "://" in path or not Path(path).is_file():
                basis = "web archive file not readable here, so its crawler is unknown (use --source to classify)"
            else:
                basis = "web archive file whose warcinfo does not identify a crawler" + (
                    f" (software: {info['software']})" if info.get("software") else ""
                )
        else:
            category, basis = "other", f"input format {fmt_}"
    return InputSource(
        path=path,
        sha256=entry["sha256"],
        format=fmt_,
        bytes=entry["bytes"],
        category=category,
        basis=basis,
        dataset=dataset,
        eligible_records=entry["eligible"],
        documents=0,
        removed=0,
        unreadable_spans=(entry.get("records_by_type") or {}).get("unreadable", 0),
        unreadable_bytes=(entry.get("bytes_by_type") or {}).get("unreadable", 0),
    )


def crawlers(inputs: list[InputSource], infos: dict[str, dict[str, str] | None]) -> list[Crawler]:
    """One entry per (software, user agent) among the crawled inputs, with the files it wrote."""
    found: dict[tuple, Crawler] = {}
    for source in inputs:
        info = infos.get(source.path) or {}
        key = (info.get("software"), info.get("http-header-user-agent"))
        if key not in found:
            try:
                config = json.loads(info["crawl-config"]) if info.get("crawl-config") else None
            except json.JSONDecodeError:
                config = None
            found[key] = Crawler(
                software=key[0],
                user_agent=key[1],
                robots=info.get("robots"),
                operator=info.get("operator"),
                description=info.get("description"),
                config_hash=info.get("crawl-config-hash"),
                config=config if isinstance(config, dict) else None,
                inputs=[],
            )
        found[key].inputs.append(source.path)
    return list(found.values())


def behaviour(crawler: Crawler) -> list[str]:
    """What the crawler's own records say about how it collected: robots handling and politeness."""
    lines = []
    if crawler.robots:
        lines.append(f"robots policy: {crawler.robots}")
    c = crawler.config or {}
    if c.get("robots_token"):
        lines.append(f"robots.txt groups obeyed for the token {c['robots_token']}")
    polite = [
        f"{label} {c[k]}"
        for k, label in (
            ("delay_seconds", "delay between requests (s):"),
            ("max_connections_per_host", "connections per host:"),
            ("max_crawl_delay_seconds", "largest Crawl-delay honoured (s):"),
            ("scope", "scope:"),
            ("max_depth", "maximum link depth:"),
        )
        if c.get(k) is not None
    ]
    if polite:
        lines.append("; ".join(polite))
    if c.get("content_types"):
        lines.append("content types fetched: " + ", ".join(map(str, c["content_types"])))
    if crawler.config_hash:
        lines.append(f"crawl configuration hash: {crawler.config_hash}")
    return lines

"""Site policy files parsed once per origin: the `PolicyIndex` the opt-out step, the release and derive ask.

The policy scan (`pipeline/sources/policy_scan.py`) finds every fetch of a declared site file in the inputs
and opt-out snapshots (and the targets of their redirects); `PolicyIndex.build` follows each fetch's
redirects among them, parses it with its family's parser (`pipeline.optout.families`) into a `SitePolicy`
per origin and remembers which record each parsed file came from, so every decision can point at the exact
bytes that justified it. Pure: it reads the collected frame it is given, never a file.

Versions: when an origin has several fetches of one file (crawl time and a later snapshot), all of
them are kept and the most restrictive wins. A tdmrep.json or ai.txt that is absent (4xx) or
unreachable (5xx) is no signal; a robots.txt follows RFC 9309 (4xx allow, 5xx disallow all).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urljoin

import polars as pl

from pipeline.optout import families, robots
from pipeline.optout.base import sha256_hex
from pipeline.optout.explain import SitePolicy
from pipeline.url_identity import domain_expr, site_key

RAW_CHARS = 2_000  # characters of a policy file kept in the evidence row (its sha256 covers all of it)
MAX_REDIRECTS = robots.MAX_REDIRECTS
# the rule texts of a fetch that gave no policy (`_parse` parsed nothing), and the evidence rows they mark: every
# other policy-file row was parsed, so its origin is one of the manifest's `optout.origins` (which verify recounts)
UNREADABLE, NO_SIGNAL = "record unreadable: ", ": no signal"
UNPARSED_SQL = (
    f"(verdict = 'malformed' and starts_with(rule, '{UNREADABLE}')) or "
    f"(verdict in ('redirect', 'not_found', 'unreachable') and ends_with(rule, '{NO_SIGNAL}'))"
)


def redirect_target(url: str, headers: str | None) -> str | None:
    """The absolute URL a response's `Location` header (in a record's header block) points to, if any."""
    for line in (headers or "").splitlines():
        name, _, value = line.partition(":")
        if name.strip().lower() == "location" and value.strip():
            return urljoin(url, value.strip())
    return None


def _text(payload: bytes | None) -> str | None:
    return None if payload is None else payload[: RAW_CHARS * 4].decode("utf-8", "replace")[:RAW_CHARS]


@dataclass
class PolicyIndex:
    """Parsed site policies by origin, the source record of every parsed file, and one evidence row per fetch."""

    sites: dict[str, SitePolicy] = field(default_factory=dict)
    sources: dict[tuple[str, str | None, str | None], dict] = field(default_factory=dict)
    file_rows: list[dict] = field(default_factory=list)

    @classmethod
    def build(cls, collected: pl.DataFrame) -> PolicyIndex:
        index = cls()
        by_url: dict[str, dict] = {}
        for row in collected.iter_rows(named=True):
            by_url.setdefault(row["url"], row)  # the first fetch of a redirect target is the one followed
        versions: dict[str, dict[str, list]] = {}
        for row in collected.iter_rows(named=True):
            family = families.site_file_family(row["url"])
            if family is None or family.site_file is None:
                continue  # a redirect target: reached through the policy URL that redirected to it
            final, hops = row, 0
            while final["http_status"] is not None and 300 <= final["http_status"] < 400 and hops <= MAX_REDIRECTS:
                target = redirect_target(final["url"], final["http_headers"])
                if target is None or target not in by_url:
                    break
                final, hops = by_url[target], hops + 1
            verdict, rule, parsed = _parse(family.site_file, row, final, hops)
            index.file_rows.append(_file_row(family.site_file.kind, row, verdict, rule))
            if parsed is None:
                continue
            versions.setdefault(site_key(row["url"]), {}).setdefault(family.name, []).append(parsed)
            index.sources[(parsed.url, parsed.sha256, parsed.fetched_at)] = _source(final)
        for origin, files in versions.items():
            index.sites[origin] = SitePolicy({name: tuple(parsed) for name, parsed in files.items()})
        return index

    def site(self, url: str | None) -> SitePolicy:
        return self.sites.get(site_key(url) or "", SitePolicy())

    def source(self, where: str, sha256: str | None, fetched_at: str | None) -> dict | None:
        return self.sources.get((where, sha256, fetched_at))

    def file_evidence(self) -> pl.DataFrame:
        frame = pl.DataFrame(self.file_rows, schema=FILE_ROW_SCHEMA)
        return frame.with_columns(domain=domain_expr(pl.col("url")))


def _parse(site_file: families.SiteFile, row: dict, final: dict, hops: int) -> families.Parsed:
    """(verdict, rule, parsed file or None) for one policy-file fetch after following its redirects."""
    status = final["http_status"]
    if final["read_error"] is not None and final["read_error"] != "read_content_type":
        return "malformed", f"{UNREADABLE}{final['read_error']}", None
    if status is not None and 300 <= status < 400 and not (hops > MAX_REDIRECTS and site_file.every_status):
        why = f"redirect after {hops} hops not found in the inputs"
        if hops > MAX_REDIRECTS:  # the chain was cut, not lost: its target may well be in the inputs
            why = f"more than {MAX_REDIRECTS} redirects"
        return "redirect", f"{why}{NO_SIGNAL}", None
    if not site_file.every_status and not (status is not None and 200 <= status < 300):
        verdict = "not_found" if status is not None and 400 <= status < 500 else "unreachable"
        return verdict, f"HTTP {status}{NO_SIGNAL}", None
    fetch = families.Fetch(row["url"], status, final["payload"], final["content_type"], row["date"], hops)
    return site_file.parse(fetch)


def _source(record: dict) -> dict:
    return {
        "source_file": record["source_file"],
        "source_id": record["source_id"],
        "source_record_id": record["warc_record_id"],
        "source_offset": record["warc_record_offset"],
        "source_length": record["warc_record_length"],
        "http_status": record["http_status"],
    }


FILE_ROW_SCHEMA: dict[str, pl.DataType] = {
    "kind": pl.String(),
    "url": pl.String(),
    "origin": pl.String(),
    "signal": pl.String(),
    "verdict": pl.String(),
    "rule": pl.String(),
    "raw": pl.String(),
    "raw_sha256": pl.String(),
    "http_status": pl.Int32(),
    "source_file": pl.String(),
    "source_id": pl.String(),
    "source_record_id": pl.String(),
    "source_offset": pl.Int64(),
    "source_length": pl.Int64(),
    "fetched_at": pl.String(),
}


def _file_row(kind: str, row: dict, verdict: str, rule: str) -> dict:
    body = row["payload"]
    return {
        "kind": "policy_file",
        "url": row["url"],
        "origin": site_key(row["url"]),
        "signal": kind,
        "verdict": verdict,
        "rule": rule,
        "raw": _text(body),
        "raw_sha256": None if body is None else sha256_hex(body),
        **_source(row),
        "fetched_at": row["date"],
    }

"""Site files: per origin and before any page, robots.txt, then the site files it allows, recorded in WARC.

`/robots.txt` is fetched first (redirects followed up to 5 hops, RFC 9309 2.3.1.2), then each declared
site file (`pipeline.optout.families.after_robots()`: `/.well-known/tdmrep.json`, `/ai.txt`) if robots.txt
allows it for our token (redirects only within the origin and where robots.txt allows). Each of these
exchanges is stored as request + response records whatever the status, marked `Apertura-Site-File`: they
are the evidence the pipeline's opt-out step reads later. robots.txt 5xx or unreachable -> nothing else on
that origin is requested (a `metadata` record says why). All records of an origin's set-up are written
together once the outcome is known, so an interrupted set-up is redone whole on resume.
"""

from __future__ import annotations

import base64
from typing import Any

from pipeline.crawl.config import CrawlConfig
from pipeline.crawl.fetch import Failure, Fetcher, failure_record
from pipeline.crawl.politeness import crawl_delay
from pipeline.crawl.state import CrawlState, OriginState, iso
from pipeline.crawl.urls import BadUrl, canonicalize, origin
from pipeline.crawl.warc import Exchange, WarcFiles, exchange_records, metadata_record
from pipeline.optout import robots as rb
from pipeline.optout.families import after_robots
from pipeline.warc_record import decode_body


def robots_skip_record(url: str, robots: rb.Robots, token: str, rule: str, **extra: Any) -> Any:
    """The `metadata` record of a URL not requested because robots.txt disallows it for `token`."""
    info = {
        "event": "robots_disallowed",
        "detail": f"not requested: robots.txt disallows it for {token}",
        "agent": token,
        "rule": rule,
        "robots_url": robots.url,
        "robots_sha256": robots.sha256,
        **extra,
    }
    return metadata_record(url, info)


class SiteFiles:
    """Fetches and records an origin's robots.txt and site files, and sets its robots decision and delay."""

    def __init__(self, config: CrawlConfig, fetcher: Fetcher, state: CrawlState, warc: WarcFiles) -> None:
        self.config = config
        self.token = config.robots_token
        self.fetcher = fetcher
        self.state = state
        self.warc = warc

    async def fetch_file(
        self, st: OriginState, url: str, max_hops: int, robots: rb.Robots | None
    ) -> tuple[list[Any], Exchange | Failure, int]:
        """Fetch a site file following redirects; (records, final outcome, redirect hops followed).

        robots.txt (robots=None) follows redirects anywhere; other site files only within the origin
        and where robots.txt allows. More than `max_hops` redirects -> hops = max_hops + 1.
        """
        summary = self.state.summary
        records: list[Any] = []
        hops = 0
        current = url
        while True:
            retried, result = await self.fetcher.fetch(st, current, gate=False)
            for ex in [*retried, result]:
                if isinstance(ex, Exchange):
                    ex.site_file = url  # marked in the WARC: a policy record wherever it was redirected
            for ex in retried:
                records += exchange_records(ex)
                summary.count_exchange(ex)
            summary.site_files += len(retried) + 1
            if isinstance(result, Failure):
                records.append(failure_record(result, site_file=url))
                return records, result, hops
            records += exchange_records(result)
            summary.count_exchange(result)
            location = result.header("location")
            if not (300 <= result.status < 400 and location):
                return records, result, hops
            if hops >= max_hops:
                records.append(
                    metadata_record(current, {"event": "redirect_limit", "detail": f"more than {max_hops} redirects"})
                )
                return records, result, hops + 1
            try:
                target = canonicalize(location, current)
            except BadUrl as e:
                records.append(metadata_record(current, {"event": "bad_redirect", "detail": str(e)}))
                return records, result, hops
            if robots is not None:
                why = None
                if origin(target) != origin(url):
                    why = "redirect to another origin not followed for a site file"
                elif not rb.decide(robots, target, [self.token])[0].allowed:
                    why = f"redirect target disallowed by robots.txt for {self.token}"
                if why:
                    records.append(metadata_record(target, {"event": "redirect_not_followed", "detail": why}))
                    return records, result, hops
            hops += 1
            current = target

    async def setup_origin(self, o: str, st: OriginState) -> None:
        """robots.txt, then the site files; all records written together once the outcome is known."""
        robots_url = o + "/robots.txt"
        records, result, hops = await self.fetch_file(st, robots_url, rb.MAX_REDIRECTS, None)
        fetched_at = iso(result.started)
        if isinstance(result, Failure):
            fetch: dict[str, Any] = {"status": None, "body_b64": None, "content_type": None}
            robots = rb.from_fetch(None, url=robots_url, fetched_at=fetched_at)
        else:
            body, err, _ = decode_body(result.body, None, result.header("content-encoding"), self.config.max_page_bytes)
            body = result.body if err or body is None else body
            ctype = result.header("content-type")
            fetch = {"status": result.status, "body_b64": base64.b64encode(body).decode(), "content_type": ctype}
            robots = rb.from_fetch(
                result.status, body, url=robots_url, content_type=ctype, redirects=hops, fetched_at=fetched_at
            )
            if robots.mode == "rules":
                delay = crawl_delay(body, self.token)
                if delay is not None:
                    st.delay = max(self.config.delay_seconds, min(delay, self.config.max_crawl_delay_seconds))
                    self.fetcher.turn_done(st)  # applies from this request on
        fetch.update({"url": robots_url, "redirects": hops, "fetched_at": fetched_at})
        records.append(
            metadata_record(
                robots_url,
                {
                    "event": "robots_outcome",
                    "detail": robots.outcome,
                    "mode": robots.mode,
                    "agent": self.token,
                    "status": fetch["status"],
                    "final_url": result.url,
                    "redirects": hops,
                    "sha256": robots.sha256,
                    "delay_seconds": st.delay,
                },
                date=result.started,
            )
        )
        site_files: dict[str, int | None] = {}
        if robots.mode == "disallow_all":
            refused = result.refused if isinstance(result, Failure) else None
            self.state.summary.origins_not_crawled[o] = f"egress refused: {refused.why}" if refused else robots.outcome
            records.append(
                metadata_record(
                    robots_url,
                    {
                        "event": "origin_not_crawled",
                        "detail": f"robots.txt {robots.outcome}: disallow all (RFC 9309 2.3.1), nothing else requested",
                        "origin": o,
                    },
                )
            )
        else:
            site_files = await self._site_files(o, st, robots, records)
        st.robots, st.robots_fetch, st.site_files = robots, fetch, site_files
        self.warc.write(records)

    async def _site_files(
        self, o: str, st: OriginState, robots: rb.Robots, records: list[Any]
    ) -> dict[str, int | None]:
        """Each declared site file that robots.txt allows, its records appended to `records`; path -> final status."""
        site_files: dict[str, int | None] = {}
        for path in after_robots():  # the declared site files (pipeline.optout.families)
            url = o + path
            decision = rb.decide(robots, url, [self.token])[0]
            if not decision.allowed:
                records.append(robots_skip_record(url, robots, self.token, decision.rule, site_file=path))
                site_files[path] = None
                continue
            recs, res, _ = await self.fetch_file(st, url, self.config.max_redirects, robots)
            records += recs
            site_files[path] = None if isinstance(res, Failure) else res.status
        return site_files


__all__ = ["SiteFiles", "robots_skip_record"]

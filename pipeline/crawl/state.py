"""Crawl state: the frontier (one queue per origin), the seen set, counters, and `crawl-state.json` for resume.

`crawl-state.json` is written atomically each time a WARC file is closed: when it reaches `warc_max_bytes`,
every `checkpoint_seconds`, and at the end (also after Ctrl-C or SIGTERM). So the state always describes
exactly the finished files: a URL is in `seen` and out of the frontier only once its records are written,
and URLs in flight at a checkpoint stay in the frontier. On `--resume`, a left-over `*.open` file (written
after the last checkpoint, e.g. before a kill -9) is deleted and the pages in it are fetched again; a
finished file the state does not list (a crash between rename and state write) is renamed `*.orphaned`.
An origin's robots.txt and site files are written together once all are fetched, so an interrupted
set-up is redone whole on resume.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.crawl.config import CrawlConfig
from pipeline.crawl.urls import origin
from pipeline.crawl.warc import OPEN_SUFFIX, now
from pipeline.optout import robots as rb

if TYPE_CHECKING:
    from pipeline.crawl.warc import Exchange

STATE_FILE = "crawl-state.json"
STATE_FORMAT = "apertura-crawl-state/1"


class CrawlError(Exception):
    """A crawl that cannot start (bad out dir, bad state file, no seeds); the message is one line."""


@dataclass
class Item:
    """A frontier entry: canonical URL, link depth from its seed, redirect hops that led to it, referrer."""

    url: str
    depth: int = 0
    hops: int = 0
    via: str | None = None

    def to_json(self) -> list[Any]:
        return [self.url, self.depth, self.hops, self.via]

    @classmethod
    def from_json(cls, value: list[Any]) -> Item:
        return cls(str(value[0]), int(value[1]), int(value[2]), value[3])


@dataclass
class OriginState:
    robots: rb.Robots | None = None  # None until robots.txt (and the site files) are fetched and written
    robots_fetch: dict[str, Any] | None = None  # how the robots.txt fetch ended, for crawl-state.json
    delay: float = 0.0
    queue: deque[Item] = field(default_factory=deque)
    workers: int = 0
    next_at: float = 0.0  # loop time before which no request may start
    rate_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    setup_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    site_files: dict[str, int | None] = field(default_factory=dict)  # path -> final status (None: not fetched)


@dataclass
class CrawlSummary:
    """What a crawl (or the crawls it resumed) did; counters are cumulative over resumes."""

    pages: int = 0  # page fetches (redirect hops and failures included; robots/site files not)
    bytes: int = 0  # response-body bytes stored (site files included)
    statuses: Counter[str] = field(default_factory=Counter)  # final HTTP status of each page fetch
    errors: int = 0  # page fetches that ended without a response
    robots_skipped: int = 0  # URLs not requested because robots.txt disallows them for our token
    type_skipped: int = 0  # responses whose body was not downloaded (content type)
    truncated: int = 0  # bodies cut at max_page_bytes / max_fetch_seconds / disconnect
    site_files: int = 0  # robots.txt / tdmrep.json / ai.txt exchanges (retries and redirect hops included)
    egress_refused: int = 0  # fetches not made: the host is (or resolves to) an address the policy refuses
    origins_not_crawled: dict[str, str] = field(default_factory=dict)  # origin -> robots outcome
    stopped: str | None = None  # 'max_pages' / 'max_bytes' when a limit ended the crawl
    frontier: int = 0  # URLs still queued
    seen: int = 0
    files: list[str] = field(default_factory=list)  # finished WARC files, in order

    def count_exchange(self, ex: Exchange) -> None:
        """A stored exchange: its body bytes, and whether the body was cut."""
        self.bytes += len(ex.body)
        if ex.truncated:
            self.truncated += 1

    def to_json(self) -> dict[str, Any]:
        return {
            "pages": self.pages,
            "bytes": self.bytes,
            "statuses": dict(sorted(self.statuses.items())),
            "errors": self.errors,
            "robots_skipped": self.robots_skipped,
            "type_skipped": self.type_skipped,
            "truncated": self.truncated,
            "site_files": self.site_files,
            "egress_refused": self.egress_refused,
            "origins_not_crawled": self.origins_not_crawled,
            "stopped": self.stopped,
            "frontier": self.frontier,
            "seen": self.seen,
            "files": self.files,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CrawlSummary:
        s = cls()
        for k, v in data.items():
            if k == "statuses":
                s.statuses = Counter({str(a): int(b) for a, b in v.items()})
            elif hasattr(s, k):
                setattr(s, k, v)
        return s


def iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


class CrawlState:
    """Seeds, the seen set, per-origin queues and robots.txt outcomes, counters and the URLs in flight."""

    def __init__(self, config: CrawlConfig) -> None:
        self.config = config
        self.summary = CrawlSummary()
        self.origins: dict[str, OriginState] = {}
        self.seen: set[str] = set()
        self.seeds: list[str] = []
        self.inflight: dict[int, tuple[str, Item]] = {}

    def origin(self, o: str) -> OriginState:
        st = self.origins.get(o)
        if st is None:
            st = self.origins[o] = OriginState(delay=self.config.delay_seconds)
        return st

    def add(self, item: Item, *, front: bool = False) -> bool:
        """Queue `item` on its origin unless its URL was seen; False if it was."""
        if item.url in self.seen:
            return False
        self.seen.add(item.url)
        st = self.origin(origin(item.url))
        if front:
            st.queue.appendleft(item)
        else:
            st.queue.append(item)
        return True

    def queued(self) -> int:
        return sum(len(st.queue) for st in self.origins.values())

    def load(self, out: Path, prefix: str) -> int:
        """Read `out`/crawl-state.json; set aside the files written after it; the index of the next WARC file."""
        path = out / STATE_FILE
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise CrawlError(f"{path}: no crawl state to resume (run without --resume first)") from None
        except (OSError, ValueError) as e:
            raise CrawlError(f"{path}: unreadable crawl state ({e})") from None
        if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
            raise CrawlError(f"{path}: not an {STATE_FORMAT} file")
        self.seeds = list(state["seeds"])
        self.seen = set(state["seen"])
        self.summary = CrawlSummary.from_json(state["counters"])
        self.summary.stopped = None
        self.summary.files = list(state["files"])
        for o, data in state["origins"].items():
            st = self.origin(o)
            st.robots_fetch = data["robots"]
            st.robots = _robots_from(data["robots"])
            st.delay = float(data["delay"])
            st.site_files = dict(data.get("site_files", {}))
        for value in state["frontier"]:
            item = Item.from_json(value)
            self.origin(origin(item.url)).queue.append(item)
        # Files written after the last checkpoint: an unfinished one is dropped (its pages are in the
        # frontier again); a finished one the state does not know is set aside, not silently reused.
        listed = set(self.summary.files)
        top = int(state["next_file_index"])
        for p in sorted(out.iterdir()):
            if p.name.endswith(OPEN_SUFFIX):
                p.unlink()
            elif p.name.startswith(prefix + "-") and p.name.endswith(".warc.gz") and p.name not in listed:
                p.rename(p.with_name(p.name + ".orphaned"))
                digits = p.name[len(prefix) + 1 : -len(".warc.gz")]
                if digits.isdigit():
                    top = max(top, int(digits) + 1)
        return top

    def to_json(self, next_file_index: int) -> dict[str, Any]:
        """crawl-state.json: config, seeds, finished files, per-origin robots outcome, counters, frontier, seen.

        In-flight URLs are part of the frontier (first in their origin's queue): they were not written yet.
        """
        frontier: list[list[Any]] = []
        for o, st in self.origins.items():
            frontier.extend(item.to_json() for oo, item in self.inflight.values() if oo == o)
            frontier.extend(item.to_json() for item in st.queue)
        self.summary.frontier = len(frontier)
        self.summary.seen = len(self.seen)
        counters = self.summary.to_json()
        counters["pages"] -= len(self.inflight)  # counted when their fetch started; fetched again on resume
        return {
            "format": STATE_FORMAT,
            "updated_at": iso(now()),
            "finished": not frontier,
            "config": self.config.model_dump(mode="json"),
            "config_hash": self.config.hash(),
            "seeds": self.seeds,
            "files": self.summary.files,
            "next_file_index": next_file_index,
            "counters": counters,
            "origins": {
                o: {"robots": st.robots_fetch, "delay": st.delay, "site_files": st.site_files}
                for o, st in self.origins.items()
                if st.robots is not None
            },
            "frontier": frontier,
            "seen": sorted(self.seen),
        }

    def save(self, out: Path, next_file_index: int) -> None:
        """Write crawl-state.json atomically (temp file + fsync + os.replace)."""
        path = out / STATE_FILE
        tmp = path.with_name(f".{STATE_FILE}.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(self.to_json(next_file_index), f, separators=(",", ":"))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)


def _robots_from(fetch: dict[str, Any]) -> rb.Robots:
    """The robots.txt decision of a saved fetch, parsed again from its stored bytes."""
    body = base64.b64decode(fetch["body_b64"]) if fetch.get("body_b64") is not None else None
    return rb.from_fetch(
        fetch["status"],
        body,
        url=fetch["url"],
        content_type=fetch.get("content_type"),
        redirects=int(fetch.get("redirects", 0)),
        fetched_at=fetch.get("fetched_at"),
    )


__all__ = ["STATE_FILE", "CrawlError", "CrawlState", "CrawlSummary", "Item", "OriginState"]

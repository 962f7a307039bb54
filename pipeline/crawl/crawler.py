"""A polite asyncio crawler that writes WARC 1.1, plus the robots.txt snapshot used for retroactive opt-outs.

Per origin (`scheme://host:port`: on one machine, loopback ports are separate hosts) and before any
page: `/robots.txt` (redirects followed up to 5 hops, RFC 9309 2.3.1.2), then
`/.well-known/tdmrep.json` and `/ai.txt` if robots.txt allows them for our token. Each of these
exchanges is stored as request + response records whatever the status: they are the evidence the
pipeline's opt-out step reads later. robots.txt 5xx or unreachable -> nothing else on that origin is
requested (a `metadata` record says why). A URL robots.txt disallows for our token is never requested
(a `metadata` record per URL names the rule). See `pipeline/crawl/warc.py` for the record layout.

Politeness: one worker per origin by default (`max_connections_per_host`), `delay_seconds` between the
end of one request and the start of the next to the same origin (robots.txt `Crawl-delay` for our
token wins when larger), retries with exponential backoff on connect errors, timeouts, 429 and 503
(honouring `Retry-After` up to a cap). Redirects are not followed by httpx: every hop is a fetch of
its own, recorded and counted, its target queued at the front of its origin's queue.

Resume: `crawl-state.json` (see `state`) is written atomically each time a WARC file is closed: when
it reaches `warc_max_bytes`, every `checkpoint_seconds`, and at the end (also after Ctrl-C or SIGTERM). So the
state always describes exactly the finished files: a URL is in `seen` and out of the frontier only once
its records are written, and URLs in flight at a checkpoint stay in the frontier. On `--resume`, a
left-over `*.open` file (written after the last checkpoint, e.g. before a kill -9) is deleted and the
pages in it are fetched again; a finished file the state does not list (a crash between rename and
state write) is renamed `*.orphaned`. An origin's robots.txt and site files are written together once
all are fetched, so an interrupted set-up is redone whole on resume.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import os
import re
import signal
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from pipeline.crawl.config import CrawlConfig
from pipeline.crawl.egress import EgressPolicy, EgressRefused, guarded_transport
from pipeline.crawl.politeness import crawl_delay, retry_after
from pipeline.crawl.urls import BadUrl, Scope, canonicalize, extract_links, origin
from pipeline.crawl.warc import (
    OPEN_SUFFIX,
    Exchange,
    WarcFiles,
    exchange_records,
    metadata_record,
    now,
    warcinfo_fields,
)
from pipeline.optout import robots as rb
from pipeline.optout.families import after_robots
from pipeline.sources.warc import decode_body

STATE_FILE = "crawl-state.json"
STATE_FORMAT = "apertura-crawl-state/1"
CRAWL_PREFIX = "crawl"
SNAPSHOT_PREFIX = "robots-snapshot"
HTML_TYPES = ("text/html", "application/xhtml+xml")
RETRY_STATUSES = (429, 503)
ACCEPT = "text/html,application/xhtml+xml,text/plain;q=0.9,*/*;q=0.5"
ACCEPT_ENCODING = "gzip, deflate"  # what pipeline.sources.warc decodes on read (it also does br, zstd)


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
class Failure:
    """A fetch that never produced a response (all attempts failed)."""

    url: str
    started: datetime
    errors: list[str]
    refused: EgressRefused | None = None  # the egress policy refused the connection (not retried)


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


def read_url_list(path: Path, *, origins: bool = False) -> list[str]:
    """Seeds (one URL a line) or hosts (`host`, `host:port` or an origin URL); `#` comments and blanks skipped.

    A bare host means `https://host`. Raises CrawlError naming the first bad line.
    """
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise CrawlError(f"{path}: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise CrawlError(f"{path}: not UTF-8 text") from None
    out: list[str] = []
    for n, line in enumerate(lines, 1):
        text = line.split("#", 1)[0].strip() if origins else line.strip()
        if not text or text.startswith("#"):
            continue
        if origins and not re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", text):
            text = "https://" + text
        try:
            url = canonicalize(text)
        except BadUrl as e:
            raise CrawlError(f"{path}:{n}: {e}") from None
        if origins:
            if url != origin(url) + "/" or "?" in text:
                raise CrawlError(f"{path}:{n}: {text!r} is not a host or origin (no path or query allowed)")
            url = origin(url)
        if url not in out:
            out.append(url)
    if not out:
        raise CrawlError(f"{path}: no {'hosts' if origins else 'URLs'} in file")
    return out


def _hdrs(raw: Iterable[tuple[bytes, bytes]]) -> list[tuple[str, str]]:
    return [(k.decode("latin-1"), v.decode("latin-1")) for k, v in raw]


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


class Crawler:
    """One crawl (or one robots.txt snapshot) into `out`: `prepare()` then `crawl_async()`, or `snapshot_async()`."""

    def __init__(
        self,
        config: CrawlConfig,
        out: Path,
        *,
        prefix: str = CRAWL_PREFIX,
        progress: bool = False,
        egress: EgressPolicy | None = None,
        network: Any = None,
    ) -> None:
        self.config = config
        # every connection is checked by the egress policy (`network`: the socket opener, for tests)
        self.egress = egress or EgressPolicy(allow_private=config.allow_private, allow_networks=config.allow_networks)
        self.network = network
        self.out = out
        self.prefix = prefix
        self.progress = progress
        self.token = config.robots_token
        self.summary = CrawlSummary()
        self.origins: dict[str, OriginState] = {}
        self.seen: set[str] = set()
        self.seeds: list[str] = []
        self.scope = Scope(config.scope, [])
        self.inflight: dict[int, tuple[str, Item]] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self.stopping = False
        self.save_state_files = prefix == CRAWL_PREFIX
        self._keys = itertools.count()
        self._client: httpx.AsyncClient | None = None
        self.warc = WarcFiles(
            out,
            prefix,
            config.warc_max_bytes,
            warcinfo_fields(
                config.canonical_json(),
                config.hash(),
                config.user_agent,
                config.contact,
                "Apertura crawl" if prefix == CRAWL_PREFIX else "Apertura robots.txt / tdmrep.json / ai.txt snapshot",
            ),
            on_close=self._closed,
        )

    # ------------------------------------------------------------------ set-up and state

    def prepare(self, seeds: list[str], resume: bool) -> None:
        """Check/create the out dir, load the state when resuming, queue the seeds not seen yet."""
        if resume:
            self._load_state()
        elif self.out.exists() and (not self.out.is_dir() or any(self.out.iterdir())):
            raise CrawlError(f"{self.out} exists and is not empty: use --resume to continue that crawl, or a new --out")
        self.out.mkdir(parents=True, exist_ok=True)
        for seed in seeds:
            if seed not in self.seeds:
                self.seeds.append(seed)
        if not self.seeds:
            raise CrawlError("no seed URLs")
        self.scope = Scope(self.config.scope, self.seeds)
        for seed in seeds:
            self._enqueue(Item(seed), spawn=False)

    def _load_state(self) -> None:
        path = self.out / STATE_FILE
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
            st = self._origin(o)
            st.robots_fetch = data["robots"]
            st.robots = self._robots_from(data["robots"])
            st.delay = float(data["delay"])
            st.site_files = dict(data.get("site_files", {}))
        for value in state["frontier"]:
            item = Item.from_json(value)
            self._origin(origin(item.url)).queue.append(item)
        # Files written after the last checkpoint: an unfinished one is dropped (its pages are in the
        # frontier again); a finished one the state does not know is set aside, not silently reused.
        listed = set(self.summary.files)
        top = int(state["next_file_index"])
        for p in sorted(self.out.iterdir()):
            if p.name.endswith(OPEN_SUFFIX):
                p.unlink()
            elif p.name.startswith(self.prefix + "-") and p.name.endswith(".warc.gz") and p.name not in listed:
                p.rename(p.with_name(p.name + ".orphaned"))
                digits = p.name[len(self.prefix) + 1 : -len(".warc.gz")]
                if digits.isdigit():
                    top = max(top, int(digits) + 1)
        self.warc.index = top

    def _robots_from(self, fetch: dict[str, Any]) -> rb.Robots:
        body = base64.b64decode(fetch["body_b64"]) if fetch.get("body_b64") is not None else None
        return rb.from_fetch(
            fetch["status"],
            body,
            url=fetch["url"],
            content_type=fetch.get("content_type"),
            redirects=int(fetch.get("redirects", 0)),
            fetched_at=fetch.get("fetched_at"),
        )

    def state(self) -> dict[str, Any]:
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
            "updated_at": _iso(now()),
            "finished": not frontier,
            "config": self.config.model_dump(mode="json"),
            "config_hash": self.config.hash(),
            "seeds": self.seeds,
            "files": self.summary.files,
            "next_file_index": self.warc.index,
            "counters": counters,
            "origins": {
                o: {"robots": st.robots_fetch, "delay": st.delay, "site_files": st.site_files}
                for o, st in self.origins.items()
                if st.robots is not None
            },
            "frontier": frontier,
            "seen": sorted(self.seen),
        }

    def save_state(self) -> None:
        """Write crawl-state.json atomically (temp file + fsync + os.replace)."""
        if not self.save_state_files:
            return
        path = self.out / STATE_FILE
        tmp = path.with_name(f".{STATE_FILE}.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(self.state(), f, separators=(",", ":"))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)

    def _closed(self, name: str) -> None:
        self.summary.files.append(name)
        self.save_state()

    def checkpoint(self) -> None:
        """Close the current WARC file (which saves the state), or just save the state."""
        if self.warc.is_open:
            self.warc.close()
        else:
            self.save_state()

    # ------------------------------------------------------------------ frontier

    def _origin(self, o: str) -> OriginState:
        st = self.origins.get(o)
        if st is None:
            st = self.origins[o] = OriginState(delay=self.config.delay_seconds)
        return st

    def _enqueue(self, item: Item, *, front: bool = False, spawn: bool = True) -> bool:
        if item.url in self.seen:
            return False
        self.seen.add(item.url)
        o = origin(item.url)
        st = self._origin(o)
        if front:
            st.queue.appendleft(item)
        else:
            st.queue.append(item)
        if spawn:
            self._spawn(o)
        return True

    def _spawn(self, o: str) -> None:
        st = self.origins[o]
        while not self.stopping and st.queue and st.workers < min(self.config.max_connections_per_host, len(st.queue)):
            st.workers += 1
            task = asyncio.get_running_loop().create_task(self._worker(o))
            self.tasks.add(task)

    def _limit(self) -> bool:
        """True once a limit is reached; the first time, stop the crawl and record why."""
        c, s = self.config, self.summary
        reason = None
        if c.max_pages is not None and s.pages >= c.max_pages:
            reason = f"max_pages={c.max_pages} reached"
        elif c.max_bytes is not None and s.bytes >= c.max_bytes:
            reason = f"max_bytes={c.max_bytes} reached ({s.bytes} bytes stored)"
        if reason and not self.stopping:
            self.stopping = True
            self.summary.stopped = reason.split("=", 1)[0]
            self.warc.write([metadata_record(None, {"event": "limit_reached", "detail": reason})])
        return reason is not None

    # ------------------------------------------------------------------ HTTP

    async def _turn(self, st: OriginState) -> None:
        """Wait until this origin may be sent a request (politeness delay, backoff)."""
        loop = asyncio.get_running_loop()
        async with st.rate_lock:
            wait = st.next_at - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            st.next_at = loop.time() + st.delay

    def _turn_done(self, st: OriginState, pause: float = 0.0) -> None:
        """A request to this origin ended: the next one waits `delay` (or `pause`, if longer) from now."""
        st.next_at = max(st.next_at, asyncio.get_running_loop().time() + max(st.delay, pause))

    async def _exchange(self, url: str, gate: bool) -> Exchange:
        """One GET, body read raw (still content-encoded) up to max_page_bytes / max_fetch_seconds.

        `max_fetch_seconds` bounds the whole exchange: a server that trickles its response head (each
        byte within `timeout_seconds`, so httpx never times out) fails the attempt with a ReadTimeout;
        a body still arriving then is cut (`WARC-Truncated: time`), as is one that stalls for longer
        than `timeout_seconds`.
        """
        assert self._client is not None
        request = self._client.build_request("GET", url)
        target = request.url.raw_path.decode("ascii")
        ex = Exchange(url, now(), f"GET {target} HTTP/1.1", _hdrs(request.headers.raw))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.max_fetch_seconds
        try:
            async with asyncio.timeout_at(deadline):
                response = await self._client.send(request, stream=True)
        except TimeoutError:
            limit = f"max_fetch_seconds={self.config.max_fetch_seconds:g}"
            raise httpx.ReadTimeout(f"no complete response head within {limit}", request=request) from None
        try:
            ex.http_version = response.http_version or "HTTP/1.1"
            ex.status, ex.reason = response.status_code, response.reason_phrase
            ex.headers = _hdrs(response.headers.raw)
            stream = response.extensions.get("network_stream")
            addr = stream.get_extra_info("server_addr") if stream is not None else None
            if isinstance(addr, tuple) and addr:
                ex.ip = str(addr[0])
                if why := self.egress.refusal(ex.ip):  # the backend checked it already; the socket says where it is
                    raise EgressRefused(request.url.host, ex.ip, why)
            ctype = ex.content_type
            if gate and not 300 <= ex.status < 400 and ctype is not None and ctype not in self.config.content_types:
                ex.body_skipped = True
                return ex
            limit = self.config.max_page_bytes
            parts: list[bytes] = []
            got = 0
            try:
                async with asyncio.timeout_at(deadline):
                    async for chunk in response.aiter_raw():
                        if got + len(chunk) > limit:
                            parts.append(chunk[: limit - got])
                            got = limit
                            ex.truncated = "length"
                            break
                        parts.append(chunk)
                        got += len(chunk)
            except (TimeoutError, httpx.TimeoutException):  # max_fetch_seconds, or no byte for timeout_seconds
                ex.truncated = "time"
            except httpx.TransportError:
                ex.truncated = "disconnect"
            ex.body = b"".join(parts)
            return ex
        finally:
            await response.aclose()

    async def _fetch(self, st: OriginState, url: str, gate: bool) -> tuple[list[Exchange], Exchange | Failure]:
        """GET with retries: (exchanges that were retried, recorded too; the final exchange or Failure)."""
        retried: list[Exchange] = []
        errors: list[str] = []
        started = now()
        for attempt in range(self.config.retries + 1):
            backoff = self.config.backoff_seconds * 2**attempt
            await self._turn(st)
            try:
                ex = await self._exchange(url, gate)
            except EgressRefused as refused:  # not retried: the address will not change its class
                self.summary.egress_refused += 1
                self._turn_done(st)
                return retried, Failure(url, started, [str(refused)], refused)
            except (httpx.HTTPError, httpx.InvalidURL, OSError) as e:
                errors.append(f"{type(e).__name__}: {e}".rstrip(": "))
                self._turn_done(st, backoff)
                continue
            if ex.status in RETRY_STATUSES and attempt < self.config.retries:
                wait = retry_after(ex.header("retry-after"))
                pause = backoff if wait is None else max(backoff, min(wait, self.config.max_retry_after_seconds))
                self._turn_done(st, pause)
                retried.append(ex)
                continue
            self._turn_done(st)
            return retried, ex
        return retried, Failure(url, started, errors)

    def _count_exchange(self, ex: Exchange) -> None:
        self.summary.bytes += len(ex.body)
        if ex.truncated:
            self.summary.truncated += 1

    def _failure_record(self, f: Failure, **extra: Any) -> Any:
        if f.refused is not None:
            r = f.refused
            info = {"event": "egress_refused", "detail": f"not requested: {r}", "host": r.host, "address": r.address,
                    "address_class": r.why, **extra}  # fmt: skip
            return metadata_record(f.url, info, date=f.started)
        detail = f"no response after {len(f.errors)} attempt(s): {f.errors[-1] if f.errors else 'unknown error'}"
        info = {"event": "fetch_error", "detail": detail, "attempts": len(f.errors), "errors": f.errors, **extra}
        return metadata_record(f.url, info, date=f.started)

    def _robots_skip_record(self, url: str, robots: rb.Robots, rule: str, **extra: Any) -> Any:
        info = {
            "event": "robots_disallowed",
            "detail": f"not requested: robots.txt disallows it for {self.token}",
            "agent": self.token,
            "rule": rule,
            "robots_url": robots.url,
            "robots_sha256": robots.sha256,
            **extra,
        }
        return metadata_record(url, info)

    # ------------------------------------------------------------------ robots.txt and site files

    async def _site_file(
        self, st: OriginState, url: str, max_hops: int, robots: rb.Robots | None
    ) -> tuple[list[Any], Exchange | Failure, int]:
        """Fetch a site file following redirects; (records, final outcome, redirect hops followed).

        robots.txt (robots=None) follows redirects anywhere; other site files only within the origin
        and where robots.txt allows. More than `max_hops` redirects -> hops = max_hops + 1.
        """
        records: list[Any] = []
        hops = 0
        current = url
        while True:
            retried, result = await self._fetch(st, current, gate=False)
            for ex in [*retried, result]:
                if isinstance(ex, Exchange):
                    ex.site_file = url  # marked in the WARC: a policy record wherever it was redirected
            for ex in retried:
                records += exchange_records(ex)
                self._count_exchange(ex)
            self.summary.site_files += len(retried) + 1
            if isinstance(result, Failure):
                records.append(self._failure_record(result, site_file=url))
                return records, result, hops
            records += exchange_records(result)
            self._count_exchange(result)
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

    async def _setup_origin(self, o: str, st: OriginState) -> None:
        """robots.txt, then tdmrep.json and ai.txt; all records written together once the outcome is known."""
        robots_url = o + "/robots.txt"
        records, result, hops = await self._site_file(st, robots_url, rb.MAX_REDIRECTS, None)
        fetched_at = _iso(result.started)
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
                    self._turn_done(st)  # applies from this request on
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
            self.summary.origins_not_crawled[o] = f"egress refused: {refused.why}" if refused else robots.outcome
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
            for path in after_robots():  # the declared site files (pipeline.optout.families)
                url = o + path
                decision = rb.decide(robots, url, [self.token])[0]
                if not decision.allowed:
                    records.append(self._robots_skip_record(url, robots, decision.rule, site_file=path))
                    site_files[path] = None
                    continue
                recs, res, _ = await self._site_file(st, url, self.config.max_redirects, robots)
                records += recs
                site_files[path] = None if isinstance(res, Failure) else res.status
        st.robots, st.robots_fetch, st.site_files = robots, fetch, site_files
        self.warc.write(records)

    # ------------------------------------------------------------------ pages

    async def _worker(self, o: str) -> None:
        st = self.origins[o]
        try:
            if self.stopping:
                return
            if st.robots is None:
                async with st.setup_lock:
                    if st.robots is None:
                        await self._setup_origin(o, st)
            while st.queue and not self.stopping and not self._limit():
                item = st.queue.popleft()
                key = next(self._keys)
                self.inflight[key] = (o, item)
                try:
                    await self._page(st, item, key)
                except BaseException:
                    if key in self.inflight:  # not written: back to the frontier (cancelled or a bug), uncounted
                        st.queue.appendleft(self.inflight.pop(key)[1])
                        self.summary.pages -= 1  # _page counts before its first await, so it was counted
                    raise
        finally:
            st.workers -= 1

    async def _page(self, st: OriginState, item: Item, key: int) -> None:
        assert st.robots is not None
        decision = rb.decide(st.robots, item.url, [self.token])[0]
        if not decision.allowed:
            del self.inflight[key]
            self.summary.robots_skipped += 1
            self.warc.write([self._robots_skip_record(item.url, st.robots, decision.rule, depth=item.depth)])
            return
        self.summary.pages += 1
        retried, result = await self._fetch(st, item.url, gate=True)
        records: list[Any] = []
        for ex in retried:
            records += exchange_records(ex)
            self._count_exchange(ex)
        # State first, then the write: a write may close the file and checkpoint, and the checkpoint
        # must already see this URL as done and its links as queued.
        del self.inflight[key]
        if isinstance(result, Failure):
            self.summary.errors += 1
            records.append(self._failure_record(result, depth=item.depth, via=item.via))
            self.warc.write(records)
            return
        records += exchange_records(result)
        self._count_exchange(result)
        self.summary.statuses[str(result.status)] += 1
        if result.body_skipped:
            self.summary.type_skipped += 1
        location = result.header("location")
        if 300 <= result.status < 400 and location:
            records += self._redirect(item, location)
        elif (
            200 <= result.status < 300
            and result.content_type in HTML_TYPES
            and not result.body_skipped
            and item.depth < self.config.max_depth
        ):
            for link in self._links(result):
                if self.scope.allows(link):
                    self._enqueue(Item(link, item.depth + 1, 0, item.url))
        self.warc.write(records)

    def _redirect(self, item: Item, location: str) -> list[Any]:
        try:
            target = canonicalize(location, item.url)
        except BadUrl as e:
            return [metadata_record(item.url, {"event": "bad_redirect", "detail": str(e)})]
        if item.hops >= self.config.max_redirects:
            detail = f"redirect to {target} not followed: more than max_redirects={self.config.max_redirects} hops"
            return [metadata_record(item.url, {"event": "redirect_limit", "detail": detail})]
        if not self.scope.allows(target):
            detail = f"redirect to {target} not followed: out of scope ({self.config.scope})"
            return [metadata_record(item.url, {"event": "redirect_out_of_scope", "detail": detail})]
        if not self._enqueue(Item(target, item.depth, item.hops + 1, item.url), front=True):
            detail = f"redirect to {target} not followed: already fetched or queued (a redirect loop, or a known page)"
            return [metadata_record(item.url, {"event": "redirect_not_followed", "detail": detail})]
        return []

    def _links(self, ex: Exchange) -> list[str]:
        body, err, _ = decode_body(ex.body, None, ex.header("content-encoding"), self.config.max_page_bytes)
        if err or not body:
            return []
        charset = None
        ctype = ex.header("content-type") or ""
        m = re.search(r"charset=[\"']?([\w.:-]+)", ctype, re.IGNORECASE)
        if m:
            charset = m.group(1)
        try:
            return extract_links(body, ex.url, charset)
        except Exception:  # a parser failure loses this page's links, never the crawl
            return []

    # ------------------------------------------------------------------ driving

    def _client_for(self) -> httpx.AsyncClient:
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=512)
        return httpx.AsyncClient(
            follow_redirects=False,
            trust_env=False,  # no proxies or netrc from the environment
            timeout=httpx.Timeout(self.config.timeout_seconds),
            transport=guarded_transport(self.egress, self.network, http2=False, limits=limits),
            headers={"User-Agent": self.config.user_agent, "Accept": ACCEPT, "Accept-Encoding": ACCEPT_ENCODING},
        )

    async def _drive(self, start: list[str], setup_only: bool) -> None:
        progress = self._progress() if self.progress else None
        async with self._client_for() as client:
            self._client = client
            ticker = asyncio.get_running_loop().create_task(self._tick(progress))
            try:
                if setup_only:
                    for o in start:
                        self.tasks.add(asyncio.get_running_loop().create_task(self._setup_only(o)))
                else:
                    for o in start:
                        self._spawn(o)
                while self.tasks:
                    done, _ = await asyncio.wait(set(self.tasks), return_when=asyncio.FIRST_COMPLETED)
                    for task in done:
                        self.tasks.discard(task)
                        task.result()
            finally:
                ticker.cancel()
                for task in self.tasks:
                    task.cancel()
                await asyncio.gather(ticker, *self.tasks, return_exceptions=True)
                self.tasks.clear()
                self._client = None
                if progress is not None:
                    self._show(progress)
                    progress.stop()

    async def _setup_only(self, o: str) -> None:
        st = self._origin(o)
        await self._setup_origin(o, st)

    def _progress(self) -> Any:
        from rich.console import Console
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        progress = Progress(
            SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=Console(stderr=True)
        )
        progress.add_task("crawl", total=None)
        progress.start()
        return progress

    def _show(self, progress: Any) -> None:
        s = self.summary
        queued = sum(len(st.queue) for st in self.origins.values())
        progress.update(
            progress.task_ids[0],
            description=f"pages {s.pages:,} · {s.bytes / 1e6:,.1f} MB · errors {s.errors} · "
            f"robots-skipped {s.robots_skipped} · queued {queued:,} · files {len(s.files) + self.warc.is_open}",
        )

    async def _tick(self, progress: Any) -> None:
        loop = asyncio.get_running_loop()
        last = loop.time()
        while True:
            await asyncio.sleep(0.25)
            if progress is not None:
                self._show(progress)
            if loop.time() - last >= self.config.checkpoint_seconds:
                self.checkpoint()
                last = loop.time()

    async def crawl_async(self) -> CrawlSummary:
        """Crawl the queued frontier until it is empty or a limit is reached; checkpoint at the end."""
        try:
            await self._drive([o for o, st in self.origins.items() if st.queue], setup_only=False)
        finally:
            self.checkpoint()
        return self.summary

    async def snapshot_async(self, origins: list[str]) -> dict[str, dict[str, Any]]:
        """robots.txt, tdmrep.json and ai.txt of each origin (concurrently, politely); the outcome per origin."""
        try:
            await self._drive(origins, setup_only=True)
        finally:
            self.warc.close()
        out: dict[str, dict[str, Any]] = {}
        for o in origins:
            st = self.origins[o]
            robots = st.robots
            out[o] = {
                "robots": None if robots is None else robots.outcome,
                "robots_mode": None if robots is None else robots.mode,
                "robots_status": None if st.robots_fetch is None else st.robots_fetch["status"],
                "crawl_delay": st.delay,
                "site_files": st.site_files,
            }
        return out


def crawl(
    seeds: list[str],
    out: Path,
    config: CrawlConfig | None = None,
    *,
    resume: bool = False,
    progress: bool = False,
    egress: EgressPolicy | None = None,
    network: Any = None,
) -> CrawlSummary:
    """Crawl from `seeds` into `out` (WARC files + crawl-state.json); `resume` continues the crawl in `out`.

    `seeds` must be canonical http(s) URLs (see `read_url_list` / `urls.canonicalize`). Raises CrawlError
    when the crawl cannot start (out dir not empty without `resume`, no or bad state with it). `egress`: the
    policy (default: from `config`, i.e. public addresses only unless `allow_private` / `allow_networks`);
    `network`: the httpcore backend that opens sockets (tests).
    """
    try:
        urls = [canonicalize(s) for s in seeds]
    except BadUrl as e:
        raise CrawlError(str(e)) from None
    crawler = Crawler(config or CrawlConfig(), Path(out), progress=progress, egress=egress, network=network)
    crawler.prepare(urls, resume)
    return asyncio.run(_until_stopped(crawler.crawl_async()))


class CrawlStopped(KeyboardInterrupt):
    """SIGTERM (or SIGINT) stopped the crawl; its WARC file was closed and its state saved, as at its end."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


async def _until_stopped(coro: Any) -> Any:
    """Run the crawl; SIGTERM stops it like Ctrl-C does (asyncio.run cancels on SIGINT): the task is cancelled,
    so `crawl_async`'s checkpoint closes the WARC file and writes crawl-state.json, and `--resume` continues."""
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(coro)
    received: list[int] = []

    def stop(signum: int) -> None:
        received.append(signum)
        task.cancel()

    installed = []
    for signum in (signal.SIGTERM,):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):  # not the main thread: skip
            loop.add_signal_handler(signum, stop, signum)
            installed.append(signum)
    try:
        return await task
    except asyncio.CancelledError:
        if received:
            raise CrawlStopped(received[0]) from None
        raise
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)


def robots_snapshot(
    hosts: list[str] | Path,
    out: Path,
    config: CrawlConfig | None = None,
    *,
    progress: bool = False,
    egress: EgressPolicy | None = None,
    network: Any = None,
) -> dict[str, dict[str, Any]]:
    """Fetch robots.txt, /.well-known/tdmrep.json and /ai.txt of each host into new WARC files in `out`.

    `hosts`: origins or bare hosts (-> https://host), or a file of them, one per line. For applying
    today's opt-outs to WARCs crawled earlier. `out` must be new or empty. Returns, per origin, the
    robots.txt outcome, its HTTP status, the crawl delay and the final status of each site file.
    """
    out = Path(out)
    if isinstance(hosts, Path):
        origins = read_url_list(hosts, origins=True)
    else:
        origins = []
        for h in hosts:
            text = h if "://" in h else "https://" + h
            try:
                o = origin(canonicalize(text))
            except BadUrl as e:
                raise CrawlError(str(e)) from None
            if o not in origins:
                origins.append(o)
    if not origins:
        raise CrawlError("no hosts")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise CrawlError(f"{out} exists and is not empty: choose a new --out")
    out.mkdir(parents=True, exist_ok=True)
    crawler = Crawler(
        config or CrawlConfig(), out, prefix=SNAPSHOT_PREFIX, progress=progress, egress=egress, network=network
    )
    result = asyncio.run(crawler.snapshot_async(origins))
    for o, info in result.items():
        fetch = crawler.origins[o].robots_fetch
        info["fetched_at"] = None if fetch is None else fetch["fetched_at"]
    return result


__all__ = ["CrawlError", "CrawlStopped", "CrawlSummary", "Crawler", "crawl", "read_url_list", "robots_snapshot"]

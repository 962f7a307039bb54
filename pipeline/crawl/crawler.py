"""A polite asyncio crawler that writes WARC 1.1, plus the robots.txt snapshot used for retroactive opt-outs.

This is the crawl's core, free of any UI: it drives the workers, follows links and redirects within scope,
stops at the limits, checkpoints, and reports progress through a callback (`progress`, called with a
`CrawlProgress` when a crawl starts, every 0.25 s and at its end; `pipeline/crawl/cli.py` draws it as a
progress line). Per origin (`scheme://host:port`: on one machine, loopback ports are separate hosts) and
before any page, `site_files.py` fetches robots.txt and the site files it allows; a URL robots.txt
disallows for our token is never requested (a `metadata` record per URL names the rule). One worker per
origin by default (`max_connections_per_host`); each GET goes through `fetch.py` (egress policy,
politeness delay, retries; redirects are not followed by httpx: every hop is a fetch of its own, recorded
and counted, its target queued at the front of its origin's queue). The frontier, the seen set and
`crawl-state.json` (for `--resume`) are in `state.py`; the WARC record layout in `warc.py`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.crawl.config import CrawlConfig
from pipeline.crawl.egress import EgressPolicy
from pipeline.crawl.fetch import Failure, Fetcher, failure_record
from pipeline.crawl.site_files import SiteFiles, robots_skip_record
from pipeline.crawl.state import CrawlError, CrawlState, CrawlSummary, Item, OriginState
from pipeline.crawl.urls import BadUrl, Scope, canonicalize, extract_links, origin
from pipeline.crawl.warc import Exchange, WarcFiles, exchange_records, metadata_record, warcinfo_fields
from pipeline.optout import robots as rb
from pipeline.warc_record import decode_body

CRAWL_PREFIX = "crawl"
SNAPSHOT_PREFIX = "robots-snapshot"
HTML_TYPES = ("text/html", "application/xhtml+xml")
PROGRESS_SECONDS = 0.25


@dataclass(frozen=True)
class CrawlProgress:
    """Where a running crawl is: what `progress` callbacks receive."""

    pages: int  # page fetches started
    bytes: int  # response-body bytes stored
    errors: int  # page fetches without a response
    robots_skipped: int  # URLs not requested: robots.txt disallows them
    queued: int  # URLs waiting in the frontier
    files: int  # WARC files finished or open
    final: bool = False  # the last report of this crawl (or snapshot)


ProgressCallback = Callable[[CrawlProgress], None]


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


class Crawler:
    """One crawl (or one robots.txt snapshot) into `out`: `prepare()` then `crawl_async()`, or `snapshot_async()`."""

    def __init__(
        self,
        config: CrawlConfig,
        out: Path,
        *,
        prefix: str = CRAWL_PREFIX,
        progress: ProgressCallback | None = None,
        egress: EgressPolicy | None = None,
        network: Any = None,
    ) -> None:
        self.config = config
        # every connection is checked by the egress policy (`network`: the socket opener, for tests)
        egress = egress or EgressPolicy(allow_private=config.allow_private, allow_networks=config.allow_networks)
        self.out = out
        self.prefix = prefix
        self.progress = progress
        self.token = config.robots_token
        self.state = CrawlState(config)
        self.scope = Scope(config.scope, [])
        self.tasks: set[asyncio.Task[None]] = set()
        self.stopping = False
        self.save_state_files = prefix == CRAWL_PREFIX
        self._keys = itertools.count()
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
        self.fetcher = Fetcher(config, egress, network, on_refused=self._refused)
        self.site_files = SiteFiles(config, self.fetcher, self.state, self.warc)

    @property
    def summary(self) -> CrawlSummary:
        return self.state.summary

    # ------------------------------------------------------------------ set-up and state

    def prepare(self, seeds: list[str], resume: bool) -> None:
        """Check/create the out dir, load the state when resuming, queue the seeds not seen yet."""
        if resume:
            self.warc.index = self.state.load(self.out, self.prefix)
        elif self.out.exists() and (not self.out.is_dir() or any(self.out.iterdir())):
            raise CrawlError(f"{self.out} exists and is not empty: use --resume to continue that crawl, or a new --out")
        self.out.mkdir(parents=True, exist_ok=True)
        for seed in seeds:
            if seed not in self.state.seeds:
                self.state.seeds.append(seed)
        if not self.state.seeds:
            raise CrawlError("no seed URLs")
        self.scope = Scope(self.config.scope, self.state.seeds)
        for seed in seeds:
            self._enqueue(Item(seed), spawn=False)

    def save_state(self) -> None:
        """Write crawl-state.json (not for a snapshot)."""
        if self.save_state_files:
            self.state.save(self.out, self.warc.index)

    def _closed(self, name: str) -> None:
        self.summary.files.append(name)
        self.save_state()

    def checkpoint(self) -> None:
        """Close the current WARC file (which saves the state), or just save the state."""
        if self.warc.is_open:
            self.warc.close()
        else:
            self.save_state()

    def _refused(self) -> None:
        self.summary.egress_refused += 1

    # ------------------------------------------------------------------ frontier

    def _enqueue(self, item: Item, *, front: bool = False, spawn: bool = True) -> bool:
        if not self.state.add(item, front=front):
            return False
        if spawn:
            self._spawn(origin(item.url))
        return True

    def _spawn(self, o: str) -> None:
        st = self.state.origins[o]
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

    # ------------------------------------------------------------------ pages

    async def _worker(self, o: str) -> None:
        st = self.state.origins[o]
        inflight = self.state.inflight
        try:
            if self.stopping:
                return
            if st.robots is None:
                async with st.setup_lock:
                    if st.robots is None:
                        await self.site_files.setup_origin(o, st)
            while st.queue and not self.stopping and not self._limit():
                item = st.queue.popleft()
                key = next(self._keys)
                inflight[key] = (o, item)
                try:
                    await self._page(st, item, key)
                except BaseException:
                    if key in inflight:  # not written: back to the frontier (cancelled or a bug), uncounted
                        st.queue.appendleft(inflight.pop(key)[1])
                        self.summary.pages -= 1  # _page counts before its first await, so it was counted
                    raise
        finally:
            st.workers -= 1

    async def _page(self, st: OriginState, item: Item, key: int) -> None:
        assert st.robots is not None
        decision = rb.decide(st.robots, item.url, [self.token])[0]
        if not decision.allowed:
            del self.state.inflight[key]
            self.summary.robots_skipped += 1
            self.warc.write([robots_skip_record(item.url, st.robots, self.token, decision.rule, depth=item.depth)])
            return
        self.summary.pages += 1
        retried, result = await self.fetcher.fetch(st, item.url, gate=True)
        records: list[Any] = []
        for ex in retried:
            records += exchange_records(ex)
            self.summary.count_exchange(ex)
        # State first, then the write: a write may close the file and checkpoint, and the checkpoint
        # must already see this URL as done and its links as queued.
        del self.state.inflight[key]
        if isinstance(result, Failure):
            self.summary.errors += 1
            records.append(failure_record(result, depth=item.depth, via=item.via))
            self.warc.write(records)
            return
        records += exchange_records(result)
        self.summary.count_exchange(result)
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

    async def _drive(self, start: list[str], setup_only: bool) -> None:
        async with self.fetcher.session():
            self._report()
            ticker = asyncio.get_running_loop().create_task(self._tick())
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
                self._report(final=True)

    async def _setup_only(self, o: str) -> None:
        st = self.state.origin(o)
        await self.site_files.setup_origin(o, st)

    def _report(self, final: bool = False) -> None:
        if self.progress is None:
            return
        s = self.summary
        files = len(s.files) + self.warc.is_open
        self.progress(CrawlProgress(s.pages, s.bytes, s.errors, s.robots_skipped, self.state.queued(), files, final))

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        last = loop.time()
        while True:
            await asyncio.sleep(PROGRESS_SECONDS)
            self._report()
            if loop.time() - last >= self.config.checkpoint_seconds:
                self.checkpoint()
                last = loop.time()

    async def crawl_async(self) -> CrawlSummary:
        """Crawl the queued frontier until it is empty or a limit is reached; checkpoint at the end."""
        try:
            await self._drive([o for o, st in self.state.origins.items() if st.queue], setup_only=False)
        finally:
            self.checkpoint()
        return self.summary

    async def snapshot_async(self, origins: list[str]) -> dict[str, dict[str, Any]]:
        """robots.txt and the site files of each origin (concurrently, politely); the outcome per origin."""
        try:
            await self._drive(origins, setup_only=True)
        finally:
            self.warc.close()
        out: dict[str, dict[str, Any]] = {}
        for o in origins:
            st = self.state.origins[o]
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
    progress: ProgressCallback | None = None,
    egress: EgressPolicy | None = None,
    network: Any = None,
) -> CrawlSummary:
    """Crawl from `seeds` into `out` (WARC files + crawl-state.json); `resume` continues the crawl in `out`.

    `seeds` must be canonical http(s) URLs (see `read_url_list` / `urls.canonicalize`). Raises CrawlError
    when the crawl cannot start (out dir not empty without `resume`, no or bad state with it). `progress`:
    called with a `CrawlProgress` as the crawl goes. `egress`: the policy (default: from `config`, i.e.
    public addresses only unless `allow_private` / `allow_networks`); `network`: the httpcore backend that
    opens sockets (tests).
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
    progress: ProgressCallback | None = None,
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
        fetch = crawler.state.origins[o].robots_fetch
        info["fetched_at"] = None if fetch is None else fetch["fetched_at"]
    return result


__all__ = [
    "CrawlError",
    "CrawlProgress",
    "CrawlStopped",
    "CrawlSummary",
    "Crawler",
    "ProgressCallback",
    "crawl",
    "read_url_list",
    "robots_snapshot",
]

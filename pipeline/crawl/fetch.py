"""Fetching: one GET at a time per origin, through the egress policy, politely, with retries; bodies kept raw.

Politeness: `delay_seconds` between the end of one request and the start of the next to the same origin
(robots.txt `Crawl-delay` for our token wins when larger: the site-file set-up raises the origin's delay),
retries with exponential backoff on connect errors, timeouts, 429 and 503 (honouring `Retry-After` up to a
cap). Every connection is opened by `egress.guarded_transport`, and the address the socket reached is
checked once more. Redirects are not followed by httpx: every hop is a fetch of its own, which the caller
records, counts and queues.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from pipeline.crawl.config import CrawlConfig
from pipeline.crawl.egress import EgressPolicy, EgressRefused, guarded_transport
from pipeline.crawl.politeness import retry_after
from pipeline.crawl.state import OriginState
from pipeline.crawl.warc import Exchange, metadata_record, now

RETRY_STATUSES = (429, 503)
ACCEPT = "text/html,application/xhtml+xml,text/plain;q=0.9,*/*;q=0.5"
ACCEPT_ENCODING = "gzip, deflate"  # what pipeline.sources.warc decodes on read (it also does br, zstd)


@dataclass
class Failure:
    """A fetch that never produced a response (all attempts failed)."""

    url: str
    started: datetime
    errors: list[str]
    refused: EgressRefused | None = None  # the egress policy refused the connection (not retried)


def _hdrs(raw: Iterable[tuple[bytes, bytes]]) -> list[tuple[str, str]]:
    return [(k.decode("latin-1"), v.decode("latin-1")) for k, v in raw]


class Fetcher:
    """GETs for one crawl: `async with fetcher.session():` opens the HTTP client, `fetch()` uses it.

    `on_refused` is called once per fetch the egress policy refused (the crawl counts them).
    """

    def __init__(self, config: CrawlConfig, egress: EgressPolicy, network: Any, on_refused: Callable[[], None]) -> None:
        self.config = config
        self.egress = egress
        self.network = network  # the socket opener, for tests
        self.on_refused = on_refused
        self._client: httpx.AsyncClient | None = None

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[None]:
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=512)
        client = httpx.AsyncClient(
            follow_redirects=False,
            trust_env=False,  # no proxies or netrc from the environment
            timeout=httpx.Timeout(self.config.timeout_seconds),
            transport=guarded_transport(self.egress, self.network, http2=False, limits=limits),
            headers={"User-Agent": self.config.user_agent, "Accept": ACCEPT, "Accept-Encoding": ACCEPT_ENCODING},
        )
        async with client:
            self._client = client
            try:
                yield
            finally:
                self._client = None

    async def turn(self, st: OriginState) -> None:
        """Wait until this origin may be sent a request (politeness delay, backoff)."""
        loop = asyncio.get_running_loop()
        async with st.rate_lock:
            wait = st.next_at - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            st.next_at = loop.time() + st.delay

    def turn_done(self, st: OriginState, pause: float = 0.0) -> None:
        """A request to this origin ended: the next one waits `delay` (or `pause`, if longer) from now."""
        st.next_at = max(st.next_at, asyncio.get_running_loop().time() + max(st.delay, pause))

    async def exchange(self, url: str, gate: bool) -> Exchange:
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

    async def fetch(self, st: OriginState, url: str, gate: bool) -> tuple[list[Exchange], Exchange | Failure]:
        """GET with retries: (exchanges that were retried, recorded too; the final exchange or Failure)."""
        retried: list[Exchange] = []
        errors: list[str] = []
        started = now()
        for attempt in range(self.config.retries + 1):
            backoff = self.config.backoff_seconds * 2**attempt
            await self.turn(st)
            try:
                ex = await self.exchange(url, gate)
            except EgressRefused as refused:  # not retried: the address will not change its class
                self.on_refused()
                self.turn_done(st)
                return retried, Failure(url, started, [str(refused)], refused)
            except (httpx.HTTPError, httpx.InvalidURL, OSError) as e:
                errors.append(f"{type(e).__name__}: {e}".rstrip(": "))
                self.turn_done(st, backoff)
                continue
            if ex.status in RETRY_STATUSES and attempt < self.config.retries:
                wait = retry_after(ex.header("retry-after"))
                pause = backoff if wait is None else max(backoff, min(wait, self.config.max_retry_after_seconds))
                self.turn_done(st, pause)
                retried.append(ex)
                continue
            self.turn_done(st)
            return retried, ex
        return retried, Failure(url, started, errors)


def failure_record(f: Failure, **extra: Any) -> Any:
    """The `metadata` record of a fetch without a response: `egress_refused` or `fetch_error`."""
    if f.refused is not None:
        r = f.refused
        info = {"event": "egress_refused", "detail": f"not requested: {r}", "host": r.host, "address": r.address,
                "address_class": r.why, **extra}  # fmt: skip
        return metadata_record(f.url, info, date=f.started)
    detail = f"no response after {len(f.errors)} attempt(s): {f.errors[-1] if f.errors else 'unknown error'}"
    info = {"event": "fetch_error", "detail": detail, "attempts": len(f.errors), "errors": f.errors, **extra}
    return metadata_record(f.url, info, date=f.started)


__all__ = ["Failure", "Fetcher", "failure_record"]

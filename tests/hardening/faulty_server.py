"""An HTTP/1.1 server on 127.0.0.1 that misbehaves on purpose, one fault per path, for the crawler's fault tests.

    with faulty_server() as server:
        crawl([server.url(p) for p in FAULTS], out, config)
        server.hits("/reset-body")  # how often a path was requested, and when

Written on raw asyncio streams (not http.server), so it can do what a well-behaved library will not:
reset the connection mid-body, stall, trickle the response head one byte at a time, send a body that
never ends, or a gzip bomb. It runs its own event loop in a daemon thread; leaving the `with` block
cancels every connection still open. Every response carries `Connection: close`.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
import time
import zlib
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from pipeline.synthetic import make_page

ROBOTS = b"User-agent: *\nAllow: /\n"
PAGE = make_page(8, "http://faulty.test/ok", "en").html().encode()  # an ordinary article: kept by the pipeline
TRICKLE_EVERY = 0.05  # seconds between bytes of a trickled head or body (well within any read timeout we use)
ENDLESS_CAP = 256 * 1024 * 1024  # bytes: an endless body stops here even if the client keeps reading
BOMB_MIB = 10 * 1024  # MiB of zeros in /bomb: 10 GiB inflated, ~10 MiB on the wire
RETRY_AFTER_SECONDS = 3600  # what the busy paths ask for: far more than any test's max_retry_after_seconds

# what each path does (the crawler's expected reaction is in tests/crawl/test_faults.py)
FAULTS = (
    "/ok",  # a normal page
    "/reset-head",  # request read, then a TCP reset before any byte of the response
    "/reset-body",  # Content-Length 100000, 1000 bytes, then a reset
    "/stall-body",  # head and 100 bytes, then silence (longer than any read timeout)
    "/trickle-head",  # the status line, then one header byte every TRICKLE_EVERY s, forever
    "/trickle-body",  # head with a huge Content-Length, then one body byte every TRICKLE_EVERY s
    "/endless",  # chunked body that never ends
    "/bomb",  # Content-Encoding: gzip, ~10 MiB that inflate to ~10 GiB of zeros
    "/loop-a",  # 302 -> /loop-b -> 302 -> /loop-a
    "/chain/0",  # 302 -> /chain/1 -> /chain/2 -> ... (never ends)
    "/busy-429",  # always 429, Retry-After: 3600 (delta-seconds)
    "/busy-503",  # always 503, Retry-After: an HTTP date an hour ahead
)


def gzip_bomb_parts(mib: int) -> Iterator[bytes]:
    """A gzip stream of `mib` MiB of zeros, generated in ~1 KB pieces (each MiB compresses to the same block).

    After a full flush deflate starts afresh, so the compressed block of one MiB of zeros repeats
    byte for byte: the bomb costs one compression, not `mib`. The trailer's CRC is not computed (a
    client that inflates it all is the bug being tested; the CRC is checked only at the very end).
    """
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = bytes(1 << 20)
    first = comp.compress(zeros) + comp.flush(zlib.Z_FULL_FLUSH)
    block = comp.compress(zeros) + comp.flush(zlib.Z_FULL_FLUSH)
    yield first
    for _ in range(mib - 1):
        yield block
    yield comp.flush()


@dataclass
class FaultyServer:
    host: str = "127.0.0.1"
    port: int = 0
    log: list[tuple[str, float]] = field(default_factory=list)  # (path, time.monotonic()) per request
    sent: dict[str, int] = field(default_factory=dict)  # body bytes written per path (last request)

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"

    def url(self, path: str) -> str:
        return self.base + path

    def hits(self, path: str) -> list[float]:
        return [t for p, t in self.log if p == path]


Handler = Callable[[str, asyncio.StreamWriter, FaultyServer], Awaitable[None]]


def _head(status: str, *headers: tuple[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status}", *(f"{k}: {v}" for k, v in headers), "Connection: close", "", ""]
    return "\r\n".join(lines).encode("latin-1")


async def _send(writer: asyncio.StreamWriter, status: str, body: bytes, *headers: tuple[str, str]) -> None:
    writer.write(_head(status, *headers, ("Content-Length", str(len(body)))) + body)
    await writer.drain()


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP RST (SO_LINGER 0), not a FIN: the client sees 'connection reset by peer'."""
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def _serve(path: str, writer: asyncio.StreamWriter, server: FaultyServer) -> None:
    html = ("Content-Type", "text/html; charset=utf-8")
    if path == "/robots.txt":
        await _send(writer, "200 OK", ROBOTS, ("Content-Type", "text/plain"))
    elif path == "/ok":
        await _send(writer, "200 OK", PAGE, html)
    elif path == "/reset-head":
        _reset(writer)
    elif path == "/reset-body":
        writer.write(_head("200 OK", html, ("Content-Length", "100000")) + b"x" * 1000)
        await writer.drain()
        await asyncio.sleep(0.05)  # let the client read what was sent before the reset
        server.sent[path] = 1000
        _reset(writer)
    elif path == "/stall-body":
        writer.write(_head("200 OK", html, ("Content-Length", "100000")) + b"s" * 100)
        await writer.drain()
        server.sent[path] = 100
        await asyncio.sleep(3600)
    elif path == "/trickle-head":
        writer.write(b"HTTP/1.1 200 OK\r\nX-Trickle: ")
        while True:
            await asyncio.sleep(TRICKLE_EVERY)
            writer.write(b"t")
            await writer.drain()
    elif path == "/trickle-body":
        writer.write(_head("200 OK", html, ("Content-Length", str(10**9))))
        server.sent[path] = 0
        while True:
            await writer.drain()
            await asyncio.sleep(TRICKLE_EVERY)
            writer.write(b"b")
            server.sent[path] += 1
    elif path == "/endless":
        writer.write(_head("200 OK", html, ("Transfer-Encoding", "chunked")))
        chunk = b"e" * 65536
        server.sent[path] = 0
        while server.sent[path] < ENDLESS_CAP:
            writer.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            await writer.drain()  # back-pressure: the server only runs ahead by the socket buffers
            server.sent[path] += len(chunk)
    elif path == "/bomb":
        mib = BOMB_MIB
        first, block, tail = gzip_bomb_parts(2)
        length = len(first) + len(block) * (mib - 1) + len(tail)
        writer.write(_head("200 OK", html, ("Content-Encoding", "gzip"), ("Content-Length", str(length))))
        writer.write(first)
        server.sent[path] = len(first)
        for _ in range(mib - 1):
            writer.write(block)
            await writer.drain()
            server.sent[path] += len(block)
        writer.write(tail)
    elif path in ("/loop-a", "/loop-b"):
        target = "/loop-b" if path == "/loop-a" else "/loop-a"
        await _send(writer, "302 Found", b"", ("Location", target))
    elif path.startswith("/chain/"):
        await _send(writer, "302 Found", b"", ("Location", f"/chain/{int(path[7:]) + 1}"))
    elif path == "/busy-429":
        await _send(writer, "429 Too Many Requests", b"slow down", ("Retry-After", str(RETRY_AFTER_SECONDS)))
    elif path == "/busy-503":
        when = format_datetime(datetime.now(UTC) + timedelta(seconds=RETRY_AFTER_SECONDS), usegmt=True)
        await _send(writer, "503 Service Unavailable", b"down", ("Retry-After", when))
    else:
        await _send(writer, "404 Not Found", b"not here", ("Content-Type", "text/plain"))


@contextlib.contextmanager
def faulty_server() -> Iterator[FaultyServer]:
    """Start the server in a thread; on exit cancel every open connection and stop the loop."""
    state = FaultyServer()
    loop = asyncio.new_event_loop()
    tasks: set[asyncio.Task] = set()
    ready = threading.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        tasks.add(asyncio.current_task())
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            path = head.split(b" ", 2)[1].decode("latin-1")
            state.log.append((path, time.monotonic()))
            await _serve(path, writer, state)
            if not writer.transport.is_closing():
                await writer.drain()
                writer.close()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            writer.transport.abort()
        finally:
            tasks.discard(asyncio.current_task())

    async def start() -> asyncio.Server:
        server = await asyncio.start_server(handle, state.host, 0)
        state.port = server.sockets[0].getsockname()[1]
        return server

    def run() -> None:
        asyncio.set_event_loop(loop)
        holder.append(loop.run_until_complete(start()))
        ready.set()
        loop.run_forever()

    holder: list[asyncio.Server] = []
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    ready.wait(10)
    try:
        yield state
    finally:

        async def stop() -> None:
            holder[0].close()
            for task in list(tasks):
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()

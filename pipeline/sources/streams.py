"""Inputs as byte streams: a local file or a URL, read once through a `HashingReader`, so an input's sha256 and size
come out of the same single pass that parses it, and a URL is streamed exactly like a local file (never downloaded
first). The readers (`warc.py`, `tabular.py`) pull their bytes through these; `inputs.py` opens them.
"""

from __future__ import annotations

import hashlib
import os
from typing import Protocol

import httpx

from pipeline.sources.base import ReadReport

CHUNK = 1 << 16


class InputError(ValueError):
    """An input spec that cannot be used at all (missing, unreadable, unknown format); one-line message."""


def is_url(spec: str) -> bool:
    return spec.startswith(("http://", "https://"))


class RawStream(Protocol):
    def read(self, n: int = -1, /) -> bytes: ...

    def close(self) -> None: ...


class LocalFile:
    """A local file as a raw stream that can also re-read bytes it has passed (`pread`), so a reader that must
    look again at a damaged region does so from the disk instead of keeping the bytes in memory."""

    def __init__(self, path: str) -> None:
        self._file = open(path, "rb")  # noqa: SIM115 (closed by close())

    def read(self, n: int = -1) -> bytes:
        return self._file.read(n)

    def pread(self, n: int, pos: int) -> bytes:
        return os.pread(self._file.fileno(), n, pos)

    def close(self) -> None:
        self._file.close()


class HashingReader:
    """Pass-through binary reader that hashes (sha256) and counts every byte it hands out.

    `tell()` is the number of bytes read so far, which is what fastwarc and warcio ask for.
    `peek(n)` lets the caller sniff magic bytes without losing them.
    """

    def __init__(self, raw: RawStream) -> None:
        self._raw = raw
        self._sha = hashlib.sha256()
        self._pushback = b""
        self.bytes = 0

    def read(self, n: int = -1) -> bytes:
        if self._pushback:
            if n is None or n < 0:
                data, self._pushback = self._pushback, b""
                return data + self.read(-1)
            if n >= len(self._pushback):
                data, self._pushback = self._pushback, b""
                return data
            data, self._pushback = self._pushback[:n], self._pushback[n:]
            return data
        data = self._raw.read(n if n is not None and n >= 0 else -1)
        if data:
            self._sha.update(data)
            self.bytes += len(data)
        return data or b""

    def readable(self) -> bool:
        return True

    def peek(self, n: int) -> bytes:
        while len(self._pushback) < n:
            data = self._raw.read(n - len(self._pushback))
            if not data:
                break
            self._sha.update(data)
            self.bytes += len(data)
            self._pushback += data
        return self._pushback[:n]

    def tell(self) -> int:
        return self.bytes - len(self._pushback)

    def drain(self) -> None:
        """Read the rest of the input so sha256/bytes cover the whole file."""
        self._pushback = b""
        while self.read(1 << 20):
            pass

    def hexdigest(self) -> str:
        return self._sha.hexdigest()

    @property
    def rereadable(self) -> bool:
        """Whether bytes already read can be read again (`reread`) without having been kept."""
        return hasattr(self._raw, "pread")

    def reread(self, n: int, pos: int) -> bytes:
        """Up to `n` bytes at `pos` (< bytes read so far) again, not hashed or counted twice."""
        return self._raw.pread(n, pos)  # type: ignore[attr-defined]

    def close(self) -> None:
        self._raw.close()


class HttpStream:
    """A URL as a read-only byte stream: httpx streaming, raw bytes (no Content-Encoding decoding)."""

    def __init__(self, url: str, timeout: float = 60.0) -> None:
        self._client = httpx.Client(timeout=timeout, follow_redirects=True)
        try:
            self._cm = self._client.stream("GET", url, headers={"Accept-Encoding": "identity"})
            self._resp = self._cm.__enter__()
        except (httpx.HTTPError, httpx.InvalidURL) as e:
            self._client.close()
            raise InputError(f"{url}: cannot fetch ({type(e).__name__}: {e})") from e
        if self._resp.status_code >= 400:
            self.close()
            raise InputError(f"{url}: HTTP {self._resp.status_code}")
        self._chunks = self._resp.iter_raw()  # chunks as they arrive (a chunk_size would buffer)
        self._buf = b""
        self._closed = False

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            parts = [self._buf, *self._chunks]
            self._buf = b""
            return b"".join(parts)
        while not self._buf:
            try:
                self._buf = next(self._chunks)
            except StopIteration:
                return b""
        data, self._buf = self._buf[:n], self._buf[n:]
        return data

    def close(self) -> None:
        if getattr(self, "_closed", False):
            return
        self._closed = True
        try:
            self._cm.__exit__(None, None, None)
        finally:
            self._client.close()


def finish_stream(stream: HashingReader, report: ReadReport, stop: tuple[int, str] | None) -> None:
    """Drain and close the input so sha256/bytes cover all of it, and record where reading stopped.

    If even draining fails (a dropped connection), sha256/bytes cover what arrived and read_stopped
    says so.
    """
    try:
        stream.drain()
    except (KeyboardInterrupt, SystemExit, GeneratorExit, MemoryError):
        raise
    except BaseException as e:
        if stop is None:
            stop = (stream.bytes, f"{type(e).__name__} while reading to the end: {e}")
    finally:
        stream.close()
    report.sha256 = stream.hexdigest()
    report.bytes = stream.bytes
    if stop is not None:
        report.read_stopped = {"offset": int(stop[0]), "error": stop[1]}


def open_stream(spec: str) -> HashingReader:
    """Open a local file or URL for streaming; InputError if it does not exist or cannot be opened."""
    if is_url(spec):
        return HashingReader(HttpStream(spec))
    try:
        return HashingReader(LocalFile(spec))  # closed by the reader when it ends
    except FileNotFoundError as e:
        raise InputError(f"{spec}: no such file") from e
    except IsADirectoryError as e:
        raise InputError(f"{spec}: is a directory") from e
    except OSError as e:
        raise InputError(f"{spec}: cannot open ({e.strerror or e})") from e

"""Where inputs come from: expanding specs into files/URLs, naming their format, opening byte streams.

`read_input` is the one entry point the runner uses; it dispatches to the WARC/WET/ARC reader
(`warc.py`) or the Parquet/JSONL reader (`tabular.py`). Every reader pulls its bytes through a
`HashingReader`, so the input's sha256 and size come out of the same single pass that parses it,
and a URL is streamed exactly like a local file (never downloaded first).
"""

from __future__ import annotations

import glob
import hashlib
import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

import httpx
import polars as pl

from pipeline.config import ReadConfig
from pipeline.sources.base import RECORD_SCHEMA, ReadReport
from pipeline.warc_record import split_content_type  # noqa: F401 (the one parser's; imported from here too)

# Longest suffix first: '.warc.wet.gz' must win over '.wet.gz' and '.warc.gz'.
_SUFFIXES: tuple[tuple[str, str], ...] = (
    (".warc.wet.gz", "wet"),
    (".wet.gz", "wet"),
    (".wet", "wet"),
    (".warc.gz", "warc"),
    (".warc", "warc"),
    (".arc.gz", "arc"),
    (".arc", "arc"),
    (".parquet", "parquet"),
    (".jsonl.gz", "jsonl"),
    (".json.gz", "jsonl"),
    (".jsonl", "jsonl"),
)
_GLOB_CHARS = re.compile(r"[*?\[]")
CHUNK = 1 << 16


class InputError(ValueError):
    """An input spec that cannot be used at all (missing, unreadable, unknown format); one-line message."""


def is_url(spec: str) -> bool:
    return spec.startswith(("http://", "https://"))


def detect_format(spec: str) -> str:
    """The reader format ('warc', 'wet', 'arc', 'parquet', 'jsonl') named by the spec's file extension.

    For URLs only the path counts (a query string or fragment is ignored).
    """
    name = urlsplit(spec).path if is_url(spec) else spec
    lower = name.lower()
    for suffix, fmt in _SUFFIXES:
        if lower.endswith(suffix):
            return fmt
    known = ", ".join(s for s, _ in _SUFFIXES)
    raise InputError(f"{spec}: unknown input format (expected one of {known})")


def _has_known_suffix(path: str) -> bool:
    lower = path.lower()
    return any(lower.endswith(s) for s, _ in _SUFFIXES)


def _walk(directory: str) -> list[str]:
    """Files with a known extension below `directory`, recursively, in sorted order."""
    found = []
    for root, dirs, files in os.walk(directory):
        dirs.sort()
        found.extend(os.path.join(root, f) for f in files if _has_known_suffix(f))
    return sorted(found)


def expand_inputs(specs: list[str]) -> list[str]:
    """Turn globs, directories, paths and URLs into an ordered, de-duplicated list of input specs.

    Directories and glob matches contribute only files with a known extension (so a README next to
    the WARCs is not an error); a path named explicitly must exist and have a known extension.
    Order follows the specs; within a directory or glob, paths are sorted.
    """
    out: list[str] = []
    seen: set[str] = set()

    def add(spec: str, key: str) -> None:
        if key not in seen:
            seen.add(key)
            out.append(spec)

    for spec in specs:
        if is_url(spec):
            detect_format(spec)
            add(spec, spec)
            continue
        if _GLOB_CHARS.search(spec):
            matches = sorted(glob.glob(spec, recursive=True))
            files: list[str] = []
            for m in matches:
                if os.path.isdir(m):
                    files.extend(_walk(m))
                elif _has_known_suffix(m):
                    files.append(m)
            if not files:
                raise InputError(f"{spec}: glob matched no input files")
            for f in files:
                add(f, os.path.realpath(f))
            continue
        if os.path.isdir(spec):
            files = _walk(spec)
            if not files:
                raise InputError(f"{spec}: directory contains no input files")
            for f in files:
                add(f, os.path.realpath(f))
            continue
        if not os.path.exists(spec):
            raise InputError(f"{spec}: no such file")
        detect_format(spec)
        add(spec, os.path.realpath(spec))
    return out


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


_CANONICAL_DATE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def normalise_date(value: object) -> str | None:
    """WARC-Date / ARC 14-digit / ISO 8601 / datetime -> 'YYYY-MM-DDTHH:MM:SSZ' in UTC; None if unparsable."""
    if value is None:
        return None
    if isinstance(value, datetime):
        dt = value
    else:
        s = str(value).strip()
        if _CANONICAL_DATE.fullmatch(s):
            return s
        if s.isdigit() and len(s) >= 14:  # ARC: YYYYMMDDhhmmss (bad.arc has 18 digits)
            s = f"{s[:4]}-{s[4:6]}-{s[6:8]}T{s[8:10]}:{s[10:12]}:{s[12:14]}Z"
        try:
            dt = datetime.fromisoformat(s)
        except ValueError:
            return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    try:
        return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except OverflowError:  # '0001-01-01T00:00:00+01:00' is before year 1 in UTC
        return None


def rows_to_frame(rows: list[tuple]) -> pl.DataFrame:
    """One DataFrame per batch from row tuples in RECORD_SCHEMA column order."""
    return pl.DataFrame(rows, schema=RECORD_SCHEMA, orient="row")


def read_input(
    spec: str, *, batch_size: int, read_config: ReadConfig
) -> tuple[Iterator[pl.DataFrame], ReadReport]:
    """Stream batches (exactly RECORD_SCHEMA, at most `batch_size` rows) of the eligible records of `spec`.

    The returned ReadReport fills in while the iterator runs; once it is exhausted it holds
    records_by_type (every record seen, eligible or not), sha256 and bytes of the whole input, for WARC/ARC
    inputs bytes_by_type (the spans of each type, unreadable spans included, sum to bytes), and
    read_stopped = {'offset', 'error'} if the input could not be read to the end. The iterator does
    not raise for corrupt, truncated or otherwise unreadable data: it ends and reports. InputError is
    raised here, before iterating, for a missing file, an unknown extension or a failing URL.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    fmt = detect_format(spec)
    report = ReadReport(path=spec, format=fmt)
    if fmt in ("warc", "wet", "arc"):
        from pipeline.sources import warc  # local import: warc.py imports helpers from this module

        stream = open_stream(spec)
        if fmt == "arc":
            return warc.read_arc(stream, report, batch_size=batch_size, read_config=read_config), report
        gzip_name = (urlsplit(spec).path if is_url(spec) else spec).lower().endswith(".gz")
        batches = warc.read_warc(stream, report, batch_size=batch_size, read_config=read_config, gzip_name=gzip_name)
        return batches, report
    from pipeline.sources import tabular

    if fmt == "parquet":
        if is_url(spec):
            raise InputError(f"{spec}: Parquet inputs must be local files")
        if not os.path.isfile(spec):
            raise InputError(f"{spec}: no such file")
        return tabular.read_parquet(Path(spec), report, batch_size=batch_size, read_config=read_config), report
    stream = open_stream(spec)
    return tabular.read_jsonl(stream, report, batch_size=batch_size, read_config=read_config), report

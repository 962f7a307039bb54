"""The bytes of a record file as the WARC reader sees them: a `Tape` that can go back to look for the next
record inside a damaged region, and `GzipMembers`, which inflates a multi-member gzip stream and remembers
where each member starts (so a record maps to its gzip member exactly)."""

from __future__ import annotations

from collections import deque
from typing import Any

from isal import isal_zlib

from pipeline.sources.streams import CHUNK, HashingReader

READ = 1 << 19  # bytes asked of the input (or the decompressor) at a time


class Tape:
    """The input's bytes, each read once through `stream` (which hashes them), with a way back: a position
    since the last `release` can be read again, to look for the next record inside a damaged region. A local
    file is re-read from the disk; a stream keeps those bytes in memory (at most RETAIN: older ones go)."""

    RETAIN = 64 << 20

    def __init__(self, stream: HashingReader, origin: int = 0) -> None:
        self._stream = stream
        self._disk = stream.rereadable
        self.origin = origin  # file offset of the stream's first byte (a window of a file starts later)
        self.pos = self.head = self.floor = origin + stream.tell()
        self._kept: deque[bytes] = deque()
        self._kept_start = self.pos
        self._kept_bytes = 0

    def tell(self) -> int:
        return self.pos

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        n = READ if n is None or n < 0 else n
        if self.pos < self.head:
            n = min(n, self.head - self.pos)
            data = self._stream.reread(n, self.pos - self.origin) if self._disk else self._replay(n)
        else:
            data = self._stream.read(n)
            if data and not self._disk:
                self._kept.append(data)
                self._kept_bytes += len(data)
                while self._kept_bytes > self.RETAIN and len(self._kept) > 1:
                    old = self._kept.popleft()
                    self._kept_bytes -= len(old)
                    self._kept_start += len(old)
            self.head += len(data)
        self.pos += len(data)
        return data

    def read_full(self, n: int) -> bytes:
        """`n` bytes, fewer only at the end of the input (`read` stops where replayed bytes end)."""
        parts, got = [], 0
        while got < n and (data := self.read(n - got)):
            parts.append(data)
            got += len(data)
        return b"".join(parts)

    def _replay(self, n: int) -> bytes:
        at = self._kept_start
        for chunk in self._kept:
            if at + len(chunk) > self.pos:
                i = self.pos - at
                return chunk[i : i + n]
            at += len(chunk)
        return b""

    def seek(self, pos: int) -> int:
        """Go to `pos` (no earlier than what can still be read again); return where the tape now is."""
        lowest = self.floor if self._disk else max(self.floor, self._kept_start)
        self.pos = min(max(pos, lowest), self.head)
        while self.pos < pos and self.read(min(READ, pos - self.pos)):
            pass
        return self.pos

    def release(self, pos: int) -> None:
        """Bytes before `pos` will not be read again."""
        self.floor = max(self.floor, pos)
        while self._kept and self._kept_start + len(self._kept[0]) <= self.floor:
            self._kept_bytes -= len(self._kept[0])
            self._kept_start += len(self._kept.popleft())


class GzipError(OSError):
    """Corrupt gzip data in a member."""


class GzipMembers:
    """Decompress a multi-member gzip stream and remember where every member starts.

    `members` holds (decompressed start, compressed start) pairs, so a record's decompressed
    position (fastwarc's `stream_pos` on the plain stream) maps to its gzip member exactly.
    Errors are raised lazily: data decompressed before a corrupt spot is handed out first, so the
    error surfaces only when somebody needs bytes beyond it.
    """

    def __init__(self, src: Any) -> None:
        self._src = src
        self._d: Any = None
        self._in = b""
        self._cpos = src.tell()
        self._dpos = 0
        self._current: tuple[int, int] | None = None
        self._raise: GzipError | None = None
        self.members: deque[tuple[int, int]] = deque()
        self.end_c: int | None = None  # compressed offset just after the last complete member
        self.truncated: tuple[int, int] | None = None  # member cut off by the end of the input
        self.error: tuple[int, int] | None = None  # member whose data is corrupt
        self.eof = False

    def tell(self) -> int:
        return self._dpos

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        if self._raise is not None:
            raise self._raise
        if n is None or n < 0:
            n = 1 << 20
        parts: list[bytes] = []
        got = 0
        while not got and not self.eof:  # one inflate call: the caller joins what it needs
            if not self._in:
                self._in = self._src.read(CHUNK)
                if not self._in:
                    self.eof = True
                    if self._d is not None:
                        tail = self._d.flush()
                        if tail:
                            parts.append(tail)
                            got += len(tail)
                            self._dpos += len(tail)
                        if self._d.eof:
                            self.end_c = self._cpos
                        else:
                            self.truncated = self._current
                        self._d = None
                    break
            if self._d is None:
                self._d = isal_zlib.decompressobj(31)  # ISA-L: 2x zlib's inflate, the reader's main cost
                self._current = (self._dpos, self._cpos)
                self.members.append(self._current)
            try:
                out = self._d.decompress(self._in, n - got)
            except isal_zlib.error as e:
                assert self._current is not None
                self.error = self._current
                err = GzipError(f"corrupt gzip member at offset {self._current[1]}: {e}")
                self._d = None
                self.eof = True
                if parts:
                    self._raise = err
                    break
                raise err from None
            if self._d.eof:
                rest = self._d.unused_data
                self._d = None
            else:
                rest = self._d.unconsumed_tail
            self._cpos += len(self._in) - len(rest)
            self._in = rest
            if self._d is None:
                self.end_c = self._cpos
            if out:
                parts.append(out)
                got += len(out)
                self._dpos += len(out)
        return b"".join(parts)

    def start_at(self, pos: int) -> int | None:
        """Compressed offset of the (last) member that starts exactly at decompressed `pos`, if any."""
        comp = None
        for d, c in self.members:
            if d == pos:
                comp = c
            elif d > pos:
                break
        return comp

    def next_after(self, pos: int) -> tuple[int, int] | None:
        """The first member starting after decompressed `pos`."""
        for d, c in self.members:
            if d > pos:
                return d, c
        return None

    def containing(self, pos: int) -> int:
        """Compressed offset of the member holding decompressed `pos` (0 if unknown)."""
        comp = self.members[0][1] if self.members else 0
        for d, c in self.members:
            if d > pos:
                break
            comp = c
        return comp

    def prune(self, pos: int) -> None:
        """Forget members wholly before `pos` (positions are only asked for in increasing order)."""
        while len(self.members) >= 2 and self.members[1][0] <= pos:
            self.members.popleft()

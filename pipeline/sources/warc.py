"""WARC / WET (fastwarc) and ARC (warcio) readers: one row per eligible record, nothing dropped silently.

How records map to rows, and what happens when a file is damaged:

* Eligible records are `response`, `resource` and `conversion` (WET) records, and ARC responses.
  Every record, eligible or not, is counted by its WARC-Type in `ReadReport.records_by_type`; an
  eligible record is counted exactly when its row is emitted, so `report.eligible == rows`.
* `warc_record_offset`/`warc_record_length` address the record's bytes in the file as stored: for
  gzip, the record's gzip member (up to the next record's member); for plain WARC, the record up to
  the next record. `seek(offset); read(length)` (then gunzip that one member) gives back exactly
  that record. A partial record (see below) has a length that runs to the end of the input.
* Gzip is decompressed here, member by member (`GzipMembers`), and fastwarc parses the plain
  stream. That way the member boundaries are known exactly instead of fastwarc's approximate
  `stream_pos` (which, for a file that is one big gzip member, is the same useless number for every
  record). A record is emitted only if it is individually addressable: it starts a gzip member and
  the next record starts the next member. The first record that is not (a "non-chunked" gzip file,
  or member boundaries that do not line up with records) stops reading: `read_stopped` gets the
  offset of the gzip member where addressable records end and the error NON_CHUNKED. That record
  and the ones sharing its member are neither counted nor emitted; recompressing the file with
  `warcio recompress` makes it readable.
* Damage ends reading, never the process: a record whose block is shorter than its Content-Length
  (truncated file), or whose bytes cannot be read (corrupt gzip member, I/O error), is emitted with
  read_error='read_truncated' if it is eligible, and `read_stopped.offset` is that record's
  offset. A header fastwarc cannot parse (strict mode), or a truncated record header, stops reading
  at the offset where the unreadable record begins (plain WARC: the end of the last good record's
  block, from its re-serialised header length + Content-Length; gzip: the start of the member after
  the last good record, or of the corrupt member). In every case: records before
  `read_stopped.offset` were read completely; the one starting there, if emitted, is partial; nothing
  after it was read. Strict parsing is deliberate: fastwarc's lenient mode resynchronises by
  skipping to the next "WARC/" line and would silently drop the records in between. sha256/bytes
  still cover the whole input: the rest is drained after reading stops.
* Per record read errors (the row is emitted, payload null): 'read_too_large' (body larger than
  max_payload_bytes, never read into memory when the Content-Length says so), 'read_digest_mismatch'
  (WARC-Payload-Digest present and different, or undecodable; hashed while streaming over the
  HTTP body as stored, i.e. before de-chunking/decoding, like warcio; base32, hex and base64 values
  are accepted; unknown algorithms are not checked. fastwarc's verify_payload_digest() is not used:
  it copies the whole payload into memory first and fails on Content-Encoded bodies when
  auto-decoding), 'read_content_type' (a 2xx or status-less record whose MIME type is not in
  read_config.content_types, so its body is not held in memory; same reason/detail as the admit
  step), 'read_bad_http' (no parseable HTTP status line), 'read_bad_encoding' (a Content-Encoding
  that cannot be decoded; gzip, deflate, br and zstd are supported). Bodies are de-chunked when
  they are chunked. WET `conversion` records give `text` (UTF-8, errors replaced), no payload.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import io
import os
import zlib
from collections import deque
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from typing import Any

import polars as pl
from fastwarc.stream_io import BrotliReader, ZstdReader
from fastwarc.warc import ArchiveIterator, WarcRecordType
from isal import isal_zlib
from warcio.archiveiterator import ArchiveIterator as WarcioArchiveIterator

from pipeline.config import ReadConfig
from pipeline.optout.base import policy_kind
from pipeline.sources.base import SITE_FILE_HEADER, ReadReport, empty_records
from pipeline.sources.inputs import (
    CHUNK,
    HashingReader,
    InputError,
    finish_stream,
    normalise_date,
    rows_to_frame,
    split_content_type,
)

NON_CHUNKED = "non-chunked gzip: records are not individually addressable, recompress with `warcio recompress`"
GZIP_MAGIC = b"\x1f\x8b"
_ELIGIBLE = frozenset({"response", "resource", "conversion"})
_SITE_FILE_KEY = SITE_FILE_HEADER.lower()
_FATAL = (KeyboardInterrupt, SystemExit, GeneratorExit, MemoryError)
_TYPE_NAMES = {
    int(t): str(t)
    for t in (
        WarcRecordType.warcinfo,
        WarcRecordType.response,
        WarcRecordType.resource,
        WarcRecordType.request,
        WarcRecordType.metadata,
        WarcRecordType.revisit,
        WarcRecordType.conversion,
        WarcRecordType.continuation,
    )
}

Stop = tuple[int, str] | None  # (offset, error) where reading stopped; None when it reached the end

# Row layout: positions of RECORD_SCHEMA's columns in a row list.
(OFFSET, LENGTH, RTYPE, RECORD_ID, URL, DATE, DIGEST, STATUS, CTYPE, CHARSET,
 PAYLOAD, TEXT, ERROR, DETAIL, HEADERS, SITE_FILE) = range(16)  # fmt: skip
_ROW_WIDTH = 16


class GzipError(OSError):
    """Corrupt gzip data in a member."""


class GzipMembers:
    """Decompress a multi-member gzip stream and remember where every member starts.

    `members` holds (decompressed start, compressed start) pairs, so a record's decompressed
    position (fastwarc's `stream_pos` on the plain stream) maps to its gzip member exactly.
    Errors are raised lazily: data decompressed before a corrupt spot is handed out first, so the
    error surfaces only when somebody needs bytes beyond it.
    """

    def __init__(self, src: HashingReader) -> None:
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
        while got < n and not self.eof:
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


# ---------------------------------------------------------------------------------------------
# Payload helpers


def parse_digest(value: str) -> tuple[str, bytes] | None:
    """'sha1:BASE32' (also hex, base64, base64url) -> (algorithm, digest); None for unknown algorithms.

    Raises ValueError when the algorithm is known but the value does not decode to a digest.
    """
    algo, sep, encoded = value.strip().partition(":")
    algo = algo.strip().lower().replace("-", "")
    if not sep or algo not in hashlib.algorithms_guaranteed:
        return None
    size = hashlib.new(algo).digest_size
    v = encoded.strip()
    candidates = []
    if len(v) == 2 * size:
        candidates.append(lambda: bytes.fromhex(v))
    candidates.append(lambda: base64.b32decode(v.upper() + "=" * (-len(v) % 8)))
    candidates.append(lambda: base64.b64decode(v + "=" * (-len(v) % 4), validate=True))
    candidates.append(lambda: base64.urlsafe_b64decode(v + "=" * (-len(v) % 4)))
    for decode in candidates:
        try:
            digest = decode()
        except (ValueError, binascii.Error):
            continue
        if len(digest) == size:
            return algo, digest
    raise ValueError(f"cannot decode digest value {value!r}")


def dechunk(data: bytes) -> bytes:
    """Undo HTTP chunked transfer coding; ValueError if `data` is not chunked."""
    out: list[bytes] = []
    i, n = 0, len(data)
    while i < n:
        j = data.index(b"\n", i)
        size = int(data[i:j].split(b";", 1)[0].strip(), 16)
        if size < 0:  # '-4' parses as hex; stepping back would loop forever
            raise ValueError(f"negative chunk size at byte {i}")
        if size == 0:
            break
        start = j + 1
        out.append(data[start : start + size])
        i = start + size
        if data.startswith(b"\r\n", i):
            i += 2
        elif data.startswith(b"\n", i):
            i += 1
    return b"".join(out)


def _inflate(data: bytes, wbits: int, limit: int) -> bytes:
    return zlib.decompressobj(wbits).decompress(data, limit + 1)


def _read_limited(reader: Any, limit: int) -> bytes:
    parts, got = [], 0
    while got <= limit:
        b = reader.read(min(CHUNK, limit + 1 - got))
        if not b:
            break
        parts.append(b)
        got += len(b)
    return b"".join(parts)


def decode_body(
    raw: bytes, transfer_encoding: str | None, content_encoding: str | None, limit: int
) -> tuple[bytes | None, str | None, str | None]:
    """HTTP body as stored -> (payload, read_error, read_detail): de-chunk, then undo Content-Encoding.

    A body labelled chunked that does not parse as chunked is kept as is (crawlers often store the
    de-chunked body but keep the header). Decoded output is capped at `limit` + 1 bytes.
    """
    data = raw
    if transfer_encoding and "chunked" in transfer_encoding.lower():
        with contextlib.suppress(ValueError):
            data = dechunk(data)
    if content_encoding:
        codings = [c.strip().lower() for c in content_encoding.split(",") if c.strip()]
        for enc in reversed(codings):
            try:
                if enc in ("identity", "none"):
                    continue
                if enc in ("gzip", "x-gzip"):
                    data = _inflate(data, 47, limit)  # 47: gzip or zlib header, auto-detected
                elif enc == "deflate":
                    try:
                        data = _inflate(data, 15, limit)
                    except zlib.error:
                        data = _inflate(data, -15, limit)  # raw deflate, as some servers send it
                elif enc == "br":
                    data = _read_limited(BrotliReader(io.BytesIO(data)), limit)
                elif enc == "zstd":
                    data = _read_limited(ZstdReader(io.BytesIO(data)), limit)
                else:
                    return None, "read_bad_encoding", f"unsupported Content-Encoding {enc!r}"
            except (zlib.error, OSError, ValueError) as e:
                return None, "read_bad_encoding", f"Content-Encoding {enc}: {e}"
            if len(data) > limit:
                return None, "read_too_large", f"decoded payload exceeds max_payload_bytes={limit}"
    return data, None, None


def clean_uri(uri: str | None) -> str | None:
    """Undo wget's '<uri>' bug and escape spaces, as warcio does."""
    if not uri:
        return None
    uri = uri.strip()
    if uri.startswith("<") and uri.endswith(">"):
        uri = uri[1:-1]
    return uri.replace(" ", "%20")


# ---------------------------------------------------------------------------------------------
# Record processing


@dataclass
class Pending:
    """A record that has been read but whose length (and addressability) is not known yet."""

    rtype: str
    pos: int  # position in the (decompressed) stream fastwarc parses
    offset: int  # position in the file as stored
    row: list | None  # RECORD_SCHEMA values for eligible records
    block_end: int = 0  # decompressed position where the record's block ends (per Content-Length)
    partial: str | None = None  # why the record could not be read completely
    extra: dict = field(default_factory=dict)


def _allowed(
    status: int | None, ctype: str | None, cfg: ReadConfig, url: str | None, site_file: str | None = None
) -> bool:
    """Whether to hold the body in memory; a non-2xx status is judged (and explained) by the admit step,
    and a site policy file (robots.txt, tdmrep.json, ai.txt, or a record the crawler marked as fetched for one)
    is evidence for the opt-out step whatever its type."""
    if status is not None and not 200 <= status <= 299:
        return True
    return (ctype is not None and ctype in cfg.content_types) or policy_kind(url) is not None or site_file is not None


def _header_lines(items: Any) -> str:
    return "\n".join(f"{k}: {v}" for k, v in items)


def _body(reader: Any, keep: bool, digest: tuple[str, bytes] | None) -> tuple[bytes | None, int, Any]:
    """Read (keep) or skip a record body; return (bytes or None, bytes seen, hash object or None)."""
    if not keep:
        return None, reader.consume(), None
    h = hashlib.new(digest[0]) if digest else None
    parts, got = [], 0
    while True:
        b = reader.read(CHUNK)
        if not b:
            break
        parts.append(b)
        got += len(b)
        if h is not None:
            h.update(b)
    return b"".join(parts), got, h


def finish_payload(
    row: list,
    raw: bytes | None,
    *,
    is_text: bool,
    digest: tuple[str, bytes] | None,
    digest_header: str | None,
    h: Any,
    te: str | None,
    ce: str | None,
    cfg: ReadConfig,
) -> None:
    """Fill payload/text/read_error/read_detail of `row` from a completely read body."""
    if raw is None:
        return
    if h is not None and digest is not None and h.digest() != digest[1]:
        computed = base64.b32encode(h.digest()).decode()
        row[ERROR] = "read_digest_mismatch"
        row[DETAIL] = f"WARC-Payload-Digest {digest_header} != computed {digest[0]}:{computed}"
        return
    if is_text:
        row[TEXT] = raw.decode("utf-8", errors="replace")
        return
    payload, err, detail = decode_body(raw, te, ce, cfg.max_payload_bytes)
    if err:
        row[ERROR], row[DETAIL] = err, detail
        return
    row[PAYLOAD] = payload


def _process_warc_record(rec: Any, pos: int, offset: int, cfg: ReadConfig) -> Pending | None:
    """Read one fastwarc record completely; None when its WARC header is incomplete."""
    headers = rec.headers
    rtype = _TYPE_NAMES.get(int(rec.record_type)) or (headers.get("WARC-Type") or "").strip().lower()
    length = (headers.get("Content-Length") or "").strip()
    # ASCII digits only, and what fastwarc framed the record by (it reads an overflowing value as 0)
    declared = int(length) if length.isascii() and length.isdigit() else -1
    if not rtype or declared < 0 or declared != rec.content_length:
        return None
    p = Pending(rtype, pos, offset, None, extra={"rec": rec, "declared": declared})
    try:
        if rtype not in _ELIGIBLE:
            seen = rec.reader.consume()
            if seen < declared:
                p.partial = f"record block ends after {seen} of {declared} bytes"
            return p
        # one pass over the header (HeaderMap.get scans it each time), names are case-insensitive
        h = {k.lower(): v for k, v in headers.items()}
        row: list = [None] * _ROW_WIDTH
        p.row = row
        row[OFFSET], row[RTYPE] = offset, rtype
        row[RECORD_ID] = h.get("warc-record-id")
        row[URL] = clean_uri(h.get("warc-target-uri"))
        row[SITE_FILE] = h.get(_SITE_FILE_KEY)
        row[DATE] = normalise_date(h.get("warc-date"))
        digest_header = row[DIGEST] = h.get("warc-payload-digest")
        ctype, charset = split_content_type(h.get("content-type"))
        status = te = ce = None
        if rtype == "response" and rec.is_http:
            try:
                rec.parse_http()
            except OSError as e:
                # The block is not HTTP after all; what is left of it cannot be judged for truncation.
                row[ERROR], row[DETAIL] = "read_bad_http", f"HTTP headers: {e}"
                rec.reader.consume()
                return p
            http = rec.http_headers
            status = http.status_code
            ctype, charset = split_content_type(http.get("Content-Type"))
            te, ce = http.get("Transfer-Encoding"), http.get("Content-Encoding")
            row[HEADERS] = _header_lines(http.items())
            if status is None:
                row[ERROR], row[DETAIL] = "read_bad_http", "no HTTP status line"
        row[STATUS], row[CTYPE], row[CHARSET] = status, ctype, charset
        expected = rec.content_length  # body bytes still to come, per the declared Content-Length
        is_text = rtype == "conversion"
        keep = row[ERROR] is None
        if keep and expected > cfg.max_payload_bytes:
            keep = False
            row[ERROR] = "read_too_large"
            row[DETAIL] = f"payload of {expected} bytes exceeds max_payload_bytes={cfg.max_payload_bytes}"
        if keep and not is_text and not _allowed(status, ctype, cfg, row[URL], row[SITE_FILE]):
            keep = False
            row[ERROR], row[DETAIL] = "read_content_type", f"content_type={ctype or 'missing'}"
        digest = None
        if keep and digest_header:
            try:
                digest = parse_digest(digest_header)
            except ValueError as e:
                keep = False
                row[ERROR], row[DETAIL] = "read_digest_mismatch", str(e)
        raw, seen, h = _body(rec.reader, keep, digest)
        if seen < expected:
            p.partial = f"record block ends after {declared - expected + seen} of {declared} bytes"
            return p
        finish_payload(
            row, raw, is_text=is_text, digest=digest, digest_header=digest_header, h=h, te=te, ce=ce, cfg=cfg
        )
    except _FATAL:
        raise
    except BaseException as e:  # stream errors (corrupt gzip, network) and fastwarc panics
        p.partial = f"{type(e).__name__}: {e}"
    return p


def _mark_partial(p: Pending, why: str) -> None:
    if p.row is not None:
        p.row[PAYLOAD] = p.row[TEXT] = None
        p.row[ERROR], p.row[DETAIL] = "read_truncated", why


def _header_bytes(rec: Any) -> int:
    """Length of a record's WARC header block as fastwarc re-serialises it (exact for well-formed files)."""
    try:
        return rec.headers.write(io.BytesIO())
    except Exception:
        return 0


def row_bytes(row: tuple | list) -> int:
    """What a record row holds in memory, for cutting batches by bytes: its payload or its text."""
    body = row[PAYLOAD] if row[PAYLOAD] is not None else row[TEXT]
    return len(body) if body is not None else 0


class _Collector:
    """Rows of the current batch, plus the counting that keeps `report.eligible == rows emitted`.

    A batch ends at `batch_size` rows or once its rows hold `max_bytes` of payload/text, whichever comes first."""

    def __init__(self, report: ReadReport, batch_size: int, max_bytes: int) -> None:
        self.report = report
        self.batch_size = batch_size
        self.max_bytes = max_bytes
        self.rows: list[tuple] = []
        self.bytes = 0  # payload/text bytes of `rows`
        self.held: list[list] = []  # partial rows whose length is only known after draining

    def commit(self, p: Pending, length: int | None) -> None:
        self.report.records_by_type[p.rtype] += 1
        if p.row is not None:
            p.row[LENGTH] = length
            if length is None:
                self.held.append(p.row)
            else:
                self.add(tuple(p.row))

    def add(self, row: tuple) -> None:
        self.rows.append(row)
        self.bytes += row_bytes(row)

    def full(self) -> bool:
        return len(self.rows) >= self.batch_size or self.bytes >= self.max_bytes

    def take(self) -> pl.DataFrame:
        """The next batch: at most batch_size rows, and no more rows than reach max_bytes (at least one)."""
        cut, held = 0, 0
        while cut < min(len(self.rows), self.batch_size) and (cut == 0 or held < self.max_bytes):
            held += row_bytes(self.rows[cut])
            cut += 1
        batch, self.rows = self.rows[:cut], self.rows[cut:]
        self.bytes -= held
        return rows_to_frame(batch)


def _finish(stream: HashingReader, report: ReadReport, out: _Collector, stop: Stop) -> None:
    """Finish the input (hash, size, read_stopped), then give held partial rows their length (to EOF)."""
    finish_stream(stream, report, stop)
    for row in out.held:
        row[LENGTH] = stream.bytes - row[OFFSET]
        out.add(tuple(row))
    out.held.clear()


def _drive(
    parse, stream: HashingReader, report: ReadReport, batch_size: int, cfg: ReadConfig
) -> Iterator[pl.DataFrame]:
    """Run a record parser to its end, then flush: full batches while parsing, the rest after."""
    out = _Collector(report, batch_size, cfg.max_batch_bytes)
    try:
        stop = yield from parse(stream, out, cfg)
    except GeneratorExit:
        stream.close()
        raise
    _finish(stream, report, out, stop)
    while out.rows:
        yield out.take()


def read_warc(
    stream: HashingReader, report: ReadReport, *, batch_size: int, read_config: ReadConfig
) -> Iterator[pl.DataFrame]:
    """Batches of the eligible records of a WARC/WET file (plain or gzip); see the module docstring."""
    return _drive(_parse_warc, stream, report, batch_size, read_config)


@dataclass(frozen=True)
class BatchPlan:
    """Where every batch of a local WARC file starts, noted by a pass that read the whole file cleanly.

    With it each worker reads its own batch (`read_planned_batch`) instead of one process reading the file
    and shipping batches to the others, so reading is parallel too. Made only for files read to the end
    without a stop: every record is then addressable, and a read from a batch's first record to the next
    batch's gives exactly the rows the sequential read gives that batch.
    """

    path: str
    report: ReadReport  # what the planning pass saw: records by type, sha256, bytes of the whole file
    batch_size: int
    starts: tuple[int, ...]  # byte offset where batch n begins (batch 0 at 0, later ones at a record start)
    size: int  # the file's size and mtime when planned: a file changed since is refused, not misread
    mtime_ns: int

    @classmethod
    def of(cls, path: str, report: ReadReport, batch_size: int, offsets: pl.Series) -> BatchPlan | None:
        """The plan of a file whose reading gave `report` and the `offsets` of its eligible records, in
        order; None if the file cannot be read in pieces (not a local WARC, or its reading stopped)."""
        if report.format != "warc" or report.read_stopped is not None or not os.path.isfile(path):
            return None
        stat = os.stat(path)
        if stat.st_size != report.bytes:
            return None
        firsts = offsets.gather_every(batch_size).to_list()  # each batch's first record
        return cls(path, report, batch_size, (0, *firsts[1:]), stat.st_size, stat.st_mtime_ns)

    def __len__(self) -> int:
        return len(self.starts) if self.report.eligible else 0

    def batch(self, n: int) -> tuple[int, int | None, int]:
        """(start, end or None for the end of the file, eligible records) of batch `n`."""
        end = self.starts[n + 1] if n + 1 < len(self.starts) else None
        rows = self.batch_size if end is not None else self.report.eligible - self.batch_size * n
        return self.starts[n], end, rows


class _Window:
    """Bytes [start, end) of an open file, as a stream whose positions count from `start`."""

    def __init__(self, raw: Any, start: int, end: int | None) -> None:
        raw.seek(start)
        self._raw = raw
        self._left = None if end is None else end - start

    def read(self, n: int = -1) -> bytes:
        if self._left is not None and (n is None or n < 0 or n > self._left):
            n = self._left
        data = self._raw.read(n)
        if self._left is not None:
            self._left -= len(data)
        return data

    def close(self) -> None:
        self._raw.close()


def read_window(
    path: str, start: int, end: int | None, batch_size: int, read_config: ReadConfig
) -> tuple[Iterator[pl.DataFrame], ReadReport]:
    """Batches of the records in bytes [start, end) of a local WARC file, read as a file of its own (so
    `start` must begin a record, and a gzip member); offsets are the whole file's. The report fills in
    as the batches are read."""
    report = ReadReport(path=path, format="warc")
    stream = HashingReader(_Window(open(path, "rb"), start, end))  # noqa: SIM115 (the reader closes it)
    batches = read_warc(stream, report, batch_size=batch_size, read_config=read_config)
    return (batch.with_columns(pl.col("warc_record_offset") + start) for batch in batches), report


def record_members(path: str, pieces: int, probe: int = 1 << 20) -> list[int]:
    """Offsets that cut a gzip WARC file into about `pieces` equal parts, each at a gzip member that starts
    a WARC record (checked by inflating its first bytes); a cut with no such member near it is left out.

    A chance match (the magic bytes inside compressed data, inflating to "WARC/") is not ruled out here:
    whoever reads in pieces checks that every piece read cleanly to its end.
    """
    size = os.path.getsize(path)
    cuts: list[int] = []
    with open(path, "rb") as f:
        for k in range(1, pieces):
            near = size * k // pieces
            f.seek(near)
            window = f.read(probe)
            at = window.find(GZIP_MAGIC + b"\x08")
            while at != -1:
                with contextlib.suppress(isal_zlib.error):
                    if isal_zlib.decompressobj(31).decompress(window[at : at + 4096], 5) == b"WARC/":
                        cuts.append(near + at)
                        break
                at = window.find(GZIP_MAGIC + b"\x08", at + 1)
    return sorted({c for c in cuts if 0 < c < size})


def read_planned_batch(plan: BatchPlan, n: int, read_config: ReadConfig) -> pl.DataFrame:
    """Batch `n` of a planned file, read from its own byte range: the same rows as a sequential read."""
    frames = list(read_planned_pieces(plan, n, read_config))
    return pl.concat(frames) if frames else empty_records()


def read_planned_pieces(plan: BatchPlan, n: int, read_config: ReadConfig) -> Iterator[pl.DataFrame]:
    """`read_planned_batch` in pieces of at most `read_config.max_batch_bytes` of payload, each yielded as soon as
    it is read: what the workers process, so their memory follows bytes, not the plan's rows."""
    start, end, rows = plan.batch(n)
    stat = os.stat(plan.path)
    if (stat.st_size, stat.st_mtime_ns) != (plan.size, plan.mtime_ns):
        raise InputError(f"{plan.path} changed while the run was reading it: run again")
    batches, report = read_window(plan.path, start, end, max(rows, 1), read_config)
    read = 0
    for frame in batches:
        read += frame.height
        if read > rows:
            break
        yield frame
    if report.read_stopped is not None or read != rows:
        raise InputError(f"{plan.path}: batch {n} at byte {start} did not read as planned ({read} of {rows} "
                         f"records, {report.read_stopped}): was the file changed during the run?")


def _parse_warc(stream: HashingReader, out: _Collector, cfg: ReadConfig) -> Generator[pl.DataFrame, None, Stop]:
    """Yield full batches while parsing; return where reading stopped (None if it reached the end)."""
    try:
        members = GzipMembers(stream) if stream.peek(2) == GZIP_MAGIC else None
        records = iter(ArchiveIterator(members or stream, parse_http=False, stream_detect=False))
    except _FATAL:
        raise
    except BaseException as e:
        return (0, f"{type(e).__name__}: {e}")
    pending: Pending | None = None
    while True:
        try:
            rec = next(records)
        except StopIteration:
            return _at_end(pending, members, stream, out)
        except _FATAL:
            raise
        except BaseException as e:
            return _at_failure(pending, members, out, f"{type(e).__name__}: {e}")
        pos = rec.stream_pos
        if members is not None:
            comp = members.start_at(pos)
            if pending is not None:
                nxt = members.next_after(pending.pos)
                if comp is None or nxt is None or nxt[0] != pos:
                    return (pending.offset, NON_CHUNKED)
                out.commit(pending, nxt[1] - pending.offset)
            elif comp is None:
                return (members.containing(pos), NON_CHUNKED)
            members.prune(pos)
            offset = comp
        else:
            if pending is not None:
                out.commit(pending, pos - pending.offset)
            offset = pos
        pending = _process_warc_record(rec, pos, offset, cfg)
        if pending is None:
            return (offset, "truncated or invalid WARC header")
        if pending.partial is not None:
            _mark_partial(pending, pending.partial)
            out.commit(pending, None)
            return (offset, f"record at offset {offset} could not be read completely: {pending.partial}")
        while out.full():
            yield out.take()


def _at_end(pending: Pending | None, members: GzipMembers | None, stream: HashingReader, out: _Collector) -> Stop:
    """The parser reached the end of the input: settle the last record."""
    if members is None:
        if pending is not None:
            out.commit(pending, stream.tell() - pending.offset)
        return None
    cut = members.truncated
    if pending is None:
        if cut is not None:
            return (cut[1], f"truncated gzip member at offset {cut[1]} (input ends inside it)")
        return None
    nxt = members.next_after(pending.pos)
    if cut is not None and cut[0] <= pending.pos:
        why = f"truncated gzip member at offset {pending.offset} (input ends inside it)"
        _mark_partial(pending, why)
        out.commit(pending, None)
        return (pending.offset, why)
    if nxt is not None and nxt[0] < members.tell():
        return (pending.offset, NON_CHUNKED)  # a member boundary inside the last record
    end = nxt[1] if nxt is not None else members.end_c
    out.commit(pending, None if end is None else end - pending.offset)
    if cut is not None:
        return (cut[1], f"truncated gzip member at offset {cut[1]} (input ends inside it)")
    return None


def _at_failure(pending: Pending | None, members: GzipMembers | None, out: _Collector, error: str) -> tuple[int, str]:
    """The parser failed on the record after `pending`: settle `pending`, say where reading stopped."""
    if members is None:
        if pending is None:
            return (0, error)
        end = pending.pos + _header_bytes(pending.extra["rec"]) + pending.extra["declared"]
        out.commit(pending, end - pending.offset)
        return (end, error)
    bad = members.error
    if pending is None:
        return (bad[1] if bad else members.containing(members.tell()), error)
    nxt = members.next_after(pending.pos)
    if nxt is not None and (bad is None or bad[0] >= nxt[0]):
        out.commit(pending, nxt[1] - pending.offset)
        return (bad[1] if bad else nxt[1], error)
    _mark_partial(pending, error)
    out.commit(pending, None)
    return (pending.offset, error)


# ---------------------------------------------------------------------------------------------
# ARC (warcio)


def _process_arc_response(rec: Any, offset: int, cfg: ReadConfig) -> tuple[list, str | None]:
    """Row for an ARC response record, and why it is partial (None if complete)."""
    arc = rec.rec_headers
    row: list = [None] * _ROW_WIDTH
    row[OFFSET], row[RTYPE] = offset, "response"
    row[URL] = clean_uri(arc.get_header("uri"))
    row[DATE] = normalise_date(arc.get_header("archive-date"))
    http = rec.http_headers
    status = te = ce = None
    ctype, charset = split_content_type(arc.get_header("content-type"))
    if http is not None and http.statusline:
        code = http.get_statuscode()
        status = int(code) if code and code.isdigit() else None
        ctype, charset = split_content_type(http.get_header("Content-Type"))
        te, ce = http.get_header("Transfer-Encoding"), http.get_header("Content-Encoding")
        row[HEADERS] = _header_lines(http.headers)
    row[STATUS], row[CTYPE], row[CHARSET] = status, ctype, charset
    stream = rec.raw_stream
    expected = max(0, getattr(stream, "limit", 0))
    keep = True
    if expected > cfg.max_payload_bytes:
        keep = False
        row[ERROR] = "read_too_large"
        row[DETAIL] = f"payload of {expected} bytes exceeds max_payload_bytes={cfg.max_payload_bytes}"
    elif not _allowed(status, ctype, cfg, row[URL]):
        keep = False
        row[ERROR], row[DETAIL] = "read_content_type", f"content_type={ctype or 'missing'}"
    parts, got = [], 0
    while True:
        b = stream.read(CHUNK)
        if not b:
            break
        got += len(b)
        if keep:
            parts.append(b)
    if got < expected:
        return row, f"record block ends {expected - got} bytes short of its declared length"
    if keep:
        finish_payload(
            row, b"".join(parts), is_text=False, digest=None, digest_header=None, h=None, te=te, ce=ce, cfg=cfg
        )
    return row, None


def read_arc(
    stream: HashingReader, report: ReadReport, *, batch_size: int, read_config: ReadConfig
) -> Iterator[pl.DataFrame]:
    """Batches of the response records of an ARC (v1) file, plain or gzip, read with warcio.

    Offsets and lengths are warcio's (the gzip member, or the record without its trailing newline);
    records are counted by warcio's type ('arc_header', 'response'). ARC records carry no record id
    or digest. A record shorter than its declared length (or whose bytes cannot be read) is emitted
    as 'read_truncated' and stops reading there; an error parsing the next record stops reading at
    that record (warcio's non-chunked gzip error is reported as NON_CHUNKED).
    """
    return _drive(_parse_arc, stream, report, batch_size, read_config)


def _parse_arc(stream: HashingReader, out: _Collector, cfg: ReadConfig) -> Generator[pl.DataFrame, None, Stop]:
    it: Any = None
    try:
        it = WarcioArchiveIterator(stream)
        records = iter(it)
    except _FATAL:
        raise
    except BaseException as e:
        return (0, f"{type(e).__name__}: {e}")
    good_end = 0  # where the last completely read record ends
    while True:
        try:
            rec = next(records)
        except StopIteration:
            if stream.tell() > it.offset:  # warcio ends quietly on a cut-off record header
                return (it.offset, f"unreadable data after offset {it.offset} (truncated record header?)")
            return None
        except _FATAL:
            raise
        except BaseException as e:
            msg = f"{type(e).__name__}: {e}"
            # warcio's offset can go negative (non-chunked gzip ARC): then the end of the last good record
            at = it.offset if 0 <= it.offset <= stream.tell() else good_end
            return (at, NON_CHUNKED if "non-chunked gzip" in msg else " ".join(msg.split())[:300])
        offset = it.offset
        p = Pending(rec.rec_type or "unknown", offset, offset, None)
        length = None
        try:
            if p.rtype == "response":
                p.row, p.partial = _process_arc_response(rec, offset, cfg)
            else:
                while rec.raw_stream.read(CHUNK):
                    pass
                if getattr(rec.raw_stream, "limit", 0) > 0:
                    p.partial = "record block ends short of its declared length"
            if p.partial is None:
                length = it.get_record_length()
        except _FATAL:
            raise
        except BaseException as e:
            p.partial = f"{type(e).__name__}: {e}"
        if p.partial is not None:
            _mark_partial(p, p.partial)
            out.commit(p, None)
            return (offset, f"record at offset {offset} could not be read completely: {p.partial}")
        out.commit(p, length)
        good_end = offset + max(length or 0, 0)  # warcio's length is negative for a non-chunked gzip ARC
        while out.full():
            yield out.take()

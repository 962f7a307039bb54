"""WARC / WET reader (framed here): one row per eligible record, every byte accounted for.

How records map to rows, and what happens when a file is damaged:

* Eligible records are `response`, `resource` and `conversion` (WET) records; each becomes one row. Every
  record, eligible or not, is counted by its WARC-Type in `ReadReport.records_by_type`, and its bytes in
  `ReadReport.bytes_by_type`.
* `warc_record_offset`/`warc_record_length` address the record's bytes as stored: for gzip, the record's
  gzip member(s) up to the next record's member; for a plain file, the record up to the next record.
  `seek(offset); read(length)` (then gunzip those members) gives back exactly that record, and the spans of
  consecutive records meet: together they cover the file.
* **Nothing is lost to damage.** A span of the input that is not a readable record (garbage between gzip
  members, a corrupt member, a header without a usable Content-Length, a record cut short, records not
  individually addressable in a "non-chunked" gzip file, trailing junk) is emitted as a row of its own:
  record_type 'unreadable', read_error 'read_unparsable', with its offset and length; it goes to the ledger
  like any read error. Then reading **resynchronises**: it goes on at the next gzip member whose content
  starts with `WARC/` (gzip), or at the next `WARC/` that begins a parseable WARC header (plain), so every
  later record is read. A damaged region is cut where another record seemed to start (a gzip member that does
  not read, a version line whose header does not parse): each piece is its own row, so one damaged record
  never swallows the next. The spans of the records read plus the unreadable spans cover the file, which
  `verify` checks from the release alone.
* A damaged record whose WARC header was read is still a record: if eligible, its row carries
  'read_truncated' (its block ends before its Content-Length: the input ends, the next record begins, or
  the gzip data breaks) or 'read_unparsable' (its Content-Length is missing, not a number, or does not end
  the record: bytes that are not a record follow it), with the span up to the next record; a damaged record
  of another type (request, metadata, ...) becomes an unreadable span, named in its detail.
* In a plain file, bytes that follow a record's declared block without being a record make that record
  suspect (its Content-Length may be short), unless its WARC-Block-Digest or WARC-Payload-Digest verifies:
  then the record stands and only the bytes after it are unreadable.
* The header parser, digests and payload decoding are `pipeline.warc_record`'s (shared with `show`, the
  app's re-check and the reports). Header lines may end in LF alone. Per record read errors (the row is
  emitted, payload null): 'read_too_large' (body larger than max_payload_bytes: never held in memory),
  'read_digest_mismatch' (WARC-Payload-Digest present and different, or undecodable; hashed over the HTTP
  body as stored, before de-chunking and decoding, like warcio; base32, hex, base64; any hashlib
  algorithm), 'read_content_type' (a 2xx or status-less record whose MIME type is not in
  read_config.content_types: its body is not kept), 'read_bad_http' (no parseable HTTP head),
  'read_bad_encoding'. WET `conversion` records give `text` (UTF-8, errors replaced), no payload.
* Only a failing input stream (an I/O error, a dropped connection) stops reading: `read_stopped` says
  where and why, and the rest of what arrived is one unreadable span.

Around the reader: the bytes it reads (a tape to go back on, gzip members) are `tape.py`'s, the rows and the
accounting of spans `record_rows.py`'s (shared with the ARC reader, `arc.py`), reading a file in planned pieces
`warc_plan.py`'s. The framing state machine (`_WarcReader`) stays one module of ~700 lines: its states (in a
record's header, its block, a damaged region, a scan for the next record, gzip or plain) share one tape
position, one record being framed and one running account of spans, and each transition reads and moves all
three, so split apart each piece would need the whole state.
"""

from __future__ import annotations

import contextlib
import re
import zlib
from collections.abc import Generator, Iterator
from typing import Any

import polars as pl
from isal import isal_zlib

from pipeline.config import ReadConfig
from pipeline.sources.base import ReadReport
from pipeline.sources.record_rows import (
    FATAL,
    NON_CHUNKED,
    Collector,
    Stop,
    allowed,
    drive,
    fields_row,
)
from pipeline.sources.streams import HashingReader
from pipeline.sources.tape import READ, GzipError, GzipMembers, Tape
from pipeline.warc_record import (
    ELIGIBLE_RECORDS,
    GZIP_MAGIC,
    MAX_HEAD_BYTES,
    Fields,
    RecordError,
    WarcHead,
    check_digest,
    head_end,
    parse_http_head,
    parse_warc_head,
    record_fields,
)

SCAN = 1 << 20  # bytes searched at a time for the next record after damage
PROBE = 1 << 16  # compressed bytes inflated to see whether a gzip member starts a record


def _never(*_: Any) -> bool:
    return False


class _Rec:
    """What is known of the record being framed."""

    __slots__ = ("block", "block_end", "block_start", "d0", "head", "held")

    def __init__(self, d0: int) -> None:
        self.d0 = d0  # its start in the view (the plain or decompressed stream)
        self.head: WarcHead | None = None
        self.block_start: int | None = None  # view position after the WARC header
        self.block_end: int | None = None  # view position after the declared block (when it was all there)
        self.block = b""  # the block (or its start, when not held)
        self.held = False  # `block` is the whole block


class _WarcReader:
    """Frames WARC records (plain, or gzip member by member) with the one record parser, and resynchronises
    after damage; see the module docstring."""

    def __init__(self, stream: HashingReader, out: Collector, cfg: ReadConfig, gzip_name: bool) -> None:
        self.stream = stream
        self.tape = Tape(stream, out.origin)
        self.out = out
        self.cfg = cfg
        self.gzip_name = gzip_name
        self.gz = False
        self.members: GzipMembers | None = None
        self.view: Any = None
        self.buf = b""
        self.bpos = 0  # view position of buf[0]
        self.i = 0  # parse position in buf
        self.veof = False
        self.stop: Stop = None
        self._rejects: list[int] = []
        self._hold_limit = cfg.max_payload_bytes + MAX_HEAD_BYTES  # eligible blocks up to this are held
        self._hold = lambda status, ctype, url, site_file: allowed(status, ctype, cfg, url, site_file)

    # -- the buffer over the view -----------------------------------------------------------------

    def _open(self, start: int) -> None:
        self.tape.seek(start)
        if self.gz:
            self.members = self.view = GzipMembers(self.tape)
            self.bpos = 0
        else:
            self.members, self.view, self.bpos = None, self.tape, start
        self.buf, self.i, self.veof = b"", 0, False

    def _pos(self) -> int:
        return self.bpos + self.i

    def _need(self, k: int) -> bool:
        """At least `k` bytes after the parse position, unless the view ends first."""
        have = len(self.buf) - self.i
        if have >= k:
            return True
        parts = [self.buf[self.i :]]
        try:
            while have < k and not self.veof:
                data = self.view.read(max(k - have, READ))
                if not data:
                    self.veof = True
                    break
                parts.append(data)
                have += len(data)
        finally:  # bytes read before an error stay in the buffer
            self.bpos += self.i
            self.buf, self.i = b"".join(parts), 0
        return have >= k

    def _skip(self, n: int) -> int:
        """Move past `n` bytes without keeping them; return how many there were."""
        have = len(self.buf) - self.i
        if have >= n:
            self.i += n
            return n
        done = have
        self.bpos += len(self.buf)
        self.buf, self.i = b"", 0
        while done < n:
            data = self.view.read(min(PROBE * 4, n - done))
            if not data:
                self.veof = True
                break
            done += len(data)
            self.bpos += len(data)
        return done

    def _skip_blank(self) -> None:
        while self._need(1):
            buf, i, n = self.buf, self.i, len(self.buf)
            while i < n and buf[i] in (10, 13):
                i += 1
            self.i = i
            if i < n:
                return

    def _starts(self, prefix: bytes) -> bool:
        return self._need(len(prefix)) and self.buf.startswith(prefix, self.i)

    def _head_end(self) -> int:
        """Index in buf just past the WARC header's blank line, or -1 (no end within MAX_HEAD_BYTES, or EOF)."""
        searched = 0
        while True:
            stop = min(len(self.buf), self.i + MAX_HEAD_BYTES)
            end = head_end(self.buf, self.i + max(0, searched - 3), stop)
            if end >= 0:
                return end
            searched = stop - self.i
            if searched >= MAX_HEAD_BYTES or not self._need(searched + 1):
                return -1

    # -- reading ------------------------------------------------------------------------------------

    def run(self) -> Generator[pl.DataFrame, None, Stop]:
        start: int | None = self.tape.tell()
        try:
            self.gz = self._sniff()
        except FATAL:
            raise
        except BaseException as e:  # the input fails before its first bytes
            return (0, f"{type(e).__name__}: {e}")
        while start is not None:
            self._open(start)
            while True:
                try:
                    try:
                        outcome = self._record()
                    except GzipError:
                        outcome = self._gzip_damage()
                except FATAL:
                    raise
                except BaseException as e:  # the input stream failed (I/O error, dropped connection)
                    outcome = self._failed(e)
                while self.out.full():
                    yield self.out.take()
                if outcome is not _NEXT:
                    start = outcome
                    break
        return self.stop

    def _sniff(self) -> bool:
        """gzip (magic bytes; or a `.gz` name when the file starts neither with them nor with a record)."""
        start = self.tape.tell()
        first = self.tape.read_full(64)
        self.tape.seek(start)
        if first[:2] == GZIP_MAGIC:
            return True
        return self.gzip_name and not first.lstrip(b"\r\n").startswith(b"WARC/")

    def _record(self) -> int | object | None:
        """Frame one record; `_NEXT` when the next one follows, else where to resynchronise (None: the end)."""
        buf, i = self.buf, self.i
        rec = self._rec = _Rec(self.bpos + i)
        if not buf.startswith(b"WARC/", i):  # blank lines, the buffer's end, the input's end or no record
            self._skip_blank()
            if not self._need(1):
                return self._at_end(rec)
            if not self._starts(b"WARC/"):
                return self._damaged(rec, "no WARC version line where a record should start")
            buf, i = self.buf, self.i
        end = head_end(buf, i, min(len(buf), i + MAX_HEAD_BYTES))
        if end < 0:
            end = self._head_end()
            if end < 0:
                why = "the input ends inside a WARC header" if self.veof else "no end of the WARC header within 1 MiB"
                return self._damaged(rec, why)
            buf, i = self.buf, self.i
        try:
            rec.head = head = parse_warc_head(buf[i:end])
        except RecordError as err:
            return self._damaged(rec, str(err))
        self.i = end
        rec.block_start = self.bpos + end
        if head.problem:
            return self._damaged(rec, f"its WARC header cannot frame it: {head.problem}")
        n = head.content_length or 0
        eligible = head.rtype in ELIGIBLE_RECORDS
        if eligible and n <= self._hold_limit:
            if len(buf) - end < n:
                self._need(n)
                buf, end = self.buf, self.i
            rec.block = block = buf[end : end + n]
            got = len(block)
            rec.held = got == n
            self.i = end + got
        else:
            if eligible:  # too large to hold: the start of the block, for the HTTP head
                self._need(min(n, PROBE))
                rec.block = self.buf[self.i : self.i + min(n, PROBE)]
            got = self._skip(n)
        if got < n:
            return self._damaged(rec, f"its block ends after {got} of {n} bytes (the input ends)", truncated=True)
        buf, i = self.buf, self.i
        rec.block_end = self.bpos + i
        if buf.startswith(b"\r\n\r\n", i):  # the usual end of a record (then, mostly, the next one)
            self.i = i + 4
        if not self._starts(b"WARC/"):
            self._skip_blank()
            if not self._need(1):
                return self._at_end(rec)
            if not self._starts(b"WARC/"):
                return self._garbage_after(rec)
        if self.members is None:
            self._commit(rec, self.bpos + self.i)
            return _NEXT
        following = self.members.start_at(self.bpos + self.i)
        if following is None:  # the next record starts inside a gzip member
            return self._damaged(rec, NON_CHUNKED, addressable=False)
        self._commit(rec, following)
        return _NEXT

    def _commit(self, rec: _Rec, end: int | None) -> None:
        """Record `rec` read completely, spanning from what is accounted to `end` (None: the end of the input)."""
        head = rec.head
        assert head is not None
        start = self.out.accounted
        length = None if end is None else end - start
        if head.rtype in ELIGIBLE_RECORDS:
            self.out.record(head.rtype, start, length, fields_row(self._fields(rec, self._hold), start, length))
        else:
            self.out.record(head.rtype or "unknown", start, length)
        self._forget(end)

    def _fields(self, rec: _Rec, hold: Any) -> Fields:
        assert rec.head is not None
        return record_fields(rec.head, rec.block, limit=self.cfg.max_payload_bytes, hold=hold)

    def _forget(self, end: int | None) -> None:
        if end is not None:
            self.tape.release(end)
        if self.members is not None:
            self.members.prune(self._pos())

    def _at_end(self, rec: _Rec) -> int | None:
        """The view ended after (or instead of) a record: settle it and any cut gzip member."""
        if self.members is not None and self.members.truncated is not None:
            return self._gzip_damage()
        end = self.members.end_c if self.members is not None else self._pos()
        if rec.head is None:
            if end is not None and end > self.out.accounted:  # blank lines only, where a record should be
                self.out.unreadable(self.out.accounted, end - self.out.accounted, "blank lines, no record")
            return None
        self._commit(rec, end)
        return None

    def _garbage_after(self, rec: _Rec) -> int | None:
        """Bytes that are no record follow a record's declared block."""
        assert rec.head is not None and rec.block_start is not None and rec.block_end is not None
        if self.members is not None:
            garbage = self.members.start_at(self._pos())
            if garbage is None:  # inside a member: the record's Content-Length does not end it
                last = self.members.containing(rec.block_end - 1)  # the member where the declared block ends
                nxt = self._scan_gzip(self.out.accounted + 1)
                if nxt is not None and nxt <= last:  # the next record begins before the declared block ends
                    return self._settle(rec, nxt, "its block ends before its Content-Length (the next record "
                                                  "begins)", True)  # fmt: skip
                return self._settle(rec, nxt, "bytes that are no record follow its declared block in its gzip "
                                              "member", False)  # fmt: skip
            self._commit(rec, garbage)  # a whole member of garbage after a complete one
            return self._region(garbage, self._scan_gzip(garbage + 1), "a gzip member that holds no record")
        garbage = self._pos()
        verified = self._verified(rec)
        nxt = self._scan_plain(rec.block_start)
        if nxt is not None and nxt < rec.block_end:  # the next record begins inside the declared block
            return self._settle(
                rec,
                nxt,
                f"its block ends after {nxt - rec.block_start} of "
                f"{rec.head.content_length} bytes (the next record begins)",
                True,
            )
        if verified:
            self._commit(rec, garbage)
            return self._region(garbage, nxt, "bytes after a record that are no record")
        return self._settle(
            rec,
            nxt,
            f"{(nxt or self.tape.head) - garbage} bytes that are no record follow its "
            "declared Content-Length, and no digest vouches for its block",
            False,
        )

    def _verified(self, rec: _Rec) -> bool:
        """Whether the record's WARC-Block-Digest (or else WARC-Payload-Digest) verifies its declared block."""
        head = rec.head
        assert head is not None and rec.block_start is not None and rec.block_end is not None
        block = rec.block if rec.held else self._reread(rec.block_start, rec.block_end)
        if block is None:
            return False
        ok, _ = check_digest(head.get("WARC-Block-Digest"), block)
        if ok is not None:
            return ok
        start = 0
        if head.rtype == "response" and (head.is_http or block.startswith(b"HTTP/1.")):
            try:
                start = parse_http_head(block).size
            except ValueError:
                return False
        ok, _ = check_digest(head.get("WARC-Payload-Digest"), block[start:])
        return bool(ok)

    def _reread(self, start: int, end: int, limit: int = 64 << 20) -> bytes | None:
        """Bytes [start, end) of a plain input again (None when longer than `limit` or no longer at hand)."""
        if end - start > limit:
            return None
        back = self.tape.tell()
        try:
            if self.tape.seek(start) != start:
                return None
            data = self.tape.read_full(end - start)
            return data if len(data) == end - start else None
        finally:
            self.tape.seek(back)

    def _damaged(self, rec: _Rec, why: str, truncated: bool = False, addressable: bool = True) -> int | None:
        """The record starting at `rec` cannot be read as framed: find the next record, settle the region."""
        start = self.out.accounted
        if self.members is not None:
            if rec.head is None and addressable:
                self._salvage_head(rec, start)
            nxt = self._scan_gzip(start + 1)
        else:
            nxt = self._scan_plain(rec.block_start if rec.block_start is not None else start + 1)
        if not addressable:
            return self._region(start, nxt, why)
        return self._settle(rec, nxt, why, truncated)

    def _salvage_head(self, rec: _Rec, start: int) -> None:
        """A gzip member whose data broke before its record's header was handed out (a bad CRC fails the whole
        inflate call): inflate its start again as raw deflate (no CRC), so the ledger row can name the record."""
        back = self.tape.tell()
        try:
            self.tape.seek(start)
            member = self.tape.read_full(PROBE * 4)
        finally:
            self.tape.seek(back)
        at = _deflate_start(member)
        if at is None:
            return
        with contextlib.suppress(zlib.error):
            data = zlib.decompressobj(-15).decompress(member[at:], MAX_HEAD_BYTES + PROBE)
            end = head_end(data, 0, min(len(data), MAX_HEAD_BYTES)) if data.startswith(b"WARC/") else -1
            if end > 0:
                with contextlib.suppress(RecordError):
                    head = parse_warc_head(data[:end])
                    if head.problem is None:
                        rec.head, rec.block = head, data[end : end + PROBE]

    def _settle(self, rec: _Rec, nxt: int | None, why: str, truncated: bool) -> int | None:
        """The region from what is accounted to `nxt` (None: the end) holds the damaged record `rec` (up to the
        first place where another record seemed to start, see `_region`)."""
        start = self.out.accounted
        head = rec.head
        if head is None or head.rtype not in ELIGIBLE_RECORDS:
            what = why if head is None or head.rtype is None else f"a damaged {head.rtype} record: {why}"
            return self._region(start, nxt, what)
        end = self._cut(start, nxt)
        own = self._own_end(rec, start, end)
        self._damaged_row(rec, start, own - start, why, truncated)
        if own < end:  # what follows the damaged record's own bytes may hide a record whose start is damaged too
            self.out.unreadable(own, end - own, "bytes after a damaged record that begin no readable record")
        self._region(end, nxt, None)
        return nxt

    def _own_end(self, rec: _Rec, start: int, end: int) -> int:
        """Where the damaged record starting at `start` ends, if that can be told before `end`: the end of its
        gzip member's deflate data and trailer (inflated again, raw), or of its declared block in a plain file.
        So the row of one damaged record never covers the next, whose start may be damaged too."""
        if self.members is None:
            if rec.block_end is None:
                return end
            stop = rec.block_end
            raw = self._reread(stop, min(end, stop + 4)) or b""
            stop += len(raw) - len(raw.lstrip(b"\r\n"))
            return stop if start < stop < end else end
        back = self.tape.tell()
        try:
            self.tape.seek(start)
            data = self.tape.read_full(PROBE)
            at = _deflate_start(data)
            if at is None:
                return end
            inflate, pos, data = zlib.decompressobj(-15), start + at, data[at:]
            while data and pos < end:
                data = data[: end - pos]
                try:
                    inflate.decompress(data, PROBE)  # the output is not kept: bounded whatever the member holds
                except zlib.error:
                    return end
                if inflate.eof:
                    stop = pos + len(data) - len(inflate.unused_data) + 8  # then CRC32 and ISIZE
                    return stop if start < stop < end else end
                tail = inflate.unconsumed_tail
                pos += len(data) - len(tail)
                data = tail or self.tape.read_full(SCAN)
            return end
        finally:
            self.tape.seek(back)

    def _damaged_row(self, rec: _Rec, start: int, length: int, why: str, truncated: bool) -> None:
        """The ledger row of an eligible record that could not be read: what its header says, and why."""
        assert rec.head is not None
        try:
            f = self._fields(rec, _never)
        except FATAL:
            raise
        except BaseException:
            f = Fields(rec.head.rtype or "unknown")
        f.payload = f.text = None
        f.error, f.detail = ("read_truncated" if truncated else "read_unparsable"), why
        self.out.record(rec.head.rtype or "unknown", start, length, fields_row(f, start))

    def _cut(self, start: int, nxt: int | None) -> int:
        """Where the piece of the region [start, nxt) that begins at `start` ends: at the first place after it
        where the last scan saw a record seem to start (`_rejects`), else at `nxt` (or the end)."""
        end = self._span_end(nxt)
        return min((r for r in getattr(self, "_rejects", ()) if start < r < end), default=end)

    def _region(self, start: int, nxt: int | None, why: str | None) -> int | None:
        """[start, nxt) holds no readable record: cut at each place where a record seemed to start (a damaged
        gzip member, a WARC header that does not parse), each piece its own row: an eligible record whose header
        can still be read is named (read_truncated), the rest are unreadable spans. `why`: the first piece's."""
        end = self._span_end(nxt)
        while start < end:
            cut = self._cut(start, nxt)
            if why is not None:
                self.out.unreadable(start, cut - start, why)
            else:
                self._piece(start, cut)
            start, why = cut, None
        return nxt

    def _piece(self, start: int, end: int) -> None:
        """A piece of a damaged region that begins where a record seemed to start."""
        rec = _Rec(0)
        if self.members is not None:
            self._salvage_head(rec, start)
        if rec.head is not None and rec.head.rtype in ELIGIBLE_RECORDS:
            self._damaged_row(rec, start, end - start, "corrupt gzip data in its member", True)
        elif rec.head is not None:
            self.out.unreadable(start, end - start, f"a damaged {rec.head.rtype} record: corrupt gzip data")
        else:
            gz = self.members is not None
            self.out.unreadable(start, end - start, "a gzip member that does not begin a readable record" if gz
                                else "a WARC header that does not parse")  # fmt: skip

    def _span_end(self, nxt: int | None) -> int:
        """Where a region ends: at the next record, or at the end of the input (the scan read it all)."""
        return self.tape.head if nxt is None else nxt

    def _gzip_damage(self) -> int | None:
        """A corrupt or cut gzip member: settle the record before it if that one is complete, then resync."""
        rec = self._rec
        members = self.members
        assert members is not None
        trouble = members.error or members.truncated
        assert trouble is not None
        why = ("corrupt gzip data" if members.error else "the input ends inside a gzip member") + (
            f" (member at offset {trouble[1]})"
        )
        rest = self.buf[self.i :]  # every byte handed out before the trouble is in the buffer or was read
        if (
            rec.head is not None
            and rec.block_end is not None
            and trouble[0] >= rec.block_end
            and self._pos() + len(rest) == trouble[0]
            and not rest.strip(b"\r\n")
        ):
            self._commit(rec, trouble[1])  # complete and aligned: the trouble starts with the next member
            return self._damaged(_Rec(trouble[0]), why, truncated=True)
        if rec.block_start is not None and not rec.block and self.bpos <= rec.block_start:
            rec.block = self.buf[rec.block_start - self.bpos :][:MAX_HEAD_BYTES]  # for the row's HTTP fields
        return self._damaged(rec, why, truncated=True)

    def _failed(self, err: BaseException) -> int | None:
        """The input itself failed: what arrived after the last record is one unreadable span; reading stops."""
        message = " ".join(f"{type(err).__name__}: {err}".split())[:300]
        start = self.out.accounted
        self.stop = (start, message)
        if self.tape.head > start:
            self.out.unreadable(start, self.tape.head - start, f"reading failed: {message}")
        return None

    # -- finding the next record after damage -------------------------------------------------------

    def _scan_plain(self, start: int) -> int | None:
        """Offset of the first `WARC/` at or after `start` that begins a parseable WARC header; None if none. Not
        only at a line start: a record cut short runs straight into the next record's version line."""
        return self._scan(start, b"WARC/", self._plain_candidate)

    def _scan(self, start: int, needle: bytes, candidate: Any) -> int | None:
        """Offset of the first `needle` at or after `start` where `candidate(offset)` is true; None (at the end of
        the input) if none. Where it is False (a record seemed to start there but does not read; None: no record
        start at all) is noted in `_rejects`. Scanned bytes are released as it goes: they are in a region."""
        tape = self.tape
        base = tape.seek(start)
        buf, searched = b"", 0
        self._rejects = []  # where a record seemed to start but does not parse: damaged regions are cut there
        while True:
            k = buf.find(needle, searched)
            if k >= 0:
                verdict = candidate(base + k)
                if verdict:
                    return base + k
                if verdict is False:
                    self._rejects.append(base + k)
                searched = k + 1
                continue
            keep = buf[len(buf) - min(len(buf), len(needle) - 1) :]
            base += len(buf) - len(keep)
            tape.seek(base + len(keep))
            data = tape.read(SCAN)
            if not data:
                return None
            buf, searched = keep + data, 0
            tape.release(base)

    def _plain_candidate(self, q: int) -> bool | None:
        """Whether a parseable WARC header (with a WARC-Type or WARC-Record-ID) starts at `q` (None: not even a
        version line)."""
        back = self.tape.tell()
        try:
            self.tape.seek(q)
            window = self.tape.read_full(16)
            if not _VERSION_LINE.match(window):  # most "WARC/" in a payload end here, without reading more
                return None
            while len(window) < MAX_HEAD_BYTES:
                data = self.tape.read(min(PROBE, MAX_HEAD_BYTES - len(window)))
                if not data:
                    break
                window += data
                end = head_end(window, 0)
                if end >= 0:
                    head = parse_warc_head(window[:end])
                    return head.get("WARC-Type") is not None or head.get("WARC-Record-ID") is not None
            return False
        except RecordError:
            return False
        finally:
            self.tape.seek(back)

    def _scan_gzip(self, start: int) -> int | None:
        """Offset of the first gzip member at or after `start` whose content starts with `WARC/`; None if none."""
        return self._scan(start, GZIP_MAGIC + b"\x08", self._gzip_candidate)

    def _gzip_candidate(self, q: int) -> bool:
        """Whether the gzip member at `q` starts a record (False: a member, or so it seems, of something else)."""
        back = self.tape.tell()
        try:
            self.tape.seek(q)
            window = self.tape.read_full(PROBE)
            with contextlib.suppress(isal_zlib.error):
                return isal_zlib.decompressobj(31).decompress(window, 5) == b"WARC/"
            return False
        finally:
            self.tape.seek(back)


_NEXT = object()
_VERSION_LINE = re.compile(rb"WARC/[01]\.\d{1,3}[ \t]*\r?\n")


def _deflate_start(member: bytes) -> int | None:
    """Where the deflate data of a gzip member starts (after its header, RFC 1952 2.3), or None."""
    if len(member) < 10 or member[:3] != GZIP_MAGIC + b"\x08":
        return None
    flags, at = member[3], 10
    if flags & 4:  # FEXTRA
        if len(member) < at + 2:
            return None
        at += 2 + int.from_bytes(member[at : at + 2], "little")
    for bit in (8, 16):  # FNAME, FCOMMENT: zero-terminated
        if flags & bit:
            end = member.find(b"\0", at)
            if end < 0:
                return None
            at = end + 1
    if flags & 2:  # FHCRC
        at += 2
    return at if at < len(member) else None


def read_warc(
    stream: HashingReader,
    report: ReadReport,
    *,
    batch_size: int,
    read_config: ReadConfig,
    gzip_name: bool = False,
    origin: int = 0,
) -> Iterator[pl.DataFrame]:
    """Batches of the eligible records (and unreadable spans) of a WARC/WET file, plain or gzip; see the
    module docstring. `gzip_name`: the input is named `.gz` (then a file that starts with garbage is read as gzip);
    `origin`: the file offset of the stream's first byte (offsets in rows and messages are the file's)."""

    def parse(stream: HashingReader, out: Collector, cfg: ReadConfig) -> Generator[pl.DataFrame, None, Stop]:
        return (yield from _WarcReader(stream, out, cfg, gzip_name).run())

    return drive(parse, stream, report, batch_size, read_config, origin)

"""One WARC record parser: what a record's bytes say, for the reader, `show`, the app's re-check and reports.

Three places read WARC records: the pipeline's reader (`pipeline/sources/warc.py`, which frames records in a
stream and emits rows), the re-check of one record (`pipeline/provenance.reopen_record`, behind `apertura show`
and the app's "Re-check") and the EU summary's `read_warcinfo`. They all parse a record with this module, so
a record that reads as fine is re-checked as fine, and a digest written in hex is the same digest everywhere.

* Header blocks (WARC and HTTP): lines end in CRLF or LF alone (as warcio reads them); a line starting with a
  space or tab continues the previous value; a line without a colon is ignored (warcio); names compare
  case-insensitively and the first of repeated headers wins, except `Content-Length`, which must be one
  number (two different values make the framing ambiguous). At most `MAX_HEAD_BYTES` per block.
* Version lines: `WARC/1.x` and `WARC/0.x` (ClueWeb's); any other is not a record.
* Digests (`WARC-Payload-Digest`, `WARC-Block-Digest`): `<algorithm>:<value>` for any algorithm `hashlib`
  knows (`sha1`, `SHA-256`, `sha3-256`, ...), the value in base32, base16 (hex), base64 or base64url.
* HTTP: a `response` record whose Content-Type is `application/http` (or whose block starts with `HTTP/1.`)
  carries an HTTP head; its body is de-chunked when chunked and its Content-Encoding (gzip, deflate, br,
  zstd) undone, never to more than the size limit (`decode_body`, `gunzip_members`: bounded decompression).

One module of ~600 lines, in sections (heads, digests, bodies, a record's fields, a stored record) that are the
steps of parsing one record: kept whole so that what a record's bytes mean is read in one place.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import functools
import hashlib
import io
import itertools
import re
import zlib
from dataclasses import dataclass
from typing import Any

MAX_HEAD_BYTES = 1 << 20  # a WARC or HTTP header block longer than this is not a header block
GZIP_MAGIC = b"\x1f\x8b"
ELIGIBLE_RECORDS = frozenset({"response", "resource", "conversion"})  # WARC types that can become documents
_VERSION = re.compile(r"WARC/[01]\.\d{1,3}")
_CHUNK = 1 << 16
_COLONS = itertools.repeat(":")
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9a-z-]+")  # RFC 9110 token, lower-cased


class RecordError(ValueError):
    """Bytes that are not a WARC record header (one line, safe to show)."""


class TooLarge(ValueError):
    """A record whose bytes would decode past the size limit."""


# ---------------------------------------------------------------------------------------------
# Header blocks


def head_end(buf: bytes | bytearray, start: int, stop: int | None = None) -> int:
    """Index just past the blank line that ends the header block starting at `start` (CRLF or LF line
    ends), or -1 if there is none before `stop`."""
    stop = len(buf) if stop is None else stop
    crlf = buf.find(b"\n\r\n", start, stop)
    lf = buf.find(b"\n\n", start, crlf + 2 if crlf >= 0 else stop)
    if lf >= 0 and (crlf < 0 or lf < crlf):
        return lf + 2
    return crlf + 3 if crlf >= 0 else -1


def _text(block: bytes) -> str:
    try:
        return block.decode("utf-8")
    except UnicodeDecodeError:  # as warcio: per line, UTF-8 or else ISO-8859-1
        return "\n".join(_line(raw) for raw in block.split(b"\n"))


def _line(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("iso-8859-1")


def parse_block(block: bytes) -> tuple[str, list[tuple[str, str]]]:
    """(first line, [(name, value)]) of a header block (the blank line that ends it may be included)."""
    text = _text(block)
    lines = text.split("\n")
    first = lines[0].strip()
    if "\n " not in text and "\n\t" not in text:  # no continuation lines: one pass, mostly in C
        return first, [(n.rstrip(" \t"), v.strip()) for n, sep, v in map(str.partition, lines[1:], _COLONS) if sep]
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        line = line.rstrip("\r")
        if not line:
            continue
        if line[0] in " \t":
            if headers:
                name, value = headers[-1]
                headers[-1] = (name, (value + " " + line.strip()).strip())
            continue
        name, sep, value = line.partition(":")
        if sep:
            headers.append((name.rstrip(" \t"), value.strip()))
    return first, headers


def header_map(headers: list[tuple[str, str]]) -> dict[str, str]:
    """Lower-cased name -> the first value given for it (names compare case-insensitively)."""
    return {name.lower(): value for name, value in reversed(headers)}


@dataclass(slots=True)
class WarcHead:
    """A record's WARC header block. `size` is its length in bytes, blank line included."""

    version: str
    headers: list[tuple[str, str]]
    fields: dict[str, str]  # lower-cased name -> first value (`header_map`)
    size: int
    rtype: str | None  # WARC-Type, lower-cased; None when missing
    content_length: int | None  # None when missing or not one number
    problem: str | None  # why the header cannot frame a record (None: it can)

    def get(self, name: str) -> str | None:
        return self.fields.get(name.lower())

    @property
    def is_http(self) -> bool:
        return (self.fields.get("content-type") or "").lower().startswith("application/http")


def parse_warc_head(block: bytes) -> WarcHead:
    """The WARC header block `block` (ending with its blank line); RecordError if it has no version line."""
    version, headers = parse_block(block)
    if version not in ("WARC/1.0", "WARC/1.1") and not _VERSION.fullmatch(version):
        shown = version[:40].encode("unicode_escape").decode()
        raise RecordError(f"not a WARC version line: {shown!r}")
    fields = header_map(headers)
    rtype = (fields.get("warc-type") or "").strip().lower() or None
    problem = None
    length = None
    value = fields.get("content-length")
    if value is None:
        problem = "no Content-Length"
    elif value.isascii() and value.isdigit():
        length = int(value)
    else:
        problem = f"Content-Length {value[:40]!r} is not a number"
    repeated = block.lower().count(b"content-length") > 1  # given twice? then the values must not differ
    if repeated and problem is None and len({v for n, v in headers if n.lower() == "content-length"}) > 1:
        length, problem = None, "different Content-Length values"
    if problem is None and rtype is None:
        problem = "no WARC-Type"
    return WarcHead(version, headers, fields, len(block), rtype, length, problem)


@dataclass(slots=True)
class HttpHead:
    status: int | None  # None when the status line has no 3-digit status
    headers: list[tuple[str, str]]
    fields: dict[str, str]  # lower-cased name -> first value (`header_map`)
    size: int  # bytes of the head, blank line included

    def get(self, name: str) -> str | None:
        return self.fields.get(name.lower())

    def lines(self) -> str:
        return "\n".join(f"{k}: {v}" for k, v in self.headers)


def parse_http_head(block: bytes) -> HttpHead:
    """The HTTP response head at the start of a record block; ValueError if it does not end in the block."""
    end = head_end(block, 0, min(len(block), MAX_HEAD_BYTES))
    if end < 0:
        if block.startswith((b"\r\n", b"\n")):
            raise ValueError("no HTTP status line")
        raise ValueError("the HTTP head does not end inside the record")
    status_line, headers = parse_block(block[:end])
    parts = status_line.split(None, 2)
    status = None
    if status_line.upper().startswith("HTTP/") and len(parts) >= 2 and len(parts[1]) == 3 and parts[1].isdigit():
        status = int(parts[1])
    return HttpHead(status, headers, header_map(headers), end)


# ---------------------------------------------------------------------------------------------
# Values


def clean_uri(uri: str | None) -> str | None:
    """Undo wget's '<uri>' bug and escape spaces, as warcio does."""
    if not uri:
        return None
    uri = uri.strip()
    if uri.startswith("<") and uri.endswith(">"):
        uri = uri[1:-1]
    return uri.replace(" ", "%20")


@functools.lru_cache(maxsize=4096)  # a crawl has few distinct Content-Type values
def split_content_type(value: str | None) -> tuple[str | None, str | None]:
    """'Text/HTML; charset="UTF-8"' -> ('text/html', 'utf-8').

    A charset that is not a token ('utf-8\\x00', 'a b') is dropped: no codec has such a name, and
    codecs.lookup raises ValueError (not LookupError) on a NUL, which would stop the extract step.
    """
    if not value:
        return None, None
    mime, *params = value.split(";")
    charset = None
    for p in params:
        key, _, val = p.partition("=")
        if key.strip().lower() == "charset":
            charset = val.strip().strip("\"'").strip().lower() or None
    if charset is not None and not _TOKEN.fullmatch(charset):
        charset = None
    return mime.strip().lower() or None, charset


@functools.cache
def hash_name(algorithm: str) -> str | None:
    """The hashlib name of a digest algorithm as WARC writers spell it ('SHA-1', 'sha3-256'), or None if
    hashlib does not know it (or its digests have no fixed size)."""
    algo = algorithm.strip().lower()
    for name in (algo.replace("-", "_"), algo.replace("-", "")):
        if name in hashlib.algorithms_available and not name.startswith("shake"):
            with contextlib.suppress(ValueError):
                hashlib.new(name)
                return name
    return None


@functools.cache
def _algorithm(label: str) -> tuple[str, int] | None:
    """(hashlib name, digest size) of the algorithm label of a digest header, None if hashlib does not know it."""
    name = hash_name(label)
    return None if name is None else (name, hashlib.new(name).digest_size)


_B32 = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", "0123456789abcdefghijklmnopqrstuv", "=")


def _b32(value: str, size: int) -> bytes:
    """RFC 4648 base32 (upper or lower case, padding optional) of a `size`-byte digest, decoded in C."""
    digits = value.upper().translate(_B32)
    bits = 5 * len(digits)
    if not digits.isalnum() or not 0 <= bits - 8 * size < 5:
        raise ValueError("not base32 of this size")
    number = int(digits, 32)
    if number & ((1 << (bits - 8 * size)) - 1):
        raise ValueError("non-zero padding bits")
    return (number >> (bits - 8 * size)).to_bytes(size, "big")


def parse_digest(value: str) -> tuple[str, bytes] | None:
    """'sha1:BASE32' (or base16/hex, base64, base64url) -> (hashlib name, digest); None for algorithms hashlib
    does not know. ValueError when the algorithm is known but the value does not decode to a digest of its size."""
    algo, sep, encoded = value.partition(":")
    found = _algorithm(algo) if sep else None
    if found is None:
        return None
    name, size = found
    v = encoded.strip()
    try:  # base32, as WARC writers mostly write it
        return name, _b32(v, size)
    except ValueError:
        pass
    if len(v) == 2 * size:
        try:
            return name, bytes.fromhex(v)
        except ValueError:
            pass
    padded = v + "=" * (-len(v) % 4)
    for decode in (lambda: base64.b64decode(padded, validate=True), lambda: base64.urlsafe_b64decode(padded)):
        try:
            digest = decode()
        except (ValueError, binascii.Error):
            continue
        if len(digest) == size:
            return name, digest
    raise ValueError(f"cannot decode digest value {value!r}")


def format_digest(name: str, digest: bytes) -> str:
    """The WARC convention '<algorithm>:<BASE32>'."""
    return f"{name}:{base64.b32encode(digest).decode()}"


def check_digest(value: str | None, data: bytes) -> tuple[bool | None, str | None]:
    """(matches?, computed '<alg>:<BASE32>') of a digest header over `data`: (None, None) when there is no
    header or hashlib does not know its algorithm, (False, None) when its value cannot be decoded."""
    if not value:
        return None, None
    try:
        parsed = parse_digest(value)
    except ValueError:
        return False, None
    if parsed is None:
        return None, None
    computed = hashlib.new(parsed[0], data).digest()
    return computed == parsed[1], format_digest(parsed[0], computed)


# ---------------------------------------------------------------------------------------------
# Bodies: transfer and content codings, bounded


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
        b = reader.read(min(_CHUNK, limit + 1 - got))
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
                    from fastwarc.stream_io import BrotliReader

                    data = _read_limited(BrotliReader(io.BytesIO(data)), limit)
                elif enc == "zstd":
                    from fastwarc.stream_io import ZstdReader

                    data = _read_limited(ZstdReader(io.BytesIO(data)), limit)
                else:
                    return None, "read_bad_encoding", f"unsupported Content-Encoding {enc!r}"
            except (KeyboardInterrupt, SystemExit, GeneratorExit, MemoryError):
                raise
            except BaseException as e:  # zlib, OS and value errors, and a decoder's panic
                return None, "read_bad_encoding", f"Content-Encoding {enc}: {e}"
            if len(data) > limit:
                return None, "read_too_large", f"decoded payload exceeds max_payload_bytes={limit}"
    return data, None, None


def gunzip_members(raw: bytes, limit: int) -> tuple[bytes, bool]:
    """The gzip members of `raw` decompressed in order, never more than `limit` + 1 bytes of output (a small
    member can expand a thousandfold), and whether that is all of it. zlib.error for corrupt data, EOFError
    for a member cut short."""
    out: list[bytes] = []
    got = 0
    rest = raw
    while rest:
        d = zlib.decompressobj(31)
        data = d.decompress(rest, limit + 1 - got)
        got += len(data)
        out.append(data)
        if got > limit or d.unconsumed_tail:
            return b"".join(out), False
        if not d.eof:
            raise EOFError("gzip member cut short")
        rest = d.unused_data
    return b"".join(out), True


# ---------------------------------------------------------------------------------------------
# What a record says


@dataclass(slots=True)
class Fields:
    """What a record's head and block say, with the reader's error when its payload cannot be used.

    `payload` is the HTTP body decoded (or the block of a resource record); `text` the block of a WET
    conversion record; both are None when `error` is set or the body was not held."""

    rtype: str
    record_id: str | None = None
    url: str | None = None
    date: str | None = None
    digest_header: str | None = None
    status: int | None = None
    content_type: str | None = None
    charset: str | None = None
    http_headers: str | None = None
    site_file: str | None = None  # the site policy file Apertura's crawler fetched this for (Apertura-Site-File)
    payload: bytes | None = None
    text: str | None = None
    error: str | None = None
    detail: str | None = None
    digest_ok: bool | None = None  # payload digest re-computed: None when none to compare or not held
    computed: tuple[str, bytes] | None = None  # (algorithm, digest) recomputed over the body as stored
    body_length: int = 0  # bytes of the body as stored (after the HTTP head)

    @property
    def computed_digest(self) -> str | None:
        """The recomputed payload digest, '<algorithm>:<BASE32>'."""
        return None if self.computed is None else format_digest(*self.computed)


def record_fields(head: WarcHead, block: bytes, *, limit: int, hold: Any = None) -> Fields:
    """Interpret one record from its header and block. A body over `limit` bytes is "read_too_large" and not
    touched (then `block` may hold only the start of the block, enough for the HTTP head).
    `hold(status, content_type, url, site_file)` says whether to keep the body (None: always); a body not held is
    neither digest-checked nor decoded ("read_content_type")."""
    f = Fields(head.rtype or "unknown")
    fields = head.fields
    f.record_id = fields.get("warc-record-id")
    f.url = clean_uri(fields.get("warc-target-uri"))
    f.site_file = fields.get("apertura-site-file")
    f.date = fields.get("warc-date")
    f.digest_header = fields.get("warc-payload-digest")
    declared = head.content_length or 0
    body_start = 0
    te = ce = None
    if not (f.rtype == "response" and (head.is_http or block.startswith(b"HTTP/1."))):
        f.content_type, f.charset = split_content_type(fields.get("content-type"))
    else:
        try:
            http = parse_http_head(block)
        except ValueError as err:
            f.body_length = declared
            if len(block) < declared and declared > limit:  # only the block's start is at hand
                f.error = "read_too_large"
                f.detail = f"payload of about {declared} bytes exceeds max_payload_bytes={limit}"
            else:
                f.error, f.detail = "read_bad_http", f"HTTP headers: {err}"
            return f
        f.status, body_start = http.status, http.size
        hf = http.fields
        f.content_type, f.charset = split_content_type(hf.get("content-type"))
        te, ce = hf.get("transfer-encoding"), hf.get("content-encoding")
        f.http_headers = http.lines()
        if http.status is None:
            f.error, f.detail = "read_bad_http", "no HTTP status line"
    f.body_length = max(declared - body_start, 0)
    if f.error:
        return f
    is_text = f.rtype == "conversion"
    if f.body_length > limit:
        f.error = "read_too_large"
        f.detail = f"payload of {f.body_length} bytes exceeds max_payload_bytes={limit}"
        return f
    if not is_text and hold is not None and not hold(f.status, f.content_type, f.url, f.site_file):
        f.error, f.detail = "read_content_type", f"content_type={f.content_type or 'missing'}"
        return f
    body = block[body_start:]
    if f.digest_header:
        try:
            parsed = parse_digest(f.digest_header)
        except ValueError as err:
            f.digest_ok, f.error, f.detail = False, "read_digest_mismatch", str(err)
            return f
        if parsed is not None:  # hashed over the body as stored: before de-chunking and decoding, like warcio
            computed = hashlib.new(parsed[0], body).digest()
            f.digest_ok, f.computed = computed == parsed[1], (parsed[0], computed)
            if not f.digest_ok:
                f.error = "read_digest_mismatch"
                f.detail = f"WARC-Payload-Digest {f.digest_header} != computed {f.computed_digest}"
                return f
    if is_text:
        f.text = body.decode("utf-8", errors="replace")
        return f
    f.payload, f.error, f.detail = decode_body(body, te, ce, limit)
    return f


# ---------------------------------------------------------------------------------------------
# One record from its stored bytes (show, the app's re-check, reports)


@dataclass(frozen=True)
class StoredRecord:
    """One record re-read from the byte range a release row names."""

    fields: Fields  # its header fields; payload and digest check only when not too large (`too_large`)
    block_digest_ok: bool | None = None  # WARC-Block-Digest over the block, when present
    too_large: str | None = None  # "too large to re-check: ..." when the body was not decoded
    note: str | None = None  # damage seen (a block cut short, bytes after the record)


def read_stored(raw: bytes, limit: int) -> StoredRecord:
    """Parse the exact bytes of one stored record (a gzip member or several, or plain bytes; WARC or ARC).

    Decompression, the HTTP body and its decoding all stop at `limit` (the run's max_payload_bytes, plus room
    for the headers): beyond it the record is "too large to re-check", its payload never decoded. RecordError
    when the bytes are not a record.
    """
    room = limit + 2 * MAX_HEAD_BYTES
    complete_input = True
    if raw[:2] == GZIP_MAGIC:
        try:
            raw, complete_input = gunzip_members(raw, room)
        except (zlib.error, EOFError) as err:
            raise RecordError(f"not a readable gzip member: {err}") from None
    start = len(raw) - len(raw.lstrip(b"\r\n"))
    if not raw.startswith(b"WARC/", start):
        return _read_arc(raw[start:], limit)
    end = head_end(raw, start, start + MAX_HEAD_BYTES)
    if end < 0:
        raise RecordError("the WARC header does not end")
    head = parse_warc_head(raw[start:end])
    if head.problem:
        raise RecordError(f"the WARC header cannot frame a record: {head.problem}")
    block = raw[end : end + head.content_length]
    fields = record_fields(head, block, limit=limit)
    if fields.error == "read_too_large" or (not complete_input and len(block) < head.content_length):
        why = fields.detail if fields.error == "read_too_large" else f"it decompresses to more than {room} bytes"
        return StoredRecord(fields, too_large=f"too large to re-check: {why}")
    block_ok, _ = check_digest(head.get("WARC-Block-Digest"), block)
    note = None
    if len(block) < head.content_length:
        note = f"its block ends after {len(block)} of {head.content_length} bytes"
    elif raw[end + head.content_length :].strip(b"\r\n") or not complete_input:
        note = "bytes that are no record follow its block"
    return StoredRecord(fields, block_ok, None, note)


def _read_arc(raw: bytes, limit: int) -> StoredRecord:
    """An ARC v1 record: 'URL IP DATE CONTENT-TYPE LENGTH' then the HTTP response."""
    line, sep, rest = raw.partition(b"\n")
    parts = line.decode("utf-8", "replace").strip().split(" ")
    if not sep or len(parts) < 5 or not parts[-1].isdigit():
        raise RecordError("not a WARC or ARC record")
    length = int(parts[-1])
    block = rest[:length]
    items = [("Content-Type", "application/http")]
    head = WarcHead("ARC", items, header_map(items), len(line) + 1, "response", length, None)
    fields = record_fields(head, block, limit=limit)
    fields.url, fields.date = clean_uri(" ".join(parts[:-4])), parts[-3]
    if fields.error == "read_too_large":
        return StoredRecord(fields, too_large=f"too large to re-check: {fields.detail}")
    return StoredRecord(fields, None, None, None if len(block) == length else "the record is cut short")


def warcinfo_fields(raw: bytes, limit: int = 256 * 1024) -> dict[str, str] | None:
    """The `key: value` lines of a leading warcinfo record in `raw` (the start of a WARC file), or None."""
    if raw[:2] == GZIP_MAGIC:
        d = zlib.decompressobj(31)
        try:
            raw = d.decompress(raw, limit + 2 * MAX_HEAD_BYTES)
        except zlib.error:
            return None
    start = len(raw) - len(raw.lstrip(b"\r\n"))
    end = head_end(raw, start, start + MAX_HEAD_BYTES)
    if end < 0:
        return None
    try:
        head = parse_warc_head(raw[start:end])
    except RecordError:
        return None
    if head.rtype != "warcinfo" or head.content_length is None:
        return None
    body = raw[end : end + min(head.content_length, limit)].decode("utf-8", "replace")
    info = {}
    for line in body.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip():
            info[key.strip()] = value.strip()
    return info

"""Property-based fuzzing of the WARC/ARC reader (`read_input`) and its payload helpers.

Two kinds of input: arbitrary bytes (the reader must end and report), and generated WARC files with an
exact oracle (every eligible record emitted with its payload), then damaged (truncated, a byte changed,
bytes inserted or deleted) so that every record is either emitted or lies where reading stopped.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import hashlib
import tempfile
from pathlib import Path

import polars as pl
from hypothesis import given
from hypothesis import strategies as st

from pipeline.config import ReadConfig
from pipeline.sources.base import RECORD_SCHEMA, normalise_date
from pipeline.sources.inputs import read_input
from pipeline.warc_record import dechunk, decode_body, parse_digest, split_content_type
from tests.hardening.support import check_accounted, deadline, fuzz_settings
from tests.helpers.accounting import check_spans, damaged_spans
from tests.helpers.corrupt import Span, Variant

TMP = Path(tempfile.mkdtemp(prefix="apertura-fuzz-"))


def read(data: bytes, suffix: str, batch_size: int = 3) -> tuple[pl.DataFrame, object]:
    path = TMP / f"input{suffix}"
    path.write_bytes(data)
    with deadline(10, f"read_input on {len(data)} bytes ({suffix})"):
        batches, report = read_input(str(path), batch_size=batch_size, read_config=ReadConfig())
        frames = list(batches)
    for frame in frames:
        assert frame.schema == pl.Schema(RECORD_SCHEMA) and 0 < frame.height <= batch_size
    df = pl.concat(frames) if frames else pl.DataFrame(schema=RECORD_SCHEMA)
    assert report.eligible == df.height
    assert report.bytes == len(data) and report.sha256 == hashlib.sha256(data).hexdigest()
    if report.read_stopped is not None:
        assert 0 <= report.read_stopped["offset"] <= len(data) and report.read_stopped["error"]
    for offset, length in df.select("warc_record_offset", "warc_record_length").iter_rows():
        assert offset >= 0 and length > 0 and offset + length <= len(data), (offset, length)
    assert df["warc_record_offset"].is_unique().all()
    check_spans(df, report)  # whatever the bytes: the spans of the rows and the other records cover them
    return df, report


# --- arbitrary bytes ---------------------------------------------------------------------------------

MAGIC = st.sampled_from([b"", b"WARC/1.0\r\n", b"WARC/1.1\r\n", b"\x1f\x8b\x08\x00", b"filedesc://", b"http://"])


@fuzz_settings(300)
@given(prefix=MAGIC, body=st.binary(max_size=600), suffix=st.sampled_from([".warc", ".warc.gz", ".arc", ".arc.gz"]))
def test_arbitrary_bytes_never_raise(prefix, body, suffix):
    read(prefix + body, suffix)


@fuzz_settings(150)
@given(body=st.binary(max_size=400))
def test_arbitrary_gzip_members_never_raise(body):
    read(gzip.compress(b"WARC/1.0\r\n" + body, mtime=0), ".warc.gz")


# --- generated WARCs with an oracle ------------------------------------------------------------------

HTML = st.text(st.characters(min_codepoint=32, max_codepoint=0x2FF), max_size=80).map(lambda t: f"<p>{t}</p>".encode())


@st.composite
def records(draw):
    """(WARC-Type, block, payload the reader must hand out or None) for one record."""
    kind = draw(st.sampled_from(["response", "response", "resource", "request", "metadata", "warcinfo", "pdf"]))
    body = draw(HTML)
    if kind in ("response", "pdf"):
        ctype = "text/html; charset=utf-8" if kind == "response" else "application/pdf"
        head = f"HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        return "response", head + body, (body if kind == "response" else None)
    if kind == "resource":
        return "resource", body, body
    return kind, body, None


def warc_record(i: int, rtype: str, block: bytes, payload: bytes | None, digest: bool) -> bytes:
    headers = [
        "WARC/1.0",
        f"WARC-Type: {rtype}",
        f"WARC-Record-ID: <urn:uuid:00000000-0000-0000-0000-{i:012d}>",
        "WARC-Date: 2025-01-02T03:04:05Z",
        f"WARC-Target-URI: http://fuzz.test/{i}",
        "Content-Type: " + ("application/http; msgtype=response" if rtype == "response" else "text/html"),
    ]
    if digest and payload is not None:
        headers.append("WARC-Payload-Digest: sha1:" + base64.b32encode(hashlib.sha1(payload).digest()).decode())
    headers.append(f"Content-Length: {len(block)}")
    return ("\r\n".join(headers) + "\r\n\r\n").encode() + block + b"\r\n\r\n"


@st.composite
def warc_files(draw):
    """(file bytes, suffix, spans, payloads by offset) of a valid generated WARC."""
    recs = draw(st.lists(records(), min_size=1, max_size=6))
    gz = draw(st.booleans())
    digest = draw(st.booleans())
    chunks, spans, payloads, pos = [], [], {}, 0
    for i, (rtype, block, payload) in enumerate(recs):
        raw = warc_record(i, rtype, block, payload, digest)
        chunk = gzip.compress(raw, mtime=0) if gz else raw
        spans.append(Span(pos, pos + len(chunk), rtype))
        if payload is not None:
            payloads[pos] = payload
        chunks.append(chunk)
        pos += len(chunk)
    return b"".join(chunks), ".warc.gz" if gz else ".warc", tuple(spans), payloads


@fuzz_settings(200)
@given(warc_files())
def test_generated_warcs_are_read_exactly(warc):
    data, suffix, spans, payloads = warc
    df, report = read(data, suffix)
    assert report.read_stopped is None
    assert df["warc_record_offset"].to_list() == [s.offset for s in spans if s.rtype in ("response", "resource")]
    got = dict(zip(df["warc_record_offset"], df["payload"], strict=True))
    for offset, payload in payloads.items():
        assert got[offset] == payload
    reasons = set(df["read_error"].drop_nulls())
    assert reasons <= {"read_content_type"}, reasons


@st.composite
def damaged(draw):
    data, suffix, spans, _ = draw(warc_files())
    how = draw(st.sampled_from(["truncate", "flip", "insert", "delete"]))
    at = draw(st.integers(0, len(data) - 1))
    if how == "truncate":
        new, shifted = data[:at], tuple(s for s in spans if s.offset < at)
    elif how == "flip":
        new, shifted = data[:at] + bytes([data[at] ^ draw(st.integers(1, 255))]) + data[at + 1 :], spans
    elif how == "insert":
        junk = draw(st.binary(min_size=1, max_size=20))
        new, n = data[:at] + junk + data[at:], len(junk)
        shifted = tuple(Span(s.offset + n * (s.offset >= at), s.end + n * (s.end > at), s.rtype) for s in spans)
    else:
        d = draw(st.integers(1, 20))
        new = data[:at] + data[at + d :]

        def moved(p: int, floor: int) -> int:
            return p if p <= at else max(floor, p - d)

        # a record that lost bytes ends after the damage point, so it never counts as intact
        shifted = tuple(Span(moved(s.offset, at), moved(s.end, at + 1), s.rtype) for s in spans)
    return Variant(f"fuzz:{how}@{at}", "fuzz", new, suffix, shifted, (at, at + 1))


@fuzz_settings(300)
@given(damaged())
def test_damaged_warcs_account_for_every_record(variant):
    df, report = read(variant.data, variant.suffix)
    reasons = [r for r in df["read_error"].to_list() if r]
    offsets = df.filter(pl.col("record_type") != "unreadable")["warc_record_offset"].to_list()
    check_accounted(variant, offsets, report.read_stopped, report.records_by_type, reasons, damaged_spans(df))
    # a record emitted without an error before the damage carries exactly its generated payload
    for row in df.filter(pl.col("read_error").is_null()).iter_rows(named=True):
        assert row["payload"] is not None


# --- payload helpers -----------------------------------------------------------------------------------


@fuzz_settings(300)
@given(st.binary(max_size=300))
def test_dechunk_terminates(data):
    with deadline(2, "dechunk"), contextlib.suppress(ValueError):
        dechunk(data)


@fuzz_settings(300)
@given(
    st.binary(max_size=300),
    st.sampled_from([None, "chunked", "gzip, chunked"]),
    st.sampled_from([None, "gzip", "deflate", "br", "zstd", "gzip, br", "identity", "x-nonsense", ""]),
)
def test_decode_body_never_raises(raw, te, ce):
    with deadline(2, "decode_body"):
        payload, err, _detail = decode_body(raw, te, ce, 10_000)
    assert (payload is None) == (err is not None)


@fuzz_settings(120)
@given(st.one_of(st.text(max_size=40), st.from_regex(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d", fullmatch=True)))
def test_normalise_date_never_raises(value):
    out = normalise_date(value)
    assert out is None or isinstance(out, str)


@fuzz_settings(300)
@given(st.text(max_size=60))
def test_header_value_parsers_never_raise(value):
    split_content_type(value)
    with contextlib.suppress(ValueError):
        parse_digest(value)

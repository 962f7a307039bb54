"""A corpus of corrupt inputs, made from valid ones: damaged WARCs, and hostile policy files.

    from tests.helpers.corrupt import base_warcs, warc_variants, payload_variants, robots_variants, tdmrep_variants
    for base in base_warcs(tmp_path):  # generated WARCs, plus the shared fixtures when present
        for v in warc_variants(base, random.Random(0)):
            path = v.write(tmp_path)  # run the reader / the pipeline on it, then check v.records

Families: `truncate` (cuts inside every record's header, payload and end), `bitflip`, `content_length`
(off by one, far too long, zero, junk, overflowing, missing, twice), `headers` (mandatory WARC headers
removed, bad version line, odd but legal forms), `gzip` (bad CRC/ISIZE, corrupt deflate data, cut
members, garbage between members, non-chunked, concatenations), `payload` (charsets, empty, binary
labelled text/html, broken Content-/Transfer-Encoding, a gzip bomb); policy files: `robots_variants`
(HTML, binary, 10 MB, BOM, CR-only, ...) and `tdmrep_variants` (truncated, wrong type, huge, ...).

Every WARC variant knows which bytes it damaged (`damage`, in the variant's own byte offsets) and
where the records of its base now start and end (`records`), so a test can demand that every
eligible record wholly before the damage survives and that the damage is visible (ledger reason,
`read_stopped`, or a changed `records_by_type`). Mutations work on record chunks: one gzip member
per record (decompressed, edited, recompressed) or the plain bytes of one record, so the layout of
the untouched records is known exactly.

Sizes: the "100 MB payload" of issue 8 is streamed into a gzip file without holding it in memory,
but only in nightly mode (`APERTURA_FUZZ_EXAMPLES` set); the default suite uses 12 MB, which is
already above the default `max_payload_bytes` (10 MiB) and so takes the same `read_too_large` path.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import random
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from pipeline.synthetic import make_page
from tests.helpers.warcs import Page, record_spans, write_warc

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures"
ELIGIBLE = frozenset({"response", "resource", "conversion"})


def nightly_examples() -> int | None:
    """`APERTURA_FUZZ_EXAMPLES` as an int (nightly `make fuzz`), None in the default (fast) suite."""
    value = os.environ.get("APERTURA_FUZZ_EXAMPLES", "").strip()
    return int(value) if value else None


def scaled(default: int, nightly_factor: int = 10) -> int:
    """A count for the default suite, multiplied in nightly mode."""
    return default * nightly_factor if nightly_examples() else default


BIG_PAYLOAD_BYTES = (100 if nightly_examples() else 12) * 1024 * 1024


@dataclass(frozen=True)
class Span:
    offset: int
    end: int  # offset of the next record, or the end of the file
    rtype: str

    @property
    def eligible(self) -> bool:
        return self.rtype in ELIGIBLE


@dataclass(frozen=True)
class Base:
    """A valid input: its bytes, extension and the records warcio sees in it."""

    name: str
    data: bytes
    suffix: str
    spans: tuple[Span, ...]

    @property
    def gz(self) -> bool:
        return self.data[:2] == b"\x1f\x8b"

    def chunks(self) -> list[bytes]:
        return [self.data[s.offset : s.end] for s in self.spans]


@dataclass(frozen=True)
class Variant:
    """One corrupt input. `damage` is the byte range that differs from a valid file (None: nothing
    is damaged, only unusual); `records` are the base's records as laid out in this variant (for
    records after a truncation, whatever is left of them)."""

    name: str
    family: str
    data: bytes
    suffix: str
    records: tuple[Span, ...]
    damage: tuple[int, int] | None
    note: str = ""

    def write(self, directory: Path) -> Path:
        digest = hashlib.sha1(self.data).hexdigest()[:8]
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in self.name)[:80]
        path = Path(directory) / f"{safe}-{digest}{self.suffix}"
        path.write_bytes(self.data)
        return path

    def intact_before_damage(self) -> list[Span]:
        """Eligible records that end before the damage starts: they must come out unharmed."""
        start = len(self.data) if self.damage is None else self.damage[0]
        return [s for s in self.records if s.eligible and s.end <= start]


# ---------------------------------------------------------------------------------------------
# Valid inputs


def sample_pages(host: str = "hard.test", n: int = 4) -> list[Page]:
    """Pages that survive the pipeline (real sentences), plus the site's policy files as records."""
    pages = [
        Page(f"http://{host}/robots.txt", "User-agent: *\nDisallow: /private/\n", content_type="text/plain"),
        Page(
            f"http://{host}/.well-known/tdmrep.json",
            '[{"location": "/reserved/*", "tdm-reservation": 1}]',
            content_type="application/json",
        ),
        Page(f"http://{host}/ai.txt", "User-agent: *\nDisallow: *.pdf\n", content_type="text/plain"),
    ]
    for i in range(n):
        url = f"http://{host}/{'private/' if i == 1 else ''}page/{i}"
        pages.append(Page(url, make_page(i, url, ("en", "de", "fr")[i % 3]).html()))
    return pages


def spans_of(data: bytes, path: Path) -> tuple[Span, ...]:
    raw = record_spans(path)
    offsets = [o for o, _, _ in raw]
    ends = [*offsets[1:], len(data)]
    return tuple(Span(o, e, t) for (o, _, t), e in zip(raw, ends, strict=True))


def base_warcs(directory: Path, *, fixtures: bool = True) -> list[Base]:
    """Valid WARCs written here (gzip and plain) and, when present, the valid shared fixtures."""
    directory = Path(directory)
    out = []
    for name, gz in (("pages.warc.gz", True), ("pages.warc", False)):
        path = directory / f"base-{name}"
        write_warc(path, sample_pages(), gzip=gz)
        data = path.read_bytes()
        out.append(Base(name, data, ".warc.gz" if gz else ".warc", spans_of(data, path)))
    if fixtures:
        for rel in fixture_warc_names():
            path = FIXTURES / "warc" / rel
            if path.is_file():
                data = path.read_bytes()
                suffix = (
                    ".arc.gz"
                    if rel.endswith(".arc.gz")
                    else ".arc"
                    if rel.endswith(".arc")
                    else (".warc.gz" if rel.endswith(".gz") else ".warc")
                )
                out.append(Base(rel.replace("/", "_"), data, suffix, spans_of(data, path)))
    return out


def fixture_warc_names() -> list[str]:
    """The valid shared fixtures used as bases (see /work/shared/fixtures/README.md)."""
    return [
        "jwarc-cc.warc.gz",
        "warcio/example.warc",
        "warcio/example.warc.gz",
        "warcio/example-iana.org-chunked.warc",
        "warcio/example-resource.warc.gz",
        "warcio/example.arc.gz",
        "warcio/example.arc",
    ]


def fixtures_present() -> bool:
    return (FIXTURES / "warc").is_dir()


# ---------------------------------------------------------------------------------------------
# Record-chunk surgery


def _gunzip(member: bytes) -> bytes:
    return zlib.decompressobj(31).decompress(member)


def _gzip(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def _assemble(
    base: Base, chunks: list[bytes], edited: int | None, name: str, family: str, note: str = "", damaged: bool = True
) -> Variant:
    """A variant from the base's record chunks (one replaced); records laid out at their new offsets."""
    records, pos = [], 0
    damage = None
    for i, (span, chunk) in enumerate(zip(base.spans, chunks, strict=True)):
        records.append(Span(pos, pos + len(chunk), span.rtype))
        if i == edited and damaged:
            damage = (pos, pos + max(1, len(chunk)))
        pos += len(chunk)
    return Variant(name, family, b"".join(chunks), base.suffix, tuple(records), damage, note)


def edit_record(base: Base, index: int, edit, name: str, family: str, note: str = "", damaged: bool = True) -> Variant:
    """Apply `edit(plain record bytes) -> bytes` to record `index` (gunzip/gzip around it for gzip bases)."""
    chunks = base.chunks()
    plain = _gunzip(chunks[index]) if base.gz else chunks[index]
    new = edit(plain)
    chunks[index] = _gzip(new) if base.gz else new
    return _assemble(base, chunks, index, name, family, note, damaged)


def _split_record(plain: bytes) -> tuple[bytes, bytes]:
    """(WARC header block including its blank line, the rest)."""
    end = plain.find(b"\r\n\r\n")
    if end < 0:
        end = plain.find(b"\n\n")
        return (plain, b"") if end < 0 else (plain[: end + 2], plain[end + 2 :])
    return plain[: end + 4], plain[end + 4 :]


def set_header(plain: bytes, name: bytes, value: bytes | None, *, duplicate: bytes | None = None) -> bytes:
    """Replace (value), remove (None) a WARC header, or add a second one (`duplicate`)."""
    head, rest = _split_record(plain)
    lines = head.split(b"\r\n")
    out, found = [], False
    for line in lines:
        if line.lower().startswith(name.lower() + b":"):
            found = True
            if duplicate is not None:
                out += [line, name + b": " + duplicate]
            elif value is not None:
                out.append(name + b": " + value)
            continue
        out.append(line)
    if not found and value is not None:
        out.insert(1, name + b": " + value)
    return b"\r\n".join(out) + rest


def _content_length(plain: bytes) -> int:
    head, _ = _split_record(plain)
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return int(line.split(b":", 1)[1])
    return 0


# ---------------------------------------------------------------------------------------------
# WARC variants


def truncations(base: Base, rng: random.Random, per_record: int = 6) -> Iterator[Variant]:
    """The file cut at offsets inside every record: its first bytes, its header, its payload, its end."""
    seen: set[int] = set()
    for span in base.spans:
        length = span.end - span.offset
        if base.gz:
            picks = [0, 1, 2, 9, 10, 11, length // 4, length // 2, length - 8, length - 4, length - 1]
        else:
            chunk = base.data[span.offset : span.end]
            head_end = chunk.find(b"\r\n\r\n") + 4
            http_end = chunk.find(b"\r\n\r\n", head_end) + 4
            picks = [
                0,
                1,
                5,
                head_end // 2,
                head_end - 1,
                head_end,
                head_end + 1,
                http_end - 2,
                http_end,
                (http_end + length) // 2,
                length - 4,
                length - 1,
            ]
        picks = sorted({p for p in picks if 0 <= p < length})
        if len(picks) > per_record:
            picks = sorted(rng.sample(picks, per_record))
        for p in picks:
            cut = span.offset + p
            if cut in seen:
                continue
            seen.add(cut)
            records = tuple(s for s in base.spans if s.offset < cut)  # the last one may be cut short
            yield Variant(f"{base.name}:cut@{cut}", "truncate", base.data[:cut], base.suffix, records, (cut, cut + 1))


def bit_flips(base: Base, rng: random.Random, n: int) -> Iterator[Variant]:
    """One flipped bit each, half of them in the first 400 bytes of a record (its headers)."""
    for i in range(n):
        if i % 2 and base.spans:
            span = rng.choice(base.spans)
            pos = rng.randrange(span.offset, min(span.end, span.offset + 400))
        else:
            pos = rng.randrange(len(base.data))
        bit = rng.randrange(8)
        data = bytearray(base.data)
        data[pos] ^= 1 << bit
        yield Variant(f"{base.name}:flip@{pos}.{bit}", "bitflip", bytes(data), base.suffix, base.spans, (pos, pos + 1))


def _eligible_index(base: Base, k: int = 0) -> int | None:
    idx = [i for i, s in enumerate(base.spans) if s.eligible]
    return idx[k % len(idx)] if idx else None


def content_lengths(base: Base) -> Iterator[Variant]:
    """Content-Length of an eligible record: off by one either way, far too long, zero, junk, missing, twice."""
    i = _eligible_index(base, 1)
    if i is None or base.suffix.startswith(".arc"):
        return
    declared = _content_length(base.chunks()[i] if not base.gz else _gunzip(base.chunks()[i]))
    values = {
        "plus1": str(declared + 1).encode(),
        "minus1": str(declared - 1).encode(),
        "plus1000": str(declared + 1000).encode(),
        "half": str(declared // 2).encode(),
        "zero": b"0",
        "negative": b"-5",
        "junk": b"12abc",
        "empty": b"",
        "huge": b"99999999999999999999",
        "unicode-digits": "\u0661\u0662".encode(),
    }
    for label, value in values.items():
        yield edit_record(
            base, i, lambda p, v=value: set_header(p, b"Content-Length", v), f"{base.name}:cl-{label}", "content_length"
        )
    yield edit_record(
        base, i, lambda p: set_header(p, b"Content-Length", None), f"{base.name}:cl-missing", "content_length"
    )
    yield edit_record(
        base,
        i,
        lambda p: set_header(p, b"Content-Length", None, duplicate=b"3"),
        f"{base.name}:cl-twice",
        "content_length",
    )


MANDATORY = (b"WARC-Type", b"WARC-Record-ID", b"WARC-Date", b"Content-Length")


def header_damage(base: Base) -> Iterator[Variant]:
    """Mandatory WARC headers removed, a bad version line, odd but legal forms, a huge header line."""
    i = _eligible_index(base)
    if i is None or base.suffix.startswith(".arc"):
        return
    for name in (*MANDATORY, b"WARC-Target-URI", b"WARC-Payload-Digest", b"Content-Type"):
        damaged = name in MANDATORY
        yield edit_record(
            base,
            i,
            lambda p, n=name: set_header(p, n, None),
            f"{base.name}:no-{name.decode()}",
            "headers",
            damaged=damaged,
        )

    def first_line(new: bytes):
        return lambda p: new + p[p.index(b"\r\n") :]

    yield edit_record(base, i, first_line(b"WARC/9.9"), f"{base.name}:version-9.9", "headers")
    yield edit_record(base, i, first_line(b"HTTP/1.1 200 OK"), f"{base.name}:version-http", "headers")
    yield edit_record(base, i, lambda p: p[p.index(b"\r\n") + 2 :], f"{base.name}:no-version-line", "headers")
    yield edit_record(
        base, i, lambda p: set_header(p, b"WARC-Type", b"RESPONSE"), f"{base.name}:type-upper", "headers", damaged=False
    )
    yield edit_record(base, i, lambda p: set_header(p, b"WARC-Type", b"bogus"), f"{base.name}:type-bogus", "headers")
    yield edit_record(
        base,
        i,
        lambda p: set_header(p, b"X-Long", b"x" * 200_000),
        f"{base.name}:long-header",
        "headers",
        note="over fastwarc's header size limit: reading stops at this record, and read_stopped says so",
    )
    yield edit_record(
        base,
        i,
        lambda p: set_header(p, b"X-Long", b"x" * 8_000),
        f"{base.name}:8k-header",
        "headers",
        damaged=False,
    )
    yield edit_record(
        base,
        i,
        lambda p: set_header(p, b"X-Nul", b"a\x00b\xff\xfe"),
        f"{base.name}:nul-header",
        "headers",
        damaged=False,
    )
    yield edit_record(
        base,
        i,
        lambda p: set_header(p, b"WARC-Date", b"0001-01-01T00:00:00+01:00"),
        f"{base.name}:date-overflow",
        "headers",
        damaged=False,
    )
    yield edit_record(
        base, i, lambda p: set_header(p, b"WARC-Date", b"yesterday"), f"{base.name}:date-junk", "headers", damaged=False
    )
    yield edit_record(
        base,
        i,
        lambda p: set_header(p, b"WARC-Target-URI", b"http://[::1/x y"),
        f"{base.name}:uri-invalid",
        "headers",
        damaged=False,
    )
    yield edit_record(
        base,
        i,
        lambda p: set_header(p, b"WARC-Payload-Digest", b"sha1:!!!"),
        f"{base.name}:digest-junk",
        "headers",
        damaged=False,
    )
    yield edit_record(
        base,
        i,
        lambda p: set_header(p, b"WARC-Payload-Digest", b"sha1:" + b"A" * 32),
        f"{base.name}:digest-wrong",
        "headers",
        damaged=False,
    )

    def no_colon(p: bytes) -> bytes:
        head, rest = _split_record(p)
        return head[:-2] + b"this line has no colon\r\n\r\n" + rest

    yield edit_record(base, i, no_colon, f"{base.name}:line-without-colon", "headers")

    def lf_only(p: bytes) -> bytes:
        head, rest = _split_record(p)
        return head.replace(b"\r\n", b"\n") + rest

    yield edit_record(base, i, lf_only, f"{base.name}:lf-only-header", "headers")


def gzip_damage(base: Base) -> Iterator[Variant]:
    """Broken gzip members and odd concatenations (gzip bases only)."""
    if not base.gz or len(base.spans) < 2:
        return
    chunks = base.chunks()
    k = _eligible_index(base) or 0

    def variant(label: str, new_chunks: list[bytes], edited: int | None, damaged: bool = True, note: str = ""):
        return _assemble(base, new_chunks, edited, f"{base.name}:{label}", "gzip", note, damaged)

    c = list(chunks)
    c[k] = c[k][:-8] + bytes(b ^ 0xFF for b in c[k][-8:-4]) + c[k][-4:]
    yield variant("bad-crc", c, k)
    c = list(chunks)
    c[k] = c[k][:-4] + b"\x00\x00\x00\x00"
    yield variant("bad-isize", c, k)
    c = list(chunks)
    mid = len(c[k]) // 2
    c[k] = c[k][:mid] + bytes(16) + c[k][mid + 16 :]
    yield variant("zeroed-deflate", c, k)
    c = list(chunks)
    c[k] = c[k][: len(c[k]) // 2]
    yield variant("member-cut-then-more", c, k)
    c = list(chunks)
    c[k] = b"\x1f\x8b\x08\x00" + c[k][4:10] + c[k][10:]  # same member, header rewritten as written
    yield variant("identity", c, k, damaged=False)
    c = list(chunks)
    c.insert(k, _gzip(b""))
    merged = _assemble(base, [*chunks[:k], c[k] + c[k + 1], *chunks[k + 1 :]], None, "", "gzip")
    # an empty member joins the record after it: warcio reports that record at the empty member's offset
    yield Variant(f"{base.name}:empty-member", "gzip", b"".join(c), base.suffix, merged.records, None)
    c = list(chunks)
    c.insert(k, b"garbage between members\r\n")
    yield _assemble(
        Base(base.name, b"".join(c), base.suffix, (*base.spans[:k], Span(0, 0, "-"), *base.spans[k:])),
        c,
        k,
        f"{base.name}:garbage-between",
        "gzip",
    )
    yield Variant(
        f"{base.name}:trailing-garbage",
        "gzip",
        base.data + b"\x00junk\xff" * 10,
        base.suffix,
        base.spans,
        (len(base.data), len(base.data) + 60),
    )
    yield Variant(
        f"{base.name}:leading-garbage",
        "gzip",
        b"JUNK" + base.data,
        base.suffix,
        tuple(Span(s.offset + 4, s.end + 4, s.rtype) for s in base.spans),
        (0, 4),
    )
    whole = _gzip(b"".join(_gunzip(m) for m in chunks))
    yield Variant(
        f"{base.name}:non-chunked", "gzip", whole, base.suffix, (Span(0, len(whole), "whole"),), (0, len(whole))
    )
    pairs = [
        _gzip(_gunzip(chunks[j]) + (_gunzip(chunks[j + 1]) if j + 1 < len(chunks) else b""))
        for j in range(0, len(chunks), 2)
    ]
    yield Variant(
        f"{base.name}:two-per-member",
        "gzip",
        b"".join(pairs),
        base.suffix,
        (Span(0, len(pairs[0]), base.spans[0].rtype),),
        (len(pairs[0]), len(pairs[0]) + 1),
    )
    plain = _gunzip(chunks[k])
    half = len(plain) // 2
    c = list(chunks)
    c[k] = _gzip(plain[:half]) + _gzip(plain[half:])
    yield variant("record-split-over-members", c, k)
    c = list(chunks)
    c[k] = zlib.compress(plain)
    yield variant("zlib-not-gzip", c, k)
    c = list(chunks)
    c[k] = plain
    yield variant("plain-record-among-members", c, k)
    yield Variant(
        f"{base.name}:concatenated-twice",
        "gzip",
        base.data + base.data,
        base.suffix,
        (*base.spans, *(Span(s.offset + len(base.data), s.end + len(base.data), s.rtype) for s in base.spans)),
        None,
    )
    # gzip header with FNAME and FCOMMENT set (legal, unusual)
    c = list(chunks)
    body = c[k][10:]
    c[k] = b"\x1f\x8b\x08\x18" + c[k][4:10] + b"name.warc\x00comment\x00" + body
    yield variant("fname-fcomment", c, k, damaged=False)
    # gzip member that claims FEXTRA with a length running past the member
    c = list(chunks)
    c[k] = b"\x1f\x8b\x08\x04" + c[k][4:10] + b"\xff\xff" + c[k][10:]
    yield variant("bad-fextra", c, k)


def _page_variants() -> list[tuple[str, Page, str]]:
    """(label, page, expected fate hint) for payload and charset oddities."""
    text = make_page(7, "http://hard.test/x", "de").html()
    rng = random.Random(5)
    return [
        ("latin1-labelled-utf8", Page("http://hard.test/latin1", text.encode("latin-1", "replace")), ""),
        ("utf16-unlabelled", Page("http://hard.test/utf16", text.encode("utf-16"), content_type="text/html"), ""),
        ("utf16-labelled-utf8", Page("http://hard.test/utf16b", text.encode("utf-16-le")), ""),
        (
            "sjis-labelled-latin1",
            Page(
                "http://hard.test/sjis",
                "<p>日本語のテキストです。</p>".encode("shift_jis"),
                content_type="text/html; charset=iso-8859-1",
            ),
            "",
        ),
        ("unknown-charset", Page("http://hard.test/unk", text, content_type="text/html; charset=x-klingon"), ""),
        ("nul-in-charset", Page("http://hard.test/nulcs", text, content_type="text/html; charset=utf-8\x00"), ""),
        ("empty-charset", Page("http://hard.test/emp", text, content_type='text/html; charset=""'), ""),
        ("junk-content-type", Page("http://hard.test/junk", text, content_type=";;;=\x7f; charset==="), ""),
        (
            "invalid-utf8",
            Page("http://hard.test/inv", b"<p>" + b"\xc3\x28\xa0\xa1\xed\xa0\x80\xf8\x88" * 50 + b"</p>"),
            "",
        ),
        ("meta-conflict", Page("http://hard.test/meta", text.replace('charset="utf-8"', 'charset="utf-32"')), ""),
        ("ebcdic", Page("http://hard.test/ebc", text.encode("cp500"), content_type="text/html; charset=cp500"), ""),
        ("zero-length", Page("http://hard.test/zero", b""), "read_empty"),
        ("zero-length-resource", Page("http://hard.test/zr", b"", record_type="resource"), ""),
        ("binary-as-html", Page("http://hard.test/bin", rng.randbytes(20_000), content_type="text/html"), ""),
        (
            "png-as-html",
            Page("http://hard.test/png", b"\x89PNG\r\n\x1a\n" + rng.randbytes(5000), content_type="text/html"),
            "",
        ),
        ("gzip-without-encoding", Page("http://hard.test/gz", _gzip(text.encode())), ""),
        (
            "bad-content-encoding",
            Page("http://hard.test/ce", b"not gzip at all", extra_headers=(("Content-Encoding", "gzip"),)),
            "read_bad_encoding",
        ),
        (
            "unknown-content-encoding",
            Page("http://hard.test/ce2", text, extra_headers=(("Content-Encoding", "rot13"),)),
            "read_bad_encoding",
        ),
        ("br-junk", Page("http://hard.test/br", b"\xff" * 100, extra_headers=(("Content-Encoding", "br"),)), ""),
        (
            "gzip-bomb",
            Page("http://hard.test/bomb", _bomb(64 * 1024 * 1024), extra_headers=(("Content-Encoding", "gzip"),)),
            "read_too_large",
        ),
        (
            "chunked-negative",
            Page("http://hard.test/ch1", b"-4\n\n", extra_headers=(("Transfer-Encoding", "chunked"),)),
            "",
        ),
        (
            "chunked-huge-size",
            Page(
                "http://hard.test/ch2",
                b"ffffffffffffffff\r\nabc\r\n0\r\n\r\n",
                extra_headers=(("Transfer-Encoding", "chunked"),),
            ),
            "",
        ),
        (
            "chunked-junk",
            Page("http://hard.test/ch3", b"zz\r\n" + text.encode(), extra_headers=(("Transfer-Encoding", "chunked"),)),
            "",
        ),
        ("status-999", Page("http://hard.test/s999", text, status=999), ""),
        ("nul-html", Page("http://hard.test/nul", "\x00" * 1000), ""),
    ]


def _bomb(size: int) -> bytes:
    """`size` zero bytes, gzip-compressed (about 1/1000 of the size)."""
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = bytes(1 << 20)
    parts = [comp.compress(block) for _ in range(size >> 20)]
    parts.append(comp.flush())
    return b"".join(parts)


def payload_variants(directory: Path) -> Iterator[Variant]:
    """One WARC per odd payload (charsets, empty, binary, encodings, chunking), each after a normal page."""
    normal = sample_pages(n=1)[-1]
    for label, page, _ in _page_variants():
        page = replace(page, url=f"http://hard.test/odd/{label}")
        path = Path(directory) / f"payload-{label}.warc.gz"
        write_warc(path, [normal, page])
        data = path.read_bytes()
        yield Variant(f"payload:{label}", "payload", data, ".warc.gz", spans_of(data, path), None)


def write_big_payload_warc(path: Path, size: int = BIG_PAYLOAD_BYTES, gz: bool = True) -> None:
    """A WARC with one normal page and one `size`-byte HTML response, streamed (never all in memory)."""
    normal = sample_pages(n=1)[-1]
    write_warc(path, [normal], gzip=gz, with_requests=False)
    http_head = f"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {size}\r\n\r\n".encode()
    block = len(http_head) + size
    head = (
        "WARC/1.0\r\nWARC-Type: response\r\nWARC-Record-ID: <urn:uuid:00000000-0000-0000-0000-000000000100>\r\n"
        "WARC-Date: 2025-01-02T03:04:05Z\r\nWARC-Target-URI: http://hard.test/big\r\n"
        f"Content-Type: application/http; msgtype=response\r\nContent-Length: {block}\r\n\r\n"
    ).encode()
    line = b"<p>" + b"big page text " * 70 + b"</p>\n"
    with open(path, "ab") as raw:
        out = gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, compresslevel=1) if gz else raw
        out.write(head + http_head)
        left = size
        chunk = line * (65536 // len(line))
        while left > 0:
            piece = chunk[: min(len(chunk), left)]
            out.write(piece)
            left -= len(piece)
        out.write(b"\r\n\r\n")
        if gz:
            out.close()


def warc_variants(base: Base, rng: random.Random, *, flips: int = 8, per_record: int = 4) -> Iterator[Variant]:
    """Every damage family for one base."""
    yield from truncations(base, rng, per_record)
    yield from bit_flips(base, rng, flips)
    yield from content_lengths(base)
    yield from header_damage(base)
    yield from gzip_damage(base)


# ---------------------------------------------------------------------------------------------
# Policy files


ROBOTS_OK = b"User-agent: GPTBot\nDisallow: /private/\n\nUser-agent: *\nAllow: /\nContent-Usage: train-ai=n\n"


def robots_variants(big: int = 10 * 1024 * 1024) -> dict[str, bytes]:
    """Hostile robots.txt (and ai.txt) bodies: HTML, binary, 10 MB, BOM, CR-only, and more."""
    rng = random.Random(9)
    line = b"Disallow: /" + b"a*" * 40 + b"$\n"
    return {
        "valid": ROBOTS_OK,
        "html": b"<!DOCTYPE html><html><body><h1>Not found</h1></body></html>",
        "html-after-bom": b"\xef\xbb\xbf  <html><head></head></html>",
        "binary": rng.randbytes(4096),
        "png": b"\x89PNG\r\n\x1a\n" + rng.randbytes(2000),
        "ten-megabytes": (ROBOTS_OK + line * 1000) * (big // (len(ROBOTS_OK) + len(line) * 1000) + 1),
        "one-line-ten-megabytes": b"Disallow: /" + b"x" * big,
        "bom": b"\xef\xbb\xbf" + ROBOTS_OK,
        "double-bom": b"\xef\xbb\xbf\xef\xbb\xbf" + ROBOTS_OK,
        "utf16-bom": ROBOTS_OK.decode().encode("utf-16"),
        "cr-only": ROBOTS_OK.replace(b"\n", b"\r"),
        "crlf": ROBOTS_OK.replace(b"\n", b"\r\n"),
        "nul-bytes": ROBOTS_OK.replace(b"\n", b"\x00\n"),
        "invalid-utf8": b"User-agent: \xff\xfe\nDisallow: /\xc3\x28\n",
        "latin1-path": b"User-agent: *\nDisallow: /caf\xe9\n",
        "empty": b"",
        "only-whitespace": b" \t\r\n" * 1000,
        "no-user-agent": b"Disallow: /\nAllow: /x\n",
        "many-groups": b"".join(b"User-agent: bot%d\nDisallow: /%d\n" % (i, i) for i in range(20_000)),
        "many-stars": b"User-agent: *\nDisallow: /" + b"*" * 5000 + b"x$\n",
        "star-runs": b"User-agent: *\n" + b"".join(b"Disallow: /" + b"*a" * 200 + b"\n" for _ in range(200)),
        "percent-junk": b"User-agent: *\nDisallow: /%zz%\nDisallow: /%E2%82\nAllow: /%\n",
        "content-usage-junk": b"User-agent: *\nContent-Usage: ,,,=;;==n\nContent-Signal: ai-train=\n",
        "colons": b"User-agent::::\n:::\nDisallow::/:\n",
        "truncated": ROBOTS_OK[: len(ROBOTS_OK) // 2],
    }


TDMREP_OK = b'[{"location": "/reserved/*", "tdm-reservation": 1, "tdm-policy": "https://e.test/policy.json"}]'


def tdmrep_variants() -> dict[str, bytes]:
    """Hostile tdmrep.json bodies: truncated, the wrong type, huge, nested, mistyped entries."""
    return {
        "valid": TDMREP_OK,
        "truncated": TDMREP_OK[: len(TDMREP_OK) // 2],
        "truncated-1": TDMREP_OK[:-1],
        "empty": b"",
        "object": b'{"location": "/", "tdm-reservation": 1}',
        "string": b'"tdm-reservation"',
        "number": b"1",
        "null": b"null",
        "true": b"true",
        "list-of-lists": b"[[1, 2], [3]]",
        "location-number": b'[{"location": 5, "tdm-reservation": 1}]',
        "reservation-bool": b'[{"location": "/", "tdm-reservation": true}]',
        "reservation-2": b'[{"location": "/", "tdm-reservation": 2}]',
        "reservation-float": b'[{"location": "/", "tdm-reservation": 1.0}]',
        "policy-number": b'[{"location": "/", "tdm-reservation": 1, "tdm-policy": 7}]',
        "huge": b"[" + b",".join([b'{"location": "/x", "tdm-reservation": 0}'] * 60_000) + b"]",
        "huge-but-small-enough": b"[" + b",".join([b'{"location": "/*a*a*a", "tdm-reservation": 0}'] * 9_000) + b"]",
        "deep-nesting": b"[" * 100_000 + b"]" * 100_000,
        "huge-int": b'[{"location": "/", "tdm-reservation": ' + b"9" * 5000 + b"}]",
        "bom": b"\xef\xbb\xbf" + TDMREP_OK,
        "utf16": TDMREP_OK.decode().encode("utf-16"),
        "invalid-utf8": b'[{"location": "/\xff", "tdm-reservation": 1}]',
        "html": b"<html><body>404</body></html>",
        "nan": b'[{"location": "/", "tdm-reservation": NaN}]',
        "location-stars": b'[{"location": "' + b"*" * 5000 + b'", "tdm-reservation": 1}]',
        "surrogate-escape": b'[{"location": "/\\ud800", "tdm-reservation": 1}]',
    }


def policy_warc(path: Path, sites: list[tuple[str, bytes, bytes, bytes]]) -> Path:
    """A crawl-like WARC: per (host, robots.txt, tdmrep.json, ai.txt bodies) the three policy files, then
    three pages of that host (one under /private/, one under /reserved/)."""
    pages = []
    for host, robots_body, tdmrep_body, ai_body in sites:
        pages += [
            Page(f"http://{host}/robots.txt", robots_body, content_type="text/plain"),
            Page(f"http://{host}/.well-known/tdmrep.json", tdmrep_body, content_type="application/json"),
            Page(f"http://{host}/ai.txt", ai_body, content_type="text/plain"),
        ]
        for i, sub in enumerate(("", "private/", "reserved/")):
            url = f"http://{host}/{sub}page/{i}"
            pages.append(Page(url, make_page(i + 20, url, "en").html()))
    write_warc(path, pages, with_requests=False)
    return path

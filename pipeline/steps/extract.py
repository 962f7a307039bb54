"""Stage `extract`: HTTP payload bytes -> decoded HTML -> main text and title.

Decoding tries, in order, the HTTP charset, a `<meta charset>` in the first 4 KiB, strict UTF-8,
then charset-normalizer's detection; a payload that none of these decode (or that is binary) goes
to the ledger. Extraction is per-row Python because the extractors are (trafilatura favours
precision, as FineWeb does; resiliparse is ~10x faster). Rows that already carry text (WET,
Parquet, JSONL) pass through untouched.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable
from importlib.metadata import version

import charset_normalizer
import polars as pl

from pipeline.config import ExtractConfig
from pipeline.steps.base import DETAIL, REASON, Step

_CHARSET_VALUE = re.compile(rb"""charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]{1,40})""", re.I)
META_CHARSET_REACH = 200  # `charset` must start within this many bytes after `<meta` (and before its `>`)
_BINARY_NUL_SHARE = 0.01  # text never has NULs; >1% means an image/PDF served as text/html
# A byte-order mark decides the encoding before any label (WHATWG "decode"); UTF-16 text is half NULs, so
# it must be recognised before the binary check.
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))

Extractor = Callable[[str], tuple[str | None, str | None]]


class Undecodable(ValueError):
    pass


def _codec(name: str | None) -> str | None:
    try:
        return codecs.lookup(name).name if name else None
    except (LookupError, ValueError):  # ValueError: a NUL or other junk in the declared name
        return None


def decode_payload(payload: bytes, http_charset: str | None) -> tuple[str, str]:
    """Return (text, charset used). Raises Undecodable for binary or undecodable payloads.

    Order: a byte-order mark; else a UTF-16 charset the server declared; else (unless the payload is
    binary) the HTTP charset, the <meta> charset, UTF-8, then charset detection.
    """
    declared = _codec(http_charset)
    bom = next((charset for mark, charset in _BOMS if payload.startswith(mark)), None)
    for charset in filter(None, (bom, declared if declared and declared.startswith("utf-16") else None)):
        try:
            return payload.decode(charset), codecs.lookup(charset).name.removesuffix("-sig")
        except UnicodeDecodeError:
            continue
    if payload.count(b"\x00") > _BINARY_NUL_SHARE * len(payload):
        raise Undecodable("binary payload (NUL bytes)")
    meta = meta_charset(payload[:4096])
    candidates = [declared, _codec(meta) if meta else None, "utf-8"]
    for charset in dict.fromkeys(c for c in candidates if c):
        try:
            return payload.decode(charset), charset
        except (UnicodeDecodeError, LookupError):
            continue
    best = charset_normalizer.from_bytes(payload).best()
    if best is None:
        raise Undecodable("no charset decodes the payload")
    return str(best), _codec(best.encoding) or best.encoding


def meta_charset(head: bytes) -> str | None:
    """The charset a `<meta ... charset=...>` declares: the first `<meta` with `charset` within
    META_CHARSET_REACH bytes after it and no `>` in between. Each `<meta` looks at a window of that size only,
    so the scan is linear (the regex `<meta[^>]{0,200}?charset` it replaces retried 200 bytes per `<meta`)."""
    low = head.lower()
    start = low.find(b"<meta")
    tried = -1  # `charset` occurrences up to here had no value: they fail for every `<meta`
    while start >= 0:
        at = low.find(b"charset", max(start + 5, tried + 1))
        if at < 0:
            return None
        if at - (start + 5) > META_CHARSET_REACH:  # out of reach: on to the first `<meta` that can reach it
            start = low.find(b"<meta", at - 5 - META_CHARSET_REACH)
        elif low.find(b">", start + 5, at) >= 0:  # this tag ended before it
            start = low.find(b"<meta", start + 5)
        elif m := _CHARSET_VALUE.match(head, at):
            return m.group(1).decode("ascii")
        else:
            tried = at
    return None


def _trafilatura(cfg: ExtractConfig) -> Extractor:
    from trafilatura import bare_extraction
    from trafilatura.utils import load_html

    def run(html: str) -> tuple[str | None, str | None]:
        # The title is read from <title> before extraction prunes the tree: trafilatura's metadata pass
        # (dates, authors, sitenames) cost 2-3x the extraction itself just to give us a title.
        tree = load_html(html)
        if tree is None:
            return None, None
        title = None
        if cfg.keep_title:
            node = tree.find(".//title")
            title = " ".join(node.text_content().split()) or None if node is not None else None
        doc = bare_extraction(tree, favor_precision=cfg.favor_precision, with_metadata=False)
        return (doc.text, title) if doc is not None else (None, title)

    return run


def _resiliparse(cfg: ExtractConfig) -> Extractor:
    from resiliparse.extract.html2text import extract_plain_text
    from resiliparse.parse.html import HTMLTree

    def run(html: str) -> tuple[str | None, str | None]:
        tree = HTMLTree.parse(html)
        return extract_plain_text(tree, main_content=True), (tree.title or None) if cfg.keep_title else None

    return run


MAX_NESTING = 2_000  # real pages nest < 100 deep; main-content extraction is quadratic in depth (a hostile page)
_TAGS_WORTH_CHECKING = 4_000  # pages with fewer tags cannot nest deeper than MAX_NESTING: no scan
_TAG_START = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9]*)")  # a tag runs from here to the first '>' after its name
_VOID = frozenset(
    ["area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track", "wbr"]
)


def nesting_depth(html: str) -> int:
    """The deepest element nesting of a page (0 when it has too few tags to matter), by one linear scan.

    A tag is `<name` (or `</name`) up to the first `>` after it, `/>` closing it at once. The next `>` is looked
    up once and reused by every tag start before it, so a page of a million `<a ` without a `>` costs one pass,
    not one pass per tag (the regex this replaces searched for `>` again from every `<`: quadratic)."""
    if html.count("<") < _TAGS_WORTH_CHECKING:
        return 0
    depth = deepest = 0
    after = 0  # end of the last tag: a `<` inside a tag is part of it
    gt = -1  # position of the next `>` (at or after the current tag name)
    for m in _TAG_START.finditer(html):
        start, end = m.span()
        if start < after:
            continue
        if gt < end:
            gt = html.find(">", end)
            if gt < 0:  # no `>` left: no later `<` can close a tag either
                break
        closing, name = m.groups()
        if closing:
            depth = max(depth - 1, 0)
        elif not (gt > end and html[gt - 1] == "/") and name.lower() not in _VOID:
            depth += 1
            deepest = max(deepest, depth)
        after = gt + 1
    return deepest


_EXTRACTORS: dict[str, Callable[[ExtractConfig], Extractor]] = {
    "trafilatura": _trafilatura,
    "resiliparse": _resiliparse,
}


class ExtractStep(Step):
    stage = "extract"

    def __init__(self, config) -> None:
        super().__init__(config)
        name = config.extract.extractor
        self.extractor = _EXTRACTORS[name](config.extract)
        self.extractor_name = f"{name} {version(name)}"

    def _one(self, payload: bytes, http_charset: str | None, content_type: str | None) -> dict:
        try:
            html, charset = decode_payload(payload, http_charset)
        except Undecodable as err:
            return {"reason": "extract_undecodable", "detail": str(err)}
        if content_type == "text/plain":
            text, title = html, None
        elif (depth := nesting_depth(html)) > MAX_NESTING:
            detail = f"nesting depth {depth} > {MAX_NESTING}"
            return {"charset": charset, "reason": "extract_too_deep", "detail": detail}
        else:
            try:
                text, title = self.extractor(html)
            except Exception as err:  # the extractor's own parser gave up on this page
                return {"reason": "extract_failed", "detail": f"{type(err).__name__}: {err}"[:300]}
        text = (text or "").strip()
        if not text:
            return {"charset": charset, "title": title, "reason": "extract_no_text", "detail": "no main text"}
        return {"text": text, "title": title, "charset": charset}

    def annotate(self, batch: pl.DataFrame) -> pl.DataFrame:
        out_schema = {
            "text": pl.String,
            "title": pl.String,
            "charset": pl.String,
            "reason": pl.String,
            "detail": pl.String,
        }
        rows = [
            {"text": text} if payload is None else self._one(payload, charset, ctype)
            for payload, text, charset, ctype in zip(
                batch["payload"], batch["text"], batch["http_charset"], batch["content_type"], strict=True
            )
        ]
        extracted = pl.DataFrame(rows, schema=out_schema)
        extractor = pl.when(pl.col("payload").is_not_null()).then(pl.lit(self.extractor_name))
        return (
            batch.with_columns(extractor.alias("extractor"))
            .drop("payload", "text", "http_charset")
            .with_columns(
                extracted["text"],
                extracted["title"],
                extracted["charset"],
                extracted["reason"].alias(REASON),
                extracted["detail"].alias(DETAIL),
            )
        )

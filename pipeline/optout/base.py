"""The contract shared by every opt-out signal family: what was seen (`Evidence`) and what it decided."""

from __future__ import annotations

import hashlib
import html as _html
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

Headers = Mapping[str, str] | Iterable[tuple[str, str]]


@dataclass(frozen=True)
class Evidence:
    """One observed signal.

    Args:
        signal: signal family, e.g. 'robots', 'aipref', 'content-signal', 'tdmrep', 'noai', 'ai.txt'.
        where: URL of the file it came from (robots.txt, tdmrep.json, ai.txt), or 'http-header' / 'html-meta'.
        seen: the exact line, header value or meta tag that was seen.
        sha256: hex sha256 of the bytes it came from (whole file, header value, or HTML), None if no bytes.
        fetched_at: ISO 8601 time the bytes were fetched, as given by the caller.
    """

    signal: str
    where: str
    seen: str
    sha256: str | None = None
    fetched_at: str | None = None


@dataclass(frozen=True)
class Decision:
    """Allowed or reserved for one agent, with the exact rule that decided, e.g.
    "Disallow: /private/ (group 'GPTBot')"."""

    agent: str
    allowed: bool
    signal: str
    rule: str
    evidence: tuple[Evidence, ...] = ()


def sha256_hex(data: bytes | str) -> str:
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    return hashlib.sha256(data).hexdigest()


def header_values(headers: Headers | None, name: str) -> list[str]:
    """All values of header `name` (case-insensitive), from a mapping or a list of (name, value) pairs.

    A list keeps repeated headers; a comma-joined single value is returned as is (callers split).
    """
    if headers is None:
        return []
    items = headers.items() if isinstance(headers, Mapping) else headers
    lower = name.lower()
    return [str(v) for k, v in items if str(k).strip().lower() == lower]


HEAD_LIMIT = 512 * 1024  # meta tags are looked for in the first 512 KiB (or up to </head>)
_META_START = re.compile(r"<meta\b", re.IGNORECASE)
# The lookbehind and possessive quantifiers keep this linear: without them a long word in a tag is
# retried from every character (quadratic; a hostile page could stall the opt-out step).
_ATTR = re.compile(r"""(?<![-\w:.])([a-zA-Z_:][-\w:.]*+)\s*+=\s*+(?:"([^"]*)"|'([^']*)'|([^\s"'>]++))""")
_HEAD_END = re.compile(r"</head\s*>|<body[\s>]", re.IGNORECASE)


def html_meta(html: bytes | str | None) -> list[tuple[str, str, str]]:
    """(name lower-cased, content, the tag as written) for every `<meta name=... content=...>` in the head.

    A careful regex rather than a DOM parser: meta tags are flat, and this never raises on broken HTML.
    """
    if not html:
        return []
    text = html[:HEAD_LIMIT].decode("utf-8", "replace") if isinstance(html, bytes) else html[:HEAD_LIMIT]
    end = _HEAD_END.search(text)
    if end:
        text = text[: end.start()]
    out = []
    for tag in _meta_tags(text):
        attrs: dict[str, str] = {}
        for m in _ATTR.finditer(tag[5:]):
            attrs.setdefault(m.group(1).lower(), next(g for g in m.groups()[1:] if g is not None))
        if "name" in attrs and "content" in attrs:
            out.append((attrs["name"].strip().lower(), _html.unescape(attrs["content"]).strip(), tag))
    return out


def _meta_tags(text: str) -> Iterable[str]:
    """Every `<meta ...>` up to its first '>', in order; linear (a regex `<meta[^>]*>` is quadratic when
    a page holds many '<meta' and no '>')."""
    pos = 0
    while (start := _META_START.search(text, pos)) is not None:
        end = text.find(">", start.end())
        if end < 0:
            return
        yield text[start.start() : end + 1]
        pos = end + 1

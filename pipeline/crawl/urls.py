"""URLs as the crawler sees them: one canonical spelling per page, origins, scope, and `<a href>` links.

Canonical form (what the seen-set, the frontier and `WARC-Target-URI` hold): scheme and host
lower-cased, IDNA host in punycode, default port dropped, fragment dropped, dot segments removed
(RFC 3986 5.2.4), an empty path made `/`, percent escapes in the path upper-cased, and characters that may not
appear in a URL (spaces, non-ASCII) percent-encoded as UTF-8, as browsers send them. The query is
otherwise kept as it is: reordering parameters can change what a server returns.
"""

from __future__ import annotations

import contextlib
import re
from urllib.parse import quote, urljoin, urlsplit, urlunsplit

from tld import get_fld

DEFAULT_PORTS = {"http": 80, "https": 443}
_PCT = re.compile(r"%[0-9a-fA-F]{2}")
_SAFE = "!#$%&'()*+,/:;=?@[]~-._"  # RFC 3986 reserved + unreserved + '%': only other characters get encoded
_IP = re.compile(r"^(\d{1,3}(\.\d{1,3}){3}|\[[0-9a-fA-F:.]+\])$")


class BadUrl(ValueError):
    """A URL that cannot be crawled (not http(s), no host, bad port); the message is one line."""


def _remove_dot_segments(path: str) -> str:
    out: list[str] = []
    for seg in path.split("/")[1:] if path.startswith("/") else path.split("/"):
        if seg == "..":
            if out:
                out.pop()
        elif seg != ".":
            out.append(seg)
    last = path.rsplit("/", 1)[-1]
    tail = "/" if last in (".", "..") and out else ""
    return "/" + "/".join(out) + tail


def canonicalize(url: str, base: str | None = None) -> str:
    """The canonical form of `url` (resolved against `base` if given); BadUrl if it is not crawlable."""
    raw = url.strip()
    try:
        if base is not None:
            raw = urljoin(base, raw)
        parts = urlsplit(raw)
        port = parts.port
    except ValueError as e:
        raise BadUrl(f"{url!r}: {e}") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise BadUrl(f"{url!r}: not an http(s) URL")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise BadUrl(f"{url!r}: no host")
    try:
        host = host.encode("idna").decode("ascii") if not host.isascii() else host.lower()
    except UnicodeError as e:
        raise BadUrl(f"{url!r}: bad host ({e})") from None
    if ":" in host:
        host = f"[{host}]"  # IPv6 literal
    netloc = host if port is None or port == DEFAULT_PORTS[scheme] else f"{host}:{port}"
    path = _PCT.sub(lambda m: m.group(0).upper(), quote(parts.path, safe=_SAFE)) or "/"
    path = _remove_dot_segments(path)
    query = quote(parts.query, safe=_SAFE)
    return urlunsplit((scheme, netloc, path, query, ""))


def origin(url: str) -> str:
    """`scheme://host[:port]` of a canonical URL: the unit of robots.txt, politeness and workers."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return (parts.hostname or "", parts.port or DEFAULT_PORTS.get(parts.scheme, 0))


def site_of(url: str) -> str:
    """Registrable domain (public suffix list, offline via `tld`); the host itself for IPs and bare names."""
    host = urlsplit(url).hostname or ""
    if _IP.match(host) or "." not in host:
        return host
    return get_fld(host, fix_protocol=True, fail_silently=True) or host


class Scope:
    """Which URLs the crawl may follow, judged against the seeds.

    `same-host`: the host and port of a seed (http and https on their default ports count as the same
    host, so an upgrade redirect stays in scope; loopback test servers on different ports do not).
    `same-site`: the registrable domain of a seed (any port).
    """

    def __init__(self, mode: str, seeds: list[str]) -> None:
        self.mode = mode
        self.hosts = {self._host_key(s) for s in seeds}
        self.sites = {site_of(s) for s in seeds}

    @staticmethod
    def _host_key(url: str) -> tuple[str, int | None]:
        host, port = host_port(url)
        return (host, None if port in DEFAULT_PORTS.values() else port)

    def allows(self, url: str) -> bool:
        if self.mode == "same-site":
            return site_of(url) in self.sites
        return self._host_key(url) in self.hosts


def extract_links(body: bytes, base_url: str, charset: str | None = None) -> list[str]:
    """Canonical absolute URLs of `<a href>` in an HTML body (honouring `<base href>`), in page order.

    resiliparse parses broken HTML the way browsers do and is fast (NOTES.md: ~577 pages/s with
    extraction; link parsing alone is much faster). Non-http(s) links (mailto:, javascript:) and
    `rel=nofollow` links are dropped.
    """
    from resiliparse.parse.encoding import detect_encoding
    from resiliparse.parse.html import HTMLTree

    encoding = charset or detect_encoding(body[:65536])
    try:
        tree = HTMLTree.parse_from_bytes(body, encoding)
    except (LookupError, ValueError):
        tree = HTMLTree.parse_from_bytes(body, "utf-8")
    doc = tree.document
    if doc is None:
        return []
    base = base_url
    base_el = doc.query_selector("base[href]")
    if base_el is not None:
        with contextlib.suppress(BadUrl):
            base = canonicalize(base_el.getattr("href") or "", base_url)
    out: list[str] = []
    seen: set[str] = set()
    for el in doc.query_selector_all("a[href]"):
        rel = (el.getattr("rel") or "").lower().split()
        if "nofollow" in rel:
            continue
        try:
            url = canonicalize(el.getattr("href") or "", base)
        except BadUrl:
            continue
        if url not in seen:
            seen.add(url)
            out.append(url)
    return out

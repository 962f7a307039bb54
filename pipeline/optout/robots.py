"""robots.txt per RFC 9309, with the IETF aipref `Content-Usage` and Cloudflare `Content-Signal` group lines.

Our own parser (it must report the exact line that decided, and keep aipref lines, which protego
drops); the tests check every verdict against protego as an independent reference. RFC 9309 rules:
groups start at `user-agent` lines, all groups naming the agent are merged (2.2.1), agent tokens match
case-insensitively, a crawler with no group of its own uses the `*` groups, the longest matching path
wins and `Allow` wins a tie (2.2.2), `*` and `$` are special (2.2.3), `/robots.txt` is always allowed.

Fetch outcomes (2.3.1): 2xx parsed; 4xx "unavailable" -> allow all; 5xx or unreachable -> disallow all;
more than 5 redirects -> unreachable (the RFC *may* treat it as unavailable; we take the conservative
side); at most 500 KiB parsed (2.5); an HTML page served as robots.txt -> no rules.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal
from urllib.parse import quote, urlsplit

from pipeline.optout.aipref import parse_prefs, resolve
from pipeline.optout.base import Decision, Evidence, sha256_hex

MAX_BYTES = 500 * 1024  # RFC 9309 2.5: crawlers must parse at least 500 kibibytes
MAX_REDIRECTS = 5  # RFC 9309 2.3.1.2: follow at least five consecutive redirects
SIGNAL = "robots"

Mode = Literal["rules", "allow_all", "disallow_all"]


@dataclass(frozen=True)
class Line:
    """One rule line inside a group: `allow`/`disallow` (path), or `content-usage`/`content-signal`."""

    key: str
    path: str | None  # None for a content-usage/-signal line that applies to every path
    value: str  # the preference list for content-usage/-signal
    text: str  # the exact line as written (comment stripped)
    lineno: int


@dataclass(frozen=True)
class Group:
    agents: tuple[str, ...]  # as written
    lines: tuple[Line, ...]

    @property
    def label(self) -> str:
        return ", ".join(self.agents)


@dataclass(frozen=True)
class Robots:
    """A parsed robots.txt fetch: either rules, or a blanket allow/disallow with the reason."""

    url: str
    mode: Mode
    outcome: str  # 'parsed', 'html', 'unavailable (HTTP 404)', 'unreachable (HTTP 503)', ...
    groups: tuple[Group, ...] = ()
    sha256: str | None = None
    fetched_at: str | None = None
    truncated: bool = False
    invalid_lines: int = 0
    _by_agent: dict[str, tuple[Group, ...]] = field(default_factory=dict, compare=False, repr=False)

    def groups_for(self, agent: str) -> tuple[Group, ...]:
        """All groups naming `agent` (merged, RFC 9309 2.2.1), else the `*` groups."""
        key = agent.strip().lower()
        if key not in self._by_agent:
            own = tuple(g for g in self.groups if key in (_token(a) for a in g.agents))
            if not own:
                own = tuple(g for g in self.groups if "*" in (_token(a) for a in g.agents))
            self._by_agent[key] = own
        return self._by_agent[key]

    def evidence(self, seen: str) -> Evidence:
        return Evidence(SIGNAL, self.url, seen, self.sha256, self.fetched_at)


def _token(agent: str) -> str:
    # "GPTBot/1.0" or "GPTBot (compat)" in a user-agent line: the product token is what counts.
    return re.split(r"[\s/]", agent.strip(), maxsplit=1)[0].lower() if agent.strip() else ""


_HTML_START = re.compile(rb"^\s*(<!doctype\s+html|<html[\s>]|<head[\s>]|<body[\s>])", re.IGNORECASE)


def looks_like_html(body: bytes, content_type: str | None = None) -> bool:
    ctype = (content_type or "").split(";", 1)[0].strip().lower()
    if ctype in ("text/html", "application/xhtml+xml"):
        return True
    return bool(_HTML_START.match(body[:1024].lstrip(b"\xef\xbb\xbf")))


def parse(
    body: bytes | str, url: str = "robots.txt", fetched_at: str | None = None, content_type: str | None = None
) -> Robots:
    """Parse robots.txt bytes (a 2xx body). Never raises: junk lines are counted and skipped."""
    raw = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else bytes(body)  # lone surrogates: U+FFFD
    digest = sha256_hex(raw)
    if looks_like_html(raw, content_type):
        return Robots(url, "allow_all", "html served as robots.txt: no rules", (), digest, fetched_at)
    truncated = len(raw) > MAX_BYTES
    text = raw[:MAX_BYTES].decode("utf-8", "replace")
    if text.startswith("\ufeff"):
        text = text[1:]
    groups: list[Group] = []
    agents: list[str] = []
    lines: list[Line] = []
    invalid = 0
    in_rules = False
    for lineno, physical in enumerate(text.splitlines(), 1):  # splitlines: LF, CRLF and CR-only
        content = physical.split("#", 1)[0].strip()
        if not content:
            continue
        key, sep, value = content.partition(":")
        key = key.strip().lower()
        value = value.strip()
        if not sep:
            invalid += 1
            continue
        if key in ("user-agent", "useragent", "user agent"):
            if in_rules:
                groups.append(Group(tuple(agents), tuple(lines)))
                agents, lines, in_rules = [], [], False
            agents.append(value)
            continue
        if key in ("allow", "disallow"):
            if agents:
                lines.append(Line(key, value, "", content, lineno))
                in_rules = True
            continue
        if key in ("content-usage", "content-signal"):
            path = None
            if value.startswith("/"):
                path, _, value = value.partition(" ")
                value = value.strip()
            if agents:
                lines.append(Line(key, path, value, content, lineno))
                in_rules = True
            continue
        if key not in ("sitemap", "crawl-delay", "host", "request-rate", "visit-time", "clean-param"):
            invalid += 1
    if agents:
        groups.append(Group(tuple(agents), tuple(lines)))
    return Robots(url, "rules", "parsed", tuple(groups), digest, fetched_at, truncated, invalid)


def from_fetch(
    status: int | None,
    body: bytes | None = None,
    *,
    url: str = "robots.txt",
    content_type: str | None = None,
    redirects: int = 0,
    fetched_at: str | None = None,
) -> Robots:
    """The robots.txt in force given how its fetch ended (RFC 9309 2.3.1).

    Args:
        status: final HTTP status after redirects, None if unreachable (DNS, connection, timeout).
        body: response bytes (only the first 500 KiB are parsed).
        redirects: number of redirect hops that were followed to get there.
    """
    digest = sha256_hex(body) if body is not None else None
    if redirects > MAX_REDIRECTS:
        return Robots(url, "disallow_all", f"unreachable (more than {MAX_REDIRECTS} redirects)", (), digest, fetched_at)
    if status is None:
        return Robots(url, "disallow_all", "unreachable (no response)", (), None, fetched_at)
    if 200 <= status < 300:
        return parse(body or b"", url, fetched_at, content_type)
    if 400 <= status < 500:
        return Robots(url, "allow_all", f"unavailable (HTTP {status})", (), digest, fetched_at)
    # 5xx, and any other final status (1xx, an unfollowed 3xx): unreachable, disallow all.
    return Robots(url, "disallow_all", f"unreachable (HTTP {status})", (), digest, fetched_at)


def missing(url: str = "robots.txt") -> Robots:
    """No robots.txt at all (e.g. a snapshot without one): allowed."""
    return Robots(url, "allow_all", "missing")


# --- path matching (RFC 9309 2.2.2-2.2.3), shared by ai.txt and tdmrep.json locations ---------------

_PCT = re.compile(r"%[0-9a-fA-F]{2}")
_SAFE = "/?=&;:@!,'()*+$~-._%[]"


def normalize_path(path: str) -> str:
    """Percent-encode what must be encoded and upper-case existing escapes, so both sides compare.

    A lone surrogate (a URL decoded with surrogateescape) is encoded as the byte it stands for, or
    failing that as its UTF-8 bytes (surrogatepass), never raising.
    """
    try:
        quoted = quote(path, safe=_SAFE, errors="surrogateescape")
    except UnicodeEncodeError:
        quoted = quote(path, safe=_SAFE, errors="surrogatepass")
    return _PCT.sub(lambda m: m.group(0).upper(), quoted)


@lru_cache(maxsize=4096)
def pattern_parts(pattern: str) -> tuple[tuple[str, ...], bool]:
    """The normalized pattern's literal pieces between `*`s, and whether it ends with `$`."""
    pattern = normalize_path(pattern)
    anchored = pattern.endswith("$")
    if anchored:
        pattern = pattern[:-1]
    return tuple(pattern.split("*")), anchored


def path_matches(pattern: str, path: str) -> bool:
    """`path` (already normalized) matches the robots-style pattern (prefix, `*` any run, `$` end).

    Not a regex: `/*a*a*a...x$` would backtrack exponentially (a hostile robots.txt could hang the
    run). Placing each piece at its leftmost occurrence is enough, and takes linear time per piece.
    """
    parts, anchored = pattern_parts(pattern)
    if not path.startswith(parts[0]):
        return False
    pos = len(parts[0])
    if len(parts) == 1:
        return not anchored or pos == len(path)
    for part in parts[1:-1]:
        found = path.find(part, pos)
        if found < 0:
            return False
        pos = found + len(part)
    last = parts[-1]
    if anchored:
        return len(path) - len(last) >= pos and path.endswith(last)
    return path.find(last, pos) >= 0


_AUTHORITY = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*")


def url_path(url: str) -> str:
    """Path + query of a URL (or of a bare path), normalized, '/' if empty.

    A URL urlsplit rejects (a broken IPv6 host such as 'http://[x/a', straight from a WARC's
    WARC-Target-URI) still has a path: everything after the authority, up to any fragment.
    """
    try:
        parts = urlsplit(url)
        path, query = parts.path, parts.query
    except ValueError:
        path, _, query = _AUTHORITY.sub("", url, count=1).partition("#")[0].partition("?")
    path = path or "/"
    if query:
        path += "?" + query
    return normalize_path(path)


def decide(robots: Robots, url: str, agents: list[str] | tuple[str, ...]) -> list[Decision]:
    """Per agent: may `url` be fetched/used under this robots.txt, with the exact rule that decided."""
    path = url_path(url)
    out = []
    for agent in agents:
        if robots.mode != "rules":
            allowed = robots.mode == "allow_all"
            rule = f"{robots.outcome}: {'allow' if allowed else 'disallow'} all"
            out.append(Decision(agent, allowed, SIGNAL, rule, (robots.evidence(robots.outcome),)))
            continue
        if path == "/robots.txt":
            out.append(Decision(agent, True, SIGNAL, "/robots.txt is always allowed", ()))
            continue
        best: tuple[int, bool, Line, Group] | None = None
        for group in robots.groups_for(agent):
            for line in group.lines:
                if line.key not in ("allow", "disallow") or not line.path:  # empty pattern matches nothing
                    continue
                if path_matches(line.path, path):
                    cand = (len(normalize_path(line.path)), line.key == "allow", line, group)
                    if best is None or cand[:2] > best[:2]:  # longer wins; on a tie Allow (True) wins
                        best = cand
        if best is None:
            groups = robots.groups_for(agent)
            rule = (
                f"no matching rule in group '{groups[0].label}'"
                if groups
                else "no group for this agent and no '*' group"
            )
            out.append(Decision(agent, True, SIGNAL, rule, (robots.evidence(rule),)))
            continue
        _, allowed, line, group = best
        rule = f"{line.text} (line {line.lineno}, group '{group.label}')"
        out.append(Decision(agent, allowed, SIGNAL, rule, (robots.evidence(line.text),)))
    return out


def decide_usage(
    robots: Robots, url: str, agents: list[str] | tuple[str, ...], category: str = "train-ai"
) -> list[Decision]:
    """Per agent: `Content-Usage` (aipref) and `Content-Signal` lines in the agent's groups.

    A line applies if it has no path or its path matches `url`. Among applicable lines that state a
    preference for `category` (or, failing that, its parent: see `aipref.resolve`), the one with the
    longest path wins (no path counts as the shortest), as in draft-ietf-aipref-attach's example where
    `Content-Usage: /ai-ok/ train-ai=y` overrides a group-wide `train-ai=n`; between equally specific
    lines the most restrictive wins. No applicable statement -> allowed; a blanket robots outcome
    (4xx/5xx/HTML) carries no usage statement.
    """
    path = url_path(url)
    out = []
    for agent in agents:
        hits: list[tuple[int, bool, Line, Group, str]] = []
        seen: list[Evidence] = []
        for group in robots.groups_for(agent) if robots.mode == "rules" else ():
            for line in group.lines:
                if line.key not in ("content-usage", "content-signal"):
                    continue
                if line.path is not None and not path_matches(line.path, path):
                    continue
                sig = "content-signal" if line.key == "content-signal" else "aipref"
                seen.append(Evidence(sig, robots.url, line.text, robots.sha256, robots.fetched_at))
                hit = resolve(parse_prefs(line.value, content_signal=line.key == "content-signal"), category)
                if hit is not None:
                    specificity = len(normalize_path(line.path)) if line.path else 0
                    hits.append((specificity, hit[0], line, group, hit[1]))
        if not hits:
            out.append(Decision(agent, True, "aipref", f"no usage preference for {category}", tuple(seen)))
            continue
        # Longest path first, then reserved (True) before allowed, then file order.
        _, reserved, line, group, cat = max(hits, key=lambda h: (h[0], h[1], -h[2].lineno))
        signal = "content-signal" if line.key == "content-signal" else "aipref"
        rule = f"{line.text} (line {line.lineno}, group '{group.label}', category {cat})"
        out.append(Decision(agent, not reserved, signal, rule, tuple(seen)))
    return out

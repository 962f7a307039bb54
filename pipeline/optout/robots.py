"""robots.txt per RFC 9309, with the IETF aipref `Content-Usage` and Cloudflare `Content-Signal` group lines.

Our own parser (it must report the exact line that decided, and keep aipref lines, which protego
drops); the tests check verdicts against protego and Google's reference tests. RFC 9309 rules: groups
start at `user-agent` lines, all groups naming the agent are merged (2.2.1), agent product tokens match
case-insensitively, a crawler with no group of its own uses the `*` groups, the longest matching path
wins and `Allow` wins a tie (2.2.2), `/robots.txt` is always allowed. Lines end at CR, LF or CRLF only.

Matching (2.2.2-2.2.3): pattern and URL path+query are both percent-normalised by
`url_identity.normalise_percent` (an escaped unreserved octet is decoded, `%62%61%7A` is `baz`; a
reserved one stays escaped, `%2F` is not `/`; non-ASCII is UTF-8 escaped). `*` and a final `$` are special
in a pattern; written `%2A` / `%24` they are literal, so a URL's own `*` and `$` are compared as `%2A` /
`%24`. The URL's path is its `url_identity` canonical one (dot segments resolved, WHATWG escaping), and
since WHATWG escapes `'` in queries, `'` is compared as `%27` on both sides. An escape is one octet: `*`
never lets a pattern piece start inside `%XX`. "Longest" is measured on the normalised pattern.

Google's parser (github.com/google/robotstxt) leniencies that a consent check must honour, because a
site owner who wrote them meant them: a line without a colon is read when it has exactly two tokens
(`disallow /`); keys are recognised case-insensitively by prefix, with the misspellings Google accepts
(`useragent`, `user agent`, `dissallow`, `dissalow`, `disalow`, `diasllow`, `disallaw`, `site-map`); a
user-agent `*` followed by whitespace and text is still the global group; a partial UTF-8 BOM is
skipped. A decision that rests on one of these says so in its rule text.

Deliberate divergences from Google's parser, each with a test:
* `Allow: /d/index.html` does not also allow `/d/` (Google's HandleAllow does): it would allow more
  than the file says.
* Percent-decoding follows the RFC: `Allow: /foo/bar/%62%61%7A` covers `/foo/bar/baz` (Google's test
  expects it not to), and a URL is normalised before matching (Google leaves that to the caller).
* A product token may hold digits and dots (`AI2Bot`, as in ai.robots.txt); Google's token stops at the
  first character outside `[a-zA-Z_-]`, so its `AI2Bot` group would never match AI2Bot.
* Lines are not cut at 16,664 bytes: a cut `Allow` line would allow more than it says.

Fetch outcomes (2.3.1): 2xx parsed; 4xx "unavailable" -> allow all; 5xx or unreachable -> disallow all;
more than 5 redirects -> unreachable (the RFC *may* treat it as unavailable; we take the conservative
side); at most 500 KiB parsed (2.5), and a line cut there is dropped, never parsed; an HTML page served
as robots.txt -> no rules.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal
from urllib.parse import urlsplit

from pipeline.optout.aipref import parse_prefs, resolve
from pipeline.optout.base import Decision, Evidence, sha256_hex
from pipeline.url_identity import normalise_percent, url_key

MAX_BYTES = 500 * 1024  # RFC 9309 2.5: crawlers must parse at least 500 kibibytes
MAX_REDIRECTS = 5  # RFC 9309 2.3.1.2: follow at least five consecutive redirects
SIGNAL = "robots"

Mode = Literal["rules", "allow_all", "disallow_all"]

# Why a line was read although it is not RFC 9309 syntax (shown in the decision's rule text).
TYPO = "misspelled key accepted as Google's parser does"
PREFIX = "key recognised by its prefix as Google's parser does"
NO_COLON = "line without a colon accepted as Google's parser does"
GLOBAL = "'*' followed by more text read as '*' as Google's parser does"

# Google's keys (robots.cc GetKeyType, in its order): canonical name, misspellings it accepts.
_GOOGLE_KEYS = (
    ("user-agent", ("useragent", "user agent")),
    ("allow", ()),
    ("disallow", ("dissallow", "dissalow", "disalow", "diasllow", "disallaw")),
    ("sitemap", ("site-map",)),
)
_USAGE_KEYS = ("content-usage", "content-signal")  # exact names (aipref, Cloudflare): no Google leniency
_OTHER_KEYS = ("sitemap", "crawl-delay", "host", "request-rate", "visit-time", "clean-param")  # valid, no rule
_BOM = b"\xef\xbb\xbf"
def _lines(text: str) -> list[str]:
    """Lines split at RFC 9309 2.2's EOL = CR / LF / CRLF (not str.splitlines' \v, \f, U+2028, ...)."""
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


_WS = " \t\v\f"  # ASCII whitespace that may surround keys and values
_TWO_TOKENS = re.compile(r"([^ \t]+)[ \t]+([^ \t]+)")
_TOKEN = re.compile(r"[A-Za-z0-9_.-]*")


@dataclass(frozen=True)
class Directive:
    """One non-empty line: `key` is the canonical key, the lower-cased key as written when unknown, or
    None when the line holds no key/value pair; `note` says which leniency read it, if any."""

    lineno: int
    key: str | None
    value: str
    text: str  # the line as written, comment and surrounding whitespace stripped
    note: str = ""


@dataclass(frozen=True)
class Line:
    """One rule line inside a group: `allow`/`disallow` (path), or `content-usage`/`content-signal`."""

    key: str
    path: str | None  # None for a content-usage/-signal line that applies to every path
    value: str  # the preference list for content-usage/-signal
    text: str  # the exact line as written (comment stripped)
    lineno: int
    note: str = ""  # the Google leniency this line needed, if any


@dataclass(frozen=True)
class Group:
    agents: tuple[str, ...]  # as written
    lines: tuple[Line, ...]
    notes: tuple[str, ...] = ()  # per agent line: the Google leniency it needed, or ""
    joins_next: bool = False  # closed by a user-agent line after content-usage lines only (see `rule_groups_for`)

    @property
    def label(self) -> str:
        return ", ".join(self.agents)

    def notes_for(self, token: str) -> list[str]:
        """Leniency notes of the user-agent lines in this group that name `token` (lower-cased)."""
        return [n for a, n in zip(self.agents, self.notes, strict=False) if n and product_token(a).lower() == token]


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
        """All groups naming `agent`'s product token (merged, RFC 9309 2.2.1), else the `*` groups."""
        key = product_token(agent).lower()
        if key not in self._by_agent:
            own = tuple(g for g in self.groups if key in (product_token(a).lower() for a in g.agents))
            if not own:
                own = tuple(g for g in self.groups if "*" in (product_token(a) for a in g.agents))
            self._by_agent[key] = own
        return self._by_agent[key]

    def rule_groups_for(self, agent: str) -> tuple[Group, ...]:
        """`groups_for`, plus the groups that continue them for Allow/Disallow.

        A `Content-Usage`/`Content-Signal` line is no rule to RFC 9309 or to Google's parser, so for them a
        user-agent line that follows only such lines joins the same group: in `User-agent: GPTBot`,
        `Content-Usage: train-ai=y`, `User-agent: *`, `Disallow: /`, GPTBot is disallowed. Apertura reads
        usage lines per group as written (aipref attaches them to the group before), and Allow/Disallow with
        the continuation, which can only reserve more: the stricter of the two readings.
        """
        key = "\x00rules\x00" + product_token(agent).lower()
        if key not in self._by_agent:
            own = {id(g) for g in self.groups_for(agent)}
            found, joined = [], False
            for group in self.groups:
                if id(group) in own or joined:
                    found.append(group)
                joined = (id(group) in own or joined) and group.joins_next
            self._by_agent[key] = tuple(found)
        return self._by_agent[key]

    def evidence(self, seen: str) -> Evidence:
        return Evidence(SIGNAL, self.url, seen, self.sha256, self.fetched_at)


def product_token(agent: str) -> str:
    """The product token robots.txt groups are matched by: `GPTBot` in `GPTBot/1.0 (+https://…)` or in a
    user-agent line `GPTBot (compatible)`; `*` for `*` alone or followed by whitespace (Google's reading)."""
    text = agent.strip()
    if text[:1] == "*" and (len(text) == 1 or text[1].isspace()):
        return "*"
    match = _TOKEN.match(text)
    return match.group(0) if match else ""


_HTML_START = re.compile(rb"^\s*(<!doctype\s+html|<html[\s>]|<head[\s>]|<body[\s>])", re.IGNORECASE)


def looks_like_html(body: bytes, content_type: str | None = None) -> bool:
    ctype = (content_type or "").split(";", 1)[0].strip().lower()
    if ctype in ("text/html", "application/xhtml+xml"):
        return True
    return bool(_HTML_START.match(body[:1024].lstrip(b"\xef\xbb\xbf")))


def _key(written: str) -> tuple[str, str]:
    """(canonical key, leniency note) for a key as written; unknown keys come back lower-cased."""
    low = written.lower()
    if low in _USAGE_KEYS:
        return low, ""
    for canonical, typos in _GOOGLE_KEYS:
        if low.startswith(canonical):
            return canonical, "" if low == canonical else PREFIX
        if low.startswith(typos):
            return canonical, TYPO
    return low, ""


def directives(body: bytes) -> tuple[list[Directive], bool]:
    """Every non-empty line of a robots.txt body as a `Directive`, and whether the body was cut at MAX_BYTES.

    A (partial) UTF-8 BOM is skipped; past MAX_BYTES the body is cut and the line the cut falls in is
    dropped whole: a cut `Allow: /public-only` must not become `Allow: /`.
    """
    skip = next(n for n in (3, 2, 1, 0) if body[:n] == _BOM[:n])
    raw = body[skip:]
    truncated = len(raw) > MAX_BYTES
    if truncated:
        head = raw[:MAX_BYTES]
        if raw[MAX_BYTES : MAX_BYTES + 1] not in (b"\n", b"\r"):
            head = head[: max(head.rfind(b"\n"), head.rfind(b"\r")) + 1]
        raw = head
    out = []
    for lineno, physical in enumerate(_lines(raw.decode("utf-8", "replace")), 1):
        content = physical.split("#", 1)[0].strip(_WS)
        if not content:
            continue
        key, sep, value = content.partition(":")
        note = ""
        if not sep:  # Google: whitespace may stand in for the colon when the line has exactly two tokens
            two = _TWO_TOKENS.fullmatch(content)
            if two is None:
                out.append(Directive(lineno, None, "", content))
                continue
            key, value, note = two.group(1), two.group(2), NO_COLON
        key = key.strip(_WS)
        if not key:
            out.append(Directive(lineno, None, "", content))
            continue
        canonical, key_note = _key(key)
        out.append(Directive(lineno, canonical, value.strip(_WS), content, "; ".join(n for n in (note, key_note) if n)))
    return out, truncated


def parse(
    body: bytes | str, url: str = "robots.txt", fetched_at: str | None = None, content_type: str | None = None
) -> Robots:
    """Parse robots.txt bytes (a 2xx body). Never raises: junk lines are counted and skipped."""
    raw = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else bytes(body)  # lone surrogates: U+FFFD
    digest = sha256_hex(raw)
    if looks_like_html(raw, content_type):
        return Robots(url, "allow_all", "html served as robots.txt: no rules", (), digest, fetched_at)
    found, truncated = directives(raw)
    groups: list[Group] = []
    agents: list[str] = []
    notes: list[str] = []
    lines: list[Line] = []
    invalid = 0
    in_rules = False
    for d in found:
        if d.key is None:
            invalid += 1
        elif d.key == "user-agent":
            if in_rules:
                joins = not any(line.key in ("allow", "disallow") for line in lines)
                groups.append(Group(tuple(agents), tuple(lines), tuple(notes), joins))
                agents, notes, lines, in_rules = [], [], [], False
            star = GLOBAL if d.value != "*" and product_token(d.value) == "*" else ""
            note = "; ".join(n for n in (d.note, star) if n)
            agents.append(d.value)
            notes.append(f"user-agent line {d.lineno} '{d.text}': {note}" if note else "")
        elif d.key in ("allow", "disallow"):
            if agents:
                lines.append(Line(d.key, d.value, "", d.text, d.lineno, d.note))
                in_rules = True
        elif d.key in _USAGE_KEYS:
            path, value = None, d.value
            if value.startswith("/"):
                path, _, value = value.partition(" ")
                value = value.strip()
            if agents:
                lines.append(Line(d.key, path, value, d.text, d.lineno, d.note))
                in_rules = True
        elif d.key not in _OTHER_KEYS:
            invalid += 1
    if agents:
        groups.append(Group(tuple(agents), tuple(lines), tuple(notes)))
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


def _literal(text: str) -> str:
    """The form both sides are compared in: percent-normalised, `*` `$` `'` escaped (see the module doc)."""
    return normalise_percent(text).replace("*", "%2A").replace("$", "%24").replace("'", "%27")


def _pattern_parts(pattern: str) -> tuple[tuple[str, ...], bool]:
    """The pattern's literal pieces between `*`s (normalised), and whether it ends with `$`."""
    anchored = pattern.endswith("$")
    if anchored:
        pattern = pattern[:-1]
    return tuple(_literal(piece) for piece in pattern.split("*")), anchored


pattern_parts = lru_cache(maxsize=4096)(_pattern_parts)  # wrapped, not decorated: mutation testing reaches it


def pattern_length(pattern: str) -> int:
    """Length of the normalised pattern (`*` and a final `$` count one each): what "longest match" compares."""
    parts, anchored = pattern_parts(pattern)
    return sum(map(len, parts)) + len(parts) - 1 + anchored


def _boundary(path: str, at: int) -> bool:
    """`at` is not inside a `%XX` escape (every `%` of a normalised path starts one)."""
    return "%" not in path[max(at - 2, 0) : at]


def _find(path: str, part: str, start: int) -> int:
    found = path.find(part, start)
    while found > 0 and not _boundary(path, found):
        found = path.find(part, found + 1)
    return found


def path_matches(pattern: str, path: str) -> bool:
    """`path` (from `url_path`) matches the robots-style pattern (prefix, `*` any run, `$` end).

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
        found = _find(path, part, pos)
        if found < 0:
            return False
        pos = found + len(part)
    last = parts[-1]
    if anchored:
        end = len(path) - len(last)
        return end >= pos and path.endswith(last) and _boundary(path, end)
    return _find(path, last, pos) >= 0


_AUTHORITY = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*")


def url_path(url: str) -> str:
    """Path + query of a URL (or of a bare path) in the form patterns are matched against, '/' if empty.

    The path is the URL's canonical one (`url_identity`); a URL without an identity (a broken IPv6 host
    such as 'http://[x/a', straight from a WARC's WARC-Target-URI) still has a path: everything after the
    authority, up to any fragment, percent-normalised.
    """
    key = url_key(url)
    if key is not None:
        return _literal(key[key.index("/") :])
    try:
        parts = urlsplit(url)
        path, query = parts.path, parts.query
    except ValueError:
        path, _, query = _AUTHORITY.sub("", url, count=1).partition("#")[0].partition("?")
    path = path or "/"
    if query:
        path += "?" + query
    return _literal(path)


def _rule(line: Line, group: Group, token: str, extra: str = "") -> str:
    """`Disalow: / (line 3, group 'ClaudeBot'; misspelled key accepted as Google's parser does)`."""
    notes = "".join(f"; {n}" for n in (line.note, *group.notes_for(token)) if n)
    return f"{line.text} (line {line.lineno}, group '{group.label}'{extra}{notes})"


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
        groups = robots.rule_groups_for(agent)
        best: tuple[int, bool, Line, Group] | None = None
        for group in groups:
            for line in group.lines:
                if line.key not in ("allow", "disallow") or not line.path:  # empty pattern matches nothing
                    continue
                if path_matches(line.path, path):
                    cand = (pattern_length(line.path), line.key == "allow", line, group)
                    if best is None or cand[:2] > best[:2]:  # longer wins; on a tie Allow (True) wins
                        best = cand
        if best is None:
            rule = (
                f"no matching rule in group '{groups[0].label}'"
                if groups
                else "no group for this agent and no '*' group"
            )
            out.append(Decision(agent, True, SIGNAL, rule, (robots.evidence(rule),)))
            continue
        _, allowed, line, group = best
        joined = "" if group in robots.groups_for(agent) else ", which continues the agent's group"
        rule = _rule(line, group, _matched_token(group, agent), joined)
        out.append(Decision(agent, allowed, SIGNAL, rule, (robots.evidence(line.text),)))
    return out


def _matched_token(group: Group, agent: str) -> str:
    """The token by which `group` applies to `agent`: its own product token, or `*`."""
    token = product_token(agent).lower()
    return token if token in (product_token(a).lower() for a in group.agents) else "*"


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
                if line.key not in _USAGE_KEYS:
                    continue
                if line.path is not None and not path_matches(line.path, path):
                    continue
                sig = "content-signal" if line.key == "content-signal" else "aipref"
                seen.append(Evidence(sig, robots.url, line.text, robots.sha256, robots.fetched_at))
                hit = resolve(parse_prefs(line.value, content_signal=line.key == "content-signal"), category)
                if hit is not None:
                    specificity = pattern_length(line.path) if line.path else 0
                    hits.append((specificity, hit[0], line, group, hit[1]))
        if not hits:
            out.append(Decision(agent, True, "aipref", f"no usage preference for {category}", tuple(seen)))
            continue
        # Longest path first, then reserved (True) before allowed, then file order.
        _, reserved, line, group, cat = max(hits, key=lambda h: (h[0], h[1], -h[2].lineno))
        signal = "content-signal" if line.key == "content-signal" else "aipref"
        rule = _rule(line, group, _matched_token(group, agent), f", category {cat}")
        out.append(Decision(agent, not reserved, signal, rule, tuple(seen)))
    return out

"""One declaration per opt-out signal family; every other place that lists families derives from `FAMILIES`.

A family is one source of statements about AI use: a site file fetched once per origin (robots.txt,
/.well-known/tdmrep.json, ai.txt) and/or what a page's own response says (headers, meta tags). Its
`Family` declaration names:

- `site_file`: the path, and the parser of one fetch of it. From these the crawler fetches it for every origin
  (once robots.txt allows it), the policy scan collects its records, the read stage keeps it out of the
  documents, and `PolicyIndex` parses every version of it into the origin's `SitePolicy`;
- `decide`: the family's decisions for one page, from the page's response and every parsed version of its
  site file (`explain.decide` asks every family);
- `signals`: the names its decisions carry (`Decision.signal`), each with the plain-language text the EU summary
  and the datasheet print and the ledger reason of a removal (`optout_<name>`).

Adding a family with a site file takes its module (parser and decider), one declaration here, and its tests.
The rights-holder registry is declared for its text and reason only: it is matched per release, not per page.

Order: `FAMILIES` is the order of the plain-language list of signals. `decide` asks the families without a site
file first (what the page's own response says), then those with one, each group in declaration order. The
first reserving decision names a removal's ledger reason, so a page's own statement is named before its site's.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from pipeline.optout import aipref, aitxt, noai, robots, tdmrep
from pipeline.optout.base import Decision, Headers

ROBOTS_TXT = "/robots.txt"  # the site file every other fetch of an origin waits for (RFC 9309)


def reason_for(signal: str) -> str:
    """Ledger reason for a signal: 'ai.txt' -> 'optout_ai_txt', 'content-signal' -> 'optout_content_signal'."""
    return "optout_" + signal.replace(".", "_").replace("-", "_")


@dataclass(frozen=True)
class Signal:
    """A name decisions carry, and what it means in plain language."""

    name: str
    text: str

    @property
    def reason(self) -> str:
        return reason_for(self.name)


@dataclass(frozen=True)
class Fetch:
    """One fetch of a site file, its redirects followed: what a site-file parser reads."""

    url: str  # the site file's URL (before redirects)
    status: int | None  # final HTTP status; None: unreachable
    body: bytes | None
    content_type: str | None = None
    fetched_at: str | None = None
    redirects: int = 0


# What a site-file parser returns: the evidence row's verdict ('observed', 'malformed', 'not_found',
# 'unreachable'), its rule text, and the parsed file (None: the fetch is no signal).
Parsed = tuple[str, str, Any]


@dataclass(frozen=True)
class SiteFile:
    path: str  # e.g. '/ai.txt'
    kind: str  # what an evidence row calls a fetch of it, e.g. 'ai.txt'
    parse: Callable[[Fetch], Parsed]
    # False: only a 2xx response is parsed (any other is no signal). True: every outcome has a meaning
    # (robots.txt: 4xx allows, 5xx and too many redirects disallow all) and the parser gets it.
    every_status: bool = False


@dataclass(frozen=True)
class Page:
    """What one page's decision reads besides its site's files: its own response, and the run's options."""

    url: str
    agents: Sequence[str]
    headers: Headers | None = None
    html: bytes | None = None
    malformed_tdmrep: tdmrep.ProtocolErrors = "unset"


# A family's decider: per parsed version of its site file (or once), one decision per agent.
Decider = Callable[[Page, tuple[Any, ...]], Iterable[list[Decision]]]


@dataclass(frozen=True)
class Family:
    name: str  # key of its parsed files in a SitePolicy
    signals: tuple[Signal, ...]
    decide: Decider | None = None  # None: decided elsewhere (the registry is matched per release)
    site_file: SiteFile | None = None


# ---- the declarations


def _robots_file(f: Fetch) -> Parsed:
    if f.status is not None and 300 <= f.status < 400:  # only after too many hops: RFC 9309 2.3.1.2, disallow all
        rules = robots.from_fetch(f.status, f.body, url=f.url, redirects=f.redirects, fetched_at=f.fetched_at)
        return "unreachable", rules.outcome, rules
    rules = robots.from_fetch(
        f.status, f.body, url=f.url, content_type=f.content_type, redirects=f.redirects, fetched_at=f.fetched_at
    )
    verdict = {"rules": "observed", "allow_all": "not_found", "disallow_all": "unreachable"}[rules.mode]
    if rules.outcome.startswith("html"):
        verdict = "malformed"
    return verdict, f"{rules.outcome} ({rules.mode.replace('_', ' ')})", rules


def _robots(page: Page, files: tuple[robots.Robots, ...]) -> Iterable[list[Decision]]:
    for rules in files or (robots.missing(),):  # no robots.txt seen: allowed
        yield robots.decide(rules, page.url, page.agents)
        yield robots.decide_usage(rules, page.url, page.agents)


def _tdmrep_file(f: Fetch) -> Parsed:
    parsed = tdmrep.parse_file(f.body or b"", f.url, f.fetched_at)
    if parsed.malformed:
        return "malformed", parsed.malformed, parsed
    problems = "".join(f"; protocol error in {e}" for e in parsed.errors)  # the entry sets nothing where it decides
    return "observed", f"{len(parsed.rules)} location rules{problems}", parsed


def _tdmrep(page: Page, files: tuple[tdmrep.TdmrepFile, ...]) -> Iterable[list[Decision]]:
    for well_known in files or (None,):  # headers and meta tags decide without a tdmrep.json too
        yield tdmrep.decide(
            page.url,
            page.agents,
            headers=page.headers,
            html=page.html,
            well_known=well_known,
            malformed_tdmrep=page.malformed_tdmrep,
        )


def _ai_txt_file(f: Fetch) -> Parsed:
    rules = aitxt.parse(f.body, f.url, f.fetched_at, f.status, f.content_type)
    return "observed", f"{len(rules.groups)} groups", rules


def _ai_txt(page: Page, files: tuple[robots.Robots, ...]) -> Iterable[list[Decision]]:
    return (aitxt.decide(rules, page.url, page.agents) for rules in files)


AIPREF = Signal("aipref", "IETF aipref Content-Usage (robots.txt line or HTTP header)")

FAMILIES: tuple[Family, ...] = (
    Family(
        "robots",
        (
            Signal("robots", "robots.txt (RFC 9309) Disallow for an honoured AI user agent"),
            AIPREF,
            Signal("content-signal", "Content-Signal line in robots.txt"),
        ),
        _robots,
        SiteFile(ROBOTS_TXT, "robots.txt", _robots_file, every_status=True),
    ),
    Family("aipref", (AIPREF,), lambda page, _: (aipref.decide_header(page.headers, page.agents),)),
    Family(
        "tdmrep",
        (Signal("tdmrep", "W3C TDMRep (tdm-reservation header, meta tag or /.well-known/tdmrep.json)"),),
        _tdmrep,
        SiteFile("/.well-known/tdmrep.json", "tdmrep.json", _tdmrep_file),
    ),
    Family(
        "noai",
        (Signal("noai", "noai in X-Robots-Tag or <meta name=robots>"),),
        lambda page, _: (noai.decide(page.agents, headers=page.headers, html=page.html),),
    ),
    Family("ai.txt", (Signal("ai.txt", "ai.txt"),), _ai_txt, SiteFile("/ai.txt", "ai.txt", _ai_txt_file)),
    Family(
        "registry",
        (Signal("registry", "the provider's rights-holder opt-out registry (domain, URL prefix, text fingerprint)"),),
    ),
)


# ---- what the rest of the project derives (recomputed when FAMILIES is replaced, e.g. by a test)


@dataclass(frozen=True)
class _Views:
    deciding: tuple[Family, ...]
    site_files: dict[str, Family]  # by path, in declaration order
    policy_url: str

    @classmethod
    def of(cls, families: tuple[Family, ...]) -> _Views:
        deciding = [f for f in families if f.decide is not None]
        with_file = {f.site_file.path: f for f in families if f.site_file is not None}
        paths = "|".join(re.escape(path) for path in with_file)
        return cls(
            tuple(sorted(deciding, key=lambda f: f.site_file is not None)),  # stable: own response first
            with_file,
            rf"^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]+({paths})$",
        )


_memo: tuple[tuple[Family, ...], _Views] | None = None


def _views() -> _Views:
    global _memo
    if _memo is None or _memo[0] is not FAMILIES:
        _memo = (FAMILIES, _Views.of(FAMILIES))
    return _memo[1]


def deciding() -> tuple[Family, ...]:
    """The families `decide` asks, in the order their decisions are listed."""
    return _views().deciding


def site_files() -> tuple[SiteFile, ...]:
    """Every declared site file, in declaration order (robots.txt first)."""
    return tuple(f.site_file for f in _views().site_files.values() if f.site_file is not None)


def after_robots() -> tuple[str, ...]:
    """Paths of the site files an origin is asked for once its robots.txt allows them."""
    return tuple(path for path in _views().site_files if path != ROBOTS_TXT)


def policy_url_pattern() -> str:
    """A regex (Python and Polars) matching the URL of any site file: scheme, host, the path, no query."""
    return _views().policy_url


def family_at(path: str) -> Family | None:
    """The family whose site file is at `path` (e.g. '/ai.txt'), else None."""
    return _views().site_files.get(path)


def site_file_family(url: str | None) -> Family | None:
    """The family whose site file `url` is (no query), else None."""
    files = _views().site_files
    if not url or not any(path in url for path in files):  # cheap: asked of every record read
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return None if parts.query else files.get(parts.path)


def signal_texts() -> dict[str, str]:
    """Signal name -> plain-language text, every declared signal once, in declaration order."""
    return {s.name: s.text for f in FAMILIES for s in f.signals}

"""A deterministic sample web: small sites on 127.0.0.1, one port per site, with known opt-out outcomes.

Used by the demo (``apertura sample-web serve``) and by tests of the crawler and the opt-out step.
Every site is one ``ThreadingHTTPServer`` (port 0 = a free port, or ``base_port + i`` in the
order of ``SITES``), all in one process, each served by a daemon thread. Page text comes from
``pipeline.synthetic.make_page`` seeded by ``site + path`` (never by the port), so every body is
byte-identical across starts. Links are relative and there is no sitemap: a crawler reaches every
page of a site by following ``<a href>`` from its home page (and redirects).

Ground truth
------------
``GROUND_TRUTH`` maps ``(site, path)`` to an ``Expected``: the status served, the kind of URL,
the exact opt-out headers and ``<meta>`` tags served, and ``reserved``: the ``Reservation``\\ s
(signal, agents, rule) that reserve the URL from AI training. ``reserved == ()`` means allowed.
``agents == ("*",)`` means every agent (ours included); otherwise only the named user agents.
``reserved_if_strict`` holds what reserves a URL only when TDMRep protocol errors count as
reservations (config ``optout.malformed_tdmrep = "reserved"``; see ``Expected.reserved_for``).
``SampleWeb.ground_truth`` is the same table keyed by full URL once the servers run.

=========  ========  ===========================================================================
site       langs     signals (expected outcome)
=========  ========  ===========================================================================
news       de fr it  robots.txt ``User-agent: *`` ``Disallow: /private/`` (only /private/* reserved,
                     for every agent); clean articles; contact page with e-mail addresses;
                     redirect chain /alt/start → /alt/step → /de/wahlen-2023 (301, 302);
                     redirect loop /loop/a ↔ /loop/b; linked 404 /de/archiv-2019; PDF resource;
                     broken-charset page (declares UTF-8, sends Latin-1); spam page; slow page
                     (``SLOW_SECONDS``); huge page (> 1 MiB). Source of the mirror's copies.
blog       en        robots.txt disallows GPTBot and CCBot everywhere (reserved for those two
                     agents on every URL; allowed for everybody else).
mirror     de fr it  robots.txt 404 (→ allow all). Exact copy of one news article and two
                     near-duplicates (one sentence appended / removed) of others.
publisher  en de     TDMRep: ``tdm-reservation: 1`` header on /news/h-*, ``<meta
                     name="tdm-reservation" content="1">`` on /news/m-*, header ``0`` on
                     /news/open-header; /.well-known/tdmrep.json: /books/* reserved (1),
                     /open/* not reserved (0). Other pages allowed.
archive    fr it     robots.txt served as HTML (200 text/html → no rules, allowed); malformed
                     /.well-known/tdmrep.json (JSON syntax error): a TDMRep protocol error, so no TDM
                     file and every page allowed (tdm-reservation unset, as the spec says); reserved
                     only under ``optout.malformed_tdmrep = "reserved"`` (signal ``tdmrep.json-malformed``).
magazine   fr it en  ``X-Robots-Tag: noai`` (and ``noai, noimageai``) on /x/*, ``<meta
                     name="robots" content="noai">`` on /m/*, bot-specific ``X-Robots-Tag:
                     GPTBot: noai`` and ``<meta name="CCBot" content="noai">`` (that agent only),
                     ``noimageai`` alone (text allowed). Other pages allowed.
forum      de en     /ai.txt disallows /threads/ (reserved); ``Content-Usage: train-ai=n``
                     response header on /wiki/closed-*; ``Content-Usage: train-ai=y`` on
                     /wiki/open (allowed). Other pages allowed.
lab        en it     robots.txt group lines ``Content-Usage: train-ai=n`` and Cloudflare
                     ``Content-Signal: search=yes, ai-train=no`` (every page reserved by both,
                     even /notes/yes which sends ``Content-Usage: train-ai=y``: the most
                     restrictive statement wins).
vault      en        robots.txt answers 503 (→ disallow all, RFC 9309 §2.3.1.4).
=========  ========  ===========================================================================

Every response is logged in ``SampleWeb.requests`` (site, method, path, user agent, time), so
tests can check politeness and that no disallowed URL was fetched.

One module of ~700 lines, most of it the sites' declarations (data): the ground truth is derived from the same
declarations the servers render and serve, so the fixture and its expected outcomes cannot drift apart.
"""

from __future__ import annotations

import functools
import html
import json
import socket
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from pipeline.optout.agents import APERTUS_AGENTS
from pipeline.synthetic import make_page

SEED = 2025
SLOW_SECONDS = 0.4
HUGE_PARAGRAPHS = 3000  # > 1 MiB of HTML

# The AI user agents the opt-out step checks (issue 3), plus "*"; our own crawler is any other agent.
AI_AGENTS: tuple[str, ...] = (*APERTUS_AGENTS, "*")

# Signal names used in the ground truth.
ROBOTS = "robots.txt"
ROBOTS_5XX = "robots.txt-5xx"
X_ROBOTS_TAG = "x-robots-tag"
META_ROBOTS = "meta-robots"
TDM_HEADER = "tdm-reservation-header"
TDM_META = "tdm-reservation-meta"
TDMREP_JSON = "tdmrep.json"
TDMREP_MALFORMED = "tdmrep.json-malformed"
AI_TXT = "ai.txt"
CONTENT_USAGE_ROBOTS = "content-usage-robots"
CONTENT_USAGE_HEADER = "content-usage-header"
CONTENT_SIGNAL = "content-signal"

# Kinds of URL in the ground truth.
PAGE = "page"  # HTML document with article text
SITE_FILE = "site-file"  # robots.txt, ai.txt, tdmrep.json
REDIRECT = "redirect"
NOT_FOUND = "not-found"
RESOURCE = "resource"  # non-HTML


@dataclass(frozen=True)
class Reservation:
    """One signal that reserves a URL from AI training; ``agents == ("*",)`` means every agent."""

    signal: str
    agents: tuple[str, ...] = ("*",)
    rule: str = ""

    def applies_to(self, agent: str) -> bool:
        return "*" in self.agents or agent in self.agents


@dataclass(frozen=True)
class Expected:
    """What one URL serves and what the opt-out step must decide for it."""

    site: str
    path: str
    kind: str
    status: int = 200
    language: str | None = None
    content_type: str = "text/html; charset=utf-8"
    reserved: tuple[Reservation, ...] = ()
    headers: tuple[tuple[str, str], ...] = ()  # opt-out headers served, exactly
    meta: tuple[tuple[str, str], ...] = ()  # opt-out <meta name content> served, exactly
    location: str | None = None  # redirect target (relative)
    duplicate_of: tuple[str, str] | None = None  # exact copy of (site, path)
    near_duplicate_of: tuple[str, str] | None = None
    emails: tuple[str, ...] = ()
    note: str = ""
    reserved_if_strict: tuple[Reservation, ...] = ()  # also reserving under malformed_tdmrep="reserved"

    @property
    def allowed(self) -> bool:
        """Under the default config (a TDMRep protocol error leaves tdm-reservation unset)."""
        return not self.reserved

    def reserved_for(self, agent: str, malformed_tdmrep: str = "unset") -> tuple[Reservation, ...]:
        strict = self.reserved_if_strict if malformed_tdmrep == "reserved" else ()
        return tuple(r for r in self.reserved + strict if r.applies_to(agent))


@dataclass(frozen=True)
class _Page:
    path: str
    language: str | None = None
    kind: str = PAGE
    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    meta: tuple[tuple[str, str], ...] = ()
    reserved: tuple[Reservation, ...] = ()
    location: str | None = None
    copy_of: tuple[str, str] | None = None
    near: tuple[str, str, str] | None = None  # (site, path, "append" | "drop")
    emails: tuple[str, ...] = ()
    special: str = ""  # spam | broken-charset | slow | huge | pdf
    linked: bool = True  # linked from the home page
    note: str = ""


@dataclass(frozen=True)
class _File:
    path: str
    status: int
    content_type: str
    body: str
    note: str = ""


@dataclass(frozen=True)
class _Site:
    name: str
    title: str
    pages: tuple[_Page, ...]
    files: tuple[_File, ...] = ()
    # (path prefix, reservation) applied to every non-site-file URL under the prefix
    rules: tuple[tuple[str, Reservation], ...] = ()
    # the same, applied only when TDMRep protocol errors count as reservations
    strict_rules: tuple[tuple[str, Reservation], ...] = ()


def _r(signal: str, rule: str, agents: tuple[str, ...] = ("*",)) -> tuple[Reservation, ...]:
    return (Reservation(signal, agents, rule),)


def _robots(body: str, status: int = 200, content_type: str = "text/plain; charset=utf-8", note: str = "") -> _File:
    return _File("/robots.txt", status, content_type, body, note)


_NEWS = _Site(
    "news",
    "Seeländer Nachrichten",
    (
        _Page("/", "de"),
        _Page("/de/wahlen-2023", "de"),
        _Page("/de/hochwasser-bern", "de"),
        _Page("/de/bahnhof-umbau", "de"),
        _Page("/fr/marche-lausanne", "fr"),
        _Page("/fr/vendanges", "fr"),
        _Page("/it/festival-locarno", "it"),
        _Page("/it/ponte-ticino", "it"),
        _Page("/private/entwurf", "de"),
        _Page("/private/interne-notiz", "de"),
        _Page("/de/kontakt", "de", emails=("redaktion@seelaender-nachrichten.ch", "leserbriefe@example.ch")),
        _Page("/alt/start", kind=REDIRECT, status=301, location="/alt/step"),
        _Page("/alt/step", kind=REDIRECT, status=302, location="/de/wahlen-2023", linked=False),
        _Page("/loop/a", kind=REDIRECT, status=302, location="/loop/b", note="redirect loop"),
        _Page("/loop/b", kind=REDIRECT, status=302, location="/loop/a", linked=False, note="redirect loop"),
        _Page("/de/archiv-2019", kind=NOT_FOUND, status=404, note="linked but gone"),
        _Page("/media/jahresbericht.pdf", kind=RESOURCE, special="pdf"),
        _Page("/de/umlaute", "de", special="broken-charset", note="declares UTF-8, body is Latin-1"),
        _Page("/de/angebot", "en", special="spam", note="keyword spam for the quality filter"),
        _Page("/it/lento", "it", special="slow", note=f"answers after {SLOW_SECONDS} s"),
        _Page("/fr/dossier-complet", "fr", special="huge", note="more than 1 MiB"),
    ),
    (_robots("User-agent: *\nDisallow: /private/\n"),),
    (("/private/", _r(ROBOTS, "User-agent: * / Disallow: /private/")[0]),),
)

_BLOG = _Site(
    "blog",
    "Field Notes",
    tuple(
        _Page(p, "en")
        for p in ("/", "/posts/valley-walk", "/posts/harbour-ferry", "/posts/old-mill", "/posts/market-day", "/about")
    ),
    (_robots("User-agent: GPTBot\nUser-agent: CCBot\nDisallow: /\n\nUser-agent: *\nAllow: /\n"),),
    (("/", Reservation(ROBOTS, ("GPTBot", "CCBot"), "User-agent: GPTBot, CCBot / Disallow: /")),),
)

_MIRROR = _Site(
    "mirror",
    "Alpen Spiegel",
    (
        _Page("/", "de"),
        _Page("/copy/wahlen", "de", copy_of=("news", "/de/wahlen-2023"), note="exact copy"),
        _Page("/copy/vendanges", "fr", near=("news", "/fr/vendanges", "append"), note="one sentence appended"),
        _Page("/copy/locarno", "it", near=("news", "/it/festival-locarno", "drop"), note="last sentence dropped"),
        _Page("/eigen/bericht", "de"),
        _Page("/eigen/rapport", "fr"),
    ),
    (_robots("Not found\n", status=404, note="404 → allow all"),),
)

_TDM_H = (("tdm-reservation", "1"),)
_PUBLISHER = _Site(
    "publisher",
    "Northbridge Press",
    (
        _Page("/", "en"),
        _Page("/news/h-river", "en", headers=_TDM_H, reserved=_r(TDM_HEADER, "tdm-reservation: 1")),
        _Page("/news/h-brucke", "de", headers=_TDM_H, reserved=_r(TDM_HEADER, "tdm-reservation: 1")),
        _Page("/news/m-garden", "en", meta=(("tdm-reservation", "1"),), reserved=_r(TDM_META, "tdm-reservation=1")),
        _Page("/news/m-schule", "de", meta=(("tdm-reservation", "1"),), reserved=_r(TDM_META, "tdm-reservation=1")),
        _Page("/news/open-header", "en", headers=(("tdm-reservation", "0"),), note="explicitly not reserved"),
        _Page("/news/plain", "en"),
        _Page("/books/chapter-1", "en"),
        _Page("/books/kapitel-2", "de"),
        _Page("/open/sample", "en"),
        _Page("/open/leseprobe", "de"),
    ),
    (
        _robots("User-agent: *\nAllow: /\n"),
        _File(
            "/.well-known/tdmrep.json",
            200,
            "application/json",
            json.dumps(
                [
                    {
                        "location": "/books/*",
                        "tdm-reservation": 1,
                        "tdm-policy": "https://northbridge.example/policies/tdm.json",
                    },
                    {"location": "/open/*", "tdm-reservation": 0},
                ],
                indent=2,
            )
            + "\n",
        ),
    ),
    (("/books/", _r(TDMREP_JSON, 'location "/books/*" tdm-reservation 1')[0]),),
)

_ARCHIVE = _Site(
    "archive",
    "Archivio Aperto",
    tuple(
        _Page(p, lang)
        for p, lang in (
            ("/", "it"),
            ("/fonds/lettere", "it"),
            ("/fonds/mappe", "it"),
            ("/fonds/cartes", "fr"),
            ("/fonds/registres", "fr"),
        )
    ),
    (
        _robots(
            "<!DOCTYPE html>\n<html><head><title>Benvenuti</title></head><body><h1>Archivio Aperto</h1>"
            "<p>Pagina non trovata.</p></body></html>\n",
            content_type="text/html; charset=utf-8",
            note="HTML served as robots.txt → no rules",
        ),
        _File(
            "/.well-known/tdmrep.json",
            200,
            "application/json",
            '[{"location": "/fonds/*", "tdm-reservation": 1,,}\n',
            "malformed JSON",
        ),
    ),
    strict_rules=(("/", _r(TDMREP_MALFORMED, "malformed tdmrep.json: protocol error treated as reserved")[0]),),
)

_MAGAZINE = _Site(
    "magazine",
    "Rivista Lumière",
    (
        _Page("/", "fr"),
        _Page("/x/atelier", "fr", headers=(("X-Robots-Tag", "noai"),), reserved=_r(X_ROBOTS_TAG, "noai")),
        _Page(
            "/x/bottega",
            "it",
            headers=(("X-Robots-Tag", "noai, noimageai"),),
            reserved=_r(X_ROBOTS_TAG, "noai, noimageai"),
        ),
        _Page("/m/exposition", "fr", meta=(("robots", "noai"),), reserved=_r(META_ROBOTS, "noai")),
        _Page("/m/mostra", "it", meta=(("robots", "noai, noimageai"),), reserved=_r(META_ROBOTS, "noai, noimageai")),
        _Page(
            "/bot/gpt",
            "en",
            headers=(("X-Robots-Tag", "GPTBot: noai"),),
            reserved=_r(X_ROBOTS_TAG, "GPTBot: noai", ("GPTBot",)),
        ),
        _Page("/bot/ccbot", "en", meta=(("CCBot", "noai"),), reserved=_r(META_ROBOTS, "CCBot noai", ("CCBot",))),
        _Page("/img/galerie", "fr", headers=(("X-Robots-Tag", "noimageai"),), note="noimageai only: text allowed"),
        _Page("/img/galleria", "it", meta=(("robots", "noimageai"),), note="noimageai only: text allowed"),
        _Page("/libre/entretien", "fr"),
    ),
    (_robots("User-agent: *\nDisallow:\n"),),
)

_FORUM = _Site(
    "forum",
    "Talk Commons",
    (
        _Page("/", "en"),
        _Page("/threads/welcome", "en"),
        _Page("/threads/wandern", "de"),
        _Page("/threads/garden-tips", "en"),
        _Page(
            "/wiki/closed-rules",
            "en",
            headers=(("Content-Usage", "train-ai=n"),),
            reserved=_r(CONTENT_USAGE_HEADER, "train-ai=n"),
        ),
        _Page(
            "/wiki/closed-regeln",
            "de",
            headers=(("Content-Usage", "train-ai=n"),),
            reserved=_r(CONTENT_USAGE_HEADER, "train-ai=n"),
        ),
        _Page("/wiki/open", "en", headers=(("Content-Usage", "train-ai=y"),), note="explicitly allowed"),
        _Page("/wiki/faq", "de"),
    ),
    (
        _robots("User-agent: *\nAllow: /\n"),
        _File(
            "/ai.txt",
            200,
            "text/plain; charset=utf-8",
            "# Spawning ai.txt\nUser-Agent: *\nDisallow: /threads/\nAllow: /\n",
        ),
    ),
    (("/threads/", _r(AI_TXT, "User-Agent: * / Disallow: /threads/")[0]),),
)

_LAB = _Site(
    "lab",
    "Open Lab Journal",
    (
        _Page("/", "en"),
        _Page("/notes/sensors", "en"),
        _Page("/notes/misure", "it"),
        _Page("/notes/archive", "en"),
        _Page(
            "/notes/yes",
            "en",
            headers=(("Content-Usage", "train-ai=y"),),
            note="header says y, robots.txt says n: most restrictive wins",
        ),
    ),
    (
        _robots(
            "User-agent: *\nAllow: /\nContent-Usage: train-ai=n\nContent-Signal: search=yes, ai-train=no\n",
        ),
    ),
    (
        ("/", Reservation(CONTENT_USAGE_ROBOTS, ("*",), "Content-Usage: train-ai=n")),
        ("/", Reservation(CONTENT_SIGNAL, ("*",), "Content-Signal: ai-train=no")),
    ),
)

_VAULT = _Site(
    "vault",
    "Quiet Vault",
    tuple(_Page(p, "en") for p in ("/", "/docs/one", "/docs/two", "/docs/three", "/docs/four")),
    (_robots("Service Unavailable\n", status=503, note="5xx → disallow all"),),
    (("/", _r(ROBOTS_5XX, "robots.txt 503 → disallow all (RFC 9309)")[0]),),
)

SITES: tuple[_Site, ...] = (_NEWS, _BLOG, _MIRROR, _PUBLISHER, _ARCHIVE, _MAGAZINE, _FORUM, _LAB, _VAULT)
_SITE_BY_NAME = {s.name: s for s in SITES}


def _build_ground_truth() -> dict[tuple[str, str], Expected]:
    table: dict[tuple[str, str], Expected] = {}
    for site in SITES:
        for f in site.files:
            table[site.name, f.path] = Expected(
                site.name, f.path, SITE_FILE, f.status, content_type=f.content_type, note=f.note
            )
        for p in site.pages:
            reserved = tuple(r for prefix, r in site.rules if p.path.startswith(prefix)) + p.reserved
            content_type = "application/pdf" if p.special == "pdf" else "text/html; charset=utf-8"
            if p.special == "broken-charset":
                content_type = "text/html"
            table[site.name, p.path] = Expected(
                site.name,
                p.path,
                p.kind,
                p.status,
                p.language if p.kind == PAGE else None,
                content_type,
                reserved,
                p.headers,
                p.meta,
                p.location,
                p.copy_of,
                (p.near[0], p.near[1]) if p.near else None,
                p.emails,
                p.note,
                tuple(r for prefix, r in site.strict_rules if p.path.startswith(prefix)),
            )
    return table


GROUND_TRUTH: dict[tuple[str, str], Expected] = _build_ground_truth()


# ---------------------------------------------------------------- rendering


def _paragraphs(site: str, page: _Page) -> tuple[str, tuple[str, ...]]:
    """(title, paragraphs) of a page; copies take their source's text."""
    if page.copy_of:
        src = make_page(SEED, page.copy_of[0] + page.copy_of[1], page.language or "en")
        return src.title, src.paragraphs
    if page.near:
        src = make_page(SEED, page.near[0] + page.near[1], page.language or "en")
        paras = list(src.paragraphs)
        if page.near[2] == "append":
            extra = make_page(SEED, site + page.path, page.language or "en", paragraphs=1).paragraphs[0]
            paras[-1] = paras[-1] + " " + extra.split(". ")[0].rstrip(".") + "."
        else:
            last = paras[-1].split(". ")
            paras[-1] = ". ".join(last[:-1]).rstrip(".") + "."
        return src.title, tuple(paras)
    if page.special == "spam":
        words = ["cheap", "pills", "best", "price", "buy", "now", "click", "here", "free", "casino", "bonus", "win"]
        spam = " ".join(words[i % len(words)] for i in range(400))
        return "BUY NOW cheap pills free casino", (spam.upper(), spam, spam)
    n = HUGE_PARAGRAPHS if page.special == "huge" else 5
    pg = make_page(SEED, site + page.path, page.language or "en", paragraphs=n)
    return pg.title, pg.paragraphs


def _links(site: _Site, page: _Page) -> list[tuple[str, str]]:
    """Home links to every linked URL; every other page links home and to the next page."""
    linked = [p for p in site.pages if p.linked and p.path != "/"]
    if page.path == "/":
        return [(p.path, p.path.strip("/").replace("/", " › ") or "home") for p in linked]
    out = [("/", "Home")]
    html_pages = [p for p in site.pages if p.kind == PAGE]
    i = next((k for k, p in enumerate(html_pages) if p.path == page.path), None)
    if i is not None and i + 1 < len(html_pages):
        out.append((html_pages[i + 1].path, "Next"))
    return out


def _render(site: _Site, page: _Page) -> bytes:
    title, paras = _paragraphs(site.name, page)
    lang = page.language or "en"
    charset = "utf-8"
    metas = "".join(f'<meta name="{html.escape(n)}" content="{html.escape(c)}">' for n, c in page.meta)
    body = "\n".join(f"<p>{html.escape(p)}</p>" for p in paras)
    if page.emails:
        body += "\n<p>" + " · ".join(f'<a href="mailto:{e}">{e}</a>' for e in page.emails) + "</p>"
    nav = " | ".join(f'<a href="{html.escape(h)}">{html.escape(t)}</a>' for h, t in _links(site, page))
    text = (
        f'<!DOCTYPE html>\n<html lang="{lang}"><head><meta charset="{charset}">{metas}'
        f"<title>{html.escape(title)}</title></head><body>\n"
        f"<header>{html.escape(site.title)}</header>\n<nav>{nav}</nav>\n"
        f"<article><h1>{html.escape(title)}</h1>\n{body}\n</article>\n"
        f"<footer>© {html.escape(site.title)}</footer>\n</body></html>\n"
    )
    if page.special == "broken-charset":
        return text.encode("latin-1", errors="replace")
    return text.encode("utf-8")


def _pdf(seed_text: str) -> bytes:
    """A tiny but well-formed one-page PDF."""
    content = f"BT /F1 12 Tf 72 720 Td ({seed_text}) Tj ET".encode("latin-1")
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(content)).encode() + b" >>\nstream\n" + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, obj in enumerate(objs, 1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n".encode() + obj + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += f"trailer\n<< /Size {len(objs) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


@dataclass(frozen=True)
class _Response:
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    delay: float = 0.0


_NOT_FOUND_BODY = b"<!DOCTYPE html>\n<html><head><title>404</title></head><body><h1>Not found</h1></body></html>\n"


@functools.cache
def site_responses(name: str) -> dict[str, _Response]:
    """Every response of a site by path (computed once; byte-identical across starts)."""
    site = _SITE_BY_NAME[name]
    out: dict[str, _Response] = {}
    for f in site.files:
        out[f.path] = _Response(f.status, (("Content-Type", f.content_type),), f.body.encode("utf-8"))
    for p in site.pages:
        exp = GROUND_TRUTH[name, p.path]
        if p.kind == REDIRECT:
            out[p.path] = _Response(p.status, (("Location", p.location or "/"), ("Content-Type", "text/plain")), b"")
        elif p.kind == NOT_FOUND:
            out[p.path] = _Response(404, (("Content-Type", "text/html; charset=utf-8"),), _NOT_FOUND_BODY)
        elif p.special == "pdf":
            out[p.path] = _Response(200, (("Content-Type", exp.content_type),), _pdf(f"{name}{p.path}"))
        else:
            headers = (("Content-Type", exp.content_type), *p.headers)
            delay = SLOW_SECONDS if p.special == "slow" else 0.0
            out[p.path] = _Response(200, headers, _render(site, p), delay)
    return out


# ---------------------------------------------------------------- serving


@dataclass(frozen=True)
class RequestLogEntry:
    site: str
    method: str
    path: str
    user_agent: str
    status: int
    time: float


class _Handler(BaseHTTPRequestHandler):
    server_version = "AperturaSampleWeb/1"
    protocol_version = "HTTP/1.1"
    site_name = ""
    log: list[RequestLogEntry]
    log_lock: threading.Lock

    def log_message(self, format, *args) -> None:  # keep test and demo output clean
        pass

    def version_string(self) -> str:
        return self.server_version

    def setup(self) -> None:
        super().setup()
        # headers and body go out in two writes: without this, delayed ACKs add ~40 ms per request
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _serve(self, with_body: bool) -> None:
        path = urlsplit(self.path).path or "/"
        resp = site_responses(self.site_name).get(path)
        if resp is None:
            resp = _Response(404, (("Content-Type", "text/html; charset=utf-8"),), _NOT_FOUND_BODY)
        with self.log_lock:
            self.log.append(
                RequestLogEntry(
                    self.site_name,
                    self.command,
                    self.path,
                    self.headers.get("User-Agent", ""),
                    resp.status,
                    time.time(),
                )
            )
        if resp.delay:
            time.sleep(resp.delay)
        self.send_response(resp.status)
        for k, v in resp.headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(resp.body)))
        self.end_headers()
        if with_body:
            self.wfile.write(resp.body)

    def do_GET(self) -> None:
        self._serve(True)

    def do_HEAD(self) -> None:
        self._serve(False)


class _SiteServer(ThreadingHTTPServer):
    """One sample site; a client that hangs up mid-request (a crawler's size limit, a timeout) is not the site's
    error, so it is not printed as a traceback on stderr (where it mixed into the crawl CLI's own output)."""

    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@dataclass
class SampleWeb:
    """Running sample web: ``sites`` maps site name to base URL (no trailing slash)."""

    sites: dict[str, str]
    ground_truth: dict[str, Expected]  # full URL -> Expected
    requests: list[RequestLogEntry] = field(default_factory=list)
    _servers: list[ThreadingHTTPServer] = field(default_factory=list, repr=False)
    _threads: list[threading.Thread] = field(default_factory=list, repr=False)

    def url(self, site: str, path: str = "/") -> str:
        return self.sites[site] + path

    def seeds(self) -> list[str]:
        return [base + "/" for base in self.sites.values()]

    def stop(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._servers.clear()
        self._threads.clear()

    def __enter__(self) -> SampleWeb:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def start_sample_web(base_port: int | None = None, host: str = "127.0.0.1") -> SampleWeb:
    """Start one server per site (``base_port + i``, or free ports when None) and return at once."""
    log: list[RequestLogEntry] = []
    lock = threading.Lock()
    web = SampleWeb({}, {}, log)
    try:
        for i, site in enumerate(SITES):
            site_responses(site.name)  # render before serving
            handler = type(f"_Handler_{site.name}", (_Handler,), {"site_name": site.name, "log": log, "log_lock": lock})
            port = 0 if base_port is None else base_port + i
            server = _SiteServer((host, port), handler)
            thread = threading.Thread(
                target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=f"sample-web-{site.name}", daemon=True
            )
            thread.start()
            web._servers.append(server)
            web._threads.append(thread)
            web.sites[site.name] = f"http://{host}:{server.server_address[1]}"
    except BaseException:
        web.stop()
        raise
    web.ground_truth.update({web.url(s, p): e for (s, p), e in GROUND_TRUTH.items()})
    return web


def serve_sample_web(base_port: int | None = None) -> SampleWeb:
    """``with serve_sample_web() as web: ...``: started servers, stopped on exit (or ``web.stop()``)."""
    return start_sample_web(base_port)


def iter_expected(site: str | None = None, kind: str | None = None) -> Iterator[Expected]:
    for e in GROUND_TRUTH.values():
        if (site is None or e.site == site) and (kind is None or e.kind == kind):
            yield e

"""The family declarations' glue (`pipeline/optout/families.py`): each site file's fetch reaches its parser whole
(status, body, URL, time, media type), each decider reads the page's own URL, and what the rest of the project
derives from `FAMILIES` (the order decisions are asked in, the site files, which URL is a site file, the ledger
reasons) is what the declarations say. Expected values come from the fetch built here and from hashlib."""

from __future__ import annotations

import hashlib

import pytest

from pipeline.optout import families
from pipeline.optout.families import Fetch, Page, family_at, reason_for, site_file_family, site_files

WHEN = "2026-12-01T08:00:00Z"
ROBOTS_URL, TDMREP_URL, AITXT_URL = (
    "https://e.test/robots.txt", "https://e.test/.well-known/tdmrep.json", "https://e.test/ai.txt"
)  # fmt: skip


def _parse(path: str, fetch: Fetch) -> tuple[str, str, object]:
    family = family_at(path)
    assert family is not None and family.site_file is not None
    return family.site_file.parse(fetch)


def test_a_robots_txt_left_on_a_redirect_is_unreachable_and_keeps_its_fetch() -> None:
    """A final 3xx (300 included: RFC 9309 2.3.1.2 after too many hops) disallows all; the rule is the outcome as
    the parser words it, and the evidence keeps the fetch's URL, time and body digest."""
    body = b"<html>moved</html>"
    for status in (300, 301, 399):
        verdict, rule, rules = _parse("/robots.txt", Fetch(ROBOTS_URL, status, body, "text/html", WHEN, 6))
        assert (verdict, rule) == ("unreachable", "unreachable (more than 5 redirects)")
        assert (rules.mode, rules.url, rules.fetched_at) == ("disallow_all", ROBOTS_URL, WHEN)
        assert rules.sha256 == hashlib.sha256(body).hexdigest()
    verdict, rule, rules = _parse("/robots.txt", Fetch(ROBOTS_URL, 300, body, None, WHEN, 1))
    assert (verdict, rule, rules.mode) == ("unreachable", "unreachable (HTTP 300)", "disallow_all")
    assert (rules.url, rules.fetched_at, rules.sha256) == (ROBOTS_URL, WHEN, hashlib.sha256(body).hexdigest())


def test_a_robots_txt_fetch_reaches_its_parser_whole() -> None:
    body = b"User-agent: *\nDisallow: /private/\n"
    verdict, rule, rules = _parse("/robots.txt", Fetch(ROBOTS_URL, 200, body, "text/plain", WHEN))
    assert (verdict, rules.mode, rules.url, rules.fetched_at) == ("observed", "rules", ROBOTS_URL, WHEN)
    assert rule == f"{rules.outcome} (rules)" and rules.sha256 == hashlib.sha256(body).hexdigest()
    verdict, _, rules = _parse("/robots.txt", Fetch(ROBOTS_URL, 200, body, "text/html; charset=utf-8", WHEN))
    assert verdict == "malformed" and rules.outcome.startswith("html")  # the media type reached the parser


def test_a_usage_line_scoped_to_a_path_decides_by_the_pages_own_url() -> None:
    (_, _, rules) = _parse(
        "/robots.txt", Fetch(ROBOTS_URL, 200, b"User-agent: *\nContent-Usage: /private/ train-ai=n\n", None, WHEN)
    )
    robots_family = family_at("/robots.txt")
    assert robots_family is not None and robots_family.decide is not None

    def usage(url: str) -> bool:
        _, usage_decisions = robots_family.decide(Page(url, ["GPTBot"]), (rules,))
        return usage_decisions[0].allowed

    assert usage("https://e.test/public/a") and not usage("https://e.test/private/a")


def test_a_tdmrep_json_keeps_its_fetch_and_names_every_protocol_error() -> None:
    body = b'[{"location": "/a", "tdm-reservation": 1}, 5, "x"]'
    verdict, rule, parsed = _parse("/.well-known/tdmrep.json", Fetch(TDMREP_URL, 200, body, None, WHEN))
    assert (parsed.url, parsed.fetched_at, parsed.sha256) == (TDMREP_URL, WHEN, hashlib.sha256(body).hexdigest())
    assert len(parsed.errors) == 2 and verdict == "observed"
    assert rule == f"3 location rules; protocol error in {parsed.errors[0]}; protocol error in {parsed.errors[1]}"


def test_a_tdmrep_json_without_a_body_is_the_empty_file() -> None:
    verdict, rule, parsed = _parse("/.well-known/tdmrep.json", Fetch(TDMREP_URL, 200, None, None, WHEN))
    assert verdict == "malformed" and rule == parsed.malformed and rule.startswith("invalid JSON")
    assert parsed.sha256 == hashlib.sha256(b"").hexdigest() and parsed.fetched_at == WHEN


def test_an_ai_txt_fetch_reaches_its_parser_whole() -> None:
    body = b"User-agent: *\nDisallow: /\n"
    verdict, rule, rules = _parse("/ai.txt", Fetch(AITXT_URL, 200, body, "text/plain", WHEN))
    assert (verdict, rule, rules.url, rules.fetched_at) == ("observed", "1 groups", AITXT_URL, WHEN)
    _, rule, rules = _parse("/ai.txt", Fetch(AITXT_URL, 200, body, "text/html", WHEN))
    assert rule == "0 groups" and rules.outcome.startswith("html")  # served as a web page: no rules


def test_families_without_a_site_file_are_asked_first_each_group_in_declaration_order() -> None:
    """A page's own statement names a removal before its site's (the module's stated order)."""
    names = [f.name for f in families.deciding()]
    own = [f.name for f in families.FAMILIES if f.decide is not None and f.site_file is None]
    with_file = [f.name for f in families.FAMILIES if f.decide is not None and f.site_file is not None]
    assert own and with_file and names == own + with_file


def test_the_site_files_are_the_declared_ones_robots_txt_first() -> None:
    declared = [f.site_file.path for f in families.FAMILIES if f.site_file is not None]
    assert [s.path for s in site_files()] == declared and declared[0] == "/robots.txt" and len(declared) == 3
    assert families.after_robots() == tuple(declared[1:])


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("https://e.test/robots.txt", "/robots.txt"),
        ("https://e.test/.well-known/tdmrep.json", "/.well-known/tdmrep.json"),
        ("https://e.test/robots.txt?x=1", None),  # a query: a page, not the site file
        ("https://e.test/robots.txt#/ai.txt/.well-known/tdmrep.json", "/robots.txt"),  # the cheap test only filters
        ("https://e.test/docs/robots.txt", None),
        ("https://e.test/", None),
        ("", None),
        (None, None),
    ],
)
def test_a_site_file_is_known_by_its_url_path_without_a_query(url: str | None, path: str | None) -> None:
    family = site_file_family(url)
    assert (family.site_file.path if family and family.site_file else None) == path


@pytest.mark.parametrize(
    ("signal", "reason"),
    [("ai.txt", "optout_ai_txt"), ("content-signal", "optout_content_signal"), ("robots", "optout_robots")],
)
def test_a_signals_ledger_reason_replaces_dots_and_hyphens(signal: str, reason: str) -> None:
    assert reason_for(signal) == reason

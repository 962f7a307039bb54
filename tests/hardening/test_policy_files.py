"""Hostile robots.txt / ai.txt / tdmrep.json / headers / HTML: the opt-out parsers never raise, finish in
bounded time, and a crawl carrying such files still becomes a verified release."""

from __future__ import annotations

import polars as pl
import pytest

from pipeline.optout import aipref, aitxt, noai, robots, tdmrep
from pipeline.optout.explain import explain
from tests.hardening.support import build_variants, deadline, rows
from tests.helpers.corrupt import ROBOTS_OK, TDMREP_OK, Variant, policy_warc, robots_variants, spans_of, tdmrep_variants

ROBOTS = robots_variants()
TDMREP = tdmrep_variants()
AGENTS = ("GPTBot", "CCBot", "AperturaBot", "*")
URLS = (
    "https://e.test/",
    "https://e.test/private/x",
    "https://e.test/reserved/a.pdf",
    "https://e.test/" + "a*" * 2000 + "b",
    "https://[broken/private/x",
    "https://e.test/%zz/\udcff?q=1#frag",
)


@pytest.mark.parametrize("name", sorted(ROBOTS))
@pytest.mark.parametrize("content_type", [None, "text/plain", "text/html; charset=utf-8"])
def test_robots_and_ai_txt_never_raise(name, content_type):
    body = ROBOTS[name]
    with deadline(5, f"robots {name}", cpu=True):
        for parsed in (
            robots.from_fetch(200, body, content_type=content_type),
            robots.parse(body.decode("utf-8", "surrogateescape")),
            aitxt.parse(body, content_type=content_type),
        ):
            for url in URLS:
                for d in (*robots.decide(parsed, url, AGENTS), *robots.decide_usage(parsed, url, AGENTS)):
                    assert isinstance(d.allowed, bool) and d.rule
    if name in ("bom", "cr-only", "crlf") and content_type != "text/html; charset=utf-8":
        same = robots.from_fetch(200, ROBOTS_OK)
        for url in URLS[:3]:
            assert [d.allowed for d in robots.decide(parsed, url, AGENTS)] == [
                d.allowed for d in robots.decide(same, url, AGENTS)
            ]
    if name.startswith("html") or content_type == "text/html; charset=utf-8":
        assert robots.from_fetch(200, body, content_type=content_type).mode == "allow_all"
    if name == "ten-megabytes":
        assert robots.from_fetch(200, body).truncated


@pytest.mark.parametrize("name", sorted(TDMREP))
def test_tdmrep_never_raises(name):
    body = TDMREP[name]
    with deadline(5, f"tdmrep {name}", cpu=True):
        parsed = tdmrep.parse_file(body)
        for url in URLS:
            (d,) = tdmrep.decide(url, ["GPTBot"], well_known=parsed)
            assert isinstance(d.allowed, bool) and d.rule
    broken_entries = ("list-of-lists", "location-number", "reservation-bool", "reservation-2", "reservation-float",
                      "nan")  # fmt: skip
    if name in ("valid", "bom", "huge-but-small-enough", "location-stars", "surrogate-escape"):
        assert parsed.malformed is None and parsed.rules and not parsed.errors, name
    elif name in (*broken_entries, "policy-number"):
        assert parsed.malformed is None and parsed.errors, name  # usable file, broken entry
    else:
        assert parsed.malformed and not parsed.rules, name
    if parsed.malformed or name in broken_entries:  # TDMRep: a protocol error leaves tdm-reservation unset ...
        assert tdmrep.decide("https://e.test/x", ["a"], well_known=parsed)[0].allowed
        # ... unless the config treats protocol errors as reservations
        assert not tdmrep.decide("https://e.test/x", ["a"], well_known=parsed, malformed_tdmrep="reserved")[0].allowed


HOSTILE_HEADERS = [
    ("X-Robots-Tag", "GPTBot: noai, noimageai"),
    ("X-Robots-Tag", ":" * 10_000),
    ("X-Robots-Tag", "noai\x00\r\n" * 1000),
    ("X-Robots-Tag", "unavailable_after: 25 Jun 2010 15:00:00 PST, noai"),
    ("Content-Usage", "train-ai=n;" * 5000),
    ("Content-Usage", ",=,=" * 10_000),
    ("tdm-reservation", "1" * 10_000),
    ("tdm-reservation", "\udcff"),
    ("tdm-policy", ""),
]
HOSTILE_HTML = [
    b"",
    b"<meta name=robots content=noai>",
    b"<meta " * 100_000,
    b"<meta name='tdm-reservation' content='1'" + b" a=b" * 50_000,
    b"<head>" + b'<meta name="robots" content="noai, noimageai">' * 20_000 + b"</head>",
    bytes(range(256)) * 4000,
    b"<meta name=" + b"x" * 600_000 + b" content=noai>",
]


@pytest.mark.parametrize("html", HOSTILE_HTML, ids=range(len(HOSTILE_HTML)))
def test_header_and_meta_signals_never_raise(html):
    with deadline(5, "noai / aipref / tdmrep meta", cpu=True):
        for d in (
            *noai.decide(AGENTS, headers=HOSTILE_HEADERS, html=html),
            *aipref.decide_header(HOSTILE_HEADERS, AGENTS),
            *tdmrep.decide("https://e.test/x", AGENTS, headers=HOSTILE_HEADERS, html=html),
        ):
            assert isinstance(d.allowed, bool) and d.rule
        # the first header reserves GPTBot through noai, whatever else is there
        assert not noai.decide(["GPTBot"], headers=HOSTILE_HEADERS, html=html)[0].allowed


def test_explain_on_every_hostile_file():
    with deadline(30, "explain over every combination"):
        for rname, rbody in ROBOTS.items():
            for tname, tbody in TDMREP.items():
                if rname not in ("valid", "bom", "binary", "html", "cr-only") and tname not in ("valid", "object"):
                    continue
                files = {"/.well-known/tdmrep.json": tbody, "/ai.txt": rbody}
                verdicts = explain(URLS[1], list(AGENTS), robots_txt=rbody, files=files, html=HOSTILE_HTML[1])
                assert [v.agent for v in verdicts] == list(AGENTS)
                assert all(v.reserved for v in verdicts)  # the meta noai reserves for everyone


def test_crawl_with_hostile_policy_files_becomes_a_release(tmp_path):
    """Two crawls: one site per hostile robots.txt (also served as its ai.txt), one per hostile tdmrep.json."""
    robots_sites = [(f"r{i}.test", body, TDMREP_OK, body) for i, body in enumerate(ROBOTS.values())]
    plain = b"User-agent: *\nDisallow: /private/\n"
    tdmrep_sites = [(f"t{i}.test", plain, body, b"") for i, body in enumerate(TDMREP.values())]
    variants = []
    for name, sites in (("robots", robots_sites), ("tdmrep", tdmrep_sites)):
        path = policy_warc(tmp_path / f"{name}.warc.gz", sites)
        data = path.read_bytes()
        variants.append(Variant(f"policy:{name}", "policy", data, ".warc.gz", spans_of(data, path), None))
    out = tmp_path / "releases" / "policies"
    manifest = build_variants(variants, tmp_path / "in", out, seconds=120)
    assert [e["eligible"] for e in manifest["inputs"]] == [6 * len(ROBOTS), 6 * len(TDMREP)]
    ledger = rows(out, "ledger")
    reasons = dict(zip(ledger["url"].to_list(), ledger["reason"].to_list(), strict=True))
    valid = list(ROBOTS).index("valid")
    assert reasons[f"http://r{valid}.test/reserved/page/2"].startswith("optout_")
    assert reasons[f"http://r{valid}.test/page/0"].startswith("optout_")  # Content-Usage: train-ai=n for '*'
    truncated = list(TDMREP).index("truncated")
    assert not reasons.get(f"http://t{truncated}.test/page/0", "").startswith("optout_")  # protocol error: unset
    files = rows(out, "optout_evidence").filter(pl.col("kind") == "policy_file")
    verdicts = {u: (v, r) for u, v, r in files.select("url", "verdict", "rule").iter_rows()}
    assert verdicts[f"http://t{truncated}.test/.well-known/tdmrep.json"][0] == "malformed"  # an auditor sees it
    bad_entry = list(TDMREP).index("reservation-2")
    verdict, rule = verdicts[f"http://t{bad_entry}.test/.well-known/tdmrep.json"]
    assert verdict == "observed"
    assert rule == "1 location rules; protocol error in entry 0: 'tdm-reservation' must be 0 or 1, got 2"
    valid = list(TDMREP).index("valid")
    assert reasons[f"http://t{valid}.test/reserved/page/2"] == "optout_tdmrep"
    assert reasons[f"http://t{valid}.test/private/page/1"] == "optout_robots"
    assert not reasons.get(f"http://t{valid}.test/page/0", "").startswith("optout_")

"""W3C TDMRep: headers, HTML meta, /.well-known/tdmrep.json, precedence and malformed files."""

from __future__ import annotations

import json

import pytest

from pipeline.optout import tdmrep

# Shaped like the TDMRep final report's tdmrep.json example: an array of location rules.
WELL_KNOWN = json.dumps(
    [
        {"location": "/images/*", "tdm-reservation": 1, "tdm-policy": "https://provider.com/policies/policy.json"},
        {"location": "/news/*.html", "tdm-reservation": 1},
        {"location": "/", "tdm-reservation": 0},
    ]
).encode()
AGENTS = ["GPTBot", "CCBot"]


def decide(url="https://e.org/page", **kwargs):
    return tdmrep.decide(url, AGENTS, **kwargs)


def test_http_headers():
    # TDMRep "TDM Header Field in HTTP Responses": tdm-reservation: 1 and tdm-policy: <url>.
    headers = {"tdm-reservation": "1", "tdm-policy": "https://provider.com/policies/policy.json"}
    d = decide(headers=headers)
    assert [x.allowed for x in d] == [False, False]
    assert d[0].rule == "tdm-reservation: 1, tdm-policy: https://provider.com/policies/policy.json (http-header)"
    assert decide(headers={"TDM-Reservation": "0"})[0].allowed


def test_html_meta():
    # TDMRep "TDM Metadata in HTML Content".
    html = b'<html><head><meta name="tdm-reservation" content="1"><meta name="tdm-policy" content="https://p/1">'
    d = decide(html=html)[0]
    assert not d.allowed and d.rule.startswith('<meta name="tdm-reservation" content="1">, tdm-policy https://p/1')
    assert d.evidence[0].where == "html-meta"


def test_well_known_locations_first_match():
    wk = tdmrep.parse_file(WELL_KNOWN, url="https://e.org/.well-known/tdmrep.json")
    assert wk.malformed is None and len(wk.rules) == 3
    img = decide("https://e.org/images/a.jpg", well_known=wk)[0]
    assert not img.allowed and "location '/images/*'" in img.rule
    assert not decide("https://e.org/news/2024/a.html", well_known=wk)[0].allowed
    assert decide("https://e.org/news/2024/a.json", well_known=wk)[0].allowed
    about = decide("https://e.org/about", well_known=wk)[0]
    assert about.allowed and "location '/'" in about.rule


def test_precedence_meta_over_header_over_well_known():
    wk = tdmrep.parse_file(b'[{"location": "/", "tdm-reservation": 1}]')
    assert decide(headers={"tdm-reservation": "0"}, well_known=wk)[0].allowed
    assert not decide(html=b'<meta name="tdm-reservation" content="1">', headers={"tdm-reservation": "0"})[0].allowed
    d = decide(html=b'<meta name="tdm-reservation" content="0">', headers={"tdm-reservation": "1"})[0]
    assert d.allowed and len(d.evidence) == 2  # both seen, meta decided


def test_invalid_header_value_is_ignored_but_recorded():
    d = decide(headers={"tdm-reservation": "yes"})[0]
    assert d.allowed and d.rule == "no TDM reservation" and d.evidence[0].seen == "tdm-reservation: yes"


def test_nothing_means_allowed():
    assert decide()[0].rule == "no TDM reservation"


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (WELL_KNOWN[:40], "invalid JSON"),  # truncated
        (b'{"location": "/", "tdm-reservation": 1}', "expected a JSON array"),  # wrong type
        (b'[{"location": "/", "tdm-reservation": "maybe"}]', "tdm-reservation"),
        (b"[1, 2]", "expected an object"),
        (b"[" * 100_000, "invalid JSON"),  # deep nesting
        (b"\xff\xfe garbage", "invalid JSON"),
        (b'[{"location": "/", "tdm-reservation": 0}' + b" " * (2 * 1024 * 1024) + b"]", "file too large"),
    ],
)
def test_malformed_file_follows_the_default(body, error):
    wk = tdmrep.parse_file(body)
    assert wk.malformed is not None and error in wk.malformed
    reserved = decide(well_known=wk)[0]
    assert not reserved.allowed and "default reserved" in reserved.rule
    assert reserved.evidence[0].seen.startswith("malformed:")
    assert decide(well_known=wk, malformed_default="allowed")[0].allowed


def test_header_still_decides_over_malformed_file():
    wk = tdmrep.parse_file(b"not json")
    assert decide(headers={"tdm-reservation": "0"}, well_known=wk)[0].allowed

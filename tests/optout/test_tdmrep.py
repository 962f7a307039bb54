"""W3C TDMRep (Community Group final report): headers, HTML meta, /.well-known/tdmrep.json, processing
priority, and protocol errors (the spec: tdm-reservation unset; by config choice: reserved)."""

from __future__ import annotations

import hashlib
import json

import pytest
from pydantic import ValidationError

from pipeline.config import OptoutConfig, RunConfig
from pipeline.optout import tdmrep

# Shaped like the TDMRep final report's tdmrep.json example: an array of location rules.
WELL_KNOWN = json.dumps(
    [
        {"location": "/images/*", "tdm-reservation": 1, "tdm-policy": "https://provider.com/policies/policy.json"},
        {"location": "/news/*.html", "tdm-reservation": 1},
        {"location": "/", "tdm-reservation": 0},
    ]
).encode()
# The final report's second tdmrep.json example, verbatim ("TDM File on the Origin Server", Examples).
SPEC_EXAMPLE = b"""[
  {"location": "/directory-a/", "tdm-reservation": 1},
  {"location": "/directory-b/html/", "tdm-reservation": 1, "tdm-policy":"https://provider.com/policies/policy.json"},
  {"location": "/directory-b/images/*.jpg", "tdm-reservation": 0}
]"""
AGENTS = ["GPTBot", "CCBot"]


def decide(url="https://e.org/page", **kwargs):
    return tdmrep.decide(url, AGENTS, **kwargs)


def well_known(entries) -> tdmrep.TdmrepFile:
    return tdmrep.parse_file(json.dumps(entries).encode(), url="https://e.org/.well-known/tdmrep.json")


def test_http_headers():
    # TDMRep "TDM Header Field in HTTP Responses": tdm-reservation: 1 and tdm-policy: <url>.
    headers = {"tdm-reservation": "1", "tdm-policy": "https://provider.com/policies/policy.json"}
    d = decide(headers=headers)
    assert [x.allowed for x in d] == [False, False]
    assert d[0].rule == "tdm-reservation: 1, tdm-policy https://provider.com/policies/policy.json (http-header)"
    assert decide(headers={"TDM-Reservation": "0"})[0].allowed


def test_html_meta():
    # TDMRep "TDM Metadata in HTML Content".
    html = b'<html><head><meta name="tdm-reservation" content="1"><meta name="tdm-policy" content="https://p/1">'
    d = decide(html=html)[0]
    assert not d.allowed and d.rule == '<meta name="tdm-reservation" content="1">, tdm-policy https://p/1 (html-meta)'
    assert d.evidence[0].where == "html-meta"


def test_well_known_locations_first_match():
    wk = tdmrep.parse_file(WELL_KNOWN, url="https://e.org/.well-known/tdmrep.json")
    assert wk.malformed is None and not wk.errors and len(wk.rules) == 3
    img = decide("https://e.org/images/a.jpg", well_known=wk)[0]
    assert not img.allowed and "location '/images/*'" in img.rule
    assert not decide("https://e.org/news/2024/a.html", well_known=wk)[0].allowed
    assert decide("https://e.org/news/2024/a.json", well_known=wk)[0].allowed
    about = decide("https://e.org/about", well_known=wk)[0]
    assert about.allowed and "location '/'" in about.rule


@pytest.mark.parametrize(
    ("path", "allowed", "rule"),
    [
        ("/directory-a/report.pdf", False, "tdmrep.json location '/directory-a/' tdm-reservation 1 (tdmrep.json)"),
        (
            "/directory-b/html/page.html",
            False,
            "tdmrep.json location '/directory-b/html/' tdm-reservation 1, "
            "tdm-policy https://provider.com/policies/policy.json (tdmrep.json)",
        ),
        ("/directory-b/images/cat.jpg", True, "tdmrep.json location '/directory-b/images/*.jpg' tdm-reservation 0 "),
        ("/directory-b/images/cat.png", True, "no TDM reservation"),  # no match: unset
    ],
)
def test_spec_example_file(path, allowed, rule):
    d = decide("https://provider.com" + path, well_known=tdmrep.parse_file(SPEC_EXAMPLE))[0]
    assert d.allowed is allowed and d.rule.startswith(rule.rstrip()), d.rule


def test_the_first_matching_entry_decides():
    # "The most specific match is the first in sequence": a later, longer location does not win.
    wk = well_known([{"location": "/", "tdm-reservation": 0}, {"location": "/private/", "tdm-reservation": 1}])
    assert decide("https://e.org/private/x", well_known=wk)[0].allowed


def test_percent_encoded_location_matches_like_a_robots_path():
    # The spec's own example: pattern /path/foo-%24 covers https://provider.com/path/foo-$ ('$' matched verbatim).
    wk = well_known([{"location": "/path/foo-%24", "tdm-reservation": 1}])
    assert not decide("https://provider.com/path/foo-$", well_known=wk)[0].allowed
    assert not decide("https://provider.com/path/foo-%24", well_known=wk)[0].allowed
    assert decide("https://provider.com/path/foo-", well_known=wk)[0].allowed  # '%24' is no end anchor
    # RFC 9309 2.2.2, which the report points to: an escaped unreserved octet is decoded.
    assert not decide("https://e.org/baz/1", well_known=well_known([{"location": "/%62az/", "tdm-reservation": 1}]))[
        0
    ].allowed


def test_precedence_and_absence_resets_nothing():
    # Processing priority: tdmrep.json < HTTP header < HTML meta; a source that says nothing changes nothing.
    wk = well_known([{"location": "/", "tdm-reservation": 1, "tdm-policy": "https://p/file"}])
    assert not decide(well_known=wk, headers={"other": "x"}, html=b"<meta name=x content=y>")[0].allowed
    assert decide(headers={"tdm-reservation": "0"}, well_known=wk)[0].allowed
    assert not decide(html=b'<meta name="tdm-reservation" content="1">', headers={"tdm-reservation": "0"})[0].allowed
    d = decide(html=b'<meta name="tdm-reservation" content="0">', headers={"tdm-reservation": "1"})[0]
    assert d.allowed and len(d.evidence) == 2 and d.evidence[0].where == "html-meta"  # both seen, meta decided
    # A later reservation without a policy keeps the earlier policy, and says where it came from.
    d = decide(well_known=wk, headers={"tdm-reservation": "1"})[0]
    assert d.rule == "tdm-reservation: 1, tdm-policy https://p/file (tdmrep.json) (http-header)"
    d = decide(well_known=well_known([{"location": "/", "tdm-reservation": 1}]), headers={"tdm-policy": "https://h"})[0]
    assert not d.allowed and "tdm-policy https://h (http-header)" in d.rule


def test_policy_is_only_reported_with_a_reservation():
    # "TDM Agents SHOULD NOT process tdm-policy" when tdm-reservation is 0.
    cases = [
        {"headers": {"tdm-reservation": "0", "tdm-policy": "https://p"}},
        {"html": b'<meta name="tdm-reservation" content="0"><meta name="tdm-policy" content="https://p">'},
        {"well_known": well_known([{"location": "/", "tdm-reservation": 0, "tdm-policy": "https://p"}])},
        {"well_known": well_known([{"location": "/", "tdm-reservation": 1, "tdm-policy": "https://p"}]),
         "headers": {"tdm-reservation": "0"}},
    ]  # fmt: skip
    for kwargs in cases:
        d = decide(**kwargs)[0]
        assert d.allowed and "policy" not in d.rule and "https://p" not in d.rule, (kwargs, d.rule)


def test_nothing_means_allowed():
    assert decide()[0].rule == "no TDM reservation"


# --- protocol errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "html", "seen"),
    [
        ({"tdm-reservation": "2"}, None, "tdm-reservation: 2"),
        ({"tdm-reservation": "yes"}, None, "tdm-reservation: yes"),
        ({"tdm-reservation": "1, 0"}, None, "tdm-reservation: 1, 0"),  # comma-joined
        ([("tdm-reservation", "1"), ("tdm-reservation", "0")], None, "tdm-reservation: 1"),  # repeated, conflicting
        ({"tdm-reservation": ""}, None, "tdm-reservation: "),
        (None, b'<meta name="tdm-reservation" content="true">', '<meta name="tdm-reservation" content="true">'),
        (None, b'<meta name="tdm-reservation" content="1"><meta name="tdm-reservation" content="0">', "<meta"),
    ],
)
def test_header_and_meta_protocol_errors_leave_tdm_reservation_unset(headers, html, seen):
    # "Other values are considered protocol errors. ... the TDM Agents MUST consider that tdm-reservation is unset."
    d = decide(headers=headers, html=html)[0]
    assert d.allowed and d.rule.startswith("no TDM reservation (protocol error, so tdm-reservation is unset")
    assert d.evidence[0].seen.startswith(seen)  # the auditor sees what was sent
    strict = decide(headers=headers, html=html, malformed_tdmrep="reserved")[0]
    assert not strict.allowed and strict.rule.startswith("protocol error treated as a reservation")
    assert decide(headers=headers, html=html, malformed_tdmrep="allowed")[0] == d  # the old spelling of "unset"


def test_a_protocol_error_does_not_reset_an_earlier_value():
    # "At every step, the absence of tdm-reservation and tdm-policy MUST not reset current values."
    wk = well_known([{"location": "/", "tdm-reservation": 1}])
    d = decide(well_known=wk, headers={"tdm-reservation": "yes"})[0]
    assert not d.allowed
    assert d.rule == (
        "tdmrep.json location '/' tdm-reservation 1 (tdmrep.json); "
        "protocol error (unset there as TDMRep says): tdm-reservation: yes (http-header)"
    )
    d = decide(headers={"tdm-reservation": "1"}, html=b'<meta name="tdm-reservation" content="maybe">')[0]
    assert not d.allowed and d.rule.startswith("tdm-reservation: 1 (http-header); protocol error")


def test_repeated_equal_values_count_once():
    # As RFC 9110 8.6 lets a recipient read "Content-Length: 42, 42" as 42.
    assert not decide(headers=[("tdm-reservation", "1"), ("TDM-Reservation", "1")])[0].allowed
    assert not decide(headers={"tdm-reservation": "1, 1"})[0].allowed
    assert decide(headers={"tdm-reservation": "0,0"})[0].rule == "tdm-reservation: 0 (http-header)"


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (WELL_KNOWN[:40], "invalid JSON"),  # truncated
        (b'{"location": "/", "tdm-reservation": 1}', "expected a JSON array"),  # an object, not an array
        (b"[" * 100_000, "invalid JSON"),  # deep nesting
        (b"\xff\xfe garbage", "invalid JSON"),
        (b'[{"location": "/", "tdm-reservation": 0}' + b" " * (2 * 1024 * 1024) + b"]", "file too large"),
    ],
)
def test_an_unusable_file_is_no_tdm_file(body, error):
    wk = tdmrep.parse_file(body)
    assert wk.malformed is not None and error in wk.malformed and wk.errors == (wk.malformed,)
    unset = decide(well_known=wk)[0]
    assert unset.allowed and "protocol error, so tdm-reservation is unset" in unset.rule and error in unset.rule
    assert unset.evidence[0].seen.startswith("malformed:")
    strict = decide(well_known=wk, malformed_tdmrep="reserved")[0]
    assert not strict.allowed and error in strict.rule
    assert decide(well_known=wk, malformed_tdmrep="allowed")[0] == unset


def test_header_still_decides_over_an_unusable_file():
    wk = tdmrep.parse_file(b"not json")
    assert decide(headers={"tdm-reservation": "0"}, well_known=wk)[0].allowed
    assert decide(headers={"tdm-reservation": "0"}, well_known=wk, malformed_tdmrep="reserved")[0].allowed


def test_a_broken_entry_is_a_protocol_error_where_it_is_the_first_match():
    wk = well_known(
        [
            {"location": "/a/", "tdm-reservation": 2},
            {"location": "/", "tdm-reservation": 1},
        ]
    )
    assert wk.malformed is None and wk.errors == ("entry 0: 'tdm-reservation' must be 0 or 1, got 2",)
    first = decide("https://e.org/a/x", well_known=wk)[0]  # the first match has a bad value: unset, no fall-through
    assert first.allowed and "tdmrep.json entry 0 location '/a/'" in first.rule
    assert first.evidence[0].seen == '{"location": "/a/", "tdm-reservation": 2}'
    assert not decide("https://e.org/a/x", well_known=wk, malformed_tdmrep="reserved")[0].allowed
    assert not decide("https://e.org/b", well_known=wk)[0].allowed  # entry 1 decides where entry 0 does not match


def test_an_entry_that_can_match_nothing_is_skipped_but_shown():
    # No usable location: it cannot cover the URL, so later entries decide; strict mode reserves.
    for broken in ({"tdm-reservation": 1}, {"location": 5, "tdm-reservation": 1}, 1, ["/"]):
        wk = well_known([broken, {"location": "/", "tdm-reservation": 0}])
        d = decide(well_known=wk)[0]
        assert d.allowed and d.rule.startswith("tdmrep.json location '/' tdm-reservation 0 (tdmrep.json); protocol")
        assert "tdmrep.json entry 0:" in d.rule and wk.errors[0].startswith("entry 0: ")
        assert not decide(well_known=wk, malformed_tdmrep="reserved")[0].allowed


def test_a_bad_policy_does_not_undo_the_reservation():
    wk = well_known([{"location": "/", "tdm-reservation": 1, "tdm-policy": 5}])
    assert wk.errors == ("entry 0: 'tdm-policy' must be a string, got int",)
    d = decide(well_known=wk)[0]
    assert not d.allowed and d.rule == "tdmrep.json location '/' tdm-reservation 1 (tdmrep.json)"


# --- the config choice ---------------------------------------------------------------------------------


def test_default_config_follows_the_spec():
    assert RunConfig().optout.malformed_tdmrep == "unset"
    with pytest.raises(ValidationError):
        OptoutConfig(malformed_tdmrep="strict")


@pytest.mark.parametrize("value", ["reserved", "allowed"])
def test_configs_of_existing_releases_load_and_hash_unchanged(value):
    # `verify` recomputes the config hash from the manifest: an old value must neither fail nor be rewritten.
    stored = RunConfig().recorded()  # as a manifest records it (an old release has no `steps`)
    stored["optout"]["malformed_tdmrep"] = value
    canonical = json.dumps(stored, sort_keys=True, separators=(",", ":"))
    loaded = RunConfig.model_validate(json.loads(canonical))
    assert loaded.optout.malformed_tdmrep == value
    assert loaded.hash() == "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


# --- found by mutation testing (tests/mutation/): each pins a behaviour a surviving mutant changed --------------

AT = "2026-01-02T03:04:05Z"
WK_URL = "https://e.org/.well-known/tdmrep.json"


def sha(data: bytes | str) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


def test_every_entry_is_kept_as_written_with_what_is_wrong_with_it():
    """Each entry's JSON as the evidence shows it (keys sorted, non-ASCII as written), its location made a path
    (`page` is `/page`; a leading `*` kept), and every problem of a broken entry named."""
    entries = [
        {"tdm-reservation": 1, "location": "page", "tdm-policy": "https://p.test/é"},
        {"location": "*.pdf", "tdm-reservation": 0},
        {"location": "", "tdm-reservation": "x"},
        {"location": "/p", "tdm-reservation": 1, "tdm-policy": 5},
        1,
        None,
    ]
    body = json.dumps(entries).encode()
    parsed = tdmrep.parse_file(body, WK_URL, AT)
    assert parsed == tdmrep.TdmrepFile(WK_URL, (
        tdmrep.TdmRule(0, "/page", True, "https://p.test/é",
                       '{"location": "page", "tdm-policy": "https://p.test/é", "tdm-reservation": 1}'),
        tdmrep.TdmRule(1, "*.pdf", False, None, '{"location": "*.pdf", "tdm-reservation": 0}'),
        tdmrep.TdmRule(2, None, None, None, '{"location": "", "tdm-reservation": "x"}',
                       "'location' must be a non-empty string; 'tdm-reservation' must be 0 or 1, got 'x'"),
        tdmrep.TdmRule(3, "/p", True, None, '{"location": "/p", "tdm-policy": 5, "tdm-reservation": 1}',
                       "'tdm-policy' must be a string, got int"),
        tdmrep.TdmRule(4, None, None, None, "1", "expected an object, got int"),
        tdmrep.TdmRule(5, None, None, None, "null", "expected an object, got NoneType"),
    ), None, sha(body), AT)  # fmt: skip
    page = tdmrep.decide("https://e.org/page", ["GPTBot"], well_known=parsed, fetched_at=AT)[0]
    assert not page.allowed
    assert page.rule.startswith("tdmrep.json location '/page' tdm-reservation 1, tdm-policy https://p.test/é")
    pdf = tdmrep.decide("https://e.org/a.pdf", ["GPTBot"], well_known=parsed)[0]
    assert pdf.allowed and pdf.rule.startswith("tdmrep.json location '*.pdf' tdm-reservation 0 (tdmrep.json)")


@pytest.mark.parametrize(
    ("body", "malformed"),
    [
        (b'{"a": 1}', "expected a JSON array, got dict"),
        (json.dumps([{"location": "/", "tdm-reservation": 0}] * 10_001).encode(), "too many entries: 10001 > 10000"),
        ("[\udcff]", None),  # a str body with a lone surrogate: invalid JSON (checked below), never an exception
    ],
)
def test_an_unusable_file_is_recorded_whole(body, malformed):
    raw = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    parsed = tdmrep.parse_file(body, WK_URL, AT)
    assert (parsed.url, parsed.rules, parsed.sha256, parsed.fetched_at) == (WK_URL, (), sha(raw), AT)
    assert parsed.malformed == malformed if malformed else parsed.malformed.startswith("invalid JSON: ")


def test_a_str_body_is_its_utf8_bytes_and_the_default_url_is_the_well_known_path():
    text = '[{"location": "/é", "tdm-reservation": 1}]'
    assert tdmrep.parse_file(text, WK_URL, AT) == tdmrep.parse_file(text.encode(), WK_URL, AT)
    assert tdmrep.parse_file(b"[]").url == "/.well-known/tdmrep.json"


def test_the_limits_are_inclusive():
    """A file of exactly 1 MiB and one of exactly 10,000 entries are still read."""
    entry = b'{"location": "/", "tdm-reservation": 1}'
    body = b"[" + entry + b"]"
    body = body[:-1] + b" " * (tdmrep.MAX_FILE_BYTES - len(body)) + b"]"
    assert len(body) == tdmrep.MAX_FILE_BYTES and tdmrep.parse_file(body).malformed is None
    many = json.dumps([{"location": "/", "tdm-reservation": 1}] * tdmrep.MAX_RULES).encode()
    assert tdmrep.parse_file(many).malformed is None and len(tdmrep.parse_file(many).rules) == tdmrep.MAX_RULES


def test_every_source_is_whole_evidence_and_the_deciding_one_comes_first():
    """Evidence names the signal, where it came from, what was seen, the digest of those bytes and when they were
    fetched; the evidence that decided comes first, all other evidence follows in source order."""
    wk_body = json.dumps([{"location": "/", "tdm-reservation": 0}]).encode()
    wk = tdmrep.parse_file(wk_body, WK_URL, "2026-01-01T00:00:00Z")
    html = b'<html><head><meta name="tdm-reservation" content="1"></head></html>'
    got = tdmrep.decide("https://e.org/x", ["GPTBot", "CCBot"], well_known=wk,
                        headers={"tdm-reservation": "0"}, html=html, fetched_at=AT)  # fmt: skip
    meta = tdmrep.Evidence("tdmrep", "html-meta", '<meta name="tdm-reservation" content="1">', sha(html), AT)
    header = tdmrep.Evidence("tdmrep", "http-header", "tdm-reservation: 0", sha("0"), AT)
    file = tdmrep.Evidence("tdmrep", WK_URL, '{"location": "/", "tdm-reservation": 0}', sha(wk_body),
                           "2026-01-01T00:00:00Z")  # fmt: skip
    rule = '<meta name="tdm-reservation" content="1"> (html-meta)'
    assert got == [tdmrep.Decision(a, False, "tdmrep", rule, (meta, file, header)) for a in ["GPTBot", "CCBot"]]


def test_an_entry_without_location_is_shown_as_written():
    wk = well_known([{"tdm-reservation": 1}])
    d = decide(well_known=wk)[0]
    assert [e.seen for e in d.evidence] == ['{"tdm-reservation": 1}']


def test_protocol_errors_are_all_named_in_the_rule():
    two_headers = [("tdm-reservation", "1"), ("tdm-reservation", "0")]
    two_tags = b'<meta name="tdm-reservation" content="1"><meta name="tdm-reservation" content="0">'
    wk = well_known([{"location": "/", "tdm-reservation": 7}])
    file_error = "tdmrep.json entry 0 location '/': 'tdm-reservation' must be 0 or 1, got 7"
    header_error = "tdm-reservation: 1, 0 (http-header)"
    meta_error = ('<meta name="tdm-reservation" content="1"> <meta name="tdm-reservation" content="0"> '
                  "(html-meta)")  # fmt: skip
    unset = decide(well_known=wk, headers=two_headers, html=two_tags)[0]
    assert unset.allowed
    assert unset.rule == ("no TDM reservation (protocol error, so tdm-reservation is unset as TDMRep says: "
                          f"{file_error}; {header_error}; {meta_error})")  # fmt: skip
    strict = decide(well_known=wk, headers=two_headers, html=two_tags, malformed_tdmrep="reserved")[0]
    assert not strict.allowed
    assert strict.rule == (f"protocol error treated as a reservation (malformed_tdmrep=reserved): {meta_error}; "
                           f"protocol error (superseded): {file_error}; {header_error}")  # fmt: skip
    by_value = decide(well_known=wk, headers=two_headers, html=b'<meta name="tdm-reservation" content="1">',
                      malformed_tdmrep="reserved")[0]  # fmt: skip
    assert by_value.rule == ('<meta name="tdm-reservation" content="1"> (html-meta); '
                             f"protocol error (superseded): {file_error}; {header_error}")  # fmt: skip


def test_a_non_object_entry_is_shown_as_written_and_all_errors_of_the_deciding_file_are_named():
    wk = well_known(["é", {"tdm-reservation": 1}, {"location": "/", "tdm-reservation": 7}])
    assert wk.rules[0].raw == '"é"'
    strict = decide(well_known=wk, malformed_tdmrep="reserved")[0]
    assert not strict.allowed
    assert strict.rule == (
        "protocol error treated as a reservation (malformed_tdmrep=reserved): tdmrep.json entry 0: expected an "
        "object, got str; tdmrep.json entry 1: 'location' must be a non-empty string; tdmrep.json entry 2 "
        "location '/': 'tdm-reservation' must be 0 or 1, got 7"
    )

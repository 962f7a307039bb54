"""robots.txt (RFC 9309) decisions, fetch outcomes and malformed files; protego as independent reference."""

from __future__ import annotations

import time

import pytest
from protego import Protego

from pipeline.optout import robots

# RFC 9309 section 5.1 "Simple Example".
RFC_5_1 = """\
User-Agent: *
Disallow: *.gif$
Disallow: /example/
Allow: /publications/

User-Agent: foobot
Disallow:/
Allow:/example/page.html
Allow:/example/allowed.gif

User-Agent: barbot
User-Agent: bazbot
Disallow: /example/page.html

User-Agent: quxbot
"""

# RFC 9309 section 5.2 "Longest Match".
RFC_5_2 = """\
User-Agent: foobot
Allow: /example/page/
Disallow: /example/page/disallowed.gif
"""

# RFC 9309 section 2.2.1: two groups for the same agent are combined.
RFC_2_2_1 = """\
user-agent: ExampleBot
disallow: /foo
disallow: /bar

user-agent: ExampleBot
disallow: /baz
"""


def allowed(text: str | bytes, path: str, agent: str) -> bool:
    parsed = robots.parse(text.encode() if isinstance(text, str) else text)
    return robots.decide(parsed, "https://example.com" + path, [agent])[0].allowed


@pytest.mark.parametrize(
    ("agent", "path", "expected"),
    [
        ("foobot", "/example/page.html", True),
        ("foobot", "/example/allowed.gif", True),
        ("foobot", "/", False),
        ("barbot", "/example/page.html", False),
        ("bazbot", "/example/page.html", False),
        ("barbot", "/example/other.html", True),
        ("quxbot", "/example/x.gif", True),  # quxbot's own (empty) group: no rules, allowed
        ("otherbot", "/a.gif", False),
        ("otherbot", "/a.gif?x", True),  # `$` anchors the end
        ("otherbot", "/example/x", False),
        ("otherbot", "/publications/x", True),
    ],
)
def test_rfc_5_1_simple_example(agent, path, expected):
    assert allowed(RFC_5_1, path, agent) is expected


def test_rfc_5_2_longest_match():
    assert allowed(RFC_5_2, "/example/page/x.html", "foobot")
    assert not allowed(RFC_5_2, "/example/page/disallowed.gif", "foobot")


def test_rfc_2_2_1_groups_merged_and_agent_case_insensitive():
    for path in ("/foo", "/bar", "/baz"):
        assert not allowed(RFC_2_2_1, path, "examplebot")
    assert allowed(RFC_2_2_1, "/other", "EXAMPLEBOT")


def test_allow_wins_a_tie_and_rule_text_is_exact():
    # RFC 9309 2.2.2: "If an allow rule and a disallow rule are equivalent, then the allow rule SHOULD be used."
    parsed = robots.parse(b"User-agent: GPTBot\nDisallow: /p\nAllow: /p\n")
    decision = robots.decide(parsed, "https://e.org/page", ["GPTBot"])[0]
    assert decision.allowed
    assert decision.rule == "Allow: /p (line 3, group 'GPTBot')"
    assert decision.evidence[0].seen == "Allow: /p"
    assert decision.evidence[0].sha256 == parsed.sha256


def test_decision_names_the_disallow_rule():
    parsed = robots.parse(
        b"User-agent: *\nAllow: /\n\nUser-agent: GPTBot\nDisallow: /private/\n",
        url="https://e.org/robots.txt",
        fetched_at="2026-01-01T00:00:00Z",
    )
    gpt, cc = robots.decide(parsed, "https://e.org/private/a", ["GPTBot", "CCBot"])
    assert (gpt.allowed, gpt.rule) == (False, "Disallow: /private/ (line 5, group 'GPTBot')")
    assert gpt.evidence[0].where == "https://e.org/robots.txt"
    assert gpt.evidence[0].fetched_at == "2026-01-01T00:00:00Z"
    assert cc.allowed and cc.rule.startswith("Allow: /")


def test_wildcards_and_percent_encoding():
    # RFC 9309 2.2.3 special characters, and 2.2.2's table: UTF-8 in a rule matches its %-encoding.
    text = "User-agent: *\nDisallow: /this/*/exactly\nDisallow: /end$\nDisallow: /foo/bar/ツ\n"
    assert not allowed(text, "/this/a/b/exactly", "x")
    assert allowed(text, "/this/exactly", "x")
    assert not allowed(text, "/end", "x")
    assert allowed(text, "/end/more", "x")
    assert not allowed(text, "/foo/bar/%E3%83%84", "x")
    assert not allowed(text, "/foo/bar/%e3%83%84", "x")


def test_empty_disallow_and_no_groups():
    assert allowed("User-agent: *\nDisallow:\n", "/x", "GPTBot")
    assert allowed("", "/x", "GPTBot")
    rule = robots.decide(robots.parse(b""), "https://e.org/x", ["a"])[0].rule
    assert rule == "no group for this agent and no '*' group"


def test_robots_txt_itself_always_allowed():
    assert allowed("User-agent: *\nDisallow: /\n", "/robots.txt", "GPTBot")


# protego as an independent reference: same verdicts on these files (agents given as bare tokens).
REFERENCE_FILES = [
    RFC_5_1,
    RFC_5_2,
    RFC_2_2_1,
    "User-agent: *\nDisallow: /\nAllow: /public/\nAllow: /$\n",
    "User-agent: GPTBot\nDisallow: /*.pdf$\nDisallow: /drafts/*/private\n\nUser-agent: *\nDisallow: /tmp\n",
    "User-agent: CCBot\nUser-agent: ClaudeBot\nDisallow: /a\nAllow: /a/b\n",
    "User-agent: *\nDisallow: /fish*\nAllow: /fish.html\n",
]
REFERENCE_PATHS = [
    "/",
    "/a",
    "/a/b",
    "/a/bc",
    "/example/page.html",
    "/x.gif",
    "/x.gif?q",
    "/public/x",
    "/doc.pdf",
    "/doc.pdf?x",
    "/drafts/1/private",
    "/tmp/x",
    "/fish",
    "/fish.html",
    "/fishheads/x",
    "/foo",
    "/baz",
]
REFERENCE_AGENTS = ["GPTBot", "CCBot", "ClaudeBot", "foobot", "barbot", "quxbot", "ExampleBot", "Bytespider"]


@pytest.mark.parametrize("text", REFERENCE_FILES)
def test_agrees_with_protego(text):
    reference = Protego.parse(text)
    parsed = robots.parse(text.encode())
    for agent in REFERENCE_AGENTS:
        for path in REFERENCE_PATHS:
            ours = robots.decide(parsed, "https://e.org" + path, [agent])[0].allowed
            assert ours == reference.can_fetch("https://e.org" + path, agent), (agent, path)


def test_exact_token_match_where_protego_matches_prefixes():
    # Documented difference: protego lets group 'Google' match 'Google-Extended' (token-boundary substring);
    # we compare product tokens exactly (RFC 9309 2.2.1), so Google-Extended falls back to '*'.
    text = "User-agent: Google\nDisallow: /\n\nUser-agent: *\nAllow: /\n"
    assert not Protego.parse(text).can_fetch("https://e.org/x", "Google-Extended")
    assert allowed(text, "/x", "Google-Extended")
    assert not allowed(text, "/x", "google")


# --- fetch outcomes (RFC 9309 2.3.1), one test per rule -------------------------------------------------


def decide_fetch(**kwargs):
    return robots.decide(robots.from_fetch(**kwargs), "https://e.org/page", ["GPTBot"])[0]


def test_fetch_2xx_is_parsed():
    d = decide_fetch(status=200, body=b"User-agent: GPTBot\nDisallow: /\n")
    assert not d.allowed and d.rule.startswith("Disallow: /")


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 429])
def test_fetch_4xx_allows_all(status):
    d = decide_fetch(status=status, body=b"User-agent: *\nDisallow: /\n")
    assert d.allowed and f"HTTP {status}" in d.rule


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_fetch_5xx_disallows_all(status):
    d = decide_fetch(status=status, body=b"")
    assert not d.allowed and f"unreachable (HTTP {status})" in d.rule


def test_fetch_unreachable_disallows_all():
    d = decide_fetch(status=None)
    assert not d.allowed and "unreachable" in d.rule


def test_fetch_more_than_five_redirects_is_unreachable():
    assert not decide_fetch(status=200, body=b"", redirects=6).allowed
    assert decide_fetch(status=200, body=b"", redirects=5).allowed


def test_fetch_unfollowed_redirect_status_is_unreachable():
    assert not decide_fetch(status=301, body=b"").allowed


def test_missing_robots_allows():
    assert robots.decide(robots.missing(), "https://e.org/x", ["GPTBot"])[0].allowed


def test_html_served_as_robots_means_no_rules():
    page = b"<!DOCTYPE html><html><body>User-agent: *<br>Disallow: /</body></html>"
    d = decide_fetch(status=200, body=page)
    assert d.allowed and "html" in d.rule
    body = b"User-agent: *\nDisallow: /\n"
    assert decide_fetch(status=200, body=body, content_type="text/html; charset=utf-8").allowed


def test_only_first_500_kib_parsed():
    filler = b"# " + b"x" * robots.MAX_BYTES + b"\n"
    body = b"User-agent: *\nDisallow: /early\n" + filler + b"Disallow: /late\n"
    parsed = robots.from_fetch(200, body)
    assert parsed.truncated
    assert not robots.decide(parsed, "https://e.org/early", ["a"])[0].allowed
    assert robots.decide(parsed, "https://e.org/late", ["a"])[0].allowed


# --- malformed files never raise ------------------------------------------------------------------------


def test_bom_and_line_endings_tolerated():
    for sep in (b"\r", b"\r\n", b"\n"):
        lines = [b"User-agent: GPTBot", b"Disallow: /x", b"", b"User-agent: *", b"Allow: /"]
        parsed = robots.parse(b"\xef\xbb\xbf" + sep.join(lines))
        assert not robots.decide(parsed, "https://e.org/x", ["GPTBot"])[0].allowed, sep
        assert robots.decide(parsed, "https://e.org/x", ["CCBot"])[0].allowed, sep


def test_binary_body_never_raises():
    body = bytes(range(256)) * 64
    assert robots.decide(robots.from_fetch(200, body), "https://e.org/x", ["GPTBot"])[0].allowed


def test_ten_megabyte_body_is_quick_and_safe():
    block = b"User-agent: *\nDisallow: /a\n" + b"Disallow: /zz" * 10 + b"\n"
    body = block * (10 * 1024 * 1024 // len(block))
    start = time.perf_counter()
    parsed = robots.from_fetch(200, body)
    assert not robots.decide(parsed, "https://e.org/a", ["GPTBot"])[0].allowed
    assert parsed.truncated and time.perf_counter() - start < 5


def test_differences_from_protego_are_deliberate():
    # A UTF-8 BOM makes protego skip the first line; we strip it (a BOM-prefixed file is common in the wild).
    bom = "\ufeffUser-agent: GPTBot\nDisallow: /\n"
    assert Protego.parse(bom).can_fetch("https://e.org/x", "GPTBot")
    assert not allowed(bom.encode(), "/x", "GPTBot")
    # 'User-agent: GPTBot/1.0': protego finds no group; we take the product token before '/' (conservative).
    versioned = "User-agent: GPTBot/1.0\nDisallow: /\n"
    assert Protego.parse(versioned).can_fetch("https://e.org/x", "GPTBot")
    assert not allowed(versioned, "/x", "GPTBot")

"""robots.txt (RFC 9309) decisions, fetch outcomes and malformed files, against protego and Google's tests."""

from __future__ import annotations

import hashlib
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


# --- RFC 9309 2.2.2 (Figure 4) and 2.2.3 (Figure 6): percent-encoding and special characters ------------


@pytest.mark.parametrize(
    ("pattern", "path"),
    [
        ("/foo/bar?baz=quz", "/foo/bar?baz=quz"),
        ("/foo/bar?baz=https%3A%2F%2Ffoo.bar", "/foo/bar?baz=https%3A%2F%2Ffoo.bar"),
        ("/foo/bar?baz=https%3A%2F%2Ffoo.bar", "/foo/bar?baz=https%3a%2f%2ffoo.bar"),  # hex case does not matter
        ("/foo/bar/ツ", "/foo/bar/%E3%83%84"),
        ("/foo/bar/%E3%83%84", "/foo/bar/%E3%83%84"),
        ("/foo/bar/%62%61%7A", "/foo/bar/baz"),  # an escaped unreserved octet is decoded
        ("/path/file-with-a-%2A.html", "/path/file-with-a-*.html"),  # Figure 6: '*' matched verbatim
        ("/path/foo-%24", "/path/foo-$"),  # Figure 6: '$' matched verbatim
    ],
)
def test_rfc_figure_4_and_6_patterns_cover_their_urls(pattern, path):
    text = f"User-agent: *\nDisallow: {pattern}\n"
    decision = robots.decide(robots.parse(text.encode()), "https://www.example.com" + path, ["GPTBot"])[0]
    assert not decision.allowed and decision.rule == f"Disallow: {pattern} (line 2, group '*')"


def test_escaped_special_characters_are_literal_and_reserved_escapes_stay_escaped():
    # RFC 9309 2.2.3: only an unescaped '*' is a wildcard and only a final unescaped '$' an anchor.
    assert allowed("User-agent: *\nDisallow: /path/file-with-a-%2A.html\n", "/path/file-with-a-x.html", "x")
    assert allowed("User-agent: *\nDisallow: /path/foo-%24\n", "/path/foo-", "x")
    assert not allowed("User-agent: *\nDisallow: /path/foo-%24\n", "/path/foo-%24", "x")
    # 2.2.2: a reserved octet is not decoded, so '%2F' and '/' are different octets (RFC 3986 2.2).
    assert allowed("User-agent: *\nDisallow: /a%2Fb\n", "/a/b", "x")
    assert not allowed("User-agent: *\nDisallow: /a%2fb\n", "/a%2Fb", "x")


def test_a_wildcard_never_stops_inside_an_escape():
    # The URL's '*' is compared as %2A (Figure 6); the 'A' of that escape is not a letter A of the path.
    text = "User-agent: *\nDisallow: /\nAllow: /*A.html\n"
    assert not allowed(text, "/x*.html", "x")
    assert allowed(text, "/xA.html", "x")
    assert not allowed("User-agent: *\nDisallow: /\nAllow: /*4$\n", "/price-$", "x")  # %24 does not end in '4'


@pytest.mark.parametrize(
    ("rules", "path", "expected"),
    [
        # A non-ASCII rule and its percent-encoded twin are the same rule: a tie, and Allow wins the tie.
        ("Allow: /ツ\nDisallow: /%E3%83%84\n", "/ツ/page", True),
        ("Disallow: /ツ\nAllow: /%E3%83%84\n", "/ツ/page", True),
        # Measured raw, '/ツ/' (3 characters) would lose to '/*page' (6); normalised it is 11 long.
        ("Disallow: /ツ/\nAllow: /*page\n", "/ツ/page", False),
        # Measured raw, '/%61%62%63' (10) would beat '/abc/' (5); normalised it is '/abc' (4).
        ("Disallow: /abc/\nAllow: /%61%62%63\n", "/abc/x", False),
    ],
)
def test_longest_match_is_measured_on_the_normalised_pattern(rules, path, expected):
    assert allowed("User-agent: *\n" + rules, path, "GPTBot") is expected


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        # two wildcards: the middle piece must be there, in order
        ("/*private*.pdf", "/docs/private/x.pdf", True),
        ("/*private*.pdf", "/docs/public/x.pdf", False),
        ("/*private*.pdf", "/x.pdf/private", False),
        ("/a*b*c*d", "/a-b-c-d", True),
        ("/a*b*c*d", "/a-c-b-d", False),
        # each piece at its leftmost place, or a later piece finds nothing after it
        ("/*a*b", "/xaybza", True),
        # a piece right after an escape is on a boundary; one inside an escape is not
        ("/*b", "/a%2Fb", True),
        ("/*AA", "/%EAAA", True),  # 'AA' at the escape's second digit is skipped, the next one counts
        ("/*AA", "/%EAA", False),
    ],
)
def test_wildcard_pieces_are_found_in_order_and_never_inside_an_escape(pattern, path, matches):
    assert allowed(f"User-agent: *\nDisallow: {pattern}\n", path, "GPTBot") is not matches


@pytest.mark.parametrize(
    ("rules", "path", "expected"),
    [
        ("Allow: /abc\nDisallow: /a*c\n", "/abc", True),  # 4 against 4 ('*' counts one): a tie, Allow wins
        ("Disallow: /abc\nAllow: /a*c\n", "/abc", True),
        ("Disallow: /abcd\nAllow: /a*c\n", "/abcd", False),  # 5 against 4
        ("Disallow: /ab\nAllow: /a*\n", "/ab", True),  # 3 against 3
        ("Allow: /ab\nDisallow: /a*$\n", "/ab", False),  # 3 against 4 ('$' counts one)
    ],
)
def test_a_wildcard_counts_one_character_in_the_longest_match(rules, path, expected):
    assert allowed("User-agent: *\n" + rules, path, "GPTBot") is expected


def test_url_is_compared_in_its_canonical_form():
    # The page a crawler requests for '/public/../private/x' is /private/x (url_identity: dot segments resolved).
    assert not allowed("User-agent: *\nDisallow: /private/\n", "/public/../private/x", "x")
    # WHATWG escapes "'" in a query; the pattern's "'" is compared the same way.
    assert not allowed("User-agent: *\nDisallow: /search?q='secret'\n", "/search?q='secret'", "x")
    assert not allowed("User-agent: *\nDisallow: /it's\n", "/it%27s", "x")


# --- Google's reference parser (google/robotstxt robots_test.cc and robots.cc): behaviours that concern consent

GOOGLE_GROUPS = (
    "allow: /foo/bar/\n\nuser-agent: FooBot\ndisallow: /\nallow: /x/\nuser-agent: BarBot\ndisallow: /\nallow: /y/\n"
    "\n\nallow: /w/\nuser-agent: BazBot\n\nuser-agent: FooBot\nallow: /z/\ndisallow: /\n"
)
GOOGLE_CASES = [
    # (source, robots.txt, agent, URL, allowed)
    ("ID_LineSyntax_Line", "user-agent: FooBot\ndisallow: /\n", "FooBot", "http://foo.bar/x/y", False),
    ("ID_LineSyntax_Line", "foo: FooBot\nbar: /\n", "FooBot", "http://foo.bar/x/y", True),
    ("ID_LineSyntax_Line", "user-agent FooBot\ndisallow /\n", "FooBot", "http://foo.bar/x/y", False),
    *(
        ("ID_LineSyntax_Groups", GOOGLE_GROUPS, agent, f"http://foo.bar{path}", expected)
        for agent, path, expected in [
            ("FooBot", "/x/b", True),
            ("FooBot", "/z/d", True),
            ("FooBot", "/y/c", False),
            ("BarBot", "/y/c", True),
            ("BarBot", "/w/a", True),
            ("BarBot", "/z/d", False),
            ("BazBot", "/z/d", True),
            ("FooBot", "/foo/bar/", False),  # rules outside any group are ignored
            ("BarBot", "/foo/bar/", False),
            ("BazBot", "/foo/bar/", False),
        ]
    ),
    # A Sitemap or unknown line does not end the run of user-agent lines: BarBot/FooBot share the '*' group.
    (
        "ID_LineSyntax_Groups_OtherRules",
        "User-agent: BarBot\nSitemap: https://foo.bar/sitemap\nUser-agent: *\nDisallow: /\n",
        "BarBot",
        "http://foo.bar/",
        False,
    ),
    (
        "ID_LineSyntax_Groups_OtherRules",
        "User-agent: FooBot\nInvalid-Unknown-Line: unknown\nUser-agent: *\nDisallow: /\n",
        "FooBot",
        "http://foo.bar/",
        False,
    ),
    (
        "ID_REPLineNamesCaseInsensitive",
        "USER-AGENT: FooBot\nALLOW: /x/\nDISALLOW: /\n",
        "FooBot",
        "http://foo.bar/a/b",
        False,
    ),
    (
        "ID_REPLineNamesCaseInsensitive",
        "uSeR-aGeNt: FooBot\nAlLoW: /x/\ndIsAlLoW: /\n",
        "FooBot",
        "http://foo.bar/x/y",
        True,
    ),
    (
        "ID_REPLineNamesCaseInsensitive",
        "uSeR-aGeNt: FooBot\nAlLoW: /x/\ndIsAlLoW: /\n",
        "FooBot",
        "http://foo.bar/a/b",
        False,
    ),
    (
        "ID_UserAgentValueCaseInsensitive",
        "User-Agent: FoO bAr\nAllow: /x/\nDisallow: /\n",
        "foo",
        "http://foo.bar/a/b",
        False,
    ),
    (
        "GoogleOnly_AcceptUserAgentUpToFirstSpace",
        "User-Agent: *\nDisallow: /\nUser-Agent: Foo Bar\nAllow: /x/\nDisallow: /\n",
        "Foo",
        "http://foo.bar/x/y",
        True,
    ),
    (
        "ID_GlobalGroups_Secondary",
        "user-agent: *\nallow: /\nuser-agent: FooBot\ndisallow: /\n",
        "FooBot",
        "http://foo.bar/x/y",
        False,
    ),
    (
        "ID_GlobalGroups_Secondary",
        "user-agent: *\nallow: /\nuser-agent: FooBot\ndisallow: /\n",
        "BarBot",
        "http://foo.bar/x/y",
        True,
    ),
    (
        "ID_GlobalGroups_Secondary",
        "user-agent: FooBot\nallow: /\nuser-agent: BarBot\ndisallow: /\n",
        "QuxBot",
        "http://foo.bar/x/y",
        True,
    ),
    (
        "ID_AllowDisallow_Value_CaseSensitive",
        "user-agent: FooBot\ndisallow: /x/\n",
        "FooBot",
        "http://foo.bar/x/y",
        False,
    ),
    (
        "ID_AllowDisallow_Value_CaseSensitive",
        "user-agent: FooBot\ndisallow: /X/\n",
        "FooBot",
        "http://foo.bar/x/y",
        True,
    ),
    (
        "ID_LongestMatch",
        "user-agent: FooBot\ndisallow: /x/page.html\nallow: /x/\n",
        "FooBot",
        "http://foo.bar/x/page.html",
        False,
    ),
    (
        "ID_LongestMatch",
        "user-agent: FooBot\nallow: /x/page.html\ndisallow: /x/\n",
        "FooBot",
        "http://foo.bar/x/",
        False,
    ),
    ("ID_LongestMatch", "user-agent: FooBot\ndisallow: /x\nallow: /x/\n", "FooBot", "http://foo.bar/x", False),
    (
        "ID_LongestMatch",
        "user-agent: FooBot\nallow: /page\ndisallow: /*.html\n",
        "FooBot",
        "http://foo.bar/page.html",
        False,
    ),
    (
        "ID_LongestMatch",
        "user-agent: FooBot\nallow: /x/page.\ndisallow: /*.html\n",
        "FooBot",
        "http://foo.bar/x/y.html",
        False,
    ),
    (
        "ID_LongestMatch",
        "User-agent: *\nDisallow: /x/\nUser-agent: FooBot\nDisallow: /y/\n",
        "FooBot",
        "http://foo.bar/y/page",
        False,
    ),
    (
        "ID_Encoding",
        "User-agent: FooBot\nDisallow: /\nAllow: /foo/bar?qux=taz&baz=http://foo.bar?tar&par\n",
        "FooBot",
        "http://foo.bar/foo/bar?qux=taz&baz=http://foo.bar?tar&par",
        True,
    ),
    (
        "ID_SpecialCharacters",
        "User-agent: FooBot\nDisallow: /foo/bar/quz\nAllow: /foo/*/qux\n",
        "FooBot",
        "http://foo.bar/foo/bar/quz",
        False,
    ),
    (
        "ID_SpecialCharacters",
        "User-agent: FooBot\nDisallow: /foo/bar$\nAllow: /foo/bar/qux\n",
        "FooBot",
        "http://foo.bar/foo/bar",
        False,
    ),
    (
        "ID_SpecialCharacters",
        "User-agent: FooBot\n# Disallow: /\nDisallow: /foo/quz#qux\nAllow: /\n",
        "FooBot",
        "http://foo.bar/foo/quz",
        False,
    ),
    (
        "GoogleOnly_DocumentationChecks",
        "user-agent: FooBot\ndisallow: /\nallow: /fish\n",
        "FooBot",
        "http://foo.bar/Fish.asp",
        False,
    ),
    (
        "GoogleOnly_DocumentationChecks",
        "user-agent: FooBot\ndisallow: /\nallow: /fish*\n",
        "FooBot",
        "http://foo.bar/catfish",
        False,
    ),
    (
        "GoogleOnly_DocumentationChecks",
        "user-agent: FooBot\ndisallow: /\nallow: /fish/\n",
        "FooBot",
        "http://foo.bar/fish",
        False,
    ),
    (
        "GoogleOnly_DocumentationChecks",
        "user-agent: FooBot\ndisallow: /\nallow: /*.php$\n",
        "FooBot",
        "http://foo.bar/filename.php?parameters",
        False,
    ),
    (
        "GoogleOnly_DocumentationChecks",
        "user-agent: FooBot\ndisallow: /\nallow: /fish*.php\n",
        "FooBot",
        "http://foo.bar/Fish.PHP",
        False,
    ),
    (
        "GoogleOnly_DocumentationChecks",
        "user-agent: FooBot\nallow: /$\ndisallow: /\n",
        "FooBot",
        "http://example.com/page.html",
        False,
    ),
    # robots.cc KeyIsUserAgent / KeyIsDisallow: accepted misspellings, and keys recognised by prefix.
    *(
        ("robots.cc GetKeyType", f"{ua}: FooBot\n{dis}: /\n", "FooBot", "http://foo.bar/x", False)
        for ua, dis in [
            ("useragent", "dissallow"),
            ("user agent", "dissalow"),
            ("User-Agent", "disalow"),
            ("USERAGENT", "DIASLLOW"),
            ("user-agents", "disallaw"),
            ("user-agent", "Disallowed"),
        ]
    ),
    # robots.cc HandleUserAgent: '*' followed by whitespace and more text is still the global group.
    ("robots.cc HandleUserAgent", "User-agent: * (everyone)\nDisallow: /\n", "FooBot", "http://foo.bar/x", False),
    ("robots.cc HandleUserAgent", "User-agent: *everyone\nDisallow: /\n", "FooBot", "http://foo.bar/x", True),
    # A colon-less line is read only with exactly two tokens (robots.cc GetKeyAndValueFrom).
    ("robots.cc GetKeyAndValueFrom", "User-agent: FooBot\nDisallow / x\n", "FooBot", "http://foo.bar/x", True),
]


@pytest.mark.parametrize(("source", "text", "agent", "url", "expected"), GOOGLE_CASES, ids=[c[0] for c in GOOGLE_CASES])
def test_google_reference_behaviours(source, text, agent, url, expected):
    assert robots.decide(robots.parse(text.encode()), url, [agent])[0].allowed is expected, source


def test_lenient_reading_is_named_in_the_rule():
    text = "User-agent: *\nAllow: /\n\nuser agent: ClaudeBot\nDisalow: /\n\nUser-agent GPTBot\ndisallow /\n"
    claude, gpt, other = robots.decide(robots.parse(text.encode()), "https://e.org/x", ["ClaudeBot", "GPTBot", "x"])
    assert not claude.allowed
    assert claude.rule == (
        "Disalow: / (line 5, group 'ClaudeBot'; misspelled key accepted as Google's parser does; "
        "user-agent line 4 'user agent: ClaudeBot': misspelled key accepted as Google's parser does)"
    )
    assert not gpt.allowed
    assert gpt.rule == (
        "disallow / (line 8, group 'GPTBot'; line without a colon accepted as Google's parser does; "
        "user-agent line 7 'User-agent GPTBot': line without a colon accepted as Google's parser does)"
    )
    assert other.allowed and other.rule == "Allow: / (line 2, group '*')"
    star = robots.decide(robots.parse(b"User-agent: * all of you\nDisallow: /\n"), "https://e.org/x", ["GPTBot"])[0]
    assert star.rule.endswith("'*' followed by more text read as '*' as Google's parser does)")


def test_line_numbers_follow_google_line_endings():
    # ID_LinesNumbersAreCountedCorrectly: LF, CRLF, CR and mixed endings number lines alike; the decision
    # names line 6 in every variant.
    for sep in ("\n", "\r\n", "\r"):
        text = sep.join(["User-Agent: foo", "Allow: /some/path", "User-Agent: bar", "", "", "Disallow: /"])
        decision = robots.decide(robots.parse(text.encode()), "https://e.org/x", ["bar"])[0]
        assert decision.rule == "Disallow: / (line 6, group 'bar')", repr(sep)
    mixed = "User-Agent: foo\nAllow: /some/path\r\nUser-Agent: bar\n\r\n\nDisallow: /"
    rule = robots.decide(robots.parse(mixed.encode()), "https://e.org/x", ["bar"])[0].rule
    assert rule.startswith("Disallow: / (line 6")


@pytest.mark.parametrize("separator", ["\u2028", "\x0c", "\x0b", "\x85", "\x1e"])
def test_only_cr_and_lf_end_a_line(separator):
    # RFC 9309 2.2: EOL = CR / LF / CRLF. Split anywhere else, 'Allow: /' would tie with 'Disallow: /' and win.
    text = f"User-agent: *\nDisallow: /\nDisallow: /x{separator}Allow: /\n"
    assert not allowed(text, "/page", "GPTBot")


@pytest.mark.parametrize("bom", [b"\xef\xbb\xbf", b"\xef\xbb", b"\xef"])
def test_a_partial_bom_is_skipped(bom):
    # ID_UTF8ByteOrderMarkIsSkipped: a full or partial BOM before the first line does not hide it.
    assert not allowed(bom + b"User-Agent: foo\nDisallow: /AnyValue\n", "/AnyValue", "foo")


def test_a_broken_or_misplaced_bom_spoils_only_its_line():
    # ID_UTF8ByteOrderMarkIsSkipped: '\xef\x11\xbf' is no BOM, its line is junk; the rest is read.
    parsed = robots.parse(b"\xef\x11\xbfUser-Agent: foo\nDisallow: /AnyValue\n")
    assert parsed.invalid_lines == 1 and not parsed.groups
    parsed = robots.parse(b"User-Agent: foo\n\xef\xbb\xbfDisallow: /AnyValue\n")
    assert parsed.invalid_lines == 1 and robots.decide(parsed, "https://e.org/AnyValue", ["foo"])[0].allowed


# --- deliberate divergences from Google's parser (named in the module docstring) ----------------------


def test_divergence_index_html_does_not_allow_its_directory():
    # GoogleOnly_IndexHTMLisDirectory expects '/allowed-slash/' allowed; the file allows only index.html.
    text = "User-Agent: *\nAllow: /allowed-slash/index.html\nDisallow: /\n"
    assert not allowed(text, "/allowed-slash/", "foobot")
    assert allowed(text, "/allowed-slash/index.html", "foobot")
    assert not allowed(text, "/allowed-slash/index.htm", "foobot")


def test_divergence_unreserved_escapes_are_decoded_as_the_rfc_says():
    # ID_Encoding expects 'Allow: /foo/bar/%62%61%7A' not to cover /foo/bar/baz; RFC 9309 Figure 4 says it does.
    text = "User-agent: FooBot\nDisallow: /\nAllow: /foo/bar/%62%61%7A\n"
    assert allowed(text, "/foo/bar/baz", "FooBot")
    assert allowed(text, "/foo/bar/%62%61%7A", "FooBot")
    # ID_Encoding leaves encoding the URL to the caller ('/foo/bar/ツ' unencoded does not match); we encode it.
    assert allowed("User-agent: FooBot\nDisallow: /\nAllow: /foo/bar/ツ\n", "/foo/bar/ツ", "FooBot")
    assert allowed("User-agent: FooBot\nDisallow: /\nAllow: /foo/bar/%E3%83%84\n", "/foo/bar/ツ", "FooBot")


def test_divergence_product_tokens_keep_digits():
    # Google's ExtractUserAgent stops at '2' ('AI'), so its AI2Bot group would never apply to AI2Bot.
    text = "User-agent: AI2Bot\nDisallow: /\n\nUser-agent: *\nAllow: /\n"
    assert not allowed(text, "/x", "AI2Bot")
    assert allowed(text, "/x", "AI")
    assert robots.product_token("AI2Bot/1.0 (+https://allenai.org)") == "AI2Bot"


def test_divergence_long_lines_are_not_cut():
    # GoogleOnly_LineTooLong: Google keeps only 8 * 2083 bytes of a line, so a long Allow line is cut to a
    # broader prefix that allows more than it says, and a long Disallow line covers more than it says.
    long = "/x/" + "b" * (8 * 2083)
    allow = f"user-agent: FooBot\ndisallow: /\nallow: {long}/qux\n"
    assert allowed(allow, long + "/qux", "FooBot")
    assert not allowed(allow, long + "/fux", "FooBot")  # Google: allowed by the cut-off Allow
    disallow = f"user-agent: FooBot\ndisallow: {long}/qux\n"
    assert not allowed(disallow, long + "/qux", "FooBot")
    assert allowed(disallow, long + "/fux", "FooBot")  # Google: disallowed by the cut-off Disallow


# --- the 500 KiB limit cuts inside a line: that line is dropped, never parsed ---------------------------


def _cut_file(line: bytes, keep: int, eol: bytes = b"\n") -> bytes:
    """`User-agent: *`, `Disallow: /`, padding, then `line` placed so that the cut at MAX_BYTES leaves its
    first `keep` bytes."""
    head = b"User-agent: *" + eol + b"Disallow: /" + eol
    pad = robots.MAX_BYTES - keep - len(head)
    filler = (b"#" * (pad - len(eol))) + eol
    return head + filler + line + eol + b"Allow: /everything-after" + eol


def test_a_line_cut_at_the_limit_is_dropped():
    body = _cut_file(b"Allow: /public-only", keep=len(b"Allow: /"))
    assert body[: robots.MAX_BYTES].endswith(b"Allow: /")
    parsed = robots.parse(body)
    assert parsed.truncated
    # Parsed, the cut line would read 'Allow: /', tie with 'Disallow: /' and allow everything.
    assert not robots.decide(parsed, "https://e.org/private", ["GPTBot"])[0].allowed
    assert not robots.decide(parsed, "https://e.org/public-only", ["GPTBot"])[0].allowed


def test_the_line_before_a_cut_line_keeps_its_last_character():
    # `Allow: /ab` read as `Allow: /a` would allow /ax.
    head, last, cut = b"User-agent: *\nDisallow: /\n", b"Allow: /ab\n", b"Disallow: /never-read-whole\n"
    pad = robots.MAX_BYTES - len(head) - len(last) - 5  # the cut falls 5 bytes into `cut`
    body = head + b"#" * (pad - 1) + b"\n" + last + cut
    assert body[: robots.MAX_BYTES].endswith(last + cut[:5])
    parsed = robots.parse(body)
    assert parsed.truncated
    assert robots.decide(parsed, "https://e.org/ab", ["GPTBot"])[0].allowed
    assert not robots.decide(parsed, "https://e.org/ax", ["GPTBot"])[0].allowed


def test_a_body_of_exactly_the_limit_is_read_whole():
    line = b"Disallow: /x"  # the file's last line, without an end of line
    head = b"User-agent: *\n"
    body = head + b"#" * (robots.MAX_BYTES - len(head) - len(line) - 1) + b"\n" + line
    assert len(body) == robots.MAX_BYTES
    parsed = robots.parse(body)
    assert not parsed.truncated
    assert not robots.decide(parsed, "https://e.org/x", ["GPTBot"])[0].allowed


@pytest.mark.parametrize("junk", ["this line is junk", ": a value without a key"])
def test_a_junk_line_does_not_end_the_file(junk):
    assert not allowed(f"User-agent: *\n{junk}\nDisallow: /private\n", "/private", "GPTBot")


@pytest.mark.parametrize("eol", [b"\n", b"\r\n", b"\r"])
def test_a_line_ending_at_the_limit_is_kept(eol):
    # The cut falls right after the line (CRLF: between CR and LF, or before its EOL): the line is whole.
    for keep in (len(b"Allow: /public-only"), len(b"Allow: /public-only") + 1):
        body = _cut_file(b"Allow: /public-only", keep=keep, eol=eol)
        parsed = robots.parse(body)
        assert parsed.truncated
        assert robots.decide(parsed, "https://e.org/public-only", ["GPTBot"])[0].allowed, (eol, keep)
        assert not robots.decide(parsed, "https://e.org/everything-after", ["GPTBot"])[0].allowed


def test_a_user_agent_line_after_usage_lines_continues_the_group():
    """Google's robots.cc sets its group separator only at Allow/Disallow (HandleUnknownAction leaves it), and
    RFC 9309 2.2's grammar has no other rules: a user-agent line after a Content-Usage line joins that group.
    Allow/Disallow are read that way (GPTBot is disallowed here: protego says allowed); the usage line stays
    with the group it was written in."""
    text = b"User-agent: GPTBot\nContent-Usage: train-ai=y\nUser-agent: *\nDisallow: /\n"
    parsed = robots.parse(text)
    gpt, cc = robots.decide(parsed, "http://a.test/x", ["GPTBot", "CCBot"])
    assert not gpt.allowed and "continues the agent's group" in gpt.rule
    assert not cc.allowed
    assert Protego.parse(text.decode()).can_fetch("http://a.test/x", "GPTBot")  # the reading we do not take
    usage = robots.decide_usage(parsed, "http://a.test/x", ["GPTBot", "CCBot"])
    assert [u.allowed for u in usage] == [True, True] and "train-ai=y" in usage[0].rule
    # a group closed by Allow/Disallow is not continued
    closed = robots.parse(b"User-agent: GPTBot\nAllow: /x\nUser-agent: *\nDisallow: /\n")
    assert robots.decide(closed, "http://a.test/x", ["GPTBot"])[0].allowed


# --- how the fetch ended (RFC 9309 2.3.1): the whole outcome, as evidence records it ---------------------

FETCHED_BODY = b"User-agent: *\nDisallow: /x\n"


@pytest.mark.parametrize(
    ("status", "redirects", "mode", "outcome"),
    [
        (400, 0, "allow_all", "unavailable (HTTP 400)"),
        (404, 5, "allow_all", "unavailable (HTTP 404)"),
        (499, 0, "allow_all", "unavailable (HTTP 499)"),
        (500, 0, "disallow_all", "unreachable (HTTP 500)"),
        (503, 0, "disallow_all", "unreachable (HTTP 503)"),
        (300, 0, "disallow_all", "unreachable (HTTP 300)"),  # a redirect not followed
        (199, 0, "disallow_all", "unreachable (HTTP 199)"),
        (200, 6, "disallow_all", "unreachable (more than 5 redirects)"),
    ],
)
def test_a_fetch_that_ended_without_rules_allows_or_disallows_all(status, redirects, mode, outcome):
    got = robots.from_fetch(status, FETCHED_BODY, url="https://e.org/robots.txt", redirects=redirects,
                            fetched_at="2026-01-02T03:04:05Z")  # fmt: skip
    digest = hashlib.sha256(FETCHED_BODY).hexdigest()
    assert got == robots.Robots("https://e.org/robots.txt", mode, outcome, (), digest, "2026-01-02T03:04:05Z")
    decision = robots.decide(got, "https://e.org/y", ["GPTBot"])[0]
    allowed = mode == "allow_all"
    assert decision.allowed is allowed
    assert decision.rule == f"{outcome}: {'allow' if allowed else 'disallow'} all"
    assert decision.evidence == (robots.Evidence("robots", "https://e.org/robots.txt", outcome, digest,
                                                 "2026-01-02T03:04:05Z"),)  # fmt: skip


def test_no_response_disallows_all_and_has_no_digest():
    got = robots.from_fetch(None, url="https://e.org/robots.txt", fetched_at="2026-01-02T03:04:05Z")
    assert got == robots.Robots("https://e.org/robots.txt", "disallow_all", "unreachable (no response)", (), None,
                                "2026-01-02T03:04:05Z")  # fmt: skip


@pytest.mark.parametrize(("status", "redirects"), [(200, 0), (299, 5)])
def test_a_2xx_fetch_is_parsed(status, redirects):
    got = robots.from_fetch(status, FETCHED_BODY, url="https://e.org/robots.txt", redirects=redirects,
                            fetched_at="2026-01-02T03:04:05Z")  # fmt: skip
    assert got == robots.parse(FETCHED_BODY, "https://e.org/robots.txt", "2026-01-02T03:04:05Z")
    assert (got.mode, got.outcome, got.url, got.fetched_at) == ("rules", "parsed", "https://e.org/robots.txt",
                                                                "2026-01-02T03:04:05Z")  # fmt: skip
    assert not robots.decide(got, "https://e.org/x", ["GPTBot"])[0].allowed
    assert robots.from_fetch(status, None).mode == "rules"  # an empty 2xx body: rules, none of them


def test_no_robots_txt_at_all_allows_all():
    assert robots.missing() == robots.Robots("robots.txt", "allow_all", "missing")
    assert robots.missing("https://e.org/robots.txt").url == "https://e.org/robots.txt"


def test_every_agent_gets_its_own_whole_decision():
    """One decision per honoured agent, in order, whatever path decides the first: a missing one would read as
    "no objection" for that agent."""
    text = b"User-agent: GPTBot\nDisallow: /private\n\nUser-agent: CCBot\nAllow: /\n"
    url, at, digest = "https://e.org/robots.txt", "2026-01-02T03:04:05Z", hashlib.sha256(text).hexdigest()
    parsed = robots.parse(text, url, at)
    agents = ["GPTBot", "ClaudeBot", "CCBot"]

    def evidence(seen: str, sha256: str | None = digest) -> tuple:
        return (robots.Evidence("robots", url, seen, sha256, at),)

    nobody = "no group for this agent and no '*' group"
    assert robots.decide(parsed, "https://e.org/private/x", agents) == [
        robots.Decision("GPTBot", False, "robots", "Disallow: /private (line 2, group 'GPTBot')",
                        evidence("Disallow: /private")),
        robots.Decision("ClaudeBot", True, "robots", nobody, evidence(nobody)),
        robots.Decision("CCBot", True, "robots", "Allow: / (line 5, group 'CCBot')", evidence("Allow: /")),
    ]  # fmt: skip
    assert robots.decide(parsed, "https://e.org/public", agents)[0] == robots.Decision(
        "GPTBot", True, "robots", "no matching rule in group 'GPTBot'", evidence("no matching rule in group 'GPTBot'")
    )
    assert robots.decide(parsed, "https://e.org/robots.txt", agents) == [
        robots.Decision(agent, True, "robots", "/robots.txt is always allowed", ()) for agent in agents
    ]
    down = robots.from_fetch(503, b"", url=url, fetched_at=at)
    empty = hashlib.sha256(b"").hexdigest()
    assert robots.decide(down, "https://e.org/x", agents) == [
        robots.Decision(agent, False, "robots", "unreachable (HTTP 503): disallow all",
                        evidence("unreachable (HTTP 503)", empty)) for agent in agents
    ]  # fmt: skip


def test_a_longer_rule_seen_later_still_wins_and_a_tie_goes_to_allow_whatever_the_order():
    for rules in ("Disallow: /a\nAllow: /ab\nDisallow: /a*\n", "Disallow: /a*\nAllow: /ab\nDisallow: /a\n"):
        decision = robots.decide(robots.parse(f"User-agent: *\n{rules}".encode()), "https://e.org/abc", ["x"])[0]
        assert decision.allowed and decision.rule.startswith("Allow: /ab (line 3")
    tie = "User-agent: *\nAllow: /ab\nDisallow: /a*\n"  # 3 against 3, Allow first
    assert robots.decide(robots.parse(tie.encode()), "https://e.org/abc", ["x"])[0].rule.startswith("Allow: /ab")
    same = "User-agent: *\nDisallow: /ab\nDisallow: /a*\n"  # equal length and kind: the first one is named
    assert robots.decide(robots.parse(same.encode()), "https://e.org/abc", ["x"])[0].rule.startswith("Disallow: /ab")


# --- found by mutation testing (tests/mutation/): each pins a behaviour a surviving mutant changed --------------

AT = "2026-01-02T03:04:05Z"
ROBOTS_URL = "https://e.org/robots.txt"


def test_the_parse_keeps_every_group_and_line_as_written():
    """Agents named together share one group (RFC 9309 2.2.1, also after an earlier group closed), no phantom
    group comes before the first user-agent line, and a path-scoped usage line keeps its whole preference list
    (`train-ai=y, search=n` holds a space: the path ends at the first one)."""
    text = (b"User-agent: A\nUser-agent: B\nDisallow: /x\nContent-Usage: /ai/ train-ai=y, search=n\n\n"
            b"User-agent: C\nUser-agent: D\nAllow: /\n")  # fmt: skip
    assert robots.parse(text).groups == (
        robots.Group(("A", "B"), (
            robots.Line("disallow", "/x", "", "Disallow: /x", 3),
            robots.Line("content-usage", "/ai/", "train-ai=y, search=n", "Content-Usage: /ai/ train-ai=y, search=n", 4),
        ), ("", "")),
        robots.Group(("C", "D"), (robots.Line("allow", "/", "", "Allow: /", 8),), ("", "")),
    )  # fmt: skip
    prefs = robots.decide_usage(robots.parse(text), "https://e.org/ai/page", ["A"])[0]
    assert prefs.allowed and prefs.rule.startswith("Content-Usage: /ai/ train-ai=y, search=n (line 4")


def test_rfc_5_1_agents_named_together_are_one_group_in_the_rule():
    """RFC 9309 5.1: barbot and bazbot share the group 'barbot, bazbot'; it is their own group, not one that
    continues another."""
    decision = robots.decide(robots.parse(RFC_5_1.encode()), "https://example.com/example/page.html", ["barbot"])[0]
    assert decision.rule == "Disallow: /example/page.html (line 13, group 'barbot, bazbot')"


def test_a_str_body_is_read_as_its_utf8_bytes_lone_surrogates_included():
    """A str body (lone surrogates from `surrogateescape` decoding included) is the same file as its UTF-8
    bytes: same groups and the same digest, the one `base.sha256_hex` gives that text."""
    text = "User-agent: *\nDisallow: /a\udcff\nDisallow: /b\n"
    raw = text.encode("utf-8", "surrogatepass")
    parsed = robots.parse(text, ROBOTS_URL, AT)
    assert parsed == robots.parse(raw, ROBOTS_URL, AT)
    assert parsed.sha256 == hashlib.sha256(raw).hexdigest()
    assert not robots.decide(parsed, "https://e.org/b", ["x"])[0].allowed


def test_an_html_page_is_recorded_whole_as_evidence():
    page = b"<!DOCTYPE html><html><body>User-agent: *<br>Disallow: /</body></html>"
    assert robots.parse(page, ROBOTS_URL, AT) == robots.Robots(
        ROBOTS_URL, "allow_all", "html served as robots.txt: no rules", (), hashlib.sha256(page).hexdigest(), AT
    )


@pytest.mark.parametrize(
    ("body", "content_type", "html"),
    [
        (b"User-agent: *\nDisallow: /\n", "text/html; charset=utf-8; q=1", True),  # the media type before any ';'
        (b"User-agent: *\nDisallow: /\n", "application/xhtml+xml", True),
        (b"User-agent: *\nDisallow: /\n", "Application/XHTML+XML", True),
        (b"\xef\xbb\xbf<!DOCTYPE html><html>\nUser-agent: *\nDisallow: /\n", None, True),  # BOM, then a page
        (b" " * 1018 + b"<html>\nUser-agent: *\nDisallow: /\n", None, True),  # the tag within the first KiB
        (b" " * 1019 + b"<html>\nUser-agent: *\nDisallow: /\n", None, False),  # the tag ends past the first KiB
        (b"X<html>\nUser-agent: *\nDisallow: /\n", None, False),  # text before the tag: a (broken) robots.txt
        (b"XX\xef\xbb\xbf<html>\nUser-agent: *\nDisallow: /\n", None, False),
    ],
)
def test_html_is_recognised_by_media_type_or_a_leading_tag_in_the_first_kib(body, content_type, html):
    """A page served as robots.txt means no rules (allow all); anything else is read as robots.txt, here a
    `Disallow: /` for everyone. Sniffing further than the first KiB would throw away real rules."""
    assert robots.looks_like_html(body, content_type) is html
    decision = robots.decide(robots.parse(body, content_type=content_type), "https://e.org/x", ["GPTBot"])[0]
    assert decision.allowed is html


def test_without_a_url_the_evidence_names_robots_txt_and_an_empty_2xx_is_an_empty_file():
    empty = hashlib.sha256(b"").hexdigest()
    assert robots.from_fetch(200) == robots.Robots("robots.txt", "rules", "parsed", (), empty, None)
    assert robots.parse(b"") == robots.Robots("robots.txt", "rules", "parsed", (), empty, None)
    assert robots.from_fetch(404).url == "robots.txt"


def test_directives_are_every_line_as_written():
    """`directives` is what the opt-out parser and crawl politeness read: keyless lines keep their number and
    text, a comment starts at the first `#`, unknown keys come back lower-cased with no leniency note, and the
    notes of a line read by two leniencies are both named."""
    body = (b"junk line here\n: value\nUser-agent: * # one # two\nFoo: bar\nuseragent GPTBot\n"
            b"User-agent\t: x\n")  # fmt: skip
    assert robots.directives(body) == ([
        robots.Directive(1, None, "", "junk line here"),
        robots.Directive(2, None, "", ": value"),
        robots.Directive(3, "user-agent", "*", "User-agent: *"),
        robots.Directive(4, "foo", "bar", "Foo: bar"),
        robots.Directive(5, "user-agent", "GPTBot", "useragent GPTBot", f"{robots.NO_COLON}; {robots.TYPO}"),
        robots.Directive(6, "user-agent", "x", "User-agent\t: x"),
    ], False)  # fmt: skip


def test_only_ascii_whitespace_surrounds_keys_and_values():
    """RFC 9309's WS is SP and HTAB; Google's parser (absl::ascii_isspace) adds VT and FF. A no-break space or
    U+3000 is part of the text: a line of it is not empty, and a key or value keeps it."""
    body = "\u3000\nUser-agent\u00a0: A\nDisallow: /x\u00a0\n\x0bAllow: /y\x0c\n".encode()
    assert robots.directives(body)[0] == [
        robots.Directive(1, None, "", "\u3000"),
        robots.Directive(2, "user-agent", "A", "User-agent\u00a0: A", robots.PREFIX),
        robots.Directive(3, "disallow", "/x\u00a0", "Disallow: /x\u00a0"),
        robots.Directive(4, "allow", "/y", "Allow: /y"),
    ]


def test_junk_lines_are_counted():
    parsed = robots.parse(b"User-agent: *\nthis is junk\n: no key\nFoo: unknown\nCrawl-delay: 3\nDisallow: /\n")
    assert parsed.invalid_lines == 3


def test_a_cut_leaves_no_piece_of_the_cut_line():
    body = _cut_file(b"Allow: /public-only", keep=len(b"Allow: /"))
    assert [d.text for d in robots.directives(body)[0]] == ["User-agent: *", "Disallow: /"]


def test_lenient_notes_are_named_for_the_agent_that_needed_them_only():
    text = b"useragent: A\nUser-agent: B\nUser-agents: C\nuseragent: * all\nDisallow: /\n"
    parsed = robots.parse(text)
    a, b, c, other = robots.decide(parsed, "https://e.org/x", ["A", "B", "C", "Other"])
    label = "group 'A, B, C, * all'"
    assert b.rule == f"Disallow: / (line 5, {label})"
    assert a.rule == f"Disallow: / (line 5, {label}; user-agent line 1 'useragent: A': {robots.TYPO})"
    assert c.rule == f"Disallow: / (line 5, {label}; user-agent line 3 'User-agents: C': {robots.PREFIX})"
    assert other.rule == (f"Disallow: / (line 5, {label}; user-agent line 4 'useragent: * all': "
                          f"{robots.TYPO}; {robots.GLOBAL})")  # fmt: skip


def test_pattern_length_counts_octets_of_the_normalised_pattern_and_one_per_special():
    assert robots.pattern_length("/") == 1
    assert robots.pattern_length("/a*b$") == 5
    assert robots.pattern_length("*") == 1
    assert robots.pattern_length("/%62") == 2  # %62 is `b`


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("*", "/anything", True),  # `*` alone matches every path (RFC 9309 2.2.3)
        ("*/x", "/x/y", True),  # a leading `*` may match nothing
        ("*/a*b", "/a/b", True),
        ("/a*b$", "/ab", True),  # `*` may match nothing before an anchored end
        ("/*2F*x", "/%2F2Fx2F", True),  # the first `2F` is inside `%2F`: the next one, not the last, is used
        ("/*2F*x", "/%2Fx", False),  # an escape is one octet (RFC 9309 2.2.2): protego matches inside it
    ],
)
def test_wildcards_may_match_nothing_and_pieces_are_placed_leftmost(pattern, path, matches):
    assert robots.path_matches(pattern, path) is matches
    text = f"User-agent: *\nDisallow: {pattern}\n"
    assert robots.decide(robots.parse(text.encode()), "https://e.org" + path, ["x"])[0].allowed is not matches
    if matches:  # independent reference
        assert not Protego.parse(text).can_fetch("https://e.org" + path, "x")


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("http://[x/a b?q=1#f#g", "/a%20b?q=1"),  # no identity (broken IPv6 host): after the authority, no fragment
        ("http://[x?q=1?r", "/?q=1?r"),  # the query starts at the first '?'
        ("http://[x", "/"),
        ("http://[x/p", "/p"),
    ],
)
def test_a_url_without_identity_still_has_its_path(url, path):
    assert robots.url_path(url) == path


def test_rules_after_an_empty_disallow_or_a_usage_line_still_count():
    for first in ("Disallow:", "Content-Usage: train-ai=n"):
        text = f"User-agent: *\n{first}\nDisallow: /private\n"
        decision = robots.decide(robots.parse(text.encode()), "https://e.org/private/x", ["x"])[0]
        assert not decision.allowed and decision.rule == "Disallow: /private (line 3, group '*')"


def test_a_continued_group_is_named_exactly_in_the_rule():
    text = b"User-agent: GPTBot\nContent-Usage: train-ai=y\nUser-agent: *\nDisallow: /\n"
    decision = robots.decide(robots.parse(text), "http://a.test/x", ["GPTBot"])[0]
    assert decision.rule == "Disallow: / (line 4, group '*', which continues the agent's group)"


def test_usage_decisions_are_whole_for_every_agent():
    """Every agent gets its decision with every usage line seen as evidence (aipref or content-signal by the
    line's key), also when no line states a preference for the category; a usage line after Allow/Disallow is
    read."""
    text = (b"User-agent: GPTBot\nContent-Usage: search=n\nContent-Signal: search=yes\n\n"
            b"User-agent: CCBot\nDisallow: /x\nContent-Signal: ai-train=no\n")  # fmt: skip
    digest = hashlib.sha256(text).hexdigest()
    parsed = robots.parse(text, ROBOTS_URL, AT)

    def seen(signal: str, line: str) -> robots.Evidence:
        return robots.Evidence(signal, ROBOTS_URL, line, digest, AT)

    assert robots.decide_usage(parsed, "https://e.org/page", ["GPTBot", "CCBot", "Other"]) == [
        robots.Decision("GPTBot", True, "aipref", "no usage preference for train-ai",
                        (seen("aipref", "Content-Usage: search=n"),
                         seen("content-signal", "Content-Signal: search=yes"))),
        robots.Decision("CCBot", False, "content-signal",
                        "Content-Signal: ai-train=no (line 7, group 'CCBot', category train-ai)",
                        (seen("content-signal", "Content-Signal: ai-train=no"),)),
        robots.Decision("Other", True, "aipref", "no usage preference for train-ai", ()),
    ]  # fmt: skip


def test_a_path_scoped_usage_line_even_for_root_outranks_a_group_wide_one():
    """A line with a path is more specific than one without (no path counts as the shortest): `/ train-ai=y`
    overrides the group-wide `train-ai=n`, as draft-ietf-aipref-attach's path-scoped example does."""
    text = b"User-agent: *\nContent-Usage: train-ai=n\nContent-Usage: / train-ai=y\n"
    decision = robots.decide_usage(robots.parse(text), "https://e.org/x", ["x"])[0]
    assert decision.allowed and decision.rule.startswith("Content-Usage: / train-ai=y (line 3")


def test_equal_usage_lines_name_the_first_and_a_leniency_is_named():
    text = b"useragent: GPTBot\nContent-Usage: train-ai=n\nContent-Usage: train-ai=n, search=y\n"
    decision = robots.decide_usage(robots.parse(text), "https://e.org/x", ["GPTBot"])[0]
    assert not decision.allowed
    assert decision.rule == ("Content-Usage: train-ai=n (line 2, group 'GPTBot', category train-ai; "
                             f"user-agent line 1 'useragent: GPTBot': {robots.TYPO})")  # fmt: skip


def test_a_usage_line_for_another_path_does_not_hide_the_lines_after_it():
    text = b"User-agent: *\nContent-Usage: /other/ train-ai=y\nContent-Usage: train-ai=n\n"
    decision = robots.decide_usage(robots.parse(text), "https://e.org/x", ["x"])[0]
    assert not decision.allowed and decision.rule.startswith("Content-Usage: train-ai=n (line 3")


def test_a_usage_line_read_by_a_leniency_says_so():
    """Google's two-token reading applies to every line: `Content-Usage train-ai=n` reserves, and says how it
    was read."""
    parsed = robots.parse(b"User-agent: *\nContent-Usage train-ai=n\n")
    decision = robots.decide_usage(parsed, "https://e.org/", ["x"])[0]
    assert not decision.allowed
    assert decision.rule == f"Content-Usage train-ai=n (line 2, group '*', category train-ai; {robots.NO_COLON})"

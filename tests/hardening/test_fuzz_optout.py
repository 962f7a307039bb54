"""Property-based fuzzing of the opt-out parsers: robots.txt (against protego), ai.txt, tdmrep.json, the
`noai` / `Content-Usage` signals and `explain`. They never raise and finish in bounded time."""

from __future__ import annotations

import json
import re

from hypothesis import example, given
from hypothesis import strategies as st
from protego import Protego

from pipeline.optout import aipref, aitxt, noai, robots, tdmrep
from pipeline.optout.explain import explain
from pipeline.url_identity import normalise_percent
from tests.hardening.support import deadline, fuzz_settings

AGENTS = ["GPTBot", "CCBot", "alphabot", "betabot", "*"]
URL = st.one_of(
    st.text(max_size=60),
    st.builds(lambda p: "https://e.test" + p, st.text(alphabet="/ab.*$%?=&#x[]~ é", max_size=30)),
)


def decide_all(parsed: robots.Robots, url: str) -> None:
    for d in (*robots.decide(parsed, url, AGENTS), *robots.decide_usage(parsed, url, AGENTS)):
        assert isinstance(d.allowed, bool) and d.rule


# --- arbitrary input ---------------------------------------------------------------------------------


@fuzz_settings(300)
@given(body=st.one_of(st.binary(max_size=500), st.text(max_size=300)), url=URL, status=st.none() | st.integers(0, 999))
def test_robots_never_raises(body, url, status):
    with deadline(5, "robots", cpu=True):
        parsed = robots.parse(body)
        decide_all(parsed, url)
        raw = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
        decide_all(robots.from_fetch(status, raw, redirects=status or 0), url)
        decide_all(aitxt.parse(raw, status=status), url)


@fuzz_settings(300)
@given(body=st.one_of(st.binary(max_size=300), st.text(max_size=300)), url=URL)
def test_tdmrep_never_raises(body, url):
    with deadline(5, "tdmrep", cpu=True):
        parsed = tdmrep.parse_file(body)
        (d,) = tdmrep.decide(url, ["GPTBot"], well_known=parsed)
    assert (parsed.malformed is None) or not parsed.rules
    assert isinstance(d.allowed, bool)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)
ENTRY = st.fixed_dictionaries(
    {},
    optional={
        "location": st.one_of(st.text(alphabet="/ab*$%", max_size=8), JSON),
        "tdm-reservation": st.one_of(st.sampled_from([0, 1, "0", "1", " 1 "]), JSON),
        "tdm-policy": st.one_of(st.text(max_size=10), JSON),
    },
)


@fuzz_settings(300)
@given(data=st.one_of(st.lists(ENTRY, max_size=6), JSON), url=URL)
def test_tdmrep_near_valid_files(data, url):
    body = json.dumps(data).encode()
    parsed = tdmrep.parse_file(body)
    tdmrep.decide(url, ["GPTBot"], well_known=parsed)
    valid = (
        isinstance(data, list)
        and all(isinstance(e, dict) for e in data)
        and all(isinstance(e.get("location"), str) and e.get("location") for e in data)
        and all(e.get("tdm-reservation") in (0, 1, "0", "1", " 1 ") for e in data)
        and all(e.get("tdm-reservation") is not True and e.get("tdm-reservation") is not False for e in data)
        and all(e.get("tdm-policy") is None or isinstance(e.get("tdm-policy"), str) for e in data)
    )
    assert (not parsed.errors) == valid, (data, parsed.errors)
    assert (parsed.malformed is None) == isinstance(data, list)  # a broken entry leaves the file usable
    if isinstance(data, list):
        assert len(parsed.rules) == len(data)


HEADER = st.tuples(
    st.sampled_from(["X-Robots-Tag", "x-robots-tag", "Content-Usage", "tdm-reservation", "tdm-policy", "Other"]),
    st.one_of(
        st.text(max_size=40),
        st.sampled_from(["noai", "GPTBot: noai", "noimageai", "train-ai=n", "train-ai=y, bots=n", "1", "0"]),
    ),
)
HTML = st.one_of(
    st.binary(max_size=300),
    st.lists(
        st.sampled_from(
            [
                "<head>",
                "</head>",
                "<meta name=robots content=noai>",
                '<meta name="GPTBot" content="noai, noimageai">',
                "<meta name='tdm-reservation' content='1'>",
                '<meta name="tdm-policy" content="https://p">',
                "<meta ",
                ">",
                "<body>",
                'content="',
                "name=",
                "x" * 50,
            ]
        ),
        max_size=20,
    ).map(lambda parts: "".join(parts).encode()),
)


@fuzz_settings(300)
@given(headers=st.lists(HEADER, max_size=5), html=HTML | st.none())
def test_page_signals_never_raise(headers, html):
    with deadline(5, "page signals", cpu=True):
        for d in (
            *noai.decide(AGENTS, headers=headers, html=html),
            *aipref.decide_header(headers, AGENTS),
            *tdmrep.decide("https://e.test/x", AGENTS, headers=headers, html=html),
        ):
            assert isinstance(d.allowed, bool) and d.rule
    unscoped_noai = any(k.lower() == "x-robots-tag" and v.strip().lower() == "noai" for k, v in headers)
    if unscoped_noai:
        assert not any(d.allowed for d in noai.decide(AGENTS, headers=headers))


@fuzz_settings(200)
@given(
    url=URL,
    robots_txt=st.none() | st.binary(max_size=200),
    status=st.none() | st.sampled_from([200, 301, 404, 429, 500, 503]),
    ctype=st.none() | st.sampled_from(["text/plain", "text/html", "application/octet-stream"]),
    tdmrep_json=st.none() | st.binary(max_size=100),
    ai_txt=st.none() | st.binary(max_size=100),
    headers=st.lists(HEADER, max_size=3),
    html=st.none() | HTML,
)
def test_explain_never_raises(url, robots_txt, status, ctype, tdmrep_json, ai_txt, headers, html):
    with deadline(5, "explain"):
        verdicts = explain(
            url,
            AGENTS,
            robots_txt=robots_txt,
            robots_status=status,
            robots_content_type=ctype,
            files={"/.well-known/tdmrep.json": tdmrep_json, "/ai.txt": ai_txt},
            headers=headers,
            html=html,
        )
    assert [v.agent for v in verdicts] == AGENTS
    for v in verdicts:
        assert v.reserved == bool(v.reserving) and all(not d.allowed for d in v.reserving)
    if status is None or status >= 500:  # RFC 9309: unreachable robots.txt disallows everything
        assert all(v.reserved for v in verdicts)


# --- structured robots.txt, checked against protego --------------------------------------------------

# No '%', non-ASCII or '~': there protego and RFC 9309 normalisation differ (see tests/optout/test_robots.py).
SEGMENT = st.sampled_from(["a", "b", "ab", "x.html", "dir", "-", "_"])
PATTERN = st.builds(
    lambda parts, star, dollar: "/" + "/".join(parts) + ("*" if star else "") + ("$" if dollar else ""),
    st.lists(st.one_of(SEGMENT, st.just("*")), max_size=3),
    st.booleans(),
    st.booleans(),
)
PATH = st.builds(
    lambda parts, q: "/" + "/".join(parts) + q, st.lists(SEGMENT, max_size=4), st.sampled_from(["", "?q=1"])
)
RULE = st.tuples(st.sampled_from(["Allow", "Disallow"]), PATTERN)
GROUP = st.tuples(st.lists(st.sampled_from(["alphabot", "betabot", "*"]), min_size=1, max_size=2, unique=True),
                  st.lists(RULE, max_size=5))  # fmt: skip


def robots_text(groups, sep: str) -> str:
    lines = []
    for agents, rules in groups:
        lines += [f"User-agent: {a}" for a in agents]
        lines += [f"{k}: {p}" for k, p in rules]
        lines.append("")
    return sep.join(lines)


@fuzz_settings(250)
@given(groups=st.lists(GROUP, min_size=1, max_size=4), paths=st.lists(PATH, min_size=1, max_size=5),
       sep=st.sampled_from(["\n", "\r\n", "\r"]))  # fmt: skip
def test_robots_agrees_with_protego(groups, paths, sep):
    text = robots_text(groups, sep)
    ours = robots.parse(text.encode())
    reference = Protego.parse(text)
    for path in paths:
        for agent in ("alphabot", "betabot", "gammabot"):
            url = "https://e.test" + path
            mine = robots.decide(ours, url, [agent])[0]
            assert mine.allowed == reference.can_fetch(url, agent), (text, path, agent, mine.rule)


def regex_reference(pattern: str, path: str) -> bool:
    """RFC 9309 2.2.2-2.2.3 as a regex over octets (exponential on hostile patterns, fine here): both sides
    percent-normalised (RFC 3986 6.2.2), every `%XX` one octet, `*` any run, a final `$` the end, and
    `*` / `$` in the URL, or written `%2A` / `%24` in the pattern, literal."""

    def octets(text: str) -> str:  # one character per octet, so '.*' can never stop inside an escape
        text = normalise_percent(text).replace("*", "%2A").replace("$", "%24").replace("'", "%27")
        return re.sub(r"%([0-9A-F]{2})", lambda m: chr(0xF0000 + int(m.group(1), 16)), text)

    anchored = pattern.endswith("$")
    pieces = (pattern[:-1] if anchored else pattern).split("*")
    body = ".*".join(re.escape(octets(p)) for p in pieces)
    return re.compile(body + ("$" if anchored else ""), re.DOTALL).match(octets(path)) is not None


@fuzz_settings(400)
@given(pattern=st.text(alphabet="/a*$%2AF4é", max_size=8), path=st.text(alphabet="/a*$%2AF4é", max_size=8))
@example(pattern="*A", path="*")  # '/*A' must not find its 'A' inside the '%2A' that stands for the URL's '*'
@example(pattern="*4$", path="é$")
def test_path_matcher_agrees_with_the_regex_definition(pattern, path):
    # Both start with '/', and share the characters escapes are made of, so a '*' may try to stop inside one.
    pattern, url = "/" + pattern, "https://e.test/" + path
    assert robots.path_matches(pattern, robots.url_path(url)) == regex_reference(pattern, "/" + path), (pattern, path)


@fuzz_settings(20)
@given(stars=st.integers(20, 3000), tail=st.sampled_from(["x$", "a*b$", "a"]))
def test_hostile_patterns_are_linear(stars, tail):
    pattern = "/" + "*a" * stars + tail
    with deadline(2, f"path_matches with {stars} stars", cpu=True):
        robots.path_matches(pattern, "/" + "a" * 5000 + "b")

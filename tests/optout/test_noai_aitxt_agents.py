"""noai / noimageai, ai.txt and the default agent list."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.optout import agents, aitxt, base, noai, robots

# --- noai ------------------------------------------------------------------------------------------------


def test_x_robots_tag_noai_reserves_text():
    d = noai.decide(["GPTBot"], headers={"X-Robots-Tag": "noai, noimageai"})[0]
    assert not d.allowed and d.rule == "X-Robots-Tag: noai, noimageai (http-header)"


def test_noimageai_alone_does_not_reserve_text_but_is_recorded():
    d = noai.decide(["GPTBot"], headers={"X-Robots-Tag": "noimageai"})[0]
    assert d.allowed and d.evidence[0].seen == "X-Robots-Tag: noimageai"


def test_agent_prefixed_and_repeated_headers():
    headers = [
        ("X-Robots-Tag", "GPTBot: noai"),
        ("x-robots-tag", "noindex"),
        ("X-Robots-Tag", "unavailable_after: 2030"),
    ]
    gpt, cc = noai.decide(["GPTBot", "CCBot"], headers=headers)
    assert not gpt.allowed and cc.allowed and cc.rule == "no noai directive"


def test_meta_robots_and_bot_specific_meta():
    html = b'<html><head><meta name="robots" content="noimageai"><meta name="GPTBot" content="noai"></head>'
    gpt, cc = noai.decide(["GPTBot", "CCBot"], html=html)
    assert not gpt.allowed and gpt.rule == '<meta name="GPTBot" content="noai"> (html-meta)'
    assert cc.allowed and "noimageai only" in cc.rule
    all_bots = noai.decide(["CCBot"], html=b'<meta name="robots" content="noai, noimageai">')[0]
    assert not all_bots.allowed


def test_meta_in_body_is_ignored_and_broken_html_never_raises():
    assert noai.decide(["a"], html=b'<head></head><body><meta name="robots" content="noai">')[0].allowed
    assert noai.decide(["a"], html=b"<meta name=robots content=noai" + b"\xff" * 1000)[0].allowed


def test_a_valued_first_directive_is_no_agent_scope():
    """Google's `name: value` directives (`max-snippet: 50`) open a header without scoping it to an agent named
    'max-snippet': the `noai` after it reserves for every agent (mutation testing: a scope test that looked at
    the wrong group or case survived)."""
    for value in ("max-snippet: 50, noai", "MAX-SNIPPET: 50, noai", "unavailable_after: 2030-01-01, noai"):
        gpt, cc = noai.decide(["GPTBot", "CCBot"], headers={"X-Robots-Tag": value})
        assert not gpt.allowed and not cc.allowed, value
    assert noai.parse_x_robots_tag("max-snippet: 50, noai") == (None, {"max-snippet", "noai"})


def test_a_directive_is_named_by_what_precedes_its_first_colon():
    """`noai: <value>` is still a noai (the safe reading of a directive carrying a value, as Google names
    `max-snippet: 50` by what precedes the colon), even when the value holds colons (a time)."""
    value = "noindex, noai: since 2025-01-01T00:00:00Z"
    assert noai.parse_x_robots_tag(value) == (None, {"noindex", "noai"})
    assert not noai.decide(["GPTBot"], headers={"X-Robots-Tag": value})[0].allowed
    assert noai.parse_x_robots_tag("GPTBot: noai: yes, noimageai") == ("gptbot", {"noai", "noimageai"})


def test_header_evidence_is_what_was_seen_its_hash_and_when():
    """The evidence a release records for a header: the family, the header as sent, the sha256 of its value
    (computed here with hashlib) and the fetch time the caller gave."""
    d = noai.decide(["GPTBot"], headers={"X-Robots-Tag": "noai"}, fetched_at="2026-12-05T10:00:00Z")[0]
    assert d.evidence == (
        noai.Evidence("noai", "http-header", "X-Robots-Tag: noai", hashlib.sha256(b"noai").hexdigest(),
                      "2026-12-05T10:00:00Z"),
    )  # fmt: skip
    assert d.signal == "noai"


def test_meta_evidence_hashes_the_page_it_came_from():
    html = b'<html><head><meta name="robots" content="noai"></head><body>x</body></html>'
    d = noai.decide(["GPTBot"], html=html, fetched_at="2026-12-05T10:00:00Z")[0]
    assert not d.allowed and d.evidence == (
        noai.Evidence("noai", "html-meta", '<meta name="robots" content="noai">', hashlib.sha256(html).hexdigest(),
                      "2026-12-05T10:00:00Z"),
    )  # fmt: skip


def test_meta_tags_without_noai_are_no_evidence():
    """Only noai/noimageai tags are evidence: a page with `noindex` and a description says nothing about AI use
    (mutation testing: `directives | {...}` made every meta tag a finding, `noimageai only` for a noindex page)."""
    html = b'<head><meta name="robots" content="noindex"><meta name="description" content="noai"></head>'
    d = noai.decide(["GPTBot"], html=html)[0]
    assert d.allowed and d.rule == "no noai directive" and d.evidence == ()


def test_meta_tags_are_read_from_text_too_and_a_tag_without_a_name_is_skipped():
    """html_meta takes the page as bytes or text; a `<meta>` with content but no name (http-equiv, broken) is no
    signal and never raises (mutation testing: `name or content` made it a KeyError)."""
    assert not noai.decide(["GPTBot"], html='<head><meta name="robots" content="noai"></head>')[0].allowed
    html = '<head><meta content="noai"><meta http-equiv="X-Robots-Tag" content="noai"></head>'
    d = noai.decide(["GPTBot"], html=html)[0]
    assert d.allowed and d.evidence == ()


def test_an_element_whose_name_merely_starts_with_meta_has_no_name_attribute():
    """HTML tokenising: `<meta-name="robots" ...>` is an element named `meta-name="robots"` with one attribute,
    content; it is no `<meta name="robots">`."""
    assert noai.decide(["GPTBot"], html='<head><meta-name="robots" content="noai"></head>')[0].allowed


def test_the_hash_of_a_value_with_a_lone_surrogate_is_that_of_its_surrogatepass_bytes():
    """A header decoded with surrogateescape can hold lone surrogates; its evidence hash is still defined (the
    bytes Python's surrogatepass gives, computed here by hand: U+DCFF is ED B3 BF) instead of an exception."""
    assert base.sha256_hex("noai\udcff") == hashlib.sha256(b"noai\xed\xb3\xbf").hexdigest()
    d = noai.decide(["GPTBot"], headers={"X-Robots-Tag": "noai\udcff, noai"})[0]
    assert not d.allowed and d.evidence[0].sha256 == hashlib.sha256(b"noai\xed\xb3\xbf, noai").hexdigest()


def test_each_agent_gets_its_own_whole_decision():
    """Every field of the three outcomes, per agent (a release stores agent, allowed as a boolean, family, rule):
    reserved by noai, noimageai only, no directive."""
    headers = [("X-Robots-Tag", "GPTBot: noai"), ("X-Robots-Tag", "CCBot: noimageai")]
    gpt, cc, other = noai.decide(["GPTBot", "CCBot", "Other"], headers=headers)
    seen = {e.seen: e for e in (*gpt.evidence, *cc.evidence)}
    assert gpt == noai.Decision("GPTBot", False, "noai", "X-Robots-Tag: GPTBot: noai (http-header)",
                                (seen["X-Robots-Tag: GPTBot: noai"],))  # fmt: skip
    assert cc == noai.Decision("CCBot", True, "noai", "noimageai only: images reserved, text allowed",
                               (seen["X-Robots-Tag: CCBot: noimageai"],))  # fmt: skip
    assert other == noai.Decision("Other", True, "noai", "no noai directive", ())
    assert gpt.allowed is False and cc.allowed is True and other.allowed is True


# --- ai.txt ----------------------------------------------------------------------------------------------

# Shaped like Spawning's generated ai.txt: a '*' group disallowing file types.
AI_TXT = b"""# Spawning AI
User-Agent: *
Disallow: *.txt
Disallow: *.html
Disallow: /articles/
Allow: /articles/free/

User-Agent: AperturaBot
Allow: /
"""


def test_aitxt_file_patterns_and_paths():
    parsed = aitxt.parse(AI_TXT, url="https://e.org/ai.txt")
    page = aitxt.decide(parsed, "https://e.org/blog/post.html", ["GPTBot"])[0]
    assert not page.allowed and page.signal == "ai.txt" and page.rule.startswith("Disallow: *.html")
    assert page.evidence[0].signal == "ai.txt"
    assert aitxt.decide(parsed, "https://e.org/blog/post", ["GPTBot"])[0].allowed
    assert not aitxt.decide(parsed, "https://e.org/articles/x", ["GPTBot"])[0].allowed
    assert aitxt.decide(parsed, "https://e.org/articles/free/x", ["GPTBot"])[0].allowed
    assert aitxt.decide(parsed, "https://e.org/blog/post.html", ["AperturaBot"])[0].allowed


def test_aitxt_missing_or_html_gives_no_signal():
    assert aitxt.decide(aitxt.parse(None, status=404), "https://e.org/x.html", ["GPTBot"])[0].allowed
    assert aitxt.decide(aitxt.parse(b"", status=None), "https://e.org/x.html", ["GPTBot"])[0].allowed
    html = aitxt.parse(b"<!doctype html><html>Disallow: /</html>")
    assert aitxt.decide(html, "https://e.org/x.html", ["GPTBot"])[0].allowed


def test_aitxt_inherits_the_robots_rules():
    # Google's leniencies, named in the rule (pipeline.optout.robots).
    text = b"User-Agent: *\nAllow: /\n\nuseragent GPTBot\nDisalow: *.html\n"
    page = aitxt.decide(aitxt.parse(text), "https://e.org/a/post.html", ["GPTBot"])[0]
    assert not page.allowed and page.signal == "ai.txt"
    assert page.rule.startswith("Disalow: *.html (line 5, group 'GPTBot'; misspelled key accepted as Google's")
    # RFC 9309 2.2.2-2.2.3: %2A is a literal '*', an escaped unreserved octet is decoded.
    literal = aitxt.parse(b"User-Agent: *\nDisallow: /file-%2A.html\nDisallow: /%62az\n")
    assert not aitxt.decide(literal, "https://e.org/file-*.html", ["GPTBot"])[0].allowed
    assert aitxt.decide(literal, "https://e.org/file-x.html", ["GPTBot"])[0].allowed
    assert not aitxt.decide(literal, "https://e.org/baz", ["GPTBot"])[0].allowed
    # The line cut at 500 KiB is dropped: 'Allow: /' must not come out of 'Allow: /articles/free/'.
    head = b"User-Agent: *\nDisallow: /\n"
    filler = b"#" * (robots.MAX_BYTES - len(head) - len(b"Allow: /") - 1) + b"\n"
    cut = aitxt.parse(head + filler + b"Allow: /articles/free/\n")
    assert cut.truncated and not aitxt.decide(cut, "https://e.org/other", ["GPTBot"])[0].allowed


def test_a_pattern_without_a_leading_slash_matches_anywhere_and_a_path_stays_anchored():
    """The ai.txt reading (module docstring): `Disallow: private/` or `.pdf` (no leading `/` or `*`) matches anywhere
    in the path, as Spawning's file-type lines are meant; `/articles/` keeps robots.txt's anchoring at the root."""
    parsed = aitxt.parse(b"User-Agent: *\nDisallow: private/\nDisallow: .pdf\nDisallow: /articles/\n",
                         url="https://e.org/ai.txt")  # fmt: skip

    def allowed(path: str) -> bool:
        return aitxt.decide(parsed, f"https://e.org{path}", ["GPTBot"])[0].allowed

    assert not allowed("/a/private/x") and not allowed("/private/x") and not allowed("/docs/report.pdf")
    assert not allowed("/articles/x") and allowed("/blog/articles/x") and allowed("/blog/post")
    rule = aitxt.decide(parsed, "https://e.org/docs/report.pdf", ["GPTBot"])[0].rule
    assert rule.startswith("Disallow: .pdf")  # the line as written is named, not the rewritten pattern


def test_an_aitxt_decision_records_where_and_when_it_was_fetched():
    body = b"User-Agent: *\nDisallow: /\n"
    d = aitxt.decide(aitxt.parse(body, url="https://e.org/ai.txt", fetched_at="2026-12-05T10:00:00Z"),
                     "https://e.org/x", ["GPTBot"])[0]  # fmt: skip
    assert not d.allowed and d.evidence == (
        robots.Evidence("ai.txt", "https://e.org/ai.txt", d.evidence[0].seen, hashlib.sha256(body).hexdigest(),
                        "2026-12-05T10:00:00Z"),
    )  # fmt: skip
    assert aitxt.decide(aitxt.parse(body), "https://e.org/x", ["GPTBot"])[0].evidence[0].where == "ai.txt"


def test_only_a_2xx_non_html_body_is_an_aitxt():
    body = b"User-Agent: *\nDisallow: /\n"
    assert not aitxt.decide(aitxt.parse(body, status=299), "https://e.org/x", ["GPTBot"])[0].allowed
    for status in (199, 300, 404):
        parsed = aitxt.parse(body, url="https://e.org/ai.txt", status=status)
        assert (parsed.url, parsed.mode, parsed.outcome) == (
            "https://e.org/ai.txt",
            "allow_all",
            f"no ai.txt (HTTP {status})",
        )
    assert aitxt.parse(None, url="https://e.org/ai.txt", status=None).outcome == "no ai.txt"
    assert aitxt.parse(None, status=0).outcome == "no ai.txt"
    html = aitxt.parse(body, content_type="text/html; charset=utf-8")  # a page served in its place: no rules
    assert html.mode == "allow_all" and aitxt.decide(html, "https://e.org/x", ["GPTBot"])[0].allowed


# --- agents ----------------------------------------------------------------------------------------------


def test_generated_list_matches_committed_file_and_has_required_agents(fixtures_dir):
    generated = agents.generate(fixtures_dir / "ai-robots" / "robots.json")
    committed = json.loads(agents.DATA_FILE.read_text(encoding="utf-8"))
    assert committed["agents"] == generated
    assert committed["license"] == "MIT" and "738c80df2169027ce0e07c9976fd3f2f57dd8f7b" in committed["source"]
    known = {a.lower() for a in agents.default_agents()}  # agent tokens match case-insensitively
    for token in (*agents.APERTUS_AGENTS, "*", "AperturaBot"):
        assert token.lower() in known
    assert len({a.lower() for a in generated}) == len(generated)


def test_regenerating_from_the_pinned_list_reproduces_the_committed_file(fixtures_dir, tmp_path):
    """`python -m pipeline.optout.agents robots.json` writes exactly the committed ai_agents.json (source, licence,
    generator and list): the file the crawl uses is the one the module's docstring says how to rebuild."""
    out = tmp_path / "ai_agents.json"
    agents.write(fixtures_dir / "ai-robots" / "robots.json", out)
    assert out.read_bytes() == agents.DATA_FILE.read_bytes()


def test_the_list_keeps_the_first_spelling_and_order_and_refuses_a_non_object(tmp_path):
    listed = tmp_path / "robots.json"
    listed.write_text(json.dumps({"  ZetaBot ": {}, "gptbot": {}, "": {}, "ccbot": {}}), encoding="utf-8")
    tokens = agents.generate(listed)
    # the list's own tokens first (stripped, the empty one dropped), then the Apertus agents it lacks, '*', ours
    missing = [a for a in agents.APERTUS_AGENTS if a.lower() not in {"gptbot", "ccbot"}]
    assert tokens == ["ZetaBot", "gptbot", "ccbot", *missing, "*", "AperturaBot"]
    listed.write_text(json.dumps(["GPTBot"]), encoding="utf-8")
    with pytest.raises(ValueError, match="expected a JSON object keyed by user-agent token"):
        agents.generate(listed)


def test_the_agent_list_is_read_and_written_as_utf8_whatever_the_locale(fixtures_dir, tmp_path):
    """robots.json and ai_agents.json are UTF-8 on every machine: neither side may fall back to the locale's
    encoding (a non-UTF-8 locale would misread a non-ASCII token). Python names every text read or write that
    leaves the encoding to the locale with an EncodingWarning under `-X warn_default_encoding`; run as an error,
    in a fresh interpreter importing this tree's code."""
    root = Path(agents.__file__).resolve().parents[2]
    code = (
        "import sys; from pipeline.optout import agents; "
        "agents.write(sys.argv[1], agents.Path(sys.argv[2])); print(len(agents.generate(sys.argv[1])))"
    )
    out = tmp_path / "ai_agents.json"
    done = subprocess.run(
        [sys.executable, "-X", "warn_default_encoding", "-W", "error::EncodingWarning", "-c", code,
         str(fixtures_dir / "ai-robots" / "robots.json"), str(out)],
        cwd=root, capture_output=True, text=True, encoding="utf-8", timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    here = tmp_path / "in_process.json"  # the same call in this process (also what maps this test to the functions)
    agents.write(fixtures_dir / "ai-robots" / "robots.json", here)
    assert out.read_bytes() == here.read_bytes() == agents.DATA_FILE.read_bytes()
    assert int(done.stdout) == len(agents.generate(fixtures_dir / "ai-robots" / "robots.json"))

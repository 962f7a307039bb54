"""IETF aipref `Content-Usage` (robots.txt group line and HTTP header) and Cloudflare `Content-Signal`."""

from __future__ import annotations

import hashlib

from pipeline.optout import aipref, robots


def usage(text: str, path: str, agent: str = "GPTBot", category: str = "train-ai"):
    parsed = robots.parse(text.encode(), url="https://e.org/robots.txt")
    return robots.decide_usage(parsed, "https://e.org" + path, [agent], category)[0]


def test_parse_prefs_vocabulary():
    assert aipref.parse_prefs("train-ai=n, search=y") == {"train-ai": True, "search": False}
    assert aipref.parse_prefs("train-ai=maybe, =n, junk") == {}
    assert aipref.parse_prefs("train-ai=y, train-ai=n") == {"train-ai": True}  # most restrictive in a list
    assert aipref.parse_prefs("search=yes, ai-train=no", content_signal=True) == {"search": False, "train-ai": True}


def test_missing_category_falls_back_to_parent():
    assert aipref.resolve({"train-ai": True}, "train-genai") == (True, "train-ai")
    assert aipref.resolve({"bots": True}, "train-ai") == (True, "bots")
    assert aipref.resolve({"search": True}, "train-ai") is None


def test_group_line_reserves_training():
    # draft-ietf-aipref-attach: a Content-Usage rule inside a robots.txt group.
    d = usage("User-Agent: *\nAllow: /\nContent-Usage: train-ai=n\n", "/a")
    assert not d.allowed and d.signal == "aipref"
    assert d.rule == "Content-Usage: train-ai=n (line 3, group '*', category train-ai)"
    assert d.evidence[0].where == "https://e.org/robots.txt"
    # robots.txt itself still allows the fetch: the preference is about use, not access.
    parsed = robots.parse(b"User-Agent: *\nAllow: /\nContent-Usage: train-ai=n\n")
    assert robots.decide(parsed, "https://e.org/a", ["GPTBot"])[0].allowed


def test_path_scoped_line_overrides_group_wide_line():
    # After draft-ietf-aipref-attach's robots.txt example: training not wanted except under /ai-ok/.
    text = "User-Agent: *\nAllow: /\nDisallow: /never/\nContent-Usage: train-ai=n\nContent-Usage: /ai-ok/ train-ai=y\n"
    assert not usage(text, "/a").allowed
    ok = usage(text, "/ai-ok/page")
    assert ok.allowed and ok.rule.startswith("Content-Usage: /ai-ok/ train-ai=y")


def test_equally_specific_lines_most_restrictive_wins():
    text = "User-Agent: *\nContent-Usage: train-ai=y\nContent-Signal: ai-train=no\n"
    d = usage(text, "/x")
    assert not d.allowed and d.signal == "content-signal"
    assert len(d.evidence) == 2


def test_content_signal_cloudflare_managed_form():
    # Cloudflare's managed robots.txt: "Content-Signal: search=yes,ai-train=no" in the '*' group.
    text = "User-agent: *\nContent-Signal: search=yes,ai-train=no\nAllow: /\n"
    assert not usage(text, "/x").allowed
    assert usage(text, "/x", category="search").allowed


def test_agent_group_replaces_star_group():
    text = "User-Agent: *\nContent-Usage: train-ai=n\n\nUser-Agent: AperturaBot\nContent-Usage: train-ai=y\n"
    assert usage(text, "/x", agent="AperturaBot").allowed
    assert not usage(text, "/x", agent="CCBot").allowed


def test_no_statement_and_blanket_outcomes_allow():
    assert usage("User-Agent: *\nDisallow: /x\n", "/y").allowed
    unreachable = robots.from_fetch(503, b"")
    assert robots.decide_usage(unreachable, "https://e.org/y", ["GPTBot"])[0].allowed


def test_header_most_restrictive_wins():
    headers = [("Content-Usage", "train-ai=y"), ("content-usage", "train-ai=n, search=y")]
    d = aipref.decide_header(headers, ["GPTBot", "CCBot"])
    assert [x.allowed for x in d] == [False, False]
    assert d[0].rule == "Content-Usage: train-ai=n, search=y (train-ai=n)"
    assert len(d[0].evidence) == 2 and d[0].evidence[0].where == "http-header"


def test_header_fallback_and_absence():
    assert not aipref.decide_header({"Content-Usage": "bots=n"}, ["a"])[0].allowed
    assert aipref.decide_header({"Content-Usage": "search=n"}, ["a"])[0].allowed
    assert aipref.decide_header(None, ["a"])[0].rule == "no Content-Usage preference for train-ai"


def test_header_allow_names_the_first_allowing_statement():
    """An allowing Content-Usage is named in the rule (the first one), not reported as 'no preference'."""
    d = aipref.decide_header([("Content-Usage", "train-ai=y"), ("Content-Usage", "bots=y")], ["GPTBot", "CCBot"])
    assert [(x.agent, x.allowed, x.signal) for x in d] == [("GPTBot", True, "aipref"), ("CCBot", True, "aipref")]
    assert d[0].rule == "Content-Usage: train-ai=y (train-ai=y)"


def test_a_header_that_says_nothing_on_the_category_does_not_hide_a_later_reservation():
    """Every Content-Usage header is read: one with no statement on train-ai (search=n) before one reserving it
    must not end the reading (mutation testing: `break` for `continue` survived, a false 'allowed')."""
    d = aipref.decide_header([("Content-Usage", "search=n"), ("Content-Usage", "train-ai=n")], ["GPTBot"])[0]
    assert not d.allowed and d.rule == "Content-Usage: train-ai=n (train-ai=n)"


def test_the_asked_category_decides_the_header():
    headers = {"Content-Usage": "train-ai=y, search=n"}
    search = aipref.decide_header(headers, ["GPTBot"], category="search")[0]
    assert not search.allowed and search.rule == "Content-Usage: train-ai=y, search=n (search=n)"
    assert aipref.decide_header(headers, ["GPTBot"])[0].allowed  # train-ai, the default


def test_header_evidence_is_what_was_seen_its_hash_and_when():
    d = aipref.decide_header({"Content-Usage": "train-ai=n"}, ["GPTBot"], fetched_at="2026-12-05T10:00:00Z")[0]
    assert d.signal == "aipref" and d.evidence == (
        aipref.Evidence("aipref", "http-header", "Content-Usage: train-ai=n",
                        hashlib.sha256(b"train-ai=n").hexdigest(), "2026-12-05T10:00:00Z"),
    )  # fmt: skip


def test_parameters_quotes_and_repeats_in_a_preference_list():
    """draft-ietf-aipref-attach: the list is a Structured Fields dictionary (RFC 8941), so a member may carry
    parameters (`;src=x`, whose '=' and ';' must not be taken for the member's own) and the most restrictive of
    repeated keys wins; a quoted "n" reserves too (the safe reading)."""
    assert aipref.parse_prefs("train-ai=n;src=x") == {"train-ai": True}
    assert aipref.parse_prefs("train-ai=n;a=1;b=2, search=y;a=1") == {"train-ai": True, "search": False}
    assert aipref.parse_prefs('train-ai="n"') == {"train-ai": True}
    assert aipref.parse_prefs("train-ai=n, train-ai=y") == {"train-ai": True}
    assert aipref.parse_prefs("train-ai=y, train-ai=n") == {"train-ai": True}


def test_an_unreadable_member_is_skipped_not_the_end_of_the_list():
    """Unknown or malformed members are ignored (draft-ietf-aipref-vocab): the statements after them still count
    (mutation testing: `break` for `continue` dropped a reservation after a junk member)."""
    assert aipref.parse_prefs("junk, =n, search=maybe, search=Xn, train-ai=n") == {"train-ai": True}


def test_content_signal_keys_it_does_not_map_are_kept_as_written():
    prefs = aipref.parse_prefs("ai-train=no, train-ai=no, custom=yes", content_signal=True)
    assert prefs == {"train-ai": True, "custom": False}


def test_resolve_asks_about_training_by_default():
    assert aipref.resolve({"train-ai": True}) == (True, "train-ai")
    assert aipref.resolve({"train-genai": True}) is None  # a child's statement does not decide its parent

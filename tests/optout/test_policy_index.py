"""`PolicyIndex` and `explain` on a hand-built collected frame: the answers their docstrings and RFC 9309 promise.

Pure and fast (no WARC, no crawl): each test builds the rows the policy scan would collect and checks the
evidence row of each fetch, the origin's `SitePolicy`, the record a parsed file points at, and the decisions.
Expected values come from the standards and the module docstrings, never from running the code.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable

import polars as pl
import pytest

from pipeline.optout import families
from pipeline.optout.base import Decision, sha256_hex
from pipeline.optout.explain import SitePolicy, decide, explain
from pipeline.optout.policies import FILE_ROW_SCHEMA, MAX_REDIRECTS, RAW_CHARS, PolicyIndex, redirect_target
from pipeline.sources.policy_scan import COLLECTED_SCHEMA

ROBOTS = "http://a.test/robots.txt"
AI_TXT = "http://a.test/ai.txt"
TDMREP = "http://a.test/.well-known/tdmrep.json"
DISALLOW_ALL = b"User-agent: *\nDisallow: /\n"
AGENTS = ["GPTBot"]
assert MAX_REDIRECTS == 5  # RFC 9309 2.3.1.2: follow at least five consecutive redirects


def fetch(url: str, status: int | None = 200, body: bytes | None = DISALLOW_ALL, **extra: object) -> dict:
    """One collected row: a record of `url` with its source columns derived from the URL (so each is distinct)."""
    row: dict = {c: None for c in COLLECTED_SCHEMA}
    row |= {
        "url": url,
        "http_status": status,
        "payload": body,
        "date": "2026-01-02T03:04:05Z",
        "warc_record_id": f"<urn:uuid:{url}>",
        "warc_record_offset": 100 + len(url),
        "warc_record_length": 1000 + len(url),
        "source_file": f"file-of-{url}",
        "source_sha256": "ab" * 32,
        "source_id": f"id-of-{url}",
    }
    return row | extra


def moved(url: str, to: str, status: int = 301) -> dict:
    return fetch(url, status, b"", http_headers=f"Content-Type: text/html\r\nLocation: {to}\r\n")


def build(*rows: dict) -> PolicyIndex:
    return PolicyIndex.build(pl.DataFrame(list(rows), schema=COLLECTED_SCHEMA, orient="row"))


def verdicts(index: PolicyIndex) -> list[tuple[str, str, str]]:
    return index.file_evidence().select("url", "verdict", "rule").rows()


def chain(start: str, hops: int, last: dict) -> list[dict]:
    """`start` redirecting `hops` times (relative Locations) through /r1../r{hops}, the last one being `last`."""
    urls = [start, *(f"http://a.test/r{i}" for i in range(1, hops + 1))]
    return [moved(a, "/" + b.rsplit("/", 1)[1]) for a, b in itertools.pairwise(urls)] + [last | {"url": urls[-1]}]


def robots_reserved(index: PolicyIndex, url: str = "http://a.test/page") -> bool:
    (verdict,) = decide(index.site(url), url, AGENTS)
    return any(d.signal == "robots" for d in verdict.reserving)


# ---- redirect_target: the Location header of a record's header block


@pytest.mark.parametrize("name", ["Location", "location", "LOCATION"])
def test_location_header_name_is_case_insensitive_and_relative_targets_resolve(name: str) -> None:
    """Protects: header names are case-insensitive (RFC 9110 5.1), a relative Location resolves against the URL
    (RFC 9110 10.2.2), and a header before it is not mistaken for it."""
    block = f"HTTP/1.1 301 Moved\r\nContent-Type: text/plain\r\n{name}:  /moved/robots.txt \r\n"
    assert redirect_target(ROBOTS, block) == "http://a.test/moved/robots.txt"


def test_absolute_location_and_no_location() -> None:
    """Protects: an absolute Location (with its own colon) is taken whole; no header block, or none naming a
    Location (or an empty one), is no target."""
    assert redirect_target(ROBOTS, "Location: https://b.test/x/robots.txt") == "https://b.test/x/robots.txt"
    assert redirect_target(ROBOTS, None) is None
    assert redirect_target(ROBOTS, "") is None
    assert redirect_target(ROBOTS, "Content-Type: text/plain\nLocation:   \nX-Location: /no") is None


# ---- _parse: what each status means per family


@pytest.mark.parametrize(
    ("status", "verdict", "rule"),
    [
        (200, "observed", "1 groups"),
        (299, "observed", "1 groups"),
        (300, "redirect", "redirect after 0 hops not found in the inputs: no signal"),
        (399, "redirect", "redirect after 0 hops not found in the inputs: no signal"),
        (400, "not_found", "HTTP 400: no signal"),
        (499, "not_found", "HTTP 499: no signal"),
        (500, "unreachable", "HTTP 500: no signal"),
        (199, "unreachable", "HTTP 199: no signal"),
        (None, "unreachable", "HTTP None: no signal"),
    ],
)
def test_ai_txt_status_boundaries(status: int | None, verdict: str, rule: str) -> None:
    """Protects the module docstring: an ai.txt is parsed only from a 2xx; 4xx is absent, 5xx/no response is
    unreachable, an unfollowed 3xx is a redirect, each no signal (no version in the site's policy)."""
    index = build(fetch(AI_TXT, status))
    assert verdicts(index) == [(AI_TXT, verdict, rule)]
    assert bool(index.site("http://a.test/x").versions("ai.txt")) is (verdict == "observed")


@pytest.mark.parametrize(
    ("status", "verdict", "rule", "reserved"),
    [
        (299, "observed", "parsed (rules)", True),
        (300, "redirect", "redirect after 0 hops not found in the inputs: no signal", False),
        (399, "redirect", "redirect after 0 hops not found in the inputs: no signal", False),
        (400, "not_found", "unavailable (HTTP 400) (allow all)", False),
        (499, "not_found", "unavailable (HTTP 499) (allow all)", False),
        (500, "unreachable", "unreachable (HTTP 500) (disallow all)", True),
        (None, "unreachable", "unreachable (no response) (disallow all)", True),
    ],
)
def test_robots_txt_every_status_decides(status: int | None, verdict: str, rule: str, reserved: bool) -> None:
    """Protects RFC 9309 2.3.1.3-2.3.1.4: a robots.txt's 4xx allows and its 5xx/no response disallows all, so
    these are parsed into the origin's policy; a 3xx whose target was not collected is no signal."""
    index = build(fetch(ROBOTS, status))
    assert verdicts(index) == [(ROBOTS, verdict, rule)]
    assert robots_reserved(index) is reserved
    assert bool(index.site("http://a.test/x")) is (verdict != "redirect")


@pytest.mark.parametrize("url", [ROBOTS, AI_TXT])
def test_unreadable_record_is_malformed_but_a_content_type_error_is_read(url: str) -> None:
    """Protects: a record that could not be read is 'malformed' and no signal, whatever its status; only a
    content-type read error keeps the body (the policy scan still has it)."""
    index = build(fetch(url, 200, read_error="truncated"))
    assert verdicts(index) == [(url, "malformed", "record unreadable: truncated")]
    assert not index.site(url)
    index = build(fetch(url, 200, read_error="read_content_type"))
    assert verdicts(index)[0][1] == "observed" and index.site(url)


def test_content_type_reaches_the_parser() -> None:
    """Protects: an HTML page served as robots.txt (by its Content-Type) is not rules (it allows)."""
    index = build(fetch(ROBOTS, 200, content_type="text/html; charset=utf-8"))
    assert verdicts(index) == [(ROBOTS, "malformed", "html served as robots.txt: no rules (allow all)")]
    assert not robots_reserved(index)


# ---- build: following redirects among the collected fetches


@pytest.mark.parametrize("status", [300, 301, 308, 399])
def test_every_3xx_is_followed_to_its_target(status: int) -> None:
    """Protects: the whole 3xx range is a redirect; the target's body is parsed as the policy URL's file, the
    evidence row stays the policy URL's own record, and the parsed file points at the target's record."""
    target = fetch("http://a.test/r1", 200)
    index = build(target, moved(ROBOTS, "/r1", status))  # the target first: later rows are still read
    assert verdicts(index) == [(ROBOTS, "observed", "parsed (rules)")]
    (rules,) = index.site("http://a.test/x").versions("robots")
    assert (rules.url, rules.fetched_at, rules.sha256) == (ROBOTS, "2026-01-02T03:04:05Z", sha256_hex(DISALLOW_ALL))
    assert index.source(rules.url, rules.sha256, rules.fetched_at) == {
        "source_file": "file-of-http://a.test/r1",
        "source_id": "id-of-http://a.test/r1",
        "source_record_id": "<urn:uuid:http://a.test/r1>",
        "source_offset": 100 + len("http://a.test/r1"),
        "source_length": 1000 + len("http://a.test/r1"),
        "http_status": 200,
    }
    assert index.source(rules.url, rules.sha256, None) is None
    assert robots_reserved(index)


@pytest.mark.parametrize("status", [200, 201, 299, 400, 404])
def test_a_location_outside_3xx_is_not_followed(status: int) -> None:
    """Protects: only a 3xx is followed; a 2xx or 4xx carrying a Location header (201 Created does) is itself
    the answer."""
    target = fetch("http://a.test/r1", 200, b"User-agent: *\nAllow: /\n")
    row = fetch(AI_TXT, status, http_headers="Location: /r1\r\n")
    (got,) = verdicts(build(row, target))
    assert got[1] == ("observed" if status < 300 else "not_found")
    index = build(fetch(ROBOTS, status, http_headers="Location: /r1\r\n"), target)
    assert robots_reserved(index) is (status < 300)


def test_robots_txt_five_redirects_are_followed() -> None:
    """Protects RFC 9309 2.3.1.2: at least five consecutive redirects are followed (the file after them is
    parsed, with the five hops counted)."""
    index = build(*chain(ROBOTS, MAX_REDIRECTS, fetch("", 200)))
    assert verdicts(index) == [(ROBOTS, "observed", "parsed (rules)")]
    assert robots_reserved(index)


def test_robots_txt_more_than_five_redirects_is_unavailable() -> None:
    """Protects RFC 9309 2.3.1.2 as Apertura reads it: more than five redirects -> unavailable, disallow all,
    whether the sixth hop reached a file or the chain goes on."""
    reached = build(*chain(ROBOTS, MAX_REDIRECTS + 1, fetch("", 200, b"User-agent: *\nAllow: /\n")))
    rule = "unreachable (more than 5 redirects) (disallow all)"
    assert verdicts(reached) == [(ROBOTS, "unreachable", rule)]
    assert robots_reserved(reached)
    endless = build(*chain(ROBOTS, MAX_REDIRECTS + 2, fetch("", 200, b"User-agent: *\nAllow: /\n")))
    assert verdicts(endless) == [(ROBOTS, "unreachable", "unreachable (more than 5 redirects)")]
    assert robots_reserved(endless)


def test_five_hops_then_an_uncollected_target_is_no_signal() -> None:
    """Protects: after exactly five followed hops the chain is not yet 'too many'; a redirect whose target was
    not collected is no signal (we do not know what it said), not a disallow."""
    index = build(*chain(ROBOTS, MAX_REDIRECTS, moved("", "/never-collected")))
    assert verdicts(index) == [(ROBOTS, "redirect", "redirect after 5 hops not found in the inputs: no signal")]
    assert not index.site("http://a.test/x")


@pytest.mark.parametrize(("hops", "rule"), [(1, "1 groups"), (MAX_REDIRECTS + 1, "1 groups")])
def test_ai_txt_follows_redirects_too(hops: int, rule: str) -> None:
    """Protects: redirects are followed for every family; only robots.txt gives 'too many' a meaning."""
    index = build(*chain(AI_TXT, hops, fetch("", 200)))
    assert verdicts(index) == [(AI_TXT, "observed", rule)]


def test_ai_txt_chain_beyond_the_limit_stops_as_a_redirect() -> None:
    """Protects: following stops after MAX_REDIRECTS + 1 hops; a family that only reads 2xx gets no signal, and the
    rule says the chain was too long (its target is in the inputs: 'not found in the inputs' would be false)."""
    index = build(*chain(AI_TXT, MAX_REDIRECTS + 2, fetch("", 200)))
    assert verdicts(index) == [(AI_TXT, "redirect", f"more than {MAX_REDIRECTS} redirects: no signal")]


def test_a_redirect_target_missing_from_the_inputs_is_no_signal() -> None:
    """Protects: a chain whose next target was not collected stops there, counting the hops it made."""
    index = build(moved(ROBOTS, "/r1"), moved("http://a.test/r1", "http://b.test/elsewhere"))
    assert verdicts(index) == [(ROBOTS, "redirect", "redirect after 1 hops not found in the inputs: no signal")]
    assert not robots_reserved(index)


def test_the_first_fetch_of_a_target_is_the_one_followed() -> None:
    """Protects: a target fetched twice is followed to its first fetch (build's documented choice)."""
    first = fetch("http://a.test/r1", 200, DISALLOW_ALL)
    later = fetch("http://a.test/r1", 200, b"User-agent: *\nAllow: /\n", date="2026-05-01T00:00:00Z")
    index = build(moved(ROBOTS, "/r1"), first, later)
    (rules,) = index.site("http://a.test/x").versions("robots")
    assert rules.sha256 == sha256_hex(DISALLOW_ALL)
    assert robots_reserved(index)


def test_a_target_with_an_unreadable_record_is_malformed() -> None:
    """Protects: the record judged unreadable is the one the chain ended at."""
    index = build(moved(ROBOTS, "/r1"), fetch("http://a.test/r1", 200, read_error="gzip"))
    assert verdicts(index) == [(ROBOTS, "malformed", "record unreadable: gzip")]


def test_every_version_of_a_file_is_kept_and_the_most_restrictive_wins() -> None:
    """Protects the module docstring: two fetches of one file are two versions of the origin's policy."""
    index = build(
        fetch(ROBOTS, 200, b"User-agent: *\nAllow: /\n"),
        fetch(ROBOTS, 200, DISALLOW_ALL, date="2026-05-01T00:00:00Z"),
    )
    assert len(index.site("http://a.test/x").versions("robots")) == 2
    assert robots_reserved(index)


# ---- the evidence rows


def test_evidence_row_columns() -> None:
    """Protects: each fetch's row names its own record, body, hash and domain, in the declared schema."""
    body = DISALLOW_ALL
    frame = build(fetch("http://www.a.test/ai.txt", 200, body)).file_evidence()
    assert frame.schema == pl.Schema({**FILE_ROW_SCHEMA, "domain": pl.String()})
    assert frame.row(0, named=True) == {
        "kind": "policy_file",
        "url": "http://www.a.test/ai.txt",
        "origin": "www.a.test",
        "signal": "ai.txt",
        "verdict": "observed",
        "rule": "1 groups",
        "raw": body.decode(),
        "raw_sha256": sha256_hex(body),
        "http_status": 200,
        "source_file": "file-of-http://www.a.test/ai.txt",
        "source_id": "id-of-http://www.a.test/ai.txt",
        "source_record_id": "<urn:uuid:http://www.a.test/ai.txt>",
        "source_offset": 100 + len("http://www.a.test/ai.txt"),
        "source_length": 1000 + len("http://www.a.test/ai.txt"),
        "fetched_at": "2026-01-02T03:04:05Z",
        "domain": "a.test",
    }


def test_empty_index_has_the_evidence_schema() -> None:
    """Protects: no policy file still gives the evidence table its columns (a release writes it)."""
    frame = PolicyIndex().file_evidence()
    assert frame.schema == pl.Schema({**FILE_ROW_SCHEMA, "domain": pl.String()}) and frame.is_empty()


@pytest.mark.parametrize(
    "body",
    [
        b"#" * (RAW_CHARS + 500),
        "\U0001f600".encode() * (RAW_CHARS + 10),  # 4-byte characters: exactly RAW_CHARS * 4 bytes kept
        b"#" * (RAW_CHARS - 1) + "\u00e9\u00e9".encode(),  # a 2-byte character straddles the cut
        b"x" + "\U0001f600".encode() * RAW_CHARS,
    ],
)
def test_raw_is_cut_at_raw_chars_characters_and_hashed_whole(body: bytes) -> None:
    """Protects: the evidence keeps the first RAW_CHARS characters (never a broken character) and the sha256
    of the whole body, so the row can be checked against the record."""
    (row,) = build(fetch(TDMREP, 200, body)).file_evidence().select("raw", "raw_sha256").rows()
    assert row == (body.decode()[:RAW_CHARS], sha256_hex(body))


def test_no_body_no_raw() -> None:
    """Protects: a fetch without a body has no raw text and no hash (not the hash of nothing)."""
    (row,) = build(fetch(ROBOTS, None, None)).file_evidence().select("raw", "raw_sha256").rows()
    assert row == (None, None)


def test_site_of_a_url_without_origin_is_empty() -> None:
    """Protects: a URL with no identity gets no site's policy."""
    index = build(fetch(ROBOTS, 500))
    assert index.site("http://a.test/x") and not index.site(None) and not index.site("not a url")


# ---- explain: from raw bytes


def robots_rule(verdicts_: Iterable) -> list[str]:
    return [d.rule for v in verdicts_ for d in v.decisions if d.signal == "robots"]


def test_explain_robots_defaults_and_statuses() -> None:
    """Protects explain's docstring: no robots.txt bytes with the default status is a missing file (allowed);
    a 4xx is RFC 9309's 'unavailable' (allowed), no response disallows all."""
    assert robots_rule(explain("http://a.test/x", AGENTS)) == ["missing: allow all"]
    assert robots_rule(explain("http://a.test/x", AGENTS, robots_status=404)) == ["unavailable (HTTP 404): allow all"]
    (none,) = explain("http://a.test/x", AGENTS, robots_status=None)
    assert none.reserved and robots_rule([none]) == ["unreachable (no response): disallow all"]
    (given,) = explain("http://a.test/x", AGENTS, robots_txt=DISALLOW_ALL)
    assert given.reserved


def test_explain_reads_the_robots_content_type() -> None:
    """Protects: an HTML page served as robots.txt is no rules, so it does not reserve."""
    (v,) = explain("http://a.test/x", AGENTS, robots_txt=DISALLOW_ALL, robots_content_type="text/html")
    assert not v.reserved
    assert robots_rule([v]) == ["html served as robots.txt: no rules: allow all"]


def test_explain_other_files_by_path() -> None:
    """Protects: a site file's evidence names its path; robots.txt or an undeclared path in `files` is refused
    with the reason."""
    (v,) = explain("http://a.test/x", AGENTS, files={"/ai.txt": DISALLOW_ALL})
    assert [(d.signal, d.evidence[0].where) for d in v.reserving] == [("ai.txt", "/ai.txt")]
    for path in ("/robots.txt", "/nope.txt"):
        with pytest.raises(ValueError, match=f"{path} is not the path of a declared site file other than robots.txt"):
            explain("http://a.test/x", AGENTS, files={path: b""})


def toy_family(seen: list, parsed: object = None) -> families.Family:
    """A family whose site file /toy.txt parses to `parsed`; it records what its parser and decider were given,
    and reserves once per version it gets."""

    def parse(f: families.Fetch) -> families.Parsed:
        seen.append(f)
        return "observed", "toy", parsed

    def toy_decide(page: families.Page, files: tuple) -> Iterable[list[Decision]]:
        seen.append(page)
        return ([Decision(a, False, "toy", "reserve") for a in page.agents] for _ in files)

    return families.Family(
        "toy", (families.Signal("toy", "the toy file"),), toy_decide, families.SiteFile("/toy.txt", "toy.txt", parse)
    )


def test_explain_a_file_parsed_to_nothing_is_no_version(monkeypatch: pytest.MonkeyPatch) -> None:
    """Protects families' contract: a parser returning no file means no signal, so the family's decider gets
    no version (it never sees a None); and explain's docstring: each file is read as a 200 response of its path."""
    seen: list = []
    monkeypatch.setattr(families, "FAMILIES", (*families.FAMILIES, toy_family(seen)))
    (v,) = explain("http://a.test/x", AGENTS, files={"/toy.txt": b"junk"})
    assert not v.reserved
    (got,) = [f for f in seen if isinstance(f, families.Fetch)]
    assert (got.url, got.status, got.body) == ("/toy.txt", 200, b"junk")


def test_decide_passes_the_run_options_to_every_family(monkeypatch: pytest.MonkeyPatch) -> None:
    """Protects: `decide` defaults to TDMRep's 'unset' (the spec) and hands a given choice to the families."""
    seen: list = []
    monkeypatch.setattr(families, "FAMILIES", (*families.FAMILIES, toy_family(seen, parsed="v1")))
    decide(SitePolicy({"toy": ("v1",)}), "http://a.test/x", AGENTS)
    decide(SitePolicy({"toy": ("v1",)}), "http://a.test/x", AGENTS, malformed_tdmrep="reserved")
    assert [p.malformed_tdmrep for p in seen] == ["unset", "reserved"]

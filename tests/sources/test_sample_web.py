"""The sample web serves exactly the opt-out signals its ground truth claims (protego as the robots.txt reference)."""

from __future__ import annotations

import contextlib
import fnmatch
import json
import socket
import struct
import time
from collections import deque
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import httpx
import protego
import pytest

from pipeline.sources.sample_web import (
    AI_AGENTS,
    AI_TXT,
    CONTENT_SIGNAL,
    CONTENT_USAGE_HEADER,
    CONTENT_USAGE_ROBOTS,
    GROUND_TRUTH,
    META_ROBOTS,
    NOT_FOUND,
    PAGE,
    REDIRECT,
    RESOURCE,
    ROBOTS,
    ROBOTS_5XX,
    SITE_FILE,
    SITES,
    SLOW_SECONDS,
    TDM_HEADER,
    TDM_META,
    TDMREP_JSON,
    TDMREP_MALFORMED,
    X_ROBOTS_TAG,
    serve_sample_web,
)

AGENTS = (*AI_AGENTS, "AperturaBot")
OPTOUT_HEADERS = {"x-robots-tag", "tdm-reservation", "tdm-policy", "content-usage", "content-signal"}
PAGE_LEVEL = {X_ROBOTS_TAG, META_ROBOTS, TDM_HEADER, TDM_META, CONTENT_USAGE_HEADER}


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.meta: list[tuple[str, str]] = []
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "meta" and "name" in a:
            self.meta.append((a["name"], a.get("content") or ""))
        elif tag == "a" and a.get("href"):
            self.links.append(a["href"])


def tags(body: bytes) -> _Tags:
    parser = _Tags()
    parser.feed(body.decode("utf-8", errors="replace"))
    return parser


def fetch_all(web) -> dict[tuple[str, str], httpx.Response]:
    with httpx.Client(follow_redirects=False, timeout=10) as client:
        return {(e.site, e.path): client.get(url) for url, e in web.ground_truth.items()}


@pytest.fixture(scope="module")
def web():
    with serve_sample_web() as w:
        yield w


@pytest.fixture(scope="module")
def responses(web):
    return fetch_all(web)


def test_ground_truth_shape():
    assert len(SITES) >= 6
    for site in SITES:
        pages = [e for e in GROUND_TRUTH.values() if e.site == site.name and e.kind == PAGE]
        assert 5 <= len(pages) <= 15, site.name
        assert (site.name, "/") in GROUND_TRUTH and (site.name, "/robots.txt") in GROUND_TRUTH
    languages = {e.language for e in GROUND_TRUTH.values() if e.kind == PAGE}
    assert languages == {"en", "de", "fr", "it"}
    kinds = {e.kind for e in GROUND_TRUTH.values()}
    assert kinds == {PAGE, SITE_FILE, REDIRECT, NOT_FOUND, RESOURCE}
    signals = {r.signal for e in GROUND_TRUTH.values() for r in (*e.reserved, *e.reserved_if_strict)}
    assert signals == {
        ROBOTS, ROBOTS_5XX, X_ROBOTS_TAG, META_ROBOTS, TDM_HEADER, TDM_META, TDMREP_JSON, TDMREP_MALFORMED,
        AI_TXT, CONTENT_USAGE_ROBOTS, CONTENT_USAGE_HEADER, CONTENT_SIGNAL,
    }  # fmt: skip
    assert any(e.allowed for e in GROUND_TRUTH.values() if e.kind == PAGE)


def test_status_type_and_redirects(web, responses):
    for key, r in responses.items():
        e = GROUND_TRUTH[key]
        assert r.status_code == e.status, key
        if e.kind == REDIRECT:
            assert r.headers["location"] == e.location, key
            assert GROUND_TRUTH[e.site, e.location] is not None
        elif e.kind != NOT_FOUND:
            assert r.headers["content-type"] == e.content_type, key


def test_optout_headers_and_meta_exactly_as_claimed(responses):
    for key, r in responses.items():
        e = GROUND_TRUTH[key]
        served = sorted((k.lower(), v) for k, v in r.headers.items() if k.lower() in OPTOUT_HEADERS)
        assert served == sorted((k.lower(), v) for k, v in e.headers), key
        if e.kind == PAGE:
            meta = [(n, c) for n, c in tags(r.content).meta]
            assert sorted(meta) == sorted(e.meta), key


def _page_level_signals(r: httpx.Response, agent: str) -> set[str]:
    """An independent reading of the page's own signals (for one agent)."""
    found = set()
    for value in r.headers.get_list("x-robots-tag"):
        scope, _, directives = value.rpartition(":") if ":" in value else ("", "", value)
        if scope.strip() in ("", agent) and "noai" in [d.strip() for d in directives.split(",")]:
            found.add(X_ROBOTS_TAG)
    if r.headers.get("tdm-reservation") == "1":
        found.add(TDM_HEADER)
    if "train-ai=n" in r.headers.get("content-usage", ""):
        found.add(CONTENT_USAGE_HEADER)
    for name, content in tags(r.content).meta:
        if name in ("robots", agent) and "noai" in [d.strip() for d in content.split(",")]:
            found.add(META_ROBOTS)
        if name == "tdm-reservation" and content == "1":
            found.add(TDM_META)
    return found


def test_page_level_reservations_match_served_signals(responses):
    for key, r in responses.items():
        e = GROUND_TRUTH[key]
        if e.kind != PAGE:
            continue
        for agent in AGENTS:
            expected = {x.signal for x in e.reserved_for(agent)} & PAGE_LEVEL
            assert _page_level_signals(r, agent) == expected, (key, agent)


def test_robots_txt_against_protego(web, responses):
    for site in SITES:
        robots = responses[site.name, "/robots.txt"]
        entries = [e for e in GROUND_TRUTH.values() if e.site == site.name and e.kind != SITE_FILE]
        ctype = robots.headers["content-type"]
        if robots.status_code >= 500:
            assert all(e.reserved_for(a) for e in entries for a in AGENTS), site.name
            assert all(r.signal == ROBOTS_5XX for e in entries for r in e.reserved if r.signal.startswith("robots"))
            continue
        assert not any(r.signal == ROBOTS_5XX for e in entries for r in e.reserved)
        if robots.status_code >= 400:
            assert not any(r.signal == ROBOTS for e in entries for r in e.reserved), site.name
            continue
        rp = protego.Protego.parse(robots.text)
        if ctype.startswith("text/html"):
            assert robots.text.lstrip().startswith("<")
            assert not any(r.signal == ROBOTS for e in entries for r in e.reserved), site.name
        for e in entries:
            for agent in AGENTS:
                by_robots = any(r.signal == ROBOTS for r in e.reserved_for(agent))
                assert rp.can_fetch(web.url(e.site, e.path), agent) is not by_robots, (site.name, e.path, agent)
        lines = [line.strip().lower() for line in robots.text.splitlines()]
        usage = any(line.startswith("content-usage:") and "train-ai=n" in line for line in lines)
        signal = any(line.startswith("content-signal:") and "ai-train=no" in line for line in lines)
        for e in entries:
            assert any(r.signal == CONTENT_USAGE_ROBOTS for r in e.reserved) is usage, e.path
            assert any(r.signal == CONTENT_SIGNAL for r in e.reserved) is signal, e.path


def test_blocking_sites_cover_the_required_cases():
    blog = GROUND_TRUTH["blog", "/posts/old-mill"]
    assert {a for r in blog.reserved for a in r.agents} == {"GPTBot", "CCBot"}
    assert not blog.reserved_for("ClaudeBot")
    assert GROUND_TRUTH["news", "/private/entwurf"].reserved_for("AperturaBot")
    assert not GROUND_TRUTH["news", "/de/wahlen-2023"].reserved
    assert GROUND_TRUTH["vault", "/docs/one"].reserved_for("anybody")
    assert GROUND_TRUTH["mirror", "/robots.txt"].status == 404
    assert not GROUND_TRUTH["lab", "/notes/yes"].allowed  # header "y" loses against robots.txt "n"


def _tdm_location_match(pattern: str, path: str) -> bool:
    return fnmatch.fnmatchcase(path, pattern)


def test_tdmrep_json(web, responses):
    r = responses["publisher", "/.well-known/tdmrep.json"]
    rules = r.json()
    assert isinstance(rules, list) and all({"location", "tdm-reservation"} <= set(x) for x in rules)
    for e in (e for e in GROUND_TRUTH.values() if e.site == "publisher" and e.kind != SITE_FILE):
        matched = [x for x in rules if _tdm_location_match(x["location"], e.path)]
        reserved = bool(matched) and matched[0]["tdm-reservation"] == 1
        assert any(x.signal == TDMREP_JSON for x in e.reserved) is reserved, e.path
    assert any(x["tdm-reservation"] == 0 for x in rules)

    bad = responses["archive", "/.well-known/tdmrep.json"]
    assert bad.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(bad.text)
    # A protocol error leaves tdm-reservation unset (allowed); only the strict config reserves.
    for e in (e for e in GROUND_TRUTH.values() if e.site == "archive" and e.kind != SITE_FILE):
        assert e.allowed and not e.reserved_for("GPTBot")
        assert [x.signal for x in e.reserved_for("GPTBot", malformed_tdmrep="reserved")] == [TDMREP_MALFORMED]
    sites_with_tdmrep = {s for (s, p) in GROUND_TRUTH if p == "/.well-known/tdmrep.json"}
    assert sites_with_tdmrep == {"publisher", "archive"}


def test_ai_txt(web, responses):
    body = responses["forum", "/ai.txt"].text
    rp = protego.Protego.parse(body)  # same group/rule syntax as robots.txt
    for e in (e for e in GROUND_TRUTH.values() if e.site == "forum" and e.kind != SITE_FILE):
        assert any(x.signal == AI_TXT for x in e.reserved) is not rp.can_fetch(web.url("forum", e.path), "*"), e.path
    assert any(x.signal == AI_TXT for e in GROUND_TRUTH.values() for x in e.reserved)


def test_link_graph_reaches_every_url(web):
    with httpx.Client(follow_redirects=False, timeout=10) as client:
        for site in SITES:
            base = web.sites[site.name]
            seen, queue = {"/"}, deque(["/"])
            while queue:
                path = queue.popleft()
                r = client.get(base + path)
                targets = [r.headers["location"]] if r.is_redirect else []
                if r.headers.get("content-type", "").startswith("text/html") and path != "/robots.txt":
                    targets += tags(r.content).links
                for href in targets:
                    url = urljoin(base + path, href)
                    parts = urlsplit(url)
                    if parts.scheme == "http" and f"http://{parts.netloc}" == base and parts.path not in seen:
                        seen.add(parts.path)
                        queue.append(parts.path)
            want = {p for (s, p), e in GROUND_TRUTH.items() if s == site.name and e.kind != SITE_FILE}
            assert want <= seen, (site.name, want - seen)
            assert seen <= set(want), (site.name, seen - want)


def test_duplicates_emails_and_special_pages(responses):
    def text(key):
        body = responses[key].content.decode("utf-8")
        return body[body.index("<article>") : body.index("</article>")]

    copy = GROUND_TRUTH["mirror", "/copy/wahlen"]
    assert text(("mirror", copy.path)) == text(copy.duplicate_of)
    for path in ("/copy/vendanges", "/copy/locarno"):
        e = GROUND_TRUTH["mirror", path]
        a, b = text(("mirror", path)), text(e.near_duplicate_of)
        assert a != b
        wa, wb = set(a.split()), set(b.split())
        assert len(wa & wb) / len(wa | wb) > 0.85
    emails = [e for e in GROUND_TRUTH.values() if e.emails]
    assert emails
    for e in emails:
        for address in e.emails:
            assert address in responses[e.site, e.path].text
    broken = responses["news", "/de/umlaute"].content
    assert b'charset="utf-8"' in broken
    with pytest.raises(UnicodeDecodeError):
        broken.decode("utf-8")
    assert len(responses["news", "/fr/dossier-complet"].content) > 1024 * 1024
    assert responses["news", "/media/jahresbericht.pdf"].content.startswith(b"%PDF-")


def test_slow_page_and_request_log(web):
    before = len(web.requests)
    t0 = time.monotonic()
    r = httpx.get(web.url("news", "/it/lento"), headers={"User-Agent": "AperturaBot/0.1 (+https://example.org)"})
    assert r.status_code == 200 and time.monotonic() - t0 >= SLOW_SECONDS
    entry = web.requests[before]
    assert (entry.site, entry.method, entry.path, entry.status) == ("news", "GET", "/it/lento", 200)
    assert entry.user_agent.startswith("AperturaBot/")


def test_deterministic_across_starts(responses):
    with serve_sample_web() as other:
        again = fetch_all(other)
    assert again.keys() == responses.keys()
    for key, r in responses.items():
        assert again[key].status_code == r.status_code, key
        assert again[key].content == r.content, key
        headers = [(k, v) for k, v in r.headers.multi_items() if k != "date"]
        assert [(k, v) for k, v in again[key].headers.multi_items() if k != "date"] == headers, key


def test_stop_is_clean():
    web = serve_sample_web()
    url = web.url("blog", "/")
    assert httpx.get(url).status_code == 200
    threads = list(web._threads)
    web.stop()
    assert not any(t.is_alive() for t in threads)
    with pytest.raises(httpx.ConnectError):
        httpx.get(url, timeout=2)
    web.stop()  # idempotent


def _serve_on_a_free_range(attempts: int = 20):
    """The sample web on consecutive ports from a free one; another range if one of them is taken."""
    for _ in range(attempts):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = s.getsockname()[1]
        if base + len(SITES) > 65535:
            continue
        with contextlib.suppress(OSError):
            return base, serve_sample_web(base_port=base)
    pytest.skip(f"no free range of {len(SITES)} ports in {attempts} attempts")


def test_base_port():
    base, web = _serve_on_a_free_range()
    with web:
        assert [int(u.rsplit(":", 1)[1]) for u in web.sites.values()] == list(range(base, base + len(SITES)))
        assert httpx.get(web.url("vault", "/robots.txt")).status_code == 503


def test_cli_serve(tmp_path):
    from typer.testing import CliRunner

    from pipeline.cli import app

    seeds = tmp_path / "seeds.txt"
    result = CliRunner().invoke(app, ["sample-web", "serve", "--seeds-out", str(seeds), "--duration", "0.2"])
    assert result.exit_code == 0, result.output
    lines = seeds.read_text().splitlines()
    assert len(lines) == len(SITES) and all(u.startswith("http://127.0.0.1:") for u in lines)
    for site in SITES:
        assert site.name in result.output


def test_a_client_hanging_up_mid_request_prints_no_traceback(capfd):
    # A crawler that resets its connection (size limit, timeout) is not the site's error: the server used to print
    # "Exception occurred during processing of request" with a traceback on stderr, inside the crawl CLI's output.
    with serve_sample_web() as web:
        host, port = urlsplit(web.url("news")).netloc.split(":")
        for _ in range(5):
            with socket.create_connection((host, int(port))) as s:
                s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # headers never finished: the server is reading them
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close = RST
        time.sleep(0.3)
        assert httpx.get(web.url("news")).status_code == 200  # the site still serves
    err = capfd.readouterr().err
    assert "Exception occurred" not in err and "Traceback" not in err, err

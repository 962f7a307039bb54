"""Pure pieces of the crawler: URL canonicalisation, scope, links, Crawl-delay, Retry-After, config."""

from __future__ import annotations

import ast
import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

import pipeline.crawl
from pipeline import __version__
from pipeline.crawl.config import DEFAULT_CONTACT, CrawlConfig
from pipeline.crawl.crawler import CrawlError, read_url_list
from pipeline.crawl.politeness import crawl_delay, retry_after
from pipeline.crawl.urls import BadUrl, Scope, canonicalize, extract_links, origin, site_of


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("HTTP://Example.COM", "http://example.com/"),
        ("http://example.com:80/a", "http://example.com/a"),
        ("https://example.com:443/a#frag", "https://example.com/a"),
        ("http://example.com:8080/a/./b/../c", "http://example.com:8080/a/c"),
        ("http://example.com/a/b/..", "http://example.com/a/"),
        # RFC 3986 6.2.2: escaped unreserved characters decoded (%7e is ~), other escapes upper-cased
        ("http://example.com/%7e%2f?q=%aa", "http://example.com/~%2F?q=%AA"),
        ("http://bücher.example/", "http://xn--bcher-kva.example/"),
        ("http://127.0.0.1:5000", "http://127.0.0.1:5000/"),
        ("http://[::1]:8080/x", "http://[::1]:8080/x"),
    ],
)
def test_canonicalize(url, expected):
    assert canonicalize(url) == expected


def test_canonicalize_relative_and_bad():
    assert canonicalize("../x?y#z", "http://h.example/a/b/c") == "http://h.example/a/x?y"
    assert canonicalize("//other.example/p", "https://h.example/") == "https://other.example/p"
    for bad in ("mailto:a@b.c", "javascript:void(0)", "ftp://h/x", "http://", "http://h:99999/"):
        with pytest.raises(BadUrl):
            canonicalize(bad)


def test_origin_scope_and_site():
    assert origin("http://h.example:8080/a?b") == "http://h.example:8080"
    assert site_of("https://www.bbc.co.uk/news") == "bbc.co.uk"
    assert site_of("http://127.0.0.1:8000/") == "127.0.0.1"
    host = Scope("same-host", ["http://www.example.com/", "http://127.0.0.1:8000/"])
    assert host.allows("https://www.example.com/x")  # http -> https upgrade on default ports stays in scope
    assert not host.allows("http://blog.example.com/")
    assert not host.allows("http://127.0.0.1:8001/")  # another loopback port is another host
    site = Scope("same-site", ["http://www.example.com/"])
    assert site.allows("http://blog.example.com:8080/") and not site.allows("http://example.org/")


def test_extract_links():
    html = (
        b'<html><head><base href="/docs/"></head><body><a href="a.html#top">a</a><A HREF="/b">b</A>'
        b'<a href="mailto:x@y.z">m</a><a rel="nofollow" href="/c">c</a><a href="a.html">again</a>'
        b'<a href="http://[bad">bad</a></body></html>'
    )
    assert extract_links(html, "http://h.example/x/y") == ["http://h.example/docs/a.html", "http://h.example/b"]
    assert extract_links("<a href='/é'>x</a>".encode("latin-1"), "http://h/", "latin-1") == ["http://h/%C3%A9"]


def test_crawl_delay_uses_our_group_else_star():
    body = b"User-agent: *\nCrawl-delay: 5\n\nUser-agent: AperturaBot\nUser-agent: other\nCrawl-delay: 2\nAllow: /\n"
    assert crawl_delay(body, "AperturaBot") == 2
    assert crawl_delay(body, "SomeBot") == 5
    assert crawl_delay(b"User-agent: *\nDisallow: /x\n", "AperturaBot") is None
    assert crawl_delay(b"\xef\xbb\xbfUser-agent: *\nCrawl-delay: nan\nCrawl-delay: x\nCrawl-delay: 1.5", "A") == 1.5
    assert crawl_delay(b"Crawl-delay: 9\n", "A") is None  # outside any group
    # The same lines as the opt-out parser reads: Google's misspelled, colon-less user-agent lines count.
    assert crawl_delay(b"User-agent: *\nCrawl-delay: 1\n\nuseragent AperturaBot\nCrawl-delay: 7\n", "AperturaBot") == 7


def test_retry_after():
    at = datetime(2026, 1, 1, tzinfo=UTC)
    assert retry_after("120") == 120
    assert retry_after(format_datetime(at + timedelta(seconds=30), usegmt=True), at) == 30
    assert retry_after("soon") is None and retry_after(None) is None


def test_config_defaults_hash_and_validation(tmp_path):
    c = CrawlConfig()
    assert c.user_agent == f"AperturaBot/{__version__} (+{c.contact})"
    assert c.delay_seconds == 1.0 and c.max_connections_per_host == 1 and c.max_redirects == 5
    assert c.scope == "same-host" and c.warc_max_bytes == 1_000_000_000
    assert c.hash() == CrawlConfig().hash() != CrawlConfig(delay_seconds=2).hash()
    assert CrawlConfig(contact="mailto:x@y.z").user_agent.endswith("(+mailto:x@y.z)")
    assert CrawlConfig(user_agent="Custom/1").user_agent == "Custom/1"
    with pytest.raises(ValidationError):
        CrawlConfig(delay=1)  # extra=forbid
    with pytest.raises(ValidationError):
        CrawlConfig(scope="everywhere")
    with pytest.raises(ValidationError):
        c.model_copy().__setattr__("delay_seconds", 3)  # frozen
    # file + overrides; a new contact rebuilds a default user agent but keeps a custom one
    f = tmp_path / "c.json"
    f.write_text(json.dumps(CrawlConfig(max_pages=3).model_dump(mode="json")))
    loaded = CrawlConfig.load(f, contact="mailto:new@x.y", delay_seconds=None)
    assert loaded.max_pages == 3 and loaded.user_agent.endswith("(+mailto:new@x.y)") and loaded.delay_seconds == 1.0
    f.write_text(json.dumps({"user_agent": "Mine/2"}))
    assert CrawlConfig.load(f, contact="mailto:new@x.y").user_agent == "Mine/2"
    assert CrawlConfig.model_validate_json(c.canonical_json()) == c


def test_config_robots_token_follows_the_user_agent(tmp_path):
    # robots.txt is checked for the crawler that is announced: the product the User-Agent names.
    assert CrawlConfig().robots_token == "AperturaBot"
    assert CrawlConfig(user_agent="GPTBot/1.0").robots_token == "GPTBot"
    assert CrawlConfig(user_agent="CCBot (+https://commoncrawl.org/faq/)").robots_token == "CCBot"
    assert CrawlConfig(robots_token="CCBot").user_agent == f"CCBot/{__version__} (+{DEFAULT_CONTACT})"
    browser_like = "Mozilla/5.0 (compatible; GPTBot/1.2; +https://openai.com/gptbot)"
    assert CrawlConfig(user_agent=browser_like, robots_token="gptbot").robots_token == "gptbot"
    for bad in ({"user_agent": "GPTBot/1.0", "robots_token": "AperturaBot"}, {"user_agent": browser_like}):
        with pytest.raises(ValidationError, match="robots_token"):
            CrawlConfig(**bad)
    # A saved config's token followed its agent, so a new --user-agent brings its own token ...
    f = tmp_path / "c.json"
    f.write_text(CrawlConfig().canonical_json())
    assert CrawlConfig.load(f, user_agent="GPTBot/1.0").robots_token == "GPTBot"
    assert CrawlConfig.load(f, contact="mailto:a@b.c", user_agent="GPTBot/1.0").user_agent == "GPTBot/1.0"
    # ... but a token given on its own is kept, and a user agent that does not name it is refused.
    f.write_text(json.dumps({"robots_token": "AperturaBot"}))
    with pytest.raises(ValidationError, match=r"not a product the user agent 'GPTBot/1\.0' names"):
        CrawlConfig.load(f, user_agent="GPTBot/1.0")


def test_read_url_list(tmp_path):
    f = tmp_path / "hosts.txt"
    f.write_text("example.org  # bare host: https\nhttp://127.0.0.1:8080\nHTTPS://Example.org:443/\n\n# done\n")
    assert read_url_list(f, origins=True) == ["https://example.org", "http://127.0.0.1:8080"]
    f.write_text("https://a.example/x#frag\n  # comment\nhttp://a.example/x\n")
    assert read_url_list(f) == ["https://a.example/x", "http://a.example/x"]
    f.write_text("http://a.example/\nftp://b.example/\n")
    with pytest.raises(CrawlError, match=r"hosts.txt:2: not an http\(s\) URL: 'ftp://b.example/'"):
        read_url_list(f)
    with pytest.raises(CrawlError, match=r"(?i)no such file"):
        read_url_list(tmp_path / "missing.txt")


def test_the_crawl_modules_draw_nothing_but_the_cli():
    # The core reports progress through a callback: rich and typer stay in pipeline/crawl/cli.py.
    drawing = []
    for path in sorted(Path(pipeline.crawl.__file__).parent.glob("*.py")):
        if path.name == "cli.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                modules = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                modules = [node.module or ""]
            else:
                continue
            drawing += [f"{path.name}:{node.lineno} {m}" for m in modules if m.split(".")[0] in ("rich", "typer")]
    assert not drawing

"""HTTP details the sample web does not exercise: Crawl-delay, 429 + Retry-After, gzip and chunked bodies.

A small server of our own on 127.0.0.1 (real HTTP/1.1, chunked transfer coding written by hand).
"""

from __future__ import annotations

import gzip
import itertools
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from pipeline.config import ReadConfig
from pipeline.crawl.crawler import crawl
from pipeline.sources.inputs import read_input
from tests.crawl.helpers import fast_config, records, warc_files

CRAWL_DELAY = 0.2
ROBOTS = (
    "User-agent: *\nCrawl-delay: 5\nDisallow: /no\n\n"
    f"User-agent: AperturaBot\nCrawl-delay: {CRAWL_DELAY}\nDisallow: /secret\n"
)
HOME = (
    b"<!DOCTYPE html><html><body>"
    b'<a href="/gz">gz</a> <a href="chunked">chunked</a> <a href="/busy#x">busy</a>'
    b' <a href="/secret/x">secret</a> <a href="/no">no</a> <a href="mailto:a@b.c">mail</a>'
    b' <a href="http://elsewhere.invalid/">out of scope</a> <a href="/./gz?">same page</a>'
    b"</body></html>"
)
PAGE = b"<!DOCTYPE html><html><body><p>" + b"compressible text " * 400 + b"</p></body></html>"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    log: list[tuple[str, float]]
    busy_seen: list[bool]
    robots_hops = 0  # robots.txt redirects this many times (/robots.txt -> /r/1 -> ... -> /r/N serves it)

    def log_message(self, format, *args) -> None:
        pass

    def _send(self, status: int, body: bytes, ctype: str = "text/html; charset=utf-8", **extra: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        for k, v in extra.items():
            self.send_header(k.replace("_", "-"), v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        import time

        self.log.append((self.path, time.time()))
        hop = 0 if self.path == "/robots.txt" else int(self.path[3:]) if self.path.startswith("/r/") else -1
        if 0 <= hop < self.robots_hops:
            self.send_response(301)
            self.send_header("Location", f"/r/{hop + 1}")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif hop >= 0:
            self._send(200, ROBOTS.encode(), "text/plain")
        elif self.path == "/":
            self._send(200, HOME)
        elif self.path == "/gz":
            self._send(200, gzip.compress(PAGE), Content_Encoding="gzip")
        elif self.path == "/chunked":
            data = gzip.compress(PAGE)
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(0, len(data), 100):
                part = data[i : i + 100]
                self.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
        elif self.path == "/busy" and not self.busy_seen:
            self.busy_seen.append(True)
            self._send(429, b"slow down", "text/plain", Retry_After="1")
        elif self.path in ("/busy", "/no"):
            self._send(200, b"<html><body>ok</body></html>")
        else:
            self._send(404, b"not here", "text/plain")


@pytest.fixture
def server(request) -> Iterator[tuple[str, list[tuple[str, float]]]]:
    log: list[tuple[str, float]] = []
    hops = getattr(request, "param", 0)
    handler = type("H", (_Handler,), {"log": log, "busy_seen": [], "robots_hops": hops})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", log
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_crawl_delay_retry_after_and_encodings(server, tmp_path):
    base, log = server
    out = tmp_path / "out"
    config = fast_config(max_retry_after_seconds=0.5)
    summary = crawl([base + "/"], out, config)
    paths = [p for p, _ in log]
    assert paths[0] == "/robots.txt"
    assert "/secret/x" not in paths  # our own group disallows it
    assert "/no" in paths  # only the '*' group disallows it, and we have a group of our own
    assert paths.count("/busy") == 2 and paths.count("/gz") == 1  # '/./gz?' is not the same URL ('?' kept)
    gaps = [b - a for (_, a), (_, b) in itertools.pairwise(log)]
    assert min(gaps) >= CRAWL_DELAY - 0.01, gaps  # our Crawl-delay (0.2), not '*''s (5) nor the config (0.02)
    busy = [t for p, t in log if p == "/busy"]
    assert busy[1] - busy[0] >= 0.5 - 0.01  # Retry-After: 1, capped at max_retry_after_seconds
    assert summary.statuses["429"] == 0 and summary.statuses["200"] >= 4
    assert summary.robots_skipped == 1

    recs = records(out)  # digests checked
    responses = {r.url.removeprefix(base): r for r in recs if r.type == "response"}
    busy_statuses = sorted(r.status for r in recs if r.type == "response" and r.url == base + "/busy")
    assert busy_statuses == [200, 429]  # the retried 429 is recorded too
    chunked = responses["/chunked"]
    names = [k.lower() for k, _ in chunked.http_headers]
    assert "transfer-encoding" not in names and ("Content-Encoding", "gzip") in chunked.http_headers
    assert chunked.body == gzip.compress(PAGE) or gzip.decompress(chunked.body) == PAGE  # stored still encoded
    assert gzip.decompress(responses["/gz"].body) == PAGE

    rows = {}
    for path in warc_files(out):
        batches, report = read_input(str(path), batch_size=64, read_config=ReadConfig())
        for b in batches:
            for row in b.iter_rows(named=True):
                assert row["read_error"] is None, row
                rows[row["url"].removeprefix(base)] = row
        assert report.read_stopped is None
    assert rows["/gz"]["payload"] == PAGE and rows["/chunked"]["payload"] == PAGE
    assert rows["/"]["payload"] == HOME

    state_seen = {r.url for r in recs}
    assert not any("elsewhere.invalid" in u for u in state_seen if u)


@pytest.mark.parametrize("server", [5, 6], indirect=True)
def test_robots_txt_redirects_are_followed_up_to_five_hops(server, tmp_path, request):
    base, log = server
    hops = request.node.callspec.params["server"]
    summary = crawl([base + "/"], tmp_path / "out", fast_config(max_depth=0))
    paths = [p for p, _ in log]
    recs = records(tmp_path / "out")
    robots_chain = [r for r in recs if r.type == "response" and (r.url.endswith("/robots.txt") or "/r/" in r.url)]
    if hops == 5:  # RFC 9309: at least five redirects are followed; the rules at the end apply
        assert paths[:6] == ["/robots.txt", "/r/1", "/r/2", "/r/3", "/r/4", "/r/5"]
        assert [r.status for r in robots_chain] == [301] * 5 + [200]
        assert summary.pages == 1 and not summary.origins_not_crawled
    else:  # a sixth redirect is not followed: unreachable, nothing else is requested
        assert paths == ["/robots.txt", "/r/1", "/r/2", "/r/3", "/r/4", "/r/5"]
        assert summary.pages == 0
        assert "more than 5 redirects" in summary.origins_not_crawled[base]
        events = [r.json["event"] for r in recs if r.type == "metadata"]
        assert events.count("redirect_limit") == 1 and events.count("origin_not_crawled") == 1


def test_unreachable_origin_is_not_crawled(tmp_path):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    summary = crawl([base + "/"], tmp_path / "out", fast_config(retries=1))
    assert summary.origins_not_crawled == {base: "unreachable (no response)"} and summary.pages == 0
    recs = records(tmp_path / "out")
    errors = [r.json for r in recs if r.type == "metadata" and r.json["event"] == "fetch_error"]
    assert len(errors) == 1 and errors[0]["attempts"] == 2 and "ConnectError" in errors[0]["errors"][0]
    events = [r.json["event"] for r in recs if r.type == "metadata"]
    assert events == ["fetch_error", "robots_outcome", "origin_not_crawled", "robots_disallowed"]  # the seed
    assert not [r for r in recs if r.type in ("request", "response")]

"""The crawler turned against its host (issue 17, item 1): seeds, redirects and site-file redirects that point at
loopback, private, link-local, shared (CGNAT), multicast, reserved and IPv4-mapped addresses are never requested.

Only loopback is ever connected to. 127.0.0.2 and [::1] are real "internal" servers (refused by default, as all
loopback is); 10.x, 169.254.x, 100.64.x, fd00::/8 and the other classes are reached through an injected
resolver, and the sockets are opened by `Spy`, which refuses (without a socket) anything but loopback: a bug in
the policy fails the test instead of sending traffic anywhere.
"""

from __future__ import annotations

import contextlib
import gzip
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpcore
import polars as pl
import pytest
from typer.testing import CliRunner

from pipeline.crawl.config import CrawlConfig
from pipeline.crawl.crawler import crawl, robots_snapshot
from pipeline.crawl.egress import EgressPolicy, address_class
from pipeline.sources.base import SITE_FILE_HEADER
from pipeline.synthetic import make_page
from tests.crawl.helpers import records

# address -> its class, written out by hand (RFC 6890 and friends), not computed by the code under test
CLASSES = {
    "127.0.0.2": "loopback",
    "::1": "loopback",
    "10.1.2.3": "private",
    "172.16.5.4": "private",
    "192.168.1.1": "private",
    "fd00::1": "private",
    "169.254.169.254": "link-local",
    "fe80::1": "link-local",
    "100.64.0.1": "shared address space (carrier-grade NAT)",
    "224.0.0.251": "multicast",
    "ff02::1": "multicast",
    "0.0.0.0": "unspecified",
    "::": "unspecified",
    "240.0.0.1": "reserved",
    "255.255.255.255": "reserved",
    "::ffff:10.0.0.1": "IPv4-mapped private",
    "::ffff:127.0.0.1": "IPv4-mapped loopback",
    "::ffff:169.254.169.254": "IPv4-mapped link-local",
    "2002:a00:1::": "6to4 private",
    "64:ff9b::a9fe:a9fe": "NAT64 link-local",
    "fec0::1": "site-local",
    "192.0.2.10": "private",  # documentation range: never a crawl target
}
PUBLIC = ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8", "2002:808:808::"]
NAMES = {f"h{i}.internal.test": address for i, address in enumerate(CLASSES)}  # a name for every class
LITERALS = [f"http://{a}/" if ":" not in a else f"http://[{a}]/" for a in CLASSES if a not in ("0.0.0.0", "::")]


@pytest.mark.parametrize("address", sorted(CLASSES))
def test_every_refused_address_class(address):
    assert address_class(address) == CLASSES[address]
    assert EgressPolicy().refusal(address) == CLASSES[address]
    assert EgressPolicy(allow_private=True).refusal(address) is None


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_allowed(address):
    assert address_class(address) is None and EgressPolicy().refusal(address) is None


def test_allowed_networks_open_exactly_themselves():
    policy = EgressPolicy(allow_networks=["10.1.2.0/24", "::1/128"])
    assert policy.refusal("10.1.2.3") is None and policy.refusal("::1") is None
    assert policy.refusal("10.1.3.1") == "private" and policy.refusal("127.0.0.1") == "loopback"


# ---------------------------------------------------------------------------------------------- servers


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    routes: dict[str, tuple[int, dict[str, str], bytes]]
    seen: list[str]

    def log_message(self, format, *args) -> None:
        pass

    def do_GET(self) -> None:
        self.seen.append(self.path)
        status, headers, body = self.routes.get(self.path, (404, {"Content-Type": "text/plain"}, b"not here"))
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _V6Server(ThreadingHTTPServer):
    address_family = socket.AF_INET6


@contextlib.contextmanager
def serve(host: str, routes: dict[str, tuple[int, dict[str, str], bytes]]) -> Iterator[tuple[str, list[str]]]:
    """A server on `host` (127.0.0.1, 127.0.0.2 or ::1): (its origin, the paths it was asked for)."""
    seen: list[str] = []
    handler = type("H", (_Handler,), {"routes": routes, "seen": seen})
    server = (_V6Server if ":" in host else ThreadingHTTPServer)((host, 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = server.server_address[1]
    try:
        yield (f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"), seen
    finally:
        server.shutdown()
        server.server_close()


def html(body: str) -> tuple[int, dict[str, str], bytes]:
    return (
        200,
        {"Content-Type": "text/html; charset=utf-8"},
        f"<!DOCTYPE html><html><body>{body}</body></html>".encode(),
    )


def moved(to: str) -> tuple[int, dict[str, str], bytes]:
    return 302, {"Location": to, "Content-Type": "text/plain"}, b""


OK_ROBOTS = (200, {"Content-Type": "text/plain"}, b"User-agent: *\nAllow: /\n")
SECRET = "The internal admin console says the root password is hunter2 and the database lives at db.corp."
INTERNAL = {"/robots.txt": OK_ROBOTS, "/": html(f"<p>{SECRET}</p>"), "/secret": html(f"<main><p>{SECRET}</p></main>")}


class Spy(httpcore.AsyncNetworkBackend):
    """Opens sockets to loopback only; every other connect is recorded and refused before any socket exists."""

    def __init__(self) -> None:
        self.inner = httpcore.AnyIOBackend()
        self.asked: list[str] = []

    async def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        self.asked.append(host)
        if host not in ("127.0.0.1", "127.0.0.2", "::1"):
            raise httpcore.ConnectError(f"test network: no socket to {host}")
        return await self.inner.connect_tcp(host, port, timeout=timeout, socket_options=socket_options)

    async def connect_unix_socket(self, path, timeout=None, socket_options=None):
        raise httpcore.ConnectError("test network: no unix sockets")

    async def sleep(self, seconds):
        await self.inner.sleep(seconds)


class Resolver:
    """Names of the test's own .test hosts; records every lookup (literals must never be looked up)."""

    def __init__(self, names: dict[str, list[str]]) -> None:
        self.names, self.asked = names, []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        answer = self.names[host]
        return answer.pop(0) if answer and isinstance(answer[0], list) else answer  # a list of lists: one per call


def config(**overrides) -> CrawlConfig:
    settings = {"delay_seconds": 0.01, "backoff_seconds": 0.01, "retries": 1, "timeout_seconds": 5,
                "contact": "mailto:ops@example.org", "allow_networks": ("127.0.0.1/32",)}  # fmt: skip
    return CrawlConfig(**(settings | overrides))


def policy(cfg: CrawlConfig, resolver: Resolver) -> EgressPolicy:
    """The policy `cfg` asks for, with the test's resolver instead of the system's."""
    return EgressPolicy(allow_private=cfg.allow_private, allow_networks=cfg.allow_networks, resolver=resolver)


def refused(out: Path) -> dict[str, dict]:
    return {r.url: r.json for r in records(out) if r.type == "metadata" and r.json.get("event") == "egress_refused"}


def responses(out: Path) -> list[str]:
    return [r.url for r in records(out) if r.type == "response"]


# ---------------------------------------------------------------------------------------------- seeds


def test_seeds_of_every_address_class_are_never_requested(tmp_path):
    spy, resolver = Spy(), Resolver({name: [address] for name, address in NAMES.items()})
    seeds = [f"http://{name}/" for name in NAMES] + LITERALS
    summary = crawl(seeds, tmp_path / "out", config(), egress=policy(config(), resolver), network=spy)
    assert spy.asked == []  # no connection was even attempted
    assert sorted(resolver.asked) == sorted(NAMES)  # each name looked up; no IP literal was ever looked up
    found = refused(tmp_path / "out")
    for name, address in NAMES.items():
        assert found[f"http://{name}/robots.txt"]["address_class"] == CLASSES[address], name
    assert len(found) == len(seeds) and responses(tmp_path / "out") == []
    assert summary.egress_refused == len(seeds) and summary.pages == 0
    assert all(why.startswith("egress refused: ") for why in summary.origins_not_crawled.values())
    assert len(summary.origins_not_crawled) == len(seeds)


def test_a_name_with_one_internal_address_among_public_ones_is_refused(tmp_path):
    spy, resolver = Spy(), Resolver({"mixed.test": ["8.8.8.8", "10.0.0.7"]})
    summary = crawl(["http://mixed.test/"], tmp_path / "out", config(), egress=policy(config(), resolver), network=spy)
    assert spy.asked == [] and summary.egress_refused == 1


def test_loopback_internal_hosts_are_refused_for_real(tmp_path):
    """127.0.0.2 and [::1] serve a secret; by default neither receives a single request."""
    with serve("127.0.0.2", INTERNAL) as (v4, seen_v4), serve("::1", INTERNAL) as (v6, seen_v6):
        summary = crawl([v4 + "/", v6 + "/"], tmp_path / "out", config(allow_networks=()))
        assert seen_v4 == [] and seen_v6 == []
        assert summary.egress_refused == 2 and responses(tmp_path / "out") == []
        # control: the same crawl with --allow-private reaches both (so the refusal above is the policy's)
        crawl([v4 + "/", v6 + "/"], tmp_path / "allowed", config(allow_private=True))
        assert "/" in seen_v4 and "/" in seen_v6


def test_the_cli_refuses_loopback_unless_allowed(tmp_path):
    from pipeline.cli import app

    with serve("127.0.0.2", INTERNAL) as (origin, seen):
        (tmp_path / "seeds.txt").write_text(origin + "/\n")
        args = ["crawl", "--seeds", str(tmp_path / "seeds.txt"), "--delay", "0.01"]
        result = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "a")])
        assert result.exit_code == 0, result.output
        assert "refused by the egress policy: 1 fetch" in result.output and "egress refused: loopback" in result.output
        assert seen == []
        result = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "b"), "--allow-network", "127.0.0.2/32"])
        assert result.exit_code == 0 and "/" in seen


# ---------------------------------------------------------------------------------------------- redirects


def test_redirects_to_every_address_class_are_refused(tmp_path):
    """www.example.com (127.0.0.1, allowed for the test) redirects to hosts of its own site (in scope) that resolve to
    each internal class, and to two that resolve to the real internal servers on 127.0.0.2 and [::1]: only
    127.0.0.1 is ever connected to, and every redirect target is refused with its class."""
    with serve("127.0.0.2", INTERNAL) as (v4, seen_v4), serve("::1", INTERNAL) as (v6, seen_v6):
        names = {f"h{i}.example.com": [a] for i, a in enumerate(CLASSES)}
        names |= {"in4.example.com": ["127.0.0.2"], "in6.example.com": ["::1"]}
        targets = [f"http://h{i}.example.com/" for i in range(len(CLASSES))]
        targets += [
            f"http://in4.example.com:{v4.rsplit(':', 1)[1]}/secret",
            f"http://in6.example.com:{v6.rsplit(':', 1)[1]}/secret",
        ]
        links = " ".join(f'<a href="/r/{i}">{i}</a>' for i in range(len(targets)))
        routes = {"/robots.txt": OK_ROBOTS, "/": html(links)} | {f"/r/{i}": moved(t) for i, t in enumerate(targets)}
        with serve("127.0.0.1", routes) as (site, seen):
            spy, resolver = Spy(), Resolver(names | {"www.example.com": ["127.0.0.1"]})
            cfg = config(scope="same-site")
            seed = f"http://www.example.com:{site.rsplit(':', 1)[1]}/"
            summary = crawl([seed], tmp_path / "out", cfg, egress=policy(cfg, resolver), network=spy)
        assert set(spy.asked) == {"127.0.0.1"}
        assert seen_v4 == [] and seen_v6 == []
        assert len(seen) == 4 + len(targets)  # robots.txt, tdmrep.json, ai.txt, the home page, every redirect
        found = {r["host"]: r["address_class"] for r in refused(tmp_path / "out").values()}
        assert found == {name: CLASSES.get(a[0], "loopback") for name, a in names.items()}
        assert summary.egress_refused == len(targets)
        assert all(url.startswith(seed[:-1]) for url in responses(tmp_path / "out"))


def test_dns_rebinding_cannot_reach_a_checked_name_later(tmp_path):
    """The name answers a public address at the first lookup and 127.0.0.2 afterwards: every connection goes to
    the address that was checked for it (never to the name again), so the later answer is refused, not used."""
    with serve("127.0.0.2", INTERNAL) as (internal, seen):
        port = internal.rsplit(":", 1)[1]
        spy = Spy()
        resolver = Resolver({"rebind.test": [["8.8.8.8"], ["127.0.0.2"], ["127.0.0.2"], ["127.0.0.2"]]})
        seed = f"http://rebind.test:{port}/"
        summary = crawl([seed], tmp_path / "out", config(), egress=policy(config(), resolver), network=spy)
        assert seen == []  # the internal server never heard from the crawler
        assert spy.asked == ["8.8.8.8"]  # only ever an address, and only the checked one (refused by the test net)
        assert summary.egress_refused >= 1
        assert any(r["address"] == "127.0.0.2" for r in refused(tmp_path / "out").values())


def test_a_robots_redirect_to_an_internal_host_is_refused_and_snapshots_too(tmp_path):
    with serve("127.0.0.2", INTERNAL) as (internal, seen_internal):
        routes = {"/robots.txt": moved(internal + "/secret"), "/": html("<p>home</p>")}
        with serve("127.0.0.1", routes) as (site, _):
            crawl([site + "/"], tmp_path / "crawl", config())
            robots_snapshot([site], tmp_path / "snap", config())
        assert seen_internal == []
        assert internal + "/secret" in refused(tmp_path / "crawl") and internal + "/secret" in refused(
            tmp_path / "snap"
        )


# ---------------------------------------------------------------------------------------------- site files


def test_whatever_a_site_file_redirects_to_never_becomes_a_document(tmp_path):
    """With --allow-private the crawler follows robots.txt to another host and ai.txt / tdmrep.json to a page of
    the site; the pipeline recognises those responses from the WARC (each carries the site-file mark) and keeps
    none of them as a document, while the same site's real pages are kept."""
    from pipeline.cli import app

    home = (200, {"Content-Type": "text/html; charset=utf-8"}, make_page(5, "http://home.test/", "en").html().encode())
    with serve("127.0.0.2", INTERNAL) as (internal, seen_internal):
        routes = {
            "/robots.txt": moved(internal + "/secret"),
            "/ai.txt": moved("/landing"),
            "/.well-known/tdmrep.json": moved("/landing"),
            "/landing": html(f"<main><p>{SECRET} {SECRET}</p></main>"),
            "/": home,
        }
        with serve("127.0.0.1", routes) as (site, _):
            crawl([site + "/"], tmp_path / "crawl", config(allow_private=True))
    assert "/secret" in seen_internal  # followed, as RFC 9309 asks for robots.txt, and stored as evidence
    marked = {r.url: r.headers.get(SITE_FILE_HEADER) for r in records(tmp_path / "crawl") if r.type == "response"}
    assert marked[internal + "/secret"] == site + "/robots.txt"
    assert marked[site + "/landing"] in (site + "/ai.txt", site + "/.well-known/tdmrep.json")
    assert marked[site + "/"] is None
    release = tmp_path / "release"
    result = CliRunner().invoke(app, ["run", *map(str, sorted((tmp_path / "crawl").glob("*.warc.gz"))), "--out",
                                      str(release), "--no-index"])  # fmt: skip
    assert result.exit_code == 0, result.output
    docs = pl.read_parquet(sorted((release / "documents").glob("*.parquet")))
    ledger = pl.read_parquet(sorted((release / "ledger").glob("*.parquet")))
    assert docs["url"].to_list() == [site + "/"]
    assert not docs["text"].str.contains("hunter2", literal=True).any()
    policy = ledger.filter(pl.col("reason") == "read_policy_file")["url"].to_list()
    assert internal + "/secret" in policy and site + "/landing" in policy
    assert CliRunner().invoke(app, ["verify", str(release)]).exit_code == 0


def test_gzip_bodies_still_cross_the_guard(tmp_path):
    """The guard sits below HTTP: an ordinary allowed exchange (gzip body, keep-alive) is unchanged."""
    body = gzip.compress(b"<!DOCTYPE html><html><body><p>" + b"words and more words " * 100 + b"</p></body></html>")
    routes = {"/robots.txt": OK_ROBOTS, "/": (200, {"Content-Type": "text/html", "Content-Encoding": "gzip"}, body)}
    with serve("127.0.0.1", routes) as (site, seen):
        summary = crawl([site + "/"], tmp_path / "out", config())
    assert seen == ["/robots.txt", "/.well-known/tdmrep.json", "/ai.txt", "/"] and summary.statuses["200"] == 1


def test_https_goes_to_the_checked_address_and_names_the_host_for_tls(tmp_path):
    """The guard connects to the address it checked, but TLS still names the URL's host (SNI, and the certificate
    is verified for it): the self-signed test certificate is refused by the crawler, after the server saw the name."""
    import ssl
    import subprocess

    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=www.example.com",
                    "-keyout", str(key), "-out", str(cert), "-days", "1"], check=True, capture_output=True)  # fmt: skip
    names: list[str | None] = []
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    context.sni_callback = lambda sock, name, ctx: names.append(name)
    handler = type("H", (_Handler,), {"routes": {"/robots.txt": OK_ROBOTS}, "seen": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        spy, resolver = Spy(), Resolver({"www.example.com": ["127.0.0.1"]})
        seed = f"https://www.example.com:{server.server_address[1]}/"
        crawl([seed], tmp_path / "out", config(), egress=policy(config(), resolver), network=spy)
    finally:
        server.shutdown()
        server.server_close()
    assert spy.asked and set(spy.asked) == {"127.0.0.1"}  # the socket went to the checked address ...
    assert names and set(names) == {"www.example.com"}  # ... and TLS named the host
    errors = [r.json for r in records(tmp_path / "out") if r.type == "metadata" and r.json["event"] == "fetch_error"]
    assert errors and "CERTIFICATE_VERIFY_FAILED" in errors[0]["detail"]  # verified for that name, and refused

"""Crawler throughput on a generated multi-host web on 127.0.0.1 (`pipeline.crawl`), delay 0.

    .venv/bin/python -m bench.crawl [--hosts 8] [--pages 500] [--page-kb 3] [--connections 1 4]

1. A site generator in its own process: `--hosts` loopback ports (one asyncio HTTP/1.1 server each,
   keep-alive, responses pre-rendered so the server is not what is measured), each with `--pages`
   HTML pages of about `--page-kb` KB (seeded filler text, 6 links: the next page and 5 random
   ones, so every page is reachable from `/`), `robots.txt` allowing everything, 404 for
   tdmrep.json and ai.txt.
2. For each `--connections` value, a crawl of every host from its home page into a fresh directory,
   in a fresh spawned process (its peak RSS is its own): default politeness machinery (robots.txt
   first, per-host queues, WARC writing with gzip and digests), `delay_seconds=0`.

Prints one JSON line per figure ({name, value, unit, baseline, baseline_value, ratio, peak_rss_mb,
command, ...}) on stdout, then a table on stderr. Pages/s counts page fetches (site files excluded);
bytes/s counts response bodies stored.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.spine import _peak_rss_mb, figure, print_table

_FILLER = (
    "data river open model text crawl audit page light stone valley market harbour ferry mill bridge archive "
    "letter map record signal robot summer winter north south paper garden school train"
)
WORDS = tuple(_FILLER.split())


def _page(host: int, i: int, pages: int, size: int, rng: random.Random) -> bytes:
    links = [(i + 1) % pages, *(rng.randrange(pages) for _ in range(5))]
    nav = " ".join(f'<a href="/p/{n}">page {n}</a>' for n in links)
    words: list[str] = []
    length = 0
    while length < size:
        w = rng.choice(WORDS)
        words.append(w)
        length += len(w) + 1
    text = " ".join(words)
    html = (
        f"<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>Host {host} page {i}</title></head>"
        f"<body><nav>{nav}</nav><article><p>{text}</p></article></body></html>"
    )
    return html.encode()


def _response(status: int, body: bytes, ctype: str = "text/html; charset=utf-8") -> bytes:
    reason = {200: "OK", 404: "Not Found"}[status]
    head = f"HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n\r\n"
    return head.encode() + body


def _site(host: int, pages: int, size: int, seed: int) -> dict[bytes, bytes]:
    rng = random.Random(seed * 1000 + host)
    site = {f"/p/{i}".encode(): _response(200, _page(host, i, pages, size, rng)) for i in range(pages)}
    site[b"/"] = site[b"/p/0"]
    site[b"/robots.txt"] = _response(200, b"User-agent: *\nAllow: /\n", "text/plain")
    return site


async def _serve(hosts: int, pages: int, size: int, seed: int, ports: Any) -> None:
    not_found = _response(404, b"not found", "text/plain")

    def handler(site: dict[bytes, bytes]) -> Any:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while True:
                    head = await reader.readuntil(b"\r\n\r\n")
                    path = head.split(b" ", 2)[1]
                    writer.write(site.get(path, not_found))
                    await writer.drain()
            except (asyncio.IncompleteReadError, ConnectionError, IndexError):
                pass
            finally:
                writer.close()

        return handle

    servers = []
    for h in range(hosts):
        server = await asyncio.start_server(handler(_site(h, pages, size, seed)), "127.0.0.1", 0)
        servers.append(server)
        ports.put(server.sockets[0].getsockname()[1])
    await asyncio.Event().wait()  # until terminated


def serve(hosts: int, pages: int, size: int, seed: int, ports: Any) -> None:
    """Server process entry point: put each port on `ports`, then serve forever."""
    asyncio.run(_serve(hosts, pages, size, seed, ports))


def measure_crawl(seeds: list[str], out: str, connections: int) -> dict[str, Any]:
    """One crawl in this (fresh) process; wall time, counters and peak RSS."""
    from pipeline.crawl import CrawlConfig, crawl

    config = CrawlConfig(delay_seconds=0, max_connections_per_host=connections, max_depth=10_000, allow_private=True)
    start = time.perf_counter()
    summary = crawl(seeds, Path(out), config)
    seconds = time.perf_counter() - start
    warc_bytes = sum(p.stat().st_size for p in Path(out).glob("*.warc.gz"))
    return {
        "seconds": seconds,
        "pages": summary.pages,
        "bytes": summary.bytes,
        "errors": summary.errors,
        "statuses": dict(summary.statuses),
        "warc_bytes": warc_bytes,
        "peak_rss_mb": _peak_rss_mb(),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=8, help="loopback hosts (ports)")
    parser.add_argument("--pages", type=int, default=500, help="pages per host")
    parser.add_argument("--page-kb", type=float, default=3, help="approximate page size, KB")
    parser.add_argument("--connections", type=int, nargs="+", default=[1, 4], help="max_connections_per_host runs")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    command = " ".join(["python", "-m", "bench.crawl", *(argv if argv is not None else sys.argv[1:])])
    ctx = mp.get_context("spawn")
    ports = ctx.Queue()
    server = ctx.Process(
        target=serve, args=(args.hosts, args.pages, int(args.page_kb * 1000), args.seed, ports), daemon=True
    )
    server.start()
    root = Path(tempfile.mkdtemp(prefix="apertura-bench-crawl-"))
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    try:
        seeds = [f"http://127.0.0.1:{ports.get(timeout=60)}/" for _ in range(args.hosts)]
        expected = args.hosts * (args.pages + 1)  # '/' and '/p/0' are the same page under two URLs
        for conns in args.connections:
            with ctx.Pool(1) as pool:
                res = pool.apply(measure_crawl, (seeds, str(root / f"c{conns}"), conns))
            ok = res["pages"] == expected and res["errors"] == 0
            extra = {
                "connections_per_host": conns,
                "hosts": args.hosts,
                "pages": res["pages"],
                "seconds": round(res["seconds"], 2),
                "warc_mb": round(res["warc_bytes"] / 1e6, 1),
                "ok": ok,
            }
            suffix = "" if conns == 1 else f"_{conns}conn"
            for row in (
                figure(
                    f"crawl_pages_per_s{suffix}",
                    res["pages"] / res["seconds"],
                    "pages/s",
                    res["peak_rss_mb"],
                    command,
                    **extra,
                ),
                figure(
                    f"crawl_bytes_per_s{suffix}",
                    res["bytes"] / 1e6 / res["seconds"],
                    "MB/s",
                    res["peak_rss_mb"],
                    command,
                    **extra,
                ),
            ):
                rows.append(row)
                print(json.dumps(row), flush=True)
            notes.append(
                f"{conns} connection(s)/host: {res['pages']:,} pages (expected {expected:,}) "
                f"in {res['seconds']:.1f} s, statuses {res['statuses']}, WARC {res['warc_bytes'] / 1e6:.1f} MB gzip"
            )
    finally:
        server.terminate()
        server.join(5)
        shutil.rmtree(root, ignore_errors=True)
    print_table(rows, notes)


if __name__ == "__main__":
    main()

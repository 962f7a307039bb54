"""The crawler against a hostile server on 127.0.0.1: bounded retries, nothing past the limits, all of it logged.

Issue 8, item 5. `tests/hardening/faulty_server.py` serves one fault per path (connection resets
before and inside a body, a body that stalls, a response head and a body trickled a byte at a time,
an endless chunked body, a gzip bomb, a redirect loop and an endless redirect chain, 429 and 503 with
an hour's Retry-After). One crawl seeded with every path (module fixture, ~3 s) is then checked:

* the crawl ends in bounded time; each path was requested at most `retries + 1` times;
* bodies stop at `max_page_bytes` (`WARC-Truncated: length`) and `max_fetch_seconds` or a stall
  (`WARC-Truncated: time`), a reset inside a body keeps what arrived (`WARC-Truncated: disconnect`);
* a fetch that never got a response is a `fetch_error` metadata record with every attempt's error,
  a redirect chain ends in `redirect_limit`, a loop in `redirect_not_followed`; 429/503 waits are
  capped at `max_retry_after_seconds` and each attempt is a response record;
* the WARC reads back through `read_input` without inflating the bomb (it becomes `read_too_large`),
  and runs through the pipeline into a release that verifies.

What tests/crawl already covers is not repeated here: a read timeout before the head
(test_crawler.py), a 429 followed by a 200 and gzip/chunked bodies (test_http_details.py).
"""

from __future__ import annotations

import time
import tracemalloc
from collections import Counter

import pytest

from pipeline.config import ReadConfig
from pipeline.crawl.crawler import crawl
from pipeline.sources.inputs import read_input
from tests.crawl.helpers import fast_config, records, warc_files
from tests.hardening.faulty_server import FAULTS, PAGE, TRICKLE_EVERY, faulty_server, gzip_bomb_parts
from tests.hardening.support import check_release, deadline, run_build

CONFIG = fast_config(
    timeout_seconds=0.3,  # no byte for this long: give up (head: a failed attempt; body: cut)
    max_fetch_seconds=0.6,  # a whole request, head and body
    retries=1,
    max_retry_after_seconds=0.3,  # the server asks for 3600 s
    max_page_bytes=1 << 20,  # 1 MiB of the bomb inflates to ~1 GiB
    max_redirects=3,
    max_depth=0,
)
CRAWL_BOUND = 30.0  # seconds; the crawl takes ~3 s (two trickled heads of 0.6 s, two 0.3 s Retry-After waits)


@pytest.fixture(scope="module")
def faults(tmp_path_factory):
    """(server, summary, records by kind, elapsed seconds, out dir) of one crawl of every faulty path."""
    out = tmp_path_factory.mktemp("faults") / "crawl"
    with faulty_server() as server:
        started = time.monotonic()
        with deadline(CRAWL_BOUND, "crawl of the faulty server"):
            summary = crawl([server.url(p) for p in FAULTS], out, CONFIG)
        elapsed = time.monotonic() - started
    recs = records(out)  # warcio checks every block and payload digest
    responses: dict[str, list] = {}
    for r in recs:
        if r.type == "response":
            responses.setdefault(r.url.removeprefix(server.base), []).append(r)
    events: dict[str, list[dict]] = {}
    for r in recs:
        if r.type == "metadata":
            events.setdefault(r.json["event"], []).append({"url": (r.url or "").removeprefix(server.base), **r.json})
    return server, summary, responses, events, elapsed, out


def test_the_crawl_ends_in_bounded_time_and_no_path_is_asked_more_than_retries_plus_one(faults):
    server, summary, _, _, elapsed, _ = faults
    assert elapsed < CRAWL_BOUND
    counts = Counter(path for path, _ in server.log)
    assert counts["/robots.txt"] == 1
    assert max(counts.values()) <= CONFIG.retries + 1, counts
    assert summary.pages == len(FAULTS) + 1 + 3  # + /loop-b and /chain/1../chain/3 (redirect hops count)
    assert summary.errors == 2 and summary.truncated == 5


def test_a_reset_before_the_head_is_retried_then_logged_as_a_fetch_error(faults):
    server, _, responses, events, _, _ = faults
    assert len(server.hits("/reset-head")) == CONFIG.retries + 1
    assert "/reset-head" not in responses
    [error] = [e for e in events["fetch_error"] if e["url"] == "/reset-head"]
    assert error["attempts"] == CONFIG.retries + 1 == len(error["errors"])
    assert all(e.split(":")[0] in ("ReadError", "RemoteProtocolError", "ConnectError") for e in error["errors"]), error


def test_a_reset_inside_the_body_keeps_what_arrived_marked_disconnect(faults):
    server, _, responses, _, _, _ = faults
    [resp] = responses["/reset-body"]
    assert len(server.hits("/reset-body")) == 1  # a response came: not retried
    assert resp.headers["WARC-Truncated"] == "disconnect"
    assert resp.body == b"x" * len(resp.body) and len(resp.body) <= server.sent["/reset-body"]
    [ok] = responses["/ok"]
    assert ok.body == PAGE and "WARC-Truncated" not in ok.headers


def test_a_stalled_body_is_cut_after_the_read_timeout_marked_time(faults):
    server, _, responses, _, _, _ = faults
    [resp] = responses["/stall-body"]
    assert len(server.hits("/stall-body")) == 1
    assert resp.body == b"s" * 100
    assert resp.headers["WARC-Truncated"] == "time"  # we gave up waiting; the server did not disconnect


def test_a_trickled_head_fails_at_max_fetch_seconds_and_is_retried(faults):
    # each byte arrives within timeout_seconds, so only max_fetch_seconds can end it
    server, _, responses, events, _, _ = faults
    hits = server.hits("/trickle-head")
    assert len(hits) == CONFIG.retries + 1 and "/trickle-head" not in responses
    [error] = [e for e in events["fetch_error"] if e["url"] == "/trickle-head"]
    assert all("max_fetch_seconds=0.6" in e and e.startswith("ReadTimeout") for e in error["errors"]), error
    assert hits[1] - hits[0] < CONFIG.max_fetch_seconds + 1.0  # the first attempt ended near the limit


def test_a_trickled_body_is_cut_at_max_fetch_seconds(faults):
    server, _, responses, _, _, _ = faults
    [resp] = responses["/trickle-body"]
    assert resp.headers["WARC-Truncated"] == "time"
    assert resp.body == b"b" * len(resp.body)
    assert len(resp.body) <= CONFIG.max_fetch_seconds / TRICKLE_EVERY + 1
    assert server.sent["/trickle-body"] < 10 * CONFIG.max_fetch_seconds / TRICKLE_EVERY  # the server stopped too


def test_an_endless_body_and_a_gzip_bomb_stop_at_max_page_bytes(faults):
    server, _, responses, _, _, _ = faults
    [endless] = responses["/endless"]
    assert endless.headers["WARC-Truncated"] == "length"
    assert endless.body == b"e" * CONFIG.max_page_bytes
    assert "transfer-encoding" not in {k.lower() for k, _ in endless.http_headers}
    assert server.sent["/endless"] < 64 * CONFIG.max_page_bytes  # socket buffers only, not 256 MiB

    [bomb] = responses["/bomb"]
    assert bomb.headers["WARC-Truncated"] == "length"
    assert len(bomb.body) == CONFIG.max_page_bytes  # stored raw: still gzip, never inflated
    assert ("Content-Encoding", "gzip") in bomb.http_headers
    first, block, _ = gzip_bomb_parts(2)
    assert bomb.body.startswith(first + block)


def test_a_redirect_loop_and_an_endless_chain_are_bounded_and_logged(faults):
    server, _, responses, events, _, _ = faults
    assert len(server.hits("/loop-a")) == len(server.hits("/loop-b")) == 1
    assert [r.status for r in responses["/loop-a"] + responses["/loop-b"]] == [302, 302]
    [loop] = [e for e in events["redirect_not_followed"] if e["url"] == "/loop-b"]
    assert "/loop-a not followed: already fetched or queued" in loop["detail"]

    chain = [p for p, _ in server.log if p.startswith("/chain/")]
    assert chain == [f"/chain/{i}" for i in range(CONFIG.max_redirects + 1)]
    [limit] = events["redirect_limit"]
    assert limit["url"] == f"/chain/{CONFIG.max_redirects}" and "max_redirects=3" in limit["detail"]


@pytest.mark.parametrize("path, status", [("/busy-429", 429), ("/busy-503", 503)])
def test_retry_after_is_capped_and_every_attempt_is_recorded(faults, path, status):
    server, summary, responses, _, _, _ = faults
    hits = server.hits(path)
    assert len(hits) == CONFIG.retries + 1
    wait = hits[1] - hits[0]
    assert CONFIG.max_retry_after_seconds - 0.02 <= wait < CONFIG.max_retry_after_seconds + 1.0, wait
    assert [r.status for r in responses[path]] == [status] * (CONFIG.retries + 1)
    assert summary.statuses[str(status)] == 1  # the final answer; the retried one is in the WARC too


def test_the_warc_reads_back_without_inflating_the_bomb(faults):
    server, _, _, _, _, out = faults
    rows = {}
    tracemalloc.start()
    try:
        with deadline(30, "read_input of the fault crawl"):
            for path in warc_files(out):
                batches, report = read_input(str(path), batch_size=64, read_config=ReadConfig())
                for batch in batches:
                    for row in batch.select("url", "read_error", "payload").iter_rows(named=True):
                        rows[row["url"].removeprefix(server.base)] = (row["read_error"], len(row["payload"] or b""))
                assert report.read_stopped is None
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # 1 MiB of bomb inflates to ~1 GiB: decoding stops past max_payload_bytes (10 MiB)
    assert peak < 200 * 1024 * 1024, f"peak {peak / 2**20:.0f} MiB while reading"
    assert rows["/bomb"][0] == "read_too_large"
    assert rows["/ok"] == (None, len(PAGE))
    assert rows["/endless"] == (None, CONFIG.max_page_bytes)


def test_the_fault_crawl_makes_a_release_that_verifies(faults, tmp_path):
    server, _, _, _, _, out = faults
    manifest = run_build(warc_files(out), tmp_path / "release", seconds=60)
    docs, ledger = check_release(tmp_path / "release", manifest)  # verifies; conservation per input
    bomb = ledger.filter(ledger["url"] == server.url("/bomb"))
    assert bomb["reason"].to_list() == ["read_too_large"]
    assert server.url("/ok") in docs["url"].to_list()

"""The crawler against the sample web on 127.0.0.1: politeness, robots.txt, WARC contents, resume, limits.

Real HTTP on loopback, nothing mocked. One full crawl of the sample web (module fixture) serves most
checks; tests that look at the request log start their own sample web.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import time
from collections import Counter, defaultdict

import pytest

from pipeline.config import ReadConfig
from pipeline.crawl.crawler import CrawlError, crawl, robots_snapshot
from pipeline.crawl.state import STATE_FILE
from pipeline.optout import robots as rb
from pipeline.sources.inputs import read_input
from pipeline.sources.sample_web import (
    GROUND_TRUTH,
    NOT_FOUND,
    PAGE,
    REDIRECT,
    RESOURCE,
    site_responses,
    start_sample_web,
)
from tests.crawl.helpers import OUR_TOKEN, fast_config, records, site_path, warc_files

SITE_FILES = ("/robots.txt", "/.well-known/tdmrep.json", "/ai.txt")


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    """(web, out dir, summary, request log, records) of one crawl of the whole sample web."""
    with start_sample_web() as web:
        out = tmp_path_factory.mktemp("crawl") / "out"
        config = fast_config()
        summary = crawl(web.seeds(), out, config)
        log = list(web.requests)
        yield web, out, summary, log, records(out), config


def _robots_for(site: str) -> rb.Robots:
    r = site_responses(site)["/robots.txt"]
    return rb.from_fetch(r.status, r.body, content_type=dict(r.headers).get("Content-Type"))


def _crawlable(site: str, path: str) -> bool:
    """Pages the crawler must fetch: every page, redirect and 404 of a site whose robots.txt allows it."""
    exp = GROUND_TRUTH[site, path]
    if exp.kind not in (PAGE, REDIRECT, NOT_FOUND):
        return False
    return rb.decide(_robots_for(site), path, [OUR_TOKEN])[0].allowed


def test_robots_txt_is_the_first_request_to_every_site(full):
    web, _, _, log, _, _ = full
    first: dict[str, str] = {}
    for entry in log:
        first.setdefault(entry.site, entry.path)
    assert set(first) == set(web.sites)
    assert set(first.values()) == {"/robots.txt"}


def test_nothing_disallowed_for_our_token_is_requested(full):
    _, _, summary, log, recs, _ = full
    for entry in log:
        if entry.path == "/robots.txt":  # always allowed (RFC 9309 2.2.2), even when robots.txt answers 503
            continue
        assert rb.decide(_robots_for(entry.site), entry.path, [OUR_TOKEN])[0].allowed, entry
    assert not [e for e in log if e.site == "news" and e.path.startswith("/private/")]
    assert {e.path for e in log if e.site == "vault"} == {"/robots.txt"}
    skipped = [r for r in recs if r.type == "metadata" and r.json["event"] == "robots_disallowed"]
    assert {r.url.rsplit("/", 2)[-2] for r in skipped if "/private/" in r.url} == {"private"}
    assert len([r for r in skipped if "/private/" in r.url]) == 2
    assert all("Disallow: /private/" in r.json["rule"] for r in skipped if "/private/" in r.url)
    assert summary.robots_skipped == 3  # news /private/* (2) + the vault's home page
    not_crawled = [r for r in recs if r.type == "metadata" and r.json["event"] == "origin_not_crawled"]
    assert len(not_crawled) == 1 and "503" in not_crawled[0].json["detail"]


def test_every_reachable_page_is_in_the_warc(full):
    web, _, summary, _, recs, _ = full
    responses = Counter(site_path(web, r.url) for r in recs if r.type == "response")
    expected = {key for key in GROUND_TRUTH if _crawlable(*key)}
    pages = {k: n for k, n in responses.items() if k[1] not in SITE_FILES}
    assert set(pages) == expected
    assert set(pages.values()) == {1}  # nothing fetched twice
    assert summary.pages == len(expected) + summary.type_skipped  # the PDF was requested too
    assert summary.statuses["404"] == 1 and summary.errors == 0


def test_redirects_recorded_hop_by_hop_and_the_loop_ends(full):
    web, _, _, log, recs, _ = full
    by_key = {site_path(web, r.url): r for r in recs if r.type == "response"}
    assert by_key["news", "/alt/start"].status == 301
    assert ("Location", "/alt/step") in by_key["news", "/alt/start"].http_headers
    assert by_key["news", "/alt/step"].status == 302
    assert by_key["news", "/loop/a"].status == 302 and by_key["news", "/loop/b"].status == 302
    assert Counter(e.path for e in log if e.site == "news")["/loop/a"] == 1
    assert by_key["news", "/de/archiv-2019"].status == 404


def test_site_files_are_response_records(full):
    web, _, summary, _, recs, _ = full
    got = Counter((site_path(web, r.url), r.status) for r in recs if r.type == "response")
    for site in web.sites:
        if site == "vault":
            assert got[("vault", "/robots.txt"), 503] == 3  # first try + 2 retries, each one recorded
            assert not any(k[0] == ("vault", "/ai.txt") for k in got)
            continue
        robots_status = site_responses(site)["/robots.txt"].status
        assert got[(site, "/robots.txt"), robots_status] == 1
        for path in SITE_FILES[1:]:
            status = site_responses(site)[path].status if path in site_responses(site) else 404
            assert got[(site, path), status] == 1, (site, path)
    assert summary.origins_not_crawled == {web.sites["vault"]: "unreachable (HTTP 503)"}
    outcomes = {
        site_path(web, r.url)[0]: r.json for r in recs if r.type == "metadata" and r.json["event"] == "robots_outcome"
    }
    assert set(outcomes) == set(web.sites)
    assert outcomes["vault"]["mode"] == "disallow_all" and outcomes["vault"]["status"] == 503
    assert outcomes["archive"]["mode"] == "allow_all" and "html" in outcomes["archive"]["detail"]
    assert outcomes["mirror"]["detail"] == "unavailable (HTTP 404)"
    assert outcomes["news"]["mode"] == "rules" and outcomes["news"]["sha256"] == rb.sha256_hex(
        site_responses("news")["/robots.txt"].body
    )


def test_warc_layout(full):
    web, out, _, _, recs, config = full
    assert [p.name for p in warc_files(out)] == ["crawl-00000.warc.gz"]
    assert not list(out.glob("*.open"))
    assert recs[0].type == "warcinfo"
    info = dict(line.split(": ", 1) for line in recs[0].body.decode().splitlines() if line.strip())
    assert info["crawl-config-hash"] == config.hash()
    assert json.loads(info["crawl-config"]) == config.model_dump(mode="json")
    assert info["http-header-user-agent"] == config.user_agent and info["operator"] == config.contact
    assert info["software"].startswith("Apertura ")
    assert {r.version for r in recs} == {"WARC/1.1"}
    ids = {r.headers["WARC-Record-ID"]: r for r in recs}
    for r in recs:
        if r.type in ("request", "response"):
            other = ids[r.headers["WARC-Concurrent-To"]]
            assert other.headers["WARC-Concurrent-To"] == r.headers["WARC-Record-ID"]
            assert other.url == r.url and other.headers["WARC-Date"] == r.headers["WARC-Date"]
            assert r.headers["WARC-IP-Address"] == "127.0.0.1"
            assert "WARC-Block-Digest" in r.headers
        if r.type == "response":
            assert r.headers["WARC-Payload-Digest"].startswith("sha1:")
            assert not any(k.lower() == "transfer-encoding" for k, _ in r.http_headers)
        if r.type == "request":
            assert r.status_line.startswith("GET /") and r.status_line.endswith(" HTTP/1.1")
            assert ("User-Agent", config.user_agent) in r.http_headers
    # the PDF: request + a metadata record with the response head, no body downloaded
    pdf = [r for r in recs if r.url == web.url("news", "/media/jahresbericht.pdf")]
    assert sorted(r.type for r in pdf) == ["metadata", "request"]
    meta = next(r for r in pdf if r.type == "metadata").json
    assert meta["event"] == "content_type_skipped" and meta["status_line"] == "HTTP/1.1 200 OK"
    assert ["Content-Type", "application/pdf"] in meta["headers"]


def test_warc_reads_back_through_read_input(full):
    web, out, _, _, _, _ = full
    seen = set()
    for path in warc_files(out):
        batches, report = read_input(str(path), batch_size=64, read_config=ReadConfig())
        for batch in batches:
            for row in batch.iter_rows(named=True):
                assert row["read_error"] is None, row
                site, p = site_path(web, row["url"])
                expected = site_responses(site).get(p)
                if expected is None:  # a site file the site does not have: the sample web's 404 page
                    assert row["http_status"] == 404
                    continue
                assert row["payload"] == expected.body, row["url"]
                assert row["http_status"] == expected.status
                ctype = dict(expected.headers)["Content-Type"].split(";")[0]
                assert row["content_type"] == ctype
                seen.add((site, p))
        assert report.read_stopped is None
        assert report.records_by_type["warcinfo"] == 1
    assert ("news", "/fr/dossier-complet") in seen and ("news", "/de/umlaute") in seen


def test_user_agent_sent_matches_config(full):
    _, _, _, log, _, config = full
    assert {e.user_agent for e in log} == {config.user_agent}
    assert config.user_agent.startswith("AperturaBot/") and "(+mailto:ops@example.org)" in config.user_agent


def test_state_after_a_finished_crawl(full):
    _, out, summary, _, _, config = full
    state = json.loads((out / STATE_FILE).read_text())
    assert state["finished"] is True and state["frontier"] == []
    assert state["files"] == ["crawl-00000.warc.gz"] and state["next_file_index"] == 1
    assert state["config_hash"] == config.hash()
    assert state["counters"]["pages"] == summary.pages
    assert len(state["origins"]) == 9


def test_per_host_delay_is_respected(tmp_path):
    delay = 0.25
    with start_sample_web() as web:
        crawl([web.url("blog"), web.url("mirror")], tmp_path / "out", fast_config(delay_seconds=delay))
        times = defaultdict(list)
        for e in web.requests:
            times[e.site].append(e.time)
    assert {len(t) for t in times.values()} == {9}  # 3 site files + 6 pages each
    for site, ts in times.items():
        gaps = [b - a for a, b in itertools.pairwise(ts)]
        assert min(gaps) >= delay - 0.01, (site, gaps)
    # the two hosts were crawled at the same time, not one after the other
    assert abs(times["blog"][0] - times["mirror"][0]) < delay


def test_max_pages_and_limit_record(tmp_path):
    with start_sample_web() as web:
        summary = crawl([web.url("news")], tmp_path / "out", fast_config(max_pages=5))
        pages = [e for e in web.requests if e.path not in SITE_FILES]
    assert len(pages) == 5 and summary.pages == 5 and summary.stopped == "max_pages"
    recs = records(tmp_path / "out")
    assert [r.json["event"] for r in recs if r.type == "metadata"].count("limit_reached") == 1
    state = json.loads((tmp_path / "out" / STATE_FILE).read_text())
    assert state["finished"] is False and len(state["frontier"]) > 0


def test_resume_fetches_nothing_twice_and_completes_the_crawl(full, tmp_path):
    full_web, _, _, _, full_recs, _ = full
    full_set = {site_path(full_web, r.url) for r in full_recs if r.type == "response"}
    out = tmp_path / "out"
    with start_sample_web() as web:
        first = crawl(web.seeds(), out, fast_config(max_pages=12))
        assert first.stopped == "max_pages"
        (out / "crawl-00099.warc.gz.open").write_bytes(b"half-written")  # as left by a crash
        with pytest.raises(CrawlError, match="not empty"):
            crawl(web.seeds(), out, fast_config())
        second = crawl([], out, fast_config(), resume=True)
        log = list(web.requests)
        got = {site_path(web, r.url) for r in records(out) if r.type == "response"}
    assert not list(out.glob("*.open"))
    counts = Counter((e.site, e.path) for e in log)
    repeated = {k: n for k, n in counts.items() if n > 1}
    assert repeated == {("vault", "/robots.txt"): 3}  # the retries of the 503, in the first run only
    assert got == full_set
    assert second.stopped is None
    assert second.pages == len({k for k in full_set if k[1] not in SITE_FILES}) + second.type_skipped
    assert [p.name for p in warc_files(out)] == ["crawl-00000.warc.gz", "crawl-00001.warc.gz"]


def test_max_bytes_stops_the_crawl(tmp_path):
    with start_sample_web() as web:
        summary = crawl([web.url("mirror")], tmp_path / "out", fast_config(max_bytes=8_000))
    assert summary.stopped == "max_bytes" and 8_000 <= summary.bytes < 8_000 + 5_000
    assert summary.frontier > 0


def test_resume_after_a_crash_keeps_every_page_exactly_once(full, tmp_path):
    """SIGKILL mid-crawl: the `.open` file is dropped, finished files are kept, nothing ends up twice."""
    full_web, _, _, _, full_recs, _ = full
    full_set = {site_path(full_web, r.url) for r in full_recs if r.type == "response"}
    out = tmp_path / "out"
    with start_sample_web() as web:
        script = (
            "import sys; from pathlib import Path; from pipeline.crawl import crawl, CrawlConfig; "
            f"crawl(sys.argv[1:], Path({str(out)!r}), "
            "CrawlConfig(delay_seconds=0.1, backoff_seconds=0.02, warc_max_bytes=20000, allow_private=True))"
        )
        proc = subprocess.Popen([sys.executable, "-c", script, *web.seeds()])
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and proc.poll() is None:
            if len(warc_files(out)) >= 3 and list(out.glob("*.open")):
                break
            time.sleep(0.02)
        proc.kill()
        proc.wait()
        assert proc.returncode != 0, "the crawl finished before it could be killed"
        assert list(out.glob("*.open")), "expected a half-written file"
        killed_files = len(warc_files(out))
        summary = crawl([], out, fast_config(warc_max_bytes=20000), resume=True)
    assert not list(out.glob("*.open")) and summary.stopped is None and summary.frontier == 0
    assert len(warc_files(out)) > killed_files
    responses = Counter(site_path(web, r.url) for r in records(out) if r.type == "response")
    pages = {k: n for k, n in responses.items() if not (k[0] == "vault" and k[1] == "/robots.txt")}
    assert set(pages.values()) == {1}
    assert set(responses) == full_set


def test_resume_needs_a_state(tmp_path):
    with pytest.raises(CrawlError, match="no crawl state"):
        crawl([], tmp_path / "nothing", fast_config(), resume=True)


def test_files_roll_at_warc_max_bytes(tmp_path):
    out = tmp_path / "out"
    with start_sample_web() as web:
        crawl([web.url("blog"), web.url("forum")], out, fast_config(warc_max_bytes=3_000))
        files = warc_files(out)
        assert len(files) > 5
        assert [p.name for p in files] == [f"crawl-{i:05d}.warc.gz" for i in range(len(files))]
        assert json.loads((out / STATE_FILE).read_text())["files"] == [p.name for p in files]
        recs = records(out)
        by_file = defaultdict(list)
        for r in recs:
            by_file[r.file].append(r.type)
        assert all(types[0] == "warcinfo" and types.count("warcinfo") == 1 for types in by_file.values())
        rows = 0
        for p in files:
            batches, report = read_input(str(p), batch_size=16, read_config=ReadConfig())
            for b in batches:
                assert b["read_error"].null_count() == len(b)
                rows += len(b)
            assert report.read_stopped is None
        assert rows == len([r for r in recs if r.type == "response"]) == 9 + 11  # per site: 3 site files + its pages


def test_truncated_body_is_marked(tmp_path):
    with start_sample_web() as web:
        url = web.url("news", "/fr/dossier-complet")
        crawl([url], tmp_path / "out", fast_config(max_depth=0, max_page_bytes=100_000))
    resp = next(r for r in records(tmp_path / "out") if r.type == "response" and r.url == url)
    assert resp.headers["WARC-Truncated"] == "length"
    assert resp.body == site_responses("news")["/fr/dossier-complet"].body[:100_000]


def test_timeout_is_retried_then_recorded_as_an_error(tmp_path):
    with start_sample_web() as web:
        url = web.url("news", "/it/lento")
        started = time.monotonic()
        summary = crawl([url], tmp_path / "out", fast_config(delay_seconds=0.3, timeout_seconds=0.1, retries=1))
        elapsed = time.monotonic() - started
        lento = [e for e in web.requests if e.path == "/it/lento"]
    assert len(lento) == 2 and summary.errors == 1 and summary.pages == 1
    assert lento[1].time - lento[0].time >= 0.3 - 0.01
    err = [r for r in records(tmp_path / "out") if r.type == "metadata" and r.json["event"] == "fetch_error"]
    assert len(err) == 1 and err[0].url == url
    assert err[0].json["attempts"] == 2 and "Timeout" in err[0].json["errors"][0]
    assert elapsed < 5


def test_robots_snapshot(tmp_path):
    with start_sample_web() as web:
        hosts = tmp_path / "hosts.txt"
        hosts.write_text("# today's opt-outs\n" + "\n".join(web.sites.values()) + "\n")
        result = robots_snapshot(hosts, tmp_path / "snap", fast_config())
        log = list(web.requests)
    assert {e.path for e in log} <= set(SITE_FILES)
    assert result[web.sites["vault"]]["robots_mode"] == "disallow_all"
    assert result[web.sites["forum"]]["site_files"]["/ai.txt"] == 200
    assert result[web.sites["publisher"]]["site_files"]["/.well-known/tdmrep.json"] == 200
    recs = records(tmp_path / "snap")
    assert [p.name for p in warc_files(tmp_path / "snap")] == ["robots-snapshot-00000.warc.gz"]
    robots = {site_path(web, r.url)[0] for r in recs if r.type == "response" and r.url.endswith("/robots.txt")}
    assert robots == set(web.sites)
    assert not (tmp_path / "snap" / STATE_FILE).exists()


def test_progress_is_reported_through_the_callback(tmp_path):
    # The core draws nothing: it hands CrawlProgress reports to the callback (the CLI draws the line).
    reports: list = []
    with start_sample_web() as web:
        summary = crawl([web.url("news")], tmp_path / "out", fast_config(delay_seconds=0.05), progress=reports.append)
        snapshot: list = []
        robots_snapshot([web.sites["news"]], tmp_path / "snap", fast_config(), progress=snapshot.append)
    assert len(reports) >= 3  # at the start, every 0.25 s (22 requests 0.05 s apart take over 1 s), at the end
    assert [r.final for r in reports] == [False] * (len(reports) - 1) + [True]
    assert reports[0].pages == 0 and reports[0].queued == 1  # the seed, before its origin's robots.txt
    assert [r.pages for r in reports] == sorted(r.pages for r in reports)
    last = reports[-1]
    assert (last.pages, last.bytes, last.errors, last.robots_skipped, last.queued, last.files) == (
        summary.pages,
        summary.bytes,
        summary.errors,
        summary.robots_skipped,
        0,
        len(summary.files),
    )
    assert summary.pages == 19 and summary.robots_skipped == 2  # the news site: 19 fetches, /private/* skipped
    assert snapshot and snapshot[-1].final and snapshot[-1].pages == 0 and snapshot[-1].files == 1


def test_resource_kinds_in_ground_truth_are_skipped_not_downloaded(full):
    _, _, summary, log, _, _ = full
    resources = [k for k, e in GROUND_TRUTH.items() if e.kind == RESOURCE]
    assert resources and summary.type_skipped == len(resources)
    assert all(any((e.site, e.path) == k for e in log) for k in resources)  # requested, body not read


def test_out_dir_checks(tmp_path):
    (tmp_path / "x").write_text("")
    with pytest.raises(CrawlError, match="not empty"):
        crawl(["http://127.0.0.1:9/"], tmp_path, fast_config())

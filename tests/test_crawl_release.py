"""The demo path end to end: serve the sample web on 127.0.0.1, crawl it for real, run the pipeline.

Checks what issue 3 promises a rights holder: no document from an opted-out page is in the release,
each crawled one is in the ledger with the right signal, the evidence points at real WARC records of
the crawl, and the crawler never requested what robots.txt disallows for its own agent.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.config import RunConfig
from pipeline.optout import robots
from pipeline.optout.agents import OUR_AGENT
from pipeline.provenance import reopen_record
from pipeline.sources import sample_web as sw
from pipeline.verify import verify_release
from tests.helpers.optout_truth import check_against_ground_truth


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("demo")
    release, crawl = tmp / "releases" / "demo", tmp / "crawls" / "demo"
    result = CliRunner().invoke(app, ["demo", "--out", str(release), "--crawl-dir", str(crawl)])
    assert result.exit_code == 0, result.output
    assert "release verifies" in result.output
    return release, crawl


def _tables(release: Path) -> dict[str, pl.DataFrame]:
    return {t: pl.read_parquet(release / t / "*.parquet") for t in ("documents", "ledger", "optout_evidence")}


def _site_bases(t: dict[str, pl.DataFrame]) -> dict[str, str]:
    """Which loopback port each sample site was served on: the origin whose crawled paths match the site's."""
    urls = pl.concat([t["documents"].select("url"), t["ledger"].select("url")]).filter(
        pl.col("url").str.starts_with("http://127.0.0.1:")  # the sample web, not the sample WARCs in data/
    )
    split = urls.select(
        base=pl.col("url").str.extract(r"^(https?://[^/]+)"), path=pl.col("url").str.replace(r"^https?://[^/]+", "")
    )
    paths = {base: set(group["path"]) for (base,), group in split.group_by("base")}
    own = {site.name: set(sw.site_responses(site.name)) for site in sw.SITES}
    scores = sorted(
        ((len(p & o) / len(p | o), base, name) for base, p in paths.items() for name, o in own.items()), reverse=True
    )
    bases: dict[str, str] = {}
    for score, base, name in scores:  # greedy one-to-one matching, most similar path sets first
        if score > 0 and name not in bases and base not in bases.values():
            bases[name] = base
    return bases


def test_crawled_sample_web_release_honours_every_opt_out(demo):
    release, _ = demo
    t = _tables(release)
    bases = _site_bases(t)
    assert set(bases) == {s.name for s in sw.SITES}
    checked = check_against_ground_truth(
        t["documents"], t["ledger"], bases.__getitem__, RunConfig().optout.agents, crawled=True
    )
    assert checked >= 15
    assert verify_release(release).ok


def test_evidence_rows_point_at_records_of_the_crawl(demo):
    release, crawl = demo
    evidence = _tables(release)["optout_evidence"]
    reserved = evidence.filter(pl.col("verdict") == "reserved")
    assert reserved.height > 0
    for row in reserved.unique("source_id").iter_rows(named=True):
        assert Path(row["source_file"]).parent == crawl
        record = reopen_record(row["source_file"], row["source_offset"], row["source_length"])
        assert record.digest_ok is True
        assert record.record_id == row["source_record_id"]


def test_the_crawler_fetched_nothing_robots_disallows_for_its_own_agent(demo):
    """Pages under news /private/ (disallowed for every agent) and the vault (robots.txt 503) were never fetched."""
    release, _ = demo
    t = _tables(release)
    manifest = json.loads((release / "manifest.json").read_text())
    crawled_urls = set(t["documents"]["url"]) | set(t["ledger"]["url"])
    bases = _site_bases(t)
    for e in sw.iter_expected(kind=sw.PAGE):
        if any(r.applies_to(OUR_AGENT) and r.signal in (sw.ROBOTS, sw.ROBOTS_5XX) for r in e.reserved):
            assert bases[e.site] + e.path not in crawled_urls
    vault = t["optout_evidence"].filter(pl.col("url") == bases["vault"] + "/robots.txt").row(0, named=True)
    assert vault["verdict"] == "unreachable" and vault["http_status"] == 503
    assert robots.from_fetch(503).mode == "disallow_all"
    assert manifest["optout"]["origins"] == len(sw.SITES)

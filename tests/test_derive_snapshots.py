"""`release derive --snapshot`: site policy files fetched after a release was built remove, retroactively, exactly
the documents they reserve, by the parent's own opt-out config, each with its evidence.

The parent is built from a WARC written here with opt-outs off; the snapshot is another WARC of robots.txt,
tdmrep.json and ai.txt files for some of its sites, interleaved with sites it says nothing of. Expected removals
come from construction, robots.txt's through protego (an independent parser), per honoured agent.
"""

from __future__ import annotations

import hashlib
import json

import polars as pl
import pytest
from protego import Protego
from typer.testing import CliRunner
from warcio.archiveiterator import ArchiveIterator

from pipeline.cli import app
from pipeline.config import OptoutConfig
from pipeline.derive import derive_release
from pipeline.synthetic import make_page
from pipeline.verify import verify_release
from tests.helpers.warcs import Page, write_warc

SNAPSHOT_DATE = "2026-03-04T05:06:07Z"  # after the parent's pages (warcs.DEFAULT_DATE, 2025)
ROBOTS_A = "User-agent: GPTBot\nDisallow: /private/\n\nUser-agent: *\nAllow: /\n"
ROBOTS_D = "User-agent: *\nAllow: /\n"  # a site the snapshot names, reserving nothing
TDMREP_C = "{not json"  # a protocol error: a reservation only because the parent's config says so
AI_TXT_E = "User-Agent: *\nDisallow: /\n"
# the parent's documents, in the order they are read: sites the snapshot says nothing of (b.test) or that it
# allows (d.test) come first and between, so a scan that stops at the first of them misses the rest
PATHS = ["http://b.test/1", "http://d.test/1", "http://a.test/public/1", "http://a.test/private/1", "http://c.test/1",
         "http://b.test/2", "http://e.test/1", "http://d.test/2", "http://f.test/1", "http://a.test/private/2",
         "http://b.test/3"]  # fmt: skip


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("snapshots")
    pages = [Page(url, make_page(i, url, "en").html()) for i, url in enumerate(PATHS)]
    write_warc(root / "pages.warc.gz", pages)
    config = root / "config.json"
    config.write_text(json.dumps({"optout": {"enabled": False, "malformed_tdmrep": "reserved"},
                                  "extract": {"extractor": "resiliparse"}}))  # fmt: skip
    parent = root / "parent"
    result = CliRunner().invoke(app, ["run", str(root / "pages.warc.gz"), "--out", str(parent), "--no-index",
                                      "--config", str(config)])  # fmt: skip
    assert result.exit_code == 0, result.output
    files = [
        Page("http://a.test/robots.txt", ROBOTS_A, "text/plain", date=SNAPSHOT_DATE),
        Page("http://c.test/.well-known/tdmrep.json", TDMREP_C, "application/json", date=SNAPSHOT_DATE),
        Page("http://d.test/robots.txt", ROBOTS_D, "text/plain", date=SNAPSHOT_DATE),
        Page("http://e.test/ai.txt", AI_TXT_E, "text/plain", date=SNAPSHOT_DATE),
        Page("http://f.test/robots.txt", "busy", "text/plain", status=503, date=SNAPSHOT_DATE),
    ]
    snapshot = root / "today.warc"
    write_warc(snapshot, files, gzip=False)
    with snapshot.open("rb") as f:
        record_ids = {r.rec_headers["WARC-Target-URI"]: r.rec_headers["WARC-Record-ID"] for r in ArchiveIterator(f)
                      if r.rec_type == "response"}  # fmt: skip
    child = root / "child"
    manifest = derive_release(parent, child, snapshots=[str(snapshot)])
    return {"parent": parent, "child": child, "manifest": manifest, "snapshot": snapshot, "record_ids": record_ids}


def _expected() -> dict[str, tuple[str, str, str, list[str], str]]:
    """url -> (reason, signal, the file's URL, the agents it is reserved for, the rule text seen) by construction."""
    agents = list(OptoutConfig().agents)
    robots = Protego.parse(ROBOTS_A)
    out = {}
    for url in PATHS:
        host = url.split("/")[2]
        if host == "a.test":
            barred = [a for a in agents if not robots.can_fetch(url, a)]
            if barred:
                out[url] = ("optout_robots", "robots", f"http://{host}/robots.txt", barred, "Disallow: /private/")
        elif host == "c.test":
            out[url] = ("optout_tdmrep", "tdmrep", f"http://{host}/.well-known/tdmrep.json", agents, "malformed")
        elif host == "e.test":
            out[url] = ("optout_ai_txt", "ai.txt", f"http://{host}/ai.txt", agents, "Disallow: /")
        elif host == "f.test":  # RFC 9309: a robots.txt answering 5xx disallows everything
            out[url] = ("optout_robots", "robots", f"http://{host}/robots.txt", agents, "unreachable (HTTP 503)")
    return out


def test_a_snapshot_removes_exactly_what_it_reserves_and_keeps_the_rest(world):
    expected = _expected()
    assert {u for u in expected if "a.test" in u} == {"http://a.test/private/1", "http://a.test/private/2"}
    docs = pl.read_parquet(world["child"] / "documents" / "*.parquet")
    parent_docs = pl.read_parquet(world["parent"] / "documents" / "*.parquet")
    assert set(parent_docs["url"]) == set(PATHS)  # every page made it into the parent
    assert sorted(docs["url"]) == sorted(set(PATHS) - set(expected))
    ledger = pl.read_parquet(world["child"] / "ledger" / "*.parquet").filter(pl.col("stage") == "optout")
    assert dict(ledger.select("url", "reason").iter_rows()) == {u: e[0] for u, e in expected.items()}
    assert ledger["text"].is_null().all()  # an opt-out never keeps its text
    report = verify_release(world["child"])
    assert report.ok, [c for c in report.checks if not c.ok]


def test_each_removal_carries_the_snapshot_file_that_decided_it(world):
    expected = _expected()
    evidence = pl.read_parquet(world["child"] / "optout_evidence" / "*.parquet").sort("url")
    assert evidence["url"].to_list() == sorted(expected)
    bodies = {"a.test": (ROBOTS_A, 200), "c.test": (TDMREP_C, 200), "e.test": (AI_TXT_E, 200), "f.test": ("busy", 503)}
    for row in evidence.iter_rows(named=True):
        _, signal, file_url, agents, seen = expected[row["url"]]
        body, status = bodies[row["url"].split("/")[2]]
        assert (row["kind"], row["verdict"], row["signal"]) == ("document", "reserved", signal)
        assert sorted(row["agents"]) == sorted(agents), row["url"]
        assert row["raw"].startswith(seen), (row["url"], row["raw"])
        assert row["fetched_at"] == SNAPSHOT_DATE and row["http_status"] == status
        assert row["source_file"] == str(world["snapshot"])  # recorded as given: the parent has no source root
        # the bytes that decided, hashed as they were fetched, and the record holding them
        assert row["raw_sha256"] == hashlib.sha256(body.encode()).hexdigest()
        assert row["source_record_id"] == world["record_ids"][file_url]


def test_the_child_counts_the_removals_everywhere(world):
    expected, manifest = _expected(), world["manifest"]
    parent = json.loads((world["parent"] / "manifest.json").read_text())
    n = len(expected)
    assert manifest["counts"]["kept"] == parent["counts"]["kept"] - n
    by_reason: dict[str, int] = {}
    for reason, *_ in expected.values():
        by_reason[reason] = by_reason.get(reason, 0) + 1
    assert manifest["counts"]["removed_by_stage"]["optout"] == by_reason
    assert manifest["optout"]["removed_by_signal"] == by_reason
    assert [s["path"] for s in manifest["lineage"]["snapshots"]] == [str(world["snapshot"])]
    assert manifest["counts"]["stages"][-1] == {"stage": "derive", "in": parent["counts"]["kept"], "removed": n,
                                                "out": parent["counts"]["kept"] - n}  # fmt: skip

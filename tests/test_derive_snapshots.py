"""`release derive --snapshot`: site policy files fetched after a release was built remove, retroactively, exactly
the documents they reserve, by the parent's own opt-out config, each with its evidence; with a registry as well,
a document both cover is removed once, for the registry's entry.

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
from pipeline.optout.registry import Registry
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
REGISTERED = {"domain": "b.test", "url_prefix": "http://e.test/"}  # b.test: no snapshot file; e.test: its ai.txt too


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
    registry = Registry(root / "registry")
    entries = {kind: registry.add(kind, value, requester="Legal <legal@example.org>",
                                  effective_from="2020-01-01T00:00:00Z").entry_id
               for kind, value in REGISTERED.items()}  # fmt: skip
    child = root / "child"
    stale = root / ".child.writing"  # what a derive that crashed left behind: never part of the child
    stale.mkdir()
    (stale / "leftover.parquet").write_bytes(b"half written")
    manifest = derive_release(parent, child, registry=registry, snapshots=[str(snapshot)])
    return {"parent": parent, "child": child, "manifest": manifest, "snapshot": snapshot, "record_ids": record_ids,
            "registry": registry, "entries": entries}  # fmt: skip


def _expected() -> dict[str, tuple[str, str, str | None, list[str] | None, str | None]]:
    """url -> (reason, signal, the file's URL, the agents it is reserved for, the rule text seen) by construction:
    the registry's entries first (b.test, e.test), then the snapshot's files."""
    agents = list(OptoutConfig().agents)
    robots = Protego.parse(ROBOTS_A)
    out: dict = {}
    for url in PATHS:
        host = url.split("/")[2]
        if host == REGISTERED["domain"] or url.startswith(REGISTERED["url_prefix"]):
            out[url] = ("optout_registry", "registry", None, None, None)
        elif host == "a.test":
            barred = [a for a in agents if not robots.can_fetch(url, a)]
            if barred:
                out[url] = ("optout_robots", "robots", f"http://{host}/robots.txt", barred, "Disallow: /private/")
        elif host == "c.test":
            out[url] = ("optout_tdmrep", "tdmrep", f"http://{host}/.well-known/tdmrep.json", agents, "malformed")
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
    kept = parent_docs.filter(pl.col("url").is_in(docs["url"].implode())).sort("id")
    assert kept.equals(docs.sort("id"))  # kept rows unchanged, column for column
    ledger = pl.read_parquet(world["child"] / "ledger" / "*.parquet").filter(pl.col("stage") == "optout")
    assert dict(ledger.select("url", "reason").iter_rows()) == {u: e[0] for u, e in expected.items()}
    assert ledger["text"].is_null().all()  # an opt-out never keeps its text
    assert set(ledger["record_type"]) == {"response"}  # what the removed pages were (WARC responses)
    removed = parent_docs.filter(pl.col("url").is_in(list(expected))).sort("url")
    shared = [c for c in removed.columns if c in ledger.columns and c != "text"]
    assert ledger.sort("url").select(shared).equals(removed.select(shared))  # the removed rows, as they were
    assert not (world["child"] / "leftover.parquet").exists() and not any(world["child"].rglob("leftover*"))
    report = verify_release(world["child"])
    assert report.ok, [c for c in report.checks if not c.ok]


def test_each_removal_carries_the_file_or_entry_that_decided_it(world):
    expected = _expected()
    evidence = pl.read_parquet(world["child"] / "optout_evidence" / "*.parquet").sort("url")
    ledger = pl.read_parquet(world["child"] / "ledger" / "*.parquet").filter(pl.col("stage") == "optout")
    detail, ids = dict(ledger.select("url", "detail").iter_rows()), dict(ledger.select("url", "id").iter_rows())
    parent = json.loads((world["parent"] / "manifest.json").read_text())
    assert evidence["url"].to_list() == sorted(expected)
    bodies = {"a.test": (ROBOTS_A, 200), "c.test": (TDMREP_C, 200), "f.test": ("busy", 503)}
    for row in evidence.iter_rows(named=True):
        _, signal, file_url, agents, seen = expected[row["url"]]
        host = row["url"].split("/")[2]
        assert (row["kind"], row["verdict"], row["signal"]) == ("document", "reserved", signal)
        assert (row["document_id"], row["domain"], row["origin"]) == (ids[row["url"]], host, host)
        assert (row["pipeline_version"], row["config_hash"]) == (parent["pipeline_version"], parent["config_hash"])
        assert detail[row["url"]] == row["rule"]  # the ledger says what the evidence shows
        if signal == "registry":
            entry = world["entries"]["domain" if host == REGISTERED["domain"] else "url_prefix"]
            assert (row["raw"], row["source_id"], row["source_file"]) == (entry, entry, str(world["registry"].path))
            assert row["agents"] is None and row["raw_sha256"] is None and row["fetched_at"] is None
            continue
        body, status = bodies[host]
        assert sorted(row["agents"]) == sorted(agents), row["url"]
        assert row["raw"].startswith(seen), (row["url"], row["raw"])
        # a protocol error reserves only because the parent's config says so, and the rule says that
        because = "(malformed_tdmrep=reserved)" if signal == "tdmrep" else seen
        assert because in row["rule"], (row["url"], row["rule"])
        assert row["fetched_at"] == SNAPSHOT_DATE and row["http_status"] == status
        assert row["source_file"] == str(world["snapshot"])  # recorded as given: the parent has no source root
        # the bytes that decided, hashed as they were fetched, and the record holding them
        assert row["raw_sha256"] == hashlib.sha256(body.encode()).hexdigest()
        assert row["source_record_id"] == world["record_ids"][file_url]


def test_the_child_counts_the_removals_everywhere_and_names_its_parent(world):
    expected, manifest = _expected(), world["manifest"]
    parent_bytes = (world["parent"] / "manifest.json").read_bytes()
    parent = json.loads(parent_bytes)
    n = len(expected)
    assert manifest["counts"]["kept"] == parent["counts"]["kept"] - n
    assert manifest["counts"]["removed"] == parent["counts"]["removed"] + n
    assert manifest["optout"]["removed"] == parent["optout"]["removed"] + n
    by_reason: dict[str, int] = {}
    for reason, *_ in expected.values():
        by_reason[reason] = by_reason.get(reason, 0) + 1
    assert manifest["counts"]["removed_by_stage"]["optout"] == by_reason
    assert list(manifest["counts"]["removed_by_stage"]["optout"]) == sorted(by_reason)
    assert manifest["optout"]["removed_by_signal"] == by_reason
    [before], [after] = parent["inputs"], manifest["inputs"]
    assert (after["kept"], after["removed"]) == (before["kept"] - n, before["removed"] + n)
    assert manifest["counts"]["stages"][-1] == {"stage": "derive", "in": parent["counts"]["kept"], "removed": n,
                                                "out": parent["counts"]["kept"] - n}  # fmt: skip
    assert manifest["counts"]["stages"][:-1] == parent["counts"]["stages"]
    lineage = manifest["lineage"]
    assert lineage["parent"]["release_id"] == parent["release_id"] == "parent"
    assert lineage["parent"]["manifest_sha256"] == hashlib.sha256(parent_bytes).hexdigest()
    assert [s["path"] for s in lineage["snapshots"]] == [str(world["snapshot"])]
    assert manifest["optout"]["snapshots"] == parent["optout"]["snapshots"] + lineage["snapshots"]
    assert lineage["registry"]["entries"] == len(REGISTERED)
    assert manifest["release_id"] == "child" and manifest["format_version"] == parent["format_version"]


def test_a_derived_release_derives_again_with_a_newer_snapshot(world, tmp_path):
    """d.test's robots.txt changes its mind after the first derive: the grandchild drops d.test too, keeps every
    snapshot its ancestors applied in its opt-out record, and verifies."""
    newer = tmp_path / "newer.warc"
    write_warc(newer, [Page("http://d.test/robots.txt", "User-agent: *\nDisallow: /\n", "text/plain",
                            date="2026-09-01T00:00:00Z")], gzip=False)  # fmt: skip
    grandchild = derive_release(world["child"], tmp_path / "grandchild", snapshots=[str(newer)])
    docs = pl.read_parquet(tmp_path / "grandchild" / "documents" / "*.parquet")
    assert sorted(docs["url"]) == sorted(set(PATHS) - set(_expected()) - {"http://d.test/1", "http://d.test/2"})
    assert [s["path"] for s in grandchild["lineage"]["snapshots"]] == [str(newer)]
    assert grandchild["optout"]["snapshots"] == world["manifest"]["optout"]["snapshots"] + [
        grandchild["lineage"]["snapshots"][0]
    ]
    assert grandchild["lineage"]["parent"]["release_id"] == "child"
    assert grandchild["counts"]["stages"][-2:] == [
        world["manifest"]["counts"]["stages"][-1],
        {"stage": "derive", "in": world["manifest"]["counts"]["kept"], "removed": 2,
         "out": world["manifest"]["counts"]["kept"] - 2},
    ]  # fmt: skip
    report = verify_release(tmp_path / "grandchild")
    assert report.ok, [c for c in report.checks if not c.ok]

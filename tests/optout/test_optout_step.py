"""The pipeline's opt-out stage on every page of the sample web, against the sample web's ground truth.

The sample web's responses are written to a WARC exactly as a crawler would store them (policy
files included, one host per site), so this tests the step and the release's evidence without the
crawler; tests/crawl runs the same checks on a real crawl.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import polars as pl
import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.config import RunConfig
from pipeline.provenance import reopen_record
from pipeline.sources import sample_web as sw
from pipeline.verify import verify_release
from tests.helpers.optout_truth import check_against_ground_truth
from tests.helpers.warcs import Page, write_warc

HONOURED = RunConfig().optout.agents


def host(site: str) -> str:
    return f"http://{site}.sample.test"


def sample_web_warc(path: Path) -> Path:
    """Every response of every sample site (policy files first, as a crawler fetches them)."""
    pages = []
    for site in sw.SITES:
        responses = sw.site_responses(site.name)
        order = sorted(responses, key=lambda p: (p not in ("/robots.txt", "/.well-known/tdmrep.json", "/ai.txt"), p))
        for p in order:
            r = responses[p]
            ctype = next((v for k, v in r.headers if k.lower() == "content-type"), "application/octet-stream")
            extra = tuple((k, v) for k, v in r.headers if k.lower() != "content-type")
            pages.append(Page(host(site.name) + p, r.body, content_type=ctype, status=r.status, extra_headers=extra))
    write_warc(path, pages, warc_version="1.1")
    return path


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("optout")
    warc = sample_web_warc(tmp / "sample-web.warc.gz")
    result = CliRunner().invoke(app, ["run", str(warc), "--out", str(tmp / "r"), "--extractor", "resiliparse"])
    assert result.exit_code == 0, result.output
    return tmp / "r"


def test_protocol_errors_reserve_only_when_the_config_says_so(release, tmp_path):
    """The archive's tdmrep.json is not JSON: by default tdm-reservation is unset and its pages stay; with
    optout.malformed_tdmrep = "reserved" (the behaviour before TDMRep was followed) they leave as opt-outs."""
    docs, ledger, evidence = _tables(release)
    archive = [host("archive") + e.path for e in sw.iter_expected("archive", sw.PAGE)]
    assert set(archive) <= set(docs["url"])
    by_default = check_against_ground_truth(docs, ledger, host, HONOURED)
    row = evidence.filter((pl.col("signal") == "tdmrep.json") & pl.col("url").str.starts_with(host("archive")))
    assert row["verdict"].to_list() == ["malformed"] and "invalid JSON" in row["rule"][0]  # seen by an auditor

    config = tmp_path / "strict.json"
    config.write_text(json.dumps({"optout": {"malformed_tdmrep": "reserved"}}))
    warc = sample_web_warc(tmp_path / "sample-web.warc.gz")
    out = tmp_path / "strict"
    result = CliRunner().invoke(
        app, ["run", str(warc), "--out", str(out), "--extractor", "resiliparse", "--config", str(config)]
    )
    assert result.exit_code == 0, result.output
    docs, ledger, evidence = _tables(out)
    strict = check_against_ground_truth(docs, ledger, host, HONOURED, malformed_tdmrep="reserved")
    assert strict == by_default + len(archive)
    removed = ledger.filter(pl.col("url").is_in(archive))
    assert removed.height == len(archive) and set(removed["reason"]) == {"optout_tdmrep"}
    rule = "protocol error treated as a reservation (malformed_tdmrep=reserved): tdmrep.json unusable (invalid JSON"
    assert all(d.split(": ", 1)[1].startswith(rule) for d in removed["detail"])
    assert verify_release(out).ok


def _tables(release: Path) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    return tuple(pl.read_parquet(release / t / "*.parquet") for t in ("documents", "ledger", "optout_evidence"))


def test_every_reserved_page_leaves_with_its_signal_and_no_allowed_page_does(release):
    docs, ledger, _ = _tables(release)
    assert check_against_ground_truth(docs, ledger, host, HONOURED) >= 15  # every signal family is exercised


def test_policy_files_are_evidence_not_documents(release):
    docs, ledger, evidence = _tables(release)
    files = evidence.filter(pl.col("kind") == "policy_file")
    for site in sw.SITES:
        for p, r in sw.site_responses(site.name).items():
            if p in ("/robots.txt", "/.well-known/tdmrep.json", "/ai.txt"):
                url = host(site.name) + p
                assert url not in set(docs["url"])
                assert ledger.filter(pl.col("url") == url)["reason"].to_list() == ["read_policy_file"]
                row = files.filter(pl.col("url") == url).row(0, named=True)
                assert row["http_status"] == r.status
    by = {(u.split("//")[1].split(".")[0], s): v for u, s, v in files.select("url", "signal", "verdict").iter_rows()}
    assert by["vault", "robots.txt"] == "unreachable"  # 503
    assert by["mirror", "robots.txt"] == "not_found"  # 404
    assert by["archive", "robots.txt"] == "malformed"  # HTML served as robots.txt
    assert by["archive", "tdmrep.json"] == "malformed"
    assert by["news", "robots.txt"] == "observed"


def test_evidence_points_at_the_exact_records(release):
    _, ledger, evidence = _tables(release)
    reserved = evidence.filter(pl.col("verdict") == "reserved")
    assert set(ledger.filter(pl.col("stage") == "optout")["id"]) == set(reserved["document_id"])
    for row in reserved.unique(["source_id"]).iter_rows(named=True):
        record = reopen_record(row["source_file"], row["source_offset"], row["source_length"])
        assert record.digest_ok is True
        if row["signal"] in ("robots", "aipref", "content-signal", "ai.txt") and row["raw"] and "robots" in row["rule"]:
            assert record.url.endswith(("/robots.txt", "/ai.txt"))
        if record.url.endswith(("/robots.txt", "/ai.txt", "/tdmrep.json")):
            assert row["raw_sha256"] is None or len(row["raw_sha256"]) == 64
        else:
            assert record.url == row["url"]  # header or meta tag seen in the page's own response
    # every reserved row names honoured agents only
    assert set(reserved.explode("agents")["agents"]) <= set(HONOURED)


def test_release_verifies_and_manifest_counts_opt_outs(release):
    report = verify_release(release)
    assert report.ok, [c for c in report.checks if not c.ok]
    manifest = json.loads((release / "manifest.json").read_text())
    optout = manifest["optout"]
    _, ledger, _ = _tables(release)
    assert optout["removed"] == ledger.filter(pl.col("stage") == "optout").height
    assert optout["origins"] == len(sw.SITES)
    assert optout["agents"] == list(HONOURED)


def test_verify_catches_a_reserved_document_in_the_release(release, tmp_path):
    """Tamper: put an opted-out record's id into the documents table; verify must report a violation."""
    import shutil

    from pipeline.tables import file_sha256

    copy = tmp_path / "r"
    shutil.copytree(release, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    doc_file = next(f for f in manifest["files"] if f["table"] == "documents")
    _, ledger, _ = _tables(copy)
    victim = ledger.filter(pl.col("stage") == "optout")["id"][0]
    path = copy / doc_file["path"]
    con = duckdb.connect()
    con.execute(
        f"copy (select * replace (case when row_number() over () = 1 then $v else id end as id) "
        f"from read_parquet('{path}')) to '{path}.new' (format parquet)",
        {"v": victim},
    )
    Path(f"{path}.new").replace(path)
    doc_file["sha256"], doc_file["bytes"] = file_sha256(path), path.stat().st_size
    (copy / "manifest.json").write_text(json.dumps(manifest))
    report = verify_release(copy)
    failed = {c.name for c in report.checks if not c.ok}
    assert "opt-outs honoured (no kept document is reserved)" in failed


def test_optout_status_reports_what_was_seen_and_decided(release):
    runner = CliRunner()
    url = host("blog") + "/about"
    result = runner.invoke(app, ["optout-status", str(release), "--url", url, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["in_release"] == 0 and data["violations"] == []
    assert [p["url"] for p in data["policy_files"]] == [host("blog") + "/robots.txt"]
    (decision,) = data["decisions"]
    assert decision["verdict"] == "reserved" and sorted(decision["agents"]) == ["CCBot", "GPTBot"]
    assert data["removed"] == [{"stage": "optout", "reason": "optout_robots", "n": 1}]

    allowed = runner.invoke(app, ["optout-status", str(release), "--domain", "mirror.sample.test", "--json"])
    data = json.loads(allowed.output)
    assert data["in_release"] > 0 and data["decisions"] == []
    assert {p["verdict"] for p in data["policy_files"]} == {"not_found"}

    text = runner.invoke(app, ["optout-status", str(release), "--domain", "sample.test"])
    assert text.exit_code == 0 and "opt-outs honoured" in text.output
    missing = runner.invoke(app, ["optout-status", str(release)])
    assert missing.exit_code == 2 and "give --domain or --url" in missing.output


def test_a_newer_snapshot_applies_retroactively(release, tmp_path):
    """The mirror had no robots.txt when crawled (404); a later snapshot disallows GPTBot: its pages must go."""
    from pipeline.tables import file_sha256

    warc = sample_web_warc(tmp_path / "sample-web.warc.gz")
    snapshot = tmp_path / "snap" / "snapshot.warc.gz"
    snapshot.parent.mkdir()
    robots = "User-agent: GPTBot\nDisallow: /\n"
    write_warc(snapshot, [Page(host("mirror") + "/robots.txt", robots, "text/plain", date="2026-11-01T00:00:00Z")])
    out = tmp_path / "r"
    result = CliRunner().invoke(
        app,
        ["run", str(warc), "--out", str(out), "--extractor", "resiliparse", "--optout-snapshot", str(snapshot.parent)],
    )
    assert result.exit_code == 0, result.output
    docs, ledger, evidence = _tables(out)
    assert not docs.filter(pl.col("domain") == "mirror.sample.test").height
    before = pl.read_parquet(release / "documents" / "*.parquet").filter(pl.col("domain") == "mirror.sample.test")
    gone = ledger.filter(pl.col("url").is_in(before["url"].implode()))
    assert set(gone["reason"]) == {"optout_robots"} and gone.height == before.height > 0
    rows = evidence.filter(pl.col("document_id").is_in(gone["id"].implode()))
    assert set(rows["source_file"]) == {str(snapshot)}
    assert set(rows["fetched_at"]) == {"2026-11-01T00:00:00Z"}
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["optout"]["snapshots"] == [
        {"path": str(snapshot), "sha256": file_sha256(snapshot), "bytes": snapshot.stat().st_size}
    ]
    assert verify_release(out).ok

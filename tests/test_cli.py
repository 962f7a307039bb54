"""The command line as a data engineer uses it: run, verify, show, stats, and clear errors."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from pipeline.cli import app

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def test_every_command_has_help():
    for command in ("run", "verify", "show", "stats", "demo"):
        result = invoke(command, "--help")
        assert result.exit_code == 0, command
        assert "Usage" in result.output


def test_run_verify_show_stats(planted, tmp_path):
    paths, expect = planted
    out = tmp_path / "rel"
    result = invoke("run", *paths, "--out", out)
    assert result.exit_code == 0, result.output
    assert "release written" in result.output

    result = invoke("verify", out, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["ok"] is True

    stats = json.loads(invoke("stats", out, "--json").stdout)
    kept = [e for e in expect.values() if e.stage is None]
    assert stats["counts"]["kept"] == len(kept)
    languages = dict(stats["languages"])
    assert languages == {lang: sum(1 for e in kept if e.language == lang) for lang in languages}

    import duckdb

    doc_id, url = duckdb.sql(f"select id, url from read_parquet('{out}/documents/*.parquet') limit 1").fetchall()[0]
    shown = json.loads(invoke("show", out, doc_id, "--json").stdout)
    assert shown["table"] == "documents" and shown["row"]["url"] == url
    assert shown["source"]["digest_ok"] is True and shown["source"]["record_id_matches"] is True

    removed_id = duckdb.sql(
        f"select id from read_parquet('{out}/ledger/*.parquet') where reason = 'gopher_short_doc'"
    ).fetchall()[0][0]
    text = invoke("show", out, removed_id).stdout
    assert "REMOVED at stage quality: gopher_short_doc" in text
    assert "payload digest matches" in text


def test_clear_errors(tmp_path, planted):
    result = invoke("run", tmp_path / "nope.warc.gz", "--out", tmp_path / "r")
    assert result.exit_code == 2
    assert "error:" in result.output and "nope.warc.gz" in result.output
    assert "Traceback" not in result.output

    existing = tmp_path / "exists"
    existing.mkdir()
    result = invoke("run", planted[0][0], "--out", existing)
    assert result.exit_code == 2 and "immutable" in result.output

    result = invoke("show", tmp_path, "abc")
    assert result.exit_code == 2 and "not a release" in result.output

    result = invoke("verify", tmp_path)
    assert result.exit_code == 1

    config = tmp_path / "run.json"
    config.write_text('{"dedup": {"bands": "many"}}')
    result = invoke("run", planted[0][0], "--out", tmp_path / "r2", "--config", config)
    assert result.exit_code == 2 and "dedup.bands" in result.output and "Traceback" not in result.output
    result = invoke("run", planted[0][0], "--out", tmp_path / "r2", "--extractor", "nonsense")
    assert result.exit_code == 2 and "extract.extractor" in result.output


def test_dry_run_prints_config_and_hash(planted):
    result = invoke("run", planted[0][0], "--out", "unused", "--dry-run", "--extractor", "resiliparse")
    data = json.loads(result.stdout)
    assert data["config"]["extract"]["extractor"] == "resiliparse"
    assert data["config_hash"].startswith("sha256:")


def test_stats_on_a_damaged_manifest_or_missing_table_says_so_in_one_line(tmp_path):
    import shutil
    from pathlib import Path

    fixture = Path(__file__).parent / "fixtures" / "old_release_formats" / "format5"
    ok = shutil.copytree(fixture, tmp_path / "ok")
    assert invoke("stats", ok, "--json").exit_code == 0
    no_counts = shutil.copytree(fixture, tmp_path / "no-counts")  # used to end in a KeyError traceback
    manifest = json.loads((no_counts / "manifest.json").read_text())
    del manifest["counts"]
    (no_counts / "manifest.json").write_text(json.dumps(manifest))
    no_ledger = shutil.copytree(fixture, tmp_path / "no-ledger")  # used to print counts as if the ledger were there
    for part in (no_ledger / "ledger").glob("*.parquet"):
        part.unlink()
    for release, words in ((no_counts, "lacks counts"), (no_ledger, "ledger")):
        result = invoke("stats", release)
        assert result.exit_code == 2 and words in result.output, result.output
        assert "Traceback" not in result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)

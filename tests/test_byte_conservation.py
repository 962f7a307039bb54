"""Conservation in bytes, checked by `verify` from the release alone, and `verify` that never crashes.

A release is built from a damaged WARC (real pipeline); then its tables are tampered with the way a bug or an
edit could, the manifest's hashes re-signed so that only the check under test can see it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import schemas
from pipeline.cli import app, build
from pipeline.config import RunConfig
from pipeline.tables import file_sha256, write_part
from pipeline.verify import verify_release
from tests.helpers.corrupt import sample_pages
from tests.helpers.reseal import reseal_descriptions
from tests.helpers.warcs import record_spans, write_warc

BYTES_CHECK = "conservation in bytes (record spans + unreadable spans = the file)"
CONFIG = RunConfig.model_validate({"extract": {"extractor": "resiliparse"}})


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> Path:
    """One release of a gzip WARC with garbage between two members, and a plain one with a garbage line."""
    root = tmp_path_factory.mktemp("bytes")
    good = root / "good.warc.gz"
    write_warc(good, sample_pages())
    data = good.read_bytes()
    cut = record_spans(good)[5][0]
    (root / "garbage.warc.gz").write_bytes(data[:cut] + b"not a gzip member\r\n" + data[cut:])
    plain = root / "plain.warc"
    write_warc(plain, sample_pages(host="plain.test"), gzip=False)
    text = plain.read_bytes()
    at = record_spans(plain)[5][0]
    plain.write_bytes(text[:at] + b"a line that is no record\r\n" + text[at:])
    build([str(root / "garbage.warc.gz"), str(plain)], CONFIG, root / "r", index=False)
    return root / "r"


def copy_of(release: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "r"
    shutil.copytree(release, copy)
    return copy


def resign(release: Path, manifest: dict) -> None:
    """Make the manifest's file list match the files again (hashes, sizes, rows), as a careful forger would, and
    drop the proofs' sidecar, which is bound to the old manifest (a stale cache, not what is checked here)."""
    for f in manifest["files"]:
        path = release / f["path"]
        f.update(sha256=file_sha256(path), bytes=path.stat().st_size, rows=pq.read_metadata(path).num_rows)
    reseal_descriptions(release, manifest)
    (release / "manifest.json").write_text(json.dumps(manifest, indent=2))
    shutil.rmtree(release / "commitments", ignore_errors=True)


def rewrite(release: Path, table: str, edit) -> dict:
    """Apply `edit(frame) -> frame` to a table's parts (schema kept), re-sign the manifest; return it."""
    manifest = json.loads((release / "manifest.json").read_text())
    schema = schemas.arrow_schema(table, schemas.TABLES[table])
    for f in manifest["files"]:
        if f["table"] == table:
            path = release / f["path"]
            frame = edit(pl.read_parquet(path))
            pq.write_table(frame.to_arrow().cast(schema), path)
    resign(release, manifest)
    return manifest


def failed(report) -> dict[str, str]:
    return {c.name: c.detail for c in report.checks if not c.ok}


def test_a_damaged_input_verifies_with_every_byte_accounted_for(release):
    report = verify_release(release)
    assert report.ok, failed(report)
    check = next(c for c in report.checks if c.name == BYTES_CHECK)
    assert "2 unreadable spans" in check.detail
    manifest = json.loads((release / "manifest.json").read_text())
    assert manifest["format_version"] >= 4  # byte conservation is format 4's, and every later one's
    for entry in manifest["inputs"]:
        assert sum(entry["bytes_by_type"].values()) == entry["bytes"] == Path(entry["path"]).stat().st_size
        assert entry["records_by_type"]["unreadable"] == 1
    holes = pl.read_parquet(release / "ledger").filter(pl.col("record_type") == "unreadable")
    assert holes["reason"].to_list() == ["read_unparsable"] * 2
    assert sorted(holes["warc_record_length"].to_list())[0] == len(b"not a gzip member\r\n")


def test_verify_fails_when_a_byte_range_is_unaccounted(release, tmp_path):
    """A document's span shortened by one byte: only the byte law can see it."""
    copy = copy_of(release, tmp_path)
    rewrite(copy, "documents", lambda f: f.with_columns(
        pl.when(pl.int_range(pl.len()) == 0).then(pl.col("warc_record_length") - 1)
        .otherwise(pl.col("warc_record_length")).alias("warc_record_length")))  # fmt: skip
    problems = failed(verify_release(copy))
    assert set(problems) == {BYTES_CHECK}, problems
    assert "1 bytes unaccounted" in problems[BYTES_CHECK]


def test_verify_fails_when_spans_overlap(release, tmp_path):
    """The second document claims the first one's bytes."""
    copy = copy_of(release, tmp_path)
    rewrite(copy, "documents", lambda f: f.with_columns(
        pl.when(pl.int_range(pl.len()) == 1).then(pl.col(c).first()).otherwise(pl.col(c)).alias(c)
        for c in ("warc_record_offset", "warc_record_length")))  # fmt: skip
    problems = failed(verify_release(copy))
    assert BYTES_CHECK in problems and "1 rows overlap" in problems[BYTES_CHECK]


def test_verify_fails_when_an_unreadable_span_is_dropped_and_recounted(release, tmp_path):
    """The unreadable span's ledger row removed and every record count adjusted to match: the records law
    holds, the byte law does not (the manifest still gives those bytes to an unreadable span)."""
    copy = copy_of(release, tmp_path)
    manifest = rewrite(copy, "ledger", lambda f: f.filter(~((pl.col("record_type") == "unreadable")
                                                            & pl.col("file_path").str.ends_with(".gz"))))  # fmt: skip
    entry = next(e for e in manifest["inputs"] if e["path"].endswith(".gz"))
    del entry["records_by_type"]["unreadable"]
    entry["eligible"] -= 1
    entry["removed"] -= 1
    counts = manifest["counts"]
    counts["inputs"] -= 1
    counts["removed"] -= 1
    counts["records_by_type"]["unreadable"] -= 1
    counts["removed_by_stage"]["read"]["read_unparsable"] -= 1
    if not counts["removed_by_stage"]["read"]["read_unparsable"]:
        del counts["removed_by_stage"]["read"]["read_unparsable"]
    first = counts["stages"][0]  # the read stage takes one record less and removes one less: the rest is as it was
    assert first["stage"] == "read"
    first["in"] -= 1
    first["removed"] -= 1
    manifest["commitments"]["not_committed"]["removals_without_url_key"] -= 1  # the span had no URL to commit to
    resign(copy, manifest)
    problems = failed(verify_release(copy))
    assert set(problems) == {BYTES_CHECK}, problems
    assert "record types with bytes" in problems[BYTES_CHECK]


def test_an_older_format_is_verified_as_before(release, tmp_path):
    """A format 3 manifest (no bytes_by_type) is checked with format 3's schema and without the byte law."""
    copy = copy_of(release, tmp_path)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["format_version"] = 3
    del manifest["commitments"]
    del manifest["source_root"]  # format 6's
    for entry in manifest["inputs"]:
        del entry["bytes_by_type"]
    for name in [d["path"] for d in manifest.pop("descriptions")]:  # format 5's card and Croissant
        (copy / name).unlink()
    for f in manifest["files"]:  # format 3's documents are v2: without format 5's columns
        if f["table"] == "documents":
            version = schemas.TABLE_VERSIONS[3]["documents"]
            write_part(pl.read_parquet(copy / f["path"]), "documents", copy / f["path"], version)
            f["schema_version"] = version
    resign(copy, manifest)
    report = verify_release(copy)
    assert report.ok, failed(report)
    assert BYTES_CHECK not in {c.name for c in report.checks}


# ---------------------------------------------------------------------------------------------
# verify never crashes: a named finding, in text and in --json, exit 1


def run_verify(release: Path) -> tuple[int, str, dict]:
    runner = CliRunner()
    text = runner.invoke(app, ["verify", str(release)])
    as_json = runner.invoke(app, ["verify", str(release), "--json"])
    assert text.exception is None or isinstance(text.exception, SystemExit), text.exception
    assert as_json.exception is None or isinstance(as_json.exception, SystemExit), as_json.exception
    assert "Traceback" not in text.output + as_json.output
    assert text.exit_code == as_json.exit_code
    return text.exit_code, text.output, json.loads(as_json.stdout)


def test_a_listed_file_with_the_right_sha256_that_is_not_parquet(release, tmp_path):
    copy = copy_of(release, tmp_path)
    manifest = json.loads((copy / "manifest.json").read_text())
    docs = next(f for f in manifest["files"] if f["table"] == "documents")
    (copy / docs["path"]).write_bytes(b"PAR1 but not really a parquet file")
    docs.update(sha256=file_sha256(copy / docs["path"]), bytes=(copy / docs["path"]).stat().st_size)
    (copy / "manifest.json").write_text(json.dumps(manifest))
    code, text, report = run_verify(copy)
    assert code == 1 and report["ok"] is False
    schema = next(c for c in report["checks"] if c["name"] == "table schemas")
    assert not schema["ok"] and f"{docs['path']}: not a readable Parquet file" in schema["detail"]
    assert "FAIL table schemas" in text


def test_documents_and_signatures_parts_swapped(release, tmp_path):
    copy = copy_of(release, tmp_path)
    manifest = json.loads((copy / "manifest.json").read_text())
    docs = next(f for f in manifest["files"] if f["table"] == "documents")
    sigs = next(f for f in manifest["files"] if f["table"] == "signatures")
    swap = copy / "swap.tmp"
    (copy / docs["path"]).rename(swap)
    (copy / sigs["path"]).rename(copy / docs["path"])
    swap.rename(copy / sigs["path"])
    for f in (docs, sigs):
        path = copy / f["path"]
        f.update(sha256=file_sha256(path), bytes=path.stat().st_size)
    (copy / "manifest.json").write_text(json.dumps(manifest))
    code, _, report = run_verify(copy)
    assert code == 1 and report["ok"] is False
    checks = {c["name"]: c for c in report["checks"]}
    assert not checks["table schemas"]["ok"] and "columns differ" in checks["table schemas"]["detail"]
    broken = [c for c in report["checks"] if not c["ok"] and c["detail"].startswith("could not be checked")]
    assert broken, "the checks that query the swapped tables say they could not run"


def test_a_manifest_with_a_format_version_of_the_wrong_type(release, tmp_path):
    copy = copy_of(release, tmp_path)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["format_version"] = [4]
    (copy / "manifest.json").write_text(json.dumps(manifest))
    code, _, report = run_verify(copy)
    assert code == 1 and report["checks"][0]["name"] == "manifest" and "format_version" in report["checks"][0]["detail"]


def test_stats_and_the_eu_summary_name_the_unreadable_spans(release):
    from pipeline.reports.eu_summary import build_summary, summary_markdown

    result = CliRunner().invoke(app, ["stats", str(release)])
    assert result.exit_code == 0
    assert "unreadable spans: 2" in " ".join(result.output.split())
    data = json.loads(CliRunner().invoke(app, ["stats", str(release), "--json"]).stdout)
    assert data["unreadable"]["spans"] == 2 and len(data["unreadable"]["inputs"]) == 2
    summary = build_summary(release)
    assert summary.removal.unreadable_spans == 2 and summary.removal.unreadable_inputs == 2
    assert "Unreadable input spans" in summary_markdown(summary) and "2 spans" in summary_markdown(summary)
    assert sum(i.unreadable_spans for s in summary.sources for i in s.inputs) == 2

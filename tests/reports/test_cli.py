"""`report eu-summary` and `report croissant` through a tiny Typer app that mounts the group, as
pipeline/cli.py does: files written, and one clear line (exit 2) for anything that is not a release."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from pipeline.reports.cli import report_app
from pipeline.reports.eu_summary import EUSummary, summary_html, summary_markdown
from tests.reports.conftest import copy_release

app = typer.Typer()
app.add_typer(report_app, name="report")


def invoke(*args: str):
    return CliRunner().invoke(app, ["report", *map(str, args)])


def test_eu_summary_all_formats(demo_release, tmp_path):
    out = tmp_path / "out" / "summary.md"
    result = invoke("eu-summary", demo_release[0], "--out", out, "--format", "all", "--provider", "ACME AG",
                    "--model", "Acme-7B", "--last-update", "2026-11-25", "--source", "*/data/sample/*=public")
    assert result.exit_code == 0, result.output
    written = {Path(line).suffix for line in result.output.split()}
    assert written == {".md", ".html", ".json"}
    summary = EUSummary.model_validate_json(out.with_suffix(".json").read_text())
    assert summary.general.provider == "ACME AG" and summary.general.last_update == "2026-11-25"
    assert summary.section("public").used and not summary.section("other").used
    assert out.read_text() == summary_markdown(summary)
    assert out.with_suffix(".html").read_text() == summary_html(summary)


def test_eu_summary_single_format_takes_its_suffix(demo_release, tmp_path):
    result = invoke("eu-summary", demo_release[0], "--out", tmp_path / "s.md", "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "s.json").read_text())["general"]["release_id"] == "demo"


def test_croissant_and_datasheet(demo_release, tmp_path):
    out, sheet = tmp_path / "croissant.json", tmp_path / "datasheet.md"
    result = invoke("croissant", demo_release[0], "--out", out, "--datasheet", sheet, "--license", "CC-BY-4.0",
                    "--date-published", "2026-11-25")
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())
    assert doc["license"] == "CC-BY-4.0" and doc["datePublished"] == "2026-11-25"
    assert sheet.read_text().startswith("# Datasheet: Apertura release demo")


@pytest.mark.parametrize("command", ["eu-summary", "croissant"])
def test_not_a_release_is_one_line_exit_2(command, demo_release, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "manifest.json").write_text("{not json")
    incomplete = copy_release(demo_release[0], tmp_path / "incomplete")
    next((incomplete / "documents").glob("*.parquet")).unlink()
    damaged = copy_release(demo_release[0], tmp_path / "damaged")
    next((damaged / "ledger").glob("*.parquet")).write_bytes(b"PAR1 not really parquet")
    cases = {
        tmp_path / "missing": "does not exist",
        tmp_path: "manifest.json is missing",
        broken: "is not valid JSON",
        incomplete: "is incomplete: documents/part-00000.parquet is missing",
        damaged: "cannot read the release tables",
    }
    for release, message in cases.items():
        result = invoke(command, release, "--out", tmp_path / "o.json")
        assert result.exit_code == 2, result.output
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], result.output
        assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--format", "pdf"], "--format 'pdf'"), (["--source", "x=secret"], "GLOB=CATEGORY")],
)
def test_bad_options_exit_2(args, message, demo_release):
    result = invoke("eu-summary", demo_release[0], *args)
    assert result.exit_code == 2 and message in result.output

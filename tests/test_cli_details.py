"""The command line's details, each as a data engineer met it: flags that take no value say so, help texts that
say what they mean, a rerun of `index`, the run's last line, `optout explain`'s agents, a directory holding a
file that is not data, YAML configs and the config's JSON Schema."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import polars as pl
import pytest
import typer
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.config import RunConfig
from pipeline.crawl.config import CrawlConfig
from pipeline.optout.agents import default_agents
from pipeline.sources.inputs import expand_inputs

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"
runner = CliRunner()


def invoke(*args: object, **env: str):
    return runner.invoke(app, [str(a) for a in args], env={"COLUMNS": "200", **env})


def every_command(group, path: tuple[str, ...] = ()):
    """(path, command) of every command and group below `group` (typer vendors its own click: duck typing)."""
    for name, command in group.commands.items():
        yield (*path, name), command
        if hasattr(command, "commands"):
            yield from every_command(command, (*path, name))


def test_no_flag_shows_a_value_and_a_flag_refuses_one():
    """typer 0.29 printed `--json <bool>` (and `--help <bool>`) although a flag takes no value: every command's
    help, walked from the app, shows flags bare while options that take a value keep their type."""
    root = typer.main.get_command(app)
    commands = list(every_command(root))
    assert len(commands) > 25
    for path, command in [((), root), *commands]:
        shown = invoke(*path, "--help").output
        assert "<bool>" not in shown, (path, shown)
        flags = [p for p in command.params if getattr(p, "is_flag", False)]
        for flag in flags:
            line = next(line for line in shown.splitlines() if f" {flag.opts[0]} " in f" {line} ")
            assert "<" not in line.split(flag.opts[0], 1)[1].split("  ")[0], (path, line)
    assert "--workers" in invoke("run", "--help").output and "<int>" in invoke("run", "--help").output
    refused = invoke("verify", "somewhere", "--json", "true")
    assert refused.exit_code == 2 and "unexpected extra argument" in refused.output.lower(), refused.output


def test_the_executor_help_and_error_name_the_ray_extra(tmp_path):
    assert "pip install 'apertura[ray]'" in " ".join(invoke("run", "--help").output.split())
    # Ray made unimportable in a subprocess: the run stops with the extra to install, and writes nothing
    blocked = "import sys; sys.modules['ray'] = None; from pipeline.cli import app; sys.argv[0] = 'apertura'; app()"
    out = tmp_path / "r"
    done = subprocess.run([sys.executable, "-c", blocked, "run", str(SAMPLE), "--out", str(out), "--executor", "ray"],
                          capture_output=True, text=True, timeout=300, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: ") and 'pip install "apertura[ray]"' in done.stderr, done.stderr
    assert not out.exists()


def test_app_help_says_what_the_data_root_is():
    shown = " ".join(invoke("app", "--help").output.split())
    assert "see below" not in shown
    assert "$APERTURA_DATA_ROOT" in shown.split("Arguments")[1]  # in the argument's own help


def test_crawl_help_shows_the_config_defaults():
    shown = " ".join(invoke("crawl", "--help").output.replace("│", " ").split())
    config = CrawlConfig()
    for option, value in (("--delay", config.delay_seconds), ("--timeout", config.timeout_seconds),
                          ("--max-depth", config.max_depth), ("--scope", config.scope),
                          ("--contact", config.contact)):  # fmt: skip
        assert f"(default: {value}" in shown.split(option, 1)[1].split(" --")[0], option
    assert config.max_pages is None and "(default: no limit)" in shown.split("--max-pages", 1)[1].split(" --")[0]


def test_a_rerun_of_index_says_to_pass_force(planted_release):
    release, _, _ = planted_release
    result = invoke("index", release)
    assert result.exit_code == 2
    line = " ".join(result.output.split())
    assert line == f"error: {release / 'index'} already exists: pass --force to rebuild it"


def test_the_run_counts_records_and_files_apart(tmp_path):
    result = invoke("run", SAMPLE, "--out", tmp_path / "r", "--no-index")
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "r" / "manifest.json").read_text())
    files = len(list(SAMPLE.glob("*.warc.gz")))
    assert len(manifest["inputs"]) == files == 3
    summary = [json.loads(line) for line in result.output.splitlines() if '"event": "summary"' in line]
    assert f"{manifest['counts']['inputs']} records from {files} input files" in summary[0]["message"]
    assert "inputs=" not in result.output


def test_optout_explain_lists_the_agents_a_run_honours_unless_all_are_asked_for(tmp_path):
    robots = tmp_path / "robots.txt"
    robots.write_text("User-agent: *\nDisallow: /\n")
    args = ("optout", "explain", "--url", "https://example.org/a", "--robots", robots)
    honoured = [line.split(":")[0] for line in invoke(*args).output.splitlines() if not line.startswith(" ")]
    assert honoured == list(RunConfig().optout.agents) and len(honoured) == 13
    every = [line for line in invoke(*args, "--all-agents").output.splitlines() if not line.startswith(" ")]
    assert len(every) == len(default_agents()) == 165


@pytest.fixture
def mixed_directory(tmp_path) -> Path:
    """Documents (JSONL and Parquet with `text`) beside files that are not: expected results, a URL list."""
    folder = tmp_path / "inputs"
    folder.mkdir()
    docs = [
        {"text": f"Document {i} " + "with words " * 60, "url": f"https://d.test/{i}", "id": f"d{i}"} for i in range(3)
    ]
    (folder / "docs.jsonl").write_text("\n" + "\n".join(json.dumps(d) for d in docs) + "\n")  # a blank first line
    pl.DataFrame(docs).write_parquet(folder / "docs.parquet")
    (folder / "truth.jsonl").write_text("\n".join(json.dumps({"url": d["url"], "kept": True}) for d in docs) + "\n")
    pl.DataFrame({"url": [d["url"] for d in docs]}).write_parquet(folder / "urls.parquet")
    (folder / "notes.jsonl").write_text("this is not json\n")
    (folder / "empty.jsonl").write_text("")
    return folder


def test_a_directory_gives_only_files_of_documents_and_names_the_others(mixed_directory, caplog):
    caplog.set_level(logging.WARNING, logger="apertura")
    found = expand_inputs([str(mixed_directory)])
    assert [Path(f).name for f in found] == ["docs.jsonl", "docs.parquet", "empty.jsonl"]
    skipped = sorted(Path(r.fields["path"]).name for r in caplog.records if r.fields.get("event") == "input_skipped")
    assert skipped == ["notes.jsonl", "truth.jsonl", "urls.parquet"]
    assert all("not read as input" in r.getMessage() for r in caplog.records)
    by_glob = expand_inputs([str(mixed_directory / "*.jsonl")])
    assert [Path(f).name for f in by_glob] == ["docs.jsonl", "empty.jsonl"]
    named = str(mixed_directory / "truth.jsonl")
    assert expand_inputs([named]) == [named]  # named explicitly: read, its rows accounted for in the ledger


def test_a_run_over_the_directory_leaves_the_truth_file_out_and_says_so(mixed_directory, tmp_path):
    result = invoke("run", mixed_directory, "--out", tmp_path / "r", "--no-index")
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "r" / "manifest.json").read_text())
    assert sorted(Path(i["path"]).name for i in manifest["inputs"]) == ["docs.jsonl", "docs.parquet", "empty.jsonl"]
    warnings = [json.loads(line) for line in result.output.splitlines() if '"input_skipped"' in line]
    assert sorted(Path(w["path"]).name for w in warnings) == ["notes.jsonl", "truth.jsonl", "urls.parquet"]
    assert all(w["level"] == "warning" for w in warnings)


def dry_run(config: Path) -> dict:
    result = invoke("run", SAMPLE, "--out", config.parent / "never", "--config", config, "--dry-run")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_a_yaml_config_is_the_json_one(tmp_path):
    fields = {"dump": "CC-MAIN-2026-49", "extract": {"extractor": "resiliparse"}, "language": {"keep": ["en", "de"]},
              "quality": {"gopher": {"top_n_grams": [[2, 0.25]]}}}  # fmt: skip
    as_json = tmp_path / "run.json"
    as_json.write_text(json.dumps(fields))
    as_yaml = tmp_path / "run.yaml"
    as_yaml.write_text(
        "# a run config in YAML\ndump: CC-MAIN-2026-49\nextract:\n  extractor: resiliparse\n"
        "language:\n  keep: [en, de]\nquality:\n  gopher:\n    top_n_grams:\n      - [2, 0.25]\n"
    )
    from_yaml, from_json = dry_run(as_yaml), dry_run(as_json)
    assert from_yaml["config_hash"] == from_json["config_hash"] != RunConfig().hash()
    assert from_yaml["config"]["dump"] == "CC-MAIN-2026-49" and from_yaml["config"]["language"]["keep"] == ["en", "de"]
    assert from_yaml["config"]["quality"]["gopher"]["top_n_grams"] == [[2, 0.25]]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("dump: [unclosed\n", "not valid YAML: "),
        ("- a\n- list\n", "expected a mapping of config fields, found list"),
        ("extract:\n  extractor: lynx\n", "extract.extractor: Input should be 'trafilatura' or 'resiliparse'"),
        ("dump: x\nbatch_sise: 3\n", "batch_sise: Extra inputs are not permitted"),
    ],
)
def test_a_bad_yaml_config_is_one_line_naming_the_problem(tmp_path, text, message):
    bad = tmp_path / "bad.yml"
    bad.write_text(text)
    result = invoke("run", SAMPLE, "--out", tmp_path / "r", "--config", bad)
    assert result.exit_code == 2
    line = " ".join(result.output.split())
    assert line.startswith(f"error: config {bad}: ") and message in line and line.count("error:") == 1, line
    assert not (tmp_path / "r").exists()


def test_config_schema_is_the_run_configs_json_schema():
    result = invoke("config", "schema")
    assert result.exit_code == 0, result.output
    schema = json.loads(result.stdout)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    assert not list(validator.iter_errors(RunConfig().model_dump(mode="json")))
    assert not list(validator.iter_errors({"dedup": {"bands": 20, "rows_per_band": 5}, "language": {"keep": ["fr"]}}))
    for wrong in ({"batch_sise": 3}, {"extract": {"extractor": "lynx"}}, {"dedup": {"bands": "many"}}):
        assert list(validator.iter_errors(wrong)), wrong
        with pytest.raises(ValueError):  # the config model refuses what the schema refuses
            RunConfig.model_validate(wrong)
    assert set(schema["properties"]) == set(RunConfig.model_fields)

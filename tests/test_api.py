"""The Python API: README's example runs as written, user steps are ledgered, `import pipeline` stays light."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from pipeline import Release, RunError, run, steps
from pipeline.steps import StepError

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"


def _readme_example() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    found = re.search(r"<!-- api-example -->\n```python\n(.*?)```\n<!-- /api-example -->", text, re.S)
    assert found, "README.md has no Python API example between <!-- api-example --> markers"
    return found.group(1)


def test_the_readme_example_runs_as_written(tmp_path):
    (tmp_path / "data").symlink_to(ROOT / "data")
    script = tmp_path / "example.py"
    script.write_text(_readme_example(), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "write:" in done.stdout  # progress=print
    release = Release.open(tmp_path / "releases" / "api-demo")
    ledger = release.ledger().collect()
    mine = ledger.filter(pl.col("stage") == "english_only")
    kept = release.documents().collect()
    # ground truth from the built-in steps' own tags: every non-English page that survived them left here
    assert mine.height > 0 and set(mine["reason"]) == {"not_english"}
    assert set(kept["language"]) == {"en"}
    assert all(d.startswith("language ") and d != "language en" for d in mine["detail"])
    manifest = release.manifest
    assert manifest["counts"]["removed_by_stage"]["english_only"] == {"not_english": mine.height}
    assert [s["stage"] for s in manifest["counts"]["stages"]][-3:] == ["pii", "english_only", "dedup"]
    assert manifest["config"]["steps"][-1] == "__main__:EnglishOnly"


class KeepNothingShort(steps.Step):
    """Removes documents under 200 words: a user step defined in a module, as the README asks."""

    stage = "short_for_us"

    def annotate(self, batch: pl.DataFrame) -> pl.DataFrame:
        short = pl.col("text").str.split(" ").list.len() < 200
        return batch.with_columns(
            pl.when(short).then(pl.lit("under_200_words")).alias(steps.REASON),
            pl.when(short).then(pl.lit("fewer than 200 words")).alias(steps.DETAIL),
        )


def test_a_user_step_in_the_middle_runs_in_worker_processes(tmp_path):
    listed = [*steps.DEFAULT[:5], KeepNothingShort(), steps.DEFAULT[5]]  # before pii; an instance names its class
    rel = run([SAMPLE], tmp_path / "r", steps=listed, workers=2, index=False,
              config={"extract": {"extractor": "resiliparse"}})  # fmt: skip
    ledger = rel.ledger().filter(pl.col("stage") == "short_for_us").collect()
    kept = rel.documents().collect()
    assert ledger.height and set(ledger["reason"]) == {"under_200_words"}
    assert kept["text"].str.split(" ").list.len().min() >= 200
    assert rel.manifest["config"]["steps"][5] == "tests.test_api:KeepNothingShort"
    assert rel.verify().ok


def test_the_default_step_list_is_not_recorded(tmp_path):
    rel = run([SAMPLE], tmp_path / "r", index=False, config={"extract": {"extractor": "resiliparse"}})
    assert "steps" not in rel.manifest["config"]  # an ordinary run records (and hashes) what it did before


@pytest.mark.parametrize(
    ("listed", "message"),
    [
        (["optout", "admit", "extract", "language", "quality", "pii"], "in this order"),
        (["admit", "optout", "extract", "language", "quality"], "in this order"),
        ([*steps.DEFAULT, "no_such_module:Step"], "cannot be imported"),
        ([*steps.DEFAULT, "tests.test_api:Release"], "not a subclass"),
        ([*steps.DEFAULT, KeepNothingShort, KeepNothingShort], "taken"),
    ],
)
def test_a_bad_step_list_is_refused_before_any_work(tmp_path, listed, message):
    with pytest.raises(RunError, match=message):
        run([SAMPLE], tmp_path / "r", steps=listed, index=False)
    assert not (tmp_path / "r").exists()


def test_a_step_defined_inside_a_function_is_refused():
    class Local(steps.Step):
        stage = "local"

        def annotate(self, batch):
            return batch

    with pytest.raises(StepError, match="top level"):
        steps.spec_of(Local)


def test_import_pipeline_is_light():
    code = (
        "import sys, pipeline; from pipeline import steps; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('polars', 'duckdb', 'numpy', 'pyarrow')))"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stdout + done.stderr


def test_another_projects_pipeline_package_gets_one_clear_line(tmp_path):
    (tmp_path / "pipeline").mkdir()
    (tmp_path / "pipeline" / "__init__.py").write_text("")  # someone else's `pipeline`, first on the path
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}"}
    code = "import apertura_cli; apertura_cli.main()"
    done = subprocess.run([sys.executable, "-c", code, "--help"], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=60)  # fmt: skip
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1 and f"finds {tmp_path / 'pipeline'}" in done.stderr
    ours = subprocess.run([sys.executable, "-c", code, "--help"], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT, timeout=60)  # fmt: skip
    assert ours.returncode == 0 and "Usage" in ours.stdout

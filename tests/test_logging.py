"""Logs off a terminal: JSON lines with progress and a final summary, a log file, -q, run metrics beside the
manifest (not in it), and a run stopped by SIGTERM that says where it stopped and resumes."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.api import Progress
from pipeline.logs import JsonLines, ProgressLog
from pipeline.run_metrics import RUN_METRICS
from pipeline.verify import verify_release
from tests.hardening.test_kill_resume import LAUNCH

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = sorted(str(p) for p in (ROOT / "data" / "sample").glob("*.warc.gz"))


def apertura(*args: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """The real CLI in a subprocess, stderr a pipe (not a terminal), as under cron, Slurm or CI."""
    return subprocess.run([sys.executable, "-c", LAUNCH, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})  # fmt: skip


def json_lines(text: str) -> list[dict]:
    lines = [line for line in text.splitlines() if line.strip()]
    return [json.loads(line) for line in lines]  # every line is a JSON object, or this fails


@pytest.fixture(scope="module")
def logged_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("logs") / "r"
    done = apertura("run", *SAMPLE, "--out", str(out), "--progress-every", "0", "--no-index")
    assert done.returncode == 0, done.stderr
    return out, done


def test_off_a_terminal_the_run_logs_json_lines_with_progress_and_a_final_summary(logged_run):
    out, done = logged_run
    records = json_lines(done.stderr)
    manifest = json.loads((out / "manifest.json").read_text())
    counts = manifest["counts"]
    assert {r["level"] for r in records} == {"info"} and all(r["time"].endswith("+00:00") for r in records)

    progress = [r for r in records if r.get("event") == "progress"]
    phases = [r["phase"] for r in records if r.get("event") == "phase"]
    assert phases == ["site policies", "steps", "dedup and write"]
    steps = [r for r in progress if r["phase"] == "steps"]
    assert steps and all(r["docs_per_s"] is not None and "eta_s" in r for r in steps)
    assert [r["done"] for r in steps] == sorted(r["done"] for r in steps)  # inputs only go forward
    last = steps[-1]
    assert last["finished"] and (last["done"], last["total"], last["records"]) == (3, 3, counts["inputs"])
    assert any(r["eta_s"] is not None and not r["finished"] for r in steps), "no line with an ETA"
    written = [r for r in progress if r["phase"] == "dedup and write"]
    assert written[-1]["done"] == written[-1]["total"] == counts["inputs"]

    summary = records[-1]
    assert summary["event"] == "summary"
    assert (summary["documents"], summary["removed"], summary["records"], summary["input_files"]) == (
        counts["kept"], counts["removed"], counts["inputs"], len(SAMPLE))  # fmt: skip
    assert f"{counts['inputs']} records from 3 input files" in summary["message"]
    assert summary["wall_seconds"] > 0 and summary["peak_rss_bytes"] > 10 << 20


def test_run_metrics_sit_beside_the_manifest_not_in_it(logged_run):
    out, _ = logged_run
    metrics = json.loads((out / RUN_METRICS).read_text())
    manifest_bytes = (out / "manifest.json").read_bytes()
    assert metrics["manifest_sha256"] == hashlib.sha256(manifest_bytes).hexdigest()
    assert RUN_METRICS.encode() not in manifest_bytes and b"wall_seconds" not in manifest_bytes
    assert [p["phase"] for p in metrics["phases"]] == ["site policies", "steps", "dedup and write"]
    assert all(p["seconds"] > 0 for p in metrics["phases"])
    manifest = json.loads(manifest_bytes)
    funnel = {s["stage"]: s["in"] for s in manifest["counts"]["stages"]}
    stages = {s["stage"]: s for s in metrics["stages"]}
    assert {k: s["records"] for k, s in stages.items()} == {k: n for k, n in funnel.items() if k in stages}
    assert set(stages) == set(funnel) - {"dedup"} and all(s["busy_seconds"] > 0 for s in stages.values())
    assert metrics["peak_rss_bytes"]["driver"] > 10 << 20 and metrics["peak_rss_bytes"]["workers"] is None
    assert verify_release(out).ok  # an extra file beside the manifest is not a problem for verify


def test_a_log_file_gets_json_lines_while_stderr_gets_sentences_and_quiet_drops_info(tmp_path):
    log = tmp_path / "logs" / "run.log"
    done = apertura("--log-format", "text", "--log-file", str(log), "run", *SAMPLE[:1], "--out", str(tmp_path / "r"),
                    "--no-index")  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert lines and not any(line.startswith("{") for line in lines), done.stderr
    assert lines[-1].startswith(f"release written: {tmp_path / 'r'}: ") and "records from 1 input file" in lines[-1]
    in_file = json_lines(log.read_text())
    assert in_file[-1]["event"] == "summary" and in_file[-1]["message"] == lines[-1]

    quiet = apertura("-q", "run", *SAMPLE[:1], "--out", str(tmp_path / "q"), "--no-index")
    assert quiet.returncode == 0 and quiet.stderr == "", quiet.stderr
    assert (tmp_path / "q" / "manifest.json").is_file()


def test_sigterm_stops_the_run_logging_where_and_resume_finishes_it(tmp_path):
    """Each batch sleeps a second (the kill test's hook): SIGTERM once the first input is staged stops the run
    during the steps at shard 1; its last log line says so; the work directory stays and --resume finishes."""
    out, work = tmp_path / "r", tmp_path / ".r.work"
    cmd = [sys.executable, "-c", LAUNCH, "run", *SAMPLE, "--out", str(out), "--no-index"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "APERTURA_TEST_SLOW": "read"}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (work / "shards" / "00000" / "report.json").exists() and time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read()
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    stderr = proc.communicate(timeout=60)[1]
    assert proc.returncode == 128 + signal.SIGTERM, stderr
    last = json_lines(stderr)[-1]
    assert last["level"] == "error" and last["event"] == "stopped" and last["signal"] == "SIGTERM"
    assert (last["phase"], last["shard"], last["path"], last["inputs_done"]) == ("steps", 1, SAMPLE[1], 1)
    assert f"during steps at shard 1 ({SAMPLE[1]})" in last["message"] and "--resume" in last["message"]
    assert "Traceback" not in stderr and not out.exists() and (work / "shards" / "00000" / "report.json").exists()

    again = apertura("run", *SAMPLE, "--out", str(out), "--no-index", "--resume")
    assert again.returncode == 0, again.stderr
    assert "resumed: 1 of 3 inputs were already done" in [r["message"] for r in json_lines(again.stderr)]
    assert verify_release(out).ok


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_progress_lines_every_n_seconds_with_rate_and_eta(caplog):
    """Events at known times: a line only when `every` seconds passed (or a phase ends), with docs/s and an ETA
    worked out here from the times and counts (4 inputs; the first done after 5 s)."""
    clock = Clock()
    progress = ProgressLog(every=10, clock=clock)
    caplog.set_level(logging.INFO, logger="apertura")
    timeline = [(0, Progress("policies", 1, 4)), (0, Progress("policies", 4, 4)),
                (3, Progress("records", 40, stage="read")), (5, Progress("input", 1, 4)),
                (8, Progress("records", 90, stage="read")), (12, Progress("records", 120, stage="read")),
                (13, Progress("records", 130, stage="read"))]  # fmt: skip
    for at, event in timeline:
        clock.now = at
        progress(event)
    lines = [r for r in caplog.records if getattr(r, "fields", {}).get("event") == "progress"]
    assert [r.fields["phase"] for r in lines] == ["site policies", "steps"]  # 1/4 at t=0: no line; 4/4: the end
    line = lines[-1].fields
    assert (line["done"], line["total"], line["records"]) == (1, 4, 120)
    assert line["docs_per_s"] == round(120 / 12, 1) and line["eta_s"] == round(12 * 3 / 1, 1)
    assert lines[-1].getMessage() == "steps: 1/4 inputs, 120 records (10 docs/s), ETA 36 s"
    as_json = json.loads(JsonLines().format(lines[-1]))
    assert as_json["eta_s"] == 36.0 and as_json["level"] == "info" and as_json["logger"] == "apertura.run"


def test_the_readme_logging_commands_work_as_written(tmp_path):
    """README's logging block, run by bash in a directory holding the sample data, `.venv/bin/apertura` being this
    tree's CLI: every command succeeds and says what the README says it does."""
    import re
    import shutil

    if shutil.which("jq") is None:
        pytest.skip("jq is not installed (the README's examples read the log with it)")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- logging-example -->\n```bash\n(.*?)```\n<!-- /logging-example -->", readme, re.S)
    assert block, "README.md has no logging example between <!-- logging-example --> markers"
    (tmp_path / "data").symlink_to(ROOT / "data")
    shim = tmp_path / ".venv" / "bin" / "apertura"
    shim.parent.mkdir(parents=True)
    shim.write_text(f"#!/bin/sh\nexec {sys.executable} -c 'from pipeline.cli import app; app()' \"$@\"\n")
    shim.chmod(0o755)
    done = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", block.group(1)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=900, env={**os.environ, "PYTHONPATH": str(ROOT)})  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    logged = json_lines((tmp_path / "run.log").read_text())
    assert logged[-1]["event"] == "summary" and logged[-1]["release"] == "releases/logged"
    progress = [line for line in done.stdout.splitlines() if line.startswith("steps: ")]
    assert progress and progress[-1].startswith("steps: 3/3, ") and " docs/s, ETA " in progress[-1], done.stdout
    in_file = json_lines((tmp_path / "logs" / "run.jsonl").read_text())
    assert in_file[-1]["event"] == "summary" and in_file[-1]["release"] == "releases/quiet"
    sentences = done.stderr.splitlines()
    assert sentences[-1].startswith("release written: releases/text: ") and not any(
        s.startswith("{") for s in sentences
    )
    assert '"driver":' in done.stdout and '"phase": "dedup and write"' in done.stdout  # the metrics, through jq


def test_a_crawl_off_a_terminal_logs_its_progress_as_json_lines(tmp_path):
    """`apertura crawl` of the sample web's news site (on 127.0.0.1) with stderr not a terminal: a start record and
    a last progress record whose counts are the crawl's own summary (on stdout, --json)."""
    from typer.testing import CliRunner

    from pipeline.cli import app
    from pipeline.sources.sample_web import start_sample_web

    with start_sample_web() as web:
        seeds = tmp_path / "seeds.txt"
        seeds.write_text(web.url("news") + "\n")
        result = CliRunner().invoke(app, ["crawl", "--seeds", str(seeds), "--out", str(tmp_path / "c"), "--json",
                                          "--delay", "0.02", "--allow-private"])  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    records = json_lines(result.stderr)
    assert [r["message"] for r in records[:1]] == ["crawl: started"]
    last = records[-1]
    assert last["event"] == "progress" and last["finished"] and last["logger"] == "apertura.crawl"
    assert (last["pages"], last["robots_skipped"], last["files"]) == (
        summary["pages"], summary["robots_skipped"], len(summary["files"]))  # fmt: skip
    assert last["pages"] == 19 and last["pages_per_s"] > 0

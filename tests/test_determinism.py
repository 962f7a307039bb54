"""Same inputs and config give byte-identical Parquet; an interrupted run resumes to the same release."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.cli import build
from pipeline.config import RunConfig
from pipeline.executors.local import run_shards, worker_pool
from pipeline.sources.inputs import InputError, expand_inputs
from pipeline.sources.policy_scan import collect
from tests.helpers.warcs import make_pages, write_warc


def file_hashes(release: Path) -> dict[str, str]:
    import json

    manifest = json.loads((release / "manifest.json").read_text())
    return {f["path"]: f["sha256"] for f in manifest["files"]}


def test_two_runs_are_byte_identical_and_workers_do_not_matter(planted, planted_release, tmp_path):
    paths, _ = planted
    release, manifest, _ = planted_release
    again = build(expand_inputs([str(p) for p in paths]), RunConfig(), tmp_path / "again", workers=2)
    assert file_hashes(tmp_path / "again") == file_hashes(release)
    strip = lambda m: {k: v for k, v in m.items() if k != "release_id"}  # noqa: E731
    assert strip(again) == strip(manifest)


def test_resume_after_kill_gives_the_same_release(planted, planted_release, tmp_path):
    paths, _ = planted
    release, _, _ = planted_release
    out = tmp_path / "resumed"
    cmd = [sys.executable, "-m", "pipeline.cli", "run", *map(str, paths), "--out", str(out)]
    first_shard = tmp_path / ".resumed.work" / "shards" / "00000" / "report.json"
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    while not first_shard.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert first_shard.exists(), "the run never finished its first shard"
    assert not out.exists(), "a killed run must not leave a release behind"

    done = subprocess.run([*cmd, "--resume"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert first_shard.parent.exists() is False  # the work directory is cleaned up after success
    assert "resumed: 1 of 3 inputs were already done" in done.stderr
    assert file_hashes(out) == file_hashes(release)


def test_one_input_split_into_many_batches_over_two_workers_gives_the_same_release(planted, tmp_path):
    """Batches, not files, are what workers share: one input of many small batches on 2 workers (finished
    out of order) stages and releases exactly what one process does."""
    paths, _ = planted
    config = RunConfig(batch_size=2)
    largest = [str(max(paths, key=lambda p: p.stat().st_size))]
    one = build(expand_inputs(largest), config, tmp_path / "one", workers=1, index=False)
    assert one["counts"]["inputs"] >= 5 * config.batch_size  # enough batches to interleave
    two = build(expand_inputs(largest), config, tmp_path / "two", workers=2, index=False)
    assert file_hashes(tmp_path / "two") == file_hashes(tmp_path / "one")
    strip = lambda m: {k: v for k, v in m.items() if k != "release_id"}  # noqa: E731
    assert strip(two) == strip(one)


def test_planned_and_unplanned_inputs_mixed_over_two_workers_give_the_same_release(planted, tmp_path):
    """Workers read the planned inputs from their byte ranges; a truncated file (no plan: reading finds damage)
    and an uncompressed one are read as before. Together on 2 workers: exactly the one-process release."""
    paths, _ = planted
    largest = max(paths, key=lambda p: p.stat().st_size)
    cut = tmp_path / "cut.warc.gz"
    cut.write_bytes(largest.read_bytes()[: largest.stat().st_size // 2])
    plain = tmp_path / "plain.warc"
    write_warc(plain, make_pages(9, host="plain.test"), gzip=False)
    specs = expand_inputs([*map(str, paths), str(cut), str(plain)])
    config = RunConfig(batch_size=3)
    one = build(specs, config, tmp_path / "one", workers=1, index=False)
    damaged = next(i for i in one["inputs"] if i["path"] == str(cut))
    assert damaged["records_by_type"].get("unreadable") or damaged["removed"]  # the cut is in the ledger
    two = build(specs, config, tmp_path / "two", workers=2, index=False)
    assert file_hashes(tmp_path / "two") == file_hashes(tmp_path / "one")
    strip = lambda m: {k: v for k, v in m.items() if k != "release_id"}  # noqa: E731
    assert strip(two) == strip(one)


def test_the_workers_read_planned_inputs_themselves(tmp_path):
    """The driver does not read a planned input: a file rewritten after its policy scan fails the run in
    the worker that reads it, with a clear error, instead of being read as something else."""
    path = tmp_path / "in.warc.gz"
    write_warc(path, make_pages(12))
    config = RunConfig(batch_size=4)
    _, scanned = collect([str(path)], batch_size=config.batch_size)
    write_warc(path, make_pages(14))
    with worker_pool(2, config) as pool, pytest.raises(InputError, match="changed while the run was reading it"):
        run_shards([str(path)], config, tmp_path / "work", workers=2, pool=pool, plans={str(path): scanned[0].plan})

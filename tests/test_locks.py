"""One writer per output: a second `run`, `derive`, `index` or `publish` of the same target stops with one line
and exit 2 while the first is alive; the lock of a writer that was killed is taken over. And a resumed run
re-reads an input whose size, mtime or sha256 changed (the kill-and-resume test is in tests/hardening)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline.cli import app, build
from pipeline.config import RunConfig
from pipeline.executors.local import input_stat, stale_reason
from pipeline.locks import lock_path
from pipeline.staging import Shard
from pipeline.tables import file_sha256
from tests.helpers.warcs import make_pages, write_warc

ROOT = Path(__file__).resolve().parents[1]
CONFIG = RunConfig.model_validate({"extract": {"extractor": "resiliparse"}})
HOLD = """
import sys, time
from pathlib import Path
from pipeline.locks import output_lock
lock = Path(sys.argv[2]) if len(sys.argv) > 2 else None
with output_lock(Path(sys.argv[1]), lock=lock):
    print("locked", flush=True)
    time.sleep(120)
"""


def holder(target: Path, lock: Path | None = None) -> subprocess.Popen:
    """Another process holding the lock of `target`, as a writer in progress would."""
    args = [sys.executable, "-c", HOLD, str(target), *([str(lock)] if lock else [])]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def one_line_refusal(result, target: str, pid: int) -> None:
    output = " ".join(result.output.split())
    assert result.exit_code == 2, result.output
    assert output.startswith("error: ") and output.count("error:") == 1
    assert f"{target} is being written by pid {pid} since 20" in output


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("locks")
    write_warc(root / "a.warc.gz", make_pages(4, host="lock.test", size=300))
    return root


def test_a_second_run_into_the_same_out_is_refused_while_the_first_is_alive(inputs, tmp_path):
    out = tmp_path / "releases" / "r1"
    out.parent.mkdir()
    work = out.parent / ".r1.work"
    work.mkdir()
    (work / "theirs").write_text("the first run's staged work")
    proc = holder(out)
    try:
        result = CliRunner().invoke(app, ["run", str(inputs / "a.warc.gz"), "--out", str(out), "--no-index"])
        one_line_refusal(result, str(out), proc.pid)
        assert (work / "theirs").read_text() == "the first run's staged work" and not out.exists()
    finally:
        proc.kill()
        proc.wait()


def test_the_lock_of_a_killed_writer_is_taken_over(inputs, tmp_path):
    out = tmp_path / "r1"
    proc = holder(out)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert lock_path(out).is_file() and str(proc.pid) in lock_path(out).read_text()  # left behind, stale
    result = CliRunner().invoke(app, ["run", str(inputs / "a.warc.gz"), "--out", str(out), "--no-index"])
    assert result.exit_code == 0, result.output
    assert (out / "manifest.json").is_file() and not lock_path(out).exists()


def test_index_derive_and_publish_take_the_lock_of_their_target(inputs, tmp_path):
    release = tmp_path / "r1"
    build([str(inputs / "a.warc.gz")], CONFIG, release, index=False)
    runner = CliRunner()

    proc = holder(release / "index", lock=tmp_path / ".r1.index.lock")  # where `index` keeps its lock
    try:
        one_line_refusal(runner.invoke(app, ["index", str(release), "--force"]), f"{release}/index", proc.pid)
        assert not (release / "index").exists() and not list(release.glob(".index.*"))
    finally:
        proc.kill()
        proc.wait()

    registry = tmp_path / "registry"
    assert runner.invoke(app, ["optout", "add", "--domain", "lock.test", "--requester", "t", "--registry",
                               str(registry)]).exit_code == 0  # fmt: skip
    derived = tmp_path / "r2"
    proc = holder(derived)
    try:
        result = runner.invoke(app, ["release", "derive", str(release), "--apply-optouts", "--out", str(derived),
                                     "--registry", str(registry)])  # fmt: skip
        one_line_refusal(result, str(derived), proc.pid)
        assert not derived.exists()
    finally:
        proc.kill()
        proc.wait()

    published = tmp_path / "published" / "r1"
    proc = holder(published)
    try:
        one_line_refusal(runner.invoke(app, ["release", "publish", str(release), str(published)]), str(published),
                         proc.pid)  # fmt: skip
        assert not published.exists()
    finally:
        proc.kill()
        proc.wait()
    assert runner.invoke(app, ["release", "publish", str(release), str(published)]).exit_code == 0
    assert (published / "manifest.json").is_file()


def test_two_concurrent_runs_one_writes_the_other_is_refused(inputs, tmp_path):
    """The race the lock exists for: two real `apertura run` processes into one --out."""
    out = tmp_path / "r1"
    cmd = [sys.executable, "-c", "from pipeline.cli import app; app()", "run", str(inputs / "a.warc.gz"),
           "--out", str(out), "--no-index", "--extractor", "resiliparse"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen(cmd, cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 2], results  # one writes; the other is refused (locked, or the release already exists)
    for code, err in results:
        if code == 2:
            assert "is being written by pid" in err or "already exists" in err, err
        assert "Traceback" not in err and "No such file" not in err, err
    assert (out / "manifest.json").is_file()


def test_stale_reason_checks_size_mtime_and_sha256(tmp_path):
    path = tmp_path / "in.warc"
    write_warc(path, make_pages(2), gzip=False)
    shard = Shard(0, str(path), tmp_path / "shard")
    report = {"sha256": file_sha256(path), "input_stat": input_stat(str(path))}
    assert stale_reason(shard, report) is None
    data = path.read_bytes()
    stat = path.stat()
    path.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))  # same size, other bytes
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert "sha256 differs" in stale_reason(shard, report)
    time.sleep(0.01)
    path.write_bytes(data)  # the original bytes, a new mtime
    assert "modification time" in stale_reason(shard, report)
    path.write_bytes(data + b"\r\n")
    assert "bytes then" in stale_reason(shard, report)
    assert "recorded no size" in stale_reason(shard, {"sha256": report["sha256"]})
    assert "cannot be checked" in stale_reason(Shard(0, "http://127.0.0.1:9/in.warc", tmp_path), report)
    path.unlink()
    assert "gone" in stale_reason(shard, report)

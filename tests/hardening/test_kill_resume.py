"""SIGKILL a real `apertura run` while it reads, dedups and writes; `--resume` gives the same bytes.

Issue 8, item 3. Extends tests/test_determinism.py (one kill between two inputs, default workers):
here one run over the shipped sample (three WARC files) is killed three times in a row, each time
resumed with `--resume`, and the fourth run finishes:

1. while reading: the first input's shard is done (`report.json`), the second one is being read;
2. during the global dedup (every input staged, nothing written yet);
3. while writing: the hidden staging directory `.r.writing` already holds a finished Parquet part.

The kills are real SIGKILLs from outside, sent when the output directory shows the state above. So
that a state can be seen on two shared cores, the killed process is slowed at that point (a sleep
patched in before `apertura run` starts: nothing else is changed). Then:

* the final release is byte-identical (every file, manifest.json included) to an uninterrupted run;
* while the processes are alive, a watcher lists the output's parent directory again and again: only
  the hidden `.r.work` / `.r.writing` names or the finished release (with its manifest.json, no
  temporary file) may ever be visible; inside the release only the membership index, staged under a
  hidden `.index.writing-*` name by the last run, appears afterwards.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from pipeline.cli import build
from pipeline.config import RunConfig
from pipeline.run_metrics import RUN_METRICS
from pipeline.sources.inputs import expand_inputs
from tests.hardening.support import tree_digest


def without_metrics(digest: dict[str, str]) -> dict[str, str]:
    """A release's files without run-metrics.json (timings and memory of one run: never the same twice)."""
    assert RUN_METRICS in digest, "every run writes its metrics"
    return {k: v for k, v in digest.items() if k != RUN_METRICS}

ROOT = Path(__file__).resolve().parents[2]
INPUTS = sorted(str(p) for p in (ROOT / "data" / "sample").glob("*.warc.gz"))

# `python -c LAUNCH run ...`: the real CLI, with a sleep at the point APERTURA_TEST_SLOW names
LAUNCH = """
import os, sys, time
from pathlib import Path

slow = os.environ.get("APERTURA_TEST_SLOW")
if slow == "read":  # each batch of each input takes a second longer
    import pipeline.executors.local as local
    real_candidates = local.staged_candidates
    def staged_candidates(*args, **kwargs):
        time.sleep(1.0)
        return real_candidates(*args, **kwargs)
    local.staged_candidates = staged_candidates
elif slow == "dedup":  # announce the dedup, then take long over it
    import pipeline.release as release
    real_dedup = release.cluster
    def cluster(*args, **kwargs):
        Path(os.environ["APERTURA_TEST_MARK"]).touch()
        time.sleep(30)
        return real_dedup(*args, **kwargs)
    release.cluster = cluster
elif slow == "write":  # pause after each finished Parquet part of the release
    import pipeline.tables as tables
    real_close = tables.PartWriter._close
    def _close(self):
        real_close(self)
        time.sleep(0.5)
    tables.PartWriter._close = _close
from pipeline.cli import app
sys.argv[0] = "apertura"
app()
"""


class Watcher(threading.Thread):
    """Lists `parent` every few ms; records anything visible that is neither hidden work nor a whole release."""

    def __init__(self, parent: Path, name: str) -> None:
        super().__init__(daemon=True)
        self.parent, self.name = parent, name
        # the lock files of the release and of its index (pipeline/locks.py) are hidden too
        self.allowed = {f".{name}.work", f".{name}.writing", name, f".{name}.lock", f".{name}.index.lock"}
        self.stop = threading.Event()
        self.problems: list[str] = []
        self.seen: set[str] = set()
        self.looks = 0

    def run(self) -> None:
        while not self.stop.is_set():
            names = set(os.listdir(self.parent))
            self.seen |= names
            self.looks += 1
            if extra := names - self.allowed:
                self.problems.append(f"visible: {sorted(extra)}")
            if self.name in names:
                release = self.parent / self.name
                if not (release / "manifest.json").is_file():
                    self.problems.append(f"{self.name}/ visible without manifest.json")
                try:  # the index sidecar is staged inside the release, under a hidden name: that is allowed
                    partial = [
                        str(p.relative_to(release))
                        for p in release.rglob("*")
                        if p.name.endswith((".tmp", ".writing", ".open"))
                        and not any(part.startswith(".") for part in p.relative_to(release).parts)
                    ]
                except OSError:  # a directory renamed while we walked it: look again
                    partial = []
                if partial:
                    self.problems.append(f"partial files under the release name: {partial}")
            time.sleep(0.005)


def launch(out: Path, log: Path, slow: str | None, mark: Path, resume: bool) -> subprocess.Popen:
    cmd = [sys.executable, "-c", LAUNCH, "run", *INPUTS, "--out", str(out), "--workers", "1"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("APERTURA_TEST_")}
    env |= {"APERTURA_TEST_SLOW": slow or "", "APERTURA_TEST_MARK": str(mark)}
    with open(log, "w") as err:
        return subprocess.Popen(
            [*cmd, "--resume"] if resume else cmd,
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,
        )


def kill_when(proc: subprocess.Popen, ready: Callable[[], bool], what: str, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not ready() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    alive = proc.poll() is None
    if alive:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert alive and ready(), f"{what}: the run ended (or timed out) before it could be killed there"


def test_killed_while_reading_deduplicating_and_writing_resumes_to_the_same_bytes(tmp_path):
    reference = tmp_path / "reference" / "r"
    reference.parent.mkdir()
    build(expand_inputs(INPUTS), RunConfig(), reference, workers=1, index=False)

    parent = tmp_path / "runs"
    parent.mkdir()
    out, work, staging = parent / "r", parent / ".r.work", parent / ".r.writing"
    shards = work / "shards"
    mark = tmp_path / "dedup-started"
    watcher = Watcher(parent, "r")
    watcher.start()
    try:
        # 1. reading: input 0 staged, input 1 in progress
        proc = launch(out, tmp_path / "1.log", "read", mark, resume=False)
        kill_when(proc, lambda: (shards / "00000" / "report.json").exists() and (shards / "00001").exists(), "read")
        assert not (shards / "00001" / "report.json").exists() and not (shards / "00002" / "report.json").exists()
        assert not out.exists() and not staging.exists()

        # 2. dedup: every input staged, nothing of the release written
        proc = launch(out, tmp_path / "2.log", "dedup", mark, resume=True)
        kill_when(proc, mark.exists, "dedup")
        assert "resumed: 1 of 3 inputs were already done" in (tmp_path / "2.log").read_text()
        assert len(list(shards.glob("*/report.json"))) == 3
        assert not out.exists() and not staging.exists()

        # 3. writing: the staging directory holds a finished part, the release is not complete
        proc = launch(out, tmp_path / "3.log", "write", mark, resume=True)
        kill_when(proc, lambda: any(staging.glob("*/part-*.parquet")), "write")
        assert "resumed: 3 of 3 inputs were already done" in (tmp_path / "3.log").read_text()
        assert staging.is_dir() and not (staging / "manifest.json").exists() and not out.exists()

        # 4. uninterrupted to the end
        proc = launch(out, tmp_path / "4.log", None, mark, resume=True)
        assert proc.wait(timeout=180) == 0, (tmp_path / "4.log").read_text()
    finally:
        watcher.stop.set()
        watcher.join()
    log = (tmp_path / "4.log").read_text()
    assert "resumed: 3 of 3 inputs were already done" in log and "release written" in log, log
    assert not watcher.problems, watcher.problems[:5]
    assert watcher.looks > 100 and {".r.work", ".r.writing", "r"} <= watcher.seen, (watcher.looks, watcher.seen)
    assert sorted(os.listdir(parent)) == ["r"]  # work and staging directories are gone
    assert (out / "index" / "index.json").is_file() and not [p for p in os.listdir(out) if p.startswith(".")]
    # every file of the release, manifest.json included, byte for byte (the index sidecar and the run's measurements
    # are not part of it)
    release = {k: v for k, v in tree_digest(out).items() if not k.startswith("index/") and k != RUN_METRICS}
    assert release == without_metrics(tree_digest(reference))


def test_a_resumed_run_reads_an_input_again_when_it_changed(tmp_path):
    """SIGKILL after the first input is staged; that input is then replaced at the same path (same size and
    mtime, other bytes: only its sha256 tells), the second one grows. `--resume` reads both again, says so, and
    the release is byte-identical to a fresh run over the inputs as they are now."""
    import shutil

    from tests.helpers.warcs import make_pages, write_warc

    def inputs(folder: Path, hosts: tuple[str, str]) -> list[str]:
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for i, host in enumerate(hosts):  # input 0 plain: a host of the same length gives the same size
            path = folder / f"in-{i}.warc{'.gz' if i else ''}"
            write_warc(path, make_pages(6, host=host, size=300), gzip=bool(i))
            paths.append(str(path))
        return paths

    old = inputs(tmp_path / "old", ("aaaa.test", "bbbb.test"))
    new = inputs(tmp_path / "new", ("cccc.test", "dddd.test.longer"))  # input 0: same size as before
    assert os.path.getsize(old[0]) == os.path.getsize(new[0]) and os.path.getsize(old[1]) != os.path.getsize(new[1])
    live = tmp_path / "live"
    shutil.copytree(tmp_path / "old", live)
    specs = [str(live / Path(p).name) for p in old]
    parent = tmp_path / "runs"
    parent.mkdir()
    out, shards = parent / "r", parent / ".r.work" / "shards"
    cmd = [sys.executable, "-c", LAUNCH, "run", *specs, "--out", str(out), "--workers", "1", "--no-index"]
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("APERTURA_TEST_")}, "APERTURA_TEST_SLOW": "read"}
    with open(tmp_path / "1.log", "w") as err:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
    kill_when(proc, lambda: (shards / "00000" / "report.json").exists(), "read")
    before = os.stat(specs[0])
    for spec, source in zip(specs, new, strict=True):
        shutil.copyfile(source, spec)
    os.utime(specs[0], ns=(before.st_atime_ns, before.st_mtime_ns))  # same size and mtime: only sha256 differs
    result = subprocess.run([*cmd, "--resume"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    log = " ".join(result.stderr.split())
    assert f"resume: {specs[0]} is read again: its sha256 differs from the one recorded when it was read" in log
    assert "resumed: 0 of 2 inputs were already done" in log

    reference = tmp_path / "reference" / "r"
    reference.parent.mkdir()
    build(specs, RunConfig(), reference, workers=1, index=False)
    assert without_metrics(tree_digest(out)) == without_metrics(tree_digest(reference))
    manifest = json.loads((out / "manifest.json").read_text())
    now = [hashlib.sha256(Path(s).read_bytes()).hexdigest() for s in specs]
    assert [e["sha256"] for e in manifest["inputs"]] == now

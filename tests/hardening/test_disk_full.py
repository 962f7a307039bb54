"""A full disk, a file size limit, a read-only output: one clear error line, no release, and a rerun completes.

Issue 8, item 4. Each case runs the real `apertura run` in a subprocess on the shipped sample (three
WARC files, ~60 records), with its output somewhere writes fail:

* `RLIMIT_FSIZE` (works unprivileged everywhere): a file may not grow past N bytes; with SIGXFSZ
  ignored, the write fails with EFBIG. 20 kB stops the run while it stages its inputs, 50 kB when it
  writes the release (the staged files of the sample are ~2-42 kB, the release's documents file ~66 kB).
* a real tmpfs of 280 kB (ENOSPC), mounted in a private mount namespace (`unshare -rm`: no root needed
  where user namespaces are allowed, nothing visible outside); skipped where that is not permitted.
* the same limit at 200 kB: the release is written, the membership index built inside it afterwards is
  not; the release must stay whole and verify.
* a read-only output directory: a read-only bind mount in such a namespace, and `chmod 0o555`
  (skipped as root, where chmod does not stop writes).

Expected each time: exit code non-zero, one `error:` line naming the problem and no traceback,
nothing under the release name and no hidden `.<name>.writing` left; after "freeing space" (no limit,
a bigger tmpfs) the same command with `--resume` completes and the release verifies.
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.verify import verify_release

ROOT = Path(__file__).resolve().parents[2]
INPUTS = sorted(str(p) for p in (ROOT / "data" / "sample").glob("*.warc.gz"))
STAGING_LIMIT = 20_000  # bytes: below the sample's largest staged file (~53 kB)
RELEASE_LIMIT = 60_000  # bytes: above every staged file (~53 kB, lz4), below the release's documents file (~66 kB)
INDEX_LIMIT = 200_000  # bytes: the whole release fits, its membership index (entries.duckdb) does not
TMPFS_SIZE = "280k"  # room for the staged inputs (~250 kB at most), not for the release as well (~140 kB more)


def run_cmd(out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "pipeline.cli", "run", *INPUTS, "--out", str(out), "--workers", "1", *extra]


def apertura(cmd: list[str], file_size_limit: int | None = None) -> subprocess.CompletedProcess:
    def limited() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit then fails with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (file_size_limit, file_size_limit))

    return subprocess.run(
        cmd, cwd=ROOT, capture_output=True, text=True, timeout=180, preexec_fn=limited if file_size_limit else None
    )


def assert_clean_failure(returncode: int, stderr: str, out: Path, *phrases: str) -> str:
    """Non-zero exit, exactly one `error:` line holding every phrase, no traceback, no release of any kind."""
    assert returncode != 0, stderr
    assert "Traceback" not in stderr and "Exception ignored" not in stderr, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, stderr
    for phrase in phrases:
        assert phrase in errors[0], errors[0]
    assert not out.exists(), "a failed run must not leave anything under the release name"
    assert not (out.parent / f".{out.name}.writing").exists(), "the half-written staging directory is left behind"
    return errors[0]


def assert_verifies(release: Path) -> None:
    report = verify_release(release)
    assert report.ok, [c for c in report.checks if not c.ok]


def test_file_size_limit_while_staging_the_inputs(tmp_path):
    out = tmp_path / "r"
    done = apertura(run_cmd(out), file_size_limit=STAGING_LIMIT)
    assert_clean_failure(done.returncode, done.stderr, out, "File too large", "staged files of input", "ulimit -f")


def test_file_size_limit_while_writing_the_release_then_resume(tmp_path):
    out = tmp_path / "r"
    done = apertura(run_cmd(out), file_size_limit=RELEASE_LIMIT)
    assert_clean_failure(done.returncode, done.stderr, out, "File too large", f"release {out.name}")
    shards = sorted((tmp_path / ".r.work" / "shards").glob("*/report.json"))
    assert len(shards) == len(INPUTS), "every input was staged before the release write failed"

    again = apertura(run_cmd(out, "--resume"))  # "space freed": no limit now
    assert again.returncode == 0, again.stderr
    assert f"resumed: {len(INPUTS)} of {len(INPUTS)} inputs were already done" in again.stderr
    assert_verifies(out)


def test_file_size_limit_while_building_the_index_leaves_the_release_whole(tmp_path):
    """The release fits, the membership index (built after it, inside it) does not: the release stays valid."""
    out = tmp_path / "r"
    done = apertura(run_cmd(out), file_size_limit=INDEX_LIMIT)
    assert done.returncode != 0, done.stderr
    assert (out / "manifest.json").is_file(), done.stderr  # the release was complete before the index began
    assert_verifies(out)
    assert not (out / "index").exists() and not [p.name for p in out.iterdir() if p.name.startswith(".")]
    assert "Traceback" not in done.stderr, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "File too large" in errors[0], done.stderr


def _namespace_script(tmp_path: Path, script: str, **env: str) -> subprocess.CompletedProcess:
    """Run `script` (sh) as root of a new user + mount namespace; skip when the system does not allow it."""
    if shutil.which("unshare") is None:
        pytest.skip("unshare(1) is not installed")
    probe = tmp_path / "probe"
    probe.mkdir()
    check = subprocess.run(
        ["unshare", "-rm", "sh", "-c", f"mount -t tmpfs -o size=64k tmpfs {probe}"], capture_output=True, text=True
    )
    if check.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs in a private namespace here: {check.stderr.strip()}")
    return subprocess.run(
        ["unshare", "-rm", "sh", "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PY": sys.executable, "INPUTS": " ".join(INPUTS), **env},
    )


def test_full_tmpfs_then_resume_with_more_space(tmp_path):
    mnt, keep = tmp_path / "mnt", tmp_path / "keep"
    mnt.mkdir()
    keep.mkdir()
    # the tmpfs vanishes with the namespace: logs, exit codes and the final release are copied out
    script = """
        mount -t tmpfs -o size=$SIZE tmpfs "$MNT" || exit 90
        $PY -m pipeline.cli run $INPUTS --out "$MNT/r" --workers 1 2> "$KEEP/err1"; echo $? > "$KEEP/rc1"
        ls -A "$MNT" > "$KEEP/after1"
        mount -o remount,size=16m "$MNT" || exit 91
        $PY -m pipeline.cli run $INPUTS --out "$MNT/r" --workers 1 --resume 2> "$KEEP/err2"; echo $? > "$KEEP/rc2"
        cp -a "$MNT/r" "$KEEP/r" 2>/dev/null
        exit 0
    """
    done = _namespace_script(tmp_path, script, MNT=str(mnt), KEEP=str(keep), SIZE=TMPFS_SIZE)
    assert done.returncode == 0, done.stderr
    err1 = (keep / "err1").read_text()
    line = assert_clean_failure(int((keep / "rc1").read_text()), err1, mnt / "r", "No space left on device")
    assert "release r" in line, line  # 280 kB: the inputs were staged, the release did not fit
    assert (keep / "after1").read_text().split() == [".r.work"]  # no release, no staging dir, on the tmpfs itself
    assert int((keep / "rc2").read_text()) == 0, (keep / "err2").read_text()
    assert_verifies(keep / "r")


def test_read_only_output_directory(tmp_path):
    ro, keep = tmp_path / "ro", tmp_path / "keep"
    ro.mkdir()
    keep.mkdir()
    script = """
        mount --bind "$RO" "$RO" && mount -o remount,bind,ro "$RO" || exit 90
        $PY -m pipeline.cli run $INPUTS --out "$RO/r" --workers 1 2> "$KEEP/err"; echo $? > "$KEEP/rc"
        exit 0
    """
    done = _namespace_script(tmp_path, script, RO=str(ro), KEEP=str(keep))
    assert done.returncode == 0, done.stderr
    assert_clean_failure(int((keep / "rc").read_text()), (keep / "err").read_text(), ro / "r", "Read-only file system")
    assert not any(ro.iterdir())


def test_output_parent_without_write_permission(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("running as root: chmod 0o555 does not stop root's writes (the read-only mount case covers it)")
    parent = tmp_path / "locked"
    parent.mkdir()
    parent.chmod(0o555)
    try:
        done = apertura(run_cmd(parent / "r"))
        assert_clean_failure(done.returncode, done.stderr, parent / "r", "Permission denied")
    finally:
        parent.chmod(0o755)

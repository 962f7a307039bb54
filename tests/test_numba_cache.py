"""No surprise compile: numba's cache lives in the user's cache directory, `apertura warmup` fills it, and the first
run afterwards loads every kernel from it and compiles none."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from pipeline.numba_cache import cache_dir

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = sorted(str(p) for p in (ROOT / "data" / "sample").glob("*.warc.gz"))
KERNELS = ("kernels", "repetition_kernel")  # pipeline/fingerprints/kernels.py, pipeline/steps/repetition_kernel.py


def test_the_cache_directory_follows_xdg_unless_numba_is_told_otherwise(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert cache_dir() == tmp_path / "home" / ".cache" / "apertura" / "numba"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")  # the XDG spec: a relative path is ignored
    assert cache_dir() == tmp_path / "home" / ".cache" / "apertura" / "numba"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "apertura" / "numba"
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "mine"))
    assert cache_dir() == tmp_path / "mine"


def cached_files(root: Path) -> set[str]:
    return {p.name for p in root.rglob("*") if p.suffix in (".nbi", ".nbc")}


def test_warmup_compiles_into_the_user_cache_and_the_first_run_compiles_nothing(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env |= {"PYTHONPATH": str(ROOT), "XDG_CACHE_HOME": str(tmp_path / "xdg")}
    cli = [sys.executable, "-c", "from pipeline.cli import app; app()"]
    package_caches = [ROOT / "pipeline" / part / "__pycache__" for part in ("steps", "fingerprints")]
    before = {p: p.stat().st_mtime for cache in package_caches for p in cache.glob("*.nb*")}
    started = time.time()

    warm = subprocess.run([*cli, "warmup"], capture_output=True, text=True, env=env, timeout=600, cwd=tmp_path)
    assert warm.returncode == 0, warm.stderr
    record = json.loads(warm.stderr.splitlines()[-1])
    expected = tmp_path / "xdg" / "apertura" / "numba"
    assert record["event"] == "warmup" and record["cache_dir"] == str(expected)
    compiled = cached_files(expected)
    assert all(any(name.startswith(f"{kernel}.") for name in compiled) for kernel in KERNELS), compiled
    after = {p: p.stat().st_mtime for cache in package_caches for p in cache.glob("*.nb*")}
    assert not [p for p, t in after.items() if t >= started and before.get(p) != t], "written beside the package"

    # the first run after the warm-up: numba says where each kernel came from (NUMBA_DEBUG_CACHE, on stdout)
    run = subprocess.run([*cli, "run", SAMPLE[0], "--out", str(tmp_path / "r"), "--no-index"], capture_output=True,
                         text=True, env={**env, "NUMBA_DEBUG_CACHE": "1"}, timeout=600, cwd=tmp_path)  # fmt: skip
    assert run.returncode == 0, run.stderr
    loaded = [line for line in run.stdout.splitlines() if line.startswith("[cache] data loaded from")]
    assert loaded and all(str(expected) in line for line in loaded)
    assert "[cache] data saved to" not in run.stdout, "the run compiled a kernel the warm-up did not"
    assert cached_files(expected) == compiled

"""`streamlit run audit_app/app.py -- --release R` on a free loopback port, for the real-browser tests."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.app.test_cli_app import free_port

REPO = Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def app_server(root: Path, release: str | Path) -> Iterator[str]:
    """The server's base URL while it runs, the data root `root`; stopped (and its log closed) afterwards. Not in
    a session of its own: a run stopped from outside (Ctrl-C, timeout) stops the server too."""
    port = free_port()
    command = [
        sys.executable, "-m", "streamlit", "run", str(REPO / "audit_app" / "app.py"),
        "--server.address", "127.0.0.1", "--server.port", str(port), "--server.headless", "true",
        "--browser.gatherUsageStats", "false", "--", "--release", str(release),
    ]  # fmt: skip
    env = {**os.environ, "APERTURA_DATA_ROOT": str(root)}
    env.pop("APERTURA_RELEASE", None)
    log = tempfile.TemporaryFile()  # noqa: SIM115 (closed in the finally below, after the server stopped)
    proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        health = None
        while health != "ok":
            if proc.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                pytest.fail("streamlit did not start:\n" + log.read().decode(errors="replace"))
            time.sleep(0.3)
            with contextlib.suppress(httpx.TransportError):
                health = httpx.get(f"{base}/_stcore/health", timeout=1).text
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()

"""`apertura app`: starts the Streamlit server on 127.0.0.1 for a release inside the data root."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time

import httpx
import pytest
from typer.testing import CliRunner

from pipeline.cli import app

runner = CliRunner()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(process: subprocess.Popen, port: int) -> None:
    """Until the Streamlit server on `port` answers its health check (the process must stay alive)."""
    deadline = time.monotonic() + 30
    health = None
    while time.monotonic() < deadline and health != "ok":
        time.sleep(0.3)
        try:
            health = httpx.get(f"http://127.0.0.1:{port}/_stcore/health", timeout=1).text
        except httpx.TransportError:
            assert process.poll() is None, process.stdout.read().decode()
    assert health == "ok"


def test_app_command_refuses_what_it_cannot_serve(app_release, tmp_path, monkeypatch):
    root = app_release[0]
    monkeypatch.setenv("APERTURA_DATA_ROOT", str(root))
    result = runner.invoke(app, ["app", str(tmp_path)])
    assert result.exit_code == 2 and "outside the data root" in " ".join(result.output.split())
    result = runner.invoke(app, ["app", str(root / "inputs")])
    assert result.exit_code == 2 and "not a release" in " ".join(result.output.split())
    assert runner.invoke(app, ["app", "--help"]).exit_code == 0


def test_app_command_serves_the_release_on_loopback(app_release):
    root, release, _, _ = app_release
    port = free_port()
    env = {**os.environ, "APERTURA_DATA_ROOT": str(root)}
    command = [sys.executable, "-m", "pipeline.cli", "app", str(release), "--port", str(port), "--headless"]
    server = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        wait_healthy(server, port)
        page = httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
        assert page.status_code == 200 and "<html" in page.text.lower()
    finally:
        os.killpg(server.pid, 15)  # the CLI and the streamlit process it started, nothing else
        server.wait(timeout=10)


def test_sigterm_to_the_app_command_stops_its_server_and_frees_the_port(app_release):
    """SIGTERM to `apertura app` alone (not its process group): the Streamlit server it started gets the
    signal too and is waited for, so nothing is left holding the port."""
    import signal

    root, release, _, _ = app_release
    port = free_port()
    env = {**os.environ, "APERTURA_DATA_ROOT": str(root)}
    command = [sys.executable, "-m", "pipeline.cli", "app", str(release), "--port", str(port), "--headless"]
    cli = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_healthy(cli, port)
        cli.send_signal(signal.SIGTERM)  # to the CLI process only
        assert cli.wait(timeout=20) == 128 + signal.SIGTERM
        with pytest.raises(ProcessLookupError):  # no process of its session is left: the server is gone
            os.killpg(cli.pid, 0)
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))  # the port is free again
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(cli.pid, signal.SIGKILL)

"""Shared measurement helpers: figures as JSON lines, isolated runs with their own peak RSS.

Two ways to run a measured piece, both so that its imports and memory are its own:

* `in_process("module:function", *args)`: a fresh spawned Python (this venv) runs the function; its
  `ru_maxrss` and that of its reaped children are returned with the result.
* `subprocess_tree(cmd)`: any command (another venv, the `apertura` CLI); the RSS of the whole
  process tree is sampled from /proc every 0.1 s, so the peak *sum* over workers is known (RUSAGE_CHILDREN
  only gives the largest single descendant).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import multiprocessing as mp
import os
import platform
import resource
import signal
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

MB = 1_000_000


def peak_rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    """Peak RSS in MiB-as-MB (ru_maxrss is KiB on Linux)."""
    return resource.getrusage(who).ru_maxrss / 1024


def figure(
    name: str,
    value: float,
    unit: str,
    peak_rss: float | None,
    command: str,
    baseline: str | None = None,
    baseline_value: float | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """One result line in the harness's schema; `ratio` = value / baseline_value when there is a peer."""
    return {
        "name": name,
        "value": round(value, 3) if abs(value) < 10 else round(value, 1),
        "unit": unit,
        "baseline": baseline,
        "baseline_value": None if baseline_value is None else round(baseline_value, 3),
        "ratio": round(value / baseline_value, 2) if baseline_value else None,
        "peak_rss_mb": None if peak_rss is None else round(peak_rss, 1),
        "command": command,
        **extra,
    }


def emit(row: dict[str, Any]) -> dict[str, Any]:
    """Print a figure as one JSON line on stdout (flushed: a long run shows progress)."""
    print(json.dumps(row), flush=True)
    return row


def machine() -> dict[str, Any]:
    """What the figures were measured on (recorded next to them)."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = 0
    with contextlib.suppress(OSError, ValueError, IndexError):
        mem = int(Path("/proc/meminfo").read_text().split()[1]) // 1024
    return {"cpu": cpu, "cores": os.cpu_count(), "mem_mb": mem, "python": platform.python_version(),
            "os": platform.platform()}


def _child(target: str, args: tuple, queue: Any) -> None:
    try:
        module, name = target.split(":")
        result = getattr(importlib.import_module(module), name)(*args)
        children = peak_rss_mb(resource.RUSAGE_CHILDREN)
        queue.put({**result, "peak_rss_mb": peak_rss_mb(), "peak_rss_mb_children": children})
    except BaseException:
        queue.put({"error": traceback.format_exc()})
        raise


def in_process(target: str, *args: Any) -> dict[str, Any]:
    """Run `module:function(*args)` (returning a dict) in a fresh spawned process; add its peak RSS."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(target, args, queue))
    proc.start()
    result = queue.get()
    proc.join()
    if "error" in result or proc.exitcode:
        raise SystemExit(f"{target} failed (exit {proc.exitcode}):\n{result.get('error', '')}")
    return result


def _tree_rss_kb(pid: int) -> int:
    """Sum of VmRSS over `pid` and all its descendants (children found via /proc/<pid>/task/*/children)."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
                    break
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, ValueError):
            continue
    return total


def subprocess_tree(cmd: list[str], env: dict[str, str] | None = None, cwd: str | None = None,
                    interval: float = 0.1, timeout: float | None = None) -> dict[str, Any]:
    """Run `cmd`; return seconds, returncode, stdout/stderr and peak RSS of its whole tree (sum), sampled."""
    start = time.perf_counter()
    # own session: on timeout the whole tree (including orphaned pool workers) is ended by its group id
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})}, cwd=cwd, start_new_session=True)
    peak = [0]
    series: list[tuple[float, float]] = []
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            rss = _tree_rss_kb(proc.pid)
            peak[0] = max(peak[0], rss)
            series.append((round(time.perf_counter() - start, 2), round(rss / 1024, 1)))
            done.wait(interval)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        err += f"\n[bench] killed after {timeout} s"
    finally:
        done.set()
        sampler.join()
    return {
        "seconds": time.perf_counter() - start,
        "returncode": proc.returncode,
        "stdout": out,
        "stderr": err,
        "peak_rss_mb_tree": peak[0] / 1024,
        "rss_series": series,
    }


def command_line(module: str, argv: list[str] | None) -> str:
    """The command that reproduces a figure, as written in RESULTS.md."""
    return " ".join([".venv/bin/python", "-m", module, *(argv if argv is not None else sys.argv[1:])])

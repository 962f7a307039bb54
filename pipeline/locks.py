"""One writer per output: `run`, `derive`, `index` and `publish` hold an exclusive lock on what they write.

Two runs into the same `--out` used to delete each other's work directory; two index builds each other's
staging. Now the second writer stops at once with one line: "releases/r1 is being written by pid 4242 since
2026-12-05T19:00:00Z". The lock is a file beside the target (`.r1.lock`) locked with `flock` for as long as
the writer runs, holding its pid, host and start time. The kernel releases an `flock` when its process dies,
so the lock of a writer that was killed is taken over by the next one (its file is rewritten).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from pipeline.tables import ReleaseError, writing


class OutputLocked(ReleaseError):
    """Another live process writes the same output (one line, safe to show)."""


def lock_path(target: Path) -> Path:
    """The lock file of an output: `.<name>.lock` beside it."""
    return target.parent / f".{target.name}.lock"


def _holder(fd: int) -> dict:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        return json.loads(os.read(fd, 4096).decode() or "{}")
    except (OSError, ValueError):
        return {}


@contextlib.contextmanager
def output_lock(target: Path | str, *, lock: Path | None = None, label: str | None = None) -> Iterator[Path]:
    """Hold the exclusive lock of `target` (a release directory, an index, a publish destination) while the
    block runs; OutputLocked at once if a live process holds it. `lock`: the lock file (default `lock_path`);
    `label`: how the output is named in the message (default the target's path)."""
    target = Path(target)
    path = lock or lock_path(target)
    label = label or str(target)
    while True:
        with writing(f"the lock of {label}", path.parent):  # a read-only or full disk: one clear ReleaseError
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            who = f"pid {holder.get('pid', '?')}" + (
                f" on {holder['host']}" if holder.get("host") not in (None, socket.gethostname()) else ""
            )
            raise OutputLocked(f"{label} is being written by {who} since {holder.get('since', '?')}") from None
        try:  # the holder before us may have removed the file after we opened it: then lock the new one
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    since = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    info = {"pid": os.getpid(), "host": socket.gethostname(), "since": since, "output": label}
    os.ftruncate(fd, 0)
    os.pwrite(fd, (json.dumps(info) + "\n").encode(), 0)
    try:
        yield path
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)  # while still locked: a writer waiting on this file retries on the new one
        os.close(fd)

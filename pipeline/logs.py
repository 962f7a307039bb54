"""What a run reports, through the standard `logging` module: human lines on a terminal, JSON lines elsewhere.

Under cron, Slurm or CI a run's stderr is a file nobody watches live: there each record is one JSON object per
line (`time`, `level`, `logger`, `message` and the record's own fields), which log shippers and `jq` read. On a
terminal the same records are plain sentences (the progress bars show the progress). `configure` is what the
CLI's global options (`--log-format`, `--log-file`, `-q`, `-v`) call; a library user can attach
`ProgressLog` to `pipeline.run(progress=...)` and configure `logging` as they like.

Records go to the `apertura` logger and its children; nothing here prints by itself.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from pipeline.api import Progress

LOGGER = "apertura"
LogFormat = Literal["json", "text"]
PROGRESS_SECONDS = 10.0  # default interval between two progress lines of one phase


class JsonLines(logging.Formatter):
    """One JSON object per record: time (UTC, ISO 8601), level, logger, message, then the record's `fields`."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(getattr(record, "fields", None) or {})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class Sentences(logging.Formatter):
    """The message as a sentence, as a terminal shows it; warnings and errors say so first."""

    def format(self, record: logging.LogRecord) -> str:
        text = record.getMessage()
        if record.levelno >= logging.WARNING:
            text = f"{record.levelname.lower()}: {text}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


class _Stderr(logging.StreamHandler):
    """A handler on whatever `sys.stderr` is when a record is written: rich's progress display and test
    runners replace it while they run, and a line written to the stream they replaced would tear their output."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


class _NotProgress(logging.Filter):
    """Drops progress records (on a terminal the progress bars already show them)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(record, "progress", False)


_installed: list[logging.Handler] = []


def stderr_is_terminal() -> bool:
    return sys.stderr.isatty()


def configure(
    level: int = logging.INFO,
    fmt: LogFormat | None = None,
    log_file: Path | None = None,
    progress_on_stderr: bool = True,
) -> None:
    """Send the `apertura` loggers' records at `level` and above to stderr, and to `log_file` (appended, JSON
    lines, INFO at least: -q quiets the terminal, not the record) when given. `fmt` is stderr's; None: text on a
    terminal, JSON lines otherwise. Without `progress_on_stderr` (a terminal with progress bars) progress records
    go to the file only. Calling it again replaces what an earlier call installed."""
    logger = logging.getLogger(LOGGER)
    for handler in _installed:
        logger.removeHandler(handler)
        handler.close()
    _installed.clear()
    stderr = _Stderr()
    stderr.setLevel(level)
    stderr.setFormatter(Sentences() if (fmt or ("text" if stderr_is_terminal() else "json")) == "text"
                        else JsonLines())  # fmt: skip
    if not progress_on_stderr:
        stderr.addFilter(_NotProgress())
    _installed.append(stderr)
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        to_file = logging.FileHandler(log_file, encoding="utf-8")
        to_file.setLevel(min(level, logging.INFO))
        to_file.setFormatter(JsonLines())  # a file is read by programs (jq, log shippers), whatever stderr shows
        _installed.append(to_file)
    for handler in _installed:
        logger.addHandler(handler)
    logger.setLevel(min(handler.level for handler in _installed))


def log(level: int, message: str, *, name: str = "run", progress: bool = False, **fields: Any) -> None:
    """A record of `apertura.<name>` carrying `fields` (JSON keys in the JSON format)."""
    logging.getLogger(f"{LOGGER}.{name}").log(level, message, extra={"fields": fields, "progress": progress})


PHASES = {"policies": "site policies", "input": "steps", "records": "steps", "write": "dedup and write",
          "index": "index"}  # fmt: skip


class ProgressLog:
    """A `pipeline.api.Progress` callback that logs the run's progress: when a phase (site policies, steps,
    dedup and write, index) starts and ends, and in between a line every `every` seconds with its counts,
    docs/s and an ETA. Used as a context manager it also writes that line when no event came for `every`
    seconds (a first batch compiling, one slow input), so a log that goes quiet means a process that stopped.
    The steps' ETA assumes the remaining inputs take as long per input as the finished ones did (inputs of very
    different sizes make it rough); the write's is exact in records."""

    def __init__(self, every: float = PROGRESS_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self.every, self.clock = every, clock
        self.phase: str | None = None
        self.ended = False  # the phase's last line is written: the heartbeat waits for the next phase
        self.phase_started = self.last_line = 0.0
        self.inputs = (0, 0)
        self.records = 0  # records read (entered the first step) so far
        self.written = (0, 0)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None

    def __enter__(self) -> ProgressLog:
        self._beat = threading.Thread(target=self._heartbeat, name="apertura-progress-log", daemon=True)
        self._beat.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        if self._beat is not None:
            self._beat.join()

    def _heartbeat(self) -> None:
        while not self._stop.wait(min(max(self.every, 0.2), 1.0)):
            with self._lock:
                now = self.clock()
                if self.phase is not None and not self.ended and now - self.last_line >= self.every:
                    self.last_line = now
                    self._line(now, finished=False)

    def _start(self, phase: str, now: float) -> None:
        self.phase, self.phase_started, self.last_line, self.ended = phase, now, now, False
        log(logging.INFO, f"{phase}: started", event="phase", phase=phase, progress=True)

    def __call__(self, event: Progress) -> None:
        with self._lock:
            self._record(event, self.clock())

    def _record(self, event: Progress, now: float) -> None:
        phase = PHASES.get(event.kind)
        if phase is None:  # resume: one line each, as it happens
            log(logging.INFO if event.total is not None else logging.WARNING,
                f"resumed: {event.detail}" if event.total is not None else f"resume: {event.detail}",
                event="resume", detail=event.detail)  # fmt: skip
            return
        if event.kind == "index":
            log(logging.INFO, f"index written: {event.detail}", event="phase", phase="index", detail=event.detail)
            return
        if phase != self.phase:
            self._start(phase, now)
        if event.kind == "records":
            self.records = max(self.records, event.done)
        elif event.kind == "input":
            self.inputs = (event.done, event.total or 0)
            reused = f" ({event.detail})" if event.detail else ""
            log(logging.DEBUG, f"input {event.done}/{event.total} done{reused}", event="input", done=event.done,
                total=event.total)  # fmt: skip
        elif event.kind == "policies":
            self.inputs = (event.done, event.total or 0)
        elif event.kind == "write":
            self.written = (event.done, event.total or 0)
        finished = event.total is not None and event.done >= event.total and event.kind != "records"
        if finished or now - self.last_line >= self.every:
            self.last_line, self.ended = now, finished
            self._line(now, finished)
        if finished and event.kind == "policies":  # the steps start now (their first batch may take a while)
            self.inputs = (0, event.total or 0)
            self._start("steps", now)

    def _line(self, now: float, finished: bool) -> None:
        elapsed = max(now - self.phase_started, 1e-9)
        rate = eta = None
        if self.phase == "steps":
            (done, total), records = self.inputs, self.records
            rate = records / elapsed
            what = f"{done:,}/{total:,} inputs, {records:,} records ({rate:,.0f} docs/s)"
            if done:
                eta = elapsed * (total - done) / done
        elif self.phase == "dedup and write":
            (done, total), records = self.written, self.written[0]
            rate = done / elapsed
            what = f"{done:,}/{total:,} records written ({rate:,.0f} docs/s)"
            eta = (total - done) / rate if rate else None
        else:
            (done, total), records = self.inputs, None
            what = f"{done:,}/{total:,} files scanned"
        if finished:
            what += f" in {elapsed:.1f} s"
        elif eta is not None:
            what += f", ETA {eta:,.0f} s"
        log(logging.INFO, f"{self.phase}: {what}", event="progress", phase=self.phase, done=done, total=total,
            records=records, docs_per_s=None if rate is None else round(rate, 1),
            eta_s=None if eta is None else round(eta, 1), elapsed_s=round(elapsed, 3), finished=finished,
            progress=True)  # fmt: skip

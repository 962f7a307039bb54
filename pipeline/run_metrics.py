"""How a run went, measured: wall time per phase, records and docs/s per step, peak memory; and where it stopped.

Written beside the manifest as `run-metrics.json`, and deliberately *not* listed in it: timings and memory differ
on every run, while the manifest and every file it lists are the same bytes for the same inputs and config
(tests/test_determinism.py), and the manifest's sha256 binds the index and the signature. So this file is a
measurement of one run, like a log, not part of what `verify` vouches for; it names the manifest's sha256 to say
which release it measured.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RUN_METRICS = "run-metrics.json"
FORMAT = "apertura-run-metrics"
VERSION = 1


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def peak_rss_bytes(who: int = resource.RUSAGE_SELF) -> int:
    """Peak resident memory (Linux reports KiB) of this process, or with RUSAGE_CHILDREN of the largest child
    it has waited for."""
    return resource.getrusage(who).ru_maxrss * 1024


class RunMetrics:
    """Filled in by `pipeline.api` as a run goes; `where()` says how far it got (for a stop message)."""

    def __init__(self, specs: list[str], *, executor: str, workers: int) -> None:
        self.specs, self.executor, self.workers = specs, executor, workers
        self.started_at, self.started = _now(), time.monotonic()
        self.phases: dict[str, dict[str, Any]] = {}
        self.phase: str | None = None
        self.stage_records: dict[str, int] = {}
        self.stage_seconds: dict[str, float] = {}
        self.finished: set[int] = set()  # shard (input) indexes staged, reused ones included
        self.reused = 0
        self.workers_peak_rss: int | None = None

    @contextlib.contextmanager
    def timed(self, phase: str) -> Iterator[dict[str, Any]]:
        """Time `phase`; the caller may set `records` (or, for the policy scan, `files`) on the yielded entry."""
        self.phase = phase
        entry: dict[str, Any] = {"phase": phase, "seconds": None, "records": None}
        self.phases[phase] = entry
        started = time.monotonic()
        yield entry
        entry["seconds"] = round(time.monotonic() - started, 3)

    def batch(self, seen: dict[str, int], seconds: dict[str, float] | None) -> None:
        for stage, n in seen.items():
            self.stage_records[stage] = self.stage_records.get(stage, 0) + n
        for stage, s in (seconds or {}).items():
            self.stage_seconds[stage] = self.stage_seconds.get(stage, 0.0) + s

    def where(self) -> dict[str, Any]:
        """The phase the run was in and, while inputs were being processed, the first input not staged (its
        shard number is the work directory's `shards/NNNNN`): what `--resume` starts again from."""
        pending = [i for i in range(len(self.specs)) if i not in self.finished]
        at = pending[0] if pending and self.phase == "steps" else None
        return {
            "phase": self.phase,
            "inputs_done": len(self.finished),
            "inputs": len(self.specs),
            "shard": at,
            "path": self.specs[at] if at is not None else None,
        }

    def to_json(self, manifest_sha256: str | None) -> dict[str, Any]:
        def rate(records: int | None, seconds: float | None) -> float | None:
            return round(records / seconds, 1) if records is not None and seconds else None

        phases = [{**p, "docs_per_s": rate(p["records"], p["seconds"])} for p in self.phases.values()]
        stages = [
            {"stage": stage, "records": n, "busy_seconds": round(self.stage_seconds.get(stage, 0.0), 3),
             "docs_per_s": rate(n, self.stage_seconds.get(stage))}
            for stage, n in self.stage_records.items()
        ]  # fmt: skip
        return {
            "format": FORMAT,
            "version": VERSION,
            "manifest_sha256": manifest_sha256,
            "started_at": self.started_at,
            "finished_at": _now(),
            "wall_seconds": round(time.monotonic() - self.started, 3),
            "executor": self.executor,
            "workers": self.workers,
            "inputs": len(self.specs),
            "inputs_reused": self.reused,
            "phases": phases,
            # busy_seconds: time inside each step summed over the workers (more than wall time with several)
            "stages": stages,
            "peak_rss_bytes": {"driver": peak_rss_bytes(), "workers": self.workers_peak_rss},
            "note": "measured on this run; not listed in manifest.json and not checked by verify",
        }

    def write(self, release: Path, manifest_sha256: str | None) -> dict[str, Any]:
        """Write `release/run-metrics.json` (temp name, then rename); return what was written."""
        data = self.to_json(manifest_sha256)
        tmp = release / f".{RUN_METRICS}.tmp"
        try:
            tmp.write_text(json.dumps(data, indent=2) + "\n")
            os.replace(tmp, release / RUN_METRICS)
        except OSError:
            tmp.unlink(missing_ok=True)
            raise
        return data

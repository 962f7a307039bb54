"""Local executor: one shard per input file, run in worker processes, each shard resumable.

A shard reads one input, runs every per-record step over its batches and stages three files in
`<workdir>/shards/NNNNN/`: `candidates.parquet` (records that survived every step, with their
dedup keys), `ledger.parquet` (records a step removed) and `report.json` (what reading saw, and
per-stage counts). `report.json` is written last, by rename, so its presence marks the shard done:
a rerun with `resume=True` skips exactly the shards that finished.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import queue
import shutil
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from pipeline.config import RunConfig
from pipeline.ledger import ledger_rows
from pipeline.provenance import add_provenance, sha256_hex
from pipeline.sources.inputs import read_input
from pipeline.steps.admit import AdmitStep
from pipeline.steps.base import Step
from pipeline.steps.dedup import add_dedup_keys
from pipeline.steps.extract import ExtractStep
from pipeline.steps.language import LanguageStep
from pipeline.steps.pii import PiiStep
from pipeline.steps.quality import QualityStep

STEP_CLASSES: tuple[type[Step], ...] = (AdmitStep, ExtractStep, LanguageStep, QualityStep, PiiStep)
STAGES: tuple[str, ...] = tuple(s.stage for s in STEP_CLASSES)


@dataclass(frozen=True)
class Shard:
    index: int
    spec: str
    directory: Path

    @property
    def report_path(self) -> Path:
        return self.directory / "report.json"

    def report(self) -> dict:
        return json.loads(self.report_path.read_text())


def _write_parquet_atomic(frame: pl.DataFrame, path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    frame.write_parquet(tmp, compression="zstd")
    os.replace(tmp, path)


def process_shard(shard: Shard, config: RunConfig, on_batch: Callable[[int], None] | None = None) -> dict:
    """Read one input and run the per-record steps; stage results; return the shard report."""
    steps = [cls(config) for cls in STEP_CLASSES]
    counts = {stage: Counter() for stage in STAGES}
    kept_parts: list[pl.DataFrame] = []
    removed_parts: list[pl.DataFrame] = []
    batches, report = read_input(shard.spec, batch_size=config.batch_size, read_config=config.read)
    for batch in batches:
        counts[STAGES[0]]["in"] += len(batch)
        current = batch
        for step in steps:
            result = step.apply(current)
            counts[step.stage]["removed"] += len(result.removed)
            if len(result.removed):
                removed_parts.append(result.removed)
            current = result.kept
            if current.is_empty():
                break
        if not current.is_empty():
            keyed = add_dedup_keys(current, config.dedup)
            kept_parts.append(keyed.with_columns(sha256_hex(keyed["text"]).alias("text_sha256")))
        if on_batch is not None:
            on_batch(len(batch))

    provenance = dict(
        index=shard.index,
        path=shard.spec,
        sha256=report.sha256,
        fmt=report.format,
        dump=config.dump,
        config_hash=config.hash(),
    )
    candidates = pl.concat(kept_parts, how="diagonal_relaxed") if kept_parts else pl.DataFrame()
    removed = pl.concat(removed_parts, how="diagonal_relaxed") if removed_parts else pl.DataFrame()
    shard.directory.mkdir(parents=True, exist_ok=True)
    if not candidates.is_empty():
        candidates = add_provenance(candidates, **provenance)
    if not removed.is_empty():
        removed = ledger_rows(add_provenance(removed, **provenance), keep_text=config.ledger_keep_text)
    _write_parquet_atomic(candidates, shard.directory / "candidates.parquet")
    _write_parquet_atomic(removed, shard.directory / "ledger.parquet")

    summary = {
        "spec": shard.spec,
        "config_hash": config.hash(),
        "path": report.path,
        "format": report.format,
        "sha256": report.sha256,
        "bytes": report.bytes,
        "records_by_type": dict(sorted(report.records_by_type.items())),
        "eligible": report.eligible,
        "read_stopped": report.read_stopped,
        "removed_by_stage": {stage: dict(counts[stage]) for stage in STAGES},
        "removed_reasons": (
            removed.group_by("stage", "reason").len().sort("stage", "reason").rows() if not removed.is_empty() else []
        ),
        "candidates": len(candidates),
    }
    tmp = shard.report_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(summary, indent=1))
    os.replace(tmp, shard.report_path)
    return summary


def _is_done(shard: Shard, config: RunConfig) -> bool:
    if not shard.report_path.exists():
        return False
    report = shard.report()
    return report.get("spec") == shard.spec and report.get("config_hash") == config.hash()


def run_shards(
    specs: list[str],
    config: RunConfig,
    workdir: Path,
    *,
    workers: int = 1,
    resume: bool = False,
    on_records: Callable[[int], None] | None = None,
    on_shard: Callable[[Shard, dict, bool], None] | None = None,
) -> list[Shard]:
    """Process every input as a shard (in parallel when workers > 1); return shards in input order.

    `on_shard(shard, report, reused)` is called as each shard finishes (`reused` for resumed ones).
    """
    shards = [Shard(i, spec, workdir / "shards" / f"{i:05d}") for i, spec in enumerate(specs)]
    todo = []
    for shard in shards:
        if resume and _is_done(shard, config):
            if on_shard:
                on_shard(shard, shard.report(), True)
            continue
        shutil.rmtree(shard.directory, ignore_errors=True)
        todo.append(shard)
    if workers <= 1 or len(todo) <= 1:
        for shard in todo:
            summary = process_shard(shard, config, on_records)
            if on_shard:
                on_shard(shard, summary, False)
        return shards

    # spawn, not fork: Polars' and DuckDB's thread pools do not survive a fork (the child deadlocks)
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager:
        events = manager.Queue()
        stop = threading.Event()

        def drain() -> None:
            while not stop.is_set() or not events.empty():
                try:
                    n = events.get(timeout=0.1)
                except queue.Empty:
                    continue
                if on_records:
                    on_records(n)

        drainer = threading.Thread(target=drain, daemon=True)
        drainer.start()
        try:
            with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
                futures = {pool.submit(process_shard, s, config, events.put): s for s in todo}
                for future in as_completed(futures):
                    summary = future.result()  # a failed shard fails the run loudly (datatrove#339)
                    if on_shard:
                        on_shard(futures[future], summary, False)
        finally:
            stop.set()
            drainer.join()
    return shards

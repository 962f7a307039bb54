"""Local executor: one shard per input file, run in worker processes, each shard resumable.

A shard reads one input, runs every per-record step over its batches and stages three files in
`<workdir>/shards/NNNNN/`: `candidates.parquet` (records that survived every step, with their
dedup keys), `ledger.parquet` (records a step removed) and `report.json` (what reading saw, and
per-stage counts). `report.json` is written last, by rename, so its presence marks the shard done:
a rerun with `resume=True` skips exactly the shards that finished.
"""

from __future__ import annotations

import functools
import json
import multiprocessing
import os
import queue
import shutil
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from pipeline.config import RunConfig
from pipeline.ledger import STAGED_LEDGER_SCHEMA, staged_ledger
from pipeline.optout.policies import PolicyIndex
from pipeline.provenance import PROVENANCE_COLUMNS, add_provenance, sha256_hex
from pipeline.sources.inputs import read_input
from pipeline.steps.admit import AdmitStep
from pipeline.steps.base import Step
from pipeline.steps.dedup import add_dedup_keys
from pipeline.steps.extract import ExtractStep
from pipeline.steps.language import LanguageStep
from pipeline.steps.optout import STAGED_EVIDENCE_SCHEMA, OptoutStep
from pipeline.steps.pii import PiiStep
from pipeline.steps.quality import QualityStep
from pipeline.tables import file_sha256, fit, polars_schema, writing

STEP_CLASSES: tuple[type[Step], ...] = (AdmitStep, OptoutStep, ExtractStep, LanguageStep, QualityStep, PiiStep)
STAGES: tuple[str, ...] = tuple(s.stage for s in STEP_CLASSES)
# Survivors of the per-record steps: the documents columns known before global dedup, plus the signature.
CANDIDATE_SCHEMA = polars_schema(
    "documents", exclude=(*PROVENANCE_COLUMNS, "dedup_cluster_id", "dedup_cluster_size")
) | {"minhash": pl.List(pl.UInt32), "record_type": pl.String}


def staged_candidates(kept: pl.DataFrame, config: RunConfig) -> pl.DataFrame:
    keyed = add_dedup_keys(kept, config.dedup)
    return fit(keyed.with_columns(sha256_hex(keyed["text"]).alias("text_sha256")), CANDIDATE_SCHEMA)


@functools.lru_cache(maxsize=2)
def _policy_index(policies: Path | None, sha256: str | None) -> PolicyIndex:
    """Parsed once per process, not once per shard (the sha256 keys it to the file's content)."""
    return PolicyIndex.load(policies)


def make_steps(config: RunConfig, policies: Path | None, policies_sha256: str | None = None) -> list[Step]:
    index = _policy_index(policies, policies_sha256)
    return [OptoutStep(config, index) if cls is OptoutStep else cls(config) for cls in STEP_CLASSES]


@dataclass(frozen=True)
class Shard:
    index: int
    spec: str
    directory: Path
    policies: Path | None = None  # the run's collected site policy files (see pipeline.optout.policies)
    policies_sha256: str | None = None

    @property
    def report_path(self) -> Path:
        return self.directory / "report.json"

    def report(self) -> dict:
        return json.loads(self.report_path.read_text())


STAGED_ROW_GROUP = 2_048  # rows; bounds memory when staged shards are written and read back


def _finish_table(parts: list[Path], staged_schema: dict, provenance: dict, out: Path) -> int:
    """Concatenate a shard's batch parts (streaming), add provenance, write `out` atomically; return rows."""
    tmp = out.with_suffix(".tmp")
    if parts:
        staged = pl.scan_parquet(parts).pipe(add_provenance, **provenance)
        # small row groups: otherwise the sink buffers the whole shard in one group (and so does the reader)
        staged.sink_parquet(tmp, compression="zstd", row_group_size=STAGED_ROW_GROUP)
    else:
        add_provenance(pl.DataFrame(schema=staged_schema), **provenance).write_parquet(tmp)
    os.replace(tmp, out)
    return pl.scan_parquet(out).select(pl.len()).collect().item()


def process_shard(shard: Shard, config: RunConfig, on_batch: Callable[[dict[str, int]], None] | None = None) -> dict:
    """Read one input and run the per-record steps; stage results; return the shard report.

    Each batch's survivors and removals are written to part files at once, so memory is bounded by
    the batch size, not by the input's size; provenance that needs the whole file (its sha256, hence
    the ids) is added when the input has been read to the end.
    """
    steps = make_steps(config, shard.policies, shard.policies_sha256)
    parts_dir = shard.directory / "parts"
    staging = functools.partial(writing, "the staged files of input " + repr(shard.spec), shard.directory)
    with staging():  # a full disk or a file size limit: one clear ReleaseError, not a traceback
        parts_dir.mkdir(parents=True, exist_ok=True)
    kept_parts: list[Path] = []
    removed_parts: list[Path] = []
    evidence_parts: list[Path] = []
    batches, report = read_input(shard.spec, batch_size=config.batch_size, read_config=config.read)
    for n, batch in enumerate(batches):
        current, removed, seen = batch, [], {}
        for step in steps:
            seen[step.stage] = len(current)
            result = step.apply(current)
            removed.append(result.removed)
            current = result.kept
            if result.evidence is not None and not result.evidence.is_empty():
                evidence_parts.append(parts_dir / f"evidence-{n:06d}.parquet")
                with staging():
                    result.evidence.write_parquet(evidence_parts[-1])
            if current.is_empty():
                break
        if not current.is_empty():
            kept_parts.append(parts_dir / f"kept-{n:06d}.parquet")
            candidates = staged_candidates(current, config)
            with staging():
                candidates.write_parquet(kept_parts[-1])
        ledger = staged_ledger(pl.concat(removed, how="diagonal_relaxed"), keep_text=config.ledger_keep_text)
        if not ledger.is_empty():
            removed_parts.append(parts_dir / f"removed-{n:06d}.parquet")
            ledger = ledger.sort("warc_record_offset")
            with staging():
                ledger.write_parquet(removed_parts[-1])
        if on_batch is not None:
            on_batch(seen)  # records that entered each stage in this batch, for per-stage progress

    provenance = dict(
        index=shard.index,
        path=shard.spec,
        sha256=report.sha256,
        fmt=report.format,
        dump=config.dump,
        config_hash=config.hash(),
    )
    with staging():
        candidates = _finish_table(kept_parts, CANDIDATE_SCHEMA, provenance, shard.directory / "candidates.parquet")
        removed = _finish_table(removed_parts, STAGED_LEDGER_SCHEMA, provenance, shard.directory / "ledger.parquet")
        evidence = _finish_table(
            evidence_parts, STAGED_EVIDENCE_SCHEMA, provenance, shard.directory / "evidence.parquet"
        )
        shutil.rmtree(parts_dir)
    summary = {
        "spec": shard.spec,
        "config_hash": config.hash(),
        "policies_sha256": shard.policies_sha256,
        "path": report.path,
        "format": report.format,
        "sha256": report.sha256,
        "bytes": report.bytes,
        "records_by_type": dict(sorted(report.records_by_type.items())),
        "eligible": report.eligible,
        "read_stopped": report.read_stopped,
        "candidates": candidates,
        "removed": removed,
        "evidence": evidence,
    }
    tmp = shard.report_path.with_suffix(".tmp")
    with staging():
        tmp.write_text(json.dumps(summary, indent=1))
        os.replace(tmp, shard.report_path)
    return summary


def _is_done(shard: Shard, config: RunConfig) -> bool:
    if not shard.report_path.exists():
        return False
    report = shard.report()
    return (
        report.get("spec") == shard.spec
        and report.get("config_hash") == config.hash()
        and report.get("policies_sha256") == shard.policies_sha256
    )


def plan_shards(
    specs: list[str],
    config: RunConfig,
    workdir: Path,
    *,
    resume: bool = False,
    policies: Path | None = None,
    on_shard: Callable[[Shard, dict, bool], None] | None = None,
) -> tuple[list[Shard], list[Shard]]:
    """(every shard in input order, the shards still to process): with `resume`, finished shards whose
    report matches the config and policies are reported through `on_shard` and skipped. Every executor
    plans the same way, so a run resumed on another executor reuses the same shards."""
    policies_sha256 = file_sha256(policies) if policies is not None else None
    shards = [
        Shard(i, spec, Path(workdir) / "shards" / f"{i:05d}", policies, policies_sha256) for i, spec in enumerate(specs)
    ]
    todo = []
    for shard in shards:
        if resume and _is_done(shard, config):
            if on_shard:
                on_shard(shard, shard.report(), True)
            continue
        shutil.rmtree(shard.directory, ignore_errors=True)
        todo.append(shard)
    return shards, todo


def run_shards(
    specs: list[str],
    config: RunConfig,
    workdir: Path,
    *,
    workers: int = 1,
    resume: bool = False,
    policies: Path | None = None,
    on_records: Callable[[dict[str, int]], None] | None = None,
    on_shard: Callable[[Shard, dict, bool], None] | None = None,
) -> list[Shard]:
    """Process every input as a shard (in parallel when workers > 1); return shards in input order.

    `on_shard(shard, report, reused)` is called as each shard finishes (`reused` for resumed ones).
    """
    shards, todo = plan_shards(specs, config, workdir, resume=resume, policies=policies, on_shard=on_shard)
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

"""Local executor: one shard per input file, its batches run in worker processes, each shard resumable.

A shard reads one input, runs every per-record step over its batches and stages three files in
`<workdir>/shards/NNNNN/`: `candidates.parquet` (records that survived every step, with their
dedup keys), `ledger.parquet` (records a step removed) and `report.json` (what reading saw, the stages run and
per-stage counts). `report.json` is written last, by rename, so its presence marks the shard done:
a rerun with `resume=True` skips exactly the shards that finished, and only while their input is the one
that was read: its size, mtime and sha256 (recorded in report.json) must still match, else it is read
again (an input at a URL is always read again: its bytes cannot be checked without reading them).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import itertools
import json
import multiprocessing
import os
import shutil
import stat
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from pipeline import steps as step_list
from pipeline.config import RunConfig
from pipeline.fingerprints import add_dedup_keys
from pipeline.ledger import STAGED_LEDGER_SCHEMA, staged_ledger
from pipeline.optout.policies import PolicyIndex
from pipeline.provenance import PROVENANCE_COLUMNS, add_provenance, sha256_hex
from pipeline.source_paths import record_path
from pipeline.sources.base import ReadReport
from pipeline.sources.inputs import read_input
from pipeline.sources.policy_scan import load_policies
from pipeline.sources.warc_plan import BatchPlan, read_planned_pieces
from pipeline.staging import Shard
from pipeline.steps.base import Step
from pipeline.steps.optout import STAGED_EVIDENCE_SCHEMA
from pipeline.steps.quality import ngram_chars
from pipeline.tables import file_sha256, fit, polars_schema, writing
from pipeline.tokens import token_counts

# (records that entered each stage, seconds spent in each step) of one batch: progress and run metrics
OnRecords = Callable[[dict[str, int], dict[str, float]], None]
STAGES: tuple[str, ...] = step_list.stage_names(RunConfig())  # the default run's; a run's own: stage_names(config)
# Survivors of the per-record steps: the documents columns known before global dedup, plus the signature.
CANDIDATE_SCHEMA = polars_schema(
    "documents", exclude=(*PROVENANCE_COLUMNS, "dedup_cluster_id", "dedup_cluster_size")
) | {"minhash": pl.List(pl.UInt32), "record_type": pl.String}


def staged_candidates(kept: pl.DataFrame, config: RunConfig) -> pl.DataFrame:
    keyed = add_dedup_keys(kept, config.dedup)
    keyed = keyed.with_columns(sha256_hex(keyed["text"]).alias("text_sha256"))
    if config.tokenizer:  # the text as it is kept (after PII replacement) is what a model would read
        keyed = keyed.with_columns(token_counts(keyed["text"], config.tokenizer))
    return fit(keyed, CANDIDATE_SCHEMA)


@functools.lru_cache(maxsize=2)
def _policy_index(policies: Path | None, sha256: str | None) -> PolicyIndex:
    """Parsed once per process, not once per shard (the sha256 keys it to the file's content)."""
    return load_policies(policies)


def make_steps(config: RunConfig, policies: Path | None, policies_sha256: str | None = None) -> list[Step]:
    return step_list.build(config, _policy_index(policies, policies_sha256))


STAGED_ROW_GROUP = 2_048  # rows; bounds memory when staged shards are written and read back
# Staged files live until the release is written: lz4 reads back ~3x faster than zstd (the release's own
# files stay zstd), for ~1.5x the disk while the run lasts.
STAGED_COMPRESSION = "lz4"


def _finish_table(parts: list[Path], staged_schema: dict, provenance: dict, out: Path) -> int:
    """Concatenate a shard's batch parts (streaming), add provenance, write `out` atomically; return rows."""
    tmp = out.with_suffix(".tmp")
    if parts:
        staged = pl.scan_parquet(parts).pipe(add_provenance, **provenance)
        # small row groups: otherwise the sink buffers the whole shard in one group (and so does the reader)
        staged.sink_parquet(tmp, compression=STAGED_COMPRESSION, row_group_size=STAGED_ROW_GROUP)
    else:
        empty = add_provenance(pl.DataFrame(schema=staged_schema), **provenance)
        empty.write_parquet(tmp, compression=STAGED_COMPRESSION)
    os.replace(tmp, out)
    return pl.scan_parquet(out).select(pl.len()).collect().item()


@dataclass(frozen=True)
class BatchOutput:
    """What the per-record steps made of one batch, ready to stage (shared by every executor)."""

    candidates: pl.DataFrame | None  # survivors with their dedup keys (CANDIDATE_SCHEMA); None if none
    ledger: pl.DataFrame | None  # removals as staged ledger rows, by record offset; None if none
    evidence: pl.DataFrame | None  # opt-out evidence rows; None if none
    seen: dict[str, int]  # records that entered each stage
    seconds: dict[str, float] = dataclasses.field(default_factory=dict)  # time in each step (run metrics only)

    def stage(self, parts_dir: Path, tag: str) -> tuple[Path | None, Path | None, Path | None]:
        """Write the non-empty outputs as `{kept,removed,evidence}-<tag>.parquet`; return the paths (None: nothing)."""
        paths: list[Path | None] = []
        for kind, frame in (("kept", self.candidates), ("removed", self.ledger), ("evidence", self.evidence)):
            if frame is None:
                paths.append(None)
                continue
            path = parts_dir / f"{kind}-{tag}.parquet"
            frame.write_parquet(path, compression=STAGED_COMPRESSION)
            paths.append(path)
        return paths[0], paths[1], paths[2]


def run_steps(steps: list[Step], batch: pl.DataFrame, config: RunConfig) -> BatchOutput:
    """Every per-record step over one batch (a step sees only what the previous kept); no I/O.

    The one place that decides what a batch stages, so executors that batch differently stage the same rows.
    """
    current, removed, evidence, seen, seconds = batch, [], [], {}, {}
    for step in steps:
        seen[step.stage] = len(current)
        started = time.perf_counter()
        result = step.apply(current)
        seconds[step.stage] = time.perf_counter() - started
        removed.append(result.removed)
        current = result.kept
        if result.evidence is not None and not result.evidence.is_empty():
            evidence.append(result.evidence)
        if current.is_empty():
            break
    candidates = None if current.is_empty() else staged_candidates(current, config)
    ledger = staged_ledger(pl.concat(removed, how="diagonal_relaxed"), keep_text=config.ledger_keep_text)
    return BatchOutput(
        candidates=candidates,
        ledger=None if ledger.is_empty() else ledger.sort("warc_record_offset"),
        evidence=pl.concat(evidence) if evidence else None,
        seen=seen,
        seconds=seconds,
    )


def finish_shard(
    shard: Shard,
    config: RunConfig,
    report: ReadReport,
    kept_parts: list[Path],
    removed_parts: list[Path],
    evidence_parts: list[Path],
) -> dict:
    """Concatenate a shard's staged parts (in the order given) with provenance, then write `report.json` last.

    The report's presence marks the shard done for `resume`, whichever executor staged the parts.
    """
    staging = functools.partial(writing, "the staged files of input " + repr(shard.spec), shard.directory)
    recorded = recorded_path(shard.spec, config)
    provenance = dict(
        index=shard.index,
        path=recorded,
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
        shutil.rmtree(shard.directory / "parts", ignore_errors=True)
    summary = {
        "spec": shard.spec,
        "config_hash": config.hash(),
        "stages": list(step_list.stage_names(config)),  # the release's funnel (pipeline.staging)
        "policies_sha256": shard.policies_sha256,
        "path": recorded,  # as the release records it (relative to the source root, when there is one)
        "format": report.format,
        "sha256": report.sha256,
        "bytes": report.bytes,
        "input_stat": input_stat(shard.spec),  # with sha256: what resume checks before reusing this shard
        "records_by_type": dict(sorted(report.records_by_type.items())),
        "bytes_by_type": None if report.bytes_by_type is None else dict(sorted(report.bytes_by_type.items())),
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


def process_shard(shard: Shard, config: RunConfig, on_batch: OnRecords | None = None) -> dict:
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
    parts: tuple[list[Path], list[Path], list[Path]] = ([], [], [])
    batches, report = read_input(shard.spec, batch_size=config.batch_size, read_config=config.read)
    for n, batch in enumerate(batches):
        output = run_steps(steps, batch, config)
        with staging():
            staged = output.stage(parts_dir, f"{n:06d}")
        for found, path in zip(parts, staged, strict=True):
            if path is not None:
                found.append(path)
        if on_batch is not None:
            on_batch(output.seen, output.seconds)  # records that entered each stage in this batch, and time
    return finish_shard(shard, config, report, *parts)


def input_stat(spec: str) -> dict | None:
    """Size and modification time of a local input file (None for a URL or anything but a regular file)."""
    try:
        found = os.stat(spec)
    except OSError:
        return None
    if not stat.S_ISREG(found.st_mode):
        return None
    return {"size": found.st_size, "mtime_ns": found.st_mtime_ns}


def recorded_path(spec: str, config: RunConfig) -> str:
    """The path the release records for input `spec` (relative to the config's source root, when it has one)."""
    return record_path(spec, config.source_root)


def stale_reason(shard: Shard, report: dict) -> str | None:
    """Why a finished shard cannot be reused for its input as it is now (None: it can)."""
    recorded, now = report.get("input_stat"), input_stat(shard.spec)
    if now is None:
        return "its bytes cannot be checked without reading them again" if "://" in shard.spec else "it is gone"
    if recorded is None:
        return "the interrupted run recorded no size or mtime for it"
    if now["size"] != recorded["size"]:
        return f"it changed since it was read ({recorded['size']:,} bytes then, {now['size']:,} now)"
    if now["mtime_ns"] != recorded["mtime_ns"]:
        return "it changed since it was read (its modification time differs)"
    try:
        if file_sha256(Path(shard.spec)) != report.get("sha256"):
            return "its sha256 differs from the one recorded when it was read"
    except OSError as err:
        return f"it cannot be read to check it ({err.strerror or err})"
    return None


def _is_done(shard: Shard, config: RunConfig) -> bool:
    if not shard.report_path.exists():
        return False
    report = shard.report()
    return (
        report.get("spec") == shard.spec
        and report.get("path") == recorded_path(shard.spec, config)  # the source root is not in the config hash
        and report.get("config_hash") == config.hash()
        and report.get("policies_sha256") == shard.policies_sha256
        and report.get("stages") == list(step_list.stage_names(config))  # the release's funnel (older reports lack it)
    )


def plan_shards(
    specs: list[str],
    config: RunConfig,
    workdir: Path,
    *,
    resume: bool = False,
    policies: Path | None = None,
    on_shard: Callable[[Shard, dict, bool], None] | None = None,
    on_stale: Callable[[Shard, str], None] | None = None,
) -> tuple[list[Shard], list[Shard]]:
    """(every shard in input order, the shards still to process): with `resume`, finished shards whose
    report matches the config and policies, and whose input still has the size, mtime and sha256 recorded
    when it was read, are reported through `on_shard` and skipped; a finished shard whose input changed is
    reported through `on_stale` (with why) and read again. Every executor plans the same way, so a run
    resumed on another executor reuses the same shards."""
    policies_sha256 = file_sha256(policies) if policies is not None else None
    shards = [
        Shard(i, spec, Path(workdir) / "shards" / f"{i:05d}", policies, policies_sha256) for i, spec in enumerate(specs)
    ]
    todo = []
    for shard in shards:
        if resume and _is_done(shard, config):
            why = stale_reason(shard, shard.report())
            if why is None:
                if on_shard:
                    on_shard(shard, shard.report(), True)
                continue
            if on_stale:
                on_stale(shard, why)
        shutil.rmtree(shard.directory, ignore_errors=True)
        todo.append(shard)
    return shards, todo


_STEPS: dict[tuple[str, Path | None, str | None], list[Step]] = {}  # per worker process: models load once


def _steps_for(shard: Shard, config: RunConfig) -> list[Step]:
    key = (config.hash(), shard.policies, shard.policies_sha256)
    if key not in _STEPS:
        _STEPS.clear()
        _STEPS[key] = make_steps(config, shard.policies, shard.policies_sha256)
    return _STEPS[key]


def _stage_batch(
    shard: Shard, config: RunConfig, n: int, batch: pl.DataFrame | BatchPlan
) -> tuple[int, tuple[list[Path], list[Path], list[Path]], dict[str, int], dict[str, float]]:
    """Body of one pool task: batch `n` of `shard` (given, or read here from its planned byte range, piece by
    piece: see `read_planned_pieces`) through every step, staged as its part files."""
    pieces = read_planned_pieces(batch, n, config.read) if isinstance(batch, BatchPlan) else [batch]
    staged: tuple[list[Path], list[Path], list[Path]] = ([], [], [])
    seen: dict[str, int] = {}
    seconds: dict[str, float] = {}
    for k, piece in enumerate(pieces):
        output = run_steps(_steps_for(shard, config), piece, config)
        with writing("the staged files of input " + repr(shard.spec), shard.directory):
            paths = output.stage(shard.directory / "parts", f"{n:06d}" if k == 0 else f"{n:06d}-{k:04d}")
        for found, path in zip(staged, paths, strict=True):
            if path is not None:
                found.append(path)
        for stage, count in output.seen.items():
            seen[stage] = seen.get(stage, 0) + count
        for stage, spent in output.seconds.items():
            seconds[stage] = seconds.get(stage, 0.0) + spent
    return n, staged, seen, seconds


def warm_up(config: RunConfig) -> None:
    """Imports, the extractor and the compiled kernels (dedup keys, n-gram repetition) loaded, compiled the first
    time: the pool's initializer (they load while the driver is still busy with the policy scan), and
    `apertura warmup` (compiles them into the user's cache at install time)."""
    make_steps(config, None)
    add_dedup_keys(pl.DataFrame({"text": ["warm up", "é"]}), config.dedup)
    ngram_chars(pl.Series([["warm", "up"]]), [2], [5])


@contextlib.contextmanager
def worker_pool(workers: int, config: RunConfig) -> Iterator[ProcessPoolExecutor | None]:
    """The run's worker processes (None for one worker: everything runs in this process), all started at
    once, so their start-up overlaps the policy scan that comes before any batch."""
    if workers <= 1:
        yield None
        return
    # spawn, not fork: Polars' and DuckDB's thread pools do not survive a fork (the child deadlocks)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=warm_up, initargs=(config,)) as pool:
        for _ in range(workers):  # the pool starts a process per task while none is idle: start them all now
            pool.submit(os.getpid)
        yield pool


def _run_batches(
    todo: list[Shard],
    config: RunConfig,
    workers: int,
    pool: ProcessPoolExecutor,
    plans: dict[str, BatchPlan],
    on_records: OnRecords | None,
    on_shard: Callable[[Shard, dict, bool], None] | None,
) -> None:
    """Every input's batches across the pool's processes; a shard is finished once all its batches are staged.

    Batches, not files, are the unit of parallelism, so one large WARC uses every core. A planned input's
    batches are read by the workers from their byte ranges; any other input is read here and its batches
    shipped. At most two batches per worker are in flight; parts are named by batch number, so the staged
    shards are byte-identical to a one-process run.
    """
    staged: dict[int, dict[int, tuple]] = {}  # shard index -> batch number -> staged part paths
    batches_of: dict[int, int] = {}  # shard index -> number of batches, once read to the end
    reports: dict[int, ReadReport] = {}
    tasks: dict[Future, tuple[str, Shard]] = {}

    def finish_if_staged(shard: Shard) -> None:
        done = staged[shard.index]
        if batches_of.get(shard.index) == len(done):
            ordered = [done[n] for n in range(len(done))]
            kept, removed, evidence = ([path for p in ordered for path in p[i]] for i in range(3))
            report = reports.pop(shard.index)
            tasks[pool.submit(finish_shard, shard, config, report, kept, removed, evidence)] = ("finish", shard)
            del batches_of[shard.index]

    def collect(limit: int) -> None:
        while len(tasks) > limit:
            done, _ = wait(tasks, return_when=FIRST_COMPLETED)
            for future in done:
                kind, shard = tasks.pop(future)
                result = future.result()  # a failed batch fails the run loudly (datatrove#339)
                if kind == "finish":
                    if on_shard:
                        on_shard(shard, result, False)
                    continue
                n, paths, seen, seconds = result
                staged[shard.index][n] = paths
                if on_records:
                    on_records(seen, seconds)  # records that entered each stage in this batch, and time
                finish_if_staged(shard)

    try:
        for shard in todo:
            with writing("the staged files of input " + repr(shard.spec), shard.directory):
                (shard.directory / "parts").mkdir(parents=True, exist_ok=True)
            staged[shard.index] = {}
            if (plan := plans.get(shard.spec)) is not None:
                batches, report = itertools.repeat(plan, len(plan)), plan.report
            else:
                batches, report = read_input(shard.spec, batch_size=config.batch_size, read_config=config.read)
            count = 0
            for n, batch in enumerate(batches):
                collect(2 * workers - 1)
                tasks[pool.submit(_stage_batch, shard, config, n, batch)] = ("batch", shard)
                count = n + 1
            batches_of[shard.index], reports[shard.index] = count, report
            finish_if_staged(shard)
        collect(0)
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        raise


def run_shards(
    specs: list[str],
    config: RunConfig,
    workdir: Path,
    *,
    workers: int = 1,
    resume: bool = False,
    policies: Path | None = None,
    on_records: OnRecords | None = None,
    on_shard: Callable[[Shard, dict, bool], None] | None = None,
    pool: ProcessPoolExecutor | None = None,
    plans: dict[str, BatchPlan] | None = None,
    on_stale: Callable[[Shard, str], None] | None = None,
) -> list[Shard]:
    """Process every input as a shard (its batches in parallel processes when workers > 1); return shards
    in input order.

    `on_shard(shard, report, reused)` is called as each shard finishes (`reused` for resumed ones).
    `pool`: the run's `worker_pool` when it already has one; `plans`: batch plans by spec, from the policy
    scan, so the workers read those inputs themselves.
    """
    shards, todo = plan_shards(
        specs, config, workdir, resume=resume, policies=policies, on_shard=on_shard, on_stale=on_stale
    )
    if workers <= 1:
        for shard in todo:
            summary = process_shard(shard, config, on_records)
            if on_shard:
                on_shard(shard, summary, False)
        return shards
    with contextlib.nullcontext(pool) if pool else worker_pool(workers, config) as running:
        _run_batches(todo, config, workers, running, plans or {}, on_records, on_shard)
    return shards

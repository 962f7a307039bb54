"""Apertura as a library: `run` builds a release, `Release.open` reads one. The CLI is a face over these.

    from pipeline import Release, run, steps
    rel = run(["crawl/*.warc.gz"], out="releases/r1", config="run.json", progress=print)
    rel = Release.open("releases/r1"); rel.documents()  # a Polars LazyFrame; .ledger(), .manifest, .verify()
    run(..., steps=[*steps.DEFAULT, MyFilter])  # a user step: see pipeline/steps/__init__.py

`run` reports progress as `Progress` events (printable as one line each) to a callback (`pipeline.logs.ProgressLog`
turns them into log records with docs/s and an ETA); it prints nothing and raises `RunError` (one line, `str(err)`)
for anything a caller should show: bad inputs or config, a malformed registry, an output that exists or is being
written, a failed write; Ctrl-C (or a KeyboardInterrupt a SIGTERM handler raises) becomes `RunInterrupted`, saying
where the run stopped. Each run measures itself into `R/run-metrics.json` (pipeline/run_metrics.py).
"""

from __future__ import annotations

import functools
import os
import resource
import shutil
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pipeline.config import RunConfig
    from pipeline.release_read.release import Release
    from pipeline.run_metrics import RunMetrics


class RunError(RuntimeError):
    """A run that cannot start or finish; the message is one line saying why."""


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM stopped a run. `where` (see `RunMetrics.where`) says in which phase and, while inputs
    were being processed, the first input not yet staged; the work directory is kept, so `resume=True`
    continues from the inputs already staged. `str()` is one line saying so."""

    def __init__(self, signal_name: str, where: dict, out: Path) -> None:
        super().__init__(signal_name)
        self.signal_name, self.where, self.out = signal_name, where, out

    def __str__(self) -> str:
        where, phase = self.where, self.where["phase"] or "start-up"
        done = f"{where['inputs_done']} of {where['inputs']} inputs staged"
        if phase == "index":
            return (f"run stopped by {self.signal_name} while building the index: the release {self.out} is written "
                    f"and whole; build its index with `apertura index {self.out}`")  # fmt: skip
        at = f" at shard {where['shard']} ({where['path']})" if where["shard"] is not None else ""
        return f"run stopped by {self.signal_name} during {phase}{at}; {done}; continue with --resume"


@dataclass(frozen=True)
class Progress:
    """One step forward: `kind` is 'policies' (inputs scanned for site policy files), 'input' (an input done),
    'records' (records that entered `stage`), 'resume' (an input reused or read again, `detail` says which),
    'write' (records written into the release), 'index' (the membership index built, or `detail`: why not).
    `done` counts so far, `total` when known."""

    kind: str
    done: int = 0
    total: int | None = None
    stage: str | None = None
    rate: float | None = None  # per second since the run started
    detail: str = ""

    def __str__(self) -> str:
        what = f"{self.kind} {self.stage}" if self.stage else self.kind
        count = f"{self.done:,}" + (f"/{self.total:,}" if self.total is not None else "")
        rate = f" ({self.rate:,.0f}/s)" if self.rate else ""
        return f"{what}: {count}{rate}" + (f": {self.detail}" if self.detail else "")


OnProgress = Callable[[Progress], None]


def resolve_config(
    config: RunConfig | str | os.PathLike | dict | None = None,
    steps: Sequence[Any] | None = None,
    overrides: dict | None = None,
) -> RunConfig:
    """A run's config from a `RunConfig`, a JSON file or a dict (omitted fields keep their defaults), with
    `steps` and section `overrides` (e.g. `{"extract": {"extractor": "resiliparse"}}`) applied; user steps are
    imported now, so a bad one fails before any work. RunError names the field that is wrong."""
    from pydantic import ValidationError

    from pipeline import steps as step_list
    from pipeline.config import RunConfig

    where = f"config {config}" if isinstance(config, str | os.PathLike) else "config"
    try:
        if config is None or isinstance(config, RunConfig):
            settings = (config or RunConfig()).model_dump()
        elif isinstance(config, dict):
            settings = RunConfig.model_validate(config).model_dump()
        else:
            settings = RunConfig.load(Path(config)).model_dump()
        for section, values in (overrides or {}).items():
            settings[section] = {**settings[section], **values}
        if steps is not None:
            settings["steps"] = tuple(step_list.spec_of(s) for s in steps)
        resolved = RunConfig.model_validate(settings)
        step_list.validate(resolved.steps)
    except ValidationError as err:
        first = err.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "JSON"
        raise RunError(f"{where}: {field}: {first['msg']} ({err.error_count()} problem(s))") from None
    except (OSError, ValueError, step_list.StepError) as err:  # ValueError: a file that does not parse
        raise RunError(f"{where}: {str(err).splitlines()[0]}") from None
    return resolved


def run(
    inputs: str | os.PathLike | Iterable[str | os.PathLike],
    out: str | os.PathLike,
    *,
    config: RunConfig | str | os.PathLike | dict | None = None,
    steps: Sequence[Any] | None = None,
    workers: int = 1,
    resume: bool = False,
    registry: str | os.PathLike | None = None,
    snapshots: Iterable[str | os.PathLike] = (),
    index: bool = True,
    executor: str = "local",
    ray_address: str | None = None,
    progress: OnProgress | None = None,
    source_root: str | os.PathLike | None = None,
) -> Release:
    """Run the pipeline over `inputs` (WARC/WET/ARC files, Parquet/JSONL, globs, directories, http(s) URLs) into
    the new release directory `out`, and return it opened. `config`: a `RunConfig`, a JSON file, or a dict
    (omitted fields keep their defaults); `steps`: the step list (default `pipeline.steps.DEFAULT`), entries
    being built-in names, `module:Class` strings, or `Step` subclasses/instances; `registry`: the rights-holder
    opt-out registry to apply; `snapshots`: opt-out snapshot WARCs (today's policy files for older content);
    `source_root`: the directory inputs are recorded relative to (overrides the config's; see
    `pipeline.source_paths`)."""
    from pipeline.optout.registry import Registry, RegistryError
    from pipeline.release_read.release import Release
    from pipeline.sources.inputs import InputError, detect_format, expand_inputs
    from pipeline.sources.policy_scan import HTTP_FORMATS

    resolved = resolve_config(config, steps)
    if source_root is not None:
        resolved = resolved.model_copy(update={"source_root": os.fspath(source_root)})
    out = Path(out)
    items = [inputs] if isinstance(inputs, str | os.PathLike) else list(inputs)
    try:
        specs = expand_inputs([str(i) for i in items])
        snapshot_specs = expand_inputs([str(s) for s in snapshots]) if snapshots else []
        if executor not in ("local", "ray"):
            raise InputError(f"executor must be local or ray, not {executor!r}")
        if registry is not None and not Path(registry).is_dir():
            raise InputError(f"no opt-out registry at {registry} (create one with `apertura optout add`)")
        if registry is not None:
            Registry(Path(registry)).validate()  # a malformed registry stops the run before any work, naming the file
        if bad := [s for s in snapshot_specs if detect_format(s) not in HTTP_FORMATS]:
            raise InputError(f"{bad[0]}: an opt-out snapshot must be a WARC (from `apertura robots-snapshot`)")
    except (InputError, RegistryError, OSError) as err:
        raise RunError(str(err).splitlines()[0]) from None
    build(specs, resolved, out, workers=workers, resume=resume, snapshots=snapshot_specs,
          registry=Path(registry) if registry is not None else None, index=index, executor=executor,
          ray_address=ray_address, progress=progress)  # fmt: skip
    return Release.open(out)


def build(
    specs: list[str],
    config: RunConfig,
    out_dir: Path,
    *,
    workers: int = 1,
    resume: bool = False,
    snapshots: Sequence[str] = (),
    registry: Path | None = None,
    index: bool = True,
    executor: str = "local",
    ray_address: str | None = None,
    progress: OnProgress | None = None,
) -> dict:
    """`run` for inputs already expanded and a config already resolved; returns the manifest.

    Site policies, shards, then the release (and its index); removes the work directory. Holds the lock of
    `out_dir` throughout (pipeline/locks.py): a second writer of the same release stops with RunError instead
    of deleting this one's work directory."""
    from pipeline.locks import output_lock
    from pipeline.run_metrics import RunMetrics
    from pipeline.sources.inputs import InputError
    from pipeline.tables import ReleaseError

    if config.tokenizer:  # a tokenizer that cannot count stops the run before any input is read
        from pipeline.tokens import TokenizerError, check_tokenizer

        try:
            check_tokenizer(config.tokenizer)
        except TokenizerError as err:
            raise RunError(str(err)) from None
    config = _with_source_root(config, [*snapshots, *specs])
    metrics = RunMetrics(specs, executor=executor, workers=workers)
    try:
        with output_lock(out_dir):
            if out_dir.exists():
                raise RunError(f"{out_dir} already exists: releases are immutable, choose a new --out")
            manifest = _build(specs, config, out_dir, workers=workers, resume=resume, snapshots=list(snapshots),
                              registry=registry, executor=executor, ray_address=ray_address,
                              emit=progress or (lambda _: None), metrics=metrics)  # fmt: skip
    except (ReleaseError, InputError) as err:  # OutputLocked, a failed write, an input changed while read
        raise RunError(str(err).splitlines()[0]) from None
    except KeyboardInterrupt as err:
        raise _interrupted(err, metrics, out_dir) from None
    try:
        if index:
            with metrics.timed("index"):
                build_index(out_dir, progress)
    except KeyboardInterrupt as err:
        raise _interrupted(err, metrics, out_dir) from None
    finally:  # the release is written: measure it even when its index failed
        _write_metrics(out_dir, metrics)
    return manifest


def _with_source_root(config: RunConfig, specs: Sequence[str]) -> RunConfig:
    """The config with its source root made absolute (what the manifest records, and the same for every worker
    whatever its directory), once every input was checked to lie under it: one outside stops the run before any
    work, naming the file."""
    from pipeline.source_paths import SourceRootError, absolute_root, record_path

    if config.source_root is None:
        return config
    root = absolute_root(config.source_root)
    if not root.is_dir():
        raise RunError(f"source root {config.source_root}: not a directory")
    try:
        for spec in specs:
            record_path(spec, root)
    except SourceRootError as err:
        raise RunError(str(err)) from None
    return config.model_copy(update={"source_root": str(root)})


def _interrupted(err: KeyboardInterrupt, metrics: RunMetrics, out_dir: Path) -> RunInterrupted:
    """Where the run was when `err` stopped it (a SIGTERM handler raises a KeyboardInterrupt with `signum`)."""
    import signal

    if isinstance(err, RunInterrupted):
        return err
    return RunInterrupted(signal.Signals(getattr(err, "signum", signal.SIGINT)).name, metrics.where(), out_dir)


def _write_metrics(out_dir: Path, metrics: RunMetrics) -> None:
    """`run-metrics.json` beside the manifest (see pipeline/run_metrics.py); a failure to write it is logged,
    never a failed run: the release is whole without it."""
    import logging

    from pipeline.release_read import MANIFEST
    from pipeline.tables import file_sha256

    try:
        metrics.write(out_dir, file_sha256(out_dir / MANIFEST))
    except OSError as err:
        logging.getLogger("apertura.run").warning(f"run metrics not written into {out_dir}: {err}")


def _build(
    specs: list[str],
    config: RunConfig,
    out_dir: Path,
    *,
    workers: int,
    resume: bool,
    snapshots: list[str],
    registry: Path | None,
    executor: str,
    ray_address: str | None,
    emit: OnProgress,
    metrics: RunMetrics,
) -> dict:
    import polars as pl

    from pipeline.executors.local import run_shards, worker_pool
    from pipeline.optout.registry import Registry
    from pipeline.release import build_release
    from pipeline.source_paths import record_path
    from pipeline.sources.policy_scan import collect
    from pipeline.tables import writing

    session, release_options = worker_pool(workers, config), {}
    if executor == "ray":  # same contract and byte-identical release; Ray Data pipeline, dedup group-by on Ray
        try:
            from pipeline.executors import ray as ray_executor
        except ImportError as err:
            raise RunError(str(err)) from None
        run_shards = functools.partial(ray_executor.run_shards, address=ray_address)
        session = ray_executor.session(workers, ray_address)  # one Ray for the shards and the dedup
        release_options = {"bucket_edges": ray_executor.ray_bucket_edges}
    workdir = out_dir.parent / f".{out_dir.name}.work"
    if not resume:
        shutil.rmtree(workdir, ignore_errors=True)
    started = time.monotonic()

    def rate(n: int) -> float:
        return n / max(time.monotonic() - started, 1e-9)

    with session as pool:  # pool: the local worker processes when there are several (Ray: None)
        scanned_files = [0]

        def on_file(_: object) -> None:
            scanned_files[0] += 1
            emit(Progress("policies", scanned_files[0], len(specs) + len(snapshots)))

        policies = workdir / "policies.parquet"
        # one pass over every input finds the policy files and, for the worker pool, where each batch starts
        with metrics.timed("site policies") as timing:
            collected, scanned = collect(
                [*snapshots, *specs],
                on_file=on_file,
                batch_size=config.batch_size if pool else None,
                map_files=pool.map if pool else map,
                pieces=workers + 1 if pool else 1,  # a large WARC is scanned in pieces: here and in each worker
            )
            timing["files"] = len(scanned)
        run_options = {"pool": pool, "plans": {f.path: f.plan for f in scanned if f.plan}} if pool else {}
        # policy files and snapshots name their file as the release records it (relative to the source root)
        recorded = {spec: record_path(spec, config.source_root) for spec in [*snapshots, *specs]}
        collected = collected.with_columns(pl.col("source_file").replace(recorded))
        with writing("the work directory", workdir):
            workdir.mkdir(parents=True, exist_ok=True)
            collected.write_parquet(policies.with_suffix(".tmp"))
            os.replace(policies.with_suffix(".tmp"), policies)
        snapshot_files = [{**f.describe(), "path": recorded[f.path]} for f in scanned[: len(snapshots)]]
        seen: dict[str, int] = {}
        done_inputs, reused = [0], [0]

        def on_records(counts: dict[str, int], seconds: dict[str, float] | None = None) -> None:
            metrics.batch(counts, seconds)
            for stage, n in counts.items():
                seen[stage] = seen.get(stage, 0) + n
                emit(Progress("records", seen[stage], stage=stage, rate=rate(seen[stage])))

        def on_shard(shard: Any, summary: Any, was_reused: bool) -> None:
            done_inputs[0] += 1
            reused[0] += was_reused
            metrics.finished.add(shard.index)
            metrics.reused = reused[0]
            emit(Progress("input", done_inputs[0], len(specs), detail="reused" if was_reused else ""))

        def on_stale(shard: Any, why: str) -> None:
            emit(Progress("resume", detail=f"{shard.spec} is read again: {why}"))

        with metrics.timed("steps") as timing:
            shards = run_shards(specs, config, workdir, workers=workers, resume=resume, policies=policies,
                                on_records=on_records, on_shard=on_shard, on_stale=on_stale, **run_options)  # fmt: skip
            timing["records"] = max(seen.values(), default=0)  # records read (they all enter the first step)
        if pool:  # the release is written here: let the workers' memory go meanwhile
            pool.shutdown(wait=False)
        if resume:
            detail = f"{reused[0]} of {len(specs)} inputs were already done"
            emit(Progress("resume", reused[0], len(specs), detail=detail))
        total, written = sum(s.report()["eligible"] for s in shards), [0]

        def on_written(n: int) -> None:
            written[0] += n
            emit(Progress("write", written[0], total))

        with metrics.timed("dedup and write") as timing:
            manifest = build_release(shards, config, out_dir, policies=policies, snapshots=snapshot_files,
                                     registry=Registry(registry) if registry else None, on_written=on_written,
                                     **release_options)  # fmt: skip
            timing["records"] = written[0]
    if pool and executor == "local":  # the pool's processes have ended: the largest of them
        from pipeline.run_metrics import peak_rss_bytes

        metrics.workers_peak_rss = peak_rss_bytes(resource.RUSAGE_CHILDREN)
    shutil.rmtree(workdir, ignore_errors=True)
    return manifest


def build_index(release: Path, progress: OnProgress | None = None) -> None:
    """The sidecar index (R/index/, bound to the manifest's sha256): the release itself stays as written. A
    failure is RunError saying the release is whole and how to build the index again."""
    from pipeline.index import build_index as build

    started = time.monotonic()
    try:
        build(release)
    except Exception as err:  # duckdb, tantivy and OS errors alike: the release is whole, only its index failed
        message = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise RunError(
            f"the release {release} is written and whole, but its index failed: {message}; "
            f"rerun `apertura index {release}`"
        ) from None
    if progress:
        progress(Progress("index", 1, 1, detail=f"{release / 'index'} in {time.monotonic() - started:.1f} s"))

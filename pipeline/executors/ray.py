"""Ray executor: the local executor's contract on Ray Data (one machine or a cluster).

Data flow of `run_shards` (one Ray Data pipeline, streamed with back-pressure):

    ray.data.from_items(shards to do)                      one row per input file
      .map_batches(_read_shards)                           Ray *tasks* (no CPU reserved, as many as actors):
                                                           `read_input` -> record batches, tagged (_shard,
                                                           _batch, _row); the input's ReadReport goes to
                                                           <shard>/read.json once it is read to the end
      .map_batches(_StepsActor, compute=ActorPool)         Ray *actors* (steps and models built once per
                                                           actor): `run_steps`, the function the local
                                                           executor runs per batch, stages part files
      -> driver: one summary row per staged piece          per-batch progress; a shard whose rows have all
                                                           come back is finished by a Ray task (`finish_shard`:
                                                           candidates/ledger/evidence.parquet + report.json)

Why the staged shards, hence the release, are byte-identical to the local executor's: each piece is
processed by the same `run_steps` with steps built by the same `make_steps`, and the pieces are put back
in (batch, first row) order before `finish_shard` (shared with local.py) concatenates them. Ray Data is
free to merge blocks (handled: the actor splits a Ray batch back into the reader's batches by their tags)
or to slice a block over ~192 MiB (then one reader batch is run as two pieces; the per-record steps decide
row by row, so the same rows are kept and removed, in the same order). Steps never know who runs them.

Global dedup: `ray_bucket_edges` computes the LSH bucket edges as a Ray Data group-by on (band, key)
joined back to the rows; pass it to `pipeline.release.build_release(bucket_edges=...)`. Release files are
written on the driver as locally; `pipeline.publish` copies a finished release to any pyarrow filesystem
(S3-compatible object storage included).

    from pipeline.executors.ray import run_shards
    shards = run_shards(specs, config, workdir, workers=2)                  # a local Ray, 2 CPUs
    shards = run_shards(specs, config, workdir, address="auto")             # an existing cluster

On a cluster, `workdir` must be a path every node can read and write (a shared filesystem): actors stage
part files there and the driver reads the staged shards back; inputs may be absolute paths visible to
all nodes (the same path everywhere: it is the input's identity in the release) or http(s) URLs.
Resume works per shard as locally (a shard is done once its report.json exists).

Ray is optional (`pip install "apertura[ray]"`); importing this module without it fails with the pip
command to run.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa

from pipeline.config import RunConfig
from pipeline.executors.local import finish_shard, make_steps, plan_shards, run_steps
from pipeline.sources.base import RECORD_SCHEMA, ReadReport
from pipeline.sources.inputs import read_input
from pipeline.staging import Shard
from pipeline.tables import fit, writing

try:
    import ray
    import ray.data
    from ray.data.aggregate import Count, Min
except ImportError as err:  # pragma: no cover - exercised only without the extra
    raise ImportError('the Ray executor needs Ray: pip install "apertura[ray]" (ray[data]==2.60.0)') from err

TAGS = ("_shard", "_batch", "_row")  # where a record came from: input index, reader batch, row in that batch
READ_REPORT = "read.json"  # written by the reader task when an input has been read to its end
PIECE_SCHEMA = pa.schema(
    [
        ("shard", pa.int64()),
        ("batch", pa.int64()),
        ("start", pa.int64()),
        ("rows", pa.int64()),
        ("seen", pa.string()),
        ("kept", pa.string()),
        ("removed", pa.string()),
        ("evidence", pa.string()),
        ("seconds", pa.string()),  # time in each step (run metrics only)
    ]
)


def ensure_ray(workers: int, address: str | None = None) -> bool:
    """Connect to `address` (e.g. "auto", "ray://head:10001") or start a local Ray with `workers` CPUs.

    Returns True when this call started Ray (so the caller shuts it down again). No dashboard: it is
    not needed for a batch run and costs start-up time and a port.
    """
    if ray.is_initialized():
        return False
    if address:
        ray.init(address=address, include_dashboard=False, log_to_driver=True)
    else:
        ray.init(num_cpus=max(1, workers), include_dashboard=False, log_to_driver=True)
    return True


@contextmanager
def session(workers: int, address: str | None = None) -> Iterator[None]:
    """One Ray for a whole build (shards, then dedup): started or joined here, shut down only if started here."""
    started = ensure_ray(workers, address)
    try:
        yield
    finally:
        if started:
            ray.shutdown()


def _read_shards(shards: pa.Table, config: RunConfig) -> Iterator[pa.Table]:
    """Reader task: stream each input's record batches, tagged, then leave its ReadReport in read.json.

    Tags instead of relying on Ray's block boundaries: Ray may merge or slice blocks on the way.
    """
    for index, spec, directory in zip(*(shards[c].to_pylist() for c in ("index", "spec", "directory")), strict=True):
        batches, report = read_input(spec, batch_size=config.batch_size, read_config=config.read)
        rows = []
        for n, batch in enumerate(batches):
            rows.append(batch.height)
            if batch.height:
                yield batch.with_columns(
                    pl.lit(index, pl.Int64).alias("_shard"),
                    pl.lit(n, pl.Int64).alias("_batch"),
                    pl.int_range(batch.height, dtype=pl.Int64).alias("_row"),
                ).to_arrow()
        out = Path(directory) / READ_REPORT
        tmp = out.with_suffix(".tmp")
        fields = {f.name: getattr(report, f.name) for f in dataclasses.fields(report)}  # asdict breaks Counters
        with writing("the staged files of input " + repr(spec), out.parent):
            out.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps({"report": fields, "batch_rows": rows}))
            os.replace(tmp, out)  # after the last batch was yielded: its presence means "read to the end"


class _StepsActor:
    """Ray actor running the per-record steps; steps (and their models) are built once per actor."""

    def __init__(self, config: RunConfig, policies: Path | None, policies_sha256: str | None, shards: dict) -> None:
        self.config = config
        self.steps = make_steps(config, policies, policies_sha256)
        self.shards = {int(k): (spec, Path(directory)) for k, (spec, directory) in shards.items()}

    def __call__(self, records: pa.Table) -> pa.Table:
        """Split a Ray batch back into the reader's batches, run and stage each; one summary row per piece."""
        frame = pl.from_arrow(records)
        assert isinstance(frame, pl.DataFrame)
        out: dict[str, list] = {name: [] for name in PIECE_SCHEMA.names}
        if frame.is_empty():
            return pa.Table.from_pydict(out, schema=PIECE_SCHEMA)
        for piece in frame.partition_by("_shard", "_batch", maintain_order=True):
            piece = piece.sort("_row")
            shard, n, start = (int(piece[c][0]) for c in TAGS)
            batch = fit(piece, RECORD_SCHEMA).rechunk()
            output = run_steps(self.steps, batch, self.config)
            spec, directory = self.shards[shard]
            with writing("the staged files of input " + repr(spec), directory):  # a full disk: one clear error
                (directory / "parts").mkdir(parents=True, exist_ok=True)
                staged = output.stage(directory / "parts", f"{n:06d}-{start:06d}")
            paths = [None if path is None else str(path) for path in staged]
            values = (shard, n, start, batch.height, json.dumps(output.seen), *paths, json.dumps(output.seconds))
            for name, value in zip(PIECE_SCHEMA.names, values, strict=True):
                out[name].append(value)
        return pa.Table.from_pydict(out, schema=PIECE_SCHEMA)


def _finish(shard: Shard, config: RunConfig, pieces: list[dict]) -> dict:
    """Ray task: the staged pieces of one input, in reader order, become its staged shard (`finish_shard`)."""
    read = json.loads((shard.directory / READ_REPORT).read_text())["report"]
    (shard.directory / READ_REPORT).unlink()  # before report.json: a finished shard holds only what local.py stages
    by_type = read.get("bytes_by_type")
    report = ReadReport(**{**read, "records_by_type": Counter(read["records_by_type"]),
                           "bytes_by_type": None if by_type is None else Counter(by_type)})  # fmt: skip
    ordered = sorted(pieces, key=lambda p: (p["batch"], p["start"]))
    parts = [[Path(p[kind]) for p in ordered if p[kind]] for kind in ("kept", "removed", "evidence")]
    return finish_shard(shard, config, report, *parts)


def _read_to_end(shard: Shard) -> int | None:
    """Rows the reader sent for `shard`, once it has read the input to its end (else None)."""
    try:
        return sum(json.loads((shard.directory / READ_REPORT).read_text())["batch_rows"])
    except FileNotFoundError:
        return None


def _user_error(err: BaseException) -> BaseException:
    """The exception a step or reader raised, out of Ray's wrappers (so the CLI reports it as locally)."""
    cause: BaseException | None = err
    while cause is not None:
        if not type(cause).__module__.startswith("ray."):
            return cause
        cause = cause.__cause__
    return err


def run_shards(
    specs: list[str],
    config: RunConfig,
    workdir: Path,
    *,
    workers: int = 1,
    resume: bool = False,
    policies: Path | None = None,
    on_records: Callable[[dict[str, int], dict[str, float]], None] | None = None,
    on_shard: Callable[[Shard, dict, bool], None] | None = None,
    address: str | None = None,
    shutdown: bool | None = None,
    on_stale: Callable[[Shard, str], None] | None = None,
) -> list[Shard]:
    """Same contract as `pipeline.executors.local.run_shards`, run as a Ray Data pipeline (module doc).

    `workers`: the most step actors (one CPU each; 1 = as many as the cluster has CPUs). `address`: an
    existing Ray cluster; otherwise a local Ray with `workers` CPUs is started (and shut down afterwards
    unless `shutdown=False`; a Ray already running is joined and left running). A failing reader or step
    fails the run with its own exception.
    Shards are returned in input order; `on_records` gets per-stage counts as pieces finish.
    """
    shards, todo = plan_shards(
        specs, config, workdir, resume=resume, policies=policies, on_shard=on_shard, on_stale=on_stale
    )
    if not todo:
        return shards
    by_index = {s.index: s for s in todo}
    # what remote workers get: absolute paths (their working directory need not be the driver's)
    remote = {
        s.index: dataclasses.replace(
            s, directory=s.directory.resolve(), policies=s.policies.resolve() if s.policies else None
        )
        for s in todo
    }
    started = ensure_ray(workers, address)
    try:
        # --workers caps the step actors; 1 (the default) lets them grow to every CPU of the cluster
        actors = workers if workers > 1 else max(1, int(ray.cluster_resources().get("CPU", 1)))
        first = remote[todo[0].index]
        items = [{"index": s.index, "spec": s.spec, "directory": str(s.directory)} for s in remote.values()]
        pieces_ds = (
            ray.data.from_items(items, override_num_blocks=len(items))
            .map_batches(
                _read_shards,
                batch_size=1,
                batch_format="pyarrow",
                fn_kwargs={"config": config},
                # light (decompress + parse) next to the steps: no CPU reserved, so readers always fit beside
                # the actors; capped, so they cannot crowd them out. Not fused with the steps: one input's
                # batches spread over every actor.
                num_cpus=0,
                compute=ray.data.TaskPoolStrategy(size=actors),
            )
            .map_batches(
                _StepsActor,
                batch_size=None,
                batch_format="pyarrow",
                # one batch at a time per actor (a step may keep per-batch state)
                compute=ray.data.ActorPoolStrategy(min_size=1, max_size=actors, max_concurrent_calls_per_actor=1),
                fn_constructor_kwargs={
                    "config": config,
                    "policies": first.policies,
                    "policies_sha256": first.policies_sha256,
                    "shards": {s.index: (s.spec, str(s.directory)) for s in remote.values()},
                },
                num_cpus=1,
            )
        )
        finish = ray.remote(num_cpus=0.25, max_retries=0)(_finish)
        config_ref = ray.put(config)
        # by (batch, first row): a piece reported twice (Ray retried a task after a failure) counts once
        pieces: dict[int, dict[tuple[int, int], dict]] = defaultdict(dict)
        running: dict[Any, Shard] = {}

        def submit_if_complete(index: int) -> None:
            if index not in by_index:
                return
            rows = sum(p["rows"] for p in pieces[index].values())
            if _read_to_end(by_index[index]) == rows:
                shard = by_index.pop(index)
                running[finish.remote(remote[index], config_ref, list(pieces.pop(index).values()))] = shard

        def collect(block: bool) -> None:
            while running:
                done, _ = ray.wait(list(running), num_returns=1, timeout=None if block else 0)
                if not done:
                    return
                shard = running.pop(done[0])
                summary = ray.get(done[0])
                if on_shard:
                    on_shard(shard, summary, False)

        try:
            for batch in pieces_ds.iter_batches(batch_size=None, batch_format="pyarrow"):
                for piece in batch.to_pylist():
                    index, key = piece["shard"], (piece["batch"], piece["start"])
                    if index not in by_index or key in pieces[index]:
                        continue
                    pieces[index][key] = piece
                    if on_records:
                        on_records(json.loads(piece["seen"]), json.loads(piece["seconds"]))
                    submit_if_complete(index)
                collect(block=False)
            for index in list(by_index):  # inputs without records, or whose read.json came after their rows
                submit_if_complete(index)
            if by_index:
                missing = ", ".join(by_index[i].spec for i in sorted(by_index))
                raise RuntimeError(f"the Ray pipeline lost records of: {missing}")
            collect(block=True)
        except Exception as err:
            cause = _user_error(err)
            if cause is err:
                raise
            raise cause from err
    finally:
        if started and shutdown is not False:
            ray.shutdown()
    return shards


def ray_bucket_edges(keys: np.ndarray, *, partitions: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """LSH bucket edges as a Ray Data group-by: same contract as `pipeline.fingerprints.bucket_edges`.

    `keys` is (bands, n) uint64, one key per band and row. Rows (band, key, row) are grouped on
    (band, key) (a hash shuffle across the cluster) into (count, lowest row); buckets with more than one
    row are joined back to their rows, and each row becomes an edge (u=row, v=lowest row), u > v.
    Returns the distinct edges, sorted by (u, v), as int64 arrays. Uses the running Ray (or starts one).
    """
    bands, n = keys.shape
    empty = np.zeros(0, dtype=np.int64)
    if n < 2 or bands == 0:
        return empty, empty.copy()
    parts = partitions or max(1, min(64, (bands * n) // 250_000 + 1))
    rows = pa.table(
        {
            "band": np.repeat(np.arange(bands, dtype=np.int32), n),
            "key": np.ascontiguousarray(keys, dtype=np.uint64).reshape(-1),
            "row": np.tile(np.arange(n, dtype=np.int64), bands),
        }
    )
    slices = [rows.slice(i, len(rows) // parts + 1) for i in range(0, len(rows), len(rows) // parts + 1)]
    ds = ray.data.from_arrow(slices)
    buckets = (
        ds.groupby(["band", "key"], num_partitions=parts)
        .aggregate(Count(alias_name="members"), Min("row", alias_name="first"))
        .map_batches(_shared_buckets, batch_size=None, batch_format="pyarrow")
    )
    edges = ds.join(buckets, join_type="inner", num_partitions=parts, on=("band", "key")).map_batches(
        _edges, batch_size=None, batch_format="pyarrow"
    )
    us, vs = [empty], [empty]
    for batch in edges.iter_batches(batch_size=None, batch_format="numpy"):
        us.append(batch["u"].astype(np.int64))
        vs.append(batch["v"].astype(np.int64))
    u, v = np.concatenate(us), np.concatenate(vs)
    pairs = np.unique(u * n + v)  # a pair sharing several bands is one edge
    return pairs // n, pairs % n


def _shared_buckets(buckets: pa.Table) -> pa.Table:
    """Buckets of two or more rows (the rest yield no edge), as (band, key, first)."""
    shared = np.asarray(buckets["members"]) > 1
    return buckets.filter(pa.array(shared)).select(["band", "key", "first"])


def _edges(joined: pa.Table) -> pa.Table:
    """(u=row, v=first row of its bucket) for every row that is not its bucket's first."""
    row, first = np.asarray(joined["row"]), np.asarray(joined["first"])
    linked = row != first
    return pa.table({"u": row[linked], "v": first[linked]})

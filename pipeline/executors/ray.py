"""Ray executor: the local executor's contract, with shards run as Ray tasks (one machine or a cluster).

Why tasks calling `process_shard`, not a re-implementation: each task runs exactly the code the local
executor runs, so the staged shards, and hence the release, are byte-identical whichever executor ran
them (tested in tests/test_ray_executor.py); no step knows which executor drives it. Global dedup and
writing the release stay in the driver (`pipeline.release.build_release`), as with the local executor.

    from pipeline.executors.ray import run_shards
    shards = run_shards(specs, config, workdir, workers=2)                  # a local Ray, 2 CPUs
    shards = run_shards(specs, config, workdir, address="auto")             # an existing cluster

On a cluster, `workdir` must be a path every node can read and write (a shared filesystem), because the
driver reads the staged shards back; inputs may be local paths visible to all nodes or http(s) URLs.
Progress: `on_records` receives a shard's per-stage counts when the shard finishes (not per batch as
locally: streaming events out of remote tasks would need an actor per run for a progress bar).

Ray is optional (`pip install "apertura[ray]"`); importing this module without it fails with the pip
command to run.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pipeline.config import RunConfig
from pipeline.executors.local import Shard, plan_shards, process_shard

try:
    import ray
except ImportError as err:  # pragma: no cover - exercised only without the extra
    raise ImportError('the Ray executor needs Ray: pip install "apertura[ray]" (ray[data]==2.60.0)') from err


def _shard_task(shard: Shard, config: RunConfig) -> tuple[dict, dict[str, int]]:
    """Body of one Ray task: the local executor's `process_shard`, with the per-stage counts summed."""
    seen: Counter[str] = Counter()
    summary = process_shard(shard, config, seen.update)
    return summary, dict(seen)


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
    address: str | None = None,
    shutdown: bool | None = None,
) -> list[Shard]:
    """Same contract as `pipeline.executors.local.run_shards`; one Ray task (1 CPU) per shard to do.

    `address`: an existing Ray cluster; otherwise a local Ray with `workers` CPUs is started (and shut
    down afterwards unless `shutdown=False`). A failed task fails the run with the task's exception.
    Shards are returned in input order; resume skips shards whose report matches, as locally.
    """
    shards, todo = plan_shards(specs, config, workdir, resume=resume, policies=policies, on_shard=on_shard)
    if not todo:
        return shards

    started = ensure_ray(workers, address)
    try:
        task = ray.remote(num_cpus=1, max_retries=0)(_shard_task)
        config_ref = ray.put(config)
        pending: dict[Any, Shard] = {task.remote(shard, config_ref): shard for shard in todo}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                shard = pending.pop(ref)
                summary, seen = ray.get(ref)  # re-raises the task's exception: the run fails loudly
                if on_records and seen:
                    on_records(seen)
                if on_shard:
                    on_shard(shard, summary, False)
    finally:
        if started and shutdown is not False:
            ray.shutdown()
    return shards

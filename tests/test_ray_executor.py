"""The Ray Data executor builds the same release as the local executor (same ids, ledger, counts, bytes).

One local Ray (`ray.init(num_cpus=2)`) for the whole module: it takes ~5-30 s to start here. Skipped when
Ray (the optional `ray` extra) is not installed.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import polars as pl
import pytest

pytest.importorskip("ray", reason='Ray is optional: pip install "apertura[ray]" to run the Ray executor test')

import ray
import ray.data

from pipeline.cli import build
from pipeline.config import RunConfig
from pipeline.executors import local
from pipeline.executors import ray as ray_executor
from pipeline.fingerprints import bucket_edges
from pipeline.sources.inputs import InputError, expand_inputs


@pytest.fixture(scope="module")
def local_ray():
    """A real local Ray with 2 CPUs, shared by this module's tests; the executor joins it, never stops it."""
    ray.init(num_cpus=2, include_dashboard=False)
    yield
    ray.shutdown()


def _files(release) -> dict[str, str]:
    manifest = json.loads((release / "manifest.json").read_text())
    return {f["path"]: f["sha256"] for f in manifest["files"]}


def _table(release, table: str) -> pl.DataFrame:
    manifest = json.loads((release / "manifest.json").read_text())
    return pl.read_parquet([str(release / f["path"]) for f in manifest["files"] if f["table"] == table])


def _staged(workdir: Path) -> dict[str, bytes]:
    """Every file under the staged shards, by relative path (so stray parts or read reports show up)."""
    root = workdir / "shards"
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_ray_executor_builds_the_same_release(local_ray, planted, planted_release, tmp_path, monkeypatch):
    paths, _ = planted
    release, manifest, _ = planted_release  # built by the local executor (conftest)
    calls, edge_calls = [], []
    run_shards, edges = ray_executor.run_shards, ray_executor.ray_bucket_edges

    def on_ray(*args, **kwargs):
        calls.append(kwargs.get("workers"))
        return run_shards(*args, **kwargs)

    def on_edges(keys):
        edge_calls.append(keys.shape)
        return edges(keys)

    # spies only, to see that `--executor ray` reached the Ray Data pipeline and the Ray group-by
    monkeypatch.setattr(ray_executor, "run_shards", on_ray)
    monkeypatch.setattr(ray_executor, "ray_bucket_edges", on_edges)
    out = tmp_path / "ray"
    again = build(expand_inputs([str(p) for p in paths]), RunConfig(), out, workers=2, executor="ray", index=False)
    assert calls == [2], "the Ray executor was not used"
    assert len(edge_calls) == 1 and edge_calls[0][1] > 1, "the dedup did not group band keys on Ray"
    assert ray.is_initialized(), "the build stopped a Ray it did not start"

    assert _files(out) == _files(release)  # every Parquet file byte-identical (documents, ledger, ...)
    strip = lambda m: {k: v for k, v in m.items() if k != "release_id"}  # noqa: E731
    assert strip(again) == strip(manifest)  # counts per stage and reason, inputs, config hash
    assert _table(out, "documents")["id"].to_list() == _table(release, "documents")["id"].to_list()
    assert _table(out, "ledger").equals(_table(release, "ledger"))


def test_staged_shards_are_byte_identical_when_ray_reslices_blocks(local_ray, planted, tmp_path):
    """Small reader batches and a tiny Ray block size: Ray merges and slices blocks, the staging must not care."""
    specs = expand_inputs([str(p) for p in planted[0]])
    config = RunConfig(batch_size=8)
    local_seen: list[dict[str, int]] = []
    ray_seen: list[dict[str, int]] = []
    finished: list[int] = []
    local.run_shards(specs, config, tmp_path / "local", on_records=lambda seen, _seconds: local_seen.append(seen))

    context = ray.data.DataContext.get_current()
    block_size = context.target_max_block_size
    context.target_max_block_size = 1024  # reader batches (of 8 pages) are sliced into several blocks
    try:
        shards = ray_executor.run_shards(
            specs,
            config,
            tmp_path / "ray",
            workers=2,
            on_records=lambda seen, _seconds: ray_seen.append(seen),
            on_shard=lambda shard, summary, reused: finished.append(shard.index),
        )
    finally:
        context.target_max_block_size = block_size

    assert len(ray_seen) > len(local_seen), "Ray did not slice any reader batch: the test proves nothing"
    total = lambda seen: sum((Counter(s) for s in seen), Counter())  # noqa: E731
    assert total(ray_seen) == total(local_seen)  # per-stage record counts
    assert sorted(finished) == [s.index for s in shards]
    staged_local, staged_ray = _staged(tmp_path / "local"), _staged(tmp_path / "ray")
    assert sorted(staged_ray) == sorted(staged_local)  # no parts/ or read.json left behind
    assert staged_ray == staged_local  # candidates, ledger, evidence Parquet and report.json byte for byte


def test_ray_resumes_a_run_the_local_executor_left_unfinished(local_ray, planted, tmp_path):
    specs = expand_inputs([str(p) for p in planted[0]])
    workdir = tmp_path / "work"
    shards = local.run_shards(specs, RunConfig(), workdir)
    expected = _staged(workdir)
    shards[1].report_path.unlink()  # as if the local run had stopped while staging input 1
    events: list[tuple[int, bool]] = []
    ray_executor.run_shards(
        specs, RunConfig(), workdir, resume=True, on_shard=lambda shard, _, reused: events.append((shard.index, reused))
    )
    assert sorted(events) == [(0, True), (1, False), *((i, True) for i in range(2, len(specs)))]
    assert _staged(workdir) == expected


def test_a_failing_input_fails_the_run_with_its_own_error(local_ray, tmp_path):
    missing = str(tmp_path / "gone.warc.gz")
    with pytest.raises(InputError, match=r"gone\.warc\.gz"):
        local.run_shards([missing], RunConfig(), tmp_path / "local")
    with pytest.raises(InputError, match=r"gone\.warc\.gz"):
        ray_executor.run_shards([missing], RunConfig(), tmp_path / "ray")


def _planted_keys(rng: np.random.Generator, bands: int, n: int) -> np.ndarray:
    """Random keys plus collisions: within a band (edges), and the same key in another band (no edge)."""
    keys = rng.integers(0, 2**64, size=(bands, n), dtype=np.uint64)
    for b in range(bands):
        rows = rng.choice(n, n // 5, replace=False)
        keys[b, rows] = keys[b, rng.integers(0, n, len(rows))]  # buckets of 2+ rows, some chains
    keys[1:, 0] = keys[0, 1]  # row 0 carries row 1's band-0 key in every other band: not a shared bucket
    keys[:, -1] = keys[:, 2]  # the last row equals row 2 in every band: one pair, reported once
    return keys


def test_ray_bucket_edges_equal_bucket_edges(local_ray):
    rng = np.random.default_rng(7)
    one_bucket = np.zeros((1, 3_000), np.uint64)  # a band where every row but 0 and 1 is in one bucket
    one_bucket[0, :2] = [11, 12]
    keys = np.concatenate([_planted_keys(rng, 14, 3_000), one_bucket])
    expected_u, expected_v = bucket_edges(keys)
    u, v = ray_executor.ray_bucket_edges(keys, partitions=3)
    assert len(expected_u) > 3_000  # the planted buckets are there
    assert u.dtype == np.int64 and v.dtype == np.int64
    assert np.array_equal(u, expected_u) and np.array_equal(v, expected_v)
    pairs = set(zip(u.tolist(), v.tolist(), strict=True))
    assert (2_999, 2) in pairs and (1, 0) not in pairs


@pytest.mark.parametrize("n", [0, 1])
def test_ray_bucket_edges_without_pairs(n):
    """Too few rows to pair: no Ray job is started at all."""
    u, v = ray_executor.ray_bucket_edges(np.zeros((14, n), np.uint64))
    assert len(u) == len(v) == 0

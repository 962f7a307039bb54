"""The Ray executor builds the same release as the local executor (same ids, ledger, counts, bytes).

One small build only: a local Ray takes ~10-30 s to start here. Skipped when Ray (the optional `ray`
extra) is not installed.
"""

from __future__ import annotations

import json

import polars as pl
import pytest

pytest.importorskip("ray", reason='Ray is optional: pip install "apertura[ray]" to run the Ray executor test')

from pipeline.cli import build
from pipeline.config import RunConfig
from pipeline.executors import ray as ray_executor
from pipeline.sources.inputs import expand_inputs


def _files(release) -> dict[str, str]:
    manifest = json.loads((release / "manifest.json").read_text())
    return {f["path"]: f["sha256"] for f in manifest["files"]}


def _table(release, table: str) -> pl.DataFrame:
    manifest = json.loads((release / "manifest.json").read_text())
    return pl.read_parquet([str(release / f["path"]) for f in manifest["files"] if f["table"] == table])


def test_ray_executor_builds_the_same_release(planted, planted_release, tmp_path, monkeypatch):
    paths, _ = planted
    release, manifest, _ = planted_release  # built by the local executor (conftest)
    calls = []
    original = ray_executor.run_shards

    def on_ray(*args, **kwargs):
        calls.append(kwargs.get("workers"))
        return original(*args, **kwargs)

    monkeypatch.setattr(ray_executor, "run_shards", on_ray)  # only to see that `--executor ray` reached Ray
    out = tmp_path / "ray"
    again = build(expand_inputs([str(p) for p in paths]), RunConfig(), out, workers=2, executor="ray", index=False)
    assert calls == [2], "the Ray executor was not used"

    assert _files(out) == _files(release)  # every Parquet file byte-identical (documents, ledger, ...)
    strip = lambda m: {k: v for k, v in m.items() if k != "release_id"}  # noqa: E731
    assert strip(again) == strip(manifest)  # counts per stage and reason, inputs, config hash
    assert _table(out, "documents")["id"].to_list() == _table(release, "documents")["id"].to_list()
    assert _table(out, "ledger").equals(_table(release, "ledger"))

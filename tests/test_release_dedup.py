"""The release's streamed global dedup gives the same verdicts as `find_duplicates` holding every candidate.

`pipeline.release` keeps only fixed-width keys per candidate and gathers signatures and ids back from the
staged shards batch by batch; the in-memory `find_duplicates` is the reference it must agree with, here
with batches small enough that clusters span batch and shard boundaries.
"""

from __future__ import annotations

import dataclasses
import json
import shutil

import polars as pl
import pytest

from pipeline import release
from pipeline.config import RunConfig
from pipeline.executors.local import plan_shards, run_shards
from pipeline.fingerprints import bucket_edges, find_duplicates
from pipeline.sources.inputs import expand_inputs

VERDICT = ["id", "duplicate_of", "reason", "detail", "cluster_id", "cluster_size"]


@pytest.fixture(scope="module")
def shards(planted, tmp_path_factory):
    paths, _ = planted
    return run_shards(expand_inputs([str(p) for p in paths]), RunConfig(), tmp_path_factory.mktemp("work"))


def _streamed(shards, config: RunConfig) -> pl.DataFrame:
    dedup = release._Dedup(release._Staged(shards), config, bucket_edges)
    parts = [frame for i in range(len(shards)) for pair in dedup.parts(i) for frame in pair]
    return pl.concat(p.select(VERDICT) for p in parts).sort("id")


def _in_memory(shards, config: RunConfig) -> pl.DataFrame:
    staged = [s.directory / "candidates.parquet" for s in shards if s.report()["candidates"]]
    candidates = pl.concat(pl.read_parquet(path) for path in staged)
    return find_duplicates(candidates, config.dedup).sort("id")


@pytest.mark.parametrize("part_rows", [release.PART_ROWS, 7])
def test_streamed_dedup_equals_in_memory(shards, monkeypatch, part_rows):
    monkeypatch.setattr(release, "PART_ROWS", part_rows)
    config = RunConfig()
    expected = _in_memory(shards, config)
    assert expected["reason"].drop_nulls().n_unique() == 2  # the plant has exact and near duplicates
    assert _streamed(shards, config).equals(expected)


def test_candidates_out_of_input_order_are_refused(shards):
    with pytest.raises(release.ReleaseError, match="not in input order"):
        release._Dedup(release._Staged(shards[::-1]), RunConfig(), bucket_edges)


def test_the_funnel_is_the_stages_the_shards_report(shards, tmp_path):
    """The release takes its funnel from the staged reports (it never imports the executor): the per-record
    steps in the order the local executor runs them, then dedup."""
    manifest = release.build_release(shards, RunConfig(), tmp_path / "r")
    funnel = [s["stage"] for s in manifest["counts"]["stages"]]
    assert funnel == ["read", "optout", "extract", "language", "quality", "pii", "dedup"]


def _copied(shards, workdir):
    """The staged shards under a copy of their work directory (the copies may be edited)."""
    shutil.copytree(shards[0].directory.parent.parent, workdir)
    return [dataclasses.replace(s, directory=workdir / "shards" / s.directory.name) for s in shards]


def test_shards_without_the_same_stages_are_refused(shards, tmp_path):
    copies = _copied(shards, tmp_path / "work")
    report = copies[-1].report()
    report["stages"] = report["stages"][:-1]
    copies[-1].report_path.write_text(json.dumps(report))
    with pytest.raises(release.ReleaseError, match="different stages"):
        release.build_release(copies, RunConfig(), tmp_path / "r")
    del report["stages"]  # a shard staged before reports named their stages
    copies[-1].report_path.write_text(json.dumps(report))
    with pytest.raises(release.ReleaseError, match="names no stages"):
        release.build_release(copies, RunConfig(), tmp_path / "r")
    assert not (tmp_path / "r").exists()


def test_resume_reads_again_a_shard_whose_report_names_no_stages(shards, tmp_path):
    """Such a report comes from an older version: reusing it would leave the release without its funnel."""
    copies = _copied(shards, tmp_path / "work")
    report = copies[0].report()
    del report["stages"]
    copies[0].report_path.write_text(json.dumps(report))
    specs = [s.spec for s in copies]
    _, todo = plan_shards(specs, RunConfig(), tmp_path / "work", resume=True)
    assert [s.index for s in todo] == [0]

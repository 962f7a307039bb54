"""Planned reading: a worker reads its own batch from the byte range the policy scan noted, and gets
exactly the rows of that batch in a sequential read; files that cannot be read in pieces get no plan."""

from __future__ import annotations

import dataclasses
import os
import random
from pathlib import Path

import polars as pl
import pytest

from pipeline.config import ReadConfig
from pipeline.sources.inputs import InputError, read_input
from pipeline.sources.policy_scan import scan
from pipeline.sources.warc_plan import BatchPlan, clean, read_planned_batch
from tests.helpers.corrupt import base_warcs, warc_variants
from tests.helpers.warcs import Page, make_pages, write_warc

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = sorted((ROOT / "data" / "sample").glob("*.warc.gz"))


def sequential(path: Path, batch_size: int) -> tuple[list[pl.DataFrame], object]:
    batches, report = read_input(str(path), batch_size=batch_size, read_config=ReadConfig())
    return list(batches), report


def planned(plan: BatchPlan) -> list[pl.DataFrame]:
    return [read_planned_batch(plan, n, ReadConfig()) for n in range(len(plan))]


def assert_same_batches(path: Path, batch_size: int) -> None:
    found = scan(str(path), batch_size)
    assert found is not None
    plan = found[1].plan
    assert plan is not None, path
    batches, report = sequential(path, batch_size)
    assert len(plan) == len(batches)
    for n, (mine, theirs) in enumerate(zip(planned(plan), batches, strict=True)):
        assert mine.equals(theirs), (path, batch_size, n)
    assert (plan.report.sha256, plan.report.bytes, plan.report.records_by_type) == (
        report.sha256,
        report.bytes,
        report.records_by_type,
    )


def mixed_pages(n: int) -> list[Page]:
    """Responses interleaved with non-HTML and error pages: records the batches count but do not all keep."""
    pages = make_pages(n, host="plan.test", size=300)
    for i in range(0, n, 5):
        pages[i] = Page(pages[i].url, "\x89PNG not text", content_type="image/png")
    for i in range(3, n, 7):
        pages[i] = Page(pages[i].url, "gone", status=404)
    return pages


@pytest.mark.parametrize("batch_size", [1, 2, 3, 7, 256])
def test_planned_batches_equal_sequential_batches(tmp_path, batch_size):
    gz, plain = tmp_path / "mixed.warc.gz", tmp_path / "mixed.warc"
    write_warc(gz, mixed_pages(40))
    write_warc(plain, mixed_pages(40), gzip=False)
    for path in [gz, plain, *SAMPLE]:
        assert_same_batches(path, batch_size)


def test_real_fixture_warcs_plan_like_they_read(fixtures_dir):
    warcs = sorted((fixtures_dir / "warc").rglob("*.warc*"))
    planned_files = 0
    for path in warcs:
        found = scan(str(path), 2)
        _, report = sequential(path, 2)
        if clean(report):
            assert_same_batches(path, 2)
            planned_files += 1
        else:  # malformed on purpose: read by one process, as before
            assert found is not None and found[1].plan is None, path
    assert planned_files >= 5


def test_damaged_files_are_planned_only_when_they_read_to_the_end(tmp_path):
    """Hundreds of damaged variants: no plan where reading finds damage, same batches wherever there is one."""
    rng = random.Random(3)
    (tmp_path / "bases").mkdir()
    bases = base_warcs(tmp_path / "bases", fixtures=False)
    variants = [v for b in bases if b.suffix.startswith(".warc") for v in warc_variants(b, rng, flips=3, per_record=2)]
    assert len(variants) >= 100
    with_plan = 0
    for v in variants:
        path = v.write(tmp_path)
        found = scan(str(path), 2)
        _, report = sequential(path, 2)
        plan = found[1].plan if found else None
        if not clean(report):
            assert plan is None, v.name
        elif plan is not None:
            assert_same_batches(path, 2)
            with_plan += 1
        path.unlink()
    assert with_plan >= 20


def test_arc_files_get_no_plan(fixtures_dir):
    arc = fixtures_dir / "warc" / "warcio" / "example.arc.gz"
    assert scan(str(arc), 2)[1].plan is None


def test_urls_and_stopped_reads_get_no_plan():
    report = scan(str(SAMPLE[0]), 2)[1].plan.report
    offsets = pl.Series([0], dtype=pl.Int64)
    assert BatchPlan.of("http://127.0.0.1:9/x.warc.gz", report, 2, offsets) is None
    stopped = dataclasses.replace(report, read_stopped={"offset": 10, "error": "truncated"})
    assert BatchPlan.of(str(SAMPLE[0]), stopped, 2, offsets) is None


def test_a_file_changed_after_planning_is_refused(tmp_path):
    path = tmp_path / "changing.warc.gz"
    write_warc(path, make_pages(10))
    plan = scan(str(path), 4)[1].plan
    assert read_planned_batch(plan, 1, ReadConfig()).height == 4
    write_warc(path, make_pages(12))  # rewritten in place: other bytes, another size
    with pytest.raises(InputError, match="changed while the run was reading it"):
        read_planned_batch(plan, 1, ReadConfig())
    os.utime(path, ns=(plan.mtime_ns, plan.mtime_ns))
    with open(path, "r+b") as f:  # same size and mtime, but no longer what was planned
        f.truncate(plan.size)
    os.utime(path, ns=(plan.mtime_ns, plan.mtime_ns))
    with pytest.raises(InputError):
        [read_planned_batch(plan, n, ReadConfig()) for n in range(len(plan))]

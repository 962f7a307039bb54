"""Releases written before the current format stay readable: a format 4 release (tests/fixtures/old_release_formats/
format4, written by the pipeline of the commit before format 5 from a four-row Parquet input: three pages kept, one
exact copy removed) still verifies, derives into a format 4 child that verifies, and gets a Croissant written beside
it; a format 5 release (format5, written by the pipeline of the commit before format 6 from the same four rows, its
input typed as `old.parquet`; run-metrics.json left out) still verifies and derives a format 6 child that records
its paths as typed (`source_root` null)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.derive import derive_release
from pipeline.verify import verify_release
from tests.helpers.old_formats import FORMAT4, FORMAT5, old_release


@pytest.fixture
def format4(tmp_path) -> Path:
    return Path(shutil.copytree(FORMAT4, tmp_path / "format4"))


DESCRIBED = "dataset card and Croissant describe the tables"
SOURCE_ROOT = "input paths recorded relative to the source root"


@pytest.mark.parametrize(
    ("fixture", "version", "absent", "present"),
    [(FORMAT4, 4, DESCRIBED, None), (FORMAT5, 5, SOURCE_ROOT, DESCRIBED)],  # format 4 has no card, 5 no root
)
def test_an_older_format_release_still_verifies(fixture, version, absent, present, tmp_path):
    report = verify_release(shutil.copytree(fixture, tmp_path / fixture.name))
    assert report.ok, [c for c in report.checks if not c.ok]
    checks = {c.name: c.detail for c in report.checks}
    assert checks["manifest"] == f"format {version}, release {fixture.name}"
    assert absent not in checks  # a check of a later format is not run on it
    assert present is None or checks[present]
    assert checks["conservation (inputs == kept + removed)"] == "4 = 3 kept + 1 removed"


def test_a_format_4_parent_derives_a_format_4_child(format4, tmp_path):
    child = derive_release(format4, tmp_path / "child")
    assert child["format_version"] == 4 and "descriptions" not in child
    assert verify_release(tmp_path / "child").ok


def test_report_croissant_writes_a_format_4_releases_croissant_beside_the_caller(format4, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["report", "croissant", str(format4)])
    assert result.exit_code == 0, result.output
    doc = json.loads((tmp_path / "croissant.json").read_text())
    urls = [o["contentUrl"] for o in doc["distribution"] if o["@type"] == "cr:FileObject"]
    assert urls and all(u.startswith(str(format4.resolve())) for u in urls)  # loads from where it was written
    mlc = pytest.importorskip("mlcroissant")
    records = mlc.Dataset(jsonld=str(tmp_path / "croissant.json")).records("documents")
    assert sum(1 for _ in records) == 3


@pytest.fixture
def format5(tmp_path) -> Path:
    return Path(shutil.copytree(FORMAT5, tmp_path / "format5"))


def test_a_format_5_parent_derives_a_format_6_child_with_its_paths_as_typed(format5, tmp_path):
    child = derive_release(format5, tmp_path / "child")
    assert child["format_version"] == 6 and child["source_root"] is None
    assert [e["path"] for e in child["inputs"]] == ["old.parquet"]
    report = verify_release(tmp_path / "child")
    assert report.ok, [c for c in report.checks if not c.ok]


@pytest.mark.parametrize(("version", "child_version"), [(2, 2), (3, 3), (4, 4), (5, 6)])
def test_an_older_parent_rewritten_by_derive_keeps_its_tables_schemas(version, child_version, tmp_path):
    """A removal rewrites the parent's documents file: the child's file keeps the parent's columns and types
    (the newest schema would add columns the child's format does not have), and the child verifies. Parents
    without commitments (formats 2 and 3) keep their format: a format 4 manifest needs each input's bytes by
    record type, which derive cannot know."""
    import pyarrow.parquet as pq

    from pipeline.optout.registry import Registry

    parent = old_release(tmp_path / f"format{version}", version)
    assert verify_release(parent).ok
    registry = Registry(tmp_path / "registry")
    registry.add("domain", "old1.test", requester="Legal <legal@example.org>", effective_from="2020-01-01T00:00:00Z")
    child = derive_release(parent, tmp_path / "child", registry=registry)
    assert child["format_version"] == child_version
    assert ("commitments" in child) == (child_version >= 4) == (tmp_path / "child" / "commitments").is_dir()
    for table in ("documents", "signatures"):
        before = sorted((parent / table).glob("*.parquet"))
        after = sorted((tmp_path / "child" / table).glob("*.parquet"))
        assert before and [pq.read_schema(f) for f in after] == [pq.read_schema(f) for f in before], table
    urls = sorted(pq.read_table(tmp_path / "child" / "documents", columns=["url"]).column("url").to_pylist())
    assert urls == ["http://old0.test/p", "http://old2.test/p"]
    report = verify_release(tmp_path / "child")
    assert report.ok, [c for c in report.checks if not c.ok]


def test_a_format_1_parent_is_refused_by_derive(tmp_path):
    from pipeline.optout.registry import Registry
    from pipeline.release_read import ReleaseError

    parent = old_release(tmp_path / "format1", 1)
    assert verify_release(parent).ok  # it is sound, only too old: format 1 recorded no opt-out decisions
    with pytest.raises(ReleaseError) as err:
        derive_release(parent, tmp_path / "child", registry=Registry(tmp_path / "registry"))
    assert str(err.value) == f"{parent} is format 1: derive needs format 2 or later"
    assert not (tmp_path / "child").exists()


@pytest.mark.parametrize("version", [2, 3])
def test_an_index_of_a_format_2_release_is_marked_not_checked_where_format_3_is_compared(version, tmp_path):
    """Format 1-2 tables hold no URL identity to compare the index's entries with: verify says so (`--`), where a
    format 3 release's entries are compared with its tables."""
    from pipeline.api import build_index

    release = old_release(tmp_path / "old", version)
    build_index(release)
    report = verify_release(release)
    entries = next(c for c in report.checks if c.name == "index entries agree with the tables")
    assert report.ok and entries.ok
    assert entries.checked is (version == 3)
    rows = sum(pq.read_metadata(path).num_rows for path in [*release.glob("documents/*.parquet"),
                                                             *release.glob("ledger/*.parquet")])  # fmt: skip
    assert entries.detail == (f"{rows} entries" if version == 3 else
                              "format 1-2: no URL identity in the tables to compare (not checked)")  # fmt: skip
    recomputed = {"URL identities recompute (url_key, domain)", "text hashes recompute (text_sha256, norm_sha256)",
                  "signatures recompute from the documents' texts (MinHash)",
                  "every near duplicate's Jaccard estimate recomputes with its keeper"}  # fmt: skip
    ran = recomputed & {c.name for c in report.checks}  # format 3 on: the tables hold what they recompute from
    assert ran == (recomputed if version == 3 else set())
    unchecked = {"registry opt-outs honoured", "manifest signature (manifest.dsse.json)"}  # none applied, unsigned
    if version == 2:
        unchecked.add("index entries agree with the tables")
    assert {c.name for c in report.not_checked} == unchecked

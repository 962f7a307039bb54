"""Croissant JSON-LD: lists every Parquet file with the manifest's sha256, fields from schemas/, and
validates (mlcroissant when installed; the Croissant 1.0 required properties always)."""

from __future__ import annotations

import hashlib
import json

import polars as pl
import pytest

import schemas
from pipeline.release import load_manifest
from pipeline.reports.croissant import CONTEXT, CROISSANT_1_0, build_croissant
from pipeline.reports.datasheet import build_datasheet
from pipeline.reports.eu_summary import SummaryOptions, build_summary
from tests.reports.conftest import copy_release

DATE = "2026-11-25"
# Croissant 1.0 spec, "Dataset-level information" (required) and FileObject/FileSet/Field properties.
REQUIRED_DATASET = ("@context", "@type", "conformsTo", "name", "description", "license", "url", "distribution")
STANDARD_CONTEXT_KEYS = {"cr", "sc", "dct", "rai", "@vocab", "recordSet", "field", "source", "extract", "column",
                         "fileObject", "fileSet", "includes", "dataType", "key", "samplingRate",
                         "equivalentProperty", "conformsTo", "citeAs", "data", "examples"}


@pytest.fixture(scope="module")
def croissant(demo_release) -> dict:
    return build_croissant(demo_release[0], date_published=DATE, license="CC-BY-4.0", creator="ACME")


def test_required_properties_and_references(croissant):
    assert all(k in croissant for k in REQUIRED_DATASET)
    assert croissant["@type"] == "sc:Dataset" and croissant["conformsTo"] == CROISSANT_1_0
    assert set(croissant["@context"]) >= STANDARD_CONTEXT_KEYS and croissant["@context"] == CONTEXT
    ids = [d["@id"] for d in croissant["distribution"]]
    assert len(ids) == len(set(ids))
    for d in croissant["distribution"]:
        assert d["@type"] in ("cr:FileObject", "cr:FileSet") and d["name"] and d["encodingFormat"]
        if d["@type"] == "cr:FileObject":
            assert d["contentUrl"] and len(d["sha256"]) == 64
        else:
            assert d["includes"]
    for rs in croissant["recordSet"]:
        for f in rs["field"]:
            source = f["source"].get("fileSet") or f["source"]["fileObject"]  # one-part tables: the part itself
            assert source["@id"] in ids
            assert f["dataType"] in ("sc:Text", "sc:Integer", "sc:Float", "sc:Boolean")


def test_every_parquet_file_with_the_manifest_sha256(croissant, demo_release):
    release = demo_release[0]
    manifest = load_manifest(release)
    objects = {d["@id"]: d for d in croissant["distribution"] if d["@type"] == "cr:FileObject"}
    for f in manifest["files"]:
        entry = objects[f["path"]]
        assert entry["sha256"] == f["sha256"] == hashlib.sha256((release / f["path"]).read_bytes()).hexdigest()
        assert (entry["contentUrl"], entry["contentSize"], entry["encodingFormat"]) == (  # a copy outside: absolute
            str(release.resolve() / f["path"]), f"{f['bytes']} B", "application/x-parquet")
    assert objects["manifest.json"]["sha256"] == hashlib.sha256((release / "manifest.json").read_bytes()).hexdigest()
    sets = {d["@id"]: d for d in croissant["distribution"] if d["@type"] == "cr:FileSet"}
    for t in schemas.TABLES:
        assert sets[f"{t}-parquet"]["includes"] == [f["path"] for f in manifest["files"] if f["table"] == t]


def test_record_sets_follow_schemas(croissant):
    record_sets = {rs["@id"]: rs for rs in croissant["recordSet"]}
    assert list(record_sets) == list(schemas.TABLES)
    for t, rs in record_sets.items():
        assert [f["name"] for f in rs["field"]] == schemas.column_names(t)
    fields = {f["name"]: f for f in record_sets["documents"]["field"]}
    assert fields["text"]["dataType"] == "sc:Text" and fields["word_count"]["dataType"] == "sc:Integer"
    assert fields["language_score"]["dataType"] == "sc:Float"
    minhash = record_sets["signatures"]["field"][1]
    assert (minhash["dataType"], minhash.get("repeated")) == ("sc:Integer", True)
    assert record_sets["documents"]["key"] == {"@id": "documents/id"}


def test_base_url_makes_absolute_file_urls(demo_release):
    doc = build_croissant(demo_release[0], base_url="https://data.example/r/demo/", date_published=DATE)
    urls = [d["contentUrl"] for d in doc["distribution"] if d["@type"] == "cr:FileObject"]
    assert all(u.startswith("https://data.example/r/demo/") for u in urls) and "//documents" not in "".join(urls)


@pytest.mark.filterwarnings("ignore:ConjunctiveGraph is deprecated", "ignore:The inplace keyword")
def test_mlcroissant_validates_and_reads_the_records(croissant, demo_release, tmp_path):
    mlc = pytest.importorskip("mlcroissant")
    release = copy_release(demo_release[0], tmp_path / "published")  # croissant.json beside manifest.json
    (release / "croissant.json").write_text(json.dumps(croissant))
    ds = mlc.Dataset(jsonld=str(release / "croissant.json"))
    assert not ds.metadata.ctx.issues.errors and not ds.metadata.ctx.issues.warnings
    docs = pl.read_parquet(release / "documents")
    ids = [r["documents/id"].decode() for r in ds.records("documents")]
    assert ids == docs["id"].to_list()
    assert sum(1 for _ in ds.records("ledger")) == pl.read_parquet(release / "ledger").height


def test_datasheet_has_recipe_counts_and_policy(demo_release):
    release = demo_release[0]
    manifest = load_manifest(release)
    summary = build_summary(release, SummaryOptions(last_update=DATE))
    sheet = build_datasheet(release, summary=summary, licence="CC-BY-4.0")
    docs = pl.read_parquet(release / "documents")
    assert manifest["config_hash"] in sheet and summary.general.manifest_sha256 in sheet
    assert f"- **Documents:** {docs.height:,}" in sheet
    assert f"- **Words:** {docs['word_count'].sum():,}" in sheet
    for s in manifest["counts"]["stages"]:
        assert f"| {s['stage']} | {s['in']:,} | {s['removed']:,} | {s['out']:,} |" in sheet
    for language, n in docs.group_by("language").len().iter_rows():
        assert f"| {language} | {n:,} |" in sheet
    for f in manifest["files"]:
        assert f["sha256"] in sheet
    for name, version in manifest["software"].items():
        assert f"| {name.replace('_', chr(92) + '_')} |" in sheet and version.split()[0][:8] in sheet
    assert "quality.gopher.min\\_words" in sheet  # the recipe's parameters
    assert "- **Licence of the release:** CC-BY-4.0" in sheet
    assert ", ".join(manifest["optout"]["agents"]) in sheet
    assert f"- **Records removed for a reservation:** {manifest['optout']['removed']:,}" in sheet


def test_a_relative_croissant_names_no_local_path(demo_release):
    """What a bundle publishes beside the release: references relative to the release, no path of this machine."""
    release = demo_release[0]
    doc = build_croissant(release, date_published=DATE, relative=True)
    urls = {d["contentUrl"] for d in doc["distribution"] if d["@type"] == "cr:FileObject"}
    assert urls == {"manifest.json", *(f["path"] for f in load_manifest(release)["files"])}
    assert str(release.resolve()) not in json.dumps(doc)

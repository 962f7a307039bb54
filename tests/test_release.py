"""End to end: planted WARCs in, release out; every outcome checked against the construction."""

from __future__ import annotations

import json

import duckdb
import jsonschema
import pyarrow.parquet as pq

import schemas
from pipeline.provenance import reopen_record
from pipeline.verify import verify_release


def table(release, name):
    return duckdb.sql(f"select * from read_parquet('{release}/{name}/*.parquet')").pl()


def test_every_planted_page_has_its_expected_fate(planted_release):
    release, _, expect = planted_release
    docs, ledger = table(release, "documents"), table(release, "ledger")
    kept = {r["url"]: r for r in docs.iter_rows(named=True)}
    removed = {r["url"]: r for r in ledger.iter_rows(named=True)}
    assert set(kept) | set(removed) == set(expect)
    assert not set(kept) & set(removed)
    for url, e in expect.items():
        if e.stage is None:
            assert url in kept, f"{url} should be kept, ledger says {removed.get(url, {}).get('reason')}"
            assert kept[url]["language"] == e.language
            assert (kept[url]["pii_email"], kept[url]["pii_ip"], kept[url]["pii_iban"]) == e.pii
        else:
            assert url in removed, f"{url} should be removed ({e.reason})"
            row = removed[url]
            assert (row["stage"], row["reason"]) == (e.stage, e.reason), url
            if e.duplicate_of:
                assert row["duplicate_of"] == kept[e.duplicate_of]["id"]
                assert kept[e.duplicate_of]["dedup_cluster_id"] == kept[e.duplicate_of]["id"]
                assert kept[e.duplicate_of]["dedup_cluster_size"] == 2


def test_near_duplicate_really_is_near(planted_release):
    """Independent check of the planted pair's Jaccard on the texts the release holds."""
    release, _, _ = planted_release
    ledger = table(release, "ledger")
    near = ledger.filter(ledger["reason"] == "dedup_near").row(0, named=True)
    docs = table(release, "documents")
    keeper = docs.filter(docs["id"] == near["duplicate_of"])
    assert len(keeper) == 1

    def shingles(text: str) -> set[str]:
        words = text.lower().split()
        return {" ".join(words[i : i + 5]) for i in range(len(words) - 4)}

    a, b = shingles(near["text"]), shingles(keeper["text"][0])
    assert 0.8 < len(a & b) / len(a | b) < 1.0


def test_manifest_conservation_and_schema(planted_release):
    release, manifest, expect = planted_release
    jsonschema.validate(manifest, schemas.manifest_schema())
    assert json.loads((release / "manifest.json").read_text()) == manifest
    counts = manifest["counts"]
    assert counts["inputs"] == len(expect) == counts["kept"] + counts["removed"]
    for entry in manifest["inputs"]:
        assert entry["eligible"] == entry["kept"] + entry["removed"]
        # every page is a response followed by its request; one warcinfo per file
        assert entry["records_by_type"]["request"] == entry["records_by_type"]["response"]
        assert entry["records_by_type"]["warcinfo"] == 1
    assert counts["removed_by_stage"]["dedup"] == {"dedup_exact": 1, "dedup_near": 1}
    stages = counts["stages"]
    assert stages[0]["in"] == counts["inputs"] and stages[-1]["out"] == counts["kept"]


def test_tables_match_their_schemas(planted_release):
    release, manifest, _ = planted_release
    for f in manifest["files"]:
        found = pq.read_schema(release / f["path"])
        assert found.remove_metadata().equals(schemas.arrow_schema(f["table"]).remove_metadata()), f["path"]


def test_provenance_reopens_the_exact_warc_record(planted_release):
    release, _, expect = planted_release
    docs = table(release, "documents")
    assert len(docs) == sum(1 for e in expect.values() if e.stage is None)
    for row in docs.iter_rows(named=True):
        record = reopen_record(row["file_path"], row["warc_record_offset"], row["warc_record_length"])
        assert record.url == row["url"]
        assert record.record_id == row["warc_record_id"]
        assert record.stored_digest == row["warc_payload_digest"]
        assert record.digest_ok is True
        assert row["id"] == f"{row['source_sha256'][:16]}-{row['warc_record_offset']}"


def test_release_verifies_and_tampering_is_caught(planted_release, tmp_path):
    import shutil

    release, _, _ = planted_release
    report = verify_release(release)
    assert report.ok, [c for c in report.checks if not c.ok]

    tampered = tmp_path / "tampered"
    shutil.copytree(release, tampered)
    docs = next((tampered / "documents").glob("*.parquet"))
    t = pq.read_table(docs)
    pq.write_table(t.slice(1), docs)  # quietly drop one document
    bad = verify_release(tampered)
    assert not bad.ok
    assert any(c.name == "files and sha256" and not c.ok for c in bad.checks)

    extra = tmp_path / "extra"
    shutil.copytree(release, extra)
    (extra / "ledger" / "part-00099.parquet").write_bytes(b"not parquet")
    assert not verify_release(extra).ok

    lying = tmp_path / "lying"
    shutil.copytree(release, lying)
    manifest = json.loads((lying / "manifest.json").read_text())
    manifest["inputs"][0]["eligible"] += 1
    manifest["counts"]["inputs"] += 1
    (lying / "manifest.json").write_text(json.dumps(manifest))
    report = verify_release(lying)
    assert not report.ok
    assert any(c.name.startswith("conservation") and not c.ok for c in report.checks)


def test_small_batches_give_the_same_release_content(planted, planted_release, tmp_path):
    """Batches are streamed through part files; their size must not change what is kept or removed."""
    from pipeline.cli import build
    from pipeline.config import RunConfig
    from pipeline.sources.inputs import expand_inputs

    release, _, _ = planted_release
    out = tmp_path / "small"
    build(expand_inputs([str(p) for p in planted[0]]), RunConfig(batch_size=3, ledger_keep_text=False), out)
    assert verify_release(out).ok
    for name, columns in (("documents", "id, text, language"), ("ledger", "id, stage, reason, duplicate_of")):
        query = f"select {columns} from read_parquet('{{}}/{name}/*.parquet') order by id"
        assert duckdb.sql(query.format(out)).fetchall() == duckdb.sql(query.format(release)).fetchall()
    assert duckdb.sql(f"select count(text) from read_parquet('{out}/ledger/*.parquet')").fetchall() == [(0,)]


def test_a_release_recorded_before_a_config_field_existed_still_verifies(planted_release, tmp_path):
    """verify hashes the config as the manifest records it: a release written before a field was added (here
    `read.max_batch_bytes`, added 2026-12-05) keeps its config hash; re-parsing would add the field's default."""
    import shutil

    import polars as pl

    from pipeline.config import config_hash
    from pipeline.tables import file_sha256, write_part
    from tests.helpers.reseal import reseal_descriptions

    release, _, _ = planted_release
    old = tmp_path / "old"
    shutil.copytree(release, old, ignore=shutil.ignore_patterns("index", "commitments"))
    manifest = json.loads((old / "manifest.json").read_text())
    del manifest["config"]["read"]["max_batch_bytes"]
    manifest["config_hash"] = old_hash = config_hash(manifest["config"])
    for f in manifest["files"]:  # every row carries the hash its release was built with, as an older run wrote it
        path = old / f["path"]
        frame = pl.read_parquet(path)
        if "config_hash" in frame.columns:
            write_part(frame.with_columns(config_hash=pl.lit(old_hash)), f["table"], path, f["schema_version"])
            f.update(sha256=file_sha256(path), bytes=path.stat().st_size)
    reseal_descriptions(old, manifest)  # the Croissant names the rewritten files' sha256
    (old / "manifest.json").write_text(json.dumps(manifest, indent=2))
    report = verify_release(old)
    assert report.ok, [(c.name, c.detail) for c in report.checks if not c.ok]
    manifest["config"]["read"]["max_payload_bytes"] += 1  # a config edited after the fact is still caught
    (old / "manifest.json").write_text(json.dumps(manifest, indent=2))
    assert [c.name for c in verify_release(old).checks if not c.ok] == ["config hash"]

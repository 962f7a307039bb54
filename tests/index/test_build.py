"""The sidecar index: layout, binding to the manifest, tamper detection, atomic (re)builds."""

from __future__ import annotations

import hashlib
import json
import shutil

import pytest

from pipeline.index import IndexConfig, MembershipIndexError, build_index, open_index, verify_index


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _copy_without_index(release, tmp_path):
    return shutil.copytree(release, tmp_path / "r", ignore=shutil.ignore_patterns("index"))


def test_layout_binds_to_manifest(planted_index):
    release = planted_index.release
    info = json.loads((release / "index" / "index.json").read_text())
    assert info["format"] == "apertura-index" and info["format_version"] == 3
    assert info["manifest_sha256"] == _sha(release / "manifest.json")
    paths = {f["path"] for f in info["files"]}
    assert {"entries.duckdb", "signatures.npy", "lsh_keys.npy", "lsh_entries.npy", "ngrams.npy"} <= paths
    texts = info["counts"]["documents"] + info["counts"]["removed_with_text"]
    assert "text/00000/meta.json" in paths  # all texts fit in one full-text shard
    assert info["text_shards"] == [{"path": "text/00000", "first_entry": 0, "entries": texts}]
    for f in info["files"]:
        assert _sha(release / "index" / f["path"]) == f["sha256"]
    assert info["counts"]["documents"] == len(planted_index.kept)
    assert info["counts"]["removed"] == 5  # robots.txt, the opt-out, two exact duplicates, the repetitive page
    sketch = info["sketch"]
    assert (sketch["ngram"], sketch["stride"], sketch["false_positive_rate_configured"]) == (8, 4, 0.01)
    assert 0 < sketch["false_positive_rate_expected"] <= 0.0125
    assert info["config"] == IndexConfig().model_dump(mode="json")
    assert all(ok for _, ok, _ in verify_index(release)), verify_index(release)
    assert not [p for p in release.iterdir() if p.name.startswith(".index")]  # no staging left behind


def test_verify_index_detects_changes(planted_index, tmp_path):
    release = shutil.copytree(planted_index.release, tmp_path / "r")
    assert all(ok for _, ok, _ in verify_index(release))

    sketch = release / "index" / "ngrams.npy"
    data = bytearray(sketch.read_bytes())
    data[-1] ^= 0xFF
    sketch.write_bytes(bytes(data))
    (release / "index" / "stray.bin").write_bytes(b"x")
    checks = {name: (ok, detail) for name, ok, detail in verify_index(release)}
    ok, detail = checks["index files and sha256"]
    assert not ok and "ngrams.npy: sha256 differs" in detail and "stray.bin: not listed" in detail
    assert checks["index binds to manifest"][0]

    manifest = release / "manifest.json"
    manifest.write_text(manifest.read_text().replace('"release_id"', '"release_id" ', 1))
    checks = {name: (ok, detail) for name, ok, detail in verify_index(release)}
    assert not checks["index binds to manifest"][0] and "rebuild" in checks["index binds to manifest"][1]
    with pytest.raises(MembershipIndexError, match="another manifest"):
        open_index(release)


def test_not_an_index(planted_index, tmp_path):
    release = shutil.copytree(planted_index.release, tmp_path / "r")
    (release / "index" / "index.json").write_text('{"format": "something-else"}')
    ((name, ok, detail),) = verify_index(release)
    assert (name, ok) == ("index.json", False) and "not an apertura index" in detail
    (release / "index" / "index.json").write_text("{")
    assert verify_index(release)[0][1] is False


def test_without_index(planted_index, tmp_path):
    release = _copy_without_index(planted_index.release, tmp_path)
    assert verify_index(release) == [("index", True, "no membership index (optional): `apertura index` builds one")]
    with pytest.raises(MembershipIndexError, match="no membership index"):
        open_index(release)
    with pytest.raises(MembershipIndexError, match="not a release"):
        build_index(tmp_path)


def test_rebuild_needs_force_and_keeps_config(planted_index, tmp_path):
    release = _copy_without_index(planted_index.release, tmp_path)
    (release / ".index.writing-99999").mkdir()  # left by a build that was killed
    build_index(release, IndexConfig(ngram=5, stride=2, false_positive_rate=0.001))
    assert not (release / ".index.writing-99999").exists()
    with pytest.raises(MembershipIndexError, match="already exists"):
        build_index(release)
    info = json.loads((release / "index" / "index.json").read_text())
    assert (info["sketch"]["ngram"], info["sketch"]["stride"]) == (5, 2)
    assert info["sketch"]["false_positive_rate_expected"] <= 0.00125
    info = build_index(release, force=True)
    assert info["sketch"]["ngram"] == 8
    assert all(ok for _, ok, _ in verify_index(release))
    assert sorted(p.name for p in release.iterdir() if "index" in p.name) == ["index"]


def test_full_text_shards_answer_like_one_index(planted_index, index, docs, tmp_path):
    """Shards of 3 texts (the memory bound at scale) give the same hits, counts and verdicts as one index."""
    release = _copy_without_index(planted_index.release, tmp_path)
    info = build_index(release, IndexConfig(text_shard_docs=3))
    texts = info["counts"]["documents"] + info["counts"]["removed_with_text"]
    shards = info["text_shards"]
    sizes = [s["entries"] for s in shards]
    assert len(shards) == -(-texts // 3) and max(sizes) <= 3 and max(sizes) - min(sizes) <= 1  # no small tail
    assert [s["first_entry"] for s in shards] == [sum(sizes[:k]) for k in range(len(sizes))] and sum(sizes) == texts
    assert all(ok for _, ok, _ in verify_index(release))
    sharded = open_index(release)
    assert len(sharded.shards) == len(shards)

    entries = list(range(texts))
    assert sharded._texts(entries) == index._texts(entries) and len(sharded._texts(entries)) == texts
    for query, kw in [("council bridge library harbour", {}), ("der la с the", {"language": "de"}),
                      ("Старый мост", {"include_removed": True})]:  # fmt: skip
        one, many = index.search(query, limit=100, **kw), sharded.search(query, limit=100, **kw)
        assert many.total == one.total > 0
        assert {h.id for h in many.hits} == {h.id for h in one.hits}
        assert [h.score for h in many.hits] == sorted((h.score for h in many.hits), reverse=True)
        highlighted = {h.id: bool(h.highlights) for h in one.hits}  # snippets come from each hit's own shard
        assert {h.id: bool(h.highlights) for h in many.hits} == highlighted and any(highlighted.values())
    essay = docs["http://en.long.test/essay"][1]
    paragraph = essay.split("\n\n")[7] if "\n\n" in essay else " ".join(essay.split()[300:380])
    for text in (docs["http://de.site.test/a/2"][1], paragraph, docs["http://fr.site.test/a/1"][1]):
        one, many = index.check_text(text), sharded.check_text(text)
        assert many.verdict == one.verdict == "in"
        assert [(m.id, m.how, m.overlap) for m in many.matches] == [(m.id, m.how, m.overlap) for m in one.matches]


@pytest.mark.parametrize("damage", ["reorder", "drop"])
def test_signatures_must_align_with_documents(planted_index, tmp_path, damage):
    """Documents and signatures are streamed side by side: a reordered or short signatures table is refused."""
    import pyarrow.parquet as pq

    release = _copy_without_index(planted_index.release, tmp_path)
    (path,) = sorted((release / "signatures").glob("*.parquet"))
    table = pq.read_table(path)
    table = table.take(list(range(table.num_rows))[::-1]) if damage == "reorder" else table.slice(0, table.num_rows - 1)
    pq.write_table(table, path)
    with pytest.raises(MembershipIndexError, match="not aligned with documents"):
        build_index(release)
    assert not (release / "index").exists() and not list(release.glob(".index*"))

"""Registry, retroactive re-release, verify with the registry, and release diff (issue 5, sections 1-3).

Ground truth comes from the parent release itself, computed independently with Polars: which
documents sit on the opted-out domain, under the URL prefix, or are the fingerprinted text.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import polars as pl
import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.optout.registry import Registry, RegistryError
from pipeline.tables import file_sha256
from pipeline.verify import verify_release
from tests.helpers.old_formats import old_release

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"
runner = CliRunner()


def _invoke(*args: str):
    result = runner.invoke(app, [str(a) for a in args])
    return result


@pytest.fixture(scope="module")
def parent(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("derive") / "r1"
    result = _invoke("run", SAMPLE, "--out", out, "--extractor", "resiliparse")
    assert result.exit_code == 0, result.output
    return out


def _docs(release: Path) -> pl.DataFrame:
    return pl.read_parquet(release / "documents" / "*.parquet")


def _hashes(release: Path) -> dict[str, str]:
    return {str(p.relative_to(release)): file_sha256(p) for p in sorted(release.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def planted(parent, tmp_path_factory):
    """A registry with one domain, one URL prefix and one text entry, and the ids each must remove."""
    tmp = tmp_path_factory.mktemp("registry")
    docs = _docs(parent).sort("id")
    # the domain entry names a parent whose documents all sit on subdomains (en.news.test, de.news.test ...), so
    # it removes only what the subdomain rule covers
    domain = "news.test"
    on_domain = pl.col("domain").str.ends_with("." + domain)
    assert docs.filter(on_domain)["domain"].n_unique() >= 2 and docs.filter(pl.col("domain") == domain).is_empty()
    hosts = docs.filter(~on_domain).group_by("domain").len().filter(pl.col("len") >= 2).sort("len", "domain")
    prefix_domain = hosts["domain"][0]
    prefix = docs.filter(pl.col("domain") == prefix_domain)["url"][0].rsplit("/", 1)[0] + "/"
    others = docs.filter(~on_domain & (pl.col("domain") != prefix_domain))
    victim = others.filter(pl.col("text").str.len_chars() > 800).row(0, named=True)
    # the rights holder's own version: the same article with a sentence more -> a near copy, not exact
    text_file = tmp / "article.txt"
    text_file.write_text(victim["text"] + "\nAll rights reserved by the author.", encoding="utf-8")
    registry = tmp / "registry"
    for option, value in (("--domain", domain.upper()), ("--url-prefix", prefix), ("--text-file", text_file)):
        result = _invoke(
            "optout", "add", option, value, "--requester", "Legal <legal@example.org>", "--registry", registry
        )
        assert result.exit_code == 0, result.output
    expected = set(
        docs.filter(
            (pl.col("domain") == domain)
            | pl.col("domain").str.ends_with("." + domain)
            | pl.col("url").str.starts_with(prefix)
            | (pl.col("id") == victim["id"])
        )["id"]
    )
    return registry, expected, victim


@pytest.fixture(scope="module")
def child(parent, planted, tmp_path_factory):
    registry, _, _ = planted
    before = _hashes(parent)
    out = tmp_path_factory.mktemp("child") / "r2"
    result = _invoke("release", "derive", parent, "--apply-optouts", "--registry", registry, "--out", out)
    assert result.exit_code == 0, result.output
    assert _hashes(parent) == before  # the parent is only read
    return out


def test_registry_is_append_only_and_its_state_reproducible(tmp_path):
    reg = Registry(tmp_path / "reg")
    first = reg.add("domain", "Example.ORG", requester="A <a@x>")
    state = reg.state()
    files = {p: file_sha256(p) for p in (tmp_path / "reg").rglob("*.parquet")}
    reg.add("url_prefix", "https://news.example.ch/paywall/", requester="B <b@x>")
    assert reg.state(state["as_of"]) == state  # the earlier state is still exactly reproducible
    assert all(file_sha256(p) == h for p, h in files.items())  # nothing earlier was rewritten
    assert first.value == "example.org" and reg.entries().height == 2
    request = reg.file_request("domain", "blog.example.net", requester="C <c@x>", note="please")
    assert reg.pending()["request_id"].to_list() == [request]
    entry = reg.approve(request)
    assert entry.request_id == request and reg.pending().is_empty()
    for bad in (("domain", "not a domain!"), ("url_prefix", "ftp://x"), ("text", "too short")):
        with pytest.raises(RegistryError):
            reg.add(bad[0], bad[1], requester="D <d@x>", text=bad[1] if bad[0] == "text" else None)


def test_derive_removes_exactly_the_matching_documents(parent, planted, child):
    _, expected, victim = planted
    before, after = _docs(parent), _docs(child)
    removed = set(before["id"]) - set(after["id"])
    assert removed == expected and len(expected) >= 4
    assert set(after["id"]) <= set(before["id"])
    # every kept row is unchanged, column for column
    kept_before = before.filter(pl.col("id").is_in(after["id"].implode())).sort("id")
    assert kept_before.equals(after.sort("id"))
    ledger = pl.read_parquet(child / "ledger" / "*.parquet").filter(pl.col("id").is_in(list(expected)))
    assert set(ledger["stage"]) == {"optout"} and set(ledger["reason"]) == {"optout_registry"}
    assert ledger["text"].null_count() == ledger.height  # an opt-out never keeps its text
    rule = ledger.filter(pl.col("id") == victim["id"])["detail"][0]
    assert "near copy" in rule  # the registered text differs from the document's by a sentence


def test_derived_manifest_records_lineage_and_counts(parent, planted, child):
    registry, expected, _ = planted
    m = json.loads((child / "manifest.json").read_text())
    p = json.loads((parent / "manifest.json").read_text())
    assert m["lineage"]["parent"]["release_id"] == p["release_id"]
    assert m["lineage"]["registry"]["sha256"] == Registry(registry).state(m["lineage"]["registry"]["as_of"])["sha256"]
    assert m["counts"]["kept"] == p["counts"]["kept"] - len(expected)
    assert m["counts"]["removed_by_stage"]["optout"]["optout_registry"] == len(expected)
    unchanged = {f["path"]: f["sha256"] for f in p["files"]}
    for f in m["files"]:
        if f["table"] in ("ledger", "optout_evidence") and f["path"] in unchanged:
            assert f["sha256"] == unchanged[f["path"]]  # earlier ledger and evidence files are kept byte for byte


def test_a_derived_releases_child_adds_to_its_counts_and_numbers_its_parts_on(planted, child, tmp_path):
    """A second derivation with one more registry entry: the opt-out figures the card prints add up over both
    (verify compares them with the ledger), and each table's parts stay numbered 0, 1, 2 ... like the pipeline's:
    the next derivation counts a table's parts to name its new one, so a gap would make it overwrite a copied part."""
    registry = tmp_path / "registry"
    shutil.copytree(planted[0], registry)
    domain = _docs(child).group_by("domain").len().sort("len", "domain", descending=[True, False])["domain"][0]
    gone = set(_docs(child).filter(pl.col("domain") == domain)["id"])
    result = _invoke("optout", "add", "--domain", domain, "--requester", "B <b@example.org>", "--registry", registry)
    assert result.exit_code == 0, result.output
    grandchild = tmp_path / "r3"
    result = _invoke("release", "derive", child, "--apply-optouts", "--registry", registry, "--out", grandchild)
    assert result.exit_code == 0, result.output
    assert verify_release(grandchild).ok
    m, c = (json.loads((r / "manifest.json").read_text()) for r in (grandchild, child))
    assert c["optout"]["removed_by_signal"]["optout_registry"] >= 4  # the child's own registry removals
    assert m["optout"]["removed"] == c["optout"]["removed"] + len(gone)
    assert m["optout"]["removed_by_signal"] == {
        **c["optout"]["removed_by_signal"],
        "optout_registry": c["optout"]["removed_by_signal"]["optout_registry"] + len(gone),
    }
    for table in {f["table"] for f in m["files"]}:
        names = sorted(Path(f["path"]).name for f in m["files"] if f["table"] == table)
        assert names == [f"part-{i:05d}.parquet" for i in range(len(names))], table
    assert len([f for f in m["files"] if f["table"] == "ledger"]) == 3  # the pipeline's, the child's, its own


def test_verify_passes_on_the_child_and_fails_on_the_parent_against_the_registry(parent, planted, child):
    registry, _, _ = planted
    assert verify_release(child).ok
    report = verify_release(parent, registry)
    failed = {c.name for c in report.checks if not c.ok}
    assert "registry opt-outs honoured (no document matches an entry)" in failed
    result = _invoke("verify", parent, "--registry", registry)
    assert result.exit_code == 1


def test_verify_fails_on_tampering_and_on_a_reinserted_document(parent, planted, child, tmp_path):
    _, expected, _ = planted
    tampered = tmp_path / "tampered"
    shutil.copytree(child, tampered)
    part = next((tampered / "documents").glob("*.parquet"))
    data = bytearray(part.read_bytes())
    data[len(data) // 2] ^= 0xFF
    part.write_bytes(data)
    assert not verify_release(tampered).ok

    reinserted = tmp_path / "reinserted"
    shutil.copytree(child, reinserted)
    manifest = json.loads((reinserted / "manifest.json").read_text())
    victim = sorted(expected)[0]
    for table in ("documents", "signatures"):
        f = next(f for f in manifest["files"] if f["table"] == table)
        path = reinserted / f["path"]
        source = [str(p) for p in (parent / table).glob("*.parquet")]
        duckdb.execute(
            "copy (select * from read_parquet($mine) union all select * from read_parquet($src) where id = $id) "
            "to '" + str(path) + ".new' (format parquet)",
            {"mine": str(path), "src": source, "id": victim},
        )
        Path(str(path) + ".new").replace(path)
        f.update(sha256=file_sha256(path), bytes=path.stat().st_size, rows=f["rows"] + 1)
    (reinserted / "manifest.json").write_text(json.dumps(manifest))
    failed = {c.name for c in verify_release(reinserted).checks if not c.ok}
    assert "registry opt-outs honoured (no document matches an entry)" in failed


def test_diff_counts_match(parent, planted, child):
    _, expected, _ = planted
    result = _invoke("release", "diff", parent, child, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["removed"] == len(expected) and data["added"] == 0
    assert data["removed_by_reason"] == [{"stage": "optout", "reason": "optout_registry", "n": len(expected)}]
    by_domain = _docs(parent).filter(pl.col("id").is_in(list(expected))).group_by("domain").len()
    assert {r["domain"]: r["n"] for r in data["removed_by_domain"]} == dict(by_domain.iter_rows())


def test_derive_refuses_what_it_must(parent, planted, child, tmp_path):
    registry, _, _ = planted
    again = _invoke("release", "derive", parent, "--apply-optouts", "--registry", registry, "--out", child)
    assert again.exit_code == 2 and "immutable" in again.output
    nothing = _invoke("release", "derive", parent, "--out", tmp_path / "x")
    assert nothing.exit_code == 2 and "--apply-optouts" in nothing.output
    no_registry = _invoke(
        "release", "derive", parent, "--apply-optouts", "--registry", tmp_path / "none", "--out", tmp_path / "y"
    )
    assert no_registry.exit_code == 2 and "nothing to apply" in no_registry.output


def test_run_with_registry_removes_what_derive_removes_copies_included(parent, tmp_path):
    """A kept document whose domain opts out leaves after dedup: its copy from another domain stays in the ledger
    as a copy of it, so a fresh run and `derive` on the parent keep the same documents."""
    ledger = pl.read_parquet(parent / "ledger" / "*.parquet")
    docs = _docs(parent)
    pairs = (
        ledger.filter(pl.col("duplicate_of").is_not_null())
        .select("id", "domain", "duplicate_of")
        .join(
            docs.select(pl.col("id").alias("duplicate_of"), pl.col("domain").alias("keeper_domain")), on="duplicate_of"
        )
        .filter(pl.col("domain") != pl.col("keeper_domain"))
    )
    assert pairs.height, "the sample corpus plants cross-domain duplicates"
    copy_id, keeper_id, keeper_domain = (pairs.row(0, named=True)[k] for k in ("id", "duplicate_of", "keeper_domain"))
    registry = tmp_path / "registry"
    assert (
        _invoke("optout", "add", "--domain", keeper_domain, "--requester", "X <x@y>", "--registry", registry).exit_code
        == 0
    )
    out = tmp_path / "r"
    result = _invoke("run", SAMPLE, "--out", out, "--extractor", "resiliparse", "--registry", registry)
    assert result.exit_code == 0, result.output
    after = _docs(out)
    assert keeper_domain not in set(after["domain"])
    out_ledger = pl.read_parquet(out / "ledger" / "*.parquet")
    copy_row = out_ledger.filter(pl.col("id") == copy_id).row(0, named=True)
    assert (copy_row["stage"], copy_row["duplicate_of"]) == ("dedup", keeper_id)  # it left with its keeper
    removed = out_ledger.filter(pl.col("reason") == "optout_registry")
    assert (
        set(removed["domain"]) == {keeper_domain}
        and removed.height == docs.filter(pl.col("domain") == keeper_domain).height
    )
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["optout"]["registry"]["entries"] == 1
    assert [s["stage"] for s in manifest["counts"]["stages"]][-2:] == ["dedup", "registry"]
    assert verify_release(out).ok
    derived = tmp_path / "d"
    derive = _invoke("release", "derive", parent, "--apply-optouts", "--registry", registry, "--out", derived)
    assert derive.exit_code == 0, derive.output
    assert set(_docs(derived)["id"]) == set(after["id"])
    assert _invoke("run", SAMPLE, "--out", tmp_path / "r3", "--registry", tmp_path / "none").exit_code == 2


def test_a_crafted_manifest_cannot_point_readers_outside_the_release(parent, child, tmp_path):
    crafted = tmp_path / "crafted"
    shutil.copytree(child, crafted)
    manifest = json.loads((crafted / "manifest.json").read_text())
    next(f for f in manifest["files"] if f["table"] == "documents")["path"] = "../../etc/passwd"
    (crafted / "manifest.json").write_text(json.dumps(manifest))
    result = _invoke("release", "diff", parent, crafted)
    assert result.exit_code == 2 and "outside its table directory" in result.output


def test_registry_refuses_oversized_or_control_character_input(tmp_path):
    reg = Registry(tmp_path / "reg")
    with pytest.raises(RegistryError, match="control characters"):
        reg.file_request("domain", "example.org", requester="A <a@x>", note="bad\x00note")
    with pytest.raises(RegistryError, match="longer than"):
        reg.file_request("domain", "example.org", requester="A" * 1000)
    with pytest.raises(RegistryError, match="larger than"):
        reg.file_request("text", requester="A <a@x>", text="word " * 50_000)
    assert reg.pending().is_empty() and not (tmp_path / "reg").exists()


# --- derive's own decisions, on a three-page parent (the format 5 fixture) ---------------------------------


def test_derive_applies_the_registry_as_it_stood_at_the_time_asked(tmp_path):
    """An entry taking effect tomorrow removes nothing today and its page once derived for a later instant; the
    child records the instant it was derived for, and its registry state as of that instant."""
    from datetime import UTC, datetime, timedelta

    from pipeline.derive import derive_release

    parent = old_release(tmp_path / "parent", 5)
    registry = Registry(tmp_path / "registry")
    registry.add("domain", "old1.test", requester="A <a@x>", effective_from="2020-01-01T00:00:00Z")
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    registry.add("domain", "old2.test", requester="B <b@x>", effective_from=tomorrow.isoformat())
    later = (tomorrow + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    today = derive_release(parent, tmp_path / "today", registry=registry)
    assert sorted(_docs(tmp_path / "today")["url"]) == ["http://old0.test/p", "http://old2.test/p"]
    assert today["lineage"]["derived_at"] <= datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    child = derive_release(parent, tmp_path / "later", registry=registry, at=later)
    assert _docs(tmp_path / "later")["url"].to_list() == ["http://old0.test/p"]
    assert child["lineage"]["derived_at"] == later
    assert child["lineage"]["registry"] == registry.state(later)
    report = verify_release(tmp_path / "later")
    assert report.ok, [c for c in report.checks if not c.ok]


def test_derive_refuses_a_parent_that_does_not_verify_naming_the_failed_check(tmp_path):
    from pipeline.derive import derive_release
    from pipeline.release_read import ReleaseError

    parent = old_release(tmp_path / "parent", 5)
    part = next((parent / "documents").glob("*.parquet"))
    data = bytearray(part.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, other bytes
    part.write_bytes(data)
    failed = [c for c in verify_release(parent).checks if not c.ok]
    assert failed and "sha256" in failed[0].name
    registry = Registry(tmp_path / "registry")
    registry.add("domain", "old1.test", requester="A <a@x>", effective_from="2020-01-01T00:00:00Z")
    with pytest.raises(ReleaseError) as err:
        derive_release(parent, tmp_path / "child", registry=registry)
    assert str(err.value) == (f"{parent} does not verify ({failed[0].name}: {failed[0].detail}); derive from a "
                              "sound release")  # fmt: skip
    assert not (tmp_path / "child").exists() and not (tmp_path / ".child.writing").exists()


def test_derive_refuses_an_instant_without_a_zone_naming_the_option(tmp_path):
    from pipeline.derive import derive_release

    parent = old_release(tmp_path / "parent", 5)
    registry = Registry(tmp_path / "registry")
    with pytest.raises(RegistryError) as err:
        derive_release(parent, tmp_path / "child", registry=registry, at="2026-12-05T10:00")
    assert str(err.value) == "--at '2026-12-05T10:00' has no time zone: add Z for UTC or an offset such as +01:00"
    assert not (tmp_path / "child").exists()

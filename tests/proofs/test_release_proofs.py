"""Proofs end to end on real releases built by the pipeline: keys, sign, bundle, prove, verify-proof, verify and
derive, through the real CLI. Expected answers come from the planted corpus's construction (which page is kept,
which is removed at which stage for which reason), never from the code under test."""

from __future__ import annotations

import base64
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import duckdb
import jsonschema
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import schemas
from pipeline.cli import app
from pipeline.proofs.check import verify_proof
from pipeline.proofs.leaves import url_leaf_key
from pipeline.proofs.prove import Prover, proof_json
from pipeline.synthetic import make_page
from pipeline.url_identity import url_key
from pipeline.verify import verify_release
from tests.app.conftest import PII_URL, unredacted

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]


def cli(*args: object, code: int = 0) -> str:
    result = runner.invoke(app, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result.output


def one_line_error(*args: object) -> str:
    """A refusal: exit 1, exactly one line on stderr, no traceback."""
    result = runner.invoke(app, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 1, result.output
    lines = [x for x in result.output.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: proof rejected: "), result.output
    assert "Traceback" not in result.output
    return lines[0]


@pytest.fixture(scope="module")
def world(planted_release, tmp_path_factory) -> dict:
    """r1 (a copy of the planted release), a key pair, r1 signed and bundled; then a registry opting out the
    planted page with personal data, r2 derived from r1 with it, signed and bundled with the same key."""
    source, _, expect = planted_release
    base = tmp_path_factory.mktemp("proofs")
    r1, r2 = base / "r1", base / "r2"
    shutil.copytree(source, r1)
    key = base / "keys" / "provider"
    key.parent.mkdir()
    cli("keys", "new", "--out", key)
    cli("release", "sign", r1, "--key", key)
    cli("release", "bundle", r1, "--out", base / "b1")
    registry = base / "registry"
    cli("optout", "add", "--domain", "fr.shop.test", "--requester", "Shop <legal@shop.test>", "--registry", registry)
    cli("release", "derive", r1, "--apply-optouts", "--registry", registry, "--out", r2)
    cli("release", "sign", r2, "--key", key)
    cli("release", "bundle", r2, "--out", base / "b2")
    other = base / "keys" / "other"
    cli("keys", "new", "--out", other)
    return {"base": base, "r1": r1, "r2": r2, "b1": base / "b1", "b2": base / "b2", "key": key, "other": other,
            "expect": expect}  # fmt: skip


def prove_to(world: dict, release: str, *args: object, name: str = "proof.json") -> Path:
    path = world["base"] / name
    path.unlink(missing_ok=True)
    cli("prove", world[release], *args, "--out", path)
    return path


def test_every_planted_page_is_proven_in_or_removed_with_its_reason(world):
    """Against the construction: kept pages are in; removed ones are not, with the stage and reason planted."""
    prover = Prover(world["r1"])
    assert prover.source.startswith("from the commitments/ sidecar")
    for url, outcome in world["expect"].items():
        proof = world["base"] / "p.json"
        made = prover.url(url)
        jsonschema.validate(made, schemas.proof_schema())  # the documented format is the one written
        proof.write_text(proof_json(made))
        verdict = verify_proof(world["b1"], proof)
        if outcome.stage is None:
            assert verdict.answer == "in", url
            assert verdict.sentence.startswith(f"{url} IS in release r1 (URL identity {url_key(url)}, any scheme)")
        else:
            assert verdict.answer == "removed" and verdict.removals == [(outcome.stage, outcome.reason)], url
            assert f"it was removed (stage {outcome.stage}, reason {outcome.reason})" in verdict.sentence


def test_any_spelling_of_a_page_gets_the_same_proof_and_absent_pages_are_not_in(world):
    url = "http://en.news.test/article/1"
    proofs = {json.dumps(Prover(world["r1"]).url(u)["statements"]) for u in
              (url, "https://EN.news.test:443/article/%31", "en.news.test/article/1")}  # fmt: skip
    assert len(proofs) == 1
    out = cli("verify-proof", "--bundle", world["b1"], prove_to(world, "r1", "--url", "https://nowhere.test/a"))
    assert out.startswith("https://nowhere.test/a is NOT in release r1, and no removed record has its URL identity")
    key_id = json.loads((world["b1"] / "bundle.json").read_text())["key_id"]
    assert f"signed by key {key_id[:16]}…" in out


def test_texts_in_their_released_forms_and_a_changed_text_is_not_in(world):
    """A kept page's text as it was on the web (personal data not yet replaced) is in: the proof uses the release's
    normalisation and placeholders. The same text with a sentence more is not, and the proof is tied to the text."""
    docs = duckdb.sql(
        "select url, text from read_parquet($f)", params={"f": str(world["r1"] / "documents" / "*.parquet")}
    ).fetchall()
    texts = dict(docs)
    original = world["base"] / "original.txt"
    original.write_text(unredacted(texts[PII_URL]), encoding="utf-8")
    proof = prove_to(world, "r1", "--text-file", original)
    jsonschema.validate(json.loads(proof.read_text()), schemas.proof_schema())
    out = cli("verify-proof", "--bundle", world["b1"], proof, "--text-file", original)
    assert out.startswith("The text of original.txt (normalised sha256 ") and " IS in release r1 " in out
    for url, text in docs[:5]:
        page = world["base"] / "page.txt"
        page.write_text(text, encoding="utf-8")
        assert json.loads(prove_to(world, "r1", "--text-file", page).read_text())["answer"] == "in", url
    changed = world["base"] / "changed.txt"
    changed.write_text(texts[PII_URL] + "\nOne sentence more.", encoding="utf-8")
    proof = prove_to(world, "r1", "--text-file", changed)
    out = cli("verify-proof", "--bundle", world["b1"], proof, "--text-file", changed)
    assert " is NOT in release r1 as an exact text after normalisation (near copies are not covered)" in out
    assert "proof is about another text" in one_line_error("verify-proof", "--bundle", world["b1"], proof,
                                                          "--text-file", original)  # fmt: skip


def test_a_derived_release_proves_the_opt_out_and_chains_to_its_signed_parent(world):
    r1, r2 = (json.loads((world[r] / "manifest.json").read_text()) for r in ("r1", "r2"))
    assert r2["format_version"] == schemas.FORMAT_VERSION and r2["commitments"] != r1["commitments"]
    envelope = json.loads((world["r1"] / "manifest.dsse.json").read_text())
    parent = r2["lineage"]["parent"]
    assert parent["manifest_sha256"] == envelope["payloadSha256"]
    assert parent["signature"]["sig"] == envelope["signatures"][0]["sig"]
    out = cli("verify-proof", "--bundle", world["b2"], prove_to(world, "r2", "--url", PII_URL))
    assert out.startswith(f"{PII_URL} is NOT in release r2: it was removed (stage optout, reason optout_registry)")
    assert f", built {r2['lineage']['derived_at']}." in out
    in_r1 = cli("verify-proof", "--bundle", world["b1"], prove_to(world, "r1", "--url", PII_URL))
    assert in_r1.startswith(f"{PII_URL} IS in release r1")
    assert verify_release(world["r2"], pubkey=world["key"].with_name("provider.pub")).ok


def test_verify_rebuilds_the_commitments_and_checks_the_signature(world, tmp_path):
    report = verify_release(world["r1"], pubkey=world["key"].with_name("provider.pub"))
    names = {c.name: c for c in report.checks}
    assert report.ok and names["manifest signature (manifest.dsse.json)"].ok
    assert {"commitment urls (kept URL identities and removal records)",
            "commitment texts (normalised texts of the kept documents)"} <= set(names)  # fmt: skip
    wrong = verify_release(world["r1"], pubkey=world["other"].with_name("other.pub"))
    failed = [c for c in wrong.checks if not c.ok]
    assert [c.name for c in failed] == ["manifest signature (manifest.dsse.json)"]
    assert "is signed by key" in failed[0].detail

    copy = tmp_path / "r1"
    shutil.copytree(world["r1"], copy)
    shutil.rmtree(copy / "index")
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["commitments"]["trees"]["texts"]["root"] = "0" * 64
    (copy / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    failed = {c.name: c.detail for c in verify_release(copy).checks if not c.ok}
    assert set(failed) == {"commitment texts (normalised texts of the kept documents)",
                           "commitments sidecar (commitments/)", "manifest signature (manifest.dsse.json)"}  # fmt: skip
    texts = failed["commitment texts (normalised texts of the kept documents)"]
    assert "the manifest says root 0000000000000000" in texts


def test_a_damaged_or_missing_sidecar_never_gives_a_wrong_proof(world, tmp_path):
    copy = tmp_path / "r1"
    shutil.copytree(world["r1"], copy)
    url = "http://en.news.test/article/2"
    keys = np.load(copy / "commitments" / "urls.keys.npy")
    np.save(copy / "commitments" / "urls.keys.npy", keys[::-1].copy())  # same shape, wrong leaves
    checks = {c.name: c for c in verify_release(copy).checks}
    assert not checks["commitments sidecar (commitments/)"].ok
    prover = Prover(copy)
    proof = prover.url(url)
    assert proof["answer"] == "in" and "did not check" in prover.source
    shutil.rmtree(copy / "commitments")
    prover = Prover(copy)
    assert prover.source.startswith("recomputed from the tables (no commitments/ sidecar)")
    assert prover.url(url) == proof
    assert verify_release(copy).ok


def test_forged_and_foreign_proofs_are_refused_in_one_line(world):
    good = json.loads(prove_to(world, "r1", "--url", "http://en.blog.test/short").read_text())
    forged = world["base"] / "forged.json"

    def refused(proof: dict) -> str:
        forged.write_text(json.dumps(proof))
        return one_line_error("verify-proof", "--bundle", world["b1"], forged)

    s = good["statements"][0]
    for field, n in [*(("leaves", n) for n in range(len(s["leaves"]))), ("hashes", None)]:
        raw = bytearray(base64.b64decode(s[field] if n is None else s[field][n]))
        raw[len(raw) // 2] ^= 0x40
        bad = json.loads(json.dumps(good))
        changed = base64.b64encode(bytes(raw)).decode()
        bad["statements"][0].update({field: changed} if n is None else {})
        if n is not None:
            bad["statements"][0][field][n] = changed
        assert "do not lead to the signed root: altered proof" in refused(bad)
    bad = json.loads(json.dumps(good))
    bad["statements"][0]["first"] += 1
    assert "do not lead to the signed root" in refused(bad)
    bad["statements"][0]["first"] -= 1
    bad["statements"][0]["leaves"] = bad["statements"][0]["leaves"][:1]
    assert "do not lead to the signed root" in refused(bad)
    bad = json.loads(json.dumps(good))
    bad["statements"][0]["root"] = "f" * 64  # format 2 takes the root from the signed manifest only
    assert "statement 1 has an unexpected field 'root'" in refused(bad)
    bad = json.loads(json.dumps(good))
    bad["subject"]["url"] = "http://en.blog.test/other"  # the leaves are about another key: refused, whatever fails
    refused(bad)
    bad["subject"]["url"] = "ftp://en.blog.test/short"
    assert "has no URL identity" in refused(bad)
    bad = json.loads(json.dumps(good))
    bad["answer"] = "not_in"
    assert "the leaves prove 'removed', but the answer says 'not_in'" in refused(bad)

    foreign = prove_to(world, "r2", "--url", "http://en.blog.test/short", name="r2.json")
    assert "this proof is for release 'r2'" in one_line_error("verify-proof", "--bundle", world["b1"], foreign)

    text = forged.read_text()
    forged.write_text(json.dumps(good)[:200])
    assert "the proof is not JSON" in one_line_error("verify-proof", "--bundle", world["b1"], forged)
    forged.write_text("this is not a proof\n")
    assert "the proof is not JSON" in one_line_error("verify-proof", "--bundle", world["b1"], forged)
    forged.write_bytes(b"\xff\xfe{")
    assert "the proof is not JSON" in one_line_error("verify-proof", "--bundle", world["b1"], forged)
    forged.write_text("[1, 2]")
    assert "the proof is not a JSON object" in one_line_error("verify-proof", "--bundle", world["b1"], forged)
    assert "cannot read the proof" in one_line_error("verify-proof", "--bundle", world["b1"], world["base"] / "nope")
    forged.write_bytes(b" " * (2 << 20))
    assert "not a proof" in one_line_error("verify-proof", "--bundle", world["b1"], forged)
    assert text  # the file was a real proof before it was cut


def test_a_format_1_proof_still_verifies_and_says_the_same(world):
    """Proofs written before format 2 (a path per leaf, the tree's size and root repeated) are still read: the same
    sentence as the format-2 proof of the same page; one altered byte of a path is still refused."""
    from tests.proofs.test_property import v1_statement

    prover = Prover(world["r1"])
    for url in ("http://en.blog.test/short", "http://en.news.test/article/1", "https://nowhere.test/a"):
        new = prover.url(url)
        old = {**new, "format_version": 1}
        old["statements"] = [v1_statement("urls", prover.commitments.trees["urls"], url_leaf_key(url_key(url)))]
        jsonschema.validate(old, schemas.proof_schema(1))
        sentences = []
        for proof in (new, old):
            path = world["base"] / "either.json"
            path.write_text(proof_json(proof))
            sentences.append(cli("verify-proof", "--bundle", world["b1"], path))
        assert sentences[0] == sentences[1] and len(proof_json(new)) < len(proof_json(old))
        leaf = old["statements"][0]["leaves"][0]
        raw = bytearray(base64.b64decode(leaf["path"]))
        raw[5] ^= 1
        leaf["path"] = base64.b64encode(bytes(raw)).decode()
        path.write_text(proof_json(old))
        assert "does not lead to the signed root: altered proof" in one_line_error("verify-proof", "--bundle",
                                                                                   world["b1"], path)  # fmt: skip


def test_edited_bundles_and_wrong_keys_are_refused_in_one_line(world, tmp_path):
    proof = prove_to(world, "r1", "--url", "http://de.news.test/article/0")
    good = cli("verify-proof", "--bundle", world["b1"], proof, "--pubkey", world["key"].with_name("provider.pub"))
    assert "(your --pubkey)" in good

    def edited(name: str, change) -> Path:
        bundle = tmp_path / f"b-{name}-{len(list(tmp_path.iterdir()))}"
        shutil.copytree(world["b1"], bundle)
        (bundle / name).write_bytes(change((bundle / name).read_bytes()))
        return bundle

    bundle = edited("manifest.json", lambda b: b.replace(b'"kept": ', b'"kept":  ', 1))
    assert "manifest.json was changed after it was signed" in one_line_error("verify-proof", "--bundle", bundle, proof)
    envelope = json.loads((world["b1"] / "manifest.dsse.json").read_text())
    sig = bytearray(base64.b64decode(envelope["signatures"][0]["sig"]))
    sig[5] ^= 1
    envelope["signatures"][0]["sig"] = base64.b64encode(bytes(sig)).decode()
    bundle = edited("manifest.dsse.json", lambda _: json.dumps(envelope).encode())
    assert "does not verify with key" in one_line_error("verify-proof", "--bundle", bundle, proof)
    bundle = edited("manifest.dsse.json", lambda b: b[: len(b) // 2])
    assert "is not JSON" in one_line_error("verify-proof", "--bundle", bundle, proof)
    other = world["other"].with_name("other.pub")
    wrong = one_line_error("verify-proof", "--bundle", world["b1"], proof, "--pubkey", other)
    assert "is signed by key" in wrong and "not by the key" in wrong
    assert "lacks manifest.json" in one_line_error("verify-proof", "--bundle", tmp_path, proof)
    assert "no bundle at" in one_line_error("verify-proof", "--bundle", tmp_path / "absent", proof)

    # an attacker re-signs an edited manifest with their own key and ships that key in the bundle: it is
    # self-consistent, and the sentence says whose key it is; the provider's key refuses it
    attacker = tmp_path / "attacker"
    cli("keys", "new", "--out", attacker)
    fake = tmp_path / "fake-release"
    shutil.copytree(world["r1"], fake)
    cli("release", "sign", fake, "--key", attacker, "--force")
    fake_bundle = tmp_path / "fake-bundle"
    cli("release", "bundle", fake, "--out", fake_bundle)
    out = cli("verify-proof", "--bundle", fake_bundle, proof)
    attacker_id = json.loads((fake_bundle / "bundle.json").read_text())["key_id"]
    assert f"signed by key {attacker_id[:16]}… (the bundle's own key: compare its id with the provider's)" in out
    provider = world["key"].with_name("provider.pub")
    refused = one_line_error("verify-proof", "--bundle", fake_bundle, proof, "--pubkey", provider)
    assert "not by the key" in refused


def test_a_refusal_in_a_real_process_is_one_line_and_exit_1(world):
    bad = world["base"] / "truncated.json"
    bad.write_text(prove_to(world, "r1", "--url", "http://it.news.test/article/0").read_text()[:-40])
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "pipeline.cli", "verify-proof", "--bundle", str(world["b1"]), str(bad)]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("error: proof rejected: the proof is not JSON")


def test_the_bundle_holds_no_text_and_what_it_lists(world):
    info = json.loads((world["b1"] / "bundle.json").read_text())
    names = {f["path"] for f in info["files"]}
    assert names == {"manifest.json", "manifest.dsse.json", "manifest.pubkey.pem", "eu_summary.md",
                     "eu_summary.json", "croissant.json", "datasheet.md"}  # fmt: skip
    assert (world["b1"] / "manifest.json").read_bytes() == (world["r1"] / "manifest.json").read_bytes()
    published = b"".join(p.read_bytes() for p in world["b1"].iterdir())
    texts = pl.read_parquet(world["r1"] / "documents" / "*.parquet")["text"]
    for text in texts:
        for start in range(0, max(len(text) - 60, 1), 400):
            assert text[start : start + 60].encode() not in published


def test_keys_and_signing_refuse_to_overwrite_or_sign_a_broken_release(world, tmp_path):
    key = world["key"]
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    before = key.read_bytes()
    result = runner.invoke(app, ["keys", "new", "--out", str(key)])
    assert result.exit_code == 2 and "already exists" in result.output and key.read_bytes() == before
    result = runner.invoke(app, ["release", "sign", str(world["r1"]), "--key", str(key)])
    assert result.exit_code == 2 and "already exists: pass --force" in result.output
    broken = tmp_path / "broken"
    shutil.copytree(world["r1"], broken)
    part = next((broken / "documents").glob("*.parquet"))
    part.write_bytes(part.read_bytes()[:-10])
    result = runner.invoke(app, ["release", "sign", str(broken), "--key", str(key), "--force"])
    assert result.exit_code == 1 and "does not verify" in result.output
    unsigned = tmp_path / "unsigned"
    shutil.copytree(world["r1"], unsigned)
    (unsigned / "manifest.dsse.json").unlink()
    result = runner.invoke(app, ["release", "bundle", str(unsigned), "--out", str(tmp_path / "b")])
    assert result.exit_code == 2 and "is not signed" in result.output and not (tmp_path / "b").exists()


def test_records_without_a_url_identity_are_counted_and_their_texts_still_proven(tmp_path):
    """A Parquet input whose rows have no URL, an ftp URL or an https URL: only the last are in the URL tree;
    every kept text is in the text tree. The manifest counts the others (construction: 2 + 2 kept without)."""
    pages = [make_page(i, f"https://site.test/{i}", "en") for i in range(6)]
    urls = [None, "ftp://files.test/a", "https://site.test/2", None, "ftp://files.test/b", "https://site.test/5"]
    rows = {
        "text": [p.text for p in pages] + [None, None],
        "id": [f"doc-{i}" for i in range(8)],
        "url": [*urls, None, "https://site.test/empty"],
        "language": ["en"] * 8,
    }
    source = tmp_path / "rows.parquet"
    pq.write_table(pa.table(rows), source)
    release = tmp_path / "r"
    cli("run", source, "--out", release, "--no-index")
    manifest = json.loads((release / "manifest.json").read_text())
    section = manifest["commitments"]
    assert section["not_committed"] == {"documents_without_url_key": 4, "removals_without_url_key": 1}
    assert section["trees"]["urls"]["kept"] == 2 and section["trees"]["urls"]["removals"] == 1
    assert section["trees"]["texts"]["leaves"] == 6
    prover = Prover(release)
    for page in pages:
        assert prover.text(page.text)["answer"] == "in"
    assert prover.url("https://site.test/empty")["answer"] == "removed"
    assert prover.url("https://site.test/0")["answer"] == "not_in"  # its row had no URL: nothing to prove by URL


def test_keys_new_makes_a_missing_directory_for_its_owner_only_and_refuses_a_file_in_the_way(tmp_path):
    """The README's first proof command, `keys new --out keys/provider`, is typed where no keys/ exists yet."""
    output = cli("keys", "new", "--out", tmp_path / "keys" / "provider")
    assert (tmp_path / "keys" / "provider.pub").is_file() and "provider.pub" in output
    assert stat.S_IMODE((tmp_path / "keys").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "keys" / "provider").stat().st_mode) == 0o600
    (tmp_path / "file").write_text("in the way")
    result = runner.invoke(app, ["keys", "new", "--out", str(tmp_path / "file" / "provider")])
    assert result.exit_code == 2 and "is not a directory" in result.output and "Traceback" not in result.output

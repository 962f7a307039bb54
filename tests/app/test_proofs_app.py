"""The app's proof panels (issue 21): the overview shows the manifest's Merkle roots and whether the signature
verifies; the rights-holder page offers, for a checked URL or text, the proof `apertura prove` gives, with the
command that checks it. Driven with AppTest over a signed copy of the app's test release."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from typer.testing import CliRunner

from audit_app import proofs, queries, registry
from pipeline.cli import app
from pipeline.proofs.check import verify_proof
from pipeline.proofs.prove import Prover, proof_json
from tests.app.conftest import OLD_URL
from tests.app.test_pages import assert_no_raw_html, texts

VIEWS = Path(__file__).resolve().parents[2] / "audit_app" / "views"
runner = CliRunner()


def _cli(*args: object) -> None:
    result = runner.invoke(app, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output


@pytest.fixture(scope="module")
def signed_root(app_release, tmp_path_factory) -> dict:
    _, release, manifest, _ = app_release
    root = tmp_path_factory.mktemp("proof_root")
    r1 = root / "releases" / "r1"
    shutil.copytree(release, r1)
    key = root / "provider"
    _cli("keys", "new", "--out", key)
    _cli("release", "sign", r1, "--key", key)
    _cli("release", "bundle", r1, "--out", root / "bundle")
    return {"root": root, "r1": r1, "manifest": manifest, "bundle": root / "bundle"}


@pytest.fixture
def env(signed_root, monkeypatch) -> dict:
    monkeypatch.setenv(queries.DATA_ROOT_ENV, str(signed_root["root"]))
    monkeypatch.setenv("APERTURA_RELEASE", "releases/r1")
    monkeypatch.delenv(registry.REGISTRY_ENV, raising=False)
    return signed_root


def _run(name: str) -> AppTest:
    return AppTest.from_file(str(VIEWS / f"{name}.py"), default_timeout=60).run()


def test_overview_shows_the_roots_and_a_verified_signature(env):
    at = _run("overview")
    assert not at.exception
    assert "Commitments and signature" in [s.value for s in at.subheader]
    trees = next(d.value for d in at.dataframe if "root" in d.value.columns)
    want = env["manifest"]["commitments"]["trees"]
    assert dict(zip(trees["tree"], trees["root"], strict=True)) == {n: t["root"] for n, t in want.items()}
    kid = json.loads((env["bundle"] / "bundle.json").read_text())["key_id"]
    assert len(at.success) == 1 and kid in at.success[0].value and at.success[0].value.startswith("Signature verifies")
    assert_no_raw_html(at)


def test_overview_says_when_the_signature_does_not_verify(env, tmp_path, monkeypatch):
    copy = env["root"] / "releases" / "tampered"
    shutil.copytree(env["r1"], copy)
    try:
        envelope = json.loads((copy / "manifest.dsse.json").read_text())
        envelope["payloadSha256"] = "0" * 64
        (copy / "manifest.dsse.json").write_text(json.dumps(envelope))
        monkeypatch.setenv("APERTURA_RELEASE", "releases/tampered")
        at = _run("overview")
        assert not at.exception
        assert len(at.error) == 1 and "Signature does NOT verify" in at.error[0].value
        assert "changed after it was signed" in at.error[0].value
        (copy / "manifest.dsse.json").unlink()
        (copy / "manifest.pubkey.pem").unlink()
        at = _run("overview")
        assert not at.error and "Not signed" in texts(at)
    finally:
        shutil.rmtree(copy)


def _rights(kind: str, value: str) -> AppTest:
    at = _run("rights_holder")
    at.radio(key="rh_kind").set_value(kind).run()
    if kind == "url":
        at.text_input(key="rh_url").set_value(value).run()
    else:
        at.text_area(key="rh_text").set_value(value).run()
    assert not at.exception
    return at


def test_rights_holder_page_offers_the_proof_of_a_url_and_how_to_check_it(env, tmp_path):
    at = _rights("url", OLD_URL)
    labels = [b.proto.label for b in at.get("download_button")]
    assert "Download the proof for r1 (in)" in labels
    assert "apertura verify-proof --bundle <bundle> proof-r1-url.json" in [c.value for c in at.code]
    # what is offered is what `apertura prove` gives, and it checks against the release's bundle
    stamp = proofs._stamp(env["r1"])
    body, answer = proofs._proof(str(env["r1"]), stamp, "url", OLD_URL)
    assert answer == "in" and body == proof_json(Prover(env["r1"]).url(OLD_URL))
    path = tmp_path / "proof.json"
    path.write_text(body)
    assert verify_proof(env["bundle"], path).sentence.startswith(f"{OLD_URL} IS in release r1")
    assert_no_raw_html(at)


def test_rights_holder_page_offers_the_proof_of_a_text(env):
    at = _rights("text", "A text that was never published anywhere, written for this test only.")
    assert "Download the proof for r1 (not in)" in [b.proto.label for b in at.get("download_button")]
    assert "apertura verify-proof --bundle <bundle> proof-r1-text.json --text-file your-text.txt" in [
        c.value for c in at.code
    ]

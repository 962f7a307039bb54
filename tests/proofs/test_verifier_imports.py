"""The offline verifier stays light (issue 21: `verify-proof` < 100 ms from a cold start of the check), and its
fast reading of an Ed25519 public key accepts exactly what `cryptography`'s general PEM parser accepts as one.

What each test protects: a refactor that pulls numpy/polars/duckdb/pyarrow, `dataclasses` or cryptography's
`serialization` package (SSH, ciphers: ~25 ms) back onto the path of checking a proof; a hand-read PEM that
would take another key, or another kind of key, for the signer's."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from pipeline.proofs import signing
from pipeline.proofs.leaves import SCHEME, url_leaf_key
from pipeline.proofs.merkle import EMPTY_ROOT
from pipeline.proofs.tree import SortedTree, keys_array

HEAVY = ("numpy", "polars", "duckdb", "pyarrow", "dataclasses", "cryptography.hazmat.primitives.serialization")

CHILD = """
import json, sys
from pipeline.proofs.check import verify_proof
verdict = verify_proof(sys.argv[1], sys.argv[2])
print(json.dumps({"answer": verdict.answer, "loaded": sorted(m for m in sys.modules if m.startswith(%r))}))
"""


def _bundle_and_proof(tmp_path: Path) -> tuple[Path, Path]:
    """A signed manifest with a one-leaf urls tree, and a proof that the URL is in (made by `prove.statement`)."""
    from pipeline.proofs.prove import statement

    key = url_leaf_key("example.org/page")
    tree = SortedTree.build(keys_array([key]))
    manifest = {"format": "apertura-release", "format_version": 5, "release_id": "tiny",
                "commitments": {"scheme": SCHEME, "trees": {
                    "urls": {"root": tree.root.hex(), "leaves": 1, "kept": 1, "removals": 0},
                    "texts": {"root": EMPTY_ROOT.hex(), "leaves": 0}}}}  # fmt: skip
    release = tmp_path / "release"
    release.mkdir()
    (release / signing.MANIFEST).write_text(json.dumps(manifest))
    signing.new_keypair(tmp_path / "key")
    signing.sign_release(release, tmp_path / "key")
    from hashlib import sha256

    proof = {"format": "apertura-proof", "format_version": 2, "release_id": "tiny",
             "manifest_sha256": sha256((release / signing.MANIFEST).read_bytes()).hexdigest(),
             "subject": {"kind": "url", "url": "https://example.org/page"}, "answer": "in",
             "statements": [statement("urls", tree, key)]}  # fmt: skip
    path = tmp_path / "proof.json"
    path.write_text(json.dumps(proof))
    return release, path


def test_checking_a_proof_imports_nothing_heavy(tmp_path):
    bundle, proof = _bundle_and_proof(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    done = subprocess.run([sys.executable, "-c", CHILD % (HEAVY,), str(bundle), str(proof)], env=env,
                          capture_output=True, text=True, timeout=60, check=True)  # fmt: skip
    result = json.loads(done.stdout)
    assert result["answer"] == "in"  # the proof was really checked
    assert result["loaded"] == []


def _pem(key) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def test_an_ed25519_pem_is_read_as_the_general_parser_reads_it():
    for _ in range(20):
        key = ed25519.Ed25519PrivateKey.generate().public_key()
        pem = _pem(key)
        for variant in (pem, pem.replace(b"\n", b"\r\n"), b"\n" + pem + b"\n\n"):
            fast = signing.public_key_from_pem(variant, "k")
            reference = serialization.load_pem_public_key(variant)
            assert fast.public_bytes_raw() == reference.public_bytes_raw() == key.public_bytes_raw()
            assert signing.key_id(fast) == signing.key_id(reference)


def test_other_keys_and_broken_pems_are_refused_as_before():
    ec_key = ec.generate_private_key(ec.SECP256R1()).public_key()
    with pytest.raises(signing.SignatureError, match="is not an Ed25519 public key"):
        signing.public_key_from_pem(_pem(ec_key), "k")
    pem = _pem(ed25519.Ed25519PrivateKey.generate().public_key())
    body = base64.b64decode(b"".join(pem.splitlines()[1:-1]))
    for broken in (
        pem.replace(b"PUBLIC KEY", b"PRIVATE KEY"),
        pem[:40],  # cut
        b"-----BEGIN PUBLIC KEY-----\n" + base64.b64encode(body[:-1]) + b"\n-----END PUBLIC KEY-----\n",
        b"-----BEGIN PUBLIC KEY-----\n" + base64.b64encode(body + b"\x00") + b"\n-----END PUBLIC KEY-----\n",
        b"not a key",
    ):
        with pytest.raises(signing.SignatureError, match="is not a PEM public key"):
            signing.public_key_from_pem(broken, "k")


ENTRY = """
import json, sys
sys.argv = ["apertura", *sys.argv[1:]]
import apertura_cli
try:
    apertura_cli.main()
finally:
    heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("polars", "duckdb", "pyarrow", "numpy"))
    print(json.dumps(heavy), file=sys.stderr)
"""


def test_the_apertura_command_checks_a_proof_without_the_whole_cli(tmp_path):
    """`apertura verify-proof` imported the whole CLI first (~0.5 s of CPU: polars, duckdb, every step); it now runs
    the one command: the same sentence and the same one-line refusal and exit code as the whole CLI gives."""
    from typer.testing import CliRunner

    from pipeline.cli import app

    bundle, proof = _bundle_and_proof(tmp_path)
    forged = tmp_path / "forged.json"
    forged.write_text(proof.read_text().replace('"answer": "in"', '"answer": "not_in"'))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    for path, code in ((proof, 0), (forged, 1)):
        args = ["verify-proof", str(path), "--bundle", str(bundle)]
        done = subprocess.run([sys.executable, "-c", ENTRY, *args], env=env, capture_output=True, text=True,
                              timeout=60)  # fmt: skip
        *said, heavy = done.stderr.splitlines()
        assert json.loads(heavy) == []
        whole = CliRunner().invoke(app, args)
        assert done.returncode == whole.exit_code == code
        assert (done.stdout + "\n".join(said)).strip() == whole.output.strip()
        assert ("IS in release tiny" if code == 0 else "error: proof rejected: ") in whole.output

"""`apertura prove`: a proof, from the release, that a URL or a text is in it, is not, or was removed and why.

A proof (format 2, `schemas/proof.v2.json`) names the release's manifest by its sha256 and holds one statement
per key it is about: the tree, the key (for a text; a URL's key is the URL's), the claim (inclusion or
exclusion), the consecutive leaves that show it (from index `first`) and, once, the hashes of the nodes beside
them that lead to the root (a range proof: what two leaves' RFC 9162 paths share, or what a shown leaf gives, is
not repeated). The tree's size and root come from the signed manifest. `verify-proof` also reads format 1
(`schemas/proof.v1.json`: size, root and a path per leaf), which this version no longer writes.

* a URL: its key is SHA-256 of its `url_key`. Present as a kept page: inclusion of that 32-byte leaf.
  Otherwise exclusion, showing the leaf before the gap, every removal record of the page (they follow the
  gap) and the leaf after them: "not in, removed at stage S for reason R" or "not in, and never removed".
* a text: its keys are the `norm_sha256` of each form the release may hold it in (`texts.py`). Inclusion of
  the first one present; otherwise an exclusion for every one.

Every proof is checked with the verifier's own code against the manifest before it is returned; a sidecar
that led to a proof that does not check is set aside and the proof recomputed from the tables.
"""

from __future__ import annotations

import base64
import json
from hashlib import sha256
from pathlib import Path
from typing import Any

from pipeline.proofs.check import PROOF_FORMAT, PROOF_VERSION, ProofError, check_proof, parse_proof
from pipeline.proofs.commitments import Commitments, build_commitments, release_commitments
from pipeline.proofs.leaves import KEPT, CommitmentError, manifest_commitments, url_leaf_key
from pipeline.proofs.merkle import range_root
from pipeline.proofs.tree import SortedTree

MANIFEST = "manifest.json"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _shown(tree: SortedTree, lo: int, hi: int) -> dict[str, Any]:
    """Consecutive leaves [lo, hi) and the hashes of the nodes beside them that lead to the root (format 2:
    `merkle.range_root`'s order), so a hash shared by two leaves' paths, or computable from a shown leaf, is
    given once or not at all."""
    if lo == hi:
        return {"first": 0, "leaves": [], "hashes": ""}
    needed: list[bytes] = []

    def sibling(height: int, index: int) -> bytes:
        needed.append(tree.node(height, index))
        return needed[-1]

    range_root(lo, tree.size, tree.leaf_hashes(lo, hi), sibling)
    return {"first": lo, "leaves": [_b64(tree.data(i)) for i in range(lo, hi)], "hashes": _b64(b"".join(needed))}


def statement(name: str, tree: SortedTree, key: bytes) -> dict[str, Any]:
    """Inclusion of the leaf equal to `key`, or exclusion: the leaves around the gap where it would be, with
    every leaf sharing its key (a page's removal records) and the first leaf after them. The tree's size and
    root are not repeated: the verifier takes them from the signed manifest."""
    lo, hi = tree.find(key)
    head: dict[str, Any] = {"tree": name}
    if name == "texts":  # a URL statement's key is the URL's; a text statement names which hash it is about
        head["key"] = key.hex()
    if lo < hi and tree.data(lo) == key + KEPT:
        return {**head, "claim": "inclusion", **_shown(tree, lo, lo + 1)}
    return {**head, "claim": "exclusion", **_shown(tree, max(lo - 1, 0), min(hi + 1, tree.size))}


class Prover:
    """Proofs about one release, from its commitments sidecar when sound, else from its tables (slower)."""

    def __init__(self, release: Path, commitments: Commitments | None = None) -> None:
        self.release = Path(release)
        try:
            self.manifest_bytes = (self.release / MANIFEST).read_bytes()
            self.manifest = json.loads(self.manifest_bytes)
        except OSError as err:
            raise ProofError(f"{self.release} is not a release: {MANIFEST} cannot be read ({err.strerror})") from None
        except (ValueError, UnicodeDecodeError) as err:
            raise ProofError(f"{self.release / MANIFEST} is not JSON ({err})") from None
        if not isinstance(self.manifest, dict) or not isinstance(self.manifest.get("files"), list):
            raise ProofError(f"{self.release / MANIFEST} is not a release manifest")
        self.manifest_sha256 = sha256(self.manifest_bytes).hexdigest()
        try:
            manifest_commitments(self.manifest)
            if commitments is None:
                commitments, self.source = release_commitments(self.release, self.manifest, self.manifest_sha256)
            else:
                self.source = f"given ({commitments.source})"
        except CommitmentError as err:
            raise ProofError(str(err)) from None
        self.commitments = commitments

    def _proof(self, subject: dict[str, Any], statements: list[dict[str, Any]], answer: str) -> dict[str, Any]:
        return {
            "format": PROOF_FORMAT,
            "format_version": PROOF_VERSION,
            "release_id": self.manifest.get("release_id"),
            "manifest_sha256": self.manifest_sha256,
            "subject": subject,
            "answer": answer,
            "statements": statements,
        }

    def _checked(self, make) -> dict[str, Any]:
        """`make()`'s proof once it checks against the manifest; recomputed from the tables if a sidecar misled."""
        proof = make()
        try:
            check_proof(parse_proof(json.dumps(proof).encode()), self.manifest, self.manifest_sha256)
            return proof
        except ProofError as err:
            if self.commitments.source != "sidecar":
                raise ProofError(
                    f"the release's tables do not match its manifest's commitments ({err}): run `apertura verify`"
                ) from None
        try:
            self.commitments = build_commitments(self.release, self.manifest["files"])
        except CommitmentError as err:
            raise ProofError(str(err)) from None
        self.source = "recomputed from the tables (the commitments/ sidecar gave a proof that did not check)"
        return self._checked(make)

    def url(self, url: str) -> dict[str, Any]:
        from pipeline import url_identity

        try:
            canonical = url_identity.user_url((url or "").replace("\x00", ""))
        except url_identity.BadUrl as err:
            raise ProofError(str(err)) from None
        key = url_identity.url_key(canonical)

        def make() -> dict[str, Any]:
            s = statement("urls", self.commitments.trees["urls"], url_leaf_key(key))
            shown = [base64.b64decode(leaf) for leaf in s["leaves"]]
            removed = any(d[:32] == url_leaf_key(key) for d in shown)
            answer = "in" if s["claim"] == "inclusion" else "removed" if removed else "not_in"
            return self._proof({"kind": "url", "url": canonical}, [s], answer)

        return self._checked(make)

    def text(self, text: str) -> dict[str, Any]:
        from pipeline.proofs.texts import released_norm_hashes

        hashes = released_norm_hashes(text or "", self.manifest)
        if not hashes:
            raise ProofError("the text has no words once normalised (only spaces, punctuation or symbols)")

        def make() -> dict[str, Any]:
            tree = self.commitments.trees["texts"]
            statements = [statement("texts", tree, bytes.fromhex(h)) for h in hashes]
            found = next((s for s in statements if s["claim"] == "inclusion"), None)
            subject = {"kind": "text", "norm_sha256": hashes}
            if found is not None:
                return self._proof(subject, [found], "in")
            return self._proof(subject, statements, "not_in")

        return self._checked(make)


def proof_json(proof: dict[str, Any]) -> str:
    """A proof as it is printed and stored: compact JSON, one line."""
    return json.dumps(proof, separators=(",", ":")) + "\n"

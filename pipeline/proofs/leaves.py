"""What the leaves of a release's commitments are, byte for byte: one definition for building and for checking.

Two trees, each over sorted, unique leaf data (RFC 9162 hashing, `merkle.py`):

* `urls`: one leaf per kept URL identity and one per removal record:
  - a kept document: SHA-256 of its UTF-8 `url_key` (the scheme-less URL identity of `pipeline.url_identity`,
    so http and https of one page are one leaf): exactly 32 bytes;
  - a removed record (ledger row): the same 32 bytes, then its stage, one 0x00 byte and its reason (UTF-8).
  Sorted by bytes, a page's kept leaf comes right before its removal leaves (a prefix sorts first), so one
  proof about one key says at once whether the page is in, and if not, whether and why it was removed.
* `texts`: the `norm_sha256` of every kept document (the SHA-256 of its normalised text,
  `pipeline.text_identity`), as 32 bytes.

A leaf's first 32 bytes are its *key*; a proof looks a key up. Leaves hold hashes, not URLs or texts, so
an exclusion proof, which shows the leaves on either side of the missing key, reveals their hashes (and a
removal leaf's stage and reason), never a neighbour's URL or text.

Only `hashlib`: the verifier imports this module.
"""

from __future__ import annotations

from hashlib import sha256

SCHEME = "rfc9162-sha256-sorted/1"
KEY_BYTES = 32
TREES: dict[str, str] = {
    "urls": "kept URL identities and removal records",
    "texts": "normalised texts of the kept documents",
}
LABELLED = frozenset({"urls"})  # trees whose leaves may carry a label after the key
KEPT = b""  # the label of a kept document's URL leaf: nothing after the key


def url_leaf_key(url_key: str) -> bytes:
    """The key of a URL identity in `urls`."""
    return sha256(url_key.encode("utf-8")).digest()


def text_leaf_key(norm_sha256: str) -> bytes:
    """The key of a normalised-text hash (64 hex digits) in `texts`."""
    key = bytes.fromhex(norm_sha256)
    if len(key) != KEY_BYTES:
        raise ValueError(f"not a sha256: {norm_sha256[:80]!r}")
    return key


def label(stage: str, reason: str) -> bytes:
    """The bytes after the key of a removal leaf. A stage never holds 0x00 (it ends at the first one)."""
    if not stage or "\x00" in stage:
        raise ValueError(f"a removal's stage is empty or holds a NUL character: {stage[:80]!r}")
    return stage.encode("utf-8") + b"\x00" + reason.encode("utf-8")


def parse_label(data: bytes) -> tuple[str, str]:
    """(stage, reason) of a removal leaf's data (key included). ValueError when it is not one."""
    stage, sep, reason = data[KEY_BYTES:].partition(b"\x00")
    if len(data) <= KEY_BYTES or not sep or not stage:
        raise ValueError("not a removal leaf (no stage and reason after the key)")
    return stage.decode("utf-8"), reason.decode("utf-8")


class CommitmentError(RuntimeError):
    """Commitments cannot be built, read or trusted; the message says what and where (one line)."""


def manifest_commitments(manifest: dict) -> dict:
    """The manifest's `commitments` section, checked for shape; CommitmentError (one line) for a release without
    them or with a scheme this apertura does not implement."""
    section = manifest.get("commitments") if isinstance(manifest, dict) else None
    version = manifest.get("format_version") if isinstance(manifest, dict) else None
    if section is None:
        release = manifest.get("release_id", "?") if isinstance(manifest, dict) else "?"
        raise CommitmentError(
            f"release {release} is format {version}: it predates commitments (format 4), so nothing about it can "
            "be proven; derive a new release from it (`apertura release derive`)"
        )
    trees = section.get("trees") if isinstance(section, dict) else None
    if not isinstance(trees, dict) or any(
        not isinstance(trees.get(n), dict)
        or not isinstance(trees[n].get("leaves"), int)
        or trees[n]["leaves"] < 0
        or not isinstance(trees[n].get("root"), str)
        or len(trees[n]["root"]) != 64
        or not set(trees[n]["root"]) <= set("0123456789abcdef")
        for n in TREES
    ):
        raise CommitmentError("the manifest's commitments section is malformed")
    if section.get("scheme") != SCHEME:
        raise CommitmentError(
            f"the manifest's commitments use scheme {section.get('scheme')!r}; this apertura: {SCHEME}"
        )
    return section

"""`apertura verify-proof`: check a proof offline against a public bundle's signed manifest, and say what it proves.

Nothing in a proof is taken on trust. The bundle's manifest must carry a valid signature (`signing.py`); the
proof must name that manifest's sha256; every statement must be about a tree of the manifest's size and root;
every leaf it shows must lead to that root by RFC 9162 inclusion verification; the key it is about is computed
here from the subject (the URL identity of the URL, recomputed by `pipeline.url_identity`; with `--text-file`
the normalised-text hashes of the text, recomputed by `pipeline.text_identity`); and the leaves must say what
the answer says. The sentence is built from what was checked, not from the proof's own words.

What the claims mean (`leaves.py`: trees are sorted and hold unique leaves):
* inclusion: the leaf equal to the key is in the tree;
* exclusion: consecutive leaves are shown (each proven in the tree, their indices adjacent) and the key would
  sit strictly between two of them, or before leaf 0, or after the last leaf: so no leaf equals the key.
  In `urls` the leaves shown after the gap that share the key are the page's removal records, and a shown leaf
  with a greater key (or the tree's last leaf) makes that list complete.

Imports only the standard library, `cryptography`'s Ed25519 module and (for a URL) `ada-url`: ~25 ms of CPU from
a cold start of the check with bytecode compiled, as installed (`bench.proofs_scale verify`). Keep it so: no
numpy, polars, duckdb or pyarrow, no `dataclasses`, no `cryptography...serialization` (`tests/proofs/
test_verifier_imports.py`).
"""

from __future__ import annotations

import base64
import binascii
import json
from hashlib import sha256
from pathlib import Path
from typing import Any, NamedTuple

from pipeline.proofs import signing
from pipeline.proofs.leaves import (
    KEY_BYTES,
    TREES,
    CommitmentError,
    manifest_commitments,
    parse_label,
    url_leaf_key,
)
from pipeline.proofs.merkle import EMPTY_ROOT, leaf_hash, node_hash, range_root, root_from_path

PROOF_FORMAT = "apertura-proof"
PROOF_VERSION = 2  # the version `prove` writes (schemas/proof.v2.json: a range proof per statement)
PROOF_VERSIONS = (1, 2)  # the versions this verifier reads (v1: a path per leaf, the tree's size and root)
ANSWERS = ("in", "not_in", "removed")
MAX_LEAVES = 64  # leaves one statement may show (a page has at most a few dozen distinct removal reasons)
MAX_PATH = 64  # hashes in one audit path (a tree of 2^64 leaves)
MAX_DATA = 32 + 1024  # bytes of one leaf's data
MAX_URL = 8_000
MAX_PROOF_BYTES = 1 << 20  # a proof is a few KB; a larger file is not one (and is not read whole)
BUNDLE_FILES = (signing.MANIFEST, signing.ENVELOPE, signing.PUBLIC_KEY)


class ProofError(ValueError):
    """The proof, the bundle or the key does not check; the message says what failed (one line)."""


class Bundle(NamedTuple):
    """A public bundle's signed manifest, checked. (Named tuples, not dataclasses, here: `dataclasses` costs
    ~8 ms of the verifier's ~25 ms start.)"""

    directory: Path
    manifest: dict[str, Any]
    manifest_sha256: str
    key_id: str
    key_given: bool  # checked with a key the user gave (--pubkey), not only the bundle's own


class Verdict:
    """What a proof proves, filled in as it is checked."""

    def __init__(self, answer: str, release_id: str, subject: dict[str, Any]) -> None:
        self.answer, self.release_id, self.subject = answer, release_id, subject
        self.removals: list[tuple[str, str]] = []  # (stage, reason) of a removed page
        self.removals_complete = False
        self.included_key: str | None = None
        self.url_key: str | None = None  # computed from the subject's URL
        self.sentence = ""
        self.key_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": True,
            "answer": self.answer,
            "release_id": self.release_id,
            "subject": self.subject,
            "removals": [{"stage": s, "reason": r} for s, r in self.removals],
            "key_id": self.key_id,
            "sentence": self.sentence,
        }


# ------------------------------------------------------------------------------------------ bundle


def load_bundle(directory: Path, pubkey: Path | None = None) -> Bundle:
    """The bundle's manifest after its signature verified (with `pubkey` when given, else the bundle's key)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ProofError(f"no bundle at {directory}: give the directory `apertura release bundle` wrote")
    data = {}
    for name in BUNDLE_FILES:
        try:
            data[name] = (directory / name).read_bytes()
        except OSError as err:
            raise ProofError(f"the bundle {directory} lacks {name} ({err.strerror or err})") from None
    try:
        envelope = signing.parse_envelope(data[signing.ENVELOPE], f"the bundle's {signing.ENVELOPE}")
        key = signing.load_public_key(pubkey) if pubkey is not None else signing.public_key_from_pem(
            data[signing.PUBLIC_KEY], f"the bundle's {signing.PUBLIC_KEY}"
        )
        kid = signing.check_envelope(
            data[signing.MANIFEST], envelope, key, where=f"the bundle's {signing.ENVELOPE}"
        )
    except signing.SignatureError as err:
        raise ProofError(str(err)) from None
    try:
        manifest = json.loads(data[signing.MANIFEST])
    except (ValueError, UnicodeDecodeError) as err:
        raise ProofError(f"the bundle's manifest.json is not JSON ({err})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != "apertura-release":
        raise ProofError("the bundle's manifest.json is not an Apertura release manifest")
    return Bundle(directory, manifest, sha256(data[signing.MANIFEST]).hexdigest(), kid, pubkey is not None)


# ------------------------------------------------------------------------------------------ parsing


def _fail(message: str) -> ProofError:
    return ProofError(message)


def _exact(obj: Any, where: str, required: set[str], optional: frozenset[str] = frozenset()) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise _fail(f"{where} is not a JSON object")
    if missing := sorted(required - obj.keys()):
        raise _fail(f"{where} lacks {missing[0]!r}")
    if extra := sorted(obj.keys() - required - optional):
        raise _fail(f"{where} has an unexpected field {extra[0]!r}")
    return obj


def _int(value: Any, where: str, low: int = 0) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise _fail(f"{where} is not an integer ≥ {low}")
    return value


def _hex64(value: Any, where: str) -> str:
    if not signing.is_hex(value, 64):
        raise _fail(f"{where} is not 64 lower-case hexadecimal digits")
    return value


def _b64(value: Any, where: str) -> bytes:
    if not isinstance(value, str):
        raise _fail(f"{where} is not a base64 string")
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise _fail(f"{where} is not valid base64") from None
    if base64.b64encode(raw).decode("ascii") != value:
        raise _fail(f"{where} is not in canonical base64")
    return raw


class _Leaf(NamedTuple):
    index: int
    data: bytes
    path: list[bytes]


def _below(index: int, leaf: bytes, lower: list[bytes]) -> bytes:
    """The hash of the subtree holding leaf `index` at level len(lower), from its leaf hash and the first entries
    of its audit path (every level below has a sibling when a next leaf exists, see `_leaves`)."""
    r = leaf
    for level, p in enumerate(lower):
        r = node_hash(p, r) if (index >> level) & 1 else node_hash(r, p)
    return r


def _leaves(items: Any, where: str) -> list[_Leaf]:
    """Leaves with their full audit paths. A leaf after the first must be the next one of the tree (index + 1)
    and gives only its own lower hashes: its path is those, then the subtree holding the previous leaf at the
    level d - 1 where the two meet (d = bit length of i XOR i+1; computed here from the previous leaf and its
    first d - 1 hashes, which all exist because the next leaf does), then the previous leaf's hashes from level
    d on (the same nodes). A path so completed is checked like any other: it must lead to the signed root."""
    if not isinstance(items, list) or len(items) > MAX_LEAVES:
        raise _fail(f"{where} is not a list of at most {MAX_LEAVES} leaves")
    out: list[_Leaf] = []
    for i, item in enumerate(items):
        at = f"{where}[{i}]"
        _exact(item, at, {"index", "data", "path"})
        index = _int(item["index"], f"{at}.index")
        data = _b64(item["data"], f"{at}.data")
        if not KEY_BYTES <= len(data) <= MAX_DATA:
            raise _fail(f"{at}.data is {len(data)} bytes; a leaf holds {KEY_BYTES} to {MAX_DATA}")
        own = _b64(item["path"], f"{at}.path")
        if len(own) % 32 or len(own) > 32 * MAX_PATH:
            raise _fail(f"{at}.path is not a whole number of at most {MAX_PATH} 32-byte hashes")
        path = [own[j : j + 32] for j in range(0, len(own), 32)]
        if out:
            prev = out[-1]
            if index != prev.index + 1:
                raise _fail(f"{where}: the leaves shown are not consecutive leaves of the sorted tree")
            d = (prev.index ^ index).bit_length()
            if len(prev.path) < d:
                raise _fail(f"{at}: the previous leaf's path is too short for a next leaf")
            path += [_below(prev.index, leaf_hash(prev.data), prev.path[: d - 1]), *prev.path[d:]]
        out.append(_Leaf(index, data, path))
    return out


def _range(s: dict[str, Any], where: str) -> list[_Leaf]:
    """Format 2: consecutive leaves from index `first` (their paths are not given one by one: `hashes` holds,
    once, every node beside the range, checked by `merkle.range_root` against the signed root)."""
    first = _int(s["first"], f"{where}.first")
    items = s["leaves"]
    if not isinstance(items, list) or len(items) > MAX_LEAVES:
        raise _fail(f"{where}.leaves is not a list of at most {MAX_LEAVES} leaves")
    out = []
    for i, item in enumerate(items):
        data = _b64(item, f"{where}.leaves[{i}]")
        if not KEY_BYTES <= len(data) <= MAX_DATA:
            raise _fail(f"{where}.leaves[{i}] is {len(data)} bytes; a leaf holds {KEY_BYTES} to {MAX_DATA}")
        out.append(_Leaf(first + i, data, []))
    hashes = _b64(s["hashes"], f"{where}.hashes")
    if len(hashes) % 32 or len(hashes) > 64 * MAX_PATH:
        raise _fail(f"{where}.hashes is not a whole number of at most {2 * MAX_PATH} 32-byte hashes")
    if not out and (first or hashes):
        raise _fail(f"{where} shows no leaf, so it has no first index and no hashes")
    s["hashes"] = [hashes[j : j + 32] for j in range(0, len(hashes), 32)]
    return out


def parse_proof(raw: bytes) -> dict[str, Any]:
    """The proof as JSON, its shape checked (every field, type and length). ProofError for anything else."""
    try:
        proof = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as err:
        raise _fail(f"the proof is not JSON ({str(err).splitlines()[0]}): truncated or not a proof") from None
    _exact(proof, "the proof", {"format", "format_version", "release_id", "manifest_sha256", "subject", "answer",
                                "statements"})  # fmt: skip
    if proof["format"] != PROOF_FORMAT:
        raise _fail(f"not an Apertura proof (format {str(proof['format'])[:40]!r})")
    version = proof["format_version"]
    if version not in PROOF_VERSIONS or isinstance(version, bool):
        readable = " and ".join(map(str, PROOF_VERSIONS))
        raise _fail(f"proof format version {str(version)[:40]!r}; this apertura reads versions {readable}")
    _hex64(proof["manifest_sha256"], "manifest_sha256")
    if not isinstance(proof["release_id"], str):
        raise _fail("release_id is not a string")
    subject = proof["subject"]
    if isinstance(subject, dict) and subject.get("kind") == "url":
        _exact(subject, "subject", {"kind", "url"})
        if not isinstance(subject["url"], str) or not 0 < len(subject["url"]) <= MAX_URL:
            raise _fail("subject.url is not a non-empty string")
    elif isinstance(subject, dict) and subject.get("kind") == "text":
        _exact(subject, "subject", {"kind", "norm_sha256"})
        hashes = subject["norm_sha256"]
        if not isinstance(hashes, list) or not 1 <= len(hashes) <= 8 or len(set(map(str, hashes))) != len(hashes):
            raise _fail("subject.norm_sha256 is not a list of 1 to 8 distinct hashes")
        for i, h in enumerate(hashes):
            _hex64(h, f"subject.norm_sha256[{i}]")
    else:
        raise _fail("subject.kind is neither 'url' nor 'text'")
    if proof["answer"] not in ANSWERS:
        raise _fail(f"answer is not one of {', '.join(ANSWERS)}")
    statements = proof["statements"]
    if not isinstance(statements, list) or not 1 <= len(statements) <= 8:
        raise _fail("statements is not a list of 1 to 8 statements")
    for i, s in enumerate(statements):
        at = f"statement {i + 1}"
        if not isinstance(s, dict) or s.get("tree") not in TREES:
            raise _fail(f"{at} is not about one of the trees {', '.join(TREES)}")
        keyed = s["tree"] == "texts"  # a text statement names its hash; a URL statement's key is the URL's
        fields = {"tree", "tree_size", "root", "claim", "leaves"} if version == 1 else {"tree", "claim", "first",
                                                                                      "leaves", "hashes"}  # fmt: skip
        _exact(s, at, fields | ({"key"} if keyed else set()))
        if version == 1:
            _int(s["tree_size"], f"{at}.tree_size")
            _hex64(s["root"], f"{at}.root")
        if keyed:
            _hex64(s["key"], f"{at}.key")
        if s["claim"] not in ("inclusion", "exclusion"):
            raise _fail(f"{at}.claim is neither 'inclusion' nor 'exclusion'")
        s["leaves"] = _leaves(s["leaves"], f"{at}.leaves") if version == 1 else _range(s, at)
    return proof


# ------------------------------------------------------------------------------------------ checking


def _check_statement(s: dict[str, Any], at: str, tree: dict[str, Any], key: bytes) -> None:
    """The statement's leaves lead to the manifest's root and say what its claim says (else ProofError)."""
    size, root = tree["leaves"], tree["root"]
    if "root" in s and (s["tree_size"], s["root"]) != (size, root):  # format 1 repeats them
        raise _fail(
            f"{at} is about a {s['tree']} tree of {s['tree_size']:,} leaves with root {s['root'][:16]}…; the signed "
            f"manifest's has {size:,} leaves, root {root[:16]}… (a proof of another release, or altered)"
        )
    s["tree_size"] = size  # format 2 takes it from the signed manifest
    leaves = s["leaves"]
    root_bytes = bytes.fromhex(root)
    if "hashes" in s and leaves and _range_root(leaves, size, s["hashes"]) != root_bytes:
        raise _fail(f"{at}: leaves {leaves[0].index}-{leaves[-1].index} do not lead to the signed root: altered "
                    "proof, or one of another release")  # fmt: skip
    for j, leaf in enumerate(leaves):
        if "hashes" not in s and root_from_path(leaf.index, size, leaf_hash(leaf.data), leaf.path) != root_bytes:
            raise _fail(f"{at}: leaf {j + 1} (index {leaf.index}) does not lead to the signed root: altered proof")
        if j and leaf.data <= leaves[j - 1].data:
            raise _fail(f"{at}: the leaves shown are not in the sorted tree's order")
        if s["tree"] == "texts" and len(leaf.data) != KEY_BYTES:
            raise _fail(f"{at}: leaf {j + 1} is not a text leaf ({len(leaf.data)} bytes)")
    if s["claim"] == "inclusion":
        if len(leaves) != 1 or leaves[0].data != key:
            raise _fail(f"{at}: an inclusion claim must show exactly the leaf equal to its key")
        return
    if size == 0:
        if leaves or root_bytes != EMPTY_ROOT:
            raise _fail(f"{at}: an empty tree has no leaves and the empty root")
        return
    if not leaves:
        raise _fail(f"{at}: an exclusion claim in a non-empty tree must show the leaves around the key")
    if any(leaf.data == key for leaf in leaves):
        raise _fail(f"{at}: claims the key is absent but shows a leaf equal to it")
    after = next((j for j, leaf in enumerate(leaves) if leaf.data > key), None)
    if after is None and leaves[-1].index != size - 1:
        raise _fail(f"{at}: every leaf shown sorts before the key, but the last one is not the tree's last leaf")
    if after == 0 and leaves[0].index != 0:
        raise _fail(f"{at}: every leaf shown sorts after the key, but the first one is not the tree's first leaf")


def _range_root(leaves: list[_Leaf], size: int, hashes: list[bytes]) -> bytes | None:
    """The root the range's leaves and the proof's hashes lead to, when the hashes are exactly the ones the
    range needs (none missing, none left over); else None."""
    if leaves[-1].index >= size:
        return None
    given = iter(hashes)
    used = 0

    def sibling(_height: int, _index: int) -> bytes:
        nonlocal used
        used += 1
        return next(given, b"")

    root = range_root(leaves[0].index, size, [leaf_hash(leaf.data) for leaf in leaves], sibling)
    return root if used == len(hashes) else None


def check_proof(proof: dict[str, Any], manifest: dict[str, Any], manifest_sha256: str) -> Verdict:
    """What a parsed proof proves about the release with this manifest (its signature checked elsewhere)."""
    if proof["manifest_sha256"] != manifest_sha256:
        raise _fail(
            f"this proof is for release {proof['release_id'][:80]!r} (manifest sha256 "
            f"{proof['manifest_sha256'][:16]}…); the bundle holds release {manifest.get('release_id')!r} "
            f"(manifest sha256 {manifest_sha256[:16]}…)"
        )
    if proof["release_id"] != manifest.get("release_id"):
        named = proof["release_id"][:80]
        raise _fail(f"the proof names release {named!r}, its manifest {manifest.get('release_id')!r}")
    try:
        section = manifest_commitments(manifest)
    except CommitmentError as err:
        raise _fail(str(err)) from None
    statements, subject, answer = proof["statements"], proof["subject"], proof["answer"]
    verdict = Verdict(answer, manifest["release_id"], subject)
    if subject["kind"] == "url":
        verdict.url_key = _subject_url_key(subject["url"], manifest)
        keys = [url_leaf_key(verdict.url_key)] * len(statements)
    else:
        keys = [bytes.fromhex(s["key"]) for s in statements]
    for i, (s, key) in enumerate(zip(statements, keys, strict=True)):
        _check_statement(s, f"statement {i + 1}", section["trees"][s["tree"]], key)
    if subject["kind"] == "url":
        _url_answer(statements, keys[0] if keys else b"", answer, verdict)
    else:
        _text_answer(statements, subject, answer, verdict)
    return verdict


def _subject_url_key(url: str, manifest: dict[str, Any]) -> str:
    """The URL identity of the proof's URL, computed here (pipeline.url_identity), never read from the proof."""
    from pipeline.url_identity import identity_spec, url_key

    key = url_key(url)
    if key is None:
        raise _fail(f"{url[:200]!r} has no URL identity (not an http(s) URL)")
    built = (manifest.get("software") or {}).get("url_identity")
    if built is not None and built != identity_spec():
        raise _fail(f"the release computed URL identities with {built!r}; this apertura has {identity_spec()!r}")
    return key


def _url_answer(statements: list[dict[str, Any]], key: bytes, answer: str, verdict: Verdict) -> None:
    if len(statements) != 1 or statements[0]["tree"] != "urls":
        raise _fail("a proof about a URL holds one statement about the urls tree")
    s = statements[0]
    if s["claim"] == "inclusion":
        if answer != "in":
            raise _fail(f"the leaves prove the URL is in the release, but the answer says {answer!r}")
        return
    records = [leaf for leaf in s["leaves"] if leaf.data[:KEY_BYTES] == key]
    try:
        verdict.removals = [parse_label(leaf.data) for leaf in records]
    except (ValueError, UnicodeDecodeError):
        raise _fail("a leaf with the URL's key is not a readable removal record") from None
    last = s["leaves"][-1] if s["leaves"] else None
    verdict.removals_complete = last is None or last.data[:KEY_BYTES] > key or last.index == s["tree_size"] - 1
    if not verdict.removals_complete:
        raise _fail("the removal records shown may be incomplete: the proof must show the leaf after the last one")
    expected = "removed" if records else "not_in"
    if answer != expected:
        raise _fail(f"the leaves prove {expected!r}, but the answer says {answer!r}")


def _text_answer(statements: list[dict[str, Any]], subject: dict[str, Any], answer: str, verdict: Verdict) -> None:
    hashes = subject["norm_sha256"]
    if any(s["tree"] != "texts" for s in statements):
        raise _fail("a proof about a text holds statements about the texts tree only")
    if answer == "in":
        if len(statements) != 1 or statements[0]["claim"] != "inclusion" or statements[0]["key"] not in hashes:
            raise _fail("an 'in' answer about a text holds one inclusion of one of its hashes")
        verdict.included_key = statements[0]["key"]
        return
    if answer != "not_in":
        raise _fail(f"a proof about a text answers 'in' or 'not_in', not {answer!r}")
    proven = {s["key"] for s in statements if s["claim"] == "exclusion"}
    if len(statements) != len(hashes) or proven != set(hashes):
        raise _fail("a 'not_in' answer about a text must prove every one of its hashes absent")


# ------------------------------------------------------------------------------------------ the sentence


def _built(manifest: dict[str, Any]) -> str:
    """When the signed manifest says the release was made: derived, or built with the registry as of; else ''."""
    lineage = manifest.get("lineage") or {}
    registry = (manifest.get("optout") or {}).get("registry") or {}
    when = lineage.get("derived_at") or registry.get("as_of")
    return f", built {when}" if isinstance(when, str) and when else ""


def sentence(verdict: Verdict, bundle: Bundle, text_name: str | None = None) -> str:
    rid = verdict.release_id
    whose = "your --pubkey" if bundle.key_given else "the bundle's own key: compare its id with the provider's"
    signed = f"signed by key {bundle.key_id[:16]}… ({whose}){_built(bundle.manifest)}"
    subject = verdict.subject
    if subject["kind"] == "url":
        url, key = subject["url"], verdict.url_key
        if verdict.answer == "in":
            return f"{url} IS in release {rid} (URL identity {key}, any scheme); {signed}."
        if verdict.answer == "removed":
            why = "; ".join(f"stage {s}, reason {r}" for s, r in verdict.removals)
            return f"{url} is NOT in release {rid}: it was removed ({why}); {signed}."
        return (
            f"{url} is NOT in release {rid}, and no removed record has its URL identity ({key}, any scheme); "
            f"{signed}."
        )
    hashes = subject["norm_sha256"]
    name = f"The text of {text_name}" if text_name else "The text"
    if verdict.answer == "in":
        return (
            f"{name} (normalised sha256 {verdict.included_key[:16]}…) IS in release {rid} as a document with the "
            f"same normalised text; {signed}."
        )
    forms = f", and {len(hashes) - 1} other released form{'s' * (len(hashes) > 2)}" if len(hashes) > 1 else ""
    return (
        f"{name} (normalised sha256 {hashes[0][:16]}…{forms}) is NOT in release {rid} as an exact text after "
        f"normalisation (near copies are not covered); {signed}."
    )


def verify_proof(
    bundle_dir: Path, proof_path: Path, *, pubkey: Path | None = None, text_file: Path | None = None
) -> Verdict:
    """Check `proof_path` against the bundle (and, given the text, that the proof is about it): the Verdict with
    its sentence, or ProofError saying what failed."""
    bundle = load_bundle(bundle_dir, pubkey)
    try:
        with open(proof_path, "rb") as f:
            raw = f.read(MAX_PROOF_BYTES + 1)
    except OSError as err:
        raise _fail(f"cannot read the proof {proof_path}: {err.strerror or err}") from None
    if len(raw) > MAX_PROOF_BYTES:
        raise _fail(f"{proof_path} is larger than {MAX_PROOF_BYTES:,} bytes: not a proof")
    verdict = check_proof(parse_proof(raw), bundle.manifest, bundle.manifest_sha256)
    if text_file is not None:
        _same_text(verdict, bundle.manifest, text_file)
    verdict.key_id = bundle.key_id
    verdict.sentence = sentence(verdict, bundle, text_file.name if text_file else None)
    return verdict


def _same_text(verdict: Verdict, manifest: dict[str, Any], text_file: Path) -> None:
    """The proof is about this text: its hashes are the ones this text has in the release's forms."""
    from pipeline.proofs.texts import released_norm_hashes

    if verdict.subject["kind"] != "text":
        raise _fail("--text-file was given, but the proof is about a URL")
    try:
        text = Path(text_file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise _fail(f"cannot read {text_file} as UTF-8 text ({err})") from None
    mine = released_norm_hashes(text, manifest)
    if verdict.answer == "in":
        if verdict.included_key not in mine:
            raise _fail(f"the proof is about another text: {text_file} does not have the hash it proves present")
    elif not set(mine) <= set(verdict.subject["norm_sha256"]):
        raise _fail(f"the proof is about another text: it does not prove every form of {text_file} absent")

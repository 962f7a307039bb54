"""Property tests over random leaf sets (sizes 0, 1, 2, odd, powers of two, around a chunk): every member has an
inclusion proof and random non-members an exclusion proof that the verifier accepts, and every single mutation of
a proof is rejected: format 2 (what `prove` writes: a bit of a leaf or of the range's hashes, the first index, a
hash more or less, a leaf dropped, the key) and format 1 (which `verify-proof` still reads: a bit of a leaf or
path, an index, a shortened path, the root, the tree size, the key).

Format-2 proofs are made by `prove.statement`, format-1 ones by `v1_statement` below (format 1's definition,
kept here since `prove` no longer writes it), and both are checked by `check.check_proof`, the verifier
`verify-proof` runs; the expected answer comes from the construction (which keys went in), never from the code
under test."""

from __future__ import annotations

import base64
import copy
import json
import random
from hashlib import sha256

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.proofs.check import ProofError, check_proof, parse_proof
from pipeline.proofs.leaves import KEPT, SCHEME, label, url_leaf_key
from pipeline.proofs.merkle import EMPTY_ROOT
from pipeline.proofs.prove import _shown, statement
from pipeline.proofs.tree import CHUNK, SortedTree, keys_array

SIZES = [0, 1, 2, 3, 4, 5, 7, 8, 9, 16, 31, 32, 33, 64, 100, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK + 1]
MANIFEST_SHA = "ab" * 32
LABELS = (("quality", "gopher_short_doc"), ("optout", "optout_robots"), ("dedup", "exact_duplicate"))
FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def manifest_for(trees: dict[str, SortedTree]) -> dict:
    empty = {"root": EMPTY_ROOT.hex(), "leaves": 0}
    section = {"urls": dict(empty, kept=0, removals=0), "texts": dict(empty)}
    for name, tree in trees.items():
        section[name] = {**section[name], "root": tree.root.hex(), "leaves": tree.size}
    return {"release_id": "r", "format_version": 4, "commitments": {"scheme": SCHEME, "trees": section}}


def proof_of(subject: dict, statements: list[dict], answer: str, version: int = 2) -> dict:
    return {"format": "apertura-proof", "format_version": version, "release_id": "r", "manifest_sha256": MANIFEST_SHA,
            "subject": subject, "answer": answer, "statements": statements}  # fmt: skip


def check(proof: dict, manifest: dict):
    return check_proof(parse_proof(json.dumps(proof).encode()), manifest, MANIFEST_SHA)


def v1_statement(name: str, tree: SortedTree, key: bytes) -> dict:
    """A statement in proof format 1 (schemas/proof.v1.json): the tree's size and root, and each shown leaf with
    its index, data and audit path; a leaf after the first gives only its hashes below level d - 1, d the bit
    length of (index - 1) XOR index."""
    lo, hi = tree.find(key)
    head = {"tree": name, "tree_size": tree.size, "root": tree.root.hex()} | ({"key": key.hex()} if name == "texts"
                                                                              else {})  # fmt: skip
    inclusion = lo < hi and tree.data(lo) == key + KEPT
    indices = [lo] if inclusion else list(range(max(lo - 1, 0), min(hi + 1, tree.size)))
    leaves, previous = [], []
    for n, i in enumerate(indices):
        path = own = tree.path(i)
        if n:
            own = path[: len(path) - (len(previous) - ((i - 1) ^ i).bit_length()) - 1]
        leaves.append({"index": i, "data": base64.b64encode(tree.data(i)).decode(),
                       "path": base64.b64encode(b"".join(own)).decode()})  # fmt: skip
        previous = path
    return {**head, "claim": "inclusion" if inclusion else "exclusion", "leaves": leaves}


STATEMENT = {1: v1_statement, 2: statement}


def text_proof(tree: SortedTree, key: bytes, version: int = 2) -> dict:
    s = STATEMENT[version]("texts", tree, key)
    answer = "in" if s["claim"] == "inclusion" else "not_in"
    return proof_of({"kind": "text", "norm_sha256": [key.hex()]}, [s], answer, version)


def _flip_b64(value: str, byte: int) -> str:
    raw = bytearray(base64.b64decode(value))
    raw[byte] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


def _changed(proof: dict, si: int, change) -> dict:
    bad = copy.deepcopy(proof)
    change(bad["statements"][si])
    return bad


def mutations(proof: dict):
    """Every single-field mutation of a proof's statements: (description, mutated proof). A URL statement's key
    is not in the proof (the verifier computes it); its subject is mutated in the URL tests."""
    for si, s in enumerate(proof["statements"]):
        changes = (
            ("root", lambda v: ("0" if v[0] != "0" else "1") + v[1:]),
            ("key", lambda v: v[:-1] + ("0" if v[-1] != "0" else "1")),
            ("tree_size", lambda v: v + 1),
            ("tree_size", lambda v: v - 1 if v else 1),
            ("first", lambda v: v + 1),
            ("first", lambda v: v - 1 if v else 1),
        )
        for field, change in changes:
            if field not in s:  # a URL statement has no key (it is the URL's); format 2 has no root nor size
                continue
            yield f"statement {si} {field}", _changed(proof, si, lambda t, f=field, c=change: t.update({f: c(t[f])}))
        if proof["format_version"] == 1:
            yield from _v1_leaf_mutations(proof, si, s)
            continue
        for li, leaf in enumerate(s["leaves"]):
            for byte in range(len(base64.b64decode(leaf))):
                yield f"leaf {li} byte {byte}", _changed(
                    proof, si, lambda t, li=li, b=byte: t["leaves"].__setitem__(li, _flip_b64(t["leaves"][li], b))
                )
            yield f"leaf {li} dropped", _changed(proof, si, lambda t, li=li: t["leaves"].pop(li))
        hashes = base64.b64decode(s["hashes"])
        for byte in range(len(hashes)):
            flipped = _flip_b64(s["hashes"], byte)
            yield f"hashes byte {byte}", _changed(proof, si, lambda t, v=flipped: t.update(hashes=v))
        fewer, more = base64.b64encode(hashes[32:]).decode(), base64.b64encode(hashes * 2 or b"\x01" * 32).decode()
        if hashes:
            yield "a hash fewer", _changed(proof, si, lambda t, v=fewer: t.update(hashes=v))
        yield "a hash more", _changed(proof, si, lambda t, v=more: t.update(hashes=v))


def _v1_leaf_mutations(proof: dict, si: int, s: dict):
    for li, leaf in enumerate(s["leaves"]):
        for field in ("data", "path"):
            for byte in range(len(base64.b64decode(leaf[field]))):
                bad = copy.deepcopy(proof)
                bad["statements"][si]["leaves"][li][field] = _flip_b64(leaf[field], byte)
                yield f"leaf {li} {field} byte {byte}", bad
        for delta in (-1, 1):
            bad = copy.deepcopy(proof)
            bad["statements"][si]["leaves"][li]["index"] = leaf["index"] + delta
            yield f"leaf {li} index {delta:+}", bad
        if own := base64.b64decode(leaf["path"]):
            bad = copy.deepcopy(proof)
            bad["statements"][si]["leaves"][li]["path"] = base64.b64encode(own[32:]).decode()
            yield f"leaf {li} path shortened", bad
        bad = copy.deepcopy(proof)
        del bad["statements"][si]["leaves"][li]
        if bad["statements"][si]["leaves"] or s["tree_size"]:
            yield f"leaf {li} dropped", bad


def assert_every_mutation_rejected(proof: dict, manifest: dict) -> int:
    n = 0
    for what, bad in mutations(proof):
        with pytest.raises(ProofError):
            check(bad, manifest)
            pytest.fail(f"accepted a proof with {what} changed")
        n += 1
    return n


@st.composite
def leaf_sets(draw):
    size = draw(st.sampled_from(SIZES))
    rng = random.Random(draw(st.integers(0, 2**32)))
    return [rng.randbytes(32) for _ in range(size)], rng


@FAST
@given(leaf_sets())
def test_every_member_is_included_and_random_others_excluded(case):
    keys, rng = case
    tree = SortedTree.build(keys_array(keys) if keys else np.empty((0, 32), np.uint8))
    manifest = manifest_for({"texts": tree})
    for key in keys:
        assert check(text_proof(tree, key), manifest).answer == "in"
    members = set(keys)
    others = [rng.randbytes(32) for _ in range(20)]
    if keys:  # keys next to members: a low or high bit away, and below / above every member
        others += [bytes([k[0]]) + k[1:31] + bytes([k[31] ^ 1]) for k in rng.sample(keys, min(5, len(keys)))]
        others += [b"\x00" * 32, b"\xff" * 32, min(keys)[:31] + b"\x00", max(keys)[:31] + b"\xff"]
    for key in others:
        if key in members:
            continue
        proof = text_proof(tree, key)
        assert proof["answer"] == "not_in"
        assert check(proof, manifest).answer == "not_in"


@FAST
@given(leaf_sets(), st.sampled_from([1, 2]))
def test_every_mutation_of_an_inclusion_or_exclusion_is_rejected(case, version):
    keys, rng = case
    tree = SortedTree.build(keys_array(keys) if keys else np.empty((0, 32), np.uint8))
    manifest = manifest_for({"texts": tree})
    chosen = [rng.randbytes(32)] + ([rng.choice(keys)] if keys else [])
    for key in chosen:
        proof = text_proof(tree, key, version)
        assert check(proof, manifest).answer == ("in" if key in keys else "not_in")  # the unmutated proof holds
        assert_every_mutation_rejected(proof, manifest)


def test_format_1_proofs_are_still_read():
    """Proofs written before format 2 keep checking: members in, others not, the same verdicts as format 2."""
    keys = [sha256(b"member %d" % i).digest() for i in range(300)]
    tree = SortedTree.build(keys_array(keys))
    manifest = manifest_for({"texts": tree})
    for key in [*keys[::7], *(sha256(b"other %d" % i).digest() for i in range(40))]:
        old, new = text_proof(tree, key, 1), text_proof(tree, key, 2)
        assert old["statements"][0]["leaves"] == [] or "path" in old["statements"][0]["leaves"][0]
        assert check(old, manifest).answer == check(new, manifest).answer == ("in" if key in keys else "not_in")


def test_an_exclusion_claim_for_a_member_cannot_be_made():
    """A member's neighbours shown as an exclusion: rejected whichever leaves are shown, in either format."""
    keys = [sha256(bytes([i])).digest() for i in range(9)]
    tree = SortedTree.build(keys_array(keys))
    manifest = manifest_for({"texts": tree})
    member = sorted(keys)[4]
    for shown in ([3, 5], [3], [5], [3, 4, 5], [0], [8]):
        honest = text_proof(tree, member, 1)
        s = {**honest["statements"][0], "claim": "exclusion"}
        s["leaves"] = [{"index": i, "data": base64.b64encode(tree.data(i)).decode(),
                        "path": base64.b64encode(b"".join(tree.path(i))).decode()} for i in shown]  # fmt: skip
        with pytest.raises(ProofError):
            check({**honest, "answer": "not_in", "statements": [s]}, manifest)
        honest = text_proof(tree, member, 2)
        lo, hi = shown[0], shown[-1] + 1  # format 2 shows a range: the member's neighbours with their own hashes
        s = {**honest["statements"][0], "claim": "exclusion", **_shown(tree, lo, hi)}
        if len(shown) == 2:  # [3, 5]: not a range; shown as 3 and 5 with 4's leaf left out of range 3-5
            s["leaves"] = [s["leaves"][0], s["leaves"][2]]
        with pytest.raises(ProofError):
            check({**honest, "answer": "not_in", "statements": [s]}, manifest)


@st.composite
def url_sets(draw):
    """Kept URL identities and removal records (several labels per page possible), drawn from small pools so
    that pages are kept and removed, removed only, or absent."""
    rng = random.Random(draw(st.integers(0, 2**32)))
    pages = [f"site{rng.randrange(20)}.test/p/{i}" for i in range(draw(st.sampled_from([0, 1, 2, 7, 40, 300])))]
    kept = {p for p in pages if rng.random() < 0.5}
    removed = {(p, rng.choice(LABELS)) for p in pages if rng.random() < 0.4}
    return kept, removed, rng


def url_tree(kept: set[str], removed: set[tuple[str, tuple[str, str]]]) -> SortedTree:
    names = (KEPT, *(label(*lab) for lab in LABELS))
    keys = [url_leaf_key(u) for u in kept] + [url_leaf_key(u) for u, _ in removed]
    labels = [0] * len(kept) + [1 + LABELS.index(lab) for _, lab in removed]
    if not keys:
        return SortedTree.build(np.empty((0, 32), np.uint8), np.empty(0, np.int64), names)
    return SortedTree.build(keys_array(keys), np.array(labels), names)


def url_proof(tree: SortedTree, key: str, version: int = 2) -> dict:
    s = STATEMENT[version]("urls", tree, url_leaf_key(key))
    shown = [base64.b64decode(leaf["data"] if version == 1 else leaf) for leaf in s["leaves"]]
    removed = any(d[:32] == url_leaf_key(key) for d in shown)
    answer = "in" if s["claim"] == "inclusion" else "removed" if removed else "not_in"
    return proof_of({"kind": "url", "url": f"http://{key}"}, [s], answer, version)


@FAST
@given(url_sets())
def test_urls_in_removed_with_every_reason_or_absent(case):
    kept, removed, rng = case
    tree = url_tree(kept, removed)
    manifest = manifest_for({"urls": tree})
    asked = {*kept, *(u for u, _ in removed), *(f"other{rng.randrange(99)}.test/x" for _ in range(10))}
    for page in sorted(asked):
        verdict = check(url_proof(tree, page), manifest)
        reasons = sorted(lab for u, lab in removed if u == page)
        if page in kept:
            assert verdict.answer == "in"
        elif reasons:
            assert verdict.answer == "removed" and sorted(verdict.removals) == reasons
        else:
            assert verdict.answer == "not_in" and verdict.removals == []


@FAST
@given(url_sets(), st.sampled_from([1, 2]))
def test_every_mutation_of_a_url_proof_is_rejected(case, version):
    kept, removed, rng = case
    tree = url_tree(kept, removed)
    manifest = manifest_for({"urls": tree})
    pages = sorted({*kept, *(u for u, _ in removed)})
    for page in [f"absent{rng.randrange(9)}.test/", *rng.sample(pages, min(2, len(pages)))]:
        proof = url_proof(tree, page, version)
        check(proof, manifest)
        assert_every_mutation_rejected(proof, manifest)
        for other in sorted(kept - {page})[:3]:  # a proof about one page never passes for a page that is in
            moved = copy.deepcopy(proof)
            moved["subject"]["url"] = f"http://{other}"
            with pytest.raises(ProofError):
                check(moved, manifest)
        for answer in {"in", "not_in", "removed"} - {proof["answer"]}:  # the leaves decide, not the answer field
            with pytest.raises(ProofError):
                check({**proof, "answer": answer}, manifest)


def test_a_removal_record_left_out_is_noticed():
    """Dropping the leaf after a page's removal records (so that a further record might be hidden) is refused."""
    removed = {("a.test/x", LABELS[0]), ("a.test/x", LABELS[1]), ("b.test/y", LABELS[2])}
    tree = url_tree({"c.test/z"}, removed)
    manifest = manifest_for({"urls": tree})
    proof = url_proof(tree, "a.test/x", 1)
    assert sorted(check(proof, manifest).removals) == sorted([LABELS[0], LABELS[1]])
    leaves = proof["statements"][0]["leaves"]
    for cut in range(1, len(leaves)):
        short = copy.deepcopy(proof)
        short["statements"][0]["leaves"] = leaves[:cut]
        with pytest.raises(ProofError):
            check(short, manifest)
    proof = url_proof(tree, "a.test/x", 2)  # format 2: a shorter range, with the right hashes for it
    assert sorted(check(proof, manifest).removals) == sorted([LABELS[0], LABELS[1]])
    first, shown = proof["statements"][0]["first"], len(proof["statements"][0]["leaves"])
    key = url_leaf_key("a.test/x")
    records = [j for j, leaf in enumerate(proof["statements"][0]["leaves"]) if base64.b64decode(leaf)[:32] == key]
    assert len(records) == 2 and shown - len(records) in (1, 2)  # and the leaf before and/or after them
    for cut in range(records[0] + 1, records[-1] + 1):  # a range ending on a record, before the last one
        short = copy.deepcopy(proof)
        short["statements"][0].update(_shown(tree, first, first + cut))
        with pytest.raises(ProofError, match="may be incomplete"):
            check(short, manifest)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600) | st.text(max_size=300).map(str.encode))
def test_arbitrary_bytes_are_refused_with_a_proof_error(raw):
    manifest = manifest_for({})
    with pytest.raises(ProofError):  # (a random binary is never a proof; a few texts could be JSON, never proofs)
        check_proof(parse_proof(raw), manifest, MANIFEST_SHA)


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 2**70) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_a_valid_proof_with_any_field_replaced_by_any_json_is_refused_cleanly(data):
    """No traceback ever: any JSON in place of any field of a real proof gives a ProofError (or, if it happens
    to be harmless, the same answer)."""
    keys = [sha256(bytes([i])).digest() for i in range(5)]
    tree = SortedTree.build(keys_array(keys))
    manifest = manifest_for({"texts": tree})
    proof = text_proof(tree, sha256(b"absent").digest())
    paths = [("answer",), ("subject",), ("subject", "norm_sha256"), ("statements",), ("statements", 0),
             ("statements", 0, "leaves"), ("statements", 0, "leaves", 0), ("statements", 0, "first"),
             ("statements", 0, "hashes"), ("statements", 0, "claim"), ("format_version",)]  # fmt: skip
    where = data.draw(st.sampled_from(paths))
    bad = copy.deepcopy(proof)
    node = bad
    for step in where[:-1]:
        node = node[step]
    node[where[-1]] = data.draw(JSONISH)
    try:
        verdict = check(bad, manifest)
    except ProofError:
        return
    assert verdict.answer == "not_in"

"""RFC 9162 tree hashing and inclusion proofs, against an independent implementation's test vectors
(transparency-dev/merkle, see ct_vectors.json) and against the RFC's recursive definitions written out here."""

from __future__ import annotations

import base64
import json
import os
import random
from hashlib import sha256
from pathlib import Path

import numpy as np
import pytest

from pipeline.proofs.merkle import (
    EMPTY_ROOT,
    audit_path,
    leaf_hash,
    node_hash,
    root_from_path,
    root_of,
    verify_inclusion,
)
from pipeline.proofs.tree import CHUNK, SortedTree, keys_array

VECTORS = json.loads((Path(__file__).parent / "ct_vectors.json").read_text())
LEAVES = [bytes.fromhex(x) for x in VECTORS["leaf_inputs"]]


# --- the RFC's definitions, recursively, as written in RFC 9162 §2.1.1 and §2.1.3.1 ------------------------


def largest_power_of_two_below(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(data: list[bytes]) -> bytes:
    if not data:
        return sha256(b"").digest()
    if len(data) == 1:
        return sha256(b"\x00" + data[0]).digest()
    k = largest_power_of_two_below(len(data))
    return sha256(b"\x01" + mth(data[:k]) + mth(data[k:])).digest()


def path(m: int, data: list[bytes]) -> list[bytes]:
    if len(data) == 1:
        return []
    k = largest_power_of_two_below(len(data))
    if m < k:
        return [*path(m, data[:k]), mth(data[k:])]
    return [*path(m - k, data[k:]), mth(data[:k])]


# --- test vectors -----------------------------------------------------------------------------------------


def test_roots_of_the_reference_trees_of_sizes_0_to_8():
    for size, want in enumerate(VECTORS["roots"]):
        assert root_of([leaf_hash(d) for d in LEAVES[:size]]).hex() == want
        assert mth(LEAVES[:size]).hex() == want  # the reference written here agrees with the vectors too
    assert EMPTY_ROOT.hex() == VECTORS["roots"][0]


def test_node_hashes_of_the_complete_subtrees():
    level = [leaf_hash(d) for d in LEAVES]
    for want in VECTORS["node_hashes"]:
        assert [h.hex() for h in level] == want
        level = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
    assert level == []


@pytest.mark.parametrize("vector", VECTORS["inclusion"], ids=lambda v: f"leaf{v['leafIdx']}-of-{v['treeSize']}")
def test_inclusion_vectors_verify_and_are_what_we_generate(vector):
    index, size = vector["leafIdx"], vector["treeSize"]
    root, leaf = base64.b64decode(vector["root"]), base64.b64decode(vector["leafHash"])
    proof = [base64.b64decode(p) for p in vector["proof"]]
    assert verify_inclusion(index, size, leaf, proof, root)
    hashes = [leaf_hash(d) for d in LEAVES[:size]]
    assert hashes[index] == leaf and audit_path(hashes, index) == proof and root_of(hashes) == root


@pytest.mark.parametrize("vector", VECTORS["inclusion"], ids=lambda v: f"leaf{v['leafIdx']}-of-{v['treeSize']}")
def test_inclusion_vectors_mutated_are_rejected(vector):
    """The mutations of transparency-dev's wantErr cases: index ±1 and ^2, size *2 and /2, a proof component
    flipped, added or dropped, the wrong leaf, another root. (Size ±1 is not among them: a path can fit a tree
    one larger, e.g. leaf 1 of 5 and of 6; a proof's tree size is bound to the signed manifest's instead.)"""
    index, size = vector["leafIdx"], vector["treeSize"]
    root, leaf = base64.b64decode(vector["root"]), base64.b64decode(vector["leafHash"])
    proof = [base64.b64decode(p) for p in vector["proof"]]
    for i in {index + 1, index - 1, index ^ 2, size, -1} - {index}:
        assert not verify_inclusion(i, size, leaf, proof, root)
    for n in {size * 2, size // 2, 0} - {size}:
        assert not verify_inclusion(index, n, leaf, proof, root)
    for j in range(len(proof)):
        flipped = bytearray(proof[j])
        flipped[3] ^= 0x08
        assert not verify_inclusion(index, size, leaf, [*proof[:j], bytes(flipped), *proof[j + 1 :]], root)
        assert not verify_inclusion(index, size, leaf, proof[:j] + proof[j + 1 :], root)
    assert not verify_inclusion(index, size, leaf, [*proof, leaf], root)
    assert not verify_inclusion(index, size, leaf, [leaf, *proof], root)
    assert not verify_inclusion(index, size, sha256(b"other").digest(), proof, root)
    assert not verify_inclusion(index, size, leaf, proof, EMPTY_ROOT)
    assert not verify_inclusion(index, size, leaf, proof, sha256(root).digest())


# --- bottom-up and chunked trees against the recursive definition -----------------------------------------


@pytest.mark.parametrize(
    "size", [*range(1, 40), 63, 64, 65, 127, 128, 129, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK + 3, 5 * CHUNK]
)
def test_root_and_every_path_equal_the_recursive_definition(size):
    rng = random.Random(size)
    data = sorted({rng.randbytes(32) for _ in range(size)})
    hashes = [leaf_hash(d) for d in data]
    want = mth(data)
    assert root_of(hashes) == want
    tree = SortedTree.build(keys_array(list(reversed(data))))  # unsorted input: the tree sorts it
    assert tree.size == len(data) and tree.root == want
    for m in sorted({0, len(data) - 1, *rng.sample(range(len(data)), min(len(data), 25))}):
        expected = path(m, data)
        assert audit_path(hashes, m) == expected
        assert tree.path(m) == expected
        assert root_from_path(m, len(data), hashes[m], expected) == want
        assert tree.find(data[m]) == (m, m + 1)


def test_empty_tree_and_repeated_leaves():
    empty = SortedTree.build(np.empty((0, 32), np.uint8))
    assert empty.size == 0 and empty.root == EMPTY_ROOT == mth([])
    key = os.urandom(32)
    assert empty.find(key) == (0, 0)
    twice = SortedTree.build(keys_array([key, key, key]))
    assert twice.size == 1 and twice.root == mth([key])


def test_labelled_leaves_sort_by_their_whole_bytes():
    """Same key, several labels: the bare key first (a prefix sorts first), then the labels in byte order."""
    key = sha256(b"k").digest()
    names = (b"z\x00r", b"", b"a\x00r", b"a\x00")
    tree = SortedTree.build(keys_array([key, key, key, key, key]), np.array([0, 1, 2, 3, 2]), names)
    assert [tree.data(i) for i in range(tree.size)] == [key, key + b"a\x00", key + b"a\x00r", key + b"z\x00r"]
    assert tree.root == mth([key, key + b"a\x00", key + b"a\x00r", key + b"z\x00r"])
    assert tree.find(key) == (0, 4)

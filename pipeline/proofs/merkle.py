"""Merkle tree hashing as RFC 9162 §2.1 defines it (Certificate Transparency 2.0), with its inclusion proofs.

    MTH({})     = SHA-256()                                         the empty tree
    MTH({d0})   = SHA-256(0x00 ‖ d0)                                a leaf
    MTH(D[n])   = SHA-256(0x01 ‖ MTH(D[0:k]) ‖ MTH(D[k:n]))         k: the largest power of two smaller than n

Trees are computed bottom-up: nodes are paired left to right and an unpaired last node moves up a level
unchanged. That gives the same tree as the recursive definition (the left subtree of every split is the
perfect one of size k), and it lets a large tree be stored as the roots of its aligned 2^h-leaf subtrees.

Only `hashlib`: the verifier of a proof imports this module, and it must start fast (no numpy, no polars).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from hashlib import sha256

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT = sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    return sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return sha256(NODE_PREFIX + left + right).digest()


def level_up(level: Sequence[bytes]) -> list[bytes]:
    """The next level of a bottom-up tree: pairs hashed, an unpaired last node carried up unchanged."""
    up = [sha256(NODE_PREFIX + a + b).digest() for a, b in zip(level[0::2], level[1::2], strict=False)]
    if len(level) % 2:
        up.append(level[-1])
    return up


def root_of(hashes: Sequence[bytes]) -> bytes:
    """MTH of a tree whose leaves (or aligned equal-height subtrees) have these hashes; EMPTY_ROOT for none."""
    if not hashes:
        return EMPTY_ROOT
    level = list(hashes)
    while len(level) > 1:
        level = level_up(level)
    return level[0]


def audit_path(hashes: Sequence[bytes], index: int) -> list[bytes]:
    """PATH(index, D) of RFC 9162 §2.1.3.1, bottom-up (the leaf's sibling first), from the leaves' hashes."""
    if not 0 <= index < len(hashes):
        raise IndexError(f"leaf {index} is outside a tree of {len(hashes)} leaves")
    path: list[bytes] = []
    level = list(hashes)
    while len(level) > 1:
        sibling = index ^ 1
        if sibling < len(level):
            path.append(level[sibling])
        level = level_up(level)
        index >>= 1
    return path


def root_from_path(index: int, size: int, leaf: bytes, path: Sequence[bytes]) -> bytes | None:
    """The root that `path` proves for the leaf hash `leaf` at `index` of a tree of `size` leaves, by the
    verification algorithm of RFC 9162 §2.1.3.2; None when the path cannot belong to such a tree (wrong length,
    index outside the tree)."""
    if not 0 <= index < size:
        return None
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None


def verify_inclusion(index: int, size: int, leaf: bytes, path: Sequence[bytes], root: bytes) -> bool:
    """Does `path` prove the leaf hash `leaf` at `index` in the tree of `size` leaves with this root?"""
    return root_from_path(index, size, leaf, path) == root


def range_root(first: int, size: int, leaves: Sequence[bytes], sibling: Callable[[int, int], bytes]) -> bytes:
    """MTH of a tree of `size` leaves from the hashes of its consecutive leaves `first`, `first + 1`, … and the
    hashes of the nodes beside them: `sibling(height, index)` gives the node at that height (0: a leaf) and
    position, asked bottom-up and, within a height, left before right (proof format 2's order). Only the nodes
    outside the range on its two edges are asked for: a range of k leaves costs at most two paths, and the
    nodes computable from the range itself are never in a proof. Needs 1 <= len(leaves), first + len(leaves)
    <= size."""
    level, lo, n, height = list(leaves), first, size, 0
    while n > 1:
        if lo & 1:
            level.insert(0, sibling(height, lo - 1))
            lo -= 1
        hi = lo + len(level) - 1
        if not hi & 1 and hi + 1 < n:
            level.append(sibling(height, hi + 1))
        level = level_up(level)  # an unpaired last node (hi == n - 1, even) moves up unchanged
        lo, n, height = lo >> 1, (n + 1) >> 1, height + 1
    return level[0]

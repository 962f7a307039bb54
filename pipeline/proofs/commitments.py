"""A release's commitments: three sorted Merkle trees over what it holds and what it removed (`leaves.py`).

Built from the release's tables (the documents' `url_key` and `norm_sha256`, the ledger's `url_key`, `stage`
and `reason`) by the release pass, by `release derive` and, to check them, by `verify`: one function, so the
three cannot disagree. The manifest (format 4) records the scheme, each tree's root and leaf count, and how
many records have no URL identity and so are in no URL tree (`not_committed`).

**The sidecar** `R/commitments/`: the sorted leaves and chunk roots of each tree (`tree.py`) as .npy files and
`commitments.json` binding them to the manifest's sha256. It is what lets `apertura prove` answer in
milliseconds on a large release; without it (deleted, stale, a published copy that left it out) a proof is
computed from the tables, which reads two columns of every file. It sits beside the manifest rather than in
the membership index because the release pass has the trees in hand, because a release built with
`--no-index` must still prove fast, and because the index is optional and rebuilt on its own schedule; like the
index it is not listed in the manifest (it is derived data, recomputable from the tables) and `verify` checks
it against the tables.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from hashlib import sha256
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.proofs.leaves import (
    KEPT,
    KEY_BYTES,
    LABELLED,
    SCHEME,
    TREES,
    CommitmentError,
    label,
    manifest_commitments,
)
from pipeline.proofs.tree import CHUNK, SortedTree, keys_array

SIDECAR = "commitments"
SIDECAR_JSON = "commitments.json"
SIDECAR_FORMAT = "apertura-commitments"
SIDECAR_VERSION = 1
MANIFEST = "manifest.json"
READ_ROWS = 65_536


@dataclass
class Commitments:
    trees: dict[str, SortedTree]
    not_committed: dict[str, int] = field(default_factory=dict)
    source: str = "tables"  # where the trees were read from: "tables" or "sidecar"

    def section(self) -> dict[str, Any]:
        """The manifest's `commitments` section."""
        trees: dict[str, dict[str, Any]] = {}
        for name in TREES:
            tree = self.trees[name]
            trees[name] = {"root": tree.root.hex(), "leaves": tree.size}
            if tree.labels is not None:  # the URL tree: how many leaves are kept pages, how many removals
                kept = int(np.count_nonzero(np.asarray(tree.labels) == tree.label_names.index(KEPT)))
                trees[name].update(kept=kept, removals=tree.size - kept)
        return {"scheme": SCHEME, "trees": trees, "not_committed": dict(self.not_committed)}

    def write_sidecar(self, release: Path, manifest_sha256: str, release_id: str) -> None:
        """`release/commitments/`, written under a temporary name and renamed into place."""
        target = release / SIDECAR
        staging = release / f".{SIDECAR}.writing-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        try:
            trees = {}
            for name, tree in self.trees.items():
                arrays = {"keys": tree.keys, "chunks": tree.chunks}
                if tree.labels is not None:
                    arrays["labels"] = tree.labels
                for kind, values in arrays.items():
                    np.save(staging / f"{name}.{kind}.npy", np.ascontiguousarray(values))
                trees[name] = {
                    "leaves": tree.size,
                    "root": tree.root.hex(),
                    "labels": [_split(n) for n in tree.label_names] if tree.labels is not None else None,
                }
            files = [
                {"path": p.name, "bytes": p.stat().st_size, "sha256": _file_sha256(p)}
                for p in sorted(staging.iterdir())
            ]
            info = {
                "format": SIDECAR_FORMAT,
                "format_version": SIDECAR_VERSION,
                "release_id": release_id,
                "manifest_sha256": manifest_sha256,
                "scheme": SCHEME,
                "chunk_leaves": CHUNK,
                "trees": trees,
                "files": files,
            }
            (staging / SIDECAR_JSON).write_text(json.dumps(info, indent=2) + "\n")
            if target.exists():
                shutil.rmtree(target)
            os.replace(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise


def _split(name: bytes) -> list[str] | None:
    """A label as the sidecar's JSON lists it: null for a kept page, else [stage, reason]."""
    if name == KEPT:
        return None
    stage, _, reason = name.partition(b"\x00")
    return [stage.decode("utf-8"), reason.decode("utf-8")]


def _join(entry: list[str] | None) -> bytes:
    return KEPT if entry is None else label(*entry)


def _file_sha256(path: Path) -> str:
    digest = sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _table_paths(release: Path, files: list[dict], table: str) -> list[Path]:
    """The table's files as listed, checked by the one release reader (`pipeline.release_read`): a crafted
    manifest cannot point a reader outside the release."""
    from pipeline.release_read import ReleaseError, table_files

    try:
        return [Path(p) for p in table_files(release, {"files": files}, table)]
    except ReleaseError as err:
        raise CommitmentError(str(err)) from None


def _columns(paths: list[Path], columns: list[str]):
    import pyarrow.parquet as pq

    for path in paths:
        try:
            parquet = pq.ParquetFile(path)
            present = set(parquet.schema_arrow.names)
            if missing := [c for c in columns if c not in present]:
                raise CommitmentError(f"{path}: no column {missing[0]!r} (commitments need format 3 tables or later)")
            yield from parquet.iter_batches(batch_size=READ_ROWS, columns=columns)
        except OSError as err:
            raise CommitmentError(f"{path}: cannot be read ({err})") from None


def _url_hashes(values: list[str | None]) -> tuple[list[bytes], int]:
    """Keys of the URL identities present, and how many values had none."""
    present = [v for v in values if v is not None]
    return [sha256(v.encode("utf-8")).digest() for v in present], len(values) - len(present)


def build_commitments(release: Path, files: list[dict]) -> Commitments:
    """The trees of the release whose table files are `files` (the manifest's list), from its tables."""
    url_keys: list[bytes] = []
    text_keys: list[np.ndarray] = []
    documents_without = 0
    for batch in _columns(_table_paths(release, files, "documents"), ["url_key", "norm_sha256"]):
        keys, missing = _url_hashes(batch.column("url_key").to_pylist())
        url_keys += keys
        documents_without += missing
        norms = batch.column("norm_sha256")
        if norms.null_count:
            raise CommitmentError(f"{release}: a document has no norm_sha256")
        try:
            raw = bytes.fromhex("".join(norms.to_pylist()))
        except ValueError:
            raise CommitmentError(f"{release}: a document's norm_sha256 is not hexadecimal") from None
        if len(raw) != KEY_BYTES * len(norms):
            raise CommitmentError(f"{release}: a document's norm_sha256 is not 64 hexadecimal digits")
        text_keys.append(np.frombuffer(raw, dtype=np.uint8).reshape(-1, KEY_BYTES))
    kept = len(url_keys)

    labels: list[int] = [0] * kept
    names: dict[bytes, int] = {KEPT: 0}
    removals_without = 0
    for batch in _columns(_table_paths(release, files, "ledger"), ["url_key", "stage", "reason"]):
        for key, stage, reason in zip(*(batch.column(c).to_pylist() for c in ("url_key", "stage", "reason")),
                                      strict=True):  # fmt: skip
            if key is None:
                removals_without += 1
                continue
            try:
                name = label(stage or "", reason or "")
            except ValueError as err:
                raise CommitmentError(f"{release}: {err}") from None
            url_keys.append(sha256(key.encode("utf-8")).digest())
            labels.append(names.setdefault(name, len(names)))
    empty = np.empty((0, KEY_BYTES), np.uint8)
    urls = SortedTree.build(
        keys_array(url_keys) if url_keys else empty, np.array(labels, dtype=np.int64), tuple(names)
    )
    trees = {"urls": urls, "texts": SortedTree.build(np.concatenate(text_keys) if text_keys else empty)}
    not_committed = {"documents_without_url_key": documents_without, "removals_without_url_key": removals_without}
    return Commitments(trees, not_committed)


# ------------------------------------------------------------------------------------------ reading


def open_sidecar(release: Path, manifest: dict, manifest_sha256: str) -> tuple[Commitments | None, str]:
    """The sidecar's trees (memory-mapped) when it is bound to this manifest and agrees with it; else (None, why).

    Its files are not hashed here (that would read every leaf): a proof computed from them is checked against
    the manifest's roots before it is given out, and `verify` compares the sidecar with the tables."""
    directory = release / SIDECAR
    if not directory.is_dir():
        return None, f"no {SIDECAR}/ sidecar"
    try:
        info = json.loads((directory / SIDECAR_JSON).read_text(encoding="utf-8"))
        if info.get("format") != SIDECAR_FORMAT or info.get("format_version") != SIDECAR_VERSION:
            return None, f"{SIDECAR}/ is not a format {SIDECAR_VERSION} commitments sidecar"
        if info.get("manifest_sha256") != manifest_sha256:
            return None, f"{SIDECAR}/ was written for another manifest.json"
        section = manifest_commitments(manifest)
        trees = {}
        for name in TREES:
            want = section["trees"][name]
            about = info["trees"][name]
            if (about["leaves"], about["root"]) != (want["leaves"], want["root"]):
                return None, f"{SIDECAR}/ disagrees with the manifest about the {name} tree"
            keys = np.load(directory / f"{name}.keys.npy", mmap_mode="r")
            chunks = np.load(directory / f"{name}.chunks.npy", mmap_mode="r")
            labels, label_names = None, ()
            if name in LABELLED:
                labels = np.load(directory / f"{name}.labels.npy", mmap_mode="r")
                label_names = tuple(_join(e) for e in about["labels"])
                if labels.shape != (want["leaves"],) or (len(labels) and int(labels.max()) >= len(label_names)):
                    return None, f"{SIDECAR}/{name}.labels.npy does not fit the tree"
            if keys.shape != (want["leaves"], KEY_BYTES) or chunks.shape != (-(-want["leaves"] // CHUNK), KEY_BYTES):
                return None, f"{SIDECAR}/{name} arrays do not have the tree's shape"
            trees[name] = SortedTree(keys, chunks, labels, label_names)
        return Commitments(trees, dict(section.get("not_committed") or {}), source="sidecar"), ""
    except (OSError, ValueError, KeyError, TypeError, AttributeError, CommitmentError) as err:
        return None, f"{SIDECAR}/ is unreadable ({type(err).__name__}: {str(err)[:200]})"


def release_commitments(release: Path, manifest: dict, manifest_sha256: str) -> tuple[Commitments, str]:
    """The release's trees: from the sidecar when it is sound, else from the tables. (trees, note on the source)."""
    manifest_commitments(manifest)
    found, why = open_sidecar(release, manifest, manifest_sha256)
    if found is not None:
        return found, f"from the {SIDECAR}/ sidecar"
    return build_commitments(release, manifest["files"]), f"recomputed from the tables ({why})"


# ------------------------------------------------------------------------------------------ checks for `verify`


def check_commitments(release: Path, manifest: dict, manifest_sha256: str) -> list[tuple[str, bool, str]]:
    """(name, ok, detail) for `apertura verify` on a format-4 release: each tree rebuilds from the tables to the
    manifest's root and leaf count, the uncommitted counts match, and a sidecar present agrees with the tables."""
    try:
        section = manifest_commitments(manifest)
    except CommitmentError as err:
        return [("commitments", False, str(err))]
    try:
        rebuilt = build_commitments(release, manifest["files"])
    except CommitmentError as err:
        return [("commitments", False, str(err))]
    checks = []
    redone = rebuilt.section()["trees"]
    for name, what in TREES.items():
        want, tree = section["trees"][name], redone[name]
        ok = want == tree
        counts = ", ".join(f"{k} {v:,}" for k, v in tree.items() if k != "root")
        checks.append((
            f"commitment {name} ({what})",
            ok,
            f"root {tree['root'][:16]}… ({counts}) recomputes from the tables"
            if ok
            else f"the manifest says root {str(want.get('root'))[:16]}… ({want}); the tables give {tree['root'][:16]}… "
            f"({counts})",
        ))  # fmt: skip
    recorded = section.get("not_committed")
    checks.append((
        "records without a URL identity counted",
        recorded == rebuilt.not_committed,
        ", ".join(f"{k.replace('_', ' ')}: {v:,}" for k, v in rebuilt.not_committed.items())
        if recorded == rebuilt.not_committed
        else f"the manifest says {recorded}, the tables give {rebuilt.not_committed}",
    ))  # fmt: skip
    checks.append(_check_sidecar(release, manifest_sha256, manifest["release_id"], rebuilt))
    return checks


def _check_sidecar(release: Path, manifest_sha256: str, release_id: str, rebuilt: Commitments) -> tuple[str, bool, str]:
    """A sidecar passes only if it is one `open_sidecar` (prove) would use and its leaves are the tables'."""
    name = f"commitments sidecar ({SIDECAR}/)"
    directory = release / SIDECAR
    if not directory.exists():
        return name, True, "none (optional): `apertura prove` computes proofs from the tables, more slowly"
    try:
        info = json.loads((directory / SIDECAR_JSON).read_text(encoding="utf-8"))
        if info.get("format") != SIDECAR_FORMAT or info.get("format_version") != SIDECAR_VERSION:
            why = f"not a format {SIDECAR_VERSION} commitments sidecar, so `apertura prove` does not use it"
            return name, False, why
        if info.get("manifest_sha256") != manifest_sha256:
            return name, False, f"written for another manifest.json: delete {directory} (prove then uses the tables)"
        problems = []
        if (named := info.get("release_id")) != release_id:
            problems.append(f"{SIDECAR_JSON} names release {str(named)[:80]!r}, not {release_id!r}")
        for f in info["files"]:
            if Path(f["path"]).name != f["path"] or f["path"] in (".", ".."):  # a name in the sidecar, no path
                problems.append(f"{f['path']!r} is not a file name inside {SIDECAR}/ (not read)")
                continue
            path = directory / f["path"]
            if not path.is_file() or _file_sha256(path) != f["sha256"]:
                problems.append(f"{f['path']} is missing or changed")
        listed = {f["path"] for f in info["files"]} | {SIDECAR_JSON}
        problems += [f"{p.name} is not listed" for p in directory.iterdir() if p.name not in listed]
        for tree_name, tree in rebuilt.trees.items():
            about = info["trees"][tree_name]  # what prove compares with the manifest before it uses the sidecar
            if (about["leaves"], about["root"]) != (tree.size, tree.root.hex()):
                problems.append(f"{SIDECAR_JSON} gives the {tree_name} tree another root or size than the tables")
            stored_keys = np.load(directory / f"{tree_name}.keys.npy")
            stored_chunks = np.load(directory / f"{tree_name}.chunks.npy")
            same = np.array_equal(stored_keys, tree.keys) and np.array_equal(stored_chunks, tree.chunks)
            if tree.labels is not None:  # the same label bytes leaf by leaf, whatever their numbering
                position = {name: i for i, name in enumerate(tree.label_names)}
                names = [position.get(_join(e), -1) for e in info["trees"][tree_name]["labels"]]
                stored = np.load(directory / f"{tree_name}.labels.npy")
                same = (
                    same and stored.shape == tree.labels.shape and np.array_equal(np.array(names)[stored], tree.labels)
                )
            if not same:
                problems.append(f"the {tree_name} leaves differ from the tables")
    except (OSError, ValueError, KeyError, TypeError, IndexError) as err:
        return name, False, f"unreadable ({type(err).__name__}: {str(err)[:200]})"
    return name, not problems, "; ".join(problems) or "matches the tables"

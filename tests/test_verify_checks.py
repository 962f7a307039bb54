"""Every check of `apertura verify` can fail: one tampering per check, and only that check fails.

The release (format 6) is built once from known inputs: the planted corpus (three WARCs: kept pages, duplicates,
quality, read and extract removals) plus a fourth WARC with a page reserved by a TDM header, two pages of a domain
the registry opts out (one on a subdomain) and a page that stays. Each test copies it, changes exactly what one
check guards, re-seals what the check does not guard (the manifest's sha256/bytes/rows of a rewritten file, its
Merkle commitments and their `commitments/` sidecar rebuilt from the rewritten tables with apertura's own
`build_commitments`, the index's and the sidecar's binding to a rewritten manifest: what a forger would do too),
and asserts the check that must fail, by its name, is the only one that does. Values written into tables are
literals, never computed by the code under test; the commitments' expected roots come from an independent
RFC 9162 implementation here (`_mth`), their leaf counts from the construction.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import errno
import functools
import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pyarrow.parquet as pq
import pytest

import schemas
from pipeline.cli import build
from pipeline.config import ReadConfig, RunConfig, config_hash
from pipeline.derive import derive_release
from pipeline.fingerprints import add_dedup_keys
from pipeline.optout.registry import Registry
from pipeline.proofs.commitments import build_commitments
from pipeline.proofs.prove import Prover
from pipeline.proofs.signing import new_keypair, sign_release
from pipeline.reports.card import write_descriptions
from pipeline.synthetic import make_page
from pipeline.tables import ROW_GROUP_SIZE, writer_options
from pipeline.verify import VerifyReport, _first_line, verify_release
from tests.helpers.corpus import planted_corpus
from tests.helpers.old_formats import old_release
from tests.helpers.reseal import reseal_descriptions
from tests.helpers.warcs import Page, write_warc

MANIFEST = "manifest"
CONFIG_HASH = "config hash"
FILES = "files and sha256"
SCHEMAS = "table schemas"
CONSERVATION = "conservation (inputs == kept + removed)"
REASONS = "removal reasons match the ledger"
FIGURES = "funnel and record counts add up"
IDS = "ids unique across documents and ledger"
ALIGNED = "signatures aligned 1:1 with documents"
DUPLICATE_OF = "every duplicate_of is a kept (or since opted-out) document"
EXACT_TWINS = "every exact duplicate has its twin's normalised text"
ROW_HASH = "rows carry the manifest's config hash"
URLS = "URL identities recompute (url_key, domain)"
TEXT_HASHES = "text hashes recompute (text_sha256, norm_sha256)"
SIGNATURES = "signatures recompute from the documents' texts (MinHash)"
NEAR = "every near duplicate's Jaccard estimate recomputes with its keeper"
BYTES = "conservation in bytes (record spans + unreadable spans = the file)"
SOURCE_PATHS = "input paths recorded relative to the source root"
DESCRIBED = "dataset card and Croissant describe the tables"
HONOURED = "opt-outs honoured (no kept document is reserved)"
EXPLAINED = "every opt-out removal has its evidence"
ORPHANS = "evidence rows are about records in the release"
ATTRIBUTED = "opt-out removals carry their evidence's reason"
REGISTRY_STATE = "registry state matches the one applied"
REGISTRY_HONOURED = "registry opt-outs honoured (no document matches an entry)"
REGISTRY_UNREADABLE = "registry opt-outs honoured"
COMMIT_URLS = "commitment urls (kept URL identities and removal records)"
COMMIT_TEXTS = "commitment texts (normalised texts of the kept documents)"
NOT_COMMITTED = "records without a URL identity counted"
SIDECAR = "commitments sidecar (commitments/)"
SIGNATURE = "manifest signature (manifest.dsse.json)"
READABLE = "tables readable inside the release"
INDEX = "index"
INDEX_JSON = "index.json"
INDEX_BINDS = "index binds to manifest"
INDEX_FILES = "index files and sha256"
INDEX_ENTRIES = "index entries agree with the tables"
INDEX_NEAR = "index near-copy lookups read the documents' signatures"

# every check a format-6 release with a recorded registry and an index gets, in the order verify runs them
ALL_CHECKS = [MANIFEST, CONFIG_HASH, FILES, SCHEMAS, CONSERVATION, REASONS, FIGURES, IDS, ALIGNED, ROW_HASH,
              DUPLICATE_OF, EXACT_TWINS, URLS, TEXT_HASHES, SIGNATURES, NEAR, BYTES, SOURCE_PATHS, DESCRIBED,
              HONOURED, EXPLAINED, ATTRIBUTED, ORPHANS, REGISTRY_STATE, REGISTRY_HONOURED, COMMIT_URLS, COMMIT_TEXTS,
              NOT_COMMITTED, SIDECAR, SIGNATURE, INDEX_BINDS, INDEX_FILES, INDEX_ENTRIES, INDEX_NEAR]  # fmt: skip
TABLES = ("documents", "ledger", "signatures", "optout_evidence")
OPTED_OUT = "optedout.test"  # the registry's one domain entry


# the checks each older format adds (its tables and manifest hold what they compare); an older release carries no
# index and applied no registry here, so it gets "index" and the registry's "not checked" line instead of theirs
ADDED_BY_FORMAT = {
    1: [MANIFEST, CONFIG_HASH, FILES, SCHEMAS, CONSERVATION, REASONS, FIGURES, IDS, ALIGNED, ROW_HASH, DUPLICATE_OF,
        EXACT_TWINS, SIGNATURE, INDEX],
    2: [HONOURED, EXPLAINED, ATTRIBUTED, ORPHANS, REGISTRY_UNREADABLE],  # the opt-out evidence
    3: [URLS, TEXT_HASHES, SIGNATURES, NEAR],  # URL identity, norm_sha256 and the signature spec recorded
    4: [BYTES, COMMIT_URLS, COMMIT_TEXTS, NOT_COMMITTED, SIDECAR],  # bytes by record type, Merkle commitments
    5: [DESCRIBED],  # the dataset card and the Croissant
}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, Path]:
    """(release, registry): the release applied the registry and has its index. Tests only read it (they tamper
    with copies), so `make mutate`, which mutates verify alone, builds it once for all mutants."""
    shared = os.environ.get("APERTURA_VERIFY_CHECKS_RELEASE")
    if not shared:
        return _build(tmp_path_factory.mktemp("verify-checks"))
    root = Path(shared)
    if not (root / "release" / "manifest.json").is_file():
        shutil.rmtree(root, ignore_errors=True)
        _build(root)
    return root / "release", root / "registry"


def _build(root: Path) -> tuple[Path, Path]:
    root.mkdir(parents=True, exist_ok=True)
    files, _ = planted_corpus()

    def article(seed: int, url: str, headers: tuple = ()) -> Page:
        return Page(url, make_page(seed, url, "en").html(), extra_headers=headers)

    consent = [
        article(70, "http://reserved.test/a", (("tdm-reservation", "1"),)),
        article(71, f"http://{OPTED_OUT}/a"),
        article(72, f"http://news.{OPTED_OUT}/b"),
        article(73, "http://kept.test/c"),
    ]
    paths = []
    for i, pages in enumerate([*files, consent]):
        paths.append(root / f"in-{i}.warc.gz")
        write_warc(paths[-1], pages)
    Registry(root / "registry").add("domain", OPTED_OUT, requester="Legal <legal@example.org>")
    release = root / "release"
    build([str(p) for p in paths], RunConfig(), release, registry=root / "registry")
    return release, root / "registry"


@pytest.fixture
def release(built, tmp_path) -> Path:
    copy = tmp_path / "release"
    shutil.copytree(built[0], copy, symlinks=True)
    return copy


_LAST: dict[str, VerifyReport] = {}  # the last report per release, for `_detail`


def _report(release: Path, registry: Path | None = None, *, pubkey: Path | None = None) -> dict[str, bool]:
    report = verify_release(release, registry, pubkey=pubkey)
    assert report.ok == all(c.ok for c in report.checks)
    _LAST[str(release)] = report
    return {c.name: c.ok for c in report.checks}


def _failed(release: Path, registry: Path | None = None, *, pubkey: Path | None = None) -> set[str]:
    return {name for name, ok in _report(release, registry, pubkey=pubkey).items() if not ok}


def _detail(release: Path, name: str) -> str:
    """The detail of check `name` in the report of the last `_failed`/`_report` on `release` (verified again if
    there was none): call it right after the assertion on the failed checks, before tampering further."""
    report = _LAST.get(str(release)) or verify_release(release)
    return next(c.detail for c in report.checks if c.name == name)


def _manifest(release: Path) -> dict:
    return json.loads((release / "manifest.json").read_text())


def _write_manifest(release: Path, manifest: dict, *, rebind_index: bool = True, rebind_sidecar: bool = True) -> None:
    """Write a changed manifest; re-point index.json (`rebind_index`) and the commitments sidecar's
    commitments.json (`rebind_sidecar`) at it, as a forger would: both are bound to the manifest's sha256 (and
    the sidecar names its release)."""
    data = json.dumps(manifest, indent=2).encode()
    (release / "manifest.json").write_bytes(data)
    for rebind, binding in ((rebind_index, release / "index" / "index.json"),
                            (rebind_sidecar, release / "commitments" / "commitments.json")):  # fmt: skip
        if rebind and binding.is_file():
            info = json.loads(binding.read_text())
            info["manifest_sha256"] = hashlib.sha256(data).hexdigest()
            if "release_id" in info:
                info["release_id"] = manifest["release_id"]
            binding.write_text(json.dumps(info))


def _edit_manifest(release: Path, change: Callable[[dict], None], *, rebind_index: bool = True) -> None:
    manifest = _manifest(release)
    change(manifest)
    _write_manifest(release, manifest, rebind_index=rebind_index)


def _move_in_funnel(manifest: dict, from_stage: str, to_stage: str) -> None:
    """Move one removal between two stages of the manifest's funnel, every stage's in and out kept in step (as a
    forger who moved the ledger's row would)."""
    stages = manifest["counts"]["stages"]
    next(s for s in stages if s["stage"] == from_stage)["removed"] -= 1
    next(s for s in stages if s["stage"] == to_stage)["removed"] += 1
    remaining = manifest["counts"]["inputs"]
    for stage in stages:
        stage.update({"in": remaining, "out": remaining - stage["removed"]})
        remaining = stage["out"]


def _part(release: Path, table: str) -> Path:
    (part,) = (release / table).glob("*.parquet")  # the test release has one file per table
    return part


def _write_table(path: Path, frame: pl.DataFrame) -> None:
    """Write `frame` over `path` as the release wrote it: the file's own Arrow schema, the release's writer
    options and the same row groups (extra rows go to the last one), so an edit that keeps the values' sizes
    can keep the file's size."""
    meta = pq.read_metadata(path)
    schema = schemas.arrow_schema(meta.metadata[b"apertura.table"].decode(),
                                  int(meta.metadata[b"apertura.schema_version"]))  # fmt: skip
    table = frame.to_arrow().select(schema.names).cast(schema)
    with pq.ParquetWriter(path, schema, **writer_options(schema)) as writer:
        start = 0
        for group in range(meta.num_row_groups):
            rows = meta.row_group(group).num_rows if group < meta.num_row_groups - 1 else table.num_rows - start
            writer.write_table(table.slice(start, rows), row_group_size=ROW_GROUP_SIZE)
            start += rows


def _reseal(release: Path, *, rebind_index: bool = True, commitments: bool = True) -> None:
    """Make the manifest list every table file as it now is (sha256, bytes, rows). With `commitments`, also
    rebuild the manifest's commitments and the `commitments/` sidecar from the tables as they now are (apertura's
    own `build_commitments`: a forger has it too); without, both are left as they were (the sidecar rebound).
    The Croissant and dataset card are resealed too."""
    manifest = _manifest(release)
    for f in manifest["files"]:
        path = release / f["path"]
        f.update(sha256=hashlib.sha256(path.read_bytes()).hexdigest(), bytes=path.stat().st_size,
                 rows=pq.read_metadata(path).num_rows)  # fmt: skip
    if commitments:
        trees = build_commitments(release, manifest["files"])
        manifest["commitments"] = trees.section()
    reseal_descriptions(release, manifest)
    if rebind_index:
        _resync_index_entries(release, manifest)
    if not commitments:
        _write_manifest(release, manifest, rebind_index=rebind_index)
        return
    _write_manifest(release, manifest, rebind_index=rebind_index, rebind_sidecar=False)
    if (release / "commitments").is_dir():
        data = (release / "manifest.json").read_bytes()
        trees.write_sidecar(release, hashlib.sha256(data).hexdigest(), manifest["release_id"])


def _resync_index_entries(release: Path, manifest: dict) -> None:
    """A thorough forger's index: its entries derived again from the tables as they now are (the index's own SQL),
    entries.duckdb re-hashed in index.json. Tables that cannot be read that way are left to their checks."""
    from pipeline.index.verify import TABLE_ENTRIES_SQL

    path = release / "index" / "entries.duckdb"
    if not path.is_file():
        return
    params = {"docs": [str(release / f["path"]) for f in manifest["files"] if f["table"] == "documents"],
              "ledger": [str(release / f["path"]) for f in manifest["files"] if f["table"] == "ledger"]}  # fmt: skip
    with contextlib.suppress(duckdb.Error):
        _edit_index_entries(release, "create or replace table entries as select * replace (entry::bigint as entry) "
                            f"from ({TABLE_ENTRIES_SQL})", params)  # fmt: skip
    _resync_index_signatures(release, manifest)


def _resync_index_signatures(release: Path, manifest: dict) -> None:
    """The forger's near-copy structures: the documents' rows of `signatures.npy` copied from the signatures table
    as it now is, the LSH bands made again from them (apertura's own `band_keys`), all re-hashed in index.json."""
    from pipeline.fingerprints import band_keys

    try:
        table = pl.read_parquet([release / f["path"] for f in manifest["files"] if f["table"] == "signatures"])
        stored = np.array(table["minhash"].to_list(), dtype=np.uint32)
    except Exception:  # a table damaged on purpose is left to its checks
        return
    signatures = np.load(release / "index" / "signatures.npy")
    if stored.ndim != 2 or stored.shape[1] != signatures.shape[1]:
        return
    signatures[: min(len(stored), len(signatures))] = stored[: len(signatures)]
    signed = np.flatnonzero((signatures != np.uint32(0xFFFFFFFF)).any(axis=1))
    keys = band_keys(signatures[signed], 14, 8)  # the default dedup settings the release was built with
    order = np.argsort(keys, axis=1, kind="stable")
    sorted_keys = np.take_along_axis(keys, order, axis=1)
    for name, array in {"signatures": signatures, "lsh_keys": sorted_keys, "lsh_entries": signed[order]}.items():
        np.save(release / "index" / f"{name}.npy", array)
        _rehash_index_file(release, f"{name}.npy")


def _rewrite(release: Path, table: str, change: Callable[[pl.DataFrame], pl.DataFrame], *, reseal: bool = True,
             commitments: bool = True) -> None:
    path = _part(release, table)
    _write_table(path, change(pl.read_parquet(path)))
    if reseal:
        _reseal(release, commitments=commitments)


def _sign(release: Path, row: int, signature: list[int]) -> None:
    """Document `row`'s stored MinHash signature replaced (files not resealed)."""

    def resign(frame: pl.DataFrame) -> pl.DataFrame:
        values = frame["minhash"].to_list()
        values[row] = signature
        return frame.with_columns(pl.Series("minhash", values, dtype=frame.schema["minhash"]))

    _rewrite(release, "signatures", resign, reseal=False)


def _signature_of(text: str) -> list[int]:
    """What a thorough forger stores beside a text it swapped in: the text's own signature."""
    return add_dedup_keys(pl.DataFrame({"text": [text]}), RunConfig().dedup)["minhash"][0].to_list()


def _set(frame: pl.DataFrame, row: int, **values) -> pl.DataFrame:
    """`frame` with the given columns of one row replaced by literals."""
    index = pl.int_range(pl.len()) == row
    return frame.with_columns(
        **{c: pl.when(index).then(pl.lit(v, dtype=frame.schema[c])).otherwise(pl.col(c)) for c, v in values.items()}
    )


def _row(frame: pl.DataFrame, **where) -> int:
    """Position of the first row whose columns equal the given values."""
    hit = frame.with_row_index("_n").filter(**where)
    assert hit.height, where
    return int(hit["_n"][0])


def _same_size_edit(release: Path, table: str, edits: Iterator[Callable[[pl.DataFrame], pl.DataFrame]]) -> str:
    """Apply the first edit whose rewritten file has exactly the original size (the manifest is left as it was),
    so only the sha256 can tell. Returns the file's path in the release."""
    path = _part(release, table)
    original, size = pl.read_parquet(path), path.stat().st_size
    for edit in edits:
        _write_table(path, edit(original))
        if path.stat().st_size == size:
            return f"{table}/{path.name}"
    raise AssertionError(f"no same-size edit of {table} found")


def _digit_edits(frame: pl.DataFrame, column: str, rows: list[int] | None = None) -> Iterator[Callable]:
    """Edits that change one digit of one value of `column` (the value keeps its length)."""
    for row in rows if rows is not None else range(frame.height):
        value = frame[column][row]
        for at, char in enumerate(value):
            if char.isdigit():
                for other in "0123456789".replace(char, ""):
                    changed = value[:at] + other + value[at + 1 :]
                    yield lambda f, row=row, changed=changed: _set(f, row, **{column: changed})


def _ledger(release: Path) -> pl.DataFrame:
    return pl.read_parquet(_part(release, "ledger"))


def _documents(release: Path) -> pl.DataFrame:
    return pl.read_parquet(_part(release, "documents"))


def _mth(leaves: list[bytes]) -> bytes:
    """RFC 9162 §2.1.1 Merkle tree hash, written here from the RFC's recursive definition (the release builds its
    trees bottom-up from chunk roots): the independent reference for the commitments' roots."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    split = 1 << ((len(leaves) - 1).bit_length() - 1)  # the largest power of two smaller than the size
    return hashlib.sha256(b"\x01" + _mth(leaves[:split]) + _mth(leaves[split:])).digest()


def _reference_roots(release: Path) -> dict[str, str]:
    """The roots schemas/manifest.v4.json defines, from the tables: `urls` over sha256(url_key) of each kept document
    and sha256(url_key) + stage + NUL + reason of each ledger row, `texts` over the kept documents' norm_sha256;
    each over its leaves sorted bytewise with repeats dropped."""
    docs, ledger = _documents(release), _ledger(release)
    urls = {hashlib.sha256(k.encode()).digest() for k in docs["url_key"]} | {
        hashlib.sha256(k.encode()).digest() + f"{stage}\x00{reason}".encode()
        for k, stage, reason in ledger.select("url_key", "stage", "reason").iter_rows()
    }
    texts = {bytes.fromhex(h) for h in docs["norm_sha256"]}
    return {"urls": _mth(sorted(urls)).hex(), "texts": _mth(sorted(texts)).hex()}


# --- the untouched release passes every check ---------------------------------------------------------------


def test_the_untouched_release_passes_every_check_and_runs_them_all(built):
    """The full list of checks, in order: a check added to verify fails this test until it has its own tests."""
    release, _ = built
    assert [c.name for c in verify_release(release).checks] == ALL_CHECKS
    assert _report(release) == dict.fromkeys(ALL_CHECKS, True)
    ledger = _ledger(release)
    # what the tamperings below rely on, by construction of the inputs
    assert {"optout_tdmrep", "optout_registry", "dedup_exact", "gopher_short_doc"} <= set(ledger["reason"])
    assert set(ledger.filter(pl.col("reason") == "optout_registry")["url"]) == {
        f"http://{OPTED_OUT}/a", f"http://news.{OPTED_OUT}/b"
    }
    assert len(_manifest(release)["inputs"]) == 4 and _manifest(release)["format_version"] == 6
    assert (release / "commitments" / "commitments.json").is_file()  # the sidecar the release pass writes
    assert not (release / "manifest.dsse.json").exists()  # unsigned: the signature tests sign copies


def test_the_untouched_release_says_what_it_checked(built):
    release, _ = built
    details = {c.name: c.detail for c in verify_release(release).checks}
    exact = _ledger(release).filter(pl.col("reason") == "dedup_exact").height
    assert exact >= 1 and details[EXACT_TWINS] == f"{exact} exact duplicates, each of its twin's text"
    _, expect = planted_corpus()
    total = len(expect) + 4  # the planted pages and the four consent pages
    kept = sum(e.stage is None for e in expect.values()) + 1  # http://kept.test/c
    assert details[CONSERVATION] == f"{total} = {kept} kept + {total - kept} removed"
    assert details[MANIFEST] == "format 6, release release"
    assert details[FIGURES] == f"{len(_manifest(release)['counts']['stages'])} stages from {total} to {kept}"
    assert details[SOURCE_PATHS] == "no source root: input paths recorded as typed"  # built without --source-root
    assert details[FILES] == "6 files match"  # one part file per table, the dataset card and the Croissant
    assert details[SCHEMAS] == "every file matches schemas/"
    assert details[HONOURED] == "0 violations"
    bound = hashlib.sha256((release / "manifest.json").read_bytes()).hexdigest()
    assert details[INDEX_BINDS] == f"built from manifest sha256 {bound[:16]}…"
    assert details[REGISTRY_HONOURED].startswith("0 documents match the 1 entries in force at 20")
    # four WARCs written whole: every byte is in a record, no unreadable span
    assert details[BYTES] == "every byte of 4 inputs accounted for; 0 unreadable spans (0 bytes) in the ledger"
    roots = _reference_roots(release)
    assert {n: t["root"] for n, t in _manifest(release)["commitments"]["trees"].items()} == roots
    # every planted page has its own URL (one leaf each) and every kept page its own text
    assert details[COMMIT_URLS] == (
        f"root {roots['urls'][:16]}… (leaves {total}, kept {kept}, removals {total - kept}) recomputes from the tables"
    )
    assert details[COMMIT_TEXTS] == f"root {roots['texts'][:16]}… (leaves {kept}) recomputes from the tables"
    assert details[NOT_COMMITTED] == "documents without url key: 0, removals without url key: 0"  # all http pages
    assert details[SIDECAR] == "matches the tables"
    assert details[INDEX_ENTRIES] == f"{total} entries"  # one per document and per ledger row
    texts = kept + _ledger(release)["text"].is_not_null().sum()  # the ledger keeps a filtered or duplicate's text
    assert details[INDEX_NEAR] == (f"{kept} documents' signatures, 14 LSH bands of {texts} signed entries "
                                   f"({texts - kept} removed rows' signatures by sha256 only)")  # fmt: skip
    assert details[TEXT_HASHES] == f"{texts} texts match" and texts > kept
    assert details[SIGNATURES] == f"{kept} signatures match"
    near = _ledger(release).filter(pl.col("reason") == "dedup_near").height
    assert near >= 1 and details[NEAR] == f"{near} near duplicates, each as similar to its keeper as it says"
    assert details[SIGNATURE] == "not signed (optional): `apertura release sign` signs it"
    assert all(details[name] == "" for name in (CONFIG_HASH, REASONS, IDS, ALIGNED, DUPLICATE_OF, ROW_HASH, URLS,
                                                EXPLAINED, ATTRIBUTED, ORPHANS, REGISTRY_STATE))  # fmt: skip


# --- manifest -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("damage", ["not json", "no counts", "other format", "missing", "no version", "version 99",
                                    "version true", "a file without bytes"])  # fmt: skip
def test_a_broken_manifest_fails_the_manifest_check_and_stops(release, damage):
    path = release / "manifest.json"
    if damage == "not json":
        path.write_text(path.read_text()[:-2])
    elif damage == "missing":
        path.unlink()
    else:
        manifest = _manifest(release)
        if damage == "no counts":
            del manifest["counts"]
        elif damage == "no version":
            del manifest["format_version"]
        elif damage == "version 99":
            manifest["format_version"] = 99
        elif damage == "version true":  # JSON true is no version, although Python takes it for 1
            manifest["format_version"] = True
        elif damage == "a file without bytes":
            del manifest["files"][1]["bytes"]
        else:
            manifest["format"] = "other-release"
        path.write_text(json.dumps(manifest))
    assert _report(release) == {MANIFEST: False}
    expected = {
        "not json": f"{path} is not valid JSON: ",
        "missing": f"{release} is not a release: manifest.json is missing",
        "no counts": "manifest.json does not match its schema: 'counts' is a required property",
        # the one release reader (pipeline.release_read) refuses it before any schema is chosen
        "other format": f"{path} is not an Apertura release manifest",
        "no version": "manifest.json does not match its schema: 'format_version' is a required property",
        "version 99": "manifest.json has format_version 99: not a format this apertura reads",
        "version true": "manifest.json has format_version True: not a format this apertura reads",
        "a file without bytes": "manifest.json does not match its schema at $.files[1]: 'bytes' is a required property",
    }
    detail = _detail(release, MANIFEST)
    assert detail.startswith(expected[damage])
    if damage != "not json":
        assert detail == expected[damage]  # one line, not a whole validation report or an OS error


@pytest.mark.parametrize("version", [1, 0, 99], ids=["older", "zero", "unknown"])
def test_a_file_listed_with_another_schema_version_fails_table_schemas(release, version):
    """The schema a file must have is the one its release's format holds: an older version (the schema of a release
    relabelled as an older format), 0 (once read as "the newest") or one no apertura has are named, not read."""
    def relist_documents(manifest: dict) -> None:
        next(f for f in manifest["files"] if f["table"] == "documents").update(schema_version=version)

    _edit_manifest(release, relist_documents)
    assert _failed(release) == {SCHEMAS}
    fmt = _manifest(release)["format_version"]
    expected = f"documents/part-00000.parquet: listed as documents.v{version}; format {fmt} has documents.v3"
    assert _detail(release, SCHEMAS) == expected


@pytest.mark.parametrize("tables", ["v3 tables", "v1 tables"])
def test_a_release_relabelled_as_an_older_format_fails_even_with_that_formats_schema_versions(release, tables):
    """A downgrade: format 6 relabelled as format 1, which has no opt-out, registry, byte, description or commitment
    checks. Its tables keep their versions (table schemas names each), or are relisted as format 1's (their columns
    differ); the opt-out evidence it dropped from the list is still in the release (files names it)."""
    def relabel(manifest: dict) -> None:
        manifest["format_version"] = 1
        for key in ("source_root", "descriptions", "commitments", "optout", "lineage"):
            manifest.pop(key, None)
        for entry in manifest["inputs"]:
            entry.pop("bytes_by_type", None)
        manifest["files"] = [f for f in manifest["files"] if f["table"] != "optout_evidence"]
        if tables == "v1 tables":
            for f in manifest["files"]:
                f["schema_version"] = schemas.TABLE_VERSIONS[1][f["table"]]

    _edit_manifest(release, relabel)
    assert FILES in _failed(release)
    assert _detail(release, FILES).startswith("optout_evidence/part-00000.parquet: not listed in the manifest")
    (release / "optout_evidence" / "part-00000.parquet").unlink()  # the forger removes it too
    assert _failed(release) == {SCHEMAS}
    expected = {"v3 tables": "listed as documents.v3; format 1 has documents.v1",
                "v1 tables": "columns differ from documents.v1"}[tables]  # fmt: skip
    assert f"documents/part-00000.parquet: {expected}" in _detail(release, SCHEMAS)


def test_a_listed_file_that_is_not_parquet_fails_table_schemas_and_each_check_that_queries_it_says_why(built, tmp_path):
    """A forger's file, listed with its sha256, that is no Parquet: `table schemas` names pyarrow's error, and each
    check that queries the table is a failed finding, never a traceback, whose reason is the error's type and first
    line cut to 300 characters (the release lies under a 240-character directory that DuckDB's message repeats)."""
    release = tmp_path / ("r" * 240) / "release"
    shutil.copytree(built[0], release, symlinks=True)
    path = _part(release, "documents")
    path.write_bytes(b"not a parquet file!!")
    manifest = _manifest(release)
    listed = next(f for f in manifest["files"] if f["table"] == "documents")
    listed.update(sha256=hashlib.sha256(path.read_bytes()).hexdigest(), bytes=path.stat().st_size)
    ledger = next(f for f in manifest["files"] if f["table"] == "ledger")
    ledger["rows"] += 1  # a file after it with a problem of its own: still checked, and named
    reseal_descriptions(release, manifest)
    _write_manifest(release, manifest)
    with pytest.raises(Exception) as by_pyarrow:  # the references: what pyarrow and DuckDB say of this file
        pq.read_metadata(path)
    with pytest.raises(Exception) as by_duckdb:
        duckdb.read_parquet(str(path)).fetchall()
    assert "\n" not in str(by_pyarrow.value).strip() and len(str(by_duckdb.value).splitlines()[0]) > 300
    reading_documents = {CONSERVATION, IDS, ALIGNED, ROW_HASH, DUPLICATE_OF, URLS, TEXT_HASHES, SIGNATURES, BYTES,
                         HONOURED, ORPHANS, REGISTRY_UNREADABLE, COMMITMENTS, INDEX}  # fmt: skip
    assert _failed(release) == {SCHEMAS, *reading_documents}  # each by its own name, none left out
    names = [c.name for c in _LAST[str(release)].checks]
    assert len(names) == len(set(names)) and set(GUARDED_APART) <= set(names)
    for name in reading_documents:
        assert _detail(release, name).startswith("could not be checked: "), name
    assert _detail(release, SCHEMAS) == (
        f"{listed['path']}: not a readable Parquet file ({by_pyarrow.type.__name__}: {str(by_pyarrow.value).strip()})"
        f"; {ledger['path']}: {ledger['rows'] - 1} rows, manifest says {ledger['rows']}"
    )
    for name in (CONSERVATION, BYTES, HONOURED, REGISTRY_UNREADABLE):
        detail = _detail(release, name)
        assert detail.startswith(f"could not be checked: {by_duckdb.type.__name__}: "), (name, detail)
        reason = detail.removeprefix("could not be checked: ")
        assert len(reason) == 300 and "\n" not in reason and str(release)[:100] in reason, (name, reason)


COMMITMENTS = "commitments rebuild from the tables"
# checks that once shared one guard: a crash in one added a second line under the first's name, and none for the rest
GUARDED_APART = [CONSERVATION, REASONS, FIGURES, IDS, ALIGNED, ROW_HASH, HONOURED, EXPLAINED, ATTRIBUTED, ORPHANS]


@pytest.mark.parametrize(("table", "reading"), [
    ("signatures", {ALIGNED, SIGNATURES, NEAR, REGISTRY_UNREADABLE, INDEX}),
    ("ledger", {CONSERVATION, REASONS, FIGURES, IDS, ROW_HASH, DUPLICATE_OF, URLS, TEXT_HASHES, NEAR, BYTES,
                EXPLAINED, ATTRIBUTED, ORPHANS, COMMITMENTS, INDEX}),
    ("optout_evidence", {FIGURES, HONOURED, EXPLAINED, ATTRIBUTED, ORPHANS, REGISTRY_UNREADABLE}),
])  # fmt: skip
def test_any_table_that_is_not_parquet_fails_exactly_the_checks_that_read_it(release, table, reading):
    """Each check that reads the table (the keepers' signatures the near check's, the matches the registry's, the
    policy files the figures', the cited entries the opt-out checks') is a failed finding under its own name, and
    once only: a check that cannot run leaves the others' lines as they are."""
    path = _part(release, table)
    path.write_bytes(b"not a parquet file!!")
    manifest = _manifest(release)
    next(f for f in manifest["files"] if f["table"] == table).update(
        sha256=hashlib.sha256(path.read_bytes()).hexdigest(), bytes=path.stat().st_size)  # fmt: skip
    reseal_descriptions(release, manifest)
    _write_manifest(release, manifest)
    assert _failed(release) == {SCHEMAS, *reading}
    names = [c.name for c in _LAST[str(release)].checks]
    assert len(names) == len(set(names)) and set(GUARDED_APART) <= set(names)  # once each
    assert all(_detail(release, name).startswith("could not be checked: ") for name in reading)


def test_an_error_without_a_message_is_still_named_by_its_type():
    """A check that fails with a bare exception (no message) is reported by the exception's name alone."""
    assert _first_line(OSError()) == "OSError: "
    assert _first_line(ValueError("\n  second line only\n")) == "ValueError: second line only"


@pytest.mark.parametrize(
    ("root", "expect"),
    [
        ("/moved/inputs", "/in-0.warc.gz' is not a path relative to the source root"),  # the paths stay absolute
        ("inputs", "source_root 'inputs' is not an absolute path"),
    ],
)
def test_a_source_root_the_recorded_paths_are_not_relative_to_fails_the_source_paths_check(release, root, expect):
    _edit_manifest(release, lambda m: m.update(source_root=root))
    assert _failed(release) == {SOURCE_PATHS}
    assert expect in _detail(release, SOURCE_PATHS)


@pytest.mark.parametrize("snapshot", ["snapshots/robots.warc.gz", "/elsewhere/robots.warc.gz", "../robots.warc.gz"])
def test_an_opt_out_snapshot_is_held_to_the_source_root_like_an_input(release, snapshot):
    """A rooted release whose inputs are recorded relative to its root: a snapshot recorded the same way passes, one
    recorded as an absolute path or outside the root is named."""
    inputs = [e["path"] for e in _manifest(release)["inputs"]]
    root = os.path.commonpath(inputs)

    def rooted(manifest: dict) -> None:
        manifest["source_root"] = root
        for entry in manifest["inputs"]:
            entry["path"] = os.path.relpath(entry["path"], root)
        manifest["optout"]["snapshots"] = [{"path": snapshot, "sha256": "0" * 64, "bytes": 0}]

    _edit_manifest(release, rooted)  # (the rows' file_path, no longer the inputs' paths, fail conservation)
    if snapshot.startswith("snapshots/"):
        assert SOURCE_PATHS not in _failed(release)
        assert _detail(release, SOURCE_PATHS) == f"{len(inputs) + 1} local input paths relative to {root}"
    else:
        assert SOURCE_PATHS in _failed(release)
        assert _detail(release, SOURCE_PATHS) == f"{snapshot!r} is not a path relative to the source root"


def test_a_changed_config_fails_the_config_hash(release):
    _edit_manifest(release, lambda m: m["config"].update(batch_size=m["config"]["batch_size"] + 1))
    assert _failed(release) == {CONFIG_HASH}
    assert "config hashes to sha256:" in _detail(release, CONFIG_HASH)


def test_a_config_that_does_not_load_fails_the_config_hash(release):
    """Only there: the checks that sign texts with its dedup settings say they were not made, and why."""
    _edit_manifest(release, lambda m: m["config"].update(batch_size="many"))
    assert _failed(release) == {CONFIG_HASH}
    assert _detail(release, CONFIG_HASH).startswith("config does not load")
    unmade = [(c.name, c.detail) for c in _LAST[str(release)].checks if not c.checked]
    assert (SIGNATURES, "not made: the config does not load (see 'config hash')") in unmade
    assert (NEAR, "not made: the config does not load (see 'config hash')") in unmade


# --- files and sha256: per table, same-size edits included ---------------------------------------------------

SAME_SIZE = {
    # table: (column whose digit changes, rows (None: any), the deeper check that catches it once resealed)
    "documents": ("url_key", None, URLS),
    "ledger": ("detail", None, INDEX_BINDS),  # nothing recomputes a detail: the index's binding still sees it
    "signatures": ("id", None, ALIGNED),
    "optout_evidence": ("document_id", None, None),  # decided below: the evidence of a removal now names nobody
}


@pytest.mark.parametrize("table", TABLES)
def test_a_same_size_edit_of_a_table_fails_its_sha256_and_then_the_check_that_guards_it(release, table):
    column, rows, deeper = SAME_SIZE[table]
    original = pl.read_parquet(_part(release, table))
    if table == "optout_evidence":
        rows = [_row(original, kind="document", document_id=_ledger(release).filter(
            pl.col("reason") == "optout_tdmrep")["id"][0])]  # fmt: skip
    path = _same_size_edit(release, table, _digit_edits(original, column, rows))
    assert _failed(release) == {FILES}
    assert _detail(release, FILES) == f"{path}: sha256 differs from the manifest (file changed)"
    if table == "ledger":  # the manifest resealed, the index not rebound: its binding catches it
        _reseal(release, rebind_index=False)
        assert _failed(release) == {INDEX_BINDS}
        return
    _reseal(release)
    if table == "optout_evidence":  # the TDM removal lost its evidence, and the evidence is about no record
        assert _failed(release) == {EXPLAINED, ORPHANS}
    else:
        assert _failed(release) == {deeper}


@pytest.mark.parametrize("table", TABLES)
def test_a_file_of_another_size_fails_files_and_sha256(release, table):
    path = _part(release, table)
    path.write_bytes(path.read_bytes() + b"\0")
    assert _failed(release) == {FILES} and set(_report(release)) == {MANIFEST, CONFIG_HASH, FILES}
    assert "bytes, manifest says" in _detail(release, FILES)


@pytest.mark.parametrize("table", TABLES)
def test_a_missing_or_an_unlisted_file_fails_files_and_sha256(release, table):
    path = _part(release, table)
    shutil.copy(path, path.with_name("part-00001.parquet"))
    assert _failed(release) == {FILES}
    assert _detail(release, FILES) == f"{table}/part-00001.parquet: not listed in the manifest"
    path.unlink()
    assert _failed(release) == {FILES}
    assert f"{table}/{path.name}: missing" in _detail(release, FILES)


@pytest.mark.parametrize(
    ("error", "reason"),
    [(PermissionError(errno.EACCES, "Permission denied"), "Permission denied"), (OSError("I/O failed"), "I/O failed")],
    ids=["EACCES", "no errno"],
)
def test_a_file_the_system_cannot_read_fails_files_and_sha256_with_its_reason(release, monkeypatch, error, reason):
    """An OS error while hashing a listed file (EACCES, which chmod cannot give root, the tests' user on CI; an
    I/O error) is injected where verify reads it: the file is named with the system's reason, never a traceback."""
    import pipeline.verify

    part, hash_file = _part(release, "ledger"), pipeline.verify.file_sha256

    def failing(path: Path) -> str:
        if Path(path) == part:
            raise error
        return hash_file(path)

    monkeypatch.setattr(pipeline.verify, "file_sha256", failing)
    assert _failed(release) == {FILES}
    assert _detail(release, FILES) == f"ledger/{part.name}: unreadable ({reason})"


def test_every_file_problem_is_named(release):
    """A missing file does not stop the others being checked."""
    _part(release, "documents").unlink()
    ledger = _part(release, "ledger")
    ledger.write_bytes(ledger.read_bytes() + b"\0")
    size = ledger.stat().st_size
    assert _failed(release) == {FILES}
    assert _detail(release, FILES) == (
        f"documents/part-00000.parquet: missing; ledger/part-00000.parquet: {size} bytes, manifest says {size - 1}"
    )


# --- the dataset card and the Croissant (format 5) ----------------------------------------------------------

SIDECAR = "commitments sidecar (commitments/)"  # binds the manifest's bytes: any manifest edit fails it as well


@pytest.mark.parametrize("name", ["README.md", "croissant.json"])
def test_an_edited_or_unlisted_description_fails_files_and_sha256(release, name):
    path = release / name
    path.write_text(path.read_text().replace("documents", "documentz", 1))
    assert _failed(release) == {FILES}
    assert _detail(release, FILES) == f"{name}: sha256 differs from the manifest (file changed)"
    _edit_manifest(release, lambda m: m.update(descriptions=[d for d in m["descriptions"] if d["path"] != name]))
    assert _failed(release) - {SIDECAR} == {FILES}
    assert f"{name}: not listed in the manifest's descriptions" in _detail(release, FILES)


@pytest.mark.parametrize("version", [1, 2, 3, 4, 5])
def test_each_older_format_gets_every_check_its_release_can_answer_and_passes(version, tmp_path):
    """A check is made from the format that first holds what it compares, on: one left out would pass a release
    unchecked, one made too early would fail a true older release."""
    report = verify_release(old_release(tmp_path / "old", version))
    assert {c.name for c in report.checks} == {name for v in range(1, version + 1) for name in ADDED_BY_FORMAT[v]}
    assert report.ok, [c for c in report.checks if not c.ok]


@pytest.mark.parametrize("format_version", [5, 6])  # 5: the first format with descriptions (its fixture), 6: ours
def test_a_description_listed_as_the_other_kind_fails_files_and_sha256(release, tmp_path, format_version):
    """The card listed as a Croissant: the card is not listed as what it is, and is listed as what it is not."""
    if format_version == 5:
        release = old_release(tmp_path / "format5", 5)
    _edit_manifest(release, lambda m: next(d for d in m["descriptions"] if d["path"] == "README.md").update(
        kind="croissant"))  # fmt: skip
    assert FILES in _failed(release)
    assert _detail(release, FILES) == (
        "README.md: not listed in the manifest's descriptions (as dataset_card); README.md: listed as croissant, "
        "which it is not"
    )


def test_a_local_release_reports_no_fetched_copy_in_its_json(release):
    """`verify --json` of a directory: the release, its verdict and checks, and no `fetched` (that is a remote's)."""
    report = verify_release(release).to_dict()
    assert list(report) == ["release", "ok", "checks"] and report["ok"] is True
    assert report["checks"][0] == {"name": MANIFEST, "ok": True, "detail": _detail(release, MANIFEST), "checked": True}


def _card_edit(release: Path, old: str, new: str) -> None:
    card = release / "README.md"
    text = card.read_text()
    assert old in text
    card.write_text(text.replace(old, new, 1))
    manifest = _manifest(release)
    reseal_descriptions(release, manifest)
    _write_manifest(release, manifest)


def test_a_card_whose_front_matter_is_not_yaml_fails_the_description_check(release):
    """Front matter `datasets` cannot parse: a failed finding with the YAML parser's reason, never a traceback."""
    import yaml

    _card_edit(release, "configs:\n", "configs: [unclosed\n")
    front = (release / "README.md").read_text().removeprefix("---\n").partition("\n---\n")[0]
    with pytest.raises(yaml.YAMLError) as by_yaml:  # the reference: what the YAML parser says of it
        yaml.safe_load(front)
    assert _failed(release) == {DESCRIBED}
    reason = str(by_yaml.value).strip().splitlines()[0]
    assert _detail(release, DESCRIBED) == f"could not be checked: {by_yaml.type.__name__}: {reason}"


def test_a_card_config_that_loads_another_file_fails_the_description_check(release):
    _card_edit(release, "  - ledger/part-00000.parquet", "  - ledger/*.parquet")
    assert _failed(release) - {SIDECAR} == {DESCRIBED}
    assert "config 'ledger' loads ['ledger/*.parquet']" in _detail(release, DESCRIBED)


@pytest.mark.parametrize("croissant", ["readable", "not JSON"])
def test_a_card_whose_default_is_the_ledger_fails_the_description_check(release, croissant):
    """With an unreadable Croissant beside it, both problems are named, the card's first."""
    _card_edit(release, "  default: true\n", "")
    _card_edit(release, "- config_name: ledger\n", "- config_name: ledger\n  default: true\n")
    if croissant == "not JSON":
        (release / "croissant.json").write_text('{"@type": ')
        _relist_descriptions(release)
    assert _failed(release) - {SIDECAR} == {DESCRIBED}
    also = {"readable": "", "not JSON": "; croissant.json: not JSON (JSONDecodeError: Expecting value: line 1 column "
            "11 (char 10))"}[croissant]  # fmt: skip
    assert _detail(release, DESCRIBED) == f"README.md: the default config is ['ledger'], not the documents{also}"


def test_a_croissant_with_another_files_sha256_fails_the_description_check(release):
    croissant = release / "croissant.json"
    doc = json.loads(croissant.read_text())
    part = next(o for o in doc["distribution"] if o["@type"] == "cr:FileObject")
    part["sha256"] = "0" * 64
    croissant.write_text(json.dumps(doc))
    _relist_descriptions(release)  # the forger re-lists the edited Croissant, but not the table's sha256
    assert _failed(release) - {SIDECAR} == {DESCRIBED}
    assert "croissant.json: its files and sha256 differ from the manifest's" in _detail(release, DESCRIBED)


UNREADABLE_CROISSANT = "not a Croissant object (its distribution, record sets and their fields are lists of objects)"


@pytest.mark.parametrize("damage", ["card not UTF-8", "Croissant not JSON", "Croissant a list", "a file of the "
                                    "distribution a string", "a record set a string", "a field a string"])  # fmt: skip
def test_a_description_that_cannot_be_read_fails_the_description_check_saying_why(release, damage):
    croissant = release / "croissant.json"
    doc = json.loads(croissant.read_text())
    if damage == "card not UTF-8":
        (release / "README.md").write_bytes(b"---\n\xff---\n")
    elif damage == "Croissant not JSON":
        croissant.write_text('{"@type": ')
    else:
        if damage == "Croissant a list":
            doc = [doc]
        elif damage.startswith("a file"):
            doc["distribution"].append("documents/part-00000.parquet")
        elif damage.startswith("a record set"):
            doc["recordSet"].append("ledger")
        else:
            doc["recordSet"][0]["field"].append("url")
        croissant.write_text(json.dumps(doc))
    _relist_descriptions(release)  # the forger lists the damaged file as it now is
    assert _failed(release) - {SIDECAR} == {DESCRIBED}
    expected = {
        "card not UTF-8": "README.md: not UTF-8 text (invalid start byte at byte 4)",
        "Croissant not JSON": "croissant.json: not JSON (JSONDecodeError: Expecting value: line 1 column 11 (char 10))",
    }
    assert _detail(release, DESCRIBED) == expected.get(damage, f"croissant.json: {UNREADABLE_CROISSANT}")


def _relist_descriptions(release: Path) -> None:
    """The manifest lists the card and Croissant as they now are (a forger's re-listing)."""
    manifest = _manifest(release)
    for d in manifest["descriptions"]:
        path = release / d["path"]
        d.update(sha256=hashlib.sha256(path.read_bytes()).hexdigest(), bytes=path.stat().st_size)
    _write_manifest(release, manifest)


def test_a_card_that_leads_out_of_the_release_fails_the_description_check(release, tmp_path):
    """README.md a symlink to a copy outside the release (same bytes, so its sha256 holds): never read."""
    outside = tmp_path / "elsewhere.md"
    shutil.copyfile(release / "README.md", outside)
    (release / "README.md").unlink()
    (release / "README.md").symlink_to(outside)
    assert _failed(release) == {DESCRIBED}
    assert _detail(release, DESCRIBED) == f"{release}: a description 'README.md' resolves outside the release"


@pytest.mark.parametrize("extra", [0, 1], ids=["at the limit", "a byte over"])
def test_a_card_over_the_size_limit_is_refused_unparsed(release, extra):
    """The card padded to 64 MiB (parsed: it still describes the tables) or a byte more (refused, never parsed)."""
    from pipeline.verify import MAX_DESCRIPTION_BYTES

    card = release / "README.md"
    with card.open("ab") as out:
        out.write(b" " * (MAX_DESCRIPTION_BYTES + extra - card.stat().st_size))
    _relist_descriptions(release)
    if extra:
        assert _failed(release) - {SIDECAR} == {DESCRIBED}
        assert _detail(release, DESCRIBED) == "README.md: larger than 64 MiB, not parsed"
    else:
        assert _failed(release) - {SIDECAR} == set()


@pytest.mark.parametrize("section", ["distribution", "recordSet"])
def test_a_croissant_without_its_files_or_its_record_sets_fails_the_description_check(release, section):
    """A Croissant that lists no files, or describes no table's columns, does not describe the tables."""
    croissant = release / "croissant.json"
    doc = json.loads(croissant.read_text())
    del doc[section]
    croissant.write_text(json.dumps(doc))
    _relist_descriptions(release)
    assert _failed(release) - {SIDECAR} == {DESCRIBED}
    files = _manifest(release)["files"]
    expected = {
        "distribution": "croissant.json: its files and sha256 differ from the manifest's, e.g. "
        f"{sorted((f['path'], f['sha256']) for f in files)[:3]}; croissant.json: its file sets are not the tables' "
        f"listed parts, e.g. {sorted(f'{t}-parquet' for t in TABLES)[:3]}",
        "recordSet": f"croissant.json: no record set describes {', '.join(sorted({f['table'] for f in files}))}",
    }
    assert len(files) > 3 and _detail(release, DESCRIBED) == expected[section]


def test_a_croissant_missing_one_record_set_fails_the_description_check(release):
    croissant = release / "croissant.json"
    doc = json.loads(croissant.read_text())
    doc["recordSet"] = [r for r in doc["recordSet"] if r["@id"] != "ledger"]
    croissant.write_text(json.dumps(doc))
    _relist_descriptions(release)
    assert _failed(release) - {SIDECAR} == {DESCRIBED}
    assert _detail(release, DESCRIBED) == "croissant.json: no record set describes ledger"


@pytest.mark.parametrize("damage", ["no fields", "no such table"])
def test_a_croissant_record_set_without_fields_or_for_no_table_is_named(release, damage):
    """A record set that lists no fields, or describes a table the release does not have, is named, not a crash."""
    croissant = release / "croissant.json"
    doc = json.loads(croissant.read_text())
    documents = next(r for r in doc["recordSet"] if r["@id"] == "documents")
    if damage == "no fields":
        del documents["field"]
    else:
        doc["recordSet"].append({**documents, "@id": "extra", "name": "extra"})
    croissant.write_text(json.dumps(doc))
    _relist_descriptions(release)
    assert _failed(release) - {SIDECAR} == {DESCRIBED}
    table = {"no fields": "documents", "no such table": "extra"}[damage]
    expected = f"croissant.json: record set {table!r} is not a table of the release with its columns"
    assert _detail(release, DESCRIBED) == expected


def _shadow_documents(release: Path) -> str:
    """A copy of the documents part outside the table folders (which verify searches for unlisted files), its first
    text replaced: what a forger would have loaders read instead. Returns the text."""
    shadow = release / "shadow" / "documents" / "part-00000.parquet"
    shadow.parent.mkdir(parents=True)
    shutil.copyfile(_part(release, "documents"), shadow)
    text = "SHADOW TEXT the manifest never vouched for"
    _write_table(shadow, _set(pl.read_parquet(shadow), 0, text=text))
    return text


def test_a_card_config_that_points_datasets_elsewhere_fails_the_description_check(release, tmp_path, monkeypatch):
    """`data_dir: shadow` keeps `data_files` as listed, yet `datasets` resolves them under the shadow folder."""
    import datasets

    text = _shadow_documents(release)
    _card_edit(release, "- config_name: documents\n", "- config_name: documents\n  data_dir: shadow\n")
    for name, value in {"HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}.items():
        monkeypatch.setenv(name, value)
    loaded = datasets.load_dataset(str(release), "documents", split="train", cache_dir=str(tmp_path / "cache"))
    assert text in loaded["text"]  # the claim verify must not make: `datasets` loads what the manifest vouches for
    assert _failed(release) - {SIDECAR} == {DESCRIBED}
    assert _detail(release, DESCRIBED) == (
        "README.md: config 'documents' also sets data_dir, so `datasets` would not load just the listed parts")


@pytest.mark.parametrize("keys", [["filters"], ["columns"], ["features"], ["features", "columns"]])
def test_a_card_config_with_any_other_loading_key_fails_the_description_check(release, keys):
    """Keys that make the Parquet builder drop rows or columns, or read them as other types; several are named
    together, in order."""
    value = {"filters": "\n    - - [lang, '==', 'de']", "columns": " [id]", "features": " {}"}
    added = "".join(f"  {key}:{value[key]}\n" for key in keys)
    _card_edit(release, "- config_name: ledger\n", f"- config_name: ledger\n{added}")
    assert _failed(release) - {SIDECAR} == {DESCRIBED}
    assert _detail(release, DESCRIBED) == (
        f"README.md: config 'ledger' also sets {', '.join(sorted(keys))}, so `datasets` would not load just the "
        "listed parts")


@pytest.mark.parametrize("damage", ["includes elsewhere", "includes a part less", "another kind of file"])
def test_a_croissant_file_set_that_is_not_the_tables_parts_fails_the_description_check(release, damage):
    """mlcroissant reads a table's fields from its FileSet: one that includes a shadow folder's files (or drops a
    part, or a distribution entry of another kind) is not what the manifest lists."""
    _shadow_documents(release)
    croissant = release / "croissant.json"
    doc = json.loads(croissant.read_text())
    file_set = next(o for o in doc["distribution"] if o["@id"] == "documents-parquet")
    if damage == "includes elsewhere":
        file_set["includes"] = ["shadow/documents/*.parquet"]
    elif damage == "includes a part less":
        file_set["includes"] = []
    else:
        doc["distribution"].append({"@type": "cr:FileSetx", "@id": "shadow", "includes": ["shadow/**"]})
    croissant.write_text(json.dumps(doc))
    _relist_descriptions(release)
    assert _failed(release) - {SIDECAR} == {DESCRIBED}
    odd = ["cr:FileSetx"] if damage == "another kind of file" else ["documents-parquet"]
    assert _detail(release, DESCRIBED) == f"croissant.json: its file sets are not the tables' listed parts, e.g. {odd}"


@pytest.mark.parametrize("damage", ["a field read from elsewhere", "a field transformed", "inline records"])
def test_a_croissant_record_set_that_does_not_read_its_table_fails_the_description_check(release, damage):
    croissant = release / "croissant.json"
    doc = json.loads(croissant.read_text())
    documents = next(r for r in doc["recordSet"] if r["@id"] == "documents")
    text = next(f for f in documents["field"] if f["name"] == "text")
    if damage == "a field read from elsewhere":
        text["source"]["extract"] = {"column": "url"}
    elif damage == "a field transformed":
        text["source"]["transform"] = {"regex": "^(.{0,10})"}
    else:
        documents["data"] = [{"documents/text": "an inline record"}]
    croissant.write_text(json.dumps(doc))
    _relist_descriptions(release)
    assert _failed(release) - {SIDECAR} == {DESCRIBED}
    assert _detail(release, DESCRIBED) == (
        "croissant.json: record set 'documents' does not read each column from the table's parts")


def _front_matter_and_body(release: Path) -> tuple[str, str]:
    """The card as its front matter (both `---` lines) and the body after it."""
    text = (release / "README.md").read_text(encoding="utf-8")
    end = text.index("\n---\n", 4) + len("\n---\n")
    return text[:end], text[end:]


CARDS: dict[str, Callable[[str, str], str]] = {  # (front matter, body) -> the card
    "front matter alone": lambda front, body: front,
    "a rule in the body": lambda front, body: front + body + "\n---\n\nMore notes.\n",
    "no front matter": lambda front, body: body,
    "front matter not closed": lambda front, body: front.removesuffix("---\n") + body,
    "configs not a list": lambda front, body: front.replace("configs:\n", "configs: none\nold_configs:\n") + body,
    "data_files as one path": lambda front, body: front.replace(  # the Hub's short form of a one-file config
        "  data_files:\n  - documents/part-00000.parquet\n", "  data_files: documents/part-00000.parquet\n") + body,
}


@pytest.mark.parametrize("card", CARDS)
def test_a_card_is_read_by_its_front_matter_alone(release, card):
    """The `configs:` come from the YAML between the card's first two `---` lines, whatever the body holds (a
    horizontal rule, nothing at all); a card with no such front matter, or `configs:` that is no list, fails."""
    (release / "README.md").write_text(CARDS[card](*_front_matter_and_body(release)), encoding="utf-8")
    _relist_descriptions(release)
    failed = _failed(release) - {SIDECAR}
    if card in ("front matter alone", "a rule in the body", "data_files as one path"):
        assert failed == set()
    else:
        assert failed == {DESCRIBED}
        assert _detail(release, DESCRIBED).startswith("README.md: no YAML front matter with `configs:`; README.md: ")


def test_a_release_that_kept_nothing_has_no_default_config(tmp_path):
    """Every record removed (one page, reserved by its TDM header): the card has no documents config and no
    default, and a card that makes another table the default fails."""
    warc = tmp_path / "in.warc.gz"
    url = "http://reserved.test/a"
    write_warc(warc, [Page(url, make_page(80, url, "en").html(), extra_headers=(("tdm-reservation", "1"),))])
    release = tmp_path / "release"
    build([str(warc)], RunConfig(), release)
    assert _documents(release).height == 0 and _ledger(release).height == 1  # the construction
    assert _failed(release) == set()
    front, body = _front_matter_and_body(release)
    assert "default: true" not in front
    card = front.replace("- config_name: ledger\n", "- config_name: ledger\n  default: true\n") + body
    (release / "README.md").write_text(card, encoding="utf-8")
    _relist_descriptions(release)
    assert _failed(release) - {SIDECAR} == {DESCRIBED}
    assert _detail(release, DESCRIBED) == "README.md: the default config is ['ledger'], not the documents"


def test_verify_reads_the_descriptions_as_utf8_whatever_the_locale(release):
    """A card and Croissant with non-ASCII text, verified by a Python whose locale is ASCII (C locale, no UTF-8
    mode, no coercion): they are UTF-8 by the formats' definition, never read in the machine's encoding."""
    card = release / "README.md"
    card.write_text(card.read_text(encoding="utf-8").replace("\n## Loading", "\nDonnées, Übersicht.\n\n## Loading", 1),
                    encoding="utf-8")  # fmt: skip
    croissant = release / "croissant.json"
    doc = json.loads(croissant.read_text(encoding="utf-8"))
    doc["description"] = "Données ouvertes, Übersicht"
    croissant.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    _relist_descriptions(release)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LC_") and k not in ("LANG", "PYTHONIOENCODING")}
    env |= {"LC_ALL": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0"}
    script = (
        "import json, locale, sys; from pipeline.verify import verify_release; "
        "print(json.dumps([locale.getpreferredencoding(False), verify_release(sys.argv[1]).to_dict()]))"
    )
    done = subprocess.run([sys.executable, "-c", script, str(release)], env=env, capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[1], check=True)  # fmt: skip
    encoding, report = json.loads(done.stdout)
    assert encoding.lower() in ("ascii", "ansi_x3.4-1968"), encoding  # the test's premise: an ASCII locale
    assert {c["name"] for c in report["checks"] if not c["ok"]} <= {SIDECAR}, report


# --- table schemas --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", sorted(schemas.TABLE_VERSIONS))
def test_each_formats_manifest_schema_lists_exactly_the_tables_that_format_holds(version):
    """The schemas check looks a listed table up in its format's tables, trusting the manifest's JSON Schema (checked
    first) to refuse any other: a format whose schema allowed one more table would crash verify, one fewer would
    refuse its releases."""
    files = schemas.manifest_schema(version)["properties"]["files"]["items"]["properties"]
    assert sorted(files["table"]["enum"]) == sorted(schemas.TABLE_VERSIONS[version])


@pytest.mark.parametrize("table", TABLES)
def test_a_row_count_the_file_does_not_have_fails_table_schemas(release, table):
    _edit_manifest(release, lambda m: next(f for f in m["files"] if f["table"] == table).update(rows=10**6))
    assert _failed(release) == {SCHEMAS}
    rows = pq.read_metadata(_part(release, table)).num_rows
    assert _detail(release, SCHEMAS) == f"{table}/part-00000.parquet: {rows} rows, manifest says 1000000"


def test_every_schema_problem_is_named(release):
    """A file listed with another version is named, and the files after it are still checked."""
    two = ("ledger", "signatures")

    def misstate(manifest: dict) -> None:
        for f in manifest["files"]:
            if f["table"] in two:
                f["rows"] = 10**6
            elif f["table"] == "documents":
                f["schema_version"] = 99

    _edit_manifest(release, misstate)
    assert _failed(release) == {SCHEMAS}
    rows = {t: pq.read_metadata(_part(release, t)).num_rows for t in two}
    fmt = _manifest(release)["format_version"]
    assert _detail(release, SCHEMAS) == "; ".join([
        f"documents/part-00000.parquet: listed as documents.v99; format {fmt} has documents.v3",
        *(f"{t}/part-00000.parquet: {rows[t]} rows, manifest says 1000000" for t in two),
    ])  # fmt: skip  # three problems, one line, in manifest order


@pytest.mark.parametrize("table", TABLES)
def test_a_column_of_another_type_fails_table_schemas(release, table):
    path = _part(release, table)
    schema = pq.read_schema(path)
    pq.write_table(pq.read_table(path).append_column("extra", [[0] * pq.read_metadata(path).num_rows]), path,
                   **writer_options(schema))  # fmt: skip
    _reseal(release)
    assert _failed(release) == {SCHEMAS}


@pytest.mark.parametrize("table", ["optout_evidence", "ledger"])
def test_a_file_listed_twice_fails_the_files_check(release, table):
    """The evidence listed twice (ids are unique in documents and ledger only) would be read, and loaded, twice."""
    _edit_manifest(release, lambda m: m["files"].append(next(f for f in m["files"] if f["table"] == table)))
    assert FILES in _failed(release)
    assert _detail(release, FILES) == f"{table}/part-00000.parquet: listed 2 times"


def test_a_manifest_that_gives_a_key_twice_is_refused(release):
    """json keeps the last of two `counts`, a first-wins reader (or a person) sees the other: it says two things."""
    path = release / "manifest.json"
    text = path.read_text()
    path.write_text(text.replace('"counts": {', '"counts": {"kept": 999999}, "counts": {', 1))
    assert _failed(release) == {MANIFEST}
    assert _detail(release, MANIFEST) == f"{path} is not valid JSON: the key 'counts' is given twice in one object"


# --- conservation: per input, with the totals left alone ----------------------------------------------------


@pytest.mark.parametrize("delta", [-1, +1])
def test_one_inputs_eligible_count_off_by_one_fails_conservation(release, delta):
    """The totals stay right: only the per-input law (eligible == kept + removed, both ways) can see it, and the
    input's own record counts, which no longer add up to its eligible records."""
    entry = _manifest(release)["inputs"][1]
    _edit_manifest(release, lambda m: m["inputs"][1].update(eligible=m["inputs"][1]["eligible"] + delta))
    assert _failed(release) == {CONSERVATION, FIGURES}
    accounted = entry["kept"] + entry["removed"]
    assert _detail(release, CONSERVATION) == (
        f"{entry['path']}: {entry['eligible'] + delta} eligible records but {accounted} accounted for"
    )
    assert _detail(release, FIGURES) == (
        f"{entry['path']}: {entry['eligible'] + delta} eligible records, {entry['eligible']} of the eligible types "
        "(conversion, resource, response, row, unreadable) in its records_by_type"
    )


def test_two_inputs_off_are_both_named(release):
    inputs = _manifest(release)["inputs"][:2]
    _edit_manifest(release, lambda m: [e.update(eligible=e["eligible"] + 1) for e in m["inputs"][:2]])
    assert _failed(release) == {CONSERVATION, FIGURES}
    assert _detail(release, CONSERVATION) == "; ".join(
        f"{e['path']}: {e['eligible'] + 1} eligible records but {e['eligible']} accounted for" for e in inputs
    )


def test_an_input_without_eligible_records_conserves(release):
    """An input whose records were all requests or metadata has no rows in either table: 0 = 0 + 0."""
    empty = {"path": "/inputs/only-requests.warc.gz", "sha256": "0" * 64, "bytes": 10, "format": "warc",
             "records_by_type": {"request": 1}, "eligible": 0, "kept": 0, "removed": 0,
             "read_stopped": None, "bytes_by_type": {"request": 10}}  # fmt: skip

    def add(m: dict) -> None:
        m["inputs"].append(empty)
        m["counts"]["records_by_type"]["request"] += 1

    _edit_manifest(release, add)
    assert _failed(release) == set()


def test_a_removal_moved_to_another_input_fails_conservation(release):
    """The same number of rows in the ledger, so every total still adds up. From format 4 the byte law sees it too:
    the row's span left the bytes of its own input uncovered."""
    inputs = _manifest(release)["inputs"]
    ledger = _ledger(release)
    row = _row(ledger, reason="gopher_short_doc")
    source, length = ledger["file_path"][row], ledger["warc_record_length"][row]
    assert source != inputs[0]["path"]
    _rewrite(release, "ledger", lambda f: _set(f, row, file_path=inputs[0]["path"]))
    assert _failed(release) == {CONSERVATION, BYTES}
    assert f"{source}: {length:,} bytes unaccounted (in no document, ledger row" in _detail(release, BYTES)


def test_rows_of_an_unlisted_input_fail_conservation(release):
    ledger = _ledger(release)
    row = _row(ledger, reason="gopher_short_doc")
    source, length = ledger["file_path"][row], ledger["warc_record_length"][row]
    _rewrite(release, "ledger", lambda f: _set(f, row, file_path="/elsewhere/other.warc.gz"))
    assert _failed(release) == {CONSERVATION, BYTES}  # the byte law: the row's bytes are missing from its input
    assert "/elsewhere/other.warc.gz: rows from an input the manifest does not list" in _detail(release, CONSERVATION)
    assert _detail(release, BYTES).startswith(f"{source}: {length:,} bytes unaccounted")


@pytest.mark.parametrize("field", ["format", "sha256"])
def test_an_input_its_rows_do_not_describe_fails_conservation(release, field):
    """An input relabelled JSONL without byte counts (the byte law is for WARC-like inputs: it would skip it), or
    given another sha256: its rows still say where they came from."""
    entry = _manifest(release)["inputs"][1]

    def relabel(m: dict) -> None:
        changed = m["inputs"][1]
        if field == "format":
            changed.update(format="jsonl", bytes_by_type=None)
        else:
            changed.update(sha256=_other_hex(changed["sha256"]))

    _edit_manifest(release, relabel)
    assert _failed(release) == {CONSERVATION}
    said = _manifest(release)["inputs"][1]
    assert _detail(release, CONSERVATION) == (f"{entry['path']}: rows say sha256 and format "
                                              f"{[[entry['sha256'], entry['format']]]}, manifest says "
                                              f"{[said['sha256'], said['format']]}")  # fmt: skip


def test_rows_of_one_input_that_name_four_files_show_three(release):
    """An input's rows carrying four sha256 values (three rewritten): the detail shows the first three pairs, in
    order, not the whole list."""
    entry = _manifest(release)["inputs"][1]
    rows = [r for r, path in enumerate(_documents(release)["file_path"]) if path == entry["path"]][:3]
    others = [str(n) * 64 for n in (1, 2, 3)]

    def relabel(frame: pl.DataFrame) -> pl.DataFrame:
        for row, sha in zip(rows, others, strict=True):
            frame = _set(frame, row, source_sha256=sha)
        return frame

    _rewrite(release, "documents", relabel)
    assert CONSERVATION in _failed(release)
    pairs = sorted([sha, entry["format"]] for sha in [entry["sha256"], *others])
    assert _detail(release, CONSERVATION).startswith(f"{entry['path']}: rows say sha256 and format {pairs[:3]}, ")


@pytest.mark.parametrize("change", ["inputs", "kept and removed"])
def test_lying_totals_fail_conservation(release, change):
    def lie(m: dict) -> None:
        if change == "inputs":
            m["counts"]["inputs"] += 1
        else:  # inputs == kept + removed still holds, but not the sums over the inputs
            m["counts"]["kept"] += 1
            m["counts"]["removed"] -= 1

    _edit_manifest(release, lie)
    assert _failed(release) == {CONSERVATION, FIGURES}  # the funnel no longer starts (ends) with them either
    counts = _manifest(release)["counts"]
    assert _detail(release, CONSERVATION) == (
        f"totals: {counts['inputs']} inputs != {counts['kept']} kept + {counts['removed']} removed")


# --- removal reasons, ids, signatures, duplicate_of, config hash of rows ----------------------------------------


def test_a_changed_removal_reason_fails_the_reasons_check(release):
    row = _row(_ledger(release), reason="gopher_short_doc")
    _rewrite(release, "ledger", lambda f: _set(f, row, reason="gopher_top_2_gram"))
    assert _failed(release) == {REASONS}
    assert _detail(release, REASONS).startswith("ledger {(") and "('quality', 'gopher_top_2_gram'): 2" in _detail(
        release, REASONS
    )


def test_an_opt_out_removal_given_another_signal_names_both_figures_it_breaks(release):
    """An opt-out removal relabelled as another signal's in the ledger: the removal reasons no longer match the
    manifest's, nor do its opt-out figures; one detail names both, the reasons first."""
    row = _row(_ledger(release), reason="optout_tdmrep")
    _rewrite(release, "ledger", lambda f: _set(f, row, reason="optout_noai"))
    assert REASONS in _failed(release)
    ledger, figures = _detail(release, REASONS).split("; ")
    assert ledger.startswith("ledger {") and "('optout', 'optout_noai'): 1" in ledger
    assert figures.startswith("optout: the manifest says ") and "'optout_noai': 1" in figures.split("the ledger")[1]


def test_reasons_the_manifest_moved_fail_the_reasons_check(release):
    def move(m: dict) -> None:
        quality = m["counts"]["removed_by_stage"]["quality"]
        quality["gopher_short_doc"] += 1
        quality["gopher_top_2_gram"] -= 1

    _edit_manifest(release, move)
    assert _failed(release) == {REASONS}


@pytest.mark.parametrize("change", ["one more removed", "one moved between signals"])
def test_opt_out_figures_the_ledger_does_not_hold_fail_the_reasons_check(release, change):
    """`optout.removed` and `optout.removed_by_signal` are what the card and `apertura` print for opt-outs."""
    claimed = _manifest(release)["optout"]["removed_by_signal"]
    assert len(claimed) >= 2, claimed  # the release removed for the TDM reservation and the registry

    def lie(m: dict) -> None:
        optout = m["optout"]
        if change == "one more removed":
            optout["removed"] += 1
        else:
            first, second = sorted(optout["removed_by_signal"])[:2]
            optout["removed_by_signal"][first] += 1
            optout["removed_by_signal"][second] -= 1

    _edit_manifest(release, lie)
    assert _failed(release) == {REASONS}
    assert _detail(release, REASONS).startswith("optout: the manifest says ")


# --- the funnel and the record counts the card prints -----------------------------------------------------------


def _stages(release: Path) -> dict[str, dict]:
    return {s["stage"]: s for s in _manifest(release)["counts"]["stages"]}


def test_a_removal_moved_between_funnel_stages_fails_the_figures_check(release):
    """Every in and out still chains and every total holds: only the ledger says where the removal happened."""
    assert _stages(release)["quality"]["removed"] >= 1
    _edit_manifest(release, lambda m: _move_in_funnel(m, "quality", "language"))
    assert _failed(release) == {FIGURES}
    assert _detail(release, FIGURES).startswith("funnel: removes {") and "by stage, the ledger {" in _detail(
        release, FIGURES)


@pytest.mark.parametrize("end", ["in", "out"])
def test_a_funnel_stage_that_does_not_chain_fails_the_figures_check(release, end):
    stage = _stages(release)["language"]

    def lie(m: dict) -> None:
        next(s for s in m["counts"]["stages"] if s["stage"] == "language")[end] += 1

    _edit_manifest(release, lie)
    assert _failed(release) == {FIGURES}
    takes, passes = stage["in"] + (end == "in"), stage["out"] + (end == "out")
    after = stage["in"]
    said = (f"funnel: language takes {takes}, removes {stage['removed']} and passes on {passes}, after {after} "
            "records")  # fmt: skip
    assert _detail(release, FIGURES).startswith(said)


def test_a_funnel_that_ends_short_of_the_kept_documents_fails_the_figures_check(release):
    """The last stage passes on one record less, as if one more was removed, without a ledger row for it."""
    kept = _manifest(release)["counts"]["kept"]

    def lie(m: dict) -> None:
        m["counts"]["stages"][-1]["removed"] += 1
        m["counts"]["stages"][-1]["out"] -= 1

    _edit_manifest(release, lie)
    assert _failed(release) == {FIGURES}
    assert f"funnel: ends with {kept - 1} records, {kept} kept" in _detail(release, FIGURES)


def test_record_types_that_are_not_the_inputs_sum_fail_the_figures_check(release):
    _edit_manifest(release, lambda m: m["counts"]["records_by_type"].update(request=0, response=10**6))
    assert _failed(release) == {FIGURES}
    assert _detail(release, FIGURES).startswith("totals: records_by_type {")


def test_rows_counted_as_records_of_another_type_fail_the_figures_check(release):
    """One response of an input counted as a request, in the input and the totals: eligible and every row stay."""
    entry = _manifest(release)["inputs"][1]

    def recount(m: dict) -> None:
        for counts in (m["inputs"][1]["records_by_type"], m["counts"]["records_by_type"]):
            counts.update(response=counts["response"] - 1, request=counts.get("request", 0) + 1)

    _edit_manifest(release, recount)
    assert _failed(release) == {FIGURES}
    assert _detail(release, FIGURES).startswith(
        f"{entry['path']}: {entry['eligible']} eligible records, {entry['eligible'] - 1} of the eligible types")


@pytest.mark.parametrize("lie", ["a policy file more", "an agent fewer", "switched off"])
def test_an_opt_out_summary_the_evidence_or_config_contradicts_fails_the_figures_check(release, lie):
    """The card's opt-out section: how many policy files were read (the evidence holds one row per fetch) and which
    agents' reservations were honoured (the hashed config says)."""
    said = _manifest(release)["optout"]
    assert said["policy_files"] == 0 and said["enabled"] and len(said["agents"]) > 1  # no site file among the inputs

    def change(m: dict) -> None:
        if lie == "a policy file more":
            m["optout"]["policy_files"] += 1
        elif lie == "an agent fewer":
            m["optout"]["agents"] = m["optout"]["agents"][1:]
        else:
            m["optout"]["enabled"] = False

    _edit_manifest(release, change)
    assert _failed(release) == {FIGURES}
    expect = {"a policy file more": "optout: 1 policy files, 0 in the evidence",
              "an agent fewer": f"optout: agents {said['agents'][1:]!r}, the config says {said['agents']!r}",
              "switched off": "optout: enabled False, the config says True"}[lie]  # fmt: skip
    assert _detail(release, FIGURES) == expect


def test_a_policy_file_fetch_the_summary_does_not_count_fails_the_figures_check(release):
    """A parsed robots.txt of kept.test added to the evidence: a policy file and a site the summary does not count."""

    def add_fetch(frame: pl.DataFrame) -> pl.DataFrame:
        robots = {"url": "http://kept.test/robots.txt", "origin": "kept.test", "signal": "robots.txt",
                  "verdict": "observed", "rule": "1 groups (rules)"}  # fmt: skip
        fetch = _set(frame.head(1), 0, kind="policy_file", document_id=None, agents=None, **robots)
        return pl.concat([frame, fetch])

    _rewrite(release, "optout_evidence", add_fetch)
    assert _failed(release) == {FIGURES}
    assert _detail(release, FIGURES) == (
        "optout: 0 policy files, 1 in the evidence; optout: policy files of 0 sites, 1 in the evidence")


def test_the_sites_with_policy_files_are_those_one_was_parsed_for(tmp_path):
    """`optout.origins` counts the sites with a parsed policy file: a robots.txt answered 404 is one (RFC 9309: it
    allows), a malformed tdmrep.json too (it is read, and may still reserve); a tdmrep.json that is not there, an
    ai.txt that redirects out of the crawl or a robots.txt too large to read is no policy. Six sites with one fetch
    each, three with a policy by construction: the build says so, verify agrees, and a figure counting every site
    with a fetch fails it."""
    page = "<html><body><p>" + "A page about nothing in particular, written to be kept. " * 12 + "</p></body></html>"
    fetches = [
        Page("http://parsed.test/robots.txt", b"User-agent: *\nAllow: /\n", content_type="text/plain"),
        Page("http://allowed.test/robots.txt", b"", status=404, content_type="text/plain"),
        Page("http://malformed.test/.well-known/tdmrep.json", b"{not json", content_type="application/json"),
        Page("http://missing.test/.well-known/tdmrep.json", b"gone", status=404, content_type="text/plain"),
        Page("http://moved.test/ai.txt", b"", status=301, extra_headers=(("Location", "http://elsewhere.test/ai"),)),
        Page("http://huge.test/robots.txt", b"#" * (ReadConfig().max_payload_bytes + 1), content_type="text/plain"),
    ]
    sites = [fetch.url.split("/")[2] for fetch in fetches]
    write_warc(tmp_path / "in.warc.gz", [*fetches, *(Page(f"http://{site}/p", page.encode()) for site in sites)])
    build([str(tmp_path / "in.warc.gz")], RunConfig(), tmp_path / "release")
    verdicts = dict(_evidence(tmp_path / "release").filter(pl.col("kind") == "policy_file")
                    .select("origin", "verdict").iter_rows())  # fmt: skip
    assert verdicts == {"parsed.test": "observed", "allowed.test": "not_found", "malformed.test": "malformed",
                        "missing.test": "not_found", "moved.test": "redirect", "huge.test": "malformed"}  # fmt: skip
    assert _manifest(tmp_path / "release")["optout"]["origins"] == 3  # parsed, allowed, malformed
    assert _failed(tmp_path / "release") == set()
    _edit_manifest(tmp_path / "release", lambda m: m["optout"].update(origins=6))
    assert _failed(tmp_path / "release") == {FIGURES}
    assert _detail(tmp_path / "release", FIGURES) == "optout: policy files of 6 sites, 3 in the evidence"


def _redescribe(release: Path, manifest: dict) -> None:
    """Seal a manifest whose files changed, its card and Croissant written again by apertura (which lists every
    part)."""
    _write_manifest(release, manifest)
    _reseal(release)
    manifest = _manifest(release)
    manifest["descriptions"] = write_descriptions(release, manifest)
    _write_manifest(release, manifest)

@pytest.mark.parametrize("table", ["signatures", "documents"])
def test_rows_in_several_files_align_in_the_manifests_file_order(release, table):
    """A table written in two parts lines up row for row with the other, read in the order the manifest lists
    the parts; listed the other way round, the alignment fails (a reader would pair each half with the other's
    rows), and the signature check makes no promise."""
    whole = pl.read_parquet(_part(release, table))
    first, second = _part(release, table), _part(release, table).with_name("part-00001.parquet")
    shutil.copy(first, second)
    _write_table(second, whole[5:])
    _write_table(first, whole[:5])
    manifest = _manifest(release)
    listed = next(f for f in manifest["files"] if f["table"] == table)
    manifest["files"].insert(manifest["files"].index(listed) + 1, {**listed, "path": f"{table}/{second.name}"})
    _redescribe(release, manifest)
    assert _failed(release) == set()
    manifest = _manifest(release)
    at = next(i for i, f in enumerate(manifest["files"]) if f["table"] == table)
    manifest["files"][at : at + 2] = manifest["files"][at : at + 2][::-1]
    _redescribe(release, manifest)
    assert _failed(release) == {ALIGNED}
    assert _detail(release, ALIGNED) == f"{whole.height} rows differ"  # every row paired with another's
    assert not next(c for c in _LAST[str(release)].checks if c.name == SIGNATURES).checked

def _untwinned_rows(release: Path) -> list[int]:
    """Rows of the documents no exact duplicate names as its twin: tampering with a twin fails EXACT_TWINS too."""
    details = _ledger(release).filter(pl.col("reason") == "dedup_exact")["detail"]
    twins = {detail.removeprefix("same normalised text as ").split(",")[0] for detail in details}
    return [row for row, doc_id in enumerate(_documents(release)["id"]) if doc_id not in twins]


def test_an_id_once_in_documents_and_once_in_the_ledger_fails_ids_unique(release):
    kept = _documents(release)["id"][_untwinned_rows(release)[0]]
    row = _row(_ledger(release), reason="gopher_short_doc")
    _rewrite(release, "ledger", lambda f: _set(f, row, id=kept))
    assert _failed(release) == {IDS}
    assert kept in _detail(release, IDS)


def test_an_id_twice_in_documents_fails_ids_unique(release):
    first, second = _untwinned_rows(release)[:2]
    for table in ("documents", "signatures"):  # both, so the signatures stay aligned
        _rewrite(release, table, lambda f: _set(f, second, id=_documents(release)["id"][first]), reseal=False)
    _reseal(release)
    assert _failed(release) == {IDS}


def test_signatures_out_of_document_order_fail_alignment(release):
    """Compared row by row, each with another document's text, they would fail the signature check too: it makes no
    promise instead, and says why."""
    _rewrite(release, "signatures", lambda f: pl.concat([f[1:2], f[0:1], f[2:]]))
    assert _failed(release) == {ALIGNED}
    assert _detail(release, ALIGNED) == "2 rows differ"
    signatures = next(c for c in _LAST[str(release)].checks if c.name == SIGNATURES)
    assert not signatures.checked
    assert signatures.detail == f"not made: the signatures do not line up with the documents (see '{ALIGNED}')"


@pytest.mark.parametrize("target", ["no record", "a quality removal"])
def test_a_duplicate_of_that_is_not_a_kept_document_fails(release, target):
    ledger = _ledger(release)
    row = _row(ledger, reason="dedup_exact")
    points_at = "0000000000000000-0" if target == "no record" else ledger["id"][_row(ledger, reason="gopher_short_doc")]
    _rewrite(release, "ledger", lambda f: _set(f, row, duplicate_of=points_at))
    assert _failed(release) == {DUPLICATE_OF}
    assert _detail(release, DUPLICATE_OF) == "1 dangling"


@pytest.mark.parametrize("twin", ["another text", "no record", "none named"])
def test_an_exact_duplicate_without_its_twins_text_fails(release, twin):
    """A removal as an exact duplicate names its twin ("same normalised text as <id>"): a twin of another text, one
    the release does not hold, or none at all would let any record be called a copy of any other."""
    ledger, documents = _ledger(release), _documents(release)
    row = _row(ledger, reason="dedup_exact")
    named = ledger["detail"][row].removeprefix("same normalised text as ").split(",")[0]
    assert documents.filter(pl.col("id") == named)["norm_sha256"].to_list() == [ledger["norm_sha256"][row]]
    other = documents.filter(pl.col("norm_sha256") != ledger["norm_sha256"][row])["id"][0]
    detail = {"another text": f"same normalised text as {other}", "no record": "same normalised text as 0000-0",
              "none named": "an exact duplicate"}[twin]  # fmt: skip
    _rewrite(release, "ledger", lambda f: _set(f, row, detail=detail))
    assert _failed(release) == {EXACT_TWINS}
    assert _detail(release, EXACT_TWINS) == f"1 of 1 not, e.g. {[ledger['id'][row]]}"


def test_an_exact_duplicate_whose_text_was_dropped_cannot_borrow_a_twins_hash(release):
    """Its text blanked, a removal can carry any document's hash and name it as its twin: the text-hash check has
    nothing to hash again. The config keeps removed records' text, so a duplicate without it fails."""
    ledger, documents = _ledger(release), _documents(release)
    row = _row(ledger, reason="dedup_exact")
    other = documents.filter(pl.col("norm_sha256") != ledger["norm_sha256"][row]).row(0, named=True)
    assert _manifest(release)["config"]["ledger_keep_text"] is True  # the construction: RunConfig's default
    _rewrite(release, "ledger", lambda f: _set(f, row, text=None, norm_sha256=other["norm_sha256"],
                                               duplicate_of=other["id"],
                                               detail=f"same normalised text as {other['id']}"))  # fmt: skip
    assert _failed(release) == {EXACT_TWINS}
    assert _detail(release, EXACT_TWINS) == f"1 keep no text though the config keeps it, e.g. {[ledger['id'][row]]}"


def test_a_duplicate_without_its_text_and_of_another_twin_is_named_for_both(release):
    ledger, documents = _ledger(release), _documents(release)
    row = _row(ledger, reason="dedup_exact")
    other = documents.filter(pl.col("norm_sha256") != ledger["norm_sha256"][row])["id"][0]
    _rewrite(release, "ledger", lambda f: _set(f, row, text=None, detail=f"same normalised text as {other}"))
    assert _failed(release) == {EXACT_TWINS}
    ids = [ledger["id"][row]]
    assert _detail(release, EXACT_TWINS) == (f"1 of 1 not, e.g. {ids}; 1 keep no text though the config keeps it, "
                                             f"e.g. {ids}")  # fmt: skip


def test_a_config_recorded_before_ledger_keep_text_existed_keeps_removed_text(release):
    """Such a release was built keeping removed records' text (the field's default, hashed without it): a duplicate
    that has none was blanked."""
    ledger = _ledger(release)
    row = _row(ledger, reason="dedup_exact")

    def without_the_field(m: dict) -> None:
        del m["config"]["ledger_keep_text"]
        m["config_hash"] = config_hash(m["config"])

    _edit_manifest(release, without_the_field)
    recorded = _manifest(release)["config_hash"]
    _rewrite(release, "documents", lambda f: f.with_columns(config_hash=pl.lit(recorded)), reseal=False)
    _rewrite(release, "ledger", lambda f: _set(f, row, text=None).with_columns(config_hash=pl.lit(recorded)))
    assert _failed(release) == {EXACT_TWINS}
    assert _detail(release, EXACT_TWINS) == f"1 keep no text though the config keeps it, e.g. {[ledger['id'][row]]}"


def test_duplicates_of_a_release_that_keeps_no_removed_text_pass_without_a_promise(built, tmp_path):
    """Built with `ledger_keep_text` off, a duplicate's hash and its estimate are all there is: the twin and the
    near-estimate checks pass, say on what, and are listed as not checked rather than as proofs."""
    inputs = sorted(str(p) for p in built[0].parent.glob("in-*.warc.gz"))
    release = tmp_path / "textless"
    build(inputs, RunConfig(ledger_keep_text=False), release, registry=built[1])
    ledger = _ledger(release)
    exact, near = (ledger.filter(pl.col("reason") == reason).height for reason in ("dedup_exact", "dedup_near"))
    assert exact >= 1 and near >= 1 and _failed(release) == set()
    checks = {c.name: c for c in _LAST[str(release)].checks}
    assert not checks[EXACT_TWINS].checked and not checks[NEAR].checked
    assert checks[EXACT_TWINS].detail == (f"{exact} exact duplicates, each of its twin's text ({exact} by recorded "
                                          "hashes alone: a text not kept cannot be hashed again)")  # fmt: skip
    assert checks[NEAR].detail == (f"{near} near duplicates, each as similar to its keeper as it says ({near} by "
                                   "their recorded detail alone: a text not kept cannot be signed again)")  # fmt: skip


def test_a_release_that_applied_no_registry_says_its_registry_check_was_not_made(built, tmp_path):
    """Without a registry applied or given, "0 documents match" would be a reassurance about nothing: the check
    passes as not checked and says how to make it."""
    release = tmp_path / "no-registry"
    build([str(built[0].parent / "in-0.warc.gz")], RunConfig(), release)
    assert _failed(release) == set()
    check = next(c for c in _LAST[str(release)].checks if c.name == "registry opt-outs honoured")
    assert not check.checked
    assert check.detail == "not checked: the release applied no registry and none was given (--registry checks one)"


def test_a_duplicate_of_an_opted_out_document_is_accepted(release):
    """A keeper removed later by an opt-out (release derive) leaves its copies pointing at a ledger row."""
    ledger = _ledger(release)
    opted_out = ledger["id"][_row(ledger, reason="optout_registry")]
    _rewrite(release, "ledger", lambda f: _set(f, _row(ledger, reason="dedup_exact"), duplicate_of=opted_out))
    assert _failed(release) == set()


@pytest.mark.parametrize("table", ["documents", "ledger"])
def test_a_row_with_another_config_hash_fails_the_rows_check(release, table):
    _rewrite(release, table, lambda f: _set(f, 0, config_hash="sha256:" + "0" * 64))
    assert _failed(release) == {ROW_HASH}
    assert "sha256:" + "0" * 64 in _detail(release, ROW_HASH)


def test_a_consistent_other_config_fails_only_the_rows_check(release):
    """Config and config_hash replaced together (the hash is right for the new config): the rows disagree."""
    other = RunConfig(batch_size=RunConfig().batch_size + 1)

    def swap(m: dict) -> None:
        m["config"], m["config_hash"] = other.recorded(), other.hash()  # recorded as a release records it

    _edit_manifest(release, swap)
    assert _failed(release) == {ROW_HASH}


def test_a_config_recorded_without_its_optout_section_is_judged_not_a_crash(release):
    """A hand-written config may leave out the opt-out section (it loads: the defaults fill it in) and be hashed as
    written: verify still compares the manifest's opt-out figures with it, and only the rows' hash disagrees."""

    def without_optout(m: dict) -> None:
        del m["config"]["optout"]
        m["config_hash"] = config_hash(m["config"])

    _edit_manifest(release, without_optout)
    assert _failed(release) == {ROW_HASH}


# --- URL identities -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("table", "column", "value"), [
    ("documents", "url_key", "kept.test/d"),  # the page is http://kept.test/c
    ("documents", "domain", "kept.tesu"),
    ("ledger", "url_key", "en.blog.test/shorT"),  # http://en.blog.test/short
    ("ledger", "domain", "blog.test"),
])  # fmt: skip
def test_a_stored_url_identity_that_does_not_recompute_fails(release, table, column, value):
    frame = pl.read_parquet(_part(release, table))
    url = "http://kept.test/c" if table == "documents" else "http://en.blog.test/short"
    row = _row(frame, url=url)
    _rewrite(release, table, lambda f: _set(f, row, **{column: value}))
    assert _failed(release) == {URLS}
    assert _detail(release, URLS) == f"1 rows differ, e.g. {[frame['id'][row]]}"


def test_at_most_three_url_identity_examples_are_named(release):
    docs = _documents(release).sort("id")
    wrong = docs["id"][:2].to_list()  # two in documents, two in the ledger: examples come from both tables
    _rewrite(release, "documents", lambda f: f.with_columns(
        url_key=pl.when(pl.col("id").is_in(wrong)).then(pl.lit("x.test/")).otherwise(pl.col("url_key"))),
        reseal=False)  # fmt: skip
    ledger = _ledger(release).sort("id")
    wrong_removed = ledger["id"][:2].to_list()
    _rewrite(release, "ledger", lambda f: f.with_columns(
        domain=pl.when(pl.col("id").is_in(wrong_removed)).then(pl.lit("x.test")).otherwise(pl.col("domain"))))
    assert _failed(release) == {URLS}
    detail = _detail(release, URLS)
    assert detail.startswith("4 rows differ, e.g. [")
    named = [i for i in wrong + wrong_removed if f"'{i}'" in detail]
    assert len(named) == 3 and set(wrong) <= set(named)  # the documents' first, then the ledger's


def test_a_release_built_with_other_url_rules_fails_the_url_check(release):
    _edit_manifest(release, lambda m: m["software"].update(url_identity="rules 0; ada-url 4.0.0"))
    assert _failed(release) == {URLS}
    assert "rules 0; ada-url 4.0.0" in _detail(release, URLS)


@pytest.mark.parametrize("table", ["documents", "ledger"])
@pytest.mark.parametrize("edit", ["another text", "its case", "norm_sha256 alone"])
def test_a_text_that_does_not_hash_to_its_hashes_fails_the_text_hash_check(release, table, edit):
    """A kept text swapped under the old text's hashes (the texts commitment, dedup and the index go by them), one
    whose normalised form is the same (only text_sha256 differs), or a norm_sha256 edited alone."""
    frame = pl.read_parquet(_part(release, table))
    untwinned = _untwinned_rows(release) if table == "documents" else range(frame.height)
    row = next(row for row in untwinned if frame["text"][row] is not None)
    text, norm = frame["text"][row], frame["norm_sha256"][row]
    change = {"another text": {"text": "A page nobody would find in this release, kept under other hashes."},
              "its case": {"text": text.swapcase()},
              "norm_sha256 alone": {"norm_sha256": hashlib.sha256(b"x").hexdigest()}}[edit]  # fmt: skip
    assert change.get("text") != text and change.get("norm_sha256") != norm
    if table == "documents" and "text" in change:  # signed as what it is now: the signature check passes
        _sign(release, row, _signature_of(change["text"]))
    _rewrite(release, table, lambda f: _set(f, row, **change))
    assert _failed(release) == {TEXT_HASHES}
    detail = _detail(release, TEXT_HASHES)
    assert detail.startswith("1 of ") and detail.endswith(f"texts differ from their hashes, e.g. {[frame['id'][row]]}")


def test_a_release_built_with_another_normalisation_fails_the_text_hash_check(release):
    def other_normalisation(manifest: dict) -> None:
        spec = json.loads(manifest["software"]["minhash"])
        spec["normalisation"] = spec["normalisation"].replace("14.0.0", "15.1.0")
        manifest["software"]["minhash"] = json.dumps(spec, sort_keys=True)

    _edit_manifest(release, other_normalisation)
    assert _failed(release) == {TEXT_HASHES, SIGNATURES, NEAR}  # signatures are made of normalised text too
    assert _detail(release, TEXT_HASHES).startswith("built with normalisation 'remove Unicode 15.1.0 format")
    assert _detail(release, SIGNATURES) == "built with another signature spec than this apertura's (its normalisation)"


@pytest.mark.parametrize("minhash", ["{}", "not json"])
def test_a_release_that_records_no_normalisation_fails_the_text_hash_check_saying_so(release, minhash):
    """Without the normalisation it was built with, nothing says its norm_sha256 can be recomputed here."""
    from pipeline.fingerprints import SIGNATURE_SPEC

    _edit_manifest(release, lambda m: m["software"].update(minhash=minhash))
    assert TEXT_HASHES in _failed(release)
    ours = SIGNATURE_SPEC["normalisation"]
    assert _detail(release, TEXT_HASHES) == f"built with normalisation None; this apertura's is {ours!r}"



@pytest.mark.parametrize("signed_as", ["another document", "one value changed"])
def test_a_signature_that_is_not_its_texts_fails_the_signature_check(release, signed_as):
    """The membership index copies these signatures and answers near copies by them: a document signed as another
    text, or with one value changed, would let a near copy of it be answered "not in"."""
    signatures = pl.read_parquet(_part(release, "signatures"))
    row = _untwinned_rows(release)[0]
    stored = signatures["minhash"][row].to_list()
    forged = {"another document": signatures["minhash"][row - 1 if row else row + 1].to_list(),
              "one value changed": [stored[0] ^ 1, *stored[1:]]}[signed_as]  # fmt: skip
    assert forged != stored
    _sign(release, row, forged)
    _reseal(release)
    assert _failed(release) == {SIGNATURES}
    assert _detail(release, SIGNATURES) == (f"1 of {signatures.height} documents' signatures differ from their "
                                            f"texts', e.g. {[signatures['id'][row]]}")  # fmt: skip


@pytest.mark.parametrize(("key", "value"), [("seed", 2), ("num_perm", 128), ("scheme", "affine64"), ("seed", None)])
def test_a_release_recorded_with_another_signature_spec_fails_both_signature_checks(release, key, value):
    """Signatures made another way cannot be made again here: compared anyway, every one (and every estimate made
    of two) would differ. A key the record lacks (None: left out) is another spec too."""

    def other_spec(manifest: dict) -> None:
        spec = json.loads(manifest["software"]["minhash"])
        assert spec[key] != value
        changed = {k: v for k, v in spec.items() if k != key} if value is None else spec | {key: value}
        manifest["software"]["minhash"] = json.dumps(changed, sort_keys=True)

    _edit_manifest(release, other_spec)
    assert _failed(release) == {SIGNATURES, NEAR}
    assert _detail(release, SIGNATURES) == f"built with another signature spec than this apertura's (its {key})"


@pytest.mark.parametrize("minhash", ["{}", "not json"])
def test_a_release_that_records_no_signature_spec_fails_both_signature_checks_naming_every_key(release, minhash):
    from pipeline.fingerprints import SIGNATURE_SPEC

    _edit_manifest(release, lambda m: m["software"].update(minhash=minhash))
    assert {SIGNATURES, NEAR} <= _failed(release)
    keys = ", ".join(sorted(SIGNATURE_SPEC))
    assert _detail(release, SIGNATURES) == f"built with another signature spec than this apertura's (its {keys})"


@pytest.fixture
def small_batches(monkeypatch) -> int:
    """Signatures compared two rows at a time (the release's with its texts, the index's with the release's), so a
    14-document release spans batches."""
    import pipeline.index.verify
    import pipeline.verify

    monkeypatch.setattr(pipeline.verify, "SIGNATURE_BATCH_ROWS", 2)
    monkeypatch.setattr(pipeline.index.verify, "SIGNATURE_ROWS", 2)
    return 2


def test_forged_signatures_in_several_batches_are_all_counted_and_named_in_order(release, small_batches):
    rows = _untwinned_rows(release)
    forged = [rows[0], rows[-1]]
    assert forged[1] // small_batches > forged[0] // small_batches  # in two batches
    signatures = pl.read_parquet(_part(release, "signatures"))
    for row in forged:
        stored = signatures["minhash"][row].to_list()
        _sign(release, row, [stored[0] ^ 1, *stored[1:]])
    _reseal(release)
    assert _failed(release) == {SIGNATURES}
    ids = [signatures["id"][row] for row in forged]
    assert _detail(release, SIGNATURES) == (f"2 of {signatures.height} documents' signatures differ from their "
                                            f"texts', e.g. {ids}")  # fmt: skip


@pytest.mark.parametrize("short_by", [1, 2])
def test_signatures_that_run_out_are_left_to_the_alignment_check(release, small_batches, short_by):
    """Fewer signatures than documents, ending inside a batch or with whole batches of documents left over: those
    documents are not compared, and not a second failure."""
    height = pl.read_parquet(_part(release, "signatures")).height
    assert height % small_batches == 0  # the construction: two rows short end at a batch boundary
    _rewrite(release, "signatures", lambda f: f.head(height - short_by))
    assert _failed(release) == {ALIGNED}
    checks = {c.name: c for c in _LAST[str(release)].checks}
    assert not checks[SIGNATURES].checked and checks[SIGNATURES].detail.startswith("not made: the signatures do not")
    assert not checks[INDEX_NEAR].checked and checks[INDEX_NEAR].detail == (
        f"not made: the release's signatures do not line up with its {height} documents (see '{ALIGNED}')")



def _near_row(release: Path) -> tuple[pl.DataFrame, int, str, float]:
    """The ledger, a near duplicate's row, its keeper and its estimate, read from the detail the dedup step wrote."""
    ledger = _ledger(release)
    row = _row(ledger, reason="dedup_near")
    estimate, keeper = ledger["detail"][row].removeprefix("estimated jaccard ").split(" with ")
    assert keeper == ledger["duplicate_of"][row]  # the construction: the detail names the keeper
    return ledger, row, keeper, float(estimate)


@pytest.mark.parametrize("forged", ["a higher estimate", "another keeper", "another keeper in the detail alone",
                                    "another keeper in duplicate_of alone", "a detail of another form"])
def test_a_near_duplicate_that_is_not_as_similar_as_it_says_fails(release, forged):
    """"A near copy of X (estimated Jaccard 0.83)" is what a rights holder reads for a removed page: the estimate is
    made again from its kept text and the keeper's signature, and the keeper named must be the duplicate_of."""
    ledger, row, keeper, estimate = _near_row(release)
    other = _documents(release)["id"][next(r for r in _untwinned_rows(release)
                                           if _documents(release)["id"][r] != keeper)]  # fmt: skip
    change = {"a higher estimate": {"detail": f"estimated jaccard {estimate + 0.01:.2f} with {keeper}"},  # one step
              "another keeper": {"detail": f"estimated jaccard {estimate:.2f} with {other}", "duplicate_of": other},
              "another keeper in the detail alone": {"detail": f"estimated jaccard {estimate:.2f} with {other}"},
              "another keeper in duplicate_of alone": {"duplicate_of": other},
              "a detail of another form": {"detail": f"a near copy of {keeper}"}}[forged]  # fmt: skip
    assert estimate <= 0.99  # the construction: a near duplicate, not an exact one
    _rewrite(release, "ledger", lambda f: _set(f, row, **change))
    assert _failed(release) == {NEAR}
    assert _detail(release, NEAR) == f"1 of 1 not, e.g. {[ledger['id'][row]]}"


def test_an_estimate_written_from_a_rounding_half_passes(release):
    """A near duplicate agreeing with its keeper on 98 of 112 signature values (0.875) is written "0.88" (the dedup
    step rounds halves to even, as numpy's rint does): 0.005 from the agreement itself. A true release, so the
    check must pass it; the near row is rewritten as such a pair, its text found here by changing words of the
    keeper's until exactly 98 values agree."""
    from pipeline.text_identity import normalise_text

    _, row, keeper, _ = _near_row(release)
    kept = _documents(release).filter(pl.col("id") == keeper)["text"][0]
    signature = pl.read_parquet(_part(release, "signatures")).filter(pl.col("id") == keeper)["minhash"][0].to_list()
    words = kept.split(" ")

    def changed(start: int, count: int) -> str:
        return " ".join("Zwischenbemerkung" if i >= start and (i - start) % 7 == 0 and i < start + 7 * count else w
                        for i, w in enumerate(words))  # fmt: skip

    def agreeing(text: str) -> int:
        return sum(a == b for a, b in zip(_signature_of(text), signature, strict=True))

    assert len(signature) == 112
    text = next(t for t in (changed(s, c) for s in range(len(words)) for c in range(1, 8)) if agreeing(t) == 98)
    rewritten = {"text": text, "text_sha256": hashlib.sha256(text.encode()).hexdigest(),
                 "norm_sha256": hashlib.sha256(normalise_text(text).encode()).hexdigest(),
                 "detail": f"estimated jaccard 0.88 with {keeper}"}  # fmt: skip
    _rewrite(release, "ledger", lambda f: _set(f, row, **rewritten))
    assert _failed(release) == set()
    assert _detail(release, NEAR) == "1 near duplicates, each as similar to its keeper as it says"


def test_near_duplicates_of_different_similarity_are_each_compared_with_their_own_estimate(tmp_path):
    """Two near copies of one article, three and seven words changed: two removals with different estimates, each
    true, so the build passes (an agreement averaged over the removals, not taken per pair, would fail it)."""
    original = make_page(5, "http://en.news.test/original", "en")

    def copy(changes: int) -> Page:
        paragraphs = list(original.paragraphs)
        for k in range(changes):
            words = paragraphs[k % len(paragraphs)].split()
            words[4 + k // len(paragraphs)] = "Zwischenbemerkung"
            paragraphs[k % len(paragraphs)] = " ".join(words)
        url = f"http://mirror.test/{changes}-words-changed"
        return Page(url, dataclasses.replace(original, url=url, paragraphs=tuple(paragraphs)).html())

    write_warc(tmp_path / "in.warc.gz", [Page(original.url, original.html()), copy(3), copy(7)])
    build([str(tmp_path / "in.warc.gz")], RunConfig(), tmp_path / "release")
    near = _ledger(tmp_path / "release").filter(pl.col("reason") == "dedup_near")
    assert near.height == 2 and near["detail"].n_unique() == 2  # the construction: two estimates
    assert _failed(tmp_path / "release") == set()
    assert _detail(tmp_path / "release", NEAR) == "2 near duplicates, each as similar to its keeper as it says"


@pytest.mark.parametrize("also_misnamed", [False, True])
def test_a_near_duplicate_whose_text_was_dropped_fails_where_the_config_keeps_it(release, also_misnamed):
    ledger, row, keeper, estimate = _near_row(release)
    detail = f"estimated jaccard {estimate:.2f} with {'0000000000000000-0' if also_misnamed else keeper}"
    _rewrite(release, "ledger", lambda f: _set(f, row, text=None, detail=detail))
    assert _failed(release) == {NEAR}
    ids = [ledger["id"][row]]
    textless = f"1 keep no text though the config keeps it, e.g. {ids}"
    assert _detail(release, NEAR) == (f"1 of 1 not, e.g. {ids}; {textless}" if also_misnamed else textless)


# --- opt-out evidence -----------------------------------------------------------------------------------------


def _evidence(release: Path) -> pl.DataFrame:
    return pl.read_parquet(_part(release, "optout_evidence"))


def _tdm_evidence_row(release: Path) -> int:
    removed = _ledger(release).filter(pl.col("reason") == "optout_tdmrep")["id"][0]
    return _row(_evidence(release), kind="document", document_id=removed)


@pytest.mark.parametrize("reserved", [1, 4])
def test_a_kept_document_with_a_reservation_fails_opt_outs_honoured(release, reserved):
    kept = _documents(release)["id"].sort()[:reserved].to_list()
    row = _tdm_evidence_row(release)
    _rewrite(release, "optout_evidence", lambda f: pl.concat([f, *(_set(f, row, document_id=k)[row : row + 1]
                                                                   for k in kept)]))  # fmt: skip
    assert _failed(release) == {HONOURED}
    detail = _detail(release, HONOURED)
    assert detail.startswith(f"{reserved} violations, e.g. [(")
    assert [k for k in kept if k in detail] == kept[:3]  # the first three, in id order


def test_an_opt_out_removal_without_its_reservation_fails_the_evidence_check(release):
    row = _tdm_evidence_row(release)
    _rewrite(release, "optout_evidence", lambda f: _set(f, row, verdict="allowed"))
    assert _failed(release) == {EXPLAINED}
    assert _detail(release, EXPLAINED) == "1 without"


def test_evidence_about_a_record_the_release_does_not_hold_fails(release):
    row = _tdm_evidence_row(release)
    _rewrite(release, "optout_evidence", lambda f: pl.concat([f, _set(f, row, document_id="0000000000000000-0")
                                                              [row : row + 1]]))  # fmt: skip
    assert _failed(release) == {ORPHANS}
    assert _detail(release, ORPHANS) == "1 orphans"


@pytest.mark.parametrize("relabel", ["as a quality removal", "as another signal's"])
def test_an_opt_out_removal_relabelled_fails_the_attribution_check(release, relabel):
    """The TDM reservation's removal relabelled in the ledger, every manifest figure moved with it (so the reasons
    check passes): the opt-out figures would hide a reservation, or credit another signal with it."""
    ledger = _ledger(release)
    row = _row(ledger, reason="optout_tdmrep")
    stage, reason = {"as a quality removal": ("quality", "gopher_short_doc"),
                     "as another signal's": ("optout", "optout_robots")}[relabel]  # fmt: skip
    _rewrite(release, "ledger", lambda f: _set(f, row, stage=stage, reason=reason), reseal=False)

    def move(m: dict) -> None:
        by_stage, optout = m["counts"]["removed_by_stage"], m["optout"]
        del by_stage["optout"]["optout_tdmrep"], optout["removed_by_signal"]["optout_tdmrep"]
        by_stage[stage][reason] = by_stage[stage].get(reason, 0) + 1
        if stage == "optout":
            optout["removed_by_signal"][reason] = 1
        else:
            optout["removed"] -= 1
            _move_in_funnel(m, "optout", stage)

    _reseal(release)
    _edit_manifest(release, move)
    assert _failed(release) == {ATTRIBUTED}
    assert _detail(release, ATTRIBUTED) == f"1 removals, e.g. {[(ledger['id'][row], stage, reason)]}"


# --- the registry ---------------------------------------------------------------------------------------------


def _registry_copy(built, tmp_path) -> Path:
    copy = tmp_path / "registry"
    shutil.copytree(built[1], copy)
    return copy


def test_an_edited_registry_entry_fails_the_registry_state(built, release, tmp_path):
    registry = _registry_copy(built, tmp_path)
    (entry,) = (registry / "entries").glob("*.parquet")
    pl.read_parquet(entry).with_columns(note=pl.lit("edited later")).write_parquet(entry)
    assert _failed(release, registry) == {REGISTRY_STATE}
    as_of = _manifest(release)["optout"]["registry"]["as_of"]
    assert _detail(release, REGISTRY_STATE).startswith(f"{registry} at {as_of} hashes to ")


def test_a_dropped_registry_entry_fails_the_registry_state(built, release, tmp_path):
    registry = _registry_copy(built, tmp_path)
    for entry in (registry / "entries").glob("*.parquet"):
        entry.unlink()
    assert _failed(release, registry) == {REGISTRY_STATE}


def test_a_registry_applied_before_its_entries_is_contradicted_by_the_removals_it_cites(built, release):
    """`as_of` moved back to before the one entry, with that empty state's hash and count: the match then sees no
    entry in force and passes, but the release removed two pages for that entry, so it was in force."""
    _, registry = built
    (entry_id,) = pl.read_parquet(registry / "entries" / "*.parquet")["entry_id"].to_list()
    early = "2000-01-01T00:00:00.000000Z"
    empty = Registry(registry).state(early)  # what a forger computes with apertura's own code
    assert empty["entries"] == 0
    _edit_manifest(release, lambda m: m["optout"]["registry"].update(as_of=early, sha256=empty["sha256"], entries=0))
    assert _failed(release) == {REGISTRY_STATE}
    assert _detail(release, REGISTRY_STATE) == f"removals cite entries not in force at {early}: {[entry_id]}"


def test_a_registry_state_wrong_in_every_way_names_each_problem(built, release):
    """`as_of` moved back alone: the hash and the entry count recorded are no longer the registry's at that instant,
    and the removals cite an entry not in force then. One detail, its three problems in order."""
    _, registry = built
    (entry_id,) = pl.read_parquet(registry / "entries" / "*.parquet")["entry_id"].to_list()
    early, recorded = "2000-01-01T00:00:00.000000Z", _manifest(release)["optout"]["registry"]
    _edit_manifest(release, lambda m: m["optout"]["registry"].update(as_of=early))
    assert _failed(release) == {REGISTRY_STATE}
    assert _detail(release, REGISTRY_STATE) == "; ".join([
        f"{Registry(registry).path} at {early} hashes to {Registry(registry).state(early)['sha256']}",
        f"0 entries at {early}, the release says {recorded['entries']}",
        f"removals cite entries not in force at {early}: {[entry_id]}",
    ])  # fmt: skip


@pytest.mark.parametrize("late", [5, 6, 7])
def test_removals_citing_more_than_five_entries_not_in_force_name_five_and_count_the_rest(built, release, late):
    """Entries cited by the registry's removals, none in force at the (moved back) `as_of`: the detail names the
    first five in order and says how many more, rather than a list as long as the registry."""
    early = "2000-01-01T00:00:00.000000Z"
    empty = Registry(built[1]).state(early)
    evidence = _evidence(release)
    row = _row(evidence, kind="document", signal="registry")
    more = [f"opt-{n:012d}" for n in range(990, 990 + late - 1)]
    cited = sorted({evidence["source_id"][row], *more})
    assert len(cited) == late  # the construction: the build's one entry and the others, all cited

    def cite_all(frame: pl.DataFrame) -> pl.DataFrame:
        return pl.concat([frame, *(_set(frame, row, source_id=entry)[row : row + 1] for entry in more)])

    _rewrite(release, "optout_evidence", cite_all)
    _edit_manifest(release, lambda m: m["optout"]["registry"].update(as_of=early, sha256=empty["sha256"], entries=0))
    assert REGISTRY_STATE in _failed(release)
    rest = {5: "", 6: " and 1 more", 7: " and 2 more"}[late]
    assert _detail(release, REGISTRY_STATE) == f"removals cite entries not in force at {early}: {cited[:5]}{rest}"


@pytest.mark.parametrize("field", ["lineage.registry.as_of", "lineage.derived_at", "optout.registry.as_of"])
def test_an_instant_of_the_manifest_that_is_not_one_fails_the_registry_state_naming_it(child, field):
    """A derived release records three instants its removals were made at or after; one that does not parse is the
    manifest's fault, named by its place in the manifest, not a registry that "cannot be read"."""

    def unparseable(manifest: dict) -> None:
        *parents, name = field.split(".")
        functools.reduce(dict.__getitem__, parents, manifest)[name] = "soon"

    _edit_manifest(child, unparseable)
    assert REGISTRY_STATE in _failed(child) <= {REGISTRY_STATE, REGISTRY_UNREADABLE}
    assert _detail(child, REGISTRY_STATE) == (
        f"the manifest's {field} 'soon' is not an ISO 8601 date-time (e.g. 2026-12-05T10:00:00Z)")


def test_a_registry_entry_count_that_is_not_the_registrys_fails_the_registry_state(release):
    recorded = _manifest(release)["optout"]["registry"]
    _edit_manifest(release, lambda m: m["optout"]["registry"].update(entries=recorded["entries"] + 1))
    assert _failed(release) == {REGISTRY_STATE}
    assert _detail(release, REGISTRY_STATE) == (
        f"{recorded['entries']} entries at {recorded['as_of']}, the release says {recorded['entries'] + 1}")


def test_a_kept_document_on_a_subdomain_of_an_opted_out_domain_fails_the_registry_check(release):
    row = _row(_documents(release), url="http://kept.test/c")
    moved = {"url": f"http://blog.{OPTED_OUT}/c", "url_key": f"blog.{OPTED_OUT}/c", "domain": f"blog.{OPTED_OUT}"}
    _rewrite(release, "documents", lambda f: _set(f, row, **moved))
    assert _failed(release) == {REGISTRY_HONOURED}
    assert _detail(release, REGISTRY_HONOURED).startswith("1 documents match entries in force at")


def test_an_entry_added_after_the_release_does_not_fail_it(built, release, tmp_path):
    """The release is judged by the registry as it was when the release applied it: a later opt-out of a kept
    page is for the next release (`release derive`), not a broken promise of this one."""
    registry = _registry_copy(built, tmp_path)
    Registry(registry).add("domain", "kept.test", requester="Legal <legal@example.org>")
    assert _failed(release, registry) == set()


def test_registry_matches_are_named_with_their_entry_at_most_three(release):
    docs = _documents(release).sort("id")
    moved = docs["id"][:4].to_list()
    _rewrite(release, "documents", lambda f: f.with_columns(
        url=pl.when(pl.col("id").is_in(moved)).then(pl.format(f"http://{OPTED_OUT}/{{}}", pl.col("id")))
        .otherwise(pl.col("url")),
        url_key=pl.when(pl.col("id").is_in(moved)).then(pl.format(f"{OPTED_OUT}/{{}}", pl.col("id")))
        .otherwise(pl.col("url_key")),
        domain=pl.when(pl.col("id").is_in(moved)).then(pl.lit(OPTED_OUT)).otherwise(pl.col("domain"))))  # fmt: skip
    assert _failed(release) == {REGISTRY_HONOURED}
    detail = _detail(release, REGISTRY_HONOURED)
    assert detail.startswith("4 documents match entries in force at ")
    assert sum(f"'{i}'" in detail for i in moved) == 3 and detail.count(f"domain {OPTED_OUT}") == 3


@pytest.mark.parametrize("given", [False, True], ids=["recorded path", "--registry"])
def test_a_registry_that_is_not_there_is_named_never_matched_as_empty(release, tmp_path, given):
    """Verified where the publisher's registry is not (a regulator's machine): an absent registry would hold no
    entries, and "0 documents match the 0 entries" is a claim about a registry nobody read."""
    absent = tmp_path / "absent"
    if given:
        assert _failed(release, absent) == {REGISTRY_UNREADABLE}
    else:
        _edit_manifest(release, lambda m: m["optout"]["registry"].update(path=str(absent)))
        assert _failed(release) == {REGISTRY_UNREADABLE}
    where = "" if given else " (the path the release recorded)"
    assert _detail(release, REGISTRY_UNREADABLE) == (
        f"no registry at {absent}{where}: pass --registry with a copy of it to check it")
    assert REGISTRY_HONOURED not in _report(release, absent if given else None)


def test_an_unreadable_registry_fails_the_registry_check_by_its_own_name(built, release, tmp_path):
    registry = _registry_copy(built, tmp_path)
    (registry / "entries" / "broken.parquet").write_bytes(b"PAR1 not really")
    assert _failed(release, registry) == {REGISTRY_UNREADABLE}
    assert "broken.parquet" in next(c.detail for c in verify_release(release, registry).checks if not c.ok)


# --- a derived release: checked against the registry state it applied, at the time it was derived -------------


@pytest.fixture(scope="module")
def derived(built, tmp_path_factory) -> tuple[Path, Path]:
    """(child, registry): the release derived with one more domain entry, kept.test, added after it was built."""
    root = tmp_path_factory.mktemp("derived")
    registry = root / "registry"
    shutil.copytree(built[1], registry)
    Registry(registry).add("domain", "kept.test", requester="Legal <legal@example.org>")
    derive_release(built[0], root / "child", registry=Registry(registry))
    return root / "child", registry


@pytest.fixture
def child(derived, tmp_path) -> Path:
    copy = tmp_path / "child"
    shutil.copytree(derived[0], copy, symlinks=True)
    return copy


def test_a_derived_release_verifies_against_the_registry_at_its_derivation(derived, child):
    lineage = _manifest(child)["lineage"]
    assert "http://kept.test/c" not in set(_documents(child)["url"])
    assert _failed(child) == set() and REGISTRY_STATE in _report(child)
    in_force = f"0 documents match the 2 entries in force at {lineage['derived_at']}"
    assert _detail(child, REGISTRY_HONOURED).startswith(in_force)


def test_a_child_derived_at_an_instant_before_its_parents_removals_keeps_them_and_verifies(built, tmp_path):
    """`derive --at` an instant before the registry entry the parent's removals cite: the child holds those removals
    (made when the parent applied the registry), so they are judged at the latest instant the release records."""
    registry = _registry_copy(built, tmp_path)
    early = "2001-01-01T00:00:00.000000Z"
    derive_release(built[0], tmp_path / "child", registry=Registry(registry), at=early)
    cited = set(_ledger(tmp_path / "child").filter(pl.col("reason") == "optout_registry")["url"])
    assert cited == {f"http://{OPTED_OUT}/a", f"http://news.{OPTED_OUT}/b"}  # the parent's removals, kept
    assert _failed(tmp_path / "child") == set()


def test_a_grandchild_derived_without_the_registry_keeps_its_parents_later_removals_and_verifies(derived, tmp_path):
    """The child removed kept.test for an entry received after the original build; the grandchild, derived from it
    without the registry, records only the build's registry state: those removals were made by its derivation, the
    latest instant it records, and are judged there (at the build's instant the entry was not in force yet)."""
    derive_release(derived[0], tmp_path / "grandchild")
    manifest = _manifest(tmp_path / "grandchild")
    assert manifest["lineage"]["registry"] is None  # the construction: the build's state is the one recorded
    ledger = pl.read_parquet(tmp_path / "grandchild" / "ledger" / "*.parquet")  # the parent's parts and the child's
    assert "http://kept.test/c" in set(ledger.filter(pl.col("reason") == "optout_registry")["url"])
    assert _failed(tmp_path / "grandchild", derived[1]) == set()


def test_instants_written_with_an_offset_are_compared_as_instants(derived, child):
    """The child's derivation instant written as the same instant at UTC-23:59 (ISO 8601 allows it): a day less in
    the text, so compared as text it would fall before the build and the child's removals for kept.test (an entry
    received after the build) would seem made before the entry was in force. (The westmost offset, not an hour's:
    the build may be shared by tests for hours, and an hour less would not bring the text before it.)"""

    def at_minus_a_day(manifest: dict) -> None:
        lineage = manifest["lineage"]
        westmost = timezone(-timedelta(hours=23, minutes=59))
        instant = datetime.fromisoformat(lineage["derived_at"]).astimezone(westmost)
        assert lineage["registry"]["as_of"] == lineage["derived_at"]  # the construction: one instant, stored in UTC
        lineage["derived_at"] = lineage["registry"]["as_of"] = instant.isoformat()
        assert lineage["derived_at"] < manifest["optout"]["registry"]["as_of"]  # as text, before the build

    _edit_manifest(child, at_minus_a_day)
    assert _failed(child, derived[1]) == set()


def test_a_document_of_a_domain_opted_out_at_the_derivation_fails_the_child(child):
    """kept.test was added to the registry after the parent was built: only the derivation's time and registry
    state say it was in force."""
    row = _row(_documents(child), url="http://en.news.test/article/0")
    moved = {"url": "http://blog.kept.test/c", "url_key": "blog.kept.test/c", "domain": "blog.kept.test"}
    _rewrite(child, "documents", lambda f: _set(f, row, **moved))
    assert _failed(child) == {REGISTRY_HONOURED}


def test_an_entry_edited_after_the_derivation_fails_the_childs_registry_state(derived, child, tmp_path):
    registry = tmp_path / "registry-copy"
    shutil.copytree(derived[1], registry)
    entry = next(p for p in (registry / "entries").glob("*.parquet") if pl.read_parquet(p)["value"][0] == "kept.test")
    pl.read_parquet(entry).with_columns(note=pl.lit("edited later")).write_parquet(entry)
    assert _failed(child, registry) == {REGISTRY_STATE}


def test_a_child_derived_without_the_registry_is_judged_at_its_derivation_not_its_parents_build(
    built, tmp_path
):
    """A child derived from snapshots alone (no registry) records its parent's registry state, applied at the
    parent's build; an opt-out in force at the derivation was not applied, so the child does not honour it: judged at
    the parent's `as_of` instead, its kept.test pages would pass as honoured."""
    registry = tmp_path / "registry"
    shutil.copytree(built[1], registry)
    Registry(registry).add("domain", "kept.test", requester="Legal <legal@example.org>")  # in force from now
    derive_release(built[0], tmp_path / "child")  # later than the entry, and without the registry
    manifest = _manifest(tmp_path / "child")
    assert manifest["lineage"]["registry"] is None and manifest["lineage"]["derived_at"] > manifest["optout"][
        "registry"]["as_of"]  # fmt: skip
    assert "http://kept.test/c" in set(_documents(tmp_path / "child")["url"])
    assert _failed(tmp_path / "child", registry) == {REGISTRY_HONOURED}
    assert f"in force at {manifest['lineage']['derived_at']}" in _detail(tmp_path / "child", REGISTRY_HONOURED)


def test_a_release_that_never_applied_a_registry_is_checked_against_one_given(built, release, tmp_path):
    """Without a recorded registry there is no state to compare; the given registry's entries in force now count."""
    _edit_manifest(release, lambda m: m["optout"].pop("registry"))
    assert REGISTRY_STATE not in _report(release) and not _failed(release)  # no registry given: no registry check
    registry = tmp_path / "registry"
    shutil.copytree(built[1], registry)
    Registry(registry).add("domain", "kept.test", requester="Legal <legal@example.org>")
    checks = _report(release, registry)
    assert REGISTRY_STATE not in checks and _failed(release, registry) == {REGISTRY_HONOURED}
    assert _detail(release, REGISTRY_HONOURED).startswith("1 documents match entries in force now")


# --- conservation in bytes (format 4) ---------------------------------------------------------------------------


def _covered(release: Path, path: str) -> int:
    """Bytes the documents' and ledger rows' spans of one input cover (they do not overlap in the built release)."""
    spans = pl.concat([t.select("file_path", "warc_record_length") for t in (_documents(release), _ledger(release))])
    return int(spans.filter(pl.col("file_path") == path)["warc_record_length"].sum())


@pytest.mark.parametrize("edit", ["a byte moved to requests", "a byte more"])
def test_a_byte_count_of_bytes_by_type_that_is_off_fails_conservation_in_bytes(release, edit):
    """Records, rows and files untouched: only the law over bytes can see it. Moved, the total is still the file's
    size but the eligible records no longer have exactly the bytes the rows cover; added, the total is off."""
    entry = _manifest(release)["inputs"][1]
    path, size = entry["path"], entry["bytes"]
    covered = _covered(release, path)
    assert covered == entry["bytes_by_type"]["response"]  # the rows are the response records, by construction

    def lie(m: dict) -> None:
        by_type = m["inputs"][1]["bytes_by_type"]
        by_type["request"] += 1
        if edit == "a byte moved to requests":
            by_type["response"] -= 1

    _edit_manifest(release, lie)
    assert _failed(release) == {BYTES}
    assert _detail(release, BYTES) == {
        "a byte moved to requests": f"{path}: 1 bytes too many: the rows cover {covered:,}, the manifest gives "
        f"{covered - 1:,} to records that are rows",
        "a byte more": f"{path}: bytes_by_type sums to {size + 1:,}, the file has {size:,} bytes",
    }[edit]


def _end(release: Path, path: str) -> int:
    """The byte where the last of an input's documents and ledger rows ends."""
    columns = ("file_path", "warc_record_offset", "warc_record_length")
    spans = pl.concat([t.select(columns) for t in (_documents(release), _ledger(release))])
    spans = spans.filter(pl.col("file_path") == path)
    return int((spans["warc_record_offset"] + spans["warc_record_length"]).max())


@pytest.mark.parametrize("short", [0, 1], ids=["ending at the file's end", "a byte past it"])
def test_rows_are_judged_against_the_files_end(release, short):
    """The input's size (and its request bytes) made to end exactly where its last row ends: still the whole file;
    a byte less and the rows reach past the file."""
    entry = _manifest(release)["inputs"][1]
    end = _end(release, entry["path"])
    cut = entry["bytes"] - end + short
    assert end < entry["bytes"] and entry["bytes_by_type"]["request"] > cut  # the input ends with other records

    def shrink(m: dict) -> None:
        m["inputs"][1]["bytes"] -= cut
        m["inputs"][1]["bytes_by_type"]["request"] -= cut

    _edit_manifest(release, shrink)
    if short:
        assert _failed(release) == {BYTES}
        assert _detail(release, BYTES) == f"{entry['path']}: rows reach byte {end:,} of a {end - 1:,}-byte file"
    else:
        assert _failed(release) == set()


def test_inputs_without_bytes_by_type_are_each_named(release):
    """Format 4 on, a WARC input without its bytes per record type cannot be checked: both such inputs named."""
    inputs = _manifest(release)["inputs"][:2]
    _edit_manifest(release, lambda m: [e.update(bytes_by_type=None) for e in m["inputs"][:2]])
    assert _failed(release) == {BYTES}
    assert _detail(release, BYTES) == "; ".join(f"{e['path']}: no bytes_by_type for a warc input" for e in inputs)


def test_a_wet_input_is_held_to_conservation_in_bytes_and_a_jsonl_one_is_not(tmp_path):
    """WET files are WARC files (conversion records): their bytes are accounted for like a WARC's. A JSON Lines
    input has no records to span; its bytes are only hashed."""
    pages = [make_page(80 + i, f"http://wet.test/{i}", "en") for i in range(2)]
    wet, jsonl = tmp_path / "x.warc.wet.gz", tmp_path / "x.jsonl"
    write_warc(wet, [Page(p.url, p.text, content_type="text/plain", record_type="conversion") for p in pages],
               with_requests=False)  # fmt: skip
    jsonl.write_text(json.dumps({"id": "j", "text": make_page(90, "http://j.test/", "en").text}) + "\n")
    release = tmp_path / "release"
    build([str(wet), str(jsonl)], RunConfig(), release)
    assert _failed(release) == set()
    _edit_manifest(release, lambda m: [e.update(bytes_by_type=None) for e in m["inputs"]])
    assert _failed(release) == {BYTES}
    assert _detail(release, BYTES) == f"{wet}: no bytes_by_type for a wet input"


def test_an_arc_input_is_held_to_conservation_in_bytes(fixtures_dir, tmp_path):
    """A real ARC file (warcio's example): its records' bytes are accounted for like a WARC's."""
    arc = fixtures_dir / "warc" / "warcio" / "example.arc.gz"
    release = tmp_path / "release"
    build([str(arc)], RunConfig(), release)
    assert _manifest(release)["inputs"][0]["format"] == "arc" and _failed(release) == set()
    _edit_manifest(release, lambda m: m["inputs"][0].update(bytes_by_type=None))
    assert _failed(release) == {BYTES}
    assert _detail(release, BYTES) == f"{arc}: no bytes_by_type for a arc input"


def test_record_types_with_bytes_that_were_not_counted_fail_conservation_in_bytes(release):
    entry = _manifest(release)["inputs"][1]
    _edit_manifest(release, lambda m: m["inputs"][1]["bytes_by_type"].update(metadata=0))
    assert _failed(release) == {BYTES}
    counted = sorted(entry["records_by_type"])
    assert _detail(release, BYTES) == (
        f"{entry['path']}: record types with bytes {sorted([*counted, 'metadata'])} != record types counted {counted}")


def test_a_row_without_a_byte_span_fails_conservation_in_bytes(release):
    ledger = _ledger(release)
    row = _row(ledger, reason="gopher_short_doc")
    path, length = ledger["file_path"][row], ledger["warc_record_length"][row]
    _rewrite(release, "ledger", lambda f: _set(f, row, warc_record_length=0))
    assert _failed(release) == {BYTES}
    assert _detail(release, BYTES) == (
        f"{path}: 1 rows without a byte span; {path}: {length:,} bytes unaccounted (in no document, ledger row or "
        f"other record): the rows cover {_covered(release, path):,}, the manifest gives "
        f"{_covered(release, path) + length:,} to records that are rows")


@pytest.mark.parametrize("lie", ["a span the ledger lacks", "a span whose reason is not unparsable"])
def test_unreadable_spans_the_ledger_does_not_hold_as_said_fail_conservation_in_bytes(release, lie):
    """The manifest counts an unreadable span the ledger does not have (its bytes taken from the requests, so the
    file's size holds); or a ledger row made an unreadable span, the manifest moved with it, under its own reason."""
    entry = _manifest(release)["inputs"][1]
    path = entry["path"]
    if lie == "a span the ledger lacks":
        def count_one(m: dict) -> None:
            changed = m["inputs"][1]
            changed["records_by_type"]["unreadable"] = 1
            changed["bytes_by_type"].update(unreadable=10, request=changed["bytes_by_type"]["request"] - 10)

        _edit_manifest(release, count_one)
        covered = _covered(release, path)
        assert _failed(release) == {BYTES, FIGURES}  # the span is not among the input's eligible records either
        assert _detail(release, BYTES) == (
            f"{path}: 10 bytes unaccounted (in no document, ledger row or other record): the rows cover "
            f"{covered:,}, the manifest gives {covered + 10:,} to records that are rows; {path}: 0 unreadable spans "
            "(0 bytes) in the ledger, the manifest says 1 (10 bytes)")
        return
    ledger = _ledger(release)
    row = _row(ledger, file_path=path, reason="read_empty") if "read_empty" in set(
        ledger.filter(pl.col("file_path") == path)["reason"]) else _row(ledger, file_path=path)  # fmt: skip
    length = ledger["warc_record_length"][row]
    _rewrite(release, "ledger", lambda f: _set(f, row, record_type="unreadable"), reseal=False)

    def move(m: dict) -> None:
        changed = next(e for e in m["inputs"] if e["path"] == path)
        kind = ledger["record_type"][row]
        changed["records_by_type"][kind] -= 1
        changed["records_by_type"]["unreadable"] = 1
        changed["bytes_by_type"].update({kind: changed["bytes_by_type"][kind] - length, "unreadable": length})
        totals = m["counts"]["records_by_type"]
        totals.update({kind: totals[kind] - 1, "unreadable": totals.get("unreadable", 0) + 1})

    _reseal(release)
    _edit_manifest(release, move)
    assert _failed(release) == {BYTES}
    assert _detail(release, BYTES) == f"{path}: 1 unreadable spans whose reason is not read_unparsable"


def test_a_document_span_one_byte_short_fails_conservation_in_bytes(release):
    docs = _documents(release)
    row = _row(docs, url="http://kept.test/c")
    path, length = docs["file_path"][row], docs["warc_record_length"][row]
    covered = _covered(release, path)
    _rewrite(release, "documents", lambda f: _set(f, row, warc_record_length=length - 1))
    assert _failed(release) == {BYTES}
    assert _detail(release, BYTES) == (
        f"{path}: 1 bytes unaccounted (in no document, ledger row or other record): the rows cover "
        f"{covered - 1:,}, the manifest gives {covered:,} to records that are rows"
    )


# --- commitments (format 4) -------------------------------------------------------------------------------------


def _planted_counts() -> tuple[int, int]:
    """(records, kept) of the built release, from the construction: the planted pages and the four consent pages,
    of which http://kept.test/c stays."""
    _, expect = planted_corpus()
    return len(expect) + 4, sum(e.stage is None for e in expect.values()) + 1


def _other_hex(value: str) -> str:
    """The same hex string with its first digit changed."""
    return ("1" if value[0] == "0" else "0") + value[1:]


@pytest.mark.parametrize(("tree", "field"), [("urls", "root"), ("urls", "leaves"), ("urls", "kept"),
                                             ("texts", "root"), ("texts", "leaves")])  # fmt: skip
def test_a_commitment_the_tables_do_not_rebuild_fails_that_commitment(release, tree, field):
    """The manifest's root or counts for one tree changed (index and sidecar rebound): the tables give the real
    ones. `kept` moves one leaf from removals, so the leaves still add up."""
    recorded = _manifest(release)["commitments"]["trees"][tree]

    def lie(m: dict) -> None:
        entry = m["commitments"]["trees"][tree]
        if field == "root":
            entry["root"] = _other_hex(entry["root"])
        elif field == "kept":
            entry.update(kept=entry["kept"] + 1, removals=entry["removals"] - 1)
        else:
            entry["leaves"] += 1

    _edit_manifest(release, lie)
    name = {"urls": COMMIT_URLS, "texts": COMMIT_TEXTS}[tree]
    assert _failed(release) == {name}
    total, kept = _planted_counts()
    counts = f"leaves {total}, kept {kept}, removals {total - kept}" if tree == "urls" else f"leaves {kept}"
    said = _other_hex(recorded["root"]) if field == "root" else recorded["root"]
    detail = _detail(release, name)
    assert detail.startswith(f"the manifest says root {said[:16]}… (")
    assert detail.endswith(f"; the tables give {_reference_roots(release)[tree][:16]}… ({counts})")


@pytest.mark.parametrize("tree", ["urls", "texts"])
def test_a_table_changed_behind_the_signed_roots_fails_that_commitment(release, tree):
    """Files resealed, the manifest's commitments left as signed, the sidecar (a cache) dropped: a removal moved to
    another URL (url, url_key and domain agree, so the URL check passes) or a kept text replaced with its hashes and
    its signature."""
    if tree == "urls":
        row = _row(_ledger(release), reason="gopher_short_doc")
        moved = {"url": "http://elsewhere.test/x", "url_key": "elsewhere.test/x", "domain": "elsewhere.test"}
        _rewrite(release, "ledger", lambda f: _set(f, row, **moved), commitments=False)
    else:
        from pipeline.text_identity import normalise_text

        row = _row(_documents(release), url="http://kept.test/c")
        text = "Another page, hashed as it is (the text hash check passes)."
        replaced = {"text": text, "text_sha256": hashlib.sha256(text.encode()).hexdigest(),
                    "norm_sha256": hashlib.sha256(normalise_text(text).encode()).hexdigest()}  # fmt: skip
        _sign(release, row, _signature_of(text))
        _rewrite(release, "documents", lambda f: _set(f, row, **replaced), commitments=False)
    shutil.rmtree(release / "commitments")
    name = {"urls": COMMIT_URLS, "texts": COMMIT_TEXTS}[tree]
    assert _failed(release) == {name}
    recorded = _manifest(release)["commitments"]["trees"][tree]["root"]
    assert _detail(release, name).startswith(f"the manifest says root {recorded[:16]}… (")
    assert f"the tables give {_reference_roots(release)[tree][:16]}…" in _detail(release, name)


@pytest.mark.parametrize("key", ["documents_without_url_key", "removals_without_url_key"])
def test_records_without_a_url_identity_miscounted_fail_their_check(release, key):
    _edit_manifest(release, lambda m: m["commitments"]["not_committed"].update({key: 1}))
    assert _failed(release) == {NOT_COMMITTED}
    truth = {"documents_without_url_key": 0, "removals_without_url_key": 0}  # every planted page is an http page
    assert _detail(release, NOT_COMMITTED) == f"the manifest says {truth | {key: 1}}, the tables give {truth}"


def test_a_removal_taken_out_of_the_url_tree_unannounced_fails_the_count(release):
    """A forger gives a removal no URL (so no URL proof can speak of it), rebuilds the roots, and keeps the count of
    uncommitted removals at 0: only that count tells that a record left the URL tree."""
    row = _row(_ledger(release), reason="gopher_short_doc")
    _rewrite(release, "ledger", lambda f: _set(f, row, url=None, url_key=None, domain=None))
    assert _manifest(release)["commitments"]["not_committed"]["removals_without_url_key"] == 1  # rebuilt honestly
    assert _failed(release) == set()
    _edit_manifest(release, lambda m: m["commitments"]["not_committed"].update(removals_without_url_key=0))
    assert _failed(release) == {NOT_COMMITTED}
    truth = {"documents_without_url_key": 0, "removals_without_url_key": 1}
    assert _detail(release, NOT_COMMITTED) == f"the manifest says {truth | {'removals_without_url_key': 0}}, " \
        f"the tables give {truth}"


SIDECAR_DAMAGE = {
    "a leaf file changed": "urls.keys.npy is missing or changed; the urls leaves differ from the tables",
    "a changed leaf file re-listed": "the urls leaves differ from the tables",
    "two labels swapped": "the urls leaves differ from the tables",
    "stale after a table change": "commitments.json gives the urls tree another root or size than the tables; "
    "the urls leaves differ from the tables",
    "an unlisted file": "extra.npy is not listed",
    "another release named": "commitments.json names release 'release-other', not 'release'",
    "a listed path outside it": "'../manifest.json' is not a file name inside commitments/ (not read)",
    "a file missing": "unreadable (FileNotFoundError: ",
    "no commitments.json": "unreadable (FileNotFoundError: ",
    "another manifest": "written for another manifest.json: delete {sidecar} (prove then uses the tables)",
    # what `apertura prove` refuses to answer from (it falls back to the tables) is no sidecar that matches them
    "its urls root changed": "commitments.json gives the urls tree another root or size than the tables",
    "its texts size changed": "commitments.json gives the texts tree another root or size than the tables",
    "another sidecar format": "not a format 1 commitments sidecar, so `apertura prove` does not use it",
}


@pytest.mark.parametrize("damage", SIDECAR_DAMAGE)
def test_a_damaged_commitments_sidecar_fails_its_check(release, damage):
    """The sidecar is what `apertura prove` answers from: its leaves must be the tables' (a file changed, re-listed
    with its new sha256, the labels' names swapped in commitments.json, or left from before the tables changed)."""
    sidecar = release / "commitments"
    info_path, keys = sidecar / "commitments.json", sidecar / "urls.keys.npy"
    info = json.loads(info_path.read_text())
    if damage in ("a leaf file changed", "a changed leaf file re-listed"):
        data = bytearray(keys.read_bytes())
        data[-1] ^= 0x01  # the last byte of the last leaf's key
        keys.write_bytes(bytes(data))
        if damage == "a changed leaf file re-listed":
            listed = next(f for f in info["files"] if f["path"] == keys.name)
            listed["sha256"] = hashlib.sha256(bytes(data)).hexdigest()
    elif damage == "two labels swapped":  # each of those removals' leaves now names the other's reason
        labels = info["trees"]["urls"]["labels"]
        a, b = labels.index(["dedup", "dedup_exact"]), labels.index(["quality", "gopher_short_doc"])
        labels[a], labels[b] = labels[b], labels[a]
    elif damage == "stale after a table change":  # tables, manifest and its commitments resealed, the old sidecar
        before = release.parent / "sidecar-before"  # put back and bound to the new manifest
        shutil.copytree(sidecar, before)
        row = _row(_ledger(release), reason="gopher_short_doc")
        moved = {"url": "http://elsewhere.test/x", "url_key": "elsewhere.test/x", "domain": "elsewhere.test"}
        _rewrite(release, "ledger", lambda f: _set(f, row, **moved))
        shutil.rmtree(sidecar)
        shutil.copytree(before, sidecar)
        info["manifest_sha256"] = hashlib.sha256((release / "manifest.json").read_bytes()).hexdigest()
    elif damage == "its urls root changed":
        info["trees"]["urls"]["root"] = _other_hex(info["trees"]["urls"]["root"])
    elif damage == "its texts size changed":
        info["trees"]["texts"]["leaves"] += 1
    elif damage == "another sidecar format":
        info["format_version"] += 1
    elif damage == "another release named":  # bound to this manifest all the same
        info["release_id"] = info["release_id"] + "-other"
    elif damage == "an unlisted file":
        (sidecar / "extra.npy").write_bytes(b"\0")
    elif damage == "a listed path outside it":  # its sha256 is right: only the path gives it away
        manifest = release / "manifest.json"
        info["files"].append({"path": "../manifest.json", "sha256": hashlib.sha256(manifest.read_bytes()).hexdigest()})
    elif damage == "a file missing":
        (sidecar / "texts.chunks.npy").unlink()
    elif damage == "no commitments.json":
        info_path.unlink()
        info = None
    else:
        info["manifest_sha256"] = "0" * 64
    if info is not None:
        info_path.write_text(json.dumps(info))
    assert _failed(release) == {SIDECAR}
    assert _detail(release, SIDECAR).startswith(SIDECAR_DAMAGE[damage].format(sidecar=sidecar))
    if damage in ("its urls root changed", "its texts size changed", "another sidecar format"):
        assert Prover(release).source.startswith("recomputed from the tables (commitments/ ")  # prove agrees


def test_a_sound_sidecar_is_the_one_prove_answers_from(release):
    """The other side of the checks above: a sidecar verify passes is one `apertura prove` uses."""
    assert _failed(release) == set()
    assert Prover(release).source == "from the commitments/ sidecar"


def test_no_commitments_sidecar_passes_its_check(release):
    """The sidecar is optional (a release published without it still proves, from the tables)."""
    shutil.rmtree(release / "commitments")
    assert _failed(release) == set()
    assert _detail(release, SIDECAR) == "none (optional): `apertura prove` computes proofs from the tables, more slowly"


# --- the manifest's signature -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> dict[str, Path]:
    """Two Ed25519 private keys, their public keys beside them (`.pub`): the publisher's and someone else's."""
    root = tmp_path_factory.mktemp("keys")
    for who in ("publisher", "other"):
        new_keypair(root / who)
    return {who: root / who for who in ("publisher", "other")}


def _public(private: Path) -> Path:
    return private.with_name(private.name + ".pub")


def _key_id(private: Path) -> str:
    """The key id a publisher announces: sha256 of the raw 32-byte public key, read with `cryptography` itself."""
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_public_key(_public(private).read_bytes())
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert len(raw) == 32
    return hashlib.sha256(raw).hexdigest()


def test_a_signed_release_verifies_with_the_publishers_key_and_with_the_one_stored(release, keys):
    sign_release(release, keys["publisher"])
    publisher = _key_id(keys["publisher"])
    assert _failed(release, pubkey=_public(keys["publisher"])) == set()
    assert _detail(release, SIGNATURE) == f"signed by key {publisher}, verified with the key given"
    assert _failed(release) == set()
    assert _detail(release, SIGNATURE) == (
        f"signed by key {publisher}, verified with the key stored in manifest.pubkey.pem (pass --pubkey to pin yours)"
    )


@pytest.mark.parametrize("given", ["no key", "a forger's key stored", "the publisher's key"])
def test_the_verdict_says_whether_who_published_it_was_checked(release, keys, given):
    """A forger can rewrite every file consistently and sign with a key of their own stored beside the manifest:
    without the publisher's key, "release verifies" says the files agree with the manifest, not who made them."""
    from typer.testing import CliRunner

    from pipeline.cli import app

    sign_release(release, keys["other" if given == "a forger's key stored" else "publisher"])
    args = ["--pubkey", str(_public(keys["publisher"]))] if given == "the publisher's key" else []
    result = CliRunner().invoke(app, ["verify", str(release), *args])
    assert result.exit_code == 0, result.output
    unpinned = ("release verifies: its files agree with its manifest. Who published it is not checked: --pubkey "
                "with the publisher's public key checks that")  # fmt: skip
    pinned = "release verifies, signed with the key given"
    said = " ".join(result.output.split())  # the last line, however the terminal wrapped it
    assert said.endswith(pinned if given == "the publisher's key" else unpinned)


@pytest.mark.parametrize("case", ["unsigned", "no registry"])
def test_what_verify_could_not_check_is_marked_apart_from_what_passed(release, keys, case):
    """An unsigned release, or one that applied no registry verified without one, passes: but nothing was checked
    there, and a regulator reading a column of "ok" would take it for a promise. Each is marked `--`, named under
    the checks, and `checked: false` in the JSON; every other check is checked."""
    from typer.testing import CliRunner

    from pipeline.cli import app

    if case == "no registry":  # signed, so that the registry is the one thing not checked
        _edit_manifest(release, lambda m: m["optout"].update(registry=None))
        sign_release(release, keys["publisher"])
    name = {"unsigned": SIGNATURE, "no registry": REGISTRY_UNREADABLE}[case]
    report = verify_release(release)
    assert report.ok and [c.name for c in report.not_checked] == [name]
    assert [c["name"] for c in report.to_dict()["checks"] if not c["checked"]] == [name]
    result = CliRunner().invoke(app, ["verify", str(release)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert sum(line.startswith("--   ") for line in lines) == 1
    assert next(line for line in lines if line.startswith("--   ")).startswith(f"--   {name}: ")
    assert f"not checked (--): {name}" in " ".join(result.output.split())


SIGNATURE_DAMAGE = ["signature", "payload sha256", "manifest changed", "not an envelope", "other key", "key id",
                    "re-signed by a forger", "unsigned"]  # fmt: skip


@pytest.mark.parametrize("damage", SIGNATURE_DAMAGE)
def test_a_signature_that_does_not_hold_fails_the_signature_check(release, keys, damage):
    """Verified with the publisher's key (`--pubkey`): a signature bit flipped, the payload's sha256 or the manifest
    changed after signing (index and sidecar rebound), no envelope, another key given, the envelope naming another
    key, a forger's signature with the forger's key stored beside it, no signature at all."""
    sign_release(release, keys["publisher"])
    path = release / "manifest.dsse.json"
    envelope = json.loads(path.read_text())
    publisher, other = _key_id(keys["publisher"]), _key_id(keys["other"])
    signed = hashlib.sha256((release / "manifest.json").read_bytes()).hexdigest()
    pubkey = _public(keys["publisher"])
    if damage == "signature":
        raw = bytearray(base64.b64decode(envelope["signatures"][0]["sig"]))
        raw[0] ^= 0x01
        envelope["signatures"][0]["sig"] = base64.b64encode(bytes(raw)).decode()
        expected = f"the signature in manifest.dsse.json does not verify with key {publisher[:16]}…"
    elif damage == "payload sha256":
        envelope["payloadSha256"] = "0" * 64
        expected = (f"manifest.json was changed after it was signed: its sha256 is {signed[:16]}…, manifest.dsse.json "
                    "signs 0000000000000000…")  # fmt: skip
    elif damage == "manifest changed":
        _edit_manifest(release, lambda m: m.update(release_id="renamed"))
        now = hashlib.sha256((release / "manifest.json").read_bytes()).hexdigest()
        expected = (f"manifest.json was changed after it was signed: its sha256 is {now[:16]}…, manifest.dsse.json "
                    f"signs {signed[:16]}…")  # fmt: skip
    elif damage == "not an envelope":
        envelope["signatures"] = []
        expected = "manifest.dsse.json is not a signature envelope (one signature with keyid and sig, payloadSha256)"
    elif damage == "other key":
        pubkey = _public(keys["other"])
        expected = (f"manifest.dsse.json is signed by key {publisher[:16]}…, not by the key {other[:16]}… it is "
                    "checked with")  # fmt: skip
    elif damage == "key id":  # the envelope names the other key; the signature is still the publisher's
        envelope["signatures"][0]["keyid"] = other
        pubkey = _public(keys["other"])
        expected = f"the signature in manifest.dsse.json does not verify with key {other[:16]}…"
    elif damage == "re-signed by a forger":
        sign_release(release, keys["other"], force=True)
        envelope = json.loads(path.read_text())
        assert _failed(release) == set()  # without --pubkey only the stored key is there: it is the forger's
        assert _detail(release, SIGNATURE).startswith(f"signed by key {other}, verified with the key stored in ")
        expected = (f"manifest.dsse.json is signed by key {other[:16]}…, not by the key {publisher[:16]}… it is "
                    "checked with")  # fmt: skip
    else:
        path.unlink()
        (release / "manifest.pubkey.pem").unlink()
        envelope = None
        expected = "--pubkey given but the release is not signed (no manifest.dsse.json)"
    if envelope is not None:
        path.write_text(json.dumps(envelope))
    assert _failed(release, pubkey=pubkey) == {SIGNATURE}
    assert _detail(release, SIGNATURE) == expected
    if damage in ("signature", "payload sha256", "manifest changed", "not an envelope"):
        assert _failed(release) == {SIGNATURE}  # the key stored beside the manifest sees it too
        assert _detail(release, SIGNATURE) == expected


# --- tables outside the release -------------------------------------------------------------------------------


def test_a_part_file_that_resolves_outside_the_release_fails_readable(release, tmp_path):
    part = _part(release, "ledger")
    outside = tmp_path / "outside.parquet"
    shutil.move(part, outside)
    part.symlink_to(outside)
    assert _failed(release) == {READABLE}
    assert "resolves outside the release" in _detail(release, READABLE)


# --- the index binding ----------------------------------------------------------------------------------------


def test_no_index_passes_the_index_check(release):
    shutil.rmtree(release / "index")
    checks = _report(release)
    assert checks[INDEX] is True and INDEX_BINDS not in checks and not _failed(release)
    assert _detail(release, INDEX) == "no membership index (optional): `apertura index` builds one"


def test_an_index_whose_manifest_cannot_be_read_is_not_bound(release):
    from pipeline.index import verify_index

    (release / "manifest.json").unlink()
    ((name, ok, detail),) = verify_index(release)
    assert (name, ok) == (INDEX_BINDS, False) and "manifest.json" in detail


def test_an_index_json_without_its_binding_is_not_bound(release):
    path = release / "index" / "index.json"
    info = json.loads(path.read_text())
    del info["manifest_sha256"]
    path.write_text(json.dumps(info))
    assert _failed(release) == {INDEX_BINDS}
    assert _detail(release, INDEX_BINDS).startswith("built from manifest sha256 ?…, current is ")


@pytest.mark.parametrize("damage", ["not json", "other format"])
def test_a_broken_index_json_fails_its_check(release, damage):
    path = release / "index" / "index.json"
    path.write_text("{" if damage == "not json" else json.dumps({"format": "something-else", "files": []}))
    assert _failed(release) == {INDEX_JSON}
    expected = "unreadable (" if damage == "not json" else "not an apertura index (format 'something-else')"
    assert expected in _detail(release, INDEX_JSON)


def test_an_index_binding_that_is_no_hash_is_not_bound(release):
    path = release / "index" / "index.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "manifest_sha256": 5}))
    assert _failed(release) == {INDEX_BINDS}
    assert _detail(release, INDEX_BINDS).startswith("built from manifest sha256 5…, current is ")


@pytest.mark.parametrize("link", ["index", "index/index.json"])
def test_an_index_leading_out_of_the_release_fails_as_the_reader_refuses_it(release, tmp_path, link):
    """The index folder, or its index.json, a symlink to an identical copy outside: verify checks the index the
    reader would open, and the reader refuses it (`release_read.index_files`)."""
    from pipeline.release_read import ReleaseError, index_files

    outside = tmp_path / "elsewhere"
    shutil.copytree(release / "index", outside)
    target = release / link
    shutil.rmtree(target) if target.is_dir() else target.unlink()
    target.symlink_to(outside if link == "index" else outside / "index.json")
    with pytest.raises(ReleaseError, match="resolves outside the release"):
        index_files(release)
    assert _failed(release) == {INDEX_JSON}
    what = {"index": "the index directory", "index/index.json": "the index description"}[link]
    assert _detail(release, INDEX_JSON).endswith(f"{what} {Path(link).name!r} resolves outside the release")


def test_an_index_built_from_another_manifest_fails_the_binding(release):
    bound = json.loads((release / "index" / "index.json").read_text())["manifest_sha256"]
    _edit_manifest(release, lambda m: m.update(release_id="renamed"), rebind_index=False)
    assert _failed(release) == {INDEX_BINDS}
    current = hashlib.sha256((release / "manifest.json").read_bytes()).hexdigest()
    assert _detail(release, INDEX_BINDS) == (
        f"built from manifest sha256 {bound[:16]}…, current is {current[:16]}…: rebuild with `apertura index --force`"
    )


@pytest.mark.parametrize("damage", ["same size", "other size", "missing", "unlisted"])
def test_a_changed_index_file_fails_the_index_files_check(release, damage):
    path = release / "index" / "signatures.npy"
    data = bytearray(path.read_bytes())
    if damage == "same size":
        data[-1] ^= 0x01
        path.write_bytes(bytes(data))
    elif damage == "other size":
        path.write_bytes(bytes(data) + b"\0")
    elif damage == "missing":
        path.unlink()
    else:
        (release / "index" / "extra.npy").write_bytes(b"\0")
    assert _failed(release) == {INDEX_FILES}
    assert "; " not in _detail(release, INDEX_FILES)  # one problem
    expected = {"same size": "sha256 differs from index.json", "other size": "bytes, index.json says",
                "missing": "signatures.npy: missing", "unlisted": "extra.npy: not listed in index.json"}  # fmt: skip
    assert expected[damage] in _detail(release, INDEX_FILES)


def _rehash_index_file(release: Path, name: str) -> None:
    """Re-hash a changed index file in index.json (which the manifest does not list): a forged index."""
    path = release / "index" / name
    index_json = release / "index" / "index.json"
    info = json.loads(index_json.read_text())
    entry = next(f for f in info["files"] if f["path"] == name)
    entry.update(sha256=hashlib.sha256(path.read_bytes()).hexdigest(), bytes=path.stat().st_size)
    index_json.write_text(json.dumps(info))


def _edit_index_entries(release: Path, sql: str, params: dict) -> None:
    """Change `entries.duckdb` and re-hash it."""
    con = duckdb.connect(str(release / "index" / "entries.duckdb"))
    con.execute(sql, params)
    con.execute("checkpoint")
    con.close()
    _rehash_index_file(release, "entries.duckdb")


@pytest.mark.parametrize("forgery", ["kept page said opted out", "entry dropped", "entry added", "renumbered"])
def test_an_index_whose_entries_are_not_the_tables_fails_the_entries_check(release, forgery):
    """A URL the release keeps answered "removed at stage optout (the rights holder opted out)", a kept page's entry
    gone (its URL answered "not in"), an entry for a page the release never held, or a kept page's entry number
    swapped with a removed row's (a near copy or text found at its signature row answered "removed")."""
    kept = _documents(release).filter(pl.col("url") == "http://kept.test/c")["id"][0]
    removed = _ledger(release).filter(pl.col("text").is_not_null())["id"][0]
    sql = {"kept page said opted out": "update entries set status = 'removed', stage = 'optout', "
                                       "reason = 'optout_tdmrep' where id = $id",
           "entry dropped": "delete from entries where id = $id",
           "entry added": "insert into entries select * replace (entry + 1000 as entry, id || 'x' as id) "
                          "from entries where id = $id",
           "renumbered": "update entries set entry = (select sum(entry) from entries where id in ($id, $other)) "
                         "- entry where id in ($id, $other)"}[forgery]  # fmt: skip
    _edit_index_entries(release, sql, {"id": kept} | ({"other": removed} if forgery == "renumbered" else {}))
    assert _failed(release) == {INDEX_ENTRIES}
    counts = {"kept page said opted out": (1, 1), "entry dropped": (0, 1), "entry added": (1, 0),
              "renumbered": (2, 2)}[forgery]  # fmt: skip
    named = {"kept page said opted out": [kept], "entry dropped": [], "entry added": [kept + "x"],
             "renumbered": sorted([kept, removed])}[forgery]  # fmt: skip
    assert _detail(release, INDEX_ENTRIES) == (
        f"{counts[0]} entries the tables do not hold, {counts[1]} rows the index lacks, e.g. {named}")


def _edit_index_array(release: Path, name: str, change: Callable[[np.ndarray], np.ndarray]) -> None:
    path = release / "index" / f"{name}.npy"
    np.save(path, change(np.load(path)))
    _rehash_index_file(release, name + ".npy")


def _index_row(release: Path, id_: str) -> int:
    """The entry number (signature row) the index gives a document."""
    with duckdb.connect(str(release / "index" / "entries.duckdb"), read_only=True) as con:
        return con.execute("select entry from entries where id = $id", {"id": id_}).fetchall()[0][0]


@pytest.mark.parametrize("forgery", ["a document row", "a band's entry", "a document out of every band", "another seed",
                                     "other bands", "other shingles", "settings not an object", "a row short",
                                     "one dimension"])  # fmt: skip
def test_an_index_whose_near_copy_structures_are_not_the_signatures_fails(release, forgery):
    """A near copy is found through the LSH bands, then compared with the signatures found: a kept page's row
    signed otherwise, a band pointing elsewhere, a page left out of every band or signatures made with other dedup
    settings would each answer "not in" for a near copy of it. Index files re-hashed in index.json, as a forger
    would: only this check sees it."""
    kept = _documents(release).filter(pl.col("url") == "http://kept.test/c")["id"][0]
    row = _index_row(release, kept)
    signed = len(np.load(release / "index" / "signatures.npy"))  # every entry with a text has shingles here

    def flip(array: np.ndarray) -> np.ndarray:
        array[row, 0] ^= 1
        return array

    def point_elsewhere(entries: np.ndarray) -> np.ndarray:
        entries[3, entries[3] == row] = (row + 1) % signed
        return entries

    def leave_out(name: str) -> Callable[[np.ndarray], np.ndarray]:
        keep = np.load(release / "index" / "lsh_entries.npy") != row
        return lambda array: np.stack([band[keep[b]] for b, band in enumerate(array)])

    written = []

    def settings(change: dict | str) -> None:
        index_json = release / "index" / "index.json"
        info = json.loads(index_json.read_text())
        info["dedup"] = info["dedup"] | change if isinstance(change, dict) else change
        index_json.write_text(json.dumps(info))
        written.append(info["dedup"])

    if forgery == "a document row":
        _edit_index_array(release, "signatures", flip)
    elif forgery == "a band's entry":
        _edit_index_array(release, "lsh_entries", point_elsewhere)
    elif forgery == "a document out of every band":
        for name in ("lsh_keys", "lsh_entries"):
            _edit_index_array(release, name, leave_out(name))
    elif forgery == "a row short":  # fewer rows than the release has documents
        _edit_index_array(release, "signatures", lambda array: array[: _documents(release).height - 1])
    elif forgery == "one dimension":
        _edit_index_array(release, "signatures", np.ravel)
    else:
        settings({"another seed": {"seed": 2}, "other bands": {"bands": 16, "rows_per_band": 7},
                  "other shingles": {"ngram_size": 4}, "settings not an object": "14x8"}[forgery])  # fmt: skip
    assert _failed(release) == {INDEX_NEAR}
    detail = _detail(release, INDEX_NEAR)
    if forgery == "a document row":
        assert detail == f"1 of {_documents(release).height} documents' rows of signatures.npy are not their " \
                         f"signatures, e.g. {[kept]}"
    elif forgery == "a band's entry":
        assert detail == "LSH bands [3] do not hold the keys of the signatures"
    elif forgery in ("a row short", "one dimension"):
        documents = _documents(release).height
        shape = (documents - 1, 112) if forgery == "a row short" else (signed * 112,)
        assert detail == f"signatures.npy has shape {shape}, not ({documents} documents or more, 112)"
    elif forgery == "a document out of every band":
        assert detail == f"lsh_keys.npy (14, {signed - 1}) and lsh_entries.npy (14, {signed - 1}), not (14, {signed} " \
                         "signed entries)"
    else:
        assert detail == (f"index.json's dedup settings {written[0]} are not the release's (ngram_size, bands, "
                          "rows_per_band, seed)")  # fmt: skip


def test_index_settings_a_lookup_does_not_sign_with_may_be_missing(release):
    """An index.json written before a dedup setting existed (or without those a lookup never reads) is read with
    their defaults, as a lookup reads it: not a failure."""
    index_json = release / "index" / "index.json"
    info = json.loads(index_json.read_text())
    info["dedup"] = {k: v for k, v in info["dedup"].items() if k in ("ngram_size", "bands", "rows_per_band", "seed")}
    index_json.write_text(json.dumps(info))
    assert _failed(release) == set()


def test_index_signature_rows_forged_in_several_batches_are_all_named(release, small_batches):
    """Four rows forged, in the first, second and last batches: all counted, the first three named."""
    documents = _documents(release)
    forged = [0, 1, 2, documents.height - 1]

    def flip(array: np.ndarray) -> np.ndarray:
        array[forged, 0] ^= 1
        return array

    _edit_index_array(release, "signatures", flip)
    assert _failed(release) == {INDEX_NEAR}
    named = [documents["id"][row] for row in forged[:3]]
    assert _detail(release, INDEX_NEAR) == (f"4 of {documents.height} documents' rows of signatures.npy are not "
                                            f"their signatures, e.g. {named}")  # fmt: skip


@pytest.mark.parametrize("entry", ["a link out of the release", "not an object"])
def test_a_listed_index_file_that_cannot_be_opened_as_one_is_named_and_the_rest_still_checked(release, tmp_path, entry):
    """An index file listed as a link to an identical copy outside the release (its reader refuses it), or a listed
    entry that is no file description: named, and the files listed after it still checked (the last one deleted)."""
    index = release / "index"
    info = json.loads((index / "index.json").read_text())
    first, last = info["files"][0]["path"], info["files"][-1]["path"]
    if entry == "a link out of the release":
        shutil.copy(index / first, tmp_path / "copy")
        (index / first).unlink()
        (index / first).symlink_to(tmp_path / "copy")
        named = f"{index.resolve()}: index file {first!r} resolves outside the release"
    else:
        info["files"].insert(0, first)
        (index / "index.json").write_text(json.dumps(info))
        named = f"{index.resolve()}: index file None is not a relative path"
    (index / last).unlink()
    assert _failed(release) == {INDEX_FILES}
    assert _detail(release, INDEX_FILES) == f"{named}; {last}: missing"


def test_an_index_that_cannot_be_read_fails_saying_so(release):
    """An entries file that is no database (re-hashed, so only its reading sees it): the index is a finding, not a
    crash of verify and not a pass."""
    path = release / "index" / "entries.duckdb"
    path.write_bytes(b"not a database" * 1000)
    _rehash_index_file(release, "entries.duckdb")
    with pytest.raises(duckdb.Error) as by_duckdb:  # the reference: what DuckDB says of this file
        duckdb.connect(str(path), read_only=True)
    assert _failed(release) == {INDEX}
    reason = str(by_duckdb.value).splitlines()[0]
    assert _detail(release, INDEX) == f"could not be checked: {by_duckdb.type.__name__}: {reason}"


def test_tantivy_lock_files_are_not_part_of_the_index(release):
    for lock in (release / "index" / "text").rglob(".tantivy-*.lock"):
        lock.unlink()
    (release / "index" / "text" / "00000" / ".tantivy-writer.lock").write_bytes(b"")
    assert not _failed(release)


def test_the_json_report_says_what_the_checks_say(release):
    """`apertura verify --json` (what CI and auditors parse) carries every check with its verdict and detail."""
    _edit_manifest(release, lambda m: m["inputs"][1].update(eligible=m["inputs"][1]["eligible"] - 1))
    report = verify_release(release)
    data = json.loads(json.dumps(report.to_dict()))
    assert data["release"] == str(release) and data["ok"] is False
    failed = {CONSERVATION, FIGURES}
    assert [(c["name"], c["ok"]) for c in data["checks"]] == [(name, name not in failed) for name in ALL_CHECKS]
    assert data["checks"][ALL_CHECKS.index(CONSERVATION)]["detail"] == next(
        c.detail for c in report.checks if c.name == CONSERVATION
    )


def test_every_index_problem_is_named(release):
    (release / "index" / "signatures.npy").unlink()
    (release / "index" / "extra.npy").write_bytes(b"\0")
    assert _failed(release) == {INDEX_FILES}
    assert _detail(release, INDEX_FILES) == "signatures.npy: missing; extra.npy: not listed in index.json"

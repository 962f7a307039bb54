"""`verify_index`: the sidecar index binds to the release's current manifest, no index file changed, its entries
are the release's documents and ledger rows, and its near-copy lookups read the documents' signatures."""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.config import DedupConfig
from pipeline.index.build import (
    EMPTY_SIGNATURE,
    FORMAT,
    INDEX_DIR,
    INDEX_JSON,
    LOCK_FILES,
    dedup_config,
    manifest_sha256,
)
from pipeline.release_read import ReleaseError, inside
from pipeline.tables import file_sha256

# (name, ok, detail), or with a fourth value False: passed without a promise ("not made", said why)
IndexCheck = tuple[str, bool, str] | tuple[str, bool, str, bool]


def verify_index(release: str | Path) -> list[IndexCheck]:
    """Checks for `apertura verify`. A release without an index passes (it is optional)."""
    release = Path(release)
    if not (release / INDEX_DIR).exists():
        return [("index", True, "no membership index (optional): `apertura index` builds one")]
    try:  # where the reader looks (`release_read.index_files`): never a directory leading out of the release
        directory = inside(release, INDEX_DIR, "the index directory")
        path = inside(directory, INDEX_JSON, "the index description")
    except ReleaseError as err:
        return [("index.json", False, str(err))]
    try:
        info = json.loads(path.read_text())
        files = info["files"] if info.get("format") == FORMAT else None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        return [("index.json", False, f"{path}: unreadable ({err})")]
    if files is None:
        return [("index.json", False, f"{path}: not an apertura index (format {info.get('format')!r})")]
    checks: list[IndexCheck] = []
    try:
        current = manifest_sha256(release)
    except OSError as err:
        return [("index binds to manifest", False, str(err))]
    bound = info.get("manifest_sha256") == current
    checks.append(
        (
            "index binds to manifest",
            bound,
            f"built from manifest sha256 {str(info.get('manifest_sha256', '?'))[:16]}…"
            + ("" if bound else f", current is {current[:16]}…: rebuild with `apertura index --force`"),
        )
    )
    problems = []
    listed = {str(f.get("path")) for f in files if isinstance(f, dict)}
    for f in files:
        try:
            p = inside(directory, f.get("path") if isinstance(f, dict) else None, "index file")
        except ReleaseError as err:
            problems.append(str(err))
            continue
        if not p.is_file():
            problems.append(f"{f['path']}: missing")
        elif p.stat().st_size != f["bytes"]:
            problems.append(f"{f['path']}: {p.stat().st_size} bytes, index.json says {f['bytes']}")
        elif file_sha256(p) != f["sha256"]:
            problems.append(f"{f['path']}: sha256 differs from index.json (file changed)")
    for p in sorted(directory.rglob("*")):
        rel = p.relative_to(directory).as_posix()
        if p.is_file() and p.name != INDEX_JSON and p.name not in LOCK_FILES and rel not in listed:
            problems.append(f"{rel}: not listed in index.json")
    checks.append(("index files and sha256", not problems, "; ".join(problems) or f"{len(files)} files match"))
    if bound and not problems:  # the files are the ones index.json names: are they about this release's tables?
        checks.append(_entries_agree(release, directory))
        checks.append(_near_copies_agree(release, directory, info))
    return checks


ENTRIES_AGREE = "index entries agree with the tables"
# What a URL, id or text-hash lookup answers from: each entry is a document ('in') or a ledger row ('removed').
ENTRY_COLUMNS = ("entry", "status", "id", "url", "url_key", "domain", "language", "title", "text_sha256",
                 "norm_sha256", "stage", "reason", "detail", "duplicate_of", "has_text")  # fmt: skip
# Entries are numbered as the index builds them (a near-copy or full-text hit is an entry number): documents in
# release order, then the ledger rows with text, then the rest, each in file order (read as such, not assumed).
TABLE_ENTRIES_SQL = """
with documents as (
    select row_number() over (order by list_position($docs, filename), file_row_number) - 1 as entry, id, url,
           url_key, domain, language, title, text_sha256, norm_sha256
    from read_parquet($docs, filename = true, file_row_number = true)
), ledger as (
    select row_number() over (partition by text is null order by list_position($ledger, filename), file_row_number)
           - 1 as n, id, url, url_key, domain, language, title, text_sha256, norm_sha256, stage, reason, detail,
           duplicate_of, text is not null as has_text
    from read_parquet($ledger, filename = true, file_row_number = true)
)
select entry, 'in' as status, id, url, url_key, domain, language, title, text_sha256, norm_sha256, null as stage,
       null as reason, null as detail, null as duplicate_of, true as has_text
from documents
union all
select n + (select count(*) from documents) + if(has_text, 0, (select count(*) from ledger where has_text)),
       'removed', id, url, url_key, domain, language, title, text_sha256, norm_sha256, stage, reason, detail,
       duplicate_of, has_text
from ledger
"""


# Each distinct entry counted on both sides in one pass over the index (NULLs group as equal, as in EXCEPT ALL).
COMPARE_SQL = """
with sides as (
    select {columns}, 1 as in_index, 0 as in_tables from entries
    union all
    select {columns}, 0, 1 from ({tables})
), counted as (select {columns}, sum(in_index) as n_index, sum(in_tables) as n_tables from sides group by all)
select coalesce(sum(greatest(n_index - n_tables, 0)), 0)::bigint,
       coalesce(sum(greatest(n_tables - n_index, 0)), 0)::bigint,
       coalesce((list(id order by id) filter (where n_index > n_tables))[1:3], []),
       coalesce(sum(n_index), 0)::bigint
from counted
"""


def _entries_agree(release: Path, directory: Path) -> tuple[str, bool, str]:
    """The index's entries are the release's documents and ledger rows, column for column: an index rebuilt by a
    forger (and re-hashed in index.json, which the manifest does not list) could answer "removed: opted out" for
    a URL the release keeps; entry numbers too (a lookup's hit is a number). Format 3 on (the tables hold the URL
    identity the index stores). The full-text structures are checked by their sha256 only. The index file is
    opened as its readers open it (read-only, locked: a view stored in it reads nothing else), its entries
    streamed into a connection that reads only the release's tables."""
    from pipeline.release_read import connect, load_manifest, open_database, table_files

    manifest = load_manifest(release)
    if manifest["format_version"] < 3:
        return ENTRIES_AGREE, True, "format 1-2: no URL identity in the tables to compare (not checked)"
    columns = ", ".join(ENTRY_COLUMNS)
    docs, ledger = (table_files(release, manifest, table) for table in ("documents", "ledger"))
    with open_database(inside(directory, "entries.duckdb", "index file")) as index, connect([*docs, *ledger]) as con:
        con.register("entries", index.sql(f"select {columns} from entries").to_arrow_reader())
        compare = con.sql(
            COMPARE_SQL.format(columns=columns, tables=TABLE_ENTRIES_SQL), params={"docs": docs, "ledger": ledger}
        )
        ((only_index, only_tables, examples, entries),) = compare.fetchall()
    if only_index == only_tables == 0:
        return ENTRIES_AGREE, True, f"{entries} entries"
    return ENTRIES_AGREE, False, (f"{only_index} entries the tables do not hold, {only_tables} rows the index "
                                  f"lacks, e.g. {examples}")  # fmt: skip


NEAR_COPIES = "index near-copy lookups read the documents' signatures"
LOOKUP_SETTINGS = ("ngram_size", "bands", "rows_per_band", "seed")  # what a lookup signs its text and bands with
SIGNATURE_ROWS = 65_536  # signature rows compared at a time (29 MB of uint32 at 112 values)


def _near_copies_agree(release: Path, directory: Path, info: dict) -> IndexCheck:
    """A near copy is looked up by its LSH band keys (`lsh_keys.npy`, `lsh_entries.npy`), then compared with the
    signatures found (`signatures.npy`): a document's row signed as another text, left out of a band or made with
    other dedup settings answers "not in" for a near copy of it. So: the settings are the release's, the
    documents' rows are the release's signatures (which verify recomputes from the texts), and every band holds
    exactly the keys the signature rows give. The removed rows' signatures (made from their texts when the index
    was built) are held to their sha256 only: said in the detail."""
    import numpy as np
    import polars as pl
    import pyarrow.parquet as pq

    from pipeline.fingerprints import band_keys, signature_matrix
    from pipeline.release_read import even_batches, load_manifest, table_files

    manifest = load_manifest(release)
    dedup = dedup_config(manifest)
    try:  # as a lookup reads them (an older index.json may lack a setting added since: its default)
        recorded = DedupConfig(**info["dedup"])
    except (KeyError, TypeError, ValueError):  # pydantic's ValidationError is a ValueError
        recorded = None
    if recorded is None or any(getattr(recorded, key) != getattr(dedup, key) for key in LOOKUP_SETTINGS):
        return NEAR_COPIES, False, (f"index.json's dedup settings {info.get('dedup')} are not the release's "
                                    f"({', '.join(LOOKUP_SETTINGS)})")  # fmt: skip
    bands, rows = dedup.bands, dedup.rows_per_band
    arrays = {name: np.load(inside(directory, f"{name}.npy", "index file"), mmap_mode="r")
              for name in ("signatures", "lsh_keys", "lsh_entries")}  # fmt: skip
    signatures = arrays["signatures"]
    documents = sum(pq.read_metadata(path).num_rows for path in table_files(release, manifest, "documents"))
    if signatures.ndim != 2 or signatures.shape[1] != bands * rows or len(signatures) < documents:
        return NEAR_COPIES, False, (f"signatures.npy has shape {signatures.shape}, not ({documents} documents or "
                                    f"more, {bands * rows})")  # fmt: skip
    differ, row = [], 0
    docs, sigs = (even_batches(table_files(release, manifest, table), columns, SIGNATURE_ROWS)
                  for table, columns in (("documents", ["id"]), ("signatures", ["id", "minhash"])))  # fmt: skip
    for batch in docs:
        ids = batch.column("id")
        signed_batch = next(sigs, None)
        if signed_batch is None or not ids.equals(signed_batch.column("id")):
            break
        values = signature_matrix(pl.from_arrow(signed_batch.column("minhash")), dedup)  # pyarrow's would import pandas
        stored = np.asarray(signatures[row : row + len(ids)])
        differ += [ids[i].as_py() for i in np.flatnonzero((stored != values).any(axis=1))]
        row += len(ids)
    if row != documents or next(sigs, None) is not None:
        return NEAR_COPIES, True, (f"not made: the release's signatures do not line up with its {documents} "
                                   "documents (see 'signatures aligned 1:1 with documents')"), False  # fmt: skip
    if differ:
        return NEAR_COPIES, False, (f"{len(differ)} of {documents} documents' rows of signatures.npy are not their "
                                    f"signatures, e.g. {differ[:3]}")  # fmt: skip
    signed = np.concatenate(
        [
            np.flatnonzero((signatures[start : start + SIGNATURE_ROWS] != EMPTY_SIGNATURE).any(axis=1)) + start
            for start in range(0, len(signatures), SIGNATURE_ROWS)
        ]
        or [np.empty(0, np.int64)]
    )
    keys, entries = arrays["lsh_keys"], arrays["lsh_entries"]
    if keys.shape != entries.shape or keys.shape != (bands, len(signed)):
        return NEAR_COPIES, False, (f"lsh_keys.npy {keys.shape} and lsh_entries.npy {entries.shape}, not ({bands}, "
                                    f"{len(signed)} signed entries)")  # fmt: skip
    wrong = []
    for band in range(bands):
        expected = band_keys(np.asarray(signatures[signed, band * rows : (band + 1) * rows]), 1, rows)[0]
        order = np.argsort(expected, kind="stable")  # as built: equal keys in entry order
        if not (np.array_equal(keys[band], expected[order]) and np.array_equal(entries[band], signed[order])):
            wrong.append(band)
    if wrong:
        return NEAR_COPIES, False, f"LSH bands {wrong} do not hold the keys of the signatures"
    removed = len(signatures) - documents
    return NEAR_COPIES, True, (f"{documents} documents' signatures, {bands} LSH bands of {len(signed)} signed "
                               f"entries ({removed} removed rows' signatures by sha256 only)")  # fmt: skip

"""`verify_index`: the sidecar index binds to the release's current manifest, no index file changed, and its
entries are the release's documents and ledger rows."""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.index.build import FORMAT, INDEX_DIR, INDEX_JSON, LOCK_FILES, manifest_sha256
from pipeline.release_read import ReleaseError, inside
from pipeline.tables import file_sha256


def verify_index(release: str | Path) -> list[tuple[str, bool, str]]:
    """(name, ok, detail) checks for `apertura verify`. A release without an index passes (it is optional)."""
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
    checks: list[tuple[str, bool, str]] = []
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
    return checks


ENTRIES_AGREE = "index entries agree with the tables"
# What a URL, id or text-hash lookup answers from: each entry is a document ('in') or a ledger row ('removed').
ENTRY_COLUMNS = ("status", "id", "url", "url_key", "domain", "language", "title", "text_sha256", "norm_sha256",
                 "stage", "reason", "detail", "duplicate_of", "has_text")  # fmt: skip
TABLE_ENTRIES_SQL = """
select 'in' as status, id, url, url_key, domain, language, title, text_sha256, norm_sha256, null as stage,
       null as reason, null as detail, null as duplicate_of, true as has_text
from read_parquet($docs)
union all
select 'removed', id, url, url_key, domain, language, title, text_sha256, norm_sha256, stage, reason, detail,
       duplicate_of, text is not null
from read_parquet($ledger)
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
    a URL the release keeps. Format 3 on (the tables hold the URL identity the index stores). The full-text and
    near-copy structures are checked by their sha256 only. The index file is opened as its readers open it
    (read-only, locked: a view stored in it reads nothing else), its entries streamed into a connection that
    reads only the release's tables."""
    from pipeline.release_read import connect, load_manifest, open_database, table_files

    manifest = load_manifest(release)
    if manifest["format_version"] < 3:
        return ENTRIES_AGREE, True, "format 1-2: no URL identity in the tables to compare (not checked)"
    columns = ", ".join(ENTRY_COLUMNS)
    docs, ledger = (table_files(release, manifest, table) for table in ("documents", "ledger"))
    with open_database(inside(directory, "entries.duckdb", "index file")) as index, connect([*docs, *ledger]) as con:
        con.register("entries", index.sql(f"select {columns} from entries").to_arrow_reader())
        compare = con.sql(COMPARE_SQL.format(columns=columns, tables=TABLE_ENTRIES_SQL), params={"docs": docs,
                                                                                                  "ledger": ledger})
        ((only_index, only_tables, examples, entries),) = compare.fetchall()
    if only_index == only_tables == 0:
        return ENTRIES_AGREE, True, f"{entries} entries"
    return ENTRIES_AGREE, False, (f"{only_index} entries the tables do not hold, {only_tables} rows the index "
                                  f"lacks, e.g. {examples}")  # fmt: skip

"""Reading a release, and nothing else: its manifest, its table files, its index files, and DuckDB connections
that cannot read anything else.

A release is data written by someone else (a directory under the app's data root may come from anywhere), so
every path it names is checked before it is opened: a table file must be `<table>/part-NNNNN.parquet` and
resolve (symlinks, `..`) inside the release; `manifest.json` and every file of `index/` must resolve inside
the release too; and the DuckDB connections handed out here have external access off and their configuration
locked, so neither a query nor a view or macro stored in a release's `.duckdb` file can read another file.

One home for this (DESIGN.md, "Release reading"): the pipeline's `verify`, `derive` and `lookup`, the reports,
the membership index and the audit app all read releases through this package. It imports nothing of
sources, steps, executors or the crawler, so the app can use it without pulling the pipeline in.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterator

    import duckdb
    import pyarrow as pa

MANIFEST = "manifest.json"
MANIFEST_FORMAT = "apertura-release"
INDEX_DIR = "index"
INDEX_JSON = "index.json"
ENTRIES_DB = "entries.duckdb"
PART_PATH = re.compile(r"[a-z_]+/part-[0-9]{5}\.parquet")  # as in schemas/manifest.v*.json
REQUIRED = ("format", "release_id", "config_hash", "inputs", "files", "counts")  # what reports need
MAX_JSON_BYTES = 256 << 20  # a manifest or index.json larger than this is refused, not parsed


class ReleaseError(RuntimeError):
    """A release cannot be read, built or verified; the message says what and where (one line)."""


def inside(root: Path, relative: object, what: str) -> Path:
    """`root / relative`, resolved (symlinks, `..`), or ReleaseError if it leads outside `root` (resolved).

    `relative` must be a relative path given as a string: an absolute path, a NUL or a backslash is refused
    before anything touches the file system."""
    if not isinstance(relative, str) or not relative or "\x00" in relative or "\\" in relative:
        raise ReleaseError(f"{root}: {what} {relative!r} is not a relative path")
    if os.path.isabs(relative):
        raise ReleaseError(f"{root}: {what} {relative!r} is an absolute path, not a file of the release")
    base = root.resolve()
    path = (base / relative).resolve()
    if not path.is_relative_to(base):
        raise ReleaseError(f"{root}: {what} {relative!r} resolves outside the release")
    return path


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object that gives a key twice says two things (Python keeps the last, other readers the first)."""
    found = dict(pairs)
    if len(found) < len(pairs):
        repeated = next(k for k, n in Counter(k for k, _ in pairs).items() if n > 1)
        raise ValueError(f"the key {repeated!r} is given twice in one object")
    return found


def _read_json(path: Path, what: str) -> Any:
    try:
        if path.stat().st_size > MAX_JSON_BYTES:
            raise ReleaseError(f"{path} is larger than {MAX_JSON_BYTES >> 20} MiB: not a {what}")
        return json.loads(path.read_text(encoding="utf-8"), object_pairs_hook=_unique_keys)
    except ValueError as err:  # JSONDecodeError, UnicodeDecodeError and a repeated key
        raise ReleaseError(f"{path} is not valid JSON: {err}") from None
    except OSError as err:
        raise ReleaseError(f"{path} cannot be read: {err.strerror or err}") from None


def load_manifest(release: Path, *, complete: bool = False) -> dict:
    """The release's manifest: a JSON object of format `apertura-release` with a list of files, each with a
    string path (what every reader relies on; `apertura verify` checks the rest). `manifest.json` itself must
    lie inside the release (not a symlink leading out).

    `complete`: also the keys reports need, and every listed file present (a clear error for a half-copied
    release instead of a DuckDB error later)."""
    release = Path(release)
    if not (release / MANIFEST).is_file():
        raise ReleaseError(f"{release} is not a release: {MANIFEST} is missing")
    path = inside(release, MANIFEST, "the manifest")
    manifest = _read_json(path, "release manifest")
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise ReleaseError(f"{release / MANIFEST} is not an Apertura release manifest")
    files = manifest.get("files")
    if not isinstance(files, list) or not all(isinstance(f, dict) and isinstance(f.get("path"), str) for f in files):
        raise ReleaseError(f"{release / MANIFEST} is not a release manifest (no list of files)")
    if complete:
        if missing := [key for key in REQUIRED if key not in manifest]:
            raise ReleaseError(f"{release / MANIFEST} lacks {', '.join(missing)}")
        for table in sorted({str(f.get("table")) for f in files}):
            table_files(release, manifest, table, must_exist=True)
    return manifest


def table_files(release: Path, manifest: dict, table: str, *, must_exist: bool = False) -> list[str]:
    """Paths of one table's Parquet files, exactly as the manifest lists them (never a directory glob).

    A listed path must be `<table>/part-NNNNN.parquet` and resolve inside the release: a crafted manifest
    cannot point a reader outside it. `must_exist`: a listed file that is missing is an error too."""
    release = Path(release)
    paths = [f.get("path") for f in manifest.get("files") or () if isinstance(f, dict) and f.get("table") == table]
    for p in paths:
        if not isinstance(p, str) or not PART_PATH.fullmatch(p) or not p.startswith(table + "/"):
            raise ReleaseError(f"{release}: manifest lists a file outside its table directory: {p!r}")
        resolved = inside(release, p, "the manifest's file")  # e.g. a symlinked part leading out
        if must_exist and not resolved.is_file():
            raise ReleaseError(f"{release} is incomplete: {p} is missing")
    return [str(release / p) for p in paths]


def table_batches(files: list[str], columns: list[str], rows: int) -> Iterator[pa.RecordBatch]:
    """Record batches read through a small buffer, one column chunk at a time: pyarrow's defaults (pre-buffered,
    threaded reads) hold several row groups of text at once (330 MB at 20k-row groups, measured)."""
    import pyarrow.parquet as pq

    for path in files:
        parquet = pq.ParquetFile(path, pre_buffer=False, buffer_size=1 << 20)
        present = [c for c in columns if c in parquet.schema_arrow.names]
        yield from parquet.iter_batches(batch_size=rows, columns=present, use_threads=False)


def even_batches(files: list[str], columns: list[str], rows: int) -> Iterator[pa.Table]:
    """Batches of exactly `rows` rows (the last one shorter) across file boundaries, so two tables written in
    the same order (documents and their signatures) can be read side by side without holding either."""
    import pyarrow as pa

    pending: list[pa.RecordBatch] = []
    held = 0
    for batch in table_batches(files, columns, rows):
        pending.append(batch)
        held += batch.num_rows
        while held >= rows:
            table = pa.Table.from_batches(pending)
            yield table.slice(0, rows)
            rest = table.slice(rows)
            pending, held = rest.to_batches(), rest.num_rows
    if held:
        yield pa.Table.from_batches(pending)


def unexpected_tables(manifest: dict, known: tuple[str, ...]) -> list[str]:
    """Tables the manifest lists files for that a reader does not know (a crafted or newer manifest)."""
    return sorted({str(f.get("table")) for f in manifest.get("files") or () if f.get("table") not in known})


# ---------------------------------------------------------------------------------------------- the index


@dataclass(frozen=True)
class IndexFiles:
    """A release's `index/`, with every path its `index.json` names checked to lie inside it."""

    directory: Path  # resolved
    info: dict[str, Any]  # index.json
    files: dict[str, Path]  # listed relative path -> resolved file
    shards: list[tuple[Path, dict[str, Any]]]  # full-text shard directories with their index.json entry

    def file(self, name: str) -> Path:
        """A file of the index by its relative path (e.g. `entries.duckdb`), resolved inside the index."""
        return inside(self.directory, name, "index file")


def index_files(release: Path) -> IndexFiles:
    """`R/index/` as its index.json describes it: every listed file and full-text shard resolved inside the index
    directory (no `..`, absolute path or symlink leading out). Raises ReleaseError (missing index: FileNotFoundError).
    Format and binding to the manifest are the index's own business (`pipeline.index`)."""
    release = Path(release)
    if not (release / INDEX_DIR / INDEX_JSON).is_file():
        raise FileNotFoundError(f"{release} has no membership index")
    directory = inside(release, INDEX_DIR, "the index directory")
    info = _read_json(inside(directory, INDEX_JSON, "the index description"), "index description")
    if not isinstance(info, dict) or not isinstance(info.get("files"), list):
        raise ReleaseError(f"{directory / INDEX_JSON}: not an index description (no list of files)")
    files: dict[str, Path] = {}
    for entry in info["files"]:
        rel = entry.get("path") if isinstance(entry, dict) else None
        files[str(rel)] = inside(directory, rel, "index.json names the file")  # type: ignore[arg-type]
    shards = info.get("text_shards") or [{"path": "text", "first_entry": 0, "entries": None}]
    if not isinstance(shards, list) or not all(isinstance(s, dict) for s in shards):
        raise ReleaseError(f"{directory / INDEX_JSON}: text_shards is not a list of shards")
    resolved = [(inside(directory, s.get("path"), "index.json names the shard"), s) for s in shards]
    return IndexFiles(directory, info, files, resolved)


# ---------------------------------------------------------------------------------------------- DuckDB

_LOCKED = {
    "enable_external_access": False,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "lock_configuration": True,
}


def lock(con: duckdb.DuckDBPyConnection, files: list[str]) -> duckdb.DuckDBPyConnection:
    """Lock an in-memory connection down to reading `files`: no other file read or written (`COPY ... TO`), no
    database attached, no extension loaded, and the settings can never be changed back. Create the views over
    `files` first, then call this."""
    listed = ", ".join("'" + p.replace("'", "''") + "'" for p in files)  # paths checked by table_files
    con.execute(f"SET allowed_paths = [{listed}]")
    con.execute("SET allowed_directories = []")
    for name, value in _LOCKED.items():
        con.execute(f"SET {name} = {str(value).lower()}")
    return con


def connect(files: list[str] | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory connection, locked to reading `files` (paths from `table_files`) and nothing else."""
    import duckdb

    return lock(duckdb.connect(":memory:"), list(files or ()))


def open_database(path: Path) -> duckdb.DuckDBPyConnection:
    """A release's own DuckDB file (e.g. `index/entries.duckdb`, resolved by `IndexFiles.file`) opened read-only,
    external access off, configuration locked: a view or macro stored in it cannot read outside it."""
    import duckdb

    return duckdb.connect(str(path), read_only=True, config=dict(_LOCKED))


__all__ = [
    "ENTRIES_DB",
    "INDEX_DIR",
    "INDEX_JSON",
    "MANIFEST",
    "PART_PATH",
    "IndexFiles",
    "ReleaseError",
    "connect",
    "index_files",
    "inside",
    "load_manifest",
    "lock",
    "open_database",
    "table_files",
    "unexpected_tables",
]


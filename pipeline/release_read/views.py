"""A release's tables as DuckDB views on one locked connection: what the app and `apertura check` query.

Every listed file is checked by `table_files` (inside the release, present); a table without files is a typed,
empty view; tables written before format 3 get the `url_key` and `domain` every query compares URLs by, computed
by `pipeline.url_identity` on this connection, so each question is answered the same on every format. The
connection is locked to exactly these files (`lock`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import schemas
from pipeline import url_identity
from pipeline.release_read import lock, table_files

if TYPE_CHECKING:
    import duckdb

DUCKDB_TYPES = {
    "string": "VARCHAR", "int16": "SMALLINT", "int32": "INTEGER", "int64": "BIGINT", "float32": "FLOAT",
    "float64": "DOUBLE", "bool": "BOOLEAN", "list<uint32>": "UINTEGER[]", "list<string>": "VARCHAR[]",
}  # fmt: skip


def _identity_selects(con: duckdb.DuckDBPyConnection, manifest: dict) -> dict[str, str]:
    """Select lists that give tables written before format 3 `url_key` and a computed `domain`; documents and
    ledger v2 store both, and then come straight from the files."""
    old = {f.get("table") for f in manifest.get("files", []) if isinstance(f, dict) and f.get("schema_version") == 1}
    if (manifest.get("format_version") or 0) >= 3 and not old:
        return {}
    url_identity.register_sql_functions(con)
    select = {t: url_identity.IDENTITY_SELECT for t in ("documents", "ledger") if t in old}
    if (manifest.get("format_version") or 0) < 3:
        select["optout_evidence"] = "* REPLACE (apertura_domain(url) AS domain)"
    return select


def empty_view(table: str) -> str:
    """A typed, empty SELECT for a table with no files (e.g. a release where nothing was removed)."""
    columns = ", ".join(
        f'CAST(NULL AS {DUCKDB_TYPES[c["type"]]}) AS "{c["name"]}"' for c in schemas.table_spec(table)["columns"]
    )
    return f"SELECT {columns} LIMIT 0"


def _literal(path: str) -> str:
    """A SQL string literal, for paths `table_files` checked: DuckDB cannot bind parameters in CREATE VIEW."""
    return "'" + path.replace("'", "''") + "'"


def table_views(
    release: Path, manifest: dict, tables: tuple[str, ...]
) -> tuple[duckdb.DuckDBPyConnection, dict[str, list[Path]]]:
    """(a locked in-memory connection with one view per table, the files of each table). ReleaseError when a
    listed file is outside the release or missing."""
    import duckdb

    files = {t: [Path(p) for p in table_files(release, manifest, t, must_exist=True)] for t in tables}
    con = duckdb.connect(":memory:")
    selects = _identity_selects(con, manifest)
    for table, paths in files.items():
        if paths:
            listed = ", ".join(_literal(str(p)) for p in paths)
            con.execute(f"CREATE VIEW {table} AS SELECT {selects.get(table, '*')} FROM read_parquet([{listed}])")
        else:
            con.execute(f"CREATE VIEW {table} AS {empty_view(table)}")
    lock(con, [str(p) for paths in files.values() for p in paths])
    return con, files

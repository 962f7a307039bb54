"""The diff between two releases: documents that left (with the reason the new release's ledger gives) and
documents that arrived. Read-only, over a connection locked to the two releases' own table files, so the CLI
(`apertura release diff`) and the audit app run the same code on anything under the data root."""

from __future__ import annotations

from pathlib import Path

from pipeline.release_read import connect, load_manifest, table_files


def release_diff(old: Path, new: Path, *, limit: int = 20) -> dict:
    """Documents that left (with the reason the new release's ledger gives) and arrived between two releases."""
    files = {}
    for name, release in (("old", old), ("new", new)):
        manifest = load_manifest(release)
        files[name] = {
            "docs": table_files(release, manifest, "documents"),
            "ledger": table_files(release, manifest, "ledger"),
        }
    con = connect([path for tables in files.values() for paths in tables.values() for path in paths])
    for name, tables in files.items():
        for table, paths in tables.items():
            con.read_parquet(paths).create_view(f"{name}_{table}")
    con.execute(
        "create temp table left_docs as select o.id, o.url, o.domain, "
        "coalesce(l.stage, 'absent') as stage, coalesce(l.reason, 'not in the new release') as reason, l.detail "
        "from old_docs o left join new_ledger l using (id) where o.id not in (select id from new_docs)"
    )
    con.execute(
        "create temp table arrived as select id, url, domain from new_docs where id not in (select id from old_docs)"
    )

    def rows(sql: str) -> list[dict]:
        rel = con.sql(sql)
        return [dict(zip(rel.columns, r, strict=True)) for r in rel.fetchall()]

    return {
        "old": load_manifest(old)["release_id"],
        "new": load_manifest(new)["release_id"],
        "kept": rows("select (select count(*) from old_docs) as old, (select count(*) from new_docs) as new")[0],
        "removed": rows("select count(*) as n from left_docs")[0]["n"],
        "added": rows("select count(*) as n from arrived")[0]["n"],
        "removed_by_reason": rows(
            "select stage, reason, count(*) as n from left_docs group by all order by n desc, reason"
        ),
        "removed_by_domain": rows(
            "select domain, reason, count(*) as n from left_docs group by all order by n desc, domain, reason"
        ),
        "added_by_domain": rows("select domain, count(*) as n from arrived group by all order by n desc, domain"),
        "removed_examples": rows(f"select * from left_docs order by id limit {int(limit)}"),
        "added_examples": rows(f"select * from arrived order by id limit {int(limit)}"),
    }

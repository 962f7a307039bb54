"""Read-side queries behind `show` and `stats`: DuckDB over the release's Parquet, parameterised."""

from __future__ import annotations

from pathlib import Path

import duckdb

from pipeline.provenance import reopen_record
from pipeline.release import ReleaseError, load_manifest, table_files


class InspectError(RuntimeError):
    pass


def _manifest(release: Path) -> dict:
    try:
        return load_manifest(release)
    except ReleaseError as err:
        raise InspectError(str(err)) from None


def lookup(release: Path, doc_id: str, *, payload_bytes: int = 400) -> dict:
    """Find an id in documents or the ledger, then reopen its source record and re-check the digest."""
    manifest = _manifest(release)
    con = duckdb.connect()
    for table in ("documents", "ledger"):
        rel = con.sql(
            "select * from read_parquet($files) where id = $id",
            params={"files": table_files(release, manifest, table), "id": doc_id},
        )
        rows = rel.fetchall()
        if rows:
            row = dict(zip(rel.columns, rows[0], strict=True))
            break
    else:
        raise InspectError(f"no document or ledger row with id {doc_id!r} in {release}")
    source: dict = {}
    if row.get("warc_record_length") is None:
        source["error"] = f"{row['source_format']} input: rows have no WARC bytes to reopen"
    else:
        try:
            record = reopen_record(row["file_path"], row["warc_record_offset"], row["warc_record_length"])
        except FileNotFoundError:
            source["error"] = f"source file not reachable from here: {row['file_path']}"
        except Exception as err:  # the source changed or is not a WARC any more: say so, do not crash
            source["error"] = f"could not reopen {row['file_path']} at {row['warc_record_offset']}: {err}"
        else:
            source = {
                "record_type": record.record_type,
                "record_id": record.record_id,
                "url": record.url,
                "stored_digest": record.stored_digest,
                "computed_digest": record.computed_digest,
                "digest_ok": record.digest_ok,
                "record_id_matches": record.record_id == row.get("warc_record_id"),
                "payload_head": record.payload[:payload_bytes].decode("utf-8", "replace"),
            }
    return {"table": table, "row": row, "source": source}


def release_stats(release: Path, *, top: int = 10) -> dict:
    manifest = _manifest(release)
    con = duckdb.connect()
    docs = table_files(release, manifest, "documents")
    languages = con.sql(
        "select language, count(*) n from read_parquet($docs) group by all order by n desc, language limit $top",
        params={"docs": docs, "top": top},
    ).fetchall()
    domains = con.sql(
        "select domain, count(*) n from read_parquet($docs) group by all order by n desc, domain limit $top",
        params={"docs": docs, "top": top},
    ).fetchall()
    return {
        "release": manifest["release_id"],
        "config_hash": manifest["config_hash"],
        "counts": manifest["counts"],
        "languages": languages,
        "domains": domains,
    }

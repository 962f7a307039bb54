"""Read-side queries behind `show` and `stats`: DuckDB over the release's Parquet, parameterised."""

from __future__ import annotations

from pathlib import Path

import duckdb

from pipeline import url_identity
from pipeline.provenance import RECHECK_LIMIT, reopen_record
from pipeline.release_read import ReleaseError, load_manifest, table_files
from pipeline.source_paths import is_url, locate, root_choices


class InspectError(RuntimeError):
    pass


def _manifest(release: Path, *, complete: bool = False) -> dict:
    try:
        return load_manifest(release, complete=complete)
    except ReleaseError as err:
        raise InspectError(str(err)) from None


def lookup(release: Path, doc_id: str, *, payload_bytes: int = 400, source_root: Path | None = None) -> dict:
    """Find an id in documents or the ledger, then reopen its source record and re-check the digest.

    A relative `file_path` is looked for under `source_root` when given, else under the root the manifest records,
    the release directory's parent, then the current directory (`pipeline.source_paths.root_choices`); `source`
    then says where the file was found and which root that was (`file`), or every place it was not."""
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
    limit = (manifest.get("config") or {}).get("read", {}).get("max_payload_bytes", RECHECK_LIMIT)
    if row.get("record_type") == "unreadable":
        source["error"] = (
            f"an unreadable span of {row['file_path']} ({row['warc_record_length']:,} bytes at offset "
            f"{row['warc_record_offset']:,}): no record to re-check"
        )
    elif row.get("warc_record_length") is None:
        source["error"] = f"{row['source_format']} input: rows have no WARC bytes to reopen"
    else:
        recorded = row["file_path"]
        if is_url(recorded):
            path, how, tried = recorded, None, [recorded]
        else:
            path, how, tried = locate(recorded, root_choices(manifest, release, source_root))
        source["file"] = {"recorded": recorded, "path": str(path), "root": how}
        try:
            record = reopen_record(str(path), row["warc_record_offset"], row["warc_record_length"], limit=int(limit))
        except FileNotFoundError:
            source["error"] = f"source file not found at {tried[0]}" + "".join(f", nor at {t}" for t in tried[1:])
            if how is None and source_root is not None:
                source["error"] += " (recorded as an absolute path: --source-root does not apply to it)"
            elif how is not None and source_root is None:
                source["error"] += " (pass --source-root DIR: the directory the inputs are now in)"
        except Exception as err:  # the source changed or is not a WARC any more: say so, do not crash
            source["error"] = f"could not reopen {row['file_path']} at {row['warc_record_offset']}: {err}"
            source["differences"] = [f"the bytes the release names are no readable record now: {err}"]
        else:
            differences = [] if record.too_large and record.record_id is None else record.differences(row)
            source = {
                **source,
                "record_type": record.record_type,
                "record_id": record.record_id,
                "url": record.url,
                "stored_digest": record.stored_digest,
                "computed_digest": record.computed_digest,
                "digest_ok": record.digest_ok,
                "record_id_matches": record.record_id == row.get("warc_record_id"),
                "too_large": record.too_large,
                "damage": record.note,
                "differences": differences,
                "payload_head": record.payload[:payload_bytes].decode("utf-8", "replace"),
            }
    return {"table": table, "row": row, "source": source}


def release_stats(release: Path, *, top: int = 10) -> dict:
    manifest = _manifest(release, complete=True)  # counts and every table file: one line, not a KeyError later
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
        "unreadable": unreadable_spans(manifest),
    }


def unreadable_spans(manifest: dict) -> dict:
    """The spans of the inputs that were no readable record (ledger reason read_unparsable), from the manifest:
    how many, how many bytes, and in which inputs; and the inputs whose reading stopped early."""
    inputs = [
        {
            "path": e["path"],
            "spans": e["records_by_type"].get("unreadable", 0),
            "bytes": (e.get("bytes_by_type") or {}).get("unreadable", 0),
            "file_bytes": e["bytes"],
        }
        for e in manifest["inputs"]
        if e["records_by_type"].get("unreadable")
    ]
    return {
        "spans": sum(i["spans"] for i in inputs),
        "bytes": sum(i["bytes"] for i in inputs),
        "inputs": inputs,
        "read_stopped": [{"path": e["path"], **e["read_stopped"]} for e in manifest["inputs"] if e["read_stopped"]],
        "bytes_accounted": manifest.get("format_version", 0) >= 4,  # older formats counted records only
    }



def optout_status(release: Path, *, domain: str | None = None, url: str | None = None) -> dict:
    """For a domain (with its subdomains) or one URL: the site policy files seen, every opt-out decision,
    how many of its records are in the release or were removed and why, and any violation."""
    if not domain and not url:
        raise InspectError("give --domain or --url")
    manifest = _manifest(release)
    if "optout_evidence" not in {f["table"] for f in manifest["files"]}:
        raise InspectError(f"{release} predates opt-out evidence (format {manifest['format_version']})")
    con = duckdb.connect()
    url_identity.register_sql_functions(con)
    stored = manifest["format_version"] >= 3  # documents and ledger carry url_key and the identity's domain
    for name in ("documents", "ledger", "optout_evidence"):
        select = "*" if stored and name != "optout_evidence" else url_identity.IDENTITY_SELECT
        files = ", ".join("'" + p.replace("'", "''") + "'" for p in table_files(release, manifest, name))
        con.execute(f"create view {name} as select {select} from read_parquet([{files}])")
    try:  # one URL identity: every spelling of the page or host is the same (pipeline/url_identity.py)
        if url:
            url = url_identity.user_url(url)
            match, params = "url_key = $url_key", {"url_key": url_identity.url_key(url)}
        else:
            domain = url_identity.normalise_domain(domain or "")
            match, params = url_identity.domain_condition(domain)
    except url_identity.BadUrl as err:
        raise InspectError(str(err)) from None
    def rows(sql: str, extra: dict | None = None) -> list[dict]:
        rel = con.sql(sql, params=params | (extra or {}))
        return [dict(zip(rel.columns, r, strict=True)) for r in rel.fetchall()]

    # a URL's site policies are those of its origin
    origins = "select origin from optout_evidence where " + match
    return {
        "release": manifest["release_id"],
        "query": {"domain": domain, "url": url},
        "agents": manifest["optout"]["agents"],
        "policy_files": rows(
            "select url, origin, signal, verdict, rule, raw_sha256, http_status, fetched_at, source_file, source_id "
            f"from optout_evidence where kind = 'policy_file' and origin in ({origins}) "
            "order by origin, signal, fetched_at"
        ),
        "decisions": rows(
            "select document_id, url, signal, verdict, rule, agents, raw, source_id, fetched_at "
            f"from optout_evidence where kind = 'document' and {match} order by url, signal"
        ),
        "in_release": rows(f"select count(*) as n from documents where {match}")[0]["n"],
        "removed": rows(f"select stage, reason, count(*) as n from ledger where {match} group by all order by n desc"),
        "violations": rows(
            f"select id, url from documents where {match} and id in "
            "(select document_id from optout_evidence where verdict = 'reserved') order by id"
        ),
    }

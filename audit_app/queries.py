"""Every query the audit app runs, over one release, through a locked-down in-memory DuckDB.

`open_release` checks the directory (inside the data root, holding a manifest.json), creates the views
`documents`, `ledger` and `signatures` over exactly the Parquet files the manifest lists, then locks the
connection: `allowed_paths` = those files, `enable_external_access=false`, `lock_configuration=true`. After
that no query can read any other file, write one (`COPY ... TO`), attach a database or load an extension,
and the settings cannot be changed back (checked in tests/app/test_queries.py).

Rules for the functions below: SQL text is constant (or assembled from constant fragments); every
user-supplied value is a bound parameter (`$name`); LIKE patterns escape `%`, `_` and `\\`; each query takes
its own cursor (DuckDB connections are not thread-safe, Streamlit runs sessions in threads) and fetches
fully. Results are Polars DataFrames or small dicts, so Streamlit can cache them with `st.cache_data`.

This module does not import Streamlit or the pipeline (DESIGN.md: the app reads releases through
`schemas/` and DuckDB only).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import duckdb
import polars as pl

import schemas

DATA_ROOT_ENV = "APERTURA_DATA_ROOT"
MANIFEST = "manifest.json"
TABLES = ("documents", "ledger", "signatures")
_PART_PATH = re.compile(r"^[a-z_]+/part-[0-9]{5}\.parquet$")  # as in schemas/manifest.v1.json

# A rough average for BPE tokenizers (GPT-2/Llama style) on English and other European languages:
# about 0.75 words per token. Only an order of magnitude; the release stores words, not tokens.
TOKENS_PER_WORD = 1.3
TOKEN_FORMULA = f"approx. tokens = sum(word_count) × {TOKENS_PER_WORD} (≈ 0.75 words per BPE token)"

MAX_INPUT_CHARS = 100_000  # longest text accepted from a text box; longer input is refused, not truncated
MIN_SUBSTRING_CHARS = 8  # shorter pasted text would match nearly everything; only hashes are checked then

# Columns shown in lists of documents / ledger rows (the document view shows every column).
DOCUMENT_LIST_COLUMNS = ("id", "url", "domain", "language", "language_score", "date", "word_count", "title")
LEDGER_LIST_COLUMNS = ("id", "url", "domain", "date", "stage", "reason", "detail", "duplicate_of", "title")

_DUCKDB_TYPES = {
    "string": "VARCHAR",
    "int16": "SMALLINT",
    "int32": "INTEGER",
    "int64": "BIGINT",
    "float32": "FLOAT",
    "float64": "DOUBLE",
    "bool": "BOOLEAN",
    "list<uint32>": "UINTEGER[]",
}


class ReleaseAccessError(ValueError):
    """The release cannot be opened: outside the data root, missing, or not a release. Safe to show."""


# --------------------------------------------------------------------------------------------------
# Opening a release


def data_root() -> Path:
    """The directory every release path must be inside: $APERTURA_DATA_ROOT, else the working directory."""
    return Path(os.environ.get(DATA_ROOT_ENV) or os.getcwd()).resolve()


def resolve_release(path: str | os.PathLike[str], root: Path | None = None) -> Path:
    """The release directory for a user-supplied path, resolved (symlinks, `..`) and confined to the root.

    Relative paths are taken relative to the data root. Raises ReleaseAccessError with a message that names
    the path as given, never file contents.
    """
    root = (root or data_root()).resolve()
    text = os.fspath(path).strip()
    if not text or "\x00" in text:
        raise ReleaseAccessError("no release path given")
    candidate = Path(text).expanduser()
    if not candidate.is_absolute():
        candidate = root / candidate
    resolved = candidate.resolve()
    if not resolved.is_relative_to(root):
        raise ReleaseAccessError(
            f"{text!r} is outside the data root {root}; set {DATA_ROOT_ENV} to the directory holding releases"
        )
    if not resolved.is_dir():
        raise ReleaseAccessError(f"{text!r} is not a directory")
    if not (resolved / MANIFEST).is_file():
        raise ReleaseAccessError(f"{text!r} is not a release: it has no {MANIFEST}")
    return resolved


def find_releases(root: Path | None = None, max_depth: int = 2) -> list[Path]:
    """Release directories (holding a manifest.json) at most `max_depth` levels below the data root."""
    root = (root or data_root()).resolve()
    found = []
    for depth in range(max_depth + 1):
        pattern = "/".join(["*"] * depth + [MANIFEST])
        for manifest in sorted(root.glob(pattern)):
            directory = manifest.parent.resolve()
            if manifest.is_file() and directory.is_relative_to(root) and not directory.name.startswith("."):
                found.append(directory)
    return sorted(set(found))


def _sql_string(value: str) -> str:
    """A SQL string literal. Only for file paths taken from the manifest and checked by `_table_files`:
    DuckDB cannot bind parameters in CREATE VIEW."""
    return "'" + value.replace("'", "''") + "'"


def _table_files(release: Path, manifest: dict) -> dict[str, list[Path]]:
    """The Parquet files of each table, as listed in the manifest, each checked to lie inside the release."""
    files: dict[str, list[Path]] = {t: [] for t in TABLES}
    for entry in manifest.get("files", []):
        if not isinstance(entry, dict):
            raise ReleaseAccessError("manifest.json: malformed files list")
        rel, table = str(entry.get("path", "")), entry.get("table")
        if table not in files or not _PART_PATH.match(rel) or not rel.startswith(f"{table}/"):
            raise ReleaseAccessError(f"manifest.json lists an unexpected file {rel!r} for table {table!r}")
        path = (release / rel).resolve()
        if not path.is_relative_to(release) or not path.is_file():
            raise ReleaseAccessError(f"manifest.json lists {rel!r}, which is missing from the release")
        files[table].append(path)
    return files


def _empty_view(table: str) -> str:
    """A typed, empty SELECT for a table with no files (e.g. a release where nothing was removed)."""
    columns = ", ".join(
        f'CAST(NULL AS {_DUCKDB_TYPES[c["type"]]}) AS "{c["name"]}"' for c in schemas.table_spec(table)["columns"]
    )
    return f"SELECT {columns} LIMIT 0"


@dataclass(eq=False)
class Release:
    """One open release: its directory, manifest and locked-down connection (use `cursor()` per query)."""

    path: Path
    manifest: dict[str, Any]
    con: duckdb.DuckDBPyConnection
    files: dict[str, list[Path]]
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def release_id(self) -> str:
        return str(self.manifest.get("release_id", self.path.name))

    @property
    def config_hash(self) -> str:
        return str(self.manifest.get("config_hash", ""))

    def cursor(self) -> duckdb.DuckDBPyConnection:
        with self._lock:
            return self.con.cursor()


def open_release(path: str | os.PathLike[str], root: Path | None = None) -> Release:
    """Validate the release directory and return a locked-down, read-only view of its tables."""
    directory = resolve_release(path, root)
    try:
        manifest = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ReleaseAccessError(f"{directory.name}/{MANIFEST} cannot be read: {err}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != "apertura-release":
        raise ReleaseAccessError(f"{directory.name}/{MANIFEST} is not an Apertura release manifest")
    files = _table_files(directory, manifest)
    con = duckdb.connect(":memory:")
    for table, paths in files.items():
        if paths:
            listed = ", ".join(_sql_string(str(p)) for p in paths)
            con.execute(f"CREATE VIEW {table} AS SELECT * FROM read_parquet([{listed}])")
        else:
            con.execute(f"CREATE VIEW {table} AS {_empty_view(table)}")
    every_file = [str(p) for paths in files.values() for p in paths]
    con.execute(f"SET allowed_paths = [{', '.join(_sql_string(p) for p in every_file)}]")
    con.execute("SET allowed_directories = []")
    con.execute("SET enable_external_access = false")
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("SET autoload_known_extensions = false")
    con.execute("SET lock_configuration = true")
    return Release(directory, manifest, con, files)


def _frame(rel: Release, sql: str, **params: Any) -> pl.DataFrame:
    cur = rel.cursor()
    try:
        return cur.sql(sql, params=params or None).pl()
    finally:
        cur.close()


def _rows(rel: Release, sql: str, **params: Any) -> list[tuple]:
    cur = rel.cursor()
    try:
        return cur.sql(sql, params=params or None).fetchall()
    finally:
        cur.close()


def _scalar(rel: Release, sql: str, **params: Any) -> Any:
    rows = _rows(rel, sql, **params)
    return rows[0][0] if rows else None


def _columns(names: tuple[str, ...], prefix: str = "") -> str:
    return ", ".join(f"{prefix}{n}" for n in names)


# --------------------------------------------------------------------------------------------------
# User input: cleaning and escaping (values still go into SQL only as bound parameters)


def clean_input(value: str | None, max_chars: int = MAX_INPUT_CHARS) -> str:
    """Text box input, stripped; NUL characters removed. Refuses (ValueError) input longer than max_chars."""
    text = (value or "").replace("\x00", "").strip()
    if len(text) > max_chars:
        raise ValueError(f"input is {len(text):,} characters long; the limit is {max_chars:,}")
    return text


def escape_like(value: str) -> str:
    """`value` as a literal inside a LIKE/ILIKE pattern with ESCAPE '\\'."""
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def normalise_domain(value: str | None) -> str:
    """A host as stored in the `domain` column: lower case, no scheme/port/path/user, no leading 'www.'."""
    text = clean_input(value, 2_000).lower()
    if not text:
        return ""
    try:
        host = urlsplit(text if "//" in text else f"//{text}").hostname or ""
    except ValueError:
        host = ""
    host = host.strip(".").removeprefix("www.")
    return host or text  # unparseable input stays as typed: it then matches nothing rather than everything


def url_variants(value: str | None, *, toggle_slash: bool = True) -> list[str]:
    """The spellings of one URL worth trying: as given; with http:// and https:// when it has no scheme;
    with the scheme and host lower-cased (they are case-insensitive); with and without a trailing slash
    (unless `toggle_slash` is off: as a prefix, 'http://a.test' would also match 'http://a.test.evil/')."""
    text = clean_input(value, 8_000)
    if not text:
        return []
    bases = [text] if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", text) else [f"http://{text}", f"https://{text}"]
    variants: list[str] = []
    for base in bases:
        scheme, _, rest = base.partition("://")
        host, slash, path = rest.partition("/")
        lowered = f"{scheme.lower()}://{host.lower()}{slash}{path}"
        for url in (base, lowered):
            toggled = url.rstrip("/") if url.endswith("/") else url + "/"
            for v in (url, toggled) if toggle_slash else (url,):
                if v not in variants and v.partition("://")[2]:
                    variants.append(v)
    return variants


_PUNCT = r"[\p{P}\p{S}]+"
_SPACES = r"\s\s+|[^\S ]"


def normalise_text(text: str) -> str:
    """The release's text normalisation, replicated from schemas/documents.v1.json `norm_sha256` and the
    manifest's `software.minhash.normalisation`: NFKC (Python unicodedata), lower case (Polars), Unicode
    punctuation and symbols (P*, S*) removed, whitespace runs collapsed to one space, stripped.

    Kept independent of the pipeline on purpose (the app reads releases, it does not run pipeline steps);
    tests/app/test_queries.py checks it reproduces every stored `norm_sha256` of a real release.
    """
    nfkc = unicodedata.normalize("NFKC", text)
    series = pl.Series([nfkc], dtype=pl.String)
    out = series.str.to_lowercase().str.replace_all(_PUNCT, "").str.replace_all(_SPACES, " ").str.strip_chars()
    return out[0]


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------------------------------
# Overview


def release_info(rel: Release) -> dict[str, Any]:
    m = rel.manifest
    counts = m.get("counts", {})
    return {
        "release_id": rel.release_id,
        "config_hash": rel.config_hash,
        "pipeline_version": m.get("pipeline_version"),
        "format_version": m.get("format_version"),
        "inputs": len(m.get("inputs", [])),
        "input_records": int(counts.get("inputs") or 0),
        "kept": int(counts.get("kept") or 0),
        "removed": int(counts.get("removed") or 0),
        "files": len(m.get("files", [])),
        "path": str(rel.path),
    }


def overview(rel: Release) -> dict[str, Any]:
    """Headline counts, computed from the documents table itself (not copied from the manifest)."""
    documents, words, text_bytes, domains, languages, first, last = _rows(
        rel,
        """
        SELECT count(*), coalesce(sum(word_count), 0)::BIGINT, coalesce(sum(strlen(text)), 0)::BIGINT,
               count(DISTINCT domain), count(DISTINCT language), min(date), max(date)
        FROM documents
        """,
    )[0]
    removed = _scalar(rel, "SELECT count(*) FROM ledger")
    counts = rel.manifest.get("counts", {})
    return {
        "documents": int(documents),
        "words": int(words),
        "approx_tokens": round(int(words) * TOKENS_PER_WORD),
        "token_formula": TOKEN_FORMULA,
        "text_bytes": int(text_bytes),  # UTF-8 bytes of `text` (DuckDB strlen counts bytes)
        "domains": int(domains),
        "languages": int(languages),
        "removed": int(removed),
        "input_records": counts.get("inputs"),
        "first_date": first,
        "last_date": last,
    }


def languages(rel: Release) -> pl.DataFrame:
    return _frame(
        rel,
        """
        SELECT language, count(*) AS documents, coalesce(sum(word_count), 0)::BIGINT AS words
        FROM documents GROUP BY language ORDER BY documents DESC, language
        """,
    )


def top_domains(rel: Release, limit: int = 20) -> pl.DataFrame:
    return _frame(
        rel,
        """
        SELECT coalesce(domain, '(no domain)') AS domain, count(*) AS documents
        FROM documents GROUP BY 1 ORDER BY documents DESC, domain LIMIT $limit
        """,
        limit=int(limit),
    )


def tlds(rel: Release, limit: int = 20) -> pl.DataFrame:
    """Documents per top-level domain: the last label of `domain` (IP-address hosts grouped together)."""
    return _frame(
        rel,
        """
        SELECT CASE WHEN domain IS NULL OR domain = '' THEN '(no domain)'
                    WHEN regexp_full_match(domain, '[0-9.]+|\\[.*\\]') THEN '(ip address)'
                    ELSE string_split(domain, '.')[-1] END AS tld,
               count(*) AS documents
        FROM documents GROUP BY 1 ORDER BY documents DESC, tld LIMIT $limit
        """,
        limit=int(limit),
    )


def crawl_dates(rel: Release, granularity: Literal["day", "month"] = "day") -> pl.DataFrame:
    """Documents per fetch day (YYYY-MM-DD) or month (YYYY-MM) of `date` (ISO 8601); undated rows left out."""
    width = {"day": 10, "month": 7}[granularity]
    return _frame(
        rel,
        """
        SELECT left(date, $width) AS period, count(*) AS documents
        FROM documents WHERE date IS NOT NULL GROUP BY 1 ORDER BY 1
        """,
        width=width,
    )


def date_bounds(rel: Release) -> tuple[str | None, str | None]:
    first, last = _rows(rel, "SELECT min(left(date, 10)), max(left(date, 10)) FROM documents")[0]
    return first, last


def funnel(rel: Release) -> pl.DataFrame:
    """Input records → records left after each stage → documents, from the manifest's `counts.stages`."""
    counts = rel.manifest.get("counts", {})
    rows = [{"step": "input records", "records": int(counts.get("inputs", 0)), "removed": 0}]
    for stage in counts.get("stages", []):
        rows.append({"step": f"after {stage['stage']}", "records": int(stage["out"]), "removed": int(stage["removed"])})
    rows.append({"step": "documents", "records": int(counts.get("kept", 0)), "removed": 0})
    return pl.DataFrame(rows, schema={"step": pl.String, "records": pl.Int64, "removed": pl.Int64})


def verify_files(rel: Release) -> dict[str, Any]:
    """Re-hash every file the manifest lists and check the conservation law from the manifest's counts.

    A quick integrity check for the sidebar; `apertura verify` is the full one (schemas, per-input counts).
    """
    problems = []
    for entry in rel.manifest.get("files", []):
        path = rel.path / entry["path"]
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda f=f: f.read(1 << 20), b""):
                digest.update(block)
        if digest.hexdigest() != entry.get("sha256"):
            problems.append(f"{entry['path']}: sha256 differs from the manifest")
    counts = rel.manifest.get("counts", {})
    if counts.get("inputs") != counts.get("kept", 0) + counts.get("removed", 0):
        problems.append("manifest counts: inputs != kept + removed")
    documents = _scalar(rel, "SELECT count(*) FROM documents")
    removed = _scalar(rel, "SELECT count(*) FROM ledger")
    if documents != counts.get("kept") or removed != counts.get("removed"):
        problems.append(
            f"tables hold {documents} documents and {removed} ledger rows; the manifest says "
            f"{counts.get('kept')} and {counts.get('removed')}"
        )
    return {"ok": not problems, "problems": problems, "files": len(rel.manifest.get("files", []))}


# --------------------------------------------------------------------------------------------------
# Search and documents


def _search_filter(
    *,
    domain: str = "",
    url_contains: str = "",
    languages: tuple[str, ...] = (),
    date_from: str | None = None,
    date_to: str | None = None,
    text_contains: str = "",
) -> tuple[str, dict[str, Any]]:
    """(WHERE clause, parameters) for the search filters; the clause is built from constant fragments."""
    where, params = [], {}
    if d := normalise_domain(domain):
        where.append("(domain = $domain OR ends_with(domain, '.' || $domain))")
        params["domain"] = d
    if u := clean_input(url_contains, 8_000):
        where.append("url ILIKE '%' || $url || '%' ESCAPE '\\'")
        params["url"] = escape_like(u)
    if languages:
        where.append("list_contains($languages, language)")
        params["languages"] = [str(x) for x in languages]
    if date_from:
        where.append("left(date, 10) >= $date_from")
        params["date_from"] = str(date_from)[:10]
    if date_to:
        where.append("left(date, 10) <= $date_to")
        params["date_to"] = str(date_to)[:10]
    if t := clean_input(text_contains):
        where.append("text ILIKE '%' || $text || '%' ESCAPE '\\'")
        params["text"] = escape_like(t)
    return (f"WHERE {' AND '.join(where)}" if where else ""), params


def search_count(rel: Release, **filters: Any) -> int:
    """How many documents match the filters (see `search`)."""
    clause, params = _search_filter(**filters)
    return int(_scalar(rel, f"SELECT count(*) FROM documents {clause}", **params))


def search(
    rel: Release, *, limit: int = 50, offset: int = 0, with_total: bool = True, **filters: Any
) -> dict[str, Any]:
    """Documents matching every given filter, one page of them ordered by id, and how many match in total
    (None when with_total is off, for a caller that already counted with `search_count`).

    Filters: domain: exact host or any subdomain of it ('example.org' matches 'news.example.org');
    url_contains / text_contains: case-insensitive substring (LIKE wildcards in the input are literal);
    languages: any of these; date_from / date_to: inclusive days 'YYYY-MM-DD', against the day part of `date`.
    """
    clause, params = _search_filter(**filters)
    rows = _frame(
        rel,
        f"SELECT {_columns(DOCUMENT_LIST_COLUMNS)} FROM documents {clause} ORDER BY id LIMIT $limit OFFSET $offset",
        **params,
        limit=max(1, min(int(limit), 1_000)),
        offset=max(0, int(offset)),
    )
    return {"rows": rows, "total": search_count(rel, **filters) if with_total else None}


def document(rel: Release, doc_id: str) -> dict[str, Any] | None:
    """The row with this id: from documents (kept) or else from the ledger (removed); None if neither."""
    doc_id = clean_input(doc_id, 500)
    if not doc_id:
        return None
    for table in ("documents", "ledger"):
        frame = _frame(rel, f"SELECT * FROM {table} WHERE id = $id LIMIT 1", id=doc_id)
        if frame.height:
            return {"table": table, "row": frame.row(0, named=True)}
    return None


def dedup_cluster(rel: Release, cluster_id: str) -> pl.DataFrame:
    """Members of one duplicate cluster: the kept document (whose id is the cluster id) and removed copies."""
    return _frame(
        rel,
        """
        SELECT 'kept' AS status, id, url, domain, NULL::VARCHAR AS reason FROM documents
        WHERE dedup_cluster_id = $cluster
        UNION ALL
        SELECT 'removed' AS status, id, url, domain, reason FROM ledger WHERE duplicate_of = $cluster
        ORDER BY status = 'kept' DESC, id
        """,
        cluster=cluster_id,
    )


# --------------------------------------------------------------------------------------------------
# Dedup explorer

# The estimated Jaccard similarity of a removed duplicate to its kept copy, from the ledger's `detail`
# ("estimated jaccard 0.91 with <id>" for dedup_near). An exact duplicate has the same normalised text as the
# keeper (1.0), unless it is an exact copy of a near-duplicate ("..., a near-duplicate of <id>"): unknown then.
_JACCARD = """
    CASE
        WHEN reason = 'dedup_near'
            THEN TRY_CAST(regexp_extract(detail, 'estimated jaccard ([0-9]+(\\.[0-9]+)?)', 1) AS DOUBLE)
        WHEN reason = 'dedup_exact' AND NOT contains(coalesce(detail, ''), 'near-duplicate') THEN 1.0
    END
"""

# One row per duplicate cluster: its keeper (the kept document, whose id is the cluster id) and the ledger
# rows removed as its duplicates. Clusters are taken from both sides, so a keeper without ledger rows (or
# ledger rows whose keeper is missing) still shows.
_CLUSTERS = f"""
    WITH removed AS (
        SELECT duplicate_of AS cluster_id, count(*) AS removed,
               count(*) FILTER (WHERE reason = 'dedup_exact') AS exact,
               count(*) FILTER (WHERE reason = 'dedup_near') AS near,
               min({_JACCARD}) AS min_jaccard
        FROM ledger WHERE stage = 'dedup' AND duplicate_of IS NOT NULL GROUP BY duplicate_of
    ),
    keepers AS (
        SELECT dedup_cluster_id AS cluster_id, any_value(url) AS keeper_url, any_value(domain) AS keeper_domain,
               max(dedup_cluster_size) AS cluster_size
        FROM documents WHERE dedup_cluster_id IS NOT NULL GROUP BY dedup_cluster_id
    ),
    clusters AS (
        SELECT coalesce(k.cluster_id, r.cluster_id) AS cluster_id, k.keeper_url, k.keeper_domain,
               coalesce(k.cluster_size, 1 + r.removed)::BIGINT AS size, coalesce(r.removed, 0) AS removed,
               coalesce(r.exact, 0) AS exact, coalesce(r.near, 0) AS near, r.min_jaccard
        FROM keepers k FULL JOIN removed r ON r.cluster_id = k.cluster_id
    )
"""


def dedup_summary(rel: Release) -> dict[str, Any]:
    """How many duplicate clusters, how many records were removed as exact / near duplicates, the largest."""
    ((clusters, removed, exact, near, largest),) = _rows(
        rel,
        _CLUSTERS + "SELECT count(*), coalesce(sum(removed), 0), coalesce(sum(exact), 0), coalesce(sum(near), 0), "
        "coalesce(max(size), 0) FROM clusters",
    )
    return {
        "clusters": int(clusters),
        "removed": int(removed),
        "exact": int(exact),
        "near": int(near),
        "largest": int(largest),
    }


def dedup_sizes(rel: Release) -> pl.DataFrame:
    """Size histogram: how many clusters have each size (members, keeper included)."""
    return _frame(rel, _CLUSTERS + "SELECT size, count(*) AS clusters FROM clusters GROUP BY size ORDER BY size")


def dedup_clusters(rel: Release, *, limit: int = 200, offset: int = 0) -> pl.DataFrame:
    """Duplicate clusters, largest first: keeper id (= cluster id) and URL, size, removed members by reason,
    and the lowest estimated Jaccard similarity of a removed member to the keeper."""
    return _frame(
        rel,
        _CLUSTERS
        + """
        SELECT cluster_id, keeper_url, keeper_domain, size, removed, exact, near, min_jaccard FROM clusters
        ORDER BY size DESC, cluster_id LIMIT $limit OFFSET $offset
        """,
        limit=max(1, min(int(limit), 1_000)),
        offset=max(0, int(offset)),
    )


def dedup_members(rel: Release, cluster_id: str) -> pl.DataFrame:
    """The keeper and the removed members of one cluster, with each removal's reason, estimated Jaccard
    similarity to the keeper and the ledger detail it comes from."""
    return _frame(
        rel,
        f"""
        SELECT role, id, url, domain, reason, estimated_jaccard, detail FROM (
            SELECT 'keeper' AS role, id, url, domain, NULL::VARCHAR AS reason, NULL::DOUBLE AS estimated_jaccard,
                   NULL::VARCHAR AS detail
            FROM documents WHERE id = $cluster
            UNION ALL
            SELECT 'removed', id, url, domain, reason, {_JACCARD}, detail
            FROM ledger WHERE stage = 'dedup' AND duplicate_of = $cluster
        )
        ORDER BY role = 'keeper' DESC, estimated_jaccard DESC NULLS LAST, id
        """,
        cluster=clean_input(cluster_id, 500),
    )


def dedup_texts(rel: Release, cluster_id: str, member_id: str) -> dict[str, Any]:
    """The text of a cluster's keeper (documents) and of one removed member (ledger; None when the ledger
    keeps no text for it), for a side-by-side view."""
    params = {"cluster": clean_input(cluster_id, 500), "member": clean_input(member_id, 500)}
    keeper = _rows(rel, "SELECT url, text FROM documents WHERE id = $cluster LIMIT 1", cluster=params["cluster"])
    member = _rows(
        rel,
        "SELECT url, text FROM ledger WHERE id = $member AND duplicate_of = $cluster AND stage = 'dedup' LIMIT 1",
        **params,
    )
    return {
        "keeper_url": keeper[0][0] if keeper else None,
        "keeper_text": keeper[0][1] if keeper else None,
        "member_url": member[0][0] if member else None,
        "member_text": member[0][1] if member else None,
        "found": bool(keeper) and bool(member),
    }


# --------------------------------------------------------------------------------------------------
# Removals (the ledger)


def ledger_summary(rel: Release) -> pl.DataFrame:
    """Ledger rows per stage and reason, counted in the ledger table, in pipeline stage order."""
    order = [s["stage"] for s in rel.manifest.get("counts", {}).get("stages", [])]
    frame = _frame(
        rel,
        """
        SELECT stage, reason, count(*) AS records FROM ledger GROUP BY stage, reason
        ORDER BY coalesce(list_position($order, stage), 999), records DESC, reason
        """,
        order=order or [""],
    )
    expected = {
        (stage, reason): n
        for stage, reasons in rel.manifest.get("counts", {}).get("removed_by_stage", {}).items()
        for reason, n in reasons.items()
    }
    return frame.with_columns(
        pl.Series(
            "manifest",
            [expected.get((s, r)) for s, r in zip(frame["stage"], frame["reason"], strict=True)],
            dtype=pl.Int64,
        )
    )


def ledger_examples(rel: Release, *, stage: str, reason: str, limit: int = 50, offset: int = 0) -> dict[str, Any]:
    """Ledger rows for one stage and reason, with the URL of the kept copy for duplicates."""
    params = {"stage": stage, "reason": reason}
    total = _scalar(rel, "SELECT count(*) FROM ledger WHERE stage = $stage AND reason = $reason", **params)
    rows = _frame(
        rel,
        f"""
        SELECT {_columns(LEDGER_LIST_COLUMNS, "l.")}, d.url AS duplicate_of_url
        FROM ledger l LEFT JOIN documents d ON d.id = l.duplicate_of
        WHERE l.stage = $stage AND l.reason = $reason
        ORDER BY l.id LIMIT $limit OFFSET $offset
        """,
        **params,
        limit=max(1, min(int(limit), 1_000)),
        offset=max(0, int(offset)),
    )
    return {"rows": rows, "total": int(total)}


# --------------------------------------------------------------------------------------------------
# "Am I in the training data?"


def _verdict(documents: int, removed: int) -> str:
    if documents:
        return "in"
    return "removed" if removed else "absent"


def membership_domain(rel: Release, domain: str, *, subdomains: bool = True, limit: int = 50) -> dict[str, Any]:
    """Documents and ledger rows from a site: counts, reasons for removals, and examples of both."""
    d = normalise_domain(domain)
    if not d:
        raise ValueError("enter a domain, e.g. example.org")
    cond = "(domain = $domain OR ends_with(domain, '.' || $domain))" if subdomains else "domain = $domain"
    documents = _scalar(rel, f"SELECT count(*) FROM documents WHERE {cond}", domain=d)
    hosts = _frame(
        rel,
        f"""
        SELECT domain, count(*) FILTER (WHERE kept) AS documents, count(*) FILTER (WHERE NOT kept) AS removed
        FROM (SELECT domain, true AS kept FROM documents WHERE {cond}
              UNION ALL SELECT domain, false FROM ledger WHERE {cond})
        GROUP BY domain ORDER BY documents DESC, removed DESC, domain LIMIT 100
        """,
        domain=d,
    )
    reasons = _frame(
        rel,
        f"""
        SELECT stage, reason, count(*) AS records FROM ledger WHERE {cond}
        GROUP BY stage, reason ORDER BY records DESC, stage, reason
        """,
        domain=d,
    )
    doc_rows = _frame(
        rel,
        f"SELECT {_columns(DOCUMENT_LIST_COLUMNS)} FROM documents WHERE {cond} ORDER BY id LIMIT $limit",
        domain=d,
        limit=int(limit),
    )
    ledger_rows = _frame(
        rel,
        f"SELECT {_columns(LEDGER_LIST_COLUMNS)} FROM ledger WHERE {cond} ORDER BY id LIMIT $limit",
        domain=d,
        limit=int(limit),
    )
    removed = int(reasons["records"].sum()) if reasons.height else 0
    return {
        "query": d,
        "verdict": _verdict(int(documents), removed),
        "documents": int(documents),
        "removed": removed,
        "hosts": hosts,
        "reasons": reasons,
        "document_rows": doc_rows,
        "ledger_rows": ledger_rows,
    }


def membership_url(rel: Release, url: str, *, prefix: bool = False, limit: int = 50) -> dict[str, Any]:
    """Documents and ledger rows for one URL (any of `url_variants`), or for every URL starting with it."""
    variants = url_variants(url, toggle_slash=not prefix)
    if not variants:
        raise ValueError("enter a URL, e.g. https://example.org/page")
    params: dict[str, Any] = {f"u{i}": v for i, v in enumerate(variants)}

    def url_matches(column: str) -> str:
        if prefix:
            return "(" + " OR ".join(f"starts_with({column}, $u{i})" for i in range(len(variants))) + ")"
        return "list_contains([" + ", ".join(f"$u{i}" for i in range(len(variants))) + f"], {column})"

    cond = url_matches("url")
    documents = _scalar(rel, f"SELECT count(*) FROM documents WHERE {cond}", **params)
    removed = _scalar(rel, f"SELECT count(*) FROM ledger WHERE {cond}", **params)
    doc_rows = _frame(
        rel,
        f"SELECT {_columns(DOCUMENT_LIST_COLUMNS)} FROM documents WHERE {cond} ORDER BY url, id LIMIT $limit",
        **params,
        limit=int(limit),
    )
    ledger_rows = _frame(
        rel,
        f"""
        SELECT {_columns(LEDGER_LIST_COLUMNS, "l.")}, d.url AS duplicate_of_url
        FROM ledger l LEFT JOIN documents d ON d.id = l.duplicate_of
        WHERE {url_matches("l.url")} ORDER BY l.url, l.id LIMIT $limit
        """,
        **params,
        limit=int(limit),
    )
    return {
        "query": variants[0],
        "variants": variants,
        "prefix": prefix,
        "verdict": _verdict(int(documents), int(removed)),
        "documents": int(documents),
        "removed": int(removed),
        "document_rows": doc_rows,
        "ledger_rows": ledger_rows,
    }


def membership_text(rel: Release, text: str, *, limit: int = 20) -> dict[str, Any]:
    """Is this text in the release? Exact hash (`text_sha256`), normalised hash (`norm_sha256`) and, for
    input of at least MIN_SUBSTRING_CHARS characters, exact substring of a document's text. Ledger rows are
    checked the same way (their text is kept unless the config turned that off or the removal was an opt-out).

    Near-duplicate and n-gram overlap matching belong to the membership index (a later increment).
    """
    raw = (text or "").replace("\x00", "")
    if len(raw) > MAX_INPUT_CHARS:
        raise ValueError(f"text is {len(raw):,} characters long; the limit is {MAX_INPUT_CHARS:,}")
    if not raw.strip():
        raise ValueError("paste some text")
    exact = sha256_hex(raw)
    exact_stripped = sha256_hex(raw.strip())
    normalised = normalise_text(raw)
    params: dict[str, Any] = {
        "exact": exact,
        "exact2": exact_stripped,
        "norm": sha256_hex(normalised) if normalised else None,
        "needle": raw.strip() if len(raw.strip()) >= MIN_SUBSTRING_CHARS else None,
    }

    def text_matches(t: str = "") -> tuple[str, str]:
        """(match flags, WHERE condition) over the columns of table alias `t`."""
        flags = (
            f"{t}text_sha256 IN ($exact, $exact2) AS exact, coalesce({t}norm_sha256 = $norm, false) AS normalised, "
            f"coalesce(contains({t}text, $needle), false) AS substring"
        )
        cond = f"({t}text_sha256 IN ($exact, $exact2) OR {t}norm_sha256 = $norm OR contains({t}text, $needle))"
        return flags, cond

    match, cond = text_matches()
    ledger_match, ledger_cond = text_matches("l.")
    documents = _scalar(rel, f"SELECT count(*) FROM documents WHERE {cond}", **params)
    removed = _scalar(rel, f"SELECT count(*) FROM ledger WHERE {cond}", **params)
    doc_rows = _frame(
        rel,
        f"""
        SELECT {match}, {_columns(DOCUMENT_LIST_COLUMNS)} FROM documents WHERE {cond}
        ORDER BY exact DESC, normalised DESC, id LIMIT $limit
        """,
        **params,
        limit=int(limit),
    )
    ledger_rows = _frame(
        rel,
        f"""
        SELECT {ledger_match},
               {_columns(LEDGER_LIST_COLUMNS, "l.")}, d.url AS duplicate_of_url
        FROM ledger l LEFT JOIN documents d ON d.id = l.duplicate_of
        WHERE {ledger_cond}
        ORDER BY exact DESC, normalised DESC, l.id LIMIT $limit
        """,
        **params,
        limit=int(limit),
    )
    return {
        "verdict": _verdict(int(documents), int(removed)),
        "documents": int(documents),
        "removed": int(removed),
        "text_sha256": exact,
        "norm_sha256": params["norm"],
        "normalised_text": normalised,
        "substring_checked": params["needle"] is not None,
        "document_rows": doc_rows,
        "ledger_rows": ledger_rows,
    }

"""Every query the audit app runs, over one release, through a locked-down in-memory DuckDB.

`open_release` checks the directory (inside the data root, holding a manifest.json), creates the views
`documents`, `ledger`, `signatures` and `optout_evidence` over exactly the Parquet files the manifest lists
(a table the release's format version does not have, e.g. `optout_evidence` before format 2, is an empty
typed view, so every query runs on every format), then locks the
connection: `allowed_paths` = those files, `enable_external_access=false`, `lock_configuration=true`. After
that no query can read any other file, write one (`COPY ... TO`), attach a database or load an extension,
and the settings cannot be changed back (checked in tests/app/test_queries.py).

Rules for the functions below: SQL text is constant (or assembled from constant fragments); every
user-supplied value is a bound parameter (`$name`); LIKE patterns escape `%`, `_` and `\\`; each query takes
its own cursor (DuckDB connections are not thread-safe, Streamlit runs sessions in threads) and fetches
fully. Results are Polars DataFrames or small dicts, so Streamlit can cache them with `st.cache_data`.

This module does not import Streamlit or the pipeline (DESIGN.md: the app reads releases through
`schemas/` and DuckDB only), except `pipeline.release_read` (the one reader of a release's manifest and the
paths it names, and of locked-down connections) and `pipeline.text_identity`, the one definition of when a
pasted text is a text of the release (normalisation, personal-data placeholders); neither runs a pipeline step.
"""

from __future__ import annotations

import hashlib
import json
import os
import string
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import duckdb
import polars as pl

import schemas
from pipeline import release_read, url_identity
from pipeline.text_identity import normalise_text, release_form_changes, release_redaction, released_forms

DATA_ROOT_ENV = "APERTURA_DATA_ROOT"
MANIFEST = "manifest.json"
TABLES = tuple(schemas.TABLES)  # every table of the newest format; older releases get empty views

# A rough average for BPE tokenizers (GPT-2/Llama style) on English and other European languages:
# about 0.75 words per token. Only an order of magnitude; the release stores words, not tokens.
TOKENS_PER_WORD = 1.3
TOKEN_FORMULA = f"approx. tokens = sum(word_count) × {TOKENS_PER_WORD} (≈ 0.75 words per BPE token)"

MAX_INPUT_CHARS = 100_000  # longest text accepted from a text box; longer input is refused, not truncated
SINGLE_SCAN_ROWS = 10_000  # deepest page (offset + limit) a text search answers in one pass over the text
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
    "list<string>": "VARCHAR[]",
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


def format_tables(manifest: dict) -> tuple[str, ...]:
    """The tables a release of this manifest's format version holds (unknown versions: the newest set)."""
    version = manifest.get("format_version")
    return schemas.TABLES_BY_FORMAT.get(version if isinstance(version, int) else 0, TABLES)


def _table_files(release: Path, manifest: dict) -> dict[str, list[Path]]:
    """The Parquet files of each table, as listed in the manifest, each checked to lie inside the release and to
    exist (`pipeline.release_read`, the one reader of release paths)."""
    allowed = format_tables(manifest)
    try:
        if unknown := release_read.unexpected_tables(manifest, allowed):
            raise ReleaseAccessError(f"manifest.json lists files for an unexpected table {unknown[0]!r}")
        return {t: [Path(p) for p in release_read.table_files(release, manifest, t, must_exist=True)] for t in TABLES}
    except release_read.ReleaseError as err:
        raise ReleaseAccessError(_relative(str(err), release)) from None


def _relative(message: str, release: Path) -> str:
    """A reader's message with the release's location on the server left out (shown to the public)."""
    return message.replace(str(release.resolve()), release.name).replace(str(release), release.name)


def _identity_columns(con: duckdb.DuckDBPyConnection, manifest: dict) -> dict[str, str]:
    """Select lists that give tables written before format 3 the columns every query compares URLs by: `url_key`
    and a `domain` computed by `pipeline.url_identity` (as Python functions on this connection), so pages answer
    the same on every format. Documents and ledger v2 store both; they then come straight from the files."""
    old = {f.get("table") for f in manifest.get("files", []) if isinstance(f, dict) and f.get("schema_version") == 1}
    if (manifest.get("format_version") or 0) >= 3 and not old:
        return {}
    url_identity.register_sql_functions(con)
    select = {t: url_identity.IDENTITY_SELECT for t in ("documents", "ledger") if t in old}
    if (manifest.get("format_version") or 0) < 3:
        select["optout_evidence"] = "* REPLACE (apertura_domain(url) AS domain)"
    return select


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
    _background: dict[str, Future] = field(default_factory=dict, repr=False)

    @property
    def release_id(self) -> str:
        return str(self.manifest.get("release_id", self.path.name))

    @property
    def config_hash(self) -> str:
        return str(self.manifest.get("config_hash", ""))

    @property
    def has_optout_evidence(self) -> bool:
        """Whether the release format records opt-out evidence (format 2 on); format 1 releases predate it."""
        return "optout_evidence" in format_tables(self.manifest)

    def cursor(self) -> duckdb.DuckDBPyConnection:
        with self._lock:
            return self.con.cursor()

    def background(self, name: str, query: Callable[[Release], Any]) -> Future:
        """`query(self)` started once, in a background thread, for a slow figure a page can show when ready
        (see `text_bytes`); every later call returns the same future."""
        with self._lock:
            if name not in self._background:
                self._background[name] = _BACKGROUND.submit(query, self)
            return self._background[name]


# One thread for slow whole-release figures: they queue instead of competing with page queries for the cores.
_BACKGROUND = ThreadPoolExecutor(max_workers=1, thread_name_prefix="apertura-background")


def open_release(path: str | os.PathLike[str], root: Path | None = None) -> Release:
    """Validate the release directory and return a locked-down, read-only view of its tables."""
    directory = resolve_release(path, root)
    try:
        manifest = release_read.load_manifest(directory)
    except release_read.ReleaseError as err:
        raise ReleaseAccessError(_relative(str(err), directory)) from None
    files = _table_files(directory, manifest)
    con = duckdb.connect(":memory:")
    old_identity = _identity_columns(con, manifest)
    for table, paths in files.items():
        if paths:
            listed = ", ".join(_sql_string(str(p)) for p in paths)
            con.execute(f"CREATE VIEW {table} AS SELECT {old_identity.get(table, '*')} FROM read_parquet([{listed}])")
        else:
            con.execute(f"CREATE VIEW {table} AS {_empty_view(table)}")
    release_read.lock(con, [str(p) for paths in files.values() for p in paths])
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


def escape_regex(value: str) -> str:
    """`value` as a literal RE2 pattern: every ASCII punctuation character backslash-escaped (RE2 reads
    `\\<punctuation>` as that character); letters, digits, spaces and non-ASCII stay as they are."""
    return "".join("\\" + c if c in string.punctuation else c for c in value)


def domain_query(value: str | None) -> str:
    """A typed domain in its stored form (`pipeline.url_identity.normalise_domain`); ValueError saying what is
    expected when it is none (an invalid input never gets a verdict)."""
    try:
        return url_identity.normalise_domain(clean_input(value, 2_000))
    except url_identity.BadUrl as err:
        raise ValueError(str(err)) from None


def domain_cond(
    domain: str, site_sql: str = "split_part(url_key, '/', 1)", *, subdomains: bool = True
) -> tuple[str, dict[str, Any]]:
    """(SQL condition, parameters): rows of this domain (and its subdomains), by `pipeline.url_identity`'s rule."""
    return url_identity.domain_condition(domain_query(domain), site_sql, subdomains=subdomains)


def url_cond(url: str | None, *, prefix: bool = False) -> tuple[str, dict[str, Any], str]:
    """(SQL condition, parameters, the canonical URL): rows of this page, whatever the spelling of its URL
    (`pipeline.url_identity`: scheme, case, port, %-escapes, trailing dot), or with `prefix` every page whose
    URL starts with it (the rule of a registry URL-prefix entry)."""
    try:
        canonical = url_identity.user_url(clean_input(url, url_identity.MAX_URL_CHARS))
    except url_identity.BadUrl as err:
        raise ValueError(str(err)) from None
    if prefix:
        cond, params = url_identity.prefix_condition(canonical)
        return cond, params, canonical
    return "url_key = $url_key", {"url_key": url_identity.url_key(canonical)}, canonical


def similar_urls(rel: Release, canonical: str, *, limit: int = 5) -> list[str]:
    """URLs of records that differ from `canonical` only by a trailing slash or a leading `www.`: not the same
    page for Apertura, but worth naming before anyone reads "not in" as "not there"."""
    rows = _rows(
        rel,
        "SELECT DISTINCT url FROM (SELECT url, url_key FROM documents UNION ALL SELECT url, url_key FROM ledger) "
        "WHERE list_contains($twins, url_key) ORDER BY url LIMIT $limit",
        twins=url_identity.near_miss_keys(url_identity.url_key(canonical) or ""),
        limit=int(limit),
    )
    return [r[0] for r in rows]


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


TEXT_COND = (
    "(list_contains($exact, text_sha256) OR list_contains($norm, norm_sha256) OR contains(text, $needle) "
    "OR contains(text, $needle2))"
)


def text_params(rel: Release, raw: str) -> tuple[dict[str, Any], str]:
    """The bound parameters of TEXT_COND for a pasted text, and its release form. Parameters: the sha256 of
    every form the release may hold for it (`released_forms`: as pasted, with personal data replaced as this
    release's pii step did, and that after removing format characters), their normalised sha256, and for 8+
    characters the text as pasted and its release form as verbatim needles."""
    forms = released_forms(raw, release_redaction(rel.manifest))
    normalised = [normalise_text(f) for f in forms]
    needles = [n if len(n) >= MIN_SUBSTRING_CHARS else None for n in (raw.strip(), forms[-1].strip())]
    params = {
        "exact": sorted({sha256_hex(f) for f in forms} | {sha256_hex(f.strip()) for f in forms}),
        "norm": sorted({sha256_hex(n) for n in normalised if n}),
        "needle": needles[0],
        "needle2": needles[1] if needles[1] != needles[0] else None,
    }
    return params, forms[-1]


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
    """Headline counts, computed from the documents table itself (not copied from the manifest). Reads no
    `text`: its size is `text_bytes`, a separate query the overview shows last (a full decompression of the
    largest column: about 2.5 s for a million FineWeb-sized documents here, see bench/app_scale.py)."""
    documents, words, domains, languages, first, last = _rows(
        rel,
        """
        SELECT count(*), coalesce(sum(word_count), 0)::BIGINT,
               count(DISTINCT domain), count(DISTINCT language), min(date), max(date)
        FROM documents
        """,
    )[0]
    removed = _scalar(rel, "SELECT count(*) FROM ledger")
    spans, span_bytes, span_inputs = _rows(
        rel,
        "SELECT count(*), coalesce(sum(warc_record_length), 0)::BIGINT, count(DISTINCT file_path) "
        "FROM ledger WHERE record_type = 'unreadable'",
    )[0]
    counts = rel.manifest.get("counts", {})
    return {
        "unreadable_spans": int(spans),  # spans of inputs that were no readable record (ledger: read_unparsable)
        "unreadable_bytes": int(span_bytes),
        "unreadable_inputs": int(span_inputs),
        "bytes_accounted": (rel.manifest.get("format_version") or 0) >= 4,
        "documents": int(documents),
        "words": int(words),
        "approx_tokens": round(int(words) * TOKENS_PER_WORD),
        "token_formula": TOKEN_FORMULA,
        "domains": int(domains),
        "languages": int(languages),
        "removed": int(removed),
        "input_records": counts.get("inputs"),
        "first_date": first,
        "last_date": last,
    }


def text_bytes(rel: Release) -> int:
    """UTF-8 bytes of every document's `text` (DuckDB strlen counts bytes)."""
    return int(_scalar(rel, "SELECT coalesce(sum(strlen(text)), 0)::BIGINT FROM documents"))


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
    if clean_input(domain, 2_000):
        cond, bound = domain_cond(domain)
        where.append(cond)
        params.update(bound)
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
        # A case-insensitive RE2 match of the escaped literal: one pass over `text` at about twice the speed of
        # ILIKE on DuckDB 2.0 (bench/app_scale.py: 0.55 s against 1.0-1.2 s on a million documents).
        where.append("regexp_matches(text, $text, 'i')")
        params["text"] = escape_regex(t)
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
    limit, offset = max(1, min(int(limit), 1_000)), max(0, int(offset))
    if with_total and "text" in params and offset + limit <= SINGLE_SCAN_ROWS:
        # A text filter reads every document's text: count the matches and take the ids of this page in the
        # same pass, then fetch the page's rows by id (a scan of the id column only), instead of two text scans.
        ((total, ids),) = _rows(rel, f"SELECT count(*), min_by(id, id, $n) FROM documents {clause}", **params,
                                n=offset + limit)  # fmt: skip
        page = (ids or [])[offset : offset + limit]
        rows = _frame(
            rel,
            f"SELECT {_columns(DOCUMENT_LIST_COLUMNS)} FROM documents WHERE list_contains($ids, id) ORDER BY id",
            ids=page or [""],
        )
        return {"rows": rows, "total": int(total)}
    rows = _frame(
        rel,
        f"SELECT {_columns(DOCUMENT_LIST_COLUMNS)} FROM documents {clause} ORDER BY id LIMIT $limit OFFSET $offset",
        **params,
        limit=limit,
        offset=offset,
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
    d = domain_query(domain)
    cond, bound = domain_cond(d, subdomains=subdomains)
    documents = _scalar(rel, f"SELECT count(*) FROM documents WHERE {cond}", **bound)
    hosts = _frame(
        rel,
        f"""
        SELECT domain, count(*) FILTER (WHERE kept) AS documents, count(*) FILTER (WHERE NOT kept) AS removed
        FROM (SELECT domain, true AS kept FROM documents WHERE {cond}
              UNION ALL SELECT domain, false FROM ledger WHERE {cond})
        GROUP BY domain ORDER BY documents DESC, removed DESC, domain LIMIT 100
        """,
        **bound,
    )
    reasons = _frame(
        rel,
        f"""
        SELECT stage, reason, count(*) AS records FROM ledger WHERE {cond}
        GROUP BY stage, reason ORDER BY records DESC, stage, reason
        """,
        **bound,
    )
    doc_rows = _frame(
        rel,
        f"SELECT {_columns(DOCUMENT_LIST_COLUMNS)} FROM documents WHERE {cond} ORDER BY id LIMIT $limit",
        **bound,
        limit=int(limit),
    )
    ledger_rows = _frame(
        rel,
        f"SELECT {_columns(LEDGER_LIST_COLUMNS)} FROM ledger WHERE {cond} ORDER BY id LIMIT $limit",
        **bound,
        limit=int(limit),
    )
    removed = int(reasons["records"].sum()) if reasons.height else 0
    return {
        "optout": _optout_removals(rel, cond, bound, limit),
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
    """Documents and ledger rows of one page, whatever the spelling of its URL, or with `prefix` of every page
    whose URL starts with it (both by `pipeline.url_identity`); `similar` names records at a URL that differs
    only by a trailing slash or `www.` when the page itself has none."""
    cond, params, canonical = url_cond(url, prefix=prefix)
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
        FROM (SELECT * FROM ledger WHERE {cond}) l LEFT JOIN documents d ON d.id = l.duplicate_of
        ORDER BY l.url, l.id LIMIT $limit
        """,
        **params,
        limit=int(limit),
    )
    return {
        "optout": _optout_removals(rel, cond, params, limit),
        "query": canonical,
        "prefix": prefix,
        "verdict": _verdict(int(documents), int(removed)),
        "documents": int(documents),
        "removed": int(removed),
        "document_rows": doc_rows,
        "ledger_rows": ledger_rows,
        "similar": [] if prefix or documents or removed else similar_urls(rel, canonical),
    }


def membership_text(rel: Release, text: str, *, limit: int = 20) -> dict[str, Any]:
    """Is this text in the release? Exact hash (`text_sha256`), normalised hash (`norm_sha256`) and, for
    input of at least MIN_SUBSTRING_CHARS characters, exact substring of a document's text, each for every form
    the release may hold for the text (`text_params`). Ledger rows are checked the same way (their text is kept
    unless the config turned that off or the removal was an opt-out).

    Near-duplicate and n-gram overlap matching belong to the membership index (a later increment).
    """
    raw = (text or "").replace("\x00", "")
    if len(raw) > MAX_INPUT_CHARS:
        raise ValueError(f"text is {len(raw):,} characters long; the limit is {MAX_INPUT_CHARS:,}")
    if not raw.strip():
        raise ValueError("paste some text")
    params, released = text_params(rel, raw)
    normalised = normalise_text(released)
    flags = (
        "list_contains($exact, text_sha256) AS exact, coalesce(list_contains($norm, norm_sha256), false) AS "
        "normalised, coalesce(contains(text, $needle) OR contains(text, $needle2), false) AS substring"
    )
    cond = TEXT_COND

    def matches(table: str) -> tuple[int, pl.DataFrame]:
        """(how many rows match, the first `limit` with their match flags): one pass over the table's text.
        `min_by` keeps the best rows (exact, then normalised, then by id) while counting."""
        ((total, best),) = _rows(
            rel,
            f"""
            SELECT count(*), min_by({{'id': id, 'exact': exact, 'normalised': normalised, 'substring': substring}},
                                    {{'a': NOT exact, 'b': NOT normalised, 'c': id}}, $limit)
            FROM (SELECT id, {flags} FROM {table} WHERE {cond})
            """,
            **params,
            limit=int(limit),
        )
        schema = {"id": pl.String, "exact": pl.Boolean, "normalised": pl.Boolean, "substring": pl.Boolean}
        return int(total), pl.DataFrame(best or [], schema=schema, orient="row")

    documents, doc_flags = matches("documents")
    removed, ledger_flags = matches("ledger")
    # The rows themselves, by id (no text is read), in the order min_by chose.
    doc_rows = doc_flags.join(
        _frame(
            rel,
            f"SELECT {_columns(DOCUMENT_LIST_COLUMNS)} FROM documents WHERE list_contains($ids, id)",
            ids=doc_flags["id"].to_list() or [""],
        ),
        on="id",
        how="inner",
        maintain_order="left",
    )
    ledger_rows = ledger_flags.join(
        _frame(
            rel,
            f"""
            SELECT {_columns(LEDGER_LIST_COLUMNS, "l.")}, d.url AS duplicate_of_url
            FROM ledger l LEFT JOIN documents d ON d.id = l.duplicate_of
            WHERE list_contains($ids, l.id)
            """,
            ids=ledger_flags["id"].to_list() or [""],
        ),
        on="id",
        how="inner",
        maintain_order="left",
    )
    return {
        "verdict": _verdict(int(documents), int(removed)),
        "documents": int(documents),
        "removed": int(removed),
        "text_sha256": sha256_hex(raw),
        "norm_sha256": sha256_hex(normalised) if normalised else None,
        "normalised_text": normalised,
        "release_form": release_form_changes(raw, released),
        "substring_checked": params["needle"] is not None,
        "document_rows": doc_rows,
        "ledger_rows": ledger_rows,
    }


# --------------------------------------------------------------------------------------------------
# Opt-out compliance (format 2 on: the optout_evidence table and the manifest's `optout` section)

OPTOUT_STAGE = "optout"
_EVIDENCE_COLUMNS = (
    "kind", "document_id", "url", "domain", "origin", "signal", "agents", "verdict", "rule", "raw", "raw_sha256",
    "http_status", "source_file", "source_id", "source_record_id", "source_offset", "source_length", "fetched_at",
)  # fmt: skip
# Columns of evidence lists in the app: without `raw` (up to 2,000 characters; shown in the document view).
EVIDENCE_LIST_COLUMNS = tuple(c for c in _EVIDENCE_COLUMNS if c != "raw")

# The zero-violations proof, shown on the compliance page exactly as it is executed: a document in the release
# matches an opt-out when (a) its id has an evidence row with verdict 'reserved', or (b) its URL is the URL of a
# record the ledger removed at stage 'optout'. Constant SQL, no parameters. `coalesce` because `x IN (...)` is
# NULL, not false, when the list holds a NULL and x is not in it.
VIOLATIONS_SQL = """\
SELECT count(*) AS violations,
       count(*) FILTER (WHERE reserved_id) AS by_reserved_id,
       count(*) FILTER (WHERE removed_url) AS by_removed_url
FROM (
    SELECT coalesce(id IN (SELECT document_id FROM optout_evidence WHERE verdict = 'reserved'), false)
               AS reserved_id,
           coalesce(url IN (SELECT url FROM ledger WHERE stage = 'optout'), false) AS removed_url
    FROM documents
)
WHERE reserved_id OR removed_url"""

# The violating documents themselves (same conditions), for the drill-down when the count is not 0.
VIOLATION_ROWS_SQL = """\
SELECT id, url, domain, reserved_id, removed_url FROM (
    SELECT id, url, domain,
           coalesce(id IN (SELECT document_id FROM optout_evidence WHERE verdict = 'reserved'), false)
               AS reserved_id,
           coalesce(url IN (SELECT url FROM ledger WHERE stage = 'optout'), false) AS removed_url
    FROM documents
)
WHERE reserved_id OR removed_url
ORDER BY id LIMIT $limit"""



def optout_info(rel: Release) -> dict[str, Any]:
    """The manifest's `optout` section (None when the release has none) and counts from the tables themselves."""
    section = rel.manifest.get("optout")
    rows, policy_files, decisions, reserved, origins = _rows(
        rel,
        """
        SELECT count(*), count(*) FILTER (WHERE kind = 'policy_file'), count(*) FILTER (WHERE kind = 'document'),
               count(DISTINCT document_id) FILTER (WHERE kind = 'document' AND verdict = 'reserved'),
               count(DISTINCT origin) FILTER (WHERE kind = 'policy_file')
        FROM optout_evidence
        """,
    )[0]
    removed = _scalar(rel, "SELECT count(*) FROM ledger WHERE stage = 'optout'")
    return {
        "has_evidence": rel.has_optout_evidence,
        "format_version": rel.manifest.get("format_version"),
        "manifest": section if isinstance(section, dict) else None,
        "evidence_rows": int(rows),
        "policy_files": int(policy_files),
        "decisions": int(decisions),
        "reserved_documents": int(reserved),
        "policy_origins": int(origins),
        "removed": int(removed),
    }


def optout_signals(rel: Release) -> pl.DataFrame:
    """Evidence rows per kind, signal and verdict: how many, for how many documents and origins."""
    return _frame(
        rel,
        """
        SELECT kind, signal, verdict, count(*) AS rows,
               count(DISTINCT document_id) AS documents, count(DISTINCT origin) AS origins
        FROM optout_evidence GROUP BY kind, signal, verdict
        ORDER BY kind = 'document' DESC, rows DESC, signal, verdict
        """,
    )


def optout_removed(rel: Release) -> pl.DataFrame:
    """Ledger rows removed for opt-out per reason (`optout_<signal>`), beside the manifest's
    `optout.removed_by_signal` count for the same signal (null when the manifest has none)."""
    frame = _frame(
        rel,
        """
        SELECT reason, count(*) AS records, count(DISTINCT domain) AS domains
        FROM ledger WHERE stage = 'optout' GROUP BY reason ORDER BY records DESC, reason
        """,
    )
    section = rel.manifest.get("optout")
    by_signal = section.get("removed_by_signal", {}) if isinstance(section, dict) else {}
    expected = {f"optout_{k}".replace("-", "_").replace(".", "_"): v for k, v in by_signal.items()}
    expected.update({k: v for k, v in by_signal.items() if k.startswith("optout_")})
    return frame.with_columns(
        pl.Series("manifest", [expected.get(r) for r in frame["reason"]], dtype=pl.Int64),
    )


def optout_origins(rel: Release, *, domain: str = "", limit: int = 500) -> pl.DataFrame:
    """Per origin: policy files seen (and their verdicts), document decisions (reserved / allowed), the
    records the ledger removed for opt-out and the documents kept from its domain. Optionally one site."""
    cond, bound = domain_cond(domain, "origin") if clean_input(domain, 2_000) else ("", {})
    where = f"WHERE {cond}" if cond else ""
    return _frame(
        rel,
        f"""
        WITH ev AS (
            SELECT origin, any_value(domain) AS domain,
                   count(*) FILTER (WHERE kind = 'policy_file') AS policy_files,
                   string_agg(DISTINCT signal || ' ' || verdict, ', ' ORDER BY signal || ' ' || verdict)
                       FILTER (WHERE kind = 'policy_file') AS policy_verdicts,
                   count(DISTINCT document_id) FILTER (WHERE kind = 'document' AND verdict = 'reserved')
                       AS reserved_documents,
                   count(DISTINCT document_id) FILTER (WHERE kind = 'document' AND verdict = 'allowed')
                       AS allowed_documents,
                   string_agg(DISTINCT signal, ', ' ORDER BY signal)
                       FILTER (WHERE kind = 'document' AND verdict = 'reserved') AS reserving_signals
            FROM optout_evidence {where} GROUP BY origin
        )
        SELECT origin, domain, policy_files, policy_verdicts, reserved_documents, allowed_documents,
               reserving_signals
        FROM ev ORDER BY reserved_documents DESC, policy_files DESC, origin LIMIT $limit
        """,
        **bound,
        limit=max(1, min(int(limit), 10_000)),
    )


def optout_domain(rel: Release, domain: str, *, limit: int = 200) -> dict[str, Any]:
    """Drill-down for one site (and its subdomains): its policy files, the opt-out decisions about its
    records, the records removed for opt-out, and how many of its documents are kept."""
    d = domain_query(domain)
    evidence_cond, evidence_params = domain_cond(d, "origin")
    cond, params = domain_cond(d)
    columns = _columns(EVIDENCE_LIST_COLUMNS)
    policy = _frame(
        rel,
        f"""
        SELECT {columns} FROM optout_evidence WHERE kind = 'policy_file' AND {evidence_cond}
        ORDER BY origin, signal, fetched_at DESC NULLS LAST LIMIT $limit
        """,
        **evidence_params,
        limit=int(limit),
    )
    decisions = _frame(
        rel,
        f"""
        SELECT {columns} FROM optout_evidence WHERE kind = 'document' AND {evidence_cond}
        ORDER BY verdict = 'reserved' DESC, url, signal LIMIT $limit
        """,
        **evidence_params,
        limit=int(limit),
    )
    removed = _frame(
        rel,
        f"""
        SELECT {_columns(LEDGER_LIST_COLUMNS)} FROM ledger WHERE stage = 'optout' AND {cond}
        ORDER BY url, id LIMIT $limit
        """,
        **params,
        limit=int(limit),
    )
    removed_total = _scalar(rel, f"SELECT count(*) FROM ledger WHERE stage = 'optout' AND {cond}", **params)
    kept = _scalar(rel, f"SELECT count(*) FROM documents WHERE {cond}", **params)
    return {
        "query": d,
        "policy_files": policy,
        "decisions": decisions,
        "removed_rows": removed,
        "removed": int(removed_total),
        "kept": int(kept),
    }


def optout_violations(rel: Release, *, limit: int = 1_000) -> dict[str, Any]:
    """Runs VIOLATIONS_SQL (the proof the page shows) and, when it is not 0, lists the violating documents."""
    violations, by_id, by_url = _rows(rel, VIOLATIONS_SQL)[0]
    empty = {"id": pl.String, "url": pl.String, "domain": pl.String, "reserved_id": pl.Boolean}
    rows = (
        _frame(rel, VIOLATION_ROWS_SQL, limit=max(1, min(int(limit), 10_000)))
        if violations
        else pl.DataFrame(schema={**empty, "removed_url": pl.Boolean})
    )
    return {
        "violations": int(violations),
        "by_reserved_id": int(by_id),
        "by_removed_url": int(by_url),
        "sql": VIOLATIONS_SQL,
        "rows": rows,
    }


def optout_document(rel: Release, doc_id: str, url: str | None = None, *, limit: int = 200) -> dict[str, Any]:
    """Opt-out evidence about one record (rows whose document_id is its id) and the policy files of its
    origin (from its URL and from its evidence rows)."""
    doc_id = clean_input(doc_id, 500)
    evidence = _frame(
        rel,
        f"""
        SELECT {_columns(_EVIDENCE_COLUMNS)} FROM optout_evidence WHERE document_id = $id
        ORDER BY verdict = 'reserved' DESC, signal, rule LIMIT $limit
        """,
        id=doc_id,
        limit=int(limit),
    )
    origins = sorted({o for o in [url_identity.site_key(url), *evidence["origin"].to_list()] if o})
    policy = _frame(
        rel,
        f"""
        SELECT {_columns(_EVIDENCE_COLUMNS)} FROM optout_evidence
        WHERE kind = 'policy_file' AND list_contains($origins, origin)
        ORDER BY origin, signal, fetched_at DESC NULLS LAST LIMIT $limit
        """,
        origins=origins or [""],
        limit=int(limit),
    )
    return {"evidence": evidence, "policy_files": policy, "origins": origins}


def _optout_removals(rel: Release, cond: str, params: dict[str, Any], limit: int) -> pl.DataFrame:
    """Ledger rows removed for opt-out matching `cond` (over ledger columns), each with the evidence that
    reserved it (signal, agents, rule); a row without such evidence keeps nulls there."""
    return _frame(
        rel,
        f"""
        SELECT l.id, l.url, l.domain, l.reason, e.signal, e.agents, e.rule, e.source_id, e.fetched_at
        FROM (SELECT id, url, domain, reason FROM ledger WHERE stage = 'optout' AND {cond}
              ORDER BY url, id LIMIT $limit) l
        LEFT JOIN optout_evidence e ON e.document_id = l.id AND e.kind = 'document' AND e.verdict = 'reserved'
        ORDER BY l.url, l.id, e.signal, e.rule
        """,
        **params,
        limit=int(limit),
    )


# --------------------------------------------------------------------------------------------------
# Every release under the data root (the Releases and rights-holder pages), read from manifests only


CATALOG_SCHEMA: dict[str, Any] = {
    "path": pl.String,  # relative to the data root ('.' for the root itself)
    "release_id": pl.String,
    "format_version": pl.Int64,
    "documents": pl.Int64,
    "removed": pl.Int64,
    "config_hash": pl.String,
    "manifest_sha256": pl.String,
    "parent_id": pl.String,  # lineage.parent.release_id (derived releases only)
    "parent_manifest_sha256": pl.String,
    "parent_path": pl.String,  # the release under the root whose manifest has that sha256, if any
    "derived_at": pl.String,
    "registry_sha256": pl.String,
    "registry_entries": pl.Int64,
    "registry_as_of": pl.String,
    "snapshots": pl.Int64,
    "error": pl.String,  # why the manifest could not be read (the other columns are null then)
}


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def release_catalog(root: Path | None = None) -> pl.DataFrame:
    """One row per release directory under the data root (see `find_releases`): id, format, counts, config
    hash and lineage, from each manifest.json (no Parquet is read, so listing stays instant).

    A derived release names its parent by id and by the sha256 of the parent's manifest; `parent_path` is the
    release under the root whose manifest has exactly that sha256, so a renamed or rebuilt release with the same
    id is never taken for the parent. A manifest that cannot be read gives a row with `error` set."""
    root = (root or data_root()).resolve()
    rows: list[dict[str, Any]] = []
    for directory in find_releases(root):
        rel_path = str(directory.relative_to(root)) or "."
        try:
            raw = release_read.inside(directory, MANIFEST, "the manifest").read_bytes()  # not a symlink leading out
            manifest = json.loads(raw)
            if not isinstance(manifest, dict) or manifest.get("format") != "apertura-release":
                raise ValueError("not an Apertura release manifest")
        except release_read.ReleaseError:
            error = f"{MANIFEST} lies outside the release"
            rows.append({"path": rel_path, "release_id": directory.name, "error": error})
            continue
        except (OSError, ValueError) as err:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            rows.append({"path": rel_path, "release_id": directory.name, "error": f"{MANIFEST}: {err}"})
            continue
        counts = manifest.get("counts") if isinstance(manifest.get("counts"), dict) else {}
        lineage = manifest.get("lineage") if isinstance(manifest.get("lineage"), dict) else {}
        parent = lineage.get("parent") if isinstance(lineage.get("parent"), dict) else {}
        registry = lineage.get("registry") if isinstance(lineage.get("registry"), dict) else {}
        snapshots = lineage.get("snapshots")
        rows.append(
            {
                "path": rel_path,
                "release_id": str(manifest.get("release_id") or directory.name),
                "format_version": _int_or_none(manifest.get("format_version")),
                "documents": _int_or_none(counts.get("kept")),
                "removed": _int_or_none(counts.get("removed")),
                "config_hash": _str_or_none(manifest.get("config_hash")),
                "manifest_sha256": hashlib.sha256(raw).hexdigest(),
                "parent_id": _str_or_none(parent.get("release_id")),
                "parent_manifest_sha256": _str_or_none(parent.get("manifest_sha256")),
                "derived_at": _str_or_none(lineage.get("derived_at")),
                "registry_sha256": _str_or_none(registry.get("sha256")),
                "registry_entries": _int_or_none(registry.get("entries")),
                "registry_as_of": _str_or_none(registry.get("as_of")),
                "snapshots": len(snapshots) if isinstance(snapshots, list) else None,
            }
        )
    by_sha = {r["manifest_sha256"]: r["path"] for r in rows if r.get("manifest_sha256")}
    for r in rows:
        r["parent_path"] = by_sha.get(r.get("parent_manifest_sha256") or "")
    return pl.DataFrame(rows, schema=CATALOG_SCHEMA)


def release_lineage(rel: Release) -> dict[str, Any] | None:
    """The manifest's `lineage` section (derived releases only), with the registry and snapshots as given."""
    lineage = rel.manifest.get("lineage")
    if not isinstance(lineage, dict):
        return None
    snapshots = [s for s in lineage.get("snapshots") or [] if isinstance(s, dict)]
    return {
        "parent": lineage.get("parent") if isinstance(lineage.get("parent"), dict) else None,
        "derived_at": _str_or_none(lineage.get("derived_at")),
        "registry": lineage.get("registry") if isinstance(lineage.get("registry"), dict) else None,
        "snapshots": pl.DataFrame(
            [
                {"path": str(s.get("path")), "sha256": str(s.get("sha256")), "bytes": _int_or_none(s.get("bytes"))}
                for s in snapshots
            ],
            schema={"path": pl.String, "sha256": pl.String, "bytes": pl.Int64},
        ),
    }


# --------------------------------------------------------------------------------------------------
# Rights holder: one subject (domain, URL or text) in one release

SubjectKind = Literal["domain", "url", "text"]
MAX_RIGHTS_TEXT_BYTES = 200_000  # pasted text longer than this (UTF-8) is refused: a page, not a book


def _subject_cond(
    rel: Release, kind: SubjectKind, value: str, *, prefix: bool = False
) -> tuple[str, dict[str, Any], str]:
    """(condition over documents/ledger columns, bound parameters, the subject as matched) for one subject.

    domain: the host or any subdomain; url: the page whatever the spelling of its URL (or every page whose URL
    starts with it, when `prefix`), both by `pipeline.url_identity`; text: same sha256, same normalised sha256,
    or (8+ characters) contained verbatim, in any form the release may hold for it (`text_params`)."""
    if kind == "domain":
        d = domain_query(value)
        cond, params = domain_cond(d)
        return cond, params, d
    if kind == "url":
        return url_cond(value, prefix=prefix)
    if kind == "text":
        raw = (value or "").replace("\x00", "")
        if len(raw.encode("utf-8")) > MAX_RIGHTS_TEXT_BYTES:
            raise ValueError(f"the text is longer than {MAX_RIGHTS_TEXT_BYTES // 1000} KB; paste one article")
        if not raw.strip():
            raise ValueError("paste some text")
        return TEXT_COND, text_params(rel, raw)[0], f"text sha256 {sha256_hex(raw)[:16]}…"
    raise ValueError(f"unknown kind {kind!r}")


def rights_status(rel: Release, kind: SubjectKind, value: str, *, prefix: bool = False) -> dict[str, Any]:
    """Is this domain / URL / text in the release, and if records of it were removed: why, and for an opt-out
    by which signal, rule and registry entry (from the ledger joined to its opt-out evidence).

    `reasons` has one row per (stage, reason, signal, rule, registry entry): how many records, and when the
    evidence was fetched (crawl-time signals) — a registry removal has no fetch time; its date is the derived
    release's `lineage.derived_at`."""
    cond, params, shown = _subject_cond(rel, kind, value, prefix=prefix)
    documents = _scalar(rel, f"SELECT count(*) FROM documents WHERE {cond}", **params)
    reasons = _frame(
        rel,
        f"""
        SELECT l.stage, l.reason, e.signal, e.rule,
               CASE WHEN e.signal = 'registry' THEN e.source_id END AS registry_entry,
               count(DISTINCT l.id) AS records, min(e.fetched_at) AS evidence_fetched_at
        FROM (SELECT id, stage, reason FROM ledger WHERE {cond}) l
        LEFT JOIN optout_evidence e
               ON e.document_id = l.id AND e.kind = 'document' AND e.verdict = 'reserved' AND l.stage = 'optout'
        GROUP BY ALL ORDER BY records DESC, l.stage, l.reason, e.signal, e.rule
        """,
        **params,
    )
    removed, optout = _rows(
        rel,
        f"SELECT count(*), count(*) FILTER (WHERE stage = 'optout') FROM ledger WHERE {cond}",
        **params,
    )[0]
    similar = similar_urls(rel, shown) if kind == "url" and not prefix and not documents and not removed else []
    return {
        "release_id": rel.release_id,
        "query": shown,
        "similar": similar,
        "verdict": _verdict(int(documents), int(removed)),
        "documents": int(documents),
        "removed": int(removed),
        "optout_removed": int(optout),
        "reasons": reasons,
        "registry_entries": sorted({e for e in reasons["registry_entry"].to_list() if e}),
    }

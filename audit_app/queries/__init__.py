"""Every query the audit app runs, over one release, through a locked-down in-memory DuckDB: one module per page.

`base` is the sandbox (opening a release inside the data root, the locked-down connection, `_frame`/`_rows`/`_scalar`)
and what the pages share (input cleaning, the domain condition); `overview`, `search`, `document`, `dedup`,
`removals`, `compliance` and `catalog` (Releases) hold each page's queries; "Am I in?" and the Rights holders page
ask the one membership engine, `pipeline.index.answer`. This package's namespace names every query, so pages call
`queries.<name>` (`common.query` looks names up here) and need not know which module holds it.

Rules for every query: SQL text is constant (or assembled from constant fragments); every user-supplied value is a
bound parameter (`$name`); LIKE patterns escape `%`, `_` and `\\`; each query takes its own cursor (DuckDB
connections are not thread-safe, Streamlit runs sessions in threads) and fetches fully. Results are Polars
DataFrames or small dicts, so Streamlit can cache them with `st.cache_data`.

The package does not import Streamlit or the pipeline (DESIGN.md: the app reads releases through `schemas/` and
DuckDB only), except `pipeline.release_read` (the one reader of a release's manifest and the paths it names, and
of locked-down connections), `pipeline.url_identity` and `pipeline.text_identity` (the one definition of when a
URL, a domain or a pasted text is one of the release), and the EU summary's token ratio; none runs a pipeline step.
"""

from audit_app.queries.base import (
    DATA_ROOT_ENV,
    DOCUMENT_LIST_COLUMNS,
    EVIDENCE_COLUMNS,
    EVIDENCE_LIST_COLUMNS,
    LEDGER_LIST_COLUMNS,
    MANIFEST,
    MAX_INPUT_CHARS,
    MIN_SUBSTRING_CHARS,
    TABLES,
    Release,
    ReleaseAccessError,
    clean_input,
    data_root,
    domain_cond,
    domain_query,
    escape_like,
    escape_regex,
    find_releases,
    format_tables,
    open_release,
    resolve_release,
    within_root,
)
from audit_app.queries.catalog import CATALOG_SCHEMA, release_catalog, release_lineage
from audit_app.queries.compliance import (
    VIOLATION_ROWS_SQL,
    VIOLATIONS_SQL,
    optout_domain,
    optout_info,
    optout_origins,
    optout_removed,
    optout_signals,
    optout_violations,
)
from audit_app.queries.dedup import dedup_clusters, dedup_members, dedup_sizes, dedup_summary, dedup_texts
from audit_app.queries.document import dedup_cluster, document, optout_document
from audit_app.queries.overview import (
    TOKEN_FORMULA,
    TOKENS_PER_WORD,
    crawl_dates,
    funnel,
    languages,
    overview,
    release_info,
    text_bytes,
    tlds,
    top_domains,
    verify_files,
)
from audit_app.queries.removals import ledger_examples, ledger_summary
from audit_app.queries.reports import APP_SUMMARY_OPTIONS, eu_summary
from audit_app.queries.search import SINGLE_SCAN_ROWS, check_filters, date_bounds, search, search_count

__all__ = [
    "APP_SUMMARY_OPTIONS",
    "CATALOG_SCHEMA",
    "DATA_ROOT_ENV",
    "DOCUMENT_LIST_COLUMNS",
    "EVIDENCE_COLUMNS",
    "EVIDENCE_LIST_COLUMNS",
    "LEDGER_LIST_COLUMNS",
    "MANIFEST",
    "MAX_INPUT_CHARS",
    "MIN_SUBSTRING_CHARS",
    "SINGLE_SCAN_ROWS",
    "TABLES",
    "TOKENS_PER_WORD",
    "TOKEN_FORMULA",
    "VIOLATIONS_SQL",
    "VIOLATION_ROWS_SQL",
    "Release",
    "ReleaseAccessError",
    "check_filters",
    "clean_input",
    "crawl_dates",
    "data_root",
    "date_bounds",
    "dedup_cluster",
    "dedup_clusters",
    "dedup_members",
    "dedup_sizes",
    "dedup_summary",
    "dedup_texts",
    "document",
    "domain_cond",
    "domain_query",
    "escape_like",
    "escape_regex",
    "eu_summary",
    "find_releases",
    "format_tables",
    "funnel",
    "languages",
    "ledger_examples",
    "ledger_summary",
    "open_release",
    "optout_document",
    "optout_domain",
    "optout_info",
    "optout_origins",
    "optout_removed",
    "optout_signals",
    "optout_violations",
    "overview",
    "release_catalog",
    "release_info",
    "release_lineage",
    "resolve_release",
    "search",
    "search_count",
    "text_bytes",
    "tlds",
    "top_domains",
    "verify_files",
    "within_root",
]

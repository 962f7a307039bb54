"""The sandbox every query of the audit app runs in, and what the pages' queries share.

`open_release` checks the directory (inside the data root, holding a manifest.json), creates the views
`documents`, `ledger`, `signatures` and `optout_evidence` over exactly the Parquet files the manifest lists
(a table the release's format version does not have, e.g. `optout_evidence` before format 2, is an empty
typed view, so every query runs on every format), then locks the
connection: `allowed_paths` = those files, `enable_external_access=false`, `lock_configuration=true`. After
that no query can read any other file, write one (`COPY ... TO`), attach a database or load an extension,
and the settings cannot be changed back (checked in tests/app/test_queries.py).

Shared by the page modules: `_frame`/`_rows`/`_scalar` (one cursor per query, fetched fully), cleaning of text box
input, and the SQL condition for a typed domain (by `pipeline.url_identity`). Whether a domain, a page or a pasted
text is in the release is decided by the one membership engine, `pipeline.index.answer`, for every page.
"""

from __future__ import annotations

import os
import string
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

import schemas
from pipeline import release_read, url_identity
from pipeline.release_read.views import table_views

DATA_ROOT_ENV = "APERTURA_DATA_ROOT"
MANIFEST = "manifest.json"
TABLES = tuple(schemas.TABLES)  # every table of the newest format; older releases get empty views

MAX_INPUT_CHARS = 100_000  # longest text accepted from a text box; longer input is refused, not truncated
MIN_SUBSTRING_CHARS = 8  # shorter pasted text would match nearly everything; only hashes are checked then

# Columns shown in lists of documents / ledger rows (the document view shows every column).
DOCUMENT_LIST_COLUMNS = ("id", "url", "domain", "language", "language_score", "date", "word_count", "title")
LEDGER_LIST_COLUMNS = ("id", "url", "domain", "date", "stage", "reason", "detail", "duplicate_of", "title")
EVIDENCE_COLUMNS = (
    "kind", "document_id", "url", "domain", "origin", "signal", "agents", "verdict", "rule", "raw", "raw_sha256",
    "http_status", "source_file", "source_id", "source_record_id", "source_offset", "source_length", "fetched_at",
)  # fmt: skip
# Columns of evidence lists in the app: without `raw` (up to 2,000 characters; shown in the document view).
EVIDENCE_LIST_COLUMNS = tuple(c for c in EVIDENCE_COLUMNS if c != "raw")



class ReleaseAccessError(ValueError):
    """The release cannot be opened: outside the data root, missing, or not a release. Safe to show."""


# --------------------------------------------------------------------------------------------------
# Opening a release


def data_root() -> Path:
    """The directory every release path must be inside: $APERTURA_DATA_ROOT, else the working directory."""
    return Path(os.environ.get(DATA_ROOT_ENV) or os.getcwd()).resolve()


def within_root(candidate: Path, root: Path) -> Path | None:
    """`candidate` (a relative one taken relative to `root`) resolved (symlinks, `..`), or None when it leads
    outside `root` (resolved): the one confinement of a path a user gives to the data root."""
    resolved = (candidate if candidate.is_absolute() else root / candidate).resolve()
    return resolved if resolved.is_relative_to(root) else None


def resolve_release(path: str | os.PathLike[str], root: Path | None = None) -> Path:
    """The release directory for a user-supplied path, resolved (symlinks, `..`) and confined to the root.

    Relative paths are taken relative to the data root. Raises ReleaseAccessError with a message that names
    the path as given, never file contents.
    """
    root = (root or data_root()).resolve()
    text = os.fspath(path).strip()
    if not text or "\x00" in text:
        raise ReleaseAccessError("no release path given")
    resolved = within_root(Path(text).expanduser(), root)
    if resolved is None:
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


def format_tables(manifest: dict) -> tuple[str, ...]:
    """The tables a release of this manifest's format version holds (unknown versions: the newest set)."""
    version = manifest.get("format_version")
    return schemas.TABLES_BY_FORMAT.get(version if isinstance(version, int) else 0, TABLES)


def _relative(message: str, release: Path) -> str:
    """A reader's message with the release's location on the server left out (shown to the public)."""
    return message.replace(str(release.resolve()), release.name).replace(str(release), release.name)


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
    allowed = format_tables(manifest)
    try:
        if unknown := release_read.unexpected_tables(manifest, allowed):
            raise ReleaseAccessError(f"manifest.json lists files for an unexpected table {unknown[0]!r}")
        con, files = table_views(directory, manifest, TABLES)
    except release_read.ReleaseError as err:
        raise ReleaseAccessError(_relative(str(err), directory)) from None
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
    text = clean_input(value, url_identity.MAX_DOMAIN_CHARS)
    try:
        domain = url_identity.normalise_domain(text)
    except url_identity.BadUrl as err:
        raise ValueError(str(err)) from None
    if not url_identity.is_host_name(domain):
        raise ValueError(f"{text[:80]!r} is not a domain: give a site's domain, such as example.org")
    return domain


def domain_cond(
    domain: str, site_sql: str = "split_part(url_key, '/', 1)", *, subdomains: bool = True
) -> tuple[str, dict[str, Any]]:
    """(SQL condition, parameters): rows of this domain (and its subdomains), by `pipeline.url_identity`'s rule."""
    return url_identity.domain_condition(domain_query(domain), site_sql, subdomains=subdomains)



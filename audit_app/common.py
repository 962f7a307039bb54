"""Streamlit glue shared by the entrypoint and the pages: which release, the cached connection and query
results, and helpers that render release data safely (as text, never as HTML or Markdown).

Which release: `?release=<path>` in the page's URL (so a link opened in a new tab, or shared, shows the same
release), else `st.session_state["release"]` (set by app.py from `--release` or the sidebar picker), else the
environment variable APERTURA_RELEASE. The path is relative to the data root; every page run writes it back into
the URL and every link carries it. Pages run on their own too (tests drive them with AppTest).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import io
import os
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import polars as pl
import streamlit as st

from audit_app import membership, queries
from pipeline.reasons import STAGE_TEXT
from pipeline.release_read import ReleaseError, remote
from pipeline.release_read.remote import Fetched

RELEASE_ENV = "APERTURA_RELEASE"
FETCHED_KEY = "fetched_from"  # session state: the URI a remote release was fetched from (shown in the sidebar)
RELEASE_KEY = "release"
RELEASE_PARAM = "release"  # ?release=<path relative to the data root>

# The query functions pages may call through `query()` (cached). Anything else is refused.
CACHED_QUERIES = frozenset(
    {
        "release_info",
        "overview",
        "languages",
        "top_domains",
        "tlds",
        "crawl_dates",
        "date_bounds",
        "funnel",
        "search",
        "search_count",
        "document",
        "dedup_cluster",
        "dedup_summary",
        "dedup_sizes",
        "dedup_clusters",
        "dedup_members",
        "dedup_texts",
        "ledger_summary",
        "ledger_examples",
        "optout_info",
        "optout_signals",
        "optout_removed",
        "optout_origins",
        "optout_domain",
        "optout_violations",
        "optout_document",
        "release_lineage",
    }
)

# What each pipeline stage removes, in words an auditor or rights holder can act on (one table: pipeline/reasons.py).
STAGE_HELP = STAGE_TEXT

# Registered by app.py (st.Page objects by name) so pages can link to each other; empty when a page runs alone.
PAGES: dict[str, Any] = {}


def release_arg(argv: Sequence[str]) -> str | None:
    """`--release PATH` from the script arguments (`streamlit run audit_app/app.py -- --release PATH`)."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--release")
    known, _ = parser.parse_known_args(list(argv))
    return known.release


@st.cache_resource(show_spinner="Fetching the release…", max_entries=4)
def _fetch(uri: str) -> Fetched:
    """A remote release copied into the local cache once per server (`release_read.remote.fetch`: each file's
    sha256 checked against the manifest fetched now)."""
    return remote.fetch(uri)


def startup_release(argv: Sequence[str]) -> str | None:
    """The release the server was started on: `--release`, else $APERTURA_RELEASE. A remote one (`s3://bucket/r`)
    is fetched into the local cache and its local copy is returned and becomes the data root: a server started on
    a remote release serves that release only. Only the operator names a remote release (arguments, environment),
    never a page's address (`?release=` is always a path under the data root). Cannot fetch: says why, stops."""
    given = release_arg(argv) or os.environ.get(RELEASE_ENV) or None
    if not given or not remote.is_remote(given):
        return given
    try:
        fetched = _fetch(given)
    except ReleaseError as err:
        st.error("The release this app was started on cannot be fetched.")
        st.code(str(err), language=None, wrap_lines=True)
        st.stop()
    os.environ[queries.DATA_ROOT_ENV] = str(fetched.local)  # the same for every session of this server
    st.session_state[FETCHED_KEY] = fetched.uri
    return str(fetched.local)


def release_path() -> str | None:
    """The release asked for: the page URL's `?release=` (a path under the data root, or a release id that names
    one release there), else the sidebar's choice, else $APERTURA_RELEASE (fetched first when remote)."""
    linked = st.query_params.get(RELEASE_PARAM)
    if linked:
        return named_release(linked, queries.data_root())
    return st.session_state.get(RELEASE_KEY) or startup_release(())


def named_release(value: str, root: Path) -> str:
    """`value` as a release path: itself when it is one, else the path of the one release under the data root whose
    manifest has this release id (so `?release=r2` works); unchanged when neither (opening it then says why)."""
    if len(value) > 1_000 or "\x00" in value or queries.within_root(Path(value).expanduser(), root) is None:
        return value
    if (root / value / queries.MANIFEST).is_file():
        return value
    found = catalog(str(root))
    paths = found.filter(found["release_id"] == value)["path"].to_list() if found.height else []
    return paths[0] if len(paths) == 1 else value


def release_problem(path: str, root: Path) -> str | None:
    """Why `path` names no release this app may open, in words for the public (the server's directories are
    not named), or None when it is fine."""
    text = str(path).strip()
    if len(text) > 1_000 or "\x00" in text:
        return "The release named in this address is not valid."
    try:
        queries.resolve_release(text, root)
    except queries.ReleaseAccessError:
        inside = queries.within_root(Path(text).expanduser(), root) if text else None
        shown = code_span(text[:200])
        if inside is None:
            return f"The release {shown} is outside this app's data directory: only releases inside it can be opened."
        return f"There is no release {shown} in this app's data directory. Pick one in the sidebar."
    return None


def relative_release(resolved: str | Path, root: str | Path) -> str:
    """A release directory as the URL names it: relative to the data root ('.' for the root itself)."""
    return str(Path(resolved).relative_to(root)) or "."


def keep_release_in_url(resolved: str | Path, root: str | Path) -> None:
    """Write `?release=` into the page URL, so reloading, sharing or opening a link keeps this release."""
    wanted = relative_release(resolved, root)
    if st.query_params.get(RELEASE_PARAM) != wanted:
        st.query_params[RELEASE_PARAM] = wanted


def release_param() -> str | None:
    """The current release relative to the data root (what `?release=` carries), None when none is open."""
    path = release_path()
    if not path:
        return None
    root = queries.data_root()
    try:
        return relative_release(queries.resolve_release(path, root), root)
    except queries.ReleaseAccessError:
        return None


# Whole-release figures too slow for a page run (they read every text); started when a release is opened, in this
# order, one at a time. The EU summary first: kept on disk once computed, it is then ready in milliseconds.
BACKGROUND_QUERIES = ("eu_summary", "text_bytes")


@st.cache_resource(show_spinner=False, max_entries=8)
def _open(path: str, root: str) -> queries.Release:
    """One locked-down connection per release directory, shared by all sessions (queries take cursors)."""
    rel = queries.open_release(path, Path(root))
    for name in BACKGROUND_QUERIES:
        rel.background(name, getattr(queries, name))
    return rel


def background(name: str) -> Future:
    """The future of a background query on the current release (see BACKGROUND_QUERIES)."""
    if name not in BACKGROUND_QUERIES:
        raise ValueError(f"unknown background query {name!r}")
    return release().background(name, getattr(queries, name))


def _current() -> tuple[str, str]:
    """(resolved release path, data root) of the current release; shows an error and stops if there is none."""
    path = release_path()
    root = queries.data_root()
    if not path:
        st.error("No release selected.")
        st.caption("Start the app with a release directory:")
        st.code("apertura app releases/<id>\nstreamlit run audit_app/app.py -- --release releases/<id>", language=None)
        st.stop()
    problem = release_problem(path, root)
    if problem:
        st.error(problem)
        st.stop()
    try:
        resolved = queries.resolve_release(path, root)
        _open(str(resolved), str(root))
    except queries.ReleaseAccessError as err:
        st.error("This release cannot be opened.")
        st.code(str(err).replace(str(root), "<data directory>"), language=None, wrap_lines=True)
        st.stop()
    keep_release_in_url(resolved, root)
    return str(resolved), str(root)


def release() -> queries.Release:
    return _open(*_current())


def release_or_none() -> queries.Release | None:
    """The current release, or None (without rendering anything) when none is set or it cannot be opened."""
    path = release_path()
    if not path:
        return None
    root = queries.data_root()
    try:
        return _open(str(queries.resolve_release(path, root)), str(root))
    except queries.ReleaseAccessError:
        return None


@st.cache_data(show_spinner=False, ttl=30)
def releases_under(root: str) -> list[str]:
    """Release directories under the data root, relative to it (re-listed at most every 30 s)."""
    return [str(found.relative_to(root)) or "." for found in queries.find_releases(Path(root))]


@st.cache_data(show_spinner=False, max_entries=1024)
def _cached(name: str, path: str, root: str, kwargs: tuple[tuple[str, Any], ...]) -> Any:
    return getattr(queries, name)(_open(path, root), **dict(kwargs))


def query_release(path: str, name: str, **kwargs: Any) -> Any:
    """`queries.<name>(release, **kwargs)` on the release at `path` (relative to the data root), cached like
    `query`: for pages that look at every release, not only the one picked in the sidebar. Raises
    queries.ReleaseAccessError when that release cannot be opened."""
    if name not in CACHED_QUERIES:
        raise ValueError(f"unknown query {name!r}")
    root = queries.data_root()
    resolved = queries.resolve_release(path, root)
    _open(str(resolved), str(root))
    return _cached(name, str(resolved), str(root), tuple(sorted(kwargs.items())))


@st.cache_data(show_spinner=False, ttl=30)
def catalog(root: str) -> pl.DataFrame:
    """`queries.release_catalog` of the data root (manifests only; re-read at most every 30 s)."""
    return queries.release_catalog(Path(root))


def query(name: str, **kwargs: Any) -> Any:
    """Run `queries.<name>(release, **kwargs)` on the current release, cached per release and arguments."""
    if name not in CACHED_QUERIES:
        raise ValueError(f"unknown query {name!r}")
    path, root = _current()
    return _cached(name, path, root, tuple(sorted(kwargs.items())))


# --------------------------------------------------------------------------------------------------
# The membership index (R/index/): opened once per release and index version, read-only


@dataclass(frozen=True)
class IndexState:
    """The current release's membership index, or why there is none (`index` None, `problem` set when an
    index exists but cannot be used: stale, changed or damaged)."""

    release: str
    index: Any = None
    problem: str | None = None
    stamp: str | None = None

    @property
    def usable(self) -> bool:
        return self.index is not None


@st.cache_resource(show_spinner=False)
def warm_kernels() -> threading.Thread:
    """The text kernels loaded once per server process, in the background (see membership.warm_kernels)."""
    return membership.warm_kernels()


@st.cache_resource(show_spinner=False, max_entries=8)
def _open_index(path: str, stamp: str) -> IndexState:
    """One opened index per release directory and index version (`stamp`), shared by all sessions: opening
    hashes the manifest and maps the sketch, too slow to repeat per page run. A refusal is cached too (same
    stamp, same answer), so a stale index costs one check, not one per run."""
    from pipeline.index import MembershipIndexError

    try:
        index = membership.open_membership(Path(path))
    except MembershipIndexError as err:
        return IndexState(path, None, str(err), stamp)
    membership.warm_up(index)  # in the background: the first text check then does not pay the kernels' loading
    return IndexState(path, index, None, stamp)


def membership_index() -> IndexState:
    """The current release's membership index state (see IndexState); never raises for a bad index."""
    path, _ = _current()
    return index_state(path)


def index_advice(state: IndexState) -> str:
    """The command that builds (or rebuilds) the index of this release, as a Markdown code span."""
    force = " --force" if state.problem else ""
    return code_span(f"apertura index {state.release}{force}")


def index_notice(state: IndexState, fallback: str) -> None:
    """Says which path answers: a warning when an index exists but cannot be used, a caption when there is none."""
    if state.problem:
        st.warning(
            f"The membership index of this release cannot be used, so {plain(fallback)} is used instead: "
            f"{plain(state.problem)}. Rebuild it with {index_advice(state)}."
        )
    elif not state.usable:
        st.caption(f"No index: {fallback}; build one with {index_advice(state)}.")


# A substring scan reads every document's text: its time grows with the documents' Parquet. Measured on a
# 1M-document release (bench/RESULTS.md, issue 18: 1.6 GB of documents Parquet, text search 8-17 s on 2 shared
# cores), rounded up: an estimate that errs long.
SCAN_SECONDS_PER_GB = 10.0


def scan_size(manifest: dict[str, Any], tables: Sequence[str] = ("documents",)) -> tuple[dict[str, int], int]:
    """(rows per table, bytes of their Parquet) of a release, from its manifest: what a text scan reads."""
    files = [f for f in manifest.get("files") or [] if f.get("table") in tables]
    rows = {t: sum(int(f.get("rows") or 0) for f in files if f["table"] == t) for t in tables}
    return rows, sum(int(f.get("bytes") or 0) for f in files)


def scan_seconds(size: int) -> float:
    return size / 1e9 * SCAN_SECONDS_PER_GB


def _about(seconds: float) -> str:
    return "under a second" if seconds < 1 else f"about {seconds:,.0f} s"


SCANNED = {"documents": "document", "ledger": "removed record"}


def scan_notice(state: IndexState, fallback: str, tables: Sequence[str] = ("documents",)) -> tuple[str, str]:
    """Before a text lookup that, without a usable index, scans every text of `tables`: says how many texts it
    reads and about how long that takes, and how to build the index. Returns `scan_phrase`'s (what, about) for the
    status shown while the scan runs (`scans_done`)."""
    what, about = scan_phrase([release().manifest], tables)
    index_notice(state, f"{fallback}: it reads the text of all {what}, which can take {about}; the index answers in "
                        "milliseconds")  # fmt: skip
    return what, about


def scan_phrase(manifests: Sequence[dict[str, Any]], tables: Sequence[str]) -> tuple[str, str]:
    """('1,000,000 documents and 300,000 removed records (2.1 GB of Parquet)', 'about 21 s'): what a text scan of
    these releases reads and about how long it takes."""
    sizes = [scan_size(m, tables) for m in manifests]
    rows = {t: sum(r[t] for r, _ in sizes) for t in tables}
    size = sum(b for _, b in sizes)
    what = " and ".join(plural(n, SCANNED[t]) for t, n in rows.items())
    return f"{what} ({human_bytes(size)} of Parquet)", _about(scan_seconds(size))


def index_state(resolved: str) -> IndexState:
    """The membership index state of the release at this resolved path (see membership_index)."""
    stamp = membership.stamp(Path(resolved))
    return IndexState(resolved) if stamp is None else _open_index(resolved, stamp)


@st.cache_data(show_spinner=False, max_entries=256)
def _index_search(path: str, stamp: str, root: str, kwargs: tuple[tuple[str, Any], ...]) -> dict[str, Any]:
    return membership.search(_open_index(path, stamp).index, _open(path, root), **dict(kwargs))


def index_search(state: IndexState, **filters: Any) -> dict[str, Any]:
    """`membership.search` on the current release, cached per index version and filters."""
    path, root = _current()
    return _index_search(path, str(state.stamp), root, tuple(sorted(filters.items())))


@st.cache_data(show_spinner=False, max_entries=256)
def _index_check_text(path: str, stamp: str, text: str) -> Any:
    return _open_index(path, stamp).index.check_text(text)


def index_check_text(state: IndexState, text: str) -> Any:
    """`MembershipIndex.check_text` (a Report), cached per index version and text."""
    return _index_check_text(state.release, str(state.stamp), text)


# --------------------------------------------------------------------------------------------------
# "Is it in?": one engine (pipeline/index/answer.py) behind "Am I in?", the Rights holders page and `apertura check`


def _engine_answer(rel: queries.Release, state: IndexState, subject: Any) -> Any:
    """`engine.answer` (imported here: pages that ask nothing need not load the membership index's code), saying
    why there is no index when `state` has none usable."""
    from pipeline.index import answer as engine

    if state.problem:
        why = f"the membership index of this release cannot be used ({state.problem})"
    else:
        why = "this release has no membership index"
    return engine.answer(rel, subject, index=state.index, no_index=why)


def _subject_state(path: str, stamp: str | None, subject: Any) -> IndexState:
    """The index a subject is answered with: the release's (opened once) for a text, none for a domain or URL."""
    return _open_index(path, stamp) if stamp and subject.kind == "text" else IndexState(path)


@st.cache_data(show_spinner=False, max_entries=256)
def _answer(path: str, root: str, stamp: str | None, subject: Any) -> Any:
    return _engine_answer(_open(path, root), _subject_state(path, stamp, subject), subject)


def _asked(kind: str, value: str, path: str | None, prefix: bool, subdomains: bool) -> tuple[Any, str, str]:
    """(validated subject, resolved release path, data root): the input is validated before anything is read."""
    from pipeline.index import answer as engine

    subject = engine.validate(kind, value, prefix=prefix, subdomains=subdomains)
    if path is None:
        resolved, root = _current()
    else:
        root = str(queries.data_root())
        resolved = str(queries.resolve_release(path, Path(root)))
        _open(resolved, root)
    return subject, resolved, root


def answer(kind: str, value: str, *, path: str | None = None, prefix: bool = False, subdomains: bool = True):
    """`pipeline.index.answer.answer` on the current release (or the release at `path`, relative to the data root),
    cached per release, index version and input. The input is validated first: InvalidInput (a ValueError) says
    what is expected, and no verdict is given."""
    subject, resolved, root = _asked(kind, value, path, prefix, subdomains)
    return _answer(resolved, root, membership.stamp(Path(resolved)), subject)


def answer_scan(kind: str, value: str, *, path: str | None = None, prefix: bool = False) -> Scan:
    """`answer`, as a background scan (`scan`): for a text in a release without a usable index, whose answer reads
    every text. The same engine call with the same arguments, so the answer is the one `answer` gives. Validated
    first, here: invalid input raises InvalidInput and nothing is scanned."""
    subject, resolved, root = _asked(kind, value, path, prefix, True)
    stamp = membership.stamp(Path(resolved))
    rel, state = _open(resolved, root), _subject_state(resolved, stamp, subject)
    work = functools.partial(_engine_answer, rel, state, subject)
    return scan(rel, "answer", (stamp, subject), work)


def query_scan(name: str, **kwargs: Any) -> Scan:
    """`query(name, **kwargs)` on the current release as a background scan (`scan`): for a query that reads every
    text (the search's substring filter without an index). The caller validates the input first."""
    if name not in CACHED_QUERIES:
        raise ValueError(f"unknown query {name!r}")
    rel = release()
    given = tuple(sorted(kwargs.items()))
    return scan(rel, name, given, functools.partial(getattr(queries, name), rel, **kwargs))


# --------------------------------------------------------------------------------------------------
# Text scans in the background. Without a usable membership index a text lookup reads every text of the release
# (seconds on a million documents): it runs in a small pool, so no page run waits for it; the page shows what is
# read and since when, polls, and shows the answer when it is ready. Finished answers are kept (per release and
# manifest, query and input), so a rerun or another visitor asking the same gets it at once.

SCAN_WAIT_S = 0.5  # waited for in the page run (a small release's answer is shown at once), then shown when ready
SCAN_POLL_S = 1.0  # how often a page with a scan running looks again
SCANS_KEPT = 32  # answers kept, least recently asked dropped first
_SCAN_POOL = ThreadPoolExecutor(max_workers=1, thread_name_prefix="apertura-text-scan")  # 2 cores: one scan at a time


@dataclass(eq=False)
class Scan:
    """One background scan: its future, and when it was asked for and started (`time.monotonic()`; None: queued)."""

    future: Future
    asked: float
    started: float | None = None

    @property
    def error(self) -> BaseException | None:
        """Why it failed (None when it answered); only once done."""
        if self.future.cancelled():
            return RuntimeError("many other texts were asked for meanwhile and this one was dropped: ask again")
        return self.future.exception(timeout=0)

    @property
    def result(self) -> Any:
        return self.future.result(timeout=0)


_scans: OrderedDict[tuple[Any, ...], Scan] = OrderedDict()
_scans_lock = threading.Lock()


def scan(rel: queries.Release, kind: str, given: Hashable, work: Callable[[], Any]) -> Scan:
    """`work()` (reading every text of `rel`) in the scan pool, once per (release path, manifest sha256,
    `kind`, `given`): every caller asking the same gets the same Scan, running or done. A different input or release
    (or the release's manifest rewritten) is another key, so it never gets another's answer. Nothing is written."""
    manifest = (rel.path / queries.MANIFEST).read_bytes()
    key = (str(rel.path), hashlib.sha256(manifest).hexdigest(), kind, given)
    with _scans_lock:
        found = _scans.get(key)
        if found is None or found.future.cancelled():
            found = Scan(Future(), time.monotonic())

            def run(job: Scan = found) -> Any:
                job.started = time.monotonic()
                return work()

            found.future = _SCAN_POOL.submit(run)
            _scans[key] = found
        _scans.move_to_end(key)
        while len(_scans) > SCANS_KEPT:
            _, dropped = _scans.popitem(last=False)
            dropped.future.cancel()  # still queued: never run (asked again, it is queued again); running: finishes
    return found


def scans_done(scans: Sequence[Scan], what: str, about: str) -> bool:
    """True when every scan is done, waited for up to SCAN_WAIT_S first (a small release answers in this run, and
    the run still returns within a second). Otherwise shows that the text of `what` is being read (`about` how long,
    since when), redrawn every SCAN_POLL_S until done, then one full rerun shows the answer; and returns False (show
    no answer yet)."""
    deadline = time.monotonic() + SCAN_WAIT_S
    for job in scans:
        with contextlib.suppress(TimeoutError, CancelledError):
            job.future.exception(timeout=max(0.0, deadline - time.monotonic()))
    if all(job.future.done() for job in scans):
        return True
    _scan_polling(list(scans), what, about)
    return False


@st.fragment(run_every=SCAN_POLL_S)
def _scan_polling(scans: list[Scan], what: str, about: str) -> None:
    """The status of running scans, redrawn every SCAN_POLL_S; one full rerun when all are done."""
    if all(job.future.done() for job in scans):
        st.rerun()
    now = time.monotonic()
    started = [job.started for job in scans if job.started is not None]
    if started:
        since = f"started {now - min(started):,.0f} s ago, it can take {about}"
    else:
        asked = now - min(job.asked for job in scans)
        since = f"waiting for another text scan to finish (asked {asked:,.0f} s ago), then it can take {about}"
    st.info(
        f"Reading the text of {what} in the background: {since}. The answer appears here when ready; the page can "
        "be used meanwhile."
    )


def scan_failed(err: BaseException | str, what: str = "The text could not be looked for") -> None:
    """A scan that failed: its message on one line (the server's data directory not named), and no answer."""
    st.error(f"{what}: " + plain(str(err).replace(str(queries.data_root()), "<data directory>")))


# --------------------------------------------------------------------------------------------------
# Rendering release data and user input safely


def client_address() -> str | None:
    """The address of the browser this session serves (`st.context.ip_address`): the socket peer, or the address a
    reverse proxy on this machine forwards (uvicorn trusts X-Forwarded-For from loopback only), None for a browser
    on this machine. It keys the rate limit of opt-out requests (audit_app/registry.py)."""
    try:
        return st.context.ip_address
    except Exception:  # no client context (a bare script run)
        return None


def code_span(value: Any) -> str:
    """`value` as a Markdown inline code span: shown literally (no Markdown, links or HTML), one line."""
    text = " ".join(str(value).split()) or " "
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


_MARKDOWN = "\\`*_{}[]()<>#+-.!|~$:"
_ESCAPE_PLAIN = str.maketrans({c: "\\" + c for c in _MARKDOWN})  # one pass (a regex substitution: 10x slower)
_ESCAPE_MARKDOWN = str.maketrans({c: "\\" + c for c in _MARKDOWN + "&"})


def plain(value: Any) -> str:
    """A value for a label or message that Streamlit renders as Markdown: every Markdown character escaped."""
    return " ".join(str(value).split()).translate(_ESCAPE_PLAIN)


def escape_markdown(value: Any) -> str:
    """Like `plain`, but keeps single spaces at the ends, so escaped pieces can be joined around bold text."""
    return re.sub(r"\s+", " ", str(value)).translate(_ESCAPE_MARKDOWN)


def document_href(doc_id: str, release: str | None = None) -> str:
    """Relative link to the document view of one id (resolves next to the current page's URL), on `release` (a
    path relative to the data root; default: the current release), so a new tab opens the same release."""
    release = release if release is not None else release_param()
    where = f"release={quote(release, safe='')}&" if release else ""
    return f"document?{where}doc={quote(str(doc_id), safe='')}"


def page_params(**params: str) -> dict[str, str]:
    """Query parameters of a link to another page: these, plus the current release."""
    release = release_param()
    return ({RELEASE_PARAM: release} if release else {}) | params


def show_table(
    frame: pl.DataFrame,
    *,
    key: str,
    link_column: str | None = "id",
    download: str | None = None,
    height: int | None = None,
    selectable: bool = False,
):
    """A dataframe (drawn as text on a canvas, never as HTML) whose id column links to the document view,
    with CSV and Parquet downloads of exactly the rows shown. Returns the selection state when selectable."""
    shown = frame
    config: dict[str, Any] = {}
    release = release_param() or ""
    for column in (link_column, "duplicate_of"):
        if column and column in frame.columns:
            shown = shown.with_columns(
                pl.col(column)
                .map_elements(lambda v: document_href(v, release), return_dtype=pl.String, skip_nulls=True)
                .alias(column)
            )
            config[column] = st.column_config.LinkColumn(
                column, display_text=r"doc=(.+)$", help="Open in the document view (new tab)"
            )
    options: dict[str, Any] = {"hide_index": True, "column_config": config, "key": key}
    if height:
        options["height"] = height
    if selectable:
        options.update(on_select="rerun", selection_mode="single-row")
    state = st.dataframe(shown, **options)
    if download and frame.height:
        download_buttons(frame, download, key=f"{key}_dl")
    return state


def flat(frame: pl.DataFrame) -> pl.DataFrame:
    """List columns (e.g. optout_evidence.agents) joined with ', ': CSV has no nested values."""
    lists = [name for name, dtype in frame.schema.items() if isinstance(dtype, pl.List)]
    return frame.with_columns(pl.col(name).list.join(", ") for name in lists) if lists else frame


def download_buttons(frame: pl.DataFrame, name: str, *, key: str) -> None:
    parquet = io.BytesIO()
    frame.write_parquet(parquet)
    left, right, _ = st.columns([1, 1, 4])
    csv = flat(frame).write_csv().encode("utf-8")
    left.download_button("Download CSV", csv, f"{name}.csv", "text/csv", key=f"{key}_csv")
    right.download_button(
        "Download Parquet", parquet.getvalue(), f"{name}.parquet", "application/vnd.apache.parquet", key=f"{key}_pq"
    )


def selected_id(state: Any, frame: pl.DataFrame, column: str = "id") -> str | None:
    """The id of the row selected in a `show_table(..., selectable=True)` table, if any."""
    try:
        rows = state.selection.rows
    except AttributeError:
        return None
    if rows and rows[0] < frame.height:
        return frame[column][rows[0]]
    return None


def link_to_document(doc_id: str, label: str = "Open in the document view") -> None:
    """A page link to the document view (when the app runs with navigation) carrying `?doc=<id>`."""
    page = PAGES.get("document")
    if page is not None:
        st.page_link(page, label=label, icon=":material/description:", query_params=page_params(doc=doc_id))
    else:
        st.caption("Document view: " + code_span(document_href(doc_id)))


def file_stem(value: str) -> str:
    """A safe download file name part from an id or other data."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(value))[:80].strip("._") or "data"


def plural(n: int, word: str) -> str:
    """'1 document', '2 documents' (English -s plurals only)."""
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def human_bytes(n: int) -> str:
    value = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:,.0f} {unit}" if unit == "B" else f"{value:,.1f} {unit}"
        value /= 1000
    return f"{n} B"


def input_error(err: Exception) -> None:
    """A refused input (too long, empty, ...): one message, no trace."""
    st.warning("This input cannot be checked: " + plain(err))

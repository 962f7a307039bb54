"""The release's membership index (`R/index/`, see pipeline/index) as the app uses it: opened read-only, and
turned into the frames the search and "Am I in?" pages show.

Why a separate path: a text query over DuckDB reads every document's text (2.6-3.1 s on a million documents,
bench/app_scale.py), while the index answers from an inverted index and a sketch in milliseconds. Pages use it
when it is present and valid for the release's manifest, and fall back to `queries` otherwise. No Streamlit
here (caching lives in common.py), so this is testable on its own.
"""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path
from typing import Any

import polars as pl

from audit_app import queries
from audit_app.queries.base import _frame
from audit_app.queries.search import _search_filter
from pipeline.release_read import INDEX_DIR, INDEX_JSON

SEARCH_LIMIT = 100  # MembershipIndex.search returns at most 100 ranked hits; the page pages through these
HIT_COLUMNS = ("rank", "score", "id", "url", "language", "title", "snippet")


def stamp(release: Path) -> str | None:
    """A cheap fingerprint of the index and manifest files (mtime and size), or None when there is no index.

    It is part of the cache key of the opened index, so a rebuilt, changed or removed index is noticed on the
    next page run without hashing anything."""
    marks = []
    for path in (release / INDEX_DIR / INDEX_JSON, release / queries.MANIFEST):
        try:
            st = path.stat()
        except OSError:
            return None
        marks.append(f"{st.st_mtime_ns}:{st.st_size}")
    return "|".join(marks)


WARM_UP_TEXT = "Apertura checks this sentence once when the index opens, to load its text kernels early."


def warm_up(index: Any) -> threading.Thread:
    """Checks one fixed text against a just-opened index, in a daemon thread: the first text check of a server
    process imports and loads the compiled n-gram and MinHash kernels (numba: ~1.5 s of CPU on 2 cores), a cost
    the first person to paste a text would otherwise wait for. Failures are left to the real checks to report."""

    def run() -> None:
        with contextlib.suppress(Exception):
            index.check_text(WARM_UP_TEXT)

    thread = threading.Thread(target=run, name="apertura-index-warm-up", daemon=True)
    thread.start()
    return thread


def warm_kernels() -> threading.Thread:
    """Fingerprints one fixed text in a daemon thread, once per server process (common.py caches it): checking a
    pasted text against the registry (Rights holders) runs the pipeline's MinHash kernels with or without an
    index, and their first load (~0.6 s) would otherwise be the first visitor's wait."""
    from pipeline.config import DedupConfig
    from pipeline.fingerprints import add_dedup_keys

    def run() -> None:
        with contextlib.suppress(Exception):
            add_dedup_keys(pl.DataFrame({"text": [WARM_UP_TEXT]}), DedupConfig())

    thread = threading.Thread(target=run, name="apertura-kernel-warm-up", daemon=True)
    thread.start()
    return thread


def open_membership(release: Path) -> Any:
    """`pipeline.index.open_index` (read-only: DuckDB file opened read_only, tantivy reader, mapped arrays).

    Raises MembershipIndexError when the index is absent, built for another manifest, or damaged; any other
    failure to open it (a corrupt file that the library trips over) is turned into the same error, so a page
    can fall back instead of showing a traceback."""
    from pipeline.index import MembershipIndexError, open_index

    try:
        return open_index(release)
    except MembershipIndexError:
        raise
    except Exception as err:  # a damaged index must never take the page down
        raise MembershipIndexError(f"the membership index cannot be opened: {type(err).__name__}: {err}") from None


def marked(snippet: str, highlights: list[tuple[int, int]], left: str = "«", right: str = "»") -> str:
    """The snippet as plain text with each highlighted range between `left` and `right` (for table cells)."""
    out, pos = [], 0
    for start, end in sorted(highlights):
        if start < pos or end <= start:
            continue
        out += [snippet[pos:start], left, snippet[start:end], right]
        pos = end
    out.append(snippet[pos:])
    return " ".join("".join(out).split())


def search(
    index: Any,
    rel: queries.Release,
    *,
    text_contains: str,
    languages: tuple[str, ...] = (),
    domain: str = "",
    url_contains: str = "",
    date_from: str | None = None,
    date_to: str | None = None,
) -> dict[str, Any]:
    """BM25 search of the index, then the page's other filters on the hits.

    The index filters language itself when one language is picked (several: the hits are filtered here). The
    domain, URL and date filters are applied to the best SEARCH_LIMIT hits with the same WHERE clause as the
    DuckDB path, looked up by id (no text is read), so the meaning of those filters does not change.

    Returns {"rows": hits in rank order (HIT_COLUMNS plus `highlights` and `raw_snippet`), "matched": documents
    matching the words (and the language, when the index filtered it), "ranked": how many best hits were
    ranked, "filtered": whether the other filters dropped some of them, "elapsed_ms": the index's time}.
    Raises MembershipIndexError for a query with no words (e.g. only punctuation)."""
    one_language = languages[0] if len(languages) == 1 else None
    report = index.search(text_contains, language=one_language, limit=SEARCH_LIMIT)
    hits = [h for h in report.hits if not languages or h.language in languages]
    frame = pl.DataFrame(
        {
            "rank": list(range(1, len(hits) + 1)),
            "score": [h.score for h in hits],
            "id": [h.id for h in hits],
            "url": [h.url for h in hits],
            "language": [h.language for h in hits],
            "title": [h.title for h in hits],
            "snippet": [marked(h.snippet, h.highlights) for h in hits],
            "highlights": [[list(r) for r in h.highlights] for h in hits],
            "raw_snippet": [h.snippet for h in hits],
        },
        schema={
            "rank": pl.Int64, "score": pl.Float64, "id": pl.String, "url": pl.String, "language": pl.String,
            "title": pl.String, "snippet": pl.String, "highlights": pl.List(pl.List(pl.Int64)),
            "raw_snippet": pl.String,
        },
    )  # fmt: skip
    other = {"domain": domain, "url_contains": url_contains, "date_from": date_from, "date_to": date_to}
    filtered = False
    if frame.height and any(other.values()):
        clause, params = _search_filter(**other)
        rows = _frame(
            rel,
            f"SELECT id FROM documents {clause} {'AND' if clause else 'WHERE'} list_contains($ids, id)",
            **params,
            ids=frame["id"].to_list(),
        )
        kept = set(rows["id"].to_list())
        filtered = len(kept) < frame.height
        frame = frame.filter(pl.col("id").is_in(kept)).with_columns(rank=pl.int_range(1, pl.len() + 1))
    return {"rows": frame, "matched": report.total, "ranked": len(report.hits), "filtered": filtered,
            "elapsed_ms": report.elapsed_ms}  # fmt: skip

"""The "Am I in the training data?" page: a domain, a URL or a pasted text against one release."""

from __future__ import annotations

from typing import Any

import polars as pl

from audit_app.queries.base import (
    DOCUMENT_LIST_COLUMNS,
    LEDGER_LIST_COLUMNS,
    MAX_INPUT_CHARS,
    TEXT_COND,
    Release,
    _columns,
    _frame,
    _rows,
    _scalar,
    domain_cond,
    domain_query,
    sha256_hex,
    similar_urls,
    text_params,
    url_cond,
)
from pipeline.text_identity import normalise_text, release_form_changes


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

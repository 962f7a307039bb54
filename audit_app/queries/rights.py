"""The rights-holder page: one subject (domain, URL or text) in one release."""

from __future__ import annotations

from typing import Any, Literal

from audit_app.queries.base import (
    TEXT_COND,
    Release,
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
from audit_app.queries.membership import _verdict

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

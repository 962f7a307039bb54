"""The Opt-out compliance page (format 2 on: the optout_evidence table and the manifest's `optout` section)."""

from __future__ import annotations

from typing import Any

import polars as pl

from audit_app.queries.base import (
    EVIDENCE_LIST_COLUMNS,
    LEDGER_LIST_COLUMNS,
    Release,
    _columns,
    _frame,
    _rows,
    _scalar,
    clean_input,
    domain_cond,
    domain_query,
)

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

"""The Document page: one row (kept or removed), its duplicate cluster and its opt-out evidence."""

from __future__ import annotations

from typing import Any

import polars as pl

from audit_app.queries.base import EVIDENCE_COLUMNS, Release, _columns, _frame, clean_input
from pipeline import url_identity


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


def optout_document(rel: Release, doc_id: str, url: str | None = None, *, limit: int = 200) -> dict[str, Any]:
    """Opt-out evidence about one record (rows whose document_id is its id) and the policy files of its
    origin (from its URL and from its evidence rows)."""
    doc_id = clean_input(doc_id, 500)
    evidence = _frame(
        rel,
        f"""
        SELECT {_columns(EVIDENCE_COLUMNS)} FROM optout_evidence WHERE document_id = $id
        ORDER BY verdict = 'reserved' DESC, signal, rule LIMIT $limit
        """,
        id=doc_id,
        limit=int(limit),
    )
    origins = sorted({o for o in [url_identity.site_key(url), *evidence["origin"].to_list()] if o})
    policy = _frame(
        rel,
        f"""
        SELECT {_columns(EVIDENCE_COLUMNS)} FROM optout_evidence
        WHERE kind = 'policy_file' AND list_contains($origins, origin)
        ORDER BY origin, signal, fetched_at DESC NULLS LAST LIMIT $limit
        """,
        origins=origins or [""],
        limit=int(limit),
    )
    return {"evidence": evidence, "policy_files": policy, "origins": origins}

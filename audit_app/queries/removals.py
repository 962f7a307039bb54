"""The Removals page: the ledger per stage and reason, and examples of one reason."""

from __future__ import annotations

from typing import Any

import polars as pl

from audit_app.queries.base import LEDGER_LIST_COLUMNS, Release, _columns, _frame, _scalar


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

"""The Dedup explorer: duplicate clusters, their sizes, members and the texts side by side."""

from __future__ import annotations

from typing import Any

import polars as pl

from audit_app.queries.base import Release, _frame, _rows, clean_input

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

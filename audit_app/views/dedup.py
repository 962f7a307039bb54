"""Dedup explorer: the duplicate clusters of the release, largest first, with a size histogram; for one
cluster, its kept document (the keeper) and the records removed as its exact or near duplicates, with the
estimated Jaccard similarity the pipeline measured, and the keeper's text next to a removed member's text with
the passages that differ highlighted word by word (escaped text, see audit_app/textdiff.py).

Deep link: `?cluster=<keeper id>`."""

from __future__ import annotations

import polars as pl
import streamlit as st

from audit_app import charts, common, textdiff
from pipeline.reasons import reason_text

st.title("Dedup explorer")
ngram = common.release().manifest.get("config", {}).get("dedup", {}).get("ngram_size") or "n"
st.caption(
    "A cluster is one kept document (the keeper, whose id is the cluster id) and the records removed as its "
    f"duplicates. dedup_exact: {reason_text('dedup_exact')} dedup_near: {reason_text('dedup_near')} "
    f"Similarity is the estimated share of {ngram}-word sequences the two texts have in common (Jaccard similarity: "
    "1.0 = the same sequences)."
)

summary = common.query("dedup_summary")
cols = st.columns(4)
cols[0].metric("Clusters", f"{summary['clusters']:,}", help="Kept documents that have at least one duplicate.")
cols[1].metric("Removed as exact duplicates", f"{summary['exact']:,}", help=reason_text("dedup_exact"))
cols[2].metric("Removed as near duplicates", f"{summary['near']:,}", help=reason_text("dedup_near"))
cols[3].metric("Largest cluster", f"{summary['largest']:,}", help="Members, keeper included.")
if not summary["clusters"]:
    st.info("No duplicates: every document in this release is unique.")
    st.stop()

sizes = common.query("dedup_sizes")
st.subheader("Cluster sizes")
chart = charts.bars(
    sizes.with_columns(pl.col("size").cast(pl.String)), "size", "clusters", count_title="clusters",
    category_title="members (keeper included)", sort=None, horizontal=False,
)  # fmt: skip
st.altair_chart(chart, key="sizes_chart")
st.caption("How many clusters have each number of members. A log scale is used when one size dominates.")

LIMIT = 500
clusters = common.query("dedup_clusters", limit=LIMIT)
st.subheader("Clusters")
more = f" (the {LIMIT:,} largest of {summary['clusters']:,})" if summary["clusters"] > LIMIT else ""
st.caption(
    f"Largest first{more}; "
    "min_jaccard is the lowest estimated similarity of a removed member to its keeper (1.0 for exact copies)."
)
common.show_table(clusters, key="clusters", link_column="cluster_id", download="dedup-clusters", height=300)

options = clusters["cluster_id"].to_list()
labels = {
    row["cluster_id"]: f"{row['size']} members · {row['keeper_url'] or row['cluster_id']}"
    for row in clusters.iter_rows(named=True)
}
linked = st.query_params.get("cluster", "")
if linked in labels and st.session_state.get("_cluster_linked") != linked:
    st.session_state["_cluster_linked"] = linked
    st.session_state["cluster"] = linked
cluster_id = st.selectbox("Cluster", options, key="cluster", format_func=lambda c: labels.get(c, c))
if cluster_id != linked:
    st.query_params["cluster"] = cluster_id
    st.session_state["_cluster_linked"] = cluster_id

members = common.query("dedup_members", cluster_id=cluster_id)
removed = members.filter(members["role"] == "removed")
st.subheader("Keeper and removed members")
common.show_table(members, key="members", download=f"cluster-{common.file_stem(cluster_id)}")
common.link_to_document(cluster_id, label="Open the keeper in the document view")

if not removed.height:
    st.info("The ledger has no removed member for this cluster.")
    st.stop()

member_labels = {
    row["id"]: f"{row['url'] or row['id']} · {row['reason']}"
    + (f" · similarity {row['estimated_jaccard']:.2f}" if row["estimated_jaccard"] is not None else "")
    for row in removed.iter_rows(named=True)
}
member_id = st.selectbox(
    "Compare the keeper with", list(member_labels), key="member", format_func=lambda m: member_labels.get(m, m)
)
pair = common.query("dedup_texts", cluster_id=cluster_id, member_id=member_id)
reason = removed.filter(removed["id"] == member_id).row(0, named=True)

st.caption(f"{common.code_span(reason['reason'])}: {reason_text(reason['reason'])}")
both = pair["keeper_text"] is not None and pair["member_text"] is not None
diff = textdiff.word_diff(pair["keeper_text"], pair["member_text"]) if both else None
if diff is not None and pair["keeper_text"] == pair["member_text"]:
    st.caption("The two texts are identical.")
elif diff is not None:
    st.caption(
        f"Differences word by word: {common.plural(len(diff.removed), 'passage')} only in the keeper (struck "
        f"through, red), {common.plural(len(diff.inserted), 'passage')} only in the removed copy (green)."
        + (f" Only the first {textdiff.MAX_WORDS:,} words are compared." if diff.truncated else "")
    )
    st.html(textdiff.STYLE)
left, right = st.columns(2)
with left:
    st.markdown("**Keeper (in the release)**")
    st.code(pair["keeper_url"] or cluster_id, language=None, wrap_lines=True)
    if pair["keeper_text"] is None:
        st.warning("The keeper is not in the documents table.")
    elif diff is not None:
        st.html(diff.keeper_html)
    else:
        st.code(pair["keeper_text"], language=None, wrap_lines=True)
with right:
    st.markdown(f"**Removed ({common.code_span(reason['reason'])})**")
    st.code(pair["member_url"] or member_id, language=None, wrap_lines=True)
    if pair["member_text"] is None:
        st.info("The ledger keeps no text for this record (the run did not keep ledger text).")
    elif diff is not None:
        st.html(diff.member_html)
    else:
        st.code(pair["member_text"], language=None, wrap_lines=True)
    if reason["detail"]:
        st.caption("Ledger detail: " + common.code_span(reason["detail"]))

"""Dedup explorer: the duplicate clusters of the release, largest first, with a size histogram; for one
cluster, its kept document (the keeper) and the records removed as its exact or near duplicates, with the
estimated Jaccard similarity the pipeline measured, and the keeper's text next to a removed member's text
(shown as plain text).

Deep link: `?cluster=<keeper id>`."""

from __future__ import annotations

import altair as alt
import streamlit as st

from audit_app import common

st.title("Dedup explorer")
common.release()
st.caption(
    "A cluster is one kept document (the keeper, whose id is the cluster id) and the records removed as its "
    "duplicates: dedup_exact = same normalised text; dedup_near = MinHash-estimated Jaccard similarity of word "
    "shingles above the configured threshold."
)

summary = common.query("dedup_summary")
cols = st.columns(4)
cols[0].metric("Clusters", f"{summary['clusters']:,}", help="Kept documents that have at least one duplicate.")
cols[1].metric("Removed as exact duplicates", f"{summary['exact']:,}")
cols[2].metric("Removed as near duplicates", f"{summary['near']:,}")
cols[3].metric("Largest cluster", f"{summary['largest']:,}", help="Members, keeper included.")
if not summary["clusters"]:
    st.info("No duplicates: every document in this release is unique.")
    st.stop()

sizes = common.query("dedup_sizes")
st.subheader("Cluster sizes")
chart = (
    alt.Chart(sizes)
    .mark_bar()
    .encode(
        x=alt.X("size:O", title="members (keeper included)"),
        y=alt.Y("clusters:Q", title="clusters", axis=alt.Axis(tickMinStep=1, format="d")),
        tooltip=["size", "clusters"],
    )
)
st.altair_chart(chart, key="sizes_chart")

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
    + (f" · jaccard {row['estimated_jaccard']:.2f}" if row["estimated_jaccard"] is not None else "")
    for row in removed.iter_rows(named=True)
}
member_id = st.selectbox(
    "Compare the keeper with", list(member_labels), key="member", format_func=lambda m: member_labels.get(m, m)
)
pair = common.query("dedup_texts", cluster_id=cluster_id, member_id=member_id)
reason = removed.filter(removed["id"] == member_id).row(0, named=True)

if pair["keeper_text"] is not None and pair["keeper_text"] == pair["member_text"]:
    st.caption("The two texts are identical.")
left, right = st.columns(2)
with left:
    st.markdown("**Keeper (in the release)**")
    st.code(pair["keeper_url"] or cluster_id, language=None, wrap_lines=True)
    if pair["keeper_text"] is None:
        st.warning("The keeper is not in the documents table.")
    else:
        st.code(pair["keeper_text"], language=None, wrap_lines=True)
with right:
    st.markdown(f"**Removed ({common.code_span(reason['reason'])})**")
    st.code(pair["member_url"] or member_id, language=None, wrap_lines=True)
    if pair["member_text"] is None:
        st.info("The ledger keeps no text for this record (the run did not keep ledger text).")
    else:
        st.code(pair["member_text"], language=None, wrap_lines=True)
    if reason["detail"]:
        st.caption("Ledger detail: " + common.code_span(reason["detail"]))

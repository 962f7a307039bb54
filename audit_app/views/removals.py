"""Removals: every input record that is not in the release, counted by stage and reason from the ledger
(checked against the manifest), with a drill-down to the removed records of one reason."""

from __future__ import annotations

import altair as alt
import streamlit as st

from audit_app import common

st.title("Removals")
rel = common.release()
summary = common.query("ledger_summary")
counts = rel.manifest.get("counts", {})
total = int(summary["records"].sum()) if summary.height else 0

cols = st.columns(4)
cols[0].metric("Input records", f"{counts.get('inputs', 0):,}")
cols[1].metric("Removed records", f"{total:,}", help="Rows of the ledger table.")
cols[2].metric("Documents", f"{counts.get('kept', 0):,}")
cols[3].metric("Removal reasons", f"{summary.height:,}")

if not summary.height:
    st.success("Nothing was removed: every input record is in the release.")
    st.stop()

mismatch = summary.filter(summary["manifest"].is_null() | (summary["manifest"] != summary["records"]))
if mismatch.height or total != counts.get("removed"):
    st.error("The ledger does not agree with the manifest's removal counts: the release may have been altered.")
    common.show_table(mismatch, key="mismatch", link_column=None)
else:
    st.caption("Counted in the ledger table; every count agrees with the manifest (`counts.removed_by_stage`).")

stages = summary["stage"].unique(maintain_order=True).to_list()
chart = (
    alt.Chart(summary)
    .mark_bar()
    .encode(
        x=alt.X("records:Q", title="removed records"),
        y=alt.Y("reason:N", sort=None, title=None),
        color=alt.Color("stage:N", sort=stages, title="stage"),
        tooltip=["stage", "reason", "records"],
    )
)
st.subheader("By stage and reason")
st.altair_chart(chart, key="removals_chart")
common.show_table(summary, key="summary", link_column=None, download="removals-by-reason")

st.subheader("Examples")
choices = [f"{stage} / {reason}" for stage, reason in summary.select("stage", "reason").iter_rows()]
choice = st.selectbox("Stage / reason", choices, key="reason")
stage, reason = choice.split(" / ", 1)
why = common.STAGE_HELP.get(stage)
if why:
    st.caption(f"Stage {common.code_span(stage)}: {why}.")
limit = st.selectbox("Rows", [25, 100, 500], key="example_rows")
examples = common.query("ledger_examples", stage=stage, reason=reason, limit=limit)
st.caption(
    f"{common.plural(examples['total'], 'record')} removed for {common.code_span(reason)}; "
    f"showing {examples['rows'].height:,}."
)
state = common.show_table(
    examples["rows"], key="examples", download=f"removed-{common.file_stem(reason)}", selectable=True
)
chosen = common.selected_id(state, examples["rows"])
if chosen:
    common.link_to_document(chosen)

"""Removals: every input record that is not in the release, counted by stage and reason from the ledger
(checked against the manifest), with a drill-down to the removed records of one reason."""

from __future__ import annotations

import altair as alt
import streamlit as st

from audit_app import charts, common
from pipeline.reasons import reason_text, step_name, with_plain_names

st.title("Removals")
rel = common.release()
summary = common.query("ledger_summary")
counts = rel.manifest.get("counts", {})
total = int(summary["records"].sum()) if summary.height else 0

cols = st.columns(4)
cols[0].metric("Input records", f"{counts.get('inputs', 0):,}", help="Every record read from the inputs.")
cols[1].metric("Removed records", f"{total:,}", help="Records not in the release, each with its reason (the ledger).")
cols[2].metric("Documents", f"{counts.get('kept', 0):,}", help="Records kept: the training data of this release.")
cols[3].metric("Removal reasons", f"{summary.height:,}", help="Different reasons a record was removed for.")

if not summary.height:
    st.success("Nothing was removed: every input record is in the release.")
    st.stop()

mismatch = summary.filter(summary["manifest"].is_null() | (summary["manifest"] != summary["records"]))
if mismatch.height or total != counts.get("removed"):
    st.error("The ledger does not agree with the manifest's removal counts: the release may have been altered.")
    common.show_table(mismatch, key="mismatch", link_column=None)
else:
    st.caption("Counted in the ledger table; every count agrees with the manifest (`counts.removed_by_stage`).")

summary = with_plain_names(summary)
chart = charts.bars(
    summary, "reason", "records", count_title="removed records", sort=None,
    colour="step", colours=charts.stage_colours(), colour_title="step",
    tooltip=["step", "reason", "what it means", alt.Tooltip("records:Q", format=",d")],
)  # fmt: skip
st.subheader("By step and reason")
st.altair_chart(chart, key="removals_chart")
common.show_table(
    summary.select("step", "reason", "what it means", "records", "manifest", "stage"),
    key="summary", link_column=None, download="removals-by-reason",
)  # fmt: skip

st.subheader("Examples")
choices = [f"{stage} / {reason}" for stage, reason in summary.select("stage", "reason").iter_rows()]
choice = st.selectbox("Stage / reason", choices, key="reason")
stage, reason = choice.split(" / ", 1)
st.caption(f"Step {common.code_span(step_name(stage, reason))}: {reason_text(reason, stage)}")
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

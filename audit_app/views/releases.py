"""Releases: every release under the data root (id, format, counts, config hash, parent), their lineage as a
graph, what a derived release applied (registry state, snapshots), and the diff between any two: which
documents left and why, which arrived, by reason and by domain — the same numbers as `apertura release diff`.

Listing reads manifests only; the diff reads the two releases' documents and ledger
(pipeline.release_read.diff.release_diff behind audit_app.lineage.diff, after both were checked to be sound
releases under the data root)."""

from __future__ import annotations

import altair as alt
import polars as pl
import streamlit as st

from audit_app import charts, common, lineage, queries
from pipeline.reasons import with_plain_names

st.title("Releases")
st.caption(
    "Every release in this data directory and where it comes from. A derived release is built from its parent by "
    "`apertura release derive --apply-optouts`: the same documents minus those that opt-outs in force then cover."
)

root = queries.data_root()
catalog = common.catalog(str(root))
if catalog.height == 0:
    st.info(f"No release under the data root {common.code_span(root)} yet.")
    st.stop()
for row in catalog.filter(pl.col("error").is_not_null()).iter_rows(named=True):
    st.warning(f"Release {common.code_span(row['path'])} cannot be read: " + common.plain(row["error"]))
readable = catalog.filter(pl.col("error").is_null())

TABLE_COLUMNS = ("release_id", "path", "parent_id", "derived_at", "format_version", "documents", "removed",
                 "registry_entries", "snapshots", "config_hash", "parent_path")  # fmt: skip
common.show_table(
    catalog.select(TABLE_COLUMNS).rename({"format_version": "format", "parent_id": "parent"}),
    key="releases_table",
    link_column=None,
    download="releases",
)
unmatched = readable.filter(pl.col("parent_id").is_not_null() & pl.col("parent_path").is_null())
for row in unmatched.iter_rows(named=True):
    st.caption(
        f"{common.code_span(row['release_id'])} names the parent {common.code_span(row['parent_id'])}, but no "
        "release under the data root has that parent's manifest (sha256 "
        f"{common.code_span(row['parent_manifest_sha256'])}): it was moved, rebuilt or altered."
    )

st.subheader("Lineage")
if readable["parent_id"].is_not_null().any():
    st.graphviz_chart(lineage.lineage_dot(readable), width="stretch")
else:
    st.caption("No derived release yet: every release here was built from crawled inputs.")

# ---- one derived release: what it applied
derived = readable.filter(pl.col("parent_id").is_not_null())
if derived.height:
    st.subheader("What a derived release applied")
    labels = {r["path"]: f"{r['release_id']} ({r['path']})" for r in derived.iter_rows(named=True)}
    picked = st.selectbox("Derived release", list(labels), format_func=labels.get, key="rel_derived")
    info = common.query_release(picked, "release_lineage")
    parent = info["parent"] or {}
    st.markdown(
        f"Derived from {common.code_span(parent.get('release_id', '?'))} (manifest sha256 "
        f"{common.code_span(parent.get('manifest_sha256', '?'))}) with the opt-outs in force at "
        f"{common.code_span(info['derived_at'] or '?')}."
    )
    reg = info["registry"]
    if reg:
        cols = st.columns(3)
        cols[0].metric(
            "Registry entries", f"{reg.get('entries', 0):,}", help="Opt-outs in force that this release applied."
        )
        cols[1].metric("Registry as of", str(reg.get("as_of") or "-"), help="When that registry state was taken.")
        cols[2].metric("Registry path", str(reg.get("path") or "-"), help="Where the registry was read from.")
        st.caption("Registry state sha256 (recomputed by `apertura verify` from the registry files):")
        st.code(str(reg.get("sha256")), language=None)
    else:
        st.caption("No registry was applied (snapshots only).")
    if info["snapshots"].height:
        st.markdown(f"**Opt-out snapshots applied** ({info['snapshots'].height:,} files)")
        common.show_table(info["snapshots"], key="rel_snapshots", link_column=None)
    else:
        st.caption("No newer robots.txt / tdmrep.json / ai.txt snapshot was applied.")

# ---- the diff between two releases
st.subheader("Diff")
paths = readable["path"].to_list()
names = {r["path"]: f"{r['release_id']} ({r['path']})" for r in readable.iter_rows(named=True)}
if len(paths) < 2:
    st.caption("A diff needs two releases.")
    st.stop()
# Default: the first derived release against its parent; else the first two releases.
pairs = [(r["parent_path"], r["path"]) for r in derived.iter_rows(named=True) if r["parent_path"] in paths]
old_default, new_default = pairs[0] if pairs else (paths[0], paths[1])
left, right = st.columns(2)
old = left.selectbox("Earlier release", paths, index=paths.index(old_default), format_func=names.get, key="diff_old")
new = right.selectbox("Later release", paths, index=paths.index(new_default), format_func=names.get, key="diff_new")
if old == new:
    st.info("Pick two different releases.")
    st.stop()


@st.cache_data(show_spinner="Comparing the releases…", max_entries=32)
def _diff(old: str, new: str, root: str, old_sha: str, new_sha: str) -> dict:
    """Cached per pair and per manifest hash: a release is immutable, a changed manifest is another release."""
    return lineage.diff(old, new, root=root)


shas = dict(zip(readable["path"].to_list(), readable["manifest_sha256"].to_list(), strict=True))
try:
    data = _diff(old, new, str(root), shas[old], shas[new])
except queries.ReleaseAccessError as err:
    st.error("The diff cannot be computed: " + common.plain(err))
    st.stop()

cols = st.columns(4)
# Metric labels are Markdown: release ids come from manifests, so they are escaped.
cols[0].metric(
    f"Documents in {common.plain(data['old'])}", f"{data['kept']['old']:,}", help="Documents of the earlier release."
)
cols[1].metric(
    f"Documents in {common.plain(data['new'])}", f"{data['kept']['new']:,}", help="Documents of the later release."
)
cols[2].metric("Left", f"{data['removed']:,}", help="In the earlier release, not in the later one.")
cols[3].metric("Arrived", f"{data['added']:,}", help="In the later release, not in the earlier one.")
if not data["removed"] and not data["added"]:
    st.success("The two releases hold the same documents.")

stem = common.file_stem(f"{data['old']}-{data['new']}")
by_reason, by_domain = data["removed_by_reason"], data["removed_by_domain"]
if by_reason.height:
    st.markdown("**Why documents left** (the later release's ledger: stage and reason)")
    by_reason = with_plain_names(by_reason)
    chart = charts.bars(
        by_reason, "reason", "n", count_title="documents", colour="step", colours=charts.stage_colours(),
        colour_title="step", tooltip=["step", "reason", "what it means", alt.Tooltip("n:Q", format=",d")],
    )  # fmt: skip
    st.altair_chart(chart, width="stretch")
    common.show_table(by_reason, key="diff_reasons", link_column=None, download=f"diff-{stem}-by-reason")
if by_domain.height:
    st.markdown("**Left, by domain**")
    top = by_domain.group_by("domain").agg(pl.col("n").sum()).sort("n", "domain", descending=[True, False]).head(20)
    shown = by_domain.filter(pl.col("domain").is_in(top["domain"].implode()))
    chart = charts.bars(
        shown, "domain", "n", count_title="documents", colour="reason",
        colours={r: charts.STAGE_COLOUR["optout"] for r in shown["reason"].unique() if r.startswith("optout_")},
        colour_title="reason", tooltip=["domain", "reason", alt.Tooltip("n:Q", format=",d")], log=False,
    )  # fmt: skip
    st.altair_chart(chart, width="stretch")
    common.show_table(by_domain, key="diff_domains", link_column=None, download=f"diff-{stem}-by-domain")
if data["added_by_domain"].height:
    st.markdown("**Arrived, by domain**")
    common.show_table(data["added_by_domain"], key="diff_added", link_column=None, download=f"diff-{stem}-added")
if data["removed_examples"].height:
    st.markdown(f"**Examples of documents that left** (first {data['removed_examples'].height} by id)")
    common.show_table(data["removed_examples"], key="diff_removed_examples", link_column=None)
if data["added_examples"].height:
    st.markdown(f"**Examples of documents that arrived** (first {data['added_examples'].height} by id)")
    common.show_table(data["added_examples"], key="diff_added_examples", link_column=None)
st.caption(f"Same as {common.code_span(f'apertura release diff {old} {new}')} (paths relative to the data root).")

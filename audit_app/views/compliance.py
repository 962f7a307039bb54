"""Opt-out compliance: which opt-out signals were seen (site policy files and per-document statements), what
was decided for each signal, which agents were honoured, and the violation check: the number of documents in
the release that match an opt-out, with the exact SQL that computes it, so anyone can re-run the proof.

Format 1 releases predate the opt-out evidence table: the page says so and shows empty tables."""

from __future__ import annotations

import altair as alt
import polars as pl
import streamlit as st

from audit_app import charts, common

st.title("Opt-out compliance")
rel = common.release()
info = common.query("optout_info")
section = info["manifest"]

if not info["has_evidence"]:
    st.info(
        f"This release predates opt-out evidence (format version {common.plain(info['format_version'])}): it has "
        "no optout_evidence table and no opt-out section in its manifest. The tables below are empty."
    )
elif section is None:
    st.warning("The manifest has no `optout` section: the agents honoured and the snapshots used are not recorded.")

violations = common.query("optout_violations")

cols = st.columns(5)
cols[0].metric(
    "Violations", f"{violations['violations']:,}", help="Documents in the release that match an opt-out (must be 0)."
)
cols[1].metric(
    "Removed for opt-out", f"{info['removed']:,}", help="Records excluded because their rights holder asked."
)
cols[2].metric(
    "Reserved records", f"{info['reserved_documents']:,}", help="Records about which an opt-out ('reserved') was seen."
)
cols[3].metric("Policy files", f"{info['policy_files']:,}", help="robots.txt, tdmrep.json and ai.txt fetches seen.")
cols[4].metric("Origins with a policy", f"{info['policy_origins']:,}", help="Sites (host and port) with a policy file.")

# ------------------------------------------------------------------------------------------ violations
st.subheader("Violation check")
if violations["violations"] == 0:
    st.success(
        "0 violations: no document in this release has a 'reserved' opt-out decision, and none has the URL of a "
        "record removed for opt-out."
    )
else:
    st.error(
        f"{common.plural(violations['violations'], 'document')} in this release "
        f"{'matches' if violations['violations'] == 1 else 'match'} an opt-out "
        f"({violations['by_reserved_id']:,} by a reserved decision on its id, "
        f"{violations['by_removed_url']:,} by the URL of a record removed for opt-out)."
    )
    common.show_table(violations["rows"], key="violations", download="optout-violations")
st.caption("The count above is the result of this query, run on the release's tables as shown:")
st.code(violations["sql"], language="sql")

# ------------------------------------------------------------------------------------------ agents
st.subheader("Agents honoured")
if section is not None:
    agents = [str(a) for a in section.get("agents", [])]
    state = "enabled" if section.get("enabled") else "DISABLED in this run"
    st.caption(
        f"Opt-out checking was {state}. A reservation for any of these {common.plural(len(agents), 'user agent')} "
        "removes a record:"
    )
    if agents:
        st.code(", ".join(agents), language=None, wrap_lines=True)
    snapshots = section.get("snapshots", [])
    if snapshots:
        st.caption("Opt-out snapshots (policy files fetched apart from the crawl) applied to this release:")
        snap = pl.DataFrame(
            [{"path": str(s.get("path")), "sha256": str(s.get("sha256")), "bytes": s.get("bytes")} for s in snapshots],
            schema={"path": pl.String, "sha256": pl.String, "bytes": pl.Int64},
        )
        common.show_table(snap, key="snapshots", link_column=None, download="optout-snapshots")
    st.caption(
        f"Manifest: {section.get('policy_files', 0):,} policy files from {section.get('origins', 0):,} origins; "
        f"{section.get('removed', 0):,} records removed."
    )
else:
    st.caption("Not recorded in this release's manifest.")

# ------------------------------------------------------------------------------------------ decisions
st.subheader("Signals and decisions")
signals = common.query("optout_signals")
if signals.height:
    chart = (
        charts.bars(
            signals, "signal", "rows", count_title="evidence rows", sort=None,
            colour="verdict", colours=charts.VERDICT_COLOUR, colour_title="verdict",
            tooltip=["kind", "signal", "verdict", "rows", "documents", "origins"],
        )
        .facet(row=alt.Row("kind:N", title=None, header=alt.Header(labelAngle=0, labelAlign="left")))
        .resolve_scale(y="independent")  # each kind lists only its own signals: no empty category
    )  # fmt: skip
    st.altair_chart(chart, key="signals_chart")
    st.caption(
        "Colours by meaning: reserved (an opt-out, honoured: excluded as asked), allowed (grey), a policy file "
        "observed, not found (no statement) or unreadable. A violation would be red."
    )
else:
    st.caption("No opt-out signal was recorded in this release.")
common.show_table(signals, key="signals", link_column=None, download="optout-signals")

removed = common.query("optout_removed")
st.markdown("**Removed for opt-out, per signal** (ledger, beside the manifest's `optout.removed_by_signal`)")
if removed.height:
    if section is not None and removed.filter(pl.col("manifest").ne_missing(pl.col("records"))).height:
        st.error("The ledger does not agree with the manifest's opt-out counts: the release may have been altered.")
    common.show_table(removed, key="removed", link_column=None, download="optout-removed")
else:
    st.caption("No record was removed for opt-out.")

# ------------------------------------------------------------------------------------------ per origin
st.subheader("Per site")
origins = common.query("optout_origins")
st.caption(
    "Each origin (host, and port when not the default) with the policy files seen for it and the decisions "
    f"about its records (the first {origins.height:,}, most reserved records first). Select a row, or type a "
    "domain, to see its evidence."
)
state = common.show_table(origins, key="origins", link_column=None, download="optout-origins", selectable=True)
picked = common.selected_id(state, origins, column="domain") if origins.height else None
typed = st.text_input("Domain", key="optout_domain", placeholder="example.org")
target = typed.strip() or picked
if target:
    try:
        site = common.query("optout_domain", domain=target)
    except ValueError as err:
        common.input_error(err)
        st.stop()
    name = common.code_span(site["query"])
    st.markdown(
        f"**{name}**: {common.plural(site['kept'], 'document')} in the release, "
        f"{common.plural(site['removed'], 'record')} removed for opt-out."
    )
    st.markdown(f"Policy files ({site['policy_files'].height:,})")
    if site["policy_files"].height:
        common.show_table(
            common.flat(site["policy_files"]), key="site_policy", link_column=None,
            download=f"policy-files-{common.file_stem(site['query'])}",
        )  # fmt: skip
    else:
        st.caption("No robots.txt, tdmrep.json or ai.txt fetch recorded for this site.")
    st.markdown(f"Decisions about its records ({site['decisions'].height:,})")
    if site["decisions"].height:
        common.show_table(
            common.flat(site["decisions"]), key="site_decisions", link_column="document_id",
            download=f"decisions-{common.file_stem(site['query'])}",
        )  # fmt: skip
    st.markdown(f"Removed for opt-out ({site['removed']:,})")
    if site["removed_rows"].height:
        common.show_table(
            site["removed_rows"], key="site_removed", download=f"optout-removed-{common.file_stem(site['query'])}"
        )

"""Reports: the EU AI Act public summary of training content, Croissant metadata and a datasheet, computed
from the open release alone and offered as downloads (the same documents `apertura report` writes)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import streamlit as st

from audit_app import common


@st.cache_data(show_spinner=False, ttl=600)
def _reports(path: str, manifest_sha: str, provider: str, model: str) -> dict[str, str]:
    """Every report as text. Inputs named by the manifest are never opened (`inspect_inputs=False`): the
    app reads the release only."""
    from pipeline.reports.croissant import build_croissant
    from pipeline.reports.datasheet import build_datasheet
    from pipeline.reports.eu_summary import SummaryOptions, build_summary, summary_html, summary_markdown

    options = SummaryOptions(inspect_inputs=False, provider=provider or None, model=model or None, ask_as="words")
    summary = build_summary(Path(path), options)
    return {
        "md": summary_markdown(summary),
        "html": summary_html(summary),
        "json": summary.to_json(),
        "croissant": json.dumps(build_croissant(Path(path), summary=summary), indent=2),
        "datasheet": build_datasheet(Path(path), summary=summary, options=options),
    }


st.title("Reports")
release = common.release()
st.caption(
    "The EU AI Act Art. 53(1)(d) public summary (AI Office template, July 2025), Croissant JSON-LD and a datasheet, "
    "computed with DuckDB from this release. The same files come from the command line (`apertura report`), where "
    "the fields the release cannot know can all be given."
)
with st.form("report-options"):
    provider = st.text_input("Provider name and contact (section 1.1)", max_chars=300)
    model = st.text_input("Versioned model name (section 1.2)", max_chars=200)
    st.form_submit_button("Update")
manifest_sha = hashlib.sha256((release.path / "manifest.json").read_bytes()).hexdigest()  # the cache key
# The summary's shares are by text bytes: computing it reads every text (seconds at a million documents), said first
what, about = common.scan_phrase([release.manifest], ("documents",))
st.caption(
    f"Computed from the release's tables: the summary's shares are by text size, so this reads the text of all "
    f"{what}, which can take {about}; the reports are then kept for 10 minutes."
)
try:
    with st.spinner(f"Computing the reports: reading the text of {what} ({about})…"):
        reports = _reports(str(release.path), manifest_sha, provider.strip(), model.strip())
except Exception as err:  # shown as text: a report must never take the page down
    st.error("The reports could not be computed: " + common.plain(err))
    st.stop()

stem = common.file_stem(str(release.manifest.get("release_id", "release")))
cols = st.columns(5)
cols[0].download_button("Summary (Markdown)", reports["md"], f"{stem}-eu-summary.md", "text/markdown")
cols[1].download_button("Summary (HTML)", reports["html"], f"{stem}-eu-summary.html", "text/html")
cols[2].download_button("Summary (JSON)", reports["json"], f"{stem}-eu-summary.json", "application/json")
cols[3].download_button("Croissant", reports["croissant"], f"{stem}-croissant.json", "application/ld+json")
cols[4].download_button("Datasheet", reports["datasheet"], f"{stem}-datasheet.md", "text/markdown")
with st.expander("Public summary of training content", expanded=True):
    st.markdown(reports["md"])  # the renderer escapes every value taken from the data; no HTML is enabled

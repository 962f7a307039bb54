"""Reports: the EU AI Act public summary of training content, Croissant metadata and a datasheet, computed
from the open release alone and offered as downloads (the same documents `apertura report` writes)."""

from __future__ import annotations

import contextlib
import hashlib
import json
from pathlib import Path

import streamlit as st

from audit_app import common, queries
from pipeline.reports.eu_summary import EUSummary

SUMMARY_WAIT_S = 1.0  # a small release's summary is computed within this; a large one's is shown when ready


@st.cache_data(show_spinner=False, ttl=600)
def _reports(path: str, manifest_sha: str, provider: str, model: str, _summary: EUSummary) -> dict[str, str]:
    """Every report as text, from the release's summary (computed once per release in the background, see
    `queries.eu_summary`; it is the summary of the manifest `manifest_sha`, checked by the caller, so not hashed
    again) naming the provider and model given here."""
    from pipeline.reports.croissant import build_croissant
    from pipeline.reports.datasheet import build_datasheet
    from pipeline.reports.eu_summary import summary_html, summary_markdown
    from pipeline.reports.eu_summary.compute import with_names

    options = queries.APP_SUMMARY_OPTIONS.model_copy(update={"provider": provider or None, "model": model or None})
    summary = with_names(_summary, options)
    return {
        "md": summary_markdown(summary),
        "html": summary_html(summary),
        "json": summary.to_json(),
        "croissant": json.dumps(build_croissant(Path(path), summary=summary), indent=2),
        "datasheet": build_datasheet(Path(path), summary=summary, options=options),
    }


@st.fragment(run_every=1.0)
def _summary_polling(what: str, about: str) -> None:
    """Redrawn every second until the summary is computed, then one full rerun shows the reports."""
    if common.background("eu_summary").done():
        st.rerun()
    st.info(
        f"The reports are being computed: their shares are by text size, so the text of all {what} is read once "
        f"({about}), in the background since this release was opened. They appear here when ready, and are then "
        "kept: later visits show them at once."
    )


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
future = common.background("eu_summary")
with contextlib.suppress(TimeoutError):
    future.exception(timeout=SUMMARY_WAIT_S)
if not future.done():
    _summary_polling(*common.scan_phrase([release.manifest], ("documents",)))
    st.stop()
try:
    summary = future.result()
    if summary.general.manifest_sha256 != manifest_sha:  # the release was replaced since it was opened
        raise ValueError("the release changed since it was opened; reload the app to compute its reports")
    reports = _reports(str(release.path), manifest_sha, provider.strip(), model.strip(), summary)
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

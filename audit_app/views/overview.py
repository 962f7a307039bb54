"""Overview: what is in the release (documents, approximate tokens, bytes), its languages, domains, TLDs and
crawl dates, and the funnel from input records through each pipeline stage to the kept documents."""

from __future__ import annotations

import contextlib

import altair as alt
import polars as pl
import streamlit as st

from audit_app import charts, common, proofs

TEXT_WAIT_S = 0.5  # how long a page run waits for the text size before drawing the rest of the page


def _text_size(future) -> None:
    """The Text metric from the background query (it reads every document's text: seconds on a large release)."""
    try:
        size = future.result(timeout=0)
    except Exception as err:  # shown, not raised: the rest of the page stays usable
        st.metric("Text", "-", help="Could not be measured: " + common.plain(err))
        return
    st.metric("Text", common.human_bytes(size), help=f"{size:,} bytes of UTF-8 text.")


@st.fragment(run_every=1.0)
def _text_size_polling() -> None:
    """Redrawn every second until the size is known, then one full rerun draws it without polling."""
    if common.background("text_bytes").done():
        st.rerun()
    st.metric("Text", "…", help="Being measured: every document's text is read once, in the background.")


def text_size_metric() -> None:
    future = common.background("text_bytes")
    with contextlib.suppress(TimeoutError):
        future.exception(timeout=TEXT_WAIT_S)  # a small release is measured by now
    if future.done():
        _text_size(future)
    else:
        _text_size_polling()


st.title("Overview")
common.release()
info = common.query("release_info")
ov = common.query("overview")
st.caption(f"Release {common.code_span(info['release_id'])} · config {common.code_span(info['config_hash'])}")

cols = st.columns(6)
cols[0].metric("Documents", f"{ov['documents']:,}", help="Rows of the documents table (kept records).")
if ov["tokens"] is None:
    cols[1].metric(
        "Tokens (approx.)",
        f"{ov['approx_tokens']:,}",
        help=f"{common.code_span(ov['token_formula'])}; words = {ov['words']:,}. Only an order of magnitude.",
    )
else:
    cols[1].metric("Tokens", f"{ov['tokens']:,}", help=f"{common.code_span(ov['token_formula'])}.")
with cols[2]:
    text_size_metric()
cols[3].metric("Domains", f"{ov['domains']:,}", help="Different sites (host names) the documents come from.")
cols[4].metric("Languages", f"{ov['languages']:,}", help="Different languages identified in the documents.")
cols[5].metric(
    "Removed records",
    f"{ov['removed']:,}",
    help="Input records that are not in the release, each with a reason in the ledger (see Removals).",
)
st.caption(
    f"Tokens: {common.code_span(ov['token_formula'])}. Crawl dates from {common.code_span(ov['first_date'] or '-')} "
    f"to {common.code_span(ov['last_date'] or '-')}."
)
if ov["unreadable_spans"]:
    st.warning(
        f"Unreadable spans: {ov['unreadable_spans']:,} ({common.human_bytes(ov['unreadable_bytes'])}) in "
        f"{ov['unreadable_inputs']:,} input file(s) were no readable record (damaged or garbage bytes). Each is one "
        "removal in the ledger (reason `read_unparsable`, with its file, byte offset and length); reading went on "
        "after each, so the records around them are in the release or the ledger.",
        icon=":material/broken_image:",
    )
elif ov["bytes_accounted"]:
    st.caption("Unreadable spans: none. Every byte of every web-archive input is in a record that was read.")


def chart_with_data(title: str, chart: alt.Chart, frame: pl.DataFrame, key: str) -> None:
    st.subheader(title)
    st.altair_chart(chart, key=f"{key}_chart")
    with st.expander("Data"):
        common.show_table(frame, key=f"{key}_table", link_column=None, download=key)


left, right = st.columns(2)
with left:
    langs = common.query("languages")
    chart = charts.bars(
        langs, "language", "documents", count_title="documents", tooltip=["language", "documents", "words"]
    )
    chart_with_data("Languages", chart, langs, "languages")
with right:
    top = st.slider("Top domains", min_value=5, max_value=50, value=15, step=5, key="top_domains")
    domains = common.query("top_domains", limit=top)
    chart_with_data(
        "Top domains", charts.bars(domains, "domain", "documents", count_title="documents"), domains, "domains"
    )

left, right = st.columns(2)
with left:
    tlds = common.query("tlds", limit=20)
    chart = charts.bars(tlds, "tld", "documents", count_title="documents", horizontal=False)
    chart_with_data("Top-level domains", chart, tlds, "tlds")
with right:
    granularity = charts.time_unit(ov["first_date"], ov["last_date"])
    dates = common.query("crawl_dates", granularity=granularity)
    chart_with_data("Crawl dates", charts.timeline(dates, granularity), dates, "crawl_dates")
    st.caption(f"Documents per {granularity} of fetch, chosen from the span of the dates.")

funnel = common.query("funnel")
chart = charts.bars(
    funnel, "step", "records", count_title="records", sort=funnel["step"].to_list(), log=False,
    tooltip=["step", alt.Tooltip("records:Q", format=",d"), alt.Tooltip("removed:Q", format=",d")],
)  # fmt: skip
labels = chart.mark_text(align="left", dx=3).encode(text=alt.Text("records:Q", format=",d"), color=alt.value("black"))
chart_with_data("Funnel: input records → documents", chart + labels, funnel, "funnel")
st.caption(
    "From the manifest's counts. Every input record ends either in the documents or in the ledger; each step "
    "says what is left after it (the Removals page gives the reasons, under the same step names)."
)

opened = common.release()
proofs.commitments_panel(opened.path, opened.manifest)

"""Search & browse: filter the documents by domain, URL, language, fetch date and text; a paged table whose
ids open the document view; the shown page downloads as CSV or Parquet.

With the release's membership index, the text box is a ranked full-text search (BM25, with snippets): the
DuckDB substring filter reads every text (2.6 s on a million documents), the index answers in milliseconds.
Without an index (or with one that no longer matches the release) the substring scan remains, and says so before
it runs: how many documents it reads, about how long that takes (seconds on a million documents), and the command
that builds the index. It runs in the background: the page says since when it reads, and shows the results when
they are ready (a small release's at once)."""

from __future__ import annotations

import datetime as dt

import streamlit as st

from audit_app import common, membership, queries
from pipeline.index import MembershipIndexError

st.title("Search & browse")
common.release()

c1, c2, c3 = st.columns([1, 1, 1])
# no max_chars on the boxes: a browser would cut pasted text silently; the queries refuse it with the limit
domain = c1.text_input("Domain", key="f_domain", placeholder="example.org (includes subdomains)")
url = c2.text_input("URL contains", key="f_url", placeholder="/article/")
index = common.membership_index()
text = c3.text_input(
    "Text" if index.usable else "Text contains",
    key="f_text",
    placeholder='words, or "a phrase" in quotes' if index.usable else "a phrase, case-insensitive",
)

c1, c2, c3 = st.columns([1, 1, 1])
language_options = common.query("languages")["language"].to_list()
languages = c1.multiselect("Language", language_options, key="f_lang", placeholder="any language")
first, last = common.query("date_bounds")
date_from = date_to = None
if first and last:
    lo, hi = dt.date.fromisoformat(first), dt.date.fromisoformat(last)
    picked = c2.date_input("Fetch date", value=(lo, hi), min_value=lo, max_value=hi, key="f_dates")
    if isinstance(picked, tuple | list) and len(picked) == 2 and (picked[0], picked[1]) != (lo, hi):
        date_from, date_to = picked[0].isoformat(), picked[1].isoformat()
page_size = c3.selectbox("Rows per page", [10, 25, 50, 100, 250], index=2, key="page_size")

filters = {
    "domain": domain,
    "url_contains": url,
    "languages": tuple(languages),
    "date_from": date_from,
    "date_to": date_to,
    "text_contains": text,
}
signature = (tuple(filters.items()), page_size)
if st.session_state.get("_search_signature") != signature:  # new filters: back to the first page
    st.session_state["_search_signature"] = signature
    st.session_state["page"] = 1


def ranked_search() -> None:
    """The text query answered by the index: the best hits in BM25 order, the other filters applied to them."""
    try:
        found = common.index_search(index, **filters)
    except MembershipIndexError as err:
        common.input_error(err)
        st.stop()
    hits = found["rows"]
    pages = max(1, -(-hits.height // page_size))
    if int(st.session_state.get("page") or 1) > pages:
        st.session_state["page"] = pages
    page = int(st.number_input(f"Page (of {pages:,})", min_value=1, max_value=pages, step=1, key="page"))
    st.caption(
        f"Ranked full-text search (index): {common.plural(found['matched'], 'document')} match the words"
        + (f" in {common.plain(languages[0])}" if len(languages) == 1 else "")
        + f"; the best {found['ranked']:,} by BM25"
        + (", then the other filters" if found["filtered"] or len(languages) > 1 else "")
        + f" · {found['elapsed_ms']:,.0f} ms"
    )
    if not hits.height:
        st.info("No document matches these filters among the best ranked hits.")
        st.stop()
    start = (page - 1) * page_size
    shown = hits.slice(start, page_size)
    st.caption(f"Showing {start + 1:,}–{start + shown.height:,} of {hits.height:,} · ordered by rank")
    state = common.show_table(
        shown.select(membership.HIT_COLUMNS), key="results", download=f"search-page-{page}", selectable=True
    )
    st.markdown("**Snippets**")
    for row in shown.head(10).iter_rows(named=True):
        # Escaped text, with the matched words in bold: Markdown from data is never interpreted.
        snippet = highlighted(row["raw_snippet"], row["highlights"])
        st.markdown(f"**{row['rank']}** · {common.code_span(row['id'])} · {snippet}")
    chosen = common.selected_id(state, shown.select(membership.HIT_COLUMNS))
    if chosen:
        st.caption("Selected " + common.code_span(chosen))
        common.link_to_document(chosen)


def highlighted(snippet: str, ranges: list[list[int]]) -> str:
    """Markdown of a snippet: every part escaped (common.escape_markdown), highlighted ranges in bold."""
    out, pos = [], 0
    for start, end in sorted((int(a), int(b)) for a, b in ranges):
        if start < pos or end <= start or not snippet[start:end].strip():
            continue
        out += [common.escape_markdown(snippet[pos:start]), f"**{common.escape_markdown(snippet[start:end])}**"]
        pos = end
    out.append(common.escape_markdown(snippet[pos:]))
    return "".join(out).strip()


if text.strip() and index.usable:
    ranked_search()
    st.stop()


def results(page: int) -> dict:
    """One page of the filtered documents and their total. With a text filter (no usable index here) the query
    reads every text, so it runs in the background (`common.scans_done`): until it is done the page says what is
    read and since when, and stops; a failed scan shows its error and no result."""
    kwargs = {**filters, "limit": page_size, "offset": (page - 1) * page_size}
    if not text.strip():
        return common.query("search", **kwargs)
    job = common.query_scan("search", **kwargs)
    if not common.scans_done([job], *scanned):
        st.session_state["page"] = page  # kept while its widget is not drawn, for the rerun that shows the answer
        st.stop()
    if job.error is not None:
        common.scan_failed(job.error, "The search could not be done")
        st.stop()
    return job.result


# One query gives the page's rows and the total (a text filter then scans the text once, not twice); the page
# number is read before its widget is drawn, since the widget's maximum depends on that total.
requested = max(1, int(st.session_state.get("page") or 1))
try:
    queries.check_filters(**filters)  # the input validated first: a refused filter is never scanned
except ValueError as err:
    common.input_error(err)
    st.stop()
scanned = common.scan_notice(index, "substring scan (slower)") if text.strip() else ("", "")
result = results(requested)
total = result["total"]
pages = max(1, -(-total // page_size))
if requested > pages:  # e.g. a page number typed for an earlier, larger result
    st.session_state["page"] = requested = pages
    result = results(requested)
page = int(st.number_input(f"Page (of {pages:,})", min_value=1, max_value=pages, step=1, key="page"))
rows = result["rows"]

if total == 0:
    st.info("No document matches these filters.")
    st.stop()
start = (page - 1) * page_size
st.caption(f"{total:,} matching documents · showing {start + 1:,}–{start + rows.height:,} · ordered by id")
state = common.show_table(rows, key="results", download=f"search-page-{page}", selectable=True)
chosen = common.selected_id(state, rows)
if chosen:
    st.caption("Selected " + common.code_span(chosen))
    common.link_to_document(chosen)
else:
    st.caption("Click an id to open the document in a new tab, or select a row.")

"""How an answer of the membership engine (`pipeline.index.answer`) is shown: the same verdict box, sentences and
evidence on every page that asks "is it in?". Everything shown is escaped text (`common.plain`, tables)."""

from __future__ import annotations

from typing import Any

import polars as pl
import streamlit as st

from audit_app import common
from pipeline.index import answer as engine

# a verdict's colour: red is kept for violations, so "not in" (often an honoured opt-out) is neutral
STYLE = {engine.IN: st.success, engine.PARTLY: st.warning, engine.NOT_IN: st.info, engine.NOT_FOUND: st.warning}
LABEL = {engine.IN: "In", engine.PARTLY: "Partly in", engine.NOT_IN: "Not in", engine.NOT_FOUND: "Not found"}


def verdict_box(a: engine.Answer) -> None:
    """The verdict as one sentence, then the reasons and how it was answered."""
    STYLE[a.verdict](common.plain(a.headline))
    for line in a.details:
        st.caption(common.plain(line))
    st.caption(f"Answered from {common.plain(a.method)} in {a.elapsed_ms:,.0f} ms.")


def optout_note(a: engine.Answer, key: str) -> None:
    """Which records were left out because the rights holder opted out, by which signal and rule."""
    rows = a.optout_rows
    if not rows.height:
        return
    grouped = (
        rows.group_by("reason", "signal", "rule", maintain_order=True)
        .agg(pl.col("id").n_unique().alias("records"))
        .sort("records", descending=True, maintain_order=True)
    )
    st.markdown(f"**Left out as the rights holder asked** ({common.plural(a.optout_removed, 'record')})")
    for reason, signal, rule, n in grouped.select("reason", "signal", "rule", "records").iter_rows():
        how = (
            f"signal {common.code_span(signal)}, rule {common.code_span(rule)}"
            if signal
            else f"reason {common.code_span(reason)} (no evidence row recorded)"
        )
        st.markdown(f"- {common.plural(n, 'record')}: {how}")
    with st.expander("Opt-out evidence for these records"):
        common.show_table(common.flat(rows), key=f"{key}_optout", download=f"{key}-optout")


FIGURES_HELP = (
    "overlap: the share of your text's words that lie in passages this document also contains (1.0: all of them). "
    "jaccard: the share of word n-grams the two whole texts have in common, computed on both texts (1.0: the same "
    "text; a short quote inside a long page scores low here and high in overlap). estimated_jaccard: the MinHash "
    "estimate that proposed the document before it was verified."
)


def evidence(a: engine.Answer, key: str) -> None:
    """The documents and removed records behind the verdict (links keep the release)."""
    if a.hosts is not None and a.hosts.height > 1:
        st.markdown("**Per host**")
        common.show_table(a.hosts, key=f"{key}_hosts", link_column=None)
    optout_note(a, key)
    if a.document_rows.height:
        st.markdown(f"**Documents in the release** ({a.documents:,})")
        common.show_table(a.document_rows, key=f"{key}_docs", download=f"{key}-documents")
        if "overlap" in a.document_rows.columns:
            st.caption(FIGURES_HELP)
    if a.ledger_rows.height:
        st.markdown(f"**Removed records (ledger)** ({a.removed:,})")
        dups = a.ledger_rows.filter(pl.col("duplicate_of").is_not_null())
        for row in dups.head(5).iter_rows(named=True):
            st.caption(
                f"{common.code_span(row['url'] or row['id'])} duplicates {common.code_span(row['duplicate_of'])} "
                f"({common.code_span(row['duplicate_of_url'] or '-')}), which is in the training data."
            )
        common.show_table(a.ledger_rows, key=f"{key}_ledger", download=f"{key}-removed")


def passages(report: Any) -> None:
    """For a text answered by the index: the passages shared with each document, and what the sketch can miss."""
    for m in report.matches[:5]:
        if not m.spans:
            continue
        with st.expander(f"Shared passages with {common.plain(m.url or m.id)} ({len(m.spans)})", expanded=True):
            for s in m.spans[:5]:
                st.caption(
                    f"{s.words} words: your characters {s.query_start:,}–{s.query_end:,}, "
                    f"document characters {s.doc_start:,}–{s.doc_end:,}"
                )
                st.code(s.text, language=None, wrap_lines=True)
    sketch = report.sketch
    if sketch:
        st.caption(
            f"{sketch['ngrams_positive']:,} of {sketch['ngrams_tested']:,} {sketch['ngram']}-word passages of your "
            f"text may be in the release (the sketch's false-positive rate per passage is "
            f"{sketch['false_positive_rate_expected']:.3%}); it only proposes candidates, every match above was "
            f"verified on the document's text. A copied passage is certain to be found from "
            f"{sketch['guaranteed_from_words']} words on."
        )

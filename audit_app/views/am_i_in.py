"""Am I in the training data? For a domain, a URL or a pasted text: in the release or not, which documents,
and if not, where each record went (the ledger's stage and reason, or the kept copy it duplicates).

Pasted text is answered by the release's membership index when it has a valid one (exact, near-duplicate and
partial overlap, each verified on the document's text, with the shared passages): the fallback, exact hash
plus substring over DuckDB, reads every text (3.1 s on a million documents) and finds only verbatim copies."""

from __future__ import annotations

from typing import Any

import polars as pl
import streamlit as st

from audit_app import common, membership, queries
from pipeline.index import MembershipIndexError

st.title("Am I in the training data?")
common.release()
st.caption(
    "Check a site, a page or a text against this release. Every answer comes with the records that prove it: "
    "the documents it is in, or the ledger rows that say why it is not."
)


def reasons_list(ledger_rows, reasons=None) -> None:
    """One line per stage and reason, with what that stage removes."""
    if reasons is None:
        reasons = ledger_rows.group_by("stage", "reason").len("records").sort("records", descending=True)
    for stage, reason, n in reasons.select("stage", "reason", "records").iter_rows():
        why = common.STAGE_HELP.get(stage, "")
        st.markdown(
            f"- {n:,} removed at stage {common.code_span(stage)} for {common.code_span(reason)}"
            + (f": {why}" if why else "")
        )


def duplicates_note(ledger_rows) -> None:
    dups = ledger_rows.filter(ledger_rows["duplicate_of"].is_not_null()) if ledger_rows.height else ledger_rows
    for row in dups.head(5).iter_rows(named=True):
        st.caption(
            f"{common.code_span(row['url'] or row['id'])} duplicates {common.code_span(row['duplicate_of'])} "
            f"({common.code_span(row['duplicate_of_url'] or '-')}), which is in the training data."
        )


def optout_note(result: dict[str, Any], key: str) -> None:
    """Plainly: which records were removed because the rights holder opted out, by which signal and rule."""
    rows = result.get("optout")
    if rows is None or not rows.height:
        return
    records = rows["id"].n_unique()
    st.warning(
        f"Removed for opt-out: {common.plural(records, 'record')} here {'was' if records == 1 else 'were'} "
        "left out because the rights holder opted out of AI training."
    )
    grouped = (
        rows.group_by("reason", "signal", "rule", maintain_order=True)
        .agg(pl.col("id").n_unique().alias("records"))
        .sort("records", descending=True, maintain_order=True)
    )
    for reason, signal, rule, n in grouped.select("reason", "signal", "rule", "records").iter_rows():
        how = (
            f"signal {common.code_span(signal)}, rule {common.code_span(rule)}"
            if signal
            else (f"reason {common.code_span(reason)} (no evidence row recorded)")
        )
        st.markdown(f"- {common.plural(n, 'record')}: {how}")
    with st.expander("Opt-out evidence for these records"):
        common.show_table(common.flat(rows), key=f"{key}_optout", download=f"{key}-optout")


def evidence(result: dict[str, Any], key: str) -> None:
    if result["document_rows"].height:
        st.markdown(f"**Documents in the release** ({result['documents']:,})")
        common.show_table(result["document_rows"], key=f"{key}_docs", download=f"{key}-documents")
    if result["ledger_rows"].height:
        st.markdown(f"**Removed records (ledger)** ({result['removed']:,})")
        common.show_table(result["ledger_rows"], key=f"{key}_ledger", download=f"{key}-removed")


domain_tab, url_tab, text_tab = st.tabs(["A domain", "A URL", "A text"])

with domain_tab:
    domain = st.text_input("Domain", key="q_domain", max_chars=300, placeholder="example.org")
    subdomains = st.checkbox("Include subdomains", value=True, key="q_subdomains")
    if domain.strip():
        try:
            result = common.query("membership_domain", domain=domain, subdomains=subdomains)
        except ValueError as err:
            common.input_error(err)
        else:
            site = common.code_span(result["query"])
            if result["verdict"] == "in":
                st.success(f"In the training data: {common.plural(result['documents'], 'document')} from {site}.")
                if result["removed"]:
                    st.caption(f"{common.plural(result['removed'], 'other record')} from {site} removed:")
                    reasons_list(result["ledger_rows"], result["reasons"])
            elif result["verdict"] == "removed":
                st.error(
                    f"Not in the training data: all {common.plural(result['removed'], 'record')} from {site} removed."
                )
                reasons_list(result["ledger_rows"], result["reasons"])
            else:
                st.info(f"Not in the training data: this release has no record at all from {site}.")
            if result["hosts"].height > 1:
                st.markdown("**Per host**")
                common.show_table(result["hosts"], key="domain_hosts", link_column=None)
            optout_note(result, "domain")
            evidence(result, "domain")

with url_tab:
    url = st.text_input("URL", key="q_url", max_chars=2_000, placeholder="https://example.org/page")
    prefix = st.checkbox("Every URL starting with this", value=False, key="q_prefix")
    if url.strip():
        try:
            result = common.query("membership_url", url=url, prefix=prefix)
        except ValueError as err:
            common.input_error(err)
        else:
            what = "URLs starting with " if prefix else ""
            target = what + common.code_span(result["query"])
            if result["verdict"] == "in":
                st.success(f"In the training data: {common.plural(result['documents'], 'document')} for {target}.")
                if result["removed"]:
                    st.caption(f"{common.plural(result['removed'], 'other record')} for it removed:")
                    reasons_list(result["ledger_rows"])
            elif result["verdict"] == "removed":
                st.error(
                    f"Not in the training data: {target} {'were' if prefix else 'was'} crawled but removed "
                    f"({common.plural(result['removed'], 'record')})."
                )
                reasons_list(result["ledger_rows"])
                duplicates_note(result["ledger_rows"])
            elif result["similar"]:
                st.warning(
                    f"This release has no record of {target}, but it has records at a URL that differs only by a "
                    "trailing slash or 'www.': " + ", ".join(common.code_span(u) for u in result["similar"])
                    + ". Check those URLs too."
                )
            else:
                st.info(f"Not in the training data: this release has no record of {target}.")
            st.caption(
                "Compared by the page's identity: http and https, upper and lower case in the host, a default port, "
                "%-escaped letters and a trailing dot in the host all count as the same URL."
            )
            optout_note(result, "url")
            evidence(result, "url")

VERDICT_STYLE = {"in": st.success, "partly in": st.warning, "not in": st.info}


def index_text_answer(index: common.IndexState, text: str) -> None:
    """`check_text` from the membership index: verdict, matches with similarity, overlap and the shared spans,
    removed copies with their ledger reason, and the sketch's stated false-positive rate."""
    try:
        report = common.index_check_text(index, text)
    except MembershipIndexError as err:
        common.input_error(err)
        return
    VERDICT_STYLE.get(report.verdict, st.info)(common.plain(report.summary[0]) + " (membership index)")
    frames = membership.text_report_frames(report)
    if report.matches:
        st.markdown(f"**Documents in the release with this text** ({len(report.matches):,})")
        st.caption(
            "how: exact / normalised = same sha256; near_duplicate = word 5-gram Jaccard at or above "
            f"{report.index.get('near_threshold', '')} verified on the text; contained = "
            "that share of your words appears in order in one document; overlap = shared passages. "
            "jaccard is verified on the texts, estimated_jaccard is the MinHash estimate, overlap is the share of "
            "your text's words inside shared passages."
        )
        common.show_table(frames["matches"], key="text_index_docs", download="text-documents")
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
    if report.removed:
        st.markdown(f"**Removed copies (ledger)** ({len(report.removed):,})")
        for line in report.summary[1:]:
            if line.startswith("A copy from"):
                st.markdown("- " + common.plain(line))
        common.show_table(frames["removed"], key="text_index_removed", download="text-removed")
    sketch = report.sketch
    if sketch:
        st.caption(
            f"Sketch: {sketch['ngrams_positive']:,} of {sketch['ngrams_tested']:,} word {sketch['ngram']}-grams of "
            f"your text test positive. Its false-positive rate per n-gram is "
            f"{sketch['false_positive_rate_configured']:.2%} configured and "
            f"{sketch['false_positive_rate_expected']:.3%} expected in this index; it only proposes candidates, "
            f"every match above was verified on the document's text. A copied passage is certain to be found from "
            f"{sketch['guaranteed_from_words']} words on."
        )
    for line in report.summary[1:]:
        if not line.startswith(("A copy from", "Sketch:")):
            st.caption(common.plain(line))
    st.caption(
        f"sha256 of your text: {common.code_span(report.query['text_sha256'])} · answered in "
        f"{report.elapsed_ms:,.0f} ms. Personal data in documents was replaced by placeholders; your text is "
        "compared the same way."
    )


def duckdb_text_answer(text: str) -> None:
    """The fallback without an index: exact hash, normalised hash and verbatim substring, over every text."""
    try:
        result = common.query("membership_text", text=text)
    except ValueError as err:
        common.input_error(err)
        return
    if result["verdict"] == "in":
        kinds = result["document_rows"].select("exact", "normalised", "substring").sum().row(0, named=True)
        how = ", ".join(f"{name} {n}" for name, n in kinds.items() if n)
        st.success(f"In the training data: {common.plural(result['documents'], 'document')} with this text ({how}).")
        if result["removed"]:
            st.caption(f"{common.plural(result['removed'], 'removed record')} with it too:")
            reasons_list(result["ledger_rows"])
    elif result["verdict"] == "removed":
        st.error(f"Not in the training data: {common.plural(result['removed'], 'record')} with this text removed.")
        reasons_list(result["ledger_rows"])
        duplicates_note(result["ledger_rows"])
    else:
        st.info("Not found: no document and no removed record has this text.")
    st.caption(
        "Matched by: exact = same sha256 of the text; normalised = same sha256 after removing invisible format "
        "characters, NFKC, lower case, punctuation removed, whitespace collapsed; substring = contained verbatim"
        + ("" if result["substring_checked"] else f" (only for {queries.MIN_SUBSTRING_CHARS}+ characters)")
        + ". Personal data in documents was replaced by placeholders; your text is compared the same way"
        + (f" ({result['release_form']})." if result["release_form"] else ".")
    )
    st.caption("sha256 of your text: " + common.code_span(result["text_sha256"]))
    evidence(result, "text")


with text_tab:
    text = st.text_area(
        "Text",
        key="q_text",
        max_chars=queries.MAX_INPUT_CHARS,
        height=160,
        placeholder="Paste a paragraph or a whole page",
    )
    if text.strip():
        index = common.membership_index()
        if index.usable:
            index_text_answer(index, text)
        else:
            common.index_notice(index, "exact hash and substring match only (slower, verbatim copies only)")
            duckdb_text_answer(text)

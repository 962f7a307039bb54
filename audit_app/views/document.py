"""Document: one record by id, kept or removed, with its text (shown as text), every column, its
provenance chain from the source file down to the release, and its duplicate cluster.

Deep link: `?doc=<id>`."""

from __future__ import annotations

import polars as pl
import streamlit as st

from audit_app import common

CHAIN = (
    ("1 source file", ("file_path", "source_format", "source_sha256")),
    ("2 record", ("warc_record_id", "record_type", "warc_record_offset", "warc_record_length", "url", "date")),
    ("3 payload", ("http_status", "content_type", "charset", "warc_payload_digest")),
    ("4 extraction", ("extractor", "title", "text_sha256", "norm_sha256", "word_count")),
    ("5 language", ("language", "language_score")),
    ("6 personal data", ("pii_email", "pii_ip", "pii_iban")),
    ("7 dedup", ("dedup_cluster_id", "dedup_cluster_size", "duplicate_of")),
    ("8 outcome", ("stage", "reason", "detail")),
    ("9 release", ("dump", "pipeline_version", "config_hash")),
)


def as_text(value) -> str:
    return "" if value is None else str(value)


st.title("Document")
rel = common.release()

# `?doc=` wins when it changes (a link was followed); typing an id updates the URL, so it can be shared.
linked = st.query_params.get("doc", "")
if st.session_state.get("_doc_linked") != linked:
    st.session_state["_doc_linked"] = linked
    st.session_state["doc_id"] = linked
doc_id = st.text_input("Document or ledger id", key="doc_id", max_chars=200, placeholder="3fa2c1d09e8b7a6f-1234")
doc_id = doc_id.strip()
if doc_id != linked:
    if doc_id:
        st.query_params["doc"] = doc_id
    else:
        st.query_params.pop("doc", None)
    st.session_state["_doc_linked"] = doc_id
if not doc_id:
    st.info("Enter an id, or open one from Search, Removals or “Am I in the training data?”.")
    st.stop()

found = common.query("document", doc_id=doc_id)
if found is None:
    st.warning("No document and no ledger row has this id in this release.")
    st.code(doc_id, language=None, wrap_lines=True)
    st.stop()

row = found["row"]
kept = found["table"] == "documents"
if kept:
    st.success("In the training data: this document is in the release (documents table).")
else:
    st.error(
        f"Not in the training data: removed at stage {common.code_span(row['stage'])}, "
        f"reason {common.code_span(row['reason'])}."
    )
    if row.get("detail"):
        st.caption("Detail")
        st.code(row["detail"], language=None, wrap_lines=True)
    if row.get("duplicate_of"):
        st.caption("Its text is in the release as the kept copy " + common.code_span(row["duplicate_of"]))
        common.link_to_document(row["duplicate_of"], label="Open the kept copy")

if row.get("title"):
    st.subheader(common.plain(row["title"]))
if row.get("url"):
    st.code(row["url"], language=None, wrap_lines=True)

text_tab, chain_tab, columns_tab, cluster_tab = st.tabs(["Text", "Provenance", "All columns", "Dedup cluster"])

with text_tab:
    text = row.get("text")
    if text:
        st.caption(f"{len(text):,} characters · {len(text.encode('utf-8')):,} bytes (UTF-8), shown as plain text")
        st.code(text, language=None, wrap_lines=True)
    elif kept:
        st.info("This document has an empty text.")
    else:
        st.info(
            "The ledger keeps no text for this record: it was removed before extraction, the run did not keep "
            "ledger text, or it is an opt-out (whose text is never kept)."
        )

with chain_tab:
    steps = []
    for step, fields in CHAIN:
        for name in fields:
            if name in row and (row[name] is not None or step in ("1 source file", "2 record")):
                steps.append({"step": step, "field": name, "value": as_text(row[name])})
    if kept:
        steps.append({"step": "8 outcome", "field": "table", "value": "documents (kept)"})
    same_config = row.get("config_hash") == rel.config_hash
    steps.append(
        {
            "step": "9 release",
            "field": "config_hash matches manifest",
            "value": "yes" if same_config else "NO: row written under another config",
        }
    )
    chain = pl.DataFrame(steps, schema={"step": pl.String, "field": pl.String, "value": pl.String}).sort(
        "step", maintain_order=True
    )
    st.dataframe(chain, hide_index=True, key="chain", height=min(38 + 35 * chain.height, 800))
    st.caption(
        "The source record can be reopened from these coordinates and its payload digest re-checked with "
        "the command line (the app does not read source files):"
    )
    st.code(f"apertura show {rel.path} {doc_id}", language="bash", wrap_lines=True)

with columns_tab:
    columns = pl.DataFrame(
        [
            {"column": k, "value": f"({len(v or ''):,} characters, see Text)" if k == "text" else as_text(v)}
            for k, v in row.items()
        ],
        schema={"column": pl.String, "value": pl.String},
    )
    common.show_table(columns, key="columns", link_column=None, download=f"document-{common.file_stem(doc_id)}")

with cluster_tab:
    cluster_id = row.get("dedup_cluster_id") or row.get("duplicate_of")
    if not cluster_id:
        st.info("No duplicates: this record is not part of a duplicate cluster.")
    else:
        cluster = common.query("dedup_cluster", cluster_id=cluster_id)
        st.caption(
            f"{cluster.height:,} members; the kept document is {common.code_span(cluster_id)}, "
            "the others are in the ledger as duplicates of it."
        )
        common.show_table(cluster, key="cluster", download=f"cluster-{common.file_stem(cluster_id)}")

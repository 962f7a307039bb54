"""Document: one record by id, kept or removed, with its text (shown as text), every column, its
provenance chain from the source file down to the release (with a live re-check of the source record's payload
digest), the opt-out signals seen for it and its site, and its duplicate cluster.

Deep link: `?doc=<id>`."""

from __future__ import annotations

import sys

import polars as pl
import streamlit as st

from audit_app import common, source
from pipeline.reasons import reason_text, step_name

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


MAX_ID_CHARS = 200


def as_text(value) -> str:
    return "" if value is None else str(value)


st.title("Document")
rel = common.release()
try:  # where a relative file_path is looked for (`apertura app --source-root`, confined to the data directory)
    source_roots = source.source_roots(rel.manifest, rel.path, source.source_root_arg(sys.argv[1:]))
    roots_refused = None
except source.SourceAccessError as err:
    source_roots, roots_refused = [], source.Recheck("outside", str(err))

# `?doc=` wins when it changes (a link was followed); typing an id updates the URL, so it can be shared.
linked = st.query_params.get("doc", "")
if st.session_state.get("_doc_linked") != linked:
    st.session_state["_doc_linked"] = linked
    st.session_state["doc_id"] = linked
doc_id = st.text_input("Document or ledger id", key="doc_id", placeholder="3fa2c1d09e8b7a6f-1234").strip()
if len(doc_id) > MAX_ID_CHARS:  # refused with its limit (a browser's max_chars would cut a pasted id silently)
    st.warning(
        f"This id cannot be looked up: it is {len(doc_id):,} characters long; the limit is {MAX_ID_CHARS} "
        "(an id looks like 3fa2c1d09e8b7a6f-1234)."
    )
    st.stop()
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
        f"Not in the training data: removed at step {common.code_span(step_name(row['stage'], row['reason']))}, "
        f"reason {common.code_span(row['reason'])}: {common.plain(reason_text(row['reason'], row['stage']))}"
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

text_tab, chain_tab, optout_tab, columns_tab, cluster_tab = st.tabs(
    ["Text", "Provenance", "Opt-out signals", "All columns", "Dedup cluster"]
)


def show_recheck(result: source.Recheck, key: str) -> None:
    """The outcome of a digest re-check, every value shown as text."""
    if result.status == "ok":
        st.success("Payload digest re-checked: the source record's bytes match its stored digest.")
    elif result.status == "mismatch":
        st.error("MISMATCH: the source record is not what this row says (its bytes, id or URL changed).")
    elif result.status == "unreachable":
        st.warning("Source not reachable: the file is not where the release says (moved, gone or unreadable).")
    elif result.status == "outside":
        st.warning("Not re-checked: the source file is outside the data directory.")
    elif result.status == "no_digest":
        st.info("The record carries no payload digest that can be re-checked.")
    elif result.status == "too_large":
        st.info("Too large to re-check: the record is over the size limit extraction uses, so it is not decoded.")
    else:
        st.error("The source record cannot be read back: the file changed at this offset.")
    st.code(result.message, language=None, wrap_lines=True)
    values = {
        "file": result.path,
        "found under": result.root_used,
        "record id": result.record_id,
        "record url": result.record_url,
        "digest in the record (stored)": result.stored_digest,
        "digest recomputed now": result.computed_digest,
        "digest in the release": result.release_digest,
    }
    shown = [{"field": k, "value": v} for k, v in values.items() if v]
    if shown:
        st.dataframe(pl.DataFrame(shown, schema={"field": pl.String, "value": pl.String}), hide_index=True, key=key)


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
    st.markdown("**Live payload digest re-check**")
    st.caption(
        "Reopens the exact byte range of the source record (only files inside the data directory) and "
        "recomputes its payload digest now. The same check on the command line:"
    )
    st.code(f"apertura show {rel.path} {doc_id}", language="bash", wrap_lines=True)
    if row.get("record_type") == "unreadable":
        st.info(
            f"This row is an unreadable span of its input ({as_text(row.get('warc_record_length'))} bytes at offset "
            f"{as_text(row.get('warc_record_offset'))}): damaged bytes that are no record, so there is no payload "
            "digest to re-check. Reading went on after it."
        )
    elif st.button("Re-check the payload digest", key="recheck", icon=":material/verified:"):
        show_recheck(  # not cached: the check must read the file as it is now
            roots_refused
            or source.recheck(
                row.get("file_path"),
                row.get("warc_record_offset"),
                row.get("warc_record_length"),
                roots=source_roots,
                release_digest=row.get("warc_payload_digest"),
                record_id=row.get("warc_record_id"),
                url=row.get("url"),
                limit=((rel.manifest.get("config") or {}).get("read") or {}).get("max_payload_bytes"),
            ),
            key="recheck_result",
        )

with optout_tab:
    if not rel.has_optout_evidence:
        st.info("This release predates opt-out evidence (format version 1): no opt-out signals were recorded.")
    else:
        signals = common.query("optout_document", doc_id=doc_id, url=row.get("url"))
        evidence, policy = signals["evidence"], signals["policy_files"]
        reserved = evidence.filter(pl.col("verdict") == "reserved")
        if reserved.height:
            st.error(
                f"Opted out: {common.plural(reserved.height, 'signal')} reserved this record for the honoured agents "
                "(" + ", ".join(common.code_span(s) for s in reserved["signal"].unique(maintain_order=True)) + ")."
            )
            for signal, rule in reserved.select("signal", "rule").unique(maintain_order=True).iter_rows():
                st.markdown(f"- {common.code_span(signal)}: rule {common.code_span(rule or '-')}")
            if kept:
                st.error("This document is nevertheless in the release: an opt-out violation.")
        elif evidence.height:
            st.success("Statements about this record were seen; none reserved it for the honoured agents.")
        else:
            st.info("No opt-out statement about this record itself (headers, meta tags, or a reserving policy).")
        st.markdown(f"**Statements about this record** ({evidence.height:,})")
        if evidence.height:
            common.show_table(
                common.flat(evidence), key="optout_doc", link_column=None,
                download=f"optout-{common.file_stem(doc_id)}",
            )  # fmt: skip
            for raw in evidence.filter(pl.col("raw").is_not_null())["raw"].head(5):
                st.code(raw, language=None, wrap_lines=True)
        origins = ", ".join(common.code_span(o) for o in signals["origins"]) or "(none)"
        st.markdown(f"**Policy files of its origin** {origins} ({policy.height:,})")
        if policy.height:
            common.show_table(
                common.flat(policy), key="optout_policy", link_column=None,
                download=f"policy-{common.file_stem(doc_id)}",
            )  # fmt: skip
        else:
            st.caption("No robots.txt, tdmrep.json or ai.txt fetch was recorded for this origin.")
        recheckable = policy.filter(pl.col("source_file").is_not_null() & pl.col("source_offset").is_not_null())
        if recheckable.height:
            labels = [
                f"{signal} {url} @ {offset}"
                for signal, url, offset in recheckable.select("signal", "url", "source_offset").iter_rows()
            ]
            choice = st.selectbox("Policy file record", range(len(labels)), format_func=labels.__getitem__,
                                  key="policy_pick")  # fmt: skip
            if st.button("Re-check this policy file's digest", key="recheck_policy"):
                pick = recheckable.row(int(choice or 0), named=True)
                show_recheck(
                    roots_refused
                    or source.recheck(
                        pick["source_file"], pick["source_offset"], pick["source_length"], roots=source_roots
                    ),
                    key="recheck_policy_result",
                )

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

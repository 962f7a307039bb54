"""Am I in the training data? For a domain, a URL or a pasted text: in the release or not, which documents,
and if not, where each record went (the ledger's stage and reason, or the kept copy it duplicates).

The verdict, its sentences and its evidence come from the one membership engine (`pipeline.index.answer`), the
same as on the Rights holders page and from `apertura check`: the same input gets the same answer everywhere.
Input is validated first; invalid input gets a message saying what is expected, and no verdict. A text in a release
without a usable membership index is looked for in the background (every text is read: seconds on a million
documents); the page says what it reads and shows the same answer when it is ready."""

from __future__ import annotations

import streamlit as st

from audit_app import common, verdict
from pipeline.index import answer as engine

st.title("Am I in the training data?")
common.release()
st.caption(
    "Check a site, a page or a text against this release. Every answer comes with the records that prove it: "
    "the documents it is in, or the ledger rows that say why it is not."
)


def check(kind: str, value: str, key: str, **options: bool) -> None:
    """Validate, answer, show: a refused input gets its message and nothing else."""
    try:
        a = common.answer(kind, value, **options)
    except ValueError as err:
        common.input_error(err)
        return
    show(a, key)


def show(a: engine.Answer, key: str) -> None:
    """The verdict, the index's passages, the text's hash and the evidence of one engine answer."""
    verdict.verdict_box(a)
    if a.report is not None:
        verdict.passages(a.report)
    if a.text_sha256:
        st.caption("sha256 of your text: " + common.code_span(a.text_sha256))
    verdict.evidence(a, key)


def check_text(value: str) -> None:
    """A text: with a usable index, as `check`. Without one the engine reads every text of the release, so that
    runs in the background (`common.scans_done`): the page says what is read and shows the answer when ready."""
    state = common.membership_index()
    if state.usable:
        check("text", value, "text")
        return
    try:
        job = common.answer_scan("text", value)  # validated first: a refused text is never scanned
    except ValueError as err:
        common.input_error(err)
        return
    tables = ("documents", "ledger")
    what, about = common.scan_notice(state, "only exact and verbatim copies can be found", tables)
    if not common.scans_done([job], what, about):
        return
    if job.error is not None:
        common.scan_failed(job.error)
        return
    show(job.result, "text")


domain_tab, url_tab, text_tab = st.tabs(["A domain", "A URL", "A text"])

with domain_tab:
    domain = st.text_input("Domain", key="q_domain", placeholder="example.org")
    subdomains = st.checkbox("Include subdomains", value=True, key="q_subdomains")
    if domain.strip():
        check("domain", domain, "domain", subdomains=subdomains)

with url_tab:
    url = st.text_input("URL", key="q_url", placeholder="https://example.org/page")
    prefix = st.checkbox("Every URL starting with this", value=False, key="q_prefix")
    if url.strip():
        check("url", url, "url", prefix=prefix)

with text_tab:
    text = st.text_area("Text", key="q_text", height=160, placeholder="Paste a paragraph or a whole page")
    if text.strip():
        check_text(text)

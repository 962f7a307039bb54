"""Rights holders: check a domain, a URL or a text against every release under the data root (in it or not,
removed since when, by which opt-out signal, rule and registry entry) and against the opt-out registry, then
file an opt-out request into the registry's pending queue.

Filing is the app's only write and never touches a release: one new file under `<registry>/requests/`
(audit_app/registry.py). A data engineer approves it with `apertura optout approve <id>`; the next
`apertura release derive --apply-optouts` then removes what it covers, and `apertura verify` proves it.
Everything a person types is shown back as literal text (code spans, escaped), never as Markdown or HTML,
and reaches SQL only as bound parameters (queries.rights_status). The page is public: it shows no other
requester's name or contact (registry rules are shown without them) and no path of the server (paths are
relative to the data directory, messages have it replaced)."""

from __future__ import annotations

from typing import Any

import polars as pl
import streamlit as st

from audit_app import common, lineage, proofs, queries, registry

REQUESTS_KEY = "rh_filed"  # request ids filed in this browser session (for the per-session limit)
SUBJECTS = {"domain": "A domain", "url": "A URL", "text": "A text"}

st.title("Rights holders: opt-out status and requests")
st.caption(
    "Check whether your site, a page or your text is in any release published from this data directory, whether it "
    "was removed and on what grounds, and whether the rights-holder registry already holds an opt-out for it. "
    "Then ask for an opt-out: a data engineer reviews it, and the next derived release provably excludes it."
)

root = queries.data_root()
catalog = common.catalog(str(root))


def _public(message: object) -> str:
    """A message for the public: the server's data directory named, not spelled out."""
    return str(message).replace(str(root), "<data directory>")
readable = catalog.filter(pl.col("error").is_null())


def _subject() -> tuple[str, str, bool]:
    """(kind, value, prefix) from the input widgets; value is '' until something was entered."""
    kind = st.radio(
        "Check", list(SUBJECTS), format_func=SUBJECTS.get, horizontal=True, key="rh_kind", label_visibility="collapsed"
    )
    if kind == "domain":
        return kind, st.text_input("Domain", key="rh_domain", max_chars=300, placeholder="example.org"), False
    if kind == "url":
        value = st.text_input("URL", key="rh_url", max_chars=2_000, placeholder="https://example.org/page")
        prefix = st.checkbox("Every URL starting with this", value=False, key="rh_prefix")
        return kind, value, prefix
    value = st.text_area(
        "Text",
        key="rh_text",
        max_chars=registry.MAX_TEXT_BYTES,
        height=160,
        placeholder="Paste your article (up to 200 KB)",
        help="Matched exactly, after normalisation, and verbatim inside documents; the registry also matches near "
        "copies. Text removed for an opt-out is not kept in the ledger, so only its hash can match there.",
    )
    return kind, value, False


def _statuses(kind: str, value: str, prefix: bool) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """rights_status of the subject in every readable release, by path; and the releases that failed, why."""
    statuses: dict[str, dict[str, Any]] = {}
    failed: dict[str, str] = {}
    for path in readable["path"].to_list():
        try:
            statuses[path] = common.query_release(path, "rights_status", kind=kind, value=value, prefix=prefix)
        except queries.ReleaseAccessError as err:
            failed[path] = str(err)
    return statuses, failed


VERDICTS = {"in": "in the data", "removed": "removed", "absent": "not found"}


def _summary(statuses: dict[str, dict[str, Any]], since: dict[str, str], dates: dict[str, str]) -> pl.DataFrame:
    rows = []
    for row in readable.iter_rows(named=True):
        s = statuses.get(row["path"])
        if s is None:
            continue
        reasons = s["reasons"]
        optout = reasons.filter(pl.col("stage") == "optout")
        signals = sorted({x for x in optout["signal"].to_list() if x} or set(optout["reason"].to_list()))
        entries = s["registry_entries"]
        rows.append(
            {
                "release": row["release_id"],
                "path": row["path"],
                "status": VERDICTS[s["verdict"]],
                "documents": s["documents"],
                "removed": s["removed"],
                "removed_for_optout": s["optout_removed"],
                "removed_since": since.get(row["path"]),
                "signals": ", ".join(signals),
                "registry_entries": ", ".join(f"{e} (effective {dates[e]})" if e in dates else e for e in entries),
                "derived_at": row["derived_at"],
            }
        )
    return pl.DataFrame(
        rows,
        schema={"release": pl.String, "path": pl.String, "status": pl.String, "documents": pl.Int64,
                "removed": pl.Int64, "removed_for_optout": pl.Int64, "removed_since": pl.String,
                "signals": pl.String, "registry_entries": pl.String, "derived_at": pl.String},
    )  # fmt: skip


def _release_lines(summary: pl.DataFrame, statuses: dict[str, dict[str, Any]]) -> None:
    """One plain sentence per release, then the reasons behind every removal (stage, reason, signal, rule)."""
    for row in summary.iter_rows(named=True):
        name = common.code_span(row["release"])
        if row["status"] == "in the data":
            line = f"**In** {name}: {common.plural(row['documents'], 'document')}"
            if row["removed"]:
                line += f"; {common.plural(row['removed'], 'other record')} removed"
        elif row["status"] == "removed":
            line = f"**Removed from** {name}: {common.plural(row['removed'], 'record')} removed, none kept"
            if row["removed_since"]:
                line += f" — since {common.code_span(row['removed_since'])}"
        else:
            line = f"**Not in** {name}: no document and no removed record"
            if similar := statuses[row["path"]].get("similar"):
                line += " at this URL, but records at a URL that differs only by a trailing slash or 'www.': "
                line += ", ".join(common.code_span(u) for u in similar)
        st.markdown(line)
        reasons = statuses[row["path"]]["reasons"]
        for r in reasons.iter_rows(named=True):
            why = f"stage {common.code_span(r['stage'])}, reason {common.code_span(r['reason'])}"
            if r["signal"]:
                rule = registry.public_rule(r["rule"])  # a registry rule names its requester: not shown here
                why += f", signal {common.code_span(r['signal'])}, rule {common.code_span(rule)}"
            if r["registry_entry"]:
                why += f", registry entry {common.code_span(r['registry_entry'])}"
            if r["evidence_fetched_at"]:
                why += f", evidence fetched {common.code_span(r['evidence_fetched_at'])}"
            st.markdown(f"- {common.plural(r['records'], 'record')}: {why}")


def _shown(path) -> str:
    """A path inside the data root as the data team names it: relative to the root."""
    try:
        return str(path.relative_to(root)) or "."
    except ValueError:
        return str(path)


def _entries(n: int) -> str:
    return f"{n:,} registry " + ("entry" if n == 1 else "entries")


def _registry_check(kind: str, value: str) -> None:
    st.subheader("In the opt-out registry")
    try:
        found = registry.coverage(kind, value, root=root)
    except registry.RegistryAccessError as err:
        st.warning("The registry cannot be read: " + common.plain(_public(err)))
        return
    except ValueError as err:  # RequestError (e.g. a text too short to fingerprint) and bad input
        st.info("Not checked against the registry: " + common.plain(_public(err)))
        return
    if found.covered:
        st.success(
            f"Opted out: {_entries(found.entries.height)} in force "
            f"{'covers' if found.entries.height == 1 else 'cover'} this. A release derived from now on removes it."
        )
        for r in found.entries.iter_rows(named=True):
            st.markdown(
                f"- entry {common.code_span(r['entry_id'])}: {common.code_span(r['rule'])}, effective from "
                f"{common.code_span(r['effective_from'])}"
            )
        common.show_table(found.entries, key="rh_registry", link_column=None)
    else:
        st.info("No registry entry in force covers this. You can ask for one below.")
    state = found.state
    st.caption(
        f"Registry {common.code_span(_shown(found.path))}: {_entries(state['entries'])}, sha256 "
        f"{common.code_span(state['sha256'])} (the hash a derived release records in its manifest)."
    )


def _request_form(kind: str) -> None:
    """The opt-out request: validated here and by the registry, written only to its pending queue."""
    st.subheader("Ask for an opt-out")
    st.caption(
        "Your request goes to a review queue, not into any release. Only fingerprints of a text are stored "
        "(its normalised sha256 and a MinHash signature), never the text itself. Name and contact are kept with the "
        "request so the data team can reach you."
    )
    filed = st.session_state.setdefault(REQUESTS_KEY, [])
    default_kind = {"domain": "domain", "url": "url_prefix", "text": "text"}[kind]
    with st.form("rh_request", clear_on_submit=False):
        req_kind = st.selectbox(
            "Opt out", list(registry.KINDS), index=list(registry.KINDS).index(default_kind),
            format_func=registry.KINDS.get, key="rh_req_kind",
        )  # fmt: skip
        req_value = st.text_input(
            "Domain or URL prefix",
            key="rh_req_value",
            max_chars=registry.MAX_VALUE_CHARS,
            placeholder="example.org  or  https://example.org/articles/",
            help="For a domain, its subdomains are covered too. Leave empty for a text.",
        )
        req_text = st.text_area(
            "Text (for a text opt-out)",
            key="rh_req_text",
            max_chars=registry.MAX_TEXT_BYTES,
            height=120,
            help="At least 20 words; copies and near copies of it are covered wherever they appear.",
        )
        left, right = st.columns(2)
        name = left.text_input("Your name or organisation", key="rh_req_name", max_chars=registry.MAX_NAME_CHARS)
        contact = right.text_input(
            "Contact (e-mail or web address)", key="rh_req_contact", max_chars=registry.MAX_CONTACT_CHARS
        )
        note = st.text_area("Note (optional)", key="rh_req_note", max_chars=registry.MAX_NOTE_CHARS, height=80)
        submitted = st.form_submit_button("File the opt-out request", type="primary")
    if not submitted:
        return
    if len(filed) >= registry.MAX_REQUESTS_PER_SESSION:
        st.error(
            f"This session already filed {len(filed)} requests; the queue is reviewed by hand. "
            "Please contact the data team for more."
        )
        return
    try:
        request_id = registry.file_request(
            req_kind,
            req_value if req_kind != "text" else "",
            name=name,
            contact=contact,
            note=note,
            text=req_text if req_kind == "text" else None,
            root=root,
            client=common.client_address(),
        )
    except (registry.RequestError, registry.RegistryAccessError, ValueError) as err:
        st.error("The request was not filed: " + common.plain(_public(err)))
        return
    filed.append(request_id)
    st.success(f"Request {common.code_span(request_id)} filed: it waits for review in the pending queue.")
    st.markdown(
        "A data engineer reviews it and approves it with the command below; it then takes effect, and the next "
        "release derived with `--apply-optouts` removes every document it covers (checked by `apertura verify`)."
    )
    st.code(f"apertura optout approve {request_id}", language=None)
    st.caption(
        f"The registry is {common.code_span(_shown(registry.registry_path(root)))} under the data root: run the "
        "command there, or add `--registry <path>`."
    )
    common.show_table(pl.DataFrame({"request_id": filed}), key="rh_filed_table", link_column=None)


if catalog.height == 0:
    st.info("No release published from this app's data directory yet.")
else:
    st.caption(f"{common.plural(readable.height, 'release')} published from this app's data directory.")
for row in catalog.filter(pl.col("error").is_not_null()).iter_rows(named=True):
    st.warning(f"Release {common.code_span(row['path'])} skipped: " + common.plain(_public(row["error"])))

kind, value, prefix = _subject()
if value.strip():
    try:
        statuses, failed = _statuses(kind, value, prefix)
    except ValueError as err:
        common.input_error(err)
    else:
        for path, why in failed.items():
            st.warning(f"Release {common.code_span(path)} cannot be opened: " + common.plain(_public(why)))
        if statuses:
            since = lineage.removed_since(readable, statuses)
            entries = sorted({e for s in statuses.values() for e in s["registry_entries"]})
            summary = _summary(statuses, since, registry.entry_dates(entries, root=root))
            first = next(iter(statuses.values()))
            st.subheader("In the releases")
            st.caption("Checked: " + common.code_span(first["query"]))
            _release_lines(summary, statuses)
            common.show_table(summary, key="rh_summary", link_column=None, download="opt-out-status")
            if not prefix:
                checked = readable.filter(pl.col("path").is_in(list(statuses)))
                proofs.proof_downloads(
                    [(r["release_id"], root / r["path"]) for r in checked.iter_rows(named=True)], kind, value
                )
        _registry_check(kind, value)

_request_form(kind)

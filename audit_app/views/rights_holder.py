"""Rights holders: check a domain, a URL or a text against every release under the data root (in it or not,
removed since when, by which opt-out signal, rule and registry entry) and against the opt-out registry, then
file an opt-out request into the registry's pending queue.

Filing is the app's only write and never touches a release: one new file under `<registry>/requests/`
(audit_app/registry.py). A data engineer approves it with `apertura optout approve <id>`; the next
`apertura release derive --apply-optouts` then removes what it covers, and `apertura verify` proves it.
Everything a person types is shown back as literal text (code spans, escaped), never as Markdown or HTML,
and reaches SQL only as bound parameters (the membership engine, pipeline/index/answer.py, which also gives the
"Am I in?" page and `apertura check` their verdicts). The page is public: it shows no other
requester's name or contact (registry rules are shown without them) and no path of the server (paths are
relative to the data directory, messages have it replaced)."""

from __future__ import annotations

import polars as pl
import streamlit as st

from audit_app import common, lineage, proofs, queries, registry, verdict
from pipeline.index import answer as engine

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
    """(kind, value, prefix) from the input widgets: only the field of the chosen kind is shown; value is '' until
    something was entered. No widget cuts what is pasted: the engine refuses over-long input and says its limit."""
    kind = st.radio(
        "Check", list(SUBJECTS), format_func=SUBJECTS.get, horizontal=True, key="rh_kind", label_visibility="collapsed"
    )
    if kind == "domain":
        return kind, st.text_input("Domain", key="rh_domain", placeholder="example.org"), False
    if kind == "url":
        value = st.text_input("URL", key="rh_url", placeholder="https://example.org/page")
        prefix = st.checkbox("Every URL starting with this", value=False, key="rh_prefix")
        return kind, value, prefix
    value = st.text_area(
        "Text",
        key="rh_text",
        height=160,
        placeholder=f"Paste your article (up to {engine.MAX_TEXT_CHARS:,} characters)",
        help="Matched exactly, after normalisation, and (with the release's membership index) as a near copy or by "
        "shared passages; the registry also matches near copies. Text removed for an opt-out is not kept in the "
        "ledger, so only its hash can match there.",
    )
    return kind, value, False


def _answers(
    kind: str, value: str, prefix: bool, slow: list[str]
) -> tuple[dict[str, engine.Answer], dict[str, str], dict[str, common.Scan]]:
    """The engine's answer for the subject in every readable release, by path; the releases that failed, why; and
    the background scans of the releases in `slow` (a text where there is no usable index: `common.answer_scan`).
    The same engine call as the "Am I in?" page and `apertura check` make, so the verdicts agree."""
    answers: dict[str, engine.Answer] = {}
    failed: dict[str, str] = {}
    scans: dict[str, common.Scan] = {}
    for path in readable["path"].to_list():
        try:
            if path in slow:
                scans[path] = common.answer_scan(kind, value, path=path, prefix=prefix)
            else:
                answers[path] = common.answer(kind, value, path=path, prefix=prefix)
        except queries.ReleaseAccessError as err:
            failed[path] = str(err)
    return answers, failed, scans


def _slow(kind: str) -> list[tuple[str, dict]]:
    """(path, manifest) of the releases a text is looked for by reading every text of (no usable membership index);
    none for a domain or a URL."""
    if kind != "text":
        return []
    slow = []
    for path in readable["path"].to_list():
        try:
            resolved = str(queries.resolve_release(path, root))
            if not common.index_state(resolved).usable:
                slow.append((path, common._open(resolved, str(root)).manifest))
        except queries.ReleaseAccessError:
            continue  # said below, with the answers
    return slow


def _scan_notice(slow: list[tuple[str, dict]]) -> tuple[str, str]:
    """Before a text is looked for in releases without a usable index: how much that reads and about how long, and
    how to build the index; returns `scan_phrase`'s (what, about) for the status while the scans run."""
    what, about = common.scan_phrase([m for _, m in slow], ("documents", "ledger"))
    names = ", ".join(common.code_span(p) for p, _ in slow[:5]) + (" …" if len(slow) > 5 else "")
    st.caption(
        f"Without a membership index ({names}) only exact and verbatim copies can be found, by reading the text of "
        f"all {what}: that can take {about}. {common.code_span('apertura index <release>')} builds the index, which "
        "answers in milliseconds."
    )
    return what, about


def _scanned(scans: dict[str, common.Scan], what: str, about: str) -> dict[str, engine.Answer] | None:
    """The answers of the background scans, by path, once all are done (None until then: the status is shown); a
    release whose scan failed gets its error on one line, and no verdict."""
    if not scans:
        return {}
    if not common.scans_done(list(scans.values()), what, about):
        return None
    answers = {}
    for path, job in scans.items():
        if job.error is not None:
            common.scan_failed(_public(job.error), f"Release {common.code_span(path)} could not be checked")
        else:
            answers[path] = job.result
    return answers


def _removed_state(a: engine.Answer) -> str:
    """The state `lineage.removed_since` walks: removed (none kept, some removed) or the verdict."""
    return "removed" if a.verdict == engine.NOT_IN and a.removed else a.verdict


def _summary(answers: dict[str, engine.Answer], since: dict[str, str], dates: dict[str, str]) -> pl.DataFrame:
    rows = []
    for row in readable.iter_rows(named=True):
        a = answers.get(row["path"])
        if a is None:
            continue
        optout = a.reasons.filter(pl.col("stage") == "optout")
        signals = sorted({x for x in optout["signal"].to_list() if x} or set(optout["reason"].to_list()))
        rows.append(
            {
                "release": row["release_id"],
                "path": row["path"],
                "status": verdict.LABEL[a.verdict],
                "documents": a.documents,
                "removed": a.removed,
                "removed_for_optout": a.optout_removed,
                "removed_since": since.get(row["path"]),
                "signals": ", ".join(signals),
                "registry_entries": ", ".join(
                    f"{e} (effective {dates[e]})" if e in dates else e for e in a.registry_entries
                ),
                "derived_at": row["derived_at"],
            }
        )
    return pl.DataFrame(
        rows,
        schema={"release": pl.String, "path": pl.String, "status": pl.String, "documents": pl.Int64,
                "removed": pl.Int64, "removed_for_optout": pl.Int64, "removed_since": pl.String,
                "signals": pl.String, "registry_entries": pl.String, "derived_at": pl.String},
    )  # fmt: skip


def _release_lines(summary: pl.DataFrame, answers: dict[str, engine.Answer]) -> None:
    """Per release: its verdict and the engine's sentence, then the reasons behind every removal (stage, reason,
    signal, rule, registry entry)."""
    for row in summary.iter_rows(named=True):
        a = answers[row["path"]]
        line = f"**{row['status']}** {common.code_span(row['release'])}: {common.plain(a.headline)}"
        if row["removed_since"]:
            line += f" Removed since {common.code_span(row['removed_since'])}."
        st.markdown(line)
        for r in a.reasons.iter_rows(named=True):
            why = f"stage {common.code_span(r['stage'])}, reason {common.code_span(r['reason'])}"
            if r["signal"]:
                rule = registry.public_rule(r["rule"])  # a registry rule names its requester: not shown here
                why += f", signal {common.code_span(r['signal'])}, rule {common.code_span(rule)}"
            if r["registry_entry"]:
                why += f", registry entry {common.code_span(r['registry_entry'])}"
            if r["evidence_fetched_at"]:
                why += f", evidence fetched {common.code_span(r['evidence_fetched_at'])}"
            st.markdown(f"- {common.plural(r['records'], 'record')}: {why}")
        if a.verdict == engine.NOT_FOUND:
            st.caption(common.plain(a.details[-1]))


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


REQUEST_KIND = {"domain": "domain", "url": "url_prefix", "text": "text"}  # what a checked subject is filed as
STATE_WORDS = {
    "pending": "Pending: it waits for review by the data team.",
    "approved": "Approved",
    "unknown": "No request with this id is known to this app's registry.",
}


def _prefill(kind: str, value: str) -> None:
    """Put what was just checked into the request form (once per checked item, so later edits are kept)."""
    checked = (kind, value)
    if st.session_state.get("rh_prefilled") == checked:
        return
    st.session_state["rh_prefilled"] = checked
    st.session_state["rh_req_kind"] = REQUEST_KIND[kind]
    if kind == "text":
        st.session_state["rh_req_text"] = value
    else:
        st.session_state["rh_req_value"] = value.strip()


def _request_form(kind: str, value: str) -> None:
    """The opt-out request: what to opt out (only its field shown, pre-filled with what was checked), who asks;
    validated here and by the registry, written only to its pending queue. Shows the request id when filed."""
    st.subheader("Ask for an opt-out")
    st.caption(
        "Your request goes to a review queue, not into any release. Only fingerprints of a text are stored "
        "(its normalised sha256 and a MinHash signature), never the text itself. Name and contact are kept with the "
        "request so the data team can reach you; they are never shown on this page."
    )
    filed = st.session_state.setdefault(REQUESTS_KEY, [])
    if value.strip():
        _prefill(kind, value)
    st.session_state.setdefault("rh_req_kind", REQUEST_KIND[kind])
    req_kind = st.selectbox("Opt out", list(registry.KINDS), format_func=registry.KINDS.get, key="rh_req_kind")
    with st.form("rh_request", clear_on_submit=False):
        if req_kind == "text":
            req_text = st.text_area(
                "Text to opt out",
                key="rh_req_text",
                height=120,
                help="At least 20 words; copies and near copies of it are covered wherever they appear.",
            )
            req_value = ""
        else:
            req_value = st.text_input(
                "Domain" if req_kind == "domain" else "URL prefix",
                key="rh_req_value",
                placeholder="example.org" if req_kind == "domain" else "https://example.org/articles/",
                help=(
                    "Its subdomains are covered too."
                    if req_kind == "domain"
                    else "Every page whose address starts with this is covered, on http and https."
                ),
            )
            req_text = None
        left, right = st.columns(2)
        name = left.text_input("Your name or organisation", key="rh_req_name")
        contact = right.text_input("Contact (e-mail or web address)", key="rh_req_contact")
        note = st.text_area("Note (optional)", key="rh_req_note", height=80)
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
            req_kind, req_value, name=name, contact=contact, note=note, text=req_text, root=root,
            client=common.client_address(),
        )  # fmt: skip
    except (registry.RequestError, registry.RegistryAccessError, ValueError) as err:
        st.error("The request was not filed: " + common.plain(_public(err)))
        return
    filed.append(request_id)
    st.session_state["rh_status_id"] = request_id
    st.success(
        f"Request {common.code_span(request_id)} filed: it waits for review in the pending queue. Keep this id to "
        "look its status up below."
    )
    st.caption(
        "A data engineer reviews it; once approved it takes effect, and the next release derived with the registry "
        "removes every document it covers (the release's verification checks that)."
    )


def _status_lookup() -> None:
    """A request's status by its id: pending, approved (from when), and the release from which it is in force."""
    st.subheader("Look up a request")
    linked = st.query_params.get("request", "")  # `?request=<id>`: a bookmarked or shared status link
    if linked and st.session_state.get("_rh_request_linked") != linked:
        st.session_state["_rh_request_linked"] = linked
        st.session_state["rh_status_id"] = linked
    wanted = st.text_input("Request id", key="rh_status_id", placeholder="req-0123456789ab").strip()
    if not wanted:
        return
    try:
        status = registry.request_status(wanted, catalog, root=root)
    except (registry.RequestError, registry.RegistryAccessError) as err:
        common.input_error(_public(err))
        return
    st.query_params["request"] = status["request_id"]  # the page's address now names it: bookmark or share it
    st.session_state["_rh_request_linked"] = status["request_id"]
    rid = common.code_span(status["request_id"])
    if status["state"] == "unknown":
        st.info(f"{rid}: {STATE_WORDS['unknown']}")
        return
    what = f"{common.plain(registry.KINDS.get(status['kind'], status['kind']))}: {common.code_span(status['subject'])}"
    if status["state"] == "pending":
        st.info(f"{rid} ({what}, received {common.code_span(status['received_at'])}): {STATE_WORDS['pending']}")
        return
    line = (
        f"{rid} ({what}): approved as registry entry {common.code_span(status['entry_id'])}, effective from "
        f"{common.code_span(status['effective_from'])}."
    )
    if status["release"]:
        r = status["release"]
        line += (
            f" In force from release {common.code_span(r['release_id'])} (derived "
            f"{common.code_span(r['derived_at'])}) on."
        )
    else:
        line += " No release derived since applies it yet: the next one derived with the registry will."
    st.success(line)


if catalog.height == 0:
    st.info("No release published from this app's data directory yet.")
else:
    st.caption(f"{common.plural(readable.height, 'release')} published from this app's data directory.")
for row in catalog.filter(pl.col("error").is_not_null()).iter_rows(named=True):
    st.warning(f"Release {common.code_span(row['path'])} skipped: " + common.plain(_public(row["error"])))

kind, value, prefix = _subject()
valid = False
if value.strip():
    try:
        engine.validate(kind, value, prefix=prefix)  # invalid input: its message, and no verdict anywhere below
        slow = _slow(kind)
        scanning = _scan_notice(slow) if slow else ("", "")
        answers, failed, scans = _answers(kind, value, prefix, [p for p, _ in slow])
    except ValueError as err:
        common.input_error(err)
    else:
        valid = True
        for path, why in failed.items():
            st.warning(f"Release {common.code_span(path)} cannot be opened: " + common.plain(_public(why)))
        scanned = _scanned(scans, *scanning)  # None while a scan runs: no verdict until every release answered
        if scanned is not None:
            answers |= scanned
        if answers and scanned is not None:
            since = lineage.removed_since(readable, {p: {"verdict": _removed_state(a)} for p, a in answers.items()})
            entries = sorted({e for a in answers.values() for e in a.registry_entries})
            summary = _summary(answers, since, registry.entry_dates(entries, root=root))
            st.subheader("In the releases")
            st.caption("Checked: " + common.code_span(next(iter(answers.values())).query))
            _release_lines(summary, answers)
            common.show_table(summary, key="rh_summary", link_column=None, download="opt-out-status")
            if not prefix:
                checked = readable.filter(pl.col("path").is_in(list(answers)))
                proofs.proof_downloads(
                    [(r["release_id"], root / r["path"]) for r in checked.iter_rows(named=True)], kind, value
                )
        _registry_check(kind, value)

_request_form(kind, value if valid else "")
_status_lookup()

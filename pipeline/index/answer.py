"""One answer to "is this domain / page / text in the training data?": the verdict, its evidence and its wording,
the same on the app's "Am I in?" page, its Rights holders page and `apertura check`.

Why one function: each of them used to decide on its own (the rights page compared a text by hash and verbatim
substring only, "Am I in?" by the membership index), so a lightly edited paragraph was "partly in, 88%" on one
page and "not in" on the other. `answer` is now the only place that decides; the pages and the command only show
what it returns.

How it decides:

* **input first** (`validate`): a domain must be a host name (`url_identity.normalise_domain`, then host-name
  syntax), a URL an http(s) address, a text some words; each within a stated limit. Invalid input raises
  `InvalidInput`, whose message says what is expected; it never gets a verdict.
* **domain / URL**: over the release's own tables (`documents`, `ledger`, `optout_evidence`), compared by the one
  URL identity (`pipeline.url_identity`: scheme, case, default port, %-escapes, trailing dot; `https://` of a page
  crawled as `http://` is the same page).
* **text**: by the membership index when the release has a usable one (exact, near copy and shared passages, each
  verified on the document's text); without one only exact and verbatim copies can be found, so the verdict is
  "not found" (cannot tell), never "not in".

Verdicts: `in`, `partly in` (some of it: passages of a text, or a site of which some records were removed),
`not in` (nothing of it is in; `removed` says whether records of it were removed), `not found` (no verbatim copy,
and near copies were not checked).

No step, executor, source or crawler is imported here: the app may use this module.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import polars as pl

from pipeline import release_read, url_identity
from pipeline.reasons import reason_text, step_name
from pipeline.text_identity import (
    form_digests,
    release_form_changes,
    release_redaction,
    released_forms,
    text_sha256,
)

KINDS = ("domain", "url", "text")
IN, PARTLY, NOT_IN, NOT_FOUND = "in", "partly in", "not in", "not found"
VERDICTS = (IN, PARTLY, NOT_IN, NOT_FOUND)
MAX_DOMAIN_CHARS = url_identity.MAX_DOMAIN_CHARS
MAX_URL_CHARS = url_identity.MAX_URL_CHARS
MAX_TEXT_CHARS = 100_000  # a long article; a longer text is refused (check it in parts), never cut
MIN_SUBSTRING_CHARS = 8  # shorter text would match nearly everything verbatim: only its hashes are compared
EXAMPLES = 50  # example rows of evidence returned (counts are always complete)
EXPECTED = {
    "domain": "a site's domain, such as example.org (a port may follow: example.org:8080)",
    "url": "a web page's address, such as https://example.org/page",
    "text": "a text of a few words or more, such as a paragraph of your article",
}

DOCUMENT_COLUMNS = ("id", "url", "domain", "language", "date", "word_count", "title")
LEDGER_COLUMNS = ("id", "url", "domain", "date", "stage", "reason", "detail", "duplicate_of", "title")


class InvalidInput(ValueError):
    """The input is not what its kind expects (or too long): the message says what is expected."""


class Tables(Protocol):
    """An opened release: its manifest and a DuckDB cursor with the views `documents`, `ledger` and `optout_evidence`
    (each with `url_key` and `domain`), locked to the release's files (the app's `queries.Release` is one)."""

    path: Path
    manifest: dict[str, Any]

    @property
    def release_id(self) -> str: ...

    def cursor(self) -> Any: ...


@dataclass(frozen=True)
class Subject:
    """A validated input: its kind, the value as given (cleaned), and how it is compared and shown."""

    kind: str
    value: str
    shown: str  # normalised domain, canonical URL, or "your text (N words)"
    prefix: bool = False  # url: every page whose address starts with it
    subdomains: bool = True  # domain: its subdomains too


@dataclass
class Answer:
    """The verdict on one subject in one release, with its evidence and the sentences every face shows."""

    release: str
    kind: str
    query: str
    verdict: str
    headline: str
    details: list[str]
    method: str
    documents: int
    removed: int
    optout_removed: int
    reasons: pl.DataFrame  # stage, reason, signal, rule, registry_entry, records, evidence_fetched_at
    document_rows: pl.DataFrame
    ledger_rows: pl.DataFrame
    optout_rows: pl.DataFrame  # removed for an opt-out, with the evidence that reserved them
    hosts: pl.DataFrame | None = None  # domain: documents and removals per host
    similar: list[str] = field(default_factory=list)  # url: near-miss URLs when there is no record
    report: Any = None  # text by the index: its Report (matches with shared passages, sketch figures)
    text_sha256: str | None = None
    elapsed_ms: float = 0.0

    @property
    def registry_entries(self) -> list[str]:
        return sorted({e for e in self.reasons["registry_entry"].to_list() if e})

    def to_dict(self) -> dict[str, Any]:
        """Plain data for `--json`: the figures, the sentences and the evidence rows."""
        out = {
            "release": self.release,
            "kind": self.kind,
            "query": self.query,
            "verdict": self.verdict,
            "headline": self.headline,
            "details": self.details,
            "summary": [self.headline, *self.details],
            "method": self.method,
            "counts": {"documents": self.documents, "removed": self.removed, "optout_removed": self.optout_removed},
            "reasons": self.reasons.to_dicts(),
            "matches": self.document_rows.to_dicts(),
            "removed": self.ledger_rows.to_dicts(),
            "similar": self.similar,
            "text_sha256": self.text_sha256,
            "elapsed_ms": self.elapsed_ms,
        }
        if self.report is not None:  # the index's own figures too (e.g. same_text_documents), never replacing ours
            out["counts"] = {**self.report.counts, **out["counts"]}
            out["sketch"] = self.report.sketch
            out["index"] = self.report.index
        return out


# ------------------------------------------------------------------------------------------------ validation


def _clean(value: str | None) -> str:
    return (value or "").replace("\x00", "")


def _too_long(what: str, n: int, limit: int) -> InvalidInput:
    return InvalidInput(f"the {what} is {n:,} characters long; the limit is {limit:,} characters")


def validate(kind: str, value: str | None, *, prefix: bool = False, subdomains: bool = True) -> Subject:
    """The input as a Subject, or InvalidInput saying what is expected. Checked before any data is read."""
    if kind not in KINDS:
        raise InvalidInput(f"choose what to check: a domain, a URL or a text (not {str(kind)[:40]!r})")
    raw = _clean(value)
    if kind == "text":
        if len(raw) > MAX_TEXT_CHARS:
            raise InvalidInput(
                f"the text is {len(raw):,} characters long; the limit is {MAX_TEXT_CHARS:,} characters: check it in "
                "parts (a few paragraphs each)"
            )
        if not raw.strip():
            raise InvalidInput(f"the text is empty: give {EXPECTED['text']}")
        words = len(re.findall(r"\w+", raw))
        if not words:
            raise InvalidInput(f"there is no word to look for: give {EXPECTED['text']}")
        return Subject("text", raw, f"your text ({words:,} word{'s' if words != 1 else ''})")
    text = raw.strip()
    if not text:
        raise InvalidInput(f"the {kind.upper() if kind == 'url' else kind} is empty: give {EXPECTED[kind]}")
    if kind == "domain":
        if len(text) > MAX_DOMAIN_CHARS:
            raise _too_long("domain", len(text), MAX_DOMAIN_CHARS)
        bad = InvalidInput(f"{text[:80]!r} is not a domain: give {EXPECTED['domain']}")
        if any(c.isspace() for c in text) or re.search(
            r"[/?#]", re.sub(r"^[A-Za-z][A-Za-z0-9+.-]*://", "", text).rstrip("/")
        ):
            raise bad  # a path, a query or spaces: that is no domain (a page is checked as a URL)
        try:
            domain = url_identity.normalise_domain(text)
        except url_identity.BadUrl as err:
            if "public suffix" in str(err):
                raise InvalidInput(str(err)) from None
            raise bad from None
        if not url_identity.is_host_name(domain):
            raise bad
        return Subject("domain", text, domain, subdomains=subdomains)
    if len(text) > MAX_URL_CHARS:
        raise _too_long("URL", len(text), MAX_URL_CHARS)
    if any(c.isspace() for c in text):
        raise InvalidInput(f"{text[:80]!r} is not a URL (it has spaces): give {EXPECTED['url']}")
    try:
        canonical = url_identity.user_url(text)
    except url_identity.BadUrl:
        raise InvalidInput(f"{text[:80]!r} is not a URL: give {EXPECTED['url']}") from None
    site = url_identity.site_key(canonical)
    if site is None or not url_identity.is_host_name(site):
        raise InvalidInput(f"{text[:80]!r} is not a URL: give {EXPECTED['url']}")
    return Subject("url", text, canonical, prefix=prefix)


# ------------------------------------------------------------------------------------------------ the release


@dataclass(eq=False)
class ReleaseTables:
    """A release opened for `answer` outside the app: views over exactly the files its manifest lists, on an
    in-memory DuckDB locked to those files (`release_read.lock`)."""

    path: Path
    manifest: dict[str, Any]
    con: Any

    @property
    def release_id(self) -> str:
        return str(self.manifest.get("release_id", self.path.name))

    def cursor(self) -> Any:
        return self.con.cursor()


def open_tables(release: Path | str) -> ReleaseTables:
    """The release's documents, ledger and opt-out evidence as locked DuckDB views (ReleaseError when the release
    cannot be read), the same views the app queries (`pipeline.release_read.views`)."""
    from pipeline.release_read.views import table_views

    release = Path(release)
    manifest = release_read.load_manifest(release)
    con, _ = table_views(release, manifest, ("documents", "ledger", "optout_evidence"))
    return ReleaseTables(release, manifest, con)


def _frame(tables: Tables, sql: str, **params: Any) -> pl.DataFrame:
    cur = tables.cursor()
    try:
        return cur.sql(sql, params=params or None).pl()
    finally:
        cur.close()


# ------------------------------------------------------------------------------------------------ text forms


TEXT_COND = (
    "(list_contains($exact, text_sha256) OR list_contains($norm, norm_sha256) OR contains(text, $needle) "
    "OR contains(text, $needle2))"
)


def text_params(manifest: dict[str, Any], raw: str) -> tuple[dict[str, Any], str]:
    """The bound parameters of TEXT_COND for a pasted text, and its release form. Parameters: the sha256 of
    every form the release may hold for it (`released_forms`: as pasted, with personal data replaced as this
    release's pii step did, and that after removing format characters), their normalised sha256, and for 8+
    characters the text as pasted and its release form as verbatim needles."""
    forms = released_forms(raw, release_redaction(manifest))
    exact, norm = form_digests(forms)
    needles = [n if len(n) >= MIN_SUBSTRING_CHARS else None for n in (raw.strip(), forms[-1].strip())]
    params = {
        "exact": exact,
        "norm": norm,
        "needle": needles[0],
        "needle2": needles[1] if needles[1] != needles[0] else None,
    }
    return params, forms[-1]


# ------------------------------------------------------------------------------------------------ the answer


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def _verb(n: int, one: str, many: str) -> str:
    """The verb agreeing with a count: "1 other record was removed", "2 ... were"."""
    return one if n == 1 else many


def _evidence(tables: Tables, cond: str, params: dict[str, Any], *, rows: bool = True) -> dict[str, Any]:
    """Counts, reasons (with the opt-out evidence that reserved each removal) and, with `rows`, example rows of the
    records matching `cond` (a condition over documents / ledger columns with bound `params`)."""
    reasons = _frame(
        tables,
        f"""
        SELECT l.stage, l.reason, e.signal, e.rule,
               CASE WHEN e.signal = 'registry' THEN e.source_id END AS registry_entry,
               count(DISTINCT l.id) AS records, min(e.fetched_at) AS evidence_fetched_at
        FROM (SELECT id, stage, reason FROM ledger WHERE {cond}) l
        LEFT JOIN optout_evidence e
               ON e.document_id = l.id AND e.kind = 'document' AND e.verdict = 'reserved' AND l.stage = 'optout'
        GROUP BY ALL ORDER BY records DESC, l.stage, l.reason, e.signal, e.rule
        """,
        **params,
    )
    counts = _frame(
        tables,
        f"SELECT (SELECT count(*) FROM documents WHERE {cond}) AS documents, count(*) AS n, "
        f"count(*) FILTER (WHERE stage = 'optout') AS optout FROM ledger WHERE {cond}",
        **params,
    )
    found = {
        "documents": int(counts["documents"][0]),
        "removed": int(counts["n"][0]),
        "optout_removed": int(counts["optout"][0]),
        "reasons": reasons,
    }
    if not rows:
        return found
    doc_rows = _frame(
        tables,
        f"SELECT {', '.join(DOCUMENT_COLUMNS)} FROM documents WHERE {cond} ORDER BY url, id LIMIT $limit",
        **params,
        limit=EXAMPLES,
    )
    ledger_rows = _frame(
        tables,
        f"""
        SELECT {", ".join("l." + c for c in LEDGER_COLUMNS)}, d.url AS duplicate_of_url
        FROM (SELECT {", ".join(LEDGER_COLUMNS)} FROM ledger WHERE {cond} ORDER BY url, id LIMIT $limit) l
        LEFT JOIN documents d ON d.id = l.duplicate_of ORDER BY l.url, l.id
        """,
        **params,
        limit=EXAMPLES,
    )
    optout_rows = _optout_rows(tables, cond, params)
    return found | {"document_rows": doc_rows, "ledger_rows": ledger_rows, "optout_rows": optout_rows}


def _optout_rows(tables: Tables, cond: str, params: dict[str, Any]) -> pl.DataFrame:
    """Records removed for an opt-out matching `cond`, each with the evidence that reserved it."""
    return _frame(
        tables,
        f"""
        SELECT l.id, l.url, l.domain, l.reason, e.signal, e.agents, e.rule, e.source_id, e.fetched_at
        FROM (SELECT id, url, domain, reason FROM ledger WHERE stage = 'optout' AND {cond}
              ORDER BY url, id LIMIT $limit) l
        LEFT JOIN optout_evidence e ON e.document_id = l.id AND e.kind = 'document' AND e.verdict = 'reserved'
        ORDER BY l.url, l.id, e.signal, e.rule
        """,
        **params,
        limit=EXAMPLES,
    )


def _reason_lines(reasons: pl.DataFrame) -> list[str]:
    """One sentence per stage and reason of the removed records."""
    grouped = reasons.group_by("stage", "reason", maintain_order=True).agg(pl.col("records").sum())
    lines = []
    for stage, reason, n in grouped.iter_rows():
        why = reason_text(reason, stage).rstrip(".")
        lines.append(f"{_plural(int(n), 'record')} removed by {step_name(stage, reason)}: {why} ({reason}).")
    return lines


def _site_verdict(documents: int, removed: int) -> str:
    return (PARTLY if removed else IN) if documents else NOT_IN


def _answer_domain(tables: Tables, subject: Subject) -> dict[str, Any]:
    cond, params = url_identity.domain_condition(subject.shown, subdomains=subject.subdomains)
    found = _evidence(tables, cond, params)
    found["hosts"] = _frame(
        tables,
        f"""
        SELECT domain, count(*) FILTER (WHERE kept) AS documents, count(*) FILTER (WHERE NOT kept) AS removed
        FROM (SELECT domain, true AS kept FROM documents WHERE {cond}
              UNION ALL SELECT domain, false FROM ledger WHERE {cond})
        GROUP BY domain ORDER BY documents DESC, removed DESC, domain LIMIT 100
        """,
        **params,
    )
    site = subject.shown + (" (with its subdomains)" if subject.subdomains else "")
    n, r = found["documents"], found["removed"]
    verdict = _site_verdict(n, r)
    if verdict == IN:
        head = f"In the training data: {_plural(n, 'document')} from {site}."
    elif verdict == PARTLY:
        head = (
            f"Partly in the training data: {_plural(n, 'document')} from {site} {_verb(n, 'is', 'are')} in; "
            f"{_plural(r, 'other record')} from it {_verb(r, 'was', 'were')} removed."
        )
    elif r:
        every = "the one record" if r == 1 else f"all {_plural(r, 'record')}"
        head = f"Not in the training data: {every} from {site} {_verb(r, 'was', 'were')} removed."
    else:
        head = f"Not in the training data: this release has no record from {site}."
    return found | {"verdict": verdict, "headline": head, "details": _reason_lines(found["reasons"])}


def _answer_url(tables: Tables, subject: Subject) -> dict[str, Any]:
    if subject.prefix:
        cond, params = url_identity.prefix_condition(subject.shown)
        target = f"pages whose address starts with {subject.shown}"
    else:
        cond, params = "url_key = $url_key", {"url_key": url_identity.url_key(subject.shown)}
        target = subject.shown
    found = _evidence(tables, cond, params)
    n, r = found["documents"], found["removed"]
    similar: list[str] = []
    verdict = _site_verdict(n, r) if subject.prefix else (IN if n else NOT_IN)
    if verdict == IN:
        head = f"In the training data: {_plural(n, 'document')} for {target}."
    elif verdict == PARTLY:
        head = (
            f"Partly in the training data: {_plural(n, 'document')} for {target} {_verb(n, 'is', 'are')} in; "
            f"{_plural(r, 'other record')} {_verb(r, 'was', 'were')} removed."
        )
    elif r:
        head = (
            f"Not in the training data: {target} {'were' if subject.prefix else 'was'} crawled but removed "
            f"({_plural(r, 'record')})."
        )
    else:
        head = f"Not in the training data: this release has no record of {target}."
        if not subject.prefix:
            similar = [
                row[0]
                for row in _frame(
                    tables,
                    "SELECT DISTINCT url FROM (SELECT url, url_key FROM documents UNION ALL SELECT url, url_key FROM "
                    "ledger) WHERE list_contains($twins, url_key) ORDER BY url LIMIT 5",
                    twins=url_identity.near_miss_keys(params["url_key"] or ""),
                ).iter_rows()
            ]
    details = _reason_lines(found["reasons"])
    if similar:
        details.append(
            "It has records at an address that differs only by a trailing slash or 'www.': "
            + ", ".join(similar)
            + ". Check those addresses too."
        )
    details.append(
        "Addresses are compared as the same page whatever their spelling: http and https, upper and lower case in "
        "the host, a default port, %-escaped letters and a trailing dot in the host."
    )
    return found | {"verdict": verdict, "headline": head, "details": details, "similar": similar}


_INDEX_HEAD = {"IN:": "In the training data:", "PARTLY IN:": "Partly in the training data:",
               "NOT IN:": "Not in the training data:"}  # fmt: skip


def _answer_text_index(tables: Tables, subject: Subject, index: Any) -> dict[str, Any]:
    from pipeline.index.build import MembershipIndexError

    try:
        report = index.check_text(subject.value)
    except MembershipIndexError as err:  # e.g. only symbols: no word the index knows
        raise InvalidInput(str(err)) from None
    ids = [m.id for m in report.matches] + [m.id for m in report.removed]
    found = _evidence(tables, "list_contains($ids, id)", {"ids": ids or [""]}, rows=False)
    found["optout_rows"] = _optout_rows(tables, "list_contains($ids, id)", {"ids": ids or [""]})
    head = report.summary[0]
    for old, new in _INDEX_HEAD.items():
        if head.startswith(old):
            head = new + head[len(old) :]
            break
    found["document_rows"] = _match_frame(report.matches, removed=False)
    found["ledger_rows"] = _match_frame(report.removed, removed=True)
    details = _reason_lines(found["reasons"]) + [line for line in report.summary[1:] if not line.startswith("A copy")]
    return found | {"verdict": report.verdict, "headline": head, "details": details, "report": report,
                    "text_sha256": report.query.get("text_sha256")}  # fmt: skip


def _match_frame(matches: list[Any], *, removed: bool) -> pl.DataFrame:
    """Index matches as rows: where, how, and the figures (jaccard verified on the texts, overlap = share of the
    text's words inside shared passages)."""
    schema: dict[str, Any] = {
        "id": pl.String, "url": pl.String, "how": pl.String, "jaccard": pl.Float64,
        "estimated_jaccard": pl.Float64, "overlap": pl.Float64, "longest_span_words": pl.Int64,
        "language": pl.String, "title": pl.String,
    }  # fmt: skip
    extra = ("stage", "reason", "detail", "duplicate_of", "duplicate_of_url")
    if removed:
        schema |= {k: pl.String for k in extra}
    rows = []
    for m in matches:
        row = {"id": m.id, "url": m.url, "how": ", ".join(m.how), "jaccard": m.jaccard,
               "estimated_jaccard": m.estimated_jaccard, "overlap": m.overlap,
               "longest_span_words": max((s.words for s in m.spans), default=0), "language": m.language,
               "title": m.title}  # fmt: skip
        if removed:
            row |= {k: getattr(m, k) for k in extra}
        rows.append(row)
    return pl.DataFrame(rows, schema=schema)


def _answer_text_tables(tables: Tables, subject: Subject, why: str) -> dict[str, Any]:
    params, released = text_params(tables.manifest, subject.value)
    ids = [  # one pass over each table's texts; everything else is looked up by id
        row[0]
        for table in ("documents", "ledger")
        for row in _frame(tables, f"SELECT id FROM {table} WHERE {TEXT_COND}", **params).iter_rows()
    ]
    found = _evidence(tables, "list_contains($ids, id)", {"ids": ids or [""]})
    n, r = found["documents"], found["removed"]
    if n:
        verdict = IN
        head = f"In the training data: this text is in {_plural(n, 'document')} (exact or verbatim copies)."
    else:
        verdict = NOT_FOUND
        head = (
            "Not found: no document holds this text exactly or verbatim. Near copies and shared passages could "
            "not be checked, so this does not mean the text is not in the training data."
        )
        if r:
            head += f" {_plural(r, 'removed record')} held it."
    details = [*_reason_lines(found["reasons"]), f"Only exact and verbatim copies were looked for: {why}."]
    if params["needle"] is None:
        details.append(f"A text shorter than {MIN_SUBSTRING_CHARS} characters is compared as a whole only.")
    changes = release_form_changes(subject.value, released)
    if changes:
        details.append(
            f"Personal data in documents was replaced by placeholders; your text was compared the same way ({changes})."
        )
    return found | {"verdict": verdict, "headline": head, "details": details, "text_sha256": text_sha256(subject.value)}


def answer(
    tables: Tables,
    subject: Subject,
    *,
    index: Any = None,
    no_index: str = "this release has no membership index",
) -> Answer:
    """The verdict on a validated subject in one release. `index`: the release's opened membership index (for a
    text), or None, then `no_index` says why (stated in the answer)."""
    started = time.perf_counter()
    if subject.kind == "domain":
        found, method = _answer_domain(tables, subject), "the release's documents and ledger"
    elif subject.kind == "url":
        found, method = _answer_url(tables, subject), "the release's documents and ledger"
    elif index is not None:
        found, method = (
            _answer_text_index(tables, subject, index),
            "the membership index (exact, near copies, shared passages)",
        )
    else:
        found, method = _answer_text_tables(tables, subject, no_index), f"exact and verbatim copies only ({no_index})"
    keys = ("documents", "removed", "optout_removed", "reasons", "document_rows", "ledger_rows", "optout_rows")
    return Answer(
        release=tables.release_id,
        kind=subject.kind,
        query=subject.shown,
        verdict=found["verdict"],
        headline=found["headline"],
        details=found["details"],
        method=method,
        hosts=found.get("hosts"),
        similar=found.get("similar", []),
        report=found.get("report"),
        text_sha256=found.get("text_sha256"),
        elapsed_ms=round((time.perf_counter() - started) * 1000, 2),
        **{k: found[k] for k in keys},
    )


def check(
    release: Path | str, kind: str, value: str | None, *, prefix: bool = False, subdomains: bool = True
) -> Answer:
    """`answer` for a release directory (what `apertura check` runs): input validated first (InvalidInput),
    the release opened read-only (release_read.ReleaseError), its membership index used for a text when usable."""
    subject = validate(kind, value, prefix=prefix, subdomains=subdomains)
    tables = open_tables(release)
    if subject.kind != "text":
        return answer(tables, subject)
    from pipeline.index.build import MembershipIndexError
    from pipeline.index.query import open_index

    try:
        index = open_index(release)
    except MembershipIndexError as err:  # missing or unusable: its message says which, and how to build one
        return answer(tables, subject, no_index=f"the membership index cannot be used: {err}")
    return answer(tables, subject, index=index)

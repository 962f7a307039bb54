"""The EU summary as a document in the template's order and wording, rendered to Markdown and HTML (one `Doc`,
rendered twice, so the two can never say different things), and written to files.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from pipeline.reports.eu_summary.model import (
    SIGNAL_TEXT,
    EUSummary,
    InputSource,
    RemovalSection,
    Share,
    SourceSection,
    TdmSection,
    Totals,
)
from pipeline.reports.render import Doc, to_html, to_markdown


def _pct(x: float) -> str:
    return f"{100 * x:.2f} %"


def _share_rows(shares: Iterable[Share], rank: bool = False) -> list[list]:
    return [
        ([i] if rank else []) + [s.name, s.documents, s.words, s.text_bytes, _pct(s.share)]
        for i, s in enumerate(shares, 1)
    ]


_SHARE_HEAD = ["documents", "words", "text bytes", "share of bytes"]


def _period(t: Totals) -> str:
    if not t.first_date:
        return "unknown (no fetch dates recorded)"
    return f"{t.first_date} to {t.last_date}" + (
        f" ({t.documents_without_date:,} documents without a date)" if t.documents_without_date else ""
    )


def _yes_no(used: bool) -> str:
    return "☒ Yes ☐ No" if used else "☐ Yes ☒ No"


def _inputs_table(doc: Doc, inputs: list[InputSource]) -> None:
    doc.table(
        ["input", "format", "sha256", "dataset", "documents", "removed", "basis"],
        [[i.path, i.format, i.sha256[:16] + "…", i.dataset, i.documents, i.removed, i.basis] for i in inputs],
    )


def summary_doc(s: EUSummary) -> Doc:
    g, t = s.general, s.general.totals
    doc = Doc("Public Summary of Training Content for General-Purpose AI Models")
    doc.p(
        f"Drawn up under Article 53(1)(d) of Regulation (EU) 2024/1689 following the {s.template} ({s.template_url}). "
        f"Figures are computed from Apertura release {g.release_id!r} (manifest sha256 {g.manifest_sha256}, "
        f"configuration {g.config_hash}); anyone holding the release can recompute them."
    )
    doc.fields(("Version of the summary", g.summary_version), ("Last update", g.last_update))

    doc.h(1, "1. General information")
    doc.h(2, "1.1. Provider identification")
    doc.fields(
        ("Provider name and contact details", g.provider),
        ("Authorised representative name and contact details", g.authorised_representative),
    )
    doc.h(2, "1.2. Model identification")
    doc.fields(
        ("Versioned model name(s)", g.model),
        ("Model dependencies", g.model_dependencies),
        ("Date of placement of the model on the Union market", g.placement_date),
    )
    doc.h(2, "1.3. Modalities, overall training data size and other characteristics")
    doc.table(
        ["modality", "training data size", "types of content"],
        [
            [
                "☒ Text",
                f"☒ {g.size_bin}: {_tokens(t, g.tokens_per_word)}; {t.documents:,} documents, "
                f"{t.text_bytes:,} bytes of UTF-8 text",
                "Text extracted from web pages and text files: "
                + ", ".join(f"{c.name} ({c.documents:,} documents)" for c in g.content_types),
            ],
            ["☐ Image ☐ Audio ☐ Video ☐ Other", "not applicable", "not applicable"],
        ],
    )
    doc.fields(
        ("Latest date of data acquisition/collection for model training", t.last_date or "unknown"),
        ("Period covered by the fetch dates of the documents", _period(t)),
    )
    doc.p(
        "Description of the linguistic characteristics of the overall training data (fastText lid.176 language "
        "identification per document, ISO 639 codes):"
    )
    doc.table(["language", *_SHARE_HEAD], _share_rows(g.languages))

    doc.h(1, "2. List of data sources")
    for sec in s.sources:
        doc.h(2, sec.title)
        if sec.category == "crawled":
            _crawled_section(doc, sec)
            continue
        question = {
            "public": "Have you used publicly available datasets to train the model?",
            "private": "Have you used private datasets obtained from third parties?",
            "user": "Was data from user interactions (with the model or other products) used to train the model?",
            "synthetic": "Was synthetic AI-generated data created by the provider or on its behalf used?",
            "other": "Have data sources other than those described in Sections 2.1 to 2.5 been used?",
        }[sec.category]
        doc.fields((question, _yes_no(sec.used)))
        if not sec.used:
            continue
        doc.fields(
            ("Modality", "text"),
            ("Documents", sec.totals.documents),
            ("Words", sec.totals.words),
            ("Text bytes", sec.totals.text_bytes),
            ("Period of data collection", _period(sec.totals)),
        )
        _inputs_table(doc, sec.inputs)
        if sec.top_domains:
            doc.p(f"Most relevant domain names ({sec.top_domains_rule}; {sec.domains_total:,} domain(s) in total):")
            doc.table(["rank", "domain", *_SHARE_HEAD], _share_rows(sec.top_domains, rank=True))

    doc.h(1, "3. Data processing aspects")
    _tdm_section(doc, s.tdm)
    _removal_section(doc, s.removal)
    doc.h(2, "3.3. Other information (optional)")
    doc.p(s.other_information or "none")
    return doc


def _crawled_section(doc: Doc, sec: SourceSection) -> None:
    doc.fields(("Were crawlers used by the provider or on its behalf?", _yes_no(sec.used)))
    if not sec.used:
        return
    doc.p("Crawler name(s)/identifier(s), as recorded in the warcinfo record of every WARC file written:")
    doc.table(
        ["software", "user agent", "operator", "WARC files"],
        [[c.software, c.user_agent, c.operator, len(c.inputs)] for c in sec.crawlers],
    )
    doc.fields(("Purposes of the crawler(s)", sec.purposes))
    doc.p("General description of crawler behaviour (collection policy):")
    doc.bullets(sec.behaviour)
    doc.fields(
        ("Period of data collection (WARC-Date of the documents)", _period(sec.totals)),
        ("Type of modality covered", "text"),
        ("Documents", sec.totals.documents),
        ("Words", sec.totals.words),
        ("Text bytes", sec.totals.text_bytes),
        ("Domains", sec.domains_total),
    )
    doc.p("Comprehensive description of the type of content and online sources crawled — content types:")
    doc.table(["content type", *_SHARE_HEAD], _share_rows(sec.content_types))
    doc.p("Languages of the crawled documents:")
    doc.table(["language", *_SHARE_HEAD], _share_rows(sec.languages))
    doc.p(
        f"Summary of the most relevant domain names crawled: {sec.top_domains_rule}; "
        f"{len(sec.top_domains):,} of {sec.domains_total:,} domain(s)"
        + (f" ({sec.documents_without_domain:,} documents have no domain)" if sec.documents_without_domain else "")
        + ":"
    )
    doc.table(["rank", "domain", *_SHARE_HEAD], _share_rows(sec.top_domains, rank=True))
    doc.p("WARC files:")
    _inputs_table(doc, sec.inputs)


def _tdm_section(doc: Doc, tdm: TdmSection) -> None:
    doc.h(2, "3.1. Respect of reservation of rights from text and data mining exception or limitation")
    doc.fields(
        ("Signatory to the Code of Practice for general-purpose AI models (copyright chapter)", tdm.signatory),
        ("Machine-readable opt-outs applied to every record before training", "yes" if tdm.enabled else "no"),
    )
    doc.p(
        "Measures: before any text is extracted, every record is checked against every opt-out signal family "
        "for the honoured user agents; a reserved record is removed and recorded in the release's ledger with "
        "the rule that fired, and the policy files and statements seen are kept as evidence. When several "
        "versions of a policy file exist (crawl time, later snapshots), the most restrictive one wins."
    )
    doc.p("Signals checked: " + "; ".join(SIGNAL_TEXT.values()) + ".")
    doc.p("Honoured user agents: " + (", ".join(tdm.agents) or "none") + ".")
    doc.p(f"Site policy files seen ({tdm.origins_with_policy_files:,} origins):")
    doc.table(
        ["policy file", "outcome", "fetches", "origins"],
        [[f.file, f.outcome, f.fetches, f.origins] for f in tdm.policy_files],
    )
    doc.p(f"Records removed because rights were reserved: {tdm.removed:,}, by signal:")
    doc.table(["ledger reason", "records"], [[c.name, c.count] for c in tdm.removed_by_signal])
    doc.p("Records with a reservation, per signal family (a record can be reserved by several):")
    doc.table(["signal", "records"], [[c.name, c.count] for c in tdm.signals])
    doc.p("Records with a reservation, per honoured user agent:")
    doc.table(["user agent", "records"], [[c.name, c.count] for c in tdm.reserved_by_agent])
    doc.p("Opt-out snapshots applied retroactively (policy files fetched after the crawl and applied to it):")
    doc.table(
        ["snapshot", "sha256", "bytes"],
        [[x.get("path"), x.get("sha256"), x.get("bytes")] for x in tdm.snapshots],
        empty="none",
    )
    registry = tdm.registry or {}
    doc.fields(
        (
            "Rights-holder opt-out registry applied",
            f"sha256 {registry.get('sha256')}; entries: {registry.get('entries')}; as of {registry.get('as_of')}"
            if registry
            else "none",
        ),
        ("Records removed by registry entries", tdm.registry_removed),
    )
    if tdm.lineage:
        parent = tdm.lineage.get("parent") or {}
        doc.p("This release was derived retroactively from an earlier release, without re-crawling:")
        doc.fields(
            ("Parent release", parent.get("release_id")),
            ("Parent manifest sha256", parent.get("manifest_sha256")),
            ("Opt-outs applied as of", tdm.lineage.get("derived_at")),
            ("Snapshots applied at derivation", len(tdm.lineage.get("snapshots") or [])),
        )
    check = {True: "passed", False: "FAILED", None: "not available (no opt-out evidence in this release format)"}
    doc.fields(
        ("Kept documents with a reservation (violations)", tdm.violations),
        ("Opt-out removals without recorded evidence", tdm.removals_without_evidence),
        ("Zero-violations check", check[tdm.check_passed]),
    )


def _removal_section(doc: Doc, r: RemovalSection) -> None:
    doc.h(2, "3.2. Removal of illegal content")
    doc.fields(("General description of measures taken", r.measures))
    doc.p("Filters applied by the data pipeline, in order:")
    doc.bullets(r.filters)
    doc.p(f"Records per stage ({r.records_in:,} eligible input records, {r.documents_out:,} documents kept):")
    doc.table(
        ["stage", "in", "removed", "out", "ledger stage"],
        [[x.stage, x.records_in, x.removed, x.records_out, x.ledger_stage] for x in r.stages],
    )
    doc.fields(("Removals per ledger stage agree with the manifest", r.stages_match_ledger))
    if r.bytes_accounted or r.unreadable_spans:
        doc.fields(
            (
                "Unreadable input spans",
                f"{r.unreadable_spans:,} spans ({r.unreadable_bytes:,} bytes) in {r.unreadable_inputs:,} input files "
                "were damaged bytes that are no readable record; each is a ledger row (read_unparsable) with its file, "
                "byte offset and length, and reading resumed after it"
                if r.unreadable_spans
                else "none: every byte of every web-archive input is in a record that was read",
            )
        )
    doc.p("Removals per stage and reason (ledger):")
    doc.table(
        ["stage", "reason", "records", "rule"], [[x.stage, x.reason, x.records, x.description] for x in r.reasons]
    )
    p = r.pii
    doc.fields(
        ("Personal data replaced by placeholders: e-mail addresses", p.emails),
        ("Public IP addresses", p.ip_addresses),
        ("IBANs", p.ibans),
        ("Documents with at least one replacement", p.documents_with_pii),
    )


def summary_markdown(summary: EUSummary) -> str:
    return to_markdown(summary_doc(summary))


def summary_html(summary: EUSummary) -> str:
    return to_html(summary_doc(summary))


def write_summary(summary: EUSummary, out: Path, formats: Iterable[str]) -> list[Path]:
    """Write the requested formats next to `out` (same stem, .md/.html/.json); return the paths."""
    render = {"md": summary_markdown, "html": summary_html, "json": EUSummary.to_json}
    written = []
    for f in formats:
        path = out.with_suffix("." + f)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render[f](summary), encoding="utf-8")
        written.append(path)
    return written


def _tokens(t, tokens_per_word: float) -> str:
    """The token figure: counted with the release's tokenizer when every document has a count, else estimated."""
    if t.tokens is not None:
        return f"{t.tokens:,} tokens (counted with the tokenizer the release names, column `token_count`)"
    return f"about {t.tokens_estimate:,} tokens (estimated (words × {tokens_per_word}): {t.words:,} words)"

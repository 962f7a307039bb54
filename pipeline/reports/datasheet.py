"""A datasheet (Gebru et al., "Datasheets for Datasets", CACM 2021) for a release, in Markdown.

It answers the datasheet's questions from the release itself: the recipe (every step in order with
its configuration, the configuration hash, software versions), what the data is made of (counts,
languages, sources), how it was collected, and under which licence and opt-out policy it is used.
Figures come from the same `EUSummary` the AI Act summary prints, so the two documents cannot disagree.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pipeline.release_read import load_manifest
from pipeline.reports.eu_summary import EUSummary, SummaryOptions, build_summary
from pipeline.reports.eu_summary.model import CATEGORIES, SIGNAL_TEXT
from pipeline.reports.render import Doc, to_markdown


def _flatten(prefix: str, value: Any) -> list[tuple[str, str]]:
    if isinstance(value, dict):
        return [item for k, v in value.items() for item in _flatten(f"{prefix}.{k}", v)]
    return [(prefix, json.dumps(value) if not isinstance(value, str) else value)]


def datasheet_doc(release: Path, summary: EUSummary, licence: str | None = None) -> Doc:
    manifest = load_manifest(release, complete=True)
    g, t, r = summary.general, summary.general.totals, summary.removal
    config = manifest.get("config", {})
    doc = Doc(f"Datasheet: Apertura release {manifest['release_id']}")
    doc.fields(
        ("Release", manifest["release_id"]),
        ("Manifest sha256", g.manifest_sha256),
        ("Configuration hash", manifest["config_hash"]),
        ("Pipeline version", manifest.get("pipeline_version")),
        ("Release format", manifest.get("format_version")),
    )

    doc.h(1, "Motivation")
    doc.p(
        "A text corpus for training language models whose every document can be traced to the archived web "
        "record it came from, and whose every removed record is listed with the reason, so that rights holders "
        "and auditors can check what is in it and what was left out."
    )
    doc.fields(("Provider", g.provider), ("Model(s) trained on it", g.model))

    doc.h(1, "Composition")
    doc.fields(
        ("Documents", t.documents),
        ("Words", t.words),
        *((("Tokens (counted with the release's tokenizer)", t.tokens),) if t.tokens is not None else ()),
        (f"Tokens (estimate: words × {g.tokens_per_word})", t.tokens_estimate),
        ("UTF-8 text bytes", t.text_bytes),
        ("Fetch dates", f"{t.first_date or 'unknown'} to {t.last_date or 'unknown'}"),
    )
    doc.p("Languages (fastText lid.176, one tag per document):")
    doc.table(
        ["language", "documents", "words", "text bytes", "share of bytes"],
        [[x.name, x.documents, x.words, x.text_bytes, f"{100 * x.share:.2f} %"] for x in g.languages],
    )
    doc.p("Sources, by category of the EU AI Office template:")
    doc.table(
        ["category", "inputs", "documents", "words", "domains"],
        [
            [CATEGORIES[s.category], len(s.inputs), s.totals.documents, s.totals.words, s.domains_total]
            for s in summary.sources
            if s.used
        ],
    )
    doc.p("Tables of the release (Parquet; column meanings in schemas/*.json):")
    doc.table(
        ["file", "rows", "bytes", "sha256"],
        [[f["path"], f["rows"], f["bytes"], f["sha256"]] for f in manifest["files"]],
    )

    doc.h(1, "Collection process")
    crawled = summary.section("crawled")
    if crawled.used:
        doc.table(
            ["crawler", "user agent", "WARC files"],
            [[c.software, c.user_agent, len(c.inputs)] for c in crawled.crawlers],
        )
        doc.bullets(crawled.behaviour)
    doc.table(
        ["input", "format", "sha256", "eligible records", "documents", "removed", "category"],
        [
            [i.path, i.format, i.sha256, i.eligible_records, i.documents, i.removed, i.category]
            for s in summary.sources
            for i in s.inputs
        ],
    )

    doc.h(1, "Preprocessing: the recipe")
    doc.p(
        f"Run configuration hash {manifest['config_hash']} (sha256 of the canonical JSON of the configuration "
        "in manifest.json; every row of every table carries it). Same inputs and configuration give "
        "byte-identical Parquet files."
    )
    doc.table(
        ["stage", "records in", "removed", "records out"],
        [[x.stage, x.records_in, x.removed, x.records_out] for x in r.stages],
    )
    doc.bullets(r.filters)
    doc.table(["stage", "reason", "records"], [[x.stage, x.reason, x.records] for x in r.reasons])
    doc.p("Configuration by step:")
    # Every section of the run configuration (one per step, in pipeline order), then the run-wide fields.
    rows = [
        [name, key, value]
        for name, section in config.items()
        if isinstance(section, dict)
        for key, value in _flatten(name, section)
    ]
    rows += [
        ["run", key, value] for name, v in config.items() if not isinstance(v, dict) for key, value in _flatten(name, v)
    ]
    doc.table(["step", "parameter", "value"], rows)
    doc.p("Software versions:")
    doc.table(["component", "version"], [[k, v] for k, v in manifest.get("software", {}).items()])
    doc.fields(
        ("Personal data replaced: e-mails", r.pii.emails),
        ("Public IP addresses", r.pii.ip_addresses),
        ("IBANs", r.pii.ibans),
    )

    doc.h(1, "Licences and opt-out policy")
    doc.fields(("Licence of the release", licence or "[not recorded in the release: give --license]"))
    doc.p(
        "The documents remain the works of their authors; this release does not grant rights in them. "
        "Text and data mining reservations are honoured as follows."
    )
    tdm = summary.tdm
    doc.fields(
        ("Opt-out checks enabled", tdm.enabled),
        ("Honoured user agents", ", ".join(tdm.agents) or "none"),
        ("Site policy files seen (origins)", tdm.origins_with_policy_files),
        ("Records removed for a reservation", tdm.removed),
        ("Kept documents with a reservation", tdm.violations),
        ("Zero-violations check", {True: "passed", False: "FAILED", None: "not available"}[tdm.check_passed]),
    )
    doc.bullets(list(SIGNAL_TEXT.values()))
    doc.table(["ledger reason", "records"], [[c.name, c.count] for c in tdm.removed_by_signal])
    doc.table(
        ["snapshot", "sha256"],
        [[x.get("path"), x.get("sha256")] for x in tdm.snapshots],
        empty="no retroactive opt-out snapshot applied",
    )

    doc.h(1, "Distribution and maintenance")
    doc.p(
        "The release is immutable. The command apertura verify RELEASE re-checks every sha256 above, the conservation "
        "law (input records = documents + ledger rows) and that no kept document carries an opt-out; a newer "
        "opt-out produces a new release, never an edit of this one."
    )
    return doc


def build_datasheet(
    release: Path,
    *,
    summary: EUSummary | None = None,
    licence: str | None = None,
    options: SummaryOptions | None = None,
) -> str:
    """The datasheet as Markdown."""
    release = Path(release)
    summary = summary or build_summary(release, options)
    return to_markdown(datasheet_doc(release, summary, licence))

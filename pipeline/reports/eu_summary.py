"""EU AI Act Art. 53(1)(d): the public summary of training content, computed from one release.

The structure follows the AI Office's "Explanatory Notice and Template for the Public Summary of
Training Content for general-purpose AI models" (Annex to C(2025) 5235 final, 24 July 2025):
1 general information (1.1 provider, 1.2 model, 1.3 modalities/size/characteristics), 2 list of data
sources (2.1 public datasets, 2.2 private third-party datasets, 2.3 data crawled and scraped from
online sources, 2.4 user data, 2.5 synthetic data, 2.6 other), 3 data processing aspects (3.1 respect
of reservations of rights from the TDM exception, 3.2 removal of illegal content, 3.3 other).

Every figure is a DuckDB aggregate over the release's Parquet (parameterised, `read_parquet($files)`),
never a Python loop over rows. What a release cannot know (provider, model, market date) comes from
`SummaryOptions` and shows a visible placeholder until given. Inputs are sorted into the template's
source categories from their format and `warcinfo` record (crawler name, user agent, Common Crawl),
which the caller can override per input glob.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import math
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import duckdb
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field

from pipeline.optout.families import signal_texts
from pipeline.release_read import MANIFEST, load_manifest, lock, table_files
from pipeline.reports.render import Doc, to_html, to_markdown

TEMPLATE_NAME = (
    "Template for the Public Summary of Training Content for general-purpose AI models "
    "(AI Office, Annex to C(2025) 5235 final, 24 July 2025)"
)
TEMPLATE_URL = (
    "https://digital-strategy.ec.europa.eu/en/library/"
    "explanatory-notice-and-template-public-summary-training-content-general-purpose-ai-models"
)
TOKENS_PER_WORD = 1.3  # rough ratio for BPE tokenisers on European languages; no tokenizer ships here

Category = Literal["public", "private", "crawled", "user", "synthetic", "other"]
CATEGORIES: dict[str, str] = {
    "public": "2.1. Publicly available datasets",
    "private": "2.2. Private non-publicly available datasets obtained from third parties",
    "crawled": "2.3. Data crawled and scraped from online sources",
    "user": "2.4. User data",
    "synthetic": "2.5. Synthetic data",
    "other": "2.6. Other sources of data",
}
# Template 1.3: fixed size bins for text.
TEXT_SIZE_BINS = ((1e9, "Less than 1 billion tokens"), (1e13, "1 billion to 10 trillion tokens"))
TEXT_SIZE_TOP = "More than 10 trillion tokens"

REGISTRY_REASON = "optout_registry"  # ledger reason of a registry removal (pipeline/optout/registry.py REASON)
WARCINFO_BYTES = 256 * 1024  # of a warcinfo record's fields, at most this much is read

# Funnel entries of the manifest that are not ledger stages: their ledger rows say stage=optout
# (pipeline/release.py REGISTRY_STAGE, pipeline/derive.py DERIVE_STAGE).
BOOKKEEPING_STAGES = {"registry": "optout", "derive": "optout"}

REASON_TEXT: dict[str, str] = {
    "read_unparsable": "damaged input bytes that are no readable record (an unreadable span, or a record whose framing "
    "is broken): each span is one ledger row with its file, byte offset and length",
    "read_truncated": "a record cut short in the input file (its block ends before its declared length)",
    "read_": "not a usable web document (HTTP status, MIME type, size, empty body, or a site policy file)",
    "extract_": "no main text could be extracted (undecodable or no text)",
    "language_": "language not kept, or identification score below the threshold",
    "gopher_": "Gopher quality/repetition rules (Rae et al. 2021)",
    "c4_": "C4 rules (Raffel et al. 2020)",
    "fineweb_": "FineWeb heuristics (Penedo et al. 2024)",
    "pii_": "personal data that could not be replaced",
    "dedup_exact": "exact duplicate of a kept document (normalised-text hash)",
    "dedup_near": "near duplicate of a kept document (MinHash LSH over word n-grams)",
    "optout_": "reservation of rights for text and data mining (see 3.1)",
}
SIGNAL_TEXT: dict[str, str] = signal_texts()  # signal -> plain text, from the family declarations


def _placeholder(option: str) -> str:
    return f"[not recorded in the release: give --{option}]"


class SummaryOptions(BaseModel):
    """What the summary needs but a release cannot know; unset fields print a placeholder naming the option."""

    model_config = ConfigDict(extra="forbid")

    provider: str | None = Field(None, description="1.1 Provider name and contact details.")
    authorised_representative: str | None = Field(None, description="1.1 Only for providers outside the Union.")
    model: str | None = Field(None, description="1.2 Versioned model name(s).")
    model_dependencies: str | None = Field(None, description="1.2 Model this one was fine-tuned from, if any.")
    placement_date: str | None = Field(None, description="1.2 Date of placement on the Union market.")
    summary_version: str = Field("1", description="Version of this summary.")
    last_update: str | None = Field(None, description="Date of this summary (default: today, UTC).")
    tokens_per_word: float = Field(TOKENS_PER_WORD, description="Token estimate = words x this ratio.")
    inspect_inputs: bool = Field(
        True, description="Read each input's warcinfo (crawler identity); off where the manifest is untrusted."
    )
    sme: bool = Field(False, description="SME rule for 2.3: top 5 % of domains or 1,000, whichever is lower.")
    sources: dict[str, Category] = Field(
        default_factory=dict, description="Input path glob -> template category, overriding the detection."
    )
    crawler_purposes: str | None = Field(None, description="2.3 Purposes of the crawler(s).")
    code_of_practice_signatory: str | None = Field(None, description="3.1 Signatory of the GPAI Code of Practice?")
    illegal_content_measures: str | None = Field(None, description="3.2 Measures beyond this pipeline's filters.")
    other_information: str | None = Field(None, description="3.3 Other information (optional).")


# ---- the data model (the JSON output; Markdown and HTML render it) ----------------------------------


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Share(_M):
    """One language / content type / domain: documents, words and UTF-8 text bytes, share of bytes."""

    name: str
    documents: int
    words: int
    text_bytes: int
    share: float = Field(description="Fraction of the section's text bytes.")


class Crawler(_M):
    software: str | None
    user_agent: str | None
    robots: str | None
    operator: str | None
    description: str | None
    config_hash: str | None
    config: dict[str, Any] | None
    inputs: list[str]


class InputSource(_M):
    path: str
    sha256: str
    format: str
    bytes: int
    category: Category
    basis: str = Field(description="Why the input is in this category.")
    dataset: str | None = Field(None, description="Dataset name when known (e.g. a Common Crawl crawl id).")
    eligible_records: int
    documents: int
    removed: int
    unreadable_spans: int = Field(0, description="Spans of the file that were no readable record (ledger rows).")
    unreadable_bytes: int = Field(0, description="Bytes in those spans.")


class Totals(_M):
    documents: int
    words: int
    tokens_estimate: int
    text_bytes: int
    first_date: str | None
    last_date: str | None
    documents_without_date: int


class SourceSection(_M):
    """One of the template's 2.x categories."""

    category: Category
    title: str
    used: bool
    inputs: list[InputSource]
    totals: Totals
    languages: list[Share]
    content_types: list[Share]
    domains_total: int
    documents_without_domain: int
    top_domains: list[Share]
    top_domains_rule: str
    crawlers: list[Crawler] = Field(default_factory=list)
    purposes: str | None = None
    behaviour: list[str] = Field(default_factory=list)


class General(_M):
    provider: str
    authorised_representative: str
    model: str
    model_dependencies: str
    placement_date: str
    summary_version: str
    last_update: str
    release_id: str
    manifest_sha256: str
    config_hash: str
    pipeline_version: str
    modalities: list[str]
    totals: Totals
    tokens_per_word: float
    size_bin: str
    content_types: list[Share]
    languages: list[Share]


class Count(_M):
    name: str
    count: int


class StageCount(_M):
    stage: str
    records_in: int
    removed: int
    records_out: int
    ledger_stage: str = Field(description="The ledger `stage` these removals carry (registry/derive: optout).")


class ReasonCount(_M):
    stage: str
    reason: str
    records: int
    description: str


class PolicyFiles(_M):
    file: str
    outcome: str
    fetches: int
    origins: int


class TdmSection(_M):
    """3.1: which reservations were looked for, what was found, what was removed, and the proof."""

    enabled: bool
    signatory: str
    agents: list[str]
    signals: list[Count]
    policy_files: list[PolicyFiles]
    origins_with_policy_files: int
    removed: int
    removed_by_signal: list[Count]
    reserved_by_agent: list[Count]
    snapshots: list[dict[str, Any]]
    registry: dict[str, Any] | None = Field(description="State of the rights-holder registry applied (manifest).")
    registry_removed: int
    lineage: dict[str, Any] = Field(description="Parent release, date and registry of a retroactive re-release.")
    violations: int
    removals_without_evidence: int
    check_passed: bool | None = Field(description="None: the release format has no opt-out evidence to check.")


class Pii(_M):
    emails: int
    ip_addresses: int
    ibans: int
    documents_with_pii: int


class RemovalSection(_M):
    """3.2: every filter that removed records, with counts per stage and reason; PII replacement."""

    records_in: int
    documents_out: int
    stages: list[StageCount]
    stages_match_ledger: bool = Field(description="Removals per ledger stage agree with the manifest's funnel.")
    reasons: list[ReasonCount]
    unreadable_spans: int = Field(description="Spans of inputs that were no readable record (ledger: read_unparsable).")
    unreadable_bytes: int
    unreadable_inputs: int = Field(description="Input files with at least one unreadable span.")
    bytes_accounted: bool = Field(description="The release accounts for every input byte (format 4 or later).")
    pii: Pii
    filters: list[str]
    measures: str


class EUSummary(_M):
    template: str = TEMPLATE_NAME
    template_url: str = TEMPLATE_URL
    general: General
    sources: list[SourceSection]
    tdm: TdmSection
    removal: RemovalSection
    other_information: str

    def section(self, category: str) -> SourceSection:
        return next(s for s in self.sources if s.category == category)

    def to_json(self) -> str:
        return self.model_dump_json(indent=2) + "\n"

    def to_markdown(self) -> str:
        return to_markdown(summary_doc(self))

    def to_html(self) -> str:
        return to_html(summary_doc(self))


# ---- inputs: which template category, and which crawler -------------------------------------------


def read_warcinfo(path: str) -> dict[str, str] | None:
    """The fields of a WARC/WET file's leading `warcinfo` record, or None (no file, no warcinfo, remote URL).

    Parsed by the one WARC record parser (`pipeline.warc_record`), from the file's first bytes only."""
    if "://" in path or not Path(path).is_file():
        return None
    from pipeline.warc_record import MAX_HEAD_BYTES, warcinfo_fields

    try:
        with open(path, "rb") as f:
            head = f.read(WARCINFO_BYTES + 2 * MAX_HEAD_BYTES)
    except OSError:  # it loses its crawler identification, no more
        return None
    return warcinfo_fields(head, WARCINFO_BYTES)


def _classify(
    entry: dict, info: dict[str, str] | None, overrides: dict[str, Category], inspected: bool = True
) -> InputSource:
    """The template category of one manifest input, with the basis printed beside it so a reader can contest it."""
    path, fmt_ = entry["path"], entry["format"]
    category: Category
    dataset = None
    for pattern, forced in overrides.items():
        if fnmatch.fnmatch(path, pattern):
            category, basis = forced, f"set by the provider (--source {pattern}={forced})"
            break
    else:
        info = info or {}
        part_of = info.get("isPartOf", "")
        if (
            "common crawl" in info.get("publisher", "").lower()
            or part_of.startswith("CC-MAIN")
            or ("crawl-data/CC-MAIN-" in path)
        ):
            category, basis = "public", "Common Crawl archive (warcinfo publisher/isPartOf or path)"
            dataset = part_of or "Common Crawl"
        elif fmt_ in ("parquet", "jsonl"):
            category, basis = "public", "already-extracted dataset file (Parquet/JSONL)"
            dataset = Path(path).name
        elif info.get("http-header-user-agent"):
            category, basis = "crawled", "warcinfo names the crawler and its user agent"
        elif fmt_ in ("warc", "wet", "arc"):
            category = "other"
            if not inspected:
                basis = "web archive file whose warcinfo was not read (inspect_inputs off)"
            elif "://" in path or not Path(path).is_file():
                basis = "web archive file not readable here, so its crawler is unknown (use --source to classify)"
            else:
                basis = "web archive file whose warcinfo does not identify a crawler" + (
                    f" (software: {info['software']})" if info.get("software") else ""
                )
        else:
            category, basis = "other", f"input format {fmt_}"
    return InputSource(
        path=path,
        sha256=entry["sha256"],
        format=fmt_,
        bytes=entry["bytes"],
        category=category,
        basis=basis,
        dataset=dataset,
        eligible_records=entry["eligible"],
        documents=0,
        removed=0,
        unreadable_spans=(entry.get("records_by_type") or {}).get("unreadable", 0),
        unreadable_bytes=(entry.get("bytes_by_type") or {}).get("unreadable", 0),
    )


def _crawlers(inputs: list[InputSource], infos: dict[str, dict[str, str] | None]) -> list[Crawler]:
    """One entry per (software, user agent) among the crawled inputs, with the files it wrote."""
    found: dict[tuple, Crawler] = {}
    for source in inputs:
        info = infos.get(source.path) or {}
        key = (info.get("software"), info.get("http-header-user-agent"))
        if key not in found:
            try:
                config = json.loads(info["crawl-config"]) if info.get("crawl-config") else None
            except json.JSONDecodeError:
                config = None
            found[key] = Crawler(
                software=key[0],
                user_agent=key[1],
                robots=info.get("robots"),
                operator=info.get("operator"),
                description=info.get("description"),
                config_hash=info.get("crawl-config-hash"),
                config=config if isinstance(config, dict) else None,
                inputs=[],
            )
        found[key].inputs.append(source.path)
    return list(found.values())


def _behaviour(crawler: Crawler) -> list[str]:
    """What the crawler's own records say about how it collected: robots handling and politeness."""
    lines = []
    if crawler.robots:
        lines.append(f"robots policy: {crawler.robots}")
    c = crawler.config or {}
    if c.get("robots_token"):
        lines.append(f"robots.txt groups obeyed for the token {c['robots_token']}")
    polite = [
        f"{label} {c[k]}"
        for k, label in (
            ("delay_seconds", "delay between requests (s):"),
            ("max_connections_per_host", "connections per host:"),
            ("max_crawl_delay_seconds", "largest Crawl-delay honoured (s):"),
            ("scope", "scope:"),
            ("max_depth", "maximum link depth:"),
        )
        if c.get(k) is not None
    ]
    if polite:
        lines.append("; ".join(polite))
    if c.get("content_types"):
        lines.append("content types fetched: " + ", ".join(map(str, c["content_types"])))
    if crawler.config_hash:
        lines.append(f"crawl configuration hash: {crawler.config_hash}")
    return lines


# ---- the queries -------------------------------------------------------------------------------------


def _connect(release: Path, manifest: dict, inputs: list[InputSource]) -> duckdb.DuckDBPyConnection:
    """A connection with one small metrics table `m` (one row per document, no text) and the ledger view."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    # locked to the release's own tables: a crafted manifest or query reaches no other file
    tables = ("documents", "ledger", "optout_evidence")
    lock(con, [path for table in tables for path in table_files(release, manifest, table)])
    con.register(
        "src",
        pa.table({"file_path": [i.path for i in inputs], "category": [i.category for i in inputs]}),
    )
    con.execute(
        """
        create temp table m as
        select d.file_path, coalesce(s.category, 'other') as category, d.domain, d.language,
               coalesce(d.content_type, 'unknown') as content_type, try_cast(d.date as timestamptz) as ts,
               d.word_count::bigint as words, strlen(d.text)::bigint as text_bytes,
               d.pii_email::bigint as pii_email, d.pii_ip::bigint as pii_ip, d.pii_iban::bigint as pii_iban
        from read_parquet($docs) d left join src s using (file_path)
        """,
        {"docs": table_files(release, manifest, "documents")},
    )
    return con


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: dict | None = None) -> list[tuple]:
    return con.sql(sql, params=params or {}).fetchall()


IN_SECTION = "($cat is null or category = $cat)"  # one template category, or (null) the whole release


def _totals(con, category: str | None, tokens_per_word: float) -> Totals:
    ((n, words, nbytes, first, last, undated),) = _rows(
        con,
        f"""select count(*), coalesce(sum(words), 0), coalesce(sum(text_bytes), 0),
                   strftime(min(ts), '%Y-%m-%dT%H:%M:%SZ'), strftime(max(ts), '%Y-%m-%dT%H:%M:%SZ'),
                   count(*) filter (where ts is null)
            from m where {IN_SECTION}""",
        {"cat": category},
    )
    return Totals(
        documents=n,
        words=words,
        tokens_estimate=round(words * tokens_per_word),
        text_bytes=nbytes,
        first_date=first,
        last_date=last,
        documents_without_date=undated,
    )


def _shares(con, column: Literal["language", "content_type"], category: str | None) -> list[Share]:
    assert column in ("language", "content_type")  # an identifier cannot be a parameter
    rows = _rows(
        con,
        f"""select {column}, count(*), sum(words), sum(text_bytes),
                   sum(text_bytes) / nullif(sum(sum(text_bytes)) over (), 0)
            from m where {IN_SECTION} and {column} is not null
            group by 1 order by 4 desc, 1""",
        {"cat": category},
    )
    return [Share(name=str(r[0]), documents=r[1], words=r[2], text_bytes=r[3], share=r[4] or 0.0) for r in rows]


def _top_domains(con, category: str | None, sme: bool) -> tuple[int, int, list[Share], str]:
    """The template's "top 10 % of all domain names determined by the size of content scraped"
    (SMEs: top 5 % or 1,000 domains, whichever is lower); size = UTF-8 bytes of extracted text."""
    share, cap = (0.05, 1000) if sme else (0.10, None)
    rule = (
        "top 5 % of domains (at most 1,000; SME rule)" if sme else "top 10 % of domains"
    ) + " by extracted text size (UTF-8 bytes), at least one; ties by name"
    ((total, undomained),) = _rows(
        con,
        f"select count(distinct domain), count(*) filter (where domain is null) from m where {IN_SECTION}",
        {"cat": category},
    )
    limit = max(1, math.ceil(total * share)) if total else 0
    if cap is not None:
        limit = min(limit, cap)
    rows = _rows(
        con,
        f"""select domain, count(*), sum(words), sum(text_bytes),
                   sum(text_bytes) / nullif(sum(sum(text_bytes)) over (), 0)
            from m where {IN_SECTION} and domain is not null
            group by 1 order by 4 desc, 1 limit $limit""",
        {"cat": category, "limit": limit},
    )
    top = [Share(name=r[0], documents=r[1], words=r[2], text_bytes=r[3], share=r[4] or 0.0) for r in rows]
    return total, undomained, top, rule


def _source_section(con, category: Category, inputs: list[InputSource], opts: SummaryOptions) -> SourceSection:
    total, undomained, top, rule = _top_domains(con, category, opts.sme)
    return SourceSection(
        category=category,
        title=CATEGORIES[category],
        used=bool(inputs),
        inputs=inputs,
        totals=_totals(con, category, opts.tokens_per_word),
        languages=_shares(con, "language", category),
        content_types=_shares(con, "content_type", category),
        domains_total=total,
        documents_without_domain=undomained,
        top_domains=top,
        top_domains_rule=rule,
    )


def _tdm(con, release: Path, manifest: dict, opts: SummaryOptions) -> TdmSection:
    optout = manifest.get("optout") or {}
    ledger = table_files(release, manifest, "ledger")
    evidence = table_files(release, manifest, "optout_evidence")
    docs = table_files(release, manifest, "documents")
    removed_by_signal = [
        Count(name=r, count=n)
        for r, n in _rows(
            con,
            "select reason, count(*) from read_parquet($ledger) where stage = 'optout' group by 1 order by 2 desc, 1",
            {"ledger": ledger},
        )
    ]
    signals: list[Count] = []
    files: list[PolicyFiles] = []
    by_agent: list[Count] = []
    origins = violations = unexplained = 0
    if evidence:
        ev = {"evidence": evidence}
        signals = [
            Count(name=s, count=n)
            for s, n in _rows(
                con,
                "select signal, count(distinct document_id) from read_parquet($evidence) "
                "where kind = 'document' and verdict = 'reserved' group by 1 order by 2 desc, 1",
                ev,
            )
        ]
        files = [
            PolicyFiles(file=f, outcome=o, fetches=n, origins=k)
            for f, o, n, k in _rows(
                con,
                "select signal, verdict, count(*), count(distinct origin) from read_parquet($evidence) "
                "where kind = 'policy_file' group by 1, 2 order by 1, 3 desc, 2",
                ev,
            )
        ]
        ((origins,),) = _rows(
            con, "select count(distinct origin) from read_parquet($evidence) where kind = 'policy_file'", ev
        )
        by_agent = [
            Count(name=a, count=n)
            for a, n in _rows(
                con,
                "select agent, count(distinct document_id) from "
                "(select document_id, unnest(agents) as agent from read_parquet($evidence) "
                " where kind = 'document' and verdict = 'reserved') group by 1 order by 2 desc, 1",
                ev,
            )
        ]
        ((violations,),) = _rows(
            con,
            "select count(distinct d.id) from read_parquet($docs) d join read_parquet($evidence) e "
            "on e.document_id = d.id where e.kind = 'document' and e.verdict = 'reserved'",
            ev | {"docs": docs},
        )
        ((unexplained,),) = _rows(
            con,
            "select count(*) from read_parquet($ledger) l where l.stage = 'optout' and not exists "
            "(select 1 from read_parquet($evidence) e where e.document_id = l.id and e.verdict = 'reserved')",
            ev | {"ledger": ledger},
        )
    ((registry_removed,),) = _rows(
        con,
        "select count(*) from read_parquet($ledger) where stage = 'optout' and reason = $reason",
        {"ledger": ledger, "reason": REGISTRY_REASON},
    )
    return TdmSection(
        enabled=bool(optout.get("enabled", False)),
        signatory=opts.code_of_practice_signatory or _placeholder("code-of-practice"),
        agents=list(optout.get("agents", [])),
        signals=signals,
        policy_files=files,
        origins_with_policy_files=origins,
        removed=sum(c.count for c in removed_by_signal),
        removed_by_signal=removed_by_signal,
        reserved_by_agent=by_agent,
        snapshots=list(optout.get("snapshots", [])),
        registry=optout.get("registry") or (manifest.get("lineage") or {}).get("registry"),
        registry_removed=registry_removed,
        lineage=manifest.get("lineage") or {},
        violations=violations,
        removals_without_evidence=unexplained,
        check_passed=(violations == 0 and unexplained == 0) if evidence else None,
    )


def _reason_text(reason: str) -> str:
    for prefix, text in REASON_TEXT.items():
        if reason.startswith(prefix):
            return text
    return ""


def _filters(config: dict) -> list[str]:
    """The configured filters, in pipeline order, as a reader of the summary needs them."""
    q = config.get("quality", {})
    on = [name for name in ("gopher", "c4", "fineweb") if q.get(name, {}).get("enabled")]
    lang = config.get("language", {})
    dedup = config.get("dedup", {})
    pii = [k for k in ("emails", "ip_addresses", "ibans") if config.get("pii", {}).get(k)]
    read = config.get("read", {})
    return [
        "read: only HTTP 200 responses of types " + ", ".join(read.get("content_types", [])) + " become documents",
        "extract: main-text extraction with " + str(config.get("extract", {}).get("extractor")),
        "language: fastText lid.176 tag"
        + (
            f"; kept languages {', '.join(lang['keep'])} with score >= {lang.get('min_score')}"
            if lang.get("keep")
            else "; no language removed"
        ),
        "quality: " + (", ".join(on) + " heuristic rules" if on else "no quality filter"),
        "pii: placeholders replace " + (", ".join(pii) if pii else "nothing"),
        "dedup: " + ", ".join(k for k in ("exact", "near") if dedup.get(k)) + " duplicates removed, one copy kept",
    ]


def _removal(con, release: Path, manifest: dict, opts: SummaryOptions, documents: int) -> RemovalSection:
    rows = _rows(
        con,
        "select stage, reason, count(*) from read_parquet($ledger) group by 1, 2",
        {"ledger": table_files(release, manifest, "ledger")},
    )
    by_stage: Counter[str] = Counter()
    for stage, _, n in rows:
        by_stage[stage] += n
    # The funnel follows the manifest's stages, which also say *when* removals happened: registry removals
    # before dedup, a derived release's removals after everything. Those two carry stage=optout in the
    # ledger, so the ledger count of a stage is split: bookkeeping entries keep the manifest's number, the
    # ledger stage gets the rest, and the totals per ledger stage are checked against the manifest.
    manifest_stages = manifest.get("counts", {}).get("stages", [])
    funnel = [(x["stage"], BOOKKEEPING_STAGES.get(x["stage"], x["stage"]), x["removed"]) for x in manifest_stages]
    funnel += [(st, st, 0) for st in sorted(set(by_stage) - {ledger for _, ledger, _ in funnel})]
    bookkeeping: Counter[str] = Counter()
    for stage, ledger_stage, n in funnel:
        if stage != ledger_stage:
            bookkeeping[ledger_stage] += n
    manifest_by_ledger_stage: Counter[str] = Counter()
    for _, ledger_stage, n in funnel:
        manifest_by_ledger_stage[ledger_stage] += n
    order = [ledger for stage, ledger, _ in funnel if stage == ledger]
    reasons = sorted(
        (ReasonCount(stage=s, reason=r, records=n, description=_reason_text(r)) for s, r, n in rows),
        key=lambda c: (order.index(c.stage) if c.stage in order else len(order), -c.records, c.reason),
    )
    records_in = documents + sum(by_stage.values())
    stages, remaining = [], records_in
    for stage, ledger_stage, n in funnel:
        removed = n if stage != ledger_stage else by_stage[stage] - bookkeeping[stage]
        stages.append(
            StageCount(
                stage=stage,
                records_in=remaining,
                removed=removed,
                records_out=remaining - removed,
                ledger_stage=ledger_stage,
            )
        )
        remaining -= removed
    matches = all(by_stage[st] == manifest_by_ledger_stage[st] for st in set(by_stage) | set(manifest_by_ledger_stage))
    ((emails, ips, ibans, with_pii),) = _rows(
        con,
        "select coalesce(sum(pii_email), 0), coalesce(sum(pii_ip), 0), coalesce(sum(pii_iban), 0), "
        "count(*) filter (where pii_email + pii_ip + pii_iban > 0) from m",
    )
    holes = [e for e in manifest.get("inputs", []) if (e.get("records_by_type") or {}).get("unreadable")]
    return RemovalSection(
        unreadable_spans=sum(e["records_by_type"]["unreadable"] for e in holes),
        unreadable_bytes=sum((e.get("bytes_by_type") or {}).get("unreadable", 0) for e in holes),
        unreadable_inputs=len(holes),
        bytes_accounted=(manifest.get("format_version") or 0) >= 4,
        records_in=records_in,
        documents_out=documents,
        stages=stages,
        stages_match_ledger=matches,
        reasons=reasons,
        pii=Pii(emails=emails, ip_addresses=ips, ibans=ibans, documents_with_pii=with_pii),
        filters=_filters(manifest.get("config", {})),
        measures=opts.illegal_content_measures
        or "This pipeline applies no classifier or blocklist for illegal content; "
        + _placeholder("illegal-content-measures"),
    )


def _size_bin(tokens: int) -> str:
    return next((label for limit, label in TEXT_SIZE_BINS if tokens < limit), TEXT_SIZE_TOP)


def build_summary(release: Path, options: SummaryOptions | None = None) -> EUSummary:
    """Compute the whole summary from the release directory (manifest + Parquet, and crawler warcinfo)."""
    opts = options or SummaryOptions()
    release = Path(release)
    manifest = load_manifest(release, complete=True)
    infos = {
        e["path"]: read_warcinfo(e["path"])
        for e in manifest["inputs"]
        if opts.inspect_inputs and e["format"] in ("warc", "wet")
    }
    inputs = [_classify(e, infos.get(e["path"]), opts.sources, opts.inspect_inputs) for e in manifest["inputs"]]

    con = _connect(release, manifest, inputs)
    per_file = dict(_rows(con, "select file_path, count(*) from m group by 1"))
    removed = dict(
        _rows(
            con,
            "select file_path, count(*) from read_parquet($ledger) group by 1",
            {"ledger": table_files(release, manifest, "ledger")},
        )
    )
    for source in inputs:
        source.documents, source.removed = per_file.get(source.path, 0), removed.get(source.path, 0)

    sections = [
        _source_section(con, cat, [i for i in inputs if i.category == cat], opts)  # type: ignore[arg-type]
        for cat in CATEGORIES
    ]
    crawled = next(s for s in sections if s.category == "crawled")
    crawled.crawlers = _crawlers(crawled.inputs, infos)
    crawled.behaviour = [line for c in crawled.crawlers for line in _behaviour(c)]
    if crawled.used:
        crawled.purposes = opts.crawler_purposes or (
            "Collecting publicly accessible web pages as training data for the model named in 1.2; "
            "every page fetched is archived (WARC) with its site policy files as evidence."
        )

    totals = _totals(con, None, opts.tokens_per_word)
    general = General(
        provider=opts.provider or _placeholder("provider"),
        authorised_representative=opts.authorised_representative
        or "not applicable / " + _placeholder("authorised-representative"),
        model=opts.model or _placeholder("model"),
        model_dependencies=opts.model_dependencies or "none stated / " + _placeholder("model-dependencies"),
        placement_date=opts.placement_date or _placeholder("placement-date"),
        summary_version=opts.summary_version,
        last_update=opts.last_update or datetime.now(UTC).date().isoformat(),
        release_id=manifest["release_id"],
        manifest_sha256=hashlib.sha256((release / MANIFEST).read_bytes()).hexdigest(),
        config_hash=manifest["config_hash"],
        pipeline_version=str(manifest.get("pipeline_version", "")),
        modalities=["text"],
        totals=totals,
        tokens_per_word=opts.tokens_per_word,
        size_bin=_size_bin(totals.tokens_estimate),
        content_types=_shares(con, "content_type", None),
        languages=_shares(con, "language", None),
    )
    return EUSummary(
        general=general,
        sources=sections,
        tdm=_tdm(con, release, manifest, opts),
        removal=_removal(con, release, manifest, opts, totals.documents),
        other_information=opts.other_information or "",
    )


# ---- rendering: the template's order and wording --------------------------------------------------


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
                f"☒ {g.size_bin}: about {t.tokens_estimate:,} tokens (estimate: {t.words:,} words × "
                f"{g.tokens_per_word}); {t.documents:,} documents, {t.text_bytes:,} bytes of UTF-8 text",
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


def write_summary(summary: EUSummary, out: Path, formats: Iterable[str]) -> list[Path]:
    """Write the requested formats next to `out` (same stem, .md/.html/.json); return the paths."""
    render = {"md": summary.to_markdown, "html": summary.to_html, "json": summary.to_json}
    written = []
    for f in formats:
        path = out.with_suffix("." + f)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render[f](), encoding="utf-8")
        written.append(path)
    return written

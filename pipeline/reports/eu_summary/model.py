"""The EU summary's data model: what a release's training-content summary says, as pydantic classes (the JSON
output; `render` turns it into Markdown and HTML), the options a release cannot know, and the template's words.

The structure follows the AI Office's "Explanatory Notice and Template for the Public Summary of
Training Content for general-purpose AI models" (Annex to C(2025) 5235 final, 24 July 2025):
1 general information (1.1 provider, 1.2 model, 1.3 modalities/size/characteristics), 2 list of data
sources (2.1 public datasets, 2.2 private third-party datasets, 2.3 data crawled and scraped from
online sources, 2.4 user data, 2.5 synthetic data, 2.6 other), 3 data processing aspects (3.1 respect
of reservations of rights from the TDM exception, 3.2 removal of illegal content, 3.3 other).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from pipeline.optout.families import signal_texts

TEMPLATE_NAME = (
    "Template for the Public Summary of Training Content for general-purpose AI models "
    "(AI Office, Annex to C(2025) 5235 final, 24 July 2025)"
)
TEMPLATE_URL = (
    "https://digital-strategy.ec.europa.eu/en/library/"
    "explanatory-notice-and-template-public-summary-training-content-general-purpose-ai-models"
)
# Token estimate = words x this ratio: a rough average for BPE tokenisers (GPT-2/Llama style) on English and other
# European languages, about 0.75 words per token. Only an order of magnitude: the release stores words, not
# tokens, and no tokenizer ships here. The audit app's overview shows the same estimate.
TOKENS_PER_WORD = 1.3

Category = Literal["public", "private", "crawled", "user", "synthetic", "other"]
CATEGORIES: dict[str, str] = {
    "public": "2.1. Publicly available datasets",
    "private": "2.2. Private non-publicly available datasets obtained from third parties",
    "crawled": "2.3. Data crawled and scraped from online sources",
    "user": "2.4. User data",
    "synthetic": "2.5. Synthetic data",
    "other": "2.6. Other sources of data",
}

SIGNAL_TEXT: dict[str, str] = signal_texts()  # signal -> plain text, from the family declarations


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
    ask_as: Literal["flag", "words"] = Field(
        "flag", description="How an unset option is asked for: as its command-line flag, or in words (the app)."
    )


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
    tokens: int | None = Field(
        None, description="Tokens counted with the release's tokenizer (`token_count` of every document); None when "
        "not every document has a count (then only the estimate from words is known)."
    )
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

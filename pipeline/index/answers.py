"""What the membership index answers: the verdicts, the `Report` of a check (with each matching document's
evidence: how it matches, verified Jaccard, shared spans, the ledger's reason for a removed copy) and the
`SearchReport` of a search. Plain data, serialised with `to_dict`; `query.py` computes them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

SPAN_TEXT_CHARS = 400
IN, PARTLY, NOT_IN = "in", "partly in", "not in"


@dataclass
class Span:
    """A run of words shared, in order, by the query and a document (offsets are characters of the text as
    pasted and of the document's text in the release)."""

    words: int
    query_start: int
    query_end: int
    doc_start: int
    doc_end: int
    text: str  # as it appears in the document (cut at SPAN_TEXT_CHARS)


@dataclass
class Match:
    """One document (status 'in') or removed record (status 'removed') and how it matches the query."""

    id: str
    status: str
    how: list[str]
    url: str | None = None
    domain: str | None = None
    language: str | None = None
    title: str | None = None
    estimated_jaccard: float | None = None  # MinHash estimate (signature agreement)
    jaccard: float | None = None  # verified on the texts: word 5-gram shingle sets
    overlap: float | None = None  # share of the query's words inside verified shared spans
    spans: list[Span] = field(default_factory=list)
    stage: str | None = None
    reason: str | None = None
    detail: str | None = None
    duplicate_of: str | None = None
    duplicate_of_url: str | None = None


@dataclass
class Report:
    """The answer to `check`: verdict, the evidence, and how far the sketch can be trusted."""

    release: str
    query: dict[str, Any]
    verdict: str
    summary: list[str]
    matches: list[Match] = field(default_factory=list)
    removed: list[Match] = field(default_factory=list)
    counts: dict[str, Any] = field(default_factory=dict)
    sketch: dict[str, Any] = field(default_factory=dict)
    index: dict[str, Any] = field(default_factory=dict)
    elapsed_ms: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class SearchHit:
    id: str
    url: str | None
    title: str | None
    language: str | None
    status: str
    score: float
    snippet: str
    highlights: list[tuple[int, int]]  # character ranges inside `snippet`


@dataclass
class SearchReport:
    release: str
    query: str
    language: str | None
    total: int
    hits: list[SearchHit]
    elapsed_ms: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

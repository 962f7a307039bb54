"""Stage `optout`: remove every record an honoured agent is reserved from, and say which rule did it.

Runs right after `read`, before any extraction, so an opted-out page is never processed further
and the ledger names the opt-out as its reason (not a quality filter that happened to fire first).
Site-wide files come from the run's `PolicyIndex`; headers and meta tags from the record itself.
Every decision that reserves, and every document-level statement seen (even one that allows),
becomes an evidence row pointing at the record it came from.
"""

from __future__ import annotations

from collections import defaultdict

import polars as pl

from pipeline.config import RunConfig
from pipeline.optout.explain import Verdict, decide
from pipeline.optout.families import reason_for
from pipeline.optout.policies import FILE_ROW_SCHEMA, RAW_CHARS, PolicyIndex
from pipeline.steps.base import DETAIL, REASON, Step, StepResult
from pipeline.url_identity import site_key

IN_RECORD = ("http-header", "html-meta")  # evidence found in the document's own response
HTML_TYPES = ("text/html", "application/xhtml+xml")

# Evidence rows as staged per shard: the document is known by its offset until ids exist (shard end).
STAGED_EVIDENCE_SCHEMA: dict[str, pl.DataType] = {
    "warc_record_offset": pl.Int64(),
    "warc_record_id": pl.String(),
    "warc_record_length": pl.Int64(),
    "in_record": pl.Boolean(),
    "agents": pl.List(pl.String()),
    **FILE_ROW_SCHEMA,  # the columns a policy-file row has too
}


def header_pairs(block: str | None) -> list[tuple[str, str]]:
    pairs = []
    for line in (block or "").splitlines():
        name, sep, value = line.partition(":")
        if sep:
            pairs.append((name.strip(), value.strip()))
    return pairs


class OptoutStep(Step):
    stage = "optout"

    def __init__(self, config: RunConfig, policies: PolicyIndex | None = None) -> None:
        super().__init__(config)
        self.policies = policies or PolicyIndex()

    def apply(self, batch: pl.DataFrame) -> StepResult:
        result = super().apply(batch)
        return StepResult(result.kept, result.removed, self._evidence)

    def annotate(self, batch: pl.DataFrame) -> pl.DataFrame:
        self._evidence = pl.DataFrame(schema=STAGED_EVIDENCE_SCHEMA)
        cfg = self.config.optout
        if not cfg.enabled or batch.is_empty():
            return batch
        reasons, details, rows = [], [], []
        columns = ("url", "http_headers", "payload", "content_type", "date", "http_status")
        records = ("warc_record_offset", "warc_record_id", "warc_record_length")
        for (url, headers, payload, ctype, date, status), record in zip(
            batch.select(columns).iter_rows(), batch.select(records).iter_rows(named=True), strict=True
        ):
            html = payload if ctype in HTML_TYPES else None
            verdicts = decide(
                self.policies.site(url),
                url or "",
                cfg.agents,
                headers=header_pairs(headers),
                html=html,
                malformed_tdmrep=cfg.malformed_tdmrep,
            )
            first = next((v for v in verdicts if v.reserved), None)
            reasons.append(None if first is None else reason_for(first.reserving[0].signal))
            details.append(None if first is None else f"{first.agent}: {first.reserving[0].rule}")
            for row in self._rows(verdicts):
                row.update(record, url=url, origin=site_key(url), fetched_at=row["fetched_at"] or date)
                if row["in_record"]:
                    row["http_status"] = status
                rows.append(row)
        if rows:
            self._evidence = pl.DataFrame(rows, schema=STAGED_EVIDENCE_SCHEMA)
        return batch.with_columns(pl.Series(REASON, reasons, pl.String), pl.Series(DETAIL, details, pl.String))

    def _rows(self, verdicts: list[Verdict]) -> list[dict]:
        """One row per distinct (signal, rule, evidence) that reserved an agent or was seen in the record,
        listing the agents it decided for."""
        agents: dict[tuple, list[str]] = defaultdict(list)
        for v in verdicts:
            for d in v.decisions:
                if d.allowed and not any(e.where in IN_RECORD for e in d.evidence):
                    continue
                first = d.evidence[0] if d.evidence else None
                key = (d.signal, d.allowed, d.rule, first)
                agents[key].append(v.agent)
        rows = []
        for (signal, allowed, rule, ev), names in agents.items():
            in_record = ev is not None and ev.where in IN_RECORD
            source = {} if ev is None or in_record else self.policies.source(ev.where, ev.sha256, ev.fetched_at) or {}
            rows.append(
                {
                    "in_record": in_record,
                    "kind": "document",
                    "signal": signal,
                    "agents": names,
                    "verdict": "allowed" if allowed else "reserved",
                    "rule": rule,
                    "raw": None if ev is None else ev.seen[:RAW_CHARS],
                    "raw_sha256": None if ev is None else ev.sha256,
                    "fetched_at": None if ev is None else ev.fetched_at,
                    "http_status": None,
                    **source,
                }
            )
        return rows

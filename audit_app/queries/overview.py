"""The Overview page (and the sidebar's release facts and file check): headline counts, languages, domains,
dates and the funnel.
"""

from __future__ import annotations

import hashlib
from typing import Any, Literal

import polars as pl

from audit_app.queries.base import Release, _frame, _rows, _scalar
from pipeline.reasons import step_name
from pipeline.reports.eu_summary.model import TOKENS_PER_WORD

TOKEN_FORMULA = f"approx. tokens = sum(word_count) × {TOKENS_PER_WORD} (≈ 0.75 words per BPE token)"
TOKENS_COUNTED = "tokens = sum(token_count), counted with the tokenizer the release names (manifest: software)"


def release_info(rel: Release) -> dict[str, Any]:
    m = rel.manifest
    counts = m.get("counts", {})
    return {
        "release_id": rel.release_id,
        "config_hash": rel.config_hash,
        "pipeline_version": m.get("pipeline_version"),
        "format_version": m.get("format_version"),
        "inputs": len(m.get("inputs", [])),
        "input_records": int(counts.get("inputs") or 0),
        "kept": int(counts.get("kept") or 0),
        "removed": int(counts.get("removed") or 0),
        "files": len(m.get("files", [])),
        "path": str(rel.path),
    }


def overview(rel: Release) -> dict[str, Any]:
    """Headline counts, computed from the documents table itself (not copied from the manifest). Reads no
    `text`: its size is `text_bytes`, a separate query the overview shows last (a full decompression of the
    largest column: about 2.5 s for a million FineWeb-sized documents here, see bench/app_scale.py)."""
    documents, words, domains, languages, first, last = _rows(
        rel,
        """
        SELECT count(*), coalesce(sum(word_count), 0)::BIGINT,
               count(DISTINCT domain), count(DISTINCT language), min(date), max(date)
        FROM documents
        """,
    )[0]
    removed = _scalar(rel, "SELECT count(*) FROM ledger")
    spans, span_bytes, span_inputs = _rows(
        rel,
        "SELECT count(*), coalesce(sum(warc_record_length), 0)::BIGINT, count(DISTINCT file_path) "
        "FROM ledger WHERE record_type = 'unreadable'",
    )[0]
    counts = rel.manifest.get("counts", {})
    tokens = counted_tokens(rel, int(documents))
    return {
        "unreadable_spans": int(spans),  # spans of inputs that were no readable record (ledger: read_unparsable)
        "unreadable_bytes": int(span_bytes),
        "unreadable_inputs": int(span_inputs),
        "bytes_accounted": (rel.manifest.get("format_version") or 0) >= 4,
        "documents": int(documents),
        "words": int(words),
        "approx_tokens": round(int(words) * TOKENS_PER_WORD),
        "tokens": tokens,  # counted with the release's tokenizer; None: only the estimate is known
        "token_formula": TOKEN_FORMULA if tokens is None else TOKENS_COUNTED,
        "domains": int(domains),
        "languages": int(languages),
        "removed": int(removed),
        "input_records": counts.get("inputs"),
        "first_date": first,
        "last_date": last,
    }


def counted_tokens(rel: Release, documents: int) -> int | None:
    """Tokens of every document by the release's tokenizer (documents v3's `token_count`), or None when not every
    document has a count (no tokenizer configured, or a release before format 5)."""
    if not documents or not any(
        f.get("table") == "documents" and (f.get("schema_version") or 0) >= 3 for f in rel.manifest.get("files", [])
    ):
        return None
    counted, tokens = _rows(rel, "SELECT count(token_count), coalesce(sum(token_count), 0)::BIGINT FROM documents")[0]
    return int(tokens) if counted == documents else None


def text_bytes(rel: Release) -> int:
    """UTF-8 bytes of every document's `text`: the EU summary's total (the same sum of DuckDB `strlen`, which counts
    bytes, over the same table), kept per release, so the text is read once for both and not again when the release
    is reopened; read here when the summary cannot be computed."""
    from audit_app.queries.reports import eu_summary

    try:
        return eu_summary(rel).general.totals.text_bytes
    except Exception:  # a release the summary cannot describe (e.g. a hand-written manifest) still gets its size
        return int(_scalar(rel, "SELECT coalesce(sum(strlen(text)), 0)::BIGINT FROM documents"))


def languages(rel: Release) -> pl.DataFrame:
    return _frame(
        rel,
        """
        SELECT language, count(*) AS documents, coalesce(sum(word_count), 0)::BIGINT AS words
        FROM documents GROUP BY language ORDER BY documents DESC, language
        """,
    )


def top_domains(rel: Release, limit: int = 20) -> pl.DataFrame:
    return _frame(
        rel,
        """
        SELECT coalesce(domain, '(no domain)') AS domain, count(*) AS documents
        FROM documents GROUP BY 1 ORDER BY documents DESC, domain LIMIT $limit
        """,
        limit=int(limit),
    )


def tlds(rel: Release, limit: int = 20) -> pl.DataFrame:
    """Documents per top-level domain: the last label of `domain` (IP-address hosts grouped together)."""
    return _frame(
        rel,
        """
        SELECT CASE WHEN domain IS NULL OR domain = '' THEN '(no domain)'
                    WHEN regexp_full_match(domain, '[0-9.]+|\\[.*\\]') THEN '(ip address)'
                    ELSE string_split(domain, '.')[-1] END AS tld,
               count(*) AS documents
        FROM documents GROUP BY 1 ORDER BY documents DESC, tld LIMIT $limit
        """,
        limit=int(limit),
    )


def crawl_dates(rel: Release, granularity: Literal["day", "month", "year"] = "day") -> pl.DataFrame:
    """Documents per fetch day (YYYY-MM-DD), month (YYYY-MM) or year (YYYY) of `date` (ISO 8601); undated rows
    left out."""
    width = {"day": 10, "month": 7, "year": 4}[granularity]
    return _frame(
        rel,
        """
        SELECT left(date, $width) AS period, count(*) AS documents
        FROM documents WHERE date IS NOT NULL GROUP BY 1 ORDER BY 1
        """,
        width=width,
    )


def funnel(rel: Release) -> pl.DataFrame:
    """Input records → records left after each stage → documents, from the manifest's `counts.stages`."""
    counts = rel.manifest.get("counts", {})
    rows = [{"step": "input records", "records": int(counts.get("inputs", 0)), "removed": 0}]
    for stage in counts.get("stages", []):
        step = f"after {step_name(stage['stage'])}"  # the Removals page names the steps the same way
        rows.append({"step": step, "records": int(stage["out"]), "removed": int(stage["removed"])})
    rows.append({"step": "documents", "records": int(counts.get("kept", 0)), "removed": 0})
    return pl.DataFrame(rows, schema={"step": pl.String, "records": pl.Int64, "removed": pl.Int64})


def verify_files(rel: Release) -> dict[str, Any]:
    """Re-hash every file the manifest lists and check the conservation law from the manifest's counts.

    A quick integrity check for the sidebar; `apertura verify` is the full one (schemas, per-input counts).
    """
    problems = []
    for entry in rel.manifest.get("files", []):
        path = rel.path / entry["path"]
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda f=f: f.read(1 << 20), b""):
                digest.update(block)
        if digest.hexdigest() != entry.get("sha256"):
            problems.append(f"{entry['path']}: sha256 differs from the manifest")
    counts = rel.manifest.get("counts", {})
    if counts.get("inputs") != counts.get("kept", 0) + counts.get("removed", 0):
        problems.append("manifest counts: inputs != kept + removed")
    documents = _scalar(rel, "SELECT count(*) FROM documents")
    removed = _scalar(rel, "SELECT count(*) FROM ledger")
    if documents != counts.get("kept") or removed != counts.get("removed"):
        problems.append(
            f"tables hold {documents} documents and {removed} ledger rows; the manifest says "
            f"{counts.get('kept')} and {counts.get('removed')}"
        )
    return {"ok": not problems, "problems": problems, "files": len(rel.manifest.get("files", []))}

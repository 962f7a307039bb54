"""The EU summary computed from one release: every figure is a DuckDB aggregate over the release's Parquet
(parameterised, `read_parquet($files)`), never a Python loop over rows.

What a release cannot know (provider, model, market date) comes from `SummaryOptions` and shows a visible
placeholder until given. Inputs are sorted into the template's source categories by `inputs`.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import duckdb
import pyarrow as pa

from pipeline.reasons import reason_text
from pipeline.release_read import MANIFEST, load_manifest, lock, table_files
from pipeline.reports.eu_summary.inputs import behaviour, classify, crawlers, read_warcinfo
from pipeline.reports.eu_summary.model import (
    CATEGORIES,
    Category,
    Count,
    EUSummary,
    General,
    InputSource,
    Pii,
    PolicyFiles,
    ReasonCount,
    RemovalSection,
    Share,
    SourceSection,
    StageCount,
    SummaryOptions,
    TdmSection,
    Totals,
)
from pipeline.source_paths import is_url, locate, root_choices

# Template 1.3: fixed size bins for text.
TEXT_SIZE_BINS = ((1e9, "Less than 1 billion tokens"), (1e13, "1 billion to 10 trillion tokens"))
TEXT_SIZE_TOP = "More than 10 trillion tokens"

REGISTRY_REASON = "optout_registry"  # ledger reason of a registry removal (pipeline/optout/registry.py REASON)

# Funnel entries of the manifest that are not ledger stages: their ledger rows say stage=optout
# (pipeline/release.py REGISTRY_STAGE, pipeline/derive.py DERIVE_STAGE).
BOOKKEEPING_STAGES = {"registry": "optout", "derive": "optout"}


def _placeholder(option: str, opts: SummaryOptions) -> str:
    """What an unset option prints: its flag for the command line, its name in words in the app (no flags there)."""
    if opts.ask_as == "words":
        return f"[not recorded in the release; {option.replace('-', ' ')} not given]"
    return f"[not recorded in the release: give --{option}]"


def _named(opts: SummaryOptions) -> dict[str, str]:
    """The provider and model as the summary prints them: what a reader states, on which no figure depends."""
    return {
        "provider": opts.provider or _placeholder("provider", opts),
        "model": opts.model or _placeholder("model", opts),
    }


def with_names(summary: EUSummary, opts: SummaryOptions) -> EUSummary:
    """`summary` naming the provider and model of `opts`: the app computes (and caches) one summary per release
    and names them per reader, exactly as `build_summary` with those options would."""
    return summary.model_copy(update={"general": summary.general.model_copy(update=_named(opts))})


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
    counted = any(f["table"] == "documents" and f["schema_version"] >= 3 for f in manifest["files"])
    con.execute(
        """
        create temp table m as
        select d.file_path, coalesce(s.category, 'other') as category, d.domain, d.language,
               coalesce(d.content_type, 'unknown') as content_type, try_cast(d.date as timestamptz) as ts,
               d.word_count::bigint as words, {tokens}::bigint as tokens, strlen(d.text)::bigint as text_bytes,
               d.pii_email::bigint as pii_email, d.pii_ip::bigint as pii_ip, d.pii_iban::bigint as pii_iban
        from read_parquet($docs) d left join src s using (file_path)
        """.format(tokens="d.token_count" if counted else "null"),
        {"docs": table_files(release, manifest, "documents")},
    )
    return con


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: dict | None = None) -> list[tuple]:
    return con.sql(sql, params=params or {}).fetchall()


IN_SECTION = "($cat is null or category = $cat)"  # one template category, or (null) the whole release


def _totals(con, category: str | None, tokens_per_word: float) -> Totals:
    ((n, words, nbytes, first, last, undated, counted, tokens),) = _rows(
        con,
        f"""select count(*), coalesce(sum(words), 0), coalesce(sum(text_bytes), 0),
                   strftime(min(ts), '%Y-%m-%dT%H:%M:%SZ'), strftime(max(ts), '%Y-%m-%dT%H:%M:%SZ'),
                   count(*) filter (where ts is null), count(tokens), coalesce(sum(tokens), 0)
            from m where {IN_SECTION}""",
        {"cat": category},
    )
    return Totals(
        documents=n,
        words=words,
        tokens_estimate=round(words * tokens_per_word),
        tokens=int(tokens) if n and counted == n else None,  # counted for every document, or not claimed
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
        signatory=opts.code_of_practice_signatory or _placeholder("code-of-practice", opts),
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
        (ReasonCount(stage=s, reason=r, records=n, description=reason_text(r, s)) for s, r, n in rows),
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
        + _placeholder("illegal-content-measures", opts),
    )


def _size_bin(tokens: int) -> str:
    return next((label for limit, label in TEXT_SIZE_BINS if tokens < limit), TEXT_SIZE_TOP)


def _upstream_dumps(release: Path, manifest: dict) -> dict[str, list[str]]:
    """Per input, the distinct `upstream_dump`s its kept documents name (documents v3; none before)."""
    files = table_files(release, manifest, "documents")
    if not files or not any(f["table"] == "documents" and f["schema_version"] >= 3 for f in manifest["files"]):
        return {}
    con = lock(duckdb.connect(), files)
    rows = con.sql(
        "select file_path, upstream_dump from read_parquet($docs) where upstream_dump is not null "
        "group by all order by 1, 2",
        params={"docs": files},
    ).fetchall()
    found: dict[str, list[str]] = {}
    for path, dump in rows:
        found.setdefault(path, []).append(dump)
    return found


def build_summary(release: Path, options: SummaryOptions | None = None, *, manifest: dict | None = None) -> EUSummary:
    """Compute the whole summary from the release directory (manifest + Parquet, and crawler warcinfo).

    `manifest`: the manifest being written for the tables already in `release` (a release describing itself
    before its manifest exists); its sha256 is then not known and left empty."""
    opts = options or SummaryOptions()
    release = Path(release)
    written = manifest is None
    manifest = load_manifest(release, complete=True) if manifest is None else manifest
    roots = root_choices(manifest, release, None)  # an input recorded relative to a source root is found under it
    infos = {
        e["path"]: read_warcinfo(e["path"] if is_url(e["path"]) else str(locate(e["path"], roots)[0]))
        for e in manifest["inputs"]
        if opts.inspect_inputs and e["format"] in ("warc", "wet")
    }
    inputs = [classify(e, infos.get(e["path"]), opts.sources, opts.inspect_inputs) for e in manifest["inputs"]]

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
    for path, dumps in _upstream_dumps(release, manifest).items():  # 2.1: the datasets a tabular input came from
        for source in inputs:
            if source.path == path and source.category == "public":
                source.dataset = ", ".join(dumps) + f" (upstream dump, via {source.dataset})"

    sections = [
        _source_section(con, cat, [i for i in inputs if i.category == cat], opts)  # type: ignore[arg-type]
        for cat in CATEGORIES
    ]
    crawled = next(s for s in sections if s.category == "crawled")
    crawled.crawlers = crawlers(crawled.inputs, infos)
    crawled.behaviour = [line for c in crawled.crawlers for line in behaviour(c)]
    if crawled.used:
        crawled.purposes = opts.crawler_purposes or (
            "Collecting publicly accessible web pages as training data for the model named in 1.2; "
            "every page fetched is archived (WARC) with its site policy files as evidence."
        )

    totals = _totals(con, None, opts.tokens_per_word)
    general = General(
        **_named(opts),
        authorised_representative=opts.authorised_representative
        or "not applicable / " + _placeholder("authorised-representative", opts),
        model_dependencies=opts.model_dependencies or "none stated / " + _placeholder("model-dependencies", opts),
        placement_date=opts.placement_date or _placeholder("placement-date", opts),
        summary_version=opts.summary_version,
        last_update=opts.last_update or datetime.now(UTC).date().isoformat(),
        release_id=manifest["release_id"],
        manifest_sha256=hashlib.sha256((release / MANIFEST).read_bytes()).hexdigest() if written else "",
        config_hash=manifest["config_hash"],
        pipeline_version=str(manifest.get("pipeline_version", "")),
        modalities=["text"],
        totals=totals,
        tokens_per_word=opts.tokens_per_word,
        size_bin=_size_bin(totals.tokens if totals.tokens is not None else totals.tokens_estimate),
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

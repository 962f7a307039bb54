"""Retroactive re-release: a new release from an existing one with today's opt-outs applied, and diffs.

`derive_release` never re-crawls or re-extracts: it matches the parent's documents against the
registry entries in force (domain, URL prefix, text fingerprint) and against newer opt-out snapshots
(robots.txt, tdmrep.json, ai.txt decided on the URL alone), moves every match to the ledger with
`stage=optout`, the reason and the registry entry or rule, and keeps everything else: a parent file
without removals is copied byte for byte, a file with removals is rewritten without them (the
remaining rows unchanged). The parent is only read; the child records it in `lineage`.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
from collections import Counter
from pathlib import Path

import duckdb
import polars as pl

import schemas
from pipeline.config import OptoutConfig, RunConfig
from pipeline.optout.explain import decide
from pipeline.optout.families import reason_for
from pipeline.optout.policies import PolicyIndex
from pipeline.optout.registry import Registry, instant, now_utc, removal_rows
from pipeline.proofs.commitments import build_commitments
from pipeline.release import decision_evidence
from pipeline.release_read import MANIFEST, ReleaseError, load_manifest, table_files
from pipeline.release_read.diff import release_diff  # noqa: F401 (re-exported for `apertura release diff`)
from pipeline.source_paths import SourceRootError, record_path
from pipeline.sources.policy_scan import collect
from pipeline.tables import file_sha256, write_part
from pipeline.verify import registry_matches, verify_release

DERIVE_STAGE = "derive"  # funnel entry for the retroactive removals (ledger stage stays `optout`)


def _snapshot_matches(release: Path, manifest: dict, snapshots: list[str], optout: OptoutConfig) -> tuple:
    """Documents a snapshot's site policy files reserve (decided on the URL: no headers or HTML are kept), by
    the release's own opt-out config (agents, and what a TDMRep protocol error means)."""
    agents = optout.agents
    # recorded as the parent records its inputs: relative to its source root, when it has one
    try:
        recorded = {spec: record_path(spec, manifest.get("source_root")) for spec in snapshots}
    except SourceRootError as err:
        raise ReleaseError(f"opt-out snapshot {err}") from None
    collected, scanned = collect(snapshots)
    collected = collected.with_columns(pl.col("source_file").replace(recorded))
    index = PolicyIndex.build(collected)
    docs = duckdb.sql(
        "select id, url from read_parquet($docs)", params={"docs": table_files(release, manifest, "documents")}
    ).fetchall()
    rows = []
    for doc_id, url in docs:
        site = index.site(url)
        if not site:
            continue
        verdicts = decide(site, url, agents, malformed_tdmrep=optout.malformed_tdmrep)
        reserved = next((v for v in verdicts if v.reserved), None)
        if reserved is None:
            continue
        d = reserved.reserving[0]
        ev = d.evidence[0] if d.evidence else None
        source = (index.source(ev.where, ev.sha256, ev.fetched_at) if ev else None) or {}
        rows.append(
            {
                "id": doc_id,
                "reason": reason_for(d.signal),
                "signal": d.signal,
                "rule": d.rule,
                "agents": [v.agent for v in verdicts if v.reserved],
                "raw": None if ev is None else ev.seen,
                "raw_sha256": None if ev is None else ev.sha256,
                "fetched_at": None if ev is None else ev.fetched_at,
                **source,
            }
        )
    return rows, index, [{**f.describe(), "path": recorded[f.path]} for f in scanned]


def _rewrite(src: Path, dst: Path, keep: pl.Expr, table: str, version: int) -> int:
    """Copy `src` to `dst` byte for byte when every row stays; else write the kept rows. Returns rows kept."""
    frame = pl.read_parquet(src)
    kept = frame.filter(keep)
    if kept.height == frame.height:
        shutil.copyfile(src, dst)
    else:
        write_part(kept, table, dst, version)
    return kept.height


def derive_release(
    parent: Path,
    out: Path,
    *,
    registry: Registry | None = None,
    snapshots: list[str] = (),
    at: str | None = None,
) -> dict:
    """Build `out` from `parent` minus every document an opt-out in force at `at` (default: now) covers.

    Holds the lock of `out` (pipeline/locks.py): a second writer of it gets OutputLocked."""
    from pipeline.locks import output_lock

    with output_lock(out):
        return _derive(parent, out, registry=registry, snapshots=snapshots, at=at)


def _derive(
    parent: Path, out: Path, *, registry: Registry | None, snapshots: list[str] | tuple, at: str | None
) -> dict:
    if out.exists():
        raise ReleaseError(f"{out} already exists: releases are immutable, choose a new --out")
    parent_report = verify_release(parent)
    if not parent_report.ok:
        failed = next(c for c in parent_report.checks if not c.ok)
        raise ReleaseError(f"{parent} does not verify ({failed.name}: {failed.detail}); derive from a sound release")
    manifest = load_manifest(parent)
    if manifest["format_version"] < 2:
        raise ReleaseError(f"{parent} is format {manifest['format_version']}: derive needs format 2 or later")
    config = RunConfig.model_validate(manifest["config"])
    at = instant(at, "--at") if at else now_utc()
    # a parent with commitments gets a child of the newest format with its tables' versions, with its own
    # commitments: 4 stays 4 (its documents lack format 5's columns), 5 and 6 become 6 (with its own dataset card
    # and Croissant). Older parents keep their format: a format 3 parent's child cannot be format 4, whose manifest
    # needs each input's bytes by record type, which only reading the inputs again would tell
    tables = schemas.TABLE_VERSIONS[manifest["format_version"]]
    committed = manifest["format_version"] >= schemas.COMMITMENTS_FROM
    child_format = max(v for v, t in schemas.TABLE_VERSIONS.items() if t == tables) if committed else None
    parent_signature = _parent_signature(parent) if committed else None

    registry_hits = registry_matches(parent, manifest, registry, at) if registry else pl.DataFrame()
    snapshot_rows, _, snapshot_files = (
        _snapshot_matches(parent, manifest, list(snapshots), config.optout) if snapshots else ([], None, [])
    )
    removals: dict[str, dict] = {}
    for r in removal_rows(registry_hits, registry.path) if registry else ():
        removals[r["id"]] = r
    for r in snapshot_rows:
        removals.setdefault(r["id"], r)
    gone = pl.Series("id", list(removals), pl.String)

    staging = out.parent / f".{out.name}.writing"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    files: list[dict] = []
    for f in manifest["files"]:
        (staging / f["table"]).mkdir(exist_ok=True)
        src, dst = parent / f["path"], staging / f["path"]
        if f["table"] in ("documents", "signatures"):
            rows = _rewrite(src, dst, ~pl.col("id").is_in(gone.implode()), f["table"], f["schema_version"])
        else:
            shutil.copyfile(src, dst)
            rows = f["rows"]
        files.append({**f, "rows": rows})

    removed_docs = (
        duckdb.sql(
            "select * from read_parquet($docs) where list_contains($ids, id)",
            params={"docs": table_files(parent, manifest, "documents"), "ids": gone.to_list()},
        ).pl()
        if len(gone)
        else pl.DataFrame()
    )
    if removed_docs.height:
        ledger = removed_docs.with_columns(
            stage=pl.lit("optout"),
            reason=pl.col("id").replace_strict({k: v["reason"] for k, v in removals.items()}),
            detail=pl.col("id").replace_strict({k: v["rule"] for k, v in removals.items()}),
            text=pl.lit(None, pl.String),  # an opt-out never keeps its text
            record_type=pl.lit("response"),
        )
        evidence = decision_evidence([removals[i] for i in removed_docs["id"]], removed_docs).with_columns(
            pipeline_version=pl.lit(manifest["pipeline_version"]), config_hash=pl.lit(manifest["config_hash"])
        )
        versions = schemas.TABLE_VERSIONS[manifest["format_version"]]  # the child keeps its parent's format
        for table, frame in (("ledger", ledger), ("optout_evidence", evidence)):
            index = sum(1 for f in files if f["table"] == table)
            rel = f"{table}/part-{index:05d}.parquet"
            write_part(frame, table, staging / rel, versions[table])
            files.append({"path": rel, "table": table, "schema_version": versions[table], "rows": frame.height})

    for f in files:
        path = staging / f["path"]
        f.update(bytes=path.stat().st_size, sha256=file_sha256(path))
    lineage = {
        "parent": {
            "release_id": manifest["release_id"],
            "manifest_sha256": hashlib.sha256((parent / MANIFEST).read_bytes()).hexdigest(),
            **({"signature": parent_signature} if committed else {}),
        },
        "derived_at": at,
        "registry": registry.state(at) if registry else None,
        "snapshots": snapshot_files,
    }
    by_input = dict(removed_docs.group_by("file_path").len().iter_rows()) if removed_docs.height else {}
    by_reason = Counter(removals[i]["reason"] for i in removed_docs["id"]) if removed_docs.height else Counter()
    child = _child_manifest(manifest, out.name, files, by_input, by_reason, lineage)
    commitments = None
    if committed:  # Merkle roots over the child's own tables (pipeline/proofs/)
        child["format_version"] = child_format
        commitments = build_commitments(staging, child["files"])
        child["commitments"] = commitments.section()
    if committed and child["format_version"] >= schemas.SOURCE_ROOT_FROM:
        child.setdefault("source_root", None)  # a format 5 parent recorded its input paths as typed
    child.pop("descriptions", None)  # the parent's describe the parent's tables
    if child["format_version"] >= schemas.DESCRIPTIONS_FROM:
        from pipeline.reports.card import write_descriptions

        child["descriptions"] = write_descriptions(staging, child)
    (staging / MANIFEST).write_text(json.dumps(child, indent=2) + "\n")
    if commitments is not None:
        commitments.write_sidecar(staging, file_sha256(staging / MANIFEST), out.name)
    os.replace(staging, out)
    return child


def _parent_signature(parent: Path) -> dict | None:
    """The parent's signature for the child's lineage (None if unsigned); one that does not verify stops derive."""
    from pipeline.proofs.signing import SignatureError, parent_signature

    try:
        return parent_signature(parent)
    except (SignatureError, OSError) as err:
        raise ReleaseError(
            f"{parent} carries a signature that does not hold ({err}); derive from a sound release"
        ) from None


def _child_manifest(
    manifest: dict,
    release_id: str,
    files: list[dict],
    removed_by_input: dict[str, int],
    removed_by_reason: Counter[str],
    lineage: dict,
) -> dict:
    """The parent's manifest with the new files, the removals counted everywhere they are counted, and lineage."""
    child = copy.deepcopy(manifest)
    child["release_id"] = release_id
    child["files"] = sorted(files, key=lambda f: f["path"])
    for entry in child["inputs"]:
        n = removed_by_input.get(entry["path"], 0)
        entry["kept"] -= n
        entry["removed"] += n
    counts, optout = child["counts"], child["optout"]
    n_removed = sum(removed_by_reason.values())
    counts["stages"].append(
        {"stage": DERIVE_STAGE, "in": counts["kept"], "removed": n_removed, "out": counts["kept"] - n_removed}
    )
    counts["kept"] -= n_removed
    counts["removed"] += n_removed
    optout["removed"] += n_removed
    stage = counts["removed_by_stage"].setdefault("optout", {})
    for reason, n in removed_by_reason.items():
        stage[reason] = stage.get(reason, 0) + n
        optout["removed_by_signal"][reason] = optout["removed_by_signal"].get(reason, 0) + n
    counts["removed_by_stage"] = {k: dict(sorted(v.items())) for k, v in sorted(counts["removed_by_stage"].items())}
    optout["snapshots"] = optout["snapshots"] + lineage["snapshots"]
    child["lineage"] = lineage
    return child

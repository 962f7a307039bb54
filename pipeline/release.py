"""A release: global dedup over the staged shards, the final Parquet tables and the manifest.

The release directory is assembled under a staging name and renamed into place only when
complete, so a release path either holds a whole, verified-consistent release or nothing.
Releases are immutable: building onto an existing path is refused.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
from collections import Counter
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq

import schemas
from pipeline.config import DedupConfig, RunConfig
from pipeline.fingerprints import (
    EdgeFinder,
    band_keys,
    bucket_edges,
    cluster,
    norm_keys,
    signature_matrix,
    signature_spec,
)
from pipeline.language_model import MODEL_FILE, model_sha256
from pipeline.optout.policies import PolicyIndex
from pipeline.optout.registry import REASON as REGISTRY_REASON
from pipeline.optout.registry import Registry, instant, match, now_utc, removal_rows
from pipeline.proofs.commitments import build_commitments
from pipeline.release_read import MANIFEST, load_manifest, table_files  # noqa: F401 (re-exported: readers' one home)
from pipeline.staging import Shard
from pipeline.tables import WRITE_ERRORS, PartWriter, ReleaseError, file_sha256, read_ahead, write_failure
from pipeline.url_identity import domain_expr, identity_spec, site_key
from pipeline.version import __version__

DEDUP_STAGE = "dedup"
REGISTRY_STAGE = "registry"  # funnel entry for rights-holder registry removals


def software_versions(config: RunConfig) -> dict[str, str]:
    names = ["polars", "pyarrow", "duckdb", "datasketch", config.extract.extractor, "fasttext-predict"]
    found = {name: version(name) for name in names}
    found["language_model"] = f"{MODEL_FILE} sha256:{model_sha256()}"
    found["minhash"] = json.dumps(signature_spec(config.dedup), sort_keys=True)
    found["url_identity"] = identity_spec()
    found["python"] = platform.python_version()
    if config.tokenizer:  # what counted `token_count`
        from pipeline.tokens import check_tokenizer

        found["tokenizers"] = version("tokenizers")
        found["tokenizer"] = check_tokenizer(config.tokenizer)
    return found


class _Staged:
    """Every shard's staged candidates, addressed by one global row number (shards in input order).

    The global dedup reads them in batches: only fixed-width keys per candidate stay in memory, and the
    few signatures and ids a verdict needs are gathered back from disk.
    """

    def __init__(self, shards: list[Shard]) -> None:
        self.paths = [s.directory / "candidates.parquet" if s.report()["candidates"] else None for s in shards]
        sizes = [pq.ParquetFile(p).metadata.num_rows if p else 0 for p in self.paths]
        self.starts = np.cumsum([0, *sizes])
        self.total = int(self.starts[-1])

    def batches(self, columns: list[str]) -> Iterator[tuple[int, pl.DataFrame]]:
        """(global row of the first row, frame) per batch of `columns`, in global order."""
        for path, start in zip(self.paths, self.starts, strict=False):
            if path is None:
                continue
            offset = int(start)
            for frame in _parts(path, columns):
                yield offset, frame
                offset += frame.height

    def _located(self, column: str, rows: np.ndarray) -> Iterator[tuple[np.ndarray, pl.Series]]:
        """(positions in `rows`, values) batch by batch for the global `rows` (any order)."""
        order = np.argsort(rows, kind="stable")
        wanted = rows[order]
        for start, frame in self.batches([column]) if len(rows) else ():
            lo, hi = np.searchsorted(wanted, [start, start + frame.height])
            if hi > lo:
                yield order[lo:hi], frame[column].gather(wanted[lo:hi] - start)

    def gather(self, column: str, rows: np.ndarray) -> pl.Series:
        """`column` at the global `rows` (any order), read one batch at a time."""
        found = list(self._located(column, rows))
        if not found:
            return pl.Series(column, [], dtype=pl.String)
        positions = np.concatenate([p for p, _ in found])
        return pl.concat([values for _, values in found]).gather(np.argsort(positions))

    def signatures(self, rows: np.ndarray, cfg: DedupConfig) -> np.ndarray:
        """(len(rows), num_perm) uint32 MinHash signatures at the global `rows`, filled batch by batch."""
        out = np.empty((len(rows), cfg.bands * cfg.rows_per_band), dtype=np.uint32)
        for positions, values in self._located("minhash", rows):
            out[positions] = signature_matrix(values, cfg)
        return out


class _Dedup:
    """The release's dedup verdicts, computed from keys streamed out of the staged shards."""

    def __init__(self, staged: _Staged, config: RunConfig, edges: EdgeFinder) -> None:
        cfg = config.dedup
        n = staged.total
        norm = np.empty((n, 2), dtype=np.uint64)
        keys = np.empty((cfg.bands if cfg.near else 0, n), dtype=np.uint64)
        order = np.empty(n, dtype=np.int64)
        for start, frame in staged.batches(["id", "order", "norm_sha256", "minhash"]):
            rows = slice(start, start + frame.height)
            norm[rows] = norm_keys(frame["norm_sha256"])
            if cfg.near:
                keys[:, rows] = band_keys(signature_matrix(frame["minhash"], cfg), cfg.bands, cfg.rows_per_band)
            order[rows] = frame["order"].to_numpy()
        # priority is the global row: `order` (input index, then offset) increases through the shards, which
        # is what lets keepers be chosen without sorting ids; a violation would silently change keepers
        if n and not np.all(order[1:] > order[:-1]):
            raise ReleaseError("staged candidates are not in input order (an executor staged rows out of order)")
        del order
        self.staged = staged
        self.clusters = cluster(norm, keys, cfg, lambda rows: staged.signatures(rows, cfg), edges=edges)
        del norm, keys
        named = self.clusters.named_rows()
        self.names = (named, staged.gather("id", named))

    def parts(self, shard_index: int) -> Iterator[tuple[pl.DataFrame, pl.DataFrame]]:
        """A shard's candidates with their verdict, slice by slice: (kept ones, removed ones); one read."""
        path = self.staged.paths[shard_index]
        offset = int(self.staged.starts[shard_index])
        for part in _parts(path) if path else ():
            rows = np.arange(offset, offset + part.height)
            offset += part.height
            joined = part.hstack(self.clusters.verdicts(part["id"], rows, self.names).drop("id"))
            is_dup = pl.col("duplicate_of").is_not_null()
            yield joined.filter(~is_dup), joined.filter(is_dup)


def _registry_hits(staged: _Staged, registry: Registry | None, at: str | None) -> pl.DataFrame:
    """Candidates a registry entry in force covers. Those dedup keeps leave the release; those dedup already
    removed as another document's copy stay in the ledger as copies.

    Applied after dedup, not before, so that `release derive --apply-optouts` on a release built without the
    registry removes exactly what this run removes: dedup's clusters do not depend on the registry. A
    near-copy whose kept representative opts out therefore leaves with it (the ledger names it a copy of the
    opted-out document); for consent that is the cautious side, since a near-copy is most often the same work.
    """
    empty = pl.DataFrame(schema={"id": pl.String, "entry_id": pl.String, "kind": pl.String, "rule": pl.String})
    if registry is None:
        return empty
    entries = list(registry.effective(at))
    columns = ["id", "url", "domain", "norm_sha256", "minhash"]
    hits = [match(frame, entries) for _, frame in staged.batches(columns)]
    return pl.concat([empty, *hits])


PART_ROWS = 4_096  # rows per slice when streaming a shard's staged tables into the release


def _parts(path: Path, columns: list[str] | None = None) -> Iterator[pl.DataFrame]:
    """A staged Parquet file in slices, so building the release never holds a whole shard; the next
    slice is read while the caller works on this one."""
    batches = pq.ParquetFile(path).iter_batches(batch_size=PART_ROWS, columns=columns)
    return read_ahead(pl.from_arrow(batch) for batch in batches)


def evidence_table(staged: pl.LazyFrame) -> pl.LazyFrame:
    """Shard-staged evidence (with provenance added) as `optout_evidence` rows: the document's id, and
    the document's own record as the source of statements found in it."""
    own = pl.col("in_record")
    return staged.with_columns(
        pl.col("id").alias("document_id"),
        domain_expr(pl.col("url")).alias("domain"),
        pl.when(own).then(pl.col("file_path")).otherwise(pl.col("source_file")).alias("source_file"),
        pl.when(own).then(pl.col("id")).otherwise(pl.col("source_id")).alias("source_id"),
        pl.when(own).then(pl.col("warc_record_id")).otherwise(pl.col("source_record_id")).alias("source_record_id"),
        pl.when(own).then(pl.col("warc_record_offset")).otherwise(pl.col("source_offset")).alias("source_offset"),
        pl.when(own).then(pl.col("warc_record_length")).otherwise(pl.col("source_length")).alias("source_length"),
    )


def decision_evidence(removals: list[dict], docs: pl.DataFrame) -> pl.DataFrame:
    """`optout_evidence` rows (kind 'document', verdict 'reserved') for records removed after the opt-out
    step: by the registry at release time, or retroactively by `release derive`. `docs` has id, url, domain."""
    frame = pl.DataFrame(removals, infer_schema_length=None).join(docs.select("id", "url", "domain"), on="id")
    return frame.with_columns(
        kind=pl.lit("document"),
        document_id=pl.col("id"),
        origin=pl.col("url").map_elements(site_key, return_dtype=pl.String),
        verdict=pl.lit("reserved"),
    )


def _evidence_parts(shards: list[Shard], index: PolicyIndex, config: RunConfig) -> Iterator[pl.DataFrame]:
    """Opt-out evidence: one row per policy-file fetch, then every shard's document decisions."""
    files = index.file_evidence()
    yield files.with_columns(pipeline_version=pl.lit(__version__), config_hash=pl.lit(config.hash()))
    for shard in shards:
        path = shard.directory / "evidence.parquet"
        if path.exists():
            yield evidence_table(pl.scan_parquet(path)).collect()


def staged_stages(reports: list[dict]) -> tuple[str, ...]:
    """The per-record stages the shards went through, in order, as their reports name them: the first entries
    of the manifest's funnel. Every shard of one release must have gone through the same ones."""
    found = {tuple(r["stages"]) if "stages" in r else None for r in reports}
    if None in found:
        raise ReleaseError("a staged shard's report names no stages (staged by an older version): rerun the inputs")
    if len(found) > 1:
        raise ReleaseError(f"the staged shards went through different stages: {sorted(found)}")
    return found.pop() if found else ()


def build_release(
    shards: list[Shard],
    config: RunConfig,
    out: Path,
    *,
    policies: Path | None = None,
    snapshots: list[dict] | None = None,
    registry: Registry | None = None,
    registry_at: str | None = None,
    on_written=None,
    bucket_edges: EdgeFinder = bucket_edges,
) -> dict:
    """Dedup globally, write documents/ledger/signatures/optout_evidence and the manifest; return the manifest.

    `policies` is the run's collected site policy files; `snapshots` the opt-out snapshot files
    ({path, sha256, bytes}) they partly came from; `registry` the rights-holder opt-outs applied (entries
    in force at `registry_at`, default now), whose state the manifest records. `bucket_edges` finds the
    LSH candidate pairs (an executor may pass its own shuffle, see `pipeline.fingerprints.bucket_edges`).
    """
    if out.exists():
        raise ReleaseError(f"{out} already exists: releases are immutable, choose a new --out")
    reports = [s.report() for s in shards]
    seen: dict[str, str] = {}
    for r in reports:
        if r["sha256"] in seen:
            raise ReleaseError(f"inputs {seen[r['sha256']]} and {r['path']} are byte-identical: pass each file once")
        seen[r["sha256"]] = r["path"]
    run_stages = staged_stages(reports)

    registry_at = instant(registry_at, "registry_at") if registry_at else now_utc()
    staged = _Staged(shards)
    hits = _registry_hits(staged, registry, registry_at)
    removals = {r["id"]: r for r in removal_rows(hits, registry.path)} if registry else {}
    dedup = _Dedup(staged, config, bucket_edges)
    staging = out.parent / f".{out.name}.writing"
    shutil.rmtree(staging, ignore_errors=True)
    writers: dict[str, PartWriter] = {}
    try:
        staging.mkdir(parents=True)
        writers = {t: PartWriter(staging, t, config.rows_per_file) for t in schemas.TABLES}
        inputs, stage_removed, reasons = [], Counter(), Counter()
        registry_removed: list[str] = []  # the hits dedup kept: they leave now (the others are copies already)
        for i, (shard, report) in enumerate(zip(shards, reports, strict=True)):
            kept = removed = 0

            def to_ledger(part: pl.DataFrame) -> None:
                nonlocal removed
                writers["ledger"].write(part)
                reasons.update({(st, rs): n for st, rs, n in part.group_by("stage", "reason").len().rows()})
                stage_removed.update(part["stage"].to_list())
                removed += len(part)

            # the ledger keeps its order: the shard's own removals, its dedup copies, then the registry's
            for part in _parts(shard.directory / "ledger.parquet"):
                to_ledger(part)
            opted_out = []
            for part, dups in dedup.parts(i):
                covered = pl.col("id").is_in(hits["id"].implode())
                opted_out.append(part.filter(covered))
                part = part.filter(~covered)
                docs = part.with_columns(
                    pl.col("cluster_id").alias("dedup_cluster_id"),
                    pl.col("cluster_size").fill_null(1).alias("dedup_cluster_size"),
                )
                writers["documents"].write(docs)
                writers["signatures"].write(docs.select("id", "minhash"))
                kept += len(docs)
                if dups.height:
                    to_ledger(
                        dups.with_columns(stage=pl.lit(DEDUP_STAGE)).with_columns(
                            pl.when(config.ledger_keep_text).then(pl.col("text")).alias("text")
                        )
                    )
            for frame in opted_out:
                if frame.height:
                    registry_removed.extend(frame["id"])
                    to_ledger(
                        frame.with_columns(
                            stage=pl.lit("optout"),
                            reason=pl.lit(REGISTRY_REASON),
                            detail=pl.col("id").replace_strict(
                                {k: v["rule"] for k, v in removals.items()}, default=None
                            ),
                            text=pl.lit(None, pl.String),  # an opt-out never keeps its text
                        )
                    )
            if report["eligible"] != kept + removed:
                raise ReleaseError(
                    f"conservation broken for {report['path']}: "
                    f"{report['eligible']} eligible != {kept} kept + {removed} removed"
                )
            inputs.append(
                {
                    "path": report["path"],
                    "sha256": report["sha256"],
                    "bytes": report["bytes"],
                    "format": report["format"],
                    "records_by_type": report["records_by_type"],
                    "eligible": report["eligible"],
                    "kept": kept,
                    "removed": removed,
                    "read_stopped": report["read_stopped"],
                    "bytes_by_type": report.get("bytes_by_type"),
                }
            )
            if on_written:
                on_written(kept + removed)
        from pipeline.sources.policy_scan import load_policies  # the run staged what its scan collected

        index = load_policies(policies)
        for part in _evidence_parts(shards, index, config):
            writers["optout_evidence"].write(part)
        if registry_removed:
            wanted = pl.Series(registry_removed, dtype=pl.String).implode()
            batches = staged.batches(["id", "url", "domain"])
            covered = pl.concat(frame.filter(pl.col("id").is_in(wanted)) for _, frame in batches)
            writers["optout_evidence"].write(
                decision_evidence([removals[i] for i in covered["id"]], covered).with_columns(
                    pipeline_version=pl.lit(__version__), config_hash=pl.lit(config.hash())
                )
            )

        files = []
        for writer in writers.values():
            for f in writer.close():
                path = staging / f["path"]
                files.append(
                    {
                        **f,
                        "schema_version": schemas.TABLES[f["table"]],
                        "bytes": path.stat().st_size,
                        "sha256": file_sha256(path),
                    }
                )
        total_in = sum(i["eligible"] for i in inputs)
        stages, remaining = [], total_in
        funnel = (*run_stages, DEDUP_STAGE)
        if registry is not None:  # registry removals (ledger stage optout) happen after dedup
            stage_removed["optout"] -= len(registry_removed)
            stage_removed[REGISTRY_STAGE] = len(registry_removed)
            funnel = (*run_stages, DEDUP_STAGE, REGISTRY_STAGE)
        for stage in funnel:
            removed_here = stage_removed.get(stage, 0)
            stages.append({"stage": stage, "in": remaining, "removed": removed_here, "out": remaining - removed_here})
            remaining -= removed_here
        by_type: Counter[str] = Counter()
        for i in inputs:
            by_type.update(i["records_by_type"])
        removed_by_stage: dict[str, dict[str, int]] = {}
        for (stage, reason), n in sorted(reasons.items()):
            removed_by_stage.setdefault(stage, {})[reason] = n
        manifest = {
            "format": "apertura-release",
            "format_version": schemas.FORMAT_VERSION,
            "release_id": out.name,
            "pipeline_version": __version__,
            "software": software_versions(config),
            "config": config.recorded(),
            "config_hash": config.hash(),
            "source_root": config.source_root,  # absolute (api.build); the input paths are relative to it
            "inputs": inputs,
            "counts": {
                "records_by_type": dict(sorted(by_type.items())),
                "inputs": total_in,
                "kept": sum(i["kept"] for i in inputs),
                "removed": sum(i["removed"] for i in inputs),
                "removed_by_stage": removed_by_stage,
                "stages": stages,
            },
            "optout": {
                "enabled": config.optout.enabled,
                "agents": list(config.optout.agents),
                "snapshots": snapshots or [],
                "policy_files": len(index.file_rows),
                "origins": len(index.sites),
                "removed": sum(removed_by_stage.get("optout", {}).values()),
                "removed_by_signal": removed_by_stage.get("optout", {}),
                "registry": registry.state(registry_at) if registry else None,
            },
            "files": sorted(files, key=lambda f: f["path"]),
        }
        commitments = build_commitments(staging, manifest["files"])  # Merkle roots over what was just written
        manifest["commitments"] = commitments.section()
        from pipeline.reports.card import write_descriptions  # the dataset card and Croissant, hashed like tables

        manifest["descriptions"] = write_descriptions(staging, manifest)
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=False) + "\n")
        commitments.write_sidecar(staging, file_sha256(staging / MANIFEST), out.name)
        os.replace(staging, out)
    except BaseException as err:
        # a full disk, a file size limit, Ctrl-C: no half release left behind, under any name
        for writer in writers.values():
            writer.abort()
        shutil.rmtree(staging, ignore_errors=True)
        if isinstance(err, WRITE_ERRORS):
            raise write_failure(f"release {out.name}", out.parent, err) from err
        raise
    return manifest

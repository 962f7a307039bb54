"""Every release under the data root (the Releases and rights-holder pages), read from manifests only."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import polars as pl

from audit_app.queries.base import MANIFEST, Release, data_root, find_releases
from pipeline import release_read

CATALOG_SCHEMA: dict[str, Any] = {
    "path": pl.String,  # relative to the data root ('.' for the root itself)
    "release_id": pl.String,
    "format_version": pl.Int64,
    "documents": pl.Int64,
    "removed": pl.Int64,
    "config_hash": pl.String,
    "manifest_sha256": pl.String,
    "parent_id": pl.String,  # lineage.parent.release_id (derived releases only)
    "parent_manifest_sha256": pl.String,
    "parent_path": pl.String,  # the release under the root whose manifest has that sha256, if any
    "derived_at": pl.String,
    "registry_sha256": pl.String,
    "registry_entries": pl.Int64,
    "registry_as_of": pl.String,
    "snapshots": pl.Int64,
    "error": pl.String,  # why the manifest could not be read (the other columns are null then)
}


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def release_catalog(root: Path | None = None) -> pl.DataFrame:
    """One row per release directory under the data root (see `find_releases`): id, format, counts, config
    hash and lineage, from each manifest.json (no Parquet is read, so listing stays instant).

    A derived release names its parent by id and by the sha256 of the parent's manifest; `parent_path` is the
    release under the root whose manifest has exactly that sha256, so a renamed or rebuilt release with the same
    id is never taken for the parent. A manifest that cannot be read gives a row with `error` set."""
    root = (root or data_root()).resolve()
    rows: list[dict[str, Any]] = []
    for directory in find_releases(root):
        rel_path = str(directory.relative_to(root)) or "."
        try:
            raw = release_read.inside(directory, MANIFEST, "the manifest").read_bytes()  # not a symlink leading out
            manifest = json.loads(raw)
            if not isinstance(manifest, dict) or manifest.get("format") != "apertura-release":
                raise ValueError("not an Apertura release manifest")
        except release_read.ReleaseError:
            error = f"{MANIFEST} lies outside the release"
            rows.append({"path": rel_path, "release_id": directory.name, "error": error})
            continue
        except (OSError, ValueError) as err:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            rows.append({"path": rel_path, "release_id": directory.name, "error": f"{MANIFEST}: {err}"})
            continue
        counts = manifest.get("counts") if isinstance(manifest.get("counts"), dict) else {}
        lineage = manifest.get("lineage") if isinstance(manifest.get("lineage"), dict) else {}
        parent = lineage.get("parent") if isinstance(lineage.get("parent"), dict) else {}
        registry = lineage.get("registry") if isinstance(lineage.get("registry"), dict) else {}
        snapshots = lineage.get("snapshots")
        rows.append(
            {
                "path": rel_path,
                "release_id": str(manifest.get("release_id") or directory.name),
                "format_version": _int_or_none(manifest.get("format_version")),
                "documents": _int_or_none(counts.get("kept")),
                "removed": _int_or_none(counts.get("removed")),
                "config_hash": _str_or_none(manifest.get("config_hash")),
                "manifest_sha256": hashlib.sha256(raw).hexdigest(),
                "parent_id": _str_or_none(parent.get("release_id")),
                "parent_manifest_sha256": _str_or_none(parent.get("manifest_sha256")),
                "derived_at": _str_or_none(lineage.get("derived_at")),
                "registry_sha256": _str_or_none(registry.get("sha256")),
                "registry_entries": _int_or_none(registry.get("entries")),
                "registry_as_of": _str_or_none(registry.get("as_of")),
                "snapshots": len(snapshots) if isinstance(snapshots, list) else None,
            }
        )
    by_sha = {r["manifest_sha256"]: r["path"] for r in rows if r.get("manifest_sha256")}
    for r in rows:
        r["parent_path"] = by_sha.get(r.get("parent_manifest_sha256") or "")
    return pl.DataFrame(rows, schema=CATALOG_SCHEMA)


def release_lineage(rel: Release) -> dict[str, Any] | None:
    """The manifest's `lineage` section (derived releases only), with the registry and snapshots as given."""
    lineage = rel.manifest.get("lineage")
    if not isinstance(lineage, dict):
        return None
    snapshots = [s for s in lineage.get("snapshots") or [] if isinstance(s, dict)]
    return {
        "parent": lineage.get("parent") if isinstance(lineage.get("parent"), dict) else None,
        "derived_at": _str_or_none(lineage.get("derived_at")),
        "registry": lineage.get("registry") if isinstance(lineage.get("registry"), dict) else None,
        "snapshots": pl.DataFrame(
            [
                {"path": str(s.get("path")), "sha256": str(s.get("sha256")), "bytes": _int_or_none(s.get("bytes"))}
                for s in snapshots
            ],
            schema={"path": pl.String, "sha256": pl.String, "bytes": pl.Int64},
        ),
    }

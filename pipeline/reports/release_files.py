"""A release as its manifest describes it, read without importing the pipeline that wrote it.

The audit app and outside tools import the reports, and `pipeline.release` pulls in the executors and
steps (DESIGN: the app never imports those), so the two helpers the reports need live here.
"""

from __future__ import annotations

import json
from pathlib import Path

MANIFEST = "manifest.json"
REQUIRED = ("format", "release_id", "config_hash", "inputs", "files", "counts")


class ReportError(RuntimeError):
    """The directory is not a complete release; the message says what is missing and where."""


def load_manifest(release: Path) -> dict:
    """The manifest, checked just enough to report on it (`apertura verify` checks everything)."""
    path = Path(release) / MANIFEST
    if not path.is_file():
        raise ReportError(f"{release} is not a release: {MANIFEST} is missing")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ReportError(f"{path} is not valid JSON: {err}") from err
    if not isinstance(manifest, dict) or manifest.get("format") != "apertura-release":
        raise ReportError(f"{path} is not an Apertura release manifest")
    missing = [key for key in REQUIRED if key not in manifest]
    if missing:
        raise ReportError(f"{path} lacks {', '.join(missing)}")
    absent = [f["path"] for f in manifest["files"] if not (Path(release) / f["path"]).is_file()]
    if absent:
        raise ReportError(f"{release} is incomplete: {absent[0]} is missing")
    return manifest


def table_files(release: Path, manifest: dict, table: str) -> list[str]:
    """Paths of one table's Parquet files, exactly as the manifest lists them (never a directory glob)."""
    return [str(Path(release) / f["path"]) for f in manifest["files"] if f["table"] == table]

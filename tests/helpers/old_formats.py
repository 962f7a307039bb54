"""Releases of older formats: 4 and 5 are fixtures written by the pipeline of their time; 1-3, which no pipeline
writes any more, are made from the format 4 fixture the way those formats differ (schemas/): format 3 is format 4
without commitments nor the inputs' `bytes_by_type`; format 2 also has documents and ledger at schema 1 (no
`url_key`); format 1 also has no opt-out section nor evidence table. Each is written whole, with its manifest's
bytes and hashes, so `verify` judges it as a release of that time."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import polars as pl

import schemas
from pipeline.tables import file_sha256, write_part

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "old_release_formats"
FORMAT4, FORMAT5 = FIXTURES / "format4", FIXTURES / "format5"  # format 5: old0/old1/old2.test, one page each


def old_release(out: Path, format_version: int) -> Path:
    """A format `format_version` (1-5) release at `out`: a copy of the fixture (4, 5) or made from format 4 (1-3)."""
    if format_version in (4, 5):
        return Path(shutil.copytree(FORMAT4 if format_version == 4 else FORMAT5, out))
    if format_version not in (1, 2, 3):
        raise ValueError(f"format {format_version}: only formats 1 to 5 are older formats")
    shutil.copytree(FORMAT4, out)
    shutil.rmtree(out / "commitments")
    manifest = json.loads((out / "manifest.json").read_text())
    del manifest["commitments"]
    for entry in manifest["inputs"]:
        entry.pop("bytes_by_type", None)
    versions = schemas.TABLE_VERSIONS[format_version]
    if format_version == 1:
        del manifest["optout"]
        shutil.rmtree(out / "optout_evidence")
    files = []
    for f in manifest["files"]:
        if f["table"] not in versions:
            continue
        path = out / f["path"]
        if f["schema_version"] != versions[f["table"]]:
            write_part(pl.read_parquet(path), f["table"], path, versions[f["table"]])
        files.append({**f, "schema_version": versions[f["table"]], "bytes": path.stat().st_size,
                      "sha256": file_sha256(path)})  # fmt: skip
    manifest.update(format_version=format_version, files=files)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return out

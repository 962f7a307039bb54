"""`Release`: the read-only Python face of a release (what `pipeline.run` returns; `apertura show/stats/verify`).

Kept apart from the package's reading primitives: `.verify()` reaches `pipeline.verify`, which reads through
those primitives, so the primitives must not import this.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pipeline.release_read import load_manifest, table_files


class Release:
    """A release, read-only: `Release.open(path)`; `.manifest`; each table as a Polars LazyFrame (`documents()`,
    `ledger()`, `signatures()`, `evidence()`), scanning exactly the files the manifest lists; `.verify()`.

    What `pipeline.run` returns, and the Python face of `apertura show/stats/verify`."""

    def __init__(self, path: Path, manifest: dict) -> None:
        self.path = path
        self.manifest = manifest

    @classmethod
    def open(cls, path: str | os.PathLike) -> Release:
        release = Path(path)
        return cls(release, load_manifest(release, complete=True))

    @property
    def release_id(self) -> str:
        return str(self.manifest.get("release_id", self.path.name))

    def table(self, name: str) -> Any:
        """One table as a `polars.LazyFrame` over its listed files (empty, with its schema, when it has none)."""
        import polars as pl
        import pyarrow as pa

        import schemas

        files = table_files(self.path, self.manifest, name, must_exist=True)
        if files:
            return pl.scan_parquet(files)
        versions = {f.get("schema_version") for f in self.manifest["files"] if f.get("table") == name}
        schema = schemas.arrow_schema(name, next(iter(versions), None))
        return pl.from_arrow(pa.Table.from_batches([], schema=schema)).lazy()

    def documents(self) -> Any:
        return self.table("documents")

    def ledger(self) -> Any:
        return self.table("ledger")

    def signatures(self) -> Any:
        return self.table("signatures")

    def evidence(self) -> Any:
        return self.table("optout_evidence")

    def verify(self, registry: str | os.PathLike | None = None, pubkey: str | os.PathLike | None = None) -> Any:
        """`apertura verify`: a report whose `.ok` is the verdict and `.checks` the named findings."""
        from pipeline.verify import verify_release

        return verify_release(
            self.path, Path(registry) if registry else None, pubkey=Path(pubkey) if pubkey else None
        )

    def __repr__(self) -> str:
        counts = self.manifest.get("counts", {})
        return f"Release({str(self.path)!r}, documents={counts.get('kept')}, removed={counts.get('removed')})"

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

    def __init__(self, path: Path, manifest: dict, source: str | None = None) -> None:
        self.path = path
        self.manifest = manifest
        self.source = source  # the URI of a remote release (`path` is then its local copy)

    @classmethod
    def open(cls, path: str | os.PathLike) -> Release:
        """A release directory, or a remote release's URI (`s3://bucket/prefix`): fetched into the local cache
        first, each file's sha256 checked against its manifest (`pipeline.release_read.remote`)."""
        from pipeline.release_read.remote import locate

        release, fetched = locate(path)
        return cls(release, load_manifest(release, complete=True), fetched.uri if fetched else None)

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

        return verify_release(  # a remote release: its store, read afresh, not the cached copy
            self.source or self.path, Path(registry) if registry else None, pubkey=Path(pubkey) if pubkey else None
        )

    def __repr__(self) -> str:
        counts = self.manifest.get("counts", {})
        where = self.source or str(self.path)
        return f"Release({where!r}, documents={counts.get('kept')}, removed={counts.get('removed')})"

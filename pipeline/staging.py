"""Staged shards: what a run hands to the release, and all the release knows of the run.

An executor stages each input as a shard directory (`<workdir>/shards/NNNNN/`: `candidates.parquet`,
`ledger.parquet`, `evidence.parquet`, and `report.json` written last); `pipeline.release` builds the release
from those files alone, whichever executor wrote them. The report names the per-record stages the shard went
through (`stages`), in order: the release's funnel is taken from there, not from the executor's step list.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Shard:
    index: int
    spec: str
    directory: Path
    policies: Path | None = None  # the run's collected site policy files (see pipeline.optout.policies)
    policies_sha256: str | None = None

    @property
    def report_path(self) -> Path:
        return self.directory / "report.json"

    def report(self) -> dict:
        return json.loads(self.report_path.read_text())

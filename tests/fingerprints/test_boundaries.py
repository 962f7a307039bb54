"""Where the fingerprints sit in the house (/work/shared/architecture.json): the dedup step, the release, the
registry, the ledger and the membership index use them, and none of those needs the steps or the executor for
them. Each import runs in a fresh interpreter, so what it loads is what it really needs."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

STEPS, RUN, SOURCES, CRAWL, FACE = (
    "pipeline.steps",
    "pipeline.executors",
    "pipeline.sources",
    "pipeline.crawl",
    "pipeline.cli",
)
NEVER_LOADED = {
    # the package: pure computation; numba and datasketch only on first use (the app and the driver never pay)
    "pipeline.fingerprints": (STEPS, RUN, SOURCES, CRAWL, FACE, "numba", "datasketch"),
    "pipeline.release": (STEPS, RUN, FACE),  # the release reads staged shards, not the executor
    "pipeline.optout.registry": (STEPS, RUN, SOURCES),  # signals are pure decisions
    "pipeline.index": (STEPS, RUN, SOURCES),  # the index reads a release only
    "pipeline.ledger": (STEPS, RUN),
}


def _loaded(module: str) -> list[str]:
    code = f"import importlib, json, sys; importlib.import_module({module!r}); print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


@pytest.mark.parametrize("module", sorted(NEVER_LOADED))
def test_importing_loads_no_forbidden_module(module: str) -> None:
    loaded = _loaded(module)
    assert "pipeline.fingerprints" in loaded or module == "pipeline.fingerprints"
    forbidden = NEVER_LOADED[module]
    assert [m for m in loaded if m in forbidden or m.startswith(tuple(f + "." for f in forbidden))] == []

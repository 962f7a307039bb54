"""Apertura pipeline: web data in, audited Parquet release out.

    from pipeline import Release, RunConfig, run, steps

Names are resolved on first use, so `import pipeline` stays light (no Polars, no models); `steps` is the
subpackage `pipeline.steps`, which `from pipeline import steps` imports as any submodule.
"""

from importlib import import_module
from typing import Any

_LAZY = {
    "__version__": "pipeline.version",  # importlib.metadata costs ~30 ms: paid only by who asks
    "run": "pipeline.api",
    "build": "pipeline.api",
    "Progress": "pipeline.api",
    "RunError": "pipeline.api",
    "RunInterrupted": "pipeline.api",
    "Release": "pipeline.release_read.release",
    "RunConfig": "pipeline.config",
}
__all__ = ["Progress", "Release", "RunConfig", "RunError", "RunInterrupted", "__version__", "build", "run", "steps"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'pipeline' has no attribute {name!r}")

"""Apertura pipeline: web data in, audited Parquet release out.

    from pipeline import Release, RunConfig, run, steps

Names are resolved on first use, so `import pipeline` stays light (no Polars, no models).
"""

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from typing import Any

try:
    __version__ = version("apertura")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

_LAZY = {
    "run": "pipeline.api",
    "build": "pipeline.api",
    "Progress": "pipeline.api",
    "RunError": "pipeline.api",
    "RunInterrupted": "pipeline.api",
    "Release": "pipeline.release_read",
    "RunConfig": "pipeline.config",
}
__all__ = ["Progress", "Release", "RunConfig", "RunError", "RunInterrupted", "build", "run", "steps"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    if name == "steps":
        return import_module("pipeline.steps")
    raise AttributeError(f"module 'pipeline' has no attribute {name!r}")

"""Apertura pipeline: web data in, audited Parquet release out."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("apertura")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

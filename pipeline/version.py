"""The installed Apertura version, recorded in every release, WARC and provenance row.

A leaf module: readers of a release (the app, the index) take the version from here without loading the
package's lazy API (`pipeline/__init__.py`).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("apertura")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

"""The EU summary computed once per release and kept in the user's cache directory, outside the release.

Computing a summary reads every document's text (its shares are by UTF-8 bytes): ~12 s at a million documents.
A release never changes, so the app computes it once and keeps it under `$XDG_CACHE_HOME/apertura/summaries`
(default `~/.cache/apertura/summaries`; the release itself is never written). An entry is used only when its key
matches in full: the sha256 of the release's manifest (which holds every table file's sha256), the summary code's
version (a hash of this package's and the reason table's source, and DuckDB's version), the options, and the state
of every file the summary reads besides the manifest: each table file's size and modification time (a table
edited, restored or replaced after the manifest was written is read again, not answered from what it held then)
and, when the summary reads the inputs' warcinfo, which file each input resolves to and its size and time (an
input moved, deleted or brought back changes its source category). An entry that does not match, or cannot be
read or validated, is ignored and computed again; entries are written under a temporary name and renamed, so a
reader never sees half of one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path

import duckdb

import pipeline.reasons
from pipeline.release_read import MANIFEST, ReleaseError, inside
from pipeline.reports.eu_summary.compute import build_summary
from pipeline.reports.eu_summary.model import EUSummary, SummaryOptions
from pipeline.source_paths import is_url, locate, root_choices

CACHE_FORMAT = 2
_PACKAGE = Path(__file__).parent


def cache_dir() -> Path:
    """$XDG_CACHE_HOME/apertura/summaries (an absolute XDG_CACHE_HOME only, as the XDG spec says), else
    ~/.cache/apertura/summaries."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    return Path(base if os.path.isabs(base) else Path.home() / ".cache") / "apertura" / "summaries"


def code_version() -> str:
    """A hash of what the summary's figures are computed by: any edit of this code makes a new key."""
    digest = hashlib.sha256(f"{CACHE_FORMAT} duckdb {duckdb.__version__}".encode())
    for source in [*sorted(_PACKAGE.glob("*.py")), Path(pipeline.reasons.__file__)]:
        digest.update(source.name.encode() + b"\0" + source.read_bytes())
    return digest.hexdigest()


def cache_key(manifest_sha256: str, options: SummaryOptions, files: str = "") -> dict:
    return {
        "format": CACHE_FORMAT,
        "manifest_sha256": manifest_sha256,
        "code": code_version(),
        "options": options.model_dump(mode="json"),
        "files": files,
    }


def _stat(path: Path) -> list[int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns]


def files_state(release: Path, manifest: dict, options: SummaryOptions) -> str:
    """A hash of the state of what the summary reads besides the manifest (stat calls only, no reads): every
    table file the manifest lists and, with `inspect_inputs`, the local file each WARC/WET input resolves to."""
    state: list[object] = []
    for entry in manifest.get("files") or []:
        try:
            state.append([entry["path"], _stat(inside(release, entry["path"], "table file"))])
        except (KeyError, TypeError, ReleaseError):
            state.append([repr(entry), None])  # the summary itself says what is wrong with it
    if options.inspect_inputs:
        roots = root_choices(manifest, release, None)
        for entry in manifest.get("inputs") or []:
            recorded = entry.get("path") if isinstance(entry, dict) else None
            if isinstance(recorded, str) and not is_url(recorded) and entry.get("format") in ("warc", "wet"):
                found = locate(recorded, roots)[0]
                state.append([recorded, str(found), _stat(found)])
    return hashlib.sha256(json.dumps(state).encode()).hexdigest()


def _entry_path(key: dict) -> Path:
    name = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()
    return cache_dir() / f"{name}.json"


def _key(release: Path, options: SummaryOptions) -> dict:
    raw = (release / MANIFEST).read_bytes()
    try:
        manifest = json.loads(raw)
    except ValueError:
        manifest = {}
    state = files_state(release, manifest if isinstance(manifest, dict) else {}, options)
    return cache_key(hashlib.sha256(raw).hexdigest(), options, state)


def entry_path(release: Path, options: SummaryOptions) -> Path:
    """Where the summary of `release` (as it is now) with `options` is kept (the bench removes it: a cold start)."""
    return _entry_path(_key(Path(release), options))


def _read(path: Path, key: dict) -> EUSummary | None:
    """The summary kept at `path` for exactly `key`, or None (absent, another key, unreadable, invalid)."""
    try:
        entry = json.loads(path.read_bytes())
        if not isinstance(entry, dict) or entry.get("key") != key:
            return None
        summary = EUSummary.model_validate(entry["summary"])
    except (OSError, ValueError, KeyError, TypeError):  # pydantic's ValidationError is a ValueError
        return None
    return summary if summary.general.manifest_sha256 == key["manifest_sha256"] else None


def _write(path: Path, key: dict, summary: EUSummary) -> None:
    """Temp name, then rename; a cache that cannot be written (read-only, full) only costs the next recompute."""
    data = json.dumps({"key": key, "summary": summary.model_dump(mode="json")}).encode()
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)


def cached_summary(release: Path, options: SummaryOptions) -> EUSummary:
    """The summary of `release` with `options`: from the cache when an entry for this exact manifest, code and
    options is there, else computed and kept. Written only when the manifest the summary was computed from (its
    own `manifest_sha256`, hashed after the tables were read) is the one hashed before: a release replaced
    meanwhile gets its summary computed, never stored under the other's key."""
    release = Path(release)
    key = _key(release, options)
    path = _entry_path(key)
    summary = _read(path, key)
    if summary is not None:
        return summary
    summary = build_summary(release, options)
    if summary.general.manifest_sha256 == key["manifest_sha256"]:
        _write(path, key, summary)
    return summary

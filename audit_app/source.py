"""Live re-check of a row's source record: reopen the exact WARC/ARC byte range the release points at and
recompute its payload digest, so an auditor sees that the bytes behind a document are still the ones crawled.

A release is data, not trust: its `file_path` column could name any file. Only files under the data root
($APERTURA_DATA_ROOT, the same root releases are confined to, see `queries.data_root`) are opened; anything
else (another directory, `..` or a symlink leading out, a URL) is reported as outside the data directory and
never read. Reading and parsing is `pipeline.provenance.reopen_record`, the same code as `apertura show`.

A relative `file_path` (a release built with `--source-root`, or inputs typed relative) is looked for under the
source root given to `apertura app --source-root` ($APERTURA_SOURCE_ROOT; confined to the data root like any path a
user gives), else under the root the manifest records, the release directory's parent, then the data root
(`source_roots`); the outcome says which root was used, or every place the file was not.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from audit_app import queries
from pipeline.source_paths import locate, root_choices

MAX_RECORD_BYTES = 64 * 1024 * 1024  # a record longer than this is not reopened (a release could claim 1 TB)

Status = Literal["ok", "mismatch", "no_digest", "unreachable", "outside", "damaged", "too_large"]


@dataclass(frozen=True)
class Recheck:
    """Outcome of one re-check; `message` is safe to show (paths as given, no file contents)."""

    status: Status
    message: str
    path: str | None = None  # the resolved local file, when confined
    stored_digest: str | None = None  # WARC-Payload-Digest header of the reopened record
    computed_digest: str | None = None  # recomputed from the reopened payload
    release_digest: str | None = None  # what the release row says (warc_payload_digest)
    record_id: str | None = None
    record_url: str | None = None
    root_used: str | None = None  # how the root a relative file_path was found under was chosen (None: absolute)

    @property
    def ok(self) -> bool:
        return self.status == "ok"


class SourceAccessError(ValueError):
    """The source path is outside the data directory or not a local file. Safe to show."""


SOURCE_ROOT_ENV = "APERTURA_SOURCE_ROOT"


def source_root_arg(argv: Sequence[str]) -> str | None:
    """`--source-root DIR` from the script arguments (`apertura app --source-root`), else $APERTURA_SOURCE_ROOT."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--source-root")
    known, _ = parser.parse_known_args(list(argv))
    return known.source_root or os.environ.get(SOURCE_ROOT_ENV) or None


def source_roots(manifest: dict, release: Path, given: str | None, root: Path | None = None) -> list[tuple[Path, str]]:
    """Where a relative `file_path` of `release` is looked for (`pipeline.source_paths.root_choices`): the source
    root given alone, confined to the data root (SourceAccessError when outside); else the manifest's recorded root,
    the release directory's parent, then the data root, those inside the data root only. Each file found is confined
    again before it is read (a symlink can still lead out)."""
    root = (root or queries.data_root()).resolve()
    if given:
        inside = queries.within_root(Path(given.strip()).expanduser(), root) if "\x00" not in given else None
        if inside is None:
            raise SourceAccessError(f"the source root {given!r} is outside the data directory {root}; it is not used")
        given = str(inside)
    choices = root_choices(manifest, release, given, last=(root, "the data directory"))
    return [(r, how) for r, how in choices if queries.within_root(r, root) is not None]  # never looks outside


def confine(file_path: str | None, root: Path | None = None, roots: list[tuple[Path, str]] | None = None) -> Path:
    """The local file for a release's `file_path`, resolved (symlinks, `..`) and confined to the data root.
    Relative paths are taken relative to the data root, or looked for under `roots` (`source_roots`)."""
    return _located(file_path, root, roots)[0]


def _located(
    file_path: str | None, root: Path | None, roots: list[tuple[Path, str]] | None
) -> tuple[Path, str | None, list[Path]]:
    """`confine`, with how the root was chosen and every place looked at (for a plain "not found at ...")."""
    root = (root or queries.data_root()).resolve()
    text = (file_path or "").strip()
    if not text or "\x00" in text:
        raise SourceAccessError("the row names no source file")
    if "://" in text:
        raise SourceAccessError(f"{text!r} is not a local file: outside the data directory {root}")
    how, tried = None, []
    candidate = Path(text).expanduser()
    if not candidate.is_absolute() and roots:
        candidate, how, tried = locate(text, roots)
    elif not candidate.is_absolute():
        candidate = root / candidate
    resolved = candidate.resolve()
    if not resolved.is_relative_to(root):
        raise SourceAccessError(f"{text!r} is outside the data directory {root}; it is not opened")
    return resolved, how, tried or [resolved]


def recheck(
    file_path: str | None,
    offset: int | None,
    length: int | None,
    *,
    release_digest: str | None = None,
    record_id: str | None = None,
    url: str | None = None,
    limit: int | None = None,
    root: Path | None = None,
    roots: list[tuple[Path, str]] | None = None,
) -> Recheck:
    """Reopen `length` bytes at `offset` of the (confined) source file, re-check the payload digest, and
    compare the record with what the release row says (`release_digest`, `record_id`, `url`; None: not compared).
    `limit`: the release's max_payload_bytes (default: the pipeline's default); `roots`: where a relative
    `file_path` is looked for (`source_roots`; default: the data root)."""
    try:
        path, how, tried = _located(file_path, root, roots)
    except SourceAccessError as err:
        return Recheck("outside", str(err), release_digest=release_digest)
    if offset is None or length is None or offset < 0 or length <= 0 or length > MAX_RECORD_BYTES:
        return Recheck(
            "damaged", f"the row's byte range (offset {offset}, length {length}) cannot be reopened", str(path)
        )
    if not path.is_file():
        nor = "".join(f", nor at {t}" for t in tried[1:])
        where = f"source not reachable: {file_path!r} not found at {tried[0]}{nor}"
        return Recheck("unreachable", where, str(path), root_used=how)
    if not os.access(path, os.R_OK):
        return Recheck("unreachable", f"source not reachable: {file_path!r} at {path} is unreadable", str(path))
    from pipeline.provenance import RECHECK_LIMIT, reopen_record  # imported only when a check is asked

    try:
        record = reopen_record(str(path), int(offset), int(length), limit=int(limit or RECHECK_LIMIT))
    except OSError as err:
        return Recheck("unreachable", f"source not reachable: {err.strerror or err}", str(path))
    except Exception as err:  # RecordError and other parse errors: the bytes are no longer a record
        return Recheck(
            "damaged",
            f"the bytes at offset {offset} are not a readable record ({type(err).__name__}): the file changed",
            str(path),
            release_digest=release_digest,
        )
    found = {
        "path": str(path),
        "root_used": how,
        "stored_digest": record.stored_digest,
        "computed_digest": record.computed_digest,
        "release_digest": release_digest,
        "record_id": record.record_id,
        "record_url": record.url,
    }
    row = {"warc_payload_digest": release_digest, "warc_record_id": record_id, "url": url}
    differences = record.differences({k: v for k, v in row.items() if v is not None})
    if differences and not (record.too_large and record.record_id is None):
        return Recheck("mismatch", "MISMATCH: " + "; ".join(differences), **found)
    if record.too_large:
        return Recheck("too_large", f"{record.too_large} (the same limit as extraction)", **found)
    if record.digest_ok is None:
        return Recheck("no_digest", "the record carries no payload digest that can be recomputed", **found)
    under = f" (found under {how})" if how else ""
    return Recheck("ok", f"payload digest re-checked: it matches{under}", **found)

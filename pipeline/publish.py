"""Publish a finished release to any pyarrow filesystem: a local path, `file://`, `s3://` (S3-compatible too).

Why copy a finished local release instead of writing Parquet remotely from the start: the release is built
and verified atomically on local disk (staging directory, then rename), and object stores have no rename.
So publishing copies every file, checking each manifest-listed file's sha256 and size while it streams,
and writes `manifest.json` last: a reader that waits for the manifest never sees a partial release, and a
failed or interrupted publish leaves no manifest (publish again to the same URI to finish it). A URI that
already holds a manifest is refused (releases are immutable).

    from pipeline.publish import publish
    publish(Path("releases/r1"), "s3://bucket/releases/r1?endpoint_override=minio.internal:9000&scheme=http")

Credentials come from pyarrow's usual sources (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, ~/.aws,
instance roles); see `pyarrow.fs.S3FileSystem` for the URI options.
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

from pyarrow import fs as pafs

from pipeline.locks import output_lock
from pipeline.release_read import MANIFEST, load_manifest
from pipeline.tables import ReleaseError

CHUNK = 8 << 20  # bytes per read/write: bounded memory whatever the file size
OBJECT_STORES = frozenset({"s3", "gcs", "abfs"})  # keys, not directories: no directory markers to create


def _copy(source: Path, filesystem: pafs.FileSystem, dest: str) -> tuple[int, str]:
    """Stream `source` to `dest`; return (bytes, sha256) of what was sent."""
    digest, size = hashlib.sha256(), 0
    with open(source, "rb") as f, filesystem.open_output_stream(dest) as out:
        for block in iter(lambda: f.read(CHUNK), b""):
            digest.update(block)
            size += len(block)
            out.write(block)
    return size, digest.hexdigest()


def _lock(uri: str):
    """The lock of a publish destination: beside a local one; for an object store (which has no locks) a lock
    file on this machine named after the URI, so two publishes from here to one destination cannot interleave."""
    local = uri.removeprefix("file://") if uri.startswith("file://") or "://" not in uri else None
    if local is not None:
        return output_lock(Path(local))
    name = hashlib.sha256(uri.encode()).hexdigest()[:16]
    return output_lock(Path(uri), lock=Path(tempfile.gettempdir()) / f"apertura-publish-{name}.lock", label=uri)


def publish(release: Path | str, uri: str) -> str:
    """Copy the release directory to `uri` (manifest last, hashes checked); return the manifest's location.

    Holds the destination's lock (pipeline/locks.py) while copying: a second publish to it gets OutputLocked."""
    with _lock(uri):
        return _publish(release, uri)


def _publish(release: Path | str, uri: str) -> str:
    manifest_path = Path(release) / MANIFEST
    manifest = load_manifest(Path(release))  # a clear error for a missing, malformed or non-release manifest
    listed = {f["path"]: f for f in [*manifest["files"], *(manifest.get("descriptions") or [])]}
    filesystem, root = pafs.FileSystem.from_uri(uri)
    root = root.rstrip("/")
    target = f"{root}/{MANIFEST}"
    if filesystem.get_file_info(target).type != pafs.FileType.NotFound:
        raise ReleaseError(f"{uri} already holds a release: releases are immutable, choose a new destination")
    files = sorted(p for p in Path(release).rglob("*") if p.is_file() and p != manifest_path)
    missing = set(listed) - {p.relative_to(release).as_posix() for p in files}
    if missing:
        raise ReleaseError(f"{release} is incomplete: {sorted(missing)[0]} is listed in the manifest but missing")
    needs_dirs = filesystem.type_name not in OBJECT_STORES
    for path in files:
        relative = path.relative_to(release).as_posix()
        dest = f"{root}/{relative}"
        if needs_dirs:
            filesystem.create_dir(dest.rsplit("/", 1)[0], recursive=True)
        size, sha256 = _copy(path, filesystem, dest)
        entry = listed.get(relative)
        if entry is not None and (size, sha256) != (entry["bytes"], entry["sha256"]):
            raise ReleaseError(
                f"{path}: sha256 {sha256} ({size} bytes) differs from the manifest's {entry['sha256']} "
                f"({entry['bytes']} bytes); nothing was published as a release (no {MANIFEST} at {uri})"
            )
    _copy(manifest_path, filesystem, target)  # last: its presence means the release is whole
    return target

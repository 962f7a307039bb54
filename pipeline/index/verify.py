"""`verify_index`: the sidecar index binds to the release's current manifest and no index file changed."""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.index.build import FORMAT, INDEX_DIR, INDEX_JSON, LOCK_FILES, manifest_sha256
from pipeline.release_read import ReleaseError, inside
from pipeline.tables import file_sha256


def verify_index(release: str | Path) -> list[tuple[str, bool, str]]:
    """(name, ok, detail) checks for `apertura verify`. A release without an index passes (it is optional)."""
    release = Path(release)
    if not (release / INDEX_DIR).exists():
        return [("index", True, "no membership index (optional): `apertura index` builds one")]
    try:  # where the reader looks (`release_read.index_files`): never a directory leading out of the release
        directory = inside(release, INDEX_DIR, "the index directory")
        path = inside(directory, INDEX_JSON, "the index description")
    except ReleaseError as err:
        return [("index.json", False, str(err))]
    try:
        info = json.loads(path.read_text())
        files = info["files"] if info.get("format") == FORMAT else None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        return [("index.json", False, f"{path}: unreadable ({err})")]
    if files is None:
        return [("index.json", False, f"{path}: not an apertura index (format {info.get('format')!r})")]
    checks: list[tuple[str, bool, str]] = []
    try:
        current = manifest_sha256(release)
    except OSError as err:
        return [("index binds to manifest", False, str(err))]
    bound = info.get("manifest_sha256") == current
    checks.append(
        (
            "index binds to manifest",
            bound,
            f"built from manifest sha256 {str(info.get('manifest_sha256', '?'))[:16]}…"
            + ("" if bound else f", current is {current[:16]}…: rebuild with `apertura index --force`"),
        )
    )
    problems = []
    listed = {str(f.get("path")) for f in files if isinstance(f, dict)}
    for f in files:
        try:
            p = inside(directory, f.get("path") if isinstance(f, dict) else None, "index file")
        except ReleaseError as err:
            problems.append(str(err))
            continue
        if not p.is_file():
            problems.append(f"{f['path']}: missing")
        elif p.stat().st_size != f["bytes"]:
            problems.append(f"{f['path']}: {p.stat().st_size} bytes, index.json says {f['bytes']}")
        elif file_sha256(p) != f["sha256"]:
            problems.append(f"{f['path']}: sha256 differs from index.json (file changed)")
    for p in sorted(directory.rglob("*")):
        rel = p.relative_to(directory).as_posix()
        if p.is_file() and p.name != INDEX_JSON and p.name not in LOCK_FILES and rel not in listed:
            problems.append(f"{rel}: not listed in index.json")
    checks.append(("index files and sha256", not problems, "; ".join(problems) or f"{len(files)} files match"))
    return checks

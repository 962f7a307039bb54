"""Where a release's inputs are: the path it records for each input, and where that path is found again later.

With a declared source root (`apertura run --source-root DIR`, `RunConfig.source_root`) every local input is
recorded relative to it, with POSIX separators (documents' and ledger's `file_path`, the manifest's `inputs`,
opt-out snapshots and evidence `source_file`), and the manifest records the root itself, absolute (`source_root`).
The recorded paths are then the same wherever the inputs lived, so a release moved with its inputs can re-check
their bytes from the new place (`show --source-root NEW`, `apertura app --source-root NEW`). Without a root the
paths are recorded as typed (as before format 6) and `source_root` is null. URLs are always recorded as given.

The root is not hashed into the config: it decides where the data was, not what it is (the relative paths are the
data, and they are in every row). Two runs of the same files laid out the same way under two roots write the
same tables and the same config hash.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath


class SourceRootError(ValueError):
    """An input outside the declared source root (one line, naming the file)."""


def is_url(text: str) -> bool:
    return "://" in text


def absolute_root(root: str | os.PathLike) -> Path:
    """The root as the manifest records it: absolute, `..` folded, symlinks kept (the path the user knows)."""
    return Path(os.path.abspath(Path(root).expanduser()))


def record_path(spec: str, root: str | os.PathLike | None) -> str:
    """The path a release records for input `spec`: relative to `root` in POSIX form; as typed without a root; a
    URL as given. Inside means inside as the paths are written (`..` folded: a symlinked directory of inputs under
    the root stays under it), or once symlinks are resolved (a root reached through a symlink); SourceRootError
    for a local file outside `root` both ways."""
    if root is None or is_url(spec):
        return spec
    path = Path(spec).expanduser()
    for base, where in (
        (absolute_root(root), Path(os.path.abspath(path))),
        (absolute_root(root).resolve(), path.resolve()),
    ):
        if where.is_relative_to(base):
            return where.relative_to(base).as_posix()
    raise SourceRootError(f"{spec}: outside the source root {absolute_root(root)} (inputs are recorded relative to it)")


def is_clean_relative(recorded: str) -> bool:
    """A path recorded under a source root: relative, POSIX, no empty, `.` or `..` part (it stays under the root)."""
    path = PurePosixPath(recorded)
    return (
        bool(recorded)
        and "\\" not in recorded
        and not path.is_absolute()
        and not any(part in ("", ".", "..") for part in recorded.split("/"))
    )


def root_choices(
    manifest: dict, release: Path, given: str | os.PathLike | None, last: tuple[Path, str] | None = None
) -> list[tuple[Path, str]]:
    """Where a relative recorded path is looked for, in order, each with how it was chosen: the root given by the
    caller alone; otherwise the manifest's recorded root, the release directory's parent, then `last` (default the
    current directory: a path recorded as typed is relative to where the run started)."""
    if given is not None:
        return [(Path(given).expanduser().resolve(), "the source root given")]
    choices = []
    if recorded := manifest.get("source_root"):
        choices.append((Path(recorded), "the source root the manifest records"))
    choices.append((Path(release).resolve().parent, "the release directory's parent"))
    choices.append(last or (Path.cwd(), "the current directory"))
    seen: set[Path] = set()
    return [(root, how) for root, how in choices if not (root in seen or seen.add(root))]  # each place once


def locate(recorded: str, choices: list[tuple[Path, str]]) -> tuple[Path, str | None, list[Path]]:
    """The local file for a recorded path: (path, how its root was chosen, paths tried). An absolute recorded
    path is itself (how: None). A relative one is the first existing file under the `root_choices`; when none
    exists, the first candidate, so that "not found at ..." names what was tried."""
    if Path(recorded).is_absolute():
        return Path(recorded), None, [Path(recorded)]
    tried = [root / recorded for root, _ in choices]
    for (_, how), path in zip(choices, tried, strict=True):
        if path.is_file():
            return path, how, tried
    return tried[0], choices[0][1], tried

"""A release built once for many test processes: `make mutate` runs each mutant's tests in a fresh process, and a
fixture that builds a release with code the target does not mutate can share one build between them all."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path


def build_once(variable: str, build: Callable[[Path], None], scratch: Path) -> Path:
    """`build(root)` into the directory named by the environment variable `variable`, once for every process that
    shares it (whole, or not at all: built under another name, then renamed), else into `scratch`."""
    shared = os.environ.get(variable)
    if not shared:
        build(scratch)
        return scratch
    root = Path(shared)
    if (root / ".complete").is_file():
        return root
    staging = root.with_name(f"{root.name}.building-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    build(staging)
    (staging / ".complete").touch()
    try:
        staging.rename(root)
    except OSError:  # another process renamed its build first: use that one
        shutil.rmtree(staging, ignore_errors=True)
    return root

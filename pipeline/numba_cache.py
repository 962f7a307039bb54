"""Where numba keeps the compiled kernels: the user's cache directory, not the installed package.

`cache=True` alone writes numba's cache beside the kernel's source file: inside site-packages, often read-only
or fresh per environment, so every new environment (a CI job, a container, a venv) paid ~20-50 s of compilation
in its first run. Imported by each kernel module before numba compiles anything, this points numba at
`$XDG_CACHE_HOME/apertura/numba` (default `~/.cache/apertura/numba`), unless `NUMBA_CACHE_DIR` is set already;
`apertura warmup` (run by `make`) fills it at install time. numba keys each entry by the kernel file's path and
timestamp, so installs and versions do not mix.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def cache_dir() -> Path:
    """$NUMBA_CACHE_DIR when set; else $XDG_CACHE_HOME/apertura/numba (an absolute XDG_CACHE_HOME only, as the
    XDG spec says), else ~/.cache/apertura/numba."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        return Path(os.environ["NUMBA_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME", "")
    return Path(base if os.path.isabs(base) else Path.home() / ".cache") / "apertura" / "numba"


def use_user_cache() -> Path:
    """Point numba (in this process and the worker processes it starts) at `cache_dir()`; return it."""
    path = cache_dir()
    os.environ["NUMBA_CACHE_DIR"] = str(path)  # read when numba is imported, here and in spawned workers
    if "numba" in sys.modules:  # imported already: its config is read as each kernel is defined
        sys.modules["numba"].config.CACHE_DIR = str(path)
    return path


CACHE_DIR = use_user_cache()

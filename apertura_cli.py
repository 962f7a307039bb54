"""The `apertura` command's entry point: it checks that `pipeline` is Apertura's before handing over.

The distribution installs the top-level packages `pipeline`, `schemas` and `audit_app` (the layout the project
is built on). Another project's `pipeline/` earlier on `sys.path` (the current directory, PYTHONPATH) would
shadow ours and fail deep inside an import; this says so in one line instead.
"""

from __future__ import annotations

import sys
from pathlib import Path


def _fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def main() -> None:
    here = Path(__file__).resolve().parent
    try:
        import pipeline
    except ImportError as err:
        _fail(f"Apertura's `pipeline` package cannot be imported ({err}): reinstall apertura")
    found = Path(pipeline.__file__ or "").resolve().parent
    if found.parent != here:
        _fail(
            f"`import pipeline` finds {found}, not Apertura's (in {here}): another project's `pipeline` package "
            "is earlier on the path (current directory or PYTHONPATH); run apertura from elsewhere or remove it "
            "from PYTHONPATH"
        )
    from pipeline.cli import app

    app()


if __name__ == "__main__":
    main()

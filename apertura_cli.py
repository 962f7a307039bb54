"""The `apertura` command's entry point: it checks that `pipeline` is Apertura's before handing over.

The distribution installs the top-level packages `pipeline`, `schemas` and `audit_app` (the layout the project
is built on). Another project's `pipeline/` earlier on `sys.path` (the current directory, PYTHONPATH) would
shadow ours and fail deep inside an import; this says so in one line instead.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Commands run without importing the whole CLI (every step, polars, duckdb: ~0.5 s of CPU before anything
# happens): `verify-proof` is for anyone who received a proof, offline, and answers in ~60 ms this way. Their
# `--help` still goes through the whole CLI (its help formatting).
LIGHT_COMMANDS = {"verify-proof": ("pipeline.proofs.cli", "verify_proof_command")}


def _light(argv: list[str]) -> bool:
    """Run argv[1] from LIGHT_COMMANDS in a one-command CLI (same options, output and exit codes); False when
    argv is not such a command."""
    if len(argv) < 2 or argv[1] not in LIGHT_COMMANDS or {"--help", "-h"} & set(argv[2:]):
        return False
    from importlib import import_module

    import typer

    module, name = LIGHT_COMMANDS[argv[1]]
    light = typer.Typer(add_completion=False, pretty_exceptions_enable=False)

    @light.callback()
    def group() -> None:  # a group, so that the command keeps its name on the command line
        """Apertura."""

    light.command(argv[1])(getattr(import_module(module), name))
    light()
    return True


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
    if _light(sys.argv):
        return
    from pipeline.cli import app

    app()


if __name__ == "__main__":
    main()

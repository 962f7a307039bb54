"""`apertura sample-web`: serve the deterministic sample web (pipeline/sources/sample_web.py) on 127.0.0.1.

Kept light: the server module is imported inside the command so `apertura --help` stays fast.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Annotated

import typer

sample_web_app = typer.Typer(
    help="A deterministic sample web (small sites with known opt-out signals) on 127.0.0.1.",
    no_args_is_help=True,
    add_completion=False,
)


@sample_web_app.command()
def serve(
    base_port: Annotated[
        int | None, typer.Option("--base-port", help="First port; site i gets base+i (default: free ports).")
    ] = None,
    seeds_out: Annotated[
        Path | None, typer.Option("--seeds-out", help="Also write the seed URLs (one per line) to this file.")
    ] = None,
    duration: Annotated[
        float | None, typer.Option(hidden=True, help="Stop after this many seconds (for tests).")
    ] = None,
) -> None:
    """Serve every sample site, print its URL and the seeds, run until Ctrl+C."""
    import signal

    from pipeline.sources.sample_web import SITES, start_sample_web

    def _terminate(signum, frame):
        raise KeyboardInterrupt

    try:
        web = start_sample_web(base_port)
    except OSError as exc:
        typer.echo(f"error: cannot bind the sample web ports: {exc}", err=True)
        raise typer.Exit(2) from exc
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _terminate)  # `kill` stops it as cleanly as Ctrl+C
    try:
        notes = {s.name: s.title for s in SITES}
        for name, base in web.sites.items():
            typer.echo(f"{name:<10} {base}/   {notes[name]}")
        seeds = web.seeds()
        if seeds_out is not None:
            seeds_out.parent.mkdir(parents=True, exist_ok=True)
            seeds_out.write_text("".join(s + "\n" for s in seeds), encoding="utf-8")
            typer.echo(f"seeds written to {seeds_out} (crawl them with --allow-private: they are on 127.0.0.1)")
        typer.echo("seeds:")
        for s in seeds:
            typer.echo(s)
        typer.echo("serving; press Ctrl+C to stop", err=True)
        deadline = None if duration is None else time.monotonic() + duration
        while deadline is None or time.monotonic() < deadline:
            time.sleep(0.1)
    except KeyboardInterrupt:
        pass
    finally:
        web.stop()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)

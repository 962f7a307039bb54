"""`apertura optout ...`: a rights holder's tester for opt-out signals (more commands come with the registry)."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

optout_app = typer.Typer(help="Opt-out signals: test what a site's signals say for AI crawlers.", no_args_is_help=True)


def _read(path: Path | None) -> bytes | None:
    if path is None:
        return None
    try:
        return path.read_bytes()
    except OSError as err:
        typer.echo(f"error: cannot read {path}: {err.strerror}", err=True)
        raise typer.Exit(2) from None


@optout_app.command()
def explain(
    url: Annotated[str, typer.Option(help="The page's URL.")],
    robots_file: Annotated[Path | None, typer.Option("--robots", help="The site's robots.txt.")] = None,
    tdmrep_file: Annotated[Path | None, typer.Option("--tdmrep", help="The site's /.well-known/tdmrep.json.")] = None,
    aitxt_file: Annotated[Path | None, typer.Option("--ai-txt", help="The site's ai.txt.")] = None,
    header: Annotated[list[str] | None, typer.Option(help="A response header, 'Name: value' (repeatable).")] = None,
    html_file: Annotated[Path | None, typer.Option("--html", help="The page's HTML (for meta tags).")] = None,
    agent: Annotated[list[str] | None, typer.Option(help="User-agent token (repeatable); default: AI agents.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Per agent: allowed or reserved for AI training, and the exact rule that decided."""
    from pipeline.optout.agents import default_agents
    from pipeline.optout.explain import explain as explain_url

    headers = []
    for item in header or []:
        name, sep, value = item.partition(":")
        if not sep or not name.strip():
            typer.echo(f"error: header {item!r} is not 'Name: value'", err=True)
            raise typer.Exit(2)
        headers.append((name.strip(), value.strip()))
    verdicts = explain_url(
        url, tuple(agent or default_agents()), robots_txt=_read(robots_file), tdmrep_json=_read(tdmrep_file),
        ai_txt=_read(aitxt_file), headers=headers, html=_read(html_file),
    )  # fmt: skip
    if as_json:
        sys.stdout.write(json.dumps([asdict(v) for v in verdicts], indent=2) + "\n")
        return
    for v in verdicts:
        if not v.reserved:
            typer.echo(f"{v.agent}: allowed")
            continue
        typer.echo(f"{v.agent}: RESERVED")
        for d in v.reserving:
            typer.echo(f"    {d.signal}: {d.rule}")

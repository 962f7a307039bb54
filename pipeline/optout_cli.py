"""`apertura optout ...`: a rights holder's tester for opt-out signals, and the rights-holder registry."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

optout_app = typer.Typer(
    help="Opt-out signals (test what a site's signals say) and the rights-holder opt-out registry.",
    no_args_is_help=True,
)
RegistryOpt = Annotated[
    Path,
    typer.Option(
        "--registry", envvar="APERTURA_REGISTRY", help="Registry directory (append-only; created on first add)."
    ),
]
DEFAULT_REGISTRY = Path(os.environ.get("APERTURA_REGISTRY", "registry"))
AsJson = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
EFFECTIVE_HELP = "ISO 8601 with a time zone (2026-12-05T10:00:00Z, 2026-12-05T11:00+01:00) or 'now'; default: now."


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


def _subject(domain: str | None, url_prefix: str | None, text_file: Path | None) -> tuple[str, str, str | None]:
    """(kind, value, text) from exactly one of the three options."""
    given = [(k, v) for k, v in (("domain", domain), ("url_prefix", url_prefix), ("text", text_file)) if v]
    if len(given) != 1:
        raise _fail("give exactly one of --domain, --url-prefix, --text-file")
    kind, value = given[0]
    if kind != "text":
        return kind, str(value), None
    text = _read(Path(value))
    return "text", "", (text or b"").decode("utf-8", "replace")


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
    agent: Annotated[
        list[str] | None,
        typer.Option(help="User-agent token (repeatable); default: the agents a run honours (its optout.agents)."),
    ] = None,
    all_agents: Annotated[
        bool, typer.Option("--all-agents", help="Every known AI agent (the ai.robots.txt list), not only those.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Per agent: allowed or reserved for AI training, and the exact rule that decided. By default for the agents
    a run honours (the run config's optout.agents), so the answer is the one the pipeline acts on."""
    from pipeline.config import OptoutConfig
    from pipeline.optout.agents import default_agents
    from pipeline.optout.explain import explain as explain_url

    headers = []
    for item in header or []:
        name, sep, value = item.partition(":")
        if not sep or not name.strip():
            typer.echo(f"error: header {item!r} is not 'Name: value'", err=True)
            raise typer.Exit(2)
        headers.append((name.strip(), value.strip()))
    files = {"/.well-known/tdmrep.json": _read(tdmrep_file), "/ai.txt": _read(aitxt_file)}
    verdicts = explain_url(
        url, tuple(agent or (default_agents() if all_agents else OptoutConfig().agents)),
        robots_txt=_read(robots_file), files=files, headers=headers, html=_read(html_file),
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


@optout_app.command()
def add(
    requester: Annotated[str, typer.Option(help="Who asks, with a contact: 'Example AG <legal@example.org>'.")],
    domain: Annotated[str | None, typer.Option(help="A domain; its subdomains are covered too.")] = None,
    url_prefix: Annotated[str | None, typer.Option(help="Every URL starting with this prefix.")] = None,
    text_file: Annotated[Path | None, typer.Option(help="A text (UTF-8) whose copies and near-copies opt out.")] = None,
    note: Annotated[str, typer.Option(help="Free text kept with the entry.")] = "",
    effective_from: Annotated[str | None, typer.Option(help=EFFECTIVE_HELP)] = None,
    registry: RegistryOpt = DEFAULT_REGISTRY,
) -> None:
    """Append an approved opt-out to the registry (never edits an earlier entry). The domain or URL prefix is
    stored in its canonical form, which is printed; it covers every spelling of the same URLs."""
    from pipeline.optout.registry import Registry, RegistryError

    kind, value, text = _subject(domain, url_prefix, text_file)
    try:
        entry = Registry(registry).add(
            kind, value, requester=requester, note=note, effective_from=effective_from, text=text
        )
    except RegistryError as err:
        raise _fail(str(err)) from None
    typer.echo(f"added {entry.describe()}, effective from {entry.effective_from}")
    if kind != "text" and entry.value != value.strip():
        typer.echo(f"stored as {entry.value!r} (given as {value.strip()!r}): it covers every spelling of the same URLs")


@optout_app.command("list")
def list_entries(registry: RegistryOpt = DEFAULT_REGISTRY, as_json: AsJson = False) -> None:
    """Every entry in the registry, oldest first, and the registry's current hash."""
    from pipeline.optout.registry import Registry, RegistryError

    reg = Registry(registry)
    try:
        frame, state = reg.entries().drop("minhash"), reg.state()
    except RegistryError as err:
        raise _fail(str(err)) from None
    if as_json:
        sys.stdout.write(json.dumps({"state": state, "entries": frame.to_dicts()}, indent=2) + "\n")
        return
    for r in frame.iter_rows(named=True):
        typer.echo(f"{r['entry_id']}  {r['kind']:<10} {r['value']:<40} {r['effective_from']}  {r['requester']}")
    typer.echo(f"{state['entries']} entries, sha256 {state['sha256']}")


@optout_app.command()
def check(
    domain: Annotated[str | None, typer.Option(help="A domain.")] = None,
    url: Annotated[str | None, typer.Option(help="A URL.")] = None,
    text_file: Annotated[Path | None, typer.Option(help="A text file.")] = None,
    registry: RegistryOpt = DEFAULT_REGISTRY,
    as_json: AsJson = False,
) -> None:
    """Which registry entries in force now cover a domain, a URL or a text."""
    from pipeline.optout.registry import Registry, RegistryError, entry_dict

    kind, value, text = _subject(domain, url, text_file)
    try:
        covering = Registry(registry).covering("url" if kind == "url_prefix" else kind, text or value)
    except RegistryError as err:
        raise _fail(str(err)) from None
    found = [entry_dict(entry) | {"rule": rule} for entry, rule in covering]
    if as_json:
        sys.stdout.write(json.dumps({"opted_out": bool(found), "entries": found}, indent=2) + "\n")
        return
    if not found:
        typer.echo("not covered by any registry entry in force")
    for f in found:
        typer.echo(f"OPTED OUT: {f['rule']}, effective from {f['effective_from']}")


@optout_app.command()
def pending(registry: RegistryOpt = DEFAULT_REGISTRY, as_json: AsJson = False) -> None:
    """Requests filed from the audit app that wait for approval."""
    from pipeline.optout.registry import Registry, RegistryError

    try:
        frame = Registry(registry).pending().drop("minhash", "entry_id")
    except RegistryError as err:
        raise _fail(str(err)) from None
    if as_json:
        sys.stdout.write(json.dumps(frame.to_dicts(), indent=2) + "\n")
        return
    for r in frame.iter_rows(named=True):
        typer.echo(
            f"{r['request_id']}  {r['kind']:<10} {r['value']:<40} {r['received_at']}  {r['requester']}  {r['note']}"
        )
    typer.echo(f"{frame.height} pending")


@optout_app.command()
def approve(
    request_id: Annotated[str, typer.Argument(help="A pending request id (see `apertura optout pending`).")],
    effective_from: Annotated[str | None, typer.Option(help=EFFECTIVE_HELP)] = None,
    registry: RegistryOpt = DEFAULT_REGISTRY,
) -> None:
    """Approve a pending request: appends a registry entry that names it."""
    from pipeline.optout.registry import Registry, RegistryError

    try:
        entry = Registry(registry).approve(request_id, effective_from)
    except RegistryError as err:
        raise _fail(str(err)) from None
    typer.echo(f"approved {request_id}: {entry.describe()}")

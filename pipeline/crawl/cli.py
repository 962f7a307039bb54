"""`apertura crawl` and `apertura robots-snapshot`: thin Typer commands over `pipeline.crawl.crawler`.

Plain functions, registered by `pipeline/cli.py` with `app.command("crawl")(crawl_command)` and
`app.command("robots-snapshot")(robots_snapshot_command)`. Heavy imports happen inside the commands.
The crawl's progress line (`progress_line`) is drawn here from the core's progress reports; off a terminal they
become log records (`ProgressLog`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from pipeline import logs

if TYPE_CHECKING:
    from rich.progress import Progress

    from pipeline.crawl.config import CrawlConfig
    from pipeline.crawl.crawler import CrawlProgress

_err = Console(stderr=True)


class ProgressLine:
    """The crawl's one-line progress on stderr (rich spinner + counts + elapsed time), started by the first report."""

    def __init__(self) -> None:
        self._bar: Progress | None = None

    def __call__(self, p: CrawlProgress) -> None:
        if self._bar is None:
            from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            self._bar = Progress(
                SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=Console(stderr=True)
            )
            self._bar.add_task("crawl", total=None)
            self._bar.start()
        self._bar.update(
            self._bar.task_ids[0],
            description=f"pages {p.pages:,} · {p.bytes / 1e6:,.1f} MB · errors {p.errors} · "
            f"robots-skipped {p.robots_skipped} · queued {p.queued:,} · files {p.files}",
        )
        if p.final:
            self.close()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


class ProgressLog:
    """Off a terminal, the crawl's progress as log records (`pipeline.logs`: JSON lines under cron or CI): when it
    starts, then one every `every` seconds with pages/s, and the last report. No ETA: the frontier grows as the
    crawl goes."""

    def __init__(self, every: float = logs.PROGRESS_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self.every, self.clock = every, clock
        self.started: float | None = None
        self.last = 0.0

    def __call__(self, p: CrawlProgress) -> None:
        now = self.clock()
        if self.started is None:
            self.started = self.last = now
            logs.log(logging.INFO, "crawl: started", name="crawl", event="phase", phase="crawl", progress=True)
        if not p.final and now - self.last < self.every:
            return
        self.last = now
        rate = p.pages / max(now - self.started, 1e-9)
        counts = (f"pages {p.pages:,} ({rate:,.1f}/s) · {p.bytes / 1e6:,.1f} MB · errors {p.errors} · robots-skipped "
                  f"{p.robots_skipped} · queued {p.queued:,} · files {p.files}")  # fmt: skip
        logs.log(logging.INFO, f"crawl: {counts}", name="crawl",
                 event="progress", phase="crawl", pages=p.pages, bytes=p.bytes, errors=p.errors,
                 robots_skipped=p.robots_skipped, queued=p.queued, files=p.files, pages_per_s=round(rate, 2),
                 elapsed_s=round(now - self.started, 3), finished=p.final, progress=True)  # fmt: skip


@contextlib.contextmanager
def progress_line(show: bool, log: bool = False) -> Iterator[ProgressLine | ProgressLog | None]:
    """`with progress_line(show) as report: crawl(..., progress=report)`: the line when `show`, else with `log`
    progress log records, else None."""
    if not show:
        yield ProgressLog() if log else None
        return
    line = ProgressLine()
    try:
        yield line
    finally:
        line.close()


def _fail(message: str) -> typer.Exit:
    """One clear line on stderr, exit code 2, no traceback."""
    _err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(2)


def _config(path: Path | None, **overrides: Any) -> CrawlConfig:
    from pydantic import ValidationError

    from pipeline.crawl.config import CrawlConfig

    try:
        return CrawlConfig.load(path, **overrides)
    except ValidationError as err:
        first = err.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        where = f"{loc}: " if loc else ""  # a check across fields has no location
        source = f"config {path}" if path else "options"
        message = first["msg"].removeprefix("Value error, ")
        raise _fail(f"{source}: {where}{message} ({err.error_count()} problem(s))") from None
    except OSError as err:
        raise _fail(f"config {path}: {err.strerror or err}") from None
    except ValueError as err:  # JSON syntax, or not an object
        raise _fail(f"config {path}: {str(err).splitlines()[0]}") from None


def _progress(flag: bool | None) -> bool:
    return sys.stderr.isatty() if flag is None else flag


def _progress_log(flag: bool | None) -> bool:
    """Progress as log records: when neither --progress nor --no-progress was given and stderr is no terminal."""
    return flag is None and not sys.stderr.isatty()


ConfigOpt = Annotated[
    Path | None, typer.Option("--config", "-c", help="CrawlConfig, JSON or YAML; options given here override it.")
]
UserAgentOpt = Annotated[
    str | None,
    typer.Option(
        "--user-agent",
        help="User-Agent header (default: AperturaBot/<version> (+<contact>)); robots.txt is checked for its product.",
    ),
]
RobotsTokenOpt = Annotated[
    str | None,
    typer.Option(
        "--robots-token",
        help="Product token robots.txt groups are matched for (default: the one the user agent names); it must "
        "be a product the user agent names.",
    ),
]


def _default(field: str) -> str:
    """A CrawlConfig default, for --help: the option's own default is None (unset: a --config file or the
    config's default decides), so typer has no default of its own to show."""
    from pipeline.crawl.config import CrawlConfig

    value = CrawlConfig.model_fields[field].default
    return "no limit" if value is None else str(value)


ContactOpt = Annotated[
    str | None,
    typer.Option(
        "--contact", help=f"Operator contact URL or mailto:, sent in the UA (default: {_default('contact')})."
    ),
]
TimeoutOpt = Annotated[
    float | None,
    typer.Option(
        "--timeout", help=f"Connect/read timeout per request, seconds (default: {_default('timeout_seconds')})."
    ),
]
DelayOpt = Annotated[
    float | None,
    typer.Option(
        "--delay",
        help=f"Seconds between requests to one host (default: {_default('delay_seconds')}; a robots.txt Crawl-delay "
        "wins).",
    ),
]
ProgressOpt = Annotated[
    bool | None,
    typer.Option(
        "--progress/--no-progress",
        help="Progress line on stderr (default: on a terminal; elsewhere a log record every 10 s).",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the summary as JSON on stdout.")]
AllowPrivateOpt = Annotated[
    bool | None,
    typer.Option(
        "--allow-private/--no-allow-private",
        help="Connect to any address. By default loopback, private, link-local, CGNAT, multicast, reserved and "
        "other non-global addresses are refused (checked on the address connected to).",
    ),
]
AllowNetworkOpt = Annotated[
    list[str] | None,
    typer.Option("--allow-network", help="A network (CIDR) to allow although private, e.g. 10.1.2.0/24; repeatable."),
]


def crawl_command(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output directory: WARC files + crawl-state.json.")],
    seeds: Annotated[
        Path | None, typer.Option("--seeds", help="File of seed URLs, one per line (optional with --resume).")
    ] = None,
    user_agent: UserAgentOpt = None,
    robots_token: RobotsTokenOpt = None,
    contact: ContactOpt = None,
    delay: DelayOpt = None,
    max_pages: Annotated[
        int | None,
        typer.Option("--max-pages", help=f"Stop after this many page fetches (default: {_default('max_pages')})."),
    ] = None,
    max_depth: Annotated[
        int | None, typer.Option("--max-depth", help=f"Link hops from a seed (default: {_default('max_depth')}).")
    ] = None,
    max_bytes: Annotated[
        int | None,
        typer.Option("--max-bytes", help=f"Stop after this many body bytes (default: {_default('max_bytes')})."),
    ] = None,
    timeout: TimeoutOpt = None,
    scope: Annotated[
        str | None, typer.Option("--scope", help=f"same-host or same-site (default: {_default('scope')}).")
    ] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the crawl saved in --out.")] = False,
    config: ConfigOpt = None,
    progress: ProgressOpt = None,
    json_out: JsonOpt = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the resolved config and seeds, then stop.")] = False,
    allow_private: AllowPrivateOpt = None,
    allow_network: AllowNetworkOpt = None,
) -> None:
    """Crawl politely from seed URLs into WARC 1.1 files (robots.txt, tdmrep.json, ai.txt first per host)."""
    from pipeline.crawl.crawler import CrawlError, crawl, read_url_list
    from pipeline.crawl.state import STATE_FILE

    cfg = _config(
        config,
        user_agent=user_agent,
        robots_token=robots_token,
        contact=contact,
        delay_seconds=delay,
        max_pages=max_pages,
        max_depth=max_depth,
        max_bytes=max_bytes,
        timeout_seconds=timeout,
        scope=scope,
        allow_private=allow_private,
        allow_networks=tuple(allow_network) if allow_network else None,
    )
    try:
        if seeds is None and not resume:
            raise CrawlError("--seeds is required (a file of URLs, one per line)")
        urls = read_url_list(seeds) if seeds is not None else []
        if dry_run:
            doc = {"config": cfg.model_dump(mode="json"), "config_hash": cfg.hash(), "seeds": urls, "out": str(out)}
            sys.stdout.write(json.dumps(doc, indent=2) + "\n")
            return
        with progress_line(_progress(progress), _progress_log(progress)) as report:
            summary = crawl(urls, out, cfg, resume=resume, progress=report)
    except CrawlError as err:
        raise _fail(str(err)) from None
    except KeyboardInterrupt as err:  # Ctrl-C, or SIGTERM (CrawlStopped)
        _err.print(f"interrupted: WARC files closed and state saved in {out}; continue with --resume", soft_wrap=True)
        raise typer.Exit(128 + getattr(err, "signum", 2)) from None
    if json_out:
        sys.stdout.write(json.dumps(summary.to_json(), indent=2) + "\n")
        return
    statuses = " ".join(f"{code}×{n}" for code, n in sorted(summary.statuses.items())) or "none"
    lines = [
        f"pages: {summary.pages:,} ({summary.bytes / 1e6:,.2f} MB); HTTP status: {statuses}; errors: {summary.errors}",
        f"skipped by robots.txt: {summary.robots_skipped} URL(s); content type skipped: {summary.type_skipped}; "
        f"truncated: {summary.truncated}; site files fetched: {summary.site_files}",
    ]
    if summary.egress_refused:
        lines.append(
            f"refused by the egress policy: {summary.egress_refused} fetch(es) of a loopback, private or other "
            "non-public address (see the egress_refused records; --allow-private / --allow-network allow them)"
        )
    for o, why in summary.origins_not_crawled.items():
        lines.append(f"not crawled: {o} ({why if why.startswith('egress') else 'robots.txt ' + why})")
    if summary.stopped:
        lines.append(f"stopped: {summary.stopped} reached; {summary.frontier:,} URL(s) left (continue with --resume)")
    lines.append(f"files: {len(summary.files)} WARC file(s) in {out}; state: {out / STATE_FILE}")
    typer.echo("\n".join(lines))


def robots_snapshot_command(
    hosts: Annotated[Path, typer.Option("--hosts", help="File of hosts or origins, one per line (host -> https).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="New output directory for the WARC files.")],
    user_agent: UserAgentOpt = None,
    robots_token: RobotsTokenOpt = None,
    contact: ContactOpt = None,
    delay: DelayOpt = None,
    timeout: TimeoutOpt = None,
    config: ConfigOpt = None,
    progress: ProgressOpt = None,
    json_out: JsonOpt = False,
    allow_private: AllowPrivateOpt = None,
    allow_network: AllowNetworkOpt = None,
) -> None:
    """Fetch today's robots.txt, /.well-known/tdmrep.json and /ai.txt of each host into WARC files."""
    from pipeline.crawl.crawler import CrawlError, read_url_list, robots_snapshot

    cfg = _config(
        config,
        user_agent=user_agent,
        robots_token=robots_token,
        contact=contact,
        delay_seconds=delay,
        timeout_seconds=timeout,
        allow_private=allow_private,
        allow_networks=tuple(allow_network) if allow_network else None,
    )
    try:
        with progress_line(_progress(progress), _progress_log(progress)) as report:
            result = robots_snapshot(read_url_list(hosts, origins=True), out, cfg, progress=report)
    except CrawlError as err:
        raise _fail(str(err)) from None
    if json_out:
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
        return
    for o, info in result.items():
        files = " ".join(f"{p}={s}" for p, s in info["site_files"].items()) or "-"
        typer.echo(f"{o}: robots.txt HTTP {info['robots_status']} -> {info['robots']}; {files}")
    names = sorted(p.name for p in out.glob("*.warc.gz"))
    typer.echo(f"files: {len(names)} WARC file(s) in {out}")

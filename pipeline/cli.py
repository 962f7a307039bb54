"""`apertura`: the data engineer's command line. Thin: each command parses, calls one function, prints.

Heavy libraries are imported inside commands so `apertura --help` stays fast.

Over 500 lines because it holds many commands (run, verify, show, stats, optout-status, demo, app, release
derive/diff/publish), each of which parses, calls its home module (`pipeline.api`, `lookup`, `verify`, `derive`,
`publish`) and prints; the longest are printing. The other command groups live beside their code (`crawl/cli.py`,
`index/cli.py`, `proofs/cli.py`, `reports/cli.py`, `optout_cli.py`, `sample_web_cli.py`).
"""

from __future__ import annotations

import contextlib
import enum
import json
import logging
import os
import shutil
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from pipeline import logs
from pipeline.crawl.cli import crawl_command, robots_snapshot_command
from pipeline.index.cli import ReadReleaseArg, check_command, index_command, release_location, search_command
from pipeline.optout_cli import optout_app
from pipeline.proofs.cli import bundle_command, keys_app, prove_command, sign_command, verify_proof_command
from pipeline.reports.cli import report_app
from pipeline.sample_web_cli import sample_web_app

app = typer.Typer(
    help="Apertura: build audited training-data releases from web data, and check them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)
out = Console()

JsonFlag = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")]


def _flags_take_no_value() -> None:
    """typer 0.29's rich help prints a value type after every flag (`--json <bool>`, even `--help <bool>`), as
    if the flag took a value, which it then refuses (`--json true`). A flag or a counter shows none, as click's
    own help does (tests/test_cli_details.py)."""
    from typer.core import TyperOption

    shown = TyperOption.display_type_rich
    if getattr(shown, "flags_take_no_value", False):
        return

    def display_type_rich(self: TyperOption, ctx) -> str | None:
        return None if self.is_flag or self.count else shown(self, ctx)

    display_type_rich.flags_take_no_value = True  # type: ignore[attr-defined]
    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]


_flags_take_no_value()


class LogFormat(enum.StrEnum):
    json = "json"
    text = "text"


_logging = {"bars": None}  # progress bars: None = when stderr is a terminal (set by the global options)


@app.callback()
def main(
    log_file: Annotated[
        Path | None,
        typer.Option("--log-file", help="Also append the log to this file, as JSON lines."),
    ] = None,
    log_format: Annotated[
        LogFormat | None,
        typer.Option(
            "--log-format", help="Log on stderr as json or text. Default: text on a terminal, JSON lines otherwise."
        ),
    ] = None,
    quiet: Annotated[
        bool,
        typer.Option(
            "--quiet", "-q", help="Log only warnings and errors on stderr (the log file keeps everything); no progress."
        ),
    ] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Log debug records too (each input as it ends).")
    ] = False,
) -> None:
    """Apertura: build audited training-data releases from web data, and check them."""
    terminal_text = logs.stderr_is_terminal() and log_format != LogFormat.json
    _logging["bars"] = terminal_text and not quiet
    level = logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO
    try:
        logs.configure(level, log_format.value if log_format else None, log_file, progress_on_stderr=not terminal_text)
    except OSError as err:
        raise fail(f"cannot write the log file {log_file}: {err.strerror or err}") from None


def fail(message: str, code: int = 2) -> typer.Exit:
    """One clear line on stderr, no traceback; a fetched remote release named by its URI, not its local copy."""
    from pipeline.release_read.remote import as_given

    console.print(f"[bold red]error:[/] {escape(as_given(str(message)))}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def _row(table: Table, *cells: object) -> None:
    """A table row whose cells are plain text: data (URLs, ids, rules) is never read as rich markup."""
    table.add_row(*(Text(str(c)) for c in cells))


def _print_json(data) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


@app.command()
def run(
    inputs: Annotated[
        list[str], typer.Argument(help="WARC/WET/ARC (.gz) files, Parquet/JSONL, globs, directories, http(s) URLs.")
    ],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="New release directory (must not exist).")],
    config_file: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help="Run config, JSON or YAML (.yaml/.yml); omitted fields keep defaults. "
            "Its JSON Schema: `apertura config schema`.",
        ),
    ] = None,
    workers: Annotated[int, typer.Option(help="Worker processes (batches of the inputs run in parallel).")] = 1,
    resume: Annotated[
        bool, typer.Option(help="Reuse shards finished by an interrupted run with the same config.")
    ] = False,
    extractor: Annotated[str | None, typer.Option(help="Override config: trafilatura or resiliparse.")] = None,
    dry_run: Annotated[bool, typer.Option(help="Print the resolved config and inputs, then stop.")] = False,
    registry: Annotated[
        Path | None,
        typer.Option(
            envvar="APERTURA_REGISTRY", help="Rights-holder opt-out registry to apply (see `apertura optout`)."
        ),
    ] = None,
    optout_snapshot: Annotated[
        list[str] | None,
        typer.Option(
            "--optout-snapshot",
            help="WARC files or directories from `apertura robots-snapshot`: today's opt-outs on older content.",
        ),
    ] = None,
    index: Annotated[
        bool, typer.Option("--index/--no-index", help="Build the membership and search index (R/index/) at the end.")
    ] = True,
    executor: Annotated[
        str,  # the help is rich markup: `\[ray]` is the text [ray], `[ray]` a style tag that vanishes
        typer.Option(help="local (processes on this machine) or ray (Ray Data; pip install 'apertura\\[ray]')."),
    ] = "local",
    ray_address: Annotated[
        str | None, typer.Option(help="With --executor ray: a cluster address ('auto'); default: a local Ray.")
    ] = None,
    progress_every: Annotated[
        float, typer.Option(help="Seconds between two progress records in the log (off a terminal, on stderr).")
    ] = logs.PROGRESS_SECONDS,
    source_root: Annotated[
        Path | None,
        typer.Option(
            help="Record input paths relative to this directory (the manifest records it, absolute), so the release "
            "moved with its inputs can re-check their bytes (`show --source-root`). Default: paths as typed."
        ),
    ] = None,
) -> None:
    """Run the pipeline: read, opt-out, extract, language, quality, PII, dedup; write a release."""
    from pipeline.api import RunError, RunInterrupted, resolve_config, run
    from pipeline.sources.inputs import InputError, expand_inputs

    try:
        config = resolve_config(config_file, overrides={"extract": {"extractor": extractor}} if extractor else None)
        if source_root is not None:
            config = config.model_copy(update={"source_root": str(source_root)})
        if dry_run:
            specs = expand_inputs(inputs)
            snapshots = expand_inputs(optout_snapshot) if optout_snapshot else []
    except (RunError, InputError, OSError) as err:
        raise fail(str(err).splitlines()[0]) from None
    if dry_run:
        _print_json({"config": config.recorded(), "config_hash": config.hash(), "source_root": config.source_root,
                     "inputs": specs, "optout_snapshots": snapshots})  # fmt: skip
        return
    try:
        with progress_bars(config, every=progress_every) as bars, _sigterm_stops():
            manifest = run(inputs, out_dir, config=config, workers=workers, resume=resume, registry=registry,
                           snapshots=optout_snapshot or (), index=index, executor=executor, ray_address=ray_address,
                           progress=bars).manifest  # fmt: skip
    except RunError as err:
        raise fail(str(err)) from None
    except RunInterrupted as err:
        logs.log(logging.ERROR, str(err), event="stopped", signal=err.signal_name, **err.where)
        raise typer.Exit(128 + signal.Signals[err.signal_name].value) from None
    _summary(out_dir, manifest)


def _summary(out_dir: Path, manifest: dict) -> None:
    """The run's last records: what the release holds, how the run went (run-metrics.json), and warnings about
    inputs that could not be read whole."""
    from pipeline.run_metrics import RUN_METRICS

    counts, files = manifest["counts"], len(manifest["inputs"])
    try:
        metrics = json.loads((out_dir / RUN_METRICS).read_text())
    except (OSError, ValueError):
        metrics = {}
    wall = metrics.get("wall_seconds")
    rss = (metrics.get("peak_rss_bytes") or {}).get("driver")
    took = f" in {wall:,.1f} s ({counts['inputs'] / wall:,.0f} records/s)" if wall else ""
    logs.log(
        logging.INFO,
        f"release written: {out_dir}: {counts['kept']:,} documents, {counts['removed']:,} removed; "
        f"{counts['inputs']:,} records from {files:,} input file{'s' if files != 1 else ''}{took}",
        event="summary", release=str(out_dir), documents=counts["kept"], removed=counts["removed"],
        records=counts["inputs"], input_files=files, wall_seconds=wall, peak_rss_bytes=rss,
        metrics=str(out_dir / RUN_METRICS) if metrics else None,
    )  # fmt: skip
    for entry in manifest["inputs"]:
        if entry["read_stopped"]:
            stop = entry["read_stopped"]
            logs.log(logging.WARNING, f"{entry['path']}: reading stopped at byte {stop['offset']}: {stop['error']}",
                     event="read_stopped", path=entry["path"], offset=stop["offset"])  # fmt: skip
        spans = entry["records_by_type"].get("unreadable", 0)
        if spans:
            unreadable = (entry.get("bytes_by_type") or {}).get("unreadable", 0)
            logs.log(
                logging.WARNING,
                f"{entry['path']}: {spans:,} unreadable span(s), {unreadable:,} bytes: in the ledger as "
                "read_unparsable (reading went on after each)",
                event="unreadable", path=entry["path"], spans=spans, bytes=unreadable,
            )  # fmt: skip


class _Stopped(KeyboardInterrupt):
    """SIGTERM, raised where the run is, as Ctrl-C's KeyboardInterrupt is: the run stops the same clean way."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextlib.contextmanager
def _sigterm_stops():
    """While a run goes, SIGTERM (a scheduler's stop: Slurm, systemd, `kill`) stops it like Ctrl-C: the half-written
    release is removed, the work directory kept for --resume, and the stop is logged with where it happened."""

    def stop(signum: int, _frame: object) -> None:
        raise _Stopped(signum)

    try:
        previous = signal.signal(signal.SIGTERM, stop)
    except ValueError:  # not the main thread: leave SIGTERM as it is
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def progress_bars(config, every: float = logs.PROGRESS_SECONDS):
    """Progress of a run, fed by `pipeline.api.Progress` events, twice: as log records (`logs.ProgressLog`: a
    line every `every` seconds, in the log file and, off a terminal, on stderr) and as rich progress bars on a
    terminal: site policies, inputs, one bar per stage of the run's steps with its rate, the release being
    written."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from pipeline.steps import stage_names

    columns = (SpinnerColumn(), TextColumn("{task.description:<14}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[rate]}"), TimeElapsedColumn())  # fmt: skip
    show = console.is_terminal if _logging["bars"] is None else _logging["bars"]
    bars = Progress(*columns, console=console, transient=False, disable=not show)
    progress_log = logs.ProgressLog(every)
    tasks: dict[str, int] = {}

    def task(key: str, label: str) -> int:
        if key not in tasks:
            tasks[key] = bars.add_task(label, total=None, rate="")
        return tasks[key]

    def on(event) -> None:
        progress_log(event)
        if event.kind in ("policies", "input"):
            bars.update(task(event.kind, "site policies" if event.kind == "policies" else "inputs"),
                        completed=event.done, total=event.total)  # fmt: skip
            if event.kind == "policies" and event.done == event.total:
                task("input", "inputs")
                for stage in stage_names(config):
                    task(f"stage:{stage}", stage)
        elif event.kind == "records":
            bars.update(task(f"stage:{event.stage}", event.stage), completed=event.done,
                        rate=f"{event.rate or 0:,.0f} rec/s")  # fmt: skip
        elif event.kind == "write":
            if "write" not in tasks:  # the per-record steps are done: their bars are full
                for key, number in tasks.items():
                    if key.startswith("stage:"):
                        bars.update(number, total=bars.tasks[number].completed)
            bars.update(task("write", "dedup + write"), completed=event.done, total=event.total)

    with bars, progress_log:
        yield on


def build(specs: list[str], config, out_dir: Path, **options) -> dict:
    """`pipeline.api.build` with progress bars, failing as a command does: one line, exit 2."""
    from pipeline.api import RunError
    from pipeline.api import build as build_release

    try:
        with progress_bars(config) as bars:
            return build_release(specs, config, out_dir, progress=bars, **options)
    except RunError as err:
        raise fail(str(err)) from None


@app.command()
def verify(
    release: ReadReleaseArg,
    as_json: JsonFlag = False,
    registry: Annotated[
        Path | None,
        typer.Option(help="Also check against this opt-out registry (default: the one a derived release names)."),
    ] = None,
    pubkey: Annotated[
        Path | None, typer.Option(help="Check the manifest's signature with this public key (the publisher's).")
    ] = None,
) -> None:
    """Check hashes, schemas, conservation and opt-outs from the release files alone; exit 1 on any problem.

    A remote release (s3://bucket/prefix) is downloaded afresh, every object, and verified from that copy."""
    from pipeline.verify import verify_release

    report = verify_release(release, registry, pubkey=pubkey)
    if report.fetched:
        console.print(escape(report.fetched), highlight=False)
    if as_json:
        _print_json(report.to_dict())
    else:
        for check in report.checks:
            mark = "[bold red]FAIL[/]" if not check.ok else "[green]ok  [/]" if check.checked else "[dim]--  [/]"
            line = check.name + (f": {check.detail}" if check.detail else "")
            out.print(f"{mark} {escape(line)}", highlight=False)
        if report.not_checked:
            names = ", ".join(c.name for c in report.not_checked)
            out.print(f"[dim]not checked (--): {escape(names)}[/]", highlight=False)
        if not report.ok:
            out.print("[bold red]release does NOT verify[/]")
        elif pubkey:
            out.print("[green]release verifies[/], signed with the key given")
        else:  # a forger can rewrite every file consistently and sign with a key of their own
            out.print("[green]release verifies[/]: its files agree with its manifest. Who published it is not "
                      "checked: --pubkey with the publisher's public key checks that")  # fmt: skip
    if not report.ok:
        raise typer.Exit(1)


@app.command()
def show(
    release: ReadReleaseArg,
    doc_id: Annotated[str, typer.Argument(help="Document or ledger id, e.g. 3fa2c1d09e8b7a6f-1234.")],
    as_json: JsonFlag = False,
    payload_bytes: Annotated[
        int, typer.Option("--bytes", help="How many bytes of the original payload to print.")
    ] = 400,
    source_root: Annotated[
        Path | None,
        typer.Option(
            help="Directory the release's relative input paths are under now (a release moved with its inputs). "
            "Default: the root the manifest records, then the release directory's parent, then the current one."
        ),
    ] = None,
) -> None:
    """Provenance chain of one record, and its original WARC bytes with the payload digest re-checked; exit 1 when
    the record found (id, URL, digest) is not the one the row names."""
    from pipeline.lookup import InspectError, lookup
    from pipeline.release import ReleaseError

    try:
        found = lookup(release_location(release), doc_id, payload_bytes=payload_bytes, source_root=source_root)
    except (InspectError, ReleaseError) as err:
        raise fail(str(err)) from None
    if as_json:
        _print_json(found)
        if found["source"].get("differences"):
            raise typer.Exit(1)
        return
    row = found["row"]
    status = (
        "IN the release (documents)"
        if found["table"] == "documents"
        else (
            f"REMOVED at stage {row['stage']}: {row['reason']}" + (f" ({row['detail']})" if row.get("detail") else "")
        )
    )
    out.print(f"[bold]{escape(doc_id)}[/]: {escape(status)}", highlight=False)
    chain = Table(show_header=False, box=None)
    chain.add_column(style="dim")
    chain.add_column(overflow="fold")  # hashes and ids must be shown whole
    for key in (
        "url",
        "date",
        "file_path",
        "upstream_dump",  # a Parquet/JSONL input's own provenance (documents v3)
        "upstream_file_path",
        "upstream_id",
        "source_sha256",
        "warc_record_id",
        "warc_record_offset",
        "warc_record_length",
        "warc_payload_digest",
        "http_status",
        "content_type",
        "charset",
        "extractor",
        "language",
        "language_score",
        "text_sha256",
        "dedup_cluster_id",
        "duplicate_of",
        "pipeline_version",
        "config_hash",
    ):
        if row.get(key) is not None:
            _row(chain, key, str(row[key]))
    out.print(chain)
    source = found["source"]
    differences = source.get("differences") or []
    if (where := source.get("file")) and where["root"] and not source.get("error"):
        out.print(f"[dim]source file:[/] {escape(where['path'])} ({escape(repr(where['recorded']))} under "
                  f"{escape(where['root'])})", highlight=False)  # fmt: skip
    if source.get("error"):
        out.print(f"[yellow]source bytes not re-checked:[/] {escape(str(source['error']))}", highlight=False)
    elif source.get("too_large"):
        out.print(
            f"reopened {source['record_type']} record {escape(str(source['record_id']))}: "
            f"[yellow]{escape(source['too_large'])}[/] (the same limit as extraction)",
            highlight=False,
        )
    else:
        verdict = {
            True: "[green]payload digest matches[/]",
            False: "[bold red]payload digest MISMATCH[/]",
            None: "no payload digest to compare",
        }[source["digest_ok"]]
        out.print(
            f"reopened {source['record_type']} record {escape(str(source['record_id']))}: {verdict} "
            f"(stored {escape(str(source['stored_digest']))}, computed {escape(str(source['computed_digest']))})",
            highlight=False,
        )
        if source.get("damage"):
            out.print(f"[yellow]damage in the stored bytes:[/] {escape(source['damage'])}", highlight=False)
        out.print("[dim]payload head:[/]")
        out.print(source["payload_head"], markup=False, highlight=False)
    if row.get("text"):
        out.print("[dim]text head:[/]")
        out.print(row["text"][:payload_bytes], markup=False, highlight=False)
    if differences:
        for difference in differences:
            console.print(f"[bold red]MISMATCH[/] {escape(difference)}", highlight=False, soft_wrap=True)
        console.print(
            "[bold red]the source record is not the one this release row names: do not rely on this row[/]",
            highlight=False,
        )
        raise typer.Exit(1)


@app.command()
def stats(
    release: ReadReleaseArg,
    as_json: JsonFlag = False,
    top: Annotated[int, typer.Option(help="How many languages/domains to list.")] = 10,
) -> None:
    """Counts per stage and reason, languages and top domains."""
    from pipeline.lookup import InspectError, release_stats
    from pipeline.reasons import reason_text, step_name
    from pipeline.release import ReleaseError

    try:
        data = release_stats(release_location(release), top=top)
    except (InspectError, ReleaseError) as err:
        raise fail(str(err)) from None
    if as_json:
        _print_json(data)
        return
    c = data["counts"]
    totals = f"{c['inputs']:,} input records → {c['kept']:,} documents, {c['removed']:,} removed"
    out.print(f"[bold]{escape(str(release))}[/]: {totals}")
    funnel = Table("step", "in", "removed", "out", title="funnel")
    for s in c["stages"]:
        _row(funnel, step_name(s["stage"]), f"{s['in']:,}", f"{s['removed']:,}", f"{s['out']:,}")
    out.print(funnel)
    reasons = Table("step", "reason", "records", "what it means", title="removals")  # the app's words (reasons.py)
    for stage, by_reason in c["removed_by_stage"].items():
        for reason, n in sorted(by_reason.items(), key=lambda kv: -kv[1]):
            _row(reasons, step_name(stage, reason), reason, f"{n:,}", reason_text(reason, stage))
    out.print(reasons)
    for title, rows in (("languages", data["languages"]), ("top domains", data["domains"])):
        table = Table(title.rstrip("s").split()[-1], "documents", title=title)
        for name, n in rows:
            _row(table, str(name), f"{n:,}")
        out.print(table)
    types = ", ".join(f"{t}={n:,}" for t, n in c["records_by_type"].items())
    out.print(f"records by type: {types}", highlight=False)
    holes = data["unreadable"]
    if holes["spans"]:
        out.print(
            f"[yellow]unreadable spans:[/] {holes['spans']:,} ({holes['bytes']:,} bytes) in {len(holes['inputs'])} "
            "input(s), each a ledger row (reason read_unparsable): "
            + escape(", ".join(f"{i['path']} ({i['spans']:,}, {i['bytes']:,} bytes)" for i in holes["inputs"][:5])),
            highlight=False,
        )
    elif holes["bytes_accounted"]:
        out.print("unreadable spans: none (every byte of every WARC/ARC input is in a record)", highlight=False)
    for stop in holes["read_stopped"]:
        out.print(
            f"[yellow]reading stopped:[/] {escape(stop['path'])} at byte {stop['offset']:,}: {escape(stop['error'])}",
            highlight=False,
        )


@app.command("optout-status")
def optout_status(
    release: Annotated[Path, typer.Argument(help="Release directory.")],
    domain: Annotated[str | None, typer.Option(help="A domain (its subdomains included), e.g. example.org.")] = None,
    url: Annotated[
        str | None, typer.Option(help="A page URL, in any spelling of the same page (scheme, case, port, %-escapes).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """What opt-out signals were seen for a site or page, what was decided and why, and what is in the release."""
    from pipeline.lookup import InspectError
    from pipeline.lookup import optout_status as status_of
    from pipeline.release import ReleaseError

    try:
        data = status_of(release, domain=domain, url=url)
    except (InspectError, ReleaseError) as err:
        raise fail(str(err)) from None
    if as_json:
        _print_json(data)
        return
    subject = url or domain
    removed = sum(r["n"] for r in data["removed"])
    counts = f"{data['in_release']:,} documents in, {removed:,} records removed"
    out.print(f"[bold]{escape(str(subject))}[/] in {escape(str(release))}: {counts}")
    files = Table("policy file", "verdict", "rule", "HTTP", "fetched", "evidence record", title="site policy files")
    for f in data["policy_files"]:
        _row(files, f["url"], f["verdict"], f["rule"], str(f["http_status"]), f["fetched_at"] or "", f["source_id"])
    out.print(files)
    decisions = Table("url", "signal", "verdict", "rule", "agents", title="opt-out decisions")
    for d in data["decisions"]:
        agents = d["agents"] or []
        shown = ", ".join(agents) if len(agents) <= 3 else f"{len(agents)} agents"
        _row(decisions, d["url"], d["signal"], d["verdict"], d["rule"], shown)
    out.print(decisions)
    removals = Table("stage", "reason", "records", title="removed records")
    for r in data["removed"]:
        _row(removals, r["stage"], r["reason"], f"{r['n']:,}")
    out.print(removals)
    if data["violations"]:
        shown = data["violations"][:5]
        out.print(f"[bold red]{len(data['violations'])} documents in the release are reserved:[/] {escape(str(shown))}")
        raise typer.Exit(1)
    out.print("[green]opt-outs honoured:[/] no document in the release is reserved by a signal", highlight=False)


@app.command()
def demo(
    out_dir: Annotated[Path, typer.Option("--out", help="Where to write the demo release.")] = Path("releases/demo"),
    crawl_dir: Annotated[Path, typer.Option(help="Where to write the demo crawl's WARC files.")] = Path("crawls/demo"),
) -> None:
    """Serve the sample web on 127.0.0.1, crawl it for real, run the pipeline on the crawl and the sample WARCs
    in data/, verify the release and print what it holds and what the opt-outs removed."""
    from pipeline.config import RunConfig
    from pipeline.crawl.cli import progress_line
    from pipeline.crawl.config import CrawlConfig
    from pipeline.crawl.crawler import crawl
    from pipeline.sources.inputs import expand_inputs
    from pipeline.sources.sample_web import start_sample_web

    sample = Path(__file__).resolve().parent.parent / "data" / "sample"
    if not sample.is_dir():
        raise fail(f"sample data not found at {sample}")
    for previous in (out_dir, crawl_dir):
        if previous.exists():
            console.print(f"replacing the previous demo output at {previous}")
            shutil.rmtree(previous)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with start_sample_web() as web:
        console.print(f"sample web: {len(web.sites)} sites on 127.0.0.1; crawling into {crawl_dir}")
        config = CrawlConfig(delay_seconds=0.05, allow_private=True)  # the sample web is on 127.0.0.1
        with progress_line(console.is_terminal) as report:
            summary = crawl(web.seeds(), crawl_dir, config, progress=report)
    console.print(
        f"crawled {summary.pages:,} pages ({summary.bytes:,} bytes), {summary.robots_skipped} URLs skipped by "
        f"robots.txt, {len(summary.origins_not_crawled)} sites not crawled (robots.txt unreachable)"
    )
    specs = [str(crawl_dir / f) for f in summary.files] + expand_inputs([str(sample)])
    manifest = build(specs, RunConfig(), out_dir)
    verify(out_dir, as_json=False)
    stats(out_dir, as_json=False, top=10)
    import duckdb

    from pipeline.release import table_files

    example = duckdb.sql(
        "select id, url from read_parquet($files) order by id limit 1",
        params={"files": table_files(out_dir, manifest, "documents")},
    ).fetchall()
    optout = manifest["optout"]
    by_signal = ", ".join(f"{reason}={n}" for reason, n in sorted(optout["removed_by_signal"].items()))
    console.print(
        f"\nopt-outs: {optout['policy_files']} policy files from {optout['origins']} sites; "
        f"{optout['removed']} records removed ({by_signal})",
        highlight=False,
    )
    console.print(f"[bold green]demo release:[/] {out_dir.resolve()}  ({manifest['counts']['kept']:,} documents)")
    if example:
        console.print(f"try: .venv/bin/apertura show {out_dir} {example[0][0]}   ({example[0][1]})", highlight=False)
    console.print(f"     .venv/bin/apertura optout-status {out_dir} --domain 127.0.0.1", highlight=False)


@app.command("app")
def open_app(
    release: Annotated[
        str,
        typer.Argument(
            help="Release directory, inside the data root ($APERTURA_DATA_ROOT, default: here), or a remote "
            "release's URI (s3://bucket/prefix), fetched into the local cache and served alone."
        ),
    ],
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 8501,
    headless: Annotated[bool, typer.Option(help="Do not open a browser.")] = False,
    source_root: Annotated[
        Path | None,
        typer.Option(
            help="Directory the release's relative input paths are under now, for the document page's byte "
            "re-check (inside the data root). Default: the manifest's root, the release's parent, the data root."
        ),
    ] = None,
) -> None:
    """Open the audit app (Streamlit) on a release, served on 127.0.0.1 only.

    The app opens releases inside the data root only: $APERTURA_DATA_ROOT, default the working directory.
    """

    from pipeline.release_read.remote import is_remote

    root = Path(os.environ.get("APERTURA_DATA_ROOT") or Path.cwd()).resolve()
    if is_remote(release):  # fetched here first (a clear error before any server starts); the app reuses the copy
        release_location(release)  # and serves it alone (audit_app/common.py, startup_release)
    else:
        if not Path(release).resolve().is_relative_to(root):
            raise fail(f"{release} is outside the data root {root}: set APERTURA_DATA_ROOT to a directory holding it")
        if not (Path(release) / "manifest.json").is_file():
            raise fail(f"{release} is not a release: manifest.json is missing")
        release = str(Path(release).resolve())
    if source_root is not None and not source_root.resolve().is_relative_to(root):
        raise fail(f"--source-root {source_root} is outside the data root {root}: the app opens no file outside it")
    if source_root is not None and not source_root.is_dir():
        raise fail(f"--source-root {source_root}: not a directory")
    script = Path(__file__).resolve().parent.parent / "audit_app" / "app.py"
    command = [sys.executable, "-m", "streamlit", "run", str(script), "--server.address", "127.0.0.1",
               "--server.port", str(port), "--server.headless", str(headless).lower(),
               "--browser.gatherUsageStats", "false", "--", "--release", release,
               *(["--source-root", str(source_root.resolve())] if source_root is not None else [])]  # fmt: skip
    console.print(f"audit app on http://127.0.0.1:{port}  (Ctrl+C stops it)", highlight=False)
    raise typer.Exit(_serve(command))


APP_STOP_SECONDS = 10.0  # after a forwarded SIGTERM, how long the server may take before it is killed


def _serve(command: list[str]) -> int:
    """Run the Streamlit server as a child and wait for it. SIGTERM (or SIGHUP) to this process is forwarded
    to the server, which is then waited for (killed after APP_STOP_SECONDS): stopping `apertura app` never
    leaves a server holding the port. Ctrl-C reaches both through the terminal; a SIGINT sent to this process
    alone is forwarded too. Returns the exit code (128 + signal for a stop by signal)."""
    import signal
    import subprocess

    server = subprocess.Popen(command)
    received: list[int] = []

    def forward(signum: int, _frame: object) -> None:
        received.append(signum)
        with contextlib.suppress(ProcessLookupError):
            server.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        while True:
            try:
                code = server.wait(timeout=APP_STOP_SECONDS if received else None)
                break
            except KeyboardInterrupt:
                received.append(signal.SIGINT)
                with contextlib.suppress(ProcessLookupError):
                    server.send_signal(signal.SIGINT)
            except subprocess.TimeoutExpired:
                server.kill()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if received:
        return 0 if received[-1] == signal.SIGINT else 128 + received[0]
    return code if code >= 0 else 128 - code


release_app = typer.Typer(help="Releases from releases: retroactive opt-outs, and what changed.", no_args_is_help=True)


@release_app.command("derive")
def release_derive(
    parent: Annotated[Path, typer.Argument(help="The release to start from (only read).")],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="New release directory (must not exist).")],
    apply_optouts: Annotated[
        bool, typer.Option("--apply-optouts", help="Apply the registry entries in force (and any snapshots).")
    ] = False,
    registry: Annotated[Path, typer.Option(envvar="APERTURA_REGISTRY", help="Opt-out registry directory.")] = Path(
        "registry"
    ),
    optout_snapshot: Annotated[
        list[str] | None, typer.Option("--optout-snapshot", help="Newer robots.txt/tdmrep.json/ai.txt WARC(s).")
    ] = None,
    at: Annotated[
        str | None, typer.Option(help="Apply opt-outs in force at this instant (ISO 8601 with a zone; default now).")
    ] = None,
) -> None:
    """A new release without the documents today's opt-outs cover; everything else kept, the parent untouched."""
    from pipeline.derive import derive_release
    from pipeline.optout.registry import Registry, RegistryError
    from pipeline.release import ReleaseError
    from pipeline.sources.inputs import InputError, expand_inputs

    if not apply_optouts:
        raise fail("nothing to apply: pass --apply-optouts")
    try:
        snapshots = expand_inputs(optout_snapshot) if optout_snapshot else []
        reg = Registry(registry) if registry.is_dir() else None
        if reg is None and not snapshots:
            raise fail(f"no registry at {registry} and no --optout-snapshot: nothing to apply")
        manifest = derive_release(parent, out_dir, registry=reg, snapshots=snapshots, at=at)
    except (ReleaseError, RegistryError, InputError) as err:
        raise fail(str(err)) from None
    from pipeline.api import RunError, build_index

    try:
        with console.status("building the membership and search index"):
            build_index(out_dir, lambda event: console.print(f"index written: {escape(event.detail)}"))
    except RunError as err:
        raise fail(str(err)) from None
    lineage = manifest["lineage"]
    removed = manifest["counts"]["stages"][-1]["removed"]
    console.print(
        f"[green]derived[/] {out_dir} from {parent}: {removed:,} documents removed, "
        f"{manifest['counts']['kept']:,} kept; registry {lineage['registry'] and lineage['registry']['sha256'][:16]}",
        highlight=False,
    )


@release_app.command("diff")
def release_diff(
    old: Annotated[Path, typer.Argument(help="The earlier release.")],
    new: Annotated[Path, typer.Argument(help="The later release.")],
    as_json: JsonFlag = False,
) -> None:
    """Documents that left and arrived between two releases, with reasons, by domain."""
    from pipeline.derive import release_diff as diff
    from pipeline.release import ReleaseError

    try:
        data = diff(old, new)
    except ReleaseError as err:
        raise fail(str(err)) from None
    if as_json:
        _print_json(data)
        return
    out.print(
        f"{data['old']} → {data['new']}: {data['kept']['old']:,} → {data['kept']['new']:,} documents; "
        f"{data['removed']:,} left, {data['added']:,} arrived",
        highlight=False,
    )
    reasons = Table("stage", "reason", "documents", title="why documents left")
    for r in data["removed_by_reason"]:
        _row(reasons, r["stage"], r["reason"], f"{r['n']:,}")
    out.print(reasons)
    domains = Table("domain", "reason", "documents", title="left, by domain")
    for r in data["removed_by_domain"][:20]:
        _row(domains, str(r["domain"]), r["reason"], f"{r['n']:,}")
    out.print(domains)


@release_app.command("publish")
def release_publish(
    release: Annotated[Path, typer.Argument(help="A finished release directory.")],
    uri: Annotated[
        str,
        typer.Argument(
            help="Where to: a path, file:///…, or s3://bucket/prefix (S3-compatible stores: "
            "?endpoint_override=host:port&scheme=http). Credentials: AWS_* variables, ~/.aws, instance roles."
        ),
    ],
) -> None:
    """Copy a release to object storage or another filesystem: every file hash-checked, manifest.json last."""
    from pipeline.publish import publish
    from pipeline.release import ReleaseError

    try:
        target = publish(release, uri)
    except (ReleaseError, OSError, ValueError) as err:  # pyarrow: unknown scheme, unreachable store, credentials
        raise fail(str(err)) from None
    out.print(f"[green]published[/] {escape(str(release))} → {escape(target)}", highlight=False)


@app.command()
def warmup() -> None:
    """Compile the numba kernels into the user's cache directory now, not in the first run.

    `make` runs this after installing; run it once when building a container or CI image. The cache is
    $XDG_CACHE_HOME/apertura/numba (default ~/.cache/apertura/numba), or $NUMBA_CACHE_DIR when set."""
    import time

    from pipeline.config import RunConfig
    from pipeline.executors.local import warm_up
    from pipeline.numba_cache import cache_dir

    started = time.monotonic()
    warm_up(RunConfig())
    seconds = time.monotonic() - started
    logs.log(logging.INFO, f"kernels ready in {cache_dir()} ({seconds:.1f} s)", event="warmup",
             cache_dir=str(cache_dir()), seconds=round(seconds, 3))  # fmt: skip


config_app = typer.Typer(help="The run config (`run --config`, JSON or YAML).", no_args_is_help=True)


@config_app.command("schema")
def config_schema() -> None:
    """Print the JSON Schema of the run config: for editors (YAML/JSON language servers) and CI checks."""
    from pipeline.config import RunConfig

    _print_json({"$schema": "https://json-schema.org/draft/2020-12/schema", **RunConfig.model_json_schema()})


app.add_typer(config_app, name="config")
release_app.command("sign")(sign_command)
release_app.command("bundle")(bundle_command)
app.add_typer(release_app, name="release")
app.add_typer(keys_app, name="keys")
app.command("prove")(prove_command)
app.command("verify-proof")(verify_proof_command)
app.add_typer(report_app, name="report")
app.command("crawl")(crawl_command)
app.command("index")(index_command)
app.command("check")(check_command)
app.command("search")(search_command)
app.command("robots-snapshot")(robots_snapshot_command)
app.add_typer(sample_web_app, name="sample-web")
app.add_typer(optout_app, name="optout")

if __name__ == "__main__":
    app()

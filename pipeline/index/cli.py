"""`apertura index | check | search`: thin commands over `pipeline.index` (registered in pipeline/cli.py).

Heavy libraries (tantivy, duckdb) are imported inside the commands so `apertura --help` stays fast.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

console = Console(stderr=True, soft_wrap=True)  # an error stays on one line, whatever the width
out = Console(highlight=False, soft_wrap=True)

ReleaseArg = Annotated[Path, typer.Argument(help="Release directory (holds manifest.json).")]
# a string, not a Path: Path("s3://bucket/r") would be "s3:/bucket/r"
ReadReleaseArg = Annotated[
    str, typer.Argument(help="Release directory, or its URI: s3://bucket/prefix (any filesystem pyarrow knows).")
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print the report as JSON on stdout.")]


def _fail(message: str, code: int = 2) -> typer.Exit:
    from pipeline.release_read.remote import as_given  # a fetched release named by its URI, not its local copy

    console.print(f"[bold red]error:[/] {escape(as_given(message))}", highlight=False)
    return typer.Exit(code)


def release_location(release: str) -> Path:
    """The local directory of a release given as a path or a URI (`release_read.remote.locate`); a remote one is
    fetched into the cache first, and stderr says from where. A release that cannot be fetched: one line, exit 2."""
    from pipeline.release_read import ReleaseError
    from pipeline.release_read.remote import locate

    try:
        local, fetched = locate(release)
    except ReleaseError as err:
        raise _fail(str(err)) from None
    if fetched is not None:
        console.print(escape(fetched.describe()), highlight=False)
    return local


def _json(data: dict) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def index_command(
    release: ReleaseArg,
    force: Annotated[bool, typer.Option(help="Replace an existing index.")] = False,
    config_file: Annotated[
        Path | None, typer.Option("--config", help="JSON IndexConfig (n-gram, stride, false-positive rate, ...).")
    ] = None,
) -> None:
    """Build the membership index (exact, near-duplicate, n-gram sketch, full text) into RELEASE/index/."""
    from pydantic import ValidationError

    from pipeline.index import IndexConfig, MembershipIndexError, build_index
    from pipeline.index.build import IndexExists
    from pipeline.release import ReleaseError

    try:
        config = IndexConfig.model_validate_json(config_file.read_text()) if config_file else IndexConfig()
        info = build_index(release, config, force=force)
    except ValidationError as err:
        first = err.errors()[0]
        raise _fail(f"config {config_file}: {'.'.join(map(str, first['loc']))}: {first['msg']}") from None
    except IndexExists as err:
        raise _fail(f"{err.target} already exists: pass --force to rebuild it") from None
    except (MembershipIndexError, ReleaseError, OSError) as err:
        raise _fail(str(err)) from None
    size = sum(f["bytes"] for f in info["files"])
    sketch = info["sketch"]
    console.print(
        f"[green]index written:[/] {release / 'index'}  documents={info['counts']['documents']:,} "
        f"removed={info['counts']['removed']:,} size={size / 1e6:,.1f} MB in {info['build_seconds']['total']:.1f} s; "
        f"sketch {sketch['ngram']}-grams every {sketch['stride']} words, false-positive rate "
        f"{sketch['false_positive_rate_expected']:.3%} (configured {sketch['false_positive_rate_configured']:.2%})"
    )


def check_command(
    release: ReadReleaseArg,
    text_file: Annotated[
        Path | None, typer.Option("--text-file", help="File with the text to look for ('-' reads stdin).")
    ] = None,
    url: Annotated[
        str | None, typer.Option(help="A page URL, in any spelling of the same page (scheme, case, port, %-escapes).")
    ] = None,
    domain: Annotated[str | None, typer.Option(help="A site; its subdomains are included.")] = None,
    json_out: JsonFlag = False,
) -> None:
    """Is this text, page or site in the training data? Exact, near-duplicate and partial overlap, with evidence.

    The answer is `pipeline.index.answer`'s, the same as the audit app's pages give. Options combine: --url with
    --text-file answers for the page and for copies of its text elsewhere, one answer each.
    """
    from pipeline.index.answer import InvalidInput, check
    from pipeline.release_read import ReleaseError

    if text_file is None and url is None and domain is None:
        raise _fail("give --text-file, --url or --domain")
    location = release_location(release)
    try:
        text = None
        if text_file is not None:
            is_stdin = str(text_file) == "-"
            text = sys.stdin.read() if is_stdin else text_file.read_text(encoding="utf-8", errors="replace")
        subjects = [(k, v) for k, v in (("text", text), ("url", url), ("domain", domain)) if v is not None]
        answers = [check(location, kind, value) for kind, value in subjects]
    except InvalidInput as err:
        raise _fail(f"not checked: {err}") from None
    except (ReleaseError, OSError) as err:
        raise _fail(str(err)) from None
    if json_out:
        _json(answers[0].to_dict() if len(answers) == 1 else {"answers": [a.to_dict() for a in answers]})
        return
    colour = {"in": "green", "partly in": "yellow", "not in": "red", "not found": "yellow"}
    for a in answers:
        out.print(f"[bold {colour[a.verdict]}]{a.verdict.upper()}[/]  ({escape(a.release)}, {a.elapsed_ms:.0f} ms)")
        out.print("  " + escape(a.headline))
        for line in a.details:
            out.print("  " + escape(line))
        out.print("  " + escape(f"answered from {a.method}"))
        _print_evidence(a)


def _print_evidence(a) -> None:
    """The documents and removed records behind an answer (the first ten of each), with shared passages."""
    spans = {m.id: m.spans for m in a.report.matches} if a.report is not None else {}
    for row in a.document_rows.head(10).iter_rows(named=True):
        extra = []
        if row.get("jaccard") is not None:
            extra.append(f"jaccard {row['jaccard']:.2f}")
        if row.get("overlap"):
            extra.append(f"overlap {row['overlap']:.0%}")
        how = escape(f"[{row['how']}]") if row.get("how") else ""  # brackets would otherwise be read as rich markup
        out.print(f"  in       {row['id']}  {escape(row['url'] or '-')}  {how} {' '.join(extra)}")
        for s in spans.get(row["id"], [])[:3]:
            excerpt = escape(" ".join(s.text[:120].split()))
            out.print(f"           {s.words} words at characters {s.doc_start}-{s.doc_end}: “{excerpt}”")
    for row in a.ledger_rows.head(10).iter_rows(named=True):
        out.print(f"  removed  {row['id']}  {escape(row['url'] or '-')}  {row['stage']}/{row['reason']}")


def search_command(
    release: ReadReleaseArg,
    query: Annotated[str, typer.Argument(help='Words to look for; "quoted words" must appear together.')],
    lang: Annotated[str | None, typer.Option("--lang", help="Only documents in this language (ISO 639).")] = None,
    limit: Annotated[int, typer.Option(help="Hits to show (1-100).")] = 10,
    removed: Annotated[bool, typer.Option("--removed", help="Also search removed records that kept text.")] = False,
    json_out: JsonFlag = False,
) -> None:
    """Full-text search (BM25) over the release's documents, with snippets."""
    from pipeline.index import MembershipIndexError, open_index

    location = release_location(release)  # a remote release: its checked local copy
    try:
        report = open_index(location).search(query, language=lang, limit=limit, include_removed=removed)
    except (MembershipIndexError, OSError) as err:
        raise _fail(str(err)) from None
    if json_out:
        _json(report.to_dict())
        return
    out.print(f"{report.total:,} match(es) ({report.elapsed_ms:.0f} ms)")
    for h in report.hits:
        marked, last = "", 0
        for a, b in h.highlights:
            marked += escape(h.snippet[last:a]) + f"[bold]{escape(h.snippet[a:b])}[/]"
            last = b
        marked += escape(h.snippet[last:])
        status = "" if h.status == "in" else f" [red]({h.status})[/]"
        out.print(f"[cyan]{h.score:6.2f}[/] {h.id} {h.language or '-'} {escape(h.url or '-')}{status}")
        out.print(f"       {escape(h.title or '')}")
        out.print(f"       …{marked.replace(chr(10), ' ')}…")

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
JsonFlag = Annotated[bool, typer.Option("--json", help="Print the report as JSON on stdout.")]


def _fail(message: str, code: int = 2) -> typer.Exit:
    console.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    return typer.Exit(code)


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
    release: ReleaseArg,
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

    Options combine: --url with --text-file answers for the page and for copies of its text elsewhere.
    """
    from pipeline.index import MembershipIndexError, open_index

    if text_file is None and url is None and domain is None:
        raise _fail("give --text-file, --url or --domain")
    try:
        text = None
        if text_file is not None:
            is_stdin = str(text_file) == "-"
            text = sys.stdin.read() if is_stdin else text_file.read_text(encoding="utf-8", errors="replace")
        report = open_index(release).check(text=text, url=url, domain=domain)
    except (MembershipIndexError, OSError) as err:
        raise _fail(str(err)) from None
    if json_out:
        _json(report.to_dict())
        return
    colour = {"in": "green", "partly in": "yellow", "not in": "red"}[report.verdict]
    out.print(f"[bold {colour}]{report.verdict.upper()}[/]  ({report.release}, {report.elapsed_ms:.0f} ms)")
    for line in report.summary:
        out.print("  " + escape(line))
    for m in report.matches[:10]:
        extra = []
        if m.jaccard is not None:
            extra.append(f"jaccard {m.jaccard:.2f}")
        if m.overlap:
            extra.append(f"overlap {m.overlap:.0%}")
        how = escape(f"[{', '.join(m.how)}]")  # brackets would otherwise be read as rich markup
        out.print(f"  in       {m.id}  {escape(m.url or '-')}  {how} {' '.join(extra)}")
        for s in m.spans[:3]:
            excerpt = escape(" ".join(s.text[:120].split()))
            out.print(f"           {s.words} words at characters {s.doc_start}-{s.doc_end}: “{excerpt}”")
    for m in report.removed[:10]:
        out.print(f"  removed  {m.id}  {escape(m.url or '-')}  {m.stage}/{m.reason}")


def search_command(
    release: ReleaseArg,
    query: Annotated[str, typer.Argument(help='Words to look for; "quoted words" must appear together.')],
    lang: Annotated[str | None, typer.Option("--lang", help="Only documents in this language (ISO 639).")] = None,
    limit: Annotated[int, typer.Option(help="Hits to show (1-100).")] = 10,
    removed: Annotated[bool, typer.Option("--removed", help="Also search removed records that kept text.")] = False,
    json_out: JsonFlag = False,
) -> None:
    """Full-text search (BM25) over the release's documents, with snippets."""
    from pipeline.index import MembershipIndexError, open_index

    try:
        report = open_index(release).search(query, language=lang, limit=limit, include_removed=removed)
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

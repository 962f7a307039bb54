"""`apertura report ...`: public documents about a release (EU AI Act summary, Croissant, datasheet).

Registered in `pipeline/cli.py` with `app.add_typer(report_app, name="report")`. Thin: parse, call one
builder, write files. Reports are written outside the release (releases are immutable); a format 5 release holds its
own Croissant and dataset card from its build.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

report_app = typer.Typer(
    help="Reports on a release: EU AI Act training-content summary, Croissant JSON-LD, datasheet.",
    no_args_is_help=True,
)

FORMATS = ("md", "html", "json")
ReleaseArg = Annotated[Path, typer.Argument(help="Release directory (holds manifest.json).")]


def _fail(message: str) -> typer.Exit:
    """One clear line on stderr, exit 2, no traceback."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


def _first_line(err: BaseException) -> str:
    return f"{type(err).__name__}: {(str(err).splitlines() or [''])[0]}"


def _check_release(release: Path) -> None:
    if not release.exists():
        raise _fail(f"{release} does not exist")
    if not release.is_dir():
        raise _fail(f"{release} is not a directory")


def _parse_sources(values: list[str]) -> dict[str, str]:
    from pipeline.reports.eu_summary.model import CATEGORIES

    sources = {}
    for value in values:
        pattern, sep, category = value.rpartition("=")
        if not sep or not pattern or category not in CATEGORIES:
            raise _fail(f"--source {value!r}: expected GLOB=CATEGORY with CATEGORY one of {', '.join(CATEGORIES)}")
        sources[pattern] = category
    return sources


@report_app.command("eu-summary")
def eu_summary(
    release: ReleaseArg,
    out: Annotated[Path, typer.Option(help="Output file; other formats get the same name with their suffix.")] = Path(
        "summary.md"
    ),
    fmt: Annotated[str, typer.Option("--format", help="md | html | json | all.")] = "md",
    provider: Annotated[str | None, typer.Option(help="1.1 Provider name and contact details.")] = None,
    authorised_representative: Annotated[
        str | None, typer.Option(help="1.1 Authorised representative (providers outside the EU).")
    ] = None,
    model: Annotated[str | None, typer.Option(help="1.2 Versioned model name(s).")] = None,
    model_dependencies: Annotated[str | None, typer.Option(help="1.2 Model this one builds on, if any.")] = None,
    placement_date: Annotated[str | None, typer.Option(help="1.2 Date of placement on the Union market.")] = None,
    summary_version: Annotated[str, typer.Option(help="Version of this summary.")] = "1",
    last_update: Annotated[str | None, typer.Option(help="Date of this summary (default: today, UTC).")] = None,
    source: Annotated[
        list[str] | None,
        typer.Option(help="GLOB=CATEGORY (public|private|crawled|user|synthetic|other) for matching inputs."),
    ] = None,
    sme: Annotated[bool, typer.Option(help="SME rule for the domain list: top 5 % or 1,000 domains.")] = False,
    crawler_purposes: Annotated[str | None, typer.Option(help="2.3 Purposes of the crawler(s).")] = None,
    code_of_practice: Annotated[
        str | None, typer.Option(help="3.1 Signatory of the GPAI Code of Practice? (e.g. 'Yes')")
    ] = None,
    illegal_content_measures: Annotated[str | None, typer.Option(help="3.2 Measures beyond the pipeline.")] = None,
    other_information: Annotated[str | None, typer.Option(help="3.3 Other information.")] = None,
) -> None:
    """EU AI Act Art. 53(1)(d) public summary of training content (AI Office template, July 2025)."""
    import duckdb
    from pydantic import ValidationError

    from pipeline.release_read import ReleaseError
    from pipeline.reports.eu_summary import SummaryOptions, build_summary, write_summary

    formats = FORMATS if fmt == "all" else (fmt,)
    if any(f not in FORMATS for f in formats):
        raise _fail(f"--format {fmt!r}: expected md, html, json or all")
    _check_release(release)
    try:
        options = SummaryOptions(
            provider=provider,
            authorised_representative=authorised_representative,
            model=model,
            model_dependencies=model_dependencies,
            placement_date=placement_date,
            summary_version=summary_version,
            last_update=last_update,
            sources=_parse_sources(source or []),
            sme=sme,
            crawler_purposes=crawler_purposes,
            code_of_practice_signatory=code_of_practice,
            illegal_content_measures=illegal_content_measures,
            other_information=other_information,
        )
        summary = build_summary(release, options)
    except (ReleaseError, ValidationError) as err:
        raise _fail(str(err).splitlines()[0]) from None
    except (duckdb.Error, OSError) as err:  # a damaged Parquet file: say which release, not a traceback
        raise _fail(f"{release}: cannot read the release tables ({_first_line(err)})") from None
    target = out if len(formats) > 1 or out.suffix.lstrip(".") == formats[0] else out.with_suffix("." + formats[0])
    for path in write_summary(summary, target, formats):
        typer.echo(str(path))


def _own_croissant(release: Path) -> Path | None:
    """The release's own croissant.json when its manifest lists one whose sha256 still holds (format 5)."""
    from pipeline.release_read import ReleaseError, load_manifest
    from pipeline.tables import file_sha256

    try:
        manifest = load_manifest(release)
    except ReleaseError as err:
        raise _fail(str(err)) from None
    entry = next((d for d in manifest.get("descriptions") or () if d.get("path") == "croissant.json"), None)
    if entry is None:
        return None
    path = release / "croissant.json"
    if not path.is_file() or file_sha256(path) != entry.get("sha256"):
        raise _fail(f"{path} is missing or differs from its manifest entry: run `apertura verify {release}`")
    return path


@report_app.command("croissant")
def croissant(
    release: ReleaseArg,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Write a copy here (file references by absolute path, or under --base-url), loadable from anywhere. "
            "Default: the release's own croissant.json (format 5), re-checked against the manifest; an older "
            "release gets ./croissant.json."
        ),
    ] = None,
    datasheet: Annotated[Path | None, typer.Option(help="Also write a datasheet (Markdown) here.")] = None,
    name: Annotated[str | None, typer.Option(help="Dataset name (default: apertura-<release id>).")] = None,
    license: Annotated[str | None, typer.Option(help="Licence of the release (URL or SPDX id).")] = None,
    creator: Annotated[str | None, typer.Option(help="Organisation publishing the release.")] = None,
    url: Annotated[str | None, typer.Option(help="Landing page of the dataset.")] = None,
    base_url: Annotated[
        str | None, typer.Option(help="Where the release directory is published; file URLs are relative without it.")
    ] = None,
    version: Annotated[str, typer.Option(help="Dataset version (semantic versioning).")] = "1.0.0",
    date_published: Annotated[str | None, typer.Option(help="Publication date (default: today, UTC).")] = None,
) -> None:
    """Croissant 1.0 JSON-LD for the release's Parquet files (sha256 from the manifest), and a datasheet."""
    import duckdb

    from pipeline.release_read import ReleaseError, load_manifest
    from pipeline.reports.croissant import build_croissant, multipart_tables
    from pipeline.reports.datasheet import build_datasheet
    from pipeline.reports.eu_summary import SummaryOptions, build_summary

    _check_release(release)
    if out is None:
        own = _own_croissant(release)
        if own is not None:
            if any(v is not None for v in (name, license, creator, url, base_url, date_published)):
                raise _fail(f"{own} is listed in the release's manifest (releases are immutable): to set "
                            "--name, --license, --creator, --url, --base-url or --date-published, write a copy "
                            "with --out")  # fmt: skip
            typer.echo(str(own))
            if datasheet is None:
                return
        out = Path("croissant.json")
    try:
        summary = build_summary(release, SummaryOptions(last_update=date_published))
        doc = build_croissant(
            release,
            summary=summary,
            name=name,
            license=license,
            creator=creator,
            url=url,
            base_url=base_url,
            version=version,
            date_published=date_published,
        )
        sheet = build_datasheet(release, summary=summary, licence=license) if datasheet else None
    except ReleaseError as err:
        raise _fail(str(err)) from None
    except (duckdb.Error, OSError) as err:
        raise _fail(f"{release}: cannot read the release tables ({_first_line(err)})") from None
    if _own_croissant(release) is None or out.resolve() != (release / "croissant.json").resolve():
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        typer.echo(str(out))
        if base_url is None and (several := multipart_tables(load_manifest(release))):
            typer.echo(
                f"note: {', '.join(several)} has several parts: mlcroissant reads those only from the release's own "
                f"{release / 'croissant.json'} (or give --base-url)",
                err=True,
            )
    if datasheet and sheet is not None:
        datasheet.parent.mkdir(parents=True, exist_ok=True)
        datasheet.write_text(sheet, encoding="utf-8")
        typer.echo(str(datasheet))

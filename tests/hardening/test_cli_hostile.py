"""The CLI with hostile arguments and hostile releases (issue 8, item 7).

SQL and tantivy syntax, rich console markup, HTML and huge strings as ids, queries and domains; paths that do not
lead to a release; releases whose manifest is truncated, of the wrong shape, not UTF-8, or lists files outside
the release (`..`, absolute, a symlink in a table directory). Each command either answers correctly (nothing
found) or exits non-zero with one `error:` line and no traceback; it never shows data from outside the release
and never writes into a release (every file below it hashed before and after).

One small release of hostile pages (text, title and URL carrying HTML, script, Markdown, LaTeX, rich markup and
SQL) is built once per module with `apertura run`; test_app_hostile.py renders the same release in the app.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import replace
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.synthetic import make_page
from tests.hardening.support import tree_digest
from tests.helpers.warcs import Page, write_warc

runner = CliRunner()

# Payloads that would do something if interpreted: SQL, HTML/script, Markdown/LaTeX, rich markup. (Not
# `javascript:` or braces: the C4 quality rules drop such lines, and the payload must reach the release.)
PAYLOAD_TEXT = (
    "Hostile <script>alert('apertura')</script> and <img src=x onerror=alert(2)> and "
    "' OR 1=1 -- and '; DROP TABLE documents; -- and [click](http://evil.test/x) and $x^2 \\alpha$ and "
    "[bold red]markup[/] and [/] end."
)
PAYLOAD_TITLE = "<script>alert('title')</script> **bold** [/] $x^2$"
PAYLOAD_URLS = (
    "http://evil.test/a?q=%3Cscript%3E&x='OR'1'='1'--",
    "http://evil.test/markup[/]page",
    "http://evil.test/<img/src=x/onerror=alert(1)>",  # no spaces: a WARC target URI has none (%20 when stored)
)
DECOY = "DECOY-TEXT-OUTSIDE-THE-RELEASE"

# Arguments that must never be interpreted: as SQL, LIKE patterns, rich markup, HTML, paths.
HOSTILE = [
    "' OR 1=1 --",
    "'; DROP TABLE documents; --",
    "%",
    "_",
    "\\",
    "\\%' OR '1'='1",
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "../../etc/passwd",
    "$\\frac{1}{0}$",
]
MARKUP = ["[/]", "[bold red]x[/]", "[link=file:///etc/passwd]y[/link]"]


def hostile_pages() -> list[Page]:
    """Kept pages (ordinary synthetic articles, so every filter keeps them) whose URL, title and second paragraph
    carry the payloads."""
    pages = []
    for i, url in enumerate(PAYLOAD_URLS):
        base = make_page(40 + i, url, "en")
        paragraphs = (base.paragraphs[0], base.paragraphs[1] + " " + PAYLOAD_TEXT, *base.paragraphs[2:])
        pages.append(Page(url, replace(base, title=PAYLOAD_TITLE, paragraphs=paragraphs).html()))
    pages.append(Page("http://calm.test/story", make_page(50, "http://calm.test/story", "en").html()))
    return pages


def build_hostile_release(root: Path) -> Path:
    """`apertura run` (with its index) on one WARC of hostile pages: <root>/releases/hostile."""
    warc = root / "inputs" / "hostile.warc.gz"
    warc.parent.mkdir(parents=True, exist_ok=True)
    write_warc(warc, hostile_pages())
    release = root / "releases" / "hostile"
    result = runner.invoke(app, ["run", str(warc), "--out", str(release)])
    assert result.exit_code == 0, result.output
    return release


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def assert_clean(result, *, ok_codes=(0,)) -> str:
    """No traceback; either a listed exit code, or a non-zero exit with exactly one `error:` line."""
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"traceback: {type(result.exception).__name__}: {result.exception}"
    )
    output = result.output
    assert "Traceback" not in output
    if result.exit_code not in ok_codes:
        assert result.exit_code != 0
        lines = [line for line in output.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: "), output[:2000]
    return output


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """(data root, hostile release, its documents, decoy file outside the release)."""
    root = tmp_path_factory.mktemp("cli_hostile")
    release = build_hostile_release(root)
    docs = pl.read_parquet(sorted((release / "documents").glob("*.parquet")))
    outside = root / "outside"
    outside.mkdir()
    decoy = outside / "part-00000.parquet"
    docs.head(1).with_columns(id=pl.lit("decoy-1"), text=pl.lit(DECOY)).write_parquet(decoy)
    return root, release, docs, decoy


@pytest.fixture
def untouched(hostile):
    """Fails the test if any file below the release changed (or appeared, or went)."""
    _, release, _, _ = hostile
    before = tree_digest(release)
    yield release
    assert tree_digest(release) == before, "the release changed"


def test_the_hostile_release_keeps_its_payloads(hostile):
    _, _, docs, _ = hostile
    assert set(PAYLOAD_URLS) <= set(docs["url"])
    assert docs.filter(pl.col("text").str.contains(PAYLOAD_TEXT, literal=True)).height == len(PAYLOAD_URLS)


@pytest.mark.parametrize(
    "doc_id",
    [
        *HOSTILE,
        "x" * 1_000_000,
        *MARKUP,
    ],
    ids=lambda v: v[:30],
)
def test_show_hostile_ids_find_nothing(untouched, doc_id):
    result = invoke("show", untouched, doc_id)
    output = assert_clean(result)
    assert result.exit_code == 2 and "no document or ledger row" in output
    if len(doc_id) < 100:
        assert repr(doc_id) in " ".join(output.split()) or json.dumps(doc_id) in output  # the id as given


@pytest.mark.parametrize(
    "query",
    [*HOSTILE, *MARKUP, "text:foo AND (bar OR", '"unterminated', "field:*", "*", "a~2 b^3 [x TO y]", "x" * 100_000],
    ids=lambda v: v[:30],
)
def test_search_hostile_queries(untouched, query):
    for extra in ([], ["--removed"], ["--lang", "en"]):
        result = invoke("search", untouched, query, *extra)
        output = assert_clean(result)
        if result.exit_code == 0:
            assert "match(es)" in output


@pytest.mark.parametrize("lang", ["' OR 1=1 --", "%", "[/]", "e'n"])
def test_search_hostile_language_is_refused(untouched, lang):
    result = invoke("search", untouched, "story", "--lang", lang)
    assert_clean(result)
    assert result.exit_code == 2


@pytest.mark.parametrize("value", [*HOSTILE, *MARKUP, "a" * 100_000], ids=lambda v: v[:30])
def test_check_hostile_domain_and_url_find_nothing(untouched, value):
    for option in ("--domain", "--url"):
        result = invoke("check", untouched, option, value)
        output = assert_clean(result)
        if result.exit_code == 0:
            assert output.startswith("NOT IN"), output[:500]


def test_check_hostile_text_file(untouched, tmp_path):
    for i, text in enumerate([*HOSTILE, *MARKUP, "\x00\x01\x02 binary", "é" * 200_000]):
        path = tmp_path / f"t{i}.txt"
        path.write_text(text, encoding="utf-8")
        result = invoke("check", untouched, "--text-file", path)
        output = assert_clean(result)
        if result.exit_code == 0 and not output.startswith("NOT IN"):  # words of the payload: found where they are
            found = [line for line in output.splitlines() if line.startswith("  in ")]
            assert found and all("http://evil.test/" in line for line in found), (text[:40], output[:1000])


def test_check_finds_the_hostile_text_verbatim(untouched, tmp_path):
    """The payload text is data: checking it finds the hostile documents, and the answer prints as text."""
    path = tmp_path / "payload.txt"
    path.write_text(PAYLOAD_TEXT)
    result = invoke("check", untouched, "--text-file", path)
    output = assert_clean(result)
    assert result.exit_code == 0 and not output.startswith("NOT IN"), output[:500]


@pytest.mark.parametrize(
    "domain",
    [
        *(h for h in HOSTILE if not h.endswith("\\")),
        "x' OR 1=1",
        *MARKUP,
        *(h for h in HOSTILE if h.endswith("\\")),  # would escape a "[/]" that follows it
    ],
    ids=lambda v: v[:30],
)
def test_optout_status_hostile_domain_finds_nothing(untouched, domain):
    result = invoke("optout-status", untouched, "--domain", domain)
    output = assert_clean(result)
    if result.exit_code == 0:
        flat = " ".join(output.split())  # rich wraps lines at 80 columns
        assert "0 documents in, 0 records removed" in flat
        assert flat.startswith(f"{domain} in ")  # the subject as given, not interpreted


def test_optout_status_of_the_evil_domain_is_correct(untouched, hostile):
    _, _, docs, _ = hostile
    result = invoke("optout-status", untouched, "--domain", "evil.test")
    output = assert_clean(result)
    n = docs.filter(pl.col("domain") == "evil.test").height
    assert f"{n:,} documents in" in " ".join(output.split())


def test_show_prints_hostile_data_as_text(untouched, hostile):
    _, _, docs, _ = hostile
    doc_id = docs.filter(pl.col("url") == "http://evil.test/markup[/]page")["id"][0]
    result = invoke("show", untouched, doc_id)
    output = assert_clean(result)
    assert result.exit_code == 0 and "markup[/]page" in output


def test_show_prints_hostile_html_data_as_text(untouched, hostile):
    _, _, docs, _ = hostile
    for url in (PAYLOAD_URLS[0], PAYLOAD_URLS[2]):
        doc_id = docs.filter(pl.col("url") == url)["id"][0]
        result = invoke("show", untouched, doc_id, "--bytes", "100000")
        output = " ".join(assert_clean(result).split())
        assert result.exit_code == 0 and url in output
        assert " ".join(PAYLOAD_TEXT.split()) in output  # the text verbatim: no markup read


def test_search_shows_hostile_hits_as_text(untouched):
    result = invoke("search", untouched, "hostile markup onerror", "--limit", "10")
    output = " ".join(assert_clean(result).split())
    assert result.exit_code == 0 and "http://evil.test/markup[/]page" in output


# --------------------------------------------------------------------------------------------- paths

COMMANDS = {
    "show": lambda r: ["show", r, "decoy-1"],
    "stats": lambda r: ["stats", r],
    "optout-status": lambda r: ["optout-status", r, "--domain", "evil.test"],
    "search": lambda r: ["search", r, "hostile"],
    "check": lambda r: ["check", r, "--domain", "evil.test"],
    "verify": lambda r: ["verify", r],
}


def _paths(root: Path, release: Path) -> dict[str, Path]:
    empty = root / "empty_dir"
    empty.mkdir(exist_ok=True)
    return {
        "nonexistent": root / "no" / "such" / "release",
        "dotdot_nonexistent": release / ".." / ".." / ".." / "nope",
        "dotdot_etc": release / ".." / ".." / ".." / ".." / ".." / ".." / ".." / ".." / "etc",
        "a_file": release / "manifest.json",
        "a_parquet_file": next((release / "documents").glob("*.parquet")),
        "dir_without_manifest": empty,
        "table_dir": release / "documents",
    }


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_paths_that_are_not_a_release(hostile, untouched, command):
    root, release, _, _ = hostile
    for name, path in _paths(root, release).items():
        result = invoke(*COMMANDS[command](path))
        if command == "verify":  # verify reports its checks: exit 1, a FAIL line, no traceback
            assert result.exception is None or isinstance(result.exception, SystemExit), (name, result.exception)
            assert result.exit_code == 1 and "FAIL" in result.output, (name, result.output)
        else:
            assert_clean(result, ok_codes=())
            assert result.exit_code != 0, name


def test_a_dotdot_path_to_the_release_is_the_release(hostile, untouched):
    _, release, _, _ = hostile
    winding = release / ".." / release.name / "documents" / ".."
    assert assert_clean(invoke("stats", winding)) and invoke("stats", winding).exit_code == 0


# --------------------------------------------------------------------------------------------- bad manifests


def _part_entry(manifest: dict, path: str) -> dict:
    entry = next(f for f in manifest["files"] if f["table"] == "documents")
    return {**entry, "path": path}


def _variant(release: Path, decoy: Path, kind: str, dest: Path) -> Path:
    """A copy of the release with a damaged or crafted manifest (index removed: it is bound to the manifest)."""
    copy = dest / kind
    shutil.copytree(release, copy, ignore=shutil.ignore_patterns("index"))
    manifest_path = copy / "manifest.json"
    text = manifest_path.read_text()
    manifest = json.loads(text)
    if kind == "truncated":
        manifest_path.write_text(text[: len(text) // 2])
    elif kind == "empty":
        manifest_path.write_text("")
    elif kind == "array":
        manifest_path.write_text("[1, 2, 3]")
    elif kind == "files_null":
        manifest_path.write_text(json.dumps({**manifest, "files": None}))
    elif kind == "files_strings":
        manifest_path.write_text(json.dumps({**manifest, "files": ["documents/part-00000.parquet"]}))
    elif kind == "not_utf8":
        manifest_path.write_bytes(b"\xff\xfe{\x00garbage")
    elif kind in ("dotdot", "absolute", "dotdot_inside"):
        path = {"dotdot": "../../outside/part-00000.parquet", "absolute": str(decoy),
                "dotdot_inside": "documents/../../../outside/part-00000.parquet"}[kind]  # fmt: skip
        manifest["files"].append(_part_entry(manifest, path))
        manifest_path.write_text(json.dumps(manifest))
    elif kind == "symlink_out":  # a part file that is a symlink to a file outside, listed with its true hash
        from pipeline.tables import file_sha256

        os.symlink(decoy, copy / "documents" / "part-00099.parquet")
        entry = _part_entry(manifest, "documents/part-00099.parquet")
        entry.update(sha256=file_sha256(decoy), bytes=decoy.stat().st_size, rows=1)
        manifest["files"].append(entry)
        manifest_path.write_text(json.dumps(manifest))
    return copy


BAD_MANIFESTS = {  # kinds of damaged manifest; every command must refuse each with one error line
    kind: {}
    for kind in (
        "truncated",
        "empty",
        "array",
        "files_null",
        "files_strings",
        "not_utf8",
        "dotdot",
        "absolute",
        "dotdot_inside",
        "symlink_out",
    )
}


@pytest.fixture(scope="module")
def bad_releases(hostile, tmp_path_factory):
    _, release, _, decoy = hostile
    dest = tmp_path_factory.mktemp("bad_manifests")
    return {kind: _variant(release, decoy, kind, dest) for kind in BAD_MANIFESTS}


@pytest.mark.parametrize(
    ("kind", "command"),
    [
        pytest.param(
            kind, command, marks=[pytest.mark.xfail(strict=True, reason=bugs[command])] if command in bugs else []
        )
        for kind, bugs in BAD_MANIFESTS.items()
        for command in sorted(COMMANDS)
    ],
)
def test_a_bad_manifest_is_refused_cleanly(bad_releases, kind, command):
    release = bad_releases[kind]
    before = tree_digest(release)
    result = invoke(*COMMANDS[command](release))
    assert DECOY not in result.output, "data from outside the release was shown"
    if command == "verify":
        assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
        assert result.exit_code == 1 and "FAIL" in result.output, result.output
    elif kind == "symlink_out" and command in ("stats", "optout-status"):
        assert_clean(result)  # counts only; the decoy's id/text are never printed by these
    else:
        assert_clean(result, ok_codes=())
    assert tree_digest(release) == before, "the release changed"

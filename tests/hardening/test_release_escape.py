"""A release placed under the app's data root that tries to read outside it, through every file the app opens
(issue 17, item 2): a view and a macro stored in the index's `entries.duckdb` over `read_text` of a file outside,
index.json full-text shard and file paths with `../`, a manifest path outside, a part file and a manifest.json
symlinked out. Whatever the app, the index, the reports or the diff open, the secret outside never appears:
the crafted release is refused with a message, or answers without it.

The secret lives in a file outside the data root and in a real release outside it (its text, its title and its
directory name), so a reader that follows any of these paths would show it.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import replace
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from audit_app import queries
from pipeline.cli import app
from pipeline.synthetic import make_page
from tests.app.test_pages import page
from tests.hardening.support import tree_digest
from tests.helpers.warcs import Page, write_warc

SECRET = "zqxsecretword"  # what must never be shown: on the page outside, in its WARC's name, in the file outside
NEEDLE = "zqxneedleword"  # what the queries ask for: beside the secret on the page outside, never the secret itself
BASE_URL = "http://in.test/article"
SECRET_URL = f"http://{SECRET}.test/secret"  # its domain is a secret too (reports list top domains)
BASE_TEXT = " ".join(make_page(1, BASE_URL, "en").paragraphs)
runner = CliRunner()


@pytest.fixture(autouse=True)
def _restore_main_module():
    main = sys.modules.get("__main__")
    yield
    if main is not None:
        sys.modules["__main__"] = main


def _release(warc: Path, out: Path, pages: list[Page]) -> Path:
    warc.parent.mkdir(parents=True, exist_ok=True)
    write_warc(warc, pages)
    result = runner.invoke(app, ["run", str(warc), "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


def _secret_page() -> Page:
    base = make_page(3, SECRET_URL, "en")
    paragraphs = tuple(p + f" The {NEEDLE} and the {SECRET} are here." for p in base.paragraphs)
    return Page(SECRET_URL, replace(base, title=f"{SECRET} title", paragraphs=paragraphs).html())


def _relink(index: Path, name: str) -> None:
    """index.json's size and sha256 of `name` brought in line with the edited file (the index opens it then)."""
    import hashlib

    info = json.loads((index / "index.json").read_text())
    for f in info["files"]:
        if f["path"] == name:
            f["bytes"] = (index / name).stat().st_size
            f["sha256"] = hashlib.sha256((index / name).read_bytes()).hexdigest()
    (index / "index.json").write_text(json.dumps(info))


def _view(release: Path, secret_file: Path, *, macro: bool) -> None:
    index = release / "index"
    con = duckdb.connect(str(index / "entries.duckdb"))
    con.execute("CREATE TABLE entries_real AS SELECT * FROM entries")
    con.execute("DROP TABLE entries CASCADE")
    path = str(secret_file).replace("'", "''")
    if macro:
        con.execute(f"CREATE MACRO leak() AS TABLE SELECT content FROM read_text('{path}')")
        con.execute("CREATE VIEW entries AS SELECT e.* REPLACE ((SELECT content FROM leak()) AS title) "
                    "FROM entries_real e")  # fmt: skip
    else:
        con.execute(f"CREATE VIEW entries AS SELECT e.* REPLACE (t.content AS title) FROM entries_real e, "
                    f"read_text('{path}') t")  # fmt: skip
    con.close()
    _relink(index, "entries.duckdb")


def _shard_outside(release: Path, outside: Path) -> None:
    info_path = release / "index" / "index.json"
    info = json.loads(info_path.read_text())
    target = outside / "index" / info["text_shards"][0]["path"]
    info["text_shards"][0]["path"] = os.path.relpath(target, release / "index")
    info_path.write_text(json.dumps(info))


def _file_outside(release: Path, outside: Path) -> None:
    info_path = release / "index" / "index.json"
    info = json.loads(info_path.read_text())
    info["files"][0]["path"] = os.path.relpath(outside / "index" / info["files"][0]["path"], release / "index")
    info_path.write_text(json.dumps(info))


def _manifest_path_outside(release: Path, outside: Path) -> None:
    manifest = json.loads((release / "manifest.json").read_text())
    part = next(f for f in manifest["files"] if f["table"] == "documents")
    part["path"] = os.path.relpath(outside / part["path"], release)
    (release / "manifest.json").write_text(json.dumps(manifest))


def _part_symlink(release: Path, outside: Path) -> None:
    part = sorted((release / "documents").glob("*.parquet"))[0]
    part.unlink()
    part.symlink_to(outside / "documents" / part.name)


def _manifest_symlink(release: Path, outside: Path) -> None:
    (release / "manifest.json").unlink()
    (release / "manifest.json").symlink_to(outside / "manifest.json")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    top = tmp_path_factory.mktemp("escape")
    root = top / "root"
    secret_file = top / "secret.txt"
    secret_file.write_text(f"{SECRET} from a file outside the data root\n")
    outside = _release(top / "inputs" / f"{SECRET}.warc.gz", top / "outside", [_secret_page()])
    base_page = Page(BASE_URL, make_page(1, BASE_URL, "en").html())
    base = _release(root / "inputs" / "base.warc.gz", root / "releases" / "base", [base_page])
    edits = {
        "duckdb-view": lambda r: _view(r, secret_file, macro=False),
        "duckdb-macro": lambda r: _view(r, secret_file, macro=True),
        "shard-outside": lambda r: _shard_outside(r, outside),
        "index-file-outside": lambda r: _file_outside(r, outside),
        "manifest-path-outside": lambda r: _manifest_path_outside(r, outside),
        "part-symlink": lambda r: _part_symlink(r, outside),
        "manifest-symlink": lambda r: _manifest_symlink(r, outside),
    }
    crafted = {}
    for name, edit in edits.items():
        target = root / "releases" / name
        shutil.copytree(base, target, symlinks=True)
        edit(target)
        crafted[name] = target
    return root, base, crafted, outside


CRAFTED = [
    "duckdb-view",
    "duckdb-macro",
    "shard-outside",
    "index-file-outside",
    "manifest-path-outside",
    "part-symlink",
    "manifest-symlink",
]


def _no_secret(value: object, what: str) -> None:
    assert SECRET not in repr(value), f"{what} shows what lies outside the release"


def _refused_or_clean(call, refused: tuple[type[BaseException], ...], what: str) -> object | None:
    try:
        result = call()
    except refused as err:
        _no_secret(str(err), what)
        return None
    _no_secret(result, what)
    return result


@pytest.mark.parametrize("name", CRAFTED)
def test_the_index_reads_nothing_outside_the_release(world, name):
    from pipeline.index import MembershipIndexError, open_index

    _, _, crafted, _ = world
    index = _refused_or_clean(lambda: open_index(crafted[name]), (MembershipIndexError,), f"{name}: open_index")
    if index is None:
        return
    for query in (
        lambda: index.check_url(BASE_URL),
        lambda: index.check_domain("in.test"),
        lambda: index.search(NEEDLE),
        lambda: index.check_text(f"The {NEEDLE} and the rest are here, said the page that lies outside."),
        lambda: index.check_text(BASE_TEXT),
    ):
        try:
            answer = query()
        except duckdb.PermissionException:
            continue  # the stored view or macro was refused: nothing read outside
        _no_secret(answer.to_dict(), f"{name}: index answer")


@pytest.mark.parametrize("name", CRAFTED)
def test_the_app_the_reports_and_the_diff_read_nothing_outside_the_release(world, name):
    from pipeline.release_read import ReleaseError
    from pipeline.release_read.diff import release_diff
    from pipeline.reports.eu_summary import SummaryOptions, build_summary

    root, base, crafted, _ = world
    release = crafted[name]
    opened = _refused_or_clean(lambda: queries.open_release(release, root), (queries.ReleaseAccessError,), name)
    if opened is not None:
        _no_secret(queries.overview(opened), f"{name}: overview")  # type: ignore[arg-type]
        _no_secret(queries.search(opened, text_contains=NEEDLE), f"{name}: search")  # type: ignore[arg-type]
    options = SummaryOptions(inspect_inputs=False)
    _refused_or_clean(lambda: build_summary(release, options).to_json(), (ReleaseError,), f"{name}: report")
    _refused_or_clean(lambda: release_diff(base, release), (ReleaseError,), f"{name}: diff")
    _no_secret(queries.release_catalog(root).to_dicts(), f"{name}: release list")


@pytest.mark.parametrize("name", CRAFTED)
def test_every_page_on_a_crafted_release_shows_nothing_outside_it(world, name, monkeypatch):
    root, _, crafted, _ = world
    monkeypatch.setenv("APERTURA_DATA_ROOT", str(root))
    monkeypatch.setenv("APERTURA_RELEASE", str(crafted[name].relative_to(root)))
    monkeypatch.setenv("APERTURA_REGISTRY", str(root / "registry"))
    before = tree_digest(root / "releases")
    runs = {
        "overview": page("overview"),
        "am_i_in url": page("am_i_in"),
        "am_i_in text": page("am_i_in"),
        "search": page("search"),
        "reports": page("reports"),
        "releases": page("releases"),
    }
    opened = not runs["overview"].error  # a refused release stops every page with one error
    if opened:
        runs["am_i_in url"].text_input(key="q_url").set_value(BASE_URL).run()
        runs["am_i_in text"].text_area(key="q_text").set_value(BASE_TEXT).run()  # found: its entry row is shown
        runs["search"].text_input(key="f_text").set_value(NEEDLE).run()
    for what, at in runs.items():
        shown = "\n".join(str(getattr(e, "value", "")) for e in at.get("markdown") + at.get("caption"))
        for kind in ("error", "warning", "info", "success", "code"):
            shown += "\n".join(str(e.value) for e in at.get(kind))
        shown += "\n".join(str(df.value) for df in at.dataframe)
        assert not at.exception, f"{name} {what}: {[e.value for e in at.exception][:1]}"
        _no_secret(shown, f"{name}: page {what}")
    assert tree_digest(root / "releases") == before


def test_the_release_reader_imports_nothing_of_the_pipelines_machinery():
    """pipeline.release_read is what the app, the reports and the index read releases through (DESIGN.md: one light
    read-only package): it and the app's queries pull in no sources, steps, executors or crawler."""
    import subprocess

    code = (
        "import sys, pipeline.release_read, pipeline.release_read.diff, audit_app.queries\n"
        "bad = sorted(m for m in sys.modules if m.startswith(('pipeline.sources', 'pipeline.steps', "
        "'pipeline.executors', 'pipeline.crawl', 'pipeline.release.')) or m == 'pipeline.release')\n"
        "print(bad)"
    )
    repo = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=repo,
                         env={"PYTHONPATH": str(repo), "PATH": "/usr/bin:/bin"}, timeout=120)  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]", out.stdout

"""Relocatable releases (format 6): `run --source-root` records local inputs relative to a declared root, so a
release moved with its inputs re-checks their bytes from the new place (`show --source-root`, the app's re-check),
says plainly where it looked when the file is not there, and never says "matches" for bytes it did not read.

Real releases built by the pipeline from WARCs written here; the expected recorded paths come from how the inputs
were laid out, the expected root from the directory the test made.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jsonschema
import polars as pl
import pytest
from streamlit.testing.v1 import AppTest
from typer.testing import CliRunner

import schemas
from audit_app import queries, source
from pipeline.cli import app
from pipeline.derive import derive_release
from pipeline.release_read import ReleaseError
from pipeline.source_paths import SourceRootError, is_clean_relative, record_path
from pipeline.synthetic import make_page
from pipeline.verify import verify_release
from tests.helpers.warcs import Page, write_warc

APP = Path(__file__).resolve().parents[1] / "audit_app"
LAYOUT = {"site/a.warc": "a", "b.warc": "b"}  # recorded path (relative to the root) -> host letter
SOURCE_PATHS = "input paths recorded relative to the source root"


def pages(letter: str) -> list[Page]:
    return [
        Page(f"http://{letter}{i}.test/p", make_page(i, f"http://{letter}{i}.test/p", "en").html()) for i in range(2)
    ]


def lay_out(src: Path) -> list[Path]:
    """The inputs, uncompressed (one flipped payload byte then changes the digest, not the gzip framing)."""
    paths = []
    for name, letter in LAYOUT.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        write_warc(src / name, pages(letter), gzip=False)
        paths.append(src / name)
    return paths


def cli(*args: str):
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def run(inputs: list[Path], out: Path, *extra: str):
    return cli("run", *inputs, "--out", out, "--extractor", "resiliparse", "--no-index", *extra)


def recorded_paths(release: Path) -> dict[str, set[str]]:
    manifest = json.loads((release / "manifest.json").read_text())
    return {
        "manifest": {e["path"] for e in manifest["inputs"]},
        **{
            t: set(pl.read_parquet(release / t)["file_path"])
            for t in ("documents", "ledger")
            if any((release / t).glob("*"))
        },
    }


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict:
    """Inputs under `src`, the release inside it (`src/r`), built with `--source-root src` from another directory."""
    base = tmp_path_factory.mktemp("reloc")
    src = base / "src"
    inputs = lay_out(src)
    result = run(inputs, src / "r", "--source-root", src)
    assert result.exit_code == 0, result.output
    doc = pl.read_parquet(src / "r" / "documents").filter(pl.col("file_path") == "site/a.warc").row(0, named=True)
    return {"base": base, "src": src, "doc": doc}


@pytest.fixture
def moved(built, tmp_path) -> dict:
    """The inputs and the release copied elsewhere together (`new/r`, `new/site/a.warc`, `new/b.warc`)."""
    new = tmp_path / "new"
    shutil.copytree(built["src"], new)
    return {"new": new, "release": new / "r", "doc": built["doc"]}


def test_inputs_are_recorded_relative_to_the_root_and_the_manifest_records_the_root(built):
    release = built["src"] / "r"
    manifest = json.loads((release / "manifest.json").read_text())
    assert manifest["format_version"] == 6 and manifest["source_root"] == str(built["src"].resolve())
    assert "source_root" not in manifest["config"]  # not hashed: see the relocation-invariance test
    jsonschema.validate(manifest, schemas.manifest_schema(6))
    assert recorded_paths(release)["manifest"] == set(LAYOUT)
    assert recorded_paths(release)["documents"] == set(LAYOUT)  # the same strings in the rows (POSIX, relative)
    report = verify_release(release)
    assert report.ok, [c for c in report.checks if not c.ok]
    details = {c.name: c.detail for c in report.checks}
    assert details[SOURCE_PATHS] == f"2 local input paths relative to {built['src'].resolve()}"


def test_the_manifest_schema_refuses_a_format_6_manifest_without_source_root(built):
    manifest = json.loads((built["src"] / "r" / "manifest.json").read_text())
    del manifest["source_root"]
    with pytest.raises(jsonschema.ValidationError, match="source_root"):
        jsonschema.validate(manifest, schemas.manifest_schema(6))
    manifest["source_root"] = 7
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(manifest, schemas.manifest_schema(6))


def test_show_rechecks_the_bytes_of_a_moved_release_under_the_root_given(moved, tmp_path, monkeypatch):
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    result = cli("show", moved["release"], moved["doc"]["id"], "--source-root", moved["new"])
    text = " ".join(result.output.split())
    assert result.exit_code == 0, text
    assert f"source file: {moved['new'].resolve() / 'site' / 'a.warc'}" in text
    assert "under the source root given" in text and "payload digest matches" in text
    found = json.loads(
        cli("show", moved["release"], moved["doc"]["id"], "--source-root", moved["new"], "--json").stdout
    )
    assert found["source"]["file"] == {"recorded": "site/a.warc", "path": str(moved["new"].resolve() / "site/a.warc"),
                                       "root": "the source root given"}  # fmt: skip
    assert found["source"]["digest_ok"] is True


def test_a_tampered_byte_of_a_moved_input_is_a_mismatch(moved):
    warc = moved["new"] / "site" / "a.warc"
    data = bytearray(warc.read_bytes())
    start, length = moved["doc"]["warc_record_offset"], moved["doc"]["warc_record_length"]
    at = data.index(b"<p>", start, start + length) + 5  # a byte of the first paragraph's text: payload, not header
    data[at] ^= 0x20
    warc.write_bytes(bytes(data))
    result = cli("show", moved["release"], moved["doc"]["id"], "--source-root", moved["new"])
    text = " ".join(result.output.split())
    assert result.exit_code == 1
    assert "payload digest MISMATCH" in text and "payload digest matches" not in text


def test_without_a_root_a_release_moved_beside_its_inputs_is_found_under_its_parent(built, moved, tmp_path,
                                                                                     monkeypatch):  # fmt: skip
    """The recorded root no longer holds the input; the release's parent is the new root (the release sat inside
    the old one)."""
    shutil.move(built["src"] / "site", tmp_path / "site-elsewhere")
    try:
        monkeypatch.chdir(tmp_path)
        result = cli("show", moved["release"], moved["doc"]["id"])
    finally:
        shutil.move(tmp_path / "site-elsewhere", built["src"] / "site")
    text = " ".join(result.output.split())
    assert result.exit_code == 0, text
    assert "under the release directory's parent" in text and "payload digest matches" in text


def test_without_a_root_a_file_not_found_is_said_with_every_path_tried(built, tmp_path, monkeypatch):
    """Only the release is copied, away from its inputs: nothing matches, and the message names where it looked."""
    release = shutil.copytree(built["src"] / "r", tmp_path / "alone" / "r")
    recorded_root = built["src"].resolve()
    shutil.move(built["src"] / "site", tmp_path / "site-elsewhere")  # the recorded root no longer holds it
    try:
        cwd = tmp_path / "cwd"
        cwd.mkdir()
        monkeypatch.chdir(cwd)
        result = cli("show", release, built["doc"]["id"])
        as_json = cli("show", release, built["doc"]["id"], "--json")
    finally:
        shutil.move(tmp_path / "site-elsewhere", built["src"] / "site")
    text = " ".join(result.output.split())
    assert result.exit_code == 0  # not a mismatch: nothing was compared
    error = json.loads(as_json.stdout)["source"]["error"]
    assert error == (
        f"source file not found at {recorded_root / 'site/a.warc'}, nor at {tmp_path / 'alone' / 'site/a.warc'}, "
        f"nor at {cwd / 'site/a.warc'} (pass --source-root DIR: the directory the inputs are now in)"
    )
    assert "source bytes not re-checked: source file not found at" in text
    assert "pass --source-root DIR" in text and "matches" not in text


def test_an_input_outside_the_root_is_refused_naming_it(tmp_path):
    src = tmp_path / "src"
    inside = lay_out(src)
    outside = tmp_path / "stray.warc"
    write_warc(outside, pages("s"), gzip=False)
    result = run([*inside, outside], tmp_path / "r", "--source-root", src)
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and str(outside) in lines[0] and "outside the source root" in lines[0]
    assert not (tmp_path / "r").exists()


def test_the_same_files_under_two_roots_make_the_same_tables_and_config_hash(built, tmp_path):
    """The root is not hashed: the same layout under another root writes byte-identical tables and the same
    config hash; only the manifest's `source_root` differs."""
    other = tmp_path / "other-root"
    shutil.copytree(built["src"], other, ignore=shutil.ignore_patterns("r"))  # the same bytes, laid out the same
    assert run([other / name for name in LAYOUT], tmp_path / "r", "--source-root", other).exit_code == 0
    first, second = built["src"] / "r", tmp_path / "r"
    m1, m2 = (json.loads((r / "manifest.json").read_text()) for r in (first, second))
    assert m1["config_hash"] == m2["config_hash"] and m1["source_root"] != m2["source_root"]
    for f in m1["files"]:
        assert (first / f["path"]).read_bytes() == (second / f["path"]).read_bytes(), f["path"]
    assert {k: v for k, v in m1.items() if k != "source_root"} == {k: v for k, v in m2.items() if k != "source_root"}


def test_a_derived_release_keeps_its_parents_recording(built, tmp_path):
    child = derive_release(built["src"] / "r", tmp_path / "child")
    assert child["source_root"] == str(built["src"].resolve()) and child["format_version"] == 6
    assert recorded_paths(tmp_path / "child")["documents"] == set(LAYOUT)
    assert verify_release(tmp_path / "child").ok


def test_urls_and_paths_as_typed_are_recorded_unchanged(tmp_path):
    assert record_path("https://example.org/x.warc.gz", tmp_path) == "https://example.org/x.warc.gz"
    assert record_path("in/a.warc", None) == "in/a.warc"  # no root: as typed
    (tmp_path / "in").mkdir()
    assert record_path(str(tmp_path / "in" / "a.warc"), tmp_path) == "in/a.warc"
    with pytest.raises(SourceRootError, match="outside the source root"):
        record_path(str(tmp_path.parent / "a.warc"), tmp_path / "in")
    with pytest.raises(SourceRootError, match="outside the source root"):
        record_path(str(tmp_path / "in" / ".." / "a.warc"), tmp_path / "in")
    (tmp_path / "disk").mkdir()
    (tmp_path / "in" / "warc").symlink_to(tmp_path / "disk")  # a symlinked directory of inputs under the root
    assert record_path(str(tmp_path / "in" / "warc" / "a.warc"), tmp_path / "in") == "warc/a.warc"
    (tmp_path / "via").symlink_to(tmp_path / "in")  # a root reached through a symlink
    assert record_path(str(tmp_path / "in" / "a.warc"), tmp_path / "via") == "a.warc"
    assert [is_clean_relative(p) for p in ("a/b.warc", "/a.warc", "../a.warc", "a/./b", "a\\b", "")] == [
        True, False, False, False, False, False
    ]  # fmt: skip


def test_without_a_source_root_paths_are_recorded_as_typed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (inp,) = lay_out(tmp_path / "in")[1:]
    assert run([Path("in/b.warc")], tmp_path / "r").exit_code == 0
    manifest = json.loads((tmp_path / "r" / "manifest.json").read_text())
    assert manifest["source_root"] is None and [e["path"] for e in manifest["inputs"]] == ["in/b.warc"]
    assert {c.name: c.detail for c in verify_release(tmp_path / "r").checks}[SOURCE_PATHS] == (
        "no source root: input paths recorded as typed"
    )
    assert inp.is_file()


# --- the app's re-check ---------------------------------------------------------------------------------


def recheck(monkeypatch, data_root: Path, release: Path, doc_id: str, source_root: Path | None) -> AppTest:
    monkeypatch.setenv(queries.DATA_ROOT_ENV, str(data_root))
    monkeypatch.setenv("APERTURA_RELEASE", str(release.relative_to(data_root)))
    if source_root is None:
        monkeypatch.delenv(source.SOURCE_ROOT_ENV, raising=False)
    else:
        monkeypatch.setenv(source.SOURCE_ROOT_ENV, str(source_root))
    at = AppTest.from_file(str(APP / "views" / "document.py"), default_timeout=30)
    at.query_params["doc"] = doc_id
    at.run()
    at.button(key="recheck").click().run()
    assert not at.exception
    return at


def values(at: AppTest) -> dict[str, str]:
    frame = next(d.value for d in at.dataframe if list(d.value.columns) == ["field", "value"])
    return dict(zip(frame["field"], frame["value"], strict=True))


def test_the_app_rechecks_a_moved_release_under_its_source_root(moved, tmp_path, monkeypatch):
    """The release in one place, its inputs in another, both in the data directory: `--source-root` finds them."""
    data = tmp_path
    release = shutil.move(moved["release"], data / "releases" / "r")
    at = recheck(monkeypatch, data, Path(release), moved["doc"]["id"], moved["new"])
    assert any("match its stored digest" in s.value for s in at.success)
    assert values(at)["found under"] == "the source root given"
    assert values(at)["file"] == str(moved["new"].resolve() / "site" / "a.warc")


def test_the_app_without_a_root_says_where_it_looked(moved, tmp_path, monkeypatch):
    data = tmp_path
    release = Path(shutil.move(moved["release"], data / "releases" / "r"))
    at = recheck(monkeypatch, data, release, moved["doc"]["id"], None)
    assert not any("digest" in s.value for s in at.success) and any(
        "Source not reachable" in w.value for w in at.warning
    )
    message = next(c.value for c in at.code if "not found at" in c.value)
    # the recorded root is outside the data directory: not looked at
    assert message == (f"source not reachable: 'site/a.warc' not found at {data / 'releases' / 'site/a.warc'}, "
                       f"nor at {data / 'site/a.warc'}")  # fmt: skip


def test_the_app_refuses_a_source_root_outside_the_data_directory(moved, tmp_path, monkeypatch):
    data = tmp_path / "data"
    release = Path(shutil.copytree(moved["release"], data / "r"))
    at = recheck(monkeypatch, data, release, moved["doc"]["id"], moved["new"])  # moved["new"] is not under data
    assert not any("digest" in s.value for s in at.success)
    assert any("outside the data directory" in w.value for w in at.warning)
    assert any("the source root" in c.value and "is not used" in c.value for c in at.code)


def test_the_app_takes_its_source_root_from_its_script_arguments_then_the_environment(monkeypatch):
    """`apertura app --source-root DIR` passes `-- --release R --source-root DIR` to the script."""
    monkeypatch.setenv(source.SOURCE_ROOT_ENV, "/from/env")
    assert source.source_root_arg(["--release", "/d/r", "--source-root", "/d/in"]) == "/d/in"
    assert source.source_root_arg(["--release", "/d/r"]) == "/from/env"
    monkeypatch.delenv(source.SOURCE_ROOT_ENV)
    assert source.source_root_arg(["--release", "/d/r"]) is None


def test_the_eu_summary_reads_a_rooted_inputs_warcinfo_from_any_directory(tmp_path, monkeypatch):
    """The summary classifies an input by its warcinfo: a path recorded relative to the root is read under it."""
    from pipeline.reports.eu_summary import build_summary
    from tests.reports.conftest import write_crawl

    src = tmp_path / "src"
    (src / "crawl").mkdir(parents=True)
    write_crawl(
        src / "crawl" / "c.warc.gz", pages("c"), {"software": "apertura-crawler", "http-header-user-agent": "ApBot"}
    )
    assert run([src / "crawl" / "c.warc.gz"], tmp_path / "r", "--source-root", src).exit_code == 0
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    crawled = build_summary(tmp_path / "r").section("crawled")
    assert [i.path for i in crawled.inputs] == ["crawl/c.warc.gz"]


def test_a_resumed_run_under_another_root_does_not_reuse_paths_recorded_under_the_first(tmp_path, monkeypatch):
    """The root is not in the config hash, so the shard's own recorded path is what says it can be reused."""
    import pipeline.release
    from pipeline.api import build
    from pipeline.config import RunConfig

    inputs = [str(p) for p in lay_out(tmp_path / "src")]
    config = RunConfig.model_validate({"extract": {"extractor": "resiliparse"}})
    real = pipeline.release.build_release

    def stop(*args, **kwargs):
        raise RuntimeError("stopped after staging the shards")

    monkeypatch.setattr(pipeline.release, "build_release", stop)
    with pytest.raises(RuntimeError, match="stopped after staging"):
        build(inputs, config.model_copy(update={"source_root": str(tmp_path)}), tmp_path / "r", index=False)
    assert (tmp_path / ".r.work" / "shards").is_dir()  # staged under the first root: src/site/a.warc, src/b.warc
    monkeypatch.setattr(pipeline.release, "build_release", real)
    second = config.model_copy(update={"source_root": str(tmp_path / "src")})
    manifest = build(inputs, second, tmp_path / "r", index=False, resume=True)
    found = recorded_paths(tmp_path / "r")
    assert found["manifest"] == found["documents"] == set(LAYOUT)
    assert manifest["source_root"] == str(tmp_path / "src")


def test_derive_records_a_snapshot_relative_to_its_parents_root_and_refuses_one_outside(tmp_path):
    src = tmp_path / "src"
    assert run(lay_out(src), src / "r", "--source-root", src).exit_code == 0
    robots = [Page("http://a0.test/robots.txt", "User-agent: *\nDisallow: /\n", "text/plain")]
    (src / "snaps").mkdir()
    write_warc(src / "snaps" / "today.warc", robots, gzip=False)
    write_warc(tmp_path / "stray.warc", robots, gzip=False)
    with pytest.raises(ReleaseError, match=f"opt-out snapshot {tmp_path / 'stray.warc'}: outside the source root"):
        derive_release(src / "r", tmp_path / "refused", snapshots=[str(tmp_path / "stray.warc")])
    child = derive_release(src / "r", tmp_path / "child", snapshots=[str(src / "snaps" / "today.warc")])
    assert [s["path"] for s in child["lineage"]["snapshots"]] == ["snaps/today.warc"]
    evidence = pl.read_parquet(tmp_path / "child" / "optout_evidence")
    assert set(evidence.filter(pl.col("url") == "http://a0.test/p")["source_file"]) == {"snaps/today.warc"}
    report = verify_release(tmp_path / "child")
    assert report.ok, [c for c in report.checks if not c.ok]


def test_the_root_may_come_from_the_config_file_and_is_not_recorded_in_the_config(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    lay_out(tmp_path / "src")
    (tmp_path / "run.yaml").write_text("source_root: src\nextract:\n  extractor: resiliparse\n")
    result = cli("run", "src/b.warc", "--out", "r", "--config", "run.yaml", "--no-index")
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "r" / "manifest.json").read_text())
    assert manifest["source_root"] == str(tmp_path / "src") and "source_root" not in manifest["config"]
    assert [e["path"] for e in manifest["inputs"]] == ["b.warc"]

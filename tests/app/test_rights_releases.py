"""The rights-holder and Releases pages (issue 5, sections 1 and 3), driven with AppTest over a data root
built by the real CLI: `apertura run data/sample` → r1, `apertura optout add --domain` into the registry,
`apertura release derive r1 --apply-optouts` → r2.

What must hold: the rights-holder page finds the opted-out domain in r1 and removed from r2 (stage optout,
reason optout_registry, the registry entry id) and covered by the registry; filing a request adds exactly one
pending request and not one byte to any release; bad or hostile input is refused or shown as text, never
written, never SQL; the Releases page shows r1 → r2 and a diff whose counts are `release_diff`'s."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import polars as pl
import pytest
from streamlit.testing.v1 import AppTest
from typer.testing import CliRunner

from audit_app import common, lineage, queries, registry
from pipeline.cli import app
from pipeline.derive import release_diff
from pipeline.optout.registry import Registry
from tests.app.test_pages import HOSTILE, assert_no_raw_html, texts

REPO = Path(__file__).resolve().parents[2]
VIEWS = REPO / "audit_app" / "views"
SAMPLE = REPO / "data" / "sample"
REQUESTER = ("Berg AG", "legal@berg.test")
runner = CliRunner()


def _cli(*args: object) -> str:
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def lineage_root(tmp_path_factory) -> dict:
    """A data root with r1 (from the sample WARCs), a registry opting out the smallest multi-document domain,
    and r2 derived from r1 with that registry. Returns the paths, the domain, its documents and the entry id."""
    root = tmp_path_factory.mktemp("rights_root")
    r1, r2, reg = root / "releases" / "r1", root / "releases" / "r2", root / "registry"
    _cli("run", SAMPLE, "--out", r1)
    docs = pl.read_parquet(r1 / "documents" / "*.parquet")
    sizes = docs.group_by("domain").len().filter(pl.col("len") >= 2).sort("len", "domain")
    domain = sizes["domain"][0]
    _cli("optout", "add", "--domain", domain, "--requester", "Berg AG <legal@berg.test>", "--registry", reg)
    _cli("release", "derive", r1, "--apply-optouts", "--registry", reg, "--out", r2)
    (entry,) = Registry(reg).effective()
    return {
        "root": root,
        "r1": r1,
        "r2": r2,
        "registry": reg,
        "domain": domain,
        "ids": set(docs.filter(pl.col("domain") == domain)["id"]),
        "entry": entry.entry_id,
    }


@pytest.fixture
def env(lineage_root, monkeypatch) -> dict:
    monkeypatch.setenv(queries.DATA_ROOT_ENV, str(lineage_root["root"]))
    monkeypatch.delenv(registry.REGISTRY_ENV, raising=False)
    monkeypatch.delenv("APERTURA_RELEASE", raising=False)
    return lineage_root


def _hashes(directory: Path) -> dict[str, str]:
    return {
        str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def _releases_state(env: dict) -> dict[str, str]:
    """Every file of every release (and the manifests' bytes): a write into a release changes this."""
    return {
        **{f"r1/{k}": v for k, v in _hashes(env["r1"]).items()},
        **{f"r2/{k}": v for k, v in _hashes(env["r2"]).items()},
    }


def _page(name: str) -> AppTest:
    return AppTest.from_file(str(VIEWS / f"{name}.py"), default_timeout=60).run()


def _check(at: AppTest, kind: str, value: str) -> AppTest:
    at.radio(key="rh_kind").set_value(kind).run()
    widget = at.text_area(key="rh_text") if kind == "text" else at.text_input(key=f"rh_{kind}")
    return widget.input(value).run()


def _file(at: AppTest, kind: str, value: str = "", *, text: str = "", name: str = REQUESTER[0],
          contact: str = REQUESTER[1], note: str = "") -> AppTest:  # fmt: skip
    at = at.selectbox(key="rh_req_kind").set_value(kind).run()  # the form then shows that kind's field only
    if kind == "text":
        at.text_area(key="rh_req_text").input(text)
    else:
        at.text_input(key="rh_req_value").input(value)
    at.text_input(key="rh_req_name").input(name)
    at.text_input(key="rh_req_contact").input(contact)
    at.text_area(key="rh_req_note").input(note)
    (submit,) = [b for b in at.button if b.label == "File the opt-out request"]
    return submit.click().run()


def _summary(at: AppTest) -> dict[str, dict]:
    """The per-release status table, by release id."""
    frame = next(d.value for d in at.dataframe if "removed_for_optout" in d.value.columns)
    return {row["release"]: row for row in frame.to_dict("records")}


def _requests(env: dict) -> list[Path]:
    folder = env["registry"] / "requests"
    return sorted(folder.glob("*")) if folder.is_dir() else []


def test_rights_holder_finds_the_domain_in_the_parent_and_removed_in_the_child(env):
    at = _check(_page("rights_holder"), "domain", env["domain"].upper())
    assert not at.exception
    rows = _summary(at)
    n = len(env["ids"])
    assert rows["r1"]["status"] == "In" and rows["r1"]["documents"] == n and rows["r1"]["removed"] == 0
    r2 = rows["r2"]
    assert r2["status"] == "Not in" and r2["documents"] == 0 and r2["removed"] == r2["removed_for_optout"] == n
    assert r2["signals"] == "registry" and r2["registry_entries"].startswith(env["entry"])
    derived_at = json.loads((env["r2"] / "manifest.json").read_text())["lineage"]["derived_at"]
    assert r2["removed_since"] == f"release r2, derived {derived_at}"
    shown = texts(at)
    assert "reason `optout_registry`, signal `registry`" in shown and f"registry entry `{env['entry']}`" in shown
    assert any(s.value.startswith("Opted out: 1 registry entry in force covers this") for s in at.success)
    assert f"- entry `{env['entry']}`: `registry entry {env['entry']}: domain {env['domain']}" in shown
    assert_no_raw_html(at)


def test_rights_holder_checks_a_url_and_a_text_in_every_release(env):
    docs = pl.read_parquet(env["r1"] / "documents" / "*.parquet")
    doc = docs.filter(pl.col("domain") == env["domain"]).sort("id").row(0, named=True)
    at = _check(_page("rights_holder"), "url", doc["url"])
    rows = _summary(at)
    assert rows["r1"]["documents"] == 1 and rows["r2"]["status"] == "Not in" and rows["r2"]["removed"] == 1
    assert any("Opted out" in s.value for s in at.success)  # a URL on the domain is covered by the domain entry
    at = _check(_page("rights_holder"), "text", doc["text"])
    rows = _summary(at)
    # in r1 verbatim; in r2 the opt-out dropped the text from the ledger, but its normalised hash still matches.
    assert rows["r1"]["status"] == "In" and rows["r2"]["status"] == "Not in" and rows["r2"]["removed"] == 1, rows
    assert not at.exception


def test_filing_a_request_adds_one_pending_request_and_nothing_to_any_release(env):
    before = _releases_state(env)
    requests_before = _requests(env)
    pending_before = set(Registry(env["registry"]).pending()["request_id"])
    at = _file(_page("rights_holder"), "domain", "Harbour-Times.test", note="Please stop <b>now</b> 'x' --")
    assert not at.exception, at.exception
    (ok,) = [s.value for s in at.success]
    pending = Registry(env["registry"]).pending()
    new = pending.filter(~pl.col("request_id").is_in(list(pending_before)))
    assert new.height == 1 and pending.height == len(pending_before) + 1
    row = new.row(0, named=True)
    assert row["request_id"] in ok and at.text_input(key="rh_status_id").value == row["request_id"]
    assert any(row["request_id"] in i.value and "Pending" in i.value for i in at.info)
    assert (row["kind"], row["value"]) == ("domain", "harbour-times.test")
    assert row["requester"] == "Berg AG <legal@berg.test>" and row["note"] == "Please stop <b>now</b> 'x' --"
    assert len(_requests(env)) == len(requests_before) + 1  # exactly one new file, in the pending queue
    assert _releases_state(env) == before  # not one byte of any release changed
    assert Registry(env["registry"]).entries().height == 1  # filing approves nothing
    assert_no_raw_html(at)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"kind": "domain", "value": "harbour-times.test", "name": ""}, "your name is required"),
        ({"kind": "domain", "value": "harbour-times.test", "contact": "call me"}, "must be an e-mail address"),
        ({"kind": "domain", "value": "not a domain!"}, "not a domain"),
        ({"kind": "url_prefix", "value": "ftp://example.org/"}, "must start with http"),
        ({"kind": "text", "text": "far too short to fingerprint"}, "fewer than 20 words"),
        ({"kind": "domain", "value": ""}, "the domain is required"),
        ({"kind": "domain", "value": "harbour-times.test", "name": "Eve\u0007"}, "control characters"),
    ],
)
def test_bad_requests_are_refused_with_a_clear_message_and_write_nothing(env, fields, message):
    before, requests_before = _releases_state(env), _requests(env)
    at = _file(_page("rights_holder"), **fields)
    assert not at.exception
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and errors[0].startswith("The request was not filed"), errors
    assert message in errors[0].replace("\\", ""), errors[0]
    assert not at.success
    assert _requests(env) == requests_before and _releases_state(env) == before


def test_oversized_text_is_refused_before_anything_is_written(env):
    requests_before = _requests(env)
    too_long = "word " * (registry.MAX_TEXT_BYTES // 5 + 1)
    with pytest.raises(registry.RequestError, match="limit"):
        registry.file_request("text", text=too_long, name="A", contact="a@b.test")
    with pytest.raises(ValueError, match="the limit is 100,000 characters"):
        common.answer("text", too_long, path="releases/r1")
    assert _requests(env) == requests_before


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_input_is_harmless(env, hostile):
    before, requests_before = _releases_state(env), _requests(env)
    page = _page("rights_holder")
    for kind in ("domain", "url", "text"):
        at = _check(page, kind, hostile)
        assert not at.exception, (kind, at.exception)
        if at.dataframe:
            assert all(r["documents"] == 0 for r in _summary(at).values())  # matches nothing, never everything
        assert_no_raw_html(at)
    at = _file(_page("rights_holder"), "domain", hostile, name=hostile[:200], contact=hostile[:200], note=hostile)
    assert not at.exception and [e.value for e in at.error]  # refused (bad domain / contact), shown as text
    assert _requests(env) == requests_before and _releases_state(env) == before
    assert_no_raw_html(at)


def test_registry_outside_the_data_root_or_inside_a_release_is_refused(env, monkeypatch, tmp_path):
    for where in (tmp_path / "elsewhere", env["r2"] / "registry", "../outside"):
        monkeypatch.setenv(registry.REGISTRY_ENV, str(where))
        with pytest.raises(registry.RegistryAccessError):
            registry.registry_path()
    monkeypatch.setenv(registry.REGISTRY_ENV, str(env["r1"] / "optout"))
    before = _releases_state(env)
    at = _file(_page("rights_holder"), "domain", "harbour-times.test")
    assert not at.exception and "releases are immutable" in at.error[0].value.replace("\\", "")
    assert _releases_state(env) == before


def test_releases_page_shows_lineage_and_the_diff_of_release_diff(env):
    at = _page("releases")
    assert not at.exception, at.exception
    table = next(d.value for d in at.dataframe if "release_id" in d.value.columns)
    by_id = {r["release_id"]: r for r in table.to_dict("records")}
    assert by_id["r2"]["parent"] == "r1" and by_id["r2"]["parent_path"] == "releases/r1"
    assert by_id["r1"]["documents"] == by_id["r2"]["documents"] + len(env["ids"])
    (graph,) = at.get("graphviz_chart")
    spec = graph.proto.spec
    assert 'r0 [label="r1\\nreleases/r1' in spec and 'r1 [label="r2\\nreleases/r2' in spec
    assert "r0 -> r1" in spec and "registry: 1 entry" in spec
    # the derived release's registry state, as its manifest records it
    reg = json.loads((env["r2"] / "manifest.json").read_text())["lineage"]["registry"]
    assert {m.label: m.value for m in at.metric}["Registry entries"] == str(reg["entries"])
    assert any(c.value == reg["sha256"] for c in at.code)
    # the diff (default: r1 → r2) equals release_diff's
    expected = release_diff(env["r1"], env["r2"])
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Left"] == f"{expected['removed']:,}" and metrics["Arrived"] == f"{expected['added']:,}"
    assert metrics["Documents in r1"] == f"{expected['kept']['old']:,}"
    assert metrics["Documents in r2"] == f"{expected['kept']['new']:,}"
    reasons = next(d.value for d in at.dataframe if list(d.value.columns)[:3] == ["stage", "reason", "n"])
    assert reasons[["stage", "reason", "n"]].to_dict("records") == expected["removed_by_reason"]
    # each reason with its plain sentence: the registry removal says what it is in words
    assert all(reasons["what it means"].str.contains("rights holder asked")), reasons["what it means"].tolist()
    domains = next(d.value for d in at.dataframe if list(d.value.columns) == ["domain", "reason", "n"])
    assert domains.to_dict("records") == expected["removed_by_domain"]
    assert expected["removed"] == len(env["ids"])
    charts = at.get("vega_lite_chart")
    assert len(charts) == 2
    assert any(b.proto.id.endswith("diff_reasons_dl_csv") for b in at.get("download_button"))  # downloadable
    assert_no_raw_html(at)


def test_lineage_dot_escapes_ids_and_marks_a_parent_outside_the_root(env, tmp_path):
    alone = tmp_path / "root"
    shutil.copytree(env["r2"], alone / "r2")
    catalog = queries.release_catalog(alone)
    assert catalog["parent_id"].to_list() == ["r1"] and catalog["parent_path"].to_list() == [None]
    dot = lineage.lineage_dot(catalog)
    assert 'style="dashed"' in dot and "(not under the data root)" in dot and "m0 -> r0" in dot
    hostile = catalog.with_columns(release_id=pl.lit('x"]; evil -> r0 [label="\\\n<b>'))
    dot = lineage.lineage_dot(hostile)
    assert 'r0 [label="x\\"]; evil -> r0 [label=\\"\\\\ <b>\\n' in dot
    # only the edge this code drew: every '->' outside a quoted label is ours
    outside = "".join(part for i, part in enumerate(dot.replace('\\"', "").split('"')) if i % 2 == 0)
    assert outside.count("->") == 1


def test_a_broken_manifest_is_listed_with_its_error_not_a_crash(env, tmp_path, monkeypatch):
    root = tmp_path / "root"
    shutil.copytree(env["r1"], root / "r1")
    (root / "bad").mkdir()
    (root / "bad" / "manifest.json").write_text("{not json")
    monkeypatch.setenv(queries.DATA_ROOT_ENV, str(root))
    catalog = queries.release_catalog(root)
    assert catalog.filter(pl.col("path") == "bad")["error"][0].startswith("manifest.json")
    at = _page("releases")
    assert not at.exception and any("cannot be read" in w.value for w in at.warning)
    at = _check(_page("rights_holder"), "domain", env["domain"])
    assert not at.exception and set(_summary(at)) == {"r1"}


def test_hostile_release_ids_are_shown_as_text(env, tmp_path, monkeypatch):
    """A manifest is data: a release id carrying HTML, Markdown and DOT syntax changes no page structure."""
    root = tmp_path / "root"
    shutil.copytree(env["r1"], root / "r1")
    shutil.copytree(env["r2"], root / "r2")
    hostile = '<img src=x onerror=alert(1)> [x](javascript:alert(1)) "]; a -> b'
    manifest = json.loads((root / "r2" / "manifest.json").read_text())
    (root / "r2" / "manifest.json").write_text(json.dumps({**manifest, "release_id": hostile}))
    monkeypatch.setenv(queries.DATA_ROOT_ENV, str(root))
    at = _page("releases")
    assert not at.exception, at.exception
    assert_no_raw_html(at)
    labels = [m.label for m in at.metric]
    assert "Documents in " + common.plain(hostile) in labels  # escaped: no link, no image
    (graph,) = at.get("graphviz_chart")
    assert graph.proto.spec.count("->") == 2  # the real edge, and the one inside the escaped label
    assert lineage.dot_string(hostile, "r2").removesuffix('"') in graph.proto.spec  # one escaped label
    at = _check(_page("rights_holder"), "domain", env["domain"])
    assert not at.exception and hostile in _summary(at)
    assert_no_raw_html(at)


def test_a_session_files_at_most_the_limit(env):
    """The queue is reviewed by hand: one browser session cannot flood it."""
    before = _requests(env)
    at = _page("rights_holder")
    at.session_state["rh_filed"] = [f"req-{i}" for i in range(registry.MAX_REQUESTS_PER_SESSION)]
    at = _file(at, "domain", "harbour-times.test")
    assert not at.exception and "already filed" in at.error[0].value
    assert _requests(env) == before

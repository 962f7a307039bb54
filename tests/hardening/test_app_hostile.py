"""The audit app against hostile input and hostile data (issue 8, items 6 and 7), driven with AppTest on a real
release built by the CLI.

* Every text input of every page (search, document id and `?doc=`, am-I-in domain/URL/text, compliance
  drill-down, rights-holder check and request form) gets SQL injection, LIKE wildcards, backslashes, HTML/script,
  Markdown/LaTeX and 1 MB strings: no exception is shown, no markdown-rendered element carries the payload
  unescaped (outside code spans), `unsafe_allow_html`/`st.html` never carry data, results are empty or what a
  literal match gives, and not one byte of the release changes.
* The release's own data is hostile (test_cli_hostile.hostile_pages: text, title and URL with the payloads), and
  a second release sits in a directory whose name and release id are HTML: every page renders them as text.
* Release selection with path traversal: `..`, absolute paths, `~`, NUL, a symlink out of the data root, a
  symlinked part file out of the release, manifests of the wrong shape: refused with a message, no trace.
* The entrypoint finishes its heavy imports before any page runs (bench/app_load.py found concurrent first
  renders failing while pandas was half imported).
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from tests.app.test_pages import elements, page
from tests.hardening.support import tree_digest
from tests.hardening.test_cli_hostile import PAYLOAD_TEXT, PAYLOAD_TITLE, PAYLOAD_URLS, build_hostile_release

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "audit_app"
BIG = "' OR 1=1 -- <script>alert(1)</script> " * 27_000  # ~1 MB
HOSTILE = [
    "' OR 1=1 --",
    "'; DROP TABLE documents; --",
    "%",
    "_",
    "\\",
    "<script>alert(1)</script><img src=x onerror=alert(2)>",
    "[x](javascript:alert(1)) **b** $x^2$ \\(y\\) <b>",
    "../../etc/passwd",
]
HTML_DIR = "<img src=x onerror=alert(9)>"  # a release directory name (no '/': it is one path component)
# Outside code spans, markdown-rendered text must show none of these unescaped (a backslash before it escapes it).
UNESCAPED = [
    re.compile(r"(?<!\\)<(script|img|b>)", re.IGNORECASE),
    re.compile(r"(?<!\\)\]\((javascript|http://evil)"),
    re.compile(r"(?<!\\)\$x(?:\\)?\^2"),
]


@pytest.fixture(autouse=True)
def _restore_main_module():
    """AppTest leaves the page it ran as sys.modules['__main__'] (streamlit 1.67); a later 'spawn' child of the
    pipeline would re-run it (see tests/app/conftest.py). Put pytest's own back after every test."""
    main = sys.modules.get("__main__")
    yield
    if main is not None:
        sys.modules["__main__"] = main


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    """A data root with the hostile release (releases/hostile), a copy of it under an HTML directory name with an
    HTML release id, and things outside the root to escape to."""
    top = tmp_path_factory.mktemp("app_hostile")
    root = top / "root"
    release = build_hostile_release(root)
    twin = root / "releases" / HTML_DIR
    shutil.copytree(release, twin, ignore=shutil.ignore_patterns("index"))
    manifest = json.loads((twin / "manifest.json").read_text())
    (twin / "manifest.json").write_text(json.dumps({**manifest, "release_id": "<script>alert('id')</script> **x**"}))
    outside = top / "outside_release"
    shutil.copytree(release, outside)
    return root, release, outside


@pytest.fixture
def env(data_root, monkeypatch):
    root, release, _ = data_root
    monkeypatch.setenv("APERTURA_DATA_ROOT", str(root))
    monkeypatch.setenv("APERTURA_RELEASE", str(release.relative_to(root)))
    monkeypatch.setenv("APERTURA_REGISTRY", str(root / "registry"))
    before = tree_digest(root / "releases")
    yield root, release
    assert tree_digest(root / "releases") == before, "a file under a release changed"


@pytest.fixture(scope="module")
def docs(data_root) -> pl.DataFrame:
    _, release, _ = data_root
    return pl.read_parquet(sorted((release / "documents").glob("*.parquet")))


def rendered_markdown(at: AppTest) -> list[str]:
    """Every string Streamlit renders as Markdown: bodies of markdown/caption/heading/alert elements, labels of
    widgets, metrics, tabs and expanders (code, dataframes and plain text are shown literally)."""
    out = []
    for element in elements(at._tree):
        proto = getattr(element, "proto", None)
        if proto is None or element.type in ("code", "text", "dataframe", "arrow_data_frame", "exception"):
            continue
        for name in ("body", "label"):
            value = getattr(proto, name, None)
            if isinstance(value, str) and value:
                out.append(value)
    for block in _blocks(at._tree):
        label = getattr(getattr(block, "proto", None), "label", None)
        if isinstance(label, str) and label:
            out.append(label)
    return out


def _blocks(node):
    children = getattr(node, "children", None)
    if children is None:
        return
    yield node
    for child in children.values():
        yield from _blocks(child)


def without_code_spans(markdown: str) -> str:
    return re.sub(r"(`+)(.+?)\1", " ", markdown, flags=re.DOTALL)


def assert_safe(at: AppTest, what: str = "") -> None:
    """No exception; no raw HTML; no markdown-rendered payload outside code spans."""
    assert not at.exception, f"{what}: {[e.value for e in at.exception][:1]}"
    for element in elements(at._tree):
        assert element.type != "html", f"{what}: st.html used"
        proto = getattr(element, "proto", None)
        assert not getattr(proto, "allow_html", False), f"{what}: unsafe_allow_html on {element.type}"
    for markdown in rendered_markdown(at):
        plain = without_code_spans(markdown)
        for pattern in UNESCAPED:
            match = pattern.search(plain)
            assert match is None, f"{what}: unescaped {match.group(0)!r} in markdown {markdown[:300]!r}"


def shown_text(at: AppTest) -> str:
    return "\n".join(v for e in elements(at._tree) if isinstance(v := getattr(e, "value", None), str))


def search_total(at: AppTest) -> int:
    if any("No document matches" in i.value for i in at.info):
        return 0
    for caption in at.caption:
        if m := re.match(r"([\d,]+) matching documents", caption.value):
            return int(m.group(1).replace(",", ""))
        if m := re.search(r"([\d,]+) documents? match", caption.value):
            return int(m.group(1).replace(",", ""))
    raise AssertionError(f"no result count shown: {[c.value for c in at.caption]}")


# --------------------------------------------------------------------------------------------- text inputs


def test_search_boxes(env, docs):
    at = page("search")
    assert_safe(at, "search")
    for key in ("f_domain", "f_url", "f_text"):
        for value in [*HOSTILE, BIG]:
            at.text_input(key=key).set_value(value).run()
            assert_safe(at, f"search {key}={value[:20]!r}")
            if key == "f_url" and value is not BIG:  # a literal, case-insensitive substring: % and _ are no wildcards
                expected = docs.filter(pl.col("url").str.to_lowercase().str.contains(value.lower(), literal=True))
                assert search_total(at) == expected.height, value
            elif key == "f_text":  # ranked words (BM25): only the hostile pages hold words like 'OR', 'script'
                assert at.warning or search_total(at) in (0, len(PAYLOAD_URLS)), value
            else:
                assert at.warning or search_total(at) == 0, value
        at.text_input(key=key).input("").run()


def test_document_id_box_and_deep_link(env):
    for value in [*HOSTILE, BIG]:
        at = page("document", doc=value)
        assert_safe(at, f"?doc={value[:20]!r}")
        if value is BIG:  # Streamlit drops a query string over 512k characters: the page asks for an id
            assert at.info and not at.warning
        else:
            assert any("No document and no ledger row" in w.value for w in at.warning), value
        at = page("document")
        at.text_input(key="doc_id").set_value(value).run()
        assert_safe(at, f"doc_id={value[:20]!r}")
        assert not at.success and at.warning  # nothing found: no "In the training data"


def test_am_i_in_boxes(env):
    at = page("am_i_in")
    for key, widget in (("q_domain", "text_input"), ("q_url", "text_input"), ("q_text", "text_area")):
        for value in [*HOSTILE, BIG]:
            getattr(at, widget)(key=key).set_value(value).run()
            assert_safe(at, f"am_i_in {key}={value[:20]!r}")
            if key == "q_domain":
                assert not at.success, value  # no hostile string is a domain of this release
        getattr(at, widget)(key=key).input("").run()


def test_compliance_drill_down_box(env):
    at = page("compliance")
    assert_safe(at, "compliance")
    for value in [*HOSTILE, BIG]:
        at.text_input(key="optout_domain").set_value(value).run()
        assert_safe(at, f"optout_domain={value[:20]!r}")


def test_rights_holder_check_boxes(env):
    at = page("rights_holder")
    assert_safe(at, "rights_holder")
    for kind, widget, key in (("domain", "text_input", "rh_domain"), ("url", "text_input", "rh_url"),
                              ("text", "text_area", "rh_text")):  # fmt: skip
        at.radio(key="rh_kind").set_value(kind).run()
        for value in [*HOSTILE, BIG]:
            getattr(at, widget)(key=key).set_value(value).run()
            assert_safe(at, f"rights_holder {key}={value[:20]!r}")


def test_rights_holder_request_form_writes_only_the_registry(env):
    root, _ = env
    at = page("rights_holder")
    at.selectbox(key="rh_req_kind").set_value("domain")
    at.text_input(key="rh_req_value").input("evil.test")
    at.text_input(key="rh_req_name").input("Evil' OR 1=1 -- Ltd; DROP TABLE documents")
    at.text_input(key="rh_req_contact").input("legal@evil.test")
    at.text_area(key="rh_req_note").input("[x](javascript:alert(1)) <img src=x onerror=alert(2)> $x^2$")
    (submit,) = [b for b in at.button if b.label == "File the opt-out request"]
    submit.click().run()
    assert_safe(at, "request form")
    for value in (BIG, "../../etc/passwd", "'; DROP TABLE documents; --"):  # refused with a message, or filed
        at.text_area(key="rh_req_note").set_value(value)  # set_value: past max_chars, as a crafted client could
        at.text_input(key="rh_req_value").set_value(value)
        submit.click().run()
        assert_safe(at, f"request form {value[:20]!r}")
    written = [p for p in root.rglob("*") if p.is_file() and "registry" in p.relative_to(root).parts]
    assert written, "the filed request is in the registry"


# --------------------------------------------------------------------------------------------- hostile data


@pytest.mark.parametrize(
    "name", ["overview", "search", "removals", "compliance", "dedup", "releases", "rights_holder", "am_i_in"]
)
def test_every_page_renders_hostile_data_as_text(env, name):
    at = page(name)
    assert_safe(at, name)
    if name == "rights_holder":
        at.radio(key="rh_kind").set_value("domain").run()
        at.text_input(key="rh_domain").input("evil.test").run()
        assert_safe(at, "rights_holder evil.test")
    if name == "am_i_in":
        at.text_input(key="q_domain").input("evil.test").run()
        assert_safe(at, "am_i_in evil.test")
        assert at.success  # the hostile pages are in this release
        at.text_input(key="q_url").input(PAYLOAD_URLS[1]).run()
        assert_safe(at, "am_i_in hostile url")
        at.text_area(key="q_text").input(PAYLOAD_TEXT).run()
        assert_safe(at, "am_i_in payload text")
        assert len(at.success) >= 1
    if name == "search":
        at.text_input(key="f_text").input("hostile onerror markup").run()
        assert_safe(at, "search payload words")  # snippets: escaped, matched words in bold
        at.text_input(key="f_text").input("").run()
        at.text_input(key="f_domain").input("evil.test").run()
        assert_safe(at, "search evil.test")
        assert search_total(at) == len(PAYLOAD_URLS)


def test_the_document_view_shows_hostile_data_as_text(env, docs):
    for url in PAYLOAD_URLS:
        doc_id = docs.filter(pl.col("url") == url)["id"][0]
        at = page("document", doc=doc_id)
        assert_safe(at, url)
        assert at.success  # found and kept
        shown = shown_text(at)
        assert url in shown and any(" ".join(PAYLOAD_TEXT.split()) in " ".join(c.value.split()) for c in at.code)
        (subheader,) = at.subheader
        assert subheader.value != PAYLOAD_TITLE and "\\<script\\>" in subheader.value  # Markdown-escaped


def test_the_entrypoint_lists_an_html_named_release_as_text(env):
    at = AppTest.from_file(str(APP / "app.py"), default_timeout=30).run()
    assert_safe(at, "app.py")
    (picker,) = at.selectbox
    assert f"releases/{HTML_DIR}" in picker.options
    picker.set_value(f"releases/{HTML_DIR}").run()
    assert_safe(at, "app.py html release")


# --------------------------------------------------------------------------------------------- release paths


def _refused(at: AppTest, what: str) -> None:
    assert_safe(at, what)
    refusals = ("cannot be opened", "No release", "outside this app's data directory", "no release", "not valid")
    assert any(any(r in e.value for r in refusals) for e in at.error), (
        what, [e.value for e in at.error], [m.value for m in at.markdown][:3]
    )  # fmt: skip


def _traversals(root: Path, release: Path, outside: Path) -> dict[str, str]:
    link = root / "link_out"
    if not link.exists():
        os.symlink(outside, link)
    return {
        "dotdot_etc": "../../../../../../etc",
        "dotdot_passwd": "../../etc/passwd",
        "release_then_up": "releases/hostile/../../..",
        "absolute_etc": "/etc",
        "absolute_outside": str(outside),
        "home": "~",
        "symlink_out_of_root": "link_out",
        "nul": "releases/hostile\x00/../../..",
        "url_encoded": "%2e%2e/%2e%2e/etc",
        "huge": "../" * 300_000,
        "a_file": "releases/hostile/manifest.json",
        "table_dir": "releases/hostile/documents",
    }


@pytest.mark.parametrize("how", ["session_state", "env"])
def test_release_selection_cannot_leave_the_data_root(env, data_root, monkeypatch, how):
    root, release, outside = data_root
    for name, value in _traversals(root, release, outside).items():
        at = AppTest.from_file(str(APP / "views" / "overview.py"), default_timeout=30)
        if how == "session_state":
            at.session_state["release"] = value
        elif "\x00" in value:
            continue  # an environment variable cannot hold a NUL
        else:
            monkeypatch.setenv("APERTURA_RELEASE", value)
        _refused(at.run(), f"{how} {name}")


def _bad_release(root: Path, release: Path, outside: Path, kind: str) -> str:
    """A copy of the release inside the root with one crafted defect; returns its path relative to the root."""
    copy = root / "bad" / kind
    if copy.exists():
        return str(copy.relative_to(root))
    shutil.copytree(release, copy, ignore=shutil.ignore_patterns("index"))
    manifest_path = copy / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    part = next(f for f in manifest["files"] if f["table"] == "documents")
    if kind == "part_symlink_out":
        target = next((outside / "documents").glob("*.parquet"))
        os.symlink(target, copy / "documents" / "part-00099.parquet")
        manifest["files"].append({**part, "path": "documents/part-00099.parquet"})
    elif kind == "part_dotdot":
        manifest["files"].append({**part, "path": "documents/../../../outside_release/documents/part-00000.parquet"})
    elif kind == "part_absolute":
        manifest["files"].append({**part, "path": str(next((outside / "documents").glob("*.parquet")))})
    elif kind == "files_not_a_list":
        manifest["files"] = "documents/part-00000.parquet"
    elif kind == "files_null":
        manifest["files"] = None
    elif kind == "array":
        manifest = [1, 2]
    if kind == "not_utf8":
        manifest_path.write_bytes(b"\xff\xfe{garbage")
    elif kind == "truncated":
        manifest_path.write_text(json.dumps(manifest)[:200])
    else:
        manifest_path.write_text(json.dumps(manifest))
    return str(copy.relative_to(root))


BAD_KINDS = [
    "part_symlink_out",
    "part_dotdot",
    "part_absolute",
    "files_not_a_list",
    "files_null",
    "array",
    "not_utf8",
    "truncated",
]


@pytest.mark.parametrize("kind", BAD_KINDS)
def test_a_crafted_release_is_refused(env, data_root, kind):
    root, release, outside = data_root
    at = AppTest.from_file(str(APP / "views" / "document.py"), default_timeout=30)
    at.session_state["release"] = _bad_release(root, release, outside, kind)
    at.query_params["doc"] = "decoy"
    _refused(at.run(), kind)


# --------------------------------------------------------------------------------------------- concurrency


def test_the_entrypoint_imports_pandas_before_any_page_runs():
    """Runs the entrypoint's top-level imports in a fresh interpreter: pandas must then be fully imported."""
    tree = ast.parse((APP / "app.py").read_text())
    imports = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom | ast.Try)]
    probe = ast.unparse(ast.Module(body=imports, type_ignores=[])).replace("__file__", repr(str(APP / "app.py")))
    probe += "\nimport sys\nm = sys.modules.get('pandas')\nprint(m is not None and hasattr(m, 'Timestamp'))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True"

"""The opt-out compliance page, the document view's opt-out signals and payload digest re-check, and the
opt-out answer of "Am I in the training data?", on releases built here with known ground truth.

The base is the session's pipeline-built release (documents and ledger). On top of it: three records removed
for opt-out (ledger stage 'optout', no text), each with a 'reserved' evidence row; policy files for their site
and for the hostile page's site; an 'allowed' statement about one kept document. Ground truth: 0 violations. A
tampered copy adds a kept document carrying one reserved id: 1 violation. A format 1 copy has no evidence.
"""

from __future__ import annotations

import copy
import hashlib
import json
import shutil
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest
from streamlit.testing.v1 import AppTest

from audit_app import queries, source
from pipeline.release_read import table_files
from pipeline.tables import conform
from pipeline.url_identity import url_key
from tests.app.conftest import HOSTILE_URL
from tests.app.test_pages import HOSTILE, assert_no_raw_html, texts
from tests.helpers.warcs import Page, record_spans, write_warc

APP = Path(__file__).resolve().parents[2] / "audit_app"
AGENTS = ["GPTBot", "CCBot", "Google-Extended"]
OPTOUT_SITE = "optout.test"
# (id, url, signal, reason, rule) of the three records removed for opt-out.
OPTED_OUT = [
    ("0000000000000000-1", "http://optout.test/a", "robots", "optout_robots", "Disallow: / (group 'GPTBot')"),
    ("0000000000000000-2", "http://optout.test/b", "tdmrep", "optout_tdmrep", "tdm-reservation: 1"),
    ("0000000000000000-3", "http://www.optout.test/c", "noai", "optout_noai", "X-Robots-Tag: noai"),
]


def page(name: str, **query_params: str) -> AppTest:
    at = AppTest.from_file(str(APP / "views" / f"{name}.py"), default_timeout=30)
    for key, value in query_params.items():
        at.query_params[key] = value
    return at.run()


def table(at: AppTest, *, kind: str | None = None, columns: tuple[str, ...] = ()):
    """The first dataframe shown with all these columns (and, for evidence, rows of this `kind` only): a keyed
    st.dataframe is only findable by key when it is selectable (streamlit 1.67)."""
    for frame in (d.value for d in at.dataframe):
        if set(columns) <= set(frame.columns) and (kind is None or ("kind" in frame and (frame["kind"] == kind).all())):
            return frame
    raise AssertionError(f"no table with {columns} {kind or ''}")


def recheck_table(at: AppTest) -> dict[str, str]:
    """The re-check's values table (columns exactly field, value) as a dict."""
    frame = next(d.value for d in at.dataframe if list(d.value.columns) == ["field", "value"])
    return dict(zip(frame["field"], frame["value"], strict=True))


def write_release(root: Path, name: str, manifest: dict, frames: dict[str, pl.DataFrame]) -> Path:
    """A release directory `root/releases/<name>`: one Parquet part per table (schema from `schemas/`) and
    the manifest with its files list (and sha256) rewritten to match."""
    out = root / "releases" / name
    out.mkdir(parents=True)
    files = []
    for table, frame in frames.items():
        rel = f"{table}/part-00000.parquet"
        (out / table).mkdir()
        pq.write_table(conform(frame, table), out / rel)
        digest = hashlib.sha256((out / rel).read_bytes()).hexdigest()
        files.append({"path": rel, "table": table, "rows": frame.height, "schema_version": 1, "sha256": digest})
    manifest = {**manifest, "release_id": name, "files": sorted(files, key=lambda f: f["path"])}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return out


def evidence_rows(docs: pl.DataFrame, hostile_source: tuple[str, int, int]) -> pl.DataFrame:
    """Policy files of optout.test and evil.test, a reserved decision per opted-out record, and an 'allowed'
    statement about the kept hostile page."""
    hostile = docs.filter(pl.col("url") == HOSTILE_URL).row(0, named=True)
    common = {"pipeline_version": "test", "config_hash": hostile["config_hash"], "fetched_at": "2025-01-02T03:04:05Z"}
    rows = [
        {"kind": "policy_file", "url": "http://optout.test/robots.txt", "domain": OPTOUT_SITE, "origin": OPTOUT_SITE,
         "signal": "robots.txt", "verdict": "observed", "rule": "2 groups", "raw": "User-agent: GPTBot\nDisallow: /",
         "http_status": 200, "source_file": hostile_source[0], "source_id": "policy-1",
         "source_offset": hostile_source[1], "source_length": hostile_source[2]},
        {"kind": "policy_file", "url": "http://optout.test/.well-known/tdmrep.json", "domain": OPTOUT_SITE,
         "origin": OPTOUT_SITE, "signal": "tdmrep.json", "verdict": "not_found", "http_status": 404},
        {"kind": "policy_file", "url": "http://evil.test/robots.txt", "domain": "evil.test", "origin": "evil.test",
         "signal": "robots.txt", "verdict": "observed", "rule": "no group for the honoured agents",
         "raw": "User-agent: *\nAllow: /", "http_status": 200, "source_file": hostile_source[0],
         "source_id": "policy-2", "source_offset": hostile_source[1], "source_length": hostile_source[2]},
        {"kind": "document", "document_id": hostile["id"], "url": HOSTILE_URL, "domain": "evil.test",
         "origin": "evil.test", "signal": "noai", "agents": AGENTS, "verdict": "allowed",
         "rule": "<meta name=robots content=index> (no noai)", "raw": "<meta name='robots' content='index'>"},
    ]  # fmt: skip
    for doc_id, url, signal, _, rule in OPTED_OUT:
        host = url.split("/")[2]
        rows.append(
            {"kind": "document", "document_id": doc_id, "url": url, "domain": OPTOUT_SITE, "origin": host,
             "signal": signal, "agents": AGENTS[:1], "verdict": "reserved", "rule": rule, "raw": rule,
             "raw_sha256": hashlib.sha256(rule.encode()).hexdigest(), "http_status": 200}
        )  # fmt: skip
    return pl.DataFrame([{**common, **r} for r in rows], infer_schema_length=None)


def optout_ledger(ledger: pl.DataFrame) -> pl.DataFrame:
    """The base ledger plus the three opt-out removals (copies of a ledger row, never with text)."""
    template = ledger.row(0, named=True)
    rows = [
        {**template, "id": doc_id, "url": url, "url_key": url_key(url), "domain": OPTOUT_SITE, "stage": "optout",
         "reason": reason,
         "detail": rule, "duplicate_of": None, "title": None, "text": None, "text_sha256": None, "norm_sha256": None,
         "language": None, "language_score": None}
        for doc_id, url, _, reason, rule in OPTED_OUT
    ]  # fmt: skip
    return pl.concat([ledger, pl.DataFrame(rows, schema=ledger.schema)])


def optout_manifest(base: dict) -> dict:
    manifest = copy.deepcopy(base)
    manifest["format_version"] = 2
    counts = manifest["counts"]
    counts["inputs"] += len(OPTED_OUT)
    counts["removed"] += len(OPTED_OUT)
    counts["removed_by_stage"]["optout"] = {reason: 1 for _, _, _, reason, _ in OPTED_OUT}
    manifest["optout"] = {
        "enabled": True,
        "agents": AGENTS,
        "snapshots": [{"path": "snapshots/robots-2025.warc.gz", "sha256": "0" * 64, "bytes": 123}],
        "policy_files": 3,
        "origins": 2,
        "removed": len(OPTED_OUT),
        "removed_by_signal": {"robots": 1, "tdmrep": 1, "noai": 1},
    }
    return manifest


@pytest.fixture(scope="module")
def optout_root(app_release, tmp_path_factory) -> dict[str, Path]:
    """A data root with three releases: `optout` (0 violations), `tampered` (1) and `format1` (no evidence).
    The hostile page's WARC is copied in, so its record can be reopened from inside the root."""
    base_root, release, manifest, _ = app_release
    root = tmp_path_factory.mktemp("optout_root")
    docs = pl.read_parquet(table_files(release, manifest, "documents"))
    ledger = pl.read_parquet(table_files(release, manifest, "ledger"))
    signatures = pl.read_parquet(table_files(release, manifest, "signatures"))
    hostile = docs.filter(pl.col("url") == HOSTILE_URL).row(0, named=True)
    hostile_source = (hostile["file_path"], hostile["warc_record_offset"], hostile["warc_record_length"])
    evidence = evidence_rows(docs, hostile_source)
    ledger2 = optout_ledger(ledger)
    manifest2 = optout_manifest(manifest)
    frames = {"documents": docs, "ledger": ledger2, "signatures": signatures, "optout_evidence": evidence}
    out = {"optout": write_release(root, "optout", manifest2, frames)}
    # Tampered: a kept document carrying the id of a reserved record (and another URL), as if re-added.
    tampered_doc = (
        docs.filter(pl.col("url") != HOSTILE_URL)
        .head(1)
        .with_columns(pl.lit(OPTED_OUT[1][0]).alias("id"), pl.lit("http://optout.test/b-copy").alias("url"))
    )
    tampered = {**frames, "documents": pl.concat([docs, tampered_doc])}
    out["tampered"] = write_release(root, "tampered", manifest2, tampered)
    manifest1 = {k: v for k, v in copy.deepcopy(manifest).items() if k != "optout"}
    manifest1["format_version"] = 1
    out["format1"] = write_release(
        root, "format1", manifest1, {"documents": docs, "ledger": ledger, "signatures": signatures}
    )
    out["root"] = root
    assert Path(hostile["file_path"]).is_relative_to(base_root)
    return out


@pytest.fixture
def use_release(optout_root, monkeypatch):
    def use(name: str) -> Path:
        monkeypatch.setenv(queries.DATA_ROOT_ENV, str(optout_root["root"]))
        monkeypatch.setenv("APERTURA_RELEASE", f"releases/{name}")
        return optout_root[name]

    return use


# ------------------------------------------------------------------------------------------ queries


def test_violation_queries_count_ground_truth(optout_root):
    root = optout_root["root"]
    rel = queries.open_release(optout_root["optout"], root)
    result = queries.optout_violations(rel)
    assert (result["violations"], result["by_reserved_id"], result["by_removed_url"]) == (0, 0, 0)
    assert result["sql"] == queries.VIOLATIONS_SQL
    info = queries.optout_info(rel)
    assert (info["removed"], info["reserved_documents"], info["policy_files"], info["policy_origins"]) == (3, 3, 3, 2)
    removed = queries.optout_removed(rel)
    assert removed["records"].to_list() == removed["manifest"].to_list() == [1, 1, 1]

    bad = queries.open_release(optout_root["tampered"], root)
    result = queries.optout_violations(bad)
    assert (result["violations"], result["by_reserved_id"], result["by_removed_url"]) == (1, 1, 0)
    assert result["rows"]["id"].to_list() == [OPTED_OUT[1][0]]

    old = queries.open_release(optout_root["format1"], root)
    assert not old.has_optout_evidence
    assert queries.optout_violations(old)["violations"] == 0
    assert queries.optout_signals(old).height == 0


def test_a_format1_release_may_not_list_evidence_files(optout_root, tmp_path):
    """Format 1 has no optout_evidence table: a manifest listing one is refused, not silently read."""
    shutil.copytree(optout_root["optout"], tmp_path / "r")
    manifest = json.loads((tmp_path / "r" / "manifest.json").read_text())
    manifest["format_version"] = 1
    (tmp_path / "r" / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(queries.ReleaseAccessError, match="unexpected table 'optout_evidence'"):
        queries.open_release(tmp_path / "r", tmp_path)


# ------------------------------------------------------------------------------------------ compliance page


def test_compliance_page_proves_zero_violations(use_release):
    use_release("optout")
    at = page("compliance")
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Violations"] == "0"
    assert metrics["Removed for opt-out"] == "3"
    assert metrics["Reserved records"] == "3"
    assert metrics["Policy files"] == "3"
    assert "0 violations" in at.success[0].value
    sql_blocks = [c.value for c in at.code if c.language == "sql"]
    assert sql_blocks == [queries.VIOLATIONS_SQL]  # the very string that was executed
    assert ", ".join(AGENTS) in [c.value for c in at.code]  # the agents honoured, from the manifest
    assert len(at.get("vega_lite_chart")) == 1
    tables = [d.value for d in at.dataframe]
    signals = next(t for t in tables if "verdict" in t.columns and "rows" in t.columns)
    reserved = signals[(signals["kind"] == "document") & (signals["verdict"] == "reserved")]
    assert sorted(reserved["signal"]) == ["noai", "robots", "tdmrep"]
    removed = next(t for t in tables if "manifest" in t.columns)
    assert sorted(removed["reason"]) == ["optout_noai", "optout_robots", "optout_tdmrep"]
    assert not at.error  # the ledger agrees with the manifest
    assert len(at.get("download_button")) >= 8  # CSV + Parquet for snapshots, signals, removed, origins
    assert_no_raw_html(at)


def test_compliance_drill_down_per_domain(use_release):
    use_release("optout")
    at = page("compliance")
    at.text_input(key="optout_domain").input("www.optout.test").run()
    assert not at.exception
    assert "3 records removed for opt-out" in texts(at) and "0 documents in the release" in texts(at)
    policy = table(at, kind="policy_file", columns=("kind",))
    assert sorted(policy["signal"]) == ["robots.txt", "tdmrep.json"]
    assert sorted(policy["verdict"]) == ["not_found", "observed"]
    decisions = table(at, kind="document", columns=("kind",))
    assert sorted(decisions["rule"]) == sorted(rule for *_, rule in OPTED_OUT)
    assert set(decisions["agents"]) == {"GPTBot"}  # lists shown joined
    removed = table(at, columns=("stage", "reason"))
    assert sorted(removed["reason"]) == ["optout_noai", "optout_robots", "optout_tdmrep"]
    for hostile in HOSTILE:
        at.text_input(key="optout_domain").input(hostile).run()
        assert not at.exception, hostile
    assert_no_raw_html(at)


def test_compliance_page_shows_a_violation(use_release):
    use_release("tampered")
    at = page("compliance")
    assert not at.exception
    assert {m.label: m.value for m in at.metric}["Violations"] == "1"
    assert "1 document in this release matches an opt-out" in at.error[0].value
    rows = table(at, columns=("reserved_id", "removed_url"))
    assert rows["url"].tolist() == ["http://optout.test/b-copy"]
    assert [c.value for c in at.code if c.language == "sql"] == [queries.VIOLATIONS_SQL]


def test_compliance_page_on_a_format1_release(use_release):
    use_release("format1")
    at = page("compliance")
    assert not at.exception
    assert "predates opt-out evidence" in at.info[0].value
    assert {m.label: m.value for m in at.metric}["Violations"] == "0"
    assert "Not recorded" in texts(at)

    at = page("document", doc=OPTED_OUT[0][0])
    assert not at.exception and "No document and no ledger row" in at.warning[0].value
    at = page("am_i_in")
    at.text_input(key="q_domain").input("evil.test").run()
    assert not at.exception and not at.warning


# ------------------------------------------------------------------------------------------ other pages


def test_am_i_in_says_a_site_opted_out(use_release):
    use_release("optout")
    at = page("am_i_in")
    at.text_input(key="q_domain").input(OPTOUT_SITE).run()
    assert not at.exception
    # an honoured opt-out is no error: a neutral box
    assert "Not in the training data: all 3 records" in at.info[0].value.replace("\\", "")
    assert "Left out as the rights holder asked** (3 records)" in texts(at)
    lines = texts(at)
    for _, _, signal, _, rule in OPTED_OUT:
        assert f"signal `{signal}`, rule `{rule}`" in lines

    at = page("am_i_in")
    at.text_input(key="q_url").input("optout.test/b").run()
    assert not at.exception
    assert "Left out as the rights holder asked** (1 record)" in texts(at)
    assert "signal `tdmrep`, rule `tdm-reservation: 1`" in texts(at)
    at.text_input(key="q_url").input(HOSTILE_URL).run()
    assert "Left out as the rights holder asked" not in texts(at)  # kept, and its 'allowed' statement is no opt-out


def test_document_page_opt_out_signals(use_release, optout_root):
    use_release("optout")
    at = page("document", doc=OPTED_OUT[0][0])
    assert not at.exception
    assert "Opted out: 1 signal reserved this record" in at.error[1].value
    assert "rule `Disallow: / (group 'GPTBot')`" in texts(at)
    evidence = table(at, kind="document", columns=("kind",))
    assert evidence["verdict"].tolist() == ["reserved"] and evidence["source_id"].isna().all()
    policy = table(at, kind="policy_file", columns=("kind",))
    assert policy["url"].tolist() == ["http://optout.test/robots.txt", "http://optout.test/.well-known/tdmrep.json"]
    assert "policy-1" in policy["source_id"].tolist()  # the WARC record of the policy file

    docs = pl.read_parquet(optout_root["optout"] / "documents")
    hostile_id = docs.filter(pl.col("url") == HOSTILE_URL)["id"][0]
    at = page("document", doc=hostile_id)
    assert "none reserved it" in at.success[1].value
    assert table(at, kind="policy_file", columns=("kind",))["url"].tolist() == ["http://evil.test/robots.txt"]
    assert "<meta name='robots' content='index'>" in [c.value for c in at.code]  # raw statement, as text
    at.button(key="recheck_policy").click().run()  # policy file records can be re-checked too; this one lies
    assert not at.exception  # in the pipeline test's data root, not in this one: refused, never read
    assert any("outside the data directory" in w.value for w in at.warning)
    assert_no_raw_html(at)


# ------------------------------------------------------------------------------------------ digest re-check


@pytest.fixture
def plain_source(optout_root, tmp_path_factory):
    """A data root holding an uncompressed WARC (so one flipped payload byte changes the digest, not the gzip
    framing) and a release whose hostile document points at that record."""
    root = tmp_path_factory.mktemp("digest_root")
    base = optout_root["optout"]
    manifest = json.loads((base / "manifest.json").read_text())
    frames = {t: pl.read_parquet(base / t) for t in ("documents", "ledger", "signatures", "optout_evidence")}
    warc = root / "inputs" / "plain.warc"
    warc.parent.mkdir()
    body = "<html><body><p>The source bytes of a document, re-checked live.</p></body></html>"
    (offset,) = write_warc(warc, [Page("http://plain.test/doc", body)], gzip=False)
    length = next(n for start, n, kind in record_spans(warc) if start == offset and kind == "response")
    found = source.recheck(str(warc), offset, length, root=root)
    docs = frames["documents"]
    doc = docs.filter(pl.col("url") == HOSTILE_URL).with_columns(
        pl.lit("plainplainplain0-1").alias("id"), pl.lit(str(warc)).alias("file_path"),
        pl.lit(offset).cast(pl.Int64).alias("warc_record_offset"),
        pl.lit(length).cast(pl.Int64).alias("warc_record_length"),
        pl.lit(found.stored_digest).alias("warc_payload_digest"), pl.lit(found.record_id).alias("warc_record_id"),
        pl.lit(found.record_url).alias("url"),  # the row names the record it points at: same id, URL, digest
    )  # fmt: skip
    outside = docs.filter(pl.col("url") == HOSTILE_URL).with_columns(
        pl.lit("outside000000000-1").alias("id"), pl.lit("/etc/passwd").alias("file_path")
    )
    frames["documents"] = pl.concat([docs, doc, outside])
    write_release(root, "plain", manifest, frames)
    return {"root": root, "warc": warc, "body": body.encode()}


def recheck_page(root: Path, doc_id: str, monkeypatch) -> AppTest:
    monkeypatch.setenv(queries.DATA_ROOT_ENV, str(root))
    monkeypatch.setenv("APERTURA_RELEASE", "releases/plain")
    at = page("document", doc=doc_id)
    at.button(key="recheck").click().run()
    assert not at.exception
    return at


def test_digest_recheck_ok_mismatch_unreachable(plain_source, monkeypatch):
    root, warc = plain_source["root"], plain_source["warc"]
    at = recheck_page(root, "plainplainplain0-1", monkeypatch)
    assert any("match its stored digest" in s.value for s in at.success)
    fields = recheck_table(at)
    assert fields["digest recomputed now"] == fields["digest in the record (stored)"] == fields["digest in the release"]

    data = bytearray(warc.read_bytes())
    at_byte = data.index(b"re-checked live")
    data[at_byte] ^= 0x20  # 'r' -> 'R': one flipped bit in the payload
    warc.write_bytes(bytes(data))
    at = recheck_page(root, "plainplainplain0-1", monkeypatch)
    assert any("MISMATCH" in e.value for e in at.error)
    fields = recheck_table(at)
    assert fields["digest recomputed now"] != fields["digest in the record (stored)"]

    warc.unlink()
    at = recheck_page(root, "plainplainplain0-1", monkeypatch)
    assert any("Source not reachable" in w.value for w in at.warning)
    assert any("source not reachable" in c.value for c in at.code)


def test_digest_recheck_refuses_files_outside_the_data_root(plain_source, monkeypatch):
    at = recheck_page(plain_source["root"], "outside000000000-1", monkeypatch)
    assert any("outside the data directory" in w.value for w in at.warning)
    assert any("/etc/passwd" in c.value and "not opened" in c.value for c in at.code)


def test_digest_recheck_of_the_pipeline_release(app_env, app_release):
    """On the untouched pipeline-built release: the hostile page's gzip WARC lies inside the data root."""
    docs = pl.read_parquet(table_files(app_release[1], app_release[2], "documents"))
    doc_id = docs.filter(pl.col("url") == HOSTILE_URL)["id"][0]
    at = page("document", doc=doc_id)
    at.button(key="recheck").click().run()
    assert not at.exception
    assert any("match its stored digest" in s.value for s in at.success)


def test_confine_rejects_escapes(tmp_path):
    (tmp_path / "inside").mkdir()
    (tmp_path / "link").symlink_to("/etc")
    for bad in ("/etc/passwd", "../x.warc", "link/passwd", "http://example.org/a.warc.gz", "", "a\x00b"):
        with pytest.raises(source.SourceAccessError):
            source.confine(bad, tmp_path)
    assert source.confine("inside/a.warc", tmp_path) == tmp_path.resolve() / "inside" / "a.warc"
    huge = source.recheck(str(tmp_path / "inside" / "a.warc"), 0, 1 << 40, root=tmp_path)
    assert huge.status == "damaged"


def test_recheck_of_a_damaged_gzip_record(app_release, tmp_path):
    """A flipped byte inside a gzip member is caught too: the record no longer decompresses or no longer
    has its digest. Either way the check does not pass and says why, without raising."""
    root, release, manifest, _ = app_release
    docs = pl.read_parquet(table_files(release, manifest, "documents"))
    row = docs.filter(pl.col("url") == HOSTILE_URL).row(0, named=True)
    copy_path = tmp_path / "hostile.warc.gz"
    data = bytearray(Path(row["file_path"]).read_bytes())
    offset, length = row["warc_record_offset"], row["warc_record_length"]
    assert source.recheck(row["file_path"], offset, length, root=root).ok
    data[offset + length // 2] ^= 0xFF
    copy_path.write_bytes(bytes(data))
    result = source.recheck(str(copy_path), offset, length, root=tmp_path)
    assert result.status in ("damaged", "mismatch") and not result.ok
    assert result.message

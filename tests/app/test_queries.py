"""The app's query layer against a real release: counts agree with what DuckDB/Polars read from the Parquet
directly, planted pages have the fate they were built for, user input cannot inject SQL or wildcards, and the
connection can read nothing but the release's own files."""

from __future__ import annotations

import json
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb
import polars as pl
import pytest

from audit_app import queries
from pipeline.index import answer as engine
from pipeline.release_read import table_files
from pipeline.text_identity import normalise_text, text_sha256
from tests.app.conftest import HOSTILE_TEXT, HOSTILE_URL, OLD_DATE, OLD_URL, PII_URL, unredacted
from tests.helpers.text_identity import zero_width

HOSTILE_INPUTS = [
    "' OR 1=1 --",
    "'; DROP TABLE documents; --",
    '" OR ""="',
    "%",
    "_",
    "%%",
    "\\",
    "$1",
    "?",
    "<script>alert(1)</script>",
    "../../etc/passwd",
    "\x00",
    "x" * 5_000,
]


@pytest.fixture(scope="module")
def docs(app_release) -> pl.DataFrame:
    _, release, manifest, _ = app_release
    return pl.read_parquet(table_files(release, manifest, "documents"))


@pytest.fixture(scope="module")
def ledger(app_release) -> pl.DataFrame:
    _, release, manifest, _ = app_release
    return pl.read_parquet(table_files(release, manifest, "ledger"))


# --- counts agree with the Parquet, read independently ------------------------------------------------


def test_overview_counts_equal_the_parquet(rel, docs, ledger, app_release):
    manifest = app_release[2]
    ov = queries.overview(rel)
    assert ov["documents"] == docs.height == manifest["counts"]["kept"]
    assert ov["removed"] == ledger.height == manifest["counts"]["removed"]
    assert ov["words"] == docs["word_count"].sum()
    assert ov["approx_tokens"] == round(docs["word_count"].sum() * queries.TOKENS_PER_WORD)
    assert queries.text_bytes(rel) == sum(len(t.encode("utf-8")) for t in docs["text"])
    assert ov["domains"] == docs["domain"].n_unique()
    assert ov["languages"] == docs["language"].n_unique()
    assert ov["first_date"] == OLD_DATE


def test_breakdowns_equal_the_parquet(rel, docs, app_release):
    _, release, manifest, _ = app_release
    langs = queries.languages(rel)
    expected = docs.group_by("language").len("documents")
    assert dict(langs.select("language", "documents").iter_rows()) == dict(expected.iter_rows())
    assert langs["documents"].is_sorted(descending=True)

    top = queries.top_domains(rel, limit=3)
    assert top.height == 3
    counted = duckdb.sql(
        "select domain, count(*) from read_parquet($f) group by 1",
        params={"f": table_files(release, manifest, "documents")},
    ).fetchall()
    assert all(dict(counted)[d] == n for d, n in top.iter_rows())
    assert top["documents"][0] == max(n for _, n in counted)

    assert dict(queries.tlds(rel).iter_rows()) == {"test": docs.height}

    days = dict(queries.crawl_dates(rel, "day").iter_rows())
    assert days == dict(docs.group_by(pl.col("date").str.slice(0, 10)).len().iter_rows())
    months = dict(queries.crawl_dates(rel, "month").iter_rows())
    assert months["2024-06"] == 1 and sum(months.values()) == docs.height


def test_funnel_follows_the_manifest(rel, app_release):
    counts = app_release[2]["counts"]
    funnel = queries.funnel(rel)
    assert funnel["records"][0] == counts["inputs"]
    assert funnel["records"][-1] == counts["kept"]
    assert funnel["removed"].sum() == counts["removed"]
    assert funnel["records"].is_sorted(descending=True)


def test_ledger_summary_equals_ledger_and_manifest(rel, ledger, app_release):
    summary = queries.ledger_summary(rel)
    expected = {(s, r): n for s, r, n in ledger.group_by("stage", "reason").len().iter_rows()}
    assert {(s, r): n for s, r, n, _ in summary.iter_rows()} == expected
    assert summary["records"].to_list() == summary["manifest"].to_list()
    examples = queries.ledger_examples(rel, stage="quality", reason="gopher_short_doc")
    assert examples["total"] == 1
    assert examples["rows"]["url"].to_list() == ["http://en.blog.test/short"]
    assert examples["rows"]["detail"][0].startswith("words=")


def test_verify_files_passes_on_an_intact_release(rel):
    assert queries.verify_files(rel) == {"ok": True, "problems": [], "files": len(rel.manifest["files"])}


# --- the planted corpus, page by page --------------------------------------------------------------


def ask(rel, kind: str, value: str, **options) -> engine.Answer:
    """The membership engine's answer from the release's tables (no index: a text is matched exactly/verbatim)."""
    return engine.answer(rel, engine.validate(kind, value, **options))


def test_every_planted_url_has_its_planted_fate(rel, app_release):
    expect = app_release[3]
    for url, outcome in expect.items():
        found = ask(rel, "url", url)
        if outcome.stage is None:
            assert found.verdict == "in", url
            assert found.document_rows["language"].to_list() == [outcome.language]
        else:
            assert (found.verdict, found.documents) == ("not in", 0) and found.removed, url
            row = found.ledger_rows.row(0, named=True)
            assert (row["stage"], row["reason"]) == (outcome.stage, outcome.reason), url
            if outcome.duplicate_of:
                assert row["duplicate_of_url"] == outcome.duplicate_of


def test_url_spellings_and_prefix(rel):
    assert ask(rel, "url", "en.blog.test/short").removed == 1  # no scheme
    one = ask(rel, "url", "HTTPS://EN.BLOG.TEST:443/%73hort")  # one identity: https of a page crawled as http
    assert (one.verdict, one.removed) == ("not in", 1)
    slash = ask(rel, "url", "HTTP://EN.BLOG.TEST/short/")  # another page, but named as a near miss
    assert (slash.verdict, slash.removed) == ("not in", 0) and slash.similar == ["http://en.blog.test/short"]
    assert ask(rel, "url", "http://en.blog.test/Short").removed == 0  # paths are case-sensitive
    mirror = ask(rel, "url", "http://mirror.test/", prefix=True)
    assert mirror.verdict == "not in" and mirror.removed == 2
    assert set(mirror.ledger_rows["reason"]) == {"dedup_exact", "dedup_near"}
    assert ask(rel, "url", "http://mirror.tes", prefix=True).removed == 0  # a host is not a prefix
    assert ask(rel, "url", "http://nowhere.test/").verdict == "not in"


def test_membership_by_domain(rel):
    news = ask(rel, "domain", "https://www.EN.news.test/")
    assert (news.query, news.verdict, news.documents, news.removed) == ("en.news.test", "in", 3, 0)
    img = ask(rel, "domain", "img.test")
    assert (img.verdict, img.documents) == ("not in", 0) and img.removed == 2
    assert set(img.reasons["reason"]) == {"read_content_type", "extract_undecodable"}
    assert ask(rel, "domain", "news.test", subdomains=False).verdict == "not in"
    assert ask(rel, "domain", "example.org").verdict == "not in"
    assert ask(rel, "domain", "test").documents == rel.manifest["counts"]["kept"]  # every subdomain of .test
    for refused in ("   ", "com", "https://en.news.test/article/0"):  # empty, a public suffix, a page
        with pytest.raises(engine.InvalidInput):
            ask(rel, "domain", refused)


def test_membership_by_text(rel, docs, ledger):
    text = docs.filter(pl.col("url") == OLD_URL)["text"][0]
    exact = ask(rel, "text", text)
    assert exact.verdict == "in" and exact.document_rows["url"].to_list() == [OLD_URL]
    shouted = ask(rel, "text", text.upper().replace(".", " !"))  # no substring: only the normalised hash matches
    assert shouted.document_rows["url"].to_list() == [OLD_URL]
    part = ask(rel, "text", text[200:320])  # no hash: only the substring matches
    assert part.document_rows["url"].to_list() == [OLD_URL]

    short = ledger.filter(pl.col("reason") == "gopher_short_doc")["text"][0]
    removed = ask(rel, "text", short)
    assert removed.verdict == "not found" and removed.ledger_rows["reason"].to_list() == ["gopher_short_doc"]

    absent = ask(rel, "text", "A sentence that no page of this corpus has ever contained, surely.")
    # without the index near copies are not looked for: "not found", never "not in"
    assert (absent.verdict, absent.documents, absent.removed) == ("not found", 0, 0)
    tiny = ask(rel, "text", "the")  # too short for substring matching: hashes only, and said so
    assert tiny.verdict == "not found" and any("compared as a whole only" in d for d in tiny.details)
    with pytest.raises(engine.InvalidInput, match="the limit is 100,000 characters"):
        ask(rel, "text", "x" * (engine.MAX_TEXT_CHARS + 1))


def test_membership_by_text_as_the_release_stores_it(rel, docs):
    """A copy of the page as it was (its e-mails, public IP and IBAN, which the release replaced), with or
    without zero-width characters inside its words, is the document: same sha256 in its release form."""
    stored = docs.filter(pl.col("url") == PII_URL)["text"][0]
    original = unredacted(stored)
    for pasted in (original, zero_width(original), zero_width(stored)):
        found = ask(rel, "text", pasted)
        assert (found.verdict, found.documents) == ("in", 1) and found.document_rows["url"].to_list() == [PII_URL]
    assert any("2 e-mail addresses replaced" in d for d in ask(rel, "text", original).details)
    contact = zero_width(original.split("\n")[-1])  # the paragraph holding the personal data: a substring
    assert ask(rel, "text", contact).document_rows["url"].to_list() == [PII_URL]


def test_normalisation_reproduces_every_stored_norm_sha256(docs, ledger):
    rows = [*docs.select("text", "norm_sha256").iter_rows(), *ledger.select("text", "norm_sha256").iter_rows()]
    checked = [(t, h) for t, h in rows if t is not None]
    assert len(checked) >= docs.height + 4  # every document, and the ledger rows that kept their text
    assert all(text_sha256(normalise_text(t)) == h for t, h in checked)
    assert normalise_text("  Ｈｅｌｌｏ,\tWORLD!!  ok… ") == "hello world ok"


# --- search ---------------------------------------------------------------------------------------


def test_search_filters(rel, docs):
    def ids(**filters) -> list[str]:
        found = queries.search(rel, limit=1_000, **filters)
        assert found["total"] == found["rows"].height
        return found["rows"]["id"].to_list()

    assert ids() == sorted(docs["id"])
    assert ids(domain="news.test") == sorted(docs.filter(pl.col("domain").str.ends_with(".news.test"))["id"])
    assert ids(url_contains="ARTICLE/2") == sorted(docs.filter(pl.col("url").str.contains("article/2"))["id"])
    assert ids(languages=("de", "it")) == sorted(docs.filter(pl.col("language").is_in(["de", "it"]))["id"])
    old = docs.filter(pl.col("url") == OLD_URL)["id"].to_list()
    assert ids(date_from="2024-01-01", date_to="2024-12-31") == old
    assert ids(date_from="2025-01-01") == sorted(set(docs["id"]) - set(old))
    assert ids(text_contains="ALERT('apertura')") == docs.filter(pl.col("url") == HOSTILE_URL)["id"].to_list()
    assert ids(domain="de.news.test", languages=("fr",)) == []


def test_search_pages_cover_every_match_once(rel, docs):
    pages = [queries.search(rel, limit=7, offset=o) for o in range(0, docs.height + 7, 7)]
    assert {p["total"] for p in pages} == {docs.height}
    seen = [i for p in pages for i in p["rows"]["id"].to_list()]
    assert seen == sorted(docs["id"])


@pytest.mark.parametrize("hostile", HOSTILE_INPUTS)
def test_hostile_search_input_matches_only_literally(rel, docs, hostile):
    literal = hostile.replace("\x00", "").strip()
    for column, argument in (("url", "url_contains"), ("text", "text_contains")):
        found = queries.search(rel, limit=1_000, **{argument: hostile})
        expected = (
            docs
            if not literal
            else docs.filter(pl.col(column).str.to_lowercase().str.contains(literal.lower(), literal=True))
        )
        assert sorted(found["rows"]["id"]) == sorted(expected["id"]), (argument, hostile)
    assert queries.overview(rel)["documents"] == docs.height  # nothing changed


def test_wildcards_are_literal(rel, docs):
    assert queries.search(rel, url_contains="%")["total"] == 1  # only the hostile URL has a '%'
    assert queries.search(rel, url_contains="_")["total"] == 0
    assert queries.search(rel, url_contains="article_2")["total"] == 0
    for refused in (
        lambda: queries.search(rel, domain="%"),
        lambda: ask(rel, "url", "%", prefix=True),
        lambda: ask(rel, "domain", "' OR 1=1 --"),
    ):  # not a domain or URL: refused with what is expected, never answered
        with pytest.raises(ValueError, match="not a"):
            refused()
    assert ask(rel, "text", "' OR '1'='1").documents == 0


def test_document_by_id(rel, docs, ledger):
    doc_id = docs.filter(pl.col("url") == HOSTILE_URL)["id"][0]
    found = queries.document(rel, doc_id)
    assert found["table"] == "documents"
    assert HOSTILE_TEXT in found["row"]["text"]
    for column in (
        "file_path",
        "source_sha256",
        "warc_record_id",
        "warc_record_offset",
        "warc_record_length",
        "warc_payload_digest",
        "extractor",
        "config_hash",
        "pipeline_version",
        "text_sha256",
    ):
        assert found["row"][column] is not None, column
    assert found["row"]["config_hash"] == rel.config_hash

    removed = ledger.filter(pl.col("reason") == "dedup_exact").row(0, named=True)
    found = queries.document(rel, removed["id"])
    assert found["table"] == "ledger" and found["row"]["duplicate_of"] == removed["duplicate_of"]
    cluster = queries.dedup_cluster(rel, removed["duplicate_of"])
    assert cluster.select("status", "id").rows() == [("kept", removed["duplicate_of"]), ("removed", removed["id"])]

    assert queries.document(rel, "' OR 1=1 --") is None
    assert queries.document(rel, "") is None


def test_cursors_work_from_many_threads(rel, docs):
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: queries.overview(rel)["documents"], range(32)))
    assert results == [docs.height] * 32


# --- opening a release: confinement and lock-down -------------------------------------------------


def test_release_paths_are_confined_to_the_data_root(app_release, tmp_path):
    root, release, _, _ = app_release
    assert queries.resolve_release("releases/r1", root) == release.resolve()
    assert queries.resolve_release(str(release), root) == release.resolve()
    for outside in ("/etc", "../", "releases/../../", str(tmp_path), "/", "~"):
        with pytest.raises(queries.ReleaseAccessError, match="outside the data root"):
            queries.resolve_release(outside, root)
    link = root / "escape"
    if not link.exists():
        link.symlink_to(tmp_path, target_is_directory=True)
    (tmp_path / "manifest.json").write_text("{}")
    with pytest.raises(queries.ReleaseAccessError, match="outside the data root"):
        queries.resolve_release("escape", root)
    with pytest.raises(queries.ReleaseAccessError, match="not a release"):
        queries.resolve_release("inputs", root)
    with pytest.raises(queries.ReleaseAccessError, match="not a directory"):
        queries.resolve_release("releases/missing", root)
    with pytest.raises(queries.ReleaseAccessError):
        queries.resolve_release("", root)


def test_data_root_comes_from_the_environment(app_release, monkeypatch):
    root, release, _, _ = app_release
    monkeypatch.setenv(queries.DATA_ROOT_ENV, str(root))
    assert queries.data_root() == root.resolve()
    assert queries.open_release("releases/r1").path == release.resolve()
    assert release.resolve() in queries.find_releases()
    monkeypatch.setenv(queries.DATA_ROOT_ENV, str(release / "documents"))
    with pytest.raises(queries.ReleaseAccessError, match="outside the data root"):
        queries.open_release(release)


@pytest.mark.parametrize(
    "statement",
    [
        "COPY documents TO '{out}'",
        "COPY (SELECT 1) TO '{out}' (FORMAT parquet)",
        "SELECT * FROM read_parquet('/etc/passwd')",
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM read_text('/etc/passwd')",
        "SELECT * FROM glob('/etc/*')",
        "ATTACH '{out}' AS other",
        "INSTALL httpfs",
        "LOAD httpfs",
        "SET enable_external_access = true",
        "SET allowed_directories = ['/']",
        "RESET allowed_paths",
        "SET lock_configuration = false",
    ],
)
def test_connection_is_locked_down(rel, tmp_path, statement):
    out = tmp_path / "x.csv"
    cur = rel.cursor()
    with pytest.raises(duckdb.Error):
        cur.sql(statement.format(out=out)).fetchall()
    assert not out.exists()
    assert cur.sql("SELECT count(*) FROM documents").fetchall()[0][0] == rel.manifest["counts"]["kept"]


def test_other_release_files_are_not_readable(rel, app_release):
    """Even files inside the release are refused unless the manifest lists them."""
    release = app_release[1]
    cur = rel.cursor()
    with pytest.raises(duckdb.Error):
        cur.sql("SELECT * FROM read_json_auto($p)", params={"p": str(release / "manifest.json")}).fetchall()


def _copy_release(release: Path, target: Path, edit) -> Path:
    shutil.copytree(release, target)
    manifest = json.loads((target / "manifest.json").read_text())
    edit(manifest)
    (target / "manifest.json").write_text(json.dumps(manifest))
    return target


def test_manifest_cannot_point_outside_the_release(app_release, tmp_path):
    release = app_release[1]

    def escape(manifest):
        manifest["files"][0]["path"] = "../../../../etc/passwd"

    bad = _copy_release(release, tmp_path / "bad", escape)
    with pytest.raises(queries.ReleaseAccessError, match="outside its table directory"):
        queries.open_release(bad, tmp_path)
    (tmp_path / "notjson").mkdir()
    (tmp_path / "notjson" / "manifest.json").write_text("{not json")
    with pytest.raises(queries.ReleaseAccessError, match="not valid JSON"):
        queries.open_release(tmp_path / "notjson", tmp_path)


def test_a_table_without_files_is_an_empty_view(app_release, tmp_path):
    release = app_release[1]

    def no_ledger(manifest):
        manifest["files"] = [f for f in manifest["files"] if f["table"] != "ledger"]

    copy = queries.open_release(_copy_release(release, tmp_path / "r", no_ledger), tmp_path)
    assert queries.overview(copy)["removed"] == 0
    assert queries.ledger_summary(copy).height == 0
    gone = ask(copy, "url", "http://en.blog.test/short")
    assert (gone.verdict, gone.removed) == ("not in", 0)
    assert not queries.verify_files(copy)["ok"]  # the manifest was edited: its counts no longer hold


@pytest.mark.parametrize("pattern", [".*", "a.c", "(", "[a-z]+", "^", "$", "\\d", "a|b", "{2}", "\\Q", "é", " the "])
def test_text_search_is_literal_and_case_insensitive(rel, docs, pattern):
    """The text filter is an RE2 match of the escaped input: regex syntax in it is literal text."""
    found = queries.search(rel, limit=1_000, text_contains=pattern)
    needle = pattern.strip().lower()
    expected = docs.filter(pl.col("text").str.to_lowercase().str.contains(needle, literal=True))
    assert sorted(found["rows"]["id"]) == sorted(expected["id"]) and found["total"] == expected.height, pattern


def test_text_search_pages_in_one_pass_match_the_two_query_path(rel, docs):
    """With a text filter, `search` counts and pages in one scan (min_by); pages equal the ORDER BY path."""
    total = queries.search_count(rel, text_contains="the")
    assert total > 7
    one_pass = [queries.search(rel, text_contains="the", limit=3, offset=o) for o in range(0, total + 3, 3)]
    two_queries = [
        queries.search(rel, text_contains="the", limit=3, offset=o, with_total=False) for o in range(0, total + 3, 3)
    ]
    assert {p["total"] for p in one_pass} == {total}
    assert [p["rows"]["id"].to_list() for p in one_pass] == [p["rows"]["id"].to_list() for p in two_queries]
    assert sum(p["rows"].height for p in one_pass) == total

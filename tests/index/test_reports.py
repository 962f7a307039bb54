"""The whole answer of a URL, domain and combined check, word for word, on a release built to know it.

`test_check.py` asks whether the right documents are found; these tests pin what a rights holder reads and what
`apertura check --json` hands on: the first sentence, each removal's sentence, the counts, the examples and their
order, the release and index named, the time taken. Expected values come from construction (the pages below) and
from the release's own Parquet tables read with DuckDB, never from the engine.

The release: shop.test with pages whose twins differ only by a trailing slash or `www.`, a page on port 8080;
blog.test with 22 kept posts, a kept subdomain page, two exact copies on a subdomain (removed as dedup_exact), one
post under /private/ (opted out by robots.txt) and a page the quality filter removes; gone.test, whose only page is
opted out. Its index has text shards of 8 documents, so answers are read across shards.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from pipeline.index.answers import IN, NOT_IN, PARTLY
from pipeline.synthetic import make_page
from tests.helpers.shared_build import build_once
from tests.helpers.warcs import Page, write_warc
from tests.index.conftest import html, russian_paragraphs

BLOG_POSTS = 22
SHARD_DOCS = 8
NEAR_COPY, NEAR_WORDS_CHANGED = "http://near.blog.test/1", 12
MULTI = ["http://multi.test/p", "https://multi.test/p", "http://MULTI.test/p", "http://multi.test:80/p",
         "https://multi.test:443/p", "http://multi.test/%70"]  # fmt: skip
UNTITLED = "http://untitled.test/"


def absent_words(count: int) -> list[str]:
    return [f"zzv{i}" for i in range(count)]


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> Path:
    from pipeline.cli import app
    from pipeline.index import IndexConfig, build_index

    root = tmp_path_factory.mktemp("reports")
    pages = [
        Page("http://blog.test/robots.txt", "User-agent: *\nDisallow: /private/\n", "text/plain"),
        Page("http://gone.test/robots.txt", "User-agent: *\nDisallow: /\n", "text/plain"),
    ]

    def add(url: str, seed: int, lang: str = "en") -> None:
        page = make_page(seed, url, lang)
        pages.append(Page(url, html(page.title, list(page.paragraphs), lang)))

    shop = ["http://shop.test/a", "http://shop.test/a/", "http://www.shop.test/a", "http://shop.test/b/",
            "http://www.shop.test/b", "http://shop.test:8080/c"]  # fmt: skip
    for seed, url in enumerate(shop):
        add(url, 700 + seed)
    for k in range(BLOG_POSTS):
        add(f"http://blog.test/p/{k}", 800 + k)
    add("http://news.blog.test/x", 850)
    first = make_page(800, "http://blog.test/p/0", "en")  # the same page (seed and URL) as the post above
    for copy in ("http://copy.blog.test/0", "http://copy.blog.test/1"):
        pages.append(Page(copy, html(first.title, list(first.paragraphs))))
    second = make_page(801, "http://blog.test/p/1", "en")  # a near copy: the last passage of the post rewritten
    *head, last = second.paragraphs
    rewritten = " ".join(last.split()[:-NEAR_WORDS_CHANGED] + absent_words(NEAR_WORDS_CHANGED))
    pages.append(Page(NEAR_COPY, html(second.title, [*head, rewritten])))
    for seed, url in enumerate(MULTI):  # one page, six spellings, six texts: six documents of one URL identity
        add(url, 880 + seed)
    pages.append(Page(UNTITLED, f"<html><body><article><p>{' '.join(make_page(890, UNTITLED, 'en').paragraphs)}"
                                "</p></article></body></html>"))  # fmt: skip
    add("http://blog.test/private/1", 860)
    pages.append(Page("http://blog.test/ru", html("Городская жизнь", russian_paragraphs(8), "ru")))
    add("http://gone.test/page", 870)

    def build(where: Path) -> None:
        warc = where / "reports.warc.gz"
        write_warc(warc, pages)
        out = str(where / "rel")
        result = CliRunner().invoke(app, ["run", str(warc), "--out", out, "--extractor", "resiliparse", "--no-index"])
        assert result.exit_code == 0, result.output
        build_index(out, IndexConfig(text_shard_docs=SHARD_DOCS))

    # tests only read it (they change copies): `make mutate` shares one build between the membership mutants
    return build_once("APERTURA_REPORTS_RELEASE", build, root) / "rel"


@pytest.fixture(scope="module")
def index(release):
    from pipeline.index import open_index

    return open_index(release)


def table(release: Path, name: str) -> dict[str, dict]:
    """url -> row of the release's documents or ledger table, read with DuckDB."""
    rel = duckdb.sql(f"SELECT * FROM read_parquet('{release}/{name}/*.parquet')")
    return {r["url"]: r for r in (dict(zip(rel.columns, row, strict=True)) for row in rel.fetchall())}


@pytest.fixture(scope="module")
def docs(release) -> dict[str, dict]:
    return table(release, "documents")


@pytest.fixture(scope="module")
def ledger(release) -> dict[str, dict]:
    return table(release, "ledger")


@pytest.fixture(scope="module")
def manifest(release) -> dict:
    return json.loads((release / "manifest.json").read_text())


def test_the_release_is_as_built(docs, ledger):
    """The ground truth the other tests rely on: what was kept and why the rest was removed."""
    assert {u for u in ledger if u.startswith("http://")} >= {
        "http://copy.blog.test/0", "http://copy.blog.test/1", "http://blog.test/private/1", "http://blog.test/ru",
        "http://gone.test/page"}  # fmt: skip
    assert ledger["http://blog.test/private/1"]["stage"] == ledger["http://gone.test/page"]["stage"] == "optout"
    assert ledger["http://blog.test/ru"]["stage"] == "quality"
    assert {ledger[u]["reason"] for u in ("http://copy.blog.test/0", "http://copy.blog.test/1")} == {"dedup_exact"}
    assert ledger[NEAR_COPY]["reason"] == "dedup_near"
    assert ledger[NEAR_COPY]["duplicate_of"] == docs["http://blog.test/p/1"]["id"]
    assert {u for u in docs if "blog.test" in u} == {f"http://blog.test/p/{k}" for k in range(BLOG_POSTS)} | {
        "http://news.blog.test/x"}  # fmt: skip
    assert {u for u in docs if "shop.test" in u} == {
        "http://shop.test/a", "http://shop.test/a/", "http://www.shop.test/a", "http://shop.test/b/",
        "http://www.shop.test/b", "http://shop.test:8080/c"}  # fmt: skip


def test_the_index_is_read_across_shards(index, docs, ledger):
    with_text = len(docs) + sum(1 for r in ledger.values() if r["text"] is not None)
    assert len(index.shards) == -(-with_text // SHARD_DOCS) > 1
    starts = [s.first for s in index.shards]  # equal slices of the entries, each at most SHARD_DOCS
    assert starts[0] == 0 and sum(s.entries for s in index.shards) == with_text
    assert all(b.first == a.first + a.entries and 0 < a.entries <= SHARD_DOCS
               for a, b in itertools.pairwise(index.shards))  # fmt: skip
    for shard, (a, b) in zip(index.shards, itertools.pairwise([*starts, None]), strict=True):
        assert shard.holds(a) and not shard.holds(a - 1)
        assert b is None or not shard.holds(b)


def removed_sentence(row: dict, keeper: dict | None = None) -> str:
    """What a rights holder reads about one removed record, from its ledger row."""
    detail = f": {row['detail']}" if row["detail"] else ""
    text = f"A copy from {row['domain']} ({row['url']}) was removed at stage {row['stage']} ({row['reason']}{detail})"
    if row["stage"] == "optout":
        text += ": the rights holder opted out"
    if keeper is not None:
        text += f"; it duplicates {keeper['id']} ({keeper['url']}), which is in"
    return text + "."


def test_a_kept_page_whose_twins_are_in_too(index, docs, manifest):
    report = index.check_url("HTTP://Shop.TEST:80/a")
    doc = docs["http://shop.test/a"]
    assert report.verdict == IN
    assert report.summary == [f"IN: 1 document(s) of this release have this URL: {doc['id']}"]  # no twin named
    assert report.release == manifest["release_id"]
    assert report.query == {"kind": "url", "url": "HTTP://Shop.TEST:80/a", "canonical": "http://shop.test/a"}
    assert report.counts == {"documents": 1, "removed": 0}
    assert [(m.id, m.status, m.how, m.url, m.domain) for m in report.matches] == [
        (doc["id"], "in", ["url"], "http://shop.test/a", "shop.test")]  # fmt: skip
    assert report.removed == []


def test_an_absent_page_names_every_twin_in_order(index):
    report = index.check_url("http://shop.test/b")
    assert report.verdict == NOT_IN and report.matches == [] and report.removed == []
    assert report.summary == [
        "NOT IN: this release has no record of this URL. It has records at a URL that differs only by a trailing "
        "slash or 'www.': http://shop.test/b/, http://www.shop.test/b"
    ]
    assert report.counts == {"documents": 0, "removed": 0}


def test_a_page_removed_as_a_duplicate(index, docs, ledger):
    row = ledger["http://copy.blog.test/1"]
    keeper = next(d for d in docs.values() if d["id"] == row["duplicate_of"])
    report = index.check_url("http://copy.blog.test/1")
    assert report.verdict == NOT_IN and report.matches == []
    assert report.summary == [
        "NOT IN: this URL was crawled but removed (1 record(s)).", removed_sentence(row, keeper)
    ]
    (m,) = report.removed
    assert (m.id, m.status, m.how, m.stage, m.reason, m.detail) == (
        row["id"], "removed", ["url"], "dedup", "dedup_exact", row["detail"])  # fmt: skip
    assert (m.duplicate_of, m.duplicate_of_url) == (keeper["id"], keeper["url"])
    assert report.counts == {"documents": 0, "removed": 1}


def test_an_opted_out_page(index, ledger):
    row = ledger["http://blog.test/private/1"]
    report = index.check_url("http://blog.test/private/1")
    assert report.summary == [
        "NOT IN: this URL was crawled but removed (1 record(s)).", removed_sentence(row)
    ]
    assert report.summary[1].endswith(": the rights holder opted out.") and row["detail"]
    assert report.removed[0].duplicate_of is None and report.removed[0].duplicate_of_url is None


def test_the_index_it_answered_from_is_named(index, release):
    from pipeline.index.build import manifest_sha256

    config = json.loads((release / "index" / "index.json").read_text())["config"]
    expected = {"manifest_sha256": manifest_sha256(release), "near_threshold": config["near_threshold"],
                "contained": config["contained"]}  # fmt: skip
    for report in (index.check_url("http://shop.test/a"), index.check_domain("shop.test"),
                   index.check_text("a few words to look for in this release")):  # fmt: skip
        assert report.index == expected


def domain_groups(ledger: dict[str, dict], suffix: str) -> list[tuple[str, str, int]]:
    """(stage, reason, records) removed under a domain, most first, ties by stage then reason."""
    counts: dict[tuple[str, str], int] = {}
    for row in ledger.values():
        if row["domain"] == suffix or str(row["domain"]).endswith("." + suffix):
            counts[(row["stage"], row["reason"])] = counts.get((row["stage"], row["reason"]), 0) + 1
    return sorted(((s, r, n) for (s, r), n in counts.items()), key=lambda g: (-g[2], g[0], g[1]))


def test_a_site_partly_in(index, docs, ledger, manifest):
    report = index.check_domain("Blog.Test")
    kept = sorted((d for d in docs.values() if d["domain"].endswith("blog.test")), key=lambda d: d["id"])
    gone = sorted((r for r in ledger.values() if r["domain"].endswith("blog.test")), key=lambda r: r["id"])
    groups = domain_groups(ledger, "blog.test")
    # two exact copies, then one each by stage (not by reason): the near copy, the opted-out post, the quality
    # removal, robots.txt
    assert [(s, n) for s, _, n in groups] == [("dedup", 2), ("dedup", 1), ("optout", 1), ("quality", 1), ("read", 1)]
    assert report.verdict == PARTLY
    assert report.summary == [
        f"PARTLY IN: {len(kept)} document(s) from blog.test (with subdomains) are in the training data; "
        f"{len(gone)} record(s) were removed.",
        *(f"{n} removed at stage {s} ({r})" + (": opted out" if s == "optout" else "") for s, r, n in groups),
    ]
    assert report.counts == {"documents": len(kept), "removed": len(gone),
                             "removed_by_reason": {f"{s}/{r}": n for s, r, n in groups}}  # fmt: skip
    assert report.query == {"kind": "domain", "domain": "blog.test"} and report.release == manifest["release_id"]
    # examples: the first 20 of each status by entry, listed by id
    assert len(kept) > 20 and [m.id for m in report.matches] == sorted(m.id for m in report.matches)
    assert len(report.matches) == 20 and {m.status for m in report.matches} == {"in"}
    assert {m.how[0] for m in report.matches + report.removed} == {"domain"}
    assert [m.id for m in report.removed] == [r["id"] for r in gone]
    keeper_urls = {m.id: m.duplicate_of_url for m in report.removed if m.duplicate_of}
    assert sorted(keeper_urls.values()) == ["http://blog.test/p/0", "http://blog.test/p/0", "http://blog.test/p/1"]


def test_fewer_examples_on_request(index):
    report = index.check_domain("blog.test", limit=3)
    assert len(report.matches) == 3 and len(report.removed) == 3
    assert report.counts["removed"] == 6  # three copies, the opted-out post, the quality removal, robots.txt


def test_a_site_wholly_removed_and_a_site_never_seen(index, ledger):
    gone = index.check_domain("gone.test")
    groups = domain_groups(ledger, "gone.test")  # the page (opted out) and robots.txt (read)
    assert [s for s, _, _ in groups] == ["optout", "read"]
    assert gone.verdict == NOT_IN and gone.matches == []
    assert gone.summary == ["NOT IN: all 2 record(s) from gone.test were removed."] + [
        f"1 removed at stage {s} ({r})" + (": opted out" if s == "optout" else "") for s, r, _ in groups]
    assert sorted(m.url for m in gone.removed) == ["http://gone.test/page", "http://gone.test/robots.txt"]
    never = index.check_domain("never.test")
    assert never.verdict == NOT_IN and never.summary == ["NOT IN: this release has no record from never.test."]
    assert never.counts == {"documents": 0, "removed": 0, "removed_by_reason": {}}


def test_a_site_fully_in(index, docs):
    report = index.check_domain("shop.test")
    kept = [d for d in docs.values() if d["domain"].endswith("shop.test")]
    assert report.verdict == IN and report.removed == []
    assert report.summary == [f"IN: {len(kept)} document(s) from shop.test (with subdomains) are in the training data."]


def test_one_port_of_a_host(index, docs):
    report = index.check_domain("shop.test:8080")
    assert report.verdict == IN and report.query["domain"] == "shop.test:8080"
    assert [m.url for m in report.matches] == ["http://shop.test:8080/c"]
    assert report.counts["documents"] == 1


@pytest.mark.parametrize("bad", ["<img src=x>", "", "a b.test"])
def test_a_domain_that_is_not_one_is_refused(index, bad):
    from pipeline.index import MembershipIndexError

    with pytest.raises(MembershipIndexError):
        index.check_domain(bad)


def test_nul_characters_are_ignored_in_every_question(index, docs):
    assert index.check_url("http://shop.\x00test/a").verdict == IN
    assert index.check_domain("shop.\x00test:8080").counts["documents"] == 1
    assert index.check(url="http://shop.test/a\x00", domain="\x00shop.test").verdict == IN


def test_a_page_and_its_text_together(index, docs, ledger):
    """"Your page was removed as opted out, but a copy of its text is in": the combined answer's first line."""
    removed_copy = ledger["http://copy.blog.test/0"]
    keeper = next(d for d in docs.values() if d["id"] == removed_copy["duplicate_of"])
    url_only = index.check_url("http://copy.blog.test/0")
    text_only = index.check_text(keeper["text"])
    report = index.check(text=keeper["text"], url="http://copy.blog.test/0")
    assert report.verdict == IN  # the stronger of NOT IN (the page) and IN (its text)
    assert report.summary[0] == (
        f"http://copy.blog.test/0: {NOT_IN} (removed: dedup/dedup_exact); its text: {IN} (copies in: {keeper['url']})."
    )
    assert report.summary[1:] == [f"[text] {s}" for s in text_only.summary] + [f"[url] {s}" for s in url_only.summary]
    assert report.query == {"text": text_only.query, "url": url_only.query}
    assert report.counts == {"text": text_only.counts, "url": url_only.counts}
    assert report.sketch == text_only.sketch and report.sketch
    assert report.release == url_only.release and report.index == url_only.index
    assert [m.id for m in report.matches] == [m.id for m in text_only.matches]
    # each removed record once, though both parts name the removed copy
    assert sorted(m.id for m in report.removed) == sorted({m.id for m in text_only.removed + url_only.removed})
    assert removed_copy["id"] in {m.id for m in report.removed}


def test_a_domain_and_a_text(index, docs, ledger):
    post = docs["http://blog.test/p/3"]
    report = index.check(text=post["text"], domain="blog.test")
    gone = sorted({f"{r['stage']}/{r['reason']}" for r in ledger.values() if r["domain"].endswith("blog.test")})
    # its only copy is on the site itself: no "copies in"
    assert report.summary[0] == f"blog.test: {PARTLY} (removed: {', '.join(gone)}); its text: {IN}."
    assert set(report.query) == {"text", "domain"}


def test_a_url_and_a_domain_without_a_text(index):
    report = index.check(url="http://gone.test/page", domain="shop.test")
    assert report.verdict == IN  # the domain's
    assert not any(line.startswith("http") for line in report.summary)  # no page-and-text lead without a text
    assert report.summary[0].startswith("[url] NOT IN") and report.sketch == {}


def test_one_question_is_answered_as_asked(index):
    assert index.check(domain="gone.test").summary == index.check_domain("gone.test").summary
    assert index.check(url="http://shop.test/a").summary == index.check_url("http://shop.test/a").summary


@pytest.fixture
def clock(monkeypatch):
    """A clock that moves 500.1234567 ms per reading, so a check's `elapsed_ms` is known: one step."""
    from pipeline.index import query

    ticks = itertools.count()
    monkeypatch.setattr(query.time, "perf_counter", lambda: next(ticks) * 0.5001234567)
    return ticks


def test_time_taken_is_in_milliseconds(index, clock):
    assert index.check_url("http://shop.test/a").elapsed_ms == 500.12
    assert index.check_domain("shop.test").elapsed_ms == 500.12
    assert index.check_text("words to look for in this release").elapsed_ms == 500.12
    assert index.search("bridge").elapsed_ms == 500.12
    both = index.check(url="http://shop.test/a", domain="shop.test")
    assert both.elapsed_ms == 1000.24  # the parts' times added


def _refusal(release: Path) -> str:
    from pipeline.index import MembershipIndexError, open_index

    with pytest.raises(MembershipIndexError) as err:
        open_index(release)
    return str(err.value)


def _edit_info(release: Path, change) -> None:
    path = release / "index" / "index.json"
    info = json.loads(path.read_text())
    change(info)
    path.write_text(json.dumps(info))


def test_an_index_that_cannot_be_trusted_is_refused_with_its_reason(release, tmp_path):
    import shutil

    copy = Path(shutil.copytree(release, tmp_path / "r"))
    _edit_info(copy, lambda info: info.update(format_version=99))
    assert _refusal(copy) == (f"the index in {copy / 'index'} is format 99, this apertura reads format 3: rebuild it "
                              f"with `apertura index {copy} --force`")  # fmt: skip
    _edit_info(copy, lambda info: info.update(format_version=3, format="other"))
    assert _refusal(copy) == f"{copy / 'index' / 'index.json'} is not an apertura index"
    _edit_info(copy, lambda info: info.update(format="apertura-index"))

    sketch = copy / "index" / "ngrams.npy"
    sketch.write_bytes(sketch.read_bytes()[:-8])
    assert _refusal(copy) == "index file ngrams.npy is missing or changed: run `apertura verify`"
    shutil.copy(release / "index" / "ngrams.npy", sketch)

    entries = copy / "index" / "entries.duckdb"
    with duckdb.connect(str(entries)) as con:  # someone else's view, stored in the entries file
        con.execute("CREATE VIEW leak AS SELECT 1 AS x")
    _edit_info(copy, lambda info: [f.update(bytes=entries.stat().st_size) for f in info["files"]
                                   if f["path"] == "entries.duckdb"])  # fmt: skip
    assert _refusal(copy) == "entries.duckdb holds views or macros ('leak'), not an index"


def _has(row: dict, word: str, fields: tuple[str, ...] = ("text", "title")) -> bool:
    from pipeline.index.tokens import word_list

    return any(word in word_list(row[f] or "") for f in fields)


def test_search_counts_and_ranks_across_shards(index, docs):
    word = "council"
    expected = {d["id"] for d in docs.values() if _has(d, word)}
    assert 10 < len(expected) < 100 and len(index.shards) > 1  # more hits than the default page, over 4 shards
    report = index.search(word, limit=100)
    assert report.total == len(expected) and {h.id for h in report.hits} == expected
    assert [h.score for h in report.hits] == sorted((h.score for h in report.hits), reverse=True)
    assert all(h.score == round(h.score, 4) > 0 for h in report.hits) and len({h.score for h in report.hits}) > 1
    first_page = index.search(word)
    assert len(first_page.hits) == 10 and first_page.total == len(expected)
    assert [h.id for h in first_page.hits] == [h.id for h in report.hits[:10]]
    assert len(index.search(word, limit=1).hits) == 1
    assert (report.release, report.query, report.language) == (index.release_id, word, None)


def test_a_search_hit_is_its_document(index, docs):
    by_id = {d["id"]: d for d in docs.values()}
    for hit in index.search("council library", limit=30).hits:
        row = by_id[hit.id]
        assert (hit.url, hit.title, hit.language, hit.status) == (row["url"], row["title"], row["language"], "in")
        assert hit.snippet and hit.snippet in row["text"]  # a passage of the document, as stored
        assert all(hit.snippet[a:b].lower() in ("council", "library") for a, b in hit.highlights)


def test_a_quoted_word_must_be_in_the_text(index, docs):
    word = "council"
    in_text = {d["id"] for d in docs.values() if _has(d, word, ("text",))}
    report = index.search(f'"{word}"', limit=100)
    assert {h.id for h in report.hits} == in_text and report.total == len(in_text)


def test_removed_records_are_found_only_when_asked(index, ledger):
    gone = ledger["http://copy.blog.test/0"]
    phrase = '"' + " ".join(gone["text"].split()[5:12]) + '"'
    shown = index.search(phrase, limit=100, include_removed=True)
    assert {gone["id"], gone["duplicate_of"]} <= {h.id for h in shown.hits}
    assert {h.status for h in shown.hits if h.id == gone["id"]} == {"removed"}
    assert gone["id"] not in {h.id for h in index.search(phrase, limit=100).hits}


def test_search_language_filter_and_tags(index, docs):
    english = {d["id"] for d in docs.values() if d["language"] == "en" and _has(d, "council")}
    report = index.search("council", language="en", limit=100)
    assert {h.id for h in report.hits} == english and report.language == "en"
    for tag in ("sr_Latn", "zh_hant", "fil"):  # ISO 639 codes with a script: accepted, no hits here
        assert index.search("council", language=tag).total == 0


def test_the_longest_search_and_the_widest_page_are_accepted(index):
    assert index.search("council " + "x" * (1_000 - 8), limit=100).query == "council " + "x" * 992
    assert index.search("coun\x00cil").query == "council"  # a NUL is dropped, not searched for


def test_a_copy_without_the_passage_is_named_through_the_document_it_duplicates(index, docs, ledger):
    """The near copy lacks the post's last words: a check of those words finds the post, and names the copy
    removed as its duplicate (its text does not hold them, so only the link to the post finds it)."""
    post, copy = docs["http://blog.test/p/1"], ledger[NEAR_COPY]
    passage = " ".join(post["text"].split()[-(NEAR_WORDS_CHANGED + 4) :])
    report = index.check_text(passage)
    assert report.verdict == IN and report.matches[0].id == post["id"]
    named = {m.id: m for m in report.removed}
    assert named[copy["id"]].how == ["duplicate_of_match"]
    assert (named[copy["id"]].duplicate_of, named[copy["id"]].duplicate_of_url) == (post["id"], post["url"])
    assert removed_sentence(copy, post) in report.summary


def test_every_spelling_of_a_page_is_one_page(index, docs):
    ids = sorted(docs[u]["id"] for u in MULTI)
    assert len(set(ids)) == len(MULTI)  # six documents, kept: their texts differ
    report = index.check_url("HTTPS://multi.test/p")
    assert [m.id for m in report.matches] == ids and report.counts == {"documents": 6, "removed": 0}
    assert report.summary == [f"IN: 6 document(s) of this release have this URL: {', '.join(ids[:5])}"]


def test_a_page_without_a_title_is_found_without_one(index, docs):
    doc = docs[UNTITLED]
    phrase = " ".join(doc["text"].split()[3:6])
    hits = {h.id: h for h in index.search(f'"{phrase}"', limit=100).hits}
    assert doc["title"] is None and hits[doc["id"]].title is None and hits[doc["id"]].url == UNTITLED


def test_the_release_is_named_by_its_manifest_not_its_folder(release, tmp_path):
    import hashlib
    import shutil

    from pipeline.index import open_index

    copy = Path(shutil.copytree(release, tmp_path / "renamed"))
    manifest = json.loads((copy / "manifest.json").read_text())
    assert manifest["release_id"] != "renamed" and open_index(copy).release_id == manifest["release_id"]
    del manifest["release_id"]  # a manifest without an id (an index rebound to it): the folder's name
    (copy / "manifest.json").write_text(json.dumps(manifest))
    digest = hashlib.sha256((copy / "manifest.json").read_bytes()).hexdigest()
    _edit_info(copy, lambda info: info.update(manifest_sha256=digest))
    assert open_index(copy).release_id == "renamed"


def test_more_ways_an_index_is_refused(release, tmp_path):
    import shutil

    from pipeline.index import MembershipIndexError, open_index

    copy = Path(shutil.copytree(release, tmp_path / "r"))
    manifest = copy / "manifest.json"
    manifest.write_text(manifest.read_text() + " ")
    assert _refusal(copy) == (f"the index in {copy / 'index'} was built for another manifest.json: rebuild it with "
                              f"`apertura index {copy} --force`")  # fmt: skip
    manifest.write_text("{")
    assert _refusal(copy).startswith(f"{manifest} is not") and "JSON" in _refusal(copy)
    shutil.copy(release / "manifest.json", manifest)

    entries = copy / "index" / "entries.duckdb"
    with duckdb.connect(str(entries)) as con:
        con.execute("CREATE MACRO twice(x) AS x * 2")
    _edit_info(copy, lambda info: [f.update(bytes=entries.stat().st_size) for f in info["files"]
                                   if f["path"] == "entries.duckdb"])  # fmt: skip
    assert _refusal(copy) == "entries.duckdb holds views or macros ('twice'), not an index"

    # the refusal closed its read-only connection: the same process can open the file read-write again
    with duckdb.connect(str(entries)) as con:
        con.execute("DROP MACRO twice")
        for (name,) in con.execute("SELECT index_name FROM duckdb_indexes() WHERE table_name = 'entries'").fetchall():
            con.execute(f'DROP INDEX "{name}"')
        con.execute("ALTER TABLE entries RENAME TO gone")
    _edit_info(copy, lambda info: [f.update(bytes=entries.stat().st_size) for f in info["files"]
                                   if f["path"] == "entries.duckdb"])  # fmt: skip
    index = open_index(copy)
    with pytest.raises(MembershipIndexError) as err:
        index.check_url("http://shop.test/a")
    assert str(err.value) == "the index's entries cannot be read: CatalogException"

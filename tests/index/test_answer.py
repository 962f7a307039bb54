"""`pipeline.index.answer`, the one place deciding a domain / URL / text verdict, on releases whose records are known
by construction: `apertura check --json` holds the whole answer (each figure and row compared with the release's own
Parquet), and without a membership index a text is compared in the form this release stores it (its own pii
switches), inside stored texts from 8 characters on, and inside the raw text a record removed before the pii step
keeps."""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections import Counter
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.index import answer as engine
from pipeline.synthetic import make_page
from tests.helpers.shared_build import build_once
from tests.helpers.warcs import Page, write_warc
from tests.index.conftest import CONTACT, PUBLIC_IP, html
from tests.index.test_answer_edges import (  # noqa: F401 (edges: the fixture)
    AGAIN_KEPT,
    AGAIN_URL,
    CONTACT_URL,
    FILLERS,
    MIXED,
    WORD,
    WORD_COPIES,
    edges,
    stored,
)

THIN_URL = "http://thin.test/note"  # one sentence with an e-mail and a public IP: removed by quality, before pii
TWINS = ("http://twins.test/p", "http://www.twins.test/p/")  # two spellings of http://twins.test/p/, each kept
MANY = ("http://many.test/a", "http://many.test/b", "http://many.test/c")  # one text: one copy kept, two removed


def _json_check(release: Path, *args: str) -> dict:
    result = CliRunner().invoke(app, ["check", str(release), *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _rows(release: Path, table: str, where: str, **params: object) -> list[dict]:
    query = f"SELECT * FROM read_parquet($files) WHERE {where} ORDER BY ALL"
    return duckdb.sql(query, params={"files": f"{release}/{table}/*.parquet", **params}).pl().to_dicts()


@pytest.fixture(scope="module")
def bare(edges, tmp_path_factory) -> Path:  # noqa: F811
    """The edges release without its membership index: texts are compared by the release's tables only."""
    return shutil.copytree(edges, tmp_path_factory.mktemp("bare") / "rel", ignore=shutil.ignore_patterns("index"))


@pytest.fixture(scope="module")
def thin(tmp_path_factory) -> Path:
    """Kept articles (two at near-miss spellings of one address) and a one-sentence page (quality removes it
    before the pii step, so the ledger keeps its text raw: the e-mail address and the public IP as crawled); built
    with e-mails not redacted."""

    def build(where: Path) -> None:
        kept = [make_page(760 + k, url, "en") for k, url in enumerate(("http://kept.test/a", *TWINS))]
        thin_page = Page(THIN_URL, f'<html lang="en"><body><p>{CONTACT}</p></body></html>')
        write_warc(where / "thin.warc.gz", [*(Page(p.url, html(p.title, list(p.paragraphs))) for p in kept), thin_page])
        (where / "config.json").write_text(json.dumps({"pii": {"emails": False}}), encoding="utf-8")
        result = CliRunner().invoke(app, ["run", str(where / "thin.warc.gz"), "--out", str(where / "rel"), "--config",
                                          str(where / "config.json"), "--no-index"])  # fmt: skip
        assert result.exit_code == 0, result.output

    return build_once("APERTURA_THIN_RELEASE", build, tmp_path_factory.mktemp("thin")) / "rel"


@pytest.fixture(scope="module")
def textless(tmp_path_factory) -> Path:
    """One article crawled at two URLs of one site, another at three of another, built with `ledger_keep_text` off:
    each removed copy keeps its digests only."""

    def build(where: Path) -> None:
        pages = []
        for seed, urls in ((761, ("http://one.test/a", "http://one.test/b")), (762, MANY)):
            page = make_page(seed, urls[0], "en")
            pages += [Page(url, html(page.title, list(page.paragraphs))) for url in urls]
        write_warc(where / "twice.warc.gz", pages)
        (where / "config.json").write_text(json.dumps({"ledger_keep_text": False}), encoding="utf-8")
        result = CliRunner().invoke(app, ["run", str(where / "twice.warc.gz"), "--out", str(where / "rel"),
                                          "--config", str(where / "config.json")])  # fmt: skip
        assert result.exit_code == 0, result.output

    return build_once("APERTURA_TEXTLESS_RELEASE", build, tmp_path_factory.mktemp("textless")) / "rel"


def test_a_copy_known_by_its_digest_alone_shares_no_passage(textless):
    """The removed copy has no text to compare: found by its digest, it is shown with no shared passage (0 words)."""
    (kept,) = _rows(textless, "documents", "starts_with(url, 'http://one.test/')")
    (copy,) = _rows(textless, "ledger", "starts_with(url, 'http://one.test/')")
    assert copy["text"] is None and copy["duplicate_of"] == kept["id"]
    found = engine.check(textless, "text", kept["text"])
    (row,) = found.ledger_rows.to_dicts()
    assert (row["id"], row["longest_span_words"]) == (copy["id"], 0)
    assert found.document_rows["longest_span_words"].to_list() == [len(kept["text"].split())]


def test_headlines_agree_with_a_count_of_one(textless, thin):
    """One kept copy and one removed on one site, one kept and two removed on another; a site whose one record was
    removed: each verb agrees with its count."""
    site = engine.check(textless, "domain", "one.test")
    assert (site.verdict, site.documents, site.removed) == (engine.PARTLY, 1, 1)
    assert site.headline == ("Partly in the training data: 1 document from one.test (with its subdomains) is in; "
                             "1 other record from it was removed.")  # fmt: skip
    pages = engine.check(textless, "url", "http://one.test/", prefix=True)
    assert (pages.verdict, pages.documents, pages.removed) == (engine.PARTLY, 1, 1)
    assert pages.headline == ("Partly in the training data: 1 document for pages whose address starts with "
                              "http://one.test/ is in; 1 other record was removed.")  # fmt: skip
    site = engine.check(textless, "domain", "many.test")
    assert (site.verdict, site.documents, site.removed) == (engine.PARTLY, 1, 2)
    assert site.headline == ("Partly in the training data: 1 document from many.test (with its subdomains) is in; "
                             "2 other records from it were removed.")  # fmt: skip
    pages = engine.check(textless, "url", "http://many.test/", prefix=True)
    assert pages.headline == ("Partly in the training data: 1 document for pages whose address starts with "
                              "http://many.test/ is in; 2 other records were removed.")  # fmt: skip
    gone = engine.check(thin, "domain", "thin.test")
    assert (gone.verdict, gone.documents, gone.removed) == (engine.NOT_IN, 0, 1)
    assert gone.headline == "Not in the training data: the one record from thin.test (with its subdomains) was removed."


def test_check_json_of_a_url_is_the_whole_answer(edges):  # noqa: F811
    """Three kept texts and one reserved at one URL: every key of the JSON, each figure and row as the Parquet has."""
    out = _json_check(edges, "--url", AGAIN_URL)
    assert set(out) == {"release", "kind", "query", "verdict", "headline", "details", "summary", "method", "counts",
                        "reasons", "matches", "removed", "similar", "text_sha256", "elapsed_ms"}  # fmt: skip
    manifest = json.loads((edges / "manifest.json").read_text(encoding="utf-8"))
    assert [out[k] for k in ("release", "kind", "query", "verdict")] == [manifest["release_id"], "url", AGAIN_URL, "in"]
    assert out["summary"] == [out["headline"], *out["details"]] and out["headline"].startswith("In the training data")
    assert f"{AGAIN_KEPT} documents for {AGAIN_URL}." in out["headline"]
    assert out["method"] == "the release's documents and ledger"
    assert out["counts"] == {"documents": AGAIN_KEPT, "removed": 1, "optout_removed": 1}
    kept = sorted(_rows(edges, "documents", "url = $url", url=AGAIN_URL), key=lambda d: d["id"])  # one URL: by id
    (reserved,) = _rows(edges, "ledger", "url = $url", url=AGAIN_URL)
    assert [m["id"] for m in out["matches"]] == [d["id"] for d in kept] and len(kept) == AGAIN_KEPT
    fields = ("id", "reason", "detail")
    assert [[r[k] for k in fields] for r in out["removed"]] == [[reserved[k] for k in fields]]
    (evidence,) = _rows(edges, "optout_evidence", "document_id = $id AND verdict = 'reserved'", id=reserved["id"])
    assert out["reasons"] == [{"stage": "optout", "reason": reserved["reason"], "signal": evidence["signal"],
                               "rule": evidence["rule"], "registry_entry": None, "records": 1,
                               "evidence_fetched_at": evidence["fetched_at"]}]  # fmt: skip
    assert out["similar"] == [] and out["text_sha256"] is None and out["elapsed_ms"] >= 0


def test_check_json_of_a_text_adds_the_index_figures_to_its_own(edges, tmp_path):  # noqa: F811
    from pipeline.index import open_index

    _, text = stored(edges, "http://en.filler.test/0")
    article = tmp_path / "filler-0.txt"  # not beside the release: `make mutate` shares it between processes
    article.write_text(text, encoding="utf-8")
    out = _json_check(edges, "--text-file", str(article))
    report = open_index(edges).check_text(text)
    assert out["verdict"] == report.verdict == "in" and out["kind"] == "text"
    assert out["method"] == "the membership index (exact, near copies, shared passages)"
    assert out["sketch"] == json.loads(json.dumps(report.sketch, default=str))
    assert out["index"] == json.loads(json.dumps(report.index, default=str)) and out["index"]
    ours = {"documents": 1, "removed": 0, "optout_removed": 0}  # one filler page holds it
    assert out["counts"] == {**json.loads(json.dumps(report.counts, default=str)), **ours}
    assert out["text_sha256"] == hashlib.sha256(text.encode("utf-8")).hexdigest()


def test_without_an_index_a_text_is_compared_as_this_release_redacts(bare):
    """The edges release kept e-mail addresses (its pii step had them off) and replaced a public IP: the contact page
    as crawled is found whole once its IP, and only its IP, is replaced."""
    doc_id, text = stored(bare, CONTACT_URL)
    crawled = text.replace("<IP_ADDRESS>", PUBLIC_IP)
    assert crawled != text
    found = engine.check(bare, "text", crawled)
    assert found.verdict == engine.IN and found.documents == 1 and found.document_rows["id"].to_list() == [doc_id]
    assert found.text_sha256 == hashlib.sha256(crawled.encode("utf-8")).hexdigest()
    assert any("1 IP address replaced" in line for line in found.details), found.details


def test_without_an_index_a_text_of_eight_characters_is_looked_for_inside_texts(bare):
    texts = pq.read_table(bare / "documents", columns=["text"])["text"].to_pylist()
    _, filler = stored(bare, "http://en.filler.test/1")
    start = next(k for k in range(len(filler)) if not filler[k].isspace() and not filler[k + 7].isspace()
                 and sum(filler[k : k + 8] in t for t in texts) < len(texts))  # fmt: skip
    eight = filler[start : start + 8]
    holders = sum(eight in t for t in texts)
    found = engine.check(bare, "text", eight)
    assert (found.verdict, found.documents) == (engine.IN, holders) and eight not in texts
    seven = eight[:7]
    assert seven.strip() == seven and seven not in texts
    shorter = engine.check(bare, "text", seven)  # compared whole only: no document is these 7 characters
    assert (shorter.verdict, shorter.documents) == (engine.NOT_FOUND, 0)
    assert any(f"shorter than {engine.MIN_SUBSTRING_CHARS} characters" in line for line in shorter.details)


def test_without_an_index_a_removed_records_raw_text_is_searched_as_pasted(thin):
    """Quality removed the one-sentence page before the pii step, so the ledger holds it with its public IP: a part of
    it with the IP is found there as pasted (its release form, with the IP replaced, is in no text)."""
    (record,) = _rows(thin, "ledger", "url = $url", url=THIN_URL)
    assert PUBLIC_IP in record["text"] and record["stage"] == "quality"
    part = CONTACT[CONTACT.index("reach") :]
    found = engine.check(thin, "text", part)
    assert (found.verdict, found.documents, found.removed) == (engine.NOT_FOUND, 0, 1)
    assert found.ledger_rows["id"].to_list() == [record["id"]]
    assert found.headline.startswith("Not found: ") and found.headline.endswith(" 1 removed record held it.")
    assert "so this does not mean the text is not in the training data. " in found.headline  # its own sentence


def test_a_url_prefix_counts_every_page_under_it_and_says_so(edges):  # noqa: F811
    prefix = AGAIN_URL.rsplit("/", 1)[0] + "/"
    found = engine.check(edges, "url", prefix, prefix=True)
    assert (found.verdict, found.documents, found.removed) == (engine.PARTLY, AGAIN_KEPT, 1)
    pages = f"pages whose address starts with {prefix}"
    assert found.headline == (f"Partly in the training data: {AGAIN_KEPT} documents for {pages} are in; 1 other "
                              "record was removed.")  # fmt: skip
    exact = engine.check(edges, "url", prefix)  # the site's root page alone: no record
    assert (exact.verdict, exact.documents, exact.removed) == (engine.NOT_IN, 0, 0)


def test_a_url_whose_records_were_all_removed_says_so_with_their_count(edges):  # noqa: F811
    page = engine.check(edges, "url", f"http://{MIXED}/b")
    assert (page.verdict, page.documents, page.removed, page.optout_removed) == (engine.NOT_IN, 0, 1, 1)
    assert page.headline == f"Not in the training data: http://{MIXED}/b was crawled but removed (1 record)."
    site = engine.check(edges, "url", f"http://{MIXED}/", prefix=True)
    assert (site.verdict, site.documents, site.removed, site.optout_removed) == (engine.NOT_IN, 0, 4, 3)
    assert site.headline == (f"Not in the training data: pages whose address starts with http://{MIXED}/ were crawled "
                             "but removed (4 records).")  # fmt: skip


def test_a_domain_holds_its_subdomains_unless_asked_otherwise(edges):  # noqa: F811
    """Every filler page is on en.filler.test; filler.test itself has no record."""
    out = _json_check(edges, "--domain", "filler.test")
    assert (out["verdict"], out["counts"]["documents"], out["counts"]["removed"]) == ("in", FILLERS, 0)
    alone = engine.check(edges, "domain", "filler.test", subdomains=False)
    assert (alone.verdict, alone.documents, alone.removed) == (engine.NOT_IN, 0, 0)
    assert alone.headline == "Not in the training data: this release has no record from filler.test."


def test_a_text_the_index_finds_no_word_in_is_refused_with_its_reason(edges):  # noqa: F811
    """`___` is a word to the input check (\\w) but none to the index's tokens: refused, with the index's reason."""
    from pipeline.index import open_index
    from pipeline.index.build import MembershipIndexError

    with pytest.raises(MembershipIndexError) as from_index:
        open_index(edges).check_text("___")
    with pytest.raises(engine.InvalidInput) as refused:
        engine.check(edges, "text", "___")
    assert str(refused.value) == str(from_index.value) and "no words" in str(refused.value)


def test_without_a_usable_index_a_text_answer_says_why_and_how_to_build_one(bare, tmp_path):
    started = time.perf_counter()
    found = engine.check(bare, "text", "Seven quiet herons crossed the dawn river.")
    took_ms = (time.perf_counter() - started) * 1000
    assert found.verdict == engine.IN and found.report is None and 0 < found.elapsed_ms <= took_ms
    assert found.method.startswith("exact and verbatim copies only (the membership index cannot be used: ")
    assert found.method.endswith(f"run `apertura index {bare}`)")
    assert any("membership index cannot be used" in line for line in found.details), found.details


@pytest.mark.parametrize(
    ("domain", "kept", "removed", "headline"),
    [
        ("en.filler.test", FILLERS, 0, "In the training data: {kept} documents from {site}."),
        ("again.test", AGAIN_KEPT, 1, "Partly in the training data: {kept} documents from {site} are in; 1 other "
         "record from it was removed."),
        (MIXED, 0, 4, "Not in the training data: all 4 records from {site} were removed."),
        ("nothing.test", 0, 0, "Not in the training data: this release has no record from {site}."),
    ],
)
def test_a_domains_headline_says_its_counts(edges, domain, kept, removed, headline):  # noqa: F811
    """The sentence a rights holder reads first, for each of the four cases, with the counts of the construction."""
    found = engine.check(edges, "domain", domain)
    assert (found.documents, found.removed) == (kept, removed)
    assert found.headline == headline.format(kept=kept, site=f"{domain} (with its subdomains)")
    assert found.method == "the release's documents and ledger" and found.similar == []
    verdicts = {(True, False): engine.IN, (True, True): engine.PARTLY}
    assert found.verdict == verdicts.get((kept > 0, removed > 0), engine.NOT_IN)
    hosts = found.hosts.to_dicts()
    assert hosts == ([{"domain": domain, "documents": kept, "removed": removed}] if kept or removed else [])


def test_each_removal_reason_is_one_sentence_with_its_step_and_count(edges):  # noqa: F811
    from pipeline.reasons import reason_text, step_name

    found = engine.check(edges, "domain", MIXED)
    ledger = _rows(edges, "ledger", "domain = $domain", domain=MIXED)
    expected = sorted(
        f"1 record removed by {step_name(r['stage'], r['reason'])}: {reason_text(r['reason'], r['stage']).rstrip('.')} "
        f"({r['reason']})."
        for r in ledger
    )
    assert sorted(found.details) == expected and len(expected) == 4
    words = engine.check(edges, "text", WORD)  # one kept copy, the others removed as its exact duplicates
    assert any(line.startswith(f"{WORD_COPIES - 1} records removed by ") for line in words.details), words.details


SPELLINGS = ("Addresses are compared as the same page whatever their spelling: http and https, upper and lower case "
             "in the host, a default port, %-escaped letters and a trailing dot in the host.")  # every URL answer's


def test_a_url_with_no_record_names_its_spellings_with_records(edges):  # noqa: F811
    found = engine.check(edges, "url", AGAIN_URL + "/")
    assert (found.verdict, found.documents, found.removed) == (engine.NOT_IN, 0, 0)
    assert found.similar == [AGAIN_URL]
    assert found.details == [
        f"It has records at an address that differs only by a trailing slash or 'www.': {AGAIN_URL}. Check those "
        "addresses too.",
        SPELLINGS,
    ]
    assert found.headline == f"Not in the training data: this release has no record of {AGAIN_URL}/."


def test_index_matches_become_rows_with_their_figures(edges):  # noqa: F811
    from pipeline.index import open_index

    _, text = stored(edges, "http://en.filler.test/2")
    found = engine.check(edges, "text", text)
    report = open_index(edges).check_text(text)
    rows = found.document_rows.to_dicts()
    assert [r["id"] for r in rows] == [m.id for m in report.matches] and rows
    for row, match in zip(rows, report.matches, strict=True):
        assert row == {"id": match.id, "url": match.url, "how": ", ".join(match.how), "jaccard": match.jaccard,
                       "estimated_jaccard": match.estimated_jaccard, "overlap": match.overlap,
                       "longest_span_words": max((s.words for s in match.spans), default=0),
                       "language": match.language, "title": match.title}  # fmt: skip
    assert found.ledger_rows.is_empty() and "stage" in found.ledger_rows.columns


VALID = [  # (kind, as typed, as compared and shown): what a user may type for each kind
    ("domain", "HTTPS://Example.ORG/", "example.org"),  # a scheme, case and a trailing slash are no part of a domain
    ("domain", "example.org.", "example.org"),
    ("domain", "  example.org:8080 ", "example.org:8080"),
    ("domain", "exam\x00ple.org", "example.org"),  # a NUL byte (a pasted binary) is dropped, never compared
    ("url", "HTTP://Example.org:80/a", "http://example.org/a"),
    ("text", "  one  ", "your text (1 word)"),
    ("text", "two words", "your text (2 words)"),
    ("text", "x" * engine.MAX_TEXT_CHARS, "your text (1 word)"),  # at the limit: accepted whole
    ("url", "https://example.org/" + "a" * (engine.MAX_URL_CHARS - 20), "https://example.org/" + "a" * 7980),
]


@pytest.mark.parametrize(("kind", "typed", "shown"), VALID, ids=lambda v: repr(v)[:24])
def test_valid_input_is_compared_in_its_one_spelling(kind, typed, shown):
    subject = engine.validate(kind, typed, prefix=True, subdomains=False)  # each kept by the kind it belongs to only
    assert (subject.kind, subject.shown) == (kind, shown)
    assert (subject.prefix, subject.subdomains) == (kind == "url", kind != "domain")
    assert subject.value == (typed.replace("\x00", "") if kind == "text" else typed.replace("\x00", "").strip())


DOMAIN_HELP = "give a site's domain, such as example.org (a port may follow: example.org:8080)"
URL_HELP = "give a web page's address, such as https://example.org/page"
TEXT_HELP = "give a text of a few words or more, such as a paragraph of your article"
INVALID = [  # (kind, input, the whole message: what is wrong, and what is expected)
    ("page", "x", "choose what to check: a domain, a URL or a text (not 'page')"),
    ("text", " \n ", f"the text is empty: {TEXT_HELP}"),
    ("text", None, f"the text is empty: {TEXT_HELP}"),
    ("text", "!!! ???", f"there is no word to look for: {TEXT_HELP}"),
    ("text", "x" * (engine.MAX_TEXT_CHARS + 1), "the text is 100,001 characters long; the limit is 100,000 characters: "
     "check it in parts (a few paragraphs each)"),
    ("domain", "  ", f"the domain is empty: {DOMAIN_HELP}"),
    ("domain", "a" * (engine.MAX_DOMAIN_CHARS + 1), "the domain is 301 characters long; the limit is 300 characters"),
    ("domain", "a" * engine.MAX_DOMAIN_CHARS, f"{'a' * 80!r} is not a domain: {DOMAIN_HELP}"),  # quoted: 80 at most
    ("domain", "example .org", f"'example .org' is not a domain: {DOMAIN_HELP}"),
    ("domain", "example.org/page", f"'example.org/page' is not a domain: {DOMAIN_HELP}"),
    ("domain", "example.org?q", f"'example.org?q' is not a domain: {DOMAIN_HELP}"),
    ("domain", "example.org#top", f"'example.org#top' is not a domain: {DOMAIN_HELP}"),
    ("domain", "a*b.org", f"'a*b.org' is not a domain: {DOMAIN_HELP}"),
    ("domain", "https://example.org/X/", f"'https://example.org/X/' is not a domain: {DOMAIN_HELP}"),  # a path
    ("url", "", f"the URL is empty: {URL_HELP}"),
    ("url", "https://exa mple.org/", f"'https://exa mple.org/' is not a URL (it has spaces): {URL_HELP}"),
    ("url", "ftp://example.org/", f"'ftp://example.org/' is not a URL: {URL_HELP}"),
    ("url", "https://a*b.org/", f"'https://a*b.org/' is not a URL: {URL_HELP}"),
    ("url", "https://a*b.org/" + "p" * 100, f"{('https://a*b.org/' + 'p' * 64)!r} is not a URL: {URL_HELP}"),
    ("url", "ftp://" + "p" * 100, f"{('ftp://' + 'p' * 74)!r} is not a URL: {URL_HELP}"),  # each quoted to 80
    ("url", "https://a b/" + "p" * 100, f"{('https://a b/' + 'p' * 68)!r} is not a URL (it has spaces): {URL_HELP}"),
    ("k" * 50, "x", f"choose what to check: a domain, a URL or a text (not {'k' * 40!r})"),
    ("url", "https://" + "a" * engine.MAX_URL_CHARS, "the URL is 8,008 characters long; the limit is 8,000 characters"),
]


@pytest.mark.parametrize(("kind", "value", "message"), INVALID, ids=lambda v: repr(v)[:24])
def test_invalid_input_is_refused_with_what_is_expected(kind, value, message):
    with pytest.raises(engine.InvalidInput) as refused:
        engine.validate(kind, value)
    assert str(refused.value) == message


def test_an_index_answer_is_the_index_report_in_the_pages_words(edges):  # noqa: F811
    """For a text found whole, one found in part and one absent: the verdict and sentences are the index report's
    (its leading "IN:" / "PARTLY IN:" / "NOT IN:" said in words), after one sentence per removal reason; the figures
    count the report's documents and removed records; the row of a removed copy says which kept text it duplicates."""
    from pipeline.index import open_index
    from pipeline.reasons import reason_text, step_name

    index = open_index(edges)
    _, filler = stored(edges, "http://en.filler.test/3")
    half = " ".join(filler.split()[:60]) + " " + " ".join(f"unheard{k}" for k in range(60))
    words = {"IN:": "In the training data:", "PARTLY IN:": "Partly in the training data:",
             "NOT IN:": "Not in the training data:"}  # fmt: skip
    for text, verdict in ((WORD, engine.IN), (half, engine.PARTLY), ("unheard words " * 20, engine.NOT_IN)):
        found, report = engine.check(edges, "text", text), index.check_text(text)
        assert found.verdict == report.verdict == verdict
        (lead,) = [k for k in words if report.summary[0].startswith(k + " ")]
        assert found.headline == words[lead] + report.summary[0][len(lead) :]
        removed = _rows(edges, "ledger", "list_contains($ids, id)", ids=[m.id for m in report.removed] or [""])
        reasons = Counter((r["stage"], r["reason"]) for r in removed)
        lines = [
            f"{n} record{'' if n == 1 else 's'} removed by {step_name(stage, reason)}: "
            f"{reason_text(reason, stage).rstrip('.')} ({reason})."
            for (stage, reason), n in reasons.items()
        ]
        assert sorted(found.details[: len(lines)]) == sorted(lines)
        assert found.details[len(lines) :] == [line for line in report.summary[1:] if not line.startswith("A copy")]
        assert (found.documents, found.removed) == (len(report.matches), len(report.removed))
        assert found.text_sha256 == report.query["text_sha256"] == hashlib.sha256(text.encode("utf-8")).hexdigest()
    word = engine.check(edges, "text", WORD)
    rows = word.ledger_rows.to_dicts()
    assert len(rows) == WORD_COPIES - 1 and word.documents == 1
    (keeper,) = word.document_rows.to_dicts()
    for row, match in zip(rows, index.check_text(WORD).removed, strict=True):
        assert (row["id"], row["stage"], row["reason"]) == (match.id, "dedup", "dedup_exact")
        assert (row["duplicate_of"], row["duplicate_of_url"]) == (keeper["id"], keeper["url"])
        assert row["detail"] == match.detail and row["url"] == match.url


def test_examples_are_capped_and_counts_are_not(edges, monkeypatch):  # noqa: F811
    monkeypatch.setattr(engine, "EXAMPLES", 2)
    site = engine.check(edges, "domain", "filler.test")
    assert site.documents == FILLERS and site.document_rows["url"].to_list() == sorted(site.document_rows["url"])
    assert site.document_rows.height == 2
    removed = engine.check(edges, "url", f"http://{MIXED}/", prefix=True)
    assert (removed.removed, removed.optout_removed) == (4, 3)
    assert (removed.ledger_rows.height, removed.optout_rows.height) == (2, 2)


def test_removal_sentences_follow_the_counts_then_stage_then_reason(edges):  # noqa: F811
    """Four reasons with one record each: in stage then reason order, every time (a hash grouping would shuffle)."""
    for _ in range(3):
        found = engine.check(edges, "domain", MIXED)
        reasons = [line.rsplit("(", 1)[1].rstrip(").") for line in found.details]
        assert reasons == ["optout_noai", "optout_robots", "optout_tdmrep", "read_policy_file"]


def test_a_reason_code_no_sentence_describes_is_said_by_its_stage():
    """A user step's own reason code: the sentence is its stage's (`reason_text` given the stage)."""
    import polars as pl

    from pipeline.reasons import reason_text, step_name

    reasons = pl.DataFrame({"stage": ["quality"], "reason": ["house_rule_7"], "records": [2]})
    expected = f"2 records removed by {step_name('quality', 'house_rule_7')}: {reason_text('house_rule_7', 'quality')}"
    assert engine._reason_lines(reasons) == [expected.rstrip(".") + " (house_rule_7)."]
    assert reason_text("house_rule_7", "quality") != reason_text("house_rule_7")  # the stage is what says it
    registry = pl.DataFrame({"stage": ["optout"], "reason": ["optout_registry"], "records": [1]})
    (line,) = engine._reason_lines(registry)  # a registry removal: stage optout in the ledger, its own step
    assert line.startswith(f"1 record removed by {step_name('optout', 'optout_registry')}: ")
    assert step_name("optout", "optout_registry") != step_name("optout")


def test_answer_without_an_index_or_a_reason_says_the_release_has_none(bare):
    found = engine.answer(engine.open_tables(bare), engine.validate("text", "Seven quiet herons crossed the river."))
    assert found.method == "exact and verbatim copies only (this release has no membership index)"


def test_every_near_miss_spelling_with_records_is_named(thin):
    found = engine.check(thin, "url", "http://twins.test/p/")
    assert (found.verdict, found.similar) == (engine.NOT_IN, sorted(TWINS))
    assert found.details[0] == (f"It has records at an address that differs only by a trailing slash or 'www.': "
                                f"{TWINS[0]}, {TWINS[1]}. Check those addresses too.")  # fmt: skip

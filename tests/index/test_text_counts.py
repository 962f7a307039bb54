"""The figures of a text check, on a release built to know them: how many documents hold the same text, how many
removed copies there are and in how many documents a passage appears, beyond the lists a report caps.

The release: a page quoted (one paragraph) by two others; a page quoted by more pages than a phrase search returns
(2 x max_candidates); a page fetched under 80 URLs, 79 of them removed as exact duplicates (more than a report lists);
a page the quality filter removes, fetched under 70 URLs (no copy kept: more removed copies than a check verifies);
a page two of whose sentences are also, alone, on 45 short pages the quality filter removes; a page nothing else
shares a word run with; a long text of made-up words (no language) fetched under two URLs, both removed.
Expected figures are read from the release's own tables with DuckDB and Polars, never from the engine."""

from __future__ import annotations

import random
import re
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from pipeline.index import query as membership_query
from pipeline.index.tokens import word_list
from pipeline.synthetic import make_page
from tests.helpers.shared_build import build_once
from tests.helpers.warcs import Page, write_warc
from tests.index.conftest import html, russian_paragraphs

QUOTED, CROWDED, COPIED = "http://quoted.test/a", "http://crowded.test/a", "http://copied.test/a"
QUOTERS, CROWD, COPIES, POOR_COPIES = 2, 45, 80, 70
SHADOWED, SHORT_PAGES = "http://shadowed.test/a", 45
POOR = "http://poor0.test/a"  # its text repeats enough 5-grams for the quality filter (gopher_dup_5_gram)
ABSENT = " ".join(f"qqv{i}" for i in range(60))  # words no page has: a passage among them is only partly in
ALONE, NOISE_COPIES = "http://alone.test/a", 2
_NOISE_RNG = random.Random(7)
NOISE_WORDS = ["qx" + "".join(_NOISE_RNG.choices("bcdfghjklmnpqrstvwxz", k=6)) for _ in range(10_000)]


@pytest.fixture(scope="module")
def counts_release(tmp_path_factory) -> Path:
    from pipeline.cli import app
    from pipeline.index import build_index

    quoted, crowded, copied, shadowed, alone = (
        make_page(900 + k, url, "en") for k, url in enumerate((QUOTED, CROWDED, COPIED, SHADOWED, ALONE))
    )
    pages = [Page(p.url, html(p.title, list(p.paragraphs))) for p in (quoted, crowded, shadowed, alone)]
    noise = [" ".join(NOISE_WORDS[k : k + 100]) for k in range(0, len(NOISE_WORDS), 100)]
    pages += [Page(f"http://noise{k}.test/a", html("Qxv", noise)) for k in range(NOISE_COPIES)]
    pages += [Page(f"http://short{k}.test/a", html(f"Note {k}", [_two_sentences(shadowed.paragraphs[1])]))
              for k in range(SHORT_PAGES)]  # fmt: skip
    for k in range(QUOTERS + CROWD):  # each its own page around one quoted paragraph
        source = quoted if k < QUOTERS else crowded
        own = make_page(1000 + k, f"http://quoting{k}.test/p", "en")
        pages.append(Page(own.url, html(own.title, [*own.paragraphs[:3], source.paragraphs[1]])))
    pages += [Page(f"http://copy{k}.test/a" if k else COPIED, html(copied.title, list(copied.paragraphs)))
              for k in range(COPIES)]  # fmt: skip
    pages += [Page(f"http://poor{k}.test/a", html("Городская жизнь", russian_paragraphs(8), "ru"))
              for k in range(POOR_COPIES)]  # fmt: skip

    def build(where: Path) -> None:
        warc = where / "counts.warc.gz"
        write_warc(warc, pages)
        result = CliRunner().invoke(app, ["run", str(warc), "--out", str(where / "rel"), "--no-index"])
        assert result.exit_code == 0, result.output
        build_index(where / "rel")

    # tests only read it: `make mutate` shares one build between the membership mutants
    return build_once("APERTURA_COUNTS_RELEASE", build, tmp_path_factory.mktemp("counts")) / "rel"


@pytest.fixture(scope="module")
def counts_index(counts_release):
    from pipeline.index import open_index

    return open_index(counts_release)


def _two_sentences(paragraph: str) -> str:
    return " ".join(paragraph.split(". ")[:2]) + "."


def _table(release: Path, table: str) -> list[dict]:
    rel = duckdb.sql(f"SELECT * FROM read_parquet('{release}/{table}/*.parquet')")
    return [dict(zip(rel.columns, row, strict=True)) for row in rel.fetchall()]


def _holding(release: Path, passage: str) -> int:
    """Kept documents whose words hold the passage's words in a row."""
    run = word_list(passage)
    return sum(
        any(words[i : i + len(run)] == run for i in range(len(words) - len(run) + 1))
        for words in (word_list(d["text"]) for d in _table(release, "documents"))
    )


def _paragraph(release: Path, url: str) -> str:
    """The second paragraph of the kept page at `url`, as the release stores it (the one its quoters copied)."""
    (text,) = [d["text"] for d in _table(release, "documents") if d["url"] == url]
    return [p for p in text.split("\n") if p.strip()][2]  # the title's line, then the paragraphs


def test_an_exact_copy_is_counted_among_the_documents_with_the_same_text_only(counts_release, counts_index):
    """Two other documents quote a paragraph of it: they are matches (a passage), not documents holding the text."""
    (doc,) = [d for d in _table(counts_release, "documents") if d["url"] == QUOTED]
    report = counts_index.check_text(doc["text"])
    same = sum(d["norm_sha256"] == doc["norm_sha256"] for d in _table(counts_release, "documents"))
    assert same == 1 and _holding(counts_release, _paragraph(counts_release, QUOTED)) == 1 + QUOTERS
    assert report.summary[0] == f"IN: an exact copy is in {same} document(s), e.g. {doc['id']} ({QUOTED})."
    assert report.counts["same_text_documents"] == same
    assert report.counts["documents"] == len(report.matches) == 1 + QUOTERS  # the quoters match as passages
    assert {m.url for m in report.matches[1:]} == {f"http://quoting{k}.test/p" for k in range(QUOTERS)}
    assert report.counts["removed"] == len(report.removed) == 0
    assert not [line for line in report.summary if "more removed copies" in line]  # nothing left unlisted


def test_a_passage_in_a_few_documents_is_counted_exactly(counts_release, counts_index):
    """Few enough words that each of its n-grams the sketch knows is searched (no more than MAX_PHRASES)."""
    passage = " ".join(_paragraph(counts_release, QUOTED).split()[:16])
    report = counts_index.check_text(f"{passage} {ABSENT}")
    holding = _holding(counts_release, passage)
    assert report.verdict == "partly in" and report.counts["lower_bounds"] is False
    assert re.search(r" appear in (\d+) document\(s\) ", report.summary[0]).group(1) == str(holding)
    assert report.counts["documents"] == holding == 1 + QUOTERS


def test_a_passage_with_as_many_sketch_hits_as_phrases_searched_is_counted_exactly(counts_release, counts_index):
    """The first words of the quoted paragraph, as many as give exactly MAX_PHRASES positive n-grams: every one of
    them is searched, so the count of its holders is exact, not a lower bound."""
    words = _paragraph(counts_release, QUOTED).split()
    reports = {k: counts_index.check_text(f"{' '.join(words[:k])} {ABSENT}") for k in range(9, len(words))}
    (k,) = [k for k, r in reports.items() if r.sketch["ngrams_positive"] == membership_query.MAX_PHRASES][:1]
    assert reports[k].counts["lower_bounds"] is False and reports[k].verdict == "partly in"
    assert reports[k].counts["documents"] == _holding(counts_release, " ".join(words[:k])) == 1 + QUOTERS


def test_a_passage_in_more_documents_than_a_search_returns_is_counted_as_at_least(counts_release, counts_index):
    """More documents hold it than a phrase search returns: the count is of those verified, said to be a lower
    bound, and never more than hold it."""
    passage = _paragraph(counts_release, CROWDED)
    holding = _holding(counts_release, passage)
    assert holding == 1 + CROWD > 2 * counts_index.config.max_candidates
    report = counts_index.check_text(f"{passage} {ABSENT}")
    stated = int(re.search(r" appear in at least (\d+) document\(s\) ", report.summary[0]).group(1))
    assert counts_index.config.max_candidates < stated <= holding and report.counts["documents"] == stated
    assert report.counts["lower_bounds"] is True and len(report.matches) == counts_index.config.max_candidates


def test_every_removed_copy_is_counted_and_those_not_listed_are_said(counts_release, counts_index):
    (doc,) = [d for d in _table(counts_release, "documents") if d["url"] == COPIED]
    copies = [r for r in _table(counts_release, "ledger") if r["norm_sha256"] == doc["norm_sha256"]]
    assert len(copies) == COPIES - 1 and {r["reason"] for r in copies} == {"dedup_exact"}
    report = counts_index.check_text(doc["text"])
    assert report.verdict == "in" and report.matches[0].id == doc["id"]  # the document, before 79 removed copies
    assert report.counts["removed"] == len(copies) > len(report.removed)
    assert {m.id for m in report.removed} <= {r["id"] for r in copies}
    unlisted = len(copies) - len(report.removed)
    assert f"{unlisted:,} more removed copies are counted but not listed." in report.summary


def test_removed_copies_of_a_text_no_document_holds_are_all_counted(counts_release, counts_index):
    """No copy was kept, so none is a duplicate of a document: the removed copies are counted from the text's hashes,
    beyond the candidates a check verifies (3 x max_candidates)."""
    (poor,) = [r for r in _table(counts_release, "ledger") if r["url"] == POOR]
    copies = [r for r in _table(counts_release, "ledger") if r["norm_sha256"] == poor["norm_sha256"]]
    assert len(copies) == POOR_COPIES > 3 * counts_index.config.max_candidates and poor["text"]
    assert not [d for d in _table(counts_release, "documents") if d["norm_sha256"] == poor["norm_sha256"]]
    report = counts_index.check_text(poor["text"])
    assert report.verdict == "not in" and report.counts["removed"] == POOR_COPIES
    assert {m.id for m in report.removed} <= {r["id"] for r in copies}
    unlisted = POOR_COPIES - len(report.removed)
    assert unlisted > 0 and f"{unlisted:,} more removed copies are counted but not listed." in report.summary


def test_a_passage_with_more_sketch_hits_than_phrases_searched_is_counted_as_at_least(counts_release, counts_index):
    """The whole paragraph: more of its n-grams test positive than phrases are searched, so a document holding only
    an unsearched part of it would not be found: its count (here every holder, found by any phrase) is a lower bound."""
    passage = _paragraph(counts_release, QUOTED)
    report = counts_index.check_text(f"{passage} {ABSENT}")
    assert report.sketch["ngrams_positive"] > membership_query.MAX_PHRASES
    holding = _holding(counts_release, passage)
    assert f" appear in at least {holding} document(s) " in report.summary[0] and report.counts["lower_bounds"]


def test_removed_near_copies_are_counted_beside_the_documents_holding_a_passage(counts_release, counts_index):
    """A passage of the quoted page, then the whole removed page: the documents holding the passage are counted,
    and the removed copies found as near copies (no duplicate of a document) are counted as well as listed, more
    of them than a check verifies: a lower bound, said."""
    (poor,) = [r for r in _table(counts_release, "ledger") if r["url"] == POOR]
    copies = {r["id"] for r in _table(counts_release, "ledger") if r["norm_sha256"] == poor["norm_sha256"]}
    quoted = " ".join(_paragraph(counts_release, QUOTED).split()[:16])
    report = counts_index.check_text(f"{quoted} {poor['text']}")
    assert report.verdict == "partly in" and report.counts["documents"] == _holding(counts_release, quoted)
    listed = {m.id for m in report.removed}
    assert all("near_duplicate" in m.how for m in report.removed)
    assert listed and listed <= copies and len(listed) <= report.counts["removed"] <= len(copies)
    assert report.counts["lower_bounds"] is True  # more near copies than max_candidates


def test_a_document_is_found_however_many_removed_texts_hold_the_passage(counts_release, counts_index):
    """Two sentences of a kept page, also the whole text of 45 short pages the quality filter removed (which rank
    first by BM25: they are short): more removed texts than a phrase search returns never hide the document."""
    (doc,) = [d for d in _table(counts_release, "documents") if d["url"] == SHADOWED]
    passage = _two_sentences(_paragraph(counts_release, SHADOWED))
    shorts = [r for r in _table(counts_release, "ledger") if r["url"].startswith("http://short")]
    assert len(shorts) == SHORT_PAGES > 2 * counts_index.config.max_candidates
    assert _holding(counts_release, passage) == 1 and {r["stage"] for r in shorts} == {"quality"}
    report = counts_index.check_text(f"{passage} {ABSENT}")
    assert report.verdict == "partly in", report.summary[0]
    assert [m.id for m in report.matches] == [doc["id"]]
    # 19 of its words: no more n-grams than phrases searched; the removed texts' search stops at its limit
    report = counts_index.check_text(" ".join(passage.split()[:19]) + f" {ABSENT}")
    assert report.sketch["ngrams_positive"] <= membership_query.MAX_PHRASES
    assert [m.id for m in report.matches] == [doc["id"]] and report.counts["lower_bounds"] is True
    assert " appear in at least 1 document(s) " in report.summary[0]


def test_a_passage_among_the_false_positives_of_a_long_text_is_found(counts_release, counts_index):
    """A long text of words no page has tests positive on a few in 1,000 of its n-grams (the sketch's false
    positives), many times more than phrases are searched; a passage of a kept page (12 words: enough to hold a
    stored n-gram) set anywhere in it is found (it was answered "not in" unless a searched phrase fell inside it)."""
    rng = random.Random(12)
    filler = ["qz" + "".join(rng.choices("bcdfghjklmnpqrstvwxz", k=6)) for _ in range(20_000)]
    alone = counts_index.check_text(" ".join(filler))
    assert alone.verdict == "not in" and alone.sketch["ngrams_positive"] > 5 * membership_query.MAX_PHRASES
    (doc,) = [d for d in _table(counts_release, "documents") if d["url"] == QUOTED]
    passage = " ".join(doc["text"].split()[-12:])  # its last paragraph: no other page quotes it
    assert _holding(counts_release, passage) == 1
    for at in range(1_000, len(filler), 3_000):
        report = counts_index.check_text(" ".join([*filler[:at], passage, *filler[at:]]))
        assert report.verdict == "partly in", (at, report.summary[0])
        assert [m.id for m in report.matches] == [doc["id"]] and report.counts["documents"] == 1


def test_a_text_found_nowhere_is_no_lower_bound(counts_index):
    report = counts_index.check_text(ABSENT)
    assert report.verdict == "not in" and report.counts["lower_bounds"] is False
    assert report.counts["documents"] == report.counts["removed"] == 0


def test_caps_reached_exactly_leave_the_figures_exact(counts_release, counts_index, monkeypatch):
    """A page nothing else shares a word run with, checked whole with every cap at what it meets: one exact copy and
    a report listing one (LISTED), one near candidate and one verified (max_candidates), one candidate and one
    verified (VERIFIED_DEPTH x max_candidates), as many phrases searched as its n-grams test positive: nothing was
    left unverified, so its figures are exact. One exact copy more than a report lists is a lower bound."""
    (doc,) = [d for d in _table(counts_release, "documents") if d["url"] == ALONE]
    assert sum(r["norm_sha256"] == doc["norm_sha256"] for r in _table(counts_release, "ledger")) == 0
    assert _holding(counts_release, " ".join(word_list(doc["text"])[5:17])) == 1  # its passages: in it alone
    positive = counts_index.check_text(doc["text"]).sketch["ngrams_positive"]
    assert positive > membership_query.MAX_PHRASES  # each of them searched below
    monkeypatch.setattr(membership_query, "MAX_PHRASES", positive)
    monkeypatch.setattr(counts_index, "config", counts_index.config.model_copy(update={"max_candidates": 1}))
    monkeypatch.setattr(membership_query, "VERIFIED_DEPTH", 1)
    monkeypatch.setattr(membership_query, "LISTED", 1)
    report = counts_index.check_text(doc["text"])
    assert report.verdict == "in" and [m.id for m in report.matches] == [doc["id"]]
    assert report.counts["same_text_documents"] == report.counts["documents"] == 1
    assert report.counts["lower_bounds"] is False and " at least " not in report.summary[0]
    monkeypatch.setattr(membership_query, "LISTED", 0)
    assert counts_index.check_text(doc["text"]).counts["lower_bounds"] is True


def test_more_exact_copies_than_listed_stay_a_lower_bound_whatever_is_searched_after(
    counts_release, counts_index, monkeypatch
):
    """A long text of made-up words, both its copies removed: more exact copies than a report lists (1 here) make
    its figures lower bounds, and the searches after (near copies, phrases: more sketch hits than phrases searched,
    no document found, so every hit is searched) find fewer than their limits: they must not clear it."""
    copies = [r for r in _table(counts_release, "ledger") if r["url"].startswith("http://noise")]
    assert len(copies) == NOISE_COPIES == len({r["norm_sha256"] for r in copies}) + 1 and copies[0]["text"]
    monkeypatch.setattr(membership_query, "LISTED", 1)
    report = counts_index.check_text(copies[0]["text"])
    assert report.sketch["ngrams_positive"] > membership_query.MAX_PHRASES  # the sketch's false positives
    assert report.verdict == "not in" and report.counts["removed"] == NOISE_COPIES
    assert {m.id for m in report.removed} == {r["id"] for r in copies}
    assert report.counts["lower_bounds"] is True


def test_a_short_text_finds_the_removed_texts_holding_its_n_grams_not_only_the_whole(counts_release, counts_index):
    """Nine words of the shadowed page's sentences that 45 removed short pages hold too, then a word no page has: a
    text shorter than n + stride - 1 words is searched by its n-grams and whole. The whole finds nothing; the
    removed texts holding its n-grams are still candidates, verified and listed."""
    (doc,) = [d for d in _table(counts_release, "documents") if d["url"] == SHADOWED]
    words = _two_sentences(_paragraph(counts_release, SHADOWED)).split()
    shorts = {r["id"] for r in _table(counts_release, "ledger") if r["url"].startswith("http://short")}
    texts = [" ".join([*words[s : s + 9], "qqv0"]) for s in range(8)]
    reports = [r for r in map(counts_index.check_text, texts) if r.sketch["ngrams_positive"]]
    assert reports, "no start of the passage gives a stored n-gram"
    report = reports[0]
    assert len(word_list(texts[0])) < counts_index.config.ngram + counts_index.config.stride - 1
    assert [m.id for m in report.matches] == [doc["id"]]
    assert report.removed and {m.id for m in report.removed} <= shorts  # each holding 9 of its 10 words in a row
    assert all(m.overlap == 0.9 for m in report.removed)

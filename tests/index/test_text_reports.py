"""The whole answer to "is this text in?", word for word: what each kind of match says, the passages shown and
their order, the lines on short texts and on the release's form of the text, and the numbers handed on.

`test_check.py` asks whether the right documents are found in the planted release (tests/index/conftest.py);
these pin what a person reads. Expected values come from the construction (passages cut from known documents,
words that occur nowhere), from the release's own tables (ids, URLs, hashes) and from the index's settings.
"""

from __future__ import annotations

import pytest

from pipeline.index.answers import IN, NOT_IN, PARTLY, Match
from pipeline.index.query import MAX_PHRASES, _pct, _rank, _removed_sentence
from pipeline.index.tokens import word_list
from tests.index.conftest import CONTACT, EMAIL, mutate, true_jaccard

ESSAY, EN1, RU_REMOVED = "http://en.long.test/essay", "http://en.site.test/a/1", "http://ru.site.test/vtoraya"


@pytest.fixture(scope="module")
def rows(planted_index) -> dict[str, dict]:
    """url -> the release's own row (documents and ledger), read with DuckDB."""
    import duckdb

    out = {}
    for table in ("documents", "ledger"):
        rel = duckdb.sql(f"SELECT * FROM read_parquet('{planted_index.release}/{table}/*.parquet')")
        out |= {r["url"]: r for r in (dict(zip(rel.columns, row, strict=True)) for row in rel.fetchall())}
    return out


def absent(count: int, tag: str = "qqz") -> list[str]:
    return [f"{tag}{i}" for i in range(count)]


def test_an_exact_copy_in_full(index, rows):
    doc = rows["http://de.site.test/a/2"]
    report = index.check_text(doc["text"])
    assert report.summary[0] == f"IN: an exact copy is in 1 document(s), e.g. {doc['id']} ({doc['url']})."
    assert report.query == {"kind": "text", "chars": len(doc["text"]), "words": len(word_list(doc["text"])),
                            "text_sha256": doc["text_sha256"], "norm_sha256": doc["norm_sha256"],
                            "release_form": ""}  # fmt: skip
    assert report.counts == {"documents": len(report.matches), "removed": len(report.removed), "overlap": 1.0,
                             "same_text_documents": 1,  # a page has more sketch hits than phrases searched:
                             "lower_bounds": report.sketch["ngrams_positive"] > MAX_PHRASES}  # fmt: skip
    cfg = index.config
    assert report.sketch["guaranteed_from_words"] == cfg.ngram + cfg.stride - 1
    assert report.summary[-1] == ("Records removed as opted out carry no text, so a text cannot be matched to them: "
                                  "check the page's URL or its domain as well.")  # fmt: skip
    assert report.summary[-2].endswith("it only proposes candidates: every match above was verified on the "
                                       "document's text.")  # fmt: skip
    assert report.release == index.release_id and report.index["manifest_sha256"] == index.info["manifest_sha256"]


def test_the_same_text_up_to_case_and_punctuation(index, rows):
    doc = rows["http://it.site.test/a/2"]
    report = index.check_text(doc["text"].upper().replace(".", " !"))
    assert report.summary[0] == (f"IN: the same text up to case, punctuation and spacing is in 1 document(s), "
                                 f"e.g. {doc['id']} ({doc['url']}).")  # fmt: skip
    assert report.counts["same_text_documents"] == 1 and report.query["norm_sha256"] == doc["norm_sha256"]


def test_a_near_copy_says_both_figures(index, rows):
    doc = rows["http://fr.site.test/a/1"]
    near = mutate(doc["text"], 60)
    report = index.check_text(near)
    best = report.matches[0]
    assert best.jaccard == round(true_jaccard(doc["text"], near), 4)  # four decimals, as every figure
    assert best.estimated_jaccard == round(best.estimated_jaccard, 4) and 0.5 < best.estimated_jaccard < 1
    assert report.summary[0] == (f"IN: a near copy is in the training data: {doc['id']} ({doc['url']}), Jaccard "
                                 f"{best.jaccard:.2f} verified on the text (MinHash estimate "
                                 f"{best.estimated_jaccard}).")  # fmt: skip


def test_a_paragraph_contained_in_a_document(index, rows):
    doc = rows[ESSAY]
    paragraph = max(doc["text"].split("\n")[10:20], key=len)
    report = index.check_text(paragraph)
    assert report.summary[0] == f"IN: 100% of the text's words appear, in order, in {doc['id']} ({doc['url']})."
    assert report.matches[0].how == ["contained"]


def test_passages_of_two_documents_and_a_removed_one(index, rows):
    """20 words of the essay, 12 of an article, 12 of a removed page, among words that occur nowhere: PARTLY IN,
    with the share of words covered by the documents that are in (not the removed one), each passage located."""
    essay, article, gone = (rows[u]["text"].split() for u in (ESSAY, EN1, RU_REMOVED))
    parts = [essay[100:120], absent(10, "aa"), article[30:42], absent(10, "bb"), gone[20:32], absent(6, "cc")]
    query = " ".join(w for part in parts for w in part)
    tokens = word_list(query)
    report = index.check_text(query)
    assert report.verdict == PARTLY
    in_words = len(word_list(" ".join(essay[100:120]))) + len(word_list(" ".join(article[30:42])))
    overlap = in_words / len(tokens)
    assert report.counts["overlap"] == round(overlap, 4)
    best, second = report.matches  # by share of the text covered: the essay's 20 words first
    assert (best.url, second.url) == (ESSAY, EN1) and best.how == second.how == ["overlap"]
    assert report.summary[0] == (f"PARTLY IN: {_pct(overlap)} of the text's {len(tokens)} words appear in 2 "
                                 f"document(s) (longest shared passage: 20 words, in {best.id} ({ESSAY})).")
    for match, url in ((best, ESSAY), (second, EN1)):
        text = rows[url]["text"]
        for span in match.spans:
            shown = query[span.query_start : span.query_end]
            assert word_list(shown) == word_list(text[span.doc_start : span.doc_end])
            assert len(word_list(shown)) == span.words
    assert [s.words for s in best.spans] == sorted((s.words for s in best.spans), reverse=True)
    assert best.spans[0].words == 20 and best.overlap == round(20 / len(tokens), 4)
    verified = [true_jaccard(query, rows[u]["text"]) for u in (ESSAY, EN1)]
    assert [best.jaccard, second.jaccard] == [round(j, 4) for j in verified]  # four decimals, not five
    assert any(round(j, 5) != round(j, 4) for j in verified)
    assert [m.url for m in report.removed] == [RU_REMOVED]


def test_the_longest_passage_is_listed_first(index, rows):
    words = rows[ESSAY]["text"].split()
    query = " ".join(words[200:212] + absent(5) + words[300:330])  # 12 words, then 30 words
    (match,) = [m for m in index.check_text(query).matches if m.url == ESSAY]
    assert [s.words for s in match.spans][:2] == [30, 12]


@pytest.mark.parametrize("count", [7, 8, 10, 11])
def test_what_is_said_about_a_short_text(index, rows, count):
    cfg = index.config
    n, guaranteed = cfg.ngram, cfg.ngram + cfg.stride - 1
    assert (n - 1, n, guaranteed - 1, guaranteed) == (7, 8, 10, 11)  # the boundaries this test is written for
    words = rows[ESSAY]["text"].split()[60 : 60 + count]
    report = index.check_text(" ".join(words))
    fewer = (f"The text has fewer than {n} words: found passages are reported as partial overlap only, since a few "
             "words in a row prove little; exact and near-duplicate matches still count.")  # fmt: skip
    phrase = (f"The text has {count} words: a copy of the whole text was looked for as one phrase; a shorter shared "
              f"passage is certain to be found only from {guaranteed} words (n-gram {n}, stride {cfg.stride}).")
    assert (fewer in report.summary) == (count < n)
    assert (phrase in report.summary) == (n <= count < guaranteed)
    assert report.verdict == (PARTLY if count < n else IN)  # a verbatim passage of n words or more is contained
    assert report.matches[0].url == ESSAY


def test_a_text_compared_in_the_release_form(index, rows):
    doc = rows["http://en.contact.test/team"]
    report = index.check_text(CONTACT)
    changed = report.query["release_form"]
    assert changed and f"Compared as the release stores texts: {changed}." in report.summary
    assert EMAIL not in doc["text"] and report.verdict in (IN, PARTLY) and report.matches[0].url == doc["url"]


def test_a_text_found_nowhere(index):
    report = index.check_text(" ".join(absent(40)))
    assert report.verdict == NOT_IN and report.matches == [] and report.counts["overlap"] == 0.0
    assert report.summary[0] == (
        "NOT IN: no document of this release contains this text, a near copy of it or a passage of it."
    )


def test_percentages_keep_small_shares_visible():
    assert [_pct(x) for x in (0, 0.004, 0.0099, 0.01, 0.5, 1)] == ["0%", "0.40%", "0.99%", "1%", "50%", "100%"]


def test_matches_rank_same_text_then_near_by_jaccard_then_by_overlap_then_id():
    def m(id_: str, how: list[str], jaccard: float = 0.0, overlap: float = 0.0) -> Match:
        return Match(id=id_, status="in", how=how, jaccard=jaccard, overlap=overlap)

    order = [m("z", ["normalised"], 0.2, 1.0), m("y", ["exact"], 0.1, 1.0), m("x", ["near_duplicate"], 0.95, 0.3),
             m("w", ["near_duplicate", "contained"], 0.85, 0.99), m("v", ["contained"], 0.1, 0.9),
             m("u", ["overlap"], 0.5, 0.4), m("t", ["overlap"], 0.6, 0.4)]  # fmt: skip
    ranked = sorted(reversed(order), key=_rank)
    assert [r.id for r in ranked] == ["y", "z", "x", "w", "v", "t", "u"]
    assert _rank(Match(id="a", status="in", how=["overlap"])) == (2, 0, 0, "a")  # no figures: zeros, not errors


def test_a_removed_copy_in_one_sentence():
    base = dict(id="d1", status="removed", how=["exact"], stage="quality", reason="gopher_stop_words")
    assert _removed_sentence(Match(**base, url="http://a.test/p", domain="a.test", detail="2 stop words")) == (
        "A copy from a.test (http://a.test/p) was removed at stage quality (gopher_stop_words: 2 stop words).")
    assert _removed_sentence(Match(**base, url="http://a.test/p")) == (
        "A copy from http://a.test/p (http://a.test/p) was removed at stage quality (gopher_stop_words).")
    assert _removed_sentence(Match(**base)) == (
        "A copy from an unknown site (d1) was removed at stage quality (gopher_stop_words).")
    opted = {**base, "stage": "optout", "reason": "optout_tdmrep"}
    assert _removed_sentence(Match(**opted, domain="b.test", duplicate_of="k9")) == (
        "A copy from b.test (d1) was removed at stage optout (optout_tdmrep): the rights holder opted out; "
        "it duplicates k9 (no URL), which is in.")


def test_a_best_match_without_a_url_or_estimate(index):
    best = Match(id="k1", status="in", how=["near_duplicate"], jaccard=0.91)
    assert index._text_verdict(IN, [best], (0, 1, False), 0.9, 50) == (
        "IN: a near copy is in the training data: k1 (no URL), Jaccard 0.91 verified on the text (MinHash estimate "
        "n/a).")
    part = Match(id="k2", status="in", how=["overlap"], url="http://c.test/")
    assert index._text_verdict(PARTLY, [part], (0, 1, False), 0.25, 40) == (
        "PARTLY IN: 25% of the text's 40 words appear in 1 document(s) (longest shared passage: 0 words, in k2 "
        "(http://c.test/)).")
    assert index._text_verdict(PARTLY, [part], (0, 3, True), 0.25, 40).startswith(  # a search stopped at its limit
        "PARTLY IN: 25% of the text's 40 words appear in at least 3 document(s) (")


@pytest.mark.parametrize(("text", "message"), [
    ("", "the text is empty: give the text to look for"),
    ("\x00 \n", "the text is empty: give the text to look for"),
    ("!!! ??? …", "the text has no words (only punctuation or symbols): nothing to look for"),
    ("word " * 40_001, "the text is 200,005 characters long; the limit is 200,000: check it in parts (a few paragraphs "
                       "each)"),
])  # fmt: skip
def test_a_text_that_cannot_be_checked_is_refused_in_words(index, text, message):
    from pipeline.index import MembershipIndexError

    with pytest.raises(MembershipIndexError) as err:
        index.check_text(text)
    assert str(err.value) == message


def test_the_longest_text_allowed_is_checked(index):
    text = ("word " * 40_000)[: index.config.max_query_chars]
    assert len(text) == index.config.max_query_chars and index.check_text(text).verdict == NOT_IN


def test_check_needs_a_question_and_a_url_that_is_one(index):
    from pipeline.index import MembershipIndexError

    with pytest.raises(MembershipIndexError) as err:
        index.check()
    assert str(err.value) == "give a text, a URL or a domain to check"
    for empty in ("", "\x00"):
        with pytest.raises(MembershipIndexError):
            index.check_url(empty)


def test_the_combined_verdict_is_the_strongest_part(index, rows):
    words = rows[ESSAY]["text"].split()
    partly = " ".join(words[100:112] + absent(30))  # a passage among words found nowhere
    assert index.check_text(partly).verdict == PARTLY and index.check_domain("site.test").verdict == PARTLY
    assert index.check(text=partly, domain="de.site.test").verdict == IN  # in beats partly
    assert index.check(text=" ".join(absent(20)), domain="site.test").verdict == PARTLY  # partly beats not in


def test_the_lead_of_a_kept_page_and_text_found_elsewhere_too(index, rows):
    """A page that is in, asked with two words found in many documents: no removal named, three other
    documents named as copies, in the text answer's order."""
    from collections import Counter

    kept = {u: r["text"] for u, r in rows.items() if "word_count" in r}  # the documents table's rows
    pairs = Counter(p for t in kept.values() for p in {" ".join(t.split()[i : i + 2]) for i in range(len(t.split()))})
    words, count = pairs.most_common(1)[0]
    assert count >= 5
    page = min(u for u, t in kept.items() if words in t)
    text_only = index.check_text(words)
    elsewhere = [m.url or m.id for m in text_only.matches if m.url != page]
    assert len(elsewhere) >= 4
    report = index.check(text=words, url=page)
    assert report.summary[0] == f"{page}: {IN}; its text: {text_only.verdict} (copies in: {', '.join(elsewhere[:3])})."


def test_two_words_are_looked_for_as_a_phrase(index, rows):
    doc = rows["http://ru.site.test/statya"]
    report = index.check_text(" ".join(doc["text"].split()[:2]))
    assert report.verdict == PARTLY and doc["id"] in {m.id for m in report.matches}


def test_nine_words_of_ten_in_order_are_contained(index, rows):
    """9 verbatim words and one found nowhere: 90 % of the text, the `contained` threshold itself, is "in". The
    sketch holds a document's n-grams every `stride` words, so of four consecutive starts some are found by it."""
    cfg = index.config
    assert cfg.contained == 0.9 and cfg.ngram == 8
    words = rows[ESSAY]["text"].split()
    verdicts = [index.check_text(" ".join([*words[s : s + 9], "zzqword"])).verdict for s in range(40, 44)]
    assert IN in verdicts and set(verdicts) <= {IN, NOT_IN}

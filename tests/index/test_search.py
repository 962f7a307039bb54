"""Full-text search (BM25 over tantivy): ranking, language filter, snippets, removed records, tokenisation."""

from __future__ import annotations

import pytest

from pipeline.index import MembershipIndexError
from pipeline.index.tokens import analyzer, word_list
from pipeline.text_identity import strip_format_text


def test_phrase_finds_its_document_with_a_snippet(index, docs):
    doc_id, text = docs["http://de.site.test/a/1"]
    phrase = " ".join(text.split()[10:16])
    report = index.search(f'"{phrase}"')
    assert report.total >= 1 and report.hits[0].id == doc_id
    hit = report.hits[0]
    assert hit.url == "http://de.site.test/a/1" and hit.language == "de" and hit.status == "in"
    marked = [hit.snippet[a:b].lower() for a, b in hit.highlights]
    assert marked and set(marked) <= set(word_list(phrase))


def test_bm25_ranking_and_limit(index, docs):
    doc_id, _ = docs["http://en.long.test/essay"]  # has every word of the query, many times
    report = index.search("council bridge library harbour", limit=20)
    assert report.total > 1 and len(report.hits) <= 20
    assert [h.score for h in report.hits] == sorted((h.score for h in report.hits), reverse=True)
    assert doc_id in [h.id for h in report.hits[:5]]


def test_language_filter(index):
    for lang in ("de", "fr", "ru"):
        report = index.search("der la с the", language=lang, limit=50)
        assert report.total >= 1 and {h.language for h in report.hits} == {lang}
    assert index.search("Gemeinderat", language="en").total == 0
    assert index.search("Gemeinderat", language="de").total >= 1


def test_cyrillic_search(index, docs):
    doc_id, _ = docs["http://ru.site.test/statya"]
    report = index.search("Старый мост", language="ru")
    assert doc_id in [h.id for h in report.hits]
    assert any(h.snippet[a:b].lower() in ("старый", "мост") for h in report.hits for a, b in h.highlights)


def test_removed_records_only_on_request(index):
    text = _removed_text(index)
    phrase = '"' + " ".join(text.split()[3:9]) + '"'
    assert all(h.status == "in" for h in index.search(phrase, limit=50).hits)
    report = index.search(phrase, include_removed=True, limit=50)
    assert any(h.status == "removed" and h.url == "http://ru.site.test/vtoraya" for h in report.hits)


def _removed_text(index) -> str:
    (row,) = index._rows("SELECT entry FROM entries WHERE url = 'http://ru.site.test/vtoraya'")
    return index._texts([row["entry"]])[row["entry"]]


def test_operators_are_words_not_syntax(index):
    plain = index.search("bridge council", limit=100)
    assert index.search("bridge OR council", limit=100).total >= plain.total  # 'or' is just one more word
    assert index.search("title:bridge", limit=100).total == index.search("title bridge", limit=100).total


@pytest.mark.parametrize(("query", "kwargs", "message"), [
    ("", {}, "the search query is empty"),
    ("   ", {}, "the search query is empty"),
    ("\x00 ", {}, "the search query is empty"),
    ("x" * 1_001, {}, "the search query is 1,001 characters; the limit is 1,000"),
    ("bridge", {"limit": 0}, "--limit must be between 1 and 100"),
    ("bridge", {"limit": 101}, "--limit must be between 1 and 100"),
    ("bridge", {"language": "de' OR 1=1"}, "--lang \"de' OR 1=1\" is not an ISO 639 code such as 'de'"),
    ("bridge", {"language": "EN"}, "--lang 'EN' is not an ISO 639 code such as 'de'"),
    ('"" ***', {}, "the search query has no words to look for"),
])  # fmt: skip
def test_bad_searches_are_refused_in_words(index, query, kwargs, message):
    with pytest.raises(MembershipIndexError) as err:
        index.search(query, **kwargs)
    assert str(err.value) == message


@pytest.mark.parametrize(
    "text",
    [
        "Hello, Wörld! l'été — x_y 3.14 ΟΔΟΣ İstanbul Straße",
        "東京は日本の首都です。 ภาษาไทย 한국어 텍스트",
        "Привет, мир! नमस्ते दुनिया مرحبا",
        "e\u0301te\u0301 café naïve 😀x " + "y" * 45,
        "Bundes\u00adregierung zero\u200bwidth jo\u200dined \ufeffbom",
    ],
)
def test_one_word_definition_for_sketch_and_full_text(text):
    """The sketch's words (Polars) and tantivy's tokens of the text the index gives it (without format
    characters) must agree, or a sketch n-gram could not be sent as a phrase query."""
    assert word_list(text) == analyzer().analyze(strip_format_text(text))


def test_format_characters_never_split_a_word():
    assert word_list("Bundes\u00adregierung zero\u200bwidth \ufeffbom") == ["bundesregierung", "zerowidth", "bom"]


def test_word_definition_agrees_on_every_document(docs):
    for _, text in docs.values():
        assert word_list(text) == analyzer().analyze(strip_format_text(text))


def test_cjk_characters_are_words():
    assert word_list("東京は日本") == ["東", "京", "は", "日", "本"]


def test_every_hit_up_to_the_limit_is_returned(index):
    """One shard, more hits than tantivy's default page of 10: all of them, as counted."""
    report = index.search("the der la il one", limit=100)  # any of these words: most documents
    assert 10 < report.total <= 100 and len(report.hits) == report.total


def _has_run(tokens: list[str], run: list[str]) -> bool:
    return any(tokens[i : i + len(run)] == run for i in range(len(tokens) - len(run) + 1))


@pytest.mark.parametrize("word_in_doc", [True, False], ids=["word in the document", "word elsewhere"])
def test_a_quoted_phrase_and_a_loose_word_are_both_required(index, docs, word_in_doc):
    """The phrase's own words are not loose words: the hits are exactly the kept documents that hold the phrase
    and the other word (counted here from their texts), so a document with the phrase alone is no hit."""
    doc_id, text = docs["http://de.site.test/a/1"]
    tokens = word_list(text)
    phrase = tokens[10:16]
    others = [w for url, (_, t) in sorted(docs.items()) if url != "http://de.site.test/a/1" for w in word_list(t)]
    word = next(w for w in (tokens[30:] if word_in_doc else others) if w not in phrase and (w in tokens) == word_in_doc)
    expected = {i for i, t in docs.values() if _has_run(word_list(t), phrase) and word in word_list(t)}
    report = index.search(f'"{" ".join(phrase)}" {word}', limit=100)
    assert {h.id for h in report.hits} == expected and report.total == len(expected)
    assert (doc_id in expected) == word_in_doc

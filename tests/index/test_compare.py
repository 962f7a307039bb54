"""The evidence behind a text answer (`pipeline/index/compare.py`): shared runs of words, word offsets in the text
as pasted and as stored, and the Jaccard of shingle sets, each checked against what it must mean, not against
its own output: a run is the same words at both places, cannot be extended, and no shared n-gram is skipped; an
offset slices the text back to its word."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.index.compare import jaccard, query_offsets, shared_spans, shingle_sets, word_offsets
from pipeline.index.tokens import word_list
from pipeline.text_identity import released_forms

WORDS = st.lists(st.sampled_from(["a", "b", "c", "d"]), max_size=24)


@given(query=WORDS, doc=WORDS, n=st.integers(1, 4))
def test_shared_spans_are_maximal_runs_of_the_same_words_and_miss_no_shared_ngram(query, doc, n):
    spans = shared_spans(query, doc, n)
    grams = {tuple(doc[j : j + n]) for j in range(len(doc) - n + 1)}
    first = {}
    for j in range(len(doc) - n + 1):
        first.setdefault(tuple(doc[j : j + n]), j)
    i = 0
    for qa, qb, da in spans:
        # every start skipped since the last run begins an n-gram the document does not have
        assert all(tuple(query[k : k + n]) not in grams for k in range(i, qa))
        length = qb - qa
        assert length >= n and query[qa:qb] == doc[da : da + length]
        assert da == first[tuple(query[qa : qa + n])]  # at the n-gram's first place in the document
        assert qb == len(query) or da + length == len(doc) or query[qb] != doc[da + length]  # cannot be extended
        i = qb
    assert all(tuple(query[k : k + n]) not in grams for k in range(i, len(query) - n + 1))


@pytest.mark.parametrize(("query", "doc", "n", "expected"), [
    (["x", "y", "z"], ["x", "y", "z"], 3, [(0, 3, 0)]),  # exactly n words on both sides
    (["q", "x", "y", "z"], ["a", "b", "x", "y", "z"], 3, [(1, 4, 2)]),  # the run ends both texts
    (["x", "y"], ["x", "y", "z"], 3, []),  # shorter than n: nothing
])  # fmt: skip
def test_shared_spans_at_the_edges(query, doc, n, expected):
    assert shared_spans(query, doc, n) == expected


@given(st.lists(st.sampled_from(["Straße", "ÉCOLE", "İstanbul", "ﬁle", "so\u00adme", "Zu\u200bg", "x1", "A", "ΟΔΟΣ",
                                 "İİ\u200bİ", "ǅemal"]), min_size=1, max_size=8))  # fmt: skip
def test_word_offsets_slice_the_text_back_to_its_words(chosen):
    text = " ".join(chosen) + "."
    tokens = word_list(text)
    offsets = word_offsets(text, tokens)
    assert len(offsets) == len(tokens)
    ends = [0]
    for (a, b), token in zip(offsets, tokens, strict=True):
        assert 0 <= a <= b <= len(text) and a >= ends[-1]  # in order, inside the text
        assert word_list(text[a:b]) == [token]  # the word itself, as the tokenizer reads it
        ends.append(b)


def test_word_offsets_of_plain_and_invisible_characters():
    text = "Heute fährt der Zu\u200bg um acht"
    tokens = word_list(text)
    assert [text[a:b] for a, b in word_offsets(text, tokens)] == ["Heute", "fährt", "der", "Zu\u200bg", "um", "acht"]
    assert word_offsets("Word one", ["word", "one"])[0] == (0, 4)  # a word at the very start


def test_words_that_lower_case_otherwise_are_found_where_they_stand():
    """'İ' lower-cases to two characters and a final 'Σ' to 'σ' for the tokenizer ('ς' for Python): each word is
    found whole, and the words after it keep their own offsets."""
    text = "İSTANBUL und Köln, KÖLN und İSTANBUL, ΟΔΟΣ ΣΟΦΟΣ και İ\u200bİ"
    tokens = word_list(text)
    found = [text[a:b] for a, b in word_offsets(text, tokens)]
    assert found == ["İSTANBUL", "und", "Köln", "KÖLN", "und", "İSTANBUL", "ΟΔΟΣ", "ΣΟΦΟΣ", "και", "İ\u200bİ"]


@pytest.mark.parametrize(("text", "stood"), [("some so\u00adft words", 4), ("some\u00ad words", 5)])
def test_a_word_that_is_not_in_the_text_gets_an_empty_range(text, stood):
    """The range starts and ends where the search stood: after "some" (and after a format character that follows
    it, which the search skipped), never a range that ends before it starts."""
    offsets = word_offsets(text, ["some", "absent", "words"])
    assert [text[a:b] for a, b in offsets] == ["some", "", "words"]
    assert offsets[1][0] == offsets[1][1] == stood


REDACT = {"emails": True, "ip_addresses": True, "ibans": True}


@pytest.mark.parametrize(("raw", "expected"), [
    ("Write to anna.meier@example.ch or 8.8.8.8 today",
     ["Write", "to", "anna.meier@example.ch", "anna.meier@example.ch", "or", "8.8.8.8", "8.8.8.8", "today"]),
    ("anna@example.ch wrote", ["anna@example.ch", "anna@example.ch", "wrote"]),
])  # fmt: skip
def test_a_placeholder_points_at_the_personal_data_it_replaced(raw, expected):
    tokens = word_list(released_forms(raw, REDACT)[-1])  # ..., "email", "address", ...: the release's words
    assert [raw[a:b] for a, b in query_offsets(raw, tokens)] == expected


def test_placeholder_words_without_a_counterpart_point_after_the_last_pasted_word():
    """'ip address' written out is matched to the placeholder's words; the placeholder's own words, left
    without a pasted counterpart at the end, get an empty range after the last pasted word."""
    raw = "mail 8.8.8.8 ip address"
    tokens = word_list(released_forms(raw, REDACT)[-1])
    assert tokens == ["mail", "ip", "address", "ip", "address"]
    offsets = query_offsets(raw, tokens)
    assert [raw[a:b] for a, b in offsets[:3]] == ["mail", "ip", "address"]
    assert offsets[3:] == [(len(raw), len(raw))] * 2


def test_jaccard_of_shingle_sets():
    a, b, empty = shingle_sets(["one two three four five six", "two three four five six seven", ""], 5)
    assert len(a) == len(b) == 2 and len(empty) == 0
    assert jaccard(a, b) == pytest.approx(1 / 3)  # one shingle of three shared
    assert jaccard(a, a) == 1.0 and jaccard(empty, empty) == 0.0 and jaccard(a, empty) == 0.0
    assert np.all(a[1:] > a[:-1])  # distinct and sorted

"""Membership answers at their edges, each built so that the answer is known: a release that kept e-mail
addresses (its pii step had them switched off), a kept page of seven words and twelve copies of a one-word page
(quality filters off, so the short texts stay; the copies span two full-text shards), a near copy that is not
contained, a text at exactly the near-duplicate threshold, a passage that starts with a replaced address, a
site's examples chosen as a large site's are, and a URL with more records than a report lists."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from pipeline.fingerprints import shingle_hashes
from pipeline.index import query as membership_query
from pipeline.index.tokens import word_list
from pipeline.synthetic import make_page
from pipeline.text_identity import as_released
from tests.helpers.shared_build import build_once
from tests.helpers.warcs import Page, write_warc
from tests.index.conftest import CONTACT, EMAIL, PUBLIC_IP, html

FILLERS = 14  # kept pages before the copies: with them, the first full-text shard holds no copy
SHARD_DOCS = 16  # texts per full-text shard of this index
WORD, WORD_COPIES = "Zygomorphic", 12
SHORT = "Seven quiet herons crossed the dawn river."  # fewer words than the sketch's n-gram: never 'contained'
CONTACT_URL, SHORT_URL = "http://en.contact.test/team", "http://short.test/note"
MIXED = "mixed.test"
AGAIN_URL, AGAIN_KEPT = "http://again.test/daily", 3  # one URL fetched four times: three texts kept, one reserved


def bare(text: str) -> str:
    """A page whose extracted text is `text` alone (no title or heading)."""
    return f'<html lang="en"><body><p>{text}</p></body></html>'


@pytest.fixture(scope="module")
def edges(tmp_path_factory) -> Path:
    from pipeline.cli import app
    from pipeline.index import build_index
    from pipeline.index.config import IndexConfig

    pages = [Page(p.url, html(p.title, list(p.paragraphs))) for p in (
        make_page(700 + k, f"http://en.filler.test/{k}", "en") for k in range(FILLERS)
    )]  # fmt: skip
    contact = make_page(721, CONTACT_URL, "en")
    last = f"{contact.paragraphs[-1]} {CONTACT}"  # an e-mail address and an IP address
    pages.append(Page(contact.url, html(contact.title, [*contact.paragraphs[:-1], last])))
    pages.append(Page(SHORT_URL, bare(SHORT)))
    pages += [Page(f"http://word{k}.test/", bare(WORD)) for k in range(WORD_COPIES)]
    pages += [  # a page removed for each of three opt-out signals (and the robots.txt, a policy file)
        Page(f"http://{MIXED}/robots.txt", "User-agent: *\nDisallow: /private/\n", "text/plain"),
        Page(f"http://{MIXED}/private/a", bare(SHORT)),
        Page(f"http://{MIXED}/b", '<html><head><meta name="robots" content="noai"></head><body><p>b</p></body></html>'),
        Page(f"http://{MIXED}/c", bare(SHORT), extra_headers=(("tdm-reservation", "1"),)),
    ]
    again = [make_page(740 + k, AGAIN_URL, "en") for k in range(AGAIN_KEPT + 1)]
    pages += [Page(AGAIN_URL, html(p.title, list(p.paragraphs))) for p in again[:AGAIN_KEPT]]
    pages.append(Page(AGAIN_URL, html(again[-1].title, list(again[-1].paragraphs)),
                      extra_headers=(("tdm-reservation", "1"),)))  # fmt: skip
    config = {"pii": {"emails": False}, "quality": {q: {"enabled": False} for q in ("gopher", "c4", "fineweb")}}

    def build(where: Path) -> None:
        warc, config_file = where / "edges.warc.gz", where / "config.json"
        write_warc(warc, pages)
        config_file.write_text(json.dumps(config), encoding="utf-8")
        result = CliRunner().invoke(app, ["run", str(warc), "--out", str(where / "rel"), "--config", str(config_file),
                                          "--extractor", "resiliparse", "--no-index"])  # fmt: skip
        assert result.exit_code == 0, result.output
        build_index(where / "rel", IndexConfig(text_shard_docs=SHARD_DOCS))

    # tests only read it: `make mutate` shares one build between the membership mutants
    return build_once("APERTURA_EDGES_RELEASE", build, tmp_path_factory.mktemp("edges")) / "rel"


@pytest.fixture(scope="module")
def edges_index(edges):
    from pipeline.index import open_index

    return open_index(edges)


def stored(release: Path, url: str) -> tuple[str, str]:
    """(id, text) of the kept document at `url`."""
    rows = duckdb.execute(
        "SELECT id, text FROM read_parquet($files) WHERE url = $url",
        {"files": f"{release}/documents/*.parquet", "url": url},
    ).fetchall()
    assert len(rows) == 1, rows
    return rows[0]


def test_a_release_that_kept_e_mail_addresses_is_checked_with_them(edges, edges_index):
    doc_id, text = stored(edges, CONTACT_URL)
    assert EMAIL in text and PUBLIC_IP not in text and text.count("<IP_ADDRESS>") == 1  # the build's pii switches
    pasted = text.replace("<IP_ADDRESS>", PUBLIC_IP)  # the page as it was: the release replaced only the IP
    report = edges_index.check_text(pasted)
    assert report.verdict == "in", report.summary
    assert report.matches[0].id == doc_id and report.matches[0].how[0] == "exact"
    assert "1 IP address replaced by <IP_ADDRESS>" in report.query["release_form"]
    assert "e-mail" not in report.query["release_form"]


def test_an_exact_copy_too_short_to_be_contained_is_in(edges, edges_index):
    doc_id, text = stored(edges, SHORT_URL)
    assert text.strip() == SHORT and len(word_list(SHORT)) < edges_index.config.ngram
    for pasted, how in ((SHORT, "exact"), (SHORT.upper().replace(" ", " , "), "normalised")):
        report = edges_index.check_text(pasted)
        assert report.verdict == "in", (pasted, report.summary)
        assert report.matches[0].id == doc_id and report.matches[0].how == [how, "near_duplicate", "overlap"]


def test_every_copy_of_a_one_word_text_is_verified_on_its_text_across_shards(edges, edges_index):
    info = json.loads((edges / "index" / "index.json").read_text(encoding="utf-8"))
    shards = [(s["first_entry"], s["entries"]) for s in info["text_shards"]]
    entries = {r["entry"] for r in edges_index._rows("SELECT entry FROM entries WHERE url LIKE 'http://word%'")}
    holding = [len([e for e in entries if first <= e < first + n]) for first, n in shards]
    assert holding[0] == 0 and max(holding) > 10  # the construction: a shard without copies, one with more than ten

    report = edges_index.check_text(WORD)
    assert report.verdict == "in" and len(report.matches) == 1 and len(report.removed) == WORD_COPIES - 1
    for m in [*report.matches, *report.removed]:  # each compared with its stored text, none on its hash alone
        assert m.how == ["exact", "near_duplicate", "overlap"] and m.overlap == 1.0 and m.jaccard == 1.0, m
        assert [(s.words, s.query_start, s.query_end) for s in m.spans] == [(1, 0, len(WORD))]


def shingles(text: str) -> np.ndarray:
    """The text's distinct word 5-gram shingle hashes, as dedup makes them (the membership index's near test)."""
    return np.unique(shingle_hashes(pl.Series([text], dtype=pl.String), 5)[0])


def test_a_near_copy_that_is_not_contained_is_in(index, docs):
    doc_id, text = docs["http://en.site.test/a/2"]
    pasted = text + " " + " ".join(["Plover ketch quince dwarf jumbo vex."] * 12)
    ours, theirs = shingles(pasted), shingles(text)
    truth = len(np.intersect1d(ours, theirs)) / len(np.union1d(ours, theirs))
    share = len(word_list(text)) / len(word_list(pasted))
    assert truth >= index.config.near_threshold and share < index.config.contained  # near, not contained
    report = index.check_text(pasted)
    assert report.verdict == "in", report.summary
    best = report.matches[0]
    assert best.id == doc_id and best.how == ["near_duplicate", "overlap"] and best.jaccard == round(truth, 4)


def test_a_text_at_exactly_the_near_threshold_is_a_near_duplicate(index, docs):
    doc_id, text = docs["http://en.long.test/essay"]
    words, theirs = text.split(), shingles(text)
    threshold = Fraction(str(index.config.near_threshold))
    for cut in range(len(words) - 1, len(words) // 2, -1):  # a prefix of the essay, then k new words
        prefix = shingles(" ".join(words[:cut]))
        shared = len(np.intersect1d(prefix, theirs))
        k = Fraction(shared) / threshold - len(np.union1d(prefix, theirs))
        if k.denominator == 1 and 0 <= k <= 20:
            pasted = " ".join([*words[:cut], *(f"qzx{i}" for i in range(int(k)))])
            ours = shingles(pasted)
            assert Fraction(len(np.intersect1d(ours, theirs)), len(np.union1d(ours, theirs))) == threshold
            break
    else:
        pytest.fail("no prefix of the essay has a Jaccard of exactly the threshold")
    match = next(m for m in index.check_text(pasted).matches if m.id == doc_id)
    assert match.jaccard == float(threshold) and "near_duplicate" in match.how


def test_a_passage_that_starts_with_a_replaced_address_is_placed_from_its_first_character(index, docs):
    doc_id, _ = docs[CONTACT_URL]
    pasted = "address@example.ch or reach the archive server at 8.8.8.8 on any working day."
    report = index.check_text(pasted)  # its release form starts with a placeholder word the pasted text lacks
    span = next(m for m in report.matches if m.id == doc_id).spans[0]
    assert (span.words, span.query_start, span.query_end) == (len(word_list(as_released(pasted))), 0, len(pasted) - 1)


@pytest.mark.parametrize("domain", ["site.test", "example.org", "mirror.test", "en.site.test"])
@pytest.mark.parametrize("limit", [1, 3, 20])
def test_a_large_sites_examples_are_chosen_as_a_small_sites(index, monkeypatch, domain, limit):
    small = index.check_domain(domain, limit=limit)
    monkeypatch.setattr(membership_query, "SMALL_SITE", 0)  # every site takes the large site's two queries
    large = index.check_domain(domain, limit=limit)
    assert small.verdict == large.verdict and small.counts == large.counts and small.summary == large.summary
    assert [m.id for m in small.matches] == [m.id for m in large.matches]
    assert [m.id for m in small.removed] == [m.id for m in large.removed]
    assert len(large.matches) == min(limit, large.counts["documents"]) and (large.matches or large.removed)
    assert len(large.removed) == min(limit, large.counts["removed"])
    assert all(m.status == "in" for m in large.matches) and all(m.status == "removed" for m in large.removed)


def test_a_sites_removals_are_listed_by_count_then_stage_then_reason(edges_index):
    report = edges_index.check_domain(MIXED)
    reasons = list(report.counts["removed_by_reason"])  # "stage/reason", one record each: the robots.txt too
    assert sorted(r.split("/")[0] for r in reasons) == ["optout"] * 3 + ["read"]  # the construction
    assert report.counts == {"documents": 0, "removed": 4, "removed_by_reason": dict.fromkeys(reasons, 1)}
    assert reasons == sorted(reasons)
    assert [line.split("(")[1].split(")")[0] for line in report.summary[1:]] == [r.split("/")[1] for r in reasons]


def test_a_urls_counts_are_of_all_its_records_when_the_report_lists_fewer(edges_index, monkeypatch):
    """Three kept documents and a reserved one at one URL, with a report that lists two: the counts and the summary
    say three and one, the list holds the kept ones first."""
    monkeypatch.setattr(membership_query, "LISTED", 2)
    report = edges_index.check_url(AGAIN_URL)
    assert report.verdict == "in"
    assert report.counts == {"documents": AGAIN_KEPT, "removed": 1}
    assert [m.status for m in report.matches] == ["in", "in"] and report.removed == []
    assert report.summary[0].startswith(f"IN: {AGAIN_KEPT} document(s) of this release have this URL: ")

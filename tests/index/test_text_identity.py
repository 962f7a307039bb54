"""A text is compared as the release stores texts (pipeline/text_identity.py): invisible format characters do not
count and personal data is compared through the pii step's placeholders. Each case is a document of the planted
release (tests/index/conftest.py) and a copy of it made by construction: with zero-width characters inserted,
without the soft hyphens the page had, or with the e-mail address and IP address the page had before the
release replaced them."""

from __future__ import annotations

import json

import duckdb
import polars as pl
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.optout.registry import Registry
from pipeline.release import load_manifest
from pipeline.verify import registry_matches
from tests.helpers.text_identity import visible, zero_width
from tests.index.conftest import EMAIL, PUBLIC_IP

DE0, DE1, ZW_COPY = "http://de.site.test/a/0", "http://de.site.test/a/1", "http://zw.mirror.test/kopie"
SHY, CONTACT = "http://de.lexikon.test/eintrag", "http://en.contact.test/team"


def unredacted(stored: str) -> str:
    """The page's text as it was before the pii step: the planted e-mail and IP address back in their places."""
    assert stored.count("<EMAIL_ADDRESS>") == 1 and stored.count("<IP_ADDRESS>") == 1
    return stored.replace("<EMAIL_ADDRESS>", EMAIL).replace("<IP_ADDRESS>", PUBLIC_IP)



def test_a_copy_with_zero_width_characters_is_an_exact_match(index, docs):
    doc_id, text = docs[DE0]
    pasted = "\ufeff" + zero_width(text)
    assert pasted != text and "\u200b" in pasted
    report = index.check_text(pasted)
    assert report.verdict == "in", report.summary
    best = report.matches[0]
    assert best.id == doc_id and best.how[0] == "exact" and best.overlap == 1.0 and best.jaccard == 1.0
    assert "invisible format characters removed" in report.query["release_form"]

    paragraph = zero_width(text.split("\n")[1])
    report = index.check_text(paragraph)
    assert report.verdict == "in" and report.matches[0].id == doc_id and report.matches[0].how == ["contained"]
    span = report.matches[0].spans[0]  # offsets in the text as pasted, from its first word to its last
    assert span.query_start == 0 and paragraph[span.query_end :] == "."
    assert text[span.doc_start : span.doc_end] == visible(paragraph[: span.query_end])


def test_a_copy_with_the_personal_data_the_release_replaced_is_an_exact_match(index, docs):
    doc_id, stored = docs[CONTACT]
    original = unredacted(stored)
    for pasted in (original, zero_width(original)):
        report = index.check_text(pasted)
        assert report.verdict == "in", report.summary
        assert report.matches[0].id == doc_id and report.matches[0].how[0] == "exact"
        assert "1 e-mail address replaced by <EMAIL_ADDRESS>" in report.query["release_form"]
        assert "1 IP address replaced by <IP_ADDRESS>" in report.query["release_form"]

    paragraph = original.split("\n")[-1]  # the last paragraph, which holds both
    report = index.check_text(paragraph)
    assert report.verdict == "in" and report.matches[0].how == ["contained"] and report.matches[0].overlap == 1.0
    span = report.matches[0].spans[0]  # the placeholders' words point at the personal data they replaced
    assert span.query_start == 0 and paragraph[span.query_end :] == "."
    assert stored[span.doc_start : span.doc_end] == stored.split("\n")[-1][:-1]


def test_a_document_with_soft_hyphens_is_found_by_a_copy_without_them(index, docs):
    doc_id, stored = docs[SHY]
    assert "\u00ad" in stored  # the release holds the page's soft hyphens
    report = index.check_text(visible(stored))
    assert report.verdict == "in" and report.matches[0].id == doc_id and report.matches[0].how[0] == "normalised"

    paragraph = stored.split("\n")[2]
    report = index.check_text(visible(paragraph))  # found through the sketch and the full-text phrases
    best = report.matches[0]
    assert report.verdict == "in" and best.id == doc_id and best.how == ["contained"] and best.overlap == 1.0
    span = best.spans[0]  # offsets in the release's text, soft hyphens and all
    assert stored[span.doc_start : span.doc_end] == paragraph[:-1] and paragraph.endswith(".")
    assert index.search(visible(paragraph.split()[-1]), limit=100).total >= 1  # search skips them too


def test_copies_differing_only_by_format_characters_are_exact_duplicates(planted_index, docs):
    ledger = duckdb.sql(
        f"SELECT url, stage, reason, duplicate_of, text FROM read_parquet('{planted_index.release}/ledger/*.parquet')"
    ).pl()
    copy = ledger.filter(pl.col("url") == ZW_COPY).row(0, named=True)
    assert "\u200b" in copy["text"] and "\u200d" in copy["text"]  # the copy kept its invisible characters
    assert (copy["stage"], copy["reason"], copy["duplicate_of"]) == ("dedup", "dedup_exact", docs[DE1][0])
    assert ZW_COPY not in docs


def test_check_command_on_a_copy_with_zero_width_characters_and_personal_data(planted_index, docs, tmp_path):
    doc_id, stored = docs[CONTACT]
    pasted = tmp_path / "copy.txt"
    pasted.write_text(zero_width(unredacted(stored)), encoding="utf-8")
    result = CliRunner().invoke(app, ["check", str(planted_index.release), "--text-file", str(pasted), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["verdict"] == "in" and report["matches"][0]["id"] == doc_id
    assert report["matches"][0]["how"].split(", ")[0] == "exact"



def test_a_registry_text_entry_made_from_a_copy_covers_the_document(planted_index, docs, tmp_path):
    """The rights holder's copy has zero-width characters in its words and the e-mail and IP address the release
    replaced; its entry covers the document as an exact copy (`optout add --text-file`, then what `release
    derive` and a run apply)."""
    doc_id, stored = docs[CONTACT]
    pasted = tmp_path / "mine.txt"
    pasted.write_text(zero_width(unredacted(stored)), encoding="utf-8")
    registry = tmp_path / "registry"
    add = ["optout", "add", "--text-file", str(pasted), "--requester", "A <a@example.org>", "--registry"]
    result = CliRunner().invoke(app, [*add, str(registry)])
    assert result.exit_code == 0, result.output
    release = planted_index.release
    hits = registry_matches(release, load_manifest(release), Registry(registry), None)
    assert hits["id"].to_list() == [doc_id] and hits["rule"][0].endswith("(exact copy)")

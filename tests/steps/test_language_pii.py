"""Language identification with the shipped lid.176 model, and PII replacement."""

import polars as pl
import pytest

from pipeline.config import LanguageConfig, PiiConfig, RunConfig
from pipeline.steps.language import LanguageStep, identify
from pipeline.steps.pii import PiiStep
from pipeline.synthetic import LANGUAGES, make_page
from pipeline.text_identity import is_valid_iban


def test_languages_of_constructed_pages_are_identified():
    pages = [make_page(seed, f"http://{lang}.test/{seed}", lang) for lang in LANGUAGES for seed in range(3)]
    found, scores = identify([p.text for p in pages])
    assert found == [p.language for p in pages]
    assert all(0.5 < s <= 1.0 for s in scores)


def test_full_text_is_used_not_a_prefix():
    # 200 characters of English, then a long German text: an 80-character prefix would say English.
    text = "Welcome to our page. " * 10 + make_page(1, "http://x.test", "de").text
    assert identify([text])[0] == ["de"]


def test_language_is_a_tag_by_default_and_a_filter_when_configured():
    batch = pl.DataFrame({"text": [make_page(1, "http://a", "fr").text, make_page(1, "http://b", "en").text]})
    assert LanguageStep(RunConfig()).apply(batch).removed.is_empty()
    result = LanguageStep(RunConfig(language=LanguageConfig(keep=("en",)))).apply(batch)
    assert result.kept["language"].to_list() == ["en"]
    assert result.removed["reason"].to_list() == ["language_not_kept"]
    assert "language=fr" in result.removed["detail"][0]
    strict = LanguageStep(RunConfig(language=LanguageConfig(keep=("en", "fr"), min_score=1.01))).apply(batch)
    assert strict.removed["reason"].to_list() == ["language_low_score", "language_low_score"]


@pytest.mark.parametrize(
    ("iban", "valid"),
    [
        ("CH93 0076 2011 6238 5295 7", True),
        ("DE89370400440532013000", True),
        ("DE89370400440532013001", False),
        ("GB82 WEST 1234 5698 7654 32", True),
    ],
)
def test_iban_checksum(iban, valid):
    assert is_valid_iban(iban) is valid


def test_pii_is_replaced_and_counted():
    texts = [
        "Mail anna.meier@example.ch or info@sub.example.org today.",
        "Server 8.8.8.8 and 1.1.1.1 are public; 192.168.0.1 and 10.0.0.7 are private.",
        "Pay to CH93 0076 2011 6238 5295 7, not to DE89370400440532013001.",
        "Nothing personal here, version 1.2 of the guide.",
    ]
    out = PiiStep(RunConfig()).apply(pl.DataFrame({"text": texts})).kept
    assert out["pii_email"].to_list() == [2, 0, 0, 0]
    assert out["pii_ip"].to_list() == [0, 2, 0, 0]
    assert out["pii_iban"].to_list() == [0, 0, 1, 0]
    assert out["text"][0] == "Mail <EMAIL_ADDRESS> or <EMAIL_ADDRESS> today."
    assert "192.168.0.1" in out["text"][1] and "8.8.8.8" not in out["text"][1]
    assert "DE89370400440532013001" in out["text"][2] and "<IBAN>" in out["text"][2]
    assert out["text"][3] == texts[3]


@pytest.mark.parametrize(
    ("text", "stored"),
    [
        ("DNS at 8.8.8.8.", "DNS at <IP_ADDRESS>."),
        ("(8.8.8.8)", "(<IP_ADDRESS>)"),
        ("engine v8.8.8.8 released", "engine v8.8.8.8 released"),  # a version, not an address: no boundary before
        ("build 8.8.8.8a", "build 8.8.8.8a"),  # nor after
        ("id_8.8.8.8", "id_8.8.8.8"),
    ],
)
def test_an_ip_address_is_a_whole_word(text, stored):
    out = PiiStep(RunConfig()).apply(pl.DataFrame({"text": [text]})).kept
    assert out["text"][0] == stored and out["pii_ip"][0] == (stored != text)


def test_pii_switches():
    cfg = RunConfig(pii=PiiConfig(emails=False, ip_addresses=False, ibans=False))
    out = PiiStep(cfg).apply(pl.DataFrame({"text": ["a@b.ch 8.8.8.8"]})).kept
    assert out["text"][0] == "a@b.ch 8.8.8.8" and out["pii_email"][0] == 0

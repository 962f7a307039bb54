"""pipeline/text_identity.py on its own: the pinned format characters, and the forms a pasted text is compared in.

Ground truth: Python's `unicodedata` categories for Cf; the pii step's documented placeholders for the forms."""

from __future__ import annotations

import hashlib
import unicodedata

import polars as pl

from pipeline.text_identity import (
    FORMAT_CHARACTERS,
    FORMAT_UNICODE,
    as_released,
    form_digests,
    has_format,
    is_public_ip,
    is_valid_iban,
    normalise_defined,
    normalise_text,
    redact,
    release_form_changes,
    release_redaction,
    released_forms,
    strip_format,
    strip_format_text,
    text_sha256,
)


def test_format_characters_are_exactly_unicode_category_cf():
    """Pinned: a Python with another Unicode version must change this list (and the release format) on purpose."""
    assert unicodedata.unidata_version == FORMAT_UNICODE
    cf = {chr(c) for c in range(0x110000) if not 0xD800 <= c < 0xE000 and unicodedata.category(chr(c)) == "Cf"}
    assert cf == FORMAT_CHARACTERS
    others = ["a", "é", " ", "\u00a0", "\u0301"]  # letters, no-break space, a combining mark: not Cf
    assert strip_format(pl.Series([*sorted(cf), *others])).to_list() == [""] * len(cf) + others


def test_a_pasted_text_is_compared_in_every_form_the_release_may_hold():
    pasted = "Mail an\u200bna@example.ch from 8.8.8.8 or 10.0.0.1 (IBAN CH93 0076 2011 6238 5295 7), ok\u00ad."
    forms = released_forms(pasted)
    assert forms == [
        pasted,  # as pasted: a record removed before the pii step, or a text copied from the release
        "Mail an\u200b<EMAIL_ADDRESS> from <IP_ADDRESS> or 10.0.0.1 (IBAN <IBAN>), ok\u00ad.",  # the page as it was
        "Mail <EMAIL_ADDRESS> from <IP_ADDRESS> or 10.0.0.1 (IBAN <IBAN>), ok.",  # a copy without its page's Cf
    ]
    assert as_released(pasted) == forms[-1]
    assert release_form_changes(pasted, forms[-1]) == (
        "2 invisible format characters removed; 1 e-mail address replaced by <EMAIL_ADDRESS>; "
        "1 IP address replaced by <IP_ADDRESS>; 1 IBAN replaced by <IBAN>"
    )
    assert released_forms("Nothing personal\u200b here.") == ["Nothing personal\u200b here.", "Nothing personal here."]
    assert release_form_changes("plain", "plain") == ""


def test_only_what_the_release_replaced_is_replaced():
    manifest = {"config": {"pii": {"emails": False, "ip_addresses": True, "ibans": False}}}
    assert release_redaction(manifest) == {"emails": False, "ip_addresses": True, "ibans": False}
    assert release_redaction({}) == {"emails": True, "ip_addresses": True, "ibans": True}  # before it was recorded
    assert as_released("a@b.ch 8.8.8.8", release_redaction(manifest)) == "a@b.ch <IP_ADDRESS>"


def test_normalised_text_ignores_format_characters_before_nfkc():
    plain = normalise_text("Café Zürich")
    assert normalise_text("Ca\u200bfe\u200d\u0301 \ufeffZÜ\u00adRICH!") == plain == "café zürich"


# --- found by mutation testing (tests/mutation/): each pins a behaviour a surviving mutant changed --------------


def _iban(country: str, bban: str) -> str:
    """An IBAN with its check digits computed as ISO 13616 / ISO 7064 MOD 97-10 defines them: 98 - (n mod 97),
    n being BBAN + country + '00' with letters as 10..35."""
    n = int("".join(str(int(ch, 36)) for ch in bban + country + "00"))
    return f"{country}{98 - n % 97:02d}{bban}"


def test_the_iban_check_is_mod_97_on_15_to_34_characters():
    assert _iban("CH", "00762011623852957") == "CH9300762011623852957"  # the Swiss example, from its BBAN
    assert is_valid_iban("NO9386011117947")  # Norway's 15-character example
    assert is_valid_iban(_iban("XX", "1" * 11)) and len(_iban("XX", "1" * 11)) == 15
    assert not is_valid_iban(_iban("XX", "1" * 10))  # 14 characters: no country has them
    assert is_valid_iban(_iban("XX", "A1" * 15)) and len(_iban("XX", "A1" * 15)) == 34
    assert not is_valid_iban(_iban("XX", "A1" * 15 + "1"))  # 35
    assert is_valid_iban("CH93 0076 2011 6238 5295 7") and not is_valid_iban("CH94 0076 2011 6238 5295 7")


def test_an_ip_address_is_replaced_only_when_it_is_public():
    assert is_public_ip("8.8.8.8") and is_public_ip("1.1.1.1")
    for private in ("10.0.0.1", "192.168.0.1", "127.0.0.1", "100.64.0.1", "999.1.1.1", "not an ip"):
        assert not is_public_ip(private), private


def test_redaction_counts_each_kind_per_text_and_replaces_only_confirmed_candidates():
    texts = pl.Series("text", ["a@b.ch and c@d.org", "8.8.8.8 10.0.0.1 8.8.8.8", "CH93 0076 2011 6238 5295 7", "none"])
    out, emails, ips, ibans = redact(texts)
    assert out.to_list() == ["<EMAIL_ADDRESS> and <EMAIL_ADDRESS>", "<IP_ADDRESS> 10.0.0.1 <IP_ADDRESS>", "<IBAN>",
                             "none"]  # fmt: skip
    assert (emails.to_list(), ips.to_list(), ibans.to_list()) == ([2, 0, 0, 0], [0, 2, 0, 0], [0, 0, 1, 0])
    assert all(s.dtype == pl.Int32 for s in (emails, ips, ibans)) and out.name == "text"
    nothing = redact(pl.Series("text", ["10.0.0.1", "DE89370400440532013001"]))
    assert nothing[0].to_list() == ["10.0.0.1", "DE89370400440532013001"]
    assert nothing[2].to_list() == [0, 0] and nothing[3].to_list() == [0, 0]
    off = redact(texts, emails=False, ip_addresses=False, ibans=False)
    assert off[0].to_list() == texts.to_list() and [s.to_list() for s in off[1:]] == [[0, 0, 0, 0]] * 3


def test_a_release_without_recorded_switches_redacted_everything():
    assert release_redaction({"config": None}) == {"emails": True, "ip_addresses": True, "ibans": True}
    assert release_redaction({"config": {"pii": None}}) == {"emails": True, "ip_addresses": True, "ibans": True}
    assert release_redaction({"config": {"pii": {"ibans": 0}}}) == {"emails": True, "ip_addresses": True,
                                                                     "ibans": False}  # fmt: skip


def test_format_characters_are_found_and_nulls_stay_null():
    assert has_format("a\u200bb") and has_format("\u00ad") and not has_format("a b\u00a0c")
    assert strip_format(pl.Series([None, "a\u200bb"])).to_list() == [None, "ab"]
    assert normalise_defined(pl.Series([None, "A\u200b  B!"])).to_list() == [None, "a b"]
    assert strip_format_text("a\u2060b\ufeff") == "ab"


def test_normalisation_makes_every_whitespace_run_one_space_and_strips():
    assert normalise_text("  Hello,\t\tWorld!\n\u00a0 Again\u3000 ") == "hello world again"
    assert normalise_text("ﬁne Ⅻ") == "fine xii"  # NFKC compatibility forms


def test_form_digests_are_the_sha256_of_each_form_and_of_its_normalised_text():
    def sha(text: str) -> str:
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    exact, norm = form_digests([" A b ", "A b"])
    assert exact == sorted({sha(" A b "), sha("A b")})
    assert norm == [sha("a b")]
    assert form_digests(["!!!"])[1] == []  # a text with nothing left after normalisation has no norm digest
    assert text_sha256("é") == sha("é")


def test_release_form_changes_are_counted_in_words():
    assert release_form_changes("a\u200bb", "ab") == "1 invisible format character removed"
    assert release_form_changes("x", "<IBAN> <IBAN>") == "2 IBANs replaced by <IBAN>"
    assert release_form_changes("<IP_ADDRESS>", "<IP_ADDRESS>") == ""  # a placeholder already pasted is no change


def test_normalisation_keeps_the_column_name_and_type_even_with_no_text():
    for texts in (["A b"], [None], []):
        got = normalise_defined(pl.Series("text", texts, pl.String))
        assert (got.name, got.dtype, got.to_list()) == ("text", pl.String, ["a b"] if texts == ["A b"] else texts)


def test_redaction_counts_are_int32_whatever_was_found_and_null_texts_stay_null():
    """The pii step writes the counts into `pii_email`/`pii_ip`/`pii_iban` (Int32 in the documents schema)."""
    for texts in (["8.8.8.8", None], ["nothing", None], []):
        out, *counts = redact(pl.Series("text", texts, pl.String))
        assert all(c.dtype == pl.Int32 for c in counts), texts
        assert out.to_list() == [{"8.8.8.8": "<IP_ADDRESS>"}.get(t, t) for t in texts]
    off = redact(pl.Series("text", ["a@b.ch 8.8.8.8"]), emails=False, ip_addresses=False, ibans=False)
    assert all(c.dtype == pl.Int32 for c in off[1:])

"""pipeline/text_identity.py on its own: the pinned format characters, and the forms a pasted text is compared in.

Ground truth: Python's `unicodedata` categories for Cf; the pii step's documented placeholders for the forms."""

from __future__ import annotations

import unicodedata

import polars as pl

from pipeline.text_identity import (
    FORMAT_CHARACTERS,
    FORMAT_UNICODE,
    as_released,
    normalise_text,
    release_form_changes,
    release_redaction,
    released_forms,
    strip_format,
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

"""Text identity: the one place that says when a text is a text of the release, and what dedup keys are built on.

Every component that compares texts asks this module: the pii step (it redacts with `redact`), dedup's
normalisation (its compiled path in `pipeline.fingerprints` is tested equal to `normalise_defined`), the
membership index (its words, `check_text`), the registry's text fingerprints and the audit app's text checks.
A pasted text and a document that this module calls the same get the same answer everywhere; a text
compared in any other form than the release's is how a false "not in" happens.

**Format characters** (`FORMAT_CHARACTERS`): Unicode general category Cf (zero-width space and joiners
U+200B-U+200D, bidi marks, word joiner and invisible operators U+2060-U+2064, U+FEFF, the soft hyphen
U+00AD, ...) of Unicode 14.0.0, the version of Python's `unicodedata` and so of its NFKC. They are invisible,
and copying a page adds or loses them (soft hyphens, ZWSPs against scrapers): no part of a text's identity.

**Release form** (`as_released`, `released_forms`): the pii step replaces e-mail addresses, public IP addresses
and valid IBANs by placeholders in the text as extracted, before anything else sees it; that is what the
release stores and hashes. A pasted text is compared in the forms the release may hold for it: as pasted, with
its personal data replaced, and with its format characters removed first and then its personal data replaced.

**Normalised text** (`normalise_defined`, `normalise_text`): format characters removed, then NFKC (Python
`unicodedata`), lower case (Polars), Unicode punctuation and symbols (P*, S*) removed, whitespace runs made one
space, stripped. `norm_sha256` is the sha256 of its UTF-8 and MinHash shingles are its words. Format characters
go before NFKC because they block composition: "e", U+200D, U+0301 must become "é" as "e", U+0301 does.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import unicodedata
from collections.abc import Callable, Mapping
from typing import Any

import polars as pl

# Unicode 14.0.0 general category Cf (Python 3.11's unicodedata, the version of its NFKC), as inclusive ranges.
# Written out, not derived at import (a scan of every code point costs 0.3 s), and pinned: a newer Unicode's
# format characters change `norm_sha256`, so they come in with a format version (tests check this list).
FORMAT_RANGES = (
    (0x00AD, 0x00AD), (0x0600, 0x0605), (0x061C, 0x061C), (0x06DD, 0x06DD), (0x070F, 0x070F), (0x0890, 0x0891),
    (0x08E2, 0x08E2), (0x180E, 0x180E), (0x200B, 0x200F), (0x202A, 0x202E), (0x2060, 0x2064), (0x2066, 0x206F),
    (0xFEFF, 0xFEFF), (0xFFF9, 0xFFFB), (0x110BD, 0x110BD), (0x110CD, 0x110CD), (0x13430, 0x13438),
    (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A), (0xE0001, 0xE0001), (0xE0020, 0xE007F),
)  # fmt: skip
FORMAT_UNICODE = "14.0.0"
FORMAT_CHARACTERS = frozenset(chr(c) for a, b in FORMAT_RANGES for c in range(a, b + 1))
# A character class of literal characters: Rust `regex` (Polars) and Python `re` read it alike.
FORMAT_CLASS = "[" + "".join(chr(a) if a == b else f"{chr(a)}-{chr(b)}" for a, b in FORMAT_RANGES) + "]"
_FORMAT_RE = re.compile(FORMAT_CLASS)
PUNCT = r"[\p{P}\p{S}]+"  # Unicode punctuation and symbols (Polars regex; covers all of string.punctuation)
SPACES = r"\s\s+|[^\S ]"  # only runs and non-space whitespace: rewriting every single space is 2x slower

EMAIL_PLACEHOLDER = "<EMAIL_ADDRESS>"
IP_PLACEHOLDER = "<IP_ADDRESS>"
IBAN_PLACEHOLDER = "<IBAN>"
EMAIL = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
IPV4 = rf"\b{_OCTET}(?:\.{_OCTET}){{3}}\b"
IBAN = r"\b[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b"
REDACTIONS = ("emails", "ip_addresses", "ibans")  # the pii step's switches (pipeline.config.PiiConfig)


# ------------------------------------------------------------------------------------------ format characters


def has_format(text: str) -> bool:
    return _FORMAT_RE.search(text) is not None


def strip_format(texts: pl.Series) -> pl.Series:
    """Texts without their format characters (nulls stay null)."""
    return texts.cast(pl.String).str.replace_all(FORMAT_CLASS, "")


_NO_FORMAT = dict.fromkeys(map(ord, FORMAT_CHARACTERS))  # str.translate: one pass, ~10x a regex substitution


def strip_format_text(text: str) -> str:
    return text.translate(_NO_FORMAT)


# ------------------------------------------------------------------------------------------ normalisation


def after_nfkc(nfkc: pl.Series) -> pl.Series:
    """The normalisation's steps after NFKC: Polars' lower case, punctuation/symbols, whitespace, strip."""
    return nfkc.str.to_lowercase().str.replace_all(PUNCT, "").str.replace_all(SPACES, " ").str.strip_chars()


def nfkc(texts: pl.Series) -> pl.Series:
    """NFKC by Python's `unicodedata`: its quick check makes it ~10x faster than Polars' `str.normalize` on web
    text, which is mostly normalised already."""
    return pl.Series(texts.name, [None if t is None else unicodedata.normalize("NFKC", t) for t in texts], pl.String)


def normalise_defined(texts: pl.Series) -> pl.Series:
    """The normalisation as defined, written plainly (the dedup keys use a compiled equivalent). Nulls stay null."""
    return after_nfkc(nfkc(strip_format(texts)))


def normalise_text(text: str) -> str:
    return normalise_defined(pl.Series([text], dtype=pl.String))[0]


# ------------------------------------------------------------------------------------------ personal data


def is_public_ip(candidate: str) -> bool:
    try:
        return ipaddress.ip_address(candidate).is_global
    except ValueError:
        return False


def is_valid_iban(candidate: str) -> bool:
    """ISO 13616 check: move the first four characters to the end, letters to numbers, mod 97 == 1."""
    compact = candidate.replace(" ", "")
    if not 15 <= len(compact) <= 34:
        return False
    digits = "".join(str(int(ch, 36)) for ch in compact[4:] + compact[:4])
    return int(digits) % 97 == 1


def _replace_confirmed(
    texts: pl.Series, pattern: str, confirm: Callable[[str], bool], placeholder: str
) -> tuple[pl.Series, pl.Series]:
    """Replace matches of `pattern` that `confirm` accepts; return new texts and per-row counts.

    Candidates are found vectorised and checked once per distinct string (a regex cannot say whether an
    address is public or an IBAN's checksum holds); only rows holding a confirmed one are rewritten."""
    candidates = texts.str.extract_all(pattern)
    distinct = candidates.explode().drop_nulls().unique().to_list()
    confirmed = {c for c in distinct if confirm(c)}
    counts = [0] * len(texts)
    if not confirmed:
        return texts, pl.Series(counts, dtype=pl.Int32)
    regex = re.compile(pattern)
    out = texts.to_list()
    for i, found in enumerate(candidates.to_list()):
        if found and confirmed.intersection(found):
            n = 0

            def swap(m: re.Match[str]) -> str:
                nonlocal n
                if m.group(0) in confirmed:
                    n += 1
                    return placeholder
                return m.group(0)

            out[i] = regex.sub(swap, out[i])
            counts[i] = n
    return pl.Series(texts.name, out, pl.String), pl.Series(counts, dtype=pl.Int32)


def redact(
    texts: pl.Series, *, emails: bool = True, ip_addresses: bool = True, ibans: bool = True
) -> tuple[pl.Series, pl.Series, pl.Series, pl.Series]:
    """What the pii step stores: e-mail addresses, then public IPv4 addresses, then valid IBANs replaced by
    their placeholders. Returns the texts and the replacements per text (e-mails, IPs, IBANs)."""
    zeros = pl.Series([0] * len(texts), dtype=pl.Int32)
    n_emails, n_ips, n_ibans = zeros, zeros, zeros
    if emails:
        n_emails = texts.str.count_matches(EMAIL).cast(pl.Int32)
        texts = texts.str.replace_all(EMAIL, EMAIL_PLACEHOLDER)
    if ip_addresses:
        texts, n_ips = _replace_confirmed(texts, IPV4, is_public_ip, IP_PLACEHOLDER)
    if ibans:
        texts, n_ibans = _replace_confirmed(texts, IBAN, is_valid_iban, IBAN_PLACEHOLDER)
    return texts, n_emails, n_ips, n_ibans


def release_redaction(manifest: Mapping[str, Any]) -> dict[str, bool]:
    """The pii switches a release was built with (its manifest's `config.pii`; each on unless recorded off)."""
    pii = (manifest.get("config") or {}).get("pii") or {}
    return {name: bool(pii.get(name, True)) for name in REDACTIONS}


# ------------------------------------------------------------------------------------------ a pasted text


def released_forms(text: str, redaction: Mapping[str, bool] | None = None) -> list[str]:
    """The texts a release may hold for a pasted `text`, distinct, in this order: as pasted (a record removed
    before the pii step, a text copied from a release); with personal data replaced as the pii step replaces
    it (a copy of the page, with the page's own invisible characters); and with format characters removed
    first (a copy whose invisible characters differ from the page's). The last is `as_released(text)`."""
    both = pl.Series([text, strip_format_text(text)], dtype=pl.String)
    redacted = redact(both, **(redaction or {}))[0].to_list()
    return list(dict.fromkeys([text, *redacted]))


def text_sha256(text: str) -> str:
    """The sha256 of a text as UTF-8: how documents store `text_sha256` and `norm_sha256`."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def form_digests(forms: list[str]) -> tuple[list[str], list[str]]:
    """(sha256 of each released form, as is and stripped; sha256 of each form's normalised text): what a stored
    document's `text_sha256` / `norm_sha256` would be if it held one of these forms."""
    exact = sorted({text_sha256(f) for f in forms} | {text_sha256(f.strip()) for f in forms})
    return exact, sorted({text_sha256(n) for n in map(normalise_text, forms) if n})


def as_released(text: str, redaction: Mapping[str, bool] | None = None) -> str:
    """`text` as the release would store it, format characters aside: those removed, personal data replaced."""
    return released_forms(text, redaction)[-1]


_PLACEHOLDER_NAMES = (
    (EMAIL_PLACEHOLDER, "e-mail address", "e-mail addresses"),
    (IP_PLACEHOLDER, "IP address", "IP addresses"),
    (IBAN_PLACEHOLDER, "IBAN", "IBANs"),
)


def release_form_changes(text: str, released: str) -> str:
    """What making the release form `released` of a pasted `text` changed, in words ('' if nothing did)."""
    stripped = strip_format_text(text)
    counts = [(len(text) - len(stripped), "invisible format character", "invisible format characters", "removed")]
    for placeholder, one, many in _PLACEHOLDER_NAMES:
        n = released.count(placeholder) - stripped.count(placeholder)
        counts.append((n, one, many, f"replaced by {placeholder}"))
    return "; ".join(f"{n} {one if n == 1 else many} {done}" for n, one, many, done in counts if n)

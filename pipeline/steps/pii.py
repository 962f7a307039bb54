"""Stage `pii`: email addresses, public IP addresses and IBANs are replaced by placeholders.

As in the Apertus pipeline, the document stays and the personal data goes; the number of
replacements is kept per document (`pii_email`, `pii_ip`, `pii_iban`). Emails are a pure Polars
regex replace. IPs and IBANs need a check a regex cannot do (is the address public? does the
IBAN's mod-97 checksum hold?), so candidates are found vectorised, checked once per distinct
string, and only rows that contain a confirmed one are rewritten.
"""

from __future__ import annotations

import ipaddress
import re

import polars as pl

from pipeline.steps.base import Step

EMAIL_PLACEHOLDER = "<EMAIL_ADDRESS>"
IP_PLACEHOLDER = "<IP_ADDRESS>"
IBAN_PLACEHOLDER = "<IBAN>"

EMAIL = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
IPV4 = rf"\b{_OCTET}(?:\.{_OCTET}){{3}}\b"
IBAN = r"\b[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b"


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


def _replace_confirmed(texts: pl.Series, pattern: str, confirm, placeholder: str) -> tuple[pl.Series, pl.Series]:
    """Replace matches of `pattern` that `confirm` accepts; return new texts and per-row counts."""
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


class PiiStep(Step):
    stage = "pii"

    def annotate(self, batch: pl.DataFrame) -> pl.DataFrame:
        cfg = self.config.pii
        text = batch["text"]
        zeros = pl.Series([0] * len(batch), dtype=pl.Int32)
        emails = text.str.count_matches(EMAIL).cast(pl.Int32) if cfg.emails else zeros
        if cfg.emails:
            text = text.str.replace_all(EMAIL, EMAIL_PLACEHOLDER)
        ips, ibans = zeros, zeros
        if cfg.ip_addresses:
            text, ips = _replace_confirmed(text, IPV4, is_public_ip, IP_PLACEHOLDER)
        if cfg.ibans:
            text, ibans = _replace_confirmed(text, IBAN, is_valid_iban, IBAN_PLACEHOLDER)
        return batch.with_columns(
            text.alias("text"), emails.alias("pii_email"), ips.alias("pii_ip"), ibans.alias("pii_iban")
        )

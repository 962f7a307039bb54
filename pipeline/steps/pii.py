"""Stage `pii`: email addresses, public IP addresses and IBANs are replaced by placeholders.

As in the Apertus pipeline, the document stays and the personal data goes; the number of
replacements is kept per document (`pii_email`, `pii_ip`, `pii_iban`). The patterns, their checks
and the replacement live in `pipeline.text_identity` (`redact`): a text checked against the release
("is this in?") must be redacted exactly as the documents were.
"""

from __future__ import annotations

import polars as pl

from pipeline.steps.base import Step
from pipeline.text_identity import redact


class PiiStep(Step):
    stage = "pii"

    def annotate(self, batch: pl.DataFrame) -> pl.DataFrame:
        text, emails, ips, ibans = redact(batch["text"], **self.config.pii.model_dump())
        return batch.with_columns(
            text.alias("text"), emails.alias("pii_email"), ips.alias("pii_ip"), ibans.alias("pii_iban")
        )

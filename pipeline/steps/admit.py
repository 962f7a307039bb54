"""Stage `read`: records that cannot become documents leave here, each with its reason.

Sources never drop a record; this step decides which of the records they emit are unusable:
the source's own read errors (truncated, digest mismatch, too large, bad JSON), site policy files
(robots.txt, tdmrep.json, ai.txt, and whatever they redirected to: evidence, not content), non-2xx HTTP responses,
payload types we do not extract, and empty bodies.
"""

from __future__ import annotations

import polars as pl

from pipeline.optout.families import policy_url_pattern
from pipeline.steps.base import Step, first_reason


class AdmitStep(Step):
    stage = "read"

    def annotate(self, batch: pl.DataFrame) -> pl.DataFrame:
        allowed = list(self.config.read.content_types)
        has_payload = pl.col("payload").is_not_null()
        rules = [
            (pl.col("read_error").is_not_null(), pl.col("read_error"), pl.col("read_detail")),
            (
                pl.col("url").str.contains(policy_url_pattern()),
                "read_policy_file",
                pl.lit("site policy file: evidence for the opt-out step, not a document"),
            ),
            (  # a redirect hop of a policy file fetch, wherever it led: the crawler marked it in the WARC
                pl.col("site_file").is_not_null(),
                "read_policy_file",
                pl.format("fetched for the site policy file {}: evidence, not a document", pl.col("site_file")),
            ),
            (
                pl.col("http_status").is_not_null() & ~pl.col("http_status").is_between(200, 299),
                "read_http_status",
                pl.format("status={}", pl.col("http_status")),
            ),
            (
                has_payload & ~pl.col("content_type").fill_null("").is_in(allowed),
                "read_content_type",
                pl.format("content_type={}", pl.col("content_type").fill_null("missing")),
            ),
            (
                (has_payload & (pl.col("payload").bin.size() == 0))
                | (~has_payload & (pl.col("text").fill_null("").str.strip_chars() == "")),
                "read_empty",
                pl.lit("empty body"),
            ),
        ]
        reason, detail = first_reason(rules)
        return batch.with_columns(reason, detail).drop("read_error", "read_detail", "site_file")

"""The EU summary of the open release, as the app computes it: once per release, kept on disk outside it."""

from __future__ import annotations

from audit_app.queries.base import Release
from pipeline.reports.eu_summary.cache import cached_summary
from pipeline.reports.eu_summary.model import EUSummary, SummaryOptions

# Inputs named by the manifest are never opened (the app reads the release only); unset options are asked for in
# words. The provider and model a reader types are put in afterwards (`with_names`): no figure depends on them.
APP_SUMMARY_OPTIONS = SummaryOptions(inspect_inputs=False, ask_as="words")


def eu_summary(rel: Release) -> EUSummary:
    """Read from the summary cache, or computed (every text read once: ~12 s at 1M documents) and kept there."""
    return cached_summary(rel.path, APP_SUMMARY_OPTIONS)

"""EU AI Act Art. 53(1)(d): the public summary of training content, computed from one release.

`model` holds what the summary says (pydantic classes, the JSON output) and the options a release cannot know;
`compute` fills it from a release (DuckDB sums over its Parquet), with `inputs` sorting the release's inputs into
the template's source categories (format, warcinfo, the provider's overrides); `render` writes it in the
template's order as Markdown and HTML.
"""

from pipeline.reports.eu_summary.compute import build_summary
from pipeline.reports.eu_summary.model import EUSummary, SummaryOptions
from pipeline.reports.eu_summary.render import summary_html, summary_markdown, write_summary

__all__ = ["EUSummary", "SummaryOptions", "build_summary", "summary_html", "summary_markdown", "write_summary"]

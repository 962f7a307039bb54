"""Every chart of the app, built here so that they read the same way on every page: whole counts on integer
axes, labels never cut, a log scale when one bar would flatten the others, time binned by the span it covers,
no empty category, and one colour language defined once (below): an opt-out that was honoured is "excluded as
asked" (a calm colour, it is the system working), a violation is red, "allowed" is grey.

Pages pass Polars frames and get Altair charts; the tests read the Vega-Lite dicts (`chart.to_dict()`).
"""

from __future__ import annotations

from datetime import date

import altair as alt
import polars as pl

from pipeline.reasons import STAGE_NAME

# ---- the colour language (one place) -----------------------------------------------------------------------
EXCLUDED_AS_ASKED = "#7b6fb0"  # an honoured opt-out: excluded because the rights holder asked (not an error)
VIOLATION = "#c62828"  # something that must not be: a document in the release that matches an opt-out
ALLOWED = "#9e9e9e"  # a statement that permits use: nothing to act on
DATA = "#4c78a8"  # plain counts (documents, records): no judgement
FILTERED = "#d9a441"  # removed by a pipeline filter (quality, language, duplicates, ...): the pipeline's choice
PROBLEM = "#e07b39"  # could not be read (unreachable, malformed): a gap in the evidence, not a violation
NOTHING = "#cfcfcf"  # no statement (no policy file found, unset)

# What each evidence verdict means, as a colour (the compliance page); unknown verdicts are neutral.
VERDICT_COLOUR: dict[str, str] = {
    "reserved": EXCLUDED_AS_ASKED,
    "allowed": ALLOWED,
    "observed": DATA,
    "not_found": NOTHING,
    "unset": NOTHING,
    "redirect": NOTHING,
    "unreachable": PROBLEM,
    "malformed": PROBLEM,
    "violation": VIOLATION,
}
# Each stage's colour: every opt-out stage is "excluded as asked"; the filters share shades of one colour.
STAGE_COLOUR: dict[str, str] = {
    "read": "#b8b8b8",
    "extract": "#a9a9a9",
    "language": "#e6c27a",
    "quality": FILTERED,
    "pii": "#b5883a",
    "dedup": "#8c6d2c",
    "optout": EXCLUDED_AS_ASKED,
    "registry": EXCLUDED_AS_ASKED,
    "derive": EXCLUDED_AS_ASKED,
}

LOG_RATIO = 20  # largest / smallest non-zero count at which a linear axis leaves the small bars invisible
DAY_SPAN_DAYS = 92  # up to about a quarter: one bar per day
MONTH_SPAN_DAYS = 3 * 366  # up to three years: one bar per month; longer: one per year


def _count_axis(title: str, log: bool) -> dict:
    """An axis of whole counts: integer ticks only (never 0.5 records)."""
    scale = alt.Scale(type="log") if log else alt.Scale(zero=True)
    return dict(
        title=f"{title} (log scale)" if log else title,
        scale=scale,
        axis=alt.Axis(tickMinStep=1, format="~s" if log else ",d"),
    )


def needs_log(counts: pl.Series) -> bool:
    """One bar dominates: the largest count is LOG_RATIO times the smallest (non-zero) one or more."""
    positive = counts.filter(counts > 0)
    return positive.len() > 1 and positive.max() >= LOG_RATIO * positive.min()


def _colour(field: str, colours: dict[str, str], present: list[str], title: str) -> alt.Color:
    """A colour scale whose domain is only what the chart shows (no empty category in the legend), each value
    in its colour of the language above."""
    domain = [v for v in colours if v in present] + sorted(v for v in present if v not in colours)
    return alt.Color(
        f"{field}:N",
        title=title,
        scale=alt.Scale(domain=domain, range=[colours.get(v, DATA) for v in domain]),
        legend=alt.Legend(labelLimit=0),
    )


def bars(
    frame: pl.DataFrame,
    category: str,
    count: str,
    *,
    count_title: str,
    category_title: str | None = None,
    sort: str | list[str] | None = "-x",
    colour: str | None = None,
    colours: dict[str, str] | None = None,
    colour_title: str | None = None,
    tooltip: list | None = None,
    log: bool | None = None,
    horizontal: bool = True,
) -> alt.Chart:
    """Bars of whole counts per category. Rows with a zero or missing count are left out (no empty category);
    a log scale when one bar dominates (`log=None`: decided from the counts); full category labels."""
    shown = frame.filter(pl.col(count).fill_null(0) > 0)
    log = needs_log(shown[count]) if log is None else log
    value = (alt.X if horizontal else alt.Y)(f"{count}:Q", **_count_axis(count_title, log))
    short = shown.height == 0 or shown[category].cast(pl.String).str.len_chars().max() <= 6
    label_axis = alt.Axis(labelLimit=0, labelAngle=0 if horizontal or short else -40)
    if not horizontal and sort == "-x":
        sort = "-y"
    key = (alt.Y if horizontal else alt.X)(f"{category}:N", title=category_title, sort=sort, axis=label_axis)
    encoding: dict = {"x": value, "y": key} if horizontal else {"x": key, "y": value}
    if colour:
        encoding["color"] = _colour(colour, colours or {}, shown[colour].unique().to_list(), colour_title or colour)
    else:
        encoding["color"] = alt.value(DATA)
    encoding["tooltip"] = tooltip or [category, alt.Tooltip(f"{count}:Q", format=",d")]
    return alt.Chart(shown).mark_bar().encode(**encoding)


def time_unit(first: str | date | None, last: str | date | None) -> str:
    """'day', 'month' or 'year': the bin that gives a readable number of bars for the span of dates."""
    if not first or not last:
        return "day"
    start, end = (d if isinstance(d, date) else date.fromisoformat(str(d)[:10]) for d in (first, last))
    span = (end - start).days
    if span <= DAY_SPAN_DAYS:
        return "day"
    return "month" if span <= MONTH_SPAN_DAYS else "year"


def _periods(first: str, last: str, unit: str) -> list[str]:
    """Every period label from `first` to `last` (so that a quiet month shows as zero, not as no gap)."""
    start, end = (date.fromisoformat((p + "-01-01")[:10]) for p in (first, last))
    if unit == "year":
        return [str(y) for y in range(start.year, end.year + 1)]
    if unit == "month":
        months = range(start.year * 12 + start.month - 1, end.year * 12 + end.month)
        return [f"{m // 12:04d}-{m % 12 + 1:02d}" for m in months]
    return [d.isoformat() for d in pl.date_range(start, end, "1d", eager=True).to_list()]


def timeline(frame: pl.DataFrame, unit: str, *, count: str = "documents", count_title: str = "documents") -> alt.Chart:
    """Counts per period (`period` labelled as `time_unit` gives: YYYY-MM-DD, YYYY-MM or YYYY), one bar per
    period from the first to the last (zero where nothing was fetched), bars as wide as their period."""
    periods = frame.filter(pl.col("period").is_not_null())
    if periods.height:
        every = pl.DataFrame({"period": _periods(periods["period"].min(), periods["period"].max(), unit)})
        periods = every.join(periods.select("period", count), on="period", how="left").with_columns(
            pl.col(count).fill_null(0)
        )
    many = periods.height > 24
    return (
        alt.Chart(periods)
        .mark_bar(color=DATA)
        .encode(
            x=alt.X(
                "period:O",
                title=f"fetch {unit}",
                sort="ascending",
                axis=alt.Axis(labelLimit=0, labelAngle=-45 if many else 0, labelOverlap=True),
            ),
            y=alt.Y(f"{count}:Q", **_count_axis(count_title, False)),
            tooltip=[alt.Tooltip("period:N", title=unit), alt.Tooltip(f"{count}:Q", format=",d")],
        )
    )


def stage_colours() -> dict[str, str]:
    """Stage -> colour, for charts coloured by stage (the legend uses the stages' plain names)."""
    return {STAGE_NAME.get(stage, stage): colour for stage, colour in STAGE_COLOUR.items()}

"""The charts a person reads at a glance (audit_app/charts.py), read as the Vega-Lite specs the browser draws:
time binned by the span of the dates, whole counts on integer axes, full labels, a log scale when one bar
dominates, no empty category, and colours by meaning from the one palette, on the pages too."""

from __future__ import annotations

import json

import polars as pl
import pytest

from audit_app import charts
from tests.app.test_compliance import optout_root, use_release  # noqa: F401 (fixtures)
from tests.app.test_pages import page


def spec(chart) -> dict:
    return chart.to_dict()


def rows(chart_spec: dict) -> list[dict]:
    """The data the chart draws (Altair puts a frame in `datasets`, named by `data.name`)."""
    return chart_spec["datasets"][chart_spec["data"]["name"]]


@pytest.mark.parametrize(
    ("first", "last", "unit"),
    [
        ("2019-03-01", "2025-11-30", "year"),  # the crawl of issue 18: 2019-2025
        ("2024-01-15", "2025-10-01", "month"),
        ("2025-06-01", "2025-06-20", "day"),
        ("2025-06-01T08:00:00Z", "2025-06-01T09:00:00Z", "day"),
    ],
)
def test_time_bins_follow_the_span(first, last, unit):
    assert charts.time_unit(first, last) == unit


def test_a_seven_year_timeline_has_one_bar_per_year_and_no_hairlines():
    dates = pl.DataFrame({"period": ["2019", "2021", "2025"], "documents": [3, 40, 7]})
    s = spec(charts.timeline(dates, "year"))
    drawn = rows(s)
    assert [r["period"] for r in drawn] == [str(y) for y in range(2019, 2026)]  # every year, quiet ones as 0
    assert [r["documents"] for r in drawn] == [3, 0, 40, 0, 0, 0, 7]
    # an ordinal axis: one band per period, bars as wide as their band, none past the last period
    assert s["encoding"]["x"]["type"] == "ordinal" and s["encoding"]["x"]["title"] == "fetch year"
    assert s["encoding"]["y"]["axis"]["tickMinStep"] == 1


def test_monthly_periods_are_filled_across_a_year_boundary():
    dates = pl.DataFrame({"period": ["2024-11", "2025-02"], "documents": [1, 2]})
    drawn = rows(spec(charts.timeline(dates, "month")))
    assert [r["period"] for r in drawn] == ["2024-11", "2024-12", "2025-01", "2025-02"]


def test_counts_are_whole_labels_full_and_empty_categories_absent():
    frame = pl.DataFrame(
        {"reason": ["a_very_long_reason_name_that_must_not_be_cut", "b", "empty"], "records": [3, 1, 0]}
    )
    s = spec(charts.bars(frame, "reason", "records", count_title="removed records"))
    assert s["encoding"]["x"]["axis"]["tickMinStep"] == 1 and s["encoding"]["x"]["axis"]["format"] == ",d"
    assert s["encoding"]["y"]["axis"]["labelLimit"] == 0  # 0: no limit, labels are never cut
    assert sorted(r["reason"] for r in rows(s)) == ["a_very_long_reason_name_that_must_not_be_cut", "b"]
    assert s["encoding"]["x"]["scale"].get("type") != "log"  # 3 vs 1: no bar dominates


def test_one_dominant_bar_gets_a_log_scale():
    sizes = pl.DataFrame({"size": ["2", "3", "4"], "clusters": [12_000, 40, 2]})
    s = spec(charts.bars(sizes, "size", "clusters", count_title="clusters", horizontal=False, sort=None))
    assert s["encoding"]["y"]["scale"]["type"] == "log"
    assert "log scale" in s["encoding"]["y"]["title"]


def test_colours_come_from_the_one_palette_by_meaning():
    signals = pl.DataFrame(
        {
            "kind": ["document", "document", "policy_file", "policy_file"],
            "signal": ["robots", "noai", "robots.txt", "robots.txt"],
            "verdict": ["reserved", "allowed", "observed", "not_found"],
            "rows": [5, 2, 9, 1],
        }
    )
    s = spec(
        charts.bars(signals, "signal", "rows", count_title="rows", colour="verdict", colours=charts.VERDICT_COLOUR)
    )
    scale = s["encoding"]["color"]["scale"]
    colour = dict(zip(scale["domain"], scale["range"], strict=True))
    assert set(colour) == {"reserved", "allowed", "observed", "not_found"}  # no verdict that is not drawn
    assert colour["reserved"] == charts.EXCLUDED_AS_ASKED != charts.VIOLATION  # an honoured opt-out is not an error
    assert colour["allowed"] == charts.ALLOWED
    assert colour["not_found"] not in (charts.VIOLATION, charts.EXCLUDED_AS_ASKED)
    assert charts.STAGE_COLOUR["optout"] == charts.STAGE_COLOUR["registry"] == charts.EXCLUDED_AS_ASKED
    assert charts.VIOLATION not in charts.STAGE_COLOUR.values()  # no removal is drawn as an error


def _page_specs(name: str) -> list[dict]:
    at = page(name)
    assert not at.exception
    return [json.loads(c.proto.spec) for c in at.get("vega_lite_chart")]


def test_pages_draw_counts_on_integer_axes(app_env):
    (sizes,) = _page_specs("dedup")
    assert sizes["encoding"]["y"]["axis"]["tickMinStep"] == 1 and sizes["encoding"]["x"]["axis"]["labelLimit"] == 0
    (removals,) = _page_specs("removals")
    assert removals["encoding"]["x"]["axis"]["tickMinStep"] == 1
    assert removals["encoding"]["y"]["axis"]["labelLimit"] == 0
    step_colours = dict(
        zip(
            removals["encoding"]["color"]["scale"]["domain"],
            removals["encoding"]["color"]["scale"]["range"],
            strict=True,
        )
    )
    assert charts.VIOLATION not in step_colours.values()
    assert step_colours.get("opt-outs", charts.EXCLUDED_AS_ASKED) == charts.EXCLUDED_AS_ASKED


def test_compliance_colours_verdicts_by_meaning_without_empty_categories(use_release):  # noqa: F811
    release = use_release("optout")  # tests/app/test_compliance.py: reserved, allowed and policy-file evidence
    (signals,) = _page_specs("compliance")
    colour = signals["spec"]["encoding"]["color"]["scale"]
    drawn = dict(zip(colour["domain"], colour["range"], strict=True))
    evidence = pl.read_parquet(release / "optout_evidence" / "*.parquet")
    assert set(drawn) == set(evidence["verdict"])  # only verdicts the release has, each once
    assert {"reserved", "allowed"} <= set(drawn)
    assert drawn["reserved"] == charts.EXCLUDED_AS_ASKED and drawn["allowed"] == charts.ALLOWED
    for verdict, hexcode in drawn.items():
        assert hexcode == charts.VERDICT_COLOUR.get(verdict, charts.DATA)
    assert signals["resolve"]["scale"]["y"] == "independent"  # each kind lists its own signals only

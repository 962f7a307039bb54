"""Plain language on every page (issue 18): no command-line flag in what a person reads, every removal reason
with its sentence, the same sentence in the app, `apertura stats` and the EU summary, and the funnel and the
removals table naming the steps the same way."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from typer.testing import CliRunner

from pipeline.cli import app as cli
from tests.app.test_pages import elements, page

APP = Path(__file__).resolve().parents[2] / "audit_app"
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z-]*")
# A whole command shown for copying (a code span starting with the command's name) may carry its flags.
COMMAND_SPAN = re.compile(r"`(?:apertura|streamlit) [^`]*`")
CODE_TYPES = {"code"}  # st.code blocks: commands and raw evidence to copy, not sentences


def prose(at: AppTest) -> list[str]:
    """Every text a person reads on the page, minus code blocks and quoted commands; labels and help too."""
    parts = []
    for element in elements(at._tree):
        if element.type in CODE_TYPES:
            continue
        proto = getattr(element, "proto", None)
        for value in (getattr(element, "value", None), getattr(element, "label", None), getattr(proto, "help", None)):
            if isinstance(value, str) and value:
                parts.append(COMMAND_SPAN.sub("", value))
    return parts


def _pages(docs_id: str) -> list[tuple[str, AppTest]]:
    pages = ("overview", "search", "removals", "dedup", "compliance", "reports", "releases", "rights_holder")
    shown = [(name, page(name)) for name in pages]
    shown.append(("document", page("document", doc=docs_id)))
    asked = page("am_i_in")
    asked.text_area(key="q_text").input("Nothing in this corpus reads like this sentence at all, none of it.").run()
    shown.append(("am_i_in with a text", asked))
    return shown


def test_no_page_shows_a_command_line_flag(app_env, rel):
    doc_id = rel.cursor().sql("SELECT min(id) FROM documents").fetchall()[0][0]
    for name, at in _pages(doc_id):
        assert not at.exception, (name, at.exception)
        flags = sorted({f for text in prose(at) for f in FLAG.findall(text)})
        assert not flags, f"{name} shows command-line flags in its text: {flags}"


def test_the_flag_check_can_fail():
    """The checker itself: a flag in prose is caught, a quoted whole command is not."""
    assert FLAG.findall(COMMAND_SPAN.sub("", "check the page's --url or --domain")) == ["--url", "--domain"]
    assert not FLAG.findall(COMMAND_SPAN.sub("", "run `apertura index r1 --force` first; 2--3 words; a — dash"))


def test_each_reason_reads_the_same_in_the_app_stats_and_the_summary(app_env, app_release):
    release = app_release[1]
    at = page("removals")
    assert not at.exception
    table = at.dataframe[0].value
    assert {"step", "reason", "what it means"} <= set(table.columns)
    in_app = dict(zip(table["reason"], table["what it means"], strict=True))
    assert all(text and text != reason for reason, text in in_app.items())

    stats = CliRunner().invoke(cli, ["stats", str(release)], env={"COLUMNS": "400"})
    assert stats.exit_code == 0, stats.output
    from pipeline.reports.eu_summary import SummaryOptions, build_summary

    summary = build_summary(release, SummaryOptions(inspect_inputs=False))
    in_summary = {r.reason: r.description for r in summary.removal.reasons}
    for reason, text in in_app.items():
        assert in_summary[reason] == text, reason
        assert text in " ".join(stats.output.split()), (reason, text)

    # one name per step: the funnel's steps are the removals table's (a removal's step is a funnel entry)
    overview = page("overview")
    funnel_steps = {s.removeprefix("after ") for s in overview.dataframe[4].value["step"]}
    assert set(table["step"]) <= funnel_steps, (set(table["step"]), funnel_steps)


@pytest.mark.parametrize("name", ["overview", "removals", "dedup", "compliance"])
def test_every_number_has_a_one_line_help(app_env, name):
    at = page(name)
    assert not at.exception
    missing = [m.label for m in at.metric if not (m.proto.help or "").strip()]
    assert not missing, f"{name}: metrics without help: {missing}"

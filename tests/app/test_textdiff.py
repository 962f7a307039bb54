"""The dedup explorer's word diff (audit_app/textdiff.py): the planted edits are exactly the highlighted
passages, text from the data is escaped, and the page shows the planted near duplicate's inserted word."""

from __future__ import annotations

import html
import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from streamlit.testing.v1 import AppTest

from audit_app import textdiff
from tests.app.test_dedup import NEAR
from tests.app.test_pages import assert_no_raw_html

APP = Path(__file__).resolve().parents[2] / "audit_app"
MARKED = re.compile(r'<(del|ins) class="apertura-diff">(.*?)</\1>', re.S)


def marked(fragment: str, tag: str) -> list[str]:
    """The passages inside <tag> elements, unescaped, whitespace collapsed."""
    return [" ".join(html.unescape(body).split()) for t, body in MARKED.findall(fragment) if t == tag]


def test_planted_edits_are_exactly_the_highlighted_passages():
    words = [f"w{i}" for i in range(60)]
    keeper = " ".join(words)
    edited = words[:10] + words[13:30] + ["inserted", "two"] + words[30:45] + ["replacement"] + words[46:]
    member = "\n".join([" ".join(edited[:25]), " ".join(edited[25:])])  # a line break: whitespace is no edit
    diff = textdiff.word_diff(keeper, member)
    assert diff.removed == ["w10 w11 w12", "w45"]
    assert diff.inserted == ["inserted two", "replacement"]
    assert marked(diff.keeper_html, "del") == diff.removed and not marked(diff.keeper_html, "ins")
    assert marked(diff.member_html, "ins") == diff.inserted and not marked(diff.member_html, "del")
    # the unmarked text is the rest, in order: nothing dropped
    plain_keeper = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", diff.keeper_html)).split())
    assert plain_keeper == keeper


def test_identical_texts_have_nothing_highlighted():
    diff = textdiff.word_diff("one two three", "one  two\nthree")
    assert diff.removed == diff.inserted == [] and "<del" not in diff.keeper_html and "<ins" not in diff.member_html


def test_text_from_the_data_is_escaped():
    keeper = "Before <script>alert('x')</script> and <img src=x onerror=alert(1)> after."
    member = keeper.replace("after", "</div><b>bold</b> after")
    diff = textdiff.word_diff(keeper, member)
    for fragment in (diff.keeper_html, diff.member_html):
        assert "<script" not in fragment and "<img" not in fragment and "<b>" not in fragment
        assert "&lt;script&gt;" in fragment
        own = re.sub(r'^<div style="[^"<>]*">|</div>$|<(del|ins) class="apertura-diff">|</(del|ins)>', "", fragment)
        assert "<" not in own and ">" not in own  # no tag but ours
    assert marked(diff.member_html, "ins") == ["</div><b>bold</b>"]


def test_very_long_texts_are_compared_up_to_the_limit():
    keeper = " ".join(["same"] * (textdiff.MAX_WORDS + 50))
    diff = textdiff.word_diff(keeper, keeper + " extra")
    assert diff.truncated and diff.inserted == []  # beyond the limit: shown, not compared


def test_dedup_page_highlights_the_planted_near_duplicate(app_env):
    at = AppTest.from_file(str(APP / "views" / "dedup.py"), default_timeout=30).run()
    clusters = at.dataframe[0].value
    keeper = dict(zip(clusters["keeper_url"], clusters["cluster_id"], strict=True))[NEAR[0]]
    at.selectbox(key="cluster").set_value(parse_qs(urlsplit(keeper).query)["doc"][0]).run()  # the link's document
    assert not at.exception
    fragments = [e.value for e in at.get("html") if "apertura-diff" in e.value and "<div" in e.value]
    assert len(fragments) == 2  # keeper, removed copy
    inserted = marked(fragments[1], "ins")
    assert any("Zwischenbemerkung" in passage for passage in inserted)  # tests/helpers/corpus.py plants it
    assert not any("Zwischenbemerkung" in passage for passage in marked(fragments[0], "del"))
    assert_no_raw_html(at)
